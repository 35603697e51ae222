//! `dsr import`, `dsr subjects`, `dsr normalize`, `dsr tenant`. Thin: the import
//! pipeline, opening a tenant and loading its directory are `dsr-ops`'s; this file parses
//! arguments and formats the answers.

use crate::out::{self, outln};
use crate::{Ctx, StoreArgs};
use anyhow::{Context, bail};
use dsr_match::{Correlation, SearchOptions, SearchResult};
use dsr_model::{Term, TermType};
use dsr_ops::import::ImportOptions;
use dsr_ops::{OpenMode, load_directory, open_store, require_tenant};
use dsr_store_sqlite::SqliteStore;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `dsr import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// JSON Lines file of subjects (`-` reads standard input). Format: docs/import-format.md.
    #[arg(required_unless_present = "conversations")]
    pub file: Option<PathBuf>,
    /// Import conversations instead (JSON Lines: channel, the contact it links to,
    /// messages, attachments by path) for the built-in conversations service; `-` reads
    /// standard input. Format: docs/import-format.md.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["file", "all_or_nothing"])]
    pub conversations: Option<PathBuf>,
    /// Land nothing if any line is bad (default: good lines land, bad ones are reported).
    #[arg(long)]
    pub all_or_nothing: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not print warnings about values that cannot be searched.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Arguments of `dsr subjects`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SubjectsArgs {
    #[command(subcommand)]
    pub cmd: Option<SubjectsCommand>,
    /// The term: `type:value` (e.g. `phone:06 12 34 56 78`) or a bare value that is
    /// classified.
    pub term: Option<String>,
    /// The term's type (name, address, phone, email, handle, userId, externalContactId,
    /// dialerContactId, externalId, id).
    #[arg(long = "type", short = 't')]
    pub ty: Option<String>,
    /// Region for phone numbers in national form (ISO 3166 alpha-2, e.g. FR), overriding
    /// the tenant's default.
    #[arg(long)]
    pub region: Option<String>,
    /// One term per line (optionally `type:value`; `#` starts a comment line); one
    /// result per line, in order.
    #[arg(long, conflicts_with_all = ["term", "terms"])]
    pub batch: Option<PathBuf>,
    /// Several identifiers of one person (repeat): which subjects they corroborate.
    #[arg(long = "term", conflicts_with = "term")]
    pub terms: Vec<String>,
    /// Most results per term.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Drop results scoring below this (0 to 1).
    #[arg(long, default_value_t = 0.5)]
    pub min_score: f32,
    /// Full results with evidence as JSON.
    #[arg(long)]
    pub json: bool,
    /// Show every cell in full (tables otherwise fit the terminal, 80 columns in a pipe).
    #[arg(long)]
    pub wide: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `dsr subjects …` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SubjectsCommand {
    /// List the tenant's subjects (id order).
    List {
        /// Most rows (0: all).
        #[arg(long, default_value_t = 200)]
        limit: usize,
        /// As JSON (the stored subjects).
        #[arg(long)]
        json: bool,
        /// Show every cell in full.
        #[arg(long)]
        wide: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Arguments of `dsr normalize`.
#[derive(Debug, clap::Args)]
pub struct NormalizeArgs {
    /// The term (`type:value` or bare).
    pub term: Option<String>,
    /// The term's type.
    #[arg(long = "type", short = 't')]
    pub ty: Option<String>,
    /// Region for phone numbers in national form (default: the tenant's, if the
    /// database exists).
    #[arg(long)]
    pub region: Option<String>,
    /// One term per line (`#` starts a comment line).
    #[arg(long, conflicts_with = "term")]
    pub batch: Option<PathBuf>,
    /// Output as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Arguments of `dsr tenant`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TenantArgs {
    #[command(subcommand)]
    pub cmd: Option<TenantCommand>,
    /// Set the tenant's default region for phone numbers written in national form (ISO
    /// 3166 alpha-2, e.g. FR; `none` clears it). The tenant must exist.
    #[arg(long)]
    pub region: Option<String>,
    /// Output as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `dsr tenant …` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (and the database file if needed).
    Create {
        /// The tenant's name (default: --tenant, else `default`).
        name: Option<String>,
        /// Its default region for national phone numbers (ISO 3166 alpha-2, e.g. FR).
        #[arg(long)]
        region: Option<String>,
        /// Output as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the database's tenants.
    List {
        /// Output as JSON.
        #[arg(long)]
        json: bool,
        /// Show every cell in full.
        #[arg(long)]
        wide: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Show a tenant's settings and counts.
    Show {
        /// Output as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn open_existing(
    ctx: &Ctx,
    a: &StoreArgs,
) -> anyhow::Result<(SqliteStore, dsr_ops::env::Location)> {
    let loc = ctx.location(a)?;
    let store = open_store(&loc.db, OpenMode::Existing)?;
    require_tenant(&store, &loc.tenant)?;
    Ok((store, loc))
}

/// The tenant's directory, from a SQLite file or PostgreSQL (database and tenant must
/// exist).
fn directory_any(ctx: &Ctx, a: &StoreArgs) -> anyhow::Result<dsr_match::Directory> {
    match ctx.postgres(a)? {
        Some((url, tenant)) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            Ok(rt.block_on(async {
                let store = dsr_ops::pg::connect(&url, &tenant, false, None).await?;
                dsr_ops::open::directory_of(&store, &tenant).await
            })?)
        }
        None => {
            let (store, loc) = open_existing(ctx, a)?;
            Ok(load_directory(&store, &loc.tenant)?)
        }
    }
}

/// The tenant's stored subjects (by id) and the tenant, from either database.
fn subjects_any(
    ctx: &Ctx,
    a: &StoreArgs,
) -> anyhow::Result<(Vec<dsr_model::Subject>, dsr_model::TenantId)> {
    match ctx.postgres(a)? {
        Some((url, tenant)) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let all = rt.block_on(async {
                let store = dsr_ops::pg::connect(&url, &tenant, false, None).await?;
                let (all, _) = store
                    .load_subjects(&tenant)
                    .await
                    .map_err(dsr_engine::Error::store)?;
                Ok::<_, anyhow::Error>(all)
            })?;
            Ok((all, tenant))
        }
        None => {
            let (store, loc) = open_existing(ctx, a)?;
            Ok((store.load_subjects(&loc.tenant)?, loc.tenant))
        }
    }
}

/// `dsr import`.
pub fn import(ctx: &Ctx, args: ImportArgs) -> anyhow::Result<ExitCode> {
    if let Some(file) = &args.conversations {
        return crate::conversations::import(ctx, &args, file);
    }
    let Some(file) = args.file.clone() else {
        anyhow::bail!("give a FILE of subjects, or --conversations FILE");
    };
    let loc = ctx.location(&args.store)?;
    let (reader, total): (Box<dyn Read>, Option<u64>) = if file.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = std::fs::File::open(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    // PostgreSQL: the same pipeline (validation, per-line report, the tenant's
    // suppression list, merge sets), each batch written in one transaction.
    let pg = ctx.postgres(&args.store)?;
    let bar = if std::io::stderr().is_terminal() && !args.json {
        let bar = match total {
            Some(t) => indicatif::ProgressBar::new(t),
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} importing [{bar:30}] {bytes}/{total_bytes} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Some(bar)
    } else {
        None
    };
    let opts = ImportOptions {
        all_or_nothing: args.all_or_nothing,
        ..ImportOptions::default()
    };
    tracing::info!(file = %file.display(), tenant = %loc.tenant, "import started");
    let progress = |bytes| {
        if let Some(bar) = &bar {
            bar.set_position(bytes);
        }
    };
    let input = BufReader::new(reader);
    let report = match &pg {
        Some((url, tenant)) => {
            // One runtime and one connection pool for the whole import.
            let rt = tokio::runtime::Runtime::new()?;
            let pg_store = rt
                .block_on(dsr_ops::pg::connect(url, tenant, true, None))
                .with_context(|| format!("connecting to {}", dsr_ops::pg::redact_url(url)))?;
            let mut target = dsr_ops::import::StoreImport {
                rt: rt.handle().clone(),
                store: &pg_store,
            };
            dsr_ops::import::import_jsonl_into(&mut target, tenant, input, &opts, progress, |_| {
                Ok(())
            })
            .with_context(|| {
                format!(
                    "importing {} into {}",
                    file.display(),
                    dsr_ops::pg::redact_url(url)
                )
            })?
        }
        None => {
            let store = open_store(&loc.db, OpenMode::Create)?;
            dsr_ops::import::import_jsonl(&store, &loc.tenant, input, &opts, progress)
                .with_context(|| format!("importing {}", file.display()))?
        }
    };
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    tracing::info!(
        lines = report.lines,
        imported = report.imported,
        rejected = report.errors.len(),
        "import finished"
    );
    if args.json {
        out::json(&report)?;
    } else {
        let mut err = std::io::stderr().lock();
        for e in &report.errors {
            writeln!(err, "line {}: {}", e.line, e.message)?;
        }
        if !args.quiet {
            for w in report.warnings.iter().take(50) {
                writeln!(err, "warning: line {}: {}", w.line, w.message)?;
            }
            if report.warnings.len() > 50 {
                writeln!(
                    err,
                    "warning: … and {} more warnings (use --json to see all)",
                    report.warnings.len() - 50
                )?;
            }
        }
        for p in &report.merge_set_problems {
            writeln!(err, "warning: {p}")?;
        }
        let rejected = report.errors.len();
        if report.landed_nothing {
            outln!(
                "nothing imported: {rejected} bad line{} and --all-or-nothing was given ({} good lines not landed)",
                out::plural(rejected as u64),
                report.not_landed
            );
        } else {
            let kinds: Vec<String> = report
                .by_kind
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            outln!(
                "imported {} subject{} into tenant {} ({} new, {} updated{}); {rejected} line{} rejected",
                report.imported,
                out::plural(report.imported as u64),
                loc.tenant,
                report.created,
                report.updated,
                if kinds.is_empty() {
                    String::new()
                } else {
                    format!("; {}", kinds.join(", "))
                },
                out::plural(rejected as u64),
            );
        }
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn make_term(raw: &str, ty: Option<&str>) -> anyhow::Result<Term> {
    Ok(match ty {
        Some(t) => Term::typed(t.parse::<TermType>()?, raw.trim())?,
        None => Term::parse(raw)?,
    })
}

/// `dsr subjects`.
pub fn subjects(ctx: &Ctx, args: SubjectsArgs) -> anyhow::Result<ExitCode> {
    if let Some(SubjectsCommand::List {
        limit,
        json,
        wide,
        store,
    }) = &args.cmd
    {
        return list_subjects(ctx, store, *limit, *json, *wide);
    }
    let dir = directory_any(ctx, &args.store)?;
    let opts = SearchOptions {
        region: args.region.clone(),
        limit: args.limit.max(1),
        min_score: args.min_score.clamp(0.0, 1.0),
    };
    if let Some(region) = &args.region {
        dsr_match::normalize::parse_region(region).map_err(anyhow::Error::msg)?;
    }
    if let Some(path) = &args.batch {
        return batch(
            path,
            |line_no, raw| {
                let term = make_term(raw, args.ty.as_deref())?;
                let r = searchable(dir.search(&term, &opts)?)?;
                Ok(if args.json {
                    serde_json::to_string(&serde_json::json!({"line": line_no, "result": r}))?
                } else {
                    format!(
                        "{line_no}\t{}\t{}",
                        raw.trim(),
                        if r.matches.is_empty() {
                            "-".to_owned()
                        } else {
                            r.matches
                                .iter()
                                .map(|m| {
                                    format!("{}({:.2},{})", m.subject_id, m.score, m.confidence)
                                })
                                .collect::<Vec<_>>()
                                .join(" ")
                        }
                    )
                })
            },
            args.json,
        );
    }
    if !args.terms.is_empty() {
        let terms: Vec<Term> = args
            .terms
            .iter()
            .map(|t| make_term(t, None))
            .collect::<anyhow::Result<_>>()?;
        let c = dir.correlate(&terms, &opts)?;
        if args.json {
            out::json(&c)?;
        } else {
            print_correlation(&c, args.wide)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(raw) = &args.term else {
        bail!(
            "give a TERM, --term (several, to correlate) or --batch FILE, or `dsr subjects list`; see dsr subjects --help"
        );
    };
    let term = make_term(raw, args.ty.as_deref())?;
    let r = searchable(dir.search(&term, &opts)?)?;
    if args.json {
        out::json(&r)?;
    } else {
        print_result(&r, dir.len(), args.wide)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn list_subjects(
    ctx: &Ctx,
    a: &StoreArgs,
    limit: usize,
    json: bool,
    wide: bool,
) -> anyhow::Result<ExitCode> {
    let (all, tenant) = subjects_any(ctx, a)?;
    let total = all.len();
    let shown: Vec<_> = if limit == 0 {
        all
    } else {
        all.into_iter().take(limit).collect()
    };
    if json {
        out::json(&shown)?;
        return Ok(ExitCode::SUCCESS);
    }
    if shown.is_empty() {
        outln!("tenant {tenant} has no subjects");
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = out::table(
        &["id", "kind", "name", "emails", "phones", "merge set"],
        wide,
    );
    for s in &shown {
        out::row(
            &mut t,
            vec![
                s.id.to_string(),
                out::short_kind(s.kind.as_str()).to_owned(),
                s.names.first().cloned().unwrap_or_default(),
                s.emails.join(", "),
                s.phones.join(", "),
                s.merge_set
                    .as_ref()
                    .map(|m| format!("{m}{}", if s.canonical { " (canonical)" } else { "" }))
                    .unwrap_or_default(),
            ],
            wide,
        );
    }
    outln!("{t}");
    if shown.len() < total {
        outln!(
            "{} of {total} subjects shown (--limit 0 shows all)",
            shown.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A term that normalizes to no key at all ("phone:abc") cannot find anyone: that is
/// the user's mistake to hear about, not an empty result.
fn searchable(r: dsr_match::SearchResult) -> anyhow::Result<dsr_match::SearchResult> {
    if r.keys.is_empty() {
        let why = if r.warnings.is_empty() {
            "it has no searchable content".to_owned()
        } else {
            r.warnings.join("; ")
        };
        bail!("the term cannot be searched as {}: {why}", r.classified_as);
    }
    Ok(r)
}

/// One term per line: blank lines and `#` comment lines are skipped; a line that is not
/// UTF-8 is reported by number and the others still run.
fn batch(
    path: &Path,
    mut one: impl FnMut(usize, &str) -> anyhow::Result<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        Box::new(BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        ))
    };
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {} at line {}", path.display(), line_no + 1))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let result = match dsr_ops::import::line_text(&buf, line_no) {
            Ok(line) => {
                let t = line.trim();
                if t.is_empty() || t.starts_with('#') {
                    continue;
                }
                one(line_no, line)
            }
            Err(e) => Err(anyhow::anyhow!(e)),
        };
        match result {
            Ok(s) => writeln!(out, "{s}")?,
            Err(e) => {
                failed += 1;
                if json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({"line": line_no, "error": format!("{e:#}")})
                    )?;
                } else {
                    writeln!(out, "{line_no}\terror: {e:#}")?;
                }
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_result(r: &SearchResult, total: usize, wide: bool) -> anyhow::Result<()> {
    outln!(
        "term {:?} looked up as {}{} in {} subject{}",
        r.term.value,
        r.classified_as,
        if r.explicit_type { "" } else { " (classified)" },
        total,
        out::plural(total as u64)
    );
    if !r.keys.is_empty() {
        let keys: Vec<String> = r
            .keys
            .iter()
            .take(8)
            .map(|k| format!("{}={}", k.kind, k.value))
            .collect();
        // Wrapped between keys at 80 columns (a key is never cut).
        let mut line = String::from("keys:");
        for k in keys {
            if line.chars().count() + 2 + k.chars().count() > 80 && line != "keys:" {
                outln!("{line}");
                line = String::from("     ");
            }
            line.push_str("  ");
            line.push_str(&k);
        }
        outln!("{line}");
    }
    for w in &r.warnings {
        outln!("warning: {w}");
    }
    if r.matches.is_empty() {
        outln!("no subject matches");
        return Ok(());
    }
    let mut table = out::table(
        &["subject", "kind", "name", "match", "merge set", "evidence"],
        wide,
    );
    for m in &r.matches {
        let merge = match (&m.merge_set, &m.canonical_id) {
            (Some(set), Some(c)) if *c == m.subject_id => format!("{set} (canonical)"),
            (Some(set), Some(c)) => format!("{set} (canonical {c})"),
            (Some(set), None) => format!("{set} (no canonical!)"),
            _ => String::new(),
        };
        let evidence: Vec<String> = m
            .evidence
            .iter()
            .map(|e| format!("{} {:?}: {} ({})", e.field, e.stored, e.method, e.detail))
            .collect();
        out::row(
            &mut table,
            vec![
                m.subject_id.to_string(),
                out::short_kind(m.kind.as_str()).to_owned(),
                m.display_name.clone().unwrap_or_default(),
                format!(
                    "{} {:.2}{}",
                    m.confidence,
                    m.score,
                    if m.needs_review { " review" } else { "" }
                ),
                merge,
                evidence.join(if wide { "\n" } else { "; " }),
            ],
            wide,
        );
    }
    if !wide {
        out::keep_whole(&mut table, &[0, 1, 3]);
    }
    outln!("{table}");
    let review = r.matches.iter().filter(|m| m.needs_review).count();
    if review > 0 {
        outln!(
            "{review} weak match{} need a human look before acting on them",
            if review == 1 { "" } else { "es" }
        );
    }
    if !wide {
        outln!("(--wide shows every cell in full, --json the evidence in detail)");
    }
    Ok(())
}

fn print_correlation(c: &Correlation, wide: bool) -> anyhow::Result<()> {
    for (i, r) in c.per_term.iter().enumerate() {
        outln!(
            "[{}] {:?} as {}: {} match{}",
            i + 1,
            r.term.value,
            r.classified_as,
            r.matches.len(),
            if r.matches.len() == 1 { "" } else { "es" }
        );
        for w in &r.warnings {
            outln!("    warning: {w}");
        }
    }
    if c.subjects.is_empty() {
        outln!("no subject matches any term");
        return Ok(());
    }
    let mut table = out::table(
        &[
            "subject",
            "kind",
            "name",
            "found by",
            "corroborated",
            "score",
            "merge set",
        ],
        wide,
    );
    for s in &c.subjects {
        let found: Vec<String> = s.found_by.iter().map(|i| format!("[{}]", i + 1)).collect();
        out::row(
            &mut table,
            vec![
                s.subject_id.to_string(),
                out::short_kind(s.kind.as_str()).to_owned(),
                s.display_name.clone().unwrap_or_default(),
                found.join(" "),
                if s.corroborated {
                    "yes".into()
                } else {
                    "no, check".into()
                },
                format!("{:.2}", s.best_score),
                match (&s.merge_set, &s.canonical_id) {
                    (Some(set), Some(cid)) => format!("{set} ({cid})"),
                    (Some(set), None) => format!("{set} (no canonical!)"),
                    _ => String::new(),
                },
            ],
            wide,
        );
    }
    outln!("{table}");
    let n = c.subjects.iter().filter(|s| s.corroborated).count();
    outln!(
        "{n} subject{} corroborated by more than one identifier: make one request for each",
        out::plural(n as u64)
    );
    Ok(())
}

/// `dsr normalize`: pure, needs no database; the tenant's region is used when the
/// database exists.
pub fn normalize(ctx: &Ctx, args: NormalizeArgs) -> anyhow::Result<ExitCode> {
    let region = match &args.region {
        Some(r) => {
            dsr_match::normalize::parse_region(r).map_err(anyhow::Error::msg)?;
            Some(r.clone())
        }
        None => {
            let loc = ctx.location(&args.store)?;
            // Use the tenant's region if the database exists; never create one here.
            if loc.db.exists() {
                let store = open_store(&loc.db, OpenMode::Existing)?;
                let explicit = ctx.tenant_given(&args.store);
                if explicit {
                    require_tenant(&store, &loc.tenant)?;
                }
                store.default_region(&loc.tenant)?
            } else {
                None
            }
        }
    };
    let one = |raw: &str| -> anyhow::Result<dsr_match::Normalized> {
        let term = make_term(raw, args.ty.as_deref())?;
        Ok(dsr_match::normalize_term(&term, region.as_deref())?)
    };
    if let Some(path) = &args.batch {
        return batch(
            path,
            |line_no, raw| {
                let n = one(raw)?;
                Ok(if args.json {
                    serde_json::to_string(&serde_json::json!({"line": line_no, "result": n}))?
                } else {
                    let keys: Vec<String> = n
                        .keys
                        .iter()
                        .map(|k| format!("{}={}", k.kind, k.value))
                        .collect();
                    format!(
                        "{line_no}\t{}\t{}\t{}",
                        raw.trim(),
                        n.classified_as,
                        keys.join(" ")
                    )
                })
            },
            args.json,
        );
    }
    let Some(raw) = &args.term else {
        bail!("give a TERM or --batch FILE; see dsr normalize --help");
    };
    let n = one(raw)?;
    if args.json {
        out::json(&n)?;
    } else {
        outln!(
            "{:?} is {}{}",
            n.term.value,
            n.classified_as,
            if n.explicit_type { "" } else { " (classified)" }
        );
        for k in &n.keys {
            outln!("  {:<26} {}", k.kind, k.value);
        }
        for w in &n.warnings {
            outln!("warning: {w}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_region_arg(r: &str) -> anyhow::Result<Option<String>> {
    if r.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    dsr_match::normalize::parse_region(r).map_err(anyhow::Error::msg)?;
    Ok(Some(r.to_ascii_uppercase()))
}

fn print_tenant(store: &SqliteStore, name: &str, json: bool) -> anyhow::Result<()> {
    let info = store
        .tenants()?
        .into_iter()
        .find(|t| t.name == name)
        .with_context(|| format!("tenant {name} disappeared meanwhile"))?;
    if json {
        out::json(&serde_json::json!({
            "tenant": info.name, "defaultRegion": info.default_region,
            "subjects": info.subjects, "requests": info.requests,
        }))?;
    } else {
        outln!(
            "tenant {}: {} subject{}, {} request{}, default region {}",
            info.name,
            info.subjects,
            out::plural(info.subjects),
            info.requests,
            out::plural(info.requests),
            info.default_region
                .as_deref()
                .unwrap_or("none (national phone numbers match only the same digits)")
        );
    }
    Ok(())
}

/// `dsr tenant …`.
pub fn tenant(ctx: &Ctx, args: TenantArgs) -> anyhow::Result<ExitCode> {
    match args.cmd {
        Some(TenantCommand::Create {
            name,
            region,
            json,
            store,
        }) => {
            let mut store_args = store;
            if let Some(n) = name {
                store_args.tenant = Some(n);
            }
            let loc = ctx.location(&store_args)?;
            let region = region.as_deref().map(parse_region_arg).transpose()?;
            if let Some((url, tenant)) = ctx.postgres(&store_args)? {
                let rt = tokio::runtime::Runtime::new()?;
                let created = rt.block_on(async {
                    let store = dsr_ops::pg::PgStore::connect(&url, 1)
                        .await
                        .map_err(dsr_engine::Error::store)?;
                    store
                        .create_tenant(&tenant, region.flatten().as_deref())
                        .await
                        .map_err(dsr_engine::Error::store)
                })?;
                if json {
                    out::json(&serde_json::json!({"tenant": tenant.as_str(), "created": created}))?;
                } else {
                    outln!(
                        "{} tenant {tenant} in {}",
                        if created { "created" } else { "already had" },
                        dsr_ops::pg::redact_url(&url)
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            let db = open_store(&loc.db, OpenMode::Create)?;
            let created = db.create_tenant(&loc.tenant)?;
            if let Some(r) = region {
                db.set_default_region(&loc.tenant, r.as_deref())?;
            }
            if !json {
                outln!(
                    "{} tenant {} in {}",
                    if created { "created" } else { "already had" },
                    loc.tenant,
                    loc.db.display()
                );
            }
            print_tenant(&db, loc.tenant.as_str(), json)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(TenantCommand::List { json, wide, store }) => {
            let loc = ctx.location(&store)?;
            let db = open_store(&loc.db, OpenMode::Existing)?;
            let all = db.tenants()?;
            if json {
                out::json(
                    &all.iter()
                        .map(|t| serde_json::json!({"tenant": t.name, "defaultRegion": t.default_region, "subjects": t.subjects, "requests": t.requests}))
                        .collect::<Vec<_>>(),
                )?;
            } else if all.is_empty() {
                outln!(
                    "{} has no tenant yet: `dsr tenant create` or `dsr import FILE`",
                    loc.db.display()
                );
            } else {
                let mut t = out::table(&["tenant", "subjects", "requests", "default region"], wide);
                for x in &all {
                    out::row(
                        &mut t,
                        vec![
                            x.name.clone(),
                            x.subjects.to_string(),
                            x.requests.to_string(),
                            x.default_region.clone().unwrap_or_else(|| "-".into()),
                        ],
                        wide,
                    );
                }
                outln!("{t}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(TenantCommand::Show { json, store }) => {
            let (db, loc) = open_existing(ctx, &store)?;
            print_tenant(&db, loc.tenant.as_str(), json)?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let (db, loc) = open_existing(ctx, &args.store)?;
            if let Some(r) = &args.region {
                db.set_default_region(&loc.tenant, parse_region_arg(r)?.as_deref())?;
            }
            print_tenant(&db, loc.tenant.as_str(), args.json)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
