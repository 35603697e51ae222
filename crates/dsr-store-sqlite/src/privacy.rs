//! dsr's own copies of personal data, on the SQLite side: the tenant's secret, the
//! suppression list of erased subjects (keyed hashes only), the per-tenant choice to
//! refuse re-imports of erased subjects, and private file modes. What to hash, seal or
//! redact is decided in `dsr_engine::privacy`; this only persists.

use crate::{Error, Result, SqliteStore};
use dsr_model::TenantId;
use rusqlite::{OptionalExtension, params};
use std::path::Path;

/// Creates an absent database file readable by its owner only (mode 0600; SQLite gives
/// its WAL and shared-memory files the same mode).
pub(crate) fn create_private(path: &Path) -> std::io::Result<()> {
    if path.as_os_str().is_empty() || path.exists() {
        return Ok(());
    }
    if path
        .parent()
        .is_some_and(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        // SQLite reports the missing folder (with its hint) itself.
        return Ok(());
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    /// The tenant's secret (256 random bits) for keyed references and hashes, created
    /// on first use.
    pub fn tenant_secret(&self, tenant: &TenantId) -> Result<[u8; 32]> {
        let fresh = dsr_engine::privacy::random_key().map_err(|e| {
            self.err(rusqlite::Error::ToSqlConversionFailure(Box::new(
                std::io::Error::other(e.to_string()),
            )))
        })?;
        let conn = self.lock();
        conn.execute(
            "INSERT INTO tenant_secrets (tenant, secret) VALUES (?1, ?2) ON CONFLICT (tenant) DO NOTHING",
            params![tenant.as_str(), &fresh[..]],
        )
        .map_err(|e| self.err(e))?;
        let v: Vec<u8> = conn
            .query_row(
                "SELECT secret FROM tenant_secrets WHERE tenant = ?1",
                params![tenant.as_str()],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        v.try_into().map_err(|_| Error::Corrupt {
            path: self.path.clone(),
            id: format!("tenant secret of {tenant}"),
            reason: "not 32 bytes".into(),
        })
    }

    /// Which keyed identifier hashes are on the tenant's suppression list: `(hash,
    /// erasure time in µs, delete request id)`.
    pub fn suppression_hits(
        &self,
        tenant: &TenantId,
        hashes: &[String],
    ) -> Result<Vec<(String, i64, String)>> {
        let conn = self.lock();
        let mut st = conn
            .prepare_cached(
                "SELECT hash, erased_us, request_id FROM suppression WHERE tenant = ?1 AND hash = ?2",
            )
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for h in hashes {
            if let Some(row) = st
                .query_row(params![tenant.as_str(), h], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
                .map_err(|e| self.err(e))?
            {
                out.push(row);
            }
        }
        Ok(out)
    }

    /// How many identifier hashes the tenant's suppression list holds.
    pub fn suppression_count(&self, tenant: &TenantId) -> Result<u64> {
        self.lock()
            .query_row(
                "SELECT count(*) FROM suppression WHERE tenant = ?1",
                params![tenant.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| self.err(e))
    }

    /// Whether the tenant refuses (instead of warns about) re-importing an erased
    /// subject.
    pub fn refuse_erased(&self, tenant: &TenantId) -> Result<bool> {
        self.lock()
            .query_row(
                "SELECT refuse_erased FROM tenant_settings WHERE tenant = ?1",
                params![tenant.as_str()],
                |r| r.get::<_, bool>(0),
            )
            .optional()
            .map(|v| v.unwrap_or(false))
            .map_err(|e| self.err(e))
    }

    /// Sets whether the tenant refuses re-importing an erased subject.
    pub fn set_refuse_erased(&self, tenant: &TenantId, refuse: bool) -> Result<()> {
        self.lock()
            .execute(
                "INSERT INTO tenant_settings (tenant, refuse_erased) VALUES (?1, ?2)
                 ON CONFLICT (tenant) DO UPDATE SET refuse_erased = excluded.refuse_erased",
                params![tenant.as_str(), refuse],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
