//! Evaluating the catalog against a configuration, then applying waivers.

use crate::checks::Ctx;
use crate::config::Config;
use crate::error::Result;
use crate::params::Parameters;
use crate::rules::{Rule, catalog};
use crate::waiver::{Expiry, Waiver, Waivers};
use chrono::NaiveDate;
use serde::Serialize;
use std::fmt;

/// The outcome of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The configuration meets the rule.
    Pass,
    /// The configuration does not meet the rule (and no waiver in force covers it).
    Fail,
    /// The rule does not apply: the product is not used, or the feature it guards is off.
    NotApplicable,
    /// The rule would fail (or could not be decided), and a waiver in force records that
    /// the subscriber forgoes it and accepts responsibility.
    Waived,
    /// The rule could not be decided: a value it needs is not set.
    Error,
}

impl Status {
    /// Whether this outcome lets a deployment gate pass.
    pub fn is_ok(self) -> bool {
        matches!(self, Status::Pass | Status::NotApplicable | Status::Waived)
    }

    /// The lower-case name used in every report: `pass`, `fail`, `not_applicable`,
    /// `waived`, `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::NotApplicable => "not_applicable",
            Status::Waived => "waived",
            Status::Error => "error",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One configuration value that decided an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The key path, e.g. `authentication.two_factor_enforced`.
    pub key: String,
    /// The value as written in TOML (`true`, `15`, `"sso"`), or a parenthesised note
    /// such as `(absent)` or `(not set)`.
    pub value: String,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.key, self.value)
    }
}

/// How a recorded waiver related to a rule's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaiverState {
    /// In force; the failing rule is reported as waived.
    Applied,
    /// Expired on or before the evaluation date; the rule is a failure again.
    Expired,
    /// Accepted after the evaluation date; not yet in force.
    NotYetInForce,
    /// The rule passes or does not apply; the waiver is not needed.
    NotNeeded,
}

/// A waiver that names the rule, and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverUse {
    /// The waiver as recorded.
    pub waiver: Waiver,
    /// What it did to the outcome.
    pub state: WaiverState,
}

/// The outcome of one rule, with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The rule (serialized as its id).
    #[serde(serialize_with = "rule_id")]
    pub rule: &'static Rule,
    /// The reported outcome (after waivers).
    pub status: Status,
    /// The outcome of the check itself, before waivers.
    pub evaluated: Status,
    /// What decided it, in a sentence.
    pub message: String,
    /// The configuration values that decided it.
    pub evidence: Vec<Evidence>,
    /// The waiver for this rule, if one is recorded.
    pub waiver: Option<WaiverUse>,
}

fn rule_id<S: serde::Serializer>(rule: &&'static Rule, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(rule.id())
}

impl Finding {
    /// The key path a report points at (best effort): for a pass or a not-applicable
    /// outcome the first value read; otherwise the last configuration value read before
    /// the verdict (parameters and waivers aside), which is the one that decided it —
    /// or the missing one, for an error. Falls back to the rule's section.
    pub fn location(&self) -> &str {
        let config_keys = || {
            self.evidence
                .iter()
                .map(|e| e.key.as_str())
                .filter(|k| !k.starts_with("parameters.") && !k.starts_with("waiver["))
        };
        let key = match self.evaluated {
            Status::Pass | Status::NotApplicable => config_keys().next(),
            _ => config_keys().next_back(),
        };
        key.unwrap_or(self.rule.area().section())
    }
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Rules passed.
    pub pass: usize,
    /// Rules failed.
    pub fail: usize,
    /// Rules not applicable.
    pub not_applicable: usize,
    /// Rules waived.
    pub waived: usize,
    /// Rules that could not be decided.
    pub error: usize,
}

impl Summary {
    /// Every rule counted.
    pub fn total(&self) -> usize {
        self.pass + self.fail + self.not_applicable + self.waived + self.error
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rules: {} pass, {} fail, {} error, {} waived, {} not applicable",
            self.total(),
            self.pass,
            self.fail,
            self.error,
            self.waived,
            self.not_applicable
        )
    }
}

/// The result of checking one configuration: a finding per catalog rule, in catalog
/// order.
#[derive(Debug, Clone)]
pub struct Report {
    /// The tenant's display name, if the configuration gives one.
    pub tenant: Option<String>,
    /// The evaluation date (waiver expiry, credential age).
    pub as_of: NaiveDate,
    /// The parameters in force.
    pub parameters: Parameters,
    /// One finding per rule of the catalog.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Counts per status.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for f in &self.findings {
            match f.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::NotApplicable => s.not_applicable += 1,
                Status::Waived => s.waived += 1,
                Status::Error => s.error += 1,
            }
        }
        s
    }

    /// True when no rule failed or errored: the deployment gate may pass.
    pub fn passed(&self) -> bool {
        self.findings.iter().all(|f| f.status.is_ok())
    }

    /// The finding of one rule.
    pub fn finding(&self, rule_id: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.rule.id() == rule_id)
    }

    /// The findings that stop the gate (failures and errors), in catalog order.
    pub fn blocking(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| !f.status.is_ok())
    }
}

/// Checks `config` against every rule of the catalog as of `today`, then applies the
/// waivers. Errors only when the configuration's `[parameters]` are invalid (which
/// [`Config::from_toml`] already reports).
pub fn evaluate(config: &Config, waivers: &Waivers, today: NaiveDate) -> Result<Report> {
    let params = Parameters::from_overrides(config.parameters.as_ref())?;
    Ok(evaluate_with(config, &params, waivers, today))
}

pub(crate) fn evaluate_with(
    config: &Config,
    params: &Parameters,
    waivers: &Waivers,
    today: NaiveDate,
) -> Report {
    let cx = Ctx {
        config,
        params,
        today,
    };
    let findings = catalog()
        .iter()
        .map(|rule| {
            let (evaluated, message, evidence) = match rule.run(&cx) {
                Ok(o) => (o.status, o.message, o.evidence),
                Err(u) => (
                    Status::Error,
                    format!("cannot decide: {}", u.reason),
                    u.evidence,
                ),
            };
            apply_waiver(
                rule,
                evaluated,
                message,
                evidence,
                waivers.for_rule(rule.id()),
                today,
            )
        })
        .collect();
    Report {
        tenant: config.tenant_name().map(str::to_owned),
        as_of: today,
        parameters: params.clone(),
        findings,
    }
}

fn apply_waiver(
    rule: &'static Rule,
    evaluated: Status,
    mut message: String,
    mut evidence: Vec<Evidence>,
    waiver: Option<&Waiver>,
    today: NaiveDate,
) -> Finding {
    let Some(w) = waiver else {
        return Finding {
            rule,
            status: evaluated,
            evaluated,
            message,
            evidence,
            waiver: None,
        };
    };
    let failing = matches!(evaluated, Status::Fail | Status::Error);
    let state = if !failing {
        WaiverState::NotNeeded
    } else if w.accepted_at.naive() > today {
        WaiverState::NotYetInForce
    } else if matches!(w.expiry, Expiry::On(d) if d.naive() <= today) {
        WaiverState::Expired
    } else {
        WaiverState::Applied
    };
    let status = match state {
        WaiverState::Applied => Status::Waived,
        _ => evaluated,
    };
    match state {
        WaiverState::Applied => {
            message = format!(
                "waived by {} on {} ({}): {message}",
                w.accepted_by, w.accepted_at, w.expiry
            );
        }
        WaiverState::Expired => {
            let Expiry::On(d) = w.expiry else {
                unreachable!("expired implies a date")
            };
            evidence.push(Evidence {
                key: format!("waiver[{}].expires", w.index),
                value: d.to_string(),
            });
            message = format!(
                "waiver accepted by {} expired on {d}; {message}",
                w.accepted_by
            );
        }
        WaiverState::NotYetInForce => {
            evidence.push(Evidence {
                key: format!("waiver[{}].accepted_at", w.index),
                value: w.accepted_at.to_string(),
            });
            message = format!(
                "waiver accepted by {} is dated {}, after the evaluation date; {message}",
                w.accepted_by, w.accepted_at
            );
        }
        WaiverState::NotNeeded => {}
    }
    Finding {
        rule,
        status,
        evaluated,
        message,
        evidence,
        waiver: Some(WaiverUse {
            waiver: w.clone(),
            state,
        }),
    }
}
