//! The rule catalog: one [`Rule`] per checkable configuration.
//!
//! **Rule ids are stable.** An id is `<area>.<slug>`, where `<area>` is the
//! configuration section the rule reads (with `_` written `-`) and `<slug>` names the
//! configuration in a few words. Ids are what waivers, dashboards (SARIF) and pipelines
//! refer to, so an id is never renamed or reused: a rule whose meaning changes gets a
//! new id, and a retired id stays retired. [`CATALOG_VERSION`] changes whenever a rule
//! is added, removed or its check changes.

use crate::checks::{self, CheckFn, CheckResult, Ctx};
use crate::error::Error;
use serde_json::{Value, json};
use std::fmt;

/// The catalog's current version: bumped whenever a rule is added, retired, or its
/// check changes. Earlier versions stay evaluable ([`CatalogVersion::find`]), so a
/// report made with one can be reproduced.
pub const CATALOG_VERSION: &str = "1.1.0";

/// One version of the catalog, with its change-log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogVersion {
    /// Semantic version, e.g. `1.1.0`.
    pub version: &'static str,
    /// When it was released.
    pub released: &'static str,
    /// The source versions it follows (the help-desk list's change-log date).
    pub follows: &'static str,
    /// What changed, each line naming the source's change-log date it maps to where
    /// there is one.
    pub changes: &'static [&'static str],
    pub(crate) ordinal: u8,
}

/// Catalog 1.0.0 (81 rules).
pub(crate) const V1_0: u8 = 0;
/// Catalog 1.1.0.
pub(crate) const V1_1: u8 = 1;

/// Every catalog version, oldest first; the last is [`CATALOG_VERSION`].
pub static CATALOG_VERSIONS: &[CatalogVersion] = &[
    CatalogVersion {
        version: "1.0.0",
        released: "2026-11-01",
        follows: "seed 001 of 2025-01-24; seed 002 (undated)",
        changes: &[
            "81 rules covering every Z- and H- requirement, as of the help-desk list's change log entry of 2025-01-24 (\"HIPAA and HDS configurations unified\").",
            "An absent section made its rules not applicable.",
        ],
        ordinal: V1_0,
    },
    CatalogVersion {
        version: "1.1.0",
        released: "2026-12-01",
        follows: "seed 001 of 2025-01-24; seed 002 (undated)",
        changes: &[
            "Every-tenant rules (agent authentication, TLS, IP restriction, attachment download authentication, workstation lock and disk encryption, view permissions, notifications) fail as \"not stated\" when their section is absent; an empty configuration fails.",
            "`tenant.regime` (hipaa, hds, both) decides whether the HIPAA rules and the HDS rule apply; `tenant.products` states the products in use.",
            "notifications.email-content also checks the email channel, automations and triggers (source 2024-03-07, section I number 9 widened).",
            "New: messaging.jwt-key-sharing, messaging.jwt-key-breach-rotation, conversations-api.jwt-key-sharing, conversations-api.jwt-key-breach-rotation (source 2023-04-13, sections III numbers 7-10 and IV added).",
            "community.posts also needs `phi_submissions_rejected` (source: section II number 3, \"no submission containing PHI approved\").",
            "sms.no-phi and acd-email.no-phi ask for the attestation that no ePHI is sent (seed 002 forbids the use, not the feature).",
            "workstations.local-token-storage is information (seed 002 states it as a note), never pass or fail.",
            "messaging.malware-control is not applicable when end users cannot attach files.",
            "Rotation periods (90 days unless the organisation states its policy) are labelled dsr recommendations (source 2023-04-13 removed exact periods).",
        ],
        ordinal: V1_1,
    },
];

impl CatalogVersion {
    /// The current version.
    pub fn current() -> &'static CatalogVersion {
        CATALOG_VERSIONS.last().expect("at least one version")
    }

    /// A version by its number, or an error listing the known ones.
    pub fn find(version: &str) -> Result<&'static CatalogVersion, Error> {
        let v = version.trim().trim_start_matches('v');
        CATALOG_VERSIONS
            .iter()
            .find(|c| c.version == v)
            .ok_or_else(|| {
                Error::invalid(
                    "catalog_version",
                    format!(
                        "unknown catalog version `{version}`; known: {}",
                        CATALOG_VERSIONS
                            .iter()
                            .map(|c| c.version)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    }

    /// The rules of this version, in report order.
    pub fn rules(&self) -> impl Iterator<Item = &'static Rule> {
        let o = self.ordinal;
        CATALOG.iter().filter(move |r| r.since <= o)
    }

    /// The version as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "version": self.version,
            "released": self.released,
            "follows": self.follows,
            "rules": self.rules().count(),
            "changes": self.changes,
        })
    }
}

/// The help-desk list's own change log (seed 001), each entry mapped to the rules that
/// implement what it changed.
pub static SOURCE_CHANGE_LOG: &[(&str, &str, &[&str])] = &[
    (
        "2025-01-24",
        "HIPAA and HDS configurations unified",
        &["hds.subprocessor-notifications", "hipaa.baa-before-toggle"],
    ),
    (
        "2024-12-27",
        "Workforce management section added",
        &["workforce.default-roles", "workforce.sensitive-tags"],
    ),
    (
        "2024-12-16",
        "Quality assurance section added; answer bot renamed AI agents",
        &[
            "quality-assurance.ai-assistance",
            "quality-assurance.survey-content",
            "quality-assurance.chat-retention",
            "quality-assurance.deletion-delay",
            "quality-assurance.attachments",
            "messaging.ai-conversation-deletion",
            "conversations-api.ai-conversation-deletion",
        ],
    ),
    (
        "2024-10-10",
        "Support 12 (surveys) added, 11 (legacy surveys) changed",
        &[
            "surveys.legacy",
            "surveys.email-body",
            "surveys.open-questions",
        ],
    ),
    (
        "2024-03-07",
        "AI section added; view permissions cover instance/brand/organisation; notification emails include the email channel, automations and triggers",
        &[
            "ai.no-medical-use",
            "ai.disclaimer-variants",
            "view-permissions.agent-scope",
            "view-permissions.end-user-scope",
            "notifications.email-content",
        ],
    ),
    (
        "2023-10-25",
        "Help center: restricted articles instead of IP restrictions",
        &["help-center.public-content"],
    ),
    (
        "2023-04-13",
        "API: exact rotation periods removed, basic-auth warning added; messaging 7-10 and the conversations API section added; @mentions option",
        &[
            "api.password-access",
            "api.token-rotation",
            "messaging.jwt-signing-keys",
            "messaging.jwt-expiry",
            "messaging.jwt-key-sharing",
            "messaging.jwt-key-breach-rotation",
            "messaging.malware-control",
            "conversations-api.jwt-signing-keys",
            "conversations-api.jwt-key-sharing",
            "conversations-api.jwt-key-breach-rotation",
            "community.public-profiles",
        ],
    ),
    (
        "2023-02-24",
        "Unified IP restrictions; chat email exports forbidden; messaging section added",
        &[
            "network.agent-ip-restriction",
            "chat.no-email-transcripts",
            "messaging.social-channels",
            "messaging.attachments",
        ],
    ),
    (
        "2021-01-21",
        "Legacy surveys need accepted responsibility; view-permission caveat",
        &["surveys.legacy", "view-permissions.end-user-scope"],
    ),
    (
        "2020-08",
        "Analytics enterprise dashboard sharing; side conversations add-on",
        &[
            "analytics.dashboard-audience",
            "analytics.dashboard-ip-restriction",
            "analytics.dashboard-links",
            "side-conversations.no-phi",
        ],
    ),
    ("2020-07-13", "SMS two-factor codes exempt", &["sms.no-phi"]),
    (
        "2019-12-17",
        "Moderated end-user comments allowed",
        &["help-center.comments"],
    ),
    (
        "2019-12-13",
        "IP restrictions may be replaced by enforced MFA",
        &["network.agent-ip-restriction"],
    ),
    (
        "2019-11-06",
        "Any configuration may be forgone if the subscriber accepts responsibility",
        &[],
    ),
    (
        "2019-03-06",
        "Analytics settings added",
        &["analytics.access", "analytics.email-export"],
    ),
];

/// Where a rule goes beyond its source: a default or reading of dsr's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DsrRecommendation {
    /// What is dsr's, e.g. "the 90-day rotation period".
    pub what: &'static str,
    /// Why dsr adds it, and what the source says.
    pub reason: &'static str,
    /// The `[parameters]` key that states the organisation's own policy instead; when
    /// the configuration sets it, the limit is the organisation's, not dsr's.
    pub parameter: Option<&'static str>,
}

/// A source document the rules come from, with the version it was read at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceDocument {
    /// Short key, e.g. `seed-001`.
    pub key: &'static str,
    /// The document's title.
    pub title: &'static str,
    /// Its dated version (the latest change-log entry), or why there is none.
    pub version: &'static str,
}

/// Seed 001: the help-desk vendor's minimum security configurations (French text).
pub const HELPDESK_MIN_SECURITY: SourceDocument = SourceDocument {
    key: "seed-001",
    title: "Zendesk — Minimum security configurations for health-enabled (HIPAA and HDS) accounts",
    version: "2025-01-24 (change log: \"HIPAA and HDS configurations unified\")",
};

/// Seed 002: the contact-center platform's HIPAA FAQ (Japanese text).
pub const CONTACT_CENTER_HIPAA_FAQ: SourceDocument = SourceDocument {
    key: "seed-002",
    title: "Genesys Cloud — HIPAA FAQ",
    version: "undated (no change log; copy of seed 002)",
};

/// Where in a source a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRef {
    /// The document.
    pub document: &'static SourceDocument,
    /// The section or question, e.g. "I. Support, 1 (agent authentication)".
    pub section: &'static str,
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, version {}, {}",
            self.document.title, self.document.version, self.section
        )
    }
}

const fn zd(section: &'static str) -> SourceRef {
    SourceRef {
        document: &HELPDESK_MIN_SECURITY,
        section,
    }
}
const fn gc(section: &'static str) -> SourceRef {
    SourceRef {
        document: &CONTACT_CENTER_HIPAA_FAQ,
        section,
    }
}

/// How bad a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Minor exposure or a documentation duty.
    Low,
    /// PHI exposed in some circumstances.
    Medium,
    /// PHI exposed to people or channels that should not have it.
    High,
    /// PHI exposed broadly, or the legal basis (BAA) is missing.
    Critical,
}

impl Severity {
    /// `low`, `medium`, `high`, `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A product area: one configuration section, and the group a report shows it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Area {
    /// `[hipaa]`
    Hipaa,
    /// `[hds]`
    Hds,
    /// `[authentication]`
    Authentication,
    /// `[transport]`
    Transport,
    /// `[network]`
    Network,
    /// `[api]`
    Api,
    /// `[attachments]`
    Attachments,
    /// `[sessions]`
    Sessions,
    /// `[workstations]`
    Workstations,
    /// `[view_permissions]`
    ViewPermissions,
    /// `[notifications]`
    Notifications,
    /// `[sms]`
    Sms,
    /// `[acd_email]`
    AcdEmail,
    /// `[surveys]`
    Surveys,
    /// `[help_center]`
    HelpCenter,
    /// `[community]`
    Community,
    /// `[messaging]`
    Messaging,
    /// `[side_conversations]`
    SideConversations,
    /// `[conversations_api]`
    ConversationsApi,
    /// `[chat]`
    Chat,
    /// `[analytics]`
    Analytics,
    /// `[mobile]`
    Mobile,
    /// `[ai]`
    Ai,
    /// `[quality_assurance]`
    QualityAssurance,
    /// `[workforce]`
    Workforce,
    /// `[[integrations]]`
    Integrations,
}

impl Area {
    /// The configuration section, e.g. `view_permissions`.
    pub fn section(self) -> &'static str {
        match self {
            Area::Hipaa => "hipaa",
            Area::Hds => "hds",
            Area::Authentication => "authentication",
            Area::Transport => "transport",
            Area::Network => "network",
            Area::Api => "api",
            Area::Attachments => "attachments",
            Area::Sessions => "sessions",
            Area::Workstations => "workstations",
            Area::ViewPermissions => "view_permissions",
            Area::Notifications => "notifications",
            Area::Sms => "sms",
            Area::AcdEmail => "acd_email",
            Area::Surveys => "surveys",
            Area::HelpCenter => "help_center",
            Area::Community => "community",
            Area::Messaging => "messaging",
            Area::SideConversations => "side_conversations",
            Area::ConversationsApi => "conversations_api",
            Area::Chat => "chat",
            Area::Analytics => "analytics",
            Area::Mobile => "mobile",
            Area::Ai => "ai",
            Area::QualityAssurance => "quality_assurance",
            Area::Workforce => "workforce",
            Area::Integrations => "integrations",
        }
    }

    /// The heading a report groups the area's rules under.
    pub fn title(self) -> &'static str {
        match self {
            Area::Hipaa => "HIPAA mode",
            Area::Hds => "HDS",
            Area::Authentication => "Agent authentication",
            Area::Transport => "Transport",
            Area::Network => "Network",
            Area::Api => "API access",
            Area::Attachments => "Attachments",
            Area::Sessions => "Sessions",
            Area::Workstations => "Workstations",
            Area::ViewPermissions => "View permissions",
            Area::Notifications => "Notifications",
            Area::Sms => "SMS",
            Area::AcdEmail => "ACD email",
            Area::Surveys => "Satisfaction surveys",
            Area::HelpCenter => "Help center",
            Area::Community => "Community",
            Area::Messaging => "Messaging",
            Area::SideConversations => "Side conversations",
            Area::ConversationsApi => "Conversations API",
            Area::Chat => "Chat",
            Area::Analytics => "Analytics",
            Area::Mobile => "Mobile",
            Area::Ai => "AI features",
            Area::QualityAssurance => "Quality assurance",
            Area::Workforce => "Workforce management",
            Area::Integrations => "Third-party integrations",
        }
    }

    /// The rule-id prefix: the section with `_` written `-`.
    pub fn id_prefix(self) -> String {
        self.section().replace('_', "-")
    }
}

/// One checkable configuration.
#[derive(Debug)]
pub struct Rule {
    id: &'static str,
    title: &'static str,
    area: Area,
    tags: &'static [&'static str],
    source: SourceRef,
    legal: Option<&'static str>,
    severity: Severity,
    applies: &'static str,
    requirement: &'static str,
    remediation: &'static str,
    check: CheckFn,
    since: u8,
    note_since: Option<u8>,
    dsr: Option<DsrRecommendation>,
}

/// Defaults for the fields most rules leave alone.
const R: Rule = Rule {
    id: "",
    title: "",
    area: Area::Hipaa,
    tags: &[],
    source: zd(""),
    legal: None,
    severity: Severity::Low,
    applies: "",
    requirement: "",
    remediation: "",
    check: checks::never,
    since: V1_0,
    note_since: None,
    dsr: None,
};

const ROTATION_REASON: &str = "the source asks for rotation \"frequently, per the organisation's policy\" and, since its 2023-04-13 revision, names no period; dsr uses 90 days until the organisation states its policy in [parameters]";

impl Rule {
    /// The stable id, e.g. `authentication.two-factor`.
    pub fn id(&self) -> &'static str {
        self.id
    }
    /// A one-line title.
    pub fn title(&self) -> &'static str {
        self.title
    }
    /// The product area (configuration section).
    pub fn area(&self) -> Area {
        self.area
    }
    /// The requirement tags it implements (`Z-SUP-1`, `H-5`, …).
    pub fn tags(&self) -> &'static [&'static str] {
        self.tags
    }
    /// Where it comes from.
    pub fn source(&self) -> SourceRef {
        self.source
    }
    /// The legal reference, where one exists (e.g. `45 CFR 164.312(a)(2)(iii)`).
    pub fn legal(&self) -> Option<&'static str> {
        self.legal
    }
    /// How bad a failure is.
    pub fn severity(&self) -> Severity {
        self.severity
    }
    /// When the rule applies (otherwise: not applicable).
    pub fn applies(&self) -> &'static str {
        self.applies
    }
    /// What the check requires to pass.
    pub fn requirement(&self) -> &'static str {
        self.requirement
    }
    /// How to fix a failure.
    pub fn remediation(&self) -> &'static str {
        self.remediation
    }

    pub(crate) fn run(&self, cx: &Ctx<'_>) -> CheckResult {
        (self.check)(cx)
    }

    /// The catalog version that added the rule.
    pub fn since(&self) -> &'static str {
        CATALOG_VERSIONS[usize::from(self.since)].version
    }

    /// Whether the rule is information only (a note in its source) in this version:
    /// it reports `info`, never pass or fail.
    pub fn is_note_in(&self, version: &CatalogVersion) -> bool {
        self.note_since.is_some_and(|v| version.ordinal >= v)
    }

    /// Whether the rule is information only in the current catalog.
    pub fn is_note(&self) -> bool {
        self.is_note_in(CatalogVersion::current())
    }

    /// Where the rule goes beyond its source, if it does.
    pub fn dsr_recommendation(&self) -> Option<&DsrRecommendation> {
        self.dsr.as_ref()
    }

    /// The rule as JSON (the `dsr compliance rules --json` shape).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "title": self.title,
            "area": self.area.section(),
            "tags": self.tags,
            "severity": self.severity.as_str(),
            "source": {
                "document": self.source.document.title,
                "version": self.source.document.version,
                "section": self.source.section,
            },
            "legal": self.legal,
            "applies": self.applies,
            "requirement": self.requirement,
            "remediation": self.remediation,
            "since": self.since(),
            "kind": if self.is_note() { "information" } else { "requirement" },
            "dsr_recommendation": self.dsr.map(|d| json!({ "what": d.what, "reason": d.reason, "parameter": d.parameter })),
        })
    }

    /// A human-readable explanation (the `dsr compliance explain` text).
    pub fn explain(&self) -> String {
        let mut s = format!("{} — {}\n\n", self.id, self.title);
        let rows = [
            (
                "Area",
                format!("{} ([{}])", self.area.title(), self.area.section()),
            ),
            ("Source refs", self.tags.join(", ")),
            ("Severity", self.severity.to_string()),
            (
                "Source",
                format!(
                    "{}\n              version {}\n              {}",
                    self.source.document.title, self.source.document.version, self.source.section
                ),
            ),
            ("Legal", self.legal.unwrap_or("none specific").to_owned()),
            ("Applies", self.applies.to_owned()),
            ("Passes when", self.requirement.to_owned()),
            ("Remediation", self.remediation.to_owned()),
            ("Since", format!("catalog {}", self.since())),
        ];
        for (k, v) in rows {
            s.push_str(&format!("{k:<13} {v}\n"));
        }
        if self.is_note() {
            s.push_str("Kind          information: the source states this as a note; reported as `info`, never pass or fail\n");
        }
        if let Some(d) = &self.dsr {
            s.push_str(&format!(
                "dsr recommendation  {} is dsr's, not the source's: {}{}\n",
                d.what,
                d.reason,
                d.parameter
                    .map(|p| format!(" (state your own in parameters.{p})"))
                    .unwrap_or_default()
            ));
        }
        s.push_str("\nWaive it (the subscriber accepts responsibility) with a [[waiver]] entry whose rule is\n");
        s.push_str(&format!("\"{}\"; see docs/compliance.md.\n", self.id));
        s
    }
}

/// The whole catalog (every rule of every version), in report order (grouped by
/// area). [`CatalogVersion::rules`] gives one version's rules.
pub fn catalog() -> &'static [Rule] {
    CATALOG
}

/// The rule with this id.
pub fn find_rule(id: &str) -> Option<&'static Rule> {
    CATALOG.iter().find(|r| r.id == id)
}

/// The catalog as a JSON document: `{ "catalog_version", "sources", "rules": [...] }`.
pub fn catalog_json() -> Value {
    let sources: Vec<Value> = [HELPDESK_MIN_SECURITY, CONTACT_CENTER_HIPAA_FAQ]
        .iter()
        .map(|d| json!({ "key": d.key, "title": d.title, "version": d.version }))
        .collect();
    let rules: Vec<Value> = CATALOG.iter().map(Rule::to_json).collect();
    let versions: Vec<Value> = CATALOG_VERSIONS
        .iter()
        .map(CatalogVersion::to_json)
        .collect();
    let source_log: Vec<Value> = SOURCE_CHANGE_LOG
        .iter()
        .map(|(date, what, rules)| json!({ "date": date, "change": what, "rules": rules }))
        .collect();
    json!({
        "catalog_version": CATALOG_VERSION,
        "change_log": versions,
        "sources": sources,
        "source_change_log": { "document": HELPDESK_MIN_SECURITY.key, "entries": source_log },
        "rules": rules,
    })
}

/// An [`Error::UnknownRule`] with the closest id as a suggestion.
pub(crate) fn unknown_rule(id: &str) -> Error {
    let want = id.trim().to_lowercase();
    let suggestion = CATALOG
        .iter()
        .find(|r| r.id.ends_with(&format!(".{want}")) || (want.len() >= 4 && r.id.contains(&want)))
        .or_else(|| {
            CATALOG
                .iter()
                .map(|r| (levenshtein(r.id, &want), r))
                .filter(|(d, _)| *d <= (want.len() / 4).max(2))
                .min_by_key(|(d, _)| *d)
                .map(|(_, r)| r)
        })
        .map(|r| r.id.to_owned());
    Error::UnknownRule {
        id: id.to_owned(),
        suggestion,
    }
}

/// The rule with this id, or an error suggesting the closest one.
pub fn rule_or_error(id: &str) -> Result<&'static Rule, Error> {
    find_rule(id).ok_or_else(|| unknown_rule(id))
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

use Area as A;
use Severity as S;

static CATALOG: &[Rule] = &[
    // ------------------------------------------------------------ HIPAA mode, HDS
    Rule {
        id: "hipaa.baa-before-toggle",
        title: "BAA signed before the HIPAA toggle is set",
        area: A::Hipaa,
        tags: &["H-1"],
        source: gc(
            "How do I sign up for a HIPAA-compliant organisation? (BAA, then the HIPAA toggle)",
        ),
        legal: Some("45 CFR 164.308(b)(1), 164.314(a)"),
        severity: S::Critical,
        applies: "tenant under HIPAA (`tenant.regime` is `hipaa` or `both`)",
        requirement: "`baa_signed = true` and `enabled = true`; when both dates are given, `enabled_on` is not before `baa_signed_on`.",
        remediation: "Have the vendor's business associate agreement signed by all parties, then have the vendor set the organisation's HIPAA toggle. Record both dates.",
        check: checks::hipaa_baa_before_toggle,
        ..R
    },
    Rule {
        id: "hipaa.region",
        title: "Deployed in a HIPAA region (US East or US West)",
        area: A::Hipaa,
        tags: &["H-4"],
        source: gc("Where does the platform support HIPAA compliance?"),
        legal: None,
        severity: S::High,
        applies: "tenant under HIPAA (`tenant.regime` is `hipaa` or `both`)",
        requirement: "`region` is a US East or US West region (`us-east*`, `us-west*`), and in `parameters.hipaa_regions` when that is set.",
        remediation: "Deploy the organisation in a US East or US West region: HIPAA is offered nowhere else.",
        check: checks::hipaa_region,
        ..R
    },
    Rule {
        id: "hds.subprocessor-notifications",
        title: "Notified of sub-processor changes (HDS accounts)",
        area: A::Hds,
        tags: &["Z-HDS-1"],
        source: zd("Introduction (HDS accounts follow the sub-processor policy)"),
        legal: Some("GDPR art. 28(2)"),
        severity: S::Medium,
        applies: "tenant under HDS (`tenant.regime` is `hds` or `both`)",
        requirement: "`subprocessor_notifications = true`.",
        remediation: "Follow the vendor's sub-processor policy (its \"Follow\" button) to be notified of every change of sub-processor.",
        check: checks::hds_subprocessor_notifications,
        ..R
    },
    // ------------------------------------------------------------ authentication
    Rule {
        id: "authentication.password-policy",
        title: "Agent password policy at \"recommended\" or stricter",
        area: A::Authentication,
        tags: &["Z-SUP-1"],
        source: zd("I. Support, 1(a)–(b) (secure agent authentication)"),
        legal: Some("45 CFR 164.308(a)(5)(ii)(D)"),
        severity: S::High,
        applies: "every tenant",
        requirement: "native login: `password_policy` is `recommended` or `strict`, or `custom` with `custom_policy_at_least_recommended = true`; SSO: `sso.at_least_recommended = true`.",
        remediation: "Set the native password policy to Recommended or stricter, or make the identity provider's requirements no less strict than Recommended.",
        check: checks::auth_password_policy,
        ..R
    },
    Rule {
        id: "authentication.two-factor",
        title: "Two-factor authentication enforced for all agents",
        area: A::Authentication,
        tags: &["Z-SUP-1", "Z-SUP-3"],
        source: zd("I. Support, 1(a)–(b) (secure agent authentication)"),
        legal: Some("45 CFR 164.312(d)"),
        severity: S::Critical,
        applies: "every tenant",
        requirement: "`two_factor_enforced = true` (in the product for native login, in the identity provider for SSO).",
        remediation: "Enforce two-factor authentication for every agent and admin, in the product or in the identity provider.",
        check: checks::auth_two_factor,
        ..R
    },
    Rule {
        id: "authentication.end-user-passwords",
        title: "Admins cannot set end-user passwords",
        area: A::Authentication,
        tags: &["Z-SUP-1"],
        source: zd("I. Support, 1(a)–(b) (secure agent authentication)"),
        legal: Some("45 CFR 164.312(d)"),
        severity: S::High,
        applies: "every tenant",
        requirement: "`admins_can_set_end_user_passwords = false`.",
        remediation: "Disable the administrative control that lets admins set end users' passwords.",
        check: checks::auth_end_user_passwords,
        ..R
    },
    Rule {
        id: "authentication.sso-password-login",
        title: "Password login disabled when single sign-on is used",
        area: A::Authentication,
        tags: &["Z-SUP-1"],
        source: zd("I. Support, 1(c) (SSO disables password access)"),
        legal: Some("45 CFR 164.312(d)"),
        severity: S::High,
        applies: "every tenant, with `authentication.method = \"sso\"`",
        requirement: "`sso.password_login_enabled = false`.",
        remediation: "Turn off password sign-in wherever single sign-on is the authentication method.",
        check: checks::auth_sso_password_login,
        ..R
    },
    // ------------------------------------------------------------ transport, network
    Rule {
        id: "transport.tls",
        title: "TLS always on",
        area: A::Transport,
        tags: &["Z-SUP-2"],
        source: zd("I. Support, 2 (SSL always on)"),
        legal: Some("45 CFR 164.312(e)(1)"),
        severity: S::Critical,
        applies: "every tenant",
        requirement: "`tls_enforced = true`.",
        remediation: "Keep SSL/TLS enforced at all times; never allow plain HTTP.",
        check: checks::transport_tls,
        ..R
    },
    Rule {
        id: "transport.custom-domain-ssl",
        title: "Custom domain uses hosted SSL",
        area: A::Transport,
        tags: &["Z-SUP-2"],
        source: zd("I. Support, 2 (hosted SSL for non-vendor domains)"),
        legal: Some("45 CFR 164.312(e)(1)"),
        severity: S::High,
        applies: "every tenant, with `transport.custom_domain` set",
        requirement: "`hosted_ssl = true`.",
        remediation: "Enable and maintain hosted SSL for the custom domain, or use the vendor's domain.",
        check: checks::transport_custom_domain_ssl,
        ..R
    },
    Rule {
        id: "network.agent-ip-restriction",
        title: "Agent access limited to the subscriber's IP ranges, unless MFA is enforced",
        area: A::Network,
        tags: &["Z-SUP-3"],
        source: zd("I. Support, 3 (IP restrictions; MFA exception of 2019-12-13)"),
        legal: Some("45 CFR 164.312(a)(1)"),
        severity: S::Medium,
        applies: "every tenant",
        requirement: "`network.agent_ip_allowlist` is not empty, or `authentication.two_factor_enforced = true`.",
        remediation: "Restrict agent access to IP ranges under the subscriber's control, or enforce multi-factor authentication for all agents.",
        check: checks::network_agent_ip_restriction,
        ..R
    },
    // ------------------------------------------------------------ API
    Rule {
        id: "api.password-access",
        title: "Password (basic-auth) API access disabled",
        area: A::Api,
        tags: &["Z-SUP-4"],
        source: zd("I. Support, 4(c) (password access to the API)"),
        legal: Some("45 CFR 164.312(d)"),
        severity: S::High,
        applies: "api in use",
        requirement: "`password_access_enabled = false`.",
        remediation: "Disable password access to the API: it sends the user's credentials with every request. Use OAuth 2.0 clients (preferred) or API tokens.",
        check: checks::api_password_access,
        ..R
    },
    Rule {
        id: "api.oauth-clients",
        title: "OAuth clients uniquely and descriptively named",
        area: A::Api,
        tags: &["Z-SUP-4"],
        source: zd("I. Support, 4(a) (OAuth 2.0, preferred)"),
        legal: Some("45 CFR 164.312(a)(2)(i)"),
        severity: S::Medium,
        applies: "api in use with at least one OAuth client",
        requirement: "every client has a descriptive name (not blank, not generic like \"client 1\") and an id; names and ids are unique.",
        remediation: "Give each OAuth client a unique identifier and a name that says what it is for. Prefer OAuth 2.0 over API tokens wherever possible.",
        check: checks::api_oauth_clients,
        ..R
    },
    Rule {
        id: "api.oauth-scopes",
        title: "OAuth scopes are least privilege",
        area: A::Api,
        tags: &["Z-SUP-4"],
        source: zd("I. Support, 4(a) (least privilege per OAuth token)"),
        legal: Some("45 CFR 164.308(a)(4), 164.502(b)"),
        severity: S::High,
        applies: "api in use with at least one OAuth client",
        requirement: "every client lists its scopes, and none is whole-API (`*`, `all`, `read`, `write`, `impersonate`, `admin`, `full_access`).",
        remediation: "Grant resource-level scopes (e.g. `tickets:read`) instead of global read/write or impersonation.",
        check: checks::api_oauth_scopes,
        ..R
    },
    Rule {
        id: "api.token-per-service",
        title: "One descriptively named API token per service",
        area: A::Api,
        tags: &["Z-SUP-4"],
        source: zd("I. Support, 4(b)(i) (API tokens)"),
        legal: Some("45 CFR 164.312(a)(2)(i)"),
        severity: S::Medium,
        applies: "api in use with at least one token",
        requirement: "token names are descriptive and unique; no two tokens serve the same service.",
        remediation: "Create one token per service and name it after that service, so a leak can be traced and revoked alone.",
        check: checks::api_token_per_service,
        ..R
    },
    Rule {
        id: "api.token-sharing",
        title: "API tokens shared only over end-to-end encryption",
        area: A::Api,
        tags: &["Z-SUP-4"],
        source: zd("I. Support, 4(b)(ii) (no sharing except end-to-end encrypted)"),
        legal: Some("45 CFR 164.312(e)(1)"),
        severity: S::High,
        applies: "api in use with at least one token",
        requirement: "every token with a non-empty `shared_with` has `shared_end_to_end_encrypted = true`.",
        remediation: "Do not share tokens with third parties; where unavoidable, hand them over only by end-to-end encrypted means.",
        check: checks::api_token_sharing,
        ..R
    },
    Rule {
        id: "api.token-breach-rotation",
        title: "API tokens rotated at once after a third-party breach",
        area: A::Api,
        tags: &["Z-SUP-4"],
        source: zd("I. Support, 4(b)(iii) (rotate after a third-party breach)"),
        legal: Some("45 CFR 164.308(a)(6)(ii)"),
        severity: S::Critical,
        applies: "api in use with a token that records `third_party_breach_on`",
        requirement: "each such token's `rotated` (or `created`) date is on or after `third_party_breach_on`.",
        remediation: "Rotate at once every token held by a third party that reports a data breach, and record the rotation date.",
        check: checks::api_token_breach_rotation,
        ..R
    },
    Rule {
        id: "api.token-rotation",
        title: "API tokens rotated regularly",
        area: A::Api,
        tags: &["Z-SUP-4"],
        source: zd("I. Support, 4(b)(iv) (rotate per the organisation's policy)"),
        legal: Some("45 CFR 164.308(a)(5)(ii)(D)"),
        severity: S::Medium,
        applies: "api in use with at least one token",
        requirement: "each token's last rotation (or creation) is at most `parameters.api_token_max_age_days` (default 90) days before the evaluation date.",
        remediation: "Rotate the token and record the date in `rotated`; set the organisation's rotation period with `parameters.api_token_max_age_days`.",
        check: checks::api_token_rotation,
        dsr: Some(DsrRecommendation {
            what: "the 90-day rotation period",
            reason: ROTATION_REASON,
            parameter: Some("api_token_max_age_days"),
        }),
        ..R
    },
    // ------------------------------------------------------------ attachments, sessions, workstations
    Rule {
        id: "attachments.download-authentication",
        title: "Authentication required to download attachments",
        area: A::Attachments,
        tags: &["Z-SUP-5"],
        source: zd("I. Support, 5 (require authentication to download)"),
        legal: Some("45 CFR 164.312(a)(1), 164.312(d)"),
        severity: S::High,
        applies: "every tenant",
        requirement: "`require_authentication_to_download = true`.",
        remediation: "Turn on \"Require authentication to download\": otherwise anyone with an attachment's URL can read it.",
        check: checks::attachments_download_auth,
        ..R
    },
    Rule {
        id: "sessions.idle-timeout",
        title: "Session idle timeout between 5 and 15 minutes",
        area: A::Sessions,
        tags: &["H-5"],
        source: gc(
            "What differs with HIPAA enabled? (15-minute idle timeout, configurable down to 5)",
        ),
        legal: Some("45 CFR 164.312(a)(2)(iii)"),
        severity: S::High,
        applies: "sessions in use",
        requirement: "`idle_timeout_minutes` is between `parameters.idle_timeout_min_minutes` (default 5) and `parameters.idle_timeout_max_minutes` (default 15).",
        remediation: "Set the organisation's automatic inactivity timeout to 15 minutes or less (the platform accepts down to 5).",
        check: checks::sessions_idle_timeout,
        ..R
    },
    Rule {
        id: "sessions.api-client-idle-timeout",
        title: "Idle timeout applies to OAuth and API clients",
        area: A::Sessions,
        tags: &["H-5"],
        source: gc("What differs with HIPAA enabled? (the idle timeout applies to OAuth clients)"),
        legal: Some("45 CFR 164.312(a)(2)(iii)"),
        severity: S::Medium,
        applies: "sessions in use",
        requirement: "`idle_timeout_applies_to_api_clients = true`.",
        remediation: "Apply the idle timeout to OAuth / API client sessions too.",
        check: checks::sessions_api_client_idle_timeout,
        ..R
    },
    Rule {
        id: "sessions.access-token-lifetime",
        title: "Access tokens expire within the idle-timeout limit",
        area: A::Sessions,
        tags: &["H-5"],
        source: gc("Inactivity timeout details (any API request resets the timeout)"),
        legal: Some("45 CFR 164.312(a)(2)(iii)"),
        severity: S::Medium,
        applies: "sessions in use with `access_token_lifetime_minutes` set",
        requirement: "`access_token_lifetime_minutes` is between 1 and `parameters.idle_timeout_max_minutes` (default 15).",
        remediation: "Shorten the access-token lifetime so an idle client cannot outlast the idle timeout; clients refresh.",
        check: checks::sessions_access_token_lifetime,
        dsr: Some(DsrRecommendation {
            what: "bounding access-token lifetime by the idle timeout",
            reason: "seed 002 says any API request resets the idle timeout, so a token that outlives it defeats automatic logoff; the source itself sets no token lifetime",
            parameter: None,
        }),
        ..R
    },
    Rule {
        id: "workstations.inactivity-lock",
        title: "Endpoints lock after at most 15 minutes of inactivity",
        area: A::Workstations,
        tags: &["Z-SUP-6", "H-5", "H-6"],
        source: zd("I. Support, 6 (screen lock on agent, admin and owner endpoints)"),
        legal: Some("45 CFR 164.312(a)(2)(iii), 164.310(b)"),
        severity: S::High,
        applies: "every tenant",
        requirement: "`inactivity_lock_minutes` is between 1 and `parameters.screen_lock_max_minutes` (default 15).",
        remediation: "Enforce an operating-system screen lock after 15 minutes or less on every agent, admin and owner endpoint. Background API requests reset the application's idle timeout, so only the OS lock guarantees logoff.",
        check: checks::workstations_inactivity_lock,
        ..R
    },
    Rule {
        id: "workstations.full-disk-encryption",
        title: "Full-disk encryption on workstations",
        area: A::Workstations,
        tags: &["H-6"],
        source: gc("Is the customer responsible for using the platform in a HIPAA-compliant way?"),
        legal: Some("45 CFR 164.312(a)(2)(iv)"),
        severity: S::High,
        applies: "every tenant",
        requirement: "`full_disk_encryption = true`.",
        remediation: "Enable full-disk encryption (BitLocker, FileVault, LUKS) on every workstation that reaches the platform.",
        check: checks::workstations_full_disk_encryption,
        ..R
    },
    Rule {
        id: "workstations.local-token-storage",
        title: "Session tokens in local storage are protected at rest",
        area: A::Workstations,
        tags: &["H-7"],
        source: gc("Inactivity timeout details (session tokens in the client's local storage)"),
        legal: Some("45 CFR 164.312(a)(2)(iv)"),
        severity: S::Low,
        applies: "every tenant",
        requirement: "(information since catalog 1.1.0: seed 002 states it as a note) `session_tokens_in_local_storage = false`, or full-disk encryption and the inactivity lock are in place.",
        remediation: "Session tokens kept in the browser's local storage survive restarts: protect them with full-disk encryption and the OS inactivity lock.",
        check: checks::workstations_local_token_storage,
        note_since: Some(V1_1),
        ..R
    },
    // ------------------------------------------------------------ view permissions .. surveys
    Rule {
        id: "view-permissions.agent-scope",
        title: "Agent ticket view not widened beyond own tickets or groups",
        area: A::ViewPermissions,
        tags: &["Z-SUP-7"],
        source: zd("I. Support, 7 (view permissions)"),
        legal: Some("45 CFR 164.308(a)(4), 164.502(b)"),
        severity: S::High,
        applies: "every tenant",
        requirement: "`agent_ticket_scope` is `own` or `groups`.",
        remediation: "Restrict agent roles to their own or their groups' tickets.",
        check: checks::view_agent_scope,
        ..R
    },
    Rule {
        id: "view-permissions.end-user-scope",
        title: "End users see only their own requests, at user and organisation level",
        area: A::ViewPermissions,
        tags: &["Z-SUP-7"],
        source: zd("I. Support, 7 (user and organisation settings; the permissive one wins)"),
        legal: Some("45 CFR 164.308(a)(4), 164.502(b)"),
        severity: S::High,
        applies: "every tenant",
        requirement: "`end_user_user_level` and `end_user_organization_level` are both `own` (when they conflict the permissive one wins, so both are checked).",
        remediation: "Set both the user-profile and the organisation setting to \"own requests\". If organisation members are already entitled to each other's data, waive.",
        check: checks::view_end_user_scope,
        ..R
    },
    Rule {
        id: "notifications.email-content",
        title: "Notification emails say only that an agent replied",
        area: A::Notifications,
        tags: &["Z-SUP-8"],
        source: zd("I. Support, 9 (email notifications)"),
        legal: Some("45 CFR 164.312(e)(1), 164.502(b)"),
        severity: S::High,
        applies: "every tenant",
        requirement: "no notification path carries ticket content — agent replies (`email_includes_ticket_content`), the email channel (`email_channel_includes_ticket_content`), automations (`automations_include_ticket_content`), triggers (`triggers_include_ticket_content`) — and `end_user_login_required = true`. Catalog 1.0.0: `email_includes_ticket_content = false` and `end_user_login_required = true`.",
        remediation: "Change triggers and automations so emails only say that an agent replied, and the end user logs in to read it.",
        check: checks::notifications_email_content,
        ..R
    },
    Rule {
        id: "sms.no-phi",
        title: "SMS not used to send PHI (two-factor codes exempt)",
        area: A::Sms,
        tags: &["Z-SUP-9", "H-2"],
        source: zd("I. Support, 10 (SMS); seed 002: SMS is not HIPAA compliant"),
        legal: Some("45 CFR 164.312(e)(1)"),
        severity: S::High,
        applies: "sms in use",
        requirement: "SMS off, or used only for two-factor codes, or `phi_excluded = true` (attested: no PHI is sent by SMS). Catalog 1.0.0: `enabled = false`, or `two_factor_only = true`.",
        remediation: "Turn off SMS messaging (two-factor codes may stay).",
        check: checks::sms_no_phi,
        ..R
    },
    Rule {
        id: "acd-email.no-phi",
        title: "ACD email does not carry ePHI (it is outside the BAA)",
        area: A::AcdEmail,
        tags: &["H-2"],
        source: gc("Is the platform HIPAA compliant? (exceptions: ACD email, SMS)"),
        legal: Some("45 CFR 164.312(e)(1)"),
        severity: S::High,
        applies: "acd_email in use",
        requirement: "ACD email off, or `phi_excluded = true` (attested: no ePHI is sent by ACD email). Catalog 1.0.0: `enabled = false`.",
        remediation: "Turn off ACD email; ePHI sent through it is not covered by the BAA.",
        check: checks::acd_email_no_phi,
        ..R
    },
    Rule {
        id: "surveys.legacy",
        title: "Legacy satisfaction surveys not used",
        area: A::Surveys,
        tags: &["Z-SUP-10"],
        source: zd("I. Support, 11 (legacy CSAT)"),
        legal: Some("45 CFR 164.312(e)(1)"),
        severity: S::Medium,
        applies: "surveys in use",
        requirement: "`legacy_enabled = false`.",
        remediation: "Switch off legacy surveys: they mail ticket data, with no control over encryption.",
        check: checks::surveys_legacy,
        ..R
    },
    Rule {
        id: "surveys.email-body",
        title: "Survey email body holds only the survey-link placeholder",
        area: A::Surveys,
        tags: &["Z-SUP-11"],
        source: zd("I. Support, 12 (CSAT email body)"),
        legal: Some("45 CFR 164.502(b)"),
        severity: S::Medium,
        applies: "surveys in use with `enabled = true`",
        requirement: "`email_body` contains the survey-link placeholder (`{{satisfaction.survey_url}}` unless `survey_url_placeholder` says otherwise) and no other `{{…}}` placeholder.",
        remediation: "Edit the survey automation's email body to use only the survey-link placeholder; no ticket fields.",
        check: checks::surveys_email_body,
        ..R
    },
    Rule {
        id: "surveys.open-questions",
        title: "No open-ended survey questions",
        area: A::Surveys,
        tags: &["Z-SUP-11"],
        source: zd("I. Support, 12 (no open-ended questions)"),
        legal: Some("45 CFR 164.502(b)"),
        severity: S::Medium,
        applies: "surveys in use with `enabled = true`",
        requirement: "`open_ended_questions = false`.",
        remediation: "Remove open-ended questions: anyone with the survey URL can read the answers.",
        check: checks::surveys_open_questions,
        ..R
    },
    // ------------------------------------------------------------ help center, community
    Rule {
        id: "help-center.public-content",
        title: "Public help-center articles contain no PHI",
        area: A::HelpCenter,
        tags: &["Z-GUI-1"],
        source: zd("II. Guide and Gather, 1 (public content)"),
        legal: Some("45 CFR 164.502(a)"),
        severity: S::High,
        applies: "help_center in use",
        requirement: "`public_articles = false` (restricted or closed help center), or `public_content_phi_free = true` (attested).",
        remediation: "Review public articles, their attachments and images for PHI, or restrict the articles.",
        check: checks::help_center_public_content,
        ..R
    },
    Rule {
        id: "help-center.comments",
        title: "End-user comments disabled or moderated",
        area: A::HelpCenter,
        tags: &["Z-GUI-2"],
        source: zd("II. Guide and Gather, 2 (comments; moderation allowed since 2019-12-17)"),
        legal: Some("45 CFR 164.502(a)"),
        severity: S::Medium,
        applies: "help_center in use",
        requirement: "`end_user_comments = false`, or `comments_moderated = true`.",
        remediation: "Disable end-user comments, or moderate them and remove PHI before publication.",
        check: checks::help_center_comments,
        ..R
    },
    Rule {
        id: "community.posts",
        title: "End-user posts disabled, or all content moderated",
        area: A::Community,
        tags: &["Z-GUI-3"],
        source: zd("II. Guide and Gather, 3 (posts, \"moderate all content\")"),
        legal: Some("45 CFR 164.502(a)"),
        severity: S::Medium,
        applies: "community in use",
        requirement: "with end-user posts on: `moderate_all_content = true` and `phi_submissions_rejected = true` (attested: nothing with PHI is approved). Catalog 1.0.0: `end_user_posts = false`, or `moderate_all_content = true`.",
        remediation: "Disable end-user posts where possible; otherwise turn on \"Moderate all content\" and approve nothing with PHI.",
        check: checks::community_posts,
        ..R
    },
    Rule {
        id: "community.moderators",
        title: "Community moderators are employees",
        area: A::Community,
        tags: &["Z-GUI-4"],
        source: zd("II. Guide and Gather, 4 (community moderators)"),
        legal: Some("45 CFR 164.308(a)(4)"),
        severity: S::Medium,
        applies: "community in use",
        requirement: "`moderators_all_employees = true`.",
        remediation: "Appoint only employees as community moderators.",
        check: checks::community_moderators,
        ..R
    },
    Rule {
        id: "community.public-profiles",
        title: "Public profiles or @mentions disabled",
        area: A::Community,
        tags: &["Z-GUI-5"],
        source: zd("II. Guide and Gather, 5 (@mentions and public profiles)"),
        legal: None,
        severity: S::Low,
        applies: "community in use",
        requirement: "`public_profiles = false` or `mentions = false`.",
        remediation: "Disable public profiles or @mentions. If the use case judges them no risk, waive.",
        check: checks::community_public_profiles,
        ..R
    },
    // ------------------------------------------------------------ messaging
    Rule {
        id: "messaging.social-channels",
        title: "Social messaging channels only with the subscriber's own BAA",
        area: A::Messaging,
        tags: &["Z-MSG-1", "H-3"],
        source: zd("III. Messaging, 1 (social-media channel integrations)"),
        legal: Some("45 CFR 164.308(b)(1), 164.314(a)"),
        severity: S::High,
        applies: "messaging in use with at least one `social_channels` entry",
        requirement: "every `social_channels` entry has `baa_signed = true`.",
        remediation: "Remove the integration or sign a BAA with that platform. If no PHI ever goes through it, waive.",
        check: checks::messaging_social_channels,
        ..R
    },
    Rule {
        id: "messaging.attachments",
        title: "End-user messaging attachments disabled or secure",
        area: A::Messaging,
        tags: &["Z-MSG-2"],
        source: zd("III. Messaging, 2 (attachments; secure attachments)"),
        legal: Some("45 CFR 164.312(a)(1)"),
        severity: S::High,
        applies: "messaging in use",
        requirement: "`end_user_attachments = false`, or `secure_attachments = true`.",
        remediation: "Disable end-user attachments, or enable secure (authenticated) attachments.",
        check: checks::messaging_attachments,
        ..R
    },
    Rule {
        id: "messaging.agent-visibility",
        title: "All agents may see all incoming messages",
        area: A::Messaging,
        tags: &["Z-MSG-3"],
        source: zd("III. Messaging, 3 (agents see all incoming messages)"),
        legal: Some("45 CFR 164.308(a)(4)"),
        severity: S::Medium,
        applies: "messaging in use",
        requirement: "`all_agents_see_all_messages = true`.",
        remediation: "Give messaging only to agents and light agents approved to see every incoming message.",
        check: checks::messaging_agent_visibility,
        ..R
    },
    Rule {
        id: "messaging.widget-persistence",
        title: "Web widget persistence off, or devices not shared",
        area: A::Messaging,
        tags: &["Z-MSG-4"],
        source: zd("III. Messaging, 6 (web widget conversation persistence)"),
        legal: Some("45 CFR 164.312(a)(1)"),
        severity: S::Medium,
        applies: "messaging in use",
        requirement: "`web_widget_persistence = false`, or `shared_devices_excluded = true`.",
        remediation: "Disable conversation persistence in the web widget, or make sure end users do not share devices.",
        check: checks::messaging_widget_persistence,
        ..R
    },
    Rule {
        id: "messaging.jwt-signing-keys",
        title: "One named, rotated JWT signing key per channel",
        area: A::Messaging,
        tags: &["Z-MSG-5"],
        source: zd("III. Messaging, 7 (end-user authentication with JWT)"),
        legal: Some("45 CFR 164.312(d)"),
        severity: S::High,
        applies: "messaging in use with `end_user_authentication = \"jwt\"`",
        requirement: "at least one key; channels, key ids and names unique; names descriptive; each key rotated within `parameters.jwt_key_max_age_days` (default 90).",
        remediation: "Use one signing key per authentication channel with a descriptive name; never share it except end-to-end encrypted; rotate it regularly and at once after a third-party breach.",
        check: checks::messaging_jwt_signing_keys,
        dsr: Some(DsrRecommendation {
            what: "the 90-day rotation period",
            reason: ROTATION_REASON,
            parameter: Some("jwt_key_max_age_days"),
        }),
        ..R
    },
    Rule {
        id: "messaging.jwt-expiry",
        title: "JWT exp claim used and at most 15 minutes",
        area: A::Messaging,
        tags: &["Z-MSG-5"],
        source: zd("III. Messaging, 7 (JWT exp of at most 15 minutes)"),
        legal: Some("45 CFR 164.312(d)"),
        severity: S::High,
        applies: "messaging in use with `end_user_authentication = \"jwt\"`",
        requirement: "every key's `exp_minutes` is set and between 1 and `parameters.jwt_exp_max_minutes` (default 15).",
        remediation: "Set the exp claim of issued end-user JWTs to 15 minutes or less.",
        check: checks::messaging_jwt_expiry,
        ..R
    },
    Rule {
        id: "messaging.jwt-key-sharing",
        title: "JWT signing keys shared only over end-to-end encryption",
        area: A::Messaging,
        tags: &["Z-MSG-5"],
        source: zd(
            "III. Messaging, 7 (ii): JWT signing keys not shared except end-to-end encrypted",
        ),
        legal: Some("45 CFR 164.312(e)(1)"),
        severity: S::High,
        applies: "messaging in use with `end_user_authentication = \"jwt\"` and at least one key",
        requirement: "every key with a non-empty `shared_with` has `shared_end_to_end_encrypted = true`.",
        remediation: "Do not share JWT signing keys with third parties; where unavoidable, hand them over only by end-to-end encrypted means.",
        check: checks::messaging_jwt_key_sharing,
        since: V1_1,
        ..R
    },
    Rule {
        id: "messaging.jwt-key-breach-rotation",
        title: "JWT signing keys changed at once after a third-party breach",
        area: A::Messaging,
        tags: &["Z-MSG-5"],
        source: zd("III. Messaging, 7 (iii): change the key at once after a third-party breach"),
        legal: Some("45 CFR 164.308(a)(6)(ii)"),
        severity: S::Critical,
        applies: "messaging in use with `end_user_authentication = \"jwt\"` and a key that records `third_party_breach_on`",
        requirement: "each such key's `rotated` (or `created`) date is on or after `third_party_breach_on`.",
        remediation: "Change at once every signing key held by a third party that reports a data breach, and record the date in `rotated`.",
        check: checks::messaging_jwt_key_breach_rotation,
        since: V1_1,
        ..R
    },
    Rule {
        id: "messaging.ai-conversation-deletion",
        title: "AI-agent conversations that never became a ticket are deleted",
        area: A::Messaging,
        tags: &["Z-MSG-6"],
        source: zd("III. Messaging, 8 (AI-agent conversations are stored)"),
        legal: None,
        severity: S::Medium,
        applies: "messaging in use with `ai_agents = true`",
        requirement: "`ai_conversation_deletion` is `automated` or `manual`.",
        remediation: "Delete AI-agent conversations per policy, e.g. a webhook that triggers deletion through the conversations API. Ticketed ones go with the ticket.",
        check: checks::messaging_ai_conversation_deletion,
        ..R
    },
    Rule {
        id: "messaging.malware-control",
        title: "Own malware control for messaging attachments",
        area: A::Messaging,
        tags: &["Z-MSG-7"],
        source: zd("III. Messaging, 10 (attachments are not malware-scanned)"),
        legal: Some("45 CFR 164.308(a)(5)(ii)(B)"),
        severity: S::Medium,
        applies: "messaging in use, with end-user attachments not disabled",
        requirement: "`malware_control_in_place = true`.",
        remediation: "The vendor does not scan attachments: put the subscriber's own procedures and tools in place (endpoint scanning, handling policy).",
        check: checks::messaging_malware_control,
        ..R
    },
    Rule {
        id: "messaging.agent-removal",
        title: "Access forcibly ended when an agent loses permission mid-conversation",
        area: A::Messaging,
        tags: &["Z-MSG-9"],
        source: zd("III. Messaging, 5 (removing an agent's permission)"),
        legal: Some("45 CFR 164.308(a)(3)(ii)(C)"),
        severity: S::Medium,
        applies: "messaging in use",
        requirement: "`revoke_access_on_permission_removal = true`.",
        remediation: "Document and follow a procedure that forcibly ends the agent's sessions when their permission is removed during an active conversation.",
        check: checks::messaging_agent_removal,
        ..R
    },
    Rule {
        id: "side-conversations.no-phi",
        title: "Side conversations carry no PHI",
        area: A::SideConversations,
        tags: &["Z-MSG-8"],
        source: zd("VII. Add-ons: side conversations (also III. Messaging)"),
        legal: Some("45 CFR 164.502(a)"),
        severity: S::Medium,
        applies: "side_conversations in use",
        requirement: "`enabled = false`, or `phi_excluded = true` (attested).",
        remediation: "Disable side conversations, or keep PHI out of child tickets, emails and Slack messages.",
        check: checks::side_conversations_no_phi,
        ..R
    },
    // ------------------------------------------------------------ conversations API
    Rule {
        id: "conversations-api.third-party-channels",
        title: "Third-party channels only with the subscriber's own BAA",
        area: A::ConversationsApi,
        tags: &["Z-SUN-1", "H-3"],
        source: zd("IV. Conversations API, 1 (third-party channel integrations)"),
        legal: Some("45 CFR 164.308(b)(1), 164.314(a)"),
        severity: S::High,
        applies: "conversations_api in use with at least one `third_party_channels` entry",
        requirement: "every `third_party_channels` entry has `baa_signed = true`.",
        remediation: "Remove the integration or sign a BAA with that platform. If no PHI ever goes through it, waive.",
        check: checks::conv_third_party_channels,
        ..R
    },
    Rule {
        id: "conversations-api.oauth-clients",
        title: "Conversations-API OAuth clients uniquely and descriptively named",
        area: A::ConversationsApi,
        tags: &["Z-SUN-2"],
        source: zd("IV. Conversations API, 2(a) (OAuth 2.0, preferred)"),
        legal: Some("45 CFR 164.312(a)(2)(i)"),
        severity: S::Medium,
        applies: "conversations_api in use with at least one OAuth client",
        requirement: "every client has a descriptive name and an id; names and ids are unique.",
        remediation: "Give each OAuth client a unique identifier and a descriptive name. Prefer OAuth 2.0: the support product's IP restrictions do not apply to this API, so credentials and scopes are the only fence.",
        check: checks::conv_oauth_clients,
        ..R
    },
    Rule {
        id: "conversations-api.oauth-scopes",
        title: "Conversations-API OAuth scopes are least privilege",
        area: A::ConversationsApi,
        tags: &["Z-SUN-2"],
        source: zd("IV. Conversations API, 3 (IP restrictions do not apply; restrict access)"),
        legal: Some("45 CFR 164.308(a)(4), 164.502(b)"),
        severity: S::High,
        applies: "conversations_api in use with at least one OAuth client",
        requirement: "every client lists its scopes, and none is whole-API (`*`, `all`, `read`, `write`, `impersonate`, `admin`, `full_access`).",
        remediation: "Grant resource-level scopes only: no IP restriction protects this API.",
        check: checks::conv_oauth_scopes,
        ..R
    },
    Rule {
        id: "conversations-api.token-per-service",
        title: "One descriptively named conversations-API token per service",
        area: A::ConversationsApi,
        tags: &["Z-SUN-2"],
        source: zd("IV. Conversations API, 2(b)(i) (API tokens)"),
        legal: Some("45 CFR 164.312(a)(2)(i)"),
        severity: S::Medium,
        applies: "conversations_api in use with at least one token",
        requirement: "token names are descriptive and unique; no two tokens serve the same service.",
        remediation: "Create one token per service and name it after that service.",
        check: checks::conv_token_per_service,
        ..R
    },
    Rule {
        id: "conversations-api.token-sharing",
        title: "Conversations-API tokens shared only over end-to-end encryption",
        area: A::ConversationsApi,
        tags: &["Z-SUN-2"],
        source: zd("IV. Conversations API, 2(b)(ii) (no sharing except end-to-end encrypted)"),
        legal: Some("45 CFR 164.312(e)(1)"),
        severity: S::High,
        applies: "conversations_api in use with at least one token",
        requirement: "every token with a non-empty `shared_with` has `shared_end_to_end_encrypted = true`.",
        remediation: "Do not share tokens; where unavoidable, hand them over only by end-to-end encrypted means.",
        check: checks::conv_token_sharing,
        ..R
    },
    Rule {
        id: "conversations-api.token-breach-rotation",
        title: "Conversations-API tokens rotated at once after a third-party breach",
        area: A::ConversationsApi,
        tags: &["Z-SUN-2"],
        source: zd("IV. Conversations API, 2(b)(iii) (rotate after a third-party breach)"),
        legal: Some("45 CFR 164.308(a)(6)(ii)"),
        severity: S::Critical,
        applies: "conversations_api in use with a token that records `third_party_breach_on`",
        requirement: "each such token's `rotated` (or `created`) date is on or after `third_party_breach_on`.",
        remediation: "Rotate at once every token held by a third party that reports a data breach.",
        check: checks::conv_token_breach_rotation,
        ..R
    },
    Rule {
        id: "conversations-api.token-rotation",
        title: "Conversations-API tokens rotated regularly",
        area: A::ConversationsApi,
        tags: &["Z-SUN-2"],
        source: zd("IV. Conversations API, 2(b)(iv) (rotate per the organisation's policy)"),
        legal: Some("45 CFR 164.308(a)(5)(ii)(D)"),
        severity: S::Medium,
        applies: "conversations_api in use with at least one token",
        requirement: "each token's last rotation (or creation) is at most `parameters.api_token_max_age_days` (default 90) days before the evaluation date.",
        remediation: "Rotate the token and record the date in `rotated`.",
        check: checks::conv_token_rotation,
        dsr: Some(DsrRecommendation {
            what: "the 90-day rotation period",
            reason: ROTATION_REASON,
            parameter: Some("api_token_max_age_days"),
        }),
        ..R
    },
    Rule {
        id: "conversations-api.attachments",
        title: "End-user conversation attachments disabled or secure",
        area: A::ConversationsApi,
        tags: &["Z-SUN-3"],
        source: zd("IV. Conversations API, 4 (attachments; secure attachments)"),
        legal: Some("45 CFR 164.312(a)(1)"),
        severity: S::High,
        applies: "conversations_api in use",
        requirement: "`end_user_attachments = false`, or `secure_attachments = true`.",
        remediation: "Disable end-user attachments, or enable secure (authenticated) attachments.",
        check: checks::conv_attachments,
        ..R
    },
    Rule {
        id: "conversations-api.jwt-signing-keys",
        title: "One named, rotated JWT signing key per conversations channel",
        area: A::ConversationsApi,
        tags: &["Z-SUN-4"],
        source: zd("IV. Conversations API, 5 (end-user authentication with JWT)"),
        legal: Some("45 CFR 164.312(d)"),
        severity: S::High,
        applies: "conversations_api in use with `end_user_authentication = \"jwt\"`",
        requirement: "at least one key; channels, key ids and names unique; names descriptive; each key rotated within `parameters.jwt_key_max_age_days` (default 90).",
        remediation: "Use one signing key per channel with a descriptive name; never share it except end-to-end encrypted; rotate it.",
        check: checks::conv_jwt_signing_keys,
        dsr: Some(DsrRecommendation {
            what: "the 90-day rotation period",
            reason: ROTATION_REASON,
            parameter: Some("jwt_key_max_age_days"),
        }),
        ..R
    },
    Rule {
        id: "conversations-api.jwt-expiry",
        title: "Conversations JWT exp claim used and at most 15 minutes",
        area: A::ConversationsApi,
        tags: &["Z-SUN-4"],
        source: zd("IV. Conversations API, 5 (JWT exp of at most 15 minutes)"),
        legal: Some("45 CFR 164.312(d)"),
        severity: S::High,
        applies: "conversations_api in use with `end_user_authentication = \"jwt\"`",
        requirement: "every key's `exp_minutes` is set and between 1 and `parameters.jwt_exp_max_minutes` (default 15).",
        remediation: "Set the exp claim of issued end-user JWTs to 15 minutes or less.",
        check: checks::conv_jwt_expiry,
        ..R
    },
    Rule {
        id: "conversations-api.jwt-key-sharing",
        title: "Conversations JWT signing keys shared only over end-to-end encryption",
        area: A::ConversationsApi,
        tags: &["Z-SUN-4"],
        source: zd(
            "IV. Conversations API, 5 (ii): JWT signing keys not shared except end-to-end encrypted",
        ),
        legal: Some("45 CFR 164.312(e)(1)"),
        severity: S::High,
        applies: "conversations_api in use with `end_user_authentication = \"jwt\"` and at least one key",
        requirement: "every key with a non-empty `shared_with` has `shared_end_to_end_encrypted = true`.",
        remediation: "Do not share JWT signing keys with third parties; where unavoidable, hand them over only by end-to-end encrypted means.",
        check: checks::conv_jwt_key_sharing,
        since: V1_1,
        ..R
    },
    Rule {
        id: "conversations-api.jwt-key-breach-rotation",
        title: "Conversations JWT signing keys changed at once after a third-party breach",
        area: A::ConversationsApi,
        tags: &["Z-SUN-4"],
        source: zd(
            "IV. Conversations API, 5 (iii): change the key at once after a third-party breach",
        ),
        legal: Some("45 CFR 164.308(a)(6)(ii)"),
        severity: S::Critical,
        applies: "conversations_api in use with `end_user_authentication = \"jwt\"` and a key that records `third_party_breach_on`",
        requirement: "each such key's `rotated` (or `created`) date is on or after `third_party_breach_on`.",
        remediation: "Change at once every signing key held by a third party that reports a data breach, and record the date in `rotated`.",
        check: checks::conv_jwt_key_breach_rotation,
        since: V1_1,
        ..R
    },
    Rule {
        id: "conversations-api.ai-conversation-deletion",
        title: "AI-agent conversations not handed to a ticket are deleted",
        area: A::ConversationsApi,
        tags: &["Z-SUN-5"],
        source: zd("IV. Conversations API, 6 (AI-agent conversations are stored)"),
        legal: None,
        severity: S::Medium,
        applies: "conversations_api in use with `ai_agents = true`",
        requirement: "`ai_conversation_deletion` is `automated` or `manual`.",
        remediation: "Delete AI-agent conversations per policy, e.g. a webhook that triggers deletion through the API; ticketed ones can only go with their ticket.",
        check: checks::conv_ai_conversation_deletion,
        ..R
    },
    Rule {
        id: "conversations-api.deleted-messages",
        title: "API deletions also removed from the agent workspace",
        area: A::ConversationsApi,
        tags: &["Z-SUN-6"],
        source: zd("IV. Conversations API, 7 (deleted messages stay in the agent workspace)"),
        legal: Some("45 CFR 164.502(a)"),
        severity: S::Medium,
        applies: "conversations_api in use",
        requirement: "`deleted_messages_redacted = true` (a documented procedure deletes the ticket or redacts it).",
        remediation: "Messages deleted through the API vanish only for end users: delete the ticket or redact the content in the agent workspace as well.",
        check: checks::conv_deleted_messages,
        ..R
    },
    Rule {
        id: "conversations-api.malware-control",
        title: "Own malware control for conversation attachments",
        area: A::ConversationsApi,
        tags: &["Z-SUN-6"],
        source: zd("IV. Conversations API, 8 (attachments are not malware-scanned)"),
        legal: Some("45 CFR 164.308(a)(5)(ii)(B)"),
        severity: S::Medium,
        applies: "conversations_api in use",
        requirement: "`malware_control_in_place = true`.",
        remediation: "The vendor does not scan attachments: put the subscriber's own procedures and tools in place.",
        check: checks::conv_malware_control,
        ..R
    },
    // ------------------------------------------------------------ chat, analytics
    Rule {
        id: "chat.agent-authentication",
        title: "Chat agents authenticate through the support product",
        area: A::Chat,
        tags: &["Z-CHT-1"],
        source: zd("V. Chat, 1 (agent access through the support product)"),
        legal: Some("45 CFR 164.312(d)"),
        severity: S::High,
        applies: "chat in use",
        requirement: "`agents_authenticate_via_support = true`.",
        remediation: "Link chat to the support product and have agents sign in through it, so its authentication rules apply.",
        check: checks::chat_agent_authentication,
        ..R
    },
    Rule {
        id: "chat.no-email-transcripts",
        title: "Chat transcripts never sent by email",
        area: A::Chat,
        tags: &["Z-CHT-2"],
        source: zd("V. Chat, 2 (no email piping, transcripts or exports by email)"),
        legal: Some("45 CFR 164.312(e)(1)"),
        severity: S::High,
        applies: "chat in use",
        requirement: "`email_piping`, `transcript_email` and `email_exports` are all `false`.",
        remediation: "Turn off email piping and transcript emails, and do not send dashboard exports by email.",
        check: checks::chat_no_email_transcripts,
        ..R
    },
    Rule {
        id: "analytics.access",
        title: "Analytics only for agents who see all underlying tickets, at least privilege",
        area: A::Analytics,
        tags: &["Z-EXP-1"],
        source: zd("VI. Explore, 1 (access)"),
        legal: Some("45 CFR 164.308(a)(4), 164.502(b)"),
        severity: S::High,
        applies: "analytics in use",
        requirement: "`access_limited_to_full_ticket_viewers = true` and `least_privilege_roles = true`.",
        remediation: "Grant analytics access only to agents who may see every ticket, call and chat that may hold PHI, at the least privilege needed.",
        check: checks::analytics_access,
        ..R
    },
    Rule {
        id: "analytics.email-export",
        title: "No report export by email unless PHI-free or encrypted in transit",
        area: A::Analytics,
        tags: &["Z-EXP-2"],
        source: zd("VI. Explore, 2 (export by email)"),
        legal: Some("45 CFR 164.312(e)(1)"),
        severity: S::Medium,
        applies: "analytics in use",
        requirement: "`email_export = false`, or `email_exports_phi_free = true`, or `email_transport_encrypted = true` (current PCI minimum protocol).",
        remediation: "Opt out of native email export, or make sure exports hold no PHI, or that mail transport is encrypted to at least the current PCI minimum.",
        check: checks::analytics_email_export,
        ..R
    },
    Rule {
        id: "analytics.dashboard-audience",
        title: "Shared dashboards hold no identifiers or reach only approved users",
        area: A::Analytics,
        tags: &["Z-EXP-3"],
        source: zd("VI. Explore Enterprise (dashboard sharing), (i)–(ii)"),
        legal: Some("45 CFR 164.502(b)"),
        severity: S::Medium,
        applies: "analytics in use with `dashboard_sharing = true`",
        requirement: "`dashboards_identifier_free = true` or `dashboards_shared_with_approved_only = true`.",
        remediation: "Remove identifiers from shared dashboards, or share them only with agents, groups and users approved for that data.",
        check: checks::analytics_dashboard_audience,
        ..R
    },
    Rule {
        id: "analytics.dashboard-ip-restriction",
        title: "Shared dashboards behind IP restrictions",
        area: A::Analytics,
        tags: &["Z-EXP-3"],
        source: zd("VI. Explore Enterprise (dashboard sharing): IP restrictions"),
        legal: Some("45 CFR 164.312(a)(1)"),
        severity: S::Medium,
        applies: "analytics in use with `dashboard_sharing = true`",
        requirement: "`ip_restricted = true`.",
        remediation: "Use IP restrictions for dashboard access.",
        check: checks::analytics_dashboard_ip_restriction,
        ..R
    },
    Rule {
        id: "analytics.dashboard-links",
        title: "Dashboard links need a password that follows the password policy",
        area: A::Analytics,
        tags: &["Z-EXP-3"],
        source: zd("VI. Explore Enterprise (sharing by link)"),
        legal: Some("45 CFR 164.308(a)(5)(ii)(D)"),
        severity: S::High,
        applies: "analytics in use with `dashboard_sharing = true` and `link_sharing = true`",
        requirement: "`link_password_protected = true` and `link_password_policy_compliant = true`.",
        remediation: "Turn on password protection for shared links; choose, rotate, store and distribute the passwords per policy, and change them at once on suspected exposure.",
        check: checks::analytics_dashboard_links,
        ..R
    },
    // ------------------------------------------------------------ mobile, AI
    Rule {
        id: "mobile.device-encryption",
        title: "Device encryption required on mobile devices",
        area: A::Mobile,
        tags: &["Z-MOB-1"],
        source: zd("VIII. Mobile apps, 1 (device-level encryption)"),
        legal: Some("45 CFR 164.312(a)(2)(iv)"),
        severity: S::High,
        applies: "mobile in use",
        requirement: "`device_encryption_required = true`.",
        remediation: "Require device-level encryption (mobile device management policy).",
        check: checks::mobile_device_encryption,
        ..R
    },
    Rule {
        id: "mobile.unlock",
        title: "Biometric or PIN unlock at the strongest setting",
        area: A::Mobile,
        tags: &["Z-MOB-1"],
        source: zd("VIII. Mobile apps, 2 (biometric or PIN access)"),
        legal: Some("45 CFR 164.312(d)"),
        severity: S::High,
        applies: "mobile in use",
        requirement: "`unlock_method` is `biometric` or `pin`, and `unlock_at_strongest_setting = true`.",
        remediation: "Require biometric or PIN unlock at the strongest setting the device allows.",
        check: checks::mobile_unlock,
        ..R
    },
    Rule {
        id: "mobile.lock-screen-notifications",
        title: "No ticket content in lock-screen notifications",
        area: A::Mobile,
        tags: &["Z-MOB-1"],
        source: zd("VIII. Mobile apps, 3 (lock-screen notifications)"),
        legal: Some("45 CFR 164.502(a)"),
        severity: S::Medium,
        applies: "mobile in use",
        requirement: "`lock_screen_ticket_content = false`.",
        remediation: "Disable notifications that show ticket comments on the lock screen.",
        check: checks::mobile_lock_screen_notifications,
        ..R
    },
    Rule {
        id: "mobile.screen-lock",
        title: "Mobile screen lock after at most 15 minutes",
        area: A::Mobile,
        tags: &["Z-MOB-1"],
        source: zd("VIII. Mobile apps, 4 (inactivity screen lock)"),
        legal: Some("45 CFR 164.312(a)(2)(iii)"),
        severity: S::High,
        applies: "mobile in use",
        requirement: "`screen_lock_minutes` is between 1 and `parameters.screen_lock_max_minutes` (default 15).",
        remediation: "Enforce an inactivity screen lock of 15 minutes or less.",
        check: checks::mobile_screen_lock,
        ..R
    },
    Rule {
        id: "ai.no-medical-use",
        title: "AI not used for medical advice, diagnosis, treatment or access decisions",
        area: A::Ai,
        tags: &["Z-AI-1"],
        source: zd("X. AI features, 1–2 (intended use; output may be inaccurate)"),
        legal: None,
        severity: S::High,
        applies: "ai in use",
        requirement: "`medical_use_excluded = true` and `inaccuracy_acknowledged = true` (attested).",
        remediation: "Keep AI features away from medical advice, diagnosis, treatment and decisions on access to health services; review generated output, which may be inaccurate.",
        check: checks::ai_no_medical_use,
        ..R
    },
    Rule {
        id: "ai.disclaimer-variants",
        title: "\"Generate variants\" off for a mandatory disclaimer greeting",
        area: A::Ai,
        tags: &["Z-AI-1"],
        source: zd("X. AI features, 3 (generate variants and disclaimers)"),
        legal: None,
        severity: S::Medium,
        applies: "ai in use with `greeting_carries_disclaimer = true`",
        requirement: "`generate_variants = false`.",
        remediation: "Turn off \"Generate variants\" for the greeting that carries the mandatory disclaimer, so it is shown verbatim.",
        check: checks::ai_disclaimer_variants,
        ..R
    },
    // ------------------------------------------------------------ QA, workforce, integrations
    Rule {
        id: "quality-assurance.ai-assistance",
        title: "QA AI assistance off, or reviewers may see all data",
        area: A::QualityAssurance,
        tags: &["Z-QA-1"],
        source: zd("Quality assurance (added 2024-12-16): surveys (i)"),
        legal: Some("45 CFR 164.308(a)(4)"),
        severity: S::Medium,
        applies: "quality_assurance in use",
        requirement: "`ai_assistance = false`, or `reviewers_see_all_data = true`.",
        remediation: "Turn off AI assistance in QA, or make sure every reviewer may see all the data of the conversations reviewed.",
        check: checks::qa_ai_assistance,
        ..R
    },
    Rule {
        id: "quality-assurance.survey-content",
        title: "No PHI in QA survey questions or descriptions",
        area: A::QualityAssurance,
        tags: &["Z-QA-1"],
        source: zd("Quality assurance: surveys (ii)"),
        legal: Some("45 CFR 164.502(a)"),
        severity: S::Medium,
        applies: "quality_assurance in use",
        requirement: "`survey_content_phi_free = true` (attested).",
        remediation: "Word QA surveys so that questions and descriptions reveal no PHI (survey emails go out over opportunistic STARTTLS).",
        check: checks::qa_survey_content,
        ..R
    },
    Rule {
        id: "quality-assurance.chat-retention",
        title: "Retention period set for the QA chat integration",
        area: A::QualityAssurance,
        tags: &["Z-QA-1"],
        source: zd("Quality assurance: chat integration retention"),
        legal: None,
        severity: S::Low,
        applies: "quality_assurance in use with `chat_integration = true`",
        requirement: "`chat_retention_days` is set and not 0.",
        remediation: "Set a retention period for chat-integration data aligned with the subscriber's policy.",
        check: checks::qa_chat_retention,
        ..R
    },
    Rule {
        id: "quality-assurance.deletion-delay",
        title: "QA deletion delay accounted for",
        area: A::QualityAssurance,
        tags: &["Z-QA-1"],
        source: zd("Quality assurance: deletions sync after 3–6 hours; API deletions not at all"),
        legal: None,
        severity: S::Low,
        applies: "quality_assurance in use",
        requirement: "`deletion_delay_acknowledged = true`.",
        remediation: "Delete or redact at the source ticket (not through the conversations API) and allow 3–6 hours for QA to follow.",
        check: checks::qa_deletion_delay,
        ..R
    },
    Rule {
        id: "quality-assurance.attachments",
        title: "No PHI in QA attachments (public by URL)",
        area: A::QualityAssurance,
        tags: &["Z-QA-1"],
        source: zd("Quality assurance: private attachments not supported"),
        legal: Some("45 CFR 164.312(a)(1)"),
        severity: S::Medium,
        applies: "quality_assurance in use",
        requirement: "`attachments_phi_free = true` (attested).",
        remediation: "Keep PHI out of attachments that reach QA: anyone with their URL can open them.",
        check: checks::qa_attachments,
        ..R
    },
    Rule {
        id: "workforce.default-roles",
        title: "Workforce default roles reviewed (they see all agent activity)",
        area: A::Workforce,
        tags: &["Z-WFM-1"],
        source: zd("Workforce management (added 2024-12-27), 1 (default roles)"),
        legal: Some("45 CFR 164.308(a)(4)"),
        severity: S::Low,
        applies: "workforce in use",
        requirement: "`default_roles_reviewed = true`.",
        remediation: "Review the default admin and agent roles, which see all agent activity, and create custom roles where that is too wide.",
        check: checks::workforce_default_roles,
        ..R
    },
    Rule {
        id: "workforce.sensitive-tags",
        title: "Access to sensitive tags restricted",
        area: A::Workforce,
        tags: &["Z-WFM-1"],
        source: zd("Workforce management, 2 (ticket tags are visible)"),
        legal: Some("45 CFR 164.308(a)(4)"),
        severity: S::Medium,
        applies: "workforce in use with `sensitive_tags = true`",
        requirement: "`sensitive_tag_access_restricted = true`.",
        remediation: "Restrict who can see activity carrying sensitive tags.",
        check: checks::workforce_sensitive_tags,
        ..R
    },
    Rule {
        id: "integrations.third-party-baa",
        title: "Third-party integrations that carry ePHI are covered by a BAA",
        area: A::Integrations,
        tags: &["H-3"],
        source: gc("What about marketplace apps, third-party integrations and your own providers?"),
        legal: Some("45 CFR 164.308(b)(1), 164.314(a)"),
        severity: S::High,
        applies: "integrations in use, with at least one entry",
        requirement: "every integration with `carries_phi = true` has `baa_signed = true`.",
        remediation: "Sign a BAA with every third party (messaging platform, bot or NLU service, app) that sends or receives ePHI, or stop sending it ePHI.",
        check: checks::integrations_third_party_baa,
        ..R
    },
];
