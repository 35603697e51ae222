//! `dsr key show | rotate | export`: the tenant's package-signing keys (GDPR art. 32).
//! Each tenant has its own key; a rotation keeps the old public keys so packages signed
//! before still verify; `export` writes the public keys as a JWK Set (or hex) that a
//! receiving party pins (`dsr verify PACKAGE --key FILE`).

use super::{CommonArgs, env};
use crate::Ctx;
use crate::out::{self, outln};
use anyhow::{Context, bail};
use dsr_engine::keyring::{self, KeyRing};
use dsr_ops::env::Signing;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// `dsr key …`.
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    #[command(subcommand)]
    cmd: KeyCommand,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, clap::Subcommand)]
enum KeyCommand {
    /// Show the tenant's current public key and the retired ones.
    Show,
    /// Make a new signing key; the old public key is kept for verification.
    Rotate {
        /// Who rotates (recorded in the audit log).
        #[arg(long, default_value = "operator")]
        by: String,
    },
    /// Write the public keys for a receiving party to pin.
    Export {
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// `jwks` (every key, current and retired, as a JWK Set) or `hex` (the current key).
        #[arg(long, default_value = "jwks")]
        format: String,
    },
}

fn ring(ctx: &Ctx, common: &CommonArgs) -> anyhow::Result<KeyRing> {
    super::key_ring_of(ctx, common)
}

pub(super) async fn key(ctx: &Ctx, a: KeyArgs) -> anyhow::Result<ExitCode> {
    // The database and the tenant must exist (a mistyped tenant is an error, not a key).
    let env = env(ctx, &a.common, Signing::IfPresent)?;
    let ring = ring(ctx, &a.common)?;
    let tenant = env.engine.tenant().clone();
    match a.cmd {
        KeyCommand::Show => {
            let keys = ring.public_keys()?;
            if a.common.json {
                out::json(&json!({
                    "tenant": tenant.as_str(),
                    "keyFile": ring.key_path().display().to_string(),
                    "publicKeysFile": ring.public_path().display().to_string(),
                    "keys": keys.iter().map(|k| json!({
                        "publicKey": k.public_key, "kid": keyring::key_id(&k.public_key),
                        "status": k.status, "createdAt": k.created_at, "retiredAt": k.retired_at,
                    })).collect::<Vec<_>>(),
                }))?;
                return Ok(ExitCode::SUCCESS);
            }
            if keys.is_empty() {
                outln!(
                    "tenant {tenant} has no signing key yet (the first worker, wait or download creates {})",
                    ring.key_path().display()
                );
                return Ok(ExitCode::SUCCESS);
            }
            outln!(
                "signing keys of tenant {tenant} ({}):",
                ring.key_path().display()
            );
            for k in &keys {
                outln!(
                    "  {:<8} {}  kid {}{}",
                    k.status,
                    k.public_key,
                    keyring::key_id(&k.public_key),
                    k.retired_at
                        .map(|t| format!("  retired {}", t.format("%Y-%m-%d")))
                        .unwrap_or_default()
                );
            }
            outln!(
                "a receiving party pins them with `dsr key export --out keys.jwks` and `dsr verify PACKAGE --key keys.jwks`"
            );
        }
        KeyCommand::Rotate { by } => {
            let (old, new) = ring.rotate(chrono::Utc::now())?;
            env.engine
                .note(
                    &by,
                    dsr_engine::audit::AuditAction::KeyRotated,
                    json!({"old_public_key": old, "new_public_key": new}),
                )
                .await?;
            if a.common.json {
                out::json(
                    &json!({"tenant": tenant.as_str(), "oldPublicKey": old, "newPublicKey": new}),
                )?;
            } else {
                outln!(
                    "tenant {tenant}: new signing key {new}{}; packages signed before still verify against {} (restart running workers so they sign with the new key)",
                    old.map(|o| format!(" (retired {o})")).unwrap_or_default(),
                    ring.public_path().display()
                );
            }
        }
        KeyCommand::Export { out: path, format } => {
            let text = match format.as_str() {
                "jwks" => serde_json::to_string_pretty(&ring.jwks()?)? + "\n",
                "hex" => match ring.load()? {
                    Some(s) => format!("{}\n", s.public_key_hex()),
                    None => bail!("tenant {tenant} has no signing key yet: nothing to export"),
                },
                other => bail!("--format {other:?} is not accepted (jwks or hex)"),
            };
            if text.contains("\"keys\": []") {
                bail!("tenant {tenant} has no signing key yet: nothing to export");
            }
            match path {
                Some(p) => {
                    keyring::write_atomic(&p, text.as_bytes(), true)
                        .with_context(|| format!("writing {}", p.display()))?;
                    if !a.common.json {
                        outln!(
                            "wrote the public keys of tenant {tenant} to {}",
                            p.display()
                        );
                    }
                }
                None => outln!("{}", text.trim_end()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
