//! The JSON Lines import pipeline shared by `dsr import`, the server's
//! `POST /subjects/import` and a host application.
//!
//! Each line is checked on its own and reported by its line number; good lines land in
//! batches (or all at once with `all_or_nothing`). What is refused and why:
//!
//! - a line that is not a JSON object (an array would otherwise be read positionally);
//! - text that is not UTF-8, a field that is unknown (a misspelt `emailz` would lose
//!   data), a value the model refuses;
//! - an id that appeared on an earlier line of the same input: one line per subject, so
//!   a second record never silently replaces the first (ids are compared after the
//!   surrounding white space is removed, which is warned about).
//!
//! - a subject with an identifier of a person erased earlier (the tenant's suppression
//!   list of keyed hashes), when the tenant refuses such re-imports; otherwise the line
//!   lands with a warning naming the erasure's date, so data back from a backup or a
//!   sync never silently undoes an erasure.
//!
//! A UTF-8 byte order mark at the start of the input is skipped. Non-string `custom`
//! values are kept as their JSON text exactly as written (no float rounding of large
//! integers). A user without an employment status is stored as *active*, so that an
//! erasure of an employee is held for a decision instead of done silently.

use crate::{Error, Result};
use dsr_engine::server_store::ServerStore;
use dsr_match::{Directory, MatchConfig};
use dsr_model::{Employment, Handle, MergeSetId, Subject, SubjectId, SubjectKind, TenantId};
use dsr_store_sqlite::SqliteStore;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;

/// How an import lands its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportOptions {
    /// Land nothing if any line is bad.
    pub all_or_nothing: bool,
    /// Subjects per transaction when not all-or-nothing.
    pub batch_size: usize,
    /// Stop reading after this many bytes (a bound for network inputs); `None` reads all.
    pub max_bytes: Option<u64>,
    /// Longest line, bytes (its line ending not counted): a longer line is an error for
    /// that line, its text skipped as it is read (never held whole), and the import goes
    /// on with the next line (a bound for network inputs); `None`: no bound.
    pub max_line_bytes: Option<usize>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            all_or_nothing: false,
            batch_size: 2000,
            max_bytes: None,
            max_line_bytes: None,
        }
    }
}

/// A problem with one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineIssue {
    /// The line number (1-based).
    pub line: usize,
    /// What is wrong (errors) or worth knowing (warnings).
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Lines read (blank ones included).
    pub lines: usize,
    /// Distinct subjects that landed.
    pub imported: usize,
    /// Of those, new ids.
    pub created: usize,
    /// Of those, ids that existed and were replaced.
    pub updated: usize,
    /// Landed subjects by kind.
    pub by_kind: BTreeMap<String, usize>,
    /// How many lines were rejected.
    pub rejected: usize,
    /// Rejected lines.
    pub errors: Vec<LineIssue>,
    /// Values that landed but cannot be searched, and other things worth knowing.
    pub warnings: Vec<LineIssue>,
    /// Inconsistent merge sets after the import (no or several canonical contacts).
    pub merge_set_problems: Vec<String>,
    /// Whether all-or-nothing was asked for.
    pub all_or_nothing: bool,
    /// All-or-nothing was asked for and a line was bad: nothing landed.
    pub landed_nothing: bool,
    /// Good lines that were not landed because of `landed_nothing`.
    pub not_landed: usize,
    /// The input was cut at `max_bytes`.
    pub truncated: bool,
}

impl ImportReport {
    /// Whether every line landed.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty() && !self.truncated
    }
}

/// One imported subject as written in the JSON Lines input (the wire format).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRecord {
    #[serde(rename = "type", alias = "kind")]
    kind: String,
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    emails: Vec<String>,
    #[serde(default)]
    phones: Vec<String>,
    #[serde(default)]
    addresses: Vec<String>,
    #[serde(default)]
    handles: Vec<ImportHandle>,
    #[serde(default)]
    external_ids: Vec<String>,
    #[serde(default)]
    custom: BTreeMap<String, Box<RawValue>>,
    #[serde(default)]
    employment: Option<String>,
    #[serde(default)]
    contact_list: Option<String>,
    #[serde(default)]
    merge_set: Option<String>,
    #[serde(default)]
    canonical: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportHandle {
    platform: String,
    #[serde(alias = "handle")]
    value: String,
}

/// A parsed line: the subject, and warnings about how it was read.
#[derive(Debug, Clone)]
pub struct ParsedLine {
    /// The validated subject.
    pub subject: Subject,
    /// Things worth telling (white space removed from the id, …).
    pub warnings: Vec<String>,
}

/// The text of one line of a line-based input (`line_no` from 1): a UTF-8 byte order
/// mark at the start of the input is skipped, the line ending removed; text that is not
/// UTF-8 is an error for the user (without the line number, which the caller adds).
pub fn line_text(raw: &[u8], line_no: usize) -> std::result::Result<&str, String> {
    let raw = if line_no == 1 {
        raw.strip_prefix(b"\xef\xbb\xbf").unwrap_or(raw)
    } else {
        raw
    };
    std::str::from_utf8(raw)
        .map(|t| t.trim_end_matches(['\n', '\r']))
        .map_err(|e| {
            format!(
                "not UTF-8 text (invalid byte at column {}): save the file as UTF-8",
                e.valid_up_to() + 1
            )
        })
}

/// Parses one line of the import format into a validated subject.
///
/// The error is a message for the user, without a line number (the caller adds it).
pub fn parse_line(text: &str) -> std::result::Result<ParsedLine, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text.trim_start().chars().next();
    if first != Some('{') {
        let found = match first {
            Some('[') => "an array",
            Some('"') => "a string",
            Some(c) if c == '-' || c.is_ascii_digit() => "a number",
            Some('t' | 'f' | 'n') => "a literal (true, false or null)",
            _ => "text that is not JSON",
        };
        return Err(format!(
            "expected a JSON object (one subject per line, like {{\"type\": \"external_contact\", \"id\": \"c-1\", …}}), found {found}"
        ));
    }
    let record: ImportRecord = serde_json::from_str(text).map_err(|e| json_error(&e))?;
    record.into_subject()
}

/// A serde_json error without its "at line 1 column N" (an import line is one line: the
/// caller reports the line number once).
pub fn json_error(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    match full.strip_suffix(&suffix) {
        Some(msg) if e.column() > 0 => format!("{msg} (column {})", e.column()),
        Some(msg) => msg.to_owned(),
        None => full,
    }
}

impl ImportRecord {
    fn into_subject(self) -> std::result::Result<ParsedLine, String> {
        let mut warnings = Vec::new();
        let kind: SubjectKind = self.kind.parse().map_err(|e| format!("{e}"))?;
        if self.id.trim() != self.id {
            warnings.push(format!(
                "id {:?} has white space around it; stored as {:?}",
                self.id,
                self.id.trim()
            ));
        }
        let id = SubjectId::new(self.id).map_err(|e| format!("{e}"))?;
        let mut s = Subject::new(kind, id);
        s.names = self.name.into_iter().chain(self.names).collect();
        s.emails = self.emails;
        s.phones = self.phones;
        s.addresses = self.addresses;
        s.handles = self
            .handles
            .into_iter()
            .map(|h| Handle {
                platform: h.platform,
                value: h.value,
            })
            .collect();
        s.external_ids = self.external_ids;
        let mut custom = BTreeMap::new();
        for (k, raw) in self.custom {
            let text = raw.get();
            let v = if text.starts_with('"') {
                serde_json::from_str::<String>(text).map_err(|e| format!("custom.{k}: {e}"))?
            } else {
                // Numbers, booleans, arrays and objects: their JSON text as written.
                text.to_owned()
            };
            custom.insert(k, v);
        }
        s.custom = custom;
        s.employment = match self.employment.as_deref().map(str::trim) {
            None => None,
            Some("active") => Some(Employment::Active),
            Some("former") => Some(Employment::Former),
            Some(other) => {
                return Err(format!(
                    "employment: {other:?} is not accepted (use \"active\" or \"former\")"
                ));
            }
        };
        if kind == SubjectKind::User && s.employment.is_none() {
            // An employee with no status is treated as active: never erase one silently
            // (art. 17(3)(b): employment records the employer must keep).
            s.employment = Some(Employment::Active);
        }
        s.contact_list = self.contact_list;
        s.merge_set = self
            .merge_set
            .map(MergeSetId::new)
            .transpose()
            .map_err(|e| format!("merge_set: {e}"))?;
        s.canonical = self.canonical;
        s.validate().map_err(|e| format!("{e}"))?;
        Ok(ParsedLine {
            subject: s,
            warnings,
        })
    }
}

/// Where an import lands its subjects: the part of the pipeline that differs between
/// databases. Everything else (reading, validation, the per-line report, the
/// suppression rule, merge-set checks) is the pipeline's, the same for every target.
pub trait ImportTarget {
    /// Creates the tenant if it does not exist; returns its default phone region.
    fn open_tenant(&mut self, tenant: &TenantId) -> Result<Option<String>>;
    /// How many identifiers the tenant's suppression list holds.
    fn suppression_count(&mut self, tenant: &TenantId) -> Result<u64>;
    /// The tenant's secret that keys the suppression list's hashes.
    fn tenant_secret(&mut self, tenant: &TenantId) -> Result<[u8; 32]>;
    /// Whether the tenant refuses (rather than warns about) re-imports of erased people.
    fn refuse_erased(&mut self, tenant: &TenantId) -> Result<bool>;
    /// Which of the keyed hashes are listed: `(hash, erasure time in µs, request id)`.
    fn suppression_hits(
        &mut self,
        tenant: &TenantId,
        hashes: &[String],
    ) -> Result<Vec<(String, i64, String)>>;
    /// Writes one batch in one transaction; returns `(created, updated)`.
    fn write(&mut self, tenant: &TenantId, batch: &[Subject]) -> Result<(usize, usize)>;
    /// The tenant's merge-set problems once the lines have landed.
    fn merge_set_problems(&mut self, tenant: &TenantId) -> Result<Vec<String>>;
}

impl ImportTarget for &SqliteStore {
    fn open_tenant(&mut self, tenant: &TenantId) -> Result<Option<String>> {
        self.create_tenant(tenant)?;
        Ok(self.default_region(tenant)?)
    }
    fn suppression_count(&mut self, tenant: &TenantId) -> Result<u64> {
        Ok(SqliteStore::suppression_count(self, tenant)?)
    }
    fn tenant_secret(&mut self, tenant: &TenantId) -> Result<[u8; 32]> {
        Ok(SqliteStore::tenant_secret(self, tenant)?)
    }
    fn refuse_erased(&mut self, tenant: &TenantId) -> Result<bool> {
        Ok(SqliteStore::refuse_erased(self, tenant)?)
    }
    fn suppression_hits(
        &mut self,
        tenant: &TenantId,
        hashes: &[String],
    ) -> Result<Vec<(String, i64, String)>> {
        Ok(SqliteStore::suppression_hits(self, tenant, hashes)?)
    }
    fn write(&mut self, tenant: &TenantId, batch: &[Subject]) -> Result<(usize, usize)> {
        let c = self.upsert_subjects_counted(tenant, batch)?;
        Ok((c.created, c.updated))
    }
    fn merge_set_problems(&mut self, tenant: &TenantId) -> Result<Vec<String>> {
        Ok(merge_set_problems(&crate::load_directory(self, tenant)?))
    }
}

/// The import pipeline's target on any [`ServerStore`] (the PostgreSQL store, or a
/// server's store of either kind): batches land as they are read, and the tenant's
/// suppression list and setting are the database's own. The pipeline is synchronous,
/// so each call runs on the runtime of `rt`: use it from a thread that is not itself
/// running async code (`spawn_blocking`, or a command's main thread).
pub struct StoreImport<'a> {
    /// The runtime the calls run on.
    pub rt: tokio::runtime::Handle,
    /// The database.
    pub store: &'a dyn ServerStore,
}

impl ImportTarget for StoreImport<'_> {
    fn open_tenant(&mut self, tenant: &TenantId) -> Result<Option<String>> {
        self.rt.block_on(async {
            self.store.add_tenant(tenant).await?;
            Ok(self.store.default_region(tenant).await?)
        })
    }
    fn suppression_count(&mut self, tenant: &TenantId) -> Result<u64> {
        Ok(self.rt.block_on(self.store.suppression_size(tenant))?)
    }
    fn tenant_secret(&mut self, tenant: &TenantId) -> Result<[u8; 32]> {
        Ok(self.rt.block_on(self.store.tenant_secret(tenant))?)
    }
    fn refuse_erased(&mut self, tenant: &TenantId) -> Result<bool> {
        Ok(self.rt.block_on(self.store.refuses_erased(tenant))?)
    }
    fn suppression_hits(
        &mut self,
        tenant: &TenantId,
        hashes: &[String],
    ) -> Result<Vec<(String, i64, String)>> {
        let hits = self.rt.block_on(self.store.suppressed(tenant, hashes))?;
        Ok(hits
            .into_iter()
            .map(|h| {
                (
                    h.hash,
                    h.erased_at.timestamp_micros(),
                    h.request_id.to_string(),
                )
            })
            .collect())
    }
    fn write(&mut self, tenant: &TenantId, batch: &[Subject]) -> Result<(usize, usize)> {
        let c = self.rt.block_on(self.store.put_subjects(tenant, batch))?;
        Ok((c.created, c.updated))
    }
    fn merge_set_problems(&mut self, tenant: &TenantId) -> Result<Vec<String>> {
        let dir = self
            .rt
            .block_on(crate::open::directory_of(self.store, tenant))?;
        Ok(merge_set_problems(&dir))
    }
}

/// The merge-set problems of a directory, as an import reports them.
pub fn merge_set_problems(dir: &Directory) -> Vec<String> {
    dir.merge_set_problems()
        .into_iter()
        .map(|(set, why)| format!("merge set {set}: {why}"))
        .collect()
}

/// The tenant's suppression list, as an import checks it: keyed hashes of erased
/// subjects' identifiers (`dsr_engine::privacy::identifier_hashes`).
struct Suppression {
    /// The tenant's secret, when the list is not empty.
    secret: Option<[u8; 32]>,
    region: Option<String>,
    /// Refuse the line instead of warning (the tenant's setting).
    refuse: bool,
}

impl Suppression {
    fn open(
        target: &mut impl ImportTarget,
        tenant: &TenantId,
        region: Option<&str>,
    ) -> Result<Self> {
        let listed = target.suppression_count(tenant)? > 0;
        Ok(Suppression {
            secret: if listed {
                Some(target.tenant_secret(tenant)?)
            } else {
                None
            },
            region: region.map(str::to_owned),
            refuse: target.refuse_erased(tenant)?,
        })
    }

    /// What to say when `s` has an identifier of an erased subject.
    fn check(
        &self,
        target: &mut impl ImportTarget,
        tenant: &TenantId,
        s: &Subject,
    ) -> Result<Option<String>> {
        let Some(secret) = &self.secret else {
            return Ok(None);
        };
        let hashes = dsr_engine::privacy::identifier_hashes(secret, s, self.region.as_deref());
        let hits = target.suppression_hits(tenant, &hashes)?;
        let Some((_, at, request)) = hits.iter().max_by_key(|h| h.1) else {
            return Ok(None);
        };
        let date = chrono::DateTime::from_timestamp_micros(*at)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default();
        Ok(Some(format!(
            "{}: {} of this subject belong{} to a person erased on {date} (delete request {request}, GDPR art. 17); {}",
            s.id,
            if hits.len() == 1 {
                "an identifier".to_owned()
            } else {
                format!("{} identifiers", hits.len())
            },
            if hits.len() == 1 { "s" } else { "" },
            if self.refuse {
                "not imported: this tenant refuses re-imports of erased subjects (`dsr suppression warn` to only warn)"
            } else {
                "imported, but check the lawful basis: data back from a backup or a sync must not undo an erasure (`dsr suppression refuse` to refuse such lines)"
            }
        )))
    }
}

/// Reads one line (up to and with its `\n`) into `line`, keeping at most `max` bytes of
/// its text; returns the bytes consumed and whether the line was longer than `max`.
pub(crate) fn read_line_bounded(
    input: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: Option<usize>,
) -> std::io::Result<(usize, bool)> {
    let max = max.unwrap_or(usize::MAX);
    let (mut consumed, mut long) = (0, false);
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok((consumed, long));
        }
        let (take, ends) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !long {
            let text = &buf[..take - usize::from(ends)];
            let text = text.strip_suffix(b"\r").filter(|_| ends).unwrap_or(text);
            if line.len() + text.len() > max {
                long = true;
                line.clear();
            } else {
                line.extend_from_slice(&buf[..take]);
            }
        }
        input.consume(take);
        consumed += take;
        if ends {
            return Ok((consumed, long));
        }
    }
}

/// Imports JSON Lines from `input` into the tenant (creating the tenant if needed).
///
/// `progress` is called with the bytes read so far after each line. An error reading
/// the input stops the import and is returned with its line number; batches that
/// landed before it stay (re-running the import is safe: ids already present are
/// updated).
pub fn import_jsonl(
    store: &SqliteStore,
    tenant: &TenantId,
    input: impl BufRead,
    opts: &ImportOptions,
    progress: impl FnMut(u64),
) -> Result<ImportReport> {
    import_jsonl_batches(store, tenant, input, opts, progress, |_| Ok(()))
}

/// [`import_jsonl`], calling `landed` with each batch of subjects right after it is
/// committed (a server brings its live index up to date batch by batch while the
/// input is still arriving). An error from `landed` stops the import.
pub fn import_jsonl_batches(
    store: &SqliteStore,
    tenant: &TenantId,
    input: impl BufRead,
    opts: &ImportOptions,
    progress: impl FnMut(u64),
    landed: impl FnMut(&[Subject]) -> Result<()>,
) -> Result<ImportReport> {
    import_jsonl_into(&mut { store }, tenant, input, opts, progress, landed)
}

/// [`import_jsonl_batches`] into any [`ImportTarget`] ([`StoreImport`] for a
/// [`ServerStore`] such as PostgreSQL).
pub fn import_jsonl_into(
    target: &mut impl ImportTarget,
    tenant: &TenantId,
    mut input: impl BufRead,
    opts: &ImportOptions,
    mut progress: impl FnMut(u64),
    mut landed: impl FnMut(&[Subject]) -> Result<()>,
) -> Result<ImportReport> {
    let region = target.open_tenant(tenant)?;
    let suppression = Suppression::open(target, tenant, region.as_deref())?;
    let phone_region = region
        .as_deref()
        .and_then(|r| dsr_match::normalize::parse_region(r).ok());
    // A scratch directory tells which stored values cannot be searched (and why).
    let mut probe = Directory::new(MatchConfig {
        default_region: region,
    })?;
    let mut report = ImportReport {
        all_or_nothing: opts.all_or_nothing,
        ..ImportReport::default()
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut batch: Vec<Subject> = Vec::new();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut good = 0usize;
    let mut bytes = 0u64;
    let mut line = Vec::new();
    let batch_size = opts.batch_size.max(1);
    let mut flush =
        |target: &mut _, batch: &mut Vec<Subject>, report: &mut ImportReport| -> Result<()> {
            if batch.is_empty() {
                return Ok(());
            }
            let (created, updated) = ImportTarget::write(target, tenant, batch)?;
            report.created += created;
            report.updated += updated;
            landed(batch)?;
            batch.clear();
            Ok(())
        };
    loop {
        line.clear();
        let (n, long) =
            read_line_bounded(&mut input, &mut line, opts.max_line_bytes).map_err(|e| {
                Error::Io {
                    what: format!("reading line {}", report.lines + 1),
                    source: e,
                }
            })?;
        if n == 0 {
            break;
        }
        report.lines += 1;
        let line_no = report.lines;
        bytes += n as u64;
        progress(bytes);
        if opts.max_bytes.is_some_and(|max| bytes > max) {
            report.truncated = true;
            report.errors.push(LineIssue {
                line: line_no,
                message: format!(
                    "the input is larger than {} bytes: this line and the rest were not read",
                    opts.max_bytes.unwrap_or_default()
                ),
            });
            break;
        }
        if long {
            report.errors.push(LineIssue {
                line: line_no,
                message: format!(
                    "the line is longer than {} bytes and was not read (one subject per line; is this JSON Lines?)",
                    opts.max_line_bytes.unwrap_or_default()
                ),
            });
            continue;
        }
        let text = match line_text(&line, line_no) {
            Ok(t) => t,
            Err(message) => {
                report.errors.push(LineIssue {
                    line: line_no,
                    message,
                });
                continue;
            }
        };
        if text.trim().is_empty() {
            continue;
        }
        let parsed = match parse_line(text) {
            Ok(p) => p,
            Err(message) => {
                report.errors.push(LineIssue {
                    line: line_no,
                    message,
                });
                continue;
            }
        };
        let s = parsed.subject;
        if let Some(first) = seen.get(s.id.as_str()) {
            report.errors.push(LineIssue {
                line: line_no,
                message: format!(
                    "id {} was already given on line {first}: one line per subject (merge the two records into one line, or import the change separately)",
                    s.id
                ),
            });
            continue;
        }
        if let Some(message) = suppression.check(target, tenant, &s)? {
            if suppression.refuse {
                report.errors.push(LineIssue {
                    line: line_no,
                    message,
                });
                continue;
            }
            report.warnings.push(LineIssue {
                line: line_no,
                message,
            });
        }
        match probe.upsert(s.clone()) {
            Ok(ws) => report.warnings.extend(ws.into_iter().map(|w| LineIssue {
                line: line_no,
                message: format!("{}: {w}", s.id),
            })),
            Err(e) => {
                report.errors.push(LineIssue {
                    line: line_no,
                    message: e.to_string(),
                });
                continue;
            }
        }
        // Keep the probe small: it only needs to see each subject once.
        probe.remove(&s.id);
        // A number that cannot exist (libphonenumber: length, number plan) is kept and
        // matched as written, but said: it is often a typo in the source system.
        for (i, p) in s.phones.iter().enumerate() {
            if dsr_match::normalize::phone_is_valid(p, phone_region) == Some(false) {
                report.warnings.push(LineIssue {
                    line: line_no,
                    message: format!(
                        "{}: phones[{i}] {p:?} cannot exist{} (wrong length or number plan, libphonenumber); kept and matched as written",
                        s.id,
                        phone_region.map_or_else(String::new, |r| format!(" in {}", r.code()))
                    ),
                });
            }
        }
        report
            .warnings
            .extend(parsed.warnings.into_iter().map(|w| LineIssue {
                line: line_no,
                message: w,
            }));
        seen.insert(s.id.as_str().to_owned(), line_no);
        *by_kind.entry(s.kind.as_str().to_owned()).or_default() += 1;
        good += 1;
        batch.push(s);
        if !opts.all_or_nothing && batch.len() >= batch_size {
            flush(target, &mut batch, &mut report)?;
        }
    }
    report.rejected = report.errors.len();
    if opts.all_or_nothing && !report.errors.is_empty() {
        report.landed_nothing = true;
        report.not_landed = good;
        return Ok(report);
    }
    // All-or-nothing: one transaction with every line; else the last batch.
    flush(target, &mut batch, &mut report)?;
    report.imported = good;
    report.by_kind = by_kind;
    // Merge-set invariants are checked over the whole tenant once the lines have landed.
    report.merge_set_problems = target.merge_set_problems(tenant)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8]) -> ImportReport {
        let store = SqliteStore::open_in_memory().unwrap();
        import_jsonl(
            &store,
            &TenantId::default(),
            input,
            &ImportOptions::default(),
            |_| {},
        )
        .unwrap()
    }

    #[test]
    fn a_line_over_the_bound_is_an_error_for_it_and_the_next_lines_land_in_batches() {
        let long = format!(
            "{{\"type\":\"external_contact\",\"id\":\"c-long\",\"name\":\"{}\"}}",
            "x".repeat(300)
        );
        let mut input = String::new();
        for i in 0..5 {
            input.push_str(&format!(
                "{{\"type\":\"external_contact\",\"id\":\"c{i}\"}}\r\n"
            ));
        }
        input.push_str(&long);
        input.push('\n');
        input.push_str("{\"type\":\"external_contact\",\"id\":\"c-last\"}");
        let store = SqliteStore::open_in_memory().unwrap();
        let opts = ImportOptions {
            batch_size: 2,
            max_line_bytes: Some(100),
            ..ImportOptions::default()
        };
        let mut batches = Vec::new();
        // A small read buffer: lines span several reads.
        let r = import_jsonl_batches(
            &store,
            &TenantId::default(),
            std::io::BufReader::with_capacity(7, input.as_bytes()),
            &opts,
            |_| {},
            |b| {
                batches.push(b.iter().map(|s| s.id.to_string()).collect::<Vec<_>>());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!((r.lines, r.imported), (7, 6), "{r:?}");
        assert_eq!(r.errors.len(), 1, "{r:?}");
        assert_eq!(r.errors[0].line, 6);
        assert!(
            r.errors[0].message.contains("longer than 100 bytes"),
            "{r:?}"
        );
        assert_eq!(
            batches,
            [vec!["c0", "c1"], vec!["c2", "c3"], vec!["c4", "c-last"]]
        );
        // Exactly at the bound (line ending not counted) is read.
        let at = format!(
            "{{\"type\":\"external_contact\",\"id\":\"{}\"}}",
            "a".repeat(100 - 35)
        );
        assert_eq!(at.len(), 100);
        let r = import_jsonl(
            &store,
            &TenantId::default(),
            format!("{at}\r\n").as_bytes(),
            &opts,
            |_| {},
        )
        .unwrap();
        assert_eq!((r.imported, r.errors.len()), (1, 0), "{r:?}");
    }

    #[test]
    fn a_bom_is_skipped_and_an_array_is_refused() {
        let r = run(
            b"\xef\xbb\xbf{\"type\":\"external_contact\",\"id\":\"c1\"}\n[\"external_contact\",\"c2\"]\n",
        );
        assert_eq!(r.imported, 1);
        assert_eq!(r.errors.len(), 1);
        assert_eq!(r.errors[0].line, 2);
        assert!(r.errors[0].message.contains("found an array"), "{r:?}");
    }

    #[test]
    fn the_same_id_twice_keeps_the_first_and_reports_the_second() {
        let r = run(
            b"{\"type\":\"external_contact\",\"id\":\"c1\",\"name\":\"A\"}\n{\"type\":\"external_contact\",\"id\":\" c1\\t\",\"name\":\"B\"}\n",
        );
        assert_eq!((r.imported, r.created), (1, 1));
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].message.contains("line 1"), "{r:?}");
    }

    #[test]
    fn large_integers_in_custom_keep_their_text() {
        let store = SqliteStore::open_in_memory().unwrap();
        let t = TenantId::default();
        let input: &[u8] =
            b"{\"type\":\"external_contact\",\"id\":\"c1\",\"custom\":{\"n\":98765432109876543210,\"s\":\"x\"}}\n";
        import_jsonl(&store, &t, input, &ImportOptions::default(), |_| {}).unwrap();
        let s = store
            .get_subject(&t, &SubjectId::new("c1").unwrap())
            .unwrap()
            .unwrap();
        assert_eq!(s.custom["n"], "98765432109876543210");
        assert_eq!(s.custom["s"], "x");
    }

    #[test]
    fn a_phone_number_that_cannot_exist_is_imported_with_a_warning() {
        let store = SqliteStore::open_in_memory().unwrap();
        let t = TenantId::new("acme").unwrap();
        store.create_tenant(&t).unwrap();
        store.set_default_region(&t, Some("FR")).unwrap();
        let input = concat!(
            r#"{"type":"external_contact","id":"c-1","phones":["06 12 34 56 78"]}"#,
            "\n",
            r#"{"type":"external_contact","id":"c-2","phones":["06 12 34 56 7"]}"#,
            "\n"
        );
        let r = import_jsonl(&store, &t, input.as_bytes(), &Default::default(), |_| {}).unwrap();
        assert_eq!(r.imported, 2, "{r:?}");
        let w: Vec<_> = r
            .warnings
            .iter()
            .filter(|w| w.message.contains("cannot exist"))
            .collect();
        assert_eq!(w.len(), 1, "{r:?}");
        assert_eq!(w[0].line, 2);
        assert!(w[0].message.contains("in FR"), "{}", w[0].message);
    }

    #[test]
    fn an_erased_person_coming_back_is_warned_about_or_refused() {
        let store = SqliteStore::open_in_memory().unwrap();
        let t = TenantId::default();
        store.create_tenant(&t).unwrap();
        let secret = store.tenant_secret(&t).unwrap();
        let mut erased = Subject::new(SubjectKind::ExternalContact, SubjectId::new("c-7").unwrap());
        erased.emails.push("zoe.faure@example.fr".into());
        for h in dsr_engine::privacy::identifier_hashes(&secret, &erased, None) {
            store
                .with_conn(|c| {
                    c.execute(
                        "INSERT INTO suppression (tenant, hash, request_id, erased_us) VALUES (?1, ?2, 'r-1', 1772442000000000)",
                        rusqlite::params![t.as_str(), h],
                    )
                })
                .unwrap();
        }
        // Another id, another written form of the same email.
        let input: &[u8] = b"{\"type\":\"external_contact\",\"id\":\"c-70\",\"emails\":[\"Zoe.Faure+news@Example.FR\"]}\n{\"type\":\"external_contact\",\"id\":\"c-71\",\"emails\":[\"other@example.fr\"]}\n";
        let r = import_jsonl(&store, &t, input, &ImportOptions::default(), |_| {}).unwrap();
        assert_eq!(r.imported, 2);
        assert_eq!(r.warnings.len(), 1, "{r:?}");
        assert_eq!(r.warnings[0].line, 1);
        assert!(
            r.warnings[0].message.contains("erased on 2026-03-02"),
            "{r:?}"
        );
        store.set_refuse_erased(&t, true).unwrap();
        let r = import_jsonl(&store, &t, input, &ImportOptions::default(), |_| {}).unwrap();
        assert_eq!((r.imported, r.errors.len()), (1, 1), "{r:?}");
        assert!(r.errors[0].message.contains("not imported"), "{r:?}");
    }

    #[test]
    fn a_json_error_names_the_column_once() {
        let e = parse_line("{\"type\": \"user\", \"id\": }").unwrap_err();
        assert!(!e.contains("line 1"), "{e}");
        assert!(e.contains("column"), "{e}");
    }
}
