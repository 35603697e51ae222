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
