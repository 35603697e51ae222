//! The engine of one tenant on a PostgreSQL database (`--db postgres://…`): what
//! [`EngineEnv`](crate::env::EngineEnv) is for a SQLite file, for the commands that run
//! on several nodes (workers, request creation and reading, imports).

use crate::env::Signing;
use crate::{Error, Result};
use dsr_engine::config::Config;
use dsr_engine::keyring::KeyRing;
use dsr_engine::{Engine, WorkerConfig};
use dsr_match::Directory;
use dsr_model::{Subject, TenantId};
pub use dsr_store_postgres::{PgStore, is_postgres_url, recreate_database, redact_url};
use std::path::Path;
use std::sync::Arc;

/// Connections per process: a worker's claims and commits, plus request creation.
pub const POOL_SIZE: usize = 8;

/// The engine of one tenant, wired to PostgreSQL.
pub struct PgEnv {
    /// The store.
    pub store: PgStore,
    /// The engine.
    pub engine: Arc<Engine>,
    /// The configuration.
    pub config: Config,
}

impl std::fmt::Debug for PgEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEnv")
            .field("tenant", self.engine.tenant())
            .finish_non_exhaustive()
    }
}

pub(crate) fn pg(e: dsr_store_postgres::Error) -> Error {
    Error::Engine(dsr_engine::Error::store(e))
}

/// Connects; the tenant must exist unless `create` (then it is created, with the
/// default phone region `region`).
pub async fn connect(
    url: &str,
    tenant: &TenantId,
    create: bool,
    region: Option<&str>,
) -> Result<PgStore> {
    let store = PgStore::connect(url, POOL_SIZE).await.map_err(pg)?;
    if create {
        store.create_tenant(tenant, region).await.map_err(pg)?;
    } else if !store.tenant_exists(tenant).await.map_err(pg)? {
        let known = store
            .tenants()
            .await
            .map_err(pg)?
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        return Err(Error::UnknownTenant {
            tenant: tenant.to_string(),
            path: redact_url(url),
            known,
        });
    }
    Ok(store)
}

impl PgEnv {
    /// Connects to the database and builds the tenant's engine with the configured
    /// services and its signing key (key files live beside `dsr.toml`'s folder: the
    /// current directory unless the configuration names a path).
    pub async fn open(
        url: &str,
        tenant: &TenantId,
        config: Config,
        signing: Signing,
    ) -> Result<Self> {
        let store = connect(url, tenant, false, None).await?;
        Self::over(store, tenant, config, signing, Path::new("."))
    }

    /// [`PgEnv::open`] over a store already connected (a server shares one pool
    /// between its tenants), with key files in `key_dir` unless the configuration
    /// names a path; the tenant is not checked.
    pub fn over(
        store: PgStore,
        tenant: &TenantId,
        config: Config,
        signing: Signing,
        key_dir: &Path,
    ) -> Result<Self> {
        let services = crate::env::compose_services(
            &config,
            dsr_store_postgres::build_services(&config, &store)?,
        )?;
        let ring = KeyRing::for_tenant(&config.signing_key_path(key_dir), tenant);
        let engine = crate::env::build_engine(
            tenant,
            Arc::new(store.clone()),
            services,
            &config,
            &ring,
            signing,
        )?;
        Ok(PgEnv {
            store,
            engine: Arc::new(engine),
            config,
        })
    }

    /// The worker settings of the configuration.
    pub fn worker_config(&self) -> WorkerConfig {
        WorkerConfig::from_settings(&self.config.worker)
    }

    /// The tenant's directory, as stored now.
    pub async fn directory(&self) -> Result<Directory> {
        crate::open::directory_of(&self.store, self.engine.tenant()).await
    }
}

/// Writes already validated subjects in batches (the import pipeline's validation is
/// the same as for SQLite; see [`crate::import`]).
pub async fn upsert(store: &PgStore, tenant: &TenantId, subjects: &[Subject]) -> Result<usize> {
    store.upsert_subjects(tenant, subjects).await.map_err(pg)
}
