//! The embedded [`dsr_engine::Store`]: requests, tasks, the audit chain and packages in
//! the same SQLite file as the subjects; plus the reference services that work on that
//! file (the subjects directory, the conversations with their attachments, and tables
//! described in `dsr.toml`).
//!
//! Every write is one `BEGIN IMMEDIATE` transaction, so several worker processes on one
//! file are safe: SQLite serializes the writers, and every update is conditional on the
//! version read (optimistic concurrency), so a stale writer gets a conflict instead of
//! overwriting. Claiming takes tasks that are pending, due for a retry, or running with
//! an expired lease (`lease_us <= now`), in the same transaction that leases them.

use crate::SqliteStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsr_engine::audit::{self, AuditEntry, AuditEvent};
use dsr_engine::store::{Change, ClaimSpec, Store, Suppressed};
use dsr_engine::{
    Error, Outcome, Request, RequestFilter, RequestId, RequestStatus, Result, Task, TaskStatus,
};
use dsr_model::TenantId;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::sync::{Arc, LazyLock};

mod server;
mod services;
pub use dsr_engine::directory::SubjectsService;
pub use services::{ConversationsService, TableService, build_services};

/// Tasks of one status due by `?3` (pending, retry_wait), oldest first.
const CLAIM_DUE_SQL: &str = "SELECT * FROM tasks INDEXED BY tasks_claim
     WHERE tenant = ?1 AND status = ?2 AND next_us <= ?3
       AND service IN (SELECT value FROM json_each(?4))
     ORDER BY next_us LIMIT ?5";

/// Running tasks whose lease expired by `?3` (their worker died).
const CLAIM_EXPIRED_SQL: &str = "SELECT * FROM tasks INDEXED BY tasks_claim
     WHERE tenant = ?1 AND status = ?2 AND lease_us <= ?3
       AND service IN (SELECT value FROM json_each(?4))
     ORDER BY next_us LIMIT ?5";

/// `('completed', …)`: the engine's finished request statuses as an SQL list.
fn sql_list(names: impl IntoIterator<Item = &'static str>) -> String {
    let quoted: Vec<String> = names.into_iter().map(|n| format!("'{n}'")).collect();
    format!("({})", quoted.join(","))
}

/// The engine's finished request statuses ([`RequestStatus::FINISHED`]), as SQL.
static FINISHED: LazyLock<String> =
    LazyLock::new(|| sql_list(RequestStatus::FINISHED.iter().map(|s| s.as_str())));

/// The engine's open task statuses ([`TaskStatus::OPEN`]), as SQL.
static OPEN_TASKS: LazyLock<String> =
    LazyLock::new(|| sql_list(TaskStatus::OPEN.iter().map(|s| s.as_str())));

/// The duplicate check by subject (index requests_by_subject).
static DUPLICATE_BY_SUBJECT_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id, status, subject_id, created_us FROM requests INDEXED BY requests_by_subject
         WHERE tenant = ?1 AND subject_id = ?2 AND type = ?3 AND status NOT IN {}
         ORDER BY created_us LIMIT 1",
        *FINISHED
    )
});

/// The duplicate check by merge set (index requests_by_merge_set).
static DUPLICATE_BY_MERGE_SET_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT id, status, subject_id, created_us FROM requests INDEXED BY requests_by_merge_set
         WHERE tenant = ?1 AND merge_set = ?2 AND type = ?3 AND status NOT IN {}
         ORDER BY created_us LIMIT 1",
        *FINISHED
    )
});

fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_us(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(v).unwrap_or_default()
}

fn store_err(e: crate::Error) -> Error {
    if e.is_busy() {
        Error::Busy(e.to_string())
    } else {
        Error::store(e)
    }
}

/// An error inside a transaction: SQLite's, or the engine's (conflict, duplicate).
enum TxError {
    Sql(rusqlite::Error),
    Engine(Error),
}

impl From<rusqlite::Error> for TxError {
    fn from(e: rusqlite::Error) -> Self {
        TxError::Sql(e)
    }
}

/// The SQLite implementation of the engine's [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteEngineStore {
    db: Arc<SqliteStore>,
    checkpointer: Option<Arc<Checkpointer>>,
}

/// How many times a scrub tries its checkpoint (waits of 5, 10, 20, 40, 80, 160,
/// 160… ms between them: about a second in all).
const SCRUB_TRIES: u32 = 10;

/// How often the background checkpointer runs.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// WAL pages after which a committing connection checkpoints by itself anyway (a backstop
/// should the background checkpointer fall behind; SQLite's default is 1,000).
const CHECKPOINT_BACKSTOP_PAGES: i64 = 8_000;

/// Moves the WAL into the database file from a thread of its own, so commits do not wait
/// for a checkpoint's two fsyncs. With `synchronous = NORMAL` the WAL reaches the disk at
/// checkpoints: this also bounds, in time (≈ 0.1 s), what a power loss could roll back,
/// where SQLite's own checkpoints (every 1,000 pages) leave an idle database's last
/// commits unsynced indefinitely. A process crash loses nothing either way.
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Held around every checkpoint of this process. SQLite lets one checkpoint run
    /// at a time and answers a second with SQLITE_BUSY at once, busy timeout or not:
    /// without the gate, a scrub that met the background checkpoint would fail and
    /// leave an erased person's old pages in the WAL (and, copied by the next passive
    /// checkpoint, in the file) until the next erasure.
    gate: Arc<std::sync::Mutex<()>>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Checkpointer")
    }
}

impl Checkpointer {
    fn start(path: &std::path::Path) -> Option<Self> {
        let conn = Connection::open(path).ok()?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).ok()?;
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(std::sync::Mutex::new(()));
        let held = gate.clone();
        let thread = std::thread::Builder::new()
            .name("dsr-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    rx.recv_timeout(CHECKPOINT_EVERY)
                {
                    let _gate = held.lock().unwrap_or_else(|p| p.into_inner());
                    // PASSIVE: copies what it can without blocking writers; a busy or
                    // failed checkpoint is simply tried again next time.
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                }
            })
            .ok()?;
        Some(Checkpointer {
            stop: Some(tx),
            thread: Some(thread),
            gate,
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take()); // wakes the thread, which ends
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl SqliteEngineStore {
    /// Wraps an open store (its migrations created the engine's tables). For a database
    /// file, starts the background checkpointer (every 100 ms); it stops when
    /// the last clone of this store is dropped.
    pub fn new(db: Arc<SqliteStore>) -> Self {
        let path = db.path();
        let checkpointer = if path.as_os_str() == ":memory:" {
            None
        } else {
            let started = Checkpointer::start(&path);
            if started.is_some() {
                let _ = db.with_conn(|c| {
                    c.pragma_update(None, "wal_autocheckpoint", CHECKPOINT_BACKSTOP_PAGES)
                });
            }
            started.map(Arc::new)
        };
        SqliteEngineStore { db, checkpointer }
    }

    /// The underlying store (subjects).
    pub fn db(&self) -> &Arc<SqliteStore> {
        &self.db
    }

    /// After removing personal data: moves the WAL into the file and truncates it, so
    /// the old page versions (which still hold the removed bytes) are gone from the WAL
    /// too; `secure_delete` already zeroed them in the new versions. This process's
    /// background checkpoint is waited for, and a checkpoint that could not finish
    /// (another process's checkpoint, or its reader on an older snapshot) is tried
    /// again for up to about a second. Best effort beyond that: a reader in another
    /// process that stays longer keeps the WAL until the next scrub (the next erasure
    /// or `dsr purge`).
    pub fn scrub(&self) {
        let _gate = self
            .checkpointer
            .as_ref()
            .map(|c| c.gate.lock().unwrap_or_else(|p| p.into_inner()));
        for attempt in 0..SCRUB_TRIES {
            // (busy, WAL frames, frames checkpointed): busy = 0 when it completed.
            let done = self.db.with_conn(|c| {
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    r.get::<_, i64>(0)
                })
            });
            if matches!(done, Ok(0)) {
                return;
            }
            if attempt + 1 < SCRUB_TRIES {
                std::thread::sleep(std::time::Duration::from_millis(5 << attempt.min(5)));
            }
        }
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> std::result::Result<T, TxError>,
    ) -> Result<T> {
        let mut engine_err = None;
        let out = self.db.with_conn(|conn: &mut Connection| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            match f(&tx) {
                Ok(v) => {
                    tx.commit()?;
                    Ok(Some(v))
                }
                Err(TxError::Sql(e)) => Err(e),
                Err(TxError::Engine(e)) => {
                    engine_err = Some(e);
                    Ok(None)
                }
            }
        });
        match (out, engine_err) {
            (_, Some(e)) => Err(e),
            (Ok(Some(v)), None) => Ok(v),
            (Ok(None), None) => Err(Error::Invalid("transaction ended without a result".into())),
            (Err(e), None) => Err(store_err(e)),
        }
    }

    fn read<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.db.with_conn(f).map_err(store_err)
    }

    /// Adds a conversation linked to a subject (or to an external id), with its
    /// attachments `(name, content type, bytes, uploaded by the subject)` (G-12).
    pub fn add_conversation(
        &self,
        tenant: &TenantId,
        id: &str,
        subject_id: &str,
        channel: &str,
        body: &str,
        attachments: &[(&str, &str, &[u8], bool)],
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR REPLACE INTO conversations (tenant, id, subject_id, channel, started_at, body)
                 VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%SZ','now'), ?5)",
                params![tenant.as_str(), id, subject_id, channel, body],
            )?;
            for (i, (name, ct, data, by_subject)) in attachments.iter().enumerate() {
                tx.execute(
                    "INSERT OR REPLACE INTO attachments (tenant, id, conversation_id, name, content_type, data, uploaded_by_subject)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![tenant.as_str(), format!("{id}-{i}"), id, name, ct, data, by_subject],
                )?;
            }
            Ok(())
        })
    }

    /// How many `task.done` (or any action) entries each `(request, service)` has in
    /// the audit log: the durability checks use it ("none recorded done twice").
    pub fn audit_action_counts(
        &self,
        tenant: &TenantId,
        action: &str,
    ) -> Result<Vec<(String, String, u64)>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT request_id, coalesce(service, ''), count(*) FROM audit_log
                 WHERE tenant = ?1 AND action = ?2 GROUP BY request_id, service",
            )?;
            let rows = st.query_map(params![tenant.as_str(), action], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })?;
            rows.collect()
        })
    }
}

/// A stored task row: the task, with its outcome and manual assignment still as JSON.
type TaskRow = (Task, Option<String>, Option<String>);

fn task_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRow> {
    let tenant: String = r.get("tenant")?;
    let status: String = r.get("status")?;
    let outcome: Option<String> = r.get("outcome")?;
    let manual: Option<String> = r.get("manual")?;
    let bad = |what: String| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, what.into())
    };
    Ok((
        dsr_engine::TaskRow {
            request_id: RequestId::from_stored(r.get("request_id")?),
            tenant: TenantId::new(tenant).map_err(|e| bad(e.to_string()))?,
            service: r.get("service")?,
            status: status
                .parse::<TaskStatus>()
                .map_err(|e| bad(e.to_string()))?,
            attempt: r.get::<_, i64>("attempt")? as u32,
            version: r.get::<_, i64>("version")? as u64,
            lease_owner: r.get("lease_owner")?,
            lease_expires: r.get::<_, Option<i64>>("lease_us")?.map(from_us),
            next_at: from_us(r.get("next_us")?),
            outcome: None,
            last_error: r.get("last_error")?,
            updated_at: from_us(r.get("updated_us")?),
            manual: None,
        }
        .into(),
        outcome,
        manual,
    ))
}

/// A stored request that could not be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Its id.
    pub id: String,
    /// Why it could not be read.
    pub reason: String,
}

impl SqliteEngineStore {
    /// The requests matching `filter`, and separately the stored requests that could not
    /// be read back (so one damaged row does not hide every other request).
    pub fn requests_and_unreadable(
        &self,
        tenant: &TenantId,
        filter: &RequestFilter,
    ) -> Result<(Vec<Request>, Vec<Unreadable>)> {
        let docs: Vec<(String, String)> = self.read(|c| {
            let mut sql = String::from("SELECT id, doc FROM requests WHERE tenant = ?1");
            if filter.status.is_some() {
                sql.push_str(" AND status = ?2");
            }
            if filter.overdue_at.is_some() {
                sql.push_str(&format!(
                    " AND status NOT IN {} AND (due_us < ?3 OR legal_us < ?3)",
                    *FINISHED
                ));
            }
            if filter.subject.is_some() {
                sql.push_str(" AND subject_id = ?4");
            }
            sql.push_str(" ORDER BY created_us, id");
            if filter.limit > 0 {
                sql.push_str(&format!(" LIMIT {}", filter.limit));
            }
            let mut st = c.prepare(&sql)?;
            // Bind only the parameters the query uses (SQLite refuses unused ones).
            let status = filter.status.map(|s| s.as_str().to_owned());
            let overdue = filter.overdue_at.map(us);
            let subject = filter.subject.as_ref().map(|s| s.as_str().to_owned());
            st.raw_bind_parameter(1, tenant.as_str())?;
            if let Some(s) = &status {
                st.raw_bind_parameter(2, s)?;
            }
            if let Some(o) = overdue {
                st.raw_bind_parameter(3, o)?;
            }
            if let Some(s) = &subject {
                st.raw_bind_parameter(4, s)?;
            }
            let mut rows = st.raw_query();
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push((r.get(0)?, r.get(1)?));
            }
            Ok(out)
        })?;
        let mut ok = Vec::with_capacity(docs.len());
        let mut bad = Vec::new();
        for (id, doc) in docs {
            match serde_json::from_str::<Request>(&doc) {
                Ok(r) => ok.push(r),
                Err(e) => bad.push(Unreadable {
                    id,
                    reason: e.to_string(),
                }),
            }
        }
        Ok((ok, bad))
    }
}

fn decode_task((mut t, outcome, manual): TaskRow) -> Result<Task> {
    if let Some(o) = outcome {
        t.outcome = Some(serde_json::from_str::<Outcome>(&o).map_err(|e| {
            Error::Invalid(format!(
                "stored outcome of task {} / {} is unreadable: {e}",
                t.request_id, t.service
            ))
        })?);
    }
    if let Some(m) = manual {
        t.manual = Some(serde_json::from_str(&m).map_err(|e| {
            Error::Invalid(format!(
                "stored manual assignment of task {} / {} is unreadable: {e}",
                t.request_id, t.service
            ))
        })?);
    }
    Ok(t)
}

fn decode_request(doc: &str) -> Result<Request> {
    serde_json::from_str(doc)
        .map_err(|e| Error::Invalid(format!("stored request is unreadable: {e}")))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn append_audit(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    at: DateTime<Utc>,
    events: Vec<AuditEvent>,
) -> rusqlite::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let head: Option<(i64, String)> = tx
        .prepare_cached("SELECT idx, hash FROM audit_head WHERE tenant = ?1")?
        .query_row(params![tenant.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (mut next, mut prev) = match head {
        Some((i, h)) => (i as u64 + 1, h),
        None => (0, audit::GENESIS.to_owned()),
    };
    let mut ins = tx.prepare_cached(
        "INSERT INTO audit_log (tenant, idx, at, actor, action, request_id, service, subject_id, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for e in events {
        let entry = audit::seal(tenant, next, at, e, &prev);
        ins.execute(params![
            tenant.as_str(),
            entry.index as i64,
            entry.at,
            entry.event.actor,
            entry.event.action,
            entry.event.request_id,
            entry.event.service,
            entry.event.subject_id,
            audit::canonical_json(&entry.event.detail),
            entry.prev_hash,
            entry.hash,
        ])?;
        prev = entry.hash;
        next += 1;
    }
    tx.prepare_cached(
        "INSERT INTO audit_head (tenant, idx, hash) VALUES (?1, ?2, ?3)
         ON CONFLICT (tenant) DO UPDATE SET idx = excluded.idx, hash = excluded.hash",
    )?
    .execute(params![tenant.as_str(), (next - 1) as i64, prev])?;
    Ok(())
}

fn write_task(
    tx: &Transaction<'_>,
    t: &Task,
    expected: Option<u64>,
) -> std::result::Result<(), TxError> {
    let outcome = t.outcome.as_ref().map(json);
    let manual = t.manual.as_ref().map(json);
    let p = params![
        t.tenant.as_str(),
        t.request_id.as_str(),
        t.service,
        t.status().as_str(),
        t.attempt as i64,
        t.version() as i64,
        t.lease_owner,
        t.lease_expires.map(us),
        us(t.next_at),
        us(t.updated_at),
        t.last_error,
        outcome,
        manual,
    ];
    let n = match expected {
        None => tx
            .prepare_cached(
                "INSERT OR IGNORE INTO tasks (tenant, request_id, service, status, attempt, version, lease_owner, lease_us, next_us, updated_us, last_error, outcome, manual)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?
            .execute(p)?,
        Some(v) => tx
            .prepare_cached(
                "UPDATE tasks SET status = ?4, attempt = ?5, version = ?6, lease_owner = ?7, lease_us = ?8,
                   next_us = ?9, updated_us = ?10, last_error = ?11, outcome = ?12, manual = ?13
                 WHERE tenant = ?1 AND request_id = ?2 AND service = ?3 AND version = ?14",
            )?
            .execute(params![
                t.tenant.as_str(),
                t.request_id.as_str(),
                t.service,
                t.status().as_str(),
                t.attempt as i64,
                t.version() as i64,
                t.lease_owner,
                t.lease_expires.map(us),
                us(t.next_at),
                us(t.updated_at),
                t.last_error,
                outcome,
                manual,
                v as i64,
            ])?,
    };
    if n == 0 {
        return Err(TxError::Engine(Error::Conflict(format!(
            "task {} / {}",
            t.request_id, t.service
        ))));
    }
    Ok(())
}

fn write_request(
    tx: &Transaction<'_>,
    r: &Request,
    expected: Option<u64>,
) -> std::result::Result<(), TxError> {
    let doc = json(r);
    // ?1 … ?12, shared by the insert and the conditional update (which adds ?13).
    let merge_set = r.merge_set.as_ref().map(|m| m.as_str());
    let parent = r.parent.as_ref().map(RequestId::as_str);
    let (created, due, legal, version) = (
        us(r.created_at),
        us(r.due_at),
        us(r.legal_deadline),
        r.version() as i64,
    );
    let cols: [&dyn rusqlite::ToSql; 12] = [
        &r.tenant.as_str(),
        &r.id.as_str(),
        &r.ty.as_str(),
        &r.status().as_str(),
        &r.subject.id.as_str(),
        &merge_set,
        &parent,
        &created,
        &due,
        &legal,
        &version,
        &doc,
    ];
    let n = match expected {
        None => tx
            .prepare_cached(
                "INSERT OR IGNORE INTO requests (tenant, id, type, status, subject_id, merge_set, parent_id, created_us, due_us, legal_us, version, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?
            .execute(&cols[..])?,
        Some(v) => tx
            .prepare_cached(
                "UPDATE requests SET type = ?3, status = ?4, subject_id = ?5, merge_set = ?6, parent_id = ?7,
                   created_us = ?8, due_us = ?9, legal_us = ?10, version = ?11, doc = ?12
                 WHERE tenant = ?1 AND id = ?2 AND version = ?13",
            )?
            .execute(rusqlite::params_from_iter(
                cols.iter().copied().chain([&(v as i64) as &dyn rusqlite::ToSql]),
            ))?,
    };
    if n == 0 {
        return Err(TxError::Engine(Error::Conflict(format!(
            "request {}",
            r.id
        ))));
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteEngineStore {
    async fn commit(&self, change: Change) -> Result<()> {
        let tenant = change.tenant.clone();
        let scrub = change.scrub;
        self.write(move |tx| {
            if let Some(g) = &change.guard {
                // One indexed lookup per subject and one for the merge set; the oldest
                // request in flight wins.
                let mut found: Option<(String, String, String, i64)> = None;
                let mut consider = |hit: Option<(String, String, String, i64)>| {
                    if let Some(h) = hit
                        && found.as_ref().is_none_or(|f| h.3 < f.3)
                    {
                        found = Some(h);
                    }
                };
                let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?));
                for subject in &g.subjects {
                    consider(
                        tx.prepare_cached(&DUPLICATE_BY_SUBJECT_SQL)?
                            .query_row(params![tenant.as_str(), subject.as_str(), g.ty.as_str()], row)
                            .optional()?,
                    );
                }
                if let Some(m) = &g.merge_set {
                    consider(
                        tx.prepare_cached(&DUPLICATE_BY_MERGE_SET_SQL)?
                            .query_row(params![tenant.as_str(), m.as_str(), g.ty.as_str()], row)
                            .optional()?,
                    );
                }
                let found = found.map(|(id, status, subject, _)| (id, status, subject));
                if let Some((id, status, subject)) = found {
                    // Report the family's parent when the hit is a related request.
                    let parent: Option<String> = tx
                        .query_row(
                            "SELECT parent_id FROM requests WHERE tenant = ?1 AND id = ?2",
                            params![tenant.as_str(), id],
                            |r| r.get(0),
                        )
                        .optional()?
                        .flatten();
                    return Err(TxError::Engine(Error::Duplicate {
                        existing: parent.unwrap_or(id),
                        status,
                        ty: g.ty.as_str().into(),
                        subject: match &g.merge_set {
                            Some(m) => format!("merge set {m} (member {subject})"),
                            None => subject,
                        },
                    }));
                }
            }
            for w in &change.requests {
                if w.request.tenant != tenant {
                    return Err(TxError::Engine(Error::Invalid("a change mixes tenants".into())));
                }
                write_request(tx, &w.request, w.expected_version)?;
            }
            for w in &change.tasks {
                if w.task.tenant != tenant {
                    return Err(TxError::Engine(Error::Invalid("a change mixes tenants".into())));
                }
                write_task(tx, &w.task, w.expected_version)?;
            }
            for (id, doc) in &change.packages {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO packages (tenant, request_id, doc, created_us) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![tenant.as_str(), id.as_str(), doc, us(change.at)])?;
            }
            for id in &change.remove_packages {
                tx.prepare_cached("DELETE FROM packages WHERE tenant = ?1 AND request_id = ?2")?
                    .execute(params![tenant.as_str(), id.as_str()])?;
            }
            for e in &change.erasures {
                // Crypto-shredding: without the key, the subject's sealed audit fields
                // can no longer be opened.
                tx.prepare_cached("DELETE FROM subject_keys WHERE tenant = ?1 AND subject_ref = ?2")?
                    .execute(params![tenant.as_str(), e.subject_ref])?;
                let mut ins = tx.prepare_cached(
                    "INSERT INTO suppression (tenant, hash, request_id, erased_us) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant, hash) DO UPDATE SET request_id = excluded.request_id, erased_us = excluded.erased_us",
                )?;
                for h in &e.suppress {
                    ins.execute(params![tenant.as_str(), h, e.request_id.as_str(), us(change.at)])?;
                }
            }
            append_audit(tx, &tenant, change.at, change.audit)?;
            Ok(())
        })?;
        if scrub {
            self.scrub();
        }
        Ok(())
    }

    async fn tenant_secret(&self, tenant: &TenantId) -> Result<dsr_engine::privacy::Key> {
        self.db.tenant_secret(tenant).map_err(store_err)
    }

    async fn subject_key(
        &self,
        tenant: &TenantId,
        subject_ref: &str,
        create: bool,
    ) -> Result<Option<dsr_engine::privacy::Key>> {
        // Most calls find the key: a read, no write transaction.
        let found: Option<Vec<u8>> = self.read(|c| {
            c.prepare_cached("SELECT key FROM subject_keys WHERE tenant = ?1 AND subject_ref = ?2")?
                .query_row(params![tenant.as_str(), subject_ref], |r| r.get(0))
                .optional()
        })?;
        if found.is_some() || !create {
            return Ok(found.and_then(|k| k.try_into().ok()));
        }
        let fresh = Some(dsr_engine::privacy::random_key()?);
        let tenant = tenant.clone();
        let sref = subject_ref.to_owned();
        let key: Option<Vec<u8>> = self.write(move |tx| {
            if let Some(k) = fresh {
                tx.prepare_cached(
                    "INSERT INTO subject_keys (tenant, subject_ref, key) VALUES (?1, ?2, ?3)
                     ON CONFLICT (tenant, subject_ref) DO NOTHING",
                )?
                .execute(params![tenant.as_str(), sref, &k[..]])?;
            }
            Ok(tx
                .prepare_cached(
                    "SELECT key FROM subject_keys WHERE tenant = ?1 AND subject_ref = ?2",
                )?
                .query_row(params![tenant.as_str(), sref], |r| r.get(0))
                .optional()?)
        })?;
        Ok(key.and_then(|k| k.try_into().ok()))
    }

    async fn suppressed(&self, tenant: &TenantId, hashes: &[String]) -> Result<Vec<Suppressed>> {
        Ok(self
            .db
            .suppression_hits(tenant, hashes)
            .map_err(store_err)?
            .into_iter()
            .map(|(hash, at, id)| Suppressed {
                hash,
                erased_at: from_us(at),
                request_id: RequestId::from_stored(id),
            })
            .collect())
    }

    async fn default_region(&self, tenant: &TenantId) -> Result<Option<String>> {
        self.db.default_region(tenant).map_err(store_err)
    }

    async fn claim(&self, spec: ClaimSpec<'_>) -> Result<Vec<Task>> {
        let now = us(spec.now);
        let services = json(&spec.services);
        let limit = spec.limit as i64;
        let rows = self.write(move |tx| {
            // One indexed range per status (tasks_claim: tenant, status, next_us), each
            // already in order and limited, merged here: the cost of a claim does not grow
            // with the number of tasks waiting.
            let mut found: Vec<TaskRow> = Vec::new();
            let ranges = ClaimSpec::DUE
                .iter()
                .map(|s| (CLAIM_DUE_SQL, *s))
                .chain([(CLAIM_EXPIRED_SQL, ClaimSpec::EXPIRED)]);
            for (sql, status) in ranges {
                let mut st = tx.prepare_cached(sql)?;
                let rows = st.query_map(
                    params![spec.tenant.as_str(), status.as_str(), now, services, limit],
                    task_from_row,
                )?;
                for r in rows {
                    found.push(r?);
                }
            }
            found.sort_by_key(|(t, _, _)| t.next_at);
            found.truncate(spec.limit);
            let mut out = Vec::with_capacity(found.len());
            let mut events = Vec::with_capacity(found.len());
            for (t, outcome, manual) in found {
                let Some(c) = spec.claim(&t) else {
                    continue;
                };
                let t = c.task;
                let n = tx
                    .prepare_cached(
                        "UPDATE tasks SET status = ?4, attempt = ?5, version = ?6, lease_owner = ?7, lease_us = ?8, updated_us = ?9
                         WHERE tenant = ?1 AND request_id = ?2 AND service = ?3 AND version = ?10",
                    )?
                    .execute(params![
                        t.tenant.as_str(),
                        t.request_id.as_str(),
                        t.service,
                        t.status().as_str(),
                        t.attempt as i64,
                        t.version() as i64,
                        t.lease_owner,
                        t.lease_expires.map(us),
                        us(t.updated_at),
                        c.expected_version as i64
                    ])?;
                if n == 1 {
                    events.push(c.event);
                    out.push((t, outcome, manual));
                }
            }
            append_audit(tx, spec.tenant, spec.now, events)?;
            Ok(out)
        })?;
        rows.into_iter().map(decode_task).collect()
    }

    async fn request(&self, tenant: &TenantId, id: &RequestId) -> Result<Option<Request>> {
        let doc: Option<String> = self.read(|c| {
            c.prepare_cached("SELECT doc FROM requests WHERE tenant = ?1 AND id = ?2")?
                .query_row(params![tenant.as_str(), id.as_str()], |r| r.get(0))
                .optional()
        })?;
        doc.as_deref().map(decode_request).transpose()
    }

    async fn requests(&self, tenant: &TenantId, filter: &RequestFilter) -> Result<Vec<Request>> {
        let (ok, bad) = self.requests_and_unreadable(tenant, filter)?;
        match bad.into_iter().next() {
            Some(u) => Err(Error::Invalid(format!(
                "stored request {} is unreadable: {}",
                u.id, u.reason
            ))),
            None => Ok(ok),
        }
    }

    async fn tasks(&self, tenant: &TenantId, id: &RequestId) -> Result<Vec<Task>> {
        let rows = self.read(|c| {
            c.prepare_cached(
                "SELECT * FROM tasks WHERE tenant = ?1 AND request_id = ?2 ORDER BY service",
            )?
            .query_map(params![tenant.as_str(), id.as_str()], task_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter().map(decode_task).collect()
    }

    async fn tasks_with_status(&self, tenant: &TenantId, status: TaskStatus) -> Result<Vec<Task>> {
        let rows = self.read(|c| {
            c.prepare_cached(
                "SELECT * FROM tasks INDEXED BY tasks_claim WHERE tenant = ?1 AND status = ?2
                 ORDER BY request_id, service",
            )?
            .query_map(params![tenant.as_str(), status.as_str()], task_from_row)?
            .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter().map(decode_task).collect()
    }

    async fn open_tasks(&self, tenant: &TenantId) -> Result<(u64, Option<DateTime<Utc>>)> {
        self.read(|c| {
            c.query_row(
                &format!(
                    "SELECT count(*), min(CASE WHEN status = '{}' THEN lease_us ELSE next_us END)
                     FROM tasks WHERE tenant = ?1 AND status IN {}",
                    ClaimSpec::EXPIRED.as_str(),
                    *OPEN_TASKS
                ),
                params![tenant.as_str()],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)? as u64,
                        r.get::<_, Option<i64>>(1)?.map(from_us),
                    ))
                },
            )
        })
    }

    async fn audit(&self, tenant: &TenantId) -> Result<(Vec<AuditEntry>, Option<(u64, String)>)> {
        self.read(|c| {
            let head = c
                .query_row(
                    "SELECT idx, hash FROM audit_head WHERE tenant = ?1",
                    params![tenant.as_str()],
                    |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?)),
                )
                .optional()?;
            let mut st = c.prepare(
                "SELECT idx, at, actor, action, request_id, service, subject_id, detail, prev_hash, hash
                 FROM audit_log WHERE tenant = ?1 ORDER BY seq",
            )?;
            let entries = st
                .query_map(params![tenant.as_str()], |r| {
                    let detail: String = r.get(7)?;
                    Ok(AuditEntry {
                        tenant: tenant.clone(),
                        index: r.get::<_, i64>(0)? as u64,
                        at: r.get(1)?,
                        event: AuditEvent {
                            actor: r.get(2)?,
                            action: r.get(3)?,
                            request_id: r.get(4)?,
                            service: r.get(5)?,
                            subject_id: r.get(6)?,
                            // An unparseable detail (tampering) still verifies as altered.
                            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
                        },
                        prev_hash: r.get(8)?,
                        hash: r.get(9)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((entries, head))
        })
    }

    async fn package(&self, tenant: &TenantId, id: &RequestId) -> Result<Option<String>> {
        self.read(|c| {
            c.query_row(
                "SELECT doc FROM packages WHERE tenant = ?1 AND request_id = ?2",
                params![tenant.as_str(), id.as_str()],
                |r| r.get(0),
            )
            .optional()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for `sql` (one line per step).
    fn plan(store: &SqliteStore, sql: &str, n_params: usize) -> String {
        store
            .with_conn(|c| {
                let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                for i in 1..=n_params {
                    st.raw_bind_parameter(i, "x")?;
                }
                let mut rows = st.raw_query();
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(r.get::<_, String>(3)?);
                }
                Ok(out.join("\n"))
            })
            .unwrap()
    }

    /// The hot statements use their indexes: a claim or a duplicate check costs the same
    /// with ten requests or a million (no scan of the tenant's rows, no sort).
    #[test]
    fn hot_statements_use_their_indexes() {
        let store = SqliteStore::open_in_memory().unwrap();
        for (sql, n, index) in [
            (CLAIM_DUE_SQL, 5, "tasks_claim"),
            (CLAIM_EXPIRED_SQL, 5, "tasks_claim"),
            (DUPLICATE_BY_SUBJECT_SQL.as_str(), 3, "requests_by_subject"),
            (
                DUPLICATE_BY_MERGE_SET_SQL.as_str(),
                3,
                "requests_by_merge_set",
            ),
        ] {
            let p = plan(&store, sql, n);
            assert!(p.contains(&format!("INDEX {index}")), "{sql}\n{p}");
            assert!(
                !p.contains("SCAN tasks") && !p.contains("SCAN requests"),
                "{sql}\n{p}"
            );
            // Due tasks come in index order; the others sort a handful of rows (the
            // running tasks, one subject's requests).
            if sql == CLAIM_DUE_SQL {
                assert!(!p.contains("TEMP B-TREE"), "{sql}\n{p}");
            }
        }
    }
}
