//! The audit chain in the SQLite store: append-only by trigger, and an entry altered,
//! removed or reordered behind SQLite's back is found and named by verification.

mod common;

use common::*;
use dsr_model::RequestType;

async fn with_history() -> Fixture {
    let f = fixture();
    f.create(RequestType::Export, "id=c-9").await.unwrap();
    f.create(RequestType::Delete, "id=c-1").await.unwrap();
    f.run().await;
    let report = f.engine.verify_audit().await.unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert!(report.entries > 20, "{}", report.entries);
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
    let r = f.engine.verify_audit().await.unwrap();
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
