//! A calendar date that reads from a TOML date (`2026-01-10`) or a string
//! (`"2026-01-10"`, the only way JSON can say it).

use chrono::NaiveDate;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A calendar date (no time, no zone). Configuration dates (token creation, rotation,
/// waiver acceptance and expiry) are days, and "today" is passed in by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub NaiveDate);

impl Date {
    /// The date, for arithmetic.
    pub fn naive(self) -> NaiveDate {
        self.0
    }

    /// Whole days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: NaiveDate) -> i64 {
        (later - self.0).num_days()
    }
}

impl From<NaiveDate> for Date {
    fn from(d: NaiveDate) -> Self {
        Date(d)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m-%d"))
    }
}

impl FromStr for Date {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        // Exactly YYYY-MM-DD: chrono alone would also take "2026-1-5".
        let shape_ok = t.len() == 10
            && t.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if !shape_ok {
            return Err(format!(
                "`{s}` is not a date: expected YYYY-MM-DD, e.g. 2026-01-10"
            ));
        }
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(Date)
            .map_err(|e| format!("`{s}` is not a valid date ({e}): expected YYYY-MM-DD"))
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DateVisitor)
    }
}

/// The key under which the `toml` crate hands a TOML date-time to a visitor.
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

struct DateVisitor;

impl<'de> Visitor<'de> for DateVisitor {
    type Value = Date;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a date YYYY-MM-DD")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Date, E> {
        v.parse().map_err(E::custom)
    }

    /// TOML dates arrive as a one-entry map (the `toml` crate's private datetime
    /// representation); a date-time or a time is refused with a clear message.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Date, A::Error> {
        let Some((key, value)) = map.next_entry::<String, String>()? else {
            return Err(de::Error::custom(
                "expected a date YYYY-MM-DD, found a table",
            ));
        };
        if key != TOML_DATETIME_KEY {
            return Err(de::Error::custom(
                "expected a date YYYY-MM-DD, found a table",
            ));
        }
        if map.next_key::<String>()?.is_some() {
            return Err(de::Error::custom(
                "expected a date YYYY-MM-DD, found a table",
            ));
        }
        if value.len() > 10 || value.contains(':') {
            return Err(de::Error::custom(format!(
                "`{value}` is a date-time or a time: expected a date YYYY-MM-DD"
            )));
        }
        value.parse().map_err(de::Error::custom)
    }
}
