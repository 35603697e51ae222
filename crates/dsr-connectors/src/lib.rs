//! Connectors: [`dsr_engine::Service`] implementations over the systems an organisation
//! really runs, configured per `[[services]]` entry of `dsr.toml` (every key in
//! `docs/connectors.md`).
//!
//! The store crates build the services that live in dsr's own database (`subjects`,
//! `conversations`, `table`); this crate builds the ones that reach outside it.

#![forbid(unsafe_code)]
