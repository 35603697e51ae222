//! Dogfooding: the engine's server settings are checked by the same rules.

use super::*;
use dsr_compliance::{ParameterOverrides, ServerSettings, Status};
use std::time::Duration;

fn blocking(s: &ServerSettings) -> Vec<&'static str> {
    s.check(today())
        .unwrap()
        .blocking()
        .map(|f| f.rule.id())
        .collect()
}

#[test]
fn default_server_settings_pass_and_only_server_rules_apply() {
    let r = ServerSettings::default().check(today()).unwrap();
    assert!(r.passed());
    let applicable: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.status != Status::NotApplicable)
        .map(|f| f.rule.id())
        .collect();
    assert_eq!(
        applicable,
        [
            "transport.tls",
            "api.password-access",
            "sessions.idle-timeout",
            "sessions.api-client-idle-timeout",
            "sessions.access-token-lifetime"
        ]
    );
    assert!(
        applicable
            .iter()
            .all(|id| r.finding(id).unwrap().status == Status::Pass)
    );
}

#[test]
fn non_compliant_server_settings_are_refused() {
    let bad = ServerSettings {
        idle_timeout: Duration::from_secs(30 * 60),
        token_lifetime: Duration::from_secs(3600),
        tls: false,
        idle_timeout_applies_to_api_clients: false,
        password_auth: true,
        parameters: None,
    };
    assert_eq!(
        blocking(&bad),
        [
            "transport.tls",
            "api.password-access",
            "sessions.idle-timeout",
            "sessions.api-client-idle-timeout",
            "sessions.access-token-lifetime"
        ]
    );
    // Fifteen minutes and one second is more than fifteen minutes.
    let s = ServerSettings {
        idle_timeout: Duration::from_secs(15 * 60 + 1),
        ..ServerSettings::default()
    };
    assert_eq!(blocking(&s), ["sessions.idle-timeout"]);
    // Below the platform minimum of 5 minutes.
    let s = ServerSettings {
        idle_timeout: Duration::from_secs(60),
        token_lifetime: Duration::from_secs(60),
        ..ServerSettings::default()
    };
    assert_eq!(blocking(&s), ["sessions.idle-timeout"]);
}

#[test]
fn the_organisation_can_tighten_the_server_limits() {
    let mut p = ParameterOverrides::default();
    p.idle_timeout_max_minutes = Some(10);
    let s = ServerSettings {
        parameters: Some(p),
        ..ServerSettings::default()
    };
    assert_eq!(
        blocking(&s),
        ["sessions.idle-timeout", "sessions.access-token-lifetime"]
    );
    let mut loose = ParameterOverrides::default();
    loose.idle_timeout_max_minutes = Some(60);
    let s = ServerSettings {
        parameters: Some(loose),
        ..ServerSettings::default()
    };
    assert_eq!(
        s.check(today()).unwrap_err().path(),
        Some("parameters.idle_timeout_max_minutes")
    );
}
