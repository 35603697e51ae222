//! Tenants: a client never sees or touches another tenant's subjects or requests; their
//! ids are 404 on every endpoint that takes an id.

use crate::harness::{OPEN_LIMITS, Server};
use serde_json::json;

#[test]
fn another_tenants_ids_are_not_found_on_every_endpoint_that_takes_one() {
    let s = Server::start(OPEN_LIMITS);
    let (acme, other) = (&s.db.acme, &s.db.other);
    // A request and a subject of the other tenant.
    let theirs = s.post(
        "/api/v1/requests",
        other,
        &json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-2002"}}),
    );
    assert_eq!(theirs.status, 202, "{}", theirs.body);
    let rid = theirs.json()["id"].as_str().unwrap().to_owned();
    s.settle(&rid, other);
    let put_only_theirs = s.call(
        "PUT",
        "/api/v1/subjects/x-only-other",
        Some(other),
        Some(
            &json!({"type": "external_contact", "emails": ["only.other@example.org"]}).to_string(),
        ),
        &[],
    );
    assert_eq!(put_only_theirs.status, 201);
    for (m, p, body) in [
        ("GET", format!("/api/v1/requests/{rid}"), None),
        ("POST", format!("/api/v1/requests/{rid}/cancel"), None),
        (
            "POST",
            format!("/api/v1/requests/{rid}/decision"),
            Some(json!({"decision": "proceed", "reason": "x"})),
        ),
        (
            "POST",
            format!("/api/v1/requests/{rid}/extension"),
            Some(json!({"days": 5, "reason": "x"})),
        ),
        ("POST", format!("/api/v1/requests/{rid}/retry"), None),
        ("GET", format!("/api/v1/requests/{rid}/package"), None),
        ("GET", format!("/api/v1/requests/{rid}/events"), None),
        ("DELETE", "/api/v1/subjects/x-only-other".to_owned(), None),
    ] {
        let body = body.map(|b| b.to_string());
        let a = s.call(m, &p, Some(acme), body.as_deref(), &[]);
        assert_eq!(a.status, 404, "{m} {p}: {}", a.body);
        assert_eq!(a.json()["code"], "not_found");
        // The answer is the one for an id that does not exist at all.
        let fake = p
            .replace(&rid, "01a233ac-5fde-747e-936d-000000000000")
            .replace("x-only-other", "x-none");
        let b = s.call(m, &fake, Some(acme), body.as_deref(), &[]);
        assert_eq!(b.status, 404, "{m} {fake}");
    }
    // Not listed, not found by lookups, not correlated, not requestable.
    let list = s.get("/api/v1/requests?limit=200", acme).json();
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["id"] != rid.as_str()),
        "{list}"
    );
    let look = s
        .get(
            "/api/v1/subjects?searchType=EMAIL&searchValue=only.other%40example.org",
            acme,
        )
        .json();
    assert_eq!(look["entities"].as_array().unwrap().len(), 0);
    let req = s.post(
        "/api/v1/requests",
        acme,
        &json!({"requestType": "GDPR_DELETE", "subject": {"id": "x-only-other"}}),
    );
    assert_eq!(req.status, 422, "{}", req.body);
    // Still there for its own tenant, untouched.
    assert_eq!(
        s.get(&format!("/api/v1/requests/{rid}"), other).json()["status"],
        "completed"
    );
    let mine = s
        .get(
            "/api/v1/subjects?searchType=EXTERNAL_CONTACT_ID&searchValue=x-only-other",
            other,
        )
        .json();
    assert_eq!(
        mine["entities"][0]["subject"]["id"], "x-only-other",
        "{mine}"
    );
    // A PUT with the same id in acme creates acme's own subject; the other tenant's
    // stays as it was.
    let put = s.call(
        "PUT",
        "/api/v1/subjects/x-only-other",
        Some(acme),
        Some(&json!({"type": "external_contact", "emails": ["acme.copy@example.org"]}).to_string()),
        &[],
    );
    assert_eq!(put.status, 201);
    let still = s
        .get(
            "/api/v1/subjects?searchType=EMAIL&searchValue=only.other%40example.org",
            other,
        )
        .json();
    assert_eq!(still["entities"][0]["subject"]["id"], "x-only-other");
    let not_theirs = s
        .get(
            "/api/v1/subjects?searchType=EMAIL&searchValue=acme.copy%40example.org",
            other,
        )
        .json();
    assert_eq!(not_theirs["entities"].as_array().unwrap().len(), 0);
}
