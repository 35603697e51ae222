//! The JSON shapes of requests and tasks (camelCase), built explicitly from the
//! engine's types: the CLI's `--json` output and the server's bodies are the same, and a
//! change to either shows up here in review.
//!
//! The shapes are typed structs (with the `openapi` feature they also describe
//! themselves for the server's OpenAPI document, so the document cannot drift from what
//! is sent); [`request`], [`task`] and [`request_summary`] give them as JSON values.

use crate::ids::short_id;
use chrono::{DateTime, Utc};
use dsr_engine::{Request, RequestId, Task, TaskStatus};
use serde::Serialize;
use serde_json::Value;

/// Data kept despite an erasure, with its ground.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeptView {
    /// What was kept.
    pub what: String,
    /// How many records.
    pub records: u64,
    /// The legal ground.
    pub ground: String,
}

/// One per-service task.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    /// The service.
    pub service: String,
    /// `pending`, `running`, `retry_wait`, `waiting` (on a person), `done`, `dead` or
    /// `cancelled`.
    pub status: String,
    /// Attempts started.
    pub attempts: u32,
    /// What the service did, once done.
    pub action: Option<String>,
    /// Records affected.
    pub records: Option<u64>,
    /// Attachments affected.
    pub attachments: Option<u64>,
    /// Data kept, with the ground.
    pub kept: Option<Vec<KeptView>>,
    /// The service's last error.
    pub error: Option<String>,
    /// When the next attempt is due (retry_wait only).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// What the service holds but cannot search (G-14): data there may be missed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blind_spots: Vec<String>,
    /// A manual service's task (status `waiting` until a person answers): to whom it is
    /// assigned, the reminders recorded and the answer. Absent for other services.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual: Option<ManualView>,
}

/// A task a person answers (G-18).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ManualView {
    /// The person or team.
    pub assignee: String,
    /// What they must do.
    pub instructions: String,
    /// Since when it waits on them.
    pub since: DateTime<Utc>,
    /// Reminders recorded (`before_due`, `overdue`), each once.
    pub reminders: Vec<ReminderView>,
    /// Their answer, once given.
    pub answer: Option<AnswerView>,
}

/// A reminder recorded for a task waiting on a person.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReminderView {
    /// `before_due` or `overdue`.
    pub kind: String,
    /// When it was recorded.
    pub at: DateTime<Utc>,
}

/// A person's answer to a manual task.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AnswerView {
    /// `done`, `nothing_found` or `failed`.
    pub answer: String,
    /// Who answered.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The evidence file's name.
    pub evidence_name: String,
    /// Hex SHA-256 of the evidence file.
    pub evidence_sha256: String,
    /// Its size in bytes.
    pub evidence_bytes: u64,
    /// The note given.
    pub note: Option<String>,
}

impl ManualView {
    /// The view of a task's manual assignment.
    pub fn new(m: &dsr_engine::ManualTask) -> Self {
        ManualView {
            assignee: m.assignee.clone(),
            instructions: m.instructions.clone(),
            since: m.since,
            reminders: m
                .reminders
                .iter()
                .map(|r| ReminderView {
                    kind: r.kind.as_str().to_owned(),
                    at: r.at,
                })
                .collect(),
            answer: m.answer.as_ref().map(|a| AnswerView {
                answer: a.answer.as_str().to_owned(),
                by: a.by.clone(),
                at: a.at,
                evidence_name: a.evidence.name.clone(),
                evidence_sha256: a.evidence.sha256.clone(),
                evidence_bytes: a.evidence.bytes,
                note: a.note.clone(),
            }),
        }
    }
}

/// A task waiting on a person, as one row of `dsr task list --manual` (and the
/// server's list of them).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WaitingTaskView {
    /// The task id as typed: `SHORT/SERVICE`.
    pub task_id: String,
    /// The request id.
    pub request_id: String,
    /// The request type.
    #[serde(rename = "type")]
    pub ty: String,
    /// The request's status (`in_progress` while the task waits).
    pub request_status: String,
    /// Whose data.
    pub subject_id: String,
    /// The service.
    pub service: String,
    /// The person or team.
    pub assignee: String,
    /// What they must do.
    pub instructions: String,
    /// Since when it waits on them.
    pub since: DateTime<Utc>,
    /// The service target.
    pub due_at: DateTime<Utc>,
    /// The legal deadline.
    pub legal_deadline: DateTime<Utc>,
    /// Past a due date.
    pub overdue: bool,
    /// The reminder due now and not recorded yet (`before_due`, `overdue`), if any.
    pub reminder_due: Option<String>,
    /// Reminders recorded.
    pub reminders: Vec<ReminderView>,
}

impl WaitingTaskView {
    /// The row of a waiting task.
    pub fn new(w: &dsr_engine::manual::WaitingTask) -> Self {
        let m = w.task.manual.as_ref();
        WaitingTaskView {
            task_id: crate::ids::task_id(&w.request.id, &w.task.service),
            request_id: w.request.id.to_string(),
            ty: w.request.ty.as_str().to_owned(),
            request_status: w.request.status().as_str().to_owned(),
            subject_id: w.request.subject.id.to_string(),
            service: w.task.service.clone(),
            assignee: m.map(|m| m.assignee.clone()).unwrap_or_default(),
            instructions: m.map(|m| m.instructions.clone()).unwrap_or_default(),
            since: m.map_or(w.task.updated_at, |m| m.since),
            due_at: w.request.due_at,
            legal_deadline: w.request.legal_deadline,
            overdue: w.overdue,
            reminder_due: w.reminder_due.map(|k| k.as_str().to_owned()),
            reminders: m.map(|m| ManualView::new(m).reminders).unwrap_or_default(),
        }
    }
}

/// The subject of a request.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RequestSubjectView {
    /// The subject id.
    pub id: String,
    /// `user`, `external_contact` or `dialer_contact`.
    pub kind: String,
    /// The first name value.
    pub name: Option<String>,
    /// The merge set.
    pub merge_set: Option<String>,
}

/// A related request (G-10).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RelatedView {
    /// Its id.
    pub id: String,
    /// Its subject.
    pub subject_id: String,
    /// Its status.
    pub status: String,
}

/// A rectification (G-6).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplacementView {
    /// The field.
    pub field: String,
    /// The value as stored.
    pub old: String,
    /// The value to store instead.
    pub new: String,
}

/// A deadline extension.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExtensionView {
    /// Days added.
    pub days: u32,
    /// Why.
    pub reason: String,
    /// Who.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// A policy hold.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HoldView {
    /// Why it is held.
    pub reason: String,
    /// Since when.
    pub since: DateTime<Utc>,
}

/// The decision on a hold.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionView {
    /// `proceed` or `refuse`.
    pub decision: String,
    /// Justification or legal ground.
    pub reason: String,
    /// Who decided.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The hand-over of a package.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HandOverView {
    /// When.
    pub at: DateTime<Utc>,
    /// To whom.
    pub to: String,
    /// By whom.
    pub by: String,
    /// SHA-256 of the manifest handed over.
    pub manifest_sha256: String,
}

/// A request with its tasks and related requests.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RequestView {
    /// The request id (UUID).
    pub id: String,
    /// The last 12 hex digits of the id.
    pub short_id: String,
    /// `export`, `update`, `delete` or `portability`.
    #[serde(rename = "type")]
    pub ty: String,
    /// The GDPR article.
    pub article: String,
    /// Where the request is.
    pub status: String,
    /// Whose data.
    pub subject: RequestSubjectView,
    /// Who asked.
    pub requested_by: String,
    /// The parent request, for a related request.
    pub parent: Option<String>,
    /// The other requests of the merge set (G-10).
    pub related_requests: Vec<RelatedView>,
    /// UPDATE only: the rectifications.
    pub replacements: Vec<ReplacementView>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// The service target.
    pub due_at: DateTime<Utc>,
    /// The legal deadline (art. 12(3)).
    pub legal_deadline: DateTime<Utc>,
    /// Past a due date and not finished.
    pub overdue: bool,
    /// Recorded extensions.
    pub extensions: Vec<ExtensionView>,
    /// A policy hold.
    pub hold: Option<HoldView>,
    /// The decision on a hold.
    pub decision: Option<DecisionView>,
    /// The package hand-over.
    pub handed_over: Option<HandOverView>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Times retried.
    pub retries: u32,
    /// One task per service.
    pub tasks: Vec<TaskView>,
}

/// A request as one row of a list.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RequestSummaryView {
    /// The request id.
    pub id: String,
    /// The last 12 hex digits of the id.
    pub short_id: String,
    /// The type.
    #[serde(rename = "type")]
    pub ty: String,
    /// The status.
    pub status: String,
    /// The subject.
    pub subject_id: String,
    /// The parent request.
    pub parent: Option<String>,
    /// The related requests' ids.
    pub related_requests: Vec<String>,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// The service target.
    pub due_at: DateTime<Utc>,
    /// The legal deadline.
    pub legal_deadline: DateTime<Utc>,
    /// Past a due date and not finished.
    pub overdue: bool,
}

impl TaskView {
    /// The view of a task.
    pub fn new(t: &Task) -> Self {
        let o = t.outcome.as_ref();
        TaskView {
            service: t.service.clone(),
            status: t.status().as_str().to_owned(),
            attempts: t.attempt,
            action: o.map(|o| o.action.as_str().to_owned()),
            records: o.map(|o| o.records),
            attachments: o.map(|o| o.attachments),
            kept: o.map(|o| {
                o.kept
                    .iter()
                    .map(|k| KeptView {
                        what: k.what.clone(),
                        records: k.records,
                        ground: k.ground.clone(),
                    })
                    .collect()
            }),
            error: o
                .and_then(|o| o.error.clone())
                .or_else(|| t.last_error.clone()),
            next_attempt_at: (t.status() == TaskStatus::RetryWait).then_some(t.next_at),
            manual: t.manual.as_ref().map(ManualView::new),
            blind_spots: o.map(|o| o.blind_spots.clone()).unwrap_or_default(),
        }
    }
}

impl RequestView {
    /// The view of a request with its tasks and related requests.
    pub fn new(r: &Request, tasks: &[Task], related: &[Request], now: DateTime<Utc>) -> Self {
        RequestView {
            id: r.id.to_string(),
            short_id: short_id(&r.id).to_owned(),
            ty: r.ty.as_str().to_owned(),
            article: r.ty.article().to_owned(),
            status: r.status().as_str().to_owned(),
            subject: RequestSubjectView {
                id: r.subject.id.to_string(),
                kind: r.subject.kind.as_str().to_owned(),
                name: r.subject.names.first().cloned(),
                merge_set: r.merge_set.as_ref().map(ToString::to_string),
            },
            requested_by: r.requested_by.clone(),
            parent: r.parent.as_ref().map(ToString::to_string),
            related_requests: related
                .iter()
                .map(|x| RelatedView {
                    id: x.id.to_string(),
                    subject_id: x.subject.id.to_string(),
                    status: x.status().as_str().to_owned(),
                })
                .collect(),
            replacements: r
                .replacements
                .iter()
                .map(|x| ReplacementView {
                    field: x.field.to_string(),
                    old: x.old.clone(),
                    new: x.new.clone(),
                })
                .collect(),
            created_at: r.created_at,
            due_at: r.due_at,
            legal_deadline: r.legal_deadline,
            overdue: r.is_overdue(now),
            extensions: r
                .extensions
                .iter()
                .map(|e| ExtensionView {
                    days: e.days,
                    reason: e.reason.clone(),
                    by: e.by.clone(),
                    at: e.at,
                })
                .collect(),
            hold: r.hold.as_ref().map(|h| HoldView {
                reason: h.reason.clone(),
                since: h.since,
            }),
            decision: r.decision.as_ref().map(|d| DecisionView {
                decision: if d.proceed { "proceed" } else { "refuse" }.to_owned(),
                reason: d.reason.clone(),
                by: d.by.clone(),
                at: d.at,
            }),
            handed_over: r.handed_over.as_ref().map(|h| HandOverView {
                at: h.at,
                to: h.to.clone(),
                by: h.by.clone(),
                manifest_sha256: h.manifest_sha256.clone(),
            }),
            finished_at: r.finished_at,
            retries: r.retries,
            tasks: tasks.iter().map(TaskView::new).collect(),
        }
    }
}

impl RequestSummaryView {
    /// The list row of a request.
    pub fn new(r: &Request, now: DateTime<Utc>) -> Self {
        RequestSummaryView {
            id: r.id.to_string(),
            short_id: short_id(&r.id).to_owned(),
            ty: r.ty.as_str().to_owned(),
            status: r.status().as_str().to_owned(),
            subject_id: r.subject.id.to_string(),
            parent: r.parent.as_ref().map(RequestId::to_string),
            related_requests: r.related.iter().map(RequestId::to_string).collect(),
            created_at: r.created_at,
            due_at: r.due_at,
            legal_deadline: r.legal_deadline,
            overdue: r.is_overdue(now),
        }
    }
}

fn value(v: impl Serialize) -> Value {
    serde_json::to_value(v).expect("wire views serialize to JSON")
}

/// One per-service task, as JSON.
pub fn task(t: &Task) -> Value {
    value(TaskView::new(t))
}

/// A request with its tasks and related requests, as JSON.
pub fn request(r: &Request, tasks: &[Task], related: &[Request], now: DateTime<Utc>) -> Value {
    value(RequestView::new(r, tasks, related, now))
}

/// A task waiting on a person, as JSON.
pub fn waiting_task(w: &dsr_engine::manual::WaitingTask) -> Value {
    value(WaitingTaskView::new(w))
}

/// A request as one row of a list, as JSON.
pub fn request_summary(r: &Request, now: DateTime<Utc>) -> Value {
    value(RequestSummaryView::new(r, now))
}

/// A request as one row of a list, as JSON, with the tasks of it that wait on a person
/// (`waitingOn`, only when there are some: `dsr request list`).
pub fn request_summary_waiting(
    r: &Request,
    waiting: &[&dsr_engine::manual::WaitingTask],
    now: DateTime<Utc>,
) -> Value {
    let mut v = request_summary(r, now);
    if !waiting.is_empty() {
        v["waitingOn"] = waiting.iter().map(|w| waiting_task(w)).collect();
    }
    v
}
