//! What a server keeps beside the engine's records, as a contract both stores keep:
//! the tenants and their subjects (with the change feed every node's index follows),
//! API clients, the server's own keys, status callbacks with their deliveries,
//! idempotency keys, portal sessions and links, and notifications to data subjects.
//! The HTTP layer (`dsr-api`) decides what a client may do, how secrets are hashed and
//! when a callback or a notification is sent; a store only persists and loads.
//!
//! [`conformance::run_server`](crate::conformance::run_server) is the contract's test,
//! run by the SQLite and the PostgreSQL store. Times are microseconds since the Unix
//! epoch.

use crate::{Result, Store};
use async_trait::async_trait;
use dsr_model::{Subject, SubjectId, TenantId};

/// One API client as stored (never its secret: only a hash of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    /// The client id (public).
    pub id: String,
    /// The one tenant it belongs to.
    pub tenant: TenantId,
    /// A unique, descriptive name within the tenant (the service it is for).
    pub name: String,
    /// `oauth` (client credentials) or `token` (a static API token).
    pub kind: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Hash of the secret (hex).
    pub secret_hash: String,
    /// Created at.
    pub created_us: i64,
    /// Last successful authentication (updated at most about once a minute).
    pub last_used_us: Option<i64>,
    /// Last rotation of the secret.
    pub rotated_us: Option<i64>,
    /// Revoked at (a revoked client never authenticates again).
    pub revoked_us: Option<i64>,
}

/// A status callback delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// The tenant.
    pub tenant: TenantId,
    /// The request.
    pub request_id: String,
    /// Where it is sent.
    pub url: String,
    /// Order of the deliveries of one request to one URL.
    pub seq: i64,
    /// The request status it reports.
    pub status: String,
    /// The JSON body sent.
    pub body: String,
    /// `pending`, `delivered` or `failed` (gave up).
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// Next attempt not before.
    pub next_us: i64,
    /// The last error.
    pub last_error: Option<String>,
    /// Delivered at.
    pub delivered_us: Option<i64>,
}

/// A callback still watching its request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenCallback {
    /// The tenant.
    pub tenant: TenantId,
    /// The request.
    pub request_id: String,
    /// Where deliveries go.
    pub url: String,
    /// The last status recorded for delivery.
    pub last_status: Option<String>,
}

/// One change of a tenant's directory: a subject written (`subject` is its value now)
/// or deleted (`None`), at position `seq` of the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectChange {
    /// Position in the feed (strictly increasing).
    pub seq: i64,
    /// The subject's id; `None` once scrubbed: a deleted subject's id leaves its earlier
    /// changes when it is deleted, and its deletion after a while (the store's
    /// retention), so the feed does not keep an erased person's id.
    pub id: Option<SubjectId>,
    /// Whether the change was a deletion.
    pub deleted: bool,
    /// The value now, or `None` when deleted.
    pub subject: Option<Subject>,
}

/// How many subjects a write created and how many it replaced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    /// New ids.
    pub created: usize,
    /// Ids that existed (or came twice in the batch).
    pub updated: usize,
}

/// A data subject's portal session as stored. The cookie carries a random id; the
/// store keeps only its SHA-256 (`id_hash`), so a copy of the database signs nobody in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalSessionRow {
    /// SHA-256 of the session id (hex).
    pub id_hash: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The subject signed in.
    pub subject_id: String,
    /// The token every form of the session carries (CSRF).
    pub csrf: String,
    /// The language chosen (`en`, `fr`, …).
    pub lang: String,
    /// Signed in at.
    pub created_us: i64,
    /// Last request (idle expiry counts from it).
    pub last_us: i64,
}

/// A link a data subject made to forward a package to another party. The
/// link carries a random token; the store keeps only its SHA-256 (`id_hash`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRow {
    /// SHA-256 of the token (hex).
    pub id_hash: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The request whose package it hands over.
    pub request_id: String,
    /// Who it is for, as the subject named them.
    pub recipient: String,
    /// Made at.
    pub created_us: i64,
    /// Not usable from this instant on.
    pub expires_us: i64,
    /// Downloads allowed.
    pub max_downloads: i64,
    /// Downloads made.
    pub downloads: i64,
    /// Withdrawn by the subject at.
    pub revoked_us: Option<i64>,
}

/// A request whose notifications to its data subject are still being derived
/// (`dsr-api::notify`): the subject's address is captured here when the request is first
/// seen, because a completed erasure removes every other copy of it before its
/// "completed" notice is queued. The row goes when the request's last notice is
/// recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyWatch {
    /// The tenant.
    pub tenant: TenantId,
    /// The request.
    pub request_id: String,
    /// Where its notices go (`None`: the subject has no address; notices are skipped).
    pub address: Option<String>,
    /// Seen at.
    pub created_us: i64,
}

/// One notification to a data subject, as stored: one per request and event
/// (`received`, `extended-1`, `extended-2`, …, `completed`, `refused`), so recording it
/// again writes nothing. The address and the message are kept only while it is
/// `pending`: the sender clears them when it is `sent` or `failed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    /// The tenant.
    pub tenant: TenantId,
    /// The request.
    pub request_id: String,
    /// What it tells.
    pub event: String,
    /// `pending`, `sent`, `failed` (gave up) or `skipped` (no address).
    pub state: String,
    /// The subject's address, while pending.
    pub address: Option<String>,
    /// The rendered message (JSON), while pending.
    pub message: Option<String>,
    /// Attempts made.
    pub attempts: i64,
    /// Next attempt not before.
    pub next_us: i64,
    /// The last error (or why it was skipped).
    pub last_error: Option<String>,
    /// Recorded at.
    pub created_us: i64,
    /// Sent at.
    pub sent_us: Option<i64>,
}

/// The records a server keeps beside the engine's (see the module docs).
#[async_trait]
pub trait ServerStore: Store + std::fmt::Debug {
    /// Every tenant, by name.
    async fn tenant_names(&self) -> Result<Vec<TenantId>>;
    /// Creates a tenant; `false` if it existed.
    async fn add_tenant(&self, tenant: &TenantId) -> Result<bool>;
    /// Whether the tenant exists.
    async fn has_tenant(&self, tenant: &TenantId) -> Result<bool>;
    /// Every subject of the tenant, and the feed position they reflect: follow
    /// [`ServerStore::subject_changes`] from there. A store whose database only one
    /// process writes (SQLite) has no feed and returns position 0.
    async fn load_subjects(&self, tenant: &TenantId) -> Result<(Vec<Subject>, i64)>;
    /// Whether other processes may write the directory, so a server must follow
    /// [`ServerStore::subject_changes`] to keep its index current.
    fn has_change_feed(&self) -> bool;
    /// The directory's changes after position `after`, oldest first (at most `limit`),
    /// each with the subject's value now. A change numbered by a transaction still in
    /// flight may commit after a later one: a follower re-reads a window behind its
    /// cursor (see `docs/operations.md`).
    async fn subject_changes(
        &self,
        tenant: &TenantId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<SubjectChange>>;
    /// One subject.
    async fn get_subject(&self, tenant: &TenantId, id: &SubjectId) -> Result<Option<Subject>>;
    /// Inserts or replaces subjects in one transaction (an id given twice keeps its
    /// last value).
    async fn put_subjects(&self, tenant: &TenantId, subjects: &[Subject]) -> Result<UpsertCounts>;
    /// Deletes a subject; `false` if there was none.
    async fn remove_subject(&self, tenant: &TenantId, id: &SubjectId) -> Result<bool>;
    /// How many identifiers of erased subjects the tenant's suppression list holds.
    async fn suppression_size(&self, tenant: &TenantId) -> Result<u64>;
    /// Whether an import refuses (rather than warns about) a subject with an
    /// identifier of a person erased earlier.
    async fn refuses_erased(&self, tenant: &TenantId) -> Result<bool>;

    /// Inserts a new client; `false` when the tenant already has a client of that name.
    async fn insert_client(&self, c: &ClientRow) -> Result<bool>;
    /// One client by id.
    async fn client(&self, id: &str) -> Result<Option<ClientRow>>;
    /// One client of a tenant by name.
    async fn client_by_name(&self, tenant: &TenantId, name: &str) -> Result<Option<ClientRow>>;
    /// The clients of a tenant (every tenant's with `None`), by tenant and name.
    async fn clients(&self, tenant: Option<&TenantId>) -> Result<Vec<ClientRow>>;
    /// Replaces a live client's secret hash; `false` when there is no such live client.
    async fn rotate_client(&self, id: &str, secret_hash: &str, at_us: i64) -> Result<bool>;
    /// Revokes a client; `false` when there is no such live client.
    async fn revoke_client(&self, id: &str, at_us: i64) -> Result<bool>;
    /// Records the last use of clients (never moving a date back).
    async fn touch_clients(&self, used: &[(String, i64)]) -> Result<()>;
    /// The server key called `name`: the stored one, or `fresh` stored now (the first
    /// writer wins, so every process and node agrees on one key). Keys are any length
    /// (a 32-byte secret, an RSA key and its certificate).
    async fn server_key(&self, name: &str, fresh: &[u8]) -> Result<Vec<u8>>;
    /// The server key called `name` if one is stored (nothing is written): a key that
    /// is costly to make (OpenDSR's RSA key) is made only when there is none.
    async fn stored_server_key(&self, name: &str) -> Result<Option<Vec<u8>>>;

    /// Registers a callback URL for a request (again: no change).
    async fn add_callback(&self, tenant: &TenantId, request_id: &str, url: &str) -> Result<()>;
    /// Callbacks still watching their request.
    async fn open_callbacks(&self) -> Result<Vec<OpenCallback>>;
    /// Records a status to report: a pending delivery, and the callback's last status
    /// (closed when `last`), in one transaction. `false` when that status was already
    /// recorded as the last one (nothing written), so several nodes watching one
    /// request record each status once.
    async fn record_callback_status(
        &self,
        cb: &OpenCallback,
        status: &str,
        body: &str,
        last: bool,
        now_us: i64,
    ) -> Result<bool>;
    /// Takes pending deliveries whose time has come, oldest first, and holds them until
    /// `lease_until_us` (their `next_us` is moved there), so another node does not send
    /// them too; the taker records the attempt with [`ServerStore::update_delivery`]. A
    /// delivery waits while an earlier one to the same URL for the same request is
    /// pending (in order).
    async fn take_due_deliveries(
        &self,
        now_us: i64,
        lease_until_us: i64,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>>;
    /// Records an attempt's result.
    async fn update_delivery(&self, d: &DeliveryRow) -> Result<()>;
    /// The deliveries of one request, in order.
    async fn deliveries(&self, tenant: &TenantId, request_id: &str) -> Result<Vec<DeliveryRow>>;
    /// The request an idempotency key of a client made, with the SHA-256 of the body
    /// it came with: `(body_sha256, request_id)`.
    async fn idempotency_key(
        &self,
        tenant: &TenantId,
        client_id: &str,
        key: &str,
    ) -> Result<Option<(String, String)>>;
    /// Records the request an idempotency key made (the first record stays).
    async fn put_idempotency_key(
        &self,
        tenant: &TenantId,
        client_id: &str,
        key: &str,
        body_sha256: &str,
        request_id: &str,
        now_us: i64,
    ) -> Result<()>;

    // The self-service portal (`dsr-api::portal`).

    /// Records a sign-in assertion's id as used; `false` if it was used before (a
    /// replay). Ids whose assertion expired before `now_us` are forgotten first.
    async fn use_assertion(
        &self,
        tenant: &TenantId,
        jti: &str,
        expires_us: i64,
        now_us: i64,
    ) -> Result<bool>;
    /// Stores a new portal session.
    async fn put_portal_session(&self, s: &PortalSessionRow) -> Result<()>;
    /// A portal session by the hash of its id.
    async fn portal_session(&self, id_hash: &str) -> Result<Option<PortalSessionRow>>;
    /// Records a session's last request (and its language).
    async fn touch_portal_session(&self, id_hash: &str, last_us: i64, lang: &str) -> Result<()>;
    /// Ends one session (sign-out, expiry).
    async fn end_portal_session(&self, id_hash: &str) -> Result<()>;
    /// Ends every session idle since before `last_us`; how many.
    async fn end_idle_portal_sessions(&self, last_us: i64) -> Result<u64>;
    /// Stores a new forwarding link.
    async fn put_share(&self, s: &ShareRow) -> Result<()>;
    /// A forwarding link by the hash of its token.
    async fn share(&self, id_hash: &str) -> Result<Option<ShareRow>>;
    /// The forwarding links of one request, newest first.
    async fn shares(&self, tenant: &TenantId, request_id: &str) -> Result<Vec<ShareRow>>;
    /// Counts one download, in one step with the checks: only while the link is not
    /// withdrawn, not expired at `now_us` and under its number of downloads. The row
    /// after the count, or `None` when the link may not be used.
    async fn take_share_download(&self, id_hash: &str, now_us: i64) -> Result<Option<ShareRow>>;
    /// Withdraws a link of the tenant; `false` if there is none (or it was withdrawn).
    async fn revoke_share(&self, tenant: &TenantId, id_hash: &str, at_us: i64) -> Result<bool>;
    /// Removes the links that expired before `before_us` (their recipients' names go
    /// with them; the audit log keeps the sealed record); how many.
    async fn remove_expired_shares(&self, before_us: i64) -> Result<u64>;

    // Notifications to data subjects (`dsr-api::notify`).

    /// Starts watching a request for notifications (again: no change, the first
    /// address stays); `false` if it was watched already. (A request whose watch was
    /// closed may be watched again; its notices recorded before are not recorded
    /// twice.)
    async fn watch_notifications(&self, w: &NotifyWatch) -> Result<bool>;
    /// Every request still watched.
    async fn notify_watches(&self) -> Result<Vec<NotifyWatch>>;
    /// Records notifications of one request, in one transaction: each row whose event
    /// is not recorded yet is inserted (the others are left as they are), and with
    /// `close` the request's watch is removed (its address with it). How many rows were
    /// inserted.
    async fn record_notifications(
        &self,
        tenant: &TenantId,
        request_id: &str,
        rows: &[NotificationRow],
        close: bool,
    ) -> Result<usize>;
    /// Takes pending notifications whose time has come, oldest first, and holds them
    /// until `lease_until_us` (their `next_us` is moved there), as
    /// [`ServerStore::take_due_deliveries`] does.
    async fn take_due_notifications(
        &self,
        now_us: i64,
        lease_until_us: i64,
        limit: usize,
    ) -> Result<Vec<NotificationRow>>;
    /// Records an attempt's result: every field but the keys, as given.
    async fn update_notification(&self, n: &NotificationRow) -> Result<()>;
    /// The notifications of one request, in the order they were recorded.
    async fn notifications(
        &self,
        tenant: &TenantId,
        request_id: &str,
    ) -> Result<Vec<NotificationRow>>;
}
