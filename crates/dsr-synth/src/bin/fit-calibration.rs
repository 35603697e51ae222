//! Fits the calibration model of `dsr_match::calibration`: a logistic regression of
//! "this result is the person asked for" on the features dsr-match computes for every
//! name and address result, over the accuracy corpus of one seed (by default 7; the
//! accuracy report measures seed 42, so its calibration table is on held-out data).
//!
//! ```text
//! cargo run --release -p dsr-synth --bin fit-calibration -- \
//!     [--subjects N] [--queries Q] [--seed S] [--out crates/dsr-match/src/calibration/model.rs]
//! ```
//!
//! Newton's method (iteratively reweighted least squares) with a small ridge penalty;
//! the model file it writes records the corpus it was fitted on.

// The matrix code indexes rows and columns as the algebra writes them.
#![allow(clippy::needless_range_loop)]

use clap::Parser;
use dsr_match::calibration::{FEATURE_NAMES, FEATURES, probability, recalibrate};
use dsr_match::{Directory, MatchConfig, SearchOptions};
use dsr_synth::corpus::{self, Judge};
use dsr_synth::{Person, Rng, person};
use std::fmt::Write as _;

/// Ridge penalty per sample: keeps weights of rare features finite.
const RIDGE: f64 = 1e-4;
/// Newton steps: the log-loss converges in well under this many.
const STEPS: usize = 25;
/// Bins of the isotonic map before pooling: each holds ~1/BINS of the results, enough
/// for a share right to within a few points.
const BINS: usize = 200;

/// Fit the calibration model of `dsr_match::calibration` on one seed's accuracy corpus.
#[derive(Debug, Parser)]
#[command(name = "fit-calibration", version, about)]
struct Args {
    /// How many synthetic subjects to index.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..))]
    subjects: u64,
    /// Queries per corruption kind.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    queries: u64,
    /// Seed of the corpus; the accuracy report measures seed 42, so fit on another.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Where to write the model's Rust source.
    #[arg(long, default_value = "crates/dsr-match/src/calibration/model.rs")]
    out: String,
}

/// Solves `a x = b` (a symmetric positive definite) by Gaussian elimination.
fn solve(mut a: [[f64; FEATURES]; FEATURES], mut b: [f64; FEATURES]) -> [f64; FEATURES] {
    for c in 0..FEATURES {
        let piv = (c..FEATURES)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap_or(c);
        a.swap(c, piv);
        b.swap(c, piv);
        let d = a[c][c];
        if d.abs() < 1e-12 {
            continue;
        }
        for r in 0..FEATURES {
            if r != c {
                let f = a[r][c] / d;
                if f != 0.0 {
                    for k in c..FEATURES {
                        a[r][k] -= f * a[c][k];
                    }
                    b[r] -= f * b[c];
                }
            }
        }
    }
    let mut x = [0.0; FEATURES];
    for i in 0..FEATURES {
        x[i] = if a[i][i].abs() < 1e-12 {
            0.0
        } else {
            b[i] / a[i][i]
        };
    }
    x
}

fn main() {
    let args = Args::parse();
    let n = args.subjects;
    let qn = args.queries as usize;
    let seed = args.seed;
    let out_path = args.out;
    let mut dir = Directory::new(MatchConfig::default()).expect("no region");
    let people: Vec<Person> = (0..n).map(|i| person(seed, i)).collect();
    for p in &people {
        dir.upsert(p.subject.clone()).expect("valid");
    }
    let mut rng = Rng::new(seed ^ 0xACC);
    let queries = corpus::queries(&mut rng, seed, &people, qn);
    let judge = Judge::new(&people);
    let opts = SearchOptions {
        region: None,
        limit: 200,
        min_score: 0.5,
    };
    let mut xs: Vec<[f32; FEATURES]> = Vec::new();
    let mut ys: Vec<bool> = Vec::new();
    for q in &queries {
        let r = dir.search(&q.term, &opts).expect("valid query");
        for m in &r.matches {
            let Some(f) = m.evidence.first().and_then(|e| e.features()) else {
                continue;
            };
            let Some(i) = m
                .subject_id
                .as_str()
                .split_once('-')
                .and_then(|(_, i)| i.parse::<usize>().ok())
            else {
                continue;
            };
            xs.push(*f.values());
            ys.push(judge.equivalent(q, i));
        }
    }
    let positives = ys.iter().filter(|y| **y).count();
    eprintln!(
        "{} queries, {} results, {positives} right",
        queries.len(),
        xs.len()
    );
    // IRLS.
    let mut w = [0.0f64; FEATURES];
    let lambda = RIDGE * xs.len() as f64;
    let mut loss = f64::NAN;
    for _ in 0..STEPS {
        let mut h = [[0.0f64; FEATURES]; FEATURES];
        let mut g = [0.0f64; FEATURES];
        let mut l = 0.0;
        for (x, &y) in xs.iter().zip(&ys) {
            let z: f64 = w.iter().zip(x).map(|(w, v)| w * f64::from(*v)).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            let t = if y { 1.0 } else { 0.0 };
            l -= if y {
                p.max(1e-12).ln()
            } else {
                (1.0 - p).max(1e-12).ln()
            };
            let s = (p * (1.0 - p)).max(1e-9);
            for i in 0..FEATURES {
                let xi = f64::from(x[i]);
                g[i] += (p - t) * xi;
                for j in i..FEATURES {
                    h[i][j] += s * xi * f64::from(x[j]);
                }
            }
        }
        for i in 0..FEATURES {
            for j in 0..i {
                h[i][j] = h[j][i];
            }
            if i > 0 {
                h[i][i] += lambda;
                g[i] += lambda * w[i];
            }
        }
        let step = solve(h, g);
        for i in 0..FEATURES {
            w[i] -= step[i];
        }
        loss = l / xs.len().max(1) as f64;
    }
    let wf: [f32; FEATURES] = w.map(|v| v as f32);
    eprintln!("mean log-loss {loss:.4}");
    // Isotonic regression of the outcome on the logistic output (pool adjacent
    // violators over bins of equal count): the knots of `recalibrate`.
    let mut ps: Vec<(f32, bool)> = xs
        .iter()
        .zip(&ys)
        .map(|(x, &y)| (probability(&wf, x), y))
        .collect();
    ps.sort_by(|a, b| a.0.total_cmp(&b.0));
    let per_bin = (ps.len() / BINS).max(1);
    // (sum of p, sum of y, count) per block
    let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
    for chunk in ps.chunks(per_bin) {
        let sp: f64 = chunk.iter().map(|c| f64::from(c.0)).sum();
        let sy: f64 = chunk.iter().map(|c| if c.1 { 1.0 } else { 0.0 }).sum();
        blocks.push((sp, sy, chunk.len() as f64));
        while blocks.len() >= 2 {
            let (a, b) = (blocks[blocks.len() - 2], blocks[blocks.len() - 1]);
            if a.1 / a.2 <= b.1 / b.2 {
                break;
            }
            blocks.pop();
            blocks.pop();
            blocks.push((a.0 + b.0, a.1 + b.1, a.2 + b.2));
        }
    }
    let mut knots: Vec<(f32, f32)> = blocks
        .iter()
        .map(|b| ((b.0 / b.2) as f32, (b.1 / b.2) as f32))
        .collect();
    knots.dedup_by(|a, b| a.0 <= b.0);
    // Calibration on the training data (the report shows it on held-out data).
    for b in (0..10).rev() {
        let lo = b as f32 / 10.0;
        let (mut k, mut right, mut sum) = (0usize, 0usize, 0.0f64);
        for (x, &y) in xs.iter().zip(&ys) {
            let p = recalibrate(&knots, probability(&wf, x));
            if p >= lo && (p < lo + 0.1 || b == 9) {
                k += 1;
                right += usize::from(y);
                sum += f64::from(p);
            }
        }
        eprintln!(
            "{lo:.1}–{:.1}: {k} results, mean {:.3}, right {:.3}",
            lo + 0.1,
            sum / k.max(1) as f64,
            right as f64 / k.max(1) as f64
        );
    }
    let mut src = String::new();
    let _ = writeln!(
        src,
        "//! Fitted weights of the calibration model. Written by\n//! `cargo run --release -p dsr-synth --bin fit-calibration -- --subjects {n} --queries {qn} --seed {seed}`;\n//! do not edit by hand. Fitted on {} results of {} queries ({positives} right), mean\n//! log-loss {loss:.4}.\n\nuse super::FEATURES;\n\n/// Weights, in the order of [`super::FEATURE_NAMES`].\npub const WEIGHTS: [f32; FEATURES] = [",
        xs.len(),
        queries.len()
    );
    // Trailing comments aligned as rustfmt aligns them.
    let width = wf
        .iter()
        .map(|v| format!("{v:?},").len())
        .max()
        .unwrap_or(0);
    for (name, v) in FEATURE_NAMES.iter().zip(wf) {
        let _ = writeln!(src, "    {:<width$} // {name}", format!("{v:?},"));
    }
    src.push_str("];\n\n/// `(logistic output, share right)`, increasing: the isotonic map of\n/// [`super::recalibrate`].\npub const KNOTS: [(f32, f32); ");
    let _ = writeln!(src, "{}] = [", knots.len());
    for (x, y) in &knots {
        let _ = writeln!(src, "    ({x:?}, {y:?}),");
    }
    src.push_str("];\n");
    if let Err(e) = std::fs::write(&out_path, src) {
        eprintln!("error: cannot write {out_path}: {e}");
        std::process::exit(2);
    }
    eprintln!("wrote {out_path}");
}
