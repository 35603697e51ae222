//! Each tenant's package-signing keys (GDPR art. 32; issue 13): one current Ed25519 key
//! per tenant, rotation, and the public keys a receiving party pins.
//!
//! Files, all created with mode 0600 and written atomically (temporary file, fsync,
//! link or rename into place):
//!
//! - the current key: the configured `signing_key` file (default `dsr-signing.key`
//!   beside the database) for the tenant `default`, and `NAME.TENANT.EXT` beside it for
//!   any other tenant (`dsr-signing.acme.key`), so no tenant signs with another's key;
//! - its public set, `KEYFILE.public.json`: a JWK Set (RFC 7517 / RFC 8037, `kty: OKP`,
//!   `crv: Ed25519`) of the current key and every retired one, so packages signed before
//!   a rotation still verify. This file is what a receiving party pins
//!   (`dsr verify PACKAGE --key FILE`).

use crate::package::Signer;
use crate::{Error, Result};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use dsr_model::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// One public key of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey {
    /// The key, hex (as in package manifests).
    pub public_key: String,
    /// `current` or `retired`.
    pub status: String,
    /// When it became current (when first listed).
    pub created_at: Option<DateTime<Utc>>,
    /// When it was retired.
    pub retired_at: Option<DateTime<Utc>>,
}

/// The key id of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(public_hex: &str) -> String {
    let bytes = hex::decode(public_hex).unwrap_or_default();
    crate::audit::sha256_hex(&bytes)[..16].to_owned()
}

/// A public key as a JWK (RFC 8037).
pub fn jwk(k: &PublicKey) -> Value {
    let x = hex::decode(&k.public_key).unwrap_or_default();
    json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "use": "sig",
        "alg": "EdDSA",
        "kid": key_id(&k.public_key),
        "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x),
        "dsr_status": k.status,
        "dsr_created_at": k.created_at,
        "dsr_retired_at": k.retired_at,
    })
}

/// The public keys (hex) in a pinned key: a JWK, a JWK Set, or 64 hex digits (text).
pub fn parse_pinned(text: &str) -> Result<Vec<String>> {
    let t = text.trim();
    if t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(vec![t.to_ascii_lowercase()]);
    }
    let bad = |why: &str| {
        Error::Invalid(format!(
            "not a public key: {why} (expected 64 hex digits, a JWK or a JWK Set of Ed25519 keys, as `dsr key export` writes)"
        ))
    };
    let v: Value = serde_json::from_str(t).map_err(|_| bad("neither hex nor JSON"))?;
    let keys: Vec<&Value> = match v.get("keys").and_then(Value::as_array) {
        Some(a) => a.iter().collect(),
        None => vec![&v],
    };
    let mut out = Vec::new();
    for k in keys {
        if k.get("kty").and_then(Value::as_str) != Some("OKP")
            || k.get("crv").and_then(Value::as_str) != Some("Ed25519")
        {
            return Err(bad("a JWK that is not kty OKP / crv Ed25519"));
        }
        let x = k
            .get("x")
            .and_then(Value::as_str)
            .and_then(|x| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(x)
                    .ok()
            })
            .filter(|b| b.len() == 32)
            .ok_or_else(|| bad("a JWK whose x is not 32 bytes of base64url"))?;
        out.push(hex::encode(x));
    }
    if out.is_empty() {
        return Err(bad("an empty key set"));
    }
    Ok(out)
}

/// The signing key files of one tenant.
#[derive(Debug, Clone)]
pub struct KeyRing {
    key_path: PathBuf,
    public_path: PathBuf,
}

impl KeyRing {
    /// The tenant's key files, from the configured (or default) key path: that file for
    /// the tenant `default`, `NAME.TENANT.EXT` beside it for the others.
    pub fn for_tenant(configured: &Path, tenant: &TenantId) -> Self {
        let key_path = if tenant.as_str() == TenantId::default().as_str() {
            configured.to_owned()
        } else {
            let stem = configured
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "dsr-signing".into());
            let name = match configured.extension() {
                Some(ext) => format!("{stem}.{tenant}.{}", ext.to_string_lossy()),
                None => format!("{stem}.{tenant}"),
            };
            configured.with_file_name(name)
        };
        let mut public = key_path.as_os_str().to_owned();
        public.push(".public.json");
        KeyRing {
            key_path,
            public_path: PathBuf::from(public),
        }
    }

    /// The current key file.
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    /// The public set file (JWK Set).
    pub fn public_path(&self) -> &Path {
        &self.public_path
    }

    /// Whether the tenant has a key yet.
    pub fn exists(&self) -> bool {
        self.key_path.exists()
    }

    /// The current key, created on first use; the public set lists it.
    pub fn load_or_create(&self, now: DateTime<Utc>) -> Result<Signer> {
        let s = Signer::load_or_create(&self.key_path)?;
        self.ensure_listed(&s.public_key_hex(), now)?;
        Ok(s)
    }

    /// The current key if it exists (never created).
    pub fn load(&self) -> Result<Option<Signer>> {
        if !self.exists() {
            return Ok(None);
        }
        Signer::load_or_create(&self.key_path).map(Some)
    }

    /// Every public key of the tenant, current first: the public set, plus the current
    /// key when the set does not list it yet (a key made before sets existed).
    pub fn public_keys(&self) -> Result<Vec<PublicKey>> {
        let mut keys = self.read_set()?;
        if let Some(s) = self.load()? {
            let cur = s.public_key_hex();
            if !keys.iter().any(|k| k.public_key == cur) {
                keys.push(PublicKey {
                    public_key: cur.clone(),
                    status: "current".into(),
                    created_at: None,
                    retired_at: None,
                });
            }
            for k in &mut keys {
                if k.public_key != cur && k.status == "current" {
                    k.status = "retired".into();
                }
            }
            keys.sort_by_key(|k| k.public_key != cur);
        }
        Ok(keys)
    }

    /// The public set as a JWK Set (what `dsr key export` writes).
    pub fn jwks(&self) -> Result<Value> {
        Ok(json!({"keys": self.public_keys()?.iter().map(jwk).collect::<Vec<_>>()}))
    }

    /// Rotates: a new current key; the old one is retired (its public key stays in the
    /// set, so packages it signed still verify; its private half is gone). Returns the
    /// old and the new public key.
    pub fn rotate(&self, now: DateTime<Utc>) -> Result<(Option<String>, String)> {
        let old = self.load()?.map(|s| s.public_key_hex());
        let fresh = Signer::generate()?;
        let new = fresh.public_key_hex();
        let mut keys = self.public_keys()?;
        for k in &mut keys {
            if k.status == "current" {
                k.status = "retired".into();
                k.retired_at = Some(now);
            }
        }
        keys.insert(
            0,
            PublicKey {
                public_key: new.clone(),
                status: "current".into(),
                created_at: Some(now),
                retired_at: None,
            },
        );
        // The set first: a crash before the key is replaced leaves an unused key listed,
        // never a signing key whose public half is missing.
        self.write_set(&keys)?;
        write_atomic(
            &self.key_path,
            format!("{}\n", fresh.seed_hex()).as_bytes(),
            true,
        )
        .map_err(|e| self.err(format!("cannot write the new key: {e}")))?;
        Ok((old, new))
    }

    fn err(&self, reason: String) -> Error {
        Error::Key {
            path: self.key_path.display().to_string(),
            reason,
        }
    }

    fn ensure_listed(&self, current: &str, now: DateTime<Utc>) -> Result<()> {
        let mut keys = self.read_set()?;
        if keys
            .iter()
            .any(|k| k.public_key == current && k.status == "current")
        {
            return Ok(());
        }
        for k in &mut keys {
            if k.status == "current" {
                k.status = "retired".into();
                k.retired_at = Some(now);
            }
        }
        keys.retain(|k| k.public_key != current);
        keys.insert(
            0,
            PublicKey {
                public_key: current.to_owned(),
                status: "current".into(),
                created_at: Some(now),
                retired_at: None,
            },
        );
        self.write_set(&keys)
    }

    fn read_set(&self) -> Result<Vec<PublicKey>> {
        let text = match std::fs::read_to_string(&self.public_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err(format!("{}: {e}", self.public_path.display()))),
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            self.err(format!(
                "{} is not a JWK Set: {e}",
                self.public_path.display()
            ))
        })?;
        let mut out = Vec::new();
        for k in v
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let hexes = parse_pinned(&k.to_string())?;
            let text = |f: &str| k.get(f).and_then(Value::as_str).map(str::to_owned);
            let time = |f: &str| text(f).and_then(|t| t.parse::<DateTime<Utc>>().ok());
            for h in hexes {
                out.push(PublicKey {
                    public_key: h,
                    status: text("dsr_status").unwrap_or_else(|| "retired".into()),
                    created_at: time("dsr_created_at"),
                    retired_at: time("dsr_retired_at"),
                });
            }
        }
        Ok(out)
    }

    fn write_set(&self, keys: &[PublicKey]) -> Result<()> {
        let doc = json!({"keys": keys.iter().map(jwk).collect::<Vec<_>>()});
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
        write_atomic(&self.public_path, text.as_bytes(), true)
            .map_err(|e| self.err(format!("cannot write {}: {e}", self.public_path.display())))
    }
}

/// Writes a file readable by its owner only (0600) atomically: a temporary file in the
/// same folder, fsync, then a rename (`replace`) or a link that never replaces; the
/// folder is synced. The temporary file is always removed.
pub fn write_atomic(path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| std::io::Error::other(e.to_string()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        hex::encode(nonce)
    ));
    let result = (|| {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let mut f = o.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        if replace {
            std::fs::rename(&tmp, path)?;
        } else {
            std::fs::hard_link(&tmp, path)?;
        }
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_get_their_own_files() {
        let p = Path::new("/x/dsr-signing.key");
        let d = KeyRing::for_tenant(p, &TenantId::default());
        let a = KeyRing::for_tenant(p, &TenantId::new("acme").unwrap());
        assert_eq!(d.key_path(), p);
        assert_eq!(a.key_path(), Path::new("/x/dsr-signing.acme.key"));
        assert_eq!(
            a.public_path(),
            Path::new("/x/dsr-signing.acme.key.public.json")
        );
    }

    #[test]
    fn rotation_keeps_old_public_keys_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::for_tenant(&dir.path().join("k.key"), &TenantId::default());
        let now = Utc::now();
        let first = ring.load_or_create(now).unwrap().public_key_hex();
        let (old, new) = ring.rotate(now).unwrap();
        assert_eq!(old.as_deref(), Some(first.as_str()));
        assert_ne!(new, first);
        assert_eq!(ring.load().unwrap().unwrap().public_key_hex(), new);
        let keys = ring.public_keys().unwrap();
        assert_eq!(keys[0].public_key, new);
        assert_eq!(keys[0].status, "current");
        assert!(
            keys.iter()
                .any(|k| k.public_key == first && k.status == "retired")
        );
        let pinned = parse_pinned(&ring.jwks().unwrap().to_string()).unwrap();
        assert!(pinned.contains(&first) && pinned.contains(&new));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [ring.key_path(), ring.public_path()] {
                let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", p.display());
            }
        }
    }
}
