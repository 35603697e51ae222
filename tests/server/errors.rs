//! Errors: one shape, 400 naming the field for malformed JSON, wrong types and unknown
//! enumeration values; bulk bodies refused; ambiguity as 409 without other subjects'
//! data.

use crate::harness::{OPEN_LIMITS, Server};
use serde_json::json;

#[test]
fn malformed_and_mistyped_bodies_are_400_naming_the_field() {
    let s = Server::start(OPEN_LIMITS);
    let t = &s.db.acme;
    let cases: &[(&str, &str, &str)] = &[
        ("{\"requestType\": ", "malformed_json", ""),
        (
            "{\"requestType\": \"GDPR_ERASE\", \"subject\": {\"id\": \"c-1\"}}",
            "invalid_field",
            "requestType",
        ),
        (
            "{\"requestType\": \"GDPR_EXPORT\", \"subject\": {\"id\": 7}}",
            "invalid_field",
            "subject.id",
        ),
        (
            "{\"requestType\": \"GDPR_EXPORT\", \"term\": {\"type\": \"SHOE_SIZE\", \"value\": \"42\"}}",
            "invalid_field",
            "term.type",
        ),
        (
            "{\"requestType\": \"GDPR_EXPORT\", \"subjct\": {\"id\": \"c-1\"}}",
            "invalid_field",
            "",
        ),
        (
            "{\"requestType\": \"GDPR_EXPORT\", \"subjects\": [{\"id\": \"c-1\"}, {\"id\": \"c-2\"}]}",
            "bulk_refused",
            "",
        ),
        ("[{\"requestType\": \"GDPR_EXPORT\"}]", "bulk_refused", ""),
        (
            "{\"requestType\": \"GDPR_EXPORT\"}",
            "invalid_field",
            "term",
        ),
    ];
    for (body, code, field) in cases {
        let a = s.call("POST", "/api/v1/requests", Some(t), Some(body), &[]);
        assert_eq!(a.status, 400, "{body}: {}", a.body);
        let e = a.json();
        assert_eq!(e["code"], *code, "{body}: {e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(e.get("details").is_some());
        if !field.is_empty() {
            assert_eq!(e["details"]["field"], *field, "{body}: {e}");
        }
    }
    let bad_query = s.get("/api/v1/subjects?searchType=SHOE&searchValue=1", t);
    assert_eq!(bad_query.status, 400);
    assert!(
        bad_query.json()["message"]
            .as_str()
            .unwrap()
            .contains("EMAIL"),
        "{}",
        bad_query.body
    );
    let no_route = s.get("/api/v1/nothing", t);
    assert_eq!(
        (no_route.status, no_route.json()["code"].as_str()),
        (404, Some("no_route"))
    );
    let bad_id = s.get("/api/v1/requests/not-a-uuid", t);
    assert_eq!(bad_id.status, 404);
}

#[test]
fn an_ambiguous_term_is_409_with_candidates_but_not_their_data() {
    let s = Server::start(OPEN_LIMITS);
    let t = &s.db.acme;
    // "+33 6 12 34 56 78" is Jean's merge set and a dialer contact: two people to the engine.
    let a = s.post("/api/v1/requests", t, &json!({"requestType": "GDPR_DELETE", "term": {"type": "PHONE", "value": "+33 6 12 34 56 78"}}));
    assert_eq!(a.status, 409, "{}", a.body);
    let e = a.json();
    assert_eq!(e["code"], "ambiguous");
    let c = e["details"]["candidates"].as_array().unwrap();
    let ids: Vec<&str> = c.iter().map(|x| x["subjectId"].as_str().unwrap()).collect();
    assert!(ids.contains(&"d-501"), "{e}");
    assert!(
        !a.body.contains("Jean") && !a.body.contains("Dupont") && !a.body.contains("example.fr"),
        "no names or values: {}",
        a.body
    );
    // Naming the subject settles it.
    let b = s.post("/api/v1/requests", t, &json!({"requestType": "GDPR_EXPORT", "term": {"type": "PHONE", "value": "+33 6 12 34 56 78"}, "subject": {"id": "d-501"}}));
    assert_eq!(b.status, 202, "{}", b.body);
    assert_eq!(b.json()["subject"]["id"], "d-501");
}

#[test]
fn compliance_checks_answer_json_or_sarif() {
    let s = Server::start(OPEN_LIMITS);
    let t = &s.db.acme;
    let body =
        json!({"config": "[transport]\ntls_enforced = true\n", "today": "2026-03-01"}).to_string();
    let j = s.call(
        "POST",
        "/api/v1/compliance/check",
        Some(t),
        Some(&body),
        &[],
    );
    assert_eq!(j.status, 200, "{}", j.body);
    assert!(j.body.contains("transport.tls"), "{}", j.body);
    let sarif = s.call(
        "POST",
        "/api/v1/compliance/check",
        Some(t),
        Some(&body),
        &[("accept", "application/sarif+json")],
    );
    assert_eq!(sarif.status, 200);
    assert_eq!(sarif.json()["version"], "2.1.0");
    let bad = s.call(
        "POST",
        "/api/v1/compliance/check",
        Some(t),
        Some(&json!({"config": "[transport\n"}).to_string()),
        &[],
    );
    assert_eq!(
        (bad.status, bad.json()["details"]["field"].as_str()),
        (400, Some("config"))
    );
}

#[test]
fn hipaa_mode_refuses_to_start_on_settings_that_fail_the_rules() {
    let db = crate::harness::Db::new();
    let cfg = db.dir.path().join("dsr.toml");
    std::fs::write(
        &cfg,
        "[server]\nlisten = \"127.0.0.1:0\"\ndatabase = \"t.db\"\nhipaa = true\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dsr-server"))
        .arg("--config")
        .arg(&cfg)
        .current_dir(db.dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("transport.tls"), "names the rule: {err}");
    std::fs::write(
        &cfg,
        "[server]\nlisten = \"127.0.0.1:0\"\ndatabase = \"t.db\"\nidle_timeout_minutes = 4\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dsr-server"))
        .arg("--config")
        .arg(&cfg)
        .current_dir(db.dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("idle_timeout_minutes"));
}
