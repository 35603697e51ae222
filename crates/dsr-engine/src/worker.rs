//! Workers: claim tasks with a lease, call the service, record the outcome.
//!
//! A worker holds nothing a crash can lose. A claimed task carries the worker's id and
//! the attempt number; the outcome is recorded by a commit that is conditional on the
//! task's version still being the one the claim produced, with its audit entry in the
//! same transaction. So if the worker dies after calling the service but before the
//! commit, the lease expires, another worker claims the task (attempt + 1) and calls the
//! (idempotent) service again; if the first worker was only slow, its late commit fails
//! and is dropped. Either way the task is recorded done exactly once.

use crate::audit::{AuditAction, AuditEvent};
use crate::config::WorkerSettings;
use crate::engine::Engine;
use crate::service::{ErasureMode, ManualSpec, ServiceCall, ServiceError};
use crate::state::{self, RequestEffect, TaskEffect, TaskEvent};
use crate::store::{Change, ClaimSpec, RequestWrite, TaskWrite};
use crate::types::{Action, ManualTask, Outcome, Request, RequestStatus, Task, TaskStatus};
use crate::{Error, Result};
use dsr_model::RequestType;
use serde_json::json;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How often a long-running worker records the reminders due
/// ([`Engine::remind`](crate::Engine::remind)).
pub const REMIND_EVERY: Duration = Duration::from_secs(60);

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// This worker's id (lease owner); unique per process.
    pub id: String,
    /// Tasks claimed and carried out at once.
    pub concurrency: usize,
    /// Lease length.
    pub lease: Duration,
    /// Attempts before a task is dead.
    pub max_attempts: u32,
    /// First retry delay (doubled per attempt).
    pub backoff: Duration,
    /// Longest retry delay.
    pub backoff_cap: Duration,
    /// Idle polling interval.
    pub poll: Duration,
    /// Longest a service call may take (then: a transient failure).
    pub call_timeout: Duration,
}

impl WorkerConfig {
    /// From `[worker]` settings, with a fresh id.
    pub fn from_settings(s: &WorkerSettings) -> Self {
        WorkerConfig {
            id: format!(
                "worker-{}-{}",
                std::process::id(),
                &uuid::Uuid::now_v7().simple().to_string()[20..]
            ),
            concurrency: s.concurrency,
            lease: Duration::from_secs(s.lease_seconds),
            max_attempts: s.max_attempts,
            backoff: Duration::from_millis(s.backoff_ms),
            backoff_cap: Duration::from_millis(s.backoff_cap_ms),
            poll: Duration::from_millis(s.poll_ms),
            call_timeout: Duration::from_secs(s.call_timeout_seconds),
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self::from_settings(&WorkerSettings::default())
    }
}

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WorkerStats {
    /// Tasks claimed.
    pub claimed: u64,
    /// Tasks done.
    pub done: u64,
    /// Transient failures scheduled for a retry.
    pub retried: u64,
    /// Tasks that gave up.
    pub dead: u64,
    /// Outcomes dropped because the lease was lost meanwhile.
    pub lost: u64,
    /// Requests that finished.
    pub requests_finished: u64,
    /// Tasks handed to a person (manual services): they wait on them.
    #[serde(skip_serializing_if = "is_zero")]
    pub waiting: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl WorkerStats {
    /// Adds another run's counts to these.
    pub fn add(&mut self, o: WorkerStats) {
        self.claimed += o.claimed;
        self.done += o.done;
        self.retried += o.retried;
        self.dead += o.dead;
        self.lost += o.lost;
        self.requests_finished += o.requests_finished;
        self.waiting += o.waiting;
    }
}

/// A worker for one engine (one tenant).
#[derive(Debug, Clone)]
pub struct Worker {
    engine: Arc<Engine>,
    cfg: WorkerConfig,
}

impl Worker {
    /// A worker.
    pub fn new(engine: Arc<Engine>, cfg: WorkerConfig) -> Self {
        Worker { engine, cfg }
    }

    /// The configuration.
    pub fn config(&self) -> &WorkerConfig {
        &self.cfg
    }

    /// Claims one batch, carries it out (the service calls run concurrently) and records
    /// every outcome in one commit. Returns what happened (claimed = 0: nothing was
    /// claimable).
    pub async fn tick(&self) -> Result<WorkerStats> {
        let names = self.engine.services.names();
        let now = self.engine.clock.now();
        let claimed = self
            .engine
            .store
            .claim(ClaimSpec {
                tenant: &self.engine.tenant,
                owner: &self.cfg.id,
                services: &names,
                limit: self.cfg.concurrency,
                now,
                lease: self.cfg.lease,
            })
            .await?;
        let mut stats = WorkerStats {
            claimed: claimed.len() as u64,
            ..WorkerStats::default()
        };
        if claimed.is_empty() {
            return Ok(stats);
        }
        // The requests, read once per batch.
        let ids: Vec<&crate::types::RequestId> = claimed.iter().map(|t| &t.request_id).collect();
        let requests: Vec<Request> = self
            .engine
            .get_many(&ids)
            .await?
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        // The service calls, concurrently. A panicking service is a transient failure of
        // that task, never the end of the worker. A manual service is not called: its
        // task is handed to a person.
        let mut handles = Vec::with_capacity(claimed.len());
        for task in &claimed {
            if let Some(spec) = self
                .engine
                .services
                .get(&task.service)
                .and_then(|s| s.manual())
            {
                let spec = spec.clone();
                handles.push(tokio::spawn(async move { Step::Person(spec) }));
                continue;
            }
            let engine = self.engine.clone();
            let cfg = self.cfg.clone();
            let req = requests
                .iter()
                .find(|r| r.id == task.request_id)
                .cloned()
                .ok_or_else(|| Error::UnknownRequest(task.request_id.to_string()))?;
            let task = task.clone();
            handles.push(tokio::spawn(async move {
                Step::Called(call_service(&engine, &cfg, &req, &task).await)
            }));
        }
        let mut results = Vec::with_capacity(handles.len());
        for (h, task) in handles.into_iter().zip(&claimed) {
            results.push(h.await.unwrap_or_else(|e| {
                Step::Called(Err(ServiceError::transient(format!(
                    "the call to {} panicked: {e}",
                    task.service
                ))))
            }));
        }
        // Every outcome in one commit; if anything moved meanwhile (a lease lost, a
        // cancellation, another worker), each task is recorded on its own instead.
        match record_batch(&self.engine, &self.cfg, &claimed, &results).await {
            Ok(s) => stats.add(s),
            Err(Error::Conflict(_)) => {
                for (task, result) in claimed.iter().zip(results) {
                    stats.add(record(&self.engine, &self.cfg, task, result).await?);
                }
            }
            Err(e) => return Err(e),
        }
        Ok(stats)
    }

    /// Runs until no task is open (every request finished, held or waiting for a
    /// decision), sleeping through retry backoffs.
    pub async fn run_until_idle(&self) -> Result<WorkerStats> {
        self.run(std::future::pending::<()>(), true).await
    }

    /// Runs until `stop` completes (checked between batches), or, with `until_idle`,
    /// until no task is open.
    pub async fn run(
        &self,
        stop: impl Future<Output = ()>,
        until_idle: bool,
    ) -> Result<WorkerStats> {
        let mut total = WorkerStats::default();
        tokio::pin!(stop);
        let every = u64::from(self.engine.retention.purge_every_minutes);
        let mut next_purge = (every > 0 && !until_idle).then(std::time::Instant::now);
        // Reminders of tasks waiting on a person, once a minute (each recorded once).
        let mut next_remind = (!until_idle).then(std::time::Instant::now);
        loop {
            if let Some(at) = next_remind
                && std::time::Instant::now() >= at
            {
                // Like the purge: a failure is tried again next time.
                let _ = self.engine.remind(&format!("worker:{}", self.cfg.id)).await;
                next_remind = Some(at + REMIND_EVERY);
            }
            if let Some(at) = next_purge
                && std::time::Instant::now() >= at
            {
                // Retention on a schedule; a failed purge is tried again next time and
                // never stops the worker.
                let _ = self.engine.purge(false).await;
                next_purge = Some(at + Duration::from_secs(every * 60));
            }
            let s = self.tick().await?;
            total.add(s);
            if s.claimed > 0 {
                if futures_ready(&mut stop).await {
                    return Ok(total);
                }
                continue;
            }
            let (open, next) = self.engine.store.open_tasks(&self.engine.tenant).await?;
            if open == 0 && until_idle {
                return Ok(total);
            }
            let now = self.engine.clock.now();
            let wait = next
                .map(|n| (n - now).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(self.cfg.poll)
                .clamp(Duration::from_millis(1), self.cfg.poll);
            tokio::select! {
                _ = &mut stop => return Ok(total),
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

async fn futures_ready(stop: &mut std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
    tokio::select! {
        biased;
        _ = stop => true,
        _ = std::future::ready(()) => false,
    }
}

/// What came of a claimed task: a service call's result, or a hand-over to a person.
#[derive(Debug)]
enum Step {
    Called(Result<Outcome, ServiceError>),
    Person(ManualSpec),
}

async fn call_service(
    engine: &Engine,
    cfg: &WorkerConfig,
    req: &Request,
    task: &Task,
) -> Result<Outcome, ServiceError> {
    let Some(service) = engine.services.get(&task.service) else {
        return Err(ServiceError::permanent(format!(
            "service {} is not registered in this worker",
            task.service
        )));
    };
    if task.attempt > cfg.max_attempts {
        return Err(ServiceError::permanent(format!(
            "gave up after {} attempts: the worker carrying it out stopped each time (lease expired)",
            task.attempt - 1
        )));
    }
    let call = ServiceCall {
        tenant: req.tenant.clone(),
        request_id: req.id.clone(),
        request_type: req.ty,
        subject: req.subject.clone(),
        attempt: task.attempt,
    };
    let fut = async {
        Ok::<Outcome, ServiceError>(match req.ty {
            RequestType::Export | RequestType::Portability => {
                let data = service.export(&call).await?;
                Outcome {
                    action: Action::Exported,
                    records: data.len() as u64,
                    attachments: data.iter().map(|d| d.attachments.len() as u64).sum(),
                    kept: Vec::new(),
                    data,
                    error: None,
                    blind_spots: Vec::new(),
                }
            }
            RequestType::Update => {
                let n = service.update(&call, &req.replacements).await?;
                Outcome {
                    action: Action::Updated,
                    records: n,
                    attachments: 0,
                    kept: Vec::new(),
                    data: Vec::new(),
                    error: None,
                    blind_spots: Vec::new(),
                }
            }
            RequestType::Delete => {
                let keep = engine.policy.keep_rules(&task.service, &req.subject);
                let e = service.erase(&call, &keep).await?;
                Outcome {
                    action: match service.info().erasure {
                        ErasureMode::Delete => Action::Deleted,
                        ErasureMode::Anonymize => Action::Anonymized,
                    },
                    records: e.records,
                    attachments: e.attachments,
                    kept: e.kept,
                    data: Vec::new(),
                    error: None,
                    blind_spots: Vec::new(),
                }
            }
        })
    };
    match tokio::time::timeout(cfg.call_timeout, fut).await {
        // What the service cannot search travels with what it did (G-14).
        Ok(r) => r.map(|mut o| {
            o.blind_spots.clone_from(&service.info().unsearchable);
            o
        }),
        Err(_) => Err(ServiceError::transient(format!(
            "{} did not answer within {:?}",
            task.service, cfg.call_timeout
        ))),
    }
}

/// Whether the worker still owns the task it claimed (same version, running, its lease).
fn owned(cur: &Task, claimed: &Task, cfg: &WorkerConfig) -> bool {
    cur.version == claimed.version
        && cur.status == TaskStatus::Running
        && cur.lease_owner.as_deref() == Some(cfg.id.as_str())
}

/// The task after its outcome, with the audit entry recording it pushed to `change`.
fn apply_outcome(
    cfg: &WorkerConfig,
    cur: &Task,
    claimed: &Task,
    step: &Step,
    now: chrono::DateTime<chrono::Utc>,
    change: &mut Change,
) -> Result<(Task, Vec<TaskEffect>)> {
    let result = match step {
        Step::Called(r) => r,
        Step::Person(spec) => return hand_to_person(cfg, cur, claimed, spec, now, change),
    };
    let event = match result {
        Ok(_) => TaskEvent::Succeeded,
        Err(e) => TaskEvent::Failed {
            transient: e.transient,
            attempts_left: claimed.attempt < cfg.max_attempts,
        },
    };
    let (to, effects) =
        state::task(cur.status, event).map_err(|e| Error::Invalid(e.to_string()))?;
    let mut t = cur.clone();
    t.status = to;
    t.version += 1;
    t.updated_at = now;
    t.lease_owner = None;
    t.lease_expires = None;
    let actor = format!("worker:{}", cfg.id);
    let rid = t.request_id.as_str().to_owned();
    match result {
        Ok(o) => {
            t.outcome = Some(o.clone());
            t.last_error = None;
            change.audit.push(
                AuditEvent::request(
                    &actor,
                    AuditAction::TaskDone,
                    &rid,
                    json!({"action": o.action.as_str(), "records": o.records, "attachments": o.attachments, "kept": o.kept, "attempt": claimed.attempt}),
                )
                .with_service(&t.service),
            );
        }
        Err(e) => {
            t.last_error = Some(e.message.clone());
            if effects.contains(&TaskEffect::ScheduleRetry) {
                let ms = state::backoff_ms(
                    claimed.attempt,
                    cfg.backoff.as_millis() as u64,
                    cfg.backoff_cap.as_millis() as u64,
                );
                // A service's `Retry-After` is a floor: retrying earlier only fails
                // again. At most a week, whatever the configuration says (no overflow).
                let hint = e
                    .retry_after
                    .map_or(0, |d| d.as_millis().min(u128::from(u64::MAX)) as u64);
                let ms = ms.max(hint).min(7 * 86_400_000) as i64;
                t.next_at = now
                    .checked_add_signed(chrono::Duration::milliseconds(ms))
                    .unwrap_or(now);
                change.audit.push(
                    AuditEvent::request(
                        &actor,
                        AuditAction::TaskRetryScheduled,
                        &rid,
                        json!({"error": e.message, "attempt": claimed.attempt, "next_at": t.next_at}),
                    )
                    .with_service(&t.service),
                );
            } else {
                t.outcome = Some(Outcome {
                    action: Action::Failed,
                    records: 0,
                    attachments: 0,
                    kept: Vec::new(),
                    data: Vec::new(),
                    error: Some(e.message.clone()),
                    blind_spots: Vec::new(),
                });
                change.audit.push(
                    AuditEvent::request(
                        &actor,
                        AuditAction::TaskFailed,
                        &rid,
                        json!({"error": e.message, "attempts": claimed.attempt, "transient": e.transient}),
                    )
                    .with_service(&t.service),
                );
            }
        }
    }
    Ok((t, effects))
}

/// A claimed task of a manual service: it waits on the person named, with the
/// instructions recorded on it and in a `task.waiting` audit entry (G-18).
fn hand_to_person(
    cfg: &WorkerConfig,
    cur: &Task,
    claimed: &Task,
    spec: &ManualSpec,
    now: chrono::DateTime<chrono::Utc>,
    change: &mut Change,
) -> Result<(Task, Vec<TaskEffect>)> {
    let (to, effects) = state::task(cur.status, TaskEvent::AwaitPerson)
        .map_err(|e| Error::Invalid(e.to_string()))?;
    let mut t = cur.clone();
    t.status = to;
    t.version += 1;
    t.updated_at = now;
    t.lease_owner = None;
    t.lease_expires = None;
    t.last_error = None;
    t.outcome = None;
    t.manual = Some(ManualTask {
        assignee: spec.assignee.clone(),
        instructions: spec.instructions.clone(),
        since: now,
        reminders: Vec::new(),
        answer: None,
    });
    change.audit.push(
        AuditEvent::request(
            &format!("worker:{}", cfg.id),
            AuditAction::TaskWaiting,
            t.request_id.as_str(),
            json!({
                "assignee": spec.assignee,
                "instructions": spec.instructions,
                "remind_before_hours": spec.remind_before_hours,
                "attempt": claimed.attempt,
            }),
        )
        .with_service(&t.service),
    );
    Ok((t, effects))
}

/// What settling a request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Some task is still open (or the request was already finished): nothing changed.
    Open,
    /// The request finished now (its status derives from its tasks).
    Finished {
        /// It is an export or portability request that completed: its package is built.
        build_package: bool,
    },
}

impl Settled {
    pub(crate) fn finished(self) -> bool {
        matches!(self, Settled::Finished { .. })
    }
    pub(crate) fn build_package(self) -> bool {
        matches!(
            self,
            Settled::Finished {
                build_package: true
            }
        )
    }
}

/// Settles a request whose tasks (`tasks`, already updated) may all be finished: its
/// status derives from them, and the audit event recording it is pushed to `change`.
pub(crate) fn settle(
    req: &mut Request,
    tasks: &[Task],
    now: chrono::DateTime<chrono::Utc>,
    change: &mut Change,
) -> Result<Settled> {
    if req.status.is_finished() {
        return Ok(Settled::Open);
    }
    let statuses: Vec<TaskStatus> = tasks.iter().map(|x| x.status).collect();
    let Some(ev) = state::settle(&statuses) else {
        return Ok(Settled::Open);
    };
    let (rs, rfx) = state::request(req.status, &ev).map_err(|e| Error::Invalid(e.to_string()))?;
    change.audit.push(AuditEvent::request(
        "engine",
        AuditAction::RequestStatus(rs),
        req.id.as_str(),
        json!({"tasks": statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>()}),
    ));
    req.status = rs;
    req.finished_at = Some(now);
    let build_package = rfx.contains(&RequestEffect::BuildPackage)
        && matches!(req.ty, RequestType::Export | RequestType::Portability);
    Ok(Settled::Finished { build_package })
}

/// Whether a request that just finished erases its subject from dsr's own copies: a
/// delete request that completed (every service did its part).
pub(crate) fn erases(req: &Request) -> bool {
    req.ty == RequestType::Delete && req.status == RequestStatus::Completed
}

fn count(stats: &mut WorkerStats, status: TaskStatus) {
    match status {
        TaskStatus::Done => stats.done += 1,
        TaskStatus::Dead => stats.dead += 1,
        TaskStatus::Waiting => stats.waiting += 1,
        _ => stats.retried += 1,
    }
}

/// Records the outcomes of a whole batch in one commit, grouped by request: each
/// request is re-read, its claimed tasks must still be this worker's (else the batch
/// fails with a conflict and nothing is written), it is settled with all its tasks, and
/// the package of a completed export is built and stored in the same commit.
async fn record_batch(
    engine: &Engine,
    cfg: &WorkerConfig,
    claimed: &[Task],
    results: &[Step],
) -> Result<WorkerStats> {
    let mut stats = WorkerStats::default();
    let now = engine.clock.now();
    let mut change = Change::new(engine.tenant.clone(), now);
    // Re-read in one go: what the services did took time, and the commit is conditional
    // on the versions read here.
    let ids: Vec<&crate::types::RequestId> = claimed.iter().map(|t| &t.request_id).collect();
    for (mut req, mut tasks) in engine.get_many(&ids).await? {
        let first_id = req.id.clone();
        let mut needs_settle = false;
        for (claimed_task, result) in claimed
            .iter()
            .zip(results)
            .filter(|(t, _)| t.request_id == first_id)
        {
            let Some(pos) = tasks.iter().position(|t| t.service == claimed_task.service) else {
                return Err(Error::Invalid(format!(
                    "task {} of {} vanished",
                    claimed_task.service, claimed_task.request_id
                )));
            };
            if !owned(&tasks[pos], claimed_task, cfg) {
                return Err(Error::Conflict(format!(
                    "task {} / {}: lease lost",
                    claimed_task.request_id, claimed_task.service
                )));
            }
            let expected = tasks[pos].version;
            let (t, effects) =
                apply_outcome(cfg, &tasks[pos], claimed_task, result, now, &mut change)?;
            needs_settle |= effects.contains(&TaskEffect::SettleRequest);
            count(&mut stats, t.status);
            change.tasks.push(TaskWrite {
                task: t.clone(),
                expected_version: Some(expected),
            });
            tasks[pos] = t;
        }
        let expected = req.version;
        let settled = if needs_settle {
            settle(&mut req, &tasks, now, &mut change)?
        } else {
            Settled::Open
        };
        let (finished, build_package) = (settled.finished(), settled.build_package());
        stats.requests_finished += u64::from(finished);
        if finished && erases(&req) {
            engine.add_erasure(&mut req, now, &mut change).await?;
        }
        let build_package = build_package
            && !(finished
                && !erases(&req)
                && engine.redact_if_erased(&mut req, now, &mut change).await?);
        req.version = expected + 1;
        req.updated_at = now;
        if build_package {
            // Failing to build it here is not fatal: it is built on first download.
            let _ = engine.add_package(&req, &tasks, now, &mut change);
        }
        change.requests.push(RequestWrite {
            request: req,
            expected_version: Some(expected),
        });
    }
    engine.commit(change).await?;
    Ok(stats)
}

/// Records one task's outcome on its own (when a batch could not be committed whole):
/// re-reads, checks the lease, retries on a conflict with a sibling task.
async fn record(
    engine: &Engine,
    cfg: &WorkerConfig,
    claimed: &Task,
    result: Step,
) -> Result<WorkerStats> {
    let mut stats = WorkerStats::default();
    for _ in 0..20 {
        let (mut req, mut tasks) = engine.get(&claimed.request_id).await?;
        let Some(pos) = tasks.iter().position(|t| t.service == claimed.service) else {
            return Err(Error::Invalid(format!(
                "task {} of {} vanished",
                claimed.service, claimed.request_id
            )));
        };
        if !owned(&tasks[pos], claimed, cfg) {
            stats.lost += 1;
            return Ok(stats);
        }
        let now = engine.clock.now();
        let mut change = Change::new(engine.tenant.clone(), now);
        let expected_task = tasks[pos].version;
        let (t, effects) = apply_outcome(cfg, &tasks[pos], claimed, &result, now, &mut change)?;
        tasks[pos] = t.clone();
        // The request row is always bumped, so two workers finishing sibling tasks at
        // once conflict and the second one re-reads: the last one settles the request.
        let expected = req.version;
        let settled = if effects.contains(&TaskEffect::SettleRequest) {
            settle(&mut req, &tasks, now, &mut change)?
        } else {
            Settled::Open
        };
        let (finished, build_package) = (settled.finished(), settled.build_package());
        if finished && erases(&req) {
            engine.add_erasure(&mut req, now, &mut change).await?;
        }
        change.tasks.push(TaskWrite {
            task: t.clone(),
            expected_version: Some(expected_task),
        });
        let build_package = build_package
            && !(finished
                && !erases(&req)
                && engine.redact_if_erased(&mut req, now, &mut change).await?);
        req.version = expected + 1;
        req.updated_at = now;
        let req_id = req.id.clone();
        change.requests.push(RequestWrite {
            request: req,
            expected_version: Some(expected),
        });
        match engine.commit(change).await {
            Ok(()) => {
                count(&mut stats, t.status);
                stats.requests_finished += u64::from(finished);
                if build_package {
                    // Also built on first download if this fails or the worker dies here.
                    let _ = engine.package(&req_id).await;
                }
                return Ok(stats);
            }
            Err(Error::Conflict(_)) => {
                tokio::task::yield_now().await;
                continue;
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::Conflict(format!(
        "request {} (gave up after 20 tries)",
        claimed.request_id
    )))
}
