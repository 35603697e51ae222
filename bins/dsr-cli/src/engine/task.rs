//! `dsr task list --manual | complete | remind`: the tasks of services a person answers
//! by hand (`kind = "manual"`, G-18). Works on a SQLite file and on PostgreSQL.

use super::{CommonArgs, day, open_any, outcome_line};
use crate::Ctx;
use crate::out::{self, outln, plural};
use dsr_engine::Answer;
use dsr_ops::env::Signing;
use dsr_ops::ids::{self, short_id, task_id};
use dsr_ops::wire;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// `dsr task …`.
#[derive(Debug, clap::Args)]
pub struct TaskArgs {
    #[command(subcommand)]
    cmd: TaskCommand,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Subcommand)]
enum TaskCommand {
    /// List the tasks waiting on a person (manual services): request, service, assignee,
    /// instructions, due date, OVERDUE, the reminder due.
    List {
        /// Tasks waiting on a person (the only tasks listed here; workers carry out the
        /// others).
        #[arg(long)]
        manual: bool,
    },
    /// Record a person's answer to a task waiting on them; the request settles when it
    /// was its last open task.
    Complete {
        /// The task: REQUEST/SERVICE as listed (or REQUEST alone when one task of it
        /// waits on a person).
        task: String,
        /// done, nothing-found or failed.
        #[arg(long)]
        outcome: String,
        /// The evidence file (a search log, a screenshot, a shredding certificate, the
        /// extract made): its name and SHA-256 digest are recorded; for an export its
        /// content goes into the package when the outcome is done.
        #[arg(long, value_name = "FILE")]
        evidence: PathBuf,
        /// Export only: the records found, as JSON (an array of objects, one object, or
        /// one object per line); they become the service's records in the package.
        #[arg(long, value_name = "FILE")]
        records: Option<PathBuf>,
        /// Update / delete only: how many records were rectified or erased.
        #[arg(long)]
        count: Option<u64>,
        /// A note (kept with the task, sealed in the audit log).
        #[arg(long)]
        note: Option<String>,
        /// Who answers (recorded).
        #[arg(long, default_value = "operator")]
        by: String,
    },
    /// Record the reminders due now (before the due date, then overdue): each once per
    /// task, as an audit entry. A long-running `dsr worker` does this every minute.
    Remind {
        /// Who records them.
        #[arg(long, default_value = "operator")]
        by: String,
    },
}

pub(super) async fn task(ctx: &Ctx, a: TaskArgs) -> anyhow::Result<ExitCode> {
    let signing = match a.cmd {
        TaskCommand::Complete { .. } => Signing::LoadOrCreate,
        _ => Signing::IfPresent,
    };
    let env = open_any(ctx, &a.common, signing).await?;
    let engine = env.engine().clone();
    let json_out = a.common.json;
    match a.cmd {
        TaskCommand::List { manual: _ } => {
            let list = engine.waiting_tasks().await?;
            if json_out {
                out::json(&list.iter().map(wire::waiting_task).collect::<Vec<_>>())?;
                return Ok(ExitCode::SUCCESS);
            }
            if list.is_empty() {
                outln!("no task waits on a person");
                return Ok(ExitCode::SUCCESS);
            }
            for w in &list {
                let m = w.task.manual.as_ref();
                outln!(
                    "{}  {} request  waiting on {} since {}{}",
                    task_id(&w.request.id, &w.task.service),
                    w.request.ty,
                    m.map_or("?", |m| m.assignee.as_str()),
                    day(m.map_or(w.task.updated_at, |m| m.since)),
                    if w.overdue { "  OVERDUE" } else { "" }
                );
                outln!(
                    "  due        {} (service target), legal deadline {}",
                    day(w.request.due_at),
                    day(w.request.legal_deadline)
                );
                outln!(
                    "  subject    {} ({})",
                    w.request.subject.id,
                    w.request.subject.kind
                );
                for line in m.map_or("", |m| m.instructions.as_str()).lines() {
                    outln!("  do         {line}");
                }
                if let Some(k) = w.reminder_due {
                    outln!(
                        "  reminder   {k} due (recorded by `dsr task remind` or a running `dsr worker`)"
                    );
                }
                for r in m.map(|m| m.reminders.as_slice()).unwrap_or_default() {
                    outln!("  reminded   {} on {}", r.kind, day(r.at));
                }
            }
            outln!(
                "{} task{} waiting on a person; answer with `dsr task complete TASK --outcome done|nothing-found|failed --evidence FILE`",
                list.len(),
                plural(list.len() as u64)
            );
            Ok(ExitCode::SUCCESS)
        }
        TaskCommand::Complete {
            task,
            outcome,
            evidence,
            records,
            count,
            note,
            by,
        } => {
            let answer: Answer = outcome.parse().map_err(|_| {
                anyhow::anyhow!(
                    "--outcome {outcome:?} is not accepted (done, nothing-found or failed)"
                )
            })?;
            let (id, service) = ids::resolve_task(&engine, &task).await?;
            let completion = dsr_ops::tasks::completion(&dsr_ops::tasks::CompleteArgs {
                answer,
                by: &by,
                evidence: &evidence,
                records: records.as_deref(),
                count,
                note: note.as_deref(),
            })?;
            let sha = dsr_engine::audit::sha256_hex(&completion.evidence);
            let done = engine.complete_task(&id, &service, completion).await?;
            let now = engine.clock().now();
            if json_out {
                out::json(&json!({
                    "taskId": task_id(&id, &service),
                    "task": wire::task(&done.task),
                    "request": wire::request_summary(&done.request, now),
                    "requestFinished": done.request_finished,
                }))?;
            } else {
                outln!(
                    "task {}: {} (evidence sha256 {sha})",
                    task_id(&id, &service),
                    outcome_line(&done.task)
                );
                if done.request_finished {
                    outln!(
                        "request {} is {}{}",
                        short_id(&id),
                        done.request.status(),
                        if done.request.status() == dsr_engine::RequestStatus::Completed
                            && matches!(
                                done.request.ty,
                                dsr_model::RequestType::Export
                                    | dsr_model::RequestType::Portability
                            )
                        {
                            format!(
                                "; its package: `dsr request download {} --out FILE`",
                                short_id(&id)
                            )
                        } else {
                            String::new()
                        }
                    );
                } else {
                    outln!(
                        "request {} is still {} (other services are not finished)",
                        short_id(&id),
                        done.request.status()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        TaskCommand::Remind { by } => {
            let done = engine.remind(&by).await?;
            if json_out {
                out::json(
                    &done
                        .iter()
                        .map(|r| {
                            json!({
                                "taskId": task_id(&r.request_id, &r.service),
                                "assignee": r.assignee,
                                "reminder": r.kind.as_str(),
                            })
                        })
                        .collect::<Vec<_>>(),
                )?;
            } else if done.is_empty() {
                outln!("no reminder is due");
            } else {
                for r in &done {
                    outln!(
                        "{}  {} reminder recorded for {}",
                        task_id(&r.request_id, &r.service),
                        r.kind,
                        r.assignee
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
