//! Time per task of each connector kind, with the in-memory service as the baseline in
//! the same run: `cargo test --release -p dsr-connectors --test timing -- --ignored
//! --nocapture` (PostgreSQL too when `DSR_TEST_POSTGRES` is set). The figures are in
//! docs/connectors.md.

mod support;

use dsr_engine::memory::{MemoryRecord, MemoryService};
use dsr_engine::{
    Category, ErasureMode, RequestStatus, ServiceInfo, Services, Worker, WorkerConfig,
};
use dsr_model::{RequestType, Subject, SubjectId, SubjectKind};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const N: usize = 300;

fn subjects() -> Vec<Subject> {
    (0..N)
        .map(|i| {
            let mut s = Subject::new(
                SubjectKind::ExternalContact,
                SubjectId::new(format!("c-{i}")).unwrap(),
            );
            s.emails.push(format!("person{i}@example.com"));
            s
        })
        .collect()
}

fn crm_sql(pg: bool) -> String {
    let mut sql = String::from(
        "CREATE TABLE customers (id integer PRIMARY KEY, email text UNIQUE, full_name text NOT NULL);
         CREATE TABLE orders (id integer PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers(id), total integer NOT NULL);
         CREATE INDEX orders_customer ON orders (customer_id);\n",
    );
    let _ = pg;
    for i in 0..N {
        sql.push_str(&format!(
            "INSERT INTO customers VALUES ({i}, 'person{i}@example.com', 'Person {i}');
             INSERT INTO orders VALUES ({}, {i}, 10), ({}, {i}, 20);\n",
            2 * i,
            2 * i + 1
        ));
    }
    sql
}

fn sql_service(url: &str) -> String {
    format!(
        r#"
[[services]]
name = "crm"
kind = "sql"
erasure = "delete"
[services.sql]
url = "{url}"
[[services.sql.tables]]
name = "customers"
key = "id"
find = {{ email = "email" }}
[[services.sql.tables]]
name = "orders"
key = "id"
references = [{{ column = "customer_id", table = "customers" }}]
"#
    )
}

/// Exports for N subjects through one service; (ms per task at concurrency 1, at 16).
async fn measure(services: Services) -> (f64, f64) {
    let mut out = [0.0; 2];
    for (slot, concurrency) in [(0, 1usize), (1, 16)] {
        let r = rig(services.clone(), subjects());
        let mut ids = Vec::new();
        for i in 0..N {
            ids.push(r.request(RequestType::Export, &format!("c-{i}")).await.id);
        }
        let w = Worker::new(
            r.engine.clone(),
            WorkerConfig {
                concurrency,
                poll: Duration::from_millis(1),
                ..WorkerConfig::default()
            },
        );
        let t = Instant::now();
        w.run_until_idle().await.unwrap();
        out[slot] = t.elapsed().as_secs_f64() * 1000.0 / N as f64;
        for id in ids.iter().take(3) {
            assert_eq!(
                r.engine.get(id).await.unwrap().0.status(),
                RequestStatus::Completed
            );
        }
    }
    (out[0], out[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture, in release"]
async fn time_per_task_by_connector_kind() {
    let mut rows = Vec::new();
    let mut info = ServiceInfo::new("crm", ErasureMode::Delete);
    info.categories = vec![Category::CustomerRelationship];
    let mem = Arc::new(MemoryService::new(info));
    for i in 0..N {
        mem.insert(MemoryRecord::for_subject(
            &format!("c-{i}"),
            Category::CustomerRelationship,
            serde_json::json!({"email": format!("person{i}@example.com")}),
        ));
    }
    rows.push((
        "memory (baseline)",
        measure(Services::new().with(mem).unwrap()).await,
    ));

    let svc = start().await;
    let dir = tempfile::tempdir().unwrap();
    write_key(dir.path(), "http.key", KEY);
    let cfg = config(
        &http_service("crm", &svc.base, "plain", "delete"),
        dir.path(),
    );
    rows.push((
        "http (loopback, signed, new connection per call)",
        measure(dsr_connectors::build_services(&cfg).unwrap()).await,
    ));

    let db = dir.path().join("crm.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&crm_sql(false))
        .unwrap();
    let cfg = config(
        &sql_service(&format!("sqlite:{}", db.display())),
        dir.path(),
    );
    rows.push((
        "sql on SQLite (2 tables)",
        measure(dsr_connectors::build_services(&cfg).unwrap()).await,
    ));

    if let Ok(admin) = std::env::var("DSR_TEST_POSTGRES") {
        let (c, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let name = format!("dsr_conn_timing_{}", std::process::id());
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        let (c2, conn2) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn2);
        c2.batch_execute(&crm_sql(true)).await.unwrap();
        let cfg = config(&sql_service(&url), dir.path());
        rows.push((
            "sql on PostgreSQL (2 tables, loopback)",
            measure(dsr_connectors::build_services(&cfg).unwrap()).await,
        ));
    } else {
        eprintln!("(no DSR_TEST_POSTGRES: PostgreSQL not measured)");
    }
    println!("\n{N} export requests, one service each, engine on the in-memory store");
    println!("| service | ms per task, concurrency 1 | ms per task, concurrency 16 |");
    println!("|---|---|---|");
    for (name, (one, sixteen)) in rows {
        println!("| {name} | {one:.3} | {sixteen:.3} |");
    }
}
