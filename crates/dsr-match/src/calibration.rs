//! The probability that a name or address result is the person searched for.
//!
//! The index ranks by a similarity ([`crate::Evidence::score`]): how much of the query
//! and of the stored value agree, with caps for anything uncertain. A similarity is not
//! a probability — 0.8 means "most words agree", which in a directory of namesakes and
//! one-edit neighbours is right far less often than 8 times in 10. So each result is
//! described by [`Features`] (the similarity, how it matched, how rare the matched words
//! are, how many other results score as high) and a logistic model over them gives
//! [`crate::Match::score`].
//!
//! The model's weights ([`WEIGHTS`], in `calibration/model.rs`) are fitted by
//! `cargo run --release -p dsr-synth --bin fit-calibration` on generated subjects and
//! corrupted queries of one seed, and judged in `docs/accuracy.md` on another seed. The
//! fitting code lives in `dsr-synth`; this crate only evaluates the model (no IO).
//!
//! Identifier matches (email, phone, handle, ids) are not modelled: they are re-checked
//! on the stored text, so their score is their evidence score.

mod model;

pub use model::{KNOTS, WEIGHTS};

/// The names of the features, in the order of [`Features::values`] and [`WEIGHTS`]
/// (the intercept first).
pub const FEATURE_NAMES: [&str; FEATURES] = [
    "intercept",
    "similarity",
    "gap to the best result",
    "ln(1 + results scoring at least as high)",
    "fuzzy (typo)",
    "phonetic",
    "transliterated",
    "hypocoristic",
    "two edits in a word",
    "complete",
    "number off",
    "address",
    "words split or joined",
    "rarity of the matched words",
    "query words",
    "strong gate",
];

/// How many features (with the intercept).
pub const FEATURES: usize = 16;

/// What the model sees of one result. Built by the directory for every name or address
/// result; [`crate::Evidence::features`] exposes it so the model can be fitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Features {
    values: [f32; FEATURES],
}

/// The facts of one piece of name or address evidence, before the other results are
/// known.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Facts {
    pub similarity: f32,
    pub fuzzy: bool,
    pub phonetic: bool,
    pub transliterated: bool,
    pub hypocoristic: bool,
    pub two_edits: bool,
    pub complete: bool,
    pub numbers_off: bool,
    pub address: bool,
    pub joined: bool,
    /// Mean of ln(N / postings) / ln(N) over the matched stored words: 1 for words only
    /// this subject has, 0 for words everyone has.
    pub rarity: f32,
    pub query_words: usize,
    /// Whether the result passes the rule for `strong` (complete, exact or folded, no
    /// review, high similarity).
    pub strong_gate: bool,
}

impl Features {
    /// The features of a result with `facts`, among results whose best similarity is
    /// `best` and of which `at_least` (itself included) score at least as high.
    pub(crate) fn new(f: &Facts, best: f32, at_least: usize) -> Features {
        let b = |x: bool| if x { 1.0 } else { 0.0 };
        Features {
            values: [
                1.0,
                f.similarity,
                (best - f.similarity).max(0.0),
                (at_least as f32).ln_1p(),
                b(f.fuzzy),
                b(f.phonetic),
                b(f.transliterated),
                b(f.hypocoristic),
                b(f.two_edits),
                b(f.complete),
                b(f.numbers_off),
                b(f.address),
                b(f.joined),
                f.rarity,
                (f.query_words.min(6) as f32) / 6.0,
                b(f.strong_gate),
            ],
        }
    }

    /// The feature values, in the order of [`FEATURE_NAMES`].
    pub fn values(&self) -> &[f32; FEATURES] {
        &self.values
    }

    /// The model's probability that the result is the person (0 to 1).
    pub fn probability(&self) -> f32 {
        recalibrate(&KNOTS, probability(&WEIGHTS, &self.values))
    }
}

/// Maps a logistic output through a monotone table of `(logistic, observed)` knots (an
/// isotonic regression fitted with the weights), interpolating linearly: a linear model
/// over these features is over-confident in its middle range, the table corrects that
/// without changing the order of results.
pub fn recalibrate(knots: &[(f32, f32)], p: f32) -> f32 {
    let Some(first) = knots.first() else {
        return p;
    };
    if p <= first.0 {
        return first.1;
    }
    for w in knots.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if p <= x1 {
            let t = if x1 > x0 { (p - x0) / (x1 - x0) } else { 1.0 };
            return y0 + t * (y1 - y0);
        }
    }
    knots.last().map_or(p, |k| k.1)
}

/// A logistic model's probability for feature values `x` under `weights`.
pub fn probability(weights: &[f32; FEATURES], x: &[f32; FEATURES]) -> f32 {
    let z: f32 = weights.iter().zip(x).map(|(w, v)| w * v).sum();
    1.0 / (1.0 + (-z).exp())
}
