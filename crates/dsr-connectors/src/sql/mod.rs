//! `kind = "sql"`: a PostgreSQL or SQLite database other than dsr's own, through a
//! declarative mapping of its tables.
//!
//! How rows are found: a table's rows are the subject's when one of its `find` columns
//! holds one of the subject's identifiers (emails and handles case-insensitively, phones
//! by their digits, ids exactly), or when one of its `references` columns points at a
//! row already found in another table. Tables are visited parents first (the
//! references must form no cycle), so customers found by email lead to their orders,
//! the orders to their tickets, the tickets to their attachments. Names and postal
//! addresses are not accepted as `find` identifiers: several people share them, and a
//! row found by one may be someone else's (G-3).
//!
//! Erasure happens in one transaction: rows are found again inside it, then tables are
//! visited children first; a `delete` table loses the rows, an `anonymize` table has
//! its masked columns rewritten row by row. A table whose category a retention rule
//! keeps is left as it is and reported kept.
//!
//! MySQL is not supported: its driver would be a third SQL client stack beside rusqlite
//! and tokio-postgres, and no deployment asked for it yet.

pub mod db;
pub mod mask;

use crate::{Result, config_error, parse_settings, secret};
use async_trait::async_trait;
use base64::Engine as _;
use db::{ColKind, Conn, Database, DbError, Dialect, LiveColumn, LiveSchema, Param, q};
use dsr_engine::config::{Config, ServiceConfig};
use dsr_engine::service::{Erased, KeepRule};
use dsr_engine::{
    Attachment, Category, ErasureMode, ExportRecord, Replacement, Service, ServiceCall,
    ServiceError, ServiceInfo,
};
use dsr_model::Subject;
pub use mask::Mask;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

/// `[services.sql]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlSettings {
    /// `postgres://…` or `sqlite:PATH` (relative to `dsr.toml`).
    #[serde(default)]
    pub url: Option<String>,
    /// The URL in an environment variable (when it carries a password).
    #[serde(default)]
    pub url_env: Option<String>,
    /// PostgreSQL: the schema of the tables (default `public`).
    #[serde(default)]
    pub schema: Option<String>,
    /// PostgreSQL: most connections at once (default 4).
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// The key of `hash` masks and `email_domain` tags (file, 0600).
    #[serde(default)]
    pub hash_key_file: Option<PathBuf>,
    /// The same in an environment variable.
    #[serde(default)]
    pub hash_key_env: Option<String>,
    /// The mapped tables.
    pub tables: Vec<TableSettings>,
}

/// The identifiers rows can be found by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Identifier {
    /// The subject's id in dsr.
    SubjectId,
    /// One of its emails (case-insensitive).
    Email,
    /// One of its phones (by digits).
    Phone,
    /// One of its ids in other systems.
    ExternalId,
    /// One of its social handles (case-insensitive, with or without `@`).
    Handle,
}

impl Identifier {
    fn field(self) -> Option<&'static str> {
        match self {
            Identifier::SubjectId => None,
            Identifier::Email => Some("email"),
            Identifier::Phone => Some("phone"),
            Identifier::ExternalId => Some("external_id"),
            Identifier::Handle => Some("handle"),
        }
    }
}

/// `references = [{ column, table, to }]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    /// The column of this table.
    pub column: String,
    /// The mapped table it points at.
    pub table: String,
    /// The column pointed at (default: that table's `key`).
    #[serde(default)]
    pub to: Option<String>,
}

/// A mask as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum MaskSetting {
    /// `"null"`, `"hash"`, `"email_domain"`, `"phone_country"`.
    Named(String),
    /// `{ fixed = "text" }` (or a number).
    Fixed {
        /// The value.
        fixed: toml::Value,
    },
}

/// `attachment = { content, name, content_type }`: the table's rows are files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentColumns {
    /// The column of the bytes.
    pub content: String,
    /// The column of the file name.
    #[serde(default)]
    pub name: Option<String>,
    /// The column of the MIME type.
    #[serde(default)]
    pub content_type: Option<String>,
}

/// `[[services.sql.tables]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSettings {
    /// The table.
    pub name: String,
    /// Its key column (a primary key or unique column).
    pub key: String,
    /// The data category of its rows (default: customer_relationship).
    #[serde(default)]
    pub category: Option<Category>,
    /// `delete` or `anonymize` (default: the service's `erasure`).
    #[serde(default)]
    pub erasure: Option<ErasureMode>,
    /// `column = "identifier"`: rows found directly.
    #[serde(default)]
    pub find: BTreeMap<String, Identifier>,
    /// Rows found through a column pointing at another mapped table's found rows.
    #[serde(default)]
    pub references: Vec<Reference>,
    /// `column = "personal field"`: what the columns hold (`email`, `phone`, `name`,
    /// `address`, `handle`, `external_id` are rectified by update requests).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Columns holding personal data that is not searched (free text): blind spots.
    #[serde(default)]
    pub unsearchable: Vec<String>,
    /// Columns left out of exports (secrets such as password hashes).
    #[serde(default)]
    pub omit: Vec<String>,
    /// Anonymize tables: `column = mask`; mapped columns without one are set to NULL.
    #[serde(default)]
    pub mask: BTreeMap<String, MaskSetting>,
    /// The table's rows are files.
    #[serde(default)]
    pub attachment: Option<AttachmentColumns>,
}

/// One mapped table, checked and placed in the visiting order.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// The table.
    pub name: String,
    /// Its key column.
    pub key: String,
    /// Its category.
    pub category: Category,
    /// How it erases.
    pub erasure: ErasureMode,
    /// Columns matched against identifiers.
    pub find: Vec<(String, Identifier)>,
    /// (column, index of the parent table in the plan, parent column).
    pub references: Vec<(String, usize, String)>,
    /// Personal fields by column.
    pub fields: Vec<(String, String)>,
    /// Not searched.
    pub unsearchable: Vec<String>,
    /// Not exported.
    pub omit: Vec<String>,
    /// Anonymize: what each masked column becomes.
    pub masks: Vec<(String, Mask)>,
    /// Files.
    pub attachment: Option<AttachmentColumns>,
}

impl TablePlan {
    /// Every column the mapping names, with the key it is named under.
    pub fn named_columns(&self) -> Vec<(String, &str)> {
        let mut v: Vec<(String, &str)> = vec![("key".into(), self.key.as_str())];
        v.extend(
            self.find
                .iter()
                .map(|(c, _)| (format!("find.{c}"), c.as_str())),
        );
        v.extend(
            self.references
                .iter()
                .map(|(c, _, _)| (format!("references.{c}"), c.as_str())),
        );
        v.extend(
            self.fields
                .iter()
                .map(|(c, _)| (format!("fields.{c}"), c.as_str())),
        );
        v.extend(
            self.unsearchable
                .iter()
                .map(|c| ("unsearchable".into(), c.as_str())),
        );
        v.extend(self.omit.iter().map(|c| ("omit".into(), c.as_str())));
        v.extend(
            self.masks
                .iter()
                .map(|(c, _)| (format!("mask.{c}"), c.as_str())),
        );
        if let Some(a) = &self.attachment {
            v.push(("attachment.content".into(), a.content.as_str()));
            if let Some(n) = &a.name {
                v.push(("attachment.name".into(), n.as_str()));
            }
            if let Some(n) = &a.content_type {
                v.push(("attachment.content_type".into(), n.as_str()));
            }
        }
        v
    }
}

/// The checked mapping: tables parents first.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Parents before children.
    pub tables: Vec<TablePlan>,
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

fn mask_from(service: &str, at: &str, m: &MaskSetting) -> Result<Mask> {
    Ok(match m {
        MaskSetting::Named(n) => match n.as_str() {
            "null" => Mask::Null,
            "hash" => Mask::Hash,
            "email_domain" => Mask::EmailDomain,
            "phone_country" => Mask::PhoneCountry,
            other => {
                return Err(config_error(
                    service,
                    format!(
                        "{at}: mask {other:?} is not known (null, hash, email_domain, phone_country, or {{ fixed = \"text\" }})"
                    ),
                ));
            }
        },
        MaskSetting::Fixed { fixed } => Mask::Fixed(match fixed {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) if f.is_finite() => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(config_error(
                    service,
                    format!("{at}: fixed must be text, a number or a boolean"),
                ));
            }
        }),
    })
}

/// Checks the mapping on its own (no database): names, references, order, masks.
pub fn plan(service: &str, erasure: ErasureMode, tables: &[TableSettings]) -> Result<Plan> {
    if tables.is_empty() {
        return Err(config_error(service, "sql.tables: map at least one table"));
    }
    let mut names = BTreeSet::new();
    for (i, t) in tables.iter().enumerate() {
        let at = format!("sql.tables[{i}] ({})", t.name);
        if !names.insert(t.name.as_str()) {
            return Err(config_error(
                service,
                format!("{at}: the table is mapped twice"),
            ));
        }
        let mut idents: Vec<&str> = vec![t.name.as_str(), t.key.as_str()];
        idents.extend(t.find.keys().map(String::as_str));
        idents.extend(t.references.iter().map(|r| r.column.as_str()));
        idents.extend(t.references.iter().filter_map(|r| r.to.as_deref()));
        idents.extend(t.fields.keys().map(String::as_str));
        idents.extend(t.unsearchable.iter().map(String::as_str));
        idents.extend(t.omit.iter().map(String::as_str));
        idents.extend(t.mask.keys().map(String::as_str));
        if let Some(a) = &t.attachment {
            idents.push(&a.content);
            idents.extend(a.name.as_deref());
            idents.extend(a.content_type.as_deref());
        }
        if let Some(bad) = idents.into_iter().find(|s| !is_ident(s)) {
            return Err(config_error(
                service,
                format!(
                    "{at}: {bad:?} is not accepted as a table or column name (letters, digits, '_'; not starting with a digit; at most 63)"
                ),
            ));
        }
        if t.find.is_empty() && t.references.is_empty() {
            return Err(config_error(
                service,
                format!(
                    "{at}: no way to find the subject's rows: give `find` (columns holding identifiers) or `references` (columns pointing at another mapped table)"
                ),
            ));
        }
        let mode = t.erasure.unwrap_or(erasure);
        if mode == ErasureMode::Delete && !t.mask.is_empty() {
            return Err(config_error(
                service,
                format!("{at}: `mask` is for tables that anonymize; this one deletes its rows"),
            ));
        }
        if t.attachment.is_some() && mode != ErasureMode::Delete {
            return Err(config_error(
                service,
                format!(
                    "{at}: an attachment table must delete its rows (an attachment the subject uploaded is removed whatever its content, G-12): set erasure = \"delete\""
                ),
            ));
        }
        if t.mask.contains_key(&t.key) {
            return Err(config_error(
                service,
                format!(
                    "{at}: mask.{}: the key column cannot be masked (rows are found and rewritten by it)",
                    t.key
                ),
            ));
        }
    }
    if erasure == ErasureMode::Delete
        && let Some(t) = tables
            .iter()
            .find(|t| t.erasure == Some(ErasureMode::Anonymize))
    {
        return Err(config_error(
            service,
            format!(
                "table {} anonymizes, so the service's result would say deleted where rows stay: set the service's erasure = \"anonymize\" (tables that delete say erasure = \"delete\")",
                t.name
            ),
        ));
    }
    // Parents first (Kahn's algorithm over the references).
    let index: BTreeMap<&str, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.as_str(), i))
        .collect();
    for (i, t) in tables.iter().enumerate() {
        for r in &t.references {
            if !index.contains_key(r.table.as_str()) {
                return Err(config_error(
                    service,
                    format!(
                        "sql.tables[{i}] ({}): references.{} points at table {:?}, which is not mapped (mapped: {})",
                        t.name,
                        r.column,
                        r.table,
                        index.keys().copied().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    let mut order: Vec<usize> = Vec::new();
    let mut placed = vec![false; tables.len()];
    while order.len() < tables.len() {
        let next = (0..tables.len()).find(|&i| {
            !placed[i]
                && tables[i]
                    .references
                    .iter()
                    .all(|r| r.table == tables[i].name || placed[index[r.table.as_str()]])
        });
        let Some(i) = next else {
            let rest: Vec<&str> = (0..tables.len())
                .filter(|&i| !placed[i])
                .map(|i| tables[i].name.as_str())
                .collect();
            return Err(config_error(
                service,
                format!(
                    "the references among tables {} form a cycle: rows are found parents first, so references must lead from children to parents",
                    rest.join(", ")
                ),
            ));
        };
        if tables[i]
            .references
            .iter()
            .any(|r| r.table == tables[i].name)
        {
            return Err(config_error(
                service,
                format!(
                    "table {}: a table cannot reference itself here",
                    tables[i].name
                ),
            ));
        }
        placed[i] = true;
        order.push(i);
    }
    let pos: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(p, &i)| (tables[i].name.as_str(), p))
        .collect();
    let mut out = Vec::with_capacity(tables.len());
    for &i in &order {
        let t = &tables[i];
        let at = format!("sql.tables[{i}] ({})", t.name);
        let erasure = t.erasure.unwrap_or(erasure);
        let mut masks = Vec::new();
        for (c, m) in &t.mask {
            masks.push((
                c.clone(),
                mask_from(service, &format!("{at}: mask.{c}"), m)?,
            ));
        }
        if erasure == ErasureMode::Anonymize {
            // Every mapped personal column is masked: NULL unless said otherwise.
            let mapped = t
                .find
                .keys()
                .chain(t.fields.keys())
                .chain(t.unsearchable.iter());
            for c in mapped {
                if *c != t.key && !masks.iter().any(|(m, _)| m == c) {
                    masks.push((c.clone(), Mask::Null));
                }
            }
        }
        let references = t
            .references
            .iter()
            .map(|r| {
                let p = pos[r.table.as_str()];
                let to =
                    r.to.clone()
                        .unwrap_or_else(|| tables[index[r.table.as_str()]].key.clone());
                (r.column.clone(), p, to)
            })
            .collect();
        out.push(TablePlan {
            name: t.name.clone(),
            key: t.key.clone(),
            category: t.category.unwrap_or(Category::CustomerRelationship),
            erasure,
            find: t.find.iter().map(|(c, i)| (c.clone(), *i)).collect(),
            references,
            fields: t
                .fields
                .iter()
                .map(|(c, f)| (c.clone(), f.clone()))
                .collect(),
            unsearchable: t.unsearchable.clone(),
            omit: t.omit.clone(),
            masks,
            attachment: t.attachment.clone(),
        });
    }
    // An anonymized child keeps pointing at its parent: that parent must not be deleted
    // unless the pointing column is masked to NULL.
    for t in &out {
        if t.erasure != ErasureMode::Anonymize {
            continue;
        }
        for (col, p, _) in &t.references {
            let parent = &out[*p];
            let nulled = t.masks.iter().any(|(c, m)| c == col && *m == Mask::Null);
            if parent.erasure == ErasureMode::Delete && !nulled {
                return Err(config_error(
                    service,
                    format!(
                        "table {}: its rows stay (anonymize) but {}.{col} points at {}, whose rows are deleted: mask {col} = \"null\", or delete {} too",
                        t.name, t.name, parent.name, t.name
                    ),
                ));
            }
        }
    }
    Ok(Plan { tables: out })
}

/// A service over another database.
#[derive(Debug)]
pub struct SqlService {
    info: ServiceInfo,
    db: Database,
    plan: Arc<Plan>,
    hash_key: Option<secret::Key>,
    /// The live schema, read on first use.
    schema: tokio::sync::OnceCell<Arc<LiveSchema>>,
}

fn db_url(config: &Config, service: &str, s: &SqlSettings) -> Result<String> {
    match (&s.url, &s.url_env) {
        (Some(u), None) => Ok(u.clone()),
        (None, Some(v)) => std::env::var(v).map_err(|_| {
            config_error(
                service,
                format!("sql.url_env: the environment variable {v} is not set"),
            )
        }),
        (Some(_), Some(_)) => Err(config_error(
            service,
            "sql.url and sql.url_env are both set; give one",
        )),
        (None, None) => {
            let _ = config;
            Err(config_error(
                service,
                "sql.url (postgres://… or sqlite:PATH) or sql.url_env is needed",
            ))
        }
    }
}

/// `postgres://user:secret@host/db` with the password hidden.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

impl SqlService {
    /// From a `kind = "sql"` entry; nothing is contacted.
    pub fn from_config(config: &Config, c: &ServiceConfig) -> Result<Self> {
        let name = c.name.as_str();
        let table = c
            .sql
            .as_ref()
            .ok_or_else(|| config_error(name, "kind = \"sql\" needs [services.sql]"))?;
        let s: SqlSettings = parse_settings(name, "sql", &table.0)?;
        let plan = plan(name, c.erasure, &s.tables)?;
        let url = db_url(config, name, &s)?;
        let db = if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            if s.schema.is_some() {
                return Err(config_error(name, "sql.schema is for PostgreSQL databases"));
            }
            Database::Sqlite {
                path: crate::resolve(config, std::path::Path::new(path)),
                conn: Arc::new(tokio::sync::Mutex::new(None)),
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let cfg: tokio_postgres::Config = url.parse().map_err(|e| {
                config_error(
                    name,
                    format!("sql.url: {} is not accepted: {e}", redact(&url)),
                )
            })?;
            let schema = s.schema.clone().unwrap_or_else(|| "public".into());
            if !is_ident(&schema) {
                return Err(config_error(
                    name,
                    format!("sql.schema: {schema:?} is not accepted"),
                ));
            }
            let mgr = deadpool_postgres::Manager::from_config(
                cfg,
                tokio_postgres::NoTls,
                deadpool_postgres::ManagerConfig {
                    recycling_method: deadpool_postgres::RecyclingMethod::Fast,
                },
            );
            let pool = deadpool_postgres::Pool::builder(mgr)
                .max_size(s.max_connections.unwrap_or(4).clamp(1, 64))
                .wait_timeout(Some(std::time::Duration::from_secs(10)))
                .create_timeout(Some(std::time::Duration::from_secs(5)))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .map_err(|e| config_error(name, format!("sql.url: {e}")))?;
            Database::Postgres { pool, schema }
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            return Err(config_error(
                name,
                "sql.url: MySQL / MariaDB are not supported (PostgreSQL: postgres://…, SQLite: sqlite:PATH)",
            ));
        } else {
            return Err(config_error(
                name,
                format!(
                    "sql.url: {} is not accepted (postgres://… or sqlite:PATH)",
                    redact(&url)
                ),
            ));
        };
        let needs_key = plan
            .tables
            .iter()
            .any(|t| t.masks.iter().any(|(_, m)| *m == Mask::Hash));
        let hash_key = if s.hash_key_file.is_some() || s.hash_key_env.is_some() || needs_key {
            Some(secret::load(
                config,
                name,
                "sql.hash_key",
                s.hash_key_file.as_ref(),
                s.hash_key_env.as_deref(),
            )?)
        } else {
            None
        };
        let mut fields: Vec<String> = Vec::new();
        let mut unsearchable = c.unsearchable.clone();
        let mut categories: Vec<Category> = Vec::new();
        for t in &plan.tables {
            for (col, _) in &t.find {
                fields.push(format!("{}.{col}", t.name));
            }
            for (col, f) in &t.fields {
                let s = format!("{}.{col}", t.name);
                if !fields.contains(&s) {
                    fields.push(s);
                }
                let _ = f;
            }
            for col in &t.unsearchable {
                unsearchable.push(format!("{}.{col}", t.name));
            }
            if !categories.contains(&t.category) {
                categories.push(t.category);
            }
        }
        let field_refs: Vec<&str> = fields.iter().map(String::as_str).collect();
        let mut info = ServiceInfo::from_config(
            c,
            &field_refs,
            &categories,
            plan.tables.iter().any(|t| t.attachment.is_some()),
        );
        info.unsearchable = unsearchable;
        Ok(SqlService {
            info,
            db,
            plan: Arc::new(plan),
            hash_key,
            schema: tokio::sync::OnceCell::new(),
        })
    }

    /// The checked mapping.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Whether a hash key is configured.
    pub fn has_hash_key(&self) -> bool {
        self.hash_key.is_some()
    }

    fn err(&self, table: Option<&str>, e: DbError) -> ServiceError {
        let m = match table {
            Some(t) => format!("{}: table {t}: {}", self.info.name, e.message),
            None => format!("{}: {}", self.info.name, e.message),
        };
        if e.transient {
            ServiceError::transient(m)
        } else {
            ServiceError::permanent(m)
        }
    }

    async fn live(
        &self,
        conn: &mut dyn Conn,
    ) -> std::result::Result<Arc<LiveSchema>, ServiceError> {
        if let Some(s) = self.schema.get() {
            return Ok(s.clone());
        }
        let s = Arc::new(conn.schema().await.map_err(|e| self.err(None, e))?);
        let _ = self.schema.set(s.clone());
        Ok(s)
    }

    fn col<'a>(
        &self,
        live: &'a LiveSchema,
        table: &str,
        column: &str,
    ) -> std::result::Result<&'a LiveColumn, ServiceError> {
        live.column(table, column).ok_or_else(|| {
            ServiceError::permanent(format!(
                "{}: table {table}: column {column} does not exist (run `dsr services check`)",
                self.info.name
            ))
        })
    }

    /// The keys (as text) of the subject's rows, per table of the plan.
    async fn find(
        &self,
        conn: &mut dyn Conn,
        live: &LiveSchema,
        subject: &Subject,
    ) -> std::result::Result<Vec<Vec<String>>, ServiceError> {
        let d = self.db.dialect();
        let mut found: Vec<Vec<String>> = Vec::with_capacity(self.plan.tables.len());
        for t in &self.plan.tables {
            let mut clauses = Vec::new();
            let mut params = Vec::new();
            for (col, ident) in &t.find {
                let values = identifier_values(subject, *ident);
                if values.is_empty() {
                    continue;
                }
                params.push(Param::List(values));
                let n = params.len();
                let expr = match ident {
                    Identifier::Email | Identifier::Handle => {
                        format!("lower({})", d.as_text(&q(col)))
                    }
                    Identifier::Phone => digits_expr(&d.as_text(&q(col))),
                    _ => d.as_text(&q(col)),
                };
                clauses.push(d.text_member(&expr, n));
            }
            for (col, p, to) in &t.references {
                let parent = &self.plan.tables[*p];
                let keys = &found[*p];
                if keys.is_empty() {
                    continue;
                }
                let values = if *to == parent.key {
                    keys.clone()
                } else {
                    let pk = self.col(live, &parent.name, &parent.key)?;
                    let sql = format!(
                        "SELECT {} FROM {} WHERE {}",
                        d.as_text(&q(to)),
                        self.db.table(&parent.name),
                        d.member(&q(&parent.key), 1, pk)
                    );
                    let rows = conn
                        .texts(&sql, &[Param::List(keys.clone())])
                        .await
                        .map_err(|e| self.err(Some(&parent.name), e))?;
                    rows.into_iter()
                        .filter_map(|mut r| r.pop().flatten())
                        .collect()
                };
                if values.is_empty() {
                    continue;
                }
                let c = self.col(live, &t.name, col)?;
                params.push(Param::List(values));
                clauses.push(d.member(&q(col), params.len(), c));
            }
            if clauses.is_empty() {
                found.push(Vec::new());
                continue;
            }
            let sql = format!(
                "SELECT {} FROM {} WHERE {}",
                d.as_text(&q(&t.key)),
                self.db.table(&t.name),
                clauses.join(" OR ")
            );
            let rows = conn
                .texts(&sql, &params)
                .await
                .map_err(|e| self.err(Some(&t.name), e))?;
            let keys: BTreeSet<String> = rows
                .into_iter()
                .filter_map(|mut r| r.pop().flatten())
                .collect();
            found.push(keys.into_iter().collect());
        }
        Ok(found)
    }

    async fn export_in(
        &self,
        conn: &mut dyn Conn,
        call: &ServiceCall,
    ) -> std::result::Result<Vec<ExportRecord>, ServiceError> {
        let live = self.live(conn).await?;
        let found = self.find(conn, &live, &call.subject).await?;
        let d = self.db.dialect();
        let mut out = Vec::new();
        for (t, keys) in self.plan.tables.iter().zip(&found) {
            if keys.is_empty() {
                continue;
            }
            let kc = self.col(&live, &t.name, &t.key)?;
            let sql = format!(
                "SELECT * FROM {} WHERE {} ORDER BY {}",
                self.db.table(&t.name),
                d.member(&q(&t.key), 1, kc),
                q(&t.key)
            );
            let rows = conn
                .rows(&sql, &[Param::List(keys.clone())])
                .await
                .map_err(|e| self.err(Some(&t.name), e))?;
            for mut row in rows {
                for o in &t.omit {
                    row.remove(o);
                }
                let mut attachments = Vec::new();
                if let Some(a) = &t.attachment {
                    let bytes = match row.remove(&a.content) {
                        Some(Value::String(s)) => match s.strip_prefix("\\x") {
                            Some(h) => hex::decode(h).map_err(|e| {
                                ServiceError::permanent(format!(
                                    "{}: table {}: column {}: not bytes: {e}",
                                    self.info.name, t.name, a.content
                                ))
                            })?,
                            None => s.into_bytes(),
                        },
                        Some(Value::Null) | None => Vec::new(),
                        Some(other) => other.to_string().into_bytes(),
                    };
                    let text = |c: &Option<String>| {
                        c.as_ref()
                            .and_then(|c| row.get(c))
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    };
                    let name = text(&a.name).unwrap_or_else(|| "attachment".into());
                    let content_type =
                        text(&a.content_type).unwrap_or_else(|| "application/octet-stream".into());
                    row.insert(
                        "dsr_attachment".into(),
                        json!({
                            "bytes": bytes.len(),
                            "sha256": hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
                        }),
                    );
                    attachments.push(Attachment {
                        name,
                        content_type,
                        content_base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
                    });
                }
                out.push(ExportRecord {
                    category: t.category,
                    provided: t.category != Category::Derived,
                    data: json!({"table": t.name, "row": Value::Object(row)}),
                    attachments,
                });
            }
        }
        Ok(out)
    }

    async fn erase_in(
        &self,
        conn: &mut dyn Conn,
        call: &ServiceCall,
        keep: &[KeepRule],
    ) -> std::result::Result<Erased, ServiceError> {
        let live = self.live(conn).await?;
        let found = self.find(conn, &live, &call.subject).await?;
        let d = self.db.dialect();
        let mut erased = Erased::default();
        let mut kept: BTreeMap<String, (u64, String)> = BTreeMap::new();
        // Children first.
        for (t, keys) in self.plan.tables.iter().zip(&found).rev() {
            if keys.is_empty() {
                continue;
            }
            if let Some(rule) = keep.iter().find(|k| k.keeps(t.category)) {
                let k = rule.kept(0);
                let e = kept.entry(k.what).or_insert((0, k.ground));
                e.0 += keys.len() as u64;
                continue;
            }
            let kc = self.col(&live, &t.name, &t.key)?;
            let table = self.db.table(&t.name);
            match t.erasure {
                ErasureMode::Delete => {
                    let sql = format!("DELETE FROM {table} WHERE {}", d.member(&q(&t.key), 1, kc));
                    let n = conn
                        .execute(&sql, &[Param::List(keys.clone())])
                        .await
                        .map_err(|e| self.err(Some(&t.name), e))?;
                    if t.attachment.is_some() {
                        erased.attachments += n;
                    } else {
                        erased.records += n;
                    }
                }
                ErasureMode::Anonymize => {
                    if t.masks.is_empty() {
                        continue;
                    }
                    let cols: Vec<String> = t.masks.iter().map(|(c, _)| d.as_text(&q(c))).collect();
                    let sql = format!(
                        "SELECT {}, {} FROM {table} WHERE {}",
                        d.as_text(&q(&t.key)),
                        cols.join(", "),
                        d.member(&q(&t.key), 1, kc)
                    );
                    let rows = conn
                        .texts(&sql, &[Param::List(keys.clone())])
                        .await
                        .map_err(|e| self.err(Some(&t.name), e))?;
                    let mut sets = Vec::new();
                    for (i, (c, _)) in t.masks.iter().enumerate() {
                        let lc = self.col(&live, &t.name, c)?;
                        sets.push(format!("{} = {}", q(c), d.typed(i + 1, lc)));
                    }
                    let n = t.masks.len() + 1;
                    let update = format!(
                        "UPDATE {table} SET {} WHERE {} = {}",
                        sets.join(", "),
                        q(&t.key),
                        d.typed(n, kc)
                    );
                    let key = self.hash_key.as_ref().map(|k| k.bytes());
                    for row in rows {
                        let mut params: Vec<Param> = t
                            .masks
                            .iter()
                            .zip(row.iter().skip(1))
                            .map(|((_, m), v)| Param::Text(m.apply(v.as_deref(), key)))
                            .collect();
                        params.push(Param::Text(row.first().cloned().flatten()));
                        erased.records += conn
                            .execute(&update, &params)
                            .await
                            .map_err(|e| self.err(Some(&t.name), e))?;
                    }
                }
            }
        }
        erased.kept = kept
            .into_iter()
            .map(|(what, (records, ground))| dsr_engine::Kept {
                what,
                records,
                ground,
            })
            .collect();
        Ok(erased)
    }

    async fn update_in(
        &self,
        conn: &mut dyn Conn,
        call: &ServiceCall,
        replacements: &[Replacement],
    ) -> std::result::Result<u64, ServiceError> {
        let live = self.live(conn).await?;
        let found = self.find(conn, &live, &call.subject).await?;
        let d = self.db.dialect();
        let mut n = 0;
        for (t, keys) in self.plan.tables.iter().zip(&found) {
            if keys.is_empty() {
                continue;
            }
            let kc = self.col(&live, &t.name, &t.key)?;
            let mut columns: Vec<(&str, &str)> = t
                .fields
                .iter()
                .map(|(c, f)| (c.as_str(), f.as_str()))
                .collect();
            for (c, i) in &t.find {
                if let Some(f) = i.field()
                    && !columns.iter().any(|(x, _)| x == c)
                {
                    columns.push((c.as_str(), f));
                }
            }
            for r in replacements {
                let field = r.field.as_str();
                for (col, _) in columns.iter().filter(|(_, f)| *f == field) {
                    let lc = self.col(&live, &t.name, col)?;
                    let (cmp, old) = match field.as_ref() {
                        "email" | "handle" => (
                            format!("lower({})", d.as_text(&q(col))),
                            r.old.trim().to_lowercase(),
                        ),
                        _ => (d.as_text(&q(col)), r.old.clone()),
                    };
                    let sql = format!(
                        "UPDATE {} SET {} = {} WHERE {} AND {cmp} = {}",
                        self.db.table(&t.name),
                        q(col),
                        d.typed(2, lc),
                        d.member(&q(&t.key), 1, kc),
                        d.text(3)
                    );
                    n += conn
                        .execute(
                            &sql,
                            &[
                                Param::List(keys.clone()),
                                Param::Text(Some(r.new.clone())),
                                Param::Text(Some(old)),
                            ],
                        )
                        .await
                        .map_err(|e| self.err(Some(&t.name), e))?;
                }
            }
        }
        Ok(n)
    }

    /// A connection with a transaction begun.
    async fn begin(&self) -> std::result::Result<Box<dyn Conn>, ServiceError> {
        let mut conn = self.db.conn().await.map_err(|e| self.err(None, e))?;
        conn.begin().await.map_err(|e| self.err(None, e))?;
        Ok(conn)
    }

    /// Commits if `r` is a success, rolls back otherwise.
    async fn finish<T>(
        &self,
        mut conn: Box<dyn Conn>,
        r: std::result::Result<T, ServiceError>,
    ) -> std::result::Result<T, ServiceError> {
        match r {
            Ok(v) => {
                conn.commit().await.map_err(|e| self.err(None, e))?;
                Ok(v)
            }
            Err(e) => {
                conn.rollback().await;
                Err(e)
            }
        }
    }
}

/// The subject's values of an identifier, as the `find` comparison wants them.
fn identifier_values(s: &Subject, ident: Identifier) -> Vec<String> {
    let mut v: Vec<String> = match ident {
        Identifier::SubjectId => vec![s.id.as_str().to_owned()],
        Identifier::Email => s.emails.iter().map(|e| e.trim().to_lowercase()).collect(),
        Identifier::Phone => s
            .phones
            .iter()
            .map(|p| p.chars().filter(char::is_ascii_digit).collect::<String>())
            .filter(|d| d.len() >= 5)
            .collect(),
        Identifier::ExternalId => s.external_ids.clone(),
        Identifier::Handle => s
            .handles
            .iter()
            .flat_map(|h| {
                let v = h.value.trim().to_lowercase();
                let bare = v.trim_start_matches('@').to_owned();
                [format!("@{bare}"), bare]
            })
            .collect(),
    };
    v.retain(|x| !x.is_empty());
    v.sort();
    v.dedup();
    v
}

/// A text expression reduced to its digits (the separators people write removed).
fn digits_expr(e: &str) -> String {
    let mut out = e.to_owned();
    for sep in [" ", "-", ".", "(", ")", "+", "/"] {
        out = format!("replace({out}, '{sep}', '')");
    }
    out
}

#[async_trait]
impl Service for SqlService {
    fn info(&self) -> &ServiceInfo {
        &self.info
    }

    async fn export(
        &self,
        call: &ServiceCall,
    ) -> std::result::Result<Vec<ExportRecord>, ServiceError> {
        // One transaction, so the rows exported are one consistent picture.
        let mut c = self.begin().await?;
        let r = self.export_in(c.as_mut(), call).await;
        self.finish(c, r).await
    }

    async fn update(
        &self,
        call: &ServiceCall,
        replacements: &[Replacement],
    ) -> std::result::Result<u64, ServiceError> {
        let mut c = self.begin().await?;
        let r = self.update_in(c.as_mut(), call, replacements).await;
        self.finish(c, r).await
    }

    async fn erase(
        &self,
        call: &ServiceCall,
        keep: &[KeepRule],
    ) -> std::result::Result<Erased, ServiceError> {
        let mut c = self.begin().await?;
        let r = self.erase_in(c.as_mut(), call, keep).await;
        self.finish(c, r).await
    }
}

/// Which kinds a mask may write into.
pub(crate) fn mask_fits(m: &Mask, col: &LiveColumn) -> std::result::Result<(), String> {
    let text = col.kind == ColKind::Text;
    match m {
        Mask::Null if !col.nullable => Err(format!(
            "mask null: the column is NOT NULL ({}); choose a fixed value or another mask",
            col.ty
        )),
        Mask::Null => Ok(()),
        Mask::Fixed(v) => {
            let ok = match col.kind {
                ColKind::Text => col.max_len.is_none_or(|n| v.chars().count() <= n),
                ColKind::Integer => v.parse::<i64>().is_ok(),
                ColKind::Numeric => v.parse::<f64>().is_ok_and(f64::is_finite),
                ColKind::Bool => matches!(v.as_str(), "true" | "false"),
                ColKind::Bytes => false,
                ColKind::Other => true,
            };
            if !ok {
                return Err(format!(
                    "mask fixed = {v:?} does not fit the column's type {}",
                    col.ty
                ));
            }
            if col.unique {
                return Err(format!(
                    "mask fixed = {v:?}: the column is unique, so a second anonymized row would collide; use hash or email_domain"
                ));
            }
            Ok(())
        }
        Mask::Hash if !text || col.max_len.is_some_and(|n| n < 64) => Err(format!(
            "mask hash writes 64 hex characters; the column is {}",
            col.ty
        )),
        Mask::EmailDomain | Mask::PhoneCountry if !text => Err(format!(
            "mask {} writes text; the column is {}",
            m.name(),
            col.ty
        )),
        Mask::EmailDomain if col.max_len.is_some_and(|n| n < 64) => Err(format!(
            "mask email_domain writes `erased-<16 hex>@domain` (24 characters plus the domain); the column is {}, give it at least 64",
            col.ty
        )),
        _ => Ok(()),
    }
}

/// Whether `d` is the dialect of the database.
pub(crate) fn dialect_name(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "SQLite",
        Dialect::Postgres => "PostgreSQL",
    }
}
