//! A compact multimap from 64-bit fingerprints to `u32` ids: an open-addressing table
//! of 12-byte entries (the fingerprint as two `u32` halves and a value) with linear
//! probing, values inline when a key has one id (the common case), in an overflow list
//! otherwise. Keys are already hashes, so the table spreads them with one multiply-fold.
//! Insert-only (the token tables; the exact-key table, which removes, is
//! [`crate::tagmap`]).
//!
//! Why not a `HashMap`: the table is one flat array of plain integers, so an index
//! snapshot writes it as it is and reads it back with one copy — no hashing, no
//! inserts (a million keys re-inserted into a `HashMap` cost ~90 ms).

/// Marks a free entry (no id reaches it: ids stay below [`OVERFLOW`], and overflow lists
/// are numbered below `OVERFLOW - 1`).
const EMPTY: u32 = u32::MAX;
/// Value bit: the rest of the value numbers an overflow list.
const OVERFLOW: u32 = 1 << 31;
/// Fewest entries of a table that has any.
const MIN_CAPACITY: usize = 16;

/// Spreads a key over the table: keys may have constant low bits (fingerprints with
/// their meta byte cleared), so a 128-bit product is folded to reach every bit.
pub(crate) fn spread(key: u64) -> u64 {
    let m = u128::from(key) * 0x9E37_79B9_7F4A_7C15u128;
    (m as u64) ^ ((m >> 64) as u64)
}

fn key_of(e: &[u32; 3]) -> u64 {
    u64::from(e[0]) | (u64::from(e[1]) << 32)
}

/// Fingerprint → ids.
#[derive(Default)]
pub struct MultiMap {
    /// `[key low, key high, value]`; `value == EMPTY` is a free entry. Empty or a power
    /// of two long, at most 7/8 full.
    table: Vec<[u32; 3]>,
    len: usize,
    overflow: Vec<Vec<u32>>,
    free: Vec<u32>,
}

impl MultiMap {
    fn mask(&self) -> usize {
        self.table.len().wrapping_sub(1)
    }

    /// The entry holding `key`, or the free entry where it would go.
    fn find(&self, key: u64) -> (usize, bool) {
        let mask = self.mask();
        let mut i = spread(key) as usize & mask;
        loop {
            let e = &self.table[i];
            if e[2] == EMPTY {
                return (i, false);
            }
            if key_of(e) == key {
                return (i, true);
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let cap = (self.table.len() * 2).max(MIN_CAPACITY);
        let old = std::mem::replace(&mut self.table, vec![[0, 0, EMPTY]; cap]);
        for e in old.into_iter().filter(|e| e[2] != EMPTY) {
            let (i, _) = self.find(key_of(&e));
            self.table[i] = e;
        }
    }

    /// Adds `id` under `key` (no-op if already there).
    pub fn insert(&mut self, key: u64, id: u32) {
        debug_assert!(id < OVERFLOW);
        if (self.len + 1) * 8 > self.table.len() * 7 {
            self.grow();
        }
        let (i, found) = self.find(key);
        if !found {
            self.table[i] = [key as u32, (key >> 32) as u32, id];
            self.len += 1;
            return;
        }
        let v = self.table[i][2];
        if v & OVERFLOW == 0 {
            if v != id {
                let at = parts::new_list(&mut self.overflow, &mut self.free, vec![v, id]);
                self.table[i][2] = at | OVERFLOW;
            }
        } else {
            let list = &mut self.overflow[(v & !OVERFLOW) as usize];
            if !list.contains(&id) {
                list.push(id);
            }
        }
    }

    /// The ids under `key` (empty if none).
    pub fn get(&self, key: u64) -> &[u32] {
        if self.table.is_empty() {
            return &[];
        }
        let (i, found) = self.find(key);
        if !found {
            return &[];
        }
        let v = &self.table[i][2];
        if v & OVERFLOW == 0 {
            std::slice::from_ref(v)
        } else {
            &self.overflow[(v & !OVERFLOW) as usize]
        }
    }

    /// Approximate heap bytes used.
    pub fn heap_bytes(&self) -> usize {
        self.table.capacity() * std::mem::size_of::<[u32; 3]>()
            + parts::lists_bytes(&self.overflow, self.overflow.capacity(), &self.free)
    }

    /// Writes the table as it is (equal histories write equal bytes).
    pub(crate) fn write_to<W: std::io::Write>(
        &self,
        out: &mut crate::snapshot::Out<W>,
    ) -> std::io::Result<()> {
        out.len(self.len)?;
        parts::write_table(out, &self.table)?;
        parts::write_lists(out, &self.overflow, &self.free)
    }

    /// Reads what [`MultiMap::write_to`] wrote: the table in one copy, then checks that
    /// every id is below `bound`, every list reference within the lists and the count
    /// right (a damaged table is an error, not a lookup that never ends).
    pub(crate) fn read_from(
        r: &mut crate::snapshot::In<'_>,
        bound: usize,
        what: &str,
    ) -> Result<Self, crate::snapshot::SnapshotError> {
        use crate::snapshot::damaged;
        let len = r.len(0)?;
        let cap = r.len(12)?;
        if (cap != 0 && (!cap.is_power_of_two() || cap < MIN_CAPACITY)) || len * 8 > cap * 7 {
            return Err(damaged(format!("{what}: table size")));
        }
        let table: Vec<[u32; 3]> = parts::read_table(r, cap)?;
        let (overflow, free) = parts::read_lists(r, bound, what)?;
        let mut used = 0;
        for e in &table {
            match e[2] {
                EMPTY => {}
                v if v & OVERFLOW == 0 && (v as usize) < bound => used += 1,
                v if v & OVERFLOW != 0 && ((v & !OVERFLOW) as usize) < overflow.len() => used += 1,
                _ => return Err(damaged(format!("{what}: an id out of range"))),
            }
        }
        if used != len {
            return Err(damaged(format!("{what}: key count")));
        }
        Ok(MultiMap {
            table,
            len,
            overflow,
            free,
        })
    }
}

/// The parts both fingerprint tables share: the entries written as they are, and the
/// overflow lists of ids (with the numbers of released lists, for reuse).
pub(crate) mod parts {
    use crate::snapshot::{In, Out, SnapshotError, check_ids};

    /// A new list; returns its number (a released one if any).
    pub(crate) fn new_list(lists: &mut Vec<Vec<u32>>, free: &mut Vec<u32>, list: Vec<u32>) -> u32 {
        match free.pop() {
            Some(at) => {
                lists[at as usize] = list;
                at
            }
            None => {
                lists.push(list);
                (lists.len() - 1) as u32
            }
        }
    }

    /// Heap bytes of the lists.
    pub(crate) fn lists_bytes(lists: &[Vec<u32>], lists_cap: usize, free: &[u32]) -> usize {
        lists_cap * std::mem::size_of::<Vec<u32>>()
            + lists.iter().map(|l| l.capacity() * 4).sum::<usize>()
            + free.len() * 4
    }

    /// Writes the table's length and its entries, little-endian words.
    pub(crate) fn write_table<W: std::io::Write, const N: usize>(
        out: &mut Out<W>,
        table: &[[u32; N]],
    ) -> std::io::Result<()> {
        out.len(table.len())?;
        for chunk in table.chunks(4096) {
            let mut bytes = Vec::with_capacity(chunk.len() * N * 4);
            for e in chunk {
                for w in e {
                    bytes.extend_from_slice(&w.to_le_bytes());
                }
            }
            out.raw(&bytes)?;
        }
        Ok(())
    }

    /// Reads `cap` entries written by [`write_table`] (its length read by the caller),
    /// in one copy.
    pub(crate) fn read_table<const N: usize>(
        r: &mut In<'_>,
        cap: usize,
    ) -> Result<Vec<[u32; N]>, SnapshotError> {
        let bytes = r.take(cap * N * 4)?;
        Ok(bytes
            .chunks_exact(N * 4)
            .map(|c| {
                std::array::from_fn(|k| {
                    u32::from_le_bytes([c[4 * k], c[4 * k + 1], c[4 * k + 2], c[4 * k + 3]])
                })
            })
            .collect())
    }

    /// Writes the lists and the released numbers.
    pub(crate) fn write_lists<W: std::io::Write>(
        out: &mut Out<W>,
        lists: &[Vec<u32>],
        free: &[u32],
    ) -> std::io::Result<()> {
        out.len(lists.len())?;
        for list in lists {
            out.u32s(list)?;
        }
        out.u32s(free)
    }

    /// Reads what [`write_lists`] wrote, every id below `bound` and every released
    /// number a list.
    pub(crate) fn read_lists(
        r: &mut In<'_>,
        bound: usize,
        what: &str,
    ) -> Result<(Vec<Vec<u32>>, Vec<u32>), SnapshotError> {
        let m = r.len(8)?;
        let mut lists = Vec::with_capacity(m);
        for _ in 0..m {
            let list = r.u32s()?;
            check_ids(&list, bound, what)?;
            lists.push(list);
        }
        let free = r.u32s()?;
        check_ids(&free, lists.len(), what)?;
        Ok((lists, free))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[test]
    fn insert_and_get() {
        let mut m = MultiMap::default();
        assert_eq!(m.get(7), &[] as &[u32]);
        m.insert(7, 1);
        assert_eq!(m.get(7), &[1]);
        m.insert(7, 1);
        m.insert(7, 2);
        m.insert(7, 3);
        assert_eq!(m.get(7), &[1, 2, 3]);
        // Keys differing only in their high half are distinct.
        m.insert(1 << 40, 9);
        assert_eq!(m.get(1 << 40), &[9]);
        assert_eq!(m.get(0), &[] as &[u32]);
    }

    /// Against a `BTreeMap` model, through growth, with long probe runs.
    #[test]
    fn answers_like_a_map_through_growth() {
        let mut m = MultiMap::default();
        let mut model: BTreeMap<u64, BTreeSet<u32>> = BTreeMap::new();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..40_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few distinct keys with constant low bits: long probe runs, many lists.
            let key = (x % 3000) << 8;
            let id = (x >> 40) as u32 % 50;
            m.insert(key, id);
            model.entry(key).or_default().insert(id);
        }
        assert_eq!(m.len, model.len());
        for k in 0..3000u64 {
            let got: BTreeSet<u32> = m.get(k << 8).iter().copied().collect();
            assert_eq!(
                got,
                model.get(&(k << 8)).cloned().unwrap_or_default(),
                "key {k}"
            );
        }
    }
}
