//! Property tests: the pipeline loader that `skelflow run` uses (`Pipeline::load`, then the
//! rendering of its diagnostics in both styles) never panics — on arbitrary bytes, on
//! YAML-ish text made of pipeline words and YAML syntax, and on the shipped pipelines and
//! the bad-pipeline fixtures with random edits (and random `--set` overrides).
//!
//! A small fixed budget per run (CI: seconds); `SKELFLOW_FUZZ_CASES=200000` for a long run.
//! Each test prints how many inputs it ran.

use std::path::{Path, PathBuf};
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use skelflow::diag::Style;
use skelflow::pipeline::Pipeline;
use skelflow::spec::vars::Overrides;

use crate::common::repo_root;

/// Cases per property: `SKELFLOW_FUZZ_CASES`, else a CI-sized default.
fn cases() -> u32 {
    std::env::var("SKELFLOW_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// Words of pipelines and pieces of YAML syntax, including the awkward ones.
const TOKENS: &[&str] = &[
    "name: ",
    "stages:",
    "vars:",
    "seed: ",
    "extends: ",
    "include: ",
    "report:",
    "kind: ",
    "shell",
    "params:",
    "needs: ",
    "matrix: ",
    "resources:",
    "cpus: ",
    "gpus: ",
    "mem: ",
    "time: ",
    "tags: ",
    "desc: ",
    "cmd: ",
    "outs: ",
    "deps: ",
    "env: ",
    "a",
    "b",
    "x1",
    "matrix",
    "${",
    "}",
    "${matrix.",
    "${a.output}",
    "${a.outputs}",
    "${n}",
    "${x.y.0}",
    "$${",
    ".output}",
    "[",
    "]",
    "{",
    ": ",
    ":",
    ", ",
    "- ",
    "\n",
    "\n  ",
    "\n    ",
    "\n      ",
    "\t",
    "&a ",
    "*a",
    "<<: *a",
    "<<: ",
    "!tag ",
    "!!str ",
    "---\n",
    "...\n",
    "\"",
    "'",
    "#",
    "?",
    "|",
    ">",
    "%",
    "@",
    "`",
    "null",
    "~",
    "true",
    "0",
    "-1",
    "1.5",
    "1e309",
    ".nan",
    ".inf",
    "9223372036854775807",
    "18446744073709551616",
    "4G",
    "0x1f",
    "é",
    "💥",
    "\u{feff}",
    "\r\n",
    "..",
    "/",
    "../x.yaml",
    "pipelines/demo_shell.yaml",
    "ntu.import",
    "synth.ntu",
    "pretrain",
    "extract",
    "eval.linear",
    "eval.knn",
    "eval.finetune",
    "eval.fuse",
    "eval.segment",
    "data.subset",
    "encoder.init",
    "encoder.import",
    "npy.import",
    "anchor.average_motion",
];

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(TOKENS).prop_map(str::to_string),
        1 => "\\PC{0,6}",
        1 => "[a-z_]{1,8}",
    ]
}

/// YAML-ish text: indented lines of tokens.
fn yamlish() -> impl Strategy<Value = String> {
    prop::collection::vec((0..4usize, prop::collection::vec(token(), 0..6)), 0..30).prop_map(
        |lines| {
            lines
                .into_iter()
                .map(|(indent, toks)| format!("{}{}", "  ".repeat(indent), toks.concat()))
                .collect::<Vec<_>>()
                .join("\n")
        },
    )
}

#[derive(Clone, Debug)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, String),
    DuplicateLine(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => (any::<usize>(), 1..24usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        3 => (any::<usize>(), token()).prop_map(|(at, t)| Edit::Insert(at, t)),
        1 => any::<usize>().prop_map(Edit::DuplicateLine),
    ]
}

/// Apply edits at character positions (the text stays UTF-8).
fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        let n = chars.len().max(1);
        match e {
            Edit::Delete(at, k) => {
                let at = at % n;
                let end = (at + k).min(chars.len());
                chars.drain(at.min(end)..end);
            }
            Edit::Insert(at, t) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, t.chars());
            }
            Edit::DuplicateLine(at) => {
                let s: String = chars.iter().collect();
                let lines: Vec<&str> = s.split('\n').collect();
                let i = at % lines.len();
                let mut out = lines.clone();
                out.insert(i, lines[i]);
                chars = out.join("\n").chars().collect();
            }
        }
    }
    chars.into_iter().collect()
}

/// `--set` overrides: mostly of declared names, with YAML-ish values.
fn overrides() -> impl Strategy<Value = Vec<String>> {
    let name = prop_oneof![
        prop::sample::select(&["n", "profile", "data.root", "epochs", "x.y", "seed", ""][..])
            .prop_map(str::to_string),
        "[a-z_.]{1,8}",
    ];
    prop::collection::vec(
        (name, token(), any::<bool>()).prop_map(|(n, v, eq)| {
            if eq {
                format!("{n}={v}")
            } else {
                format!("{n}{v}")
            }
        }),
        0..3,
    )
}

/// A workspace holding the shipped pipelines and the bad-pipeline fixtures (so that
/// `extends` and `include` resolve), and the seed texts to edit.
fn corpus() -> (tempfile::TempDir, Vec<(PathBuf, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let mut seeds = Vec::new();
    for (from, to) in [
        (repo_root().join("pipelines"), dir.path().join("pipelines")),
        (
            repo_root().join("runner/tests/fixtures/invalid"),
            dir.path().join("invalid"),
        ),
    ] {
        copy_yaml(&from, &to, &mut seeds);
    }
    seeds.sort();
    (dir, seeds)
}

fn copy_yaml(from: &Path, to: &Path, seeds: &mut Vec<(PathBuf, String)>) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_yaml(&p, &dest, seeds);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            let text = std::fs::read_to_string(&p).unwrap();
            std::fs::write(&dest, &text).unwrap();
            seeds.push((to.to_path_buf(), text));
        }
    }
}

/// Load `bytes` as a pipeline file in `dir` and render what is wrong; panics propagate.
fn load(dir: &Path, bytes: &[u8], set: Vec<String>) {
    let path = dir.join("fuzz.yaml");
    std::fs::write(&path, bytes).unwrap();
    let ov = Overrides {
        set,
        ..Overrides::default()
    };
    if let Err(invalid) = Pipeline::load(&path, &ov) {
        assert!(!invalid.diags.is_empty(), "an invalid pipeline says why");
        let _ = invalid.render(Style::Plain);
        let _ = invalid.render(Style::Fancy);
    }
}

/// Run `property` on `cases()` inputs of `strategy`, print the count, fail on a panic.
fn check<S: Strategy>(what: &str, strategy: S, property: impl Fn(S::Value)) {
    let cases = cases();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let started = Instant::now();
    let ran = std::cell::Cell::new(0u64);
    let result = runner.run(&strategy, |v| {
        ran.set(ran.get() + 1);
        property(v);
        Ok(())
    });
    eprintln!(
        "{what}: {} inputs ran ({cases} cases) in {:.1}s",
        ran.get(),
        started.elapsed().as_secs_f64()
    );
    if let Err(e) = result {
        panic!("{what}: {e}");
    }
}

#[test]
fn the_loader_never_panics_on_arbitrary_bytes() {
    let dir = tempfile::tempdir().unwrap();
    check(
        "pipeline loader, arbitrary bytes",
        prop::collection::vec(any::<u8>(), 0..800),
        |bytes| load(dir.path(), &bytes, Vec::new()),
    );
}

#[test]
fn the_loader_never_panics_on_yamlish_text() {
    let dir = tempfile::tempdir().unwrap();
    check(
        "pipeline loader, YAML-ish text",
        (yamlish(), overrides()),
        |(text, set)| load(dir.path(), text.as_bytes(), set),
    );
}

#[test]
fn the_loader_never_panics_on_edited_pipelines() {
    let (_dir, seeds) = corpus();
    assert!(seeds.len() >= 15, "pipelines and fixtures: {}", seeds.len());
    let n = seeds.len();
    check(
        "pipeline loader, edited pipelines",
        (0..n, prop::collection::vec(edit(), 0..8), overrides()),
        |(i, edits, set)| {
            let (dir, text) = &seeds[i];
            load(dir, apply(text, &edits).as_bytes(), set)
        },
    );
}
