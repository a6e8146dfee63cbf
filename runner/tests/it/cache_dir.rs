//! Which cache the commands use, through the real binary: one per project, found walking up
//! from anywhere inside it; only `run` creates one; the others say which one they used, or
//! fail saying where they looked. And `status` of a stage stopped after a checkpoint.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use crate::common::{Work, ok, pipeline, shell, text, wait_for, with_event};

/// `b` needs `a`; `c` is on its own: 3 artifacts.
fn three() -> String {
    pipeline(
        "three",
        "",
        &[
            shell("a", &[], "echo a > $OUT/a.txt", "a.txt"),
            shell("b", &["a"], "cat ${a.output}/a.txt > $OUT/b.txt", "b.txt"),
            shell("c", &[], "echo c > $OUT/c.txt", "c.txt"),
        ],
    )
}

/// `skelflow <args>` with `dir` (relative to the project) as the working directory.
fn run_in(w: &Work, dir: &str, args: &[&str]) -> Output {
    w.cmd()
        .current_dir(w.path().join(dir))
        .args(args)
        .output()
        .unwrap()
}

/// Every directory named `.skelflow` under `dir`, relative to it, sorted.
fn caches(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if !e.file_type().unwrap().is_dir() {
                continue;
            }
            if e.file_name() == ".skelflow" {
                out.push(p.strip_prefix(base).unwrap().to_path_buf());
            } else {
                walk(&p, base, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn objects(cache: &Path) -> usize {
    std::fs::read_dir(cache.join("objects"))
        .unwrap()
        .flatten()
        .map(|shard| std::fs::read_dir(shard.path()).unwrap().count())
        .sum()
}

#[test]
fn verify_and_gc_find_the_projects_cache_from_its_root_and_from_below() {
    let w = Work::new();
    w.write("pipelines/three.yaml", &three());
    w.write("docs/notes.md", "");

    // As the README shows it: from the repository root, the cache goes to the root.
    ok(&w.run(&["run", "pipelines/three.yaml"]));
    assert_eq!(caches(w.path()), [PathBuf::from(".skelflow")]);
    let computed = with_event(&w.last_events("three"), "finished").len();
    assert_eq!(computed, 3);
    assert_eq!(objects(&w.path().join(".skelflow")), computed);

    for (dir, cache) in [
        (".", ".skelflow (found walking up from ./)"),
        ("pipelines", "../.skelflow (found walking up from ./)"),
        ("docs", "../.skelflow (found walking up from ./)"),
    ] {
        let v = ok(&run_in(&w, dir, &["verify"]));
        assert_eq!(v.lines().next(), Some(&*format!("cache: {cache}")), "{v}");
        assert!(
            v.contains("verified 3 artifacts: all intact"),
            "in {dir}: {v}"
        );
        let g = ok(&run_in(&w, dir, &["gc", "--keep-last", "3", "--dry-run"]));
        assert_eq!(g.lines().next(), Some(&*format!("cache: {cache}")), "{g}");
        assert!(
            g.contains("would remove 0 artifacts (0B), kept 3,"),
            "in {dir}: {g}"
        );
    }
    // Given a pipeline, the walk starts at its directory.
    let v = ok(&run_in(&w, "docs", &["verify", "../pipelines/three.yaml"]));
    assert!(
        v.starts_with("cache: ../.skelflow (found walking up from ../pipelines/)\n"),
        "{v}"
    );
    assert!(v.contains("verified 3 artifacts: all intact"), "{v}");
    let st = ok(&run_in(&w, "pipelines", &["status", "three.yaml"]));
    assert!(st.starts_with("cache: ../.skelflow"), "{st}");
    assert!(st.contains("3 instances: 3 cached"), "{st}");

    // A run from below uses the same cache, and nothing was created anywhere else.
    ok(&run_in(&w, "pipelines", &["run", "three.yaml"]));
    assert_eq!(with_event(&w.last_events("three"), "cached").len(), 3);
    assert_eq!(caches(w.path()), [PathBuf::from(".skelflow")]);
}

#[test]
fn without_a_cache_read_commands_create_none_and_say_where_they_looked() {
    let w = Work::new();
    w.write("pipelines/three.yaml", &three());
    let no_cache = |out: &Output, looked: &str| {
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{err}");
        assert!(
            err.contains(&format!(
                "error: no skelflow cache found in {looked}; run a pipeline first, or pass --cache DIR / set SKELFLOW_CACHE"
            )),
            "{err}"
        );
    };
    no_cache(&w.run(&["verify"]), "./ (the top of the git work tree)");
    no_cache(
        &run_in(&w, "pipelines", &["gc", "--dry-run"]),
        "./ up to ../, the top of the git work tree",
    );
    no_cache(
        &w.run(&["verify", "pipelines/three.yaml"]),
        "pipelines/ up to ./, the top of the git work tree",
    );
    no_cache(
        &w.run(&["report", "pipelines/three.yaml"]),
        "pipelines/ up to ./, the top of the git work tree",
    );

    // Named caches that do not exist are not created either.
    let out = w.run(&["verify", "--cache", "elsewhere"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("no skelflow cache at elsewhere (named by --cache)"),
        "{}",
        text(&out.stderr)
    );
    let out = w
        .cmd()
        .args(["gc"])
        .env("SKELFLOW_CACHE", w.path().join("env-cache"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("(named by $SKELFLOW_CACHE)"),
        "{}",
        text(&out.stderr)
    );

    // A pipeline never run: every stage missing, and still no cache.
    let st = ok(&w.run(&["status", "pipelines/three.yaml"]));
    assert!(
        st.starts_with("cache: none (no skelflow cache found in pipelines/ up to ./"),
        "{st}"
    );
    assert!(
        st.contains("3 instances: 0 cached, 0 stale, 3 missing"),
        "{st}"
    );
    let show = ok(&w.run(&["show", "pipelines/three.yaml", "b"]));
    assert!(
        show.contains("state      missing (never computed)"),
        "{show}"
    );
    let explain = ok(&w.run(&["explain", "pipelines/three.yaml", "b"]));
    assert!(explain.contains("b: missing"), "{explain}");
    let dry = ok(&w.run(&["run", "pipelines/three.yaml", "--dry-run"]));
    assert!(dry.contains("dry run: 3 of 3 instances would run"), "{dry}");

    assert_eq!(caches(w.path()), Vec::<PathBuf>::new());
    assert!(!w.path().join("elsewhere").exists());
    assert!(!w.path().join("env-cache").exists());
}

#[test]
fn an_older_cache_beside_the_pipeline_keeps_serving_its_runs_and_is_named_from_above() {
    let w = Work::new();
    w.write("pipelines/three.yaml", &three());
    // What an older skelflow did by default.
    ok(&w.run(&[
        "--cache",
        "pipelines/.skelflow",
        "run",
        "pipelines/three.yaml",
    ]));

    ok(&w.run(&["run", "pipelines/three.yaml"]));
    let ev = crate::common::events(&w.path().join("pipelines/.skelflow"), "three", 0);
    assert_eq!(
        with_event(&ev, "cached").len(),
        3,
        "found walking up from pipelines/"
    );
    let v = ok(&run_in(&w, "pipelines", &["verify"]));
    assert!(
        v.starts_with("cache: .skelflow (found walking up from ./)\n"),
        "{v}"
    );
    assert!(v.contains("verified 3 artifacts"), "{v}");

    // From the root it is not found, but the error names it.
    let out = w.run(&["verify"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("found below it: pipelines/.skelflow"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(caches(w.path()), [PathBuf::from("pipelines/.skelflow")]);
}

/// `t` records a checkpoint after epoch 2 of 5 the way a stage does (`resume.json` in its
/// work dir), then fails, or waits for `../go`.
fn checkpointing(then: &str) -> String {
    let cmd = format!(
        r#"printf '{{"done":2,"total":5,"unit":"epoch"}}' > "$SKELFLOW_WORK_DIR/resume.json"; touch ../started; {then}; echo t > $OUT/t.txt"#
    );
    pipeline("ckpt", "", &[shell("t", &[], &cmd, "t.txt")])
}

fn line_of<'a>(status: &'a str, id: &str) -> &'a str {
    status
        .lines()
        .find(|l| l.starts_with(&format!("{id} ")))
        .unwrap_or_default()
}

#[test]
fn status_says_how_far_a_stage_got_before_it_failed_or_was_killed() {
    let w = Work::new();
    w.write("p/ckpt.yaml", &checkpointing("exit 1"));
    let out = w.run(&["run", "p/ckpt.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let st = ok(&w.run(&["status", "p/ckpt.yaml"]));
    let t = line_of(&st, "t");
    assert!(
        t.contains("missing")
            && t.contains("failed after epoch 2/5, will resume from its checkpoint"),
        "{st}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ok(&w.run(&["status", "p/ckpt.yaml", "--json"]))).unwrap();
    assert_eq!(
        json[0]["resume"],
        serde_json::json!({"done": 2, "total": 5, "unit": "epoch"})
    );

    // Killed with the runner (kill -9): interrupted.
    std::fs::remove_file(w.path().join("started")).unwrap();
    w.write(
        "p/ckpt.yaml",
        &checkpointing("while [ ! -f ../go ]; do sleep 0.05; done"),
    );
    let mut run = w
        .cmd()
        .args(["run", "p/ckpt.yaml"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(30.0, "t to checkpoint", || {
        w.path().join("started").exists()
    });
    run.kill().unwrap();
    run.wait().unwrap();
    wait_for(10.0, "t's lock to be released", || {
        let st = ok(&w.run(&["status", "p/ckpt.yaml"]));
        line_of(&st, "t").contains("missing")
    });
    let st = ok(&w.run(&["status", "p/ckpt.yaml"]));
    assert!(
        line_of(&st, "t").contains("interrupted after epoch 2/5, will resume from its checkpoint"),
        "{st}"
    );
    let show = ok(&w.run(&["show", "p/ckpt.yaml", "t"]));
    assert!(show.contains("interrupted after epoch 2/5"), "{show}");

    // Finished: the work dir is gone, and so is the note.
    w.write("go", "");
    ok(&w.run(&["run", "p/ckpt.yaml"]));
    let st = ok(&w.run(&["status", "p/ckpt.yaml"]));
    assert!(line_of(&st, "t").contains("cached"), "{st}");
    assert!(!st.contains("epoch"), "{st}");
}
