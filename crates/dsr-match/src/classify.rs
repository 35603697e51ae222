//! Classification of a bare term: email, phone, handle, id, address or name.
//!
//! The order of the checks is the order of certainty: an `@` between a local part and a
//! dotted domain is an email; a leading `@` or a profile URL is a handle; a UUID or a
//! single token mixing letters and digits is an id; mostly-digit text is a phone number;
//! letters with a house number or a street word are an address; the rest is a name.

use crate::normalize;
use crate::text;
use dsr_model::TermType;

fn is_uuid(s: &str) -> bool {
    let s = s.trim_matches(|c| c == '{' || c == '}');
    let s = s.strip_prefix("urn:uuid:").unwrap_or(s);
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Classifies a term the caller gave without a type.
pub fn classify(raw: &str) -> TermType {
    classify_keyed(raw).0
}

/// [`classify`], with the email keys it computed to decide that a term is an email
/// (a lookup then does not compute them twice).
pub(crate) fn classify_keyed(raw: &str) -> (TermType, Option<Vec<normalize::ExactKey>>) {
    let mut keys = None;
    let ty = classify_into(raw, &mut keys);
    (ty, keys)
}

fn classify_into(raw: &str, email: &mut Option<Vec<normalize::ExactKey>>) -> TermType {
    let lower = text::nfkc_lower(raw.trim());
    let s = lower.as_str();
    if s.is_empty() {
        return TermType::Name;
    }
    let no_space = !s.contains(char::is_whitespace);
    // Handles: "@x", "@x@instance", profile URLs, "twitter:@x".
    if s.starts_with('@') && s.len() > 1 {
        return TermType::Handle;
    }
    if s.starts_with("mailto:") {
        return TermType::Email;
    }
    if s.starts_with("tel:") {
        return TermType::Phone;
    }
    if s.starts_with("http://") || s.starts_with("https://") {
        return TermType::Handle;
    }
    if no_space
        && let Some(host) = s.split('/').next()
        && host.contains('.')
        && normalize::canonical_platform(host).is_some()
        && s.contains('/')
    {
        return TermType::Handle;
    }
    if let Some((p, rest)) = s.split_once(':')
        && normalize::canonical_platform(p).is_some()
        && !rest.trim().is_empty()
    {
        return TermType::Handle;
    }
    // Emails, also "Name <a@b.c>".
    if s.contains('@')
        && let Ok(keys) = normalize::email_keys(s)
    {
        *email = Some(keys);
        return TermType::Email;
    }
    if is_uuid(s) {
        return TermType::Id;
    }
    let digits = s.chars().filter(|c| c.is_ascii_digit()).count();
    let letters = s.chars().filter(|c| c.is_alphabetic()).count();
    // Phones: digits and phone punctuation only (an extension word is tolerated).
    let phone_chars = s
        .chars()
        .all(|c| c.is_ascii_digit() || " +-.()/\u{a0}".contains(c));
    let ext_form = letters <= 4 && (s.contains("ext") || s.contains(" x"));
    if (phone_chars || ext_form) && (6..=17).contains(&digits) {
        return TermType::Phone;
    }
    let tokens: Vec<&str> = s.split_whitespace().collect();
    if tokens.len() >= 2 && digits > 0 && letters > 0 {
        return TermType::Address;
    }
    if tokens.len() >= 2 && letters > 0 {
        // Letters only, several words: an address if it names a street type.
        let streety = tokens.iter().any(|t| {
            let t = text::strip_diacritics(t.trim_matches(|c: char| !c.is_alphanumeric()));
            matches!(
                t.as_str(),
                "rue"
                    | "avenue"
                    | "street"
                    | "strasse"
                    | "calle"
                    | "ulica"
                    | "ul"
                    | "sokak"
                    | "caddesi"
                    | "boulevard"
                    | "straat"
                    | "laan"
                    | "weg"
                    | "via"
                    | "plaza"
                    | "place"
                    | "road"
                    | "улица"
                    | "ул"
                    | "chemin"
                    | "allee"
                    | "impasse"
            ) || ["strasse", "straat", "str."]
                .iter()
                .any(|suf| t.ends_with(suf) && t.len() > suf.len() + 2)
        });
        if streety {
            return TermType::Address;
        }
        return TermType::Name;
    }
    if no_space && digits > 0 {
        // A single token with digits: "C-1042", "u_17", "483920".
        return TermType::Id;
    }
    if letters == 0 && digits == 0 {
        return TermType::Name;
    }
    TermType::Name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_common_forms() {
        let cases = [
            ("jean.dupont@example.fr", TermType::Email),
            ("Jean Dupont <jean@example.fr>", TermType::Email),
            ("ＪＥＡＮ＠ＥＸＡＭＰＬＥ．ＦＲ", TermType::Email),
            ("@jdupont", TermType::Handle),
            ("https://twitter.com/jdupont", TermType::Handle),
            ("instagram.com/jdupont", TermType::Handle),
            ("twitter:@jd", TermType::Handle),
            ("+33 6 12 34 56 78", TermType::Phone),
            ("06.12.34.56.78", TermType::Phone),
            ("(030) 1234-5678", TermType::Phone),
            ("0612345678", TermType::Phone),
            ("3f2504e0-4f89-11d3-9a0c-0305e82c3301", TermType::Id),
            ("C-1042", TermType::Id),
            ("12 rue de la Paix, 75002 Paris", TermType::Address),
            ("Hauptstraße 5", TermType::Address),
            ("rue de la Paix", TermType::Address),
            ("Jean Dupont", TermType::Name),
            ("DUPONT jean", TermType::Name),
            ("山田 太郎", TermType::Name),
            ("Иван Петров", TermType::Name),
            ("Zoë", TermType::Name),
        ];
        for (raw, want) in cases {
            assert_eq!(classify(raw), want, "{raw}");
        }
    }
}
