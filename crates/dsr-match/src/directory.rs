//! The directory: the subjects of one tenant with their index, answering lookups with
//! evidence that quotes the stored values.

use crate::calibration::{Facts, Features};
use crate::classify::classify_keyed;
use crate::confidence::{calibrated_confidence, confidence_of};
use crate::index::{ExactHit, SubjectIndex, TokenField, TokenHit};
use crate::normalize::Region;
use crate::normalize::{self, ExactKey, KeyKind, TokenForm};
use crate::packed::{Arena, Packed, View};
use crate::result::{
    Confidence, Correlated, Correlation, Evidence, Field, KeyView, Match, Method, SearchResult,
};
use crate::snapshot::{self, In, Out, SnapshotError, damaged};
use crate::{Error, Result};
use dsr_model::{MergeSetId, Subject, SubjectId, SubjectKind, Term, TermType};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Per-tenant matching settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchConfig {
    /// ISO 3166 alpha-2 region for phone numbers written in national form (`FR`: "06 12…"
    /// is +33 6 12…). Without it, national numbers only match the same digits.
    pub default_region: Option<String>,
}

/// Options of one lookup.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    /// Overrides the tenant's default region for this query's phone numbers.
    pub region: Option<String>,
    /// Most results returned (best first).
    pub limit: usize,
    /// Results scoring below are dropped (0 to 1).
    pub min_score: f32,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            region: None,
            limit: 20,
            min_score: 0.5,
        }
    }
}

/// What a term normalizes to: shown by `dsr normalize` so a user can see why something
/// matches or does not.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Normalized {
    /// The term as given.
    pub term: Term,
    /// The type it is looked up as.
    pub classified_as: TermType,
    /// Whether the caller named the type.
    pub explicit_type: bool,
    /// The keys.
    pub keys: Vec<KeyView>,
    /// Problems (unparseable phone number, …).
    pub warnings: Vec<String>,
}

enum Prepared {
    Exact(Vec<ExactKey>),
    Tokens(TokenField, TokenForm, Vec<ExactKey>),
}

#[derive(Default)]
struct MergeInfo {
    members: BTreeSet<SubjectId>,
    canonical: BTreeSet<SubjectId>,
}

/// The subjects of one tenant and their index.
pub struct Directory {
    index: SubjectIndex,
    /// Packed end to end, by slot (see [`Packed`]): unpacked only to answer.
    subjects: Arena,
    region: Option<Region>,
    config: MatchConfig,
    merge: HashMap<MergeSetId, MergeInfo>,
    /// Custom attribute names, with how many subjects have each.
    custom_keys: BTreeMap<String, usize>,
}

fn region_of(code: Option<&str>) -> Result<Option<Region>> {
    code.map(|c| normalize::parse_region(c).map_err(Error::Region))
        .transpose()
}

/// Normalizes a term without looking it up.
pub fn normalize_term(term: &Term, region: Option<&str>) -> Result<Normalized> {
    term.validate()?;
    let region = region_of(region)?;
    let (ty, prepared, warnings) = prepare(term, region);
    Ok(Normalized {
        term: term.clone(),
        classified_as: ty,
        explicit_type: term.ty.is_some(),
        keys: key_views(&prepared),
        warnings,
    })
}

fn prepare(term: &Term, region: Option<Region>) -> (TermType, Prepared, Vec<String>) {
    let (ty, email_keys) = match term.ty {
        Some(ty) => (ty, None),
        None => classify_keyed(&term.value),
    };
    let v = term.value.as_str();
    let mut warnings = Vec::new();
    let prepared = match ty {
        TermType::Email => match email_keys.map_or_else(|| normalize::email_keys(v), Ok) {
            Ok(k) => Prepared::Exact(k),
            Err(w) => {
                warnings.push(w);
                Prepared::Exact(Vec::new())
            }
        },
        TermType::Phone => match normalize::phone_query_keys(v, region) {
            Ok(k) => {
                if !k.iter().any(|k| k.kind == KeyKind::PhoneE164) {
                    warnings.push(format!(
                        "{v:?} is in national form and no region is set: only numbers stored with the same digits match (give --region, e.g. --region FR, or write +CC…)"
                    ));
                }
                Prepared::Exact(k)
            }
            Err(w) => {
                warnings.push(w);
                Prepared::Exact(Vec::new())
            }
        },
        TermType::Handle => match normalize::handle_keys(None, v, region) {
            Ok(mut k) => {
                if k.iter().any(|k| k.kind == KeyKind::Handle) {
                    k.retain(|k| k.kind != KeyKind::HandleAny);
                }
                Prepared::Exact(k)
            }
            Err(w) => {
                warnings.push(w);
                Prepared::Exact(Vec::new())
            }
        },
        TermType::Name => {
            let form = normalize::name_form(v);
            if form.words.is_empty() {
                warnings.push(format!("{v:?} has no letters to match as a name"));
            }
            let mut compact = Vec::new();
            if form.words.len() <= normalize::MAX_JOINED_WORDS {
                let joined: String = form.words.iter().map(|w| w.primary.as_str()).collect();
                if !joined.is_empty() {
                    compact.push(ExactKey {
                        kind: KeyKind::NameCompact,
                        text: joined,
                    });
                }
            }
            Prepared::Tokens(TokenField::Name, form, compact)
        }
        TermType::Address => {
            let form = normalize::address_form(v);
            if form.words.is_empty() && form.numbers.is_empty() {
                warnings.push(format!("{v:?} has nothing to match as an address"));
            }
            Prepared::Tokens(TokenField::Address, form, Vec::new())
        }
        TermType::UserId
        | TermType::ExternalContactId
        | TermType::DialerContactId
        | TermType::ExternalId
        | TermType::Id => Prepared::Exact(normalize::id_keys(ty, v)),
    };
    (ty, prepared, warnings)
}

fn key_views(p: &Prepared) -> Vec<KeyView> {
    let exact = |k: &ExactKey| KeyView {
        kind: k.kind.as_str().to_owned(),
        value: k.text.clone(),
        method: Method::Normalized,
    };
    match p {
        Prepared::Exact(keys) => keys.iter().map(exact).collect(),
        Prepared::Tokens(field, form, compact) => {
            let prefix = match field {
                TokenField::Name => "name",
                TokenField::Address => "address",
            };
            let mut out = Vec::new();
            for w in &form.words {
                out.push(KeyView {
                    kind: format!(
                        "{prefix}.{}",
                        if w.optional {
                            "optional_token"
                        } else {
                            "token"
                        }
                    ),
                    value: w.primary.clone(),
                    method: Method::Normalized,
                });
                for (alt, m) in &w.alts {
                    out.push(KeyView {
                        kind: format!(
                            "{prefix}.{}",
                            if *m == Method::Transliterated {
                                "transliterated"
                            } else {
                                "language_fold"
                            }
                        ),
                        value: alt.clone(),
                        method: *m,
                    });
                }
                if let Some(ph) = crate::text::phonetic(&w.primary) {
                    out.push(KeyView {
                        kind: format!("{prefix}.phonetic"),
                        value: ph,
                        method: Method::Phonetic,
                    });
                }
            }
            for n in &form.numbers {
                out.push(KeyView {
                    kind: format!("{prefix}.number"),
                    value: n.clone(),
                    method: Method::Normalized,
                });
            }
            out.extend(compact.iter().map(exact));
            out
        }
    }
}

impl Directory {
    /// An empty directory. Fails if the default region is not a region code.
    pub fn new(config: MatchConfig) -> Result<Self> {
        let region = region_of(config.default_region.as_deref())?;
        Ok(Directory {
            index: SubjectIndex::new(region),
            subjects: Arena::default(),
            region,
            config,
            merge: HashMap::new(),
            custom_keys: BTreeMap::new(),
        })
    }

    /// Writes the directory as a snapshot to `w` (see [`Directory::from_snapshot`]),
    /// with the caller's `stamp` (what it needs to know the snapshot still matches its
    /// store: which store, tenant and change-feed position); returns the writer.
    pub fn write_snapshot<W: std::io::Write>(&self, w: W, stamp: &[u8]) -> std::io::Result<W> {
        let mut out = Out::new(w);
        out.raw(snapshot::MAGIC)?;
        out.u32(snapshot::FORMAT)?;
        out.u64(snapshot::behaviour_stamp())?;
        out.bytes(stamp)?;
        self.write_snapshot_body(&mut out)?;
        out.finish()
    }

    /// Everything after the header: six sections (settings and merge sets, subjects,
    /// then the index's four), then their table — where each starts, the sizes a
    /// reader needs first, and where the table starts — so they can be read in
    /// parallel.
    pub(crate) fn write_snapshot_body<W: std::io::Write>(
        &self,
        out: &mut Out<W>,
    ) -> std::io::Result<()> {
        let (mut starts, mut sizes) = (vec![out.pos()], Vec::new());
        out.opt_str(self.config.default_region.as_deref())?;
        out.len(self.custom_keys.len())?;
        for (k, n) in &self.custom_keys {
            out.str(k)?;
            out.len(*n)?;
        }
        let mut sets: Vec<_> = self.merge.iter().collect();
        sets.sort_by(|a, b| a.0.cmp(b.0));
        out.len(sets.len())?;
        for (set, info) in sets {
            out.str(set.as_str())?;
            for ids in [&info.members, &info.canonical] {
                out.len(ids.len())?;
                for id in ids {
                    out.str(id.as_str())?;
                }
            }
        }
        starts.push(out.pos());
        out.len(self.subjects.slots())?;
        for p in self.subjects.entries() {
            match p {
                None => out.u8(0)?,
                Some(p) => {
                    out.u8(1)?;
                    out.bytes(p)?;
                }
            }
        }
        self.index.write_to(out, &mut starts, &mut sizes)?;
        let table = out.pos();
        for v in starts.iter().chain(&sizes) {
            out.u64(*v)?;
        }
        out.u64(table)
    }

    /// A directory read back from [`Directory::write_snapshot`]'s bytes, with the stamp
    /// it was written with. Refuses (never panics on) bytes that are not a snapshot,
    /// are damaged, or were written by a dsr that derives other keys from a subject:
    /// rebuild from the store then. The sections are read in parallel threads.
    pub fn from_snapshot(bytes: &[u8]) -> Result<(Directory, Vec<u8>), SnapshotError> {
        let mut r = In::open(bytes)?;
        let stamp = r.stamp()?;
        let ([meta, subjects, names, addrs, exact, slots], sizes) = r.sections::<6, 4>()?;
        let dir = Self::read_body(meta, subjects, [names, addrs, exact, slots], sizes)?;
        Ok((dir, stamp))
    }

    /// The caller's stamp of a snapshot from its first bytes (the header: a few hundred
    /// bytes), refusing another format or behaviour like [`Directory::from_snapshot`],
    /// so a caller can tell a snapshot is not for it before reading the whole file.
    /// The checksum is not checked here: `from_snapshot` checks it.
    pub fn snapshot_stamp(prefix: &[u8]) -> Result<Vec<u8>, SnapshotError> {
        In::header(prefix)?.stamp()
    }

    fn read_body(
        mut r: In<'_>,
        mut subjects_in: In<'_>,
        index_in: [In<'_>; 4],
        sizes: [u64; 4],
    ) -> Result<Directory, SnapshotError> {
        let bad_id = |e: dsr_model::Error| damaged(format!("an id: {e}"));
        let config = MatchConfig {
            default_region: r.opt_str()?.map(str::to_owned),
        };
        let region =
            region_of(config.default_region.as_deref()).map_err(|_| damaged("default region"))?;
        let mut custom_keys = BTreeMap::new();
        for _ in 0..r.len(16)? {
            let k = r.str()?.to_owned();
            custom_keys.insert(k, r.len(0)?);
        }
        let mut merge = HashMap::new();
        for _ in 0..r.len(24)? {
            let set = MergeSetId::new(r.str()?).map_err(bad_id)?;
            let mut info = MergeInfo::default();
            for ids in [&mut info.members, &mut info.canonical] {
                for _ in 0..r.len(8)? {
                    ids.insert(SubjectId::new(r.str()?).map_err(bad_id)?);
                }
            }
            merge.insert(set, info);
        }
        r.end()?;
        let (subjects, index) = std::thread::scope(|scope| {
            let subjects = scope.spawn(move || {
                let r = &mut subjects_in;
                let n = r.len(1)?;
                let mut subjects = Arena::with_slots(n);
                for slot in 0..n {
                    match r.u8()? {
                        0 => {}
                        1 => {
                            let p = r.bytes()?;
                            if !Packed::check(p) {
                                return Err(damaged("a subject"));
                            }
                            subjects.set(slot, p);
                        }
                        _ => return Err(damaged("subject tag")),
                    }
                }
                r.end().map(|()| subjects)
            });
            let index = SubjectIndex::read_from(index_in, sizes, region);
            (snapshot::joined(subjects.join()), index)
        });
        let (subjects, index) = (subjects?, index?);
        // A slot is live exactly when the directory holds its subject, under its id.
        let consistent = (0..index.slots()).all(|slot| {
            match (index.slot_kind(slot as u32), subjects.get(slot)) {
                (None, None) => true,
                (Some(kind), Some(p)) => p.kind() == kind,
                _ => false,
            }
        });
        if !consistent || subjects.slots() > index.slots() {
            return Err(damaged("subjects and index disagree"));
        }
        Ok(Directory {
            index,
            subjects,
            region,
            config,
            merge,
            custom_keys,
        })
    }

    /// The settings.
    pub fn config(&self) -> &MatchConfig {
        &self.config
    }

    /// Number of subjects.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether there are no subjects.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The index (for memory figures).
    pub fn index(&self) -> &SubjectIndex {
        &self.index
    }

    /// Adds or replaces (by id) a subject after validating it. Returns warnings for
    /// stored values that cannot be searched. An id is unique across kinds: a subject
    /// re-imported under another kind replaces the old one.
    pub fn upsert(&mut self, subject: Subject) -> Result<Vec<String>> {
        subject.validate()?;
        if let Some(old_slot) = self.slot_of(subject.id.as_str(), None)
            && let Some(old) = self.subjects.get(old_slot as usize)
            && old.kind() != subject.kind
        {
            self.remove(&subject.id);
        }
        if let Some(old) = self.get(&subject.id) {
            self.forget_derived(&old);
        }
        for k in subject.custom.keys() {
            *self.custom_keys.entry(k.clone()).or_default() += 1;
        }
        let existing = self.slot_of(subject.id.as_str(), Some(subject.kind));
        let (slot, warnings) = self.index.upsert(&subject, existing);
        if let Some(set) = &subject.merge_set {
            let info = self.merge.entry(set.clone()).or_default();
            info.members.insert(subject.id.clone());
            if subject.canonical {
                info.canonical.insert(subject.id.clone());
            }
        }
        let slot = slot as usize;
        self.subjects.set(slot, &Packed::encode(&subject));
        Ok(warnings)
    }

    /// Drops what the directory derived from a subject it is replacing or removing: its
    /// custom attribute names' counts and its merge-set membership.
    fn forget_derived(&mut self, old: &Subject) {
        for k in old.custom.keys() {
            if let Some(n) = self.custom_keys.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    self.custom_keys.remove(k);
                }
            }
        }
        if let Some(set) = &old.merge_set
            && let Some(info) = self.merge.get_mut(set)
        {
            info.members.remove(&old.id);
            info.canonical.remove(&old.id);
            if info.members.is_empty() {
                self.merge.remove(set);
            }
        }
    }

    /// Removes a subject; returns it if it existed.
    pub fn remove(&mut self, id: &SubjectId) -> Option<Subject> {
        let slot = self.slot_of(id.as_str(), None)?;
        self.index.remove_slot(slot);
        let old = self.subjects.take(slot as usize)?;
        self.forget_derived(&old);
        Some(old)
    }

    /// A subject by id.
    pub fn get(&self, id: &SubjectId) -> Option<Subject> {
        let slot = self.slot_of(id.as_str(), None)?;
        self.at(slot)
    }

    /// The slot of the subject with this id (and kind, if given).
    fn slot_of(&self, id: &str, kind: Option<SubjectKind>) -> Option<u32> {
        self.index.slot_of(id, kind, |slot| {
            self.subjects
                .get(slot as usize)
                .and_then(|p| p.id())
                .is_some_and(|held| held == id)
        })
    }

    /// The names of the custom attributes any subject has (not searched: G-14 blind
    /// spots), sorted.
    pub fn custom_keys(&self) -> impl Iterator<Item = &str> {
        self.custom_keys.keys().map(String::as_str)
    }

    /// The fields of the subject in a slot, read in place.
    fn view(&self, slot: u32) -> Option<View<'_>> {
        self.subjects.get(slot as usize)?.view()
    }

    /// The subject in a slot, unpacked.
    fn at(&self, slot: u32) -> Option<Subject> {
        self.subjects.get(slot as usize).map(|p| p.unpack())
    }

    /// Every subject's id, in no particular order (nothing unpacked or copied).
    pub fn ids(&self) -> impl Iterator<Item = &str> + '_ {
        self.subjects.iter().filter_map(|p| p.id())
    }

    /// Every subject, in no particular order (each unpacked as it is reached).
    pub fn subjects(&self) -> impl Iterator<Item = Subject> + '_ {
        self.subjects.iter().map(|p| p.unpack())
    }

    /// Heap bytes of the packed subjects (the index's are in [`SubjectIndex::memory`]).
    pub fn subject_bytes(&self) -> usize {
        self.subjects.heap_bytes()
    }

    /// The members of a merge set (canonical first).
    pub fn merge_set_members(&self, set: &MergeSetId) -> Vec<Subject> {
        let Some(info) = self.merge.get(set) else {
            return Vec::new();
        };
        let mut out: Vec<Subject> = info.members.iter().filter_map(|id| self.get(id)).collect();
        out.sort_by_key(|s| (!s.canonical, s.id.clone()));
        out
    }

    /// The canonical contact of a merge set, when exactly one member is canonical.
    pub fn canonical_of(&self, set: &MergeSetId) -> Option<&SubjectId> {
        let info = self.merge.get(set)?;
        (info.canonical.len() == 1).then(|| info.canonical.iter().next())?
    }

    /// Merge sets that break the invariants (no canonical, several canonicals), with the
    /// reason. Requests refuse to fan out over these.
    pub fn merge_set_problems(&self) -> Vec<(MergeSetId, String)> {
        let mut out: Vec<(MergeSetId, String)> = self
            .merge
            .iter()
            .filter_map(|(id, info)| match info.canonical.len() {
                1 => None,
                0 => Some((id.clone(), "no canonical contact".to_owned())),
                n => Some((
                    id.clone(),
                    format!(
                        "{n} canonical contacts ({})",
                        info.canonical
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            })
            .collect();
        out.sort();
        out
    }

    /// Looks up one term (G-2): every subject that matches, best first, each with the
    /// evidence of why (G-3) and its merge set (G-9).
    pub fn search(&self, term: &Term, opts: &SearchOptions) -> Result<SearchResult> {
        term.validate()?;
        let region = match &opts.region {
            Some(r) => region_of(Some(r))?,
            None => self.region,
        };
        let (ty, prepared, mut warnings) = prepare(term, region);
        let mut by_slot: BTreeMap<u32, Vec<Evidence>> = BTreeMap::new();
        // Whether the token lookup stopped at its limit (more may match), and how many
        // subjects found by their name's letters were counted without being shown.
        let mut capped = false;
        let mut unseen = 0usize;
        match &prepared {
            Prepared::Exact(keys) => {
                // An email's address and mailbox keys hit the same stored value: its
                // evidence weighs both, so it is built once.
                let mut seen: Vec<(u32, u8, KeyKind)> = Vec::new();
                for hit in self.index.exact_hits(keys) {
                    let group = match keys[hit.key].kind {
                        KeyKind::EmailCanonical => KeyKind::Email,
                        k => k,
                    };
                    if seen.contains(&(hit.slot, hit.meta, group)) {
                        continue;
                    }
                    if let Some(ev) = self.exact_evidence(term, keys, &hit) {
                        seen.push((hit.slot, hit.meta, group));
                        by_slot.entry(hit.slot).or_default().push(ev);
                    }
                }
            }
            Prepared::Tokens(field, form, compact) => {
                let want = opts.limit.max(1) * 2;
                let hits = self.index.token_hits(*field, form, want, opts.min_score);
                capped = hits.len() >= want;
                for hit in hits {
                    if let Some(ev) = self.token_evidence(*field, term, &hit) {
                        by_slot.entry(hit.slot).or_default().push(ev);
                    }
                }
                // The name's letters without spaces: every namesake has them. Evidence
                // (which normalizes the stored name again) is built for the subjects
                // already found and for as many others as the token lookup may bring,
                // in slot order as it breaks ties; the rest are counted, not built —
                // ten thousand "Иван Иванов" would otherwise cost ten thousand.
                let mut hits = self.index.exact_hits(compact);
                hits.sort_by_key(|h| h.slot);
                let mut added = 0;
                for same in hits.chunk_by(|a, b| a.slot == b.slot) {
                    let slot = same[0].slot;
                    let found = by_slot.contains_key(&slot);
                    if !found && added >= want {
                        unseen += 1;
                        continue;
                    }
                    let evidence: Vec<Evidence> = same
                        .iter()
                        .filter_map(|hit| self.exact_evidence(term, compact, hit))
                        .collect();
                    if !evidence.is_empty() {
                        added += usize::from(!found);
                        by_slot.entry(slot).or_default().extend(evidence);
                    }
                }
            }
        }
        let mut matches: Vec<Match> = by_slot
            .into_iter()
            .filter_map(|(slot, mut evidence)| {
                let subject = self.view(slot)?;
                evidence.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.method.cmp(&b.method)));
                evidence.dedup_by(|a, b| a.field == b.field && a.stored == b.stored);
                let best = evidence.first()?;
                let score = best.score;
                if score < opts.min_score {
                    return None;
                }
                let confidence = best.confidence;
                let review = best.review;
                let mut m = self.to_match(&subject, score, confidence, evidence);
                m.needs_review |= review;
                Some(m)
            })
            .collect();
        self.calibrate(&mut matches);
        // A typo- or sound-alike neighbour of a name that exists as written is most
        // likely someone else: demote it to weak when a strong match exists.
        let strong_exists = matches.iter().any(|m| m.confidence == Confidence::Strong);
        for m in &mut matches {
            let fuzzyish = m
                .evidence
                .first()
                .is_some_and(|e| matches!(e.method, Method::Fuzzy | Method::Phonetic));
            if fuzzyish && strong_exists {
                m.confidence = Confidence::Weak;
            }
            m.needs_review |= m.confidence == Confidence::Weak || fuzzyish;
        }
        matches.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.subject_id.cmp(&b.subject_id))
        });
        let hidden = matches.len().saturating_sub(opts.limit) + unseen;
        if hidden > 0 {
            warnings.push(format!(
                "{}{hidden} more matches not shown (raise the limit or give a more specific term)",
                if capped { "at least " } else { "" },
            ));
            matches.truncate(opts.limit);
        }
        Ok(SearchResult {
            term: term.clone(),
            classified_as: ty,
            explicit_type: term.ty.is_some(),
            keys: key_views(&prepared),
            matches,
            warnings,
        })
    }

    /// Replaces the score of every name or address result by the model's probability
    /// that it is the person ([`crate::calibration`]), and its confidence by what that
    /// probability supports: `strong` still needs the strong rule, `probable` more likely
    /// than not.
    fn calibrate(&self, matches: &mut [Match]) {
        let sims: Vec<f32> = matches
            .iter()
            .filter_map(|m| m.evidence.first()?.facts.map(|f| f.similarity))
            .collect();
        let best = sims.iter().copied().fold(0.0f32, f32::max);
        for m in matches.iter_mut() {
            let Some(ev) = m.evidence.first_mut() else {
                continue;
            };
            let Some(facts) = ev.facts else {
                continue;
            };
            let at_least = sims.iter().filter(|s| **s >= facts.similarity).count();
            let features = Features::new(&facts, best, at_least);
            let p = features.probability();
            ev.features = Some(features);
            m.score = (p * 1000.0).round() / 1000.0;
            m.confidence = calibrated_confidence(m.confidence, p);
            m.needs_review |= m.confidence == Confidence::Weak;
        }
    }

    fn to_match(
        &self,
        s: &View<'_>,
        score: f32,
        confidence: Confidence,
        evidence: Vec<Evidence>,
    ) -> Match {
        let merge_set = s.merge_set.and_then(|m| MergeSetId::new(m).ok());
        Match {
            subject_id: SubjectId::new(s.id).expect("a stored id is valid"),
            kind: s.kind,
            display_name: s.name(0).map(str::to_owned),
            score: (score * 1000.0).round() / 1000.0,
            confidence,
            needs_review: confidence == Confidence::Weak,
            merge_set: merge_set.clone(),
            canonical_id: merge_set
                .as_ref()
                .and_then(|m| self.canonical_of(m))
                .cloned(),
            evidence,
        }
    }

    fn exact_evidence(&self, term: &Term, keys: &[ExactKey], hit: &ExactHit) -> Option<Evidence> {
        let subject = self.view(hit.slot)?;
        let key = &keys[hit.key];
        let idx = hit.value_index();
        let raw_eq = |stored: &str| stored.trim() == term.value.trim();
        let mut review = false;
        let (field, stored, score, detail): (Field, String, f32, String) = match key.kind {
            KeyKind::Email | KeyKind::EmailCanonical => {
                let stored = subject.email(idx)?;
                // Most stored addresses are already in their key's form: then they are
                // the same address without normalizing them again.
                let written_as_key = |s: &str| {
                    keys.iter()
                        .any(|q| q.kind == KeyKind::Email && q.text.eq_ignore_ascii_case(s))
                };
                let (same_address, same_mailbox) = if stored.is_ascii() && written_as_key(stored) {
                    (true, false)
                } else {
                    let skeys = normalize::email_keys(stored).ok()?;
                    (
                        skeys.iter().any(|k| {
                            k.kind == KeyKind::Email
                                && keys
                                    .iter()
                                    .any(|q| q.kind == KeyKind::Email && q.text == k.text)
                        }),
                        skeys
                            .iter()
                            .any(|k| k.kind == KeyKind::EmailCanonical && k.text == key.text),
                    )
                };
                if same_address {
                    (
                        Field::Email,
                        stored.to_owned(),
                        1.0,
                        "same address (case and form ignored)".into(),
                    )
                } else if same_mailbox {
                    (
                        Field::Email,
                        stored.to_owned(),
                        0.97,
                        format!("same mailbox {} (+tag / provider dots ignored)", key.text),
                    )
                } else {
                    return None;
                }
            }
            KeyKind::PhoneE164 | KeyKind::PhoneDigits => {
                // The number as stored (a WhatsApp handle is one), re-checked on its text:
                // a fingerprint collision must not match.
                let (field, stored, skeys) = if hit.is_from_handle() {
                    let h = subject.handle(idx)?;
                    let keys =
                        normalize::handle_keys(Some(h.platform), h.value, self.region).ok()?;
                    (Field::Handle, format!("{}:{}", h.platform, h.value), keys)
                } else {
                    let p = subject.phone(idx)?;
                    // A number stored in international form with only spaces, dots,
                    // dashes or brackets between its digits is its E.164 key: no need to
                    // parse it again.
                    let written_as_key = key.kind == KeyKind::PhoneE164
                        && p.trim_start().starts_with('+')
                        && p.chars()
                            .all(|c| c.is_ascii_digit() || " +.-()".contains(c))
                        && p.chars()
                            .filter(|c| c.is_ascii_digit() || *c == '+')
                            .eq(key.text.chars());
                    let skeys = if written_as_key {
                        vec![key.clone()]
                    } else {
                        normalize::phone_keys(p, self.region).ok()?
                    };
                    (Field::Phone, p.to_owned(), skeys)
                };
                if !skeys
                    .iter()
                    .any(|k| k.kind == key.kind && k.text == key.text)
                {
                    return None;
                }
                if key.kind == KeyKind::PhoneE164 {
                    (field, stored, 1.0, format!("same number {}", key.text))
                } else {
                    (
                        field,
                        stored,
                        0.9,
                        format!("same digits {} (no country known)", key.text),
                    )
                }
            }
            KeyKind::Handle | KeyKind::HandleAny => {
                let h = subject.handle(idx)?;
                let skeys = normalize::handle_keys(Some(h.platform), h.value, self.region).ok()?;
                if !skeys
                    .iter()
                    .any(|k| k.kind == key.kind && k.text == key.text)
                {
                    return None;
                }
                let stored = format!("{}:{}", h.platform, h.value);
                if key.kind == KeyKind::Handle {
                    (
                        Field::Handle,
                        stored,
                        1.0,
                        format!("same handle {}", key.text),
                    )
                } else {
                    (
                        Field::Handle,
                        stored,
                        0.85,
                        format!("same handle on {} (the term named no platform)", h.platform),
                    )
                }
            }
            KeyKind::UserId | KeyKind::ExternalContactId | KeyKind::DialerContactId => {
                if normalize::id_text(subject.id) != key.text
                    || KeyKind::for_subject(subject.kind) != key.kind
                {
                    return None;
                }
                (
                    Field::Id,
                    subject.id.to_string(),
                    1.0,
                    format!("{} {}", key.kind.as_str(), subject.id),
                )
            }
            KeyKind::ExternalId => {
                let x = subject.external_id(idx)?;
                if normalize::id_text(x) != key.text {
                    return None;
                }
                (
                    Field::ExternalId,
                    x.to_owned(),
                    1.0,
                    "same external id".into(),
                )
            }
            KeyKind::NameCompact => {
                let n = subject.name(idx)?;
                let form = normalize::name_form(n);
                if form.compact.contains(&key.text) {
                    (
                        Field::Name,
                        n.to_owned(),
                        0.95,
                        format!("same name written without spaces ({})", key.text),
                    )
                } else if normalize::joined_keys(&form).contains(&key.text) {
                    // "Jean Du Pont" and "Jean Dupont" may be two families: found, not
                    // certain.
                    review = true;
                    (
                        Field::Name,
                        n.to_owned(),
                        JOINED_NAME_SCORE,
                        format!("same letters with words split or joined ({})", key.text),
                    )
                } else {
                    return None;
                }
            }
        };
        let method = if raw_eq(&stored) {
            Method::Exact
        } else {
            Method::Normalized
        };
        let confidence = confidence_of(score, method, true, review);
        // A name found through its letters without spaces is a name result: modelled.
        let facts = (key.kind == KeyKind::NameCompact).then(|| Facts {
            similarity: score,
            complete: true,
            joined: review,
            rarity: 1.0,
            query_words: 1,
            strong_gate: confidence == Confidence::Strong,
            ..Facts::default()
        });
        Some(Evidence {
            field,
            stored,
            method,
            score,
            detail,
            confidence,
            review,
            facts,
            features: None,
        })
    }

    /// `None` only if the index names a value the subject lacks (the index and the
    /// subjects are kept in step; a snapshot is checked, but not value by value).
    fn token_evidence(&self, field: TokenField, term: &Term, hit: &TokenHit) -> Option<Evidence> {
        let subject = self.view(hit.slot)?;
        let (f, stored) = match field {
            TokenField::Name => (Field::Name, subject.name(hit.value)),
            TokenField::Address => (Field::Address, subject.address(hit.value)),
        };
        let stored = stored?.to_owned();
        let mut parts: Vec<String> = hit
            .pairs
            .iter()
            .map(|p| match p.method {
                Method::Fuzzy if p.joined => {
                    format!("{}≈{} (words run together or split)", p.query, p.stored)
                }
                Method::Fuzzy if p.stem => {
                    format!("{}≈{} (same beginning: a short form?)", p.query, p.stored)
                }
                Method::Fuzzy if p.hypocoristic => {
                    format!("{}≈{} (short or pet form)", p.query, p.stored)
                }
                Method::Fuzzy if p.dist == 0 => format!("{}≈{} (initial)", p.query, p.stored),
                Method::Fuzzy => format!(
                    "{}~{} ({} edit{})",
                    p.query,
                    p.stored,
                    p.dist,
                    if p.dist == 1 { "" } else { "s" }
                ),
                Method::Phonetic => format!("{}≈{} (sounds alike)", p.query, p.stored),
                Method::Transliterated if p.reading => {
                    format!("{}={} (a reading of the kanji)", p.query, p.stored)
                }
                Method::Transliterated => format!("{}={} (transliterated)", p.query, p.stored),
                _ => format!("{}={}", p.query, p.stored),
            })
            .collect();
        if hit.numbers_matched > 0 {
            parts.push(format!(
                "{} number{} agree",
                hit.numbers_matched,
                if hit.numbers_matched == 1 { "" } else { "s" }
            ));
        }
        if hit.numbers_off {
            parts.push("a number differs by one digit or is not in the record".into());
        }
        if !hit.complete {
            parts.push("partial".into());
        }
        let method = if stored.trim() == term.value.trim() {
            Method::Exact
        } else {
            hit.method.max(Method::Normalized)
        };
        let fuzzyish = matches!(method, Method::Fuzzy | Method::Phonetic);
        // A Japanese reading is one of several, and is written with other kanji too.
        let review = fuzzyish || hit.numbers_off || hit.pairs.iter().any(|p| p.reading);
        let confidence = confidence_of(hit.score, method, hit.complete, review);
        let query_words = hit.pairs.len().max(1);
        let facts = Facts {
            similarity: hit.score,
            fuzzy: hit.pairs.iter().any(|p| p.method == Method::Fuzzy),
            phonetic: hit.pairs.iter().any(|p| p.method == Method::Phonetic),
            transliterated: hit.pairs.iter().any(|p| p.method == Method::Transliterated),
            hypocoristic: hit.pairs.iter().any(|p| p.hypocoristic),
            two_edits: hit.pairs.iter().any(|p| p.dist >= 2),
            complete: hit.complete,
            numbers_off: hit.numbers_off,
            address: field == TokenField::Address,
            joined: hit.pairs.iter().any(|p| p.joined),
            rarity: hit.rarity,
            query_words,
            strong_gate: confidence == Confidence::Strong,
        };
        Some(Evidence {
            field: f,
            stored,
            method,
            score: (hit.score * 1000.0).round() / 1000.0,
            detail: parts.join(", "),
            confidence,
            review,
            facts: Some(facts),
            features: None,
        })
    }

    /// Looks up several identifiers of one person (G-13) and tells which subjects more
    /// than one of them found.
    pub fn correlate(&self, terms: &[Term], opts: &SearchOptions) -> Result<Correlation> {
        if terms.is_empty() {
            return Err(Error::NoTerms);
        }
        let per_term: Vec<SearchResult> = terms
            .iter()
            .map(|t| self.search(t, opts))
            .collect::<Result<_>>()?;
        let mut by_id: BTreeMap<SubjectId, Correlated> = BTreeMap::new();
        for (ti, r) in per_term.iter().enumerate() {
            for m in &r.matches {
                let c = by_id
                    .entry(m.subject_id.clone())
                    .or_insert_with(|| Correlated {
                        subject_id: m.subject_id.clone(),
                        kind: m.kind,
                        display_name: m.display_name.clone(),
                        merge_set: m.merge_set.clone(),
                        canonical_id: m.canonical_id.clone(),
                        found_by: Vec::new(),
                        corroborated: false,
                        best_score: 0.0,
                        needs_review: false,
                    });
                if !c.found_by.contains(&ti) {
                    c.found_by.push(ti);
                }
                c.best_score = c.best_score.max(m.score);
                c.needs_review |= m.needs_review;
            }
        }
        let single = terms.len() == 1;
        let mut subjects: Vec<Correlated> = by_id
            .into_values()
            .map(|mut c| {
                c.corroborated = single || c.found_by.len() >= 2;
                if c.corroborated && !single {
                    c.needs_review = false;
                }
                c
            })
            .collect();
        subjects.sort_by(|a, b| {
            b.corroborated
                .cmp(&a.corroborated)
                .then(b.found_by.len().cmp(&a.found_by.len()))
                .then(b.best_score.total_cmp(&a.best_score))
                .then(a.subject_id.cmp(&b.subject_id))
        });
        Ok(Correlation { per_term, subjects })
    }

    /// Resolves an id of any kind to its subject (G-5).
    pub fn resolve_id(&self, id: &str, kind: Option<SubjectKind>) -> Option<Subject> {
        let slot = self.slot_of(id.trim(), kind)?;
        self.at(slot)
    }
}

/// Score of a name that matches only with its words split or joined: probable.
const JOINED_NAME_SCORE: f32 = 0.9;
