//! Connectors: [`dsr_engine::Service`] implementations over the systems an organisation
//! really runs, configured per `[[services]]` entry of `dsr.toml` (every key in
//! `docs/connectors.md`).
//!
//! - `kind = "http"` ([`http::HttpService`]): the organisation's own API or a vendor's,
//!   called with the resolved subject, signed (HMAC-SHA256 over a timestamp, a nonce,
//!   the method, the path and the body), with an idempotency key that stays the same
//!   across the retries of one task; asynchronous services (202 + status URL) are polled
//!   inside the call.
//! - `kind = "sql"` ([`sql::SqlService`]): a PostgreSQL or SQLite database other than
//!   dsr's own, through a declarative mapping of its tables: how rows are found from the
//!   subject's identifiers (directly, or by following references like a graph), which
//!   columns hold which personal field, and per table how erasure works (delete rows,
//!   children before parents, in one transaction; or mask columns).
//! - [`check`]: `dsr services check` — every mapping against the live schema, every
//!   masking value against its column, every HTTP service's health path, before a
//!   request runs.
//!
//! The key design decision: the engine keeps each connector's settings as an opaque
//! TOML table (`ServiceConfig::http` / `::sql`) and this crate owns their meaning, so a
//! connector's keys change here without touching the engine, and a store crate never
//! depends on a connector (dsr-ops composes both).
//!
//! The store crates build the services that live in dsr's own database (`subjects`,
//! `conversations`, `table`); this crate builds the ones that reach outside it.

#![forbid(unsafe_code)]

use dsr_engine::config::{Config, ServiceConfig, ServiceKind};
use dsr_engine::{Service, Services};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub mod check;
pub mod http;
mod secret;
pub mod sql;

/// A connector's configuration or set-up failed; the message names the service and the
/// key, table or column at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `[services.http]` / `[services.sql]` table is wrong.
    #[error("services[{service}]: {message}")]
    Config {
        /// The service.
        service: String,
        /// What is wrong and what would be accepted.
        message: String,
    },
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn config_error(service: &str, message: impl Into<String>) -> Error {
    Error::Config {
        service: service.to_owned(),
        message: message.into(),
    }
}

/// Parses a connector's settings table into `T`, naming the key at fault
/// (`services[crm].sql.tables[1].mask.email: unknown variant …`).
pub(crate) fn parse_settings<T: serde::de::DeserializeOwned>(
    service: &str,
    key: &str,
    table: &toml::Table,
) -> Result<T> {
    let value = toml::Value::Table(table.clone());
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let at = if path.is_empty() || path == "." {
            key.to_owned()
        } else {
            format!("{key}.{path}")
        };
        config_error(service, format!("{at}: {}", e.inner()))
    })
}

/// Where relative paths in a configuration are resolved from.
pub(crate) fn resolve(config: &Config, p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_owned();
    }
    match &config.base_dir {
        Some(b) => b.join(p),
        None => p.to_owned(),
    }
}

/// Whether this crate builds services of `kind`.
pub fn builds(kind: ServiceKind) -> bool {
    matches!(kind, ServiceKind::Http | ServiceKind::Sql)
}

/// One connector service, built from its `[[services]]` entry.
pub fn build_service(config: &Config, c: &ServiceConfig) -> Result<Option<Arc<dyn Service>>> {
    Ok(match c.kind {
        ServiceKind::Http => Some(Arc::new(http::HttpService::from_config(config, c)?)),
        ServiceKind::Sql => Some(Arc::new(sql::SqlService::from_config(config, c)?)),
        _ => None,
    })
}

/// The services of the kinds this crate builds (`http`, `sql`), in the order the
/// configuration declares them. Nothing is contacted: connections are made on first
/// use (and by [`check`]).
pub fn build_services(config: &Config) -> Result<Services> {
    let mut out = Services::new();
    for c in config.services() {
        if let Some(s) = build_service(config, &c)? {
            out.register(s)
                .map_err(|e| config_error(&c.name, e.to_string()))?;
        }
    }
    Ok(out)
}
