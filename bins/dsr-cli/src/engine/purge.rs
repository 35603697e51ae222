//! `dsr purge`: removes what the retention settings say has expired (GDPR art. 5(1)(e)):
//! export packages past their time, finished requests' personal data past theirs. The
//! audit facts stay. `--dry-run` lists without removing.

use super::{CommonArgs, open_any};
use crate::Ctx;
use crate::out::{self, outln};
use dsr_ops::env::Signing;
use dsr_ops::ids::short_id;
use std::process::ExitCode;

/// `dsr purge`.
#[derive(Debug, clap::Args)]
pub struct PurgeArgs {
    /// Only list what would be removed.
    #[arg(long)]
    dry_run: bool,
    /// Show every cell in full (full ids).
    #[arg(long)]
    wide: bool,
    #[command(flatten)]
    common: CommonArgs,
}

pub(super) async fn purge(ctx: &Ctx, a: PurgeArgs) -> anyhow::Result<ExitCode> {
    // On SQLite or PostgreSQL alike: retention is the engine's decision over its Store.
    let opened = open_any(ctx, &a.common, Signing::IfPresent).await?;
    let engine = opened.engine();
    let r = engine.purge(a.dry_run).await?;
    if a.common.json {
        out::json(&r)?;
        return Ok(ExitCode::SUCCESS);
    }
    let ret = engine.retention();
    let count = |what: &str| r.items.iter().filter(|i| i.what == what).count();
    let (pkgs, data) = (count("package"), count("personal data"));
    outln!(
        "{} {pkgs} package{} and the personal data of {data} request{} ({} requests looked at; tenant {})",
        if a.dry_run { "would remove" } else { "removed" },
        out::plural(pkgs as u64),
        out::plural(data as u64),
        r.scanned,
        engine.tenant()
    );
    if !r.items.is_empty() {
        let mut t = out::table(&["request", "type", "removed", "due since", "why"], a.wide);
        for i in &r.items {
            let id = if a.wide {
                i.request_id.to_string()
            } else {
                short_id(&i.request_id).to_owned()
            };
            out::row(
                &mut t,
                vec![
                    id,
                    i.ty.to_string(),
                    i.what.clone(),
                    i.due.format("%Y-%m-%d").to_string(),
                    i.why.clone(),
                ],
                a.wide,
            );
        }
        outln!("{t}");
    }
    outln!(
        "retention: packages {} day(s) after completion, {} day(s) after the hand-over; request data {} day(s) after the request finished ([retention] in dsr.toml). The audit log keeps the facts (GDPR art. 5(2), 17(3)(b), (e)).",
        ret.package_days,
        ret.package_days_after_hand_over,
        ret.request_days
    );
    Ok(ExitCode::SUCCESS)
}
