//! Carrying out (or watching) requests until they settle.

use crate::Result;
use dsr_engine::{Engine, RequestId, RequestStatus, Worker, WorkerConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How far the requests waited on are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Requests waited on.
    pub requests: usize,
    /// Their tasks.
    pub tasks: u64,
    /// Tasks settled (done, dead or cancelled).
    pub settled: u64,
}

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Every request finished, waits for a decision or waits on a person (a manual
    /// service's task; still `in_progress`); their statuses, in order.
    Done(Vec<RequestStatus>),
    /// The timeout passed first.
    TimedOut(Progress),
}

impl Settled {
    /// Whether every request completed (nothing failed, was refused, cancelled or held).
    pub fn all_completed(&self) -> bool {
        matches!(self, Settled::Done(s) if s.iter().all(|s| *s == RequestStatus::Completed))
    }
}

/// Waits until every request in `ids` is finished, on hold or waiting on a person. With `worker`, this
/// process carries out the tasks meanwhile; without, it only watches (another process
/// runs the workers). `on_progress` is called on every round.
pub async fn wait_for(
    engine: &Arc<Engine>,
    worker: Option<WorkerConfig>,
    ids: &[RequestId],
    timeout: Option<Duration>,
    mut on_progress: impl FnMut(&Progress),
) -> Result<Settled> {
    let started = Instant::now();
    let worker = worker.map(|cfg| Worker::new(engine.clone(), cfg));
    loop {
        let mut p = Progress {
            requests: ids.len(),
            ..Progress::default()
        };
        let mut statuses = Vec::with_capacity(ids.len());
        let mut open = false;
        for id in ids {
            let (r, tasks) = engine.get(id).await?;
            p.tasks += tasks.len() as u64;
            p.settled += tasks.iter().filter(|t| t.status().is_finished()).count() as u64;
            // A request whose only unfinished tasks wait on a person is as far as a
            // worker can take it (like one on hold): `dsr task complete` goes on.
            let on_person = r.status() == RequestStatus::InProgress
                && tasks.iter().any(|t| t.status().is_waiting())
                && tasks
                    .iter()
                    .all(|t| t.status().is_finished() || t.status().is_waiting());
            if !(r.status().is_finished() || r.status() == RequestStatus::OnHold || on_person) {
                open = true;
            }
            statuses.push(r.status());
        }
        on_progress(&p);
        if !open {
            return Ok(Settled::Done(statuses));
        }
        if timeout.is_some_and(|t| started.elapsed() > t) {
            return Ok(Settled::TimedOut(p));
        }
        let did = match &worker {
            Some(w) => w.tick().await?.claimed,
            None => 0,
        };
        if did == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
