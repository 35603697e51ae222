//! `dsr`: the command line of the dsr engine. Thin: argument parsing, wiring and output
//! formatting; the logic lives in the library crates.

use clap::{Parser, Subcommand};
use dsr_model::TenantId;
use std::path::PathBuf;
use std::process::ExitCode;

mod compliance;
mod engine;
mod subjects;

/// Answer GDPR data subject requests and check HIPAA / HDS configurations.
#[derive(Debug, Parser)]
#[command(name = "dsr", version, about, long_about = None)]
struct Cli {
    /// SQLite database file (created on first use).
    #[arg(long, global = true, env = "DSR_DB", default_value = "dsr.db")]
    db: PathBuf,
    /// Tenant (organisation) whose data to use.
    #[arg(long, global = true, env = "DSR_TENANT", default_value = "default")]
    tenant: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import subjects from JSON Lines (`-` reads standard input).
    Import(subjects::ImportArgs),
    /// Look up the subjects a term (or several terms of one person) matches.
    Subjects(subjects::SubjectsArgs),
    /// Show what a term is classified as and the keys it normalizes to.
    Normalize(subjects::NormalizeArgs),
    /// Show or set tenant settings (default phone region).
    Tenant(subjects::TenantArgs),
    /// Check a health-enabled tenant configuration against HIPAA / HDS minimums.
    Compliance(compliance::ComplianceArgs),
    #[command(flatten)]
    Engine(engine::EngineCommand),
}

/// What every command gets: where the data is and whose it is.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The SQLite database file.
    pub db: PathBuf,
    /// The tenant.
    pub tenant: TenantId,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let tenant = match TenantId::new(cli.tenant.clone()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: --tenant: {e}");
            return ExitCode::from(2);
        }
    };
    let ctx = Ctx { db: cli.db, tenant };
    let result = match cli.command {
        Command::Import(args) => subjects::import(&ctx, args),
        Command::Subjects(args) => subjects::subjects(&ctx, args),
        Command::Normalize(args) => subjects::normalize(&ctx, args),
        Command::Tenant(args) => subjects::tenant(&ctx, args),
        Command::Compliance(args) => compliance::run(args),
        Command::Engine(cmd) => engine::run(&ctx, cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
