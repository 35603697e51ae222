//! The subject index of one tenant: exact keys as fingerprints in a hash multimap, names
//! and addresses through a token index with typo (symmetric delete) and phonetic
//! neighbourhoods. Updated in place on every upsert and removal; no rebuild.
//!
//! The index keeps no subject text except the token vocabulary, not even ids: evidence
//! refers to a field and a value position, the [`crate::Directory`] quotes the stored
//! value, and it checks the id of a slot found by the id's fingerprint.
//!
//! Parts: [`tokens`] (the vocabulary, postings and neighbourhoods of one field),
//! [`candidates`] (which subjects a query scores at all), [`score`] (scoring one stored
//! value, with the caps that keep an uncertain match from looking certain), [`slots`]
//! (each subject's keys and token references, in shared arenas). This module keeps the
//! slots and the indexes in step.

mod candidates;
mod score;
mod slots;
mod tokens;

use crate::Method;
use crate::normalize::Region;
use crate::normalize::{self, ExactKey, KeyKind, TokenForm};
use crate::packed::{kind_byte, kind_of};
use crate::snapshot::{self, In, Out, SnapshotError, damaged};
use crate::tagmap::TagMap;
use crate::text;
use dsr_model::{Subject, SubjectKind};
use score::{QueryPlan, Scorer, Scratch};
use slots::Slots;
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
    slots: Slots,
    free: Vec<u32>,
    exact: TagMap,
    names: TokenIndex,
    addrs: TokenIndex,
    region: Option<Region>,
    live: usize,
}

impl SubjectIndex {
    /// An empty index; `region` places national-format phone numbers of stored subjects.
    pub fn new(region: Option<Region>) -> Self {
        SubjectIndex {
            slots: Slots::default(),
            free: Vec::new(),
            exact: TagMap::default(),
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

    /// The slot of a subject id, if indexed. The index keeps no ids (the directory's
    /// packed subjects do): `holds(slot)` says whether a slot whose id key matches on
    /// its fingerprint holds this very id.
    pub(crate) fn slot_of(
        &self,
        id: &str,
        kind_hint: Option<SubjectKind>,
        holds: impl Fn(u32) -> bool,
    ) -> Option<u32> {
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
                let s = self.slots.get(slot);
                if s.live && s.kind == *kind && holds(slot) {
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

    /// The kind of the subject in a slot, if the slot is live.
    pub(crate) fn slot_kind(&self, slot: u32) -> Option<SubjectKind> {
        let s = self.slots.get(slot);
        s.live.then_some(s.kind)
    }

    /// Adds a subject, or replaces the one in `existing` (its slot, from
    /// [`Self::slot_of`]); returns its slot and warnings for stored values that cannot
    /// be searched (an email without `@`, …).
    pub(crate) fn upsert(&mut self, s: &Subject, existing: Option<u32>) -> (u32, Vec<String>) {
        let slot = match existing.filter(|&slot| self.slots.get(slot).live) {
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
                    None => self.slots.push(s.kind),
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
        let slots = &self.slots;
        self.exact.reserve(exact.len(), || slots.exact_pairs());
        for fp in slots::distinct_fingerprints(&exact) {
            self.exact.insert(fp, slot);
        }
        Self::post(&mut self.names, &names, slot);
        Self::post(&mut self.addrs, &addrs, slot);
        self.slots.set(slot, s.kind, true, &exact, &names, &addrs);
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
        let old = self.slots.get(slot);
        for fp in slots::distinct_fingerprints(old.exact) {
            self.exact.remove(fp, slot);
        }
        Self::unpost(&mut self.names, old.names, slot);
        Self::unpost(&mut self.addrs, old.addrs, slot);
        // Still the subject's until the caller refills or frees it.
        self.slots.clear(slot, true);
    }

    /// Removes the subject in a slot (from [`Self::slot_of`]); returns whether one was
    /// indexed there.
    pub(crate) fn remove_slot(&mut self, slot: u32) -> bool {
        if !self.slots.get(slot).live {
            return false;
        }
        self.clear_slot(slot);
        self.slots.clear(slot, false);
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
            let found = self.exact.get(fp);
            for (i, &slot) in found.iter().enumerate() {
                // A slot can be there twice (two of its keys sharing an entry of the
                // table), very rarely: the check is bounded by a short list.
                if found.len() <= 64 && found[..i].contains(&slot) {
                    continue;
                }
                let s = self.slots.get(slot);
                if !s.live {
                    continue;
                }
                for &packed in s.exact {
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
        let s = self.slots.get(slot);
        let all = match field {
            TokenField::Name => s.names,
            TokenField::Address => s.addrs,
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
        // One write per slot: at 10 M slots, a call per key would dominate.
        let mut buf: Vec<u8> = Vec::new();
        for slot in 0..self.slots.len() as u32 {
            let s = self.slots.get(slot);
            buf.clear();
            buf.push(kind_byte(s.kind));
            buf.push(u8::from(s.live));
            for n in [s.exact.len(), s.names.len(), s.addrs.len()] {
                buf.extend_from_slice(&(n as u64).to_le_bytes());
            }
            for &k in s.exact {
                buf.extend_from_slice(&k.to_le_bytes());
            }
            for t in s.names.iter().chain(s.addrs) {
                buf.extend_from_slice(&t.tok.to_le_bytes());
                buf.extend_from_slice(&[t.pos, t.flags, t.value]);
            }
            out.raw(&buf)?;
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
                let m = TagMap::read_from(&mut exact_in, n, "exact key")?;
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
        if (0..n as u32).filter(|&i| slots.get(i).live).count() != live {
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
    ) -> Result<(Slots, Vec<u32>), SnapshotError> {
        // A slot is at least 26 bytes: a count read from the table must fit the section.
        if n > r.remaining() / 26 {
            return Err(damaged("slot count"));
        }
        let free = r.u32s()?;
        snapshot::check_ids(&free, n, "free slot")?;
        let mut slots = Slots::default();
        // Most of the section is keys and token references: a tenth of it bounds the
        // first reservation without trusting any count.
        slots.reserve(n, r.remaining() / 80, r.remaining() / 70);
        let (mut exact, mut names, mut addrs) = (Vec::new(), Vec::new(), Vec::new());
        for slot in 0..n {
            let kind = kind_of(r.u8()?).ok_or_else(|| damaged("subject kind"))?;
            let is_live = match r.u8()? {
                0 => false,
                1 => true,
                _ => return Err(damaged("slot flag")),
            };
            let n_exact = r.len(8)?;
            let n_slot_names = r.len(7)?;
            let n_slot_addrs = r.len(7)?;
            if [n_exact, n_slot_names, n_slot_addrs]
                .iter()
                .any(|&m| m > usize::from(u16::MAX))
            {
                return Err(damaged("slot part length"));
            }
            exact.clear();
            for _ in 0..n_exact {
                exact.push(r.u64()?);
            }
            for (m, vocab, refs) in [
                (n_slot_names, n_names, &mut names),
                (n_slot_addrs, n_addrs, &mut addrs),
            ] {
                refs.clear();
                for _ in 0..m {
                    let tok = r.u32()?;
                    let (pos, flags, value) = (r.u8()?, r.u8()?, r.u8()?);
                    // Words sit at positions below MAX_POSITIONS, numbers after them.
                    let positions = if flags & F_NUMBER != 0 {
                        2 * MAX_POSITIONS
                    } else {
                        MAX_POSITIONS
                    };
                    if tok as usize >= vocab || usize::from(pos) >= positions || value >= 64 {
                        return Err(damaged("token reference"));
                    }
                    refs.push(TokRef {
                        tok,
                        pos,
                        flags,
                        value,
                    });
                }
            }
            let empty = exact.is_empty() && names.is_empty() && addrs.is_empty();
            if !is_live && !empty {
                return Err(damaged("a free slot with keys"));
            }
            slots.set(slot as u32, kind, is_live, &exact, &names, &addrs);
        }
        Ok((slots, free))
    }

    /// Memory use by part (approximate heap bytes).
    pub fn memory(&self) -> MemoryReport {
        let slot_bytes = self.slots.heap_bytes();
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
                ix.upsert(&s, None);
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
