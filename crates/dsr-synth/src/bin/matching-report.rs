//! Latency percentiles, throughput and memory of the matching hot path, side by side with
//! the SQLite indexes a user would otherwise use, in one run.
//!
//! ```text
//! cargo run --release -p dsr-synth --bin matching-report -- [--subjects N] [--queries Q] [--no-sqlite] [--no-snapshot]
//! ```
//!
//! Criterion benches (`cargo bench -p dsr-synth`) give stable means; this report adds what
//! criterion does not: p50/p99 per query, bytes per contact, and the SQLite baseline at
//! the same size.

use clap::Parser;
use dsr_match::{Directory, MatchConfig, SearchOptions, classify, normalize};
use dsr_model::{Term, TermType};
use dsr_synth::{person, say};
use std::time::{Duration, Instant};

/// Latency percentiles, throughput and memory of matching, beside SQLite, in one run.
#[derive(Debug, Parser)]
#[command(name = "matching-report", version, about)]
struct Args {
    /// How many synthetic subjects to index.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    subjects: u64,
    /// Queries per measure.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    queries: u64,
    /// Leave out the SQLite baseline.
    #[arg(long)]
    no_sqlite: bool,
    /// Leave out the snapshot write and read back.
    #[arg(long)]
    no_snapshot: bool,
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<usize>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// Anonymous memory the kernel backs with transparent huge pages, in bytes. Random
/// lookups over gigabytes miss the TLB at every step on 4 KiB pages: the exact lookups'
/// latency depends on this as much as on the code, so the report prints it. `None`
/// where the kernel does not say (no `smaps_rollup`): unknown, not zero.
fn huge_page_bytes() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
    let kb = s
        .lines()
        .find_map(|l| l.strip_prefix("AnonHugePages:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<usize>()
        .ok()?;
    Some(kb * 1024)
}

struct Lat {
    p50: Duration,
    p99: Duration,
    mean: Duration,
}

fn latencies(mut samples: Vec<Duration>) -> Lat {
    samples.sort();
    let n = samples.len().max(1);
    let total: Duration = samples.iter().sum();
    Lat {
        p50: samples[n / 2],
        p99: samples[(n * 99 / 100).min(n - 1)],
        mean: total / n as u32,
    }
}

fn fmt(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}

fn time_each<T>(items: &[T], mut f: impl FnMut(&T)) -> Lat {
    let mut samples = Vec::with_capacity(items.len());
    for it in items {
        let t = Instant::now();
        f(it);
        samples.push(t.elapsed());
    }
    latencies(samples)
}

fn throughput<T>(items: &[T], rounds: usize, mut f: impl FnMut(&T)) -> f64 {
    let t = Instant::now();
    for _ in 0..rounds {
        for it in items {
            f(it);
        }
    }
    (items.len() * rounds) as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let args = Args::parse();
    let n = args.subjects;
    let q = args.queries as usize;
    let sqlite = !args.no_sqlite;
    let seed = 42;
    say!("# dsr-match report: {n} subjects, {q} queries per measure, one core");
    say!(
        "machine: {} cores; {}",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        cpu_model()
    );

    // Index build.
    let rss0 = rss_bytes();
    let t = Instant::now();
    let mut dir = Directory::new(MatchConfig::default()).expect("no region");
    let mut gen_time = Duration::ZERO;
    for i in 0..n {
        let g = Instant::now();
        let p = person(seed, i);
        gen_time += g.elapsed();
        dir.upsert(p.subject).expect("valid");
    }
    let build = t.elapsed() - gen_time;
    let rss1 = rss_bytes();
    let mem = dir.index().memory();
    say!("\n## Index");
    say!(
        "build: {:.2} s for {n} contacts ({:.1} µs per upsert: validation, normalization, index and the directory's copy)",
        build.as_secs_f64(),
        build.as_secs_f64() * 1e6 / n as f64,
    );
    say!(
        "index memory (counted): {:.0} bytes/contact (exact table {:.1} B/contact for {} keys = {:.1} B/key; slots {:.0}; name tokens {:.0}; address tokens {:.0})",
        mem.total() as f64 / n as f64,
        mem.exact_bytes as f64 / n as f64,
        mem.exact_keys,
        mem.exact_bytes as f64 / mem.exact_keys.max(1) as f64,
        mem.slot_bytes as f64 / n as f64,
        mem.name_bytes as f64 / n as f64,
        mem.address_bytes as f64 / n as f64,
    );
    say!(
        "packed subjects (counted): {:.0} bytes/contact",
        dir.subject_bytes() as f64 / n as f64
    );
    say!(
        "process RSS growth: {:.0} bytes/contact (index + the directory's packed subjects, allocator overhead included)",
        (rss1.saturating_sub(rss0)) as f64 / n as f64
    );
    say!(
        "transparent huge pages: {} of the process's memory (GLIBC_TUNABLES=glibc.malloc.hugetlb=1 asks for them; the kernel grants them when it has free 2 MiB pages)",
        huge_page_bytes().map_or_else(
            || "unknown (no /proc/self/smaps_rollup)".to_owned(),
            |b| format!("{:.0} %", b as f64 * 100.0 / rss1.max(1) as f64)
        )
    );

    let dsr_synth::QuerySet {
        emails,
        phones,
        names,
        addrs,
    } = dsr_synth::QuerySet::draw(seed, n, q, 7);

    say!("\n## Normalization throughput (per core)");
    let rounds = (200_000 / q).max(1);
    say!(
        "classify: {:.2} M/s",
        throughput(&names, rounds, |s| {
            std::hint::black_box(classify(s));
        }) / 1e6
    );
    say!(
        "email: {:.2} M/s",
        throughput(&emails, rounds, |s| {
            std::hint::black_box(normalize::email_keys(s).ok());
        }) / 1e6
    );
    say!(
        "name: {:.2} M/s",
        throughput(&names, rounds, |s| {
            std::hint::black_box(normalize::name_form(s));
        }) / 1e6
    );
    say!(
        "address: {:.2} M/s",
        throughput(&addrs, rounds, |s| {
            std::hint::black_box(normalize::address_form(s));
        }) / 1e6
    );
    say!(
        "phone: {:.3} M/s",
        throughput(&phones, (rounds / 10).max(1), |s| {
            std::hint::black_box(normalize::phone_keys(s, None).ok());
        }) / 1e6
    );

    say!("\n## Lookup latency (classify + normalize + lookup + evidence), {q} queries");
    let opts = SearchOptions::default();
    let mk = |v: &String| Term::bare(v.clone()).expect("non-empty");
    let email_terms: Vec<Term> = emails.iter().map(mk).collect();
    let phone_terms: Vec<Term> = phones
        .iter()
        .map(|v| Term::typed(TermType::Phone, v.clone()).expect("ok"))
        .collect();
    let name_terms: Vec<Term> = names
        .iter()
        .map(|v| Term::typed(TermType::Name, v.clone()).expect("ok"))
        .collect();
    let addr_terms: Vec<Term> = addrs
        .iter()
        .map(|v| Term::typed(TermType::Address, v.clone()).expect("ok"))
        .collect();
    let rows = [
        (
            "email (exact)",
            time_each(&email_terms, |t| {
                std::hint::black_box(dir.search(t, &opts).ok());
            }),
        ),
        (
            "phone (exact)",
            time_each(&phone_terms, |t| {
                std::hint::black_box(dir.search(t, &opts).ok());
            }),
        ),
        (
            "name (fuzzy, any order)",
            time_each(&name_terms, |t| {
                std::hint::black_box(dir.search(t, &opts).ok());
            }),
        ),
        (
            "address (fuzzy)",
            time_each(&addr_terms, |t| {
                std::hint::black_box(dir.search(t, &opts).ok());
            }),
        ),
    ];
    say!("| query | p50 | p99 | mean |\n|---|---:|---:|---:|");
    for (label, l) in &rows {
        say!(
            "| dsr-match {label} | {} | {} | {} |",
            fmt(l.p50),
            fmt(l.p99),
            fmt(l.mean)
        );
    }

    if sqlite {
        let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
        conn.execute_batch(
            "CREATE TABLE s (id TEXT PRIMARY KEY, email TEXT, phone TEXT, name TEXT) WITHOUT ROWID;
             CREATE INDEX s_email ON s (email); CREATE INDEX s_phone ON s (phone);
             CREATE VIRTUAL TABLE s_names USING fts5 (id UNINDEXED, name, tokenize = 'unicode61 remove_diacritics 2');",
        )
        .expect("schema");
        let t = Instant::now();
        let tx = conn.unchecked_transaction().expect("tx");
        {
            let mut ins = tx
                .prepare("INSERT INTO s VALUES (?1, ?2, ?3, ?4)")
                .expect("prep");
            let mut fts = tx
                .prepare("INSERT INTO s_names (id, name) VALUES (?1, ?2)")
                .expect("prep");
            for i in 0..n {
                let p = person(seed, i);
                let s = &p.subject;
                let phone: String = s.phones[0]
                    .chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+')
                    .collect();
                ins.execute(rusqlite::params![
                    s.id.as_str(),
                    s.emails[0].to_lowercase(),
                    phone,
                    s.names[0]
                ])
                .expect("ins");
                fts.execute(rusqlite::params![s.id.as_str(), s.names[0]])
                    .expect("fts");
            }
        }
        tx.commit().expect("commit");
        say!(
            "\nSQLite baseline build: {:.2} s (B-tree indexes on lower(email), phone digits; FTS5 on names)",
            t.elapsed().as_secs_f64()
        );
        let mut by_email = conn
            .prepare("SELECT id FROM s WHERE email = lower(trim(?1))")
            .expect("prep");
        let mut by_phone = conn
            .prepare("SELECT id FROM s WHERE phone = ?1")
            .expect("prep");
        let mut by_name = conn
            .prepare("SELECT id FROM s_names WHERE s_names MATCH ?1 LIMIT 20")
            .expect("prep");
        let digits: Vec<String> = phones
            .iter()
            .map(|p| {
                p.chars()
                    .filter(|c| c.is_ascii_digit() || *c == '+')
                    .collect()
            })
            .collect();
        let fts_q: Vec<String> = names
            .iter()
            .map(|n| {
                n.split_whitespace()
                    .map(|w| format!("\"{}\"", w.replace('"', "")))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            })
            .collect();
        let e = time_each(&emails, |v| {
            let _ = by_email
                .query_map([v], |r| r.get::<_, String>(0))
                .map(|it| it.count());
        });
        let p = time_each(&digits, |v| {
            let _ = by_phone
                .query_map([v], |r| r.get::<_, String>(0))
                .map(|it| it.count());
        });
        let nm = time_each(&fts_q, |v| {
            let _ = by_name
                .query_map([v], |r| r.get::<_, String>(0))
                .map(|it| it.count());
        });
        say!(
            "| query | p50 | p99 | mean | dsr-match mean ÷ SQLite mean |\n|---|---:|---:|---:|---:|"
        );
        for (label, l, ours) in [
            ("email = lower(?) (B-tree)", e, &rows[0].1),
            ("phone = ? (B-tree, same written form only)", p, &rows[1].1),
            ("name FTS5 MATCH (exact tokens, no typos)", nm, &rows[2].1),
        ] {
            say!(
                "| SQLite {label} | {} | {} | {} | {:.2} |",
                fmt(l.p50),
                fmt(l.p99),
                fmt(l.mean),
                ours.mean.as_secs_f64() / l.mean.as_secs_f64()
            );
        }
    }

    if !args.no_snapshot {
        snapshot_section(&dir, [&email_terms, &phone_terms, &name_terms, &addr_terms]);
    }
}

/// Writes the directory as a snapshot to a temporary file, reads it back, and checks
/// that the copy answers every query like the original.
fn snapshot_section(dir: &Directory, terms: [&[Term]; 4]) {
    say!(
        "\n## Snapshot (write, then read back in bulk: what a cold start costs instead of a rebuild)"
    );
    let path = std::env::temp_dir().join(format!(
        "dsr-matching-report-{}.dsrindex",
        std::process::id()
    ));
    let t = Instant::now();
    let written = std::fs::File::create(&path)
        .map(std::io::BufWriter::new)
        .and_then(|f| dir.write_snapshot(f, b"matching-report"))
        .and_then(|f| f.into_inner().map_err(|e| e.into_error()))
        .and_then(|f| f.sync_all());
    let write = t.elapsed();
    if let Err(e) = written {
        say!("cannot write {}: {e}", path.display());
        return;
    }
    let size = std::fs::metadata(&path).map_or(0, |m| m.len());
    let t = Instant::now();
    let bytes = std::fs::read(&path);
    let read = t.elapsed();
    let _ = std::fs::remove_file(&path);
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            say!("cannot read {}: {e}", path.display());
            return;
        }
    };
    let t = Instant::now();
    let loaded = Directory::from_snapshot(&bytes);
    let parse = t.elapsed();
    drop(bytes);
    let copy = match loaded {
        Ok((d, _)) => d,
        Err(e) => {
            say!("cannot read the snapshot back: {e}");
            return;
        }
    };
    let n = dir.len().max(1) as f64;
    say!(
        "size {:.0} MB ({:.0} B/contact); write {:.2} s (with fsync); read {:.2} s (page cache); load {:.2} s ({:.2} µs/contact)",
        size as f64 / 1e6,
        size as f64 / n,
        write.as_secs_f64(),
        read.as_secs_f64(),
        parse.as_secs_f64(),
        parse.as_secs_f64() * 1e6 / n
    );
    let opts = SearchOptions::default();
    let answer = |d: &Directory, t: &Term| {
        d.search(t, &opts).ok().map(|r| {
            r.matches
                .iter()
                .map(|m| (m.subject_id.to_string(), m.score))
                .collect::<Vec<_>>()
        })
    };
    let all: Vec<&Term> = terms.iter().flat_map(|t| t.iter()).collect();
    let same = all
        .iter()
        .filter(|t| answer(dir, t) == answer(&copy, t))
        .count();
    say!(
        "the copy answers {same} of {} queries exactly like the original",
        all.len()
    );
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
