//! `dsr compliance …`: HIPAA / HDS configuration checks.
//!
//! Thin on purpose: this file reads the files, picks "today" and the output format, and
//! maps the outcome to an exit status. Parsing, the rules, waivers and every report
//! format live in `dsr-compliance`.
//!
//! Exit status: 0 when every rule passes, is waived or does not apply; 1 when a rule
//! fails or cannot be decided; 2 for usage errors and unreadable or invalid
//! configuration or waiver files (the error names the key path).
//!
//! Output goes through `io::Write` on a locked stdout and write errors are returned
//! (never `println!`, which panics on a closed pipe), so `dsr compliance … | head -1`
//! ends on an `io::Error` of kind `BrokenPipe` that `main` can end quietly on.

use anyhow::{Context as _, Result};
use chrono::NaiveDate;
use dsr_compliance::{
    CATALOG_VERSIONS, CatalogVersion, Config, SOURCE_CHANGE_LOG, SarifOptions, Waivers,
    catalog_json, evaluate_catalog, rule_or_error,
};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `dsr compliance`.
#[derive(Debug, clap::Args)]
pub struct ComplianceArgs {
    #[command(subcommand)]
    command: ComplianceCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ComplianceCommand {
    /// Check a tenant configuration (TOML or JSON); exit status 1 when a rule fails.
    Check(CheckArgs),
    /// List the rule catalog, its version and change log.
    Rules {
        /// Print the catalog as JSON (ids, tags, sources, legal references, remediation,
        /// change logs).
        #[arg(long)]
        json: bool,
        /// List the rules of this catalog version (default: the current one).
        #[arg(long, value_name = "VERSION")]
        catalog_version: Option<String>,
    },
    /// Explain one rule: what it checks, why, where it comes from, how to fix it.
    Explain {
        /// The rule id, e.g. `sessions.idle-timeout`.
        rule_id: String,
        /// Print the rule as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The configuration file (`.toml` or `.json`; see docs/compliance.md).
    config: PathBuf,
    /// A waiver file (`[[waiver]]` entries) recording configurations the subscriber
    /// forgoes and accepts responsibility for.
    #[arg(long, value_name = "FILE")]
    waivers: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    json: bool,
    /// Evaluate with the rules of this catalog version (default: the current one), to
    /// reproduce an earlier report.
    #[arg(long, value_name = "VERSION")]
    catalog_version: Option<String>,
    /// Evaluate as of this date (waiver expiry, credential age) instead of today (UTC).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    as_of: Option<NaiveDate>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// A table grouped by product area, then the failures and waivers.
    Text,
    /// The JSON report.
    Json,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
}

fn parse_date(s: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| format!("`{s}`: {e}; expected YYYY-MM-DD"))
}

fn catalog_version(v: Option<&str>) -> Result<&'static CatalogVersion> {
    match v {
        None => Ok(CatalogVersion::current()),
        Some(v) => Ok(CatalogVersion::find(v).context("--catalog-version")?),
    }
}

/// Runs `dsr compliance`.
pub fn run(args: ComplianceArgs) -> Result<ExitCode> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let code = run_to(args, &mut out)?;
    out.flush()?;
    Ok(code)
}

fn write_json(out: &mut impl Write, v: &serde_json::Value) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, v).map_err(io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

fn run_to(args: ComplianceArgs, out: &mut impl Write) -> Result<ExitCode> {
    match args.command {
        ComplianceCommand::Check(a) => check(a, out),
        ComplianceCommand::Rules {
            json,
            catalog_version: v,
        } => {
            let version = catalog_version(v.as_deref())?;
            if json {
                let mut doc = catalog_json();
                if version.version != CatalogVersion::current().version {
                    let ids: Vec<&str> = version.rules().map(|r| r.id()).collect();
                    doc["catalog_version"] = version.version.into();
                    if let Some(rules) = doc["rules"].as_array_mut() {
                        rules.retain(|r| r["id"].as_str().is_some_and(|id| ids.contains(&id)));
                    }
                }
                write_json(out, &doc)?;
            } else {
                out.write_all(rules_table(version).as_bytes())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        ComplianceCommand::Explain { rule_id, json } => {
            let rule = rule_or_error(&rule_id)?;
            if json {
                write_json(out, &rule.to_json())?;
            } else {
                out.write_all(rule.explain().as_bytes())?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn is_json(path: &Path, text: &str) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("json") => true,
        Some(e) if e.eq_ignore_ascii_case("toml") => false,
        _ => text.trim_start().starts_with('{'),
    }
}

fn check(a: CheckArgs, out: &mut impl Write) -> Result<ExitCode> {
    let version = catalog_version(a.catalog_version.as_deref())?;
    let text = std::fs::read_to_string(&a.config)
        .with_context(|| format!("cannot read {}", a.config.display()))?;
    let config = if is_json(&a.config, &text) {
        Config::from_json(&text)
    } else {
        Config::from_toml(&text)
    }
    .with_context(|| format!("{}", a.config.display()))?;
    let waivers = match &a.waivers {
        None => Waivers::none(),
        Some(path) => {
            let w = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if is_json(path, &w) {
                Waivers::from_json(&w)
            } else {
                Waivers::from_toml(&w)
            }
            .with_context(|| format!("{}", path.display()))?
        }
    };
    let today = a.as_of.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let report = evaluate_catalog(&config, &waivers, today, version)
        .with_context(|| format!("{}", a.config.display()))?;
    let format = if a.json { Format::Json } else { a.format };
    match format {
        Format::Text => out.write_all(report.to_text().as_bytes())?,
        Format::Json => write_json(out, &report.to_json())?,
        Format::Sarif => {
            let uri = a.config.to_string_lossy().replace('\\', "/");
            let toml_text = (!is_json(&a.config, &text)).then_some(text.as_str());
            let options = SarifOptions {
                artifact_uri: Some(&uri),
                source_text: toml_text,
            };
            write_json(out, &report.to_sarif(&options))?;
        }
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn rules_table(version: &CatalogVersion) -> String {
    let rules: Vec<_> = version.rules().collect();
    let id_w = rules.iter().map(|r| r.id().len()).max().unwrap_or(0);
    let tag_w = rules
        .iter()
        .map(|r| r.tags().join(", ").len())
        .max()
        .unwrap_or(0)
        .max("SOURCE REFS".len());
    let mut out = format!(
        "Catalog {} (released {}; follows {})\n\n",
        version.version, version.released, version.follows
    );
    out.push_str(&format!(
        "{:<id_w$}  {:<8}  {:<tag_w$}  TITLE\n",
        "RULE", "SEVERITY", "SOURCE REFS"
    ));
    for r in &rules {
        let mut title = r.title().to_owned();
        if r.is_note_in(version) {
            title.push_str(" [information]");
        }
        if r.dsr_recommendation().is_some() {
            title.push_str(" [has a dsr recommendation]");
        }
        out.push_str(&format!(
            "{:<id_w$}  {:<8}  {:<tag_w$}  {title}\n",
            r.id(),
            r.severity().as_str(),
            r.tags().join(", "),
        ));
    }
    out.push_str(&format!(
        "\n{} rules; `dsr compliance explain RULE_ID` for details.\n",
        rules.len()
    ));
    out.push_str("\nCatalog change log\n");
    for v in CATALOG_VERSIONS.iter().rev() {
        out.push_str(&format!(
            "  {} ({}; follows {})\n",
            v.version, v.released, v.follows
        ));
        for c in v.changes {
            out.push_str(&format!("    - {c}\n"));
        }
    }
    out.push_str(
        "\nSource change log (help-desk list, seed 001) and the rules that implement it\n",
    );
    for (date, what, ids) in SOURCE_CHANGE_LOG {
        out.push_str(&format!("  {date}  {what}\n"));
        if !ids.is_empty() {
            out.push_str(&format!("              rules: {}\n", ids.join(", ")));
        }
    }
    out
}
