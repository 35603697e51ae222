//! The subject index of one tenant: exact keys as fingerprints in a hash multimap, names
//! and addresses through a token index with typo (symmetric delete) and phonetic
//! neighbourhoods. Updated in place on every upsert and removal; no rebuild.
//!
//! The index keeps no subject text except ids and the token vocabulary: evidence refers
//! to a field and a value position, and the [`crate::Directory`] quotes the stored value.
//!
//! Parts: [`tokens`] (the vocabulary, postings and neighbourhoods of one field),
//! [`candidates`] (which subjects a query scores at all), [`score`] (scoring one stored
//! value, with the caps that keep an uncertain match from looking certain). This module
//! holds the slots and keeps them and the indexes in step.

mod candidates;
mod score;
mod tokens;

use crate::Method;
use crate::multimap::MultiMap;
use crate::normalize::Region;
use crate::normalize::{self, ExactKey, KeyKind, TokenForm};
use crate::packed::{kind_byte, kind_of};
use crate::snapshot::{self, In, Out, SnapshotError, damaged};
use crate::text;
use dsr_model::{Subject, SubjectKind};
use score::{QueryPlan, Scorer, Scratch};
use std::collections::HashMap;
use tokens::{F_LANG, F_NUMBER, F_OPTIONAL, F_READING, F_TRANSLIT, TokRef, TokenIndex};

/// Exact-key meta bit: the key came from a handle (a WhatsApp number), not its own field.
pub(crate) const META_FROM_HANDLE: u8 = 0x40;
/// Exact-key meta bits holding the value index (names[i], emails[i], …).
const META_IDX: u8 = 0x3F;
/// Query words scored: more is a sentence, not a name or an address; the rest are
/// ignored so that a lookup's work stays bounded.
const MAX_QUERY_TOKENS: usize = 12;
/// Word positions indexed per stored value (a position fits a `u8`; real names and
/// addresses have far fewer).
const MAX_POSITIONS: usize = 24;

/// One scored candidate: its best value.
#[derive(Debug, Clone, Copy)]
struct Scored {
    score: f32,
    slot: u32,
    value: usize,
}

/// One subject's entry, in two heap blocks: its exact keys with its id, and its name
/// and address token references (one block each rather than one per part: at 10 M
/// subjects every allocation's header and rounding is tens of megabytes).
struct Slot {
    /// `n_exact` keys as little-endian `(fingerprint & !0xFF) | meta` words (meta = value
    /// index, + [`META_FROM_HANDLE`]), then the id's UTF-8 bytes.
    keys: Box<[u8]>,
    /// Every name's tokens grouped by value (`TokRef::value`), then every address's.
    toks: Box<[TokRef]>,
    n_exact: u16,
    n_names: u32,
    kind: SubjectKind,
    live: bool,
}

impl Slot {
    fn empty(kind: SubjectKind) -> Slot {
        Slot {
            keys: Box::new([]),
            toks: Box::new([]),
            n_exact: 0,
            n_names: 0,
            kind,
            live: false,
        }
    }

    fn new(kind: SubjectKind, id: &str, exact: &[u64], names: &[TokRef], addrs: &[TokRef]) -> Slot {
        let n_exact = exact.len().min(usize::from(u16::MAX));
        let mut keys = Vec::with_capacity(n_exact * 8 + id.len());
        for k in &exact[..n_exact] {
            keys.extend_from_slice(&k.to_le_bytes());
        }
        keys.extend_from_slice(id.as_bytes());
        let mut toks = Vec::with_capacity(names.len() + addrs.len());
        toks.extend_from_slice(names);
        toks.extend_from_slice(addrs);
        Slot {
            keys: keys.into_boxed_slice(),
            toks: toks.into_boxed_slice(),
            n_exact: n_exact as u16,
            n_names: names.len() as u32,
            kind,
            live: true,
        }
    }

    fn exact(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys[..usize::from(self.n_exact) * 8]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
    }

    fn id_bytes(&self) -> &[u8] {
        &self.keys[usize::from(self.n_exact) * 8..]
    }

    fn id(&self) -> &str {
        // Written from a `&str` in `new`.
        std::str::from_utf8(self.id_bytes()).unwrap_or_default()
    }

    fn names(&self) -> &[TokRef] {
        &self.toks[..self.n_names as usize]
    }

    fn addrs(&self) -> &[TokRef] {
        &self.toks[self.n_names as usize..]
    }

    fn heap_bytes(&self) -> usize {
        self.keys.len() + self.toks.len() * std::mem::size_of::<TokRef>()
    }
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
    /// Matched through a short or pet form of a given name.
    pub hypocoristic: bool,
    /// Matched through a Japanese reading of a kanji name part.
    pub reading: bool,
    /// Paired only by a shared beginning or stem (a short form no table lists).
    pub stem: bool,
    /// Paired by running words together or splitting one.
    pub joined: bool,
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
    /// How rare the matched stored words are (see [`rarity`]), averaged.
    pub rarity: f32,
}

/// How rare a word is that `df` of `n` subjects have: ln(n / df) / ln(n), 1 for a word
/// only one subject has, 0 for a word all have (the inverse document frequency that
/// Fellegi–Sunter agreement weights are made of, scaled to the directory).
fn rarity(df: usize, n: usize) -> f32 {
    if n < 2 {
        return 1.0;
    }
    let (df, n) = (df.clamp(1, n) as f32, n as f32);
    (n / df).ln() / n.ln()
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
                if s.live && s.id_bytes() == id.as_bytes() {
                    return Some(slot);
                }
            }
        }
        None
    }

    /// Slots, live or free.
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }

    /// The id and kind in a slot.
    pub fn slot_subject(&self, slot: u32) -> Option<(&str, SubjectKind)> {
        self.slots
            .get(slot as usize)
            .filter(|s| s.live)
            .map(|s| (s.id(), s.kind))
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
                        self.slots.push(Slot::empty(s.kind));
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
        self.slots[slot as usize] = Slot::new(s.kind, s.id.as_str(), &exact, &names, &addrs);
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
            let readings = if text::has_cjk(&w.primary) {
                crate::readings::readings(&w.primary)
            } else {
                Vec::new()
            };
            for (alt, m) in &w.alts {
                let flag = if readings.contains(alt) {
                    F_READING
                } else if *m == Method::Transliterated {
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
        let old = std::mem::replace(s, Slot::empty(s.kind));
        for packed in old.exact() {
            self.exact.remove(packed & !0xFF, slot);
        }
        Self::unpost(&mut self.names, old.names(), slot);
        Self::unpost(&mut self.addrs, old.addrs(), slot);
        // Still the subject's (its id, no keys) until the caller refills or frees it.
        let mut kept = Slot::new(old.kind, old.id(), &[], &[], &[]);
        kept.live = old.live;
        self.slots[slot as usize] = kept;
    }

    /// Removes a subject by id; returns whether it was indexed.
    pub fn remove(&mut self, id: &str, kind: Option<SubjectKind>) -> bool {
        let Some(slot) = self.slot_of(id, kind) else {
            return false;
        };
        self.clear_slot(slot);
        self.slots[slot as usize] = Slot::empty(self.slots[slot as usize].kind);
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
                for packed in s.exact() {
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

    /// Subjects whose names (or addresses) match the token form, scored, best first, at
    /// most `limit`, each at least `min_score`.
    pub(crate) fn token_hits(
        &self,
        field: TokenField,
        form: &TokenForm,
        limit: usize,
        min_score: f32,
    ) -> Vec<TokenHit> {
        self.token_hits_until(field, form, limit, min_score, true)
    }

    /// [`Self::token_hits`], stopping (with `early`) once `limit` candidates score the
    /// query's ceiling: candidates come in slot order and ties are broken by slot, so no
    /// later one could rank above them. The answer is the same as scoring every
    /// candidate (a property test holds it to that); ten thousand exact "Иван Иванов"
    /// cost `limit` scorings, not ten thousand.
    fn token_hits_until(
        &self,
        field: TokenField,
        form: &TokenForm,
        limit: usize,
        min_score: f32,
        early: bool,
    ) -> Vec<TokenHit> {
        let ix = self.tokens(field);
        let plan = QueryPlan::new(ix, field, form);
        let scorer = Scorer::new(ix, &plan, form, field);
        let mut scratch = Scratch::default();
        let mut scored: Vec<Scored> = Vec::new();
        let ceiling = scorer.ceiling();
        let mut at_ceiling = 0;
        // A value's score depends only on its tokens (spelling, position, flags), and
        // common names recur: ten thousand "Иван Иванов" are scored once. Exact, not a
        // cache of near keys: the whole token sequence is the key.
        let mut memo: HashMap<Box<[u64]>, Option<f32>, foldhash::fast::RandomState> =
            HashMap::default();
        let mut key: Vec<u64> = Vec::new();
        for slot in candidates::select(ix, &plan) {
            let mut best: Option<Scored> = None;
            for refs in self.values(field, slot) {
                key.clear();
                key.extend(
                    refs.iter()
                        .map(|r| (r.tok as u64) << 16 | (r.pos as u64) << 8 | r.flags as u64),
                );
                let score = match memo.get(key.as_slice()) {
                    Some(s) => *s,
                    None => {
                        let s = scorer.score(refs, &mut scratch, false).map(|v| v.score);
                        memo.insert(key.as_slice().into(), s);
                        s
                    }
                };
                if let Some(score) = score
                    && best.is_none_or(|b| score > b.score)
                {
                    best = Some(Scored {
                        score,
                        slot,
                        value: refs[0].value as usize,
                    });
                }
            }
            if let Some(b) = best
                && b.score >= min_score
            {
                debug_assert!(
                    b.score <= ceiling,
                    "{} above the ceiling {ceiling}",
                    b.score
                );
                scored.push(b);
                if b.score >= ceiling {
                    at_ceiling += 1;
                    if early && at_ceiling >= limit {
                        break;
                    }
                }
            }
        }
        scored.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.slot.cmp(&b.slot)));
        scored.truncate(limit);
        scored
            .into_iter()
            .filter_map(|s| {
                let refs = self
                    .values(field, s.slot)
                    .find(|r| r[0].value as usize == s.value)?;
                let v = scorer.score(refs, &mut scratch, true)?;
                let rarity = if v.pairs.is_empty() {
                    0.0
                } else {
                    v.pairs
                        .iter()
                        .map(|a| rarity(ix.postings[a.tok as usize].len(), self.live))
                        .sum::<f32>()
                        / v.pairs.len() as f32
                };
                let pairs = v
                    .pairs
                    .iter()
                    .map(|a| Pair {
                        query: form.words[a.query].primary.clone(),
                        stored: ix.vocab.text(a.tok).to_string(),
                        method: a.method,
                        dist: a.dist,
                        hypocoristic: a.hypocoristic,
                        reading: a.reading,
                        stem: a.stem,
                        joined: a.joined,
                    })
                    .collect();
                Some(TokenHit {
                    slot: s.slot,
                    value: s.value,
                    score: s.score,
                    method: v.method,
                    complete: v.complete,
                    pairs,
                    numbers_matched: v.numbers,
                    numbers_off: v.numbers_off,
                    rarity,
                })
            })
            .collect()
    }

    fn tokens(&self, field: TokenField) -> &TokenIndex {
        match field {
            TokenField::Name => &self.names,
            TokenField::Address => &self.addrs,
        }
    }

    /// The stored values of one field of a slot, each as its token references.
    fn values(&self, field: TokenField, slot: u32) -> impl Iterator<Item = &[TokRef]> {
        let s = &self.slots[slot as usize];
        let all = match field {
            TokenField::Name => s.names(),
            TokenField::Address => s.addrs(),
        };
        all.chunk_by(|a, b| a.value == b.value)
    }

    /// Writes the index for a snapshot (`crate::snapshot`) as four sections — the name
    /// and address token indexes, the exact-key table, the slots — each start recorded
    /// in `starts`, so a reader can parse them in parallel. `sizes` gets what a reader
    /// must know before: slots, live subjects, name and address vocabulary sizes.
    pub(crate) fn write_to<W: std::io::Write>(
        &self,
        out: &mut Out<W>,
        starts: &mut Vec<u64>,
        sizes: &mut Vec<u64>,
    ) -> std::io::Result<()> {
        sizes.extend(
            [
                self.slots.len(),
                self.live,
                self.names.vocab.len(),
                self.addrs.vocab.len(),
            ]
            .map(|n| n as u64),
        );
        starts.push(out.pos());
        self.names.write_to(out)?;
        starts.push(out.pos());
        self.addrs.write_to(out)?;
        starts.push(out.pos());
        self.exact.write_to(out)?;
        starts.push(out.pos());
        out.u32s(&self.free)?;
        for s in &self.slots {
            out.u8(kind_byte(s.kind))?;
            out.u8(u8::from(s.live))?;
            out.u32(u32::from(s.n_exact))?;
            out.u32(s.n_names)?;
            out.bytes(&s.keys)?;
            out.len(s.toks.len())?;
            for t in s.toks.iter() {
                out.u32(t.tok)?;
                out.raw(&[t.pos, t.flags, t.value])?;
            }
        }
        Ok(())
    }

    /// Reads what [`SubjectIndex::write_to`] wrote from its four sections (in parallel
    /// threads), checking every reference.
    pub(crate) fn read_from(
        sections: [In<'_>; 4],
        sizes: [u64; 4],
        region: Option<Region>,
    ) -> Result<Self, SnapshotError> {
        let [n, live, n_names, n_addrs] = sizes.map(|v| v as usize);
        let [mut names_in, mut addrs_in, mut exact_in, mut slots_in] = sections;
        let (names, addrs, exact, slots) = std::thread::scope(|scope| {
            let names = scope.spawn(move || {
                let t = TokenIndex::read_from(&mut names_in, n)?;
                names_in.end().map(|()| t)
            });
            let addrs = scope.spawn(move || {
                let t = TokenIndex::read_from(&mut addrs_in, n)?;
                addrs_in.end().map(|()| t)
            });
            let exact = scope.spawn(move || {
                let m = MultiMap::read_from(&mut exact_in, n, "exact key")?;
                exact_in.end().map(|()| m)
            });
            let slots = Self::read_slots(&mut slots_in, n, n_names, n_addrs)
                .and_then(|s| slots_in.end().map(|()| s));
            (
                snapshot::joined(names.join()),
                snapshot::joined(addrs.join()),
                snapshot::joined(exact.join()),
                slots,
            )
        });
        let (names, addrs, exact, (slots, free)) = (names?, addrs?, exact?, slots?);
        if names.vocab.len() != n_names || addrs.vocab.len() != n_addrs {
            return Err(damaged("vocabulary sizes"));
        }
        if slots.iter().filter(|s| s.live).count() != live {
            return Err(damaged("live subjects miscounted"));
        }
        Ok(SubjectIndex {
            slots,
            free,
            exact,
            names,
            addrs,
            region,
            live,
        })
    }

    fn read_slots(
        r: &mut In<'_>,
        n: usize,
        n_names: usize,
        n_addrs: usize,
    ) -> Result<(Vec<Slot>, Vec<u32>), SnapshotError> {
        // A slot is at least 26 bytes: a count read from the table must fit the section.
        if n > r.remaining() / 26 {
            return Err(damaged("slot count"));
        }
        let free = r.u32s()?;
        snapshot::check_ids(&free, n, "free slot")?;
        let mut slots = Vec::with_capacity(n);
        for _ in 0..n {
            let kind = kind_of(r.u8()?).ok_or_else(|| damaged("subject kind"))?;
            let is_live = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(damaged("slot flag")),
            };
            let n_exact = u16::try_from(r.u32()?).map_err(|_| damaged("exact keys"))?;
            let n_slot_names = r.u32()?;
            let keys: Box<[u8]> = r.bytes()?.into();
            if keys.len() < usize::from(n_exact) * 8
                || std::str::from_utf8(&keys[usize::from(n_exact) * 8..]).is_err()
            {
                return Err(damaged("slot keys"));
            }
            let m = r.len(7)?;
            let mut toks = Vec::with_capacity(m);
            for i in 0..m {
                let tok = r.u32()?;
                let (pos, flags, value) = (r.u8()?, r.u8()?, r.u8()?);
                let vocab = if i < n_slot_names as usize {
                    n_names
                } else {
                    n_addrs
                };
                // Words sit at positions below MAX_POSITIONS, numbers after them.
                let positions = if flags & F_NUMBER != 0 {
                    2 * MAX_POSITIONS
                } else {
                    MAX_POSITIONS
                };
                if tok as usize >= vocab || usize::from(pos) >= positions || value >= 64 {
                    return Err(damaged("token reference"));
                }
                toks.push(TokRef {
                    tok,
                    pos,
                    flags,
                    value,
                });
            }
            if n_slot_names as usize > toks.len() {
                return Err(damaged("slot names"));
            }
            slots.push(Slot {
                keys,
                toks: toks.into_boxed_slice(),
                n_exact,
                n_names: n_slot_names,
                kind,
                live: is_live,
            });
        }
        Ok((slots, free))
    }

    /// Memory use by part (approximate heap bytes).
    pub fn memory(&self) -> MemoryReport {
        let slot_bytes = self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.slots.iter().map(Slot::heap_bytes).sum::<usize>();
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

#[cfg(test)]
mod early_stop {
    use super::*;
    use dsr_model::SubjectId;
    use proptest::prelude::*;

    const GIVEN: [&str; 5] = ["Иван", "Maria", "Jean", "太郎", "Anne-Marie"];
    const FAMILY: [&str; 5] = ["Иванов", "Garcia", "Dupont", "山田", "van der Berg"];
    const STREETS: [&str; 4] = [
        "12 rue de la Paix 75002 Paris",
        "12 Rue de la Paix, 75002 Paris",
        "3 Calle Mayor 28013 Madrid",
        "12 rue de la Paix app. 3 75002 Paris",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Stopping at the ceiling answers exactly as scoring every candidate: the same
        /// slots, values and scores in the same order, for exact, misspelt, reordered
        /// and one-word queries over many namesakes.
        #[test]
        fn stopping_at_the_ceiling_answers_as_scoring_every_candidate(
            people in prop::collection::vec((0usize..5, 0usize..5, 0usize..4, any::<bool>()), 1..120),
            query in (0usize..5, 0usize..5, 0usize..4, 0u8..4),
            limit in 1usize..8,
        ) {
            let mut ix = SubjectIndex::new(None);
            for (i, (g, f, a, two)) in people.iter().enumerate() {
                let mut s = Subject::new(SubjectKind::ExternalContact, SubjectId::new(format!("s{i}")).unwrap());
                s.names.push(format!("{} {}", GIVEN[*g], FAMILY[*f]));
                if *two {
                    s.names.push(format!("{} {}", FAMILY[*f], GIVEN[(*g + 1) % 5]));
                }
                s.addresses.push(STREETS[*a].into());
                ix.upsert(&s);
            }
            let (g, f, a, how) = query;
            let name = match how {
                0 => format!("{} {}", GIVEN[g], FAMILY[f]),
                1 => format!("{} {}", FAMILY[f], GIVEN[g]),
                2 => format!("{} {}x", GIVEN[g], FAMILY[f]),
                _ => FAMILY[f].to_string(),
            };
            let forms = [
                (TokenField::Name, normalize::name_form(&name)),
                (TokenField::Address, normalize::address_form(STREETS[a])),
            ];
            for (field, form) in &forms {
                let key = |h: Vec<TokenHit>| h.into_iter().map(|h| (h.slot, h.value, h.score)).collect::<Vec<_>>();
                let early = key(ix.token_hits_until(*field, form, limit, 0.0, true));
                let every = key(ix.token_hits_until(*field, form, limit, 0.0, false));
                prop_assert_eq!(early, every);
            }
        }
    }
}
