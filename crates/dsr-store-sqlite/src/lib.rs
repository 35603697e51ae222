//! The embedded default store of dsr: one SQLite file, WAL mode, created and migrated on
//! first use. Zero setup: `SqliteStore::open("dsr.db")` is all it takes.
//!
//! Design decisions:
//! - `rusqlite` (bundled SQLite), synchronous. Calls are short transactions; async
//!   callers run them on a blocking thread or accept the few microseconds they take.
//! - Subjects are stored as their JSON document (`dsr_model::Subject`) keyed by
//!   `(tenant, id)`: the matcher, not SQL, does lookups, so the store does not need a
//!   column per field. Every query carries the tenant: no function here can read
//!   another tenant's rows.
//! - Schema changes are numbered migrations applied in one transaction each and
//!   recorded in `PRAGMA user_version` (see [`migrations`]).

use dsr_model::{Subject, SubjectId, TenantId};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

pub mod clients;
pub mod conversations;
pub mod migrations;
pub mod notify;
pub mod portal;
mod privacy;

/// A store error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be opened or a statement failed. The message says what
    /// happened and what to do, once (the SQLite error is kept in `sqlite`, not repeated
    /// as a cause).
    #[error("database {path}: {}", describe(sqlite))]
    Sqlite {
        /// The database file (or `:memory:`).
        path: String,
        /// The SQLite error.
        sqlite: rusqlite::Error,
    },
    /// A stored document could not be read back (corrupted or written by a newer version).
    #[error("database {path}: stored subject {id:?} is unreadable: {reason}")]
    Corrupt {
        /// The database file.
        path: String,
        /// The subject id.
        id: String,
        /// What failed.
        reason: String,
    },
    /// The database was written by a newer version of dsr.
    #[error(
        "database {path} has schema version {found}, this dsr knows up to {known}: upgrade dsr"
    )]
    TooNew {
        /// The database file.
        path: String,
        /// The schema version found.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
}

impl Error {
    /// Whether the error is another process holding the write lock (or a lock held for
    /// longer than the busy timeout): waiting and trying again is the remedy.
    pub fn is_busy(&self) -> bool {
        matches!(self, Error::Sqlite { sqlite: rusqlite::Error::SqliteFailure(f, _), .. }
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
    }
}

/// What happened, said once, and what to do about it.
fn describe(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let what = msg.clone().unwrap_or_else(|| f.to_string());
            let hint = match f.code {
                C::ReadOnly => Some(
                    "the file or its folder is read-only for this user: check the permissions, or point --db at a writable file",
                ),
                C::DatabaseBusy | C::DatabaseLocked => Some(
                    "another process holds the database's write lock; try again (if it lasts, look for a stuck dsr process)",
                ),
                C::DiskFull => Some(
                    "the disk is full: free some space and run the command again (nothing was half-written)",
                ),
                C::CannotOpen => Some("check that the folder exists and is writable"),
                C::NotADatabase => {
                    Some("this file is not a dsr (SQLite) database: check the --db path")
                }
                C::DatabaseCorrupt => Some("the file is damaged: restore it from a backup"),
                C::PermissionDenied => Some("check the file's permissions"),
                C::SystemIoFailure => Some("an I/O error: is the disk full or failing?"),
                _ => None,
            };
            match hint {
                Some(h) => format!("{what}; {h}"),
                None => what,
            }
        }
        other => other.to_string(),
    }
}

/// A tenant and how many subjects it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    /// The tenant's name.
    pub name: String,
    /// Its subjects.
    pub subjects: u64,
    /// Its requests.
    pub requests: u64,
    /// Its default phone region.
    pub default_region: Option<String>,
}

/// A position in a tenant's subject change feed: the change's number and its random
/// nonce (numbers restart lower in a database restored from a backup; nonces do not
/// repeat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedPosition {
    /// The change's number (increasing).
    pub seq: i64,
    /// Random, per change.
    pub nonce: i64,
}

/// One change in a tenant's subject feed.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedChange {
    /// The subject was written; its value now (`None` if it is gone since).
    Written(SubjectId, Option<Box<Subject>>),
    /// A subject was deleted: its id's [`FeedHasher::pseudonym`].
    Deleted(String),
}

/// Names a deleted subject in the change feed: HMAC-SHA256 of the tenant and id under
/// the database's random feed key, so the feed does not keep an erased person's id in
/// clear while a process that holds the id can still tell which subject went.
#[derive(Clone)]
pub struct FeedHasher {
    /// Keyed once: each pseudonym clones this state rather than hashing the key again.
    mac: hmac::Hmac<sha2::Sha256>,
}

impl std::fmt::Debug for FeedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeedHasher(..)")
    }
}

impl FeedHasher {
    /// The pseudonym of `id` in `tenant`'s feed.
    pub fn pseudonym(&self, tenant: &TenantId, id: &str) -> String {
        use hmac::Mac;
        let mut mac = self.mac.clone();
        mac.update(tenant.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(id.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

/// How many subjects an upsert created and how many it replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    /// New ids.
    pub created: usize,
    /// Ids that existed (or appeared earlier in the same batch).
    pub updated: usize,
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The SQLite store. Cheap to share behind an `Arc`; one connection guarded by a mutex
/// (SQLite serializes writers anyway; WAL lets other processes read meanwhile).
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database file, switches it to WAL and applies
    /// pending migrations.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        // A new file is made readable by its owner only (0600); if that fails, SQLite's
        // own open reports why.
        let _ = privacy::create_private(path);
        let conn = Connection::open(path).map_err(|source| Error::Sqlite {
            path: shown.clone(),
            sqlite: source,
        })?;
        Self::init(conn, shown)
    }

    /// A private in-memory database (tests, benchmarks).
    pub fn open_in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(|source| Error::Sqlite {
            path: ":memory:".into(),
            sqlite: source,
        })?;
        Self::init(conn, ":memory:".into())
    }

    fn init(mut conn: Connection, path: String) -> Result<Self> {
        let wrap = |source| Error::Sqlite {
            path: path.clone(),
            sqlite: source,
        };
        // Every transaction that writes begins IMMEDIATE, taking the write lock first and
        // waiting for it under this timeout. A deferred one that read before writing
        // would fail at once with SQLITE_BUSY whenever another connection (another
        // process, or a service's own connection to this file) wrote in between:
        // SQLite cannot upgrade its stale snapshot, and no busy timeout applies.
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(wrap)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(wrap)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(wrap)?;
        // Deleted content is overwritten with zeros, so an erasure (or a purge) leaves
        // no copy of the data in free pages of the file or of the WAL.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(wrap)?;
        migrations::apply(&mut conn, &path)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// How long a statement waits for another process's write lock before failing
    /// with "database is locked" (30 s by default).
    pub fn set_busy_timeout(&self, wait: std::time::Duration) -> Result<()> {
        self.lock().busy_timeout(wait).map_err(|e| self.err(e))
    }

    /// Where the database lives (`:memory:` for an in-memory one).
    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.path)
    }

    /// Runs `f` with the connection (for crates that add their own tables through
    /// [`migrations`]). Errors are wrapped with the database path.
    pub fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut conn = self.lock();
        f(&mut conn).map_err(|source| self.err(source))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (the
        // transaction rolls back on drop), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, source: rusqlite::Error) -> Error {
        Error::Sqlite {
            path: self.path.clone(),
            sqlite: source,
        }
    }

    /// Inserts or replaces subjects (by id) in one transaction. Callers validate first
    /// (`Subject::validate`); this stores what it is given.
    pub fn upsert_subjects(&self, tenant: &TenantId, subjects: &[Subject]) -> Result<usize> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO subjects (tenant, id, kind, doc, updated_at)
                     VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ','now'))
                     ON CONFLICT (tenant, id) DO UPDATE SET
                       kind = excluded.kind, doc = excluded.doc, updated_at = excluded.updated_at",
                )
                .map_err(|e| self.err(e))?;
            for s in subjects {
                let doc = serde_json::to_string(s).expect("a Subject always serializes");
                stmt.execute(params![
                    tenant.as_str(),
                    s.id.as_str(),
                    s.kind.as_str(),
                    doc
                ])
                .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(subjects.len())
    }

    /// Inserts or replaces subjects and tells how many were new and how many replaced an
    /// existing subject with the same id.
    pub fn upsert_subjects_counted(
        &self,
        tenant: &TenantId,
        subjects: &[Subject],
    ) -> Result<UpsertCounts> {
        let mut counts = UpsertCounts::default();
        {
            let conn = self.lock();
            let mut stmt = conn
                .prepare_cached("SELECT 1 FROM subjects WHERE tenant = ?1 AND id = ?2")
                .map_err(|e| self.err(e))?;
            let mut seen = std::collections::HashSet::new();
            for s in subjects {
                let exists = stmt
                    .exists(params![tenant.as_str(), s.id.as_str()])
                    .map_err(|e| self.err(e))?;
                if exists || !seen.insert(s.id.as_str()) {
                    counts.updated += 1;
                } else {
                    counts.created += 1;
                }
            }
        }
        self.upsert_subjects(tenant, subjects)?;
        Ok(counts)
    }

    /// The tenant's default phone region, if set.
    pub fn default_region(&self, tenant: &TenantId) -> Result<Option<String>> {
        self.lock()
            .query_row(
                "SELECT default_region FROM tenant_settings WHERE tenant = ?1",
                params![tenant.as_str()],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(Option::flatten)
            .map_err(|e| self.err(e))
    }

    /// Sets (or clears) the tenant's default phone region.
    pub fn set_default_region(&self, tenant: &TenantId, region: Option<&str>) -> Result<()> {
        self.lock()
            .execute(
                "INSERT INTO tenant_settings (tenant, default_region) VALUES (?1, ?2)
                 ON CONFLICT (tenant) DO UPDATE SET default_region = excluded.default_region",
                params![tenant.as_str(), region],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Records the tenant (with no settings) if it does not exist yet.
    pub fn create_tenant(&self, tenant: &TenantId) -> Result<bool> {
        let n = self
            .lock()
            .execute(
                "INSERT INTO tenant_settings (tenant) VALUES (?1) ON CONFLICT (tenant) DO NOTHING",
                params![tenant.as_str()],
            )
            .map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// Whether the tenant exists: it has settings, subjects or requests.
    pub fn tenant_exists(&self, tenant: &TenantId) -> Result<bool> {
        self.lock()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM tenant_settings WHERE tenant = ?1)
                     OR EXISTS (SELECT 1 FROM subjects WHERE tenant = ?1)
                     OR EXISTS (SELECT 1 FROM requests WHERE tenant = ?1)",
                params![tenant.as_str()],
                |r| r.get::<_, bool>(0),
            )
            .map_err(|e| self.err(e))
    }

    /// Every tenant of the database, by name.
    pub fn tenants(&self) -> Result<Vec<TenantInfo>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare(
                "WITH t(name) AS (SELECT tenant FROM tenant_settings
                                  UNION SELECT tenant FROM subjects
                                  UNION SELECT tenant FROM requests)
                 SELECT t.name,
                        (SELECT count(*) FROM subjects s WHERE s.tenant = t.name),
                        (SELECT count(*) FROM requests r WHERE r.tenant = t.name),
                        (SELECT default_region FROM tenant_settings x WHERE x.tenant = t.name)
                 FROM t ORDER BY t.name",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(TenantInfo {
                    name: r.get(0)?,
                    subjects: r.get::<_, i64>(1)? as u64,
                    requests: r.get::<_, i64>(2)? as u64,
                    default_region: r.get(3)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))
    }

    /// One subject by id.
    pub fn get_subject(&self, tenant: &TenantId, id: &SubjectId) -> Result<Option<Subject>> {
        let doc: Option<String> = self
            .lock()
            .query_row(
                "SELECT doc FROM subjects WHERE tenant = ?1 AND id = ?2",
                params![tenant.as_str(), id.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        doc.map(|d| self.decode(id.as_str(), &d)).transpose()
    }

    /// Removes a subject; returns whether it existed. Recorded in the change feed under
    /// the id's keyed hash, which also replaces the id in the subject's earlier feed rows.
    pub fn delete_subject(&self, tenant: &TenantId, id: &SubjectId) -> Result<bool> {
        let hasher = self.feed_hasher()?;
        let hash = hasher.pseudonym(tenant, id.as_str());
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let n = tx
            .execute(
                "DELETE FROM subjects WHERE tenant = ?1 AND id = ?2",
                params![tenant.as_str(), id.as_str()],
            )
            .map_err(|e| self.err(e))?;
        if n > 0 {
            tx.execute(
                "UPDATE subject_changes SET id = NULL, id_hash = ?3 WHERE tenant = ?1 AND id = ?2",
                params![tenant.as_str(), id.as_str(), hash],
            )
            .map_err(|e| self.err(e))?;
            tx.execute(
                "INSERT INTO subject_changes (tenant, id_hash) VALUES (?1, ?2)",
                params![tenant.as_str(), hash],
            )
            .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    /// What the change feed names deleted subjects by.
    pub fn feed_hasher(&self) -> Result<FeedHasher> {
        let key: Vec<u8> = self
            .lock()
            .query_row("SELECT feed_key FROM store_identity", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let mac = <hmac::Hmac<sha2::Sha256> as hmac::Mac>::new_from_slice(&key)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        Ok(FeedHasher { mac })
    }

    /// The pseudonyms of the subjects deleted after `after` (each once), for a replay
    /// to find them among the ids it holds before it applies the changes.
    pub fn deleted_after(
        &self,
        tenant: &TenantId,
        after: Option<FeedPosition>,
    ) -> Result<std::collections::HashSet<String>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT DISTINCT id_hash FROM subject_changes
                 WHERE tenant = ?1 AND seq > ?2 AND id IS NULL AND id_hash IS NOT NULL",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![tenant.as_str(), after.map_or(0, |a| a.seq)], |r| {
                r.get::<_, String>(0)
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Every subject of a tenant, in id order.
    pub fn load_subjects(&self, tenant: &TenantId) -> Result<Vec<Subject>> {
        Ok(self.load_subjects_at(tenant)?.0)
    }

    /// This database's identity (random, made with it): another database at the same
    /// path has another.
    pub fn identity(&self) -> Result<String> {
        self.lock()
            .query_row("SELECT id FROM store_identity", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    /// Every subject of a tenant with the change-feed position they reflect (the last
    /// change, `None` before any), read in one transaction.
    pub fn load_subjects_at(
        &self,
        tenant: &TenantId,
    ) -> Result<(Vec<Subject>, Option<FeedPosition>)> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let at = tx
            .query_row(
                "SELECT seq, nonce FROM subject_changes WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1",
                params![tenant.as_str()],
                |r| Ok(FeedPosition { seq: r.get(0)?, nonce: r.get(1)? }),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached("SELECT id, doc FROM subjects WHERE tenant = ?1 ORDER BY id")
                .map_err(|e| self.err(e))?;
            let mut rows = stmt
                .query(params![tenant.as_str()])
                .map_err(|e| self.err(e))?;
            while let Some(row) = rows.next().map_err(|e| self.err(e))? {
                let id: String = row.get(0).map_err(|e| self.err(e))?;
                let doc: String = row.get(1).map_err(|e| self.err(e))?;
                out.push(self.decode(&id, &doc)?);
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok((out, at))
    }

    /// Whether the change at `at.seq` is still in the tenant's feed with the same
    /// nonce. `None` (a position before any change) always is: pruning keeps a feed's
    /// last row, so every change in it came after.
    pub fn has_change(&self, tenant: &TenantId, at: Option<FeedPosition>) -> Result<bool> {
        let Some(at) = at else {
            return Ok(true);
        };
        self.lock()
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM subject_changes WHERE tenant = ?1 AND seq = ?2 AND nonce = ?3)",
                params![tenant.as_str(), at.seq, at.nonce],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }

    /// The tenant's changes after `after` (oldest first, at most `limit`).
    pub fn changes_after(
        &self,
        tenant: &TenantId,
        after: Option<FeedPosition>,
        limit: usize,
    ) -> Result<Vec<(FeedPosition, FeedChange)>> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT ch.seq, ch.nonce, ch.id, ch.id_hash, s.doc FROM subject_changes ch
                 LEFT JOIN subjects s ON s.tenant = ch.tenant AND s.id = ch.id
                 WHERE ch.tenant = ?1 AND ch.seq > ?2 ORDER BY ch.seq LIMIT ?3",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(params![
                tenant.as_str(),
                after.map_or(0, |a| a.seq),
                limit as i64
            ])
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            let at = FeedPosition {
                seq: row.get(0).map_err(|e| self.err(e))?,
                nonce: row.get(1).map_err(|e| self.err(e))?,
            };
            let id: Option<String> = row.get(2).map_err(|e| self.err(e))?;
            let hash: Option<String> = row.get(3).map_err(|e| self.err(e))?;
            let doc: Option<String> = row.get(4).map_err(|e| self.err(e))?;
            let change = match id {
                Some(id) => {
                    let subject = doc
                        .map(|d| self.decode(&id, &d).map(Box::new))
                        .transpose()?;
                    let id = SubjectId::new(id.clone()).map_err(|e| Error::Corrupt {
                        path: self.path.clone(),
                        id,
                        reason: e.to_string(),
                    })?;
                    FeedChange::Written(id, subject)
                }
                None => FeedChange::Deleted(hash.unwrap_or_default()),
            };
            out.push((at, change));
        }
        Ok(out)
    }

    /// How many changes the tenant's feed has after `after`.
    pub fn count_changes_after(
        &self,
        tenant: &TenantId,
        after: Option<FeedPosition>,
    ) -> Result<u64> {
        self.lock()
            .query_row(
                "SELECT count(*) FROM subject_changes WHERE tenant = ?1 AND seq > ?2",
                params![tenant.as_str(), after.map_or(0, |a| a.seq)],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Drops the tenant's changes before `at` (a snapshot at `at` covers them; the
    /// change at `at` stays, so the snapshot can be checked against it).
    pub fn prune_changes(&self, tenant: &TenantId, at: FeedPosition) -> Result<usize> {
        self.lock()
            .execute(
                "DELETE FROM subject_changes WHERE tenant = ?1 AND seq < ?2",
                params![tenant.as_str(), at.seq],
            )
            .map_err(|e| self.err(e))
    }

    /// How many subjects a tenant has.
    pub fn count_subjects(&self, tenant: &TenantId) -> Result<u64> {
        self.lock()
            .query_row(
                "SELECT count(*) FROM subjects WHERE tenant = ?1",
                params![tenant.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    fn decode(&self, id: &str, doc: &str) -> Result<Subject> {
        serde_json::from_str(doc).map_err(|e| Error::Corrupt {
            path: self.path.clone(),
            id: id.to_owned(),
            reason: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsr_model::SubjectKind;

    #[test]
    fn subjects_round_trip_and_are_tenant_scoped() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
        let a = TenantId::new("a").unwrap();
        let b = TenantId::new("b").unwrap();
        let mut s = Subject::new(SubjectKind::ExternalContact, SubjectId::new("c1").unwrap());
        s.names.push("Zoë Faure".into());
        store.upsert_subjects(&a, std::slice::from_ref(&s)).unwrap();
        assert_eq!(store.get_subject(&a, &s.id).unwrap(), Some(s.clone()));
        assert_eq!(store.get_subject(&b, &s.id).unwrap(), None);
        assert_eq!(store.count_subjects(&b).unwrap(), 0);
        s.emails.push("zoe@example.fr".into());
        store.upsert_subjects(&a, std::slice::from_ref(&s)).unwrap();
        assert_eq!(store.load_subjects(&a).unwrap(), vec![s.clone()]);
        assert!(!store.delete_subject(&b, &s.id).unwrap());
        assert!(store.delete_subject(&a, &s.id).unwrap());
        assert_eq!(store.count_subjects(&a).unwrap(), 0);
    }

    #[test]
    fn reopening_keeps_data_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let t = TenantId::default();
        {
            let store = SqliteStore::open(&path).unwrap();
            let s = Subject::new(SubjectKind::User, SubjectId::new("u1").unwrap());
            store.upsert_subjects(&t, &[s]).unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.count_subjects(&t).unwrap(), 1);
    }
}

pub mod engine_store;
