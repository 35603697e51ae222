//! Numbered schema migrations, applied in order on open and recorded in
//! `PRAGMA user_version`. Append new migrations at the end; never edit a released one.

use crate::{Error, Result};
use rusqlite::Connection;

/// Every migration, in order: `(version, SQL)`. Version N is applied when the database is
/// at N-1.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE subjects (
        tenant     TEXT NOT NULL,
        id         TEXT NOT NULL,
        kind       TEXT NOT NULL,
        doc        TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
    ) WITHOUT ROWID;
    CREATE TABLE tenant_settings (
        tenant         TEXT PRIMARY KEY,
        default_region TEXT
    ) WITHOUT ROWID;",
    ),
    (
        2,
        // The request engine (dsr-engine): requests, per-service tasks, the hash-chained
        // audit log (append-only, enforced by triggers), export packages, and the
        // conversations / attachments of the built-in conversations service.
        "CREATE TABLE requests (
        tenant     TEXT NOT NULL,
        id         TEXT NOT NULL,
        type       TEXT NOT NULL,
        status     TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        merge_set  TEXT,
        parent_id  TEXT,
        created_us INTEGER NOT NULL,
        due_us     INTEGER NOT NULL,
        legal_us   INTEGER NOT NULL,
        version    INTEGER NOT NULL,
        doc        TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
    ) WITHOUT ROWID;
    CREATE INDEX requests_by_subject ON requests (tenant, subject_id, type, status);
    CREATE INDEX requests_by_merge_set ON requests (tenant, merge_set, type, status)
        WHERE merge_set IS NOT NULL;
    CREATE INDEX requests_by_status ON requests (tenant, status, created_us);
    CREATE TABLE tasks (
        tenant      TEXT NOT NULL,
        request_id  TEXT NOT NULL,
        service     TEXT NOT NULL,
        status      TEXT NOT NULL,
        attempt     INTEGER NOT NULL,
        version     INTEGER NOT NULL,
        lease_owner TEXT,
        lease_us    INTEGER,
        next_us     INTEGER NOT NULL,
        updated_us  INTEGER NOT NULL,
        last_error  TEXT,
        outcome     TEXT,
        PRIMARY KEY (tenant, request_id, service)
    ) WITHOUT ROWID;
    CREATE INDEX tasks_open ON tasks (tenant, status, next_us)
        WHERE status IN ('pending', 'retry_wait', 'running');
    CREATE TABLE audit_log (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        tenant     TEXT NOT NULL,
        idx        INTEGER NOT NULL,
        at         TEXT NOT NULL,
        actor      TEXT NOT NULL,
        action     TEXT NOT NULL,
        request_id TEXT,
        service    TEXT,
        subject_id TEXT,
        detail     TEXT NOT NULL,
        prev_hash  TEXT NOT NULL,
        hash       TEXT NOT NULL,
        UNIQUE (tenant, idx)
    );
    CREATE INDEX audit_by_request ON audit_log (tenant, request_id);
    CREATE TABLE audit_head (
        tenant TEXT PRIMARY KEY,
        idx    INTEGER NOT NULL,
        hash   TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TABLE packages (
        tenant     TEXT NOT NULL,
        request_id TEXT NOT NULL,
        doc        TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        PRIMARY KEY (tenant, request_id)
    ) WITHOUT ROWID;
    CREATE TABLE conversations (
        tenant     TEXT NOT NULL,
        id         TEXT NOT NULL,
        subject_id TEXT,
        channel    TEXT NOT NULL,
        started_at TEXT NOT NULL,
        body       TEXT NOT NULL,
        PRIMARY KEY (tenant, id)
    ) WITHOUT ROWID;
    CREATE INDEX conversations_by_subject ON conversations (tenant, subject_id);
    CREATE TABLE attachments (
        tenant              TEXT NOT NULL,
        id                  TEXT NOT NULL,
        conversation_id     TEXT NOT NULL,
        name                TEXT NOT NULL,
        content_type        TEXT NOT NULL,
        data                BLOB NOT NULL,
        uploaded_by_subject INTEGER NOT NULL,
        PRIMARY KEY (tenant, id)
    ) WITHOUT ROWID;
    CREATE INDEX attachments_by_conversation ON attachments (tenant, conversation_id);",
    ),
    (
        3,
        // The request engine: claiming reads one status at a time in due order (a partial
        // index over three statuses is not usable for a query on one of them).
        "CREATE INDEX tasks_claim ON tasks (tenant, status, next_us);
    DROP INDEX tasks_open;",
    ),
    (
        4,
        // dsr's own copies of personal data (docs/engine.md, "What dsr keeps"): the
        // tenant's secret for keyed references and hashes, one sealing key per subject
        // (destroyed by an erasure: crypto-shredding of sealed audit fields), the
        // suppression list of erased subjects' identifiers (keyed hashes only), and the
        // per-tenant choice to refuse (instead of warn about) their re-import.
        "CREATE TABLE tenant_secrets (
        tenant TEXT PRIMARY KEY,
        secret BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE subject_keys (
        tenant      TEXT NOT NULL,
        subject_ref TEXT NOT NULL,
        key         BLOB NOT NULL,
        PRIMARY KEY (tenant, subject_ref)
    ) WITHOUT ROWID;
    CREATE TABLE suppression (
        tenant     TEXT NOT NULL,
        hash       TEXT NOT NULL,
        request_id TEXT NOT NULL,
        erased_us  INTEGER NOT NULL,
        PRIMARY KEY (tenant, hash)
    ) WITHOUT ROWID;
    ALTER TABLE tenant_settings ADD COLUMN refuse_erased INTEGER NOT NULL DEFAULT 0;",
    ),
    (
        5,
        // The HTTP server (dsr-api): API clients of a tenant (OAuth 2.0 clients and
        // static API tokens; only a SHA-256 hash of each secret is kept), the server's
        // own keys (access-token signing, callback signing), and status callbacks with
        // their deliveries.
        "CREATE TABLE api_clients (
        id           TEXT PRIMARY KEY,
        tenant       TEXT NOT NULL,
        name         TEXT NOT NULL,
        kind         TEXT NOT NULL,
        scopes       TEXT NOT NULL,
        secret_hash  TEXT NOT NULL,
        created_us   INTEGER NOT NULL,
        last_used_us INTEGER,
        rotated_us   INTEGER,
        revoked_us   INTEGER,
        UNIQUE (tenant, name)
    ) WITHOUT ROWID;
    CREATE TABLE server_keys (
        name TEXT PRIMARY KEY,
        key  BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE callbacks (
        tenant      TEXT NOT NULL,
        request_id  TEXT NOT NULL,
        url         TEXT NOT NULL,
        last_status TEXT,
        open        INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (tenant, request_id, url)
    ) WITHOUT ROWID;
    CREATE INDEX callbacks_open ON callbacks (open) WHERE open = 1;
    CREATE TABLE callback_deliveries (
        tenant       TEXT NOT NULL,
        request_id   TEXT NOT NULL,
        url          TEXT NOT NULL,
        seq          INTEGER NOT NULL,
        status       TEXT NOT NULL,
        body         TEXT NOT NULL,
        state        TEXT NOT NULL,
        attempts     INTEGER NOT NULL,
        next_us      INTEGER NOT NULL,
        last_error   TEXT,
        delivered_us INTEGER,
        PRIMARY KEY (tenant, request_id, url, seq)
    ) WITHOUT ROWID;
    CREATE INDEX callback_deliveries_due ON callback_deliveries (state, next_us);
    CREATE TABLE idempotency_keys (
        tenant      TEXT NOT NULL,
        client_id   TEXT NOT NULL,
        key         TEXT NOT NULL,
        body_sha256 TEXT NOT NULL,
        request_id  TEXT NOT NULL,
        created_us  INTEGER NOT NULL,
        PRIMARY KEY (tenant, client_id, key)
    ) WITHOUT ROWID;",
    ),
    (
        6,
        // Manual services (G-18): a task waiting on a person keeps to whom it is
        // assigned, the instructions, the reminders recorded and the person's answer
        // (JSON, `dsr_engine::ManualTask`). Waiting tasks are listed through tasks_claim
        // (tenant, status, …).
        "ALTER TABLE tasks ADD COLUMN manual TEXT;",
    ),
    (
        7,
        // The self-service portal (`dsr-api::portal`): sign-in assertion ids already
        // used (single use, kept until they expire), subjects' sessions and the links
        // they made to forward a package. Sessions and links are stored by the SHA-256
        // of their secret, never the secret.
        "CREATE TABLE portal_assertions (
        tenant     TEXT NOT NULL,
        jti        TEXT NOT NULL,
        expires_us INTEGER NOT NULL,
        PRIMARY KEY (tenant, jti)
    ) WITHOUT ROWID;
    CREATE INDEX portal_assertions_expiry ON portal_assertions (expires_us);
    CREATE TABLE portal_sessions (
        id_hash    TEXT PRIMARY KEY,
        tenant     TEXT NOT NULL,
        subject_id TEXT NOT NULL,
        csrf       TEXT NOT NULL,
        lang       TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        last_us    INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX portal_sessions_idle ON portal_sessions (last_us);
    CREATE TABLE portal_shares (
        id_hash       TEXT PRIMARY KEY,
        tenant        TEXT NOT NULL,
        request_id    TEXT NOT NULL,
        recipient     TEXT NOT NULL,
        created_us    INTEGER NOT NULL,
        expires_us    INTEGER NOT NULL,
        max_downloads INTEGER NOT NULL,
        downloads     INTEGER NOT NULL DEFAULT 0,
        revoked_us    INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX portal_shares_by_request ON portal_shares (tenant, request_id);",
    ),
    (
        8,
        // Notifications to data subjects (`dsr-api::notify`): the requests still
        // watched, with the address captured when first seen (a completed erasure
        // removes every other copy before its last notice), and one row per request and
        // event. The address and message stay only while a notice is pending.
        "CREATE TABLE notify_watches (
        tenant     TEXT NOT NULL,
        request_id TEXT NOT NULL,
        address    TEXT,
        created_us INTEGER NOT NULL,
        PRIMARY KEY (tenant, request_id)
    ) WITHOUT ROWID;
    CREATE TABLE notifications (
        tenant     TEXT NOT NULL,
        request_id TEXT NOT NULL,
        event      TEXT NOT NULL,
        state      TEXT NOT NULL,
        address    TEXT,
        message    TEXT,
        attempts   INTEGER NOT NULL DEFAULT 0,
        next_us    INTEGER NOT NULL,
        last_error TEXT,
        created_us INTEGER NOT NULL,
        sent_us    INTEGER,
        PRIMARY KEY (tenant, request_id, event)
    ) WITHOUT ROWID;
    CREATE INDEX notifications_due ON notifications (state, next_us);",
    ),
    (
        9,
        // The subjects' change feed, for index snapshots (`dsr-ops::snapshot`): a
        // process starting from a snapshot taken at position `seq` replays the changes
        // after it. Inserts and updates are recorded by triggers (no write path can miss
        // them); a deletion by `SqliteStore::delete_subject` in the same transaction,
        // which also replaces the id in the subject's earlier rows by `id_hash`, a keyed
        // hash under `feed_key` (an erased person's id does not stay in clear). A
        // random `nonce` per row tells a database restored from a backup, whose numbers
        // restart lower, from the one a snapshot was written from; `store_identity`
        // tells this database from another one at the same path. Rows a snapshot
        // covers are pruned when it is written. No AUTOINCREMENT (it costs a write per
        // change): pruning keeps each tenant's last row, so the largest `seq` is never
        // deleted and numbers are not reused.
        "CREATE TABLE subject_changes (
        seq     INTEGER PRIMARY KEY,
        tenant  TEXT NOT NULL,
        id      TEXT,
        id_hash TEXT,
        nonce   INTEGER NOT NULL DEFAULT (random())
    );
    CREATE INDEX subject_changes_by_tenant ON subject_changes (tenant, seq);
    CREATE INDEX subject_changes_by_id ON subject_changes (tenant, id);
    CREATE TRIGGER subjects_inserted AFTER INSERT ON subjects BEGIN
        INSERT INTO subject_changes (tenant, id) VALUES (NEW.tenant, NEW.id);
    END;
    CREATE TRIGGER subjects_updated AFTER UPDATE ON subjects BEGIN
        INSERT INTO subject_changes (tenant, id) VALUES (NEW.tenant, NEW.id);
    END;
    CREATE TABLE store_identity (id TEXT NOT NULL, feed_key BLOB NOT NULL);
    INSERT INTO store_identity (id, feed_key) VALUES (lower(hex(randomblob(16))), randomblob(32));",
    ),
];

/// Applies the pending migrations, each in its own transaction.
pub fn apply(conn: &mut Connection, path: &str) -> Result<()> {
    let wrap = |source| Error::Sqlite {
        path: path.to_owned(),
        sqlite: source,
    };
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(wrap)?;
    let known = MIGRATIONS.last().map_or(0, |m| m.0);
    if current > known {
        return Err(Error::TooNew {
            path: path.to_owned(),
            found: current,
            known,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        // Under the write lock, the version is read again: another process opening the
        // same new file at the same moment may have applied this migration already.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(wrap)?;
        let now: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(wrap)?;
        if now >= *version {
            continue;
        }
        tx.execute_batch(sql).map_err(wrap)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
    }
    Ok(())
}
