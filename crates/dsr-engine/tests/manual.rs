//! Manual services (G-18): a task handed to a person waits on them, reminders come once
//! each, their answer settles the request like a worker's would.

mod common;

use common::*;
use dsr_engine::config::{ServiceConfig, ServiceKind};
use dsr_engine::manual::{Completion, ManualService};
use dsr_engine::package;
use dsr_engine::store::Store as _;
use dsr_engine::{Answer, Engine, ErasureMode, ReminderKind, RequestStatus, TaskStatus};
use dsr_model::RequestType;
use std::sync::Arc;

/// The fixture with a third service, `archive`, answered by the records team.
fn with_archive(mode: ErasureMode) -> Fixture {
    let mut f = fixture();
    let mut c = ServiceConfig::new("archive", ServiceKind::Manual, mode);
    c.assignee = Some("records team".into());
    c.instructions = Some("search the paper archive by name and postcode".into());
    c.remind_before_hours = Some(24);
    let services = f
        .engine
        .services()
        .clone()
        .with(Arc::new(ManualService::from_config(&c)))
        .unwrap();
    let e = Engine::new(tenant(), f.store.clone(), services, f.clock.clone()).unwrap();
    f.engine = Arc::new(e);
    f
}

fn answer(answer: Answer, evidence: &[u8]) -> Completion {
    Completion {
        answer,
        by: "ana (records team)".into(),
        evidence_name: "archive-search.pdf".into(),
        evidence: evidence.to_vec(),
        records: Vec::new(),
        count: None,
        note: Some("box 14, shelf 3".into()),
    }
}

#[tokio::test]
async fn an_export_waits_on_the_person_and_their_answer_completes_it() {
    let f = with_archive(ErasureMode::Delete);
    let out = f.create(RequestType::Export, "id=c-9").await.unwrap();
    let stats = f.worker().run_until_idle().await.unwrap();
    assert_eq!((stats.done, stats.waiting), (2, 1), "{stats:?}");
    let (req, tasks) = f.engine.get(&out.request.id).await.unwrap();
    assert_eq!(
        req.status(),
        RequestStatus::InProgress,
        "waits on the person"
    );
    let archive = tasks.iter().find(|t| t.service == "archive").unwrap();
    assert_eq!(archive.status(), TaskStatus::Waiting);
    let m = archive.manual.as_ref().unwrap();
    assert_eq!(m.assignee, "records team");
    assert!(m.instructions.contains("paper archive"));
    assert_eq!(f.action_counts("task.waiting").await.len(), 1);

    let waiting = f.engine.waiting_tasks().await.unwrap();
    assert_eq!(waiting.len(), 1);
    assert!(!waiting[0].overdue);
    // Due in two days, reminded 24 h before: not yet.
    assert_eq!(waiting[0].reminder_due, None);

    let mut c = answer(Answer::Done, b"%PDF-1.4 scanned card");
    c.records = vec![serde_json::json!({"card": "customer since 1998", "box": 14})];
    let done = f
        .engine
        .complete_task(&out.request.id, "archive", c)
        .await
        .unwrap();
    assert!(done.request_finished);
    assert_eq!(done.request.status(), RequestStatus::Completed);
    assert_eq!(done.task.status(), TaskStatus::Done);
    assert!(f.engine.waiting_tasks().await.unwrap().is_empty());

    let pkg = f.engine.package(&out.request.id).await.unwrap();
    let v = package::verify(&pkg, Some(&f.engine.public_key_hex())).unwrap();
    assert_eq!(v.trusted_key, Some(true));
    let digest = dsr_engine::audit::sha256_hex(b"%PDF-1.4 scanned card");
    assert!(
        pkg.contains(&digest),
        "the evidence digest is in the package"
    );
    assert!(pkg.contains("customer since 1998"));
    assert!(pkg.contains("services/archive/attachments/1-archive-search.pdf"));
    // The audit entry names the evidence by digest; its name and the note are sealed.
    let (entries, _) = f.store.audit(&tenant()).await.unwrap();
    let e = entries
        .iter()
        .find(|e| e.event.action == "task.done" && e.event.service.as_deref() == Some("archive"))
        .unwrap();
    assert_eq!(e.event.actor, "ana (records team)");
    assert_eq!(e.event.detail["evidence_sha256"], digest.as_str());
    assert!(
        e.event.detail["note"].get("sealed").is_some(),
        "{}",
        e.event.detail
    );
    assert!(f.engine.verify_audit().await.unwrap().ok());
    // Answered once: a second answer is refused and says why.
    let err = f
        .engine
        .complete_task(&out.request.id, "archive", answer(Answer::Done, b"x"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("finished"), "{err}");
}

#[tokio::test]
async fn reminders_are_recorded_once_each_and_overdue_tasks_show() {
    let f = with_archive(ErasureMode::Delete);
    let out = f.create(RequestType::Export, "id=c-9").await.unwrap();
    f.run().await;
    assert!(f.engine.remind("operator").await.unwrap().is_empty());
    f.clock.advance(chrono::Duration::hours(30));
    let r = f.engine.remind("operator").await.unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].kind, ReminderKind::BeforeDue);
    assert!(
        f.engine.remind("operator").await.unwrap().is_empty(),
        "no spam"
    );
    f.clock.advance(chrono::Duration::days(2));
    let w = f.engine.waiting_tasks().await.unwrap();
    assert!(w[0].overdue);
    assert_eq!(w[0].reminder_due, Some(ReminderKind::Overdue));
    assert_eq!(f.engine.overdue().await.unwrap()[0].id, out.request.id);
    assert_eq!(f.engine.remind("operator").await.unwrap().len(), 1);
    assert!(f.engine.remind("operator").await.unwrap().is_empty());
    assert_eq!(f.action_counts("task.reminder").await[0].2, 2);
    assert!(f.engine.verify_audit().await.unwrap().ok());
}

#[tokio::test]
async fn a_delete_waiting_on_a_person_can_be_cancelled_and_a_failure_can_be_retried() {
    let f = with_archive(ErasureMode::Anonymize);
    // Only the manual task ran: the request can still be cancelled.
    let mut c = ServiceConfig::new("archive", ServiceKind::Manual, ErasureMode::Delete);
    c.assignee = Some("records team".into());
    c.instructions = Some("shred the paper file".into());
    let only = Engine::new(
        tenant(),
        f.store.clone(),
        dsr_engine::Services::new()
            .with(Arc::new(ManualService::from_config(&c)))
            .unwrap(),
        f.clock.clone(),
    )
    .unwrap();
    let only = Arc::new(only);
    let mut g = with_archive(ErasureMode::Delete);
    g.engine = only.clone();
    let out = g.create(RequestType::Delete, "id=c-9").await.unwrap();
    g.run().await;
    let c = only.cancel(&out.request.id, "operator").await.unwrap();
    assert_eq!(c.status(), RequestStatus::Cancelled);
    assert_eq!(
        only.get(&out.request.id).await.unwrap().1[0].status(),
        TaskStatus::Cancelled
    );

    // A failed answer fails the task; a retry hands it to the person again.
    let out = f.create(RequestType::Delete, "id=u-2").await.unwrap();
    f.run().await;
    let done = f
        .engine
        .complete_task(&out.request.id, "archive", answer(Answer::Failed, b"log"))
        .await
        .unwrap();
    assert_eq!(done.request.status(), RequestStatus::PartiallyFailed);
    assert_eq!(
        done.task.outcome.as_ref().unwrap().error.as_deref(),
        Some("box 14, shelf 3")
    );
    f.engine.retry(&out.request.id, "operator").await.unwrap();
    f.run().await;
    let mut ok = answer(Answer::Done, b"shredding certificate");
    ok.count = Some(2);
    let done = f
        .engine
        .complete_task(&out.request.id, "archive", ok)
        .await
        .unwrap();
    assert_eq!(done.request.status(), RequestStatus::Completed);
    let o = done.task.outcome.unwrap();
    assert_eq!((o.action, o.records), (dsr_engine::Action::Anonymized, 2));
    // The completed erasure redacted the person's answer too (note, file name).
    let (_, tasks) = f.engine.get(&out.request.id).await.unwrap();
    let a = tasks
        .iter()
        .find(|t| t.service == "archive")
        .and_then(|t| t.manual.as_ref())
        .and_then(|m| m.answer.as_ref())
        .unwrap()
        .clone();
    assert_eq!(a.evidence.sha256.len(), 64, "the digest stays");
    assert_eq!(a.evidence.name, "[erased]");
    assert_eq!(a.note.as_deref(), Some("[erased]"));
    assert!(f.engine.verify_audit().await.unwrap().ok());
    // Completing a task that does not wait on a person says so.
    let out = f.create(RequestType::Export, "id=c-9").await.unwrap();
    let err = f
        .engine
        .complete_task(&out.request.id, "crm", answer(Answer::Done, b"x"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("manual service"), "{err}");
    let err = f
        .engine
        .complete_task(&out.request.id, "nope", answer(Answer::Done, b"x"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("its services: archive, chat, crm"), "{err}");
    let _ = Answer::NothingFound;
}
