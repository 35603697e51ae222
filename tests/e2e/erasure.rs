//! Erasure reaches dsr's own copies (issue 13), from the user's side: import, export,
//! update, then erase a person, and afterwards search every byte dsr wrote (the
//! database file with its WAL, keys, logs and every command's output) for each of their
//! values; the audit chain still verifies, the erasure's facts are provable, an earlier
//! package download is refused. Also: suppression on re-import, file modes, per-tenant
//! keys and rotation, and `dsr verify` with and without a trusted key.
//!
//! Self-contained (its own helpers), so it runs as a test target of its own or as a
//! module of the e2e suite.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Cli {
    dir: tempfile::TempDir,
    /// Everything every command printed (stdout and stderr).
    log: std::cell::RefCell<String>,
}

impl Cli {
    fn new() -> Self {
        Cli {
            dir: tempfile::tempdir().expect("temporary folder"),
            log: Default::default(),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn run_in(&self, cwd: &Path, args: &[&str]) -> (i32, String) {
        let (code, out, err) = self.run_split(cwd, args);
        (code, format!("{out}{err}"))
    }
    fn run_split(&self, cwd: &Path, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_dsr"))
            .current_dir(cwd)
            .env_remove("DSR_DB")
            .env_remove("DSR_TENANT")
            .env_remove("DSR_CONFIG")
            .env("RUST_LOG", "debug")
            .args(args)
            .output()
            .expect("run dsr");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        self.log.borrow_mut().push_str(&stdout);
        self.log.borrow_mut().push_str(&stderr);
        (out.status.code().unwrap_or(-1), stdout, stderr)
    }
    fn run(&self, args: &[&str]) -> (i32, String) {
        let mut all = vec!["--db", "t.db"];
        all.extend_from_slice(args);
        self.run_in(self.path(), &all)
    }
    fn ok(&self, args: &[&str]) -> String {
        let (code, out) = self.run(args);
        assert_eq!(code, 0, "dsr {args:?} failed:\n{out}");
        out
    }
    fn json(&self, args: &[&str]) -> Value {
        let mut a = vec!["--db", "t.db"];
        a.extend_from_slice(args);
        a.push("--json");
        let (code, out, err) = self.run_split(self.path(), &a);
        assert_eq!(code, 0, "dsr {args:?} failed:\n{out}{err}");
        serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("dsr {args:?}: not JSON ({e}):\n{out}"))
    }
    fn file(&self, name: &str, text: &str) -> String {
        let p = self.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    hay.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

const PERSON: &str = r#"{"type":"external_contact","id":"c-4242","names":["Zoë Marchetti-Lindqvist"],"emails":["zoe.marchetti@example.org"],"phones":["+33 6 98 76 54 32"],"addresses":["17 rue des Glycines, 69003 Lyon"],"custom":{"loyalty":"platinum-9731"}}
{"type":"external_contact","id":"c-1","names":["Paul Durand"],"emails":["paul.durand@example.com"]}
"#;

/// The person's values, as written and in the forms dsr stores.
const VALUES: &[&str] = &[
    "Marchetti",
    "Lindqvist",
    "zoe.marchetti@example.org",
    "zoe.ml@example.net",
    "98 76 54 32",
    "+33698765432",
    "Glycines",
    "platinum-9731",
    "c-4242",
    "in person at the front desk",
];

#[test]
fn after_an_erasure_no_byte_dsr_wrote_holds_the_person_and_the_facts_stay_provable() {
    let cli = Cli::new();
    let data = cli.file("people.jsonl", PERSON);
    cli.ok(&["tenant", "create", "--region", "FR"]);
    cli.ok(&["import", &data]);
    std::fs::remove_file(&data).unwrap(); // the input is the user's, not dsr's

    // Export, hand the package over.
    let export = cli.json(&[
        "request",
        "create",
        "--type",
        "export",
        "email:zoe.marchetti@example.org",
        "--wait",
    ]);
    let export_id = export["id"].as_str().unwrap().to_owned();
    let pkg = cli.path().join("zoe.json");
    cli.ok(&[
        "request",
        "download",
        &export_id,
        "--out",
        pkg.to_str().unwrap(),
        "--to",
        "Zoë Marchetti-Lindqvist, in person at the front desk",
    ]);
    assert!(std::fs::read_to_string(&pkg).unwrap().contains("Marchetti"));
    // Update her email.
    cli.ok(&[
        "request",
        "create",
        "--type",
        "update",
        "--id",
        "c-4242",
        "--replace",
        "email:zoe.marchetti@example.org=zoe.ml@example.net",
        "--wait",
    ]);
    // Erase her.
    let del = cli.json(&[
        "request", "create", "--type", "delete", "--id", "c-4242", "--wait",
    ]);
    let del_id = del["id"].as_str().unwrap().to_owned();
    assert_eq!(del["status"], "completed", "{del}");

    // The earlier package can no longer be downloaded, and no new hand-over is recorded.
    let again = cli.path().join("again.json");
    let (code, out) = cli.run(&[
        "request",
        "download",
        &export_id,
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("erased by delete request") && out.contains("art. 17"),
        "{out}"
    );
    assert!(!again.exists());

    // The chain verifies; the facts of the erasure are there.
    assert!(cli.ok(&["audit", "verify"]).contains("verified"));
    let audit = cli.json(&["audit", "show"]);
    let entries = audit.as_array().unwrap();
    let actions_of = |id: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["request_id"] == id)
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    };
    let facts = actions_of(&del_id);
    for a in [
        "request.received",
        "task.done",
        "request.completed",
        "subject.erased_from_dsr",
    ] {
        assert!(facts.iter().any(|f| f == a), "{a} missing from {facts:?}");
    }
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["action"] == "package.handed_over")
            .count(),
        1,
        "one hand-over only"
    );
    let del_received = entries
        .iter()
        .find(|e| e["request_id"] == del_id.as_str() && e["action"] == "request.received")
        .unwrap();
    assert_eq!(del_received["actor"], "operator", "by which client");
    assert_eq!(del_received["detail"]["type"], "delete");

    // Reading commands after the erasure say nothing about her.
    cli.ok(&["request", "list"]);
    for id in [&export_id, &del_id] {
        cli.ok(&["request", "show", id]);
        cli.ok(&["request", "show", id, "--json"]);
    }
    cli.ok(&["purge", "--dry-run"]);
    cli.ok(&["worker", "--until-idle"]);

    // The package she was handed is hers now, not dsr's; everything else in the folder
    // (database, WAL, shared memory, keys) and everything every command printed since the
    // erasure is searched.
    std::fs::remove_file(&pkg).unwrap();
    let log_after = {
        let log = cli.log.borrow();
        let start = log.rfind("\"type\": \"delete\"").unwrap_or(0);
        log[start..].to_owned()
    };
    let mut hits = Vec::new();
    for f in files(cli.path()) {
        let bytes = std::fs::read(&f).unwrap();
        for v in VALUES {
            if contains(&bytes, v) {
                hits.push(format!("{} holds {v:?}", f.display()));
            }
        }
    }
    for v in VALUES {
        if log_after.contains(v) {
            hits.push(format!("a command's output after the erasure holds {v:?}"));
        }
    }
    assert!(
        hits.is_empty(),
        "personal data left after the erasure:\n{}",
        hits.join("\n")
    );
    // The other person is untouched.
    let db = std::fs::read(cli.path().join("t.db")).unwrap();
    assert!(contains(&db, "paul.durand@example.com"));

    // Suppression: she comes back from a backup, in another written form.
    let back = cli.file(
        "backup.jsonl",
        r#"{"type":"external_contact","id":"c-9000","emails":["Zoe.Marchetti+shop@Example.ORG"]}"#,
    );
    let out = cli.ok(&["import", &back]);
    assert!(out.contains("erased on") && out.contains(&del_id), "{out}");
    cli.ok(&["suppression", "refuse"]);
    let back2 = cli.file(
        "backup2.jsonl",
        r#"{"type":"external_contact","id":"c-9001","phones":["06 98 76 54 32"]}"#,
    );
    let (_, out) = cli.run(&["import", &back2]);
    assert!(out.contains("not imported"), "{out}");
    assert!(cli.json(&["suppression", "show"])["mode"] == "refuse");
}

#[cfg(unix)]
#[test]
fn database_keys_and_packages_are_private_files() {
    use std::os::unix::fs::PermissionsExt;
    let cli = Cli::new();
    let data = cli.file("people.jsonl", PERSON);
    cli.ok(&["import", &data]);
    let r = cli.json(&[
        "request", "create", "--type", "export", "--id", "c-1", "--wait",
    ]);
    let pkg = cli.path().join("p.json");
    cli.ok(&[
        "request",
        "download",
        r["id"].as_str().unwrap(),
        "--out",
        pkg.to_str().unwrap(),
    ]);
    for name in [
        "t.db",
        "t.db-wal",
        "dsr-signing.key",
        "dsr-signing.key.public.json",
        "p.json",
    ] {
        let p = cli.path().join(name);
        if !p.exists() {
            assert_eq!(name, "t.db-wal", "{name} missing");
            continue;
        }
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} has mode {mode:o}");
    }
}

#[test]
fn each_tenant_signs_with_its_own_key_and_verify_needs_a_trusted_one() {
    let cli = Cli::new();
    let data = cli.file("people.jsonl", PERSON);
    cli.ok(&["import", &data]);
    cli.ok(&["--tenant", "acme", "import", &data]);
    let download = |tenant: &str, name: &str| -> PathBuf {
        let r = cli.json(&[
            "--tenant", tenant, "request", "create", "--type", "export", "--id", "c-1", "--wait",
        ]);
        let p = cli.path().join(name);
        cli.ok(&[
            "--tenant",
            tenant,
            "request",
            "download",
            r["id"].as_str().unwrap(),
            "--out",
            p.to_str().unwrap(),
        ]);
        p
    };
    let mine = download("default", "mine.json");
    let theirs = download("acme", "acme.json");
    let key_of = |tenant: &str| -> String {
        cli.json(&["--tenant", tenant, "key", "show"])["keys"][0]["publicKey"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (k_default, k_acme) = (key_of("default"), key_of("acme"));
    assert_ne!(k_default, k_acme, "one key per tenant");
    assert!(cli.path().join("dsr-signing.acme.key").exists());

    // With the tenant's own keys: its package passes, the other tenant's does not.
    assert!(
        cli.ok(&["verify", mine.to_str().unwrap()])
            .contains("signed with the trusted key")
    );
    let (code, out) = cli.run(&["verify", theirs.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("not the trusted one"), "{out}");

    // A receiving party with no key: a valid signature by an unknown key is not a pass.
    let elsewhere = tempfile::tempdir().unwrap();
    let (code, out) = cli.run_in(elsewhere.path(), &["verify", mine.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("valid signature by an unknown key"), "{out}");
    let (code, out, _) = cli.run_split(
        elsewhere.path(),
        &["verify", mine.to_str().unwrap(), "--json"],
    );
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["reason"], "valid signature by an unknown key");
    assert_eq!(v["package"]["trusted_key"], Value::Null);
    // … given the key (hex, or the pinned JWK Set file), it passes.
    let (code, out) = cli.run_in(
        elsewhere.path(),
        &["verify", mine.to_str().unwrap(), "--key", &k_default],
    );
    assert_eq!(code, 0, "{out}");
    let jwks = cli.path().join("default.jwks");
    cli.ok(&["key", "export", "--out", jwks.to_str().unwrap()]);
    let (code, out) = cli.run_in(
        elsewhere.path(),
        &[
            "verify",
            mine.to_str().unwrap(),
            "--key",
            jwks.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = cli.run_in(
        elsewhere.path(),
        &[
            "verify",
            theirs.to_str().unwrap(),
            "--key",
            jwks.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{out}");

    // Rotation: a new key signs; packages signed before still verify.
    let rotated = cli.json(&["key", "rotate"]);
    assert_eq!(rotated["oldPublicKey"], k_default.as_str());
    let k_new = key_of("default");
    assert_ne!(k_new, k_default);
    let after = download("default", "after.json");
    let text = std::fs::read_to_string(&after).unwrap();
    assert!(text.contains(&k_new) && !text.contains(&k_default));
    assert!(
        cli.ok(&["verify", mine.to_str().unwrap()])
            .contains("signed with the trusted key")
    );
    assert!(
        cli.ok(&["verify", after.to_str().unwrap()])
            .contains("signed with the trusted key")
    );
    let shown = cli.json(&["key", "show"]);
    let statuses: Vec<&str> = shown["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["current", "retired"]);
    let jwks2 = cli.path().join("default2.jwks");
    cli.ok(&["key", "export", "--out", jwks2.to_str().unwrap()]);
    for p in [&mine, &after] {
        let (code, out) = cli.run_in(
            elsewhere.path(),
            &[
                "verify",
                p.to_str().unwrap(),
                "--key",
                jwks2.to_str().unwrap(),
            ],
        );
        assert_eq!(code, 0, "{out}");
    }
    assert!(cli.ok(&["audit", "verify"]).contains("verified"));
}
