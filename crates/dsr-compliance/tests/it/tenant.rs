//! What applies to a tenant: every-tenant rules, the regime, the products in use, the
//! catalog version, the configuration's own evaluation date, and each condition of each
//! rule.

use super::*;
use dsr_compliance::Status::{self, Error, Fail, Info, NotApplicable as NA, Pass};
use dsr_compliance::{CATALOG_VERSION, CATALOG_VERSIONS, CatalogVersion, evaluate_catalog};

fn version(v: &str) -> &'static CatalogVersion {
    CatalogVersion::find(v).unwrap()
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[test]
fn an_empty_configuration_fails_saying_what_is_missing() {
    let report = report_of("");
    assert!(!report.passed());
    for r in rules() {
        let f = report.finding(r.id()).unwrap();
        let section = r.area().section();
        let want = if r.is_note() {
            Info
        } else if EVERY_TENANT_SECTIONS.contains(&section) {
            Fail
        } else if section == "hipaa" || section == "hds" {
            Error
        } else {
            NA
        };
        assert_eq!(f.status, want, "{}: {}", r.id(), f.message);
    }
    let tls = report.finding("transport.tls").unwrap();
    assert_eq!(
        tls.message,
        "not stated: section [transport] is absent, and this rule holds for every health-enabled tenant; state it (passes when: `tls_enforced = true`.)"
    );
    assert_eq!(tls.evidence[0].to_string(), "transport = (absent)");
    let baa = report.finding("hipaa.baa-before-toggle").unwrap();
    assert!(
        baa.message.starts_with(
            "cannot decide: `tenant.regime` is not set (state `hipaa`, `hds` or `both`"
        ),
        "{}",
        baa.message
    );
    let mobile = report.finding("mobile.screen-lock").unwrap();
    assert_eq!(
        mobile.message,
        "product not used: section [mobile] absent and not listed in tenant.products"
    );
    let s = report.summary();
    assert_eq!(s.pass, 0);
    assert_eq!((s.fail, s.error, s.info), (13, 3, 1), "{s:?}");
}

#[test]
fn a_nearly_empty_configuration_fails_too() {
    let report = report_of("[tenant]\nregime = \"hipaa\"\n\n[transport]\ntls_enforced = true\n");
    assert!(!report.passed());
    assert_eq!(report.finding("transport.tls").unwrap().status, Pass);
    for id in [
        "hipaa.baa-before-toggle",
        "hipaa.region",
        "authentication.two-factor",
        "workstations.full-disk-encryption",
        "workstations.inactivity-lock",
        "attachments.download-authentication",
        "view-permissions.agent-scope",
        "notifications.email-content",
        "network.agent-ip-restriction",
    ] {
        let f = report.finding(id).unwrap();
        assert_eq!(f.status, Fail, "{id}");
        assert!(f.message.starts_with("not stated: "), "{id}: {}", f.message);
    }
    assert_eq!(
        report
            .finding("hds.subprocessor-notifications")
            .unwrap()
            .status,
        NA
    );
}

/// Every every-tenant section, deleted from the compliant example, fails its rules as
/// "not stated" (the harness expects Fail for them).
#[test]
fn every_tenant_rules_with_their_section_missing_fail() {
    for section in EVERY_TENANT_SECTIONS {
        let edits = [Del(section)];
        let mut expected: Vec<(&str, Status)> = Vec::new();
        if *section == "network" {
            // Without an allow-list, the enforced MFA still satisfies the rule.
            expected.push(("network.agent-ip-restriction", Pass));
        }
        if *section == "authentication" {
            // No allow-list problem: the compliant example has one.
            expected.push(("network.agent-ip-restriction", Pass));
        }
        let report = check(&edits, &expected);
        for r in rules().filter(|r| r.area().section() == *section && !r.is_note()) {
            let f = report.finding(r.id()).unwrap();
            if f.status == Fail {
                assert!(
                    f.message
                        .starts_with(&format!("not stated: section [{section}] is absent")),
                    "{}: {}",
                    r.id(),
                    f.message
                );
            }
        }
    }
    // Both network and authentication absent: the IP rule fails too.
    check(
        &[Del("network"), Del("authentication")],
        &[("network.agent-ip-restriction", Fail)],
    );
}

#[test]
fn the_regime_decides_the_hipaa_and_hds_rules() {
    // An HDS-only tenant hosted in the EU: the HIPAA region and BAA rules do not apply.
    let r = check(
        &[
            Set("tenant.regime", "\"hds\""),
            Set("hipaa.region", "\"eu-west-3\""),
            Set("hipaa.baa_signed", "false"),
        ],
        &[("hipaa.baa-before-toggle", NA), ("hipaa.region", NA)],
    );
    assert_eq!(
        r.finding("hipaa.region").unwrap().message,
        "the tenant is under HDS only: HIPAA rules do not apply"
    );
    assert_eq!(
        r.regime.why,
        "stated in tenant.regime: the HDS rules apply, the HIPAA rules do not"
    );
    // HIPAA only: the HDS rule does not apply, even with [hds] absent.
    check(
        &[Set("tenant.regime", "\"hipaa\""), Del("hds")],
        &[("hds.subprocessor-notifications", NA)],
    );
    // Under a regime whose section is absent: not stated.
    let r = check(
        &[Set("tenant.regime", "\"hipaa\""), Del("hipaa")],
        &[("hds.subprocessor-notifications", NA)],
    );
    assert!(
        r.finding("hipaa.region")
            .unwrap()
            .message
            .starts_with("not stated: the tenant is under HIPAA (tenant.regime = \"hipaa\") but section [hipaa] is absent")
    );
    check(&[Del("hds")], &[("hds.subprocessor-notifications", Fail)]);
    // Not stated at all: the three rules cannot be decided.
    check(
        &[Del("tenant.regime")],
        &[
            ("hipaa.baa-before-toggle", Error),
            ("hipaa.region", Error),
            ("hds.subprocessor-notifications", Error),
        ],
    );
}

#[test]
fn products_in_use_are_reported_with_the_reason() {
    // A product listed but without its section fails as not stated.
    let r = check(
        &[Set("tenant.products", "[\"chat\"]"), Del("chat")],
        &[
            ("chat.agent-authentication", Fail),
            ("chat.no-email-transcripts", Fail),
        ],
    );
    let f = r.finding("chat.agent-authentication").unwrap();
    assert!(
        f.message
            .starts_with("not stated: tenant.products lists `chat` but section [chat] is absent"),
        "{}",
        f.message
    );
    let chat = r
        .products
        .iter()
        .find(|p| p.product.section() == "chat")
        .unwrap();
    assert!(chat.in_use);
    assert!(
        chat.why.starts_with("listed in tenant.products"),
        "{}",
        chat.why
    );
    // Not listed and absent: not used.
    let r = check(&[Del("mobile")], &[]);
    let mobile = r
        .products
        .iter()
        .find(|p| p.product.section() == "mobile")
        .unwrap();
    assert!(!mobile.in_use);
    assert_eq!(
        mobile.why,
        "section [mobile] absent and not listed in tenant.products"
    );
    let messaging = r
        .products
        .iter()
        .find(|p| p.product.section() == "messaging")
        .unwrap();
    assert_eq!(
        (messaging.in_use, messaging.why.as_str()),
        (true, "section [messaging] present")
    );
    // A product listed twice is refused.
    let err = Config::from_toml("[tenant]\nproducts = [\"chat\", \"chat\"]\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "tenant.products[1]: `chat` is listed twice"
    );
    let err = Config::from_toml("[tenant]\nproducts = [\"voice\"]\n").unwrap_err();
    assert!(
        err.to_string().starts_with(
            "tenant.products[0] (line 2): unknown variant `voice`, expected one of `api`"
        ),
        "{err}"
    );
}

#[test]
fn the_catalog_is_versioned_and_old_versions_can_be_reproduced() {
    assert_eq!(CATALOG_VERSION, "1.1.0");
    assert_eq!(CatalogVersion::current().version, CATALOG_VERSION);
    assert_eq!(CATALOG_VERSIONS.len(), 2);
    let old = version("1.0.0");
    assert_eq!(old.rules().count(), 81);
    assert_eq!(CatalogVersion::current().rules().count(), 85);
    assert!(
        CatalogVersion::find("0.9.0")
            .unwrap_err()
            .to_string()
            .contains("known: 1.0.0, 1.1.0")
    );
    // 1.0.0: an empty configuration was all "not applicable", as reported then.
    let empty = Config::from_toml("").unwrap();
    let r = evaluate_catalog(&empty, &Waivers::none(), today(), old).unwrap();
    assert_eq!(r.catalog.version, "1.0.0");
    assert!(r.findings.iter().all(|f| f.status == NA));
    assert!(r.passed());
    assert!(
        r.to_text()
            .ends_with("81 rules: 0 pass, 0 fail, 0 error, 0 waived, 81 not applicable — PASSED\n")
    );
    // 1.0.0 checks: the note was a pass/fail rule; the ACD feature itself failed.
    let config = Config::from_toml(&edited(
        COMPLIANT,
        &[Set("workstations.inactivity_lock_minutes", "0")],
    ))
    .unwrap();
    let r = evaluate_catalog(&config, &Waivers::none(), today(), old).unwrap();
    assert_eq!(
        r.finding("workstations.local-token-storage")
            .unwrap()
            .status,
        Fail
    );
    assert_eq!(r.finding("acd-email.no-phi").unwrap().status, Fail);
    assert!(r.finding("messaging.jwt-key-sharing").is_none());
    let now = evaluate(&config, &Waivers::none(), today()).unwrap();
    assert_eq!(
        now.finding("workstations.local-token-storage")
            .unwrap()
            .status,
        Info
    );
    assert_eq!(now.finding("acd-email.no-phi").unwrap().status, Pass);
    // Every report format names the version used.
    assert_eq!(r.to_json()["tool"]["catalog_version"], "1.0.0");
    let sarif = r.to_sarif(&dsr_compliance::SarifOptions::default());
    assert_eq!(sarif["runs"][0]["tool"]["driver"]["version"], "1.0.0");
    assert_eq!(
        sarif["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .len(),
        81
    );
    assert!(r.to_text().starts_with(
        "HIPAA / HDS configuration check — Example Clinic — as of 2026-11-23 — catalog 1.0.0\n"
    ));
    let sarif = now.to_sarif(&dsr_compliance::SarifOptions::default());
    assert_eq!(
        sarif["runs"][0]["tool"]["driver"]["version"],
        CATALOG_VERSION
    );
}

#[test]
fn the_change_logs_map_to_the_source_dates() {
    let j = dsr_compliance::catalog_json();
    assert_eq!(j["change_log"][1]["version"], "1.1.0");
    assert_eq!(j["change_log"][0]["rules"], 81);
    let entries = j["source_change_log"]["entries"].as_array().unwrap();
    assert_eq!(entries[0]["date"], "2025-01-24");
    // Every rule named by the source change log exists.
    for e in entries {
        for id in e["rules"].as_array().unwrap() {
            assert!(
                dsr_compliance::find_rule(id.as_str().unwrap()).is_some(),
                "{id}"
            );
        }
    }
    let widened = entries.iter().find(|e| e["date"] == "2024-03-07").unwrap();
    assert!(
        widened["rules"]
            .as_array()
            .unwrap()
            .contains(&"notifications.email-content".into())
    );
}

#[test]
fn the_examples_do_not_depend_on_the_day_the_check_runs() {
    let w = Waivers::from_toml(WAIVERS).unwrap();
    let mistakes = Config::from_toml(MISTAKES).unwrap();
    let compliant = Config::from_toml(COMPLIANT).unwrap();
    let at = |c: &Config, w: &Waivers, d: &str| evaluate(c, w, date(d)).unwrap();
    let base_m = statuses(&at(&mistakes, &w, "2026-11-23"));
    let base_c = statuses(&at(&compliant, &Waivers::none(), "2026-11-23"));
    for d in ["2026-11-24", "2027-06-30", "2031-01-01", "2099-12-31"] {
        let m = at(&mistakes, &w, d);
        assert_eq!(statuses(&m), base_m, "mistakes on {d}");
        assert_eq!(m.as_of, date("2026-11-23"));
        assert_eq!(m.run_on, date(d));
        assert!(m.to_text().contains(
            "The configuration describes the tenant as of 2026-11-23 (tenant.as_of); the check ran "
        ));
        assert_eq!(
            statuses(&at(&compliant, &Waivers::none(), d)),
            base_c,
            "compliant on {d}"
        );
    }
    // Without the stated date, the same file ages: its credentials are due.
    let undated = Config::from_toml(&edited(COMPLIANT, &[Del("tenant.as_of")])).unwrap();
    let r = at(&undated, &Waivers::none(), "2031-01-01");
    assert_eq!(r.finding("api.token-rotation").unwrap().status, Fail);
}

#[test]
fn rules_as_strict_as_their_sources() {
    // Z-SUP-8: every notification path.
    for key in [
        "notifications.email_includes_ticket_content",
        "notifications.email_channel_includes_ticket_content",
        "notifications.automations_include_ticket_content",
        "notifications.triggers_include_ticket_content",
    ] {
        let r = check(
            &[Set(key, "true")],
            &[("notifications.email-content", Fail)],
        );
        let f = r.finding("notifications.email-content").unwrap();
        assert!(
            f.message
                .starts_with("notification emails carry ticket content: "),
            "{}",
            f.message
        );
        check(&[Del(key)], &[("notifications.email-content", Error)]);
    }
    check(
        &[Set("notifications.end_user_login_required", "false")],
        &[("notifications.email-content", Fail)],
    );
    // Z-GUI-3: nothing with PHI approved.
    check(
        &[Del("community.phi_submissions_rejected")],
        &[("community.posts", Error)],
    );
    check(
        &[Set("community.moderate_all_content", "false")],
        &[("community.posts", Fail)],
    );
    check(
        &[
            Set("community.end_user_posts", "false"),
            Del("community.phi_submissions_rejected"),
        ],
        &[],
    );
    // Z-MSG-5 / Z-SUN-4: JWT keys shared without a stated channel cannot be decided.
    check(
        &[Del("messaging.jwt_keys[0].shared_end_to_end_encrypted")],
        &[("messaging.jwt-key-sharing", Error)],
    );
    check(
        &[Set(
            "conversations_api.jwt_keys[0].shared_end_to_end_encrypted",
            "false",
        )],
        &[("conversations-api.jwt-key-sharing", Fail)],
    );
    // A key rotated after the breach passes; one rotated before fails.
    check(
        &[Set(
            "messaging.jwt_keys[1].third_party_breach_on",
            "2026-09-10",
        )],
        &[],
    );
    check(
        &[Set(
            "messaging.jwt_keys[1].third_party_breach_on",
            "2026-09-11",
        )],
        &[("messaging.jwt-key-breach-rotation", Fail)],
    );
}

#[test]
fn rules_no_stricter_than_their_sources() {
    // H-2 forbids the use, not the feature: ACD email and SMS need the attestation.
    check(
        &[Del("acd_email.phi_excluded")],
        &[("acd-email.no-phi", Error)],
    );
    check(
        &[Set("acd_email.phi_excluded", "false")],
        &[("acd-email.no-phi", Fail)],
    );
    check(
        &[
            Set("acd_email.enabled", "false"),
            Del("acd_email.phi_excluded"),
        ],
        &[],
    );
    check(&[Set("sms.two_factor_only", "false")], &[]);
    check(
        &[Set("sms.two_factor_only", "false"), Del("sms.phi_excluded")],
        &[("sms.no-phi", Error)],
    );
    // H-7 is information: whatever the workstation settings, never pass, fail or error.
    for edits in [
        &[Set("workstations.inactivity_lock_minutes", "0")][..],
        &[Del("workstations.session_tokens_in_local_storage")][..],
        &[Set("workstations.session_tokens_in_local_storage", "false")][..],
    ] {
        let mut expected = vec![];
        if edits
            .iter()
            .any(|e| matches!(e, Set("workstations.inactivity_lock_minutes", _)))
        {
            expected.push(("workstations.inactivity-lock", Fail));
        }
        let r = check(edits, &expected);
        assert_eq!(
            r.finding("workstations.local-token-storage")
                .unwrap()
                .status,
            Info
        );
    }
    // dsr's own defaults are labelled as recommendations, with their reason.
    let r = report_of(COMPLIANT);
    let jwt = r.finding("messaging.jwt-signing-keys").unwrap();
    let rec = jwt.recommendation.as_deref().unwrap();
    assert!(
        rec.contains("the 90-day rotation period") && rec.contains("2023-04-13"),
        "{rec}"
    );
    assert!(r.to_text().contains("[dsr recommendation]"));
    // The organisation states its own period (compliant.toml sets api_token_max_age_days):
    // then the limit is its policy, not dsr's.
    assert!(
        r.finding("api.token-rotation")
            .unwrap()
            .recommendation
            .is_none()
    );
    let r = check(&[Del("parameters.api_token_max_age_days")], &[]);
    assert!(
        r.finding("api.token-rotation")
            .unwrap()
            .recommendation
            .is_some()
    );
    // A rule with no dsr addition carries no label.
    assert!(r.finding("transport.tls").unwrap().recommendation.is_none());
}

/// Each condition of each rule: deleting any value a passing rule read makes it an
/// error naming that key (a missing value is never read as compliant), except the
/// optional values listed here, with the outcome their absence means.
#[test]
fn every_condition_of_every_rule_is_an_error_when_not_stated() {
    let optional: &[(&str, &str, Status)] = &[
        ("transport.custom-domain-ssl", "transport.custom_domain", NA),
        // Shown for context; two-factor is needed whatever the method.
        ("authentication.two-factor", "authentication.method", Pass),
        (
            "sessions.access-token-lifetime",
            "sessions.access_token_lifetime_minutes",
            NA,
        ),
        ("hipaa.baa-before-toggle", "hipaa.baa_signed_on", Pass),
        ("hipaa.baa-before-toggle", "hipaa.enabled_on", Pass),
        (
            "network.agent-ip-restriction",
            "network.agent_ip_allowlist",
            Pass,
        ),
    ];
    let base = report_of(COMPLIANT);
    let mut checked = 0;
    for r in rules().filter(|r| !r.is_note()) {
        let f = base.finding(r.id()).unwrap();
        assert_eq!(f.status, Pass, "{}", r.id());
        for e in &f.evidence {
            let key = e.key.as_str();
            if key.contains('[')
                || key.starts_with("parameters.")
                || e.value.starts_with('[')
                || e.value.starts_with('(')
            {
                continue;
            }
            let report = report_of(&edited(COMPLIANT, &[Del(leak(key.to_owned()))]));
            let got = report.finding(r.id()).unwrap();
            let want = optional
                .iter()
                .find(|(id, k, _)| *id == r.id() && *k == key)
                .map_or(Error, |(_, _, s)| *s);
            assert_eq!(
                got.status,
                want,
                "{} without {key}: {}",
                r.id(),
                got.message
            );
            if want == Error {
                assert!(
                    got.message.contains(&format!("`{key}`")),
                    "{}: {}",
                    r.id(),
                    got.message
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked} conditions checked");
}

#[test]
fn a_json_configuration_from_a_script_gives_its_documented_outcome() {
    let text = include_str!("../../../../examples/compliance/hds-clinic.json");
    let config = Config::from_json(text).unwrap();
    let r = evaluate(&config, &Waivers::none(), date("2099-01-01")).unwrap();
    assert!(r.passed(), "{}", r.to_text());
    assert_eq!(r.as_of, date("2026-11-23"));
    assert_eq!(r.finding("hipaa.region").unwrap().status, NA);
    assert_eq!(
        r.finding("hds.subprocessor-notifications").unwrap().status,
        Pass
    );
    let s = r.summary();
    assert_eq!((s.pass, s.fail, s.error, s.info), (18, 0, 0, 1), "{s:?}");
    // The same key-path errors as TOML.
    let bad = text.replacen("\"tls_enforced\": true", "\"tls_enforced\": \"yes\"", 1);
    let err = Config::from_json(&bad).unwrap_err();
    assert!(
        err.to_string().starts_with("transport.tls_enforced (line "),
        "{err}"
    );
    assert!(
        err.to_string()
            .ends_with("invalid type: string \"yes\", expected a boolean"),
        "{err}"
    );
}
