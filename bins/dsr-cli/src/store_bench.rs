//! `dsr-store-bench`: requests per second end to end on the two stores, with 1, 2 and 4
//! `dsr worker` processes, in one run on this machine, plus PostgreSQL's throughput
//! while another session holds a snapshot open (an idle transaction).
//!
//! Per store and worker count, on a fresh database: N subjects imported, N export
//! requests created (8 creators in this process; creations/s reported), then W worker
//! processes (`dsr worker --until-idle`, the `dsr` beside this binary) carry them out
//! (two tasks each: the directory and an in-memory service); requests/s = N / the time
//! until every worker exited. Run:
//!
//! ```sh
//! cargo build --release -p dsr-cli
//! target/release/dsr-store-bench --postgres postgres://USER@HOST/postgres
//! ```

use anyhow::{Context, bail};
use clap::Parser;
use dsr_engine::{CreateOptions, Engine, Target};
use dsr_match::Directory;
use dsr_model::{RequestType, TenantId};
use dsr_ops::env::{EngineEnv, Location, Signing, load_config};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "dsr-store-bench",
    about = "Requests/s end to end on SQLite and PostgreSQL with 1, 2 and 4 worker processes"
)]
struct Args {
    /// A PostgreSQL server where the user may create databases (default:
    /// DSR_TEST_POSTGRES); without one only SQLite is measured.
    #[arg(long, env = "DSR_TEST_POSTGRES")]
    postgres: Option<String>,
    /// Requests per run (each with two tasks).
    #[arg(long, default_value_t = 4000)]
    requests: usize,
    /// Worker process counts.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    workers: Vec<usize>,
    /// Requests of the held-snapshot pair of runs (2 workers, PostgreSQL), each long
    /// enough that the snapshot is held for about a minute.
    #[arg(long, default_value_t = 40000)]
    held_requests: usize,
    /// Skip the held-snapshot runs.
    #[arg(long)]
    no_held: bool,
}

const CONFIG: &str = r#"
organisation = "store bench"

[worker]
concurrency = 32
lease_seconds = 30
poll_ms = 10

[[services]]
name = "directory"
kind = "subjects"
erasure = "delete"

[[services]]
name = "crm"
kind = "memory"
erasure = "delete"
"#;

fn dsr_bin() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let p = me.with_file_name(format!("dsr{}", std::env::consts::EXE_SUFFIX));
    if !p.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p dsr-cli`",
            p.display()
        );
    }
    Ok(p)
}

struct Run {
    store: &'static str,
    workers: usize,
    requests: usize,
    create_s: f64,
    drain_s: f64,
    held: bool,
}

async fn pg_admin(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {}", dsr_ops::pg::redact_url(url)))?;
    tokio::spawn(conn);
    Ok(c)
}

fn dsr(bin: &Path, dir: &Path, db: &str, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(bin)
        .current_dir(dir)
        .args(["--db", db, "--config", "dsr.toml"])
        .args(args)
        .output()?;
    if !out.status.success() {
        bail!("dsr {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

async fn create_all(engine: Arc<Engine>, dir: Arc<Directory>, n: usize) -> anyhow::Result<f64> {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for k in 0..8 {
        let (engine, dir) = (engine.clone(), dir.clone());
        tasks.push(tokio::spawn(async move {
            for i in (k..n).step_by(8) {
                let mut opts =
                    CreateOptions::new(RequestType::Export, Target::Id(format!("c-{i}")));
                opts.requested_by = "bench".into();
                loop {
                    match engine.create(&dir, opts.clone()).await {
                        Ok(_) => break,
                        Err(e) if e.is_transient() => tokio::task::yield_now().await,
                        Err(e) => return Err(anyhow::Error::from(e)),
                    }
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(start.elapsed().as_secs_f64())
}

async fn one_run(
    bin: &Path,
    pg_admin_url: Option<&str>,
    workers: usize,
    n: usize,
    held: bool,
) -> anyhow::Result<Run> {
    let tmp = tempfile::tempdir()?;
    std::fs::write(tmp.path().join("dsr.toml"), CONFIG)?;
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{{\"kind\":\"external_contact\",\"id\":\"c-{i}\",\"names\":[\"Person {i}\"],\"emails\":[\"p{i}@example.org\"]}}\n"
            )
        })
        .collect();
    std::fs::write(tmp.path().join("s.jsonl"), lines)?;
    let db = match pg_admin_url {
        Some(a) => {
            dsr_ops::pg::recreate_database(
                a,
                &format!("dsr_bench_{}_{workers}", std::process::id()),
            )
            .await?
        }
        None => tmp.path().join("bench.db").display().to_string(),
    };
    dsr(
        bin,
        tmp.path(),
        &db,
        &["tenant", "create", "--region", "FR"],
    )?;
    dsr(bin, tmp.path(), &db, &["import", "s.jsonl", "--quiet"])?;
    let tenant = TenantId::new("default")?;
    let config = load_config(Some(&tmp.path().join("dsr.toml")))?;
    // The snapshot holder: an idle transaction that has read something.
    let holder = match (pg_admin_url, held) {
        (Some(_), true) => {
            let c = pg_admin(&db).await?;
            c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM tasks;")
                .await?;
            Some(c)
        }
        _ => None,
    };
    let (engine, dir) = match pg_admin_url {
        Some(_) => {
            let env = dsr_ops::pg::PgEnv::open(&db, &tenant, config, Signing::IfPresent).await?;
            let dir = env.directory().await?;
            (env.engine.clone(), dir)
        }
        None => {
            let loc = Location {
                db: PathBuf::from(&db),
                tenant: tenant.clone(),
            };
            let env = EngineEnv::open(
                &loc,
                config,
                dsr_ops::OpenMode::Existing,
                Signing::IfPresent,
            )?;
            let dir = dsr_ops::load_directory(env.store.db(), &tenant)?;
            (env.engine.clone(), dir)
        }
    };
    let create_s = create_all(engine, Arc::new(dir), n).await?;
    let start = Instant::now();
    let mut children = Vec::new();
    for _ in 0..workers {
        children.push(
            Command::new(bin)
                .current_dir(tmp.path())
                .args([
                    "--db",
                    &db,
                    "--config",
                    "dsr.toml",
                    "worker",
                    "--until-idle",
                    "--json",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()?,
        );
    }
    for c in children {
        let out = c.wait_with_output()?;
        if !out.status.success() {
            bail!("worker: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let drain_s = start.elapsed().as_secs_f64();
    if let Some(h) = holder {
        h.batch_execute("COMMIT").await?;
    }
    // Every request must have completed (a benchmark that loses work measures nothing).
    let out = Command::new(bin)
        .current_dir(tmp.path())
        .args([
            "--db",
            &db,
            "--config",
            "dsr.toml",
            "request",
            "list",
            "--status",
            "in_progress",
            "--json",
        ])
        .output()?;
    let open: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    if open.as_array().is_some_and(|a| !a.is_empty()) {
        bail!(
            "{} requests still in progress after the workers stopped",
            open.as_array().map_or(0, Vec::len)
        );
    }
    if let Some(a) = pg_admin_url {
        let name = db
            .rsplit_once('/')
            .map(|(_, n)| n.to_owned())
            .unwrap_or_default();
        let c = pg_admin(a).await?;
        let _ = c
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
    Ok(Run {
        store: if pg_admin_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        workers,
        requests: n,
        create_s,
        drain_s,
        held,
    })
}

fn print(r: &Run) {
    println!(
        "| {} | {} | {} | {:.0} | {:.0} | {:.1} s |{}",
        r.store,
        r.workers,
        r.requests,
        r.requests as f64 / r.create_s,
        r.requests as f64 / r.drain_s,
        r.drain_s,
        if r.held { " snapshot held" } else { "" }
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let bin = dsr_bin()?;
    println!(
        "dsr-store-bench: {} cores, {} requests per run, workers {:?}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        a.requests,
        a.workers
    );
    println!(
        "\n| store | worker processes | requests | creations/s | requests/s (workers) | drain |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut runs = Vec::new();
    for &w in &a.workers {
        let r = one_run(&bin, None, w, a.requests, false).await?;
        print(&r);
        runs.push(r);
        if let Some(pg) = &a.postgres {
            let r = one_run(&bin, Some(pg), w, a.requests, false).await?;
            print(&r);
            runs.push(r);
        }
    }
    if let (Some(pg), false) = (&a.postgres, a.no_held) {
        let base = one_run(&bin, Some(pg), 2, a.held_requests, false).await?;
        print(&base);
        let held = one_run(&bin, Some(pg), 2, a.held_requests, true).await?;
        print(&held);
        println!(
            "\nheld snapshot: {:.0} → {:.0} requests/s ({:.2}× of the baseline; held {:.0} s)",
            base.requests as f64 / base.drain_s,
            held.requests as f64 / held.drain_s,
            base.drain_s / held.drain_s,
            held.create_s + held.drain_s
        );
    }
    let ratio = |store: &str, from: usize, to: usize| {
        let f = runs
            .iter()
            .find(|r| r.store == store && r.workers == from)?;
        let t = runs.iter().find(|r| r.store == store && r.workers == to)?;
        Some(f.drain_s / t.drain_s)
    };
    for store in ["SQLite", "PostgreSQL"] {
        if let (Some(a2), Some(a4)) = (ratio(store, 1, 2), ratio(store, 1, 4)) {
            println!("{store}: 1 → 2 workers {a2:.2}×, 1 → 4 workers {a4:.2}×");
        }
    }
    Ok(())
}
