//! A compact multimap from 64-bit fingerprints to `u32` ids: one 12-byte entry per key
//! (the fingerprint as two `u32` halves, so the entry is not padded to 16 bytes), values
//! inline when a key has one id (the common case), in an overflow list otherwise. Keys
//! are already hashes, so the table hashes them by identity.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hasher for keys that are already 64-bit hashes: one multiply-fold, no byte loop.
#[derive(Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        // Keys may have constant low bits (fingerprints with their meta byte cleared), and
        // the table takes the bucket from the low bits and a tag from the top ones: fold a
        // 128-bit product so every bit of the key reaches both ends.
        let m = u128::from(self.0) * 0x9E37_79B9_7F4A_7C15u128;
        (m as u64) ^ ((m >> 64) as u64)
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; fold anything else defensively.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Build hasher for [`IdentityHasher`].
pub type IdentityBuild = BuildHasherDefault<IdentityHasher>;

/// A fingerprint stored with 4-byte alignment: `(Fp, u32)` is 12 bytes, not 16.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fp([u32; 2]);

impl Fp {
    fn new(key: u64) -> Self {
        Fp([key as u32, (key >> 32) as u32])
    }
}

impl std::hash::Hash for Fp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.0[0]) | (u64::from(self.0[1]) << 32));
    }
}

const OVERFLOW: u32 = 1 << 31;

/// Fingerprint → ids.
#[derive(Default)]
pub struct MultiMap {
    map: HashMap<Fp, u32, IdentityBuild>,
    overflow: Vec<Vec<u32>>,
    free: Vec<u32>,
}

impl MultiMap {
    /// Adds `id` under `key` (no-op if already there).
    pub fn insert(&mut self, key: u64, id: u32) {
        debug_assert!(id < OVERFLOW);
        let key = Fp::new(key);
        match self.map.get_mut(&key) {
            None => {
                self.map.insert(key, id);
            }
            Some(v) if *v & OVERFLOW == 0 => {
                if *v != id {
                    let list = vec![*v, id];
                    let at = match self.free.pop() {
                        Some(at) => {
                            self.overflow[at as usize] = list;
                            at
                        }
                        None => {
                            self.overflow.push(list);
                            (self.overflow.len() - 1) as u32
                        }
                    };
                    *v = at | OVERFLOW;
                }
            }
            Some(v) => {
                let list = &mut self.overflow[(*v & !OVERFLOW) as usize];
                if !list.contains(&id) {
                    list.push(id);
                }
            }
        }
    }

    /// Removes `id` from `key`.
    pub fn remove(&mut self, key: u64, id: u32) {
        let key = Fp::new(key);
        let Some(v) = self.map.get_mut(&key) else {
            return;
        };
        if *v & OVERFLOW == 0 {
            if *v == id {
                self.map.remove(&key);
            }
            return;
        }
        let at = *v & !OVERFLOW;
        let list = &mut self.overflow[at as usize];
        list.retain(|&x| x != id);
        if list.len() == 1 {
            *v = list[0];
            self.overflow[at as usize] = Vec::new();
            self.free.push(at);
        }
    }

    /// The ids under `key` (empty if none).
    pub fn get(&self, key: u64) -> &[u32] {
        match self.map.get(&Fp::new(key)) {
            None => &[],
            Some(v) if *v & OVERFLOW == 0 => std::slice::from_ref(v),
            Some(v) => &self.overflow[(*v & !OVERFLOW) as usize],
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Writes the table (entries in key order, so equal tables write equal bytes).
    pub(crate) fn write_to<W: std::io::Write>(
        &self,
        out: &mut crate::snapshot::Out<W>,
    ) -> std::io::Result<()> {
        let mut entries: Vec<(u64, u32)> = self
            .map
            .iter()
            .map(|(k, v)| (u64::from(k.0[0]) | (u64::from(k.0[1]) << 32), *v))
            .collect();
        entries.sort_unstable();
        out.len(entries.len())?;
        for (k, v) in entries {
            out.u64(k)?;
            out.u32(v)?;
        }
        out.len(self.overflow.len())?;
        for list in &self.overflow {
            out.u32s(list)?;
        }
        out.u32s(&self.free)
    }

    /// Reads what [`MultiMap::write_to`] wrote; every id must be below `bound`.
    pub(crate) fn read_from(
        r: &mut crate::snapshot::In<'_>,
        bound: usize,
        what: &str,
    ) -> Result<Self, crate::snapshot::SnapshotError> {
        use crate::snapshot::{check_ids, damaged};
        let n = r.len(12)?;
        let mut map = HashMap::with_capacity_and_hasher(n, IdentityBuild::default());
        let mut single = Vec::new();
        let mut lists = Vec::new();
        for _ in 0..n {
            let (k, v) = (r.u64()?, r.u32()?);
            if v & OVERFLOW == 0 {
                single.push(v);
            } else {
                lists.push(v & !OVERFLOW);
            }
            if map.insert(Fp::new(k), v).is_some() {
                return Err(damaged(format!("{what}: a key twice")));
            }
        }
        check_ids(&single, bound, what)?;
        let m = r.len(8)?;
        let mut overflow = Vec::with_capacity(m);
        for _ in 0..m {
            let list = r.u32s()?;
            check_ids(&list, bound, what)?;
            overflow.push(list);
        }
        check_ids(&lists, overflow.len(), what)?;
        let free = r.u32s()?;
        check_ids(&free, overflow.len(), what)?;
        Ok(MultiMap {
            map,
            overflow,
            free,
        })
    }

    /// Approximate heap bytes used.
    pub fn heap_bytes(&self) -> usize {
        // hashbrown: (key, value) buckets plus one control byte each.
        let bucket = std::mem::size_of::<(Fp, u32)>() + 1;
        self.map.capacity() * bucket * 8 / 7
            + self.overflow.capacity() * std::mem::size_of::<Vec<u32>>()
            + self
                .overflow
                .iter()
                .map(|l| l.capacity() * 4)
                .sum::<usize>()
            + self.free.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove() {
        let mut m = MultiMap::default();
        m.insert(7, 1);
        assert_eq!(m.get(7), &[1]);
        m.insert(7, 1);
        m.insert(7, 2);
        m.insert(7, 3);
        assert_eq!(m.get(7), &[1, 2, 3]);
        m.remove(7, 2);
        m.remove(7, 1);
        assert_eq!(m.get(7), &[3]);
        m.insert(8, 4);
        m.insert(8, 5);
        assert_eq!(m.get(8), &[4, 5]);
        m.remove(7, 3);
        assert_eq!(m.get(7), &[] as &[u32]);
        assert_eq!(m.len(), 1);
        assert_eq!(std::mem::size_of::<(Fp, u32)>(), 12);
        // Keys differing only in their high half are distinct.
        m.insert(1 << 40, 9);
        assert_eq!(m.get(1 << 40), &[9]);
        assert_eq!(m.get(0), &[] as &[u32]);
    }
}
