//! Reports: the mistakes example's exact outcomes, and the text, JSON and SARIF shapes.

use super::*;
use dsr_compliance::Status::{self, Error, Fail, NotApplicable as NA, Waived};
use dsr_compliance::{SarifOptions, catalog_json, find_rule};
use serde_json::Value;

/// Sections the mistakes example leaves out.
const ABSENT: &[&str] = &[
    "side_conversations",
    "conversations_api",
    "ai",
    "quality_assurance",
    "workforce",
];

/// The mistakes example without waivers: every rule not listed passes.
const MISTAKES_OUTCOMES: &[(&str, Status)] = &[
    ("hipaa.baa-before-toggle", Fail),
    // tenant.regime = "hipaa": the HDS rule does not apply.
    ("hds.subprocessor-notifications", NA),
    ("authentication.sso-password-login", Fail),
    ("transport.custom-domain-ssl", Fail),
    ("api.password-access", Fail),
    ("api.oauth-clients", NA),
    ("api.oauth-scopes", NA),
    ("api.token-per-service", Fail),
    ("api.token-breach-rotation", NA),
    ("api.token-rotation", Fail),
    ("attachments.download-authentication", Fail),
    ("sessions.idle-timeout", Fail),
    ("sessions.access-token-lifetime", NA),
    ("workstations.inactivity-lock", Fail),
    ("view-permissions.end-user-scope", Fail),
    ("notifications.email-content", Fail),
    ("sms.no-phi", Fail),
    ("acd-email.no-phi", Fail),
    ("surveys.email-body", Fail),
    ("help-center.comments", Fail),
    ("community.public-profiles", Fail),
    ("messaging.social-channels", Fail),
    ("messaging.jwt-expiry", Fail),
    ("messaging.jwt-key-breach-rotation", NA),
    ("messaging.malware-control", NA),
    ("messaging.ai-conversation-deletion", NA),
    ("chat.no-email-transcripts", Error),
    ("analytics.email-export", Fail),
    ("analytics.dashboard-audience", NA),
    ("analytics.dashboard-ip-restriction", NA),
    ("analytics.dashboard-links", NA),
    ("mobile.lock-screen-notifications", Fail),
    ("integrations.third-party-baa", Fail),
];

fn mistakes(with_waivers: bool) -> Report {
    let config = Config::from_toml(MISTAKES).unwrap();
    let w = if with_waivers {
        Waivers::from_toml(WAIVERS).unwrap()
    } else {
        Waivers::none()
    };
    evaluate(&config, &w, today()).unwrap()
}

#[test]
fn mistakes_example_exact_outcomes() {
    assert_outcomes(&mistakes(false), ABSENT, MISTAKES_OUTCOMES);
    let mut waived = MISTAKES_OUTCOMES.to_vec();
    for (id, s) in waived.iter_mut() {
        if ["sms.no-phi", "community.public-profiles"].contains(id) {
            *s = Waived;
        }
    }
    let r = mistakes(true);
    assert_outcomes(&r, ABSENT, &waived);
    let s = r.summary();
    assert_eq!(
        (s.pass, s.fail, s.error, s.waived, s.not_applicable, s.info),
        (26, 19, 1, 2, 36, 1)
    );
    assert_eq!(s.total(), catalog().len());
}

#[test]
fn text_report_groups_by_area_and_summarises() {
    let text = mistakes(true).to_text();
    assert!(
        text.starts_with(
            "HIPAA / HDS configuration check — Example Health Network — as of 2026-11-23 — catalog "
        ),
        "{text}"
    );
    let sms_heading = text.find("\nSMS [sms]\n").expect("area heading");
    let sms_line = text.find("  WAIVED  sms.no-phi").expect("rule line");
    assert!(sms_heading < sms_line);
    for r in catalog() {
        assert!(
            text.contains(&format!("  {} ", r.id())),
            "no line for {}",
            r.id()
        );
    }
    assert!(text.contains("\nFailures and errors\n"));
    assert!(text.contains("  ERROR chat.no-email-transcripts (high; source refs Z-CHT-2)\n    cannot decide: `chat.transcript_email` is not set"));
    assert!(
        text.contains(
            "\nRegime: stated in tenant.regime: the HIPAA rules apply, the HDS rule does not\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Products in use: api (section [api] present); sessions (section [sessions] present);"
        ),
        "{text}"
    );
    assert!(text.contains("\nNot used (section absent, not in tenant.products): side_conversations, conversations_api, ai, quality_assurance, workforce\n"), "{text}");
    assert!(
        !text.contains("    fix: Turn off SMS"),
        "a waived rule is not listed among the failures"
    );
    assert!(text.contains("  acd-email.no-phi — EXPIRED; accepted by Jane Roe, Chief Information Security Officer on 2026-02-01, expires 2026-06-30: "));
    assert!(
        text.ends_with(
            "85 rules: 26 pass, 19 fail, 1 error, 2 waived, 36 not applicable, 1 information — FAILED\n"
        ),
        "{}",
        text.lines().last().unwrap()
    );
    let ok = report_of(COMPLIANT).to_text();
    assert!(
        ok.ends_with(
            "85 rules: 84 pass, 0 fail, 0 error, 0 waived, 0 not applicable, 1 information — PASSED\n"
        ),
        "{ok}"
    );
    assert!(!ok.contains("Failures and errors"));
}

#[test]
fn json_report_shape() {
    let j = mistakes(true).to_json();
    assert_eq!(j["tool"]["name"], "dsr-compliance");
    assert_eq!(j["as_of"], "2026-11-23");
    assert_eq!(j["tenant"], "Example Health Network");
    assert_eq!(j["passed"], false);
    assert_eq!(j["summary"]["fail"], 19);
    assert_eq!(
        j["tool"]["catalog_version"],
        dsr_compliance::CATALOG_VERSION
    );
    assert_eq!(j["regime"]["regime"], "hipaa");
    assert_eq!(j["as_of_from"], "tenant.as_of");
    let products = j["products"].as_array().unwrap();
    let ai = products.iter().find(|p| p["product"] == "ai").unwrap();
    assert_eq!(ai["in_use"], false);
    let rotation = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "api.token-rotation")
        .unwrap();
    assert!(
        rotation["recommendation"].as_str().unwrap().starts_with(
            "dsr recommendation, not a requirement of the source: the 90-day rotation period"
        ),
        "{rotation}"
    );
    assert_eq!(j["parameters"]["idle_timeout_max_minutes"], 15);
    let findings = j["findings"].as_array().unwrap();
    assert_eq!(findings.len(), catalog().len());
    let sms = findings.iter().find(|f| f["rule"] == "sms.no-phi").unwrap();
    assert_eq!(sms["status"], "waived");
    assert_eq!(sms["evaluated"], "fail");
    assert_eq!(sms["severity"], "high");
    assert_eq!(sms["tags"], serde_json::json!(["Z-SUP-9", "H-2"]));
    assert_eq!(sms["location"], "sms.phi_excluded");
    assert_eq!(
        sms["evidence"][0],
        serde_json::json!({"key": "sms.enabled", "value": "true"})
    );
    assert_eq!(sms["waiver"]["state"], "applied");
    assert_eq!(sms["waiver"]["expires"], "2027-01-10");
    assert_eq!(sms["waiver"]["reference"], "RISK-142");
    let acd = findings
        .iter()
        .find(|f| f["rule"] == "acd-email.no-phi")
        .unwrap();
    assert_eq!(
        (acd["status"].as_str(), acd["waiver"]["state"].as_str()),
        (Some("fail"), Some("expired"))
    );
    assert_eq!(
        findings
            .iter()
            .find(|f| f["rule"] == "mobile.unlock")
            .unwrap()["status"],
        "pass"
    );
    assert_eq!(
        findings
            .iter()
            .find(|f| f["rule"] == "ai.no-medical-use")
            .unwrap()["status"],
        "not_applicable"
    );
}

#[test]
fn a_finding_serializes_with_its_rule_id() {
    let r = mistakes(true);
    let f = serde_json::to_value(r.finding("sms.no-phi").unwrap()).unwrap();
    assert_eq!(f["rule"], "sms.no-phi");
    assert_eq!(f["status"], "waived");
    assert_eq!(
        f["waiver"]["waiver"]["accepted_by"],
        "Jane Roe, Chief Information Security Officer"
    );
}

#[test]
fn catalog_json_lists_every_rule_with_its_source_and_version() {
    let j = catalog_json();
    let rules = j["rules"].as_array().unwrap();
    assert_eq!(rules.len(), catalog().len());
    let idle = rules
        .iter()
        .find(|r| r["id"] == "sessions.idle-timeout")
        .unwrap();
    assert_eq!(idle["legal"], "45 CFR 164.312(a)(2)(iii)");
    assert_eq!(idle["source"]["document"], "Genesys Cloud — HIPAA FAQ");
    let tls = rules.iter().find(|r| r["id"] == "transport.tls").unwrap();
    assert!(
        tls["source"]["version"]
            .as_str()
            .unwrap()
            .starts_with("2025-01-24")
    );
    assert_eq!(j["sources"].as_array().unwrap().len(), 2);
}

#[test]
fn explain_text_has_every_field() {
    let text = find_rule("sessions.idle-timeout").unwrap().explain();
    for needle in [
        "sessions.idle-timeout — Session idle timeout",
        "Source refs   H-5",
        "Since         catalog 1.0.0",
        "Legal         45 CFR 164.312(a)(2)(iii)",
        "Severity      high",
        "Passes when",
        "Remediation",
        "[[waiver]]",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let e = dsr_compliance::rule_or_error("two-factor").unwrap_err();
    assert_eq!(
        e.to_string(),
        "unknown rule id `two-factor` (did you mean `authentication.two-factor`?); `dsr compliance rules` lists the catalog"
    );
}

// ---------------------------------------------------------------- SARIF 2.1.0

fn str_at<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} must be a string, got {v}"))
}

/// Checks the constraints of the SARIF 2.1.0 schema that the output uses: required
/// properties, enumerations, and the kind/level and ruleIndex consistency rules.
fn assert_valid_sarif(log: &Value) {
    assert_eq!(
        log["version"], "2.1.0",
        "sarifLog.version is required and must be 2.1.0"
    );
    assert!(str_at(&log["$schema"], "$schema").contains("sarif-2.1.0"));
    let runs = log["runs"].as_array().expect("sarifLog.runs is required");
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let driver = &run["tool"]["driver"];
    assert!(
        !str_at(&driver["name"], "tool.driver.name").is_empty(),
        "toolComponent.name is required"
    );
    str_at(&driver["version"], "driver.version");
    assert!(str_at(&driver["informationUri"], "informationUri").contains("://"));
    let rules = driver["rules"].as_array().expect("driver.rules");
    for r in rules {
        str_at(&r["id"], "reportingDescriptor.id");
        str_at(&r["name"], "reportingDescriptor.name");
        for k in ["shortDescription", "fullDescription", "help"] {
            assert!(
                !str_at(&r[k]["text"], k).is_empty(),
                "multiformatMessageString.text is required ({k})"
            );
        }
        assert!(
            ["none", "note", "warning", "error"]
                .contains(&str_at(&r["defaultConfiguration"]["level"], "level"))
        );
        let tags: Vec<&str> = r["properties"]["tags"]
            .as_array()
            .expect("properties.tags")
            .iter()
            .map(|t| str_at(t, "tag"))
            .collect();
        let unique: std::collections::BTreeSet<&&str> = tags.iter().collect();
        assert_eq!(unique.len(), tags.len(), "property-bag tags must be unique");
    }
    for (i, res) in run["results"]
        .as_array()
        .expect("run.results")
        .iter()
        .enumerate()
    {
        let msg = str_at(&res["message"]["text"], "result.message.text");
        assert!(!msg.is_empty(), "result {i}: result.message is required");
        let id = str_at(&res["ruleId"], "ruleId");
        let index = res["ruleIndex"].as_u64().expect("ruleIndex") as usize;
        assert_eq!(rules[index]["id"], id, "ruleIndex must point at ruleId");
        let kind = str_at(&res["kind"], "kind");
        let level = str_at(&res["level"], "level");
        assert!(
            [
                "notApplicable",
                "pass",
                "fail",
                "review",
                "open",
                "informational"
            ]
            .contains(&kind)
        );
        assert!(["none", "note", "warning", "error"].contains(&level));
        if kind != "fail" {
            assert_eq!(
                level, "none",
                "{id}: a result whose kind is not fail must have level none"
            );
        }
        for loc in res["locations"].as_array().expect("locations") {
            for l in loc["logicalLocations"]
                .as_array()
                .expect("logicalLocations")
            {
                str_at(&l["fullyQualifiedName"], "fullyQualifiedName");
            }
            if let Some(p) = loc.get("physicalLocation") {
                str_at(&p["artifactLocation"]["uri"], "artifactLocation.uri");
                if let Some(line) = p.get("region").map(|r| &r["startLine"]) {
                    assert!(line.as_u64().unwrap() >= 1);
                }
            }
        }
        if let Some(sups) = res.get("suppressions") {
            for s in sups.as_array().unwrap() {
                assert!(
                    ["inSource", "external"].contains(&str_at(&s["kind"], "suppression.kind")),
                    "suppression.kind is required"
                );
                assert!(
                    ["accepted", "underReview", "rejected"]
                        .contains(&str_at(&s["status"], "suppression.status"))
                );
                assert!(!str_at(&s["justification"], "justification").is_empty());
            }
        }
    }
}

#[test]
fn sarif_output_meets_the_schema_and_suppresses_waived_results() {
    let options = SarifOptions {
        artifact_uri: Some("examples/compliance/mistakes.toml"),
        source_text: Some(MISTAKES),
    };
    let log = mistakes(true).to_sarif(&options);
    assert_valid_sarif(&log);
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), catalog().len());
    let by_id = |id: &str| results.iter().find(|r| r["ruleId"] == id).unwrap();

    let sms = by_id("sms.no-phi");
    assert_eq!(
        (sms["kind"].as_str(), sms["level"].as_str()),
        (Some("fail"), Some("error"))
    );
    assert_eq!(sms["suppressions"][0]["kind"], "external");
    assert_eq!(sms["suppressions"][0]["status"], "accepted");
    assert_eq!(
        sms["suppressions"][0]["justification"],
        "Appointment reminders only; templates reviewed by compliance to exclude PHI."
    );
    // The physical location points at the deciding key's line.
    let line = sms["locations"][0]["physicalLocation"]["region"]["startLine"]
        .as_u64()
        .unwrap() as usize;
    assert_eq!(
        MISTAKES.lines().nth(line - 1).unwrap(),
        "phi_excluded = false"
    );
    let fqn = |r: &Value| r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].clone();
    assert_eq!(fqn(sms), "sms.phi_excluded");
    let rotation = by_id("api.token-rotation");
    assert_eq!(fqn(rotation), "api.tokens[0].created");
    let line = rotation["locations"][0]["physicalLocation"]["region"]["startLine"]
        .as_u64()
        .unwrap() as usize;
    assert_eq!(
        MISTAKES.lines().nth(line - 1).unwrap(),
        "created = 2025-09-01"
    );
    assert_eq!(
        fqn(by_id("chat.no-email-transcripts")),
        "chat.transcript_email"
    );

    let acd = by_id("acd-email.no-phi");
    assert_eq!(acd["kind"], "fail");
    assert!(
        acd.get("suppressions").is_none(),
        "an expired waiver suppresses nothing"
    );
    assert_eq!(by_id("transport.tls")["kind"], "pass");
    assert_eq!(by_id("ai.no-medical-use")["kind"], "notApplicable");
    assert_eq!(by_id("chat.no-email-transcripts")["level"], "error");
    assert_eq!(by_id("community.public-profiles")["level"], "note");
    assert_eq!(
        by_id("community.public-profiles")["suppressions"][0]["status"],
        "accepted"
    );

    // Without an artifact, results still have logical locations.
    let bare = report_of(COMPLIANT).to_sarif(&SarifOptions::default());
    assert_valid_sarif(&bare);
    assert!(
        bare["runs"][0]["results"][0]["locations"][0]
            .get("physicalLocation")
            .is_none()
    );
}
