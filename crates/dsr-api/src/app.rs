//! The server's state: every tenant's directory (in memory, updated live) and engine,
//! the authenticator, the limiter and the metrics.

use crate::auth::{Auth, AuthSettings, Principal};
use crate::error::{ApiError, ApiResult};
use crate::limits::{Class, Limiter, Rates};
use crate::metrics::Metrics;
use axum::http::{HeaderMap, StatusCode, header};
use dsr_engine::server_store::ServerStore;
use dsr_engine::{Clock, Worker};
use dsr_engine::{Engine, WorkerConfig};
use dsr_match::Directory;
use dsr_model::TenantId;
use dsr_ops::clients::Scope;
use dsr_ops::env::{EngineEnv, Location, Signing};
use dsr_ops::{Database, OpenMode};
use dsr_store_sqlite::engine_store::SqliteEngineStore;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{RwLock, Semaphore};

/// Connections to PostgreSQL per server process (requests, workers, the follower).
const PG_POOL: usize = 16;

/// What the HTTP layer is configured with.
#[derive(Clone)]
pub struct Settings {
    /// The database: a SQLite file, or PostgreSQL shared by several nodes.
    pub db: Database,
    /// Where relative key paths of a PostgreSQL setup live (the configuration's
    /// folder); a SQLite setup keeps them beside its file.
    pub base: PathBuf,
    /// How often a node reads the other nodes' subject changes (PostgreSQL; the
    /// index's staleness bound, `docs/operations.md`).
    pub follow_every: Duration,
    /// The engine configuration (`dsr.toml`).
    pub config: dsr_engine::Config,
    /// Tokens and sessions.
    pub auth: AuthSettings,
    /// Rate limits.
    pub rates: Rates,
    /// Largest JSON body accepted, bytes (413 above).
    pub max_body_bytes: usize,
    /// Largest import body, bytes (413 above).
    pub max_import_bytes: usize,
    /// Longest line of an import, bytes (an error for that line above).
    pub max_import_line_bytes: usize,
    /// Imports running at once (429 above).
    pub max_concurrent_imports: usize,
    /// Longest a request may take (503 after).
    pub request_timeout: Duration,
    /// Largest page of a list (and the default is 50).
    pub max_page_size: usize,
    /// Workers per tenant in this process (0: run `dsr worker` separately).
    pub workers: usize,
    /// Callback URLs may point at loopback or private addresses (tests, demos).
    pub allow_private_callbacks: bool,
    /// HIPAA mode (callbacks must use https; static tokens refused).
    pub hipaa: bool,
    /// CA certificates (PEM) trusted for https callbacks besides the system's.
    pub callback_ca_file: Option<PathBuf>,
    /// A token the metrics listener asks for (`Authorization: Bearer …`); `None`: open.
    pub metrics_token: Option<String>,
    /// Attempts before a callback delivery is `failed` (at least 1).
    pub callback_max_attempts: i64,
    /// The data subjects' portal under `/portal` (`None`: not served).
    pub portal: Option<Arc<crate::portal::PortalSettings>>,
    /// OpenDSR, when served (`None`: its routes answer 404).
    pub opendsr: Option<crate::opendsr::OpenDsrSettings>,
    /// Notifications to data subjects (`None`: none are sent).
    pub notifications: Option<crate::notify::NotifySettings>,
}

impl Settings {
    /// Defaults for a database (a path, or a `postgres://` URL).
    pub fn new(db: impl Into<Database>) -> Self {
        Settings {
            db: db.into(),
            base: PathBuf::from("."),
            follow_every: dsr_ops::follow::EVERY,
            config: dsr_engine::Config::default(),
            auth: AuthSettings::default(),
            rates: Rates::default(),
            max_body_bytes: 64 * 1024,
            max_import_bytes: 32 * 1024 * 1024,
            max_import_line_bytes: 1024 * 1024,
            max_concurrent_imports: 2,
            request_timeout: Duration::from_secs(30),
            max_page_size: 200,
            workers: 1,
            allow_private_callbacks: false,
            hipaa: false,
            callback_ca_file: None,
            metrics_token: None,
            callback_max_attempts: crate::callbacks::MAX_ATTEMPTS,
            portal: None,
            opendsr: None,
            notifications: None,
        }
    }
}

/// One tenant: its engine and its directory.
pub struct Tenant {
    /// The engine, wired to the store and services.
    pub engine: Arc<Engine>,
    /// The configuration its engine was built from.
    pub config: dsr_engine::Config,
    /// The subject index, updated on every write (and, on PostgreSQL, from the other
    /// nodes' changes: [`crate::follow`]).
    pub dir: RwLock<Directory>,
    /// The SQLite store (for counts only SQLite keeps); `None` on PostgreSQL.
    pub(crate) sqlite: Option<SqliteEngineStore>,
    /// Where this node is in the tenant's change feed.
    pub(crate) feed: tokio::sync::Mutex<dsr_ops::follow::Cursor>,
}

impl Tenant {
    /// The worker settings of its configuration.
    pub fn worker_config(&self) -> WorkerConfig {
        WorkerConfig::from_settings(&self.config.worker)
    }
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("tenant", self.engine.tenant())
            .finish_non_exhaustive()
    }
}

/// The shared state of every handler (cheap to clone).
#[derive(Clone, Debug)]
pub struct App {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub settings: Settings,
    pub store: Arc<dyn ServerStore>,
    pub pg: Option<dsr_ops::pg::PgStore>,
    pub tenants: RwLock<HashMap<TenantId, Arc<Tenant>>>,
    pub auth: Auth,
    pub limiter: Limiter,
    pub metrics: Metrics,
    pub ready: AtomicBool,
    pub imports: Semaphore,
    pub creating: tokio::sync::Mutex<()>,
    pub callback_key: ed25519_dalek::SigningKey,
    pub callback_tls: tokio_rustls::TlsConnector,
    pub clock: Arc<dyn Clock>,
    pub opendsr: Option<Arc<crate::opendsr::Processor>>,
    pub notifier: Option<Arc<crate::notify::Notifier>>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Everything but the metrics token.
        f.debug_struct("Settings")
            .field("db", &self.db)
            .field("hipaa", &self.hipaa)
            .field("workers", &self.workers)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Opens the database (which must exist) with the system clock.
    pub async fn open(settings: Settings) -> ApiResult<Self> {
        Self::open_with_clock(settings, Arc::new(dsr_engine::SystemClock)).await
    }

    /// Opens the database with a clock for sessions (tests move it).
    pub async fn open_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> ApiResult<Self> {
        // PostgreSQL: one pool for the server's records and every tenant's engine.
        let (store, pg): (Arc<dyn ServerStore>, _) = match &settings.db {
            Database::Postgres(url) => {
                let pg = dsr_ops::pg::PgStore::connect(url, PG_POOL)
                    .await
                    .map_err(|e| ApiError::from(dsr_engine::Error::store(e)))?;
                (Arc::new(pg.clone()), Some(pg))
            }
            db => (dsr_ops::open_server_store(db, 1).await?, None),
        };
        if let Some(p) = &settings.portal {
            p.check(settings.hipaa)
                .map_err(|m| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "config", m))?;
        }
        let auth = Auth::new(store.clone(), clock.clone(), settings.auth.clone()).await?;
        let seed = store
            .server_key("callback-ed25519", &dsr_ops::clients::random_bytes()?)
            .await?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| ApiError::internal())?;
        let callback_tls = crate::callbacks::tls_connector(settings.callback_ca_file.as_deref())
            .map_err(|m| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "config", m))?;
        let opendsr = match &settings.opendsr {
            Some(s) => Some(Arc::new(
                crate::opendsr::Processor::load(store.as_ref(), s)
                    .await
                    .map_err(|m| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "config", m))?,
            )),
            None => None,
        };
        let notifier = match &settings.notifications {
            Some(n) => {
                n.check(settings.allow_private_callbacks, settings.hipaa)
                    .map_err(|m| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "config", m))?;
                Some(Arc::new(crate::notify::Notifier::new(n.clone()).map_err(
                    |m| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "config", m),
                )?))
            }
            None => None,
        };
        Ok(App {
            inner: Arc::new(Inner {
                limiter: Limiter::new(settings.rates),
                imports: Semaphore::new(settings.max_concurrent_imports.max(1)),
                settings,
                store,
                pg,
                tenants: RwLock::new(HashMap::new()),
                auth,
                metrics: Metrics::default(),
                ready: AtomicBool::new(false),
                creating: tokio::sync::Mutex::new(()),
                callback_key: ed25519_dalek::SigningKey::from_bytes(&seed),
                callback_tls,
                clock,
                opendsr,
                notifier,
            }),
        })
    }

    /// The clock sessions and links are timed by.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The server's store (subjects, clients, keys, callbacks).
    pub fn store(&self) -> &Arc<dyn ServerStore> {
        &self.inner.store
    }

    /// The public half of the key that signs callbacks (hex).
    pub fn callback_public_key_hex(&self) -> String {
        hex::encode(self.inner.callback_key.verifying_key().as_bytes())
    }

    /// Loads every tenant of the database (index in memory), logging progress; the
    /// server is ready after this.
    pub async fn load_all(&self) -> ApiResult<()> {
        for id in self.inner.store.tenant_names().await? {
            self.load(&id).await?;
        }
        self.inner.ready.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Whether every tenant's index is loaded.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
    }

    /// The tenants loaded.
    pub async fn tenants(&self) -> Vec<Arc<Tenant>> {
        self.inner.tenants.read().await.values().cloned().collect()
    }

    /// Loads one tenant (once).
    pub async fn load(&self, id: &TenantId) -> ApiResult<Arc<Tenant>> {
        if let Some(t) = self.inner.tenants.read().await.get(id) {
            return Ok(t.clone());
        }
        let mut map = self.inner.tenants.write().await;
        if let Some(t) = map.get(id) {
            return Ok(t.clone());
        }
        let started = std::time::Instant::now();
        let config = self.inner.settings.config.clone();
        let (engine, sqlite) = match &self.inner.settings.db {
            Database::Sqlite(path) => {
                let loc = Location {
                    db: path.clone(),
                    tenant: id.clone(),
                };
                let env = tokio::task::spawn_blocking(move || {
                    EngineEnv::open(&loc, config, OpenMode::Existing, Signing::LoadOrCreate)
                })
                .await
                .map_err(|_| ApiError::internal())??;
                (env.engine, Some(env.store))
            }
            Database::Postgres(_) => {
                let store = self.inner.pg.clone().ok_or_else(ApiError::internal)?;
                let env = dsr_ops::pg::PgEnv::over(
                    store,
                    id,
                    config,
                    Signing::LoadOrCreate,
                    &self.inner.settings.base,
                )?;
                (env.engine, None)
            }
        };
        let (dir, at) = match &sqlite {
            // One process writes a SQLite file: start from the index snapshot beside it.
            Some(store) => {
                let (db, tenant) = (store.db().clone(), id.clone());
                let dir =
                    tokio::task::spawn_blocking(move || dsr_ops::load_directory(&db, &tenant))
                        .await
                        .map_err(|_| ApiError::internal())??;
                (dir, 0)
            }
            None => dsr_ops::open::directory_at(self.inner.store.as_ref(), id).await?,
        };
        tracing::info!(
            tenant = %id,
            subjects = dir.len(),
            ms = started.elapsed().as_millis() as u64,
            "tenant index loaded"
        );
        let t = Arc::new(Tenant {
            engine,
            config: self.inner.settings.config.clone(),
            dir: RwLock::new(dir),
            sqlite,
            feed: tokio::sync::Mutex::new(dsr_ops::follow::Cursor::at(at)),
        });
        map.insert(id.clone(), t.clone());
        Ok(t)
    }

    /// Workers for a tenant, as configured.
    pub fn workers_for(&self, t: &Tenant) -> Vec<Worker> {
        (0..self.inner.settings.workers)
            .map(|_| Worker::new(t.engine.clone(), t.worker_config()))
            .collect()
    }

    /// Authenticates, checks the scope and counts the request against the client's
    /// rate limit for `class`.
    pub async fn allow(
        &self,
        headers: &HeaderMap,
        scope: Scope,
        class: Class,
    ) -> ApiResult<Principal> {
        let p = self.inner.auth.authenticate(headers).await?;
        p.require(scope)?;
        self.limit(&p.client_id, class)?;
        Ok(p)
    }

    /// Checks the scope of an authenticated caller and counts the request against its
    /// rate limit for `class`.
    pub fn permit(&self, p: &Principal, scope: Scope, class: Class) -> ApiResult<Principal> {
        p.require(scope)?;
        self.limit(&p.client_id, class)?;
        Ok(p.clone())
    }

    /// Counts one request against a client's limit.
    pub fn limit(&self, client_id: &str, class: Class) -> ApiResult<()> {
        self.inner.limiter.check(client_id, class).map_err(|wait| {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many requests from this client; retry after {secs} s (this API acts on one subject at a time and is not for bulk use)"
                ),
            )
            .header(header::RETRY_AFTER, secs.to_string())
            .details(serde_json::json!({ "retryAfterSeconds": secs }))
        })
    }

    /// The caller's tenant.
    pub async fn tenant(&self, p: &Principal) -> ApiResult<Arc<Tenant>> {
        self.load(&p.tenant).await
    }

    /// The authenticator.
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}
