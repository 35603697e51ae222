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
pub mod memory;
mod memory_store;
pub mod package;
pub mod policy;
pub mod privacy;
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
    BlindSpot, Category, ErasureMode, Service, ServiceCall, ServiceError, ServiceInfo, Services,
};
pub use store::Store;
pub use types::{
    Action, Attachment, Decision, ExportRecord, Extension, HandOver, Hold, Kept, Outcome,
    Replacement, Request, RequestFilter, RequestId, RequestStatus, Task, TaskStatus, Verdict,
};
pub use worker::{Worker, WorkerConfig, WorkerStats};
