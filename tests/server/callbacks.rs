//! Status callbacks received by a test receiver: every status change POSTed, signed
//! with Ed25519 over timestamp + body, the timestamp fresh (a receiver refuses replays
//! older than 5 minutes), the delivery state on the request.

use crate::harness::{OPEN_LIMITS, Server};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One received POST: its headers (lower-case) and body.
type Received = (Vec<(String, String)>, String);

/// A receiver on a loopback port that answers 500 to the first POST (so a retry is
/// needed) and 200 after.
fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/dsr", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        let mut n = 0;
        for stream in l.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
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
            r.read_exact(&mut body).unwrap();
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
            if n > 1 {
                g.lock()
                    .unwrap()
                    .push((headers, String::from_utf8(body).unwrap()));
            }
        }
    });
    (url, got)
}

fn header<'a>(h: &'a [(String, String)], k: &str) -> &'a str {
    h.iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {k}"))
}

#[test]
fn every_status_change_is_posted_signed_and_retried() {
    let s = Server::start(OPEN_LIMITS);
    let t = &s.db.acme;
    let (url, got) = receiver();
    let key = s.get("/api/v1/callbacks/key", t).json();
    let pk: [u8; 32] = hex::decode(key["publicKey"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let pk = VerifyingKey::from_bytes(&pk).unwrap();
    // Refused: not a URL, or a private address on a server that does not allow them is
    // tested in the unit tests.
    let bad = s.post("/api/v1/requests", t, &json!({"requestType": "GDPR_EXPORT", "subject": {"id": "c-2002"}, "callbackUrls": ["ftp://x"]}));
    assert_eq!(
        (bad.status, bad.json()["details"]["field"].as_str()),
        (400, Some("callbackUrls"))
    );
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
