//! Forwarding a package to another party (Q-1, Q-4, S-5): the person makes a link for
//! a named recipient, limited in time and number of downloads. The receiving party
//! opens it without an account, downloads the package and checks its signature in the
//! browser (`verify.js`: Ed25519 and SHA-256 with the browser's WebCrypto) or with
//! `dsr verify`. Every download is counted in one step with its checks (the store) and
//! recorded as a hand-over in the request's audit trail.

use super::i18n::Lang;
use super::pages::{ACTOR, form, owned_request, package_response};
use super::session::{self, hash, random_token};
use super::{PortalError, html_response, page};
use crate::App;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use dsr_engine::RequestId;
use dsr_engine::server_store::ShareRow;
use maud::html;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct ShareForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    recipient: String,
    days: Option<u32>,
    downloads: Option<u32>,
}

fn base_url(app: &App, headers: &HeaderMap) -> String {
    if let Some(u) = app
        .settings()
        .portal
        .as_deref()
        .and_then(|p| p.public_url.clone())
    {
        return u.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if app
        .settings()
        .portal
        .as_deref()
        .is_some_and(|p| p.secure_cookies)
        && !host.starts_with("127.0.0.1")
        && !host.starts_with("localhost")
    {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// `POST /portal/requests/{id}/shares`: makes a link; the page shows it once (only its
/// hash is kept).
pub async fn create(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PortalError> {
    let s = session::current(&app, &headers, None).await?;
    let lang = s.lang;
    let f: ShareForm = form(req, lang).await?;
    session::check_csrf(&s, &f.csrf, &headers)?;
    let (r, _) = owned_request(&s, &id).await?;
    let settings = app
        .settings()
        .portal
        .as_deref()
        .ok_or_else(|| PortalError::not_found(lang))?;
    let recipient = f.recipient.trim().to_owned();
    let bad = |key: &str| PortalError::new(StatusCode::BAD_REQUEST, lang, "error.form.title", key);
    if recipient.is_empty() || recipient.len() > 160 || recipient.chars().any(char::is_control) {
        return Err(bad("forward.recipient.invalid"));
    }
    let days = f.days.unwrap_or(7);
    let downloads = f.downloads.unwrap_or(1);
    if days == 0 || days > settings.share_max_days {
        return Err(PortalError::text(
            StatusCode::BAD_REQUEST,
            lang,
            "error.form.title",
            lang.tf(
                "forward.days.invalid",
                &[("max", &settings.share_max_days.to_string())],
            ),
        ));
    }
    if downloads == 0 || downloads > settings.share_max_downloads {
        return Err(PortalError::text(
            StatusCode::BAD_REQUEST,
            lang,
            "error.form.title",
            lang.tf(
                "forward.downloads.invalid",
                &[("max", &settings.share_max_downloads.to_string())],
            ),
        ));
    }
    super::pages::limit(&app, &s, crate::limits::Class::Create)?;
    // The package must exist (built now if it was not yet).
    if let Err(e) = s.tenant.engine.package(&r.id).await {
        tracing::info!(error = %e, "portal: no package to forward");
        return Err(PortalError::new(
            StatusCode::CONFLICT,
            lang,
            "package.none.title",
            "package.none.body",
        ));
    }
    let token = random_token().map_err(|e| PortalError::internal(lang, &e))?;
    let now = app.clock().now();
    let row = ShareRow {
        id_hash: hash(&token),
        tenant: r.tenant.clone(),
        request_id: r.id.to_string(),
        recipient: recipient.clone(),
        created_us: now.timestamp_micros(),
        expires_us: (now + chrono::Duration::days(i64::from(days))).timestamp_micros(),
        max_downloads: i64::from(downloads),
        downloads: 0,
        revoked_us: None,
    };
    app.store()
        .put_share(&row)
        .await
        .map_err(|e| PortalError::internal(lang, &e))?;
    s.tenant
        .engine
        .record_package_link(
            &r.id,
            ACTOR,
            true,
            &row.id_hash[..12],
            &recipient,
            serde_json::json!({"days": days, "downloads": downloads, "expires_at": chrono::DateTime::from_timestamp_micros(row.expires_us)}),
        )
        .await
        .map_err(|e| PortalError::internal(lang, &e))?;
    let link = format!("{}/portal/shared/{token}", base_url(&app, &headers));
    let back = format!("/portal/requests/{}", r.id.as_str());
    let expires = chrono::DateTime::from_timestamp_micros(row.expires_us).unwrap_or_default();
    let body = html! {
        h1 { (lang.t("forward.made.title")) }
        p role="status" { (lang.tf("forward.made.body", &[("recipient", &recipient), ("date", &lang.datetime(expires)), ("n", &downloads.to_string())])) }
        div class="field" {
            label for="link" { (lang.t("forward.made.link")) }
            input type="text" id="link" readonly value=(link) class="wide";
        }
        p class="notice" role="note" { (lang.t("forward.made.once")) }
        p { a href=(back) { (lang.t("action.back_request")) } }
    };
    let chrome = super::Chrome {
        organisation: &s.tenant.config.organisation,
        csrf: &s.row.csrf,
        path: &back,
    };
    Ok(html_response(
        StatusCode::OK,
        page(lang, lang.t("forward.made.title"), Some(&chrome), body),
    ))
}

#[derive(Debug, Deserialize)]
struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    link: String,
}

/// `POST /portal/requests/{id}/shares/revoke`: withdraws a link.
pub async fn revoke(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, PortalError> {
    let s = session::current(&app, &headers, None).await?;
    let lang = s.lang;
    let f: RevokeForm = form(req, lang).await?;
    session::check_csrf(&s, &f.csrf, &headers)?;
    let (r, _) = owned_request(&s, &id).await?;
    // The link must be one of this request's.
    let link = app
        .store()
        .share(&f.link)
        .await
        .map_err(|e| PortalError::internal(lang, &e))?
        .filter(|l| l.tenant == r.tenant && l.request_id == r.id.as_str())
        .ok_or_else(|| PortalError::not_found(lang))?;
    let now = app.clock().now().timestamp_micros();
    if app
        .store()
        .revoke_share(&r.tenant, &link.id_hash, now)
        .await
        .map_err(|e| PortalError::internal(lang, &e))?
    {
        s.tenant
            .engine
            .record_package_link(
                &r.id,
                ACTOR,
                false,
                &link.id_hash[..12],
                &link.recipient,
                serde_json::Value::Null,
            )
            .await
            .map_err(|e| PortalError::internal(lang, &e))?;
    }
    Ok(axum::response::IntoResponse::into_response((
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            format!("/portal/requests/{}", r.id.as_str()),
        )],
    )))
}

/// `?lang=`.
#[derive(Debug, Default, Deserialize)]
pub struct SharedQuery {
    lang: Option<String>,
}

enum Usable {
    Yes(ShareRow),
    Gone(&'static str),
}

async fn look_up(app: &App, token: &str, lang: Lang) -> Result<Usable, PortalError> {
    if token.len() > 128 {
        return Err(PortalError::not_found(lang));
    }
    let Some(row) = app
        .store()
        .share(&hash(token))
        .await
        .map_err(|e| PortalError::internal(lang, &e))?
    else {
        return Err(PortalError::not_found(lang));
    };
    let now = app.clock().now().timestamp_micros();
    Ok(if row.revoked_us.is_some() {
        Usable::Gone("shared.gone.revoked")
    } else if row.expires_us <= now {
        Usable::Gone("shared.gone.expired")
    } else if row.downloads >= row.max_downloads {
        Usable::Gone("shared.gone.used")
    } else {
        Usable::Yes(row)
    })
}

/// `GET /portal/shared/{token}`: the receiving party's page.
pub async fn shared(
    State(app): State<App>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Query(q): Query<SharedQuery>,
) -> Result<Response, PortalError> {
    let lang = session::request_lang(&headers, q.lang.as_deref());
    let row = match look_up(&app, &token, lang).await? {
        Usable::Yes(r) => r,
        Usable::Gone(key) => {
            return Err(PortalError::new(
                StatusCode::GONE,
                lang,
                "shared.gone.title",
                key,
            ));
        }
    };
    let tenant = app
        .load(&row.tenant)
        .await
        .map_err(|e| PortalError::internal(lang, &e))?;
    let org = tenant.config.organisation.clone();
    let key = tenant.engine.public_key_hex();
    let expires = chrono::DateTime::from_timestamp_micros(row.expires_us).unwrap_or_default();
    let left = row.max_downloads - row.downloads;
    let url = format!("/portal/shared/{token}/package");
    let title = lang.tf("shared.title", &[("organisation", &org)]);
    let body = html! {
        h1 { (title) }
        p { (lang.tf("shared.lead", &[("organisation", &org), ("recipient", &row.recipient)])) }
        dl class="facts" {
            dt { (lang.t("shared.expires")) } dd { (lang.datetime(expires)) }
            dt { (lang.t("shared.left")) } dd { (left) }
            dt { (lang.t("shared.key")) } dd { code class="key" { (key) } }
        }
        p class="notice" role="note" { (lang.t("shared.counted")) }
        div id="verify" data-url=(url) data-key=(key)
            data-ok=(lang.t("verify.ok")) data-bad=(lang.t("verify.bad")) data-otherkey=(lang.t("verify.other_key"))
            data-nocrypto=(lang.t("verify.no_crypto")) data-working=(lang.t("verify.working")) data-save=(lang.t("verify.save"))
            data-failed=(lang.t("verify.failed")) {
            button type="button" id="verify-button" class="button" hidden { (lang.t("shared.download_verify")) }
            p id="verify-status" role="status" aria-live="polite" {}
            p id="verify-save" {}
        }
        noscript { p { (lang.t("shared.noscript")) } }
        p { a href=(url) id="plain-download" download { (lang.t("shared.download_plain")) } }
        h2 { (lang.t("shared.cli.title")) }
        p { (lang.t("shared.cli.body")) }
        pre { code { "dsr verify dsr-package.json --key " (key) } }
        script src="/portal/static/verify.js" defer {}
    };
    Ok(html_response(
        StatusCode::OK,
        page(lang, &title, None, body),
    ))
}

/// `GET /portal/shared/{token}/package`: one download, counted and recorded.
pub async fn shared_package(
    State(app): State<App>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, PortalError> {
    let lang = session::request_lang(&headers, None);
    if token.len() > 128 {
        return Err(PortalError::not_found(lang));
    }
    let id_hash = hash(&token);
    let now = app.clock().now().timestamp_micros();
    let Some(row) = app
        .store()
        .take_share_download(&id_hash, now)
        .await
        .map_err(|e| PortalError::internal(lang, &e))?
    else {
        return Err(match look_up(&app, &token, lang).await? {
            Usable::Gone(key) => PortalError::new(StatusCode::GONE, lang, "shared.gone.title", key),
            // Usable again between the two reads: say so rather than serve uncounted.
            Usable::Yes(_) => PortalError::new(
                StatusCode::CONFLICT,
                lang,
                "shared.gone.title",
                "shared.gone.used",
            ),
        });
    };
    let tenant = app
        .load(&row.tenant)
        .await
        .map_err(|e| PortalError::internal(lang, &e))?;
    let rid = RequestId::from_stored(row.request_id.clone());
    let pkg = match tenant.engine.package(&rid).await {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "portal: a forwarded package is no longer held");
            return Err(PortalError::new(
                StatusCode::GONE,
                lang,
                "shared.gone.title",
                "shared.gone.removed",
            ));
        }
    };
    // The hand-over (S-5, Q-4): to whom, by which link, which download.
    let to = format!(
        "{} (forwarding link {}, download {} of {})",
        row.recipient,
        &row.id_hash[..12],
        row.downloads,
        row.max_downloads
    );
    tenant
        .engine
        .hand_over(&rid, &to, "receiving party (portal link)")
        .await
        .map_err(|e| PortalError::internal(lang, &e))?;
    Ok(package_response(&rid, pkg))
}
