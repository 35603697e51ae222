//! Waivers: the subscriber forgoes a configuration and accepts responsibility.
//!
//! The source (seed 001, change log 2019-11-06) lets the subscriber waive any
//! configuration at its own discretion, as long as it takes responsibility. A waiver
//! is therefore a record — who accepted it, when, why, until when — never a silent
//! switch: the rule is still evaluated and reported as waived, and an expired waiver
//! turns back into a failure.
//!
//! File format (TOML; JSON `{"waiver": [ … ]}` is accepted too):
//!
//! ```toml
//! [[waiver]]
//! rule = "sms.no-phi"
//! justification = "Appointment reminders only; templates reviewed to exclude PHI."
//! accepted_by = "Jane Roe, CISO"
//! accepted_at = 2026-01-10
//! expires = 2027-01-10          # or: permanent = true
//! reference = "RISK-142"        # optional
//! ```

use crate::config::{json_error, line_of, looks_like_json, path_string};
use crate::date::Date;
use crate::error::{Error, Result};
use crate::rules::find_rule;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Until when a waiver is in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expiry {
    /// In force before this date; from this date on the rule fails again.
    On(Date),
    /// Explicitly permanent.
    Permanent,
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expiry::On(d) => write!(f, "expires {d}"),
            Expiry::Permanent => f.write_str("permanent"),
        }
    }
}

/// A validated waiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Waiver {
    /// Its position in the waiver file (0-based), for error messages and evidence.
    pub index: usize,
    /// The rule id it waives.
    pub rule: String,
    /// Why the subscriber forgoes the configuration.
    pub justification: String,
    /// Who accepted responsibility.
    pub accepted_by: String,
    /// When.
    pub accepted_at: Date,
    /// Until when.
    pub expiry: Expiry,
    /// An optional reference (risk register entry, ticket).
    pub reference: Option<String>,
}

/// A validated set of waivers, at most one per rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Waivers {
    list: Vec<Waiver>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WaiverFile {
    #[serde(default)]
    waiver: Vec<RawWaiver>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaiver {
    rule: Option<String>,
    justification: Option<String>,
    accepted_by: Option<String>,
    accepted_at: Option<Date>,
    expires: Option<Date>,
    permanent: Option<bool>,
    reference: Option<String>,
}

impl Waivers {
    /// No waivers.
    pub fn none() -> Self {
        Waivers::default()
    }

    /// Reads a TOML waiver file (`[[waiver]]` tables).
    pub fn from_toml(text: &str) -> Result<Waivers> {
        let de = toml::Deserializer::new(text);
        let file: WaiverFile = serde_path_to_error::deserialize(de).map_err(|e| Error::Parse {
            path: path_string(e.path()),
            line: e.inner().span().map(|s| line_of(text, s.start)),
            message: e.inner().message().trim().to_owned(),
        })?;
        Waivers::validate(file.waiver)
    }

    /// Reads a JSON waiver file (`{"waiver": [ … ]}`).
    pub fn from_json(text: &str) -> Result<Waivers> {
        let mut de = serde_json::Deserializer::from_str(text);
        let file: WaiverFile = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| json_error(path_string(e.path()), e.inner()))?;
        de.end().map_err(|e| json_error(".".to_owned(), &e))?;
        Waivers::validate(file.waiver)
    }

    /// Reads TOML or JSON, guessing from the first non-blank character.
    pub fn parse(text: &str) -> Result<Waivers> {
        if looks_like_json(text) {
            Waivers::from_json(text)
        } else {
            Waivers::from_toml(text)
        }
    }

    /// Builds a set from waivers made in code; checks them like a file.
    pub fn from_waivers(list: Vec<Waiver>) -> Result<Waivers> {
        let raw = list
            .into_iter()
            .map(|w| RawWaiver {
                rule: Some(w.rule),
                justification: Some(w.justification),
                accepted_by: Some(w.accepted_by),
                accepted_at: Some(w.accepted_at),
                expires: match w.expiry {
                    Expiry::On(d) => Some(d),
                    Expiry::Permanent => None,
                },
                permanent: Some(matches!(w.expiry, Expiry::Permanent)),
                reference: w.reference,
            })
            .collect();
        Waivers::validate(raw)
    }

    fn validate(raw: Vec<RawWaiver>) -> Result<Waivers> {
        let mut list: Vec<Waiver> = Vec::with_capacity(raw.len());
        for (i, r) in raw.into_iter().enumerate() {
            let at = |field: &str| format!("waiver[{i}].{field}");
            let required = |v: Option<String>, field: &str, what: &str| -> Result<String> {
                match v {
                    Some(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
                    Some(_) => Err(Error::invalid(
                        at(field),
                        format!("must not be blank: {what}"),
                    )),
                    None => Err(Error::invalid(at(field), format!("required: {what}"))),
                }
            };
            let rule = required(
                r.rule,
                "rule",
                "the id of the rule waived (see `dsr compliance rules`)",
            )?;
            if find_rule(&rule).is_none() {
                let unknown = crate::rules::unknown_rule(&rule);
                return Err(Error::invalid(at("rule"), unknown.to_string()));
            }
            let justification = required(
                r.justification,
                "justification",
                "say why the subscriber forgoes this configuration and accepts responsibility",
            )?;
            let accepted_by = required(
                r.accepted_by,
                "accepted_by",
                "who accepted responsibility (name and role)",
            )?;
            let accepted_at = r.accepted_at.ok_or_else(|| {
                Error::invalid(
                    at("accepted_at"),
                    "required: the date responsibility was accepted (YYYY-MM-DD)",
                )
            })?;
            let expiry = match (r.expires, r.permanent) {
                (Some(_), Some(true)) => {
                    return Err(Error::invalid(
                        at("permanent"),
                        "a waiver is either permanent or has an `expires` date, not both",
                    ));
                }
                (Some(d), _) => {
                    if d <= accepted_at {
                        return Err(Error::invalid(
                            at("expires"),
                            format!("{d} is not after accepted_at ({accepted_at})"),
                        ));
                    }
                    Expiry::On(d)
                }
                (None, Some(true)) => Expiry::Permanent,
                (None, _) => {
                    return Err(Error::invalid(
                        at("expires"),
                        "required unless `permanent = true`: the date the waiver stops applying (YYYY-MM-DD)",
                    ));
                }
            };
            if let Some(first) = list.iter().find(|w| w.rule == rule) {
                return Err(Error::invalid(
                    at("rule"),
                    format!(
                        "`{rule}` is already waived by waiver[{}]; keep one waiver per rule",
                        first.index
                    ),
                ));
            }
            let reference = r
                .reference
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty());
            list.push(Waiver {
                index: i,
                rule,
                justification,
                accepted_by,
                accepted_at,
                expiry,
                reference,
            });
        }
        Ok(Waivers { list })
    }

    /// The waiver for a rule, if any.
    pub fn for_rule(&self, rule_id: &str) -> Option<&Waiver> {
        self.list.iter().find(|w| w.rule == rule_id)
    }

    /// Every waiver, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Waiver> {
        self.list.iter()
    }

    /// How many waivers.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// No waivers at all.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}
