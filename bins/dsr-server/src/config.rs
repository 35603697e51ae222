//! `[server]` in the configuration file (the rest of the file is the engine's
//! `dsr.toml`), with `DSR_SERVER_<KEY>` environment overrides.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[server.tls]`: a PEM certificate chain and its private key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM, PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// `[[server.portal.hosts]]`: a host application allowed to sign its customers in to
/// the portal, for one tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalHost {
    /// The tenant whose customers it signs in.
    pub tenant: String,
    /// The `iss` its assertions carry.
    pub issuer: String,
    /// `EdDSA` (default), `ES256` or `RS256`.
    #[serde(default = "default_algorithm")]
    pub algorithm: String,
    /// Its PUBLIC key (PEM), relative to the configuration's folder.
    pub public_key: PathBuf,
}

fn default_algorithm() -> String {
    "EdDSA".into()
}

/// `[server.portal]`: the data subjects' self-service portal under `/portal`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Portal {
    /// Serve it (a `[server.portal]` section turns it on unless this is false).
    pub enabled: bool,
    /// Where people reach it (`https://privacy.example.com`), for forwarding links.
    pub public_url: Option<String>,
    /// Minutes without a request before a session ends (5 to 60; at most 15 in HIPAA
    /// mode).
    pub idle_minutes: u32,
    /// The `aud` assertions must carry.
    pub audience: String,
    /// `Secure` cookies (turn off only for a plain-HTTP demo on a name other than
    /// localhost).
    pub secure_cookies: bool,
    /// Longest a forwarding link may last, days.
    pub share_max_days: u32,
    /// Most downloads a forwarding link may allow.
    pub share_max_downloads: u32,
    /// The host applications.
    pub hosts: Vec<PortalHost>,
}

impl Default for Portal {
    fn default() -> Self {
        let d = dsr_api::portal::PortalSettings::default();
        Portal {
            enabled: true,
            public_url: None,
            idle_minutes: (d.idle.as_secs() / 60) as u32,
            audience: d.audience,
            secure_cookies: d.secure_cookies,
            share_max_days: d.share_max_days,
            share_max_downloads: d.share_max_downloads,
            hosts: Vec::new(),
        }
    }
}

impl Portal {
    /// The portal's settings, the host keys read from their files.
    pub fn settings(&self, base: &Path) -> anyhow::Result<dsr_api::portal::PortalSettings> {
        if !(5..=60).contains(&self.idle_minutes) {
            bail!(
                "[server.portal] idle_minutes = {}: give 5 to 60 (H-5)",
                self.idle_minutes
            );
        }
        let mut hosts = Vec::new();
        for (i, h) in self.hosts.iter().enumerate() {
            let at = format!("[[server.portal.hosts]] #{} (tenant {:?})", i + 1, h.tenant);
            let tenant = dsr_model::TenantId::new(h.tenant.as_str())
                .map_err(|e| anyhow::anyhow!("{at}: tenant: {e}"))?;
            let path = base.join(&h.public_key);
            let pem = std::fs::read(&path)
                .with_context(|| format!("{at}: cannot read public_key {}", path.display()))?;
            hosts.push(
                dsr_api::portal::HostKey::from_pem(tenant, &h.issuer, &h.algorithm, &pem)
                    .map_err(|m| anyhow::anyhow!("{at}: {} ({m})", path.display()))?,
            );
        }
        Ok(dsr_api::portal::PortalSettings {
            hosts,
            audience: self.audience.clone(),
            idle: std::time::Duration::from_secs(u64::from(self.idle_minutes) * 60),
            secure_cookies: self.secure_cookies,
            public_url: self.public_url.clone(),
            share_max_days: self.share_max_days,
            share_max_downloads: self.share_max_downloads,
        })
    }
}

/// `[server.rate_limits]`: per client, keyed on the authenticated client id.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Lookups and reads per second.
    pub read_per_second: f64,
    /// Reads at once.
    pub read_burst: u32,
    /// Subject writes, decisions, checks per second.
    pub write_per_second: f64,
    /// Writes at once.
    pub write_burst: u32,
    /// Request creations per second (much stricter).
    pub create_per_second: f64,
    /// Creations at once.
    pub create_burst: u32,
    /// Token requests per second.
    pub token_per_second: f64,
    /// Token requests at once.
    pub token_burst: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        let r = dsr_api::Rates::default();
        RateLimits {
            read_per_second: r.read.per_second,
            read_burst: r.read.burst,
            write_per_second: r.write.per_second,
            write_burst: r.write.burst,
            create_per_second: r.create.per_second,
            create_burst: r.create.burst,
            token_per_second: r.token.per_second,
            token_burst: r.token.burst,
        }
    }
}

/// `[opendsr]`: the OpenDSR (OpenGDPR) processor endpoints under `/opendsr`
/// (`docs/opendsr.md`). Off unless enabled: they add endpoints anyone may read
/// (discovery, the certificate) and a signing key to look after.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenDsrConfig {
    /// Serve OpenDSR.
    pub enabled: bool,
    /// The server as controllers reach it (`https://opendsr.example.com`): the
    /// certificate URL in `/discovery`, `results_url` and the processor domain. Default:
    /// the listening address (fine on one machine, wrong behind a proxy).
    pub base_url: Option<String>,
    /// The operator's certificate (PEM, issued for the base URL's host by a CA
    /// controllers trust), relative to the configuration file.
    pub certificate: Option<PathBuf>,
    /// Its RSA private key (PEM, PKCS#8 or PKCS#1), relative to the configuration file.
    /// Neither: a key and a self-signed certificate are made on first start and kept in
    /// the database.
    pub private_key: Option<PathBuf>,
}

/// `[notifications]`: messages to data subjects when their request is received,
/// extended, completed or refused (`docs/notifications.md`). Off unless `smtp` or
/// `webhook` is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// An SMTP server: `smtp://host:port`.
    pub smtp: Option<String>,
    /// The sender's address (SMTP).
    pub from: Option<String>,
    /// `none`, `starttls` (default) or `tls` (SMTP).
    pub tls: String,
    /// The environment variable holding the SMTP user name.
    pub username_env: Option<String>,
    /// A file holding the SMTP user name (relative to the configuration file).
    pub username_file: Option<PathBuf>,
    /// The environment variable holding the SMTP password.
    pub password_env: Option<String>,
    /// A file holding the SMTP password (relative to the configuration file).
    pub password_file: Option<PathBuf>,
    /// CA certificates (PEM) trusted for the SMTP server besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Or the host's webhook: `https://…` (POST, JSON, signed like status callbacks).
    pub webhook: Option<String>,
    /// The events notified.
    pub events: Vec<String>,
    /// The language of notices (`en`, `fr`).
    pub language: String,
    /// Another language for some tenants: `{ acme = "fr" }`.
    pub tenant_languages: std::collections::BTreeMap<String, String>,
    /// Attempts before a notice is given up (`failed`).
    pub max_attempts: u32,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        NotificationsConfig {
            smtp: None,
            from: None,
            tls: "starttls".into(),
            username_env: None,
            username_file: None,
            password_env: None,
            password_file: None,
            ca_file: None,
            webhook: None,
            events: dsr_api::notify::EVENTS
                .iter()
                .map(|e| (*e).to_owned())
                .collect(),
            language: "en".into(),
            tenant_languages: Default::default(),
            max_attempts: dsr_api::notify::MAX_ATTEMPTS as u32,
        }
    }
}

/// A secret (or a user name) from an environment variable or a file, never inline.
fn secret(
    what: &str,
    env: Option<&str>,
    file: Option<&Path>,
    base: &Path,
) -> anyhow::Result<Option<String>> {
    match (env, file) {
        (Some(_), Some(_)) => {
            bail!("[notifications]: give {what}_env or {what}_file, not both")
        }
        (Some(var), None) => {
            let v = std::env::var(var).map_err(|_| {
                anyhow::anyhow!(
                    "[notifications] {what}_env = {var:?}: the environment variable is not set"
                )
            })?;
            Ok(Some(v))
        }
        (None, Some(f)) => {
            let path = base.join(f);
            let v = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "[notifications] {what}_file: cannot read {}",
                    path.display()
                )
            })?;
            Ok(Some(v.trim_end_matches(['\r', '\n']).to_owned()))
        }
        (None, None) => Ok(None),
    }
}

impl NotificationsConfig {
    /// Whether notifications are on.
    pub fn enabled(&self) -> bool {
        self.smtp.is_some() || self.webhook.is_some()
    }

    /// The settings, secrets and the CA file read (`None` when off).
    pub fn settings(&self, base: &Path) -> anyhow::Result<Option<dsr_api::notify::NotifySettings>> {
        use dsr_api::notify::{NotifySettings, Smtp, SmtpTls, Transport};
        use dsr_api::portal::i18n::Lang;
        let lang = |at: &str, code: &str| {
            Lang::from_code(code)
                .filter(|l| l.code() == code.to_ascii_lowercase())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "[notifications] {at} = {code:?}: give one of {:?}",
                        Lang::ALL.map(Lang::code)
                    )
                })
        };
        let language = lang("language", &self.language)?;
        let mut tenant_languages = std::collections::HashMap::new();
        for (t, code) in &self.tenant_languages {
            let tenant = dsr_model::TenantId::new(t.as_str())
                .map_err(|e| anyhow::anyhow!("[notifications] tenant_languages: {t:?}: {e}"))?;
            tenant_languages.insert(tenant, lang(&format!("tenant_languages.{t}"), code)?);
        }
        if !(1..=100).contains(&self.max_attempts) {
            bail!(
                "[notifications] max_attempts = {}: give 1 to 100",
                self.max_attempts
            );
        }
        let mut events = std::collections::HashSet::new();
        for e in &self.events {
            if !dsr_api::notify::EVENTS.contains(&e.as_str()) {
                bail!(
                    "[notifications] events: {e:?} is not an event; give some of {:?}",
                    dsr_api::notify::EVENTS
                );
            }
            events.insert(e.clone());
        }
        let transport = match (&self.smtp, &self.webhook) {
            (None, None) => {
                if self.from.is_some() || self.username_env.is_some() || self.password_env.is_some()
                {
                    bail!(
                        "[notifications]: give smtp = \"smtp://host:port\" (or webhook = \"https://…\") to turn notifications on"
                    );
                }
                return Ok(None);
            }
            (Some(_), Some(_)) => {
                bail!("[notifications]: give smtp or webhook, not both")
            }
            (None, Some(url)) => Transport::Webhook(url.clone()),
            (Some(url), None) => {
                let tls = SmtpTls::parse(&self.tls).ok_or_else(|| {
                    anyhow::anyhow!(
                        "[notifications] tls = {:?}: give \"none\", \"starttls\" or \"tls\"",
                        self.tls
                    )
                })?;
                let (host, port) = Smtp::parse_url(url, tls)
                    .map_err(|m| anyhow::anyhow!("[notifications] smtp = {m}"))?;
                let from = self.from.clone().ok_or_else(|| {
                    anyhow::anyhow!(
                        "[notifications]: smtp needs from = \"privacy@your-domain\" (the sender)"
                    )
                })?;
                let user = secret(
                    "username",
                    self.username_env.as_deref(),
                    self.username_file.as_deref(),
                    base,
                )?;
                let password = secret(
                    "password",
                    self.password_env.as_deref(),
                    self.password_file.as_deref(),
                    base,
                )?;
                let credentials = match (user, password) {
                    (Some(u), Some(p)) => Some((u, p)),
                    (None, None) => None,
                    _ => bail!(
                        "[notifications]: give both a user name and a password (username_env / username_file and password_env / password_file), or neither"
                    ),
                };
                let ca_pem = match &self.ca_file {
                    Some(f) => {
                        let path = base.join(f);
                        Some(std::fs::read(&path).with_context(|| {
                            format!("[notifications] ca_file: cannot read {}", path.display())
                        })?)
                    }
                    None => None,
                };
                Transport::Smtp(Smtp {
                    host,
                    port,
                    tls,
                    from,
                    credentials,
                    ca_pem,
                })
            }
        };
        Ok(Some(NotifySettings {
            transport,
            events,
            language,
            tenant_languages,
            max_attempts: i64::from(self.max_attempts),
        }))
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port to listen on.
    pub listen: String,
    /// The database: a SQLite file (relative to the configuration file), or a
    /// `postgres://` URL that several nodes share.
    pub database: PathBuf,
    /// PostgreSQL: how often, in milliseconds, the node reads the subjects other nodes
    /// wrote (its index's staleness bound).
    pub follow_ms: u64,
    /// Workers per tenant in this process (0: run `dsr worker` separately).
    pub workers: usize,
    /// HIPAA mode: refuse to start unless the server's settings pass the rules.
    pub hipaa: bool,
    /// Logs as JSON lines.
    pub json_logs: bool,
    /// Session idle timeout, minutes (5 at least).
    pub idle_timeout_minutes: u32,
    /// Access-token lifetime, minutes (15 at most).
    pub token_lifetime_minutes: u32,
    /// Accept static API tokens (never in HIPAA mode).
    pub static_tokens: bool,
    /// Accept basic (password) authentication: never supported; stated so HIPAA mode
    /// can refuse it by name.
    pub basic_auth: bool,
    /// Largest JSON body, bytes.
    pub max_body_bytes: usize,
    /// Largest import body, bytes.
    pub max_import_bytes: usize,
    /// Longest line of an import, bytes.
    pub max_import_line_bytes: usize,
    /// Imports at once.
    pub max_concurrent_imports: usize,
    /// Longest a request may take, seconds.
    pub request_timeout_seconds: u64,
    /// Largest page of a list.
    pub max_page_size: usize,
    /// Callbacks may go to loopback or private addresses.
    pub allow_private_callbacks: bool,
    /// CA certificates (PEM) trusted for https callbacks besides the system's (a
    /// private CA), relative to the configuration file.
    pub callback_ca_file: Option<PathBuf>,
    /// Attempts before a callback delivery is given up (`failed`).
    pub callback_max_attempts: u32,
    /// Address and port of the operator's listener (`GET /metrics`, plain HTTP, no
    /// client token); none: no metrics.
    pub metrics_listen: Option<String>,
    /// A token the metrics listener asks for (`Authorization: Bearer …`).
    pub metrics_token: Option<String>,
    /// TLS (rustls).
    pub tls: Option<Tls>,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// The data subjects' portal (none: not served).
    pub portal: Option<Portal>,
    /// `[opendsr]` (a section of its own in the file).
    #[serde(skip)]
    pub opendsr: OpenDsrConfig,
    /// `[notifications]` (a section of its own in the file).
    #[serde(skip)]
    pub notifications: NotificationsConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let s = dsr_api::Settings::new(PathBuf::from("dsr.db"));
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            database: PathBuf::from("dsr.db"),
            follow_ms: s.follow_every.as_millis() as u64,
            workers: 1,
            hipaa: false,
            json_logs: false,
            idle_timeout_minutes: 15,
            token_lifetime_minutes: 15,
            static_tokens: true,
            basic_auth: false,
            max_body_bytes: s.max_body_bytes,
            max_import_bytes: s.max_import_bytes,
            max_import_line_bytes: s.max_import_line_bytes,
            max_concurrent_imports: s.max_concurrent_imports,
            request_timeout_seconds: s.request_timeout.as_secs(),
            max_page_size: s.max_page_size,
            allow_private_callbacks: false,
            callback_ca_file: None,
            callback_max_attempts: s.callback_max_attempts as u32,
            metrics_listen: None,
            metrics_token: None,
            tls: None,
            portal: None,
            rate_limits: RateLimits::default(),
            opendsr: OpenDsrConfig::default(),
            notifications: NotificationsConfig::default(),
        }
    }
}

impl ServerConfig {
    /// What the types cannot say.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.idle_timeout_minutes < 5 {
            bail!(
                "[server] idle_timeout_minutes = {}: give 5 minutes at least (H-5)",
                self.idle_timeout_minutes
            );
        }
        if self.idle_timeout_minutes > 24 * 60 {
            bail!(
                "[server] idle_timeout_minutes = {}: give at most 1440 (a day)",
                self.idle_timeout_minutes
            );
        }
        if !(1..=15).contains(&self.token_lifetime_minutes) && !self.hipaa {
            bail!(
                "[server] token_lifetime_minutes = {}: access tokens live 1 to 15 minutes",
                self.token_lifetime_minutes
            );
        }
        if self.basic_auth && !self.hipaa {
            bail!(
                "[server] basic_auth = true: password authentication is not supported; use OAuth 2.0 clients or API tokens"
            );
        }
        if self.max_page_size == 0 || self.max_page_size > 1000 {
            bail!(
                "[server] max_page_size = {}: give 1 to 1000",
                self.max_page_size
            );
        }
        if self.max_body_bytes < 1024 || self.max_import_bytes < self.max_body_bytes {
            bail!(
                "[server] max_body_bytes must be at least 1024 and max_import_bytes at least max_body_bytes"
            );
        }
        if !(1..=100).contains(&self.callback_max_attempts) {
            bail!(
                "[server] callback_max_attempts = {}: give 1 to 100",
                self.callback_max_attempts
            );
        }
        if self.max_import_line_bytes < 1024 {
            bail!(
                "[server] max_import_line_bytes = {}: give at least 1024",
                self.max_import_line_bytes
            );
        }
        if self
            .metrics_token
            .as_ref()
            .is_some_and(|t| t.len() < 16 || !t.bytes().all(|b| b.is_ascii_graphic()))
        {
            bail!(
                "[server] metrics_token: give at least 16 visible ASCII characters (e.g. `openssl rand -hex 32`)"
            );
        }
        if self.request_timeout_seconds == 0 {
            bail!("[server] request_timeout_seconds must be at least 1");
        }
        let o = &self.opendsr;
        if o.certificate.is_some() != o.private_key.is_some() {
            bail!(
                "[opendsr]: give both certificate and private_key, or neither (a key and a self-signed certificate are then made)"
            );
        }
        if let Some(u) = &o.base_url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            bail!(
                "[opendsr] base_url = {u:?}: give the http(s) URL controllers reach this server at"
            );
        }
        Ok(())
    }
}

/// The keys `DSR_SERVER_<KEY>` may override.
const ENV_KEYS: &[&str] = &[
    "listen",
    "database",
    "follow_ms",
    "workers",
    "hipaa",
    "json_logs",
    "idle_timeout_minutes",
    "token_lifetime_minutes",
    "static_tokens",
    "basic_auth",
    "max_body_bytes",
    "max_import_bytes",
    "max_import_line_bytes",
    "max_concurrent_imports",
    "request_timeout_seconds",
    "max_page_size",
    "allow_private_callbacks",
    "callback_ca_file",
    "callback_max_attempts",
    "metrics_listen",
    "metrics_token",
];

/// The keys whose environment value is always text (a path that looks like a number
/// stays a path).
const ENV_TEXT_KEYS: &[&str] = &[
    "listen",
    "database",
    "callback_ca_file",
    "metrics_listen",
    "metrics_token",
];

fn env_value(text: &str) -> toml::Value {
    // A number or boolean as such, anything else as text.
    if let Ok(b) = text.parse::<bool>() {
        return toml::Value::Boolean(b);
    }
    if let Ok(i) = text.parse::<i64>() {
        return toml::Value::Integer(i);
    }
    if let Ok(f) = text.parse::<f64>() {
        return toml::Value::Float(f);
    }
    toml::Value::String(text.to_owned())
}

/// Reads the file (or the defaults): the `[server]` section and the engine's
/// configuration from the rest.
pub fn load(path: Option<&Path>) -> anyhow::Result<(ServerConfig, dsr_engine::Config)> {
    let (mut table, shown) = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            let t: toml::Table =
                toml::from_str(&text).with_context(|| format!("{}", p.display()))?;
            (t, p.display().to_string())
        }
        None => (toml::Table::new(), "defaults".to_owned()),
    };
    let mut server = match table.remove("server") {
        Some(toml::Value::Table(t)) => t,
        Some(_) => bail!("{shown}: [server] must be a table"),
        None => toml::Table::new(),
    };
    for key in ENV_KEYS {
        let var = format!("DSR_SERVER_{}", key.to_ascii_uppercase());
        if let Ok(v) = std::env::var(&var) {
            let value = if ENV_TEXT_KEYS.contains(key) {
                toml::Value::String(v)
            } else {
                env_value(&v)
            };
            server.insert((*key).to_owned(), value);
        }
    }
    if let (Ok(cert), Ok(key)) = (
        std::env::var("DSR_SERVER_TLS_CERT"),
        std::env::var("DSR_SERVER_TLS_KEY"),
    ) {
        let mut t = toml::Table::new();
        t.insert("cert".into(), toml::Value::String(cert));
        t.insert("key".into(), toml::Value::String(key));
        server.insert("tls".into(), toml::Value::Table(t));
    }
    let opendsr: OpenDsrConfig = match table.remove("opendsr") {
        Some(v) => v.try_into().map_err(|e: toml::de::Error| {
            anyhow::anyhow!("{shown}: [opendsr]: {}", e.to_string().trim())
        })?,
        None => OpenDsrConfig::default(),
    };
    let notifications: NotificationsConfig = match table.remove("notifications") {
        Some(v) => v.try_into().map_err(|e: toml::de::Error| {
            anyhow::anyhow!("{shown}: [notifications]: {}", e.to_string().trim())
        })?,
        None => NotificationsConfig::default(),
    };
    let mut cfg: ServerConfig =
        toml::Value::Table(server)
            .try_into()
            .map_err(|e: toml::de::Error| {
                anyhow::anyhow!("{shown}: [server]: {}", e.to_string().trim())
            })?;
    cfg.opendsr = opendsr;
    cfg.notifications = notifications;
    let engine_text = toml::to_string(&table)?;
    let mut engine = dsr_engine::Config::from_toml(&engine_text, &shown)?;
    engine.base_dir = path.and_then(Path::parent).map(Path::to_owned);
    Ok((cfg, engine))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_section_and_the_engine_share_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dsr.toml");
        std::fs::write(
            &p,
            "organisation = \"Acme\"\n[server]\nlisten = \"127.0.0.1:9999\"\nworkers = 2\n[server.rate_limits]\ncreate_per_second = 3.0\n",
        )
        .unwrap();
        let (s, e) = load(Some(&p)).unwrap();
        assert_eq!((s.listen.as_str(), s.workers), ("127.0.0.1:9999", 2));
        assert_eq!(s.rate_limits.create_per_second, 3.0);
        assert_eq!(e.organisation, "Acme");
        std::fs::write(&p, "[server]\nlisen = \"x\"\n").unwrap();
        let err = load(Some(&p)).unwrap_err().to_string();
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn opendsr_is_a_section_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dsr.toml");
        let (s, _) = load(None).unwrap();
        assert!(!s.opendsr.enabled, "off by default");
        std::fs::write(
            &p,
            "organisation = \"Acme\"\n[opendsr]\nenabled = true\nbase_url = \"https://opendsr.acme.example\"\n",
        )
        .unwrap();
        let (s, e) = load(Some(&p)).unwrap();
        assert!(s.opendsr.enabled);
        assert_eq!(e.organisation, "Acme");
        s.validate().unwrap();
        std::fs::write(&p, "[opendsr]\nenabled = true\ncertificate = \"c.pem\"\n").unwrap();
        let (s, _) = load(Some(&p)).unwrap();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("private_key")
        );
        std::fs::write(&p, "[opendsr]\nenable = true\n").unwrap();
        let err = load(Some(&p)).unwrap_err().to_string();
        assert!(err.contains("[opendsr]") && err.contains("enable"), "{err}");
    }

    #[test]
    fn notifications_are_a_section_of_their_own_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dsr.toml");
        let (s, _) = load(None).unwrap();
        assert!(!s.notifications.enabled(), "off by default");
        assert!(s.notifications.settings(dir.path()).unwrap().is_none());
        let write = |text: &str| {
            std::fs::write(&p, format!("organisation = \"Acme\"\n{text}")).unwrap();
            load(Some(&p)).map(|(s, _)| s)
        };
        let s = write("[notifications]\nsmtp = \"smtp://127.0.0.1:2525\"\nfrom = \"privacy@acme.example\"\ntls = \"none\"\nlanguage = \"fr\"\nevents = [\"completed\"]\n").unwrap();
        let n = s.notifications.settings(dir.path()).unwrap().unwrap();
        assert_eq!(n.language, dsr_api::portal::i18n::Lang::Fr);
        assert_eq!(n.events.len(), 1);
        let err = |text: &str| {
            let s = write(text)?;
            s.notifications.settings(dir.path()).map(|_| ())
        };
        for (text, says) in [
            ("[notifications]\nsmtp = \"smtp://h:25\"\n", "from"),
            (
                "[notifications]\nsmtp = \"smtp://h:25\"\nfrom = \"a@b.example\"\ntls = \"ssl\"\n",
                "tls",
            ),
            (
                "[notifications]\nsmtp = \"smtp://h:25\"\nwebhook = \"https://x.example/\"\n",
                "not both",
            ),
            (
                "[notifications]\nwebhook = \"https://x.example/\"\nevents = [\"sent\"]\n",
                "events",
            ),
            (
                "[notifications]\nwebhook = \"https://x.example/\"\nlanguage = \"de\"\n",
                "language",
            ),
            (
                "[notifications]\nsmtp = \"smtp://h:25\"\nfrom = \"a@b.example\"\npassword_env = \"DSR_TEST_NO_SUCH_VARIABLE\"\nusername_env = \"DSR_TEST_NO_SUCH_VARIABLE\"\n",
                "DSR_TEST_NO_SUCH_VARIABLE",
            ),
            (
                "[notifications]\nsmtp = \"smtp://h:25\"\nfrom = \"a@b.example\"\npassword = \"inline\"\n",
                "password",
            ),
        ] {
            let e = err(text).unwrap_err().to_string();
            assert!(
                e.contains("[notifications]") && e.contains(says),
                "{text}: {e}"
            );
        }
    }

    #[test]
    fn limits_are_checked() {
        let mut c = ServerConfig::default();
        assert!(c.validate().is_ok());
        c.idle_timeout_minutes = 4;
        assert!(c.validate().unwrap_err().to_string().contains("5 minutes"));
        c.idle_timeout_minutes = 15;
        c.token_lifetime_minutes = 60;
        assert!(c.validate().is_err());
    }
}
