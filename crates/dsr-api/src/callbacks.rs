//! Status callbacks: every status a request with `callbackUrls` takes is POSTed to each
//! URL at least once, signed, retried with backoff, and its delivery state is stored
//! (and shown on the request).
//!
//! - What changes a status: creation, cancel / decision / retry through the API (each
//!   observed right after it), and workers finishing tasks (observed by a dispatcher
//!   every 200 ms). Workers move a request only to a finished status, so no status is
//!   skipped.
//! - Signature: Ed25519 (server key in the store; public half at
//!   `GET /api/v1/callbacks/key`) over `TIMESTAMP + "." + BODY`, with the timestamp
//!   (Unix seconds) in `Dsr-Timestamp` and the signature (hex) in `Dsr-Signature`, so a
//!   receiver can refuse anything older than 5 minutes. `Dsr-Delivery` identifies the
//!   delivery (a receiver dedupes on it: "at least once").
//! - The body names the request, its type and status, never the subject.
//! - Retries: 1 s doubling up to 10 minutes, 12 attempts (`callback_max_attempts`),
//!   then `failed`; every failed attempt records its error on the delivery.
//! - URLs: http(s) only; https only in HIPAA mode; loopback, private and link-local
//!   literal addresses and `localhost` are refused unless the server allows them
//!   (`allow_private_callbacks`, for tests and demos). Host names are checked again at
//!   delivery after resolution, before connecting.
//! - OpenDSR callbacks (`crate::opendsr`) are rows of the same table, stored as
//!   `opendsr <subject_request_id> <url>`: their body is the specification's (§8.6),
//!   recorded when the OpenDSR status changes, and they are signed with the processor's
//!   RSA key in `X-OpenDSR-Signature` / `X-OpenGDPR-Signature` (base64, over the body)
//!   instead of the Ed25519 headers.
//! - https: rustls (the `ring` provider, as the server's own TLS), trusting the
//!   operating system's roots plus the operator's `callback_ca_file` (a private CA);
//!   the receiver's certificate must name the URL's host. A certificate that is not
//!   trusted is a failed attempt whose error says so and how to fix it.

use crate::app::App;
use ed25519_dalek::Signer as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::json;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

/// Attempts before a delivery is `failed` (the default of `callback_max_attempts`).
pub const MAX_ATTEMPTS: i64 = 12;

/// The TLS client of https callbacks: the operating system's roots (where it has any)
/// and the certificates of `ca_file` (PEM), for receivers behind a private CA.
///
/// Fails if `ca_file` cannot be read or holds no certificate, so a mistyped path is
/// found at start-up rather than as failed deliveries.
pub fn tls_connector(ca_file: Option<&Path>) -> Result<TlsConnector, String> {
    let (tls, loaded) =
        dsr_connectors::http::client::tls_connector_for("callback_ca_file", ca_file)?;
    for e in &loaded.unreadable {
        tracing::warn!(error = %e, "callbacks: some of the system's CA certificates could not be read");
    }
    if loaded.system + loaded.own == 0 {
        tracing::warn!(
            "callbacks: no CA certificate (none from the system, no callback_ca_file): https callbacks will fail"
        );
    } else {
        tracing::debug!(
            system = loaded.system,
            own = loaded.own,
            "callbacks: TLS roots loaded"
        );
    }
    Ok(tls)
}

/// What a failed TLS handshake means for the operator.
fn tls_error(host: &str, e: &std::io::Error) -> String {
    let rustls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(c)) => format!(
            "TLS: the receiver's certificate for {host} is not trusted ({c:?}); if it is issued by a private CA, give that CA in [server] callback_ca_file"
        ),
        Some(r) => format!("TLS handshake with {host} failed: {r}"),
        None => format!("TLS handshake with {host} failed: {e}"),
    }
}

fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v) => {
            v.is_loopback()
                || v.is_private()
                || v.is_link_local()
                || v.is_unspecified()
                || v.is_broadcast()
        }
        IpAddr::V6(v) => {
            v.is_loopback()
                || v.is_unspecified()
                || (v.segments()[0] & 0xfe00) == 0xfc00
                || (v.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

struct Url {
    https: bool,
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Url, String> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(format!("{url:?} is not an http(s) URL"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty()
        || authority.contains('@')
        || url.len() > 2000
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{url:?} is not an accepted callback URL (no credentials, spaces or control characters)"
        ));
    }
    let (host, port) = if let Some(h) = authority.strip_prefix('[') {
        let (h, rest) = h
            .split_once(']')
            .ok_or("an IPv6 address needs its closing ]")?;
        let port = rest
            .strip_prefix(':')
            .map(str::parse)
            .transpose()
            .map_err(|_| "the port is not a number")?;
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_owned(),
                Some(p.parse().map_err(|_| "the port is not a number")?),
            ),
            None => (authority.to_owned(), None),
        }
    };
    Ok(Url {
        https,
        host,
        port: port.unwrap_or(if https { 443 } else { 80 }),
        path: path.to_owned(),
    })
}

/// Checks a callback URL when a request is created.
pub fn check_url(url: &str, allow_private: bool, hipaa: bool) -> Result<(), String> {
    let u = parse_url(url)?;
    if hipaa && !u.https {
        return Err(format!("{url:?}: callbacks must use https in HIPAA mode"));
    }
    if !allow_private {
        let literal = u.host.parse::<IpAddr>().ok();
        if literal.is_some_and(private) || u.host.eq_ignore_ascii_case("localhost") {
            return Err(format!(
                "{url:?} points at a loopback or private address, which this server does not call"
            ));
        }
    }
    if u.https && ServerName::try_from(u.host.as_str()).is_err() {
        return Err(format!(
            "{url:?}: {:?} is not a host name or address a TLS certificate can name",
            u.host
        ));
    }
    Ok(())
}

/// Records the current status of every watched request that changed (and closes the
/// callbacks of finished ones).
pub async fn observe(app: &App) {
    let open = match app.store().open_callbacks().await {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(error = %e, "callbacks: cannot read the open callbacks");
            return;
        }
    };
    for cb in open {
        let last = cb.last_status.clone();
        let Ok(t) = app.load(&cb.tenant).await else {
            continue;
        };
        let id = dsr_engine::RequestId::from_stored(cb.request_id.clone());
        let Ok((r, _)) = t.engine.get(&id).await else {
            continue;
        };
        let now = chrono::Utc::now();
        let (status, body, finished) = match crate::opendsr::split_callback(&cb.url) {
            Some((controller_id, url)) => {
                let Ok((status, body)) =
                    crate::opendsr::callback_body(app, &t, &r, controller_id, url).await
                else {
                    continue;
                };
                let finished = matches!(status.as_str(), "completed" | "cancelled");
                (status, body.to_string(), finished)
            }
            None => {
                let status = r.status().as_str();
                let body = json!({
                    "requestId": r.id.as_str(),
                    "type": r.ty.as_str(),
                    "status": status,
                    "previousStatus": last,
                    "at": now,
                })
                .to_string();
                (status.to_owned(), body, r.status().is_finished())
            }
        };
        if last.as_deref() == Some(status.as_str()) {
            continue;
        }
        if let Err(e) = app
            .store()
            .record_callback_status(&cb, &status, &body, finished, now.timestamp_micros())
            .await
        {
            tracing::warn!(error = %e, "callbacks: cannot record a status");
        }
    }
}

/// The signature headers of a body at `timestamp` (Unix seconds).
pub fn sign(app: &App, timestamp: i64, body: &str) -> String {
    let msg = format!("{timestamp}.{body}");
    hex::encode(app.inner.callback_key.sign(msg.as_bytes()).to_bytes())
}

/// POSTs a body to a stored callback URL (or a notifications webhook), signed, after the
/// address checks; the receiver's status.
pub(crate) async fn post(
    app: &App,
    stored: &str,
    body: &str,
    delivery: &str,
) -> Result<u16, String> {
    let opendsr = crate::opendsr::split_callback(stored).map(|(_, url)| url);
    let url = opendsr.unwrap_or(stored);
    let u = parse_url(url)?;
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((u.host.as_str(), u.port))
        .await
        .map_err(|e| format!("cannot resolve the host: {e}"))?
        .collect();
    let addr = addrs.first().ok_or("the host has no address")?;
    // Checked on the address actually connected to, after resolution (a public name
    // may resolve to a private address).
    if !app.settings().allow_private_callbacks && private(addr.ip()) {
        return Err("the host resolves to a loopback or private address".into());
    }
    let stream = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| "connecting timed out".to_owned())?
        .map_err(|e| format!("cannot connect: {e}"))?;
    let ts = chrono::Utc::now().timestamp();
    let default_port = if u.https { 443 } else { 80 };
    let host_header = match (u.host.contains(':'), u.port == default_port) {
        (false, true) => u.host.clone(),
        (false, false) => format!("{}:{}", u.host, u.port),
        (true, true) => format!("[{}]", u.host),
        (true, false) => format!("[{}]:{}", u.host, u.port),
    };
    let mut req = hyper::Request::post(u.path.as_str())
        .header(hyper::header::HOST, host_header)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(hyper::header::USER_AGENT, "dsr-callbacks")
        .header("dsr-delivery", delivery);
    if opendsr.is_some() {
        let p =
            app.inner.opendsr.as_ref().ok_or(
                "OpenDSR is no longer enabled on this server: its callbacks cannot be signed",
            )?;
        for (k, v) in p.headers(body.as_bytes())? {
            req = req.header(k, v);
        }
    } else {
        req = req
            .header("dsr-timestamp", ts.to_string())
            .header("dsr-signature", sign(app, ts, body));
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_owned())))
        .map_err(|e| e.to_string())?;
    if !u.https {
        return send(hyper_util::rt::TokioIo::new(stream), req).await;
    }
    let name = ServerName::try_from(u.host.clone())
        .map_err(|_| format!("{:?} cannot be named by a TLS certificate", u.host))?;
    let tls = tokio::time::timeout(
        Duration::from_secs(10),
        app.inner.callback_tls.connect(name, stream),
    )
    .await
    .map_err(|_| "the TLS handshake timed out".to_owned())?
    .map_err(|e| tls_error(&u.host, &e))?;
    send(hyper_util::rt::TokioIo::new(tls), req).await
}

/// One HTTP/1.1 exchange on a connected stream (plain or TLS); the receiver's status.
async fn send<I>(io: I, req: hyper::Request<Full<Bytes>>) -> Result<u16, String>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
        .await
        .map_err(|_| "the receiver did not answer within 10 s".to_owned())?
        .map_err(|e| format!("sending failed: {e}"))?;
    let status = resp.status().as_u16();
    let _ = tokio::time::timeout(Duration::from_secs(2), resp.into_body().collect()).await;
    Ok(status)
}

/// How long after its `attempts`-th failed attempt a delivery is tried again
/// (microseconds): 1 s, doubling, at most 10 minutes. Callbacks and notifications alike.
pub(crate) fn retry_wait_us(attempts: i64) -> i64 {
    (1i64 << (attempts - 1).clamp(0, 10)).min(600) * 1_000_000
}

/// Sends the deliveries that are due; returns how many were attempted.
pub async fn deliver_due(app: &App) -> usize {
    let now = chrono::Utc::now().timestamp_micros();
    // Held for this node while it sends them (another node takes them over if this
    // one dies before recording the attempt).
    let hold = now + 300 * 1_000_000;
    let due = match app.store().take_due_deliveries(now, hold, 50).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "callbacks: cannot read due deliveries");
            return 0;
        }
    };
    let n = due.len();
    for mut d in due {
        let id = format!("{}/{}", d.request_id, d.seq);
        let result = post(app, &d.url, &d.body, &id).await;
        d.attempts += 1;
        let now = chrono::Utc::now().timestamp_micros();
        match result {
            Ok(s) if (200..300).contains(&s) => {
                d.state = "delivered".into();
                d.delivered_us = Some(now);
                d.last_error = None;
            }
            other => {
                d.last_error = Some(match other {
                    Ok(s) => format!("the receiver answered {s}"),
                    Err(e) => e,
                });
                if d.attempts >= app.settings().callback_max_attempts {
                    d.state = "failed".into();
                } else {
                    d.next_us = now + retry_wait_us(d.attempts);
                }
            }
        }
        tracing::debug!(delivery = %id, state = %d.state, attempts = d.attempts, "callback");
        if let Err(e) = app.store().update_delivery(&d).await {
            tracing::warn!(error = %e, "callbacks: cannot record a delivery");
        }
    }
    n
}

/// The dispatcher: observes and delivers until `stop` turns true.
pub async fn run(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("http://127.0.0.1:9/cb", true, false).is_ok());
        assert!(check_url("http://127.0.0.1:9/cb", false, false).is_err());
        assert!(check_url("http://localhost/cb", false, false).is_err());
        assert!(check_url("http://10.1.2.3/cb", false, false).is_err());
        assert!(check_url("http://[::1]:8080/cb", false, false).is_err());
        assert!(check_url("http://hooks.example.com/cb", false, false).is_ok());
        assert!(check_url("http://hooks.example.com/cb", false, true).is_err());
        assert!(check_url("ftp://x/cb", true, false).is_err());
        assert!(check_url("http://user:pw@x/cb", true, false).is_err());
        // https, also in HIPAA mode.
        assert!(check_url("https://hooks.example.com/cb", false, true).is_ok());
        assert!(check_url("https://[::1]:8443/cb", true, true).is_ok());
        assert!(check_url("https://10.0.0.1/cb", false, true).is_err());
    }

    #[test]
    fn a_ca_file_is_checked_when_the_client_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let Err(e) = tls_connector(Some(&missing)) else {
            panic!("a missing file")
        };
        assert!(e.contains("cannot read"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let Err(e) = tls_connector(Some(&empty)) else {
            panic!("no certificate")
        };
        assert!(e.contains("no certificate"), "{e}");
        assert!(tls_connector(None).is_ok());
    }
}
