//! The exact-key table: 64-bit fingerprints to `u32` slots in 8-byte entries, for a
//! table whose owner keeps every key elsewhere (the index's slots hold each subject's
//! fingerprints) and checks every slot it is given.
//!
//! An entry is a 32-bit *tag* of the key and a value (a slot, or an overflow list as in
//! [`crate::multimap`]); the full key is not stored. The home entry comes from the low
//! bits of the spread key and the tag from its high 32 bits, so they are independent:
//! two keys share an entry only when their tags are equal and one's probe run meets the
//! other's entry (about one key in 2^32 per entry probed). [`TagMap::get`] can
//! therefore return a slot of another key, and the caller checks (the index compares
//! the slot's full fingerprints, the directory the id). A 12-byte entry with the whole
//! key cost 4 bytes more per key: ~27 bytes per contact at 10 M contacts.
//!
//! Without the keys an entry's home is unknown, so a removal leaves a tombstone instead
//! of moving later entries back; and growing needs the keys, so the owner rebuilds the
//! table from its own copies ([`TagMap::reserve`] asks for them when live entries and
//! tombstones together would pass 7/8 of the table).
//!
//! Why one tag match is enough: an insert looks along the whole probe run for an entry
//! with its tag before it takes the first free entry, and no removal makes an entry
//! free (only a tombstone) — so a run never holds two entries of one tag, and a lookup
//! stops at the first.

use crate::multimap::{parts, spread};

/// A free entry.
const EMPTY: u32 = u32::MAX;
/// A removed entry (probes go on past it).
const TOMB: u32 = u32::MAX - 1;
/// Value bit: the rest of the value numbers an overflow list.
const OVERFLOW: u32 = 1 << 31;
/// Fewest entries of a table that has any.
const MIN_CAPACITY: usize = 16;

/// The tag of a spread key. In this crate's unit tests only three bits, so that keys
/// share entries often and every caller's check is exercised.
fn tag(spread: u64) -> u32 {
    let t = (spread >> 32) as u32;
    if cfg!(test) { t & 0x7 } else { t }
}

/// Fingerprint → slots, by tag. See the module docs.
#[derive(Default)]
pub struct TagMap {
    /// `[tag, value]`; value `EMPTY` or `TOMB` marks a free or removed entry. Empty or
    /// a power of two long.
    table: Vec<[u32; 2]>,
    /// Entries holding a value.
    len: usize,
    /// Removed entries.
    tombs: usize,
    overflow: Vec<Vec<u32>>,
    free: Vec<u32>,
}

impl TagMap {
    fn mask(&self) -> usize {
        self.table.len().wrapping_sub(1)
    }

    /// The entry holding `key`'s tag, or where it would go (the first removed or free
    /// entry of its run).
    fn find(&self, key: u64) -> (usize, bool) {
        let mask = self.mask();
        let s = spread(key);
        let t = tag(s);
        let mut i = s as usize & mask;
        let mut spot = None;
        loop {
            let e = self.table[i];
            match e[1] {
                EMPTY => return (spot.unwrap_or(i), false),
                TOMB => {
                    spot.get_or_insert(i);
                }
                _ if e[0] == t => return (i, true),
                _ => {}
            }
            i = (i + 1) & mask;
        }
    }

    /// Makes room for `extra` more keys: when live entries and tombstones would pass
    /// 7/8 of the table, the table is rebuilt without tombstones from `keys()`, every
    /// `(key, slot)` the owner holds (those it is about to add not among them), in the
    /// smallest table they fill at most 3/4 of. Grown from full, that is twice the size
    /// (7/16 full, as doubling would); a table mostly of tombstones keeps its size.
    /// `keys` is walked twice: once to count, once to insert.
    pub fn reserve<I: IntoIterator<Item = (u64, u32)>>(
        &mut self,
        extra: usize,
        keys: impl Fn() -> I,
    ) {
        if (self.len + self.tombs + extra) * 8 <= self.table.len() * 7 {
            return;
        }
        // Pairs bound the entries from above (a key with several slots is one entry).
        let pairs = keys().into_iter().count();
        let mut cap = MIN_CAPACITY;
        while cap * 3 < (pairs + extra) * 4 {
            cap *= 2;
        }
        let mut fresh = TagMap {
            table: vec![[0, EMPTY]; cap],
            ..TagMap::default()
        };
        for (key, slot) in keys() {
            fresh.insert(key, slot);
        }
        *self = fresh;
    }

    /// Adds `slot` under `key`. A multiset: each insert is undone by one removal, so
    /// a slot holding two keys that share an entry keeps the other when one is removed
    /// (the owner inserts each key of a slot once). Call [`TagMap::reserve`] first.
    pub fn insert(&mut self, key: u64, slot: u32) {
        debug_assert!(slot < TOMB && slot & OVERFLOW == 0);
        assert!(
            (self.len + self.tombs) < self.table.len(),
            "TagMap::insert without reserve"
        );
        let (i, found) = self.find(key);
        if !found {
            if self.table[i][1] == TOMB {
                self.tombs -= 1;
            }
            self.table[i] = [tag(spread(key)), slot];
            self.len += 1;
            return;
        }
        let v = self.table[i][1];
        if v & OVERFLOW == 0 {
            {
                let at = parts::new_list(&mut self.overflow, &mut self.free, vec![v, slot]);
                self.table[i][1] = at | OVERFLOW;
            }
        } else {
            self.overflow[(v & !OVERFLOW) as usize].push(slot);
        }
    }

    /// Removes `slot` from `key`.
    pub fn remove(&mut self, key: u64, slot: u32) {
        if self.table.is_empty() {
            return;
        }
        let (i, found) = self.find(key);
        if !found {
            return;
        }
        let v = self.table[i][1];
        if v & OVERFLOW == 0 {
            if v == slot {
                self.table[i] = [0, TOMB];
                self.len -= 1;
                self.tombs += 1;
            }
            return;
        }
        let at = v & !OVERFLOW;
        let list = &mut self.overflow[at as usize];
        if let Some(p) = list.iter().position(|&x| x == slot) {
            list.swap_remove(p);
        }
        if list.len() == 1 {
            self.table[i][1] = list[0];
            self.overflow[at as usize] = Vec::new();
            self.free.push(at);
        }
    }

    /// The slots under `key`'s tag (empty if none): a superset of `key`'s, to check,
    /// and a slot can be there twice (two of its keys sharing the entry).
    pub fn get(&self, key: u64) -> &[u32] {
        if self.table.is_empty() {
            return &[];
        }
        let (i, found) = self.find(key);
        if !found {
            return &[];
        }
        let v = &self.table[i][1];
        if v & OVERFLOW == 0 {
            std::slice::from_ref(v)
        } else {
            &self.overflow[(v & !OVERFLOW) as usize]
        }
    }

    /// Entries holding a value (keys, but for the rare ones sharing an entry).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Heap bytes used.
    pub fn heap_bytes(&self) -> usize {
        self.table.capacity() * std::mem::size_of::<[u32; 2]>()
            + parts::lists_bytes(&self.overflow, self.overflow.capacity(), &self.free)
    }

    /// Writes the table as it is.
    pub(crate) fn write_to<W: std::io::Write>(
        &self,
        out: &mut crate::snapshot::Out<W>,
    ) -> std::io::Result<()> {
        out.len(self.len)?;
        out.len(self.tombs)?;
        parts::write_table(out, &self.table)?;
        parts::write_lists(out, &self.overflow, &self.free)
    }

    /// Reads what [`TagMap::write_to`] wrote, checking every value is below `bound`,
    /// every list reference within the lists, the counts right and at least one entry
    /// free (a damaged table is an error, not a lookup that never ends).
    pub(crate) fn read_from(
        r: &mut crate::snapshot::In<'_>,
        bound: usize,
        what: &str,
    ) -> Result<Self, crate::snapshot::SnapshotError> {
        use crate::snapshot::damaged;
        let len = r.len(0)?;
        let tombs = r.len(0)?;
        let cap = r.len(8)?;
        if (cap != 0 && (!cap.is_power_of_two() || cap < MIN_CAPACITY))
            || (len + tombs) * 8 > cap * 7
        {
            return Err(damaged(format!("{what}: table size")));
        }
        let table: Vec<[u32; 2]> = parts::read_table(r, cap)?;
        let (overflow, free) = parts::read_lists(r, bound, what)?;
        let (mut used, mut removed) = (0, 0);
        for e in &table {
            match e[1] {
                EMPTY => {}
                TOMB => removed += 1,
                v if v & OVERFLOW == 0 && (v as usize) < bound => used += 1,
                v if v & OVERFLOW != 0 && ((v & !OVERFLOW) as usize) < overflow.len() => used += 1,
                _ => return Err(damaged(format!("{what}: an id out of range"))),
            }
        }
        if used != len || removed != tombs {
            return Err(damaged(format!("{what}: entry count")));
        }
        Ok(TagMap {
            table,
            len,
            tombs,
            overflow,
            free,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// Against a model, through rebuilds and removals, with tags of three bits (keys
    /// share entries all the time): `get` returns every slot of the key, and nothing
    /// but slots of keys with the same tag.
    #[test]
    fn returns_every_slot_of_a_key_and_only_slots_of_its_tag() {
        let mut m = TagMap::default();
        let mut model: BTreeMap<u64, BTreeSet<u32>> = BTreeMap::new();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for step in 0..60_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = (x % 5000) << 8;
            let slot = (x >> 40) as u32 % 50;
            if step % 3 == 0 {
                // And removed only if it is there.
                if let Some(s) = model.get_mut(&key)
                    && s.remove(&slot)
                {
                    m.remove(key, slot);
                    if s.is_empty() {
                        model.remove(&key);
                    }
                }
            } else {
                let pairs: Vec<(u64, u32)> = model
                    .iter()
                    .flat_map(|(k, s)| s.iter().map(move |v| (*k, *v)))
                    .collect();
                m.reserve(1, || pairs.iter().copied());
                // As the index does: a slot's key is inserted once.
                if model.entry(key).or_default().insert(slot) {
                    m.insert(key, slot);
                }
            }
        }
        for k in 0..5000u64 {
            let key = k << 8;
            let got: BTreeSet<u32> = m.get(key).iter().copied().collect();
            let want = model.get(&key).cloned().unwrap_or_default();
            assert!(
                got.is_superset(&want),
                "key {k}: {got:?} lacks some of {want:?}"
            );
            let same_tag: BTreeSet<u32> = model
                .iter()
                .filter(|(o, _)| tag(spread(**o)) == tag(spread(key)))
                .flat_map(|(_, s)| s.iter().copied())
                .collect();
            assert!(got.is_subset(&same_tag), "key {k}");
        }
        assert!(m.tombs + m.len < m.table.len());
    }

    #[test]
    fn a_full_table_of_tombstones_is_rebuilt_not_probed_forever() {
        let mut m = TagMap::default();
        for round in 0..200u64 {
            m.reserve(1, std::iter::empty);
            m.insert(round << 8, 1);
            m.remove(round << 8, 1);
        }
        assert_eq!(m.len(), 0);
        assert_eq!(m.get(5 << 8), &[] as &[u32]);
    }
}
