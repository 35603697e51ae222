//! The subject index of one tenant: exact keys as fingerprints in a hash multimap, names
//! and addresses through a token index with typo (symmetric delete) and phonetic
//! neighbourhoods. Updated in place on every upsert and removal; no rebuild.
//!
//! The index keeps no subject text except ids and the token vocabulary: evidence refers
//! to a field and a value position, and the [`crate::Directory`] quotes the stored value.

use crate::Method;
use crate::multimap::MultiMap;
use crate::normalize::Region;
use crate::normalize::{self, ExactKey, KeyKind, Position, TokenForm};
use crate::text;
use dsr_model::{Subject, SubjectKind};
use std::collections::HashMap;
use std::hash::BuildHasher;

const F_LANG: u8 = 1;
const F_TRANSLIT: u8 = 2;
const F_OPTIONAL: u8 = 4;
const F_NUMBER: u8 = 8;
/// Exact-key meta bit: the key came from a handle (a WhatsApp number), not its own field.
pub(crate) const META_FROM_HANDLE: u8 = 0x40;
const META_IDX: u8 = 0x3F;
const MAX_QUERY_TOKENS: usize = 12;
const MAX_POSITIONS: usize = 24;
/// Candidates scored per token lookup beyond the rarest word's postings.
const CANDIDATE_BUDGET: usize = 4096;
/// From this many candidates of the rarest word alone, filter by the other words first.
const FILTER_FROM: usize = 1024;
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

fn hash_str(tag: u8, s: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0x7465_7874).hash_one((tag, s))
}

/// A stored token occurrence: which token, at which position of the value, how it was
/// derived.
#[derive(Debug, Clone, Copy)]
struct TokRef {
    tok: u32,
    pos: u8,
    flags: u8,
    /// Which stored value (names[i] / addresses[i]) this token belongs to.
    value: u8,
}

impl TokRef {
    fn weight(self) -> (f32, Method) {
        if self.flags & F_TRANSLIT != 0 {
            (0.95, Method::Transliterated)
        } else if self.flags & F_LANG != 0 {
            (0.98, Method::Normalized)
        } else {
            (1.0, Method::Normalized)
        }
    }
}

/// Token vocabulary with postings and typo / phonetic neighbourhoods.
#[derive(Default)]
struct TokenIndex {
    vocab: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    texts: Vec<Box<str>>,
    postings: Vec<Vec<u32>>,
    deletes: MultiMap,
    phonetic: MultiMap,
}

/// One candidate token for a query position.
#[derive(Debug, Clone, Copy)]
struct Cand {
    tok: u32,
    w: f32,
    method: Method,
    dist: u8,
}

impl TokenIndex {
    fn intern(&mut self, text: &str, fuzzy: bool) -> u32 {
        if let Some(&id) = self.vocab.get(text) {
            return id;
        }
        let id = self.texts.len() as u32;
        self.vocab.insert(text.into(), id);
        self.texts.push(text.into());
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
    fn add_posting(&mut self, tok: u32, slot: u32) {
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

    fn remove_posting(&mut self, tok: u32, slot: u32) {
        let p = &mut self.postings[tok as usize];
        if let Ok(i) = p.binary_search(&slot) {
            p.remove(i);
        }
    }

    /// Every vocabulary token a query position can match, with its weight.
    fn expand(&self, q: &Position, number: bool, out: &mut Vec<Cand>) {
        out.clear();
        let push = |c: Cand, out: &mut Vec<Cand>| match out.iter_mut().find(|x| x.tok == c.tok) {
            Some(x) if x.w < c.w => *x = c,
            Some(_) => {}
            None => out.push(c),
        };
        let variants = std::iter::once((q.primary.as_str(), Method::Normalized, 1.0f32)).chain(
            q.alts.iter().map(|(t, m)| {
                (
                    t.as_str(),
                    *m,
                    if *m == Method::Transliterated {
                        0.95
                    } else {
                        0.98
                    },
                )
            }),
        );
        for (v, method, w) in variants {
            if let Some(&tok) = self.vocab.get(v) {
                push(
                    Cand {
                        tok,
                        w,
                        method,
                        dist: 0,
                    },
                    out,
                );
            }
            if number {
                continue;
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
                    let t: Vec<char> = self.texts[tok as usize].chars().collect();
                    let allowed = text::max_edits(chars.len().min(t.len()));
                    if let Some(d) = text::osa_distance(&chars, &t, allowed)
                        && d > 0
                    {
                        let fw = if d == 1 { 0.85 } else { 0.7 };
                        push(
                            Cand {
                                tok,
                                w: w * fw,
                                method: Method::Fuzzy,
                                dist: d,
                            },
                            out,
                        );
                    }
                }
            }
            if let Some(p) = text::phonetic(v) {
                for &tok in self.phonetic.get(hash_str(2, &p)) {
                    push(
                        Cand {
                            tok,
                            w: w * 0.8,
                            method: Method::Phonetic,
                            dist: 0,
                        },
                        out,
                    );
                }
            }
        }
    }

    fn heap_bytes(&self) -> usize {
        let vocab = self.vocab.capacity() * (std::mem::size_of::<(Box<str>, u32)>() + 1) * 8 / 7;
        let texts: usize = self.texts.iter().map(|t| t.len() * 2).sum::<usize>()
            + self.texts.capacity() * std::mem::size_of::<Box<str>>();
        let postings: usize = self.postings.capacity() * std::mem::size_of::<Vec<u32>>()
            + self
                .postings
                .iter()
                .map(|p| p.capacity() * 4)
                .sum::<usize>();
        vocab + texts + postings + self.deletes.heap_bytes() + self.phonetic.heap_bytes()
    }
}

struct Slot {
    id: Box<str>,
    kind: SubjectKind,
    live: bool,
    /// `(fingerprint & !0xFF) | meta`, meta = value index (+ [`META_FROM_HANDLE`]).
    exact: Box<[u64]>,
    /// Every name's tokens in one allocation, grouped by value (`TokRef::value`).
    names: Box<[TokRef]>,
    /// Every address's tokens, likewise.
    addrs: Box<[TokRef]>,
}

/// A hit on an exact key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExactHit {
    pub slot: u32,
    /// Index into the query keys.
    pub key: usize,
    /// Value index and source bit.
    pub meta: u8,
}

impl ExactHit {
    pub fn value_index(&self) -> usize {
        (self.meta & META_IDX) as usize
    }
    pub fn is_from_handle(&self) -> bool {
        self.meta & META_FROM_HANDLE != 0
    }
}

/// One token pairing behind a name or address hit.
#[derive(Debug, Clone)]
pub(crate) struct Pair {
    pub query: String,
    pub stored: String,
    pub method: Method,
    pub dist: u8,
}

/// A hit on a name or an address.
#[derive(Debug, Clone)]
pub(crate) struct TokenHit {
    pub slot: u32,
    pub value: usize,
    pub score: f32,
    pub method: Method,
    pub complete: bool,
    pub pairs: Vec<Pair>,
    pub numbers_matched: usize,
    /// A number one digit off, or a query number the record lacks.
    pub numbers_off: bool,
}

/// Which token index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenField {
    Name,
    Address,
}

/// Memory use of an index, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct MemoryReport {
    /// Live subjects.
    pub subjects: usize,
    /// Exact keys.
    pub exact_keys: usize,
    /// Bytes in the exact-key table.
    pub exact_bytes: usize,
    /// Bytes in per-subject slots.
    pub slot_bytes: usize,
    /// Bytes in the name token index.
    pub name_bytes: usize,
    /// Bytes in the address token index.
    pub address_bytes: usize,
}

impl MemoryReport {
    /// All bytes.
    pub fn total(&self) -> usize {
        self.exact_bytes + self.slot_bytes + self.name_bytes + self.address_bytes
    }
}

/// Per-query scratch for token scoring.
struct QueryPlan {
    /// Per query position: candidate tokens.
    cands: Vec<Vec<Cand>>,
    /// Token → (query position, candidate index).
    by_tok: HashMap<u32, Vec<(u8, u16)>, foldhash::fast::RandomState>,
    required: Vec<bool>,
    numbers: Vec<Option<u32>>,
}

/// The subject index of one tenant. See the module docs.
pub struct SubjectIndex {
    slots: Vec<Slot>,
    free: Vec<u32>,
    exact: MultiMap,
    names: TokenIndex,
    addrs: TokenIndex,
    region: Option<Region>,
    live: usize,
}

impl SubjectIndex {
    /// An empty index; `region` places national-format phone numbers of stored subjects.
    pub fn new(region: Option<Region>) -> Self {
        SubjectIndex {
            slots: Vec::new(),
            free: Vec::new(),
            exact: MultiMap::default(),
            names: TokenIndex::default(),
            addrs: TokenIndex::default(),
            region,
            live: 0,
        }
    }

    /// Live subjects.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The slot of a subject id, if indexed.
    pub fn slot_of(&self, id: &str, kind_hint: Option<SubjectKind>) -> Option<u32> {
        let key_text = normalize::id_text(id);
        let kinds: &[SubjectKind] = match kind_hint {
            Some(SubjectKind::User) => &[SubjectKind::User],
            Some(SubjectKind::ExternalContact) => &[SubjectKind::ExternalContact],
            Some(SubjectKind::DialerContact) => &[SubjectKind::DialerContact],
            None => &[
                SubjectKind::User,
                SubjectKind::ExternalContact,
                SubjectKind::DialerContact,
            ],
        };
        for kind in kinds {
            let fp = normalize::fingerprint(KeyKind::for_subject(*kind), &key_text) & !0xFF;
            for &slot in self.exact.get(fp) {
                let s = &self.slots[slot as usize];
                if s.live && &*s.id == id {
                    return Some(slot);
                }
            }
        }
        None
    }

    /// The id and kind in a slot.
    pub fn slot_subject(&self, slot: u32) -> Option<(&str, SubjectKind)> {
        self.slots
            .get(slot as usize)
            .filter(|s| s.live)
            .map(|s| (&*s.id, s.kind))
    }

    /// Adds or replaces a subject; returns its slot and warnings for stored values that
    /// cannot be searched (an email without `@`, …).
    pub fn upsert(&mut self, s: &Subject) -> (u32, Vec<String>) {
        let slot = match self.slot_of(s.id.as_str(), Some(s.kind)) {
            Some(slot) => {
                self.clear_slot(slot);
                slot
            }
            None => {
                // The same id under another kind is another subject in the index only if
                // the directory allows it; the directory removes it first.
                self.live += 1;
                match self.free.pop() {
                    Some(slot) => slot,
                    None => {
                        self.slots.push(Slot {
                            id: "".into(),
                            kind: s.kind,
                            live: false,
                            exact: Box::new([]),
                            names: Box::new([]),
                            addrs: Box::new([]),
                        });
                        (self.slots.len() - 1) as u32
                    }
                }
            }
        };
        let mut warnings = Vec::new();
        let mut exact: Vec<u64> = Vec::new();
        let add = |key: &ExactKey, meta: u8, exact: &mut Vec<u64>| {
            let packed = (key.fingerprint() & !0xFF) | u64::from(meta);
            if !exact.contains(&packed) {
                exact.push(packed);
            }
        };
        add(
            &ExactKey {
                kind: KeyKind::for_subject(s.kind),
                text: normalize::id_text(s.id.as_str()),
            },
            0,
            &mut exact,
        );
        for (i, e) in s.emails.iter().enumerate().take(64) {
            match normalize::email_keys(e) {
                Ok(keys) => {
                    for k in &keys {
                        if k.kind == KeyKind::Email
                            && keys
                                .iter()
                                .any(|o| o.kind == KeyKind::EmailCanonical && o.text == k.text)
                        {
                            continue;
                        }
                        add(k, i as u8, &mut exact);
                    }
                }
                Err(w) => warnings.push(format!("emails[{i}]: {w}; stored but not searchable")),
            }
        }
        for (i, p) in s.phones.iter().enumerate().take(64) {
            match normalize::phone_keys(p, self.region) {
                Ok(keys) => {
                    for k in &keys {
                        if k.kind == KeyKind::PhoneDigits {
                            warnings.push(format!(
                                "phones[{i}]: {p:?} has no country (write it as +CC… or set a default region); found only by the same digits"
                            ));
                        }
                        add(k, i as u8, &mut exact);
                    }
                }
                Err(w) => warnings.push(format!("phones[{i}]: {w}; stored but not searchable")),
            }
        }
        for (i, h) in s.handles.iter().enumerate().take(64) {
            match normalize::handle_keys(Some(&h.platform), &h.value, self.region) {
                Ok(keys) => {
                    for k in &keys {
                        let meta = if matches!(k.kind, KeyKind::PhoneE164 | KeyKind::PhoneDigits) {
                            i as u8 | META_FROM_HANDLE
                        } else {
                            i as u8
                        };
                        add(k, meta, &mut exact);
                    }
                }
                Err(w) => warnings.push(format!("handles[{i}]: {w}; stored but not searchable")),
            }
        }
        for (i, x) in s.external_ids.iter().enumerate().take(64) {
            add(
                &ExactKey {
                    kind: KeyKind::ExternalId,
                    text: normalize::id_text(x),
                },
                i as u8,
                &mut exact,
            );
        }
        let mut names = Vec::new();
        for (i, n) in s.names.iter().enumerate().take(64) {
            let form = normalize::name_form(n);
            if form.words.is_empty() {
                warnings.push(format!(
                    "names[{i}]: {n:?} has no letters; stored but not searchable"
                ));
            }
            for c in form.compact.iter().chain(&normalize::joined_keys(&form)) {
                add(
                    &ExactKey {
                        kind: KeyKind::NameCompact,
                        text: c.clone(),
                    },
                    i as u8,
                    &mut exact,
                );
            }
            Self::intern_form(&mut self.names, &form, i as u8, &mut names);
        }
        let mut addrs = Vec::new();
        for (i, a) in s.addresses.iter().enumerate().take(64) {
            let form = normalize::address_form(a);
            Self::intern_form(&mut self.addrs, &form, i as u8, &mut addrs);
        }
        for &packed in &exact {
            self.exact.insert(packed & !0xFF, slot);
        }
        Self::post(&mut self.names, &names, slot);
        Self::post(&mut self.addrs, &addrs, slot);
        self.slots[slot as usize] = Slot {
            id: s.id.as_str().into(),
            kind: s.kind,
            live: true,
            exact: exact.into_boxed_slice(),
            names: names.into_boxed_slice(),
            addrs: addrs.into_boxed_slice(),
        };
        (slot, warnings)
    }

    fn intern_form(ix: &mut TokenIndex, form: &TokenForm, value: u8, refs: &mut Vec<TokRef>) {
        for (p, w) in form.words.iter().enumerate().take(MAX_POSITIONS) {
            let opt = if w.optional { F_OPTIONAL } else { 0 };
            refs.push(TokRef {
                tok: ix.intern(&w.primary, true),
                pos: p as u8,
                flags: opt,
                value,
            });
            for (alt, m) in &w.alts {
                let flag = if *m == Method::Transliterated {
                    F_TRANSLIT
                } else {
                    F_LANG
                };
                refs.push(TokRef {
                    tok: ix.intern(alt, true),
                    pos: p as u8,
                    flags: flag | opt,
                    value,
                });
            }
        }
        let base = form.words.len().min(MAX_POSITIONS);
        for (k, n) in form.numbers.iter().enumerate().take(MAX_POSITIONS) {
            refs.push(TokRef {
                tok: ix.intern(n, false),
                pos: (base + k).min(255) as u8,
                flags: F_NUMBER,
                value,
            });
        }
    }

    fn post(ix: &mut TokenIndex, refs: &[TokRef], slot: u32) {
        let mut toks: Vec<u32> = refs.iter().map(|r| r.tok).collect();
        toks.sort_unstable();
        toks.dedup();
        for t in toks {
            ix.add_posting(t, slot);
        }
    }

    fn unpost(ix: &mut TokenIndex, refs: &[TokRef], slot: u32) {
        let mut toks: Vec<u32> = refs.iter().map(|r| r.tok).collect();
        toks.sort_unstable();
        toks.dedup();
        for t in toks {
            ix.remove_posting(t, slot);
        }
    }

    fn clear_slot(&mut self, slot: u32) {
        let s = &mut self.slots[slot as usize];
        let exact = std::mem::take(&mut s.exact);
        let names = std::mem::take(&mut s.names);
        let addrs = std::mem::take(&mut s.addrs);
        for packed in exact.iter() {
            self.exact.remove(packed & !0xFF, slot);
        }
        Self::unpost(&mut self.names, &names, slot);
        Self::unpost(&mut self.addrs, &addrs, slot);
    }

    /// Removes a subject by id; returns whether it was indexed.
    pub fn remove(&mut self, id: &str, kind: Option<SubjectKind>) -> bool {
        let Some(slot) = self.slot_of(id, kind) else {
            return false;
        };
        self.clear_slot(slot);
        let s = &mut self.slots[slot as usize];
        s.live = false;
        s.id = "".into();
        self.free.push(slot);
        self.live -= 1;
        true
    }

    /// Subjects having any of `keys`, with the key and value index that matched.
    /// Fingerprints are compared on 56 bits; the directory re-checks text where cheap.
    pub(crate) fn exact_hits(&self, keys: &[ExactKey]) -> Vec<ExactHit> {
        let mut out = Vec::new();
        for (ki, key) in keys.iter().enumerate() {
            let fp = key.fingerprint() & !0xFF;
            for &slot in self.exact.get(fp) {
                let s = &self.slots[slot as usize];
                if !s.live {
                    continue;
                }
                for &packed in s.exact.iter() {
                    if packed & !0xFF == fp {
                        out.push(ExactHit {
                            slot,
                            key: ki,
                            meta: (packed & 0xFF) as u8,
                        });
                    }
                }
            }
        }
        out
    }

    fn plan(&self, field: TokenField, form: &TokenForm) -> QueryPlan {
        let ix = match field {
            TokenField::Name => &self.names,
            TokenField::Address => &self.addrs,
        };
        let words: Vec<&Position> = form.words.iter().take(MAX_QUERY_TOKENS).collect();
        let any_required = words.iter().any(|w| !w.optional);
        let mut cands = Vec::with_capacity(words.len());
        let mut required = Vec::with_capacity(words.len());
        let mut buf = Vec::new();
        for w in &words {
            ix.expand(w, false, &mut buf);
            cands.push(buf.clone());
            required.push(!w.optional || !any_required);
        }
        let numbers: Vec<Option<u32>> = form
            .numbers
            .iter()
            .take(MAX_QUERY_TOKENS)
            .map(|n| ix.vocab.get(n.as_str()).copied())
            .collect();
        let mut by_tok: HashMap<u32, Vec<(u8, u16)>, foldhash::fast::RandomState> =
            HashMap::default();
        for (qi, cs) in cands.iter().enumerate() {
            for (ci, c) in cs.iter().enumerate() {
                by_tok.entry(c.tok).or_default().push((qi as u8, ci as u16));
            }
        }
        QueryPlan {
            cands,
            by_tok,
            required,
            numbers,
        }
    }

    /// Subjects whose names (or addresses) match the token form, scored, best first, at
    /// most `limit`, each at least `min_score`.
    pub(crate) fn token_hits(
        &self,
        field: TokenField,
        form: &TokenForm,
        limit: usize,
        min_score: f32,
    ) -> Vec<TokenHit> {
        let ix = match field {
            TokenField::Name => &self.names,
            TokenField::Address => &self.addrs,
        };
        let plan = self.plan(field, form);
        // Candidate generation: the postings of the two rarest required positions (one
        // misspelt beyond repair still leaves the other), numbers first for addresses.
        let mut sources: Vec<(usize, Vec<u32>)> = Vec::new();
        for (qi, cs) in plan.cands.iter().enumerate() {
            if plan.required[qi] && !cs.is_empty() {
                let size: usize = cs.iter().map(|c| ix.postings[c.tok as usize].len()).sum();
                if size <= CANDIDATE_BUDGET {
                    sources.push((size, cs.iter().map(|c| c.tok).collect()));
                    continue;
                }
                // A large neighbourhood: generate from the close spellings only (exact,
                // folded, transliterated, one edit). Two-edit and sound-alike matches are
                // weak at best; they are still scored on candidates found this way.
                let tight: Vec<u32> = cs
                    .iter()
                    .filter(|c| c.method != Method::Phonetic && c.dist <= 1)
                    .map(|c| c.tok)
                    .collect();
                let size = tight.iter().map(|t| ix.postings[*t as usize].len()).sum();
                if !tight.is_empty() {
                    sources.push((size, tight));
                }
            }
        }
        for n in plan.numbers.iter().flatten() {
            sources.push((ix.postings[*n as usize].len(), vec![*n]));
        }
        if sources.is_empty() {
            return Vec::new();
        }
        sources.sort_by_key(|s| s.0);
        // The rarest source always; the next one too while the work stays bounded, so a
        // small directory still finds a person whose rarest word is misspelt beyond
        // repair, and a large one does not score every "Maria" for "Maria Nowakowska"
        // (a match on the common word alone would be weak anyway).
        let mut slots: Vec<u32> = Vec::new();
        let mut filtered = false;
        for (i, (size, toks)) in sources.iter().take(2).enumerate() {
            if i > 0 && slots.len() + size > CANDIDATE_BUDGET {
                break;
            }
            for t in toks {
                slots.extend_from_slice(&ix.postings[*t as usize]);
            }
            filtered = i == 0;
        }
        slots.sort_unstable();
        slots.dedup();
        if filtered && sources.len() >= 2 && slots.len() > FILTER_FROM {
            // Only the rarest word's postings, and many of them: keep the candidates
            // that also have the other words — all of them for a two-word query (one of
            // two is weak at best), all but one for longer ones (a stored value may lack
            // a postcode or a second surname). Postings are sorted, so each word's
            // presence is a merge or a binary search, far cheaper than scoring.
            let others = &sources[1..];
            let need = if others.len() == 1 {
                1
            } else {
                others.len() - 1
            };
            let mut counts = vec![0u8; slots.len()];
            let mut last = vec![u16::MAX; slots.len()];
            for (si, (_, toks)) in others.iter().enumerate() {
                for t in toks {
                    let posting = &ix.postings[*t as usize];
                    let mut mark = |ci: usize| {
                        if last[ci] != si as u16 {
                            last[ci] = si as u16;
                            counts[ci] = counts[ci].saturating_add(1);
                        }
                    };
                    if posting.len() < slots.len() {
                        for p in posting {
                            if let Ok(ci) = slots.binary_search(p) {
                                mark(ci);
                            }
                        }
                    } else {
                        for (ci, c) in slots.iter().enumerate() {
                            if posting.binary_search(c).is_ok() {
                                mark(ci);
                            }
                        }
                    }
                }
            }
            let mut k = 0;
            slots.retain(|_| {
                let keep = counts[k] as usize >= need;
                k += 1;
                keep
            });
        }
        let mut scratch = Scratch::default();
        let mut scored: Vec<(f32, u32, usize)> = Vec::new();
        for &slot in &slots {
            let s = &self.slots[slot as usize];
            let values = match field {
                TokenField::Name => &s.names,
                TokenField::Address => &s.addrs,
            };
            let mut best: Option<(f32, usize)> = None;
            for refs in values.chunk_by(|a, b| a.value == b.value) {
                let vi = refs[0].value as usize;
                if let Some(sc) = self.score_value(ix, &plan, form, refs, &mut scratch, None)
                    && best.is_none_or(|b| sc > b.0)
                {
                    best = Some((sc, vi));
                }
            }
            if let Some((sc, vi)) = best
                && sc >= min_score
            {
                scored.push((sc, slot, vi));
            }
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.truncate(limit);
        scored
            .into_iter()
            .map(|(score, slot, vi)| {
                let s = &self.slots[slot as usize];
                let all = match field {
                    TokenField::Name => &s.names,
                    TokenField::Address => &s.addrs,
                };
                let refs = all
                    .chunk_by(|a, b| a.value == b.value)
                    .find(|r| r[0].value as usize == vi)
                    .unwrap_or(&[]);
                let mut detail = Detail::default();
                self.score_value(ix, &plan, form, refs, &mut scratch, Some(&mut detail));
                let pairs = detail
                    .pairs
                    .iter()
                    .map(|&(qi, tok, method, dist)| Pair {
                        query: form.words[qi].primary.clone(),
                        stored: ix.texts[tok as usize].to_string(),
                        method,
                        dist,
                    })
                    .collect();
                TokenHit {
                    slot,
                    value: vi,
                    score,
                    method: detail.method,
                    complete: detail.complete,
                    pairs,
                    numbers_matched: detail.numbers,
                    numbers_off: detail.numbers_off,
                }
            })
            .collect()
    }

    /// Scores one stored value against the query plan. `None` when it cannot be the same
    /// value (a house number or postcode differs). Order-independent: the assignment of
    /// query to stored positions is by weight, ties broken by token text.
    fn score_value(
        &self,
        ix: &TokenIndex,
        plan: &QueryPlan,
        form: &TokenForm,
        refs: &[TokRef],
        scratch: &mut Scratch,
        detail: Option<&mut Detail>,
    ) -> Option<f32> {
        // Numbers must agree: every query number present in the stored numbers.
        let stored_numbers = &mut scratch.numbers;
        stored_numbers.clear();
        stored_numbers.extend(
            refs.iter()
                .filter(|r| r.flags & F_NUMBER != 0)
                .map(|r| r.tok),
        );
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
                        && text::near_number(q, &ix.texts[*s as usize])
                });
                match near {
                    Some(i) => {
                        num_used[i] = true;
                        numbers_near += 1;
                        near_credit += if text::keyboard_digit_slip(
                            q,
                            &ix.texts[stored_numbers[i] as usize],
                        ) {
                            NEAR_NUMBER_CREDIT
                        } else {
                            OTHER_NUMBER_CREDIT
                        };
                    }
                    None => numbers_extra += 1,
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
        // A stored house or flat number the query leaves out ("Flat 3, 12 High St" asked
        // as "12 High St") may be a neighbour in the same building: never strong.
        let short_unmatched = numbers_matched > 0
            && stored_numbers.iter().enumerate().any(|(i, t)| {
                !num_used.get(i).copied().unwrap_or(false)
                    && is_house_number(&ix.texts[*t as usize])
            });
        // Best weight per (query position, stored position).
        let nq = plan.cands.len();
        let npos = refs
            .iter()
            .filter(|r| r.flags & F_NUMBER == 0)
            .map(|r| r.pos as usize + 1)
            .max()
            .unwrap_or(0);
        let pairs = &mut scratch.pairs;
        pairs.clear();
        for r in refs.iter().filter(|r| r.flags & F_NUMBER == 0) {
            let Some(hits) = plan.by_tok.get(&r.tok) else {
                continue;
            };
            let (sw, sm) = r.weight();
            for &(qi, ci) in hits {
                let c = plan.cands[qi as usize][ci as usize];
                let w = c.w * sw;
                let m = c.method.max(sm);
                pairs.push((w, qi as usize, r.pos as usize, r.tok, m, c.dist));
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
            let stored = &*ix.texts[r.tok as usize];
            let s_init = initial(stored);
            for (qi, w) in form.words.iter().enumerate().take(nq) {
                let q_init = initial(&w.primary);
                let hit = match (q_init, s_init) {
                    (Some(q), None) => stored.starts_with(q),
                    (None, Some(s)) => w.primary.starts_with(s),
                    _ => false,
                };
                if hit {
                    pairs.push((0.6, qi, r.pos as usize, r.tok, Method::Fuzzy, 0));
                }
            }
        }
        pairs.sort_by(|a, b| {
            b.0.total_cmp(&a.0)
                .then_with(|| form.words[a.1].primary.cmp(&form.words[b.1].primary))
                .then(a.2.cmp(&b.2))
        });
        let mut q_used = [false; MAX_QUERY_TOKENS];
        let mut s_used = [false; MAX_POSITIONS];
        let mut qsum = 0.0f32;
        let mut worst = Method::Exact;
        let mut assigned: Vec<(usize, u32, Method, u8)> = Vec::new();
        let mut loose = false;
        for &(w, qi, pos, tok, m, dist) in pairs.iter() {
            if q_used[qi] || pos >= MAX_POSITIONS || s_used[pos] {
                continue;
            }
            q_used[qi] = true;
            s_used[pos] = true;
            if plan.required[qi] {
                qsum += w;
                worst = worst.max(m);
                loose |= m == Method::Phonetic || (m == Method::Fuzzy && dist >= 2);
            }
            assigned.push((qi, tok, m, dist));
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
        const NUM_W: f32 = 1.5;
        let q_total = nreq as f32 + NUM_W * nnum_q as f32;
        if q_total == 0.0 || (qsum == 0.0 && numbers_matched == 0) {
            return None;
        }
        let num_score = numbers_matched as f32 + near_credit;
        let qcov = (qsum + NUM_W * num_score) / q_total;
        let s_total = stored_required.len() as f32 + NUM_W * nnum_s as f32;
        let scov = if s_total == 0.0 {
            1.0
        } else {
            (s_matched as f32 + NUM_W * num_score) / s_total
        };
        let mut score = 0.8 * qcov + 0.2 * scov;
        let all_q = (0..nq).all(|qi| !plan.required[qi] || q_used[qi]);
        if nreq + nnum_q <= 1 {
            // One word alone (a surname, a street name) is never enough to be sure.
            score = score.min(0.7);
        }
        if !form.numbers.is_empty() || !stored_numbers.is_empty() {
            // Address: without house number agreement, neighbours look alike.
            if nnum_q == 0 || nnum_s == 0 {
                score = score.min(0.85);
            }
        }
        if loose {
            // Two edits or only a likeness of sound on a word: in a large directory that
            // is as often a neighbour as a typo. Found, but for a human to review.
            score = score.min(0.74);
        }
        if short_unmatched {
            score = score.min(0.85);
        }
        if numbers_off {
            // A digit off or a number the record lacks: found, for a human to check.
            // Scaled rather than capped, so a keyboard slip still ranks above another
            // one-digit difference.
            score = score.clamp(0.0, 1.0) * NUMBERS_OFF_CAP;
        }
        if std::ptr::eq(ix, &self.names) {
            // A particle on one side only ("Daan de Boserg" / "Daan Boserg"): often
            // another family, sometimes the same person written lazily. Never strong.
            let q_particle = (0..nq).any(|qi| !plan.required[qi] && !q_used[qi]);
            let s_particle = refs.iter().any(|r| {
                r.flags & F_OPTIONAL != 0
                    && r.flags & F_NUMBER == 0
                    && (r.pos as usize) < MAX_POSITIONS
                    && !s_used[r.pos as usize]
            });
            if q_particle || s_particle {
                score = score.min(0.85);
            }
        }
        let q_missing = (0..nq).any(|qi| plan.required[qi] && !q_used[qi]);
        if (nnum_q > 0 || nnum_s > 0) && q_missing && s_matched < stored_required.len() {
            // A word on each side that matches nothing on the other: another street at
            // the same number and postcode ("Marktplein 108" for "Molenweg 108"). An
            // omission (no city, no street type) is not a disagreement.
            score = score.min(0.7);
        }
        if nq > 0 && qsum == 0.0 && numbers_matched > 0 {
            // Only numbers agree (same postcode, another street).
            score = score.min(0.5);
        }
        if let Some(d) = detail {
            d.pairs = assigned;
            d.method = worst;
            d.complete = all_q && s_matched == stored_required.len();
            d.numbers = numbers_matched;
            d.numbers_off = numbers_off;
        }
        Some(score.clamp(0.0, 1.0))
    }

    /// Memory use by part (approximate heap bytes).
    pub fn memory(&self) -> MemoryReport {
        let slot_bytes = self.slots.capacity() * std::mem::size_of::<Slot>()
            + self
                .slots
                .iter()
                .map(|s| {
                    s.id.len()
                        + s.exact.len() * 8
                        + (s.names.len() + s.addrs.len()) * std::mem::size_of::<TokRef>()
                })
                .sum::<usize>();
        MemoryReport {
            subjects: self.live,
            exact_keys: self.exact.len(),
            exact_bytes: self.exact.heap_bytes(),
            slot_bytes,
            name_bytes: self.names.heap_bytes(),
            address_bytes: self.addrs.heap_bytes(),
        }
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

/// Buffers reused across the candidates of one lookup.
#[derive(Default)]
struct Scratch {
    pairs: Vec<(f32, usize, usize, u32, Method, u8)>,
    numbers: Vec<u32>,
}

#[derive(Default)]
struct Detail {
    pairs: Vec<(usize, u32, Method, u8)>,
    method: Method,
    complete: bool,
    numbers: usize,
    numbers_off: bool,
}
