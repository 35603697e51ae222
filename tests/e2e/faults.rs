//! Faults a command meets in real use: a reader that goes away, a full disk, a database
//! or tenant that is not there, a lock held by another process, a damaged row or key.

use crate::harness::{Dsr, repo_file, stderr, stdout};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Runs the command with its standard output closed by the reader at once, as
/// `dsr … | head -0` would: it must end quietly (status 141, or 0 if it had written
/// everything before), never with a panic.
fn closed_pipe(d: &Dsr, args: &[&str]) {
    let mut child = d
        .cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(
        matches!(out.status.code(), Some(141) | Some(0) | Some(1)),
        "{args:?}: status {:?}: {err}",
        out.status.code()
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(!err.contains("Broken pipe"), "{args:?} is not quiet: {err}");
}

#[test]
fn every_command_ends_quietly_on_a_closed_pipe() {
    let d = Dsr::with_sample();
    let big = d.file(
        "big.jsonl",
        (0..3000)
            .map(|i| {
                format!(
                    "{{\"type\":\"external_contact\",\"id\":\"x-{i}\",\"name\":\"Name {i}\"}}\n"
                )
            })
            .collect::<String>(),
    );
    let terms = d.file("t.txt", "jean.dupont@example.fr\n".repeat(2000));
    let compliance = repo_file("examples/compliance/mistakes.toml");
    for args in [
        &["import", big.as_str(), "--json"][..],
        &["subjects", "name:Jean Dupont"],
        &["subjects", "--batch", terms.as_str()],
        &["subjects", "list", "--limit", "0", "--json"],
        &["normalize", "--batch", terms.as_str(), "--json"],
        &["tenant", "show"],
        &["tenant", "list"],
        &["compliance", "rules"],
        &[
            "compliance",
            "check",
            compliance.as_str(),
            "--format",
            "json",
        ],
        &["request", "create", "--type", "export", "--id", "c-1005"],
        &["request", "list"],
        &["services"],
        &["audit", "show"],
        &["man"],
        &["completions", "bash"],
    ] {
        closed_pipe(&d, args);
    }
}

#[test]
fn a_full_standard_output_is_reported_not_a_panic() {
    let d = Dsr::with_sample();
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        eprintln!("skipped: no /dev/full on this system");
        return;
    };
    let out = d
        .cmd(&["subjects", "list", "--json"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_mistyped_database_or_tenant_is_an_error_not_an_empty_answer() {
    let d = Dsr::with_sample();
    // A database that does not exist is not created.
    let mut other = Dsr::new();
    other.with_db = false;
    for args in [
        &["--db", "typo.db", "subjects", "jean.dupont@example.fr"][..],
        &["subjects", "jean.dupont@example.fr", "--db", "typo.db"],
        &["--db", "typo.db", "request", "list"],
        &["--db", "typo.db", "worker", "--until-idle"],
        &["--db", "typo.db", "tenant", "show"],
    ] {
        let (code, text) = other.fails(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(text.contains("typo.db does not exist"), "{args:?}: {text}");
        assert!(
            !other.path().join("typo.db").exists(),
            "{args:?} created the file"
        );
    }
    // A tenant that does not exist is named with the ones that do.
    for args in [
        &["--tenant", "acmee", "subjects", "jean.dupont@example.fr"][..],
        &["request", "list", "--tenant", "acmee"],
        &[
            "--tenant", "acmee", "request", "create", "--type", "export", "--id", "c-1005",
        ],
    ] {
        let (code, text) = d.fails(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(
            text.contains("tenant \"acmee\" does not exist") && text.contains("default"),
            "{args:?}: {text}"
        );
    }
    assert_eq!(d.json(&["tenant", "list"]).as_array().unwrap().len(), 1);
    // Only an import or `tenant create` creates one.
    d.ok(&["tenant", "create", "acme", "--region", "DE"]);
    let list = d.json(&["tenant", "list"]);
    assert_eq!(list[0]["tenant"], "acme");
    assert_eq!(list[0]["defaultRegion"], "DE");
    let r = d.json(&["--tenant", "acme", "subjects", "jean.dupont@example.fr"]);
    assert_eq!(r["matches"].as_array().unwrap().len(), 0);
}

#[test]
fn a_file_that_is_not_a_database_says_so_once() {
    let d = Dsr::new();
    std::fs::write(
        d.db(),
        "these are not the droids you are looking for, ".repeat(100),
    )
    .unwrap();
    let (code, text) = d.fails(&["subjects", "x"]);
    assert_eq!(code, 2);
    assert!(text.contains("not a dsr (SQLite) database"), "{text}");
    assert_eq!(
        text.matches("not a database").count(),
        1,
        "said once: {text}"
    );
    assert!(!text.contains("Error code"), "{text}");
}

#[test]
fn a_worker_waits_for_a_lock_held_by_another_process_instead_of_dying() {
    let d = Dsr::with_sample();
    d.ok(&["request", "create", "--type", "export", "--id", "c-1005"]);
    let store = dsr_store_sqlite::SqliteStore::open(d.db()).unwrap();
    store
        .with_conn(|c| c.execute_batch("BEGIN IMMEDIATE"))
        .unwrap();
    let mut worker = d
        .cmd(&["worker", "--until-idle"])
        .env("DSR_BUSY_TIMEOUT_MS", "100")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker exited while the lock was held"
    );
    store.with_conn(|c| c.execute_batch("COMMIT")).unwrap();
    let started = Instant::now();
    let out = loop {
        if let Some(_status) = worker.try_wait().unwrap() {
            break worker.wait_with_output().unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "worker did not finish"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("busy") && err.contains("trying again"),
        "{err}"
    );
    let list = d.json(&["request", "list"]);
    assert_eq!(list[0]["status"], "completed", "{list}");
}

#[test]
fn one_damaged_stored_request_is_named_and_the_others_are_listed() {
    let d = Dsr::with_sample();
    let a = d.ok(&[
        "request", "create", "--type", "export", "--id", "c-1005", "-q",
    ]);
    let b = d.ok(&[
        "request", "create", "--type", "export", "--id", "u-02", "-q",
    ]);
    let bad = a.trim().to_owned();
    let store = dsr_store_sqlite::SqliteStore::open(d.db()).unwrap();
    store
        .with_conn(|c| {
            c.execute(
                "UPDATE requests SET doc = '{\"truncated' WHERE id = ?1",
                [bad.as_str()],
            )
        })
        .unwrap();
    drop(store);
    let out = d.run(&["request", "list", "--wide"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&bad), "{}", stderr(&out));
    assert!(stdout(&out).contains(b.trim()), "{}", stdout(&out));
}

#[test]
fn a_damaged_signing_key_says_how_to_recover_and_a_new_one_is_private() {
    let d = Dsr::with_sample();
    std::fs::write(d.path().join("dsr-signing.key"), "").unwrap();
    let (code, text) = d.fails(&["worker", "--until-idle"]);
    assert_eq!(code, 2);
    assert!(
        text.contains("empty") && text.contains("delete the file"),
        "{text}"
    );
    std::fs::remove_file(d.path().join("dsr-signing.key")).unwrap();
    d.ok(&["worker", "--until-idle"]);
    let key = d.path().join("dsr-signing.key");
    let text = std::fs::read_to_string(&key).unwrap();
    assert_eq!(text.trim().len(), 64, "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn two_processes_creating_the_key_at_once_agree_on_one() {
    let d = Dsr::with_sample();
    for _ in 0..2 {
        d.ok(&[
            "request",
            "create",
            "--type",
            "export",
            "--id",
            "c-1005",
            "--existing",
        ]);
    }
    let children: Vec<_> = (0..4)
        .map(|_| {
            d.cmd(&["worker", "--until-idle"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let v = d.json(&["request", "list"]);
    let id = v[0]["id"].as_str().unwrap().to_owned();
    let pkg = d.path().join("p.json");
    d.ok(&["request", "download", &id, "--out", pkg.to_str().unwrap()]);
    // Signed with the key on disk, whichever process made it.
    d.ok(&["verify", pkg.to_str().unwrap()]);
}
