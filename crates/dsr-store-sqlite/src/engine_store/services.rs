//! Reference services over the engine's own SQLite file, so the CLI and the examples do
//! real work: the subjects directory, the conversations with their attachments (G-12),
//! and tables described declaratively in `dsr.toml`.

use super::SqliteEngineStore;
use async_trait::async_trait;
use base64::Engine as _;
use dsr_engine::config::{Config, ServiceConfig, ServiceKind};
use dsr_engine::directory::{SubjectRecords, SubjectsService};
use dsr_engine::manual::ManualService;
use dsr_engine::memory::MemoryService;
use dsr_engine::service::{Erased, KeepRule};
use dsr_engine::{
    Attachment, Category, ErasureMode, ExportRecord, Kept, Replacement, Service, ServiceCall,
    ServiceError, ServiceInfo, Services,
};
use dsr_model::{Subject, SubjectId, TenantId};
use rusqlite::params;
use rusqlite::types::ValueRef;
use serde_json::{Value, json};
use std::sync::Arc;

/// The value anonymized text gets.
const ANONYMIZED: &str = "[anonymized]";

fn transient(e: impl std::fmt::Display) -> ServiceError {
    // Busy / locked databases go away; a missing table or column does not.
    let m = e.to_string();
    if m.contains("no such table") || m.contains("no such column") {
        ServiceError::permanent(m)
    } else {
        ServiceError::transient(m)
    }
}

fn info_from(
    c: &ServiceConfig,
    fields: &[&str],
    categories: &[Category],
    attachments: bool,
) -> ServiceInfo {
    ServiceInfo::from_config(c, fields, categories, attachments)
}

fn kept(rule: &KeepRule, records: u64) -> Kept {
    rule.kept(records)
}

/// The subject directory in this SQLite file, for [`SubjectsService`].
#[async_trait]
impl SubjectRecords for SqliteEngineStore {
    async fn get(
        &self,
        tenant: &TenantId,
        id: &SubjectId,
    ) -> Result<Option<Subject>, ServiceError> {
        self.db().get_subject(tenant, id).map_err(transient)
    }
    async fn put(&self, tenant: &TenantId, subject: Subject) -> Result<(), ServiceError> {
        self.db()
            .upsert_subjects(tenant, &[subject])
            .map(|_| ())
            .map_err(transient)
    }
    async fn delete(&self, tenant: &TenantId, id: &SubjectId) -> Result<(), ServiceError> {
        self.db()
            .delete_subject(tenant, id)
            .map(|_| ())
            .map_err(transient)
    }
}

/// The conversations linked to a contact (by its id or one of its external ids) and
/// their attachments (G-12). Export includes every attachment; erasure deletes the
/// conversations and attachments (delete mode) or blanks the conversation text and
/// removes every attachment the subject uploaded (anonymize mode).
#[derive(Debug)]
pub struct ConversationsService {
    info: ServiceInfo,
    store: SqliteEngineStore,
}

impl ConversationsService {
    /// From a `kind = "conversations"` entry.
    pub fn new(store: SqliteEngineStore, c: &ServiceConfig) -> Self {
        ConversationsService {
            info: info_from(
                c,
                &["conversation text", "attachments"],
                &[Category::Communications],
                true,
            ),
            store,
        }
    }
}

fn owner_keys(s: &Subject) -> String {
    let mut keys: Vec<&str> = vec![s.id.as_str()];
    keys.extend(s.external_ids.iter().map(String::as_str));
    serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into())
}

#[async_trait]
impl Service for ConversationsService {
    fn info(&self) -> &ServiceInfo {
        &self.info
    }

    async fn export(&self, call: &ServiceCall) -> Result<Vec<ExportRecord>, ServiceError> {
        let keys = owner_keys(&call.subject);
        self.store
            .read(|c| {
                let mut st = c.prepare_cached(
                    "SELECT id, channel, started_at, body FROM conversations
                     WHERE tenant = ?1 AND subject_id IN (SELECT value FROM json_each(?2)) ORDER BY started_at, id",
                )?;
                let convs: Vec<(String, String, String, String)> = st
                    .query_map(params![call.tenant.as_str(), keys], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                let mut att = c.prepare_cached(
                    "SELECT name, content_type, data, uploaded_by_subject FROM attachments
                     WHERE tenant = ?1 AND conversation_id = ?2 ORDER BY id",
                )?;
                let mut out = Vec::new();
                for (id, channel, started, body) in convs {
                    let rows = att
                        .query_map(params![call.tenant.as_str(), id], |r| {
                            Ok((
                                Attachment {
                                    name: r.get(0)?,
                                    content_type: r.get(1)?,
                                    content_base64: base64::engine::general_purpose::STANDARD
                                        .encode(r.get::<_, Vec<u8>>(2)?),
                                },
                                r.get::<_, bool>(3)?,
                            ))
                        })?
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    let uploaded: Vec<Value> = rows
                        .iter()
                        .map(|(a, by_subject)| {
                            json!({"name": a.name, "uploaded_by": if *by_subject { "subject" } else { "agent" }})
                        })
                        .collect();
                    let attachments = rows.into_iter().map(|(a, _)| a).collect();
                    // Imported conversations hold their messages as JSON
                    // (`dsr import --conversations`); older rows hold plain text.
                    let mut data = json!({"conversation": id, "channel": channel, "started_at": started});
                    match serde_json::from_str::<Value>(&body) {
                        Ok(Value::Object(m)) if m.contains_key("messages") => {
                            data["messages"] = m["messages"].clone();
                        }
                        _ => data["text"] = Value::String(body),
                    }
                    data["attachments"] = Value::Array(uploaded);
                    out.push(ExportRecord {
                        category: Category::Communications,
                        provided: true,
                        data,
                        attachments,
                    });
                }
                Ok(out)
            })
            .map_err(transient)
    }

    async fn update(&self, _call: &ServiceCall, _r: &[Replacement]) -> Result<u64, ServiceError> {
        // Conversations are records of what was said: nothing to rectify.
        Ok(0)
    }

    async fn erase(&self, call: &ServiceCall, keep: &[KeepRule]) -> Result<Erased, ServiceError> {
        let keys = owner_keys(&call.subject);
        let mode = self.info.erasure;
        let rule = keep
            .iter()
            .find(|k| k.keeps(Category::Communications))
            .cloned();
        let tenant = call.tenant.clone();
        self.store
            .write(move |tx| {
                let n: i64 = tx.query_row(
                    "SELECT count(*) FROM conversations WHERE tenant = ?1 AND subject_id IN (SELECT value FROM json_each(?2))",
                    params![tenant.as_str(), keys],
                    |r| r.get(0),
                )?;
                if let Some(rule) = rule {
                    return Ok(Erased {
                        kept: if n > 0 { vec![kept(&rule, n as u64)] } else { vec![] },
                        ..Erased::default()
                    });
                }
                let convs = "SELECT id FROM conversations WHERE tenant = ?1 AND subject_id IN (SELECT value FROM json_each(?2))";
                let attachments = match mode {
                    ErasureMode::Delete => tx.execute(
                        &format!("DELETE FROM attachments WHERE tenant = ?1 AND conversation_id IN ({convs})"),
                        params![tenant.as_str(), keys],
                    )?,
                    ErasureMode::Anonymize => tx.execute(
                        &format!(
                            "DELETE FROM attachments WHERE tenant = ?1 AND uploaded_by_subject = 1 AND conversation_id IN ({convs})"
                        ),
                        params![tenant.as_str(), keys],
                    )?,
                };
                let records = match mode {
                    ErasureMode::Delete => tx.execute(
                        "DELETE FROM conversations WHERE tenant = ?1 AND subject_id IN (SELECT value FROM json_each(?2))",
                        params![tenant.as_str(), keys],
                    )?,
                    ErasureMode::Anonymize => tx.execute(
                        "UPDATE conversations SET body = ?3, subject_id = NULL
                         WHERE tenant = ?1 AND subject_id IN (SELECT value FROM json_each(?2))",
                        params![tenant.as_str(), keys, ANONYMIZED],
                    )?,
                };
                Ok(Erased {
                    records: records as u64,
                    attachments: attachments as u64,
                    kept: Vec::new(),
                })
            })
            .map_err(transient)
    }
}

/// A table of the engine's database, described in `dsr.toml` (`kind = "table"`): rows
/// belong to the subject when `key_column` holds its id or a `match_columns` column
/// holds one of its emails, phones, names or external ids.
#[derive(Debug)]
pub struct TableService {
    info: ServiceInfo,
    store: SqliteEngineStore,
    table: String,
    key: String,
    matches: Vec<(String, String)>,
    columns: Vec<String>,
    category: Category,
    anonymize: Vec<(String, Option<String>)>,
}

fn q(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn sql_to_json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => json!({"base64": base64::engine::general_purpose::STANDARD.encode(b)}),
    }
}

impl TableService {
    /// From a validated `kind = "table"` entry.
    pub fn new(store: SqliteEngineStore, c: &ServiceConfig) -> Self {
        let category = c.category.unwrap_or(Category::CustomerRelationship);
        let key = c.key_column.clone().unwrap_or_else(|| "subject_id".into());
        let matches: Vec<(String, String)> = c.match_columns.clone().into_iter().collect();
        let anonymize = if c.anonymize.is_empty() {
            std::iter::once((key.clone(), None))
                .chain(matches.iter().map(|(col, _)| (col.clone(), None)))
                .collect()
        } else {
            c.anonymize
                .iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect()
        };
        let mut fields: Vec<&str> = vec![key.as_str()];
        fields.extend(matches.iter().map(|(c, _)| c.as_str()));
        let info = info_from(c, &fields, &[category], false);
        TableService {
            info,
            store,
            table: c.table.clone().unwrap_or_default(),
            key,
            matches,
            columns: c.columns.clone(),
            category,
            anonymize,
        }
    }

    /// The WHERE clause selecting the subject's rows (parameters ?1.. in `args`).
    fn selector(&self, s: &Subject) -> (String, Vec<String>) {
        let mut clauses = vec![format!("{} = ?1", q(&self.key))];
        let mut args = vec![s.id.as_str().to_owned()];
        for (col, field) in &self.matches {
            let values: Vec<String> = match field.as_str() {
                "email" => s.emails.iter().map(|e| e.to_lowercase()).collect(),
                "phone" => s.phones.clone(),
                "name" => s.names.clone(),
                _ => s.external_ids.clone(),
            };
            if values.is_empty() {
                continue;
            }
            args.push(serde_json::to_string(&values).unwrap_or_else(|_| "[]".into()));
            let lhs = if field == "email" {
                format!("lower({})", q(col))
            } else {
                q(col)
            };
            clauses.push(format!(
                "{lhs} IN (SELECT value FROM json_each(?{}))",
                args.len()
            ));
        }
        (format!("({})", clauses.join(" OR ")), args)
    }
}

#[async_trait]
impl Service for TableService {
    fn info(&self) -> &ServiceInfo {
        &self.info
    }

    async fn export(&self, call: &ServiceCall) -> Result<Vec<ExportRecord>, ServiceError> {
        let (filter, args) = self.selector(&call.subject);
        let cols = if self.columns.is_empty() {
            "*".to_owned()
        } else {
            self.columns
                .iter()
                .map(|c| q(c))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sql = format!("SELECT {cols} FROM {} WHERE {filter}", q(&self.table));
        let category = self.category;
        self.store
            .read(|c| {
                let mut st = c.prepare(&sql)?;
                let names: Vec<String> = st.column_names().map(str::to_owned).collect();
                let rows = st.query_map(rusqlite::params_from_iter(args.iter()), |r| {
                    let mut obj = serde_json::Map::new();
                    for (i, n) in names.iter().enumerate() {
                        obj.insert(n.clone(), sql_to_json(r.get_ref(i)?));
                    }
                    Ok(ExportRecord {
                        category,
                        provided: category != Category::Derived,
                        data: Value::Object(obj),
                        attachments: Vec::new(),
                    })
                })?;
                rows.collect()
            })
            .map_err(transient)
    }

    async fn update(
        &self,
        call: &ServiceCall,
        replacements: &[Replacement],
    ) -> Result<u64, ServiceError> {
        let (filter, mut args) = self.selector(&call.subject);
        let mut statements = Vec::new();
        for r in replacements {
            for (col, _) in self.matches.iter().filter(|(_, f)| r.field == f.as_str()) {
                let n = args.len();
                statements.push((
                    format!(
                        "UPDATE {} SET {c} = ?{} WHERE {c} = ?{} AND {filter}",
                        q(&self.table),
                        n + 1,
                        n + 2,
                        c = q(col)
                    ),
                    r.new.clone(),
                    r.old.clone(),
                ));
            }
        }
        if statements.is_empty() {
            return Ok(0);
        }
        let base = std::mem::take(&mut args);
        self.store
            .write(move |tx| {
                let mut n = 0u64;
                for (sql, new, old) in &statements {
                    let mut a = base.clone();
                    a.push(new.clone());
                    a.push(old.clone());
                    n += tx.execute(sql, rusqlite::params_from_iter(a.iter()))? as u64;
                }
                Ok(n)
            })
            .map_err(transient)
    }

    async fn erase(&self, call: &ServiceCall, keep: &[KeepRule]) -> Result<Erased, ServiceError> {
        let (filter, args) = self.selector(&call.subject);
        let table = q(&self.table);
        let rule = keep.iter().find(|k| k.keeps(self.category)).cloned();
        let mode = self.info.erasure;
        let mut anonymize_args = args.clone();
        let sets: Vec<String> = self
            .anonymize
            .iter()
            .map(|(col, v)| match v {
                Some(v) => {
                    anonymize_args.push(v.clone());
                    format!("{} = ?{}", q(col), anonymize_args.len())
                }
                None => format!("{} = NULL", q(col)),
            })
            .collect();
        self.store
            .write(move |tx| {
                let n: i64 = tx.query_row(
                    &format!("SELECT count(*) FROM {table} WHERE {filter}"),
                    rusqlite::params_from_iter(args.iter()),
                    |r| r.get(0),
                )?;
                if let Some(rule) = rule {
                    return Ok(Erased {
                        kept: if n > 0 {
                            vec![kept(&rule, n as u64)]
                        } else {
                            vec![]
                        },
                        ..Erased::default()
                    });
                }
                let records = match mode {
                    ErasureMode::Delete => tx.execute(
                        &format!("DELETE FROM {table} WHERE {filter}"),
                        rusqlite::params_from_iter(args.iter()),
                    )?,
                    ErasureMode::Anonymize => tx.execute(
                        &format!("UPDATE {table} SET {} WHERE {filter}", sets.join(", ")),
                        rusqlite::params_from_iter(anonymize_args.iter()),
                    )?,
                };
                Ok(Erased {
                    records: records as u64,
                    ..Erased::default()
                })
            })
            .map_err(transient)
    }
}

/// Builds the services a configuration declares (its `[[services]]`, or the default
/// inventory) over this store; the kinds that reach outside it (`http`, `sql`) are left
/// to dsr-connectors.
pub fn build_services(config: &Config, store: &SqliteEngineStore) -> dsr_engine::Result<Services> {
    let mut out = Services::new();
    for c in config.services() {
        let s: Arc<dyn Service> = match c.kind {
            ServiceKind::Subjects => Arc::new(SubjectsService::new(Arc::new(store.clone()), &c)),
            ServiceKind::Conversations => Arc::new(ConversationsService::new(store.clone(), &c)),
            ServiceKind::Table => Arc::new(TableService::new(store.clone(), &c)),
            ServiceKind::Memory => Arc::new(MemoryService::from_config(&c)),
            ServiceKind::Manual => Arc::new(ManualService::from_config(&c)),
            // Outside dsr's database: built by dsr-connectors, composed in dsr-ops.
            ServiceKind::Http | ServiceKind::Sql => continue,
        };
        out.register(s)?;
    }
    Ok(out)
}
