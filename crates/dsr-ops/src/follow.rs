//! Keeping a tenant's in-memory index current when other nodes write its subjects
//! (PostgreSQL, several `dsr-server` nodes): the store's change feed read from a cursor.
//!
//! Each change carries the subject's value *now* (or its absence), so applying a change
//! twice, or an older one after a newer one, leaves the index as the store has it:
//! catching up is idempotent. The one trap is a change numbered by a transaction that
//! commits after a later-numbered one (sequence numbers are taken before commit): a
//! cursor moved to the highest number seen would skip it for good. So the cursor
//! remembers the numbers it skipped over and reads again from the oldest of them until
//! it appears or [`GAP_WAIT`] has passed (a number is also skipped for good when its
//! transaction rolled back). The staleness bound: a change committed on one node is in
//! every other node's index within one follow interval (default [`EVERY`]) plus one
//! feed read, as long as its transaction took less than [`GAP_WAIT`] between taking
//! its number and committing (subject writes are single short transactions).

use crate::Result;
use dsr_engine::server_store::ServerStore;
use dsr_match::Directory;
use dsr_model::TenantId;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How often a server reads the feed by default.
pub const EVERY: Duration = Duration::from_millis(200);

/// How long a skipped feed number is waited for before it is taken as rolled back.
pub const GAP_WAIT: Duration = Duration::from_secs(30);

/// Changes read per feed query.
const PAGE: usize = 2000;

/// Where a node is in a tenant's change feed.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    /// The highest position applied.
    at: i64,
    /// Positions below `at` not seen yet, with when they were first missed.
    gaps: BTreeMap<i64, Instant>,
}

impl Cursor {
    /// A cursor at `position` (what [`crate::open::directory_at`] returned).
    pub fn at(position: i64) -> Self {
        Cursor {
            at: position,
            gaps: BTreeMap::new(),
        }
    }

    /// The highest position applied.
    pub fn position(&self) -> i64 {
        self.at
    }

    /// Positions skipped over and still waited for.
    pub fn waiting(&self) -> usize {
        self.gaps.len()
    }

    /// Where the next read starts (after this position).
    fn read_from(&mut self, now: Instant) -> i64 {
        self.gaps
            .retain(|_, seen| now.duration_since(*seen) < GAP_WAIT);
        match self.gaps.keys().next() {
            Some(first) => first - 1,
            None => self.at,
        }
    }

    /// Records that position `seq` was read.
    fn saw(&mut self, seq: i64, now: Instant) {
        self.gaps.remove(&seq);
        if seq > self.at {
            // Bounded: a jump of more than a page is not a transaction in flight.
            for missing in (self.at + 1).max(seq - PAGE as i64)..seq {
                self.gaps.entry(missing).or_insert(now);
            }
            self.at = seq;
        }
    }
}

/// Applies the feed's changes after `cursor` to `dir` (taking the index's write lock
/// per page); returns how many changes were applied.
pub async fn catch_up(
    store: &dyn ServerStore,
    tenant: &TenantId,
    cursor: &mut Cursor,
    dir: &tokio::sync::RwLock<Directory>,
) -> Result<usize> {
    if !store.has_change_feed() {
        return Ok(0);
    }
    let (mut applied, mut behind) = (0, false);
    let mut from = cursor.read_from(Instant::now());
    loop {
        let changes = store.subject_changes(tenant, from, PAGE).await?;
        let (n, last) = (changes.len(), changes.last().map(|c| c.seq));
        let now = Instant::now();
        let fresh = |c: &dsr_engine::server_store::SubjectChange, cursor: &Cursor| {
            c.seq > cursor.at || cursor.gaps.contains_key(&c.seq)
        };
        // Read again because of a gap and nothing new: no need for the write lock.
        if changes.iter().any(|c| fresh(c, cursor)) {
            let mut dir = dir.write().await;
            for c in changes {
                if fresh(&c, cursor) {
                    match (c.id, c.subject) {
                        (Some(id), Some(s)) => {
                            if let Err(e) = dir.upsert(s) {
                                tracing::warn!(tenant = %tenant, subject = %id, error = %e, "a stored subject could not be indexed; re-import it to fix it");
                            }
                        }
                        (Some(id), None) => {
                            dir.remove(&id);
                        }
                        // A write of a subject deleted since: its deletion follows.
                        (None, _) if !c.deleted => {}
                        // A deletion whose id the store has scrubbed: this node is
                        // further behind than the store keeps deleted ids.
                        (None, _) => behind = true,
                    }
                    applied += 1;
                }
                cursor.saw(c.seq, now);
            }
        }
        if behind {
            tracing::warn!(tenant = %tenant, "this node fell behind the subject change feed by more than the store keeps deleted ids; reloading the tenant's index");
            let (fresh, at) = crate::open::directory_at(store, tenant).await?;
            applied += fresh.len();
            *dir.write().await = fresh;
            *cursor = Cursor::at(at);
            return Ok(applied);
        }
        match last {
            Some(seq) if n == PAGE => from = seq,
            _ => return Ok(applied),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skipped_position_is_read_again_until_it_appears_or_times_out() {
        let t0 = Instant::now();
        let mut c = Cursor::at(10);
        c.saw(11, t0);
        c.saw(14, t0);
        assert_eq!(c.position(), 14);
        assert_eq!(c.waiting(), 2, "12 and 13 may be in flight");
        assert_eq!(c.read_from(t0), 11);
        c.saw(12, t0);
        assert_eq!(c.read_from(t0), 12);
        // 13 never comes (rolled back): given up after GAP_WAIT.
        assert_eq!(c.read_from(t0 + GAP_WAIT), 14);
        assert_eq!(c.waiting(), 0);
    }
}
