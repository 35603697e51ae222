//! Two `dsr-server` nodes on one PostgreSQL database (issue 9): a subject written on
//! one node is found on the other within the follow interval (and a deleted one stops
//! being found), a token issued by one node is accepted by the other, a request created
//! on one is carried out and seen from both, an idempotency key holds across nodes.
//! Needs `DSR_TEST_POSTGRES` (`.ci/postgres` starts a server); skipped visibly without
//! it, and failing under CI.

use crate::harness::{Db, OPEN_LIMITS, Server, sample};
use dsr_model::TenantId;
use dsr_ops::clients::{ClientKind, Scope};
use serde_json::json;
use std::time::{Duration, Instant};

/// The follow interval the nodes run with, and the bound the test holds them to (the
/// interval, a feed read and the test's own polling, with room for a loaded CI box).
const FOLLOW_MS: u64 = 100;
const BOUND: Duration = Duration::from_secs(5);

pub(crate) fn database(name: &str) -> Option<String> {
    let Ok(admin) = std::env::var("DSR_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the PostgreSQL tests: set DSR_TEST_POSTGRES (see .ci/postgres)"
        );
        eprintln!("SKIPPED {name}: no PostgreSQL (set DSR_TEST_POSTGRES)");
        return None;
    };
    let db = format!("dsr_server_{name}_{}", std::process::id());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    Some(
        rt.block_on(dsr_ops::pg::recreate_database(&admin, &db))
            .expect("create the test database"),
    )
}

/// Tenant `acme` with the sample subjects and two clients, written the way `dsr
/// tenant create`, `dsr import` and `dsr client create` write them.
pub(crate) fn prepare(url: &str) -> Db {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let t = TenantId::new("acme").unwrap();
    let store = rt
        .block_on(dsr_ops::pg::connect(url, &t, true, Some("FR")))
        .unwrap();
    let input = std::fs::read(sample()).unwrap();
    let mut target = dsr_ops::import::StoreImport {
        rt: rt.handle().clone(),
        store: &store,
    };
    let report = dsr_ops::import::import_jsonl_into(
        &mut target,
        &t,
        &input[..],
        &Default::default(),
        |_| {},
        |_| Ok(()),
    )
    .unwrap();
    assert!(report.imported > 10, "{report:?}");
    let token = rt
        .block_on(dsr_ops::clients::create(
            &store,
            &t,
            "all-scopes",
            ClientKind::Token,
            &Scope::ALL,
        ))
        .unwrap()
        .secret;
    let o = rt
        .block_on(dsr_ops::clients::create(
            &store,
            &t,
            "crm oauth",
            ClientKind::OAuth,
            &Scope::ALL,
        ))
        .unwrap();
    Db {
        dir: tempfile::tempdir().unwrap(),
        acme: token.clone(),
        other: token.clone(),
        reader: token,
        oauth: (o.client.id, o.secret),
    }
}

fn node(url: &str) -> Server {
    let db = prepare_dir_only();
    Server::start_env(
        db,
        &format!("follow_ms = {FOLLOW_MS}\n{OPEN_LIMITS}"),
        &[("DSR_SERVER_DATABASE", url)],
    )
}

pub(crate) fn prepare_dir_only() -> Db {
    Db {
        dir: tempfile::tempdir().unwrap(),
        acme: String::new(),
        other: String::new(),
        reader: String::new(),
        oauth: (String::new(), String::new()),
    }
}

fn finds(s: &Server, token: &str, email: &str) -> bool {
    let a = s.get(
        &format!("/api/v1/subjects?searchType=EMAIL&searchValue={email}"),
        token,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    !a.json()["entities"].as_array().unwrap().is_empty()
}

/// Polls until `cond` holds, returning how long it took; fails after [`BOUND`].
fn within(what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if cond() {
            return started.elapsed();
        }
        assert!(started.elapsed() < BOUND, "{what}: not within {BOUND:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn two_nodes_on_postgres_share_subjects_tokens_requests_and_keys() {
    let Some(url) = database("multinode") else {
        return;
    };
    let db = prepare(&url);
    let token = db.acme.clone();
    let a = Server::start_env(
        db,
        &format!("follow_ms = {FOLLOW_MS}\n{OPEN_LIMITS}"),
        &[("DSR_SERVER_DATABASE", &url)],
    );
    let b = node(&url);
    let email = "ines.moreau@example.org";
    assert!(!finds(&b, &token, email));

    // Written on A, found on B within the bound.
    let put = a.call(
        "PUT",
        "/api/v1/subjects/c-new",
        Some(&token),
        Some(
            &json!({"type": "external_contact", "names": ["Inès Moreau"], "emails": [email]})
                .to_string(),
        ),
        &[],
    );
    assert_eq!(put.status, 201, "{}", put.body);
    assert!(finds(&a, &token, email), "the writing node at once");
    let took = within("B finds the subject A wrote", || finds(&b, &token, email));
    eprintln!("subject written on A found on B after {took:?} (follow_ms = {FOLLOW_MS})");

    // A request created on B for her, carried out by the workers of either node, seen
    // from A; the same idempotency key on A gives the same request.
    let body = json!({"requestType": "GDPR_EXPORT", "term": {"type": "EMAIL", "value": email}});
    let created = b.call(
        "POST",
        "/api/v1/requests",
        Some(&token),
        Some(&body.to_string()),
        &[("idempotency-key", "k-1")],
    );
    assert_eq!(created.status, 202, "{}", created.body);
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let again = a.call(
        "POST",
        "/api/v1/requests",
        Some(&token),
        Some(&body.to_string()),
        &[("idempotency-key", "k-1")],
    );
    assert_eq!(again.status, 202, "{}", again.body);
    assert_eq!(
        again.json()["id"],
        id.as_str(),
        "one request per key, across nodes"
    );
    let done = a.settle(&id, &token);
    assert_eq!(done["status"], "completed", "{done}");
    let pkg = b.get(&format!("/api/v1/requests/{id}/package"), &token);
    assert_eq!(pkg.status, 200, "{}", pkg.body);
    assert!(pkg.body.contains(email), "the package holds her data");

    // A token issued by A is accepted by B (one signing key, in the database).
    let access = a.oauth_token();
    assert_eq!(b.get("/api/v1/services", &access).status, 200);

    // Deleted on B, gone from A within the bound.
    let del = b.call("DELETE", "/api/v1/subjects/c-new", Some(&token), None, &[]);
    assert_eq!(del.status, 204, "{}", del.body);
    let took = within("A stops finding the subject B deleted", || {
        !finds(&a, &token, email)
    });
    eprintln!("subject deleted on B gone from A after {took:?}");

    // The audit chain written by both nodes verifies.
    let v = a.get("/api/v1/audit/verify", &token);
    assert_eq!(v.status, 200, "{}", v.body);
    assert_eq!(v.json()["ok"], true, "{}", v.body);
}
