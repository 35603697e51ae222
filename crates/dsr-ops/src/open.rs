//! Opening a database and a tenant, and loading a tenant's directory.
//!
//! The decision kept here: only commands that *write* subjects (an import, an upsert,
//! `dsr tenant create`, the demo) may create a database file or a tenant. Everything
//! else opens what exists or says what does, because for this tool an empty answer
//! reads as "we hold nothing about this person".

use crate::{Error, Result};
use dsr_match::{Directory, MatchConfig};
use dsr_model::TenantId;
use dsr_store_sqlite::SqliteStore;
use std::path::Path;

/// Whether opening may create the database file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// The file must exist (reading and acting commands).
    Existing,
    /// Create the file (and its schema) when it does not exist (importing).
    Create,
}

/// Opens the SQLite database at `path`.
///
/// `DSR_BUSY_TIMEOUT_MS` sets how long a statement waits for another process's write
/// lock before it fails (default 30 000); long-running workers retry after that anyway.
pub fn open_store(path: &Path, mode: OpenMode) -> Result<SqliteStore> {
    if let Some(url) = path.to_str().filter(|p| crate::pg::is_postgres_url(p)) {
        return Err(Error::PostgresUnsupported {
            url: crate::pg::redact_url(url),
        });
    }
    if mode == OpenMode::Existing && !path.exists() {
        return Err(Error::NoDatabase {
            path: path.display().to_string(),
        });
    }
    let store = SqliteStore::open(path)?;
    if let Some(ms) = std::env::var("DSR_BUSY_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        store.set_busy_timeout(std::time::Duration::from_millis(ms))?;
    }
    Ok(store)
}

/// Checks that `tenant` exists in the store (has settings, subjects or requests).
pub fn require_tenant(store: &SqliteStore, tenant: &TenantId) -> Result<()> {
    if store.tenant_exists(tenant)? {
        return Ok(());
    }
    Err(Error::UnknownTenant {
        tenant: tenant.to_string(),
        path: store.path().display().to_string(),
        known: store.tenants()?.into_iter().map(|t| t.name).collect(),
    })
}

/// Builds the tenant's directory (the subject index) from the store.
pub fn load_directory(store: &SqliteStore, tenant: &TenantId) -> Result<Directory> {
    let region = store.default_region(tenant)?;
    let mut dir = Directory::new(MatchConfig {
        default_region: region,
    })?;
    for s in store.load_subjects(tenant)? {
        let id = s.id.clone();
        dir.upsert(s).map_err(|e| {
            Error::Invalid(format!(
                "stored subject {id} is invalid ({e}); re-import it to fix it"
            ))
        })?;
    }
    Ok(dir)
}
