//! Several `dsr worker` processes on one PostgreSQL database (issue 9): concurrent
//! request creators, hundreds of requests, one worker killed with SIGKILL midway.
//! Every request completes, no task is recorded done twice, the audit chain verifies
//! and no duplicate request slipped through. Needs `DSR_TEST_POSTGRES` (a server where
//! the user may create databases; `.ci/postgres` starts one); skipped visibly without
//! it, and failing under CI.

use crate::harness::*;
use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
organisation = "multi-node test"

[worker]
concurrency = 8
lease_seconds = 2
max_attempts = 100
backoff_ms = 20
backoff_cap_ms = 200
poll_ms = 20

[[services]]
name = "directory"
kind = "subjects"
erasure = "delete"

[[services]]
name = "crm"
kind = "memory"
erasure = "delete"
latency_ms = 30
"#;

fn database(name: &str) -> Option<String> {
    let Ok(admin) = std::env::var("DSR_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the PostgreSQL tests: set DSR_TEST_POSTGRES (see .ci/postgres)"
        );
        eprintln!("SKIPPED {name}: no PostgreSQL (set DSR_TEST_POSTGRES)");
        return None;
    };
    let db = format!("dsr_e2e_{name}_{}", std::process::id());
    for sql in [
        format!("DROP DATABASE IF EXISTS {db}"),
        format!("CREATE DATABASE {db}"),
    ] {
        let out = std::process::Command::new("psql")
            .args([admin.as_str(), "-qc", sql.as_str()])
            .output()
            .expect("psql (from the postgresql client package)");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    Some(format!("{}/{db}", admin.rsplit_once('/').unwrap().0))
}

/// Kills the workers however the test ends (a failed assertion must not leave them
/// running against the database).
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for w in &mut self.0 {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

#[test]
fn several_workers_on_postgres_with_one_killed_lose_nothing() {
    let Some(url) = database("multinode") else {
        return;
    };
    let mut d = Dsr::new();
    d.with_db = false;
    let cfg = d.file("dsr.toml", CONFIG);
    let with = |args: &[&str]| -> Vec<String> {
        let mut v = vec![
            "--db".to_owned(),
            url.clone(),
            "--config".into(),
            cfg.clone(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: &[&str]| {
        let a = with(args);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        d.run(&a)
    };
    assert!(
        run(&["tenant", "create", "--region", "FR"])
            .status
            .success()
    );
    let n = 300;
    let lines: String = (0..n)
        .map(|i| {
            format!(
                "{{\"kind\":\"external_contact\",\"id\":\"c-{i}\",\"names\":[\"Person {i}\"],\"emails\":[\"p{i}@example.org\"]}}\n"
            )
        })
        .collect();
    let file = d.file("subjects.jsonl", lines);
    let out = run(&["import", &file, "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let spawn = |name: &str| -> Child {
        let a = with(&["worker"]);
        d.cmd(&a.iter().map(String::as_str).collect::<Vec<_>>())
            .env("DSR_WORKER_ID", name)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a worker")
    };
    let mut victim = spawn("victim");
    let survivors = Workers(vec![spawn("w1"), spawn("w2")]);
    // Three creators at once, every subject asked for twice (a duplicate must be refused).
    let creators: Vec<_> = (0..3)
        .map(|k| {
            let cfg = cfg.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                let mut ok = 0;
                let mut dup = 0;
                for i in (k..n).step_by(3).chain((k..n).step_by(3)) {
                    let out = std::process::Command::new(bin())
                        .args([
                            "--db", &url, "--config", &cfg, "request", "create", "--type",
                            "export", "--quiet",
                        ])
                        .arg(format!("email:p{i}@example.org"))
                        .output()
                        .expect("run dsr");
                    if out.status.success() {
                        ok += 1;
                    } else if stderr(&out).contains("already in flight") {
                        dup += 1;
                    } else {
                        panic!("request create failed: {}", stderr(&out));
                    }
                }
                (ok, dup)
            })
        })
        .collect();
    // Kill the victim once it holds leases (mid-task: its calls take 30 ms each).
    let actor = format!("worker:worker-{}-%", victim.id());
    let until = Instant::now() + Duration::from_secs(60);
    while Instant::now() < until {
        let out = std::process::Command::new("psql")
            .args([url.as_str(), "-Atc", &format!("SELECT count(*) FROM (SELECT action, actor, detail, request_id, service FROM audit_log UNION ALL SELECT action, actor, detail, request_id, service FROM audit_pending) a WHERE action = 'task.claimed' AND actor LIKE '{actor}'")])
            .output()
            .expect("psql");
        if stdout(&out).trim().parse::<u64>().unwrap_or(0) > 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    victim.kill().expect("SIGKILL the victim");
    let _ = victim.wait();
    let mut created = 0;
    for c in creators {
        let (ok, _dup) = c.join().expect("creator");
        created += ok;
    }
    // Each subject has one export in flight at a time: at least n were created, and
    // the second asks were either refused (still in flight) or made after completion.
    assert!(created >= n, "{created} created");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = std::process::Command::new("psql")
            .args([
                url.as_str(),
                "-Atc",
                "SELECT count(*), count(*) FILTER (WHERE status <> 'completed') FROM requests",
            ])
            .output()
            .expect("psql");
        let text = stdout(&out);
        let (total, open) = text.trim().split_once('|').expect("two counts");
        let (total, open): (usize, usize) = (total.parse().unwrap(), open.parse().unwrap());
        if total == created && open == 0 {
            break;
        }
        let rows = vec![(); total];
        assert!(
            Instant::now() < deadline,
            "{open} of {} requests still open",
            rows.len()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(survivors);
    // The chain verifies, and no task was recorded done twice.
    let out = run(&["audit", "verify"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("entries verified"),
        "{}",
        stdout(&out)
    );
    let out = std::process::Command::new("psql")
        .args([url.as_str(), "-Atc", "SELECT request_id || '/' || service, count(*) FROM (SELECT action, actor, detail, request_id, service FROM audit_log UNION ALL SELECT action, actor, detail, request_id, service FROM audit_pending) a WHERE action = 'task.done' GROUP BY 1"])
        .output()
        .expect("psql");
    let mut done: BTreeMap<String, u64> = BTreeMap::new();
    for line in stdout(&out).lines() {
        let (k, v) = line.rsplit_once('|').unwrap();
        done.insert(k.to_owned(), v.parse().unwrap());
    }
    assert_eq!(done.len(), 2 * created, "every task recorded done");
    assert!(done.values().all(|c| *c == 1), "a task recorded done twice");
    let out = std::process::Command::new("psql")
        .args([url.as_str(), "-Atc", "SELECT count(*) FROM (SELECT subject_id FROM requests WHERE status NOT IN ('completed','partially_failed','failed','cancelled','refused') GROUP BY subject_id, type HAVING count(*) > 1) d"])
        .output()
        .expect("psql");
    assert_eq!(stdout(&out).trim(), "0", "no duplicate in flight");
    let reclaimed = std::process::Command::new("psql")
        .args([url.as_str(), "-Atc", "SELECT count(*) FROM (SELECT action, actor, detail, request_id, service FROM audit_log UNION ALL SELECT action, actor, detail, request_id, service FROM audit_pending) a WHERE action = 'task.claimed' AND detail LIKE '%reclaimed_from%'"])
        .output()
        .expect("psql");
    eprintln!(
        "multinode: {created} requests, {} tasks, reclaimed after the kill: {}",
        done.len(),
        stdout(&reclaimed).trim()
    );
}

/// An erased person coming back in an import (from a backup, a sync) is caught on
/// PostgreSQL as on SQLite: the tenant's suppression list is the database's own, a
/// warning by default and a refused line in `refuse` mode (GDPR art. 17).
#[test]
fn an_import_on_postgres_consults_the_suppression_list() {
    let Some(url) = database("suppression") else {
        return;
    };
    let mut d = Dsr::new();
    d.with_db = false;
    let cfg = d.file(
        "dsr.toml",
        "[[services]]\nname = \"directory\"\nkind = \"subjects\"\nerasure = \"delete\"\n",
    );
    let run = |args: &[&str]| {
        let mut a = vec!["--db", url.as_str(), "--config", cfg.as_str()];
        a.extend_from_slice(args);
        d.run(&a)
    };
    let ok = |args: &[&str]| {
        let out = run(args);
        assert!(out.status.success(), "dsr {args:?}: {}", stderr(&out));
        format!("{}{}", stdout(&out), stderr(&out))
    };
    ok(&["tenant", "create", "--region", "FR"]);
    let people = d.file(
        "people.jsonl",
        concat!(
            r#"{"type":"external_contact","id":"c-1","names":["Zoé Marchetti"],"emails":["zoe.marchetti@example.org"],"phones":["+33 6 98 76 54 32"]}"#,
            "\n",
            r#"{"type":"external_contact","id":"c-2","names":["Paul Durand"],"emails":["paul.durand@example.com"]}"#,
            "\n"
        ),
    );
    let json = |args: &[&str]| -> serde_json::Value {
        let out = run(args);
        assert!(out.status.success(), "dsr {args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)))
    };
    let report = json(&["import", &people, "--json"]);
    assert_eq!(report["created"], 2, "{report}");
    ok(&[
        "request", "create", "--type", "delete", "--id", "c-1", "--wait",
    ]);
    let shown = json(&["suppression", "show", "--json"]);
    assert!(shown["identifiers"].as_u64().unwrap() >= 3, "{shown}");
    // Retention on PostgreSQL: nothing is due yet, and a dry run says so.
    let purge = json(&["purge", "--dry-run", "--json"]);
    assert_eq!(purge["dry_run"], true, "{purge}");
    assert!(purge["scanned"].as_u64().unwrap() >= 1, "{purge}");
    assert!(ok(&["purge"]).contains("removed 0 packages"));
    assert_eq!(shown["mode"], "warn");

    // She comes back in another written form: imported, with a warning naming it.
    let back = d.file(
        "backup.jsonl",
        r#"{"type":"external_contact","id":"c-9000","emails":["Zoe.Marchetti@Example.ORG"]}"#,
    );
    let out = ok(&["import", &back]);
    assert!(out.contains("erased on"), "{out}");
    // Paul was never erased: no warning for him.
    let paul = d.file(
        "paul.jsonl",
        r#"{"type":"external_contact","id":"c-2","names":["Paul Durand"],"emails":["paul.durand@example.com"]}"#,
    );
    let out = ok(&["import", &paul]);
    assert!(!out.contains("erased on"), "{out}");

    // Lookups on PostgreSQL: the directory as the database has it.
    let found = ok(&["subjects", "paul.durand@example.com"]);
    assert!(found.contains("c-2"), "{found}");
    let listed = ok(&["subjects", "list"]);
    assert!(
        listed.contains("c-2") && listed.contains("c-9000"),
        "{listed}"
    );
    ok(&["suppression", "refuse"]);
    let back2 = d.file(
        "backup2.jsonl",
        r#"{"type":"external_contact","id":"c-9001","phones":["06 98 76 54 32"]}"#,
    );
    let out = run(&["import", &back2]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        !out.status.success(),
        "a refused line fails the import: {text}"
    );
    assert!(text.contains("not imported"), "{text}");
    let out = std::process::Command::new("psql")
        .args([
            url.as_str(),
            "-Atc",
            "SELECT string_agg(id, ',' ORDER BY id) FROM subjects",
        ])
        .output()
        .expect("psql");
    assert_eq!(stdout(&out).trim(), "c-2,c-9000", "{}", stderr(&out));
}
