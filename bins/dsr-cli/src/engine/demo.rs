//! `dsr demo`: the whole workflow on a built-in multilingual sample, in a fresh demo
//! directory, with readable output. Every step uses the same engine calls as the
//! `dsr request …` commands.

use super::{DemoArgs, outcome_line, print_request, settle};
use crate::out::outln;
use crate::{Ctx, StoreArgs};
use anyhow::{Context, bail};
use dsr_engine::config::Config;
use dsr_engine::package;
use dsr_engine::{CreateOptions, Error, Target};
use dsr_match::SearchOptions;
use dsr_model::{RequestType, Term};
use dsr_ops::env::{EngineEnv, Location, Signing};
use dsr_ops::{OpenMode, load_directory};
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;

/// The file that marks a folder as made by `dsr demo` (so only such a folder is ever
/// deleted and made anew).
const MARKER: &str = ".dsr-demo";

const SAMPLE: &str = include_str!("../../../../examples/data/sample-subjects.jsonl");

/// The demo's configuration: the default inventory plus two declarative tables of the
/// demo database (billing, deleting but keeping invoices on an art. 17(3)(b) ground;
/// newsletter, anonymizing).
const DEMO_CONFIG: &str = r#"# dsr.toml of `dsr demo` — see docs/engine.md for every key.
organisation = "Acme Contact Center (demo)"
signing_key = "demo-signing.key"

[deadlines]
export = 2
portability = 2
delete = 14

[[services]]
name = "directory"
kind = "subjects"
erasure = "delete"
description = "the subjects directory (contacts, users, dialer entries)"

[[services]]
name = "conversations"
kind = "conversations"
erasure = "anonymize"
description = "email and messaging conversations with their attachments"

[[services]]
name = "billing"
kind = "table"
table = "demo_invoices"
key_column = "contact_id"
match_columns = { email = "email" }
category = "transactional"
erasure = "delete"
description = "invoices"

[[services]]
name = "newsletter"
kind = "table"
table = "demo_newsletter"
key_column = "contact_id"
match_columns = { email = "email" }
category = "traces"
erasure = "anonymize"
unsearchable = ["free_text_answers"]
description = "newsletter subscriptions and opens"

[[policy.retention]]
service = "billing"
category = "transactional"
ground = "GDPR art. 17(3)(b): invoices are kept 10 years (Code de commerce art. L123-22)"
"#;

const DEMO_TABLES: &str = "
CREATE TABLE IF NOT EXISTS demo_invoices (contact_id TEXT, email TEXT, number TEXT, amount_eur REAL, issued TEXT);
CREATE TABLE IF NOT EXISTS demo_newsletter (contact_id TEXT, email TEXT, subscribed TEXT, opens INTEGER, free_text_answers TEXT);
INSERT INTO demo_invoices VALUES
  ('c-1001', 'jean.dupont@example.fr', 'F-2026-0117', 129.90, '2026-01-17'),
  (NULL, 'jean.dupont+factures@example.fr', 'F-2026-0342', 59.00, '2026-03-02'),
  ('c-1005', 'zoe.faure@gmail.com', 'F-2026-0400', 19.99, '2026-03-11');
INSERT INTO demo_newsletter VALUES
  ('c-1002', 'jean.dupont+factures@example.fr', '2025-11-02', 14, 'plus de promos svp'),
  ('c-1005', 'zoe.faure@gmail.com', '2024-05-30', 3, NULL);
";

/// Reads the sample through the import pipeline's own line parser.
fn sample_subjects() -> anyhow::Result<Vec<dsr_model::Subject>> {
    let mut out = Vec::new();
    for (i, line) in SAMPLE.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let parsed = dsr_ops::import::parse_line(line)
            .map_err(|e| anyhow::anyhow!("sample line {}: {e}", i + 1))?;
        out.push(parsed.subject);
    }
    Ok(out)
}

/// Deletes the demo folder (only if it is one: empty, or with the demo's marker file)
/// and creates it anew.
fn recreate(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        // Made by the demo: its marker, or (before the marker existed) its three files.
        let old_demo = ["demo.db", "dsr.toml", "sample-subjects.jsonl"]
            .iter()
            .all(|f| dir.join(f).exists());
        let is_demo = dir.join(MARKER).exists()
            || old_demo
            || std::fs::read_dir(dir)
                .with_context(|| format!("reading {}", dir.display()))?
                .next()
                .is_none();
        if !is_demo {
            bail!(
                "{} exists and was not made by `dsr demo`: not deleted (choose another --dir)",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "made by `dsr demo`: deleted and made anew by the next run\n",
    )?;
    Ok(())
}

fn heading(n: usize, text: &str) -> anyhow::Result<()> {
    outln!("\n━━ {n}. {text} ━━");
    Ok(())
}

pub(super) async fn demo(ctx: &Ctx, a: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = &a.dir;
    recreate(dir)?;
    let db = dir.join("demo.db");
    let cfg_path = dir.join("dsr.toml");
    std::fs::write(&cfg_path, DEMO_CONFIG)?;
    let sample_path = dir.join("sample-subjects.jsonl");
    std::fs::write(&sample_path, SAMPLE)?;
    let dctx = Location {
        db: db.clone(),
        tenant: ctx.location(&StoreArgs::default())?.tenant,
    };
    let quiet = a.json;
    let mut summary = serde_json::Map::new();

    if !quiet {
        outln!(
            "dsr demo — a data subject request engine, end to end, on {}",
            db.display()
        );
        outln!(
            "(configuration: {}; every command below also exists on its own: dsr request …)",
            cfg_path.display()
        );
        heading(1, "Import a small multilingual sample of subjects")?;
    }
    let subjects = sample_subjects()?;
    let store = dsr_store_sqlite::SqliteStore::open(&db)?;
    store.create_tenant(&dctx.tenant)?;
    store.upsert_subjects(&dctx.tenant, &subjects)?;
    drop(store);
    if !quiet {
        outln!(
            "imported {} subjects ({} external contacts incl. a merge set of 3, {} users, {} dialer contacts) from {}",
            subjects.len(),
            subjects
                .iter()
                .filter(|s| s.kind == dsr_model::SubjectKind::ExternalContact)
                .count(),
            subjects
                .iter()
                .filter(|s| s.kind == dsr_model::SubjectKind::User)
                .count(),
            subjects
                .iter()
                .filter(|s| s.kind == dsr_model::SubjectKind::DialerContact)
                .count(),
            sample_path.display()
        );
    }
    let config = Config::load(&cfg_path)?;
    let env = EngineEnv::open(&dctx, config, OpenMode::Create, Signing::LoadOrCreate)?;
    env.store.db().with_conn(|c| c.execute_batch(DEMO_TABLES))?;
    let t = &dctx.tenant;
    env.store.add_conversation(
        t,
        "conv-1",
        "c-1001",
        "email",
        "Bonjour, ci-joint ma pièce d'identité pour le remboursement.",
        &[(
            "piece-identite.pdf",
            "application/pdf",
            b"%PDF-1.4 demo id card",
            true,
        )],
    )?;
    env.store.add_conversation(
        t,
        "conv-2",
        "CRM-88231",
        "whatsapp",
        "Mon colis n'est pas arrivé",
        &[
            (
                "photo-colis.jpg",
                "image/jpeg",
                b"\xff\xd8\xff demo photo",
                true,
            ),
            (
                "bon-de-retour.pdf",
                "application/pdf",
                b"%PDF-1.4 return label",
                false,
            ),
        ],
    )?;
    env.store.add_conversation(
        t,
        "conv-3",
        "c-1005",
        "web messaging",
        "Je voudrais une copie de mes données. Ma facture est en pièce jointe.",
        &[(
            "facture-F-2026-0400.pdf",
            "application/pdf",
            b"%PDF-1.4 demo invoice",
            true,
        )],
    )?;
    if !quiet {
        outln!(
            "seeded conversations with attachments, invoices and newsletter tables (services: {})",
            env.engine.services().names().join(", ")
        );
    }

    // 2. Lookup by a messy term.
    let messy = "  JEAN.DUPONT+FACTURES@Example.FR ";
    let dirx = load_directory(env.store.db(), &dctx.tenant)?;
    let term = Term::parse(messy)?;
    let found = dirx.search(&term, &SearchOptions::default())?;
    if !quiet {
        heading(2, "Look a person up by a messy term")?;
        outln!(
            "term {messy:?} is classified as {} and matches {} subject(s):",
            found.classified_as,
            found.matches.len()
        );
        for m in &found.matches {
            outln!(
                "  {} ({}) {} — {} {:.2}{}",
                m.subject_id,
                m.kind,
                m.display_name.clone().unwrap_or_default(),
                m.confidence,
                m.score,
                m.merge_set
                    .as_ref()
                    .map(|s| format!(
                        ", merge set {s} (canonical {})",
                        m.canonical_id.as_ref().map(|c| c.as_str()).unwrap_or("?")
                    ))
                    .unwrap_or_default()
            );
            for e in &m.evidence {
                outln!(
                    "      {} {:?} matched {} ({})",
                    e.field,
                    e.stored,
                    e.method.as_str(),
                    e.detail
                );
            }
        }
        let ambiguous =
            dirx.search(&Term::parse("name:Jean Dupont")?, &SearchOptions::default())?;
        outln!(
            "by contrast, \"name:Jean Dupont\" matches {} subjects that are not one person: a request for it is refused until the caller names one (never act on a guess).",
            ambiguous.matches.len()
        );
    }
    summary.insert("lookup".into(), json!({"term": messy, "matches": found.matches.iter().map(|m| m.subject_id.as_str()).collect::<Vec<_>>()}));

    // 3. Merge-set delete.
    if !quiet {
        heading(
            3,
            "DELETE for that person (art. 17): one request per merge set, related requests for every member",
        )?;
    }
    let mut opts = CreateOptions::new(RequestType::Delete, Target::Term(term.clone()));
    opts.requested_by = "demo operator".into();
    let out = env.engine.create(&dirx, opts).await?;
    let mut ids = vec![out.request.id.clone()];
    ids.extend(out.related.iter().map(|r| r.id.clone()));
    if !quiet {
        outln!(
            "created {} for the canonical contact {} with {} related request(s): {}",
            out.request.id,
            out.request.subject.id,
            out.related.len(),
            out.related
                .iter()
                .map(|r| format!("{} ({})", r.id, r.subject.id))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let again = env
            .engine
            .create(
                &dirx,
                CreateOptions::new(RequestType::Delete, Target::Id("c-1003".into())),
            )
            .await;
        if let Err(e @ Error::Duplicate { .. }) = again {
            outln!("a second DELETE for another member is refused while these run:\n  {e}");
        }
        outln!(
            "workers carry the tasks out ({} services × {} requests):",
            env.engine.services().len(),
            ids.len()
        );
    }
    settle(&env.engine, env.worker_config(), &ids, true, !quiet, None).await?;
    let mut deleted = Vec::new();
    for id in &ids {
        let (r, tasks) = env.engine.get(id).await?;
        if !quiet {
            outln!("  {} {} → {}", r.subject.id, r.id, r.status());
            for t in &tasks {
                outln!("      {:<14} {}", t.service, outcome_line(t));
            }
        }
        deleted.push(json!({"request": r.id.as_str(), "subject": r.subject.id.as_str(), "status": r.status().as_str()}));
    }
    let after =
        load_directory(env.store.db(), &dctx.tenant)?.search(&term, &SearchOptions::default())?;
    if !quiet {
        outln!(
            "the same lookup now finds {} subject(s): the directory no longer holds them.",
            after.matches.len()
        );
    }
    summary.insert("merge_set_delete".into(), Value::Array(deleted));

    // 4. Export package.
    if !quiet {
        heading(
            4,
            "EXPORT (art. 15): a signed package, verified as a receiving party would",
        )?;
    }
    let mut opts = CreateOptions::new(
        RequestType::Export,
        Target::Term(Term::parse("email:Zoe.Faure@gmail.com")?),
    );
    opts.requested_by = "demo operator".into();
    let exp = env.engine.create(&dirx, opts).await?;
    settle(
        &env.engine,
        env.worker_config(),
        std::slice::from_ref(&exp.request.id),
        true,
        !quiet,
        None,
    )
    .await?;
    let pkg = env.engine.package(&exp.request.id).await?;
    let pkg_path = dir.join(format!("export-{}.json", exp.request.id));
    std::fs::write(&pkg_path, &pkg)?;
    env.engine
        .hand_over(
            &exp.request.id,
            "Zoë Faure, by secure download",
            "demo operator",
        )
        .await?;
    let v = package::verify(&pkg, Some(&env.engine.public_key_hex()))?;
    let tampered = pkg.replacen("zoe.faure@gmail.com", "zoe.faure@gmaiI.com", 1);
    let tamper_err = package::verify(&tampered, None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    if !quiet {
        let (r, tasks) = env.engine.get(&exp.request.id).await?;
        print_request(&r, &tasks, &[], env.engine.clock().now())?;
        let doc: Value = serde_json::from_str(&pkg)?;
        outln!("package {} ({} bytes):", pkg_path.display(), pkg.len());
        for f in doc["manifest"]["files"].as_array().into_iter().flatten() {
            outln!(
                "  {:<52} sha256 {}…",
                f["path"].as_str().unwrap_or(""),
                &f["sha256"].as_str().unwrap_or("")[..16]
            );
        }
        outln!(
            "verify: signature and {} digests OK, signed with the organisation's key {}…",
            v.files,
            &v.public_key[..16]
        );
        outln!("one byte changed in a copy: {tamper_err}");
        outln!(
            "(check it yourself: dsr verify {} --key {})",
            pkg_path.display(),
            v.public_key
        );
    }
    summary.insert("export".into(), json!({"request": exp.request.id.as_str(), "package": pkg_path.display().to_string(), "files": v.files, "verified": true, "tamper_detected": !tamper_err.is_empty()}));

    // 5. Active employee.
    if !quiet {
        heading(
            5,
            "DELETE for an active employee: on hold until a decision (art. 17(3)(b))",
        )?;
    }
    let mut opts = CreateOptions::new(
        RequestType::Delete,
        Target::Term(Term::parse("userId:u-01")?),
    );
    opts.requested_by = "demo operator".into();
    let held = env.engine.create(&dirx, opts).await?;
    if !quiet {
        outln!(
            "{} is {}: {}",
            held.request.id,
            held.request.status(),
            held.request
                .hold
                .as_ref()
                .map(|h| h.reason.as_str())
                .unwrap_or("")
        );
    }
    let ground = "GDPR art. 17(3)(b) and art. 6(1)(b): employment contract in force; payroll records kept as labour law requires";
    let decided = env
        .engine
        .decide(
            &held.request.id,
            dsr_engine::Verdict::Refuse,
            ground,
            "DPO Marie Curie",
        )
        .await?;
    if !quiet {
        outln!(
            "decided: refused by {} citing \"{ground}\" → {}",
            decided
                .decision
                .as_ref()
                .map(|d| d.by.as_str())
                .unwrap_or(""),
            decided.status()
        );
    }
    let mut opts = CreateOptions::new(RequestType::Delete, Target::Id("u-02".into()));
    opts.requested_by = "demo operator".into();
    let former = env.engine.create(&dirx, opts).await?;
    settle(
        &env.engine,
        env.worker_config(),
        std::slice::from_ref(&former.request.id),
        true,
        false,
        None,
    )
    .await?;
    let former_status = env.engine.get(&former.request.id).await?.0.status();
    if !quiet {
        outln!(
            "a former employee (u-02) is not held: {} → {}",
            former.request.id,
            former_status
        );
    }
    summary.insert("employee".into(), json!({"held": held.request.id.as_str(), "decision": "refuse", "status": decided.status().as_str(), "former": former_status.as_str()}));

    // 6. Audit.
    let report = env.engine.verify_audit().await?;
    if !quiet {
        heading(
            6,
            "Proof: the hash-chained audit log (art. 5(2), accountability)",
        )?;
        outln!(
            "{} entries, chain {} (head {}…)",
            report.entries,
            if report.ok() { "verified" } else { "BROKEN" },
            &report.head[..16]
        );
        outln!(
            "try: dsr --db {} audit show --request {} --config {}",
            db.display(),
            out.request.id,
            cfg_path.display()
        );
        outln!(
            "     dsr --db {} request list --config {}",
            db.display(),
            cfg_path.display()
        );
        outln!(
            "     dsr --db {} services --config {}",
            db.display(),
            cfg_path.display()
        );
    }
    summary.insert(
        "audit".into(),
        json!({"entries": report.entries, "verified": report.ok(), "head": report.head}),
    );
    if quiet {
        outln!("{}", serde_json::to_string_pretty(&Value::Object(summary))?);
    }
    Ok(if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
