//! A small online shop, "Boutique Lumière", that embeds the dsr engine.
//!
//! The shop has two systems holding personal data, and plugs each into the engine by
//! implementing [`dsr_engine::Service`]:
//!
//! - [`Newsletter`]: subscriptions by email. Erasure mode **delete**: the subscription
//!   is removed.
//! - [`OrderBook`]: orders and the messages customers sent about them, some with files
//!   they uploaded (a photo of a damaged parcel). Erasure mode **anonymize**: the orders
//!   stay for the accounts, with every personal field overwritten; the files the customer
//!   uploaded are removed whatever the mode (G-12).
//!
//! The engine keeps its state (requests, per-service tasks, the audit chain, packages)
//! in an embedded SQLite file; the shop's customers are looked up through a
//! [`dsr_match::Directory`] built from the shop's customer list.

use anyhow::{Context, bail};
use async_trait::async_trait;
use base64::Engine as _;
use dsr_engine::package;
use dsr_engine::service::{Erased, KeepRule};
use dsr_engine::{
    Attachment, Category, CreateOptions, Engine, ErasureMode, ExportRecord, Kept, Replacement,
    ReplacementField, Request, RequestId, RequestStatus, Service, ServiceCall, ServiceError,
    ServiceInfo, Services, SystemClock, Target, Worker, WorkerConfig,
};
use dsr_match::{Directory, MatchConfig, SearchOptions};
use dsr_model::{MergeSetId, RequestType, Subject, SubjectId, SubjectKind, TenantId, Term};
use dsr_store_sqlite::SqliteStore;
use dsr_store_sqlite::engine_store::SqliteEngineStore;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

// ─── The shop's own systems ─────────────────────────────────────────────────────────

/// One newsletter subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// The address subscribed.
    pub email: String,
    /// The name given.
    pub name: String,
    /// When.
    pub since: String,
    /// Newsletters opened.
    pub opens: u32,
}

/// The shop's newsletter: deletes on erasure.
#[derive(Debug)]
pub struct Newsletter {
    info: ServiceInfo,
    rows: Mutex<Vec<Subscription>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind: safe to go on.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether `email` is one of the subject's addresses (every known field of the subject
/// comes with the call, G-5, so a system can find its data by any of them).
fn has_email(subject: &Subject, email: &str) -> bool {
    subject.emails.iter().any(|e| e.eq_ignore_ascii_case(email))
}

impl Newsletter {
    /// The newsletter with its subscriptions.
    pub fn new(rows: Vec<Subscription>) -> Self {
        let mut info = ServiceInfo::new("newsletter", ErasureMode::Delete);
        info.description = "newsletter subscriptions and opens".into();
        info.fields = vec!["email".into(), "name".into()];
        info.categories = vec![Category::Traces];
        Newsletter {
            info,
            rows: Mutex::new(rows),
        }
    }
    /// The subscriptions held now.
    pub fn rows(&self) -> Vec<Subscription> {
        lock(&self.rows).clone()
    }
}

#[async_trait]
impl Service for Newsletter {
    fn info(&self) -> &ServiceInfo {
        &self.info
    }

    async fn export(&self, call: &ServiceCall) -> Result<Vec<ExportRecord>, ServiceError> {
        Ok(lock(&self.rows)
            .iter()
            .filter(|s| has_email(&call.subject, &s.email))
            .map(|s| ExportRecord {
                category: Category::Traces,
                provided: true,
                data: json!({"email": s.email, "name": s.name, "subscribed_since": s.since, "newsletters_opened": s.opens}),
                attachments: Vec::new(),
            })
            .collect())
    }

    async fn update(
        &self,
        call: &ServiceCall,
        replacements: &[Replacement],
    ) -> Result<u64, ServiceError> {
        let mut n = 0;
        for s in lock(&self.rows)
            .iter_mut()
            .filter(|s| has_email(&call.subject, &s.email))
        {
            for r in replacements {
                match r.field {
                    ReplacementField::Email if s.email.eq_ignore_ascii_case(&r.old) => {
                        s.email = r.new.clone()
                    }
                    ReplacementField::Name if s.name == r.old => s.name = r.new.clone(),
                    _ => continue,
                }
                n += 1;
            }
        }
        Ok(n)
    }

    async fn erase(&self, call: &ServiceCall, keep: &[KeepRule]) -> Result<Erased, ServiceError> {
        // Idempotent: a second call finds nothing left and deletes 0.
        if let Some(rule) = keep.iter().find(|k| k.keeps(Category::Traces)) {
            let n = self.export(call).await?.len() as u64;
            return Ok(Erased {
                kept: vec![Kept {
                    what: Category::Traces.to_string(),
                    records: n,
                    ground: rule.ground.clone(),
                }],
                ..Erased::default()
            });
        }
        let mut rows = lock(&self.rows);
        let before = rows.len();
        rows.retain(|s| !has_email(&call.subject, &s.email));
        Ok(Erased {
            records: (before - rows.len()) as u64,
            ..Erased::default()
        })
    }
}

/// A file a customer uploaded with a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// File name.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Content.
    pub bytes: Vec<u8>,
}

/// One order, with the customer's messages about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// Order number.
    pub number: String,
    /// The customer's id in the shop (the external contact id), if known.
    pub customer_id: Option<String>,
    /// Customer name (personal).
    pub name: String,
    /// Customer email (personal).
    pub email: String,
    /// Delivery address (personal).
    pub address: String,
    /// Amount in euros (kept when anonymized: the accounts need it).
    pub amount_eur: f64,
    /// Messages the customer sent about the order.
    pub messages: Vec<String>,
    /// Files the customer uploaded (G-12).
    pub uploads: Vec<Upload>,
}

/// The value personal fields get when an order is anonymized.
pub const ANONYMIZED: &str = "[anonymized]";

/// The shop's order book: anonymizes on erasure.
#[derive(Debug)]
pub struct OrderBook {
    info: ServiceInfo,
    rows: Mutex<Vec<Order>>,
}

impl OrderBook {
    /// The order book with its orders.
    pub fn new(rows: Vec<Order>) -> Self {
        let mut info = ServiceInfo::new("orders", ErasureMode::Anonymize);
        info.description = "orders, delivery addresses, customer messages and uploads".into();
        info.fields = vec![
            "name".into(),
            "email".into(),
            "address".into(),
            "external_contact_id".into(),
        ];
        info.categories = vec![Category::Transactional, Category::Communications];
        info.attachments = true;
        // Gift messages are free text the shop never searches: a blind spot (G-14).
        info.unsearchable = vec!["gift_message".into()];
        OrderBook {
            info,
            rows: Mutex::new(rows),
        }
    }
    /// The orders held now.
    pub fn rows(&self) -> Vec<Order> {
        lock(&self.rows).clone()
    }
    fn belongs(o: &Order, s: &Subject) -> bool {
        o.customer_id.as_deref() == Some(s.id.as_str()) || has_email(s, &o.email)
    }
}

#[async_trait]
impl Service for OrderBook {
    fn info(&self) -> &ServiceInfo {
        &self.info
    }

    async fn export(&self, call: &ServiceCall) -> Result<Vec<ExportRecord>, ServiceError> {
        let mut out = Vec::new();
        for o in lock(&self.rows)
            .iter()
            .filter(|o| Self::belongs(o, &call.subject))
        {
            out.push(ExportRecord {
                category: Category::Transactional,
                provided: true,
                data: json!({"order": o.number, "name": o.name, "email": o.email, "address": o.address, "amount_eur": o.amount_eur}),
                attachments: Vec::new(),
            });
            if !o.messages.is_empty() || !o.uploads.is_empty() {
                out.push(ExportRecord {
                    category: Category::Communications,
                    provided: true,
                    data: json!({"order": o.number, "messages": o.messages}),
                    attachments: o
                        .uploads
                        .iter()
                        .map(|u| Attachment {
                            name: u.name.clone(),
                            content_type: u.content_type.clone(),
                            content_base64: base64::engine::general_purpose::STANDARD
                                .encode(&u.bytes),
                        })
                        .collect(),
                });
            }
        }
        Ok(out)
    }

    async fn update(
        &self,
        call: &ServiceCall,
        replacements: &[Replacement],
    ) -> Result<u64, ServiceError> {
        let mut n = 0;
        for o in lock(&self.rows)
            .iter_mut()
            .filter(|o| Self::belongs(o, &call.subject))
        {
            for r in replacements {
                let field = match r.field {
                    ReplacementField::Email => &mut o.email,
                    ReplacementField::Name => &mut o.name,
                    ReplacementField::Address => &mut o.address,
                    _ => continue,
                };
                if *field == r.old {
                    *field = r.new.clone();
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    async fn erase(&self, call: &ServiceCall, keep: &[KeepRule]) -> Result<Erased, ServiceError> {
        let mut out = Erased::default();
        let kept_by = keep.iter().find(|k| k.keeps(Category::Transactional));
        for o in lock(&self.rows)
            .iter_mut()
            .filter(|o| Self::belongs(o, &call.subject))
        {
            // Uploads go in either mode (G-12).
            out.attachments += o.uploads.len() as u64;
            o.uploads.clear();
            if let Some(rule) = kept_by {
                out.kept.push(Kept {
                    what: Category::Transactional.to_string(),
                    records: 1,
                    ground: rule.ground.clone(),
                });
                continue;
            }
            o.customer_id = None;
            o.name = ANONYMIZED.into();
            o.email = ANONYMIZED.into();
            o.address = ANONYMIZED.into();
            o.messages = vec![ANONYMIZED.into(); o.messages.len()];
            out.records += 1;
        }
        Ok(out)
    }
}

// ─── The shop's data ────────────────────────────────────────────────────────────────

fn customer(id: &str, name: &str, email: &str, address: &str) -> anyhow::Result<Subject> {
    let mut s = Subject::new(SubjectKind::ExternalContact, SubjectId::new(id)?);
    s.names.push(name.into());
    s.emails.push(email.into());
    if !address.is_empty() {
        s.addresses.push(address.into());
    }
    Ok(s)
}

/// The shop's customers: Jeanne Martin has two accounts the shop merged (one person,
/// canonical `cust-1`), and a namesake in Lyon who is someone else.
pub fn customers() -> anyhow::Result<Vec<Subject>> {
    let set = MergeSetId::new("ms-jeanne")?;
    let mut a = customer(
        "cust-1",
        "Jeanne Martin",
        "jeanne.martin@example.com",
        "4 rue des Lilas, 75020 Paris",
    )?;
    a.phones.push("+33 6 11 22 33 44".into());
    a.merge_set = Some(set.clone());
    a.canonical = true;
    let mut b = customer(
        "cust-2",
        "MARTIN Jeanne",
        "Jeanne.Martin+soldes@Example.com",
        "",
    )?;
    b.merge_set = Some(set);
    let c = customer(
        "cust-3",
        "Jeanne Martin",
        "jm.lyon@example.net",
        "18 quai Saint-Antoine, 69002 Lyon",
    )?;
    let d = customer(
        "cust-4",
        "Paul Durand",
        "paul.durand@example.org",
        "2 place Bellecour, 69002 Lyon",
    )?;
    Ok(vec![a, b, c, d])
}

fn newsletter_rows() -> Vec<Subscription> {
    vec![
        Subscription {
            email: "jeanne.martin+soldes@example.com".into(),
            name: "Jeanne".into(),
            since: "2025-11-28".into(),
            opens: 12,
        },
        Subscription {
            email: "jm.lyon@example.net".into(),
            name: "J. Martin".into(),
            since: "2024-02-01".into(),
            opens: 3,
        },
        Subscription {
            email: "paul.durand@example.org".into(),
            name: "Paul".into(),
            since: "2023-06-12".into(),
            opens: 40,
        },
    ]
}

fn order_rows() -> Vec<Order> {
    vec![
        Order {
            number: "BL-2026-0042".into(),
            customer_id: Some("cust-1".into()),
            name: "Jeanne Martin".into(),
            email: "jeanne.martin@example.com".into(),
            address: "4 rue des Lilas, 75020 Paris".into(),
            amount_eur: 89.90,
            messages: vec!["Le colis est arrivé abîmé, voici une photo.".into()],
            uploads: vec![Upload {
                name: "colis-abime.jpg".into(),
                content_type: "image/jpeg".into(),
                bytes: b"\xff\xd8\xff example photo".to_vec(),
            }],
        },
        Order {
            number: "BL-2026-0107".into(),
            customer_id: None,
            name: "Jeanne Martin".into(),
            email: "Jeanne.Martin+soldes@Example.com".into(),
            address: "4 rue des Lilas, 75020 Paris".into(),
            amount_eur: 24.50,
            messages: Vec::new(),
            uploads: Vec::new(),
        },
        Order {
            number: "BL-2026-0110".into(),
            customer_id: Some("cust-3".into()),
            name: "Jeanne Martin".into(),
            email: "jm.lyon@example.net".into(),
            address: "18 quai Saint-Antoine, 69002 Lyon".into(),
            amount_eur: 310.00,
            messages: Vec::new(),
            uploads: Vec::new(),
        },
    ]
}

// ─── The workflow ───────────────────────────────────────────────────────────────────

/// One request as the workflow saw it at the end.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSummary {
    /// The request id.
    pub id: String,
    /// Export or delete.
    pub ty: RequestType,
    /// The subject it was made for.
    pub subject: String,
    /// Its final status.
    pub status: RequestStatus,
    /// The related requests the merge set produced (ids of their subjects).
    pub related_subjects: Vec<String>,
    /// Per service: `(service, action, records, attachments)`.
    pub outcomes: Vec<(String, String, u64, u64)>,
}

/// What the workflow did, for the caller (and the test) to check.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Per identifier given: the subjects it found.
    pub found_by_identifier: Vec<(String, Vec<String>)>,
    /// Subjects found by every identifier (acted upon).
    pub corroborated: Vec<String>,
    /// Subjects found by only some identifiers (set aside: someone else, most likely).
    pub set_aside: Vec<String>,
    /// The export requests, each with its related requests.
    pub exports: Vec<RequestSummary>,
    /// Export packages whose signature and digests verified with the shop's key.
    pub packages_verified: usize,
    /// Attachments inside those packages.
    pub attachments_exported: usize,
    /// The delete requests, each with its related requests.
    pub deletes: Vec<RequestSummary>,
    /// Blind spots the engine reports for this inventory (G-14).
    pub blind_spots: usize,
    /// Entries in the audit chain.
    pub audit_entries: u64,
    /// Whether the audit chain verified.
    pub audit_verified: bool,
}

/// The host application: its systems and the engine wired to them.
pub struct Shop {
    /// The newsletter.
    pub newsletter: Arc<Newsletter>,
    /// The order book.
    pub orders: Arc<OrderBook>,
    /// The engine (one tenant: the shop).
    pub engine: Arc<Engine>,
    /// The customer directory the engine resolves terms against.
    pub directory: Directory,
}

impl Shop {
    /// Opens the shop with its engine state in `dir` (created on first use).
    pub fn open(dir: &Path) -> anyhow::Result<Shop> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tenant = TenantId::new("boutique-lumiere")?;
        let newsletter = Arc::new(Newsletter::new(newsletter_rows()));
        let orders = Arc::new(OrderBook::new(order_rows()));
        let services = Services::new()
            .with(newsletter.clone())?
            .with(orders.clone())?;
        let store = SqliteEngineStore::new(Arc::new(SqliteStore::open(dir.join("dsr.db"))?));
        let signer = package::Signer::load_or_create(&dir.join("shop-signing.key"))?;
        let engine = Engine::new(tenant, Arc::new(store), services, Arc::new(SystemClock))?
            .with_signer("Boutique Lumière SAS", signer);
        let mut directory = Directory::new(MatchConfig {
            default_region: Some("FR".into()),
        })?;
        for c in customers()? {
            directory.upsert(c)?;
        }
        Ok(Shop {
            newsletter,
            orders,
            engine: Arc::new(engine),
            directory,
        })
    }

    /// Runs workers until every request is finished (or waiting for a decision).
    pub async fn process(&self) -> anyhow::Result<()> {
        let cfg = WorkerConfig {
            poll: Duration::from_millis(10),
            ..WorkerConfig::default()
        };
        Worker::new(self.engine.clone(), cfg)
            .run_until_idle()
            .await?;
        Ok(())
    }

    async fn summary(&self, r: &Request) -> anyhow::Result<RequestSummary> {
        let (r, tasks) = self.engine.get(&r.id).await?;
        let related = self.engine.related_of(&r).await?;
        Ok(RequestSummary {
            id: r.id.to_string(),
            ty: r.ty,
            subject: r.subject.id.to_string(),
            status: r.status(),
            related_subjects: related.iter().map(|x| x.subject.id.to_string()).collect(),
            outcomes: tasks
                .iter()
                .map(|t| {
                    let o = t.outcome.as_ref();
                    (
                        t.service.clone(),
                        o.map_or_else(|| t.status().to_string(), |o| o.action.to_string()),
                        o.map_or(0, |o| o.records),
                        o.map_or(0, |o| o.attachments),
                    )
                })
                .collect(),
        })
    }

    /// Makes one request of `ty` per group (a merge set counts once) and carries them
    /// out; returns the parents with their related requests.
    async fn request_all(
        &self,
        ty: RequestType,
        subjects: &[String],
        out: &mut dyn Write,
    ) -> anyhow::Result<Vec<Request>> {
        let mut made: Vec<Request> = Vec::new();
        let mut covered: Vec<String> = Vec::new();
        for id in subjects {
            if covered.contains(id) {
                continue; // already covered by a merge set's related requests
            }
            let mut opts = CreateOptions::new(ty, Target::Id(id.clone()));
            opts.requested_by = "privacy desk (host_app example)".into();
            let created = self.engine.create(&self.directory, opts).await?;
            covered.push(created.request.subject.id.to_string());
            covered.extend(created.related.iter().map(|r| r.subject.id.to_string()));
            writeln!(
                out,
                "  {ty} {} for {}{}",
                created.request.id,
                created.request.subject.id,
                if created.related.is_empty() {
                    String::new()
                } else {
                    format!(
                        " — merge set: related requests {}",
                        created
                            .related
                            .iter()
                            .map(|r| format!("{} ({})", r.id, r.subject.id))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            )?;
            made.push(created.request);
        }
        self.process().await?;
        Ok(made)
    }
}

fn print_summary(out: &mut dyn Write, s: &RequestSummary) -> anyhow::Result<()> {
    writeln!(out, "  {} {} ({}) → {}", s.ty, s.id, s.subject, s.status)?;
    for (service, action, records, attachments) in &s.outcomes {
        writeln!(
            out,
            "      {service:<11} {action} {records} record(s){}",
            if *attachments > 0 {
                format!(", {attachments} attachment(s)")
            } else {
                String::new()
            }
        )?;
    }
    Ok(())
}

/// The whole G-13 workflow for a person who writes in: "I am Jeanne Martin,
/// jeanne.martin@example.com — send me my data, then delete it." Narrates on `out`;
/// the engine's state lives in `dir`.
pub async fn run(dir: &Path, out: &mut dyn Write) -> anyhow::Result<Report> {
    let shop = Shop::open(dir)?;
    writeln!(
        out,
        "Boutique Lumière embeds dsr: services {} (engine state in {})",
        shop.engine.services().names().join(", "),
        dir.display()
    )?;

    // (1) Look the person up by each identifier separately, (2) keep the subjects the
    // identifiers corroborate.
    let terms = [
        Term::parse("name:Jeanne Martin")?,
        Term::parse("email: Jeanne.Martin@Example.COM ")?,
    ];
    let correlation = shop
        .directory
        .correlate(&terms, &SearchOptions::default())?;
    writeln!(out, "\n1. Lookup, one identifier at a time (G-13 step 1)")?;
    let mut found_by_identifier = Vec::new();
    for r in &correlation.per_term {
        let ids: Vec<String> = r.matches.iter().map(|m| m.subject_id.to_string()).collect();
        writeln!(out, "  {} → {}", r.term, ids.join(", "))?;
        for m in &r.matches {
            for e in &m.evidence {
                writeln!(
                    out,
                    "      {}: {} {:?} ({}, {})",
                    m.subject_id,
                    e.field,
                    e.stored,
                    e.method.as_str(),
                    e.detail
                )?;
            }
        }
        found_by_identifier.push((r.term.to_string(), ids));
    }
    let corroborated: Vec<String> = correlation
        .subjects
        .iter()
        .filter(|c| c.corroborated && !c.needs_review)
        .map(|c| c.subject_id.to_string())
        .collect();
    let set_aside: Vec<String> = correlation
        .subjects
        .iter()
        .filter(|c| !corroborated.contains(&c.subject_id.to_string()))
        .map(|c| c.subject_id.to_string())
        .collect();
    writeln!(
        out,
        "\n2. Correlation (step 2): corroborated by both identifiers: {}; set aside (found by one only — another person): {}",
        corroborated.join(", "),
        if set_aside.is_empty() {
            "none".to_owned()
        } else {
            set_aside.join(", ")
        }
    )?;
    if corroborated.is_empty() {
        bail!("no subject is corroborated by the identifiers given: nothing to act on");
    }

    // (3) One request per matching subject; (4) the related requests of merge sets.
    writeln!(
        out,
        "\n3. EXPORT, one request per person (steps 3 and 4: merge sets fan out)"
    )?;
    let exports = shop
        .request_all(RequestType::Export, &corroborated, out)
        .await?;
    let key = shop.engine.public_key_hex();
    let mut export_summaries = Vec::new();
    let mut packages_verified = 0;
    let mut attachments_exported = 0;
    let mut family: Vec<RequestId> = Vec::new();
    for parent in &exports {
        family.push(parent.id.clone());
        family.extend(parent.related.iter().cloned());
    }
    for id in &family {
        let (r, _) = shop.engine.get(id).await?;
        let s = shop.summary(&r).await?;
        print_summary(out, &s)?;
        if r.status() == RequestStatus::Completed {
            // What the customer receives, and how a receiving party checks it.
            let pkg = shop.engine.package(&r.id).await?;
            let v = package::verify(&pkg, Some(&key))?;
            if v.trusted_key != Some(true) {
                bail!("package of {} is not signed with the shop's key", r.id);
            }
            let doc: Value = serde_json::from_str(&pkg)?;
            attachments_exported += doc["manifest"]["files"].as_array().map_or(0, |f| {
                f.iter()
                    .filter(|x| {
                        x["path"]
                            .as_str()
                            .is_some_and(|p| p.contains("/attachments/"))
                    })
                    .count()
            });
            packages_verified += 1;
            shop.engine
                .hand_over(&r.id, "Jeanne Martin, by secure download", "privacy desk")
                .await?;
            writeln!(
                out,
                "      package: {} files, signature and digests verified (manifest {}…), hand-over recorded",
                v.files,
                &v.manifest_sha256[..16]
            )?;
        }
        export_summaries.push(s);
    }
    export_summaries.retain(|s| exports.iter().any(|p| p.id.as_str() == s.id));

    // Then the erasure: each service in its own mode (G-7).
    writeln!(
        out,
        "\n4. DELETE: the newsletter deletes, the order book anonymizes (G-7)"
    )?;
    let deletes = shop
        .request_all(RequestType::Delete, &corroborated, out)
        .await?;
    let mut delete_summaries = Vec::new();
    for parent in &deletes {
        let s = shop.summary(parent).await?;
        print_summary(out, &s)?;
        for related in &parent.related {
            let (r, _) = shop.engine.get(related).await?;
            print_summary(out, &shop.summary(&r).await?)?;
        }
        delete_summaries.push(s);
    }
    let left: Vec<String> = shop
        .newsletter
        .rows()
        .iter()
        .map(|s| s.email.clone())
        .collect();
    writeln!(out, "  newsletter now holds: {}", left.join(", "))?;
    for o in shop.orders.rows() {
        writeln!(
            out,
            "  order {}: {} <{}>, {:.2} €, {} upload(s)",
            o.number,
            o.name,
            o.email,
            o.amount_eur,
            o.uploads.len()
        )?;
    }

    // Proof.
    let spots = shop.engine.blind_spots(&shop.directory);
    let audit = shop.engine.verify_audit().await?;
    writeln!(
        out,
        "\n5. Proof: {} audit entries, chain {}; {} blind spots reported (e.g. {})",
        audit.entries,
        if audit.ok() { "verified" } else { "BROKEN" },
        spots.len(),
        spots
            .iter()
            .find(|s| s.place.contains("orders"))
            .map_or("none", |s| s.place.as_str())
    )?;
    let by_status: BTreeMap<String, usize> = shop
        .engine
        .list(&Default::default())
        .await?
        .iter()
        .fold(BTreeMap::new(), |mut m, r| {
            *m.entry(r.status().to_string()).or_default() += 1;
            m
        });
    writeln!(out, "   requests by status: {by_status:?}")?;
    Ok(Report {
        found_by_identifier,
        corroborated,
        set_aside,
        exports: export_summaries,
        packages_verified,
        attachments_exported,
        deletes: delete_summaries,
        blind_spots: spots.len(),
        audit_entries: audit.entries,
        audit_verified: audit.ok(),
    })
}
