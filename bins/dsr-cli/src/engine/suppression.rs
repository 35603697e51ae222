//! `dsr suppression show | warn | refuse`: what an import does with a person erased
//! earlier (GDPR art. 17): the tenant's suppression list holds keyed hashes of erased
//! subjects' identifiers (no clear text); a re-import of one of them is warned about
//! (default) or refused.

use super::{CommonArgs, env};
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
    let env = env(ctx, &a.common, Signing::IfPresent)?;
    let db = env.store.db();
    let tenant = env.engine.tenant().clone();
    match a.cmd {
        SuppressionCommand::Warn | SuppressionCommand::Refuse => {
            let refuse = matches!(a.cmd, SuppressionCommand::Refuse);
            db.set_refuse_erased(&tenant, refuse)?;
            env.engine
                .note(
                    "operator",
                    dsr_engine::audit::AuditAction::SuppressionMode,
                    json!({"mode": if refuse { "refuse" } else { "warn" }}),
                )
                .await?;
        }
        SuppressionCommand::Show => {}
    }
    let n = db.suppression_count(&tenant)?;
    let refuse = db.refuse_erased(&tenant)?;
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
