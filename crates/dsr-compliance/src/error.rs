//! The crate's error type.

/// What went wrong reading a configuration, a waiver file or a parameter, with the key
/// path and what would have been accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not valid TOML / JSON, a key is unknown, a required key is missing or
    /// a value has the wrong type.
    #[error("{}", located(path, *line, message))]
    Parse {
        /// The key path, e.g. `authentication.two_factor_enforced` or
        /// `api.tokens[1].created`; `.` for the document itself.
        path: String,
        /// The 1-based line in the input, when known.
        line: Option<usize>,
        /// What was wrong and what is expected.
        message: String,
    },
    /// A value is well-formed but not accepted (an IP range that is not one, a
    /// parameter that loosens a source's limit, a waiver without a justification, …).
    #[error("{path}: {message}")]
    Invalid {
        /// The key path, e.g. `parameters.idle_timeout_max_minutes` or
        /// `waiver[2].justification`.
        path: String,
        /// What was wrong and what is accepted.
        message: String,
    },
    /// A rule id that is not in the catalog.
    #[error("unknown rule id `{id}`{}; `dsr compliance rules` lists the catalog", suggestion.as_deref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default())]
    UnknownRule {
        /// The id asked for.
        id: String,
        /// The closest known id, if one is close.
        suggestion: Option<String>,
    },
}

fn located(path: &str, line: Option<usize>, message: &str) -> String {
    match line {
        Some(line) => format!("{path} (line {line}): {message}"),
        None => format!("{path}: {message}"),
    }
}

impl Error {
    pub(crate) fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The key path the error is about, if it is about one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Error::Parse { path, .. } | Error::Invalid { path, .. } => Some(path),
            Error::UnknownRule { .. } => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
