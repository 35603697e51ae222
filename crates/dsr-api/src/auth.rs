//! Authentication: OAuth 2.0 client credentials (RFC 6749 §4.4) giving signed access
//! tokens, static API tokens, scopes, and idle sessions (H-5).
//!
//! - Access tokens are JWTs signed with HS256 under a 256-bit server key kept in the
//!   store (so every process of the server accepts them, and they survive a restart);
//!   they live at most 15 minutes. `jsonwebtoken` was not used: its `rust_crypto`
//!   backend pulls an `rsa` with an open advisory and `aws_lc_rs` is a heavy C build,
//!   for one MAC we already have (`hmac` + `sha2`).
//! - Every check that fails answers the same 401 whatever failed (unknown client, wrong
//!   secret, revoked, expired), and does the same work when the client does not exist.
//! - A session is one access token: any request resets its idle timer; after the idle
//!   timeout the token is refused and the client must get a new one. In HIPAA mode
//!   static tokens (which have no session to time out) are refused.
//! - Clients are cached for a second, so a revocation by `dsr client revoke` (another
//!   process) takes effect within a second; last-use dates are written at most once a
//!   minute per client.

use crate::error::ApiError;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use dsr_engine::Clock;
use dsr_engine::server_store::{ClientRow, ServerStore};
use dsr_model::TenantId;
use dsr_ops::clients::{Scope, secret_matches, split_token};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type HmacSha256 = Hmac<Sha256>;

/// Longest access-token lifetime accepted.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// Authentication settings.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Access tokens expire after this long (at most [`MAX_TOKEN_LIFETIME`]).
    pub token_lifetime: Duration,
    /// A session (access token) ends after this much inactivity.
    pub idle_timeout: Duration,
    /// Static API tokens are accepted (refused in HIPAA mode).
    pub static_tokens: bool,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            token_lifetime: MAX_TOKEN_LIFETIME,
            idle_timeout: Duration::from_secs(15 * 60),
            static_tokens: true,
        }
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The client id (the key of rate limits).
    pub client_id: String,
    /// The client's name (recorded in the audit log as `api:<name>`).
    pub name: String,
    /// The one tenant it may see.
    pub tenant: TenantId,
    /// Its scopes.
    pub scopes: Vec<Scope>,
}

impl Principal {
    /// 403 unless the caller has `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!(
                "this client lacks the scope {}; ask an administrator to grant it (`dsr client create … --scopes {}`)",
                scope.as_str(),
                scope.as_str()
            ),
        )
        .details(serde_json::json!({ "requiredScope": scope.as_str() })))
    }
    /// Who the audit log records.
    pub fn actor(&self) -> String {
        format!("api:{}", self.name)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    ten: String,
    scope: String,
    iat: i64,
    exp: i64,
    jti: String,
}

/// A token issued by [`Auth::issue`].
#[derive(Debug, Clone)]
pub struct Issued {
    /// The JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The scopes granted.
    pub scope: String,
}

/// Why the token endpoint refused (RFC 6749 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The client is unknown, revoked, or the secret is wrong.
    InvalidClient,
    /// A scope was asked that the client does not have.
    InvalidScope(String),
}

/// Checks credentials and issues tokens.
pub struct Auth {
    store: Arc<dyn ServerStore>,
    key: [u8; 32],
    clock: Arc<dyn Clock>,
    settings: AuthSettings,
    cache: Mutex<HashMap<String, (Option<ClientRow>, Instant)>>,
    sessions: Mutex<HashMap<String, DateTime<Utc>>>,
    touched: Mutex<HashMap<String, (i64, Instant)>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

const CACHE_FOR: Duration = Duration::from_secs(1);
const TOUCH_EVERY: Duration = Duration::from_secs(60);

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Auth {
    /// An authenticator over the server's store; the token key is loaded from (or
    /// created in) the store.
    pub async fn new(
        store: Arc<dyn ServerStore>,
        clock: Arc<dyn Clock>,
        settings: AuthSettings,
    ) -> Result<Self, dsr_ops::Error> {
        let fresh = dsr_ops::clients::random_bytes()?;
        let stored = store.server_key("access-token-hs256", &fresh).await?;
        let key: [u8; 32] = stored
            .try_into()
            .map_err(|_| dsr_ops::Error::Invalid("the stored token key is not 32 bytes".into()))?;
        Ok(Auth {
            store,
            key,
            clock,
            settings,
            cache: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            touched: Mutex::new(HashMap::new()),
        })
    }

    /// The settings.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    async fn client(&self, id: &str) -> Result<Option<ClientRow>, ApiError> {
        if let Some((c, at)) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(id)
            && at.elapsed() < CACHE_FOR
        {
            return Ok(c.clone());
        }
        let c = self.store.client(id).await?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 100_000 {
            cache.clear();
        }
        cache.insert(id.to_owned(), (c.clone(), Instant::now()));
        Ok(c)
    }

    fn touch(&self, id: &str) {
        let now = self.clock.now().timestamp_micros();
        let due = {
            let mut t = self.touched.lock().unwrap_or_else(|p| p.into_inner());
            // In place: no allocation on the hot path (every authenticated request).
            match t.get_mut(id) {
                Some(e) if e.1.elapsed() < TOUCH_EVERY => {
                    e.0 = now;
                    false
                }
                Some(e) => {
                    *e = (now, Instant::now());
                    true
                }
                None => {
                    t.insert(id.to_owned(), (now, Instant::now()));
                    true
                }
            }
        };
        if due {
            // Off the request's path: the date is advisory.
            let store = self.store.clone();
            let id = id.to_owned();
            tokio::spawn(async move {
                if let Err(e) = store.touch_clients(&[(id, now)]).await {
                    tracing::warn!(error = %e, "could not record a client's last use");
                }
            });
        }
    }

    /// Writes the pending last-use dates (at shutdown).
    pub async fn flush(&self) {
        let all: Vec<(String, i64)> = self
            .touched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, (at, _))| (k.clone(), *at))
            .collect();
        if let Err(e) = self.store.touch_clients(&all).await {
            tracing::warn!(error = %e, "could not record clients' last use");
        }
    }

    /// Checks a client id and secret (the token endpoint). Same work whether or not the
    /// client exists.
    async fn check_secret(&self, id: &str, secret: &str, kind: &str) -> Option<ClientRow> {
        let c = self.client(id).await.ok().flatten();
        let live = c
            .as_ref()
            .filter(|c| c.revoked_us.is_none() && c.kind == kind);
        let ok = secret_matches(secret, live.map(|c| c.secret_hash.as_str()));
        if ok { live.cloned() } else { None }
    }

    /// The token endpoint: client credentials → an access token.
    pub async fn issue(
        &self,
        client_id: &str,
        secret: &str,
        scope: Option<&str>,
    ) -> Result<Issued, TokenError> {
        let c = self
            .check_secret(client_id, secret, "oauth")
            .await
            .ok_or(TokenError::InvalidClient)?;
        let granted: Vec<String> = match scope.map(str::trim).filter(|s| !s.is_empty()) {
            None => c.scopes.clone(),
            Some(asked) => {
                let mut out = Vec::new();
                for s in asked.split(' ').filter(|s| !s.is_empty()) {
                    if !c.scopes.iter().any(|x| x == s) {
                        return Err(TokenError::InvalidScope(s.to_owned()));
                    }
                    out.push(s.to_owned());
                }
                out
            }
        };
        let now = self.clock.now();
        let life = self.settings.token_lifetime.min(MAX_TOKEN_LIFETIME);
        let jti = hex::encode(
            &dsr_ops::clients::random_bytes().map_err(|_| TokenError::InvalidClient)?[..16],
        );
        let claims = Claims {
            iss: "dsr".into(),
            sub: c.id.clone(),
            ten: c.tenant.to_string(),
            scope: granted.join(" "),
            iat: now.timestamp(),
            exp: now.timestamp() + life.as_secs() as i64,
            jti: jti.clone(),
        };
        let head = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
        let body = b64(&serde_json::to_vec(&claims).unwrap_or_default());
        let signing_input = format!("{head}.{body}");
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(signing_input.as_bytes());
        let sig = b64(&mac.finalize().into_bytes());
        self.sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(jti, now);
        self.touch(&c.id);
        Ok(Issued {
            token: format!("{signing_input}.{sig}"),
            expires_in: life.as_secs(),
            scope: claims.scope,
        })
    }

    fn verify_jwt(&self, token: &str) -> Option<Claims> {
        let (signing_input, sig) = token.rsplit_once('.')?;
        let (head, body) = signing_input.split_once('.')?;
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .ok()?;
        let mut mac = HmacSha256::new_from_slice(&self.key).ok()?;
        mac.update(signing_input.as_bytes());
        mac.verify_slice(&sig).ok()?;
        let head: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(head)
                .ok()?,
        )
        .ok()?;
        if head.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return None;
        }
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(body)
                .ok()?,
        )
        .ok()
    }

    /// Authenticates a request from its `Authorization` header.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "authentication required: send Authorization: Bearer TOKEN (an access token from POST /oauth/token, or an API token)",
            ));
        };
        let value = value.to_str().unwrap_or("");
        let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Err(ApiError::unauthorized(
                "basic (password) authentication is not accepted: use an OAuth 2.0 access token or an API token as Bearer",
            ));
        }
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::unauthorized(
                "the Authorization header must be \"Bearer TOKEN\"",
            ));
        }
        let token = token.trim();
        let refused =
            || ApiError::unauthorized("the token is invalid, expired or revoked: get a new one");
        if let Some((id, secret)) = split_token(token) {
            let c = self
                .check_secret(id, secret, "token")
                .await
                .ok_or_else(refused)?;
            if !self.settings.static_tokens {
                return Err(ApiError::unauthorized(
                    "static API tokens are not accepted by this server (HIPAA mode: sessions must time out); use OAuth 2.0 client credentials",
                ));
            }
            self.touch(&c.id);
            return Ok(principal(&c, &c.scopes));
        }
        let claims = self.verify_jwt(token).ok_or_else(refused)?;
        let now = self.clock.now();
        if claims.exp <= now.timestamp() {
            return Err(refused());
        }
        // Checked against the live client: a revocation or a narrowed scope applies to
        // tokens already issued.
        let c = self
            .client(&claims.sub)
            .await?
            .filter(|c| c.revoked_us.is_none() && c.tenant.as_str() == claims.ten)
            .ok_or_else(refused)?;
        {
            let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            let last = *sessions
                .entry(claims.jti.clone())
                .or_insert_with(|| DateTime::from_timestamp(claims.iat, 0).unwrap_or(now));
            let idle = now.signed_duration_since(last).to_std().unwrap_or_default();
            if idle > self.settings.idle_timeout {
                sessions.remove(&claims.jti);
                return Err(ApiError::unauthorized(format!(
                    "the session was idle for more than {} minutes and has ended: get a new access token",
                    self.settings.idle_timeout.as_secs().div_ceil(60)
                )));
            }
            sessions.insert(claims.jti.clone(), now);
            if sessions.len() > 200_000 {
                let horizon =
                    now - chrono::Duration::from_std(MAX_TOKEN_LIFETIME).unwrap_or_default();
                sessions.retain(|_, at| *at > horizon);
            }
        }
        self.touch(&c.id);
        let scopes: Vec<String> = claims
            .scope
            .split(' ')
            .filter(|s| c.scopes.iter().any(|x| x == s))
            .map(str::to_owned)
            .collect();
        Ok(principal(&c, &scopes))
    }
}

fn principal(c: &ClientRow, scopes: &[String]) -> Principal {
    Principal {
        client_id: c.id.clone(),
        name: c.name.clone(),
        tenant: c.tenant.clone(),
        scopes: scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
    }
}
