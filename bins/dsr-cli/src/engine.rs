//! `dsr request …`, `dsr worker`, `dsr services`, `dsr audit`, `dsr verify`, `dsr demo`:
//! the request engine's commands. Thin: parse, wire the engine to the SQLite store and
//! the configured services, format. The JSON shapes printed here are the wire format;
//! they are built explicitly from the engine's types.

use crate::Ctx;
use anyhow::{Context, bail};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use dsr_engine::config::Config;
use dsr_engine::package::{self, Signer};
use dsr_engine::{
    CreateOptions, Engine, OnDuplicate, Replacement, Request, RequestFilter, RequestId,
    RequestStatus, SystemClock, Target, Task, Worker, WorkerConfig,
};
use dsr_match::SearchOptions;
use dsr_model::{RequestType, SubjectId, Term};
use dsr_store_sqlite::SqliteStore;
use dsr_store_sqlite::engine_store::{SqliteEngineStore, build_services};
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

mod demo;

/// The engine's top-level commands.
#[derive(Debug, clap::Subcommand)]
pub enum EngineCommand {
    /// Create, inspect and act on data subject requests.
    Request(RequestArgs),
    /// Run the request workers until stopped (Ctrl-C), carrying out every service's part.
    Worker(WorkerArgs),
    /// Show the service inventory (G-1) and the blind spots (G-14).
    Services(CommonArgs),
    /// The audit log.
    Audit(AuditArgs),
    /// Verify an export package: its signature and every file's digest.
    Verify(VerifyArgs),
    /// Run the whole workflow on a built-in sample dataset (a fresh demo database).
    Demo(DemoArgs),
}

/// Options every engine command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Configuration file (default: ./dsr.toml if present, else built-in defaults).
    #[arg(long, global = true, env = "DSR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output as JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

/// `dsr request …`.
#[derive(Debug, clap::Args)]
pub struct RequestArgs {
    #[command(subcommand)]
    cmd: RequestCommand,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Subcommand)]
enum RequestCommand {
    /// Create a request for the subject a term or id resolves to (merge sets fan out).
    Create(CreateArgs),
    /// Show a request, its per-service tasks and its related requests.
    Show {
        /// The request id (or a unique prefix of at least 8 characters).
        id: String,
    },
    /// List requests.
    List {
        /// Only this status (received, on_hold, in_progress, completed, partially_failed,
        /// failed, cancelled, refused).
        #[arg(long)]
        status: Option<String>,
        /// Only unfinished requests past their due date.
        #[arg(long)]
        overdue: bool,
        /// Most rows.
        #[arg(long, default_value_t = 200)]
        limit: usize,
    },
    /// Carry out the request (and its related requests) in this process, showing
    /// progress, until done.
    Wait {
        /// The request id.
        id: String,
        /// Only watch (another process runs `dsr worker`); do not carry out tasks here.
        #[arg(long)]
        no_work: bool,
        /// Give up after this many seconds (exit status 1).
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Cancel a request while nothing irreversible has run.
    Cancel {
        /// The request id.
        id: String,
        /// Who cancels (recorded).
        #[arg(long, default_value = "operator")]
        by: String,
    },
    /// Decide a request on hold: proceed with a justification, or refuse citing the
    /// legal ground.
    Decide {
        /// The request id.
        id: String,
        /// Carry it out.
        #[arg(long, conflicts_with = "refuse", required_unless_present = "refuse")]
        proceed: bool,
        /// Refuse it.
        #[arg(long)]
        refuse: bool,
        /// The justification (proceed) or the legal ground (refuse).
        #[arg(long)]
        reason: String,
        /// Who decides (recorded).
        #[arg(long, default_value = "operator")]
        by: String,
    },
    /// Extend the deadline (art. 12(3): up to two more months, with a reason).
    Extend {
        /// The request id.
        id: String,
        /// Days to add.
        #[arg(long)]
        days: u32,
        /// Why (the subject is told).
        #[arg(long)]
        reason: String,
        /// Who extends (recorded).
        #[arg(long, default_value = "operator")]
        by: String,
    },
    /// Retry the failed services of a finished request (once every related request has
    /// finished).
    Retry {
        /// The request id.
        id: String,
        /// Who retries (recorded).
        #[arg(long, default_value = "operator")]
        by: String,
    },
    /// Write the signed export package of a completed export / portability request and
    /// record its hand-over.
    Download {
        /// The request id.
        id: String,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// To whom it is handed over (recorded; S-5, Q-4).
        #[arg(long, default_value = "the data subject")]
        to: String,
        /// Who hands it over.
        #[arg(long, default_value = "operator")]
        by: String,
    },
}

/// `dsr request create`.
#[derive(Debug, clap::Args)]
struct CreateArgs {
    /// export (art. 15), update (art. 16), delete (art. 17) or portability (art. 20).
    #[arg(long = "type", short = 't')]
    ty: String,
    /// The term: `type:value` (e.g. `email:jean@example.fr`) or a bare value that is
    /// classified.
    #[arg(required_unless_present = "id", conflicts_with = "id")]
    term: Option<String>,
    /// A subject id of any kind (userId, externalContactId, dialerContactId).
    #[arg(long)]
    id: Option<String>,
    /// The subject meant when the term matches several (from the candidates listed).
    #[arg(long)]
    subject: Option<String>,
    /// Update only: `FIELD:OLD=NEW` (repeat). Fields: name, email, phone, address,
    /// handle, external_id, custom.KEY.
    #[arg(long = "replace")]
    replace: Vec<String>,
    /// Who asks (recorded in the audit log).
    #[arg(long, default_value = "operator")]
    by: String,
    /// Return the request in flight instead of refusing a duplicate.
    #[arg(long)]
    existing: bool,
    /// Region for phone numbers in national form (ISO 3166 alpha-2).
    #[arg(long)]
    region: Option<String>,
    /// Carry the request out in this process before returning.
    #[arg(long)]
    wait: bool,
}

/// `dsr worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Stop when no task is left (instead of waiting for more).
    #[arg(long)]
    until_idle: bool,
    /// Tasks carried out at once (overrides `worker.concurrency`).
    #[arg(long)]
    concurrency: Option<usize>,
    #[command(flatten)]
    common: CommonArgs,
}

/// `dsr audit …`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    cmd: AuditCommand,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain: finds any altered, removed or reordered entry.
    Verify,
    /// Print the entries (of one request, or all).
    Show {
        /// Only entries about this request.
        #[arg(long)]
        request: Option<String>,
    },
}

/// `dsr verify PACKAGE`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The package file.
    package: PathBuf,
    /// The public key (hex) the package must be signed with; default: this
    /// organisation's key if its key file exists.
    #[arg(long)]
    key: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

/// `dsr demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Directory for the demo's database, configuration, key and packages (recreated).
    #[arg(long, default_value = "dsr-demo")]
    dir: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
}

/// Output cut short by the reader (`dsr … | head`) ends the command quietly, as it
/// would a C tool killed by SIGPIPE (status 141), instead of a panic message.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Runs an engine command.
pub fn run(ctx: &Ctx, cmd: EngineCommand) -> anyhow::Result<ExitCode> {
    quiet_on_broken_pipe();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        match cmd {
            EngineCommand::Request(a) => request(ctx, a).await,
            EngineCommand::Worker(a) => worker(ctx, a).await,
            EngineCommand::Services(c) => services(ctx, c).await,
            EngineCommand::Audit(a) => audit(ctx, a).await,
            EngineCommand::Verify(a) => verify(ctx, a),
            EngineCommand::Demo(a) => demo::demo(ctx, a).await,
        }
    })
}

/// The engine wired to the SQLite store and the configured services.
pub(crate) struct Env {
    pub store: SqliteEngineStore,
    pub engine: Arc<Engine>,
    pub config: Config,
}

/// Reads the configuration: `--config`, else ./dsr.toml if present, else defaults.
pub(crate) fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None if Path::new("dsr.toml").exists() => Ok(Config::load(Path::new("dsr.toml"))?),
        None => Ok(Config::default()),
    }
}

/// Whether a command may sign packages: only those create the signing key file when it
/// does not exist yet (reading commands never leave a stray key behind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signing {
    /// Workers and downloads: load the key, creating it on first use.
    LoadOrCreate,
    /// Everything else: load the key if it exists, else an unsaved one (never used).
    IfPresent,
}

pub(crate) fn open_env(ctx: &Ctx, config: Config, signing: Signing) -> anyhow::Result<Env> {
    let db = Arc::new(
        SqliteStore::open(&ctx.db).with_context(|| format!("opening {}", ctx.db.display()))?,
    );
    let store = SqliteEngineStore::new(db);
    let services = build_services(&config, &store)?;
    let db_dir = ctx
        .db
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let key_path = config.signing_key_path(db_dir);
    let signer = if signing == Signing::LoadOrCreate || key_path.exists() {
        Signer::load_or_create(&key_path)?
    } else {
        Signer::generate()?
    };
    let engine = Engine::new(
        ctx.tenant.clone(),
        Arc::new(store.clone()),
        services,
        Arc::new(SystemClock),
    )?
    .with_policy(config.policy.clone())
    .with_targets(config.deadlines.clone())
    .with_signer(&config.organisation, signer);
    Ok(Env {
        store,
        engine: Arc::new(engine),
        config,
    })
}

fn env(ctx: &Ctx, common: &CommonArgs, signing: Signing) -> anyhow::Result<Env> {
    open_env(ctx, load_config(common.config.as_deref())?, signing)
}

pub(crate) fn worker_config(config: &Config) -> WorkerConfig {
    WorkerConfig::from_settings(&config.worker)
}

/// Resolves a request id given by a user: a full UUID, or a unique prefix (≥ 8).
async fn request_id(engine: &Engine, text: &str) -> anyhow::Result<RequestId> {
    let t = text.trim();
    if let Ok(id) = RequestId::parse(t) {
        return Ok(id);
    }
    if t.len() < 8 || !t.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        bail!("request id {t:?} is not a UUID or a prefix of at least 8 hex digits");
    }
    let all = engine.list(&RequestFilter::default()).await?;
    let hits: Vec<&Request> = all
        .iter()
        .filter(|r| r.id.as_str().starts_with(&t.to_ascii_lowercase()))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => bail!("no request {t} in tenant {}", engine.tenant()),
        many => bail!(
            "{t} is the prefix of {} requests; give more of the id",
            many.len()
        ),
    }
}

fn day(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// The wire shape of a task.
pub(crate) fn wire_task(t: &Task) -> Value {
    let o = t.outcome.as_ref();
    json!({
        "service": t.service,
        "status": t.status.as_str(),
        "attempts": t.attempt,
        "action": o.map(|o| o.action.as_str()),
        "records": o.map(|o| o.records),
        "attachments": o.map(|o| o.attachments),
        "kept": o.map(|o| o.kept.iter().map(|k| json!({"what": k.what, "records": k.records, "ground": k.ground})).collect::<Vec<_>>()),
        "error": o.and_then(|o| o.error.clone()).or_else(|| t.last_error.clone()),
        "nextAttemptAt": (t.status == dsr_engine::TaskStatus::RetryWait).then_some(t.next_at),
    })
}

/// The wire shape of a request.
pub(crate) fn wire_request(
    r: &Request,
    tasks: &[Task],
    related: &[Request],
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    json!({
        "id": r.id.as_str(),
        "type": r.ty.as_str(),
        "article": r.ty.article(),
        "status": r.status.as_str(),
        "subject": {
            "id": r.subject.id.as_str(),
            "kind": r.subject.kind.as_str(),
            "name": r.subject.names.first(),
            "mergeSet": r.merge_set.as_ref().map(|m| m.as_str()),
        },
        "requestedBy": r.requested_by,
        "parent": r.parent.as_ref().map(RequestId::as_str),
        "relatedRequests": related.iter().map(|x| json!({
            "id": x.id.as_str(),
            "subjectId": x.subject.id.as_str(),
            "status": x.status.as_str(),
        })).collect::<Vec<_>>(),
        "replacements": r.replacements.iter().map(|x| json!({"field": x.field, "old": x.old, "new": x.new})).collect::<Vec<_>>(),
        "createdAt": r.created_at,
        "dueAt": r.due_at,
        "legalDeadline": r.legal_deadline,
        "overdue": r.is_overdue(now),
        "extensions": r.extensions.iter().map(|e| json!({"days": e.days, "reason": e.reason, "by": e.by, "at": e.at})).collect::<Vec<_>>(),
        "hold": r.hold.as_ref().map(|h| json!({"reason": h.reason, "since": h.since})),
        "decision": r.decision.as_ref().map(|d| json!({"decision": if d.proceed {"proceed"} else {"refuse"}, "reason": d.reason, "by": d.by, "at": d.at})),
        "handedOver": r.handed_over.as_ref().map(|h| json!({"at": h.at, "to": h.to, "by": h.by, "manifestSha256": h.manifest_sha256})),
        "finishedAt": r.finished_at,
        "retries": r.retries,
        "tasks": tasks.iter().map(wire_task).collect::<Vec<_>>(),
    })
}

pub(crate) fn outcome_line(t: &Task) -> String {
    match &t.outcome {
        Some(o) => {
            let mut s = format!("{} {} record{}", o.action, o.records, plural(o.records));
            if o.attachments > 0 {
                s.push_str(&format!(
                    ", {} attachment{}",
                    o.attachments,
                    plural(o.attachments)
                ));
            }
            for k in &o.kept {
                s.push_str(&format!("; kept {} {} ({})", k.records, k.what, k.ground));
            }
            if let Some(e) = &o.error {
                s.push_str(&format!(": {e}"));
            }
            s
        }
        None => match &t.last_error {
            Some(e) => format!("{} (attempt {}; last error: {e})", t.status, t.attempt),
            None => t.status.to_string(),
        },
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub(crate) fn print_request(
    r: &Request,
    tasks: &[Task],
    related: &[Request],
    now: chrono::DateTime<chrono::Utc>,
) {
    println!(
        "request {}  {} ({})  {}{}",
        r.id,
        r.ty,
        r.ty.article(),
        r.status,
        if r.is_overdue(now) { "  OVERDUE" } else { "" }
    );
    println!(
        "  subject    {} ({}){}{}",
        r.subject.id,
        r.subject.kind,
        r.subject
            .names
            .first()
            .map(|n| format!(" {n}"))
            .unwrap_or_default(),
        r.merge_set
            .as_ref()
            .map(|m| format!(", merge set {m}"))
            .unwrap_or_default()
    );
    println!(
        "  deadline   due {} (service target), legal deadline {}{}",
        day(r.due_at),
        day(r.legal_deadline),
        if r.extensions.is_empty() {
            String::new()
        } else {
            format!(" after {} extension(s)", r.extensions.len())
        }
    );
    if let Some(p) = &r.parent {
        println!("  parent     {p}");
    }
    for x in related {
        println!("  related    {}  {}  {}", x.id, x.subject.id, x.status);
    }
    for rep in &r.replacements {
        println!("  replace    {}: {:?} → {:?}", rep.field, rep.old, rep.new);
    }
    if let Some(h) = &r.hold {
        println!("  hold       {}", h.reason);
    }
    if let Some(d) = &r.decision {
        println!(
            "  decision   {} by {}: {}",
            if d.proceed { "proceed" } else { "refuse" },
            d.by,
            d.reason
        );
    }
    if let Some(h) = &r.handed_over {
        println!("  handed to  {} on {} by {}", h.to, day(h.at), h.by);
    }
    for t in tasks {
        println!("  service    {:<14} {}", t.service, outcome_line(t));
    }
}

async fn show(engine: &Engine, id: &RequestId, json_out: bool) -> anyhow::Result<Request> {
    let (r, tasks) = engine.get(id).await?;
    let related = engine.related_of(&r).await?;
    let now = engine.clock().now();
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&wire_request(&r, &tasks, &related, now))?
        );
    } else {
        print_request(&r, &tasks, &related, now);
    }
    Ok(r)
}

/// Carries out (or watches) requests until each is finished or waits for a decision.
pub(crate) async fn wait_for(
    env: &Env,
    ids: &[RequestId],
    work: bool,
    progress: bool,
    timeout: Option<Duration>,
) -> anyhow::Result<bool> {
    let engine = &env.engine;
    let started = std::time::Instant::now();
    let bar = (progress && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} tasks")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    });
    let worker = Worker::new(engine.clone(), worker_config(&env.config));
    loop {
        let mut total = 0u64;
        let mut settled = 0u64;
        let mut open = false;
        for id in ids {
            let (r, tasks) = engine.get(id).await?;
            total += tasks.len() as u64;
            settled += tasks.iter().filter(|t| t.status.is_finished()).count() as u64;
            if !(r.status.is_finished() || r.status == RequestStatus::OnHold) {
                open = true;
            }
        }
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(settled);
            b.set_message(format!("{} request(s)", ids.len()));
        }
        if !open {
            if let Some(b) = &bar {
                b.finish_and_clear();
            }
            return Ok(true);
        }
        if timeout.is_some_and(|t| started.elapsed() > t) {
            if let Some(b) = &bar {
                b.abandon();
            }
            return Ok(false);
        }
        let did = if work {
            worker.tick().await?.claimed
        } else {
            0
        };
        if did == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn parse_type(s: &str) -> anyhow::Result<RequestType> {
    Ok(s.parse::<RequestType>()?)
}

async fn request(ctx: &Ctx, a: RequestArgs) -> anyhow::Result<ExitCode> {
    let signing = match &a.cmd {
        RequestCommand::Create(c) if c.wait => Signing::LoadOrCreate,
        RequestCommand::Wait { no_work: false, .. } | RequestCommand::Download { .. } => {
            Signing::LoadOrCreate
        }
        _ => Signing::IfPresent,
    };
    let env = env(ctx, &a.common, signing)?;
    let engine = env.engine.clone();
    let json_out = a.common.json;
    let now = || engine.clock().now();
    match a.cmd {
        RequestCommand::Create(c) => {
            let ty = parse_type(&c.ty)?;
            let target = match (&c.term, &c.id) {
                (_, Some(id)) => Target::Id(id.clone()),
                (Some(t), None) => Target::Term(Term::parse(t)?),
                (None, None) => bail!("give a TERM or --id ID"),
            };
            let replacements = c
                .replace
                .iter()
                .map(|r| Replacement::parse(r))
                .collect::<Result<Vec<_>, _>>()?;
            if let Some(region) = &c.region {
                dsr_match::normalize::parse_region(region).map_err(anyhow::Error::msg)?;
            }
            let dir = crate::subjects::load_directory(env.store.db(), ctx)?;
            let mut opts = CreateOptions::new(ty, target);
            opts.subject = c.subject.as_deref().map(SubjectId::new).transpose()?;
            opts.replacements = replacements;
            opts.requested_by = c.by.clone();
            opts.on_duplicate = if c.existing {
                OnDuplicate::ReturnExisting
            } else {
                OnDuplicate::Refuse
            };
            opts.search = SearchOptions {
                region: c.region.clone(),
                ..SearchOptions::default()
            };
            let out = match engine.create(&dir, opts).await {
                Ok(o) => o,
                Err(
                    e @ (dsr_engine::Error::Ambiguous { .. }
                    | dsr_engine::Error::NeedsReview { .. }),
                ) if json_out => {
                    let candidates = match &e {
                        dsr_engine::Error::Ambiguous { candidates, .. } => candidates.clone(),
                        dsr_engine::Error::NeedsReview { candidate, .. } => {
                            vec![(**candidate).clone()]
                        }
                        _ => Vec::new(),
                    };
                    println!(
                        "{}",
                        serde_json::to_string_pretty(
                            &json!({"error": e.to_string(), "candidates": candidates})
                        )?
                    );
                    return Ok(ExitCode::from(3));
                }
                Err(e) => return Err(e.into()),
            };
            let mut ids = vec![out.request.id.clone()];
            ids.extend(out.related.iter().map(|r| r.id.clone()));
            if c.wait {
                wait_for(&env, &ids, true, !json_out, None).await?;
            }
            let (r, tasks) = engine.get(&out.request.id).await?;
            let related = engine.related_of(&r).await?;
            if json_out {
                let mut v = wire_request(&r, &tasks, &related, now());
                v["existing"] = Value::Bool(out.existing);
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                if out.existing {
                    println!("a {} request for this subject is already in flight:", r.ty);
                }
                print_request(&r, &tasks, &related, now());
                if !c.wait && r.status == RequestStatus::InProgress {
                    println!("next: `dsr request wait {}` (or run `dsr worker`)", r.id);
                }
                if r.status == RequestStatus::OnHold {
                    println!(
                        "next: `dsr request decide {} --proceed|--refuse --reason TEXT`",
                        r.id
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Show { id } => {
            let id = request_id(&engine, &id).await?;
            show(&engine, &id, json_out).await?;
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::List {
            status,
            overdue,
            limit,
        } => {
            let filter = RequestFilter {
                status: status.as_deref().map(str::parse).transpose()?,
                overdue_at: overdue.then(now),
                subject: None,
                limit,
            };
            let list = engine.list(&filter).await?;
            if json_out {
                let v: Vec<Value> = list
                    .iter()
                    .map(|r| {
                        json!({
                            "id": r.id.as_str(), "type": r.ty.as_str(), "status": r.status.as_str(),
                            "subjectId": r.subject.id.as_str(), "parent": r.parent.as_ref().map(RequestId::as_str),
                            "relatedRequests": r.related.iter().map(RequestId::as_str).collect::<Vec<_>>(),
                            "createdAt": r.created_at, "dueAt": r.due_at, "legalDeadline": r.legal_deadline,
                            "overdue": r.is_overdue(now()),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if list.is_empty() {
                println!("no request{}", if overdue { " is overdue" } else { "" });
            } else {
                let mut table = Table::new();
                table
                    .load_preset(UTF8_FULL_CONDENSED)
                    .set_content_arrangement(ContentArrangement::Dynamic)
                    .set_header([
                        "id",
                        "type",
                        "status",
                        "subject",
                        "related to",
                        "due",
                        "legal deadline",
                    ]);
                for r in &list {
                    table.add_row([
                        r.id.to_string(),
                        r.ty.to_string(),
                        format!(
                            "{}{}",
                            r.status,
                            if r.is_overdue(now()) {
                                " (overdue)"
                            } else {
                                ""
                            }
                        ),
                        r.subject.id.to_string(),
                        r.parent
                            .as_ref()
                            .map(|p| format!("parent {}", &p.as_str()[..13]))
                            .unwrap_or_else(|| {
                                if r.related.is_empty() {
                                    String::new()
                                } else {
                                    format!("{} related", r.related.len())
                                }
                            }),
                        day(r.due_at),
                        day(r.legal_deadline),
                    ]);
                }
                println!("{table}");
            }
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Wait {
            id,
            no_work,
            timeout,
        } => {
            let id = request_id(&engine, &id).await?;
            let (r, _) = engine.get(&id).await?;
            let mut ids = vec![id.clone()];
            ids.extend(r.related.iter().cloned());
            let done = wait_for(
                &env,
                &ids,
                !no_work,
                !json_out,
                timeout.map(Duration::from_secs),
            )
            .await?;
            show(&engine, &id, json_out).await?;
            Ok(if done {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        RequestCommand::Cancel { id, by } => {
            let id = request_id(&engine, &id).await?;
            engine.cancel(&id, &by).await?;
            show(&engine, &id, json_out).await?;
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Decide {
            id,
            proceed,
            refuse,
            reason,
            by,
        } => {
            let id = request_id(&engine, &id).await?;
            if proceed == refuse {
                bail!("give exactly one of --proceed or --refuse");
            }
            engine.decide(&id, proceed, &reason, &by).await?;
            show(&engine, &id, json_out).await?;
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Extend {
            id,
            days,
            reason,
            by,
        } => {
            let id = request_id(&engine, &id).await?;
            engine.extend(&id, days, &reason, &by).await?;
            show(&engine, &id, json_out).await?;
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Retry { id, by } => {
            let id = request_id(&engine, &id).await?;
            engine.retry(&id, &by).await?;
            show(&engine, &id, json_out).await?;
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Download { id, out, to, by } => {
            let id = request_id(&engine, &id).await?;
            let pkg = engine.package(&id).await?;
            std::fs::write(&out, &pkg).with_context(|| format!("writing {}", out.display()))?;
            let v = package::verify(&pkg, Some(&engine.public_key_hex()))?;
            engine.hand_over(&id, &to, &by).await?;
            if json_out {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "file": out.display().to_string(), "bytes": pkg.len(), "files": v.files,
                        "manifestSha256": v.manifest_sha256, "publicKey": v.public_key, "handedOverTo": to,
                    }))?
                );
            } else {
                println!(
                    "wrote {} ({} bytes, {} files, signed by {}); hand-over to {to} recorded",
                    out.display(),
                    pkg.len(),
                    v.files,
                    &v.public_key[..16]
                );
                println!(
                    "the receiving party checks it with `dsr verify {} --key {}`",
                    out.display(),
                    v.public_key
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn worker(ctx: &Ctx, a: WorkerArgs) -> anyhow::Result<ExitCode> {
    let env = env(ctx, &a.common, Signing::LoadOrCreate)?;
    let mut cfg = worker_config(&env.config);
    if let Some(c) = a.concurrency {
        if c == 0 || c > 1024 {
            bail!("--concurrency: {c} is not accepted (1 to 1024)");
        }
        cfg.concurrency = c;
    }
    let id = cfg.id.clone();
    let w = Worker::new(env.engine.clone(), cfg);
    if !a.common.json {
        eprintln!(
            "worker {id}: tenant {}, services {}; Ctrl-C stops it (unfinished tasks are taken over after their lease)",
            ctx.tenant,
            env.engine.services().names().join(", ")
        );
    }
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let stats = w.run(stop, a.until_idle).await?;
    if a.common.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"worker": id, "stats": stats}))?
        );
    } else {
        println!(
            "worker {id} stopped: {} claimed, {} done, {} retried, {} failed, {} requests finished",
            stats.claimed, stats.done, stats.retried, stats.dead, stats.requests_finished
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn services(ctx: &Ctx, c: CommonArgs) -> anyhow::Result<ExitCode> {
    let env = env(ctx, &c, Signing::IfPresent)?;
    let dir = crate::subjects::load_directory(env.store.db(), ctx)?;
    let spots = env.engine.blind_spots(&dir);
    let infos: Vec<&dsr_engine::ServiceInfo> =
        env.engine.services().iter().map(|s| s.info()).collect();
    if c.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "services": infos,
                "blindSpots": spots,
                "retention": env.config.policy.retention,
                "legalHolds": env.config.policy.legal_hold,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "service",
            "erasure",
            "categories",
            "personal fields",
            "attachments",
            "description",
        ]);
    for i in &infos {
        table.add_row([
            i.name.clone(),
            i.erasure.to_string(),
            i.categories
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            i.fields.join(", "),
            if i.attachments {
                "yes".into()
            } else {
                "no".into()
            },
            i.description.clone(),
        ]);
    }
    println!("{table}");
    for r in &env.config.policy.retention {
        println!(
            "retention: {} keeps {} — {}",
            r.service, r.category, r.ground
        );
    }
    println!("\nblind spots (the engine cannot find personal data here; G-14):");
    for b in &spots {
        println!("  - {}: {}", b.place, b.why);
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit(ctx: &Ctx, a: AuditArgs) -> anyhow::Result<ExitCode> {
    let env = env(ctx, &a.common, Signing::IfPresent)?;
    match a.cmd {
        AuditCommand::Verify => {
            let r = env.engine.verify_audit().await?;
            if a.common.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else if r.ok() {
                println!(
                    "audit chain of tenant {}: {} entries verified; head {}",
                    ctx.tenant, r.entries, r.head
                );
            } else {
                println!(
                    "audit chain of tenant {} does NOT verify ({} entries):",
                    ctx.tenant, r.entries
                );
                for p in &r.problems {
                    println!("  - {}", p.reason);
                }
            }
            Ok(if r.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AuditCommand::Show { request } => {
            let (entries, _) = env.engine.store().audit(&ctx.tenant).await?;
            let filter = match request {
                Some(r) => Some(request_id(&env.engine, &r).await?),
                None => None,
            };
            let shown: Vec<_> = entries
                .iter()
                .filter(|e| {
                    filter
                        .as_ref()
                        .is_none_or(|f| e.event.request_id.as_deref() == Some(f.as_str()))
                })
                .collect();
            if a.common.json {
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                for e in shown {
                    println!(
                        "{:>6} {} {:<22} {:<24} {} {} {}",
                        e.index,
                        e.at,
                        e.event.action,
                        e.event.actor,
                        e.event.request_id.as_deref().unwrap_or("-"),
                        e.event.service.as_deref().unwrap_or(""),
                        dsr_engine::audit::canonical_json(&e.event.detail)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn verify(ctx: &Ctx, a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&a.package)
        .with_context(|| format!("reading {}", a.package.display()))?;
    // The trusted key: --key, else this organisation's key if it exists (never create one here).
    let trusted = match a.key {
        Some(k) => Some(k),
        None => {
            let config = load_config(a.common.config.as_deref())?;
            let dir = ctx
                .db
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let path = config.signing_key_path(dir);
            path.exists()
                .then(|| Signer::load_or_create(&path).map(|s| s.public_key_hex()))
                .transpose()?
        }
    };
    match package::verify(&text, trusted.as_deref()) {
        Ok(v) => {
            let trusted_ok = v.trusted_key != Some(false);
            if a.common.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"valid": trusted_ok, "package": v}))?
                );
            } else {
                println!(
                    "{}: signature and {} file digests verify; {} request {} for subject {} from {:?}",
                    a.package.display(),
                    v.files,
                    v.request_type,
                    v.request_id,
                    v.subject_id,
                    v.organisation
                );
                match v.trusted_key {
                    Some(true) => println!("signed with the trusted key {}", v.public_key),
                    Some(false) => println!(
                        "BUT it is signed with key {}, not the trusted one: do not accept it",
                        v.public_key
                    ),
                    None => println!(
                        "signed with key {} (give --key to check it is the sender's)",
                        v.public_key
                    ),
                }
            }
            Ok(if trusted_ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Err(e) => {
            if a.common.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"valid": false, "error": e.to_string()}))?
                );
            } else {
                println!("{}: does NOT verify: {e}", a.package.display());
            }
            Ok(ExitCode::from(1))
        }
    }
}
