//! A sample help desk behind the HTTP connector (`kind = "http"`), for
//! `examples/connectors/dsr.toml`: what an organisation's own service needs to do to
//! answer dsr.
//!
//! ```text
//! cargo run -p dsr-examples --example sample_http_service -- examples/connectors/helpdesk.key 8099
//! ```
//!
//! Every call is verified before anything else: the HMAC-SHA256 signature over
//! timestamp, nonce, method, path and body under the shared key, a timestamp at most
//! five minutes off, and a nonce never seen before (a replay is refused). Export and
//! update answer at once; erase answers 202 with a status URL that reports done a
//! second later (an asynchronous service), keyed by the idempotency key so a retry of
//! the same task finds the same job.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Desk {
    key: Vec<u8>,
    nonces: BTreeSet<String>,
    /// Tickets by the customer's email.
    tickets: BTreeMap<String, Vec<Value>>,
    /// Erasure jobs by idempotency key: when they finish, how many tickets they erased.
    jobs: BTreeMap<String, (Instant, u64)>,
}

fn verify(
    d: &mut Desk,
    method: &str,
    path: &str,
    h: &HeaderMap,
    body: &[u8],
) -> Result<(), String> {
    let get = |k: &str| {
        h.get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let ts: u64 = get("dsr-timestamp").parse().map_err(|_| "no timestamp")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    if now.abs_diff(ts) > 300 {
        return Err("the timestamp is more than five minutes off".into());
    }
    let nonce = get("dsr-nonce");
    let want = format!(
        "v1={}",
        dsr_connectors::http::signature(&d.key, ts, &nonce, method, path, body)
    );
    // A real service compares in constant time (e.g. the `subtle` crate).
    if want != get("dsr-signature") {
        return Err("the signature does not verify".into());
    }
    if nonce.len() < 16 || !d.nonces.insert(nonce) {
        return Err("replayed call".into());
    }
    Ok(())
}

async fn handle(
    State(desk): State<Arc<Mutex<Desk>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let mut d = desk.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = verify(&mut d, method.as_str(), &path, &headers, &body) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"message": e}))).into_response();
    }
    let call: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let emails: Vec<String> = call["subject"]["emails"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let ok = |v: Value| (StatusCode::OK, axum::Json(v)).into_response();
    match path.as_str() {
        "/dsr/health" => ok(json!({"status": "up"})),
        p if p.starts_with("/dsr/files/") => {
            (StatusCode::OK, b"fake pdf: a ticket's attachment".to_vec()).into_response()
        }
        p if p.ends_with("/export") => {
            let records: Vec<Value> = emails
                .iter()
                .flat_map(|e| d.tickets.get(e).cloned().unwrap_or_default())
                .map(|t| {
                    json!({"category": "traces", "data": t,
                           "attachments": [{"name": "ticket.pdf", "content_type": "application/pdf",
                                            "url": format!("/dsr/files/{}", t["id"])}]})
                })
                .collect();
            ok(json!({ "records": records }))
        }
        p if p.ends_with("/update") => ok(json!({"records": 0})),
        p if p.ends_with("/erase") => {
            if !d.jobs.contains_key(&key) {
                let n = emails
                    .iter()
                    .filter_map(|e| d.tickets.remove(e))
                    .map(|t| t.len() as u64)
                    .sum();
                d.jobs
                    .insert(key.clone(), (Instant::now() + Duration::from_secs(1), n));
            }
            let mut r = (
                StatusCode::ACCEPTED,
                axum::Json(json!({"status": "queued"})),
            )
                .into_response();
            if let Ok(v) = format!("/dsr/jobs/{key}").parse() {
                r.headers_mut().insert("location", v);
            }
            r
        }
        p if p.starts_with("/dsr/jobs/") => match d.jobs.get(p.trim_start_matches("/dsr/jobs/")) {
            Some((at, n)) if Instant::now() >= *at => ok(json!({"records": n})),
            Some(_) => {
                let mut r = (
                    StatusCode::ACCEPTED,
                    axum::Json(json!({"status": "running"})),
                )
                    .into_response();
                r.headers_mut()
                    .insert("retry-after", axum::http::HeaderValue::from_static("1"));
                r
            }
            None => (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"message": "no such job"})),
            )
                .into_response(),
        },
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "no such endpoint"})),
        )
            .into_response(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let key_file = args
        .next()
        .unwrap_or_else(|| "examples/connectors/helpdesk.key".into());
    let port: u16 = args.next().unwrap_or_else(|| "8099".into()).parse()?;
    let key = std::fs::read_to_string(&key_file).map_err(|e| {
        anyhow::anyhow!(
            "{key_file}: {e} (create it: openssl rand -hex 32 > {key_file}; chmod 600 {key_file})"
        )
    })?;
    let mut desk = Desk {
        key: key.trim().as_bytes().to_vec(),
        ..Desk::default()
    };
    desk.tickets.insert(
        "jean.dupont@example.fr".into(),
        vec![
            json!({"id": 501, "subject": "login problem", "text": "I cannot log in since Monday"}),
            json!({"id": 502, "subject": "thanks", "text": "it works now"}),
        ],
    );
    desk.tickets.insert(
        "zoe.faure@gmail.com".into(),
        vec![json!({"id": 503, "subject": "invoice", "text": "wrong VAT number"})],
    );
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(Arc::new(Mutex::new(desk)));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "sample help desk on http://{}/dsr (key {key_file})",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}
