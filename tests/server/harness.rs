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
        let store = std::sync::Arc::new(
            dsr_ops::open_store(&dir.path().join("t.db"), dsr_ops::OpenMode::Create).unwrap(),
        );
        let clients = dsr_store_sqlite::engine_store::SqliteEngineStore::new(store.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let create = |t: &TenantId, name: &str, kind: ClientKind, scopes: &[Scope]| {
            rt.block_on(dsr_ops::clients::create(&clients, t, name, kind, scopes))
                .unwrap()
        };
        let mut tokens = Vec::new();
        for name in ["acme", "other"] {
            let t = TenantId::new(name).unwrap();
            store.create_tenant(&t).unwrap();
            store.set_default_region(&t, Some("FR")).unwrap();
            let input = std::fs::read(sample()).unwrap();
            dsr_ops::import::import_jsonl(&store, &t, &input[..], &Default::default(), |_| {})
                .unwrap();
            tokens.push(create(&t, "all-scopes", ClientKind::Token, &Scope::ALL).secret);
        }
        let acme = TenantId::new("acme").unwrap();
        let reader = create(&acme, "lookups", ClientKind::Token, &[Scope::SubjectsRead]).secret;
        let o = create(&acme, "crm oauth", ClientKind::OAuth, &Scope::ALL);
        Db {
            dir,
            acme: tokens[0].clone(),
            other: tokens[1].clone(),
            reader,
            oauth: (o.client.id, o.secret),
        }
    }
}

/// Runs a client command of `dsr_ops::clients` on the SQLite file `db` from
/// synchronous test code.
pub fn on_clients<T>(
    db: &std::path::Path,
    f: impl AsyncFnOnce(&dyn dsr_engine::server_store::ServerStore) -> T,
) -> T {
    let store = dsr_store_sqlite::engine_store::SqliteEngineStore::new(std::sync::Arc::new(
        dsr_ops::open_store(db, dsr_ops::OpenMode::Existing).unwrap(),
    ));
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f(&store))
}

/// A certificate authority made for one test (rcgen), issuing certificates for
/// `localhost` and `127.0.0.1`.
pub struct Pki {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Pki {
    pub fn new(name: &str) -> Pki {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("dsr test CA {name}"));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: ca.pem(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A leaf certificate and its key (PEM) for `localhost` and `127.0.0.1`.
    pub fn leaf(&self) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
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
        Server::start_with(db, extra, None, &[])
    }

    /// Starts the server with environment overrides (`DSR_SERVER_DATABASE`, …).
    pub fn start_env(db: Db, extra: &str, env: &[(&str, &str)]) -> Server {
        Server::start_with(db, extra, None, env)
    }

    /// Starts the server over TLS (`extra` names the certificate in `[server.tls]`),
    /// with a client that trusts only `ca_pem`.
    pub fn start_https(db: Db, extra: &str, ca_pem: &str) -> Server {
        Server::start_with(db, extra, Some(ca_pem), &[])
    }

    fn start_with(db: Db, extra: &str, ca_pem: Option<&str>, env: &[(&str, &str)]) -> Server {
        let (child, base, logs, agent) = Server::spawn(&db, extra, ca_pem, env);
        let s = Server {
            db,
            child,
            base,
            logs,
            agent,
        };
        s.wait_ready();
        s
    }

    /// Stops the server (SIGINT, or a kill with `crash`) and starts it again on the same
    /// database with `extra`; the new address is in `base`.
    pub fn restart(&mut self, extra: &str, crash: bool) {
        if crash {
            let _ = self.child.kill();
        } else {
            let _ = Command::new("kill")
                .arg("-INT")
                .arg(self.child.id().to_string())
                .status();
        }
        let _ = self.child.wait();
        let (child, base, logs, agent) = Server::spawn(&self.db, extra, None, &[]);
        self.child = child;
        self.base = base;
        self.logs = logs;
        self.agent = agent;
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        while self.call("GET", "/readyz", None, None, &[]).status != 200 {
            assert!(started.elapsed() < Duration::from_secs(60), "not ready");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[allow(clippy::type_complexity)]
    fn spawn(
        db: &Db,
        extra: &str,
        ca_pem: Option<&str>,
        env: &[(&str, &str)],
    ) -> (Child, String, Arc<Mutex<Vec<String>>>, ureq::Agent) {
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
            .envs(env.iter().copied())
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
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)));
        if let Some(pem) = ca_pem {
            let ca = ureq::tls::Certificate::from_pem(pem.as_bytes()).unwrap();
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .provider(ureq::tls::TlsProvider::Rustls)
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]))
                    .unversioned_rustls_crypto_provider(Arc::new(
                        tokio_rustls::rustls::crypto::ring::default_provider(),
                    ))
                    .build(),
            );
        }
        let agent: ureq::Agent = config.build().into();
        let scheme = if ca_pem.is_some() { "https" } else { "http" };
        (child, format!("{scheme}://{addr}"), logs, agent)
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

    /// An access token of the OAuth client of `acme` (client credentials).
    pub fn oauth_token(&self) -> String {
        let (id, secret) = &self.db.oauth;
        let a = self.call(
            "POST",
            "/oauth/token",
            None,
            Some(&format!(
                "grant_type=client_credentials&client_id={id}&client_secret={secret}"
            )),
            &[("content-type", "application/x-www-form-urlencoded")],
        );
        assert_eq!(a.status, 200, "{}", a.body);
        a.json()["access_token"].as_str().unwrap().to_owned()
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

    /// The operator's listener (`metrics_listen`), from the server's log.
    pub fn metrics_base(&self) -> String {
        let started = Instant::now();
        loop {
            for line in self.logs.lock().unwrap().iter() {
                if let Ok(v) = serde_json::from_str::<Value>(line)
                    && let Some(a) = v["fields"]["metrics_address"].as_str()
                {
                    return format!("http://{a}");
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no metrics listener"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET /metrics` on the operator's listener, with a token or none.
    pub fn scrape(&self, token: Option<&str>) -> Answer {
        let mut b = ureq::http::Request::builder()
            .method("GET")
            .uri(format!("{}/metrics", self.metrics_base()));
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let mut resp = self
            .agent
            .run(b.body(String::new()).unwrap())
            .expect("scrape");
        Answer {
            status: resp.status().as_u16(),
            headers: Vec::new(),
            body: resp.body_mut().read_to_string().unwrap_or_default(),
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
