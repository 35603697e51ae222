//! Requests, tasks and their outcomes: the records the store keeps.

use crate::service::Category;
use chrono::{DateTime, Utc};
use dsr_model::{MergeSetId, RequestType, Subject, SubjectId, TenantId, Term};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A request id: a UUID v7 (time-ordered), as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// A new, time-ordered id.
    pub fn generate() -> Self {
        RequestId(uuid::Uuid::now_v7().to_string())
    }
    /// Parses an id given by a caller: a UUID in any case, with or without hyphens.
    pub fn parse(text: &str) -> crate::Result<Self> {
        uuid::Uuid::parse_str(text.trim())
            .map(|u| RequestId(u.to_string()))
            .map_err(|_| {
                crate::Error::Invalid(format!(
                    "request id {text:?} is not a UUID (expected e.g. 0193d2a4-7c1e-7b3a-9f00-123456789abc)"
                ))
            })
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The id as stored (trusted input from the store).
    pub fn from_stored(text: String) -> Self {
        RequestId(text)
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $v),+ }
        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            /// The wire name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $name {
            type Err = crate::Error;
            fn from_str(s: &str) -> crate::Result<Self> {
                let k = s.trim().to_ascii_lowercase().replace('-', "_");
                $(if k == $s { return Ok($name::$v); })+
                Err(crate::Error::Invalid(format!(
                    "unknown {} {s:?} (expected one of: {})",
                    stringify!($name),
                    [$($s),+].join(", ")
                )))
            }
        }
    };
}

wire_enum!(
    /// Where a request is in its lifecycle (see `docs/engine.md`).
    RequestStatus {
        /// Created; its subject is being resolved.
        Received = "received",
        /// Waiting for an explicit decision (e.g. erasing an active employee, G-16).
        OnHold = "on_hold",
        /// Its tasks are being carried out by workers.
        InProgress = "in_progress",
        /// Every service did its part.
        Completed = "completed",
        /// Some services did their part, others failed.
        PartiallyFailed = "partially_failed",
        /// Every service failed.
        Failed = "failed",
        /// Cancelled before anything irreversible ran.
        Cancelled = "cancelled",
        /// Refused by a decision citing a legal ground.
        Refused = "refused",
    }
);

impl RequestStatus {
    /// The finished statuses ([`RequestStatus::is_finished`]): a store filters on these
    /// (the duplicate guard, overdue lists) without deciding them.
    pub const FINISHED: [RequestStatus; 5] = [
        RequestStatus::Completed,
        RequestStatus::PartiallyFailed,
        RequestStatus::Failed,
        RequestStatus::Cancelled,
        RequestStatus::Refused,
    ];

    /// Whether nothing more will happen (unless retried).
    pub fn is_finished(self) -> bool {
        Self::FINISHED.contains(&self)
    }
}

wire_enum!(
    /// Where one service's part of a request is.
    TaskStatus {
        /// Waiting for a worker.
        Pending = "pending",
        /// Claimed by a worker holding a lease.
        Running = "running",
        /// Failed transiently; waits for its next attempt.
        RetryWait = "retry_wait",
        /// Done; the outcome is recorded.
        Done = "done",
        /// Gave up (permanent error or too many attempts).
        Dead = "dead",
        /// Cancelled with its request before it ran.
        Cancelled = "cancelled",
        /// Waiting on a person (a `manual` service, G-18): assigned, with instructions;
        /// finished by `dsr task complete` ([`Engine::complete_task`](crate::Engine::complete_task)).
        /// Neither open for workers nor finished.
        Waiting = "waiting",
    }
);

impl TaskStatus {
    /// The statuses of unfinished tasks (counted by [`Store::open_tasks`](crate::store::Store::open_tasks)).
    pub const OPEN: [TaskStatus; 3] = [
        TaskStatus::Pending,
        TaskStatus::Running,
        TaskStatus::RetryWait,
    ];

    /// Whether the task waits on a person (neither claimable nor finished).
    pub fn is_waiting(self) -> bool {
        self == TaskStatus::Waiting
    }

    /// Whether the task is settled.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskStatus::Done | TaskStatus::Dead | TaskStatus::Cancelled
        )
    }
}

wire_enum!(
    /// What a service did.
    Action {
        /// Data exported (art. 15 / 20).
        Exported = "exported",
        /// Data rectified (art. 16).
        Updated = "updated",
        /// Data deleted (art. 17, service in `delete` mode).
        Deleted = "deleted",
        /// Data anonymized (art. 17, service in `anonymize` mode).
        Anonymized = "anonymized",
        /// The service failed; see the error.
        Failed = "failed",
    }
);

/// The subject field a [`Replacement`] rectifies (G-6).
///
/// Written and stored as text, the same as before the type existed: `name`, `email`,
/// `phone`, `address`, `handle`, `external_id`, or `custom.KEY` for a custom attribute
/// (so stored requests and the HTTP and CLI shapes are unchanged).
///
/// ```
/// use dsr_engine::ReplacementField;
///
/// assert_eq!(ReplacementField::parse("email")?, ReplacementField::Email);
/// let plan = ReplacementField::parse("custom.loyalty_plan")?;
/// assert_eq!(plan, ReplacementField::Custom("loyalty_plan".into()));
/// assert_eq!(plan.to_string(), "custom.loyalty_plan");
/// assert_eq!(serde_json::to_string(&plan)?, r#""custom.loyalty_plan""#);
///
/// let err = ReplacementField::parse("mail").unwrap_err().to_string();
/// assert!(err.contains("name, email, phone, address, handle, external_id, custom.KEY"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ReplacementField {
    /// `name`: one of the subject's names.
    Name,
    /// `email`: one of its email addresses.
    Email,
    /// `phone`: one of its phone numbers.
    Phone,
    /// `address`: one of its postal addresses.
    Address,
    /// `handle`: one of its social handles (the value, whatever the network).
    Handle,
    /// `external_id`: one of its ids in other systems.
    ExternalId,
    /// `custom.KEY`: the custom attribute `KEY` (the key without the `custom.` prefix).
    Custom(String),
}

/// The fields a replacement may name, as written ([`ReplacementField`]).
pub const REPLACEABLE_FIELDS: &[&str] = &[
    "name",
    "email",
    "phone",
    "address",
    "handle",
    "external_id",
    "custom.KEY",
];

impl ReplacementField {
    /// Parses a field as written (exactly: `email`, not `Email`); an unknown one is
    /// refused with the list of accepted fields.
    pub fn parse(text: &str) -> crate::Result<Self> {
        Ok(match text {
            "name" => ReplacementField::Name,
            "email" => ReplacementField::Email,
            "phone" => ReplacementField::Phone,
            "address" => ReplacementField::Address,
            "handle" => ReplacementField::Handle,
            "external_id" => ReplacementField::ExternalId,
            f => match f.strip_prefix("custom.") {
                Some(k) if !k.is_empty() => ReplacementField::Custom(k.to_owned()),
                _ => {
                    return Err(crate::Error::Invalid(format!(
                        "unknown field {text:?} (fields: {})",
                        REPLACEABLE_FIELDS.join(", ")
                    )));
                }
            },
        })
    }

    /// The field as written (`email`, `custom.KEY`).
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        std::borrow::Cow::Borrowed(match self {
            ReplacementField::Name => "name",
            ReplacementField::Email => "email",
            ReplacementField::Phone => "phone",
            ReplacementField::Address => "address",
            ReplacementField::Handle => "handle",
            ReplacementField::ExternalId => "external_id",
            ReplacementField::Custom(k) => return format!("custom.{k}").into(),
        })
    }
}

impl fmt::Display for ReplacementField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

impl FromStr for ReplacementField {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        ReplacementField::parse(s)
    }
}

impl TryFrom<String> for ReplacementField {
    type Error = crate::Error;
    fn try_from(s: String) -> crate::Result<Self> {
        ReplacementField::parse(&s)
    }
}

impl From<ReplacementField> for String {
    fn from(f: ReplacementField) -> String {
        f.as_str().into_owned()
    }
}

/// Compares with the field as written: `field == "email"`.
impl PartialEq<str> for ReplacementField {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// Compares with the field as written: `field == "email"`.
impl PartialEq<&str> for ReplacementField {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A rectification: in `field`, replace `old` by `new` (G-6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    /// The subject field.
    pub field: ReplacementField,
    /// The value as stored now.
    pub old: String,
    /// The value to store instead.
    pub new: String,
}

impl Replacement {
    /// Parses `FIELD:OLD=NEW` (e.g. `email:jean@old.fr=jean@new.fr`).
    pub fn parse(text: &str) -> crate::Result<Self> {
        let bad = |why: &str| {
            crate::Error::Invalid(format!(
                "replacement {text:?}: {why} (expected FIELD:OLD=NEW, e.g. email:a@old.example=a@new.example; fields: {})",
                REPLACEABLE_FIELDS.join(", ")
            ))
        };
        let (field, rest) = text
            .split_once(':')
            .ok_or_else(|| bad("no ':' after the field"))?;
        let (old, new) = rest
            .split_once('=')
            .ok_or_else(|| bad("no '=' between old and new"))?;
        let field = field.trim();
        let r = Replacement {
            field: ReplacementField::parse(field)
                .map_err(|_| bad(&format!("unknown field {field:?}")))?,
            old: old.trim().to_owned(),
            new: new.trim().to_owned(),
        };
        r.validate().map_err(|e| bad(&e))?;
        Ok(r)
    }

    /// Checks the field name and values; returns what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if let ReplacementField::Custom(k) = &self.field
            && k.is_empty()
        {
            return Err(format!("unknown field {:?}", self.field.as_str()));
        }
        if self.old.is_empty() {
            return Err("the existing value is empty".into());
        }
        if self.old == self.new {
            return Err("the updated value equals the existing one".into());
        }
        for v in [&self.old, &self.new] {
            if v.len() > dsr_model::MAX_VALUE_LEN || v.chars().any(char::is_control) {
                return Err("a value is too long or contains control characters".into());
            }
        }
        Ok(())
    }
}

/// A policy hold on a request (G-16): it waits for an explicit decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Why it is held.
    pub reason: String,
    /// Since when.
    pub since: DateTime<Utc>,
}

wire_enum!(
    /// What a decision on a held request says (G-16).
    Verdict {
        /// Carry the request out (with a recorded justification).
        Proceed = "proceed",
        /// Refuse it (citing the legal ground).
        Refuse = "refuse",
    }
);

/// The decision that released or refused a held request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// `true`: proceed; `false`: refuse.
    pub proceed: bool,
    /// The recorded justification (proceed) or legal ground (refuse).
    pub reason: String,
    /// Who decided.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

impl Decision {
    /// The verdict (stored as `proceed`, a boolean, in released versions).
    pub fn verdict(&self) -> Verdict {
        if self.proceed {
            Verdict::Proceed
        } else {
            Verdict::Refuse
        }
    }
}

/// An extension of the deadline (art. 12(3)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// Days added.
    pub days: u32,
    /// Why.
    pub reason: String,
    /// Who extended it.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The hand-over of an export package to the subject (S-5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandOver {
    /// When the package was handed over.
    pub at: DateTime<Utc>,
    /// To whom (the subject, or another controller for portability; Q-4).
    pub to: String,
    /// Who handed it over.
    pub by: String,
    /// SHA-256 of the manifest handed over.
    pub manifest_sha256: String,
}

/// A data subject request. One request is for one subject; a merge set fans out into a
/// parent (the canonical contact) and related requests (the other members).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Unique id.
    pub id: RequestId,
    /// Whose data.
    pub tenant: TenantId,
    /// Export, update, delete or portability.
    #[serde(rename = "type")]
    pub ty: RequestType,
    /// Where it is: changed only by the engine's transitions ([`Request::status`]).
    pub(crate) status: RequestStatus,
    /// Incremented on every write (optimistic concurrency; [`Request::version`]).
    pub(crate) version: u64,
    /// The resolved subject with every known field (G-5), as it was when resolved.
    pub subject: Subject,
    /// The term the caller gave, if any.
    pub term: Option<Term>,
    /// Who asked (operator, API client, host application).
    pub requested_by: String,
    /// The parent request, for a related request (G-10).
    pub parent: Option<RequestId>,
    /// The related requests, for a parent (G-10): `relatedRequests`.
    pub related: Vec<RequestId>,
    /// The merge set the subject belongs to.
    pub merge_set: Option<MergeSetId>,
    /// UPDATE only: the rectifications (G-6).
    pub replacements: Vec<Replacement>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// The service target for this type (configurable; G-15).
    pub due_at: DateTime<Utc>,
    /// The legal deadline: one month, plus extensions (art. 12(3)).
    pub legal_deadline: DateTime<Utc>,
    /// Recorded extensions.
    pub extensions: Vec<Extension>,
    /// A policy hold, while on hold (and kept for the record after).
    pub hold: Option<Hold>,
    /// The decision on a hold.
    pub decision: Option<Decision>,
    /// Hand-over of the package (export / portability).
    pub handed_over: Option<HandOver>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// How many times it was retried.
    pub retries: u32,
    /// When and why its personal data was removed (an erasure of the subject, or the
    /// retention period); the facts stay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<crate::privacy::Removal>,
    /// When and why its export package was removed (erasure, expiry, hand-over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_removed: Option<crate::privacy::Removal>,
}

impl Request {
    /// The subject's id.
    pub fn subject_id(&self) -> &SubjectId {
        &self.subject.id
    }
    /// Whether the request is past its due date (service target or legal deadline) and
    /// not finished.
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        !self.status.is_finished() && (now > self.due_at || now > self.legal_deadline)
    }
}

/// One exported record: what a service holds about the subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportRecord {
    /// S-3 data category.
    pub category: Category,
    /// Whether the subject provided it (actively or by use; portability, S-4). Derived or
    /// inferred data is exported (art. 15) but not ported (art. 20).
    pub provided: bool,
    /// The record, as the service holds it.
    pub data: serde_json::Value,
    /// Attachments linked to it (G-12).
    pub attachments: Vec<Attachment>,
}

/// A file attached to a conversation (G-12).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// File name.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Content, base64 (standard alphabet).
    pub content_base64: String,
}

/// Data kept despite an erasure, and the ground for keeping it (art. 17(3), legal holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// What was kept (a data category, or `all` for a legal hold).
    pub what: String,
    /// How many records.
    pub records: u64,
    /// The legal ground.
    pub ground: String,
}

/// What one service did for one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Exported, updated, deleted, anonymized or failed.
    pub action: Action,
    /// Records affected.
    pub records: u64,
    /// Attachments affected.
    pub attachments: u64,
    /// Data kept, with the ground.
    pub kept: Vec<Kept>,
    /// Export only: the data.
    pub data: Vec<ExportRecord>,
    /// Failed only: the service's error.
    pub error: Option<String>,
    /// What the service holds but cannot search (its `unsearchable` fields, G-14), so
    /// the result warns that data there may have been missed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blind_spots: Vec<String>,
}

/// One service's part of one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// The request.
    pub request_id: RequestId,
    /// The tenant.
    pub tenant: TenantId,
    /// The service's name.
    pub service: String,
    /// Where it is: changed only by the engine's transitions ([`Task::status`]).
    pub(crate) status: TaskStatus,
    /// Attempts started so far.
    pub attempt: u32,
    /// Incremented on every write ([`Task::version`]).
    pub(crate) version: u64,
    /// The worker holding the lease, while running.
    pub lease_owner: Option<String>,
    /// When the lease expires.
    pub lease_expires: Option<DateTime<Utc>>,
    /// Not to be claimed before this instant (retry backoff).
    pub next_at: DateTime<Utc>,
    /// The outcome, once done or dead.
    pub outcome: Option<Outcome>,
    /// The last error.
    pub last_error: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// A task of a `manual` service: to whom it was assigned, the reminders recorded
    /// and, once answered, the person's answer (G-18).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manual: Option<ManualTask>,
}

wire_enum!(
    /// What the person who answered a manual task says they did.
    Answer {
        /// Did what the instructions say (found and exported, rectified, erased).
        Done = "done",
        /// Could not do it (the task fails; `dsr request retry` assigns it again).
        Failed = "failed",
        /// Searched and found nothing of the subject's (done, with no records).
        NothingFound = "nothing_found",
    }
);

wire_enum!(
    /// A reminder recorded for a task waiting on a person (once each per task).
    ReminderKind {
        /// The due date is within the service's lead time (`remind_before_hours`).
        BeforeDue = "before_due",
        /// The due date (service target or legal deadline) has passed.
        Overdue = "overdue",
    }
);

/// A reminder recorded for a manual task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    /// Which one.
    pub kind: ReminderKind,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// The evidence a person gave when answering a manual task: the file's name and the
/// SHA-256 digest of its bytes (the bytes themselves go into an export's package only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// The file's name (without its folder).
    pub name: String,
    /// Hex SHA-256 of the file's bytes.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
}

/// The answer a person recorded for a manual task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonAnswer {
    /// What they did.
    pub answer: Answer,
    /// Who answered (recorded).
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The evidence file.
    pub evidence: Evidence,
    /// A note (kept with the task, sealed in the audit log; erased with the subject).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A task of a `manual` service: assigned to a person or team with instructions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualTask {
    /// The person or team who must act.
    pub assignee: String,
    /// What they must do.
    pub instructions: String,
    /// Since when it waits on them.
    pub since: DateTime<Utc>,
    /// The reminders recorded so far.
    #[serde(default)]
    pub reminders: Vec<Reminder>,
    /// Their answer, once given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<PersonAnswer>,
}

impl Request {
    /// Where it is. Only the engine's transition functions change it, each with its
    /// audit entry, so a host reads it and never sets it.
    pub fn status(&self) -> RequestStatus {
        self.status
    }

    /// Incremented on every write: a store writes a change only if the stored version
    /// is the one the change was made from.
    pub fn version(&self) -> u64 {
        self.version
    }
}

/// A [`Task`] as a store keeps it, every field open: what a store builds from its rows
/// (`Task::from(row)`). Nothing else should make one: a task's status and version
/// change only through the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRow {
    /// The request.
    pub request_id: RequestId,
    /// The tenant.
    pub tenant: TenantId,
    /// The service's name.
    pub service: String,
    /// Where it is.
    pub status: TaskStatus,
    /// Attempts started so far.
    pub attempt: u32,
    /// Incremented on every write.
    pub version: u64,
    /// The worker holding the lease, while running.
    pub lease_owner: Option<String>,
    /// When the lease expires.
    pub lease_expires: Option<DateTime<Utc>>,
    /// Not to be claimed before this instant.
    pub next_at: DateTime<Utc>,
    /// The outcome, once done or dead.
    pub outcome: Option<Outcome>,
    /// The last error.
    pub last_error: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// A manual service's assignment and answer.
    pub manual: Option<ManualTask>,
}

impl From<TaskRow> for Task {
    fn from(r: TaskRow) -> Self {
        Task {
            request_id: r.request_id,
            tenant: r.tenant,
            service: r.service,
            status: r.status,
            attempt: r.attempt,
            version: r.version,
            lease_owner: r.lease_owner,
            lease_expires: r.lease_expires,
            next_at: r.next_at,
            outcome: r.outcome,
            last_error: r.last_error,
            updated_at: r.updated_at,
            manual: r.manual,
        }
    }
}

impl Task {
    /// Where it is. Only the engine's transition functions change it.
    pub fn status(&self) -> TaskStatus {
        self.status
    }

    /// Incremented on every write (optimistic concurrency).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Its stored form (for stores writing rows, and tests forging a stale write).
    pub fn row(&self) -> TaskRow {
        TaskRow {
            request_id: self.request_id.clone(),
            tenant: self.tenant.clone(),
            service: self.service.clone(),
            status: self.status,
            attempt: self.attempt,
            version: self.version,
            lease_owner: self.lease_owner.clone(),
            lease_expires: self.lease_expires,
            next_at: self.next_at,
            outcome: self.outcome.clone(),
            last_error: self.last_error.clone(),
            updated_at: self.updated_at,
            manual: self.manual.clone(),
        }
    }

    /// A new pending task.
    pub fn new(request: &Request, service: &str, now: DateTime<Utc>) -> Self {
        Task {
            request_id: request.id.clone(),
            tenant: request.tenant.clone(),
            service: service.to_owned(),
            status: TaskStatus::Pending,
            attempt: 0,
            version: 0,
            lease_owner: None,
            lease_expires: None,
            next_at: now,
            outcome: None,
            last_error: None,
            updated_at: now,
            manual: None,
        }
    }
}

/// Which requests to list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFilter {
    /// Only this status.
    pub status: Option<RequestStatus>,
    /// Only unfinished requests past a due date at this instant.
    pub overdue_at: Option<DateTime<Utc>>,
    /// Only requests for this subject.
    pub subject: Option<SubjectId>,
    /// Most rows (0: no limit).
    pub limit: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacements_keep_their_stored_and_written_shape() {
        // As stored before the field was typed, and as the wire carries it.
        let stored = r#"[{"field":"email","old":"a@old.example","new":"a@new.example"},{"field":"custom.plan","old":"gold","new":"silver"}]"#;
        let rs: Vec<Replacement> = serde_json::from_str(stored).unwrap();
        assert_eq!(rs[0].field, ReplacementField::Email);
        assert_eq!(rs[1].field, ReplacementField::Custom("plan".into()));
        assert_eq!(serde_json::to_string(&rs).unwrap(), stored);
        for f in &REPLACEABLE_FIELDS[..6] {
            assert_eq!(ReplacementField::parse(f).unwrap().as_str(), *f);
        }
        assert_eq!(
            Replacement::parse("custom.plan:gold=silver").unwrap(),
            rs[1]
        );
    }

    #[test]
    fn an_unknown_field_is_refused_with_the_accepted_ones() {
        let all = "name, email, phone, address, handle, external_id, custom.KEY";
        for bad in ["colour", "custom.", "Email", ""] {
            let e = ReplacementField::parse(bad).unwrap_err().to_string();
            assert!(
                e.contains(&format!("unknown field {bad:?}")) && e.contains(all),
                "{e}"
            );
        }
        let e = Replacement::parse("colour:a=b").unwrap_err().to_string();
        assert!(
            e.contains(r#"unknown field "colour" (expected FIELD:OLD=NEW"#) && e.contains(all),
            "{e}"
        );
        let e = serde_json::from_str::<Replacement>(r#"{"field":"colour","old":"a","new":"b"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains(all), "{e}");
    }
}
