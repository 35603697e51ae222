//! Shared by the connector tests: an engine on the in-memory store wired to the
//! services a `dsr.toml` text declares (built by dsr-connectors, as dsr-ops does), and
//! a real HTTP service on loopback that checks signatures and refuses replays.

#![allow(dead_code, missing_docs)]

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use dsr_engine::config::Config;
use dsr_engine::{
    CreateOptions, Engine, MemoryStore, Request, Services, SystemClock, Target, Task, Worker,
    WorkerConfig,
};
use dsr_match::{Directory, MatchConfig};
use dsr_model::{RequestType, Subject, SubjectId, SubjectKind, TenantId};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const KEY: &str = "test-signing-key-0123456789abcdef";

/// Writes the signing key beside the configuration (0600).
pub fn write_key(dir: &Path, name: &str, key: &str) {
    let p = dir.join(name);
    std::fs::write(&p, key).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

pub fn config(toml: &str, dir: &Path) -> Config {
    let mut c = Config::from_toml(toml, "dsr.toml").unwrap_or_else(|e| panic!("{e}"));
    c.base_dir = Some(dir.to_owned());
    c
}

pub fn jeanne() -> Subject {
    let mut s = Subject::new(SubjectKind::ExternalContact, SubjectId::new("c-1").unwrap());
    s.names.push("Jeanne Martin".into());
    s.emails.push("Jeanne.Martin@example.com".into());
    s.phones.push("+33 6 11 22 33 44".into());
    s.external_ids.push("crm-77".into());
    s
}

pub fn paul() -> Subject {
    let mut s = Subject::new(SubjectKind::ExternalContact, SubjectId::new("c-2").unwrap());
    s.names.push("Paul Durand".into());
    s.emails.push("paul@example.org".into());
    s
}

pub struct Rig {
    pub engine: Arc<Engine>,
    pub dir: Directory,
}

pub fn rig(services: Services, subjects: Vec<Subject>) -> Rig {
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::new(
        TenantId::new("acme").unwrap(),
        store,
        services,
        Arc::new(SystemClock),
    )
    .unwrap();
    let mut dir = Directory::new(MatchConfig {
        default_region: None,
    })
    .unwrap();
    for s in subjects {
        dir.upsert(s).unwrap();
    }
    Rig {
        engine: Arc::new(engine),
        dir,
    }
}

impl Rig {
    pub fn worker(&self) -> Worker {
        Worker::new(
            self.engine.clone(),
            WorkerConfig {
                backoff: Duration::from_millis(20),
                backoff_cap: Duration::from_millis(200),
                max_attempts: 5,
                poll: Duration::from_millis(5),
                call_timeout: Duration::from_secs(30),
                ..WorkerConfig::default()
            },
        )
    }

    pub async fn request(&self, ty: RequestType, id: &str) -> Request {
        let mut o = CreateOptions::new(ty, Target::Id(id.into()));
        if ty == RequestType::Update {
            o.replacements = vec![
                dsr_engine::Replacement::parse(
                    "email:Jeanne.Martin@example.com=jeanne@new.example",
                )
                .unwrap(),
            ];
        }
        self.engine.create(&self.dir, o).await.unwrap().request
    }

    /// Creates the request, runs the worker until idle, returns it with its tasks.
    pub async fn run(&self, ty: RequestType, id: &str) -> (Request, Vec<Task>) {
        let r = self.request(ty, id).await;
        tokio::time::timeout(Duration::from_secs(60), self.worker().run_until_idle())
            .await
            .expect("the worker settles within a minute")
            .unwrap();
        self.engine.get(&r.id).await.unwrap()
    }
}

pub fn task<'a>(tasks: &'a [Task], service: &str) -> &'a Task {
    tasks
        .iter()
        .find(|t| t.service == service)
        .unwrap_or_else(|| panic!("no task for {service}"))
}

/// One call the test service received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub body: Value,
    pub at: Instant,
    pub headers: Vec<(String, String)>,
    pub raw_body: Vec<u8>,
}

#[derive(Default)]
pub struct State {
    pub seen: Vec<Seen>,
    pub refused: Vec<String>,
    nonces: BTreeSet<String>,
    counters: BTreeMap<String, u32>,
}

/// A service for the tests on 127.0.0.1, checking every call's signature.
#[derive(Clone)]
pub struct TestService {
    pub base: String,
    pub state: Arc<Mutex<State>>,
}

impl TestService {
    pub fn seen(&self, path_prefix: &str) -> Vec<Seen> {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }
    pub fn refused(&self) -> Vec<String> {
        self.state.lock().unwrap().refused.clone()
    }
}

pub const FILE: &[u8] = b"%PDF-1.4 invoice of Jeanne";

fn verify(
    state: &mut State,
    method: &str,
    path_q: &str,
    h: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let ts: u64 = get("dsr-timestamp")
        .ok_or("no timestamp")?
        .parse()
        .map_err(|_| "bad timestamp")?;
    let nonce = get("dsr-nonce").ok_or("no nonce")?;
    let sig = get("dsr-signature").ok_or("no signature")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now.abs_diff(ts) > 300 {
        return Err("stale timestamp".into());
    }
    let want = format!(
        "v1={}",
        dsr_connectors::http::signature(KEY.as_bytes(), ts, &nonce, method, path_q, body)
    );
    if want != sig {
        return Err("bad signature".into());
    }
    if !state.nonces.insert(nonce) {
        return Err("replay".into());
    }
    Ok(())
}

fn records(body: &Value) -> Value {
    json!({"records": [
        {"category": "customer_relationship", "data": {"email": body["subject"]["emails"][0], "plan": "gold"}},
        {"category": "traces", "data": {"ticket": 1},
         "attachments": [
            {"name": "invoice.pdf", "content_type": "application/pdf", "url": "/files/invoice.pdf"},
            {"name": "note.txt", "content_type": "text/plain", "content_base64": "aGVsbG8="}
         ]}
    ]})
}

async fn handle(
    axum::extract::State(st): axum::extract::State<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let path_q = uri
        .path_and_query()
        .map_or(path.clone(), |p| p.as_str().to_owned());
    let mut s = st.lock().unwrap();
    if let Err(e) = verify(&mut s, method.as_str(), &path_q, &headers, &body) {
        s.refused.push(format!("{path}: {e}"));
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": e}))).into_response();
    }
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let idem = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    s.seen.push(Seen {
        method: method.to_string(),
        path: path.clone(),
        idempotency_key: idem.clone(),
        body: parsed.clone(),
        at: Instant::now(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        raw_body: body.to_vec(),
    });
    let n = {
        let c = s.counters.entry(path.clone()).or_default();
        *c += 1;
        *c
    };
    let json = |code: StatusCode, v: Value| (code, axum::Json(v)).into_response();
    let op = path.rsplit('/').next().unwrap_or_default().to_owned();
    let done = |op: &str, body: &Value| match op {
        "export" => records(body),
        "update" => json!({"records": 1}),
        _ => json!({"records": 2, "attachments": 1}),
    };
    match path.as_str() {
        "/health" => json(StatusCode::OK, json!({"ok": true})),
        "/files/invoice.pdf" => (StatusCode::OK, FILE.to_vec()).into_response(),
        p if p.starts_with("/sync/") => json(StatusCode::OK, done(&op, &parsed)),
        p if p.starts_with("/plain/") => json(
            StatusCode::OK,
            json!({"records": [{"category": "traces", "data": {"email": parsed["subject"]["emails"][0]}}]}),
        ),
        p if p.starts_with("/async/") => {
            let job = format!("/jobs/{}", idem.unwrap_or_default());
            let mut r = json(StatusCode::ACCEPTED, json!({"status": "queued"}));
            r.headers_mut().insert("location", job.parse().unwrap());
            r
        }
        p if p.starts_with("/jobs/") => {
            if n < 2 {
                let mut r = json(StatusCode::ACCEPTED, json!({"status": "running"}));
                r.headers_mut().insert("retry-after", "0".parse().unwrap());
                r
            } else {
                let first = s
                    .seen
                    .iter()
                    .find(|x| x.path.starts_with("/async/"))
                    .map(|x| x.body.clone())
                    .unwrap_or(Value::Null);
                json(StatusCode::OK, records(&first))
            }
        }
        p if p.starts_with("/flaky/") => {
            if n <= 2 {
                json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"message": "down for a moment"}),
                )
            } else {
                json(StatusCode::OK, done(&op, &parsed))
            }
        }
        p if p.starts_with("/limited/") => {
            if n == 1 {
                let mut r = json(StatusCode::TOO_MANY_REQUESTS, json!({"error": "slow down"}));
                r.headers_mut().insert("retry-after", "1".parse().unwrap());
                r
            } else {
                json(StatusCode::OK, done(&op, &parsed))
            }
        }
        p if p.starts_with("/bad/") => json(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"message": "subject c-1 is unknown here"}),
        ),
        _ => json(
            StatusCode::NOT_FOUND,
            json!({"message": "no such endpoint"}),
        ),
    }
}

/// Starts the service on 127.0.0.1:0.
pub async fn start() -> TestService {
    let state = Arc::new(Mutex::new(State::default()));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    TestService {
        base: format!("http://{addr}"),
        state,
    }
}

/// A `[[services]]` entry of kind http at `prefix` of the test service.
pub fn http_service(name: &str, base: &str, prefix: &str, erasure: &str) -> String {
    format!(
        r#"
[[services]]
name = "{name}"
kind = "http"
erasure = "{erasure}"
unsearchable = ["custom attributes"]
[services.http]
base_url = "{base}"
secret_file = "http.key"
timeout_seconds = 5
poll_interval_ms = 50
poll_limit_seconds = 10
health_path = "/health"
[services.http.export]
path = "/{prefix}/{{subject_id}}/export"
[services.http.update]
method = "PATCH"
path = "/{prefix}/{{subject_id}}/update"
[services.http.erase]
method = "DELETE"
path = "/{prefix}/{{subject_id}}/erase"
"#
    )
}
