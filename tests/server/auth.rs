//! Authentication: 401 with a challenge, 403 for a missing scope, OAuth 2.0 client
//! credentials with RFC 6749 errors, revocation, and the idle timeout (H-5) with a moved
//! clock.

use crate::harness::{Db, OPEN_LIMITS, Server, on_clients};
use serde_json::json;

fn form(s: &Server, body: &str, basic: Option<&str>) -> crate::harness::Answer {
    let auth;
    let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
    if let Some(b) = basic {
        auth = format!("Basic {b}");
        h.push(("authorization", auth.as_str()));
    }
    s.call("POST", "/oauth/token", None, Some(body), &h)
}

#[test]
fn every_endpoint_but_health_readiness_and_openapi_needs_authentication() {
    let s = Server::start(OPEN_LIMITS);
    for (m, p) in [
        (
            "GET",
            "/api/v1/subjects?searchType=EMAIL&searchValue=x%40y.z",
        ),
        ("POST", "/api/v1/subjects/search"),
        ("PUT", "/api/v1/subjects/c-1"),
        ("DELETE", "/api/v1/subjects/c-1"),
        ("POST", "/api/v1/subjects/import"),
        ("POST", "/api/v1/requests"),
        ("GET", "/api/v1/requests"),
        (
            "GET",
            "/api/v1/requests/01a233ac-5fde-747e-936d-7bf4443863c0",
        ),
        (
            "POST",
            "/api/v1/requests/01a233ac-5fde-747e-936d-7bf4443863c0/cancel",
        ),
        ("GET", "/api/v1/services"),
        ("POST", "/api/v1/compliance/check"),
        ("GET", "/api/v1/audit/verify"),
    ] {
        let a = s.call(m, p, None, Some("{}"), &[]);
        assert_eq!(a.status, 401, "{m} {p}: {}", a.body);
        assert!(
            a.header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer")),
            "{m} {p}"
        );
        assert_eq!(a.json()["code"], "unauthorized");
        // The body was never read: the connection ends with the answer.
        assert_eq!(a.header("connection"), Some("close"), "{m} {p}");
    }
    for p in ["/healthz", "/readyz", "/openapi.json"] {
        assert_eq!(s.call("GET", p, None, None, &[]).status, 200, "{p}");
    }
    // Wrong tokens, basic auth: the same 401.
    assert_eq!(s.get("/api/v1/services", "dsr.nope.nope").status, 401);
    assert_eq!(
        s.get("/api/v1/services", "eyJhbGciOiJub25lIn0.e30.").status,
        401
    );
    let (id, _) =
        s.db.acme
            .split_once('.')
            .map(|(_, r)| r.split_once('.').unwrap())
            .unwrap();
    assert_eq!(
        s.get("/api/v1/services", &format!("dsr.{id}.wrong-secret"))
            .status,
        401
    );
    let b = s.call(
        "GET",
        "/api/v1/services",
        None,
        None,
        &[("authorization", "Basic dXNlcjpwdw==")],
    );
    assert_eq!(b.status, 401);
    assert!(
        b.json()["message"].as_str().unwrap().contains("basic"),
        "{}",
        b.body
    );
    // A missing scope is 403, naming it.
    let r = s.post(
        "/api/v1/requests",
        &s.db.reader,
        &json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-1001"}}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["details"]["requiredScope"], "requests:write");
    assert_eq!(
        s.get(
            "/api/v1/subjects?searchType=EMAIL&searchValue=x%40y.z",
            &s.db.reader
        )
        .status,
        200
    );
}

#[test]
fn oauth_client_credentials_issue_short_lived_tokens_with_rfc6749_errors() {
    let s = Server::start(OPEN_LIMITS);
    let (id, secret) = s.db.oauth.clone();
    let ok = form(
        &s,
        &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
        None,
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.header("cache-control"), Some("no-store"));
    let tok = ok.json();
    assert_eq!(tok["token_type"], "Bearer");
    assert!(tok["expires_in"].as_u64().unwrap() <= 900);
    let access = tok["access_token"].as_str().unwrap().to_owned();
    assert_eq!(s.get("/api/v1/services", &access).status, 200);
    // A narrower scope is honoured.
    let narrow = form(&s, &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=subjects:read"), None).json();
    let n = narrow["access_token"].as_str().unwrap();
    assert_eq!(s.get("/api/v1/services", n).status, 403);
    // HTTP Basic client authentication works too.
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    assert_eq!(
        form(&s, "grant_type=client_credentials", Some(&basic)).status,
        200
    );
    // Errors of RFC 6749 §5.2.
    let bad = form(
        &s,
        &format!("grant_type=client_credentials&client_id={id}&client_secret=wrong"),
        None,
    );
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["error"], "invalid_client");
    let unknown = form(
        &s,
        "grant_type=client_credentials&client_id=cnope&client_secret=wrong",
        None,
    );
    assert_eq!(
        (unknown.status, unknown.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let grant = form(
        &s,
        &format!("grant_type=password&client_id={id}&client_secret={secret}"),
        None,
    );
    assert_eq!(
        (grant.status, grant.json()["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let scope = form(
        &s,
        &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=admin"),
        None,
    );
    assert_eq!(
        (scope.status, scope.json()["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    // A static token cannot be used as client credentials.
    // Revocation applies to tokens already issued (within the 1 s cache).
    on_clients(&s.db.dir.path().join("t.db"), async |store| {
        dsr_ops::clients::revoke(store, &dsr_model::TenantId::new("acme").unwrap(), &id)
            .await
            .unwrap()
    });
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(s.get("/api/v1/services", &access).status, 401);
    assert_eq!(
        form(
            &s,
            &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
            None
        )
        .status,
        401
    );
}

#[test]
fn an_idle_session_ends_after_the_timeout_and_any_request_resets_it() {
    // The real router on a loopback port, in this process, with a clock the test moves.
    let db = Db::new();
    let clock = std::sync::Arc::new(dsr_engine::ManualClock::new(chrono::Utc::now()));
    let mut settings = dsr_api::Settings::new(db.dir.path().join("t.db"));
    settings.auth.idle_timeout = std::time::Duration::from_secs(5 * 60);
    settings.workers = 0;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let app = rt
        .block_on(dsr_api::App::open_with_clock(settings, clock.clone()))
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let router = dsr_api::router(app.clone());
    rt.spawn(async move { axum::serve(listener, router).await });
    rt.block_on(app.load_all()).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let (id, secret) = &db.oauth;
    let mut r = agent
        .post(format!("http://{addr}/oauth/token"))
        .content_type("application/x-www-form-urlencoded")
        .send(format!(
            "grant_type=client_credentials&client_id={id}&client_secret={secret}"
        ))
        .unwrap();
    let tok: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    let token = tok["access_token"].as_str().unwrap().to_owned();
    let call = || {
        let mut r = agent
            .get(format!("http://{addr}/api/v1/services"))
            .header("authorization", format!("Bearer {token}"))
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    assert_eq!(call().0, 200);
    // 4 minutes idle, then a request: it resets the timer.
    clock.advance(chrono::Duration::minutes(4));
    assert_eq!(call().0, 200);
    clock.advance(chrono::Duration::minutes(4));
    assert_eq!(call().0, 200, "8 minutes since the token, but only 4 idle");
    clock.advance(chrono::Duration::seconds(5 * 60 + 1));
    let (status, body) = call();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("idle"), "{body}");
    assert_eq!(call().0, 401, "the session stays ended");
}
