//! The request engine of dsr: a data subject request (GDPR art. 15, 16, 17, 20) for one
//! person is carried out on every service that holds their data, asynchronously,
//! durably and provably.
//!
//! The shape is *functional core, imperative shell*:
//!
//! - [`state`] holds the pure transition functions of requests and per-service tasks
//!   (`(state, event) -> (state, effects)`), [`audit`] the pure hash chain, [`package`]
//!   the pure export package and its signature, [`deadline`] the due-date arithmetic and
//!   [`policy`] the holds (active employees, art. 17(3) exceptions, legal holds). None of
//!   them does IO.
//! - [`Engine`] (create, resolve, fan out, cancel, decide, extend, download) and
//!   [`Worker`] (claim with a lease, call the service, record the outcome) are the shell:
//!   they load state from a [`Store`], apply the pure functions, and write the result back
//!   in one conditional commit ([`store::Change`]), so a crash at any point leaves either
//!   the old state or the new one, never half.
//!
//! The key design decision: the durable store is the only source of truth. A worker holds
//! nothing a crash can lose; a task is finished by a commit that is conditional on the
//! worker still owning the task's lease for that attempt, and the audit entry recording
//! it is written in the same transaction, so a task is recorded done exactly once even if
//! a service was called twice (services must be idempotent: erasing twice is fine).
//!
//! Boundaries (public traits a host implements): [`Service`] (a system that holds
//! personal data), [`Store`] (durable state; [`MemoryStore`] here, `dsr-store-sqlite`
//! ships the embedded one, `dsr-store-postgres` the shared one) and [`Clock`] (time, so
//! deadlines and leases are testable without waiting). A store decides nothing: what a
//! claim does to a task ([`store::ClaimSpec::claim`]), which statuses are finished
//! ([`RequestStatus::FINISHED`]) and every audit event ([`audit::AuditAction`]) come
//! from here, and [`conformance`] is the contract every store passes.
//!
//! # A request from start to finish
//!
//! A host registers its systems as [`Services`] (see [`Service`] for writing one), gives
//! the engine a [`Store`] and a [`Clock`], and keeps its subjects (customers, users) in a
//! [`dsr_match::Directory`] the engine resolves requests against. [`Engine::create`]
//! records the request and one task per service; a [`Worker`] carries the tasks out.
//! Here an export for one customer, on [`MemoryStore`] with the in-memory reference
//! service [`memory::MemoryService`]:
//!
//! ```
//! use dsr_engine::memory::{MemoryRecord, MemoryService};
//! use dsr_engine::{
//!     Category, CreateOptions, Engine, ErasureMode, MemoryStore, RequestStatus, ServiceInfo,
//!     Services, SystemClock, Target, TaskStatus, Worker, WorkerConfig, package,
//! };
//! use dsr_match::{Directory, MatchConfig};
//! use dsr_model::{RequestType, Subject, SubjectId, SubjectKind, TenantId, Term};
//! use std::sync::Arc;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The host's customer list, as the directory requests are resolved against.
//! let mut jeanne = Subject::new(SubjectKind::ExternalContact, SubjectId::new("cust-1")?);
//! jeanne.names.push("Jeanne Martin".into());
//! jeanne.emails.push("jeanne.martin@example.com".into());
//! let mut directory = Directory::new(MatchConfig::default())?;
//! directory.upsert(jeanne)?;
//!
//! // One system that holds her data.
//! let crm = MemoryService::new(ServiceInfo::new("crm", ErasureMode::Delete));
//! crm.insert(MemoryRecord::for_subject(
//!     "cust-1",
//!     Category::CustomerRelationship,
//!     serde_json::json!({"plan": "gold", "since": "2024-03-01"}),
//! ));
//! let services = Services::new().with(Arc::new(crm))?;
//!
//! let engine = Arc::new(Engine::new(
//!     TenantId::new("shop")?,
//!     Arc::new(MemoryStore::new()),
//!     services,
//!     Arc::new(SystemClock),
//! )?);
//!
//! // "Send me my data", found by the email she wrote from.
//! let term = Term::parse("email:Jeanne.Martin@example.com")?;
//! let created = engine
//!     .create(&directory, CreateOptions::new(RequestType::Export, Target::Term(term)))
//!     .await?;
//! assert_eq!(created.request.status(), RequestStatus::InProgress);
//! assert_eq!(created.request.subject.id.as_str(), "cust-1");
//!
//! // Processing is asynchronous: a worker claims the task, calls the service and
//! // records the outcome. Run one until no task is open.
//! let stats = Worker::new(engine.clone(), WorkerConfig::default())
//!     .run_until_idle()
//!     .await?;
//! assert_eq!((stats.done, stats.requests_finished), (1, 1));
//!
//! let (request, tasks) = engine.get(&created.request.id).await?;
//! assert_eq!(request.status(), RequestStatus::Completed);
//! assert_eq!(tasks[0].status(), TaskStatus::Done);
//! assert_eq!(tasks[0].outcome.as_ref().map(|o| o.records), Some(1));
//!
//! // The signed package she receives, checked as its recipient would check it.
//! let pkg = engine.package(&request.id).await?;
//! let verified = package::verify(&pkg, Some(&engine.public_key_hex()))?;
//! assert_eq!(verified.trusted_key, Some(true));
//! assert_eq!(verified.request_id, request.id.as_str());
//!
//! // Every step is in the tenant's audit chain.
//! assert!(engine.verify_audit().await?.ok());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod audit;
pub mod clock;
pub mod config;
pub mod conformance;
pub mod deadline;
pub mod directory;
mod engine;
mod error;
pub mod keyring;
pub mod manual;
pub mod memory;
mod memory_store;
pub mod package;
pub mod policy;
pub mod privacy;
pub mod server_store;
pub mod service;
pub mod state;
pub mod store;
mod types;
mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::Config;
pub use engine::{
    CreateOptions, CreateOutcome, Engine, OnDuplicate, PurgeItem, PurgeReport, Target,
    check_hand_over,
};
pub use error::{Candidate, Error, Result};
pub use memory_store::MemoryStore;
pub use service::{
    BlindSpot, Category, ErasureMode, ManualSpec, Service, ServiceCall, ServiceError, ServiceInfo,
    Services,
};
pub use store::Store;
pub use types::{
    Action, Answer, Attachment, Decision, Evidence, ExportRecord, Extension, HandOver, Hold, Kept,
    ManualTask, Outcome, PersonAnswer, Reminder, ReminderKind, Replacement, ReplacementField,
    Request, RequestFilter, RequestId, RequestStatus, Task, TaskRow, TaskStatus, Verdict,
};
pub use worker::{Worker, WorkerConfig, WorkerStats};
