//! The slots: per subject, its kind, its exact-key fingerprints and its name and
//! address token references.
//!
//! Every slot's variable parts live end to end in two arenas shared by all subjects,
//! one of fingerprints and one of token references; a slot is a fixed 16-byte head
//! with where its parts start and how long they are. One heap block per subject and
//! part would cost its allocation header, its rounding and a fat pointer (~40 bytes a
//! subject: 400 MB at 10 M). The subject's id is not here: the directory holds it in
//! the packed subject, and checks it where the index finds a slot by id.
//!
//! A replaced or cleared slot leaves its old parts as garbage; once garbage is more
//! than half an arena (and at least [`COMPACT_FROM`] entries), the live parts are
//! copied into a fresh one, in slot order.

use super::tokens::TokRef;
use dsr_model::SubjectKind;

/// Smallest arena worth compacting, in entries.
const COMPACT_FROM: usize = 1 << 17;

/// Where one slot's parts are: 16 bytes. The offsets are `u32`, so an index holds at
/// most 2^32 fingerprints and 2^32 token references (some 350 M subjects, far beyond
/// what fits in the memory of one machine).
#[derive(Debug, Clone, Copy)]
struct Head {
    /// Start of the fingerprints in [`Slots::keys`].
    keys_at: u32,
    /// Start of the token references in [`Slots::toks`]: names, then addresses.
    toks_at: u32,
    n_exact: u16,
    n_names: u16,
    n_addrs: u16,
    kind: SubjectKind,
    live: bool,
}

impl Head {
    fn empty(kind: SubjectKind) -> Head {
        Head {
            keys_at: 0,
            toks_at: 0,
            n_exact: 0,
            n_names: 0,
            n_addrs: 0,
            kind,
            live: false,
        }
    }
}

/// One slot's parts, borrowed.
#[derive(Debug, Clone, Copy)]
pub(super) struct SlotRef<'a> {
    pub kind: SubjectKind,
    pub live: bool,
    /// `(fingerprint & !0xFF) | meta` words (meta = value index, + `META_FROM_HANDLE`).
    pub exact: &'a [u64],
    /// Every name's token references, grouped by value.
    pub names: &'a [TokRef],
    /// Every address's.
    pub addrs: &'a [TokRef],
}

/// Every slot of an index. See the module docs.
#[derive(Debug, Default)]
pub(super) struct Slots {
    heads: Vec<Head>,
    keys: Vec<u64>,
    toks: Vec<TokRef>,
    garbage_keys: usize,
    garbage_toks: usize,
}

/// A slot's fingerprints with the meta byte cleared, each once (one key can stand for
/// two values of a subject, with two metas): what the exact-key table holds for the
/// slot, inserted and removed once each.
pub(super) fn distinct_fingerprints(exact: &[u64]) -> impl Iterator<Item = u64> + '_ {
    exact.iter().enumerate().filter_map(|(i, &packed)| {
        let fp = packed & !0xFF;
        (!exact[..i].iter().any(|&p| p & !0xFF == fp)).then_some(fp)
    })
}

/// An arena position as a head keeps it. Past 2^32 entries the index cannot go on (see
/// [`Head`]); no machine this runs on holds such an index in memory.
fn arena_offset(len: usize) -> u32 {
    u32::try_from(len).expect("an index arena beyond 2^32 entries")
}

/// At most this many entries of one part per slot (a head counts them in `u16`):
/// far beyond what 64 values of a field produce.
const MAX_PART: usize = u16::MAX as usize;

impl Slots {
    /// Slots, live or not.
    pub fn len(&self) -> usize {
        self.heads.len()
    }

    /// A new slot, empty and not live.
    pub fn push(&mut self, kind: SubjectKind) -> u32 {
        self.heads.push(Head::empty(kind));
        (self.heads.len() - 1) as u32
    }

    /// A slot's parts; an unknown slot reads as empty and not live.
    pub fn get(&self, slot: u32) -> SlotRef<'_> {
        let h = self
            .heads
            .get(slot as usize)
            .copied()
            .unwrap_or(Head::empty(SubjectKind::ExternalContact));
        let k = h.keys_at as usize;
        let t = h.toks_at as usize;
        let names_end = t + usize::from(h.n_names);
        SlotRef {
            kind: h.kind,
            live: h.live,
            exact: self.keys.get(k..k + usize::from(h.n_exact)).unwrap_or(&[]),
            names: self.toks.get(t..names_end).unwrap_or(&[]),
            addrs: self
                .toks
                .get(names_end..names_end + usize::from(h.n_addrs))
                .unwrap_or(&[]),
        }
    }

    /// Fills a slot (growing the table to it), replacing what it held. Parts beyond
    /// [`MAX_PART`] entries are cut off (no real subject comes near).
    pub fn set(
        &mut self,
        slot: u32,
        kind: SubjectKind,
        live: bool,
        exact: &[u64],
        names: &[TokRef],
        addrs: &[TokRef],
    ) {
        let slot = slot as usize;
        if self.heads.len() <= slot {
            self.heads.resize(slot + 1, Head::empty(kind));
        }
        self.forget(slot);
        let (exact, names, addrs) = (
            &exact[..exact.len().min(MAX_PART)],
            &names[..names.len().min(MAX_PART)],
            &addrs[..addrs.len().min(MAX_PART)],
        );
        let head = Head {
            keys_at: arena_offset(self.keys.len()),
            toks_at: arena_offset(self.toks.len()),
            n_exact: exact.len() as u16,
            n_names: names.len() as u16,
            n_addrs: addrs.len() as u16,
            kind,
            live,
        };
        self.keys.extend_from_slice(exact);
        self.toks.extend_from_slice(names);
        self.toks.extend_from_slice(addrs);
        self.heads[slot] = head;
        let worth = |garbage: usize, len: usize| garbage > COMPACT_FROM && 2 * garbage > len;
        if worth(self.garbage_keys, self.keys.len()) || worth(self.garbage_toks, self.toks.len()) {
            self.compact();
        }
    }

    /// Empties a slot, keeping its kind; `live` says whether it still counts as the
    /// subject's (being refilled) or is free.
    pub fn clear(&mut self, slot: u32, live: bool) {
        let slot = slot as usize;
        if slot < self.heads.len() {
            self.forget(slot);
            let kind = self.heads[slot].kind;
            self.heads[slot] = Head {
                live,
                ..Head::empty(kind)
            };
        }
    }

    /// Counts a slot's parts as garbage (its head still points at them).
    fn forget(&mut self, slot: usize) {
        let h = self.heads[slot];
        self.garbage_keys += usize::from(h.n_exact);
        self.garbage_toks += usize::from(h.n_names) + usize::from(h.n_addrs);
    }

    /// Copies every slot's parts into fresh arenas, in slot order.
    fn compact(&mut self) {
        let mut keys = Vec::with_capacity(self.keys.len() - self.garbage_keys);
        let mut toks = Vec::with_capacity(self.toks.len() - self.garbage_toks);
        for h in &mut self.heads {
            let k = h.keys_at as usize;
            let t = h.toks_at as usize;
            let n_toks = usize::from(h.n_names) + usize::from(h.n_addrs);
            h.keys_at = arena_offset(keys.len());
            h.toks_at = arena_offset(toks.len());
            keys.extend_from_slice(&self.keys[k..k + usize::from(h.n_exact)]);
            toks.extend_from_slice(&self.toks[t..t + n_toks]);
        }
        self.keys = keys;
        self.toks = toks;
        self.garbage_keys = 0;
        self.garbage_toks = 0;
    }

    /// Heap bytes in use. The arenas grow by doubling, so up to half of their
    /// capacity is reserved address space no write has touched yet: the allocator maps
    /// blocks this large on their own, and the untouched pages are not resident.
    /// Counting capacity would report memory the process does not use.
    pub fn heap_bytes(&self) -> usize {
        self.heads.len() * std::mem::size_of::<Head>()
            + self.keys.len() * 8
            + self.toks.len() * std::mem::size_of::<TokRef>()
    }

    /// Every slot's distinct fingerprints ([`distinct_fingerprints`]) with its slot
    /// number: what the exact-key table is rebuilt from.
    pub fn exact_pairs(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.heads.iter().enumerate().flat_map(move |(slot, h)| {
            let k = h.keys_at as usize;
            distinct_fingerprints(&self.keys[k..k + usize::from(h.n_exact)])
                .map(move |fp| (fp, slot as u32))
        })
    }

    /// Room for `n` slots with `keys` fingerprints and `toks` token references in all.
    pub fn reserve(&mut self, n: usize, keys: usize, toks: usize) {
        self.heads.reserve(n);
        self.keys.reserve(keys);
        self.toks.reserve(toks);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(t: u32) -> TokRef {
        TokRef {
            tok: t,
            pos: 0,
            flags: 0,
            value: 0,
        }
    }

    #[test]
    fn a_head_is_16_bytes_and_a_token_reference_7() {
        // What every subject costs before its keys: figures in docs/benchmarks.md.
        assert_eq!(std::mem::size_of::<Head>(), 16);
        assert_eq!(std::mem::size_of::<TokRef>(), 7);
    }

    #[test]
    fn slots_read_back_what_was_set_through_replacements_and_compaction() {
        let mut s = Slots::default();
        let n = 3000u32;
        for i in 0..n {
            let slot = s.push(SubjectKind::User);
            assert_eq!(slot, i);
        }
        // Replace every slot many times: garbage passes the compaction threshold.
        for round in 0..121u32 {
            for i in 0..n {
                let k = u64::from(i) << 8 | u64::from(round % 7);
                let names: Vec<TokRef> = (0..(i % 4)).map(|j| tok(i + j + round)).collect();
                let addrs: Vec<TokRef> = (0..(i % 3)).map(|j| tok(1_000_000 + j)).collect();
                s.set(i, SubjectKind::User, true, &[k, k + 1], &names, &addrs);
            }
            s.clear(round % n, false);
        }
        assert!(s.keys.len() < 2 * (2 * n as usize) + 2 * COMPACT_FROM);
        for i in 0..n {
            let r = s.get(i);
            if i == 120 {
                assert!(!r.live && r.exact.is_empty() && r.names.is_empty(), "{i}");
                continue;
            }
            let k = u64::from(i) << 8 | (120 % 7);
            assert!(r.live);
            assert_eq!(r.exact, &[k, k + 1]);
            assert_eq!(
                r.names.iter().map(|t| t.tok).collect::<Vec<_>>(),
                (0..(i % 4)).map(|j| i + j + 120).collect::<Vec<_>>()
            );
            assert_eq!(r.addrs.len(), (i % 3) as usize);
        }
        assert!(!s.get(n + 5).live);
    }
}
