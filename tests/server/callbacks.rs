//! Status callbacks received by a test receiver: every status change POSTed, signed
//! with Ed25519 over timestamp + body, the timestamp fresh (a receiver refuses replays
//! older than 5 minutes), the delivery state on the request.

use crate::harness::{Db, OPEN_LIMITS, Pki, Server};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// One received POST: its headers (lower-case) and body.
type Received = (Vec<(String, String)>, String);

/// What a test receiver got.
#[derive(Clone, Default)]
struct Receiver {
    url: String,
    /// POSTs answered 200.
    got: Arc<Mutex<Vec<Received>>>,
    /// Connections accepted (a refused TLS handshake is one, with no POST).
    connections: Arc<AtomicUsize>,
}

/// Reads one HTTP/1.1 POST from `stream`; `None` if the connection ends first.
fn read_post(stream: &mut impl Read) -> Option<Received> {
    let mut r = BufReader::new(stream);
    let mut headers = Vec::new();
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    loop {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
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
    r.read_exact(&mut body).ok()?;
    Some((headers, String::from_utf8(body).unwrap()))
}

/// A receiver on a loopback port that answers 500 to the first POST (so a retry is
/// needed) and 200 after; over TLS with `tls` (a certificate for 127.0.0.1).
fn receiver(tls: Option<(String, String)>) -> Receiver {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let rec = Receiver {
        url: format!("{scheme}://{}/hooks/dsr", l.local_addr().unwrap()),
        ..Receiver::default()
    };
    let tls = tls.map(|(cert, key)| {
        let certs = vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
        Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        )
    });
    let r = rec.clone();
    std::thread::spawn(move || {
        let mut n = 0;
        for stream in l.incoming() {
            let Ok(stream) = stream else { continue };
            r.connections.fetch_add(1, Ordering::SeqCst);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut stream: Box<dyn ReadWrite> = match &tls {
                Some(cfg) => Box::new(rustls::StreamOwned::new(
                    rustls::ServerConnection::new(cfg.clone()).unwrap(),
                    stream,
                )),
                None => Box::new(stream),
            };
            // A client that refuses the certificate ends the handshake: no POST.
            let Some(post) = read_post(&mut stream) else {
                continue;
            };
            n += 1;
            let status = if n == 1 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = stream.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
            let _ = stream.flush();
            if n > 1 {
                r.got.lock().unwrap().push(post);
            }
        }
    });
    rec
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn header<'a>(h: &'a [(String, String)], k: &str) -> &'a str {
    h.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {k}"))
}

#[test]
fn every_status_change_is_posted_signed_and_retried() {
    let s = Server::start(OPEN_LIMITS);
    let t = s.db.acme.clone();
    let rec = receiver(None);
    // Refused: not a URL, or a private address on a server that does not allow them is
    // tested in the unit tests.
    let bad = s.post("/api/v1/requests", &t, &json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-2002"}, "callbackUrls": ["ftp://x"]}));
    assert_eq!(
        (bad.status, bad.json()["details"]["field"].as_str()),
        (400, Some("callbackUrls"))
    );
    posted_signed_and_retried(&s, &t, &rec);
}

/// HIPAA mode (TLS on, OAuth sessions): callbacks go to https receivers only, and one
/// whose certificate is issued by the operator's private CA (`callback_ca_file`)
/// receives every status, signed.
#[test]
fn https_callbacks_in_hipaa_mode_trust_the_operators_ca() {
    let pki = Pki::new("callbacks");
    let db = Db::new();
    let (cert, key) = pki.leaf();
    std::fs::write(db.dir.path().join("server.pem"), &cert).unwrap();
    std::fs::write(db.dir.path().join("server.key"), &key).unwrap();
    std::fs::write(db.dir.path().join("hooks-ca.pem"), &pki.ca_pem).unwrap();
    let s = Server::start_https(
        db,
        &format!(
            "hipaa = true\nidle_timeout_minutes = 10\ncallback_ca_file = \"hooks-ca.pem\"\n{OPEN_LIMITS}[server.tls]\ncert = \"server.pem\"\nkey = \"server.key\"\n"
        ),
        &pki.ca_pem,
    );
    assert!(s.base.starts_with("https://"));
    let t = s.oauth_token();
    let rec = receiver(Some(pki.leaf()));
    // Plain http is refused in HIPAA mode, naming the rule.
    let plain = rec.url.replacen("https://", "http://", 1);
    let bad = s.post(
        "/api/v1/requests",
        &t,
        &json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-2002"}, "callbackUrls": [plain]}),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        bad.json()["message"]
            .as_str()
            .unwrap()
            .contains("https in HIPAA mode"),
        "{}",
        bad.body
    );
    posted_signed_and_retried(&s, &t, &rec);
}

/// A receiver whose certificate the server does not trust gets no POST; every attempt
/// is recorded with an error that says why and what to configure, and the delivery
/// ends `failed`.
#[test]
fn an_untrusted_certificate_is_a_failed_delivery_with_a_clear_error() {
    let s = Server::start(&format!("callback_max_attempts = 2\n{OPEN_LIMITS}"));
    let t = &s.db.acme;
    // Its own CA, which the server was not given.
    let rec = receiver(Some(Pki::new("unknown").leaf()));
    let r = s.post(
        "/api/v1/requests",
        t,
        &json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-2002"}, "callbackUrls": [rec.url]}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let cbs = loop {
        let d = s.get(&format!("/api/v1/requests/{id}"), t).json();
        let cbs = d["callbacks"].as_array().unwrap().clone();
        if !cbs.is_empty() && cbs.iter().all(|c| c["state"] == "failed") {
            break cbs;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{cbs:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for c in &cbs {
        assert_eq!(c["attempts"], 2, "{c}");
        let e = c["lastError"].as_str().unwrap();
        assert!(
            e.contains("not trusted") && e.contains("callback_ca_file"),
            "{e}"
        );
    }
    assert!(
        rec.connections.load(Ordering::SeqCst) >= 2,
        "the server did try"
    );
    assert!(rec.got.lock().unwrap().is_empty(), "nothing was posted");
}

/// A request with `rec` as its callback: every status received (after one retry),
/// signed, fresh, without the subject; the delivery state on the request.
fn posted_signed_and_retried(s: &Server, t: &str, rec: &Receiver) {
    let got = &rec.got;
    let url = &rec.url;
    let key = s.get("/api/v1/callbacks/key", t).json();
    let pk: [u8; 32] = hex::decode(key["publicKey"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let pk = VerifyingKey::from_bytes(&pk).unwrap();
    let r = s.post(
        "/api/v1/requests",
        t,
        &json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-2002"}, "callbackUrls": [url]}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(s.settle(&id, t)["status"], "completed");
    // The first attempt failed (500); the retry after ~1 s delivers.
    let started = Instant::now();
    let statuses = loop {
        let got = got.lock().unwrap().clone();
        let st: Vec<String> = got
            .iter()
            .map(|(_, b)| {
                serde_json::from_str::<Value>(b).unwrap()["status"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        if st.contains(&"completed".to_owned()) && st.contains(&"in_progress".to_owned()) {
            for (h, body) in &got {
                let ts: i64 = header(h, "dsr-timestamp").parse().unwrap();
                assert!(
                    (chrono::Utc::now().timestamp() - ts).abs() < 300,
                    "within the replay window"
                );
                let sig = Signature::from_slice(&hex::decode(header(h, "dsr-signature")).unwrap())
                    .unwrap();
                pk.verify(format!("{ts}.{body}").as_bytes(), &sig)
                    .expect("signature verifies");
                // A replayed body with another timestamp does not verify.
                assert!(
                    pk.verify(format!("{}.{body}", ts + 1).as_bytes(), &sig)
                        .is_err()
                );
                let b: Value = serde_json::from_str(body).unwrap();
                assert_eq!(b["requestId"], id.as_str());
                assert!(
                    !body.contains("c-2002") && !body.contains("Schmidt"),
                    "no subject in callbacks: {body}"
                );
            }
            break st;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "callbacks not received: {st:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("completed"),
        "{statuses:?}"
    );
    // The delivery state is on the request.
    let started = Instant::now();
    loop {
        let d = s.get(&format!("/api/v1/requests/{id}"), t).json();
        let cbs = d["callbacks"].as_array().unwrap().clone();
        if cbs.iter().all(|c| c["state"] == "delivered") && cbs.len() == 2 {
            assert!(
                cbs.iter().any(|c| c["attempts"].as_i64() == Some(2)),
                "one was retried: {cbs:?}"
            );
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{cbs:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
