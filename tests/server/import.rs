//! `POST /api/v1/subjects/import`, streamed: batches land (and are found) while the
//! body is still arriving; a line over the line bound is an error for that line; a
//! body over the size bound is 413, before reading when its length is declared, with
//! the report of what landed when it was streamed.

use crate::harness::{OPEN_LIMITS, Server};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A POST with a chunked body, sent piece by piece on a raw connection.
struct ChunkedPost {
    stream: TcpStream,
}

impl ChunkedPost {
    fn start(s: &Server, path: &str, token: &str) -> ChunkedPost {
        let addr = s.base.strip_prefix("http://").unwrap();
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-type: application/x-ndjson\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        .unwrap();
        ChunkedPost { stream }
    }

    fn send(&mut self, text: &str) {
        write!(self.stream, "{:x}\r\n{text}\r\n", text.len()).unwrap();
        self.stream.flush().unwrap();
    }

    /// Ends the body (if the server still reads it) and reads the answer.
    fn finish(mut self) -> (u16, Value) {
        let _ = self.stream.write_all(b"0\r\n\r\n");
        let mut r = BufReader::new(self.stream);
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
        let mut len = 0;
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }
}

fn lines(ids: std::ops::Range<usize>) -> String {
    ids.map(|i| {
        format!("{{\"type\":\"external_contact\",\"id\":\"st-{i}\",\"emails\":[\"st{i}@stream.example\"]}}\n")
    })
    .collect()
}

fn found(s: &Server, t: &str, i: usize) -> bool {
    let a = s.get(
        &format!("/api/v1/subjects?searchType=EMAIL&searchValue=st{i}%40stream.example"),
        t,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    !a.json()["entities"].as_array().unwrap().is_empty()
}

#[test]
fn an_import_lands_batch_by_batch_while_the_body_is_still_arriving() {
    let s = Server::start(OPEN_LIMITS);
    let t = s.db.acme.clone();
    let mut post = ChunkedPost::start(&s, "/api/v1/subjects/import", &t);
    // More than one batch (2,000 lines): the first batch lands and is found while the
    // body has not ended; the rest of the second batch waits for more lines.
    post.send(&lines(0..2500));
    let started = Instant::now();
    while !found(&s, &t, 0) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the first batch was not found before the body ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(found(&s, &t, 1999));
    assert!(!found(&s, &t, 2000), "the second batch is not complete yet");
    let mut rest = lines(2500..3000);
    rest.push_str("not json\n{\"type\":\"external_contact\",\"id\":\"st-7\"}\n");
    post.send(&rest);
    let (status, rep) = post.finish();
    assert_eq!(status, 200, "{rep}");
    assert_eq!(
        (
            rep["lines"].as_u64(),
            rep["imported"].as_u64(),
            rep["created"].as_u64(),
            rep["rejected"].as_u64()
        ),
        (Some(3002), Some(3000), Some(3000), Some(2)),
        "{rep}"
    );
    assert_eq!(rep["errors"][0]["line"], 3001);
    assert_eq!(rep["errors"][1]["line"], 3002);
    assert!(
        rep["errors"][1]["message"]
            .as_str()
            .unwrap()
            .contains("already given on line 8"),
        "{rep}"
    );
    assert!(found(&s, &t, 2000) && found(&s, &t, 2999));
}

#[test]
fn lines_and_bodies_over_the_bounds() {
    let s = Server::start(&format!(
        "max_import_bytes = 65536\nmax_import_line_bytes = 2048\n{OPEN_LIMITS}"
    ));
    let t = s.db.acme.clone();
    let import = |body: &str| {
        s.call(
            "POST",
            "/api/v1/subjects/import",
            Some(&t),
            Some(body),
            &[("content-type", "application/x-ndjson")],
        )
    };
    // A line over the bound is an error for it; the lines around it land.
    let long = format!(
        "{{\"type\":\"external_contact\",\"id\":\"st-long\",\"name\":\"{}\"}}\n",
        "N".repeat(5000)
    );
    let a = import(&format!("{}{long}{}", lines(0..1), lines(1..2)));
    assert_eq!(a.status, 200, "{}", a.body);
    let rep = a.json();
    assert_eq!(
        (rep["imported"].as_u64(), rep["rejected"].as_u64()),
        (Some(2), Some(1)),
        "{rep}"
    );
    assert_eq!(rep["errors"][0]["line"], 2);
    assert!(
        rep["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("longer than 2048 bytes"),
        "{rep}"
    );
    // A declared length over the bound: 413 before anything is read.
    let big = lines(100..1000);
    assert!(big.len() > 65536);
    let a = import(&big);
    assert_eq!(a.status, 413, "{}", a.body);
    assert_eq!(a.json()["details"]["limitBytes"], 65536);
    assert_eq!(
        a.header("connection"),
        Some("close"),
        "the unread body ends the connection"
    );
    assert!(!found(&s, &t, 100), "nothing of a refused body landed");
    // Streamed past the bound: 413 with the report of what landed before it.
    let mut post = ChunkedPost::start(&s, "/api/v1/subjects/import", &t);
    for chunk in big.as_bytes().chunks(16 * 1024) {
        post.send(std::str::from_utf8(chunk).unwrap());
    }
    let (status, e) = post.finish();
    assert_eq!(status, 413, "{e}");
    assert_eq!(e["code"], "body_too_large");
    let rep = &e["details"]["report"];
    let imported = rep["imported"].as_u64().unwrap();
    assert!(rep["truncated"].as_bool().unwrap(), "{e}");
    assert!(imported > 100 && imported < 900, "{e}");
    assert!(
        rep["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("larger than 65536 bytes"),
        "{e}"
    );
    assert!(found(&s, &t, 100), "what landed before the bound is found");
    assert!(!found(&s, &t, 999), "nothing after the bound");
}
