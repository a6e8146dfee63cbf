//! Store layout, commit/get round trips, manifests, staging cleanup, work dirs.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::*;
use skelflow_cache::{CacheError, Key, MANIFEST_FILE, Manifest, Store};

#[test]
fn open_creates_the_layout_and_reopens() {
    let (tmp, store) = temp_store();
    let root = tmp.path().join("cache");
    assert_eq!(store.root(), root);
    assert_eq!(
        names(&root),
        [
            "CACHEDIR.TAG",
            "LAYOUT",
            "locks",
            "objects",
            "quarantine",
            "runs",
            "tmp",
            "work"
        ]
    );
    assert!(
        fs::read_to_string(root.join("CACHEDIR.TAG"))
            .unwrap()
            .starts_with("Signature: 8a477f597d28d172789f06886806bc55")
    );
    assert_eq!(
        fs::read_to_string(root.join("LAYOUT")).unwrap(),
        "skelflow-cache-layout 1\n"
    );
    drop(store);
    Store::open(&root).unwrap();
}

#[test]
fn open_refuses_a_newer_layout_and_a_foreign_layout_file() {
    let (tmp, store) = temp_store();
    let root = store.root().to_path_buf();
    drop(store);
    fs::write(root.join("LAYOUT"), "skelflow-cache-layout 2\n").unwrap();
    let err = Store::open(&root).unwrap_err();
    assert!(
        matches!(
            err,
            CacheError::LayoutTooNew {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade skelflow"), "{err}");
    fs::write(root.join("LAYOUT"), "something else").unwrap();
    assert!(matches!(
        Store::open(&root).unwrap_err(),
        CacheError::BadLayoutFile { .. }
    ));
    drop(tmp);
}

#[test]
fn a_cache_is_told_by_its_layout_file_and_looking_creates_nothing() {
    let (tmp, store) = temp_store();
    assert!(Store::is_store(store.root()));
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).unwrap();
    assert!(!Store::is_store(&plain));
    fs::write(plain.join("LAYOUT"), "not ours\n").unwrap();
    assert!(!Store::is_store(&plain), "a foreign LAYOUT file");
    let missing = tmp.path().join("missing");
    assert!(!Store::is_store(&missing));
    assert!(!missing.exists());
}

#[test]
fn existing_work_dir_never_creates_one() {
    let (_tmp, store) = temp_store();
    let k = key("w");
    assert_eq!(store.existing_work_dir(&k), None);
    assert!(!store.root().join("work").join(k.as_str()).exists());
    let dir = store.work_dir(&k).unwrap();
    assert_eq!(store.existing_work_dir(&k), Some(dir));
    assert_eq!(store.existing_work_dir(&Key("../x".into())), None);
}

#[test]
fn relative_root_is_made_absolute() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("a/../b")).unwrap();
    assert!(store.root().is_absolute());
}

#[test]
fn commit_and_get_round_trip_with_a_correct_manifest() {
    let (_tmp, store) = temp_store();
    let k = key("a");
    assert!(!store.contains(&k));
    assert!(store.get(&k).unwrap().is_none());

    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let art = commit(
        &store,
        "a",
        &[("b.txt", b"bee"), ("sub/dir/a.bin", &big), ("empty", b"")],
    );
    assert_eq!(art.key, k);
    assert_eq!(art.dir, store.object_dir(&k));
    assert!(
        art.dir
            .starts_with(store.root().join("objects").join(&k.as_str()[..2]))
    );
    assert!(store.contains(&k));
    assert_eq!(store.list().unwrap(), vec![k.clone()]);

    let got = store.get(&k).unwrap().unwrap();
    assert_eq!(got.manifest, art.manifest);
    assert_eq!(fs::read(got.file("sub/dir/a.bin")).unwrap(), big);

    // The manifest on disk: sorted files with sizes and blake3, total, components.
    let m: Manifest =
        serde_json::from_slice(&fs::read(got.dir.join(MANIFEST_FILE)).unwrap()).unwrap();
    let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["b.txt", "empty", "sub/dir/a.bin"]);
    assert_eq!(m.files[0].size, 3);
    assert_eq!(m.files[0].blake3, blake3::hash(b"bee").to_hex().as_str());
    assert_eq!(m.files[1].blake3, blake3::hash(b"").to_hex().as_str());
    assert_eq!(m.files[2].blake3, blake3::hash(&big).to_hex().as_str());
    assert_eq!(m.total_bytes, 3 + big.len() as u64);
    assert_eq!(m.key, k);
    assert_eq!(m.kind, "test.kind");
    assert_eq!(m.instance, "test[a]");
    assert_eq!(m.seconds, 1.5);
    assert_eq!(m.components, components("a"));
    assert_eq!(m.file("b.txt").unwrap().size, 3);
    assert!(m.file("nope").is_none());

    // Files are read-only; nothing is left in tmp/.
    for rel in ["b.txt", "sub/dir/a.bin", MANIFEST_FILE] {
        let mode = fs::metadata(got.dir.join(rel))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o222, 0, "{rel} is writable: {mode:o}");
    }
    assert!(names(&store.root().join("tmp")).is_empty());
}

#[test]
fn dropping_a_staging_removes_it_and_commits_nothing() {
    let (_tmp, store) = temp_store();
    let k = key("dropped");
    let lock = store.lock(&k).unwrap();
    let staging = store.begin(&lock).unwrap();
    let dir = staging.dir().to_path_buf();
    assert!(dir.starts_with(store.root().join("tmp")));
    write_files(&dir, &[("x/y", b"data")]);
    // Read-only content and directories are removed too.
    fs::set_permissions(dir.join("x/y"), fs::Permissions::from_mode(0o444)).unwrap();
    drop(staging);
    assert!(!dir.exists());
    assert!(!store.contains(&k));
    assert!(names(&store.root().join("tmp")).is_empty());
}

#[test]
fn staging_keeps_the_key_locked_until_committed() {
    let (_tmp, store) = temp_store();
    let k = key("held");
    let lock = store.lock(&k).unwrap();
    let staging = store.begin(&lock).unwrap();
    drop(lock);
    assert!(
        store.try_lock(&k).unwrap().is_none(),
        "staging should hold the lock"
    );
    write_files(staging.dir(), &[("f", b"1")]);
    staging.commit(info("held")).unwrap();
    assert!(store.try_lock(&k).unwrap().is_some());
}

#[test]
fn a_second_commit_of_the_same_key_keeps_the_first() {
    let (_tmp, store) = temp_store();
    let first = commit(&store, "same", &[("v", b"first")]);
    let second = commit(&store, "same", &[("v", b"second"), ("w", b"extra")]);
    assert_eq!(second.manifest, first.manifest);
    assert_eq!(fs::read(second.file("v")).unwrap(), b"first");
    assert!(
        names(&store.root().join("tmp")).is_empty(),
        "the discarded copy must be removed"
    );
    assert!(store.verify(None).unwrap().corrupt.is_empty());
}

#[test]
fn commit_replaces_a_directory_without_manifest() {
    let (_tmp, store) = temp_store();
    let k = key("broken");
    let dir = store.object_dir(&k);
    write_files(&dir, &[("partial", b"half")]);
    assert!(!store.contains(&k));
    let art = commit(&store, "broken", &[("full", b"whole")]);
    assert_eq!(names(&art.dir), [MANIFEST_FILE, "full"]);
    assert_eq!(names(&store.root().join("quarantine")).len(), 1);
}

#[test]
fn symlinks_special_files_and_a_top_level_manifest_are_refused() {
    let (_tmp, store) = temp_store();
    let k = key("bad");
    let lock = store.lock(&k).unwrap();

    let staging = store.begin(&lock).unwrap();
    write_files(staging.dir(), &[("real", b"x")]);
    std::os::unix::fs::symlink("real", staging.dir().join("link")).unwrap();
    let err = staging.commit(info("bad")).unwrap_err();
    assert!(
        matches!(&err, CacheError::UnsupportedFile { path, .. } if path.ends_with("link")),
        "{err}"
    );
    assert!(err.to_string().contains("symbolic link"), "{err}");

    let staging = store.begin(&lock).unwrap();
    write_files(staging.dir(), &[(MANIFEST_FILE, b"{}")]);
    assert!(matches!(
        staging.commit(info("bad")).unwrap_err(),
        CacheError::ReservedName { .. }
    ));

    let staging = store.begin(&lock).unwrap();
    let fifo = staging.dir().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    assert!(matches!(
        staging.commit(info("bad")).unwrap_err(),
        CacheError::UnsupportedFile { .. }
    ));

    // A manifest below the top level is an ordinary file.
    let staging = store.begin(&lock).unwrap();
    write_files(staging.dir(), &[("sub/MANIFEST.json", b"{}")]);
    let art = staging.commit(info("bad")).unwrap();
    assert_eq!(art.manifest.files[0].path, "sub/MANIFEST.json");
    assert!(names(&store.root().join("tmp")).is_empty());
}

#[test]
fn empty_artifacts_and_empty_directories_commit() {
    let (_tmp, store) = temp_store();
    let k = key("empty");
    let lock = store.lock(&k).unwrap();
    let staging = store.begin(&lock).unwrap();
    fs::create_dir_all(staging.dir().join("a/b")).unwrap();
    let art = staging.commit(info("empty")).unwrap();
    assert!(art.manifest.files.is_empty());
    assert_eq!(art.manifest.total_bytes, 0);
    assert!(art.dir.join("a/b").is_dir());
    assert!(store.verify(None).unwrap().corrupt.is_empty());
}

#[test]
fn malformed_keys_never_reach_the_filesystem() {
    let (_tmp, store) = temp_store();
    let bad = Key("../../etc".into());
    assert!(!store.contains(&bad));
    assert!(matches!(
        store.get(&bad).unwrap_err(),
        CacheError::InvalidKey(_)
    ));
    assert!(matches!(
        store.lock(&bad).unwrap_err(),
        CacheError::InvalidKey(_)
    ));
    assert!(matches!(
        store.work_dir(&bad).unwrap_err(),
        CacheError::InvalidKey(_)
    ));
}

#[test]
fn a_lock_of_another_store_is_refused() {
    let (_t1, a) = temp_store();
    let (_t2, b) = temp_store();
    let lock = a.lock(&key("x")).unwrap();
    assert!(matches!(
        b.begin(&lock).unwrap_err(),
        CacheError::ForeignLock { .. }
    ));
    assert!(matches!(
        b.remove(&lock).unwrap_err(),
        CacheError::ForeignLock { .. }
    ));
}

#[test]
fn remove_takes_an_artifact_out_whole_and_leaves_nothing_behind() {
    let (_tmp, store) = temp_store();
    commit(
        &store,
        "gone",
        &[("a.txt", b"abc"), ("sub/b.bin", &[7; 100])],
    );
    commit(&store, "kept", &[("a.txt", b"other")]);
    let k = key("gone");
    let manifest = store.get(&k).unwrap().unwrap().manifest_path();
    let bytes = 103 + fs::metadata(manifest).unwrap().len();
    let lock = store.lock(&k).unwrap();
    assert_eq!(store.remove(&lock).unwrap(), bytes);
    assert!(!store.contains(&k) && store.get(&k).unwrap().is_none());
    assert!(!store.object_dir(&k).exists());
    assert_eq!(store.remove(&lock).unwrap(), 0, "nothing left to remove");
    drop(lock);
    assert!(names(&store.root().join("tmp")).is_empty());
    assert!(store.contains(&key("kept")));
    assert_eq!(store.list().unwrap(), [key("kept")]);
}

/// Commits and removes race a reader: whenever the reader sees one and the same manifest
/// before and after looking at the files, every file it lists is there with its size.
#[test]
fn a_reader_never_sees_a_half_removed_artifact() {
    let (_tmp, store) = temp_store();
    let k = key("churn");
    let files: Vec<(String, Vec<u8>)> = (0..40)
        .map(|i| (format!("d{}/f{i}.bin", i % 4), vec![i as u8; 512 + i]))
        .collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (seen, checked) = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let (mut seen, mut checked) = (0, 0);
            let read = |p: &std::path::Path| fs::read(p).ok();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mpath = store.object_dir(&k).join(MANIFEST_FILE);
                let Some(before) = read(&mpath) else { continue };
                let Ok(m) = serde_json::from_slice::<Manifest>(&before) else {
                    continue;
                };
                seen += 1;
                let missing: Vec<&str> = m
                    .files
                    .iter()
                    .filter(|f| {
                        !fs::metadata(store.object_dir(&k).join(&f.path))
                            .is_ok_and(|md| md.len() == f.size)
                    })
                    .map(|f| f.path.as_str())
                    .collect();
                if read(&mpath).as_deref() == Some(before.as_slice()) {
                    checked += 1;
                    assert!(
                        missing.is_empty(),
                        "half an artifact is visible: {missing:?}"
                    );
                }
            }
            (seen, checked)
        });
        for generation in 0..150 {
            let lock = store.lock(&k).unwrap();
            let staging = store.begin(&lock).unwrap();
            for (rel, content) in &files {
                write_files(staging.dir(), &[(rel.as_str(), content.as_slice())]);
            }
            let mut info = info("churn");
            info.seconds = generation as f64; // each generation's manifest is distinct
            staging.commit(info).unwrap();
            std::thread::sleep(std::time::Duration::from_micros(300));
            assert!(store.remove(&lock).unwrap() > 0);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert!(seen > 0 && checked > 0, "the reader saw {seen} manifests");
    assert!(names(&store.root().join("tmp")).is_empty());
}

#[test]
fn get_reports_a_garbled_or_misplaced_manifest() {
    let (_tmp, store) = temp_store();
    let art = commit(&store, "m", &[("f", b"1")]);
    let mpath = art.manifest_path();
    fs::set_permissions(&mpath, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&mpath, b"{not json").unwrap();
    let err = store.get(&art.key).unwrap_err();
    assert!(
        matches!(&err, CacheError::Json { path, .. } if *path == mpath),
        "{err}"
    );

    // A manifest copied under the wrong key.
    let other = commit(&store, "n", &[("f", b"1")]);
    fs::write(&mpath, fs::read(other.manifest_path()).unwrap()).unwrap();
    assert!(matches!(
        store.get(&art.key).unwrap_err(),
        CacheError::ManifestMismatch { .. }
    ));
}

#[test]
fn work_dirs_persist_until_removed() {
    let (_tmp, store) = temp_store();
    let k = key("w");
    let dir = store.work_dir(&k).unwrap();
    assert_eq!(dir, store.root().join("work").join(k.as_str()));
    fs::write(dir.join("epoch-3.ckpt"), b"state").unwrap();
    assert_eq!(store.work_dir(&k).unwrap(), dir);
    assert!(dir.join("epoch-3.ckpt").exists());
    fs::create_dir(dir.join("ro")).unwrap();
    fs::write(dir.join("ro/f"), b"x").unwrap();
    fs::set_permissions(dir.join("ro"), fs::Permissions::from_mode(0o555)).unwrap();
    store.remove_work_dir(&k).unwrap();
    assert!(!dir.exists());
    store.remove_work_dir(&k).unwrap();
}

#[test]
fn locks_in_one_process_exclude_each_other() {
    let (_tmp, store) = temp_store();
    let k = key("l");
    assert!(!store.is_locked(&k).unwrap());
    let lock = store.try_lock(&k).unwrap().expect("free");
    assert_eq!(lock.key(), &k);
    assert!(store.is_locked(&k).unwrap());
    assert!(store.try_lock(&k).unwrap().is_none());
    let other = key("other");
    assert!(store.try_lock(&other).unwrap().is_some());
    drop(lock);
    assert!(!store.is_locked(&k).unwrap());

    // A blocking lock waits for the holder, then gets it.
    let lock = store.lock(&k).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let l = store.lock(&k).unwrap();
            tx.send(()).unwrap();
            drop(l);
        });
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(300))
                .is_err(),
            "lock() did not wait"
        );
        drop(lock);
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("lock() never acquired after release");
    });
}

#[test]
fn errors_name_the_path_and_the_os_error() {
    let (_tmp, store) = temp_store();
    let missing = store.root().join("does-not-exist");
    let err = store.digest_path(&missing).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("does-not-exist") && text.contains("No such file"),
        "{text}"
    );
}

#[test]
fn non_utf8_names_are_refused_with_the_path() {
    use std::os::unix::ffi::OsStrExt;
    let (_tmp, store) = temp_store();
    let lock = store.lock(&key("n")).unwrap();
    let staging = store.begin(&lock).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"bad-\xff-name");
    fs::write(staging.dir().join(name), b"x").unwrap();
    let err = staging.commit(info("n")).unwrap_err();
    assert!(matches!(err, CacheError::NonUtf8Name { .. }), "{err}");
    assert!(!store.contains(&key("n")));
}

#[test]
fn probing_a_lock_creates_no_file() {
    let (_tmp, store) = temp_store();
    assert!(!store.is_locked(&key("never")).unwrap());
    assert!(names(&store.root().join("locks")).is_empty());
}

#[test]
fn store_locks_and_staging_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Store>();
    send::<skelflow_cache::KeyLock>();
    send::<skelflow_cache::Staging>();
}
