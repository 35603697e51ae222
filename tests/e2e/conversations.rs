//! `dsr import --conversations` (issue 11, G-12) from the user's side: a bad line is
//! named by its number and the good ones land, an unlinked conversation is reported as a
//! blind spot, an export carries the subject's conversations and attachments (digested
//! in the signed package), a DELETE removes every attachment the subject uploaded and
//! nothing of anybody else's (checked row by row); PostgreSQL says plainly it has no
//! conversations service.

use crate::harness::*;
use std::collections::BTreeSet;

/// Conversations of c-1005 (Zoë Faure), of c-1001 and of c-1003 by its external id,
/// one bad line, one unlinked one.
fn conversations(d: &Dsr) -> String {
    std::fs::create_dir_all(d.path().join("files")).unwrap();
    d.file("files/zoe-id.png", b"\x89PNG zoe's identity card");
    d.file("files/invoice-zoe.pdf", b"%PDF invoice sent by the agent");
    d.file("files/jean-id.png", b"\x89PNG jean's identity card");
    d.file("files/jd-photo.jpg", b"JPEG j. dupont");
    let abs = d.path().join("files/jd-photo.jpg").display().to_string();
    d.file(
        "conversations.jsonl",
        [
            r#"{"id":"wa-1","channel":"whatsapp","external_contact_id":"c-1005","started_at":"2026-02-01T10:00:00Z","messages":[{"sender":"subject","text":"Bonjour, voici ma carte","at":"2026-02-01T10:00:00Z"},{"sender":"agent","text":"Merci, voici la facture","at":"2026-02-01T10:05:00Z"}],"attachments":[{"path":"files/zoe-id.png","uploaded_by":"subject"},{"path":"files/invoice-zoe.pdf","uploaded_by":"agent"}]}"#.to_owned(),
            r#"{"id":"mail-2","channel":"email","subject_id":"c-1005","started_at":"2026-02-03T08:00:00+01:00","messages":[{"sender":"subject","text":"Where is my order?","at":"2026-02-03T07:00:00Z"}]}"#.to_owned(),
            r#"{"id":"mail-3","channel":"email","external_contact_id":"c-1001","started_at":"2026-02-02T10:00:00Z","messages":[{"sender":"subject","text":"Hello","at":"2026-02-02T10:00:00Z"}],"attachments":[{"path":"files/jean-id.png","uploaded_by":"subject"}]}"#.to_owned(),
            r#"{"id":"bad-4","channel":"email","external_contact_id":"c-1005","started_at":"last tuesday"}"#.to_owned(),
            format!(r#"{{"id":"dm-5","channel":"twitter_dm","external_id":"CRM-88231","started_at":"2026-02-04T10:00:00Z","attachments":[{{"url":"file://{abs}","uploaded_by":"subject"}}]}}"#),
            r#"{"id":"chat-6","channel":"web_messaging","started_at":"2026-02-05T10:00:00Z","messages":[{"sender":"subject","text":"no profile","at":"2026-02-05T10:00:00Z"}]}"#.to_owned(),
        ]
        .join("\n"),
    )
}

/// Every attachment row (conversation, name, uploader, bytes) and conversation row.
#[allow(clippy::type_complexity)]
fn rows(
    d: &Dsr,
) -> (
    BTreeSet<(String, String, bool, Vec<u8>)>,
    BTreeSet<(String, Option<String>, String)>,
) {
    let store = dsr_store_sqlite::SqliteStore::open(d.db()).unwrap();
    store
        .with_conn(|c| {
            let a = c
                .prepare(
                    "SELECT conversation_id, name, uploaded_by_subject, data FROM attachments",
                )?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<BTreeSet<_>, _>>()?;
            let k = c
                .prepare("SELECT id, subject_id, body FROM conversations")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<BTreeSet<_>, _>>()?;
            Ok((a, k))
        })
        .unwrap()
}

#[test]
fn an_import_reports_bad_and_unlinked_lines_and_the_export_carries_the_conversations() {
    let d = Dsr::with_sample();
    let file = conversations(&d);
    let out = d.run(&["import", "--conversations", &file]);
    assert_eq!(out.status.code(), Some(1), "a rejected line: exit 1");
    let err = stderr(&out);
    assert!(
        err.contains("line 4: started_at \"last tuesday\" is not a time"),
        "{err}"
    );
    assert!(
        err.contains("warning: line 6: conversation \"chat-6\" landed but it names no"),
        "{err}"
    );
    assert!(
        stdout(&out).contains("imported 5 conversations"),
        "{}",
        stdout(&out)
    );
    let out = d.run(&["import", "--conversations", &file, "--quiet", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let r: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(r["imported"], 5);
    assert_eq!(r["replaced"], 5, "a second import replaces by id");
    assert_eq!(r["rejected"], 1);
    assert_eq!(r["attachments"], 4);
    assert_eq!(r["attachments_by_subject"], 3);
    assert_eq!(r["unlinked"][0]["line"], 6);
    assert_eq!(r["conversations_service_configured"], true);
    // A conversation too long for a line is named and skipped; an unknown field too.
    let bad = d.file("bad.jsonl", "{\"id\":\"x\",\"channel\":\"email\",\"subject_id\":\"c-1005\",\"started_at\":\"2026-02-01T10:00:00Z\",\"colour\":1}\n");
    let (_, out) = d.fails(&["import", "--conversations", &bad]);
    assert!(out.contains("line 1: unknown field `colour`"), "{out}");

    let id = d.ok(&[
        "request", "create", "--type", "export", "--id", "c-1005", "--wait", "-q",
    ]);
    let id = id.trim();
    d.ok(&["request", "download", id, "--out", "p.json"]);
    d.ok(&["verify", "p.json"]);
    d.ok(&["package", "unpack", "p.json", "out"]);
    let convs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            d.path()
                .join("out/services/conversations/communications.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let ids: Vec<&str> = convs
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["data"]["conversation"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["wa-1", "mail-2"], "only hers, in time order");
    assert_eq!(convs[0]["data"]["messages"][1]["sender"], "agent");
    assert_eq!(convs[0]["data"]["attachments"][0]["uploaded_by"], "subject");
    let card = std::fs::read(
        d.path()
            .join("out/services/conversations/attachments/1-zoe-id.png"),
    )
    .unwrap();
    assert_eq!(card, b"\x89PNG zoe's identity card");
    // Each attachment's SHA-256 is in the signed manifest.
    let pkg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("p.json")).unwrap()).unwrap();
    let digest = dsr_engine::audit::sha256_hex(b"\x89PNG zoe's identity card");
    assert!(
        pkg["manifest"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["sha256"] == digest.as_str()),
        "{}",
        pkg["manifest"]
    );
    // Found through the external id too (c-1003 holds CRM-88231).
    let id = d.ok(&[
        "request", "create", "--type", "export", "--id", "c-1003", "--wait", "-q",
    ]);
    let show = d.json(&["request", "show", id.trim()]);
    let conv = show["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["service"] == "conversations")
        .unwrap()
        .clone();
    assert_eq!(
        (conv["records"].as_u64(), conv["attachments"].as_u64()),
        (Some(1), Some(1)),
        "{conv}"
    );
}

#[test]
fn a_delete_removes_the_subjects_attachments_and_nothing_else() {
    for mode in ["anonymize", "delete"] {
        let d = Dsr::with_sample();
        let cfg = d.file(
            "dsr.toml",
            format!(
                "[[services]]\nname = \"directory\"\nkind = \"subjects\"\nerasure = \"delete\"\n\n[[services]]\nname = \"conversations\"\nkind = \"conversations\"\nerasure = \"{mode}\"\n"
            ),
        );
        let file = conversations(&d);
        d.run(&["import", "--conversations", &file]);
        let (att_before, conv_before) = rows(&d);
        d.ok(&[
            "request", "create", "--type", "delete", "--id", "c-1005", "--wait", "-q", "--config",
            &cfg,
        ]);
        let (att_after, conv_after) = rows(&d);
        // Zoë's conversations are wa-1 and mail-2: every attachment she uploaded is gone.
        let hers = |c: &str| c == "wa-1" || c == "mail-2";
        assert!(
            !att_after.iter().any(|a| hers(&a.0) && a.2),
            "{mode}: an attachment she uploaded is left: {att_after:?}"
        );
        // Everybody else's rows are exactly as they were, byte for byte.
        let others_a = |s: &BTreeSet<(String, String, bool, Vec<u8>)>| -> BTreeSet<_> {
            s.iter().filter(|a| !hers(&a.0)).cloned().collect()
        };
        assert_eq!(
            others_a(&att_before),
            others_a(&att_after),
            "{mode}: others' attachments"
        );
        let others_c = |s: &BTreeSet<(String, Option<String>, String)>| -> BTreeSet<_> {
            s.iter().filter(|c| !hers(&c.0)).cloned().collect()
        };
        assert_eq!(
            others_c(&conv_before),
            others_c(&conv_after),
            "{mode}: others' conversations"
        );
        assert_eq!(others_c(&conv_after).len(), 3);
        let her_convs: Vec<_> = conv_after.iter().filter(|c| hers(&c.0)).collect();
        match mode {
            // Anonymized: the conversations stay without text or link; the agent's
            // invoice stays (only what the subject uploaded goes whatever the mode).
            "anonymize" => {
                assert_eq!(her_convs.len(), 2);
                assert!(
                    her_convs
                        .iter()
                        .all(|c| c.1.is_none() && c.2 == "[anonymized]"),
                    "{her_convs:?}"
                );
                let left: Vec<_> = att_after
                    .iter()
                    .filter(|a| hers(&a.0))
                    .map(|a| a.1.as_str())
                    .collect();
                assert_eq!(left, ["invoice-zoe.pdf"]);
            }
            _ => {
                assert!(her_convs.is_empty(), "{her_convs:?}");
                assert!(!att_after.iter().any(|a| hers(&a.0)));
            }
        }
        d.ok(&["audit", "verify"]);
    }
}

#[test]
fn conversations_on_postgres_are_refused_by_name() {
    let mut d = Dsr::new();
    d.with_db = false;
    let file = d.file("c.jsonl", "{}\n");
    let (code, out) = d.fails(&[
        "import",
        "--conversations",
        &file,
        "--db",
        "postgres://dsr@127.0.0.1:1/none",
    ]);
    assert_eq!(code, 2);
    assert!(
        out.contains("not available with a PostgreSQL database"),
        "{out}"
    );
}
