//! The one harness of the server tests: the real `dsr-server` binary on a loopback port
//! (port 0: the server logs the port it got), driven by a real HTTP client.

#![allow(dead_code)]

use dsr_model::TenantId;
use dsr_ops::clients::{ClientKind, Scope};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The sample subjects shipped in `examples/`.
pub fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/sample-subjects.jsonl")
}

/// An answer: status, headers (lower-case names), body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A database with tenants `acme` and `other`, both with the sample subjects (region
/// FR), and clients.
pub struct Db {
    pub dir: tempfile::TempDir,
    /// Token of `acme` with every scope.
    pub acme: String,
    /// Token of `other` with every scope.
    pub other: String,
    /// Token of `acme` with only subjects:read.
    pub reader: String,
    /// OAuth client of `acme` (every scope): id and secret.
    pub oauth: (String, String),
}

impl Db {
    pub fn new() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let store =
            dsr_ops::open_store(&dir.path().join("t.db"), dsr_ops::OpenMode::Create).unwrap();
        let mut tokens = Vec::new();
        for name in ["acme", "other"] {
            let t = TenantId::new(name).unwrap();
            store.create_tenant(&t).unwrap();
            store.set_default_region(&t, Some("FR")).unwrap();
            let input = std::fs::read(sample()).unwrap();
            dsr_ops::import::import_jsonl(&store, &t, &input[..], &Default::default(), |_| {})
                .unwrap();
            tokens.push(
                dsr_ops::clients::create(&store, &t, "all-scopes", ClientKind::Token, &Scope::ALL)
                    .unwrap()
                    .secret,
            );
        }
        let acme = TenantId::new("acme").unwrap();
        let reader = dsr_ops::clients::create(
            &store,
            &acme,
            "lookups",
            ClientKind::Token,
            &[Scope::SubjectsRead],
        )
        .unwrap()
        .secret;
        let o =
            dsr_ops::clients::create(&store, &acme, "crm oauth", ClientKind::OAuth, &Scope::ALL)
                .unwrap();
        Db {
            dir,
            acme: tokens[0].clone(),
            other: tokens[1].clone(),
            reader,
            oauth: (o.client.id, o.secret),
        }
    }
}

/// A running server.
pub struct Server {
    pub db: Db,
    child: Child,
    pub base: String,
    pub logs: Arc<Mutex<Vec<String>>>,
    agent: ureq::Agent,
}

/// Generous limits (tests of the limits set their own).
pub const OPEN_LIMITS: &str = "[server.rate_limits]\nread_per_second = 1000.0\nread_burst = 1000\nwrite_per_second = 1000.0\nwrite_burst = 1000\ncreate_per_second = 1000.0\ncreate_burst = 1000\n";

impl Server {
    /// Starts the server on a new database with `extra` TOML after `[server]`'s keys.
    pub fn start(extra: &str) -> Server {
        Server::start_on(Db::new(), extra)
    }

    pub fn start_on(db: Db, extra: &str) -> Server {
        let cfg = db.dir.path().join("dsr.toml");
        std::fs::write(
            &cfg,
            format!(
                "organisation = \"Test\"\n[server]\nlisten = \"127.0.0.1:0\"\ndatabase = \"t.db\"\njson_logs = true\nallow_private_callbacks = true\n{extra}"
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_dsr-server"))
            .arg("--config")
            .arg(&cfg)
            .current_dir(db.dir.path())
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting dsr-server");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let l2 = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && let Some(a) = v["fields"]["address"].as_str()
                {
                    let _ = tx.send(a.to_owned());
                }
                l2.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the server did not start: {:?}", logs.lock().unwrap()));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let s = Server {
            db,
            child,
            base: format!("http://{addr}"),
            logs,
            agent,
        };
        let started = Instant::now();
        while s.call("GET", "/readyz", None, None, &[]).status != 200 {
            assert!(started.elapsed() < Duration::from_secs(60), "not ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    /// One HTTP call.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut b = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some()
            && !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            b = b.header("content-type", "application/json");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b.body(body.unwrap_or("").to_owned()).unwrap();
        let mut resp = self.agent.run(req).expect("HTTP call");
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, Some(token), None, &[])
    }

    pub fn post(&self, path: &str, token: &str, body: &Value) -> Answer {
        self.call("POST", path, Some(token), Some(&body.to_string()), &[])
    }

    /// Polls a request until it is finished or on hold.
    pub fn settle(&self, id: &str, token: &str) -> Value {
        let started = Instant::now();
        loop {
            let r = self.get(&format!("/api/v1/requests/{id}"), token).json();
            let s = r["status"].as_str().unwrap().to_owned();
            if !matches!(s.as_str(), "received" | "in_progress") {
                return r;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "request {id} did not settle: {r}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every log line so far.
    pub fn log_text(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Stops with SIGINT and waits; returns the exit status.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.child.id().to_string())
            .status();
        let started = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(100));
                return (s, self.log_text());
            }
            if started.elapsed() > Duration::from_secs(40) {
                let _ = self.child.kill();
                panic!("the server did not stop on SIGINT");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
