//! The engine of one tenant on a PostgreSQL database (`--db postgres://…`): what
//! [`EngineEnv`](crate::env::EngineEnv) is for a SQLite file, for the commands that run
//! on several nodes (workers, request creation and reading, imports).

use crate::env::Signing;
use crate::{Error, Result};
use dsr_engine::config::Config;
use dsr_engine::keyring::KeyRing;
use dsr_engine::{Engine, WorkerConfig};
use dsr_match::{Directory, MatchConfig};
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

fn pg(e: dsr_store_postgres::Error) -> Error {
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
        let services = dsr_store_postgres::build_services(&config, &store)?;
        let ring = KeyRing::for_tenant(&config.signing_key_path(Path::new(".")), tenant);
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
        directory(&self.store, self.engine.tenant()).await
    }
}

/// A tenant's directory, as stored now.
pub async fn directory(store: &PgStore, tenant: &TenantId) -> Result<Directory> {
    let region = dsr_engine::Store::default_region(store, tenant).await?;
    let (subjects, _seq) = store.load_subjects(tenant).await.map_err(pg)?;
    let mut dir = Directory::new(MatchConfig {
        default_region: region,
    })?;
    for s in subjects {
        dir.upsert(s)?;
    }
    Ok(dir)
}

/// The import pipeline's target on PostgreSQL ([`crate::import::import_jsonl_into`]):
/// batches land as they are read, and the tenant's suppression list and setting are
/// the database's own. The pipeline is synchronous, so each call runs on `rt`: use it
/// from a thread that is not itself running async code.
pub struct PgImport<'a> {
    /// The runtime the calls run on.
    pub rt: &'a tokio::runtime::Runtime,
    /// The database.
    pub store: &'a PgStore,
}

impl crate::import::ImportTarget for PgImport<'_> {
    fn open_tenant(&mut self, tenant: &TenantId) -> Result<Option<String>> {
        self.rt.block_on(async {
            self.store.create_tenant(tenant, None).await.map_err(pg)?;
            Ok(dsr_engine::Store::default_region(self.store, tenant).await?)
        })
    }
    fn suppression_count(&mut self, tenant: &TenantId) -> Result<u64> {
        self.rt
            .block_on(self.store.suppression_count(tenant))
            .map_err(pg)
    }
    fn tenant_secret(&mut self, tenant: &TenantId) -> Result<[u8; 32]> {
        Ok(self
            .rt
            .block_on(dsr_engine::Store::tenant_secret(self.store, tenant))?)
    }
    fn refuse_erased(&mut self, tenant: &TenantId) -> Result<bool> {
        self.rt
            .block_on(self.store.refuse_erased(tenant))
            .map_err(pg)
    }
    fn suppression_hits(
        &mut self,
        tenant: &TenantId,
        hashes: &[String],
    ) -> Result<Vec<(String, i64, String)>> {
        let hits = self
            .rt
            .block_on(dsr_engine::Store::suppressed(self.store, tenant, hashes))?;
        Ok(hits
            .into_iter()
            .map(|h| {
                (
                    h.hash,
                    h.erased_at.timestamp_micros(),
                    h.request_id.to_string(),
                )
            })
            .collect())
    }
    fn write(&mut self, tenant: &TenantId, batch: &[Subject]) -> Result<(usize, usize)> {
        let c = self
            .rt
            .block_on(self.store.upsert_subjects_counted(tenant, batch))
            .map_err(pg)?;
        Ok((c.created, c.updated))
    }
    fn merge_set_problems(&mut self, tenant: &TenantId) -> Result<Vec<String>> {
        let dir = self.rt.block_on(directory(self.store, tenant))?;
        Ok(crate::import::merge_set_problems(&dir))
    }
}

/// Writes already validated subjects in batches (the import pipeline's validation is
/// the same as for SQLite; see [`crate::import`]).
pub async fn upsert(store: &PgStore, tenant: &TenantId, subjects: &[Subject]) -> Result<usize> {
    store.upsert_subjects(tenant, subjects).await.map_err(pg)
}
