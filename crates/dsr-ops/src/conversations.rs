//! The conversations import (`dsr import --conversations FILE`, G-12): JSON Lines, one
//! conversation per line, with its messages and attachments, into the tables of the
//! built-in conversations service (format: `docs/import-format.md`).
//!
//! Like the subjects import, each line is checked on its own and reported by its line
//! number; good lines land (in batches), bad ones are counted and named, a line longer
//! than the bound is skipped unread. Attachments are read from the files the line names
//! (a path relative to the import file, or a `file:` URL), each at most
//! [`MAX_ATTACHMENT_BYTES`]; their content is never searched (a blind spot), only
//! exported with the conversation and erased when the subject uploaded it.
//!
//! A conversation links to a subject by `subject_id` (any kind), `external_contact_id`
//! or `external_id` (one of a subject's external ids). A link that matches no subject of
//! the tenant, or no link at all, still lands — the data exists in the organisation —
//! but is reported as **unlinked**: a request for that person cannot find it (G-14).

use crate::import::{LineIssue, json_error, line_text, read_line_bounded};
use crate::{Error, Result};
use dsr_model::TenantId;
use dsr_store_sqlite::SqliteStore;
use dsr_store_sqlite::conversations::{AttachmentRow, ConversationRow};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// The largest attachment file read.
pub const MAX_ATTACHMENT_BYTES: u64 = 25 * 1024 * 1024;
/// The longest line read by default (a conversation's messages; attachments are files).
pub const DEFAULT_MAX_LINE_BYTES: usize = 4 * 1024 * 1024;
/// The most messages and attachments one conversation may have.
pub const MAX_ITEMS: usize = 10_000;

/// How the import reads its input.
#[derive(Debug, Clone)]
pub struct ConversationImportOptions {
    /// Where relative attachment paths are found (the import file's folder).
    pub base_dir: PathBuf,
    /// Longest line, bytes.
    pub max_line_bytes: usize,
    /// Conversations per transaction.
    pub batch_size: usize,
}

impl Default for ConversationImportOptions {
    fn default() -> Self {
        ConversationImportOptions {
            base_dir: PathBuf::from("."),
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            batch_size: 200,
        }
    }
}

/// What the import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConversationReport {
    /// Lines read (blank ones included).
    pub lines: usize,
    /// Conversations that landed.
    pub imported: usize,
    /// Of those, ids already stored (replaced, with their attachments).
    pub replaced: usize,
    /// Messages landed.
    pub messages: usize,
    /// Attachments landed.
    pub attachments: usize,
    /// Of those, uploaded by the subject (erased on DELETE whatever their content).
    pub attachments_by_subject: usize,
    /// Rejected lines.
    pub rejected: usize,
    /// Why each was rejected.
    pub errors: Vec<LineIssue>,
    /// Conversations that landed but link to no known subject (G-14 blind spots).
    pub unlinked: Vec<LineIssue>,
}

impl ConversationReport {
    /// Whether every line landed linked to a subject.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty() && self.unlinked.is_empty()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    id: String,
    channel: String,
    #[serde(default)]
    subject_id: Option<String>,
    #[serde(default)]
    external_contact_id: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    started_at: String,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    attachments: Vec<AttachmentLine>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Message {
    sender: Sender,
    text: String,
    #[serde(alias = "time")]
    at: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Sender {
    Subject,
    Agent,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentLine {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    content_type: Option<String>,
    uploaded_by: Sender,
}

fn check_time(what: &str, v: &str) -> std::result::Result<String, String> {
    chrono::DateTime::parse_from_rfc3339(v.trim())
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        })
        .map_err(|_| format!("{what} {v:?} is not a time (RFC 3339, e.g. 2026-03-02T09:15:00Z)"))
}

fn check_name(what: &str, v: &str, max: usize) -> std::result::Result<(), String> {
    if v.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if v.len() > max {
        return Err(format!("{what} is longer than {max} bytes"));
    }
    if v.chars().any(char::is_control) {
        return Err(format!("{what} contains control characters"));
    }
    Ok(())
}

/// The subjects' ids and external ids, to tell linked conversations from blind spots.
struct Links {
    ids: HashSet<String>,
    external: HashSet<String>,
}

impl Links {
    fn load(store: &SqliteStore, tenant: &TenantId) -> Result<Self> {
        let mut l = Links {
            ids: HashSet::new(),
            external: HashSet::new(),
        };
        for s in store.load_subjects(tenant)? {
            l.external.extend(s.external_ids.iter().cloned());
            l.ids.insert(s.id.to_string());
        }
        Ok(l)
    }
}

/// Reads an attachment the line names; the error names it.
fn read_attachment(
    a: &AttachmentLine,
    base: &Path,
    n: usize,
) -> std::result::Result<AttachmentRow, String> {
    let at = |m: String| format!("attachments[{n}]: {m}");
    let path = match (&a.path, &a.url) {
        (Some(p), None) => base.join(p),
        (None, Some(u)) => match u.strip_prefix("file://") {
            Some(p) if p.starts_with('/') => PathBuf::from(p),
            _ if u.starts_with("http://") || u.starts_with("https://") => {
                return fetch_attachment(a, u).map_err(at);
            }
            _ => {
                return Err(at(format!(
                    "{u:?} is neither a file:///absolute/path nor an http(s) URL"
                )));
            }
        },
        (Some(_), Some(_)) => return Err(at("give \"path\" or \"url\", not both".into())),
        (None, None) => return Err(at("needs a \"path\" (or a file:// \"url\")".into())),
    };
    let name = match &a.name {
        Some(n) => n.clone(),
        None => path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| at(format!("{} names no file", path.display())))?,
    };
    check_name("name", &name, 255).map_err(at)?;
    let meta =
        std::fs::metadata(&path).map_err(|e| at(format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(at(format!("{} is not a file", path.display())));
    }
    if meta.len() > MAX_ATTACHMENT_BYTES {
        return Err(at(format!(
            "{} is {} bytes: at most {MAX_ATTACHMENT_BYTES} are accepted",
            path.display(),
            meta.len()
        )));
    }
    let data =
        std::fs::read(&path).map_err(|e| at(format!("cannot read {}: {e}", path.display())))?;
    let content_type = match &a.content_type {
        Some(c) => {
            check_name("content_type", c, 127).map_err(at)?;
            c.clone()
        }
        None => dsr_engine::manual::content_type(&name).to_owned(),
    };
    Ok(AttachmentRow {
        name,
        content_type,
        data,
        uploaded_by_subject: a.uploaded_by == Sender::Subject,
    })
}

/// Longest an attachment download may take.
const FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Downloads an attachment given by an http(s) URL (the connectors' client: rustls with
/// the system's roots; redirects are not followed, so the URL must be the file's).
fn fetch_attachment(a: &AttachmentLine, u: &str) -> std::result::Result<AttachmentRow, String> {
    let url = url::Url::parse(u).map_err(|e| format!("{u:?} is not a URL: {e}"))?;
    let shown = dsr_connectors::http::client::shown(&url);
    let tls = dsr_connectors::http::client::tls_connector(None)?;
    let client = dsr_connectors::http::client::Client::new(
        tls,
        FETCH_TIMEOUT,
        MAX_ATTACHMENT_BYTES as usize,
    );
    // On a thread of its own: the import may run inside an async runtime or not.
    let target = url.clone();
    let resp = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(client.send("GET", &target, &[], Vec::new()))
            .map_err(|e| match e {
                dsr_connectors::http::client::SendError::Unreachable(m)
                | dsr_connectors::http::client::SendError::Refused(m) => m,
            })
    })
    .join()
    .map_err(|_| format!("downloading {shown} failed"))??;
    if !(200..300).contains(&resp.status) {
        return Err(format!(
            "downloading {shown}: the server answered {} (give the file's own URL, or download it and give its \"path\")",
            resp.status
        ));
    }
    let name = match &a.name {
        Some(n) => n.clone(),
        None => url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("{shown} names no file: give the attachment a \"name\""))?,
    };
    check_name("name", &name, 255)?;
    let content_type = match &a.content_type {
        Some(c) => {
            check_name("content_type", c, 127)?;
            c.clone()
        }
        None => resp
            .header("content-type")
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_owned())
            .filter(|c| !c.is_empty() && c.len() <= 127)
            .unwrap_or_else(|| dsr_engine::manual::content_type(&name).to_owned()),
    };
    Ok(AttachmentRow {
        name,
        content_type,
        data: resp.body.to_vec(),
        uploaded_by_subject: a.uploaded_by == Sender::Subject,
    })
}

/// One parsed line: the row to store, and its link if it names no known subject.
fn parse(
    text: &str,
    base: &Path,
    links: &Links,
) -> std::result::Result<(ConversationRow, Option<String>, usize), String> {
    if !text.trim_start().starts_with('{') {
        return Err("expected a JSON object (one conversation per line, like {\"id\": \"conv-1\", \"channel\": \"email\", \"external_contact_id\": \"c-1\", …})".into());
    }
    let l: Line = serde_json::from_str(text).map_err(|e| json_error(&e))?;
    check_name("id", &l.id, 256)?;
    check_name("channel", &l.channel, 64)?;
    let started_at = check_time("started_at", &l.started_at)?;
    if l.messages.len() > MAX_ITEMS || l.attachments.len() > MAX_ITEMS {
        return Err(format!(
            "at most {MAX_ITEMS} messages and {MAX_ITEMS} attachments per conversation"
        ));
    }
    let given: Vec<(&str, &String)> = [
        ("subject_id", &l.subject_id),
        ("external_contact_id", &l.external_contact_id),
        ("external_id", &l.external_id),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    .collect();
    let (link, known) = match given.as_slice() {
        [] => (None, false),
        [(k, v)] => {
            check_name(k, v, 256)?;
            let known = match *k {
                "external_id" => links.external.contains(v.as_str()),
                _ => links.ids.contains(v.as_str()),
            };
            (Some((*k, v.trim().to_owned())), known)
        }
        _ => {
            return Err(
                "give one of subject_id, external_contact_id or external_id (the conversation's link to its contact)".into(),
            );
        }
    };
    let mut messages = Vec::with_capacity(l.messages.len());
    for (i, mut m) in l.messages.into_iter().enumerate() {
        m.at = check_time(&format!("messages[{i}].at"), &m.at)?;
        messages.push(m);
    }
    let mut attachments = Vec::with_capacity(l.attachments.len());
    for (i, a) in l.attachments.iter().enumerate() {
        attachments.push(read_attachment(a, base, i)?);
    }
    let n_messages = messages.len();
    let body = serde_json::to_string(&serde_json::json!({ "messages": messages }))
        .map_err(|e| e.to_string())?;
    let unlinked = match &link {
        None => Some("it names no subject_id, external_contact_id or external_id".to_owned()),
        Some((k, v)) if !known => Some(format!("its {k} {v:?} matches no subject of the tenant")),
        _ => None,
    };
    Ok((
        ConversationRow {
            id: l.id.trim().to_owned(),
            link: link.map(|(_, v)| v),
            channel: l.channel.trim().to_owned(),
            started_at,
            body,
            attachments,
        },
        unlinked,
        n_messages,
    ))
}

/// Imports conversations from JSON Lines into the tenant (which must exist).
pub fn import_conversations(
    store: &SqliteStore,
    tenant: &TenantId,
    mut input: impl BufRead,
    opts: &ConversationImportOptions,
) -> Result<ConversationReport> {
    crate::require_tenant(store, tenant)?;
    let links = Links::load(store, tenant)?;
    let mut report = ConversationReport::default();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut batch: Vec<ConversationRow> = Vec::new();
    let mut line = Vec::new();
    let flush = |batch: &mut Vec<ConversationRow>, report: &mut ConversationReport| -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        for c in batch.iter() {
            if store.conversation_exists(tenant, &c.id)? {
                report.replaced += 1;
            }
        }
        store.replace_conversations(tenant, batch)?;
        batch.clear();
        Ok(())
    };
    loop {
        line.clear();
        let (n, long) = read_line_bounded(&mut input, &mut line, Some(opts.max_line_bytes))
            .map_err(|e| Error::Io {
                what: format!("reading line {}", report.lines + 1),
                source: e,
            })?;
        if n == 0 {
            break;
        }
        report.lines += 1;
        let line_no = report.lines;
        let reject = |report: &mut ConversationReport, message: String| {
            report.rejected += 1;
            report.errors.push(LineIssue {
                line: line_no,
                message,
            });
        };
        if long {
            reject(
                &mut report,
                format!(
                    "the line is longer than {} bytes and was not read (one conversation per line; attachments are files named by \"path\")",
                    opts.max_line_bytes
                ),
            );
            continue;
        }
        let text = match line_text(&line, line_no) {
            Ok(t) => t,
            Err(m) => {
                reject(&mut report, m);
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        let (row, unlinked, n_messages) = match parse(text, &opts.base_dir, &links) {
            Ok(p) => p,
            Err(m) => {
                reject(&mut report, m);
                continue;
            }
        };
        if let Some(first) = seen.get(&row.id) {
            reject(
                &mut report,
                format!(
                    "conversation {:?} is already on line {first}: one line per conversation",
                    row.id
                ),
            );
            continue;
        }
        seen.insert(row.id.clone(), line_no);
        if let Some(why) = unlinked {
            report.unlinked.push(LineIssue {
                line: line_no,
                message: format!(
                    "conversation {:?} landed but {why}: a request for that person will not find it (a blind spot, G-14); import the contact or fix the link",
                    row.id
                ),
            });
        }
        report.imported += 1;
        report.messages += n_messages;
        report.attachments += row.attachments.len();
        report.attachments_by_subject += row
            .attachments
            .iter()
            .filter(|a| a.uploaded_by_subject)
            .count();
        batch.push(row);
        if batch.len() >= opts.batch_size.max(1) {
            flush(&mut batch, &mut report)?;
        }
    }
    flush(&mut batch, &mut report)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (SqliteStore, TenantId) {
        let s = SqliteStore::open_in_memory().unwrap();
        let t = TenantId::new("t").unwrap();
        s.create_tenant(&t).unwrap();
        let mut c = dsr_model::Subject::new(
            dsr_model::SubjectKind::ExternalContact,
            dsr_model::SubjectId::new("c-1").unwrap(),
        );
        c.external_ids.push("crm-77".into());
        s.upsert_subjects(&t, &[c]).unwrap();
        (s, t)
    }

    #[test]
    fn good_lines_land_bad_ones_are_named_by_line_and_unlinked_ones_reported() {
        let (s, t) = store();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("id.png"), b"\x89PNG").unwrap();
        let input = [
            r#"{"id":"k1","channel":"whatsapp","external_contact_id":"c-1","started_at":"2026-02-01T10:00:00+01:00","messages":[{"sender":"subject","text":"Bonjour","at":"2026-02-01T10:00:00Z"}],"attachments":[{"path":"id.png","uploaded_by":"subject"}]}"#,
            r#"{"id":"k2","channel":"email","external_id":"crm-77","started_at":"nope"}"#,
            "",
            r#"{"id":"k3","channel":"email","external_id":"crm-99","started_at":"2026-02-01T10:00:00Z"}"#,
            r#"{"id":"k4","channel":"email","subject_id":"c-1","started_at":"2026-02-01T10:00:00Z","attachments":[{"url":"http://127.0.0.1:9/a.pdf","uploaded_by":"agent"}]}"#,
            r#"{"id":"k1","channel":"email","subject_id":"c-1","started_at":"2026-02-01T10:00:00Z"}"#,
            r#"{"id":"k5","channel":"email","subject_id":"c-1","external_id":"crm-77","started_at":"2026-02-01T10:00:00Z"}"#,
            r#"[1]"#,
        ]
        .join("\n");
        let opts = ConversationImportOptions {
            base_dir: dir.path().to_owned(),
            ..Default::default()
        };
        let r = import_conversations(&s, &t, input.as_bytes(), &opts).unwrap();
        assert_eq!((r.lines, r.imported, r.rejected), (8, 2, 5), "{r:?}");
        let lines: Vec<usize> = r.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 5, 6, 7, 8]);
        assert!(r.errors[0].message.contains("started_at \"nope\""));
        assert!(
            r.errors[1].message.contains("attachments[0]")
                && r.errors[1].message.contains("127.0.0.1:9"),
            "{}",
            r.errors[1].message
        );
        assert!(r.errors[2].message.contains("already on line 1"));
        assert!(r.errors[3].message.contains("give one of"));
        assert_eq!(r.unlinked.len(), 1);
        assert_eq!(r.unlinked[0].line, 4);
        assert!(r.unlinked[0].message.contains("crm-99"));
        assert_eq!(
            (r.messages, r.attachments, r.attachments_by_subject),
            (1, 1, 1)
        );
        // Re-importing replaces by id.
        let again = r#"{"id":"k1","channel":"whatsapp","subject_id":"c-1","started_at":"2026-02-01T10:00:00Z"}"#;
        let r = import_conversations(&s, &t, again.as_bytes(), &opts).unwrap();
        assert_eq!((r.imported, r.replaced), (1, 1));
        let n: i64 = s
            .with_conn(|c| c.query_row("SELECT count(*) FROM attachments", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(n, 0, "the replaced conversation's attachments went with it");
    }

    #[test]
    fn an_attachment_by_http_url_is_downloaded_and_a_failed_download_is_the_lines_error() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming().take(2) {
                let mut c = conn.unwrap();
                let mut buf = [0u8; 2048];
                let n = c.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let answer = if req.starts_with("GET /files/scan.pdf ") {
                    "HTTP/1.1 200 OK\r\ncontent-type: application/pdf\r\ncontent-length: 9\r\nconnection: close\r\n\r\n%PDF-scan"
                } else {
                    "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                };
                let _ = c.write_all(answer.as_bytes());
            }
        });
        let (s, t) = store();
        let dir = tempfile::tempdir().unwrap();
        let input = format!(
            "{}\n{}\n",
            format_args!(
                r#"{{"id":"u1","channel":"email","subject_id":"c-1","started_at":"2026-02-01T10:00:00Z","attachments":[{{"url":"http://{addr}/files/scan.pdf","uploaded_by":"subject"}}]}}"#
            ),
            format_args!(
                r#"{{"id":"u2","channel":"email","subject_id":"c-1","started_at":"2026-02-01T10:00:00Z","attachments":[{{"url":"http://{addr}/gone.pdf","uploaded_by":"subject"}}]}}"#
            ),
        );
        let opts = ConversationImportOptions {
            base_dir: dir.path().to_owned(),
            ..Default::default()
        };
        let r = import_conversations(&s, &t, input.as_bytes(), &opts).unwrap();
        assert_eq!((r.imported, r.rejected), (1, 1), "{r:?}");
        assert_eq!(r.errors[0].line, 2);
        assert!(
            r.errors[0].message.contains("404"),
            "{}",
            r.errors[0].message
        );
        let (name, ty, data): (String, String, Vec<u8>) = s
            .with_conn(|c| {
                c.query_row(
                    "SELECT name, content_type, data FROM attachments",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
            })
            .unwrap();
        assert_eq!(
            (name.as_str(), ty.as_str(), data.as_slice()),
            ("scan.pdf", "application/pdf", &b"%PDF-scan"[..])
        );
    }

    #[test]
    fn a_long_line_is_skipped_and_the_next_one_read() {
        let (s, t) = store();
        let long = format!(
            r#"{{"id":"k1","channel":"email","subject_id":"c-1","started_at":"2026-02-01T10:00:00Z","messages":[{{"sender":"agent","text":"{}","at":"2026-02-01T10:00:00Z"}}]}}"#,
            "x".repeat(200)
        );
        let input = format!(
            "{long}\n{}\n",
            r#"{"id":"k2","channel":"email","subject_id":"c-1","started_at":"2026-02-01T10:00:00Z"}"#
        );
        let opts = ConversationImportOptions {
            max_line_bytes: 100,
            ..Default::default()
        };
        let r = import_conversations(&s, &t, input.as_bytes(), &opts).unwrap();
        assert_eq!((r.imported, r.rejected), (1, 1));
        assert_eq!(r.errors[0].line, 1);
        assert!(r.errors[0].message.contains("longer than 100 bytes"));
    }
}
