//! `dsr request …`, `dsr worker`, `dsr services`, `dsr audit`, `dsr verify`: the request
//! engine's commands.

use crate::Ctx;
use std::process::ExitCode;

/// The engine's top-level commands.
#[derive(Debug, clap::Subcommand)]
pub enum EngineCommand {
    /// Run the request workers until stopped.
    Worker,
}

/// Runs an engine command.
pub fn run(_ctx: &Ctx, _cmd: EngineCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
