//! Persistence for notifications to data subjects (migration 8): the requests still
//! watched and one row per request and event. Only stores and loads; which notices a
//! request gets, what they say and when they are sent are decided in `dsr-api::notify`.

use crate::{Result, SqliteStore};
use dsr_model::TenantId;
use rusqlite::params;

pub use dsr_engine::server_store::{NotificationRow, NotifyWatch};

fn tenant_of(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<TenantId> {
    let t: String = r.get(i)?;
    TenantId::new(t).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

const COLS: &str = "tenant, request_id, event, state, address, message, attempts, next_us, last_error, created_us, sent_us";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NotificationRow> {
    Ok(NotificationRow {
        tenant: tenant_of(r, 0)?,
        request_id: r.get(1)?,
        event: r.get(2)?,
        state: r.get(3)?,
        address: r.get(4)?,
        message: r.get(5)?,
        attempts: r.get(6)?,
        next_us: r.get(7)?,
        last_error: r.get(8)?,
        created_us: r.get(9)?,
        sent_us: r.get(10)?,
    })
}

impl SqliteStore {
    /// Starts watching a request (see `ServerStore::watch_notifications`).
    pub fn watch_notifications(&self, w: &NotifyWatch) -> Result<bool> {
        self.with_conn(|conn| {
            let n = conn.execute(
                "INSERT OR IGNORE INTO notify_watches (tenant, request_id, address, created_us) VALUES (?1, ?2, ?3, ?4)",
                params![w.tenant.as_str(), w.request_id, w.address, w.created_us],
            )?;
            Ok(n == 1)
        })
    }

    /// Every request still watched, oldest first.
    pub fn notify_watches(&self) -> Result<Vec<NotifyWatch>> {
        self.with_conn(|conn| {
            let mut st = conn.prepare(
                "SELECT tenant, request_id, address, created_us FROM notify_watches ORDER BY created_us",
            )?;
            st.query_map([], |r| {
                Ok(NotifyWatch {
                    tenant: tenant_of(r, 0)?,
                    request_id: r.get(1)?,
                    address: r.get(2)?,
                    created_us: r.get(3)?,
                })
            })?
            .collect()
        })
    }

    /// Inserts the rows not recorded yet and, with `close`, ends the watch (see
    /// `ServerStore::record_notifications`).
    pub fn record_notifications(
        &self,
        tenant: &TenantId,
        request_id: &str,
        rows: &[NotificationRow],
        close: bool,
    ) -> Result<usize> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let mut n = 0;
            for r in rows {
                n += tx.execute(
                    &format!("INSERT OR IGNORE INTO notifications ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
                    params![
                        tenant.as_str(),
                        request_id,
                        r.event,
                        r.state,
                        r.address,
                        r.message,
                        r.attempts,
                        r.next_us,
                        r.last_error,
                        r.created_us,
                        r.sent_us
                    ],
                )?;
            }
            if close {
                tx.execute(
                    "DELETE FROM notify_watches WHERE tenant = ?1 AND request_id = ?2",
                    params![tenant.as_str(), request_id],
                )?;
            }
            tx.commit()?;
            Ok(n)
        })
    }

    /// Takes due pending notifications and holds them (see
    /// `ServerStore::take_due_notifications`).
    pub fn take_due_notifications(
        &self,
        now_us: i64,
        lease_until_us: i64,
        limit: usize,
    ) -> Result<Vec<NotificationRow>> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let due = {
                let mut st = tx.prepare(&format!(
                    "SELECT {COLS} FROM notifications WHERE state = 'pending' AND next_us <= ?1 ORDER BY next_us LIMIT ?2"
                ))?;
                st.query_map(params![now_us, limit as i64], row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?
            };
            for d in &due {
                tx.execute(
                    "UPDATE notifications SET next_us = ?4 WHERE tenant = ?1 AND request_id = ?2 AND event = ?3",
                    params![d.tenant.as_str(), d.request_id, d.event, lease_until_us],
                )?;
            }
            tx.commit()?;
            Ok(due)
        })
    }

    /// Records an attempt's result.
    pub fn update_notification(&self, n: &NotificationRow) -> Result<()> {
        self.with_conn(|conn| {
            conn.execute(
                "UPDATE notifications SET state = ?4, address = ?5, message = ?6, attempts = ?7, next_us = ?8, last_error = ?9, sent_us = ?10
                 WHERE tenant = ?1 AND request_id = ?2 AND event = ?3",
                params![
                    n.tenant.as_str(),
                    n.request_id,
                    n.event,
                    n.state,
                    n.address,
                    n.message,
                    n.attempts,
                    n.next_us,
                    n.last_error,
                    n.sent_us
                ],
            )?;
            Ok(())
        })
    }

    /// The notifications of one request, in the order they were recorded.
    pub fn notifications(
        &self,
        tenant: &TenantId,
        request_id: &str,
    ) -> Result<Vec<NotificationRow>> {
        self.with_conn(|conn| {
            let mut st = conn.prepare(&format!(
                "SELECT {COLS} FROM notifications WHERE tenant = ?1 AND request_id = ?2 ORDER BY created_us, event"
            ))?;
            st.query_map(params![tenant.as_str(), request_id], row)?
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transaction that reads before it writes, while another connection to the same
    /// file commits writes: begun deferred, it failed at once with "database is locked"
    /// (SQLite cannot upgrade a stale snapshot, and no busy timeout applies); begun
    /// IMMEDIATE it waits for the lock. A server that met this at start gave up
    /// forgetting the addresses kept for pending notices.
    #[test]
    fn a_read_then_write_transaction_waits_for_another_connections_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = SqliteStore::open(&path).unwrap();
        let tenant = TenantId::new("acme").unwrap();
        let row = NotificationRow {
            tenant: tenant.clone(),
            request_id: "r1".into(),
            event: "received".into(),
            state: "pending".into(),
            address: Some("a@example.org".into()),
            message: None,
            attempts: 0,
            next_us: 0,
            last_error: None,
            created_us: 0,
            sent_us: None,
        };
        db.record_notifications(&tenant, "r1", &[row], false)
            .unwrap();
        let writer = std::thread::spawn(move || {
            let other = rusqlite::Connection::open(&path).unwrap();
            other
                .busy_timeout(std::time::Duration::from_secs(30))
                .unwrap();
            for i in 0..400 {
                other
                    .execute(
                        "INSERT INTO notify_watches (tenant, request_id, address, created_us) VALUES ('acme', ?1, NULL, 0)",
                        params![format!("w{i}")],
                    )
                    .unwrap();
            }
        });
        let mut taken = 0;
        while !writer.is_finished() {
            // Held until 0: due again at once, so every call reads and then writes.
            taken += db.take_due_notifications(i64::MAX, 0, 10).unwrap().len();
        }
        writer.join().unwrap();
        assert!(taken > 0);
    }
}
