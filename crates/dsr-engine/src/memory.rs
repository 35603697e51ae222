//! A reference service that keeps its records in memory: for tests, benchmarks, the
//! examples, and as a model for writing a real connector.

use crate::service::{
    Category, Erased, ErasureMode, KeepRule, Service, ServiceCall, ServiceError, ServiceInfo,
};
use crate::types::{Attachment, ExportRecord, Kept, Replacement, ReplacementField};
use async_trait::async_trait;
use dsr_model::Subject;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One record held by a [`MemoryService`].
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryRecord {
    /// The subject it belongs to, by id (optional: records can also be found by email or
    /// phone, as a real system would).
    pub subject_id: Option<String>,
    /// Emails it is filed under.
    pub emails: Vec<String>,
    /// Phones it is filed under (compared on digits).
    pub phones: Vec<String>,
    /// The category.
    pub category: Category,
    /// Provided by the subject (ported under art. 20) or derived.
    pub provided: bool,
    /// The data: a JSON object of fields.
    pub data: Value,
    /// Attachments (conversations, G-12).
    pub attachments: Vec<Attachment>,
}

impl MemoryRecord {
    /// A record of `category` for the subject with id `subject_id`.
    pub fn for_subject(subject_id: &str, category: Category, data: Value) -> Self {
        MemoryRecord {
            subject_id: Some(subject_id.to_owned()),
            emails: Vec::new(),
            phones: Vec::new(),
            category,
            provided: category != Category::Derived,
            data,
            attachments: Vec::new(),
        }
    }
    /// Adds an attachment.
    pub fn with_attachment(mut self, name: &str, content_type: &str, content: &[u8]) -> Self {
        use base64::Engine as _;
        self.attachments.push(Attachment {
            name: name.to_owned(),
            content_type: content_type.to_owned(),
            content_base64: base64::engine::general_purpose::STANDARD.encode(content),
        });
        self
    }

    fn belongs_to(&self, s: &Subject) -> bool {
        let digits = |p: &str| -> String { p.chars().filter(char::is_ascii_digit).collect() };
        self.subject_id.as_deref() == Some(s.id.as_str())
            || self
                .emails
                .iter()
                .any(|e| s.emails.iter().any(|x| x.eq_ignore_ascii_case(e)))
            || self.phones.iter().any(|p| {
                let d = digits(p);
                !d.is_empty() && s.phones.iter().any(|x| digits(x) == d)
            })
    }
}

/// Counters of calls made to a [`MemoryService`] (tests check idempotency with them).
#[derive(Debug, Default)]
pub struct Calls {
    /// Export calls.
    pub export: AtomicU64,
    /// Update calls.
    pub update: AtomicU64,
    /// Erase calls.
    pub erase: AtomicU64,
}

/// An in-memory service.
#[derive(Debug)]
pub struct MemoryService {
    info: ServiceInfo,
    records: Mutex<Vec<MemoryRecord>>,
    latency: Duration,
    transient_failures: AtomicU64,
    permanent_failure: Option<String>,
    /// How many calls were made.
    pub calls: Calls,
}

/// The value anonymized fields get.
pub const ANONYMIZED: &str = "[anonymized]";

impl MemoryService {
    /// From a `kind = "memory"` entry of `dsr.toml` (latency and failures simulated as
    /// configured).
    pub fn from_config(c: &crate::config::ServiceConfig) -> Self {
        let mut info = ServiceInfo::from_config(
            c,
            &["(simulated)"],
            &[Category::CustomerRelationship],
            false,
        );
        info.description = if c.description.is_empty() {
            "in-memory service (holds nothing across restarts)".into()
        } else {
            c.description.clone()
        };
        let mut m = MemoryService::new(info)
            .with_latency(Duration::from_millis(c.latency_ms))
            .with_transient_failures(c.transient_failures);
        if let Some(p) = &c.permanent_failure {
            m = m.with_permanent_failure(p);
        }
        m
    }

    /// An empty service.
    pub fn new(info: ServiceInfo) -> Self {
        MemoryService {
            info,
            records: Mutex::new(Vec::new()),
            latency: Duration::ZERO,
            transient_failures: AtomicU64::new(0),
            permanent_failure: None,
            calls: Calls::default(),
        }
    }
    /// Adds a record.
    pub fn insert(&self, record: MemoryRecord) {
        self.lock().push(record);
    }
    /// Each call waits this long first (simulates a remote system).
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
    /// The next `n` calls fail transiently (then calls succeed).
    pub fn with_transient_failures(self, n: u64) -> Self {
        self.transient_failures.store(n, Ordering::SeqCst);
        self
    }
    /// From now on, the next `n` calls fail transiently.
    pub fn set_transient_failures(&self, n: u64) {
        self.transient_failures.store(n, Ordering::SeqCst);
    }
    /// Every call fails permanently with this message.
    pub fn with_permanent_failure(mut self, message: &str) -> Self {
        self.permanent_failure = Some(message.to_owned());
        self
    }
    /// A copy of the records held now.
    pub fn records(&self) -> Vec<MemoryRecord> {
        self.lock().clone()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<MemoryRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
    async fn enter(&self) -> Result<(), ServiceError> {
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
        if let Some(m) = &self.permanent_failure {
            return Err(ServiceError::permanent(m.clone()));
        }
        let left = self.transient_failures.load(Ordering::SeqCst);
        if left > 0
            && self
                .transient_failures
                .compare_exchange(left, left - 1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            return Err(ServiceError::transient(format!(
                "{}: temporarily unavailable (simulated)",
                self.info.name
            )));
        }
        Ok(())
    }
}

fn replace_in(v: &mut Value, old: &str, new: &str) -> bool {
    match v {
        Value::String(s) if s == old => {
            *s = new.to_owned();
            true
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |acc, i| replace_in(i, old, new) | acc),
        Value::Object(map) => map
            .values_mut()
            .fold(false, |acc, i| replace_in(i, old, new) | acc),
        _ => false,
    }
}

fn anonymize(v: &mut Value) {
    match v {
        Value::String(s) => *s = ANONYMIZED.to_owned(),
        Value::Array(items) => items.iter_mut().for_each(anonymize),
        Value::Object(map) => map.values_mut().for_each(anonymize),
        _ => {}
    }
}

#[async_trait]
impl Service for MemoryService {
    fn info(&self) -> &ServiceInfo {
        &self.info
    }

    async fn export(&self, call: &ServiceCall) -> Result<Vec<ExportRecord>, ServiceError> {
        self.calls.export.fetch_add(1, Ordering::Relaxed);
        self.enter().await?;
        Ok(self
            .lock()
            .iter()
            .filter(|r| r.belongs_to(&call.subject))
            .map(|r| ExportRecord {
                category: r.category,
                provided: r.provided,
                data: r.data.clone(),
                attachments: r.attachments.clone(),
            })
            .collect())
    }

    async fn update(
        &self,
        call: &ServiceCall,
        replacements: &[Replacement],
    ) -> Result<u64, ServiceError> {
        self.calls.update.fetch_add(1, Ordering::Relaxed);
        self.enter().await?;
        let mut n = 0;
        for r in self
            .lock()
            .iter_mut()
            .filter(|r| r.belongs_to(&call.subject))
        {
            let mut changed = false;
            for rep in replacements {
                changed |= replace_in(&mut r.data, &rep.old, &rep.new);
                if rep.field == ReplacementField::Email {
                    for e in r
                        .emails
                        .iter_mut()
                        .filter(|e| e.eq_ignore_ascii_case(&rep.old))
                    {
                        *e = rep.new.clone();
                        changed = true;
                    }
                }
            }
            n += u64::from(changed);
        }
        Ok(n)
    }

    async fn erase(&self, call: &ServiceCall, keep: &[KeepRule]) -> Result<Erased, ServiceError> {
        self.calls.erase.fetch_add(1, Ordering::Relaxed);
        self.enter().await?;
        let mut out = Erased::default();
        let mut kept: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mode = self.info.erasure;
        let mut records = self.lock();
        records.retain_mut(|r| {
            if !r.belongs_to(&call.subject) {
                return true;
            }
            if let Some(rule) = keep.iter().find(|k| k.keeps(r.category)) {
                let what = rule.category.map_or("all".to_owned(), |c| c.to_string());
                *kept.entry((what, rule.ground.clone())).or_default() += 1;
                return true;
            }
            out.records += 1;
            out.attachments += r.attachments.len() as u64;
            match mode {
                ErasureMode::Delete => false,
                ErasureMode::Anonymize => {
                    anonymize(&mut r.data);
                    r.attachments.clear();
                    r.subject_id = None;
                    r.emails.clear();
                    r.phones.clear();
                    true
                }
            }
        });
        out.kept = kept
            .into_iter()
            .map(|((what, ground), records)| Kept {
                what,
                records,
                ground,
            })
            .collect();
        Ok(out)
    }
}
