//! The portal's pages: sign-in, what the organisation holds, asking for an export, a
//! portability package, a correction or an erasure, one request with its package.

use super::i18n::Lang;
use super::session::{self, Session};
use super::{Chrome, MAX_FORM_BYTES, PortalError, html_response, page};
use crate::App;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dsr_engine::{
    CreateOptions, Error as EngineError, OnDuplicate, Replacement, ReplacementField,
    Request as Dsr, RequestFilter, RequestId, RequestStatus, Target, Task,
};
use dsr_model::{RequestType, Subject, SubjectId};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Who the audit log records as acting through the portal.
pub const ACTOR: &str = "data subject (portal)";
/// Records of one category shown on a page (the package has them all).
const RECORDS_SHOWN: usize = 50;

/// `?lang=`.
#[derive(Debug, Default, Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

/// Reads a form body (`application/x-www-form-urlencoded`), bounded.
pub async fn form<T: serde::de::DeserializeOwned>(
    req: Request,
    lang: Lang,
) -> Result<T, PortalError> {
    let bytes = axum::body::to_bytes(req.into_body(), MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            PortalError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                lang,
                "error.form.title",
                "error.form.too_large",
            )
        })?;
    serde_urlencoded::from_bytes(&bytes).map_err(|e| {
        PortalError::text(
            StatusCode::BAD_REQUEST,
            lang,
            "error.form.title",
            lang.tf("error.form.invalid", &[("detail", &e.to_string())]),
        )
    })
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut resp = (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_owned())]).into_response();
    if let Some(c) = cookie
        && let Ok(v) = HeaderValue::from_str(&c)
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

fn chrome<'a>(s: &'a Session, path: &'a str) -> Chrome<'a> {
    Chrome {
        organisation: &s.tenant.config.organisation,
        csrf: &s.row.csrf,
        path,
    }
}

/// Counts a person's request against the creation limit (the same limits as API
/// clients, keyed on the person: `portal:{tenant}:{subject}`).
pub fn limit(app: &App, s: &Session, class: crate::limits::Class) -> Result<(), PortalError> {
    let key = format!("portal:{}:{}", s.row.tenant, s.subject);
    app.limit(&key, class).map_err(|e| {
        let secs = e
            .headers
            .iter()
            .find(|(k, _)| k == header::RETRY_AFTER)
            .map_or_else(|| "1".to_owned(), |(_, v)| v.clone());
        PortalError::text(
            StatusCode::TOO_MANY_REQUESTS,
            s.lang,
            "error.rate.title",
            s.lang.tf("error.rate.body", &[("seconds", &secs)]),
        )
    })
}

/// Whether a request is the session's person's: their record, or a record of the same
/// merge set (the same person as another source knows them, G-10).
pub fn owns(s: &Session, r: &Dsr) -> bool {
    r.subject.id == s.subject
        || matches!((&r.merge_set, &s.merge_set), (Some(a), Some(b)) if a == b)
}

/// The session's subject as the directory has it now.
async fn subject_now(s: &Session) -> Result<Subject, PortalError> {
    s.tenant
        .dir
        .read()
        .await
        .get(&s.subject)
        .ok_or_else(|| PortalError::not_found(s.lang))
}

/// The person's requests (their record's and their merge set's), newest first.
async fn requests_of(s: &Session, subject: &Subject) -> Result<Vec<Dsr>, PortalError> {
    let mut ids: Vec<SubjectId> = vec![subject.id.clone()];
    if let Some(set) = &subject.merge_set {
        let dir = s.tenant.dir.read().await;
        ids.extend(
            dir.merge_set_members(set)
                .into_iter()
                .map(|m| m.id.clone())
                .filter(|id| *id != subject.id),
        );
    }
    let mut out = Vec::new();
    for id in ids {
        let f = RequestFilter {
            subject: Some(id),
            ..RequestFilter::default()
        };
        out.extend(
            s.tenant
                .engine
                .list(&f)
                .await
                .map_err(|e| PortalError::internal(s.lang, &e))?,
        );
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    out.dedup_by(|a, b| a.id == b.id);
    // One line per request the person made: a merge set's related requests (one per
    // other record of the same person) show on their parent's page.
    let listed: std::collections::HashSet<RequestId> = out.iter().map(|r| r.id.clone()).collect();
    out.retain(|r| r.parent.as_ref().is_none_or(|p| !listed.contains(p)));
    Ok(out)
}

/// The request `id` if it is the session's person's; anything else (another person's,
/// another tenant's, no such id) is "not found".
pub(super) async fn owned_request(s: &Session, id: &str) -> Result<(Dsr, Vec<Task>), PortalError> {
    let Ok(rid) = RequestId::parse(id) else {
        return Err(PortalError::not_found(s.lang));
    };
    match s.tenant.engine.get(&rid).await {
        Ok((r, tasks)) if owns(s, &r) => Ok((r, tasks)),
        // Another person's request is "not found", like one that does not exist.
        Ok(_) | Err(EngineError::UnknownRequest(_)) => Err(PortalError::not_found(s.lang)),
        Err(e) => Err(PortalError::internal(s.lang, &e)),
    }
}

fn type_label(lang: Lang, ty: RequestType) -> &'static str {
    lang.t(match ty {
        RequestType::Export => "type.export",
        RequestType::Update => "type.update",
        RequestType::Delete => "type.delete",
        RequestType::Portability => "type.portability",
    })
}

fn status_label(lang: Lang, st: RequestStatus) -> &'static str {
    lang.t(match st {
        RequestStatus::Received => "status.received",
        RequestStatus::OnHold => "status.on_hold",
        RequestStatus::InProgress => "status.in_progress",
        RequestStatus::Completed => "status.completed",
        RequestStatus::PartiallyFailed => "status.partially_failed",
        RequestStatus::Failed => "status.failed",
        RequestStatus::Cancelled => "status.cancelled",
        RequestStatus::Refused => "status.refused",
    })
}

fn has_package(r: &Dsr) -> bool {
    matches!(r.ty, RequestType::Export | RequestType::Portability)
        && r.status() == RequestStatus::Completed
        && r.package_removed.is_none()
}

/// `GET /portal/`: what the organisation holds about the person, and their requests.
pub async fn home(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, PortalError> {
    let s = session::current(&app, &headers, q.lang.as_deref()).await?;
    let lang = s.lang;
    let subject = subject_now(&s).await?;
    let requests = requests_of(&s, &subject).await?;
    let dir = s.tenant.dir.read().await;
    let blind = s.tenant.engine.blind_spots(&dir);
    drop(dir);
    let services: Vec<_> = s
        .tenant
        .engine
        .services()
        .iter()
        .map(|x| x.info().clone())
        .collect();
    let latest = requests
        .iter()
        .find(|r| has_package(r) && r.ty == RequestType::Export);
    let profile = profile_rows(lang, &subject);
    let body = html! {
        h1 { (lang.t("home.title")) }
        p class="lead" { (lang.tf("home.lead", &[("organisation", &s.tenant.config.organisation)])) }

        section aria-labelledby="h-profile" {
            h2 id="h-profile" { (lang.t("home.profile")) }
            p { (lang.t("home.profile.help")) }
            dl class="profile" {
                @for (label, values) in &profile {
                    dt { (label) }
                    dd {
                        @if values.len() == 1 { (values[0]) } @else {
                            ul { @for v in values { li { (v) } } }
                        }
                    }
                }
            }
            p { a href="/portal/correct" { (lang.t("home.correct_link")) } }
        }

        section aria-labelledby="h-actions" {
            h2 id="h-actions" { (lang.t("home.actions")) }
            ul class="actions" {
                li { a class="button" href="/portal/ask/export" { (lang.t("ask.export.button")) } " " span class="hint" { (lang.t("ask.export.hint")) } }
                li { a class="button" href="/portal/ask/portability" { (lang.t("ask.portability.button")) } " " span class="hint" { (lang.t("ask.portability.hint")) } }
                li { a class="button" href="/portal/correct" { (lang.t("ask.correct.button")) } " " span class="hint" { (lang.t("ask.correct.hint")) } }
                li { a class="button danger" href="/portal/ask/erasure" { (lang.t("ask.erasure.button")) } " " span class="hint" { (lang.t("ask.erasure.hint")) } }
            }
        }

        section aria-labelledby="h-requests" {
            h2 id="h-requests" { (lang.t("home.requests")) }
            @if requests.is_empty() {
                p { (lang.t("home.requests.none")) }
            } @else {
                table {
                    caption class="visually-hidden" { (lang.t("home.requests")) }
                    thead { tr {
                        th scope="col" { (lang.t("col.request")) }
                        th scope="col" { (lang.t("col.received")) }
                        th scope="col" { (lang.t("col.status")) }
                        th scope="col" { (lang.t("col.deadline")) }
                    } }
                    tbody {
                        @for r in &requests {
                            tr {
                                td { a href={ "/portal/requests/" (r.id.as_str()) } { (type_label(lang, r.ty)) } }
                                td { (lang.date(r.created_at)) }
                                td { span class={ "status " (r.status().as_str()) } { (status_label(lang, r.status())) } }
                                td { @if r.status().is_finished() { "—" } @else { (lang.date(r.due_at)) } }
                            }
                        }
                    }
                }
            }
        }

        section aria-labelledby="h-services" {
            h2 id="h-services" { (lang.t("home.services")) }
            p { (lang.t("home.services.help")) }
            @if let Some(r) = latest {
                p { a href={ "/portal/requests/" (r.id.as_str()) "#data" } { (lang.tf("home.latest_export", &[("date", &lang.date(r.created_at))])) } }
            } @else {
                p { (lang.t("home.no_export")) }
            }
            table {
                caption class="visually-hidden" { (lang.t("home.services")) }
                thead { tr {
                    th scope="col" { (lang.t("col.service")) }
                    th scope="col" { (lang.t("col.categories")) }
                    th scope="col" { (lang.t("col.erasure")) }
                } }
                tbody {
                    @for svc in &services {
                        tr {
                            th scope="row" {
                                (svc.name)
                                @if !svc.description.is_empty() { br; span class="hint" { (svc.description) } }
                            }
                            td { (svc.categories.iter().map(|c| category_label(lang, c.as_str())).collect::<Vec<_>>().join(", ")) }
                            td { (erasure_label(lang, &svc.erasure)) }
                        }
                    }
                }
            }
        }

        section aria-labelledby="h-blind" {
            h2 id="h-blind" { (lang.t("home.blind")) }
            p { (lang.t("home.blind.help")) }
            @if blind.is_empty() {
                p { (lang.t("home.blind.none")) }
            } @else {
                ul { @for b in &blind { li { strong { (b.place) } " — " (b.why) } } }
            }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        page(
            lang,
            lang.t("home.title"),
            Some(&chrome(&s, "/portal/")),
            body,
        ),
    ))
}

fn profile_rows(lang: Lang, s: &Subject) -> Vec<(&'static str, Vec<String>)> {
    let mut rows = Vec::new();
    let mut push = |key: &'static str, vals: Vec<String>| {
        if !vals.is_empty() {
            rows.push((lang.t(key), vals));
        }
    };
    push("field.name", s.names.clone());
    push("field.email", s.emails.clone());
    push("field.phone", s.phones.clone());
    push("field.address", s.addresses.clone());
    push(
        "field.handle",
        s.handles
            .iter()
            .map(|h| format!("{} ({})", h.value, h.platform))
            .collect(),
    );
    push("field.external_id", s.external_ids.clone());
    push(
        "field.other",
        s.custom.iter().map(|(k, v)| format!("{k}: {v}")).collect(),
    );
    push("field.customer_id", vec![s.id.to_string()]);
    rows
}

fn category_label(lang: Lang, c: &str) -> String {
    let key = format!("category.{c}");
    let t = lang.t(&key);
    if t == key { c.to_owned() } else { t.to_owned() }
}

fn erasure_label(lang: Lang, e: &impl serde::Serialize) -> String {
    let name = serde_json::to_value(e)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let key = format!("erasure.{name}");
    let t = lang.t(&key);
    if t == key { name } else { t.to_owned() }
}

/// `GET /portal/signin[?assertion=…]`: signs in with an assertion, or says how to.
#[derive(Debug, Default, Deserialize)]
pub struct SigninQuery {
    assertion: Option<String>,
    lang: Option<String>,
    signedout: Option<String>,
}

/// `GET /portal/signin`.
pub async fn signin_get(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<SigninQuery>,
) -> Result<Response, PortalError> {
    let lang = session::request_lang(&headers, q.lang.as_deref());
    match q.assertion {
        Some(a) => signin(&app, &a, lang).await,
        None => {
            let key = if q.signedout.is_some() {
                "signin.signed_out.body"
            } else {
                "signin.needed.body"
            };
            let title = if q.signedout.is_some() {
                "signin.signed_out.title"
            } else {
                "signin.needed.title"
            };
            Ok(html_response(
                StatusCode::OK,
                page(
                    lang,
                    lang.t(title),
                    None,
                    html! { h1 { (lang.t(title)) } p { (lang.t(key)) } },
                ),
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
struct SigninForm {
    assertion: String,
    lang: Option<String>,
}

/// `POST /portal/signin` (form field `assertion`): what a host's auto-submitting form
/// sends, so the assertion stays out of URLs.
pub async fn signin_post(
    State(app): State<App>,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, PortalError> {
    let lang = session::request_lang(&headers, None);
    let f: SigninForm = form(req, lang).await?;
    let lang = f.lang.as_deref().and_then(Lang::from_code).unwrap_or(lang);
    signin(&app, &f.assertion, lang).await
}

async fn signin(app: &App, assertion: &str, lang: Lang) -> Result<Response, PortalError> {
    let Some(settings) = app.settings().portal.as_deref() else {
        return Err(PortalError::not_found(lang));
    };
    let now = app.clock().now();
    let refuse = |r: super::assertion::Refused, lang: Lang| {
        tracing::info!(target: "dsr_api::portal", reason = %r.reason(), "portal: sign-in refused");
        PortalError::new(
            StatusCode::UNAUTHORIZED,
            lang,
            "signin.refused.title",
            r.message_key(),
        )
    };
    let v = super::assertion::verify(settings, assertion, now.timestamp())
        .map_err(|r| refuse(r, lang))?;
    let lang = v.lang.unwrap_or(lang);
    let tenant = app
        .load(&v.tenant)
        .await
        .map_err(|e| PortalError::internal(lang, &e))?;
    // Single use, decided by the store (two nodes given the same assertion at once).
    let first = app
        .store()
        .use_assertion(&v.tenant, &v.jti, v.expires_us, now.timestamp_micros())
        .await
        .map_err(|e| PortalError::internal(lang, &e))?;
    if !first {
        return Err(refuse(super::assertion::Refused::Replayed, lang));
    }
    if tenant.dir.read().await.get(&v.subject).is_none() {
        return Err(refuse(super::assertion::Refused::UnknownSubject, lang));
    }
    let (cookie, _) = session::start(app, &v.tenant, &v.subject, lang).await?;
    tracing::info!(target: "dsr_api::portal", tenant = %v.tenant, "portal: signed in");
    Ok(redirect("/portal/", Some(cookie)))
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /portal/signout`.
pub async fn signout(
    State(app): State<App>,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, PortalError> {
    let s = session::current(&app, &headers, None).await?;
    let f: CsrfForm = form(req, s.lang).await?;
    session::check_csrf(&s, &f.csrf, &headers)?;
    let cookie = session::end(&app, &headers).await;
    Ok(redirect(
        &format!("/portal/signin?signedout=1&lang={}", s.lang.code()),
        Some(cookie),
    ))
}

/// `GET /portal/ask/{export|portability|erasure}`: what the request does, then a button.
pub async fn ask(
    State(app): State<App>,
    headers: HeaderMap,
    Path(kind): Path<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, PortalError> {
    let s = session::current(&app, &headers, q.lang.as_deref()).await?;
    let lang = s.lang;
    if !matches!(kind.as_str(), "export" | "portability" | "erasure") {
        return Err(PortalError::not_found(lang));
    }
    let subject = subject_now(&s).await?;
    let employee = subject.is_active_employee();
    let title = lang.t(&format!("ask.{kind}.title")).to_owned();
    let path = format!("/portal/ask/{kind}");
    let body = html! {
        h1 { (title) }
        @for p in lang.t(&format!("ask.{kind}.body")).split("\n\n") { p { (p) } }
        @if kind == "erasure" {
            h2 { (lang.t("ask.erasure.consequences")) }
            ul { @for c in lang.t("ask.erasure.list").split('\n') { li { (c) } } }
            @if employee {
                p class="notice" role="note" { (lang.t("ask.erasure.employee")) }
            }
        }
        form method="post" action="/portal/requests" {
            input type="hidden" name="csrf" value=(s.row.csrf);
            input type="hidden" name="type" value=(kind);
            @if kind == "erasure" {
                div class="field" {
                    input type="checkbox" id="confirm" name="confirm" value="yes" required;
                    " "
                    label for="confirm" { (lang.t("ask.erasure.confirm")) }
                }
            }
            button type="submit" class={ "button" @if kind == "erasure" { " danger" } } { (lang.t(&format!("ask.{kind}.submit"))) }
            " "
            a href="/portal/" { (lang.t("action.back")) }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        page(lang, &title, Some(&chrome(&s, &path)), body),
    ))
}

/// `GET /portal/correct`: a correction (art. 16): which value, and the right one.
pub async fn correct(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<LangQuery>,
) -> Result<Response, PortalError> {
    let s = session::current(&app, &headers, q.lang.as_deref()).await?;
    let lang = s.lang;
    let subject = subject_now(&s).await?;
    let groups = correctable(&subject);
    let review = s.tenant.config.policy.review_self_service_updates;
    let body = html! {
        h1 { (lang.t("correct.title")) }
        p { (lang.t("correct.lead")) }
        @if review { p class="notice" role="note" { (lang.t("correct.reviewed")) } }
        form method="post" action="/portal/requests" {
            input type="hidden" name="csrf" value=(s.row.csrf);
            input type="hidden" name="type" value="correction";
            div class="field" {
                label for="current" { (lang.t("correct.which")) }
                select id="current" name="current" required {
                    option value="" { (lang.t("correct.choose")) }
                    @for (field, values) in &groups {
                        optgroup label=(lang.t(&format!("field.{field}"))) {
                            @for (i, v) in values.iter().enumerate() {
                                option value={ (field) ":" (i) } { (v) }
                            }
                        }
                    }
                }
            }
            div class="field" {
                label for="new" { (lang.t("correct.new")) }
                input type="text" id="new" name="new" required maxlength="1000" autocomplete="off";
            }
            button type="submit" class="button" { (lang.t("correct.submit")) }
            " "
            a href="/portal/" { (lang.t("action.back")) }
        }
    };
    Ok(html_response(
        StatusCode::OK,
        page(
            lang,
            lang.t("correct.title"),
            Some(&chrome(&s, "/portal/correct")),
            body,
        ),
    ))
}

/// The values a person may correct, by field.
fn correctable(s: &Subject) -> Vec<(&'static str, Vec<String>)> {
    let mut out = Vec::new();
    for (f, v) in [
        ("name", &s.names),
        ("email", &s.emails),
        ("phone", &s.phones),
        ("address", &s.addresses),
    ] {
        if !v.is_empty() {
            out.push((f, v.clone()));
        }
    }
    out
}

#[derive(Debug, Deserialize)]
struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(rename = "type")]
    kind: String,
    confirm: Option<String>,
    current: Option<String>,
    new: Option<String>,
}

/// `POST /portal/requests`: makes the request for the session's subject (by id: never
/// a guess, G-5).
pub async fn create(
    State(app): State<App>,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, PortalError> {
    let s = session::current(&app, &headers, None).await?;
    let lang = s.lang;
    let f: CreateForm = form(req, lang).await?;
    session::check_csrf(&s, &f.csrf, &headers)?;
    let bad = |key: &str| PortalError::new(StatusCode::BAD_REQUEST, lang, "error.form.title", key);
    let subject = subject_now(&s).await?;
    let (ty, replacements) = match f.kind.as_str() {
        "export" => (RequestType::Export, Vec::new()),
        "portability" => (RequestType::Portability, Vec::new()),
        "erasure" => {
            if f.confirm.as_deref() != Some("yes") {
                return Err(bad("ask.erasure.not_confirmed"));
            }
            (RequestType::Delete, Vec::new())
        }
        "correction" => {
            let (field, i) = f
                .current
                .as_deref()
                .and_then(|c| c.split_once(':'))
                .ok_or_else(|| bad("correct.pick"))?;
            let i: usize = i.parse().map_err(|_| bad("correct.pick"))?;
            let groups = correctable(&subject);
            let old = groups
                .iter()
                .find(|(f, _)| *f == field)
                .and_then(|(_, v)| v.get(i))
                .ok_or_else(|| bad("correct.pick"))?;
            let new = f.new.as_deref().unwrap_or("").trim().to_owned();
            if new.is_empty() {
                return Err(bad("correct.empty"));
            }
            if new == *old {
                return Err(bad("correct.same"));
            }
            let field = ReplacementField::parse(field).map_err(|_| bad("correct.pick"))?;
            let r = Replacement {
                field,
                old: old.clone(),
                new,
            };
            if let Err(m) = r.validate() {
                return Err(PortalError::text(
                    StatusCode::BAD_REQUEST,
                    lang,
                    "error.form.title",
                    lang.tf("correct.invalid", &[("detail", &m)]),
                ));
            }
            (RequestType::Update, vec![r])
        }
        _ => return Err(bad("error.form.unknown_type")),
    };
    limit(&app, &s, crate::limits::Class::Create)?;
    let mut opts = CreateOptions::new(ty, Target::Id(subject.id.to_string()));
    opts.replacements = replacements;
    opts.requested_by = ACTOR.into();
    // A second click makes no second request: the one in flight is shown.
    opts.on_duplicate = OnDuplicate::ReturnExisting;
    opts.self_service = true;
    let dir = s.tenant.dir.read().await;
    let out = s.tenant.engine.create(&dir, opts).await;
    drop(dir);
    match out {
        // For a merge set the engine returns the canonical contact's request, the
        // parent of the person's other records' requests: the one the list shows.
        Ok(out) => {
            crate::notify::track(&app, &s.tenant, &out.request).await;
            Ok(redirect(
                &format!("/portal/requests/{}?made=1", out.request.id.as_str()),
                None,
            ))
        }
        Err(e @ (EngineError::Invalid(_) | EngineError::MergeSet { .. })) => {
            Err(PortalError::text(
                StatusCode::UNPROCESSABLE_ENTITY,
                lang,
                "error.request.title",
                lang.tf("error.request.body", &[("detail", &e.to_string())]),
            ))
        }
        Err(e) => Err(PortalError::internal(lang, &e)),
    }
}

/// `?lang=` and `?made=` (the request was just made).
#[derive(Debug, Default, Deserialize)]
pub struct RequestQuery {
    lang: Option<String>,
    made: Option<String>,
}

/// `GET /portal/requests/{id}`: one request: status, deadline, each service's part,
/// the data (a finished export), the package and its forwarding links.
pub async fn request(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<RequestQuery>,
) -> Result<Response, PortalError> {
    let s = session::current(&app, &headers, q.lang.as_deref()).await?;
    let lang = s.lang;
    let (r, tasks) = owned_request(&s, &id).await?;
    let package = if has_package(&r) {
        match s.tenant.engine.package(&r.id).await {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(error = %e, "portal: package unavailable");
                None
            }
        }
    } else {
        None
    };
    let data = package.as_deref().map(package_data).unwrap_or_default();
    let shares = if package.is_some() {
        app.store()
            .shares(&r.tenant, r.id.as_str())
            .await
            .map_err(|e| PortalError::internal(lang, &e))?
    } else {
        Vec::new()
    };
    let now = app.clock().now().timestamp_micros();
    let settings = app.settings().portal.as_deref();
    let max_days = settings.map_or(30, |p| p.share_max_days);
    let max_dl = settings.map_or(10, |p| p.share_max_downloads);
    let title = type_label(lang, r.ty).to_owned();
    let path = format!("/portal/requests/{}", r.id.as_str());
    let st = r.status();
    let body = html! {
        @if q.made.is_some() {
            p class="notice success" role="status" { (lang.t("request.made")) }
        }
        h1 { (title) }
        dl class="facts" {
            dt { (lang.t("col.status")) }
            dd { span class={ "status " (st.as_str()) } { (status_label(lang, st)) } }
            dt { (lang.t("col.received")) }
            dd { (lang.datetime(r.created_at)) }
            @if !st.is_finished() {
                dt { (lang.t("col.deadline")) }
                dd { (lang.tf("request.due", &[("date", &lang.date(r.due_at))])) " " span class="hint" { (lang.tf("request.legal", &[("date", &lang.date(r.legal_deadline))])) } }
            }
            @if let Some(at) = r.finished_at {
                dt { (lang.t("request.finished")) }
                dd { (lang.datetime(at)) }
            }
            dt { (lang.t("request.reference")) }
            dd { code { (r.id.as_str()) } }
        }
        p { (lang.t(&format!("status.help.{}", st.as_str()))) }
        @if st == RequestStatus::OnHold && r.ty == RequestType::Delete && r.subject.is_active_employee() {
            p class="notice" role="note" { (lang.t("request.held.employee")) }
        } @else if st == RequestStatus::OnHold {
            p class="notice" role="note" { (lang.t("request.held.review")) }
        }
        @if let Some(d) = &r.decision {
            @if d.verdict() == dsr_engine::Verdict::Refuse {
                h2 { (lang.t("request.refused.title")) }
                p { (lang.t("request.refused.body")) }
                blockquote { (d.reason) }
            }
        }
        @if !r.extensions.is_empty() {
            h2 { (lang.t("request.extended.title")) }
            ul {
                @for x in &r.extensions {
                    li { (lang.tf("request.extended.item", &[("days", &x.days.to_string()), ("date", &lang.date(x.at))])) " " q { (x.reason) } }
                }
            }
        }
        @if r.ty == RequestType::Update && !r.replacements.is_empty() {
            h2 { (lang.t("request.corrections")) }
            ul { @for x in &r.replacements { li { (lang.t(&format!("field.{}", x.field))) " : " del { (x.old) } " → " ins { (x.new) } } } }
        }
        @if !tasks.is_empty() {
            h2 { (lang.t("request.services")) }
            table {
                caption class="visually-hidden" { (lang.t("request.services")) }
                thead { tr { th scope="col" { (lang.t("col.service")) } th scope="col" { (lang.t("col.status")) } th scope="col" { (lang.t("col.records")) } } }
                tbody {
                    @for t in &tasks {
                        tr {
                            th scope="row" { (t.service) }
                            td { (lang.t(&format!("task.{}", t.status().as_str()))) }
                            td { (t.outcome.as_ref().map_or("—".to_owned(), |o| o.records.to_string())) }
                        }
                    }
                }
            }
        }
        @if package.is_some() {
            section aria-labelledby="h-package" {
                h2 id="h-package" { (lang.t("package.title")) }
                p { (lang.t("package.help")) }
                p { a class="button" href={ (path) "/package" } download { (lang.t("package.download")) } }
                p class="hint" { (lang.t("package.verify_hint")) " " code { "dsr verify FILE --key " (s.tenant.engine.public_key_hex()) } }
            }
            section aria-labelledby="h-forward" {
                h2 id="h-forward" { (lang.t("forward.title")) }
                p { (lang.t("forward.help")) }
                form method="post" action={ (path) "/shares" } {
                    input type="hidden" name="csrf" value=(s.row.csrf);
                    div class="field" {
                        label for="recipient" { (lang.t("forward.recipient")) }
                        input type="text" id="recipient" name="recipient" required maxlength="120" aria-describedby="recipient-hint";
                        span class="hint" id="recipient-hint" { (lang.t("forward.recipient.hint")) }
                    }
                    div class="field" {
                        label for="days" { (lang.t("forward.days")) }
                        select id="days" name="days" {
                            @for d in [1u32, 7, 30, 90].into_iter().filter(|d| *d <= max_days) {
                                option value=(d) selected[d == 7] { (lang.tf("forward.days.n", &[("n", &d.to_string())])) }
                            }
                        }
                    }
                    div class="field" {
                        label for="downloads" { (lang.t("forward.downloads")) }
                        select id="downloads" name="downloads" {
                            @for d in [1u32, 3, 10].into_iter().filter(|d| *d <= max_dl) {
                                option value=(d) selected[d == 1] { (d) }
                            }
                        }
                    }
                    button type="submit" class="button" { (lang.t("forward.submit")) }
                }
                @if !shares.is_empty() {
                    h3 { (lang.t("forward.links")) }
                    table {
                        caption class="visually-hidden" { (lang.t("forward.links")) }
                        thead { tr {
                            th scope="col" { (lang.t("forward.recipient")) }
                            th scope="col" { (lang.t("forward.col.expires")) }
                            th scope="col" { (lang.t("forward.col.downloads")) }
                            th scope="col" { (lang.t("forward.col.state")) }
                        } }
                        tbody {
                            @for sh in &shares {
                                tr {
                                    th scope="row" { (sh.recipient) }
                                    td { (lang.datetime(chrono::DateTime::from_timestamp_micros(sh.expires_us).unwrap_or_default())) }
                                    td { (sh.downloads) " / " (sh.max_downloads) }
                                    td {
                                        @if sh.revoked_us.is_some() { (lang.t("forward.state.revoked")) }
                                        @else if sh.expires_us <= now { (lang.t("forward.state.expired")) }
                                        @else if sh.downloads >= sh.max_downloads { (lang.t("forward.state.used")) }
                                        @else {
                                            form method="post" action={ (path) "/shares/revoke" } class="inline" {
                                                input type="hidden" name="csrf" value=(s.row.csrf);
                                                input type="hidden" name="link" value=(sh.id_hash);
                                                button type="submit" class="link" { (lang.t("forward.revoke")) span class="visually-hidden" { " — " (sh.recipient) } }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !data.is_empty() {
            section aria-labelledby="data" {
                h2 id="data" tabindex="-1" { (lang.t("data.title")) }
                p { (lang.t("data.help")) }
                @for (svc, cats) in &data {
                    h3 { (svc) }
                    @for (cat, records) in cats {
                        h4 { (category_label(lang, cat)) " " span class="hint" { "(" (lang.tf("data.count", &[("n", &records.len().to_string())])) ")" } }
                        @for rec in records.iter().take(RECORDS_SHOWN) {
                            (record(rec))
                        }
                        @if records.len() > RECORDS_SHOWN {
                            p class="hint" { (lang.tf("data.more", &[("n", &(records.len() - RECORDS_SHOWN).to_string())])) }
                        }
                    }
                }
            }
        }
        p { a href="/portal/" { (lang.t("action.back_home")) } }
    };
    Ok(html_response(
        StatusCode::OK,
        page(lang, &title, Some(&chrome(&s, &path)), body),
    ))
}

/// One record as a definition list: the service's fields (a record is `{data,
/// attachments, provided_by_subject}`), lists joined, nested values as compact JSON.
fn record(v: &Value) -> Markup {
    fn text(x: &Value) -> String {
        match x {
            Value::String(s) => s.clone(),
            Value::Null => "—".into(),
            Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
                items.iter().map(text).collect::<Vec<_>>().join(", ")
            }
            other => other.to_string(),
        }
    }
    let fields = match v.get("data") {
        Some(Value::Object(m)) => Some(m),
        _ => v.as_object(),
    };
    let attachments: Vec<String> = v
        .get("attachments")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| x.get("name").map_or_else(|| x.to_string(), text))
                .collect()
        })
        .unwrap_or_default();
    match fields {
        Some(m) => html! {
            dl class="record" {
                @for (k, x) in m {
                    @if !(x.is_null() || x.as_array().is_some_and(Vec::is_empty) || x.as_object().is_some_and(serde_json::Map::is_empty)) {
                        dt { (k) }
                        dd { (text(x)) }
                    }
                }
                @if !attachments.is_empty() {
                    dt { "attachments" }
                    dd { (attachments.join(", ")) }
                }
            }
        },
        None => html! { pre class="record" { (v.to_string()) } },
    }
}

/// The data of a package by service and category: `services/{svc}/{category}.json`.
fn package_data(pkg: &str) -> BTreeMap<String, BTreeMap<String, Vec<Value>>> {
    let mut out: BTreeMap<String, BTreeMap<String, Vec<Value>>> = BTreeMap::new();
    let Ok(doc) = serde_json::from_str::<Value>(pkg) else {
        return out;
    };
    for f in doc["files"].as_array().into_iter().flatten() {
        let Some(path) = f["path"].as_str() else {
            continue;
        };
        let mut parts = path.split('/');
        if let (Some("services"), Some(svc), Some(file), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
            && let Some(cat) = file.strip_suffix(".json")
            && let Some(records) = f["json"].as_array()
        {
            out.entry(svc.to_owned())
                .or_default()
                .insert(cat.to_owned(), records.clone());
        }
    }
    out
}

/// `GET /portal/requests/{id}/package`: the signed package, its hand-over to the person
/// recorded (S-5).
pub async fn package(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PortalError> {
    let s = session::current(&app, &headers, None).await?;
    let lang = s.lang;
    let (r, _) = owned_request(&s, &id).await?;
    if !has_package(&r) {
        return Err(PortalError::new(
            StatusCode::CONFLICT,
            lang,
            "package.none.title",
            "package.none.body",
        ));
    }
    let pkg = s
        .tenant
        .engine
        .package(&r.id)
        .await
        .map_err(|e| PortalError::internal(lang, &e))?;
    s.tenant
        .engine
        .hand_over(&r.id, "the data subject (portal download)", ACTOR)
        .await
        .map_err(|e| PortalError::internal(lang, &e))?;
    Ok(package_response(&r.id, pkg))
}

/// A package as a download.
pub fn package_response(id: &RequestId, pkg: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"dsr-package-{}.json\"", id.as_str()),
            ),
        ],
        Body::from(pkg),
    )
        .into_response()
}

/// `GET /portal/static/portal.css`.
pub async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../portal/static/portal.css"),
    )
        .into_response()
}

/// `GET /portal/static/verify.js`.
pub async fn verify_js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../portal/static/verify.js"),
    )
        .into_response()
}

/// Anything else under `/portal/`.
pub async fn not_found(headers: HeaderMap) -> PortalError {
    PortalError::not_found(session::request_lang(&headers, None))
}
