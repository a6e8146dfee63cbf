//! Where the licensed real fixtures live: `<worktree>/../shared/fixtures`, never copied into
//! the repository. Tests that need them print a clear SKIPPED line when they are absent.
//! Also the property-test runner ([`fuzz`], budget `SKELFLOW_FUZZ_CASES`) and the edits
//! that mutate real files.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRng, TestRunner};

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

/// The torch venv's python (`scripts/setup-torch`; `SKELFLOW_VENV` overrides where) if it
/// can import `module`. With `<required>=1` in the environment (scripts/test sets it) a
/// missing module is a failure; otherwise the test says it is skipped.
pub fn venv_python(module: &str, required: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("SKELFLOW_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/skelflow-venv")
        });
    let python = venv.join("bin/python");
    let ok = std::process::Command::new(&python)
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if std::env::var(required).as_deref() == Ok("1") {
        assert!(
            ok,
            "{} cannot import {module} (scripts/setup-torch installs it)",
            python.display()
        );
    } else if !ok {
        eprintln!("SKIPPED: no {module} in {}", python.display());
    }
    ok.then_some(python)
}

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

/// The real NTU `.skeleton` fixtures, (name, bytes), in name order.
pub fn real_skeletons() -> Option<Vec<(String, Vec<u8>)>> {
    let dir = fixtures()?.join("ntu60_raw");
    Some(
        REAL_FILES
            .iter()
            .map(|n| {
                let path = dir.join(format!("{n}.skeleton"));
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                (format!("{n}.skeleton"), bytes)
            })
            .collect(),
    )
}

/// The real PKU-MMD phase-2 skeleton file.
pub fn real_pku_skeleton() -> Option<Vec<u8>> {
    let path = fixtures()?.join("pkummd/A10N08-L.txt");
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

// ------------------------------------------------------------------------------------------
// Property tests ("fuzzing" on stable Rust, with proptest)

/// Inputs per property test: `SKELFLOW_FUZZ_CASES` when set (a long run by hand), else
/// `ci` (CI's budget: seconds).
pub fn fuzz_cases(ci: u32) -> u32 {
    std::env::var("SKELFLOW_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ci)
}

/// Checks `property` (which panics on a failure) on [`fuzz_cases`]`(ci)` inputs drawn from
/// `strategy` with a fixed seed (CI reruns the same inputs), shrinks an input that fails to
/// a small one, and prints how many inputs ran.
pub fn fuzz<S: Strategy>(name: &str, ci: u32, strategy: S, property: impl Fn(S::Value)) {
    let cases = fuzz_cases(ci);
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_time: 120_000,
        ..Config::default()
    };
    let rng = TestRng::deterministic_rng(config.rng_algorithm);
    let mut runner = TestRunner::new_with_rng(config, rng);
    let ran = std::cell::Cell::new(0usize);
    let started = std::time::Instant::now();
    let result = runner.run(&strategy, |input| {
        ran.set(ran.get() + 1);
        property(input);
        Ok(())
    });
    eprintln!(
        "{name}: {} inputs ({cases} cases + shrinking) in {:.1} s",
        ran.get(),
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

/// A byte the text formats care about (digits, signs, dots, exponents, blanks, line ends,
/// commas), or any byte.
pub fn format_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => proptest::sample::select(b"0123456789 .-+eE\n\r\t\x0b\x0c,".to_vec()),
        1 => any::<u8>(),
    ]
}

/// One edit of a file's bytes.
#[derive(Clone, Debug)]
pub enum Edit {
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Truncate(Index),
    /// The line at the index, twice.
    DuplicateLine(Index),
    /// The line at the index, removed.
    DeleteLine(Index),
}

pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<Index>(), format_byte()).prop_map(|(i, b)| Edit::Set(i, b)),
        2 => (any::<Index>(), proptest::collection::vec(format_byte(), 1..12))
            .prop_map(|(i, b)| Edit::Insert(i, b)),
        2 => (any::<Index>(), 1..40usize).prop_map(|(i, n)| Edit::Delete(i, n)),
        1 => any::<Index>().prop_map(Edit::Truncate),
        1 => any::<Index>().prop_map(Edit::DuplicateLine),
        1 => any::<Index>().prop_map(Edit::DeleteLine),
    ]
}

/// `bytes` with `edits` applied in order.
pub fn edited(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    let line_at = |b: &[u8], at: usize| {
        let start = b[..at]
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1);
        let end = b[at..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |p| at + p + 1);
        start..end
    };
    for e in edits {
        let n = bytes.len();
        let at = |i: &Index| if n == 0 { 0 } else { i.index(n) };
        match e {
            Edit::Set(i, b) if n > 0 => bytes[at(i)] = *b,
            Edit::Insert(i, b) => {
                let k = at(i);
                bytes.splice(k..k, b.iter().copied());
            }
            Edit::Delete(i, len) if n > 0 => {
                let k = at(i);
                bytes.drain(k..(k + len).min(n));
            }
            Edit::Truncate(i) => bytes.truncate(at(i)),
            Edit::DuplicateLine(i) if n > 0 => {
                let line = line_at(&bytes, at(i));
                let copy = bytes[line.clone()].to_vec();
                bytes.splice(line.start..line.start, copy);
            }
            Edit::DeleteLine(i) if n > 0 => {
                let line = line_at(&bytes, at(i));
                bytes.drain(line);
            }
            _ => {}
        }
    }
    bytes
}
