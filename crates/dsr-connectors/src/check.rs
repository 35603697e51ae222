//! `dsr services check`: every connector against the live system, before a request
//! runs. A SQL mapping is checked against the live schema (tables, columns, types,
//! nullability, unique columns, foreign keys) and every mask against its column; an
//! HTTP service is pinged on its health path. A service that cannot be reached is a
//! problem, never skipped.

use crate::http::HttpService;
use crate::sql::db::{ColKind, LiveSchema};
use crate::sql::{Identifier, SqlService, dialect_name, mask_fits};
use dsr_engine::ErasureMode;
use dsr_engine::config::{Config, ServiceKind};
use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Checked and fine.
    Ok,
    /// Works, but worth a look.
    Warning,
    /// A request would fail or act wrongly: fix it first.
    Problem,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The service.
    pub service: String,
    /// How bad.
    pub level: Level,
    /// Where: `table`, `table.column`, `health`, `config`.
    pub place: String,
    /// What was found, and what to do.
    pub message: String,
}

/// What the check found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Every finding, by service in configuration order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether any finding is a problem.
    pub fn has_problems(&self) -> bool {
        self.findings.iter().any(|f| f.level == Level::Problem)
    }
    fn push(
        &mut self,
        service: &str,
        level: Level,
        place: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            service: service.to_owned(),
            level,
            place: place.into(),
            message: message.into(),
        });
    }
}

/// Checks every connector service of the configuration (the kinds dsr-connectors
/// builds; the others live in dsr's own database and need no check).
pub async fn check(config: &Config) -> Report {
    let mut r = Report::default();
    for c in config.services() {
        match c.kind {
            ServiceKind::Http => match HttpService::from_config(config, &c) {
                Err(e) => r.push(&c.name, Level::Problem, "config", e.to_string()),
                Ok(s) => check_http(&mut r, &c.name, &s).await,
            },
            ServiceKind::Sql => match SqlService::from_config(config, &c) {
                Err(e) => r.push(&c.name, Level::Problem, "config", e.to_string()),
                Ok(s) => check_sql(&mut r, &c.name, &s).await,
            },
            _ => {}
        }
    }
    r
}

async fn check_http(r: &mut Report, name: &str, s: &HttpService) {
    match s.ping().await {
        None => r.push(
            name,
            Level::Warning,
            "health",
            format!(
                "no health_path: {} is not contacted before a request; give one to have it checked",
                crate::http::client::shown(s.base_url())
            ),
        ),
        Some(Ok(status)) => r.push(name, Level::Ok, "health", format!("answered {status}")),
        Some(Err(e)) => r.push(
            name,
            Level::Problem,
            "health",
            format!("unreachable or failing: {e}"),
        ),
    }
}

async fn check_sql(r: &mut Report, name: &str, s: &SqlService) {
    let db = dialect_name(s.database().dialect());
    let live = match s.database().conn().await {
        Err(e) => {
            return r.push(
                name,
                Level::Problem,
                "database",
                format!("{db}: unreachable: {}", e.message),
            );
        }
        Ok(mut c) => match c.schema().await {
            Err(e) => {
                return r.push(
                    name,
                    Level::Problem,
                    "database",
                    format!("{db}: cannot read the schema: {}", e.message),
                );
            }
            Ok(l) => l,
        },
    };
    let before = r.findings.len();
    check_mapping(r, name, s, &live);
    if r.findings[before..]
        .iter()
        .all(|f| f.level != Level::Problem)
    {
        r.push(
            name,
            Level::Ok,
            "mapping",
            format!(
                "{db}: {} tables match the live schema",
                s.plan().tables.len()
            ),
        );
    }
}

/// The mapping of `s` against `live`.
pub fn check_mapping(r: &mut Report, name: &str, s: &SqlService, live: &LiveSchema) {
    let plan = s.plan();
    for t in &plan.tables {
        let Some(cols) = live.tables.get(&t.name) else {
            r.push(
                name,
                Level::Problem,
                &t.name,
                format!(
                    "table {} does not exist (tables: {})",
                    t.name,
                    live.tables.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
            continue;
        };
        let mut reported = std::collections::BTreeSet::new();
        for (key, col) in t.named_columns() {
            if !cols.iter().any(|c| c.name == col) && reported.insert(col) {
                r.push(
                    name,
                    Level::Problem,
                    format!("{}.{col}", t.name),
                    format!(
                        "{key}: column {col} does not exist in {} (columns: {})",
                        t.name,
                        cols.iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
        // The columns that exist are checked further; the missing ones are reported.
        let Some(key) = live.column(&t.name, &t.key) else {
            continue;
        };
        if !key.unique {
            r.push(
                name,
                Level::Problem,
                format!("{}.{}", t.name, t.key),
                "key: the column is neither the primary key nor unique, so one key may be several rows (give the primary key)",
            );
        }
        for (c, ident) in &t.find {
            let Some(lc) = live.column(&t.name, c) else {
                continue;
            };
            if matches!(
                ident,
                Identifier::Email | Identifier::Phone | Identifier::Handle
            ) && lc.kind != ColKind::Text
            {
                r.push(
                    name,
                    Level::Problem,
                    format!("{}.{c}", t.name),
                    format!(
                        "find: {ident:?} is looked up as text; the column is {}",
                        lc.ty
                    ),
                );
            }
        }
        for (c, p, to) in &t.references {
            let parent = &plan.tables[*p];
            let Some(lc) = live.column(&t.name, c) else {
                continue;
            };
            let Some(pc) = live.column(&parent.name, to) else {
                continue; // reported with the parent's table
            };
            if lc.kind != pc.kind {
                r.push(
                    name,
                    Level::Problem,
                    format!("{}.{c}", t.name),
                    format!(
                        "references: {}.{c} is {} but {}.{to} is {}: the values cannot be compared",
                        t.name, lc.ty, parent.name, pc.ty
                    ),
                );
            }
            let declared = live.fks.iter().any(|f| {
                f.table == t.name
                    && f.column == *c
                    && f.to_table == parent.name
                    && f.to_column == *to
            });
            if !declared {
                r.push(
                    name,
                    Level::Warning,
                    format!("{}.{c}", t.name),
                    format!(
                        "references: no foreign key {}.{c} → {}.{to} in the database; rows are still followed, but nothing keeps them consistent",
                        t.name, parent.name
                    ),
                );
            }
        }
        for (c, m) in &t.masks {
            let Some(lc) = live.column(&t.name, c) else {
                continue;
            };
            if let Err(e) = mask_fits(m, lc) {
                r.push(
                    name,
                    Level::Problem,
                    format!("{}.{c}", t.name),
                    format!("mask.{c}: {e}"),
                );
            }
        }
        if let Some(a) = &t.attachment
            && let Some(ac) = live.column(&t.name, &a.content)
            && ac.kind != ColKind::Bytes
            && ac.kind != ColKind::Text
        {
            r.push(
                name,
                Level::Problem,
                format!("{}.{}", t.name, a.content),
                format!(
                    "attachment.content: the column is {}; bytes (bytea / BLOB) are expected",
                    ac.ty
                ),
            );
        }
        // Rows outside the mapping that point at rows this mapping deletes: the delete
        // would fail, or cascade into data nobody mapped.
        if t.erasure == ErasureMode::Delete {
            for f in live.fks.iter().filter(|f| f.to_table == t.name) {
                let mapped_child = plan.tables.iter().find(|x| x.name == f.table);
                let followed = mapped_child.is_some_and(|x| {
                    x.references
                        .iter()
                        .any(|(c, p, _)| *c == f.column && plan.tables[*p].name == t.name)
                });
                if followed {
                    continue;
                }
                let what = if mapped_child.is_some() {
                    format!(
                        "{} is mapped but does not follow {}.{}",
                        f.table, f.table, f.column
                    )
                } else {
                    format!("{} is not mapped", f.table)
                };
                let effect = match f.on_delete.as_str() {
                    "cascade" => "deleting them would silently delete its rows too",
                    "set null" | "set default" => "deleting them would silently rewrite its rows",
                    _ => "deleting them would fail",
                };
                r.push(
                    name,
                    Level::Problem,
                    format!("{}.{}", f.table, f.column),
                    format!(
                        "foreign key {}.{} → {}.{} (on delete {}): {what}, and {effect}; map {} with references = [{{ column = \"{}\", table = \"{}\" }}]",
                        f.table, f.column, f.to_table, f.to_column, f.on_delete, f.table, f.column, t.name
                    ),
                );
            }
        }
    }
}
