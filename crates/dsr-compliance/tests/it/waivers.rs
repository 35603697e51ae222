//! Waivers: recorded, validated, applied, and expiring.

use super::*;
use dsr_compliance::{Error, Expiry, Status, WaiverState};

fn waivers(text: &str) -> Result<Waivers, Error> {
    Waivers::from_toml(text)
}

/// SMS used for messages without the no-PHI attestation; `tenant.as_of` removed so the
/// evaluation date of each test decides waiver expiry.
const SMS_FAILS: &[Edit] = &[
    Set("sms.two_factor_only", "false"),
    Set("sms.phi_excluded", "false"),
    Del("tenant.as_of"),
];

fn with(text: &str, edits: &[Edit]) -> Report {
    let config = Config::from_toml(&edited(COMPLIANT, edits)).unwrap();
    evaluate(&config, &waivers(text).unwrap(), today()).unwrap()
}

const SMS_WAIVER: &str = r#"
[[waiver]]
rule = "sms.no-phi"
justification = "Reminders only"
accepted_by = "Jane Roe, CISO"
accepted_at = 2026-01-10
expires = 2027-01-10
"#;

#[test]
fn a_valid_waiver_reports_the_failing_rule_as_waived() {
    let r = with(SMS_WAIVER, SMS_FAILS);
    assert_outcomes(&r, &[], &[("sms.no-phi", Status::Waived)]);
    let f = r.finding("sms.no-phi").unwrap();
    assert_eq!(f.evaluated, Status::Fail, "the rule is still evaluated");
    assert_eq!(f.waiver.as_ref().unwrap().state, WaiverState::Applied);
    assert_eq!(
        f.message,
        "waived by Jane Roe, CISO on 2026-01-10 (expires 2027-01-10): SMS is used for messages and not attested free of PHI: it is not a HIPAA-compliant transport"
    );
    assert!(r.passed(), "a waived rule does not stop the gate");
}

#[test]
fn an_expired_waiver_is_a_failure_again() {
    // The waiver is in force until the day before `expires`.
    let config = Config::from_toml(&edited(COMPLIANT, SMS_FAILS)).unwrap();
    let w = waivers(SMS_WAIVER).unwrap();
    let on = |d: &str| evaluate(&config, &w, date(d)).unwrap();
    let last_day = on("2027-01-09");
    assert_eq!(
        last_day.finding("sms.no-phi").unwrap().status,
        Status::Waived
    );
    let expired = on("2027-01-10");
    let f = expired.finding("sms.no-phi").unwrap();
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.waiver.as_ref().unwrap().state, WaiverState::Expired);
    assert!(
        f.message
            .starts_with("waiver accepted by Jane Roe, CISO expired on 2027-01-10; "),
        "{}",
        f.message
    );
    assert_eq!(
        f.evidence.last().unwrap().to_string(),
        "waiver[0].expires = 2027-01-10"
    );
    assert!(!expired.passed());
}

#[test]
fn a_waiver_dated_after_the_evaluation_is_not_yet_in_force() {
    let config = Config::from_toml(&edited(COMPLIANT, SMS_FAILS)).unwrap();
    let r = evaluate(&config, &waivers(SMS_WAIVER).unwrap(), date("2026-01-09")).unwrap();
    let f = r.finding("sms.no-phi").unwrap();
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.waiver.as_ref().unwrap().state, WaiverState::NotYetInForce);
}

#[test]
fn a_waiver_for_a_passing_rule_is_not_needed() {
    let r = with(SMS_WAIVER, &[]);
    let f = r.finding("sms.no-phi").unwrap();
    assert_eq!(f.status, Status::Pass);
    assert_eq!(f.waiver.as_ref().unwrap().state, WaiverState::NotNeeded);
}

#[test]
fn a_waiver_also_covers_an_undecidable_rule() {
    let r = with(
        SMS_WAIVER,
        &[Del("sms.two_factor_only"), Set("sms.enabled", "true")],
    );
    let f = r.finding("sms.no-phi").unwrap();
    assert_eq!((f.status, f.evaluated), (Status::Waived, Status::Error));
}

#[test]
fn permanent_waivers_never_expire() {
    let w = waivers("[[waiver]]\nrule = \"sms.no-phi\"\njustification = \"x\"\naccepted_by = \"y\"\naccepted_at = 2020-01-01\npermanent = true\n").unwrap();
    assert_eq!(w.for_rule("sms.no-phi").unwrap().expiry, Expiry::Permanent);
    let config = Config::from_toml(&edited(COMPLIANT, SMS_FAILS)).unwrap();
    let r = evaluate(&config, &w, date("2099-12-31")).unwrap();
    assert_eq!(r.finding("sms.no-phi").unwrap().status, Status::Waived);
}

#[test]
fn a_waiver_for_an_unknown_rule_is_an_error() {
    let err = waivers("[[waiver]]\nrule = \"sms.no-phy\"\njustification = \"x\"\naccepted_by = \"y\"\naccepted_at = 2026-01-01\npermanent = true\n").unwrap_err();
    assert_eq!(err.path(), Some("waiver[0].rule"));
    assert_eq!(
        err.to_string(),
        "waiver[0].rule: unknown rule id `sms.no-phy` (did you mean `sms.no-phi`?); `dsr compliance rules` lists the catalog"
    );
}

fn one(fields: &str) -> Error {
    waivers(&format!("[[waiver]]\nrule = \"sms.no-phi\"\n{fields}")).unwrap_err()
}

#[test]
fn validation_errors_name_the_waiver_and_the_field() {
    let e = one("accepted_by = \"y\"\naccepted_at = 2026-01-01\npermanent = true\n");
    assert_eq!(
        e.to_string(),
        "waiver[0].justification: required: say why the subscriber forgoes this configuration and accepts responsibility"
    );
    let e = one(
        "justification = \"  \"\naccepted_by = \"y\"\naccepted_at = 2026-01-01\npermanent = true\n",
    );
    assert_eq!(e.path(), Some("waiver[0].justification"));
    assert!(e.to_string().contains("must not be blank"));
    let e = one("justification = \"x\"\naccepted_at = 2026-01-01\npermanent = true\n");
    assert_eq!(e.path(), Some("waiver[0].accepted_by"));
    let e = one("justification = \"x\"\naccepted_by = \"y\"\npermanent = true\n");
    assert_eq!(e.path(), Some("waiver[0].accepted_at"));
    let e = one("justification = \"x\"\naccepted_by = \"y\"\naccepted_at = 2026-01-01\n");
    assert_eq!(
        e.to_string(),
        "waiver[0].expires: required unless `permanent = true`: the date the waiver stops applying (YYYY-MM-DD)"
    );
    let e = one(
        "justification = \"x\"\naccepted_by = \"y\"\naccepted_at = 2026-01-01\npermanent = false\n",
    );
    assert_eq!(e.path(), Some("waiver[0].expires"));
    let e = one(
        "justification = \"x\"\naccepted_by = \"y\"\naccepted_at = 2026-01-01\nexpires = 2027-01-01\npermanent = true\n",
    );
    assert_eq!(e.path(), Some("waiver[0].permanent"));
    let e = one(
        "justification = \"x\"\naccepted_by = \"y\"\naccepted_at = 2026-01-01\nexpires = 2026-01-01\n",
    );
    assert_eq!(
        e.to_string(),
        "waiver[0].expires: 2026-01-01 is not after accepted_at (2026-01-01)"
    );
    let e = one(
        "justification = \"x\"\naccepted_by = \"y\"\naccepted_at = 2026-01-01\npermanent = true\napproved = true\n",
    );
    assert_eq!(e.path(), Some("waiver[0].approved"));
    let e = waivers("[[waiver]]\njustification = \"x\"\n").unwrap_err();
    assert_eq!(e.path(), Some("waiver[0].rule"));
}

#[test]
fn one_waiver_per_rule() {
    let text = format!("{SMS_WAIVER}{SMS_WAIVER}");
    let e = waivers(&text).unwrap_err();
    assert_eq!(
        e.to_string(),
        "waiver[1].rule: `sms.no-phi` is already waived by waiver[0]; keep one waiver per rule"
    );
}

#[test]
fn json_waiver_files_are_accepted() {
    let w = Waivers::parse(r#"{"waiver": [{"rule": "sms.no-phi", "justification": "x", "accepted_by": "y", "accepted_at": "2026-01-10", "expires": "2027-01-10"}]}"#).unwrap();
    assert_eq!(w.len(), 1);
    let e = Waivers::from_json(r#"{"waiver": [{"rule": "sms.no-phi", "accepted_at": 5}]}"#)
        .unwrap_err();
    assert_eq!(e.path(), Some("waiver[0].accepted_at"));
}

#[test]
fn the_example_waivers_apply_to_the_mistakes_example() {
    let w = waivers(WAIVERS).unwrap();
    assert_eq!(w.len(), 3);
    let config = Config::from_toml(MISTAKES).unwrap();
    let r = evaluate(&config, &w, today()).unwrap();
    let state = |id: &str| r.finding(id).unwrap().waiver.as_ref().map(|u| u.state);
    assert_eq!(r.finding("sms.no-phi").unwrap().status, Status::Waived);
    assert_eq!(state("sms.no-phi"), Some(WaiverState::Applied));
    assert_eq!(
        r.finding("community.public-profiles").unwrap().status,
        Status::Waived
    );
    assert_eq!(r.finding("acd-email.no-phi").unwrap().status, Status::Fail);
    assert_eq!(state("acd-email.no-phi"), Some(WaiverState::Expired));
}
