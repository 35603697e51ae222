//! The follower on PostgreSQL: a subject change whose transaction took its feed number
//! before a later change but committed after it is still applied (the cursor waits for
//! the number it skipped). Needs `DSR_TEST_POSTGRES`; skipped visibly without it, and
//! failing under CI.

use dsr_engine::server_store::ServerStore;
use dsr_model::{Subject, SubjectId, SubjectKind, TenantId};
use dsr_ops::follow::{Cursor, catch_up};

fn subject(id: &str, email: &str) -> Subject {
    let mut s = Subject::new(SubjectKind::ExternalContact, SubjectId::new(id).unwrap());
    s.emails.push(email.into());
    s
}

/// A fresh database named after `name` on the test server, or `None` (skipped,
/// visibly) without one; CI must have one.
async fn database(name: &str) -> Option<String> {
    let Ok(admin) = std::env::var("DSR_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the PostgreSQL tests: set DSR_TEST_POSTGRES (see .ci/postgres)"
        );
        eprintln!("SKIPPED follow: no PostgreSQL (set DSR_TEST_POSTGRES)");
        return None;
    };
    Some(
        dsr_ops::pg::recreate_database(&admin, &format!("{name}_{}", std::process::id()))
            .await
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_committed_out_of_order_is_not_skipped() {
    let Some(url) = database("dsr_follow").await else {
        return;
    };
    let t = TenantId::new("acme").unwrap();
    let store = dsr_ops::pg::connect(&url, &t, true, None).await.unwrap();
    let (dir, at) = dsr_ops::open::directory_at(&store, &t).await.unwrap();
    let dir = tokio::sync::RwLock::new(dir);
    let mut cursor = Cursor::at(at);

    // A writer takes a feed number and does not commit yet.
    let (slow, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    slow.batch_execute("BEGIN").await.unwrap();
    let doc = serde_json::to_string(&subject("c-slow", "slow@example.org")).unwrap();
    slow.execute(
        "INSERT INTO subjects (tenant, id, doc, updated_us) VALUES ('acme', 'c-slow', $1, 0)",
        &[&doc],
    )
    .await
    .unwrap();
    slow.execute(
        "INSERT INTO subject_changes (tenant, subject_id, deleted) VALUES ('acme', 'c-slow', FALSE)",
        &[],
    )
    .await
    .unwrap();
    // A later number commits first.
    store
        .put_subjects(&t, &[subject("c-fast", "fast@example.org")])
        .await
        .unwrap();
    assert_eq!(catch_up(&store, &t, &mut cursor, &dir).await.unwrap(), 1);
    assert_eq!(cursor.waiting(), 1, "the skipped number is waited for");
    {
        let d = dir.read().await;
        assert!(d.get(&SubjectId::new("c-fast").unwrap()).is_some());
        assert!(d.get(&SubjectId::new("c-slow").unwrap()).is_none());
    }
    slow.batch_execute("COMMIT").await.unwrap();
    assert_eq!(catch_up(&store, &t, &mut cursor, &dir).await.unwrap(), 1);
    assert_eq!(cursor.waiting(), 0);
    assert!(
        dir.read()
            .await
            .get(&SubjectId::new("c-slow").unwrap())
            .is_some(),
        "the late commit is applied"
    );
    // Nothing new: nothing applied, and a delete elsewhere is followed too.
    assert_eq!(catch_up(&store, &t, &mut cursor, &dir).await.unwrap(), 0);
    store
        .remove_subject(&t, &SubjectId::new("c-fast").unwrap())
        .await
        .unwrap();
    assert_eq!(catch_up(&store, &t, &mut cursor, &dir).await.unwrap(), 1);
    assert!(
        dir.read()
            .await
            .get(&SubjectId::new("c-fast").unwrap())
            .is_none()
    );
}

/// A node further behind than the store keeps deleted ids (their ids scrubbed from the
/// feed) cannot tell which subject went: it reloads the tenant's directory instead of
/// keeping the erased person findable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_behind_a_scrubbed_deletion_reloads() {
    let Some(url) = database("dsr_follow_scrub").await else {
        return;
    };
    let t = TenantId::new("acme").unwrap();
    let store = dsr_ops::pg::connect(&url, &t, true, None).await.unwrap();
    store
        .put_subjects(
            &t,
            &[
                subject("c-1", "one@example.org"),
                subject("c-2", "two@example.org"),
            ],
        )
        .await
        .unwrap();
    let (dir, at) = dsr_ops::open::directory_at(&store, &t).await.unwrap();
    let dir = tokio::sync::RwLock::new(dir);
    let mut cursor = Cursor::at(at);
    assert!(
        store
            .remove_subject(&t, &SubjectId::new("c-1").unwrap())
            .await
            .unwrap()
    );
    // The retention passes before this node reads the feed.
    let (admin_client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    admin_client
        .execute(
            "UPDATE subject_changes SET subject_id = NULL WHERE deleted",
            &[],
        )
        .await
        .unwrap();
    let named: i64 = admin_client
        .query_one(
            "SELECT count(*) FROM subject_changes WHERE subject_id = 'c-1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(named, 0, "no change names the deleted subject any more");
    catch_up(&store, &t, &mut cursor, &dir).await.unwrap();
    let d = dir.read().await;
    assert!(
        d.get(&SubjectId::new("c-1").unwrap()).is_none(),
        "reloaded without c-1"
    );
    assert!(d.get(&SubjectId::new("c-2").unwrap()).is_some());
    assert!(cursor.position() > at);
}
