//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use serde_json::json;
use skelflow_cache::{Artifact, ArtifactInfo, Key, KeyComponents, Store};

pub fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("cache")).unwrap();
    (dir, store)
}

pub fn components(name: &str) -> KeyComponents {
    KeyComponents::new("test.kind", 1, json!({ "name": name }))
}

pub fn key(name: &str) -> Key {
    components(name).key()
}

pub fn info(name: &str) -> ArtifactInfo {
    ArtifactInfo {
        kind: "test.kind".into(),
        instance: format!("test[{name}]"),
        components: components(name),
        seconds: 1.5,
    }
}

/// Commit an artifact with the given (relative path, content) files.
pub fn commit(store: &Store, name: &str, files: &[(&str, &[u8])]) -> Artifact {
    let key = key(name);
    let lock = store.lock(&key).unwrap();
    let staging = store.begin(&lock).unwrap();
    write_files(staging.dir(), files);
    staging.commit(info(name)).unwrap()
}

pub fn write_files(dir: &Path, files: &[(&str, &[u8])]) {
    for (rel, content) in files {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
}

/// Entries directly under `dir` (names), sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The crate's own test generator (splitmix64), for reproducible random choices: one
/// source file for the unit tests and these.
#[path = "../../src/testutil.rs"]
mod testutil;
pub use testutil::Rng;
