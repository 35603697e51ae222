//! OpenDSR (formerly OpenGDPR) through the real server: discovery, status, requests
//! created / read / cancelled under both protocol versions, every answer and callback
//! verified against the certificate the discovery document points at (and a tampered
//! body failing that verification), idempotency on `subject_request_id`, tenant
//! isolation and the specification's error shape naming the field.

use crate::harness::{Db, OPEN_LIMITS, Server};
use base64::Engine as _;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ID: &str = "a7551968-d5d6-44b2-9831-815ac9017798";

fn start(extra: &str) -> Server {
    Server::start(&format!("{OPEN_LIMITS}[opendsr]\nenabled = true\n{extra}"))
}

/// The processor's public key (RSAPublicKey DER), from the certificate whose URL the
/// discovery document gives; the discovery answer itself verified with it.
fn processor_key(s: &Server, version: &str) -> Vec<u8> {
    let d = s.call(
        "GET",
        &format!("/opendsr/{version}/discovery"),
        None,
        None,
        &[],
    );
    assert_eq!(d.status, 200, "{}", d.body);
    let url = d.json()["processor_certificate"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with(&s.base), "{url} is on this server");
    let pem = s.call("GET", &url[s.base.len()..], None, None, &[]);
    assert_eq!(pem.status, 200);
    let b64: String = pem
        .body
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
    let key = cert.public_key().subject_public_key.data.to_vec();
    assert!(verifies(
        &key,
        d.body.as_bytes(),
        d.header("x-opendsr-signature")
    ));
    key
}

/// Whether `sig` (base64) is the processor's RSA-SHA256 signature of `body`.
fn verifies(key: &[u8], body: &[u8], sig: Option<&str>) -> bool {
    let Some(sig) = sig else { return false };
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(sig) else {
        return false;
    };
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, key)
        .verify(body, &sig)
        .is_ok()
}

fn request(id: &str, ty: &str, email: &str, callbacks: &[String]) -> Value {
    json!({
        "subject_request_id": id,
        "subject_request_type": ty,
        "submitted_time": "2026-11-30T10:00:00Z",
        "subject_identities": [
            {"identity_type": "ios_advertising_id", "identity_value": "6D92078A-8246-4BA4-AE5B-76104861E7DC", "identity_format": "raw"},
            {"identity_type": "email", "identity_value": email, "identity_format": "raw"}
        ],
        "api_version": "2.0",
        "regulation": "gdpr",
        "status_callback_urls": callbacks,
    })
}

/// One received POST: its headers (lower-case) and raw body.
type Received = (Vec<(String, String)>, String);

/// A callback receiver (answers 202) recording each POST.
#[derive(Clone, Default)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Received>>>,
}

fn receiver() -> Receiver {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let rec = Receiver {
        url: format!("http://{}/opendsr/callbacks", l.local_addr().unwrap()),
        ..Receiver::default()
    };
    let got = rec.got.clone();
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_err() {
                continue;
            }
            got.lock()
                .unwrap()
                .push((headers, String::from_utf8(body).unwrap()));
            let _ = stream.write_all(
                b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    rec
}

impl Receiver {
    /// Waits for a callback reporting `status`; returns every callback so far.
    fn wait_for(&self, status: &str) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let got = self.got.lock().unwrap().clone();
            if got
                .iter()
                .any(|(_, b)| serde_json::from_str::<Value>(b).unwrap()["request_status"] == status)
            {
                return got;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no {status} callback: {got:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn opendsr_discovery_and_status_are_signed_and_public() {
    let s = start("");
    for v in ["v1", "v2"] {
        let key = processor_key(&s, v);
        let d = s.call("GET", &format!("/opendsr/{v}/discovery"), None, None, &[]);
        let j = d.json();
        let want = if v == "v1" { "1.0" } else { "2.0" };
        assert_eq!(j["api_version"], want);
        assert_eq!(
            j["supported_subject_request_types"],
            json!(["erasure", "access", "portability"])
        );
        assert!(
            j["supported_identities"]
                .as_array()
                .unwrap()
                .contains(&json!({"identity_type": "email", "identity_format": "raw"}))
        );
        // Both header families (§10.1), one domain.
        assert!(verifies(
            &key,
            d.body.as_bytes(),
            d.header("x-opengdpr-signature")
        ));
        assert_eq!(d.header("x-opendsr-processor-domain"), Some("127.0.0.1"));
        let st = s.call("GET", &format!("/opendsr/{v}/status"), None, None, &[]);
        assert_eq!(st.status, 200);
        assert_eq!(st.json()["status"], "ok");
        assert!(verifies(
            &key,
            st.body.as_bytes(),
            st.header("x-opendsr-signature")
        ));
    }
    // A tampered body does not verify.
    let key = processor_key(&s, "v2");
    let d = s.call("GET", "/opendsr/v2/discovery", None, None, &[]);
    let tampered = d.body.replace("erasure", "erasurf");
    assert!(!verifies(
        &key,
        tampered.as_bytes(),
        d.header("x-opendsr-signature")
    ));
}

#[test]
fn opendsr_off_by_default() {
    let s = Server::start(OPEN_LIMITS);
    let d = s.call("GET", "/opendsr/v2/discovery", None, None, &[]);
    assert_eq!(d.status, 404, "{}", d.body);
    assert!(d.body.contains("enabled"), "{}", d.body);
}

#[test]
fn opendsr_an_erasure_is_received_completed_and_called_back_signed() {
    let s = start("");
    let key = processor_key(&s, "v2");
    let t = s.db.acme.clone();
    let rec = receiver();
    let body = request(
        ID,
        "erasure",
        "zoe.faure@gmail.com",
        std::slice::from_ref(&rec.url),
    );
    let a = s.post("/opendsr/v2/requests", &t, &body);
    assert_eq!(a.status, 201, "{}", a.body);
    assert!(verifies(
        &key,
        a.body.as_bytes(),
        a.header("x-opendsr-signature")
    ));
    let r = a.json();
    assert_eq!(r["subject_request_id"], ID);
    assert_eq!(r["controller_id"], "acme");
    let encoded = base64::engine::general_purpose::STANDARD
        .decode(r["encoded_request"].as_str().unwrap())
        .unwrap();
    assert_eq!(encoded, body.to_string().as_bytes(), "the request as sent");
    for f in ["received_time", "expected_completion_time"] {
        assert!(
            chrono::DateTime::parse_from_rfc3339(r[f].as_str().unwrap()).is_ok(),
            "{f}: {r}"
        );
    }

    // Idempotent: the same id and body, the same request; another body, refused.
    let again = s.post("/opendsr/v2/requests", &t, &body);
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.json()["received_time"], r["received_time"]);
    let mut other = body.clone();
    other["subject_request_type"] = json!("access");
    let e = s.post("/opendsr/v2/requests", &t, &other);
    assert_eq!(e.status, 400, "{}", e.body);
    assert_eq!(
        e.json()["error"]["errors"][0]["location"],
        "subject_request_id"
    );
    assert!(verifies(
        &key,
        e.body.as_bytes(),
        e.header("x-opendsr-signature")
    ));

    // Callbacks, each verified against the certificate before it is parsed.
    let got = rec.wait_for("completed");
    for (h, b) in &got {
        assert!(
            verifies(&key, b.as_bytes(), header(h, "x-opendsr-signature")),
            "a callback's signature: {b}"
        );
        assert!(!verifies(
            &key,
            b.replace("acme", "acmf").as_bytes(),
            header(h, "x-opendsr-signature")
        ));
        assert_eq!(header(h, "x-opendsr-processor-domain"), Some("127.0.0.1"));
        let v: Value = serde_json::from_str(b).unwrap();
        assert_eq!(v["subject_request_id"], ID);
        assert_eq!(v["status_callback_url"], rec.url.as_str());
        assert_eq!(v["controller_id"], "acme");
    }
    let statuses: Vec<String> = got
        .iter()
        .map(|(_, b)| serde_json::from_str::<Value>(b).unwrap()["request_status"].to_string())
        .collect();
    assert_eq!(
        statuses.first().map(String::as_str),
        Some("\"pending\""),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("\"completed\""),
        "{statuses:?}"
    );

    // The status, signed, under both versions' names.
    for path in [
        format!("/opendsr/v2/requests/{ID}"),
        format!("/opendsr/v2/opendsr_requests/{ID}"),
        format!("/opendsr/v2/opencompliance_requests/{ID}"),
        format!("/opendsr/v1/opengdpr_requests/{ID}"),
    ] {
        let st = s.get(&path, &t);
        assert_eq!(st.status, 200, "{path}: {}", st.body);
        assert!(verifies(
            &key,
            st.body.as_bytes(),
            st.header("x-opendsr-signature")
        ));
        assert!(verifies(
            &key,
            st.body.as_bytes(),
            st.header("x-opengdpr-signature")
        ));
        let j = st.json();
        assert_eq!(j["request_status"], "completed", "{path}: {j}");
        assert!(j.get("results_url").is_none(), "no results for an erasure");
    }
    // Completed: no cancellation.
    let c = s.call(
        "DELETE",
        &format!("/opendsr/v2/requests/{ID}"),
        Some(&t),
        None,
        &[],
    );
    assert_eq!(c.status, 400, "{}", c.body);
    assert!(
        c.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pending")
    );

    // Another tenant, or no token: nothing to see.
    let o = s.get(&format!("/opendsr/v2/requests/{ID}"), &s.db.other);
    assert_eq!(o.status, 404, "{}", o.body);
    assert_eq!(o.json()["error"]["code"], 404);
    let n = s.call(
        "GET",
        &format!("/opendsr/v2/requests/{ID}"),
        None,
        None,
        &[],
    );
    assert_eq!(n.status, 401);
    assert_eq!(n.json()["error"]["code"], 401);
    // The same id from another tenant is another request.
    let b = s.post(
        "/opendsr/v2/requests",
        &s.db.other,
        &request(ID, "access", "zoe.faure@gmail.com", &[]),
    );
    assert_eq!(b.status, 201, "{}", b.body);
}

#[test]
fn opendsr_an_access_request_has_its_results_url() {
    let s = start("");
    let t = s.db.acme.clone();
    let id = "5b0c2f5e-1d7a-4f0e-9b1a-2c3d4e5f6a7b";
    let mut body = request(id, "access", "anna.schmidt@beispiel.de", &[]);
    body["api_version"] = json!("1.0");
    body.as_object_mut().unwrap().remove("regulation");
    let a = s.post("/opendsr/v1/opengdpr_requests", &t, &body);
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.json()["api_version"], "1.0");
    let started = Instant::now();
    let st = loop {
        let st = s
            .get(&format!("/opendsr/v1/opengdpr_requests/{id}"), &t)
            .json();
        if st["request_status"] == "completed" {
            break st;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{st}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let url = st["results_url"].as_str().unwrap();
    assert!(url.starts_with(&s.base), "{url}");
    let pkg = s.get(&url[s.base.len()..], &t);
    assert_eq!(
        pkg.status, 200,
        "the package, with the controller's token: {}",
        pkg.body
    );
}

#[test]
fn opendsr_cancel_while_pending_only() {
    // No workers: requests stay pending until cancelled.
    let s = Server::start(&format!(
        "workers = 0\n{OPEN_LIMITS}[opendsr]\nenabled = true\n"
    ));
    let key = processor_key(&s, "v2");
    let t = s.db.acme.clone();
    let rec = receiver();
    let a = s.post(
        "/opendsr/v2/requests",
        &t,
        &request(
            ID,
            "erasure",
            "zoe.faure@gmail.com",
            std::slice::from_ref(&rec.url),
        ),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let st = s.get(&format!("/opendsr/v2/requests/{ID}"), &t).json();
    assert_eq!(st["request_status"], "pending", "{st}");
    let c = s.call(
        "DELETE",
        &format!("/opendsr/v2/requests/{ID}"),
        Some(&t),
        None,
        &[],
    );
    assert_eq!(c.status, 202, "{}", c.body);
    assert!(verifies(
        &key,
        c.body.as_bytes(),
        c.header("x-opendsr-signature")
    ));
    assert_eq!(c.json()["subject_request_id"], ID);
    let st = s.get(&format!("/opendsr/v2/requests/{ID}"), &t).json();
    assert_eq!(st["request_status"], "cancelled", "{st}");
    let got = rec.wait_for("cancelled");
    assert!(got.iter().all(|(h, b)| verifies(
        &key,
        b.as_bytes(),
        header(h, "x-opendsr-signature")
    )));
    // The dsr request says so too.
    let list = s.get("/api/v1/requests?status=cancelled", &t).json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
}

#[test]
fn opendsr_no_cancel_once_in_progress() {
    // A task a person answers: in progress (waiting on the person) once claimed.
    let s = start(
        "[[services]]\nname = \"archive\"\nkind = \"manual\"\nerasure = \"delete\"\ncategories = [\"customer_relationship\"]\nassignee = \"records team\"\ninstructions = \"Search the paper archive.\"\n",
    );
    let t = s.db.acme.clone();
    let a = s.post(
        "/opendsr/v2/requests",
        &t,
        &request(ID, "erasure", "zoe.faure@gmail.com", &[]),
    );
    assert_eq!(a.status, 201, "{}", a.body);
    let started = Instant::now();
    loop {
        let st = s.get(&format!("/opendsr/v2/requests/{ID}"), &t).json();
        if st["request_status"] == "in_progress" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{st}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let c = s.call(
        "DELETE",
        &format!("/opendsr/v2/requests/{ID}"),
        Some(&t),
        None,
        &[],
    );
    assert_eq!(c.status, 400, "{}", c.body);
    let e = c.json();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("in_progress"),
        "{e}"
    );
}

#[test]
fn opendsr_bad_bodies_name_the_field() {
    let s = start("");
    let key = processor_key(&s, "v2");
    let t = s.db.acme.clone();
    let good = request(ID, "erasure", "zoe.faure@gmail.com", &[]);
    let with = |f: &str, v: Value| {
        let mut b = good.clone();
        b[f] = v;
        b
    };
    let without = |f: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(f);
        b
    };
    let cases: Vec<(Value, &str)> = vec![
        (without("subject_request_id"), "subject_request_id"),
        (
            with("subject_request_id", json!("not-a-uuid")),
            "subject_request_id",
        ),
        (
            with(
                "subject_request_id",
                json!("01890a5d-ac96-774b-bcce-b302099a8057"),
            ),
            "subject_request_id",
        ),
        (
            with("subject_request_type", json!("rectification")),
            "subject_request_type",
        ),
        (without("submitted_time"), "submitted_time"),
        (with("submitted_time", json!("yesterday")), "submitted_time"),
        (with("subject_identities", json!([])), "subject_identities"),
        (
            with(
                "subject_identities",
                json!([{"identity_type": "email", "identity_value": "5e88489…", "identity_format": "sha256"}]),
            ),
            "subject_identities[0].identity_format",
        ),
        (
            with(
                "subject_identities",
                json!([{"identity_type": "roku_advertising_id", "identity_value": "x", "identity_format": "raw"}]),
            ),
            "subject_identities",
        ),
        (
            with(
                "subject_identities",
                json!([{"identity_type": "shoe_size", "identity_value": "44", "identity_format": "raw"}]),
            ),
            "subject_identities[0].identity_type",
        ),
        (with("api_version", json!("1.0")), "api_version"),
        (without("regulation"), "regulation"),
        (with("regulation", json!("ccpa")), "regulation"),
        (
            with("status_callback_urls", json!(["ftp://x/cb"])),
            "status_callback_urls[0]",
        ),
        (
            with("status_callback_urls", json!("http://x/cb")),
            "status_callback_urls",
        ),
    ];
    for (body, field) in cases {
        let a = s.post("/opendsr/v2/requests", &t, &body);
        assert_eq!(a.status, 400, "{field}: {}", a.body);
        assert!(verifies(
            &key,
            a.body.as_bytes(),
            a.header("x-opendsr-signature")
        ));
        let e = a.json();
        assert_eq!(e["error"]["code"], 400, "{e}");
        assert_eq!(e["error"]["errors"][0]["location"], field, "{e}");
        let m = e["error"]["message"].as_str().unwrap();
        assert!(m.contains(field), "{field}: {m}");
        assert!(!m.contains("zoe"), "no identity in errors: {m}");
    }
    let a = s.call(
        "POST",
        "/opendsr/v2/requests",
        Some(&t),
        Some("{not json"),
        &[],
    );
    assert_eq!(a.status, 400, "{}", a.body);
    assert_eq!(a.json()["error"]["code"], 400);
    // Nobody matches: the dsr engine's answer, in the specification's shape.
    let a = s.post(
        "/opendsr/v2/requests",
        &t,
        &request(ID, "erasure", "nobody@nowhere.example", &[]),
    );
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(!a.body.contains("nobody@"), "{}", a.body);
    // A reader may not create.
    let a = s.post("/opendsr/v2/requests", &s.db.reader, &good);
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(a.json()["error"]["code"], 403);
}

#[test]
fn opendsr_keeps_its_key_across_restarts() {
    let cfg = format!(
        "{OPEN_LIMITS}[opendsr]\nenabled = true\nbase_url = \"https://opendsr.acme.example/\"\n"
    );
    let mut s = Server::start_on(Db::new(), &cfg);
    let d = s
        .call("GET", "/opendsr/v2/discovery", None, None, &[])
        .json();
    assert_eq!(
        d["processor_certificate"],
        "https://opendsr.acme.example/opendsr/processor-certificate.pem"
    );
    let cert = |s: &Server| {
        s.call("GET", "/opendsr/processor-certificate.pem", None, None, &[])
            .body
    };
    let before = cert(&s);
    assert!(
        before.starts_with("-----BEGIN CERTIFICATE-----"),
        "{before}"
    );
    let (_, c) = x509_parser::pem::parse_x509_pem(before.as_bytes()).unwrap();
    let x = c.parse_x509().unwrap();
    assert!(
        x.subject().to_string().contains("opendsr.acme.example"),
        "issued for the base URL's host: {}",
        x.subject()
    );
    s.restart(&cfg, false);
    assert_eq!(
        cert(&s),
        before,
        "the same certificate (and key) after a restart"
    );
    let st = s.call("GET", "/opendsr/v2/status", None, None, &[]);
    assert_eq!(
        st.header("x-opendsr-processor-domain"),
        Some("opendsr.acme.example")
    );
}

#[test]
fn opendsr_uses_the_operators_certificate() {
    use rsa::pkcs8::EncodePrivateKey as _;
    use rsa::{Generate as _, pkcs8::LineEnding};
    let db = Db::new();
    // An RSA key and a certificate for it, as an operator would have from a CA.
    let key = rsa::PrivateKey::generate();
    let pem = key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["opendsr.acme.example".to_owned()])
        .unwrap()
        .self_signed(&kp)
        .unwrap()
        .pem();
    let dir = db.dir.path().to_owned();
    std::fs::write(dir.join("opendsr-cert.pem"), &cert).unwrap();
    std::fs::write(dir.join("opendsr-key.pem"), &pem).unwrap();
    let s = Server::start_on(
        db,
        &format!(
            "{OPEN_LIMITS}[opendsr]\nenabled = true\ncertificate = \"opendsr-cert.pem\"\nprivate_key = \"opendsr-key.pem\"\n"
        ),
    );
    let served = s
        .call("GET", "/opendsr/processor-certificate.pem", None, None, &[])
        .body;
    assert_eq!(served, cert, "the operator's certificate is served");
    // And its key signs.
    let key = processor_key(&s, "v2");
    let st = s.call("GET", "/opendsr/v2/status", None, None, &[]);
    assert!(verifies(
        &key,
        st.body.as_bytes(),
        st.header("x-opendsr-signature")
    ));
}
