//! The engine wired to the SQLite store, the configured services and the signing key.

use crate::{OpenMode, Result, open_store, require_tenant};
use dsr_engine::config::Config;
use dsr_engine::keyring::KeyRing;
use dsr_engine::package::Signer;
use dsr_engine::{Engine, SystemClock, WorkerConfig};
use dsr_model::TenantId;
use dsr_store_sqlite::engine_store::{SqliteEngineStore, build_services};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Whether opening the environment may create the signing key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// Workers and downloads sign packages: load the key, creating it on first use.
    LoadOrCreate,
    /// Everything else: load the key if it exists, else an unsaved one that is never
    /// used for signing (reading commands never leave a stray key file behind).
    IfPresent,
}

/// Reads the configuration: `path`, else `./dsr.toml` if present, else the defaults.
pub fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None if Path::new("dsr.toml").exists() => Ok(Config::load(Path::new("dsr.toml"))?),
        None => Ok(Config::default()),
    }
}

/// The directory beside the database (where relative key paths live).
pub fn db_dir(db: &Path) -> &Path {
    db.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The tenant's signing key files (the configured key for `default`, one beside it per
/// other tenant).
pub fn key_ring(config: &Config, loc: &Location) -> KeyRing {
    KeyRing::for_tenant(&config.signing_key_path(db_dir(&loc.db)), &loc.tenant)
}

/// The tenant's signing key files for either database: beside a SQLite file, or in the
/// current folder for PostgreSQL (where the PostgreSQL commands keep them), unless the
/// configuration names a path.
pub fn key_ring_for(config: &Config, db: &crate::Database, tenant: &TenantId) -> KeyRing {
    let dir = match db {
        crate::Database::Sqlite(p) => db_dir(p),
        crate::Database::Postgres(_) => Path::new("."),
    };
    KeyRing::for_tenant(&config.signing_key_path(dir), tenant)
}

/// The tenant's engine over `store` with the configuration's policy, deadlines,
/// retention and the tenant's signing key (whatever the database).
pub fn build_engine(
    tenant: &TenantId,
    store: Arc<dyn dsr_engine::Store>,
    services: dsr_engine::Services,
    config: &Config,
    ring: &KeyRing,
    signing: Signing,
) -> Result<Engine> {
    let signer = match signing {
        Signing::LoadOrCreate => ring.load_or_create(chrono::Utc::now())?,
        Signing::IfPresent => match ring.load()? {
            Some(s) => s,
            None => Signer::generate()?,
        },
    };
    Ok(
        Engine::new(tenant.clone(), store, services, Arc::new(SystemClock))?
            .with_policy(config.policy.clone())
            .with_targets(config.deadlines.clone())
            .with_retention(config.retention.clone())
            .with_signer(&config.organisation, signer),
    )
}

/// The configured services in the order `dsr.toml` declares them: those over dsr's own
/// database (`own`, built by the store) and those that reach outside it (`http`, `sql`,
/// built here by dsr-connectors). The store crates never depend on the connectors.
pub fn compose_services(
    config: &Config,
    own: dsr_engine::Services,
) -> Result<dsr_engine::Services> {
    let mut out = dsr_engine::Services::new();
    for c in config.services() {
        let s = if dsr_connectors::builds(c.kind) {
            dsr_connectors::build_service(config, &c).map_err(|e| dsr_engine::Error::Config {
                source_name: "dsr.toml".into(),
                message: e.to_string(),
            })?
        } else {
            own.get(&c.name).cloned()
        };
        if let Some(s) = s {
            out.register(s)?;
        }
    }
    Ok(out)
}

/// Where the tenant's data is.
#[derive(Debug, Clone)]
pub struct Location {
    /// The SQLite database file.
    pub db: PathBuf,
    /// The tenant.
    pub tenant: TenantId,
}

/// The engine of one tenant, wired.
pub struct EngineEnv {
    /// The store (also gives the subjects database).
    pub store: SqliteEngineStore,
    /// The engine.
    pub engine: Arc<Engine>,
    /// The configuration it was built from.
    pub config: Config,
}

impl std::fmt::Debug for EngineEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineEnv")
            .field("tenant", self.engine.tenant())
            .finish_non_exhaustive()
    }
}

impl EngineEnv {
    /// Opens the database (which must exist unless `mode` is [`OpenMode::Create`]) and
    /// the tenant (which must exist unless the database is being created), builds the
    /// configured services and loads the signing key.
    pub fn open(loc: &Location, config: Config, mode: OpenMode, signing: Signing) -> Result<Self> {
        let db = Arc::new(open_store(&loc.db, mode)?);
        if mode == OpenMode::Existing {
            require_tenant(&db, &loc.tenant)?;
        } else {
            db.create_tenant(&loc.tenant)?;
        }
        let store = SqliteEngineStore::new(db);
        let services = compose_services(&config, build_services(&config, &store)?)?;
        // Each tenant signs with its own key (dsr_engine::keyring).
        let engine = build_engine(
            &loc.tenant,
            Arc::new(store.clone()),
            services,
            &config,
            &key_ring(&config, loc),
            signing,
        )?;
        Ok(EngineEnv {
            store,
            engine: Arc::new(engine),
            config,
        })
    }

    /// The worker settings of the configuration.
    pub fn worker_config(&self) -> WorkerConfig {
        WorkerConfig::from_settings(&self.config.worker)
    }
}
