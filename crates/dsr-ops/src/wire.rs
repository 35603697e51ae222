//! The JSON shapes of requests and tasks (camelCase), built explicitly from the
//! engine's types: the CLI's `--json` output and the server's bodies are the same, and a
//! change to either shows up here in review.

use crate::ids::short_id;
use chrono::{DateTime, Utc};
use dsr_engine::{Request, RequestId, Task, TaskStatus};
use serde_json::{Value, json};

/// One per-service task.
pub fn task(t: &Task) -> Value {
    let o = t.outcome.as_ref();
    json!({
        "service": t.service,
        "status": t.status.as_str(),
        "attempts": t.attempt,
        "action": o.map(|o| o.action.as_str()),
        "records": o.map(|o| o.records),
        "attachments": o.map(|o| o.attachments),
        "kept": o.map(|o| o.kept.iter().map(|k| json!({"what": k.what, "records": k.records, "ground": k.ground})).collect::<Vec<_>>()),
        "error": o.and_then(|o| o.error.clone()).or_else(|| t.last_error.clone()),
        "nextAttemptAt": (t.status == TaskStatus::RetryWait).then_some(t.next_at),
    })
}

/// A request with its tasks and related requests.
pub fn request(r: &Request, tasks: &[Task], related: &[Request], now: DateTime<Utc>) -> Value {
    json!({
        "id": r.id.as_str(),
        "shortId": short_id(&r.id),
        "type": r.ty.as_str(),
        "article": r.ty.article(),
        "status": r.status.as_str(),
        "subject": {
            "id": r.subject.id.as_str(),
            "kind": r.subject.kind.as_str(),
            "name": r.subject.names.first(),
            "mergeSet": r.merge_set.as_ref().map(|m| m.as_str()),
        },
        "requestedBy": r.requested_by,
        "parent": r.parent.as_ref().map(RequestId::as_str),
        "relatedRequests": related.iter().map(|x| json!({
            "id": x.id.as_str(),
            "subjectId": x.subject.id.as_str(),
            "status": x.status.as_str(),
        })).collect::<Vec<_>>(),
        "replacements": r.replacements.iter().map(|x| json!({"field": x.field, "old": x.old, "new": x.new})).collect::<Vec<_>>(),
        "createdAt": r.created_at,
        "dueAt": r.due_at,
        "legalDeadline": r.legal_deadline,
        "overdue": r.is_overdue(now),
        "extensions": r.extensions.iter().map(|e| json!({"days": e.days, "reason": e.reason, "by": e.by, "at": e.at})).collect::<Vec<_>>(),
        "hold": r.hold.as_ref().map(|h| json!({"reason": h.reason, "since": h.since})),
        "decision": r.decision.as_ref().map(|d| json!({"decision": if d.proceed {"proceed"} else {"refuse"}, "reason": d.reason, "by": d.by, "at": d.at})),
        "handedOver": r.handed_over.as_ref().map(|h| json!({"at": h.at, "to": h.to, "by": h.by, "manifestSha256": h.manifest_sha256})),
        "finishedAt": r.finished_at,
        "retries": r.retries,
        "tasks": tasks.iter().map(task).collect::<Vec<_>>(),
    })
}

/// A request as one row of a list.
pub fn request_summary(r: &Request, now: DateTime<Utc>) -> Value {
    json!({
        "id": r.id.as_str(),
        "shortId": short_id(&r.id),
        "type": r.ty.as_str(),
        "status": r.status.as_str(),
        "subjectId": r.subject.id.as_str(),
        "parent": r.parent.as_ref().map(RequestId::as_str),
        "relatedRequests": r.related.iter().map(RequestId::as_str).collect::<Vec<_>>(),
        "createdAt": r.created_at,
        "dueAt": r.due_at,
        "legalDeadline": r.legal_deadline,
        "overdue": r.is_overdue(now),
    })
}
