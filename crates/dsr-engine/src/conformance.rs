//! The [`Store`] contract, written once as a test suite every backend runs: the
//! in-memory store (this crate's tests), SQLite (`dsr-store-sqlite`'s tests) and
//! PostgreSQL (`dsr-store-postgres`'s tests), so a second backend cannot quietly keep a
//! weaker contract than the first.
//!
//! [`run`] takes a store (empty or not: every case works in tenants of its own, named
//! afresh on each run) and panics, naming the case and what broke, at the first
//! violation. Run it on a multi-threaded runtime so the concurrency cases really race:
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() {
//! let store = std::sync::Arc::new(dsr_engine::MemoryStore::new());
//! dsr_engine::conformance::run(store.as_ref()).await;
//! dsr_engine::conformance::run_concurrent(store).await;
//! # }
//! ```
//!
//! What it covers: commits (all or nothing), version conflicts, duplicate guards (by
//! subject and by merge set, finished requests not counting), claims (due time,
//! services, limit, order, lease expiry and reclaim, no task claimed twice), the audit
//! chain (one valid chain per tenant, also under concurrent writers), packages (the
//! first stays), request filters, open-task counts, keys and the suppression list, and
//! tenant isolation on every read.

use crate::audit::{self, AuditAction, AuditEvent};
use crate::store::{
    Change, ClaimSpec, DuplicateGuard, ErasureWrite, RequestWrite, Store, TaskWrite,
};
use crate::types::{Request, RequestFilter, RequestId, RequestStatus, Task, TaskStatus};
use crate::{Error, Outcome};
use chrono::{DateTime, Duration, TimeZone, Utc};
use dsr_model::{MergeSetId, RequestType, Subject, SubjectId, SubjectKind, TenantId};
use std::sync::Arc;

/// A tenant name of this run: unique across runs on one database.
fn tenant(case: &str) -> TenantId {
    let n = crate::privacy::random_key().expect("random bytes");
    TenantId::new(format!("conf-{case}-{}", hex::encode(&n[..6]))).expect("tenant id")
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

/// A request for `subject` as the engine would create it.
pub fn sample_request(
    tenant: &TenantId,
    subject: &str,
    ty: RequestType,
    at: DateTime<Utc>,
) -> Request {
    let mut s = Subject::new(
        SubjectKind::ExternalContact,
        SubjectId::new(subject).expect("subject id"),
    );
    s.names.push("Conformance Subject".into());
    Request {
        id: RequestId::generate(),
        tenant: tenant.clone(),
        ty,
        status: RequestStatus::InProgress,
        version: 0,
        subject: s,
        term: None,
        requested_by: "conformance".into(),
        parent: None,
        related: Vec::new(),
        merge_set: None,
        replacements: Vec::new(),
        created_at: at,
        updated_at: at,
        due_at: at + Duration::days(30),
        legal_deadline: at + Duration::days(30),
        extensions: Vec::new(),
        hold: None,
        decision: None,
        handed_over: None,
        finished_at: None,
        retries: 0,
        redacted: None,
        package_removed: None,
    }
}

fn event(action: AuditAction, r: &Request) -> AuditEvent {
    AuditEvent::request(
        "conformance",
        action,
        r.id.as_str(),
        serde_json::json!({"n": 1}),
    )
}

/// A change inserting `r` with tasks for `services`.
fn insert(r: &Request, services: &[&str], at: DateTime<Utc>) -> Change {
    let mut c = Change::new(r.tenant.clone(), at);
    c.requests.push(RequestWrite {
        request: r.clone(),
        expected_version: None,
    });
    for s in services {
        c.tasks.push(TaskWrite {
            task: Task::new(r, s, at),
            expected_version: None,
        });
    }
    c.audit.push(event(
        AuditAction::RequestStatus(crate::RequestStatus::Received),
        r,
    ));
    c
}

fn spec<'a>(
    tenant: &'a TenantId,
    owner: &'a str,
    services: &'a [String],
    limit: usize,
    now: DateTime<Utc>,
) -> ClaimSpec<'a> {
    ClaimSpec {
        tenant,
        owner,
        services,
        limit,
        now,
        lease: std::time::Duration::from_secs(30),
    }
}

async fn verify(store: &dyn Store, tenant: &TenantId, case: &str) -> u64 {
    let (entries, head) = store.audit(tenant).await.expect("audit");
    let report = audit::verify(&entries, head.as_ref().map(|(i, h)| (*i, h.as_str())));
    assert!(
        report.ok(),
        "{case}: audit chain broken: {:?}",
        report.problems
    );
    report.entries
}

/// Runs every sequential case of the contract on `store`.
pub async fn run(store: &dyn Store) {
    commits_are_read_back(store).await;
    a_change_is_all_or_nothing(store).await;
    duplicate_guards(store).await;
    claims(store).await;
    lease_expiry(store).await;
    packages(store).await;
    filters_and_counts(store).await;
    tasks_waiting_on_a_person(store).await;
    keys_and_suppression(store).await;
    tenants_are_isolated(store).await;
    batches(store).await;
}

async fn commits_are_read_back(store: &dyn Store) {
    let case = "commits_are_read_back";
    let t = tenant("commit");
    let r = sample_request(&t, "s-1", RequestType::Export, t0());
    store
        .commit(insert(&r, &["crm", "chat"], t0()))
        .await
        .expect(case);
    let got = store
        .request(&t, &r.id)
        .await
        .expect(case)
        .expect("request stored");
    assert_eq!(got, r, "{case}: the request reads back as written");
    let tasks = store.tasks(&t, &r.id).await.expect(case);
    let names: Vec<&str> = tasks.iter().map(|x| x.service.as_str()).collect();
    assert_eq!(names, ["chat", "crm"], "{case}: tasks by service name");
    assert!(
        tasks
            .iter()
            .all(|x| x.status == TaskStatus::Pending && x.version == 0)
    );
    // An update conditional on the version read.
    let mut next = got.clone();
    next.version = 1;
    next.status = RequestStatus::Completed;
    let mut c = Change::new(t.clone(), t0());
    c.requests.push(RequestWrite {
        request: next.clone(),
        expected_version: Some(0),
    });
    let mut task = tasks[0].clone();
    task.version = 1;
    task.status = TaskStatus::Done;
    task.outcome = Some(Outcome {
        action: crate::Action::Exported,
        records: 2,
        attachments: 0,
        kept: Vec::new(),
        data: Vec::new(),
        error: None,
        blind_spots: Vec::new(),
    });
    c.tasks.push(TaskWrite {
        task: task.clone(),
        expected_version: Some(0),
    });
    c.audit.push(event(AuditAction::TaskDone, &r));
    store.commit(c).await.expect(case);
    assert_eq!(
        store.request(&t, &r.id).await.unwrap().unwrap(),
        next,
        "{case}"
    );
    assert_eq!(
        store.tasks(&t, &r.id).await.unwrap()[0],
        task,
        "{case}: outcome kept"
    );
    assert_eq!(
        verify(store, &t, case).await,
        2,
        "{case}: two audit entries"
    );
    // A stale writer gets a conflict.
    let mut stale = Change::new(t.clone(), t0());
    stale.requests.push(RequestWrite {
        request: r.clone(),
        expected_version: Some(0),
    });
    assert!(
        matches!(store.commit(stale).await, Err(Error::Conflict(_))),
        "{case}: a stale version is a conflict"
    );
    // Inserting an id that exists is a conflict too, not an overwrite.
    let again = insert(&r, &[], t0());
    assert!(
        matches!(store.commit(again).await, Err(Error::Conflict(_))),
        "{case}: a second insert of one id is a conflict"
    );
    assert_eq!(store.request(&t, &r.id).await.unwrap().unwrap(), next);
    assert!(
        store
            .request(&t, &RequestId::generate())
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_change_is_all_or_nothing(store: &dyn Store) {
    let case = "a_change_is_all_or_nothing";
    let t = tenant("atomic");
    let r = sample_request(&t, "s-1", RequestType::Export, t0());
    store.commit(insert(&r, &["crm"], t0())).await.expect(case);
    let before = verify(store, &t, case).await;
    // A valid request update, a new package and audit entries, with one stale task write.
    let mut next = r.clone();
    next.version = 1;
    next.status = RequestStatus::Completed;
    let mut c = Change::new(t.clone(), t0());
    c.requests.push(RequestWrite {
        request: next,
        expected_version: Some(0),
    });
    let mut task = Task::new(&r, "crm", t0());
    task.version = 8;
    c.tasks.push(TaskWrite {
        task,
        expected_version: Some(7),
    });
    c.packages.push((r.id.clone(), "{\"p\":1}".into()));
    c.audit.push(event(AuditAction::TaskDone, &r));
    assert!(
        matches!(store.commit(c).await, Err(Error::Conflict(_))),
        "{case}"
    );
    assert_eq!(
        store.request(&t, &r.id).await.unwrap().unwrap(),
        r,
        "{case}: request unchanged"
    );
    assert!(
        store.package(&t, &r.id).await.unwrap().is_none(),
        "{case}: no package"
    );
    assert_eq!(
        verify(store, &t, case).await,
        before,
        "{case}: no audit entry"
    );
    // A change that mixes tenants is refused whole.
    let other = sample_request(&tenant("atomic-other"), "s-2", RequestType::Export, t0());
    let mut c = insert(
        &sample_request(&t, "s-3", RequestType::Export, t0()),
        &[],
        t0(),
    );
    c.requests.push(RequestWrite {
        request: other,
        expected_version: None,
    });
    assert!(
        store.commit(c).await.is_err(),
        "{case}: mixed tenants refused"
    );
    assert_eq!(
        store
            .requests(&t, &RequestFilter::default())
            .await
            .unwrap()
            .len(),
        1,
        "{case}: nothing of the mixed change landed"
    );
}

async fn duplicate_guards(store: &dyn Store) {
    let case = "duplicate_guards";
    let t = tenant("dup");
    let ms = MergeSetId::new("ms-1").unwrap();
    let mut parent = sample_request(&t, "a", RequestType::Delete, t0());
    parent.merge_set = Some(ms.clone());
    let mut related = sample_request(&t, "b", RequestType::Delete, t0() + Duration::seconds(1));
    related.merge_set = Some(ms.clone());
    related.parent = Some(parent.id.clone());
    parent.related = vec![related.id.clone()];
    let guard = |subjects: &[&str], merge_set: Option<&MergeSetId>, ty| DuplicateGuard {
        ty,
        subjects: subjects
            .iter()
            .map(|s| SubjectId::new(*s).unwrap())
            .collect(),
        merge_set: merge_set.cloned(),
    };
    let mut c = insert(&parent, &["crm"], t0());
    c.requests.push(RequestWrite {
        request: related.clone(),
        expected_version: None,
    });
    c.guard = Some(guard(&["a", "b"], Some(&ms), RequestType::Delete));
    store.commit(c).await.expect(case);
    // Same type, one of the subjects: refused, naming the family's parent.
    let r2 = sample_request(&t, "b", RequestType::Delete, t0());
    let mut c = insert(&r2, &["crm"], t0());
    c.guard = Some(guard(&["b"], None, RequestType::Delete));
    match store.commit(c).await {
        Err(Error::Duplicate { existing, ty, .. }) => {
            assert_eq!(existing, parent.id.as_str(), "{case}: names the parent");
            assert_eq!(ty, "delete");
        }
        other => panic!("{case}: expected a duplicate, got {other:?}"),
    }
    assert!(
        store.request(&t, &r2.id).await.unwrap().is_none(),
        "{case}: nothing written"
    );
    // By merge set, for a member not yet asked about.
    let r3 = sample_request(&t, "c", RequestType::Delete, t0());
    let mut c = insert(&r3, &[], t0());
    c.guard = Some(guard(&["c"], Some(&ms), RequestType::Delete));
    assert!(
        matches!(store.commit(c).await, Err(Error::Duplicate { .. })),
        "{case}: merge set"
    );
    // Another type is not a duplicate.
    let r4 = sample_request(&t, "b", RequestType::Export, t0());
    let mut c = insert(&r4, &[], t0());
    c.guard = Some(guard(&["b"], Some(&ms), RequestType::Export));
    store.commit(c).await.expect(case);
    // Once the family is finished, a new request goes through.
    for r in [&parent, &related] {
        let mut done = r.clone();
        done.version = 1;
        done.status = RequestStatus::Completed;
        let mut c = Change::new(t.clone(), t0());
        c.requests.push(RequestWrite {
            request: done,
            expected_version: Some(0),
        });
        store.commit(c).await.expect(case);
    }
    let r5 = sample_request(&t, "b", RequestType::Delete, t0());
    let mut c = insert(&r5, &[], t0());
    c.guard = Some(guard(&["b"], Some(&ms), RequestType::Delete));
    store
        .commit(c)
        .await
        .expect("a finished request does not block a new one");
}

async fn claims(store: &dyn Store) {
    let case = "claims";
    let t = tenant("claim");
    let crm = ["crm".to_owned()];
    let both = ["crm".to_owned(), "chat".to_owned()];
    let mut ids = Vec::new();
    for i in 0..5 {
        let at = t0() + Duration::seconds(i);
        let r = sample_request(&t, &format!("s-{i}"), RequestType::Export, at);
        store
            .commit(insert(&r, &["crm", "chat"], at))
            .await
            .expect(case);
        ids.push(r.id);
    }
    // Not yet due: nothing.
    let early = store
        .claim(spec(&t, "w1", &crm, 10, t0() - Duration::seconds(1)))
        .await
        .unwrap();
    assert!(early.is_empty(), "{case}: tasks not due are not claimed");
    // Limit, order, services.
    let now = t0() + Duration::seconds(10);
    let got = store.claim(spec(&t, "w1", &crm, 3, now)).await.expect(case);
    assert_eq!(got.len(), 3, "{case}: the limit");
    assert!(
        got.iter().all(|x| x.service == "crm"),
        "{case}: only the services asked"
    );
    let order: Vec<&RequestId> = got.iter().map(|x| &x.request_id).collect();
    assert_eq!(
        order,
        ids[..3].iter().collect::<Vec<_>>(),
        "{case}: oldest first"
    );
    for x in &got {
        assert_eq!(x.status, TaskStatus::Running);
        assert_eq!(x.attempt, 1);
        assert_eq!(x.version, 1);
        assert_eq!(x.lease_owner.as_deref(), Some("w1"));
        assert_eq!(x.lease_expires, Some(now + Duration::seconds(30)));
        let stored = store.tasks(&t, &x.request_id).await.unwrap();
        assert!(
            stored.contains(x),
            "{case}: the claim is stored as returned"
        );
    }
    // The rest, then nothing.
    let rest = store
        .claim(spec(&t, "w2", &both, 100, now))
        .await
        .expect(case);
    assert_eq!(rest.len(), 7, "{case}: 2 crm + 5 chat left");
    assert!(
        store
            .claim(spec(&t, "w3", &both, 100, now))
            .await
            .unwrap()
            .is_empty()
    );
    // Each claim wrote one task.claimed entry, and the chain holds.
    let (entries, _) = store.audit(&t).await.unwrap();
    let claimed = entries
        .iter()
        .filter(|e| e.event.action == "task.claimed")
        .count();
    assert_eq!(claimed, 10, "{case}: one task.claimed per claim");
    verify(store, &t, case).await;
    // A retry waits for its time.
    let x = &got[0];
    let mut retry = x.clone();
    retry.status = TaskStatus::RetryWait;
    retry.version += 1;
    retry.lease_owner = None;
    retry.lease_expires = None;
    retry.next_at = now + Duration::seconds(10);
    let mut c = Change::new(t.clone(), now);
    c.tasks.push(TaskWrite {
        task: retry,
        expected_version: Some(x.version),
    });
    store.commit(c).await.expect(case);
    assert!(
        store
            .claim(spec(&t, "w1", &crm, 10, now))
            .await
            .unwrap()
            .is_empty()
    );
    // (Before the other leases, taken at `now` for 30 s, expire.)
    let again = store
        .claim(spec(&t, "w1", &crm, 10, now + Duration::seconds(11)))
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "{case}: the retry is claimed when due");
    assert_eq!(again[0].attempt, 2);
    // Finished tasks are never claimed, whatever the time.
    let later = now + Duration::days(1);
    let (n, _) = store.open_tasks(&t).await.unwrap();
    assert_eq!(n, 10, "{case}: all ten tasks are open (running)");
    for x in store
        .claim(spec(&t, "w9", &both, 100, later))
        .await
        .unwrap()
    {
        let mut d = x.clone();
        d.status = TaskStatus::Done;
        d.version += 1;
        let mut c = Change::new(t.clone(), later);
        c.tasks.push(TaskWrite {
            task: d,
            expected_version: Some(x.version),
        });
        store.commit(c).await.expect(case);
    }
    assert!(
        store
            .claim(spec(&t, "w9", &both, 100, later + Duration::days(1)))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.open_tasks(&t).await.unwrap(),
        (0, None),
        "{case}: none open"
    );
}

async fn lease_expiry(store: &dyn Store) {
    let case = "lease_expiry";
    let t = tenant("lease");
    let crm = ["crm".to_owned()];
    let r = sample_request(&t, "s", RequestType::Delete, t0());
    store.commit(insert(&r, &["crm"], t0())).await.expect(case);
    let a = store.claim(spec(&t, "dead", &crm, 1, t0())).await.unwrap();
    assert_eq!(a.len(), 1);
    // Held: nobody else gets it before expiry.
    let held = store
        .claim(spec(&t, "other", &crm, 1, t0() + Duration::seconds(29)))
        .await
        .unwrap();
    assert!(held.is_empty(), "{case}: a held lease is not claimed");
    let (_, first) = store.open_tasks(&t).await.unwrap();
    assert_eq!(
        first,
        Some(t0() + Duration::seconds(30)),
        "{case}: the earliest claimable"
    );
    // Expired: reclaimed once, with the previous owner recorded.
    let b = store
        .claim(spec(&t, "other", &crm, 1, t0() + Duration::seconds(31)))
        .await
        .unwrap();
    assert_eq!(b.len(), 1, "{case}: an expired lease is reclaimed");
    assert_eq!(
        (b[0].attempt, b[0].lease_owner.as_deref()),
        (2, Some("other"))
    );
    let (entries, _) = store.audit(&t).await.unwrap();
    let last = entries.last().unwrap();
    assert_eq!(last.event.action, "task.claimed");
    assert_eq!(last.event.detail["reclaimed_from"], "dead", "{case}");
    // The first worker's late outcome is refused.
    let mut late = a[0].clone();
    late.status = TaskStatus::Done;
    late.version += 1;
    let mut c = Change::new(t.clone(), t0());
    c.tasks.push(TaskWrite {
        task: late,
        expected_version: Some(a[0].version),
    });
    assert!(
        matches!(store.commit(c).await, Err(Error::Conflict(_))),
        "{case}: stale worker"
    );
}

async fn packages(store: &dyn Store) {
    let case = "packages";
    let t = tenant("pkg");
    let r = sample_request(&t, "s", RequestType::Export, t0());
    let mut c = insert(&r, &[], t0());
    c.packages.push((r.id.clone(), "{\"first\":true}".into()));
    store.commit(c).await.expect(case);
    let mut c = Change::new(t.clone(), t0());
    c.packages.push((r.id.clone(), "{\"second\":true}".into()));
    store.commit(c).await.expect(case);
    assert_eq!(
        store.package(&t, &r.id).await.unwrap().as_deref(),
        Some("{\"first\":true}"),
        "{case}: the first package stays"
    );
    let mut c = Change::new(t.clone(), t0());
    c.remove_packages.push(r.id.clone());
    store.commit(c).await.expect(case);
    assert!(
        store.package(&t, &r.id).await.unwrap().is_none(),
        "{case}: removed"
    );
}

async fn filters_and_counts(store: &dyn Store) {
    let case = "filters_and_counts";
    let t = tenant("filter");
    let mut made = Vec::new();
    for i in 0..4i64 {
        let at = t0() + Duration::days(i);
        let mut r = sample_request(
            &t,
            if i % 2 == 0 { "even" } else { "odd" },
            RequestType::Export,
            at,
        );
        r.due_at = at + Duration::days(3);
        r.legal_deadline = at + Duration::days(30);
        if i == 3 {
            r.status = RequestStatus::Completed;
        }
        store.commit(insert(&r, &["crm"], at)).await.expect(case);
        made.push(r);
    }
    let all = store.requests(&t, &RequestFilter::default()).await.unwrap();
    assert_eq!(all, made, "{case}: every request, oldest first");
    let f = |status, overdue_at, subject: Option<&str>, limit| RequestFilter {
        status,
        overdue_at,
        subject: subject.map(|s| SubjectId::new(s).unwrap()),
        limit,
    };
    let ids = |v: Vec<Request>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let done = store
        .requests(&t, &f(Some(RequestStatus::Completed), None, None, 0))
        .await
        .unwrap();
    assert_eq!(ids(done), [made[3].id.clone()], "{case}: by status");
    let even = store
        .requests(&t, &f(None, None, Some("even"), 0))
        .await
        .unwrap();
    assert_eq!(
        ids(even),
        [made[0].id.clone(), made[2].id.clone()],
        "{case}: by subject"
    );
    let limited = store.requests(&t, &f(None, None, None, 2)).await.unwrap();
    assert_eq!(
        ids(limited),
        [made[0].id.clone(), made[1].id.clone()],
        "{case}: limit"
    );
    // Overdue at day 4.5: requests 0 and 1 (due days 3 and 4); 3 is finished.
    let at = t0() + Duration::hours(4 * 24 + 12);
    let late = store
        .requests(&t, &f(None, Some(at), None, 0))
        .await
        .unwrap();
    assert_eq!(
        ids(late),
        [made[0].id.clone(), made[1].id.clone()],
        "{case}: overdue"
    );
    let (n, first) = store.open_tasks(&t).await.unwrap();
    assert_eq!(
        (n, first),
        (4, Some(t0())),
        "{case}: open tasks and the earliest"
    );
}

/// A task waiting on a person (manual services): stored with its assignment, reminders
/// and answer as given, listed by status in request / service order, never claimed,
/// not counted open, and invisible to another tenant.
async fn tasks_waiting_on_a_person(store: &dyn Store) {
    use crate::types::{Answer, Evidence, ManualTask, PersonAnswer, Reminder, ReminderKind};
    let case = "tasks_waiting_on_a_person";
    let t = tenant("waiting");
    let other = tenant("waiting-other");
    let mut made = Vec::new();
    for i in 0..2i64 {
        let at = t0() + Duration::minutes(i);
        let r = sample_request(&t, &format!("w-{i}"), RequestType::Delete, at);
        store
            .commit(insert(&r, &["archive", "crm"], at))
            .await
            .expect(case);
        made.push(r);
    }
    let before = verify(store, &t, case).await;
    // Both requests' `archive` tasks are handed to a person, in one change.
    let mut c = Change::new(t.clone(), t0());
    let mut waiting = Vec::new();
    for r in &made {
        let mut task = Task::new(r, "archive", t0());
        task.status = TaskStatus::Waiting;
        task.attempt = 1;
        task.version = 1;
        task.manual = Some(ManualTask {
            assignee: "records team".into(),
            instructions: "search the paper archive\nby name".into(),
            since: t0(),
            reminders: vec![Reminder {
                kind: ReminderKind::BeforeDue,
                at: t0() + Duration::hours(1),
            }],
            answer: None,
        });
        c.tasks.push(TaskWrite {
            task: task.clone(),
            expected_version: Some(0),
        });
        waiting.push(task);
    }
    c.audit.push(event(AuditAction::TaskWaiting, &made[0]));
    store.commit(c).await.expect(case);
    let mut listed = store
        .tasks_with_status(&t, TaskStatus::Waiting)
        .await
        .expect(case);
    waiting.sort_by(|a, b| a.request_id.cmp(&b.request_id));
    assert_eq!(
        listed, waiting,
        "{case}: read back as written, by request id"
    );
    assert_eq!(
        store
            .tasks_with_status(&t, TaskStatus::Pending)
            .await
            .unwrap()
            .len(),
        2,
        "{case}: the crm tasks are pending"
    );
    let (n, _) = store.open_tasks(&t).await.unwrap();
    assert_eq!(
        n, 2,
        "{case}: a task waiting on a person is not open for workers"
    );
    let names = vec!["archive".to_owned(), "crm".to_owned()];
    let far = t0() + Duration::days(400);
    let claimed = store
        .claim(spec(&t, "w1", &names, 10, far))
        .await
        .expect(case);
    assert!(
        claimed.iter().all(|x| x.service == "crm"),
        "{case}: a waiting task is never claimed: {claimed:?}"
    );
    // The answer is stored with the task and the task leaves the list.
    let mut answered = listed.remove(0);
    let expected = answered.version;
    answered.status = TaskStatus::Done;
    answered.version += 1;
    answered.outcome = Some(Outcome {
        action: crate::Action::Deleted,
        records: 2,
        attachments: 0,
        kept: Vec::new(),
        data: Vec::new(),
        error: None,
        blind_spots: Vec::new(),
    });
    if let Some(m) = answered.manual.as_mut() {
        m.answer = Some(PersonAnswer {
            answer: Answer::Done,
            by: "ana".into(),
            at: t0() + Duration::hours(2),
            evidence: Evidence {
                name: "certificate.pdf".into(),
                sha256: "ab".repeat(32),
                bytes: 1234,
            },
            note: Some("box 14".into()),
        });
    }
    let mut c = Change::new(t.clone(), t0());
    c.tasks.push(TaskWrite {
        task: answered.clone(),
        expected_version: Some(expected),
    });
    store.commit(c).await.expect(case);
    let back = store.tasks(&t, &answered.request_id).await.unwrap();
    assert_eq!(
        back.iter().find(|x| x.service == "archive"),
        Some(&answered),
        "{case}: the answer is read back"
    );
    assert_eq!(
        store
            .tasks_with_status(&t, TaskStatus::Waiting)
            .await
            .unwrap(),
        listed,
        "{case}: only the unanswered one still waits"
    );
    assert!(
        store
            .tasks_with_status(&other, TaskStatus::Waiting)
            .await
            .unwrap()
            .is_empty(),
        "{case}: another tenant sees none"
    );
    assert!(verify(store, &t, case).await > before);
}

async fn keys_and_suppression(store: &dyn Store) {
    let case = "keys_and_suppression";
    let t = tenant("keys");
    let u = tenant("keys-other");
    let s1 = store.tenant_secret(&t).await.expect(case);
    assert_eq!(
        store.tenant_secret(&t).await.unwrap(),
        s1,
        "{case}: the secret is stable"
    );
    assert_ne!(
        store.tenant_secret(&u).await.unwrap(),
        s1,
        "{case}: one per tenant"
    );
    assert!(
        store
            .subject_key(&t, "ref-1", false)
            .await
            .unwrap()
            .is_none()
    );
    let k = store
        .subject_key(&t, "ref-1", true)
        .await
        .unwrap()
        .expect("created");
    assert_eq!(
        store.subject_key(&t, "ref-1", false).await.unwrap(),
        Some(k)
    );
    assert_eq!(
        store.subject_key(&t, "ref-1", true).await.unwrap(),
        Some(k),
        "{case}: kept"
    );
    assert!(
        store
            .subject_key(&u, "ref-1", false)
            .await
            .unwrap()
            .is_none(),
        "{case}: isolated"
    );
    // An erasure destroys the key and lists the identifiers.
    let r = sample_request(&t, "s", RequestType::Delete, t0());
    let mut c = insert(&r, &[], t0());
    c.erasures.push(ErasureWrite {
        subject_ref: "ref-1".into(),
        request_id: r.id.clone(),
        suppress: vec!["h1".into(), "h2".into()],
    });
    store.commit(c).await.expect(case);
    assert!(
        store
            .subject_key(&t, "ref-1", false)
            .await
            .unwrap()
            .is_none(),
        "{case}: shredded"
    );
    let hits = store
        .suppressed(&t, &["h2".into(), "h3".into()])
        .await
        .unwrap();
    assert_eq!(hits.len(), 1, "{case}");
    assert_eq!((hits[0].hash.as_str(), &hits[0].request_id), ("h2", &r.id));
    assert_eq!(hits[0].erased_at, t0());
    assert!(
        store
            .suppressed(&u, &["h2".into()])
            .await
            .unwrap()
            .is_empty(),
        "{case}: isolated"
    );
    store
        .default_region(&t)
        .await
        .expect("default region readable");
}

async fn tenants_are_isolated(store: &dyn Store) {
    let case = "tenants_are_isolated";
    let a = tenant("iso-a");
    let b = tenant("iso-b");
    let r = sample_request(&a, "s", RequestType::Export, t0());
    let mut c = insert(&r, &["crm"], t0());
    c.packages.push((r.id.clone(), "{}".into()));
    store.commit(c).await.expect(case);
    assert!(
        store.request(&b, &r.id).await.unwrap().is_none(),
        "{case}: request"
    );
    assert!(
        store
            .requests(&b, &RequestFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store.tasks(&b, &r.id).await.unwrap().is_empty(),
        "{case}: tasks"
    );
    assert!(
        store.package(&b, &r.id).await.unwrap().is_none(),
        "{case}: package"
    );
    assert_eq!(store.audit(&b).await.unwrap().0.len(), 0, "{case}: audit");
    assert_eq!(
        store.open_tasks(&b).await.unwrap().0,
        0,
        "{case}: open tasks"
    );
    let crm = ["crm".to_owned()];
    assert!(
        store
            .claim(spec(&b, "w", &crm, 10, t0()))
            .await
            .unwrap()
            .is_empty(),
        "{case}: claim"
    );
    // A write in b's name to a's request id creates nothing in a.
    let mut forged = r.clone();
    forged.tenant = b.clone();
    forged.version = 1;
    let mut c = Change::new(b.clone(), t0());
    c.requests.push(RequestWrite {
        request: forged,
        expected_version: Some(0),
    });
    assert!(
        store.commit(c).await.is_err(),
        "{case}: no cross-tenant update"
    );
    assert_eq!(
        store.request(&a, &r.id).await.unwrap().unwrap(),
        r,
        "{case}"
    );
}

/// What a worker's batch reads and writes at once: several requests with their tasks in
/// one read, and one change updating several of each, all or nothing.
async fn batches(store: &dyn Store) {
    let case = "batches";
    let t = tenant("batch");
    let other = tenant("batch-other");
    let rs: Vec<Request> = (0..5)
        .map(|i| sample_request(&t, &format!("s-{i}"), RequestType::Export, t0()))
        .collect();
    for r in &rs {
        store
            .commit(insert(r, &["crm", "chat"], t0()))
            .await
            .expect(case);
    }
    let foreign = sample_request(&other, "s-x", RequestType::Export, t0());
    store
        .commit(insert(&foreign, &["crm"], t0()))
        .await
        .expect(case);
    let ids = vec![
        rs[3].id.clone(),
        RequestId::generate(),
        rs[0].id.clone(),
        foreign.id.clone(),
        rs[3].id.clone(),
        rs[1].id.clone(),
    ];
    let got = store.requests_with_tasks(&t, &ids).await.expect(case);
    let order: Vec<&RequestId> = got.iter().map(|(r, _)| &r.id).collect();
    assert_eq!(
        order,
        [&rs[3].id, &rs[0].id, &rs[1].id],
        "{case}: in the order asked, each once, unknown and other tenants' left out"
    );
    for (r, tasks) in &got {
        assert_eq!(Some(r), store.request(&t, &r.id).await.unwrap().as_ref());
        assert_eq!(
            tasks,
            &store.tasks(&t, &r.id).await.unwrap(),
            "{case}: the tasks of {}, by service",
            r.id
        );
    }
    assert!(store.requests_with_tasks(&t, &[]).await.unwrap().is_empty());
    // One change updating every request and task; then one with a single stale version
    // among many, which writes nothing.
    let bump = |stale: Option<usize>| {
        let mut c = Change::new(t.clone(), t0());
        for (i, (r, tasks)) in got.iter().enumerate() {
            let mut next = r.clone();
            next.version = r.version + 1;
            next.status = RequestStatus::InProgress;
            c.requests.push(RequestWrite {
                request: next,
                expected_version: Some(if stale == Some(i) {
                    r.version + 7
                } else {
                    r.version
                }),
            });
            for task in tasks {
                let mut x = task.clone();
                x.version = task.version + 1;
                x.status = TaskStatus::Running;
                c.tasks.push(TaskWrite {
                    task: x,
                    expected_version: Some(task.version),
                });
            }
        }
        c
    };
    assert!(
        matches!(store.commit(bump(Some(2))).await, Err(Error::Conflict(_))),
        "{case}: one stale request in a batch is a conflict"
    );
    assert_eq!(
        store.requests_with_tasks(&t, &ids).await.unwrap(),
        got,
        "{case}: a conflicting batch writes nothing"
    );
    store.commit(bump(None)).await.expect(case);
    for (r, tasks) in store.requests_with_tasks(&t, &ids).await.unwrap() {
        assert_eq!(
            (r.version, r.status),
            (1, RequestStatus::InProgress),
            "{case}"
        );
        assert!(
            tasks
                .iter()
                .all(|x| x.version == 1 && x.status == TaskStatus::Running),
            "{case}: every task of the batch written"
        );
    }
    let untouched = store.request(&t, &rs[2].id).await.unwrap().unwrap();
    assert_eq!(untouched.version, 0, "{case}: a request not in the batch");
}

/// The cases that need real concurrency (run on a multi-threaded runtime): several
/// claimers over the same tasks take each exactly once; concurrent commits keep one
/// valid audit chain; concurrent guarded creations let exactly one request through.
pub async fn run_concurrent(store: Arc<dyn Store>) {
    let case = "run_concurrent";
    let t = tenant("race");
    let services = vec!["crm".to_owned(), "chat".to_owned()];
    let n = 60;
    for i in 0..n {
        let r = sample_request(&t, &format!("s-{i}"), RequestType::Export, t0());
        store
            .commit(insert(&r, &["crm", "chat"], t0()))
            .await
            .expect(case);
    }
    let mut claimers = Vec::new();
    for w in 0..4 {
        let (store, t, services) = (store.clone(), t.clone(), services.clone());
        claimers.push(tokio::spawn(async move {
            let owner = format!("w{w}");
            let mut got = Vec::new();
            loop {
                let batch = retrying(|| store.claim(spec(&t, &owner, &services, 7, t0())))
                    .await
                    .expect("claim");
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|x| (x.request_id, x.service)));
            }
        }));
    }
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.expect("claimer"));
    }
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(total, 2 * n, "{case}: every task claimed");
    assert_eq!(all.len(), total, "{case}: no task claimed twice");
    verify(store.as_ref(), &t, case).await;
    // Concurrent guarded creations for one subject: exactly one wins.
    let g = tenant("race-dup");
    let mut creators = Vec::new();
    for _ in 0..8 {
        let (store, g) = (store.clone(), g.clone());
        creators.push(tokio::spawn(async move {
            let r = sample_request(&g, "same", RequestType::Delete, t0());
            let mut c = insert(&r, &["crm"], t0());
            c.guard = Some(DuplicateGuard {
                ty: RequestType::Delete,
                subjects: vec![SubjectId::new("same").unwrap()],
                merge_set: None,
            });
            retrying(|| store.commit(c.clone())).await
        }));
    }
    let mut ok = 0;
    for c in creators {
        match c.await.expect("creator") {
            Ok(()) => ok += 1,
            Err(Error::Duplicate { .. }) => {}
            Err(e) => panic!("{case}: unexpected error {e}"),
        }
    }
    assert_eq!(
        ok, 1,
        "{case}: one creation wins, the others are duplicates"
    );
    assert_eq!(
        store
            .requests(&g, &RequestFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );
    verify(store.as_ref(), &g, case).await;
}

/// Retries what a backend reports as a transient conflict of concurrent transactions
/// (a serialization failure): the engine does the same.
async fn retrying<T, F, Fut>(mut f: F) -> crate::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = crate::Result<T>>,
{
    let mut last = None;
    for _ in 0..50 {
        match f().await {
            Err(Error::Busy(e)) => {
                last = Some(Error::Busy(e));
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            other => return other,
        }
    }
    Err(last.expect("tried"))
}

/// The [`ServerStore`](crate::server_store::ServerStore) contract: tenants and the
/// subject directory (counts, last value wins, deletes, the change feed where the store
/// has one), clients (unique names per tenant, rotation and revocation of live clients
/// only, last use never moving back), server keys (the first writer wins), callbacks
/// (each status recorded once, closed on the last, deliveries in order and held by the
/// node that took them), idempotency keys (the first record stays) and tenant
/// isolation of all of it. Panics at the first violation, naming the case.
pub async fn run_server(store: &dyn crate::server_store::ServerStore) {
    server_subjects(store).await;
    server_clients(store).await;
    server_callbacks(store).await;
    server_idempotency(store).await;
    server_portal(store).await;
    server_notifications(store).await;
}

async fn server_notifications(store: &dyn crate::server_store::ServerStore) {
    use crate::server_store::{NotificationRow, NotifyWatch};
    let case = "server notifications";
    let (t, other) = (tenant("notify"), tenant("notify-other"));
    let now = Utc::now().timestamp_micros();
    let w = NotifyWatch {
        tenant: t.clone(),
        request_id: "r1".into(),
        address: Some("ann@example.com".into()),
        created_us: now,
    };
    assert!(
        store.watch_notifications(&w).await.unwrap(),
        "{case}: watched"
    );
    let again = NotifyWatch {
        address: Some("other@example.com".into()),
        ..w.clone()
    };
    assert!(
        !store.watch_notifications(&again).await.unwrap(),
        "{case}: watched once"
    );
    let ours = |ws: Vec<NotifyWatch>| ws.into_iter().filter(|w| w.tenant == t).collect::<Vec<_>>();
    assert_eq!(
        ours(store.notify_watches().await.unwrap()),
        vec![w.clone()],
        "{case}: the first address stays"
    );
    let row = |event: &str| NotificationRow {
        tenant: t.clone(),
        request_id: "r1".into(),
        event: event.into(),
        state: "pending".into(),
        address: Some("ann@example.com".into()),
        message: Some("{}".into()),
        attempts: 0,
        next_us: now,
        last_error: None,
        created_us: now,
        sent_us: None,
    };
    assert_eq!(
        store
            .record_notifications(&t, "r1", &[row("received")], false)
            .await
            .unwrap(),
        1,
        "{case}: recorded"
    );
    assert_eq!(
        store
            .record_notifications(&t, "r1", &[row("received"), row("completed")], true)
            .await
            .unwrap(),
        1,
        "{case}: an event is recorded once"
    );
    assert!(
        ours(store.notify_watches().await.unwrap()).is_empty(),
        "{case}: closed with the last notice"
    );
    // Another tenant's request of the same id is another notification.
    let mut theirs = row("received");
    theirs.tenant = other.clone();
    store
        .record_notifications(&other, "r1", &[theirs], false)
        .await
        .unwrap();
    let listed = store.notifications(&t, "r1").await.unwrap();
    assert_eq!(listed.len(), 2, "{case}: listed per tenant");
    // Taken once while held; an attempt's result is recorded as given.
    let hold = now + 60_000_000;
    let taken: Vec<_> = store
        .take_due_notifications(now, hold, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.tenant == t)
        .collect();
    assert_eq!(taken.len(), 2, "{case}: both due");
    assert!(
        !store
            .take_due_notifications(now, hold, 1000)
            .await
            .unwrap()
            .iter()
            .any(|n| n.tenant == t),
        "{case}: held while sent"
    );
    let mut sent = taken[0].clone();
    sent.state = "sent".into();
    sent.address = None;
    sent.message = None;
    sent.attempts = 1;
    sent.sent_us = Some(now);
    store.update_notification(&sent).await.unwrap();
    let mut retry = taken[1].clone();
    retry.attempts = 1;
    retry.last_error = Some("refused".into());
    retry.next_us = now;
    store.update_notification(&retry).await.unwrap();
    let after = store.notifications(&t, "r1").await.unwrap();
    assert!(
        after.contains(&sent) && after.contains(&retry),
        "{case}: {after:?}"
    );
    let due: Vec<_> = store
        .take_due_notifications(now, hold, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.tenant == t)
        .collect();
    assert_eq!(due.len(), 1, "{case}: only the pending one is due again");
    assert_eq!(due[0].event, retry.event);
}

fn subject(id: &str, name: &str) -> Subject {
    let mut s = Subject::new(
        SubjectKind::ExternalContact,
        SubjectId::new(id).expect("subject id"),
    );
    s.names.push(name.into());
    s
}

async fn server_subjects(store: &dyn crate::server_store::ServerStore) {
    let case = "server subjects";
    let t = tenant("subjects");
    let other = tenant("subjects-other");
    assert!(!store.has_tenant(&t).await.unwrap(), "{case}: a new tenant");
    assert!(store.add_tenant(&t).await.unwrap(), "{case}: created");
    assert!(!store.add_tenant(&t).await.unwrap(), "{case}: created once");
    assert!(store.add_tenant(&other).await.unwrap());
    assert!(store.has_tenant(&t).await.unwrap());
    let names = store.tenant_names().await.unwrap();
    assert!(
        names.contains(&t) && names.contains(&other),
        "{case}: listed"
    );
    let c = store
        .put_subjects(&t, &[subject("a", "Ann"), subject("b", "Bob")])
        .await
        .unwrap();
    assert_eq!((c.created, c.updated), (2, 0), "{case}: counts");
    let (_, start) = store.load_subjects(&t).await.unwrap();
    let c = store
        .put_subjects(
            &t,
            &[
                subject("b", "Bobby"),
                subject("c", "Cy"),
                subject("c", "Cyril"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        (c.created, c.updated),
        (1, 2),
        "{case}: counts, an id twice"
    );
    store
        .put_subjects(&other, &[subject("a", "Someone Else")])
        .await
        .unwrap();
    assert!(
        store
            .remove_subject(&t, &SubjectId::new("a").unwrap())
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_subject(&t, &SubjectId::new("a").unwrap())
            .await
            .unwrap(),
        "{case}: deleted once"
    );
    let (all, seq) = store.load_subjects(&t).await.unwrap();
    let got: Vec<(&str, &str)> = all
        .iter()
        .map(|s| (s.id.as_str(), s.names[0].as_str()))
        .collect();
    assert_eq!(
        got,
        [("b", "Bobby"), ("c", "Cyril")],
        "{case}: last value wins"
    );
    assert_eq!(
        store
            .get_subject(&other, &SubjectId::new("a").unwrap())
            .await
            .unwrap()
            .map(|s| s.names[0].clone()),
        Some("Someone Else".into()),
        "{case}: the other tenant's subject of the same id is untouched"
    );
    assert!(
        store
            .get_subject(&t, &SubjectId::new("a").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    if store.has_change_feed() {
        let changes = store.subject_changes(&t, start, 100).await.unwrap();
        let ids: Vec<(&str, bool)> = changes
            .iter()
            .map(|c| {
                (
                    c.id.as_ref().map_or("", |i| i.as_str()),
                    c.subject.is_some(),
                )
            })
            .collect();
        // Each change carries the value now: `a` is gone, `b` and `c` have their last.
        assert_eq!(
            ids,
            [("b", true), ("c", true), ("a", false)],
            "{case}: the feed after the first load"
        );
        assert!(
            changes.windows(2).all(|w| w[0].seq < w[1].seq),
            "{case}: the feed is ordered"
        );
        assert_eq!(
            changes.iter().map(|c| c.deleted).collect::<Vec<_>>(),
            [false, false, true]
        );
        // The deleted subject's earlier change no longer names it (its deletion does,
        // for the followers, until the store's retention scrubs it too).
        let all = store.subject_changes(&t, 0, 100).await.unwrap();
        let named_a = all
            .iter()
            .filter(|c| c.id.as_ref().is_some_and(|i| i.as_str() == "a"))
            .count();
        assert_eq!(named_a, 1, "{case}: only the deletion names `a`: {all:?}");
        assert!(all.iter().any(|c| c.id.is_none() && !c.deleted));
        assert_eq!(
            changes.last().map(|c| c.seq),
            Some(seq),
            "{case}: load's position"
        );
        assert!(
            store
                .subject_changes(&t, seq, 100)
                .await
                .unwrap()
                .is_empty()
        );
    } else {
        assert_eq!(seq, 0, "{case}: no feed, position 0");
    }
    assert_eq!(store.suppression_size(&t).await.unwrap(), 0);
    assert!(
        !store.refuses_erased(&t).await.unwrap(),
        "{case}: warn by default"
    );
}

fn client(id: &str, tenant: &TenantId, name: &str) -> crate::server_store::ClientRow {
    crate::server_store::ClientRow {
        id: id.into(),
        tenant: tenant.clone(),
        name: name.into(),
        kind: "oauth".into(),
        scopes: vec!["subjects:read".into(), "requests:read".into()],
        secret_hash: "ab".into(),
        created_us: 1,
        last_used_us: None,
        rotated_us: None,
        revoked_us: None,
    }
}

async fn server_clients(store: &dyn crate::server_store::ServerStore) {
    let case = "server clients";
    let (a, b) = (tenant("clients-a"), tenant("clients-b"));
    let suffix = hex::encode(&crate::privacy::random_key().unwrap()[..6]);
    let id = |n: &str| format!("{n}-{suffix}");
    assert!(
        store
            .insert_client(&client(&id("c1"), &a, "crm"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_client(&client(&id("c2"), &a, "crm"))
            .await
            .unwrap(),
        "{case}: one name per tenant"
    );
    assert!(
        store
            .insert_client(&client(&id("c3"), &b, "crm"))
            .await
            .unwrap()
    );
    assert_eq!(
        store.clients(Some(&a)).await.unwrap().len(),
        1,
        "{case}: per tenant"
    );
    let all = store.clients(None).await.unwrap();
    assert!(all.iter().any(|c| c.id == id("c1")) && all.iter().any(|c| c.id == id("c3")));
    let c1 = store.client(&id("c1")).await.unwrap().expect("c1");
    assert_eq!(c1, client(&id("c1"), &a, "crm"), "{case}: read back");
    assert_eq!(
        store.client_by_name(&b, "crm").await.unwrap().map(|c| c.id),
        Some(id("c3")),
        "{case}: by name, in its tenant"
    );
    assert!(store.client_by_name(&a, "nope").await.unwrap().is_none());
    assert!(store.rotate_client(&id("c1"), "cd", 5).await.unwrap());
    assert!(store.revoke_client(&id("c1"), 6).await.unwrap());
    assert!(
        !store.revoke_client(&id("c1"), 7).await.unwrap(),
        "{case}: revoked once"
    );
    assert!(
        !store.rotate_client(&id("c1"), "ef", 8).await.unwrap(),
        "{case}: a revoked client is not rotated"
    );
    let c = store.client(&id("c1")).await.unwrap().unwrap();
    assert_eq!(
        (c.secret_hash.as_str(), c.rotated_us, c.revoked_us),
        ("cd", Some(5), Some(6)),
        "{case}: rotation and revocation"
    );
    store.touch_clients(&[(id("c3"), 9)]).await.unwrap();
    store.touch_clients(&[(id("c3"), 4)]).await.unwrap();
    assert_eq!(
        store.client(&id("c3")).await.unwrap().unwrap().last_used_us,
        Some(9),
        "{case}: last use never moves back"
    );
    let name = format!("key-{suffix}");
    let k1 = store.server_key(&name, &[1; 32]).await.unwrap();
    let k2 = store.server_key(&name, &[2; 32]).await.unwrap();
    assert_eq!(
        (k1.clone(), k2),
        (vec![1; 32], vec![1; 32]),
        "{case}: first key stays"
    );
    // Keys of any length (an RSA key and its certificate), and a read that writes
    // nothing.
    let long = format!("long-{suffix}");
    assert_eq!(
        store.stored_server_key(&long).await.unwrap(),
        None,
        "{case}: no key yet"
    );
    assert_eq!(
        store.stored_server_key(&long).await.unwrap(),
        None,
        "{case}: reading stores nothing"
    );
    let big: Vec<u8> = (0..1300u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(store.server_key(&long, &big).await.unwrap(), big);
    assert_eq!(
        store.stored_server_key(&long).await.unwrap(),
        Some(big),
        "{case}: a long key kept whole"
    );
}

async fn server_callbacks(store: &dyn crate::server_store::ServerStore) {
    let case = "server callbacks";
    let (t, other) = (tenant("callbacks"), tenant("callbacks-other"));
    let url = "https://receiver.example/cb";
    store.add_callback(&t, "r1", url).await.unwrap();
    store.add_callback(&t, "r1", url).await.unwrap();
    store.add_callback(&other, "r1", url).await.unwrap();
    let open: Vec<_> = store
        .open_callbacks()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.tenant == t)
        .collect();
    assert_eq!(open.len(), 1, "{case}: registered once");
    let cb = &open[0];
    assert!(
        store
            .record_callback_status(cb, "in_progress", "{}", false, 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_callback_status(cb, "in_progress", "{}", false, 2)
            .await
            .unwrap(),
        "{case}: a status is recorded once"
    );
    assert!(
        store
            .record_callback_status(cb, "completed", "{\"done\":1}", true, 3)
            .await
            .unwrap()
    );
    assert!(
        !store
            .open_callbacks()
            .await
            .unwrap()
            .iter()
            .any(|c| c.tenant == t),
        "{case}: closed on the last status"
    );
    // Deliveries of other tenants (and of earlier runs) may be due too: look at ours.
    let ours = |v: Vec<crate::server_store::DeliveryRow>| -> Vec<crate::server_store::DeliveryRow> {
        v.into_iter().filter(|d| d.tenant == t).collect()
    };
    let due = ours(store.take_due_deliveries(10, 1_000, 1000).await.unwrap());
    assert_eq!(due.len(), 1, "{case}: the second waits for the first");
    assert_eq!(due[0].status, "in_progress");
    assert!(
        ours(store.take_due_deliveries(20, 1_000, 1000).await.unwrap()).is_empty(),
        "{case}: a taken delivery is held for its taker"
    );
    let mut d = due[0].clone();
    d.state = "delivered".into();
    d.attempts = 1;
    d.delivered_us = Some(30);
    store.update_delivery(&d).await.unwrap();
    let due = ours(store.take_due_deliveries(40, 2_000, 1000).await.unwrap());
    assert_eq!(
        due.iter()
            .map(|d| (d.status.as_str(), d.body.as_str()))
            .collect::<Vec<_>>(),
        [("completed", "{\"done\":1}")],
        "{case}: then the next one"
    );
    // Not recorded by its taker: due again once the hold ends.
    assert_eq!(
        ours(store.take_due_deliveries(2_001, 3_000, 1000).await.unwrap()).len(),
        1,
        "{case}: a hold that ends makes the delivery due again"
    );
    let listed = store.deliveries(&t, "r1").await.unwrap();
    assert_eq!(listed.len(), 2, "{case}: listed");
    assert_eq!((listed[0].seq, listed[0].state.as_str()), (1, "delivered"));
    assert_eq!(listed[1].seq, 2);
    assert!(
        store.deliveries(&other, "r1").await.unwrap().is_empty(),
        "{case}: another tenant's request of the same id has none"
    );
}

async fn server_idempotency(store: &dyn crate::server_store::ServerStore) {
    let case = "server idempotency";
    let (t, other) = (tenant("idem"), tenant("idem-other"));
    assert!(
        store
            .idempotency_key(&t, "c1", "k")
            .await
            .unwrap()
            .is_none()
    );
    store
        .put_idempotency_key(&t, "c1", "k", "h1", "r1", 1)
        .await
        .unwrap();
    store
        .put_idempotency_key(&t, "c1", "k", "h2", "r2", 2)
        .await
        .unwrap();
    assert_eq!(
        store.idempotency_key(&t, "c1", "k").await.unwrap(),
        Some(("h1".into(), "r1".into())),
        "{case}: the first record stays"
    );
    assert!(
        store
            .idempotency_key(&t, "c2", "k")
            .await
            .unwrap()
            .is_none(),
        "{case}: per client"
    );
    assert!(
        store
            .idempotency_key(&other, "c1", "k")
            .await
            .unwrap()
            .is_none(),
        "{case}: per tenant"
    );
}

async fn server_portal(store: &dyn crate::server_store::ServerStore) {
    use crate::server_store::{PortalSessionRow, ShareRow};
    let case = "server portal";
    let (t, other) = (tenant("portal"), tenant("portal-other"));
    // Real times: other tests on a shared database forget what expired by the clock.
    let now = Utc::now().timestamp_micros();
    let hour = 3_600_000_000;
    let uniq = |x: &str| {
        format!(
            "{x}-{}",
            hex::encode(crate::privacy::random_key().expect("random"))
        )
    };

    // Sign-in assertions are single use, per tenant.
    let jti = uniq("jti");
    assert!(
        store
            .use_assertion(&t, &jti, now + hour, now)
            .await
            .unwrap(),
        "{case}: first use"
    );
    assert!(
        !store
            .use_assertion(&t, &jti, now + hour, now)
            .await
            .unwrap(),
        "{case}: a replay is refused"
    );
    assert!(
        store
            .use_assertion(&other, &jti, now + hour, now)
            .await
            .unwrap(),
        "{case}: per tenant"
    );
    // An expired id is forgotten (its assertion is refused by its expiry anyway).
    let old = uniq("old");
    assert!(
        store
            .use_assertion(&t, &old, now - hour, now - 2 * hour)
            .await
            .unwrap()
    );
    assert!(
        store
            .use_assertion(&t, &old, now + hour, now)
            .await
            .unwrap(),
        "{case}: expired ids are forgotten"
    );

    // Sessions by the hash of their id.
    let s = PortalSessionRow {
        id_hash: uniq("session"),
        tenant: t.clone(),
        subject_id: "c-1".into(),
        csrf: "csrf".into(),
        lang: "en".into(),
        created_us: now,
        last_us: now,
    };
    store.put_portal_session(&s).await.unwrap();
    assert_eq!(
        store.portal_session(&s.id_hash).await.unwrap(),
        Some(s.clone()),
        "{case}: stored whole"
    );
    assert!(store.portal_session("nope").await.unwrap().is_none());
    store
        .touch_portal_session(&s.id_hash, now + 10, "fr")
        .await
        .unwrap();
    store
        .touch_portal_session(&s.id_hash, now + 5, "fr")
        .await
        .unwrap();
    let got = store.portal_session(&s.id_hash).await.unwrap().unwrap();
    assert_eq!(
        (got.last_us, got.lang.as_str()),
        (now + 10, "fr"),
        "{case}: touched, never back in time"
    );
    let idle = PortalSessionRow {
        id_hash: uniq("idle"),
        last_us: now - 2 * hour,
        created_us: now - 2 * hour,
        ..s.clone()
    };
    store.put_portal_session(&idle).await.unwrap();
    assert!(store.end_idle_portal_sessions(now - hour).await.unwrap() >= 1);
    assert!(
        store.portal_session(&idle.id_hash).await.unwrap().is_none(),
        "{case}: idle ended"
    );
    assert!(
        store.portal_session(&s.id_hash).await.unwrap().is_some(),
        "{case}: active kept"
    );
    store.end_portal_session(&s.id_hash).await.unwrap();
    assert!(
        store.portal_session(&s.id_hash).await.unwrap().is_none(),
        "{case}: signed out"
    );

    // Forwarding links: counted downloads, expiry, withdrawal, per tenant.
    let link = ShareRow {
        id_hash: uniq("share"),
        tenant: t.clone(),
        request_id: "r-1".into(),
        recipient: "new insurer".into(),
        created_us: now,
        expires_us: now + hour,
        max_downloads: 2,
        downloads: 0,
        revoked_us: None,
    };
    store.put_share(&link).await.unwrap();
    assert_eq!(
        store.share(&link.id_hash).await.unwrap(),
        Some(link.clone())
    );
    let later = ShareRow {
        id_hash: uniq("share2"),
        created_us: now + 1,
        ..link.clone()
    };
    store.put_share(&later).await.unwrap();
    let listed = store.shares(&t, "r-1").await.unwrap();
    assert_eq!(
        listed.iter().map(|x| x.id_hash.clone()).collect::<Vec<_>>(),
        vec![later.id_hash.clone(), link.id_hash.clone()],
        "{case}: newest first"
    );
    assert!(
        store.shares(&other, "r-1").await.unwrap().is_empty(),
        "{case}: per tenant"
    );
    assert_eq!(
        store
            .take_share_download(&link.id_hash, now)
            .await
            .unwrap()
            .map(|x| x.downloads),
        Some(1)
    );
    assert_eq!(
        store
            .take_share_download(&link.id_hash, now)
            .await
            .unwrap()
            .map(|x| x.downloads),
        Some(2)
    );
    assert!(
        store
            .take_share_download(&link.id_hash, now)
            .await
            .unwrap()
            .is_none(),
        "{case}: no more than allowed"
    );
    assert_eq!(
        store.share(&link.id_hash).await.unwrap().unwrap().downloads,
        2
    );
    assert!(
        store
            .take_share_download(&later.id_hash, now + hour)
            .await
            .unwrap()
            .is_none(),
        "{case}: expired"
    );
    assert!(
        !store
            .revoke_share(&other, &later.id_hash, now)
            .await
            .unwrap(),
        "{case}: another tenant cannot withdraw"
    );
    assert!(store.revoke_share(&t, &later.id_hash, now).await.unwrap());
    assert!(
        !store.revoke_share(&t, &later.id_hash, now).await.unwrap(),
        "{case}: once"
    );
    assert!(
        store
            .take_share_download(&later.id_hash, now)
            .await
            .unwrap()
            .is_none(),
        "{case}: withdrawn"
    );
    assert!(
        store
            .take_share_download("nope", now)
            .await
            .unwrap()
            .is_none()
    );
}
