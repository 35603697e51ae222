//! A directory written out and read back in bulk, so a process starts without rebuilding
//! the index (normalizing every subject again costs ~25 µs each: minutes at 10 M).
//!
//! Layout: [`MAGIC`], the format number, the *behaviour stamp*, the caller's stamp
//! (length-prefixed, opaque here: which store, tenant and feed position the directory
//! reflects), the directory's parts, then the xxh3-64 of every byte before it.
//!
//! What makes a snapshot unusable, each reported as a [`SnapshotError`] so the caller
//! rebuilds instead of answering from it:
//! - another format, or a file that is not a snapshot;
//! - a damaged or truncated file (the checksum, then every length and reference is
//!   checked while reading: an index out of range is an error, never a panic);
//! - another *behaviour*: the keys are derived by the normalizers, and a dsr whose
//!   normalizers changed would look up keys the old one never wrote. Rather than trust a
//!   version number someone must remember to bump, the stamp is the checksum of a small
//!   directory of fixed subjects in many scripts ([`behaviour_stamp`]): any change to
//!   what the index derives from a subject changes it.
//!
//! The little-endian integers and length-prefixed byte strings are read and written by
//! [`Out`] and [`In`]; each part's own module says what it writes.

use std::io::{self, Write};
use xxhash_rust::xxh3::Xxh3;

/// The first bytes of a snapshot.
pub(crate) const MAGIC: &[u8; 8] = b"DSRINDEX";
/// The layout's number; a reader refuses any other.
pub(crate) const FORMAT: u32 = 3;

/// Why a snapshot cannot be used (rebuild from the store instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The bytes do not start like a snapshot.
    #[error("not an index snapshot")]
    NotASnapshot,
    /// Written in another layout.
    #[error("index snapshot format {found}, this dsr reads format {expected}")]
    Format {
        /// The file's.
        found: u32,
        /// This build's.
        expected: u32,
    },
    /// Written by a dsr whose normalizers derive other keys.
    #[error(
        "index snapshot written by a dsr that derives other keys (behaviour {found:016x}, this one {expected:016x})"
    )]
    Behaviour {
        /// The file's.
        found: u64,
        /// This build's.
        expected: u64,
    },
    /// Truncated, altered or inconsistent.
    #[error("damaged index snapshot: {0}")]
    Damaged(String),
}

pub(crate) fn damaged(what: impl Into<String>) -> SnapshotError {
    SnapshotError::Damaged(what.into())
}

/// Writes little-endian integers and length-prefixed bytes, hashing all it writes.
pub(crate) struct Out<W: Write> {
    w: W,
    buf: Vec<u8>,
    hash: Xxh3,
    /// Bytes written so far.
    pos: u64,
}

const BUF: usize = 1 << 16;

impl<W: Write> Out<W> {
    pub fn new(w: W) -> Self {
        Out {
            w,
            buf: Vec::with_capacity(BUF),
            hash: Xxh3::new(),
            pos: 0,
        }
    }

    fn spill(&mut self) -> io::Result<()> {
        self.hash.update(&self.buf);
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Bytes written so far (a position in the file).
    pub fn pos(&self) -> u64 {
        self.pos
    }

    pub fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.pos += b.len() as u64;
        if self.buf.len() + b.len() > BUF {
            self.spill()?;
        }
        if b.len() > BUF {
            self.hash.update(b);
            return self.w.write_all(b);
        }
        self.buf.extend_from_slice(b);
        Ok(())
    }

    pub fn u8(&mut self, v: u8) -> io::Result<()> {
        self.raw(&[v])
    }

    pub fn u32(&mut self, v: u32) -> io::Result<()> {
        self.raw(&v.to_le_bytes())
    }

    pub fn u64(&mut self, v: u64) -> io::Result<()> {
        self.raw(&v.to_le_bytes())
    }

    /// A length or count.
    pub fn len(&mut self, n: usize) -> io::Result<()> {
        self.u64(n as u64)
    }

    pub fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.len(b.len())?;
        self.raw(b)
    }

    pub fn str(&mut self, s: &str) -> io::Result<()> {
        self.bytes(s.as_bytes())
    }

    pub fn opt_str(&mut self, s: Option<&str>) -> io::Result<()> {
        match s {
            None => self.u8(0),
            Some(s) => {
                self.u8(1)?;
                self.str(s)
            }
        }
    }

    /// A count, then the values.
    pub fn u32s(&mut self, v: &[u32]) -> io::Result<()> {
        self.len(v.len())?;
        for chunk in v.chunks(BUF / 4) {
            let mut bytes = Vec::with_capacity(chunk.len() * 4);
            for x in chunk {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
            self.raw(&bytes)?;
        }
        Ok(())
    }

    /// The checksum of everything written so far, written last; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.spill()?;
        let sum = self.hash.digest();
        self.w.write_all(&sum.to_le_bytes())?;
        self.w.flush()?;
        Ok(self.w)
    }

    /// The checksum of everything written so far (nothing more is written).
    pub fn digest(mut self) -> io::Result<u64> {
        self.spill()?;
        Ok(self.hash.digest())
    }
}

/// Reads what [`Out`] wrote; every read is bounds-checked.
pub(crate) struct In<'a> {
    b: &'a [u8],
    at: usize,
}

type R<T> = Result<T, SnapshotError>;

impl<'a> In<'a> {
    /// Checks the trailing checksum and the magic; the reader starts after the magic.
    pub fn open(bytes: &'a [u8]) -> R<Self> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        let Some(body_len) = bytes.len().checked_sub(8) else {
            return Err(damaged("truncated"));
        };
        let (body, sum) = bytes.split_at(body_len);
        let sum = u64::from_le_bytes(sum.try_into().map_err(|_| damaged("truncated"))?);
        if xxhash_rust::xxh3::xxh3_64(body) != sum {
            return Err(damaged("checksum mismatch (truncated or altered)"));
        }
        Ok(In {
            b: body,
            at: MAGIC.len(),
        })
    }

    /// A reader of the header only (the magic checked, not the checksum: the whole
    /// file is checked when it is read with [`In::open`]).
    pub fn header(bytes: &'a [u8]) -> R<Self> {
        if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(SnapshotError::NotASnapshot);
        }
        Ok(In {
            b: bytes,
            at: MAGIC.len(),
        })
    }

    /// After the magic: the format and behaviour stamp this build reads, then the
    /// caller's stamp, returned.
    pub fn stamp(&mut self) -> R<Vec<u8>> {
        let format = self.u32()?;
        if format != FORMAT {
            return Err(SnapshotError::Format {
                found: format,
                expected: FORMAT,
            });
        }
        let behaviour = self.u64()?;
        if behaviour != behaviour_stamp() {
            return Err(SnapshotError::Behaviour {
                found: behaviour,
                expected: behaviour_stamp(),
            });
        }
        Ok(self.bytes()?.to_vec())
    }

    pub fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| damaged("truncated"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    pub fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u32(&mut self) -> R<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().map_err(|_| damaged("u32"))?,
        ))
    }

    pub fn u64(&mut self) -> R<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().map_err(|_| damaged("u64"))?,
        ))
    }

    /// A length or count of items at least `item` bytes each: checked against the bytes
    /// left, so a damaged count cannot make the reader reserve memory it will not fill.
    pub fn len(&mut self, item: usize) -> R<usize> {
        let n = usize::try_from(self.u64()?).map_err(|_| damaged("length"))?;
        if n.saturating_mul(item.max(1)) > self.b.len() - self.at {
            return Err(damaged("a length runs past the end"));
        }
        Ok(n)
    }

    pub fn bytes(&mut self) -> R<&'a [u8]> {
        let n = self.len(1)?;
        self.take(n)
    }

    pub fn str(&mut self) -> R<&'a str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| damaged("text is not UTF-8"))
    }

    pub fn opt_str(&mut self) -> R<Option<&'a str>> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.str().map(Some),
            _ => Err(damaged("option tag")),
        }
    }

    pub fn u32s(&mut self) -> R<Vec<u32>> {
        let n = self.len(4)?;
        let b = self.take(n * 4)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    /// The body's sections from the table at its end (see
    /// `Directory::write_snapshot_body`): `N` sections, the first starting here and the
    /// last ending at the table, each with its own reader; and `S` sizes.
    pub fn sections<const N: usize, const S: usize>(&self) -> R<([In<'a>; N], [u64; S])> {
        let words = N + S + 1;
        let table_len = words * 8;
        let Some(table_at) = self.b.len().checked_sub(8) else {
            return Err(damaged("no section table"));
        };
        let table = usize::try_from(u64::from_le_bytes(
            self.b[table_at..]
                .try_into()
                .map_err(|_| damaged("table"))?,
        ))
        .map_err(|_| damaged("table"))?;
        if table.checked_add(table_len) != Some(self.b.len()) {
            return Err(damaged("section table"));
        }
        let mut t = In {
            b: self.b,
            at: table,
        };
        let mut starts = [0usize; N];
        for s in &mut starts {
            *s = usize::try_from(t.u64()?).map_err(|_| damaged("section"))?;
        }
        let mut sizes = [0u64; S];
        for v in &mut sizes {
            *v = t.u64()?;
        }
        if starts[0] != self.at || starts.windows(2).any(|w| w[0] > w[1]) || starts[N - 1] > table {
            return Err(damaged("section bounds"));
        }
        let sections = std::array::from_fn(|k| {
            let end = if k + 1 < N { starts[k + 1] } else { table };
            In {
                b: &self.b[..end],
                at: starts[k],
            }
        });
        Ok((sections, sizes))
    }

    /// Bytes left to read.
    pub fn remaining(&self) -> usize {
        self.b.len() - self.at
    }

    /// Whether every byte was read.
    pub fn end(&self) -> R<()> {
        if self.at == self.b.len() {
            Ok(())
        } else {
            Err(damaged("bytes after the end"))
        }
    }
}

/// What a reader thread returned (a panic in one, which the checks above rule out, is
/// a damaged snapshot rather than a crash).
pub(crate) fn joined<T>(h: std::thread::Result<R<T>>) -> R<T> {
    h.unwrap_or_else(|_| Err(damaged("a reader thread failed")))
}

/// Fails unless every id is below `bound` (an id read from a snapshot indexes a table).
pub(crate) fn check_ids(ids: &[u32], bound: usize, what: &str) -> R<()> {
    match ids.iter().find(|&&id| id as usize >= bound) {
        Some(id) => Err(damaged(format!("{what} {id} out of range ({bound})"))),
        None => Ok(()),
    }
}

/// Subjects whose index is the behaviour stamp: every field, and names and addresses in
/// the scripts and written forms the normalizers treat differently.
fn canary_subjects() -> Vec<dsr_model::Subject> {
    use dsr_model::{Handle, Subject, SubjectId, SubjectKind};
    let rows: &[(&str, &str, &str, &str, &str)] = &[
        (
            "c1",
            "Jürgen Müller-Lüdenscheidt",
            "J.Mueller+news@Example.ORG",
            "+49 30 1234567",
            "Hauptstraße 5a, 10115 Berlin",
        ),
        (
            "c2",
            "Daan van der Vries",
            "daan@example.nl",
            "06 12 34 56 78",
            "Molenweg 108, app. 3, 2511 CV Den Haag",
        ),
        (
            "c3",
            "Иван Петрович Сидоров",
            "ivan@example.ru",
            "+7 495 123-45-67",
            "ул. Тверская, д. 7, кв. 12, Москва",
        ),
        (
            "c4",
            "山田 太郎",
            "taro@example.jp",
            "+81 3-1234-5678",
            "東京都千代田区丸の内1-1",
        ),
        (
            "c5",
            "Γιώργος Παπαδόπουλος",
            "g@example.gr",
            "+30 21 0123 4567",
            "Οδός Αθηνάς 12, Αθήνα",
        ),
        (
            "c6",
            "María José García-López",
            "MJ.Garcia@gmail.com",
            "+34 612 34 56 78",
            "Calle Mayor 3, 28013 Madrid",
        ),
        (
            "c7",
            "O'Brien, Bill",
            "bill@example.ie",
            "(01) 234 5678",
            "12 O'Connell St, Dublin 1",
        ),
        (
            "c8",
            "محمد عبد الله",
            "m@example.eg",
            "+20 2 2345 6789",
            "١٢ شارع التحرير، القاهرة",
        ),
        (
            "c9",
            "李小龍",
            "lee@example.cn",
            "+86 10 1234 5678",
            "北京市朝阳区建国路88号",
        ),
    ];
    rows.iter()
        .enumerate()
        .filter_map(|(i, (id, name, email, phone, address))| {
            let kind = [
                SubjectKind::ExternalContact,
                SubjectKind::User,
                SubjectKind::DialerContact,
            ][i % 3];
            let mut s = Subject::new(kind, SubjectId::new(*id).ok()?);
            s.names.push((*name).into());
            s.emails.push((*email).into());
            s.phones.push((*phone).into());
            s.addresses.push((*address).into());
            s.handles.push(Handle {
                platform: "whatsapp".into(),
                value: (*phone).into(),
            });
            s.handles.push(Handle {
                platform: "twitter".into(),
                value: format!("@{id}_Handle"),
            });
            s.external_ids.push(format!("CRM-{id}"));
            if kind == SubjectKind::User {
                s.employment = Some(dsr_model::Employment::Former);
            }
            Some(s)
        })
        .collect()
}

/// The checksum of the snapshot body of a directory of [`canary_subjects`], once with
/// and once without a default phone region: it changes whenever what the index derives
/// from a subject changes (keys, tokens, spellings, neighbourhoods), so a snapshot
/// written by another build of the normalizers is refused.
pub(crate) fn behaviour_stamp() -> u64 {
    static STAMP: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *STAMP.get_or_init(|| {
        let mut out = Out::new(io::sink());
        for region in [None, Some("FR")] {
            let Ok(mut dir) = crate::Directory::new(crate::MatchConfig {
                default_region: region.map(str::to_owned),
            }) else {
                continue;
            };
            for s in canary_subjects() {
                // The canaries are valid subjects; one that were not would still be
                // the same on both sides of the comparison.
                let _ = dir.upsert(s);
            }
            let _ = dir.write_snapshot_body(&mut out);
        }
        out.digest().unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Directory, MatchConfig};

    fn resummed(mut b: Vec<u8>) -> Vec<u8> {
        let body = b.len() - 8;
        let sum = xxhash_rust::xxh3::xxh3_64(&b[..body]);
        b[body..].copy_from_slice(&sum.to_le_bytes());
        b
    }

    #[test]
    fn another_format_or_behaviour_is_refused_by_name() {
        let mut dir = Directory::new(MatchConfig::default()).unwrap();
        for s in canary_subjects() {
            dir.upsert(s).unwrap();
        }
        let good = dir.write_snapshot(Vec::new(), b"x").unwrap();
        let (back, stamp) = Directory::from_snapshot(&good).unwrap();
        assert_eq!((back.len(), stamp.as_slice()), (dir.len(), &b"x"[..]));

        let mut b = good.clone();
        b[8] = 9;
        assert_eq!(
            Directory::from_snapshot(&resummed(b)).err(),
            Some(SnapshotError::Format {
                found: 9,
                expected: FORMAT
            })
        );
        let mut b = good.clone();
        b[12] ^= 1;
        assert!(matches!(
            Directory::from_snapshot(&resummed(b)),
            Err(SnapshotError::Behaviour { .. })
        ));
        assert_eq!(
            Directory::from_snapshot(b"PK\x03\x04").err(),
            Some(SnapshotError::NotASnapshot)
        );
        let mut b = good;
        b.pop();
        assert!(matches!(
            Directory::from_snapshot(&b),
            Err(SnapshotError::Damaged(_))
        ));
    }

    #[test]
    fn the_behaviour_stamp_covers_what_the_index_derives() {
        // Two canary sets differing in one letter of one name index differently: the
        // stamp is a function of the derived keys, not a constant.
        let write = |name: &str| {
            let mut dir = Directory::new(MatchConfig::default()).unwrap();
            let mut s = canary_subjects().remove(0);
            s.names = vec![name.into()];
            dir.upsert(s).unwrap();
            let mut out = Out::new(io::sink());
            dir.write_snapshot_body(&mut out).unwrap();
            out.digest().unwrap()
        };
        assert_ne!(write("Jürgen Müller"), write("Jurgen Müller"));
        assert_eq!(write("Jürgen Müller"), write("Jürgen Müller"));
        assert_ne!(behaviour_stamp(), 0);
    }
}
