//! Search terms: one value a person gave, with or without its type.

use crate::{Error, MAX_VALUE_LEN, Result, check_text};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The type of a search term (G-2, G-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TermType {
    /// A person's name.
    Name,
    /// A postal address.
    Address,
    /// A phone number.
    Phone,
    /// An email address.
    Email,
    /// A social-media handle (optionally with its platform).
    Handle,
    /// A user's id (`userId`).
    UserId,
    /// An external contact's id (`externalContactId`).
    ExternalContactId,
    /// A dialer contact's id (`dialerContactId`).
    DialerContactId,
    /// An id of the person in another system.
    ExternalId,
    /// Any kind of id: subject ids of every kind and external ids.
    Id,
}

impl TermType {
    /// Every term type, in display order.
    pub const ALL: [TermType; 10] = [
        TermType::Name,
        TermType::Address,
        TermType::Phone,
        TermType::Email,
        TermType::Handle,
        TermType::UserId,
        TermType::ExternalContactId,
        TermType::DialerContactId,
        TermType::ExternalId,
        TermType::Id,
    ];

    /// The canonical name, as accepted in `type:value` terms.
    pub fn as_str(self) -> &'static str {
        match self {
            TermType::Name => "name",
            TermType::Address => "address",
            TermType::Phone => "phone",
            TermType::Email => "email",
            TermType::Handle => "handle",
            TermType::UserId => "userId",
            TermType::ExternalContactId => "externalContactId",
            TermType::DialerContactId => "dialerContactId",
            TermType::ExternalId => "externalId",
            TermType::Id => "id",
        }
    }

    /// Whether the term is an identifier (matched exactly, never fuzzily).
    pub fn is_identifier(self) -> bool {
        !matches!(self, TermType::Name | TermType::Address)
    }

    /// Parses a type name; case, `-` and `_` are ignored (`external_contact_id`,
    /// `externalContactId` and `EXTERNAL-CONTACT-ID` are the same).
    pub fn parse(name: &str) -> Option<TermType> {
        let key: String = name
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        Some(match key.as_str() {
            "name" | "fullname" => TermType::Name,
            "address" | "postaladdress" | "addr" => TermType::Address,
            "phone" | "phonenumber" | "tel" | "mobile" => TermType::Phone,
            "email" | "mail" | "emailaddress" => TermType::Email,
            "handle" | "social" | "socialhandle" => TermType::Handle,
            "userid" | "user" => TermType::UserId,
            "externalcontactid" | "contactid" | "externalcontact" => TermType::ExternalContactId,
            "dialercontactid" | "dialercontact" => TermType::DialerContactId,
            "externalid" => TermType::ExternalId,
            "id" => TermType::Id,
            _ => return None,
        })
    }
}

impl fmt::Display for TermType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TermType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        TermType::parse(s).ok_or_else(|| Error::Invalid {
            field: "type".into(),
            reason: format!(
                "unknown term type {s:?} (expected one of: {})",
                TermType::ALL.map(TermType::as_str).join(", ")
            ),
        })
    }
}

/// One search term: a value and, when the caller knows it, its type. A term without a
/// type is classified by the matcher.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Term {
    /// The type, if the caller named it.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<TermType>,
    /// The value as given.
    pub value: String,
}

impl Term {
    /// A term of a known type.
    pub fn typed(ty: TermType, value: impl Into<String>) -> Result<Term> {
        let t = Term {
            ty: Some(ty),
            value: value.into(),
        };
        t.validate()?;
        Ok(t)
    }

    /// A term whose type the matcher will classify.
    pub fn bare(value: impl Into<String>) -> Result<Term> {
        let t = Term {
            ty: None,
            value: value.into(),
        };
        t.validate()?;
        Ok(t)
    }

    /// Checks the value: non-empty, at most [`MAX_VALUE_LEN`] bytes, no control
    /// characters.
    pub fn validate(&self) -> Result<()> {
        check_text("term", &self.value, MAX_VALUE_LEN, true)
    }

    /// Parses `type:value` (e.g. `phone:06 12 34 56 78`, `name:"Jean Dupont"`) or a bare
    /// value. A prefix before `:` that is not a term type leaves the whole text as a bare
    /// value, so `https://x.com/jd` and `mailto:a@b.c` stay intact. Quotes around the value
    /// are removed.
    pub fn parse(text: &str) -> Result<Term> {
        let text = text.trim();
        if let Some((prefix, rest)) = text.split_once(':')
            && let Some(ty) = TermType::parse(prefix)
        {
            return Term::typed(ty, unquote(rest.trim()));
        }
        Term::bare(unquote(text))
    }
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if s.len() >= 2 && s.starts_with(q) && s.ends_with(q) {
            return &s[1..s.len() - 1];
        }
    }
    s
}

impl FromStr for Term {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Term::parse(s)
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ty {
            Some(t) => write!(f, "{t}:{}", self.value),
            None => f.write_str(&self.value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_and_bare_terms() {
        let t = Term::parse("phone:06 12 34 56 78").unwrap();
        assert_eq!(t.ty, Some(TermType::Phone));
        assert_eq!(t.value, "06 12 34 56 78");
        let t = Term::parse(r#"name:"Jean Dupont""#).unwrap();
        assert_eq!(
            (t.ty, t.value.as_str()),
            (Some(TermType::Name), "Jean Dupont")
        );
        let t = Term::parse("https://twitter.com/jd").unwrap();
        assert_eq!((t.ty, t.value.as_str()), (None, "https://twitter.com/jd"));
        let t = Term::parse("external_contact_id:C-1").unwrap();
        assert_eq!(t.ty, Some(TermType::ExternalContactId));
        assert!(Term::parse("email:").is_err());
        assert!(Term::parse("  ").is_err());
    }

    #[test]
    fn type_names_are_forgiving_and_errors_list_choices() {
        assert_eq!(
            TermType::parse("dialerContactId"),
            Some(TermType::DialerContactId)
        );
        assert_eq!(
            TermType::parse("DIALER_CONTACT_ID"),
            Some(TermType::DialerContactId)
        );
        let err = "zip".parse::<TermType>().unwrap_err().to_string();
        assert!(err.contains("expected one of: name, address"), "{err}");
    }
}
