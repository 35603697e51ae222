//! The audit log: an append-only, hash-chained record of every state change (G-17).
//!
//! Each entry's hash is `SHA-256(prev_hash ‖ "\n" ‖ canonical JSON of the entry body)`,
//! where the body holds the tenant, the entry's index in the tenant's chain, the time,
//! who did it, what, for which request / service / subject, and the details. The first
//! entry's `prev_hash` is 64 zeros. Canonical JSON: object keys sorted, no white space.
//!
//! [`verify`] recomputes the chain and names the first broken entry: altered content
//! (hash mismatch), a removed or reordered entry (index gap or broken link), and removed
//! entries at the end (the stored head — last index and hash — no longer matches).

use crate::RequestStatus;
use chrono::{DateTime, Utc};
use dsr_model::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `prev_hash` of a tenant's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, before it is sealed into the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Who did it: an operator, a client, `worker:<id>`, `engine`.
    pub actor: String,
    /// What, as stored: [`AuditAction::as_str`] (kept as text, because it is hashed
    /// exactly as written and an entry read back may come from another release).
    pub action: String,
    /// The request concerned.
    pub request_id: Option<String>,
    /// The service concerned.
    pub service: Option<String>,
    /// The subject concerned.
    pub subject_id: Option<String>,
    /// Details (status before / after, counts, reasons, digests).
    pub detail: Value,
}

/// What an audit entry records: every action the engine writes, typed, so no call
/// site spells an event name and a reader can match on them ([`AuditAction::parse`]).
/// The stored form is [`AuditAction::as_str`]; it is part of the hashed entry, so a
/// name never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A request entered a status: `Received` when it is created (before its subject is
    /// resolved), then held, in progress, or finished.
    RequestStatus(RequestStatus),
    /// A request's decision was recorded (proceed or refuse).
    RequestDecided,
    /// A request's deadline was extended (art. 12(3)).
    RequestExtended,
    /// A finished request's failed tasks were queued again.
    RequestRetried,
    /// The subject's personal data was removed from a request kept by dsr.
    RequestErasedFromDsr,
    /// A finished request passed its retention period and was removed.
    RequestPurged,
    /// A worker leased a task.
    TaskClaimed,
    /// A service did its part.
    TaskDone,
    /// A service failed transiently; the task waits for its next attempt.
    TaskRetryScheduled,
    /// A service failed for good.
    TaskFailed,
    /// A task of a manual service waits on a person (assignee and instructions).
    TaskWaiting,
    /// A reminder was recorded for a task waiting on a person.
    TaskReminder,
    /// The export package was built and signed.
    PackageGenerated,
    /// The package was handed over to someone.
    PackageHandedOver,
    /// The data subject made a link forwarding the package to another party.
    PackageLinkMade,
    /// The data subject withdrew a forwarding link.
    PackageLinkRevoked,
    /// The package passed its retention period and was removed.
    PackagePurged,
    /// A completed erasure removed the subject from dsr's own copies.
    SubjectErasedFromDsr,
    /// The tenant's signing key was rotated.
    KeyRotated,
    /// The tenant's suppression mode (warn or refuse) changed.
    SuppressionMode,
}

impl AuditAction {
    /// Every action, in order (for documentation and tests).
    pub fn all() -> Vec<AuditAction> {
        use AuditAction::*;
        let mut v = Vec::new();
        v.extend(crate::RequestStatus::ALL.iter().map(|s| RequestStatus(*s)));
        v.extend([
            RequestDecided,
            RequestExtended,
            RequestRetried,
            RequestErasedFromDsr,
            RequestPurged,
            TaskClaimed,
            TaskDone,
            TaskRetryScheduled,
            TaskFailed,
            TaskWaiting,
            TaskReminder,
            PackageGenerated,
            PackageHandedOver,
            PackageLinkMade,
            PackageLinkRevoked,
            PackagePurged,
            SubjectErasedFromDsr,
            KeyRotated,
            SuppressionMode,
        ]);
        v
    }

    /// The stored name (`request.created`, `task.done`, …).
    pub fn as_str(self) -> &'static str {
        use AuditAction::*;
        match self {
            RequestStatus(s) => match s {
                crate::RequestStatus::Received => "request.received",
                crate::RequestStatus::OnHold => "request.on_hold",
                crate::RequestStatus::InProgress => "request.in_progress",
                crate::RequestStatus::Completed => "request.completed",
                crate::RequestStatus::PartiallyFailed => "request.partially_failed",
                crate::RequestStatus::Failed => "request.failed",
                crate::RequestStatus::Cancelled => "request.cancelled",
                crate::RequestStatus::Refused => "request.refused",
            },
            RequestDecided => "request.decided",
            RequestExtended => "request.extended",
            RequestRetried => "request.retried",
            RequestErasedFromDsr => "request.erased_from_dsr",
            RequestPurged => "request.purged",
            TaskClaimed => "task.claimed",
            TaskDone => "task.done",
            TaskRetryScheduled => "task.retry_scheduled",
            TaskFailed => "task.failed",
            TaskWaiting => "task.waiting",
            TaskReminder => "task.reminder",
            PackageGenerated => "package.generated",
            PackageHandedOver => "package.handed_over",
            PackageLinkMade => "package.link_made",
            PackageLinkRevoked => "package.link_revoked",
            PackagePurged => "package.purged",
            SubjectErasedFromDsr => "subject.erased_from_dsr",
            KeyRotated => "key.rotated",
            SuppressionMode => "suppression.mode",
        }
    }

    /// The action a stored name stands for (one action per name: see the test below) (`None` for a name this version does not
    /// write, e.g. `request.created` written by an older release).
    pub fn parse(name: &str) -> Option<AuditAction> {
        AuditAction::all().into_iter().find(|a| a.as_str() == name)
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AuditEvent {
    /// A tenant-wide event (a key rotation, a setting changed): about no request or
    /// subject, so nothing in it is sealed.
    pub fn tenant(actor: &str, action: AuditAction, detail: Value) -> Self {
        AuditEvent {
            actor: actor.to_owned(),
            action: action.as_str().to_owned(),
            request_id: None,
            service: None,
            subject_id: None,
            detail,
        }
    }

    /// The typed action, when this release writes it.
    pub fn typed_action(&self) -> Option<AuditAction> {
        AuditAction::parse(&self.action)
    }

    /// An event about a request.
    pub fn request(actor: &str, action: AuditAction, request_id: &str, detail: Value) -> Self {
        AuditEvent {
            actor: actor.to_owned(),
            action: action.as_str().to_owned(),
            request_id: Some(request_id.to_owned()),
            service: None,
            subject_id: None,
            detail,
        }
    }
    /// Sets the service.
    pub fn with_service(mut self, service: &str) -> Self {
        self.service = Some(service.to_owned());
        self
    }
    /// Sets the subject.
    pub fn with_subject(mut self, subject: &str) -> Self {
        self.subject_id = Some(subject.to_owned());
        self
    }
}

/// A sealed entry of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The tenant whose chain it belongs to.
    pub tenant: TenantId,
    /// Position in the tenant's chain, from 0.
    pub index: u64,
    /// When, RFC 3339 with microseconds (kept as text so the hash input is exact).
    pub at: String,
    /// What happened.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// The previous entry's hash (hex).
    pub prev_hash: String,
    /// This entry's hash (hex).
    pub hash: String,
}

/// Formats a time as stored in entries.
pub fn format_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Serializes a JSON value canonically: keys sorted, no white space.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Hex SHA-256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn body(tenant: &TenantId, index: u64, at: &str, e: &AuditEvent) -> Value {
    serde_json::json!({
        "tenant": tenant.as_str(),
        "index": index,
        "at": at,
        "actor": e.actor,
        "action": e.action,
        "request_id": e.request_id,
        "service": e.service,
        "subject_id": e.subject_id,
        "detail": e.detail,
    })
}

fn chain_hash(prev: &str, body: &Value) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(canonical_json(body).as_bytes());
    hex::encode(h.finalize())
}

/// Seals an event as entry `index` after `prev_hash`.
pub fn seal(
    tenant: &TenantId,
    index: u64,
    at: DateTime<Utc>,
    event: AuditEvent,
    prev_hash: &str,
) -> AuditEntry {
    seal_at(tenant, index, format_time(at), event, prev_hash)
}

/// [`seal`] with the time already formatted (as a store that chains entries after their
/// commit kept it).
pub fn seal_at(
    tenant: &TenantId,
    index: u64,
    at: String,
    event: AuditEvent,
    prev_hash: &str,
) -> AuditEntry {
    let hash = chain_hash(prev_hash, &body(tenant, index, &at, &event));
    AuditEntry {
        tenant: tenant.clone(),
        index,
        at,
        event,
        prev_hash: prev_hash.to_owned(),
        hash,
    }
}

/// One problem found by [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The index of the entry (the position where one was expected, for a gap).
    pub index: u64,
    /// What is wrong.
    pub reason: String,
}

/// The result of verifying a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Entries checked.
    pub entries: u64,
    /// The hash of the last entry (publish it to anchor the chain).
    pub head: String,
    /// Problems, first first; empty when the chain verifies.
    pub problems: Vec<Problem>,
}

impl Report {
    /// Whether the chain verifies.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies a tenant's chain, entries in stored order. `head` is the stored head (last
/// index and hash), which catches entries removed at the end.
pub fn verify(entries: &[AuditEntry], head: Option<(u64, &str)>) -> Report {
    let mut problems = Vec::new();
    let mut prev = GENESIS.to_owned();
    let name = |e: &AuditEntry| {
        format!(
            "{} {}{}",
            e.event.action,
            e.event.request_id.as_deref().unwrap_or("-"),
            e.event
                .service
                .as_deref()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default()
        )
    };
    for (i, e) in entries.iter().enumerate() {
        let expected = i as u64;
        if e.index != expected {
            problems.push(Problem {
                index: expected,
                reason: format!(
                    "entry {expected} is missing or out of order (found entry {} here: {})",
                    e.index,
                    name(e)
                ),
            });
        }
        if e.prev_hash != prev {
            problems.push(Problem {
                index: e.index,
                reason: format!(
                    "entry {} ({}) does not follow the entry before it: an entry was removed, inserted or reordered",
                    e.index,
                    name(e)
                ),
            });
        }
        let recomputed = chain_hash(&e.prev_hash, &body(&e.tenant, e.index, &e.at, &e.event));
        if recomputed != e.hash {
            problems.push(Problem {
                index: e.index,
                reason: format!(
                    "entry {} ({}) was altered: its content no longer matches its hash",
                    e.index,
                    name(e)
                ),
            });
        }
        prev = e.hash.clone();
    }
    if let Some((last, hash)) = head {
        let n = entries.len() as u64;
        if n == 0 || last != n - 1 || hash != prev {
            problems.push(Problem {
                index: n,
                reason: format!(
                    "the chain ends at entry {} but the recorded head is entry {last}: entries were removed at the end or the head was changed",
                    n as i64 - 1
                ),
            });
        }
    }
    Report {
        entries: entries.len() as u64,
        head: prev,
        problems,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_action_has_its_own_name_and_parses_back() {
        let all = AuditAction::all();
        let names: std::collections::BTreeSet<&str> = all.iter().map(|a| a.as_str()).collect();
        assert_eq!(names.len(), all.len(), "two actions share a stored name");
        for a in all {
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
    }

    use super::*;
    use chrono::TimeZone;

    fn chain(n: u64) -> Vec<AuditEntry> {
        let t = TenantId::default();
        let mut prev = GENESIS.to_owned();
        (0..n)
            .map(|i| {
                let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, i as u32).unwrap();
                let e = seal(
                    &t,
                    i,
                    at,
                    AuditEvent::request(
                        "op",
                        AuditAction::RequestStatus(crate::RequestStatus::Received),
                        &format!("r{i}"),
                        serde_json::json!({"n": i}),
                    ),
                    &prev,
                );
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn check(entries: &[AuditEntry], head: (u64, &str), want: Option<(u64, &str)>) {
        let r = verify(entries, Some(head));
        match want {
            None => assert!(r.ok(), "{:?}", r.problems),
            Some((index, text)) => {
                let p = r.problems.first().expect("a problem");
                assert_eq!(p.index, index, "{:?}", r.problems);
                assert!(p.reason.contains(text), "{}", p.reason);
            }
        }
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let c = chain(5);
        let head = c[4].hash.clone();
        check(&c, (4, &head), None);
        assert_eq!(verify(&[], None).problems, vec![]);
    }

    #[test]
    fn an_altered_entry_is_named() {
        let mut c = chain(5);
        let head = c[4].hash.clone();
        c[2].event.detail = serde_json::json!({"n": 99});
        check(
            &c,
            (4, &head),
            Some((2, "entry 2 (request.received r2) was altered")),
        );
        let mut c = chain(5);
        c[3].event.actor = "someone else".into();
        check(&c, (4, &head), Some((3, "altered")));
    }

    #[test]
    fn a_removed_entry_is_named() {
        let mut c = chain(5);
        let head = c[4].hash.clone();
        c.remove(1);
        check(
            &c,
            (4, &head),
            Some((1, "entry 1 is missing or out of order")),
        );
    }

    #[test]
    fn reordered_entries_are_named() {
        let mut c = chain(5);
        let head = c[4].hash.clone();
        c.swap(2, 3);
        check(&c, (4, &head), Some((2, "missing or out of order")));
    }

    #[test]
    fn entries_removed_at_the_end_are_caught_by_the_head() {
        let mut c = chain(5);
        let head = c[4].hash.clone();
        c.pop();
        check(&c, (4, &head), Some((4, "removed at the end")));
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"d": [1, {"z": 0, "y": 1}], "c": "x"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"x","d":[1,{"y":1,"z":0}]},"b":1}"#
        );
    }
}
