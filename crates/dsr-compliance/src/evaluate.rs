//! Evaluating the catalog against a configuration, then applying waivers.

use crate::checks::Ctx;
use crate::config::{Config, EVERY_TENANT_SECTIONS, Product, Regime};
use crate::error::Result;
use crate::params::Parameters;
use crate::rules::{CatalogVersion, Rule, V1_1};
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
    /// Information only: the source states it as a note, not a requirement.
    Info,
}

impl Status {
    /// Whether this outcome lets a deployment gate pass.
    pub fn is_ok(self) -> bool {
        matches!(
            self,
            Status::Pass | Status::NotApplicable | Status::Waived | Status::Info
        )
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
            Status::Info => "info",
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
    /// Set when the outcome rests on a default or reading of dsr's own rather than on
    /// the source: what it is and why.
    pub recommendation: Option<String>,
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
            Status::Pass | Status::NotApplicable | Status::Info => config_keys().next(),
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
    /// Information only (notes in the sources).
    pub info: usize,
}

impl Summary {
    /// Every rule counted.
    pub fn total(&self) -> usize {
        self.pass + self.fail + self.not_applicable + self.waived + self.error + self.info
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
        )?;
        if self.info > 0 {
            write!(f, ", {} information", self.info)?;
        }
        Ok(())
    }
}

/// Whether a product was considered in use, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductUse {
    /// The product (its configuration section).
    pub product: Product,
    /// Its rules apply.
    pub in_use: bool,
    /// Why, in words: "section [messaging] present", "listed in tenant.products", …
    pub why: String,
}

/// The regime the tenant was evaluated under, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegimeUse {
    /// As stated in `tenant.regime`, if stated.
    pub regime: Option<Regime>,
    /// Why, in words.
    pub why: String,
}

/// The result of checking one configuration: a finding per catalog rule, in catalog
/// order.
#[derive(Debug, Clone)]
pub struct Report {
    /// The tenant's display name, if the configuration gives one.
    pub tenant: Option<String>,
    /// The evaluation date (waiver expiry, credential age): the configuration's
    /// `tenant.as_of` when it states one, else the run date.
    pub as_of: NaiveDate,
    /// The day the check ran (or `--as-of`).
    pub run_on: NaiveDate,
    /// Whether [`Report::as_of`] comes from the configuration's `tenant.as_of`.
    pub as_of_from_config: bool,
    /// The catalog version used.
    pub catalog: &'static CatalogVersion,
    /// The regime, and why.
    pub regime: RegimeUse,
    /// Every product, whether it was considered in use, and why.
    pub products: Vec<ProductUse>,
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
                Status::Info => s.info += 1,
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

/// Checks `config` against every rule of the current catalog as of `today`, then
/// applies the waivers. `today` is the run date; a configuration that states
/// `tenant.as_of` is evaluated as of that day instead. Errors only when the
/// configuration's `[parameters]` are invalid (which [`Config::from_toml`] already
/// reports).
pub fn evaluate(config: &Config, waivers: &Waivers, today: NaiveDate) -> Result<Report> {
    evaluate_catalog(config, waivers, today, CatalogVersion::current())
}

/// Like [`evaluate`], with the rules and checks of an earlier catalog version, so a
/// report made with it can be reproduced.
pub fn evaluate_catalog(
    config: &Config,
    waivers: &Waivers,
    today: NaiveDate,
    catalog: &'static CatalogVersion,
) -> Result<Report> {
    let params = Parameters::from_overrides(config.parameters.as_ref())?;
    Ok(evaluate_with(
        config, &params, waivers, today, catalog, false,
    ))
}

/// What an absent section means, given the catalog version and what the tenant states.
fn absence(
    rule: &'static Rule,
    section: &str,
    config: &Config,
    version: &CatalogVersion,
    partial: bool,
    outcome: (Status, String, Vec<Evidence>),
) -> (Status, String, Vec<Evidence>) {
    if version.ordinal < V1_1 {
        return outcome;
    }
    let (_, _, evidence) = outcome;
    if partial {
        return (
            Status::NotApplicable,
            format!("section [{section}] is not part of this partial check"),
            evidence,
        );
    }
    if rule.is_note_in(version) {
        return (
            Status::Info,
            format!(
                "information: {}; section [{section}] is absent",
                rule.title()
            ),
            evidence,
        );
    }
    let stated = |why: String| {
        (
            Status::Fail,
            format!(
                "not stated: {why}; state it (passes when: {})",
                rule.requirement()
            ),
            evidence.clone(),
        )
    };
    if section == "network" {
        return stated("sections [network] and [authentication] are absent, and agent access restrictions hold for every health-enabled tenant".into());
    }
    if EVERY_TENANT_SECTIONS.contains(&section) {
        return stated(format!(
            "section [{section}] is absent, and this rule holds for every health-enabled tenant"
        ));
    }
    if section == "hipaa" || section == "hds" {
        let regime = config.regime().map(|r| r.to_string()).unwrap_or_default();
        return stated(format!(
            "the tenant is under {} (tenant.regime = \"{regime}\") but section [{section}] is absent",
            section.to_uppercase()
        ));
    }
    match Product::of_section(section) {
        Some(p) if config.listed_products().contains(&p) => stated(format!(
            "tenant.products lists `{p}` but section [{section}] is absent"
        )),
        _ => (
            Status::NotApplicable,
            format!(
                "product not used: section [{section}] absent and not listed in tenant.products"
            ),
            evidence,
        ),
    }
}

fn products_in_use(config: &Config) -> Vec<ProductUse> {
    Product::ALL
        .into_iter()
        .map(|p| {
            let listed = config.listed_products().contains(&p);
            let present = config.has_section(p.section());
            let why = match (listed, present) {
                (true, true) => format!(
                    "listed in tenant.products; section [{}] present",
                    p.section()
                ),
                (true, false) => format!(
                    "listed in tenant.products (section [{}] absent: its rules fail as not stated)",
                    p.section()
                ),
                (false, true) => format!("section [{}] present", p.section()),
                (false, false) => format!(
                    "section [{}] absent and not listed in tenant.products",
                    p.section()
                ),
            };
            ProductUse {
                product: p,
                in_use: listed || present,
                why,
            }
        })
        .collect()
}

fn regime_use(config: &Config, version: &CatalogVersion) -> RegimeUse {
    let regime = config.regime();
    let why = match (regime, version.ordinal >= V1_1) {
        (Some(r), true) => format!(
            "stated in tenant.regime: {} rules apply{}",
            match r {
                Regime::Hipaa => "the HIPAA",
                Regime::Hds => "the HDS",
                Regime::Both => "the HIPAA and HDS",
            },
            match r {
                Regime::Hipaa => ", the HDS rule does not",
                Regime::Hds => ", the HIPAA rules do not",
                Regime::Both => "",
            }
        ),
        (None, true) => {
            "not stated (tenant.regime): the HIPAA and HDS rules cannot be decided".into()
        }
        (_, false) => format!(
            "catalog {}: the HIPAA and HDS rules apply when their sections are present",
            version.version
        ),
    };
    RegimeUse { regime, why }
}

/// Whether the organisation states `parameters.<name>` itself.
fn parameter_set(config: &Config, name: &str) -> bool {
    config
        .parameters
        .as_ref()
        .and_then(|p| serde_json::to_value(p).ok())
        .is_some_and(|v| v.get(name).is_some_and(|v| !v.is_null()))
}

pub(crate) fn evaluate_with(
    config: &Config,
    params: &Parameters,
    waivers: &Waivers,
    run_on: NaiveDate,
    catalog: &'static CatalogVersion,
    partial: bool,
) -> Report {
    let today = config.as_of().map_or(run_on, |d| d.naive());
    let cx = Ctx {
        config,
        params,
        today,
        version: catalog.ordinal,
    };
    let findings = catalog
        .rules()
        .map(|rule| {
            let (mut evaluated, mut message, mut evidence) = match rule.run(&cx) {
                Ok(o) => {
                    let out = (o.status, o.message, o.evidence);
                    match o.absent {
                        Some(section) => absence(rule, section, config, catalog, partial, out),
                        None => out,
                    }
                }
                Err(u) => (
                    Status::Error,
                    format!("cannot decide: {}", u.reason),
                    u.evidence,
                ),
            };
            if rule.is_note_in(catalog)
                && matches!(evaluated, Status::Pass | Status::Fail | Status::Error)
            {
                // A note never passes or fails.
                message = format!("information: {message}");
                evaluated = Status::Info;
            }
            let recommendation = rule.dsr_recommendation().and_then(|d| {
                let own = d.parameter.is_some_and(|p| parameter_set(config, p));
                let decided = matches!(evaluated, Status::Pass | Status::Fail | Status::Error);
                (decided && !own).then(|| {
                    if let Some(p) = d.parameter {
                        evidence.push(Evidence {
                            key: format!("parameters.{p}"),
                            value: "(dsr default)".into(),
                        });
                    }
                    format!(
                        "dsr recommendation, not a requirement of the source: {} — {}",
                        d.what, d.reason
                    )
                })
            });
            let mut f = apply_waiver(
                rule,
                evaluated,
                message,
                evidence,
                waivers.for_rule(rule.id()),
                today,
            );
            f.recommendation = recommendation;
            f
        })
        .collect();
    Report {
        tenant: config.tenant_name().map(str::to_owned),
        as_of: today,
        run_on,
        as_of_from_config: config.as_of().is_some(),
        catalog,
        regime: regime_use(config, catalog),
        products: products_in_use(config),
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
            recommendation: None,
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
        recommendation: None,
    }
}
