//! The server's records on SQLite ([`ServerStore`]): the SQL is the store's own methods
//! (`crate::clients`, the subjects table); this only adapts them. One process writes a
//! SQLite file, so there is no change feed to follow.

use super::{SqliteEngineStore, store_err};
use async_trait::async_trait;
use dsr_engine::Result;
use dsr_engine::server_store::{
    ClientRow, DeliveryRow, NotificationRow, NotifyWatch, OpenCallback, PortalSessionRow,
    ServerStore, ShareRow, SubjectChange, UpsertCounts,
};
use dsr_model::{Subject, SubjectId, TenantId};

#[async_trait]
impl ServerStore for SqliteEngineStore {
    async fn tenant_names(&self) -> Result<Vec<TenantId>> {
        let rows = self.db().tenants().map_err(store_err)?;
        Ok(rows
            .into_iter()
            .filter_map(|t| TenantId::new(t.name).ok())
            .collect())
    }
    async fn add_tenant(&self, tenant: &TenantId) -> Result<bool> {
        self.db().create_tenant(tenant).map_err(store_err)
    }
    async fn has_tenant(&self, tenant: &TenantId) -> Result<bool> {
        self.db().tenant_exists(tenant).map_err(store_err)
    }
    async fn load_subjects(&self, tenant: &TenantId) -> Result<(Vec<Subject>, i64)> {
        Ok((self.db().load_subjects(tenant).map_err(store_err)?, 0))
    }
    fn has_change_feed(&self) -> bool {
        false
    }
    async fn subject_changes(
        &self,
        _tenant: &TenantId,
        _after: i64,
        _limit: usize,
    ) -> Result<Vec<SubjectChange>> {
        Ok(Vec::new())
    }
    async fn get_subject(&self, tenant: &TenantId, id: &SubjectId) -> Result<Option<Subject>> {
        self.db().get_subject(tenant, id).map_err(store_err)
    }
    async fn put_subjects(&self, tenant: &TenantId, subjects: &[Subject]) -> Result<UpsertCounts> {
        let c = self
            .db()
            .upsert_subjects_counted(tenant, subjects)
            .map_err(store_err)?;
        Ok(UpsertCounts {
            created: c.created,
            updated: c.updated,
        })
    }
    async fn remove_subject(&self, tenant: &TenantId, id: &SubjectId) -> Result<bool> {
        self.db().delete_subject(tenant, id).map_err(store_err)
    }
    async fn suppression_size(&self, tenant: &TenantId) -> Result<u64> {
        self.db().suppression_count(tenant).map_err(store_err)
    }
    async fn refuses_erased(&self, tenant: &TenantId) -> Result<bool> {
        self.db().refuse_erased(tenant).map_err(store_err)
    }
    async fn insert_client(&self, c: &ClientRow) -> Result<bool> {
        self.db().insert_client(c).map_err(store_err)
    }
    async fn client(&self, id: &str) -> Result<Option<ClientRow>> {
        self.db().client(id).map_err(store_err)
    }
    async fn client_by_name(&self, tenant: &TenantId, name: &str) -> Result<Option<ClientRow>> {
        self.db().client_by_name(tenant, name).map_err(store_err)
    }
    async fn clients(&self, tenant: Option<&TenantId>) -> Result<Vec<ClientRow>> {
        self.db().clients(tenant).map_err(store_err)
    }
    async fn rotate_client(&self, id: &str, secret_hash: &str, at_us: i64) -> Result<bool> {
        self.db()
            .rotate_client(id, secret_hash, at_us)
            .map_err(store_err)
    }
    async fn revoke_client(&self, id: &str, at_us: i64) -> Result<bool> {
        self.db().revoke_client(id, at_us).map_err(store_err)
    }
    async fn touch_clients(&self, used: &[(String, i64)]) -> Result<()> {
        self.db().touch_clients(used).map_err(store_err)
    }
    async fn server_key(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>> {
        self.db().server_key(name, fresh).map_err(store_err)
    }
    async fn stored_server_key(&self, name: &str) -> Result<Option<Vec<u8>>> {
        self.db().stored_server_key(name).map_err(store_err)
    }
    async fn add_callback(&self, tenant: &TenantId, request_id: &str, url: &str) -> Result<()> {
        self.db()
            .add_callback(tenant, request_id, url)
            .map_err(store_err)
    }
    async fn open_callbacks(&self) -> Result<Vec<OpenCallback>> {
        self.db().open_callbacks().map_err(store_err)
    }
    async fn record_callback_status(
        &self,
        cb: &OpenCallback,
        status: &str,
        body: &str,
        last: bool,
        now_us: i64,
    ) -> Result<bool> {
        self.db()
            .record_callback_status(cb, status, body, last, now_us)
            .map_err(store_err)
    }
    async fn take_due_deliveries(
        &self,
        now_us: i64,
        lease_until_us: i64,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>> {
        self.db()
            .take_due_deliveries(now_us, lease_until_us, limit)
            .map_err(store_err)
    }
    async fn update_delivery(&self, d: &DeliveryRow) -> Result<()> {
        self.db().update_delivery(d).map_err(store_err)
    }
    async fn deliveries(&self, tenant: &TenantId, request_id: &str) -> Result<Vec<DeliveryRow>> {
        self.db().deliveries(tenant, request_id).map_err(store_err)
    }
    async fn idempotency_key(
        &self,
        tenant: &TenantId,
        client_id: &str,
        key: &str,
    ) -> Result<Option<(String, String)>> {
        self.db()
            .idempotency_key(tenant, client_id, key)
            .map_err(store_err)
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
        self.db()
            .put_idempotency_key(tenant, client_id, key, body_sha256, request_id, now_us)
            .map_err(store_err)
    }

    async fn use_assertion(
        &self,
        tenant: &TenantId,
        jti: &str,
        expires_us: i64,
        now_us: i64,
    ) -> Result<bool> {
        self.db()
            .use_assertion(tenant, jti, expires_us, now_us)
            .map_err(store_err)
    }
    async fn put_portal_session(&self, s: &PortalSessionRow) -> Result<()> {
        self.db().put_portal_session(s).map_err(store_err)
    }
    async fn portal_session(&self, id_hash: &str) -> Result<Option<PortalSessionRow>> {
        self.db().portal_session(id_hash).map_err(store_err)
    }
    async fn touch_portal_session(&self, id_hash: &str, last_us: i64, lang: &str) -> Result<()> {
        self.db()
            .touch_portal_session(id_hash, last_us, lang)
            .map_err(store_err)
    }
    async fn end_portal_session(&self, id_hash: &str) -> Result<()> {
        self.db().end_portal_session(id_hash).map_err(store_err)
    }
    async fn end_idle_portal_sessions(&self, last_us: i64) -> Result<u64> {
        self.db()
            .end_idle_portal_sessions(last_us)
            .map_err(store_err)
    }
    async fn put_share(&self, s: &ShareRow) -> Result<()> {
        self.db().put_share(s).map_err(store_err)
    }
    async fn share(&self, id_hash: &str) -> Result<Option<ShareRow>> {
        self.db().share(id_hash).map_err(store_err)
    }
    async fn shares(&self, tenant: &TenantId, request_id: &str) -> Result<Vec<ShareRow>> {
        self.db().shares(tenant, request_id).map_err(store_err)
    }
    async fn take_share_download(&self, id_hash: &str, now_us: i64) -> Result<Option<ShareRow>> {
        self.db()
            .take_share_download(id_hash, now_us)
            .map_err(store_err)
    }
    async fn revoke_share(&self, tenant: &TenantId, id_hash: &str, at_us: i64) -> Result<bool> {
        self.db()
            .revoke_share(tenant, id_hash, at_us)
            .map_err(store_err)
    }
    async fn remove_expired_shares(&self, before_us: i64) -> Result<u64> {
        self.db()
            .remove_expired_shares(before_us)
            .map_err(store_err)
    }

    async fn watch_notifications(&self, w: &NotifyWatch) -> Result<bool> {
        self.db().watch_notifications(w).map_err(store_err)
    }
    async fn notify_watches(&self) -> Result<Vec<NotifyWatch>> {
        self.db().notify_watches().map_err(store_err)
    }
    async fn record_notifications(
        &self,
        tenant: &TenantId,
        request_id: &str,
        rows: &[NotificationRow],
        close: bool,
    ) -> Result<usize> {
        let n = self
            .db()
            .record_notifications(tenant, request_id, rows, close)
            .map_err(store_err)?;
        if close {
            // The watch held an address: its bytes leave the WAL too.
            self.scrub();
        }
        Ok(n)
    }
    async fn take_due_notifications(
        &self,
        now_us: i64,
        lease_until_us: i64,
        limit: usize,
    ) -> Result<Vec<NotificationRow>> {
        self.db()
            .take_due_notifications(now_us, lease_until_us, limit)
            .map_err(store_err)
    }
    async fn update_notification(&self, n: &NotificationRow) -> Result<()> {
        self.db().update_notification(n).map_err(store_err)?;
        if n.address.is_none() {
            // An address or a message was removed: out of the WAL as well.
            self.scrub();
        }
        Ok(())
    }
    async fn notifications(
        &self,
        tenant: &TenantId,
        request_id: &str,
    ) -> Result<Vec<NotificationRow>> {
        self.db()
            .notifications(tenant, request_id)
            .map_err(store_err)
    }
}
