//! `dsr import`, `dsr subjects`, `dsr normalize` and `dsr tenant` as a user runs them,
//! each test against its own temporary database.

use crate::harness::{Dsr, stderr};
use serde_json::Value;

const MIXED: &str = r#"{"type":"external_contact","id":"c-1","name":"Jean Dupont","emails":["jean@example.fr"],"phones":["06 12 34 56 78"]}
{"type":"external_contact","id":"c-2","name":"Anne"  broken
{"type":"alien","id":"c-3","name":"X"}

{"type":"user","id":"","name":"No Id"}
{"type":"user","id":"u-1","name":"Ann Lee","employment":"former","emailz":["a@b.c"]}
{"type":"user","id":"u-2","name":"Bob\u0007 Lee"}
{"type":"dialer_contact","id":"d-1","name":"Eva Nowak","contact_list":"spring","phones":["+48 600 100 200"]}
"#;

#[test]
fn import_reports_bad_lines_by_number_and_lands_the_good_ones() {
    let cli = Dsr::new();
    let f = cli.file("mixed.jsonl", MIXED);
    let out = cli.run(&["import", &f]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "bad lines make the exit status 1"
    );
    let err = stderr(&out);
    for (line, why) in [
        (2, "expected"),
        (3, "alien"),
        (5, "must not be empty"),
        (6, "emailz"),
        (7, "control character"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("line {line}:")) && l.contains(why)),
            "line {line} ({why}) not reported in:\n{err}"
        );
    }
    assert!(!err.contains("line 4:"), "a blank line is not an error");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("5 lines rejected"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The JSON summary carries the same, for scripts; re-importing is idempotent.
    let out = cli.run(&["import", &f, "--json"]);
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["rejected"], 5, "{summary}");
    assert_eq!(summary["imported"], 2, "{summary}");
    assert_eq!(summary["created"], 0, "{summary}");
    assert_eq!(summary["updated"], 2, "{summary}");
    let lines: Vec<u64> = summary["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3, 5, 6, 7]);
    // The good lines landed and are searchable.
    let r = cli.json(&["subjects", "email:JEAN@EXAMPLE.FR", "--json"]);
    assert_eq!(r["matches"][0]["subject_id"], "c-1");
    let r = cli.json(&["subjects", "+48600100200", "--json"]);
    assert_eq!(r["matches"][0]["subject_id"], "d-1");
}

#[test]
fn all_or_nothing_lands_nothing_when_a_line_is_bad() {
    let cli = Dsr::new();
    let f = cli.file("mixed.jsonl", MIXED);
    let out = cli.run(&["import", &f, "--all-or-nothing"]);
    assert_eq!(out.status.code(), Some(1));
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(all.contains("nothing imported"), "{all}");
    let t = cli.json(&["tenant", "show", "--json"]);
    assert_eq!(t["subjects"], 0, "{t}");
}

#[test]
fn reimporting_an_id_updates_it_and_stdin_works() {
    let cli = Dsr::new();
    let out = cli.run_stdin(
        &["import", "-", "--json"],
        br#"{"type":"external_contact","id":"c-9","name":"Old Name","emails":["old@example.org"]}
"#,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = cli.run_stdin(
        &["import", "-", "--json"],
        br#"{"type":"external_contact","id":"c-9","name":"New Name","emails":["new@example.org"]}
"#,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (summary["created"].as_u64(), summary["updated"].as_u64()),
        (Some(0), Some(1)),
        "{summary}"
    );
    let t = cli.json(&["tenant", "show", "--json"]);
    assert_eq!(t["subjects"], 1);
    let old = cli.json(&["subjects", "old@example.org", "--json"]);
    assert_eq!(old["matches"].as_array().unwrap().len(), 0, "{old}");
    let new = cli.json(&["subjects", "new@example.org", "--json"]);
    assert_eq!(new["matches"][0]["display_name"], "New Name");
}

#[test]
fn a_messy_term_finds_the_person_with_evidence_and_merge_set() {
    let cli = Dsr::with_sample();
    // Table output for a person: readable, names the subject.
    let table = cli.ok(&["subjects", "  DUPONT  jean "]);
    assert!(table.contains("c-1001"), "{table}");
    assert!(table.contains("looked up as name"), "{table}");
    // JSON with evidence: which field, which stored value, which method, a score.
    let r = cli.json(&["subjects", "phone:06.12.34.56.78", "--json"]);
    let m = &r["matches"][0];
    assert_eq!(r["classified_as"], "phone");
    let ev = &m["evidence"][0];
    assert_eq!(ev["field"], "phone");
    assert!(ev["stored"].is_string());
    assert!(ev["method"].is_string());
    assert!(ev["score"].as_f64().unwrap() > 0.9);
    // A merge-set member shows its canonical contact.
    let r = cli.json(&["subjects", "--json", "name:Jean Dupont"]);
    let members: Vec<&Value> = r["matches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !m["merge_set"].is_null())
        .collect();
    assert!(!members.is_empty(), "{r}");
    for m in members {
        assert_eq!(m["canonical_id"], "c-1001", "{m}");
    }
}

#[test]
fn region_option_overrides_the_tenant_default() {
    let cli = Dsr::with_sample();
    let fr = cli.json(&["subjects", "phone:06 12 34 56 78", "--json"]);
    assert!(!fr["matches"].as_array().unwrap().is_empty(), "{fr}");
    let it = cli.json(&[
        "subjects",
        "phone:06 12 34 56 78",
        "--region",
        "IT",
        "--json",
    ]);
    // In Italy 06… is a Rome number: someone else.
    let it_ids: Vec<&str> = it["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject_id"].as_str().unwrap())
        .collect();
    assert_eq!(it_ids, ["d-502"], "{it}");
    assert_ne!(fr["matches"][0]["subject_id"], "d-502", "{fr}");
    let bad = cli.run(&["subjects", "0612345678", "--region", "XX"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).to_lowercase().contains("region"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn batch_gives_one_json_result_per_line_in_order() {
    let cli = Dsr::with_sample();
    let q = cli.file(
        "q.txt",
        "jean.dupont@example.fr\n\nphone:+33 6 12 34 56 78\nname:nobody at all zz\nemail:not an email\n",
    );
    let out = cli.run(&["subjects", "--batch", &q, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed line shows in the exit status"
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let nums: Vec<u64> = lines.iter().map(|l| l["line"].as_u64().unwrap()).collect();
    assert_eq!(nums, [1, 3, 4, 5], "blank lines skipped, numbering kept");
    assert_eq!(lines[0]["result"]["classified_as"], "email");
    assert!(!lines[0]["result"]["matches"].as_array().unwrap().is_empty());
    assert!(!lines[1]["result"]["matches"].as_array().unwrap().is_empty());
    assert!(
        lines[3]["error"].is_string(),
        "a bad term is an error line: {}",
        lines[3]
    );
}

#[test]
fn correlation_shows_which_subjects_several_identifiers_corroborate() {
    let cli = Dsr::with_sample();
    let r = cli.json(&[
        "subjects",
        "--term",
        "name:Jean Dupont",
        "--term",
        "email:JEAN.DUPONT@example.fr",
        "--json",
    ]);
    let corroborated: Vec<&str> = r["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["corroborated"] == true)
        .map(|s| s["subject_id"].as_str().unwrap())
        .collect();
    assert!(corroborated.contains(&"c-1001"), "{r}");
    assert!(
        !corroborated.contains(&"c-1004"),
        "Jean Dupond has another email: {r}"
    );
}

#[test]
fn normalize_explains_classification_and_keys() {
    let cli = Dsr::new();
    let r = cli.json(&["normalize", "Jean.Dupont+news@GMAIL.com", "--json"]);
    assert_eq!(r["classified_as"], "email");
    let keys: Vec<&str> = r["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["value"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&"jeandupont@gmail.com"), "{keys:?}");
    let r = cli.json(&["normalize", "06 12 34 56 78", "--region", "FR", "--json"]);
    assert!(r.to_string().contains("+33612345678"), "{r}");
    let text = cli.ok(&["normalize", "name:Ｊüｒｇｅｎ　Ｍüｌｌｅｒ"]);
    assert!(
        text.contains("jurgen") || text.contains("juergen"),
        "{text}"
    );
}

#[test]
fn tenants_are_separate() {
    let cli = Dsr::with_sample();
    cli.ok(&["tenant", "create", "acme"]);
    let r = cli.json(&[
        "--tenant",
        "acme",
        "subjects",
        "jean.dupont@example.fr",
        "--json",
    ]);
    assert_eq!(r["matches"].as_array().unwrap().len(), 0, "{r}");
    // After the subcommand too.
    let r = cli.json(&[
        "subjects",
        "jean.dupont@example.fr",
        "--tenant",
        "acme",
        "--json",
    ]);
    assert_eq!(r["matches"].as_array().unwrap().len(), 0, "{r}");
    let r = cli.json(&["subjects", "jean.dupont@example.fr", "--json"]);
    assert_eq!(r["matches"][0]["subject_id"], "c-1001", "{r}");
}

#[test]
fn bad_usage_is_a_clear_error_not_a_panic() {
    let cli = Dsr::new();
    for args in [
        &["subjects", "phone:abc"][..],
        &["subjects", "thing", "--type", "weird"],
        &["import", "/nonexistent/file.jsonl"],
        &["tenant", "--region", "ZZZ"],
    ] {
        let out = cli.run(args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.trim().is_empty(), "{args:?}: silent failure");
    }
}
