//! One check function per rule, and the small vocabulary they share.
//!
//! A check reads the configuration through a [`Probe`], which records every value it
//! reads as evidence. A value that is needed but not set makes the check return
//! [`Undecidable`], which the evaluator reports as [`Status::Error`] — a missing value
//! is never read as compliant.

use crate::config::*;
use crate::evaluate::{Evidence, Status};
use crate::params::{Parameters, is_hipaa_region_family, normalize_region};
use chrono::NaiveDate;
use std::collections::HashMap;

/// What a check sees.
pub(crate) struct Ctx<'a> {
    pub config: &'a Config,
    pub params: &'a Parameters,
    /// The evaluation date (the configuration's `tenant.as_of`, or the run date).
    pub today: NaiveDate,
    /// The catalog version's ordinal ([`crate::rules::V1_0`], …): checks whose
    /// condition changed between versions branch on it.
    pub version: u8,
}

impl Ctx<'_> {
    fn since(&self, v: u8) -> bool {
        self.version >= v
    }
}

/// A check's verdict before waivers.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub status: Status,
    pub message: String,
    pub evidence: Vec<Evidence>,
    /// Set when the rule's section is absent: the evaluator decides what that means
    /// (not applicable, or "not stated") from the catalog version, the regime and the
    /// products in use.
    pub absent: Option<&'static str>,
}

/// The check cannot decide: a needed value is not set (or is out of the evaluation's
/// reach, like a date after "today").
#[derive(Debug, Clone)]
pub(crate) struct Undecidable {
    pub reason: String,
    pub evidence: Vec<Evidence>,
}

pub(crate) type CheckResult = Result<Outcome, Undecidable>;
pub(crate) type CheckFn = fn(&Ctx<'_>) -> CheckResult;

/// How a configuration value is shown in evidence: TOML-like literals.
pub(crate) trait Render {
    fn render(&self) -> String;
}
impl Render for bool {
    fn render(&self) -> String {
        self.to_string()
    }
}
impl Render for u32 {
    fn render(&self) -> String {
        self.to_string()
    }
}
impl Render for String {
    fn render(&self) -> String {
        format!("{self:?}")
    }
}
impl Render for crate::date::Date {
    fn render(&self) -> String {
        self.to_string()
    }
}
impl Render for Vec<String> {
    fn render(&self) -> String {
        format!(
            "[{}]",
            self.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}
macro_rules! render_enum {
    ($($t:ty),*) => {$(impl Render for $t {
        fn render(&self) -> String { format!("\"{self}\"") }
    })*};
}
render_enum!(
    AuthMethod,
    PasswordPolicy,
    AgentTicketScope,
    EndUserScope,
    EndUserAuth,
    ConversationDeletion,
    UnlockMethod,
    Regime
);

/// Reads values and records them as evidence.
pub(crate) struct Probe {
    evidence: Vec<Evidence>,
}

impl Probe {
    fn new() -> Self {
        Probe {
            evidence: Vec::new(),
        }
    }

    /// A value the check needs: recorded, or [`Undecidable`] when not set.
    fn val<T: Render + Clone>(
        &mut self,
        path: impl Into<String>,
        v: &Option<T>,
    ) -> Result<T, Undecidable> {
        let path = path.into();
        match v {
            Some(v) => {
                self.note(path, v.render());
                Ok(v.clone())
            }
            None => Err(self.missing(path, "not set")),
        }
    }

    fn flag(&mut self, path: impl Into<String>, v: Option<bool>) -> Result<bool, Undecidable> {
        self.val(path, &v)
    }

    /// `a` or `b` must be true: true when either is; false when both are false;
    /// undecidable when one is false and the other not set.
    fn either(
        &mut self,
        a: (&str, Option<bool>),
        b: (&str, Option<bool>),
    ) -> Result<bool, Undecidable> {
        for (path, v) in [a, b] {
            if v == Some(true) {
                self.note(path, "true");
                return Ok(true);
            }
        }
        for (path, v) in [a, b] {
            match v {
                Some(v) => self.note(path, v.render()),
                None => return Err(self.missing(path.to_owned(), "not set")),
            }
        }
        Ok(false)
    }

    fn note(&mut self, path: impl Into<String>, value: impl Into<String>) {
        self.evidence.push(Evidence {
            key: path.into(),
            value: value.into(),
        });
    }

    fn missing(&mut self, path: String, what: &str) -> Undecidable {
        self.evidence.push(Evidence {
            key: path.clone(),
            value: format!("({what})"),
        });
        Undecidable {
            reason: format!(
                "`{path}` is {what}: state the value explicitly; a rule never passes on a missing value"
            ),
            evidence: std::mem::take(&mut self.evidence),
        }
    }

    fn undecidable(&mut self, reason: String) -> Undecidable {
        Undecidable {
            reason,
            evidence: std::mem::take(&mut self.evidence),
        }
    }

    fn done(self, status: Status, message: impl Into<String>) -> CheckResult {
        Ok(Outcome {
            status,
            message: message.into(),
            evidence: self.evidence,
            absent: None,
        })
    }
    fn info(self, message: impl Into<String>) -> CheckResult {
        self.done(Status::Info, message)
    }
    fn pass(self, message: impl Into<String>) -> CheckResult {
        self.done(Status::Pass, message)
    }
    fn fail(self, message: impl Into<String>) -> CheckResult {
        self.done(Status::Fail, message)
    }
    fn na(self, message: impl Into<String>) -> CheckResult {
        self.done(Status::NotApplicable, message)
    }
    /// Pass when `problems` is empty, else fail listing them.
    fn verdict(self, problems: Vec<String>, ok: impl Into<String>) -> CheckResult {
        if problems.is_empty() {
            self.pass(ok)
        } else {
            self.fail(problems.join("; "))
        }
    }
}

/// The verdict for an absent section (the evaluator turns it into "not applicable" or
/// "not stated").
pub(crate) fn absent(section: &'static str) -> CheckResult {
    Ok(Outcome {
        status: Status::NotApplicable,
        message: format!("section [{section}] absent: product not used"),
        evidence: vec![Evidence {
            key: section.to_owned(),
            value: "(absent)".to_owned(),
        }],
        absent: Some(section),
    })
}

/// The placeholder check of the catalog's defaults; never used by a real rule.
pub(crate) fn never(_: &Ctx<'_>) -> CheckResult {
    Probe::new().na("no check")
}

/// Since catalog 1.1.0 the HIPAA and HDS rules apply by `tenant.regime`.
fn regime_gate(cx: &Ctx<'_>, hipaa: bool) -> Option<CheckResult> {
    if !cx.since(crate::rules::V1_1) {
        return None;
    }
    let mut p = Probe::new();
    let Some(regime) = cx.config.regime() else {
        return Some(Err(p.missing(
            "tenant.regime".to_owned(),
            "not set (state `hipaa`, `hds` or `both`: it decides which of the HIPAA and HDS rules apply)",
        )));
    };
    p.note("tenant.regime", regime.render());
    let applies = if hipaa { regime.hipaa() } else { regime.hds() };
    (!applies).then(|| {
        p.na(format!(
            "the tenant is under {} only: {} rules do not apply",
            if hipaa { "HDS" } else { "HIPAA" },
            if hipaa { "HIPAA" } else { "HDS" }
        ))
    })
}

macro_rules! section {
    ($cx:expr, $field:ident) => {
        match &$cx.config.$field {
            Some(s) => s,
            None => return absent(stringify!($field)),
        }
    };
}

/// Why a name is not descriptive, if it is not.
fn non_descriptive(name: &str) -> Option<&'static str> {
    const GENERIC: &[&str] = &[
        "api",
        "api key",
        "api token",
        "app",
        "client",
        "default",
        "jwt",
        "key",
        "my token",
        "new",
        "new token",
        "oauth",
        "oauth client",
        "secret",
        "temp",
        "test",
        "tmp",
        "token",
        "foo",
        "bar",
        "integration",
        "signing key",
        "web",
        "widget",
    ];
    let t = name.trim();
    if t.is_empty() {
        return Some("blank name");
    }
    if t.chars().count() < 3 {
        return Some("too short to say what it is for");
    }
    if !t.chars().any(char::is_alphabetic) {
        return Some("no letters: say what it is for");
    }
    let stem = t
        .trim_end_matches(|c: char| {
            c.is_ascii_digit() || c.is_whitespace() || c == '-' || c == '_' || c == '#'
        })
        .to_lowercase();
    let stem = stem.replace(['_', '-'], " ");
    if GENERIC.contains(&stem.as_str()) {
        return Some("generic name: say which service or channel it is for");
    }
    None
}

fn key(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Problems for duplicate values: "`path[j].field` repeats `path[i].field` ("x")".
fn duplicates<'a>(
    p: &mut Probe,
    prefix: &str,
    field: &str,
    values: impl Iterator<Item = &'a str>,
    what: &str,
) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut problems = Vec::new();
    for (i, v) in values.enumerate() {
        if let Some(first) = seen.get(&key(v)) {
            p.note(format!("{prefix}[{first}].{field}"), v.to_owned().render());
            p.note(format!("{prefix}[{i}].{field}"), v.to_owned().render());
            problems.push(format!(
                "{prefix}[{i}].{field} {v:?} repeats {prefix}[{first}] ({what})"
            ));
        } else {
            seen.insert(key(v), i);
        }
    }
    problems
}

// ---------------------------------------------------------------- hipaa, hds

pub(crate) fn hipaa_baa_before_toggle(cx: &Ctx<'_>) -> CheckResult {
    if let Some(r) = regime_gate(cx, true) {
        return r;
    }
    let h = section!(cx, hipaa);
    let mut p = Probe::new();
    let baa = p.flag("hipaa.baa_signed", h.baa_signed)?;
    let on = p.flag("hipaa.enabled", h.enabled)?;
    if !baa {
        return p.fail(if on {
            "the HIPAA toggle is on but no BAA is signed: the toggle may be set only after the BAA"
        } else {
            "no BAA is signed with the platform vendor: PHI must not enter the platform"
        });
    }
    if !on {
        return p.fail("the BAA is signed but the HIPAA toggle is off: HIPAA behaviour (idle timeout, …) is not enforced");
    }
    if let (Some(signed), Some(enabled)) = (h.baa_signed_on, h.enabled_on) {
        p.note("hipaa.baa_signed_on", signed.to_string());
        p.note("hipaa.enabled_on", enabled.to_string());
        if enabled < signed {
            return p.fail(format!(
                "the HIPAA toggle was set on {enabled}, before the BAA was signed on {signed}"
            ));
        }
    }
    p.pass("BAA signed and HIPAA toggle on")
}

pub(crate) fn hipaa_region(cx: &Ctx<'_>) -> CheckResult {
    if let Some(r) = regime_gate(cx, true) {
        return r;
    }
    let h = section!(cx, hipaa);
    let mut p = Probe::new();
    let region = p.val("hipaa.region", &h.region)?;
    let n = normalize_region(&region);
    let allowed = cx.params.hipaa_regions();
    if !allowed.is_empty() {
        p.note("parameters.hipaa_regions", allowed.to_vec().render());
        return if allowed.contains(&n) {
            p.pass(format!(
                "region {region:?} is in the organisation's HIPAA regions"
            ))
        } else {
            p.fail(format!(
                "region {region:?} is not in the organisation's HIPAA regions"
            ))
        };
    }
    if is_hipaa_region_family(&n) {
        p.pass(format!("region {region:?} is a US East / US West region"))
    } else {
        p.fail(format!(
            "region {region:?}: HIPAA is offered only in US East and US West regions"
        ))
    }
}

pub(crate) fn hds_subprocessor_notifications(cx: &Ctx<'_>) -> CheckResult {
    if let Some(r) = regime_gate(cx, false) {
        return r;
    }
    let h = section!(cx, hds);
    let mut p = Probe::new();
    if p.flag(
        "hds.subprocessor_notifications",
        h.subprocessor_notifications,
    )? {
        p.pass("the account follows the sub-processor policy")
    } else {
        p.fail("the account does not follow the sub-processor policy: changes of sub-processors go unnoticed")
    }
}

// ---------------------------------------------------------------- authentication

fn sso<'a>(p: &mut Probe, a: &'a Authentication) -> Result<&'a Sso, Undecidable> {
    a.sso.as_ref().ok_or_else(|| {
        p.missing(
            "authentication.sso".to_owned(),
            "absent although method = \"sso\"",
        )
    })
}

pub(crate) fn auth_password_policy(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, authentication);
    let mut p = Probe::new();
    match p.val("authentication.method", &a.method)? {
        AuthMethod::Native => match p.val("authentication.password_policy", &a.password_policy)? {
            PasswordPolicy::Recommended | PasswordPolicy::Strict => {
                p.pass("native password policy is at least \"recommended\"")
            }
            PasswordPolicy::Custom => {
                if p.flag(
                    "authentication.custom_policy_at_least_recommended",
                    a.custom_policy_at_least_recommended,
                )? {
                    p.pass("custom password policy attested no less strict than \"recommended\"")
                } else {
                    p.fail("custom password policy is not attested to be at least as strict as \"recommended\"")
                }
            }
            weak => p.fail(format!(
                "native password policy \"{weak}\" is weaker than \"recommended\""
            )),
        },
        AuthMethod::Sso => {
            let s = sso(&mut p, a)?;
            if p.flag(
                "authentication.sso.at_least_recommended",
                s.at_least_recommended,
            )? {
                p.pass("SSO requirements attested no less strict than \"recommended\"")
            } else {
                p.fail(
                    "SSO requirements are not attested to be at least as strict as \"recommended\"",
                )
            }
        }
    }
}

pub(crate) fn auth_two_factor(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, authentication);
    let mut p = Probe::new();
    if let Some(m) = &a.method {
        p.note("authentication.method", m.render());
    }
    if p.flag("authentication.two_factor_enforced", a.two_factor_enforced)? {
        p.pass("two-factor authentication is enforced for all agents")
    } else {
        p.fail("two-factor authentication is not enforced for all agents")
    }
}

pub(crate) fn auth_end_user_passwords(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, authentication);
    let mut p = Probe::new();
    if p.flag(
        "authentication.admins_can_set_end_user_passwords",
        a.admins_can_set_end_user_passwords,
    )? {
        p.fail("admins can set end users' passwords")
    } else {
        p.pass("admins cannot set end users' passwords")
    }
}

pub(crate) fn auth_sso_password_login(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, authentication);
    let mut p = Probe::new();
    match p.val("authentication.method", &a.method)? {
        AuthMethod::Native => p.na("method = \"native\": no single sign-on in use"),
        AuthMethod::Sso => {
            let s = sso(&mut p, a)?;
            if p.flag(
                "authentication.sso.password_login_enabled",
                s.password_login_enabled,
            )? {
                p.fail("password login stays enabled next to single sign-on")
            } else {
                p.pass("password login is disabled with single sign-on")
            }
        }
    }
}

// ---------------------------------------------------------------- transport, network

pub(crate) fn transport_tls(cx: &Ctx<'_>) -> CheckResult {
    let t = section!(cx, transport);
    let mut p = Probe::new();
    if p.flag("transport.tls_enforced", t.tls_enforced)? {
        p.pass("TLS is always on")
    } else {
        p.fail("TLS is not enforced: PHI could travel unencrypted")
    }
}

pub(crate) fn transport_custom_domain_ssl(cx: &Ctx<'_>) -> CheckResult {
    let t = section!(cx, transport);
    let mut p = Probe::new();
    let Some(domain) = &t.custom_domain else {
        p.note("transport.custom_domain", "(not set: the vendor's domain)");
        return p.na("no custom domain");
    };
    p.note("transport.custom_domain", domain.render());
    if p.flag("transport.hosted_ssl", t.hosted_ssl)? {
        p.pass(format!("custom domain {domain:?} uses hosted SSL"))
    } else {
        p.fail(format!("custom domain {domain:?} does not use hosted SSL"))
    }
}

pub(crate) fn network_agent_ip_restriction(cx: &Ctx<'_>) -> CheckResult {
    let (net, auth) = (&cx.config.network, &cx.config.authentication);
    if net.is_none() && auth.is_none() {
        return Ok(Outcome {
            status: Status::NotApplicable,
            message: "sections [network] and [authentication] absent: no agent access described"
                .into(),
            absent: Some("network"),
            evidence: vec![
                Evidence {
                    key: "network".into(),
                    value: "(absent)".into(),
                },
                Evidence {
                    key: "authentication".into(),
                    value: "(absent)".into(),
                },
            ],
        });
    }
    let mut p = Probe::new();
    let list = net
        .as_ref()
        .map(|n| n.agent_ip_allowlist.clone())
        .unwrap_or_default();
    p.note(
        "network.agent_ip_allowlist",
        if net.is_some() {
            list.render()
        } else {
            "(section absent)".into()
        },
    );
    if !list.is_empty() {
        return p.pass(format!(
            "agent access restricted to {} IP range(s)",
            list.len()
        ));
    }
    let mfa = auth.as_ref().and_then(|a| a.two_factor_enforced);
    p.note(
        "authentication.two_factor_enforced",
        mfa.map_or("(not set)".into(), |v| v.render()),
    );
    if mfa == Some(true) {
        p.pass("no IP allow-list, but multi-factor authentication is enforced for agents")
    } else {
        p.fail(
            "agent access is not restricted to the subscriber's IP ranges and MFA is not enforced",
        )
    }
}

// ---------------------------------------------------------------- API access (shared)

fn oauth_clients(prefix: &str, clients: &[OAuthClient]) -> CheckResult {
    let mut p = Probe::new();
    if clients.is_empty() {
        p.note(prefix, "[]");
        return p.na("no OAuth clients");
    }
    let mut problems = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        if let Some(why) = non_descriptive(&c.name) {
            p.note(format!("{prefix}[{i}].name"), c.name.render());
            problems.push(format!("{prefix}[{i}].name {:?}: {why}", c.name));
        }
        if c.id.trim().is_empty() {
            p.note(format!("{prefix}[{i}].id"), c.id.render());
            problems.push(format!("{prefix}[{i}].id is blank"));
        }
    }
    problems.extend(duplicates(
        &mut p,
        prefix,
        "name",
        clients.iter().map(|c| c.name.as_str()),
        "names must be unique",
    ));
    problems.extend(duplicates(
        &mut p,
        prefix,
        "id",
        clients.iter().map(|c| c.id.as_str()),
        "ids must be unique",
    ));
    if problems.is_empty() {
        let names: Vec<String> = clients.iter().map(|c| c.name.clone()).collect();
        p.note(prefix, names.render());
    }
    p.verdict(
        problems,
        format!(
            "{} OAuth client(s), each uniquely and descriptively named",
            clients.len()
        ),
    )
}

/// Scopes that grant the whole API rather than a resource.
const BROAD_SCOPES: &[&str] = &[
    "*",
    "all",
    "read",
    "write",
    "impersonate",
    "admin",
    "full_access",
];

fn oauth_scopes(prefix: &str, clients: &[OAuthClient]) -> CheckResult {
    let mut p = Probe::new();
    if clients.is_empty() {
        p.note(prefix, "[]");
        return p.na("no OAuth clients");
    }
    let mut problems = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let path = format!("{prefix}[{i}].scopes");
        if c.scopes.is_empty() {
            p.note(&path, "[]");
            problems.push(format!(
                "{path}: no scopes listed (state the scopes granted)"
            ));
            continue;
        }
        let broad: Vec<&String> = c
            .scopes
            .iter()
            .filter(|s| BROAD_SCOPES.contains(&key(s).as_str()))
            .collect();
        p.note(&path, c.scopes.render());
        if !broad.is_empty() {
            problems.push(format!(
                "{path}: {:?} grants the whole API, not the least privilege",
                broad
            ));
        }
    }
    p.verdict(problems, "every OAuth client has resource-level scopes")
}

fn token_per_service(prefix: &str, tokens: &[ApiToken]) -> CheckResult {
    let mut p = Probe::new();
    if tokens.is_empty() {
        p.note(prefix, "[]");
        return p.na("no API tokens");
    }
    let mut problems = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if let Some(why) = non_descriptive(&t.name) {
            p.note(format!("{prefix}[{i}].name"), t.name.render());
            problems.push(format!("{prefix}[{i}].name {:?}: {why}", t.name));
        }
        if t.service.trim().is_empty() {
            problems.push(format!("{prefix}[{i}].service is blank"));
        }
    }
    problems.extend(duplicates(
        &mut p,
        prefix,
        "name",
        tokens.iter().map(|t| t.name.as_str()),
        "names must be unique",
    ));
    problems.extend(duplicates(
        &mut p,
        prefix,
        "service",
        tokens.iter().map(|t| t.service.as_str()),
        "one token per service",
    ));
    if problems.is_empty() {
        let services: Vec<String> = tokens.iter().map(|t| t.service.clone()).collect();
        p.note(format!("{prefix}[*].service"), services.render());
    }
    p.verdict(
        problems,
        format!(
            "{} token(s), one per service, descriptively named",
            tokens.len()
        ),
    )
}

/// A secret that may be handed to third parties: an API token or a JWT signing key.
trait Shareable {
    fn name(&self) -> &str;
    fn shared_with(&self) -> &[String];
    fn shared_e2e(&self) -> Option<bool>;
    fn breach_on(&self) -> Option<crate::date::Date>;
    fn rotated(&self) -> Option<crate::date::Date>;
    fn created(&self) -> crate::date::Date;
}
macro_rules! shareable {
    ($($t:ty),*) => {$(impl Shareable for $t {
        fn name(&self) -> &str { &self.name }
        fn shared_with(&self) -> &[String] { &self.shared_with }
        fn shared_e2e(&self) -> Option<bool> { self.shared_end_to_end_encrypted }
        fn breach_on(&self) -> Option<crate::date::Date> { self.third_party_breach_on }
        fn rotated(&self) -> Option<crate::date::Date> { self.rotated }
        fn created(&self) -> crate::date::Date { self.created }
    })*};
}
shareable!(ApiToken, JwtKey);

fn token_sharing<T: Shareable>(prefix: &str, tokens: &[T]) -> CheckResult {
    let mut p = Probe::new();
    if tokens.is_empty() {
        p.note(prefix, "[]");
        return p.na("no API tokens");
    }
    shared_secrets(p, prefix, tokens, "token")
}

fn shared_secrets<T: Shareable>(
    mut p: Probe,
    prefix: &str,
    tokens: &[T],
    noun: &str,
) -> CheckResult {
    let mut problems = Vec::new();
    let mut shared = 0;
    for (i, t) in tokens.iter().enumerate() {
        if t.shared_with().is_empty() {
            continue;
        }
        shared += 1;
        p.note(
            format!("{prefix}[{i}].shared_with"),
            t.shared_with().to_vec().render(),
        );
        if !p.flag(
            format!("{prefix}[{i}].shared_end_to_end_encrypted"),
            t.shared_e2e(),
        )? {
            problems.push(format!(
                "{prefix}[{i}] ({:?}) was shared without end-to-end encryption",
                t.name()
            ));
        }
    }
    if shared == 0 {
        p.note(format!("{prefix}[*].shared_with"), "[]");
        return p.pass(format!("no {noun} is shared with a third party"));
    }
    p.verdict(
        problems,
        format!("{shared} shared {noun}(s), all handed over end-to-end encrypted"),
    )
}

fn token_breach_rotation<T: Shareable>(prefix: &str, tokens: &[T]) -> CheckResult {
    let mut p = Probe::new();
    if tokens.is_empty() {
        p.note(prefix, "[]");
        return p.na("no API tokens");
    }
    breached_secrets(p, prefix, tokens, "token")
}

fn breached_secrets<T: Shareable>(
    mut p: Probe,
    prefix: &str,
    tokens: &[T],
    noun: &str,
) -> CheckResult {
    let mut problems = Vec::new();
    let mut breaches = 0;
    for (i, t) in tokens.iter().enumerate() {
        let Some(breach) = t.breach_on() else {
            continue;
        };
        breaches += 1;
        let since = t.rotated().unwrap_or(t.created());
        p.note(
            format!("{prefix}[{i}].third_party_breach_on"),
            breach.to_string(),
        );
        p.note(
            format!(
                "{prefix}[{i}].{}",
                if t.rotated().is_some() {
                    "rotated"
                } else {
                    "created"
                }
            ),
            since.to_string(),
        );
        if since < breach {
            problems.push(format!(
                "{prefix}[{i}] ({:?}) was not changed after the third-party breach of {breach}",
                t.name()
            ));
        }
    }
    if breaches == 0 {
        p.note(
            format!("{prefix}[*].third_party_breach_on"),
            "(none recorded)",
        );
        return p.na(format!("no third-party breach recorded for any {noun}"));
    }
    p.verdict(
        problems,
        format!("every {noun} exposed by a third-party breach was changed after it"),
    )
}

/// The JWT rules apply with JWT end-user authentication and at least one key.
fn jwt_keys_probe(
    prefix: &str,
    auth: Option<EndUserAuth>,
    keys: &[JwtKey],
) -> Result<Probe, CheckResult> {
    let mut p = Probe::new();
    match jwt_applies(&mut p, prefix, auth) {
        Err(u) => return Err(Err(u)),
        Ok(false) => return Err(p.na("end users are not authenticated with JWT")),
        Ok(true) => {}
    }
    if keys.is_empty() {
        p.note(format!("{prefix}.jwt_keys"), "[]");
        return Err(p.na("no JWT signing key listed (messaging.jwt-signing-keys fails on that)"));
    }
    Ok(p)
}

fn jwt_key_sharing(prefix: &str, auth: Option<EndUserAuth>, keys: &[JwtKey]) -> CheckResult {
    match jwt_keys_probe(prefix, auth, keys) {
        Ok(p) => shared_secrets(p, &format!("{prefix}.jwt_keys"), keys, "signing key"),
        Err(r) => r,
    }
}

fn jwt_key_breach_rotation(
    prefix: &str,
    auth: Option<EndUserAuth>,
    keys: &[JwtKey],
) -> CheckResult {
    match jwt_keys_probe(prefix, auth, keys) {
        Ok(p) => breached_secrets(p, &format!("{prefix}.jwt_keys"), keys, "signing key"),
        Err(r) => r,
    }
}

pub(crate) fn messaging_jwt_key_sharing(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, messaging);
    jwt_key_sharing("messaging", m.end_user_authentication, &m.jwt_keys)
}
pub(crate) fn messaging_jwt_key_breach_rotation(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, messaging);
    jwt_key_breach_rotation("messaging", m.end_user_authentication, &m.jwt_keys)
}
pub(crate) fn conv_jwt_key_sharing(cx: &Ctx<'_>) -> CheckResult {
    let c = section!(cx, conversations_api);
    jwt_key_sharing("conversations_api", c.end_user_authentication, &c.jwt_keys)
}
pub(crate) fn conv_jwt_key_breach_rotation(cx: &Ctx<'_>) -> CheckResult {
    let c = section!(cx, conversations_api);
    jwt_key_breach_rotation("conversations_api", c.end_user_authentication, &c.jwt_keys)
}

/// Each credential's current secret must be at most `max_days` old on `today`.
fn credential_age<'a>(
    p: &mut Probe,
    prefix: &str,
    items: impl Iterator<Item = (&'a str, Option<crate::date::Date>, crate::date::Date)>,
    max_days: u32,
    today: NaiveDate,
) -> Result<Vec<String>, Undecidable> {
    let mut problems = Vec::new();
    for (i, (name, rotated, created)) in items.enumerate() {
        let (field, since) = match rotated {
            Some(r) => ("rotated", r),
            None => ("created", created),
        };
        let path = format!("{prefix}[{i}].{field}");
        p.note(&path, since.to_string());
        let age = since.days_until(today);
        if age < 0 {
            return Err(p.undecidable(format!("`{path}` ({since}) is after the evaluation date {today}: check the date or the evaluation date")));
        }
        if age > i64::from(max_days) {
            problems.push(format!(
                "{prefix}[{i}] ({name:?}) is {age} days old (rotate at least every {max_days} days)"
            ));
        }
    }
    Ok(problems)
}

fn token_rotation(cx: &Ctx<'_>, prefix: &str, tokens: &[ApiToken]) -> CheckResult {
    let mut p = Probe::new();
    if tokens.is_empty() {
        p.note(prefix, "[]");
        return p.na("no API tokens");
    }
    let max = cx.params.api_token_max_age_days();
    p.note("parameters.api_token_max_age_days", max.to_string());
    let problems = credential_age(
        &mut p,
        prefix,
        tokens
            .iter()
            .map(|t| (t.name.as_str(), t.rotated, t.created)),
        max,
        cx.today,
    )?;
    p.verdict(problems, format!("every token rotated within {max} days"))
}

fn channel_baas(prefix: &str, channels: &[ChannelIntegration]) -> CheckResult {
    let mut p = Probe::new();
    if channels.is_empty() {
        p.note(prefix, "[]");
        return p.na("no third-party channel integrations");
    }
    let mut problems = Vec::new();
    for (i, c) in channels.iter().enumerate() {
        p.note(
            format!("{prefix}[{i}]"),
            format!(
                "{{ platform = {:?}, baa_signed = {} }}",
                c.platform, c.baa_signed
            ),
        );
        if !c.baa_signed {
            problems.push(format!(
                "{:?} is integrated without the subscriber's own BAA with that platform",
                c.platform
            ));
        }
    }
    p.verdict(
        problems,
        "every integrated channel platform is covered by the subscriber's own BAA",
    )
}

fn end_user_attachments(prefix: &str, end_user: Option<bool>, secure: Option<bool>) -> CheckResult {
    let mut p = Probe::new();
    if !p.flag(format!("{prefix}.end_user_attachments"), end_user)? {
        return p.pass("end users cannot attach files");
    }
    if p.flag(format!("{prefix}.secure_attachments"), secure)? {
        p.pass("end-user attachments need authentication (secure attachments)")
    } else {
        p.fail("end users can attach files and attachments are reachable by URL without authentication")
    }
}

fn jwt_applies(
    p: &mut Probe,
    prefix: &str,
    auth: Option<EndUserAuth>,
) -> Result<bool, Undecidable> {
    Ok(p.val(format!("{prefix}.end_user_authentication"), &auth)? == EndUserAuth::Jwt)
}

fn jwt_signing_keys(
    cx: &Ctx<'_>,
    prefix: &str,
    auth: Option<EndUserAuth>,
    keys: &[JwtKey],
) -> CheckResult {
    let mut p = Probe::new();
    if !jwt_applies(&mut p, prefix, auth)? {
        return p.na("end users are not authenticated with JWT");
    }
    let path = format!("{prefix}.jwt_keys");
    if keys.is_empty() {
        p.note(&path, "[]");
        return p.fail("JWT end-user authentication is on but no signing key is listed");
    }
    let mut problems = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if let Some(why) = non_descriptive(&k.name) {
            p.note(format!("{path}[{i}].name"), k.name.render());
            problems.push(format!("{path}[{i}].name {:?}: {why}", k.name));
        }
    }
    problems.extend(duplicates(
        &mut p,
        &path,
        "channel",
        keys.iter().map(|k| k.channel.as_str()),
        "one key per channel",
    ));
    problems.extend(duplicates(
        &mut p,
        &path,
        "key_id",
        keys.iter().map(|k| k.key_id.as_str()),
        "each channel needs its own key",
    ));
    problems.extend(duplicates(
        &mut p,
        &path,
        "name",
        keys.iter().map(|k| k.name.as_str()),
        "names must be unique",
    ));
    let max = cx.params.jwt_key_max_age_days();
    p.note("parameters.jwt_key_max_age_days", max.to_string());
    problems.extend(credential_age(
        &mut p,
        &path,
        keys.iter().map(|k| (k.name.as_str(), k.rotated, k.created)),
        max,
        cx.today,
    )?);
    p.verdict(
        problems,
        format!(
            "{} key(s), one per channel, named, rotated within {max} days",
            keys.len()
        ),
    )
}

fn jwt_expiry(
    cx: &Ctx<'_>,
    prefix: &str,
    auth: Option<EndUserAuth>,
    keys: &[JwtKey],
) -> CheckResult {
    let mut p = Probe::new();
    if !jwt_applies(&mut p, prefix, auth)? {
        return p.na("end users are not authenticated with JWT");
    }
    let path = format!("{prefix}.jwt_keys");
    if keys.is_empty() {
        p.note(&path, "[]");
        return p
            .fail("JWT end-user authentication is on but no signing key (and its exp) is listed");
    }
    let max = cx.params.jwt_exp_max_minutes();
    p.note("parameters.jwt_exp_max_minutes", max.to_string());
    let mut problems = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let key_path = format!("{path}[{i}].exp_minutes");
        match k.exp_minutes {
            None => {
                p.note(&key_path, "(not set: no exp claim)");
                problems.push(format!(
                    "channel {:?}: tokens carry no exp claim",
                    k.channel
                ));
            }
            Some(m) => {
                p.note(&key_path, m.to_string());
                if m == 0 || m > max {
                    problems.push(format!(
                        "channel {:?}: exp of {m} minutes (must be 1 to {max})",
                        k.channel
                    ));
                }
            }
        }
    }
    p.verdict(
        problems,
        format!("every channel's JWT exp is at most {max} minutes"),
    )
}

fn ai_conversation_deletion(
    prefix: &str,
    ai: Option<bool>,
    deletion: Option<ConversationDeletion>,
) -> CheckResult {
    let mut p = Probe::new();
    if !p.flag(format!("{prefix}.ai_agents"), ai)? {
        return p.na("no AI agents");
    }
    match p.val(format!("{prefix}.ai_conversation_deletion"), &deletion)? {
        ConversationDeletion::None => {
            p.fail("AI-agent conversations that never became a ticket are kept indefinitely")
        }
        how => p.pass(format!("AI-agent conversations are deleted ({how})")),
    }
}

/// Pass when the flag is stated true, fail when stated false.
fn attested(mut p: Probe, path: String, v: Option<bool>, yes: &str, no: &str) -> CheckResult {
    if p.flag(path, v)? {
        p.pass(yes)
    } else {
        p.fail(no)
    }
}

// ---------------------------------------------------------------- api (support)

pub(crate) fn api_password_access(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, api);
    let mut p = Probe::new();
    if p.flag("api.password_access_enabled", a.password_access_enabled)? {
        p.fail("password (basic-auth) access to the API is enabled")
    } else {
        p.pass("password access to the API is disabled")
    }
}
pub(crate) fn api_oauth_clients(cx: &Ctx<'_>) -> CheckResult {
    oauth_clients("api.oauth_clients", &section!(cx, api).oauth_clients)
}
pub(crate) fn api_oauth_scopes(cx: &Ctx<'_>) -> CheckResult {
    oauth_scopes("api.oauth_clients", &section!(cx, api).oauth_clients)
}
pub(crate) fn api_token_per_service(cx: &Ctx<'_>) -> CheckResult {
    token_per_service("api.tokens", &section!(cx, api).tokens)
}
pub(crate) fn api_token_sharing(cx: &Ctx<'_>) -> CheckResult {
    token_sharing("api.tokens", &section!(cx, api).tokens)
}
pub(crate) fn api_token_breach_rotation(cx: &Ctx<'_>) -> CheckResult {
    token_breach_rotation("api.tokens", &section!(cx, api).tokens)
}
pub(crate) fn api_token_rotation(cx: &Ctx<'_>) -> CheckResult {
    token_rotation(cx, "api.tokens", &section!(cx, api).tokens)
}

// ---------------------------------------------------------------- attachments, sessions, workstations

pub(crate) fn attachments_download_auth(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, attachments);
    attested(
        Probe::new(),
        "attachments.require_authentication_to_download".into(),
        a.require_authentication_to_download,
        "downloading an attachment requires authentication",
        "anyone with an attachment's URL can download it",
    )
}

pub(crate) fn sessions_idle_timeout(cx: &Ctx<'_>) -> CheckResult {
    let s = section!(cx, sessions);
    let mut p = Probe::new();
    let v = p.val("sessions.idle_timeout_minutes", &s.idle_timeout_minutes)?;
    let (min, max) = (
        cx.params.idle_timeout_min_minutes(),
        cx.params.idle_timeout_max_minutes(),
    );
    p.note("parameters.idle_timeout_max_minutes", max.to_string());
    if v > max {
        p.fail(format!("idle timeout of {v} minutes exceeds {max}"))
    } else if v < min {
        p.note("parameters.idle_timeout_min_minutes", min.to_string());
        p.fail(format!(
            "idle timeout of {v} minutes is below the platform's minimum of {min}"
        ))
    } else {
        p.pass(format!("sessions end after {v} minutes of inactivity"))
    }
}

pub(crate) fn sessions_api_client_idle_timeout(cx: &Ctx<'_>) -> CheckResult {
    let s = section!(cx, sessions);
    attested(
        Probe::new(),
        "sessions.idle_timeout_applies_to_api_clients".into(),
        s.idle_timeout_applies_to_api_clients,
        "the idle timeout applies to OAuth / API clients too",
        "OAuth / API client sessions are exempt from the idle timeout",
    )
}

pub(crate) fn sessions_access_token_lifetime(cx: &Ctx<'_>) -> CheckResult {
    let s = section!(cx, sessions);
    let mut p = Probe::new();
    let Some(v) = s.access_token_lifetime_minutes else {
        p.note(
            "sessions.access_token_lifetime_minutes",
            "(not set: not exposed by the product)",
        );
        return p.na("no access-token lifetime configured");
    };
    p.note("sessions.access_token_lifetime_minutes", v.to_string());
    let max = cx.params.idle_timeout_max_minutes();
    p.note("parameters.idle_timeout_max_minutes", max.to_string());
    if v == 0 || v > max {
        p.fail(format!(
            "access tokens live {v} minutes: a client could outlast the {max}-minute idle timeout"
        ))
    } else {
        p.pass(format!("access tokens expire after {v} minutes"))
    }
}

fn lock_minutes(
    p: &mut Probe,
    path: &str,
    v: Option<u32>,
    max: u32,
) -> Result<Option<String>, Undecidable> {
    let v = p.val(path, &v)?;
    p.note("parameters.screen_lock_max_minutes", max.to_string());
    Ok(if v == 0 {
        Some("the screen never locks (0 minutes)".to_owned())
    } else if v > max {
        Some(format!(
            "the screen locks after {v} minutes, more than {max}"
        ))
    } else {
        None
    })
}

pub(crate) fn workstations_inactivity_lock(cx: &Ctx<'_>) -> CheckResult {
    let w = section!(cx, workstations);
    let mut p = Probe::new();
    match lock_minutes(
        &mut p,
        "workstations.inactivity_lock_minutes",
        w.inactivity_lock_minutes,
        cx.params.screen_lock_max_minutes(),
    )? {
        Some(problem) => p.fail(problem),
        None => p.pass("workstations lock after inactivity within the limit"),
    }
}

pub(crate) fn workstations_full_disk_encryption(cx: &Ctx<'_>) -> CheckResult {
    let w = section!(cx, workstations);
    attested(
        Probe::new(),
        "workstations.full_disk_encryption".into(),
        w.full_disk_encryption,
        "workstations use full-disk encryption",
        "workstations do not use full-disk encryption",
    )
}

pub(crate) fn workstations_local_token_storage(cx: &Ctx<'_>) -> CheckResult {
    let w = section!(cx, workstations);
    if cx.since(crate::rules::V1_1) {
        return local_token_storage_note(cx, w);
    }
    let mut p = Probe::new();
    if !p.flag(
        "workstations.session_tokens_in_local_storage",
        w.session_tokens_in_local_storage,
    )? {
        return p.pass("no session tokens are kept in local storage");
    }
    let fde = p.flag("workstations.full_disk_encryption", w.full_disk_encryption)?;
    let lock = lock_minutes(
        &mut p,
        "workstations.inactivity_lock_minutes",
        w.inactivity_lock_minutes,
        cx.params.screen_lock_max_minutes(),
    )?;
    match (fde, lock) {
        (true, None) => p.pass(
            "tokens in local storage are protected by full-disk encryption and the inactivity lock",
        ),
        (false, _) => p.fail(
            "session tokens rest in local storage on workstations without full-disk encryption",
        ),
        (true, Some(problem)) => p.fail(format!(
            "session tokens rest in local storage and {problem}"
        )),
    }
}

/// H-7 is a note in its source: information, never pass or fail.
fn local_token_storage_note(cx: &Ctx<'_>, w: &Workstations) -> CheckResult {
    let mut p = Probe::new();
    let note = "seed 002 notes the platform may keep session tokens in the browser's local storage";
    match w.session_tokens_in_local_storage {
        None => {
            p.note("workstations.session_tokens_in_local_storage", "(not set)");
            p.info(format!("{note}; whether it does here is not stated; full-disk encryption and the inactivity lock protect them at rest"))
        }
        Some(false) => {
            p.note("workstations.session_tokens_in_local_storage", "false");
            p.info("no session tokens are kept in local storage")
        }
        Some(true) => {
            p.note("workstations.session_tokens_in_local_storage", "true");
            let fde = w.full_disk_encryption == Some(true);
            let lock = w
                .inactivity_lock_minutes
                .is_some_and(|m| m > 0 && m <= cx.params.screen_lock_max_minutes());
            p.info(if fde && lock {
                format!("{note}; here they are protected at rest by full-disk encryption and the inactivity lock")
            } else {
                format!("{note}; their protection at rest depends on workstations.full-disk-encryption and workstations.inactivity-lock, which are not both met")
            })
        }
    }
}

// ---------------------------------------------------------------- views, notifications, sms, email, surveys

pub(crate) fn view_agent_scope(cx: &Ctx<'_>) -> CheckResult {
    let v = section!(cx, view_permissions);
    let mut p = Probe::new();
    match p.val("view_permissions.agent_ticket_scope", &v.agent_ticket_scope)? {
        AgentTicketScope::Own | AgentTicketScope::Groups => {
            p.pass("agents see their own tickets or their groups' tickets")
        }
        wide => p.fail(format!("agents' view is widened to \"{wide}\" tickets")),
    }
}

pub(crate) fn view_end_user_scope(cx: &Ctx<'_>) -> CheckResult {
    let v = section!(cx, view_permissions);
    let mut p = Probe::new();
    let user = p.val(
        "view_permissions.end_user_user_level",
        &v.end_user_user_level,
    )?;
    let org = p.val(
        "view_permissions.end_user_organization_level",
        &v.end_user_organization_level,
    )?;
    // When the two settings conflict, the permissive one wins.
    let mut wide = Vec::new();
    if user == EndUserScope::Organization {
        wide.push("user profiles");
    }
    if org == EndUserScope::Organization {
        wide.push("organisations");
    }
    if wide.is_empty() {
        p.pass("end users see only their own requests at both levels")
    } else {
        p.fail(format!(
            "end users see their organisation's requests (set on {}; the permissive setting wins)",
            wide.join(" and ")
        ))
    }
}

pub(crate) fn notifications_email_content(cx: &Ctx<'_>) -> CheckResult {
    let n = section!(cx, notifications);
    if cx.since(crate::rules::V1_1) {
        return notification_paths(n);
    }
    let mut p = Probe::new();
    let content = p.flag(
        "notifications.email_includes_ticket_content",
        n.email_includes_ticket_content,
    )?;
    let login = p.flag(
        "notifications.end_user_login_required",
        n.end_user_login_required,
    )?;
    match (content, login) {
        (false, true) => {
            p.pass("emails only say an agent replied; the end user logs in to read it")
        }
        (true, _) => p.fail("notification emails carry ticket content"),
        (false, false) => p.fail("the end user can read the reply without logging in"),
    }
}

/// Every path by which the help desk emails an end user (source change log 2024-03-07).
fn notification_paths(n: &Notifications) -> CheckResult {
    let mut p = Probe::new();
    let mut carrying = Vec::new();
    for (key, what, v) in [
        (
            "email_includes_ticket_content",
            "agent replies",
            n.email_includes_ticket_content,
        ),
        (
            "email_channel_includes_ticket_content",
            "the email channel",
            n.email_channel_includes_ticket_content,
        ),
        (
            "automations_include_ticket_content",
            "automations",
            n.automations_include_ticket_content,
        ),
        (
            "triggers_include_ticket_content",
            "triggers",
            n.triggers_include_ticket_content,
        ),
    ] {
        if p.flag(format!("notifications.{key}"), v)? {
            carrying.push(what);
        }
    }
    let login = p.flag(
        "notifications.end_user_login_required",
        n.end_user_login_required,
    )?;
    if !carrying.is_empty() {
        return p.fail(format!(
            "notification emails carry ticket content: {}",
            carrying.join(", ")
        ));
    }
    if !login {
        return p.fail("the end user can read the reply without logging in");
    }
    p.pass("every notification path (agent replies, email channel, automations, triggers) only says an agent replied; the end user logs in to read it")
}

pub(crate) fn sms_no_phi(cx: &Ctx<'_>) -> CheckResult {
    let s = section!(cx, sms);
    let mut p = Probe::new();
    if !p.flag("sms.enabled", s.enabled)? {
        return p.pass("SMS is not used");
    }
    if p.flag("sms.two_factor_only", s.two_factor_only)? {
        p.pass("SMS is used only for two-factor codes (exempt)")
    } else if cx.since(crate::rules::V1_1) {
        attested(
            p,
            "sms.phi_excluded".into(),
            s.phi_excluded,
            "SMS is used for messages, attested never to carry PHI",
            "SMS is used for messages and not attested free of PHI: it is not a HIPAA-compliant transport",
        )
    } else {
        p.fail("SMS is used for messages: it is not a HIPAA-compliant transport and must not carry PHI")
    }
}

pub(crate) fn acd_email_no_phi(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, acd_email);
    let mut p = Probe::new();
    if p.flag("acd_email.enabled", a.enabled)? {
        if cx.since(crate::rules::V1_1) {
            return attested(
                p,
                "acd_email.phi_excluded".into(),
                a.phi_excluded,
                "ACD email is on, attested never to carry ePHI",
                "ACD email is on and not attested free of ePHI: it is outside the BAA",
            );
        }
        p.fail("ACD email is enabled: it is not HIPAA compliant and must not carry ePHI")
    } else {
        p.pass("ACD email is not used")
    }
}

pub(crate) fn surveys_legacy(cx: &Ctx<'_>) -> CheckResult {
    let s = section!(cx, surveys);
    let mut p = Probe::new();
    if p.flag("surveys.legacy_enabled", s.legacy_enabled)? {
        p.fail("legacy satisfaction surveys mail ticket data to collect a rating")
    } else {
        p.pass("legacy satisfaction surveys are off")
    }
}

/// `{{…}}` placeholders in a template, in order.
fn placeholders(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start..];
        match after.find("}}") {
            Some(end) => {
                out.push(after[..end + 2].to_owned());
                rest = &after[end + 2..];
            }
            None => break,
        }
    }
    out
}

pub(crate) fn surveys_email_body(cx: &Ctx<'_>) -> CheckResult {
    let s = section!(cx, surveys);
    let mut p = Probe::new();
    if !p.flag("surveys.enabled", s.enabled)? {
        return p.na("satisfaction surveys are off");
    }
    let body = p.val("surveys.email_body", &s.email_body)?;
    let placeholder = s.placeholder();
    if !body.contains(placeholder) {
        return p.fail(format!(
            "the survey email body does not contain the survey link placeholder {placeholder}"
        ));
    }
    let norm = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let others: Vec<String> = placeholders(&body)
        .into_iter()
        .filter(|ph| norm(ph) != norm(placeholder))
        .collect();
    if others.is_empty() {
        p.pass(format!("the survey email uses only {placeholder}"))
    } else {
        p.fail(format!(
            "the survey email body includes other placeholders that may carry PHI: {}",
            others.join(", ")
        ))
    }
}

pub(crate) fn surveys_open_questions(cx: &Ctx<'_>) -> CheckResult {
    let s = section!(cx, surveys);
    let mut p = Probe::new();
    if !p.flag("surveys.enabled", s.enabled)? {
        return p.na("satisfaction surveys are off");
    }
    if p.flag("surveys.open_ended_questions", s.open_ended_questions)? {
        p.fail("open-ended survey questions invite free text (and PHI)")
    } else {
        p.pass("no open-ended survey questions")
    }
}

// ---------------------------------------------------------------- help center, community

pub(crate) fn help_center_public_content(cx: &Ctx<'_>) -> CheckResult {
    let h = section!(cx, help_center);
    let mut p = Probe::new();
    if !p.flag("help_center.public_articles", h.public_articles)? {
        return p.pass("articles are restricted (no public articles)");
    }
    attested(
        p,
        "help_center.public_content_phi_free".into(),
        h.public_content_phi_free,
        "public articles, attachments and images are attested free of PHI",
        "public articles are not attested free of PHI",
    )
}

pub(crate) fn help_center_comments(cx: &Ctx<'_>) -> CheckResult {
    let h = section!(cx, help_center);
    let mut p = Probe::new();
    if !p.flag("help_center.end_user_comments", h.end_user_comments)? {
        return p.pass("end users cannot comment");
    }
    attested(
        p,
        "help_center.comments_moderated".into(),
        h.comments_moderated,
        "end-user comments are moderated and PHI removed",
        "end users can comment without moderation",
    )
}

pub(crate) fn community_posts(cx: &Ctx<'_>) -> CheckResult {
    let c = section!(cx, community);
    let mut p = Probe::new();
    if !p.flag("community.end_user_posts", c.end_user_posts)? {
        return p.pass("end users cannot create posts");
    }
    if cx.since(crate::rules::V1_1) {
        let all = p.flag("community.moderate_all_content", c.moderate_all_content)?;
        if !all {
            return p.fail("end users can post without \"moderate all content\"");
        }
        return attested(
            p,
            "community.phi_submissions_rejected".into(),
            c.phi_submissions_rejected,
            "end-user posts are moderated (\"moderate all content\") and nothing with PHI is approved",
            "posts are moderated, but approving submissions with PHI is not excluded",
        );
    }
    attested(
        p,
        "community.moderate_all_content".into(),
        c.moderate_all_content,
        "end-user posts are allowed with \"moderate all content\" on",
        "end users can post without \"moderate all content\"",
    )
}

pub(crate) fn community_moderators(cx: &Ctx<'_>) -> CheckResult {
    let c = section!(cx, community);
    attested(
        Probe::new(),
        "community.moderators_all_employees".into(),
        c.moderators_all_employees,
        "every community moderator is an employee",
        "some community moderators are not employees",
    )
}

pub(crate) fn community_public_profiles(cx: &Ctx<'_>) -> CheckResult {
    let c = section!(cx, community);
    let mut p = Probe::new();
    if !p.flag("community.public_profiles", c.public_profiles)? {
        return p.pass("public profiles are off");
    }
    if p.flag("community.mentions", c.mentions)? {
        p.fail("public profiles and @mentions are both on")
    } else {
        p.pass("@mentions are off")
    }
}

// ---------------------------------------------------------------- messaging

pub(crate) fn messaging_social_channels(cx: &Ctx<'_>) -> CheckResult {
    channel_baas(
        "messaging.social_channels",
        &section!(cx, messaging).social_channels,
    )
}
pub(crate) fn messaging_attachments(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, messaging);
    end_user_attachments("messaging", m.end_user_attachments, m.secure_attachments)
}
pub(crate) fn messaging_agent_visibility(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, messaging);
    attested(
        Probe::new(),
        "messaging.all_agents_see_all_messages".into(),
        m.all_agents_see_all_messages,
        "every agent may see every incoming message",
        "not every agent may see every incoming message, yet messages reach them",
    )
}
pub(crate) fn messaging_widget_persistence(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, messaging);
    let mut p = Probe::new();
    if !p.flag("messaging.web_widget_persistence", m.web_widget_persistence)? {
        return p.pass("web widget conversations do not persist on the device");
    }
    attested(
        p,
        "messaging.shared_devices_excluded".into(),
        m.shared_devices_excluded,
        "conversations persist, and end users do not share devices",
        "conversations persist on devices end users may share",
    )
}
pub(crate) fn messaging_jwt_signing_keys(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, messaging);
    jwt_signing_keys(cx, "messaging", m.end_user_authentication, &m.jwt_keys)
}
pub(crate) fn messaging_jwt_expiry(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, messaging);
    jwt_expiry(cx, "messaging", m.end_user_authentication, &m.jwt_keys)
}
pub(crate) fn messaging_ai_conversation_deletion(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, messaging);
    ai_conversation_deletion("messaging", m.ai_agents, m.ai_conversation_deletion)
}
pub(crate) fn messaging_malware_control(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, messaging);
    let mut p = Probe::new();
    if cx.since(crate::rules::V1_1) && m.end_user_attachments == Some(false) {
        p.note("messaging.end_user_attachments", "false");
        return p.na("end users cannot attach files: nothing to scan");
    }
    attested(
        p,
        "messaging.malware_control_in_place".into(),
        m.malware_control_in_place,
        "the subscriber's own malware control covers messaging attachments",
        "messaging attachments are not malware-scanned and no own control is in place",
    )
}
pub(crate) fn messaging_agent_removal(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, messaging);
    attested(
        Probe::new(),
        "messaging.revoke_access_on_permission_removal".into(),
        m.revoke_access_on_permission_removal,
        "removing an agent's permission forcibly ends their access",
        "an agent removed mid-conversation keeps access until their session ends",
    )
}

pub(crate) fn side_conversations_no_phi(cx: &Ctx<'_>) -> CheckResult {
    let s = section!(cx, side_conversations);
    let mut p = Probe::new();
    if !p.flag("side_conversations.enabled", s.enabled)? {
        return p.pass("side conversations are off");
    }
    attested(
        p,
        "side_conversations.phi_excluded".into(),
        s.phi_excluded,
        "side conversations are attested to carry no PHI",
        "side conversations (child tickets, email, Slack) may carry PHI",
    )
}

// ---------------------------------------------------------------- conversations API

pub(crate) fn conv_third_party_channels(cx: &Ctx<'_>) -> CheckResult {
    channel_baas(
        "conversations_api.third_party_channels",
        &section!(cx, conversations_api).third_party_channels,
    )
}
pub(crate) fn conv_oauth_clients(cx: &Ctx<'_>) -> CheckResult {
    oauth_clients(
        "conversations_api.oauth_clients",
        &section!(cx, conversations_api).oauth_clients,
    )
}
pub(crate) fn conv_oauth_scopes(cx: &Ctx<'_>) -> CheckResult {
    oauth_scopes(
        "conversations_api.oauth_clients",
        &section!(cx, conversations_api).oauth_clients,
    )
}
pub(crate) fn conv_token_per_service(cx: &Ctx<'_>) -> CheckResult {
    token_per_service(
        "conversations_api.tokens",
        &section!(cx, conversations_api).tokens,
    )
}
pub(crate) fn conv_token_sharing(cx: &Ctx<'_>) -> CheckResult {
    token_sharing(
        "conversations_api.tokens",
        &section!(cx, conversations_api).tokens,
    )
}
pub(crate) fn conv_token_breach_rotation(cx: &Ctx<'_>) -> CheckResult {
    token_breach_rotation(
        "conversations_api.tokens",
        &section!(cx, conversations_api).tokens,
    )
}
pub(crate) fn conv_token_rotation(cx: &Ctx<'_>) -> CheckResult {
    token_rotation(
        cx,
        "conversations_api.tokens",
        &section!(cx, conversations_api).tokens,
    )
}
pub(crate) fn conv_attachments(cx: &Ctx<'_>) -> CheckResult {
    let c = section!(cx, conversations_api);
    end_user_attachments(
        "conversations_api",
        c.end_user_attachments,
        c.secure_attachments,
    )
}
pub(crate) fn conv_jwt_signing_keys(cx: &Ctx<'_>) -> CheckResult {
    let c = section!(cx, conversations_api);
    jwt_signing_keys(
        cx,
        "conversations_api",
        c.end_user_authentication,
        &c.jwt_keys,
    )
}
pub(crate) fn conv_jwt_expiry(cx: &Ctx<'_>) -> CheckResult {
    let c = section!(cx, conversations_api);
    jwt_expiry(
        cx,
        "conversations_api",
        c.end_user_authentication,
        &c.jwt_keys,
    )
}
pub(crate) fn conv_ai_conversation_deletion(cx: &Ctx<'_>) -> CheckResult {
    let c = section!(cx, conversations_api);
    ai_conversation_deletion("conversations_api", c.ai_agents, c.ai_conversation_deletion)
}
pub(crate) fn conv_deleted_messages(cx: &Ctx<'_>) -> CheckResult {
    let c = section!(cx, conversations_api);
    attested(
        Probe::new(),
        "conversations_api.deleted_messages_redacted".into(),
        c.deleted_messages_redacted,
        "API deletions are followed by ticket deletion or redaction in the agent workspace",
        "messages deleted through the API stay visible in the agent workspace",
    )
}
pub(crate) fn conv_malware_control(cx: &Ctx<'_>) -> CheckResult {
    let c = section!(cx, conversations_api);
    attested(
        Probe::new(),
        "conversations_api.malware_control_in_place".into(),
        c.malware_control_in_place,
        "the subscriber's own malware control covers conversation attachments",
        "conversation attachments are not malware-scanned and no own control is in place",
    )
}

// ---------------------------------------------------------------- chat, analytics

pub(crate) fn chat_agent_authentication(cx: &Ctx<'_>) -> CheckResult {
    let c = section!(cx, chat);
    attested(
        Probe::new(),
        "chat.agents_authenticate_via_support".into(),
        c.agents_authenticate_via_support,
        "chat agents sign in through the support product",
        "chat agents have a separate login outside the support product's controls",
    )
}

pub(crate) fn chat_no_email_transcripts(cx: &Ctx<'_>) -> CheckResult {
    let c = section!(cx, chat);
    let mut p = Probe::new();
    let mut on = Vec::new();
    for (name, v) in [
        ("email_piping", c.email_piping),
        ("transcript_email", c.transcript_email),
        ("email_exports", c.email_exports),
    ] {
        if p.flag(format!("chat.{name}"), v)? {
            on.push(name);
        }
    }
    if on.is_empty() {
        p.pass("chat transcripts are never sent by email")
    } else {
        p.fail(format!("chats leave by email: {} on", on.join(", ")))
    }
}

pub(crate) fn analytics_access(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, analytics);
    let mut p = Probe::new();
    let full = p.flag(
        "analytics.access_limited_to_full_ticket_viewers",
        a.access_limited_to_full_ticket_viewers,
    )?;
    let least = p.flag("analytics.least_privilege_roles", a.least_privilege_roles)?;
    match (full, least) {
        (true, true) => {
            p.pass("analytics access is limited to agents who see all tickets, at least privilege")
        }
        (false, _) => {
            p.fail("agents who may not see every underlying ticket have analytics access")
        }
        (true, false) => p.fail("analytics roles are not least privilege"),
    }
}

pub(crate) fn analytics_email_export(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, analytics);
    let mut p = Probe::new();
    if !p.flag("analytics.email_export", a.email_export)? {
        return p.pass("reports are not exported by email");
    }
    if p.either(
        ("analytics.email_exports_phi_free", a.email_exports_phi_free),
        (
            "analytics.email_transport_encrypted",
            a.email_transport_encrypted,
        ),
    )? {
        p.pass("emailed exports carry no PHI or travel over encrypted mail transport")
    } else {
        p.fail("reports are exported by email, may carry PHI, and mail transport is not encrypted")
    }
}

fn dashboards_shared(p: &mut Probe, a: &Analytics) -> Result<bool, Undecidable> {
    p.flag("analytics.dashboard_sharing", a.dashboard_sharing)
}

pub(crate) fn analytics_dashboard_audience(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, analytics);
    let mut p = Probe::new();
    if !dashboards_shared(&mut p, a)? {
        return p.na("dashboards are not shared");
    }
    if p.either(
        (
            "analytics.dashboards_identifier_free",
            a.dashboards_identifier_free,
        ),
        (
            "analytics.dashboards_shared_with_approved_only",
            a.dashboards_shared_with_approved_only,
        ),
    )? {
        p.pass("shared dashboards hold no identifiers or reach only approved users")
    } else {
        p.fail("shared dashboards hold identifiers and reach users not approved for them")
    }
}

pub(crate) fn analytics_dashboard_ip_restriction(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, analytics);
    let mut p = Probe::new();
    if !dashboards_shared(&mut p, a)? {
        return p.na("dashboards are not shared");
    }
    attested(
        p,
        "analytics.ip_restricted".into(),
        a.ip_restricted,
        "dashboard access is IP-restricted",
        "shared dashboards are reachable from any IP address",
    )
}

pub(crate) fn analytics_dashboard_links(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, analytics);
    let mut p = Probe::new();
    if !dashboards_shared(&mut p, a)? {
        return p.na("dashboards are not shared");
    }
    if !p.flag("analytics.link_sharing", a.link_sharing)? {
        return p.na("dashboards are not shared by link");
    }
    let pw = p.flag(
        "analytics.link_password_protected",
        a.link_password_protected,
    )?;
    if !pw {
        return p.fail("dashboards are shared by link without a password");
    }
    attested(
        p,
        "analytics.link_password_policy_compliant".into(),
        a.link_password_policy_compliant,
        "shared links need a password that follows the password policy",
        "link passwords do not follow the password policy (complexity, rotation, distribution)",
    )
}

// ---------------------------------------------------------------- mobile, ai

pub(crate) fn mobile_device_encryption(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, mobile);
    attested(
        Probe::new(),
        "mobile.device_encryption_required".into(),
        m.device_encryption_required,
        "device encryption is required",
        "mobile devices need not be encrypted",
    )
}

pub(crate) fn mobile_unlock(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, mobile);
    let mut p = Probe::new();
    if p.val("mobile.unlock_method", &m.unlock_method)? == UnlockMethod::None {
        return p.fail("no biometric or PIN unlock is required");
    }
    attested(
        p,
        "mobile.unlock_at_strongest_setting".into(),
        m.unlock_at_strongest_setting,
        "biometric / PIN unlock at the strongest setting",
        "biometric / PIN unlock is not at the strongest setting the device allows",
    )
}

pub(crate) fn mobile_lock_screen_notifications(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, mobile);
    let mut p = Probe::new();
    if p.flag(
        "mobile.lock_screen_ticket_content",
        m.lock_screen_ticket_content,
    )? {
        p.fail("ticket content shows in lock-screen notifications")
    } else {
        p.pass("no ticket content on the lock screen")
    }
}

pub(crate) fn mobile_screen_lock(cx: &Ctx<'_>) -> CheckResult {
    let m = section!(cx, mobile);
    let mut p = Probe::new();
    match lock_minutes(
        &mut p,
        "mobile.screen_lock_minutes",
        m.screen_lock_minutes,
        cx.params.screen_lock_max_minutes(),
    )? {
        Some(problem) => p.fail(problem),
        None => p.pass("mobile screens lock within the limit"),
    }
}

pub(crate) fn ai_no_medical_use(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, ai);
    let mut p = Probe::new();
    let excluded = p.flag("ai.medical_use_excluded", a.medical_use_excluded)?;
    let ack = p.flag("ai.inaccuracy_acknowledged", a.inaccuracy_acknowledged)?;
    match (excluded, ack) {
        (true, true) => p.pass("AI is attested not to be used for medical advice, diagnosis, treatment or access decisions"),
        (false, _) => p.fail("AI use for medical advice, diagnosis, treatment or access decisions is not excluded"),
        (true, false) => p.fail("that generated output may be inaccurate is not acknowledged"),
    }
}

pub(crate) fn ai_disclaimer_variants(cx: &Ctx<'_>) -> CheckResult {
    let a = section!(cx, ai);
    let mut p = Probe::new();
    if !p.flag(
        "ai.greeting_carries_disclaimer",
        a.greeting_carries_disclaimer,
    )? {
        return p.na("no bot greeting carries a mandatory disclaimer");
    }
    if p.flag("ai.generate_variants", a.generate_variants)? {
        p.fail("\"generate variants\" may rewrite the mandatory disclaimer")
    } else {
        p.pass("the disclaimer greeting is used verbatim")
    }
}

// ---------------------------------------------------------------- QA, workforce, integrations

pub(crate) fn qa_ai_assistance(cx: &Ctx<'_>) -> CheckResult {
    let q = section!(cx, quality_assurance);
    let mut p = Probe::new();
    if !p.flag("quality_assurance.ai_assistance", q.ai_assistance)? {
        return p.pass("AI assistance is off");
    }
    attested(
        p,
        "quality_assurance.reviewers_see_all_data".into(),
        q.reviewers_see_all_data,
        "AI assistance is on and every reviewer may see all the data",
        "AI assistance is on and reviewers may see data they are not allowed to",
    )
}

pub(crate) fn qa_survey_content(cx: &Ctx<'_>) -> CheckResult {
    let q = section!(cx, quality_assurance);
    attested(
        Probe::new(),
        "quality_assurance.survey_content_phi_free".into(),
        q.survey_content_phi_free,
        "survey questions and descriptions are attested free of PHI",
        "survey questions or descriptions may reveal PHI",
    )
}

pub(crate) fn qa_chat_retention(cx: &Ctx<'_>) -> CheckResult {
    let q = section!(cx, quality_assurance);
    let mut p = Probe::new();
    if !p.flag("quality_assurance.chat_integration", q.chat_integration)? {
        return p.na("the chat integration is not used");
    }
    match p.val(
        "quality_assurance.chat_retention_days",
        &q.chat_retention_days,
    )? {
        0 => p.fail("no retention period: chat data is kept indefinitely"),
        d => p.pass(format!("chat-integration data is kept {d} days")),
    }
}

pub(crate) fn qa_deletion_delay(cx: &Ctx<'_>) -> CheckResult {
    let q = section!(cx, quality_assurance);
    attested(
        Probe::new(),
        "quality_assurance.deletion_delay_acknowledged".into(),
        q.deletion_delay_acknowledged,
        "deletions are made at the source ticket, knowing they reach QA after 3–6 hours",
        "the QA deletion delay (3–6 hours; API deletions never) is not accounted for",
    )
}

pub(crate) fn qa_attachments(cx: &Ctx<'_>) -> CheckResult {
    let q = section!(cx, quality_assurance);
    attested(
        Probe::new(),
        "quality_assurance.attachments_phi_free".into(),
        q.attachments_phi_free,
        "QA attachments (public by URL) are attested free of PHI",
        "QA attachments are public by URL and may carry PHI",
    )
}

pub(crate) fn workforce_default_roles(cx: &Ctx<'_>) -> CheckResult {
    let w = section!(cx, workforce);
    attested(
        Probe::new(),
        "workforce.default_roles_reviewed".into(),
        w.default_roles_reviewed,
        "default roles (which see all agent activity) have been reviewed",
        "default workforce roles see all agent activity and have not been reviewed",
    )
}

pub(crate) fn workforce_sensitive_tags(cx: &Ctx<'_>) -> CheckResult {
    let w = section!(cx, workforce);
    let mut p = Probe::new();
    if !p.flag("workforce.sensitive_tags", w.sensitive_tags)? {
        return p.na("no sensitive tags");
    }
    attested(
        p,
        "workforce.sensitive_tag_access_restricted".into(),
        w.sensitive_tag_access_restricted,
        "access to activity with sensitive tags is restricted",
        "sensitive tags are visible to everyone who sees ticket activity",
    )
}

pub(crate) fn integrations_third_party_baa(cx: &Ctx<'_>) -> CheckResult {
    let list = section!(cx, integrations);
    let mut p = Probe::new();
    if list.is_empty() {
        p.note("integrations", "[]");
        return p.na("integrations = []: no third-party integrations");
    }
    let mut problems = Vec::new();
    for (i, it) in list.iter().enumerate() {
        p.note(
            format!("integrations[{i}]"),
            format!(
                "{{ name = {:?}, kind = \"{}\", carries_phi = {}, baa_signed = {} }}",
                it.name, it.kind, it.carries_phi, it.baa_signed
            ),
        );
        if it.carries_phi && !it.baa_signed {
            problems.push(format!(
                "{:?} ({}) carries ePHI without a BAA with that third party",
                it.name, it.kind
            ));
        }
    }
    p.verdict(
        problems,
        "every integration that carries ePHI is covered by a BAA with its provider",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptive_names() {
        assert_eq!(non_descriptive("Billing export"), None);
        assert_eq!(non_descriptive("CRM"), None);
        assert!(non_descriptive("token 2").is_some());
        assert!(non_descriptive("API_TOKEN").is_some());
        assert!(non_descriptive("  ").is_some());
        assert!(non_descriptive("x1").is_some());
        assert!(non_descriptive("1234").is_some());
    }

    #[test]
    fn placeholders_are_found_in_order() {
        assert_eq!(
            placeholders(
                "Hi {{ticket.requester.name}}, rate us: {{satisfaction.survey_url}} {{oops"
            ),
            vec![
                "{{ticket.requester.name}}".to_owned(),
                "{{satisfaction.survey_url}}".to_owned()
            ]
        );
        assert!(placeholders("no placeholders").is_empty());
    }
}
