//! The wire types of the API that are not request shapes (those are
//! `dsr_ops::wire`, shared with the CLI): bodies in, bodies out, camelCase, each built
//! explicitly from the domain types.

use dsr_match::{Correlated, Evidence, Match};
use dsr_model::{Subject, Term, TermType};
use dsr_ops::wire::RequestView;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

// Text a value accepts: not blank, no control characters (dsr_model::check_text).

/// The identifier kinds a lookup accepts (the names contact-center GDPR APIs use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SearchType {
    /// A person's name.
    Name,
    /// A postal address.
    Address,
    /// A phone number.
    Phone,
    /// An email address.
    Email,
    /// A Twitter / X handle.
    Twitter,
    /// A Facebook handle or page.
    Facebook,
    /// An Instagram handle.
    Instagram,
    /// A WhatsApp number.
    Whatsapp,
    /// An id of the person in another system.
    ExternalId,
    /// A user's id.
    UserId,
    /// An external contact's id.
    ExternalContactId,
    /// A dialer contact's id.
    DialerContactId,
}

impl SearchType {
    /// The term of this type with `value`.
    pub fn term(self, value: &str) -> Result<Term, dsr_model::Error> {
        let (ty, v) = match self {
            SearchType::Name => (TermType::Name, value.to_owned()),
            SearchType::Address => (TermType::Address, value.to_owned()),
            SearchType::Phone => (TermType::Phone, value.to_owned()),
            SearchType::Email => (TermType::Email, value.to_owned()),
            SearchType::Twitter => (TermType::Handle, format!("twitter:{value}")),
            SearchType::Facebook => (TermType::Handle, format!("facebook:{value}")),
            SearchType::Instagram => (TermType::Handle, format!("instagram:{value}")),
            SearchType::Whatsapp => (TermType::Handle, format!("whatsapp:{value}")),
            SearchType::ExternalId => (TermType::ExternalId, value.to_owned()),
            SearchType::UserId => (TermType::UserId, value.to_owned()),
            SearchType::ExternalContactId => (TermType::ExternalContactId, value.to_owned()),
            SearchType::DialerContactId => (TermType::DialerContactId, value.to_owned()),
        };
        Term::typed(ty, v)
    }

    /// The subject field a replacement of this type changes.
    pub fn field(self) -> &'static str {
        match self {
            SearchType::Name => "name",
            SearchType::Address => "address",
            SearchType::Phone => "phone",
            SearchType::Email => "email",
            SearchType::Twitter
            | SearchType::Facebook
            | SearchType::Instagram
            | SearchType::Whatsapp => "handle",
            SearchType::ExternalId
            | SearchType::UserId
            | SearchType::ExternalContactId
            | SearchType::DialerContactId => "external_id",
        }
    }
}

/// `GET /api/v1/subjects` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// What kind of identifier `searchValue` is.
    pub search_type: SearchType,
    /// The identifier as the person gave it.
    #[param(
        min_length = 1,
        max_length = 1024,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub search_value: String,
    /// ISO 3166 alpha-2 region for phone numbers in national form (overrides the
    /// tenant's default).
    #[param(pattern = "^[A-Za-z]{2}$")]
    pub region: Option<String>,
}

/// A social-media handle.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HandleView {
    /// The platform.
    pub platform: String,
    /// The handle.
    pub value: String,
}

/// A subject with every known field.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubjectView {
    /// Its id.
    pub id: String,
    /// `user`, `external_contact` or `dialer_contact`.
    pub kind: String,
    /// Names.
    pub names: Vec<String>,
    /// Emails.
    pub emails: Vec<String>,
    /// Phones.
    pub phones: Vec<String>,
    /// Postal addresses.
    pub addresses: Vec<String>,
    /// Handles.
    pub handles: Vec<HandleView>,
    /// Ids in other systems.
    pub external_ids: Vec<String>,
    /// Custom attributes (not searched: a blind spot).
    pub custom: BTreeMap<String, String>,
    /// Users: `active` or `former`.
    pub employment: Option<String>,
    /// Dialer contacts: their list.
    pub contact_list: Option<String>,
    /// The merge set.
    pub merge_set: Option<String>,
    /// Whether it is the canonical contact of its merge set.
    pub canonical: bool,
}

impl From<&Subject> for SubjectView {
    fn from(s: &Subject) -> Self {
        SubjectView {
            id: s.id.to_string(),
            kind: s.kind.as_str().to_owned(),
            names: s.names.clone(),
            emails: s.emails.clone(),
            phones: s.phones.clone(),
            addresses: s.addresses.clone(),
            handles: s
                .handles
                .iter()
                .map(|h| HandleView {
                    platform: h.platform.clone(),
                    value: h.value.clone(),
                })
                .collect(),
            external_ids: s.external_ids.clone(),
            custom: s.custom.clone(),
            employment: s.employment.map(|e| match e {
                dsr_model::Employment::Active => "active".to_owned(),
                dsr_model::Employment::Former => "former".to_owned(),
            }),
            contact_list: s.contact_list.clone(),
            merge_set: s.merge_set.as_ref().map(ToString::to_string),
            canonical: s.canonical,
        }
    }
}

/// Why a subject matched.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvidenceView {
    /// The stored field.
    pub field: String,
    /// The stored value.
    pub stored: String,
    /// `exact`, `normalized`, `transliterated`, `phonetic` or `fuzzy`.
    pub method: String,
    /// 0 to 1.
    pub score: f32,
    /// An explanation.
    pub detail: String,
}

impl From<&Evidence> for EvidenceView {
    fn from(e: &Evidence) -> Self {
        EvidenceView {
            field: e.field.as_str().to_owned(),
            stored: e.stored.clone(),
            method: e.method.as_str().to_owned(),
            score: e.score,
            detail: e.detail.clone(),
        }
    }
}

/// A merge set a result belongs to (G-9).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MergeSetView {
    /// The merge set.
    pub id: String,
    /// Its canonical contact: results with the same one are one person.
    pub canonical_id: Option<String>,
}

/// One subject found.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entity {
    /// The subject.
    pub subject: SubjectView,
    /// Why it matched, best first.
    pub evidence: Vec<EvidenceView>,
    /// `strong`, `probable` or `weak`.
    pub confidence: String,
    /// 0 to 1.
    pub score: f32,
    /// A person should look before acting on it.
    pub needs_review: bool,
    /// Its merge set.
    pub merge_set: Option<MergeSetView>,
}

impl Entity {
    /// The entity of a match (the subject from the directory).
    pub fn new(m: &Match, s: &Subject) -> Self {
        Entity {
            subject: SubjectView::from(s),
            evidence: m.evidence.iter().map(EvidenceView::from).collect(),
            confidence: m.confidence.as_str().to_owned(),
            score: m.score,
            needs_review: m.needs_review,
            merge_set: m.merge_set.as_ref().map(|ms| MergeSetView {
                id: ms.to_string(),
                canonical_id: m.canonical_id.as_ref().map(ToString::to_string),
            }),
        }
    }
}

/// The subjects a lookup found.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchResponse {
    /// Best first.
    pub entities: Vec<Entity>,
    /// Problems with the term (a phone number that could not be parsed, …).
    pub warnings: Vec<String>,
}

/// A typed term.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermBody {
    /// What kind of identifier.
    #[serde(rename = "type")]
    pub ty: SearchType,
    /// The identifier as given.
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub value: String,
}

/// `POST /api/v1/subjects/search`: several identifiers of one person (G-13).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CorrelateBody {
    /// The identifiers (1 to 10).
    #[serde(rename = "terms")]
    #[schema(min_items = 1, max_items = 10)]
    pub identifiers: Vec<TermBody>,
    /// Region for phone numbers.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z]{2}$")]
    pub region: Option<String>,
}

/// One subject in a correlation.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CorrelatedView {
    /// The subject.
    pub subject: SubjectView,
    /// Indices of the terms that found it.
    pub found_by: Vec<usize>,
    /// Found by more than one term (or by the only one).
    pub corroborated: bool,
    /// Best score.
    pub best_score: f32,
    /// A person should look before acting on it.
    pub needs_review: bool,
    /// Its merge set.
    pub merge_set: Option<MergeSetView>,
}

impl CorrelatedView {
    /// The view of a correlated subject.
    pub fn new(c: &Correlated, s: &Subject) -> Self {
        CorrelatedView {
            subject: SubjectView::from(s),
            found_by: c.found_by.clone(),
            corroborated: c.corroborated,
            best_score: c.best_score,
            needs_review: c.needs_review,
            merge_set: c.merge_set.as_ref().map(|ms| MergeSetView {
                id: ms.to_string(),
                canonical_id: c.canonical_id.as_ref().map(ToString::to_string),
            }),
        }
    }
}

/// The correlated result (G-13): make one request per corroborated subject.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CorrelateResponse {
    /// Every subject any term found: corroborated first.
    pub subjects: Vec<CorrelatedView>,
    /// One result per term, in order.
    pub per_term: Vec<SearchResponse>,
}

/// What a subject write did.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubjectWritten {
    /// The subject as stored.
    pub subject: SubjectView,
    /// New (201) or replaced (200).
    pub created: bool,
    /// Values that cannot be searched, and other things worth knowing.
    pub warnings: Vec<String>,
}

/// One line's problem in an import.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LineIssueView {
    /// The line number (1-based).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The per-line report of an import (as `dsr import` gives it).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportReportView {
    /// Lines read.
    pub lines: usize,
    /// Distinct subjects that landed.
    pub imported: usize,
    /// Of those, new.
    pub created: usize,
    /// Of those, replaced.
    pub updated: usize,
    /// Landed subjects by kind.
    pub by_kind: BTreeMap<String, usize>,
    /// Lines rejected.
    pub rejected: usize,
    /// Rejected lines.
    pub errors: Vec<LineIssueView>,
    /// Warnings.
    pub warnings: Vec<LineIssueView>,
    /// Inconsistent merge sets.
    pub merge_set_problems: Vec<String>,
    /// The input was cut at the size limit.
    pub truncated: bool,
}

impl From<&dsr_ops::import::ImportReport> for ImportReportView {
    fn from(r: &dsr_ops::import::ImportReport) -> Self {
        let issues = |v: &[dsr_ops::import::LineIssue]| {
            v.iter()
                .map(|i| LineIssueView {
                    line: i.line,
                    message: i.message.clone(),
                })
                .collect()
        };
        ImportReportView {
            lines: r.lines,
            imported: r.imported,
            created: r.created,
            updated: r.updated,
            by_kind: r.by_kind.clone(),
            rejected: r.rejected,
            errors: issues(&r.errors),
            warnings: issues(&r.warnings),
            merge_set_problems: r.merge_set_problems.clone(),
            truncated: r.truncated,
        }
    }
}

/// The request types of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ApiRequestType {
    /// Art. 15.
    #[serde(rename = "GDPR_EXPORT")]
    Export,
    /// Art. 16.
    #[serde(rename = "GDPR_UPDATE")]
    Update,
    /// Art. 17.
    #[serde(rename = "GDPR_DELETE")]
    Delete,
    /// Art. 20.
    #[serde(rename = "GDPR_PORTABILITY")]
    Portability,
}

impl From<ApiRequestType> for dsr_model::RequestType {
    fn from(t: ApiRequestType) -> Self {
        match t {
            ApiRequestType::Export => dsr_model::RequestType::Export,
            ApiRequestType::Update => dsr_model::RequestType::Update,
            ApiRequestType::Delete => dsr_model::RequestType::Delete,
            ApiRequestType::Portability => dsr_model::RequestType::Portability,
        }
    }
}

/// A subject named by id.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectRef {
    /// The subject id (any kind).
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub id: String,
}

/// A rectification.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplacementTerm {
    /// Which identifier.
    #[serde(rename = "type")]
    pub ty: SearchType,
    /// The value as stored now.
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub existing_value: String,
    /// The value to store instead (different from the existing one).
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub updated_value: String,
}

/// `POST /api/v1/requests`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRequestBody {
    /// What to do.
    pub request_type: ApiRequestType,
    /// The subject, by id (alone, or with `term` to say which of its matches is meant).
    #[serde(default)]
    pub subject: Option<SubjectRef>,
    /// An identifier the person gave.
    #[serde(default)]
    pub term: Option<TermBody>,
    /// GDPR_UPDATE only: what to change.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub replacement_terms: Vec<ReplacementTerm>,
    /// URLs to POST every status change to (at most 5).
    #[serde(default)]
    #[schema(max_items = 5)]
    pub callback_urls: Vec<String>,
}

/// A callback's delivery state.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackView {
    /// Where.
    pub url: String,
    /// The status reported.
    pub status: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last error.
    pub last_error: Option<String>,
    /// When it was delivered.
    pub delivered_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A notification to the data subject, as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    /// `received`, `extended-1`, `extended-2`, …, `completed` or `refused`.
    pub event: String,
    /// `pending`, `sent`, `failed` (gave up) or `skipped` (no address).
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// The last error, or why it was skipped.
    pub last_error: Option<String>,
    /// When it was sent.
    pub sent_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<dsr_engine::server_store::NotificationRow> for NotificationView {
    fn from(n: dsr_engine::server_store::NotificationRow) -> Self {
        NotificationView {
            event: n.event,
            state: n.state,
            attempts: n.attempts,
            last_error: n.last_error,
            sent_at: n.sent_us.and_then(chrono::DateTime::from_timestamp_micros),
        }
    }
}

/// A request with its tasks, related requests, callbacks and notifications.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestDetail {
    /// The request.
    #[serde(flatten)]
    pub request: RequestView,
    /// Status callbacks and their deliveries.
    pub callbacks: Vec<CallbackView>,
    /// Notifications to the data subject (`docs/notifications.md`): which were sent,
    /// pending, given up or skipped — never the address or the text.
    pub notifications: Vec<NotificationView>,
    /// Whether this is a request already in flight (idempotent replay or duplicate).
    pub existing: bool,
}

/// `GET /api/v1/requests` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this status.
    pub status: Option<StatusFilter>,
    /// Only this type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub ty: Option<ApiRequestType>,
    /// Only unfinished requests past a due date.
    pub overdue: Option<bool>,
    /// The `nextCursor` of the previous page.
    #[param(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    pub cursor: Option<String>,
    /// Page size (default 50; more than the server's maximum, 200 by default, gives
    /// the maximum).
    #[param(minimum = 1)]
    pub limit: Option<usize>,
}

/// A request status to filter on.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    /// Being resolved.
    Received,
    /// Waiting for a decision.
    OnHold,
    /// Being carried out.
    InProgress,
    /// Done everywhere.
    Completed,
    /// Done in some services.
    PartiallyFailed,
    /// Failed everywhere.
    Failed,
    /// Cancelled.
    Cancelled,
    /// Refused.
    Refused,
}

impl From<StatusFilter> for dsr_engine::RequestStatus {
    fn from(s: StatusFilter) -> Self {
        use dsr_engine::RequestStatus as R;
        match s {
            StatusFilter::Received => R::Received,
            StatusFilter::OnHold => R::OnHold,
            StatusFilter::InProgress => R::InProgress,
            StatusFilter::Completed => R::Completed,
            StatusFilter::PartiallyFailed => R::PartiallyFailed,
            StatusFilter::Failed => R::Failed,
            StatusFilter::Cancelled => R::Cancelled,
            StatusFilter::Refused => R::Refused,
        }
    }
}

/// A page of requests.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestPage {
    /// Oldest first.
    pub items: Vec<dsr_ops::wire::RequestSummaryView>,
    /// Give it as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// `POST …/decision`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Proceed or refuse.
    pub decision: DecisionKind,
    /// Justification (proceed) or legal ground (refuse).
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub reason: String,
}

/// A decision.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DecisionKind {
    /// Go on.
    Proceed,
    /// Refuse, citing the ground.
    Refuse,
}

/// `POST …/extension`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionBody {
    /// Days to add (art. 12(3): at most two months in total).
    #[serde(deserialize_with = "whole_days")]
    #[schema(value_type = u32, minimum = 1, maximum = 62)]
    pub days: u32,
    /// Why.
    #[schema(
        min_length = 1,
        max_length = 1000,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub reason: String,
}

/// `GET …/package` query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PackageQuery {
    /// To whom it is handed over (default: the data subject; another controller for
    /// portability).
    #[param(max_length = 256, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$")]
    pub to: Option<String>,
}

/// An audit entry of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// Position in the tenant's chain.
    pub index: u64,
    /// When.
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// The service.
    pub service: Option<String>,
    /// Details (personal text sealed).
    #[schema(value_type = Object)]
    pub detail: Value,
    /// This entry's hash.
    pub hash: String,
}

/// The audit entries of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventsResponse {
    /// In order.
    pub events: Vec<EventView>,
}

/// A service of the inventory.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView {
    /// Its name.
    pub name: String,
    /// What it is.
    pub description: String,
    /// Personal fields it holds.
    pub fields: Vec<String>,
    /// Data categories.
    pub categories: Vec<String>,
    /// `delete` or `anonymize`.
    pub erasure: String,
    /// Whether it stores attachments.
    pub attachments: bool,
    /// Fields it cannot search.
    pub unsearchable: Vec<String>,
}

/// A blind spot (G-14).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BlindSpotView {
    /// Where.
    pub place: String,
    /// Why, and what to do.
    pub why: String,
}

/// The inventory.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServicesResponse {
    /// The services.
    pub services: Vec<ServiceView>,
    /// Where the engine cannot find personal data.
    pub blind_spots: Vec<BlindSpotView>,
}

/// `POST /api/v1/compliance/check`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceBody {
    /// The tenant configuration: TOML or JSON text, or a JSON object.
    pub config: Value,
    /// Waivers: TOML or JSON text, or a JSON array/object.
    #[serde(default)]
    pub waivers: Option<Value>,
    /// The day to evaluate as (YYYY-MM-DD; default today).
    #[serde(default)]
    pub today: Option<String>,
}

/// The result of verifying the audit log.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditVerifyResponse {
    /// The chain is intact.
    pub ok: bool,
    /// Entries checked.
    pub entries: u64,
    /// What is wrong, if anything.
    #[schema(value_type = Vec<Object>)]
    pub problems: Vec<Value>,
}

/// The key callbacks are signed with.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackKey {
    /// `ed25519`.
    pub algorithm: String,
    /// The public key, hex.
    pub public_key: String,
    /// What is signed: `TIMESTAMP + "." + BODY`.
    pub signed: String,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Scopes granted.
    pub scope: String,
}

/// The token endpoint's error (RFC 6749 §5.2).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type` or `invalid_scope`.
    pub error: String,
    /// What to fix.
    pub error_description: String,
}

/// `POST /oauth/token` form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenForm {
    /// `client_credentials`.
    pub grant_type: Option<String>,
    /// The client id (or in HTTP Basic client authentication).
    pub client_id: Option<String>,
    /// The client secret (or in HTTP Basic client authentication).
    pub client_secret: Option<String>,
    /// Space-separated scopes (default: all of the client's).
    pub scope: Option<String>,
}

/// Health.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `loading`.
    pub status: String,
}

/// A whole number of days: `30` or `30.0` (JSON does not tell them apart), 1 to 62.
fn whole_days<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let f = f64::deserialize(d)?;
    if f.fract() != 0.0 || !(1.0..=62.0).contains(&f) {
        return Err(serde::de::Error::custom(format!(
            "{f} is not a whole number of days from 1 to 62 (art. 12(3): two months at most)"
        )));
    }
    Ok(f as u32)
}

/// Kinds of subject.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKindBody {
    /// An employee or agent.
    User,
    /// A contact of the contact center.
    ExternalContact,
    /// An entry of a dialer contact list.
    DialerContact,
}

/// A handle in a subject body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandleBody {
    /// The platform (`twitter`, `instagram`, `facebook`, `whatsapp`, …).
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub platform: String,
    /// The handle as written.
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub value: String,
}

/// `PUT /api/v1/subjects/{id}`: one subject in the import format
/// (`docs/import-format.md`); `externalIds`, `mergeSet` and `contactList` may also be
/// written in camelCase. The id may be left out (the path gives it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectBody {
    /// The kind.
    #[serde(rename = "type")]
    pub kind: SubjectKindBody,
    /// The id (the same as in the path).
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub id: Option<String>,
    /// Names.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub names: Vec<NameText>,
    /// Emails.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub emails: Vec<EmailText>,
    /// Phones.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub phones: Vec<PhoneText>,
    /// Handles.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub handles: Vec<HandleBody>,
    /// Users: `active` or `former` (a user without one is stored as active).
    #[serde(default)]
    pub employment: Option<EmploymentBody>,
}

/// Employment of a user.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmploymentBody {
    /// Employed.
    Active,
    /// No longer employed.
    Former,
}

/// A name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(value_type = String, min_length = 1, max_length = 1024, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
pub struct NameText(pub String);

/// An email address.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(value_type = String, min_length = 1, max_length = 1024, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
pub struct EmailText(pub String);

/// A phone number.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(value_type = String, min_length = 1, max_length = 1024, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
pub struct PhoneText(pub String);
