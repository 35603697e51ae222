//! Request ids as people type them.
//!
//! Request ids are UUIDv7: their first hex digits are a timestamp, so every request
//! made in the same minute shares them. The *short id* shown in tables is therefore the
//! last 12 hex digits (48 random bits); a user may type the full id, or at least 8 hex
//! digits that start or end exactly one request id of the tenant.

use crate::{Error, Result};
use dsr_engine::{Engine, Request, RequestFilter, RequestId};

/// Hex digits in a short id.
pub const SHORT_LEN: usize = 12;
/// The fewest hex digits accepted as an abbreviation.
pub const MIN_ABBREV: usize = 8;

/// The short id of a request: the random tail of its UUID.
pub fn short_id(id: &RequestId) -> &str {
    let s = id.as_str();
    &s[s.len().saturating_sub(SHORT_LEN)..]
}

/// Resolves what a user typed to one request id of the engine's tenant.
pub async fn resolve(engine: &Engine, text: &str) -> Result<RequestId> {
    let t = text.trim().to_ascii_lowercase();
    if let Ok(id) = RequestId::parse(&t) {
        return Ok(id);
    }
    if t.len() < MIN_ABBREV || !t.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Error::Invalid(format!(
            "request id {text:?} is not a request id: give the full id or at least {MIN_ABBREV} of its hex digits (the short id shown by `dsr request list`)"
        )));
    }
    let all = engine.list(&RequestFilter::default()).await?;
    let hits: Vec<&Request> = all
        .iter()
        .filter(|r| r.id.as_str().starts_with(&t) || r.id.as_str().ends_with(&t))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(Error::Engine(dsr_engine::Error::UnknownRequest(t))),
        many => Err(Error::Invalid(format!(
            "{t} matches {} requests ({}); give more of the id",
            many.len(),
            many.iter()
                .take(5)
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}
