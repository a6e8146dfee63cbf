//! Prints how fast the store commits, verifies and digests, and what the stat cache saves.
//! Run: `cargo bench -p skelflow-cache` (release build).

use std::fs::{self, File};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use skelflow_cache::{ArtifactInfo, KeyComponents, Store};

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn write_tree(root: &Path, files: usize, bytes_each: usize) -> u64 {
    let past = SystemTime::now() - Duration::from_secs(60);
    for i in 0..files {
        let path = root.join(format!("d{:02}/f{i:05}.bin", i % 16));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let data: Vec<u8> = (0..bytes_each).map(|j| (i * 31 + j * 7) as u8).collect();
        fs::write(&path, data).unwrap();
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(past)
            .unwrap();
    }
    (files * bytes_each) as u64
}

fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path().join("cache")).unwrap();

    for (files, each) in [(64usize, 4 << 20), (2000, 16 << 10)] {
        let components = KeyComponents::new("bench", 1, json!({"files": files, "each": each}));
        let key = components.key();
        let lock = store.lock(&key).unwrap();
        let staging = store.begin(&lock).unwrap();
        let total = write_tree(staging.dir(), files, each);
        let t = Instant::now();
        let info = ArtifactInfo {
            kind: "bench".into(),
            instance: "bench".into(),
            components,
            seconds: 0.0,
        };
        staging.commit(info).unwrap();
        let commit = t.elapsed();
        drop(lock);
        let t = Instant::now();
        let report = store.verify(Some(std::slice::from_ref(&key))).unwrap();
        assert_eq!((report.checked, report.corrupt.len()), (1, 0));
        let verify = t.elapsed();
        println!(
            "commit {files} files, {:.0} MB: {:.3} s ({:.0} MB/s, hash + fsync + rename); verify: {:.3} s ({:.0} MB/s)",
            mb(total),
            commit.as_secs_f64(),
            mb(total) / commit.as_secs_f64(),
            verify.as_secs_f64(),
            mb(total) / verify.as_secs_f64()
        );
    }

    for (files, each) in [(200usize, 256 << 10), (5000, 4 << 10)] {
        let dir = tmp.path().join(format!("input-{files}"));
        let total = write_tree(&dir, files, each);
        let before = store.digest_stats();
        let t = Instant::now();
        let cold_digest = store.digest_path(&dir).unwrap();
        let cold = t.elapsed();
        let mid = store.digest_stats();
        let t = Instant::now();
        let warm_digest = store.digest_path(&dir).unwrap();
        let warm = t.elapsed();
        assert_eq!(cold_digest, warm_digest);
        let after = store.digest_stats();
        println!(
            "digest {files} files, {:.0} MB: cold {:.4} s ({} files read), warm {:.4} s ({} stat-cache hits, {} files read): {:.0}x faster",
            mb(total),
            cold.as_secs_f64(),
            mid.files_hashed - before.files_hashed,
            warm.as_secs_f64(),
            after.cache_hits - mid.cache_hits,
            after.files_hashed - mid.files_hashed,
            cold.as_secs_f64() / warm.as_secs_f64()
        );
    }
}
