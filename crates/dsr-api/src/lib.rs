//! The dsr engine over HTTP, as a library: an axum [`Router`] a host on axum can nest,
//! and everything it needs — wire types, authentication (OAuth 2.0 client credentials
//! and static API tokens with scopes), tenant isolation, limits, status callbacks,
//! notifications to data subjects (`notify`), metrics and the OpenAPI 3.1 document generated from the handlers.
//!
//! The key design decision: **the client decides the tenant.** A request never names a
//! tenant; the authenticated client belongs to exactly one, and every handler looks ids
//! up only in it, so another tenant's ids are "not found" (404) like ids that do not
//! exist. Rate limits are keyed on the same client id, never on an address or a header.
//!
//! `bins/dsr-server` adds configuration, TLS, start-up and shutdown.

#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod body;
pub mod callbacks;
pub mod error;
pub mod follow;
pub mod import;
pub mod limits;
pub mod metrics;
pub mod notify;
pub mod openapi;
pub mod opendsr;
pub mod portal;
pub mod routes;
pub mod views;

pub use app::{App, Settings, Tenant};
pub use auth::{AuthSettings, Principal};
pub use error::{ApiError, ErrorBody};
pub use limits::{Rate, Rates};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use std::time::Instant;

/// Records the metrics and the (personal-data-free) log line of every request, and
/// bounds its duration.
async fn observe(State(app): State<App>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    // A standard method's clone and the matched path's (an Arc) do not allocate.
    let method = req.method().clone();
    // The route template, never the path sent: ids and values stay out of logs and
    // metrics.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let timeout = app.settings().request_timeout;
    let resp = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request took longer than {} s and was stopped; try again",
                timeout.as_secs()
            ),
        )
        .into_response(),
    };
    let took = started.elapsed();
    let status = resp.status().as_u16();
    app.metrics().observe(method.as_str(), route, status, took);
    tracing::info!(
        target: "dsr_api::access",
        method = %method,
        route = %route,
        status,
        micros = took.as_micros() as u64,
        "request"
    );
    resp
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        "no such endpoint; the API is described at GET /openapi.json",
    )
}

async fn method_not_allowed(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        return ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not accept that method; see GET /openapi.json",
        )
        .into_response();
    }
    resp
}

/// Authenticates once, before the body is read (the handlers then check scope and
/// rate limit on the [`Principal`] it leaves in the request's extensions): an anonymous caller learns nothing about what a body should
/// be, and spends no parsing.
async fn authenticated(State(app): State<App>, mut req: Request, next: Next) -> Response {
    match app.auth().authenticate(req.headers()).await {
        Ok(p) => {
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// The whole API: `/api/v1/…`, OpenDSR under `/opendsr/…` ([`opendsr`]), `/oauth/token`,
/// `/openapi.json`, `/healthz`, `/readyz`.
/// Metrics are on [`metrics_router`], for a listener of the operator's.
pub fn router(app: App) -> Router {
    let protected = Router::new()
        .route("/api/v1/subjects", get(routes::search))
        .route("/api/v1/subjects/search", post(routes::correlate))
        .route("/api/v1/subjects/import", post(routes::import))
        .route(
            "/api/v1/subjects/{id}",
            put(routes::put_subject).delete(routes::delete_subject),
        )
        .route(
            "/api/v1/requests",
            post(routes::create_request).get(routes::list_requests),
        )
        .route("/api/v1/requests/{id}", get(routes::get_request))
        .route("/api/v1/requests/{id}/cancel", post(routes::cancel))
        .route("/api/v1/requests/{id}/decision", post(routes::decide))
        .route("/api/v1/requests/{id}/extension", post(routes::extend))
        .route("/api/v1/requests/{id}/retry", post(routes::retry))
        .route("/api/v1/requests/{id}/package", get(routes::package))
        .route("/api/v1/requests/{id}/events", get(routes::events))
        .route("/api/v1/services", get(routes::services))
        .route("/api/v1/compliance/check", post(routes::compliance))
        .route("/api/v1/audit/verify", get(routes::audit_verify))
        .route("/api/v1/callbacks/key", get(routes::callback_key))
        .route_layer(middleware::from_fn_with_state(app.clone(), authenticated));
    let portal = match &app.settings().portal {
        Some(_) => portal::router(),
        None => Router::new(),
    };
    Router::new()
        .merge(protected)
        .merge(portal)
        .merge(opendsr::routes(&app))
        .route("/oauth/token", post(routes::token))
        .route("/openapi.json", get(openapi::serve))
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .fallback(not_found)
        .layer(middleware::from_fn(method_not_allowed))
        .layer(middleware::from_fn_with_state(app.clone(), observe))
        .layer(middleware::from_fn(close_after_refused_body))
        // Bodies are read by our own extractors with their own limits (JSON, import);
        // axum's default limit would answer before them with a plain-text 413.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(app)
}

/// An error answered to a request with a body says `Connection: close`: the body may
/// not have been read (a 401 before it, a 413 on its declared length), and the server
/// then drops the connection, so a client must not send its next request on it.
async fn close_after_refused_body(req: Request, next: Next) -> Response {
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    let mut resp = next.run(req).await;
    if has_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
        resp.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    resp
}

/// The operator's listener: `GET /metrics` (Prometheus text) of every tenant, without
/// a client token (a scraper is not a client of a tenant) — behind `metrics_token` when
/// the settings have one. Meant for an address only the monitoring network reaches; it
/// is not part of the API or its OpenAPI document.
pub fn metrics_router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(routes::metrics))
        .fallback(|| async { (StatusCode::NOT_FOUND, "only GET /metrics here\n") })
        .with_state(app)
}
