//! The SQLite store: it keeps the store contract (the conformance suite every backend
//! runs), its audit log is append-only by trigger, and an entry altered, removed or
//! reordered behind SQLite's back is found and named by verification.

use chrono::TimeZone;
use dsr_engine::audit::{self, AuditAction, AuditEvent};
use dsr_engine::conformance;
use dsr_engine::store::{Change, Store};
use dsr_model::{RequestType, TenantId};
use dsr_store_sqlite::SqliteStore;
use dsr_store_sqlite::engine_store::SqliteEngineStore;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_the_store_contract_in_memory_and_in_a_file() {
    let mem = SqliteEngineStore::new(Arc::new(SqliteStore::open_in_memory().unwrap()));
    conformance::run(&mem).await;
    conformance::run_server(&mem).await;
    let dir = tempfile::tempdir().unwrap();
    let file = SqliteEngineStore::new(Arc::new(
        SqliteStore::open(dir.path().join("dsr.db")).unwrap(),
    ));
    conformance::run(&file).await;
    conformance::run_server(&file).await;
    // Several connections (as several processes would have) racing on one file.
    let racing = SqliteEngineStore::new(Arc::new(
        SqliteStore::open(dir.path().join("dsr.db")).unwrap(),
    ));
    conformance::run_concurrent(Arc::new(racing)).await;
}

struct Fixture {
    store: SqliteEngineStore,
    tenant: TenantId,
}

impl Fixture {
    async fn verify(&self) -> audit::Report {
        let (entries, head) = self.store.audit(&self.tenant).await.unwrap();
        audit::verify(&entries, head.as_ref().map(|(i, h)| (*i, h.as_str())))
    }
}

/// Thirty entries over several commits, as requests being carried out write them.
async fn with_history() -> Fixture {
    let store = SqliteEngineStore::new(Arc::new(SqliteStore::open_in_memory().unwrap()));
    let tenant = TenantId::new("acme").unwrap();
    let at = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
    for i in 0..10 {
        let r = conformance::sample_request(&tenant, &format!("s-{i}"), RequestType::Export, at);
        let mut c = Change::new(tenant.clone(), at);
        for action in [
            AuditAction::RequestStatus(dsr_engine::RequestStatus::Received),
            AuditAction::TaskDone,
            AuditAction::PackageGenerated,
        ] {
            c.audit.push(AuditEvent::request(
                "test",
                action,
                r.id.as_str(),
                serde_json::json!({"records": i}),
            ));
        }
        store.commit(c).await.unwrap();
    }
    let f = Fixture { store, tenant };
    let report = f.verify().await;
    assert!(report.ok(), "{:?}", report.problems);
    assert_eq!(report.entries, 30);
    f
}

fn sql(f: &Fixture, statements: &str) -> Result<(), String> {
    f.store
        .db()
        .with_conn(|c| c.execute_batch(statements))
        .map_err(|e| e.to_string())
}

const DROP_GUARDS: &str = "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;";

async fn first_problem(f: &Fixture) -> (u64, String) {
    let r = f.verify().await;
    let p = r.problems.first().expect("verification must fail");
    (p.index, p.reason.clone())
}

#[tokio::test]
async fn the_log_refuses_updates_and_deletes() {
    let f = with_history().await;
    let err = sql(&f, "UPDATE audit_log SET actor = 'x' WHERE idx = 3").unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    let err = sql(&f, "DELETE FROM audit_log WHERE idx = 3").unwrap_err();
    assert!(err.contains("append-only"), "{err}");
}

#[tokio::test]
async fn an_altered_entry_is_named() {
    let f = with_history().await;
    sql(
        &f,
        &format!("{DROP_GUARDS} UPDATE audit_log SET detail = '{{\"records\":0}}' WHERE idx = 7"),
    )
    .unwrap();
    let (idx, reason) = first_problem(&f).await;
    assert_eq!(idx, 7, "{reason}");
    assert!(
        reason.contains("entry 7") && reason.contains("altered"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_removed_entry_is_named() {
    let f = with_history().await;
    sql(
        &f,
        &format!("{DROP_GUARDS} DELETE FROM audit_log WHERE idx = 5"),
    )
    .unwrap();
    let (idx, reason) = first_problem(&f).await;
    assert_eq!(idx, 5, "{reason}");
    assert!(reason.contains("missing or out of order"), "{reason}");
}

#[tokio::test]
async fn reordered_entries_are_named() {
    let f = with_history().await;
    // Swap the storage order of entries 4 and 5.
    sql(
        &f,
        &format!(
            "{DROP_GUARDS}
             UPDATE audit_log SET seq = -1 WHERE idx = 4;
             UPDATE audit_log SET seq = seq - 1 WHERE idx = 5;
             UPDATE audit_log SET seq = (SELECT seq FROM audit_log WHERE idx = 5) + 1 WHERE idx = 4;"
        ),
    )
    .unwrap();
    let (idx, reason) = first_problem(&f).await;
    assert_eq!(idx, 4, "{reason}");
    assert!(reason.contains("out of order (found entry 5"), "{reason}");
}

#[tokio::test]
async fn entries_removed_at_the_end_are_caught() {
    let f = with_history().await;
    sql(
        &f,
        &format!(
            "{DROP_GUARDS} DELETE FROM audit_log WHERE idx = (SELECT max(idx) FROM audit_log)"
        ),
    )
    .unwrap();
    let (_, reason) = first_problem(&f).await;
    assert!(reason.contains("removed at the end"), "{reason}");
}
