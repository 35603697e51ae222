//! Notifications to data subjects (`docs/notifications.md`): when a request is
//! received, extended (with the reason, GDPR art. 12(3)), completed or refused, its
//! subject is told by e-mail (SMTP) or through the host's webhook.
//!
//! - What is sent is derived from the request state the engine records, like status
//!   callbacks ([`crate::callbacks::observe`]): a request is *watched* from the moment it
//!   is seen (right after an API change, and every 200 ms for the unfinished requests of
//!   every tenant), and each event it reached is recorded once as a row
//!   (`received`, `extended-1`, `extended-2`, …, `completed`, `refused`): recording it
//!   again writes nothing, so several nodes, a restart or a retried observation send it
//!   once; a row is pending until sent, so a crash resends it (at least once).
//! - The subject's address is the first e-mail of the resolved subject (or of the
//!   directory), captured in the watch when the request is first seen: a completed
//!   erasure removes dsr's other copies in the commit that completes it, and its
//!   "completed" notice must still go. The watch goes when the request's last notice is
//!   recorded; a notice keeps the address and its message only while pending, and
//!   forgets both once sent or given up. A subject without an address is not notified
//!   (`skipped`, "no address").
//! - Only top-level requests are notified (a merge set's related requests are the same
//!   person's request).
//! - Retries: 1 s doubling up to 10 minutes, `max_attempts` (default 12) attempts, then
//!   `failed`; an SMTP answer that is permanent (5xx) gives up at once. Logs carry the
//!   request, the event and the state, never the address or the text.
//! - Webhook: a POST of the message as JSON, signed like the status callbacks
//!   (`Dsr-Timestamp`, `Dsr-Signature`: Ed25519 over `timestamp.body`, key at
//!   `GET /api/v1/callbacks/key`) and sent by their client, address checks included.

use crate::app::{App, Tenant};
use crate::portal::i18n::{Catalog, Lang};
use dsr_engine::server_store::{NotificationRow, NotifyWatch};
use dsr_engine::{Request, RequestFilter, RequestId, RequestStatus};
use dsr_model::{RequestType, TenantId};
use lettre::AsyncTransport as _;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Attempts before a notification is `failed` (the default of `max_attempts`).
pub const MAX_ATTEMPTS: i64 = 12;

/// The events a subject can be told about.
pub const EVENTS: [&str; 4] = ["received", "extended", "completed", "refused"];

/// How the TLS of an SMTP server is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text (a relay on the same machine or network only).
    None,
    /// Plain text, then STARTTLS, required (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
}

impl SmtpTls {
    /// `none`, `starttls` or `tls`.
    pub fn parse(s: &str) -> Option<SmtpTls> {
        match s {
            "none" => Some(SmtpTls::None),
            "starttls" => Some(SmtpTls::StartTls),
            "tls" => Some(SmtpTls::Tls),
            _ => None,
        }
    }
}

/// An SMTP server notices are handed to.
#[derive(Clone)]
pub struct Smtp {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// TLS.
    pub tls: SmtpTls,
    /// The sender (`privacy@example.com`).
    pub from: String,
    /// User name and password, if the server asks for them.
    pub credentials: Option<(String, String)>,
    /// CA certificates (PEM) trusted besides the system's.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Smtp")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Smtp {
    /// Parses `smtp://host[:port]` (the default port follows `tls`).
    pub fn parse_url(url: &str, tls: SmtpTls) -> Result<(String, u16), String> {
        let rest = url
            .strip_prefix("smtp://")
            .ok_or_else(|| format!("{url:?}: give smtp://host:port"))?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty()
            || rest.contains(['/', '@', '?', '#'])
            || rest.contains(char::is_whitespace)
        {
            return Err(format!(
                "{url:?}: give smtp://host:port (no user, path or spaces; credentials come from username_env / password_env or their _file)"
            ));
        }
        let default = match tls {
            SmtpTls::None => 25,
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
        };
        let (host, port) = if let Some(h) = rest.strip_prefix('[') {
            let (h, p) = h
                .split_once(']')
                .ok_or("an IPv6 address needs its closing ]")?;
            (h.to_owned(), p.strip_prefix(':'))
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), Some(p)),
                None => (rest.to_owned(), None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("{url:?}: the port is not a number from 1 to 65535"))?,
            None => default,
        };
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        Ok((host, port))
    }
}

/// Where notices go.
#[derive(Debug, Clone)]
pub enum Transport {
    /// An SMTP server.
    Smtp(Smtp),
    /// The host's webhook (an http(s) URL).
    Webhook(String),
}

/// `[notifications]`.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// Where notices go.
    pub transport: Transport,
    /// The events notified (of [`EVENTS`]).
    pub events: HashSet<String>,
    /// The language of notices.
    pub language: Lang,
    /// Another language for some tenants.
    pub tenant_languages: HashMap<TenantId, Lang>,
    /// Attempts before a notice is given up (at least 1).
    pub max_attempts: i64,
}

impl NotifySettings {
    /// What the types cannot say: a webhook URL the server may call, a sender that is an
    /// address, TLS in HIPAA mode.
    pub fn check(&self, allow_private: bool, hipaa: bool) -> Result<(), String> {
        if self.max_attempts < 1 {
            return Err("[notifications] max_attempts: give at least 1".into());
        }
        for e in &self.events {
            if !EVENTS.contains(&e.as_str()) {
                return Err(format!(
                    "[notifications] events: {e:?} is not an event; give some of {EVENTS:?}"
                ));
            }
        }
        match &self.transport {
            Transport::Webhook(url) => crate::callbacks::check_url(url, allow_private, hipaa)
                .map_err(|m| format!("[notifications] webhook: {m}")),
            Transport::Smtp(s) => {
                s.from.parse::<lettre::Address>().map_err(|e| {
                    format!(
                        "[notifications] from = {:?}: not an e-mail address ({e})",
                        s.from
                    )
                })?;
                if hipaa && s.tls == SmtpTls::None {
                    return Err("[notifications] tls = \"none\": notices must be sent over TLS in HIPAA mode (give starttls or tls)".into());
                }
                if s.credentials.is_some() && s.tls == SmtpTls::None && !allow_private {
                    return Err("[notifications]: a password is never sent without TLS (give tls = \"starttls\" or \"tls\")".into());
                }
                Ok(())
            }
        }
    }

    fn lang(&self, tenant: &TenantId) -> Lang {
        self.tenant_languages
            .get(tenant)
            .copied()
            .unwrap_or(self.language)
    }
}

/// The sender, made once from the settings.
pub struct Notifier {
    settings: NotifySettings,
    smtp: Option<lettre::AsyncSmtpTransport<lettre::Tokio1Executor>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// Builds the SMTP client (TLS roots read now, so a bad CA file stops the start).
    pub fn new(settings: NotifySettings) -> Result<Notifier, String> {
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        let smtp = match &settings.transport {
            Transport::Webhook(_) => None,
            Transport::Smtp(s) => {
                let params = || -> Result<TlsParameters, String> {
                    let mut b = TlsParameters::builder(s.host.clone());
                    if let Some(pem) = &s.ca_pem {
                        b = b.add_root_certificate(Certificate::from_pem(pem).map_err(|e| {
                            format!("[notifications] ca_file: no certificate could be read ({e})")
                        })?);
                    }
                    b.build_rustls()
                        .map_err(|e| format!("[notifications]: TLS for {}: {e}", s.host))
                };
                let tls = match s.tls {
                    SmtpTls::None => Tls::None,
                    SmtpTls::StartTls => Tls::Required(params()?),
                    SmtpTls::Tls => Tls::Wrapper(params()?),
                };
                let hello = s
                    .from
                    .rsplit_once('@')
                    .map_or("localhost", |(_, d)| d)
                    .to_owned();
                let mut b =
                    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(
                        s.host.clone(),
                    )
                    .port(s.port)
                    .tls(tls)
                    .hello_name(lettre::transport::smtp::extension::ClientId::Domain(hello))
                    .timeout(Some(Duration::from_secs(20)));
                if let Some((u, p)) = &s.credentials {
                    b = b.credentials(lettre::transport::smtp::authentication::Credentials::new(
                        u.clone(),
                        p.clone(),
                    ));
                }
                Some(b.build())
            }
        };
        Ok(Notifier { settings, smtp })
    }

    /// The settings.
    pub fn settings(&self) -> &NotifySettings {
        &self.settings
    }
}

/// The notifications' texts.
static NOTICES: Catalog = Catalog::new(
    "notifications",
    [
        (Lang::En, include_str!("../notify/i18n/en.toml")),
        (Lang::Fr, include_str!("../notify/i18n/fr.toml")),
    ],
);

fn t(lang: Lang, key: &str, args: &[(&str, &str)]) -> String {
    NOTICES.tf(lang, key, args)
}

fn type_key(ty: RequestType) -> &'static str {
    match ty {
        RequestType::Export => "type.export",
        RequestType::Update => "type.update",
        RequestType::Delete => "type.delete",
        RequestType::Portability => "type.portability",
    }
}

/// The message of one event: `{subject, text, …}` (JSON), in `lang`.
pub fn render(
    lang: Lang,
    organisation: &str,
    portal: bool,
    r: &Request,
    event: &str,
) -> serde_json::Value {
    let reference = r.id.as_str();
    let ty = t(lang, type_key(r.ty), &[]);
    let status = r.status().as_str();
    let base = [("org", organisation), ("reference", reference)];
    let kind = event.split('-').next().unwrap_or(event);
    let subject = t(lang, &format!("subject.{kind}"), &base);
    let mut lines = vec![t(lang, "greeting", &[])];
    let mut facts = serde_json::Map::new();
    match kind {
        "received" => {
            let (date, due) = (lang.date(r.created_at), lang.date(r.legal_deadline));
            lines.push(t(
                lang,
                "body.received",
                &[
                    ("org", organisation),
                    ("type", &ty),
                    ("date", &date),
                    ("due", &due),
                ],
            ));
            facts.insert("dueAt".into(), json!(r.legal_deadline));
        }
        "extended" => {
            let n: usize = event
                .strip_prefix("extended-")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            let reason = r
                .extensions
                .get(n.saturating_sub(1))
                .map_or("", |e| e.reason.as_str());
            let due = lang.date(r.legal_deadline);
            lines.push(t(
                lang,
                "body.extended",
                &[("type", &ty), ("due", &due), ("reason", reason)],
            ));
            facts.insert("dueAt".into(), json!(r.legal_deadline));
            facts.insert("reason".into(), json!(reason));
        }
        "completed" => {
            lines.push(t(lang, "body.completed", &[("type", &ty)]));
            if portal && matches!(r.ty, RequestType::Export | RequestType::Portability) {
                lines.push(t(lang, "body.completed.portal", &[]));
            }
        }
        "refused" => {
            let reason = r.decision.as_ref().map_or("", |d| d.reason.as_str());
            lines.push(t(
                lang,
                "body.refused",
                &[("org", organisation), ("type", &ty), ("reason", reason)],
            ));
            lines.push(t(lang, "body.refused.rights", &[]));
            facts.insert("reason".into(), json!(reason));
        }
        _ => {}
    }
    lines.push(format!(
        "{}\n{}",
        t(lang, "line.reference", &[("reference", reference)]),
        t(
            lang,
            "line.status",
            &[("status", &t(lang, &format!("status.{status}"), &[]))]
        )
    ));
    lines.push(t(lang, "footer", &[("org", organisation)]));
    let mut m = json!({
        "event": kind,
        "requestId": reference,
        "type": r.ty.as_str(),
        "status": status,
        "organisation": organisation,
        "language": lang.code(),
        "subject": subject,
        "text": lines.join("\n\n"),
    });
    if let Some(o) = m.as_object_mut() {
        o.extend(facts);
    }
    m
}

/// The events a request has reached, in order.
pub fn events_of(r: &Request) -> Vec<String> {
    let mut out = vec!["received".to_owned()];
    out.extend((1..=r.extensions.len()).map(|i| format!("extended-{i}")));
    match r.status() {
        RequestStatus::Completed => out.push("completed".into()),
        RequestStatus::Refused => out.push("refused".into()),
        _ => {}
    }
    out
}

/// Whether nothing will be notified about the request any more (a failed request may
/// be retried and complete).
fn last_notice(r: &Request) -> bool {
    matches!(
        r.status(),
        RequestStatus::Completed | RequestStatus::Refused | RequestStatus::Cancelled
    )
}

async fn address_of(t: &Tenant, r: &Request) -> Option<String> {
    if let Some(e) = r.subject.emails.first() {
        return Some(e.clone());
    }
    let dir = t.dir.read().await;
    dir.get(r.subject_id())
        .and_then(|s| s.emails.first().cloned())
}

/// Watches a request (capturing its subject's address) and records the notices it is
/// due: called right after the API changes a request, and by the dispatcher.
pub async fn track(app: &App, t: &Tenant, r: &Request) {
    let Some(n) = app.inner.notifier.as_ref() else {
        return;
    };
    if r.parent.is_some() {
        return;
    }
    let w = NotifyWatch {
        tenant: r.tenant.clone(),
        request_id: r.id.as_str().to_owned(),
        address: address_of(t, r).await,
        created_us: chrono::Utc::now().timestamp_micros(),
    };
    let new = match app.store().watch_notifications(&w).await {
        Ok(new) => new,
        Err(e) => {
            tracing::warn!(error = %e, request = %r.id, "notifications: cannot watch a request");
            return;
        }
    };
    // Watched before: the address then captured (the subject may be gone since).
    let address = if new {
        w.address
    } else {
        match app.store().notify_watches().await {
            Ok(ws) => ws
                .into_iter()
                .find(|x| x.tenant == w.tenant && x.request_id == w.request_id)
                .map_or(w.address, |x| x.address),
            Err(_) => w.address,
        }
    };
    derive(app, n, t, r, address).await;
}

/// Records the notices a request is due that are not recorded yet, and ends its watch
/// after its last one.
async fn derive(app: &App, n: &Notifier, t: &Tenant, r: &Request, address: Option<String>) {
    let tenant = &r.tenant;
    let recorded: HashSet<String> = match app.store().notifications(tenant, r.id.as_str()).await {
        Ok(rows) => rows.into_iter().map(|x| x.event).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "notifications: cannot read a request's notices");
            return;
        }
    };
    let s = &n.settings;
    let now = chrono::Utc::now().timestamp_micros();
    let lang = s.lang(tenant);
    let portal = app.settings().portal.is_some();
    let rows: Vec<NotificationRow> = events_of(r)
        .into_iter()
        .filter(|e| !recorded.contains(e))
        .filter(|e| s.events.contains(e.split('-').next().unwrap_or(e)))
        .map(|event| {
            let message = render(lang, &t.config.organisation, portal, r, &event).to_string();
            let (state, address, message, last_error) = match &address {
                Some(a) => ("pending", Some(a.clone()), Some(message), None),
                None => ("skipped", None, None, Some("no address".to_owned())),
            };
            NotificationRow {
                tenant: tenant.clone(),
                request_id: r.id.as_str().to_owned(),
                event,
                state: state.into(),
                address,
                message,
                attempts: 0,
                next_us: now,
                last_error,
                created_us: now,
                sent_us: None,
            }
        })
        .collect();
    let close = last_notice(r);
    if rows.is_empty() && !close {
        return;
    }
    match app
        .store()
        .record_notifications(tenant, r.id.as_str(), &rows, close)
        .await
    {
        Ok(k) if k > 0 => {
            tracing::debug!(request = %r.id, recorded = k, closed = close, "notifications recorded");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, request = %r.id, "notifications: cannot record"),
    }
}

/// Watches the unfinished requests of every tenant not watched yet, and records what
/// every watched request is due.
pub async fn observe(app: &App) {
    let Some(n) = app.inner.notifier.clone() else {
        return;
    };
    let watches = match app.store().notify_watches().await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "notifications: cannot read the watched requests");
            return;
        }
    };
    let watched: HashSet<(TenantId, String)> = watches
        .iter()
        .map(|w| (w.tenant.clone(), w.request_id.clone()))
        .collect();
    // Requests made another way (the CLI, another node) are found while unfinished.
    for t in app.tenants().await {
        for status in [
            RequestStatus::Received,
            RequestStatus::InProgress,
            RequestStatus::OnHold,
        ] {
            let filter = RequestFilter {
                status: Some(status),
                ..RequestFilter::default()
            };
            let Ok(list) = t.engine.list(&filter).await else {
                continue;
            };
            for r in list {
                if !watched.contains(&(r.tenant.clone(), r.id.as_str().to_owned())) {
                    track(app, &t, &r).await;
                }
            }
        }
    }
    for w in watches {
        let Ok(t) = app.load(&w.tenant).await else {
            continue;
        };
        let id = RequestId::from_stored(w.request_id.clone());
        match t.engine.get(&id).await {
            Ok((r, _)) => derive(app, &n, &t, &r, w.address.clone()).await,
            Err(dsr_engine::Error::UnknownRequest(_)) => {
                // Gone (retention): nothing more to tell.
                let _ = app
                    .store()
                    .record_notifications(&w.tenant, &w.request_id, &[], true)
                    .await;
            }
            Err(e) => tracing::warn!(error = %e, "notifications: cannot read a request"),
        }
    }
}

/// Watches and derives one request by id, after an API change.
pub async fn after_change(app: &App, t: &Tenant, id: &RequestId) {
    if app.inner.notifier.is_none() {
        return;
    }
    if let Ok((r, _)) = t.engine.get(id).await {
        track(app, t, &r).await;
    }
}

/// The whole message as an e-mail (RFC 5322; UTF-8 text in base64, the subject as an
/// RFC 2047 encoded word).
fn email(from: &str, to: &str, message: &serde_json::Value, id: &str) -> Vec<u8> {
    use base64::Engine as _;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let subject = message["subject"].as_str().unwrap_or("");
    let text = message["text"].as_str().unwrap_or("").replace('\n', "\r\n");
    let domain = from.rsplit_once('@').map_or("dsr.invalid", |(_, d)| d);
    let encoded = b64.encode(text.as_bytes());
    let mut body = String::new();
    for chunk in encoded.as_bytes().chunks(76) {
        body.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        body.push_str("\r\n");
    }
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: =?utf-8?B?{}?=\r\nDate: {}\r\nMessage-ID: <{id}@{domain}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\nContent-Language: {}\r\nAuto-Submitted: auto-generated\r\n\r\n{body}",
        b64.encode(subject.as_bytes()),
        chrono::Utc::now().to_rfc2822(),
        message["language"].as_str().unwrap_or("en"),
    )
    .into_bytes()
}

/// `text` with every occurrence of `address` (in any case) replaced.
fn without(text: &str, address: &str) -> String {
    if address.is_empty() {
        return text.to_owned();
    }
    let (lower, needle) = (text.to_lowercase(), address.to_lowercase());
    if lower.len() != text.len() {
        // Lower-casing changed the lengths (rare scripts): a plain replacement.
        return text.replace(address, "[the subject's address]");
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(i) = lower[at..].find(&needle) {
        let start = at + i;
        if !text.is_char_boundary(start) || !text.is_char_boundary(start + needle.len()) {
            break;
        }
        out.push_str(&text[at..start]);
        out.push_str("[the subject's address]");
        at = start + needle.len();
    }
    out.push_str(&text[at..]);
    out
}

/// What one attempt gave: sent, or an error and whether trying again can help.
enum Outcome {
    Sent,
    Failed { error: String, permanent: bool },
}

async fn send(app: &App, n: &Notifier, row: &NotificationRow, id: &str) -> Outcome {
    let (Some(to), Some(message)) = (&row.address, &row.message) else {
        return Outcome::Failed {
            error: "nothing to send (no address or message kept)".into(),
            permanent: true,
        };
    };
    let message: serde_json::Value = match serde_json::from_str(message) {
        Ok(m) => m,
        Err(e) => {
            return Outcome::Failed {
                error: format!("the stored message cannot be read: {e}"),
                permanent: true,
            };
        }
    };
    match (&n.settings.transport, &n.smtp) {
        (Transport::Webhook(url), _) => {
            let mut body = message;
            if let Some(o) = body.as_object_mut() {
                o.insert("to".into(), json!(to));
                o.insert("notificationId".into(), json!(id));
            }
            match crate::callbacks::post(app, url, &body.to_string(), id).await {
                Ok(s) if (200..300).contains(&s) => Outcome::Sent,
                Ok(s) => Outcome::Failed {
                    error: format!("the webhook answered {s}"),
                    permanent: false,
                },
                Err(e) => Outcome::Failed {
                    error: e,
                    permanent: false,
                },
            }
        }
        (Transport::Smtp(s), Some(smtp)) => {
            let (Ok(from), Ok(rcpt)) = (
                s.from.parse::<lettre::Address>(),
                to.parse::<lettre::Address>(),
            ) else {
                return Outcome::Failed {
                    error: "the subject's address is not a valid e-mail address".into(),
                    permanent: true,
                };
            };
            let Ok(envelope) = lettre::address::Envelope::new(Some(from), vec![rcpt]) else {
                return Outcome::Failed {
                    error: "no envelope could be made".into(),
                    permanent: true,
                };
            };
            let mid = id.replace('/', ".");
            let bytes = email(&s.from, to, &message, &mid);
            match smtp.send_raw(&envelope, &bytes).await {
                Ok(_) => Outcome::Sent,
                Err(e) => Outcome::Failed {
                    permanent: e.is_permanent(),
                    error: format!("SMTP {}:{}: {e}", s.host, s.port),
                },
            }
        }
        (Transport::Smtp(_), None) => Outcome::Failed {
            error: "no SMTP client".into(),
            permanent: true,
        },
    }
}

/// Sends the notices that are due; returns how many were attempted.
pub async fn deliver_due(app: &App) -> usize {
    let Some(n) = app.inner.notifier.clone() else {
        return 0;
    };
    let now = chrono::Utc::now().timestamp_micros();
    // Held for this node while it sends them (another takes them over if it dies).
    let hold = now + 300 * 1_000_000;
    let due = match app.store().take_due_notifications(now, hold, 20).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "notifications: cannot read due notices");
            return 0;
        }
    };
    let count = due.len();
    for mut row in due {
        let id = format!("{}/{}", row.request_id, row.event);
        let outcome = send(app, &n, &row, &id).await;
        row.attempts += 1;
        let now = chrono::Utc::now().timestamp_micros();
        match outcome {
            Outcome::Sent => {
                row.state = "sent".into();
                row.sent_us = Some(now);
                row.last_error = None;
            }
            Outcome::Failed { error, permanent } => {
                // A server's answer may quote the recipient: never kept or logged.
                let error = match &row.address {
                    Some(a) => without(&error, a),
                    None => error,
                };
                row.last_error = Some(error);
                if permanent || row.attempts >= n.settings.max_attempts {
                    row.state = "failed".into();
                } else {
                    row.next_us = now + crate::callbacks::retry_wait_us(row.attempts);
                }
            }
        }
        if row.state != "pending" {
            // Done with: the address and the text are forgotten.
            row.address = None;
            row.message = None;
        }
        tracing::info!(
            notification = %id,
            state = %row.state,
            attempts = row.attempts,
            error = row.last_error.as_deref().unwrap_or(""),
            "notification"
        );
        if let Err(e) = app.store().update_notification(&row).await {
            tracing::warn!(error = %e, "notifications: cannot record an attempt");
        }
    }
    count
}

/// With notifications turned off, the addresses kept for them would stay for nothing:
/// every watch is ended and every pending notice given up (`failed`, "notifications are
/// turned off"), its address and text cleared. How many notices were given up, or
/// `None` when the store failed before all were (the caller tries again).
pub async fn forget(app: &App) -> Option<usize> {
    let store = app.store();
    let watches = match store.notify_watches().await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "notifications: cannot read the requests watched");
            return None;
        }
    };
    for w in watches {
        if let Err(e) = store
            .record_notifications(&w.tenant, &w.request_id, &[], true)
            .await
        {
            tracing::warn!(error = %e, "notifications: cannot end a watch");
            return None;
        }
    }
    let mut given_up = 0;
    loop {
        let pending = match store.take_due_notifications(i64::MAX, i64::MAX, 100).await {
            Ok(p) if !p.is_empty() => p,
            Ok(_) => break,
            Err(e) => {
                tracing::warn!(error = %e, "notifications: cannot read pending notices");
                return None;
            }
        };
        for mut row in pending {
            row.state = "failed".into();
            row.last_error = Some("notifications are turned off".into());
            row.address = None;
            row.message = None;
            if let Err(e) = store.update_notification(&row).await {
                tracing::warn!(error = %e, "notifications: cannot give a notice up");
                return None;
            }
            given_up += 1;
        }
    }
    if given_up > 0 {
        tracing::warn!(
            notices = given_up,
            "notifications are turned off: pending notices given up, their addresses forgotten"
        );
    }
    Some(given_up)
}

/// The dispatcher: observes and sends until `stop` turns true. With notifications off
/// it forgets what an earlier configuration kept for them ([`forget`]; a busy store is
/// tried again, so an address is never left behind for a transient error) and returns.
pub async fn run(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
    if app.inner.notifier.is_none() {
        let mut wait = Duration::from_millis(100);
        while forget(&app).await.is_none() {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(Duration::from_secs(30));
        }
        return;
    }
    loop {
        if *stop.borrow() {
            return;
        }
        observe(&app).await;
        deliver_due(&app).await;
        tokio::select! {
            _ = stop.changed() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// The notifier of an app, if notifications are on.
pub fn notifier(app: &App) -> Option<&Arc<Notifier>> {
    app.inner.notifier.as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogs_have_the_same_keys_and_placeholders() {
        NOTICES.check().unwrap_or_else(|e| panic!("{e}"));
        assert!(NOTICES.has("body.received"));
        // Every status and type has its text.
        for s in RequestStatus::FINISHED.iter().chain(&[
            RequestStatus::Received,
            RequestStatus::InProgress,
            RequestStatus::OnHold,
        ]) {
            assert!(NOTICES.has(&format!("status.{}", s.as_str())), "{s:?}");
        }
    }

    #[test]
    fn smtp_urls_are_checked() {
        assert_eq!(
            Smtp::parse_url("smtp://mail.example.com", SmtpTls::StartTls).unwrap(),
            ("mail.example.com".into(), 587)
        );
        assert_eq!(
            Smtp::parse_url("smtp://127.0.0.1:2525", SmtpTls::None).unwrap(),
            ("127.0.0.1".into(), 2525)
        );
        assert_eq!(
            Smtp::parse_url("smtp://[::1]:25", SmtpTls::None).unwrap(),
            ("::1".into(), 25)
        );
        for bad in [
            "mail.example.com",
            "smtp://",
            "smtp://u:p@mail.example.com",
            "smtp://mail.example.com:0",
            "smtp://mail.example.com:x",
            "smtp://mail.example.com/path",
        ] {
            assert!(Smtp::parse_url(bad, SmtpTls::None).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_error_never_keeps_the_address() {
        let e = without(
            "550 5.1.1 <Zoe.Faure@Example.com>: recipient rejected; zoe.faure@example.com",
            "zoe.faure@example.com",
        );
        assert!(!e.to_lowercase().contains("zoe.faure"), "{e}");
        assert!(e.starts_with("550 5.1.1 <[the subject's address]>"), "{e}");
        assert_eq!(
            without("é and x@y.z", "x@y.z"),
            "é and [the subject's address]"
        );
    }

    #[test]
    fn an_email_is_ascii_with_short_lines() {
        let m = json!({"subject": "Acme : votre demande a été refusée", "text": "Bonjour,\n\nMotif : é".repeat(40), "language": "fr"});
        let bytes = email("privacy@acme.example", "zoe@example.com", &m, "r.1");
        let s = String::from_utf8(bytes).unwrap();
        assert!(s.is_ascii());
        assert!(s.split("\r\n").all(|l| l.len() <= 998));
        assert!(s.contains("Message-ID: <r.1@acme.example>"));
    }
}
