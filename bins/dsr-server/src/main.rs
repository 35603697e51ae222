//! `dsr-server`: the dsr engine over HTTP. Thin: configuration, wiring, TLS, start-up
//! and shutdown; the HTTP layer is `dsr-api`.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, bail};
use clap::Parser;
use dsr_api::{App, Rate, Rates, Settings};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod config;
mod tls;

use config::ServerConfig;

/// Serve the dsr engine over HTTP (JSON under /api/v1; OpenAPI at /openapi.json).
///
/// Every setting is in the `[server]` section of the configuration file (the rest of
/// the file is the engine's `dsr.toml`) and can be overridden by an environment
/// variable `DSR_SERVER_<KEY>` (e.g. `DSR_SERVER_LISTEN=0.0.0.0:8443`).
#[derive(Debug, Parser)]
#[command(name = "dsr-server", version, about, long_about)]
struct Cli {
    /// Configuration file (`[server]` plus the engine's settings) [default: ./dsr.toml
    /// if present].
    #[arg(long, env = "DSR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Start on a new demo database (./dsr-demo.db) with a demo tenant and sample
    /// subjects, and print a token and a working curl command.
    #[arg(long)]
    demo: bool,
    /// Print the OpenAPI document and exit.
    #[arg(long)]
    openapi: bool,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

/// Tools for a host application that sends its customers to the portal.
#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Make an Ed25519 key pair for a host application: NAME.key (private, 0600, the
    /// host keeps it) and NAME.pub.pem (public, for `[[server.portal.hosts]]`).
    PortalKeygen {
        /// Path and name of the two files, without extension.
        #[arg(value_name = "NAME")]
        name: PathBuf,
    },
    /// Print a portal sign-in link for a customer, signed with a host's private key
    /// (what a host application does when its signed-in customer opens "my data"). The
    /// link works once, for at most five minutes.
    PortalLink {
        /// The host's private key (PEM).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// The issuer the host is registered with.
        #[arg(long)]
        issuer: String,
        /// The customer's subject id.
        #[arg(long)]
        subject: String,
        /// The portal's address.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        base: String,
        /// `EdDSA`, `ES256` or `RS256`.
        #[arg(long, default_value = "EdDSA")]
        algorithm: String,
        /// The audience the portal expects.
        #[arg(long, default_value = "dsr-portal")]
        audience: String,
        /// Seconds the link lives (at most 300).
        #[arg(long, default_value_t = 120)]
        seconds: i64,
        /// The language of the pages (`en`, `fr`).
        #[arg(long)]
        lang: Option<String>,
    },
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn portal_tool(cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::PortalKeygen { name } => {
            let seed = dsr_ops::clients::random_bytes()?;
            let (private, public) = dsr_api::portal::assertion::ed25519_pem_pair(&seed);
            let key = name.with_extension("key");
            let publ = PathBuf::from(format!("{}.pub.pem", name.display()));
            if publ.exists() {
                bail!("{} exists already: choose another name", publ.display());
            }
            write_private(&key, &private)?;
            std::fs::write(&publ, public)
                .with_context(|| format!("cannot write {}", publ.display()))?;
            println!(
                "private key (keep it in the host application): {}",
                key.display()
            );
            println!(
                "public key (for [[server.portal.hosts]] public_key): {}",
                publ.display()
            );
        }
        Cmd::PortalLink {
            key,
            issuer,
            subject,
            base,
            algorithm,
            audience,
            seconds,
            lang,
        } => {
            let pem = std::fs::read(&key)
                .with_context(|| format!("cannot read the host key {}", key.display()))?;
            let signer = dsr_api::portal::assertion::HostSigner::from_pem(&algorithm, &pem)
                .map_err(|m| anyhow::anyhow!("{}: {m}", key.display()))?;
            let token = signer
                .sign(
                    &issuer,
                    &audience,
                    &subject,
                    chrono::Utc::now().timestamp(),
                    seconds,
                    lang.as_deref(),
                )
                .map_err(|m| anyhow::anyhow!("signing failed: {m}"))?;
            println!(
                "{}/portal/signin?assertion={token}",
                base.trim_end_matches('/')
            );
        }
    }
    Ok(())
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        let _ = b.json().with_current_span(false).try_init();
    } else {
        let _ = b.with_target(false).try_init();
    }
}

fn settings(cfg: &ServerConfig, engine: dsr_engine::Config, base: &Path) -> Settings {
    // A PostgreSQL URL as it is; a file relative to the configuration's folder.
    let db = match dsr_ops::Database::from(cfg.database.clone()) {
        dsr_ops::Database::Sqlite(p) => dsr_ops::Database::Sqlite(base.join(p)),
        pg => pg,
    };
    let mut s = Settings::new(db);
    s.base = base.to_owned();
    s.follow_every = Duration::from_millis(cfg.follow_ms.max(10));
    s.config = engine;
    s.auth.token_lifetime = Duration::from_secs(u64::from(cfg.token_lifetime_minutes) * 60);
    s.auth.idle_timeout = Duration::from_secs(u64::from(cfg.idle_timeout_minutes) * 60);
    s.auth.static_tokens = cfg.static_tokens && !cfg.hipaa;
    let r = &cfg.rate_limits;
    s.rates = Rates {
        read: Rate {
            per_second: r.read_per_second,
            burst: r.read_burst,
        },
        write: Rate {
            per_second: r.write_per_second,
            burst: r.write_burst,
        },
        create: Rate {
            per_second: r.create_per_second,
            burst: r.create_burst,
        },
        token: Rate {
            per_second: r.token_per_second,
            burst: r.token_burst,
        },
    };
    s.max_body_bytes = cfg.max_body_bytes;
    s.max_import_bytes = cfg.max_import_bytes;
    s.max_import_line_bytes = cfg.max_import_line_bytes;
    s.max_concurrent_imports = cfg.max_concurrent_imports;
    s.request_timeout = Duration::from_secs(cfg.request_timeout_seconds);
    s.max_page_size = cfg.max_page_size;
    s.workers = cfg.workers;
    s.allow_private_callbacks = cfg.allow_private_callbacks;
    s.hipaa = cfg.hipaa;
    s.callback_ca_file = cfg.callback_ca_file.as_ref().map(|p| base.join(p));
    s.callback_max_attempts = i64::from(cfg.callback_max_attempts);
    s.metrics_token = cfg.metrics_token.clone();
    s
}

/// HIPAA mode: the server's own settings must pass the compliance rules that apply to
/// it (H-5, Z-SUP-4, Z-SUP-6), or it does not start.
fn hipaa_gate(cfg: &ServerConfig) -> anyhow::Result<()> {
    let s = dsr_compliance::ServerSettings {
        idle_timeout: Duration::from_secs(u64::from(cfg.idle_timeout_minutes) * 60),
        token_lifetime: Duration::from_secs(u64::from(cfg.token_lifetime_minutes) * 60),
        tls: cfg.tls.is_some(),
        idle_timeout_applies_to_api_clients: true,
        password_auth: cfg.basic_auth,
        parameters: None,
    };
    let report = s.check(chrono::Utc::now().date_naive())?;
    if !report.passed() {
        let why: Vec<String> = report
            .blocking()
            .map(|f| format!("{} [{}]: {}", f.rule.id(), f.status, f.message))
            .collect();
        bail!(
            "HIPAA mode: the server's settings fail the compliance rules that apply to it, so it does not start:\n  {}",
            why.join("\n  ")
        );
    }
    Ok(())
}

async fn shutdown_signal(tx: tokio::sync::watch::Sender<bool>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing in-flight requests and tasks");
    let _ = tx.send(true);
}

/// The issuer of the demo's host application.
const DEMO_ISSUER: &str = "dsr-demo-host";

const DEMO_SUBJECTS: &str = include_str!("../../../examples/data/sample-subjects.jsonl");

/// Makes the demo database: tenant `demo` with the sample subjects and a client with
/// every scope; returns its token.
fn make_demo(db: &Path) -> anyhow::Result<String> {
    if db.exists() {
        std::fs::remove_file(db).with_context(|| format!("removing the old {}", db.display()))?;
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
        }
    }
    let store = dsr_ops::open_store(db, dsr_ops::OpenMode::Create)?;
    let tenant = dsr_model::TenantId::new("demo")?;
    store.create_tenant(&tenant)?;
    store.set_default_region(&tenant, Some("FR"))?;
    dsr_ops::import::import_jsonl(
        &store,
        &tenant,
        DEMO_SUBJECTS.as_bytes(),
        &dsr_ops::import::ImportOptions::default(),
        |_| {},
    )?;
    let store = dsr_store_sqlite::engine_store::SqliteEngineStore::new(Arc::new(store));
    let issued = tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(dsr_ops::clients::create(
            &store,
            &tenant,
            "demo-console",
            dsr_ops::clients::ClientKind::Token,
            &dsr_ops::clients::Scope::ALL,
        ))?;
    Ok(issued.secret)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(cmd) = cli.cmd {
        return portal_tool(cmd);
    }
    if cli.openapi {
        println!(
            "{}",
            serde_json::to_string_pretty(&dsr_api::openapi::document())?
        );
        return Ok(());
    }
    let path = cli.config.clone().or_else(|| {
        Path::new("dsr.toml")
            .exists()
            .then(|| PathBuf::from("dsr.toml"))
    });
    let (mut cfg, mut engine) = config::load(path.as_deref())?;
    if cli.demo {
        if engine.organisation == dsr_engine::Config::default().organisation {
            engine.organisation = "Example Organisation (dsr demo)".into();
        }
        cfg.database = PathBuf::from("dsr-demo.db");
        cfg.allow_private_callbacks = true;
    }
    init_logging(cfg.json_logs);
    cfg.validate()?;
    if cfg.hipaa {
        hipaa_gate(&cfg)?;
    }
    let base = path
        .as_deref()
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    let demo_token = if cli.demo {
        let token = make_demo(&base.join(&cfg.database))?;
        // The demo's portal: a host key made now, registered for tenant "demo".
        let key = base.join("dsr-demo-host.key");
        let public = base.join("dsr-demo-host.pub.pem");
        let _ = std::fs::remove_file(&key);
        let seed = dsr_ops::clients::random_bytes()?;
        let (private, public_pem) = dsr_api::portal::assertion::ed25519_pem_pair(&seed);
        write_private(&key, &private)?;
        std::fs::write(&public, public_pem)?;
        let portal = cfg.portal.get_or_insert_with(config::Portal::default);
        portal.enabled = true;
        portal.hosts.push(config::PortalHost {
            tenant: "demo".into(),
            issuer: DEMO_ISSUER.into(),
            algorithm: "EdDSA".into(),
            public_key: public,
        });
        Some(token)
    } else {
        None
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve(cfg, engine, base, demo_token))
}

async fn serve(
    cfg: ServerConfig,
    engine: dsr_engine::Config,
    base: PathBuf,
    demo_token: Option<String>,
) -> anyhow::Result<()> {
    let addr: SocketAddr = cfg
        .listen
        .parse()
        .with_context(|| format!("[server] listen = {:?} is not an address:port", cfg.listen))?;
    // Bound before the database is opened: OpenDSR's default base URL is the address
    // actually listened on (a port 0 included). Nothing is accepted before it is logged.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let scheme = if cfg.tls.is_some() { "https" } else { "http" };
    let mut settings = settings(&cfg, engine, &base);
    if cfg.opendsr.enabled {
        let o = &cfg.opendsr;
        let base_url = o.base_url.clone().unwrap_or_else(|| {
            tracing::warn!("[opendsr] base_url is not set: controllers are told this server is at {scheme}://{local}");
            format!("{scheme}://{local}")
        });
        settings.opendsr = Some(dsr_api::opendsr::OpenDsrSettings {
            base_url,
            certificate: o.certificate.as_ref().map(|p| base.join(p)),
            private_key: o.private_key.as_ref().map(|p| base.join(p)),
        });
    }
    if let Some(p) = cfg.portal.as_ref().filter(|p| p.enabled) {
        let ps = p.settings(&base)?;
        ps.check(cfg.hipaa)
            .map_err(|m| anyhow::anyhow!("[server.portal] {m}"))?;
        if ps.hosts.is_empty() {
            tracing::warn!(
                "the portal is on but no host is registered ([[server.portal.hosts]]): nobody can sign in"
            );
        }
        // Browsers keep a Secure cookie only over https or from localhost.
        let loopback = cfg
            .listen
            .parse::<SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback());
        if ps.secure_cookies
            && cfg.tls.is_none()
            && !loopback
            && ps
                .public_url
                .as_deref()
                .is_none_or(|u| !u.starts_with("https://"))
        {
            tracing::warn!(
                listen = %cfg.listen,
                "the portal's session cookie is Secure, and this server has no TLS and no https public_url: browsers drop the cookie unless a TLS proxy is in front ([server.tls], or [server.portal] public_url = \"https://…\")"
            );
        }
        settings.portal = Some(std::sync::Arc::new(ps));
    }
    settings.notifications = cfg.notifications.settings(&base)?;
    if cfg.notifications.enabled() {
        let n = &cfg.notifications;
        tracing::info!(
            transport = if n.smtp.is_some() { "smtp" } else { "webhook" },
            events = ?n.events,
            language = %n.language,
            "notifications to data subjects are on"
        );
    }
    let db = settings.db.clone();
    let app = App::open(settings)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.body.message))
        .with_context(|| format!("opening {}", db.shown()))?;
    // The address is logged before the indexes load, so tests and orchestrators can
    // watch /readyz.
    tracing::info!(address = %local, %scheme, hipaa = cfg.hipaa, "listening (not ready until every tenant's index is loaded)");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(shutdown_signal(stop_tx.clone()));

    let router = dsr_api::router(app.clone());
    let server = {
        let stop = stop_rx.clone();
        let tls = match &cfg.tls {
            Some(t) => Some(tls::acceptor(&base.join(&t.cert), &base.join(&t.key))?),
            None => None,
        };
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => tls::serve(listener, acceptor, router, stop).await,
                None => {
                    let mut stop = stop;
                    axum::serve(listener, router)
                        .with_graceful_shutdown(async move {
                            let _ = stop.wait_for(|s| *s).await;
                        })
                        .await
                        .map_err(anyhow::Error::from)
                }
            }
        })
    };

    // The operator's listener (metrics), plain HTTP on its own address.
    let metrics = match &cfg.metrics_listen {
        Some(listen) => {
            let addr: SocketAddr = listen.parse().with_context(|| {
                format!("[server] metrics_listen = {listen:?} is not an address:port")
            })?;
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (metrics_listen)"))?;
            tracing::info!(metrics_address = %l.local_addr()?, token = cfg.metrics_token.is_some(), "metrics listening (GET /metrics)");
            let router = dsr_api::metrics_router(app.clone());
            let mut stop = stop_rx.clone();
            Some(tokio::spawn(async move {
                let _ = axum::serve(l, router)
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
            }))
        }
        None => None,
    };

    // Loading the indexes (readiness).
    let started = std::time::Instant::now();
    app.load_all()
        .await
        .map_err(|e| anyhow::anyhow!("loading the tenants: {}", e.body.message))?;
    let tenants = app.tenants().await;
    tracing::info!(
        tenants = tenants.len(),
        ms = started.elapsed().as_millis() as u64,
        "ready"
    );
    if let Some(token) = &demo_token {
        println!(
            "dsr-server demo: tenant \"demo\" with the sample subjects, at {scheme}://{local}"
        );
        println!("token (every scope; shown once): {token}");
        println!("try:");
        println!(
            "  curl -s -H 'Authorization: Bearer {token}' '{scheme}://{local}/api/v1/subjects?searchType=EMAIL&searchValue=jean.dupont@example.fr'"
        );
        println!(
            "the data subjects' portal: a sign-in link for Jean Dupont (c-1001), as his help desk would make it:"
        );
        println!(
            "  dsr-server portal-link --key {} --issuer {DEMO_ISSUER} --subject c-1001 --base {scheme}://{local}",
            base.join("dsr-demo-host.key").display()
        );
        println!("  then open the link it prints in a browser (it works once, within 2 minutes)");
        println!("stop with Ctrl-C");
    }

    // Workers in this process, per tenant: those loaded at start, and a tenant loaded
    // later (its first API call) gets its own within a second.
    let supervisor = {
        let app = app.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut started = std::collections::HashSet::new();
            let mut workers = Vec::new();
            loop {
                for t in app.tenants().await {
                    if !started.insert(t.engine.tenant().clone()) {
                        continue;
                    }
                    tracing::info!(tenant = %t.engine.tenant(), "workers started");
                    for w in app.workers_for(&t) {
                        let stop = stop.clone();
                        workers.push(tokio::spawn(async move {
                            let r = dsr_ops::worker::run(&w, stop, false, |e, wait| {
                                tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "worker: the store is busy, retrying");
                            })
                            .await;
                            if let Err(e) = r {
                                tracing::error!(error = %e, "worker stopped");
                            }
                        }));
                    }
                }
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
            workers
        })
    };
    let callbacks = tokio::spawn(dsr_api::callbacks::run(app.clone(), stop_rx.clone()));
    let follower = tokio::spawn(dsr_api::follow::run(app.clone(), stop_rx.clone()));
    let portal = tokio::spawn(dsr_api::portal::run(app.clone(), stop_rx.clone()));
    let notifier = tokio::spawn(dsr_api::notify::run(app.clone(), stop_rx.clone()));

    let served = server.await?;
    // In-flight HTTP requests are done; workers finish their batch (what they had not
    // started is released: its lease lapses and another worker takes it).
    let workers = supervisor.await.unwrap_or_default();
    for w in workers {
        let _ = tokio::time::timeout(Duration::from_secs(30), w).await;
    }
    let _ = callbacks.await;
    let _ = follower.await;
    let _ = portal.await;
    let _ = notifier.await;
    if let Some(m) = metrics {
        let _ = m.await;
    }
    app.auth().flush().await;
    tracing::info!("stopped");
    served
}

#[allow(dead_code)]
fn _assert_send(a: Arc<App>) -> Arc<App> {
    a
}
