//! The handlers. Each authenticates, checks its scope, counts against the client's
//! rate limit, and acts only inside the client's tenant: an id of another tenant is
//! not found (404), exactly like an id that does not exist.

use crate::app::{App, Tenant};
use crate::auth::Principal;
use crate::body::{JsonBody, parse, too_large};
use crate::callbacks;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::limits::Class;
use crate::views::*;
use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dsr_engine::{
    CreateOptions, OnDuplicate, Replacement, ReplacementField, RequestFilter, RequestId, Target,
};
use dsr_match::SearchOptions;
use dsr_model::{SubjectId, Term};
use dsr_ops::clients::Scope;
use dsr_ops::wire::{RequestSummaryView, RequestView};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;

fn request_id(text: &str) -> ApiResult<RequestId> {
    // Not a UUID: it cannot be an id of this tenant (same answer as an unknown one).
    RequestId::parse(text).map_err(|_| ApiError::not_found("request", text))
}

fn subject_id(text: &str) -> ApiResult<SubjectId> {
    SubjectId::new(text).map_err(|_| ApiError::not_found("subject", text))
}

fn search_opts(region: Option<String>) -> SearchOptions {
    SearchOptions {
        region,
        ..SearchOptions::default()
    }
}

fn entities(t: &dsr_match::Directory, r: &dsr_match::SearchResult) -> SearchResponse {
    SearchResponse {
        entities: r
            .matches
            .iter()
            .filter_map(|m| t.get(&m.subject_id).map(|s| Entity::new(m, &s)))
            .collect(),
        warnings: r.warnings.clone(),
    }
}

/// Look a subject up by one identifier.
#[utoipa::path(get, path = "/api/v1/subjects", tag = "subjects",
    params(SearchQuery),
    responses(
        (status = 200, description = "The subjects found, best first", body = SearchResponse),
        (status = 400, description = "A parameter is missing or wrong", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope subjects:read", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["subjects:read"]), ("apiToken" = [])))]
pub async fn search(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    q: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<SearchResponse>> {
    let p = app.permit(&principal, Scope::SubjectsRead, Class::Read)?;
    let Query(q) = q.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            format!(
                "{}; give searchType (NAME, ADDRESS, PHONE, EMAIL, TWITTER, FACEBOOK, INSTAGRAM, WHATSAPP, EXTERNAL_ID, USER_ID, EXTERNAL_CONTACT_ID or DIALER_CONTACT_ID) and searchValue",
                e.body_text()
            ),
        )
    })?;
    let term = q
        .search_type
        .term(&q.search_value)
        .map_err(|e| ApiError::field("searchValue", e.to_string()))?;
    let t = app.tenant(&p).await?;
    let dir = t.dir.read().await;
    let r = dir.search(&term, &search_opts(q.region))?;
    Ok(Json(entities(&dir, &r)))
}

/// Look up several identifiers of one person and correlate them (G-13).
#[utoipa::path(post, path = "/api/v1/subjects/search", tag = "subjects",
    request_body = CorrelateBody,
    responses(
        (status = 200, description = "Subjects found, corroborated first", body = CorrelateResponse),
        (status = 400, description = "The body is wrong", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope subjects:read", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["subjects:read"]), ("apiToken" = [])))]
pub async fn correlate(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    req: Request,
) -> ApiResult<Json<CorrelateResponse>> {
    let p = app.permit(&principal, Scope::SubjectsRead, Class::Read)?;
    let bytes = crate::body::bytes_of(req, &app).await?;
    // Several identifiers of one person are expected here (not bulk).
    let b: CorrelateBody = parse(&bytes, false)?;
    if b.identifiers.is_empty() || b.identifiers.len() > 10 {
        return Err(ApiError::field(
            "terms",
            "give 1 to 10 identifiers of one person (this is not a bulk lookup)",
        ));
    }
    let terms: Vec<Term> = b
        .identifiers
        .iter()
        .enumerate()
        .map(|(i, t)| {
            t.ty.term(&t.value)
                .map_err(|e| ApiError::field(&format!("terms[{i}].value"), e.to_string()))
        })
        .collect::<ApiResult<_>>()?;
    let t = app.tenant(&p).await?;
    let dir = t.dir.read().await;
    let c = dir.correlate(&terms, &search_opts(b.region))?;
    Ok(Json(CorrelateResponse {
        subjects: c
            .subjects
            .iter()
            .filter_map(|x| dir.get(&x.subject_id).map(|s| CorrelatedView::new(x, &s)))
            .collect(),
        per_term: c.per_term.iter().map(|r| entities(&dir, r)).collect(),
    }))
}

/// camelCase keys of the API to the import format's names.
fn import_keys(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(m) = v.as_object_mut() {
        for (from, to) in [
            ("externalIds", "external_ids"),
            ("mergeSet", "merge_set"),
            ("contactList", "contact_list"),
        ] {
            if let Some(x) = m.remove(from) {
                m.insert(to.to_owned(), x);
            }
        }
    }
    v
}

/// Create or replace a subject (the index is updated at once).
#[utoipa::path(put, path = "/api/v1/subjects/{id}", tag = "subjects",
    params(("id" = String, Path, min_length = 1, max_length = 256, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$", description = "The subject id")),
    request_body = SubjectBody,
    responses(
        (status = 200, description = "Replaced", body = SubjectWritten),
        (status = 201, description = "Created", body = SubjectWritten),
        (status = 400, description = "The subject is not accepted", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope subjects:write", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["subjects:write"]), ("apiToken" = [])))]
pub async fn put_subject(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(body, _): JsonBody<serde_json::Value>,
) -> ApiResult<Response> {
    let p = app.permit(&principal, Scope::SubjectsWrite, Class::Write)?;
    let mut body = import_keys(body);
    match body.as_object_mut() {
        Some(m) => match m.get("id").filter(|v| !v.is_null()) {
            None => {
                m.insert("id".into(), json!(id));
            }
            Some(v) if v.as_str() == Some(id.as_str()) => {}
            Some(_) => {
                return Err(ApiError::field(
                    "id",
                    "the id in the body differs from the id in the path; they must be the same (or leave it out of the body)",
                ));
            }
        },
        None => {
            return Err(ApiError::field(
                "",
                "the body must be one subject (a JSON object)",
            ));
        }
    }
    let parsed = dsr_ops::import::parse_line(&body.to_string())
        .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "invalid_subject", m))?;
    let t = app.tenant(&p).await?;
    let s = parsed.subject;
    let mut warnings = parsed.warnings;
    let suppressed = t.engine.suppressed(&s).await?;
    if let Some(hit) = suppressed.first() {
        let msg = format!(
            "an identifier of this subject belongs to a person erased on {} (delete request {}, GDPR art. 17)",
            hit.erased_at.format("%Y-%m-%d"),
            hit.request_id
        );
        if app.store().refuses_erased(&p.tenant).await? {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "erased_subject",
                format!("{msg}; this tenant refuses re-imports of erased subjects"),
            ));
        }
        warnings.push(format!("{msg}; check the lawful basis before keeping it"));
    }
    let mut dir = t.dir.write().await;
    let counts = app
        .store()
        .put_subjects(&p.tenant, std::slice::from_ref(&s))
        .await?;
    warnings.extend(dir.upsert(s.clone())?);
    drop(dir);
    let created = counts.created > 0;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(SubjectWritten {
            subject: SubjectView::from(&s),
            created,
            warnings,
        }),
    )
        .into_response())
}

/// Delete a subject (the index is updated at once).
#[utoipa::path(delete, path = "/api/v1/subjects/{id}", tag = "subjects",
    params(("id" = String, Path, min_length = 1, max_length = 256, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$", description = "The subject id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope subjects:write", body = ErrorBody),
        (status = 404, description = "No such subject in your tenant", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["subjects:write"]), ("apiToken" = [])))]
pub async fn delete_subject(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let p = app.permit(&principal, Scope::SubjectsWrite, Class::Write)?;
    let sid = subject_id(&id)?;
    let t = app.tenant(&p).await?;
    let mut dir = t.dir.write().await;
    let gone = app.store().remove_subject(&p.tenant, &sid).await?;
    dir.remove(&sid);
    if gone {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("subject", &id))
    }
}

/// Import subjects from JSON Lines (the format and per-line report of `dsr import`).
#[utoipa::path(post, path = "/api/v1/subjects/import", tag = "subjects",
    request_body(content(
        (String = "application/x-ndjson"),
        (String = "text/plain"),
    ), description = "One subject per line (JSON Lines, docs/import-format.md)"),
    responses(
        (status = 200, description = "The per-line report", body = ImportReportView),
        (status = 400, description = "The body is empty, or could not be read to its end", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope subjects:write", body = ErrorBody),
        (status = 413, description = "Body too large (`details.report`: what landed before the limit, when it was streamed)", body = ErrorBody),
        (status = 429, description = "Rate limited, or too many imports at once", body = ErrorBody),
    ),
    security(("oauth2" = ["subjects:write"]), ("apiToken" = [])))]
pub async fn import(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    req: Request,
) -> ApiResult<Json<ImportReportView>> {
    let p = app.permit(&principal, Scope::SubjectsWrite, Class::Write)?;
    let Ok(_slot) = app.inner.imports.try_acquire() else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "imports_busy",
            format!(
                "{} imports are already running; retry when one has finished",
                app.settings().max_concurrent_imports
            ),
        )
        .header(header::RETRY_AFTER, "5"));
    };
    let t = app.tenant(&p).await?;
    let (parts, body) = req.into_parts();
    let report = crate::import::run(&app, t, p.tenant.clone(), &parts.headers, body).await?;
    Ok(Json(report))
}

fn check_callback_url(app: &App, url: &str) -> ApiResult<()> {
    callbacks::check_url(
        url,
        app.settings().allow_private_callbacks,
        app.settings().hipaa,
    )
    .map_err(|m| ApiError::field("callbackUrls", m))
}

async fn detail(app: &App, t: &Tenant, id: &RequestId, existing: bool) -> ApiResult<RequestDetail> {
    let (r, tasks) = t.engine.get(id).await?;
    let related = t.engine.related_of(&r).await?;
    let now = t.engine.clock().now();
    let cbs = app
        .store()
        .deliveries(t.engine.tenant(), id.as_str())
        .await?;
    let notices = app
        .store()
        .notifications(t.engine.tenant(), id.as_str())
        .await?;
    Ok(RequestDetail {
        request: RequestView::new(&r, &tasks, &related, now),
        notifications: notices.into_iter().map(NotificationView::from).collect(),
        callbacks: cbs
            .into_iter()
            .map(|d| CallbackView {
                // An OpenDSR callback is stored with the controller's id before its URL.
                url: crate::opendsr::split_callback(&d.url)
                    .map_or(d.url.clone(), |(_, u)| u.to_owned()),
                status: d.status,
                state: d.state,
                attempts: d.attempts,
                last_error: d.last_error,
                delivered_at: d
                    .delivered_us
                    .and_then(chrono::DateTime::from_timestamp_micros),
            })
            .collect(),
        existing,
    })
}

/// Create a request for one subject.
#[utoipa::path(post, path = "/api/v1/requests", tag = "requests",
    request_body = CreateRequestBody,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = "^[!-~]+$", description = "Same key and body: the same request; same key, other body: 422")),
    responses(
        (status = 202, description = "Accepted: processing is asynchronous", body = RequestDetail),
        (status = 400, description = "The body is wrong (or bulk)", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope requests:write", body = ErrorBody),
        (status = 409, description = "Ambiguous term (candidates listed), or a duplicate in flight", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 422, description = "No subject matches; or the idempotency key was used with another body", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["requests:write"]), ("apiToken" = [])))]
pub async fn create_request(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    JsonBody(b, raw): JsonBody<CreateRequestBody>,
) -> ApiResult<Response> {
    let p = app.permit(&principal, Scope::RequestsWrite, Class::Create)?;
    let idem = match headers.get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v.to_str().unwrap_or("").to_owned();
            if k.is_empty() || k.len() > 255 || !k.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ApiError::field(
                    "Idempotency-Key",
                    "give 1 to 255 visible characters (a UUID is a good key)",
                ));
            }
            Some(k)
        }
    };
    if b.callback_urls.len() > 5 {
        return Err(ApiError::field(
            "callbackUrls",
            "give at most 5 callback URLs",
        ));
    }
    for u in &b.callback_urls {
        check_callback_url(&app, u)?;
    }
    let target = match (&b.term, &b.subject) {
        (Some(t), _) => Target::Term(
            t.ty.term(&t.value)
                .map_err(|e| ApiError::field("term.value", e.to_string()))?,
        ),
        (None, Some(s)) => Target::Id(s.id.clone()),
        (None, None) => {
            return Err(ApiError::field(
                "term",
                "say whose data: give \"term\": {\"type\", \"value\"} (an identifier the person gave) or \"subject\": {\"id\"}",
            ));
        }
    };
    let chosen = match (&b.term, &b.subject) {
        (Some(_), Some(s)) => Some(
            SubjectId::new(s.id.as_str())
                .map_err(|e| ApiError::field("subject.id", e.to_string()))?,
        ),
        _ => None,
    };
    let replacements = b
        .replacement_terms
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let field = ReplacementField::parse(r.ty.field())
                .map_err(|e| ApiError::field(&format!("replacementTerms[{i}]"), e.to_string()))?;
            let x = Replacement {
                field,
                old: r.existing_value.clone(),
                new: r.updated_value.clone(),
            };
            x.validate()
                .map_err(|m| ApiError::field(&format!("replacementTerms[{i}]"), m))?;
            Ok(x)
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let t = app.tenant(&p).await?;
    let digest = hex::encode(Sha256::digest(&raw));
    // One creation at a time per process for keyed requests: the same key sent twice
    // at once makes one request.
    let _guard = match &idem {
        Some(_) => Some(app.inner.creating.lock().await),
        None => None,
    };
    if let Some(k) = &idem
        && let Some((hash, rid)) = app
            .store()
            .idempotency_key(&p.tenant, &p.client_id, k)
            .await?
    {
        if hash != digest {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with another body; use a new key for a new request",
            ));
        }
        let d = detail(&app, &t, &RequestId::from_stored(rid), true).await?;
        return Ok((StatusCode::ACCEPTED, Json(d)).into_response());
    }
    let mut opts = CreateOptions::new(b.request_type.into(), target);
    opts.subject = chosen;
    opts.replacements = replacements;
    opts.requested_by = p.actor();
    opts.on_duplicate = OnDuplicate::Refuse;
    let dir = t.dir.read().await;
    let out = t.engine.create(&dir, opts).await?;
    drop(dir);
    let now = chrono::Utc::now().timestamp_micros();
    if let Some(k) = &idem {
        app.store()
            .put_idempotency_key(
                &p.tenant,
                &p.client_id,
                k,
                &digest,
                out.request.id.as_str(),
                now,
            )
            .await?;
    }
    for r in std::iter::once(&out.request).chain(out.related.iter()) {
        for u in &b.callback_urls {
            app.store()
                .add_callback(&p.tenant, r.id.as_str(), u)
                .await?;
        }
    }
    if !b.callback_urls.is_empty() {
        callbacks::observe(&app).await;
    }
    crate::notify::track(&app, &t, &out.request).await;
    tracing::info!(request = %out.request.id, related = out.related.len(), client = %p.client_id, "request created");
    if !b.callback_urls.is_empty() || out.existing {
        let d = detail(&app, &t, &out.request.id, out.existing).await?;
        return Ok((StatusCode::ACCEPTED, Json(d)).into_response());
    }
    // A new request without callbacks: its view from what create returned (one read
    // for its tasks instead of four).
    let tasks = t.engine.store().tasks(&p.tenant, &out.request.id).await?;
    let now = t.engine.clock().now();
    let d = RequestDetail {
        request: RequestView::new(&out.request, &tasks, &out.related, now),
        callbacks: Vec::new(),
        notifications: Vec::new(),
        existing: false,
    };
    Ok((StatusCode::ACCEPTED, Json(d)).into_response())
}

/// List requests.
#[utoipa::path(get, path = "/api/v1/requests", tag = "requests",
    params(ListQuery),
    responses(
        (status = 200, description = "A page, oldest first", body = RequestPage),
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope requests:read", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["requests:read"]), ("apiToken" = [])))]
pub async fn list_requests(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<RequestPage>> {
    let p = app.permit(&principal, Scope::RequestsRead, Class::Read)?;
    let Query(q) =
        q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let max = app.settings().max_page_size;
    let limit = q.limit.unwrap_or(50);
    if limit == 0 {
        return Err(ApiError::field(
            "limit",
            format!("give a page size from 1 to {max}"),
        ));
    }
    // Bounded: a larger page is the largest one.
    let limit = limit.min(max);
    let status = q.status.map(dsr_engine::RequestStatus::from);
    let cursor = q
        .cursor
        .as_deref()
        .map(request_id)
        .transpose()
        .map_err(|_| {
            ApiError::field(
                "cursor",
                "not a cursor given by this API (use nextCursor of the previous page)",
            )
        })?;
    let t = app.tenant(&p).await?;
    let now = t.engine.clock().now();
    let filter = RequestFilter {
        status,
        overdue_at: q.overdue.filter(|o| *o).map(|_| now),
        ..RequestFilter::default()
    };
    let mut all = t.engine.list(&filter).await?;
    if q.overdue == Some(false) {
        all.retain(|r| !r.is_overdue(now));
    }
    if let Some(ty) = q.ty {
        let ty: dsr_model::RequestType = ty.into();
        all.retain(|r| r.ty == ty);
    }
    all.sort_by(|a, b| a.id.cmp(&b.id));
    let start = match &cursor {
        Some(c) => all.partition_point(|r| &r.id <= c),
        None => 0,
    };
    let page: Vec<_> = all[start..].iter().take(limit).collect();
    let next = (start + page.len() < all.len())
        .then(|| page.last().map(|r| r.id.to_string()))
        .flatten();
    Ok(Json(RequestPage {
        items: page
            .iter()
            .map(|r| RequestSummaryView::new(r, now))
            .collect(),
        next_cursor: next,
    }))
}

/// A request with its per-service tasks and outcomes.
#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "requests",
    params(("id" = String, Path, description = "The request id")),
    responses(
        (status = 200, description = "The request", body = RequestDetail),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope requests:read", body = ErrorBody),
        (status = 404, description = "No such request in your tenant", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["requests:read"]), ("apiToken" = [])))]
pub async fn get_request(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestDetail>> {
    let p = app.permit(&principal, Scope::RequestsRead, Class::Read)?;
    let rid = request_id(&id)?;
    let t = app.tenant(&p).await?;
    Ok(Json(detail(&app, &t, &rid, false).await?))
}

async fn after_change(
    app: &App,
    t: &Arc<Tenant>,
    id: &RequestId,
) -> ApiResult<Json<RequestDetail>> {
    callbacks::observe(app).await;
    crate::notify::after_change(app, t, id).await;
    Ok(Json(detail(app, t, id, false).await?))
}

/// Cancel a request (while nothing irreversible has run).
#[utoipa::path(post, path = "/api/v1/requests/{id}/cancel", tag = "requests",
    params(("id" = String, Path, description = "The request id")),
    responses(
        (status = 200, description = "Cancelled", body = RequestDetail),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope requests:write", body = ErrorBody),
        (status = 404, description = "No such request in your tenant", body = ErrorBody),
        (status = 409, description = "Not in a state that can be cancelled", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["requests:write"]), ("apiToken" = [])))]
pub async fn cancel(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestDetail>> {
    let p = app.permit(&principal, Scope::RequestsWrite, Class::Write)?;
    let rid = request_id(&id)?;
    let t = app.tenant(&p).await?;
    t.engine.cancel(&rid, &p.actor()).await?;
    after_change(&app, &t, &rid).await
}

/// Decide a held request: proceed (with a justification) or refuse (citing the ground).
#[utoipa::path(post, path = "/api/v1/requests/{id}/decision", tag = "requests",
    params(("id" = String, Path, description = "The request id")),
    request_body = DecisionBody,
    responses(
        (status = 200, description = "Decided", body = RequestDetail),
        (status = 400, description = "The body is wrong", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope requests:decide", body = ErrorBody),
        (status = 404, description = "No such request in your tenant", body = ErrorBody),
        (status = 409, description = "Not on hold", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["requests:decide"]), ("apiToken" = [])))]
pub async fn decide(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(b, _): JsonBody<DecisionBody>,
) -> ApiResult<Json<RequestDetail>> {
    let p = app.permit(&principal, Scope::RequestsDecide, Class::Write)?;
    let rid = request_id(&id)?;
    let t = app.tenant(&p).await?;
    t.engine
        .decide(
            &rid,
            match b.decision {
                DecisionKind::Proceed => dsr_engine::Verdict::Proceed,
                DecisionKind::Refuse => dsr_engine::Verdict::Refuse,
            },
            &b.reason,
            &p.actor(),
        )
        .await?;
    after_change(&app, &t, &rid).await
}

/// Extend the legal deadline (art. 12(3)).
#[utoipa::path(post, path = "/api/v1/requests/{id}/extension", tag = "requests",
    params(("id" = String, Path, description = "The request id")),
    request_body = ExtensionBody,
    responses(
        (status = 200, description = "Extended", body = RequestDetail),
        (status = 400, description = "The body is wrong", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope requests:write", body = ErrorBody),
        (status = 404, description = "No such request in your tenant", body = ErrorBody),
        (status = 409, description = "Finished", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["requests:write"]), ("apiToken" = [])))]
pub async fn extend(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    JsonBody(b, _): JsonBody<ExtensionBody>,
) -> ApiResult<Json<RequestDetail>> {
    let p = app.permit(&principal, Scope::RequestsWrite, Class::Write)?;
    let rid = request_id(&id)?;
    let t = app.tenant(&p).await?;
    t.engine.extend(&rid, b.days, &b.reason, &p.actor()).await?;
    after_change(&app, &t, &rid).await
}

/// Retry a failed request (its dead tasks run again).
#[utoipa::path(post, path = "/api/v1/requests/{id}/retry", tag = "requests",
    params(("id" = String, Path, description = "The request id")),
    responses(
        (status = 200, description = "Retried", body = RequestDetail),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope requests:write", body = ErrorBody),
        (status = 404, description = "No such request in your tenant", body = ErrorBody),
        (status = 409, description = "Not failed, or related requests still running", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["requests:write"]), ("apiToken" = [])))]
pub async fn retry(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestDetail>> {
    let p = app.permit(&principal, Scope::RequestsWrite, Class::Write)?;
    let rid = request_id(&id)?;
    let t = app.tenant(&p).await?;
    t.engine.retry(&rid, &p.actor()).await?;
    after_change(&app, &t, &rid).await
}

/// The signed export package; the hand-over is recorded.
#[utoipa::path(get, path = "/api/v1/requests/{id}/package", tag = "requests",
    params(("id" = String, Path, description = "The request id"), PackageQuery),
    responses(
        (status = 200, description = "The package (JSON, manifest signed with Ed25519)", body = Object),
        (status = 400, description = "A parameter is wrong", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope requests:read", body = ErrorBody),
        (status = 404, description = "No such request in your tenant", body = ErrorBody),
        (status = 409, description = "Not a completed export or portability request", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["requests:read"]), ("apiToken" = [])))]
pub async fn package(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    q: Result<Query<PackageQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let p = app.permit(&principal, Scope::RequestsRead, Class::Read)?;
    let Query(q) =
        q.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let rid = request_id(&id)?;
    let t = app.tenant(&p).await?;
    let pkg = t.engine.package(&rid).await?;
    t.engine
        .hand_over(&rid, q.to.as_deref().unwrap_or(""), &p.actor())
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from(pkg),
    )
        .into_response())
}

/// The audit entries of a request.
#[utoipa::path(get, path = "/api/v1/requests/{id}/events", tag = "requests",
    params(("id" = String, Path, description = "The request id")),
    responses(
        (status = 200, description = "Its audit entries, in order", body = EventsResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope requests:read", body = ErrorBody),
        (status = 404, description = "No such request in your tenant", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["requests:read"]), ("apiToken" = [])))]
pub async fn events(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> ApiResult<Json<EventsResponse>> {
    let p = app.permit(&principal, Scope::RequestsRead, Class::Read)?;
    let rid = request_id(&id)?;
    let t = app.tenant(&p).await?;
    t.engine.get(&rid).await?;
    let (entries, _) = t.engine.store().audit(&p.tenant).await?;
    Ok(Json(EventsResponse {
        events: entries
            .into_iter()
            .filter(|e| e.event.request_id.as_deref() == Some(rid.as_str()))
            .map(|e| EventView {
                index: e.index,
                at: e.at,
                actor: e.event.actor,
                action: e.event.action,
                service: e.event.service,
                detail: e.event.detail,
                hash: e.hash,
            })
            .collect(),
    }))
}

/// The service inventory and its blind spots (G-14).
#[utoipa::path(get, path = "/api/v1/services", tag = "services",
    responses(
        (status = 200, description = "The inventory", body = ServicesResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope requests:read", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["requests:read"]), ("apiToken" = [])))]
pub async fn services(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<Json<ServicesResponse>> {
    let p = app.permit(&principal, Scope::RequestsRead, Class::Read)?;
    let t = app.tenant(&p).await?;
    let dir = t.dir.read().await;
    let spots = t.engine.blind_spots(&dir);
    drop(dir);
    Ok(Json(ServicesResponse {
        services: t
            .engine
            .services()
            .iter()
            .map(|s| {
                let i = s.info();
                ServiceView {
                    name: i.name.clone(),
                    description: i.description.clone(),
                    fields: i.fields.clone(),
                    categories: i.categories.iter().map(|c| c.as_str().to_owned()).collect(),
                    erasure: serde_json::to_value(i.erasure)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    attachments: i.attachments,
                    unsearchable: i.unsearchable.clone(),
                }
            })
            .collect(),
        blind_spots: spots
            .into_iter()
            .map(|b| BlindSpotView {
                place: b.place,
                why: b.why,
            })
            .collect(),
    }))
}

fn text_of(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Check a health-enabled tenant configuration (HIPAA / HDS); JSON, or SARIF with
/// `Accept: application/sarif+json`.
#[utoipa::path(post, path = "/api/v1/compliance/check", tag = "compliance",
    request_body = ComplianceBody,
    responses(
        (status = 200, description = "The report (JSON, or SARIF 2.1.0)", body = Object),
        (status = 400, description = "The configuration or waivers are not accepted", body = ErrorBody),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope compliance:check", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["compliance:check"]), ("apiToken" = [])))]
pub async fn compliance(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    JsonBody(b, _): JsonBody<ComplianceBody>,
) -> ApiResult<Response> {
    app.permit(&principal, Scope::ComplianceCheck, Class::Write)?;
    let config_text = text_of(&b.config);
    let config = dsr_compliance::Config::parse(&config_text)
        .map_err(|e| ApiError::field("config", e.to_string()))?;
    let waivers = match &b.waivers {
        None | Some(serde_json::Value::Null) => dsr_compliance::Waivers::none(),
        Some(w) => dsr_compliance::Waivers::parse(&text_of(w))
            .map_err(|e| ApiError::field("waivers", e.to_string()))?,
    };
    let today = match &b.today {
        Some(d) => chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map_err(|_| ApiError::field("today", "give a date as YYYY-MM-DD"))?,
        None => chrono::Utc::now().date_naive(),
    };
    let report = dsr_compliance::evaluate(&config, &waivers, today)
        .map_err(|e| ApiError::field("config", e.to_string()))?;
    let sarif = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("sarif"));
    let (ct, v) = if sarif {
        (
            "application/sarif+json",
            report.to_sarif(&dsr_compliance::SarifOptions {
                artifact_uri: None,
                source_text: Some(&config_text),
            }),
        )
    } else {
        ("application/json", report.to_json())
    };
    Ok(([(header::CONTENT_TYPE, ct)], Body::from(v.to_string())).into_response())
}

/// Verify the tenant's audit chain.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses(
        (status = 200, description = "The verification", body = AuditVerifyResponse),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope audit:read", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["audit:read"]), ("apiToken" = [])))]
pub async fn audit_verify(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<Json<AuditVerifyResponse>> {
    let p = app.permit(&principal, Scope::AuditRead, Class::Read)?;
    let t = app.tenant(&p).await?;
    let r = t.engine.verify_audit().await?;
    Ok(Json(AuditVerifyResponse {
        ok: r.ok(),
        entries: r.entries,
        problems: r
            .problems
            .iter()
            .map(|x| json!({"index": x.index, "reason": x.reason}))
            .collect(),
    }))
}

/// The public key that signs status callbacks.
#[utoipa::path(get, path = "/api/v1/callbacks/key", tag = "requests",
    responses(
        (status = 200, description = "The key", body = CallbackKey),
        (status = 401, description = "Not authenticated", body = ErrorBody),
        (status = 403, description = "Missing scope requests:read", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("oauth2" = ["requests:read"]), ("apiToken" = [])))]
pub async fn callback_key(
    State(app): State<App>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<Json<CallbackKey>> {
    app.permit(&principal, Scope::RequestsRead, Class::Read)?;
    Ok(Json(CallbackKey {
        algorithm: "ed25519".into(),
        public_key: app.callback_public_key_hex(),
        signed: "the Dsr-Timestamp header, \".\", then the body".into(),
    }))
}

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(TokenErrorBody {
            error: error.to_owned(),
            error_description: description.to_owned(),
        }),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"dsr\""),
        );
    }
    r
}

/// OAuth 2.0 client credentials (RFC 6749 §4.4): an access token for at most 15 minutes.
#[utoipa::path(post, path = "/oauth/token", tag = "auth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The token", body = TokenResponse),
        (status = 400, description = "RFC 6749 §5.2 error", body = TokenErrorBody),
        (status = 401, description = "invalid_client", body = TokenErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ))]
pub async fn token(State(app): State<App>, headers: HeaderMap, req: Request) -> Response {
    let bytes = match crate::body::bytes_of(req, &app).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let form: TokenForm = match serde_urlencoded_form(&bytes) {
        Some(f) => f,
        None => {
            return token_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "send an application/x-www-form-urlencoded body",
            );
        }
    };
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        })
        .and_then(|b| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(a, b)| (a.to_owned(), b.to_owned())));
    match form.grant_type.as_deref() {
        Some("client_credentials") => {}
        None => {
            return token_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing: use client_credentials",
            );
        }
        Some(_) => {
            return token_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only client_credentials is supported",
            );
        }
    }
    let (id, secret) = match (basic, form.client_id, form.client_secret) {
        (Some((i, s)), _, _) => (i, s),
        (None, Some(i), Some(s)) => (i, s),
        _ => {
            return token_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "give client_id and client_secret (in the body or with HTTP Basic)",
            );
        }
    };
    if let Err(e) = app.limit(&format!("token:{id}"), Class::Token) {
        return e.into_response();
    }
    match app.auth().issue(&id, &secret, form.scope.as_deref()).await {
        Ok(t) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(TokenResponse {
                access_token: t.token,
                token_type: "Bearer".into(),
                expires_in: t.expires_in,
                scope: t.scope,
            }),
        )
            .into_response(),
        Err(crate::auth::TokenError::InvalidClient) => token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "the client is unknown, revoked, or the secret is wrong",
        ),
        Err(crate::auth::TokenError::InvalidScope(s)) => token_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("the client does not have the scope {s:?}"),
        ),
    }
}

fn serde_urlencoded_form(bytes: &[u8]) -> Option<TokenForm> {
    serde_urlencoded::from_bytes(bytes).ok()
}

/// Liveness.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
    })
}

/// Readiness: not ready until every tenant's index is loaded.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "Still loading", body = Health),
    ))]
pub async fn readyz(State(app): State<App>) -> Response {
    if app.is_ready() {
        Json(Health {
            status: "ok".into(),
        })
        .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "loading".into(),
            }),
        )
            .into_response()
    }
}

/// Prometheus metrics of every tenant, for the operator's listener
/// (`metrics_listen`): request counts and latencies by route template, and per tenant
/// (label `tenant`) the queue depth, the index size and the task outcomes.
pub async fn metrics(State(app): State<App>, headers: HeaderMap) -> Response {
    if let Some(expected) = &app.settings().metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        let same: bool = subtle::ConstantTimeEq::ct_eq(
            Sha256::digest(given).as_slice(),
            Sha256::digest(expected).as_slice(),
        )
        .into();
        if !same {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"dsr-metrics\"")],
                "the metrics token (metrics_token) is needed: Authorization: Bearer TOKEN\n",
            )
                .into_response();
        }
    }
    let mut tenants = app.tenants().await;
    tenants.sort_by(|a, b| a.engine.tenant().as_str().cmp(b.engine.tenant().as_str()));
    let mut rows = Vec::with_capacity(tenants.len());
    for t in &tenants {
        let id = t.engine.tenant().clone();
        let open = match t.engine.store().open_tasks(&id).await {
            Ok((open, _)) => Some(open),
            Err(e) => {
                tracing::warn!(error = %e, tenant = %id, "metrics: cannot count open tasks");
                None
            }
        };
        let size = t.dir.read().await.len();
        let db = t.sqlite.clone();
        let tenant = id.clone();
        // Outcome counts from the audit log: SQLite only (PostgreSQL: not yet).
        let outcomes = tokio::task::spawn_blocking(move || {
            let Some(db) = db else {
                return Vec::new();
            };
            ["task.done", "task.dead", "task.retry"]
                .iter()
                .map(|a| {
                    let n: u64 = db
                        .audit_action_counts(&tenant, a)
                        .map(|v| v.iter().map(|x| x.2).sum())
                        .unwrap_or(0);
                    (*a, n)
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        rows.push((id, open, size, outcomes));
    }
    let mut extra = String::new();
    // Tenant names are validated ids (no quote, backslash or newline to escape).
    extra.push_str(
        "# HELP dsr_queue_depth Tasks not finished, per tenant.\n# TYPE dsr_queue_depth gauge\n",
    );
    for (id, open, _, _) in &rows {
        if let Some(open) = open {
            extra.push_str(&format!("dsr_queue_depth{{tenant=\"{id}\"}} {open}\n"));
        }
    }
    extra.push_str("# HELP dsr_index_subjects Subjects in the tenant's index.\n# TYPE dsr_index_subjects gauge\n");
    for (id, _, size, _) in &rows {
        extra.push_str(&format!("dsr_index_subjects{{tenant=\"{id}\"}} {size}\n"));
    }
    extra.push_str("# HELP dsr_task_outcomes_total Task outcomes recorded in the tenant's audit log.\n# TYPE dsr_task_outcomes_total counter\n");
    for (id, _, _, outcomes) in &rows {
        for (a, n) in outcomes {
            extra.push_str(&format!(
                "dsr_task_outcomes_total{{tenant=\"{id}\",outcome=\"{a}\"}} {n}\n"
            ));
        }
    }
    extra.push_str(&format!(
        "# HELP dsr_tenants_loaded Tenants whose index is loaded.\n# TYPE dsr_tenants_loaded gauge\ndsr_tenants_loaded {}\n",
        rows.len()
    ));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics().render(&extra),
    )
        .into_response()
}

/// 413 for the import route's own limit (exported for the router).
pub fn import_too_large(app: &App) -> ApiError {
    too_large(app.settings().max_import_bytes)
}
