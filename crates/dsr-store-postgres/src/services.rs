//! The services a configuration declares, over this store: the subject directory in
//! PostgreSQL, services a person answers by hand, and in-memory services. Kinds that work on dsr's own SQLite file
//! (`conversations`, `table`) are refused by name.

use crate::PgStore;
use async_trait::async_trait;
use dsr_engine::config::{Config, ServiceKind};
use dsr_engine::directory::{SubjectRecords, SubjectsService};
use dsr_engine::manual::ManualService;
use dsr_engine::memory::MemoryService;
use dsr_engine::{Service, ServiceError, Services};
use dsr_model::{Subject, SubjectId, TenantId};
use std::sync::Arc;

fn service_err(e: crate::Error) -> ServiceError {
    if e.is_transient() {
        ServiceError::transient(e.to_string())
    } else {
        ServiceError::permanent(e.to_string())
    }
}

#[async_trait]
impl SubjectRecords for PgStore {
    async fn get(
        &self,
        tenant: &TenantId,
        id: &SubjectId,
    ) -> Result<Option<Subject>, ServiceError> {
        self.get_subject(tenant, id).await.map_err(service_err)
    }
    async fn put(&self, tenant: &TenantId, subject: Subject) -> Result<(), ServiceError> {
        self.upsert_subjects(tenant, &[subject])
            .await
            .map(|_| ())
            .map_err(service_err)
    }
    async fn delete(&self, tenant: &TenantId, id: &SubjectId) -> Result<(), ServiceError> {
        self.delete_subject(tenant, id)
            .await
            .map(|_| ())
            .map_err(service_err)
    }
}

/// Builds the configured services. Without `[[services]]`, the directory alone (the
/// SQLite default inventory's `conversations` lives in the SQLite file).
pub fn build_services(config: &Config, store: &PgStore) -> dsr_engine::Result<Services> {
    let mut out = Services::new();
    let declared = config.services.is_some();
    for c in config.services() {
        let s: Arc<dyn Service> = match c.kind {
            ServiceKind::Subjects => Arc::new(SubjectsService::new(Arc::new(store.clone()), &c)),
            ServiceKind::Memory => Arc::new(MemoryService::from_config(&c)),
            ServiceKind::Manual => Arc::new(ManualService::from_config(&c)),
            ServiceKind::Conversations if !declared => continue,
            // Outside dsr's database: built by dsr-connectors, composed in dsr-ops.
            ServiceKind::Http | ServiceKind::Sql => continue,
            other => {
                return Err(dsr_engine::Error::Config {
                    source_name: "dsr.toml".into(),
                    message: format!(
                        "service {:?}: kind {:?} works on dsr's own SQLite file and is not available with a PostgreSQL database; describe the same tables as a kind = \"sql\" service with the database's URL instead (kinds here: subjects, manual, memory, http, sql)",
                        c.name,
                        format!("{other:?}").to_lowercase()
                    ),
                });
            }
        };
        out.register(s)?;
    }
    Ok(out)
}
