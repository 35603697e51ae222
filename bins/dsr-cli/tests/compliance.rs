//! `dsr compliance …` end to end: the built binary against the shipped examples and
//! temporary files, with exact exit statuses and outcomes.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/compliance")
}

fn example(name: &str) -> String {
    examples().join(name).to_string_lossy().into_owned()
}

/// Runs `dsr compliance ARGS…` in a scratch directory (so no database is touched).
fn dsr(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_dsr"))
        .current_dir(dir.path())
        .arg("compliance")
        .args(args)
        .output()
        .expect("run dsr")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit status")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
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
        stdout(&o)
            .ends_with("81 rules: 81 pass, 0 fail, 0 error, 0 waived, 0 not applicable — PASSED\n"),
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
        serde_json::json!({"pass": 26, "fail": 22, "error": 1, "waived": 0, "not_applicable": 32})
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
            "workstations.local-token-storage",
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
    assert_eq!(report["summary"]["fail"], 20);
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
    assert_eq!(statuses(&json(&o))["acd-email.no-phi"], "waived");
}

#[test]
fn a_fully_waived_configuration_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(example("compliant.toml"))
        .unwrap()
        .replace("two_factor_only = true", "two_factor_only = false");
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
    assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 81);
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 81);
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
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tenant.json");
    std::fs::write(&p, r#"{"transport": {"tls_enforced": true}, "sessions": {"idle_timeout_minutes": 15, "idle_timeout_applies_to_api_clients": true}}"#).unwrap();
    let o = dsr(&[
        "check",
        &p.to_string_lossy(),
        "--format",
        "json",
        AS_OF[0],
        AS_OF[1],
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let report = json(&o);
    assert_eq!(report["summary"]["pass"], 3);
    assert_eq!(report["summary"]["not_applicable"], 78);
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
    assert!(text.starts_with("RULE "));
    assert!(text.contains("sessions.idle-timeout "));
    assert!(text.ends_with("81 rules; `dsr compliance explain RULE_ID` for details.\n"));
    let o = dsr(&["rules", "--json"]);
    assert_eq!(code(&o), 0);
    let catalog = json(&o);
    assert_eq!(catalog["rules"].as_array().unwrap().len(), 81);
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
    let o = dsr(&["explain", "idle-timeout"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o)
            .contains("unknown rule id `idle-timeout` (did you mean `sessions.idle-timeout`?)"),
        "{}",
        stderr(&o)
    );
}
