//! `dsr compliance …` end to end: the built binary against the shipped examples and
//! temporary files, with exact exit statuses and outcomes.

use crate::harness::{stderr, stdout};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn examples() -> PathBuf {
    crate::harness::repo().join("examples/compliance")
}

fn example(name: &str) -> String {
    examples().join(name).to_string_lossy().into_owned()
}

/// Runs `dsr compliance ARGS…` in a scratch directory (so no database is touched).
fn dsr(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(crate::harness::bin())
        .current_dir(dir.path())
        .arg("compliance")
        .args(args)
        .output()
        .expect("run dsr")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit status")
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

const AS_OF: [&str; 2] = ["--as-of", "2026-11-23"];

fn statuses(report: &Value) -> std::collections::BTreeMap<String, String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_owned(),
                f["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn compliant_example_exits_0() {
    let o = dsr(&["check", &example("compliant.toml"), AS_OF[0], AS_OF[1]]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).ends_with(
            "85 rules: 84 pass, 0 fail, 0 error, 0 waived, 0 not applicable, 1 information — PASSED\n"
        ),
        "{}",
        stdout(&o)
    );
}

#[test]
fn mistakes_example_exits_1_with_exact_outcomes() {
    let o = dsr(&[
        "check",
        &example("mistakes.toml"),
        "--format",
        "json",
        AS_OF[0],
        AS_OF[1],
    ]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(
        report["summary"],
        serde_json::json!({"pass": 26, "fail": 21, "error": 1, "waived": 0, "not_applicable": 36, "info": 1})
    );
    let s = statuses(&report);
    let failed: Vec<&str> = s
        .iter()
        .filter(|(_, v)| *v == "fail")
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        failed,
        [
            "acd-email.no-phi",
            "analytics.email-export",
            "api.password-access",
            "api.token-per-service",
            "api.token-rotation",
            "attachments.download-authentication",
            "authentication.sso-password-login",
            "community.public-profiles",
            "help-center.comments",
            "hipaa.baa-before-toggle",
            "integrations.third-party-baa",
            "messaging.jwt-expiry",
            "messaging.social-channels",
            "mobile.lock-screen-notifications",
            "notifications.email-content",
            "sessions.idle-timeout",
            "sms.no-phi",
            "surveys.email-body",
            "transport.custom-domain-ssl",
            "view-permissions.end-user-scope",
            "workstations.inactivity-lock",
        ]
    );
    assert_eq!(s["chat.no-email-transcripts"], "error");
}

#[test]
fn waivers_are_applied_and_expired_ones_fail() {
    let o = dsr(&[
        "check",
        &example("mistakes.toml"),
        "--waivers",
        &example("waivers.toml"),
        "--format",
        "json",
        AS_OF[0],
        AS_OF[1],
    ]);
    assert_eq!(code(&o), 1);
    let report = json(&o);
    let s = statuses(&report);
    assert_eq!(s["sms.no-phi"], "waived");
    assert_eq!(s["community.public-profiles"], "waived");
    assert_eq!(s["acd-email.no-phi"], "fail");
    assert_eq!(report["summary"]["waived"], 2);
    assert_eq!(report["summary"]["fail"], 19);
    // Before the ACD waiver expired (2026-06-30), it applied too.
    let o = dsr(&[
        "check",
        &example("mistakes.toml"),
        "--waivers",
        &example("waivers.toml"),
        "--format",
        "json",
        "--as-of",
        "2026-06-29",
    ]);
    // The file states tenant.as_of = 2026-11-23: the check is made as of that day, so a
    // run date before it does not revive the expired waiver.
    assert_eq!(statuses(&json(&o))["acd-email.no-phi"], "fail");
}

#[test]
fn a_fully_waived_configuration_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(example("compliant.toml"))
        .unwrap()
        .replace(
            "two_factor_only = true\nphi_excluded = true",
            "two_factor_only = false\nphi_excluded = false",
        );
    let config_path = dir.path().join("tenant.toml");
    std::fs::write(&config_path, config).unwrap();
    let waivers_path = dir.path().join("waivers.toml");
    std::fs::write(
        &waivers_path,
        "[[waiver]]\nrule = \"sms.no-phi\"\njustification = \"Reminders without PHI\"\naccepted_by = \"CISO\"\naccepted_at = 2026-01-01\npermanent = true\n",
    )
    .unwrap();
    let config_arg = config_path.to_string_lossy();
    let without = dsr(&["check", &config_arg, AS_OF[0], AS_OF[1]]);
    assert_eq!(code(&without), 1);
    let with = dsr(&[
        "check",
        &config_arg,
        "--waivers",
        &waivers_path.to_string_lossy(),
        AS_OF[0],
        AS_OF[1],
    ]);
    assert_eq!(code(&with), 0, "{}", stdout(&with));
    assert!(stdout(&with).contains("  WAIVED  sms.no-phi"));
}

#[test]
fn sarif_output_is_a_2_1_0_log_pointing_at_the_config() {
    let path = example("mistakes.toml");
    let o = dsr(&[
        "check",
        &path,
        "--waivers",
        &example("waivers.toml"),
        "--format",
        "sarif",
        AS_OF[0],
        AS_OF[1],
    ]);
    assert_eq!(code(&o), 1);
    let log = json(&o);
    assert_eq!(log["version"], "2.1.0");
    assert!(log["$schema"].as_str().unwrap().contains("sarif-2.1.0"));
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "dsr-compliance");
    assert_eq!(run["tool"]["driver"]["version"], "1.1.0");
    assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 85);
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 85);
    let sms = results
        .iter()
        .find(|r| r["ruleId"] == "sms.no-phi")
        .unwrap();
    assert_eq!(sms["suppressions"][0]["kind"], "external");
    assert_eq!(sms["suppressions"][0]["status"], "accepted");
    assert_eq!(
        sms["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        Value::String(path.replace('\\', "/"))
    );
    assert!(
        sms["locations"][0]["physicalLocation"]["region"]["startLine"]
            .as_u64()
            .unwrap()
            > 1
    );
    for r in results {
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
    }
}

#[test]
fn json_configurations_are_accepted() {
    let o = dsr(&["check", &example("hds-clinic.json"), "--json"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let report = json(&o);
    assert_eq!(report["summary"]["pass"], 18);
    assert_eq!(report["summary"]["not_applicable"], 66);
    assert_eq!(report["regime"]["regime"], "hds");
    assert_eq!(statuses(&report)["hipaa.region"], "not_applicable");
    // A partial JSON configuration fails on what holds for every tenant.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tenant.json");
    std::fs::write(&p, r#"{"transport": {"tls_enforced": true}}"#).unwrap();
    let o = dsr(&["check", &p.to_string_lossy(), "--json", AS_OF[0], AS_OF[1]]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(
        statuses(&json(&o))["workstations.full-disk-encryption"],
        "fail"
    );
}

fn config_error(text: &str, file: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(file);
    std::fs::write(&p, text).unwrap();
    let o = dsr(&["check", &p.to_string_lossy()]);
    assert!(o.stdout.is_empty(), "no report on a configuration error");
    (code(&o), stderr(&o))
}

#[test]
fn bad_configurations_exit_2_naming_the_key() {
    let (c, err) = config_error(
        "[authentication]\ntwo_factor_enforced = \"yes\"\n",
        "t.toml",
    );
    assert_eq!(c, 2);
    assert!(err.ends_with("t.toml: authentication.two_factor_enforced (line 2): invalid type: string \"yes\", expected a boolean\n"), "{err}");
    let (c, err) = config_error("[sessions]\nidle_timeout = 15\n", "t.toml");
    assert_eq!(c, 2);
    assert!(
        err.contains(
            "sessions.idle_timeout (line 2): unknown field `idle_timeout`, expected one of"
        ),
        "{err}"
    );
    let (c, err) = config_error("{\"mobile\": {\"screen_lock_minutes\": \"5\"}}", "t.json");
    assert_eq!(c, 2);
    assert!(
        err.contains(
            "mobile.screen_lock_minutes (line 1): invalid type: string \"5\", expected u32"
        ),
        "{err}"
    );
    let (c, err) = config_error("[parameters]\nidle_timeout_max_minutes = 30\n", "t.toml");
    assert_eq!(c, 2);
    assert!(
        err.contains("parameters.idle_timeout_max_minutes: 30 loosens the limit of 15 minutes"),
        "{err}"
    );
}

#[test]
fn bad_waiver_files_exit_2_naming_the_waiver() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.toml");
    std::fs::write(&w, "[[waiver]]\nrule = \"sms.no-phi\"\naccepted_by = \"CISO\"\naccepted_at = 2026-01-01\nexpires = 2027-01-01\n").unwrap();
    let o = dsr(&[
        "check",
        &example("compliant.toml"),
        "--waivers",
        &w.to_string_lossy(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("w.toml: waiver[0].justification: required"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&w, "[[waiver]]\nrule = \"sms.nophi\"\njustification = \"x\"\naccepted_by = \"CISO\"\naccepted_at = 2026-01-01\npermanent = true\n").unwrap();
    let o = dsr(&[
        "check",
        &example("compliant.toml"),
        "--waivers",
        &w.to_string_lossy(),
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o)
            .contains("waiver[0].rule: unknown rule id `sms.nophi` (did you mean `sms.no-phi`?)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(code(&dsr(&["check", "/nonexistent/tenant.toml"])), 2);
    assert_eq!(
        code(&dsr(&[
            "check",
            &example("compliant.toml"),
            "--format",
            "xml"
        ])),
        2
    );
    assert_eq!(
        code(&dsr(&[
            "check",
            &example("compliant.toml"),
            "--as-of",
            "tomorrow"
        ])),
        2
    );
    assert_eq!(code(&dsr(&["check"])), 2);
}

#[test]
fn rules_lists_the_catalog() {
    let o = dsr(&["rules"]);
    assert_eq!(code(&o), 0);
    let text = stdout(&o);
    assert!(text.starts_with("Catalog 1.1.0 (released "), "{text}");
    assert!(text.contains("sessions.idle-timeout "));
    assert!(text.contains("\n85 rules; `dsr compliance explain RULE_ID` for details.\n"));
    assert!(text.contains("\nCatalog change log\n  1.1.0 ("));
    assert!(text.contains("  1.0.0 ("));
    assert!(text.contains("\nSource change log (help-desk list, seed 001)"));
    assert!(text.contains("  2024-03-07  "));
    let o = dsr(&["rules", "--catalog-version", "1.0.0"]);
    assert!(stdout(&o).contains("\n81 rules; "), "{}", stdout(&o));
    let o = dsr(&["rules", "--json"]);
    assert_eq!(code(&o), 0);
    let catalog = json(&o);
    assert_eq!(catalog["catalog_version"], "1.1.0");
    assert_eq!(catalog["change_log"].as_array().unwrap().len(), 2);
    assert_eq!(catalog["rules"].as_array().unwrap().len(), 85);
    let tags: std::collections::BTreeSet<&str> = catalog["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
        })
        .collect();
    assert_eq!(tags.len(), 48, "every Z- and H- requirement is covered");
}

#[test]
fn explain_shows_one_rule_and_suggests_on_typos() {
    let o = dsr(&["explain", "sessions.idle-timeout"]);
    assert_eq!(code(&o), 0);
    let text = stdout(&o);
    assert!(
        text.starts_with("sessions.idle-timeout — Session idle timeout between 5 and 15 minutes\n"),
        "{text}"
    );
    assert!(text.contains("Legal         45 CFR 164.312(a)(2)(iii)"));
    let o = dsr(&["explain", "api.token-rotation", "--json"]);
    assert_eq!(code(&o), 0);
    let rule = json(&o);
    assert_eq!(rule["id"], "api.token-rotation");
    assert_eq!(
        rule["dsr_recommendation"]["parameter"],
        "api_token_max_age_days"
    );
    let o = dsr(&["explain", "idle-timeout"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o)
            .contains("unknown rule id `idle-timeout` (did you mean `sessions.idle-timeout`?)"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_examples_give_their_documented_outcome_whatever_today_is() {
    for as_of in [
        None,
        Some("2026-11-23"),
        Some("2030-01-01"),
        Some("2099-12-31"),
    ] {
        let mut args = vec!["check".to_owned(), example("compliant.toml")];
        if let Some(d) = as_of {
            args.extend(["--as-of".to_owned(), d.to_owned()]);
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = dsr(&argv);
        assert_eq!(code(&o), 0, "{as_of:?}: {}", stdout(&o));
        let mut args = vec![
            "check".to_owned(),
            example("mistakes.toml"),
            "--waivers".to_owned(),
            example("waivers.toml"),
            "--json".to_owned(),
        ];
        if let Some(d) = as_of {
            args.extend(["--as-of".to_owned(), d.to_owned()]);
        }
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = dsr(&argv);
        assert_eq!(code(&o), 1);
        assert_eq!(
            json(&o)["summary"],
            serde_json::json!({"pass": 26, "fail": 19, "error": 1, "waived": 2, "not_applicable": 36, "info": 1}),
            "{as_of:?}"
        );
    }
}

#[test]
fn every_report_format_names_the_catalog_version() {
    let config = example("compliant.toml");
    for v in ["1.0.0", "1.1.0"] {
        let text = stdout(&dsr(&["check", &config, "--catalog-version", v]));
        assert!(
            text.lines()
                .next()
                .unwrap()
                .ends_with(&format!("— catalog {v}")),
            "{text}"
        );
        let j = json(&dsr(&[
            "check",
            &config,
            "--format",
            "json",
            "--catalog-version",
            v,
        ]));
        assert_eq!(j["tool"]["catalog_version"], v);
        let sarif = json(&dsr(&[
            "check",
            &config,
            "--format",
            "sarif",
            "--catalog-version",
            v,
        ]));
        assert_eq!(sarif["runs"][0]["tool"]["driver"]["version"], v);
    }
    let o = dsr(&["check", &config, "--catalog-version", "0.1.0"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("unknown catalog version `0.1.0`; known: 1.0.0, 1.1.0"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_closed_pipe_never_panics() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    for args in [
        vec!["rules"],
        vec!["check", "COMPLIANT"],
        vec!["explain", "sessions.idle-timeout"],
        // Larger than a pipe buffer, so the write after the close fails.
        vec!["check", "COMPLIANT", "--format", "sarif"],
        vec!["rules", "--json"],
    ] {
        let compliant = example("compliant.toml");
        let args: Vec<&str> = args
            .iter()
            .map(|a| {
                if *a == "COMPLIANT" {
                    compliant.as_str()
                } else {
                    *a
                }
            })
            .collect();
        let mut child = Command::new(crate::harness::bin())
            .arg("compliance")
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Like `| head -1`: read one line, then close the pipe.
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
