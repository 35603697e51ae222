//! The engine facade: create (resolve, fan out, duplicate check), inspect, cancel,
//! decide, extend, retry, package and hand over requests. Each operation loads state,
//! applies the pure functions of [`crate::state`], [`crate::deadline`] and
//! [`crate::policy`], and writes the result in one conditional [`Change`].

use crate::audit::{self, AuditAction, AuditEvent};
use crate::clock::Clock;
use crate::deadline::{self, Targets};
use crate::error::Candidate;
use crate::package::{self, Signer};
use crate::policy::Policy;
use crate::privacy::{self, Key, Removal, Retention};
use crate::service::{BlindSpot, Services};
use crate::state::{self, RequestEffect, RequestEvent, TaskEvent};
use crate::store::{Change, DuplicateGuard, ErasureWrite, RequestWrite, Store, TaskWrite};
use crate::types::{
    Decision, Extension, HandOver, Hold, Replacement, ReplacementField, Request, RequestFilter,
    RequestId, RequestStatus, Task, TaskStatus, Verdict,
};
use crate::{Error, Result};
use chrono::{DateTime, Utc};
use dsr_match::{Confidence, Directory, Match, SearchOptions};
use dsr_model::{RequestType, Subject, SubjectId, SubjectKind, TenantId, Term, TermType};
use serde_json::json;
use std::sync::Arc;

/// What a request is about: a term a person gave, or a subject id.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A term (`type:value` or bare, classified by the matcher).
    Term(Term),
    /// A subject id of any kind (G-5).
    Id(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Term(t) => write!(f, "{t}"),
            Target::Id(id) => write!(f, "id {id}"),
        }
    }
}

/// What to do when a request of the same type is in flight for the subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDuplicate {
    /// Refuse with [`Error::Duplicate`].
    #[default]
    Refuse,
    /// Return the request in flight.
    ReturnExisting,
}

/// Everything `create` needs.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Export, update, delete or portability.
    pub ty: RequestType,
    /// The term or id.
    pub target: Target,
    /// The subject meant, when a term matches several (the caller disambiguates).
    pub subject: Option<SubjectId>,
    /// UPDATE only: the rectifications.
    pub replacements: Vec<Replacement>,
    /// Who asks (recorded in the audit log).
    pub requested_by: String,
    /// Duplicate handling.
    pub on_duplicate: OnDuplicate,
    /// Lookup options for terms.
    pub search: SearchOptions,
    /// The data subject asks themselves (the portal), not an operator for them: the
    /// policy may hold it for review (`review_self_service_updates`).
    pub self_service: bool,
}

impl CreateOptions {
    /// Options with defaults: refuse duplicates, requested by `operator`.
    pub fn new(ty: RequestType, target: Target) -> Self {
        CreateOptions {
            ty,
            target,
            subject: None,
            replacements: Vec::new(),
            requested_by: "operator".into(),
            on_duplicate: OnDuplicate::Refuse,
            search: SearchOptions::default(),
            self_service: false,
        }
    }
}

/// The result of `create`.
#[derive(Debug, Clone)]
pub struct CreateOutcome {
    /// The request (for a merge set: the canonical contact's).
    pub request: Request,
    /// The related requests (G-10), one per other member of the merge set.
    pub related: Vec<Request>,
    /// Whether this is a request already in flight (with [`OnDuplicate::ReturnExisting`]).
    pub existing: bool,
    /// The subjects the term matched (empty for an id).
    pub matched: Vec<Candidate>,
}

/// One thing [`Engine::purge`] removed (or would remove, in a dry run).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PurgeItem {
    /// The request.
    pub request_id: RequestId,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: RequestType,
    /// `package` or `personal data`.
    pub what: String,
    /// Why (the retention rule).
    pub why: String,
    /// When it became due.
    pub due: DateTime<Utc>,
}

/// What [`Engine::purge`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    /// Nothing was removed, only listed.
    pub dry_run: bool,
    /// When.
    pub at: DateTime<Utc>,
    /// Requests looked at.
    pub scanned: usize,
    /// What was (or would be) removed.
    pub items: Vec<PurgeItem>,
}

/// The engine of one tenant.
///
/// Build it with [`Engine::new`] (tenant, [`Store`], [`Services`], [`Clock`]) and the
/// `with_…` methods; share it in an `Arc` with the [`Worker`](crate::Worker)s that carry
/// the tasks out. The [crate documentation](crate#a-request-from-start-to-finish) runs
/// an export request from creation to the verified package.
pub struct Engine {
    pub(crate) tenant: TenantId,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) services: Services,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) policy: Policy,
    targets: Targets,
    organisation: String,
    signer: Signer,
    pub(crate) retention: Retention,
    secret: tokio::sync::OnceCell<Key>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("tenant", &self.tenant)
            .field("services", &self.services)
            .finish_non_exhaustive()
    }
}

pub(crate) fn candidate(m: &Match) -> Candidate {
    Candidate {
        subject_id: m.subject_id.to_string(),
        kind: m.kind.as_str().into(),
        display_name: m.display_name.clone(),
        confidence: m.confidence.as_str().into(),
        score: m.score,
        merge_set: m.merge_set.as_ref().map(ToString::to_string),
        evidence: m
            .evidence
            .iter()
            .map(|e| format!("{} = {} ({})", e.field, e.stored, e.method.as_str()))
            .collect(),
    }
}

fn field_values<'a>(s: &'a Subject, field: &ReplacementField) -> Vec<&'a str> {
    match field {
        ReplacementField::Name => s.names.iter().map(String::as_str).collect(),
        ReplacementField::Email => s.emails.iter().map(String::as_str).collect(),
        ReplacementField::Phone => s.phones.iter().map(String::as_str).collect(),
        ReplacementField::Address => s.addresses.iter().map(String::as_str).collect(),
        ReplacementField::Handle => s.handles.iter().map(|h| h.value.as_str()).collect(),
        ReplacementField::ExternalId => s.external_ids.iter().map(String::as_str).collect(),
        ReplacementField::Custom(k) => s
            .custom
            .get(k)
            .map(|v| vec![v.as_str()])
            .unwrap_or_default(),
    }
}

impl Engine {
    /// An engine for `tenant` with the default policy, the recommended deadlines and a
    /// fresh (unsaved) signing key; set them with the `with_…` methods.
    pub fn new(
        tenant: TenantId,
        store: Arc<dyn Store>,
        services: Services,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        Ok(Engine {
            tenant,
            store,
            services,
            clock,
            policy: Policy::default(),
            targets: Targets::recommended(),
            organisation: "dsr".into(),
            signer: Signer::generate()?,
            retention: Retention::default(),
            secret: tokio::sync::OnceCell::new(),
        })
    }
    /// Sets the policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }
    /// Sets the deadline targets.
    pub fn with_targets(mut self, targets: Targets) -> Self {
        self.targets = targets;
        self
    }
    /// Sets how long dsr keeps its own copies of personal data (`[retention]`).
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }
    /// The retention settings.
    pub fn retention(&self) -> &Retention {
        &self.retention
    }
    /// Sets the organisation's name and signing key.
    pub fn with_signer(mut self, organisation: &str, signer: Signer) -> Self {
        self.organisation = organisation.to_owned();
        self.signer = signer;
        self
    }
    /// The tenant.
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }
    /// The registered services.
    pub fn services(&self) -> &Services {
        &self.services
    }
    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
    /// The signing key's public half (hex).
    pub fn public_key_hex(&self) -> String {
        self.signer.public_key_hex()
    }

    /// The blind spots of this inventory over the directory's subjects (G-14).
    pub fn blind_spots(&self, dir: &Directory) -> Vec<BlindSpot> {
        crate::service::blind_spots(&self.services, dir.custom_keys())
    }

    /// Resolves a target to one subject (G-5): an id to its subject; a term to the one
    /// subject (or one merge set) it matches strongly. Refuses ambiguous and weak matches
    /// unless `chosen` names the subject meant.
    pub fn resolve(
        &self,
        dir: &Directory,
        target: &Target,
        chosen: Option<&SubjectId>,
        opts: &SearchOptions,
    ) -> Result<(Subject, Vec<Candidate>)> {
        let by_id = |id: &str, kind: Option<SubjectKind>| {
            let s = dir
                .resolve_id(id, kind)
                .ok_or_else(|| Error::NoSubject(format!("id {id:?}")))?;
            match chosen {
                Some(c) if c != &s.id => Err(Error::Invalid(format!(
                    "the subject named ({c}) is not the one the id resolves to ({}); name a subject only to disambiguate a term",
                    s.id
                ))),
                _ => Ok((s, Vec::new())),
            }
        };
        let term = match target {
            Target::Id(id) => return by_id(id, None),
            Target::Term(t) => t,
        };
        term.validate()?;
        match term.ty {
            Some(TermType::UserId) => return by_id(&term.value, Some(SubjectKind::User)),
            Some(TermType::ExternalContactId) => {
                return by_id(&term.value, Some(SubjectKind::ExternalContact));
            }
            Some(TermType::DialerContactId) => {
                return by_id(&term.value, Some(SubjectKind::DialerContact));
            }
            Some(TermType::Id) => return by_id(&term.value, None),
            _ => {}
        }
        let result = dir.search(term, opts)?;
        let candidates: Vec<Candidate> = result.matches.iter().map(candidate).collect();
        if let Some(id) = chosen {
            return match result.matches.iter().find(|m| &m.subject_id == id) {
                Some(m) => Ok((
                    dir.get(&m.subject_id)
                        .ok_or_else(|| Error::NoSubject(format!("id {id}")))?,
                    candidates,
                )),
                None => Err(Error::Invalid(format!(
                    "subject {id} is not among the matches of {term} ({})",
                    if candidates.is_empty() {
                        "it matches nothing".to_owned()
                    } else {
                        candidates
                            .iter()
                            .map(|c| c.subject_id.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ))),
            };
        }
        let Some(best) = result.matches.first() else {
            return Err(Error::NoSubject(term.to_string()));
        };
        let group = |m: &Match| {
            m.merge_set
                .as_ref()
                .map_or_else(|| format!("s:{}", m.subject_id), |s| format!("m:{s}"))
        };
        let g = group(best);
        if result.matches.iter().any(|m| group(m) != g) {
            return Err(Error::Ambiguous {
                term: term.to_string(),
                candidates,
            });
        }
        if best.needs_review || best.confidence == Confidence::Weak {
            return Err(Error::NeedsReview {
                term: term.to_string(),
                candidate: Box::new(candidate(best)),
            });
        }
        let s = dir
            .get(&best.subject_id)
            .ok_or_else(|| Error::NoSubject(term.to_string()))?;
        Ok((s, candidates))
    }

    /// Creates a request (G-4): resolves the target, fans out over the merge set (G-10),
    /// refuses (or returns) a duplicate in flight (G-11), puts policy holds on hold
    /// (G-16), and creates one task per service for the rest. Processing is
    /// asynchronous: workers carry the tasks out.
    pub async fn create(&self, dir: &Directory, opts: CreateOptions) -> Result<CreateOutcome> {
        let ty = opts.ty;
        if ty == RequestType::Update && opts.replacements.is_empty() {
            return Err(Error::Invalid(
                "an update request needs at least one replacement (FIELD:OLD=NEW; GDPR art. 16)"
                    .into(),
            ));
        }
        if ty != RequestType::Update && !opts.replacements.is_empty() {
            return Err(Error::Invalid(format!(
                "replacements are only accepted for update requests (GDPR art. 16); this is a {ty} request"
            )));
        }
        for r in &opts.replacements {
            r.validate().map_err(|e| {
                Error::Invalid(format!("replacement {}:{}={}: {e}", r.field, r.old, r.new))
            })?;
        }
        if opts.requested_by.trim().is_empty() {
            return Err(Error::Invalid("requested_by must name who asks".into()));
        }
        let (subject, matched) =
            self.resolve(dir, &opts.target, opts.subject.as_ref(), &opts.search)?;

        // The family: the canonical contact first, then the other members (G-10).
        let family: Vec<Subject> = match &subject.merge_set {
            Some(set) => {
                if let Some((_, why)) = dir.merge_set_problems().into_iter().find(|(s, _)| s == set)
                {
                    return Err(Error::MergeSet {
                        set: set.to_string(),
                        reason: why,
                    });
                }
                dir.merge_set_members(set)
            }
            None => vec![subject.clone()],
        };
        for r in &opts.replacements {
            let found = family
                .iter()
                .any(|s| field_values(s, &r.field).iter().any(|v| *v == r.old));
            if !found {
                // The subject's own values only: an error message never carries another
                // person's data (the other members of a merge set are counted, not shown).
                let stored = field_values(&subject, &r.field);
                let others: usize = family
                    .iter()
                    .filter(|s| s.id != subject.id)
                    .map(|s| field_values(s, &r.field).len())
                    .sum();
                return Err(Error::ReplacementNotStored {
                    field: r.field.clone(),
                    old: r.old.clone(),
                    subject: subject.id.to_string(),
                    stored: stored.into_iter().map(str::to_owned).collect(),
                    others,
                });
            }
        }

        let now = self.clock.now();
        let secret = self.secret().await?;
        let ids: Vec<RequestId> = family.iter().map(|_| RequestId::generate()).collect();
        let mut change = Change::new(self.tenant.clone(), now);
        change.guard = Some(DuplicateGuard {
            ty,
            subjects: family.iter().map(|s| s.id.clone()).collect(),
            merge_set: subject.merge_set.clone(),
        });
        let mut made = Vec::new();
        for (i, s) in family.iter().enumerate() {
            let parent = (i > 0).then(|| ids[0].clone());
            let related = if i == 0 {
                ids[1..].to_vec()
            } else {
                Vec::new()
            };
            let mut req = Request {
                id: ids[i].clone(),
                tenant: self.tenant.clone(),
                ty,
                status: RequestStatus::Received,
                version: 0,
                subject: s.clone(),
                term: match &opts.target {
                    Target::Term(t) => Some(t.clone()),
                    Target::Id(_) => None,
                },
                requested_by: opts.requested_by.clone(),
                parent,
                related,
                merge_set: s.merge_set.clone(),
                replacements: opts.replacements.clone(),
                created_at: now,
                updated_at: now,
                due_at: deadline::due_date(now, ty, &self.targets),
                legal_deadline: deadline::legal_deadline(now),
                extensions: Vec::new(),
                hold: None,
                decision: None,
                handed_over: None,
                finished_at: None,
                retries: 0,
                redacted: None,
                package_removed: None,
            };
            change.audit.push(
                AuditEvent::request(
                    &opts.requested_by,
                    AuditAction::RequestStatus(crate::RequestStatus::Received),
                    req.id.as_str(),
                    json!({
                        "type": ty.as_str(),
                        "article": ty.article(),
                        "target": match &opts.target {
                            Target::Term(t) => json!({
                                "term_type": t.ty.map(|t| t.as_str()),
                                "term_hmac": privacy::term_hmac(&secret, &t.value),
                            }),
                            Target::Id(id) => json!({"id_hmac": privacy::term_hmac(&secret, id)}),
                        },
                        "resolved_subject": privacy::subject_ref(&secret, &s.id),
                        "subject_kind": s.kind.as_str(),
                        "merge_set": s.merge_set.as_ref().map(|m| m.as_str()),
                        "parent": req.parent.as_ref().map(RequestId::as_str),
                        "related": req.related.iter().map(RequestId::as_str).collect::<Vec<_>>(),
                        "replacements": req.replacements.iter().map(|r| &r.field).collect::<Vec<_>>(),
                        "due_at": req.due_at,
                        "legal_deadline": req.legal_deadline,
                    }),
                )
                .with_subject(s.id.as_str()),
            );
            let hold = self.policy.hold_reason_for(ty, s, opts.self_service);
            let event = RequestEvent::Resolved { hold: hold.clone() };
            let (to, effects) = state::request(req.status, &event).map_err(|e| {
                Error::not_allowed(
                    format!("request {}", req.id),
                    req.status,
                    "resolve",
                    &e.hint,
                )
            })?;
            req.status = to;
            if let Some(reason) = hold {
                req.hold = Some(Hold {
                    reason: reason.clone(),
                    since: now,
                });
                change.audit.push(AuditEvent::request(
                    "engine",
                    AuditAction::RequestStatus(RequestStatus::OnHold),
                    req.id.as_str(),
                    json!({"reason": reason}),
                ));
            }
            if effects.contains(&RequestEffect::CreateTasks) {
                self.create_tasks(&req, now, &mut change);
            }
            made.push(req);
        }
        change.requests = made
            .iter()
            .cloned()
            .map(|request| RequestWrite {
                request,
                expected_version: None,
            })
            .collect();
        match self.commit(change).await {
            Ok(()) => {
                let mut it = made.into_iter();
                let request = it
                    .next()
                    .ok_or_else(|| Error::Invalid("empty family".into()))?;
                Ok(CreateOutcome {
                    request,
                    related: it.collect(),
                    existing: false,
                    matched,
                })
            }
            Err(Error::Duplicate { existing, .. })
                if opts.on_duplicate == OnDuplicate::ReturnExisting =>
            {
                let id = RequestId::from_stored(existing);
                let (request, _) = self.get(&id).await?;
                let related = self.related_of(&request).await?;
                Ok(CreateOutcome {
                    request,
                    related,
                    existing: true,
                    matched,
                })
            }
            Err(e) => Err(e),
        }
    }

    fn create_tasks(&self, req: &Request, now: DateTime<Utc>, change: &mut Change) {
        let names = self.services.names();
        for name in &names {
            change.tasks.push(TaskWrite {
                task: Task::new(req, name, now),
                expected_version: None,
            });
        }
        change.audit.push(AuditEvent::request(
            "engine",
            AuditAction::RequestStatus(RequestStatus::InProgress),
            req.id.as_str(),
            json!({"services": names}),
        ));
    }

    /// A request and its tasks.
    pub async fn get(&self, id: &RequestId) -> Result<(Request, Vec<Task>)> {
        let r = self
            .store
            .request(&self.tenant, id)
            .await?
            .ok_or_else(|| Error::UnknownRequest(id.to_string()))?;
        let tasks = self.store.tasks(&self.tenant, id).await?;
        Ok((r, tasks))
    }

    /// Several requests with their tasks, in the order of `ids` (each once): one read
    /// per table on a store that batches ([`Store::requests_with_tasks`]). An id not
    /// found is an error, as in [`Engine::get`].
    pub(crate) async fn get_many(&self, ids: &[&RequestId]) -> Result<Vec<(Request, Vec<Task>)>> {
        let mut distinct: Vec<RequestId> = Vec::with_capacity(ids.len());
        for id in ids {
            if !distinct.contains(id) {
                distinct.push((*id).clone());
            }
        }
        let got = self
            .store
            .requests_with_tasks(&self.tenant, &distinct)
            .await?;
        if let Some(missing) = distinct
            .iter()
            .find(|id| !got.iter().any(|(r, _)| &r.id == *id))
        {
            return Err(Error::UnknownRequest(missing.to_string()));
        }
        Ok(got)
    }

    /// The related requests of a parent (G-10), or the parent and siblings of a related
    /// request.
    pub async fn related_of(&self, r: &Request) -> Result<Vec<Request>> {
        let mut ids: Vec<RequestId> = r.related.clone();
        if let Some(p) = &r.parent
            && let Some(parent) = self.store.request(&self.tenant, p).await?
        {
            ids = std::iter::once(parent.id.clone())
                .chain(parent.related.iter().filter(|x| *x != &r.id).cloned())
                .collect();
        }
        let mut out = Vec::new();
        for id in ids {
            if let Some(x) = self.store.request(&self.tenant, &id).await? {
                out.push(x);
            }
        }
        Ok(out)
    }

    /// Requests matching a filter.
    pub async fn list(&self, filter: &RequestFilter) -> Result<Vec<Request>> {
        self.store.requests(&self.tenant, filter).await
    }

    /// Unfinished requests past a due date now (G-15).
    pub async fn overdue(&self) -> Result<Vec<Request>> {
        let f = RequestFilter {
            overdue_at: Some(self.clock.now()),
            ..RequestFilter::default()
        };
        self.store.requests(&self.tenant, &f).await
    }

    /// Loads, applies `f`, commits; retries a few times on a conflict with a worker.
    async fn update<F>(&self, id: &RequestId, mut f: F) -> Result<Request>
    where
        F: FnMut(&mut Request, &[Task], DateTime<Utc>, &mut Change) -> Result<()>,
    {
        let mut last = None;
        for _ in 0..8 {
            let (mut req, tasks) = self.get(id).await?;
            let now = self.clock.now();
            let mut change = Change::new(self.tenant.clone(), now);
            let expected = req.version;
            f(&mut req, &tasks, now, &mut change)?;
            req.version = expected + 1;
            req.updated_at = now;
            change.requests.push(RequestWrite {
                request: req.clone(),
                expected_version: Some(expected),
            });
            match self.commit(change).await {
                Ok(()) => return Ok(req),
                Err(Error::Conflict(what)) => {
                    last = Some(Error::Conflict(what));
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::Conflict(format!("request {id}"))))
    }

    fn transition(
        req: &Request,
        event: &RequestEvent,
        action: &str,
    ) -> Result<(RequestStatus, Vec<RequestEffect>)> {
        state::request(req.status, event).map_err(|e| {
            Error::not_allowed(
                format!("request {}", req.id),
                req.status,
                action,
                e.hint.trim_start_matches("; "),
            )
        })
    }

    /// Cancels a request while nothing irreversible has run (any update or delete task
    /// that started counts as irreversible; an export can always be cancelled).
    pub async fn cancel(&self, id: &RequestId, by: &str) -> Result<Request> {
        self.update(id, |req, tasks, now, change| {
            // A task handed to a person (waiting on them) has changed nothing yet: the
            // cancellation reaches them through `dsr task list --manual`.
            let irreversible_started = matches!(req.ty, RequestType::Update | RequestType::Delete)
                && tasks
                    .iter()
                    .any(|t| t.attempt > 0 && t.status != TaskStatus::Waiting);
            let (to, effects) = Self::transition(
                req,
                &RequestEvent::Cancel {
                    irreversible_started,
                },
                "cancel",
            )?;
            if effects.contains(&RequestEffect::CancelOpenTasks) {
                for t in tasks {
                    if let Ok((ts, _)) = state::task(t.status, TaskEvent::Cancel) {
                        let mut t2 = t.clone();
                        t2.status = ts;
                        t2.version += 1;
                        t2.updated_at = now;
                        change.tasks.push(TaskWrite {
                            task: t2,
                            expected_version: Some(t.version),
                        });
                    }
                }
            }
            change.audit.push(AuditEvent::request(
                by,
                AuditAction::RequestStatus(RequestStatus::Cancelled),
                req.id.as_str(),
                json!({"from": req.status.as_str()}),
            ));
            req.status = to;
            req.finished_at = Some(now);
            Ok(())
        })
        .await
    }

    /// Decides a held request (G-16): proceed with a recorded justification, or refuse
    /// citing the legal ground.
    pub async fn decide(
        &self,
        id: &RequestId,
        verdict: Verdict,
        reason: &str,
        by: &str,
    ) -> Result<Request> {
        let proceed = verdict == Verdict::Proceed;
        if reason.trim().is_empty() {
            return Err(Error::ReasonRequired(match verdict {
                Verdict::Proceed => "proceeding needs a recorded justification (a reason)".into(),
                Verdict::Refuse => "refusing needs the legal ground as its reason, e.g. \"art. 17(3)(b): legal obligation\"".into(),
            }));
        }
        self.update(id, |req, _tasks, now, change| {
            let event = match verdict {
                Verdict::Proceed => RequestEvent::Proceed,
                Verdict::Refuse => RequestEvent::Refuse,
            };
            let (to, effects) = Self::transition(req, &event, verdict.as_str())?;
            req.decision = Some(Decision {
                proceed,
                reason: reason.to_owned(),
                by: by.to_owned(),
                at: now,
            });
            change.audit.push(AuditEvent::request(
                by,
                AuditAction::RequestDecided,
                req.id.as_str(),
                json!({"decision": verdict.as_str(), "reason": reason, "hold": req.hold.as_ref().map(|h| &h.reason)}),
            ));
            req.status = to;
            if effects.contains(&RequestEffect::CreateTasks) {
                self.create_tasks(req, now, change);
            }
            if effects.contains(&RequestEffect::Finish) {
                req.finished_at = Some(now);
            }
            Ok(())
        })
        .await
    }

    /// Extends the legal deadline (art. 12(3)): at most two months in total, with a
    /// reason; the service target moves by the same days.
    pub async fn extend(
        &self,
        id: &RequestId,
        days: u32,
        reason: &str,
        by: &str,
    ) -> Result<Request> {
        self.update(id, |req, _tasks, now, change| {
            if req.status.is_finished() {
                return Err(Error::not_allowed(format!("request {}", req.id), req.status, "extend", "the request is finished"));
            }
            let legal = deadline::extend(req.created_at, req.legal_deadline, days, reason)?;
            let added = chrono::Duration::days(i64::from(days));
            req.due_at = req
                .due_at
                .checked_add_signed(added)
                .map_or(legal, |due| due.min(legal));
            req.legal_deadline = legal;
            req.extensions.push(Extension {
                days,
                reason: reason.to_owned(),
                by: by.to_owned(),
                at: now,
            });
            change.audit.push(AuditEvent::request(
                by,
                AuditAction::RequestExtended,
                req.id.as_str(),
                json!({"days": days, "reason": reason, "legal_deadline": legal, "due_at": req.due_at}),
            ));
            Ok(())
        })
        .await
    }

    /// Retries a failed or partially failed request: its dead tasks run again. Allowed
    /// only when every related request has finished (G-11).
    pub async fn retry(&self, id: &RequestId, by: &str) -> Result<Request> {
        let (req, _) = self.get(id).await?;
        let busy: Vec<String> = self
            .related_of(&req)
            .await?
            .into_iter()
            .filter(|r| !r.status.is_finished())
            .map(|r| format!("{} ({})", r.id, r.status))
            .collect();
        if !busy.is_empty() {
            return Err(Error::not_allowed(
                format!("request {id}"),
                req.status,
                "retry",
                &format!(
                    "wait until all related requests have finished: {}",
                    busy.join(", ")
                ),
            ));
        }
        self.update(id, |req, tasks, now, change| {
            let (to, _) = Self::transition(req, &RequestEvent::Retry, "retry")?;
            let mut rearmed = Vec::new();
            for t in tasks.iter().filter(|t| t.status == TaskStatus::Dead) {
                let (ts, _) = state::task(t.status, TaskEvent::Rearm)
                    .map_err(|e| Error::Invalid(e.to_string()))?;
                let mut t2 = t.clone();
                t2.status = ts;
                t2.attempt = 0;
                t2.outcome = None;
                t2.next_at = now;
                t2.version += 1;
                t2.updated_at = now;
                rearmed.push(t.service.clone());
                change.tasks.push(TaskWrite {
                    task: t2,
                    expected_version: Some(t.version),
                });
            }
            change.audit.push(AuditEvent::request(
                by,
                AuditAction::RequestRetried,
                req.id.as_str(),
                json!({"services": rearmed, "from": req.status.as_str()}),
            ));
            req.status = to;
            req.finished_at = None;
            req.retries += 1;
            Ok(())
        })
        .await
    }

    /// The export package of a completed export or portability request, built and stored
    /// on first use (then always the same bytes).
    pub async fn package(&self, id: &RequestId) -> Result<String> {
        let (req, tasks) = self.get(id).await?;
        if let Some(gone) = &req.package_removed {
            return Err(Error::Package(format!(
                "the package of request {id} was removed on {}: {}; nothing can be downloaded or handed over (make a new request if the subject asks again)",
                gone.at.format("%Y-%m-%d"),
                gone.why
            )));
        }
        if let Some(p) = self.store.package(&self.tenant, id).await? {
            return Ok(p);
        }
        if !matches!(req.ty, RequestType::Export | RequestType::Portability) {
            return Err(Error::not_allowed(
                format!("request {id}"),
                req.ty,
                "download a package",
                "only export and portability requests have one",
            ));
        }
        if req.status != RequestStatus::Completed {
            return Err(Error::not_allowed(
                format!("request {id}"),
                req.status,
                "download a package",
                "wait until it is completed (`dsr request wait`)",
            ));
        }
        let now = self.clock.now();
        let mut change = Change::new(self.tenant.clone(), now);
        self.add_package(&req, &tasks, now, &mut change)?;
        self.commit(change).await?;
        // Another process may have stored one first: return the stored one.
        self.store
            .package(&self.tenant, id)
            .await?
            .ok_or_else(|| Error::Package(format!("package of {id} was not stored")))
    }

    /// Builds and signs the package of a completed export or portability request and adds
    /// it, with its `package.generated` audit entry, to `change`.
    pub(crate) fn add_package(
        &self,
        req: &Request,
        tasks: &[Task],
        now: DateTime<Utc>,
        change: &mut Change,
    ) -> Result<()> {
        let text = package::build(req, tasks, &self.organisation, &self.signer, now)?;
        let digest = package::manifest_digest(&text)?;
        change.packages.push((req.id.clone(), text));
        change.audit.push(AuditEvent::request(
            "engine",
            AuditAction::PackageGenerated,
            req.id.as_str(),
            json!({"manifest_sha256": digest, "public_key": self.signer.public_key_hex()}),
        ));
        Ok(())
    }

    /// Records that the package was handed over (S-5, Q-4): to the subject or to another
    /// controller.
    pub async fn hand_over(&self, id: &RequestId, to: &str, by: &str) -> Result<Request> {
        check_hand_over(to, by)?;
        let pkg = self.package(id).await?;
        let digest = package::manifest_digest(&pkg)?;
        let to = if to.trim().is_empty() {
            "the data subject"
        } else {
            to
        };
        self.update(id, |req, _tasks, now, change| {
            req.handed_over = Some(HandOver {
                at: now,
                to: to.to_owned(),
                by: by.to_owned(),
                manifest_sha256: digest.clone(),
            });
            change.audit.push(AuditEvent::request(
                by,
                AuditAction::PackageHandedOver,
                req.id.as_str(),
                json!({"to": to, "manifest_sha256": digest}),
            ));
            Ok(())
        })
        .await
    }

    /// Records that the data subject made (`made`) or withdrew a link forwarding the
    /// package to another party: the link's id, for whom (sealed, like a
    /// hand-over's recipient) and its limits. Each download through it is a
    /// [`Engine::hand_over`].
    pub async fn record_package_link(
        &self,
        id: &RequestId,
        by: &str,
        made: bool,
        link: &str,
        to: &str,
        limits: serde_json::Value,
    ) -> Result<Request> {
        check_hand_over(to, by)?;
        let action = if made {
            AuditAction::PackageLinkMade
        } else {
            AuditAction::PackageLinkRevoked
        };
        self.update(id, |req, _tasks, _now, change| {
            change.audit.push(AuditEvent::request(
                by,
                action,
                req.id.as_str(),
                json!({"link": link, "to": to, "limits": limits}),
            ));
            Ok(())
        })
        .await
    }

    /// The tenant's secret for keyed references (loaded once).
    pub(crate) async fn secret(&self) -> Result<Key> {
        self.secret
            .get_or_try_init(|| self.store.tenant_secret(&self.tenant))
            .await
            .copied()
    }

    /// The keyed reference of a subject in this tenant (what the audit log records).
    pub async fn subject_ref(&self, id: &SubjectId) -> Result<String> {
        Ok(privacy::subject_ref(&self.secret().await?, id))
    }

    /// The keyed reference a request's audit entries carry.
    fn request_ref(secret: &Key, r: &Request) -> String {
        if r.redacted.as_ref().is_some_and(|x| x.by_request.is_some()) {
            // Erased: the id already is the reference.
            r.subject.id.to_string()
        } else {
            privacy::subject_ref(secret, &r.subject.id)
        }
    }

    /// Commits a change after making its audit events safe to keep
    /// ([`privacy::protect_event`]): subjects by keyed reference, free text sealed under
    /// the subject's key.
    pub(crate) async fn commit(&self, mut change: Change) -> Result<()> {
        if !change.audit.is_empty() {
            let secret = self.secret().await?;
            let mut refs: std::collections::HashMap<String, String> = change
                .requests
                .iter()
                .map(|w| {
                    (
                        w.request.id.to_string(),
                        Self::request_ref(&secret, &w.request),
                    )
                })
                .collect();
            let mut keys: std::collections::HashMap<String, Key> = Default::default();
            let tenant = self.tenant.as_str().to_owned();
            for e in std::mem::take(&mut change.audit) {
                let sref = match (&e.subject_id, &e.request_id) {
                    (Some(raw), _) => SubjectId::new(raw.as_str())
                        .ok()
                        .map(|id| privacy::subject_ref(&secret, &id)),
                    (None, Some(rid)) => match refs.get(rid) {
                        Some(r) => Some(r.clone()),
                        None => {
                            let r = self
                                .store
                                .request(&self.tenant, &RequestId::from_stored(rid.clone()))
                                .await?
                                .map(|r| Self::request_ref(&secret, &r));
                            if let Some(x) = &r {
                                refs.insert(rid.clone(), x.clone());
                            }
                            r
                        }
                    },
                    (None, None) => None,
                };
                let key = match &sref {
                    Some(r) => match keys.get(r) {
                        Some(k) => Some(*k),
                        None => {
                            let k = self.store.subject_key(&self.tenant, r, true).await?;
                            if let Some(k) = k {
                                keys.insert(r.clone(), k);
                            }
                            k
                        }
                    },
                    None => None,
                };
                let subject = sref.as_deref().zip(key.as_ref());
                change
                    .audit
                    .push(privacy::protect_event(&tenant, e, subject));
            }
        }
        self.store.commit(change).await
    }

    /// A request of a subject whose erasure completed while it was still in flight is
    /// redacted as it finishes, like the subject's other requests were at the erasure
    /// (the erasure's delete request names the subject by the same keyed reference).
    /// Its task writes already in `change` lose their data; no package is to be built.
    /// Returns whether it was redacted.
    pub(crate) async fn redact_if_erased(
        &self,
        req: &mut Request,
        now: DateTime<Utc>,
        change: &mut Change,
    ) -> Result<bool> {
        if req.redacted.is_some() {
            return Ok(false);
        }
        let secret = self.secret().await?;
        let region = self.store.default_region(&self.tenant).await?;
        let hashes = privacy::identifier_hashes(&secret, &req.subject, region.as_deref());
        let hits = self.store.suppressed(&self.tenant, &hashes).await?;
        if hits.is_empty() {
            return Ok(false);
        }
        let sref = privacy::subject_ref(&secret, &req.subject.id);
        for h in hits {
            let Some(d) = self.store.request(&self.tenant, &h.request_id).await? else {
                continue;
            };
            if d.id == req.id || d.subject.id.as_str() != sref {
                continue;
            }
            let removal = Removal {
                at: now,
                why: format!(
                    "the subject's data was erased by delete request {} (GDPR art. 17) while this request ran",
                    d.id
                ),
                by_request: Some(d.id.to_string()),
            };
            if matches!(req.ty, RequestType::Export | RequestType::Portability) {
                req.package_removed = Some(removal.clone());
                change.remove_packages.push(req.id.clone());
            }
            privacy::redact_request(req, Some(&sref), removal);
            // Its tasks: those this step writes, and those that finished earlier.
            for w in change
                .tasks
                .iter_mut()
                .filter(|w| w.task.request_id == req.id)
            {
                privacy::redact_task(&mut w.task);
            }
            for t in self.store.tasks(&self.tenant, &req.id).await? {
                if change
                    .tasks
                    .iter()
                    .any(|w| w.task.request_id == t.request_id && w.task.service == t.service)
                {
                    continue;
                }
                push_redacted_task(change, &t, now);
            }
            change.audit.push(AuditEvent::request(
                "engine",
                AuditAction::RequestErasedFromDsr,
                req.id.as_str(),
                json!({"erased_by": d.id.as_str()}),
            ));
            change.scrub = true;
            return Ok(true);
        }
        Ok(false)
    }

    /// Adds to `change` what the completion of the delete request `req` does to dsr's own
    /// copies of the subject's data: every other finished request of the subject is
    /// redacted (snapshot, term, replacement values, free text; the subject id replaced
    /// by its keyed reference), their tasks lose exported data and error texts, their
    /// packages are removed, the subject's sealing key is destroyed (its sealed audit
    /// fields become unreadable), its identifiers go on the suppression list as keyed
    /// hashes, and `req` itself is redacted.
    pub(crate) async fn add_erasure(
        &self,
        req: &mut Request,
        now: DateTime<Utc>,
        change: &mut Change,
    ) -> Result<()> {
        let secret = self.secret().await?;
        let sref = privacy::subject_ref(&secret, &req.subject.id);
        let region = self.store.default_region(&self.tenant).await?;
        let filter = RequestFilter {
            subject: Some(req.subject.id.clone()),
            ..RequestFilter::default()
        };
        let others = self.store.requests(&self.tenant, &filter).await?;
        // Identifiers: the resolved snapshot, and the old values rectifications replaced
        // (a backup may still hold them).
        let mut ids = req.subject.clone();
        for o in &others {
            for r in &o.replacements {
                match r.field {
                    ReplacementField::Email => ids.emails.push(r.old.clone()),
                    ReplacementField::Phone => ids.phones.push(r.old.clone()),
                    ReplacementField::ExternalId => ids.external_ids.push(r.old.clone()),
                    _ => {}
                }
            }
        }
        let suppress = privacy::identifier_hashes(&secret, &ids, region.as_deref());
        let removal = Removal {
            at: now,
            why: format!(
                "the subject's data was erased by delete request {} (GDPR art. 17)",
                req.id
            ),
            by_request: Some(req.id.to_string()),
        };
        let written: std::collections::HashSet<RequestId> = change
            .requests
            .iter()
            .map(|w| w.request.id.clone())
            .collect();
        let (mut redacted, mut packages) = (0u64, 0u64);
        for mut o in others {
            if o.id == req.id || written.contains(&o.id) || !o.status.is_finished() {
                continue;
            }
            let expected = o.version;
            if matches!(o.ty, RequestType::Export | RequestType::Portability)
                && o.package_removed.is_none()
            {
                o.package_removed = Some(removal.clone());
                change.remove_packages.push(o.id.clone());
                packages += 1;
            }
            privacy::redact_request(&mut o, Some(&sref), removal.clone());
            for t in self.store.tasks(&self.tenant, &o.id).await? {
                push_redacted_task(change, &t, now);
            }
            o.version = expected + 1;
            o.updated_at = now;
            change.requests.push(RequestWrite {
                request: o,
                expected_version: Some(expected),
            });
            redacted += 1;
        }
        privacy::redact_request(req, Some(&sref), removal);
        change.audit.push(AuditEvent::request(
            "engine",
            AuditAction::SubjectErasedFromDsr,
            req.id.as_str(),
            json!({
                "requests_redacted": redacted,
                "packages_removed": packages,
                "identifiers_suppressed": suppress.len(),
                "sealing_key": "destroyed",
            }),
        ));
        change.erasures.push(ErasureWrite {
            subject_ref: sref,
            request_id: req.id.clone(),
            suppress,
        });
        change.scrub = true;
        Ok(())
    }

    /// Which identifiers of `subject` belong to a subject erased earlier (suppression):
    /// the erasures' dates and requests.
    pub async fn suppressed(&self, subject: &Subject) -> Result<Vec<crate::store::Suppressed>> {
        let secret = self.secret().await?;
        let region = self.store.default_region(&self.tenant).await?;
        let hashes = privacy::identifier_hashes(&secret, subject, region.as_deref());
        self.store.suppressed(&self.tenant, &hashes).await
    }

    /// Removes what the retention settings say has expired (`[retention]`): packages
    /// past their time (after completion, or after the hand-over), finished requests'
    /// personal data past theirs. The audit facts stay, with one entry per removal.
    /// With `dry_run`, only lists what would be removed.
    pub async fn purge(&self, dry_run: bool) -> Result<PurgeReport> {
        let now = self.clock.now();
        let all = self
            .store
            .requests(&self.tenant, &RequestFilter::default())
            .await?;
        let mut report = PurgeReport {
            dry_run,
            at: now,
            scanned: all.len(),
            items: Vec::new(),
        };
        for r in all {
            let pkg = (r.status == RequestStatus::Completed
                && matches!(r.ty, RequestType::Export | RequestType::Portability)
                && r.package_removed.is_none())
            .then(|| self.retention.package_expires(&r))
            .flatten()
            .filter(|due| *due <= now);
            let data = (r.redacted.is_none())
                .then(|| self.retention.request_expires(&r))
                .flatten()
                .filter(|due| *due <= now);
            if pkg.is_none() && data.is_none() {
                continue;
            }
            let pkg_why = if r.handed_over.is_some() {
                format!(
                    "retention: handed over, kept {} day(s) after the hand-over and at most {} day(s) after completion (GDPR art. 5(1)(e))",
                    self.retention.package_days_after_hand_over, self.retention.package_days
                )
            } else {
                format!(
                    "retention: {} day(s) after completion (GDPR art. 5(1)(e))",
                    self.retention.package_days
                )
            };
            let data_why = format!(
                "retention: personal data of finished requests is kept {} day(s) (GDPR art. 5(1)(e)); the audit facts stay",
                self.retention.request_days
            );
            if let Some(due) = pkg {
                report.items.push(PurgeItem {
                    request_id: r.id.clone(),
                    ty: r.ty,
                    what: "package".into(),
                    why: pkg_why.clone(),
                    due,
                });
            }
            if let Some(due) = data {
                report.items.push(PurgeItem {
                    request_id: r.id.clone(),
                    ty: r.ty,
                    what: "personal data".into(),
                    why: data_why.clone(),
                    due,
                });
            }
            if dry_run {
                continue;
            }
            self.update(&r.id, |req, tasks, now, change| {
                if pkg.is_some() && req.package_removed.is_none() {
                    req.package_removed = Some(Removal {
                        at: now,
                        why: pkg_why.clone(),
                        by_request: None,
                    });
                    change.remove_packages.push(req.id.clone());
                    change.audit.push(AuditEvent::request(
                        "engine",
                        AuditAction::PackagePurged,
                        req.id.as_str(),
                        json!({"why": pkg_why}),
                    ));
                }
                if data.is_some() && req.redacted.is_none() {
                    privacy::redact_request(
                        req,
                        None,
                        Removal {
                            at: now,
                            why: data_why.clone(),
                            by_request: None,
                        },
                    );
                    for t in tasks {
                        push_redacted_task(change, t, now);
                    }
                    change.audit.push(AuditEvent::request(
                        "engine",
                        AuditAction::RequestPurged,
                        req.id.as_str(),
                        json!({"why": data_why}),
                    ));
                }
                change.scrub = true;
                Ok(())
            })
            .await?;
        }
        Ok(report)
    }

    /// Records a tenant-wide event in the audit log (a key rotation, a setting changed):
    /// not about any request or subject, so nothing in it is sealed.
    pub async fn note(
        &self,
        actor: &str,
        action: AuditAction,
        detail: serde_json::Value,
    ) -> Result<()> {
        let mut change = Change::new(self.tenant.clone(), self.clock.now());
        change.audit.push(AuditEvent::tenant(actor, action, detail));
        self.commit(change).await
    }

    /// Verifies the tenant's audit chain.
    pub async fn verify_audit(&self) -> Result<audit::Report> {
        let (entries, head) = self.store.audit(&self.tenant).await?;
        Ok(audit::verify(
            &entries,
            head.as_ref().map(|(i, h)| (*i, h.as_str())),
        ))
    }
}

/// Checks the texts a hand-over records (recipient and author): plain text (no control
/// characters) of at most 256 bytes. [`Engine::hand_over`] checks them too; a caller
/// that writes the package first can check before writing anything.
pub fn check_hand_over(to: &str, by: &str) -> Result<()> {
    for (what, v) in [("recipient (to)", to), ("hand-over author (by)", by)] {
        if let Some(c) = v.chars().find(|c| c.is_control()) {
            return Err(Error::Invalid(format!(
                "the {what} contains the control character U+{:04X}: give a name or an address as plain text",
                c as u32
            )));
        }
        if v.len() > 256 {
            return Err(Error::Invalid(format!(
                "the {what} is {} bytes long: at most 256 are accepted",
                v.len()
            )));
        }
    }
    Ok(())
}

/// Adds to `change` the write of `t` without its personal data (exported data, error
/// texts), when it holds any.
fn push_redacted_task(change: &mut Change, t: &Task, now: DateTime<Utc>) {
    let mut t2 = t.clone();
    if privacy::redact_task(&mut t2) {
        t2.version += 1;
        t2.updated_at = now;
        change.tasks.push(TaskWrite {
            task: t2,
            expected_version: Some(t.version),
        });
    }
}
