//! Sign-in through the organisation's own login (Q-2, S-2): the host application, where
//! the customer is already signed in, sends them to `/portal/signin` with a JWT it
//! signed with its private key. dsr holds the public key, registered per tenant
//! ([`HostKey`], `[[portal.hosts]]`), and accepts an assertion only when:
//!
//! - it is signed by the key registered for its `iss`, with that key's algorithm (the
//!   token's `alg` header cannot choose another one: no `none`, no HMAC with a public
//!   key);
//! - its `aud` is the portal's audience, `exp` is in the future and `exp - iat` is at
//!   most five minutes (30 s of clock skew tolerated), `nbf` (if any) has passed;
//! - it names the subject (`sub`, the host's customer id as dsr imported it) and has an
//!   id (`jti`) not seen before (single use, recorded until it expires);
//! - the subject exists in the tenant.
//!
//! What the host sends: `{"iss": "<registered issuer>", "aud": "dsr-portal", "sub":
//! "<subject id>", "iat": <now>, "exp": <now + 120>, "jti": "<random>"}` and optionally
//! `"tenant"` (when one issuer is registered for several tenants) and `"lang"`.

use super::PortalSettings;
use super::i18n::Lang;
use dsr_model::{SubjectId, TenantId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// Longest assertion accepted, bytes (a JWT with a few claims is a few hundred).
pub const MAX_ASSERTION_BYTES: usize = 8 * 1024;
/// Clock skew tolerated between the host and dsr, seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// A host application's public key, registered for one tenant.
#[derive(Clone)]
pub struct HostKey {
    /// The tenant whose customers it signs in.
    pub tenant: TenantId,
    /// The `iss` its assertions carry.
    pub issuer: String,
    /// The one algorithm its assertions may use.
    pub algorithm: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for HostKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostKey")
            .field("tenant", &self.tenant)
            .field("issuer", &self.issuer)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl HostKey {
    /// A key from its PEM text: `EdDSA` (Ed25519), `ES256` (P-256) or `RS256` (RSA,
    /// 2048 bits or more).
    pub fn from_pem(
        tenant: TenantId,
        issuer: &str,
        algorithm: &str,
        pem: &[u8],
    ) -> Result<HostKey, String> {
        if issuer.trim().is_empty() {
            return Err("issuer must not be empty (the iss the host's assertions carry)".into());
        }
        let (algorithm, key) = match algorithm {
            "EdDSA" => (Algorithm::EdDSA, DecodingKey::from_ed_pem(pem)),
            "ES256" => (Algorithm::ES256, DecodingKey::from_ec_pem(pem)),
            "RS256" => (Algorithm::RS256, DecodingKey::from_rsa_pem(pem)),
            other => {
                return Err(format!(
                    "algorithm {other:?} is not accepted; use EdDSA (recommended), ES256 or RS256"
                ));
            }
        };
        let key = key.map_err(|e| {
            format!("the public key is not a PEM {algorithm:?} public key ({e}); give the host's PUBLIC key, e.g. `openssl pkey -in host.key -pubout`")
        })?;
        Ok(HostKey {
            tenant,
            issuer: issuer.to_owned(),
            algorithm,
            key,
        })
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
    #[serde(default)]
    nbf: Option<i64>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    lang: Option<String>,
}

/// An assertion that passed every check but the single-use one (the caller records its
/// `jti` in the store, which decides between two nodes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The tenant of the host key that signed it.
    pub tenant: TenantId,
    /// The subject it signs in.
    pub subject: SubjectId,
    /// Its id.
    pub jti: String,
    /// When it expires (microseconds).
    pub expires_us: i64,
    /// The language the host asked for.
    pub lang: Option<Lang>,
}

/// Why an assertion was refused: what the page says (a catalog key) and what the log
/// says (the reason, for the operator; never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Not a JWT, too long, or claims of the wrong types.
    Malformed(String),
    /// No host is registered with its issuer (for that tenant).
    UnknownHost(String),
    /// The signature does not verify with the registered key and algorithm.
    Signature,
    /// Expired.
    Expired,
    /// Lives longer than five minutes.
    TooLong,
    /// Issued in the future or before its `nbf`.
    NotYetValid,
    /// Meant for another audience.
    Audience,
    /// A claim is missing.
    Missing(&'static str),
    /// Used before.
    Replayed,
    /// The subject is not in the tenant.
    UnknownSubject,
}

impl Refused {
    /// The catalog key of the message shown.
    pub fn message_key(&self) -> &'static str {
        match self {
            Refused::Expired => "signin.refused.expired",
            Refused::Replayed => "signin.refused.replayed",
            Refused::UnknownSubject => "signin.refused.unknown_subject",
            _ => "signin.refused.invalid",
        }
    }

    /// What the log records.
    pub fn reason(&self) -> String {
        match self {
            Refused::Malformed(m) => format!("malformed: {m}"),
            Refused::UnknownHost(i) => format!("no host registered with issuer {i:?}"),
            Refused::Signature => "signature does not verify with the registered key".into(),
            Refused::Expired => "expired".into(),
            Refused::TooLong => format!(
                "lives longer than {} s (exp - iat)",
                super::MAX_ASSERTION_SECONDS
            ),
            Refused::NotYetValid => "issued in the future or before nbf".into(),
            Refused::Audience => "another audience".into(),
            Refused::Missing(c) => format!("claim {c} missing"),
            Refused::Replayed => "already used (jti seen before)".into(),
            Refused::UnknownSubject => "the subject is not in the tenant".into(),
        }
    }
}

/// Checks an assertion at `now` (Unix seconds) against the registered hosts.
pub fn verify(settings: &PortalSettings, token: &str, now: i64) -> Result<Verified, Refused> {
    let token = token.trim();
    if token.is_empty() {
        return Err(Refused::Missing("assertion"));
    }
    if token.len() > MAX_ASSERTION_BYTES {
        return Err(Refused::Malformed(format!(
            "longer than {MAX_ASSERTION_BYTES} bytes"
        )));
    }
    // Which host: read the claims without trusting them, then verify with that host's
    // key and only its algorithm.
    let mut peek = Validation::new(Algorithm::EdDSA);
    peek.insecure_disable_signature_validation();
    peek.validate_exp = false;
    peek.validate_aud = false;
    peek.required_spec_claims.clear();
    peek.algorithms = vec![
        Algorithm::EdDSA,
        Algorithm::ES256,
        Algorithm::RS256,
        Algorithm::HS256,
        Algorithm::ES384,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::HS384,
        Algorithm::HS512,
    ];
    let unverified = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&[]), &peek)
        .map_err(|e| Refused::Malformed(e.to_string()))?
        .claims;
    let iss = unverified.iss.ok_or(Refused::Missing("iss"))?;
    let mut hosts = settings.hosts.iter().filter(|h| {
        h.issuer == iss
            && unverified
                .tenant
                .as_deref()
                .is_none_or(|t| h.tenant.as_str() == t)
    });
    let host = match (hosts.next(), hosts.next()) {
        (Some(h), None) => h,
        (Some(_), Some(_)) => {
            return Err(Refused::Malformed(format!(
                "issuer {iss:?} is registered for several tenants: the assertion must name one in \"tenant\""
            )));
        }
        (None, _) => return Err(Refused::UnknownHost(iss)),
    };

    let mut v = Validation::new(host.algorithm);
    v.set_audience(&[settings.audience.as_str()]);
    v.set_issuer(&[host.issuer.as_str()]);
    v.set_required_spec_claims(&["exp", "iat", "sub", "aud", "iss"]);
    v.leeway = LEEWAY_SECONDS;
    // Times are checked below against the caller's clock (the server's, which tests
    // move), not the library's.
    v.validate_exp = false;
    v.validate_nbf = false;
    let claims = jsonwebtoken::decode::<Claims>(token, &host.key, &v)
        .map_err(|e| match e.kind() {
            ErrorKind::ExpiredSignature => Refused::Expired,
            ErrorKind::ImmatureSignature => Refused::NotYetValid,
            ErrorKind::InvalidAudience => Refused::Audience,
            ErrorKind::InvalidIssuer => Refused::UnknownHost(iss.clone()),
            ErrorKind::MissingRequiredClaim(c) => Refused::Missing(match c.as_str() {
                "exp" => "exp",
                "iat" => "iat",
                "sub" => "sub",
                "aud" => "aud",
                _ => "iss",
            }),
            ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => Refused::Signature,
            _ => Refused::Malformed(e.to_string()),
        })?
        .claims;
    let exp = claims.exp.ok_or(Refused::Missing("exp"))?;
    let iat = claims.iat.ok_or(Refused::Missing("iat"))?;
    // The library checks exp with its own clock; check against ours too (tests move it).
    if exp + LEEWAY_SECONDS as i64 <= now {
        return Err(Refused::Expired);
    }
    if iat > now + LEEWAY_SECONDS as i64
        || claims
            .nbf
            .is_some_and(|nbf| nbf > now + LEEWAY_SECONDS as i64)
    {
        return Err(Refused::NotYetValid);
    }
    if exp - iat > super::MAX_ASSERTION_SECONDS {
        return Err(Refused::TooLong);
    }
    let jti = claims
        .jti
        .filter(|j| !j.trim().is_empty())
        .ok_or(Refused::Missing("jti"))?;
    if jti.len() > 256 {
        return Err(Refused::Malformed("jti longer than 256 bytes".into()));
    }
    let sub = claims.sub.ok_or(Refused::Missing("sub"))?;
    let subject = SubjectId::new(sub).map_err(|e| Refused::Malformed(format!("sub: {e}")))?;
    Ok(Verified {
        tenant: host.tenant.clone(),
        subject,
        jti,
        expires_us: exp.saturating_add(LEEWAY_SECONDS as i64) * 1_000_000,
        lang: claims.lang.as_deref().and_then(Lang::from_code),
    })
}

/// The host application's side, for hosts in Rust, tests and the demo: signs sign-in
/// assertions with the host's private key.
pub struct HostSigner {
    algorithm: Algorithm,
    key: jsonwebtoken::EncodingKey,
}

impl std::fmt::Debug for HostSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostSigner")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl HostSigner {
    /// A signer from the host's PRIVATE key (PEM, PKCS#8): `EdDSA`, `ES256` or `RS256`.
    pub fn from_pem(algorithm: &str, pem: &[u8]) -> Result<HostSigner, String> {
        let (algorithm, key) = match algorithm {
            "EdDSA" => (
                Algorithm::EdDSA,
                jsonwebtoken::EncodingKey::from_ed_pem(pem),
            ),
            "ES256" => (
                Algorithm::ES256,
                jsonwebtoken::EncodingKey::from_ec_pem(pem),
            ),
            "RS256" => (
                Algorithm::RS256,
                jsonwebtoken::EncodingKey::from_rsa_pem(pem),
            ),
            other => return Err(format!("algorithm {other:?}: use EdDSA, ES256 or RS256")),
        };
        Ok(HostSigner {
            algorithm,
            key: key.map_err(|e| format!("not a PEM {algorithm:?} private key: {e}"))?,
        })
    }

    /// An assertion signing `subject` in, issued now for `lifetime_seconds` (at most
    /// [`super::MAX_ASSERTION_SECONDS`]), with a random `jti`.
    pub fn sign(
        &self,
        issuer: &str,
        audience: &str,
        subject: &str,
        now: i64,
        lifetime_seconds: i64,
        lang: Option<&str>,
    ) -> Result<String, String> {
        let jti = super::session::random_token().map_err(|e| e.to_string())?;
        let mut claims = serde_json::json!({
            "iss": issuer, "aud": audience, "sub": subject,
            "iat": now, "exp": now + lifetime_seconds.clamp(1, super::MAX_ASSERTION_SECONDS),
            "jti": jti,
        });
        if let Some(l) = lang {
            claims["lang"] = serde_json::Value::String(l.to_owned());
        }
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(self.algorithm),
            &claims,
            &self.key,
        )
        .map_err(|e| e.to_string())
    }
}

/// A new Ed25519 key pair as PEM: (private PKCS#8, public SPKI), for a host that has
/// none yet (`dsr-server portal-keygen`, the demo).
pub fn ed25519_pem_pair(seed: &[u8; 32]) -> (String, String) {
    use base64::Engine as _;
    let sk = ed25519_dalek::SigningKey::from_bytes(seed);
    // RFC 8410: the fixed DER prefixes of an Ed25519 PKCS#8 private key and SPKI
    // public key, then the 32 key bytes.
    let mut private = hex::decode("302e020100300506032b657004220420").unwrap_or_default();
    private.extend_from_slice(seed);
    let mut public = hex::decode("302a300506032b6570032100").unwrap_or_default();
    public.extend_from_slice(sk.verifying_key().as_bytes());
    let pem = |label: &str, der: &[u8]| {
        let b = base64::engine::general_purpose::STANDARD.encode(der);
        let mut out = format!("-----BEGIN {label}-----\n");
        for chunk in b.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
        out
    };
    (pem("PRIVATE KEY", &private), pem("PUBLIC KEY", &public))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    struct Host {
        enc: EncodingKey,
        settings: PortalSettings,
    }

    fn host() -> Host {
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let private = sk
            .to_pkcs8_pem(Default::default())
            .expect("pkcs8")
            .to_string();
        let public = sk
            .verifying_key()
            .to_public_key_pem(Default::default())
            .expect("spki");
        let key = HostKey::from_pem(
            TenantId::new("acme").unwrap(),
            "https://helpdesk.example",
            "EdDSA",
            public.as_bytes(),
        )
        .unwrap();
        Host {
            enc: EncodingKey::from_ed_pem(private.as_bytes()).unwrap(),
            settings: PortalSettings {
                hosts: vec![key],
                ..PortalSettings::default()
            },
        }
    }

    fn sign(h: &Host, claims: serde_json::Value) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &h.enc).unwrap()
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn good(now: i64) -> serde_json::Value {
        json!({"iss": "https://helpdesk.example", "aud": "dsr-portal", "sub": "c-1",
               "iat": now, "exp": now + 120, "jti": "j-1", "lang": "fr"})
    }

    #[test]
    fn a_good_assertion_names_tenant_subject_and_language() {
        let h = host();
        let n = now();
        let v = verify(&h.settings, &sign(&h, good(n)), n).unwrap();
        assert_eq!(v.tenant.as_str(), "acme");
        assert_eq!(v.subject.as_str(), "c-1");
        assert_eq!(v.jti, "j-1");
        assert_eq!(v.lang, Some(Lang::Fr));
    }

    #[test]
    fn every_broken_assertion_is_refused_with_its_reason() {
        let h = host();
        let n = now();
        let with = |k: &str, v: serde_json::Value| {
            let mut c = good(n);
            c[k] = v;
            sign(&h, c)
        };
        let without = |k: &str| {
            let mut c = good(n);
            c.as_object_mut().unwrap().remove(k);
            sign(&h, c)
        };
        let s = &h.settings;
        assert_eq!(
            verify(s, &with("exp", json!(n - 100)), n),
            Err(Refused::Expired)
        );
        assert_eq!(
            verify(s, &with("exp", json!(n + 3600)), n),
            Err(Refused::TooLong)
        );
        assert_eq!(
            verify(s, &with("aud", json!("other")), n),
            Err(Refused::Audience)
        );
        assert!(matches!(
            verify(s, &with("iss", json!("https://evil.example")), n),
            Err(Refused::UnknownHost(_))
        ));
        assert_eq!(verify(s, &without("jti"), n), Err(Refused::Missing("jti")));
        assert!(matches!(
            verify(s, &without("sub"), n),
            Err(Refused::Missing(_))
        ));
        assert_eq!(
            verify(s, &with("iat", json!(n + 600)), n),
            Err(Refused::NotYetValid)
        );
        // Another key, same issuer.
        let other = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let enc =
            EncodingKey::from_ed_pem(other.to_pkcs8_pem(Default::default()).unwrap().as_bytes())
                .unwrap();
        let forged = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &good(n), &enc).unwrap();
        assert_eq!(verify(s, &forged, n), Err(Refused::Signature));
        // HMAC with the public key as the secret (algorithm confusion), and `none`.
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &good(n),
            &EncodingKey::from_secret(b"anything"),
        )
        .unwrap();
        assert_eq!(verify(s, &hs, n), Err(Refused::Signature));
        let none_header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"alg":"none","typ":"JWT"}"#,
        );
        let body = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            good(n).to_string(),
        );
        assert!(verify(s, &format!("{none_header}.{body}."), n).is_err());
        // Tampered claims under a good signature.
        let t = sign(&h, good(n));
        let mut p: Vec<String> = t.split('.').map(str::to_owned).collect();
        let mut c = good(n);
        c["sub"] = json!("c-2");
        p[1] = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            c.to_string(),
        );
        assert_eq!(verify(s, &p.join("."), n), Err(Refused::Signature));
        // Not a JWT at all, empty, huge.
        assert!(matches!(
            verify(s, "not a jwt", n),
            Err(Refused::Malformed(_))
        ));
        assert_eq!(verify(s, " ", n), Err(Refused::Missing("assertion")));
        assert!(matches!(
            verify(s, &"a".repeat(MAX_ASSERTION_BYTES + 1), n),
            Err(Refused::Malformed(_))
        ));
    }

    #[test]
    fn the_host_signer_and_generated_keys_make_assertions_dsr_accepts() {
        let (private, public) = ed25519_pem_pair(&[3u8; 32]);
        let key = HostKey::from_pem(
            TenantId::new("acme").unwrap(),
            "host",
            "EdDSA",
            public.as_bytes(),
        )
        .unwrap();
        let settings = PortalSettings {
            hosts: vec![key],
            ..PortalSettings::default()
        };
        let signer = HostSigner::from_pem("EdDSA", private.as_bytes()).unwrap();
        let n = now();
        let t = signer
            .sign("host", "dsr-portal", "c-9", n, 120, Some("fr"))
            .unwrap();
        let v = verify(&settings, &t, n).unwrap();
        assert_eq!((v.subject.as_str(), v.lang), ("c-9", Some(Lang::Fr)));
        let again = signer
            .sign("host", "dsr-portal", "c-9", n, 120, None)
            .unwrap();
        assert_ne!(
            verify(&settings, &again, n).unwrap().jti,
            v.jti,
            "a fresh jti each time"
        );
        // A lifetime past the limit is clamped, never refused later as too long.
        let long = signer
            .sign("host", "dsr-portal", "c-9", n, 9999, None)
            .unwrap();
        assert!(verify(&settings, &long, n).is_ok());
    }

    #[test]
    fn keys_and_algorithms_are_checked_when_registered() {
        let t = TenantId::new("acme").unwrap();
        assert!(HostKey::from_pem(t.clone(), "x", "HS256", b"k").is_err());
        assert!(HostKey::from_pem(t.clone(), "x", "EdDSA", b"not pem").is_err());
        assert!(HostKey::from_pem(t, " ", "EdDSA", b"").is_err());
    }
}
