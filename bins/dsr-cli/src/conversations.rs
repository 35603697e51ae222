//! `dsr import --conversations FILE`: conversations with their messages and attachments
//! for the built-in conversations service (G-12). Thin: the pipeline is
//! `dsr_ops::conversations`; this parses, opens and prints.

use crate::out::{self, outln};
use crate::subjects::ImportArgs;
use crate::{ConfigArgs, Ctx};
use anyhow::Context as _;
use dsr_engine::config::ServiceKind;
use dsr_ops::conversations::{ConversationImportOptions, import_conversations};
use dsr_ops::{OpenMode, open_store};
use std::io::{BufReader, Read, Write as _};
use std::path::Path;
use std::process::ExitCode;

pub fn import(ctx: &Ctx, args: &ImportArgs, file: &Path) -> anyhow::Result<ExitCode> {
    if let Some((url, _)) = ctx.postgres(&args.store)? {
        anyhow::bail!(
            "the conversations service keeps its conversations and attachments in dsr's own SQLite file; it is not available with a PostgreSQL database ({}), where kind = \"conversations\" is refused too. Import conversations into a SQLite database (--db FILE)",
            dsr_ops::pg::redact_url(&url)
        );
    }
    let loc = ctx.location(&args.store)?;
    let store = open_store(&loc.db, OpenMode::Existing)?;
    let (reader, base_dir): (Box<dyn Read>, _) = if file.as_os_str() == "-" {
        (
            Box::new(std::io::stdin().lock()),
            std::path::PathBuf::from("."),
        )
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_owned();
        (Box::new(f), dir)
    };
    let opts = ConversationImportOptions {
        base_dir,
        ..ConversationImportOptions::default()
    };
    let report = import_conversations(&store, &loc.tenant, BufReader::new(reader), &opts)
        .with_context(|| format!("importing {}", file.display()))?;
    // Whether the configured inventory will look at them.
    let config = dsr_ops::env::load_config(ctx.config(&ConfigArgs::default()).as_deref())?;
    let served = config
        .services()
        .iter()
        .any(|s| s.kind == ServiceKind::Conversations);
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["conversations_service_configured"] = served.into();
        out::json(&v)?;
    } else {
        let mut err = std::io::stderr().lock();
        for e in &report.errors {
            writeln!(err, "line {}: {}", e.line, e.message)?;
        }
        if !args.quiet {
            for u in &report.unlinked {
                writeln!(err, "warning: line {}: {}", u.line, u.message)?;
            }
        }
        if !served {
            writeln!(
                err,
                "warning: no kind = \"conversations\" service is declared in the configuration: requests will not look at these conversations"
            )?;
        }
        outln!(
            "imported {} conversation{} into tenant {} ({} replaced; {} message{}, {} attachment{}, {} uploaded by the subject); {} unlinked (blind spots); {} line{} rejected",
            report.imported,
            out::plural(report.imported as u64),
            loc.tenant,
            report.replaced,
            report.messages,
            out::plural(report.messages as u64),
            report.attachments,
            out::plural(report.attachments as u64),
            report.attachments_by_subject,
            report.unlinked.len(),
            report.rejected,
            out::plural(report.rejected as u64),
        );
    }
    Ok(if report.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
