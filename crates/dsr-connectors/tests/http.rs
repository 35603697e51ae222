//! The HTTP connector against a real service on loopback, driven through the engine and
//! its worker: signatures and replays, an asynchronous endpoint (202 + status URL), a
//! flaky endpoint (503 twice), one answering 429 with Retry-After, a 4xx, attachments
//! fetched and digested.

mod support;

use dsr_engine::{Action, RequestStatus, TaskStatus};
use dsr_model::RequestType;
use sha2::Digest;
use std::time::Duration;
use support::*;

fn all_services(base: &str) -> String {
    let mut t = String::new();
    for (name, prefix) in [
        ("helpdesk", "sync"),
        ("billing", "async"),
        ("flaky", "flaky"),
        ("limited", "limited"),
        ("refusing", "bad"),
    ] {
        t.push_str(&http_service(name, base, prefix, "delete"));
    }
    t
}

async fn setup() -> (TestService, tempfile::TempDir, Rig) {
    let svc = start().await;
    let dir = tempfile::tempdir().unwrap();
    write_key(dir.path(), "http.key", KEY);
    let cfg = config(&all_services(&svc.base), dir.path());
    let services = dsr_connectors::build_services(&cfg).unwrap();
    let rig = rig(services, vec![jeanne(), paul()]);
    (svc, dir, rig)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_reaches_every_kind_of_endpoint() {
    let (svc, _dir, rig) = setup().await;
    let (req, tasks) = rig.run(RequestType::Export, "c-1").await;
    // One service refuses (422): the request is partially failed, the others done.
    assert_eq!(req.status(), RequestStatus::PartiallyFailed, "{tasks:#?}");
    assert!(
        svc.refused().is_empty(),
        "every call verified: {:?}",
        svc.refused()
    );

    // Synchronous: the subject with every identifier, the request, the operation.
    let calls = svc.seen("/sync/");
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(
        (c.method.as_str(), c.path.as_str()),
        ("POST", "/sync/c-1/export")
    );
    assert_eq!(c.body["request_id"], req.id.as_str());
    assert_eq!(c.body["type"], "export");
    assert_eq!(c.body["operation"], "export");
    assert_eq!(c.body["subject"]["emails"][0], "Jeanne.Martin@example.com");
    assert_eq!(c.body["subject"]["phones"][0], "+33 6 11 22 33 44");
    assert_eq!(c.body["subject"]["external_ids"][0], "crm-77");
    assert_eq!(
        c.body["idempotency_key"],
        c.idempotency_key.clone().unwrap()
    );
    let t = task(&tasks, "helpdesk");
    let o = t.outcome.as_ref().unwrap();
    assert_eq!(
        (o.action, o.records, o.attachments),
        (Action::Exported, 2, 2)
    );
    assert_eq!(o.blind_spots, vec!["custom attributes".to_owned()]);
    // Attachments: fetched by URL (signed GET on the same host) or inline, digested.
    let rec = &o.data[1];
    let digests = rec.data["dsr_attachments"].as_array().unwrap();
    assert_eq!(
        digests[0]["sha256"],
        hex::encode(sha2::Sha256::digest(FILE))
    );
    assert_eq!(digests[0]["bytes"], FILE.len());
    assert_eq!(
        digests[1]["sha256"],
        hex::encode(sha2::Sha256::digest(b"hello"))
    );
    // Once per service that exported it (helpdesk, billing, flaky, limited).
    assert_eq!(svc.seen("/files/").len(), 4);

    // Asynchronous: 202 + Location, polled until done, one idempotency key throughout.
    let start = svc.seen("/async/");
    let polls = svc.seen("/jobs/");
    assert_eq!(start.len(), 1);
    assert_eq!(
        polls.len(),
        2,
        "polled until the job answered 200: {polls:#?} {:#?}",
        task(&tasks, "billing")
    );
    assert!(
        polls
            .iter()
            .all(|p| p.idempotency_key == start[0].idempotency_key)
    );
    let o = task(&tasks, "billing").outcome.as_ref().unwrap();
    assert_eq!((o.action, o.records), (Action::Exported, 2));

    // Flaky: 503, 503, then 200, in three attempts with the same idempotency key.
    let flaky = svc.seen("/flaky/");
    assert_eq!(flaky.len(), 3);
    assert!(
        flaky
            .iter()
            .all(|f| f.idempotency_key == flaky[0].idempotency_key)
    );
    assert_eq!(
        flaky
            .iter()
            .map(|f| f.body["attempt"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    let t = task(&tasks, "flaky");
    assert_eq!((t.status(), t.attempt), (TaskStatus::Done, 3));

    // 429 with Retry-After: 1 — the retry waits at least a second (the backoff alone
    // would have retried after 20 ms).
    let limited = svc.seen("/limited/");
    assert_eq!(limited.len(), 2);
    let gap = limited[1].at - limited[0].at;
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
    assert_eq!(task(&tasks, "limited").status(), TaskStatus::Done);

    // 4xx: permanent at once, with the body's message.
    assert_eq!(svc.seen("/bad/").len(), 1, "a 4xx is not retried");
    let t = task(&tasks, "refusing");
    assert_eq!(t.status(), TaskStatus::Dead);
    let err = t.outcome.as_ref().unwrap().error.clone().unwrap();
    assert!(
        err.contains("422") && err.contains("subject c-1 is unknown here"),
        "{err}"
    );

    // The request's result carries the blind spots (G-14).
    let view = dsr_engine::service::blind_spots(rig.engine.services(), std::iter::empty());
    assert!(
        view.iter()
            .any(|b| b.place == "service helpdesk: field custom attributes")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erase_and_update_send_their_operation() {
    let (svc, _dir, rig) = setup().await;
    let (_, tasks) = rig.run(RequestType::Update, "c-1").await;
    let c = &svc.seen("/sync/")[0];
    assert_eq!(
        (c.method.as_str(), c.path.as_str()),
        ("PATCH", "/sync/c-1/update")
    );
    assert_eq!(c.body["replacements"][0]["new"], "jeanne@new.example");
    assert_eq!(
        task(&tasks, "helpdesk").outcome.as_ref().unwrap().records,
        1
    );

    let (_, tasks) = rig.run(RequestType::Delete, "c-2").await;
    let c = svc.seen("/sync/").pop().unwrap();
    assert_eq!(
        (c.method.as_str(), c.path.as_str()),
        ("DELETE", "/sync/c-2/erase")
    );
    assert_eq!(c.body["erasure"], "delete");
    let o = task(&tasks, "helpdesk").outcome.as_ref().unwrap();
    assert_eq!(
        (o.action, o.records, o.attachments),
        (Action::Deleted, 2, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_replayed_calls_are_refused_by_the_receiver() {
    let (svc, _dir, rig) = setup().await;
    rig.run(RequestType::Export, "c-2").await;
    let first = svc.seen("/sync/").remove(0);
    let client = dsr_connectors::http::client::Client::new(
        dsr_connectors::http::client::tls_connector(None).unwrap(),
        Duration::from_secs(5),
        1 << 20,
    );
    let url = url::Url::parse(&format!("{}{}", svc.base, first.path)).unwrap();
    let headers: Vec<(&str, String)> = first
        .headers
        .iter()
        .filter(|(k, _)| k.starts_with("dsr-") || k == "content-type")
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    // The same call again: its nonce was seen.
    let r = client
        .send("POST", &url, &headers, first.raw_body.clone())
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    // The same headers over another body: the signature does not verify.
    let mut forged = first.raw_body.clone();
    forged.extend_from_slice(b" ");
    client.send("POST", &url, &headers, forged).await.unwrap();
    let refused = svc.refused();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused[0].ends_with("replay") && refused[1].ends_with("bad signature"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_check_pings_and_reports_the_unreachable() {
    let svc = start().await;
    let dir = tempfile::tempdir().unwrap();
    write_key(dir.path(), "http.key", KEY);
    // A port nothing listens on: bind one, then drop it.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let text = format!(
        "{}{}",
        http_service("helpdesk", &svc.base, "sync", "delete"),
        http_service("gone", &dead, "sync", "delete")
    );
    let report = dsr_connectors::check::check(&config(&text, dir.path())).await;
    let by: Vec<(String, dsr_connectors::check::Level)> = report
        .findings
        .iter()
        .map(|f| (f.service.clone(), f.level))
        .collect();
    use dsr_connectors::check::Level;
    assert_eq!(
        by,
        [
            ("helpdesk".into(), Level::Ok),
            ("gone".into(), Level::Problem)
        ]
    );
    assert!(
        report.findings[1].message.contains("cannot connect"),
        "{:?}",
        report.findings[1]
    );
    assert!(report.has_problems());
}

#[test]
fn configuration_mistakes_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    write_key(dir.path(), "http.key", KEY);
    std::fs::write(dir.path().join("open.key"), KEY).unwrap();
    let base =
        "[[services]]\nname = \"h\"\nkind = \"http\"\nerasure = \"delete\"\n[services.http]\n";
    for (extra, want) in [
        (
            "base_url = \"http://crm.example.com\"\nsecret_file = \"http.key\"\n[services.http.export]\npath = \"/x\"",
            "not loopback",
        ),
        (
            "base_url = \"https://crm.example.com\"\nsecret = \"abc\"\n[services.http.export]\npath = \"/x\"",
            "not accepted in clear",
        ),
        (
            "base_url = \"https://crm.example.com\"\nsecret_file = \"open.key\"\n[services.http.export]\npath = \"/x\"",
            "chmod 600",
        ),
        (
            "base_url = \"https://crm.example.com\"\nsecret_file = \"http.key\"\n[services.http.export]\npath = \"/x/{nope}\"",
            "{nope} is not known",
        ),
        (
            "base_url = \"https://crm.example.com\"\nsecret_file = \"http.key\"\npoll_limit_seconds = 60\n[services.http.export]\npath = \"/x\"",
            "call_timeout_seconds",
        ),
        (
            "base_url = \"https://crm.example.com\"\nsecret_file = \"http.key\"\ntimeout = 3\n[services.http.export]\npath = \"/x\"",
            "http.timeout: unknown field `timeout`",
        ),
        (
            "base_url = \"https://crm.example.com\"\nsecret_file = \"http.key\"\n[services.http.export]\nmethod = \"post\"\npath = \"/x\"",
            "in capitals",
        ),
        (
            "base_url = \"https://crm.example.com\"\nsecret_file = \"http.key\"",
            "no operation",
        ),
    ] {
        let cfg = config(&format!("{base}{extra}"), dir.path());
        let err = dsr_connectors::build_services(&cfg)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("services[h]") && err.contains(want),
            "{extra}\n→ {err}"
        );
    }
}
