//! verify (rehash + quarantine) and gc (keep sets, locks, stale tmp, dry run).

use std::collections::BTreeSet;
use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;

use crate::common::*;
use skelflow_cache::{Key, MANIFEST_FILE, Store};

fn writable(path: &std::path::Path) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o644)).unwrap();
}

fn set(keys: Vec<Key>) -> BTreeSet<Key> {
    keys.into_iter().collect()
}

fn three(store: &Store) -> [Key; 3] {
    commit(
        store,
        "a",
        &[("data.bin", &[7u8; 5000]), ("meta/info.json", b"{}")],
    );
    commit(store, "b", &[("x", b"bee")]);
    commit(store, "c", &[("y", b"sea")]);
    [key("a"), key("b"), key("c")]
}

#[test]
fn verify_passes_intact_artifacts() {
    let (_tmp, store) = temp_store();
    three(&store);
    let report = store.verify(None).unwrap();
    assert_eq!(report.checked, 3);
    assert!(report.corrupt.is_empty() && report.quarantined.is_empty());
}

#[test]
fn verify_detects_a_flipped_byte_and_quarantines() {
    let (_tmp, store) = temp_store();
    let [a, b, _] = three(&store);
    let path = store.object_dir(&a).join("data.bin");
    writable(&path);
    let mut f = OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start(1234)).unwrap();
    f.write_all(&[8]).unwrap(); // same size, one byte different
    drop(f);

    let report = store.verify(None).unwrap();
    assert_eq!(report.checked, 3);
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].0, a);
    assert!(
        report.corrupt[0].1.contains("`data.bin` changed"),
        "{}",
        report.corrupt[0].1
    );
    assert_eq!(report.quarantined.len(), 1);
    let q = &report.quarantined[0];
    assert!(q.starts_with(store.root().join("quarantine")));
    assert!(
        q.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(a.as_str())
    );
    assert!(q.join("data.bin").exists() && q.join(MANIFEST_FILE).exists());
    assert!(!store.contains(&a) && !store.object_dir(&a).exists());
    assert!(store.contains(&b));
    // Recomputing it works.
    commit(
        &store,
        "a",
        &[("data.bin", &[7u8; 5000]), ("meta/info.json", b"{}")],
    );
    assert!(store.verify(Some(&[a])).unwrap().corrupt.is_empty());
}

#[test]
fn verify_detects_a_deleted_file() {
    let (_tmp, store) = temp_store();
    let [a, ..] = three(&store);
    fs::remove_file(store.object_dir(&a).join("meta/info.json")).unwrap();
    let report = store.verify(Some(std::slice::from_ref(&a))).unwrap();
    assert_eq!(report.checked, 1);
    assert_eq!(
        report.corrupt,
        vec![(a.clone(), "file `meta/info.json` is missing".to_string())]
    );
    assert!(!store.contains(&a));
}

#[test]
fn verify_detects_an_extra_file_and_a_size_change() {
    let (_tmp, store) = temp_store();
    let [a, b, c] = three(&store);
    fs::write(store.object_dir(&b).join("stray.txt"), b"hello").unwrap();
    let y = store.object_dir(&c).join("y");
    writable(&y);
    fs::write(&y, b"longer sea").unwrap();
    let report = store.verify(None).unwrap();
    let corrupt: BTreeSet<(&Key, &str)> = report
        .corrupt
        .iter()
        .map(|(k, r)| (k, r.as_str()))
        .collect();
    let expected: BTreeSet<(&Key, &str)> = [
        (&b, "unexpected file `stray.txt`"),
        (&c, "`y` has 10 bytes, the manifest says 3"),
    ]
    .into();
    assert_eq!(corrupt, expected);
    assert_eq!(store.list().unwrap(), vec![a]);
}

#[test]
fn verify_quarantines_unreadable_manifests_and_manifestless_dirs() {
    let (_tmp, store) = temp_store();
    let [a, b, _] = three(&store);
    let m = store.object_dir(&a).join(MANIFEST_FILE);
    writable(&m);
    fs::write(&m, b"garbage").unwrap();
    fs::remove_file(store.object_dir(&b).join(MANIFEST_FILE)).unwrap();
    let report = store.verify(None).unwrap();
    assert_eq!(report.corrupt.len(), 2);
    let reason = |k: &Key| {
        report
            .corrupt
            .iter()
            .find(|(c, _)| c == k)
            .map(|(_, r)| r.clone())
            .unwrap()
    };
    assert!(
        reason(&a).starts_with("MANIFEST.json is not a valid manifest"),
        "{:?}",
        report.corrupt
    );
    assert_eq!(reason(&b), "MANIFEST.json is missing");
    assert_eq!(names(&store.root().join("quarantine")).len(), 2);
}

#[test]
fn verify_skips_locked_keys() {
    let (_tmp, store) = temp_store();
    let [a, ..] = three(&store);
    fs::write(store.object_dir(&a).join("stray"), b"x").unwrap();
    let lock = store.lock(&a).unwrap();
    let report = store.verify(None).unwrap();
    assert_eq!(report.checked, 2);
    assert_eq!(report.skipped_locked, vec![a.clone()]);
    assert!(store.object_dir(&a).exists());
    drop(lock);
    assert_eq!(store.verify(None).unwrap().corrupt.len(), 1);
}

#[test]
fn gc_keeps_the_keep_set_and_removes_the_rest() {
    let (_tmp, store) = temp_store();
    let [a, b, c] = three(&store);
    let b_bytes = fs::metadata(store.object_dir(&b).join("x")).unwrap().len()
        + fs::metadata(store.object_dir(&b).join(MANIFEST_FILE))
            .unwrap()
            .len();
    store.work_dir(&b).unwrap();
    fs::write(store.work_dir(&b).unwrap().join("ckpt"), [0u8; 100]).unwrap();
    let keep: BTreeSet<Key> = [a.clone(), c.clone()].into();

    let dry = store.gc(&keep, true).unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.removed, vec![(b.clone(), b_bytes + 100)]);
    assert_eq!(dry.kept, 2);
    assert_eq!(dry.freed_bytes, b_bytes + 100);
    // Dry run removed nothing.
    assert_eq!(
        set(store.list().unwrap()),
        set(vec![a.clone(), b.clone(), c.clone()])
    );
    assert!(store.root().join("work").join(b.as_str()).exists());

    let report = store.gc(&keep, false).unwrap();
    assert!(!report.dry_run);
    assert_eq!(report.removed, dry.removed);
    assert_eq!(report.freed_bytes, dry.freed_bytes);
    assert_eq!(set(store.list().unwrap()), set(vec![a.clone(), c.clone()]));
    assert!(!store.root().join("work").join(b.as_str()).exists());
    assert!(
        !store
            .root()
            .join("locks")
            .join(format!("{b}.lock"))
            .exists()
    );
    assert!(names(&store.root().join("tmp")).is_empty());
    assert!(store.verify(None).unwrap().corrupt.is_empty());

    // Nothing left to do.
    let again = store.gc(&keep, false).unwrap();
    assert!(again.removed.is_empty() && again.freed_bytes == 0);
}

#[test]
fn gc_never_removes_locked_keys() {
    let (_tmp, store) = temp_store();
    let [a, b, c] = three(&store);
    let lock = store.lock(&b).unwrap();
    let report = store.gc(&BTreeSet::new(), false).unwrap();
    let removed: BTreeSet<&Key> = report.removed.iter().map(|(k, _)| k).collect();
    assert_eq!(removed, [&a, &c].into());
    assert_eq!(report.skipped_locked, vec![b.clone()]);
    assert_eq!(report.kept, 1);
    assert!(store.contains(&b));
    drop(lock);
    store.gc(&BTreeSet::new(), false).unwrap();
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn gc_removes_stale_staging_only_when_its_lock_is_free() {
    let (_tmp, store) = temp_store();
    let live_key = key("live");
    let live_lock = store.lock(&live_key).unwrap();
    let live = store.begin(&live_lock).unwrap();
    write_files(live.dir(), &[("f", b"in progress")]);

    // A killed process's staging dir: the dir stays, the lock is gone with the process.
    let dead_key = key("dead");
    let stale_dir = store.root().join("tmp").join(format!("{dead_key}.99999.0"));
    write_files(&stale_dir, &[("f", &[1u8; 64]), ("g/h", b"x")]);
    fs::set_permissions(stale_dir.join("f"), fs::Permissions::from_mode(0o444)).unwrap();
    fs::set_permissions(stale_dir.join("g"), fs::Permissions::from_mode(0o555)).unwrap();
    // Something that is not ours stays.
    fs::write(store.root().join("tmp").join("not-a-key"), b"").unwrap();

    let dry = store.gc(&BTreeSet::new(), true).unwrap();
    assert_eq!(dry.stale_tmp, 1);
    assert_eq!(dry.freed_bytes, 65);
    assert!(stale_dir.exists());

    let report = store.gc(&BTreeSet::new(), false).unwrap();
    assert_eq!(report.stale_tmp, 1);
    assert!(!stale_dir.exists());
    assert!(
        live.dir().exists(),
        "a staging dir whose lock is held must stay"
    );
    assert!(store.root().join("tmp/not-a-key").exists());
    live.commit(info("live")).unwrap();
    assert!(store.contains(&live_key));
}

#[test]
fn gc_handles_work_dirs_and_quarantine() {
    let (_tmp, store) = temp_store();
    let [a, b, _] = three(&store);
    // Checkpoints of a kept key that is not committed yet stay; those of a committed key
    // and of a key nobody keeps go.
    let resumable = key("resumable");
    let abandoned = key("abandoned");
    for k in [&resumable, &abandoned, &a] {
        fs::write(store.work_dir(k).unwrap().join("ckpt"), [0u8; 10]).unwrap();
    }
    let busy = key("busy");
    fs::write(store.work_dir(&busy).unwrap().join("ckpt"), [0u8; 10]).unwrap();
    let busy_lock = store.lock(&busy).unwrap();
    // One quarantined artifact.
    fs::write(store.object_dir(&b).join("stray"), b"x").unwrap();
    assert_eq!(store.verify(None).unwrap().quarantined.len(), 1);

    let keep: BTreeSet<Key> = [a.clone(), b.clone(), resumable.clone(), key("c")].into();
    let report = store.gc(&keep, false).unwrap();
    assert!(report.removed.is_empty());
    let mut work: Vec<Key> = report.work_dirs.iter().map(|(k, _)| k.clone()).collect();
    work.sort();
    let mut expected = vec![a.clone(), abandoned.clone()];
    expected.sort();
    assert_eq!(work, expected);
    assert_eq!(report.quarantine, 1);
    assert!(names(&store.root().join("quarantine")).is_empty());
    let left = names(&store.root().join("work"));
    let mut want = vec![busy.to_string(), resumable.to_string()];
    want.sort();
    assert_eq!(left, want);
    drop(busy_lock);
}

#[test]
fn gc_prunes_idle_lock_files() {
    let (_tmp, store) = temp_store();
    for i in 0..5 {
        drop(store.lock(&key(&format!("t{i}"))).unwrap());
    }
    let [a, ..] = three(&store);
    assert_eq!(names(&store.root().join("locks")).len(), 8);
    store.gc(&[a.clone()].into(), false).unwrap();
    assert_eq!(names(&store.root().join("locks")), [format!("{a}.lock")]);
}

#[test]
fn gc_removes_old_temp_files_of_killed_atomic_writes() {
    let (_tmp, store) = temp_store();
    let runs = store.root().join("runs/p");
    fs::create_dir_all(&runs).unwrap();
    let old = runs.join(".01J.json.tmp.4242.0");
    let fresh = store.root().join(".digests.json.tmp.4243.0");
    fs::write(&old, [0u8; 10]).unwrap();
    fs::write(&fresh, [0u8; 10]).unwrap();
    let hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(hours_ago)
        .unwrap();

    let dry = store.gc(&BTreeSet::new(), true).unwrap();
    assert_eq!((dry.stale_tmp, dry.freed_bytes), (1, 10));
    assert!(old.exists());
    let report = store.gc(&BTreeSet::new(), false).unwrap();
    assert_eq!(report.stale_tmp, 1);
    assert!(!old.exists());
    assert!(
        fresh.exists(),
        "a fresh temp file may belong to a live writer"
    );
}
