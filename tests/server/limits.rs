//! Limits: per-client rate limits keyed on the authenticated client (a forged
//! X-Forwarded-For changes nothing), 413 for oversized bodies, bounded pages.

use crate::harness::Server;
use serde_json::json;

const STRICT: &str = "max_body_bytes = 2048\nmax_import_bytes = 4096\nmax_page_size = 1\n[server.rate_limits]\ncreate_per_second = 0.2\ncreate_burst = 2\nread_per_second = 1000.0\nread_burst = 1000\n";

#[test]
fn request_creation_is_rate_limited_per_client_whatever_the_forwarded_header() {
    let s = Server::start(STRICT);
    let t = &s.db.acme;
    let ids = ["c-2001", "c-2002", "c-3001", "c-4001", "c-5001"];
    let mut statuses = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let fwd = format!("203.0.113.{i}");
        let a = s.call(
            "POST",
            "/api/v1/requests",
            Some(t),
            Some(&json!({"requestType": "GDPR_EXPORT", "subject": {"id": id}}).to_string()),
            &[
                ("x-forwarded-for", fwd.as_str()),
                ("x-real-ip", fwd.as_str()),
                ("forwarded", &format!("for={fwd}")),
            ],
        );
        if a.status == 429 {
            let wait: u64 = a
                .header("retry-after")
                .expect("Retry-After")
                .parse()
                .unwrap();
            assert!((1..=10).contains(&wait), "{wait}");
            assert_eq!(a.json()["code"], "rate_limited");
            assert!(
                a.json()["message"]
                    .as_str()
                    .unwrap()
                    .contains("one subject at a time")
            );
        }
        statuses.push(a.status);
    }
    assert_eq!(
        statuses,
        [202, 202, 429, 429, 429],
        "the burst is 2, whatever X-Forwarded-For says"
    );
    // Reads have their own, larger budget; another client has its own.
    assert_eq!(s.get("/api/v1/requests", t).status, 200);
    let o = s.post(
        "/api/v1/requests",
        &s.db.other,
        &json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-2001"}}),
    );
    assert_eq!(o.status, 202, "{}", o.body);
}

#[test]
fn oversized_bodies_are_413_and_pages_are_bounded() {
    let s = Server::start(STRICT);
    let t = &s.db.acme;
    let big =
        json!({"requestType": "GDPR_EXPORT", "subject": {"id": "x".repeat(5000)}}).to_string();
    let a = s.call("POST", "/api/v1/requests", Some(t), Some(&big), &[]);
    assert_eq!(a.status, 413, "{}", a.body);
    assert_eq!(a.json()["code"], "body_too_large");
    let lines: String = (0..100).map(|i| format!("{{\"type\":\"external_contact\",\"id\":\"b-{i}\",\"emails\":[\"b{i}@example.org\"]}}\n")).collect();
    let b = s.call(
        "POST",
        "/api/v1/subjects/import",
        Some(t),
        Some(&lines),
        &[("content-type", "application/x-ndjson")],
    );
    assert_eq!(b.status, 413, "{}", b.body);
    for id in ["c-2001", "c-2002"] {
        let r = s.post(
            "/api/v1/requests",
            t,
            &json!({"requestType": "GDPR_EXPORT", "subject": {"id": id}}),
        );
        assert_eq!(r.status, 202, "{}", r.body);
    }
    // A page larger than the server's maximum (1 here) is the largest page.
    let page = s.get("/api/v1/requests?limit=100000", t);
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.json()["items"].as_array().unwrap().len(), 1);
    assert!(page.json()["nextCursor"].is_string());
    assert_eq!(s.get("/api/v1/requests?limit=0", t).status, 400);
}
