//! The Slurm executor against a real cluster (`scripts/slurm-cluster start`; `.ci/run` starts
//! it and sets SKELFLOW_SLURM_TESTS=1, which makes a missing cluster a failure). Slurm's
//! commands are called through a PATH shim that logs each call, to count submissions and
//! state queries.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::common::{Work, ok, pipeline, repo_root, shell, text, wait_for, with_event};

/// Is there a cluster to test against? Without one the tests pass vacuously, unless CI
/// asked for them.
fn cluster() -> bool {
    let up = Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if std::env::var("SKELFLOW_SLURM_TESTS").as_deref() == Ok("1") {
        assert!(
            up,
            "SKELFLOW_SLURM_TESTS=1 but no Slurm cluster answers `sinfo` (scripts/slurm-cluster start)"
        );
    } else if !up {
        eprintln!("no Slurm cluster here (scripts/slurm-cluster start): skipping");
    }
    up
}

/// A project with a PATH shim: sbatch, sacct, squeue and scancel log their arguments to
/// `slurm-calls.log`, then run the real command.
fn project() -> Work {
    let w = Work::new();
    let log = w.path().join("slurm-calls.log");
    for cmd in ["sbatch", "sacct", "squeue", "scancel"] {
        let real = which(cmd).unwrap_or_else(|| panic!("{cmd} not on PATH"));
        let shim = w.write(
            &format!("shim/{cmd}"),
            &format!(
                "#!/bin/sh\necho \"{cmd} $*\" >> '{}'\nexec '{}' \"$@\"\n",
                log.display(),
                real.display()
            ),
        );
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&shim, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    w
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

fn slurm_cmd(w: &Work, args: &[&str]) -> Command {
    let mut c = w.cmd();
    let path = format!(
        "{}:{}",
        w.path().join("shim").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    c.env("PATH", path).args(args);
    c
}

fn sk(w: &Work, args: &[&str]) -> Output {
    slurm_cmd(w, args).output().expect("run skelflow")
}

fn spawn(w: &Work, args: &[&str]) -> Child {
    slurm_cmd(w, args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The logged calls of `cmd`.
fn calls(w: &Work, cmd: &str) -> Vec<String> {
    w.read("slurm-calls.log")
        .lines()
        .filter(|l| l.starts_with(&format!("{cmd} ")))
        .map(str::to_string)
        .collect()
}

/// Jobs submitted (not `--test-only` checks).
fn submitted(w: &Work) -> Vec<String> {
    calls(w, "sbatch")
        .into_iter()
        .filter(|c| !c.contains("--test-only"))
        .collect()
}

/// The Slurm id of a job recorded in the cache as computing a key. (The shim logs sbatch
/// before it runs: the record, written after, is what a run has really submitted.) Only a
/// record renamed into place counts: its temporary file holds the same JSON before the
/// rename, and a driver killed then has recorded nothing.
fn recorded_job(w: &Work) -> Option<String> {
    std::fs::read_dir(w.path().join(".skelflow/submitted"))
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            !name.starts_with('.') && name.ends_with(".json")
        })
        .find_map(|e| {
            let r: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
            r["job"].as_str().map(str::to_string)
        })
}

fn all(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

fn computed(w: &Work, pipeline: &str) -> Vec<String> {
    with_event(&w.last_events(pipeline), "finished")
}

/// `a` sleeps `nap` seconds, `b` needs it.
fn nap_pipeline(name: &str, extra: &str) -> String {
    format!(
        "{}{extra}",
        pipeline(
            name,
            "{nap: 6}",
            &[
                shell("a", &[], "sleep ${nap}; echo a > $OUT/a.txt", "a.txt"),
                shell("b", &["a"], "cat ${a.output}/a.txt > $OUT/b.txt", "b.txt"),
            ],
        )
    )
}

#[test]
fn the_shell_demo_runs_on_slurm_and_a_local_run_then_computes_nothing() {
    if !cluster() {
        return;
    }
    let w = project();
    std::fs::create_dir_all(w.path().join("pipelines")).unwrap();
    std::fs::copy(
        repo_root().join("pipelines/demo_shell.yaml"),
        w.path().join("pipelines/demo_shell.yaml"),
    )
    .unwrap();
    let out = sk(
        &w,
        &["run", "pipelines/demo_shell.yaml", "--executor", "slurm"],
    );
    ok(&out);
    let n = computed(&w, "demo_shell").len();
    assert!(n >= 10, "{n} computed:\n{}", all(&out));
    assert_eq!(submitted(&w).len(), n, "one job per instance");
    let events = w.last_events("demo_shell");
    let started: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["event"] == "started").collect();
    assert!(started.iter().all(|e| e["job"].is_string()), "{started:?}");
    // The same keys: a local run finds everything cached, and so does Slurm again.
    ok(&w.run(&["run", "pipelines/demo_shell.yaml"]));
    assert!(computed(&w, "demo_shell").is_empty());
    ok(&sk(
        &w,
        &["run", "pipelines/demo_shell.yaml", "--executor", "slurm"],
    ));
    assert!(computed(&w, "demo_shell").is_empty());
    assert_eq!(submitted(&w).len(), n, "nothing submitted twice");
    // The job's own log travels with its artifact, as for local stages.
    let show = ok(&w.run(&["show", "pipelines/demo_shell.yaml", "summary", "--log"]));
    assert!(!show.contains("no log"), "{show}");
}

#[test]
fn a_job_cancelled_with_scancel_is_reported_and_the_next_run_computes_it() {
    if !cluster() {
        return;
    }
    let w = project();
    w.write("p.yaml", &nap_pipeline("cancel", ""));
    let mut child = spawn(
        &w,
        &["run", "p.yaml", "--executor", "slurm", "--set", "nap=60"],
    );
    wait_for(60.0, "job a recorded", || recorded_job(&w).is_some());
    let id = recorded_job(&w).expect("a recorded job");
    assert!(Command::new("scancel").arg(&id).status().unwrap().success());
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cancelled: Slurm job {id} was cancelled")),
        "{err}"
    );
    let out = sk(
        &w,
        &["run", "p.yaml", "--executor", "slurm", "--set", "nap=1"],
    );
    ok(&out);
    assert_eq!(computed(&w, "cancel"), vec!["a", "b"]);
}

#[test]
fn a_job_past_its_time_is_a_timeout_and_one_over_its_memory_is_out_of_memory() {
    if !cluster() {
        return;
    }
    let w = project();
    w.write(
        "p.yaml",
        &pipeline(
            "limits",
            "",
            &[
                shell("slow", &[], "sleep 300; touch $OUT/x", "x")
                    + "    resources: {time: 1}\n",
                shell(
                    "greedy",
                    &[],
                    "python3 -c 'x = bytearray(1500 << 20); import time; time.sleep(20)'; touch $OUT/y",
                    "y",
                ) + "    resources: {mem: 900M}\n",
            ],
        ),
    );
    let out = sk(
        &w,
        &["run", "p.yaml", "--executor", "slurm", "--keep-going"],
    );
    let text = all(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAILED slow: timeout: Slurm job"), "{text}");
    assert!(
        text.contains("FAILED greedy: out of memory: Slurm job"),
        "{text}"
    );
}

#[test]
fn a_driver_killed_with_9_leaves_its_jobs_running_and_the_next_run_follows_them() {
    if !cluster() {
        return;
    }
    let w = project();
    w.write("p.yaml", &nap_pipeline("adopt", ""));
    let mut child = spawn(
        &w,
        &["run", "p.yaml", "--executor", "slurm", "--set", "nap=8"],
    );
    wait_for(60.0, "job a recorded", || recorded_job(&w).is_some());
    child.kill().unwrap();
    child.wait().unwrap();
    let out = sk(
        &w,
        &["run", "p.yaml", "--executor", "slurm", "--set", "nap=8"],
    );
    ok(&out);
    let events = w.last_events("adopt");
    let a = events
        .iter()
        .find(|e| e["event"] == "started" && e["instance"] == "a")
        .expect("a started");
    assert_eq!(a["adopted"], true, "{a}");
    assert_eq!(submitted(&w).len(), 2, "a once, b once:\n{}", all(&out));
    assert_eq!(computed(&w, "adopt"), vec!["a", "b"]);
}

#[test]
fn two_drivers_on_one_pipeline_compute_each_key_once() {
    if !cluster() {
        return;
    }
    let w = project();
    w.write("p.yaml", &nap_pipeline("twice", ""));
    let args = ["run", "p.yaml", "--executor", "slurm", "--set", "nap=4"];
    let (a, b) = (spawn(&w, &args), spawn(&w, &args));
    for c in [a, b] {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert_eq!(submitted(&w).len(), 2, "{:?}", submitted(&w));
}

#[test]
fn detach_submits_everything_status_shows_the_jobs_and_run_collects_them() {
    if !cluster() {
        return;
    }
    let w = project();
    w.write("p.yaml", &nap_pipeline("detached", ""));
    let out = sk(
        &w,
        &[
            "run",
            "p.yaml",
            "--executor",
            "slurm",
            "--detach",
            "--set",
            "nap=6",
        ],
    );
    let text = ok(&out) + &all(&out);
    assert!(
        text.contains("detached: 0 computed, 0 cached, 2 left running on the cluster"),
        "{text}"
    );
    assert_eq!(submitted(&w).len(), 2);
    assert!(
        calls(&w, "sbatch")
            .iter()
            .any(|c| c.contains("--dependency=afterok:"))
    );
    let status = ok(&sk(&w, &["status", "p.yaml", "--set", "nap=6"]));
    assert!(
        status.contains("slurm job") && (status.contains("queued") || status.contains("running")),
        "{status}"
    );
    assert!(
        status.contains("PENDING (Dependency)") || status.contains("2 batch jobs"),
        "{status}"
    );
    let out = sk(
        &w,
        &["run", "p.yaml", "--executor", "slurm", "--set", "nap=6"],
    );
    ok(&out);
    assert_eq!(
        submitted(&w).len(),
        2,
        "nothing submitted again:\n{}",
        all(&out)
    );
    let status = ok(&w.run(&["status", "p.yaml", "--set", "nap=6"]));
    assert!(status.contains("2 cached"), "{status}");
}

#[test]
fn polling_makes_one_state_query_per_round_whatever_the_number_of_jobs() {
    if !cluster() {
        return;
    }
    let w = project();
    let stages: Vec<String> = (0..12)
        .map(|i| {
            shell(
                &format!("s{i}"),
                &[],
                &format!("sleep 3; echo {i} > $OUT/x"),
                "x",
            )
        })
        .collect();
    w.write("p.yaml", &pipeline("many", "", &stages));
    let out = sk(&w, &["run", "p.yaml", "--executor", "slurm"]);
    ok(&out);
    let queries: Vec<String> = [calls(&w, "sacct"), calls(&w, "squeue")].concat();
    let widest = queries
        .iter()
        .map(|q| {
            q.split_whitespace()
                .skip_while(|a| *a != "-j")
                .nth(1)
                .unwrap_or("")
                .split(',')
                .count()
        })
        .max()
        .unwrap_or(0);
    assert_eq!(widest, 12, "one query asks for every job: {queries:?}");
    let seconds = w.last_events("many").last().unwrap()["seconds"]
        .as_f64()
        .unwrap();
    // One query a round, a round at most every second: far fewer than one per job.
    assert!(
        (queries.len() as f64) <= seconds + 2.0,
        "{} queries in {seconds:.1}s for 12 jobs: {queries:?}",
        queries.len()
    );
}

#[test]
fn bad_slurm_input_is_refused_before_anything_is_submitted() {
    if !cluster() {
        return;
    }
    let w = project();
    let one = |extra: &str| {
        pipeline(
            "bad",
            "",
            &[shell("a", &[], "echo a > $OUT/a.txt", "a.txt") + extra],
        )
    };
    let cases: [(String, &str); 3] = [
        (
            one("") + "executor: {slurm: {partition: nosuch}}\n",
            "invalid partition specified: nosuch",
        ),
        (
            one("    resources: {gpus: 1}\n"),
            "Invalid generic resource (gres) specification",
        ),
        (
            one("") + "executor: {slurm: {partitoin: debug}}\n",
            "unknown field `partitoin`",
        ),
    ];
    for (yaml, want) in cases {
        w.write("bad.yaml", &yaml);
        let out = sk(&w, &["run", "bad.yaml", "--executor", "slurm"]);
        let text = all(&out);
        assert_eq!(out.status.code(), Some(3), "{text}");
        assert!(text.contains(want), "no {want:?} in:\n{text}");
        assert!(
            calls(&w, "sbatch")
                .iter()
                .all(|c| c.contains("--test-only")),
            "{text}"
        );
    }
    // Without Slurm's commands on PATH.
    w.write("bad.yaml", &one(""));
    let out = w
        .cmd()
        .env("PATH", "/nonexistent")
        .args(["run", "bad.yaml", "--executor", "slurm"])
        .output()
        .unwrap();
    assert!(
        all(&out).contains("`sbatch` is not on PATH"),
        "{}",
        all(&out)
    );
}

/// `time` is checked for every executor, and the local one enforces it.
#[test]
fn time_is_parsed_everywhere_and_enforced_locally() {
    let w = Work::new();
    w.write(
        "p.yaml",
        &pipeline(
            "t",
            "",
            &[shell("a", &[], "echo a > $OUT/a.txt", "a.txt") + "    resources: {time: soon}\n"],
        ),
    );
    let out = w.run(&["run", "p.yaml"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        all(&out).contains("`resources.time` of stage `a` must be a wall time, found `soon`"),
        "{}",
        all(&out)
    );
    w.write(
        "p.yaml",
        &pipeline(
            "t",
            "",
            &[shell("a", &[], "sleep 60; echo a > $OUT/a.txt", "a.txt")
                + "    resources: {time: 2s}\n"],
        ),
    );
    let started = std::time::Instant::now();
    let out = w.run(&["run", "p.yaml", "--retries", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    assert!(
        all(&out).contains("retry a (retry 1 of 1): timeout: it ran past its time limit of 2s"),
        "{}",
        all(&out)
    );
    assert!(
        all(&out).contains("FAILED a: timeout: it ran past its time limit of 2s"),
        "{}",
        all(&out)
    );
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "stopped, not left to finish"
    );
}
