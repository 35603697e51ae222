//! A subject packed into one allocation, as the directory keeps it.
//!
//! A [`Subject`] in memory is a dozen heap blocks (its id, every name, email, phone and
//! address, each handle's two strings, the vectors holding them), each with the
//! allocator's header and rounding: about a kilobyte for a typical contact, most of the
//! directory's memory. Packed, the same subject is its text plus a byte of length per
//! string, in one block. The directory unpacks a subject only to answer with it (a
//! result, `get`), never to score it: the index holds what lookups read.
//!
//! Layout: kind byte, flag byte (canonical, employment, which optional strings follow),
//! then length-prefixed (LEB128) UTF-8 strings: the id; count-prefixed lists of names,
//! emails, phones, addresses, handles (platform, value), external ids and custom
//! attributes (key, value); the contact list and merge set when present. The bytes are
//! written here and read only here, from values this process packed.

use dsr_model::{Employment, Handle, MergeSetId, Subject, SubjectId, SubjectKind};

const CANONICAL: u8 = 1;
const ACTIVE: u8 = 2;
const FORMER: u8 = 4;
const CONTACT_LIST: u8 = 8;
const MERGE_SET: u8 = 16;

/// A kind as one byte (a packed subject's first, a snapshot's slot).
pub(crate) fn kind_byte(kind: SubjectKind) -> u8 {
    match kind {
        SubjectKind::User => 0,
        SubjectKind::ExternalContact => 1,
        SubjectKind::DialerContact => 2,
    }
}

/// The kind [`kind_byte`] wrote.
pub(crate) fn kind_of(b: u8) -> Option<SubjectKind> {
    match b {
        0 => Some(SubjectKind::User),
        1 => Some(SubjectKind::ExternalContact),
        2 => Some(SubjectKind::DialerContact),
        _ => None,
    }
}

/// One packed subject, read in place (in the directory's [`Arena`], or bytes
/// [`Packed::encode`] wrote).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Packed<'a>(&'a [u8]);

fn put_len(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let b = (n & 0x7F) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_list(out: &mut Vec<u8>, items: &[String]) {
    put_len(out, items.len());
    for s in items {
        put_str(out, s);
    }
}

/// Reads what [`Packed::encode`] wrote. Every read is bounds-checked; the bytes cannot be
/// malformed (only this module writes them), so a failure is a bug, reported by `None`.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn len(&mut self) -> Option<usize> {
        let mut n = 0usize;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= usize::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn str(&mut self) -> Option<&'a str> {
        let n = self.len()?;
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        std::str::from_utf8(s).ok()
    }

    /// Steps over a string without reading it (a view reads only what it is asked for).
    fn skip(&mut self) -> Option<()> {
        let n = self.len()?;
        self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(())
    }

    fn list(&mut self) -> Option<Vec<String>> {
        let n = self.len()?;
        (0..n).map(|_| self.str().map(str::to_owned)).collect()
    }
}

impl<'a> Packed<'a> {
    /// Packs a subject.
    pub fn encode(s: &Subject) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.push(kind_byte(s.kind));
        let mut flags = 0;
        if s.canonical {
            flags |= CANONICAL;
        }
        match s.employment {
            Some(Employment::Active) => flags |= ACTIVE,
            Some(Employment::Former) => flags |= FORMER,
            None => {}
        }
        if s.contact_list.is_some() {
            flags |= CONTACT_LIST;
        }
        if s.merge_set.is_some() {
            flags |= MERGE_SET;
        }
        out.push(flags);
        put_str(&mut out, s.id.as_str());
        put_list(&mut out, &s.names);
        put_list(&mut out, &s.emails);
        put_list(&mut out, &s.phones);
        put_list(&mut out, &s.addresses);
        put_len(&mut out, s.handles.len());
        for h in &s.handles {
            put_str(&mut out, &h.platform);
            put_str(&mut out, &h.value);
        }
        put_list(&mut out, &s.external_ids);
        put_len(&mut out, s.custom.len());
        for (k, v) in &s.custom {
            put_str(&mut out, k);
            put_str(&mut out, v);
        }
        if let Some(c) = &s.contact_list {
            put_str(&mut out, c);
        }
        if let Some(m) = &s.merge_set {
            put_str(&mut out, m.as_str());
        }
        out
    }

    /// The subject's kind, without unpacking.
    pub fn kind(&self) -> SubjectKind {
        self.0
            .first()
            .and_then(|&b| kind_of(b))
            .unwrap_or(SubjectKind::ExternalContact)
    }

    /// The subject's id, without unpacking.
    pub fn id(&self) -> Option<&'a str> {
        let mut r = Reader {
            bytes: self.0,
            at: 2,
        };
        r.str()
    }

    /// The subject again.
    pub fn unpack(&self) -> Subject {
        self.try_unpack()
            .expect("a packed subject unpacks (written by Packed::encode, or checked)")
    }

    fn try_unpack(&self) -> Option<Subject> {
        let mut r = Reader {
            bytes: self.0,
            at: 0,
        };
        let kind = self.kind();
        r.byte()?;
        let flags = r.byte()?;
        let id = SubjectId::new(r.str()?).ok()?;
        let names = r.list()?;
        let emails = r.list()?;
        let phones = r.list()?;
        let addresses = r.list()?;
        let n = r.len()?;
        let mut handles = Vec::with_capacity(n);
        for _ in 0..n {
            handles.push(Handle {
                platform: r.str()?.to_owned(),
                value: r.str()?.to_owned(),
            });
        }
        let external_ids = r.list()?;
        let n = r.len()?;
        let mut custom = std::collections::BTreeMap::new();
        for _ in 0..n {
            custom.insert(r.str()?.to_owned(), r.str()?.to_owned());
        }
        let contact_list = if flags & CONTACT_LIST != 0 {
            Some(r.str()?.to_owned())
        } else {
            None
        };
        let merge_set = if flags & MERGE_SET != 0 {
            Some(MergeSetId::new(r.str()?).ok()?)
        } else {
            None
        };
        Some(Subject {
            kind,
            id,
            names,
            emails,
            phones,
            addresses,
            handles,
            external_ids,
            custom,
            employment: if flags & ACTIVE != 0 {
                Some(Employment::Active)
            } else if flags & FORMER != 0 {
                Some(Employment::Former)
            } else {
                None
            },
            contact_list,
            merge_set,
            canonical: flags & CANONICAL != 0,
        })
    }

    /// A view of the packed fields, reading values in place (no allocation).
    pub fn view(&self) -> Option<View<'a>> {
        let mut r = Reader {
            bytes: self.0,
            at: 0,
        };
        r.byte()?;
        let flags = r.byte()?;
        let id = r.str()?;
        let mut lists = [0usize; 6];
        for (i, start) in lists.iter_mut().enumerate() {
            *start = r.at;
            let n = r.len()?;
            let strings = if i == 4 { 2 * n } else { n };
            for _ in 0..strings {
                r.skip()?;
            }
        }
        let n = r.len()?;
        for _ in 0..2 * n {
            r.skip()?;
        }
        if flags & CONTACT_LIST != 0 {
            r.skip()?;
        }
        let merge_set = if flags & MERGE_SET != 0 {
            Some(r.str()?)
        } else {
            None
        };
        Some(View {
            bytes: self.0,
            id,
            kind: self.kind(),
            merge_set,
            lists,
        })
    }

    /// Whether bytes read back from a snapshot walk as [`Packed::encode`] writes them
    /// (every string in bounds and UTF-8, the id a valid id): what `unpack` relies on.
    pub fn check(bytes: &[u8]) -> bool {
        Self::walk(bytes).is_some()
    }

    fn walk(bytes: &[u8]) -> Option<()> {
        let mut r = Reader { bytes, at: 0 };
        kind_of(r.byte()?)?;
        let flags = r.byte()?;
        let id = r.str()?;
        // What `SubjectId::new` accepts unchanged, checked without allocating.
        if id.trim().len() != id.len()
            || id.is_empty()
            || id.len() > dsr_model::MAX_ID_LEN
            || id.chars().any(char::is_control)
        {
            return None;
        }
        for i in 0..7 {
            let n = r.len()?;
            let strings = if i == 4 || i == 6 { 2 * n } else { n };
            for _ in 0..strings {
                r.str()?;
            }
        }
        if flags & CONTACT_LIST != 0 {
            r.str()?;
        }
        if flags & MERGE_SET != 0 {
            MergeSetId::new(r.str()?).ok()?;
        }
        (r.at == bytes.len()).then_some(())
    }
}

/// Every subject of a directory packed end to end in one buffer, found by slot: no
/// allocation per subject (at 10 M subjects an allocation's header, rounding and
/// pointer each is a quarter of a gigabyte). A replaced or removed subject's bytes
/// stay as garbage until they are half the buffer, then the buffer is compacted.
#[derive(Default)]
pub(crate) struct Arena {
    bytes: Vec<u8>,
    /// Per slot: where its subject starts (a length, then the packed bytes), or
    /// [`Arena::NONE`].
    at: Vec<u64>,
    garbage: usize,
}

/// Smallest buffer worth compacting.
const COMPACT_FROM: usize = 1 << 20;

impl Arena {
    const NONE: u64 = u64::MAX;

    fn span(&self, at: u64) -> Option<&[u8]> {
        if at == Self::NONE {
            return None;
        }
        let mut r = Reader {
            bytes: &self.bytes,
            at: usize::try_from(at).ok()?,
        };
        let n = r.len()?;
        self.bytes.get(r.at..r.at.checked_add(n)?)
    }

    /// The subject in a slot.
    pub fn get(&self, slot: usize) -> Option<Packed<'_>> {
        self.span(*self.at.get(slot)?).map(Packed)
    }

    /// Every subject, by slot.
    pub fn iter(&self) -> impl Iterator<Item = Packed<'_>> {
        self.at.iter().filter_map(|&at| self.span(at).map(Packed))
    }

    /// Slots (with a subject or not).
    pub fn slots(&self) -> usize {
        self.at.len()
    }

    fn forget(&mut self, slot: usize) {
        if let Some(at) = self.at.get_mut(slot) {
            let old = std::mem::replace(at, Self::NONE);
            if old != Self::NONE {
                let mut r = Reader {
                    bytes: &self.bytes,
                    at: old as usize,
                };
                let n = r.len().unwrap_or(0);
                self.garbage += r.at - old as usize + n;
            }
        }
    }

    /// Puts `packed` (from [`Packed::encode`] or checked with [`Packed::check`]) in a
    /// slot, replacing what it held.
    pub fn set(&mut self, slot: usize, packed: &[u8]) {
        self.forget(slot);
        if self.at.len() <= slot {
            self.at.resize(slot + 1, Self::NONE);
        }
        self.at[slot] = self.bytes.len() as u64;
        put_len(&mut self.bytes, packed.len());
        self.bytes.extend_from_slice(packed);
        if self.garbage > COMPACT_FROM && 2 * self.garbage > self.bytes.len() {
            self.compact();
        }
    }

    /// An arena of `n` empty slots (a snapshot reader fills them).
    pub fn with_slots(n: usize) -> Arena {
        Arena {
            bytes: Vec::new(),
            at: vec![Self::NONE; n],
            garbage: 0,
        }
    }

    /// Empties a slot; returns its subject.
    pub fn take(&mut self, slot: usize) -> Option<Subject> {
        let s = self.get(slot)?.unpack();
        self.forget(slot);
        Some(s)
    }

    /// Copies the live subjects into a new buffer, in slot order.
    fn compact(&mut self) {
        let mut fresh = Arena {
            bytes: Vec::with_capacity(self.bytes.len() - self.garbage),
            at: Vec::with_capacity(self.at.len()),
            garbage: 0,
        };
        for slot in 0..self.at.len() {
            match self.get(slot) {
                Some(p) => {
                    fresh.at.push(fresh.bytes.len() as u64);
                    put_len(&mut fresh.bytes, p.0.len());
                    fresh.bytes.extend_from_slice(p.0);
                }
                None => fresh.at.push(Self::NONE),
            }
        }
        *self = fresh;
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.at.capacity() * 8
    }

    /// For a snapshot: every slot's packed bytes (`None`: no subject), in slot order.
    pub fn entries(&self) -> impl Iterator<Item = Option<&[u8]>> {
        self.at.iter().map(|&at| self.span(at))
    }
}

/// A handle read in place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HandleRef<'a> {
    pub platform: &'a str,
    pub value: &'a str,
}

/// A packed subject's fields read in place: what lookups quote as evidence.
pub(crate) struct View<'a> {
    bytes: &'a [u8],
    pub id: &'a str,
    pub kind: SubjectKind,
    pub merge_set: Option<&'a str>,
    /// Where each list starts: names, emails, phones, addresses, handles, external ids.
    lists: [usize; 6],
}

impl<'a> View<'a> {
    /// The `i`th string of list `list`, `per` strings an item, `k`th of the item.
    fn item(&self, list: usize, i: usize, per: usize, k: usize) -> Option<&'a str> {
        let mut r = Reader {
            bytes: self.bytes,
            at: self.lists[list],
        };
        if i >= r.len()? {
            return None;
        }
        for _ in 0..i * per + k {
            r.str()?;
        }
        r.str()
    }

    pub fn name(&self, i: usize) -> Option<&'a str> {
        self.item(0, i, 1, 0)
    }
    pub fn email(&self, i: usize) -> Option<&'a str> {
        self.item(1, i, 1, 0)
    }
    pub fn phone(&self, i: usize) -> Option<&'a str> {
        self.item(2, i, 1, 0)
    }
    pub fn address(&self, i: usize) -> Option<&'a str> {
        self.item(3, i, 1, 0)
    }
    pub fn handle(&self, i: usize) -> Option<HandleRef<'a>> {
        Some(HandleRef {
            platform: self.item(4, i, 2, 0)?,
            value: self.item(4, i, 2, 1)?,
        })
    }
    pub fn external_id(&self, i: usize) -> Option<&'a str> {
        self.item(5, i, 1, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arena_keeps_each_slot_through_replacements_and_compaction() {
        let mut a = Arena::default();
        let subject = |i: usize, name: &str| {
            let mut s = Subject::new(
                SubjectKind::ExternalContact,
                SubjectId::new(format!("c-{i}")).unwrap(),
            );
            s.names = vec![name.repeat(1 + i % 7)];
            s
        };
        let mut model: Vec<Option<Subject>> = vec![None; 50];
        for round in 0..400 {
            let i = (round * 7) % 50;
            if round % 5 == 4 {
                assert_eq!(a.take(i), model[i].take());
            } else {
                let s = subject(i, &"x".repeat(round * 50));
                a.set(i, &Packed::encode(&s));
                model[i] = Some(s);
            }
            assert!(a.garbage <= a.bytes.len());
            assert!(2 * a.garbage <= a.bytes.len() || a.garbage <= COMPACT_FROM);
        }
        for (i, m) in model.iter().enumerate() {
            assert_eq!(
                a.get(i).map(|p| p.unpack()).as_ref(),
                m.as_ref(),
                "slot {i}"
            );
        }
        // Compaction keeps the garbage at most half the buffer (once it is worth it).
        assert!(2 * a.garbage <= a.bytes.len() || a.garbage <= COMPACT_FROM);
        assert_eq!(a.iter().count(), model.iter().flatten().count());
    }

    #[test]
    fn packs_every_field_and_unpacks_the_same_subject() {
        let mut s = Subject::new(SubjectKind::ExternalContact, SubjectId::new("c-1").unwrap());
        s.names = vec!["Jean Dupont".into(), "山田 太郎".into()];
        s.emails = vec!["j@example.com".into()];
        s.phones = vec!["+33 6 12 34 56 78".into(), String::new()];
        s.addresses = vec!["x".repeat(300)];
        s.handles = vec![Handle {
            platform: "twitter".into(),
            value: "@jd".into(),
        }];
        s.external_ids = vec!["crm-9".into()];
        s.custom.insert("tier".into(), "gold".into());
        s.merge_set = Some(MergeSetId::new("m-1").unwrap());
        s.canonical = true;
        s.contact_list = Some("list".into());
        s.employment = Some(Employment::Former);
        let bytes = Packed::encode(&s);
        let p = Packed(&bytes);
        assert_eq!(p.unpack(), s);
        assert_eq!(p.kind(), SubjectKind::ExternalContact);
        let v = p.view().unwrap();
        assert_eq!((v.id, v.kind, v.merge_set), ("c-1", s.kind, Some("m-1")));
        assert_eq!((v.name(1), v.name(2)), (Some("山田 太郎"), None));
        assert_eq!((v.email(0), v.phone(1)), (Some("j@example.com"), Some("")));
        assert_eq!(v.address(0).map(str::len), Some(300));
        let h = v.handle(0).unwrap();
        assert_eq!((h.platform, h.value), ("twitter", "@jd"));
        assert!(v.handle(1).is_none());
        assert_eq!(v.external_id(0), Some("crm-9"));
        let bare = Subject::new(SubjectKind::User, SubjectId::new("u").unwrap());
        let bytes = Packed::encode(&bare);
        assert_eq!(Packed(&bytes).unpack(), bare);
        assert_eq!(Packed(&bytes).kind(), SubjectKind::User);
    }
}
