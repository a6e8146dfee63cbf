//! Where the licensed real fixtures live: `<worktree>/../shared/fixtures`, never copied into
//! the repository. Tests that need them print a clear SKIPPED line when they are absent.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn fixtures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    if dir.join("ntu60_raw").is_dir() {
        Some(dir.canonicalize().unwrap())
    } else {
        eprintln!(
            "SKIPPED: real fixtures not found at {} (they are never copied into the repository)",
            dir.display()
        );
        None
    }
}

pub const REAL_FILES: [&str; 7] = [
    "S001C001P001R001A001",
    "S001C001P001R001A002",
    "S001C001P001R001A003",
    "S001C001P001R001A004",
    "S001C001P001R001A005",
    "S001C001P001R002A050",
    "S001C003P002R001A055",
];

/// A little-endian float32 `.npy` file: (shape, values).
pub fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

/// Largest absolute difference, with the index where it occurs.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> (f32, usize) {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(i, (x, y))| ((x - y).abs(), i))
        .fold((0.0, 0), |m, d| if d.0 > m.0 { d } else { m })
}
