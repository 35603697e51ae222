//! What both dsr binaries (`dsr`, `dsr-server`) and a host application share, once:
//!
//! - [`import`]: the JSON Lines import pipeline (validation, the "user without an
//!   employment status is active" rule, per-line errors and warnings, distinct counts);
//! - [`open`]: opening a database and a tenant without ever creating one by accident
//!   (a reading command on a mistyped path or tenant is an error naming what exists,
//!   never an empty answer), and loading a tenant's [`Directory`];
//! - [`env`]: the engine wired to the SQLite store, the configured services and the
//!   tenant's signing key;
//! - [`wait`]: carrying out or watching requests until they settle;
//! - [`ids`]: request ids as people type them (full, or a short id unique in the tenant);
//! - [`clients`]: API clients of the HTTP server (scopes, secrets, their hashes), managed
//!   by `dsr client` and checked by the server;
//! - [`wire`]: the JSON shapes of requests and tasks, built explicitly from the engine's
//!   types so a change to the wire format shows up in review.
//!
//! Binaries keep argument parsing, wiring and output formatting; every decision above
//! lives here so the CLI, the server and an embedding host behave the same.

#![forbid(unsafe_code)]

pub mod clients;
pub mod conversations;
pub mod env;
pub mod follow;
pub mod ids;
pub mod import;
pub mod open;
pub mod pg;
pub mod snapshot;
pub mod tasks;
pub mod wait;
pub mod wire;
pub mod worker;

pub use open::{
    Database, OpenMode, load_directory, open_server_store, open_store, require_tenant,
    require_tenant_in,
};

/// An error of the shared operations: what went wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A reading command was pointed at a database file that does not exist.
    #[error(
        "database {path} does not exist (nothing was created); check the path given with --db / DSR_DB, or create it by importing subjects (`dsr import FILE`) or with `dsr tenant create`"
    )]
    NoDatabase {
        /// The path as given.
        path: String,
    },
    /// The tenant does not exist in the database.
    #[error("tenant {tenant:?} does not exist in {path}; {}", known_tenants(known))]
    UnknownTenant {
        /// The tenant asked for.
        tenant: String,
        /// The database.
        path: String,
        /// The tenants that exist.
        known: Vec<String>,
    },
    /// The command works on a SQLite file only.
    #[error(
        "this command works on a SQLite database file; with a PostgreSQL database ({url}) dsr runs: import, tenant create, request create | show | list | wait and the other request commands, task, worker, purge, audit, suppression, subjects, client"
    )]
    PostgresUnsupported {
        /// The database URL (password hidden).
        url: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] dsr_store_sqlite::Error),
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] dsr_engine::Error),
    /// The matcher refused a value.
    #[error(transparent)]
    Match(#[from] dsr_match::Error),
    /// A value failed validation.
    #[error(transparent)]
    Model(#[from] dsr_model::Error),
    /// Reading an input failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being read or written.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An input is not accepted; the message says why and what would be.
    #[error("{0}")]
    Invalid(String),
}

fn known_tenants(known: &[String]) -> String {
    if known.is_empty() {
        "the database has no tenant yet: import subjects (`dsr import FILE`) or run `dsr tenant create`".to_owned()
    } else {
        format!(
            "tenants that exist: {} (choose one with --tenant, or create this one with `dsr tenant create`)",
            known.join(", ")
        )
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
