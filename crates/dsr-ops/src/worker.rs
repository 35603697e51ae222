//! Running a worker for a long time: a store that is busy (another process holds the
//! write lock longer than the busy timeout) is waited for, not a reason to exit.

use crate::Result;
use dsr_engine::{Worker, WorkerStats};
use std::time::Duration;
use tokio::sync::watch;

/// Whether an engine error is passing: the same call later may succeed.
pub fn is_transient(e: &dsr_engine::Error) -> bool {
    e.is_transient()
}

/// Runs `worker` until `stop` turns true (or, with `until_idle`, no task is open).
/// Transient store errors are reported to `on_retry` with the wait before the next
/// try (0.5 s doubling to 10 s) and retried; any other error ends the run.
pub async fn run(
    worker: &Worker,
    stop: watch::Receiver<bool>,
    until_idle: bool,
    mut on_retry: impl FnMut(&dsr_engine::Error, Duration),
) -> Result<WorkerStats> {
    let mut total = WorkerStats::default();
    let mut backoff = Duration::from_millis(500);
    loop {
        let mut rx = stop.clone();
        if *rx.borrow() {
            return Ok(total);
        }
        let stopped = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        match worker.run(stopped, until_idle).await {
            Ok(s) => {
                total.add(s);
                return Ok(total);
            }
            Err(e) if is_transient(&e) => {
                on_retry(&e, backoff);
                let mut rx = stop.clone();
                tokio::select! {
                    _ = rx.wait_for(|s| *s) => return Ok(total),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
