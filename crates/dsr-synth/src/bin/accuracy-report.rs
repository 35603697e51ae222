//! The accuracy report: how well `dsr-match` finds a person from a corrupted name or
//! address, beside two peers a user would otherwise reach for, on one corpus in one run.
//!
//! ```text
//! cargo run --release -p dsr-synth --bin accuracy-report -- \
//!     [--subjects N] [--queries Q] [--seed S] [--python PATH] [--no-peers] [--out FILE]
//! ```
//!
//! The corruptions come from [`dsr_synth::corrupt`] (published error models, sharing no
//! code with the matcher); `Q` queries are drawn per corruption kind, and one in five
//! more for a person who is not in the directory.
//!
//! Definitions, the same for every system:
//! - a result is *equivalent* to the person when it is the person, or has the same stored
//!   value (a namesake, a housemate), or its stored value is exactly what was typed:
//!   such results are indistinguishable from the person by this one value (G-13
//!   correlates several identifiers for that);
//! - the person's *rank* is one plus the number of non-equivalent results above it;
//!   when the person is not listed but every result is equivalent and the limit was
//!   reached, the rank is 1 (more namesakes than the limit);
//!   for a query that leaves a part out (an initial, no house number), people who differ
//!   only in that part are equivalent too;
//! - *recall@k*: rank ≤ k; *found*: listed at all (within the limit of 200);
//! - *results/query*: the mean number of results returned;
//! - *strong FP*: results the system presents as certain that are not equivalent — for
//!   dsr `strong` confidence, for RapidFuzz a WRatio ≥ 95, FTS5 has no such notion.
//!
//! Peers: RapidFuzz (`fuzz.WRatio` over every stored value, brute force, results with a
//! score ≥ 60) run by Python with the `rapidfuzz` package (`--python`, default
//! `python3`; skipped with a message if absent), and SQLite FTS5 with the trigram
//! tokenizer (diacritics removed), the query's trigrams OR-ed and ranked by bm25.

use clap::Parser;
use dsr_match::{Confidence, Directory, MatchConfig, SearchOptions};
use dsr_model::Term;
use dsr_synth::corpus::{self, OMISSIONS, stored_value};
use dsr_synth::corrupt::{self, KINDS, Target, same_value_key};
use dsr_synth::{LOCALES, Person, Rng, person, say};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Instant;

/// Most results per query, as a user would ask for.
const LIMIT: usize = 200;
/// RapidFuzz results below this WRatio are not results.
const RF_CUTOFF: f64 = 60.0;
/// RapidFuzz results at or above this WRatio look certain to a user.
const RF_STRONG: f64 = 95.0;

/// How well dsr-match finds a person from a corrupted name or address, beside SQLite
/// FTS5 trigrams and RapidFuzz, on one corpus in one run.
#[derive(Debug, Parser)]
#[command(name = "accuracy-report", version, about)]
struct Args {
    /// How many synthetic subjects to index.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..))]
    subjects: u64,
    /// Queries per corruption kind (one in five more for absent people).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    queries: u64,
    /// Seed of the corpus: the same seed gives the same subjects and queries.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Python with the `rapidfuzz` package, for the RapidFuzz columns.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Leave out both peers' columns.
    #[arg(long)]
    no_peers: bool,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    out: Option<String>,
}

/// One query of the corpus.
struct Q {
    /// "name", "address", "email", "phone", "handle".
    field: &'static str,
    corruption: &'static str,
    term: Term,
    region: Option<String>,
    /// The person asked for: an index into `people` when present.
    target: Option<usize>,
    /// The asked-for person's stored value key (also for absent persons).
    truth_key: String,
    locale: usize,
}

/// One result of a system: person index, whether presented as certain, and for dsr the
/// score and confidence (for the calibration table).
#[derive(Clone, Copy)]
struct R {
    idx: usize,
    strong: bool,
    score: f32,
    confidence: Option<Confidence>,
}

#[derive(Default, Clone)]
struct Stats {
    queries: usize,
    at1: usize,
    at10: usize,
    found: usize,
    results: usize,
    strong_fp: usize,
    absent: usize,
    absent_results: usize,
    absent_strong_fp: usize,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.queries += o.queries;
        self.at1 += o.at1;
        self.at10 += o.at10;
        self.found += o.found;
        self.results += o.results;
        self.strong_fp += o.strong_fp;
        self.absent += o.absent;
        self.absent_results += o.absent_results;
        self.absent_strong_fp += o.absent_strong_fp;
    }
}

fn pct(a: usize, b: usize) -> String {
    if b == 0 {
        "–".into()
    } else {
        format!("{:.1}", 100.0 * a as f64 / b as f64)
    }
}

fn person_index(id: &str) -> Option<usize> {
    id.split_once('-')?.1.parse().ok()
}

/// Scores one system's results for one query. `calib` collects (score, confidence,
/// equivalent) for dsr.
fn evaluate(
    q: &Q,
    results: &[R],
    keys: &dyn Fn(usize) -> String,
    strong_notion: bool,
    calib: Option<&mut Vec<(f32, Confidence, bool)>>,
) -> Stats {
    let typed = same_value_key(&q.term.value);
    let equivalent = |r: &R| {
        Some(r.idx) == q.target || {
            let k = keys(r.idx);
            !k.is_empty() && (k == q.truth_key || k == typed)
        }
    };
    let mut st = Stats::default();
    let fp = results
        .iter()
        .filter(|r| r.strong && !equivalent(r))
        .count();
    if let Some(c) = calib {
        for r in results {
            if let Some(conf) = r.confidence {
                c.push((r.score, conf, equivalent(r)));
            }
        }
    }
    match q.target {
        Some(t) => {
            st.queries = 1;
            st.results = results.len();
            st.strong_fp = if strong_notion { fp } else { 0 };
            let mut ahead = 0;
            let mut rank = None;
            for r in results {
                if r.idx == t {
                    rank = Some(ahead + 1);
                    break;
                }
                if !equivalent(r) {
                    ahead += 1;
                }
            }
            if rank.is_none() && results.len() >= LIMIT && results.iter().all(equivalent) {
                rank = Some(1);
            }
            if let Some(r) = rank {
                st.found = 1;
                st.at1 = usize::from(r == 1);
                st.at10 = usize::from(r <= 10);
            }
        }
        None => {
            st.absent = 1;
            st.absent_results = results.iter().filter(|r| !equivalent(r)).count();
            st.absent_strong_fp = if strong_notion { fp } else { 0 };
        }
    }
    st
}

fn fts_query(s: &str) -> Option<String> {
    let lower: String = s
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let cs: Vec<char> = lower.chars().collect();
    if cs.len() < 3 {
        return None;
    }
    let mut grams: Vec<String> = cs.windows(3).map(|w| w.iter().collect()).collect();
    grams.sort();
    grams.dedup();
    Some(
        grams
            .iter()
            .map(|g| format!("\"{}\"", g.replace('"', "\"\"")))
            .collect::<Vec<_>>()
            .join(" OR "),
    )
}

fn run_fts(people: &[Person], queries: &[Q]) -> Vec<Option<Vec<R>>> {
    let conn = rusqlite::Connection::open_in_memory().expect("sqlite");
    conn.execute_batch(
        "CREATE VIRTUAL TABLE names USING fts5(v, tokenize = 'trigram remove_diacritics 1');
         CREATE VIRTUAL TABLE addrs USING fts5(v, tokenize = 'trigram remove_diacritics 1');",
    )
    .expect("fts5 trigram");
    {
        let tx = conn.unchecked_transaction().expect("tx");
        let mut n = tx
            .prepare("INSERT INTO names(rowid, v) VALUES (?1, ?2)")
            .expect("prepare");
        let mut a = tx
            .prepare("INSERT INTO addrs(rowid, v) VALUES (?1, ?2)")
            .expect("prepare");
        for (i, p) in people.iter().enumerate() {
            n.execute(rusqlite::params![i as i64, p.subject.names[0]])
                .expect("insert");
            a.execute(rusqlite::params![i as i64, p.subject.addresses[0]])
                .expect("insert");
        }
        drop((n, a));
        tx.commit().expect("commit");
    }
    let mut sn = conn
        .prepare(&format!(
            "SELECT rowid FROM names WHERE names MATCH ?1 ORDER BY rank LIMIT {LIMIT}"
        ))
        .expect("prepare");
    let mut sa = conn
        .prepare(&format!(
            "SELECT rowid FROM addrs WHERE addrs MATCH ?1 ORDER BY rank LIMIT {LIMIT}"
        ))
        .expect("prepare");
    queries
        .iter()
        .map(|q| {
            let stmt = match q.field {
                "name" => &mut sn,
                "address" => &mut sa,
                _ => return None,
            };
            let Some(m) = fts_query(&q.term.value) else {
                return Some(Vec::new());
            };
            let rows = stmt
                .query_map([m], |r| r.get::<_, i64>(0))
                .expect("fts query")
                .filter_map(|r| r.ok())
                .map(|i| R {
                    idx: i as usize,
                    strong: false,
                    score: 0.0,
                    confidence: None,
                })
                .collect();
            Some(rows)
        })
        .collect()
}

/// Runs the RapidFuzz peer; `Err` says why it could not run.
fn run_rapidfuzz(
    python: &str,
    people: &[Person],
    queries: &[Q],
) -> Result<Vec<Option<Vec<R>>>, String> {
    let check = std::process::Command::new(python)
        .args(["-c", "import rapidfuzz"])
        .output();
    match check {
        Ok(o) if o.status.success() => {}
        _ => {
            return Err(format!(
                "{python} cannot import rapidfuzz. To include the RapidFuzz columns: \
                 python3 -m venv target/pyvenv && target/pyvenv/bin/pip install rapidfuzz, \
                 then pass --python target/pyvenv/bin/python"
            ));
        }
    }
    let dir = std::env::temp_dir().join(format!("dsr-accuracy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let script = dir.join("rapidfuzz_peer.py");
    std::fs::write(&script, include_str!("rapidfuzz_peer.py")).map_err(|e| e.to_string())?;
    let mut out: Vec<Option<Vec<R>>> = vec![None; queries.len()];
    for field in ["name", "address"] {
        let choices = dir.join(format!("{field}.choices"));
        let qs = dir.join(format!("{field}.queries"));
        let res = dir.join(format!("{field}.out"));
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(&choices).map_err(|e| e.to_string())?);
        for p in people {
            writeln!(f, "{}", stored_value(p, field).replace(['\n', '\t'], " "))
                .map_err(|e| e.to_string())?;
        }
        drop(f);
        let mut f = std::io::BufWriter::new(std::fs::File::create(&qs).map_err(|e| e.to_string())?);
        for (i, q) in queries.iter().enumerate().filter(|(_, q)| q.field == field) {
            writeln!(f, "{i}\t{}", q.term.value.replace(['\n', '\t'], " "))
                .map_err(|e| e.to_string())?;
        }
        drop(f);
        let status = std::process::Command::new(python)
            .arg(&script)
            .arg(&choices)
            .arg(&qs)
            .arg(&res)
            .arg(LIMIT.to_string())
            .arg(RF_CUTOFF.to_string())
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("the RapidFuzz script failed ({status})"));
        }
        let text = std::fs::read_to_string(&res).map_err(|e| e.to_string())?;
        for line in text.lines() {
            let (qi, rest) = line.split_once('\t').unwrap_or((line, ""));
            let Ok(qi) = qi.parse::<usize>() else {
                continue;
            };
            let rs = rest
                .split_whitespace()
                .filter_map(|t| {
                    let (i, s) = t.split_once(':')?;
                    let s: f64 = s.parse().ok()?;
                    Some(R {
                        idx: i.parse().ok()?,
                        strong: s >= RF_STRONG,
                        score: s as f32,
                        confidence: None,
                    })
                })
                .collect();
            out[qi] = Some(rs);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(out)
}

fn main() {
    let args = Args::parse();
    let n = args.subjects;
    let qn = args.queries as usize;
    let seed = args.seed;
    let python = args.python.clone();
    let started = Instant::now();
    let mut dir = Directory::new(MatchConfig::default()).expect("no region");
    let people: Vec<Person> = (0..n).map(|i| person(seed, i)).collect();
    for p in &people {
        dir.upsert(p.subject.clone())
            .expect("generated subjects are valid");
    }
    eprintln!(
        "indexed {n} subjects in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // The queries: per corruption kind, `qn` for people in the directory and one in
    // five more for people who are not; the exact identifiers as before.
    let mut rng = Rng::new(seed ^ 0xACC);
    let mut queries: Vec<Q> = Vec::new();
    let absent_person = |rng: &mut Rng| person(seed, n + rng.below(qn.max(1) * 1000) as u64);
    for q in corpus::queries(&mut rng, seed, &people, qn) {
        queries.push(Q {
            field: q.field,
            corruption: q.corruption,
            term: q.term,
            region: None,
            target: q.target,
            truth_key: q.truth_key,
            locale: q.locale,
        });
    }
    type Gen = fn(&mut Rng, &Person) -> Option<dsr_synth::Query>;
    let exact: [(&str, Gen); 3] = [
        ("email", |r, p| Some(dsr_synth::email_query(r, p))),
        ("phone", |r, p| Some(dsr_synth::phone_query(r, p))),
        ("handle", dsr_synth::handle_query),
    ];
    for (field, generate) in exact {
        let total = qn * 4;
        let (mut done, mut tries) = (0, 0);
        while done < total && tries < total * 20 {
            tries += 1;
            let present = done % 5 != 4;
            let (p, target) = if present {
                let i = rng.below(n as usize);
                (people[i].clone(), Some(i))
            } else {
                (absent_person(&mut rng), None)
            };
            let Some(q) = generate(&mut rng, &p) else {
                continue;
            };
            done += 1;
            queries.push(Q {
                field,
                corruption: q.corruption,
                term: q.term,
                region: q.region,
                target,
                truth_key: String::new(),
                locale: p.locale,
            });
        }
    }
    eprintln!("{} queries", queries.len());

    // dsr
    let t = Instant::now();
    let dsr: Vec<Option<Vec<R>>> = queries
        .iter()
        .map(|q| {
            let opts = SearchOptions {
                region: q.region.clone(),
                limit: LIMIT,
                min_score: 0.5,
            };
            let r = dir.search(&q.term, &opts).expect("valid query");
            Some(
                r.matches
                    .iter()
                    .filter_map(|m| {
                        Some(R {
                            idx: person_index(m.subject_id.as_str())?,
                            strong: m.confidence == Confidence::Strong,
                            score: m.score,
                            confidence: Some(m.confidence),
                        })
                    })
                    .collect(),
            )
        })
        .collect();
    let dsr_secs = t.elapsed().as_secs_f64();
    eprintln!("dsr: {dsr_secs:.1}s");
    let no_peers = args.no_peers;
    let t = Instant::now();
    let fts = if no_peers {
        vec![None; queries.len()]
    } else {
        run_fts(&people, &queries)
    };
    let fts_secs = t.elapsed().as_secs_f64();
    eprintln!("FTS5: {fts_secs:.1}s");
    let t = Instant::now();
    let rf_run = if no_peers {
        Err("--no-peers was given".to_string())
    } else {
        run_rapidfuzz(&python, &people, &queries)
    };
    let (rf, rf_note) = match rf_run {
        Ok(r) => (r, None),
        Err(e) => {
            eprintln!("RapidFuzz columns skipped: {e}");
            (vec![None; queries.len()], Some(e))
        }
    };
    let rf_secs = t.elapsed().as_secs_f64();
    eprintln!("RapidFuzz: {rf_secs:.1}s");

    // Scoring
    let name_keys: Vec<String> = people
        .iter()
        .map(|p| same_value_key(&p.subject.names[0]))
        .collect();
    let addr_keys: Vec<String> = people
        .iter()
        .map(|p| same_value_key(&p.subject.addresses[0]))
        .collect();
    let none = |_: usize| String::new();
    let by_name = |i: usize| name_keys.get(i).cloned().unwrap_or_default();
    let by_addr = |i: usize| addr_keys.get(i).cloned().unwrap_or_default();
    type Key<'a> = (usize, &'static str, &'static str);
    let mut per_kind: BTreeMap<Key, Stats> = BTreeMap::new();
    let mut per_locale: BTreeMap<Key, Stats> = BTreeMap::new();
    let mut per_field: BTreeMap<Key, Stats> = BTreeMap::new();
    let mut calib: Vec<(f32, Confidence, bool)> = Vec::new();
    let mut misses: Vec<String> = Vec::new();
    let mut fps: Vec<String> = Vec::new();
    for (qi, q) in queries.iter().enumerate() {
        // A query that leaves a part out ("J. Dupont", no house number) cannot tell
        // apart the people who differ only in that part: compare what the same omission
        // gives for each result.
        let omitted = |i: usize| {
            let p = &people[i];
            let v = match q.field {
                "name" => corrupt::corrupt_name(&mut Rng::new(0), p, q.corruption),
                _ => corrupt::corrupt_address(&mut Rng::new(0), p, q.corruption),
            };
            v.map(|v| same_value_key(&v)).unwrap_or_default()
        };
        let keys: &dyn Fn(usize) -> String = match q.field {
            _ if OMISSIONS.contains(&q.corruption) => &omitted,
            "name" => &by_name,
            "address" => &by_addr,
            _ => &none,
        };
        for (si, res) in [&dsr[qi], &rf[qi], &fts[qi]].into_iter().enumerate() {
            let Some(res) = res else { continue };
            let st = evaluate(
                q,
                res,
                keys,
                si != 2,
                if si == 0 { Some(&mut calib) } else { None },
            );
            if si == 0 {
                if st.queries == 1 && st.at10 == 0 && misses.len() < 40 {
                    misses.push(format!(
                        "{} [{}] {:?} (is {:?}) → {}",
                        q.field,
                        q.corruption,
                        q.term.value,
                        q.target
                            .map(|t| stored_value(&people[t], q.field))
                            .unwrap_or_default(),
                        if st.found == 1 {
                            "found below rank 10"
                        } else {
                            "not found"
                        }
                    ));
                }
                if st.strong_fp + st.absent_strong_fp > 0 && fps.len() < 20 {
                    let fp = res
                        .iter()
                        .find(|r| r.strong)
                        .map(|r| stored_value(&people[r.idx], q.field));
                    fps.push(format!(
                        "{} [{}] {:?} → {:?}",
                        q.field, q.corruption, q.term.value, fp
                    ));
                }
            }
            per_kind
                .entry((si, q.field, q.corruption))
                .or_default()
                .add(&st);
            per_locale
                .entry((si, q.field, LOCALES[q.locale].code))
                .or_default()
                .add(&st);
            per_field.entry((si, q.field, "")).or_default().add(&st);
        }
    }

    // Output
    let mut out = String::new();
    let _ = writeln!(out, "# dsr-match accuracy report\n");
    let _ = writeln!(
        out,
        "Corpus: {n} generated subjects (seed {seed}) in {} locales ({}). Per corruption kind, {qn} name or address queries for people in the directory and {} for people who are not; {} queries per exact identifier kind, one in five absent. Regenerate with `python3 -m venv target/pyvenv && target/pyvenv/bin/pip install rapidfuzz` (once, for the RapidFuzz columns) and `cargo run --release -p dsr-synth --bin accuracy-report -- --subjects {n} --queries {qn} --seed {seed} --python target/pyvenv/bin/python --out docs/accuracy.md`. Definitions are in `crates/dsr-synth/src/bin/accuracy-report.rs`; the corruption model and its sources are in `crates/dsr-synth/src/corrupt.rs` and summarised in `docs/accuracy.md` under *Corruption model*.\n",
        LOCALES.len(),
        LOCALES
            .iter()
            .map(|l| l.code)
            .collect::<Vec<_>>()
            .join(", "),
        qn / 4,
        qn * 4,
    );
    let _ = writeln!(
        out,
        "Systems, same queries, same run: **dsr** (this crate, limit {LIMIT}, min score 0.5); **RapidFuzz** (`fuzz.WRatio` brute force over every stored value, results ≥ {RF_CUTOFF}, \"strong\" = ≥ {RF_STRONG}); **FTS5** (SQLite trigram tokenizer, query trigrams OR-ed, bm25 order). Time for all queries: dsr {dsr_secs:.1} s, RapidFuzz {rf_secs:.1} s, FTS5 {fts_secs:.1} s.\n"
    );
    if let Some(note) = &rf_note {
        let _ = writeln!(out, "**RapidFuzz was not run**: {note}.\n");
    }
    let row = |st: Option<&Stats>, strong: bool| -> String {
        match st {
            Some(s) if s.queries > 0 => format!(
                "{} | {} | {} | {:.1} | {}",
                pct(s.at1, s.queries),
                pct(s.at10, s.queries),
                pct(s.found, s.queries),
                s.results as f64 / s.queries as f64,
                if strong {
                    (s.strong_fp + s.absent_strong_fp).to_string()
                } else {
                    "–".into()
                }
            ),
            _ => "– | – | – | – | –".into(),
        }
    };
    let header = |first: &[&str]| {
        format!(
            "| {} | queries | dsr @1 | @10 | found | res/q | strong FP | RapidFuzz @1 | @10 | found | res/q | strong FP | FTS5 @1 | @10 | found | res/q | strong FP |\n|{}---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            first.join(" | "),
            "---|".repeat(first.len())
        )
    };
    let _ = writeln!(
        out,
        "## Summary by field\n\n@1, @10, found: % of queries for people in the directory; res/q: mean results per query; strong FP: results presented as certain that are someone else, over present and absent persons (a count).\n"
    );
    let _ = writeln!(out, "{}", header(&["field"]));
    for field in ["name", "address", "email", "phone", "handle"] {
        let s0 = per_field.get(&(0, field, ""));
        let Some(q) = s0.map(|s| s.queries) else {
            continue;
        };
        let _ = writeln!(
            out,
            "| {field} | {q} | {} | {} | {} |",
            row(s0, true),
            row(per_field.get(&(1, field, "")), true),
            row(per_field.get(&(2, field, "")), false)
        );
    }
    let _ = writeln!(out, "\n## By corruption kind\n");
    let _ = writeln!(out, "{}", header(&["field", "kind"]));
    let mut kinds: Vec<(&str, &str)> = per_kind
        .keys()
        .filter(|k| k.0 == 0)
        .map(|k| (k.1, k.2))
        .collect();
    kinds.sort_by_key(|(f, _)| {
        ["name", "address", "email", "phone", "handle"]
            .iter()
            .position(|x| x == f)
    });
    for (field, c) in kinds {
        let s0 = per_kind.get(&(0, field, c));
        let _ = writeln!(
            out,
            "| {field} | {c} | {} | {} | {} | {} |",
            s0.map_or(0, |s| s.queries),
            row(s0, true),
            row(per_kind.get(&(1, field, c)), true),
            row(per_kind.get(&(2, field, c)), false)
        );
    }
    let _ = writeln!(out, "\n## By locale (names and addresses)\n");
    let _ = writeln!(out, "{}", header(&["field", "locale"]));
    for field in ["name", "address"] {
        for l in LOCALES {
            let s0 = per_locale.get(&(0, field, l.code));
            let _ = writeln!(
                out,
                "| {field} | {} | {} | {} | {} | {} |",
                l.code,
                s0.map_or(0, |s| s.queries),
                row(s0, true),
                row(per_locale.get(&(1, field, l.code)), true),
                row(per_locale.get(&(2, field, l.code)), false)
            );
        }
    }
    // Calibration of dsr's scores and labels.
    let _ = writeln!(
        out,
        "\n## Calibration of dsr's scores (every result of every name and address query)\n\nA name or address result's score is the probability, from `dsr_match::calibration`'s logistic model, that it is the person asked for. The model was fitted on another seed's subjects and queries (`fit-calibration`, see `crates/dsr-match/src/calibration/model.rs`); these are held-out queries. A result is *right* when it is equivalent to the person asked for (see above). Calibrated means the two right-hand columns agree.\n\n| score | results | mean score | right |\n|---|---:|---:|---:|"
    );
    for b in (0..10).rev() {
        let lo = b as f32 / 10.0;
        let hi = lo + 0.1;
        let inb: Vec<_> = calib
            .iter()
            .filter(|c| c.0 >= lo && (c.0 < hi || b == 9))
            .collect();
        let right = inb.iter().filter(|c| c.2).count();
        let mean = inb.iter().map(|c| f64::from(c.0)).sum::<f64>() / inb.len().max(1) as f64;
        let _ = writeln!(
            out,
            "| {lo:.1}–{:.1} | {} | {} | {}% |",
            hi.min(1.0),
            inb.len(),
            if inb.is_empty() {
                "–".to_string()
            } else {
                format!("{:.1}%", 100.0 * mean)
            },
            pct(right, inb.len())
        );
    }
    let _ = writeln!(
        out,
        "\nPrecision of each confidence label (share of the results with that label that are right):\n\n| confidence | results | right |\n|---|---:|---:|"
    );
    for c in [Confidence::Strong, Confidence::Probable, Confidence::Weak] {
        let inb: Vec<_> = calib.iter().filter(|x| x.1 == c).collect();
        let right = inb.iter().filter(|x| x.2).count();
        let _ = writeln!(out, "| {c} | {} | {}% |", inb.len(), pct(right, inb.len()));
    }
    if !misses.is_empty() {
        let _ = writeln!(out, "\n## Sample of dsr misses (not in the first 10)\n");
        for m in &misses {
            let _ = writeln!(out, "- `{m}`");
        }
    }
    if !fps.is_empty() {
        let _ = writeln!(out, "\n## Sample of dsr strong false positives\n");
        for m in &fps {
            let _ = writeln!(out, "- `{m}`");
        }
    }
    let _ = writeln!(
        out,
        "\n## Corruption model\n\n| field | kind | after |\n|---|---|---|"
    );
    for k in KINDS {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            match k.target {
                Target::Name => "name",
                Target::Address => "address",
            },
            k.name,
            k.source
        );
    }
    out.push_str(include_str!("accuracy-notes.md"));
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &out) {
                eprintln!("error: cannot write {path}: {e}");
                std::process::exit(2);
            }
            eprintln!("wrote {path}");
        }
        None => say!("{}", out.trim_end_matches('\n')),
    }
    eprintln!("done in {:.1}s", started.elapsed().as_secs_f64());
}
