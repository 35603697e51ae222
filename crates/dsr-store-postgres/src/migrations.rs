//! Numbered migrations: each runs once, in order, in its own transaction, under an
//! advisory lock so that nodes starting together do not race.

use crate::{Error, Result};

/// The schema, one entry per version. Never edit a released entry: add one.
const MIGRATIONS: &[&str] = &[
    // 1: everything the SQLite store holds that the engine and the directory need.
    "CREATE TABLE tenants (
        name TEXT PRIMARY KEY,
        created_us BIGINT NOT NULL,
        default_region TEXT,
        refuse_erased BOOLEAN NOT NULL DEFAULT FALSE,
        secret BYTEA
     );
     CREATE TABLE subjects (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        doc TEXT NOT NULL,
        updated_us BIGINT NOT NULL,
        PRIMARY KEY (tenant, id)
     );
     -- The change feed every node's index follows (insert-only).
     CREATE TABLE subject_changes (
        seq BIGSERIAL PRIMARY KEY,
        tenant TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        deleted BOOLEAN NOT NULL
     );
     CREATE INDEX subject_changes_by_tenant ON subject_changes (tenant, seq);
     CREATE TABLE requests (
        tenant TEXT NOT NULL,
        id TEXT NOT NULL,
        type TEXT NOT NULL,
        status TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        merge_set TEXT,
        parent_id TEXT,
        created_us BIGINT NOT NULL,
        due_us BIGINT NOT NULL,
        legal_us BIGINT NOT NULL,
        version BIGINT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
     );
     CREATE INDEX requests_by_created ON requests (tenant, created_us, id);
     CREATE INDEX requests_by_subject ON requests (tenant, subject_id, type);
     CREATE INDEX requests_by_merge_set ON requests (tenant, merge_set, type) WHERE merge_set IS NOT NULL;
     CREATE TABLE tasks (
        tenant TEXT NOT NULL,
        request_id TEXT NOT NULL,
        service TEXT NOT NULL,
        status TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        version BIGINT NOT NULL,
        lease_owner TEXT,
        lease_us BIGINT,
        next_us BIGINT NOT NULL,
        updated_us BIGINT NOT NULL,
        last_error TEXT,
        outcome TEXT,
        PRIMARY KEY (tenant, request_id, service)
     );
     -- Claims: due tasks in next_us order, running tasks by lease end. Partial, so an
     -- index holds only the tasks a claim can take.
     CREATE INDEX tasks_due ON tasks (tenant, next_us) WHERE status IN ('pending', 'retry_wait');
     CREATE INDEX tasks_leased ON tasks (tenant, lease_us) WHERE status = 'running';
     CREATE TABLE audit_log (
        tenant TEXT NOT NULL,
        idx BIGINT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        request_id TEXT,
        service TEXT,
        subject_id TEXT,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (tenant, idx)
     );
     CREATE FUNCTION dsr_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
     CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
        FOR EACH ROW EXECUTE FUNCTION dsr_audit_append_only();
     CREATE TABLE packages (
        tenant TEXT NOT NULL,
        request_id TEXT NOT NULL,
        doc TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        PRIMARY KEY (tenant, request_id)
     );
     CREATE TABLE subject_keys (
        tenant TEXT NOT NULL,
        subject_ref TEXT NOT NULL,
        key BYTEA NOT NULL,
        PRIMARY KEY (tenant, subject_ref)
     );
     CREATE TABLE suppression (
        tenant TEXT NOT NULL,
        hash TEXT NOT NULL,
        request_id TEXT NOT NULL,
        erased_us BIGINT NOT NULL,
        PRIMARY KEY (tenant, hash)
     );",
    // 2: the HTTP server's records (dsr_engine::server_store): API clients (only a hash
    // of each secret), the server's own keys, status callbacks with their deliveries,
    // idempotency keys.
    "CREATE TABLE api_clients (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        scopes TEXT NOT NULL,
        secret_hash TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        last_used_us BIGINT,
        rotated_us BIGINT,
        revoked_us BIGINT,
        UNIQUE (tenant, name)
     );
     CREATE TABLE server_keys (
        name TEXT PRIMARY KEY,
        key BYTEA NOT NULL
     );
     CREATE TABLE callbacks (
        tenant TEXT NOT NULL,
        request_id TEXT NOT NULL,
        url TEXT NOT NULL,
        last_status TEXT,
        open BOOLEAN NOT NULL DEFAULT TRUE,
        PRIMARY KEY (tenant, request_id, url)
     );
     CREATE INDEX callbacks_open ON callbacks (tenant) WHERE open;
     CREATE TABLE callback_deliveries (
        tenant TEXT NOT NULL,
        request_id TEXT NOT NULL,
        url TEXT NOT NULL,
        seq BIGINT NOT NULL,
        status TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        next_us BIGINT NOT NULL,
        last_error TEXT,
        delivered_us BIGINT,
        PRIMARY KEY (tenant, request_id, url, seq)
     );
     CREATE INDEX callback_deliveries_due ON callback_deliveries (next_us) WHERE state = 'pending';
     CREATE TABLE idempotency_keys (
        tenant TEXT NOT NULL,
        client_id TEXT NOT NULL,
        key TEXT NOT NULL,
        body_sha256 TEXT NOT NULL,
        request_id TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        PRIMARY KEY (tenant, client_id, key)
     );",
    // 3: manual services (G-18): a task waiting on a person keeps its assignment,
    // reminders and the person's answer (JSON, `dsr_engine::ManualTask`); the tasks
    // waiting on a person are listed by status.
    "ALTER TABLE tasks ADD COLUMN manual TEXT;
     CREATE INDEX tasks_waiting ON tasks (tenant, request_id) WHERE status = 'waiting';",
    // 4: the self-service portal (dsr-api::portal): used sign-in assertion ids (single
    // use, kept until they expire), subjects' sessions and forwarding links, both by
    // the SHA-256 of their secret.
    "CREATE TABLE portal_assertions (
        tenant TEXT NOT NULL,
        jti TEXT NOT NULL,
        expires_us BIGINT NOT NULL,
        PRIMARY KEY (tenant, jti)
     );
     CREATE INDEX portal_assertions_expiry ON portal_assertions (expires_us);
     CREATE TABLE portal_sessions (
        id_hash TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        csrf TEXT NOT NULL,
        lang TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        last_us BIGINT NOT NULL
     );
     CREATE INDEX portal_sessions_idle ON portal_sessions (last_us);
     CREATE TABLE portal_shares (
        id_hash TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        request_id TEXT NOT NULL,
        recipient TEXT NOT NULL,
        created_us BIGINT NOT NULL,
        expires_us BIGINT NOT NULL,
        max_downloads BIGINT NOT NULL,
        downloads BIGINT NOT NULL DEFAULT 0,
        revoked_us BIGINT
     );
     CREATE INDEX portal_shares_by_request ON portal_shares (tenant, request_id);",
    // 5: notifications to data subjects (dsr-api::notify): the requests still watched,
    // with the address captured when first seen, and one row per request and event; the
    // address and message stay only while a notice is pending.
    "CREATE TABLE notify_watches (
        tenant TEXT NOT NULL,
        request_id TEXT NOT NULL,
        address TEXT,
        created_us BIGINT NOT NULL,
        PRIMARY KEY (tenant, request_id)
     );
     CREATE TABLE notifications (
        tenant TEXT NOT NULL,
        request_id TEXT NOT NULL,
        event TEXT NOT NULL,
        state TEXT NOT NULL,
        address TEXT,
        message TEXT,
        attempts BIGINT NOT NULL DEFAULT 0,
        next_us BIGINT NOT NULL,
        last_error TEXT,
        created_us BIGINT NOT NULL,
        sent_us BIGINT,
        PRIMARY KEY (tenant, request_id, event)
     );
     CREATE INDEX notifications_due ON notifications (next_us) WHERE state = 'pending';",
    // 6: audit entries are written by each transaction into audit_pending, without the
    // chain; a sealer (under the tenant's advisory lock, in its own short transaction)
    // chains them into audit_log in commit order of its reads. Writers no longer queue
    // on the tenant's chain (issue 9's throughput).
    "CREATE TABLE audit_pending (
        seq BIGSERIAL PRIMARY KEY,
        tenant TEXT NOT NULL,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        request_id TEXT,
        service TEXT,
        subject_id TEXT,
        detail TEXT NOT NULL
     );
     CREATE INDEX audit_pending_by_tenant ON audit_pending (tenant, seq);",
    // 7: an erased person's id leaves the subject change feed: a deletion scrubs the id
    // from the subject's earlier changes, and deletions' own ids are scrubbed once they
    // are older than `subjects::DELETED_ID_RETENTION` (followers read them long before).
    "ALTER TABLE subject_changes ALTER COLUMN subject_id DROP NOT NULL;
     ALTER TABLE subject_changes ADD COLUMN recorded_us BIGINT NOT NULL
        DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
     CREATE INDEX subject_changes_by_subject ON subject_changes (tenant, subject_id)
        WHERE subject_id IS NOT NULL;
     CREATE INDEX subject_changes_named_deletions ON subject_changes (tenant, recorded_us)
        WHERE deleted AND subject_id IS NOT NULL;",
];

/// Applies the migrations not applied yet.
pub(crate) async fn apply(client: &mut deadpool_postgres::Object) -> Result<()> {
    let tx = client.transaction().await?;
    // One migrator at a time across nodes (the lock ends with the transaction).
    tx.execute("SELECT pg_advisory_xact_lock(7262637300001)", &[])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS dsr_migrations (
            version INTEGER PRIMARY KEY,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let row = tx
        .query_one("SELECT coalesce(max(version), 0) FROM dsr_migrations", &[])
        .await?;
    let current: i32 = row.get(0);
    let known = MIGRATIONS.len() as i32;
    if current > known {
        return Err(Error::TooNew {
            found: current,
            known,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO dsr_migrations (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
