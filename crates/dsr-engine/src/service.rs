//! The data inventory (G-1): services that hold personal data, the trait a host
//! implements for its own, and the blind-spot report (G-14).

use crate::types::{ExportRecord, Kept, Replacement, RequestId};
use async_trait::async_trait;
use dsr_model::{RequestType, Subject, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// How a service erases (G-7). Fixed per service: the caller cannot choose it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureMode {
    /// Records are removed.
    Delete,
    /// Personal fields are overwritten; the records stay (e.g. for statistics).
    Anonymize,
}

impl fmt::Display for ErasureMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErasureMode::Delete => "delete",
            ErasureMode::Anonymize => "anonymize",
        })
    }
}

impl FromStr for ErasureMode {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "delete" => Ok(ErasureMode::Delete),
            "anonymize" | "anonymise" => Ok(ErasureMode::Anonymize),
            _ => Err(crate::Error::Invalid(format!(
                "erasure mode {s:?} is not accepted (expected delete or anonymize)"
            ))),
        }
    }
}

/// Data categories (S-3), used to group exports and to scope retention rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Administrative / customer relationship: profile, billing, contract.
    CustomerRelationship,
    /// Transactional: consumption, statements, claims, call logs.
    Transactional,
    /// Traces and contact points: logins, support case history.
    Traces,
    /// Conversations (email, messaging) and their attachments (G-12).
    Communications,
    /// Employment records (users).
    Employment,
    /// Derived or inferred data (scores, segments): exported, never ported (art. 20).
    Derived,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 6] = [
        Category::CustomerRelationship,
        Category::Transactional,
        Category::Traces,
        Category::Communications,
        Category::Employment,
        Category::Derived,
    ];
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::CustomerRelationship => "customer_relationship",
            Category::Transactional => "transactional",
            Category::Traces => "traces",
            Category::Communications => "communications",
            Category::Employment => "employment",
            Category::Derived => "derived",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        let k = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == k)
            .ok_or_else(|| {
                crate::Error::Invalid(format!(
                    "data category {s:?} is not accepted (expected one of: {})",
                    Category::ALL.map(Category::as_str).join(", ")
                ))
            })
    }
}

/// What a service declares about itself (G-1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Unique name: letters, digits, `-`, `_`, `.`; 1 to 64 characters.
    pub name: String,
    /// What it is.
    pub description: String,
    /// The personal fields it holds.
    pub fields: Vec<String>,
    /// Its data categories.
    pub categories: Vec<Category>,
    /// How it erases.
    pub erasure: ErasureMode,
    /// Whether it stores attachments (G-12).
    pub attachments: bool,
    /// Fields it holds but cannot search (a blind spot, G-14).
    pub unsearchable: Vec<String>,
}

impl ServiceInfo {
    /// The description a `[[services]]` entry gives, with the kind's defaults for what
    /// it leaves out (fields, categories).
    pub fn from_config(
        c: &crate::config::ServiceConfig,
        default_fields: &[&str],
        default_categories: &[Category],
        attachments: bool,
    ) -> Self {
        let mut info = ServiceInfo::new(c.name.clone(), c.erasure);
        info.description = c.description.clone();
        info.fields = if c.fields.is_empty() {
            default_fields.iter().map(|s| (*s).to_owned()).collect()
        } else {
            c.fields.clone()
        };
        info.categories = if c.categories.is_empty() {
            default_categories.to_vec()
        } else {
            c.categories.clone()
        };
        info.attachments = attachments;
        info.unsearchable = c.unsearchable.clone();
        info
    }

    /// A service description with the required parts; add fields and categories.
    pub fn new(name: impl Into<String>, erasure: ErasureMode) -> Self {
        ServiceInfo {
            name: name.into(),
            description: String::new(),
            fields: Vec::new(),
            categories: Vec::new(),
            erasure,
            attachments: false,
            unsearchable: Vec::new(),
        }
    }

    /// Checks the name.
    pub fn validate(&self) -> crate::Result<()> {
        let ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(crate::Error::Invalid(format!(
                "service name {:?} is not accepted (1 to 64 of letters, digits, '-', '_', '.')",
                self.name
            )));
        }
        Ok(())
    }
}

/// What a service is asked to act on: one resolved subject with every known field
/// (G-5), so the service can find its data by any of them.
#[derive(Debug, Clone)]
pub struct ServiceCall {
    /// The tenant.
    pub tenant: TenantId,
    /// The request (services may use it as an idempotency key).
    pub request_id: RequestId,
    /// The request type.
    pub request_type: RequestType,
    /// The subject.
    pub subject: Subject,
    /// The attempt number (1 for the first).
    pub attempt: u32,
}

/// A data category (or, with `category: None`, everything) a service must keep despite
/// an erasure, and the legal ground (art. 17(3), legal holds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepRule {
    /// The category kept, or `None` for all of the subject's data (a legal hold).
    pub category: Option<Category>,
    /// The ground, quoted in the result.
    pub ground: String,
}

impl KeepRule {
    /// Whether a record of `category` is kept.
    pub fn keeps(&self, category: Category) -> bool {
        self.category.is_none_or(|c| c == category)
    }

    /// What a service reports kept under this rule.
    pub fn kept(&self, records: u64) -> crate::Kept {
        crate::Kept {
            what: self.category.map_or("all".to_owned(), |c| c.to_string()),
            records,
            ground: self.ground.clone(),
        }
    }
}

/// What an erasure did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// Records deleted or anonymized.
    pub records: u64,
    /// Attachments removed (always removed, whatever the mode: G-12).
    pub attachments: u64,
    /// What was kept and why.
    pub kept: Vec<Kept>,
}

/// A service failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    /// Whether another attempt may succeed (timeouts, rate limits, outages).
    pub transient: bool,
    /// What failed, as the service says it.
    pub message: String,
    /// Transient only: the service asked not to be called again before this long
    /// (HTTP `Retry-After`). The retry waits at least this, whatever the backoff says
    /// (at most a week).
    pub retry_after: Option<std::time::Duration>,
}

impl ServiceError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        ServiceError {
            transient: true,
            message: message.into(),
            retry_after: None,
        }
    }
    /// A transient failure with the earliest time to try again (`Retry-After`).
    pub fn transient_after(message: impl Into<String>, after: std::time::Duration) -> Self {
        ServiceError {
            transient: true,
            message: message.into(),
            retry_after: Some(after),
        }
    }
    /// A failure that will not go away by retrying.
    pub fn permanent(message: impl Into<String>) -> Self {
        ServiceError {
            transient: false,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// A system that holds personal data. Implement it to plug a host application's own
/// systems into the engine. Every operation must be idempotent: after a crash the
/// engine may call it again for the same request (erasing twice is fine; the second
/// call simply finds less).
///
/// The trait is `async` through [`async_trait`](https://docs.rs/async-trait): put
/// `#[async_trait::async_trait]` on the `impl` too.
///
/// # Example
///
/// A host's newsletter, which files subscribers by email and deletes them on erasure,
/// registered in [`Services`] and called the way a [`Worker`](crate::Worker) calls it:
///
/// ```
/// use async_trait::async_trait;
/// use dsr_engine::service::{Erased, KeepRule};
/// use dsr_engine::{
///     Category, ErasureMode, ExportRecord, Replacement, ReplacementField, RequestId, Service,
///     ServiceCall, ServiceError, ServiceInfo, Services,
/// };
/// use dsr_model::{RequestType, Subject, SubjectId, SubjectKind, TenantId};
/// use std::sync::{Arc, Mutex, MutexGuard};
///
/// struct Newsletter {
///     info: ServiceInfo,
///     /// The subscribed addresses.
///     emails: Mutex<Vec<String>>,
/// }
///
/// impl Newsletter {
///     fn new(emails: &[&str]) -> Self {
///         let mut info = ServiceInfo::new("newsletter", ErasureMode::Delete);
///         info.description = "newsletter subscriptions".into();
///         info.fields = vec!["email".into()];
///         info.categories = vec![Category::Traces];
///         let emails = emails.iter().map(|e| e.to_string()).collect();
///         Newsletter { info, emails: Mutex::new(emails) }
///     }
///     fn emails(&self) -> MutexGuard<'_, Vec<String>> {
///         self.emails.lock().unwrap_or_else(|p| p.into_inner())
///     }
/// }
///
/// /// Whether `email` is the subject's: the call carries every known field of the
/// /// subject, so a system finds its data by whichever it files it under.
/// fn theirs(call: &ServiceCall, email: &str) -> bool {
///     call.subject.emails.iter().any(|e| e.eq_ignore_ascii_case(email))
/// }
///
/// #[async_trait]
/// impl Service for Newsletter {
///     fn info(&self) -> &ServiceInfo {
///         &self.info
///     }
///
///     async fn export(&self, call: &ServiceCall) -> Result<Vec<ExportRecord>, ServiceError> {
///         Ok(self
///             .emails()
///             .iter()
///             .filter(|e| theirs(call, e))
///             .map(|e| ExportRecord {
///                 category: Category::Traces,
///                 provided: true,
///                 data: serde_json::json!({ "subscribed": e }),
///                 attachments: Vec::new(),
///             })
///             .collect())
///     }
///
///     async fn update(
///         &self,
///         call: &ServiceCall,
///         replacements: &[Replacement],
///     ) -> Result<u64, ServiceError> {
///         let mut changed = 0;
///         for r in replacements.iter().filter(|r| r.field == ReplacementField::Email) {
///             for e in self.emails().iter_mut().filter(|e| e.eq_ignore_ascii_case(&r.old)) {
///                 *e = r.new.clone();
///                 changed += 1;
///             }
///         }
///         Ok(changed)
///     }
///
///     async fn erase(&self, call: &ServiceCall, keep: &[KeepRule]) -> Result<Erased, ServiceError> {
///         let mut emails = self.emails();
///         if let Some(rule) = keep.iter().find(|k| k.keeps(Category::Traces)) {
///             // A legal ground to keep them: nothing is erased, the ground is reported.
///             let n = emails.iter().filter(|e| theirs(call, e)).count() as u64;
///             return Ok(Erased { kept: vec![rule.kept(n)], ..Erased::default() });
///         }
///         // Idempotent: called again, it finds nothing left and erases 0.
///         let before = emails.len();
///         emails.retain(|e| !theirs(call, e));
///         Ok(Erased { records: (before - emails.len()) as u64, ..Erased::default() })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let services = Services::new()
///     .with(Arc::new(Newsletter::new(&["jeanne@example.com", "paul@example.org"])))?;
/// assert_eq!(services.names(), ["newsletter"]);
///
/// // What the engine hands a service: the resolved subject and the request.
/// let mut jeanne = Subject::new(SubjectKind::ExternalContact, SubjectId::new("cust-1")?);
/// jeanne.emails.push("Jeanne@example.com".into());
/// let mut call = ServiceCall {
///     tenant: TenantId::new("shop")?,
///     request_id: RequestId::generate(),
///     request_type: RequestType::Update,
///     subject: jeanne,
///     attempt: 1,
/// };
/// let newsletter = services.get("newsletter").expect("registered");
/// let fix = Replacement::parse("email:jeanne@example.com=jeanne@new.example")?;
/// assert_eq!(newsletter.update(&call, &[fix]).await?, 1);
///
/// call.subject.emails = vec!["jeanne@new.example".into()];
/// assert_eq!(newsletter.export(&call).await?.len(), 1);
/// assert_eq!(newsletter.erase(&call, &[]).await?.records, 1);
/// assert_eq!(newsletter.erase(&call, &[]).await?.records, 0);
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait Service: Send + Sync {
    /// What the service declares about itself.
    fn info(&self) -> &ServiceInfo;
    /// Everything it holds about the subject (art. 15 / 20), attachments included.
    async fn export(&self, call: &ServiceCall) -> Result<Vec<ExportRecord>, ServiceError>;
    /// Applies the rectifications; returns the number of records changed (art. 16).
    async fn update(
        &self,
        call: &ServiceCall,
        replacements: &[Replacement],
    ) -> Result<u64, ServiceError>;
    /// Erases the subject's data in the service's mode, keeping what `keep` says
    /// (art. 17). Attachments uploaded by the subject are removed in either mode.
    async fn erase(&self, call: &ServiceCall, keep: &[KeepRule]) -> Result<Erased, ServiceError>;
    /// For a service a person answers by hand (G-18): who and how. A worker then never
    /// calls `export` / `update` / `erase`: the task waits on that person
    /// ([`TaskStatus::Waiting`](crate::TaskStatus::Waiting)) until their answer is
    /// recorded ([`Engine::complete_task`](crate::Engine::complete_task)).
    fn manual(&self) -> Option<&ManualSpec> {
        None
    }
}

/// Who answers a manual service, what they must do, and when they are reminded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManualSpec {
    /// The person or team.
    pub assignee: String,
    /// What they must do.
    pub instructions: String,
    /// Hours before the due date when a reminder is due (0: only the overdue one).
    pub remind_before_hours: u32,
}

/// The registered services, by name.
#[derive(Clone, Default)]
pub struct Services {
    list: Vec<Arc<dyn Service>>,
}

impl fmt::Debug for Services {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Services {
    /// No services.
    pub fn new() -> Self {
        Services::default()
    }
    /// Registers a service; refuses an invalid or duplicate name.
    pub fn register(&mut self, service: Arc<dyn Service>) -> crate::Result<()> {
        service.info().validate()?;
        if self.get(&service.info().name).is_some() {
            return Err(crate::Error::Invalid(format!(
                "service {:?} is registered twice; names must be unique",
                service.info().name
            )));
        }
        self.list.push(service);
        Ok(())
    }
    /// Registers a service (builder style).
    pub fn with(mut self, service: Arc<dyn Service>) -> crate::Result<Self> {
        self.register(service)?;
        Ok(self)
    }
    /// A service by name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Service>> {
        self.list.iter().find(|s| s.info().name == name)
    }
    /// Every service, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Service>> {
        self.list.iter()
    }
    /// The names, in registration order.
    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(|s| s.info().name.clone()).collect()
    }
    /// Number of services.
    pub fn len(&self) -> usize {
        self.list.len()
    }
    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// A place where the engine cannot find personal data (G-14).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct BlindSpot {
    /// Where (`subjects.custom`, `service tickets: field notes`, …).
    pub place: String,
    /// Why the engine cannot search there, and what to do about it.
    pub why: String,
}

/// The blind spots of an inventory: the engine-wide ones of G-14, the custom attribute
/// keys actually present in the subjects, and each service's unsearchable fields.
pub fn blind_spots<'a>(
    services: &Services,
    custom_keys: impl IntoIterator<Item = &'a str>,
) -> Vec<BlindSpot> {
    let mut out = vec![
        BlindSpot {
            place: "flow, state, task and action names; text-to-speech values".into(),
            why: "configuration text is not linked to any subject; review it by hand".into(),
        },
        BlindSpot {
            place: "personal status texts".into(),
            why: "free text an employee wrote about themselves; not indexed".into(),
        },
        BlindSpot {
            place: "web chat / messaging interactions not linked to a contact profile".into(),
            why: "found only through a conversation linked to a contact; data in custom variables is unfindable".into(),
        },
    ];
    let keys: BTreeSet<&str> = custom_keys.into_iter().collect();
    if !keys.is_empty() {
        out.push(BlindSpot {
            place: format!(
                "custom attribute keys: {}",
                keys.iter().copied().collect::<Vec<_>>().join(", ")
            ),
            why: "custom attributes are exported with the subject but never searched: a person found only there is missed".into(),
        });
    } else {
        out.push(BlindSpot {
            place: "custom attribute keys".into(),
            why: "custom attributes are exported with the subject but never searched".into(),
        });
    }
    for s in services.iter() {
        let info = s.info();
        for f in &info.unsearchable {
            out.push(BlindSpot {
                place: format!("service {}: field {f}", info.name),
                why: "declared unsearchable by the service: data there is not looked up".into(),
            });
        }
        if info.attachments {
            out.push(BlindSpot {
                place: format!("service {}: attachment contents", info.name),
                why: "attachments are found through the conversation linked to the subject, never by their content".into(),
            });
        }
    }
    out
}
