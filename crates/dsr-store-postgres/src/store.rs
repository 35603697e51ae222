//! `impl Store for PgStore`: persistence and atomicity only; every decision comes from
//! the engine.

use crate::{Error, PgStore, engine_err};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use dsr_engine::audit::{self, AuditEntry, AuditEvent};
use dsr_engine::privacy::Key;
use dsr_engine::store::{Change, ClaimSpec, Store, Suppressed};
use dsr_engine::{Outcome, Request, RequestFilter, RequestId, RequestStatus, Task, TaskStatus};
use dsr_model::TenantId;
use futures_util::future::try_join_all;
use std::collections::HashMap;
use tokio_postgres::types::ToSql;

type EResult<T> = dsr_engine::Result<T>;

pub(crate) fn us(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_us(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(v).unwrap_or_default()
}

fn pg(e: tokio_postgres::Error) -> dsr_engine::Error {
    engine_err(Error::Postgres(e))
}

fn finished() -> Vec<&'static str> {
    RequestStatus::FINISHED.iter().map(|s| s.as_str()).collect()
}

/// A 64-bit advisory lock key for `parts` (FNV-1a: stable across nodes and releases).
fn lock_key(parts: &[&str]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h as i64
}

/// Where this process's claims start scanning, per (tenant, services).
#[derive(Debug, Default)]
pub(crate) struct ClaimMarks {
    marks: HashMap<(String, Vec<String>), Mark>,
}

#[derive(Debug, Clone, Copy)]
struct Mark {
    low_water_us: i64,
    /// The claim's `now` (the engine's clock) at the last full scan.
    last_full_us: i64,
}

fn task_from_row(r: &tokio_postgres::Row) -> EResult<Task> {
    let bad = |what: String| dsr_engine::Error::Invalid(format!("stored task: {what}"));
    let tenant: String = r.get("tenant");
    let status: String = r.get("status");
    let outcome: Option<String> = r.get("outcome");
    let manual: Option<String> = r.get("manual");
    Ok(dsr_engine::TaskRow {
        request_id: RequestId::from_stored(r.get("request_id")),
        tenant: TenantId::new(tenant).map_err(|e| bad(e.to_string()))?,
        service: r.get("service"),
        status: status.parse::<TaskStatus>()?,
        attempt: r.get::<_, i32>("attempt") as u32,
        version: r.get::<_, i64>("version") as u64,
        lease_owner: r.get("lease_owner"),
        lease_expires: r.get::<_, Option<i64>>("lease_us").map(from_us),
        next_at: from_us(r.get("next_us")),
        outcome: outcome
            .map(|o| serde_json::from_str::<Outcome>(&o))
            .transpose()
            .map_err(|e| bad(format!("unreadable outcome: {e}")))?,
        last_error: r.get("last_error"),
        updated_at: from_us(r.get("updated_us")),
        manual: manual
            .map(|m| serde_json::from_str(&m))
            .transpose()
            .map_err(|e| bad(format!("unreadable manual assignment: {e}")))?,
    }
    .into())
}

fn decode_request(doc: &str) -> EResult<Request> {
    serde_json::from_str(doc)
        .map_err(|e| dsr_engine::Error::Invalid(format!("stored request is unreadable: {e}")))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Writes `events` for the tenant's chain: into `audit_pending`, in the writer's
/// transaction (they land or not with the change they record), without the chain. The
/// chain is made by [`seal_pending`], outside the writers' transactions, so concurrent
/// writers of one tenant do not queue on its tail.
async fn append_audit(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    at: DateTime<Utc>,
    events: Vec<AuditEvent>,
) -> Result<(), tokio_postgres::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let at = audit::format_time(at);
    let mut actor = Vec::with_capacity(events.len());
    let mut action = Vec::with_capacity(events.len());
    let mut request_id = Vec::with_capacity(events.len());
    let mut service = Vec::with_capacity(events.len());
    let mut subject_id = Vec::with_capacity(events.len());
    let mut detail = Vec::with_capacity(events.len());
    for e in events {
        detail.push(audit::canonical_json(&e.detail));
        actor.push(e.actor);
        action.push(e.action);
        request_id.push(e.request_id);
        service.push(e.service);
        subject_id.push(e.subject_id);
    }
    let ins = tx
        .prepare_cached(
            "INSERT INTO audit_pending (tenant, at, actor, action, request_id, service, subject_id, detail)
             SELECT $1, $2, * FROM UNNEST($3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[])",
        )
        .await?;
    tx.execute(
        &ins,
        &[
            &tenant.as_str(),
            &at,
            &actor,
            &action,
            &request_id,
            &service,
            &subject_id,
            &detail,
        ],
    )
    .await?;
    Ok(())
}

/// Most pending entries chained in one sealing transaction.
const SEAL_BATCH: i64 = 5_000;

/// Chains the tenant's committed pending entries into `audit_log`, in the order of
/// their sequence, under the tenant's advisory lock (one sealer at a time per tenant,
/// on every node). `wait`: block for the lock (a reader that must see every committed
/// entry); otherwise give up when another sealer holds it (that one, or the next
/// write or read, chains what is left). Returns how many entries were chained.
pub(crate) async fn seal_pending(
    client: &mut deadpool_postgres::Object,
    tenant: &TenantId,
    wait: bool,
) -> Result<u64, tokio_postgres::Error> {
    let key = lock_key(&["audit", tenant.as_str()]);
    let mut total = 0u64;
    loop {
        let tx = client.transaction().await?;
        let got: bool = if wait {
            tx.execute(
                &tx.prepare_cached("SELECT pg_advisory_xact_lock($1)")
                    .await?,
                &[&key],
            )
            .await?;
            true
        } else {
            tx.query_one(
                &tx.prepare_cached("SELECT pg_try_advisory_xact_lock($1)")
                    .await?,
                &[&key],
            )
            .await?
            .get(0)
        };
        if !got {
            tx.rollback().await?;
            return Ok(total);
        }
        let tail = tx
            .query_opt(
                &tx.prepare_cached(
                    "SELECT idx, hash FROM audit_log WHERE tenant = $1 ORDER BY idx DESC LIMIT 1",
                )
                .await?,
                &[&tenant.as_str()],
            )
            .await?;
        let rows = tx
            .query(
                &tx.prepare_cached(
                    "SELECT seq, at, actor, action, request_id, service, subject_id, detail
                     FROM audit_pending WHERE tenant = $1 ORDER BY seq LIMIT $2",
                )
                .await?,
                &[&tenant.as_str(), &SEAL_BATCH],
            )
            .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(total);
        }
        let (mut next, mut prev) = match tail {
            Some(r) => (r.get::<_, i64>(0) as u64 + 1, r.get::<_, String>(1)),
            None => (0, audit::GENESIS.to_owned()),
        };
        let mut c = AuditColumns::default();
        let mut seqs = Vec::with_capacity(rows.len());
        for r in &rows {
            seqs.push(r.get::<_, i64>(0));
            let detail: String = r.get(7);
            let event = AuditEvent {
                actor: r.get(2),
                action: r.get(3),
                request_id: r.get(4),
                service: r.get(5),
                subject_id: r.get(6),
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
            };
            let entry = audit::seal_at(tenant, next, r.get(1), event, &prev);
            c.idx.push(entry.index as i64);
            c.at.push(entry.at);
            c.actor.push(entry.event.actor);
            c.action.push(entry.event.action);
            c.request_id.push(entry.event.request_id);
            c.service.push(entry.event.service);
            c.subject_id.push(entry.event.subject_id);
            c.detail.push(audit::canonical_json(&entry.event.detail));
            c.prev_hash.push(entry.prev_hash);
            prev = entry.hash.clone();
            c.hash.push(entry.hash);
            next += 1;
        }
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO audit_log (tenant, idx, at, actor, action, request_id, service, subject_id, detail, prev_hash, hash)
                 SELECT $1, * FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[])",
            )
            .await?,
            &[
                &tenant.as_str(),
                &c.idx,
                &c.at,
                &c.actor,
                &c.action,
                &c.request_id,
                &c.service,
                &c.subject_id,
                &c.detail,
                &c.prev_hash,
                &c.hash,
            ],
        )
        .await?;
        tx.execute(
            &tx.prepare_cached("DELETE FROM audit_pending WHERE seq = ANY($1)")
                .await?,
            &[&seqs],
        )
        .await?;
        tx.commit().await?;
        total += seqs.len() as u64;
        if (seqs.len() as i64) < SEAL_BATCH {
            return Ok(total);
        }
    }
}

/// The columns of a batch of audit entries, inserted by one statement.
#[derive(Default)]
struct AuditColumns {
    idx: Vec<i64>,
    at: Vec<String>,
    actor: Vec<String>,
    action: Vec<String>,
    request_id: Vec<Option<String>>,
    service: Vec<Option<String>>,
    subject_id: Vec<Option<String>>,
    detail: Vec<String>,
    prev_hash: Vec<String>,
    hash: Vec<String>,
}

enum Tx {
    Pg(tokio_postgres::Error),
    Engine(dsr_engine::Error),
}

impl From<tokio_postgres::Error> for Tx {
    fn from(e: tokio_postgres::Error) -> Self {
        Tx::Pg(e)
    }
}

impl From<Tx> for dsr_engine::Error {
    fn from(e: Tx) -> Self {
        match e {
            Tx::Pg(e) => pg(e),
            Tx::Engine(e) => e,
        }
    }
}

async fn guard_check(
    tx: &Transaction<'_>,
    tenant: &TenantId,
    g: &dsr_engine::store::DuplicateGuard,
) -> Result<(), Tx> {
    // Lock every key the guard covers, in a fixed order (no deadlock between two
    // creators), then look: whoever holds a key has committed or rolled back before
    // the look, so the check and the insert are one step for every other creator.
    let mut keys: Vec<i64> = g
        .subjects
        .iter()
        .map(|s| lock_key(&["dup", tenant.as_str(), g.ty.as_str(), "s", s.as_str()]))
        .chain(
            g.merge_set
                .iter()
                .map(|m| lock_key(&["dup", tenant.as_str(), g.ty.as_str(), "m", m.as_str()])),
        )
        .collect();
    keys.sort_unstable();
    keys.dedup();
    for k in keys {
        tx.execute(
            &tx.prepare_cached("SELECT pg_advisory_xact_lock($1)")
                .await?,
            &[&k],
        )
        .await?;
    }
    let subjects: Vec<&str> = g.subjects.iter().map(|s| s.as_str()).collect();
    let merge_set = g.merge_set.as_ref().map(|m| m.as_str());
    // One index lookup per subject (LATERAL, kept apart by OFFSET 0 so the planner
    // cannot flatten it back into a join), not `subject_id = ANY($4)`: on a table
    // whose statistics are young (a new database, before autovacuum's first ANALYZE)
    // the planner kept the array as a filter and scanned every request of the tenant
    // (4 ms per creation after 6,000 requests, most of PostgreSQL's time in
    // dsr-store-bench). The few open requests found are ordered here.
    let by_subject = "SELECT r.id, r.status, r.subject_id, r.parent_id, r.created_us
                   FROM unnest($4::text[]) AS s(id),
                   LATERAL (SELECT id, status, subject_id, parent_id, created_us FROM requests
                            WHERE tenant = $1 AND subject_id = s.id AND type = $2
                              AND NOT (status = ANY($3)) OFFSET 0) r";
    let rows = match merge_set {
        None => {
            tx.query(
                &tx.prepare_cached(by_subject).await?,
                &[&tenant.as_str(), &g.ty.as_str(), &finished(), &subjects],
            )
            .await?
        }
        Some(m) => {
            tx.query(
                &tx.prepare_cached(&format!(
                    "{by_subject}
                 UNION ALL
                 SELECT id, status, subject_id, parent_id, created_us FROM requests
                   WHERE tenant = $1 AND merge_set = $5 AND merge_set IS NOT NULL AND type = $2
                     AND NOT (status = ANY($3))"
                ))
                .await?,
                &[&tenant.as_str(), &g.ty.as_str(), &finished(), &subjects, &m],
            )
            .await?
        }
    };
    let hit = rows.into_iter().min_by(|a, b| {
        let key = |r: &tokio_postgres::Row| (r.get::<_, i64>(4), r.get::<_, String>(0));
        key(a).cmp(&key(b))
    });
    if let Some(r) = hit {
        let id: String = r.get(0);
        let parent: Option<String> = r.get(3);
        let subject: String = r.get(2);
        return Err(Tx::Engine(dsr_engine::Error::Duplicate {
            existing: parent.unwrap_or(id),
            status: r.get(1),
            ty: g.ty.as_str().into(),
            subject: match &g.merge_set {
                Some(m) => format!("merge set {m} (member {subject})"),
                None => subject,
            },
        }));
    }
    Ok(())
}

async fn write_request(tx: &Transaction<'_>, r: &Request, expected: Option<u64>) -> Result<(), Tx> {
    let doc = json(r);
    let merge_set = r.merge_set.as_ref().map(|m| m.as_str());
    let parent = r.parent.as_ref().map(RequestId::as_str);
    let (created, due, legal, version) = (
        us(r.created_at),
        us(r.due_at),
        us(r.legal_deadline),
        r.version() as i64,
    );
    let (tenant, id, ty, status, subject) = (
        r.tenant.as_str(),
        r.id.as_str(),
        r.ty.as_str(),
        r.status().as_str(),
        r.subject.id.as_str(),
    );
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &tenant, &id, &ty, &status, &subject, &merge_set, &parent, &created, &due, &legal,
        &version, &doc,
    ];
    let expected_v = expected.map(|v| v as i64);
    let n = match expected_v {
        None => {
            tx.execute(&tx.prepare_cached("INSERT INTO requests (tenant, id, type, status, subject_id, merge_set, parent_id, created_us, due_us, legal_us, version, doc)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING").await?,
                &params,
            )
            .await?
        }
        Some(ref v) => {
            params.push(v);
            tx.execute(&tx.prepare_cached("UPDATE requests SET type = $3, status = $4, subject_id = $5, merge_set = $6, parent_id = $7,
                   created_us = $8, due_us = $9, legal_us = $10, version = $11, doc = $12
                 WHERE tenant = $1 AND id = $2 AND version = $13").await?,
                &params,
            )
            .await?
        }
    };
    if n == 0 {
        return Err(Tx::Engine(dsr_engine::Error::Conflict(format!(
            "request {}",
            r.id
        ))));
    }
    Ok(())
}

async fn write_task(tx: &Transaction<'_>, t: &Task, expected: Option<u64>) -> Result<(), Tx> {
    let outcome = t.outcome.as_ref().map(json);
    let manual = t.manual.as_ref().map(json);
    let (tenant, rid, status) = (
        t.tenant.as_str(),
        t.request_id.as_str(),
        t.status().as_str(),
    );
    let (attempt, version) = (t.attempt as i32, t.version() as i64);
    let (lease, next, updated) = (t.lease_expires.map(us), us(t.next_at), us(t.updated_at));
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![
        &tenant,
        &rid,
        &t.service,
        &status,
        &attempt,
        &version,
        &t.lease_owner,
        &lease,
        &next,
        &updated,
        &t.last_error,
        &outcome,
        &manual,
    ];
    let expected_v = expected.map(|v| v as i64);
    let n = match expected_v {
        None => {
            tx.execute(&tx.prepare_cached("INSERT INTO tasks (tenant, request_id, service, status, attempt, version, lease_owner, lease_us, next_us, updated_us, last_error, outcome, manual)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING").await?,
                &params,
            )
            .await?
        }
        Some(ref v) => {
            params.push(v);
            tx.execute(&tx.prepare_cached("UPDATE tasks SET status = $4, attempt = $5, version = $6, lease_owner = $7, lease_us = $8,
                   next_us = $9, updated_us = $10, last_error = $11, outcome = $12, manual = $13
                 WHERE tenant = $1 AND request_id = $2 AND service = $3 AND version = $14").await?,
                &params,
            )
            .await?
        }
    };
    if n == 0 {
        return Err(Tx::Engine(dsr_engine::Error::Conflict(format!(
            "task {} / {}",
            t.request_id, t.service
        ))));
    }
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    async fn commit(&self, change: Change) -> EResult<()> {
        let tenant = change.tenant.clone();
        if change.requests.iter().any(|w| w.request.tenant != tenant)
            || change.tasks.iter().any(|w| w.task.tenant != tenant)
        {
            return Err(dsr_engine::Error::Invalid("a change mixes tenants".into()));
        }
        let mut client = self.client().await.map_err(engine_err)?;
        let tx = client.transaction().await.map_err(pg)?;
        let result: Result<(), Tx> = async {
            if let Some(g) = &change.guard {
                guard_check(&tx, &tenant, g).await?;
            }
            // Pipelined (see claim): the rows are independent, each write conditional.
            try_join_all(
                change
                    .requests
                    .iter()
                    .map(|w| write_request(&tx, &w.request, w.expected_version)),
            )
            .await?;
            try_join_all(
                change
                    .tasks
                    .iter()
                    .map(|w| write_task(&tx, &w.task, w.expected_version)),
            )
            .await?;
            let at = us(change.at);
            for (id, doc) in &change.packages {
                tx.execute(&tx.prepare_cached("INSERT INTO packages (tenant, request_id, doc, created_us) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING").await?,
                    &[&tenant.as_str(), &id.as_str(), doc, &at],
                )
                .await?;
            }
            for id in &change.remove_packages {
                tx.execute(&tx.prepare_cached("DELETE FROM packages WHERE tenant = $1 AND request_id = $2").await?,
                    &[&tenant.as_str(), &id.as_str()],
                )
                .await?;
            }
            for e in &change.erasures {
                tx.execute(&tx.prepare_cached("DELETE FROM subject_keys WHERE tenant = $1 AND subject_ref = $2").await?,
                    &[&tenant.as_str(), &e.subject_ref],
                )
                .await?;
                for h in &e.suppress {
                    tx.execute(&tx.prepare_cached("INSERT INTO suppression (tenant, hash, request_id, erased_us) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (tenant, hash) DO UPDATE SET request_id = excluded.request_id, erased_us = excluded.erased_us").await?,
                        &[&tenant.as_str(), h, &e.request_id.as_str(), &at],
                    )
                    .await?;
                }
            }
            append_audit(&tx, &tenant, change.at, change.audit.clone()).await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                tx.commit().await.map_err(pg)?;
                if !change.audit.is_empty() {
                    // Chained now unless another sealer is at it (then it, or the next
                    // write or read, chains these too).
                    seal_pending(&mut client, &tenant, false)
                        .await
                        .map_err(pg)?;
                }
                Ok(())
            }
            Err(e) => {
                let _ = tx.rollback().await;
                Err(e.into())
            }
        }
    }

    async fn claim(&self, spec: ClaimSpec<'_>) -> EResult<Vec<Task>> {
        let now = us(spec.now);
        let key = (spec.tenant.as_str().to_owned(), spec.services.to_vec());
        let mark = {
            let marks = self.claims.lock().unwrap_or_else(|p| p.into_inner());
            marks.marks.get(&key).copied()
        };
        let every = crate::FULL_SCAN_EVERY.as_micros() as i64;
        let full = mark
            .is_none_or(|m| now.saturating_sub(m.last_full_us) >= every || now < m.last_full_us);
        let from_us = if full {
            i64::MIN
        } else {
            mark.map_or(i64::MIN, |m| m.low_water_us)
        };
        let due: Vec<&str> = ClaimSpec::DUE.iter().map(|s| s.as_str()).collect();
        let mut client = self.client().await.map_err(engine_err)?;
        let tx = client.transaction().await.map_err(pg)?;
        let result: Result<(Vec<Task>, Option<i64>), Tx> = async {
            let mut rows = tx
                .query(
                    &tx.prepare_cached(
                        "SELECT * FROM tasks
                     WHERE tenant = $1 AND status = ANY($2) AND next_us <= $3 AND next_us >= $4
                       AND service = ANY($5)
                     ORDER BY next_us LIMIT $6 FOR UPDATE SKIP LOCKED",
                    )
                    .await?,
                    &[
                        &spec.tenant.as_str(),
                        &due,
                        &now,
                        &from_us,
                        &spec.services,
                        &(spec.limit as i64),
                    ],
                )
                .await?;
            if full && rows.len() < spec.limit {
                rows.extend(
                    tx.query(
                        &tx.prepare_cached(
                            "SELECT * FROM tasks
                         WHERE tenant = $1 AND status = $2 AND lease_us <= $3 AND service = ANY($4)
                         ORDER BY lease_us LIMIT $5 FOR UPDATE SKIP LOCKED",
                        )
                        .await?,
                        &[
                            &spec.tenant.as_str(),
                            &ClaimSpec::EXPIRED.as_str(),
                            &now,
                            &spec.services,
                            &((spec.limit - rows.len()) as i64),
                        ],
                    )
                    .await?,
                );
            }
            let mut newest: Option<i64> = None;
            let mut claimed = Vec::with_capacity(rows.len());
            for r in &rows {
                let t = task_from_row(r).map_err(Tx::Engine)?;
                if ClaimSpec::DUE.contains(&t.status()) {
                    newest = Some(newest.map_or(us(t.next_at), |n: i64| n.max(us(t.next_at))));
                }
                if let Some(c) = spec.claim(&t) {
                    claimed.push(c);
                }
            }
            // Pipelined: every update is sent before the first answer is awaited (one
            // round trip for the batch instead of one per task, while the rows are locked).
            try_join_all(
                claimed
                    .iter()
                    .map(|c| write_task(&tx, &c.task, Some(c.expected_version))),
            )
            .await?;
            let mut out = Vec::with_capacity(claimed.len());
            let mut events = Vec::with_capacity(claimed.len());
            for c in claimed {
                events.push(c.event);
                out.push(c.task);
            }
            append_audit(&tx, spec.tenant, spec.now, events).await?;
            Ok((out, newest))
        }
        .await;
        let (out, newest) = match result {
            Ok(v) => {
                tx.commit().await.map_err(pg)?;
                if !v.0.is_empty() {
                    seal_pending(&mut client, spec.tenant, false)
                        .await
                        .map_err(pg)?;
                }
                v
            }
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e.into());
            }
        };
        let margin = crate::LOW_WATER_MARGIN.as_micros() as i64;
        let mut marks = self.claims.lock().unwrap_or_else(|p| p.into_inner());
        let m = marks.marks.entry(key).or_insert(Mark {
            low_water_us: i64::MIN,
            last_full_us: now,
        });
        if full {
            m.last_full_us = now;
            m.low_water_us = i64::MIN;
        }
        if let Some(n) = newest {
            m.low_water_us = m.low_water_us.max(n.saturating_sub(margin));
        }
        Ok(out)
    }

    async fn request(&self, tenant: &TenantId, id: &RequestId) -> EResult<Option<Request>> {
        let client = self.client().await.map_err(engine_err)?;
        let row = client
            .query_opt(
                &client
                    .prepare_cached("SELECT doc FROM requests WHERE tenant = $1 AND id = $2")
                    .await
                    .map_err(pg)?,
                &[&tenant.as_str(), &id.as_str()],
            )
            .await
            .map_err(pg)?;
        row.map(|r| decode_request(r.get(0))).transpose()
    }

    async fn requests(&self, tenant: &TenantId, filter: &RequestFilter) -> EResult<Vec<Request>> {
        let client = self.client().await.map_err(engine_err)?;
        let status = filter.status.map(|s| s.as_str());
        let overdue = filter.overdue_at.map(us);
        let subject = filter.subject.as_ref().map(|s| s.as_str());
        let limit = if filter.limit > 0 {
            filter.limit as i64
        } else {
            i64::MAX
        };
        let rows = client.query(&client.prepare_cached("SELECT doc FROM requests WHERE tenant = $1
                   AND ($2::TEXT IS NULL OR status = $2)
                   AND ($3::BIGINT IS NULL OR (NOT (status = ANY($4)) AND (due_us < $3 OR legal_us < $3)))
                   AND ($5::TEXT IS NULL OR subject_id = $5)
                 ORDER BY created_us, id LIMIT $6").await.map_err(pg)?,
                &[&tenant.as_str(), &status, &overdue, &finished(), &subject, &limit],
            )
            .await
            .map_err(pg)?;
        rows.iter().map(|r| decode_request(r.get(0))).collect()
    }

    async fn tasks(&self, tenant: &TenantId, id: &RequestId) -> EResult<Vec<Task>> {
        let client = self.client().await.map_err(engine_err)?;
        let rows = client.query(&client.prepare_cached("SELECT * FROM tasks WHERE tenant = $1 AND request_id = $2 ORDER BY service").await.map_err(pg)?,
                &[&tenant.as_str(), &id.as_str()],
            )
            .await
            .map_err(pg)?;
        rows.iter().map(task_from_row).collect()
    }

    async fn tasks_with_status(&self, tenant: &TenantId, status: TaskStatus) -> EResult<Vec<Task>> {
        let client = self.client().await.map_err(engine_err)?;
        let rows = client
            .query(
                &client
                    .prepare_cached(
                        "SELECT * FROM tasks WHERE tenant = $1 AND status = $2 ORDER BY request_id, service",
                    )
                    .await
                    .map_err(pg)?,
                &[&tenant.as_str(), &status.as_str()],
            )
            .await
            .map_err(pg)?;
        rows.iter().map(task_from_row).collect()
    }

    async fn open_tasks(&self, tenant: &TenantId) -> EResult<(u64, Option<DateTime<Utc>>)> {
        let client = self.client().await.map_err(engine_err)?;
        let open: Vec<&str> = TaskStatus::OPEN.iter().map(|s| s.as_str()).collect();
        let r = client
            .query_one(
                &client
                    .prepare_cached(
                        "SELECT count(*), min(CASE WHEN status = $3 THEN lease_us ELSE next_us END)
                 FROM tasks WHERE tenant = $1 AND status = ANY($2)",
                    )
                    .await
                    .map_err(pg)?,
                &[&tenant.as_str(), &open, &ClaimSpec::EXPIRED.as_str()],
            )
            .await
            .map_err(pg)?;
        Ok((
            r.get::<_, i64>(0) as u64,
            r.get::<_, Option<i64>>(1).map(from_us),
        ))
    }

    async fn audit(&self, tenant: &TenantId) -> EResult<(Vec<AuditEntry>, Option<(u64, String)>)> {
        let mut client = self.client().await.map_err(engine_err)?;
        // Every committed entry is chained before the chain is read.
        seal_pending(&mut client, tenant, true).await.map_err(pg)?;
        let rows = client.query(&client.prepare_cached("SELECT idx, at, actor, action, request_id, service, subject_id, detail, prev_hash, hash
                 FROM audit_log WHERE tenant = $1 ORDER BY idx").await.map_err(pg)?,
                &[&tenant.as_str()],
            )
            .await
            .map_err(pg)?;
        let entries: Vec<AuditEntry> = rows
            .iter()
            .map(|r| {
                let detail: String = r.get(7);
                AuditEntry {
                    tenant: tenant.clone(),
                    index: r.get::<_, i64>(0) as u64,
                    at: r.get(1),
                    event: AuditEvent {
                        actor: r.get(2),
                        action: r.get(3),
                        request_id: r.get(4),
                        service: r.get(5),
                        subject_id: r.get(6),
                        detail: serde_json::from_str(&detail)
                            .unwrap_or(serde_json::Value::String(detail)),
                    },
                    prev_hash: r.get(8),
                    hash: r.get(9),
                }
            })
            .collect();
        let head = entries.last().map(|e| (e.index, e.hash.clone()));
        Ok((entries, head))
    }

    async fn package(&self, tenant: &TenantId, id: &RequestId) -> EResult<Option<String>> {
        let client = self.client().await.map_err(engine_err)?;
        Ok(client
            .query_opt(
                &client
                    .prepare_cached(
                        "SELECT doc FROM packages WHERE tenant = $1 AND request_id = $2",
                    )
                    .await
                    .map_err(pg)?,
                &[&tenant.as_str(), &id.as_str()],
            )
            .await
            .map_err(pg)?
            .map(|r| r.get(0)))
    }

    async fn tenant_secret(&self, tenant: &TenantId) -> EResult<Key> {
        // Created once and never changed: cached for the life of the process (it is
        // asked for on every request creation and every sealed audit entry).
        if let Some(k) = self
            .secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
        {
            return Ok(*k);
        }
        let client = self.client().await.map_err(engine_err)?;
        let found = client
            .query_opt(
                &client
                    .prepare_cached(
                        "SELECT secret FROM tenants WHERE name = $1 AND secret IS NOT NULL",
                    )
                    .await
                    .map_err(pg)?,
                &[&tenant.as_str()],
            )
            .await
            .map_err(pg)?;
        let k: Vec<u8> = match found {
            Some(r) => r.get(0),
            None => {
                let fresh = dsr_engine::privacy::random_key()?;
                let now = us(Utc::now());
                client
                    .query_one(
                        "INSERT INTO tenants (name, created_us, secret) VALUES ($1, $2, $3)
                         ON CONFLICT (name) DO UPDATE SET secret = coalesce(tenants.secret, excluded.secret)
                         RETURNING secret",
                        &[&tenant.as_str(), &now, &&fresh[..]],
                    )
                    .await
                    .map_err(pg)?
                    .get(0)
            }
        };
        let key: Key = k.try_into().map_err(|_| {
            dsr_engine::Error::Invalid("stored tenant secret is not 32 bytes".into())
        })?;
        self.secrets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.clone(), key);
        Ok(key)
    }

    async fn subject_key(
        &self,
        tenant: &TenantId,
        subject_ref: &str,
        create: bool,
    ) -> EResult<Option<Key>> {
        let client = self.client().await.map_err(engine_err)?;
        let found = client
            .query_opt(
                &client
                    .prepare_cached(
                        "SELECT key FROM subject_keys WHERE tenant = $1 AND subject_ref = $2",
                    )
                    .await
                    .map_err(pg)?,
                &[&tenant.as_str(), &subject_ref],
            )
            .await
            .map_err(pg)?;
        let key: Option<Vec<u8>> = match (found, create) {
            (Some(r), _) => Some(r.get(0)),
            (None, false) => None,
            (None, true) => {
                let fresh = dsr_engine::privacy::random_key()?;
                client.execute(&client.prepare_cached("INSERT INTO subject_keys (tenant, subject_ref, key) VALUES ($1, $2, $3)
                         ON CONFLICT DO NOTHING").await.map_err(pg)?,
                        &[&tenant.as_str(), &subject_ref, &&fresh[..]],
                    )
                    .await
                    .map_err(pg)?;
                client.query_opt(&client.prepare_cached("SELECT key FROM subject_keys WHERE tenant = $1 AND subject_ref = $2").await.map_err(pg)?,
                        &[&tenant.as_str(), &subject_ref],
                    )
                    .await
                    .map_err(pg)?
                    .map(|r| r.get(0))
            }
        };
        Ok(key.and_then(|k| k.try_into().ok()))
    }

    async fn suppressed(&self, tenant: &TenantId, hashes: &[String]) -> EResult<Vec<Suppressed>> {
        let client = self.client().await.map_err(engine_err)?;
        let rows = client.query(&client.prepare_cached("SELECT hash, erased_us, request_id FROM suppression WHERE tenant = $1 AND hash = ANY($2)").await.map_err(pg)?,
                &[&tenant.as_str(), &hashes],
            )
            .await
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| Suppressed {
                hash: r.get(0),
                erased_at: from_us(r.get(1)),
                request_id: RequestId::from_stored(r.get(2)),
            })
            .collect())
    }

    async fn default_region(&self, tenant: &TenantId) -> EResult<Option<String>> {
        let client = self.client().await.map_err(engine_err)?;
        Ok(client
            .query_opt(
                &client
                    .prepare_cached("SELECT default_region FROM tenants WHERE name = $1")
                    .await
                    .map_err(pg)?,
                &[&tenant.as_str()],
            )
            .await
            .map_err(pg)?
            .and_then(|r| r.get(0)))
    }
}
