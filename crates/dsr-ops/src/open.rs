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

/// A database as an operator names it: a SQLite file, or a PostgreSQL URL shared by
/// several nodes.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// The embedded default: one file, one writing process.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL database (`postgres://…`).
    Postgres(String),
}

impl Database {
    /// A path, or a URL when it starts with `postgres://` / `postgresql://`.
    pub fn parse(s: &str) -> Self {
        if crate::pg::is_postgres_url(s) {
            Database::Postgres(s.to_owned())
        } else {
            Database::Sqlite(s.into())
        }
    }

    /// How to name it in messages and logs (a URL's password is hidden).
    pub fn shown(&self) -> String {
        match self {
            Database::Sqlite(p) => p.display().to_string(),
            Database::Postgres(u) => crate::pg::redact_url(u),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

impl From<std::path::PathBuf> for Database {
    fn from(p: std::path::PathBuf) -> Self {
        match p.to_str() {
            Some(s) => Database::parse(s),
            None => Database::Sqlite(p),
        }
    }
}

impl From<&Path> for Database {
    fn from(p: &Path) -> Self {
        p.to_path_buf().into()
    }
}

/// Opens a database that must exist as a [`ServerStore`](dsr_engine::server_store::ServerStore)
/// (what a server and the client commands need), with `pool` connections for
/// PostgreSQL.
pub async fn open_server_store(
    db: &Database,
    pool: usize,
) -> Result<std::sync::Arc<dyn dsr_engine::server_store::ServerStore>> {
    Ok(match db {
        Database::Sqlite(path) => {
            std::sync::Arc::new(dsr_store_sqlite::engine_store::SqliteEngineStore::new(
                std::sync::Arc::new(open_store(path, OpenMode::Existing)?),
            ))
        }
        Database::Postgres(url) => std::sync::Arc::new(
            crate::pg::PgStore::connect(url, pool)
                .await
                .map_err(crate::pg::pg)?,
        ),
    })
}

/// Checks that `tenant` exists in any [`ServerStore`](dsr_engine::server_store::ServerStore),
/// else says which do.
pub async fn require_tenant_in(
    store: &dyn dsr_engine::server_store::ServerStore,
    db: &Database,
    tenant: &TenantId,
) -> Result<()> {
    if store.has_tenant(tenant).await? {
        return Ok(());
    }
    Err(Error::UnknownTenant {
        tenant: tenant.to_string(),
        path: db.shown(),
        known: store
            .tenant_names()
            .await?
            .into_iter()
            .map(|t| t.to_string())
            .collect(),
    })
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

/// Builds the tenant's directory (the subject index) from any [`ServerStore`], with the
/// feed position it reflects (0 for a store without a change feed).
pub async fn directory_at(
    store: &dyn dsr_engine::server_store::ServerStore,
    tenant: &TenantId,
) -> Result<(Directory, i64)> {
    let region = store.default_region(tenant).await?;
    let (subjects, seq) = store.load_subjects(tenant).await?;
    let mut dir = Directory::new(MatchConfig {
        default_region: region,
    })?;
    for s in subjects {
        crate::snapshot::upsert_stored(&mut dir, s)?;
    }
    Ok((dir, seq))
}

/// [`directory_at`] without the position.
pub async fn directory_of(
    store: &dyn dsr_engine::server_store::ServerStore,
    tenant: &TenantId,
) -> Result<Directory> {
    Ok(directory_at(store, tenant).await?.0)
}

/// The tenant's directory (the subject index): from its snapshot when one matches the
/// store, else built from the store's subjects ([`crate::snapshot`]; `DSR_INDEX_SNAPSHOT`
/// sets the policy).
pub fn load_directory(store: &SqliteStore, tenant: &TenantId) -> Result<Directory> {
    let min = crate::snapshot::min_subjects_from_env();
    Ok(crate::snapshot::load(store, tenant, min)?.0)
}
