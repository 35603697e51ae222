//! Request ids as people type them.
//!
//! Request ids are UUIDv7: their first hex digits are a timestamp, so every request
//! made in the same minute shares them. The *short id* shown in tables is therefore the
//! last 12 hex digits (48 random bits); a user may type the full id, or at least 8 hex
//! digits that start or end exactly one request id of the tenant.
//!
//! A task is one service's part of a request: its id is `REQUEST/SERVICE`
//! (`4f1c2a9b8e77/archive`), the request part typed like a request id. The service may
//! be left out when the request has exactly one task waiting on a person.

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

/// The id of a task as shown and typed: `SHORT/SERVICE`.
pub fn task_id(request: &RequestId, service: &str) -> String {
    format!("{}/{service}", short_id(request))
}

/// Resolves what a user typed (`REQUEST/SERVICE`, or `REQUEST` alone when exactly one
/// of its tasks waits on a person) to a request id and a service name.
pub async fn resolve_task(engine: &Engine, text: &str) -> Result<(RequestId, String)> {
    let (req, service) = match text.trim().rsplit_once('/') {
        Some((r, s)) => (r, Some(s.trim())),
        None => (text.trim(), None),
    };
    let id = resolve(engine, req).await.map_err(|e| match e {
        Error::Invalid(m) => Error::Invalid(format!(
            "task id {text:?}: {m} (a task id is REQUEST/SERVICE, as `dsr task list --manual` shows it)"
        )),
        other => other,
    })?;
    let tasks = engine.get(&id).await?.1;
    match service {
        Some(s) => match tasks.iter().find(|t| t.service.eq_ignore_ascii_case(s)) {
            Some(t) => Ok((id, t.service.clone())),
            None => Err(Error::Invalid(format!(
                "task id {text:?}: request {} has no task for service {s:?} (its services: {})",
                short_id(&id),
                tasks
                    .iter()
                    .map(|t| t.service.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        },
        None => {
            let waiting: Vec<&str> = tasks
                .iter()
                .filter(|t| t.status().is_waiting())
                .map(|t| t.service.as_str())
                .collect();
            match waiting.as_slice() {
                [one] => Ok((id, (*one).to_owned())),
                [] => Err(Error::Invalid(format!(
                    "request {} has no task waiting on a person; name the task as REQUEST/SERVICE (its services: {})",
                    short_id(&id),
                    tasks
                        .iter()
                        .map(|t| t.service.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
                many => Err(Error::Invalid(format!(
                    "request {} has {} tasks waiting on a person; name one: {}",
                    short_id(&id),
                    many.len(),
                    many.iter()
                        .map(|s| task_id(&id, s))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
    }
}
