//! Manual services (issue 11, G-18) from the user's side: a `kind = "manual"` service
//! leaves its task waiting on a person, `dsr task list --manual` shows it, `dsr task
//! complete … --evidence FILE` answers it, the request completes with the evidence in
//! its signed package and the audit log, reminders come once each, an overdue one shows
//! in `dsr request list --overdue`; the same on PostgreSQL when `DSR_TEST_POSTGRES` is set.

use crate::harness::*;
use serde_json::Value;

const CONFIG: &str = r#"
organisation = "Acme (manual test)"

[[services]]
name = "directory"
kind = "subjects"
erasure = "delete"

[[services]]
name = "archive"
kind = "manual"
erasure = "delete"
categories = ["customer_relationship"]
assignee = "records team <records@acme.example>"
instructions = """Search the paper archive by name and postcode.
Scan what you find; shred it on erasure."""
remind_before_hours = 24
"#;

/// The sample in a folder with the configuration above.
fn setup() -> Dsr {
    let d = Dsr::with_sample();
    d.file("dsr.toml", CONFIG);
    d
}

/// Moves a request's service target (due date) to `hours` from now, as time passing
/// would.
fn set_due(d: &Dsr, id: &str, hours: i64) {
    let due = chrono::Utc::now() + chrono::Duration::hours(hours);
    let store = dsr_store_sqlite::SqliteStore::open(d.db()).unwrap();
    store
        .with_conn(|c| {
            c.execute(
                "UPDATE requests SET due_us = ?2, doc = json_set(doc, '$.due_at', ?3) WHERE id = ?1",
                (id, due.timestamp_micros(), due.to_rfc3339()),
            )
        })
        .unwrap();
}

fn waiting(d: &Dsr) -> Vec<Value> {
    d.json(&["task", "list", "--manual"])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn an_export_waits_on_a_person_until_their_answer_completes_it() {
    let d = setup();
    let id = d
        .ok(&[
            "request", "create", "--type", "export", "--id", "c-1005", "-q",
        ])
        .trim()
        .to_owned();
    d.ok(&["worker", "--until-idle"]);
    // The worker did the machine's part and handed the archive to the records team.
    let r = d.json(&["request", "show", &id]);
    assert_eq!(r["status"], "in_progress");
    let archive = r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["service"] == "archive")
        .unwrap()
        .clone();
    assert_eq!(archive["status"], "waiting");
    assert_eq!(
        archive["manual"]["assignee"],
        "records team <records@acme.example>"
    );
    // `request wait` does not hang on a person: it says so and exits 1.
    let out = d.run(&["request", "wait", &id, "--timeout", "20"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("dsr task complete"),
        "{}",
        stderr(&out)
    );

    let list = waiting(&d);
    assert_eq!(list.len(), 1, "{list:?}");
    let task = list[0]["taskId"].as_str().unwrap().to_owned();
    assert_eq!(task, format!("{}/archive", &id[id.len() - 12..]));
    assert_eq!(list[0]["subjectId"], "c-1005");
    assert!(
        list[0]["instructions"]
            .as_str()
            .unwrap()
            .contains("paper archive")
    );
    assert_eq!(list[0]["overdue"], false);
    assert_eq!(
        list[0]["reminderDue"],
        Value::Null,
        "due in 2 days, reminded 24 h before"
    );
    let text = d.ok(&["task", "list", "--manual"]);
    assert!(
        text.contains(&task) && text.contains("do         Scan what you find"),
        "{text}"
    );
    assert!(!text.contains("OVERDUE"), "{text}");

    // Due within the lead time: one reminder, recorded once.
    set_due(&d, &id, 12);
    let text = d.ok(&["task", "list", "--manual"]);
    assert!(text.contains("before_due due"), "{text}");
    let rem = d.json(&["task", "remind"]);
    assert_eq!(rem.as_array().unwrap().len(), 1, "{rem}");
    assert_eq!(rem[0]["reminder"], "before_due");
    assert_eq!(
        d.json(&["task", "remind"]).as_array().unwrap().len(),
        0,
        "no spam"
    );

    // Past its due date: visible as overdue, with who it waits on.
    assert_eq!(
        d.json(&["request", "list", "--overdue"])
            .as_array()
            .unwrap()
            .len(),
        0
    );
    set_due(&d, &id, -2);
    let late = d.json(&["request", "list", "--overdue"]);
    assert_eq!(late.as_array().unwrap().len(), 1, "{late}");
    assert_eq!(late[0]["id"], id.as_str());
    assert_eq!(late[0]["waitingOn"][0]["taskId"], task.as_str());
    let text = d.ok(&["request", "list", "--overdue"]);
    assert!(
        text.contains("OVERDUE") && text.contains(&format!("{task}  waits on records team")),
        "{text}"
    );
    assert!(d.ok(&["task", "list", "--manual"]).contains("OVERDUE"));
    let rem = d.json(&["task", "remind"]);
    assert_eq!(rem[0]["reminder"], "overdue");
    assert_eq!(d.json(&["task", "remind"]).as_array().unwrap().len(), 0);

    // Wrong answers are refused with what is accepted.
    let ev = d.file("archive-scan.pdf", b"%PDF-1.4 card of Zoe, box 14");
    let (code, out) = d.fails(&[
        "task",
        "complete",
        &task,
        "--outcome",
        "maybe",
        "--evidence",
        &ev,
    ]);
    assert_eq!(code, 2);
    assert!(out.contains("done, nothing-found or failed"), "{out}");
    let (_, out) = d.fails(&[
        "task",
        "complete",
        &task,
        "--outcome",
        "done",
        "--evidence",
        "nope.pdf",
    ]);
    assert!(out.contains("nope.pdf"), "{out}");
    let (_, out) = d.fails(&[
        "task",
        "complete",
        &format!("{}/crm", &id[..8]),
        "--outcome",
        "done",
        "--evidence",
        &ev,
    ]);
    assert!(
        out.contains("no task for service \"crm\"") && out.contains("archive, directory"),
        "{out}"
    );
    let (_, out) = d.fails(&[
        "task",
        "complete",
        &format!("{}/directory", &id[id.len() - 12..]),
        "--outcome",
        "done",
        "--evidence",
        &ev,
    ]);
    assert!(out.contains("manual service"), "{out}");
    let (_, out) = d.fails(&[
        "task",
        "complete",
        &task,
        "--outcome",
        "done",
        "--evidence",
        &ev,
        "--count",
        "3",
    ]);
    assert!(out.contains("--count is for update and delete"), "{out}");

    // The answer, typed as people type ids: the request's short id alone.
    let records = d.file(
        "found.json",
        r#"[{"card": "customer since 1998", "box": 14}]"#,
    );
    let done = d.json(&[
        "task",
        "complete",
        &id[id.len() - 12..],
        "--outcome",
        "done",
        "--evidence",
        &ev,
        "--records",
        &records,
        "--note",
        "box 14, shelf 3",
        "--by",
        "ana",
    ]);
    assert_eq!(done["requestFinished"], true, "{done}");
    assert_eq!(done["request"]["status"], "completed");
    let digest = done["task"]["manual"]["answer"]["evidenceSha256"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(digest.len(), 64);
    assert_eq!(
        done["task"]["manual"]["answer"]["evidenceName"],
        "archive-scan.pdf"
    );
    assert!(waiting(&d).is_empty());
    let (_, out) = d.fails(&[
        "task",
        "complete",
        &task,
        "--outcome",
        "done",
        "--evidence",
        &ev,
    ]);
    assert!(out.contains("finished"), "{out}");

    // The package holds the records, the evidence file and its digest; it verifies.
    d.ok(&["request", "download", &id, "--out", "p.json"]);
    let pkg = std::fs::read_to_string(d.path().join("p.json")).unwrap();
    assert!(pkg.contains(&digest), "evidence digest in the package");
    assert!(pkg.contains("customer since 1998"));
    assert!(pkg.contains("services/archive/attachments/1-archive-scan.pdf"));
    d.ok(&["verify", "p.json"]);
    d.ok(&["package", "unpack", "p.json", "unpacked"]);
    let scan = std::fs::read(
        d.path()
            .join("unpacked/services/archive/attachments/1-archive-scan.pdf"),
    )
    .unwrap();
    assert_eq!(scan, b"%PDF-1.4 card of Zoe, box 14");
    // The audit log names the evidence by digest, the person who answered, and the
    // reminders; the note and file name are sealed; the chain verifies.
    let log = d.json(&["audit", "show", "--request", &id]);
    let entries = log.as_array().unwrap();
    let by_action = |a: &str| entries.iter().filter(|e| e["action"] == a).count();
    assert_eq!(by_action("task.waiting"), 1);
    assert_eq!(by_action("task.reminder"), 2);
    let answered = entries
        .iter()
        .find(|e| e["action"] == "task.done" && e["service"] == "archive")
        .unwrap();
    assert_eq!(answered["actor"], "ana");
    assert_eq!(answered["detail"]["evidence_sha256"], digest.as_str());
    assert!(
        !answered.to_string().contains("box 14, shelf 3"),
        "the note is sealed"
    );
    d.ok(&["audit", "verify"]);
}

#[test]
fn a_delete_waiting_on_a_person_can_be_cancelled_or_answered_nothing_found() {
    let d = setup();
    // Only the manual service: nothing irreversible has run, so it can be cancelled.
    let only = d.file(
        "manual-only.toml",
        CONFIG
            .split("[[services]]")
            .nth(2)
            .map(|s| format!("[[services]]{s}"))
            .unwrap(),
    );
    let id = d
        .ok(&[
            "request", "create", "--type", "delete", "--id", "c-1005", "-q", "--config", &only,
        ])
        .trim()
        .to_owned();
    d.ok(&["worker", "--until-idle", "--config", &only]);
    assert_eq!(waiting(&d).len(), 1);
    let c = d.json(&["request", "cancel", &id, "--config", &only]);
    assert_eq!(c["status"], "cancelled");
    assert!(
        waiting(&d).is_empty(),
        "a cancelled request's task no longer waits"
    );

    // Nothing found: done with no records; the last task settles the delete.
    let id = d
        .ok(&[
            "request", "create", "--type", "delete", "--id", "c-1005", "-q",
        ])
        .trim()
        .to_owned();
    d.ok(&["worker", "--until-idle"]);
    let ev = d.file(
        "search-log.txt",
        "searched boxes 1-40: nothing under that name",
    );
    let task = format!("{}/archive", &id[..12]);
    let done = d.json(&[
        "task",
        "complete",
        &task,
        "--outcome",
        "nothing-found",
        "--evidence",
        &ev,
    ]);
    assert_eq!(done["request"]["status"], "completed", "{done}");
    assert_eq!(done["task"]["action"], "deleted");
    assert_eq!(done["task"]["records"], 0);
    d.ok(&["audit", "verify"]);
}

#[test]
fn manual_tasks_on_postgres() {
    let Ok(admin) = std::env::var("DSR_TEST_POSTGRES") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the PostgreSQL tests: set DSR_TEST_POSTGRES (see .ci/postgres)"
        );
        eprintln!("SKIPPED manual_tasks_on_postgres: no PostgreSQL (set DSR_TEST_POSTGRES)");
        return;
    };
    let db = format!("dsr_e2e_manual_{}", std::process::id());
    for sql in [
        format!("DROP DATABASE IF EXISTS {db}"),
        format!("CREATE DATABASE {db}"),
    ] {
        let out = std::process::Command::new("psql")
            .args([admin.as_str(), "-qc", sql.as_str()])
            .output()
            .expect("psql");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let url = format!("{}/{db}", admin.rsplit_once('/').unwrap().0);
    let mut d = Dsr::new();
    d.with_db = false;
    d.file("dsr.toml", CONFIG);
    let pg = |args: &[&str]| -> Vec<String> {
        let mut v = vec!["--db".to_owned(), url.clone()];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };
    let ok = |args: &[&str]| d.ok(&pg(args).iter().map(String::as_str).collect::<Vec<_>>());
    ok(&["tenant", "create", "--region", "FR"]);
    ok(&["import", &sample(), "--quiet"]);
    let id = ok(&[
        "request", "create", "--type", "export", "--id", "c-1005", "-q",
    ])
    .trim()
    .to_owned();
    ok(&["worker", "--until-idle"]);
    let list: Value = serde_json::from_str(&ok(&["task", "list", "--manual", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["assignee"], "records team <records@acme.example>");
    let ev = d.file("scan.pdf", b"%PDF scan");
    let task = list[0]["taskId"].as_str().unwrap().to_owned();
    let done: Value = serde_json::from_str(&ok(&[
        "task",
        "complete",
        &task,
        "--outcome",
        "done",
        "--evidence",
        &ev,
        "--json",
    ]))
    .unwrap();
    assert_eq!(done["request"]["status"], "completed", "{done}");
    ok(&["request", "download", &id, "--out", "p.json"]);
    // The package's key is in the current folder, where the PostgreSQL commands keep it:
    // `dsr verify` finds it with the same --db.
    assert!(ok(&["verify", "p.json"]).contains("signed with the trusted key"));
    assert!(ok(&["audit", "verify"]).contains("verified"));
    let _ = std::process::Command::new("psql")
        .args([
            admin.as_str(),
            "-qc",
            &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        ])
        .output();
}
