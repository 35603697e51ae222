//! The data subjects' portal through the real server: sign-in with a host's assertion
//! (once, within its lifetime, with the registered key only), sessions (cookie,
//! sign-out, idle expiry), CSRF, one person never reaching another's data, asking for
//! each kind of request, the signed package and forwarding links counted and recorded.

use crate::harness::{Answer, Db, Server};
use dsr_api::portal::assertion::{HostSigner, ed25519_pem_pair};
use dsr_engine::Clock;
use std::time::Duration;

const ISSUER: &str = "https://helpdesk.test";

struct Portal {
    server: Server,
    host: HostSigner,
    agent: ureq::Agent,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

const HOSTS: &str = "[[server.portal.hosts]]\ntenant = \"acme\"\nissuer = \"https://helpdesk.test\"\npublic_key = \"host.pub.pem\"\n[[server.portal.hosts]]\ntenant = \"other\"\nissuer = \"https://other.test\"\npublic_key = \"other.pub.pem\"\n";

/// A server with the portal, the host of `acme` registered (and one of `other`).
fn portal(extra: &str) -> Portal {
    portal_on(Db::new(), extra, &[])
}

fn portal_on(db: Db, extra: &str, env: &[(&str, &str)]) -> Portal {
    let (private, public) = ed25519_pem_pair(&[11u8; 32]);
    std::fs::write(db.dir.path().join("host.pub.pem"), public).unwrap();
    let (_, other_public) = ed25519_pem_pair(&[12u8; 32]);
    std::fs::write(db.dir.path().join("other.pub.pem"), other_public).unwrap();
    let server = Server::start_env(
        db,
        &format!("{extra}\n[server.portal]\nidle_minutes = 15\n{HOSTS}"),
        env,
    );
    Portal {
        server,
        host: HostSigner::from_pem("EdDSA", private.as_bytes()).unwrap(),
        agent: agent(),
    }
}

impl Portal {
    fn assertion(&self, subject: &str) -> String {
        self.host
            .sign(
                ISSUER,
                "dsr-portal",
                subject,
                chrono::Utc::now().timestamp(),
                120,
                None,
            )
            .unwrap()
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        form: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.server.base));
        if let Some(c) = cookie {
            b = b.header("cookie", c);
        }
        if form.is_some() {
            b = b.header("content-type", "application/x-www-form-urlencoded");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let mut resp = self
            .agent
            .run(b.body(form.unwrap_or("").to_owned()).unwrap())
            .expect("HTTP call");
        Answer {
            status: resp.status().as_u16(),
            headers: resp
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect(),
            body: resp.body_mut().read_to_string().unwrap_or_default(),
        }
    }

    /// Signs a subject in; the cookie to send.
    fn sign_in(&self, subject: &str) -> String {
        let a = self.call(
            "GET",
            &format!("/portal/signin?assertion={}", self.assertion(subject)),
            None,
            None,
            &[],
        );
        assert_eq!(a.status, 303, "{}", a.body);
        assert_eq!(a.header("location"), Some("/portal/"));
        let set = a.header("set-cookie").expect("a session cookie").to_owned();
        assert!(
            set.starts_with("__Host-dsr-portal=")
                && set.contains("HttpOnly")
                && set.contains("Secure")
                && set.contains("SameSite=Strict")
                && set.contains("Path=/"),
            "{set}"
        );
        set.split(';').next().unwrap().to_owned()
    }

    fn page(&self, path: &str, cookie: &str) -> Answer {
        self.call("GET", path, Some(cookie), None, &[])
    }

    fn csrf(&self, cookie: &str) -> String {
        let home = self.page("/portal/", cookie);
        assert_eq!(home.status, 200, "{}", home.body);
        between(&home.body, "name=\"csrf\" value=\"", "\"").to_owned()
    }

    fn post(&self, path: &str, cookie: &str, form: &str) -> Answer {
        self.call("POST", path, Some(cookie), Some(form), &[])
    }

    /// Asks for a request through the portal; its id.
    fn ask(&self, cookie: &str, form: &str) -> String {
        let csrf = self.csrf(cookie);
        let a = self.post("/portal/requests", cookie, &format!("csrf={csrf}&{form}"));
        assert_eq!(a.status, 303, "{}", a.body);
        let loc = a.header("location").unwrap();
        between(loc, "/portal/requests/", "?").to_owned()
    }
}

fn between<'a>(s: &'a str, a: &str, b: &str) -> &'a str {
    let i = s.find(a).unwrap_or_else(|| panic!("{a:?} not in {s}")) + a.len();
    let j = s[i..].find(b).unwrap() + i;
    &s[i..j]
}

fn events(p: &Portal, id: &str) -> Vec<String> {
    p.server
        .get(&format!("/api/v1/requests/{id}/events"), &p.server.db.acme)
        .json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_host_assertion_signs_the_customer_in_once_and_only_with_the_registered_key() {
    let p = portal("");
    let cookie = p.sign_in("c-2001");
    let home = p.page("/portal/", &cookie);
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Jürgen Müller") && home.body.contains("j.mueller@beispiel.de"));
    assert!(home.body.contains("<html lang=\"en\""));
    for h in [
        "content-security-policy",
        "x-frame-options",
        "referrer-policy",
    ] {
        assert!(home.header(h).is_some(), "{h}");
    }
    assert_eq!(home.header("cache-control"), Some("no-store"));

    // The same assertion twice: refused the second time.
    let a = p.assertion("c-2001");
    let first = p.call(
        "GET",
        &format!("/portal/signin?assertion={a}"),
        None,
        None,
        &[],
    );
    assert_eq!(first.status, 303);
    let again = p.call(
        "GET",
        &format!("/portal/signin?assertion={a}"),
        None,
        None,
        &[],
    );
    assert_eq!(again.status, 401);
    assert!(again.body.contains("already used"), "{}", again.body);
    assert!(again.header("set-cookie").is_none());

    // Expired (issued 10 minutes ago), too long-lived, for another audience, signed by
    // another key, by another tenant's host for a subject of acme's ids: all refused.
    let now = chrono::Utc::now().timestamp();
    let expired = p
        .host
        .sign(ISSUER, "dsr-portal", "c-2001", now - 600, 120, None)
        .unwrap();
    let r = p.call(
        "POST",
        "/portal/signin",
        None,
        Some(&format!("assertion={expired}")),
        &[],
    );
    assert_eq!(r.status, 401);
    assert!(r.body.contains("expired"), "{}", r.body);
    let aud = p
        .host
        .sign(ISSUER, "another-app", "c-2001", now, 120, None)
        .unwrap();
    assert_eq!(
        p.call(
            "GET",
            &format!("/portal/signin?assertion={aud}"),
            None,
            None,
            &[]
        )
        .status,
        401
    );
    let (stranger, _) = ed25519_pem_pair(&[99u8; 32]);
    let forged = HostSigner::from_pem("EdDSA", stranger.as_bytes())
        .unwrap()
        .sign(ISSUER, "dsr-portal", "c-2001", now, 120, None)
        .unwrap();
    assert_eq!(
        p.call(
            "GET",
            &format!("/portal/signin?assertion={forged}"),
            None,
            None,
            &[]
        )
        .status,
        401
    );
    let unknown = p
        .host
        .sign(ISSUER, "dsr-portal", "no-such-customer", now, 120, None)
        .unwrap();
    let r = p.call(
        "GET",
        &format!("/portal/signin?assertion={unknown}"),
        None,
        None,
        &[],
    );
    assert_eq!(r.status, 401);
    assert!(r.body.contains("no record"), "{}", r.body);
    for junk in ["", "x", "a.b.c", &"A".repeat(20_000)] {
        let r = p.call(
            "POST",
            "/portal/signin",
            None,
            Some(&format!("assertion={junk}")),
            &[],
        );
        assert!(
            matches!(r.status, 401 | 400 | 413),
            "{junk:.20}: {}",
            r.status
        );
    }
    // The token never reaches the logs.
    let logs = p.server.logs.lock().unwrap().join("\n");
    assert!(!logs.contains(&a), "an assertion was logged");
    assert!(logs.contains("sign-in refused"));

    // Without a session: the page says how to sign in, and nothing else.
    let anon = p.call("GET", "/portal/", None, None, &[]);
    assert_eq!(anon.status, 401);
    assert!(anon.body.contains("Sign in through your account") && !anon.body.contains("Müller"));
}

#[test]
fn one_person_never_reaches_another_persons_requests_even_by_editing_urls() {
    let p = portal("");
    let jurgen = p.sign_in("c-2001");
    let anna = p.sign_in("c-2002");
    let id = p.ask(&jurgen, "type=export");
    p.server.settle(&id, &p.server.db.acme);
    assert_eq!(
        p.page(&format!("/portal/requests/{id}"), &jurgen).status,
        200
    );
    // Anna edits the URL: every door to Jürgen's request is "not found".
    let csrf = p.csrf(&anna);
    for (m, path, form) in [
        ("GET", format!("/portal/requests/{id}"), None),
        ("GET", format!("/portal/requests/{id}/package"), None),
        (
            "POST",
            format!("/portal/requests/{id}/shares"),
            Some(format!("csrf={csrf}&recipient=me&days=1&downloads=1")),
        ),
        (
            "POST",
            format!("/portal/requests/{id}/shares/revoke"),
            Some(format!("csrf={csrf}&link=x")),
        ),
    ] {
        let a = p.call(m, &path, Some(&anna), form.as_deref(), &[]);
        assert_eq!(a.status, 404, "{m} {path}: {}", a.body);
        assert!(!a.body.contains("Müller") && !a.body.contains("mueller"));
    }
    assert!(!p.page("/portal/", &anna).body.contains(&id));
    // A request an operator made for Jürgen through the API is his, not Anna's.
    let made = p.server.post(
        "/api/v1/requests",
        &p.server.db.acme,
        &serde_json::json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-2001"}}),
    );
    assert_eq!(made.status, 202, "{}", made.body);
    let op = made.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(p.page(&format!("/portal/requests/{op}"), &anna).status, 404);
    assert!(p.page("/portal/", &jurgen).body.contains(&op));
    // Another tenant's customer with the same id sees nothing of acme's.
    let (other_key, _) = ed25519_pem_pair(&[12u8; 32]);
    let t = HostSigner::from_pem("EdDSA", other_key.as_bytes())
        .unwrap()
        .sign(
            "https://other.test",
            "dsr-portal",
            "c-2001",
            chrono::Utc::now().timestamp(),
            60,
            None,
        )
        .unwrap();
    let a = p.call(
        "GET",
        &format!("/portal/signin?assertion={t}"),
        None,
        None,
        &[],
    );
    assert_eq!(a.status, 303);
    let other = a
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        p.page(&format!("/portal/requests/{id}"), &other).status,
        404
    );
    assert!(!p.page("/portal/", &other).body.contains(&id));
    // Ids that are not ids.
    for bad in [
        "x",
        "../../api/v1/services",
        "%00",
        "01a23594-13b7-765a-b299-2e0f2a70c7ae",
    ] {
        assert_eq!(
            p.page(&format!("/portal/requests/{bad}"), &jurgen).status,
            404,
            "{bad}"
        );
    }
}

#[test]
fn every_form_needs_the_sessions_csrf_token_and_a_same_site_origin() {
    let p = portal("");
    let cookie = p.sign_in("c-3001");
    let before = p
        .page("/portal/", &cookie)
        .body
        .matches("/portal/requests/")
        .count();
    let csrf = p.csrf(&cookie);
    let other = p.csrf(&p.sign_in("c-2002"));
    for (form, headers) in [
        ("type=export".to_owned(), vec![]),
        ("csrf=&type=export".to_owned(), vec![]),
        (format!("csrf={other}&type=export"), vec![]),
        (format!("csrf={csrf}x&type=export"), vec![]),
        (
            format!("csrf={csrf}&type=export"),
            vec![("sec-fetch-site", "cross-site")],
        ),
    ] {
        let a = p.call(
            "POST",
            "/portal/requests",
            Some(&cookie),
            Some(&form),
            &headers,
        );
        assert_eq!(a.status, 403, "{form}: {}", a.body);
    }
    let sign_out = p.post("/portal/signout", &cookie, "csrf=wrong");
    assert_eq!(sign_out.status, 403);
    let after = p
        .page("/portal/", &cookie)
        .body
        .matches("/portal/requests/")
        .count();
    assert_eq!(before, after, "no request was made by a refused form");
    // Without a session, a form is refused before anything is read.
    let anon = p.call(
        "POST",
        "/portal/requests",
        None,
        Some(&format!("csrf={csrf}&type=export")),
        &[],
    );
    assert_eq!(anon.status, 401);
    // The right token works; a second click shows the same request while it is open.
    let a = p.post(
        "/portal/requests",
        &cookie,
        &format!("csrf={csrf}&type=export"),
    );
    assert_eq!(a.status, 303);
}

#[test]
fn an_export_is_downloaded_verified_and_forwarded_with_every_download_recorded() {
    let p = portal("");
    let cookie = p.sign_in("c-5001");
    let id = p.ask(&cookie, "type=export");
    let done = p.server.settle(&id, &p.server.db.acme);
    assert_eq!(done["status"], "completed", "{done}");
    let page = p.page(&format!("/portal/requests/{id}"), &cookie);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Download the package")
            && page.body.contains("m.wisniewska@przyklad.pl")
    );

    // The person downloads it: a signed package, the hand-over recorded.
    let pkg = p.page(&format!("/portal/requests/{id}/package"), &cookie);
    assert_eq!(pkg.status, 200);
    assert!(
        pkg.header("content-disposition")
            .unwrap()
            .contains("attachment")
    );
    let verified = dsr_engine::package::verify(&pkg.body, None).expect("the package verifies");
    assert_eq!(verified.request_id, id);

    // A link for another party: 2 downloads.
    let csrf = p.csrf(&cookie);
    let made = p.post(
        &format!("/portal/requests/{id}/shares"),
        &cookie,
        &format!("csrf={csrf}&recipient=New+Insurer+SA&days=1&downloads=2"),
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let link = between(&made.body, "readonly value=\"", "\"").to_owned();
    let path = link.split_once("://").unwrap().1.split_once('/').unwrap().1;
    let path = format!("/{path}");
    // The receiving party: no cookie, the organisation's key on the page.
    let shared = p.call("GET", &path, None, None, &[]);
    assert_eq!(shared.status, 200, "{}", shared.body);
    assert!(
        shared.body.contains(&verified.public_key),
        "the page shows the signing key"
    );
    assert!(shared.body.contains("New Insurer SA"));
    for n in 1..=2 {
        let d = p.call("GET", &format!("{path}/package"), None, None, &[]);
        assert_eq!(d.status, 200, "download {n}");
        assert_eq!(
            dsr_engine::package::verify(&d.body, Some(&verified.public_key))
                .unwrap()
                .request_id,
            id
        );
    }
    let third = p.call("GET", &format!("{path}/package"), None, None, &[]);
    assert_eq!(third.status, 410, "{}", third.body);
    assert!(third.body.contains("used as many times"));
    assert_eq!(p.call("GET", &path, None, None, &[]).status, 410);
    // Every hand-over is in the request's audit trail: the person's and the two
    // downloads, and the link made.
    let ev = events(&p, &id);
    assert_eq!(
        ev.iter().filter(|a| *a == "package.handed_over").count(),
        3,
        "{ev:?}"
    );
    assert!(ev.contains(&"package.link_made".to_owned()));
    // The recipient's name is sealed in the audit log, not in clear.
    let raw = p
        .server
        .get(&format!("/api/v1/requests/{id}/events"), &p.server.db.acme)
        .body;
    assert!(!raw.contains("New Insurer SA"), "{raw}");
    // The person's page lists the link as used up.
    assert!(
        p.page(&format!("/portal/requests/{id}"), &cookie)
            .body
            .contains("Used up")
    );

    // A link withdrawn before use no longer works.
    let made = p.post(
        &format!("/portal/requests/{id}/shares"),
        &cookie,
        &format!("csrf={csrf}&recipient=Someone&days=7&downloads=1"),
    );
    let link = between(&made.body, "readonly value=\"", "\"").to_owned();
    let path2 = format!(
        "/{}",
        link.split_once("://").unwrap().1.split_once('/').unwrap().1
    );
    let page = p.page(&format!("/portal/requests/{id}"), &cookie).body;
    let hash = between(&page, "name=\"link\" value=\"", "\"").to_owned();
    let r = p.post(
        &format!("/portal/requests/{id}/shares/revoke"),
        &cookie,
        &format!("csrf={csrf}&link={hash}"),
    );
    assert_eq!(r.status, 303);
    let gone = p.call("GET", &format!("{path2}/package"), None, None, &[]);
    assert_eq!(gone.status, 410);
    assert!(gone.body.contains("withdrew"));
    assert!(events(&p, &id).contains(&"package.link_revoked".to_owned()));
    // Limits: too many days or downloads, an empty recipient, a made-up link.
    for form in [
        format!("csrf={csrf}&recipient=X&days=400&downloads=1"),
        format!("csrf={csrf}&recipient=X&days=1&downloads=1000"),
        format!("csrf={csrf}&recipient=&days=1&downloads=1"),
        format!("csrf={csrf}&recipient=X&days=zero"),
    ] {
        let a = p.post(&format!("/portal/requests/{id}/shares"), &cookie, &form);
        assert_eq!(a.status, 400, "{form}: {}", a.body);
    }
    assert_eq!(
        p.call("GET", "/portal/shared/not-a-link", None, None, &[])
            .status,
        404
    );
}

#[test]
fn corrections_and_erasures_are_asked_for_plainly_and_the_employee_rule_holds() {
    let p = portal("[policy]\nreview_self_service_updates = true\n");
    let cookie = p.sign_in("c-4001");
    let form = p.page("/portal/correct", &cookie);
    assert!(form.body.contains("jm.garcia@ejemplo.es"));
    assert!(form.body.contains("checks corrections before making them"));
    let id = p.ask(
        &cookie,
        "type=correction&current=email%3A0&new=josemaria%40ejemplo.es",
    );
    let r = p
        .server
        .get(&format!("/api/v1/requests/{id}"), &p.server.db.acme)
        .json();
    assert_eq!(r["type"], "update", "{r}");
    assert_eq!(
        r["status"], "on_hold",
        "the tenant reviews self-service corrections: {r}"
    );
    let csrf = p.csrf(&cookie);
    for bad in [
        "type=correction&current=email%3A9&new=x%40y.z",
        "type=correction&current=email%3A0&new=",
        "type=correction&current=email%3A0&new=jm.garcia%40ejemplo.es",
        "type=nonsense",
    ] {
        let a = p.post("/portal/requests", &cookie, &format!("csrf={csrf}&{bad}"));
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
    }

    // Erasure: the consequences first; without the box ticked nothing happens.
    let ask = p.page("/portal/ask/erasure", &cookie);
    assert!(ask.body.contains("cannot be undone"));
    let a = p.post(
        "/portal/requests",
        &cookie,
        &format!("csrf={csrf}&type=erasure"),
    );
    assert_eq!(a.status, 400);
    // An active employee's erasure waits for a decision (G-16), and the page says why.
    let claire = p.sign_in("u-01");
    assert!(
        p.page("/portal/ask/erasure", &claire)
            .body
            .contains("listed as an employee")
    );
    let id = p.ask(&claire, "type=erasure&confirm=yes");
    let r = p
        .server
        .get(&format!("/api/v1/requests/{id}"), &p.server.db.acme)
        .json();
    assert_eq!(r["status"], "on_hold", "{r}");
    assert!(
        p.page(&format!("/portal/requests/{id}"), &claire)
            .body
            .contains("needs a decision")
    );
    // A portability request is its own type.
    let id = p.ask(&cookie, "type=portability");
    let r = p
        .server
        .get(&format!("/api/v1/requests/{id}"), &p.server.db.acme)
        .json();
    assert_eq!(r["type"], "portability");
}

#[test]
fn the_pages_speak_the_persons_language_and_sign_out_ends_the_session() {
    let p = portal("");
    let now = chrono::Utc::now().timestamp();
    let a = p
        .host
        .sign(ISSUER, "dsr-portal", "c-1005", now, 60, Some("fr"))
        .unwrap();
    let r = p.call(
        "GET",
        &format!("/portal/signin?assertion={a}"),
        None,
        None,
        &[],
    );
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let home = p.page("/portal/", &cookie);
    assert!(
        home.body.contains("<html lang=\"fr\"") && home.body.contains("Vos données et demandes")
    );
    let en = p.page("/portal/?lang=en", &cookie);
    assert!(en.body.contains("Your data and requests"));
    assert!(
        p.page("/portal/", &cookie)
            .body
            .contains("<html lang=\"en\""),
        "the choice stays"
    );
    // Anonymous pages follow Accept-Language.
    let anon = p.call(
        "GET",
        "/portal/signin",
        None,
        None,
        &[("accept-language", "fr-CA,fr;q=0.9")],
    );
    assert!(anon.body.contains("Connectez-vous"));

    let csrf = p.csrf(&cookie);
    let out = p.post("/portal/signout", &cookie, &format!("csrf={csrf}"));
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        p.page("/portal/", &cookie).status,
        401,
        "the old cookie is dead"
    );
}

/// The real router in this process with a clock the test moves: a session ends after
/// the idle time, any page resets it (H-5).
#[test]
fn an_idle_session_ends_after_fifteen_minutes_and_any_page_resets_the_timer() {
    let db = Db::new();
    let (private, public) = ed25519_pem_pair(&[5u8; 32]);
    let clock = std::sync::Arc::new(dsr_engine::ManualClock::new(chrono::Utc::now()));
    let mut settings = dsr_api::Settings::new(db.dir.path().join("t.db"));
    settings.workers = 0;
    settings.portal = Some(std::sync::Arc::new(dsr_api::portal::PortalSettings {
        hosts: vec![
            dsr_api::portal::HostKey::from_pem(
                dsr_model::TenantId::new("acme").unwrap(),
                ISSUER,
                "EdDSA",
                public.as_bytes(),
            )
            .unwrap(),
        ],
        ..Default::default()
    }));
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
    let agent = agent();
    let get = |path: &str, cookie: Option<&str>| {
        let mut b = ureq::http::Request::builder().uri(format!("http://{addr}{path}"));
        if let Some(c) = cookie {
            b = b.header("cookie", c);
        }
        let mut r = agent.run(b.body(String::new()).unwrap()).unwrap();
        let set = r
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_owned());
        (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap(),
            set,
        )
    };
    let signer = HostSigner::from_pem("EdDSA", private.as_bytes()).unwrap();
    let t = signer
        .sign(
            ISSUER,
            "dsr-portal",
            "c-2001",
            clock.now().timestamp(),
            120,
            None,
        )
        .unwrap();
    let (status, _, set) = get(&format!("/portal/signin?assertion={t}"), None);
    assert_eq!(status, 303);
    let cookie = set.unwrap().split(';').next().unwrap().to_owned();
    assert_eq!(get("/portal/", Some(&cookie)).0, 200);
    clock.advance(chrono::Duration::minutes(14));
    assert_eq!(get("/portal/", Some(&cookie)).0, 200, "14 minutes idle");
    clock.advance(chrono::Duration::minutes(14));
    assert_eq!(
        get("/portal/", Some(&cookie)).0,
        200,
        "28 minutes in, 14 idle"
    );
    clock.advance(chrono::Duration::minutes(15) + chrono::Duration::seconds(1));
    let (status, body, set) = get("/portal/", Some(&cookie));
    assert_eq!(status, 401);
    assert!(body.contains("15 minutes without activity"), "{body}");
    assert!(set.unwrap().contains("Max-Age=0"));
    assert_eq!(get("/portal/", Some(&cookie)).0, 401, "it stays ended");
    // Another session left idle is removed by the housekeeping, subject id and all.
    let t2 = signer
        .sign(
            ISSUER,
            "dsr-portal",
            "c-2002",
            clock.now().timestamp(),
            120,
            None,
        )
        .unwrap();
    let (_, _, set) = get(&format!("/portal/signin?assertion={t2}"), None);
    let hash = dsr_api::portal::session::hash(
        set.unwrap()
            .split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1,
    );
    assert!(
        rt.block_on(app.store().portal_session(&hash))
            .unwrap()
            .is_some()
    );
    clock.advance(chrono::Duration::minutes(16));
    rt.block_on(dsr_api::portal::housekeeping(&app));
    assert!(
        rt.block_on(app.store().portal_session(&hash))
            .unwrap()
            .is_none()
    );
    // An assertion checked by the server's clock: one issued 10 minutes "ago".
    let old = signer
        .sign(
            ISSUER,
            "dsr-portal",
            "c-2001",
            clock.now().timestamp() - 600,
            120,
            None,
        )
        .unwrap();
    assert_eq!(get(&format!("/portal/signin?assertion={old}"), None).0, 401);
}

/// Two nodes on one PostgreSQL database: a session started on one is valid on the
/// other, a forwarding link's downloads are counted across both, signing out on one
/// ends the session on both.
#[test]
fn on_postgres_two_nodes_share_sessions_links_and_their_counts() {
    let Some(url) = crate::multinode::database("portal") else {
        return;
    };
    let db = crate::multinode::prepare(&url);
    let token = db.acme.clone();
    let a = portal_on(db, "follow_ms = 100", &[("DSR_SERVER_DATABASE", &url)]);
    let b = portal_on(
        crate::multinode::prepare_dir_only(),
        "follow_ms = 100",
        &[("DSR_SERVER_DATABASE", &url)],
    );
    let cookie = a.sign_in("c-2001");
    assert_eq!(
        b.page("/portal/", &cookie).status,
        200,
        "a session of node a on node b"
    );
    // The same assertion on both nodes: one sign-in.
    let t = a.assertion("c-2001");
    let first = a.call(
        "GET",
        &format!("/portal/signin?assertion={t}"),
        None,
        None,
        &[],
    );
    let second = b.call(
        "GET",
        &format!("/portal/signin?assertion={t}"),
        None,
        None,
        &[],
    );
    assert_eq!((first.status, second.status), (303, 401));
    let id = b.ask(&cookie, "type=export");
    let done = a.server.settle(&id, &token);
    assert_eq!(done["status"], "completed", "{done}");
    let csrf = a.csrf(&cookie);
    let made = a.post(
        &format!("/portal/requests/{id}/shares"),
        &cookie,
        &format!("csrf={csrf}&recipient=Other+Bank&days=1&downloads=1"),
    );
    assert_eq!(made.status, 200, "{}", made.body);
    let link = between(&made.body, "readonly value=\"", "\"").to_owned();
    let path = format!(
        "/{}",
        link.split_once("://").unwrap().1.split_once('/').unwrap().1
    );
    assert_eq!(
        b.call("GET", &format!("{path}/package"), None, None, &[])
            .status,
        200
    );
    assert_eq!(
        a.call("GET", &format!("{path}/package"), None, None, &[])
            .status,
        410,
        "one download, counted across nodes"
    );
    let out = b.post("/portal/signout", &cookie, &format!("csrf={csrf}"));
    assert_eq!(out.status, 303);
    assert_eq!(
        a.page("/portal/", &cookie).status,
        401,
        "signed out on every node"
    );
}
