//! `dsr compliance …`: HIPAA / HDS configuration checks.
//!
//! Thin on purpose: this file reads the files, picks "today" and the output format, and
//! maps the outcome to an exit status. Parsing, the rules, waivers and every report
//! format live in `dsr-compliance`.
//!
//! Exit status: 0 when every rule passes, is waived or does not apply; 1 when a rule
//! fails or cannot be decided; 2 for usage errors and unreadable or invalid
//! configuration or waiver files (the error names the key path).

use anyhow::{Context as _, Result};
use chrono::NaiveDate;
use dsr_compliance::{
    Config, SarifOptions, Waivers, catalog, catalog_json, evaluate, rule_or_error,
};
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
    /// List the rule catalog.
    Rules {
        /// Print the catalog as JSON (ids, tags, sources, legal references, remediation).
        #[arg(long)]
        json: bool,
    },
    /// Explain one rule: what it checks, why, where it comes from, how to fix it.
    Explain {
        /// The rule id, e.g. `sessions.idle-timeout`.
        rule_id: String,
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

/// Runs `dsr compliance`.
pub fn run(args: ComplianceArgs) -> Result<ExitCode> {
    match args.command {
        ComplianceCommand::Check(a) => check(a),
        ComplianceCommand::Rules { json } => {
            if json {
                println!("{}", serde_json::to_string_pretty(&catalog_json())?);
            } else {
                print!("{}", rules_table());
            }
            Ok(ExitCode::SUCCESS)
        }
        ComplianceCommand::Explain { rule_id } => {
            print!("{}", rule_or_error(&rule_id)?.explain());
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

fn check(a: CheckArgs) -> Result<ExitCode> {
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
    let report =
        evaluate(&config, &waivers, today).with_context(|| format!("{}", a.config.display()))?;
    match a.format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report.to_json())?),
        Format::Sarif => {
            let uri = a.config.to_string_lossy().replace('\\', "/");
            let toml_text = (!is_json(&a.config, &text)).then_some(text.as_str());
            let options = SarifOptions {
                artifact_uri: Some(&uri),
                source_text: toml_text,
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&report.to_sarif(&options))?
            );
        }
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn rules_table() -> String {
    let id_w = catalog().iter().map(|r| r.id().len()).max().unwrap_or(0);
    let tag_w = catalog()
        .iter()
        .map(|r| r.tags().join(", ").len())
        .max()
        .unwrap_or(0);
    let mut out = format!(
        "{:<id_w$}  {:<8}  {:<tag_w$}  TITLE\n",
        "RULE", "SEVERITY", "REQUIREMENTS"
    );
    for r in catalog() {
        out.push_str(&format!(
            "{:<id_w$}  {:<8}  {:<tag_w$}  {}\n",
            r.id(),
            r.severity().as_str(),
            r.tags().join(", "),
            r.title()
        ));
    }
    out.push_str(&format!(
        "\n{} rules; `dsr compliance explain RULE_ID` for details.\n",
        catalog().len()
    ));
    out
}
