//! The token index of one field (names or addresses): a vocabulary of folded tokens
//! with sorted postings, and the neighbourhoods a query token is expanded through —
//! typos (symmetric delete), sound-alikes (a phonetic skeleton) and the spellings the
//! normalizer adds (language folds, transliterations, hypocoristics).

use crate::Method;
use crate::hypocoristics;
use crate::multimap::MultiMap;
use crate::normalize::Position;
use crate::readings;
use crate::snapshot::{In, Out, SnapshotError, check_ids, damaged};
use crate::text;
use std::hash::BuildHasher;

/// Token flag: a language-fold spelling ("mueller" for "müller") or a hypocoristic.
pub(super) const F_LANG: u8 = 1;
/// Token flag: a transliteration to Latin script.
pub(super) const F_TRANSLIT: u8 = 2;
/// Token flag: a particle (von, de…): matched when present, not required.
pub(super) const F_OPTIONAL: u8 = 4;
/// Token flag: a number (house number, postcode), matched exactly or one digit off.
pub(super) const F_NUMBER: u8 = 8;
/// Token flags of a Japanese reading of a kanji name part (both alternative bits, a
/// combination no other spelling has).
pub(super) const F_READING: u8 = F_LANG | F_TRANSLIT;

/// Weight of a match through a language-fold spelling: nearly as good as the spelling
/// itself (the same name written by another convention), but the written form ranks first.
pub(super) const LANG_FOLD_WEIGHT: f32 = 0.98;
/// Weight of a match through a transliteration: the romanization systems disagree, so a
/// shared transliteration is slightly less sure than a shared spelling.
pub(super) const TRANSLIT_WEIGHT: f32 = 0.95;
/// Weight of a match through a Japanese reading of a kanji name part: one of several
/// readings, and the same reading is written with other kanji — a guess for a human to
/// confirm, ranked below a transliteration.
pub(super) const READING_WEIGHT: f32 = 0.9;
/// Weight of a token one edit away (a typo, Damerau's 80 % case).
pub(super) const ONE_EDIT_WEIGHT: f32 = 0.85;
/// Weight of a token two edits away: as often a neighbour as a typo in a large directory.
pub(super) const TWO_EDIT_WEIGHT: f32 = 0.7;
/// Weight of a token that only sounds the same.
pub(super) const PHONETIC_WEIGHT: f32 = 0.8;
/// Weight of a short or pet form of the query's given name ("Gosia" / "Małgorzata"): as
/// telling as a sound-alike, and like it for a human to confirm (two Williams, one Bill).
pub(super) const HYPOCORISTIC_WEIGHT: f32 = 0.8;

fn hash_str(tag: u8, s: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0x7465_7874).hash_one((tag, s))
}

/// A stored token occurrence: which token, at which position of the value, how it was
/// derived. Packed (7 bytes, not 8 with padding): a subject has a dozen or more of them,
/// so the padding byte alone was ~12 bytes per subject; fields are read by value.
#[derive(Debug, Clone, Copy)]
#[repr(C, packed)]
pub(super) struct TokRef {
    pub tok: u32,
    pub pos: u8,
    pub flags: u8,
    /// Which stored value (names[i] / addresses[i]) this token belongs to.
    pub value: u8,
}

impl TokRef {
    /// How much a match on this stored spelling counts, and as which method.
    pub fn weight(self) -> (f32, Method) {
        if self.is_reading() {
            (READING_WEIGHT, Method::Transliterated)
        } else if self.flags & F_TRANSLIT != 0 {
            (TRANSLIT_WEIGHT, Method::Transliterated)
        } else if self.flags & F_LANG != 0 {
            (LANG_FOLD_WEIGHT, Method::Normalized)
        } else {
            (1.0, Method::Normalized)
        }
    }

    pub fn is_number(self) -> bool {
        self.flags & F_NUMBER != 0
    }

    pub fn is_reading(self) -> bool {
        self.flags & F_READING == F_READING
    }
}

/// One vocabulary token a query position can match.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cand {
    pub tok: u32,
    /// How much the match counts (1 for the same spelling).
    pub w: f32,
    pub method: Method,
    /// Edits between the query spelling and the token (0 unless fuzzy).
    pub dist: u8,
    /// A short or pet form of the query word (method `Fuzzy`, no edits).
    pub hypocoristic: bool,
    /// Through a Japanese reading of the query's kanji.
    pub reading: bool,
}

/// Most letters a sound-alike may have more or fewer than the query word (and at most
/// half the shorter word): "philipp" / "filip", not "memo" / "nowinow".
const MAX_PHONETIC_LENGTH_GAP: usize = 2;

/// The tokens of one field: their texts end to end in one string (a token's id is its
/// position), and a fingerprint table from a text to its id. One block for all texts,
/// not one per token and a second copy as a map key: at 10 M subjects that is tens of
/// megabytes, and a snapshot reads it back in one copy.
#[derive(Default)]
pub(super) struct Vocab {
    bytes: String,
    /// Where each token's text ends in `bytes`.
    ends: Vec<u32>,
    lookup: MultiMap,
}

impl Vocab {
    /// How many tokens.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// A token's text.
    pub fn text(&self, tok: u32) -> &str {
        let i = tok as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    /// The id of a text, if it is a token.
    pub fn get(&self, text: &str) -> Option<u32> {
        self.lookup
            .get(hash_str(0, text))
            .iter()
            .copied()
            .find(|&t| self.text(t) == text)
    }

    fn push(&mut self, text: &str) -> u32 {
        let id = self.ends.len() as u32;
        self.bytes.push_str(text);
        self.ends.push(self.bytes.len() as u32);
        self.lookup.insert(hash_str(0, text), id);
        id
    }

    fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.ends.capacity() * 4 + self.lookup.heap_bytes()
    }

    fn write_to<W: std::io::Write>(&self, out: &mut Out<W>) -> std::io::Result<()> {
        out.str(&self.bytes)?;
        out.u32s(&self.ends)?;
        self.lookup.write_to(out)
    }

    fn read_from(r: &mut In<'_>) -> Result<Self, SnapshotError> {
        let bytes = r.str()?.to_owned();
        let ends = r.u32s()?;
        let mut start = 0usize;
        for &e in &ends {
            let e = e as usize;
            if e < start || e > bytes.len() || !bytes.is_char_boundary(e) {
                return Err(damaged("token texts"));
            }
            start = e;
        }
        let lookup = MultiMap::read_from(r, ends.len(), "token")?;
        Ok(Vocab {
            bytes,
            ends,
            lookup,
        })
    }
}

/// Token vocabulary with postings and typo / phonetic neighbourhoods.
#[derive(Default)]
pub(super) struct TokenIndex {
    pub vocab: Vocab,
    /// Slots having the token, sorted.
    pub postings: Vec<Vec<u32>>,
    deletes: MultiMap,
    phonetic: MultiMap,
}

impl TokenIndex {
    /// The id of a token, interned on first sight; `fuzzy` also files it in the typo
    /// and phonetic neighbourhoods (numbers are not).
    pub fn intern(&mut self, text: &str, fuzzy: bool) -> u32 {
        if let Some(id) = self.vocab.get(text) {
            return id;
        }
        let id = self.vocab.push(text);
        self.postings.push(Vec::new());
        if fuzzy {
            let chars: Vec<char> = text.chars().collect();
            let max = text::max_edits(chars.len());
            if max > 0 {
                let deletes = &mut self.deletes;
                text::for_each_delete(&chars, max, &mut |d| deletes.insert(hash_str(1, d), id));
            }
            if let Some(p) = text::phonetic(text) {
                self.phonetic.insert(hash_str(2, &p), id);
            }
        }
        id
    }

    /// Postings stay sorted by slot (appending is the common case: new slots grow), so
    /// membership is a binary search.
    pub fn add_posting(&mut self, tok: u32, slot: u32) {
        let p = &mut self.postings[tok as usize];
        match p.last() {
            Some(&last) if last >= slot => {
                if let Err(i) = p.binary_search(&slot) {
                    p.insert(i, slot);
                }
            }
            _ => p.push(slot),
        }
    }

    pub fn remove_posting(&mut self, tok: u32, slot: u32) {
        let p = &mut self.postings[tok as usize];
        if let Ok(i) = p.binary_search(&slot) {
            p.remove(i);
        }
    }

    /// Every vocabulary token a query position can match, with its weight. `names`:
    /// the field is names, so short and pet forms of given names count.
    pub fn expand(&self, q: &Position, names: bool, out: &mut Vec<Cand>) {
        out.clear();
        let push = |c: Cand, out: &mut Vec<Cand>| match out.iter_mut().find(|x| x.tok == c.tok) {
            Some(x) if x.w < c.w => *x = c,
            Some(_) => {}
            None => out.push(c),
        };
        if names {
            // Exact lookups only: a typo in a pet form is two steps from the name.
            for r in hypocoristics::related(&q.primary) {
                if let Some(tok) = self.vocab.get(r) {
                    push(
                        Cand {
                            tok,
                            w: HYPOCORISTIC_WEIGHT,
                            method: Method::Fuzzy,
                            dist: 0,
                            hypocoristic: true,
                            reading: false,
                        },
                        out,
                    );
                }
            }
        }
        let readings = if text::has_cjk(&q.primary) {
            readings::readings(&q.primary)
        } else {
            Vec::new()
        };
        let variants = std::iter::once((q.primary.as_str(), Method::Normalized, 1.0f32)).chain(
            q.alts.iter().map(|(t, m)| {
                (
                    t.as_str(),
                    *m,
                    if readings.contains(t) {
                        READING_WEIGHT
                    } else if *m == Method::Transliterated {
                        TRANSLIT_WEIGHT
                    } else {
                        LANG_FOLD_WEIGHT
                    },
                )
            }),
        );
        for (v, method, w) in variants {
            let reading = readings.iter().any(|r| r == v);
            if let Some(tok) = self.vocab.get(v) {
                push(
                    Cand {
                        tok,
                        w,
                        method,
                        dist: 0,
                        hypocoristic: false,
                        reading,
                    },
                    out,
                );
            }
            let chars: Vec<char> = v.chars().collect();
            let max = text::max_edits(chars.len());
            if max > 0 {
                let mut seen: Vec<u32> = Vec::new();
                text::for_each_delete(&chars, max, &mut |d| {
                    for &tok in self.deletes.get(hash_str(1, d)) {
                        if !seen.contains(&tok) {
                            seen.push(tok);
                        }
                    }
                });
                for tok in seen {
                    let t: Vec<char> = self.vocab.text(tok).chars().collect();
                    let allowed = text::max_edits(chars.len().min(t.len()));
                    if let Some(d) = text::osa_distance(&chars, &t, allowed)
                        && d > 0
                    {
                        // OCR, keyboard and doubled-letter slips cost less than other
                        // edits: they rank first among the neighbours.
                        // An OCR split ("rn" for "m") is two edits but one slip.
                        let (fw, d) = match text::confusion_distance(&chars, &t, f32::from(d)) {
                            Some(cost) => (
                                text::confusion_weight(cost),
                                if cost <= 1.0 { 1 } else { d },
                            ),
                            None if d == 1 => (ONE_EDIT_WEIGHT, d),
                            None => (TWO_EDIT_WEIGHT, d),
                        };
                        push(
                            Cand {
                                tok,
                                w: w * fw,
                                method: Method::Fuzzy,
                                dist: d,
                                hypocoristic: false,
                                reading,
                            },
                            out,
                        );
                    }
                }
            }
            if let Some(p) = text::phonetic(v) {
                for &tok in self.phonetic.get(hash_str(2, &p)) {
                    // A sound-alike that is also one slip away ("sme" / "sem", "nor" /
                    // "noor": words too short for the typo neighbourhood) is a typo.
                    let t: Vec<char> = self.vocab.text(tok).chars().collect();
                    // The skeleton drops vowels: words of very different lengths share
                    // one without sounding alike ("memo" / "nowinow").
                    let longer = chars.len().abs_diff(t.len());
                    if longer > MAX_PHONETIC_LENGTH_GAP || 2 * longer > chars.len().min(t.len()) {
                        continue;
                    }
                    let slip = text::confusion_distance(&chars, &t, 1.0);
                    push(
                        match slip {
                            Some(cost) if cost > 0.0 => Cand {
                                tok,
                                w: w * text::confusion_weight(cost),
                                method: Method::Fuzzy,
                                dist: 1,
                                hypocoristic: false,
                                reading,
                            },
                            _ => Cand {
                                tok,
                                w: w * PHONETIC_WEIGHT,
                                method: Method::Phonetic,
                                dist: 0,
                                hypocoristic: false,
                                reading,
                            },
                        },
                        out,
                    );
                }
            }
        }
    }

    /// Writes the vocabulary (the lookup table is rebuilt from it), the postings and
    /// the neighbourhoods.
    pub fn write_to<W: std::io::Write>(&self, out: &mut Out<W>) -> std::io::Result<()> {
        self.vocab.write_to(out)?;
        for p in &self.postings {
            out.u32s(p)?;
        }
        self.deletes.write_to(out)?;
        self.phonetic.write_to(out)
    }

    /// Reads what [`TokenIndex::write_to`] wrote; postings must name slots below `slots`.
    pub fn read_from(r: &mut In<'_>, slots: usize) -> Result<Self, SnapshotError> {
        let vocab = Vocab::read_from(r)?;
        let n = vocab.len();
        let mut postings = Vec::with_capacity(n);
        for _ in 0..n {
            let p = r.u32s()?;
            check_ids(&p, slots, "posting")?;
            if p.windows(2).any(|w| w[0] >= w[1]) {
                return Err(damaged("postings out of order"));
            }
            postings.push(p);
        }
        Ok(TokenIndex {
            vocab,
            postings,
            deletes: MultiMap::read_from(r, n, "typo neighbour")?,
            phonetic: MultiMap::read_from(r, n, "sound-alike")?,
        })
    }

    pub fn heap_bytes(&self) -> usize {
        let postings: usize = self.postings.capacity() * std::mem::size_of::<Vec<u32>>()
            + self
                .postings
                .iter()
                .map(|p| p.capacity() * 4)
                .sum::<usize>();
        self.vocab.heap_bytes() + postings + self.deletes.heap_bytes() + self.phonetic.heap_bytes()
    }
}
