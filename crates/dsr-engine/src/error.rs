//! The engine's error type.

use crate::ReplacementField;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;

/// One subject a term matched, listed when a request is refused because the term is
/// ambiguous (the caller must say which one is meant: never act on a guess).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// The subject's id.
    pub subject_id: String,
    /// `user`, `external_contact` or `dialer_contact`.
    pub kind: String,
    /// A name to show, if any.
    pub display_name: Option<String>,
    /// `strong`, `probable` or `weak`.
    pub confidence: String,
    /// Match score, 0 to 1.
    pub score: f32,
    /// The merge set, if any.
    pub merge_set: Option<String>,
    /// Which fields matched (`email = jean@…`).
    pub evidence: Vec<String>,
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.subject_id, self.kind)?;
        if let Some(n) = &self.display_name {
            write!(f, ", {n}")?;
        }
        write!(f, ", {} {:.2}", self.confidence, self.score)?;
        if let Some(m) = &self.merge_set {
            write!(f, ", merge set {m}")?;
        }
        f.write_str(")")
    }
}

/// An engine error: what was wrong and, where it helps, what would be accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value failed the model's validation.
    #[error(transparent)]
    Model(#[from] dsr_model::Error),
    /// The matcher refused a term.
    #[error(transparent)]
    Match(#[from] dsr_match::Error),
    /// An input is not accepted; the message says why and what would be.
    #[error("{0}")]
    Invalid(String),
    /// A replacement's existing value is not one the subject has stored (G-6): nothing
    /// was created. Ask the subject which value they meant; `stored` lists the subject's
    /// own values of the field (another person's are never shown: the other members of
    /// its merge set are only counted in `others`).
    #[error(
        "replacement {field}: {old:?} is not a stored value of {subject} (stored: {}{})",
        if stored.is_empty() { "none".to_owned() } else { stored.join(", ") },
        if *others > 0 {
            format!("; and {others} value(s) of other members of its merge set, not shown")
        } else {
            String::new()
        }
    )]
    ReplacementNotStored {
        /// The field.
        field: ReplacementField,
        /// The existing value given.
        old: String,
        /// The subject resolved.
        subject: String,
        /// Its values of the field.
        stored: Vec<String>,
        /// How many values of the field the other members of its merge set have.
        others: usize,
    },
    /// An action that must be justified was given no reason: proceeding with a held
    /// request (a justification), refusing it (the legal ground) or extending a deadline
    /// (art. 12(3): the subject is told why). The message says which.
    #[error("{0}")]
    ReasonRequired(String),
    /// The legal deadline would be extended beyond two months in total (art. 12(3)).
    #[error(
        "the deadline can be extended by at most two months in total (up to {}); {days_left} day(s) left",
        limit.format("%Y-%m-%d")
    )]
    ExtensionLimit {
        /// The latest legal deadline: received + one month + two months.
        limit: DateTime<Utc>,
        /// Whole days still available.
        days_left: u64,
    },
    /// No subject matches the term or id.
    #[error(
        "no subject matches {0}: nothing to do (check the term, or look it up with `dsr subjects`)"
    )]
    NoSubject(String),
    /// The term matches several subjects (or only weakly) and the caller did not name one.
    #[error(
        "{term} matches {} subjects that are not one merge set; name the one meant (by id) — candidates: {}",
        candidates.len(),
        candidates.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; ")
    )]
    Ambiguous {
        /// The term as given.
        term: String,
        /// Every subject it matched.
        candidates: Vec<Candidate>,
    },
    /// The only match is too weak to act on without a person confirming it.
    #[error("{term} only matches {candidate} weakly; confirm by naming the subject id")]
    NeedsReview {
        /// The term as given.
        term: String,
        /// The weak match (boxed: keeps the error small).
        candidate: Box<Candidate>,
    },
    /// A merge set is inconsistent (no or several canonical contacts): no fan-out over it.
    #[error("merge set {set}: {reason}; fix the data before making a request for it")]
    MergeSet {
        /// The merge set.
        set: String,
        /// What is wrong.
        reason: String,
    },
    /// No request with that id in this tenant.
    #[error("no request {0} in this tenant")]
    UnknownRequest(String),
    /// A request of the same type for the same subject or merge set is still in flight.
    #[error(
        "a {ty} request for {subject} is already in flight: {existing} ({status}); wait for it to finish (or cancel it)"
    )]
    Duplicate {
        /// The request in flight.
        existing: String,
        /// Its status.
        status: String,
        /// Its type.
        ty: String,
        /// The subject (or merge set) it is for.
        subject: String,
    },
    /// The request (or task) is not in a state that allows the action.
    #[error("{what} is {status}: cannot {action}{hint}")]
    NotAllowed {
        /// The request or task.
        what: String,
        /// Its current status.
        status: String,
        /// What was attempted.
        action: String,
        /// A hint, starting with `; ` when present.
        hint: String,
    },
    /// The stored state changed while the engine was updating it (another worker or
    /// process); the caller may retry.
    #[error("{0} changed meanwhile; try again")]
    Conflict(String),
    /// The store is busy for now (another writer holds a lock longer than the wait
    /// allowed, or the database aborted a transaction that raced another): the same
    /// call later may succeed. The message is the backend's.
    #[error("the database is busy ({0}); try again")]
    Busy(String),
    /// The store failed.
    /// (The backend's error is shown once, not repeated as a cause.)
    #[error("store: {0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
    /// The configuration is not accepted.
    #[error("configuration {source_name}: {message}")]
    Config {
        /// File name (or `defaults`).
        source_name: String,
        /// What is wrong and what would be accepted.
        message: String,
    },
    /// A signing key cannot be read or created.
    #[error("signing key {path}: {reason}")]
    Key {
        /// The key file.
        path: String,
        /// What failed.
        reason: String,
    },
    /// A package is malformed or does not verify.
    #[error("package: {0}")]
    Package(String),
    /// A service is named that is not registered.
    #[error("unknown service {name:?} (registered: {known})")]
    UnknownService {
        /// The name given.
        name: String,
        /// The registered names.
        known: String,
    },
}

impl Error {
    /// Wraps a store backend's error.
    pub fn store(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Store(Box::new(e))
    }
    /// Whether the same call may succeed later unchanged ([`Error::Busy`],
    /// [`Error::Conflict`]): a worker waits and retries, a server answers 503.
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Busy(_) | Error::Conflict(_))
    }
    pub(crate) fn not_allowed(
        what: impl fmt::Display,
        status: impl fmt::Display,
        action: &str,
        hint: &str,
    ) -> Self {
        Error::NotAllowed {
            what: what.to_string(),
            status: status.to_string(),
            action: action.to_owned(),
            hint: if hint.is_empty() {
                String::new()
            } else {
                format!("; {hint}")
            },
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
