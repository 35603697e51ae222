//! The durable state behind the engine: the [`Store`] trait (an API boundary;
//! `dsr-store-sqlite` implements it) and the [`Change`] it commits atomically.

use crate::Result;
use crate::audit::{AuditAction, AuditEntry, AuditEvent};
use crate::privacy::Key;
use crate::state::{self, TaskEvent};
use crate::types::TaskStatus;
use crate::types::{Request, RequestFilter, RequestId, Task};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dsr_model::{MergeSetId, RequestType, SubjectId, TenantId};
use std::time::Duration;

/// A request to write: inserted when `expected_version` is `None`, otherwise updated
/// only if the stored version still equals it (else the commit fails with
/// [`Error::Conflict`](crate::Error::Conflict)). The store writes `request.version` as
/// given (the engine increments it).
#[derive(Debug, Clone)]
pub struct RequestWrite {
    /// The new state.
    pub request: Request,
    /// The version read, or `None` for a new request.
    pub expected_version: Option<u64>,
}

/// A task to write, with the same rule as [`RequestWrite`].
#[derive(Debug, Clone)]
pub struct TaskWrite {
    /// The new state.
    pub task: Task,
    /// The version read, or `None` for a new task.
    pub expected_version: Option<u64>,
}

/// Refuses a commit when an unfinished request of the same type exists for one of the
/// subjects or for the merge set (G-11); the commit then fails with
/// [`Error::Duplicate`](crate::Error::Duplicate).
#[derive(Debug, Clone)]
pub struct DuplicateGuard {
    /// The type.
    pub ty: RequestType,
    /// The subjects.
    pub subjects: Vec<SubjectId>,
    /// The merge set.
    pub merge_set: Option<MergeSetId>,
}

/// What a completed erasure does to dsr's own copies, committed with the delete
/// request's completion (the redacted requests and tasks travel as ordinary writes).
#[derive(Debug, Clone)]
pub struct ErasureWrite {
    /// The subject's keyed reference: its sealing key is destroyed (crypto-shredding of
    /// its audit fields).
    pub subject_ref: String,
    /// The delete request.
    pub request_id: RequestId,
    /// Keyed hashes of the subject's identifiers, for the suppression list.
    pub suppress: Vec<String>,
}

/// An erased subject's identifier found again (suppression list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// The keyed hash that matched.
    pub hash: String,
    /// When the erasure completed.
    pub erased_at: DateTime<Utc>,
    /// The delete request.
    pub request_id: RequestId,
}

/// Everything one engine step changes, committed atomically: all of it or nothing.
#[derive(Debug, Clone)]
pub struct Change {
    /// The tenant every row belongs to.
    pub tenant: TenantId,
    /// When (audit entries are stamped with it).
    pub at: DateTime<Utc>,
    /// Requests to insert or update.
    pub requests: Vec<RequestWrite>,
    /// Tasks to insert or update.
    pub tasks: Vec<TaskWrite>,
    /// Audit events to append to the tenant's chain, in order.
    pub audit: Vec<AuditEvent>,
    /// A duplicate check done inside the same transaction.
    pub guard: Option<DuplicateGuard>,
    /// Export packages to store (request id, JSON text); a second one for the same
    /// request is ignored (the first stays, so its digests stay valid).
    pub packages: Vec<(RequestId, String)>,
    /// Stored packages to remove (erasure of their subject, expiry).
    pub remove_packages: Vec<RequestId>,
    /// Erasures completed by this change.
    pub erasures: Vec<ErasureWrite>,
    /// After committing, make removed bytes unrecoverable from the file and its journal
    /// (for SQLite: a WAL checkpoint that truncates the WAL; deleted content is zeroed
    /// by `secure_delete`).
    pub scrub: bool,
}

impl Change {
    /// An empty change.
    pub fn new(tenant: TenantId, at: DateTime<Utc>) -> Self {
        Change {
            tenant,
            at,
            requests: Vec::new(),
            tasks: Vec::new(),
            audit: Vec::new(),
            guard: None,
            packages: Vec::new(),
            remove_packages: Vec::new(),
            erasures: Vec::new(),
            scrub: false,
        }
    }
}

/// A lease request: which tasks a worker wants.
#[derive(Debug, Clone)]
pub struct ClaimSpec<'a> {
    /// The tenant.
    pub tenant: &'a TenantId,
    /// The worker's id (written as the lease owner).
    pub owner: &'a str,
    /// The services this worker can call.
    pub services: &'a [String],
    /// Most tasks to claim.
    pub limit: usize,
    /// Now.
    pub now: DateTime<Utc>,
    /// Lease length.
    pub lease: Duration,
}

/// A task leased by a claim, as the engine decided it: the store writes `task` only if
/// the stored version still equals `expected_version` (else it skips the task: another
/// node took it), and appends `event` to the audit chain in the same transaction.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The task as it must be stored: running, leased to the worker, one more attempt.
    pub task: Task,
    /// The version read.
    pub expected_version: u64,
    /// The `task.claimed` audit event.
    pub event: AuditEvent,
}

impl ClaimSpec<'_> {
    /// Statuses a claim takes when their time has come (`next_at <= now`).
    pub const DUE: [TaskStatus; 2] = [TaskStatus::Pending, TaskStatus::RetryWait];
    /// The status a claim takes back when its lease expired (`lease_expires <= now`):
    /// its worker died or stalled.
    pub const EXPIRED: TaskStatus = TaskStatus::Running;

    /// When a lease taken now ends (a lease too long to represent is capped at 60 s).
    pub fn lease_until(&self) -> DateTime<Utc> {
        chrono::Duration::from_std(self.lease)
            .ok()
            .and_then(|l| self.now.checked_add_signed(l))
            .unwrap_or(self.now + chrono::Duration::seconds(60))
    }

    /// Whether this claim wants `t`: the filter each backend's query implements (the
    /// in-memory store applies it as is). Candidates are taken oldest `next_at` first.
    pub fn wants(&self, t: &Task) -> bool {
        t.tenant == *self.tenant
            && self.services.contains(&t.service)
            && match t.status {
                s if Self::DUE.contains(&s) => t.next_at <= self.now,
                s if s == Self::EXPIRED => t.lease_expires.is_none_or(|l| l <= self.now),
                _ => false,
            }
    }

    /// Leases a task the store found: `None` when it may not be claimed (finished, or
    /// running under a lease that has not expired).
    pub fn claim(&self, t: &Task) -> Option<Claimed> {
        if !self.wants(t) {
            return None;
        }
        let expired = t.status == Self::EXPIRED;
        let (to, _) = state::task(
            t.status,
            TaskEvent::Claim {
                lease_expired: expired,
            },
        )
        .ok()?;
        let lease_until = self.lease_until();
        let mut task = t.clone();
        let previous_owner = task.lease_owner.take();
        task.status = to;
        task.attempt += 1;
        task.version += 1;
        task.lease_owner = Some(self.owner.to_owned());
        task.lease_expires = Some(lease_until);
        task.updated_at = self.now;
        let mut detail = serde_json::json!({"attempt": task.attempt, "lease_until": lease_until});
        if expired {
            detail["reclaimed_from"] = serde_json::Value::from(previous_owner);
        }
        let event = AuditEvent::request(
            &format!("worker:{}", self.owner),
            AuditAction::TaskClaimed,
            task.request_id.as_str(),
            detail,
        )
        .with_service(&task.service);
        Some(Claimed {
            task,
            expected_version: t.version,
            event,
        })
    }
}

/// Durable state: requests, tasks, the audit chain and export packages. Implementations
/// must make [`Store::commit`] and [`Store::claim`] atomic and safe across processes.
#[async_trait]
pub trait Store: Send + Sync {
    /// Commits a change atomically (see [`Change`]).
    async fn commit(&self, change: Change) -> Result<()>;

    /// Claims up to `limit` tasks that [`ClaimSpec::wants`], oldest `next_at` first, in
    /// one transaction: for each, writes what [`ClaimSpec::claim`] returns (conditional
    /// on the version read; a task another node took meanwhile is skipped, never
    /// claimed twice) and appends its audit event. Returns the claimed tasks.
    async fn claim(&self, spec: ClaimSpec<'_>) -> Result<Vec<Task>>;

    /// One request.
    async fn request(&self, tenant: &TenantId, id: &RequestId) -> Result<Option<Request>>;

    /// Requests matching a filter, oldest first.
    async fn requests(&self, tenant: &TenantId, filter: &RequestFilter) -> Result<Vec<Request>>;

    /// The tasks of a request, by service name.
    async fn tasks(&self, tenant: &TenantId, id: &RequestId) -> Result<Vec<Task>>;

    /// Several requests, each with its tasks (by service name), in the order of `ids`
    /// (a repeated id once); ids not found, or of another tenant, are left out. What a
    /// worker reads for its batch: a backend where each read is a round trip overrides
    /// this with one query per table (the default reads them one by one).
    async fn requests_with_tasks(
        &self,
        tenant: &TenantId,
        ids: &[RequestId],
    ) -> Result<Vec<(Request, Vec<Task>)>> {
        let mut out: Vec<(Request, Vec<Task>)> = Vec::with_capacity(ids.len());
        for id in ids {
            if out.iter().any(|(r, _)| &r.id == id) {
                continue;
            }
            if let Some(r) = self.request(tenant, id).await? {
                let tasks = self.tasks(tenant, id).await?;
                out.push((r, tasks));
            }
        }
        Ok(out)
    }

    /// The tenant's tasks in one status, ordered by request id then service (e.g. the
    /// tasks waiting on a person, [`TaskStatus::Waiting`]).
    async fn tasks_with_status(&self, tenant: &TenantId, status: TaskStatus) -> Result<Vec<Task>>;

    /// How many tasks are not finished (in [`TaskStatus::OPEN`]: a task waiting on a
    /// person is not counted), and the earliest instant one may be claimed.
    async fn open_tasks(&self, tenant: &TenantId) -> Result<(u64, Option<DateTime<Utc>>)>;

    /// The tenant's audit chain in order, and the recorded head (last index and hash).
    async fn audit(&self, tenant: &TenantId) -> Result<(Vec<AuditEntry>, Option<(u64, String)>)>;

    /// The stored export package of a request.
    async fn package(&self, tenant: &TenantId, id: &RequestId) -> Result<Option<String>>;

    /// The tenant's secret (256 bits) for keyed references and hashes, created on first
    /// use.
    async fn tenant_secret(&self, tenant: &TenantId) -> Result<Key>;

    /// The sealing key of one subject (by keyed reference); created when `create` and
    /// missing. A completed erasure destroys it ([`ErasureWrite`]).
    async fn subject_key(
        &self,
        tenant: &TenantId,
        subject_ref: &str,
        create: bool,
    ) -> Result<Option<Key>>;

    /// Which of these keyed identifier hashes belong to an erased subject.
    async fn suppressed(&self, tenant: &TenantId, hashes: &[String]) -> Result<Vec<Suppressed>>;

    /// The tenant's default phone region (normalizing identifiers for suppression).
    async fn default_region(&self, tenant: &TenantId) -> Result<Option<String>>;
}
