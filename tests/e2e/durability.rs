//! Durability (issue 3, item 8): `dsr worker` is killed with SIGKILL at random moments
//! while it carries out many requests on one SQLite file, and restarted, again and again;
//! meanwhile this process keeps creating requests on the same file. At the end every
//! request has finished, no task is lost, no task is recorded done twice, every export
//! package verifies and the audit chain verifies.
//!
//! `DSR_KILL_CYCLES=N` runs N kill/restart cycles (default 20); `DSR_KILL_SEED=S` replays
//! the random moments of an earlier run (the seed is printed).

use dsr_engine::config::Config;
use dsr_engine::package;
use dsr_engine::{
    CreateOptions, Engine, Replacement, RequestFilter, RequestId, RequestStatus, SystemClock,
    Target, TaskStatus,
};
use dsr_match::{Directory, MatchConfig};
use dsr_model::{RequestType, SubjectId, TenantId};
use dsr_store_sqlite::SqliteStore;
use dsr_store_sqlite::engine_store::{SqliteEngineStore, build_services};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Four services: the engine's own directory and conversations (real rows deleted or
/// anonymized in the same file), a slow in-memory one (so kills land mid-call) and a
/// flaky one (each worker process's first calls fail transiently: retries and backoff).
/// A lease of one second lets a restarted worker take over a killed one's tasks quickly;
/// attempts are unlimited here so that a task interrupted in many cycles still finishes.
const CONFIG: &str = r#"
organisation = "durability test"

[worker]
concurrency = 4
lease_seconds = 1
max_attempts = 10000
backoff_ms = 20
backoff_cap_ms = 200
poll_ms = 20

[[services]]
name = "directory"
kind = "subjects"
erasure = "delete"

[[services]]
name = "conversations"
kind = "conversations"
erasure = "anonymize"

[[services]]
name = "crm"
kind = "memory"
erasure = "delete"
latency_ms = 40

[[services]]
name = "flaky"
kind = "memory"
erasure = "anonymize"
latency_ms = 2
transient_failures = 4
"#;

const SERVICES: usize = 4;
/// Requests made per cycle (a merge-set delete counts three).
const PER_CYCLE: usize = 8;

/// xorshift64*: reproducible random moments without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// The subjects of cycle `i`: an export target (with a conversation and an attachment),
/// a merge set of three (deleted), a portability target, an update target and a single
/// contact (deleted).
fn subjects_jsonl(cycles: usize) -> String {
    let mut out = String::new();
    for i in 0..cycles {
        let _ = writeln!(
            out,
            r#"{{"type":"external_contact","id":"c{i}-x","name":"Export Person{i}","emails":["x{i}@example.org"]}}"#
        );
        for (k, canonical) in [("m1", true), ("m2", false), ("m3", false)] {
            let _ = writeln!(
                out,
                r#"{{"type":"external_contact","id":"c{i}-{k}","name":"Merged Person{i}","emails":["{k}.{i}@example.org"],"merge_set":"ms-{i}","canonical":{canonical}}}"#
            );
        }
        let _ = writeln!(
            out,
            r#"{{"type":"external_contact","id":"c{i}-p","name":"Porting Person{i}","emails":["p{i}@example.org"]}}"#
        );
        let _ = writeln!(
            out,
            r#"{{"type":"external_contact","id":"c{i}-u","name":"Update Person{i}","emails":["old{i}@example.org"]}}"#
        );
        let _ = writeln!(
            out,
            r#"{{"type":"dialer_contact","id":"d{i}","name":"Dialer Person{i}","phones":["+3361000{i:04}"],"contact_list":"spring"}}"#
        );
    }
    out
}

struct Fixture {
    dir: tempfile::TempDir,
    store: SqliteEngineStore,
    engine: Arc<Engine>,
    directory: Directory,
}

impl Fixture {
    fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("durable.db")
    }

    fn dsr(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_dsr"));
        c.current_dir(self.dir.path())
            .arg("--db")
            .arg(self.db())
            .env("DSR_CONFIG", self.dir.path().join("dsr.toml"));
        c
    }

    fn spawn_worker(&self, cycle: usize) -> Child {
        let log = std::fs::File::create(self.dir.path().join(format!("worker-{cycle}.log")))
            .expect("worker log");
        self.dsr()
            .arg("worker")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start dsr worker")
    }

    /// Creates the requests of cycle `i`; returns their ids (related requests included).
    async fn create_cycle(&self, i: usize) -> Vec<RequestId> {
        let mut ids = Vec::new();
        let make = |ty, id: &str, replace: Option<(&str, String, String)>| {
            let mut o = CreateOptions::new(ty, Target::Id(id.into()));
            o.requested_by = "durability-test".into();
            if let Some((field, old, new)) = replace {
                o.replacements.push(Replacement {
                    field: field.parse().expect("a replaceable field"),
                    old,
                    new,
                });
            }
            o
        };
        let batch = [
            make(RequestType::Export, &format!("c{i}-x"), None),
            make(RequestType::Delete, &format!("c{i}-m2"), None),
            make(RequestType::Portability, &format!("c{i}-p"), None),
            make(
                RequestType::Update,
                &format!("c{i}-u"),
                Some((
                    "email",
                    format!("old{i}@example.org"),
                    format!("new{i}@example.org"),
                )),
            ),
            make(RequestType::Delete, &format!("d{i}"), None),
            make(RequestType::Export, &format!("d{i}"), None),
        ];
        for opts in batch {
            let out = self
                .engine
                .create(&self.directory, opts)
                .await
                .expect("request created");
            ids.push(out.request.id.clone());
            ids.extend(out.related.iter().map(|r| r.id.clone()));
        }
        assert_eq!(ids.len(), PER_CYCLE);
        ids
    }
}

fn tenant() -> TenantId {
    TenantId::new("default").expect("tenant")
}

fn setup(cycles: usize) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("dsr.toml"), CONFIG).expect("config");
    let subjects = dir.path().join("subjects.jsonl");
    std::fs::write(&subjects, subjects_jsonl(cycles)).expect("subjects");
    let db = dir.path().join("durable.db");
    let out = Command::new(env!("CARGO_BIN_EXE_dsr"))
        .arg("--db")
        .arg(&db)
        .arg("import")
        .arg(&subjects)
        .arg("--quiet")
        .output()
        .expect("dsr import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let config = Config::from_toml(CONFIG, "dsr.toml").expect("config parses");
    let store = SqliteEngineStore::new(Arc::new(SqliteStore::open(&db).expect("open db")));
    for i in 0..cycles {
        store
            .add_conversation(
                &tenant(),
                &format!("conv-{i}"),
                &format!("c{i}-x"),
                "email",
                "Hello, here is my ID card",
                &[("id-card.png", "image/png", b"\x89PNG fake", true)],
            )
            .expect("conversation");
    }
    let services = build_services(&config, &store).expect("services");
    let engine = Engine::new(
        tenant(),
        Arc::new(store.clone()),
        services,
        Arc::new(SystemClock),
    )
    .expect("engine")
    .with_policy(config.policy.clone())
    .with_signer(
        &config.organisation,
        package::Signer::load_or_create(&dir.path().join("dsr-signing.key")).expect("key"),
    );
    let mut directory = Directory::new(MatchConfig::default()).expect("directory");
    for s in store.db().load_subjects(&tenant()).expect("subjects") {
        directory.upsert(s).expect("subject");
    }
    Fixture {
        dir,
        store,
        engine: Arc::new(engine),
        directory,
    }
}

fn worker_log(f: &Fixture, cycle: usize) -> String {
    std::fs::read_to_string(f.dir.path().join(format!("worker-{cycle}.log"))).unwrap_or_default()
}

#[test]
fn killed_workers_lose_nothing_and_record_nothing_twice() {
    let cycles = env_number("DSR_KILL_CYCLES").unwrap_or(20).max(1) as usize;
    let seed = env_number("DSR_KILL_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    }) | 1;
    eprintln!("durability: {cycles} kill cycles, DSR_KILL_SEED={seed}");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let f = setup(cycles);

    // A head start: a third of the requests exist before the first worker starts.
    let mut ids: Vec<RequestId> = Vec::new();
    let upfront = cycles.div_ceil(3);
    for i in 0..upfront {
        ids.extend(rt.block_on(f.create_cycle(i)));
    }
    let mut next_cycle = upfront;
    let mut kills_while_busy = 0;
    for cycle in 0..cycles {
        let mut child = f.spawn_worker(cycle);
        let alive = Duration::from_millis(rng.between(80, 700));
        let until = Instant::now() + alive;
        // Keep creating requests while the worker runs.
        while Instant::now() < until {
            if next_cycle < cycles {
                ids.extend(rt.block_on(f.create_cycle(next_cycle)));
                next_cycle += 1;
            }
            std::thread::sleep(
                Duration::from_millis(rng.between(5, 60)).min(
                    until.saturating_duration_since(Instant::now()) + Duration::from_millis(1),
                ),
            );
        }
        if let Some(status) = child.try_wait().expect("worker status") {
            panic!(
                "cycle {cycle}: the worker stopped by itself ({status}):\n{}",
                worker_log(&f, cycle)
            );
        }
        let (open, _) = rt
            .block_on(dsr_engine::Store::open_tasks(&f.store, &tenant()))
            .expect("open tasks");
        kills_while_busy += usize::from(open > 0);
        child.kill().expect("SIGKILL"); // SIGKILL on Unix: no chance to clean up
        child.wait().expect("reaped");
    }
    while next_cycle < cycles {
        ids.extend(rt.block_on(f.create_cycle(next_cycle)));
        next_cycle += 1;
    }

    // A last worker finishes what is left (it has to wait out the last lease).
    let out = f
        .dsr()
        .args(["worker", "--until-idle", "--json"])
        .output()
        .expect("final worker");
    assert!(
        out.status.success(),
        "final worker: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every request finished, completed.
    let requests = rt
        .block_on(f.engine.list(&RequestFilter::default()))
        .expect("list");
    assert_eq!(requests.len(), ids.len(), "every request created is stored");
    assert_eq!(ids.len(), cycles * PER_CYCLE);
    let not_done: Vec<String> = requests
        .iter()
        .filter(|r| r.status() != RequestStatus::Completed)
        .map(|r| format!("{} {} {}", r.id, r.ty, r.status()))
        .collect();
    assert!(not_done.is_empty(), "unfinished: {not_done:?}");

    // No task lost: one per service per request, each done with an outcome.
    let mut tasks_seen = 0;
    for r in &requests {
        let tasks = rt
            .block_on(dsr_engine::Store::tasks(&f.store, &tenant(), &r.id))
            .expect("tasks");
        assert_eq!(tasks.len(), SERVICES, "{}", r.id);
        for t in &tasks {
            assert_eq!(t.status(), TaskStatus::Done, "{} / {}", r.id, t.service);
            assert!(t.outcome.is_some(), "{} / {}", r.id, t.service);
            assert!(t.lease_owner.is_none(), "{} / {}", r.id, t.service);
        }
        tasks_seen += tasks.len();
    }
    assert_eq!(tasks_seen, ids.len() * SERVICES);

    // Nothing recorded done twice: exactly one `task.done` per (request, service) and one
    // `request.completed` per request in the audit log.
    let done = f
        .store
        .audit_action_counts(&tenant(), "task.done")
        .expect("audit counts");
    let twice: Vec<_> = done.iter().filter(|(_, _, n)| *n != 1).collect();
    assert!(twice.is_empty(), "recorded done more than once: {twice:?}");
    assert_eq!(
        done.len(),
        ids.len() * SERVICES,
        "a task.done entry per task"
    );
    let completed = f
        .store
        .audit_action_counts(&tenant(), "request.completed")
        .expect("audit counts");
    assert_eq!(completed.len(), ids.len());
    assert!(completed.iter().all(|(_, _, n)| *n == 1), "{completed:?}");

    // The kills really interrupted work: some tasks were taken over from a dead worker.
    let claims = f
        .store
        .audit_action_counts(&tenant(), "task.claimed")
        .expect("audit counts");
    let claimed_total: u64 = claims.iter().map(|(_, _, n)| n).sum();
    let (entries, _) = rt
        .block_on(dsr_engine::Store::audit(&f.store, &tenant()))
        .expect("audit");
    let reclaimed = entries
        .iter()
        .filter(|e| {
            e.event.action == "task.claimed" && e.event.detail.get("reclaimed_from").is_some()
        })
        .count();
    eprintln!(
        "durability: {} requests, {} tasks, {} claims ({} taken over from a killed worker), {kills_while_busy} of {cycles} kills with tasks open, {:.1} s",
        ids.len(),
        tasks_seen,
        claimed_total,
        reclaimed,
        started.elapsed().as_secs_f64()
    );
    assert!(reclaimed > 0, "no kill interrupted a task (seed {seed})");

    // The effects are there: deleted subjects are gone, the update landed.
    let db = f.store.db();
    for i in 0..cycles {
        for id in [
            format!("c{i}-m1"),
            format!("c{i}-m2"),
            format!("c{i}-m3"),
            format!("d{i}"),
        ] {
            let sid = SubjectId::new(id.clone()).expect("id");
            assert!(
                db.get_subject(&tenant(), &sid).expect("read").is_none(),
                "{id} still in the directory"
            );
        }
        let u = db
            .get_subject(&tenant(), &SubjectId::new(format!("c{i}-u")).expect("id"))
            .expect("read")
            .expect("update target kept");
        assert_eq!(u.emails, vec![format!("new{i}@example.org")]);
    }

    // Every export and portability package verifies (signature and digests), with the
    // attachment of the export targets inside.
    let key = f.engine.public_key_hex();
    let mut packages: BTreeMap<&str, usize> = BTreeMap::new();
    // (A package of a subject erased later in the run is gone with the subject's data:
    // the erasure reaches dsr's own copies.)
    for r in requests
        .iter()
        .filter(|r| matches!(r.ty, RequestType::Export | RequestType::Portability))
    {
        *packages.entry(r.ty.as_str()).or_default() += 1;
        if r.package_removed.is_some() {
            let e = rt
                .block_on(f.engine.package(&r.id))
                .expect_err("an erased subject's package is refused");
            assert!(e.to_string().contains("erased"), "{}: {e}", r.id);
            continue;
        }
        let text = rt.block_on(f.engine.package(&r.id)).expect("package");
        let v = package::verify(&text, Some(&key))
            .unwrap_or_else(|e| panic!("package of {} does not verify: {e}", r.id));
        assert_eq!(v.trusted_key, Some(true), "{}", r.id);
        assert_eq!(v.request_id, r.id.as_str());
        if r.ty == RequestType::Export && r.subject.id.as_str().ends_with("-x") {
            assert!(
                text.contains("id-card.png"),
                "{}: the attachment is exported",
                r.id
            );
        }
    }
    assert_eq!(packages.get("export"), Some(&(2 * cycles)));
    assert_eq!(packages.get("portability"), Some(&cycles));

    // The chain verifies, as a user checks it.
    let out = f
        .dsr()
        .args(["audit", "verify"])
        .output()
        .expect("audit verify");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
