//! Starting a tenant's directory from its index snapshot instead of rebuilding it.
//!
//! Rebuilding normalizes every subject again (~25 µs each: seconds at 1 M subjects,
//! minutes at 10 M), for every command and every server start. So the directory is
//! written next to the database (`<db>-index/<tenant>.dsrindex`, see
//! [`dsr_match::Directory::write_snapshot`]) with a stamp saying which database (its
//! random identity), which tenant and which position of the subjects' change feed it
//! reflects; the next process reads it back in bulk and replays the changes after that
//! position (the feed is written by triggers in the same transaction as each subject
//! write, `dsr-store-sqlite` migration 9).
//!
//! A snapshot is used only when all of this holds, else the directory is rebuilt from
//! the store and the snapshot written again (the reason is logged):
//! - it reads back (format, checksum, the behaviour stamp of this build's normalizers);
//! - it was written from this database (identity) for this tenant;
//! - the change it was written at is still in the feed with the same nonce (not pruned,
//!   not a database restored from an older backup); a snapshot written before any change
//!   (a database from before the feed) replays the whole feed;
//! - the tenant's default phone region is the one it was built with;
//! - the changes since are fewer than a quarter of its subjects (replaying more costs
//!   more than rebuilding).
//!
//! The snapshot holds the subjects' values, like the database: it is written 0600 in a
//! 0700 folder, atomically (a temporary file renamed). Replaying a deletion (an erasure)
//! writes it again at once, so an erased person's values leave it the next time the
//! tenant's directory is loaded; the feed's rows a snapshot covers are pruned when it is
//! written. Failing to write it (read-only folder, full disk) is a warning, never an
//! error: the command goes on with the directory it built, and a snapshot that may hold
//! an erased person (stale, or behind a replayed deletion) is removed. With snapshots
//! off, or a tenant below the threshold, any snapshot left is removed.

use crate::{Error, Result};
use dsr_match::{Directory, MatchConfig};
use dsr_model::SubjectId;
use dsr_model::TenantId;
use dsr_store_sqlite::{FeedChange, FeedPosition, SqliteStore};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Changes read per feed query while replaying.
const PAGE: usize = 2000;

/// Fewest subjects for which a snapshot is written by default: below, a rebuild takes
/// well under a second. `DSR_INDEX_SNAPSHOT` overrides it (a number, or `off`).
pub const DEFAULT_MIN_SUBJECTS: usize = 10_000;

/// Changes replayed after which the snapshot is written again (besides any deletion):
/// at least this many, and at least a thousandth of the subjects.
const REWRITE_AFTER: usize = 1000;

/// Where the snapshot of `tenant` for the database at `db` lives.
pub fn snapshot_path(db: &Path, tenant: &TenantId) -> PathBuf {
    let mut folder = db.as_os_str().to_owned();
    folder.push("-index");
    PathBuf::from(folder).join(format!("{}.dsrindex", tenant.as_str()))
}

/// How the directory was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Read from the snapshot, then `replayed` changes applied.
    Snapshot {
        /// Changes applied after reading it.
        replayed: usize,
    },
    /// Built from the store's subjects; `reason` says why no snapshot was used.
    Rebuilt {
        /// Why (no snapshot, stale, damaged, …).
        reason: String,
    },
}

/// The snapshot policy from `DSR_INDEX_SNAPSHOT`: `None` when snapshots are off, else
/// the fewest subjects worth one.
pub fn min_subjects_from_env() -> Option<usize> {
    match std::env::var("DSR_INDEX_SNAPSHOT") {
        Err(_) => Some(DEFAULT_MIN_SUBJECTS),
        Ok(v) if v.eq_ignore_ascii_case("off") || v == "0" => None,
        Ok(v) => match v.trim().parse() {
            Ok(n) => Some(n),
            Err(_) => {
                tracing::warn!(value = %v, "DSR_INDEX_SNAPSHOT is neither a number of subjects nor `off`; using the default ({DEFAULT_MIN_SUBJECTS})");
                Some(DEFAULT_MIN_SUBJECTS)
            }
        },
    }
}

/// What a snapshot's stamp says: which database, tenant and feed position it was
/// written from, and how many subjects it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    store: String,
    tenant: String,
    at: Option<FeedPosition>,
    subjects: usize,
}

impl Stamp {
    fn to_bytes(&self) -> Vec<u8> {
        let (seq, nonce) = self.at.map_or((0, 0), |a| (a.seq, a.nonce));
        format!(
            "store={}\ntenant={}\nseq={seq}\nnonce={nonce}\nsubjects={}\n",
            self.store, self.tenant, self.subjects
        )
        .into_bytes()
    }

    fn parse(stamp: &[u8]) -> Option<Stamp> {
        let text = std::str::from_utf8(stamp).ok()?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
        };
        let seq: i64 = field("seq")?.parse().ok()?;
        let nonce: i64 = field("nonce")?.parse().ok()?;
        Some(Stamp {
            store: field("store")?.to_owned(),
            tenant: field("tenant")?.to_owned(),
            at: (seq > 0).then_some(FeedPosition { seq, nonce }),
            subjects: field("subjects")?.parse().ok()?,
        })
    }
}

/// Bytes read first from a snapshot file: enough for its header and stamp.
const HEADER_BYTES: u64 = 64 * 1024;

/// The tenant's directory, from its snapshot when one matches the store (see the
/// module docs), else rebuilt (and the snapshot written when the tenant has at least
/// `min_subjects`; `None`: never).
pub fn load(
    store: &SqliteStore,
    tenant: &TenantId,
    min_subjects: Option<usize>,
) -> Result<(Directory, Origin)> {
    let region = store.default_region(tenant)?;
    let path = snapshot_path(&store.path(), tenant);
    let identity = store.identity()?;
    let reason = if min_subjects.is_none() {
        "snapshots are off (DSR_INDEX_SNAPSHOT=off)".to_owned()
    } else {
        match from_snapshot(store, tenant, &path, &identity, region.as_deref())? {
            Ok((dir, at, replayed, removed)) => {
                let rewrite = removed || replayed >= REWRITE_AFTER.max(dir.len() / 1000);
                if rewrite {
                    // After a deletion the old snapshot holds someone erased: it goes
                    // even if the new one cannot be written.
                    write(store, tenant, &dir, at, &path, &identity, removed);
                }
                return Ok((dir, Origin::Snapshot { replayed }));
            }
            Err(reason) => reason,
        }
    };
    let t = Instant::now();
    let (subjects, at) = store.load_subjects_at(tenant)?;
    let mut dir = Directory::new(MatchConfig {
        default_region: region,
    })?;
    for s in subjects {
        upsert_stored(&mut dir, s)?;
    }
    tracing::info!(tenant = %tenant, subjects = dir.len(), ms = t.elapsed().as_millis() as u64, %reason, "index rebuilt from the subjects");
    match min_subjects {
        // A snapshot that could not be used is stale: it goes even if the new one
        // cannot be written.
        Some(min) if dir.len() >= min.max(1) => {
            write(store, tenant, &dir, at, &path, &identity, true)
        }
        // No snapshot will replay the feed: keep only its last row, and no stale
        // snapshot (it may hold subjects erased since).
        _ => {
            remove_stale(&path);
            if let Some(at) = at
                && let Err(e) = store.prune_changes(tenant, at)
            {
                tracing::warn!(tenant = %tenant, error = %e, "cannot prune the subject change feed");
            }
        }
    }
    Ok((dir, Origin::Rebuilt { reason }))
}

/// Indexes a subject read from the store (invalid only if the store was written by
/// something else than dsr).
pub(crate) fn upsert_stored(dir: &mut Directory, s: dsr_model::Subject) -> Result<()> {
    let id = s.id.clone();
    dir.upsert(s).map_err(|e| {
        Error::Invalid(format!(
            "stored subject {id} is invalid ({e}); re-import it to fix it"
        ))
    })?;
    Ok(())
}

type FromSnapshot = std::result::Result<(Directory, Option<FeedPosition>, usize, bool), String>;

/// The directory from the snapshot brought up to date, or why it cannot be used. Only
/// the store's own errors are errors.
fn from_snapshot(
    store: &SqliteStore,
    tenant: &TenantId,
    path: &Path,
    identity: &str,
    region: Option<&str>,
) -> Result<FromSnapshot> {
    let t = Instant::now();
    // The stamp first, from the header: a snapshot for another database, or too far
    // behind, is refused before its gigabytes are read.
    let mut prefix = Vec::new();
    let opened = std::fs::File::open(path).and_then(|f| {
        std::io::Read::read_to_end(&mut std::io::Read::take(f, HEADER_BYTES), &mut prefix)
    });
    match opened {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Err("no snapshot yet".into()));
        }
        Err(e) => return Ok(Err(format!("cannot read {}: {e}", path.display()))),
    }
    let stamp_bytes = match Directory::snapshot_stamp(&prefix) {
        Ok(s) => s,
        Err(e) => return Ok(Err(format!("{}: {e}", path.display()))),
    };
    let Some(stamp) = Stamp::parse(&stamp_bytes) else {
        return Ok(Err("the snapshot's stamp is unreadable".into()));
    };
    if stamp.store != identity || stamp.tenant != tenant.as_str() {
        return Ok(Err(
            "the snapshot was written from another database or tenant".into(),
        ));
    }
    let at = stamp.at;
    if !store.has_change(tenant, at)? {
        return Ok(Err(
            "the change the snapshot was written at is no longer in the feed (pruned, or a database restored from a backup)".into(),
        ));
    }
    let pending = store.count_changes_after(tenant, at)?;
    if pending as usize > stamp.subjects / 4 + REWRITE_AFTER {
        return Ok(Err(format!(
            "{pending} changes since the snapshot: rebuilding is faster"
        )));
    }
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => return Ok(Err(format!("cannot read {}: {e}", path.display()))),
    };
    let (mut dir, read_stamp) = match Directory::from_snapshot(&bytes) {
        Ok(x) => x,
        Err(e) => return Ok(Err(format!("{}: {e}", path.display()))),
    };
    drop(bytes);
    if read_stamp != stamp_bytes {
        return Ok(Err("the snapshot was replaced while it was read".into()));
    }
    if dir.config().default_region.as_deref() != region {
        return Ok(Err("the tenant's default region changed".into()));
    }
    let (mut at, mut replayed, mut removed) = (at, 0usize, false);
    // A deletion names the subject by a keyed hash of its id. The deleted hashes are
    // read first and the directory's ids hashed once against them, so only the
    // subjects that went are kept aside: a subject written after the snapshot and
    // deleted since has every change of it under its hash, and none to replay.
    let deleted = store.deleted_after(tenant, at)?;
    let mut gone: HashMap<String, SubjectId> = HashMap::new();
    if !deleted.is_empty() {
        let h = store.feed_hasher()?;
        for id in dir.ids() {
            let p = h.pseudonym(tenant, id);
            if deleted.contains(&p)
                && let Ok(id) = SubjectId::new(id)
            {
                gone.insert(p, id);
            }
        }
    }
    loop {
        let page = store.changes_after(tenant, at, PAGE)?;
        let n = page.len();
        for (pos, change) in page {
            match change {
                FeedChange::Written(_, Some(s)) => upsert_stored(&mut dir, *s)?,
                FeedChange::Written(id, None) => removed |= dir.remove(&id).is_some(),
                FeedChange::Deleted(hash) => {
                    if let Some(id) = gone.remove(&hash) {
                        removed |= dir.remove(&id).is_some();
                    }
                }
            }
            at = Some(pos);
            replayed += 1;
        }
        if n < PAGE {
            break;
        }
    }
    tracing::info!(tenant = %tenant, subjects = dir.len(), replayed, ms = t.elapsed().as_millis() as u64, "index read from its snapshot");
    Ok(Ok((dir, at, replayed, removed)))
}

/// Removes a snapshot that must not be used again (absent is fine).
fn remove_stale(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => tracing::debug!(path = %path.display(), "stale index snapshot removed"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove a stale index snapshot")
        }
    }
}

/// Writes the snapshot atomically, then prunes the feed rows it covers; a failure is
/// logged, not returned (and with `stale`, the old snapshot is removed).
fn write(
    store: &SqliteStore,
    tenant: &TenantId,
    dir: &Directory,
    at: Option<FeedPosition>,
    path: &Path,
    identity: &str,
    stale: bool,
) {
    let t = Instant::now();
    let stamp = Stamp {
        store: identity.to_owned(),
        tenant: tenant.as_str().to_owned(),
        at,
        subjects: dir.len(),
    };
    match write_file(dir, path, &stamp.to_bytes()) {
        Ok(()) => {
            tracing::info!(tenant = %tenant, path = %path.display(), ms = t.elapsed().as_millis() as u64, "index snapshot written");
            if let Some(at) = at
                && let Err(e) = store.prune_changes(tenant, at)
            {
                tracing::warn!(tenant = %tenant, error = %e, "cannot prune the subject change feed");
            }
        }
        Err(e) => {
            tracing::warn!(tenant = %tenant, path = %path.display(), error = %e, "cannot write the index snapshot; the next command rebuilds the index again");
            if stale {
                remove_stale(path);
            }
        }
    }
}

fn write_file(dir: &Directory, path: &Path, stamp: &[u8]) -> std::io::Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(folder)?;
    let tmp = path.with_extension(format!("dsrindex.tmp-{}", std::process::id()));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&tmp)?;
        let mut w = dir.write_snapshot(std::io::BufWriter::new(file), stamp)?;
        w.flush()?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip() {
        let at = Some(FeedPosition { seq: 42, nonce: -7 });
        for at in [at, None] {
            let s = Stamp {
                store: "abc".into(),
                tenant: "acme".into(),
                at,
                subjects: 12,
            };
            assert_eq!(Stamp::parse(&s.to_bytes()), Some(s));
        }
        assert_eq!(Stamp::parse(b"\xff"), None);
        assert_eq!(Stamp::parse(b"store=a\ntenant=b\nseq=1\nnonce=2\n"), None);
    }

    #[test]
    fn the_snapshot_sits_beside_the_database() {
        let t = TenantId::new("acme").unwrap();
        assert_eq!(
            snapshot_path(Path::new("/data/dsr.db"), &t),
            PathBuf::from("/data/dsr.db-index/acme.dsrindex")
        );
    }
}
