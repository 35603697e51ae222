//! `dsr suppression show | warn | refuse`: what an import does with a person erased
//! earlier (GDPR art. 17): the tenant's suppression list holds keyed hashes of erased
//! subjects' identifiers (no clear text); a re-import of one of them is warned about
//! (default) or refused.

use super::{CommonArgs, Opened, open_any};
use crate::Ctx;
use crate::out::{self, outln};
use dsr_ops::env::Signing;
use serde_json::json;
use std::process::ExitCode;

/// `dsr suppression …`.
#[derive(Debug, clap::Args)]
pub struct SuppressionArgs {
    #[command(subcommand)]
    cmd: SuppressionCommand,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Subcommand)]
enum SuppressionCommand {
    /// How many identifiers are listed, and what an import does with them.
    Show,
    /// An import of an erased person lands with a warning naming the erasure (default).
    Warn,
    /// An import line of an erased person is refused.
    Refuse,
}

pub(super) async fn suppression(ctx: &Ctx, a: SuppressionArgs) -> anyhow::Result<ExitCode> {
    let opened = open_any(ctx, &a.common, Signing::IfPresent).await?;
    let engine = opened.engine().clone();
    let tenant = engine.tenant().clone();
    let set = match a.cmd {
        SuppressionCommand::Warn => Some(false),
        SuppressionCommand::Refuse => Some(true),
        SuppressionCommand::Show => None,
    };
    if let Some(refuse) = set {
        match &opened {
            Opened::Sqlite(env) => env.store.db().set_refuse_erased(&tenant, refuse)?,
            Opened::Postgres(env) => env.store.set_refuse_erased(&tenant, refuse).await?,
        }
        engine
            .note(
                "operator",
                dsr_engine::audit::AuditAction::SuppressionMode,
                json!({"mode": if refuse { "refuse" } else { "warn" }}),
            )
            .await?;
    }
    let (n, refuse) = match &opened {
        Opened::Sqlite(env) => (
            env.store.db().suppression_count(&tenant)?,
            env.store.db().refuse_erased(&tenant)?,
        ),
        Opened::Postgres(env) => (
            env.store.suppression_count(&tenant).await?,
            env.store.refuse_erased(&tenant).await?,
        ),
    };
    if a.common.json {
        out::json(&json!({
            "tenant": tenant.as_str(),
            "identifiers": n,
            "mode": if refuse { "refuse" } else { "warn" },
        }))?;
    } else {
        outln!(
            "tenant {tenant}: {n} identifier{} of erased subjects listed (keyed hashes, no clear text); an import of one of them is {}",
            out::plural(n),
            if refuse {
                "refused (`dsr suppression warn` to only warn)"
            } else {
                "imported with a warning naming the erasure (`dsr suppression refuse` to refuse it)"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
