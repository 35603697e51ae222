//! Finding every record that is one person, without catching someone else.
//!
//! The hot path of dsr, pure and synchronous (no IO, no async runtime):
//!
//! 1. [`classify`] a raw term when the caller gives no type (email, phone, handle, id,
//!    address or name);
//! 2. [`normalize`] it to keys: identifiers to canonical exact keys (E.164 phones,
//!    case-folded emails with their mailbox, `platform:handle`, ids), names and addresses
//!    to folded tokens with alternative spellings;
//! 3. look the keys up in the [`SubjectIndex`]: exact keys as 64-bit fingerprints in a
//!    hash multimap, tokens through a vocabulary with typo (symmetric-delete) and phonetic
//!    neighbourhoods, scored order-independently;
//! 4. explain every result ([`Evidence`]: field, stored value, method, score) and flag the
//!    weak ones for human review, because a false positive discloses someone else's data.
//!
//! The key design decision: the index holds fingerprints and token ids, not text, so it
//! stays small (the figures are in the benchmarks); the [`Directory`] pairs it with the
//! subjects so evidence can quote the stored values, and re-checks identifier hits on the
//! text where that is cheap.

#![forbid(unsafe_code)]

pub mod calibration;
mod classify;
mod confidence;
mod directory;
mod hypocoristics;
mod index;
mod multimap;
pub mod normalize;
mod packed;
pub mod phone;
mod readings;
mod result;
mod romanize;
mod snapshot;
mod tagmap;
pub mod text;

pub use classify::classify;
pub use directory::{Directory, MatchConfig, Normalized, SearchOptions, normalize_term};
pub use index::{MemoryReport, SubjectIndex};
pub use result::{
    Confidence, Correlated, Correlation, Evidence, Field, KeyView, Match, Method, SearchResult,
};
pub use snapshot::SnapshotError;

/// A matching error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A subject or term failed validation.
    #[error(transparent)]
    Invalid(#[from] dsr_model::Error),
    /// A region code is not ISO 3166 alpha-2.
    #[error("{0}")]
    Region(String),
    /// Correlation needs at least one term.
    #[error("give at least one term")]
    NoTerms,
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
