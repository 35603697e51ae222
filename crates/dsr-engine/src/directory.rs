//! The directory of subjects as a service (`kind = "subjects"`): export returns the
//! stored subject, update rectifies its fields, erase deletes it (or keeps only its id
//! and kind). The logic is here once; each store gives its records through
//! [`SubjectRecords`].

use crate::config::ServiceConfig;
use crate::service::{Erased, KeepRule};
use crate::{
    Category, ErasureMode, ExportRecord, Replacement, ReplacementField, Service, ServiceCall,
    ServiceError, ServiceInfo,
};
use async_trait::async_trait;
use dsr_model::{Subject, SubjectId, TenantId};
use serde_json::Value;
use std::sync::Arc;

/// Where a [`SubjectsService`] reads and writes subjects (a store's directory table).
/// Errors are the service's: transient when the same call may succeed later.
#[async_trait]
pub trait SubjectRecords: Send + Sync + std::fmt::Debug {
    /// One subject.
    async fn get(&self, tenant: &TenantId, id: &SubjectId)
    -> Result<Option<Subject>, ServiceError>;
    /// Inserts or replaces a subject.
    async fn put(&self, tenant: &TenantId, subject: Subject) -> Result<(), ServiceError>;
    /// Deletes a subject (nothing if absent).
    async fn delete(&self, tenant: &TenantId, id: &SubjectId) -> Result<(), ServiceError>;
}

/// The engine's own subjects directory as a service: export returns the stored subject
/// (custom attributes included), update rectifies its fields, erase deletes the subject
/// (or, in anonymize mode, keeps only its id and kind).
#[derive(Debug)]
pub struct SubjectsService {
    info: ServiceInfo,
    store: Arc<dyn SubjectRecords>,
}

impl SubjectsService {
    /// From a `kind = "subjects"` entry.
    pub fn new(store: Arc<dyn SubjectRecords>, c: &ServiceConfig) -> Self {
        SubjectsService {
            info: ServiceInfo::from_config(
                c,
                &[
                    "names",
                    "emails",
                    "phones",
                    "addresses",
                    "handles",
                    "external_ids",
                    "custom",
                ],
                &[Category::CustomerRelationship],
                false,
            ),
            store,
        }
    }
    fn category(s: &Subject) -> Category {
        if s.kind == dsr_model::SubjectKind::User {
            Category::Employment
        } else {
            Category::CustomerRelationship
        }
    }
}

fn replace_values(values: &mut [String], old: &str, new: &str) -> bool {
    let mut changed = false;
    for v in values.iter_mut().filter(|v| v.as_str() == old) {
        *v = new.to_owned();
        changed = true;
    }
    changed
}

#[async_trait]
impl Service for SubjectsService {
    fn info(&self) -> &ServiceInfo {
        &self.info
    }

    async fn export(&self, call: &ServiceCall) -> Result<Vec<ExportRecord>, ServiceError> {
        let s = self.store.get(&call.tenant, &call.subject.id).await?;
        Ok(s.map(|s| ExportRecord {
            category: Self::category(&s),
            provided: true,
            data: serde_json::to_value(&s).unwrap_or(Value::Null),
            attachments: Vec::new(),
        })
        .into_iter()
        .collect())
    }

    async fn update(
        &self,
        call: &ServiceCall,
        replacements: &[Replacement],
    ) -> Result<u64, ServiceError> {
        let Some(mut s) = self.store.get(&call.tenant, &call.subject.id).await? else {
            return Ok(0);
        };
        let mut changed = false;
        for r in replacements {
            changed |= match &r.field {
                ReplacementField::Name => replace_values(&mut s.names, &r.old, &r.new),
                ReplacementField::Email => replace_values(&mut s.emails, &r.old, &r.new),
                ReplacementField::Phone => replace_values(&mut s.phones, &r.old, &r.new),
                ReplacementField::Address => replace_values(&mut s.addresses, &r.old, &r.new),
                ReplacementField::ExternalId => replace_values(&mut s.external_ids, &r.old, &r.new),
                ReplacementField::Handle => {
                    let mut c = false;
                    for h in s.handles.iter_mut().filter(|h| h.value == r.old) {
                        h.value = r.new.clone();
                        c = true;
                    }
                    c
                }
                ReplacementField::Custom(k) => match s.custom.get_mut(k) {
                    Some(v) if *v == r.old => {
                        *v = r.new.clone();
                        true
                    }
                    _ => false,
                },
            };
        }
        if !changed {
            return Ok(0);
        }
        s.validate().map_err(|e| {
            ServiceError::permanent(format!("the rectified subject is not valid: {e}"))
        })?;
        self.store.put(&call.tenant, s).await?;
        Ok(1)
    }

    async fn erase(&self, call: &ServiceCall, keep: &[KeepRule]) -> Result<Erased, ServiceError> {
        let Some(s) = self.store.get(&call.tenant, &call.subject.id).await? else {
            return Ok(Erased::default());
        };
        if let Some(rule) = keep.iter().find(|k| k.keeps(Self::category(&s))) {
            return Ok(Erased {
                kept: vec![rule.kept(1)],
                ..Erased::default()
            });
        }
        match self.info.erasure {
            ErasureMode::Delete => {
                self.store.delete(&call.tenant, &s.id).await?;
            }
            ErasureMode::Anonymize => {
                let mut a = Subject::new(s.kind, s.id.clone());
                a.merge_set = s.merge_set.clone();
                a.canonical = s.canonical;
                a.employment = s.employment;
                a.contact_list = s.contact_list.clone();
                self.store.put(&call.tenant, a).await?;
            }
        }
        Ok(Erased {
            records: 1,
            ..Erased::default()
        })
    }
}
