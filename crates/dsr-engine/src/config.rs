//! Configuration: `dsr.toml` (every key is documented in `docs/engine.md`). Sane defaults
//! when absent; an unknown key is an error that names it.

use crate::deadline::Targets;
use crate::policy::Policy;
use crate::service::{Category, ErasureMode};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The kinds of service a configuration can declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// The engine's own subjects directory (the `subjects` table).
    Subjects,
    /// The engine's own conversations and attachments tables (G-12).
    Conversations,
    /// A table of the engine's database, described declaratively.
    Table,
    /// An in-memory service (tests, load runs): holds nothing across restarts.
    Memory,
    /// A person or team answers by hand (G-18): tasks wait on them (`dsr task`).
    Manual,
    /// An HTTP API of the organisation or a vendor (`[services.http]`; built by
    /// `dsr-connectors`).
    Http,
    /// A PostgreSQL or SQLite database other than dsr's own (`[services.sql]`; built by
    /// `dsr-connectors`).
    Sql,
}

/// The settings table of a connector kind (`[services.http]`, `[services.sql]`), kept
/// as TOML: the connector that owns the kind parses and checks it (`dsr-connectors`,
/// every key in `docs/connectors.md`), so the engine does not carry every connector's
/// settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectorSettings(pub toml::Table);

// TOML values compare structurally; a NaN in a connector's settings is refused by the
// connector that parses them.
impl Eq for ConnectorSettings {}

/// One `[[services]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Unique name.
    pub name: String,
    /// What kind of service.
    pub kind: ServiceKind,
    /// `delete` or `anonymize`.
    pub erasure: ErasureMode,
    /// What it is.
    #[serde(default)]
    pub description: String,
    /// Data categories (default: per kind).
    #[serde(default)]
    pub categories: Vec<Category>,
    /// Personal fields held (default: per kind).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Fields held but not searchable (blind spots).
    #[serde(default)]
    pub unsearchable: Vec<String>,
    /// `table`: the table name.
    #[serde(default)]
    pub table: Option<String>,
    /// `table`: the column holding the subject id.
    #[serde(default)]
    pub key_column: Option<String>,
    /// `table`: further columns matched against the subject's fields, `column = "field"`
    /// with field one of `email`, `phone`, `name`, `external_id`.
    #[serde(default)]
    pub match_columns: BTreeMap<String, String>,
    /// `table`: columns exported (default: every column).
    #[serde(default)]
    pub columns: Vec<String>,
    /// `table`: the category of its rows.
    #[serde(default)]
    pub category: Option<Category>,
    /// `table`, anonymize mode: `column = "value"` written over personal columns
    /// (default: every matched and key column is set to NULL).
    #[serde(default)]
    pub anonymize: BTreeMap<String, String>,
    /// `memory`: milliseconds each call takes.
    #[serde(default)]
    pub latency_ms: u64,
    /// `memory`: the first N calls fail transiently.
    #[serde(default)]
    pub transient_failures: u64,
    /// `memory`: every call fails permanently with this message.
    #[serde(default)]
    pub permanent_failure: Option<String>,
    /// `manual`: the person or team who answers.
    #[serde(default)]
    pub assignee: Option<String>,
    /// `manual`: what they must do.
    #[serde(default)]
    pub instructions: Option<String>,
    /// `manual`: hours before the due date when a reminder is due (default 24; 0: only
    /// the overdue reminder).
    #[serde(default)]
    pub remind_before_hours: Option<u32>,
    /// `http`: the `[services.http]` table (`docs/connectors.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<ConnectorSettings>,
    /// `sql`: the `[services.sql]` table (`docs/connectors.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<ConnectorSettings>,
}

impl ServiceConfig {
    /// A service entry with the defaults of its kind.
    pub fn new(name: &str, kind: ServiceKind, erasure: ErasureMode) -> Self {
        ServiceConfig {
            name: name.into(),
            kind,
            erasure,
            description: String::new(),
            categories: Vec::new(),
            fields: Vec::new(),
            unsearchable: Vec::new(),
            table: None,
            key_column: None,
            match_columns: BTreeMap::new(),
            columns: Vec::new(),
            category: None,
            anonymize: BTreeMap::new(),
            latency_ms: 0,
            transient_failures: 0,
            permanent_failure: None,
            assignee: None,
            instructions: None,
            remind_before_hours: None,
            http: None,
            sql: None,
        }
    }
}

/// `[worker]`: how workers run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSettings {
    /// Tasks carried out at once per worker.
    pub concurrency: usize,
    /// Lease length: a task whose worker died is taken over after this.
    pub lease_seconds: u64,
    /// Attempts before a task is marked failed.
    pub max_attempts: u32,
    /// First retry delay, doubled per attempt.
    pub backoff_ms: u64,
    /// Longest retry delay.
    pub backoff_cap_ms: u64,
    /// How often an idle worker looks for work.
    pub poll_ms: u64,
    /// Longest a service call may take before it counts as a transient failure.
    pub call_timeout_seconds: u64,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            concurrency: 16,
            lease_seconds: 60,
            max_attempts: 5,
            backoff_ms: 500,
            backoff_cap_ms: 60_000,
            poll_ms: 200,
            call_timeout_seconds: 30,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The organisation's name (in packages).
    pub organisation: String,
    /// The Ed25519 signing key file (created on first use). Relative paths are relative
    /// to the configuration file (or to the database without one). Default:
    /// `dsr-signing.key` beside the database.
    pub signing_key: Option<PathBuf>,
    /// `[deadlines]`: service targets per type, in days (G-15).
    pub deadlines: Targets,
    /// `[worker]`.
    pub worker: WorkerSettings,
    /// `[policy]`.
    pub policy: Policy,
    /// `[retention]`: how long dsr keeps its own copies of personal data.
    pub retention: crate::privacy::Retention,
    /// `[[services]]` (default: the subjects directory, deleting, and the conversations,
    /// anonymizing).
    pub services: Option<Vec<ServiceConfig>>,
    /// Where relative paths are resolved from (the file's directory).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            organisation: "dsr (set `organisation` in dsr.toml)".into(),
            signing_key: None,
            deadlines: Targets::recommended(),
            worker: WorkerSettings::default(),
            policy: Policy::default(),
            retention: crate::privacy::Retention::default(),
            services: None,
            base_dir: None,
        }
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 64
}

impl Config {
    /// The default inventory: the subjects directory and the conversations.
    pub fn default_services() -> Vec<ServiceConfig> {
        let mut dir = ServiceConfig::new("directory", ServiceKind::Subjects, ErasureMode::Delete);
        dir.description =
            "the subjects directory of this engine (contacts, users, dialer entries)".into();
        let mut conv = ServiceConfig::new(
            "conversations",
            ServiceKind::Conversations,
            ErasureMode::Anonymize,
        );
        conv.description = "conversations linked to a contact, with their attachments".into();
        vec![dir, conv]
    }

    /// The services declared, or the default inventory.
    pub fn services(&self) -> Vec<ServiceConfig> {
        self.services.clone().unwrap_or_else(Self::default_services)
    }

    /// Parses and validates TOML text; `source` names it in errors.
    pub fn from_toml(text: &str, source: &str) -> Result<Self> {
        let cfg: Config = toml::from_str(text).map_err(|e| Error::Config {
            source_name: source.into(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        cfg.validate().map_err(|message| Error::Config {
            source_name: source.into(),
            message,
        })?;
        Ok(cfg)
    }

    /// Reads a file.
    pub fn load(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            source_name: shown.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let mut cfg = Self::from_toml(&text, &shown)?;
        cfg.base_dir = path.parent().map(Path::to_owned);
        Ok(cfg)
    }

    /// The signing key path, resolved against the config file's directory, else
    /// `fallback_dir` (the database's directory).
    pub fn signing_key_path(&self, fallback_dir: &Path) -> PathBuf {
        let p = self
            .signing_key
            .clone()
            .unwrap_or_else(|| PathBuf::from("dsr-signing.key"));
        if p.is_absolute() {
            return p;
        }
        match (&self.base_dir, &self.signing_key) {
            (Some(b), Some(_)) => b.join(p),
            _ => fallback_dir.join(p),
        }
    }

    /// Checks what serde cannot: names, kinds' required keys, limits.
    pub fn validate(&self) -> std::result::Result<(), String> {
        for (k, d) in [
            ("export", self.deadlines.export),
            ("update", self.deadlines.update),
            ("delete", self.deadlines.delete),
            ("portability", self.deadlines.portability),
        ] {
            if let Some(d) = d
                && !(1..=31).contains(&d)
            {
                return Err(format!(
                    "deadlines.{k}: {d} days is not accepted (1 to 31: a service target cannot exceed the one-month legal deadline; extend a request instead)"
                ));
            }
        }
        self.retention.validate()?;
        let w = &self.worker;
        for (k, v) in [
            ("worker.concurrency", w.concurrency as u64),
            ("worker.lease_seconds", w.lease_seconds),
            ("worker.max_attempts", u64::from(w.max_attempts)),
            ("worker.poll_ms", w.poll_ms),
            ("worker.call_timeout_seconds", w.call_timeout_seconds),
        ] {
            if v == 0 {
                return Err(format!("{k}: must be at least 1"));
            }
        }
        if w.concurrency > 1024 {
            return Err("worker.concurrency: at most 1024".into());
        }
        for (k, v, max) in [
            ("worker.lease_seconds", w.lease_seconds, 86_400),
            (
                "worker.call_timeout_seconds",
                w.call_timeout_seconds,
                86_400,
            ),
            ("worker.poll_ms", w.poll_ms, 3_600_000),
            ("worker.backoff_ms", w.backoff_ms, 86_400_000),
            ("worker.backoff_cap_ms", w.backoff_cap_ms, 7 * 86_400_000),
            ("worker.max_attempts", u64::from(w.max_attempts), 1_000_000),
        ] {
            if v > max {
                return Err(format!("{k}: {v} is not accepted (at most {max})"));
            }
        }
        let services = self.services();
        let mut names = std::collections::BTreeSet::new();
        for s in &services {
            let at = format!("services[{}]", s.name);
            crate::ServiceInfo::new(s.name.clone(), s.erasure)
                .validate()
                .map_err(|e| format!("{at}: {e}"))?;
            if !names.insert(s.name.as_str()) {
                return Err(format!(
                    "{at}: the name is used twice; names must be unique"
                ));
            }
            let table_keys = s.table.is_some()
                || s.key_column.is_some()
                || !s.match_columns.is_empty()
                || !s.columns.is_empty()
                || !s.anonymize.is_empty();
            let memory_keys =
                s.latency_ms > 0 || s.transient_failures > 0 || s.permanent_failure.is_some();
            if s.kind != ServiceKind::Table && table_keys {
                return Err(format!(
                    "{at}: table, key_column, match_columns, columns and anonymize are only accepted with kind = \"table\""
                ));
            }
            if s.kind != ServiceKind::Memory && memory_keys {
                return Err(format!(
                    "{at}: latency_ms, transient_failures and permanent_failure are only accepted with kind = \"memory\""
                ));
            }
            let manual_keys =
                s.assignee.is_some() || s.instructions.is_some() || s.remind_before_hours.is_some();
            if s.kind != ServiceKind::Manual && manual_keys {
                return Err(format!(
                    "{at}: assignee, instructions and remind_before_hours are only accepted with kind = \"manual\""
                ));
            }
            if s.kind == ServiceKind::Manual {
                crate::manual::check_config(s).map_err(|e| format!("{at}: {e}"))?;
            }
            for (kind, key, present) in [
                (ServiceKind::Http, "http", s.http.is_some()),
                (ServiceKind::Sql, "sql", s.sql.is_some()),
            ] {
                if s.kind == kind && !present {
                    return Err(format!(
                        "{at}: kind = \"{key}\" needs a [services.{key}] table (docs/connectors.md)"
                    ));
                }
                if s.kind != kind && present {
                    return Err(format!(
                        "{at}: [services.{key}] is only accepted with kind = \"{key}\""
                    ));
                }
            }
            if s.kind == ServiceKind::Table {
                let table = s
                    .table
                    .as_deref()
                    .ok_or(format!("{at}: kind = \"table\" needs `table`"))?;
                let key = s.key_column.as_deref().ok_or(format!(
                    "{at}: kind = \"table\" needs `key_column` (the column holding the subject id)"
                ))?;
                for ident in std::iter::once(table)
                    .chain(std::iter::once(key))
                    .chain(s.match_columns.keys().map(String::as_str))
                    .chain(s.columns.iter().map(String::as_str))
                    .chain(s.anonymize.keys().map(String::as_str))
                {
                    if !is_ident(ident) {
                        return Err(format!(
                            "{at}: {ident:?} is not accepted as a table or column name (letters, digits, '_'; not starting with a digit)"
                        ));
                    }
                }
                for (col, field) in &s.match_columns {
                    if !matches!(field.as_str(), "email" | "phone" | "name" | "external_id") {
                        return Err(format!(
                            "{at}: match_columns.{col} = {field:?} is not accepted (email, phone, name or external_id)"
                        ));
                    }
                }
            }
        }
        for r in &self.policy.retention {
            if !names.contains(r.service.as_str()) {
                return Err(format!(
                    "policy.retention: service {:?} is not declared (declared: {})",
                    r.service,
                    names.iter().copied().collect::<Vec<_>>().join(", ")
                ));
            }
            if r.ground.trim().is_empty() {
                return Err("policy.retention: ground must not be empty".into());
            }
        }
        for h in &self.policy.legal_hold {
            if h.ground.trim().is_empty() || h.subject.trim().is_empty() {
                return Err("policy.legal_hold: subject and ground must not be empty".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_empty() {
        let c = Config::from_toml("", "t").unwrap();
        assert_eq!(c.services().len(), 2);
        assert_eq!(c.deadlines.export, Some(2));
        assert_eq!(c.worker.max_attempts, 5);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::from_toml("organisaton = \"x\"", "dsr.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("organisaton") && err.contains("dsr.toml"),
            "{err}"
        );
        let err = Config::from_toml("[worker]\nleases = 3", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("leases"), "{err}");
        let err = Config::from_toml(
            "[[services]]\nname='a'\nkind='memory'\nerasure='delete'\ntable='x'",
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("only accepted with kind = \"table\""), "{err}");
    }

    #[test]
    fn bad_values_say_what_is_accepted() {
        for (toml, want) in [
            ("[deadlines]\ndelete = 45", "1 to 31"),
            ("[worker]\nmax_attempts = 0", "at least 1"),
            ("[worker]\nlease_seconds = 999999999999", "at most 86400"),
            (
                "[[services]]\nname='a'\nkind='memory'\nerasure='shred'",
                "delete",
            ),
            (
                "[[services]]\nname='a b'\nkind='memory'\nerasure='delete'",
                "letters, digits",
            ),
            (
                "[[services]]\nname='t'\nkind='table'\nerasure='delete'\ntable='x'",
                "key_column",
            ),
            (
                "[[services]]\nname='t'\nkind='table'\nerasure='delete'\ntable='x;drop'\nkey_column='id'",
                "table or column name",
            ),
            (
                "[[policy.retention]]\nservice='billing'\ncategory='transactional'\nground='x'",
                "not declared",
            ),
            (
                "[[services]]\nname='m'\nkind='manual'\nerasure='delete'\ninstructions='x'",
                "needs `assignee`",
            ),
            (
                "[[services]]\nname='m'\nkind='manual'\nerasure='delete'\nassignee='dpo'",
                "needs `instructions`",
            ),
            (
                "[[services]]\nname='m'\nkind='memory'\nerasure='delete'\nassignee='dpo'",
                "only accepted with kind = \"manual\"",
            ),
            (
                "[[services]]\nname='m'\nkind='manual'\nerasure='delete'\nassignee='dpo'\ninstructions='x'\nremind_before_hours=9999",
                "0 to 744",
            ),
            (
                "[[services]]\nname='h'\nkind='http'\nerasure='delete'",
                "needs a [services.http] table",
            ),
            (
                "[[services]]\nname='m'\nkind='memory'\nerasure='delete'\n[services.sql]\nurl='x'",
                "[services.sql] is only accepted with kind = \"sql\"",
            ),
        ] {
            let err = Config::from_toml(toml, "t").unwrap_err().to_string();
            assert!(err.contains(want), "{toml}: {err}");
        }
    }
}
