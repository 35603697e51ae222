//! Shared fixture: an engine on the in-memory store, a manual clock, two in-memory
//! services (one deleting, one anonymizing) and a small directory.

#![allow(dead_code, missing_docs)]

use chrono::TimeZone;
use dsr_engine::MemoryStore;
use dsr_engine::memory::{MemoryRecord, MemoryService};
use dsr_engine::store::Store as _;
use dsr_engine::{
    Category, CreateOptions, CreateOutcome, Engine, ErasureMode, ManualClock, Request,
    RequestStatus, ServiceInfo, Services, Target, Worker, WorkerConfig,
};
use dsr_match::{Directory, MatchConfig};
use dsr_model::{
    Employment, MergeSetId, RequestType, Subject, SubjectId, SubjectKind, TenantId, Term,
};
use std::sync::Arc;
use std::time::Duration;

pub struct Fixture {
    pub engine: Arc<Engine>,
    pub dir: Directory,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
    pub crm: Arc<MemoryService>,
    pub chat: Arc<MemoryService>,
}

pub fn subject(kind: SubjectKind, id: &str, name: &str, email: &str) -> Subject {
    let mut s = Subject::new(kind, SubjectId::new(id).unwrap());
    s.names.push(name.into());
    if !email.is_empty() {
        s.emails.push(email.into());
    }
    s
}

pub fn subjects() -> Vec<Subject> {
    let mut out = Vec::new();
    for (id, email, canonical) in [
        ("c-1", "jean.dupont@example.fr", true),
        ("c-2", "jean.dupont+bills@example.fr", false),
        ("c-3", "jd@example.fr", false),
    ] {
        let mut s = subject(SubjectKind::ExternalContact, id, "Jean Dupont", email);
        s.merge_set = Some(MergeSetId::new("ms-jean").unwrap());
        s.canonical = canonical;
        out.push(s);
    }
    let mut zoe = subject(
        SubjectKind::ExternalContact,
        "c-9",
        "Zoë Faure",
        "zoe@example.fr",
    );
    zoe.custom.insert("loyalty_tier".into(), "gold".into());
    out.push(zoe);
    let mut d = subject(SubjectKind::DialerContact, "d-1", "Jean Dupont", "");
    d.phones.push("+33 6 12 34 56 78".into());
    out.push(d);
    let mut u = subject(
        SubjectKind::User,
        "u-1",
        "Claire Martin",
        "claire@acme.example",
    );
    u.employment = Some(Employment::Active);
    out.push(u);
    let mut f = subject(
        SubjectKind::User,
        "u-2",
        "Pieter de Vries",
        "pieter@acme.example",
    );
    f.employment = Some(Employment::Former);
    out.push(f);
    out
}

pub fn tenant() -> TenantId {
    TenantId::new("acme").unwrap()
}

pub fn fixture() -> Fixture {
    fixture_with(|c, ch| (c, ch))
}

pub fn fixture_with(
    tweak: impl FnOnce(MemoryService, MemoryService) -> (MemoryService, MemoryService),
) -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(
        chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
    ));
    let mut crm_info = ServiceInfo::new("crm", ErasureMode::Delete);
    crm_info.categories = vec![Category::CustomerRelationship, Category::Derived];
    let mut chat_info = ServiceInfo::new("chat", ErasureMode::Anonymize);
    chat_info.categories = vec![Category::Communications];
    chat_info.attachments = true;
    let (crm, chat) = tweak(MemoryService::new(crm_info), MemoryService::new(chat_info));
    let (crm, chat) = (Arc::new(crm), Arc::new(chat));
    for s in subjects() {
        crm.insert(MemoryRecord::for_subject(
            s.id.as_str(),
            Category::CustomerRelationship,
            serde_json::json!({"name": s.names[0], "email": s.emails.first()}),
        ));
        crm.insert(MemoryRecord::for_subject(
            s.id.as_str(),
            Category::Derived,
            serde_json::json!({"segment": "frequent caller"}),
        ));
        chat.insert(
            MemoryRecord::for_subject(
                s.id.as_str(),
                Category::Communications,
                serde_json::json!({"text": format!("Bonjour, je suis {}", s.names[0])}),
            )
            .with_attachment("id-card.png", "image/png", b"\x89PNG fake"),
        );
    }
    let services = Services::new()
        .with(crm.clone())
        .unwrap()
        .with(chat.clone())
        .unwrap();
    let engine = Engine::new(tenant(), store.clone(), services, clock.clone()).unwrap();
    let mut dir = Directory::new(MatchConfig {
        default_region: Some("FR".into()),
    })
    .unwrap();
    for s in subjects() {
        dir.upsert(s).unwrap();
    }
    Fixture {
        engine: Arc::new(engine),
        dir,
        store,
        clock,
        crm,
        chat,
    }
}

impl Fixture {
    pub fn rebuild(&mut self, f: impl FnOnce(Engine) -> Engine) {
        let e = Engine::new(
            tenant(),
            self.store.clone(),
            self.engine.services().clone(),
            self.clock.clone(),
        )
        .unwrap();
        self.engine = Arc::new(f(e));
    }

    pub fn worker(&self) -> Worker {
        let cfg = WorkerConfig {
            backoff: Duration::ZERO,
            max_attempts: 3,
            poll: Duration::from_millis(5),
            ..WorkerConfig::default()
        };
        Worker::new(self.engine.clone(), cfg)
    }

    pub async fn run(&self) {
        self.worker().run_until_idle().await.unwrap();
    }

    pub async fn create(&self, ty: RequestType, target: &str) -> dsr_engine::Result<CreateOutcome> {
        let t = if let Some(id) = target.strip_prefix("id=") {
            Target::Id(id.into())
        } else {
            Target::Term(Term::parse(target).unwrap())
        };
        self.engine
            .create(&self.dir, CreateOptions::new(ty, t))
            .await
    }

    /// How many entries with `action` each (request, service) has in the audit log.
    pub async fn action_counts(&self, action: &str) -> Vec<(String, String, u64)> {
        let (entries, _) = self.store.audit(&tenant()).await.unwrap();
        let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
        for e in entries.iter().filter(|e| e.event.action == action) {
            let key = (
                e.event.request_id.clone().unwrap_or_default(),
                e.event.service.clone().unwrap_or_default(),
            );
            *counts.entry(key).or_default() += 1;
        }
        counts.into_iter().map(|((r, s), n)| (r, s, n)).collect()
    }

    pub async fn status(&self, r: &Request) -> RequestStatus {
        self.engine.get(&r.id).await.unwrap().0.status()
    }
}
