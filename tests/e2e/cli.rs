//! The command line as people meet it: exit statuses a script can rely on, messages
//! that say what to do, tables that fit, ids that can be typed, the commands one
//! expects (completions, man page, logs, listings, unpacking).

use crate::harness::{Dsr, sample, stderr, stdout};
use serde_json::Value;

/// A configuration whose `crm` service always fails: an erasure only partly succeeds.
const FAILING: &str = r#"
organisation = "test"
[worker]
max_attempts = 1
[[services]]
name = "directory"
kind = "subjects"
erasure = "delete"
[[services]]
name = "crm"
kind = "memory"
erasure = "delete"
permanent_failure = "the CRM refused the call"
"#;

#[test]
fn a_partly_failed_erasure_is_a_non_zero_exit() {
    let d = Dsr::with_sample();
    let cfg = d.file("failing.toml", FAILING);
    let out = d.run(&[
        "request", "create", "--type", "delete", "--id", "c-1005", "--wait", "--config", &cfg,
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("partially_failed"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("not completed: partially_failed"),
        "{}",
        stderr(&out)
    );
    let id = d.json(&["request", "list"])[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = d.run(&["request", "wait", &id, "--config", &cfg]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "wait says the same: {}",
        stderr(&out)
    );
    // A completed one is 0.
    let out = d.run(&[
        "request", "create", "--type", "export", "--id", "u-02", "--wait",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_wait_that_times_out_says_so() {
    let d = Dsr::with_sample();
    let id = d.ok(&[
        "request", "create", "--type", "export", "--id", "c-1005", "-q",
    ]);
    let out = d.run(&["request", "wait", id.trim(), "--no-work", "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
}

#[test]
fn decide_names_both_choices() {
    let d = Dsr::with_sample();
    let id = d.ok(&[
        "request", "create", "--type", "delete", "--id", "u-01", "-q",
    ]);
    let (code, text) = d.fails(&["request", "decide", id.trim(), "--reason", "x"]);
    assert_eq!(code, 2);
    assert!(
        text.contains("--proceed") && text.contains("--refuse"),
        "{text}"
    );
    d.ok(&[
        "request",
        "decide",
        id.trim(),
        "--refuse",
        "--reason",
        "art. 17(3)(b)",
    ]);
}

#[test]
fn a_download_never_overwrites_without_force_and_unpacks_into_files() {
    let d = Dsr::with_sample();
    let id = d.ok(&[
        "request", "create", "--type", "export", "--id", "c-1005", "--wait", "-q",
    ]);
    let id = id.trim();
    let out = d.path().join("export.json");
    std::fs::write(&out, "precious").unwrap();
    let (code, text) = d.fails(&["request", "download", id, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(text.contains("--force"), "{text}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
    d.ok(&[
        "request",
        "download",
        id,
        "--out",
        out.to_str().unwrap(),
        "--force",
    ]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "a package is personal data: {mode:o}");
    }
    // Unpacked: the data as JSON, the attachments as the files they were (the demo's
    // export has a PDF attachment).
    let demo = d.path().join("demo");
    let summary = d.json(&["demo", "--dir", demo.to_str().unwrap()]);
    let out = std::path::PathBuf::from(summary["export"]["package"].as_str().unwrap());
    let out = if out.is_relative() {
        d.path().join(out)
    } else {
        out
    };
    let dir = d.path().join("unpacked");
    let v = d.json(&[
        "package",
        "unpack",
        out.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    let paths: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"request.json"), "{paths:?}");
    let pdf = paths
        .iter()
        .find(|p| p.ends_with(".pdf"))
        .unwrap_or_else(|| panic!("{paths:?}"));
    let bytes = std::fs::read(dir.join(pdf)).unwrap();
    assert!(bytes.starts_with(b"%PDF"), "an attachment is its own bytes");
    let request: Value =
        serde_json::from_slice(&std::fs::read(dir.join("request.json")).unwrap()).unwrap();
    assert!(request.is_object());
    // Not into a folder with other files, unless told.
    let (code, text) = d.fails(&[
        "package",
        "unpack",
        out.to_str().unwrap(),
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(text.contains("not empty"), "{text}");
    // A tampered package is not unpacked.
    let pkg = std::fs::read_to_string(&out).unwrap();
    let bad = d.file("bad.json", pkg.replacen("c-1005", "c-1006", 1));
    let other = d.path().join("other");
    let (_, text) = d.fails(&["package", "unpack", &bad, other.to_str().unwrap()]);
    assert!(text.contains("nothing unpacked"), "{text}");
    assert!(!other.exists());
}

#[test]
fn demo_dir_is_made_anew_but_only_if_the_demo_made_it() {
    let d = Dsr::new();
    let demo = d.path().join("demo");
    d.ok(&["demo", "--dir", demo.to_str().unwrap(), "--json"]);
    std::fs::write(demo.join("stale.txt"), "left over").unwrap();
    d.ok(&["demo", "--dir", demo.to_str().unwrap(), "--json"]);
    assert!(
        !demo.join("stale.txt").exists(),
        "the folder was not made anew"
    );
    let mine = d.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("thesis.tex"), "years of work").unwrap();
    let (code, text) = d.fails(&["demo", "--dir", mine.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(text.contains("not made by `dsr demo`"), "{text}");
    assert!(mine.join("thesis.tex").exists());
}

#[test]
fn tables_fit_80_columns_and_short_ids_are_unique_and_accepted() {
    let d = Dsr::with_sample();
    let mut ids = Vec::new();
    for id in ["c-1005", "u-02", "c-1004", "d-501", "c-1006"] {
        let out = d.run(&["request", "create", "--type", "export", "--id", id, "-q"]);
        if out.status.success() {
            ids.push(stdout(&out).trim().to_owned());
        }
    }
    assert!(ids.len() >= 3, "{ids:?}");
    let list = d.json(&["request", "list"]);
    let shorts: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["shortId"].as_str().unwrap())
        .collect();
    let mut unique = shorts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        shorts.len(),
        "requests made in the same second share a short id: {shorts:?}"
    );
    for s in &shorts {
        let shown = d.json(&["request", "show", s]);
        assert_eq!(shown["shortId"], *s);
    }
    for args in [
        &["request", "list"][..],
        &["subjects", "name:Jean Dupont"],
        &["subjects", "list"],
        &["services"],
        &["tenant", "list"],
    ] {
        let text = d.ok(args);
        for line in text.lines() {
            assert!(
                line.chars().count() <= 80,
                "{args:?}: {} columns: {line}",
                line.chars().count()
            );
        }
        if args[0] == "request" {
            for s in &shorts {
                assert!(text.contains(s), "the short id is shown whole: {text}");
            }
        }
    }
    let wide = d.ok(&["request", "list", "--wide"]);
    for id in &ids {
        assert!(wide.contains(id.as_str()), "{wide}");
    }
}

#[test]
fn options_go_before_or_after_the_subcommand() {
    let d = Dsr::with_sample();
    let mut c = Dsr::new();
    c.with_db = false;
    let db = d.db().display().to_string();
    let a = c.json(&["--db", &db, "request", "list"]);
    let b = c.json(&["request", "list", "--db", &db]);
    let e = c.json(&["request", "--db", &db, "list"]);
    assert_eq!(a, b);
    assert_eq!(a, e);
    let s1 = c.json(&["subjects", "list", "--db", &db, "--tenant", "default"]);
    assert_eq!(s1.as_array().unwrap().len(), 18);
    // --config only where it means something.
    let (code, _) = c.fails(&["normalize", "x", "--config", "dsr.toml"]);
    assert_eq!(code, 2);
}

#[test]
fn completions_man_page_and_logs() {
    let d = Dsr::with_sample();
    for shell in ["bash", "zsh", "fish"] {
        let text = d.ok(&["completions", shell]);
        assert!(text.contains("dsr") && text.contains("request"), "{shell}");
    }
    let man = d.ok(&["man"]);
    assert!(
        man.starts_with(".ie") || man.contains(".TH"),
        "{}",
        &man[..man.len().min(200)]
    );
    assert!(man.contains("dsr"));
    d.ok(&["request", "create", "--type", "export", "--id", "c-1005"]);
    let out = d.run(&["-v", "worker", "--until-idle"]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("INFO") && stderr(&out).contains("worker started"),
        "{}",
        stderr(&out)
    );
    let quiet = d.run(&["worker", "--until-idle"]);
    assert!(!stderr(&quiet).contains("INFO"), "{}", stderr(&quiet));
}

#[test]
fn user_facing_text_cites_the_gdpr_never_our_requirement_tags() {
    let d = Dsr::new();
    let demo = d.path().join("demo");
    let mut texts = vec![d.ok(&["demo", "--dir", demo.to_str().unwrap()])];
    let db = demo.join("demo.db").display().to_string();
    let cfg = demo.join("dsr.toml").display().to_string();
    let mut c = Dsr::new();
    c.with_db = false;
    for args in [
        &["--db", db.as_str(), "services", "--config", cfg.as_str()][..],
        &["--db", db.as_str(), "request", "list", "--wide"],
        &[
            "--db",
            db.as_str(),
            "request",
            "create",
            "--type",
            "delete",
            "--id",
            "u-01",
        ],
    ] {
        texts.push(c.ok(args));
    }
    for help in [
        &["--help"][..],
        &["request", "--help"],
        &["request", "create", "--help"],
        &["request", "download", "--help"],
        &["services", "--help"],
        &["subjects", "--help"],
        &["import", "--help"],
    ] {
        texts.push(c.ok(help));
    }
    let tag = |t: &str| {
        t.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '-'))
            .find(|w| {
                let mut p = w.splitn(2, '-');
                matches!((p.next(), p.next()), (Some("G" | "S" | "Q"), Some(n)) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            })
            .map(str::to_owned)
    };
    for t in &texts {
        assert_eq!(tag(t), None, "an internal tag in user-facing text:\n{t}");
    }
    let _ = sample;
}

#[test]
fn a_hand_over_recipient_with_control_characters_is_refused() {
    let d = Dsr::with_sample();
    let id = d.ok(&[
        "request", "create", "--type", "export", "--id", "c-1005", "--wait", "-q",
    ]);
    let out = d.path().join("p.json");
    let (code, text) = d.fails(&[
        "request",
        "download",
        id.trim(),
        "--out",
        out.to_str().unwrap(),
        "--to",
        "Zoë\u{1b}[31m",
    ]);
    assert_eq!(code, 2);
    assert!(text.contains("control character U+001B"), "{text}");
    assert!(
        !out.exists(),
        "nothing written when the hand-over is refused"
    );
}
