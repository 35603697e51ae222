//! `dsr-load`: the server's load benchmark, bounded and on loopback only.
//!
//! Builds a database of N synthetic subjects (dsr-synth, deterministic), starts the
//! real `dsr-api` router with one in-process worker and, beside it, a bare axum
//! endpoint (the ceiling: what HTTP costs here with nothing behind it), then drives
//! both from the same keep-alive HTTP/1.1 client in the same run:
//!
//! 1. the bare endpoint; 2. exact subject lookups (email, as stored); 3. fuzzy name
//!    lookups (names corrupted as people type them); 4. request creations, with the
//!    worker carrying them out meanwhile.
//!
//! Each phase is bounded in time (`--seconds`, default 5) and count
//! (`--max-requests`, default 300 000). Everything listens on 127.0.0.1.
//!
//! ```text
//! cargo run --release -p dsr-server --bin dsr-load -- --subjects 1000000
//! ```

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use dsr_api::{App, Rate, Rates, Settings};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One keep-alive connection: sends a request, reads the whole answer; returns the
/// status.
async fn round_trip(stream: &mut TcpStream, req: &[u8], buf: &mut Vec<u8>) -> std::io::Result<u16> {
    stream.write_all(req).await?;
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).unwrap_or("");
            let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(status);
        }
    }
}

struct Phase {
    name: &'static str,
    ok: usize,
    other: usize,
    secs: f64,
    lat: Vec<u32>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.secs
    }
    fn pct(&self, p: f64) -> f64 {
        if self.lat.is_empty() {
            return 0.0;
        }
        let i = ((self.lat.len() as f64 - 1.0) * p).round() as usize;
        f64::from(self.lat[i]) / 1000.0
    }
}

/// Drives `requests` (cycled) over `conns` connections to `addr` for at most `secs`
/// seconds and `max` requests.
async fn drive(
    name: &'static str,
    addr: std::net::SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    conns: usize,
    secs: f64,
    max: usize,
    ok_status: u16,
) -> Phase {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let requests = requests.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).ok();
            let mut buf = Vec::with_capacity(64 * 1024);
            let (mut ok, mut other, mut lat) = (0usize, 0usize, Vec::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= max || Instant::now() >= deadline {
                    break;
                }
                let req = &requests[i % requests.len()];
                let t = Instant::now();
                match round_trip(&mut stream, req, &mut buf).await {
                    Ok(s) if s == ok_status => {
                        ok += 1;
                        lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    }
                    Ok(_) => other += 1,
                    Err(_) => {
                        other += 1;
                        stream = TcpStream::connect(addr).await.expect("reconnect");
                    }
                }
            }
            (ok, other, lat)
        }));
    }
    let mut p = Phase {
        name,
        ok: 0,
        other: 0,
        secs: 0.0,
        lat: Vec::new(),
    };
    for t in tasks {
        let (ok, other, lat) = t.await.expect("client task");
        p.ok += ok;
        p.other += other;
        p.lat.extend(lat);
    }
    p.secs = started.elapsed().as_secs_f64();
    p.lat.sort_unstable();
    p
}

fn get(path: &str, token: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\n\r\n")
        .into_bytes()
}

fn post(path: &str, token: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn main() -> anyhow::Result<()> {
    let n: u64 = arg("--subjects", 1_000_000);
    let secs: f64 = arg("--seconds", 5.0);
    let max: usize = arg("--max-requests", 300_000);
    let conns: usize = arg("--connections", 16);
    let seed = 42;
    let cores = std::thread::available_parallelism().map_or(0, |p| p.get());
    println!(
        "# dsr-server load benchmark: {n} subjects, {conns} connections, {secs} s per phase (at most {max} requests), loopback, {cores} cores"
    );

    let dir = tempfile::tempdir()?;
    let db = dir.path().join("load.db");
    let t = Instant::now();
    let tenant = dsr_model::TenantId::new("load")?;
    let token = {
        let store = dsr_ops::open_store(&db, dsr_ops::OpenMode::Create)?;
        store.create_tenant(&tenant)?;
        let mut batch = Vec::with_capacity(10_000);
        for s in dsr_synth::subjects(seed, n) {
            batch.push(s);
            if batch.len() == 10_000 {
                store.upsert_subjects(&tenant, &batch)?;
                batch.clear();
            }
        }
        store.upsert_subjects(&tenant, &batch)?;
        let store = dsr_store_sqlite::engine_store::SqliteEngineStore::new(Arc::new(store));
        tokio::runtime::Builder::new_current_thread()
            .build()?
            .block_on(dsr_ops::clients::create(
                &store,
                &tenant,
                "load-test",
                dsr_ops::clients::ClientKind::Token,
                &dsr_ops::clients::Scope::ALL,
            ))?
            .secret
    };
    println!("database written: {:.1} s", t.elapsed().as_secs_f64());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut settings = Settings::new(db.clone());
        let open = Rate {
            per_second: 1e9,
            burst: 1_000_000,
        };
        settings.rates = Rates {
            read: open,
            write: open,
            create: open,
            token: open,
        };
        settings.workers = 1;
        let app = App::open(settings)
            .await
            .map_err(|e| anyhow::anyhow!(e.body.message))?;
        let t = Instant::now();
        app.load_all()
            .await
            .map_err(|e| anyhow::anyhow!(e.body.message))?;
        println!(
            "start-up: indexes loaded in {:.1} s ({n} subjects)",
            t.elapsed().as_secs_f64()
        );

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api_addr = l.local_addr()?;
        let router = dsr_api::router(app.clone());
        tokio::spawn(async move { axum::serve(l, router).await });
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let bare_addr = l.local_addr()?;
        let bare = axum::Router::new().route(
            "/bare",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"entities": []})) }),
        );
        tokio::spawn(async move { axum::serve(l, bare).await });
        let tenants = app.tenants().await;
        let mut workers = Vec::new();
        for t in &tenants {
            for w in app.workers_for(t) {
                let stop = stop_rx.clone();
                workers.push(tokio::spawn(async move {
                    let _ = dsr_ops::worker::run(&w, stop, false, |_, _| {}).await;
                }));
            }
        }

        let q = dsr_synth::QuerySet::draw(seed, n, 5_000, 7);
        let mut rng = dsr_synth::Rng::new(11);
        let people: Vec<dsr_synth::Person> = (0..5_000)
            .map(|_| dsr_synth::person(seed, rng.below(n as usize) as u64))
            .collect();
        let exact: Vec<Vec<u8>> = people
            .iter()
            .map(|p| {
                get(
                    &format!(
                        "/api/v1/subjects?searchType=EMAIL&searchValue={}",
                        pct(&p.subject.emails[0])
                    ),
                    &token,
                )
            })
            .collect();
        let fuzzy: Vec<Vec<u8>> = q
            .names
            .iter()
            .map(|nm| {
                get(
                    &format!("/api/v1/subjects?searchType=NAME&searchValue={}", pct(nm)),
                    &token,
                )
            })
            .collect();
        let create_max = max.min(n as usize);
        let creates: Vec<Vec<u8>> = (0..create_max as u64)
            .map(|i| {
                let id = dsr_synth::person(seed, i).subject.id.to_string();
                post(
                    "/api/v1/requests",
                    &token,
                    &serde_json::json!({"requestType": "GDPR_EXPORT", "subject": {"id": id}})
                        .to_string(),
                )
            })
            .collect();
        let bare_reqs = Arc::new(vec![get("/bare", &token)]);

        // Warm up both.
        drive(
            "warm-up",
            bare_addr,
            bare_reqs.clone(),
            conns,
            1.0,
            max,
            200,
        )
        .await;
        drive(
            "warm-up",
            api_addr,
            Arc::new(exact.clone()),
            conns,
            1.0,
            max,
            200,
        )
        .await;
        let phases = vec![
            drive(
                "bare axum endpoint (ceiling)",
                bare_addr,
                bare_reqs,
                conns,
                secs,
                max,
                200,
            )
            .await,
            drive(
                "exact lookups (email)",
                api_addr,
                Arc::new(exact),
                conns,
                secs,
                max,
                200,
            )
            .await,
            drive(
                "fuzzy name lookups",
                api_addr,
                Arc::new(fuzzy),
                conns,
                secs,
                max,
                200,
            )
            .await,
            drive(
                "request creations (worker running)",
                api_addr,
                Arc::new(creates),
                conns,
                secs,
                create_max,
                202,
            )
            .await,
        ];
        let ceiling = phases[0].rate();
        println!();
        println!("| phase | ok | other | per second | p50 ms | p99 ms | of the bare endpoint |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for p in &phases {
            println!(
                "| {} | {} | {} | {:.0} | {:.3} | {:.3} | {:.0} % |",
                p.name,
                p.ok,
                p.other,
                p.rate(),
                p.pct(0.50),
                p.pct(0.99),
                100.0 * p.rate() / ceiling
            );
        }
        let (open, _) = tenants[0]
            .engine
            .store()
            .open_tasks(&tenant)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        println!("\ntasks still open when the creations ended (the worker's backlog): {open}");
        let _ = stop_tx.send(true);
        for w in workers {
            let _ = tokio::time::timeout(Duration::from_secs(10), w).await;
        }
        anyhow::Ok(())
    })?;
    Ok(())
}
