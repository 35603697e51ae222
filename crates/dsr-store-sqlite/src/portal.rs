//! Persistence for the self-service portal (migration 7): used sign-in assertion ids,
//! subjects' sessions and forwarding links. Only stores and loads; what a session may
//! see and when a link may be used are decided in `dsr-api::portal` (the one check a
//! store must make in the same step as its write — a link's download count — is
//! [`SqliteStore::take_share_download`]'s conditional update).

use crate::{Result, SqliteStore};
use dsr_model::TenantId;
use rusqlite::{OptionalExtension, params};

pub use dsr_engine::server_store::{PortalSessionRow, ShareRow};

fn tenant_of(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<TenantId> {
    let t: String = r.get(i)?;
    TenantId::new(t).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

const SESSION_COLS: &str = "id_hash, tenant, subject_id, csrf, lang, created_us, last_us";

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PortalSessionRow> {
    Ok(PortalSessionRow {
        id_hash: r.get(0)?,
        tenant: tenant_of(r, 1)?,
        subject_id: r.get(2)?,
        csrf: r.get(3)?,
        lang: r.get(4)?,
        created_us: r.get(5)?,
        last_us: r.get(6)?,
    })
}

const SHARE_COLS: &str = "id_hash, tenant, request_id, recipient, created_us, expires_us, max_downloads, downloads, revoked_us";

fn share_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ShareRow> {
    Ok(ShareRow {
        id_hash: r.get(0)?,
        tenant: tenant_of(r, 1)?,
        request_id: r.get(2)?,
        recipient: r.get(3)?,
        created_us: r.get(4)?,
        expires_us: r.get(5)?,
        max_downloads: r.get(6)?,
        downloads: r.get(7)?,
        revoked_us: r.get(8)?,
    })
}

impl SqliteStore {
    /// Records an assertion id as used; `false` if it was (see
    /// `ServerStore::use_assertion`).
    pub fn use_assertion(
        &self,
        tenant: &TenantId,
        jti: &str,
        expires_us: i64,
        now_us: i64,
    ) -> Result<bool> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM portal_assertions WHERE expires_us < ?1",
                params![now_us],
            )?;
            let n = tx.execute(
                "INSERT OR IGNORE INTO portal_assertions (tenant, jti, expires_us) VALUES (?1, ?2, ?3)",
                params![tenant.as_str(), jti, expires_us],
            )?;
            tx.commit()?;
            Ok(n == 1)
        })
    }

    /// Stores a new session.
    pub fn put_portal_session(&self, s: &PortalSessionRow) -> Result<()> {
        self.with_conn(|conn| {
            conn.execute(
                &format!("INSERT INTO portal_sessions ({SESSION_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                params![s.id_hash, s.tenant.as_str(), s.subject_id, s.csrf, s.lang, s.created_us, s.last_us],
            )?;
            Ok(())
        })
    }

    /// A session by the hash of its id.
    pub fn portal_session(&self, id_hash: &str) -> Result<Option<PortalSessionRow>> {
        self.with_conn(|conn| {
            conn.query_row(
                &format!("SELECT {SESSION_COLS} FROM portal_sessions WHERE id_hash = ?1"),
                params![id_hash],
                session_row,
            )
            .optional()
        })
    }

    /// Records a session's last request and language.
    pub fn touch_portal_session(&self, id_hash: &str, last_us: i64, lang: &str) -> Result<()> {
        self.with_conn(|conn| {
            conn.execute(
                "UPDATE portal_sessions SET last_us = max(last_us, ?2), lang = ?3 WHERE id_hash = ?1",
                params![id_hash, last_us, lang],
            )?;
            Ok(())
        })
    }

    /// Ends a session.
    pub fn end_portal_session(&self, id_hash: &str) -> Result<()> {
        self.with_conn(|conn| {
            conn.execute(
                "DELETE FROM portal_sessions WHERE id_hash = ?1",
                params![id_hash],
            )?;
            Ok(())
        })
    }

    /// Ends the sessions idle since before `last_us`.
    pub fn end_idle_portal_sessions(&self, last_us: i64) -> Result<u64> {
        self.with_conn(|conn| {
            let n = conn.execute(
                "DELETE FROM portal_sessions WHERE last_us < ?1",
                params![last_us],
            )?;
            Ok(n as u64)
        })
    }

    /// Stores a new forwarding link.
    pub fn put_share(&self, s: &ShareRow) -> Result<()> {
        self.with_conn(|conn| {
            conn.execute(
                &format!("INSERT INTO portal_shares ({SHARE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
                params![
                    s.id_hash,
                    s.tenant.as_str(),
                    s.request_id,
                    s.recipient,
                    s.created_us,
                    s.expires_us,
                    s.max_downloads,
                    s.downloads,
                    s.revoked_us
                ],
            )?;
            Ok(())
        })
    }

    /// A link by the hash of its token.
    pub fn share(&self, id_hash: &str) -> Result<Option<ShareRow>> {
        self.with_conn(|conn| {
            conn.query_row(
                &format!("SELECT {SHARE_COLS} FROM portal_shares WHERE id_hash = ?1"),
                params![id_hash],
                share_row,
            )
            .optional()
        })
    }

    /// The links of a request, newest first.
    pub fn shares(&self, tenant: &TenantId, request_id: &str) -> Result<Vec<ShareRow>> {
        self.with_conn(|conn| {
            let mut st = conn.prepare(&format!(
                "SELECT {SHARE_COLS} FROM portal_shares WHERE tenant = ?1 AND request_id = ?2 ORDER BY created_us DESC, id_hash"
            ))?;
            st.query_map(params![tenant.as_str(), request_id], share_row)?
                .collect()
        })
    }

    /// Counts a download if the link may still be used; the row after.
    pub fn take_share_download(&self, id_hash: &str, now_us: i64) -> Result<Option<ShareRow>> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE portal_shares SET downloads = downloads + 1
                 WHERE id_hash = ?1 AND revoked_us IS NULL AND expires_us > ?2 AND downloads < max_downloads",
                params![id_hash, now_us],
            )?;
            let row = if n == 1 {
                tx.query_row(
                    &format!("SELECT {SHARE_COLS} FROM portal_shares WHERE id_hash = ?1"),
                    params![id_hash],
                    share_row,
                )
                .optional()?
            } else {
                None
            };
            tx.commit()?;
            Ok(row)
        })
    }

    /// Withdraws a link of the tenant.
    pub fn revoke_share(&self, tenant: &TenantId, id_hash: &str, at_us: i64) -> Result<bool> {
        self.with_conn(|conn| {
            let n = conn.execute(
                "UPDATE portal_shares SET revoked_us = ?3 WHERE tenant = ?1 AND id_hash = ?2 AND revoked_us IS NULL",
                params![tenant.as_str(), id_hash, at_us],
            )?;
            Ok(n == 1)
        })
    }

    /// Removes the links that expired before `before_us`.
    pub fn remove_expired_shares(&self, before_us: i64) -> Result<u64> {
        self.with_conn(|conn| {
            let n = conn.execute(
                "DELETE FROM portal_shares WHERE expires_us < ?1",
                params![before_us],
            )?;
            Ok(n as u64)
        })
    }
}
