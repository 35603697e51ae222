//! The configuration model of a health-enabled tenant.
//!
//! Vendor-neutral: each section describes one product area or feature family in the
//! words of the requirements, not of one vendor's admin screens. `docs/compliance.md`
//! is the reference for every key.
//!
//! Three conventions hold everywhere:
//! * every section is `Option`: `None` (section absent) means the product is not used,
//!   and the rules for it are *not applicable*;
//! * every setting inside a section is `Option` too, so that leaving out a value a rule
//!   needs is reported by that rule as an error ("not set"), never read as a default;
//! * lists default to empty, and an empty list means "none of these exist".
//!
//! Items of a list (an API token, an OAuth client, a JWT key, an integration) must be
//! complete: their required keys are checked while parsing, with the key path.

use crate::date::Date;
use crate::error::{Error, Result};
use crate::params::ParameterOverrides;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// The whole configuration of one tenant. Read it with [`Config::from_toml`] or
/// [`Config::from_json`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Config {
    /// Who this configuration describes (for reports only).
    pub tenant: Option<Tenant>,
    /// Per-organisation tightening of the sources' limits.
    pub parameters: Option<ParameterOverrides>,
    /// The platform's HIPAA mode: BAA, toggle, region (H-1, H-4).
    pub hipaa: Option<Hipaa>,
    /// HDS (French health data hosting) account obligations (Z-HDS-1).
    pub hds: Option<Hds>,
    /// How agents authenticate (Z-SUP-1).
    pub authentication: Option<Authentication>,
    /// TLS and custom domains (Z-SUP-2).
    pub transport: Option<Transport>,
    /// Agent network restrictions (Z-SUP-3).
    pub network: Option<Network>,
    /// The support product's API access (Z-SUP-4).
    pub api: Option<Api>,
    /// Ticket attachments (Z-SUP-5).
    pub attachments: Option<Attachments>,
    /// Application sessions: idle timeout and token lifetime (H-5).
    pub sessions: Option<Sessions>,
    /// Agent, admin and owner workstations (Z-SUP-6, H-5, H-6, H-7).
    pub workstations: Option<Workstations>,
    /// Ticket view permissions (Z-SUP-7).
    pub view_permissions: Option<ViewPermissions>,
    /// Email notifications to end users (Z-SUP-8).
    pub notifications: Option<Notifications>,
    /// Text messaging (Z-SUP-9, H-2).
    pub sms: Option<Sms>,
    /// Email routed by the contact center's ACD (H-2).
    pub acd_email: Option<AcdEmail>,
    /// Satisfaction surveys (Z-SUP-10, Z-SUP-11).
    pub surveys: Option<Surveys>,
    /// The public help center / knowledge base (Z-GUI-1, Z-GUI-2).
    pub help_center: Option<HelpCenter>,
    /// The end-user community (Z-GUI-3 to Z-GUI-5).
    pub community: Option<Community>,
    /// The messaging product: web widget, mobile SDK, social channels (Z-MSG-…).
    pub messaging: Option<Messaging>,
    /// Side conversations: child tickets, email, Slack (Z-MSG-8).
    pub side_conversations: Option<SideConversations>,
    /// The conversations API product (Z-SUN-…).
    pub conversations_api: Option<ConversationsApi>,
    /// Live chat (Z-CHT-1, Z-CHT-2).
    pub chat: Option<Chat>,
    /// Analytics and reporting (Z-EXP-1 to Z-EXP-3).
    pub analytics: Option<Analytics>,
    /// Mobile apps and mobile-device access (Z-MOB-1).
    pub mobile: Option<Mobile>,
    /// AI features (Z-AI-1).
    pub ai: Option<Ai>,
    /// The quality-assurance product (Z-QA-1).
    pub quality_assurance: Option<QualityAssurance>,
    /// The workforce-management product (Z-WFM-1).
    pub workforce: Option<Workforce>,
    /// Third-party integrations that send or receive data: apps, bots, channels (H-3).
    /// `integrations = []` states that there are none.
    pub integrations: Option<Vec<Integration>>,
}

/// Who the configuration describes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Tenant {
    /// A display name, e.g. "Example Clinic".
    pub name: Option<String>,
    /// The regime the tenant is under: HIPAA, HDS or both. It decides whether the
    /// HIPAA rules (BAA, region) and the HDS rule apply; not stated, they cannot be
    /// decided.
    pub regime: Option<Regime>,
    /// Products and features the tenant uses. A product is in use when it is listed
    /// here or its section is present; a listed product whose section is absent fails
    /// its rules as "not stated".
    #[serde(default)]
    pub products: Vec<Product>,
    /// The day this configuration describes (a snapshot date, e.g. when a script read
    /// the vendor's admin API). When stated, the check is made as of that day: credential
    /// ages and waiver expiry are computed against it, whatever day the check runs.
    pub as_of: Option<Date>,
}

/// Which health-data regime a tenant is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// US HIPAA: a BAA with the vendor; the contact-center platform's HIPAA mode.
    Hipaa,
    /// French HDS (health data hosting).
    Hds,
    /// Both.
    Both,
}

impl Regime {
    /// HIPAA applies.
    pub fn hipaa(self) -> bool {
        matches!(self, Regime::Hipaa | Regime::Both)
    }
    /// HDS applies.
    pub fn hds(self) -> bool {
        matches!(self, Regime::Hds | Regime::Both)
    }
}

/// A product or feature whose rules apply only when the tenant uses it (named like its
/// configuration section). The every-tenant areas (authentication, transport, network,
/// attachments, workstations, view permissions, notifications) are not products: their
/// rules always apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Product {
    /// The support product's API (`[api]`).
    Api,
    /// Application sessions of the contact-center platform (`[sessions]`).
    Sessions,
    /// SMS features (`[sms]`).
    Sms,
    /// ACD email of the contact-center platform (`[acd_email]`).
    AcdEmail,
    /// Satisfaction surveys (`[surveys]`).
    Surveys,
    /// The help center (`[help_center]`).
    HelpCenter,
    /// The community (`[community]`).
    Community,
    /// Messaging (`[messaging]`).
    Messaging,
    /// Side conversations (`[side_conversations]`).
    SideConversations,
    /// The conversations API product (`[conversations_api]`).
    ConversationsApi,
    /// Live chat (`[chat]`).
    Chat,
    /// Analytics (`[analytics]`).
    Analytics,
    /// Mobile access (`[mobile]`).
    Mobile,
    /// AI features (`[ai]`).
    Ai,
    /// Quality assurance (`[quality_assurance]`).
    QualityAssurance,
    /// Workforce management (`[workforce]`).
    Workforce,
    /// Third-party integrations (`[[integrations]]`).
    Integrations,
}

impl Product {
    /// Every product, in report order.
    pub const ALL: [Product; 17] = [
        Product::Api,
        Product::Sessions,
        Product::Sms,
        Product::AcdEmail,
        Product::Surveys,
        Product::HelpCenter,
        Product::Community,
        Product::Messaging,
        Product::SideConversations,
        Product::ConversationsApi,
        Product::Chat,
        Product::Analytics,
        Product::Mobile,
        Product::Ai,
        Product::QualityAssurance,
        Product::Workforce,
        Product::Integrations,
    ];

    /// Its configuration section, e.g. `conversations_api`.
    pub fn section(self) -> &'static str {
        match self {
            Product::Api => "api",
            Product::Sessions => "sessions",
            Product::Sms => "sms",
            Product::AcdEmail => "acd_email",
            Product::Surveys => "surveys",
            Product::HelpCenter => "help_center",
            Product::Community => "community",
            Product::Messaging => "messaging",
            Product::SideConversations => "side_conversations",
            Product::ConversationsApi => "conversations_api",
            Product::Chat => "chat",
            Product::Analytics => "analytics",
            Product::Mobile => "mobile",
            Product::Ai => "ai",
            Product::QualityAssurance => "quality_assurance",
            Product::Workforce => "workforce",
            Product::Integrations => "integrations",
        }
    }

    /// The product of a configuration section, if the section is a product's.
    pub fn of_section(section: &str) -> Option<Product> {
        Product::ALL.into_iter().find(|p| p.section() == section)
    }
}

/// Sections whose rules hold for every health-enabled tenant: absent, they fail as
/// "not stated" (catalog 1.1.0 and later).
pub const EVERY_TENANT_SECTIONS: &[&str] = &[
    "authentication",
    "transport",
    "network",
    "attachments",
    "workstations",
    "view_permissions",
    "notifications",
];

/// The platform's HIPAA mode (seed 002).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Hipaa {
    /// The platform's HIPAA toggle is on.
    pub enabled: Option<bool>,
    /// A business associate agreement with the platform vendor is signed by all parties.
    pub baa_signed: Option<bool>,
    /// When the BAA was signed (optional; checked against `enabled_on`).
    pub baa_signed_on: Option<Date>,
    /// When the HIPAA toggle was set (optional; must not precede `baa_signed_on`).
    pub enabled_on: Option<Date>,
    /// The cloud region the organisation is deployed in, e.g. `us-east-1`.
    pub region: Option<String>,
}

/// HDS account obligations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Hds {
    /// The account follows the vendor's sub-processor policy to be notified of changes.
    pub subprocessor_notifications: Option<bool>,
}

/// How agents log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// The product's own login with its password policy.
    Native,
    /// External single sign-on.
    Sso,
}

/// The product's native password policy level. `recommended` and `strict` meet the
/// bar; `custom` meets it only when attested (`custom_policy_at_least_recommended`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordPolicy {
    /// Weakest preset.
    Low,
    /// Middle preset.
    Medium,
    /// The vendor's "recommended" preset.
    Recommended,
    /// Stricter than recommended.
    Strict,
    /// Custom settings defined by the subscriber.
    Custom,
}

/// Agent authentication (Z-SUP-1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Authentication {
    /// `native` or `sso`.
    pub method: Option<AuthMethod>,
    /// Native password policy level (needed when `method = "native"`).
    pub password_policy: Option<PasswordPolicy>,
    /// With `password_policy = "custom"`: the subscriber attests that the custom
    /// settings are no less strict than "recommended".
    pub custom_policy_at_least_recommended: Option<bool>,
    /// Two-factor authentication is enforced for every agent (in the product for native
    /// login, in the identity provider for SSO).
    pub two_factor_enforced: Option<bool>,
    /// Admins may set end users' passwords (must be off).
    pub admins_can_set_end_user_passwords: Option<bool>,
    /// Single sign-on details (needed when `method = "sso"`).
    pub sso: Option<Sso>,
}

/// External single sign-on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Sso {
    /// The identity provider's name, for reports.
    pub provider: Option<String>,
    /// The subscriber attests the identity provider's requirements are no less strict
    /// than the "recommended" password policy.
    pub at_least_recommended: Option<bool>,
    /// Password login stays available next to SSO (must be off).
    pub password_login_enabled: Option<bool>,
}

/// Transport security (Z-SUP-2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Transport {
    /// TLS is always on (no plain-HTTP access).
    pub tls_enforced: Option<bool>,
    /// A custom (non-vendor) domain, if one is used, e.g. `help.example.org`.
    pub custom_domain: Option<String>,
    /// The custom domain uses the vendor's hosted SSL certificate.
    pub hosted_ssl: Option<bool>,
}

/// Network restrictions for agent access (Z-SUP-3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Network {
    /// IP addresses or CIDR ranges under the subscriber's control from which agents may
    /// use the interface; empty = no restriction.
    #[serde(default)]
    pub agent_ip_allowlist: Vec<String>,
}

/// An OAuth 2.0 client allowed to call an API.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct OAuthClient {
    /// A unique, descriptive name ("CRM synchronisation", not "client 1").
    pub name: String,
    /// The client's unique identifier.
    pub id: String,
    /// The scopes granted to its tokens, e.g. `["tickets:read"]`.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// A long-lived API token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ApiToken {
    /// A unique, descriptive name.
    pub name: String,
    /// The one service that uses this token.
    pub service: String,
    /// When the token was created.
    pub created: Date,
    /// When it was last rotated (absent: never rotated since `created`).
    pub rotated: Option<Date>,
    /// Third parties the token has been given to (empty: nobody outside).
    #[serde(default)]
    pub shared_with: Vec<String>,
    /// When shared: it was handed over only by end-to-end encrypted means.
    pub shared_end_to_end_encrypted: Option<bool>,
    /// The date the subscriber learned of a data breach at a third party holding the
    /// token; the token must have been rotated on or after it.
    pub third_party_breach_on: Option<Date>,
}

impl ApiToken {
    /// The date of the current secret: last rotation, or creation.
    pub fn current_since(&self) -> Date {
        self.rotated.unwrap_or(self.created)
    }
}

/// The support product's API (Z-SUP-4).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Api {
    /// Password (basic-auth) access to the API is enabled (must be off).
    pub password_access_enabled: Option<bool>,
    /// OAuth clients.
    #[serde(default)]
    pub oauth_clients: Vec<OAuthClient>,
    /// API tokens.
    #[serde(default)]
    pub tokens: Vec<ApiToken>,
}

/// Ticket attachments (Z-SUP-5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Attachments {
    /// "Require authentication to download" is on.
    pub require_authentication_to_download: Option<bool>,
}

/// Application sessions (H-5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Sessions {
    /// Minutes of inactivity after which a session ends.
    pub idle_timeout_minutes: Option<u32>,
    /// The idle timeout applies to OAuth / API clients too.
    pub idle_timeout_applies_to_api_clients: Option<bool>,
    /// Lifetime of access tokens issued to clients, if the product exposes it.
    pub access_token_lifetime_minutes: Option<u32>,
}

/// Agent, admin and owner workstations (endpoints).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Workstations {
    /// Every endpoint uses full-disk encryption.
    pub full_disk_encryption: Option<bool>,
    /// Operating-system screen lock after this many minutes of inactivity (0 = never).
    pub inactivity_lock_minutes: Option<u32>,
    /// The product keeps session tokens in the browser's local storage.
    pub session_tokens_in_local_storage: Option<bool>,
}

/// How widely agents see tickets by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentTicketScope {
    /// Only tickets assigned to them.
    Own,
    /// Tickets of their groups.
    Groups,
    /// Every ticket of their organisation / brand.
    Organization,
    /// Every ticket of the instance.
    All,
}

/// How widely an end user sees requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndUserScope {
    /// Only their own requests.
    Own,
    /// Every request of their organisation.
    Organization,
}

/// Ticket view permissions (Z-SUP-7).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ViewPermissions {
    /// The widest ticket view any agent role grants.
    pub agent_ticket_scope: Option<AgentTicketScope>,
    /// The widest end-user setting in user profiles.
    pub end_user_user_level: Option<EndUserScope>,
    /// The widest end-user setting on organisations.
    pub end_user_organization_level: Option<EndUserScope>,
}

/// Email notifications to end users (Z-SUP-8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Notifications {
    /// Notification emails sent when an agent replies carry ticket content (comments,
    /// fields).
    pub email_includes_ticket_content: Option<bool>,
    /// Replies through the email channel carry ticket content.
    pub email_channel_includes_ticket_content: Option<bool>,
    /// Emails sent by automations carry ticket content.
    pub automations_include_ticket_content: Option<bool>,
    /// Emails sent by triggers carry ticket content.
    pub triggers_include_ticket_content: Option<bool>,
    /// The end user must log in to read the reply.
    pub end_user_login_required: Option<bool>,
}

/// Text messaging (Z-SUP-9, H-2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Sms {
    /// Any SMS feature is enabled.
    pub enabled: Option<bool>,
    /// SMS is used only to send two-factor codes (exempt).
    pub two_factor_only: Option<bool>,
    /// Attested: SMS messages never carry PHI (H-2, Z-SUP-9).
    pub phi_excluded: Option<bool>,
}

/// Email routed by the contact center (H-2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AcdEmail {
    /// ACD email is enabled.
    pub enabled: Option<bool>,
    /// Attested: ACD email never carries ePHI (H-2).
    pub phi_excluded: Option<bool>,
}

/// Satisfaction surveys (Z-SUP-10, Z-SUP-11).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Surveys {
    /// The legacy survey feature (mails ticket data to collect a rating) is on.
    pub legacy_enabled: Option<bool>,
    /// The current survey feature is on for the ticket channel.
    pub enabled: Option<bool>,
    /// The body of the survey email.
    pub email_body: Option<String>,
    /// The placeholder that stands for the survey link; defaults to
    /// `{{satisfaction.survey_url}}`.
    pub survey_url_placeholder: Option<String>,
    /// Open-ended (free-text) questions are used.
    pub open_ended_questions: Option<bool>,
}

impl Surveys {
    /// The survey-link placeholder in force.
    pub fn placeholder(&self) -> &str {
        self.survey_url_placeholder
            .as_deref()
            .unwrap_or(DEFAULT_SURVEY_PLACEHOLDER)
    }
}

/// The survey-link placeholder when none is configured.
pub const DEFAULT_SURVEY_PLACEHOLDER: &str = "{{satisfaction.survey_url}}";

/// The help center / knowledge base (Z-GUI-1, Z-GUI-2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct HelpCenter {
    /// Articles are public (not restricted, not a closed help center).
    pub public_articles: Option<bool>,
    /// The subscriber attests that public articles, their attachments and images
    /// contain no PHI.
    pub public_content_phi_free: Option<bool>,
    /// End users may comment on articles.
    pub end_user_comments: Option<bool>,
    /// Comments are moderated and PHI is removed before publication.
    pub comments_moderated: Option<bool>,
}

/// The end-user community (Z-GUI-3 to Z-GUI-5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Community {
    /// End users may create posts.
    pub end_user_posts: Option<bool>,
    /// "Moderate all content" is on.
    pub moderate_all_content: Option<bool>,
    /// Attested: moderators approve no submission that contains PHI.
    pub phi_submissions_rejected: Option<bool>,
    /// Every community moderator is an employee of the subscriber.
    pub moderators_all_employees: Option<bool>,
    /// End users have public profiles.
    pub public_profiles: Option<bool>,
    /// @mentions of community members are enabled.
    pub mentions: Option<bool>,
}

/// A third-party messaging channel (social media or other platform).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ChannelIntegration {
    /// The platform, e.g. `whatsapp`, `facebook_messenger`, `x`.
    pub platform: String,
    /// The subscriber has its own BAA with that platform.
    pub baa_signed: bool,
}

/// How end users of a messaging channel are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndUserAuth {
    /// Anonymous end users.
    None,
    /// Signed JSON web tokens from the subscriber's systems.
    Jwt,
}

/// A JWT signing key for end-user authentication on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct JwtKey {
    /// The authentication channel this key signs for (one key per channel).
    pub channel: String,
    /// A descriptive name.
    pub name: String,
    /// The key's identifier (`kid`).
    pub key_id: String,
    /// When the key was created.
    pub created: Date,
    /// When it was last rotated.
    pub rotated: Option<Date>,
    /// The `exp` the subscriber's issuer sets, in minutes after issue; absent = tokens
    /// carry no `exp` claim.
    pub exp_minutes: Option<u32>,
    /// Third parties the key has been given to (empty: nobody outside).
    #[serde(default)]
    pub shared_with: Vec<String>,
    /// When shared: it was handed over only by end-to-end encrypted means.
    pub shared_end_to_end_encrypted: Option<bool>,
    /// The date the subscriber learned of a data breach at a third party holding the
    /// key; the key must have been changed on or after it.
    pub third_party_breach_on: Option<Date>,
}

impl JwtKey {
    /// The date of the current key: last rotation, or creation.
    pub fn current_since(&self) -> Date {
        self.rotated.unwrap_or(self.created)
    }
}

/// What happens to AI-agent conversations that never became a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationDeletion {
    /// Deleted automatically (e.g. a webhook that triggers deletion through the API).
    Automated,
    /// Deleted by a documented manual procedure.
    Manual,
    /// Kept indefinitely.
    None,
}

/// The messaging product (Z-MSG-1 to Z-MSG-7, Z-MSG-9).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Messaging {
    /// Social-media messaging channel integrations.
    #[serde(default)]
    pub social_channels: Vec<ChannelIntegration>,
    /// End users may attach files.
    pub end_user_attachments: Option<bool>,
    /// Secure (authenticated) attachments are on.
    pub secure_attachments: Option<bool>,
    /// Every agent and light agent may see every incoming message.
    pub all_agents_see_all_messages: Option<bool>,
    /// Web widget conversations persist on the device.
    pub web_widget_persistence: Option<bool>,
    /// With persistence on: the subscriber ensures end users do not share devices.
    pub shared_devices_excluded: Option<bool>,
    /// End-user authentication.
    pub end_user_authentication: Option<EndUserAuth>,
    /// JWT signing keys, one per authentication channel.
    #[serde(default)]
    pub jwt_keys: Vec<JwtKey>,
    /// AI agents answer conversations.
    pub ai_agents: Option<bool>,
    /// How AI-agent conversations that never became a ticket are deleted.
    pub ai_conversation_deletion: Option<ConversationDeletion>,
    /// The subscriber has its own malware control for attachments (the vendor does
    /// not scan them).
    pub malware_control_in_place: Option<bool>,
    /// When an agent loses permission during an active conversation, the subscriber
    /// forcibly ends that agent's access (documented procedure).
    pub revoke_access_on_permission_removal: Option<bool>,
}

/// Side conversations (Z-MSG-8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SideConversations {
    /// Side conversations (child tickets, email, Slack, integrations) are enabled.
    pub enabled: Option<bool>,
    /// The subscriber attests that no PHI is put in side conversations.
    pub phi_excluded: Option<bool>,
}

/// The conversations API product (Z-SUN-1 to Z-SUN-6).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ConversationsApi {
    /// Third-party channel integrations.
    #[serde(default)]
    pub third_party_channels: Vec<ChannelIntegration>,
    /// OAuth clients of this API (the support product's IP restrictions do not apply).
    #[serde(default)]
    pub oauth_clients: Vec<OAuthClient>,
    /// API tokens of this API.
    #[serde(default)]
    pub tokens: Vec<ApiToken>,
    /// End users may attach files.
    pub end_user_attachments: Option<bool>,
    /// Secure (authenticated) attachments are on.
    pub secure_attachments: Option<bool>,
    /// End-user authentication.
    pub end_user_authentication: Option<EndUserAuth>,
    /// JWT signing keys, one per authentication channel.
    #[serde(default)]
    pub jwt_keys: Vec<JwtKey>,
    /// AI agents answer conversations.
    pub ai_agents: Option<bool>,
    /// How AI-agent conversations that were not handed to a ticket are deleted.
    pub ai_conversation_deletion: Option<ConversationDeletion>,
    /// Messages deleted through the API are also removed from the agent workspace
    /// (ticket deleted or content redacted) by a documented procedure.
    pub deleted_messages_redacted: Option<bool>,
    /// The subscriber has its own malware control for attachments.
    pub malware_control_in_place: Option<bool>,
}

/// Live chat (Z-CHT-1, Z-CHT-2).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Chat {
    /// Chat agents sign in through the support product (its authentication applies).
    pub agents_authenticate_via_support: Option<bool>,
    /// Email piping of chats is on.
    pub email_piping: Option<bool>,
    /// Transcripts can be emailed from the widget.
    pub transcript_email: Option<bool>,
    /// Exports from the chat dashboard are sent by email.
    pub email_exports: Option<bool>,
}

/// Analytics and reporting (Z-EXP-1 to Z-EXP-3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Analytics {
    /// Only agents who may see every underlying ticket, call and chat have access.
    pub access_limited_to_full_ticket_viewers: Option<bool>,
    /// Access is granted at the least privilege needed.
    pub least_privilege_roles: Option<bool>,
    /// Reports can be exported by email.
    pub email_export: Option<bool>,
    /// The subscriber ensures emailed exports contain no PHI.
    pub email_exports_phi_free: Option<bool>,
    /// Mail transport for exports is encrypted to at least the current PCI minimum.
    pub email_transport_encrypted: Option<bool>,
    /// Dashboards are shared (enterprise sharing features in use).
    pub dashboard_sharing: Option<bool>,
    /// Shared dashboards contain no identifiers.
    pub dashboards_identifier_free: Option<bool>,
    /// Dashboards are shared only with approved agents, groups or users.
    pub dashboards_shared_with_approved_only: Option<bool>,
    /// IP restrictions apply to dashboard access.
    pub ip_restricted: Option<bool>,
    /// Dashboards are shared by link.
    pub link_sharing: Option<bool>,
    /// Shared links need a password.
    pub link_password_protected: Option<bool>,
    /// Link passwords follow the subscriber's password policy (complexity, rotation,
    /// storage, distribution) and are changed on suspected exposure.
    pub link_password_policy_compliant: Option<bool>,
}

/// How a mobile device is unlocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnlockMethod {
    /// Biometric unlock.
    Biometric,
    /// A PIN or passcode.
    Pin,
    /// No unlock protection.
    None,
}

/// Mobile apps and mobile-device access (Z-MOB-1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Mobile {
    /// Device-level encryption is required.
    pub device_encryption_required: Option<bool>,
    /// Required unlock method.
    pub unlock_method: Option<UnlockMethod>,
    /// The unlock method is at the strongest setting the device allows.
    pub unlock_at_strongest_setting: Option<bool>,
    /// Lock-screen notifications show ticket content.
    pub lock_screen_ticket_content: Option<bool>,
    /// Screen lock after this many minutes of inactivity (0 = never).
    pub screen_lock_minutes: Option<u32>,
}

/// AI features (Z-AI-1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Ai {
    /// The subscriber attests AI features are not used for medical advice, diagnosis,
    /// treatment, or decisions on access to health services.
    pub medical_use_excluded: Option<bool>,
    /// The subscriber acknowledges generated output may be inaccurate (and reviews it).
    pub inaccuracy_acknowledged: Option<bool>,
    /// A bot greeting carries a mandatory disclaimer.
    pub greeting_carries_disclaimer: Option<bool>,
    /// "Generate variants" is on for that greeting.
    pub generate_variants: Option<bool>,
}

/// The quality-assurance product (Z-QA-1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct QualityAssurance {
    /// AI assistance is on.
    pub ai_assistance: Option<bool>,
    /// Every reviewer may see all data of the conversations reviewed.
    pub reviewers_see_all_data: Option<bool>,
    /// The subscriber attests survey questions and descriptions contain no PHI.
    pub survey_content_phi_free: Option<bool>,
    /// The chat integration is used.
    pub chat_integration: Option<bool>,
    /// Retention period for chat-integration data, in days.
    pub chat_retention_days: Option<u32>,
    /// The subscriber knows deletions reach the QA product only after 3–6 hours (and
    /// API deletions not at all) and deletes at the source ticket.
    pub deletion_delay_acknowledged: Option<bool>,
    /// The subscriber attests no PHI is in QA attachments (they are public by URL).
    pub attachments_phi_free: Option<bool>,
}

/// The workforce-management product (Z-WFM-1).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Workforce {
    /// The subscriber has reviewed that default roles see all agent activity and
    /// customised roles where that is too wide.
    pub default_roles_reviewed: Option<bool>,
    /// Tags applied to tickets are sensitive.
    pub sensitive_tags: Option<bool>,
    /// Access to activity carrying sensitive tags is restricted.
    pub sensitive_tag_access_restricted: Option<bool>,
}

/// What kind of third party an integration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    /// A messaging channel (Facebook, X, WhatsApp, …).
    Channel,
    /// A bot or NLU service (Dialogflow, Lex, …).
    Bot,
    /// A marketplace app or other integration.
    App,
}

/// A third-party integration that exchanges data with the platform (H-3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Integration {
    /// Its name, e.g. "Google Dialogflow".
    pub name: String,
    /// `channel`, `bot` or `app`.
    pub kind: IntegrationKind,
    /// It sends or receives ePHI.
    pub carries_phi: bool,
    /// The subscriber has a BAA with that third party.
    pub baa_signed: bool,
}

macro_rules! display_snake {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let v = serde_json::to_value(self).map_err(|_| fmt::Error)?;
                f.write_str(v.as_str().unwrap_or_default())
            }
        }
    )*};
}
display_snake!(
    AuthMethod,
    PasswordPolicy,
    AgentTicketScope,
    EndUserScope,
    EndUserAuth,
    ConversationDeletion,
    UnlockMethod,
    IntegrationKind,
    Regime,
    Product
);

impl Config {
    /// Reads a configuration from TOML. Unknown keys, wrong types, invalid values and
    /// parameters that loosen a source's limit are errors naming the key path.
    pub fn from_toml(text: &str) -> Result<Config> {
        let de = toml::Deserializer::new(text);
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let line = e.inner().span().map(|s| line_of(text, s.start));
            Error::Parse {
                path: path_string(e.path()),
                line,
                message: e.inner().message().trim().to_owned(),
            }
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a configuration from JSON (same model as TOML; dates are strings).
    pub fn from_json(text: &str) -> Result<Config> {
        let mut de = serde_json::Deserializer::from_str(text);
        let config: Config = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| json_error(path_string(e.path()), e.inner()))?;
        de.end().map_err(|e| json_error(".".to_owned(), &e))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads TOML or JSON, guessing from the first non-blank character (`{` is JSON).
    pub fn parse(text: &str) -> Result<Config> {
        if looks_like_json(text) {
            Config::from_json(text)
        } else {
            Config::from_toml(text)
        }
    }

    /// Checks what the types alone cannot: IP ranges, date order, parameter limits.
    pub fn validate(&self) -> Result<()> {
        if let Some(net) = &self.network {
            for (i, entry) in net.agent_ip_allowlist.iter().enumerate() {
                check_ip_range(entry)
                    .map_err(|m| Error::invalid(format!("network.agent_ip_allowlist[{i}]"), m))?;
            }
        }
        if let Some(api) = &self.api {
            check_tokens("api.tokens", &api.tokens)?;
        }
        if let Some(m) = &self.messaging {
            check_keys("messaging.jwt_keys", &m.jwt_keys)?;
        }
        if let Some(t) = &self.tenant {
            for (i, p) in t.products.iter().enumerate() {
                if t.products[..i].contains(p) {
                    return Err(Error::invalid(
                        format!("tenant.products[{i}]"),
                        format!("`{p}` is listed twice"),
                    ));
                }
            }
        }
        if let Some(c) = &self.conversations_api {
            check_tokens("conversations_api.tokens", &c.tokens)?;
            check_keys("conversations_api.jwt_keys", &c.jwt_keys)?;
        }
        if let Some(h) = &self.hipaa
            && let Some(r) = &h.region
            && r.trim().is_empty()
        {
            return Err(Error::invalid("hipaa.region", "must not be empty"));
        }
        crate::params::Parameters::from_overrides(self.parameters.as_ref())?;
        Ok(())
    }

    /// The tenant's display name, if given.
    pub fn tenant_name(&self) -> Option<&str> {
        self.tenant.as_ref().and_then(|t| t.name.as_deref())
    }

    /// The regime stated in `tenant.regime`.
    pub fn regime(&self) -> Option<Regime> {
        self.tenant.as_ref().and_then(|t| t.regime)
    }

    /// The snapshot date stated in `tenant.as_of`.
    pub fn as_of(&self) -> Option<Date> {
        self.tenant.as_ref().and_then(|t| t.as_of)
    }

    /// Products listed in `tenant.products`.
    pub fn listed_products(&self) -> &[Product] {
        self.tenant.as_ref().map_or(&[], |t| &t.products)
    }

    /// Whether a top-level section is present.
    pub fn has_section(&self, section: &str) -> bool {
        let v = serde_json::to_value(self).unwrap_or_default();
        v.get(section).is_some_and(|v| !v.is_null())
    }
}

pub(crate) fn looks_like_json(text: &str) -> bool {
    text.trim_start().starts_with('{')
}

fn check_tokens(path: &str, tokens: &[ApiToken]) -> Result<()> {
    for (i, t) in tokens.iter().enumerate() {
        if let Some(r) = t.rotated
            && r < t.created
        {
            return Err(Error::invalid(
                format!("{path}[{i}].rotated"),
                format!(
                    "{r} is before `created` ({}): a token cannot be rotated before it exists",
                    t.created
                ),
            ));
        }
    }
    Ok(())
}

fn check_keys(path: &str, keys: &[JwtKey]) -> Result<()> {
    for (i, k) in keys.iter().enumerate() {
        if let Some(r) = k.rotated
            && r < k.created
        {
            return Err(Error::invalid(
                format!("{path}[{i}].rotated"),
                format!(
                    "{r} is before `created` ({}): a key cannot be rotated before it exists",
                    k.created
                ),
            ));
        }
    }
    Ok(())
}

/// Accepts an IP address or a CIDR range (`203.0.113.0/24`, `2001:db8::/32`).
fn check_ip_range(entry: &str) -> std::result::Result<(), String> {
    let bad = || {
        format!(
            "`{entry}` is not an IP address or CIDR range (e.g. 203.0.113.0/24 or 2001:db8::/32)"
        )
    };
    let (addr, prefix) = match entry.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (entry, None),
    };
    let ip: IpAddr = addr.trim().parse().map_err(|_| bad())?;
    if let Some(p) = prefix {
        let p: u8 = p.trim().parse().map_err(|_| bad())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if p > max {
            return Err(format!("`{entry}`: prefix /{p} is longer than /{max}"));
        }
        if p == 0 {
            return Err(format!(
                "`{entry}`: a /0 range allows every address, which restricts nothing"
            ));
        }
    }
    Ok(())
}

/// `a.b[2].c`, or `.` for the document itself.
pub(crate) fn path_string(path: &serde_path_to_error::Path) -> String {
    let s = path.to_string();
    if s.is_empty() || s == "?" {
        ".".to_owned()
    } else {
        s
    }
}

pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .unwrap_or(text)
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

pub(crate) fn json_error(path: String, inner: &serde_json::Error) -> Error {
    let (line, col) = (inner.line(), inner.column());
    let mut message = inner.to_string();
    let suffix = format!(" at line {line} column {col}");
    if let Some(stripped) = message.strip_suffix(&suffix) {
        message = stripped.to_owned();
    }
    Error::Parse {
        path,
        line: (line > 0).then_some(line),
        message,
    }
}
