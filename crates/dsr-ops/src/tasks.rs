//! Tasks a person answers (manual services, G-18): what `dsr task complete` and a host
//! share — reading the evidence file and the records found, bounded, into the engine's
//! [`Completion`].

use crate::{Error, Result};
use dsr_engine::Answer;
use dsr_engine::manual::{Completion, MAX_EVIDENCE_BYTES, MAX_RECORDS};
use serde_json::Value;
use std::io::Read as _;
use std::path::Path;

/// The largest records file accepted, in bytes.
pub const MAX_RECORDS_BYTES: u64 = 16 * 1024 * 1024;

/// Reads at most `max` bytes of `path`; a longer file is refused by name.
fn read_bounded(path: &Path, what: &str, max: u64) -> Result<Vec<u8>> {
    let io = |source| Error::Io {
        what: format!("{what} {}", path.display()),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    f.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(Error::Invalid(format!(
            "{what} {} is larger than {max} bytes: not accepted",
            path.display()
        )));
    }
    Ok(bytes)
}

/// The records a person found, from a JSON file: an array of objects (one per record),
/// one object, or JSON Lines (one object per line).
pub fn parse_records(text: &str, source: &str) -> Result<Vec<Value>> {
    let bad = |m: String| Error::Invalid(format!("records file {source}: {m}"));
    let trimmed = text.trim_start();
    let records: Vec<Value> = if trimmed.starts_with('[') {
        serde_json::from_str(text).map_err(|e| bad(format!("not a JSON array: {e}")))?
    } else {
        let mut out = Vec::new();
        let whole: std::result::Result<Value, _> = serde_json::from_str(text);
        match whole {
            Ok(v) => out.push(v),
            Err(_) => {
                for (i, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    out.push(serde_json::from_str(line).map_err(|e| {
                        bad(format!(
                            "line {}: not JSON ({e}); give an array of objects, one object, or one object per line",
                            i + 1
                        ))
                    })?);
                }
            }
        }
        out
    };
    if records.len() > MAX_RECORDS {
        return Err(bad(format!(
            "{} records: at most {MAX_RECORDS} are accepted",
            records.len()
        )));
    }
    if let Some(i) = records.iter().position(|r| !r.is_object()) {
        return Err(bad(format!(
            "record {} is not a JSON object (each record is an object of field: value)",
            i + 1
        )));
    }
    Ok(records)
}

/// What `dsr task complete` was given.
#[derive(Debug, Clone)]
pub struct CompleteArgs<'a> {
    /// Done, nothing found or failed.
    pub answer: Answer,
    /// Who answers.
    pub by: &'a str,
    /// The evidence file.
    pub evidence: &'a Path,
    /// The records found (exports), if any.
    pub records: Option<&'a Path>,
    /// Records rectified or erased (updates, deletes).
    pub count: Option<u64>,
    /// A note.
    pub note: Option<&'a str>,
}

/// Reads the files into a [`Completion`] (the engine checks it against the request).
pub fn completion(a: &CompleteArgs<'_>) -> Result<Completion> {
    let evidence = read_bounded(a.evidence, "evidence file", MAX_EVIDENCE_BYTES as u64)?;
    let evidence_name = a
        .evidence
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| {
            Error::Invalid(format!(
                "evidence {}: give a file, not a folder",
                a.evidence.display()
            ))
        })?;
    let records = match a.records {
        Some(p) => {
            let bytes = read_bounded(p, "records file", MAX_RECORDS_BYTES)?;
            let text = String::from_utf8(bytes).map_err(|_| {
                Error::Invalid(format!("records file {}: not UTF-8 text", p.display()))
            })?;
            parse_records(&text, &p.display().to_string())?
        }
        None => Vec::new(),
    };
    Ok(Completion {
        answer: a.answer,
        by: a.by.to_owned(),
        evidence_name,
        evidence,
        records,
        count: a.count,
        note: a.note.map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_an_array_one_object_or_lines_of_objects() {
        assert_eq!(parse_records(r#"[{"a":1},{"b":2}]"#, "f").unwrap().len(), 2);
        assert_eq!(parse_records(r#"{"a":1}"#, "f").unwrap().len(), 1);
        assert_eq!(
            parse_records("{\"a\":1}\n\n{\"b\":2}\n", "f")
                .unwrap()
                .len(),
            2
        );
        let e = parse_records("{\"a\":1}\n{oops\n", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = parse_records("[1]", "f").unwrap_err().to_string();
        assert!(e.contains("record 1 is not a JSON object"), "{e}");
    }
}
