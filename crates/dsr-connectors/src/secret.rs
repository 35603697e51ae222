//! Keys a connector signs or hashes with: from a file (0600, beside `dsr.toml`) or an
//! environment variable, never inline in `dsr.toml`.

use crate::{Result, config_error};
use dsr_engine::config::Config;
use std::fmt;
use std::path::PathBuf;

/// Fewest bytes a key may have.
pub const MIN_KEY_BYTES: usize = 16;

/// A key's bytes; `Debug` never shows them.
#[derive(Clone)]
pub struct Key(Vec<u8>);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({} bytes)", self.0.len())
    }
}

impl Key {
    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Loads the key `file` or `env` names (exactly one of them); `what` names the keys in
/// errors (`http.secret`).
pub fn load(
    config: &Config,
    service: &str,
    what: &str,
    file: Option<&PathBuf>,
    env: Option<&str>,
) -> Result<Key> {
    let text = match (file, env) {
        (Some(_), Some(_)) => {
            return Err(config_error(
                service,
                format!("{what}_file and {what}_env are both set; give one"),
            ));
        }
        (None, None) => {
            return Err(config_error(
                service,
                format!(
                    "{what}_file (a file of the key, mode 0600) or {what}_env (an environment variable holding it) is needed"
                ),
            ));
        }
        (Some(f), None) => {
            let p = crate::resolve(config, f);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let meta = std::fs::metadata(&p).map_err(|e| {
                    config_error(
                        service,
                        format!("{what}_file: cannot read {}: {e}", p.display()),
                    )
                })?;
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(config_error(
                        service,
                        format!(
                            "{what}_file: {} can be read by other users (mode {:o}); make it private: chmod 600 {}",
                            p.display(),
                            meta.permissions().mode() & 0o777,
                            p.display()
                        ),
                    ));
                }
            }
            std::fs::read_to_string(&p).map_err(|e| {
                config_error(
                    service,
                    format!("{what}_file: cannot read {}: {e}", p.display()),
                )
            })?
        }
        (None, Some(v)) => std::env::var(v).map_err(|_| {
            config_error(
                service,
                format!("{what}_env: the environment variable {v} is not set (or not UTF-8)"),
            )
        })?,
    };
    let key = text.trim();
    if key.len() < MIN_KEY_BYTES {
        return Err(config_error(
            service,
            format!(
                "{what}: the key is {} bytes; at least {MIN_KEY_BYTES} are needed (e.g. `openssl rand -hex 32`)",
                key.len()
            ),
        ));
    }
    Ok(Key(key.as_bytes().to_vec()))
}
