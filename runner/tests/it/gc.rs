//! `skelflow gc` beside a `skelflow run` that computes, with real processes: the most
//! aggressive gc never removes an artifact the run needs.

use std::process::Stdio;

use crate::common::{Work, ok, pipeline, shell, wait_for, with_event};

/// `b` (slow: it waits for `../go`) needs `a`; `junk` is what gc may take.
fn gc_pipeline() -> String {
    pipeline(
        "gcrun",
        "{n: 1}",
        &[
            shell("a", &[], "echo a > $OUT/a.txt", "a.txt"),
            shell("junk", &[], "echo ${n} > $OUT/j.txt", "j.txt"),
            shell(
                "b",
                &["a"],
                "touch ../b.started; i=0; while [ ! -f ../go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; cat ${a.output}/a.txt > $OUT/b.txt",
                "b.txt",
            ),
        ],
    )
}

#[test]
fn gc_while_a_run_computes_keeps_what_the_run_needs() {
    let w = Work::new();
    w.write("p/gc.yaml", &gc_pipeline());
    let cache = w.path().join(".skelflow");
    ok(&w.run(&["run", "p/gc.yaml", "a", "junk"]));
    let first = crate::common::events(&cache, "gcrun", 0);
    let key_of = |inst: &str| {
        let e = first
            .iter()
            .find(|e| e["event"] == "finished" && e["instance"] == inst)
            .unwrap();
        e["key"].as_str().unwrap().to_string()
    };
    let artifact = |key: &str| cache.join("objects").join(&key[..2]).join(key);
    let (a, junk) = (artifact(&key_of("a")), artifact(&key_of("junk")));
    assert!(a.exists() && junk.exists());

    let run = w
        .cmd()
        .args(["run", "p/gc.yaml", "b", "--set", "n=2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(60.0, "b to start", || w.path().join("b.started").exists());
    let mut removed = Vec::new();
    for _ in 0..3 {
        let out = ok(&w.run(&["gc", "--keep-last", "0", "--cache", ".skelflow"]));
        removed.push(out);
        assert!(a.exists(), "gc removed `a`, which the running b needs");
    }
    assert!(
        removed[0].contains("removed 1 artifact "),
        "junk of n=1 goes: {removed:?}"
    );
    assert!(!junk.exists());
    std::fs::write(w.path().join("go"), "").unwrap();
    let out = run.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = crate::common::events(&cache, "gcrun", 0);
    assert_eq!(with_event(&ev, "cached"), ["a"]);
    assert_eq!(with_event(&ev, "finished"), ["b"]);
    assert!(a.exists());
    // The run is over: what it named is now only kept by --keep-last.
    let out = ok(&w.run(&[
        "gc",
        "--keep-last",
        "1",
        "--dry-run",
        "--cache",
        ".skelflow",
    ]));
    assert!(out.contains("would remove 0 artifacts"), "{out}");
}
