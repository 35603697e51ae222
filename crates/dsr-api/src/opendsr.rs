//! OpenDSR (formerly OpenGDPR): the open processor protocol a controller uses to send
//! data subject requests to a processor and follow them (`docs/opendsr.md`).
//!
//! dsr is the processor. Every version the specification has released is served, under
//! `/opendsr` with the major version first (§3.4):
//!
//! | version | requests | headers |
//! |---|---|---|
//! | OpenGDPR 0.1 / 1.0 | `/opendsr/v1/opengdpr_requests[/{id}]` | `X-OpenGDPR-*` |
//! | OpenDSR 2.0 | `/opendsr/v2/requests[/{id}]` (and the draft names `opendsr_requests`, `opencompliance_requests`) | `X-OpenDSR-*` |
//!
//! with `/discovery` and `/status` in each, and the processor certificate at
//! `/opendsr/processor-certificate.pem`. Both header families are sent on every answer
//! and callback (§10.1: the prior names stay honoured).
//!
//! - **The controller is an API client of a tenant**: `POST`, `GET` and `DELETE` need a
//!   bearer token (`requests:write` / `requests:read`), and the tenant is the client's,
//!   never the body's. A `subject_request_id` is the controller's key, kept per client
//!   in the server's idempotency keys: the same id with the same body answers the same
//!   request; with another body it is refused; another client's or tenant's id is 404.
//! - **Signatures**: every answer under a version (errors included) carries
//!   `X-OpenDSR-Signature` (and `X-OpenGDPR-Signature`): RSA PKCS#1 v1.5 over SHA-256 of
//!   the exact body bytes, base64, verifiable with the certificate `/discovery` names
//!   (`processor_certificate`). Callbacks are signed the same way.
//! - **The key**: the operator's certificate and private key (`[opendsr] certificate`,
//!   `private_key`, PEM), or a 2048-bit key generated on first start and kept in the
//!   server store (`ServerStore::server_key`, so every node shares it) with a
//!   self-signed certificate for the `base_url` host. The specification wants a
//!   certificate from a trusted CA (§4.1): the generated one is for trying it out.
//! - **Callbacks** go through [`crate::callbacks`] (the same delivery table, order,
//!   retries, SSRF checks and TLS); the stored URL is `opendsr <subject_request_id>
//!   <url>`, which tells the dispatcher to send the OpenDSR body and signature.

use crate::app::{App, Tenant};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::limits::Class;
use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use dsr_engine::server_store::ServerStore;
use dsr_engine::{CreateOptions, OnDuplicate, Request as DsrRequest, RequestId, RequestStatus};
use dsr_engine::{Target, Task, TaskStatus};
use dsr_model::{RequestType, Term, TermType};
use dsr_ops::clients::Scope;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;

/// Where the certificate is served, under the controller-facing base URL.
pub const CERTIFICATE_PATH: &str = "/opendsr/processor-certificate.pem";

/// The prefix of a stored callback URL that is an OpenDSR callback.
pub(crate) const CALLBACK_PREFIX: &str = "opendsr ";

/// The name of the generated key in the server store.
const KEY_NAME: &str = "opendsr-rsa-pkcs8";
/// The name of the generated certificate in the server store.
const CERT_NAME: &str = "opendsr-certificate-der";

/// Callback URLs per request, at most.
const MAX_CALLBACK_URLS: usize = 5;

/// `[opendsr]` as the HTTP layer takes it.
#[derive(Debug, Clone)]
pub struct OpenDsrSettings {
    /// The server as controllers reach it (`https://opendsr.example.com`): the
    /// certificate URL, `results_url` and the processor domain are made from it.
    pub base_url: String,
    /// The operator's certificate chain (PEM, the leaf first), with `private_key`.
    pub certificate: Option<PathBuf>,
    /// The operator's RSA private key (PEM, PKCS#8 or PKCS#1), with `certificate`.
    pub private_key: Option<PathBuf>,
}

/// The processor: its signing key and certificate.
pub struct Processor {
    key: ring::signature::RsaKeyPair,
    cert_pem: String,
    base_url: String,
    domain: String,
}

impl std::fmt::Debug for Processor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processor")
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

/// The host of a base URL (`https://host:port/path` → `host`).
fn host_of(base_url: &str) -> Result<String, String> {
    let rest = base_url
        .strip_prefix("https://")
        .or_else(|| base_url.strip_prefix("http://"))
        .ok_or_else(|| format!("[opendsr] base_url {base_url:?}: give an http(s) URL"))?;
    let authority = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if host.is_empty() || authority.contains('@') {
        return Err(format!(
            "[opendsr] base_url {base_url:?}: give a URL with a host and no credentials"
        ));
    }
    Ok(host.to_owned())
}

impl Processor {
    /// The operator's files, or the key and certificate in the store (made on first
    /// start).
    pub async fn load(store: &dyn ServerStore, s: &OpenDsrSettings) -> Result<Self, String> {
        let base_url = s.base_url.trim_end_matches('/').to_owned();
        let domain = host_of(&base_url)?;
        let (key_der, cert_pem) = match (&s.certificate, &s.private_key) {
            (Some(c), Some(k)) => from_files(c, k)?,
            (None, None) => stored(store, &domain).await?,
            _ => {
                return Err(
                    "[opendsr]: give both certificate and private_key, or neither (a key is then generated)"
                        .into(),
                );
            }
        };
        let key = ring::signature::RsaKeyPair::from_pkcs8(&key_der)
            .or_else(|_| ring::signature::RsaKeyPair::from_der(&key_der))
            .map_err(|e| format!("[opendsr] private_key: not an RSA key ring accepts ({e})"))?;
        let p = Processor {
            key,
            cert_pem,
            base_url,
            domain,
        };
        p.check_pair()?;
        Ok(p)
    }

    /// The certificate's public key is the signing key's.
    fn check_pair(&self) -> Result<(), String> {
        let der = pem_blocks(&self.cert_pem, "CERTIFICATE")
            .into_iter()
            .next()
            .ok_or("[opendsr] certificate: no CERTIFICATE block")?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| format!("[opendsr] certificate: not an X.509 certificate ({e})"))?;
        let spki = cert.public_key();
        use ring::signature::KeyPair as _;
        if spki.subject_public_key.data.as_ref() != self.key.public_key().as_ref() {
            return Err(
                "[opendsr]: the certificate is not the private key's (its public key differs)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Base64 of the RSA PKCS#1 v1.5 SHA-256 signature of `body`.
    pub fn sign(&self, body: &[u8]) -> Result<String, String> {
        let rng = ring::rand::SystemRandom::new();
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&ring::signature::RSA_PKCS1_SHA256, &rng, body, &mut sig)
            .map_err(|_| "signing failed".to_owned())?;
        Ok(base64::engine::general_purpose::STANDARD.encode(sig))
    }

    /// The certificate (PEM).
    pub fn certificate_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The processor domain (`X-OpenDSR-Processor-Domain`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The controller-facing base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The signature and domain headers (both names) of a body.
    pub fn headers(&self, body: &[u8]) -> Result<Vec<(&'static str, String)>, String> {
        let sig = self.sign(body)?;
        Ok(vec![
            ("x-opendsr-processor-domain", self.domain.clone()),
            ("x-opendsr-signature", sig.clone()),
            ("x-opengdpr-processor-domain", self.domain.clone()),
            ("x-opengdpr-signature", sig),
        ])
    }
}

/// The DER blocks labelled `label` of a PEM text.
fn pem_blocks(text: &str, label: &str) -> Vec<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(&begin) {
        let after = &rest[i + begin.len()..];
        let Some(j) = after.find(&end) else { break };
        let b64: String = after[..j].chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(der);
        }
        rest = &after[j + end.len()..];
    }
    out
}

fn from_files(cert: &std::path::Path, key: &std::path::Path) -> Result<(Vec<u8>, String), String> {
    let cert_pem = std::fs::read_to_string(cert).map_err(|e| {
        format!(
            "[opendsr] certificate {}: cannot read ({e})",
            cert.display()
        )
    })?;
    if pem_blocks(&cert_pem, "CERTIFICATE").is_empty() {
        return Err(format!(
            "[opendsr] certificate {}: no PEM CERTIFICATE in it",
            cert.display()
        ));
    }
    let key_pem = std::fs::read_to_string(key)
        .map_err(|e| format!("[opendsr] private_key {}: cannot read ({e})", key.display()))?;
    let der = pem_blocks(&key_pem, "PRIVATE KEY")
        .into_iter()
        .chain(pem_blocks(&key_pem, "RSA PRIVATE KEY"))
        .next()
        .ok_or_else(|| {
            format!(
                "[opendsr] private_key {}: no PEM PRIVATE KEY or RSA PRIVATE KEY in it (an RSA key is needed)",
                key.display()
            )
        })?;
    Ok((der, cert_pem))
}

/// The generated key and certificate, kept in the store (the first node's win).
async fn stored(store: &dyn ServerStore, domain: &str) -> Result<(Vec<u8>, String), String> {
    let store_err = |e: dsr_engine::Error| format!("opendsr: the server store: {e}");
    // Generating costs a second or so: only when the store has no key yet (the store's
    // `server_key` keeps the first writer's).
    let key_der = match store.stored_server_key(KEY_NAME).await.map_err(store_err)? {
        Some(k) => k,
        None => {
            let fresh = tokio::task::spawn_blocking(generate_key)
                .await
                .map_err(|_| "opendsr: key generation failed".to_owned())??;
            store
                .server_key(KEY_NAME, &fresh)
                .await
                .map_err(store_err)?
        }
    };
    let cert_der = match store
        .stored_server_key(CERT_NAME)
        .await
        .map_err(store_err)?
    {
        Some(c) => c,
        None => {
            let fresh = self_signed(&key_der, domain)?;
            store
                .server_key(CERT_NAME, &fresh)
                .await
                .map_err(store_err)?
        }
    };
    let pem = pem_encode("CERTIFICATE", &cert_der);
    Ok((key_der, pem))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A new 2048-bit RSA key, PKCS#8 DER.
fn generate_key() -> Result<Vec<u8>, String> {
    use rsa::Generate as _;
    use rsa::pkcs8::EncodePrivateKey as _;
    let key = rsa::PrivateKey::try_generate()
        .map_err(|e| format!("opendsr: cannot generate a key: {e}"))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| format!("opendsr: cannot encode the key: {e}"))?;
    Ok(der.as_bytes().to_vec())
}

/// A self-signed certificate (DER) for `domain`, ten years.
fn self_signed(key_der: &[u8], domain: &str) -> Result<Vec<u8>, String> {
    let der = tokio_rustls::rustls::pki_types::PrivatePkcs8KeyDer::from(key_der.to_vec());
    let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| format!("opendsr: the stored key: {e}"))?;
    let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()])
        .map_err(|e| format!("opendsr: a certificate for {domain:?}: {e}"))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, domain);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "dsr OpenDSR processor");
    use chrono::Datelike as _;
    let from = chrono::Utc::now() - chrono::Duration::days(1);
    let ymd = |d: chrono::DateTime<chrono::Utc>, plus_years: i32| {
        // Day 28 at most: the same day exists in every month of the later year.
        rcgen::date_time_ymd(
            d.year() + plus_years,
            d.month() as u8,
            d.day().min(28) as u8,
        )
    };
    params.not_before = ymd(from, 0);
    params.not_after = ymd(from, 10);
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("opendsr: cannot make the certificate: {e}"))?;
    Ok(cert.der().to_vec())
}

// ---------------------------------------------------------------------------------
// Versions, errors, signing
// ---------------------------------------------------------------------------------

/// The protocol version of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// OpenGDPR 0.1 / 1.0.
    V1,
    /// OpenDSR 2.0.
    V2,
}

impl Version {
    fn api_version(self) -> &'static str {
        match self {
            Version::V1 => "1.0",
            Version::V2 => "2.0",
        }
    }
    fn major(self) -> &'static str {
        match self {
            Version::V1 => "1",
            Version::V2 => "2",
        }
    }
    fn requests_path(self) -> &'static str {
        match self {
            Version::V1 => "opengdpr_requests",
            Version::V2 => "requests",
        }
    }
}

/// An error in the specification's shape (§7.6):
/// `{"error": {"code", "message", "errors": [{"domain", "reason", "message", "location"}]}}`.
#[derive(Debug)]
pub struct OdError(ApiError);

impl From<ApiError> for OdError {
    fn from(e: ApiError) -> Self {
        OdError(e)
    }
}

impl From<dsr_engine::Error> for OdError {
    fn from(e: dsr_engine::Error) -> Self {
        OdError(ApiError::from(e))
    }
}

fn field_error(field: &str, message: impl Into<String>) -> OdError {
    let m = message.into();
    OdError(ApiError::field(field, format!("{field}: {m}")))
}

impl IntoResponse for OdError {
    fn into_response(self) -> Response {
        let e = self.0;
        // §7.5: errors about the request are 400; authentication, an unknown id,
        // limits and failures keep their status.
        let status = match e.status {
            StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            s => s,
        };
        let mut field = e.body.details["field"].as_str().unwrap_or("").to_owned();
        if field.is_empty()
            && let Some(rest) = e.body.message.split("missing field `").nth(1)
        {
            field = rest.split('`').next().unwrap_or("").to_owned();
        }
        let domain = match status {
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => "Validation",
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "Authentication",
            StatusCode::NOT_FOUND => "Request",
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => "Availability",
            _ => "Processor",
        };
        let message = if !field.is_empty() && !e.body.message.starts_with(&field) {
            format!("{field}: {}", e.body.message)
        } else {
            e.body.message.clone()
        };
        let mut detail = json!({
            "domain": domain,
            "reason": e.body.code,
            "message": message,
        });
        if !field.is_empty() {
            detail["location"] = json!(field);
        }
        let body = json!({ "error": {
            "code": status.as_u16(),
            "message": message,
            "errors": [detail],
        }});
        let mut r = (status, axum::Json(body)).into_response();
        for (k, v) in e.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                r.headers_mut().insert(k, v);
            }
        }
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r.headers_mut()
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        r
    }
}

type OdResult<T> = Result<T, OdError>;

fn processor(app: &App) -> OdResult<&Arc<Processor>> {
    app.inner.opendsr.as_ref().ok_or_else(|| {
        OdError(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_route",
            "OpenDSR is not enabled on this server ([opendsr] enabled = true)",
        ))
    })
}

/// Signs every answer under a version: the exact body bytes.
async fn sign_answers(State(app): State<App>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let Some(p) = app.inner.opendsr.clone() else {
        return resp;
    };
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 * 1024 * 1024).await else {
        return ApiError::internal().into_response();
    };
    match p.headers(&bytes) {
        Ok(hs) => {
            for (k, v) in hs {
                if let Ok(v) = HeaderValue::from_str(&v) {
                    parts.headers.insert(k, v);
                }
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "opendsr: cannot sign an answer");
            return ApiError::internal().into_response();
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Authenticates before the body is read; refusals in the specification's shape.
async fn authenticated(State(app): State<App>, mut req: Request, next: Next) -> Response {
    match app.auth().authenticate(req.headers()).await {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => OdError(e).into_response(),
    }
}

/// A JSON answer whose bytes are what gets signed.
fn answer(status: StatusCode, v: &Value) -> Response {
    (status, axum::Json(v)).into_response()
}

// ---------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------

/// The OpenDSR routes (every version), for [`crate::router`] to merge.
pub fn routes(app: &App) -> Router<App> {
    let mut r = Router::new().route(CERTIFICATE_PATH, get(certificate));
    for v in [Version::V1, Version::V2] {
        let mut names = vec![v.requests_path()];
        if v == Version::V2 {
            // The names 2.0 had in its drafts (the issue's `opencompliance_requests`).
            names.extend(["opendsr_requests", "opencompliance_requests"]);
        }
        let mut protected = Router::new();
        for n in names {
            protected = protected
                .route(&format!("/{n}"), axum::routing::post(create))
                .route(&format!("/{n}/{{id}}"), get(status_of).delete(cancel));
        }
        let protected =
            protected.route_layer(middleware::from_fn_with_state(app.clone(), authenticated));
        let versioned = Router::new()
            .route("/discovery", get(discovery))
            .route("/status", get(service_status))
            .merge(protected)
            .layer(Extension(v))
            .layer(middleware::from_fn_with_state(app.clone(), sign_answers));
        r = r.nest(&format!("/opendsr/v{}", v.major()), versioned);
    }
    r
}

/// The processor certificate (PEM), for controllers verifying signatures.
#[utoipa::path(get, path = "/opendsr/processor-certificate.pem", tag = "opendsr",
    responses(
        (status = 200, description = "The X.509 certificate whose key signs OpenDSR answers and callbacks (PEM)", content_type = "application/x-pem-file", body = String),
        (status = 404, description = "OpenDSR is not enabled", body = Object),
    ))]
pub async fn certificate(State(app): State<App>) -> Response {
    match processor(&app) {
        Ok(p) => (
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            p.certificate_pem().to_owned(),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// The identity types dsr matches, and the dsr term each becomes.
const IDENTITIES: &[(&str, TermType)] = &[
    ("email", TermType::Email),
    ("controller_customer_id", TermType::ExternalId),
    // Not in §5.1 (which lists device ids only besides these); dsr matches phones.
    ("phone_number", TermType::Phone),
];

/// Identity types of §5.1 dsr holds nothing for.
const DEVICE_IDENTITIES: &[&str] = &[
    "android_advertising_id",
    "android_id",
    "fire_advertising_id",
    "ios_advertising_id",
    "ios_vendor_id",
    "microsoft_advertising_id",
    "microsoft_publisher_id",
    "roku_publisher_id",
    "roku_advertising_id",
];

/// Discovery (§6): versions, identities, request types, certificate.
#[utoipa::path(get, path = "/opendsr/v2/discovery", tag = "opendsr",
    responses((status = 200, description = "What this processor supports (signed: X-OpenDSR-Signature)", body = Object)))]
pub async fn discovery(State(app): State<App>, Extension(v): Extension<Version>) -> Response {
    let p = match processor(&app) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let ids: Vec<Value> = IDENTITIES
        .iter()
        .map(|(t, _)| json!({"identity_type": t, "identity_format": "raw"}))
        .collect();
    answer(
        StatusCode::OK,
        &json!({
            "api_version": v.api_version(),
            "supported_identities": ids,
            "supported_subject_request_types": ["erasure", "access", "portability"],
            "processor_certificate": format!("{}{CERTIFICATE_PATH}", p.base_url()),
        }),
    )
}

/// The processor's status: up and ready to take requests, or not (503).
#[utoipa::path(get, path = "/opendsr/v2/status", tag = "opendsr",
    responses(
        (status = 200, description = "Ready to take requests", body = Object),
        (status = 503, description = "Starting (tenants' indexes loading)", body = Object),
    ))]
pub async fn service_status(State(app): State<App>, Extension(v): Extension<Version>) -> Response {
    if let Err(e) = processor(&app) {
        return e.into_response();
    }
    let ready = app.is_ready();
    answer(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &json!({
            "api_version": v.api_version(),
            "status": if ready { "ok" } else { "starting" },
        }),
    )
}

/// An identity of §5.3.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct Identity {
    /// `email`, `controller_customer_id`, `phone_number` (the types dsr matches).
    pub identity_type: String,
    /// The value.
    pub identity_value: String,
    /// `raw` (dsr matches identities in clear).
    pub identity_format: String,
}

/// A request type of §6.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectRequestType {
    /// GDPR_DELETE.
    Erasure,
    /// GDPR_EXPORT.
    Access,
    /// GDPR_PORTABILITY.
    Portability,
}

/// A request of §7.1.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct OpenDsrRequest {
    /// The controller's id of the request (UUID v4).
    pub subject_request_id: String,
    /// `erasure`, `access` or `portability`.
    pub subject_request_type: SubjectRequestType,
    /// When the subject made the request (RFC 3339).
    pub submitted_time: String,
    /// Whose data.
    #[serde(default)]
    pub subject_identities: Vec<Identity>,
    /// The version asked for (its major must be the route's).
    #[serde(default)]
    pub api_version: Option<String>,
    /// Where status changes are POSTed (at most 5).
    #[serde(default)]
    pub status_callback_urls: Vec<String>,
    /// `gdpr` (2.0 requires it; `ccpa` is refused: dsr handles GDPR requests).
    #[serde(default)]
    pub regulation: Option<String>,
    /// Processor-specific elements (accepted, not used).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub extensions: Option<serde_json::Map<String, Value>>,
    /// OpenGDPR 0.1.2's property id (accepted, not used).
    #[serde(default)]
    pub property_id: Option<String>,
}

fn key_of(id: &str) -> String {
    // A space cannot be in an Idempotency-Key header (visible characters only), so
    // these keys never meet the JSON API's.
    format!("opendsr {id}")
}

/// A UUID v4 in the canonical (lower-case) form, or the field's error.
fn request_uuid(text: &str) -> OdResult<String> {
    let u = uuid::Uuid::try_parse(text).map_err(|_| {
        field_error(
            "subject_request_id",
            "give a UUID v4 (e.g. a7551968-d5d6-44b2-9831-815ac9017798)",
        )
    })?;
    if u.get_version_num() != 4 {
        return Err(field_error(
            "subject_request_id",
            format!(
                "a UUID v4 is required (this one is v{})",
                u.get_version_num()
            ),
        ));
    }
    Ok(u.hyphenated().to_string())
}

/// The dsr term of the identities (the first one dsr matches), or the field's error.
fn term_of(ids: &[Identity]) -> OdResult<Term> {
    if ids.is_empty() {
        return Err(field_error(
            "subject_identities",
            "give at least one identity (identity_type, identity_value, identity_format)",
        ));
    }
    let mut unsupported = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let field = format!("subject_identities[{i}]");
        let ty = id.identity_type.as_str();
        let known = IDENTITIES.iter().find(|(t, _)| *t == ty);
        match id.identity_format.as_str() {
            "raw" => {}
            "sha1" | "md5" | "sha256" => {
                return Err(field_error(
                    &format!("{field}.identity_format"),
                    format!(
                        "{:?} is not supported: dsr matches identities in clear (its index keeps keyed fingerprints, not {} digests), so send the identity raw",
                        id.identity_format, id.identity_format
                    ),
                ));
            }
            other => {
                return Err(field_error(
                    &format!("{field}.identity_format"),
                    format!("unknown format {other:?} (raw, sha1, md5, sha256; dsr accepts raw)"),
                ));
            }
        }
        match known {
            Some((_, tt)) => {
                return Term::typed(*tt, id.identity_value.clone())
                    .map_err(|e| field_error(&format!("{field}.identity_value"), e.to_string()));
            }
            None if DEVICE_IDENTITIES.contains(&ty) => unsupported.push(ty.to_owned()),
            None => {
                return Err(field_error(
                    &format!("{field}.identity_type"),
                    format!(
                        "unknown identity type {ty:?} (dsr matches: {})",
                        IDENTITIES
                            .iter()
                            .map(|(t, _)| *t)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
    }
    Err(field_error(
        "subject_identities",
        format!(
            "dsr holds no device identifiers ({}); give one of: {}",
            unsupported.join(", "),
            IDENTITIES
                .iter()
                .map(|(t, _)| *t)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ))
}

fn check(b: &OpenDsrRequest, v: Version, app: &App) -> OdResult<()> {
    if chrono::DateTime::parse_from_rfc3339(&b.submitted_time).is_err() {
        return Err(field_error(
            "submitted_time",
            "give an RFC 3339 date (e.g. 2018-10-02T15:00:00Z)",
        ));
    }
    if let Some(a) = &b.api_version
        && a.split('.').next() != Some(v.major())
    {
        return Err(field_error(
            "api_version",
            format!(
                "{a:?} is not version {} of the protocol this route serves (use /opendsr/v{}/…)",
                v.major(),
                a.split('.').next().unwrap_or("")
            ),
        ));
    }
    match (b.regulation.as_deref(), v) {
        (Some("gdpr"), _) | (None, Version::V1) => {}
        (None, Version::V2) => {
            return Err(field_error(
                "regulation",
                "required in OpenDSR 2.0: give \"gdpr\"",
            ));
        }
        (Some(r), _) => {
            return Err(field_error(
                "regulation",
                format!("{r:?} is not handled: this processor answers GDPR requests (\"gdpr\")"),
            ));
        }
    }
    if b.status_callback_urls.len() > MAX_CALLBACK_URLS {
        return Err(field_error(
            "status_callback_urls",
            format!("give at most {MAX_CALLBACK_URLS} URLs"),
        ));
    }
    for (i, u) in b.status_callback_urls.iter().enumerate() {
        crate::callbacks::check_url(
            u,
            app.settings().allow_private_callbacks,
            app.settings().hipaa,
        )
        .map_err(|m| field_error(&format!("status_callback_urls[{i}]"), m))?;
    }
    Ok(())
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Create a request (§7): 201 with the receipt, signed.
#[utoipa::path(post, path = "/opendsr/v2/requests", tag = "opendsr",
    request_body = OpenDsrRequest,
    responses(
        (status = 201, description = "Received (signed: X-OpenDSR-Signature over the body)", body = Object),
        (status = 400, description = "The body is wrong (the field is named in error.errors[0].location)", body = Object),
        (status = 401, description = "Not authenticated", body = Object),
        (status = 403, description = "Missing scope requests:write", body = Object),
        (status = 404, description = "No subject matches", body = Object),
        (status = 413, description = "Body too large", body = Object),
        (status = 429, description = "Rate limited", body = Object),
    ),
    security(("oauth2" = ["requests:write"]), ("apiToken" = [])))]
pub async fn create(
    State(app): State<App>,
    Extension(v): Extension<Version>,
    Extension(principal): Extension<Principal>,
    req: Request,
) -> Result<Response, OdError> {
    processor(&app)?;
    let p = app.permit(&principal, Scope::RequestsWrite, Class::Create)?;
    let raw = crate::body::read_limited(req.into_body(), app.settings().max_body_bytes).await?;
    let value: Value = serde_json::from_slice(&raw).map_err(|e| {
        OdError(ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ),
        ))
    })?;
    let b: OpenDsrRequest = crate::body::parse(&raw, false)?;
    let id = request_uuid(&b.subject_request_id)?;
    check(&b, v, &app)?;
    let term = term_of(&b.subject_identities)?;
    let t = app.tenant(&p).await?;
    // The body as parsed (key order and spacing do not make another body).
    let digest = hex::encode(Sha256::digest(value.to_string().as_bytes()));
    let encoded = base64::engine::general_purpose::STANDARD.encode(&raw);
    let key = key_of(&id);
    let _guard = app.inner.creating.lock().await;
    if let Some((hash, rid)) = app
        .store()
        .idempotency_key(&p.tenant, &p.client_id, &key)
        .await?
    {
        if hash != digest {
            return Err(field_error(
                "subject_request_id",
                "this id was sent before with another body; a new request needs a new id",
            ));
        }
        let (r, _) = t.engine.get(&RequestId::from_stored(rid)).await?;
        return Ok(receipt(v, &p, &r, &id, &encoded));
    }
    let ty = match b.subject_request_type {
        SubjectRequestType::Erasure => RequestType::Delete,
        SubjectRequestType::Access => RequestType::Export,
        SubjectRequestType::Portability => RequestType::Portability,
    };
    let mut opts = CreateOptions::new(ty, Target::Term(term));
    opts.requested_by = format!("{} (opendsr {id})", p.actor());
    opts.on_duplicate = OnDuplicate::Refuse;
    let dir = t.dir.read().await;
    let out = t.engine.create(&dir, opts).await?;
    drop(dir);
    let now = chrono::Utc::now().timestamp_micros();
    app.store()
        .put_idempotency_key(
            &p.tenant,
            &p.client_id,
            &key,
            &digest,
            out.request.id.as_str(),
            now,
        )
        .await?;
    for u in &b.status_callback_urls {
        app.store()
            .add_callback(
                &p.tenant,
                out.request.id.as_str(),
                &format!("{CALLBACK_PREFIX}{id} {u}"),
            )
            .await?;
    }
    if !b.status_callback_urls.is_empty() {
        crate::callbacks::observe(&app).await;
    }
    crate::notify::track(&app, &t, &out.request).await;
    tracing::info!(request = %out.request.id, client = %p.client_id, "opendsr request created");
    Ok(receipt(v, &p, &out.request, &id, &encoded))
}

fn controller_id(p: &Principal) -> String {
    p.tenant.as_str().to_owned()
}

fn receipt(v: Version, p: &Principal, r: &DsrRequest, id: &str, encoded: &str) -> Response {
    answer(
        StatusCode::CREATED,
        &json!({
            "controller_id": controller_id(p),
            "expected_completion_time": rfc3339(r.legal_deadline),
            "received_time": rfc3339(r.created_at),
            "encoded_request": encoded,
            "subject_request_id": id,
            "api_version": v.api_version(),
        }),
    )
}

/// The OpenDSR status of a request and its related requests (a merge set is one
/// person): `pending` until a service starts, `in_progress` while any works (failed
/// parts wait for a retry there), `completed` when all are, `cancelled` when cancelled
/// or refused by a decision.
pub(crate) fn status_of_parts(parts: &[(RequestStatus, bool)]) -> &'static str {
    use RequestStatus as S;
    if parts
        .iter()
        .any(|(s, _)| matches!(s, S::Cancelled | S::Refused))
    {
        return "cancelled";
    }
    if parts.iter().all(|(s, _)| *s == S::Completed) {
        return "completed";
    }
    if parts.iter().all(|(s, started)| {
        matches!(s, S::Received | S::OnHold) || (*s == S::InProgress && !started)
    }) {
        return "pending";
    }
    "in_progress"
}

fn started(tasks: &[Task]) -> bool {
    tasks
        .iter()
        .any(|t| t.status() != TaskStatus::Pending || t.attempt > 0)
}

/// What a controller sees of a request: the status and the fields the status and the
/// callback bodies share.
pub(crate) async fn view(app: &App, t: &Tenant, r: &DsrRequest) -> dsr_engine::Result<Value> {
    let (_, tasks) = t.engine.get(&r.id).await?;
    let mut parts = vec![(r.status(), started(&tasks))];
    for rel in t.engine.related_of(r).await? {
        let (_, tasks) = t.engine.get(&rel.id).await?;
        parts.push((rel.status(), started(&tasks)));
    }
    let status = status_of_parts(&parts);
    let mut v = json!({
        "controller_id": r.tenant.as_str(),
        "expected_completion_time": rfc3339(r.legal_deadline),
        "request_status": status,
    });
    if status == "completed"
        && matches!(r.ty, RequestType::Export | RequestType::Portability)
        && let Some(p) = &app.inner.opendsr
    {
        v["results_url"] = json!(format!("{}/api/v1/requests/{}/package", p.base_url(), r.id));
    }
    Ok(v)
}

async fn find(app: &App, p: &Principal, id: &str) -> OdResult<(Arc<Tenant>, DsrRequest, String)> {
    let not_found = || {
        OdError(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no request {id:?} from this controller"),
        ))
    };
    let id = request_uuid(id).map_err(|_| not_found())?;
    let Some((_, rid)) = app
        .store()
        .idempotency_key(&p.tenant, &p.client_id, &key_of(&id))
        .await?
    else {
        return Err(not_found());
    };
    let t = app.tenant(p).await?;
    let (r, _) = t.engine.get(&RequestId::from_stored(rid)).await?;
    Ok((t, r, id))
}

/// A request's status (§8), signed.
#[utoipa::path(get, path = "/opendsr/v2/requests/{id}", tag = "opendsr",
    params(("id" = String, Path, description = "The subject_request_id")),
    responses(
        (status = 200, description = "The status (signed: X-OpenDSR-Signature over the body)", body = Object),
        (status = 401, description = "Not authenticated", body = Object),
        (status = 403, description = "Missing scope requests:read", body = Object),
        (status = 404, description = "No such request from this controller", body = Object),
        (status = 429, description = "Rate limited", body = Object),
    ),
    security(("oauth2" = ["requests:read"]), ("apiToken" = [])))]
pub async fn status_of(
    State(app): State<App>,
    Extension(v): Extension<Version>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, OdError> {
    processor(&app)?;
    let p = app.permit(&principal, Scope::RequestsRead, Class::Read)?;
    let (t, r, id) = find(&app, &p, &id).await?;
    let mut body = view(&app, &t, &r).await?;
    body["subject_request_id"] = json!(id);
    body["api_version"] = json!(v.api_version());
    Ok(answer(StatusCode::OK, &body))
}

/// Cancel a request while it is pending (§9): 202, signed.
#[utoipa::path(delete, path = "/opendsr/v2/requests/{id}", tag = "opendsr",
    params(("id" = String, Path, description = "The subject_request_id")),
    responses(
        (status = 202, description = "Cancelled (signed: X-OpenDSR-Signature over the body)", body = Object),
        (status = 400, description = "Not pending any more", body = Object),
        (status = 401, description = "Not authenticated", body = Object),
        (status = 403, description = "Missing scope requests:write", body = Object),
        (status = 404, description = "No such request from this controller", body = Object),
        (status = 429, description = "Rate limited", body = Object),
    ),
    security(("oauth2" = ["requests:write"]), ("apiToken" = [])))]
pub async fn cancel(
    State(app): State<App>,
    Extension(v): Extension<Version>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, OdError> {
    processor(&app)?;
    let p = app.permit(&principal, Scope::RequestsWrite, Class::Write)?;
    let (t, r, id) = find(&app, &p, &id).await?;
    let status = view(&app, &t, &r).await?["request_status"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    match status.as_str() {
        "pending" => {
            t.engine.cancel(&r.id, &p.actor()).await?;
            for rel in &r.related {
                // A related request may have finished or been cancelled on its own.
                if let Err(e) = t.engine.cancel(rel, &p.actor()).await {
                    tracing::debug!(error = %e, "opendsr: a related request was not cancelled");
                }
            }
            crate::callbacks::observe(&app).await;
        }
        "cancelled" => {}
        s => {
            return Err(OdError(ApiError::new(
                StatusCode::BAD_REQUEST,
                "not_allowed",
                format!(
                    "the request is {s}: a request can be cancelled only while pending (OpenDSR §9)"
                ),
            )));
        }
    }
    Ok(answer(
        StatusCode::ACCEPTED,
        &json!({
            "controller_id": controller_id(&p),
            "subject_request_id": id,
            "received_time": rfc3339(chrono::Utc::now()),
            "api_version": v.api_version(),
        }),
    ))
}

/// The body of an OpenDSR callback (§8.6) for a request's current state, with its
/// OpenDSR status.
pub(crate) async fn callback_body(
    app: &App,
    t: &Tenant,
    r: &DsrRequest,
    subject_request_id: &str,
    url: &str,
) -> dsr_engine::Result<(String, Value)> {
    let mut v = view(app, t, r).await?;
    let status = v["request_status"].as_str().unwrap_or("").to_owned();
    v["subject_request_id"] = json!(subject_request_id);
    v["status_callback_url"] = json!(url);
    Ok((status, v))
}

/// Splits a stored callback URL into the controller's request id and the URL, when it
/// is an OpenDSR callback.
pub(crate) fn split_callback(stored: &str) -> Option<(&str, &str)> {
    stored.strip_prefix(CALLBACK_PREFIX)?.split_once(' ')
}

#[cfg(test)]
mod tests {
    use super::*;
    use RequestStatus as S;

    #[test]
    fn statuses_follow_the_whole_merge_set() {
        assert_eq!(status_of_parts(&[(S::InProgress, false)]), "pending");
        assert_eq!(status_of_parts(&[(S::OnHold, false)]), "pending");
        assert_eq!(status_of_parts(&[(S::InProgress, true)]), "in_progress");
        assert_eq!(
            status_of_parts(&[(S::Completed, true), (S::InProgress, false)]),
            "in_progress"
        );
        assert_eq!(
            status_of_parts(&[(S::Completed, true), (S::Completed, true)]),
            "completed"
        );
        assert_eq!(status_of_parts(&[(S::Failed, true)]), "in_progress");
        assert_eq!(status_of_parts(&[(S::Refused, false)]), "cancelled");
    }

    #[test]
    fn ids_and_identities_are_checked() {
        assert!(request_uuid("a7551968-d5d6-44b2-9831-815ac9017798").is_ok());
        assert_eq!(
            request_uuid("A7551968-D5D6-44B2-9831-815AC9017798").unwrap(),
            "a7551968-d5d6-44b2-9831-815ac9017798"
        );
        assert!(request_uuid("01890a5d-ac96-774b-bcce-b302099a8057").is_err());
        assert!(request_uuid("nope").is_err());
        let id = |t: &str, f: &str| Identity {
            identity_type: t.into(),
            identity_value: "jean@example.fr".into(),
            identity_format: f.into(),
        };
        assert!(term_of(&[id("email", "raw")]).is_ok());
        assert!(term_of(&[id("ios_advertising_id", "raw"), id("email", "raw")]).is_ok());
        assert!(term_of(&[id("ios_advertising_id", "raw")]).is_err());
        assert!(term_of(&[id("email", "sha256")]).is_err());
        assert!(term_of(&[id("shoe_size", "raw")]).is_err());
        assert!(term_of(&[]).is_err());
        assert_eq!(
            split_callback("opendsr abc http://x/y"),
            Some(("abc", "http://x/y"))
        );
        assert_eq!(split_callback("http://x/y"), None);
    }

    #[test]
    fn base_urls_give_the_domain() {
        assert_eq!(
            host_of("https://opendsr.example.com").unwrap(),
            "opendsr.example.com"
        );
        assert_eq!(host_of("http://127.0.0.1:8080/x").unwrap(), "127.0.0.1");
        assert_eq!(host_of("http://[::1]:80").unwrap(), "::1");
        assert!(host_of("ftp://x").is_err());
        assert!(host_of("https://u:p@x").is_err());
    }

    #[test]
    fn a_generated_key_signs_what_its_certificate_verifies() {
        let key = generate_key().unwrap();
        let cert = self_signed(&key, "opendsr.example.com").unwrap();
        let p = Processor {
            key: ring::signature::RsaKeyPair::from_pkcs8(&key).unwrap(),
            cert_pem: pem_encode("CERTIFICATE", &cert),
            base_url: "https://opendsr.example.com".into(),
            domain: "opendsr.example.com".into(),
        };
        p.check_pair().unwrap();
        let sig = base64::engine::general_purpose::STANDARD
            .decode(p.sign(b"{\"a\":1}").unwrap())
            .unwrap();
        let (_, c) = x509_parser::parse_x509_certificate(&cert).unwrap();
        let pk = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            c.public_key().subject_public_key.data.to_vec(),
        );
        assert!(pk.verify(b"{\"a\":1}", &sig).is_ok());
        assert!(pk.verify(b"{\"a\":2}", &sig).is_err());
    }
}
