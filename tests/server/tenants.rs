//! A tenant that appears while the server runs (created with the CLI on the same
//! database) is served, and its requests are carried out by the server's own workers.

use crate::harness::{OPEN_LIMITS, Server, on_clients, sample};
use dsr_model::TenantId;
use dsr_ops::clients::{ClientKind, Scope};
use serde_json::json;

#[test]
fn a_tenant_created_while_the_server_runs_gets_its_own_workers() {
    let server = Server::start(OPEN_LIMITS);
    // Another process adds a tenant with subjects and a client, the server running.
    let store = dsr_ops::open_store(
        &server.db.dir.path().join("t.db"),
        dsr_ops::OpenMode::Create,
    )
    .unwrap();
    let t = TenantId::new("latecomer").unwrap();
    store.create_tenant(&t).unwrap();
    let input = std::fs::read(sample()).unwrap();
    dsr_ops::import::import_jsonl(&store, &t, &input[..], &Default::default(), |_| {}).unwrap();
    drop(store);
    let token = on_clients(&server.db.dir.path().join("t.db"), async |store| {
        dsr_ops::clients::create(store, &t, "late", ClientKind::Token, &Scope::ALL)
            .await
            .unwrap()
            .secret
    });
    let created = server.post(
        "/api/v1/requests",
        &token,
        &json!({"requestType": "GDPR_EXPORT", "term": {"type": "EMAIL", "value": "zoe.faure@gmail.com"}}),
    );
    assert_eq!(created.status, 202, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    // No `dsr worker` runs: only the server's workers can finish it.
    let done = server.settle(&id, &token);
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        server.log_text().contains("workers started"),
        "{}",
        server.log_text()
    );
}
