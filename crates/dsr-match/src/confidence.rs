//! How sure a piece of evidence is: computed from what the scorer found (its score,
//! method, completeness, whether anything needs a human look), never from the wording
//! of an explanation.

use crate::{Confidence, Method};

/// Lowest score of a `strong` result.
const STRONG_FROM: f32 = 0.93;
/// Lowest score of a `probable` result.
const PROBABLE_FROM: f32 = 0.75;

/// The confidence of one piece of evidence: strong only when complete, high-scoring and
/// resting on nothing a human should check.
pub(crate) fn confidence_of(
    score: f32,
    method: Method,
    complete: bool,
    review: bool,
) -> Confidence {
    let fuzzyish = matches!(method, Method::Fuzzy | Method::Phonetic);
    if score >= STRONG_FROM && !fuzzyish && complete && !review {
        Confidence::Strong
    } else if score >= PROBABLE_FROM {
        Confidence::Probable
    } else {
        Confidence::Weak
    }
}

/// Lowest calibrated probability of a `strong` result (which must also pass the rule
/// above): the rule is the promise, the probability a second opinion.
const STRONG_PROBABILITY: f32 = 0.9;
/// Lowest calibrated probability of a `probable` result: more likely than not.
const PROBABLE_PROBABILITY: f32 = 0.5;

/// The confidence of a modelled result: `rule` is what [`confidence_of`] gave its best
/// evidence, `p` the calibrated probability that it is the person. The rule is a
/// ceiling (two edits or a sound-alike stay weak however alone they are in a small
/// directory); the probability can only lower it.
pub(crate) fn calibrated_confidence(rule: Confidence, p: f32) -> Confidence {
    if rule == Confidence::Strong && p >= STRONG_PROBABILITY {
        Confidence::Strong
    } else if rule <= Confidence::Probable && p >= PROBABLE_PROBABILITY {
        Confidence::Probable
    } else {
        Confidence::Weak
    }
}
