//! The PostgreSQL store keeps the store contract: the conformance suite every backend
//! runs, on a database created for the run (from `DSR_TEST_POSTGRES`, a URL to a
//! server where the user may create databases; `.ci/run` starts one). Without it the
//! tests say so and pass locally; under CI (`CI` set) they fail instead.

use dsr_engine::conformance;
use dsr_store_postgres::PgStore;
use std::sync::Arc;

/// A fresh database on the test server, or `None` (with a visible message) when no
/// server is configured outside CI.
pub async fn fresh_database(name: &str) -> Option<String> {
    let Ok(admin) = std::env::var("DSR_TEST_POSTGRES") else {
        if std::env::var_os("CI").is_some() {
            panic!("CI must run the PostgreSQL tests: set DSR_TEST_POSTGRES (see .ci/postgres)");
        }
        eprintln!(
            "SKIPPED {name}: no PostgreSQL (set DSR_TEST_POSTGRES, e.g. with `eval \"$(bash .ci/postgres start /tmp/dsr-pg)\"`)"
        );
        return None;
    };
    let db = format!("dsr_test_{name}_{}", std::process::id());
    Some(
        dsr_store_postgres::recreate_database(&admin, &db)
            .await
            .expect("create the test database"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keeps_the_store_contract() {
    let Some(url) = fresh_database("contract").await else {
        return;
    };
    let store = PgStore::connect(&url, 8).await.expect("connect");
    conformance::run(&store).await;
    conformance::run_server(&store).await;
    conformance::run_concurrent(Arc::new(store.clone())).await;
    // Two stores (as two nodes would have) racing on one database.
    let other = PgStore::connect(&url, 8).await.expect("second node");
    conformance::run_concurrent(Arc::new(other)).await;
}

#[tokio::test]
async fn migrations_apply_once_and_refuse_a_newer_schema() {
    let Some(url) = fresh_database("migrations").await else {
        return;
    };
    let (a, b) = tokio::join!(PgStore::connect(&url, 2), PgStore::connect(&url, 2));
    a.expect("first node");
    b.expect("second node starting at the same time");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .execute("INSERT INTO dsr_migrations (version) VALUES (999)", &[])
        .await
        .unwrap();
    let err = PgStore::connect(&url, 2).await.unwrap_err().to_string();
    assert!(err.contains("newer") && err.contains("upgrade"), "{err}");
}

#[tokio::test]
async fn a_wrong_url_or_a_missing_database_is_said_plainly() {
    let err = PgStore::connect("mysql://x/y", 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("postgres://"), "{err}");
    let Some(url) = fresh_database("missing").await else {
        return;
    };
    let base = url.rsplit_once('/').unwrap().0;
    let err = PgStore::connect(&format!("{base}/no_such_db_here"), 1)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no_such_db_here") && err.contains("does not exist"),
        "{err}"
    );
}

#[tokio::test]
async fn a_batch_upsert_counts_new_and_replaced_ids_and_feeds_every_change() {
    let Some(url) = fresh_database("upsert").await else {
        return;
    };
    let store = PgStore::connect(&url, 2).await.expect("connect");
    let t = dsr_model::TenantId::default();
    store.create_tenant(&t, None).await.unwrap();
    let subject = |id: &str, name: &str| {
        let mut s = dsr_model::Subject::new(
            dsr_model::SubjectKind::ExternalContact,
            dsr_model::SubjectId::new(id).unwrap(),
        );
        s.names.push(name.into());
        s
    };
    let c = store
        .upsert_subjects_counted(&t, &[subject("a", "Ann"), subject("b", "Bob")])
        .await
        .unwrap();
    assert_eq!((c.created, c.updated), (2, 0));
    // `b` replaced, `c` new, `c` given twice in the batch: the last value wins.
    let c = store
        .upsert_subjects_counted(
            &t,
            &[
                subject("b", "Bobby"),
                subject("c", "Cy"),
                subject("c", "Cyril"),
            ],
        )
        .await
        .unwrap();
    assert_eq!((c.created, c.updated), (1, 2));
    let (all, seq) = store.load_subjects(&t).await.unwrap();
    let names: Vec<_> = all.iter().map(|s| s.names[0].as_str()).collect();
    assert_eq!(names, ["Ann", "Bobby", "Cyril"]);
    let changes = store.subject_changes(&t, 0, 100).await.unwrap();
    let ids: Vec<_> = changes
        .iter()
        .map(|c| c.id.as_ref().map_or("", |i| i.as_str()))
        .collect();
    assert_eq!(ids, ["a", "b", "b", "c"]);
    assert_eq!(changes.last().unwrap().seq, seq);
}

/// The claim indexes are partial, and their predicates are frozen in a migration: they
/// must name exactly the statuses the engine's claim takes, or claims would scan the
/// whole table (or miss tasks) after a status is added.
#[tokio::test]
async fn the_claim_indexes_cover_exactly_what_a_claim_takes() {
    let Some(url) = fresh_database("indexes").await else {
        return;
    };
    PgStore::connect(&url, 1)
        .await
        .expect("connect and migrate");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let def = |name: &'static str| {
        let client = &client;
        async move {
            let row = client
                .query_one(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = $1",
                    &[&name],
                )
                .await
                .unwrap();
            row.get::<_, String>(0)
        }
    };
    let due = def("tasks_due").await;
    let named: Vec<&str> = dsr_engine::TaskStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .filter(|s| due.contains(&format!("'{s}'")))
        .collect();
    let wanted: Vec<&str> = dsr_engine::store::ClaimSpec::DUE
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(named, wanted, "{due}");
    let leased = def("tasks_leased").await;
    let named: Vec<&str> = dsr_engine::TaskStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .filter(|s| leased.contains(&format!("'{s}'")))
        .collect();
    assert_eq!(
        named,
        [dsr_engine::store::ClaimSpec::EXPIRED.as_str()],
        "{leased}"
    );
}
