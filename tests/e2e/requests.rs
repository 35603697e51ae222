//! `dsr request …`, `dsr services`, `dsr audit`, `dsr verify` and `dsr demo` as a user
//! runs them, against a temporary database.

use crate::harness::{Dsr, sample};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// The sample imported, no region set.
fn cli() -> Dsr {
    let d = Dsr::new();
    d.ok(&["import", &sample(), "--quiet"]);
    d
}

#[test]
fn a_merge_set_delete_fans_out_and_every_related_request_completes() {
    let cli = cli();
    let r = cli.json(&[
        "request",
        "create",
        "--type",
        "delete",
        "email:Jean.Dupont+factures@example.fr",
    ]);
    assert_eq!(
        r["subject"]["id"], "c-1001",
        "made for the canonical contact"
    );
    let ids: Vec<&str> = r["relatedRequests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["subjectId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["c-1002", "c-1003"]);
    let r = cli.json(&["request", "wait", r["id"].as_str().unwrap()]);
    assert_eq!(r["status"], "completed");
    // Once erased, dsr's own records keep only keyed references of the subjects.
    let text = r.to_string();
    for id in ["c-1001", "c-1002", "c-1003"] {
        assert!(!text.contains(id), "{id} is still in clear: {r}");
    }
    assert!(
        r["subject"]["id"].as_str().unwrap().starts_with("s-"),
        "{r}"
    );
    let related = r["relatedRequests"].as_array().unwrap();
    assert_eq!(related.len(), 2);
    for x in related {
        assert_eq!(x["status"], "completed");
        let shown = cli.json(&["request", "show", x["id"].as_str().unwrap()]);
        assert_eq!(shown["parent"], r["id"]);
        let actions: Vec<&str> = shown["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            vec!["anonymized", "deleted"],
            "conversations anonymize, directory deletes"
        );
    }
    // The directory really lost them.
    let found: Value =
        serde_json::from_str(&cli.ok(&["subjects", "email:jean.dupont@example.fr", "--json"]))
            .unwrap();
    assert_eq!(found["matches"].as_array().unwrap().len(), 0, "{found}");
    let list = cli.json(&["request", "list", "--status", "completed"]);
    assert_eq!(list.as_array().unwrap().len(), 3);
    assert!(cli.ok(&["audit", "verify"]).contains("verified"));
}

#[test]
fn an_ambiguous_term_lists_the_candidates_and_a_named_subject_is_accepted() {
    let cli = cli();
    let out = cli.run(&[
        "request",
        "create",
        "--type",
        "export",
        "name:Jean Dupont",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(3));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subject_id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"d-501") && ids.contains(&"c-1001"), "{ids:?}");
    let (code, text) = cli.fails(&["request", "create", "--type", "export", "name:Jean Dupont"]);
    assert_eq!(code, 3, "an ambiguous term has its own exit status");
    assert!(
        text.contains("--subject")
            && text.contains("d-501")
            && text.contains("never acts on a guess"),
        "{text}"
    );
    let r = cli.json(&[
        "request",
        "create",
        "--type",
        "export",
        "name:Jean Dupont",
        "--subject",
        "d-501",
    ]);
    assert_eq!(r["subject"]["id"], "d-501");
    assert_eq!(r["subject"]["kind"], "dialer_contact");
}

#[test]
fn bad_input_says_what_is_wrong_and_what_is_accepted() {
    let cli = cli();
    for (args, want) in [
        (
            vec!["request", "create", "--type", "shred", "--id", "c-1005"],
            "expected export, update, delete or portability",
        ),
        (
            vec![
                "request",
                "create",
                "--type",
                "delete",
                "--id",
                "c-1005",
                "--replace",
                "email:a=b",
            ],
            "only accepted for update requests",
        ),
        (
            vec!["request", "create", "--type", "update", "--id", "c-1005"],
            "at least one replacement",
        ),
        (
            vec![
                "request",
                "create",
                "--type",
                "update",
                "--id",
                "c-1005",
                "--replace",
                "email=x",
            ],
            "expected FIELD:OLD=NEW",
        ),
        (
            vec!["request", "create", "--type", "export", "--id", "nobody"],
            "no subject matches",
        ),
        (vec!["request", "show", "not-an-id"], "not a request id"),
        (
            vec!["request", "list", "--status", "done"],
            "expected one of: received",
        ),
        (
            vec![
                "request",
                "decide",
                "0193d2a4-7c1e-7b3a-9f00-123456789abc",
                "--proceed",
                "--reason",
                "x",
            ],
            "no request",
        ),
        (
            vec![
                "request",
                "create",
                "--type",
                "export",
                "--id",
                "c-1005",
                "--subject",
                "c-1001",
            ],
            "not the one the id resolves to",
        ),
    ] {
        let (code, text) = cli.fails(&args);
        assert_eq!(code, 2, "{args:?}");
        assert!(text.contains(want), "{args:?}: {text}");
    }
    std::fs::write(cli.dir.path().join("dsr.toml"), "[worker]\nleases = 3\n").unwrap();
    let (_, text) = cli.fails(&["services"]);
    assert!(
        text.contains("leases") && text.contains("dsr.toml"),
        "{text}"
    );
}

#[test]
fn an_update_rectifies_the_directory() {
    let cli = cli();
    let r = cli.json(&[
        "request",
        "create",
        "--type",
        "update",
        "--id",
        "c-1005",
        "--replace",
        "email:zoe.faure@gmail.com=zoe@faure.example",
        "--wait",
    ]);
    assert_eq!(r["status"], "completed", "{r}");
    let found: Value =
        serde_json::from_str(&cli.ok(&["subjects", "email:zoe@faure.example", "--json"])).unwrap();
    assert_eq!(found["matches"][0]["subject_id"], "c-1005", "{found}");
}

#[test]
fn an_export_package_downloads_verifies_and_detects_tampering() {
    let cli = cli();
    // Reading commands never create the signing key; the first signing one does.
    cli.json(&["request", "list"]);
    cli.json(&["services"]);
    let key = cli.dir.path().join("dsr-signing.key");
    assert!(!key.exists(), "a reading command created a key");
    let r = cli.json(&[
        "request",
        "create",
        "--type",
        "export",
        "email:zoe.faure@gmail.com",
        "--wait",
    ]);
    assert!(key.exists(), "the worker of --wait created the key");
    let id = r["id"].as_str().unwrap();
    let pkg = cli.dir.path().join("p.json");
    let d = cli.json(&["request", "download", id, "--out", pkg.to_str().unwrap()]);
    assert_eq!(d["files"], 2, "request.json and the directory record");
    assert!(
        cli.ok(&["verify", pkg.to_str().unwrap()])
            .contains("signed with the trusted key")
    );
    let shown = cli.json(&["request", "show", &id[..13]]);
    assert!(
        shown["handedOver"]["manifestSha256"].is_string(),
        "hand-over recorded"
    );
    let text = std::fs::read_to_string(&pkg).unwrap();
    let bad = cli.dir.path().join("bad.json");
    std::fs::write(&bad, text.replacen("Faure", "Faur3", 1)).unwrap();
    let (code, out) = cli.fails(&["verify", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        out.contains("does NOT verify") && out.contains("altered"),
        "{out}"
    );
    // Another organisation's key is not accepted.
    let other = "0".repeat(64);
    let (code, out) = cli.fails(&["verify", pkg.to_str().unwrap(), "--key", &other]);
    assert_eq!(code, 1);
    assert!(out.contains("not the trusted one"), "{out}");
    // A delete request has no package.
    let del = cli.json(&["request", "create", "--type", "delete", "--id", "c-2002"]);
    let (_, out) = cli.fails(&[
        "request",
        "download",
        del["id"].as_str().unwrap(),
        "--out",
        "x.json",
    ]);
    assert!(out.contains("only export and portability"), "{out}");
}

#[test]
fn an_active_employee_waits_for_a_decision() {
    let cli = cli();
    let r = cli.json(&["request", "create", "--type", "delete", "userId:u-01"]);
    assert_eq!(r["status"], "on_hold");
    assert!(
        r["hold"]["reason"]
            .as_str()
            .unwrap()
            .contains("active employee")
    );
    let id = r["id"].as_str().unwrap();
    let (_, out) = cli.fails(&["request", "decide", id, "--proceed", "--reason", " "]);
    assert!(out.contains("justification"), "{out}");
    let d = cli.json(&[
        "request",
        "decide",
        id,
        "--proceed",
        "--reason",
        "left the company on 2026-02-28",
        "--by",
        "dpo",
    ]);
    assert_eq!(d["status"], "in_progress");
    assert_eq!(d["decision"]["by"], "dpo");
    let w = cli.json(&["request", "wait", id]);
    assert_eq!(w["status"], "completed");
    let ext = cli
        .fails(&["request", "extend", id, "--days", "10", "--reason", "x"])
        .1;
    assert!(ext.contains("finished"), "{ext}");
}

#[test]
fn extensions_cancellation_and_overdue_listing() {
    let cli = cli();
    let r = cli.json(&["request", "create", "--type", "export", "--id", "c-4001"]);
    let id = r["id"].as_str().unwrap();
    let e = cli.json(&[
        "request",
        "extend",
        id,
        "--days",
        "20",
        "--reason",
        "many systems",
    ]);
    assert_eq!(e["extensions"].as_array().unwrap().len(), 1);
    let (_, out) = cli.fails(&["request", "extend", id, "--days", "60", "--reason", "more"]);
    assert!(out.contains("at most two months"), "{out}");
    let (_, out) = cli.fails(&[
        "request",
        "extend",
        id,
        "--days",
        "4294967295",
        "--reason",
        "x",
    ]);
    assert!(out.contains("at most two months"), "{out}");
    assert_eq!(
        cli.json(&["request", "list", "--overdue"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let c = cli.json(&["request", "cancel", id]);
    assert_eq!(c["status"], "cancelled");
    // Cancelled: a new export for the same subject is no longer a duplicate.
    cli.json(&["request", "create", "--type", "export", "--id", "c-4001"]);
    let (_, out) = cli.fails(&["request", "create", "--type", "export", "--id", "c-4001"]);
    assert!(out.contains("already in flight"), "{out}");
    let again = cli.json(&[
        "request",
        "create",
        "--type",
        "export",
        "--id",
        "c-4001",
        "--existing",
    ]);
    assert_eq!(again["existing"], true);
}

#[test]
fn services_list_the_inventory_and_the_blind_spots() {
    let cli = cli();
    let v = cli.json(&["services"]);
    let names: Vec<&str> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["directory", "conversations"]);
    let spots = v["blindSpots"].to_string();
    assert!(spots.contains("custom attribute keys: note"), "{spots}");
    assert!(spots.contains("not linked to a contact"), "{spots}");
    assert!(cli.ok(&["services"]).contains("blind spots"));
}

#[test]
fn a_tampered_audit_log_fails_verification_naming_the_entry() {
    let cli = cli();
    cli.json(&[
        "request", "create", "--type", "delete", "--id", "c-2001", "--wait",
    ]);
    assert!(
        cli.json(&["audit", "verify"])["problems"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let store = dsr_store_sqlite::SqliteStore::open(cli.db()).unwrap();
    store
        .with_conn(|c| {
            c.execute_batch(
                "DROP TRIGGER audit_log_no_update;
                 UPDATE audit_log SET actor = 'nobody' WHERE idx = 2;",
            )
        })
        .unwrap();
    drop(store);
    let (code, out) = cli.fails(&["audit", "verify"]);
    assert_eq!(code, 1);
    assert!(out.contains("entry 2") && out.contains("altered"), "{out}");
}

#[test]
fn the_demo_runs_the_whole_workflow() {
    let dir = tempfile::tempdir().unwrap();
    let run = |json: bool| {
        let mut c = Command::new(crate::harness::bin());
        c.current_dir(dir.path()).arg("demo");
        if json {
            c.arg("--json");
        }
        c.output().unwrap()
    };
    let out = run(false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "related request",
        "kept 1 transactional",
        "digests OK",
        "on_hold",
        "refused",
        "chain verified",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    // Runs again from scratch, and as JSON.
    let out = run(true);
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["audit"]["verified"], true);
    assert_eq!(v["export"]["tamper_detected"], true);
    assert!(Path::new(v["export"]["package"].as_str().unwrap()).is_relative());
}

#[test]
fn the_example_configuration_is_valid_and_means_what_it_says() {
    let cli = cli();
    let cfg = cli.dir.path().join("dsr.toml");
    std::fs::copy(crate::harness::repo().join("examples/dsr.toml"), &cfg).unwrap();
    let v = cli.json(&["services", "--config", cfg.to_str().unwrap()]);
    let names: Vec<&str> = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["directory", "conversations", "billing", "newsletter"]
    );
    assert_eq!(v["services"][3]["erasure"], "anonymize");
    assert_eq!(v["retention"][0]["service"], "billing");
    assert_eq!(v["legalHolds"][0]["subject"], "c-4001");
    assert!(v["blindSpots"].to_string().contains("free_text_answers"));
    // The deadlines it sets are the ones requests get: export due in 2 days.
    let r = cli.json(&[
        "request",
        "create",
        "--type",
        "export",
        "--id",
        "c-1005",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    let created = chrono_like(&r["createdAt"]);
    let due = chrono_like(&r["dueAt"]);
    assert_eq!(due - created, 2 * 86_400, "{r}");
}

/// Seconds since the epoch of an RFC 3339 time as the CLI prints it.
fn chrono_like(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .timestamp()
}
