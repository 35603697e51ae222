//! dsr's own copies of personal data (GDPR art. 5(1)(c), (e), 17, 25, 32): what an
//! erasure removes from the engine itself, what the audit log may hold, retention, and
//! the suppression list of erased subjects. Pure: keys come in, values go out.
//!
//! - **Keyed references.** The audit log never names a subject in clear: a subject is
//!   written as [`subject_ref`], an HMAC-SHA-256 of its id under the tenant's secret
//!   (256 bits, kept in the database). Whoever holds the database can check a *given*
//!   id against the log (to prove an erasure to the person who asks), but the log alone
//!   does not reveal whom it is about.
//! - **Crypto-shredding.** Free text in audit entries that may describe a person (to
//!   whom a package was handed, a decision's reason, a service's error) is sealed with
//!   ChaCha20-Poly1305 under a per-subject key ([`seal`]); the chain hashes the sealed
//!   form. A completed erasure destroys the key: the entries stay, the chain still
//!   verifies, the text can no longer be read.
//! - **Redaction.** [`redact_request`] and [`redact_task`] strip the personal data from
//!   request records and task outcomes (the resolved snapshot, the term, replacement
//!   values, exported data, errors, free text), keeping the facts: type, dates, who
//!   asked, the outcome per service.
//! - **Suppression.** [`identifier_hashes`] are keyed hashes of a subject's identifiers
//!   (id, emails, phones, handles, external ids) in the matcher's canonical forms, so a
//!   re-import of the same person in another written form is still recognised.

use crate::types::{Request, Task};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use chrono::{DateTime, Utc};
use dsr_match::normalize::{self, ExactKey, KeyKind};
use dsr_model::{Subject, SubjectId};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

/// A 256-bit key (a tenant's secret, or one subject's sealing key).
pub type Key = [u8; 32];

/// What replaces erased text.
pub const ERASED: &str = "[erased]";

/// A fresh random key.
pub fn random_key() -> crate::Result<Key> {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|e| crate::Error::Key {
        path: "(random)".into(),
        reason: format!("no randomness available: {e}"),
    })?;
    Ok(k)
}

fn hmac_hex(secret: &Key, domain: &str, text: &str) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(domain.as_bytes());
    m.update(&[0]);
    m.update(text.as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// The keyed reference of a subject: `s-` and 32 hex digits (128 bits of HMAC-SHA-256
/// of the id under the tenant's secret). Stable per tenant, so every entry about one
/// subject carries the same reference.
pub fn subject_ref(secret: &Key, id: &SubjectId) -> String {
    format!("s-{}", &hmac_hex(secret, "dsr/subject", id.as_str())[..32])
}

/// A keyed digest of a term's value (what the audit log records of a search term).
pub fn term_hmac(secret: &Key, value: &str) -> String {
    hmac_hex(secret, "dsr/term", value)
}

/// The exact keys of a subject's identifiers, in the matcher's canonical forms (an email
/// in any case or with a `+tag`, a phone in national or international form give the same
/// keys). Names and addresses are not identifiers (namesakes) and are left out.
pub fn identifier_keys(s: &Subject, region: Option<&str>) -> Vec<ExactKey> {
    let region = region.and_then(|r| normalize::parse_region(r).ok());
    let key = |kind, text: String| ExactKey { kind, text };
    let mut keys = vec![key(
        KeyKind::for_subject(s.kind),
        normalize::id_text(s.id.as_str()),
    )];
    for e in &s.emails {
        keys.extend(normalize::email_keys(e).unwrap_or_default());
    }
    for p in &s.phones {
        keys.extend(normalize::phone_keys(p, region).unwrap_or_default());
    }
    for h in &s.handles {
        keys.extend(
            normalize::handle_keys(Some(&h.platform), &h.value, region).unwrap_or_default(),
        );
    }
    for x in &s.external_ids {
        keys.push(key(KeyKind::ExternalId, normalize::id_text(x)));
    }
    keys.retain(|k| !k.text.is_empty());
    keys
}

/// Keyed hashes of a subject's identifiers (see [`identifier_keys`]): what the
/// suppression list holds, never the identifiers themselves.
pub fn identifier_hashes(secret: &Key, s: &Subject, region: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = identifier_keys(s, region)
        .into_iter()
        .map(|k| hmac_hex(secret, &format!("dsr/id/{}", k.kind.as_str()), &k.text))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Seals a value under a subject's key: `{"sealed": base64(nonce ‖ ciphertext)}`.
/// `context` (the tenant and the field) is authenticated, so a sealed value cannot be
/// moved to another field.
pub fn seal(key: &Key, context: &str, value: &Value) -> Value {
    let mut nonce = [0u8; 12];
    if getrandom::fill(&mut nonce).is_err() {
        // Without randomness a nonce could repeat: withhold rather than risk it.
        return Value::String("[withheld]".into());
    }
    let plain = value.to_string();
    let cipher = ChaCha20Poly1305::new(key.into());
    match cipher.encrypt(
        Nonce::from_slice(&nonce),
        Payload {
            msg: plain.as_bytes(),
            aad: context.as_bytes(),
        },
    ) {
        Ok(ct) => {
            let mut bytes = nonce.to_vec();
            bytes.extend(ct);
            json!({"sealed": base64::engine::general_purpose::STANDARD.encode(bytes)})
        }
        Err(_) => Value::String("[withheld]".into()),
    }
}

/// Opens a sealed value; `None` when the value is not sealed, the key is not the one
/// it was sealed with (destroyed by an erasure) or it was altered.
pub fn open(key: &Key, context: &str, sealed: &Value) -> Option<Value> {
    let b64 = sealed.get("sealed")?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    if bytes.len() < 12 {
        return None;
    }
    let (nonce, ct) = bytes.split_at(12);
    let plain = ChaCha20Poly1305::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ct,
                aad: context.as_bytes(),
            },
        )
        .ok()?;
    serde_json::from_slice(&plain).ok()
}

/// Detail fields of audit events that may describe a person (free text): sealed under the
/// subject's key.
pub const SEALED_FIELDS: &[&str] = &[
    "to",
    "reason",
    "error",
    "hold",
    "by_name",
    "note",
    "evidence_name",
];

/// The authenticated context of a sealed audit field.
pub fn seal_context(tenant: &str, field: &str) -> String {
    format!("dsr/audit/{tenant}/{field}")
}

/// Makes an audit event safe to keep: the subject as its keyed reference, free-text
/// fields sealed under the subject's key (or withheld when there is none).
pub fn protect_event(
    tenant: &str,
    mut e: crate::audit::AuditEvent,
    subject: Option<(&str, &Key)>,
) -> crate::audit::AuditEvent {
    if let Some((r, _)) = subject {
        e.subject_id = Some(r.to_owned());
    }
    if let Value::Object(map) = &mut e.detail {
        for field in SEALED_FIELDS {
            if let Some(v) = map.get_mut(*field)
                && !v.is_null()
            {
                *v = match subject {
                    Some((_, key)) => seal(key, &seal_context(tenant, field), v),
                    None => Value::String("[withheld]".into()),
                };
            }
        }
    }
    e
}

/// Why a request's personal data or its package was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// When.
    pub at: DateTime<Utc>,
    /// Why, in words (with the GDPR article).
    pub why: String,
    /// The delete request whose completion removed it (erasure), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by_request: Option<String>,
}

/// Strips the personal data from a request record, keeping the facts (type, status,
/// dates, who asked, the per-service outcomes in its tasks). With `pseudonym` (an
/// erasure), the subject id itself is replaced by its keyed reference.
pub fn redact_request(r: &mut Request, pseudonym: Option<&str>, removal: Removal) {
    let mut m = Subject::new(
        r.subject.kind,
        pseudonym
            .and_then(|p| SubjectId::new(p).ok())
            .unwrap_or_else(|| r.subject.id.clone()),
    );
    if pseudonym.is_none() {
        m.merge_set = r.subject.merge_set.clone();
        m.canonical = r.subject.canonical;
    }
    m.employment = r.subject.employment;
    r.subject = m;
    r.term = None;
    for rep in &mut r.replacements {
        rep.old = ERASED.into();
        rep.new = ERASED.into();
    }
    if let Some(h) = &mut r.handed_over {
        h.to = ERASED.into();
    }
    if let Some(h) = &mut r.hold {
        h.reason = ERASED.into();
    }
    if let Some(d) = &mut r.decision {
        d.reason = ERASED.into();
    }
    for x in &mut r.extensions {
        x.reason = ERASED.into();
    }
    if r.redacted.is_none() {
        r.redacted = Some(removal);
    }
}

/// Strips the personal data from a task: the exported data and the service's error
/// text (counts, actions and what was kept on which ground stay).
pub fn redact_task(t: &mut Task) -> bool {
    let mut changed = false;
    if let Some(o) = &mut t.outcome {
        if !o.data.is_empty() {
            o.data.clear();
            changed = true;
        }
        if o.error.as_deref().is_some_and(|e| e != ERASED) {
            o.error = Some(ERASED.into());
            changed = true;
        }
    }
    if t.last_error.as_deref().is_some_and(|e| e != ERASED) {
        t.last_error = Some(ERASED.into());
        changed = true;
    }
    // A person's answer: the note and the evidence file's name are free text.
    if let Some(a) = t.manual.as_mut().and_then(|m| m.answer.as_mut()) {
        if a.note.as_deref().is_some_and(|n| n != ERASED) {
            a.note = Some(ERASED.into());
            changed = true;
        }
        if a.evidence.name != ERASED {
            a.evidence.name = ERASED.into();
            changed = true;
        }
    }
    changed
}

/// `[retention]`: how long dsr keeps its own copies of personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retention {
    /// Days a package is kept after its request completed (default 30).
    pub package_days: u32,
    /// Days a package is kept after its hand-over was recorded (default 0: purged at
    /// the next purge).
    pub package_days_after_hand_over: u32,
    /// Days a finished request keeps its personal data (the resolved snapshot, the term,
    /// replacement values, exported data); the audit facts stay (default 90).
    pub request_days: u32,
    /// How often a long-running worker purges, in minutes (default 60; 0: never).
    pub purge_every_minutes: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            package_days: 30,
            package_days_after_hand_over: 0,
            request_days: 90,
            purge_every_minutes: 60,
        }
    }
}

fn plus_days(t: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    t.checked_add_signed(chrono::Duration::days(i64::from(days)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl Retention {
    /// When a finished request's package expires (`None`: unfinished, or no package).
    pub fn package_expires(&self, r: &Request) -> Option<DateTime<Utc>> {
        let done = r.finished_at?;
        let by_age = plus_days(done, self.package_days);
        Some(match &r.handed_over {
            Some(h) => by_age.min(plus_days(h.at, self.package_days_after_hand_over)),
            None => by_age,
        })
    }
    /// When a finished request's personal data is purged.
    pub fn request_expires(&self, r: &Request) -> Option<DateTime<Utc>> {
        r.status
            .is_finished()
            .then(|| r.finished_at.map(|d| plus_days(d, self.request_days)))
            .flatten()
    }
    /// Checks the limits.
    pub fn validate(&self) -> Result<(), String> {
        for (k, v) in [
            ("retention.package_days", self.package_days),
            (
                "retention.package_days_after_hand_over",
                self.package_days_after_hand_over,
            ),
            ("retention.request_days", self.request_days),
        ] {
            if v > 36_500 {
                return Err(format!("{k}: {v} days is not accepted (at most 36500)"));
            }
        }
        if self.purge_every_minutes > 10_080 {
            return Err(format!(
                "retention.purge_every_minutes: {} is not accepted (at most 10080, a week)",
                self.purge_every_minutes
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsr_model::SubjectKind;

    fn person(email: &str, phone: &str) -> Subject {
        let mut s = Subject::new(SubjectKind::ExternalContact, SubjectId::new("c-1").unwrap());
        s.emails.push(email.into());
        s.phones.push(phone.into());
        s
    }

    #[test]
    fn identifier_hashes_see_through_written_forms_and_depend_on_the_key() {
        let k = [7u8; 32];
        let a = identifier_hashes(
            &k,
            &person("Zoe.Faure@Example.FR", "06 12 34 56 78"),
            Some("FR"),
        );
        let b = identifier_hashes(
            &k,
            &person("zoe.faure@example.fr", "+33612345678"),
            Some("FR"),
        );
        assert_eq!(a, b);
        let other = identifier_hashes(
            &[8u8; 32],
            &person("zoe.faure@example.fr", "+33612345678"),
            Some("FR"),
        );
        assert!(a.iter().all(|h| !other.contains(h)));
        for h in &a {
            assert!(!h.contains("zoe") && h.len() == 64);
        }
    }

    #[test]
    fn a_sealed_field_opens_with_its_key_only() {
        let k = [1u8; 32];
        let v = json!("Zoë Faure, by post");
        let s = seal(&k, "ctx", &v);
        assert!(!s.to_string().contains("Faure"));
        assert_eq!(open(&k, "ctx", &s), Some(v.clone()));
        assert_eq!(open(&[2u8; 32], "ctx", &s), None);
        assert_eq!(open(&k, "other", &s), None);
    }
}
