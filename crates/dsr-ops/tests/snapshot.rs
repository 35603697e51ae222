//! The index snapshot as a command sees it: written after a rebuild, read back with the
//! changes since replayed, and refused (rebuilt) whenever it may not match the store.

use dsr_match::{Directory, MatchConfig, SearchOptions};
use dsr_model::{Subject, SubjectId, SubjectKind, TenantId, Term};
use dsr_ops::snapshot::{Origin, load, snapshot_path};
use dsr_store_sqlite::SqliteStore;

fn person(i: usize) -> Subject {
    let mut s = Subject::new(
        SubjectKind::ExternalContact,
        SubjectId::new(format!("c{i}")).unwrap(),
    );
    s.names.push(format!("Person{i} Example"));
    s.emails.push(format!("p{i}@example.org"));
    s.phones
        .push(format!("06 12 34 {:02} {:02}", i / 100 % 100, i % 100));
    s
}

/// Every subject, sorted, and what a few lookups answer.
fn view(d: &Directory) -> (Vec<Subject>, Vec<Vec<String>>) {
    let mut subjects: Vec<Subject> = d.subjects().collect();
    subjects.sort_by(|a, b| a.id.cmp(&b.id));
    let answers = [
        "p1@example.org",
        "p7@example.org",
        "+33 6 12 34 00 02",
        "Person3 Example",
    ]
    .iter()
    .map(|t| {
        d.search(&Term::parse(t).unwrap(), &SearchOptions::default())
            .unwrap()
            .matches
            .iter()
            .map(|m| m.subject_id.to_string())
            .collect()
    })
    .collect();
    (subjects, answers)
}

fn fresh(store: &SqliteStore, t: &TenantId) -> Directory {
    let mut d = Directory::new(MatchConfig {
        default_region: store.default_region(t).unwrap(),
    })
    .unwrap();
    for s in store.load_subjects(t).unwrap() {
        d.upsert(s).unwrap();
    }
    d
}

fn rebuilt_because(o: &Origin) -> &str {
    match o {
        Origin::Rebuilt { reason } => reason,
        Origin::Snapshot { replayed } => panic!("read from the snapshot ({replayed} replayed)"),
    }
}

#[test]
fn a_snapshot_is_used_only_while_it_matches_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("dsr.db");
    let store = SqliteStore::open(&db).unwrap();
    let t = TenantId::new("acme").unwrap();
    store.set_default_region(&t, Some("FR")).unwrap();
    store
        .upsert_subjects(&t, &(0..50).map(person).collect::<Vec<_>>())
        .unwrap();
    let on = Some(1);

    // First load: rebuilt, snapshot written (owner-only).
    let (d, o) = load(&store, &t, on).unwrap();
    assert_eq!(rebuilt_because(&o), "no snapshot yet");
    let path = snapshot_path(&db, &t);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(view(&d), view(&fresh(&store, &t)));

    // Second load: from the snapshot, nothing to replay.
    let (d, o) = load(&store, &t, on).unwrap();
    assert_eq!(o, Origin::Snapshot { replayed: 0 });
    assert_eq!(view(&d), view(&fresh(&store, &t)));

    // Writes since: an update, a new subject, a deletion; replayed, and the deletion
    // makes the snapshot be written again at once.
    let mut changed = person(3);
    changed.emails = vec!["new3@example.org".into()];
    store.upsert_subjects(&t, &[changed, person(99)]).unwrap();
    assert!(
        store
            .delete_subject(&t, &SubjectId::new("c7").unwrap())
            .unwrap()
    );
    let (d, o) = load(&store, &t, on).unwrap();
    assert_eq!(o, Origin::Snapshot { replayed: 3 });
    assert_eq!(view(&d), view(&fresh(&store, &t)));
    assert!(d.get(&SubjectId::new("c7").unwrap()).is_none());
    let (d, o) = load(&store, &t, on).unwrap();
    assert_eq!(o, Origin::Snapshot { replayed: 0 });
    assert_eq!(view(&d), view(&fresh(&store, &t)));
    // The feed rows the snapshot covers were pruned: the deleted id left the feed.
    assert_eq!(store.count_changes_after(&t, None).unwrap(), 1);

    // Deleted and made again, and another deleted: replayed in order.
    store
        .delete_subject(&t, &SubjectId::new("c5").unwrap())
        .unwrap();
    let mut again = person(5);
    again.emails = vec!["back5@example.org".into()];
    store.upsert_subjects(&t, &[again]).unwrap();
    store
        .delete_subject(&t, &SubjectId::new("c8").unwrap())
        .unwrap();
    let (d, o) = load(&store, &t, on).unwrap();
    assert_eq!(o, Origin::Snapshot { replayed: 3 });
    assert_eq!(view(&d), view(&fresh(&store, &t)));
    assert_eq!(
        d.get(&SubjectId::new("c5").unwrap()).unwrap().emails,
        ["back5@example.org"]
    );

    // Another default region: rebuilt (phones are keyed by it).
    store.set_default_region(&t, Some("BE")).unwrap();
    let (d, o) = load(&store, &t, on).unwrap();
    assert_eq!(rebuilt_because(&o), "the tenant's default region changed");
    assert_eq!(view(&d), view(&fresh(&store, &t)));

    // A damaged file: rebuilt, and written again.
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let (_, o) = load(&store, &t, on).unwrap();
    assert!(rebuilt_because(&o).contains("damaged"), "{o:?}");
    assert_eq!(
        load(&store, &t, on).unwrap().1,
        Origin::Snapshot { replayed: 0 }
    );

    // Snapshots off: rebuilt, whatever is on disk, and the snapshot removed (it may
    // hold subjects erased later).
    let (_, o) = load(&store, &t, None).unwrap();
    assert!(rebuilt_because(&o).contains("off"));
    assert!(!path.exists());
    load(&store, &t, on).unwrap();
    assert!(path.exists());

    // The database deleted and made again at the same path with the same ids but other
    // values: the old snapshot is not taken for it.
    drop(store);
    for f in ["dsr.db", "dsr.db-wal", "dsr.db-shm"] {
        let _ = std::fs::remove_file(tmp.path().join(f));
    }
    let store = SqliteStore::open(&db).unwrap();
    store.set_default_region(&t, Some("BE")).unwrap();
    let mut others: Vec<Subject> = (0..50).map(person).collect();
    others[1].emails = vec!["someone.else@example.org".into()];
    store.upsert_subjects(&t, &others).unwrap();
    let (d, o) = load(&store, &t, on).unwrap();
    assert!(rebuilt_because(&o).contains("another database"), "{o:?}");
    assert_eq!(view(&d), view(&fresh(&store, &t)));
}

#[test]
fn a_restored_backup_is_not_taken_for_the_database_the_snapshot_saw() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("dsr.db");
    let backup = tmp.path().join("backup.db");
    let store = SqliteStore::open(&db).unwrap();
    let t = TenantId::new("acme").unwrap();
    store
        .upsert_subjects(&t, &(0..20).map(person).collect::<Vec<_>>())
        .unwrap();
    store
        .with_conn(|c| {
            c.execute("VACUUM INTO ?1", [backup.to_str().unwrap()])
                .map(drop)
        })
        .unwrap();
    // More writes, then the snapshot at the newer position.
    store
        .upsert_subjects(&t, &[person(20), person(21)])
        .unwrap();
    load(&store, &t, Some(1)).unwrap();
    drop(store);
    // The backup put back, and as many writes again (the numbers repeat).
    std::fs::copy(&backup, &db).unwrap();
    for f in ["dsr.db-wal", "dsr.db-shm"] {
        let _ = std::fs::remove_file(tmp.path().join(f));
    }
    let store = SqliteStore::open(&db).unwrap();
    let mut other = person(22);
    other.emails = vec!["x@example.org".into()];
    store.upsert_subjects(&t, &[other, person(23)]).unwrap();
    let (d, o) = load(&store, &t, Some(1)).unwrap();
    assert!(
        rebuilt_because(&o).contains("no longer in the feed"),
        "{o:?}"
    );
    assert_eq!(view(&d), view(&fresh(&store, &t)));
    assert!(d.get(&SubjectId::new("c20").unwrap()).is_none());
}

#[test]
fn a_tenant_too_small_for_a_snapshot_keeps_no_feed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("dsr.db");
    let store = SqliteStore::open(&db).unwrap();
    let t = TenantId::new("small").unwrap();
    store
        .upsert_subjects(&t, &(0..5).map(person).collect::<Vec<_>>())
        .unwrap();
    let (_, o) = load(&store, &t, Some(100)).unwrap();
    assert_eq!(rebuilt_because(&o), "no snapshot yet");
    assert!(!snapshot_path(&db, &t).exists());
    assert_eq!(store.count_changes_after(&t, None).unwrap(), 1);
}

#[test]
fn a_database_from_before_the_feed_starts_from_its_snapshot_and_replays_the_whole_feed() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("dsr.db");
    let store = SqliteStore::open(&db).unwrap();
    let t = TenantId::new("old").unwrap();
    store
        .upsert_subjects(&t, &(0..20).map(person).collect::<Vec<_>>())
        .unwrap();
    // Subjects written before migration 9: no feed rows.
    store
        .with_conn(|c| c.execute("DELETE FROM subject_changes", []).map(drop))
        .unwrap();
    assert_eq!(
        rebuilt_because(&load(&store, &t, Some(1)).unwrap().1),
        "no snapshot yet"
    );
    store.upsert_subjects(&t, &[person(20)]).unwrap();
    assert!(
        store
            .delete_subject(&t, &SubjectId::new("c3").unwrap())
            .unwrap()
    );
    let (d, o) = load(&store, &t, Some(1)).unwrap();
    assert_eq!(o, Origin::Snapshot { replayed: 2 });
    assert_eq!(view(&d), view(&fresh(&store, &t)));
}

#[test]
fn a_snapshot_behind_a_deletion_goes_even_when_the_new_one_cannot_be_written() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("dsr.db");
    let store = SqliteStore::open(&db).unwrap();
    let t = TenantId::new("acme").unwrap();
    store
        .upsert_subjects(&t, &(0..20).map(person).collect::<Vec<_>>())
        .unwrap();
    load(&store, &t, Some(1)).unwrap();
    let path = snapshot_path(&db, &t);
    assert!(path.exists());
    // The temporary file the writer uses cannot be created (a folder is in its way).
    let blocker = path.with_extension(format!("dsrindex.tmp-{}", std::process::id()));
    std::fs::create_dir(&blocker).unwrap();
    assert!(
        store
            .delete_subject(&t, &SubjectId::new("c4").unwrap())
            .unwrap()
    );
    let (d, o) = load(&store, &t, Some(1)).unwrap();
    assert_eq!(o, Origin::Snapshot { replayed: 1 });
    assert!(d.get(&SubjectId::new("c4").unwrap()).is_none());
    assert!(!path.exists(), "the snapshot still holding c4 was removed");
    // The next command rebuilds (and writes once it can).
    std::fs::remove_dir(&blocker).unwrap();
    assert_eq!(
        rebuilt_because(&load(&store, &t, Some(1)).unwrap().1),
        "no snapshot yet"
    );
    assert!(path.exists());
}
