//! Notifications to data subjects through the real server: an SMTP sink written here
//! (EHLO / HELO, MAIL, RCPT, DATA, QUIT on a loopback port) records what arrives; a
//! webhook receiver checks the signature. Received, extended, refused and completed
//! requests are notified once each, in English or French; an erasure's notice still
//! goes and leaves no address in the database; a sink that is down at first, or a
//! server killed with a notice pending, delivers later and once.

use crate::harness::{Db, OPEN_LIMITS, Pki, Server};
use base64::Engine as _;
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// One message the sink accepted.
#[derive(Debug, Clone)]
struct Mail {
    to: Vec<String>,
    subject: String,
    text: String,
    raw: String,
    /// Sent after STARTTLS.
    over_tls: bool,
}

/// The SMTP sink: every message accepted, in order.
#[derive(Clone)]
struct Sink {
    port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    logins: Logins,
}

fn decode_word(s: &str) -> String {
    // `=?utf-8?B?…?=`, as the server writes subjects.
    match s
        .strip_prefix("=?utf-8?B?")
        .and_then(|x| x.strip_suffix("?="))
    {
        Some(b) => {
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b).unwrap()).unwrap()
        }
        None => s.to_owned(),
    }
}

fn parse(to: Vec<String>, raw: String) -> Mail {
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let subject = head
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .map(decode_word)
        .unwrap_or_default();
    let b64: String = body.split_whitespace().collect();
    let text = if head.contains("Content-Transfer-Encoding: base64") {
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .unwrap(),
        )
        .unwrap()
    } else {
        body.to_owned()
    };
    Mail {
        to,
        subject,
        text,
        raw,
        over_tls: false,
    }
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// One line, read a byte at a time (nothing is buffered past it, so STARTTLS can take
/// the stream over).
fn read_line(io: &mut dyn ReadWrite) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if io.read(&mut b).ok()? == 0 {
            return None;
        }
        line.push(b[0]);
        if b[0] == b'\n' {
            return String::from_utf8(line).ok();
        }
    }
}

/// What a sink offers: STARTTLS with this certificate, and AUTH PLAIN after it.
type SinkTls = Option<Arc<rustls::ServerConfig>>;

fn session(stream: TcpStream, mails: Arc<Mutex<Vec<Mail>>>, logins: Logins, tls: SinkTls) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let mut io: Box<dyn ReadWrite> = Box::new(stream);
    let mut secure = false;
    let _ = io.write_all(b"220 sink.test ESMTP\r\n");
    let mut rcpt = Vec::new();
    loop {
        let Some(line) = read_line(io.as_mut()) else {
            return;
        };
        let cmd = line.trim_end().to_owned();
        let verb = cmd
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: Vec<u8> = match verb.as_str() {
            "EHLO" => match (&tls, secure) {
                (Some(_), false) => b"250-sink.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n".to_vec(),
                (Some(_), true) => b"250-sink.test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n".to_vec(),
                (None, _) => b"250-sink.test\r\n250 8BITMIME\r\n".to_vec(),
            },
            "STARTTLS" => {
                let Some(cfg) = tls.clone().filter(|_| !secure) else {
                    let _ = io.write_all(b"503 no\r\n");
                    continue;
                };
                let _ = io.write_all(b"220 go ahead\r\n");
                // The plain stream is taken over by TLS (nothing was buffered).
                let plain: Box<dyn ReadWrite> =
                    std::mem::replace(&mut io, Box::new(std::io::empty()));
                io = Box::new(rustls::StreamOwned::new(
                    rustls::ServerConnection::new(cfg).unwrap(),
                    plain,
                ));
                secure = true;
                continue;
            }
            "AUTH" => {
                let creds = cmd
                    .strip_prefix("AUTH PLAIN ")
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .map(|b| {
                        String::from_utf8_lossy(&b)
                            .replace('\0', " ")
                            .trim()
                            .to_owned()
                    });
                match creds {
                    Some(c) if secure => {
                        logins.lock().unwrap().push(c);
                        b"235 ok\r\n".to_vec()
                    }
                    _ => b"535 no\r\n".to_vec(),
                }
            }
            "HELO" | "NOOP" => b"250 ok\r\n".to_vec(),
            "RSET" | "MAIL" => {
                rcpt.clear();
                b"250 ok\r\n".to_vec()
            }
            "RCPT" => {
                let addr = cmd
                    .split_once('<')
                    .and_then(|(_, a)| a.split_once('>'))
                    .map(|(a, _)| a.to_owned())
                    .unwrap_or_default();
                rcpt.push(addr);
                b"250 ok\r\n".to_vec()
            }
            "DATA" => {
                let _ = io.write_all(b"354 go on\r\n");
                let mut raw = String::new();
                loop {
                    let Some(line) = read_line(io.as_mut()) else {
                        return;
                    };
                    if line == ".\r\n" {
                        break;
                    }
                    // Dot-stuffing undone.
                    raw.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let mut m = parse(std::mem::take(&mut rcpt), raw);
                m.over_tls = secure;
                mails.lock().unwrap().push(m);
                b"250 queued\r\n".to_vec()
            }
            "QUIT" => {
                let _ = io.write_all(b"221 bye\r\n");
                let _ = io.flush();
                return;
            }
            _ => b"502 not implemented\r\n".to_vec(),
        };
        if io.write_all(&reply).and_then(|()| io.flush()).is_err() {
            return;
        }
    }
}

/// The credentials a sink was given (`user password`).
type Logins = Arc<Mutex<Vec<String>>>;

fn sink_on(listener: TcpListener) -> Sink {
    sink_with(listener, None)
}

fn sink_with(listener: TcpListener, tls: SinkTls) -> Sink {
    let s = Sink {
        port: listener.local_addr().unwrap().port(),
        mails: Arc::default(),
        logins: Arc::default(),
    };
    let (mails, logins) = (s.mails.clone(), s.logins.clone());
    std::thread::spawn(move || {
        for c in listener.incoming().map_while(Result::ok) {
            let (m, l, t) = (mails.clone(), logins.clone(), tls.clone());
            std::thread::spawn(move || session(c, m, l, t));
        }
    });
    s
}

fn sink() -> Sink {
    sink_on(TcpListener::bind("127.0.0.1:0").unwrap())
}

/// A loopback port nobody listens on (yet).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn smtp_config(port: u16, extra: &str) -> String {
    format!(
        "{OPEN_LIMITS}{extra}[notifications]\nsmtp = \"smtp://127.0.0.1:{port}\"\nfrom = \"privacy@acme.example\"\ntls = \"none\"\n"
    )
}

impl Sink {
    /// Waits for a message to `to` whose subject names `reference` and says `says`.
    fn wait(&self, to: &str, reference: &str, says: &str) -> Mail {
        let started = Instant::now();
        loop {
            if let Some(m) = self.mails.lock().unwrap().iter().find(|m| {
                m.to.iter().any(|t| t == to)
                    && m.subject.contains(reference)
                    && (m.subject.contains(says) || m.text.contains(says))
            }) {
                return m.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no mail to {to} about {reference} saying {says:?}: {:#?}",
                self.mails.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// How many messages about `reference` have a subject containing `says`.
    fn count(&self, reference: &str, says: &str) -> usize {
        self.mails
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.subject.contains(reference) && m.subject.contains(says))
            .count()
    }
}

fn create(s: &Server, body: Value) -> String {
    let r = s.post("/api/v1/requests", &s.db.acme, &body);
    assert_eq!(r.status, 202, "{}", r.body);
    r.json()["id"].as_str().unwrap().to_owned()
}

/// The request's notifications once `done` holds for them.
fn notices_when(s: &Server, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let r = s.get(&format!("/api/v1/requests/{id}"), &s.db.acme).json();
        let n = r["notifications"].as_array().cloned().unwrap_or_default();
        if done(&n) {
            return n;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "notifications of {id}: {r}\nthe server's log:\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn state_of<'a>(n: &'a [Value], event: &str) -> Option<&'a str> {
    n.iter()
        .find(|x| x["event"] == event)
        .and_then(|x| x["state"].as_str())
}

#[test]
fn a_request_received_extended_refused_or_completed_is_mailed_to_its_subject_once() {
    let sink = sink();
    let s = Server::start(&smtp_config(sink.port, "[server.portal]\n"));
    // An export: received, then completed (with the portal line).
    let export = create(
        &s,
        json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-1005"}}),
    );
    let m = sink.wait("zoe.faure@gmail.com", &export, "received");
    assert!(
        m.text.contains(&export) && m.text.contains("Hello"),
        "{m:?}"
    );
    assert!(m.raw.contains("From: privacy@acme.example"), "{}", m.raw);
    assert!(m.subject.starts_with("Test:"), "the organisation: {m:?}");
    let done = sink.wait("zoe.faure@gmail.com", &export, "completed");
    assert!(
        done.text.contains("You can download it from the portal."),
        "{done:?}"
    );
    // A held erasure: extended with a reason, then refused with one.
    let held = create(
        &s,
        json!({"requestType": "GDPR_DELETE", "subject": {"id": "u-01"}}),
    );
    sink.wait("claire.martin@acme.example", &held, "received");
    let e = s.post(
        &format!("/api/v1/requests/{held}/extension"),
        &s.db.acme,
        &json!({"days": 30, "reason": "ten years of payroll records to review"}),
    );
    assert_eq!(e.status, 200, "{}", e.body);
    let ext = sink.wait(
        "claire.martin@acme.example",
        &held,
        "ten years of payroll records to review",
    );
    assert!(ext.subject.contains("more time"), "{ext:?}");
    let d = s.post(
        &format!("/api/v1/requests/{held}/decision"),
        &s.db.acme,
        &json!({"decision": "refuse", "reason": "art. 17(3)(b): legal obligation to keep payroll"}),
    );
    assert_eq!(d.status, 200, "{}", d.body);
    let refused = sink.wait(
        "claire.martin@acme.example",
        &held,
        "legal obligation to keep payroll",
    );
    assert!(refused.subject.contains("refused"), "{refused:?}");
    // The state is on the request, without the address or the text.
    let n = notices_when(&s, &held, |n| {
        ["received", "extended-1", "refused"]
            .iter()
            .all(|e| state_of(n, e) == Some("sent"))
    });
    assert_eq!(n.len(), 3, "{n:?}");
    let shown = serde_json::to_string(&n).unwrap();
    assert!(!shown.contains("claire.martin"), "{shown}");
    notices_when(&s, &export, |n| {
        state_of(n, "received") == Some("sent") && state_of(n, "completed") == Some("sent")
    });
    // Once each, though the dispatcher observes the requests again and again.
    std::thread::sleep(Duration::from_millis(800));
    for (id, what) in [
        (&export, "received"),
        (&export, "completed"),
        (&held, "received"),
        (&held, "refused"),
        (&held, "more time"),
    ] {
        assert_eq!(sink.count(id, what), 1, "{id} {what}");
    }
    // Never an address or a text in the logs.
    let logs = s.log_text();
    for secret in [
        "zoe.faure@gmail.com",
        "claire.martin@acme.example",
        "payroll",
    ] {
        assert!(!logs.contains(secret), "{secret} logged");
    }
}

#[test]
fn an_erasure_is_notified_and_leaves_no_address_in_the_database() {
    let sink = sink();
    let s = Server::start(&smtp_config(sink.port, ""));
    let address = "nina.erased@example.org";
    let put = s.call(
        "PUT",
        "/api/v1/subjects/c-7777",
        Some(&s.db.acme),
        Some(
            &json!({"type": "external_contact", "name": "Nina Erased", "emails": [address]})
                .to_string(),
        ),
        &[],
    );
    assert_eq!(put.status, 201, "{}", put.body);
    let holds = |dir: &std::path::Path| {
        std::fs::read_dir(dir).unwrap().any(|f| {
            let p = f.unwrap().path();
            p.file_name().unwrap().to_string_lossy().starts_with("t.db")
                && std::fs::read(&p)
                    .unwrap_or_default()
                    .windows(address.len())
                    .any(|w| w == address.as_bytes())
        })
    };
    assert!(holds(s.db.dir.path()), "the search below can find it");
    let id = create(
        &s,
        json!({"requestType": "GDPR_DELETE", "subject": {"id": "c-7777"}}),
    );
    sink.wait(address, &id, "received");
    let m = sink.wait(address, &id, "completed");
    assert!(m.text.contains("request for erasure"), "{m:?}");
    assert!(!m.text.contains("portal"), "no portal here: {m:?}");
    notices_when(&s, &id, |n| state_of(n, "completed") == Some("sent"));
    let r = s.get(&format!("/api/v1/requests/{id}"), &s.db.acme).json();
    assert_eq!(r["status"], "completed", "{r}");
    // Nowhere in the database's files (and its WAL), byte for byte, the server running.
    assert!(
        !holds(s.db.dir.path()),
        "the database still holds the address"
    );
    assert!(!s.log_text().contains(address), "logged");
}

#[test]
fn a_tenant_set_to_french_is_written_to_in_french() {
    let sink = sink();
    let s = Server::start(&format!(
        "{}tenant_languages = {{ acme = \"fr\" }}\n",
        smtp_config(sink.port, "")
    ));
    let id = create(
        &s,
        json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-1004"}}),
    );
    let m = sink.wait("jdupond@example.com", &id, "nous avons reçu");
    assert!(m.text.starts_with("Bonjour,"), "{m:?}");
    assert!(m.text.contains("demande d’accès"), "{m:?}");
    assert!(m.raw.contains("Content-Language: fr"), "{}", m.raw);
    let done = sink.wait("jdupond@example.com", &id, "traitée");
    assert!(done.text.contains("Référence"), "{done:?}");
    // A subject without an address is not notified, and that is recorded.
    let put = s.call(
        "PUT",
        "/api/v1/subjects/c-7778",
        Some(&s.db.acme),
        Some(&json!({"type": "external_contact", "name": "Sans Adresse"}).to_string()),
        &[],
    );
    assert_eq!(put.status, 201, "{}", put.body);
    let none = create(
        &s,
        json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-7778"}}),
    );
    let n = notices_when(&s, &none, |n| {
        state_of(n, "received") == Some("skipped") && state_of(n, "completed") == Some("skipped")
    });
    assert_eq!(n[0]["lastError"], "no address", "{n:?}");
    assert_eq!(n[0]["attempts"], 0, "{n:?}");
}

#[test]
fn a_sink_down_at_first_gets_the_notice_later() {
    let port = free_port();
    let s = Server::start(&smtp_config(port, ""));
    let id = create(
        &s,
        json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-1004"}}),
    );
    let n = notices_when(&s, &id, |n| {
        n.iter().any(|x| {
            x["event"] == "received"
                && x["state"] == "pending"
                && x["attempts"].as_i64() >= Some(1)
                && x["lastError"].is_string()
        })
    });
    assert!(
        n[0]["lastError"].as_str().unwrap().contains("SMTP"),
        "{n:?}"
    );
    let sink = sink_on(TcpListener::bind(("127.0.0.1", port)).unwrap());
    sink.wait("jdupond@example.com", &id, "received");
    let n = notices_when(&s, &id, |n| state_of(n, "received") == Some("sent"));
    let r = n.iter().find(|x| x["event"] == "received").unwrap();
    assert!(r["attempts"].as_i64() >= Some(2), "{r}");
    assert!(r["lastError"].is_null(), "{r}");
}

#[test]
fn a_notice_pending_when_the_server_is_killed_is_sent_after_restart_once() {
    let port = free_port();
    let cfg = smtp_config(port, "");
    let mut s = Server::start(&cfg);
    let id = create(
        &s,
        json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-2001"}}),
    );
    // Both notices recorded and tried once, the sink still down.
    notices_when(&s, &id, |n| {
        ["received", "completed"].iter().all(|e| {
            n.iter()
                .any(|x| x["event"] == *e && x["state"] == "pending" && x["attempts"] == 1)
        })
    });
    s.restart(&cfg, true);
    let sink = sink_on(TcpListener::bind(("127.0.0.1", port)).unwrap());
    sink.wait("j.mueller@beispiel.de", &id, "received");
    sink.wait("j.mueller@beispiel.de", &id, "completed");
    notices_when(&s, &id, |n| {
        state_of(n, "received") == Some("sent") && state_of(n, "completed") == Some("sent")
    });
    // A second restart, and time to observe: nothing is sent twice.
    s.restart(&cfg, false);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(sink.count(&id, "received"), 1);
    assert_eq!(sink.count(&id, "completed"), 1);
}

/// One POST: its headers (lower-case names) and body.
type Post = (Vec<(String, String)>, String);

/// Reads one HTTP/1.1 POST.
fn read_post(stream: &mut impl Read) -> Option<Post> {
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
        .map_or(0, |(_, v)| v.parse().unwrap_or(0));
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some((headers, String::from_utf8(body).ok()?))
}

#[test]
fn the_webhook_gets_signed_notices() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/notify", l.local_addr().unwrap());
    let got: Arc<Mutex<Vec<Post>>> = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for mut c in l.incoming().map_while(Result::ok) {
            if let Some(p) = read_post(&mut c) {
                g.lock().unwrap().push(p);
                let _ = c.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
            }
        }
    });
    let s = Server::start_on(
        Db::new(),
        &format!("{OPEN_LIMITS}[notifications]\nwebhook = \"{url}\"\nevents = [\"received\"]\n"),
    );
    let key = s.get("/api/v1/callbacks/key", &s.db.acme).json();
    let pk: [u8; 32] = hex::decode(key["publicKey"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let pk = VerifyingKey::from_bytes(&pk).unwrap();
    let id = create(
        &s,
        json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-2002"}}),
    );
    let n = notices_when(&s, &id, |n| state_of(n, "received") == Some("sent"));
    assert_eq!(n.len(), 1, "only the events asked for: {n:?}");
    let posts = got.lock().unwrap().clone();
    let (headers, body) = posts
        .iter()
        .find(|(_, b)| b.contains(&id))
        .expect("a POST for the request");
    let h = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {k}: {headers:?}"))
    };
    let sig: [u8; 64] = hex::decode(h("dsr-signature")).unwrap().try_into().unwrap();
    let signed = format!("{}.{body}", h("dsr-timestamp"));
    pk.verify(signed.as_bytes(), &Signature::from_bytes(&sig))
        .expect("signed with the callback key");
    let mut tampered = signed.clone();
    tampered.push(' ');
    assert!(
        pk.verify(tampered.as_bytes(), &Signature::from_bytes(&sig))
            .is_err()
    );
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["event"], "received");
    assert_eq!(v["to"], "anna.schmidt@beispiel.de");
    assert_eq!(v["requestId"], id.as_str());
    assert_eq!(v["language"], "en");
    assert!(v["text"].as_str().unwrap().contains(&id), "{v}");
    assert!(v["dueAt"].is_string(), "{v}");
}

#[test]
fn starttls_with_a_private_ca_and_credentials_from_the_environment_and_a_file() {
    let pki = Pki::new("smtp");
    let (cert, key) = pki.leaf();
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from_pem_slice(cert.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap(),
        )
        .unwrap(),
    );
    let sink = sink_with(TcpListener::bind("127.0.0.1:0").unwrap(), Some(cfg));
    let db = Db::new();
    std::fs::write(db.dir.path().join("smtp-ca.pem"), &pki.ca_pem).unwrap();
    std::fs::write(db.dir.path().join("smtp-user"), "dsr-notices\n").unwrap();
    let s = Server::start_env(
        db,
        &format!(
            "{OPEN_LIMITS}[notifications]\nsmtp = \"smtp://127.0.0.1:{}\"\nfrom = \"privacy@acme.example\"\ntls = \"starttls\"\nca_file = \"smtp-ca.pem\"\nusername_file = \"smtp-user\"\npassword_env = \"DSR_TEST_SMTP_PASSWORD\"\nevents = [\"received\"]\n",
            sink.port
        ),
        &[("DSR_TEST_SMTP_PASSWORD", "s3cret-from-env")],
    );
    let id = create(
        &s,
        json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-2002"}}),
    );
    let m = sink.wait("anna.schmidt@beispiel.de", &id, "received");
    assert!(m.over_tls, "sent after STARTTLS");
    assert_eq!(
        sink.logins.lock().unwrap().first().map(String::as_str),
        Some("dsr-notices s3cret-from-env")
    );
    assert!(
        !s.log_text().contains("s3cret-from-env"),
        "the password is never logged"
    );
}

#[test]
fn two_nodes_on_postgres_notify_once() {
    let Some(url) = crate::multinode::database("notify") else {
        return;
    };
    let db = crate::multinode::prepare(&url);
    let token = db.acme.clone();
    let sink = sink();
    let cfg = format!("follow_ms = 100\n{}", smtp_config(sink.port, ""));
    let a = Server::start_env(db, &cfg, &[("DSR_SERVER_DATABASE", &url)]);
    let b = Server::start_env(
        crate::multinode::prepare_dir_only(),
        &cfg,
        &[("DSR_SERVER_DATABASE", &url)],
    );
    let r = a.post(
        "/api/v1/requests",
        &token,
        &json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-1005"}}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    sink.wait("zoe.faure@gmail.com", &id, "received");
    sink.wait("zoe.faure@gmail.com", &id, "completed");
    // Both nodes watch every request: each notice is still sent once.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(sink.count(&id, "received"), 1);
    assert_eq!(sink.count(&id, "completed"), 1);
    let seen = b.get(&format!("/api/v1/requests/{id}"), &token).json();
    let n = seen["notifications"].as_array().unwrap();
    assert!(
        n.len() == 2 && n.iter().all(|x| x["state"] == "sent"),
        "{seen}"
    );
}

#[test]
fn turning_notifications_off_forgets_the_addresses_kept_for_them() {
    // The sink never answers: the notices stay pending, holding the address.
    let port = free_port();
    let mut s = Server::start(&smtp_config(port, ""));
    let address = "omar.pending@example.org";
    let put = s.call(
        "PUT",
        "/api/v1/subjects/c-7779",
        Some(&s.db.acme),
        Some(
            &json!({"type": "external_contact", "name": "Omar Pending", "emails": [address]})
                .to_string(),
        ),
        &[],
    );
    assert_eq!(put.status, 201, "{}", put.body);
    let id = create(
        &s,
        json!({"requestType": "GDPR_DELETE", "subject": {"id": "c-7779"}}),
    );
    notices_when(&s, &id, |n| {
        state_of(n, "completed") == Some("pending") && state_of(n, "received") == Some("pending")
    });
    s.restart(OPEN_LIMITS, false);
    let n = notices_when(&s, &id, |n| {
        n.len() == 2 && n.iter().all(|x| x["state"] == "failed")
    });
    assert_eq!(n[0]["lastError"], "notifications are turned off", "{n:?}");
    for f in std::fs::read_dir(s.db.dir.path()).unwrap() {
        let p = f.unwrap().path();
        if p.file_name().unwrap().to_string_lossy().starts_with("t.db") {
            let bytes = std::fs::read(&p).unwrap();
            assert!(
                !bytes
                    .windows(address.len())
                    .any(|w| w == address.as_bytes()),
                "{} still holds the address",
                p.display()
            );
        }
    }
}
