//! Digests of external inputs and their stat cache.

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::common::*;
use skelflow_cache::{CacheError, DigestStats, Digests, Store};

/// Files older than the racy window, as real inputs usually are.
fn age(path: &Path) {
    let past = SystemTime::now() - Duration::from_secs(60);
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(past)
        .unwrap();
}

fn tree(root: &Path, n: usize) {
    for i in 0..n {
        let path = root.join(format!("d{}/s{:03}.skeleton", i % 7, i));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, format!("file {i} ").repeat(50 + i)).unwrap();
        age(&path);
    }
}

#[test]
fn a_file_digest_is_blake3_of_its_content() {
    let (tmp, store) = temp_store();
    let f = tmp.path().join("train.py");
    fs::write(&f, b"print('hi')\n").unwrap();
    assert_eq!(
        store.digest_path(&f).unwrap(),
        blake3::hash(b"print('hi')\n").to_hex().as_str()
    );
}

#[test]
fn a_directory_digest_covers_names_contents_and_structure() {
    let (tmp, store) = temp_store();
    let d = tmp.path().join("data");
    tree(&d, 20);
    let d0 = store.digest_path(&d).unwrap();
    assert_eq!(d0.len(), 64);
    assert_eq!(store.digest_path(&d).unwrap(), d0);

    // Same content elsewhere: same digest (paths are relative).
    let copy = tmp.path().join("copy");
    tree(&copy, 20);
    assert_eq!(store.digest_path(&copy).unwrap(), d0);

    // A renamed file, a changed byte, an added empty dir, an added file: all change it.
    fs::rename(d.join("d0/s000.skeleton"), d.join("d0/s000.renamed")).unwrap();
    let renamed = store.digest_path(&d).unwrap();
    assert_ne!(renamed, d0);
    fs::rename(d.join("d0/s000.renamed"), d.join("d0/s000.skeleton")).unwrap();
    assert_eq!(store.digest_path(&d).unwrap(), d0);
    fs::create_dir(d.join("empty")).unwrap();
    let with_empty = store.digest_path(&d).unwrap();
    assert_ne!(with_empty, d0);
    fs::remove_dir(d.join("empty")).unwrap();
    fs::write(d.join("d1/s001.skeleton"), "changed").unwrap();
    assert_ne!(store.digest_path(&d).unwrap(), d0);

    // A directory is not confused with a file holding the same bytes.
    let single = tmp.path().join("single");
    fs::create_dir(&single).unwrap();
    fs::write(single.join("a"), b"x").unwrap();
    assert_ne!(
        store.digest_path(&single).unwrap(),
        blake3::hash(b"x").to_hex().as_str()
    );
}

#[test]
fn symlinks_are_followed_and_loops_dangling_links_and_fifos_are_errors() {
    let (tmp, store) = temp_store();
    let real = tmp.path().join("real");
    tree(&real, 5);
    let via_link = tmp.path().join("via-link");
    fs::create_dir(&via_link).unwrap();
    std::os::unix::fs::symlink(real.join("d0"), via_link.join("d0")).unwrap();
    let plain = tmp.path().join("plain");
    fs::create_dir(&plain).unwrap();
    fs::create_dir(plain.join("d0")).unwrap();
    for e in fs::read_dir(real.join("d0")).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), plain.join("d0").join(e.file_name())).unwrap();
    }
    assert_eq!(
        store.digest_path(&via_link).unwrap(),
        store.digest_path(&plain).unwrap()
    );

    let looped = tmp.path().join("looped");
    fs::create_dir(&looped).unwrap();
    std::os::unix::fs::symlink(&looped, looped.join("me")).unwrap();
    assert!(matches!(
        store.digest_path(&looped).unwrap_err(),
        CacheError::SymlinkLoop { .. }
    ));

    let dangling = tmp.path().join("dangling");
    fs::create_dir(&dangling).unwrap();
    std::os::unix::fs::symlink("nowhere", dangling.join("x")).unwrap();
    let err = store.digest_path(&dangling).unwrap_err().to_string();
    assert!(err.contains("dangling/x"), "{err}");

    let special = tmp.path().join("special");
    fs::create_dir(&special).unwrap();
    let fifo = std::ffi::CString::new(special.join("pipe").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let err = store.digest_path(&special).unwrap_err();
    assert!(
        matches!(&err, CacheError::UnsupportedFile { path, .. } if path.ends_with("pipe")),
        "{err}"
    );
}

#[test]
fn an_unchanged_tree_costs_only_stats_even_after_reopening() {
    let (tmp, store) = temp_store();
    let d = tmp.path().join("data");
    tree(&d, 200);
    let first = store.digest_path(&d).unwrap();
    let s1 = store.digest_stats();
    assert_eq!(s1.files_hashed, 200);
    assert_eq!(s1.cache_hits, 0);

    assert_eq!(store.digest_path(&d).unwrap(), first);
    let s2 = store.digest_stats();
    assert_eq!(s2.files_hashed, 200, "no file may be read again");
    assert_eq!(s2.cache_hits, 200);

    // Persisted on drop; a new store (a new process) needs only stats too.
    let root = store.root().to_path_buf();
    drop(store);
    assert!(root.join("digests.json").exists());
    let store = Store::open(&root).unwrap();
    assert_eq!(store.digest_path(&d).unwrap(), first);
    assert_eq!(
        store.digest_stats(),
        DigestStats {
            files_hashed: 0,
            bytes_hashed: 0,
            cache_hits: 200
        }
    );

    // A changed file is read again, and only that one.
    let f = d.join("d3/s010.skeleton");
    fs::write(&f, "new content").unwrap();
    age(&f);
    assert_ne!(store.digest_path(&d).unwrap(), first);
    assert_eq!(store.digest_stats().files_hashed, 1);
}

#[test]
fn digests_in_memory_equal_a_stores_and_write_nothing() {
    let (tmp, store) = temp_store();
    let d = tmp.path().join("data");
    tree(&d, 20);
    let before = names(tmp.path());
    let mem = Digests::in_memory();
    assert_eq!(mem.digest_path(&d).unwrap(), store.digest_path(&d).unwrap());
    assert_eq!(mem.digest_path(&d).unwrap(), store.digest_path(&d).unwrap());
    assert_eq!(mem.stats().files_hashed, 20);
    assert_eq!(
        mem.stats().cache_hits,
        20,
        "the stat cache works in memory too"
    );
    mem.flush().unwrap();
    drop(mem);
    assert_eq!(names(tmp.path()), before);
}

#[test]
fn recently_modified_files_are_not_trusted_to_the_stat_cache() {
    let (tmp, store) = temp_store();
    let f = tmp.path().join("fresh");
    fs::write(&f, b"v1").unwrap();
    store.digest_path(&f).unwrap();
    store.digest_path(&f).unwrap();
    // Just written: a second write in the same timestamp tick could go unnoticed, so the
    // file is read every time until it is older than the racy window.
    assert_eq!(store.digest_stats().files_hashed, 2);
    age(&f);
    store.digest_path(&f).unwrap();
    store.digest_path(&f).unwrap();
    assert_eq!(store.digest_stats().files_hashed, 3);
}

#[test]
fn flush_is_atomic_and_merges_with_other_processes() {
    let (tmp, store) = temp_store();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    for p in [&a, &b] {
        fs::write(p, p.to_str().unwrap()).unwrap();
        age(p);
    }
    let other = Store::open(store.root()).unwrap();
    store.digest_path(&a).unwrap();
    other.digest_path(&b).unwrap();
    store.flush_digests().unwrap();
    other.flush_digests().unwrap();
    let text = fs::read_to_string(store.root().join("digests.json")).unwrap();
    assert!(text.contains("\"version\":1"), "{text}");
    assert!(
        text.contains(a.to_str().unwrap()) && text.contains(b.to_str().unwrap()),
        "{text}"
    );
    assert_eq!(
        names(store.root())
            .iter()
            .filter(|n| n.contains("tmp."))
            .count(),
        0
    );

    // A damaged stat cache is rebuilt, never trusted.
    fs::write(store.root().join("digests.json"), b"\0garbage").unwrap();
    let fresh = Store::open(store.root()).unwrap();
    assert_eq!(
        fresh.digest_path(&a).unwrap(),
        blake3::hash(a.to_str().unwrap().as_bytes())
            .to_hex()
            .as_str()
    );
    assert_eq!(fresh.digest_stats().files_hashed, 1);
}

#[test]
fn digests_are_thread_safe() {
    let (tmp, store) = temp_store();
    let d = tmp.path().join("data");
    tree(&d, 60);
    let expected = store.digest_path(&d).unwrap();
    let fresh = Store::open(tmp.path().join("cache2")).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| fresh.digest_path(&d).unwrap()))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), expected);
        }
    });
}

#[test]
fn gc_prunes_digests_of_deleted_files() {
    let (tmp, store) = temp_store();
    let f = tmp.path().join("gone");
    fs::write(&f, b"x").unwrap();
    age(&f);
    store.digest_path(&f).unwrap();
    store.flush_digests().unwrap();
    assert!(
        fs::read_to_string(store.root().join("digests.json"))
            .unwrap()
            .contains("gone")
    );
    fs::remove_file(&f).unwrap();
    store.gc(&Default::default(), false).unwrap();
    assert!(
        !fs::read_to_string(store.root().join("digests.json"))
            .unwrap()
            .contains("gone")
    );
}
