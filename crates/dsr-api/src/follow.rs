//! Keeping every tenant's index current with the other nodes' subject writes
//! (PostgreSQL): each loaded tenant's change feed is read every
//! [`Settings::follow_every`](crate::Settings::follow_every), through
//! [`dsr_ops::follow::catch_up`] (the staleness bound is documented there and in
//! `docs/operations.md`). A store without a feed (SQLite: one writing process) needs
//! none of this and the loop ends at once.

use crate::app::App;
use std::time::Duration;

/// Reads every loaded tenant's feed once; returns how many changes were applied.
pub async fn follow_once(app: &App) -> usize {
    let mut applied = 0;
    for t in app.tenants().await {
        let mut cursor = t.feed.lock().await;
        match dsr_ops::follow::catch_up(
            app.store().as_ref(),
            t.engine.tenant(),
            &mut cursor,
            &t.dir,
        )
        .await
        {
            Ok(n) => applied += n,
            Err(e) => {
                tracing::warn!(tenant = %t.engine.tenant(), error = %e, "cannot read the subject change feed; the index may be stale until the database answers again")
            }
        }
    }
    applied
}

/// Follows until `stop` turns true.
pub async fn run(app: App, mut stop: tokio::sync::watch::Receiver<bool>) {
    if !app.store().has_change_feed() {
        return;
    }
    let every = app.settings().follow_every.max(Duration::from_millis(10));
    loop {
        if *stop.borrow() {
            return;
        }
        let n = follow_once(&app).await;
        if n > 0 {
            tracing::debug!(
                changes = n,
                "index caught up with other nodes' subject changes"
            );
        }
        tokio::select! {
            _ = stop.changed() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}
