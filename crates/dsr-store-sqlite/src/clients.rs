//! Persistence for the HTTP server (migration 5): API clients, the server's own keys,
//! and status callbacks with their deliveries. This module only stores and loads; what
//! a client may do, how secrets are hashed and when a callback is sent are decided in
//! `dsr-api`.
//!
//! Times are microseconds since the Unix epoch.

use crate::{Result, SqliteStore};
use dsr_model::TenantId;
use rusqlite::{OptionalExtension, params};

pub use dsr_engine::server_store::{ClientRow, DeliveryRow, OpenCallback};

fn client_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClientRow> {
    let tenant: String = r.get(1)?;
    let scopes: String = r.get(4)?;
    Ok(ClientRow {
        id: r.get(0)?,
        tenant: TenantId::new(tenant).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e))
        })?,
        name: r.get(2)?,
        kind: r.get(3)?,
        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
        secret_hash: r.get(5)?,
        created_us: r.get(6)?,
        last_used_us: r.get(7)?,
        rotated_us: r.get(8)?,
        revoked_us: r.get(9)?,
    })
}

const CLIENT_COLS: &str =
    "id, tenant, name, kind, scopes, secret_hash, created_us, last_used_us, rotated_us, revoked_us";

fn delivery_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryRow> {
    let tenant: String = r.get(0)?;
    Ok(DeliveryRow {
        tenant: TenantId::new(tenant).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?,
        request_id: r.get(1)?,
        url: r.get(2)?,
        seq: r.get(3)?,
        status: r.get(4)?,
        body: r.get(5)?,
        state: r.get(6)?,
        attempts: r.get(7)?,
        next_us: r.get(8)?,
        last_error: r.get(9)?,
        delivered_us: r.get(10)?,
    })
}

const DELIVERY_COLS: &str = "tenant, request_id, url, seq, status, body, state, attempts, next_us, last_error, delivered_us";

impl SqliteStore {
    /// Inserts a new client; `false` when the tenant already has a client of that name.
    pub fn insert_client(&self, c: &ClientRow) -> Result<bool> {
        self.with_conn(|conn| {
            let n = conn.execute(
                "INSERT OR IGNORE INTO api_clients (id, tenant, name, kind, scopes, secret_hash, created_us, last_used_us, rotated_us, revoked_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    c.id,
                    c.tenant.as_str(),
                    c.name,
                    c.kind,
                    c.scopes.join(" "),
                    c.secret_hash,
                    c.created_us,
                    c.last_used_us,
                    c.rotated_us,
                    c.revoked_us
                ],
            )?;
            Ok(n == 1)
        })
    }

    /// One client by id.
    pub fn client(&self, id: &str) -> Result<Option<ClientRow>> {
        self.with_conn(|conn| {
            conn.query_row(
                &format!("SELECT {CLIENT_COLS} FROM api_clients WHERE id = ?1"),
                [id],
                client_row,
            )
            .optional()
        })
    }

    /// One client of a tenant by name.
    pub fn client_by_name(&self, tenant: &TenantId, name: &str) -> Result<Option<ClientRow>> {
        self.with_conn(|conn| {
            conn.query_row(
                &format!("SELECT {CLIENT_COLS} FROM api_clients WHERE tenant = ?1 AND name = ?2"),
                [tenant.as_str(), name],
                client_row,
            )
            .optional()
        })
    }

    /// The clients of a tenant (every tenant's with `None`), by tenant and name.
    pub fn clients(&self, tenant: Option<&TenantId>) -> Result<Vec<ClientRow>> {
        self.with_conn(|conn| {
            let mut st = conn.prepare(&format!(
                "SELECT {CLIENT_COLS} FROM api_clients WHERE ?1 IS NULL OR tenant = ?1 ORDER BY tenant, name"
            ))?;
            st.query_map([tenant.map(TenantId::as_str)], client_row)?
                .collect()
        })
    }

    /// Replaces a live client's secret hash; `false` when there is no such live client.
    pub fn rotate_client(&self, id: &str, secret_hash: &str, at_us: i64) -> Result<bool> {
        self.with_conn(|conn| {
            Ok(conn.execute(
                "UPDATE api_clients SET secret_hash = ?2, rotated_us = ?3 WHERE id = ?1 AND revoked_us IS NULL",
                params![id, secret_hash, at_us],
            )? == 1)
        })
    }

    /// Revokes a client; `false` when there is no such live client.
    pub fn revoke_client(&self, id: &str, at_us: i64) -> Result<bool> {
        self.with_conn(|conn| {
            Ok(conn.execute(
                "UPDATE api_clients SET revoked_us = ?2 WHERE id = ?1 AND revoked_us IS NULL",
                params![id, at_us],
            )? == 1)
        })
    }

    /// Records the last use of clients (in one transaction).
    pub fn touch_clients(&self, used: &[(String, i64)]) -> Result<()> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut st = tx.prepare(
                    "UPDATE api_clients SET last_used_us = MAX(COALESCE(last_used_us, 0), ?2) WHERE id = ?1",
                )?;
                for (id, at) in used {
                    st.execute(params![id, at])?;
                }
            }
            tx.commit()
        })
    }

    /// The server key called `name`: the stored one, or `fresh` stored now (the first
    /// writer wins, so concurrent processes agree on one key).
    pub fn server_key(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>> {
        self.with_conn(|conn| {
            conn.execute(
                "INSERT OR IGNORE INTO server_keys (name, key) VALUES (?1, ?2)",
                params![name, fresh],
            )?;
            conn.query_row("SELECT key FROM server_keys WHERE name = ?1", [name], |r| {
                r.get(0)
            })
        })
    }

    /// The server key called `name`, if one is stored (nothing is written).
    pub fn stored_server_key(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.with_conn(|conn| {
            conn.query_row("SELECT key FROM server_keys WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
        })
    }

    /// Registers a callback URL for a request (again: no change).
    pub fn add_callback(&self, tenant: &TenantId, request_id: &str, url: &str) -> Result<()> {
        self.with_conn(|conn| {
            conn.execute(
                "INSERT OR IGNORE INTO callbacks (tenant, request_id, url) VALUES (?1, ?2, ?3)",
                params![tenant.as_str(), request_id, url],
            )?;
            Ok(())
        })
    }

    /// Callbacks still watching their request.
    pub fn open_callbacks(&self) -> Result<Vec<OpenCallback>> {
        self.with_conn(|conn| {
            let mut st = conn.prepare(
                "SELECT tenant, request_id, url, last_status FROM callbacks WHERE open = 1",
            )?;
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (t, rid, url, last) = row?;
                if let Ok(tenant) = TenantId::new(t) {
                    out.push(OpenCallback {
                        tenant,
                        request_id: rid,
                        url,
                        last_status: last,
                    });
                }
            }
            Ok(out)
        })
    }

    /// Records a status to report: a pending delivery, and the callback's last status
    /// (closed when `last`), in one transaction. `false` when that status was already
    /// recorded as the last one (nothing written).
    pub fn record_callback_status(
        &self,
        cb: &OpenCallback,
        status: &str,
        body: &str,
        last: bool,
        now_us: i64,
    ) -> Result<bool> {
        let (tenant, request_id, url) = (&cb.tenant, cb.request_id.as_str(), cb.url.as_str());
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE callbacks SET last_status = ?4, open = ?5
                 WHERE tenant = ?1 AND request_id = ?2 AND url = ?3 AND (last_status IS NULL OR last_status <> ?4)",
                params![tenant.as_str(), request_id, url, status, i64::from(!last)],
            )?;
            if n == 0 {
                return Ok(false);
            }
            let seq: i64 = tx.query_row(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM callback_deliveries WHERE tenant = ?1 AND request_id = ?2 AND url = ?3",
                params![tenant.as_str(), request_id, url],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO callback_deliveries (tenant, request_id, url, seq, status, body, state, attempts, next_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7)",
                params![tenant.as_str(), request_id, url, seq, status, body, now_us],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    /// Takes pending deliveries whose time has come, oldest first, holding them until
    /// `lease_until_us`; a delivery waits while an earlier one to the same URL for the
    /// same request is pending (in order). See
    /// [`ServerStore::take_due_deliveries`](dsr_engine::server_store::ServerStore::take_due_deliveries).
    pub fn take_due_deliveries(
        &self,
        now_us: i64,
        lease_until_us: i64,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let due: Vec<DeliveryRow> = {
                let mut st = tx.prepare(&format!(
                    "SELECT {DELIVERY_COLS} FROM callback_deliveries d WHERE state = 'pending' AND next_us <= ?1
                     AND NOT EXISTS (SELECT 1 FROM callback_deliveries p WHERE p.tenant = d.tenant AND p.request_id = d.request_id
                         AND p.url = d.url AND p.seq < d.seq AND p.state = 'pending')
                     ORDER BY next_us LIMIT ?2"
                ))?;
                st.query_map(params![now_us, limit as i64], delivery_row)?
                    .collect::<rusqlite::Result<_>>()?
            };
            {
                let mut hold = tx.prepare(
                    "UPDATE callback_deliveries SET next_us = ?5 WHERE tenant = ?1 AND request_id = ?2 AND url = ?3 AND seq = ?4",
                )?;
                for d in &due {
                    hold.execute(params![d.tenant.as_str(), d.request_id, d.url, d.seq, lease_until_us])?;
                }
            }
            tx.commit()?;
            Ok(due)
        })
    }

    /// Records an attempt's result.
    pub fn update_delivery(&self, d: &DeliveryRow) -> Result<()> {
        self.with_conn(|conn| {
            conn.execute(
                "UPDATE callback_deliveries SET state = ?5, attempts = ?6, next_us = ?7, last_error = ?8, delivered_us = ?9
                 WHERE tenant = ?1 AND request_id = ?2 AND url = ?3 AND seq = ?4",
                params![
                    d.tenant.as_str(),
                    d.request_id,
                    d.url,
                    d.seq,
                    d.state,
                    d.attempts,
                    d.next_us,
                    d.last_error,
                    d.delivered_us
                ],
            )?;
            Ok(())
        })
    }

    /// The request an idempotency key of a client made, with the SHA-256 of the body it
    /// came with.
    pub fn idempotency_key(
        &self,
        tenant: &TenantId,
        client_id: &str,
        key: &str,
    ) -> Result<Option<(String, String)>> {
        self.with_conn(|conn| {
            conn.query_row(
                "SELECT body_sha256, request_id FROM idempotency_keys WHERE tenant = ?1 AND client_id = ?2 AND key = ?3",
                params![tenant.as_str(), client_id, key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
    }

    /// Records the request an idempotency key made (the first record stays).
    pub fn put_idempotency_key(
        &self,
        tenant: &TenantId,
        client_id: &str,
        key: &str,
        body_sha256: &str,
        request_id: &str,
        now_us: i64,
    ) -> Result<()> {
        self.with_conn(|conn| {
            conn.execute(
                "INSERT OR IGNORE INTO idempotency_keys (tenant, client_id, key, body_sha256, request_id, created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![tenant.as_str(), client_id, key, body_sha256, request_id, now_us],
            )?;
            Ok(())
        })
    }

    /// The deliveries of one request, in order.
    pub fn deliveries(&self, tenant: &TenantId, request_id: &str) -> Result<Vec<DeliveryRow>> {
        self.with_conn(|conn| {
            let mut st = conn.prepare(&format!(
                "SELECT {DELIVERY_COLS} FROM callback_deliveries WHERE tenant = ?1 AND request_id = ?2 ORDER BY url, seq"
            ))?;
            st.query_map(params![tenant.as_str(), request_id], delivery_row)?
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, tenant: &str, name: &str) -> ClientRow {
        ClientRow {
            id: id.into(),
            tenant: TenantId::new(tenant).unwrap(),
            name: name.into(),
            kind: "oauth".into(),
            scopes: vec!["subjects:read".into(), "requests:read".into()],
            secret_hash: "ab".into(),
            created_us: 1,
            last_used_us: None,
            rotated_us: None,
            revoked_us: None,
        }
    }

    #[test]
    fn clients_are_stored_per_tenant_with_unique_names() {
        let s = SqliteStore::open_in_memory().unwrap();
        assert!(s.insert_client(&row("c1", "acme", "crm")).unwrap());
        assert!(!s.insert_client(&row("c2", "acme", "crm")).unwrap());
        assert!(s.insert_client(&row("c3", "other", "crm")).unwrap());
        let acme = TenantId::new("acme").unwrap();
        assert_eq!(s.clients(Some(&acme)).unwrap().len(), 1);
        assert_eq!(s.clients(None).unwrap().len(), 2);
        assert_eq!(s.client("c1").unwrap().unwrap().scopes.len(), 2);
        assert!(s.rotate_client("c1", "cd", 5).unwrap());
        assert!(s.revoke_client("c1", 6).unwrap());
        assert!(!s.revoke_client("c1", 7).unwrap());
        assert!(!s.rotate_client("c1", "ef", 8).unwrap());
        let c = s.client("c1").unwrap().unwrap();
        assert_eq!(
            (c.secret_hash.as_str(), c.rotated_us, c.revoked_us),
            ("cd", Some(5), Some(6))
        );
        s.touch_clients(&[("c3".into(), 9)]).unwrap();
        assert_eq!(s.client("c3").unwrap().unwrap().last_used_us, Some(9));
    }

    #[test]
    fn a_server_key_is_created_once() {
        let s = SqliteStore::open_in_memory().unwrap();
        let a = s.server_key("tokens", &[1; 32]).unwrap();
        let b = s.server_key("tokens", &[2; 32]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, vec![1; 32]);
    }

    #[test]
    fn a_status_is_recorded_once_and_closes_on_the_last() {
        let s = SqliteStore::open_in_memory().unwrap();
        let t = TenantId::new("acme").unwrap();
        s.add_callback(&t, "r1", "http://x/cb").unwrap();
        let cb = s.open_callbacks().unwrap().remove(0);
        assert!(
            s.record_callback_status(&cb, "in_progress", "{}", false, 1)
                .unwrap()
        );
        assert!(
            !s.record_callback_status(&cb, "in_progress", "{}", false, 2)
                .unwrap()
        );
        assert!(
            s.record_callback_status(&cb, "completed", "{}", true, 3)
                .unwrap()
        );
        assert!(s.open_callbacks().unwrap().is_empty());
        let mut due = s.take_due_deliveries(10, 20, 10).unwrap();
        assert_eq!(due.len(), 1, "the second waits for the first");
        due[0].state = "delivered".into();
        s.update_delivery(&due[0]).unwrap();
        let due = s.take_due_deliveries(30, 40, 10).unwrap();
        assert_eq!((due.len(), due[0].status.as_str()), (1, "completed"));
        assert_eq!(s.deliveries(&t, "r1").unwrap()[0].state, "delivered");
    }
}
