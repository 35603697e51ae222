//! `dsr import`, `dsr subjects`, `dsr normalize`.

use crate::Ctx;
use std::process::ExitCode;

/// Arguments of `dsr import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {}
/// Arguments of `dsr subjects`.
#[derive(Debug, clap::Args)]
pub struct SubjectsArgs {}
/// Arguments of `dsr normalize`.
#[derive(Debug, clap::Args)]
pub struct NormalizeArgs {}

/// `dsr import`.
pub fn import(_ctx: &Ctx, _args: ImportArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
/// `dsr subjects`.
pub fn subjects(_ctx: &Ctx, _args: SubjectsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
/// `dsr normalize`.
pub fn normalize(_ctx: &Ctx, _args: NormalizeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
