//! Criterion benches of the matching hot path, with the SQLite baseline in the same run.
//!
//! `cargo bench -p dsr-synth` (size: `DSR_BENCH_SUBJECTS`, default 100000). For p99 and
//! bytes per contact, run `cargo run --release -p dsr-synth --bin matching-report`.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use dsr_match::{Directory, MatchConfig, SearchOptions, classify, normalize};
use dsr_model::{Term, TermType};
use dsr_synth::person;
use std::hint::black_box;

fn size() -> u64 {
    std::env::var("DSR_BENCH_SUBJECTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn benches(c: &mut Criterion) {
    let n = size();
    let mut dir = Directory::new(MatchConfig::default()).unwrap();
    for s in dsr_synth::subjects(42, n) {
        dir.upsert(s).unwrap();
    }
    let dsr_synth::QuerySet {
        emails,
        phones,
        names,
        addrs,
    } = dsr_synth::QuerySet::draw(42, n, 512, 3);

    let mut g = c.benchmark_group("normalize");
    g.throughput(Throughput::Elements(emails.len() as u64));
    g.bench_function("classify", |b| {
        b.iter(|| {
            names.iter().for_each(|s| {
                black_box(classify(s));
            })
        })
    });
    g.bench_function("email", |b| {
        b.iter(|| {
            emails.iter().for_each(|s| {
                black_box(normalize::email_keys(s).ok());
            })
        })
    });
    g.bench_function("phone", |b| {
        b.iter(|| {
            phones.iter().for_each(|s| {
                black_box(normalize::phone_keys(s, None).ok());
            })
        })
    });
    g.bench_function("name", |b| {
        b.iter(|| {
            names.iter().for_each(|s| {
                black_box(normalize::name_form(s));
            })
        })
    });
    g.bench_function("address", |b| {
        b.iter(|| {
            addrs.iter().for_each(|s| {
                black_box(normalize::address_form(s));
            })
        })
    });
    g.finish();

    let opts = SearchOptions::default();
    let email_terms: Vec<Term> = emails
        .iter()
        .map(|e| Term::bare(e.clone()).unwrap())
        .collect();
    let name_terms: Vec<Term> = names
        .iter()
        .map(|e| Term::typed(TermType::Name, e.clone()).unwrap())
        .collect();
    let mut g = c.benchmark_group(format!("lookup_{n}"));
    g.throughput(Throughput::Elements(email_terms.len() as u64));
    g.bench_function("dsr_email_exact", |b| {
        b.iter(|| {
            email_terms.iter().for_each(|t| {
                black_box(dir.search(t, &opts).ok());
            })
        })
    });
    g.bench_function("dsr_name_fuzzy", |b| {
        b.iter(|| {
            name_terms.iter().for_each(|t| {
                black_box(dir.search(t, &opts).ok());
            })
        })
    });

    // The baseline a user would otherwise use: SQLite B-tree and FTS5 indexes.
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE s (id TEXT PRIMARY KEY, email TEXT) WITHOUT ROWID; CREATE INDEX s_email ON s (email);
         CREATE VIRTUAL TABLE s_names USING fts5 (id UNINDEXED, name, tokenize = 'unicode61 remove_diacritics 2');",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for s in dsr_synth::subjects(42, n) {
        tx.execute(
            "INSERT INTO s VALUES (?1, ?2)",
            rusqlite::params![s.id.as_str(), s.emails[0].to_lowercase()],
        )
        .unwrap();
        tx.execute(
            "INSERT INTO s_names (id, name) VALUES (?1, ?2)",
            rusqlite::params![s.id.as_str(), s.names[0]],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    let mut by_email = conn
        .prepare("SELECT id FROM s WHERE email = lower(trim(?1))")
        .unwrap();
    let mut by_name = conn
        .prepare("SELECT id FROM s_names WHERE s_names MATCH ?1 LIMIT 20")
        .unwrap();
    let fts: Vec<String> = names
        .iter()
        .map(|n| {
            n.split_whitespace()
                .map(|w| format!("\"{}\"", w.replace('"', "")))
                .collect::<Vec<_>>()
                .join(" AND ")
        })
        .collect();
    g.bench_function("sqlite_email_btree", |b| {
        b.iter(|| {
            emails.iter().for_each(|e| {
                black_box(
                    by_email
                        .query_map([e], |r| r.get::<_, String>(0))
                        .map(|it| it.count())
                        .ok(),
                );
            })
        })
    });
    g.bench_function("sqlite_name_fts5", |b| {
        b.iter(|| {
            fts.iter().for_each(|q| {
                black_box(
                    by_name
                        .query_map([q], |r| r.get::<_, String>(0))
                        .map(|it| it.count())
                        .ok(),
                );
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group(format!("index_{n}"));
    let mut next = n;
    g.bench_function("upsert_then_remove", |b| {
        b.iter_batched(
            || {
                next += 1;
                person(42, next).subject
            },
            |s| {
                let id = s.id.clone();
                dir.upsert(s).unwrap();
                dir.remove(&id);
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group! {
    name = matching;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(matching);
