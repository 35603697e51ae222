//! What a lookup returns: matches with their evidence, and correlations.

use dsr_model::{MergeSetId, SubjectId, SubjectKind, Term, TermType};
use serde::Serialize;
use std::fmt;

/// Which field of the stored subject matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// One of `names`.
    Name,
    /// One of `emails`.
    Email,
    /// One of `phones`.
    Phone,
    /// One of `addresses`.
    Address,
    /// One of `handles`.
    Handle,
    /// The subject's own id.
    Id,
    /// One of `external_ids`.
    ExternalId,
}

impl Field {
    /// The name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Address => "address",
            Field::Handle => "handle",
            Field::Id => "id",
            Field::ExternalId => "external_id",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a value matched, from strongest to weakest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Identical text (after trimming).
    #[default]
    Exact,
    /// Identical after normalization (case, diacritics, phone/email canonical form, …).
    Normalized,
    /// Identical after transliteration to Latin script.
    Transliterated,
    /// Sounds the same (phonetic key).
    Phonetic,
    /// Within a small edit distance (typos).
    Fuzzy,
}

impl Method {
    /// The name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Normalized => "normalized",
            Method::Transliterated => "transliterated",
            Method::Phonetic => "phonetic",
            Method::Fuzzy => "fuzzy",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How sure the matcher is that a result is the person searched for.
///
/// A false positive discloses someone else's data, so only `Strong` results should be
/// acted on without a human look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// An exact identifier, or every token of a full name or address.
    Strong,
    /// Most of it matches (a middle name missing, one typo).
    Probable,
    /// Partial or fuzzy: needs human review before acting.
    Weak,
}

impl Confidence {
    /// The name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Strong => "strong",
            Confidence::Probable => "probable",
            Confidence::Weak => "weak",
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One reason a subject matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The stored field.
    pub field: Field,
    /// The stored value, as written in the subject.
    pub stored: String,
    /// The strongest method by which it matched.
    pub method: Method,
    /// Score of this piece of evidence, 0 to 1.
    pub score: f32,
    /// A human-readable explanation (e.g. `"dupond" ~ "dupont" (1 edit)`).
    pub detail: String,
    /// How sure this piece of evidence is, decided by the scorer from what matched (not
    /// read back from the wording of `detail`).
    #[serde(skip)]
    pub(crate) confidence: Confidence,
    /// Whether it rests on something a human should check (a typo, a sound-alike, a
    /// number a digit off, words split or joined).
    #[serde(skip)]
    pub(crate) review: bool,
    /// What the calibration model is told about a name or address match.
    #[serde(skip)]
    pub(crate) facts: Option<crate::calibration::Facts>,
    /// The model's input, once the other results are known (best evidence only).
    #[serde(skip)]
    pub(crate) features: Option<crate::calibration::Features>,
}

impl Evidence {
    /// How sure this piece of evidence is on its own.
    pub fn confidence(&self) -> Confidence {
        self.confidence
    }

    /// The calibration model's input for a name or address result's best evidence
    /// (`None` for identifiers and other evidence): to fit or check the model.
    pub fn features(&self) -> Option<&crate::calibration::Features> {
        self.features.as_ref()
    }
}

/// One subject found by a term.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Match {
    /// The subject id.
    pub subject_id: SubjectId,
    /// Its kind.
    pub kind: SubjectKind,
    /// Its first name value, to tell results apart.
    pub display_name: Option<String>,
    /// 0 to 1; comparable across term kinds. For a name or address, the calibrated
    /// probability that this is the person searched for ([`crate::calibration`]); for an
    /// identifier, its best evidence's score.
    pub score: f32,
    /// How sure the match is.
    pub confidence: Confidence,
    /// Whether a human should look before acting on it: any `Weak` match, and any match
    /// that rests on a typo or a sound-alike.
    pub needs_review: bool,
    /// The merge set the subject belongs to, if any.
    pub merge_set: Option<MergeSetId>,
    /// The canonical contact of that merge set (G-9): results with the same canonical id
    /// are one person.
    pub canonical_id: Option<SubjectId>,
    /// Why it matched, best first.
    pub evidence: Vec<Evidence>,
}

/// A normalized key, shown so a user can see why something matches or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyView {
    /// What the key represents (`email`, `email.canonical`, `phone.e164`, `name.token`, …).
    pub kind: String,
    /// The key text.
    pub value: String,
    /// The method a match on this key counts as.
    pub method: Method,
}

/// The result of one term lookup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult {
    /// The term as given.
    pub term: Term,
    /// The type the term was looked up as.
    pub classified_as: TermType,
    /// Whether the caller named the type (otherwise it was classified).
    pub explicit_type: bool,
    /// The keys the term normalized to.
    pub keys: Vec<KeyView>,
    /// Subjects found, best first.
    pub matches: Vec<Match>,
    /// Problems with the term (e.g. a phone number that could not be parsed).
    pub warnings: Vec<String>,
}

/// One subject in a multi-identifier correlation (G-13).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correlated {
    /// The subject id.
    pub subject_id: SubjectId,
    /// Its kind.
    pub kind: SubjectKind,
    /// Its first name value.
    pub display_name: Option<String>,
    /// Merge set, if any.
    pub merge_set: Option<MergeSetId>,
    /// Canonical contact of the merge set, if any.
    pub canonical_id: Option<SubjectId>,
    /// Indices (into the terms given) of the terms that found this subject.
    pub found_by: Vec<usize>,
    /// Found by more than one of the terms given (or by the only one given).
    pub corroborated: bool,
    /// The best score any term gave it.
    pub best_score: f32,
    /// Whether a human should look before acting on it.
    pub needs_review: bool,
}

/// The result of looking up several identifiers of one person (G-13).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Correlation {
    /// One result per term, in the order given.
    pub per_term: Vec<SearchResult>,
    /// Every subject found by any term: corroborated first, then by score.
    pub subjects: Vec<Correlated>,
}
