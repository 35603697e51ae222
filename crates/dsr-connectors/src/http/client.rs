//! One HTTP/1.1 exchange per call over plain TCP or rustls (ring provider, the
//! operating system's roots plus an optional private CA): the stack of dsr-api's
//! status callbacks. The whole exchange — connect, TLS, send, read the body up to a
//! limit — is bounded by one timeout.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use url::Url;

/// What went wrong before an HTTP status came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// No answer in time, or the connection failed: worth trying again.
    Unreachable(String),
    /// The answer is not acceptable (too large, not HTTP): trying again gives the same.
    Refused(String),
}

/// A response.
#[derive(Debug)]
pub struct Response {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: hyper::HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Response {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The client of one connector.
#[derive(Clone)]
pub struct Client {
    tls: TlsConnector,
    timeout: Duration,
    max_body: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// How many trusted roots a TLS client was given, and what could not be read.
#[derive(Debug, Clone, Default)]
pub struct RootsLoaded {
    /// From the operating system's store.
    pub system: usize,
    /// From the configured CA file.
    pub own: usize,
    /// The system's certificates that could not be read.
    pub unreadable: Vec<String>,
}

/// The TLS client: the system's roots and the certificates of `ca_file` (PEM). `key`
/// names the setting in messages (`ca_file`, `callback_ca_file`). Fails if the file
/// cannot be read, is not PEM or holds no certificate, so a mistyped path is found when
/// the client is made rather than as failed calls.
pub fn tls_connector_for(
    key: &str,
    ca_file: Option<&Path>,
) -> Result<(TlsConnector, RootsLoaded), String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let mut loaded = RootsLoaded {
        unreadable: native.errors.iter().map(|e| e.to_string()).collect(),
        ..RootsLoaded::default()
    };
    loaded.system = roots.add_parsable_certificates(native.certs).0;
    if let Some(p) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(p)
            .map_err(|e| format!("{key}: cannot read {}: {e}", p.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{key}: {} is not PEM: {e}", p.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "{key}: {} holds no certificate (give the CA's certificates, PEM)",
                p.display()
            ));
        }
        for c in certs {
            roots.add(c).map_err(|e| {
                format!(
                    "{key}: {} holds a certificate rustls refuses as a CA: {e}",
                    p.display()
                )
            })?;
            loaded.own += 1;
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((TlsConnector::from(Arc::new(config)), loaded))
}

/// [`tls_connector_for`] of a connector's `ca_file`.
pub fn tls_connector(ca_file: Option<&Path>) -> Result<TlsConnector, String> {
    tls_connector_for("ca_file", ca_file).map(|(c, _)| c)
}

impl Client {
    /// A client; `timeout` bounds each exchange, `max_body` each response body.
    pub fn new(tls: TlsConnector, timeout: Duration, max_body: usize) -> Self {
        Client {
            tls,
            timeout,
            max_body,
        }
    }

    /// Sends one request and reads the whole response.
    pub async fn send(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Response, SendError> {
        match tokio::time::timeout(self.timeout, self.exchange(method, url, headers, body)).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Unreachable(format!(
                "no answer within {:?} ({method} {})",
                self.timeout,
                shown(url)
            ))),
        }
    }

    async fn exchange(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<Response, SendError> {
        let https = url.scheme() == "https";
        let host = url
            .host_str()
            .ok_or_else(|| SendError::Refused(format!("{} has no host", shown(url))))?;
        let port = url.port_or_known_default().unwrap_or(80);
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let stream = tokio::net::TcpStream::connect((bare, port))
            .await
            .map_err(|e| SendError::Unreachable(format!("cannot connect to {host}:{port}: {e}")))?;
        let _ = stream.set_nodelay(true);
        let mut path = url.path().to_owned();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        let host_header = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path.as_str())
            .header(hyper::header::HOST, host_header)
            .header(hyper::header::USER_AGENT, "dsr-connector");
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| SendError::Refused(format!("cannot build the request: {e}")))?;
        if !https {
            return self.finish(hyper_util::rt::TokioIo::new(stream), req).await;
        }
        let name = ServerName::try_from(bare.to_owned()).map_err(|_| {
            SendError::Refused(format!("{host} cannot be named by a TLS certificate"))
        })?;
        let tls = self.tls.connect(name, stream).await.map_err(|e| {
            let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
            match inner {
                Some(rustls::Error::InvalidCertificate(c)) => SendError::Refused(format!(
                    "TLS: the certificate of {host} is not trusted ({c:?}); if a private CA issued it, give it in ca_file"
                )),
                _ => SendError::Unreachable(format!("TLS handshake with {host} failed: {e}")),
            }
        })?;
        self.finish(hyper_util::rt::TokioIo::new(tls), req).await
    }

    async fn finish<I>(
        &self,
        io: I,
        req: hyper::Request<Full<Bytes>>,
    ) -> Result<Response, SendError>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| SendError::Unreachable(format!("HTTP handshake failed: {e}")))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| SendError::Unreachable(format!("sending failed: {e}")))?;
        let status = resp.status().as_u16();
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, self.max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    SendError::Refused(format!(
                        "the answer is larger than {} bytes (max_response_bytes)",
                        self.max_body
                    ))
                } else {
                    SendError::Unreachable(format!("reading the answer failed: {e}"))
                }
            })?
            .to_bytes();
        Ok(Response {
            status,
            headers: parts.headers,
            body,
        })
    }
}

/// A URL for messages: scheme, host, port and path, never a query (which may carry a
/// token).
pub fn shown(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}
