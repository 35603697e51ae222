//! Scoring one stored name or address against a query: which query word pairs with
//! which stored word (order-independent, best weight first), whether the numbers agree,
//! and the caps that keep an uncertain match from looking certain. The result is a
//! [`ValueScore`]: the ranking score and the facts it rests on, from which the
//! directory's confidence is computed ([`crate::calibration`]) — never from wording.

use super::tokens::{Cand, F_LANG, F_NUMBER, F_OPTIONAL, F_TRANSLIT, TokRef, TokenIndex};
use super::{MAX_POSITIONS, MAX_QUERY_TOKENS, TokenField};
use crate::Method;
use crate::normalize::{Position, TokenForm};
use crate::text;
use std::collections::HashMap;

/// Query numbers one digit off a stored one that an address may still have: one (a
/// typo); two numbers wrong is another address.
const MAX_NEAR_NUMBERS: usize = 1;
/// Query numbers with no stored counterpart an address may still have: one (a flat or
/// floor the record lacks), and only when every stored number is accounted for.
const MAX_EXTRA_NUMBERS: usize = 1;
/// Numbers off (near or extra) an address may still have: one in all.
const MAX_NUMBERS_OFF: usize = 1;
/// What a number one keyboard slip off (a swap, a neighbouring digit) counts for,
/// against 1 for an exact one.
const NEAR_NUMBER_CREDIT: f32 = 0.6;
/// What another one-digit difference counts for.
const OTHER_NUMBER_CREDIT: f32 = 0.4;
/// Highest score of an address with a number off: probable at best, never strong.
const NUMBERS_OFF_CAP: f32 = 0.8;
/// What a score keeps when the query's flat number agrees with the stored house number
/// and its house number is left over ("38 app. 27" against "27"): the other reading
/// ("38", flat 27 not recorded) is the likelier one.
const UNIT_AS_HOUSE_FACTOR: f32 = 0.9;
/// What an agreeing number counts for against a word: a house number with a postcode
/// singles out a building far better than a street name does.
const NUMBER_WEIGHT: f32 = 1.5;
/// Share of the score from how much of the query is matched (the rest: how much of the
/// stored value). A query that is all found but leaves out a middle name is closer than
/// one whose words are half unmatched.
const QUERY_COVERAGE_SHARE: f32 = 0.8;
/// What an initial matching a word ("J." for "Jean") counts for.
const INITIAL_WEIGHT: f32 = 0.6;
/// What a given name sharing only its beginning or a stem with the stored one counts
/// for ("Musti" for "Mustafa": a short form no table lists). Below an initial's weight:
/// any two names can share two letters.
const STEM_WEIGHT: f32 = 0.5;
/// What each query word counts for when it pairs with stored words by running together
/// or splitting them ("CalleMayor" / "Calle Mayor", "Тверск ая" / "Тверская"): the same
/// letters, a formatting slip, reviewed like one edit.
const JOINED_WEIGHT: f32 = 0.9;
/// Shortest part of a word split in two that is looked up: one letter is an initial.
const MIN_SPLIT_PART: usize = 2;
/// Shortest stored stem of a compound street name ("kerk" of "Kerkstraat") that a query
/// word may begin with when its street type is misspelled.
const MIN_COMPOUND_STEM: usize = 3;
/// Highest score of a one-word query: a surname or a street name alone is never enough.
const ONE_WORD_CAP: f32 = 0.7;
/// Highest score of an address without house number agreement (one side has none):
/// neighbours look alike.
const NO_NUMBER_AGREEMENT_CAP: f32 = 0.85;
/// Highest score of a match resting on two edits or a likeness of sound in a word: in a
/// large directory that is as often a neighbour as a typo. Just under `probable`.
const LOOSE_CAP: f32 = 0.74;
/// Highest score of an address whose stored house or flat number the query leaves out:
/// it may be a neighbour in the same building.
const UNMATCHED_HOUSE_NUMBER_CAP: f32 = 0.85;
/// Highest score of a name with a particle on one side only ("Daan de Boserg" / "Daan
/// Boserg"): often another family.
const PARTICLE_CAP: f32 = 0.85;
/// Highest score of an address with a word on each side that matches nothing on the
/// other: another street at the same number and postcode.
const OTHER_STREET_CAP: f32 = 0.7;
/// Highest score when only numbers agree (same postcode, another street).
const NUMBERS_ONLY_CAP: f32 = 0.5;

/// A candidate of one query position, by position and index in its list.
#[derive(Debug, Clone, Copy)]
struct CandRef {
    query: u8,
    cand: u16,
}

/// What a query becomes before any candidate is scored: the vocabulary tokens each word
/// can match, which words are required, the numbers' token ids.
pub(super) struct QueryPlan {
    /// Per query position: candidate tokens.
    pub cands: Vec<Vec<Cand>>,
    /// Token → the query candidates it is.
    by_tok: HashMap<u32, Vec<CandRef>, foldhash::fast::RandomState>,
    /// Per query position: whether it counts (particles do not when there are others).
    pub required: Vec<bool>,
    /// Per query number: its token id, if any stored value has it.
    pub numbers: Vec<Option<u32>>,
    /// Query words that are two vocabulary words run together: (position, first token,
    /// second token) — "callemayor" as calle + mayor; one token when the other part is
    /// a word an address drops ("delsol" as sol).
    splits: Vec<Split>,
    /// Adjacent query words that are one vocabulary word split: (first position, token)
    /// — "тверск ая" as тверская.
    joins: Vec<Join>,
}

/// A query word that is two vocabulary words run together ([`QueryPlan::splits`]).
#[derive(Debug, Clone, Copy)]
struct Split {
    query: u8,
    first: u32,
    /// `None` when the other part is a word an address drops.
    second: Option<u32>,
}

/// Two adjacent query words that are one vocabulary word ([`QueryPlan::joins`]).
#[derive(Debug, Clone, Copy)]
struct Join {
    /// The first of the two positions.
    query: u8,
    tok: u32,
}

impl QueryPlan {
    pub fn new(ix: &TokenIndex, field: TokenField, form: &TokenForm) -> QueryPlan {
        let words: Vec<&Position> = form.words.iter().take(MAX_QUERY_TOKENS).collect();
        let any_required = words.iter().any(|w| !w.optional);
        let mut cands = Vec::with_capacity(words.len());
        let mut required = Vec::with_capacity(words.len());
        let mut buf = Vec::new();
        for w in &words {
            ix.expand(w, field == TokenField::Name, &mut buf);
            cands.push(buf.clone());
            required.push(!w.optional || !any_required);
        }
        let numbers: Vec<Option<u32>> = form
            .numbers
            .iter()
            .take(MAX_QUERY_TOKENS)
            .map(|n| ix.vocab.get(n.as_str()))
            .collect();
        let mut by_tok: HashMap<u32, Vec<CandRef>, foldhash::fast::RandomState> =
            HashMap::default();
        for (qi, cs) in cands.iter().enumerate() {
            for (ci, c) in cs.iter().enumerate() {
                by_tok.entry(c.tok).or_default().push(CandRef {
                    query: qi as u8,
                    cand: ci as u16,
                });
            }
        }
        let (splits, joins) = split_and_joined(ix, field, &words, &required);
        QueryPlan {
            cands,
            by_tok,
            required,
            numbers,
            splits,
            joins,
        }
    }
}

/// The words of a query that are vocabulary words run together or split apart (see
/// [`QueryPlan::splits`] and [`QueryPlan::joins`]). An address's halves are read as
/// address words too ("sokagi" is the street type "sok").
fn split_and_joined(
    ix: &TokenIndex,
    field: TokenField,
    words: &[&Position],
    required: &[bool],
) -> (Vec<Split>, Vec<Join>) {
    let lookup = |w: &str| {
        let canon = match field {
            TokenField::Address => crate::normalize::address_word(w).unwrap_or(w),
            TokenField::Name => w,
        };
        ix.vocab.get(canon)
    };
    // An article or a number marker run into a word ("delSol", "No5") is dropped as it
    // would be apart.
    let noise = |w: &str| field == TokenField::Address && crate::normalize::address_noise(w);
    let mut splits = Vec::new();
    for (qi, w) in words.iter().enumerate() {
        if !required[qi] {
            continue;
        }
        let p = w.primary.as_str();
        for (at, _) in p.char_indices().skip(MIN_SPLIT_PART) {
            let (a, b) = p.split_at(at);
            if b.chars().count() < MIN_SPLIT_PART {
                break;
            }
            match (lookup(a), lookup(b)) {
                (Some(x), Some(y)) => splits.push(Split {
                    query: qi as u8,
                    first: x,
                    second: Some(y),
                }),
                (Some(x), None) if noise(b) => splits.push(Split {
                    query: qi as u8,
                    first: x,
                    second: None,
                }),
                (None, Some(y)) if noise(a) => splits.push(Split {
                    query: qi as u8,
                    first: y,
                    second: None,
                }),
                _ => {}
            }
        }
    }
    let mut joins = Vec::new();
    // Optional words too: "al" of "Al calá" reads as a street type apart.
    for qi in 0..words.len().saturating_sub(1) {
        let joined = format!("{}{}", words[qi].primary, words[qi + 1].primary);
        if let Some(t) = lookup(&joined) {
            joins.push(Join {
                query: qi as u8,
                tok: t,
            });
        }
    }
    (splits, joins)
}

/// A possible pairing of a query word with a stored word.
#[derive(Debug, Clone, Copy)]
struct Pairing {
    w: f32,
    query: usize,
    pos: usize,
    tok: u32,
    method: Method,
    dist: u8,
    hypocoristic: bool,
    reading: bool,
}

/// A pairing kept by the assignment.
#[derive(Debug, Clone, Copy)]
pub(super) struct Assigned {
    pub query: usize,
    pub tok: u32,
    pub method: Method,
    pub dist: u8,
    pub hypocoristic: bool,
    pub reading: bool,
    /// Paired only by a shared beginning or stem (a short form no table lists).
    pub stem: bool,
    /// Paired by running words together or splitting one.
    pub joined: bool,
}

impl Assigned {
    /// A fuzzy pairing found on a closer look at the words left over.
    fn fuzzy(query: usize, tok: u32, dist: u8) -> Assigned {
        Assigned {
            query,
            tok,
            method: Method::Fuzzy,
            dist,
            hypocoristic: false,
            reading: false,
            stem: false,
            joined: false,
        }
    }

    fn joined(query: usize, tok: u32) -> Assigned {
        Assigned {
            joined: true,
            ..Assigned::fuzzy(query, tok, 1)
        }
    }

    fn stem(query: usize, tok: u32) -> Assigned {
        Assigned {
            stem: true,
            ..Assigned::fuzzy(query, tok, 2)
        }
    }
}

/// Buffers reused across the candidates of one lookup.
#[derive(Default)]
pub(super) struct Scratch {
    pairs: Vec<Pairing>,
    numbers: Vec<u32>,
    /// (query position, stored token) → confusion distance, for the words left over:
    /// the same stored words recur across candidates.
    near: HashMap<(u8, u32), Option<f32>, foldhash::fast::RandomState>,
    /// (query position, stored token) → whether they share a stem ([`text::shares_stem`]).
    stem: HashMap<(u8, u32), bool, foldhash::fast::RandomState>,
}

/// The score of one stored value and what it rests on.
#[derive(Debug, Clone, Default)]
pub(super) struct ValueScore {
    /// The ranking score, 0 to 1, after the caps.
    pub score: f32,
    /// The pairings (only when asked for).
    pub pairs: Vec<Assigned>,
    /// The weakest method among the required words' pairings.
    pub method: Method,
    /// Every required query word and every required stored word matched.
    pub complete: bool,
    /// Numbers agreeing exactly.
    pub numbers: usize,
    /// A number one digit off, or a query number the record lacks.
    pub numbers_off: bool,
}

/// Scores stored values against one query.
pub(super) struct Scorer<'a> {
    ix: &'a TokenIndex,
    plan: &'a QueryPlan,
    form: &'a TokenForm,
    field: TokenField,
    /// The query words' characters, for the closer look at left-over words.
    chars: Vec<Vec<char>>,
}

impl<'a> Scorer<'a> {
    pub fn new(
        ix: &'a TokenIndex,
        plan: &'a QueryPlan,
        form: &'a TokenForm,
        field: TokenField,
    ) -> Self {
        let chars = form
            .words
            .iter()
            .take(plan.cands.len())
            .map(|w| w.primary.chars().collect())
            .collect();
        Scorer {
            ix,
            plan,
            form,
            field,
            chars,
        }
    }

    /// No value scores above this for the query: 1, or the one-word cap when the query
    /// is one word or number (every later cap only lowers a score, and the last step
    /// clamps it to 1). A lookup that has enough candidates at the ceiling stops there.
    pub fn ceiling(&self) -> f32 {
        let nreq = self.plan.required.iter().filter(|r| **r).count();
        if nreq + self.plan.numbers.len() <= 1 {
            ONE_WORD_CAP
        } else {
            1.0
        }
    }

    /// Scores one stored value. `None` when it cannot be the same value (a house number
    /// or postcode differs). Order-independent: the assignment of query to stored
    /// positions is by weight, ties broken by token text. `pairs` is filled only when
    /// `explain` is set.
    pub fn score(
        &self,
        refs: &[TokRef],
        scratch: &mut Scratch,
        explain: bool,
    ) -> Option<ValueScore> {
        let (ix, plan, form) = (self.ix, self.plan, self.form);
        // Numbers must agree: every query number present in the stored numbers.
        let stored_numbers = &mut scratch.numbers;
        stored_numbers.clear();
        stored_numbers.extend(refs.iter().filter(|r| r.is_number()).map(|r| r.tok));
        // As a multiset: "2-2-3" is not "178-2-3" although each of its numbers occurs.
        // Exact agreement first; a query number left over may be one digit off a stored
        // one (a mistyped postcode or house number: one substitution, transposition,
        // insertion or deletion), or one number the record lacks (a flat, a floor). Two
        // numbers off, or a left-over number on each side, is another address.
        let mut numbers_matched = 0usize;
        let mut numbers_near = 0usize;
        let mut numbers_extra = 0usize;
        let mut near_credit = 0.0f32;
        let mut num_used = [false; MAX_POSITIONS];
        // A query number left over that is not a flat's ("38" of "38 app. 27" when the
        // record has 27): the flat number was read as the house number.
        let mut extra_house = false;
        let mut unit_matched = false;
        if !plan.numbers.is_empty() && !stored_numbers.is_empty() {
            let mut pending = [0usize; MAX_QUERY_TOKENS];
            let mut npending = 0;
            for (qn, n) in plan.numbers.iter().enumerate() {
                let slot = n.and_then(|t| {
                    stored_numbers
                        .iter()
                        .enumerate()
                        .position(|(i, s)| *s == t && !num_used.get(i).copied().unwrap_or(true))
                });
                match slot {
                    Some(i) => {
                        num_used[i] = true;
                        numbers_matched += 1;
                        unit_matched |= form.unit_numbers.get(qn).copied().unwrap_or(false);
                    }
                    None if npending < MAX_QUERY_TOKENS => {
                        pending[npending] = qn;
                        npending += 1;
                    }
                    None => return None,
                }
            }
            for &qn in &pending[..npending] {
                let q = form.numbers[qn].as_str();
                let near = stored_numbers.iter().enumerate().position(|(i, s)| {
                    !num_used.get(i).copied().unwrap_or(true)
                        && text::near_number(q, ix.vocab.text(*s))
                });
                match near {
                    Some(i) => {
                        num_used[i] = true;
                        numbers_near += 1;
                        near_credit +=
                            if text::keyboard_digit_slip(q, ix.vocab.text(stored_numbers[i])) {
                                NEAR_NUMBER_CREDIT
                            } else {
                                OTHER_NUMBER_CREDIT
                            };
                    }
                    None => {
                        numbers_extra += 1;
                        extra_house |= !form.unit_numbers.get(qn).copied().unwrap_or(false);
                    }
                }
            }
            let stored_left =
                (0..stored_numbers.len()).any(|i| !num_used.get(i).copied().unwrap_or(false));
            if numbers_near > MAX_NEAR_NUMBERS
                || numbers_extra > MAX_EXTRA_NUMBERS
                || numbers_near + numbers_extra > MAX_NUMBERS_OFF
                || (numbers_extra > 0 && (stored_left || numbers_matched == 0))
            {
                return None;
            }
        }
        let numbers_off = numbers_near + numbers_extra > 0;
        let unit_as_house = extra_house && unit_matched;
        // A stored house or flat number the query leaves out ("Flat 3, 12 High St" asked
        // as "12 High St") may be a neighbour in the same building: never strong.
        let short_unmatched = numbers_matched > 0
            && stored_numbers.iter().enumerate().any(|(i, t)| {
                !num_used.get(i).copied().unwrap_or(false) && is_house_number(ix.vocab.text(*t))
            });
        // Best weight per (query position, stored position).
        let nq = plan.cands.len();
        let npos = refs
            .iter()
            .filter(|r| !r.is_number())
            .map(|r| r.pos as usize + 1)
            .max()
            .unwrap_or(0);
        let pairs = &mut scratch.pairs;
        pairs.clear();
        for r in refs.iter().filter(|r| !r.is_number()) {
            let Some(hits) = plan.by_tok.get(&{ r.tok }) else {
                continue;
            };
            let (sw, sm) = r.weight();
            for h in hits {
                let c = plan.cands[h.query as usize][h.cand as usize];
                pairs.push(Pairing {
                    w: c.w * sw,
                    query: h.query as usize,
                    pos: r.pos as usize,
                    tok: r.tok,
                    method: c.method.max(sm),
                    dist: c.dist,
                    hypocoristic: c.hypocoristic,
                    reading: c.reading || r.is_reading(),
                });
            }
        }
        // Initials: "J." matches any token starting with J (and the reverse), weakly.
        let initial = |t: &str| {
            let mut cs = t.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) if c.is_alphabetic() => Some(c),
                _ => None,
            }
        };
        for r in refs
            .iter()
            .filter(|r| r.flags & (F_NUMBER | F_LANG | F_TRANSLIT) == 0)
        {
            let stored = ix.vocab.text(r.tok);
            let s_init = initial(stored);
            for (qi, w) in form.words.iter().enumerate().take(nq) {
                let q_init = initial(&w.primary);
                let hit = match (q_init, s_init) {
                    (Some(q), None) => stored.starts_with(q),
                    (None, Some(s)) => w.primary.starts_with(s),
                    _ => false,
                };
                if hit {
                    pairs.push(Pairing {
                        w: INITIAL_WEIGHT,
                        query: qi,
                        pos: r.pos as usize,
                        tok: r.tok,
                        method: Method::Fuzzy,
                        dist: 0,
                        hypocoristic: false,
                        reading: false,
                    });
                }
            }
        }
        pairs.sort_by(|a, b| {
            b.w.total_cmp(&a.w)
                .then_with(|| {
                    form.words[a.query]
                        .primary
                        .cmp(&form.words[b.query].primary)
                })
                .then(a.pos.cmp(&b.pos))
        });
        let mut q_used = [false; MAX_QUERY_TOKENS];
        let mut s_used = [false; MAX_POSITIONS];
        let mut qsum = 0.0f32;
        let mut worst = Method::Exact;
        let mut assigned: Vec<Assigned> = Vec::new();
        let mut loose = false;
        let mut stem = false;
        // Words run together or split apart, first: the same letters are better evidence
        // than any one-word pairing of the parts.
        let word_at = |tok: u32, pos: Option<usize>, s_used: &[bool; MAX_POSITIONS]| {
            refs.iter()
                .find(|r| {
                    r.tok == tok
                        && !r.is_number()
                        && (r.pos as usize) < MAX_POSITIONS
                        && !s_used[r.pos as usize]
                        && pos.is_none_or(|p| r.pos as usize == p)
                })
                .map(|r| r.pos as usize)
        };
        for sp in &plan.splits {
            let (qi, x, y) = (sp.query as usize, sp.first, sp.second);
            if q_used[qi] {
                continue;
            }
            let Some(px) = word_at(x, None, &s_used) else {
                continue;
            };
            let py = match y {
                Some(y) => match word_at(y, Some(px + 1), &s_used) {
                    Some(py) => Some(py),
                    None => continue,
                },
                None => None,
            };
            q_used[qi] = true;
            s_used[px] = true;
            if let Some(py) = py {
                s_used[py] = true;
            }
            qsum += JOINED_WEIGHT;
            worst = worst.max(Method::Fuzzy);
            if explain {
                for tok in std::iter::once(x).chain(y) {
                    assigned.push(Assigned::joined(qi, tok));
                }
            }
        }
        for j in &plan.joins {
            let (qi, t) = (j.query as usize, j.tok);
            if q_used[qi] || q_used[qi + 1] {
                continue;
            }
            let Some(pt) = word_at(t, None, &s_used) else {
                continue;
            };
            q_used[qi] = true;
            q_used[qi + 1] = true;
            s_used[pt] = true;
            qsum +=
                JOINED_WEIGHT * [qi, qi + 1].iter().filter(|&&q| plan.required[q]).count() as f32;
            worst = worst.max(Method::Fuzzy);
            if explain {
                assigned.push(Assigned::joined(qi, t));
            }
        }
        for p in pairs.iter() {
            if q_used[p.query] || p.pos >= MAX_POSITIONS || s_used[p.pos] {
                continue;
            }
            q_used[p.query] = true;
            s_used[p.pos] = true;
            if plan.required[p.query] {
                qsum += p.w;
                worst = worst.max(p.method);
                loose |= p.method == Method::Phonetic || (p.method == Method::Fuzzy && p.dist >= 2);
            }
            if explain {
                assigned.push(Assigned {
                    query: p.query,
                    tok: p.tok,
                    method: p.method,
                    dist: p.dist,
                    hypocoristic: p.hypocoristic,
                    reading: p.reading,
                    stem: false,
                    joined: false,
                });
            }
        }
        // Words left over on both sides get a closer look: an edit distance in which OCR
        // and keyboard confusions cost less, and two edits are tolerated from six
        // letters (the neighbourhoods above find two only from eight). Only words the
        // candidate has, so the cost is bounded by the candidates already chosen.
        for (qi, q) in self.chars.iter().enumerate() {
            if !plan.required[qi] || q_used[qi] {
                continue;
            }
            let mut best: Option<(f32, &TokRef)> = None;
            for r in refs.iter().filter(|r| {
                r.flags & (F_NUMBER | F_LANG | F_TRANSLIT) == 0
                    && (r.pos as usize) < MAX_POSITIONS
                    && !s_used[r.pos as usize]
            }) {
                let d = *scratch.near.entry((qi as u8, r.tok)).or_insert_with(|| {
                    let t: Vec<char> = ix.vocab.text(r.tok).chars().collect();
                    text::confusion_distance(q, &t, text::max_confusion(q.len().min(t.len())))
                });
                if let Some(d) = d
                    && best.is_none_or(|b| d < b.0)
                {
                    best = Some((d, r));
                }
            }
            if let Some((d, r)) = best {
                q_used[qi] = true;
                s_used[r.pos as usize] = true;
                let (w, dist) = (text::confusion_weight(d), if d <= 1.0 { 1 } else { 2 });
                qsum += w;
                worst = worst.max(Method::Fuzzy);
                loose |= dist >= 2;
                if explain {
                    assigned.push(Assigned::fuzzy(qi, r.tok, dist));
                }
            }
        }
        // Addresses: a compound street name whose street type is misspelled
        // ("Kerkstrata", "Hauptstgraße") is not split off as the stored one was ("kerk" +
        // "str"): the query word begins with the stored stem and the stored street type
        // follows it. Paired like one edit.
        if self.field == TokenField::Address {
            for (qi, q) in self.chars.iter().enumerate() {
                if !plan.required[qi] || q_used[qi] {
                    continue;
                }
                let hit = refs.iter().find(|r| {
                    let p = r.pos as usize;
                    if r.flags & (F_NUMBER | F_LANG | F_TRANSLIT | F_OPTIONAL) != 0
                        || p + 1 >= MAX_POSITIONS
                        || s_used[p]
                        || s_used[p + 1]
                    {
                        return false;
                    }
                    let t = ix.vocab.text(r.tok);
                    let tlen = t.chars().count();
                    tlen >= MIN_COMPOUND_STEM
                        && q.len() >= tlen + MIN_SPLIT_PART
                        && q.iter().copied().take(tlen).eq(t.chars())
                        && refs.iter().any(|n| {
                            n.pos as usize == p + 1 && n.flags & F_OPTIONAL != 0 && !n.is_number()
                        })
                });
                if let Some(r) = hit {
                    let p = r.pos as usize;
                    q_used[qi] = true;
                    s_used[p] = true;
                    s_used[p + 1] = true;
                    qsum += text::confusion_weight(1.0);
                    worst = worst.max(Method::Fuzzy);
                    if explain {
                        assigned.push(Assigned::fuzzy(qi, r.tok, 1));
                    }
                }
            }
        }
        // Names still left over: a pet or short form the tables do not list often keeps
        // the name's beginning or a stem of it ("Musti" for "Mustafa", "Ваня" for
        // "Иван"). Found, weakly and for review (scaled under two edits' cap), so the person
        // ranks above namesakes who only share the surname.
        if self.field == TokenField::Name {
            for (qi, q) in self.chars.iter().enumerate() {
                if !plan.required[qi] || q_used[qi] {
                    continue;
                }
                let hit = refs.iter().find(|r| {
                    r.flags & (F_NUMBER | F_LANG | F_TRANSLIT | F_OPTIONAL) == 0
                        && (r.pos as usize) < MAX_POSITIONS
                        && !s_used[r.pos as usize]
                        && *scratch
                            .stem
                            .entry((qi as u8, r.tok))
                            .or_insert_with(|| text::shares_stem(q, ix.vocab.text(r.tok)))
                });
                if let Some(r) = hit {
                    q_used[qi] = true;
                    s_used[r.pos as usize] = true;
                    qsum += STEM_WEIGHT;
                    worst = worst.max(Method::Fuzzy);
                    stem = true;
                    if explain {
                        assigned.push(Assigned::stem(qi, r.tok));
                    }
                }
            }
        }
        let nreq = plan.required.iter().filter(|r| **r).count();
        let stored_required: Vec<usize> = (0..npos)
            .filter(|p| {
                refs.iter()
                    .any(|r| r.pos as usize == *p && r.flags & (F_OPTIONAL | F_NUMBER) == 0)
            })
            .collect();
        let s_matched = stored_required.iter().filter(|p| s_used[**p]).count();
        let nnum_q = plan.numbers.len();
        let nnum_s = stored_numbers.len();
        let q_total = nreq as f32 + NUMBER_WEIGHT * nnum_q as f32;
        if q_total == 0.0 || (qsum == 0.0 && numbers_matched == 0) {
            return None;
        }
        let num_score = numbers_matched as f32 + near_credit;
        let qcov = (qsum + NUMBER_WEIGHT * num_score) / q_total;
        let s_total = stored_required.len() as f32 + NUMBER_WEIGHT * nnum_s as f32;
        let scov = if s_total == 0.0 {
            1.0
        } else {
            (s_matched as f32 + NUMBER_WEIGHT * num_score) / s_total
        };
        let mut score = QUERY_COVERAGE_SHARE * qcov + (1.0 - QUERY_COVERAGE_SHARE) * scov;
        let all_q = (0..nq).all(|qi| !plan.required[qi] || q_used[qi]);
        if nreq + nnum_q <= 1 {
            score = score.min(ONE_WORD_CAP);
        }
        if (!form.numbers.is_empty() || !stored_numbers.is_empty()) && (nnum_q == 0 || nnum_s == 0)
        {
            score = score.min(NO_NUMBER_AGREEMENT_CAP);
        }
        if loose {
            score = score.min(LOOSE_CAP);
        }
        if stem {
            // Scaled into the loose band rather than capped, so that the surname's own
            // agreement (exact above one edit) still orders the results.
            score = score.clamp(0.0, 1.0) * LOOSE_CAP;
        }
        if short_unmatched {
            score = score.min(UNMATCHED_HOUSE_NUMBER_CAP);
        }
        if numbers_off {
            // A digit off or a number the record lacks: found, for a human to check.
            // Scaled rather than capped, so a keyboard slip still ranks above another
            // one-digit difference.
            score = score.clamp(0.0, 1.0) * NUMBERS_OFF_CAP;
        }
        if unit_as_house {
            score *= UNIT_AS_HOUSE_FACTOR;
        }
        if self.field == TokenField::Name {
            let q_particle = (0..nq).any(|qi| !plan.required[qi] && !q_used[qi]);
            let s_particle = refs.iter().any(|r| {
                r.flags & F_OPTIONAL != 0
                    && !r.is_number()
                    && (r.pos as usize) < MAX_POSITIONS
                    && !s_used[r.pos as usize]
            });
            if q_particle || s_particle {
                score = score.min(PARTICLE_CAP);
            }
        }
        let q_missing = (0..nq).any(|qi| plan.required[qi] && !q_used[qi]);
        if (nnum_q > 0 || nnum_s > 0) && q_missing && s_matched < stored_required.len() {
            // An omission (no city, no street type) is not a disagreement; a word on
            // each side matching nothing on the other is.
            score = score.min(OTHER_STREET_CAP);
        }
        if nq > 0 && qsum == 0.0 && numbers_matched > 0 {
            score = score.min(NUMBERS_ONLY_CAP);
        }
        Some(ValueScore {
            score: score.clamp(0.0, 1.0),
            pairs: assigned,
            method: worst,
            complete: all_q && s_matched == stored_required.len(),
            numbers: numbers_matched,
            numbers_off,
        })
    }
}

/// A house or flat number ("12", "7b"), as opposed to a postcode ("75002", "1000",
/// "2511cv", "sw1a"): at most three digits and an optional letter.
fn is_house_number(t: &str) -> bool {
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &t.as_bytes()[digits..];
    (1..=3).contains(&digits)
        && (rest.is_empty() || (rest.len() == 1 && rest[0].is_ascii_alphabetic()))
}
