//! API clients of the HTTP server, shared by `dsr client …` (which manages them) and
//! `dsr-server` (which checks them).
//!
//! Decisions kept here:
//! - A client belongs to one tenant and carries scopes (least privilege: no scope is
//!   implied by another). It is an OAuth 2.0 client (`oauth`: client credentials give
//!   short-lived access tokens) or a static API token (`token`: one per named service).
//! - Secrets are 256 bits from the operating system's generator, shown once, stored only
//!   as their SHA-256 (a random 256-bit secret needs no slow hash: there is nothing to
//!   guess), and compared in constant time. Checking a secret of a client that does not
//!   exist does the same work against a dummy hash, so timing does not tell which ids
//!   exist.
//! - A static token is `dsr.<client id>.<secret>`; the id part finds the client, the
//!   secret part is checked.

use crate::{Error, Result};
use base64::Engine as _;
use dsr_engine::server_store::{ClientRow, ServerStore};
use dsr_model::TenantId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Look subjects up.
    SubjectsRead,
    /// Create, replace, delete and import subjects.
    SubjectsWrite,
    /// Read requests, their tasks, events and packages.
    RequestsRead,
    /// Create, cancel, extend and retry requests.
    RequestsWrite,
    /// Decide held requests (proceed or refuse).
    RequestsDecide,
    /// Run compliance checks.
    ComplianceCheck,
    /// Verify the audit log, read metrics.
    AuditRead,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 7] = [
        Scope::SubjectsRead,
        Scope::SubjectsWrite,
        Scope::RequestsRead,
        Scope::RequestsWrite,
        Scope::RequestsDecide,
        Scope::ComplianceCheck,
        Scope::AuditRead,
    ];
    /// The wire name (`subjects:read`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::SubjectsRead => "subjects:read",
            Scope::SubjectsWrite => "subjects:write",
            Scope::RequestsRead => "requests:read",
            Scope::RequestsWrite => "requests:write",
            Scope::RequestsDecide => "requests:decide",
            Scope::ComplianceCheck => "compliance:check",
            Scope::AuditRead => "audit:read",
        }
    }
    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s.trim())
    }
    /// Parses a list separated by spaces or commas; an unknown name is an error naming
    /// the accepted ones.
    pub fn parse_list(s: &str) -> Result<Vec<Scope>> {
        let mut out = Vec::new();
        for part in s.split([' ', ',']).filter(|p| !p.trim().is_empty()) {
            let sc = Scope::parse(part).ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown scope {part:?} (expected: {})",
                    Scope::ALL.map(Scope::as_str).join(", ")
                ))
            })?;
            if !out.contains(&sc) {
                out.push(sc);
            }
        }
        out.sort();
        Ok(out)
    }
}

/// How a client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// OAuth 2.0 client credentials: `POST /oauth/token` gives access tokens.
    OAuth,
    /// A static API token, for one named service.
    Token,
}

impl ClientKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::OAuth => "oauth",
            ClientKind::Token => "token",
        }
    }
}

/// A client as shown (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientInfo {
    /// The client id.
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// Its unique name in the tenant.
    pub name: String,
    /// `oauth` or `token`.
    pub kind: String,
    /// Its scopes.
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its last use.
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its last rotation.
    pub rotated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<&ClientRow> for ClientInfo {
    fn from(c: &ClientRow) -> Self {
        let t = chrono::DateTime::from_timestamp_micros;
        ClientInfo {
            id: c.id.clone(),
            tenant: c.tenant.to_string(),
            name: c.name.clone(),
            kind: c.kind.clone(),
            scopes: c.scopes.clone(),
            created_at: t(c.created_us),
            last_used_at: c.last_used_us.and_then(t),
            rotated_at: c.rotated_us.and_then(t),
            revoked_at: c.revoked_us.and_then(t),
        }
    }
}

/// A client and its secret, as shown once at creation or rotation.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Issued {
    /// The client.
    pub client: ClientInfo,
    /// For `oauth`: the client secret; for `token`: the whole token to send as
    /// `Authorization: Bearer …`. Shown once; only its hash is kept.
    pub secret: String,
}

/// 32 random bytes.
pub fn random_bytes() -> Result<[u8; 32]> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)
        .map_err(|e| Error::Invalid(format!("the system's random generator failed: {e}")))?;
    Ok(b)
}

/// A new secret: 256 random bits, base64url without padding (43 characters).
pub fn new_secret() -> Result<String> {
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes()?))
}

/// The stored form of a secret: SHA-256, hex.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The hash checked when no client exists, so that failing takes the same time.
const DUMMY_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Whether `secret` hashes to `stored` (constant time). With `stored` `None` (no such
/// client) the same work is done and the answer is `false`.
pub fn secret_matches(secret: &str, stored: Option<&str>) -> bool {
    let presented = hash_secret(secret);
    let (against, exists) = match stored {
        Some(h) => (h, true),
        None => (DUMMY_HASH, false),
    };
    let eq: bool = presented.as_bytes().ct_eq(against.as_bytes()).into();
    eq && exists
}

/// Splits a static token `dsr.<id>.<secret>`.
pub fn split_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix("dsr.")?;
    let (id, secret) = rest.split_once('.')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn check_name(name: &str) -> Result<()> {
    let ok = (3..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "client name {name:?}: give a descriptive name of 3 to 64 letters, digits, spaces, '-', '_' or '.' (the service it is for, e.g. \"crm-sync\")"
        )))
    }
}

/// Creates a client of `tenant` (which must exist) and returns it with its secret.
pub async fn create(
    store: &dyn ServerStore,
    tenant: &TenantId,
    name: &str,
    kind: ClientKind,
    scopes: &[Scope],
) -> Result<Issued> {
    check_name(name)?;
    if scopes.is_empty() {
        return Err(Error::Invalid(format!(
            "give the client at least one scope (least privilege: only what it needs): {}",
            Scope::ALL.map(Scope::as_str).join(", ")
        )));
    }
    if !store.has_tenant(tenant).await? {
        return Err(Error::UnknownTenant {
            tenant: tenant.to_string(),
            path: "the database".into(),
            known: store
                .tenant_names()
                .await?
                .into_iter()
                .map(|t| t.to_string())
                .collect(),
        });
    }
    let id = format!("c{}", &hex::encode(random_bytes()?)[..23]);
    let secret = new_secret()?;
    let row = ClientRow {
        id: id.clone(),
        tenant: tenant.clone(),
        name: name.to_owned(),
        kind: kind.as_str().to_owned(),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        secret_hash: hash_secret(&secret),
        created_us: now_us(),
        last_used_us: None,
        rotated_us: None,
        revoked_us: None,
    };
    if !store.insert_client(&row).await? {
        return Err(Error::Invalid(format!(
            "tenant {tenant} already has a client named {name:?}: names are unique (one client per service); rotate its secret with `dsr client rotate` instead"
        )));
    }
    Ok(Issued {
        client: ClientInfo::from(&row),
        secret: shown_secret(kind, &id, &secret),
    })
}

fn shown_secret(kind: ClientKind, id: &str, secret: &str) -> String {
    match kind {
        ClientKind::OAuth => secret.to_owned(),
        ClientKind::Token => format!("dsr.{id}.{secret}"),
    }
}

/// Finds a live or revoked client of `tenant` by id or name.
pub async fn find(
    store: &dyn ServerStore,
    tenant: &TenantId,
    id_or_name: &str,
) -> Result<ClientRow> {
    if let Some(c) = store
        .client(id_or_name)
        .await?
        .filter(|c| &c.tenant == tenant)
    {
        return Ok(c);
    }
    store
        .client_by_name(tenant, id_or_name)
        .await?
        .ok_or_else(|| {
            Error::Invalid(format!(
                "tenant {tenant} has no client {id_or_name:?} (`dsr client list` lists them)"
            ))
        })
}

/// Gives a live client a new secret (the old one stops working at once).
pub async fn rotate(
    store: &dyn ServerStore,
    tenant: &TenantId,
    id_or_name: &str,
) -> Result<Issued> {
    let c = find(store, tenant, id_or_name).await?;
    let secret = new_secret()?;
    if !store
        .rotate_client(&c.id, &hash_secret(&secret), now_us())
        .await?
    {
        return Err(Error::Invalid(format!(
            "client {} is revoked: create a new one",
            c.name
        )));
    }
    let c = find(store, tenant, &c.id).await?;
    let kind = if c.kind == "token" {
        ClientKind::Token
    } else {
        ClientKind::OAuth
    };
    Ok(Issued {
        client: ClientInfo::from(&c),
        secret: shown_secret(kind, &c.id, &secret),
    })
}

/// Revokes a client (for good: its secret and tokens stop working).
pub async fn revoke(
    store: &dyn ServerStore,
    tenant: &TenantId,
    id_or_name: &str,
) -> Result<ClientInfo> {
    let c = find(store, tenant, id_or_name).await?;
    if !store.revoke_client(&c.id, now_us()).await? {
        return Err(Error::Invalid(format!(
            "client {} is already revoked",
            c.name
        )));
    }
    Ok(ClientInfo::from(&find(store, tenant, &c.id).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_256_bits_and_checked_by_hash() {
        let s = new_secret().unwrap();
        assert_eq!(s.len(), 43);
        assert_ne!(s, new_secret().unwrap());
        let h = hash_secret(&s);
        assert!(secret_matches(&s, Some(&h)));
        assert!(!secret_matches("other", Some(&h)));
        assert!(!secret_matches(&s, None));
        // The dummy hash never matches, even the secret whose hash it would be.
        assert!(!secret_matches("", None));
    }

    #[test]
    fn scopes_parse_and_unknown_ones_are_named() {
        assert_eq!(
            Scope::parse_list("requests:read, subjects:read requests:read").unwrap(),
            vec![Scope::SubjectsRead, Scope::RequestsRead]
        );
        let e = Scope::parse_list("requests:admin").unwrap_err().to_string();
        assert!(
            e.contains("requests:admin") && e.contains("audit:read"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn clients_are_created_rotated_and_revoked() {
        let db = std::sync::Arc::new(dsr_store_sqlite::SqliteStore::open_in_memory().unwrap());
        let store = dsr_store_sqlite::engine_store::SqliteEngineStore::new(db.clone());
        let t = TenantId::new("acme").unwrap();
        assert!(
            create(
                &store,
                &t,
                "crm-sync",
                ClientKind::Token,
                &[Scope::SubjectsRead]
            )
            .await
            .is_err()
        );
        db.create_tenant(&t).unwrap();
        let a = create(
            &store,
            &t,
            "crm-sync",
            ClientKind::Token,
            &[Scope::SubjectsRead],
        )
        .await
        .unwrap();
        let (id, secret) = split_token(&a.secret).unwrap();
        assert_eq!(id, a.client.id);
        let row = db.client(id).unwrap().unwrap();
        assert!(secret_matches(secret, Some(&row.secret_hash)));
        assert!(
            create(
                &store,
                &t,
                "crm-sync",
                ClientKind::OAuth,
                &[Scope::AuditRead]
            )
            .await
            .is_err()
        );
        let b = rotate(&store, &t, "crm-sync").await.unwrap();
        let row = db.client(id).unwrap().unwrap();
        assert!(!secret_matches(secret, Some(&row.secret_hash)));
        assert!(secret_matches(
            split_token(&b.secret).unwrap().1,
            Some(&row.secret_hash)
        ));
        assert!(b.client.rotated_at.is_some());
        revoke(&store, &t, id).await.unwrap();
        assert!(rotate(&store, &t, id).await.is_err());
        let other = TenantId::new("other").unwrap();
        assert!(
            find(&store, &other, id).await.is_err(),
            "another tenant's client is not found"
        );
    }
}
