//! `dsr request …`, `dsr worker`, `dsr services`, `dsr audit`, `dsr verify`, `dsr demo`:
//! the request engine's commands. Thin: parse, wire the engine to the SQLite store and
//! the configured services, format. The JSON shapes printed here are the wire format;
//! they are built explicitly from the engine's types.

use crate::out::{self, outln, plural};
use crate::{ConfigArgs, Ctx, StoreArgs};
use anyhow::{Context, bail};
use dsr_engine::package;
use dsr_engine::{
    CreateOptions, Engine, OnDuplicate, Replacement, Request, RequestFilter, RequestId,
    RequestStatus, Target, Task, Worker,
};
use dsr_match::SearchOptions;
use dsr_model::{RequestType, SubjectId, Term};
use dsr_ops::env::{EngineEnv, Signing, load_config};
use dsr_ops::ids::{self, short_id};
use dsr_ops::wait::{Settled, wait_for};
use dsr_ops::{OpenMode, load_directory, wire};
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod demo;
mod keys;
mod purge;
mod suppression;
mod task;

/// The engine's top-level commands.
#[derive(Debug, clap::Subcommand)]
pub enum EngineCommand {
    /// Create, inspect and act on data subject requests.
    Request(RequestArgs),
    /// Run the request workers until stopped (Ctrl-C), carrying out every service's part.
    Worker(WorkerArgs),
    /// Show the service inventory and the blind spots (where personal data cannot be
    /// searched); `services check` checks the connectors against the live systems.
    Services(ServicesArgs),
    /// The audit log.
    Audit(AuditArgs),
    /// Verify an export package: its signature and every file's digest.
    Verify(VerifyArgs),
    /// Export packages: unpack one into files a person can open.
    Package(PackageArgs),
    /// Run the whole workflow on a built-in sample dataset (a fresh demo directory).
    Demo(DemoArgs),
    /// Remove expired packages and finished requests' personal data (retention; GDPR
    /// art. 5(1)(e)); --dry-run lists them.
    Purge(purge::PurgeArgs),
    /// The tenant's package-signing keys: show, rotate, export the public keys to pin.
    Key(keys::KeyArgs),
    /// What an import does with a person erased earlier: show, warn (default) or refuse.
    Suppression(suppression::SuppressionArgs),
    /// Tasks a person answers by hand (manual services): list, complete, remind.
    Task(task::TaskArgs),
}

/// Options every engine command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Output as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `dsr services [check]`.
#[derive(Debug, clap::Args)]
pub struct ServicesArgs {
    #[command(subcommand)]
    cmd: Option<ServicesCommand>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Subcommand)]
enum ServicesCommand {
    /// Check every http and sql service against the live system (schema, masks,
    /// reachability) before a request runs. Exit status 1 on any problem.
    Check,
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
        /// The request id (full, or its short id: at least 8 hex digits).
        id: String,
    },
    /// List requests (oldest first).
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
        /// Show every cell in full (full ids).
        #[arg(long)]
        wide: bool,
    },
    /// Carry out the request (and its related requests) in this process, showing
    /// progress, until done. Exit status 0 only if every one completed.
    Wait {
        /// The request id.
        id: String,
        /// Only watch (another process runs `dsr worker`); do not carry out tasks here.
        #[arg(long)]
        no_work: bool,
        /// Give up after this many seconds (exit status 1).
        #[arg(long, value_name = "SECONDS")]
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
    /// Decide a request on hold: --proceed with a justification, or --refuse citing the
    /// legal ground.
    Decide {
        /// The request id.
        id: String,
        /// Carry it out.
        #[arg(long, conflicts_with = "refuse")]
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
    /// Extend the deadline (GDPR art. 12(3): up to two more months, with a reason).
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
        /// Replace the output file if it exists.
        #[arg(long)]
        force: bool,
        /// To whom it is handed over (recorded: GDPR art. 15(3), 20).
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
    /// Carry the request out in this process before returning (exit status 0 only if
    /// it completed).
    #[arg(long)]
    wait: bool,
    /// Print only the request id (for scripts: `id=$(dsr request create … -q)`).
    #[arg(long, short, conflicts_with = "json")]
    quiet: bool,
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
    /// The sender's public key: 64 hex digits, or a file holding them, a JWK or a JWK
    /// Set (`dsr key export`); default: this tenant's own keys (current and retired) if
    /// they exist. A package signed by any other key does not pass (exit status 1).
    #[arg(long)]
    key: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
}

/// `dsr package …`.
#[derive(Debug, clap::Args)]
pub struct PackageArgs {
    #[command(subcommand)]
    cmd: PackageCommand,
}

#[derive(Debug, clap::Subcommand)]
enum PackageCommand {
    /// Verify a package and write its files into a folder: the data of each service as
    /// JSON, each attachment as the file it was.
    Unpack {
        /// The package file.
        package: PathBuf,
        /// The folder to write (created; must be empty unless --force).
        dir: PathBuf,
        /// The public key (hex) the package must be signed with.
        #[arg(long)]
        key: Option<String>,
        /// Write into a folder that is not empty (files of the same name are replaced).
        #[arg(long)]
        force: bool,
        /// Output as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `dsr demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Directory for the demo's database, configuration, key and packages (deleted and
    /// created anew).
    #[arg(long, default_value = "dsr-demo")]
    dir: PathBuf,
    /// A summary as JSON instead of the narrative.
    #[arg(long)]
    json: bool,
}

/// Runs an engine command.
pub fn run(ctx: &Ctx, cmd: EngineCommand) -> anyhow::Result<ExitCode> {
    // One thread: an engine command waits on its store and services far more than it
    // computes, and on a multi-threaded runtime every round trip to PostgreSQL woke a
    // second thread (the connection's task) — `dsr worker` spent more time switching
    // threads than working. Measured with dsr-store-bench (docs/benchmarks.md): 2
    // worker processes 710–766 → 1,203–1,253 requests/s. A host needing more CPU runs
    // more worker processes.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        match cmd {
            EngineCommand::Request(a) => request(ctx, a).await,
            EngineCommand::Worker(a) => worker(ctx, a).await,
            EngineCommand::Services(a) => match a.cmd {
                None => services(ctx, a.common).await,
                Some(ServicesCommand::Check) => services_check(ctx, a.common).await,
            },
            EngineCommand::Audit(a) => audit(ctx, a).await,
            EngineCommand::Verify(a) => verify(ctx, a),
            EngineCommand::Package(a) => package_cmd(a),
            EngineCommand::Demo(a) => demo::demo(ctx, a).await,
            EngineCommand::Purge(a) => purge::purge(ctx, a).await,
            EngineCommand::Key(a) => keys::key(ctx, a).await,
            EngineCommand::Suppression(a) => suppression::suppression(ctx, a).await,
            EngineCommand::Task(a) => task::task(ctx, a).await,
        }
    })
}

/// A tenant's engine on either database (SQLite file or PostgreSQL URL).
pub(crate) enum Opened {
    Sqlite(EngineEnv),
    Postgres(dsr_ops::pg::PgEnv),
}

impl Opened {
    fn engine(&self) -> &std::sync::Arc<Engine> {
        match self {
            Opened::Sqlite(e) => &e.engine,
            Opened::Postgres(e) => &e.engine,
        }
    }

    fn worker_config(&self) -> dsr_engine::WorkerConfig {
        match self {
            Opened::Sqlite(e) => e.worker_config(),
            Opened::Postgres(e) => e.worker_config(),
        }
    }
}

async fn open_any(ctx: &Ctx, common: &CommonArgs, signing: Signing) -> anyhow::Result<Opened> {
    match ctx.postgres(&common.store)? {
        Some((url, tenant)) => {
            let config = load_config(ctx.config(&common.config).as_deref())?;
            let e = dsr_ops::pg::PgEnv::open(&url, &tenant, config, signing).await?;
            Ok(Opened::Postgres(e))
        }
        None => Ok(Opened::Sqlite(env(ctx, common, signing)?)),
    }
}

/// Opens the engine of the tenant named by the options (database and tenant must exist).
fn env(ctx: &Ctx, common: &CommonArgs, signing: Signing) -> anyhow::Result<EngineEnv> {
    let loc = ctx.location(&common.store)?;
    let config = load_config(ctx.config(&common.config).as_deref())?;
    Ok(EngineEnv::open(&loc, config, OpenMode::Existing, signing)?)
}

fn day(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
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
            if !o.blind_spots.is_empty() {
                s.push_str(&format!("; not searched: {}", o.blind_spots.join(", ")));
            }
            s
        }
        None => match (&t.manual, &t.last_error) {
            (Some(m), _) if t.status().is_waiting() => format!(
                "waiting on {} since {} (`dsr task list --manual`)",
                m.assignee,
                day(m.since)
            ),
            (_, Some(e)) => format!("{} (attempt {}; last error: {e})", t.status(), t.attempt),
            _ => t.status().to_string(),
        },
    }
}

pub(crate) fn print_request(
    r: &Request,
    tasks: &[Task],
    related: &[Request],
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    outln!(
        "request {}  {} ({})  {}{}",
        r.id,
        r.ty,
        r.ty.article(),
        r.status(),
        if r.is_overdue(now) { "  OVERDUE" } else { "" }
    );
    outln!("  short id   {}", short_id(&r.id));
    outln!(
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
    outln!(
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
        outln!("  parent     {}", short_id(p));
    }
    for x in related {
        outln!(
            "  related    {}  {}  {}",
            short_id(&x.id),
            x.subject.id,
            x.status()
        );
    }
    for rep in &r.replacements {
        outln!("  replace    {}: {:?} → {:?}", rep.field, rep.old, rep.new);
    }
    if let Some(h) = &r.hold {
        outln!("  hold       {}", h.reason);
    }
    if let Some(d) = &r.decision {
        outln!(
            "  decision   {} by {}: {}",
            if d.proceed { "proceed" } else { "refuse" },
            d.by,
            d.reason
        );
    }
    if let Some(h) = &r.handed_over {
        outln!("  handed to  {} on {} by {}", h.to, day(h.at), h.by);
    }
    for t in tasks {
        outln!("  service    {:<14} {}", t.service, outcome_line(t));
    }
    Ok(())
}

async fn show(engine: &Engine, id: &RequestId, json_out: bool) -> anyhow::Result<Request> {
    let (r, tasks) = engine.get(id).await?;
    let related = engine.related_of(&r).await?;
    let now = engine.clock().now();
    if json_out {
        out::json(&wire::request(&r, &tasks, &related, now))?;
    } else {
        print_request(&r, &tasks, &related, now)?;
    }
    Ok(r)
}

/// Carries out (or watches) requests until each is finished or waits for a decision,
/// with a progress bar on a terminal.
pub(crate) async fn settle(
    engine: &std::sync::Arc<Engine>,
    config: dsr_engine::WorkerConfig,
    ids: &[RequestId],
    work: bool,
    progress: bool,
    timeout: Option<Duration>,
) -> anyhow::Result<Settled> {
    let bar = (progress && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} tasks")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        b
    });
    let worker = work.then_some(config);
    let result = wait_for(engine, worker, ids, timeout, |p| {
        if let Some(b) = &bar {
            b.set_length(p.tasks);
            b.set_position(p.settled);
            b.set_message(format!("{} request(s)", p.requests));
        }
    })
    .await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    Ok(result?)
}

/// The exit status after waiting: 0 only when every request completed.
fn settled_status(s: &Settled, json_out: bool) -> anyhow::Result<ExitCode> {
    match s {
        Settled::Done(_) if s.all_completed() => Ok(ExitCode::SUCCESS),
        Settled::Done(statuses) => {
            if !json_out {
                let mut seen: Vec<&str> = statuses
                    .iter()
                    .filter(|s| **s != RequestStatus::Completed)
                    .map(|s| s.as_str())
                    .collect();
                seen.dedup();
                eprintln!(
                    "not completed: {} (exit status 1; see the services above{})",
                    seen.join(", "),
                    if seen.contains(&"in_progress") {
                        "; a task waiting on a person is answered with `dsr task complete`"
                    } else {
                        ""
                    }
                );
            }
            Ok(ExitCode::from(1))
        }
        Settled::TimedOut(p) => {
            eprintln!(
                "timed out: {} of {} tasks settled; the request goes on (wait again, or run `dsr worker`)",
                p.settled, p.tasks
            );
            Ok(ExitCode::from(1))
        }
    }
}

fn parse_type(s: &str) -> anyhow::Result<RequestType> {
    Ok(s.parse::<RequestType>()?)
}

/// Prints the candidates of an ambiguous or weak term, and how to name one.
fn refuse_guess(e: &dsr_engine::Error, json_out: bool) -> anyhow::Result<Option<ExitCode>> {
    let (term, candidates) = match e {
        dsr_engine::Error::Ambiguous { term, candidates } => (term, candidates.clone()),
        dsr_engine::Error::NeedsReview { term, candidate } => (term, vec![(**candidate).clone()]),
        _ => return Ok(None),
    };
    if json_out {
        out::json(&json!({"error": e.to_string(), "candidates": candidates}))?;
    } else {
        eprintln!(
            "error: {term} matches {} — a request never acts on a guess; say which subject is meant with --subject ID (or use --id ID):",
            if candidates.len() == 1 {
                "only weakly".to_owned()
            } else {
                format!("{} subjects that are not one merge set", candidates.len())
            }
        );
        for c in &candidates {
            eprintln!("  --subject {:<16} {c}", c.subject_id);
        }
    }
    Ok(Some(ExitCode::from(3)))
}

async fn request(ctx: &Ctx, a: RequestArgs) -> anyhow::Result<ExitCode> {
    let signing = match &a.cmd {
        RequestCommand::Create(c) if c.wait => Signing::LoadOrCreate,
        RequestCommand::Wait { no_work: false, .. } | RequestCommand::Download { .. } => {
            Signing::LoadOrCreate
        }
        _ => Signing::IfPresent,
    };
    let env = open_any(ctx, &a.common, signing).await?;
    let engine = env.engine().clone();
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
            let dir = match &env {
                Opened::Sqlite(e) => load_directory(e.store.db(), engine.tenant())?,
                Opened::Postgres(p) => p.directory().await?,
            };
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
            let created = match engine.create(&dir, opts).await {
                Ok(o) => o,
                Err(e) => match refuse_guess(&e, json_out)? {
                    Some(code) => return Ok(code),
                    None => return Err(e.into()),
                },
            };
            let mut ids = vec![created.request.id.clone()];
            ids.extend(created.related.iter().map(|r| r.id.clone()));
            let settled = if c.wait {
                Some(
                    settle(
                        env.engine(),
                        env.worker_config(),
                        &ids,
                        true,
                        !json_out && !c.quiet,
                        None,
                    )
                    .await?,
                )
            } else {
                None
            };
            let (r, tasks) = engine.get(&created.request.id).await?;
            let related = engine.related_of(&r).await?;
            if c.quiet {
                outln!("{}", r.id);
            } else if json_out {
                let mut v = wire::request(&r, &tasks, &related, now());
                v["existing"] = Value::Bool(created.existing);
                out::json(&v)?;
            } else {
                if created.existing {
                    outln!("a {} request for this subject is already in flight:", r.ty);
                }
                print_request(&r, &tasks, &related, now())?;
                if !c.wait && r.status() == RequestStatus::InProgress {
                    outln!(
                        "next: `dsr request wait {}` (or run `dsr worker --until-idle`)",
                        short_id(&r.id)
                    );
                }
                if r.status() == RequestStatus::OnHold {
                    outln!(
                        "next: `dsr request decide {} --proceed --reason TEXT` or `… --refuse --reason GROUND`",
                        short_id(&r.id)
                    );
                }
            }
            match settled {
                Some(s) => settled_status(&s, json_out || c.quiet),
                None => Ok(ExitCode::SUCCESS),
            }
        }
        RequestCommand::Show { id } => {
            let id = ids::resolve(&engine, &id).await?;
            show(&engine, &id, json_out).await?;
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::List {
            status,
            overdue,
            limit,
            wide,
        } => {
            let filter = RequestFilter {
                status: status.as_deref().map(str::parse).transpose()?,
                overdue_at: overdue.then(now),
                subject: None,
                limit,
            };
            let (list, unreadable) = match &env {
                Opened::Sqlite(e) => e.store.requests_and_unreadable(engine.tenant(), &filter)?,
                Opened::Postgres(_) => (engine.list(&filter).await?, Vec::new()),
            };
            for u in &unreadable {
                eprintln!(
                    "warning: stored request {} is unreadable ({}); it is left out of this list — restore it from a backup or contact support",
                    u.id, u.reason
                );
            }
            // Which listed requests wait on a person (a manual service's task).
            let waiting = if list.iter().any(|r| r.status() == RequestStatus::InProgress) {
                engine.waiting_tasks().await?
            } else {
                Vec::new()
            };
            let waiting_on = |r: &Request| -> Vec<&dsr_engine::manual::WaitingTask> {
                waiting.iter().filter(|w| w.request.id == r.id).collect()
            };
            if json_out {
                out::json(
                    &list
                        .iter()
                        .map(|r| wire::request_summary_waiting(r, &waiting_on(r), now()))
                        .collect::<Vec<_>>(),
                )?;
            } else if list.is_empty() {
                outln!("no request{}", if overdue { " is overdue" } else { "" });
            } else {
                // 80 columns: the short id, the service-target due date and a set marker
                // (+N related for a merge-set parent, ↳ for its members); --wide adds the
                // full ids, the parent and the legal deadline.
                let headers: &[&str] = if wide {
                    &[
                        "id",
                        "type",
                        "status",
                        "subject",
                        "parent",
                        "related",
                        "due",
                        "legal deadline",
                    ]
                } else {
                    &["id", "type", "status", "subject", "set", "due"]
                };
                let mut table = out::table(headers, wide);
                if !wide {
                    out::keep_whole(&mut table, &[0, 1, 2, 5]);
                }
                for r in &list {
                    let status = format!(
                        "{}{}",
                        r.status(),
                        if r.is_overdue(now()) { " OVERDUE" } else { "" }
                    );
                    let cells = if wide {
                        vec![
                            r.id.to_string(),
                            r.ty.to_string(),
                            status,
                            r.subject.id.to_string(),
                            r.parent.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                            r.related.len().to_string(),
                            day(r.due_at),
                            day(r.legal_deadline),
                        ]
                    } else {
                        vec![
                            short_id(&r.id).to_owned(),
                            r.ty.to_string(),
                            status,
                            r.subject.id.to_string(),
                            if r.parent.is_some() {
                                "↳".to_owned()
                            } else if r.related.is_empty() {
                                String::new()
                            } else {
                                format!("+{}", r.related.len())
                            },
                            r.due_at.format("%Y-%m-%d").to_string(),
                        ]
                    };
                    out::row(&mut table, cells, wide);
                }
                outln!("{table}");
                for r in &list {
                    for w in waiting_on(r) {
                        outln!(
                            "{}  waits on {}{} — `dsr task list --manual`",
                            ids::task_id(&w.request.id, &w.task.service),
                            w.task
                                .manual
                                .as_ref()
                                .map_or("a person", |m| m.assignee.as_str()),
                            if w.overdue { " (OVERDUE)" } else { "" }
                        );
                    }
                }
            }
            Ok(if unreadable.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        RequestCommand::Wait {
            id,
            no_work,
            timeout,
        } => {
            let id = ids::resolve(&engine, &id).await?;
            let (r, _) = engine.get(&id).await?;
            let mut all = vec![id.clone()];
            all.extend(r.related.iter().cloned());
            let settled = settle(
                env.engine(),
                env.worker_config(),
                &all,
                !no_work,
                !json_out,
                timeout.map(Duration::from_secs),
            )
            .await?;
            show(&engine, &id, json_out).await?;
            settled_status(&settled, json_out)
        }
        RequestCommand::Cancel { id, by } => {
            let id = ids::resolve(&engine, &id).await?;
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
            if proceed == refuse {
                bail!(
                    "say what is decided: --proceed (carry it out, with --reason the justification) or --refuse (with --reason the legal ground)"
                );
            }
            let id = ids::resolve(&engine, &id).await?;
            let verdict = if proceed {
                dsr_engine::Verdict::Proceed
            } else {
                dsr_engine::Verdict::Refuse
            };
            engine.decide(&id, verdict, &reason, &by).await?;
            show(&engine, &id, json_out).await?;
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Extend {
            id,
            days,
            reason,
            by,
        } => {
            let id = ids::resolve(&engine, &id).await?;
            engine.extend(&id, days, &reason, &by).await?;
            show(&engine, &id, json_out).await?;
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Retry { id, by } => {
            let id = ids::resolve(&engine, &id).await?;
            engine.retry(&id, &by).await?;
            show(&engine, &id, json_out).await?;
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Download {
            id,
            out: path,
            force,
            to,
            by,
        } => {
            let id = ids::resolve(&engine, &id).await?;
            dsr_engine::check_hand_over(&to, &by)?;
            if path.exists() && !force {
                bail!(
                    "{} exists: not replaced (give --force to replace it, or another --out)",
                    path.display()
                );
            }
            let pkg = engine.package(&id).await?;
            write_private(&path, pkg.as_bytes(), force)?;
            let v = package::verify(&pkg, Some(&engine.public_key_hex()))?;
            engine.hand_over(&id, &to, &by).await?;
            if json_out {
                out::json(&json!({
                    "file": path.display().to_string(), "bytes": pkg.len(), "files": v.files,
                    "manifestSha256": v.manifest_sha256, "publicKey": v.public_key, "handedOverTo": to,
                }))?;
            } else {
                outln!(
                    "wrote {} ({} bytes, {} files, signed by {}…); hand-over to {to} recorded",
                    path.display(),
                    pkg.len(),
                    v.files,
                    &v.public_key[..16]
                );
                outln!(
                    "the receiving party checks it with `dsr verify {} --key {}`",
                    path.display(),
                    v.public_key
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Writes a file readable by its owner only (mode 0600), through a temporary file and a
/// rename, so a full disk never leaves a partial package under the final name.
fn write_private(path: &Path, bytes: &[u8], replace: bool) -> anyhow::Result<()> {
    dsr_engine::keyring::write_atomic(path, bytes, replace)
        .with_context(|| format!("writing {}", path.display()))
}

async fn worker(ctx: &Ctx, a: WorkerArgs) -> anyhow::Result<ExitCode> {
    let env = open_any(ctx, &a.common, Signing::LoadOrCreate).await?;
    let mut cfg = env.worker_config();
    if let Some(c) = a.concurrency {
        if c == 0 || c > 1024 {
            bail!("--concurrency: {c} is not accepted (1 to 1024)");
        }
        cfg.concurrency = c;
    }
    let id = cfg.id.clone();
    let w = Worker::new(env.engine().clone(), cfg);
    if !a.common.json {
        eprintln!(
            "worker {id}: tenant {}, services {}; {}",
            env.engine().tenant(),
            env.engine().services().names().join(", "),
            if a.until_idle {
                "stops when no task is left"
            } else {
                "runs until Ctrl-C (unfinished tasks are taken over after their lease); --until-idle stops when no task is left"
            }
        );
    }
    tracing::info!(worker = %id, tenant = %env.engine().tenant(), "worker started");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let stop_monitor = tx.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = tx.send(true);
    });
    // Progress while it runs: on a terminal a spinner with the open tasks, with -v a log
    // line when the number changes (never silent for minutes).
    let monitor = {
        let engine = env.engine().clone();
        let bar = (!a.common.json && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        let mut stop = rx.clone();
        tokio::spawn(async move {
            let mut last = None;
            loop {
                if let Ok((open, _)) = engine.store().open_tasks(engine.tenant()).await {
                    if let Some(b) = &bar {
                        b.set_message(format!("{open} task(s) open"));
                    }
                    if last != Some(open) {
                        tracing::info!(open_tasks = open, "worker progress");
                        last = Some(open);
                    }
                }
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        })
    };
    let result = dsr_ops::worker::run(&w, rx, a.until_idle, |e, wait| {
        tracing::warn!(error = %e, "store busy; retrying");
        eprintln!(
            "worker {id}: the database is busy ({e}); trying again in {:.1} s",
            wait.as_secs_f32()
        );
    })
    .await;
    let _ = stop_monitor.send(true);
    let _ = monitor.await;
    let stats = result?;
    if a.common.json {
        out::json(&json!({"worker": id, "stats": stats}))?;
    } else {
        outln!(
            "worker {id} stopped: {} claimed, {} done, {} retried, {} failed, {} requests finished{}",
            stats.claimed,
            stats.done,
            stats.retried,
            stats.dead,
            stats.requests_finished,
            if stats.waiting > 0 {
                format!(
                    "; {} handed to a person (`dsr task list --manual`)",
                    stats.waiting
                )
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn services(ctx: &Ctx, c: CommonArgs) -> anyhow::Result<ExitCode> {
    let env = env(ctx, &c, Signing::IfPresent)?;
    let dir = load_directory(env.store.db(), env.engine.tenant())?;
    let spots = env.engine.blind_spots(&dir);
    let infos: Vec<&dsr_engine::ServiceInfo> =
        env.engine.services().iter().map(|s| s.info()).collect();
    if c.json {
        out::json(&json!({
            "services": infos,
            "blindSpots": spots,
            "retention": env.config.policy.retention,
            "legalHolds": env.config.policy.legal_hold,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = out::table(
        &[
            "service",
            "erasure",
            "categories",
            "personal fields",
            "attachments",
        ],
        false,
    );
    for i in &infos {
        out::row(
            &mut table,
            vec![
                i.name.clone(),
                i.erasure.to_string(),
                i.categories
                    .iter()
                    .map(|c| c.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                i.fields.join(", "),
                if i.attachments { "yes" } else { "no" }.into(),
            ],
            false,
        );
    }
    outln!("{table}");
    for i in &infos {
        if !i.description.is_empty() {
            outln!(
                "{}",
                out::wrap(&format!("  {}:", i.name), &i.description, 4)
            );
        }
    }
    for r in &env.config.policy.retention {
        outln!(
            "{}",
            out::wrap(
                &format!("retention: {} keeps {}:", r.service, r.category),
                &r.ground,
                4
            )
        );
    }
    outln!("\nblind spots (personal data here cannot be searched, so a request may miss it):");
    for b in &spots {
        outln!("{}", out::wrap(&format!("  - {}:", b.place), &b.why, 4));
    }
    Ok(ExitCode::SUCCESS)
}

async fn services_check(ctx: &Ctx, c: CommonArgs) -> anyhow::Result<ExitCode> {
    let config = load_config(ctx.config(&c.config).as_deref())?;
    let report = dsr_connectors::check::check(&config).await;
    let status = if report.has_problems() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    if c.json {
        out::json(&report)?;
        return Ok(status);
    }
    if report.findings.is_empty() {
        outln!("no http or sql service is configured: nothing to check");
        return Ok(status);
    }
    for f in &report.findings {
        let level = match f.level {
            dsr_connectors::check::Level::Ok => "ok",
            dsr_connectors::check::Level::Warning => "warning",
            dsr_connectors::check::Level::Problem => "PROBLEM",
        };
        outln!(
            "{}",
            out::wrap(
                &format!("{level:<8} {} {}:", f.service, f.place),
                &f.message,
                4
            )
        );
    }
    let problems = report
        .findings
        .iter()
        .filter(|f| f.level == dsr_connectors::check::Level::Problem)
        .count();
    outln!(
        "\n{problems} problem{} (exit status {})",
        plural(problems as u64),
        u8::from(problems > 0)
    );
    Ok(status)
}

async fn audit(ctx: &Ctx, a: AuditArgs) -> anyhow::Result<ExitCode> {
    let env = open_any(ctx, &a.common, Signing::IfPresent).await?;
    let tenant = env.engine().tenant().clone();
    match a.cmd {
        AuditCommand::Verify => {
            let r = env.engine().verify_audit().await?;
            if a.common.json {
                out::json(&r)?;
            } else if r.ok() {
                outln!(
                    "audit chain of tenant {tenant}: {} entries verified; head {}",
                    r.entries,
                    r.head
                );
            } else {
                outln!(
                    "audit chain of tenant {tenant} does NOT verify ({} entries):",
                    r.entries
                );
                for p in &r.problems {
                    outln!("  - {}", p.reason);
                }
            }
            Ok(if r.ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AuditCommand::Show { request } => {
            let (entries, _) = env.engine().store().audit(&tenant).await?;
            let filter = match request {
                Some(r) => Some(ids::resolve(env.engine(), &r).await?),
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
                out::json(&shown)?;
            } else {
                for e in shown {
                    outln!(
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

/// The tenant's key ring, for a SQLite file or a PostgreSQL database.
pub(crate) fn key_ring_of(
    ctx: &Ctx,
    common: &CommonArgs,
) -> anyhow::Result<dsr_engine::keyring::KeyRing> {
    let config = load_config(ctx.config(&common.config).as_deref())?;
    Ok(match ctx.postgres(&common.store)? {
        Some((url, tenant)) => {
            dsr_ops::env::key_ring_for(&config, &dsr_ops::Database::Postgres(url), &tenant)
        }
        None => {
            let loc = ctx.location(&common.store)?;
            dsr_ops::env::key_ring(&config, &loc)
        }
    })
}

/// The tenant's own public keys, current and retired (never created here).
fn own_public_keys(ctx: &Ctx, common: &CommonArgs) -> anyhow::Result<Vec<String>> {
    let ring = key_ring_of(ctx, common)?;
    Ok(ring
        .public_keys()?
        .into_iter()
        .map(|k| k.public_key)
        .collect())
}

/// The keys `--key` names: hex, or a file with hex, a JWK or a JWK Set.
fn pinned_keys(key: &str) -> anyhow::Result<Vec<String>> {
    let path = Path::new(key);
    if key.trim().len() != 64 && path.exists() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return dsr_engine::keyring::parse_pinned(&text)
            .with_context(|| format!("--key {}", path.display()));
    }
    Ok(vec![key.trim().to_ascii_lowercase()])
}

fn verify(ctx: &Ctx, a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&a.package)
        .with_context(|| format!("reading {}", a.package.display()))?;
    // The trusted keys: --key, else this tenant's own keys if they exist. A valid
    // signature by a key nobody vouches for proves nothing about the sender.
    let trusted = match &a.key {
        Some(k) => pinned_keys(k)?,
        None => own_public_keys(ctx, &a.common)?,
    };
    match package::verify(&text, None) {
        Ok(mut v) => {
            let known = !trusted.is_empty();
            let trusted_ok = trusted
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&v.public_key));
            v.trusted_key = known.then_some(trusted_ok);
            if a.common.json {
                let mut j = json!({"valid": trusted_ok, "package": v});
                if !known {
                    j["reason"] = json!("valid signature by an unknown key");
                } else if !trusted_ok {
                    j["reason"] = json!("signed by a key that is not trusted");
                }
                out::json(&j)?;
            } else {
                outln!(
                    "{}: signature and {} file digests verify; {} request {} for subject {} from {:?}",
                    a.package.display(),
                    v.files,
                    v.request_type,
                    v.request_id,
                    v.subject_id,
                    v.organisation
                );
                match v.trusted_key {
                    Some(true) => outln!("signed with the trusted key {}", v.public_key),
                    Some(false) => outln!(
                        "BUT it is signed with key {}, not the trusted one: do not accept it",
                        v.public_key
                    ),
                    None => outln!(
                        "valid signature by an unknown key {}: nothing says it is the sender's; give the sender's public key with --key HEX or --key FILE (a JWK Set from `dsr key export`)",
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
                out::json(&json!({"valid": false, "error": e.to_string()}))?;
            } else {
                outln!("{}: does NOT verify: {e}", a.package.display());
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn package_cmd(a: PackageArgs) -> anyhow::Result<ExitCode> {
    let PackageCommand::Unpack {
        package,
        dir,
        key,
        force,
        json: json_out,
    } = a.cmd;
    let text = std::fs::read_to_string(&package)
        .with_context(|| format!("reading {}", package.display()))?;
    let (v, files) = match package::unpack(&text, key.as_deref()) {
        Ok(x) => x,
        Err(e) => bail!(
            "{}: does NOT verify, nothing unpacked: {e}",
            package.display()
        ),
    };
    if v.trusted_key == Some(false) {
        bail!(
            "{} is signed with key {}, not the one given: nothing unpacked",
            package.display(),
            v.public_key
        );
    }
    if dir.exists() {
        let empty = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_none();
        if !empty && !force {
            bail!(
                "{} is not empty: nothing unpacked (give --force to write into it, or another folder)",
                dir.display()
            );
        }
    }
    create_private_dir(&dir)?;
    let mut written = Vec::new();
    for (rel, bytes) in &files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            create_private_dir(parent)?;
        }
        write_private(&path, bytes, true)?;
        written.push(json!({"path": rel, "bytes": bytes.len()}));
    }
    if json_out {
        out::json(&json!({"dir": dir.display().to_string(), "files": written, "package": v}))?;
    } else {
        outln!(
            "{}: verified ({} request {} for subject {}); {} files written to {}",
            package.display(),
            v.request_type,
            v.request_id,
            v.subject_id,
            files.len(),
            dir.display()
        );
        for (rel, bytes) in &files {
            outln!("  {rel} ({} bytes)", bytes.len());
        }
        if v.trusted_key.is_none() {
            outln!(
                "signed with key {} (give --key to check it is the sender's)",
                v.public_key
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates a folder (and its parents) readable by its owner only (mode 0700).
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}
