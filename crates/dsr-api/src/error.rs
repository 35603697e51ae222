//! The one error shape of the API: `{"code", "message", "details"}`, and the mapping
//! from the engine's errors to HTTP status codes (only this crate maps errors to HTTP).
//!
//! Messages tell the caller what to fix. No message echoes another subject's data:
//! engine errors that list candidates are only produced for the caller's own tenant,
//! and store errors (which name files) are logged, not returned.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// The error body of every endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code (`invalid_body`, `not_found`, `rate_limited`, …).
    pub code: String,
    /// What was wrong and what would be accepted.
    pub message: String,
    /// More about it (the field at fault, candidates of an ambiguous term, …).
    #[schema(value_type = Object)]
    pub details: Value,
}

/// An API error: a status and the body.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: ErrorBody,
    /// Extra headers (`WWW-Authenticate`, `Retry-After`).
    pub headers: Vec<(header::HeaderName, String)>,
}

impl ApiError {
    /// An error with empty details.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody {
                code: code.to_owned(),
                message: message.into(),
                details: json!({}),
            },
            headers: Vec::new(),
        }
    }
    /// Sets the details.
    pub fn details(mut self, details: Value) -> Self {
        self.body.details = details;
        self
    }
    /// Adds a header.
    pub fn header(mut self, name: header::HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    /// 400 about one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", message)
            .details(json!({ "field": field }))
    }
    /// 404 for an id the caller's tenant does not have (another tenant's ids included:
    /// the answer is the same, so ids of other tenants cannot be probed).
    pub fn not_found(what: &str, id: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} {id:?} in your tenant"),
        )
    }
    /// 401 with the `WWW-Authenticate` challenge.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        let message = message.into();
        let challenge = format!(
            "Bearer realm=\"dsr\", error=\"invalid_token\", error_description=\"{}\"",
            message.replace('"', "'")
        );
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
            .header(header::WWW_AUTHENTICATE, challenge)
    }
    /// 500 without internals (they are logged by the caller).
    pub fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to answer; the error is logged (try again, and report it if it lasts)",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body)).into_response();
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                r.headers_mut().insert(k, v);
            }
        }
        r
    }
}

impl From<dsr_engine::Error> for ApiError {
    fn from(e: dsr_engine::Error) -> Self {
        use dsr_engine::Error as E;
        match e {
            E::Ambiguous { candidates, .. } => ApiError::new(
                StatusCode::CONFLICT,
                "ambiguous",
                format!(
                    "the term matches {} subjects that are not one merge set; say which one is meant with \"subject\": {{\"id\": …}}",
                    candidates.len()
                ),
            )
            .details(json!({ "candidates": candidates.iter().map(candidate).collect::<Vec<_>>() })),
            E::NeedsReview { candidate, .. } => ApiError::new(
                StatusCode::CONFLICT,
                "needs_review",
                "the term only matches one subject weakly; confirm it by giving \"subject\": {\"id\": …} with the term",
            )
            .details(json!({ "candidates": [candidate_of(&candidate)] })),
            E::NoSubject(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_subject",
                "no subject of your tenant matches the term or id: nothing to do (look the person up with GET /api/v1/subjects)",
            ),
            E::UnknownRequest(id) => ApiError::not_found("request", &id),
            E::Duplicate {
                existing, status, ty, ..
            } => ApiError::new(
                StatusCode::CONFLICT,
                "duplicate",
                format!(
                    "a {ty} request for this subject is already in flight: {existing} ({status}); wait for it to finish or cancel it"
                ),
            )
            .details(json!({ "existing": existing, "status": status })),
            E::NotAllowed { .. } => {
                ApiError::new(StatusCode::CONFLICT, "not_allowed", e.to_string())
            }
            E::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            E::MergeSet { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "merge_set",
                e.to_string(),
            ),
            E::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", m),
            E::ReplacementNotStored { .. } | E::ReasonRequired(_) | E::ExtensionLimit { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string())
            }
            E::Model(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", m.to_string()),
            E::Match(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", m.to_string()),
            E::Package(m) => ApiError::new(StatusCode::CONFLICT, "package", m),
            E::UnknownService { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "unknown_service", e.to_string())
            }
            other => {
                tracing::error!(error = %other, "engine error");
                ApiError::internal()
            }
        }
    }
}

/// A candidate as an error may show it: ids, kind, confidence and which fields matched,
/// never the stored values or names (an error never echoes a subject's data).
fn candidate(c: &dsr_engine::Candidate) -> Value {
    json!({
        "subjectId": c.subject_id,
        "kind": c.kind,
        "confidence": c.confidence,
        "score": c.score,
        "mergeSet": c.merge_set,
        "matchedFields": c.evidence.iter().map(|e| e.split(" = ").next().unwrap_or("").to_owned()).collect::<Vec<_>>(),
    })
}

fn candidate_of(c: &dsr_engine::Candidate) -> Value {
    candidate(c)
}

impl From<dsr_ops::Error> for ApiError {
    fn from(e: dsr_ops::Error) -> Self {
        match e {
            dsr_ops::Error::Engine(e) => e.into(),
            dsr_ops::Error::Invalid(m) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", m),
            dsr_ops::Error::Model(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid", m.to_string())
            }
            dsr_ops::Error::Match(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid", m.to_string())
            }
            other => {
                tracing::error!(error = %other, "operation failed");
                ApiError::internal()
            }
        }
    }
}

impl From<dsr_store_sqlite::Error> for ApiError {
    fn from(e: dsr_store_sqlite::Error) -> Self {
        tracing::error!(error = %e, "store error");
        if e.is_busy() {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the database is busy; try again in a moment",
            )
            .header(header::RETRY_AFTER, "1");
        }
        ApiError::internal()
    }
}

impl From<dsr_match::Error> for ApiError {
    fn from(e: dsr_match::Error) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string())
    }
}

impl From<dsr_model::Error> for ApiError {
    fn from(e: dsr_model::Error) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string())
    }
}

/// Result with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;
