//! The G-13 workflow over HTTP, merge-set related requests, idempotency, the live
//! index, and logs without personal data.

use crate::harness::{OPEN_LIMITS, Server};
use serde_json::json;

/// Personal values the workflow sends or reads; none may appear in the server's logs.
const PERSONAL: &[&str] = &[
    "jean.dupont@example.fr",
    "Jean Dupont",
    "Dupont",
    "+33 6 12 34 56 78",
    "0612345678",
    "CRM-88231",
    "12 rue de la Paix",
    "zoe.new@example.org",
    "Zoë Faure",
    "zoe.faure@gmail.com",
    "Nouvelle Personne",
    "nouvelle@example.org",
];

#[test]
fn g13_lookup_per_identifier_correlate_one_request_per_subject_related_requests() {
    let s = Server::start(&format!("metrics_listen = \"127.0.0.1:0\"\n{OPEN_LIMITS}"));
    let t = s.db.acme.clone();
    // (1) one lookup per identifier.
    let by_email = s.get(
        "/api/v1/subjects?searchType=EMAIL&searchValue=jean.dupont%40example.fr",
        &t,
    );
    assert_eq!(by_email.status, 200, "{}", by_email.body);
    let e = by_email.json();
    assert_eq!(e["entities"][0]["subject"]["id"], "c-1001");
    assert_eq!(e["entities"][0]["confidence"], "strong");
    assert_eq!(e["entities"][0]["mergeSet"]["canonicalId"], "c-1001");
    assert_eq!(e["entities"][0]["evidence"][0]["field"], "email");
    let by_phone = s
        .get(
            "/api/v1/subjects?searchType=PHONE&searchValue=0612345678&region=FR",
            &t,
        )
        .json();
    let ids: Vec<&str> = by_phone["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["subject"]["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"c-1001") && ids.contains(&"c-1002") && ids.contains(&"d-501"),
        "{ids:?}"
    );
    // (2) correlation in one call.
    let c = s.post(
        "/api/v1/subjects/search",
        &t,
        &json!({"terms": [{"type": "NAME", "value": "Jean Dupont"}, {"type": "EMAIL", "value": "jean.dupont@example.fr"}]}),
    );
    assert_eq!(c.status, 200, "{}", c.body);
    let c = c.json();
    assert_eq!(c["subjects"][0]["subject"]["id"], "c-1001");
    assert_eq!(c["subjects"][0]["corroborated"], true);
    assert_eq!(c["perTerm"].as_array().unwrap().len(), 2);
    // (3) one request per corroborated subject: the merge set fans out (G-10).
    let r = s.post(
        "/api/v1/requests",
        &t,
        &json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-1001"}}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let r = r.json();
    let id = r["id"].as_str().unwrap().to_owned();
    assert_eq!(r["status"], "in_progress");
    assert!(r["dueAt"].is_string());
    // (4) the related requests.
    let mut related: Vec<&str> = r["relatedRequests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["subjectId"].as_str().unwrap())
        .collect();
    related.sort();
    assert_eq!(related, ["c-1002", "c-1003"]);
    for x in r["relatedRequests"].as_array().unwrap() {
        let rel = s.settle(x["id"].as_str().unwrap(), &t);
        assert_eq!(rel["status"], "completed", "{rel}");
        assert_eq!(rel["parent"], id.as_str());
    }
    let done = s.settle(&id, &t);
    assert_eq!(done["status"], "completed", "{done}");
    assert!(
        done["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["status"] == "done"),
        "{done}"
    );
    // The package, with the hand-over recorded.
    let p = s.get(&format!("/api/v1/requests/{id}/package"), &t);
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.json()["manifest"].is_object() || p.body.contains("signature"),
        "{}",
        &p.body[..200.min(p.body.len())]
    );
    let after = s.get(&format!("/api/v1/requests/{id}"), &t).json();
    assert_eq!(after["handedOver"]["by"], "api:all-scopes", "{after}");
    let ev = s.get(&format!("/api/v1/requests/{id}/events"), &t).json();
    let actions: Vec<&str> = ev["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"package.handed_over"), "{actions:?}");
    let list = s
        .get(
            "/api/v1/requests?status=completed&type=GDPR_EXPORT&limit=2",
            &t,
        )
        .json();
    assert_eq!(list["items"].as_array().unwrap().len(), 2, "{list}");
    let next = list["nextCursor"].as_str().expect("a second page");
    let page2 = s
        .get(
            &format!("/api/v1/requests?status=completed&type=GDPR_EXPORT&limit=2&cursor={next}"),
            &t,
        )
        .json();
    assert_eq!(page2["items"].as_array().unwrap().len(), 1, "{page2}");
    assert!(page2["nextCursor"].is_null());
    let v = s.get("/api/v1/audit/verify", &t).json();
    assert_eq!(v["ok"], true, "{v}");
    let m = s.scrape(None);
    assert!(
        m.body.contains(
            "dsr_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/requests\""
        ),
        "{}",
        m.body
    );
    assert!(
        m.body.contains("dsr_index_subjects{tenant=\"acme\"} 18"),
        "{}",
        m.body
    );

    // An update by term with replacement terms, then the live index.
    let u = s.post(
        "/api/v1/requests",
        &t,
        &json!({"requestType": "GDPR_UPDATE", "term": {"type": "EMAIL", "value": "zoe.faure@gmail.com"},
                "replacementTerms": [{"type": "EMAIL", "existingValue": "zoe.faure@gmail.com", "updatedValue": "zoe.new@example.org"}]}),
    );
    assert_eq!(u.status, 202, "{}", u.body);
    // A subject written through the API is found at once, and gone once deleted.
    let put = s.call("PUT", "/api/v1/subjects/c-9000", Some(&t), Some(&json!({"type": "external_contact", "name": "Nouvelle Personne", "emails": ["nouvelle@example.org"]}).to_string()), &[]);
    assert_eq!(put.status, 201, "{}", put.body);
    let found = s
        .get(
            "/api/v1/subjects?searchType=EMAIL&searchValue=nouvelle%40example.org",
            &t,
        )
        .json();
    assert_eq!(found["entities"][0]["subject"]["id"], "c-9000");
    let again = s.call(
        "PUT",
        "/api/v1/subjects/c-9000",
        Some(&t),
        Some(&json!({"type": "external_contact", "name": "Nouvelle Personne"}).to_string()),
        &[],
    );
    assert_eq!(again.status, 200, "{}", again.body);
    let gone = s
        .get(
            "/api/v1/subjects?searchType=EMAIL&searchValue=nouvelle%40example.org",
            &t,
        )
        .json();
    assert_eq!(
        gone["entities"].as_array().unwrap().len(),
        0,
        "the old email left the index: {gone}"
    );
    assert_eq!(
        s.call("DELETE", "/api/v1/subjects/c-9000", Some(&t), None, &[])
            .status,
        204
    );
    assert_eq!(
        s.call("DELETE", "/api/v1/subjects/c-9000", Some(&t), None, &[])
            .status,
        404
    );
    let import = s.call(
        "POST",
        "/api/v1/subjects/import",
        Some(&t),
        Some("{\"type\":\"external_contact\",\"id\":\"c-9100\",\"emails\":[\"imp@example.org\"]}\nnot json\n"),
        &[("content-type", "application/x-ndjson")],
    );
    assert_eq!(import.status, 200, "{}", import.body);
    let rep = import.json();
    assert_eq!(
        (
            rep["imported"].as_u64(),
            rep["rejected"].as_u64(),
            rep["errors"][0]["line"].as_u64()
        ),
        (Some(1), Some(1), Some(2)),
        "{rep}"
    );
    let imp = s
        .get(
            "/api/v1/subjects?searchType=EMAIL&searchValue=imp%40example.org",
            &t,
        )
        .json();
    assert_eq!(imp["entities"][0]["subject"]["id"], "c-9100");

    // Graceful shutdown, and the logs of the whole run hold no personal value.
    let (status, logs) = s.stop();
    assert!(status.success(), "{status:?}\n{logs}");
    assert!(logs.contains("\"stopped\""), "{logs}");
    assert!(
        logs.contains("/api/v1/requests"),
        "the access log is there: {logs}"
    );
    for v in PERSONAL {
        assert!(
            !logs.contains(v),
            "the logs contain the personal value {v:?}"
        );
    }
}

#[test]
fn idempotency_same_key_same_request_other_body_422() {
    let s = Server::start(OPEN_LIMITS);
    let t = &s.db.acme;
    let body = json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-2001"}}).to_string();
    let k = [("idempotency-key", "k-1")];
    let a = s.call("POST", "/api/v1/requests", Some(t), Some(&body), &k);
    assert_eq!(a.status, 202, "{}", a.body);
    let b = s.call("POST", "/api/v1/requests", Some(t), Some(&body), &k);
    assert_eq!(b.status, 202, "{}", b.body);
    assert_eq!(a.json()["id"], b.json()["id"]);
    assert_eq!(b.json()["existing"], true);
    let other = json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-2002"}}).to_string();
    let c = s.call("POST", "/api/v1/requests", Some(t), Some(&other), &k);
    assert_eq!(c.status, 422, "{}", c.body);
    assert_eq!(c.json()["code"], "idempotency_key_reused");
    // Without a key the same body is a duplicate in flight (or done): never a second
    // request silently.
    let d = s.call(
        "POST",
        "/api/v1/requests",
        Some(t),
        Some(&body),
        &[("idempotency-key", "k-2")],
    );
    assert!(matches!(d.status, 202 | 409), "{}", d.body);
    if d.status == 202 {
        assert_ne!(d.json()["id"], a.json()["id"]);
    }
    // Another client's key space is its own.
    let e = s.call(
        "POST",
        "/api/v1/requests",
        Some(&s.db.other),
        Some(&other),
        &k,
    );
    assert_eq!(e.status, 202, "{}", e.body);
}

#[test]
fn a_held_request_is_decided_extended_and_cancelled_over_http() {
    let s = Server::start(OPEN_LIMITS);
    let t = &s.db.acme;
    // Erasing an active employee is held (G-16).
    let r = s
        .post(
            "/api/v1/requests",
            t,
            &json!({"requestType": "GDPR_DELETE", "subject": {"id": "u-01"}}),
        )
        .json();
    assert_eq!(r["status"], "on_hold", "{r}");
    let id = r["id"].as_str().unwrap();
    let e = s.post(
        &format!("/api/v1/requests/{id}/extension"),
        t,
        &json!({"days": 30, "reason": "complex"}),
    );
    assert_eq!(e.status, 200, "{}", e.body);
    assert_eq!(e.json()["extensions"][0]["days"], 30);
    let d = s.post(
        &format!("/api/v1/requests/{id}/decision"),
        t,
        &json!({"decision": "refuse", "reason": "art. 17(3)(b): legal obligation"}),
    );
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(d.json()["status"], "refused");
    let again = s.post(&format!("/api/v1/requests/{id}/cancel"), t, &json!({}));
    assert_eq!(again.status, 409, "{}", again.body);
    assert_eq!(again.json()["code"], "not_allowed");
    let svc = s.get("/api/v1/services", t).json();
    assert!(svc["services"].as_array().unwrap().len() >= 2, "{svc}");
    assert!(!svc["blindSpots"].as_array().unwrap().is_empty(), "{svc}");
}
