//! Services a person answers by hand (G-18: when no API can be used, a person must still
//! be able to answer the request).
//!
//! A `kind = "manual"` service names an assignee (a person or team) and instructions.
//! A worker that claims one of its tasks does not call it: the task becomes
//! [`TaskStatus::Waiting`] with the assignee and instructions recorded on it
//! ([`ManualTask`]) and a `task.waiting` audit entry. The request stays in progress.
//! The person then records their answer with [`Engine::complete_task`] (`dsr task
//! complete`): done, nothing found or failed, with an evidence file whose name and
//! SHA-256 digest go into the audit log (and, for an export, whose bytes and any records
//! given as JSON become the service's part of the signed package). Completing the last
//! open task settles the request exactly as a worker would (package, erasure of dsr's
//! own copies, …).
//!
//! Reminders are facts, not messages (dsr sends no mail): [`reminder_due`] says which
//! reminder a waiting task is due for — `before_due` once the due date is within the
//! service's `remind_before_hours`, `overdue` once it has passed — and
//! [`Engine::remind`] records each one once per task (a `task.reminder` audit entry and
//! the reminder on the task), so polling never repeats one.

use crate::audit::{AuditAction, AuditEvent, sha256_hex};
use crate::config::ServiceConfig;
use crate::engine::Engine;
use crate::service::{Category, ErasureMode, ManualSpec, Service, ServiceInfo};
use crate::service::{Erased, KeepRule};
use crate::state::{self, TaskEvent};
use crate::store::{Change, RequestWrite, TaskWrite};
use crate::types::{
    Action, Answer, Attachment, Evidence, ExportRecord, ManualTask, Outcome, PersonAnswer,
    Reminder, ReminderKind, Replacement, Request, RequestId, Task, TaskStatus,
};
use crate::{Error, Result, ServiceCall, ServiceError};
use async_trait::async_trait;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use dsr_model::RequestType;
use serde_json::{Value, json};

/// The default lead time of the `before_due` reminder, in hours.
pub const DEFAULT_REMIND_BEFORE_HOURS: u32 = 24;
/// The longest lead time accepted (a month).
pub const MAX_REMIND_BEFORE_HOURS: u32 = 744;
/// The largest evidence file accepted (it is kept in an export's package).
pub const MAX_EVIDENCE_BYTES: usize = 16 * 1024 * 1024;
/// The most records one answer may give.
pub const MAX_RECORDS: usize = 10_000;
/// The longest note, assignee or instructions text, in bytes.
pub const MAX_TEXT: usize = 4096;

fn check_text(what: &str, v: &str, max: usize) -> std::result::Result<(), String> {
    if v.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if v.len() > max {
        return Err(format!(
            "{what} is {} bytes long: at most {max} are accepted",
            v.len()
        ));
    }
    if let Some(c) = v
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(format!(
            "{what} contains the control character U+{:04X}",
            c as u32
        ));
    }
    Ok(())
}

/// Checks a `kind = "manual"` entry: an assignee and instructions, a lead time within
/// a month.
pub fn check_config(c: &ServiceConfig) -> std::result::Result<(), String> {
    let assignee = c.assignee.as_deref().ok_or(
        "kind = \"manual\" needs `assignee` (the person or team who answers, e.g. \"dpo@example.com\")",
    )?;
    check_text("assignee", assignee, 256)?;
    let instructions = c.instructions.as_deref().ok_or(
        "kind = \"manual\" needs `instructions` (what the assignee must do, e.g. \"search the paper archive by name and postcode\")",
    )?;
    check_text("instructions", instructions, MAX_TEXT)?;
    if let Some(h) = c.remind_before_hours
        && h > MAX_REMIND_BEFORE_HOURS
    {
        return Err(format!(
            "remind_before_hours = {h} is not accepted (0 to {MAX_REMIND_BEFORE_HOURS}: at most a month; 0 reminds only when overdue)"
        ));
    }
    Ok(())
}

/// A service a person answers (`kind = "manual"`). The worker never calls its
/// operations; they fail permanently if something else does.
#[derive(Debug, Clone)]
pub struct ManualService {
    info: ServiceInfo,
    spec: ManualSpec,
}

impl ManualService {
    /// A manual service.
    pub fn new(info: ServiceInfo, spec: ManualSpec) -> Self {
        ManualService { info, spec }
    }

    /// From a validated `kind = "manual"` entry.
    pub fn from_config(c: &ServiceConfig) -> Self {
        let mut info = ServiceInfo::from_config(
            c,
            &["(whatever the assignee finds)"],
            &[Category::CustomerRelationship],
            false,
        );
        if info.description.is_empty() {
            info.description = format!(
                "answered by hand by {}",
                c.assignee.as_deref().unwrap_or("?")
            );
        }
        ManualService {
            info,
            spec: ManualSpec {
                assignee: c.assignee.clone().unwrap_or_default(),
                instructions: c.instructions.clone().unwrap_or_default(),
                remind_before_hours: c.remind_before_hours.unwrap_or(DEFAULT_REMIND_BEFORE_HOURS),
            },
        }
    }

    fn refuse(&self) -> ServiceError {
        ServiceError::permanent(format!(
            "service {} is answered by {} by hand: record the answer with `dsr task complete`",
            self.info.name, self.spec.assignee
        ))
    }
}

#[async_trait]
impl Service for ManualService {
    fn info(&self) -> &ServiceInfo {
        &self.info
    }
    async fn export(
        &self,
        _call: &ServiceCall,
    ) -> std::result::Result<Vec<ExportRecord>, ServiceError> {
        Err(self.refuse())
    }
    async fn update(
        &self,
        _call: &ServiceCall,
        _r: &[Replacement],
    ) -> std::result::Result<u64, ServiceError> {
        Err(self.refuse())
    }
    async fn erase(
        &self,
        _call: &ServiceCall,
        _keep: &[KeepRule],
    ) -> std::result::Result<Erased, ServiceError> {
        Err(self.refuse())
    }
    fn manual(&self) -> Option<&ManualSpec> {
        Some(&self.spec)
    }
}

/// The reminder a waiting task is due for now, if any: `overdue` once its request is
/// past a due date (service target or legal deadline), else `before_due` once the
/// service target is within `lead_hours` (never with 0); each only if not recorded yet.
pub fn reminder_due(
    task: &Task,
    request: &Request,
    lead_hours: u32,
    now: DateTime<Utc>,
) -> Option<ReminderKind> {
    if task.status != TaskStatus::Waiting {
        return None;
    }
    let recorded = |k: ReminderKind| {
        task.manual
            .as_ref()
            .is_some_and(|m| m.reminders.iter().any(|r| r.kind == k))
    };
    if request.is_overdue(now) {
        return (!recorded(ReminderKind::Overdue)).then_some(ReminderKind::Overdue);
    }
    let lead = Duration::hours(i64::from(lead_hours));
    let from = request
        .due_at
        .min(request.legal_deadline)
        .checked_sub_signed(lead)?;
    (lead_hours > 0 && now >= from && !recorded(ReminderKind::BeforeDue))
        .then_some(ReminderKind::BeforeDue)
}

/// A person's answer to a manual task, as given to [`Engine::complete_task`].
#[derive(Debug, Clone)]
pub struct Completion {
    /// Done, nothing found, or failed.
    pub answer: Answer,
    /// Who answers (recorded).
    pub by: String,
    /// The evidence file's name (its folder is dropped).
    pub evidence_name: String,
    /// The evidence file's bytes.
    pub evidence: Vec<u8>,
    /// Export only: the records found, each a JSON object (they become the service's
    /// records in the package).
    pub records: Vec<Value>,
    /// Update / delete only: how many records were rectified or erased.
    pub count: Option<u64>,
    /// A note (sealed in the audit log).
    pub note: Option<String>,
}

impl Completion {
    fn check(&self, ty: RequestType) -> Result<()> {
        let bad = |m: String| Error::Invalid(m);
        check_text("--by (who answers)", &self.by, 256).map_err(bad)?;
        check_text("the evidence file name", &self.evidence_name, 255).map_err(bad)?;
        if self.evidence.len() > MAX_EVIDENCE_BYTES {
            return Err(bad(format!(
                "the evidence file {} is {} bytes: at most {MAX_EVIDENCE_BYTES} are accepted (attach a summary, keep the rest in your own records)",
                self.evidence_name,
                self.evidence.len()
            )));
        }
        if let Some(n) = &self.note {
            check_text("--note", n, MAX_TEXT).map_err(bad)?;
        }
        let export = matches!(ty, RequestType::Export | RequestType::Portability);
        if !self.records.is_empty() {
            if !export {
                return Err(bad(format!(
                    "records are only given for an export or portability request; this is a {ty} request (give --count N instead)"
                )));
            }
            if self.answer != Answer::Done {
                return Err(bad(format!(
                    "records are only given with --outcome done (this answer is {})",
                    self.answer
                )));
            }
            if self.records.len() > MAX_RECORDS {
                return Err(bad(format!(
                    "{} records given: at most {MAX_RECORDS} are accepted",
                    self.records.len()
                )));
            }
            if let Some(i) = self.records.iter().position(|r| !r.is_object()) {
                return Err(bad(format!(
                    "record {} is not a JSON object (each record is an object of field: value)",
                    i + 1
                )));
            }
        }
        if let Some(n) = self.count {
            if export {
                return Err(bad(format!(
                    "--count is for update and delete requests; this is a {ty} request (give the records found with --records FILE)"
                )));
            }
            if n > 0 && self.answer != Answer::Done {
                return Err(bad(format!(
                    "--count {n} contradicts --outcome {}",
                    self.answer
                )));
            }
        }
        Ok(())
    }
}

/// A task waiting on a person, with its request.
#[derive(Debug, Clone)]
pub struct WaitingTask {
    /// The request.
    pub request: Request,
    /// The task (status `waiting`, with its [`ManualTask`]).
    pub task: Task,
    /// The reminder it is due for now (not recorded yet), if any.
    pub reminder_due: Option<ReminderKind>,
    /// Whether its request is past a due date.
    pub overdue: bool,
}

/// A reminder [`Engine::remind`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminded {
    /// The request.
    pub request_id: RequestId,
    /// The service.
    pub service: String,
    /// To whom.
    pub assignee: String,
    /// Which reminder.
    pub kind: ReminderKind,
}

/// What [`Engine::complete_task`] did.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The request after the answer (completed if it was its last open task).
    pub request: Request,
    /// The task after the answer.
    pub task: Task,
    /// Whether the request finished with it.
    pub request_finished: bool,
}

/// A content type from a file name's extension (what a person opening the package
/// expects); `application/octet-stream` otherwise.
pub fn content_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "json" => "application/json",
        "csv" => "text/csv",
        "txt" | "log" => "text/plain",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "zip" => "application/zip",
        "eml" => "message/rfc822",
        _ => "application/octet-stream",
    }
}

/// The outcome a person's answer records for `service` on a request of type `ty`.
fn outcome_of(
    c: &Completion,
    evidence: &Evidence,
    ty: RequestType,
    info: Option<&ServiceInfo>,
    assignee: &str,
    now: DateTime<Utc>,
) -> Outcome {
    let mut o = Outcome {
        action: Action::Failed,
        records: 0,
        attachments: 0,
        kept: Vec::new(),
        data: Vec::new(),
        error: None,
        blind_spots: Vec::new(),
    };
    if c.answer == Answer::Failed {
        o.error = Some(
            c.note
                .clone()
                .unwrap_or_else(|| format!("{assignee} could not answer it by hand")),
        );
        return o;
    }
    match ty {
        RequestType::Export | RequestType::Portability => {
            let category = info
                .and_then(|i| i.categories.first().copied())
                .unwrap_or(Category::CustomerRelationship);
            o.action = Action::Exported;
            o.records = c.records.len() as u64;
            o.data = c
                .records
                .iter()
                .map(|r| ExportRecord {
                    category,
                    provided: category != Category::Derived,
                    data: r.clone(),
                    attachments: Vec::new(),
                })
                .collect();
            // How the service was answered, with the evidence digest; when something
            // was found, the evidence file itself (what the person extracted).
            let attachments = if c.answer == Answer::Done {
                o.attachments = 1;
                vec![Attachment {
                    name: evidence.name.clone(),
                    content_type: content_type(&evidence.name).into(),
                    content_base64: base64::engine::general_purpose::STANDARD.encode(&c.evidence),
                }]
            } else {
                Vec::new()
            };
            o.data.push(ExportRecord {
                category,
                provided: true,
                data: json!({
                    "answered_by_person": {
                        "assignee": assignee,
                        "answered_by": c.by,
                        "answered_at": now,
                        "outcome": c.answer.as_str(),
                        "records": c.records.len(),
                    },
                    "evidence": evidence,
                }),
                attachments,
            });
        }
        RequestType::Update => {
            o.action = Action::Updated;
            o.records = c.count.unwrap_or(0);
        }
        RequestType::Delete => {
            o.action = match info.map(|i| i.erasure) {
                Some(ErasureMode::Anonymize) => Action::Anonymized,
                _ => Action::Deleted,
            };
            o.records = c.count.unwrap_or(0);
        }
    }
    o
}

impl Engine {
    /// The tasks waiting on a person, oldest request first, with the reminder each is
    /// due for and whether it is overdue.
    pub async fn waiting_tasks(&self) -> Result<Vec<WaitingTask>> {
        let now = self.clock.now();
        let tasks = self
            .store
            .tasks_with_status(&self.tenant, TaskStatus::Waiting)
            .await?;
        let mut out: Vec<WaitingTask> = Vec::with_capacity(tasks.len());
        for t in tasks {
            let request = match out.iter().find(|w| w.request.id == t.request_id) {
                Some(w) => w.request.clone(),
                None => match self.store.request(&self.tenant, &t.request_id).await? {
                    Some(r) => r,
                    None => continue,
                },
            };
            let lead = self
                .services
                .get(&t.service)
                .and_then(|s| s.manual())
                .map_or(DEFAULT_REMIND_BEFORE_HOURS, |m| m.remind_before_hours);
            out.push(WaitingTask {
                reminder_due: reminder_due(&t, &request, lead, now),
                overdue: request.is_overdue(now),
                request,
                task: t,
            });
        }
        out.sort_by(|a, b| {
            (a.request.created_at, &a.request.id, &a.task.service).cmp(&(
                b.request.created_at,
                &b.request.id,
                &b.task.service,
            ))
        });
        Ok(out)
    }

    /// Records every reminder due now (each once per task: a `task.reminder` audit
    /// entry and the reminder on the task). Returns what it recorded; a task that moved
    /// meanwhile is left for the next call.
    pub async fn remind(&self, actor: &str) -> Result<Vec<Reminded>> {
        let mut done = Vec::new();
        for w in self.waiting_tasks().await? {
            let Some(kind) = w.reminder_due else {
                continue;
            };
            let now = self.clock.now();
            let mut t = w.task.clone();
            let Some(m) = t.manual.as_mut() else {
                continue;
            };
            m.reminders.push(Reminder { kind, at: now });
            let assignee = m.assignee.clone();
            t.version += 1;
            t.updated_at = now;
            let mut change = Change::new(self.tenant.clone(), now);
            change.audit.push(
                AuditEvent::request(
                    actor,
                    AuditAction::TaskReminder,
                    w.request.id.as_str(),
                    json!({
                        "reminder": kind.as_str(),
                        "assignee": assignee,
                        "due_at": w.request.due_at,
                        "legal_deadline": w.request.legal_deadline,
                    }),
                )
                .with_service(&t.service),
            );
            change.tasks.push(TaskWrite {
                task: t,
                expected_version: Some(w.task.version),
            });
            match self.commit(change).await {
                Ok(()) => done.push(Reminded {
                    request_id: w.request.id.clone(),
                    service: w.task.service.clone(),
                    assignee,
                    kind,
                }),
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Records a person's answer to the task of `service` in request `id` (it must be
    /// waiting on a person): its outcome, the evidence's name and SHA-256 digest in the
    /// audit log, and — the request's last open task answered — the request settled as
    /// a worker settles it (package of a completed export, erasure of dsr's copies of a
    /// completed delete).
    pub async fn complete_task(
        &self,
        id: &RequestId,
        service: &str,
        c: Completion,
    ) -> Result<Completed> {
        let mut last = None;
        for _ in 0..8 {
            let (mut req, mut tasks) = self.get(id).await?;
            c.check(req.ty)?;
            let Some(pos) = tasks.iter().position(|t| t.service == service) else {
                return Err(Error::Invalid(format!(
                    "request {id} has no task for service {service:?} (its services: {})",
                    tasks
                        .iter()
                        .map(|t| t.service.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            };
            let cur = tasks[pos].clone();
            if cur.manual.is_none() && !cur.status.is_waiting() {
                return Err(Error::Invalid(format!(
                    "task {service} of request {id} is carried out by a worker ({}): only tasks of a manual service (kind = \"manual\") are completed by hand",
                    cur.status
                )));
            }
            let done = c.answer != Answer::Failed;
            let (to, effects) =
                state::task(cur.status, TaskEvent::Answered { done }).map_err(|e| {
                    Error::not_allowed(
                        format!("task {service} of request {id}"),
                        cur.status,
                        "complete",
                        e.hint.trim_start_matches("; "),
                    )
                })?;
            let now = self.clock.now();
            let evidence = Evidence {
                name: c.evidence_name.clone(),
                sha256: sha256_hex(&c.evidence),
                bytes: c.evidence.len() as u64,
            };
            let mut manual = cur.manual.clone().unwrap_or_else(|| ManualTask {
                assignee: "?".into(),
                instructions: String::new(),
                since: now,
                reminders: Vec::new(),
                answer: None,
            });
            let info = self.services.get(service).map(|s| s.info());
            let outcome = outcome_of(&c, &evidence, req.ty, info, &manual.assignee, now);
            manual.answer = Some(PersonAnswer {
                answer: c.answer,
                by: c.by.clone(),
                at: now,
                evidence: evidence.clone(),
                note: c.note.clone(),
            });
            let mut change = Change::new(self.tenant.clone(), now);
            let mut detail = json!({
                "answer": c.answer.as_str(),
                "action": outcome.action.as_str(),
                "records": outcome.records,
                "attachments": outcome.attachments,
                "assignee": manual.assignee,
                "evidence_name": evidence.name,
                "evidence_sha256": evidence.sha256,
                "evidence_bytes": evidence.bytes,
                "note": c.note,
            });
            let action = if done {
                AuditAction::TaskDone
            } else {
                detail["error"] = Value::from(outcome.error.clone());
                AuditAction::TaskFailed
            };
            change.audit.push(
                AuditEvent::request(&c.by, action, id.as_str(), detail).with_service(service),
            );
            let mut t = cur.clone();
            t.status = to;
            t.version += 1;
            t.updated_at = now;
            t.outcome = Some(outcome);
            t.last_error = None;
            t.manual = Some(manual);
            tasks[pos] = t.clone();
            change.tasks.push(TaskWrite {
                task: t.clone(),
                expected_version: Some(cur.version),
            });
            let expected = req.version;
            let settled = if effects.contains(&state::TaskEffect::SettleRequest) {
                crate::worker::settle(&mut req, &tasks, now, &mut change)?
            } else {
                crate::worker::Settled::Open
            };
            let finished = settled.finished();
            if finished && crate::worker::erases(&req) {
                self.add_erasure(&mut req, now, &mut change).await?;
                // The erasure also removes the free text of this very answer.
                for w in change
                    .tasks
                    .iter_mut()
                    .filter(|w| w.task.request_id == req.id)
                {
                    crate::privacy::redact_task(&mut w.task);
                }
            }
            let build_package = settled.build_package()
                && !(finished
                    && !crate::worker::erases(&req)
                    && self.redact_if_erased(&mut req, now, &mut change).await?);
            req.version = expected + 1;
            req.updated_at = now;
            if build_package {
                // Built on first download if this fails.
                let _ = self.add_package(&req, &tasks, now, &mut change);
            }
            change.requests.push(RequestWrite {
                request: req.clone(),
                expected_version: Some(expected),
            });
            match self.commit(change).await {
                Ok(()) => {
                    return Ok(Completed {
                        request: req,
                        task: t,
                        request_finished: finished,
                    });
                }
                Err(Error::Conflict(what)) => {
                    last = Some(Error::Conflict(what));
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Conflict(format!("request {id}"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance::sample_request;
    use chrono::TimeZone;
    use dsr_model::TenantId;

    fn waiting(req: &Request, at: DateTime<Utc>) -> Task {
        let mut t = Task::new(req, "archive", at);
        t.status = TaskStatus::Waiting;
        t.manual = Some(ManualTask {
            assignee: "records team".into(),
            instructions: "search the archive".into(),
            since: at,
            reminders: Vec::new(),
            answer: None,
        });
        t
    }

    #[test]
    fn reminders_come_once_each_before_the_due_date_and_when_overdue() {
        let t0 = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
        let tenant = TenantId::new("t").unwrap();
        let mut req = sample_request(&tenant, "c-1", RequestType::Export, t0);
        req.due_at = t0 + Duration::days(2);
        let mut t = waiting(&req, t0);
        let at = |h: i64| t0 + Duration::hours(h);
        assert_eq!(reminder_due(&t, &req, 24, at(1)), None);
        assert_eq!(
            reminder_due(&t, &req, 24, at(24)),
            Some(ReminderKind::BeforeDue)
        );
        assert_eq!(
            reminder_due(&t, &req, 0, at(47)),
            None,
            "0: no lead reminder"
        );
        t.manual.as_mut().unwrap().reminders.push(Reminder {
            kind: ReminderKind::BeforeDue,
            at: at(24),
        });
        assert_eq!(reminder_due(&t, &req, 24, at(30)), None, "recorded once");
        assert_eq!(
            reminder_due(&t, &req, 24, at(49)),
            Some(ReminderKind::Overdue)
        );
        t.manual.as_mut().unwrap().reminders.push(Reminder {
            kind: ReminderKind::Overdue,
            at: at(49),
        });
        assert_eq!(reminder_due(&t, &req, 24, at(100)), None);
        // A task past its due date when first looked at gets the overdue one only.
        let fresh = waiting(&req, t0);
        assert_eq!(
            reminder_due(&fresh, &req, 24, at(60)),
            Some(ReminderKind::Overdue)
        );
        t.status = TaskStatus::Done;
        assert_eq!(reminder_due(&t, &req, 24, at(200)), None);
    }

    #[test]
    fn a_manual_entry_needs_an_assignee_and_instructions() {
        let mut c = ServiceConfig::new(
            "archive",
            crate::config::ServiceKind::Manual,
            ErasureMode::Delete,
        );
        assert!(check_config(&c).unwrap_err().contains("assignee"));
        c.assignee = Some("records team".into());
        assert!(check_config(&c).unwrap_err().contains("instructions"));
        c.instructions = Some("search\u{7}".into());
        assert!(check_config(&c).unwrap_err().contains("U+0007"));
        c.instructions = Some("search the archive\nby name".into());
        check_config(&c).unwrap();
        let s = ManualService::from_config(&c);
        assert_eq!(s.manual().unwrap().remind_before_hours, 24);
    }

    #[test]
    fn answers_are_checked_against_the_request_type() {
        let c = Completion {
            answer: Answer::NothingFound,
            by: "ana".into(),
            evidence_name: "search.png".into(),
            evidence: vec![1, 2, 3],
            records: vec![json!({"a": 1})],
            count: None,
            note: None,
        };
        let e = c.check(RequestType::Export).unwrap_err().to_string();
        assert!(e.contains("--outcome done"), "{e}");
        let e = c.check(RequestType::Delete).unwrap_err().to_string();
        assert!(e.contains("--count"), "{e}");
        let c = Completion {
            answer: Answer::Done,
            records: vec![json!([1])],
            ..c
        };
        let e = c.check(RequestType::Export).unwrap_err().to_string();
        assert!(e.contains("record 1 is not a JSON object"), "{e}");
        let c = Completion {
            records: Vec::new(),
            count: Some(3),
            ..c
        };
        assert!(c.check(RequestType::Delete).is_ok());
        assert!(c.check(RequestType::Export).is_err());
    }
}
