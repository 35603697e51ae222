//! Masking strategies of anonymized columns: what a personal value becomes.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How one column is anonymized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mask {
    /// Set to NULL.
    Null,
    /// A fixed value (text, or a number written as text for numeric columns).
    Fixed(String),
    /// HMAC-SHA256 of the value under the service's hash key, hex (64 characters):
    /// equal values stay equal (joins and counts still work), nothing is reversible
    /// without the key.
    Hash,
    /// An email keeps its domain: `erased-<16 hex>@domain` (unique per value, so a
    /// UNIQUE column stays valid).
    EmailDomain,
    /// A phone keeps its country calling code and its shape; every other digit is 0
    /// (`+33 6 12 34 56 78` → `+33 0 00 00 00 00`).
    PhoneCountry,
}

impl Mask {
    /// The name as written in `dsr.toml`.
    pub fn name(&self) -> &'static str {
        match self {
            Mask::Null => "null",
            Mask::Fixed(_) => "fixed",
            Mask::Hash => "hash",
            Mask::EmailDomain => "email_domain",
            Mask::PhoneCountry => "phone_country",
        }
    }

    /// Whether the value written is text (the column must hold text).
    pub fn writes_text(&self) -> bool {
        matches!(self, Mask::Hash | Mask::EmailDomain | Mask::PhoneCountry)
    }

    /// The masked value of `value` (`None` is SQL NULL, which stays NULL).
    pub fn apply(&self, value: Option<&str>, key: Option<&[u8]>) -> Option<String> {
        let v = value?;
        match self {
            Mask::Null => None,
            Mask::Fixed(f) => Some(f.clone()),
            Mask::Hash => Some(hex::encode(keyed(key, v))),
            Mask::EmailDomain => {
                let tag = &hex::encode(tag(key, v))[..16];
                Some(match v.rsplit_once('@') {
                    Some((_, domain)) if !domain.is_empty() => format!("erased-{tag}@{domain}"),
                    _ => format!("erased-{tag}"),
                })
            }
            Mask::PhoneCountry => Some(phone_keep_country(v)),
        }
    }
}

fn keyed(key: Option<&[u8]>, v: &str) -> [u8; 32] {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key.unwrap_or_default()).expect("any key length");
    mac.update(v.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A tag for a value: keyed when a key is configured; random otherwise (an unkeyed
/// digest of an email is reversible by trying addresses).
fn tag(key: Option<&[u8]>, v: &str) -> [u8; 32] {
    match key {
        Some(k) => keyed(Some(k), v),
        None => {
            let mut r = [0u8; 32];
            if getrandom::fill(&mut r).is_err() {
                let n = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                r[..16].copy_from_slice(&n.to_le_bytes());
            }
            r
        }
    }
}

/// How many digits the ITU country calling code starting `digits` has (zones 1 and 7
/// are one digit; the listed two-digit codes; every other code has three).
fn calling_code_len(digits: &str) -> usize {
    const TWO: &[&str] = &[
        "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
        "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
        "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
    ];
    match digits.as_bytes().first() {
        Some(b'1' | b'7') => 1,
        _ if digits.len() >= 2 && TWO.contains(&&digits[..2]) => 2,
        _ => 3,
    }
}

/// Keeps `+CC` (or `00CC`) and the separators; every other digit becomes 0. A number
/// in national form (no country code) has every digit zeroed.
pub fn phone_keep_country(v: &str) -> String {
    let t = v.trim_start();
    let lead = v.len() - t.len();
    let (prefix_len, rest) = if let Some(r) = t.strip_prefix('+') {
        (lead + 1, r)
    } else if let Some(r) = t.strip_prefix("00") {
        (lead + 2, r)
    } else {
        return v
            .chars()
            .map(|c| if c.is_ascii_digit() { '0' } else { c })
            .collect();
    };
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    let mut keep = calling_code_len(&digits);
    let mut out = String::with_capacity(v.len());
    out.push_str(&v[..prefix_len]);
    for c in rest.chars() {
        if c.is_ascii_digit() {
            if keep > 0 {
                keep -= 1;
                out.push(c);
            } else {
                out.push('0');
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_keep_their_country_and_shape() {
        for (from, to) in [
            ("+33 6 12 34 56 78", "+33 0 00 00 00 00"),
            ("+1 (415) 555-0100", "+1 (000) 000-0000"),
            ("+358401234567", "+358000000000"),
            ("0033612345678", "0033000000000"),
            ("06 12 34 56 78", "00 00 00 00 00"),
            ("", ""),
            ("+", "+"),
        ] {
            assert_eq!(phone_keep_country(from), to, "{from}");
        }
    }

    #[test]
    fn emails_keep_their_domain_and_stay_distinct() {
        let key = b"0123456789abcdef0123";
        let a = Mask::EmailDomain
            .apply(Some("jeanne@example.com"), Some(key))
            .unwrap();
        let b = Mask::EmailDomain
            .apply(Some("paul@example.com"), Some(key))
            .unwrap();
        assert!(
            a.starts_with("erased-") && a.ends_with("@example.com"),
            "{a}"
        );
        assert_ne!(a, b);
        assert!(!a.contains("jeanne"));
        let r1 = Mask::EmailDomain.apply(Some("x@y.org"), None).unwrap();
        let r2 = Mask::EmailDomain.apply(Some("x@y.org"), None).unwrap();
        assert_ne!(r1, r2, "without a key the tag is random");
        assert_eq!(Mask::EmailDomain.apply(None, None), None);
        assert_eq!(Mask::Hash.apply(Some("a"), Some(key)).unwrap().len(), 64);
        assert_eq!(
            Mask::Fixed("x".into()).apply(Some("a"), None).as_deref(),
            Some("x")
        );
        assert_eq!(Mask::Null.apply(Some("a"), None), None);
    }
}
