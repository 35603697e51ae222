//! The data subject's own door (Q-1 … Q-4, S-2, S-4, S-5): a self-service portal
//! served under `/portal`, server-rendered HTML with one small script (package
//! verification in the browser), in the languages of `portal/i18n/`.
//!
//! - **Sign-in through the organisation's login** ([`assertion`]): the host application
//!   sends its signed-in customer with a short-lived JWT signed by the host's key,
//!   registered per tenant. dsr never asks for a password. An assertion is single use
//!   and lives at most five minutes.
//! - **Sessions** ([`session`]): a random id in a `__Host-` cookie (`Secure`,
//!   `HttpOnly`, `SameSite=Strict`), kept in the server store by its SHA-256, ended
//!   after [`PortalSettings::idle`] without a request (15 minutes by default and at most
//!   in HIPAA mode, H-5). Every form carries the session's CSRF token.
//! - **Pages** ([`pages`]): what the organisation holds (profile, services and
//!   categories, blind spots, the latest export's data), the person's requests with
//!   status and deadline; asking for an export, a portability package, a correction or
//!   an erasure; downloading the signed package and forwarding it by a link limited in
//!   time and downloads, each download recorded as a hand-over (S-5, Q-4).
//!
//! One rule above all: a session sees only its own subject. Every request id from a
//! URL is checked against the session's subject (or its merge set: the same person),
//! and anything else is "not found", like an id that does not exist.

pub mod assertion;
pub mod i18n;
pub mod pages;
pub mod session;
pub mod share;

use crate::App;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dsr_model::TenantId;
use i18n::Lang;
use maud::{DOCTYPE, Markup, html};
use std::time::Duration;

pub use assertion::HostKey;

/// Longest a sign-in assertion may live (`exp - iat`), seconds.
pub const MAX_ASSERTION_SECONDS: i64 = 300;
/// Idle expiry of a session in HIPAA mode and by default (H-5).
pub const DEFAULT_IDLE: Duration = Duration::from_secs(15 * 60);
/// Shortest idle expiry accepted (H-5: configurable down to 5 minutes).
pub const MIN_IDLE: Duration = Duration::from_secs(5 * 60);
/// A session ends this long after sign-in whatever its activity.
pub const MAX_SESSION: Duration = Duration::from_secs(8 * 3600);
/// Largest form accepted, bytes.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// How the portal is configured (`[portal]` of the server's configuration).
#[derive(Debug, Clone)]
pub struct PortalSettings {
    /// The host applications allowed to sign their customers in, each for one tenant.
    pub hosts: Vec<HostKey>,
    /// The `aud` an assertion must carry.
    pub audience: String,
    /// A session ends after this long without a request.
    pub idle: Duration,
    /// Cookies are `Secure` with the `__Host-` prefix. Only a plain-HTTP demo on a
    /// name other than localhost turns this off (browsers keep `Secure` cookies of
    /// `http://localhost` and `http://127.0.0.1`).
    pub secure_cookies: bool,
    /// The address people reach the portal at (`https://privacy.example.com`), used in
    /// the forwarding links shown; without it, links are made from the request's
    /// `Host`.
    pub public_url: Option<String>,
    /// Longest a forwarding link may last, days.
    pub share_max_days: u32,
    /// Most downloads a forwarding link may allow.
    pub share_max_downloads: u32,
}

impl Default for PortalSettings {
    fn default() -> Self {
        PortalSettings {
            hosts: Vec::new(),
            audience: "dsr-portal".into(),
            idle: DEFAULT_IDLE,
            secure_cookies: true,
            public_url: None,
            share_max_days: 30,
            share_max_downloads: 10,
        }
    }
}

impl PortalSettings {
    /// Checks the settings (the server refuses to start otherwise); `hipaa` caps the
    /// idle expiry at 15 minutes.
    pub fn check(&self, hipaa: bool) -> Result<(), String> {
        if self.idle < MIN_IDLE {
            return Err(format!(
                "portal.idle_minutes must be at least {} (H-5)",
                MIN_IDLE.as_secs() / 60
            ));
        }
        if hipaa && self.idle > DEFAULT_IDLE {
            return Err(format!(
                "portal.idle_minutes is {} but HIPAA mode allows at most 15 (H-5 automatic logoff)",
                self.idle.as_secs() / 60
            ));
        }
        if self.audience.trim().is_empty() {
            return Err("portal.audience must not be empty".into());
        }
        if !(1..=365).contains(&self.share_max_days) {
            return Err("portal.share_max_days must be between 1 and 365".into());
        }
        if !(1..=100).contains(&self.share_max_downloads) {
            return Err("portal.share_max_downloads must be between 1 and 100".into());
        }
        if let Some(u) = &self.public_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(format!(
                "portal.public_url {u:?} must start with https:// (or http:// for a local demo)"
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for h in &self.hosts {
            if !seen.insert((h.issuer.clone(), h.tenant.clone())) {
                return Err(format!(
                    "portal.hosts: issuer {:?} is registered twice for tenant {}",
                    h.issuer, h.tenant
                ));
            }
        }
        Ok(())
    }

    /// The hosts registered for a tenant.
    pub fn hosts_of<'a>(&'a self, tenant: &'a TenantId) -> impl Iterator<Item = &'a HostKey> {
        self.hosts.iter().filter(move |h| &h.tenant == tenant)
    }
}

/// How long an expired forwarding link still shows on the person's request page before
/// it is removed from the store with its recipient's name.
pub const EXPIRED_LINKS_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Removes what the portal no longer needs: sessions idle past the limit (their
/// subject id with them) and links expired for [`EXPIRED_LINKS_KEPT`]. The server runs
/// it every minute.
pub async fn housekeeping(app: &App) {
    let Some(s) = app.settings().portal.as_deref() else {
        return;
    };
    let now = app.clock().now().timestamp_micros();
    let store = app.store();
    if let Err(e) = store
        .end_idle_portal_sessions(now - s.idle.as_micros() as i64)
        .await
    {
        tracing::warn!(error = %e, "portal: cannot end idle sessions");
    }
    if let Err(e) = store
        .remove_expired_shares(now - EXPIRED_LINKS_KEPT.as_micros() as i64)
        .await
    {
        tracing::warn!(error = %e, "portal: cannot remove expired links");
    }
}

/// [`housekeeping`] every minute until `stop`.
pub async fn run(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        housekeeping(&app).await;
        tokio::select! {
            _ = stop.changed() => {
                if *stop.borrow() {
                    return;
                }
            }
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
    }
}

/// The portal's routes, all under `/portal` (merged into [`crate::router`] when the
/// settings have a portal).
pub fn router() -> Router<App> {
    Router::new()
        .route("/portal", get(pages::home))
        .route("/portal/", get(pages::home))
        .route(
            "/portal/signin",
            get(pages::signin_get).post(pages::signin_post),
        )
        .route("/portal/signout", post(pages::signout))
        .route("/portal/ask/{kind}", get(pages::ask))
        .route("/portal/correct", get(pages::correct))
        .route("/portal/requests", post(pages::create))
        .route("/portal/requests/{id}", get(pages::request))
        .route("/portal/requests/{id}/package", get(pages::package))
        .route("/portal/requests/{id}/shares", post(share::create))
        .route("/portal/requests/{id}/shares/revoke", post(share::revoke))
        .route("/portal/shared/{token}", get(share::shared))
        .route("/portal/shared/{token}/package", get(share::shared_package))
        .route("/portal/static/portal.css", get(pages::css))
        .route("/portal/static/verify.js", get(pages::verify_js))
        .route("/portal/{*rest}", get(pages::not_found))
        .layer(middleware::from_fn(security_headers))
}

/// Headers of every portal answer: nothing is cached, nothing is framed, scripts and
/// styles come only from the portal, no referrer leaves (forwarding links carry their
/// token in the path).
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
    resp
}

/// An answer of the portal that is not the page asked for: an HTML page saying what
/// happened and what to do, in the person's language, with its status code.
#[derive(Debug)]
pub struct PortalError {
    status: StatusCode,
    lang: Lang,
    title: String,
    message: String,
    /// Set-Cookie headers to send with it (a session ended).
    cookies: Vec<String>,
}

impl PortalError {
    /// An error page from two catalog keys (title, message).
    pub fn new(status: StatusCode, lang: Lang, title: &str, message: &str) -> Self {
        PortalError {
            status,
            lang,
            title: lang.t(title).to_owned(),
            message: lang.t(message).to_owned(),
            cookies: Vec::new(),
        }
    }

    /// An error page whose message is given in full (already in the person's language).
    pub fn text(status: StatusCode, lang: Lang, title: &str, message: String) -> Self {
        PortalError {
            status,
            lang,
            title: lang.t(title).to_owned(),
            message,
            cookies: Vec::new(),
        }
    }

    /// Also clears the session cookie.
    pub fn clearing(mut self, cookie: String) -> Self {
        self.cookies.push(cookie);
        self
    }

    /// Not found (also what another person's request is).
    pub fn not_found(lang: Lang) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            lang,
            "error.not_found.title",
            "error.not_found.body",
        )
    }

    /// Something failed on the server's side; the detail goes to the log, not the page.
    pub fn internal(lang: Lang, what: &dyn std::fmt::Debug) -> Self {
        tracing::warn!(error = ?what, "portal: internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            lang,
            "error.internal.title",
            "error.internal.body",
        )
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        let lang = self.lang;
        let body = page(
            lang,
            &self.title,
            None,
            html! {
                h1 { (self.title) }
                p role="alert" { (self.message) }
            },
        );
        let mut resp = html_response(self.status, body);
        for c in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

/// What a page's header shows when someone is signed in.
pub struct Chrome<'a> {
    /// The organisation's name.
    pub organisation: &'a str,
    /// The session's CSRF token (for the sign-out form).
    pub csrf: &'a str,
    /// The path of the page (for the language links).
    pub path: &'a str,
}

/// The page layout: language, skip link, header with navigation (signed in), main.
pub fn page(lang: Lang, title: &str, chrome: Option<&Chrome<'_>>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — " (lang.t("portal.name")) }
                link rel="stylesheet" href="/portal/static/portal.css";
            }
            body {
                a class="skip" href="#main" { (lang.t("nav.skip")) }
                header class="top" {
                    @if let Some(c) = chrome {
                        p class="org" { (c.organisation) " · " (lang.t("portal.name")) }
                        nav aria-label=(lang.t("nav.label")) {
                            ul {
                                li { a href="/portal/" { (lang.t("nav.home")) } }
                                li { a href="/portal/correct" { (lang.t("nav.correct")) } }
                                li {
                                    @for other in Lang::ALL {
                                        @if other != lang {
                                            a href={ (c.path) "?lang=" (other.code()) } lang=(other.code()) hreflang=(other.code()) {
                                                (other.native_name())
                                            }
                                        }
                                    }
                                }
                                li {
                                    form method="post" action="/portal/signout" class="inline" {
                                        input type="hidden" name="csrf" value=(c.csrf);
                                        button type="submit" class="link" { (lang.t("nav.signout")) }
                                    }
                                }
                            }
                        }
                    } @else {
                        p class="org" { (lang.t("portal.name")) }
                    }
                }
                main id="main" tabindex="-1" { (main) }
                footer {
                    p { (lang.t("footer.rights")) }
                }
            }
        }
    }
}

/// An HTML answer.
pub fn html_response(status: StatusCode, body: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body.into_string(),
    )
        .into_response()
}
