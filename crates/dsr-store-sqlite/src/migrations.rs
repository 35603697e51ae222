//! Numbered schema migrations, applied in order on open and recorded in
//! `PRAGMA user_version`. Append new migrations at the end; never edit a released one.

use crate::{Error, Result};
use rusqlite::Connection;

/// Every migration, in order: `(version, SQL)`. Version N is applied when the database is
/// at N-1.
pub const MIGRATIONS: &[(i64, &str)] = &[(
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
)];

/// Applies the pending migrations, each in its own transaction.
pub fn apply(conn: &mut Connection, path: &str) -> Result<()> {
    let wrap = |source| Error::Sqlite {
        path: path.to_owned(),
        source,
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
        let tx = conn.transaction().map_err(wrap)?;
        tx.execute_batch(sql).map_err(wrap)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
    }
    Ok(())
}
