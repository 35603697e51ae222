//! Requests per second end to end on the embedded SQLite store, with in-memory services,
//! beside the least a durable store must do for the same number of requests.
//!
//! - `engine/create+process`: a fresh SQLite file (WAL, `synchronous = NORMAL`), 1,000
//!   subjects, two in-memory services (one deleting, one anonymizing, each holding
//!   records of every subject); the timed part creates 1,000 requests by id (half export,
//!   half delete: resolution, duplicate check, tasks, audit entries, one commit each) and
//!   runs a worker until every request is finished (claims with leases, service calls,
//!   outcomes, request settlement, the signed package of each export, audit entries).
//! - `baseline/sqlite-insert+update`: the same file settings; per request one `INSERT`
//!   committed in its own transaction (the request is durably accepted) and one `UPDATE`
//!   in its own transaction (its outcome is durably recorded): the minimum any durable
//!   request store pays, with nothing else.
//!
//! - `engine/create+process (synchronous=FULL)`: the same with one fsync per commit
//!   (the store's default is WAL with `synchronous = NORMAL`; see docs/engine.md,
//!   "Durability", for the trade-off).
//!
//! Criterion reports both as elements (requests) per second; the ratio between them is
//! the engine's overhead over a bare durable store. Run with
//! `cargo bench -p dsr-store-sqlite --bench requests`.

use criterion::{Criterion, SamplingMode, Throughput, criterion_main};
use dsr_engine::memory::{MemoryRecord, MemoryService};
use dsr_engine::{
    Category, CreateOptions, Engine, ErasureMode, ServiceInfo, Services, SystemClock, Target,
    Worker, WorkerConfig,
};
use dsr_match::{Directory, MatchConfig};
use dsr_model::{RequestType, Subject, SubjectId, SubjectKind, TenantId};
use dsr_store_sqlite::SqliteStore;
use dsr_store_sqlite::engine_store::SqliteEngineStore;
use std::sync::Arc;
use std::time::{Duration, Instant};

const N: usize = 1_000;

fn tenant() -> TenantId {
    TenantId::new("bench").expect("valid tenant")
}

fn subjects() -> Vec<Subject> {
    (0..N)
        .map(|i| {
            let mut s = Subject::new(
                SubjectKind::ExternalContact,
                SubjectId::new(format!("c-{i}")).expect("valid id"),
            );
            s.names.push(format!("Person Number{i}"));
            s.emails.push(format!("person{i}@example.org"));
            s.phones.push(format!("+3361234{i:04}"));
            s
        })
        .collect()
}

struct Setup {
    _dir: tempfile::TempDir,
    engine: Arc<Engine>,
    directory: Directory,
}

fn setup(synchronous_full: bool) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = Arc::new(SqliteStore::open(dir.path().join("bench.db")).expect("open store"));
    if synchronous_full {
        db.with_conn(|c| c.pragma_update(None, "synchronous", "FULL"))
            .expect("synchronous = FULL");
    }
    let store = SqliteEngineStore::new(db);
    let mut crm_info = ServiceInfo::new("crm", ErasureMode::Delete);
    crm_info.categories = vec![Category::CustomerRelationship];
    let mut chat_info = ServiceInfo::new("chat", ErasureMode::Anonymize);
    chat_info.categories = vec![Category::Communications];
    chat_info.attachments = true;
    let crm = MemoryService::new(crm_info);
    let chat = MemoryService::new(chat_info);
    let subjects = subjects();
    for s in &subjects {
        crm.insert(MemoryRecord::for_subject(
            s.id.as_str(),
            Category::CustomerRelationship,
            serde_json::json!({"name": s.names[0], "email": s.emails[0], "plan": "basic"}),
        ));
        chat.insert(
            MemoryRecord::for_subject(
                s.id.as_str(),
                Category::Communications,
                serde_json::json!({"text": "Hello, my order has not arrived"}),
            )
            .with_attachment("receipt.txt", "text/plain", b"order 42"),
        );
    }
    let services = Services::new()
        .with(Arc::new(crm))
        .and_then(|s| s.with(Arc::new(chat)))
        .expect("services");
    let engine =
        Engine::new(tenant(), Arc::new(store), services, Arc::new(SystemClock)).expect("engine");
    let mut directory = Directory::new(MatchConfig::default()).expect("directory");
    for s in subjects {
        directory.upsert(s).expect("subject");
    }
    Setup {
        _dir: dir,
        engine: Arc::new(engine),
        directory,
    }
}

/// Creates `N` requests and runs a worker until all are finished; returns the time taken.
async fn end_to_end(s: &Setup) -> Duration {
    let start = Instant::now();
    for i in 0..N {
        let ty = if i % 2 == 0 {
            RequestType::Export
        } else {
            RequestType::Delete
        };
        let opts = CreateOptions::new(ty, Target::Id(format!("c-{i}")));
        s.engine
            .create(&s.directory, opts)
            .await
            .expect("request created");
    }
    let cfg = WorkerConfig {
        poll: Duration::from_millis(1),
        ..WorkerConfig::default()
    };
    let stats = Worker::new(s.engine.clone(), cfg)
        .run_until_idle()
        .await
        .expect("worker");
    let elapsed = start.elapsed();
    assert_eq!(stats.requests_finished, N as u64, "every request finished");
    elapsed
}

/// The baseline: per request, one INSERT transaction and one UPDATE transaction.
fn baseline(db: &SqliteStore) -> Duration {
    db.with_conn(|c| {
        c.execute_batch(
            "CREATE TABLE IF NOT EXISTS bench_requests (id TEXT PRIMARY KEY, status TEXT NOT NULL, doc TEXT NOT NULL)",
        )?;
        let start = Instant::now();
        for i in 0..N {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO bench_requests (id, status, doc) VALUES (?1, 'received', ?2)",
                (format!("r-{i}"), format!("{{\"subject\":\"c-{i}\",\"type\":\"export\"}}")),
            )?;
            tx.commit()?;
        }
        for i in 0..N {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE bench_requests SET status = 'completed' WHERE id = ?1",
                (format!("r-{i}"),),
            )?;
            tx.commit()?;
        }
        Ok(start.elapsed())
    })
    .expect("baseline")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("requests");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.measurement_time(Duration::from_secs(20));
    for (name, full) in [
        ("engine/create+process", false),
        ("engine/create+process (synchronous=FULL)", true),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let s = setup(full);
                    total += rt.block_on(end_to_end(&s));
                }
                total
            });
        });
    }
    g.bench_function("baseline/sqlite-insert+update", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("temp dir");
                let db = SqliteStore::open(dir.path().join("baseline.db")).expect("open store");
                total += baseline(&db);
            }
            total
        });
    });
    g.finish();
}

mod group {
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
