//! Policy: what holds a request for a decision (G-16) and what an erasure must keep
//! (art. 17(3) exceptions, legal holds). Pure.

use crate::service::{Category, KeepRule};
use dsr_model::{RequestType, Subject};
use serde::{Deserialize, Serialize};

/// An art. 17(3) exception: a service keeps a data category, on a stated ground.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// The service.
    pub service: String,
    /// The category kept.
    pub category: Category,
    /// The ground (e.g. "art. 17(3)(b): invoices kept 10 years, Code de commerce L123-22").
    pub ground: String,
}

/// A legal hold: nothing about the subject is erased anywhere while it lasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalHold {
    /// The subject id.
    pub subject: String,
    /// The ground (e.g. "litigation hold, case 2026-17").
    pub ground: String,
}

/// The policy of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Hold erasures of active employees for a decision (G-16). Default: true.
    pub hold_active_employees: bool,
    /// Art. 17(3) exceptions.
    pub retention: Vec<Retention>,
    /// Legal holds.
    pub legal_hold: Vec<LegalHold>,
    /// Hold corrections the data subject asked for themselves (the portal) until the
    /// organisation reviews them (art. 16: the organisation checks the new value is
    /// accurate before it writes it everywhere). Default: false.
    pub review_self_service_updates: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            hold_active_employees: true,
            retention: Vec::new(),
            legal_hold: Vec::new(),
            review_self_service_updates: false,
        }
    }
}

impl Policy {
    /// Why a request the data subject made themselves (`self_service`) or an operator
    /// made must wait for a decision, if it must.
    pub fn hold_reason_for(
        &self,
        ty: RequestType,
        subject: &Subject,
        self_service: bool,
    ) -> Option<String> {
        self.hold_reason(ty, subject).or_else(|| {
            (self_service && ty == RequestType::Update && self.review_self_service_updates)
                .then(|| {
                    "the data subject asked for this correction through the portal; the tenant reviews self-service corrections before they run (policy.review_self_service_updates). Decide: proceed once the new values are checked, or refuse with the reason".to_owned()
                })
        })
    }

    /// Why a request must wait for a decision, if it must.
    pub fn hold_reason(&self, ty: RequestType, subject: &Subject) -> Option<String> {
        (self.hold_active_employees && ty == RequestType::Delete && subject.is_active_employee())
            .then(|| {
                format!(
                    "{} is an active employee; erasing their data is not recommended (legitimate interests, records other regulations require). Decide: proceed with a recorded justification, or refuse citing the legal ground",
                    subject.id
                )
            })
    }

    /// What a service must keep when erasing a subject's data.
    pub fn keep_rules(&self, service: &str, subject: &Subject) -> Vec<KeepRule> {
        let mut out: Vec<KeepRule> = self
            .legal_hold
            .iter()
            .filter(|h| h.subject == subject.id.as_str())
            .map(|h| KeepRule {
                category: None,
                ground: format!("legal hold: {}", h.ground),
            })
            .collect();
        out.extend(
            self.retention
                .iter()
                .filter(|r| r.service == service)
                .map(|r| KeepRule {
                    category: Some(r.category),
                    ground: r.ground.clone(),
                }),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dsr_model::{Employment, SubjectId, SubjectKind};

    fn user(employment: Employment) -> Subject {
        let mut s = Subject::new(SubjectKind::User, SubjectId::new("u-1").unwrap());
        s.employment = Some(employment);
        s
    }

    #[test]
    fn only_erasing_an_active_employee_is_held() {
        let p = Policy::default();
        assert!(
            p.hold_reason(RequestType::Delete, &user(Employment::Active))
                .is_some()
        );
        assert!(
            p.hold_reason(RequestType::Export, &user(Employment::Active))
                .is_none()
        );
        assert!(
            p.hold_reason(RequestType::Delete, &user(Employment::Former))
                .is_none()
        );
        let off = Policy {
            hold_active_employees: false,
            ..Policy::default()
        };
        assert!(
            off.hold_reason(RequestType::Delete, &user(Employment::Active))
                .is_none()
        );
    }

    #[test]
    fn self_service_corrections_wait_for_review_only_when_the_tenant_wants() {
        let s = user(Employment::Former);
        let p = Policy::default();
        assert!(p.hold_reason_for(RequestType::Update, &s, true).is_none());
        let review = Policy {
            review_self_service_updates: true,
            ..Policy::default()
        };
        assert!(
            review
                .hold_reason_for(RequestType::Update, &s, true)
                .is_some()
        );
        // An operator's correction, or another type, is not held by this rule.
        assert!(
            review
                .hold_reason_for(RequestType::Update, &s, false)
                .is_none()
        );
        assert!(
            review
                .hold_reason_for(RequestType::Export, &s, true)
                .is_none()
        );
        // The employee rule still applies to a self-service erasure.
        assert!(
            review
                .hold_reason_for(RequestType::Delete, &user(Employment::Active), true)
                .is_some()
        );
    }

    #[test]
    fn keep_rules_combine_legal_holds_and_retention() {
        let p = Policy {
            retention: vec![Retention {
                service: "billing".into(),
                category: Category::Transactional,
                ground: "art. 17(3)(b)".into(),
            }],
            legal_hold: vec![LegalHold {
                subject: "u-1".into(),
                ground: "case 17".into(),
            }],
            ..Policy::default()
        };
        let s = user(Employment::Former);
        let rules = p.keep_rules("billing", &s);
        assert_eq!(rules.len(), 2);
        assert!(
            rules[0].keeps(Category::Traces),
            "a legal hold keeps everything"
        );
        assert!(rules[1].keeps(Category::Transactional));
        assert!(!rules[1].keeps(Category::Traces));
        assert_eq!(p.keep_rules("crm", &s).len(), 1);
    }
}
