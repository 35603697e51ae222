//! The request engine end to end on the SQLite store: resolution, merge-set fan-out,
//! duplicates, holds, deadlines, retries, cancellation, packages, audit.

mod common;

use common::*;
use dsr_engine::Clock as _;
use dsr_engine::package;
use dsr_engine::store::{Change, ClaimSpec, Store, TaskWrite};
use dsr_engine::{
    Action, CreateOptions, Error, OnDuplicate, Replacement, RequestStatus, Target, TaskStatus,
    Verdict,
};
use dsr_model::{RequestType, SubjectId, Term};
use std::time::Duration;

#[tokio::test]
async fn an_id_resolves_to_the_subject_with_every_field() {
    let f = fixture();
    let out = f.create(RequestType::Export, "id=c-9").await.unwrap();
    assert_eq!(out.request.subject.id.as_str(), "c-9");
    assert_eq!(out.request.subject.emails, vec!["zoe@example.fr"]);
    assert_eq!(
        out.request.subject.custom.get("loyalty_tier").unwrap(),
        "gold"
    );
    assert!(out.related.is_empty());
    assert_eq!(out.request.status(), RequestStatus::InProgress);
    let out = f.create(RequestType::Export, "externalContactId:c-9").await;
    assert!(matches!(out, Err(Error::Duplicate { .. })), "{out:?}");
    let err = f
        .create(RequestType::Export, "id=nobody")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no subject matches"), "{err}");
}

#[tokio::test]
async fn a_merge_set_member_fans_out_from_the_canonical_contact() {
    let f = fixture();
    let out = f
        .create(RequestType::Delete, "email:JD@example.fr")
        .await
        .unwrap();
    assert_eq!(
        out.request.subject.id.as_str(),
        "c-1",
        "made for the canonical contact"
    );
    let related: Vec<&str> = out.related.iter().map(|r| r.subject.id.as_str()).collect();
    assert_eq!(related, vec!["c-2", "c-3"]);
    assert_eq!(
        out.request.related,
        out.related.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
    );
    for r in &out.related {
        assert_eq!(r.parent.as_ref(), Some(&out.request.id));
        assert_eq!(
            f.engine.get(&r.id).await.unwrap().1.len(),
            2,
            "own tasks per service"
        );
    }
    f.run().await;
    for r in std::iter::once(&out.request).chain(&out.related) {
        let (req, tasks) = f.engine.get(&r.id).await.unwrap();
        assert_eq!(req.status(), RequestStatus::Completed);
        let by: Vec<(String, Action, u64, u64)> = tasks
            .iter()
            .map(|t| {
                let o = t.outcome.as_ref().unwrap();
                (t.service.clone(), o.action, o.records, o.attachments)
            })
            .collect();
        assert_eq!(
            by,
            vec![
                ("chat".into(), Action::Anonymized, 1, 1),
                ("crm".into(), Action::Deleted, 2, 0)
            ]
        );
        assert!(
            req.subject.emails.is_empty(),
            "personal fields minimized after erasure"
        );
    }
    let left: Vec<_> = f
        .crm
        .records()
        .into_iter()
        .filter(|r| r.subject_id.as_deref() == Some("c-2"))
        .collect();
    assert!(left.is_empty());
    assert!(
        f.chat
            .records()
            .iter()
            .all(|r| r.subject_id.as_deref() != Some("c-3"))
    );
    assert!(f.engine.verify_audit().await.unwrap().ok());
}

#[tokio::test]
async fn a_duplicate_in_flight_is_refused_or_returned() {
    let f = fixture();
    let first = f.create(RequestType::Delete, "id=c-1").await.unwrap();
    // Another member of the same merge set, same type: refused while in flight (G-11).
    let err = f.create(RequestType::Delete, "id=c-3").await.unwrap_err();
    match &err {
        Error::Duplicate { existing, .. } => assert_eq!(existing, first.request.id.as_str()),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("already in flight"), "{err}");
    let mut opts = CreateOptions::new(RequestType::Delete, Target::Id("c-2".into()));
    opts.on_duplicate = OnDuplicate::ReturnExisting;
    let again = f.engine.create(&f.dir, opts).await.unwrap();
    assert!(again.existing);
    assert_eq!(again.request.id, first.request.id);
    assert_eq!(again.related.len(), 2);
    // Another type is not a duplicate.
    f.create(RequestType::Export, "id=c-2").await.unwrap();
    f.run().await;
    // Once every related request has finished, a new one is accepted.
    f.create(RequestType::Delete, "id=c-1").await.unwrap();
}

#[tokio::test]
async fn an_ambiguous_term_is_refused_with_the_candidates() {
    let f = fixture();
    let err = f
        .create(RequestType::Export, "name:Jean Dupont")
        .await
        .unwrap_err();
    let Error::Ambiguous { candidates, .. } = &err else {
        panic!("{err:?}")
    };
    let ids: Vec<&str> = candidates.iter().map(|c| c.subject_id.as_str()).collect();
    assert!(ids.contains(&"d-1") && ids.contains(&"c-1"), "{ids:?}");
    assert!(err.to_string().contains("name the one meant"), "{err}");
    // The caller names the subject meant: accepted.
    let mut opts = CreateOptions::new(
        RequestType::Export,
        Target::Term(Term::parse("name:Jean Dupont").unwrap()),
    );
    opts.subject = Some(SubjectId::new("d-1").unwrap());
    let out = f.engine.create(&f.dir, opts).await.unwrap();
    assert_eq!(out.request.subject.id.as_str(), "d-1");
    // Naming a subject the term does not match is refused.
    let mut opts = CreateOptions::new(
        RequestType::Export,
        Target::Term(Term::parse("name:Jean Dupont").unwrap()),
    );
    opts.subject = Some(SubjectId::new("u-1").unwrap());
    let err = f.engine.create(&f.dir, opts).await.unwrap_err();
    assert!(err.to_string().contains("not among the matches"), "{err}");
}

#[tokio::test]
async fn replacements_belong_to_update_requests_only() {
    let f = fixture();
    let rep = Replacement::parse("email:zoe@example.fr=zoe.faure@example.fr").unwrap();
    let mut opts = CreateOptions::new(RequestType::Delete, Target::Id("c-9".into()));
    opts.replacements = vec![rep.clone()];
    let err = f.engine.create(&f.dir, opts).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("only accepted for update requests"),
        "{err}"
    );
    let err = f.create(RequestType::Update, "id=c-9").await.unwrap_err();
    assert!(
        err.to_string().contains("at least one replacement"),
        "{err}"
    );
    let mut opts = CreateOptions::new(RequestType::Update, Target::Id("c-9".into()));
    opts.replacements = vec![Replacement::parse("email:other@example.fr=x@example.fr").unwrap()];
    let err = f.engine.create(&f.dir, opts).await.unwrap_err();
    assert!(err.to_string().contains("stored: zoe@example.fr"), "{err}");
    assert!(
        matches!(&err, Error::ReplacementNotStored { stored, others: 0, .. } if stored == &["zoe@example.fr"]),
        "{err:?}"
    );
    for bad in ["email", "email:a", "colour:a=b", "email:a=a"] {
        assert!(Replacement::parse(bad).is_err(), "{bad}");
    }
    let mut opts = CreateOptions::new(RequestType::Update, Target::Id("c-9".into()));
    opts.replacements = vec![rep];
    let out = f.engine.create(&f.dir, opts).await.unwrap();
    f.run().await;
    let (req, tasks) = f.engine.get(&out.request.id).await.unwrap();
    assert_eq!(req.status(), RequestStatus::Completed);
    let crm = tasks.iter().find(|t| t.service == "crm").unwrap();
    assert_eq!(crm.outcome.as_ref().unwrap().action, Action::Updated);
    assert_eq!(crm.outcome.as_ref().unwrap().records, 1);
    assert!(
        f.crm
            .records()
            .iter()
            .any(|r| r.data["email"] == "zoe.faure@example.fr")
    );
}

#[tokio::test]
async fn erasing_an_active_employee_waits_for_a_decision() {
    let f = fixture();
    let out = f.create(RequestType::Delete, "id=u-1").await.unwrap();
    assert_eq!(out.request.status(), RequestStatus::OnHold);
    assert!(
        out.request
            .hold
            .as_ref()
            .unwrap()
            .reason
            .contains("active employee")
    );
    assert!(
        f.engine.get(&out.request.id).await.unwrap().1.is_empty(),
        "no task runs while held"
    );
    f.run().await;
    assert_eq!(f.status(&out.request).await, RequestStatus::OnHold);
    let err = f
        .engine
        .decide(&out.request.id, Verdict::Proceed, " ", "dpo")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("justification"), "{err}");
    assert!(matches!(err, Error::ReasonRequired(_)), "{err:?}");
    let r = f
        .engine
        .decide(
            &out.request.id,
            Verdict::Proceed,
            "employee left on 2026-02-28; HR confirmed",
            "dpo",
        )
        .await
        .unwrap();
    assert_eq!(r.status(), RequestStatus::InProgress);
    assert_eq!(r.decision.as_ref().unwrap().by, "dpo");
    f.run().await;
    assert_eq!(f.status(&out.request).await, RequestStatus::Completed);
    let err = f
        .engine
        .decide(&out.request.id, Verdict::Refuse, "x", "dpo")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("completed"), "{err}");

    // A former employee is not held; refusing cites the legal ground.
    let former = f.create(RequestType::Delete, "id=u-2").await.unwrap();
    assert_eq!(former.request.status(), RequestStatus::InProgress);
    let mut g = fixture();
    g.rebuild(|e| e);
    let held = g.create(RequestType::Delete, "id=u-1").await.unwrap();
    let r = g
        .engine
        .decide(
            &held.request.id,
            Verdict::Refuse,
            "art. 17(3)(b): payroll records kept 5 years",
            "dpo",
        )
        .await
        .unwrap();
    assert_eq!(r.status(), RequestStatus::Refused);
    assert!(r.finished_at.is_some());
}

#[tokio::test]
async fn deadlines_follow_a_moved_clock() {
    let f = fixture();
    let export = f
        .create(RequestType::Export, "id=c-9")
        .await
        .unwrap()
        .request;
    let held = f
        .create(RequestType::Delete, "id=u-1")
        .await
        .unwrap()
        .request;
    assert_eq!((export.due_at - export.created_at).num_days(), 2);
    assert_eq!((held.due_at - held.created_at).num_days(), 14);
    assert_eq!(
        held.legal_deadline.format("%Y-%m-%d").to_string(),
        "2026-04-02"
    );
    assert!(f.engine.overdue().await.unwrap().is_empty());
    f.clock.advance(chrono::Duration::days(3));
    let overdue: Vec<_> = f
        .engine
        .overdue()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(overdue, vec![export.id.clone()]);
    f.clock.advance(chrono::Duration::days(12));
    assert_eq!(f.engine.overdue().await.unwrap().len(), 2);
    let err = f.engine.extend(&held.id, 30, "", "dpo").await.unwrap_err();
    assert!(err.to_string().contains("reason"), "{err}");
    assert!(matches!(err, Error::ReasonRequired(_)), "{err:?}");
    let r = f
        .engine
        .extend(&held.id, 30, "many services to reach", "dpo")
        .await
        .unwrap();
    assert_eq!(
        r.legal_deadline.format("%Y-%m-%d").to_string(),
        "2026-05-02"
    );
    assert_eq!(r.extensions.len(), 1);
    let err = f
        .engine
        .extend(&held.id, 40, "more", "dpo")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most two months"), "{err}");
    assert!(matches!(err, Error::ExtensionLimit { .. }), "{err:?}");
    assert_eq!(
        f.engine.overdue().await.unwrap().len(),
        1,
        "the extended one is no longer overdue"
    );
    f.run().await;
    f.clock.advance(chrono::Duration::days(100));
    let left: Vec<_> = f
        .engine
        .overdue()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, vec![held.id], "finished requests are never overdue");
}

#[tokio::test]
async fn transient_failures_are_retried_then_a_task_gives_up_with_the_error() {
    let f = fixture_with(|crm, chat| {
        (
            crm.with_transient_failures(2),
            chat.with_permanent_failure("chat API: 403 forbidden"),
        )
    });
    let out = f.create(RequestType::Export, "id=c-9").await.unwrap();
    f.run().await;
    let (req, tasks) = f.engine.get(&out.request.id).await.unwrap();
    assert_eq!(req.status(), RequestStatus::PartiallyFailed);
    let crm = tasks.iter().find(|t| t.service == "crm").unwrap();
    assert_eq!((crm.status(), crm.attempt), (TaskStatus::Done, 3));
    let chat = tasks.iter().find(|t| t.service == "chat").unwrap();
    assert_eq!(
        (chat.status(), chat.attempt),
        (TaskStatus::Dead, 1),
        "permanent errors are not retried"
    );
    let o = chat.outcome.as_ref().unwrap();
    assert_eq!(o.action, Action::Failed);
    assert_eq!(o.error.as_deref(), Some("chat API: 403 forbidden"));

    let g = fixture_with(|crm, chat| (crm.with_transient_failures(10), chat));
    let out = g.create(RequestType::Export, "id=c-9").await.unwrap();
    g.run().await;
    let (req, tasks) = g.engine.get(&out.request.id).await.unwrap();
    assert_eq!(req.status(), RequestStatus::PartiallyFailed);
    let crm = tasks.iter().find(|t| t.service == "crm").unwrap();
    assert_eq!(
        (crm.status(), crm.attempt),
        (TaskStatus::Dead, 3),
        "gave up after max_attempts"
    );
    assert!(
        crm.last_error
            .as_ref()
            .unwrap()
            .contains("temporarily unavailable")
    );
    // A retry re-arms the dead task; this time the service answers.
    g.crm.set_transient_failures(0);
    let r = g.engine.retry(&out.request.id, "operator").await.unwrap();
    assert_eq!(r.status(), RequestStatus::InProgress);
    g.run().await;
    assert_eq!(g.status(&out.request).await, RequestStatus::Completed);
}

#[tokio::test]
async fn a_retry_waits_for_every_related_request() {
    let f = fixture_with(|crm, chat| (crm, chat.with_permanent_failure("down")));
    let out = f.create(RequestType::Export, "id=c-1").await.unwrap();
    f.run().await;
    for r in std::iter::once(&out.request).chain(&out.related) {
        assert_eq!(f.status(r).await, RequestStatus::PartiallyFailed);
    }
    // Every related request has finished: one may be retried …
    let r = f.engine.retry(&out.related[0].id, "op").await.unwrap();
    assert_eq!(r.status(), RequestStatus::InProgress);
    // … and while it is in flight, the others wait (G-11).
    let err = f.engine.retry(&out.request.id, "op").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("wait until all related requests have finished"),
        "{err}"
    );
    let err = f.engine.retry(&out.related[1].id, "op").await.unwrap_err();
    assert!(
        err.to_string().contains(out.related[0].id.as_str()),
        "{err}"
    );
    // Nothing failed: nothing to retry.
    let g = fixture();
    let ok = g.create(RequestType::Export, "id=c-9").await.unwrap();
    g.run().await;
    let err = g.engine.retry(&ok.request.id, "op").await.unwrap_err();
    assert!(err.to_string().contains("nothing failed"), "{err}");
}

#[tokio::test]
async fn a_lost_lease_is_taken_over_and_the_late_outcome_dropped() {
    let f = fixture();
    let out = f.create(RequestType::Export, "id=c-9").await.unwrap();
    let spec = |owner: &'static str| ClaimSpec {
        tenant: f.engine.tenant(),
        owner,
        services: &[],
        limit: 10,
        now: f.clock.now(),
        lease: Duration::from_secs(30),
    };
    let names = ["crm".to_owned(), "chat".to_owned()];
    let a = f
        .store
        .claim(ClaimSpec {
            services: &names,
            ..spec("dead-worker")
        })
        .await
        .unwrap();
    assert_eq!(a.len(), 2);
    // A second claim before expiry finds nothing: the lease is held.
    assert!(
        f.store
            .claim(ClaimSpec {
                services: &names,
                ..spec("other")
            })
            .await
            .unwrap()
            .is_empty()
    );
    f.clock.advance(chrono::Duration::seconds(31));
    f.run().await;
    let (req, tasks) = f.engine.get(&out.request.id).await.unwrap();
    assert_eq!(req.status(), RequestStatus::Completed);
    assert!(tasks.iter().all(|t| t.attempt == 2), "reclaimed once");
    // The first worker wakes up and tries to record its outcome: refused.
    let mut late = a[0].row();
    late.status = TaskStatus::Done;
    late.version += 1;
    let mut change = Change::new(f.engine.tenant().clone(), f.clock.now());
    change.tasks.push(TaskWrite {
        task: late.into(),
        expected_version: Some(a[0].version()),
    });
    assert!(matches!(
        f.store.commit(change).await,
        Err(Error::Conflict(_))
    ));
    for (_, _, n) in f.action_counts("task.done").await {
        assert_eq!(n, 1, "each task recorded done exactly once");
    }
}

#[tokio::test]
async fn cancellation_only_before_anything_irreversible() {
    let f = fixture();
    let export = f
        .create(RequestType::Export, "id=c-9")
        .await
        .unwrap()
        .request;
    let r = f.engine.cancel(&export.id, "op").await.unwrap();
    assert_eq!(r.status(), RequestStatus::Cancelled);
    let tasks = f.engine.get(&export.id).await.unwrap().1;
    assert!(tasks.iter().all(|t| t.status() == TaskStatus::Cancelled));
    let del = f
        .create(RequestType::Delete, "id=c-9")
        .await
        .unwrap()
        .request;
    f.run().await;
    let err = f.engine.cancel(&del.id, "op").await.unwrap_err();
    assert!(err.to_string().contains("finished"), "{err}");
    // A delete that has started is not cancellable.
    let g = fixture();
    let del = g
        .create(RequestType::Delete, "id=c-9")
        .await
        .unwrap()
        .request;
    let names = ["crm".to_owned()];
    g.store
        .claim(ClaimSpec {
            tenant: g.engine.tenant(),
            owner: "w",
            services: &names,
            limit: 1,
            now: g.clock.now(),
            lease: Duration::from_secs(30),
        })
        .await
        .unwrap();
    let err = g.engine.cancel(&del.id, "op").await.unwrap_err();
    assert!(err.to_string().contains("already changed data"), "{err}");
}

#[tokio::test]
async fn an_export_package_verifies_and_tampering_is_detected() {
    let f = fixture();
    let out = f.create(RequestType::Export, "id=c-9").await.unwrap();
    let err = f.engine.package(&out.request.id).await.unwrap_err();
    assert!(
        err.to_string().contains("wait until it is completed"),
        "{err}"
    );
    f.run().await;
    let pkg = f.engine.package(&out.request.id).await.unwrap();
    assert_eq!(
        pkg,
        f.engine.package(&out.request.id).await.unwrap(),
        "stable once built"
    );
    let v = package::verify(&pkg, Some(&f.engine.public_key_hex())).unwrap();
    assert_eq!(v.request_id, out.request.id.as_str());
    assert_eq!(v.trusted_key, Some(true));
    let doc: serde_json::Value = serde_json::from_str(&pkg).unwrap();
    let paths: Vec<&str> = doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"services/crm/customer_relationship.json"),
        "{paths:?}"
    );
    assert!(paths.contains(&"services/crm/derived.json"), "{paths:?}");
    assert!(
        paths.contains(&"services/chat/attachments/1-id-card.png"),
        "{paths:?}"
    );
    // Alter one byte of a value: the digest no longer matches.
    let tampered = pkg.replacen("Zoë Faure", "Zoe Faure", 1);
    let err = package::verify(&tampered, None).unwrap_err().to_string();
    assert!(err.contains("was altered"), "{err}");
    // Alter the manifest: the signature no longer matches.
    let tampered = pkg.replacen("\"organisation\": \"dsr\"", "\"organisation\": \"evil\"", 1);
    assert_ne!(tampered, pkg);
    let err = package::verify(&tampered, None).unwrap_err().to_string();
    assert!(err.contains("signature"), "{err}");
    // Another key is not trusted.
    let other = package::Signer::generate().unwrap().public_key_hex();
    assert_eq!(
        package::verify(&pkg, Some(&other)).unwrap().trusted_key,
        Some(false)
    );
    // Hand-over is recorded.
    let r = f
        .engine
        .hand_over(
            &out.request.id,
            "the data subject, by secure download",
            "op",
        )
        .await
        .unwrap();
    assert_eq!(r.handed_over.unwrap().manifest_sha256, v.manifest_sha256);
    // Portability leaves derived data out.
    let p = f.create(RequestType::Portability, "id=c-9").await.unwrap();
    f.run().await;
    let pkg = f.engine.package(&p.request.id).await.unwrap();
    assert!(!pkg.contains("services/crm/derived.json"));
    assert!(pkg.contains("services/crm/customer_relationship.json"));
    let err = f
        .engine
        .package(
            &f.create(RequestType::Delete, "id=c-9")
                .await
                .unwrap()
                .request
                .id,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("only export and portability"),
        "{err}"
    );
}

#[tokio::test]
async fn retention_and_legal_holds_keep_named_data_with_the_ground() {
    let mut f = fixture();
    f.rebuild(|e| {
        e.with_policy(dsr_engine::policy::Policy {
            retention: vec![dsr_engine::policy::Retention {
                service: "crm".into(),
                category: dsr_engine::Category::CustomerRelationship,
                ground: "art. 17(3)(b): invoices kept 10 years".into(),
            }],
            legal_hold: vec![dsr_engine::policy::LegalHold {
                subject: "d-1".into(),
                ground: "litigation 2026-17".into(),
            }],
            ..Default::default()
        })
    });
    let a = f
        .create(RequestType::Delete, "id=c-9")
        .await
        .unwrap()
        .request;
    let b = f
        .create(RequestType::Delete, "id=d-1")
        .await
        .unwrap()
        .request;
    f.run().await;
    let tasks = f.engine.get(&a.id).await.unwrap().1;
    let crm = tasks
        .iter()
        .find(|t| t.service == "crm")
        .unwrap()
        .outcome
        .clone()
        .unwrap();
    assert_eq!(crm.records, 1, "derived record deleted");
    assert_eq!(crm.kept.len(), 1);
    assert_eq!(crm.kept[0].what, "customer_relationship");
    assert!(crm.kept[0].ground.contains("17(3)(b)"));
    for t in f.engine.get(&b.id).await.unwrap().1 {
        let o = t.outcome.unwrap();
        assert_eq!(o.records, 0, "{}", t.service);
        assert!(
            o.kept
                .iter()
                .all(|k| k.what == "all" && k.ground.contains("litigation"))
        );
    }
}

#[tokio::test]
async fn requests_of_one_tenant_are_invisible_to_another() {
    let f = fixture();
    let out = f.create(RequestType::Export, "id=c-9").await.unwrap();
    let other = dsr_engine::Engine::new(
        dsr_model::TenantId::new("other").unwrap(),
        f.store.clone(),
        f.engine.services().clone(),
        f.clock.clone(),
    )
    .unwrap();
    assert!(matches!(
        other.get(&out.request.id).await,
        Err(Error::UnknownRequest(_))
    ));
    assert!(other.list(&Default::default()).await.unwrap().is_empty());
    assert_eq!(other.verify_audit().await.unwrap().entries, 0);
}

#[tokio::test]
async fn blind_spots_name_custom_keys_and_attachments() {
    let f = fixture();
    let spots = f.engine.blind_spots(&f.dir);
    let text: Vec<String> = spots.iter().map(|b| b.place.clone()).collect();
    assert!(text.iter().any(|p| p.contains("loyalty_tier")), "{text:?}");
    assert!(
        text.iter()
            .any(|p| p.contains("service chat: attachment contents")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|p| p.contains("not linked to a contact")),
        "{text:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_workers_record_each_task_once() {
    let f = fixture();
    let mut ids = Vec::new();
    for target in ["id=c-9", "id=d-1", "id=u-2"] {
        for ty in [RequestType::Export, RequestType::Portability] {
            ids.push(f.create(ty, target).await.unwrap().request.id);
        }
    }
    let fan = f.create(RequestType::Delete, "id=c-2").await.unwrap();
    ids.push(fan.request.id.clone());
    ids.extend(fan.related.iter().map(|r| r.id.clone()));
    assert_eq!(ids.len(), 9);
    // Three workers, two tasks at a time each, racing over the same tasks: their batch
    // commits conflict and fall back to per-task records.
    let worker = || {
        let mut cfg = f.worker().config().clone();
        cfg.concurrency = 2;
        dsr_engine::Worker::new(f.engine.clone(), cfg)
    };
    let (a, b, c) = (worker(), worker(), worker());
    let (ra, rb, rc) = tokio::join!(a.run_until_idle(), b.run_until_idle(), c.run_until_idle());
    let stats = [ra.unwrap(), rb.unwrap(), rc.unwrap()];
    let done: u64 = stats.iter().map(|s| s.done).sum();
    assert_eq!(done, 18, "{stats:?}");
    for id in &ids {
        let (r, tasks) = f.engine.get(id).await.unwrap();
        assert_eq!(r.status(), RequestStatus::Completed, "{id}");
        assert!(tasks.iter().all(|t| t.status() == TaskStatus::Done));
    }
    let counts = f.action_counts("task.done").await;
    assert_eq!(counts.len(), 18);
    assert!(counts.iter().all(|(_, _, n)| *n == 1), "{counts:?}");
    assert!(f.engine.verify_audit().await.unwrap().ok());
}
