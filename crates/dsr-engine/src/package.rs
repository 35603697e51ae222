//! Export packages (art. 15, art. 20; Q-1): the subject's data as one JSON document,
//! grouped by service and data category, attachments included, with a manifest of
//! SHA-256 digests signed with the organisation's Ed25519 key, so a receiving party can
//! check that it comes from the organisation, unaltered.
//!
//! Layout (`format: "dsr-package/1"`):
//!
//! ```text
//! { "format": "dsr-package/1",
//!   "manifest": { "format", "organisation", "request": {id, type, article, subject_id, …},
//!                 "generated_at", "public_key": hex,
//!                 "files": [ {"path", "sha256", "bytes"} … ] },
//!   "signature": hex Ed25519 over the canonical JSON of "manifest",
//!   "files": [ {"path": "request.json", "json": …},
//!              {"path": "services/crm/customer_relationship.json", "json": […]},
//!              {"path": "services/chat/attachments/1-scan.pdf", "base64": "…"} … ] }
//! ```
//!
//! A JSON file's digest is over its canonical JSON (keys sorted, no white space); an
//! attachment's over its bytes. [`verify`] checks the signature, then every digest, and
//! that the manifest and the files list name the same paths.

use crate::audit::{canonical_json, sha256_hex};
use crate::service::Category;
use crate::types::{Outcome, Request, Task, TaskStatus};
use crate::{Error, Result};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use dsr_model::RequestType;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The format tag.
pub const FORMAT: &str = "dsr-package/1";

/// The organisation's signing key.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("public_key", &self.public_key_hex())
            .field("path", &self.path)
            .finish()
    }
}

impl Signer {
    /// A key from a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Signer {
            key: SigningKey::from_bytes(&seed),
            path: None,
        }
    }

    /// A fresh random key (not saved).
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::Key {
            path: "(random)".into(),
            reason: format!("no randomness available: {e}"),
        })?;
        Ok(Self::from_seed(seed))
    }

    /// Reads the key file (64 hex characters: the seed), creating it with a fresh key
    /// when it does not exist.
    ///
    /// The file is written atomically: a temporary file in the same folder (mode 0600),
    /// synced, then linked into place without replacing anything, so a full disk or a
    /// crash never leaves a partial key, and two processes creating it at once agree on
    /// one key.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let err = |reason: String| Error::Key {
            path: shown.clone(),
            reason,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bad = |what: &str| {
                    err(format!(
                        "{what}, not 64 hexadecimal characters (an Ed25519 seed). If no package was ever signed with this key, delete the file and a new key is made on next use; otherwise restore it from your backup (packages signed with it can only be checked against its public key)"
                    ))
                };
                if text.trim().is_empty() {
                    return Err(bad("the file is empty (an interrupted write?)"));
                }
                let bytes = hex::decode(text.trim()).map_err(|_| bad("the file is damaged"))?;
                let seed: [u8; 32] = bytes.try_into().map_err(|_| bad("the file is damaged"))?;
                let mut s = Self::from_seed(seed);
                s.path = Some(path.to_owned());
                Ok(s)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let fresh = Self::generate()?;
                write_new_key(path, &hex::encode(fresh.key.to_bytes())).map_err(|e| {
                    err(format!(
                        "cannot create the key file: {e} (nothing was left behind; fix the cause and run the command again)"
                    ))
                })?;
                // Another process may have linked its key first: the one on disk wins.
                Self::load_or_create(path)
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    /// The seed, hex (what a key file holds).
    pub(crate) fn seed_hex(&self) -> String {
        hex::encode(self.key.to_bytes())
    }

    /// The public key, hex (give it to receiving parties).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.key.verifying_key().to_bytes())
    }

    fn sign(&self, bytes: &[u8]) -> String {
        hex::encode(self.key.sign(bytes).to_bytes())
    }
}

/// What the package says about its request.
fn request_summary(r: &Request) -> Value {
    json!({
        "id": r.id.as_str(),
        "type": r.ty.as_str(),
        "article": r.ty.article(),
        "subject_id": r.subject.id.as_str(),
        "subject_kind": r.subject.kind.as_str(),
        "received_at": r.created_at,
        "finished_at": r.finished_at,
        "parent": r.parent.as_ref().map(|p| p.as_str().to_owned()),
        "related": r.related.iter().map(|x| x.as_str().to_owned()).collect::<Vec<_>>(),
    })
}

fn safe_name(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_start_matches('.');
    if trimmed.is_empty() {
        "file".into()
    } else {
        trimmed.chars().take(100).collect()
    }
}

/// Builds and signs the package of a finished export or portability request from its
/// tasks' outcomes. Portability keeps only data the subject provided (S-4).
pub fn build(
    request: &Request,
    tasks: &[Task],
    organisation: &str,
    signer: &Signer,
    now: DateTime<Utc>,
) -> Result<String> {
    if !matches!(request.ty, RequestType::Export | RequestType::Portability) {
        return Err(Error::Invalid(format!(
            "request {} is a {} request: only export and portability requests have a package",
            request.id, request.ty
        )));
    }
    let portability = request.ty == RequestType::Portability;
    let mut files: Vec<(String, Value, Option<Vec<u8>>)> = Vec::new();
    let mut outcomes = Vec::new();
    let mut sorted: Vec<&Task> = tasks.iter().collect();
    sorted.sort_by(|a, b| a.service.cmp(&b.service));
    for t in sorted {
        let Some(Outcome {
            action,
            data,
            error,
            blind_spots,
            ..
        }) = &t.outcome
        else {
            outcomes.push(json!({"service": t.service, "status": t.status.as_str()}));
            continue;
        };
        let mut outcome = json!({
            "service": t.service,
            "status": t.status.as_str(),
            "action": action.as_str(),
            "error": error,
        });
        if !blind_spots.is_empty() {
            // Where this service could not search (G-14): the package says so.
            outcome["blind_spots"] = json!(blind_spots);
        }
        outcomes.push(outcome);
        if t.status != TaskStatus::Done {
            continue;
        }
        let mut by_cat: BTreeMap<Category, Vec<Value>> = BTreeMap::new();
        let mut n_att = 0usize;
        let svc = safe_name(&t.service);
        for rec in data.iter().filter(|r| !portability || r.provided) {
            let mut att_paths = Vec::new();
            for a in &rec.attachments {
                n_att += 1;
                let path = format!("services/{svc}/attachments/{n_att}-{}", safe_name(&a.name));
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&a.content_base64)
                    .map_err(|e| {
                        Error::Package(format!(
                            "service {} exported attachment {:?} with invalid base64: {e}",
                            t.service, a.name
                        ))
                    })?;
                att_paths
                    .push(json!({"name": a.name, "content_type": a.content_type, "path": path}));
                files.push((path, Value::Null, Some(bytes)));
            }
            by_cat.entry(rec.category).or_default().push(json!({
                "data": rec.data,
                "provided_by_subject": rec.provided,
                "attachments": att_paths,
            }));
        }
        for (cat, records) in by_cat {
            files.push((
                format!("services/{svc}/{}.json", cat.as_str()),
                Value::Array(records),
                None,
            ));
        }
    }
    let mut summary = request_summary(request);
    summary["outcomes"] = Value::Array(outcomes);
    summary["scope"] = Value::String(if portability {
        "data provided by the subject, actively or by use (GDPR art. 20)".into()
    } else {
        "all personal data held (GDPR art. 15)".into()
    });
    files.insert(0, ("request.json".into(), summary, None));

    let mut manifest_files = Vec::new();
    let mut file_values = Vec::new();
    for (path, value, bytes) in files {
        let (digest, len, entry) = match bytes {
            Some(b) => (
                sha256_hex(&b),
                b.len(),
                json!({"path": path, "base64": base64::engine::general_purpose::STANDARD.encode(&b)}),
            ),
            None => {
                let c = canonical_json(&value);
                (
                    sha256_hex(c.as_bytes()),
                    c.len(),
                    json!({"path": path, "json": value}),
                )
            }
        };
        manifest_files.push(json!({"path": path, "sha256": digest, "bytes": len}));
        file_values.push(entry);
    }
    let manifest = json!({
        "format": FORMAT,
        "organisation": organisation,
        "request": request_summary(request),
        "generated_at": now,
        "public_key": signer.public_key_hex(),
        "files": manifest_files,
    });
    let signature = signer.sign(canonical_json(&manifest).as_bytes());
    let doc = json!({
        "format": FORMAT,
        "manifest": manifest,
        "signature": signature,
        "files": file_values,
    });
    serde_json::to_string_pretty(&doc).map_err(|e| Error::Package(e.to_string()))
}

/// What [`verify`] found in a valid package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    /// The request id.
    pub request_id: String,
    /// The request type.
    pub request_type: String,
    /// The subject.
    pub subject_id: String,
    /// The organisation named in the manifest.
    pub organisation: String,
    /// The signing public key (hex).
    pub public_key: String,
    /// Whether the key is the one the caller trusts (`None`: no trusted key given).
    pub trusted_key: Option<bool>,
    /// Files checked.
    pub files: usize,
    /// SHA-256 of the canonical manifest (what a hand-over records).
    pub manifest_sha256: String,
}

/// The SHA-256 of a package's canonical manifest (hex).
pub fn manifest_digest(package: &str) -> Result<String> {
    let doc: Value =
        serde_json::from_str(package).map_err(|e| Error::Package(format!("not JSON: {e}")))?;
    let m = doc
        .get("manifest")
        .ok_or_else(|| Error::Package("no manifest".into()))?;
    Ok(sha256_hex(canonical_json(m).as_bytes()))
}

/// Verifies a package: the signature over the manifest with the embedded public key,
/// every file's digest, and (if given) that the key is the trusted one.
pub fn verify(package: &str, trusted_public_key: Option<&str>) -> Result<Verified> {
    let bad = |m: String| Error::Package(m);
    let doc: Value = serde_json::from_str(package)
        .map_err(|e| bad(format!("not valid JSON ({e}): altered or truncated")))?;
    if doc.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(bad(format!(
            "not a {FORMAT} package (no or another \"format\")"
        )));
    }
    let manifest = doc
        .get("manifest")
        .ok_or_else(|| bad("no manifest".into()))?;
    let text = |v: &Value, k: &str| -> Result<String> {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad(format!("manifest field {k:?} missing or not text")))
    };
    let key_hex = text(manifest, "public_key")?;
    let key_bytes: [u8; 32] = hex::decode(&key_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("manifest public_key is not a 32-byte hex Ed25519 key".into()))?;
    let key = VerifyingKey::from_bytes(&key_bytes)
        .map_err(|_| bad("manifest public_key is not a valid Ed25519 key".into()))?;
    let sig_hex = text(&doc, "signature")?;
    let sig_bytes: [u8; 64] = hex::decode(&sig_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("signature is not 64 bytes of hex".into()))?;
    key.verify(
        canonical_json(manifest).as_bytes(),
        &Signature::from_bytes(&sig_bytes),
    )
    .map_err(|_| bad("the signature does not match the manifest: the manifest was altered or signed by another key".into()))?;

    let listed = manifest
        .get("files")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("manifest has no files list".into()))?;
    let present = doc
        .get("files")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("package has no files".into()))?;
    let mut by_path: BTreeMap<&str, &Value> = BTreeMap::new();
    for f in present {
        let p = f
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a file has no path".into()))?;
        if by_path.insert(p, f).is_some() {
            return Err(bad(format!("file {p} appears twice")));
        }
    }
    for entry in listed {
        let path = text(entry, "path")?;
        let want = text(entry, "sha256")?;
        let f = by_path
            .remove(path.as_str())
            .ok_or_else(|| bad(format!("file {path} is in the manifest but missing")))?;
        let got = if let Some(b64) = f.get("base64").and_then(Value::as_str) {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| bad(format!("file {path}: content is not valid base64")))?;
            sha256_hex(&bytes)
        } else if let Some(v) = f.get("json") {
            sha256_hex(canonical_json(v).as_bytes())
        } else {
            return Err(bad(format!(
                "file {path} has neither json nor base64 content"
            )));
        };
        if got != want {
            return Err(bad(format!(
                "file {path} was altered: SHA-256 {got} does not match the manifest's {want}"
            )));
        }
    }
    if let Some((extra, _)) = by_path.into_iter().next() {
        return Err(bad(format!("file {extra} is not in the signed manifest")));
    }
    let req = manifest.get("request").cloned().unwrap_or(Value::Null);
    Ok(Verified {
        request_id: text(&req, "id").unwrap_or_default(),
        request_type: text(&req, "type").unwrap_or_default(),
        subject_id: text(&req, "subject_id").unwrap_or_default(),
        organisation: text(manifest, "organisation").unwrap_or_default(),
        trusted_key: trusted_public_key.map(|k| k.trim().eq_ignore_ascii_case(&key_hex)),
        public_key: key_hex,
        files: listed.len(),
        manifest_sha256: sha256_hex(canonical_json(manifest).as_bytes()),
    })
}

/// A verified package and its files (relative path, bytes).
pub type Unpacked = (Verified, Vec<(String, Vec<u8>)>);

/// The files of a package as a person opens them: each JSON file pretty-printed,
/// each attachment as its bytes, under the relative path the manifest gives.
///
/// The package is [`verify`]-ed first (an altered package is not unpacked), and every
/// path must be relative with plain components only (no `..`, no root, no drive), so
/// unpacking a hostile package cannot write outside the target folder.
pub fn unpack(package: &str, trusted_public_key: Option<&str>) -> Result<Unpacked> {
    let verified = verify(package, trusted_public_key)?;
    let bad = |m: String| Error::Package(m);
    let doc: Value = serde_json::from_str(package).map_err(|e| bad(e.to_string()))?;
    let mut out = Vec::new();
    for f in doc
        .get("files")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let path = f.get("path").and_then(Value::as_str).unwrap_or_default();
        let safe = !path.is_empty()
            && !path.starts_with('/')
            && !path.contains('\\')
            && path
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(':'));
        if !safe {
            return Err(bad(format!(
                "file path {path:?} is not a plain relative path: refusing to unpack"
            )));
        }
        let bytes = if let Some(b64) = f.get("base64").and_then(Value::as_str) {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| bad(format!("file {path}: content is not valid base64")))?
        } else {
            let v = f.get("json").cloned().unwrap_or(Value::Null);
            let mut text = serde_json::to_vec_pretty(&v).map_err(|e| bad(e.to_string()))?;
            text.push(b'\n');
            text
        };
        out.push((path.to_owned(), bytes));
    }
    Ok((verified, out))
}

/// Writes `hex` as a new key file at `path`, atomically and readable by its owner only;
/// if the file appeared meanwhile (another process made its key first), the existing
/// key wins.
fn write_new_key(path: &Path, hex: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match crate::keyring::write_atomic(path, format!("{hex}\n").as_bytes(), false) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}
