//! `dsr import`, `dsr subjects`, `dsr normalize`, `dsr tenant`.
//!
//! The wire format of imported subjects ([`ImportRecord`]) lives here, not in the model:
//! it accepts the shapes other systems export (`name` or `names`, handles as objects)
//! and converts explicitly.

use crate::Ctx;
use anyhow::{Context, bail};
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use dsr_match::{Correlation, Directory, MatchConfig, SearchOptions, SearchResult};
use dsr_model::{Employment, Handle, MergeSetId, Subject, SubjectId, SubjectKind, Term, TermType};
use dsr_store_sqlite::SqliteStore;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `dsr import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// JSON Lines file of subjects (`-` reads standard input). Format: docs/import-format.md.
    pub file: PathBuf,
    /// Land nothing if any line is bad (default: good lines land, bad ones are reported).
    #[arg(long)]
    pub all_or_nothing: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not print warnings about values that cannot be searched.
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `dsr subjects`.
#[derive(Debug, clap::Args)]
pub struct SubjectsArgs {
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
    /// One term per line (optionally `type:value`); one result per line, in order.
    #[arg(long, conflicts_with_all = ["term", "terms"])]
    pub batch: Option<PathBuf>,
    /// Several identifiers of one person (repeat): which subjects they corroborate (G-13).
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
}

/// Arguments of `dsr normalize`.
#[derive(Debug, clap::Args)]
pub struct NormalizeArgs {
    /// The term (`type:value` or bare).
    pub term: Option<String>,
    /// The term's type.
    #[arg(long = "type", short = 't')]
    pub ty: Option<String>,
    /// Region for phone numbers in national form.
    #[arg(long)]
    pub region: Option<String>,
    /// One term per line.
    #[arg(long, conflicts_with = "term")]
    pub batch: Option<PathBuf>,
    /// Output as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `dsr tenant`.
#[derive(Debug, clap::Args)]
pub struct TenantArgs {
    /// Set the default region for phone numbers written in national form (ISO 3166
    /// alpha-2, e.g. FR); `none` clears it.
    #[arg(long)]
    pub region: Option<String>,
    /// Output as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One imported subject as written in the JSON Lines file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRecord {
    #[serde(rename = "type", alias = "kind")]
    kind: String,
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default)]
    phones: Vec<String>,
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    handles: Vec<ImportHandle>,
    #[serde(default)]
    external_ids: Vec<String>,
    #[serde(default)]
    custom: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    employment: Option<String>,
    #[serde(default)]
    contact_list: Option<String>,
    #[serde(default)]
    merge_set: Option<String>,
    #[serde(default)]
    canonical: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportHandle {
    platform: String,
    #[serde(alias = "handle")]
    value: String,
}

impl ImportRecord {
    fn into_subject(self) -> anyhow::Result<Subject> {
        let kind: SubjectKind = self.kind.parse()?;
        let id = SubjectId::new(self.id)?;
        let mut s = Subject::new(kind, id);
        s.names = self.name.into_iter().chain(self.names).collect();
        s.emails = self.emails;
        s.phones = self.phones;
        s.addresses = self.addresses;
        s.handles = self
            .handles
            .into_iter()
            .map(|h| Handle {
                platform: h.platform,
                value: h.value,
            })
            .collect();
        s.external_ids = self.external_ids;
        s.custom = self
            .custom
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect();
        s.employment = match self.employment.as_deref().map(str::trim) {
            None => None,
            Some("active") => Some(Employment::Active),
            Some("former") => Some(Employment::Former),
            Some(other) => {
                bail!("employment: {other:?} is not accepted (use \"active\" or \"former\")")
            }
        };
        if kind == SubjectKind::User && s.employment.is_none() {
            // An employee with no status is treated as active: never erase silently (G-16).
            s.employment = Some(Employment::Active);
        }
        s.contact_list = self.contact_list;
        s.merge_set = self
            .merge_set
            .map(MergeSetId::new)
            .transpose()
            .context("merge_set")?;
        s.canonical = self.canonical;
        s.validate()?;
        Ok(s)
    }
}

fn open_store(ctx: &Ctx) -> anyhow::Result<SqliteStore> {
    SqliteStore::open(&ctx.db).with_context(|| format!("opening {}", ctx.db.display()))
}

/// Builds the tenant's directory from the store.
pub fn load_directory(store: &SqliteStore, ctx: &Ctx) -> anyhow::Result<Directory> {
    let region = store.default_region(&ctx.tenant)?;
    let mut dir = Directory::new(MatchConfig {
        default_region: region,
    })?;
    for s in store.load_subjects(&ctx.tenant)? {
        let id = s.id.clone();
        dir.upsert(s)
            .with_context(|| format!("stored subject {id} is invalid"))?;
    }
    Ok(dir)
}

/// `dsr import`.
pub fn import(ctx: &Ctx, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let (reader, total): (Box<dyn Read>, Option<u64>) = if args.file.as_os_str() == "-" {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let f = std::fs::File::open(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    let store = open_store(ctx)?;
    let region = store.default_region(&ctx.tenant)?;
    // A scratch directory tells which stored values cannot be searched (and why).
    let mut probe = Directory::new(MatchConfig {
        default_region: region,
    })?;
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
    let mut errors: Vec<(usize, String)> = Vec::new();
    let mut warnings: Vec<(usize, String)> = Vec::new();
    let mut batch: Vec<Subject> = Vec::new();
    let mut pending: Vec<Subject> = Vec::new();
    let mut by_kind: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut created = 0usize;
    let mut updated = 0usize;
    let mut flush = |batch: &mut Vec<Subject>| -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let c = store.upsert_subjects_counted(&ctx.tenant, batch)?;
        created += c.created;
        updated += c.updated;
        batch.clear();
        Ok(())
    };
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    let mut line_no = 0usize;
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {} at line {}", args.file.display(), line_no + 1))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if let Some(bar) = &bar {
            bar.inc(n as u64);
        }
        let text = match std::str::from_utf8(&line) {
            Ok(t) => t.trim(),
            Err(e) => {
                errors.push((line_no, format!("not UTF-8 text ({e})")));
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        let record: ImportRecord = match serde_json::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                errors.push((line_no, format!("{e}")));
                continue;
            }
        };
        match record.into_subject() {
            Ok(s) => {
                match probe.upsert(s.clone()) {
                    Ok(ws) => {
                        warnings.extend(ws.into_iter().map(|w| (line_no, format!("{}: {w}", s.id))))
                    }
                    Err(e) => {
                        errors.push((line_no, format!("{e}")));
                        continue;
                    }
                }
                // Keep the probe small: it only needs to see each subject once.
                probe.remove(&s.id);
                *by_kind.entry(s.kind.as_str()).or_default() += 1;
                if args.all_or_nothing {
                    pending.push(s);
                } else {
                    batch.push(s);
                    if batch.len() >= 2000 {
                        flush(&mut batch)?;
                    }
                }
            }
            Err(e) => errors.push((line_no, format!("{e:#}"))),
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let landed_nothing = args.all_or_nothing && !errors.is_empty();
    if args.all_or_nothing && errors.is_empty() {
        // One transaction: all or nothing.
        flush(&mut pending)?;
    } else {
        flush(&mut batch)?;
    }
    // Merge-set invariants are checked over the whole tenant once the lines have landed.
    let mut merge_problems = Vec::new();
    if !landed_nothing {
        let dir = load_directory(&store, ctx)?;
        merge_problems = dir
            .merge_set_problems()
            .into_iter()
            .map(|(set, why)| format!("merge set {set}: {why}"))
            .collect();
    }
    let imported: usize = if landed_nothing {
        0
    } else {
        by_kind.values().sum()
    };
    if args.json {
        let out = serde_json::json!({
            "lines": line_no,
            "imported": imported,
            "created": created,
            "updated": updated,
            "by_kind": if landed_nothing { BTreeMap::new() } else { by_kind.clone() },
            "rejected": errors.len(),
            "errors": errors.iter().map(|(l, e)| serde_json::json!({"line": l, "error": e})).collect::<Vec<_>>(),
            "warnings": warnings.iter().map(|(l, w)| serde_json::json!({"line": l, "warning": w})).collect::<Vec<_>>(),
            "merge_set_problems": merge_problems,
            "all_or_nothing": args.all_or_nothing,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let mut err = std::io::stderr().lock();
        for (l, e) in &errors {
            writeln!(err, "line {l}: {e}")?;
        }
        if !args.quiet {
            for (l, w) in warnings.iter().take(50) {
                writeln!(err, "warning: line {l}: {w}")?;
            }
            if warnings.len() > 50 {
                writeln!(
                    err,
                    "warning: … and {} more warnings (use --json to see all)",
                    warnings.len() - 50
                )?;
            }
        }
        for p in &merge_problems {
            writeln!(err, "warning: {p}")?;
        }
        if landed_nothing {
            println!(
                "nothing imported: {} bad line{} and --all-or-nothing was given ({} good lines not landed)",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                by_kind.values().sum::<usize>()
            );
        } else {
            let kinds: Vec<String> = by_kind.iter().map(|(k, n)| format!("{n} {k}")).collect();
            println!(
                "imported {imported} subject{} into tenant {} ({} new, {} updated{}); {} line{} rejected",
                if imported == 1 { "" } else { "s" },
                ctx.tenant,
                created,
                updated,
                if kinds.is_empty() {
                    String::new()
                } else {
                    format!("; {}", kinds.join(", "))
                },
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
            );
        }
    }
    Ok(if errors.is_empty() {
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
    let store = open_store(ctx)?;
    let dir = load_directory(&store, ctx)?;
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
            println!("{}", serde_json::to_string_pretty(&c)?);
        } else {
            print_correlation(&c);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(raw) = &args.term else {
        bail!(
            "give a TERM, --term (several, to correlate) or --batch FILE; see dsr subjects --help"
        );
    };
    let term = make_term(raw, args.ty.as_deref())?;
    let r = searchable(dir.search(&term, &opts)?)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_result(&r, dir.len());
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

fn batch(
    path: &PathBuf,
    mut one: impl FnMut(usize, &str) -> anyhow::Result<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        Box::new(BufReader::new(
            std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?,
        ))
    };
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    for (i, line) in reader.lines().enumerate() {
        let line_no = i + 1;
        let line = line.with_context(|| format!("reading {} at line {line_no}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match one(line_no, &line) {
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

fn print_result(r: &SearchResult, total: usize) {
    println!(
        "term {:?} looked up as {}{} in {} subject{}",
        r.term.value,
        r.classified_as,
        if r.explicit_type { "" } else { " (classified)" },
        total,
        if total == 1 { "" } else { "s" }
    );
    if !r.keys.is_empty() {
        let keys: Vec<String> = r
            .keys
            .iter()
            .take(8)
            .map(|k| format!("{}={}", k.kind, k.value))
            .collect();
        println!("keys: {}", keys.join("  "));
    }
    for w in &r.warnings {
        println!("warning: {w}");
    }
    if r.matches.is_empty() {
        println!("no subject matches");
        return;
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "subject",
            "kind",
            "name",
            "score",
            "confidence",
            "merge set (canonical)",
            "evidence",
        ]);
    for m in &r.matches {
        let merge = match (&m.merge_set, &m.canonical_id) {
            (Some(set), Some(c)) => format!(
                "{set} ({c}{})",
                if *c == m.subject_id { ", this one" } else { "" }
            ),
            (Some(set), None) => format!("{set} (no canonical!)"),
            _ => String::new(),
        };
        let evidence: Vec<String> = m
            .evidence
            .iter()
            .map(|e| format!("{} {:?}: {} ({})", e.field, e.stored, e.method, e.detail))
            .collect();
        table.add_row([
            m.subject_id.to_string(),
            m.kind.to_string(),
            m.display_name.clone().unwrap_or_default(),
            format!("{:.2}", m.score),
            format!(
                "{}{}",
                m.confidence,
                if m.needs_review { " — review" } else { "" }
            ),
            merge,
            evidence.join("\n"),
        ]);
    }
    println!("{table}");
    let review = r.matches.iter().filter(|m| m.needs_review).count();
    if review > 0 {
        println!(
            "{review} weak match{} need a human look before acting on them",
            if review == 1 { "" } else { "es" }
        );
    }
}

fn print_correlation(c: &Correlation) {
    for (i, r) in c.per_term.iter().enumerate() {
        println!(
            "[{}] {:?} as {}: {} match{}",
            i + 1,
            r.term.value,
            r.classified_as,
            r.matches.len(),
            if r.matches.len() == 1 { "" } else { "es" }
        );
        for w in &r.warnings {
            println!("    warning: {w}");
        }
    }
    if c.subjects.is_empty() {
        println!("no subject matches any term");
        return;
    }
    let mut table = Table::new();
    table
        .load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "subject",
            "kind",
            "name",
            "found by",
            "corroborated",
            "best score",
            "merge set (canonical)",
        ]);
    for s in &c.subjects {
        let found: Vec<String> = s.found_by.iter().map(|i| format!("[{}]", i + 1)).collect();
        table.add_row([
            s.subject_id.to_string(),
            s.kind.to_string(),
            s.display_name.clone().unwrap_or_default(),
            found.join(" "),
            if s.corroborated {
                "yes".into()
            } else {
                "no — check".into()
            },
            format!("{:.2}", s.best_score),
            match (&s.merge_set, &s.canonical_id) {
                (Some(set), Some(cid)) => format!("{set} ({cid})"),
                (Some(set), None) => format!("{set} (no canonical!)"),
                _ => String::new(),
            },
        ]);
    }
    println!("{table}");
    let n = c.subjects.iter().filter(|s| s.corroborated).count();
    println!(
        "{n} subject{} corroborated by more than one identifier: make one request for each",
        if n == 1 { "" } else { "s" }
    );
}

/// `dsr normalize`.
pub fn normalize(ctx: &Ctx, args: NormalizeArgs) -> anyhow::Result<ExitCode> {
    let region = match &args.region {
        Some(r) => Some(r.clone()),
        None => {
            // Use the tenant's region if a database already exists; never create one here.
            if ctx.db.exists() {
                open_store(ctx)?.default_region(&ctx.tenant)?
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
        println!("{}", serde_json::to_string_pretty(&n)?);
    } else {
        println!(
            "{:?} is {}{}",
            n.term.value,
            n.classified_as,
            if n.explicit_type { "" } else { " (classified)" }
        );
        for k in &n.keys {
            println!("  {:<26} {}", k.kind, k.value);
        }
        for w in &n.warnings {
            println!("warning: {w}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `dsr tenant`.
pub fn tenant(ctx: &Ctx, args: TenantArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(ctx)?;
    if let Some(r) = &args.region {
        if r.eq_ignore_ascii_case("none") {
            store.set_default_region(&ctx.tenant, None)?;
        } else {
            dsr_match::normalize::parse_region(r).map_err(anyhow::Error::msg)?;
            store.set_default_region(&ctx.tenant, Some(&r.to_ascii_uppercase()))?;
        }
    }
    let region = store.default_region(&ctx.tenant)?;
    let count = store.count_subjects(&ctx.tenant)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"tenant": ctx.tenant, "default_region": region, "subjects": count})
        );
    } else {
        println!(
            "tenant {}: {count} subjects, default region {}",
            ctx.tenant,
            region
                .as_deref()
                .unwrap_or("none (national phone numbers match only the same digits)")
        );
    }
    Ok(ExitCode::SUCCESS)
}
