//! The dsr engine's [`Store`](dsr_engine::Store) on PostgreSQL, for several engine
//! nodes (`dsr-server`, `dsr worker`) on one database.
//!
//! - **Claims** take tasks with `FOR UPDATE SKIP LOCKED` and a lease, in a short
//!   transaction: two nodes never claim one task, and a node that dies mid-task loses
//!   nothing (its lease expires and another node takes the task). What a claim does to
//!   a task is the engine's decision ([`ClaimSpec::claim`](dsr_engine::store::ClaimSpec)).
//! - **Held snapshots** (a long transaction elsewhere keeps dead row versions from being
//!   vacuumed) are the known trap of a queue on PostgreSQL: every claim would walk the
//!   dead index entries of every task claimed since. A claim scans due tasks from a
//!   *low-water mark* (the oldest `next_us` it may still find, kept per tenant and
//!   service set in this process) instead of from the start of the index, and rescans
//!   from the start every [`FULL_SCAN_EVERY`] to find stragglers (a task committed late,
//!   a claim rolled back). Expired leases are looked for on the same rhythm, not on
//!   every claim. Audit entries are insert-only (no head row updated per commit).
//! - **Duplicate checks** and the **audit chain** take transaction-scoped advisory
//!   locks (per tenant, type and subject or merge set; per tenant for the chain), so
//!   concurrent creators on several nodes are serialized exactly where they conflict:
//!   never read-then-write.
//! - **Subjects** carry a change feed (`subject_changes`, a sequence per change,
//!   written in the same transaction) for nodes that keep an index in memory; commands
//!   load the whole directory when they start.
//!
//! Everything is in one schema created by numbered migrations ([`PgStore::connect`]).

mod migrations;
mod server;
mod services;
mod store;
mod subjects;

pub use services::build_services;
pub use subjects::{SubjectChange, TenantRow, UpsertCounts};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::time::Duration;
use tokio_postgres::NoTls;

/// How often a claim rescans due tasks from the start and looks for expired leases.
pub const FULL_SCAN_EVERY: Duration = Duration::from_secs(2);

/// How far below the newest `next_us` it claimed a claim starts its scan: a task
/// committed up to this late is still found without waiting for the full rescan.
pub const LOW_WATER_MARGIN: Duration = Duration::from_secs(5);

/// A PostgreSQL store error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not a PostgreSQL connection string.
    #[error(
        "database URL {url:?}: {reason} (expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE)"
    )]
    Url {
        /// The URL, with any password hidden.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The server refused or failed a statement.
    #[error("PostgreSQL: {}", pg_message(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection could be had from the pool in time.
    #[error("PostgreSQL connection pool: {0}")]
    Pool(String),
    /// A row could not be read back.
    #[error("stored {what} is unreadable: {reason}")]
    Unreadable {
        /// What.
        what: String,
        /// Why.
        reason: String,
    },
    /// The database was written by a newer release.
    #[error(
        "the database schema is at version {found}, newer than this release's {known}: upgrade dsr"
    )]
    TooNew {
        /// The version found.
        found: i32,
        /// The newest this release knows.
        known: i32,
    },
}

impl Error {
    /// Whether the same call may succeed later (a serialization failure, a deadlock,
    /// a connection lost or not available in time).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Pool(_) => true,
            Error::Postgres(e) => {
                e.is_closed()
                    || e.code().is_some_and(|c| {
                        *c == tokio_postgres::error::SqlState::T_R_SERIALIZATION_FAILURE
                            || *c == tokio_postgres::error::SqlState::T_R_DEADLOCK_DETECTED
                            || *c == tokio_postgres::error::SqlState::ADMIN_SHUTDOWN
                            || *c == tokio_postgres::error::SqlState::CANNOT_CONNECT_NOW
                    })
            }
            _ => false,
        }
    }
}

/// The server's own message (with its detail and hint) rather than the driver's
/// summary ("db error"), so the person reading it learns what is wrong.
fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut m = format!("{} ({})", db.message(), db.code().code());
            if let Some(d) = db.detail() {
                m.push_str(&format!("; {d}"));
            }
            if let Some(h) = db.hint() {
                m.push_str(&format!("; hint: {h}"));
            }
            m
        }
        None => match std::error::Error::source(e) {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        },
    }
}

/// A result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Whether `url` names a PostgreSQL database (rather than a SQLite file).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The store: a connection pool and the per-process claim state.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    claims: std::sync::Arc<std::sync::Mutex<store::ClaimMarks>>,
    sealers: std::sync::Arc<store::Sealers>,
    secrets: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<dsr_model::TenantId, dsr_engine::privacy::Key>>,
    >,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects (`max_connections` in the pool), checks the server answers and applies
    /// the migrations this release needs (several nodes starting at once apply them
    /// once: the migration holds an advisory lock).
    pub async fn connect(url: &str, max_connections: usize) -> Result<Self> {
        let bad = |reason: String| Error::Url {
            url: redact_url(url),
            reason,
        };
        if !is_postgres_url(url) {
            return Err(bad("not a postgres:// URL".into()));
        }
        let cfg: tokio_postgres::Config = url.parse().map_err(|e| bad(format!("{e}")))?;
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(max_connections.max(1))
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Pool(e.to_string()))?;
        let store = PgStore {
            pool,
            claims: Default::default(),
            sealers: Default::default(),
            secrets: Default::default(),
        };
        let mut client = store.client().await?;
        migrations::apply(&mut client).await?;
        Ok(store)
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => Error::Postgres(e),
            other => Error::Pool(other.to_string()),
        })
    }
}

/// Drops (if present) and creates the database `name` on the server of `admin_url` (a
/// URL whose user may create databases), and returns the URL of the new database: for
/// tests and benchmarks that each want a database of their own.
pub async fn recreate_database(admin_url: &str, name: &str) -> Result<String> {
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::Url {
            url: name.to_owned(),
            reason: "a database name of letters, digits and _ only".into(),
        });
    }
    let (client, conn) = tokio_postgres::connect(admin_url, NoTls).await?;
    tokio::spawn(conn);
    // One statement each: DROP / CREATE DATABASE refuse to run inside a transaction.
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await?;
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

pub(crate) fn engine_err(e: Error) -> dsr_engine::Error {
    if e.is_transient() {
        dsr_engine::Error::Busy(e.to_string())
    } else {
        dsr_engine::Error::store(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://dsr:s3cret@db:5432/dsr"),
            "postgres://dsr:***@db:5432/dsr"
        );
        assert_eq!(redact_url("postgres://dsr@db/dsr"), "postgres://dsr@db/dsr");
        assert!(is_postgres_url("postgresql://x/y") && !is_postgres_url("dsr.db"));
    }
}
