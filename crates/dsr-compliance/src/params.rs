//! Rule parameters: the sources' numeric limits, which an organisation may tighten.
//!
//! Loosening a limit beyond the source's value is a configuration error, not a
//! reported override: a looser limit would turn a source's failure into a pass without
//! anyone accepting responsibility for it. Someone who wants to forgo a limit records a
//! waiver for the rule instead, which is visible in every report.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Source value: idle timeout at most 15 minutes (Z-SUP-6, H-5).
pub const SOURCE_IDLE_TIMEOUT_MAX_MINUTES: u32 = 15;
/// Source value: the platform accepts idle timeouts down to 5 minutes (H-5).
pub const SOURCE_IDLE_TIMEOUT_MIN_MINUTES: u32 = 5;
/// Source value: screen lock at most 15 minutes (Z-SUP-6, Z-MOB-1, H-6).
pub const SOURCE_SCREEN_LOCK_MAX_MINUTES: u32 = 15;
/// Source value: JWT `exp` at most 15 minutes (Z-MSG-5, Z-SUN-4).
pub const SOURCE_JWT_EXP_MAX_MINUTES: u32 = 15;
/// Our default for credential rotation. The source asks for rotation "per the
/// organisation's policy" and since 2023-04-13 names no period; 90 days is the default
/// here and 365 days the loosest accepted value.
pub const DEFAULT_CREDENTIAL_MAX_AGE_DAYS: u32 = 90;
/// The loosest credential rotation period accepted (a policy must rotate at least yearly).
pub const LOOSEST_CREDENTIAL_MAX_AGE_DAYS: u32 = 365;

/// The `[parameters]` table: every key optional; absent keys keep the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ParameterOverrides {
    /// Longest accepted idle timeout, minutes (1–15, default 15).
    pub idle_timeout_max_minutes: Option<u32>,
    /// Shortest idle timeout the platform accepts, minutes (1–max, default 5).
    pub idle_timeout_min_minutes: Option<u32>,
    /// Longest accepted workstation and mobile screen lock, minutes (1–15, default 15).
    pub screen_lock_max_minutes: Option<u32>,
    /// Longest accepted JWT `exp`, minutes (1–15, default 15).
    pub jwt_exp_max_minutes: Option<u32>,
    /// Longest accepted age of an API token since creation or rotation, days
    /// (1–365, default 90).
    pub api_token_max_age_days: Option<u32>,
    /// Longest accepted age of a JWT signing key since creation or rotation, days
    /// (1–365, default 90).
    pub jwt_key_max_age_days: Option<u32>,
    /// Regions accepted for HIPAA, a subset of the US East / US West family
    /// (default: any `us-east*` or `us-west*` region).
    pub hipaa_regions: Option<Vec<String>>,
}

/// Validated parameters. Construct with [`Parameters::default`] (the sources' values)
/// or [`Parameters::from_overrides`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parameters {
    idle_timeout_max_minutes: u32,
    idle_timeout_min_minutes: u32,
    screen_lock_max_minutes: u32,
    jwt_exp_max_minutes: u32,
    api_token_max_age_days: u32,
    jwt_key_max_age_days: u32,
    hipaa_regions: Vec<String>,
}

impl Default for Parameters {
    fn default() -> Self {
        Parameters {
            idle_timeout_max_minutes: SOURCE_IDLE_TIMEOUT_MAX_MINUTES,
            idle_timeout_min_minutes: SOURCE_IDLE_TIMEOUT_MIN_MINUTES,
            screen_lock_max_minutes: SOURCE_SCREEN_LOCK_MAX_MINUTES,
            jwt_exp_max_minutes: SOURCE_JWT_EXP_MAX_MINUTES,
            api_token_max_age_days: DEFAULT_CREDENTIAL_MAX_AGE_DAYS,
            jwt_key_max_age_days: DEFAULT_CREDENTIAL_MAX_AGE_DAYS,
            hipaa_regions: Vec::new(),
        }
    }
}

fn bounded(
    key: &str,
    value: Option<u32>,
    default: u32,
    min: u32,
    max: u32,
    what: &str,
) -> Result<u32> {
    let Some(v) = value else { return Ok(default) };
    if v > max {
        return Err(Error::invalid(
            format!("parameters.{key}"),
            format!(
                "{v} loosens the limit of {max} {what}; only {min} to {max} is accepted (tighten, or record a waiver for the rule)"
            ),
        ));
    }
    if v < min {
        return Err(Error::invalid(
            format!("parameters.{key}"),
            format!("{v} is below {min}; {min} to {max} {what} is accepted"),
        ));
    }
    Ok(v)
}

impl Parameters {
    /// Applies the `[parameters]` overrides to the sources' values. A value that
    /// loosens a source's limit (or is out of range) is an error naming the key.
    pub fn from_overrides(o: Option<&ParameterOverrides>) -> Result<Parameters> {
        let Some(o) = o else {
            return Ok(Parameters::default());
        };
        let d = Parameters::default();
        let idle_max = bounded(
            "idle_timeout_max_minutes",
            o.idle_timeout_max_minutes,
            d.idle_timeout_max_minutes,
            1,
            SOURCE_IDLE_TIMEOUT_MAX_MINUTES,
            "minutes",
        )?;
        let idle_min = bounded(
            "idle_timeout_min_minutes",
            o.idle_timeout_min_minutes,
            d.idle_timeout_min_minutes,
            1,
            idle_max,
            "minutes (at most idle_timeout_max_minutes)",
        )?;
        if idle_min > idle_max {
            return Err(Error::invalid(
                "parameters.idle_timeout_min_minutes",
                format!(
                    "the default of {idle_min} minutes exceeds idle_timeout_max_minutes ({idle_max}), so no timeout could pass; set idle_timeout_min_minutes to at most {idle_max}"
                ),
            ));
        }
        let screen = bounded(
            "screen_lock_max_minutes",
            o.screen_lock_max_minutes,
            d.screen_lock_max_minutes,
            1,
            SOURCE_SCREEN_LOCK_MAX_MINUTES,
            "minutes",
        )?;
        let jwt_exp = bounded(
            "jwt_exp_max_minutes",
            o.jwt_exp_max_minutes,
            d.jwt_exp_max_minutes,
            1,
            SOURCE_JWT_EXP_MAX_MINUTES,
            "minutes",
        )?;
        let token_age = bounded(
            "api_token_max_age_days",
            o.api_token_max_age_days,
            d.api_token_max_age_days,
            1,
            LOOSEST_CREDENTIAL_MAX_AGE_DAYS,
            "days",
        )?;
        let key_age = bounded(
            "jwt_key_max_age_days",
            o.jwt_key_max_age_days,
            d.jwt_key_max_age_days,
            1,
            LOOSEST_CREDENTIAL_MAX_AGE_DAYS,
            "days",
        )?;
        let mut regions = Vec::new();
        if let Some(list) = &o.hipaa_regions {
            if list.is_empty() {
                return Err(Error::invalid(
                    "parameters.hipaa_regions",
                    "an empty list would accept no region; leave the key out to accept any US East / US West region",
                ));
            }
            for (i, r) in list.iter().enumerate() {
                let n = normalize_region(r);
                if !is_hipaa_region_family(&n) {
                    return Err(Error::invalid(
                        format!("parameters.hipaa_regions[{i}]"),
                        format!(
                            "`{r}` loosens the source: HIPAA is offered only in US East and US West regions (e.g. us-east-1, us-west-2)"
                        ),
                    ));
                }
                regions.push(n);
            }
        }
        Ok(Parameters {
            idle_timeout_max_minutes: idle_max,
            idle_timeout_min_minutes: idle_min,
            screen_lock_max_minutes: screen,
            jwt_exp_max_minutes: jwt_exp,
            api_token_max_age_days: token_age,
            jwt_key_max_age_days: key_age,
            hipaa_regions: regions,
        })
    }

    /// Longest accepted idle timeout, minutes.
    pub fn idle_timeout_max_minutes(&self) -> u32 {
        self.idle_timeout_max_minutes
    }
    /// Shortest accepted idle timeout, minutes.
    pub fn idle_timeout_min_minutes(&self) -> u32 {
        self.idle_timeout_min_minutes
    }
    /// Longest accepted screen lock, minutes.
    pub fn screen_lock_max_minutes(&self) -> u32 {
        self.screen_lock_max_minutes
    }
    /// Longest accepted JWT `exp`, minutes.
    pub fn jwt_exp_max_minutes(&self) -> u32 {
        self.jwt_exp_max_minutes
    }
    /// Longest accepted API token age, days.
    pub fn api_token_max_age_days(&self) -> u32 {
        self.api_token_max_age_days
    }
    /// Longest accepted JWT key age, days.
    pub fn jwt_key_max_age_days(&self) -> u32 {
        self.jwt_key_max_age_days
    }
    /// Regions accepted for HIPAA (normalized); empty = the whole US East / West family.
    pub fn hipaa_regions(&self) -> &[String] {
        &self.hipaa_regions
    }
}

/// Lower case, `_` and spaces as `-`: "US East 1" → "us-east-1".
pub(crate) fn normalize_region(r: &str) -> String {
    r.trim()
        .to_lowercase()
        .split(|c: char| c == '_' || c.is_whitespace() || c == '-')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// US East or US West (H-4): `us-east`, `us-east-1`, `us-west-2`, …
pub(crate) fn is_hipaa_region_family(normalized: &str) -> bool {
    ["us-east", "us-west"].iter().any(|f| {
        normalized == *f
            || normalized
                .strip_prefix(f)
                .is_some_and(|rest| rest.starts_with('-'))
    })
}
