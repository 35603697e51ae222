//! The server's records on PostgreSQL ([`ServerStore`], migration 2): tenants and
//! subjects with the change feed, API clients, server keys, status callbacks and their
//! deliveries (taken with `FOR UPDATE SKIP LOCKED` and held for the taking node, so two
//! nodes do not send one delivery at once), idempotency keys.

use crate::{Error, PgStore, engine_err};
use async_trait::async_trait;
use dsr_engine::Result;
use dsr_engine::server_store::{
    ClientRow, DeliveryRow, NotificationRow, NotifyWatch, OpenCallback, PortalSessionRow,
    ServerStore, ShareRow, SubjectChange, UpsertCounts,
};
use dsr_model::{Subject, SubjectId, TenantId};
use tokio_postgres::Row;

fn pg(e: tokio_postgres::Error) -> dsr_engine::Error {
    engine_err(Error::Postgres(e))
}

fn tenant_of(r: &Row, i: usize) -> Result<TenantId> {
    TenantId::new(r.get::<_, String>(i)).map_err(|e| {
        engine_err(Error::Unreadable {
            what: "tenant".into(),
            reason: e.to_string(),
        })
    })
}

const SESSION_COLS: &str = "id_hash, tenant, subject_id, csrf, lang, created_us, last_us";

fn session_row(r: &Row) -> Result<PortalSessionRow> {
    Ok(PortalSessionRow {
        id_hash: r.get(0),
        tenant: tenant_of(r, 1)?,
        subject_id: r.get(2),
        csrf: r.get(3),
        lang: r.get(4),
        created_us: r.get(5),
        last_us: r.get(6),
    })
}

const SHARE_COLS: &str = "id_hash, tenant, request_id, recipient, created_us, expires_us, max_downloads, downloads, revoked_us";

fn share_row(r: &Row) -> Result<ShareRow> {
    Ok(ShareRow {
        id_hash: r.get(0),
        tenant: tenant_of(r, 1)?,
        request_id: r.get(2),
        recipient: r.get(3),
        created_us: r.get(4),
        expires_us: r.get(5),
        max_downloads: r.get(6),
        downloads: r.get(7),
        revoked_us: r.get(8),
    })
}

const CLIENT_COLS: &str =
    "id, tenant, name, kind, scopes, secret_hash, created_us, last_used_us, rotated_us, revoked_us";

fn client_row(r: &Row) -> Result<ClientRow> {
    Ok(ClientRow {
        id: r.get(0),
        tenant: tenant_of(r, 1)?,
        name: r.get(2),
        kind: r.get(3),
        scopes: r
            .get::<_, String>(4)
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        secret_hash: r.get(5),
        created_us: r.get(6),
        last_used_us: r.get(7),
        rotated_us: r.get(8),
        revoked_us: r.get(9),
    })
}

const DELIVERY_COLS: &str = "tenant, request_id, url, seq, status, body, state, attempts, next_us, last_error, delivered_us";

fn delivery_row(r: &Row) -> Result<DeliveryRow> {
    Ok(DeliveryRow {
        tenant: tenant_of(r, 0)?,
        request_id: r.get(1),
        url: r.get(2),
        seq: r.get(3),
        status: r.get(4),
        body: r.get(5),
        state: r.get(6),
        attempts: r.get(7),
        next_us: r.get(8),
        last_error: r.get(9),
        delivered_us: r.get(10),
    })
}

const NOTIFICATION_COLS: &str = "tenant, request_id, event, state, address, message, attempts, next_us, last_error, created_us, sent_us";

fn notification_row(r: &Row) -> Result<NotificationRow> {
    Ok(NotificationRow {
        tenant: tenant_of(r, 0)?,
        request_id: r.get(1),
        event: r.get(2),
        state: r.get(3),
        address: r.get(4),
        message: r.get(5),
        attempts: r.get(6),
        next_us: r.get(7),
        last_error: r.get(8),
        created_us: r.get(9),
        sent_us: r.get(10),
    })
}

impl PgStore {
    async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        let c = self.client().await.map_err(engine_err)?;
        let st = c.prepare_cached(sql).await.map_err(pg)?;
        c.query(&st, params).await.map_err(pg)
    }

    async fn exec(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64> {
        let c = self.client().await.map_err(engine_err)?;
        let st = c.prepare_cached(sql).await.map_err(pg)?;
        c.execute(&st, params).await.map_err(pg)
    }
}

#[async_trait]
impl ServerStore for PgStore {
    async fn tenant_names(&self) -> Result<Vec<TenantId>> {
        self.rows("SELECT name FROM tenants ORDER BY name", &[])
            .await?
            .iter()
            .map(|r| tenant_of(r, 0))
            .collect()
    }
    async fn add_tenant(&self, tenant: &TenantId) -> Result<bool> {
        self.create_tenant(tenant, None).await.map_err(engine_err)
    }
    async fn has_tenant(&self, tenant: &TenantId) -> Result<bool> {
        self.tenant_exists(tenant).await.map_err(engine_err)
    }
    async fn load_subjects(&self, tenant: &TenantId) -> Result<(Vec<Subject>, i64)> {
        PgStore::load_subjects(self, tenant)
            .await
            .map_err(engine_err)
    }
    fn has_change_feed(&self) -> bool {
        true
    }
    async fn subject_changes(
        &self,
        tenant: &TenantId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<SubjectChange>> {
        PgStore::subject_changes(self, tenant, after, limit)
            .await
            .map_err(engine_err)
    }
    async fn get_subject(&self, tenant: &TenantId, id: &SubjectId) -> Result<Option<Subject>> {
        PgStore::get_subject(self, tenant, id)
            .await
            .map_err(engine_err)
    }
    async fn put_subjects(&self, tenant: &TenantId, subjects: &[Subject]) -> Result<UpsertCounts> {
        self.upsert_subjects_counted(tenant, subjects)
            .await
            .map_err(engine_err)
    }
    async fn remove_subject(&self, tenant: &TenantId, id: &SubjectId) -> Result<bool> {
        self.delete_subject(tenant, id).await.map_err(engine_err)
    }
    async fn suppression_size(&self, tenant: &TenantId) -> Result<u64> {
        self.suppression_count(tenant).await.map_err(engine_err)
    }
    async fn refuses_erased(&self, tenant: &TenantId) -> Result<bool> {
        self.refuse_erased(tenant).await.map_err(engine_err)
    }

    async fn insert_client(&self, c: &ClientRow) -> Result<bool> {
        let n = self
            .exec(
                "INSERT INTO api_clients (id, tenant, name, kind, scopes, secret_hash, created_us, last_used_us, rotated_us, revoked_us)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
                &[
                    &c.id,
                    &c.tenant.as_str(),
                    &c.name,
                    &c.kind,
                    &c.scopes.join(" "),
                    &c.secret_hash,
                    &c.created_us,
                    &c.last_used_us,
                    &c.rotated_us,
                    &c.revoked_us,
                ],
            )
            .await?;
        Ok(n == 1)
    }
    async fn client(&self, id: &str) -> Result<Option<ClientRow>> {
        self.rows(
            &format!("SELECT {CLIENT_COLS} FROM api_clients WHERE id = $1"),
            &[&id],
        )
        .await?
        .first()
        .map(client_row)
        .transpose()
    }
    async fn client_by_name(&self, tenant: &TenantId, name: &str) -> Result<Option<ClientRow>> {
        self.rows(
            &format!("SELECT {CLIENT_COLS} FROM api_clients WHERE tenant = $1 AND name = $2"),
            &[&tenant.as_str(), &name],
        )
        .await?
        .first()
        .map(client_row)
        .transpose()
    }
    async fn clients(&self, tenant: Option<&TenantId>) -> Result<Vec<ClientRow>> {
        self.rows(
            &format!(
                "SELECT {CLIENT_COLS} FROM api_clients WHERE $1::text IS NULL OR tenant = $1 ORDER BY tenant, name"
            ),
            &[&tenant.map(TenantId::as_str)],
        )
        .await?
        .iter()
        .map(client_row)
        .collect()
    }
    async fn rotate_client(&self, id: &str, secret_hash: &str, at_us: i64) -> Result<bool> {
        Ok(self
            .exec(
                "UPDATE api_clients SET secret_hash = $2, rotated_us = $3 WHERE id = $1 AND revoked_us IS NULL",
                &[&id, &secret_hash, &at_us],
            )
            .await?
            == 1)
    }
    async fn revoke_client(&self, id: &str, at_us: i64) -> Result<bool> {
        Ok(self
            .exec(
                "UPDATE api_clients SET revoked_us = $2 WHERE id = $1 AND revoked_us IS NULL",
                &[&id, &at_us],
            )
            .await?
            == 1)
    }
    async fn touch_clients(&self, used: &[(String, i64)]) -> Result<()> {
        if used.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = used.iter().map(|(id, _)| id.as_str()).collect();
        let ats: Vec<i64> = used.iter().map(|(_, at)| *at).collect();
        self.exec(
            "UPDATE api_clients c SET last_used_us = GREATEST(coalesce(c.last_used_us, 0), u.at)
             FROM UNNEST($1::text[], $2::bigint[]) AS u(id, at) WHERE c.id = u.id",
            &[&ids, &ats],
        )
        .await?;
        Ok(())
    }
    async fn stored_server_key(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let rows = self
            .rows("SELECT key FROM server_keys WHERE name = $1", &[&name])
            .await?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    async fn server_key(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>> {
        self.exec(
            "INSERT INTO server_keys (name, key) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&name, &fresh],
        )
        .await?;
        let rows = self
            .rows("SELECT key FROM server_keys WHERE name = $1", &[&name])
            .await?;
        Ok(rows.first().map(|r| r.get(0)).unwrap_or_default())
    }

    async fn add_callback(&self, tenant: &TenantId, request_id: &str, url: &str) -> Result<()> {
        self.exec(
            "INSERT INTO callbacks (tenant, request_id, url) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&tenant.as_str(), &request_id, &url],
        )
        .await?;
        Ok(())
    }
    async fn open_callbacks(&self) -> Result<Vec<OpenCallback>> {
        let rows = self
            .rows(
                "SELECT tenant, request_id, url, last_status FROM callbacks WHERE open",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(OpenCallback {
                    tenant: tenant_of(r, 0).ok()?,
                    request_id: r.get(1),
                    url: r.get(2),
                    last_status: r.get(3),
                })
            })
            .collect())
    }
    async fn record_callback_status(
        &self,
        cb: &OpenCallback,
        status: &str,
        body: &str,
        last: bool,
        now_us: i64,
    ) -> Result<bool> {
        let mut c = self.client().await.map_err(engine_err)?;
        let tx = c.transaction().await.map_err(pg)?;
        let (tenant, rid, url) = (cb.tenant.as_str(), cb.request_id.as_str(), cb.url.as_str());
        // The row lock serialises nodes recording the same callback.
        let n = tx
            .execute(
                &tx.prepare_cached(
                    "UPDATE callbacks SET last_status = $4, open = $5
                     WHERE tenant = $1 AND request_id = $2 AND url = $3 AND last_status IS DISTINCT FROM $4",
                )
                .await
                .map_err(pg)?,
                &[&tenant, &rid, &url, &status, &!last],
            )
            .await
            .map_err(pg)?;
        if n == 0 {
            return Ok(false);
        }
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO callback_deliveries (tenant, request_id, url, seq, status, body, state, attempts, next_us)
                 SELECT $1, $2, $3, coalesce(max(seq), 0) + 1, $4, $5, 'pending', 0, $6
                 FROM callback_deliveries WHERE tenant = $1 AND request_id = $2 AND url = $3",
            )
            .await
            .map_err(pg)?,
            &[&tenant, &rid, &url, &status, &body, &now_us],
        )
        .await
        .map_err(pg)?;
        tx.commit().await.map_err(pg)?;
        Ok(true)
    }
    async fn take_due_deliveries(
        &self,
        now_us: i64,
        lease_until_us: i64,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>> {
        let rows = self
            .rows(
                &format!(
                    "UPDATE callback_deliveries d SET next_us = $2
                     FROM (SELECT tenant, request_id, url, seq FROM callback_deliveries d
                           WHERE state = 'pending' AND next_us <= $1
                             AND NOT EXISTS (SELECT 1 FROM callback_deliveries p WHERE p.tenant = d.tenant
                                 AND p.request_id = d.request_id AND p.url = d.url AND p.seq < d.seq AND p.state = 'pending')
                           ORDER BY next_us LIMIT $3 FOR UPDATE SKIP LOCKED) due
                     WHERE d.tenant = due.tenant AND d.request_id = due.request_id AND d.url = due.url AND d.seq = due.seq
                     RETURNING {}",
                    DELIVERY_COLS
                        .split(", ")
                        .map(|c| format!("d.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &[&now_us, &lease_until_us, &(limit as i64)],
            )
            .await?;
        let mut out = rows.iter().map(delivery_row).collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|d| d.next_us);
        Ok(out)
    }
    async fn update_delivery(&self, d: &DeliveryRow) -> Result<()> {
        self.exec(
            "UPDATE callback_deliveries SET state = $5, attempts = $6, next_us = $7, last_error = $8, delivered_us = $9
             WHERE tenant = $1 AND request_id = $2 AND url = $3 AND seq = $4",
            &[
                &d.tenant.as_str(),
                &d.request_id,
                &d.url,
                &d.seq,
                &d.state,
                &d.attempts,
                &d.next_us,
                &d.last_error,
                &d.delivered_us,
            ],
        )
        .await?;
        Ok(())
    }
    async fn deliveries(&self, tenant: &TenantId, request_id: &str) -> Result<Vec<DeliveryRow>> {
        self.rows(
            &format!(
                "SELECT {DELIVERY_COLS} FROM callback_deliveries WHERE tenant = $1 AND request_id = $2 ORDER BY url, seq"
            ),
            &[&tenant.as_str(), &request_id],
        )
        .await?
        .iter()
        .map(delivery_row)
        .collect()
    }
    async fn idempotency_key(
        &self,
        tenant: &TenantId,
        client_id: &str,
        key: &str,
    ) -> Result<Option<(String, String)>> {
        Ok(self
            .rows(
                "SELECT body_sha256, request_id FROM idempotency_keys WHERE tenant = $1 AND client_id = $2 AND key = $3",
                &[&tenant.as_str(), &client_id, &key],
            )
            .await?
            .first()
            .map(|r| (r.get(0), r.get(1))))
    }
    async fn put_idempotency_key(
        &self,
        tenant: &TenantId,
        client_id: &str,
        key: &str,
        body_sha256: &str,
        request_id: &str,
        now_us: i64,
    ) -> Result<()> {
        self.exec(
            "INSERT INTO idempotency_keys (tenant, client_id, key, body_sha256, request_id, created_us)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            &[&tenant.as_str(), &client_id, &key, &body_sha256, &request_id, &now_us],
        )
        .await?;
        Ok(())
    }

    async fn use_assertion(
        &self,
        tenant: &TenantId,
        jti: &str,
        expires_us: i64,
        now_us: i64,
    ) -> Result<bool> {
        self.exec(
            "DELETE FROM portal_assertions WHERE expires_us < $1",
            &[&now_us],
        )
        .await?;
        // The primary key decides between two nodes given the same assertion at once.
        let n = self
            .exec(
                "INSERT INTO portal_assertions (tenant, jti, expires_us) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&tenant.as_str(), &jti, &expires_us],
            )
            .await?;
        Ok(n == 1)
    }
    async fn put_portal_session(&self, s: &PortalSessionRow) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO portal_sessions ({SESSION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ),
            &[
                &s.id_hash,
                &s.tenant.as_str(),
                &s.subject_id,
                &s.csrf,
                &s.lang,
                &s.created_us,
                &s.last_us,
            ],
        )
        .await?;
        Ok(())
    }
    async fn portal_session(&self, id_hash: &str) -> Result<Option<PortalSessionRow>> {
        self.rows(
            &format!("SELECT {SESSION_COLS} FROM portal_sessions WHERE id_hash = $1"),
            &[&id_hash],
        )
        .await?
        .first()
        .map(session_row)
        .transpose()
    }
    async fn touch_portal_session(&self, id_hash: &str, last_us: i64, lang: &str) -> Result<()> {
        self.exec(
            "UPDATE portal_sessions SET last_us = GREATEST(last_us, $2), lang = $3 WHERE id_hash = $1",
            &[&id_hash, &last_us, &lang],
        )
        .await?;
        Ok(())
    }
    async fn end_portal_session(&self, id_hash: &str) -> Result<()> {
        self.exec(
            "DELETE FROM portal_sessions WHERE id_hash = $1",
            &[&id_hash],
        )
        .await?;
        Ok(())
    }
    async fn end_idle_portal_sessions(&self, last_us: i64) -> Result<u64> {
        self.exec(
            "DELETE FROM portal_sessions WHERE last_us < $1",
            &[&last_us],
        )
        .await
    }
    async fn put_share(&self, s: &ShareRow) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO portal_shares ({SHARE_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
            &[
                &s.id_hash,
                &s.tenant.as_str(),
                &s.request_id,
                &s.recipient,
                &s.created_us,
                &s.expires_us,
                &s.max_downloads,
                &s.downloads,
                &s.revoked_us,
            ],
        )
        .await?;
        Ok(())
    }
    async fn share(&self, id_hash: &str) -> Result<Option<ShareRow>> {
        self.rows(
            &format!("SELECT {SHARE_COLS} FROM portal_shares WHERE id_hash = $1"),
            &[&id_hash],
        )
        .await?
        .first()
        .map(share_row)
        .transpose()
    }
    async fn shares(&self, tenant: &TenantId, request_id: &str) -> Result<Vec<ShareRow>> {
        self.rows(
            &format!(
                "SELECT {SHARE_COLS} FROM portal_shares WHERE tenant = $1 AND request_id = $2
                 ORDER BY created_us DESC, id_hash"
            ),
            &[&tenant.as_str(), &request_id],
        )
        .await?
        .iter()
        .map(share_row)
        .collect()
    }
    async fn take_share_download(&self, id_hash: &str, now_us: i64) -> Result<Option<ShareRow>> {
        // One statement: the row lock orders two nodes counting the last download.
        self.rows(
            &format!(
                "UPDATE portal_shares SET downloads = downloads + 1
                 WHERE id_hash = $1 AND revoked_us IS NULL AND expires_us > $2 AND downloads < max_downloads
                 RETURNING {SHARE_COLS}"
            ),
            &[&id_hash, &now_us],
        )
        .await?
        .first()
        .map(share_row)
        .transpose()
    }
    async fn revoke_share(&self, tenant: &TenantId, id_hash: &str, at_us: i64) -> Result<bool> {
        let n = self
            .exec(
                "UPDATE portal_shares SET revoked_us = $3
                 WHERE tenant = $1 AND id_hash = $2 AND revoked_us IS NULL",
                &[&tenant.as_str(), &id_hash, &at_us],
            )
            .await?;
        Ok(n == 1)
    }
    async fn remove_expired_shares(&self, before_us: i64) -> Result<u64> {
        self.exec(
            "DELETE FROM portal_shares WHERE expires_us < $1",
            &[&before_us],
        )
        .await
    }

    async fn watch_notifications(&self, w: &NotifyWatch) -> Result<bool> {
        let n = self
            .exec(
                "INSERT INTO notify_watches (tenant, request_id, address, created_us) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&w.tenant.as_str(), &w.request_id, &w.address, &w.created_us],
            )
            .await?;
        Ok(n == 1)
    }
    async fn notify_watches(&self) -> Result<Vec<NotifyWatch>> {
        self.rows(
            "SELECT tenant, request_id, address, created_us FROM notify_watches ORDER BY created_us",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(NotifyWatch {
                tenant: tenant_of(r, 0)?,
                request_id: r.get(1),
                address: r.get(2),
                created_us: r.get(3),
            })
        })
        .collect()
    }
    async fn record_notifications(
        &self,
        tenant: &TenantId,
        request_id: &str,
        rows: &[NotificationRow],
        close: bool,
    ) -> Result<usize> {
        let mut c = self.client().await.map_err(engine_err)?;
        let tx = c.transaction().await.map_err(pg)?;
        let insert = tx
            .prepare_cached(&format!(
                "INSERT INTO notifications ({NOTIFICATION_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT DO NOTHING"
            ))
            .await
            .map_err(pg)?;
        let mut n = 0;
        for r in rows {
            n += tx
                .execute(
                    &insert,
                    &[
                        &tenant.as_str(),
                        &request_id,
                        &r.event,
                        &r.state,
                        &r.address,
                        &r.message,
                        &r.attempts,
                        &r.next_us,
                        &r.last_error,
                        &r.created_us,
                        &r.sent_us,
                    ],
                )
                .await
                .map_err(pg)? as usize;
        }
        if close {
            tx.execute(
                "DELETE FROM notify_watches WHERE tenant = $1 AND request_id = $2",
                &[&tenant.as_str(), &request_id],
            )
            .await
            .map_err(pg)?;
        }
        tx.commit().await.map_err(pg)?;
        Ok(n)
    }
    async fn take_due_notifications(
        &self,
        now_us: i64,
        lease_until_us: i64,
        limit: usize,
    ) -> Result<Vec<NotificationRow>> {
        let rows = self
            .rows(
                &format!(
                    "UPDATE notifications n SET next_us = $2
                     FROM (SELECT tenant, request_id, event FROM notifications
                           WHERE state = 'pending' AND next_us <= $1
                           ORDER BY next_us LIMIT $3 FOR UPDATE SKIP LOCKED) due
                     WHERE n.tenant = due.tenant AND n.request_id = due.request_id AND n.event = due.event
                     RETURNING {}",
                    NOTIFICATION_COLS
                        .split(", ")
                        .map(|c| format!("n.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &[&now_us, &lease_until_us, &(limit as i64)],
            )
            .await?;
        let mut out = rows
            .iter()
            .map(notification_row)
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|n| n.created_us);
        Ok(out)
    }
    async fn update_notification(&self, n: &NotificationRow) -> Result<()> {
        self.exec(
            "UPDATE notifications SET state = $4, address = $5, message = $6, attempts = $7, next_us = $8, last_error = $9, sent_us = $10
             WHERE tenant = $1 AND request_id = $2 AND event = $3",
            &[
                &n.tenant.as_str(),
                &n.request_id,
                &n.event,
                &n.state,
                &n.address,
                &n.message,
                &n.attempts,
                &n.next_us,
                &n.last_error,
                &n.sent_us,
            ],
        )
        .await?;
        Ok(())
    }
    async fn notifications(
        &self,
        tenant: &TenantId,
        request_id: &str,
    ) -> Result<Vec<NotificationRow>> {
        self.rows(
            &format!(
                "SELECT {NOTIFICATION_COLS} FROM notifications WHERE tenant = $1 AND request_id = $2 ORDER BY created_us, event"
            ),
            &[&tenant.as_str(), &request_id],
        )
        .await?
        .iter()
        .map(notification_row)
        .collect()
    }
}
