//! Property tests: the manifest reader never panics, whatever sits in MANIFEST.json —
//! arbitrary bytes, a real manifest cut short or with bytes changed, or a real manifest
//! with any field replaced by any JSON value. `Store::get` reads it, `verify` reads it and
//! checks the files it lists, `list` and `contains` look at it.
//!
//! A small fixed budget per run (CI: seconds); `SKELFLOW_FUZZ_CASES=200000` for a long run.
//! Each test prints how many inputs it ran.

use std::fs;
use std::path::Path;
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::Value;
use skelflow_cache::{Key, MANIFEST_FILE, Store};

use crate::common::*;

/// Cases per property: `SKELFLOW_FUZZ_CASES`, else a CI-sized default.
fn cases() -> u32 {
    std::env::var("SKELFLOW_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

/// Any JSON value, small: what a damaged or hand-edited manifest may hold in a field.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(Value::Number),
        prop_oneof![
            Just(String::new()),
            Just("..".to_string()),
            Just("../../etc/passwd".to_string()),
            Just("/abs".to_string()),
            Just("a/b".to_string()),
            Just(MANIFEST_FILE.to_string()),
            Just("x".repeat(70)),
            "[a-f0-9]{0,70}",
            "\\PC{0,12}",
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One input: the bytes of MANIFEST.json, made from the real manifest `real`.
fn manifest_bytes(real: Value) -> impl Strategy<Value = Vec<u8>> {
    let bytes = serde_json::to_vec_pretty(&real).unwrap();
    let n = bytes.len();
    let fields = [
        "/key",
        "/kind",
        "/instance",
        "/created",
        "/seconds",
        "/components",
        "/components/params",
        "/components/inputs",
        "/files",
        "/files/0",
        "/files/0/path",
        "/files/0/size",
        "/files/0/blake3",
        "/files/1/path",
        "/total_bytes",
        "",
    ];
    let cut = bytes.clone();
    let flip = bytes.clone();
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        (0..n).prop_map(move |at| cut[..at].to_vec()),
        prop::collection::vec((0..n, any::<u8>()), 1..6).prop_map(move |edits| {
            let mut b = flip.clone();
            for (at, byte) in edits {
                b[at] = byte;
            }
            b
        }),
        (prop::sample::select(fields.to_vec()), any_json()).prop_map(move |(field, v)| {
            let mut m = real.clone();
            match m.pointer_mut(field) {
                Some(slot) => *slot = v,
                None => m = v,
            }
            serde_json::to_vec(&m).unwrap()
        }),
    ]
}

/// Put `bytes` where the manifest of `k` goes, beside two real files.
fn plant(store: &Store, k: &Key, bytes: &[u8]) {
    let dir = store.object_dir(k);
    if dir.exists() {
        make_writable(&dir);
        fs::remove_dir_all(&dir).unwrap();
    }
    write_files(&dir, &[("a.txt", b"abc"), ("sub/b.bin", &[7; 100])]);
    fs::write(dir.join(MANIFEST_FILE), bytes).unwrap();
}

fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            make_writable(&p);
        }
    }
}

#[test]
fn the_manifest_reader_never_panics() {
    let (_tmp, store) = temp_store();
    let k = key("fuzzed");
    let real = commit(
        &store,
        "fuzzed",
        &[("a.txt", b"abc"), ("sub/b.bin", &[7; 100])],
    );
    let real: Value = serde_json::from_slice(&fs::read(real.manifest_path()).unwrap()).unwrap();
    let cases = cases();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let started = Instant::now();
    let ran = std::cell::Cell::new(0u64);
    let result = runner.run(&manifest_bytes(real), |bytes| {
        ran.set(ran.get() + 1);
        plant(&store, &k, &bytes);
        let _ = store.contains(&k);
        let _ = store.get(&k);
        let _ = store.list();
        let _ = store.verify(Some(std::slice::from_ref(&k)));
        let _ = store.verify(None);
        // `verify` moved a corrupt one to quarantine/; keep the store small.
        let q = store.root().join("quarantine");
        for e in fs::read_dir(&q).unwrap() {
            let p = e.unwrap().path();
            make_writable(&p);
            fs::remove_dir_all(&p).unwrap();
        }
        Ok(())
    });
    eprintln!(
        "manifest reader: {} inputs ran ({cases} cases) in {:.1}s",
        ran.get(),
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
