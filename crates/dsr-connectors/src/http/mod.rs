//! `kind = "http"`: a service reached over HTTP(S).
//!
//! Each call is `METHOD base_url + path` with a JSON body naming the request, the
//! operation and the resolved subject (every identifier, G-5). Headers:
//!
//! - `Dsr-Timestamp` (Unix seconds) and `Dsr-Nonce` (128 random bits, hex, fresh per
//!   HTTP call), `Dsr-Signature: v1=HEX` where HEX is HMAC-SHA256 under the connector's
//!   key of `TIMESTAMP "\n" NONCE "\n" METHOD "\n" PATH_AND_QUERY "\n" BODY`. A
//!   receiver refuses a signature that does not verify, a timestamp more than five
//!   minutes off, and a nonce it has seen (a replay).
//! - `Idempotency-Key`: derived from tenant, request id, service and operation, so it
//!   is the same on every retry of one task and the receiver can answer a retry with the
//!   first outcome.
//!
//! Answers: 2xx is done (202 starts polling the status URL in `Location` or the body's
//! `status_url`, on the same origin); 408, 429 and 5xx are transient, with
//! `Retry-After` carried to the engine's retry; other 4xx are permanent, with the
//! body's message; 3xx is refused (redirects are not followed).

pub mod client;

use crate::secret::{self, Key};
use crate::{Result, config_error, parse_settings};
use async_trait::async_trait;
use base64::Engine as _;
use client::{Client, SendError, shown};
use dsr_engine::config::{Config, ServiceConfig};
use dsr_engine::service::{Erased, KeepRule};
use dsr_engine::{
    Attachment, Category, ExportRecord, Kept, Replacement, Service, ServiceCall, ServiceError,
    ServiceInfo,
};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use url::Url;

/// Longest `Retry-After` honoured (a day): a longer one is read as a day.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// `[services.http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Where the operations' paths are appended: `https://host[:port][/prefix]`.
    pub base_url: String,
    /// The signing key in a file (mode 0600; relative to `dsr.toml`).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// The signing key in an environment variable.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Refused: a key in clear in `dsr.toml`.
    #[serde(default)]
    pub secret: Option<toml::Value>,
    /// A bearer token (file, 0600) sent as `Authorization`, for vendor APIs.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// A bearer token in an environment variable.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Seconds one HTTP exchange may take (default 10).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// Polling of 202 answers: milliseconds between polls unless `Retry-After` says
    /// otherwise (default 1000).
    #[serde(default = "default_poll_interval")]
    pub poll_interval_ms: u64,
    /// Polling of 202 answers: seconds before the call gives up as a transient failure
    /// (default 20; less than `[worker] call_timeout_seconds`).
    #[serde(default = "default_poll_limit")]
    pub poll_limit_seconds: u64,
    /// A path answering GET with 2xx when the service is up (`dsr services check`).
    #[serde(default)]
    pub health_path: Option<String>,
    /// Further hosts attachments may be fetched from (default: the base URL's only).
    #[serde(default)]
    pub attachment_hosts: Vec<String>,
    /// Largest response body (default 16 MiB).
    #[serde(default = "default_max_response")]
    pub max_response_bytes: usize,
    /// A private CA's certificates (PEM) trusted besides the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Allow `http://` to a host that is not loopback (default false: https only).
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// The export operation.
    #[serde(default)]
    pub export: Option<Operation>,
    /// The update (rectification) operation.
    #[serde(default)]
    pub update: Option<Operation>,
    /// The erase operation.
    #[serde(default)]
    pub erase: Option<Operation>,
}

fn default_timeout() -> u64 {
    10
}
fn default_poll_interval() -> u64 {
    1000
}
fn default_poll_limit() -> u64 {
    20
}
fn default_max_response() -> usize {
    16 << 20
}

/// `[services.http.export]` / `.update` / `.erase`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operation {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE` (default `POST`).
    #[serde(default = "default_method")]
    pub method: String,
    /// Appended to the base URL; placeholders `{subject_id}`, `{request_id}`,
    /// `{tenant}`, `{kind}`, `{email}`, `{phone}`, `{external_id}` (first of each,
    /// percent-encoded).
    pub path: String,
}

fn default_method() -> String {
    "POST".into()
}

const PLACEHOLDERS: &[&str] = &[
    "subject_id",
    "request_id",
    "tenant",
    "kind",
    "email",
    "phone",
    "external_id",
];

/// Which operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Export.
    Export,
    /// Update.
    Update,
    /// Erase.
    Erase,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Export => "export",
            Op::Update => "update",
            Op::Erase => "erase",
        }
    }
}

/// A service behind an HTTP API.
#[derive(Debug)]
pub struct HttpService {
    info: ServiceInfo,
    base: Url,
    key: Key,
    token: Option<Key>,
    client: Client,
    ops: [Option<Operation>; 3],
    poll_interval: Duration,
    poll_limit: Duration,
    health_path: Option<String>,
    hosts: Vec<String>,
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn check_template(service: &str, key: &str, path: &str) -> Result<()> {
    if !path.starts_with('/') {
        return Err(config_error(
            service,
            format!("http.{key}.path: {path:?} must start with '/'"),
        ));
    }
    let mut rest = path;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        let Some(j) = after.find('}') else {
            return Err(config_error(
                service,
                format!("http.{key}.path: {path:?} has a '{{' without its '}}'"),
            ));
        };
        let name = &after[..j];
        if !PLACEHOLDERS.contains(&name) {
            return Err(config_error(
                service,
                format!(
                    "http.{key}.path: placeholder {{{name}}} is not known (known: {})",
                    PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        rest = &after[j + 1..];
    }
    Ok(())
}

fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl HttpService {
    /// From a `kind = "http"` entry; nothing is contacted.
    pub fn from_config(config: &Config, c: &ServiceConfig) -> Result<Self> {
        let name = c.name.as_str();
        let table = c
            .http
            .as_ref()
            .ok_or_else(|| config_error(name, "kind = \"http\" needs [services.http]"))?;
        let s: HttpSettings = parse_settings(name, "http", &table.0)?;
        if s.secret.is_some() {
            return Err(config_error(
                name,
                "http.secret: a key is not accepted in clear in dsr.toml; put it in a file (secret_file, mode 0600) or an environment variable (secret_env)",
            ));
        }
        let base = Url::parse(s.base_url.trim_end_matches('/')).map_err(|e| {
            config_error(
                name,
                format!("http.base_url: {:?} is not a URL: {e}", s.base_url),
            )
        })?;
        let host = base.host_str().unwrap_or_default().to_owned();
        match base.scheme() {
            "https" => {}
            "http" if is_loopback(&host) || s.allow_insecure_http => {}
            "http" => {
                return Err(config_error(
                    name,
                    format!(
                        "http.base_url: {} is plain http to {host}, which is not loopback: use https (or set allow_insecure_http = true on a network you trust)",
                        shown(&base)
                    ),
                ));
            }
            other => {
                return Err(config_error(
                    name,
                    format!("http.base_url: scheme {other:?} is not accepted (https or http)"),
                ));
            }
        }
        if host.is_empty() || base.query().is_some() || !base.username().is_empty() {
            return Err(config_error(
                name,
                "http.base_url: give scheme, host, port and path only (no credentials, no query)",
            ));
        }
        if !(1..=3600).contains(&s.timeout_seconds) {
            return Err(config_error(
                name,
                format!(
                    "http.timeout_seconds: {} is not accepted (1 to 3600)",
                    s.timeout_seconds
                ),
            ));
        }
        if !(10..=600_000).contains(&s.poll_interval_ms) {
            return Err(config_error(
                name,
                "http.poll_interval_ms: 10 to 600000".to_owned(),
            ));
        }
        let call_timeout = config.worker.call_timeout_seconds;
        if s.poll_limit_seconds >= call_timeout || s.timeout_seconds > call_timeout {
            return Err(config_error(
                name,
                format!(
                    "http.poll_limit_seconds ({}) and http.timeout_seconds ({}) must be less than [worker] call_timeout_seconds ({call_timeout}): the worker ends a call that takes longer",
                    s.poll_limit_seconds, s.timeout_seconds
                ),
            ));
        }
        for (k, op) in [
            ("export", &s.export),
            ("update", &s.update),
            ("erase", &s.erase),
        ] {
            if let Some(op) = op {
                check_template(name, k, &op.path)?;
                if !matches!(
                    op.method.as_str(),
                    "GET" | "POST" | "PUT" | "PATCH" | "DELETE"
                ) {
                    return Err(config_error(
                        name,
                        format!(
                            "http.{k}.method: {:?} is not accepted (GET, POST, PUT, PATCH or DELETE, in capitals)",
                            op.method
                        ),
                    ));
                }
            }
        }
        if s.export.is_none() && s.update.is_none() && s.erase.is_none() {
            return Err(config_error(
                name,
                "[services.http] declares no operation: give at least one of [services.http.export], .update, .erase",
            ));
        }
        if let Some(h) = &s.health_path {
            check_template(name, "health", h)?;
        }
        if s.max_response_bytes < 1024 {
            return Err(config_error(name, "http.max_response_bytes: at least 1024"));
        }
        let key = secret::load(
            config,
            name,
            "http.secret",
            s.secret_file.as_ref(),
            s.secret_env.as_deref(),
        )?;
        let token = if s.token_file.is_some() || s.token_env.is_some() {
            Some(secret::load(
                config,
                name,
                "http.token",
                s.token_file.as_ref(),
                s.token_env.as_deref(),
            )?)
        } else {
            None
        };
        let ca = s.ca_file.as_ref().map(|p| crate::resolve(config, p));
        let tls = client::tls_connector(ca.as_deref())
            .map_err(|e| config_error(name, format!("http.{e}")))?;
        let client = Client::new(
            tls,
            Duration::from_secs(s.timeout_seconds),
            s.max_response_bytes,
        );
        let mut info = ServiceInfo::from_config(
            c,
            &["identifiers sent to the API"],
            &[Category::CustomerRelationship],
            false,
        );
        info.attachments = false;
        let mut hosts = vec![host];
        hosts.extend(s.attachment_hosts.iter().map(|h| h.to_ascii_lowercase()));
        Ok(HttpService {
            info,
            base,
            key,
            token,
            client,
            ops: [s.export, s.update, s.erase],
            poll_interval: Duration::from_millis(s.poll_interval_ms),
            poll_limit: Duration::from_secs(s.poll_limit_seconds),
            health_path: s.health_path,
            hosts,
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn op(&self, op: Op) -> Option<&Operation> {
        self.ops[match op {
            Op::Export => 0,
            Op::Update => 1,
            Op::Erase => 2,
        }]
        .as_ref()
    }

    fn url_for(
        &self,
        template: &str,
        call: Option<&ServiceCall>,
    ) -> std::result::Result<Url, ServiceError> {
        let mut path = String::new();
        let mut rest = template;
        while let Some(i) = rest.find('{') {
            path.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let j = after.find('}').unwrap_or(after.len());
            let name = &after[..j];
            let value = call.and_then(|c| {
                let s = &c.subject;
                match name {
                    "subject_id" => Some(s.id.as_str().to_owned()),
                    "request_id" => Some(c.request_id.as_str().to_owned()),
                    "tenant" => Some(c.tenant.as_str().to_owned()),
                    "kind" => Some(s.kind.as_str().to_owned()),
                    "email" => s.emails.first().cloned(),
                    "phone" => s.phones.first().cloned(),
                    "external_id" => s.external_ids.first().cloned(),
                    _ => None,
                }
            });
            let Some(value) = value else {
                return Err(ServiceError::permanent(format!(
                    "{}: the path {template:?} needs {{{name}}}, which this subject does not have",
                    self.info.name
                )));
            };
            path.push_str(&encode(&value));
            rest = after.get(j + 1..).unwrap_or("");
        }
        path.push_str(rest);
        let full = format!("{}{}", self.base.as_str().trim_end_matches('/'), path);
        Url::parse(&full).map_err(|e| {
            ServiceError::permanent(format!("{}: {full:?} is not a URL: {e}", self.info.name))
        })
    }

    /// The signature headers of one exchange.
    fn signed(
        &self,
        method: &str,
        url: &Url,
        body: &[u8],
        idempotency_key: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut nonce = [0u8; 16];
        // Without randomness a nonce from the clock still differs per call.
        if getrandom::fill(&mut nonce).is_err() {
            let n = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            nonce = n.to_le_bytes();
        }
        let nonce = hex::encode(nonce);
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        let sig = signature(self.key.bytes(), ts, &nonce, method, &path, body);
        let mut h = vec![
            ("content-type", "application/json".to_owned()),
            ("accept", "application/json".to_owned()),
            ("dsr-timestamp", ts.to_string()),
            ("dsr-nonce", nonce),
            ("dsr-signature", format!("v1={sig}")),
            ("dsr-service", self.info.name.clone()),
        ];
        if let Some(k) = idempotency_key {
            h.push(("idempotency-key", k.to_owned()));
        }
        if let Some(t) = &self.token {
            h.push((
                "authorization",
                format!("Bearer {}", String::from_utf8_lossy(t.bytes())),
            ));
        }
        h
    }

    async fn exchange(
        &self,
        method: &str,
        url: &Url,
        body: Vec<u8>,
        idempotency_key: Option<&str>,
    ) -> std::result::Result<client::Response, ServiceError> {
        let headers = self.signed(method, url, &body, idempotency_key);
        self.client
            .send(method, url, &headers, body)
            .await
            .map_err(|e| match e {
                SendError::Unreachable(m) => {
                    ServiceError::transient(format!("{}: {m}", self.info.name))
                }
                SendError::Refused(m) => {
                    ServiceError::permanent(format!("{}: {m}", self.info.name))
                }
            })
    }

    /// Calls an operation: the JSON answer of a 2xx (after polling a 202).
    async fn call(
        &self,
        op: Op,
        call: &ServiceCall,
        mut body: Value,
    ) -> std::result::Result<Value, ServiceError> {
        let Some(o) = self.op(op) else {
            return Err(ServiceError::permanent(format!(
                "{}: [services.http.{}] is not configured, so this service cannot {} through dsr; do it by hand and record it",
                self.info.name,
                op.as_str(),
                op.as_str()
            )));
        };
        let started = Instant::now();
        let key = idempotency_key(call, &self.info.name, op);
        body["idempotency_key"] = Value::String(key.clone());
        let url = self.url_for(&o.path, Some(call))?;
        let bytes =
            serde_json::to_vec(&body).map_err(|e| ServiceError::permanent(e.to_string()))?;
        let resp = self.exchange(&o.method, &url, bytes, Some(&key)).await?;
        if resp.status != 202 {
            return self.answer(&o.method, &url, resp);
        }
        // Asynchronous: poll the status URL until done, within the limit.
        let status_url = self.status_url(&url, &resp)?;
        let mut wait = retry_after(&resp).unwrap_or(self.poll_interval);
        loop {
            let elapsed = started.elapsed();
            if elapsed + wait > self.poll_limit {
                return Err(ServiceError::transient_after(
                    format!(
                        "{}: still running after {}s (status {}); asked again later with the same idempotency key",
                        self.info.name,
                        elapsed.as_secs(),
                        shown(&status_url)
                    ),
                    wait,
                ));
            }
            tokio::time::sleep(wait).await;
            let r = self
                .exchange("GET", &status_url, Vec::new(), Some(&key))
                .await?;
            if r.status != 202 {
                return self.answer("GET", &status_url, r);
            }
            wait = retry_after(&r).unwrap_or(self.poll_interval);
        }
    }

    fn status_url(
        &self,
        from: &Url,
        resp: &client::Response,
    ) -> std::result::Result<Url, ServiceError> {
        let given = resp.header("location").map(str::to_owned).or_else(|| {
            serde_json::from_slice::<Value>(&resp.body)
                .ok()
                .and_then(|v| {
                    v.get("status_url")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
        });
        let Some(given) = given else {
            return Err(ServiceError::permanent(format!(
                "{}: answered 202 without a status URL (Location header or \"status_url\" in the body)",
                self.info.name
            )));
        };
        let u = from.join(&given).map_err(|e| {
            ServiceError::permanent(format!("{}: status URL {given:?}: {e}", self.info.name))
        })?;
        if u.origin() != self.base.origin() {
            return Err(ServiceError::permanent(format!(
                "{}: the status URL {} is not on {} (signed calls go only to the configured service)",
                self.info.name,
                shown(&u),
                self.base.origin().ascii_serialization()
            )));
        }
        Ok(u)
    }

    /// A final answer: JSON for 2xx, the classified error otherwise.
    fn answer(
        &self,
        method: &str,
        url: &Url,
        resp: client::Response,
    ) -> std::result::Result<Value, ServiceError> {
        let s = resp.status;
        let at = format!("{} {method} {}", self.info.name, shown(url));
        if (200..300).contains(&s) {
            if resp.body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&resp.body).map_err(|e| {
                ServiceError::permanent(format!(
                    "{at}: answered {s} with a body that is not JSON: {e}"
                ))
            });
        }
        let message = body_message(&resp.body);
        if s == 408 || s == 429 || s >= 500 {
            let m = format!("{at}: answered {s}: {message}");
            return Err(match retry_after(&resp) {
                Some(d) => ServiceError::transient_after(m, d),
                None => ServiceError::transient(m),
            });
        }
        if (300..400).contains(&s) {
            return Err(ServiceError::permanent(format!(
                "{at}: answered {s} (a redirect to {}); redirects are not followed: fix base_url or the path",
                resp.header("location").unwrap_or("nowhere")
            )));
        }
        Err(ServiceError::permanent(format!(
            "{at}: answered {s}: {message}"
        )))
    }

    /// GET on the health path; `None` when none is configured.
    pub async fn ping(&self) -> Option<std::result::Result<u16, String>> {
        let path = self.health_path.as_ref()?;
        let url = match self.url_for(path, None) {
            Ok(u) => u,
            Err(e) => return Some(Err(e.message)),
        };
        Some(match self.exchange("GET", &url, Vec::new(), None).await {
            Ok(r) if (200..300).contains(&r.status) => Ok(r.status),
            Ok(r) => Err(format!(
                "GET {} answered {}: {}",
                shown(&url),
                r.status,
                body_message(&r.body)
            )),
            Err(e) => Err(e.message),
        })
    }

    /// Fetches a URL attachment (on the base URL's host or an `attachment_hosts` one).
    async fn fetch(&self, base: &Url, given: &str) -> std::result::Result<Vec<u8>, ServiceError> {
        let u = base.join(given).map_err(|e| {
            ServiceError::permanent(format!("{}: attachment URL {given:?}: {e}", self.info.name))
        })?;
        let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
        if !matches!(u.scheme(), "https" | "http") || !self.hosts.contains(&host) {
            return Err(ServiceError::permanent(format!(
                "{}: attachment URL {} is not on an allowed host ({}; add it to attachment_hosts)",
                self.info.name,
                shown(&u),
                self.hosts.join(", ")
            )));
        }
        let r = self.exchange("GET", &u, Vec::new(), None).await?;
        if !(200..300).contains(&r.status) {
            let m = format!(
                "{}: fetching attachment {} answered {}",
                self.info.name,
                shown(&u),
                r.status
            );
            return Err(if r.status == 429 || r.status >= 500 {
                ServiceError::transient(m)
            } else {
                ServiceError::permanent(m)
            });
        }
        Ok(r.body.to_vec())
    }

    async fn records(&self, answer: Value) -> std::result::Result<Vec<ExportRecord>, ServiceError> {
        let list = match answer {
            Value::Array(a) => a,
            Value::Object(mut o) => match o.remove("records") {
                Some(Value::Array(a)) => a,
                _ => {
                    return Err(ServiceError::permanent(format!(
                        "{}: the export answer has no \"records\" list",
                        self.info.name
                    )));
                }
            },
            Value::Null => Vec::new(),
            _ => {
                return Err(ServiceError::permanent(format!(
                    "{}: the export answer is not an object with \"records\"",
                    self.info.name
                )));
            }
        };
        let mut out = Vec::with_capacity(list.len());
        for (i, r) in list.into_iter().enumerate() {
            let at = format!("{}: records[{i}]", self.info.name);
            let rec: WireRecord = serde_json::from_value(r)
                .map_err(|e| ServiceError::permanent(format!("{at}: {e}")))?;
            let category: Category = rec
                .category
                .parse()
                .map_err(|e: dsr_engine::Error| ServiceError::permanent(format!("{at}: {e}")))?;
            let mut attachments = Vec::new();
            let mut digests = Vec::new();
            for (j, a) in rec.attachments.into_iter().enumerate() {
                let at = format!("{at}.attachments[{j}]");
                let (bytes, source) = match (a.url, a.content_base64) {
                    (Some(u), None) => (self.fetch(&self.base, &u).await?, json!(u)),
                    (None, Some(b)) => (
                        base64::engine::general_purpose::STANDARD
                            .decode(b.trim())
                            .map_err(|e| {
                                ServiceError::permanent(format!("{at}: content_base64: {e}"))
                            })?,
                        json!("inline"),
                    ),
                    _ => {
                        return Err(ServiceError::permanent(format!(
                            "{at}: give exactly one of \"url\" and \"content_base64\""
                        )));
                    }
                };
                let digest = hex::encode(Sha256::digest(&bytes));
                if let Some(claimed) = &a.sha256
                    && !claimed.eq_ignore_ascii_case(&digest)
                {
                    // A corrupted transfer goes away on another attempt; a wrong digest
                    // at the source does not, and the retries say so.
                    return Err(ServiceError::transient(format!(
                        "{at}: the content's SHA-256 is {digest}, the service says {claimed}"
                    )));
                }
                digests.push(json!({
                    "name": a.name,
                    "content_type": a.content_type,
                    "bytes": bytes.len(),
                    "sha256": digest,
                    "source": source,
                }));
                attachments.push(Attachment {
                    name: a.name,
                    content_type: a.content_type,
                    content_base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
                });
            }
            let mut data = rec.data;
            if !digests.is_empty() {
                if !data.is_object() {
                    data = json!({ "value": data });
                }
                data["dsr_attachments"] = Value::Array(digests);
            }
            out.push(ExportRecord {
                category,
                provided: rec.provided.unwrap_or(category != Category::Derived),
                data,
                attachments,
            });
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
struct WireRecord {
    category: String,
    #[serde(default)]
    provided: Option<bool>,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    attachments: Vec<WireAttachment>,
}

#[derive(Deserialize)]
struct WireAttachment {
    name: String,
    #[serde(default = "octets")]
    content_type: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    content_base64: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
}

fn octets() -> String {
    "application/octet-stream".into()
}

#[derive(Deserialize)]
struct WireErased {
    #[serde(default)]
    records: u64,
    #[serde(default)]
    attachments: u64,
    #[serde(default)]
    kept: Vec<Kept>,
}

/// HMAC-SHA256 (hex) of `TIMESTAMP\nNONCE\nMETHOD\nPATH\nBODY` under `key`: what
/// `Dsr-Signature: v1=…` carries. Receivers compute the same and compare in constant
/// time.
pub fn signature(
    key: &[u8],
    ts: u64,
    nonce: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{ts}\n{nonce}\n{method}\n{path}\n").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The idempotency key of one task's operation: the same on every retry.
pub fn idempotency_key(call: &ServiceCall, service: &str, op: Op) -> String {
    let mut h = Sha256::new();
    for part in [
        call.tenant.as_str(),
        call.request_id.as_str(),
        service,
        op.as_str(),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

/// `Retry-After` as delay-seconds or an HTTP date, at most [`MAX_RETRY_AFTER`].
fn retry_after(resp: &client::Response) -> Option<Duration> {
    let v = resp.header("retry-after")?.trim();
    let d = match v.parse::<u64>() {
        Ok(s) => Duration::from_secs(s),
        Err(_) => httpdate::parse_http_date(v)
            .ok()?
            .duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    };
    Some(d.min(MAX_RETRY_AFTER))
}

/// The message of an error body: its JSON `message` / `error` / `detail`, else the text
/// (cut at 300 characters).
fn body_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        for k in ["message", "error", "detail", "title"] {
            match v.get(k) {
                Some(Value::String(s)) => return cut(s),
                Some(Value::Object(o)) => {
                    if let Some(Value::String(s)) = o.get("message") {
                        return cut(s);
                    }
                }
                _ => {}
            }
        }
    }
    let t = String::from_utf8_lossy(body);
    let t = t.trim();
    if t.is_empty() {
        "(no message)".into()
    } else {
        cut(t)
    }
}

fn cut(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(300).collect();
    if s.chars().count() > 300 {
        out.push('…');
    }
    out
}

fn request_body(call: &ServiceCall, op: Op) -> Value {
    json!({
        "request_id": call.request_id.as_str(),
        "tenant": call.tenant.as_str(),
        "type": call.request_type.as_str(),
        "operation": op.as_str(),
        "attempt": call.attempt,
        "subject": call.subject,
    })
}

#[async_trait]
impl Service for HttpService {
    fn info(&self) -> &ServiceInfo {
        &self.info
    }

    async fn export(
        &self,
        call: &ServiceCall,
    ) -> std::result::Result<Vec<ExportRecord>, ServiceError> {
        let answer = self
            .call(Op::Export, call, request_body(call, Op::Export))
            .await?;
        self.records(answer).await
    }

    async fn update(
        &self,
        call: &ServiceCall,
        replacements: &[Replacement],
    ) -> std::result::Result<u64, ServiceError> {
        let mut body = request_body(call, Op::Update);
        body["replacements"] = json!(
            replacements
                .iter()
                .map(|r| json!({"field": r.field.as_str(), "old": r.old, "new": r.new}))
                .collect::<Vec<_>>()
        );
        let answer = self.call(Op::Update, call, body).await?;
        Ok(answer.get("records").and_then(Value::as_u64).unwrap_or(0))
    }

    async fn erase(
        &self,
        call: &ServiceCall,
        keep: &[KeepRule],
    ) -> std::result::Result<Erased, ServiceError> {
        let mut body = request_body(call, Op::Erase);
        body["erasure"] = json!(self.info.erasure.to_string());
        body["keep"] = json!(
            keep.iter()
                .map(|k| json!({"category": k.category.map(|c| c.as_str()), "ground": k.ground}))
                .collect::<Vec<_>>()
        );
        let answer = self.call(Op::Erase, call, body).await?;
        if answer.is_null() {
            return Ok(Erased::default());
        }
        let e: WireErased = serde_json::from_value(answer).map_err(|e| {
            ServiceError::permanent(format!("{}: the erase answer: {e}", self.info.name))
        })?;
        Ok(Erased {
            records: e.records,
            attachments: e.attachments,
            kept: e.kept,
        })
    }
}

/// The placeholders a path template may use.
pub fn placeholders() -> &'static [&'static str] {
    PLACEHOLDERS
}
