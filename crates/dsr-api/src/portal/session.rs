//! Portal sessions: a random id in a cookie, the server store keeps its SHA-256 with
//! the tenant, the subject, a CSRF token, the language and the times. Any node of a
//! PostgreSQL setup reads the same sessions; signing out or an idle expiry ends it for
//! every node.

use super::i18n::Lang;
use super::{MAX_SESSION, PortalError, PortalSettings};
use crate::app::{App, Tenant};
use axum::http::{HeaderMap, StatusCode, header};
use dsr_engine::server_store::PortalSessionRow;
use dsr_model::SubjectId;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The cookie's name with `Secure` cookies: the `__Host-` prefix makes browsers refuse
/// it unless `Secure`, host-only and `Path=/`.
pub const COOKIE_SECURE: &str = "__Host-dsr-portal";
/// The cookie's name on a plain-HTTP demo (`secure_cookies = false`).
pub const COOKIE_PLAIN: &str = "dsr-portal";

/// A signed-in data subject.
pub struct Session {
    /// The stored session.
    pub row: PortalSessionRow,
    /// The subject.
    pub subject: SubjectId,
    /// The merge set of their record (the same person's other records), at the start
    /// of the request.
    pub merge_set: Option<dsr_model::MergeSetId>,
    /// Their tenant (engine, directory, configuration).
    pub tenant: Arc<Tenant>,
    /// The language of the pages.
    pub lang: Lang,
}

fn cookie_name(s: &PortalSettings) -> &'static str {
    if s.secure_cookies {
        COOKIE_SECURE
    } else {
        COOKIE_PLAIN
    }
}

/// The `Set-Cookie` value of a new session (a browser-session cookie: the server ends
/// it, the browser forgets it when closed).
pub fn set_cookie(s: &PortalSettings, token: &str) -> String {
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict{secure}",
        cookie_name(s)
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(s: &PortalSettings) -> String {
    let secure = if s.secure_cookies { "; Secure" } else { "" };
    format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{secure}",
        cookie_name(s)
    )
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// SHA-256 (hex) of a secret: what the store keeps.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A random secret (32 bytes, URL-safe base64).
pub fn random_token() -> Result<String, dsr_ops::Error> {
    use base64::Engine as _;
    let b = dsr_ops::clients::random_bytes()?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

/// The language of a request before a session is known: `?lang=`, then
/// `Accept-Language`.
pub fn request_lang(headers: &HeaderMap, query: Option<&str>) -> Lang {
    query.and_then(Lang::from_code).unwrap_or_else(|| {
        Lang::negotiate(
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        )
    })
}

fn settings(app: &App, lang: Lang) -> Result<&PortalSettings, PortalError> {
    app.settings()
        .portal
        .as_deref()
        .ok_or_else(|| PortalError::not_found(lang))
}

/// Starts a session for a verified subject; returns the cookie to set and the session.
pub async fn start(
    app: &App,
    tenant: &dsr_model::TenantId,
    subject: &SubjectId,
    lang: Lang,
) -> Result<(String, PortalSessionRow), PortalError> {
    let s = settings(app, lang)?;
    let token = random_token().map_err(|e| PortalError::internal(lang, &e))?;
    let csrf = random_token().map_err(|e| PortalError::internal(lang, &e))?;
    let now = app.clock().now().timestamp_micros();
    let row = PortalSessionRow {
        id_hash: hash(&token),
        tenant: tenant.clone(),
        subject_id: subject.to_string(),
        csrf,
        lang: lang.code().into(),
        created_us: now,
        last_us: now,
    };
    let store = app.store();
    // Housekeeping: sessions idle past the limit are gone for good.
    let idle_us = s.idle.as_micros() as i64;
    if let Err(e) = store.end_idle_portal_sessions(now - idle_us).await {
        tracing::warn!(error = %e, "portal: cannot end idle sessions");
    }
    store
        .put_portal_session(&row)
        .await
        .map_err(|e| PortalError::internal(lang, &e))?;
    Ok((set_cookie(s, &token), row))
}

/// The session of a request, if it is signed in and not expired; records the request
/// (which resets the idle timer) and a language asked for with `?lang=`.
pub async fn current(
    app: &App,
    headers: &HeaderMap,
    lang_query: Option<&str>,
) -> Result<Session, PortalError> {
    let asked = lang_query.and_then(Lang::from_code);
    let fallback = request_lang(headers, lang_query);
    let s = settings(app, fallback)?;
    let signed_out = |lang: Lang| {
        PortalError::new(
            StatusCode::UNAUTHORIZED,
            lang,
            "signin.needed.title",
            "signin.needed.body",
        )
    };
    let Some(token) = cookie(headers, cookie_name(s)) else {
        return Err(signed_out(fallback));
    };
    let id_hash = hash(&token);
    let store = app.store();
    let Some(row) = store
        .portal_session(&id_hash)
        .await
        .map_err(|e| PortalError::internal(fallback, &e))?
    else {
        return Err(signed_out(fallback).clearing(clear_cookie(s)));
    };
    let lang = asked
        .or_else(|| Lang::from_code(&row.lang))
        .unwrap_or(fallback);
    let now = app.clock().now().timestamp_micros();
    let idle = s.idle.as_micros() as i64;
    if now - row.last_us > idle || now - row.created_us > MAX_SESSION.as_micros() as i64 {
        let _ = store.end_portal_session(&id_hash).await;
        return Err(PortalError::text(
            StatusCode::UNAUTHORIZED,
            lang,
            "signin.expired.title",
            lang.tf(
                "signin.expired.body",
                &[("minutes", &(s.idle.as_secs() / 60).to_string())],
            ),
        )
        .clearing(clear_cookie(s)));
    }
    let tenant = app
        .load(&row.tenant)
        .await
        .map_err(|e| PortalError::internal(lang, &e))?;
    let subject =
        SubjectId::new(row.subject_id.clone()).map_err(|e| PortalError::internal(lang, &e))?;
    // A subject erased or removed since sign-in has nothing left to see.
    let merge_set = tenant
        .dir
        .read()
        .await
        .get(&subject)
        .map(|x| x.merge_set.clone());
    let Some(merge_set) = merge_set else {
        let _ = store.end_portal_session(&id_hash).await;
        return Err(PortalError::new(
            StatusCode::UNAUTHORIZED,
            lang,
            "signin.gone.title",
            "signin.gone.body",
        )
        .clearing(clear_cookie(s)));
    };
    store
        .touch_portal_session(&id_hash, now, lang.code())
        .await
        .map_err(|e| PortalError::internal(lang, &e))?;
    Ok(Session {
        row,
        subject,
        merge_set,
        tenant,
        lang,
    })
}

/// Ends the session of a request (sign-out); the cookie to clear it.
pub async fn end(app: &App, headers: &HeaderMap) -> String {
    let Some(s) = app.settings().portal.as_deref() else {
        return String::new();
    };
    if let Some(token) = cookie(headers, cookie_name(s)) {
        let _ = app.store().end_portal_session(&hash(&token)).await;
    }
    clear_cookie(s)
}

/// Checks a form's CSRF token against the session's, and that the browser did not
/// send the form from another site (`Sec-Fetch-Site`, where the browser sends it).
pub fn check_csrf(session: &Session, token: &str, headers: &HeaderMap) -> Result<(), PortalError> {
    let site_ok = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v == "same-origin" || v == "none");
    let token_ok: bool = token.as_bytes().ct_eq(session.row.csrf.as_bytes()).into();
    if site_ok && token_ok && !token.is_empty() {
        Ok(())
    } else {
        Err(PortalError::new(
            StatusCode::FORBIDDEN,
            session.lang,
            "error.csrf.title",
            "error.csrf.body",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_host_only_http_only_strict_and_secure() {
        let s = PortalSettings::default();
        let c = set_cookie(&s, "abc");
        assert!(c.starts_with("__Host-dsr-portal=abc; Path=/; HttpOnly; SameSite=Strict; Secure"));
        assert!(!c.contains("Domain"));
        let plain = PortalSettings {
            secure_cookies: false,
            ..PortalSettings::default()
        };
        assert!(set_cookie(&plain, "abc").starts_with("dsr-portal=abc;"));
        assert!(clear_cookie(&s).contains("Max-Age=0"));
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; __Host-dsr-portal=tok; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, COOKIE_SECURE).as_deref(), Some("tok"));
        assert_eq!(cookie(&h, COOKIE_PLAIN), None);
    }
}
