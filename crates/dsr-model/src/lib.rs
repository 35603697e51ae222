//! The data model of dsr: tenants, data subjects, merge sets, search terms and request
//! types.
//!
//! This crate is pure data plus validation. It does no IO and needs no async runtime, so
//! every other crate (the matcher, the engine, the stores, the binaries) can depend on it
//! without pulling anything else in.
//!
//! The key design decision: a [`Subject`] is deliberately *flat* and *multi-valued*
//! (several names, emails, phones, …) because the systems we import from disagree on
//! structure, and the matcher needs every written form a person has given. Values are
//! stored exactly as written; normalization is the matcher's job (`dsr-match`), so the
//! evidence it shows can always quote the stored value.
//!
//! Validation ([`Subject::validate`], [`MergeSet::new`], [`TenantId::new`], …) rejects
//! empty ids, over-long values, control characters and inconsistent merge sets with an
//! [`Error`] that names the field and says what would be accepted.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

mod term;
pub use term::{Term, TermType};

/// Longest accepted id (subject id, tenant id, merge-set id, external id), in bytes.
pub const MAX_ID_LEN: usize = 256;
/// Longest accepted field value (a name, an address, …), in bytes.
pub const MAX_VALUE_LEN: usize = 1024;
/// Most values accepted in one multi-valued field (e.g. 64 emails).
pub const MAX_VALUES_PER_FIELD: usize = 64;
/// Most custom attributes on one subject.
pub const MAX_CUSTOM_ATTRIBUTES: usize = 256;

/// A validation error: what was wrong, where, and what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required value is empty or only white space.
    #[error("{field}: must not be empty")]
    Empty {
        /// The field path, e.g. `id` or `emails[2]`.
        field: String,
    },
    /// A value is longer than allowed.
    #[error("{field}: {len} bytes is too long (at most {max})")]
    TooLong {
        /// The field path.
        field: String,
        /// The length found.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Too many values in one field.
    #[error("{field}: {count} values is too many (at most {max})")]
    TooMany {
        /// The field path.
        field: String,
        /// The count found.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A value contains a control character (other than none; tabs and newlines are
    /// refused too, because they break exports and terminal output).
    #[error("{field}: contains control character U+{code:04X} at byte {at}")]
    ControlCharacter {
        /// The field path.
        field: String,
        /// The code point.
        code: u32,
        /// Byte offset in the value.
        at: usize,
    },
    /// A value is syntactically not accepted.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field path.
        field: String,
        /// Why, and what would be accepted.
        reason: String,
    },
    /// A merge set is inconsistent.
    #[error("merge set {set:?}: {reason}")]
    MergeSet {
        /// The merge-set id.
        set: String,
        /// What is wrong.
        reason: String,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn check_text(field: &str, value: &str, max: usize, required: bool) -> Result<()> {
    if value.trim().is_empty() {
        if required {
            return Err(Error::Empty {
                field: field.to_owned(),
            });
        }
        return Ok(());
    }
    if value.len() > max {
        return Err(Error::TooLong {
            field: field.to_owned(),
            len: value.len(),
            max,
        });
    }
    if let Some((at, c)) = value.char_indices().find(|(_, c)| c.is_control()) {
        return Err(Error::ControlCharacter {
            field: field.to_owned(),
            code: c as u32,
            at,
        });
    }
    Ok(())
}

fn check_list(field: &str, values: &[String], max_len: usize) -> Result<()> {
    if values.len() > MAX_VALUES_PER_FIELD {
        return Err(Error::TooMany {
            field: field.to_owned(),
            count: values.len(),
            max: MAX_VALUES_PER_FIELD,
        });
    }
    for (i, v) in values.iter().enumerate() {
        check_text(&format!("{field}[{i}]"), v, max_len, true)?;
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps an id: non-empty after trimming, at most
            #[doc = concat!("[`MAX_ID_LEN`] bytes, no control characters. Surrounding white space is removed.")]
            pub fn new(value: impl Into<String>) -> Result<Self> {
                let value = value.into();
                let trimmed = value.trim();
                check_text($what, trimmed, MAX_ID_LEN, true)?;
                Ok(Self(if trimmed.len() == value.len() { value } else { trimmed.to_owned() }))
            }
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<Self> {
                Self::new(value)
            }
        }
        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// The id of a subject (user, external contact or dialer contact), unique per tenant.
    SubjectId,
    "id"
);
id_type!(
    /// The id of a merge set.
    MergeSetId,
    "merge_set"
);

/// The organisation whose data it is. Every record and every query is scoped to one.
///
/// Tenant names are restricted to `[A-Za-z0-9._-]`, 1 to 64 characters, because they end
/// up in file names, URLs and log lines.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// Validates a tenant name.
    pub fn new(value: impl Into<String>) -> Result<Self> {
        let value = value.into();
        if value.is_empty() {
            return Err(Error::Empty {
                field: "tenant".into(),
            });
        }
        if value.len() > 64 {
            return Err(Error::TooLong {
                field: "tenant".into(),
                len: value.len(),
                max: 64,
            });
        }
        if let Some(c) = value
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(Error::Invalid {
                field: "tenant".into(),
                reason: format!(
                    "character {c:?} is not allowed (use letters, digits, '.', '_' or '-')"
                ),
            });
        }
        Ok(Self(value))
    }
    /// The tenant name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl Default for TenantId {
    fn default() -> Self {
        Self("default".into())
    }
}
impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl TryFrom<String> for TenantId {
    type Error = Error;
    fn try_from(value: String) -> Result<Self> {
        Self::new(value)
    }
}
impl From<TenantId> for String {
    fn from(value: TenantId) -> String {
        value.0
    }
}
impl FromStr for TenantId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

/// The three kinds of data subject (G-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// An employee or agent of the organisation (`userId`).
    User,
    /// A customer known to the organisation (`externalContactId`).
    ExternalContact,
    /// An entry of an outbound campaign contact list (`dialerContactId`).
    DialerContact,
}

impl SubjectKind {
    /// The wire name (`user`, `external_contact`, `dialer_contact`).
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectKind::User => "user",
            SubjectKind::ExternalContact => "external_contact",
            SubjectKind::DialerContact => "dialer_contact",
        }
    }
    /// The term type naming an id of this kind.
    pub fn id_term_type(self) -> TermType {
        match self {
            SubjectKind::User => TermType::UserId,
            SubjectKind::ExternalContact => TermType::ExternalContactId,
            SubjectKind::DialerContact => TermType::DialerContactId,
        }
    }
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SubjectKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "user" | "employee" | "agent" => Ok(SubjectKind::User),
            "external_contact" | "contact" | "externalcontact" => Ok(SubjectKind::ExternalContact),
            "dialer_contact" | "dialercontact" => Ok(SubjectKind::DialerContact),
            _ => Err(Error::Invalid {
                field: "type".into(),
                reason: format!(
                    "unknown subject type {s:?} (expected user, external_contact or dialer_contact)"
                ),
            }),
        }
    }
}

/// Employment status of a user (G-16: an active employee is never erased silently).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Employment {
    /// Currently employed.
    Active,
    /// No longer employed.
    Former,
}

/// A social-media handle: the platform and the handle as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Handle {
    /// Platform name (`twitter`, `instagram`, `facebook`, `whatsapp`, …), free text.
    pub platform: String,
    /// The handle as written (`@jdupont`, a profile URL, …).
    pub value: String,
}

/// A data subject: a person as one source system knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Which kind of subject.
    pub kind: SubjectKind,
    /// Unique per tenant (and across kinds).
    pub id: SubjectId,
    /// Full names as written, in any script.
    #[serde(default)]
    pub names: Vec<String>,
    /// Email addresses.
    #[serde(default)]
    pub emails: Vec<String>,
    /// Phone numbers in any written form.
    #[serde(default)]
    pub phones: Vec<String>,
    /// Postal addresses, one line each.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Social handles.
    #[serde(default)]
    pub handles: Vec<Handle>,
    /// Ids of this person in other systems.
    #[serde(default)]
    pub external_ids: Vec<String>,
    /// Free-form attributes. Not searched (a G-14 blind spot), but exported.
    #[serde(default)]
    pub custom: BTreeMap<String, String>,
    /// Users only: active or former employee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employment: Option<Employment>,
    /// Dialer contacts only: the contact list the entry belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_list: Option<String>,
    /// External contacts only: the merge set this contact belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_set: Option<MergeSetId>,
    /// Whether this contact is the canonical contact of its merge set.
    #[serde(default)]
    pub canonical: bool,
}

impl Subject {
    /// A subject with only a kind and an id; fill the fields you have.
    pub fn new(kind: SubjectKind, id: SubjectId) -> Self {
        Subject {
            kind,
            id,
            names: Vec::new(),
            emails: Vec::new(),
            phones: Vec::new(),
            addresses: Vec::new(),
            handles: Vec::new(),
            external_ids: Vec::new(),
            custom: BTreeMap::new(),
            employment: None,
            contact_list: None,
            merge_set: None,
            canonical: false,
        }
    }

    /// Checks every field: lengths, counts, control characters, and that kind-specific
    /// fields are only set on the right kind.
    pub fn validate(&self) -> Result<()> {
        check_list("names", &self.names, MAX_VALUE_LEN)?;
        check_list("emails", &self.emails, MAX_VALUE_LEN)?;
        check_list("phones", &self.phones, MAX_VALUE_LEN)?;
        check_list("addresses", &self.addresses, MAX_VALUE_LEN)?;
        check_list("external_ids", &self.external_ids, MAX_ID_LEN)?;
        if self.handles.len() > MAX_VALUES_PER_FIELD {
            return Err(Error::TooMany {
                field: "handles".into(),
                count: self.handles.len(),
                max: MAX_VALUES_PER_FIELD,
            });
        }
        for (i, h) in self.handles.iter().enumerate() {
            check_text(&format!("handles[{i}].platform"), &h.platform, 64, true)?;
            check_text(
                &format!("handles[{i}].value"),
                &h.value,
                MAX_VALUE_LEN,
                true,
            )?;
        }
        if self.custom.len() > MAX_CUSTOM_ATTRIBUTES {
            return Err(Error::TooMany {
                field: "custom".into(),
                count: self.custom.len(),
                max: MAX_CUSTOM_ATTRIBUTES,
            });
        }
        for (k, v) in &self.custom {
            check_text("custom key", k, 128, true)?;
            check_text(&format!("custom.{k}"), v, MAX_VALUE_LEN * 4, false)?;
        }
        if self.employment.is_some() && self.kind != SubjectKind::User {
            return Err(Error::Invalid {
                field: "employment".into(),
                reason: format!("only users have an employment status, not a {}", self.kind),
            });
        }
        if let Some(list) = &self.contact_list {
            if self.kind != SubjectKind::DialerContact {
                return Err(Error::Invalid {
                    field: "contact_list".into(),
                    reason: format!(
                        "only dialer contacts have a contact list, not a {}",
                        self.kind
                    ),
                });
            }
            check_text("contact_list", list, MAX_ID_LEN, true)?;
        }
        if self.merge_set.is_some() && self.kind != SubjectKind::ExternalContact {
            return Err(Error::Invalid {
                field: "merge_set".into(),
                reason: format!("only external contacts can be merged, not a {}", self.kind),
            });
        }
        if self.canonical && self.merge_set.is_none() {
            return Err(Error::Invalid {
                field: "canonical".into(),
                reason: "a contact can only be canonical within a merge set (set merge_set)".into(),
            });
        }
        Ok(())
    }

    /// Whether this subject is an active employee (erasure needs a decision, G-16).
    pub fn is_active_employee(&self) -> bool {
        self.kind == SubjectKind::User && self.employment != Some(Employment::Former)
    }
}

/// A merge set: several external contacts that are one person, one of them canonical
/// (G-9). Built with [`MergeSet::new`] (or [`merge_sets`]), which checks the invariants:
/// at least one member, no duplicate member, exactly one canonical, the canonical is a
/// member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeSet {
    id: MergeSetId,
    canonical: SubjectId,
    members: Vec<SubjectId>,
}

impl MergeSet {
    /// Checks and builds a merge set. `members` includes the canonical.
    pub fn new(id: MergeSetId, canonical: SubjectId, members: Vec<SubjectId>) -> Result<Self> {
        let mut seen = BTreeSet::new();
        for m in &members {
            if !seen.insert(m) {
                return Err(Error::MergeSet {
                    set: id.to_string(),
                    reason: format!("contact {m} is listed twice"),
                });
            }
        }
        if !seen.contains(&canonical) {
            return Err(Error::MergeSet {
                set: id.to_string(),
                reason: format!("canonical contact {canonical} is not a member"),
            });
        }
        Ok(MergeSet {
            id,
            canonical,
            members,
        })
    }
    /// The merge-set id.
    pub fn id(&self) -> &MergeSetId {
        &self.id
    }
    /// The canonical contact.
    pub fn canonical(&self) -> &SubjectId {
        &self.canonical
    }
    /// Every member, canonical included.
    pub fn members(&self) -> &[SubjectId] {
        &self.members
    }
}

/// Groups subjects by their `merge_set` field and validates each set: members are
/// external contacts, exactly one member is canonical. A contact is in at most one set by
/// construction (it has one `merge_set` field).
///
/// Errors name the set and the problem; sets are returned sorted by id.
pub fn merge_sets<'a>(subjects: impl IntoIterator<Item = &'a Subject>) -> Result<Vec<MergeSet>> {
    let mut by_set: BTreeMap<&MergeSetId, (Vec<SubjectId>, Vec<SubjectId>)> = BTreeMap::new();
    for s in subjects {
        if let Some(set) = &s.merge_set {
            if s.kind != SubjectKind::ExternalContact {
                return Err(Error::MergeSet {
                    set: set.to_string(),
                    reason: format!(
                        "{} is a {}, only external contacts can be merged",
                        s.id, s.kind
                    ),
                });
            }
            let entry = by_set.entry(set).or_default();
            entry.0.push(s.id.clone());
            if s.canonical {
                entry.1.push(s.id.clone());
            }
        }
    }
    by_set
        .into_iter()
        .map(|(id, (members, canon))| match canon.as_slice() {
            [c] => MergeSet::new(id.clone(), c.clone(), members),
            [] => Err(Error::MergeSet {
                set: id.to_string(),
                reason: "no canonical contact (mark exactly one member \"canonical\": true)".into(),
            }),
            many => Err(Error::MergeSet {
                set: id.to_string(),
                reason: format!(
                    "{} canonical contacts ({}), exactly one is allowed",
                    many.len(),
                    many.iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        })
        .collect()
}

/// The kinds of data subject request (GDPR articles 15, 16, 17, 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestType {
    /// Art. 15, right of access.
    Export,
    /// Art. 16, rectification.
    Update,
    /// Art. 17, erasure.
    Delete,
    /// Art. 20, portability.
    Portability,
}

impl RequestType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestType::Export => "export",
            RequestType::Update => "update",
            RequestType::Delete => "delete",
            RequestType::Portability => "portability",
        }
    }
    /// The GDPR article implemented.
    pub fn article(self) -> &'static str {
        match self {
            RequestType::Export => "GDPR art. 15",
            RequestType::Update => "GDPR art. 16",
            RequestType::Delete => "GDPR art. 17",
            RequestType::Portability => "GDPR art. 20",
        }
    }
}

impl fmt::Display for RequestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RequestType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "export" | "access" => Ok(RequestType::Export),
            "update" | "rectify" | "rectification" => Ok(RequestType::Update),
            "delete" | "erase" | "erasure" => Ok(RequestType::Delete),
            "portability" | "port" => Ok(RequestType::Portability),
            _ => Err(Error::Invalid {
                field: "type".into(),
                reason: format!(
                    "unknown request type {s:?} (expected export, update, delete or portability)"
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(id: &str) -> Subject {
        Subject::new(SubjectKind::ExternalContact, SubjectId::new(id).unwrap())
    }

    #[test]
    fn ids_are_trimmed_and_validated() {
        assert_eq!(SubjectId::new("  c-1 ").unwrap().as_str(), "c-1");
        assert!(matches!(SubjectId::new("   "), Err(Error::Empty { .. })));
        assert!(matches!(
            SubjectId::new("a\u{7}b"),
            Err(Error::ControlCharacter { code: 7, .. })
        ));
        assert!(matches!(
            SubjectId::new("x".repeat(MAX_ID_LEN + 1)),
            Err(Error::TooLong { .. })
        ));
    }

    #[test]
    fn tenant_names_are_restricted() {
        assert!(TenantId::new("acme-eu_1.prod").is_ok());
        let err = TenantId::new("acme/eu").unwrap_err().to_string();
        assert!(err.contains("'/'"), "{err}");
    }

    #[test]
    fn subject_validation_names_the_field() {
        let mut s = contact("c1");
        s.emails = vec!["a@b.c".into(), "bad\nvalue".into()];
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "emails[1]: contains control character U+000A at byte 3"
        );
        let mut s = contact("c1");
        s.employment = Some(Employment::Active);
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .starts_with("employment:")
        );
        let mut s = contact("c1");
        s.canonical = true;
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .starts_with("canonical:")
        );
    }

    #[test]
    fn merge_sets_need_exactly_one_canonical() {
        let set = MergeSetId::new("m1").unwrap();
        let mut a = contact("a");
        a.merge_set = Some(set.clone());
        a.canonical = true;
        let mut b = contact("b");
        b.merge_set = Some(set.clone());
        let sets = merge_sets([&a, &b]).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].canonical().as_str(), "a");
        assert_eq!(sets[0].members().len(), 2);

        b.canonical = true;
        let err = merge_sets([&a, &b]).unwrap_err().to_string();
        assert!(err.contains("2 canonical contacts"), "{err}");
        a.canonical = false;
        b.canonical = false;
        assert!(
            merge_sets([&a, &b])
                .unwrap_err()
                .to_string()
                .contains("no canonical")
        );
    }

    #[test]
    fn merge_set_canonical_must_be_member() {
        let err = MergeSet::new(
            MergeSetId::new("m").unwrap(),
            SubjectId::new("x").unwrap(),
            vec![SubjectId::new("a").unwrap()],
        )
        .unwrap_err();
        assert!(err.to_string().contains("not a member"));
    }

    #[test]
    fn subject_json_round_trip() {
        let json = r#"{"kind":"user","id":"u1","names":["Ana"],"employment":"active"}"#;
        let s: Subject = serde_json::from_str(json).unwrap();
        assert!(s.is_active_employee());
        let back = serde_json::to_string(&s).unwrap();
        let again: Subject = serde_json::from_str(&back).unwrap();
        assert_eq!(s, again);
        assert!(serde_json::from_str::<Subject>(r#"{"kind":"user","id":" "}"#).is_err());
    }
}
