//! Crashes and concurrency with real processes: kill -9 of the runner in the middle of a
//! stage, two runs of one pipeline at once, `status` while another process computes, Ctrl-C.

use std::process::{Child, Stdio};
use std::time::Duration;

use crate::common::{Work, ok, pipeline, shell, sorted, text, wait_for, with_event};

/// a and d are quick; b appends to count.txt then sleeps until `go` exists; c needs b.
fn slow() -> String {
    pipeline(
        "slow",
        "",
        &[
            shell("a", &[], "echo a > $OUT/a.txt", "a.txt"),
            shell(
                "b",
                &["a"],
                "echo b >> ../count.txt; i=0; while [ ! -f ../go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done; cat ${a.output}/a.txt > $OUT/b.txt",
                "b.txt",
            ),
            shell("c", &["b"], "cat ${b.output}/b.txt > $OUT/c.txt", "c.txt"),
            shell("d", &[], "echo d > $OUT/d.txt", "d.txt"),
        ],
    )
}

fn spawn(w: &Work, args: &[&str]) -> Child {
    w.cmd()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn events_so_far(w: &Work) -> Vec<serde_json::Value> {
    let dir = w.path().join(".skelflow/runs/slow");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut logs: Vec<_> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".jsonl"))
        .collect();
    logs.sort();
    let Some(last) = logs.last() else {
        return Vec::new();
    };
    std::fs::read_to_string(last)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn kill_9_during_a_stage_loses_only_that_stage() {
    let w = Work::new();
    w.write("p/slow.yaml", &slow());
    let mut run = spawn(&w, &["run", "p/slow.yaml", "-j", "4"]);
    wait_for(30.0, "b to start and a, d to finish", || {
        let ev = events_so_far(&w);
        w.read("count.txt").lines().count() == 1
            && sorted(with_event(&ev, "finished")) == ["a", "d"]
    });
    run.kill().unwrap(); // SIGKILL
    run.wait().unwrap();
    // The stage process dies with the runner (PR_SET_PDEATHSIG): its key lock is free.
    let st = ok(&w.run(&["status", "p/slow.yaml"]));
    wait_for(10.0, "b's lock to be released", || {
        let st = ok(&w.run(&["status", "p/slow.yaml"]));
        st.lines()
            .any(|l| l.starts_with("b ") && l.contains("missing"))
    });
    assert!(
        st.lines()
            .any(|l| l.starts_with("a ") && l.contains("cached")),
        "{st}"
    );

    let v = ok(&w.run(&["verify", "p/slow.yaml"]));
    assert!(v.contains("verified 2 artifacts: all intact"), "{v}");
    // The killed run's record said "running"; gc finds its process gone.
    let record = || {
        let dir = w.path().join(".skelflow/runs/slow");
        let f = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .find(|e| e.path().extension().is_some_and(|x| x == "json"))
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(f.path()).unwrap()).unwrap()
    };
    assert_eq!(record()["status"], "running");
    ok(&w.run(&["gc", "p/slow.yaml", "--dry-run"]));
    assert_eq!(record()["status"], "interrupted");

    w.write("go", "");
    ok(&w.run(&["run", "p/slow.yaml"]));
    let ev = w.run(&["status", "p/slow.yaml"]);
    assert!(
        text(&ev.stdout).contains("4 cached"),
        "{}",
        text(&ev.stdout)
    );
    let ev = crate::common::events(&w.path().join(".skelflow"), "slow", 0);
    assert_eq!(
        sorted(with_event(&ev, "cached")),
        ["a", "d"],
        "finished stages are reused"
    );
    assert_eq!(
        sorted(with_event(&ev, "finished")),
        ["b", "c"],
        "the killed stage reruns"
    );
    assert_eq!(w.read("count.txt").lines().count(), 2);
    let v = ok(&w.run(&["verify", "p/slow.yaml"]));
    assert!(v.contains("verified 4 artifacts: all intact"), "{v}");
}

#[test]
fn two_runs_at_once_both_succeed_and_each_stage_runs_once() {
    let w = Work::new();
    let stages: Vec<String> = (0..6)
        .map(|i| {
            let need = format!("s{}", i.max(3) - 3);
            let needs: &[&str] = if i >= 3 { &[&need] } else { &[] };
            let cmd = format!("echo s{i} >> ../count.txt; sleep 0.3; echo {i} > $OUT/x");
            shell(&format!("s{i}"), needs, &cmd, "x")
        })
        .collect();
    w.write("p/twice.yaml", &pipeline("twice", "", &stages));
    let one = spawn(&w, &["run", "p/twice.yaml", "-j", "2"]);
    let two = spawn(&w, &["run", "p/twice.yaml", "-j", "2"]);
    let (o1, o2) = (
        one.wait_with_output().unwrap(),
        two.wait_with_output().unwrap(),
    );
    assert!(o1.status.success(), "{}", text(&o1.stderr));
    assert!(o2.status.success(), "{}", text(&o2.stderr));
    let mut lines: Vec<String> = w.read("count.txt").lines().map(str::to_string).collect();
    lines.sort();
    assert_eq!(
        lines,
        ["s0", "s1", "s2", "s3", "s4", "s5"],
        "each stage's command ran exactly once"
    );
    let cache = w.path().join(".skelflow");
    let computed: usize = (0..2)
        .map(|b| with_event(&crate::common::events(&cache, "twice", b), "finished").len())
        .sum();
    assert_eq!(computed, 6);
}

#[test]
fn status_shows_running_and_ctrl_c_stops_cleanly() {
    let w = Work::new();
    w.write("p/slow.yaml", &slow());
    let run = spawn(&w, &["run", "p/slow.yaml"]);
    wait_for(30.0, "b to start", || {
        w.read("count.txt").lines().count() == 1
    });
    let st = ok(&w.run(&["status", "p/slow.yaml"]));
    assert!(
        st.lines()
            .any(|l| l.starts_with("b ") && l.contains("running")),
        "{st}"
    );

    // SAFETY: plain syscall on our own child.
    unsafe {
        libc::kill(run.id() as i32, libc::SIGINT);
    }
    let start = std::time::Instant::now();
    let out = run.wait_with_output().unwrap();
    assert!(start.elapsed() < Duration::from_secs(8), "stopped promptly");
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    let ev = crate::common::events(&w.path().join(".skelflow"), "slow", 0);
    assert_eq!(with_event(&ev, "interrupted"), ["b"]);
    assert_eq!(ev.last().unwrap()["status"], "interrupted");
    // The stage's process group got the signal: b is not computed behind our back.
    std::thread::sleep(Duration::from_millis(300));
    w.write("go", "");
    std::thread::sleep(Duration::from_millis(300));
    let st = ok(&w.run(&["status", "p/slow.yaml"]));
    assert!(
        st.lines()
            .any(|l| l.starts_with("b ") && l.contains("missing")),
        "{st}"
    );
    ok(&w.run(&["run", "p/slow.yaml"]));
    assert_eq!(
        sorted(with_event(
            &crate::common::events(&w.path().join(".skelflow"), "slow", 0),
            "finished"
        )),
        ["b", "c"]
    );
}
