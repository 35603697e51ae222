//! dsr's own copies of personal data: a completed erasure reaches the engine's requests,
//! tasks, packages and audit log; retention purges packages and request data with a
//! moved clock; erased identifiers are recognised again (suppression).

mod common;

use chrono::Duration;
use common::*;
use dsr_engine::privacy::Retention;
use dsr_engine::{Replacement, RequestStatus};
use dsr_model::{RequestType, Subject, SubjectId, SubjectKind};

/// Everything the engine holds for the tenant, as text: requests, tasks, audit
/// entries and stored packages.
async fn everything(f: &Fixture) -> String {
    let mut out = String::new();
    let all = f.engine.list(&Default::default()).await.unwrap();
    for r in &all {
        out.push_str(&serde_json::to_string(r).unwrap());
        for t in f.engine.get(&r.id).await.unwrap().1 {
            out.push_str(&serde_json::to_string(&t).unwrap());
        }
        if let Ok(Some(p)) = f.engine.store().package(&tenant(), &r.id).await {
            out.push_str(&p);
        }
    }
    let (entries, _) = f.engine.store().audit(&tenant()).await.unwrap();
    out.push_str(&serde_json::to_string(&entries).unwrap());
    out
}

/// Whether `text` holds `value` as a value: not as a piece of a UUID or a hash (an id
/// such as `c-9` also occurs inside `…-afbc-9d1e-…`).
fn holds(text: &str, value: &str) -> bool {
    text.match_indices(value).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + value.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

#[tokio::test]
async fn an_erasure_reaches_every_copy_inside_dsr_and_the_audit_chain_still_verifies() {
    let f = fixture();
    // Export by email, hand it over to a named person.
    let export = f
        .create(RequestType::Export, "email:zoe@example.fr")
        .await
        .unwrap()
        .request;
    f.run().await;
    let pkg = f.engine.package(&export.id).await.unwrap();
    assert!(
        pkg.contains("Zoë Faure"),
        "the package holds the data before"
    );
    f.engine
        .hand_over(&export.id, "Zoë Faure, by registered post", "dpo")
        .await
        .unwrap();
    // Rectify the email.
    let mut opts =
        dsr_engine::CreateOptions::new(RequestType::Update, dsr_engine::Target::Id("c-9".into()));
    opts.replacements = vec![Replacement::parse("email:zoe@example.fr=zoe@faure.example").unwrap()];
    let update = f.engine.create(&f.dir, opts).await.unwrap().request;
    f.run().await;
    let before = everything(&f).await;
    assert!(before.contains("zoe@faure.example") && before.contains("Zoë Faure"));

    // Erase.
    let delete = f
        .create(RequestType::Delete, "id=c-9")
        .await
        .unwrap()
        .request;
    f.run().await;
    assert_eq!(f.status(&delete).await, RequestStatus::Completed);

    let after = everything(&f).await;
    for value in [
        "Zoë Faure",
        "Faure",
        "zoe@example.fr",
        "zoe@faure.example",
        "registered post",
        "c-9",
        "gold",
    ] {
        assert!(
            !holds(&after, value),
            "{value:?} is still held by dsr after the erasure"
        );
    }
    // The earlier package is gone and cannot be rebuilt or handed over again.
    let e = f.engine.package(&export.id).await.unwrap_err().to_string();
    assert!(
        e.contains("erased by delete request") && e.contains("art. 17"),
        "{e}"
    );
    assert!(f.engine.hand_over(&export.id, "x", "op").await.is_err());
    let (exp, tasks) = f.engine.get(&export.id).await.unwrap();
    assert!(exp.redacted.is_some() && exp.package_removed.is_some());
    assert!(exp.subject.id.as_str().starts_with("s-"));
    assert!(
        tasks
            .iter()
            .all(|t| t.outcome.as_ref().unwrap().data.is_empty())
    );
    let (upd, _) = f.engine.get(&update.id).await.unwrap();
    assert_eq!(upd.replacements[0].old, "[erased]");
    assert_eq!(
        upd.replacements[0].field, "email",
        "the fact of which field stays"
    );

    // The chain verifies; the erasure's facts are provable.
    let report = f.engine.verify_audit().await.unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    let (entries, _) = f.engine.store().audit(&tenant()).await.unwrap();
    let of_delete: Vec<&str> = entries
        .iter()
        .filter(|e| e.event.request_id.as_deref() == Some(delete.id.as_str()))
        .map(|e| e.event.action.as_str())
        .collect();
    for a in [
        "request.received",
        "task.done",
        "request.completed",
        "subject.erased_from_dsr",
    ] {
        assert!(of_delete.contains(&a), "{a} missing: {of_delete:?}");
    }
    // Whoever holds the database can still check a given id against the log.
    let sref = f
        .engine
        .subject_ref(&SubjectId::new("c-9").unwrap())
        .await
        .unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.event.subject_id.as_deref() == Some(sref.as_str()))
    );
    // The subject's sealing key is gone: the hand-over recipient cannot be read again.
    assert_eq!(
        f.engine
            .store()
            .subject_key(&tenant(), &sref, false)
            .await
            .unwrap(),
        None
    );
    let handed = entries
        .iter()
        .find(|e| e.event.action == "package.handed_over")
        .unwrap();
    assert!(handed.event.detail["to"].get("sealed").is_some());

    // Suppression: the same person in another written form is recognised.
    let mut again = Subject::new(
        SubjectKind::ExternalContact,
        SubjectId::new("c-99").unwrap(),
    );
    again.emails.push("  ZOE@Example.FR".into());
    let hits = f.engine.suppressed(&again).await.unwrap();
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| h.request_id == delete.id), "{hits:?}");
    let mut stranger = Subject::new(
        SubjectKind::ExternalContact,
        SubjectId::new("c-98").unwrap(),
    );
    stranger.emails.push("someone@example.fr".into());
    assert!(f.engine.suppressed(&stranger).await.unwrap().is_empty());
}

#[tokio::test]
async fn sealed_audit_fields_of_other_subjects_stay_readable() {
    let f = fixture();
    let export = f
        .create(RequestType::Export, "id=u-2")
        .await
        .unwrap()
        .request;
    f.run().await;
    f.engine
        .hand_over(&export.id, "Pieter de Vries", "dpo")
        .await
        .unwrap();
    let sref = f
        .engine
        .subject_ref(&SubjectId::new("u-2").unwrap())
        .await
        .unwrap();
    let key = f
        .engine
        .store()
        .subject_key(&tenant(), &sref, false)
        .await
        .unwrap()
        .expect("a live subject has a key");
    let (entries, _) = f.engine.store().audit(&tenant()).await.unwrap();
    let handed = entries
        .iter()
        .find(|e| e.event.action == "package.handed_over")
        .unwrap();
    assert!(!serde_json::to_string(&entries).unwrap().contains("Pieter"));
    let to = dsr_engine::privacy::open(
        &key,
        &dsr_engine::privacy::seal_context("acme", "to"),
        &handed.event.detail["to"],
    );
    assert_eq!(to, Some(serde_json::json!("Pieter de Vries")));
}

#[tokio::test]
async fn packages_expire_and_request_data_is_purged_with_a_moved_clock() {
    let mut f = fixture();
    f.rebuild(|e| {
        e.with_retention(Retention {
            package_days: 30,
            package_days_after_hand_over: 0,
            request_days: 90,
            purge_every_minutes: 0,
        })
    });
    let kept = f
        .create(RequestType::Export, "id=u-2")
        .await
        .unwrap()
        .request;
    let handed = f
        .create(RequestType::Export, "id=d-1")
        .await
        .unwrap()
        .request;
    f.run().await;
    f.engine
        .hand_over(&handed.id, "the data subject", "op")
        .await
        .unwrap();

    // At once: only the handed-over package is due.
    let dry = f.engine.purge(true).await.unwrap();
    assert_eq!(dry.items.len(), 1, "{dry:?}");
    assert_eq!(
        (dry.items[0].request_id.clone(), dry.items[0].what.as_str()),
        (handed.id.clone(), "package")
    );
    assert!(
        f.engine
            .store()
            .package(&tenant(), &handed.id)
            .await
            .unwrap()
            .is_some(),
        "a dry run removes nothing"
    );
    let done = f.engine.purge(false).await.unwrap();
    assert_eq!(
        done.items,
        dry.items
            .iter()
            .cloned()
            .map(|mut i| {
                i.due = done.items[0].due;
                i
            })
            .collect::<Vec<_>>()
    );
    assert!(
        f.engine
            .store()
            .package(&tenant(), &handed.id)
            .await
            .unwrap()
            .is_none()
    );
    let e = f.engine.package(&handed.id).await.unwrap_err().to_string();
    assert!(e.contains("retention"), "{e}");

    // 29 days later the other package is still there; at 31 days it is gone.
    f.clock.advance(Duration::days(29));
    assert!(f.engine.purge(true).await.unwrap().items.is_empty());
    f.clock.advance(Duration::days(2));
    let r = f.engine.purge(false).await.unwrap();
    assert_eq!(r.items.len(), 1, "{r:?}");
    assert_eq!(r.items[0].request_id, kept.id);
    assert!(f.engine.package(&kept.id).await.is_err());
    let (req, _) = f.engine.get(&kept.id).await.unwrap();
    assert!(
        !req.subject.names.is_empty(),
        "request data stays until its own retention"
    );

    // 90 days after completion the personal data of both requests goes; facts stay.
    f.clock.advance(Duration::days(60));
    let r = f.engine.purge(false).await.unwrap();
    assert_eq!(
        r.items.iter().filter(|i| i.what == "personal data").count(),
        2,
        "{r:?}"
    );
    let (req, tasks) = f.engine.get(&kept.id).await.unwrap();
    assert!(req.subject.names.is_empty() && req.subject.emails.is_empty());
    assert_eq!(
        req.subject.id.as_str(),
        "u-2",
        "not an erasure: the id stays"
    );
    assert_eq!(req.status(), RequestStatus::Completed);
    assert!(
        tasks
            .iter()
            .all(|t| t.outcome.as_ref().unwrap().data.is_empty())
    );
    assert!(
        f.engine.purge(false).await.unwrap().items.is_empty(),
        "nothing twice"
    );
    assert!(f.engine.verify_audit().await.unwrap().ok());
    let (entries, _) = f.engine.store().audit(&tenant()).await.unwrap();
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.event.action == "package.purged")
            .count(),
        2
    );
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.event.action == "request.purged")
            .count(),
        2
    );
}

#[tokio::test]
async fn a_request_still_in_flight_when_the_erasure_completes_is_redacted_as_it_finishes() {
    let f = fixture();
    let export = f
        .create(RequestType::Export, "email:zoe@example.fr")
        .await
        .unwrap()
        .request;
    // The export's chat part fails once and waits an hour for its retry.
    f.chat.set_transient_failures(1);
    let slow = dsr_engine::Worker::new(
        f.engine.clone(),
        dsr_engine::WorkerConfig {
            backoff: std::time::Duration::from_secs(3600),
            backoff_cap: std::time::Duration::from_secs(3600),
            ..dsr_engine::WorkerConfig::default()
        },
    );
    slow.tick().await.unwrap();
    assert_eq!(f.status(&export).await, RequestStatus::InProgress);
    // Meanwhile the person is erased.
    let delete = f
        .create(RequestType::Delete, "id=c-9")
        .await
        .unwrap()
        .request;
    for _ in 0..5 {
        slow.tick().await.unwrap();
    }
    assert_eq!(f.status(&delete).await, RequestStatus::Completed);
    // The export finishes after the erasure: nothing of the person stays with it.
    f.clock.advance(Duration::hours(2));
    f.run().await;
    let (r, tasks) = f.engine.get(&export.id).await.unwrap();
    assert!(r.status().is_finished(), "{:?}", r.status());
    let text = format!(
        "{}{}",
        serde_json::to_string(&r).unwrap(),
        serde_json::to_string(&tasks).unwrap()
    );
    for value in ["Zoë Faure", "zoe@example.fr", "c-9"] {
        assert!(
            !holds(&text, value),
            "{value} left in the in-flight request: {text}"
        );
    }
    assert!(
        f.engine.package(&export.id).await.is_err(),
        "no package is made"
    );
    assert!(f.engine.verify_audit().await.unwrap().ok());
}
