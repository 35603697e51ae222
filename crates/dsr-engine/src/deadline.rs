//! Deadlines (G-15, GDPR art. 12(3)): pure date arithmetic.
//!
//! Every request has a *legal deadline* (one calendar month from receipt, extendable by
//! at most two further months with a recorded reason) and a *due date* (the
//! organisation's service target for the request type, e.g. export in 2 days, erasure in
//! 14 days; by default the legal deadline). Unfinished requests past either are overdue.

use chrono::{DateTime, Duration, Months, Utc};
use dsr_model::RequestType;
use serde::{Deserialize, Serialize};

/// Service targets per request type, in days (`None`: the legal deadline).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Access (art. 15).
    pub export: Option<u32>,
    /// Rectification (art. 16).
    pub update: Option<u32>,
    /// Erasure (art. 17).
    pub delete: Option<u32>,
    /// Portability (art. 20).
    pub portability: Option<u32>,
}

impl Targets {
    /// The recommended targets of G-15: access and portability in 2 days, erasure in 14.
    pub fn recommended() -> Self {
        Targets {
            export: Some(2),
            update: None,
            delete: Some(14),
            portability: Some(2),
        }
    }
    /// The target for a type.
    pub fn days(&self, ty: RequestType) -> Option<u32> {
        match ty {
            RequestType::Export => self.export,
            RequestType::Update => self.update,
            RequestType::Delete => self.delete,
            RequestType::Portability => self.portability,
        }
    }
}

/// Most days an extension may add in total: two months, counted as 61 days at most and
/// never beyond three calendar months after receipt.
pub const MAX_EXTENSION_MONTHS: u32 = 2;

/// The legal deadline: one calendar month after receipt (end of month clamps: 31 Jan →
/// 28/29 Feb).
pub fn legal_deadline(received: DateTime<Utc>) -> DateTime<Utc> {
    received
        .checked_add_months(Months::new(1))
        .or_else(|| received.checked_add_signed(Duration::days(31)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The due date for a type: the service target, never later than the legal deadline.
pub fn due_date(received: DateTime<Utc>, ty: RequestType, targets: &Targets) -> DateTime<Utc> {
    let legal = legal_deadline(received);
    match targets.days(ty) {
        Some(d) => received
            .checked_add_signed(Duration::days(i64::from(d)))
            .map_or(legal, |due| due.min(legal)),
        None => legal,
    }
}

/// Applies an extension of `days` to a legal deadline; refuses one that would reach past
/// three months after receipt (one month plus two extension months) or lacks a reason.
pub fn extend(
    received: DateTime<Utc>,
    current: DateTime<Utc>,
    days: u32,
    reason: &str,
) -> crate::Result<DateTime<Utc>> {
    if reason.trim().is_empty() {
        return Err(crate::Error::ReasonRequired(
            "an extension needs a reason (art. 12(3): the subject is told why)".into(),
        ));
    }
    if days == 0 {
        return Err(crate::Error::Invalid("--days must be at least 1".into()));
    }
    let limit = received
        .checked_add_months(Months::new(1 + MAX_EXTENSION_MONTHS))
        .or_else(|| received.checked_add_signed(Duration::days(92)))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let next = current.checked_add_signed(Duration::days(i64::from(days)));
    let Some(next) = next.filter(|n| *n <= limit) else {
        return Err(crate::Error::ExtensionLimit {
            limit,
            days_left: u64::try_from((limit - current).num_days()).unwrap_or(0),
        });
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn one_calendar_month_clamped_at_month_end() {
        assert_eq!(legal_deadline(at(2026, 3, 15)), at(2026, 4, 15));
        assert_eq!(legal_deadline(at(2026, 1, 31)), at(2026, 2, 28));
    }

    #[test]
    fn targets_shorten_but_never_lengthen() {
        let t = Targets::recommended();
        let r = at(2026, 3, 1);
        assert_eq!(due_date(r, RequestType::Export, &t), at(2026, 3, 3));
        assert_eq!(due_date(r, RequestType::Delete, &t), at(2026, 3, 15));
        assert_eq!(due_date(r, RequestType::Update, &t), at(2026, 4, 1));
        let long = Targets {
            delete: Some(90),
            ..Targets::default()
        };
        assert_eq!(due_date(r, RequestType::Delete, &long), at(2026, 4, 1));
    }

    #[test]
    fn extensions_up_to_two_months_with_a_reason() {
        let r = at(2026, 3, 1);
        let legal = legal_deadline(r);
        assert!(matches!(
            extend(r, legal, 30, ""),
            Err(crate::Error::ReasonRequired(m)) if m.contains("reason")
        ));
        let once = extend(r, legal, 30, "complex request").unwrap();
        assert_eq!(once, at(2026, 5, 1));
        let twice = extend(r, once, 31, "many services").unwrap();
        assert_eq!(twice, at(2026, 6, 1));
        let err = extend(r, twice, 1, "more").unwrap_err();
        assert!(matches!(
            err,
            crate::Error::ExtensionLimit { days_left: 0, .. }
        ));
        let err = err.to_string();
        assert!(
            err.contains("at most two months") && err.contains("0 day"),
            "{err}"
        );
    }

    #[test]
    fn absurd_numbers_of_days_are_refused_not_a_panic() {
        let r = at(2026, 3, 1);
        let err = extend(r, legal_deadline(r), u32::MAX, "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most two months"), "{err}");
        let huge = Targets {
            delete: Some(u32::MAX),
            ..Targets::default()
        };
        assert_eq!(due_date(r, RequestType::Delete, &huge), legal_deadline(r));
        let end = DateTime::<Utc>::MAX_UTC;
        assert!(extend(end, end, 1, "x").is_err());
        assert_eq!(
            legal_deadline(end),
            end,
            "clamped at the end of time, no panic"
        );
    }
}
