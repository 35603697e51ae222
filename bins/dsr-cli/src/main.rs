//! `dsr`: the command line of the dsr engine. Thin: argument parsing, wiring and output
//! formatting; the logic lives in the library crates (`dsr-ops` for what the CLI shares
//! with the server and a host application).

use clap::{CommandFactory, Parser, Subcommand};
use dsr_model::TenantId;
use dsr_ops::env::Location;
use std::path::PathBuf;
use std::process::ExitCode;

mod clients;
mod compliance;
mod conversations;
mod engine;
mod out;
mod subjects;

/// Answer GDPR data subject requests and check HIPAA / HDS configurations.
///
/// Exit status: 0 success; 1 the answer is "no" (rejected import lines, a request that
/// did not complete, a failed compliance rule, a failed verification); 2 the command
/// could not run; 3 a term matched several subjects (name one with --subject).
#[derive(Debug, Parser)]
#[command(name = "dsr", version, about, long_about)]
pub struct Cli {
    /// SQLite database file [default: dsr.db]; also accepted after the subcommand.
    #[arg(long, env = "DSR_DB", value_name = "FILE")]
    db: Option<PathBuf>,
    /// Tenant (organisation) whose data to use [default: default]; also accepted after
    /// the subcommand.
    #[arg(long, env = "DSR_TENANT", value_name = "NAME")]
    tenant: Option<String>,
    /// Configuration file [default: ./dsr.toml if present]; also accepted after the
    /// subcommand.
    #[arg(long, env = "DSR_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log what long commands do on standard error (-v info, -vv debug; `RUST_LOG`
    /// overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import subjects from JSON Lines (`-` reads standard input).
    Import(subjects::ImportArgs),
    /// Look up the subjects a term (or several terms of one person) matches; `dsr
    /// subjects list` lists them.
    Subjects(subjects::SubjectsArgs),
    /// Show what a term is classified as and the keys it normalizes to.
    Normalize(subjects::NormalizeArgs),
    /// Create, list and configure tenants (default phone region).
    Tenant(subjects::TenantArgs),
    /// Check a health-enabled tenant configuration against HIPAA / HDS minimums.
    Compliance(compliance::ComplianceArgs),
    /// Manage the API clients of dsr-server (create, list, rotate, revoke).
    Client(clients::ClientArgs),
    #[command(flatten)]
    Engine(engine::EngineCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from the command definitions:
    /// `dsr man > dsr.1 && man ./dsr.1`.
    Man,
}

/// Where the data is, as given before or after the subcommand (after wins).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoreArgs {
    /// SQLite database file [default: dsr.db, or DSR_DB].
    #[arg(long, value_name = "FILE", global = true)]
    pub db: Option<PathBuf>,
    /// Tenant (organisation) whose data to use [default: default, or DSR_TENANT].
    #[arg(long, value_name = "NAME", global = true)]
    pub tenant: Option<String>,
}

/// The configuration file, as given before or after the subcommand.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConfigArgs {
    /// Configuration file [default: ./dsr.toml if present, or DSR_CONFIG].
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
}

/// What every command gets: the options given before the subcommand.
#[derive(Debug, Clone)]
pub struct Ctx {
    db: Option<PathBuf>,
    tenant: Option<String>,
    config: Option<PathBuf>,
    /// `-v` count.
    pub verbose: u8,
}

impl Ctx {
    /// The database and tenant: the subcommand's options, else the top-level ones (or
    /// their environment variables), else the defaults.
    pub fn location(&self, a: &StoreArgs) -> anyhow::Result<Location> {
        let db =
            a.db.clone()
                .or_else(|| self.db.clone())
                .unwrap_or_else(|| PathBuf::from("dsr.db"));
        let name = a
            .tenant
            .clone()
            .or_else(|| self.tenant.clone())
            .unwrap_or_else(|| "default".to_owned());
        let tenant = TenantId::new(name).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?;
        Ok(Location { db, tenant })
    }

    /// The PostgreSQL URL when `--db` names one (`postgres://…`) rather than a file.
    pub fn postgres(&self, a: &StoreArgs) -> anyhow::Result<Option<(String, TenantId)>> {
        let loc = self.location(a)?;
        Ok(loc
            .db
            .to_str()
            .filter(|p| dsr_ops::pg::is_postgres_url(p))
            .map(|u| (u.to_owned(), loc.tenant.clone())))
    }

    /// Whether a tenant was named (by option or environment) rather than defaulted.
    pub fn tenant_given(&self, a: &StoreArgs) -> bool {
        a.tenant.is_some() || self.tenant.is_some()
    }

    /// The configuration file given, if any.
    pub fn config(&self, a: &ConfigArgs) -> Option<PathBuf> {
        a.config.clone().or_else(|| self.config.clone())
    }
}

fn init_logging(verbose: u8) {
    if verbose == 0 && std::env::var_os("RUST_LOG").is_none() {
        return;
    }
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Whether the error is a write to a reader that went away (`dsr … | head`).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A panic caused by a closed pipe anyway (a library printing on its own) ends the
/// command quietly, as it would a C tool killed by SIGPIPE (status 141).
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

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let ctx = Ctx {
        db: cli.db,
        tenant: cli.tenant,
        config: cli.config,
        verbose: cli.verbose,
    };
    let result = match cli.command {
        Command::Import(args) => subjects::import(&ctx, args),
        Command::Subjects(args) => subjects::subjects(&ctx, args),
        Command::Normalize(args) => subjects::normalize(&ctx, args),
        Command::Tenant(args) => subjects::tenant(&ctx, args),
        Command::Compliance(args) => compliance::run(args),
        Command::Client(args) => clients::run(&ctx, args),
        Command::Engine(cmd) => engine::run(&ctx, cmd),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, "dsr", &mut buf);
            write_all(&buf)
        }
        Command::Man => {
            let mut buf = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut buf) {
                Ok(()) => write_all(&buf),
                Err(e) => Err(e.into()),
            }
        }
    };
    let result = result.and_then(|code| {
        use std::io::Write as _;
        std::io::stdout().flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::from(141),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn write_all(bytes: &[u8]) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    std::io::stdout().lock().write_all(bytes)?;
    Ok(ExitCode::SUCCESS)
}
