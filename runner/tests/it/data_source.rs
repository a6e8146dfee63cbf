//! What a shipped pipeline reads, through the real binary: with `data.root` the real files
//! and no synthetic stage anywhere (DAG, status, keys); without it the synthetic corpus; and
//! the report's provenance saying which, from what the import recorded.

use std::path::PathBuf;

use crate::common::*;

/// The licensed NTU fixture files (`../shared/fixtures/ntu60_raw`), never in the repository.
fn ntu_fixtures() -> Option<PathBuf> {
    let dir = repo_root().join("../shared/fixtures/ntu60_raw");
    if dir.is_dir() {
        Some(dir.canonicalize().unwrap())
    } else {
        eprintln!(
            "SKIPPED: {} is absent (the real NTU files are never part of the repository)",
            dir.display()
        );
        None
    }
}

/// A project with the main pipeline, as a user's clone has it.
fn project() -> Work {
    let w = Work::new();
    let text = std::fs::read_to_string(repo_root().join("pipelines/ablation_a2mc.yaml")).unwrap();
    w.write("pipelines/ablation_a2mc.yaml", &text);
    w
}

const PIPELINE: &str = "pipelines/ablation_a2mc.yaml";

/// `skelflow <args>` with the project's cache named, wherever the default puts it.
fn sk(w: &Work, args: &[&str]) -> std::process::Output {
    w.cmd()
        .env("SKELFLOW_CACHE", w.path().join(".skelflow"))
        .args(args)
        .output()
        .expect("run skelflow")
}

fn report(w: &Work, set: &[&str]) -> String {
    let mut args = vec!["report", PIPELINE];
    args.extend(set);
    ok(&sk(w, &args));
    // outside a skelflow repository the report goes beside the pipeline
    w.read("pipelines/reports/ablation_a2mc/REPORT.md")
}

#[test]
fn a_data_root_runs_no_synthetic_stage_and_the_report_says_real_files() {
    let Some(root) = ntu_fixtures() else { return };
    let w = project();
    let root_var = format!("data.root={}", root.display());
    let set = ["--set", root_var.as_str()];
    let with = |args: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        v.extend(set.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: &[&str]| {
        let a = with(args);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        sk(&w, &refs)
    };
    let dag = ok(&run(&["dag", PIPELINE]));
    assert!(dag.contains("import"), "{dag}");
    assert!(
        !dag.contains("synth"),
        "a synthetic stage in the DAG:\n{dag}"
    );

    ok(&run(&["run", PIPELINE, "import"]));
    let started = with_event(&w.last_events("ablation_a2mc"), "started");
    assert_eq!(started, vec!["import".to_string()]);
    let status = ok(&run(&["status", PIPELINE]));
    assert!(!status.contains("synth"), "{status}");

    let md = report(&w, &set);
    // the fixture folder: 7 files, one of them on NTU's missing-skeleton list
    assert!(
        md.contains("**Dataset: real.** real NTU RGB+D 60 files (6 files → 6 samples")
            && md.contains("variant agcn_prenorm, 300 frames")
            && md.contains("as written in the pipeline"),
        "{md}"
    );
    assert!(!md.contains("Dataset: synthetic"), "{md}");
}

#[test]
fn without_a_root_the_import_generates_the_synthetic_corpus_and_says_so() {
    let w = project();
    ok(&sk(&w, &["run", PIPELINE, "import"]));
    let started = with_event(&w.last_events("ablation_a2mc"), "started");
    assert_eq!(started, vec!["import".to_string()]);
    let md = report(&w, &[]);
    assert!(
        md.contains("**Dataset: synthetic.** skelflow's synthetic corpus in the NTU RGB+D 60 format (`synth.ntu`: classes=12")
            && md.contains("720 files → 720 samples, 12 classes, variant agcn_prenorm"),
        "{md}"
    );
    // nothing of the generated corpus is left in the artifact
    let leftovers: Vec<PathBuf> = files_under(&w.path().join(".skelflow"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "skeleton"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bad_data_roots_are_clear_errors_before_anything_runs() {
    let w = project();
    std::fs::create_dir_all(w.path().join("empty")).unwrap();
    w.write("empty/notes.txt", "not a skeleton");
    let cases: [(&[&str], &str); 5] = [
        (&["--set", "data.root=does/not/exist"], "does/not/exist"),
        (
            &["--set", "data.root=does/not/exist"],
            "from `${data.root}`",
        ),
        (
            &["--set", "data.root=../empty"],
            "no .skeleton files there (1 other file)",
        ),
        (&["--set", "data.root=../empty"], "from `${data.root}`"),
        (
            &[
                "--set",
                "data.root=../empty",
                "--set",
                "data.synthetic=small",
            ],
            "a synthetic corpus is asked for together with the data root `../empty`",
        ),
    ];
    for (set, want) in cases {
        let mut args = vec!["run", PIPELINE, "import"];
        args.extend(set);
        let out = sk(&w, &args);
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success(), "{set:?} succeeded:\n{all}");
        assert!(all.contains(want), "{set:?}: no {want:?} in:\n{all}");
    }
}
