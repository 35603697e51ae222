//! The two databases behind one small interface: statements with text parameters
//! (single values and lists), keys read as text, rows read as JSON, transactions, and
//! the live schema (tables, columns, types, nullability, unique columns, foreign keys).
//!
//! Values cross as text on purpose: the mapping does not know the column types, the
//! database does; each dialect casts a parameter to its column's type (so PostgreSQL
//! still uses its indexes).

use async_trait::async_trait;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// A database failure.
#[derive(Debug, Clone)]
pub struct DbError {
    /// Worth trying again (connection, lock, serialization).
    pub transient: bool,
    /// What the database said.
    pub message: String,
}

/// This module's result.
pub type DbResult<T> = Result<T, DbError>;

/// A statement parameter.
#[derive(Debug, Clone)]
pub enum Param {
    /// One value (`None`: NULL).
    Text(Option<String>),
    /// A list of values.
    List(Vec<String>),
}

/// What kind of value a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColKind {
    /// Text.
    Text,
    /// Whole numbers.
    Integer,
    /// Other numbers.
    Numeric,
    /// true / false.
    Bool,
    /// Bytes.
    Bytes,
    /// Anything else (dates, uuids, JSON…).
    Other,
}

/// A live column.
#[derive(Debug, Clone)]
pub struct LiveColumn {
    /// Its name.
    pub name: String,
    /// Its type as the database names it.
    pub ty: String,
    /// Its kind.
    pub kind: ColKind,
    /// Whether NULL is allowed.
    pub nullable: bool,
    /// Longest text (varchar(n)).
    pub max_len: Option<usize>,
    /// A single-column unique index or key.
    pub unique: bool,
}

/// A live foreign key (single column).
#[derive(Debug, Clone)]
pub struct LiveFk {
    /// The referencing table.
    pub table: String,
    /// Its column.
    pub column: String,
    /// The referenced table.
    pub to_table: String,
    /// Its column.
    pub to_column: String,
    /// `ON DELETE`: `no action`, `restrict`, `cascade`, `set null`, `set default`.
    pub on_delete: String,
}

/// The live schema.
#[derive(Debug, Clone, Default)]
pub struct LiveSchema {
    /// Tables and their columns.
    pub tables: BTreeMap<String, Vec<LiveColumn>>,
    /// Every foreign key among them.
    pub fks: Vec<LiveFk>,
}

impl LiveSchema {
    /// A column.
    pub fn column(&self, table: &str, column: &str) -> Option<&LiveColumn> {
        self.tables.get(table)?.iter().find(|c| c.name == column)
    }
}

/// Which SQL is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A quoted identifier.
pub fn q(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

impl Dialect {
    /// A column as text.
    pub fn as_text(self, expr: &str) -> String {
        match self {
            Dialect::Sqlite => format!("CAST({expr} AS TEXT)"),
            Dialect::Postgres => format!("({expr})::text"),
        }
    }
    /// Parameter `n` as text.
    pub fn text(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}::text"),
        }
    }
    /// Parameter `n` (text) as a value of `col`'s type.
    pub fn typed(self, n: usize, col: &LiveColumn) -> String {
        match (self, col.kind) {
            (Dialect::Sqlite, ColKind::Integer) => format!("CAST(?{n} AS INTEGER)"),
            (Dialect::Sqlite, ColKind::Numeric) => format!("CAST(?{n} AS REAL)"),
            (Dialect::Sqlite, _) => format!("?{n}"),
            (Dialect::Postgres, _) => format!("CAST(${n}::text AS {})", col.ty),
        }
    }
    /// `expr` is one of the values of list parameter `n`, as `col`'s type.
    pub fn member(self, expr: &str, n: usize, col: &LiveColumn) -> String {
        match (self, col.kind) {
            (Dialect::Sqlite, ColKind::Integer) => {
                format!("{expr} IN (SELECT CAST(value AS INTEGER) FROM json_each(?{n}))")
            }
            (Dialect::Sqlite, ColKind::Numeric) => {
                format!("{expr} IN (SELECT CAST(value AS REAL) FROM json_each(?{n}))")
            }
            (Dialect::Sqlite, _) => format!("{expr} IN (SELECT value FROM json_each(?{n}))"),
            (Dialect::Postgres, _) => format!("{expr} = ANY(CAST(${n}::text[] AS {}[]))", col.ty),
        }
    }
    /// Text `expr` is one of the values of list parameter `n`.
    pub fn text_member(self, expr: &str, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("{expr} IN (SELECT value FROM json_each(?{n}))"),
            Dialect::Postgres => format!("{expr} = ANY(${n}::text[])"),
        }
    }
}

/// A connection, held for one operation.
#[async_trait]
pub trait Conn: Send {
    /// Starts a transaction.
    async fn begin(&mut self) -> DbResult<()>;
    /// Commits it.
    async fn commit(&mut self) -> DbResult<()>;
    /// Rolls it back (errors ignored: the connection is dropped or reused clean).
    async fn rollback(&mut self);
    /// The first column of every row, as text.
    async fn texts(&mut self, sql: &str, params: &[Param]) -> DbResult<Vec<Vec<Option<String>>>>;
    /// Every row as a JSON object (bytes as `\x…` hex, as PostgreSQL writes bytea).
    async fn rows(&mut self, sql: &str, params: &[Param]) -> DbResult<Vec<Map<String, Value>>>;
    /// Runs a statement; the rows it changed.
    async fn execute(&mut self, sql: &str, params: &[Param]) -> DbResult<u64>;
    /// The live schema.
    async fn schema(&mut self) -> DbResult<LiveSchema>;
}

/// Where the database is.
#[derive(Clone)]
pub enum Database {
    /// A SQLite file, one connection at a time.
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The connection, opened on first use.
        conn: Arc<tokio::sync::Mutex<Option<rusqlite::Connection>>>,
    },
    /// A PostgreSQL pool.
    Postgres {
        /// The pool (connects on first use).
        pool: deadpool_postgres::Pool,
        /// The schema the tables are in.
        schema: String,
    },
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite { path, .. } => write!(f, "Sqlite({})", path.display()),
            Database::Postgres { schema, .. } => write!(f, "Postgres(schema {schema})"),
        }
    }
}

impl Database {
    /// The dialect.
    pub fn dialect(&self) -> Dialect {
        match self {
            Database::Sqlite { .. } => Dialect::Sqlite,
            Database::Postgres { .. } => Dialect::Postgres,
        }
    }

    /// A table's name as written in statements.
    pub fn table(&self, name: &str) -> String {
        match self {
            Database::Sqlite { .. } => q(name),
            Database::Postgres { schema, .. } => format!("{}.{}", q(schema), q(name)),
        }
    }

    /// A connection for one operation.
    pub async fn conn(&self) -> DbResult<Box<dyn Conn>> {
        match self {
            Database::Sqlite { path, conn } => {
                let mut guard = conn.clone().lock_owned().await;
                if guard.is_none() {
                    *guard = Some(open_sqlite(path)?);
                }
                Ok(Box::new(SqliteConn { guard }))
            }
            Database::Postgres { pool, schema } => {
                let client = pool.get().await.map_err(|e| DbError {
                    transient: true,
                    message: format!("cannot connect: {}", pool_error(&e)),
                })?;
                Ok(Box::new(PgConn {
                    client,
                    schema: schema.clone(),
                }))
            }
        }
    }
}

fn pool_error(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(b) => pg_message(b),
        other => other.to_string(),
    }
}

fn open_sqlite(path: &PathBuf) -> DbResult<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    // Never creates a file: a mistyped path is an error, not an empty database.
    let c = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| DbError {
        transient: false,
        message: format!("cannot open {}: {e}", path.display()),
    })?;
    c.busy_timeout(std::time::Duration::from_secs(5))
        .and_then(|_| c.execute_batch("PRAGMA foreign_keys = ON"))
        .map_err(sqlite_err)?;
    Ok(c)
}

fn sqlite_err(e: rusqlite::Error) -> DbError {
    let transient = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    DbError {
        transient,
        message: e.to_string(),
    }
}

struct SqliteConn {
    guard: tokio::sync::OwnedMutexGuard<Option<rusqlite::Connection>>,
}

impl SqliteConn {
    fn c(&self) -> DbResult<&rusqlite::Connection> {
        self.guard.as_ref().ok_or_else(|| DbError {
            transient: true,
            message: "the connection is closed".into(),
        })
    }
}

fn sqlite_params(params: &[Param]) -> Vec<rusqlite::types::Value> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(Some(s)) => rusqlite::types::Value::Text(s.clone()),
            Param::Text(None) => rusqlite::types::Value::Null,
            Param::List(v) => rusqlite::types::Value::Text(
                serde_json::to_string(v).unwrap_or_else(|_| "[]".into()),
            ),
        })
        .collect()
}

fn sqlite_json(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(format!("\\x{}", hex::encode(b))),
    }
}

fn sqlite_kind(ty: &str) -> ColKind {
    // SQLite's affinity rules (https://sqlite.org/datatype3.html#determination_of_column_affinity).
    let t = ty.to_ascii_uppercase();
    if t.contains("INT") {
        ColKind::Integer
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        ColKind::Text
    } else if t.contains("BLOB") || t.is_empty() {
        ColKind::Bytes
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        ColKind::Numeric
    } else if t.contains("BOOL") {
        ColKind::Bool
    } else {
        ColKind::Numeric
    }
}

#[async_trait]
impl Conn for SqliteConn {
    async fn begin(&mut self) -> DbResult<()> {
        self.c()?
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(sqlite_err)
    }
    async fn commit(&mut self) -> DbResult<()> {
        self.c()?.execute_batch("COMMIT").map_err(sqlite_err)
    }
    async fn rollback(&mut self) {
        if let Ok(c) = self.c() {
            let _ = c.execute_batch("ROLLBACK");
        }
    }
    async fn texts(&mut self, sql: &str, params: &[Param]) -> DbResult<Vec<Vec<Option<String>>>> {
        let c = self.c()?;
        let mut st = c.prepare_cached(sql).map_err(sqlite_err)?;
        let n = st.column_count();
        let rows = st
            .query_map(rusqlite::params_from_iter(sqlite_params(params)), |r| {
                (0..n)
                    .map(|i| {
                        Ok(match r.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => None,
                            v => Some(match sqlite_json(v) {
                                Value::String(s) => s,
                                other => other.to_string(),
                            }),
                        })
                    })
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(sqlite_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sqlite_err)
    }
    async fn rows(&mut self, sql: &str, params: &[Param]) -> DbResult<Vec<Map<String, Value>>> {
        let c = self.c()?;
        let mut st = c.prepare_cached(sql).map_err(sqlite_err)?;
        let names: Vec<String> = st.column_names().map(str::to_owned).collect();
        let rows = st
            .query_map(rusqlite::params_from_iter(sqlite_params(params)), |r| {
                let mut m = Map::new();
                for (i, n) in names.iter().enumerate() {
                    m.insert(n.clone(), sqlite_json(r.get_ref(i)?));
                }
                Ok(m)
            })
            .map_err(sqlite_err)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(sqlite_err)
    }
    async fn execute(&mut self, sql: &str, params: &[Param]) -> DbResult<u64> {
        let c = self.c()?;
        let mut st = c.prepare_cached(sql).map_err(sqlite_err)?;
        st.execute(rusqlite::params_from_iter(sqlite_params(params)))
            .map(|n| n as u64)
            .map_err(sqlite_err)
    }
    async fn schema(&mut self) -> DbResult<LiveSchema> {
        let c = self.c()?;
        let mut out = LiveSchema::default();
        let names: Vec<String> = c
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
            .map_err(sqlite_err)?;
        for t in names {
            let mut unique = Vec::new();
            let idx: Vec<(String, bool)> = c
                .prepare(&format!("PRAGMA index_list({})", q(&t)))
                .and_then(|mut st| {
                    st.query_map([], |r| {
                        Ok((r.get::<_, String>(1)?, r.get::<_, i64>(2)? == 1))
                    })?
                    .collect()
                })
                .map_err(sqlite_err)?;
            for (name, is_unique) in idx.into_iter().filter(|(_, u)| *u) {
                let _ = is_unique;
                let cols: Vec<String> = c
                    .prepare(&format!("PRAGMA index_info({})", q(&name)))
                    .and_then(|mut st| st.query_map([], |r| r.get(2))?.collect())
                    .map_err(sqlite_err)?;
                if cols.len() == 1 {
                    unique.extend(cols);
                }
            }
            let cols: Vec<LiveColumn> = c
                .prepare(&format!("PRAGMA table_info({})", q(&t)))
                .and_then(|mut st| {
                    st.query_map([], |r| {
                        let name: String = r.get(1)?;
                        let ty: String = r.get(2)?;
                        let notnull: i64 = r.get(3)?;
                        let pk: i64 = r.get(5)?;
                        Ok(LiveColumn {
                            kind: sqlite_kind(&ty),
                            unique: pk == 1,
                            nullable: notnull == 0 && pk == 0,
                            max_len: None,
                            ty,
                            name,
                        })
                    })?
                    .collect()
                })
                .map_err(sqlite_err)?;
            let pk_count = cols.iter().filter(|c| c.unique).count();
            let cols = cols
                .into_iter()
                .map(|mut col| {
                    // A composite primary key makes no single column unique.
                    col.unique = (col.unique && pk_count == 1) || unique.contains(&col.name);
                    col
                })
                .collect::<Vec<_>>();
            let pk = cols.iter().find(|c| c.unique).map(|c| c.name.clone());
            let fks: Vec<(i64, String, String, Option<String>, String)> = c
                .prepare(&format!("PRAGMA foreign_key_list({})", q(&t)))
                .and_then(|mut st| {
                    st.query_map([], |r| {
                        Ok((r.get(0)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(6)?))
                    })?
                    .collect()
                })
                .map_err(sqlite_err)?;
            let mut by_id: BTreeMap<i64, usize> = BTreeMap::new();
            for (id, _, _, _, _) in &fks {
                *by_id.entry(*id).or_default() += 1;
            }
            for (id, to_table, from, to, on_delete) in fks {
                if by_id.get(&id) != Some(&1) {
                    continue;
                }
                out.fks.push(LiveFk {
                    table: t.clone(),
                    column: from,
                    to_column: to.or_else(|| pk.clone()).unwrap_or_else(|| "rowid".into()),
                    to_table,
                    on_delete: on_delete.to_ascii_lowercase(),
                });
            }
            out.tables.insert(t, cols);
        }
        // A referenced table's primary key as SQLite resolves an omitted `to`.
        let fixed: Vec<LiveFk> = out
            .fks
            .iter()
            .cloned()
            .map(|mut f| {
                if f.to_column == "rowid"
                    && let Some(k) = out
                        .tables
                        .get(&f.to_table)
                        .and_then(|cs| cs.iter().find(|c| c.unique))
                {
                    f.to_column = k.name.clone();
                }
                f
            })
            .collect();
        out.fks = fixed;
        Ok(out)
    }
}

/// A PostgreSQL error's message as the server gave it (with its detail and code).
pub fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => {
            let mut m = d.message().to_owned();
            if let Some(detail) = d.detail() {
                m.push_str(": ");
                m.push_str(detail);
            }
            format!("{m} (SQLSTATE {})", d.code().code())
        }
        None => {
            let mut m = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(s) = src {
                m.push_str(": ");
                m.push_str(&s.to_string());
                src = s.source();
            }
            m
        }
    }
}

fn pg_err(e: tokio_postgres::Error) -> DbError {
    let transient = match e.code() {
        None => true,
        Some(c) => {
            let c = c.code();
            ["08", "40", "53", "57"].iter().any(|p| c.starts_with(p)) || c == "55P03"
        }
    };
    DbError {
        transient,
        message: pg_message(&e),
    }
}

struct PgConn {
    client: deadpool_postgres::Object,
    schema: String,
}

fn pg_params(params: &[Param]) -> Vec<Box<dyn tokio_postgres::types::ToSql + Sync + Send>> {
    params
        .iter()
        .map(|p| -> Box<dyn tokio_postgres::types::ToSql + Sync + Send> {
            match p {
                Param::Text(v) => Box::new(v.clone()),
                Param::List(v) => Box::new(v.clone()),
            }
        })
        .collect()
}

impl PgConn {
    async fn query(&self, sql: &str, params: &[Param]) -> DbResult<Vec<tokio_postgres::Row>> {
        let p = pg_params(params);
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            p.iter().map(|b| b.as_ref() as _).collect();
        let st = self.client.prepare_cached(sql).await.map_err(pg_err)?;
        self.client.query(&st, &refs).await.map_err(pg_err)
    }
}

#[async_trait]
impl Conn for PgConn {
    async fn begin(&mut self) -> DbResult<()> {
        self.client.batch_execute("BEGIN").await.map_err(pg_err)
    }
    async fn commit(&mut self) -> DbResult<()> {
        self.client.batch_execute("COMMIT").await.map_err(pg_err)
    }
    async fn rollback(&mut self) {
        let _ = self.client.batch_execute("ROLLBACK").await;
    }
    async fn texts(&mut self, sql: &str, params: &[Param]) -> DbResult<Vec<Vec<Option<String>>>> {
        let rows = self.query(sql, params).await?;
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get::<_, Option<String>>(i).map_err(pg_err))
                    .collect()
            })
            .collect()
    }
    async fn rows(&mut self, sql: &str, params: &[Param]) -> DbResult<Vec<Map<String, Value>>> {
        let rows = self
            .query(&format!("SELECT to_jsonb(x) FROM ({sql}) x"), params)
            .await?;
        rows.iter()
            .map(|r| match r.try_get::<_, Value>(0).map_err(pg_err)? {
                Value::Object(m) => Ok(m),
                other => Ok(Map::from_iter([("value".to_owned(), other)])),
            })
            .collect()
    }
    async fn execute(&mut self, sql: &str, params: &[Param]) -> DbResult<u64> {
        let p = pg_params(params);
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            p.iter().map(|b| b.as_ref() as _).collect();
        let st = self.client.prepare_cached(sql).await.map_err(pg_err)?;
        self.client.execute(&st, &refs).await.map_err(pg_err)
    }
    async fn schema(&mut self) -> DbResult<LiveSchema> {
        let s = Param::Text(Some(self.schema.clone()));
        let mut out = LiveSchema::default();
        let unique = self
            .query(
                "SELECT c.relname::text, a.attname::text FROM pg_index i
                 JOIN pg_class c ON c.oid = i.indrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
                 WHERE n.nspname = $1::text AND i.indisunique AND i.indnatts = 1",
                std::slice::from_ref(&s),
            )
            .await?;
        let unique: Vec<(String, String)> = unique.iter().map(|r| (r.get(0), r.get(1))).collect();
        let cols = self
            .query(
                "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod),
                        NOT a.attnotnull, t.typname::text, t.typcategory::text,
                        CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 END
                 FROM pg_class c
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 JOIN pg_type t ON t.oid = a.atttypid
                 WHERE n.nspname = $1::text AND c.relkind IN ('r', 'p')
                 ORDER BY c.relname, a.attnum",
                std::slice::from_ref(&s),
            )
            .await?;
        for r in &cols {
            let table: String = r.get(0);
            let name: String = r.get(1);
            let typname: String = r.get(4);
            let cat: String = r.get(5);
            let kind = match (typname.as_str(), cat.as_str()) {
                ("int2" | "int4" | "int8", _) => ColKind::Integer,
                ("bytea", _) => ColKind::Bytes,
                (_, "S") => ColKind::Text,
                (_, "N") => ColKind::Numeric,
                (_, "B") => ColKind::Bool,
                _ => ColKind::Other,
            };
            let max: Option<i32> = r.get(6);
            let is_unique = unique.iter().any(|(t, c)| *t == table && *c == name);
            out.tables.entry(table).or_default().push(LiveColumn {
                name,
                ty: r.get(2),
                kind,
                nullable: r.get(3),
                max_len: max.and_then(|m| usize::try_from(m).ok()),
                unique: is_unique,
            });
        }
        let fks = self
            .query(
                "SELECT cl.relname::text, a.attname::text, cf.relname::text, af.attname::text,
                        CASE co.confdeltype WHEN 'c' THEN 'cascade' WHEN 'n' THEN 'set null'
                             WHEN 'd' THEN 'set default' WHEN 'r' THEN 'restrict' ELSE 'no action' END
                 FROM pg_constraint co
                 JOIN pg_class cl ON cl.oid = co.conrelid
                 JOIN pg_namespace n ON n.oid = cl.relnamespace
                 JOIN pg_class cf ON cf.oid = co.confrelid
                 JOIN pg_attribute a ON a.attrelid = co.conrelid AND a.attnum = co.conkey[1]
                 JOIN pg_attribute af ON af.attrelid = co.confrelid AND af.attnum = co.confkey[1]
                 WHERE co.contype = 'f' AND n.nspname = $1::text AND array_length(co.conkey, 1) = 1",
                std::slice::from_ref(&s),
            )
            .await?;
        for r in &fks {
            out.fks.push(LiveFk {
                table: r.get(0),
                column: r.get(1),
                to_table: r.get(2),
                to_column: r.get(3),
                on_delete: r.get(4),
            });
        }
        Ok(out)
    }
}
