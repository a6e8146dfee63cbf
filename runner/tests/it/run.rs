//! Running pipelines end to end with the real binary: caching, partial reruns, explain,
//! status, identical instances, failures, resources, gc and verify.

use crate::common::{Work, ok, pipeline, repo_root, shell, sorted, text, with_event};

fn demo(w: &Work) {
    std::fs::copy(
        repo_root().join("pipelines/demo_shell.yaml"),
        w.path().join("demo.yaml"),
    )
    .unwrap();
}

#[test]
fn demo_runs_and_the_second_run_computes_nothing() {
    let w = Work::new();
    demo(&w);
    let out = w.run(&["run", "demo.yaml"]);
    ok(&out);
    let ev = w.last_events("demo_shell");
    let finished = with_event(&ev, "finished");
    assert_eq!(
        finished.len(),
        15,
        "gen, sort, stats ×4, histogram ×2, summary: {finished:?}"
    );
    assert!(with_event(&ev, "cached").is_empty());
    let summary = std::fs::read_dir(w.path().join(".skelflow/objects"))
        .unwrap()
        .count();
    assert!(summary > 0);

    // The summary collects 4 stats lines and 2 histogram lines.
    let show = ok(&w.run(&["show", "demo.yaml", "summary"]));
    let dir = show
        .lines()
        .find_map(|l| l.strip_prefix("artifact   "))
        .expect("artifact path")
        .to_string();
    let text_out = std::fs::read_to_string(std::path::Path::new(&dir).join("summary.txt")).unwrap();
    assert_eq!(
        text_out.lines().filter(|l| l.starts_with("n=")).count(),
        4,
        "{text_out}"
    );
    assert_eq!(text_out.lines().count(), 6, "{text_out}");
    assert!(text_out.contains("n=1000 min="), "{text_out}");

    let again = w.run(&["run", "demo.yaml"]);
    ok(&again);
    let ev = w.last_events("demo_shell");
    assert!(
        with_event(&ev, "started").is_empty(),
        "nothing starts: {ev:?}"
    );
    assert_eq!(with_event(&ev, "cached").len(), 15);
    assert!(
        text(&again.stderr).contains("0 computed, 15 cached"),
        "{}",
        text(&again.stderr)
    );
    // Each run persists the key components of every instance.
    let runs = std::fs::read_dir(w.path().join(".skelflow/runs/demo_shell")).unwrap();
    let records: Vec<_> = runs
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(records.len(), 2);
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(records[0].path()).unwrap()).unwrap();
    assert_eq!(rec["instances"].as_array().unwrap().len(), 15);
    assert!(rec["instances"][0]["components"]["params"]["cmd"].is_string());
}

#[test]
fn an_ablation_extending_the_demo_reuses_every_shared_instance() {
    let w = Work::new();
    demo(&w);
    std::fs::copy(
        repo_root().join("pipelines/demo_shell_ablation.yaml"),
        w.path().join("ablation.yaml"),
    )
    .unwrap();
    let text = w
        .read("ablation.yaml")
        .replace("extends: demo_shell.yaml", "extends: demo.yaml");
    w.write("ablation.yaml", &text);
    ok(&w.run(&["run", "demo.yaml"]));
    ok(&w.run(&["run", "ablation.yaml"]));
    let ev = w.last_events("demo_shell_ablation");
    let cached = with_event(&ev, "cached");
    assert_eq!(
        cached.len(),
        12,
        "gen, sort, stats of seeds 1 and 2: {cached:?}"
    );
    assert!(
        cached
            .iter()
            .all(|c| c.ends_with(",1]") || c.ends_with(",2]")),
        "{cached:?}"
    );
    assert_eq!(
        sorted(with_event(&ev, "finished")),
        [
            "gen[100,3]",
            "gen[1000,3]",
            "histogram[1000]",
            "histogram[100]",
            "sort[100,3]",
            "sort[1000,3]",
            "stats[100,3]",
            "stats[1000,3]",
            "summary"
        ]
    );
    let show = ok(&w.run(&["show", "ablation.yaml", "histogram[100]"]));
    assert!(
        show.contains("tags       ablation=bins20 size=100"),
        "{show}"
    );
}

fn chain() -> String {
    pipeline(
        "chain",
        "{n: 3}",
        &[
            shell("a", &[], "seq 1 ${n} > $OUT/a.txt", "a.txt"),
            shell(
                "b",
                &["a"],
                "awk '{ print $1 * 2 }' ${a.output}/a.txt > $OUT/b.txt",
                "b.txt",
            ),
            shell(
                "c",
                &["b"],
                "awk '{ s += $1 } END { print s }' ${b.output}/b.txt > $OUT/c.txt",
                "c.txt",
            ),
            shell("d", &[], "echo independent > $OUT/d.txt", "d.txt"),
        ],
    )
}

#[test]
fn editing_one_param_reruns_that_stage_and_its_dependents_and_explain_names_it() {
    let w = Work::new();
    w.write("chain.yaml", &chain());
    ok(&w.run(&["run", "chain.yaml"]));
    assert_eq!(
        sorted(with_event(&w.last_events("chain"), "finished")),
        ["a", "b", "c", "d"]
    );

    // Edit b's command only.
    w.write("chain.yaml", &chain().replace("$1 * 2", "$1 * 3"));
    let status = ok(&w.run(&["status", "chain.yaml"]));
    let line = |id: &str| {
        status
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("a").contains("cached"), "{status}");
    assert!(
        line("b").contains("stale") && line("b").contains("params.cmd:"),
        "{status}"
    );
    assert!(
        line("c").contains("stale") && line("c").contains("upstream b changed"),
        "{status}"
    );
    assert!(line("d").contains("cached"), "{status}");

    let explain_b = ok(&w.run(&["explain", "chain.yaml", "b"]));
    assert!(explain_b.contains("b: stale"), "{explain_b}");
    assert!(explain_b.contains("params.cmd: \"awk '{ print $1 * 2 }' ${a.output}/a.txt > $OUT/b.txt\" -> \"awk '{ print $1 * 3 }'"), "{explain_b}");
    let explain_c = ok(&w.run(&["explain", "chain.yaml", "c"]));
    assert!(explain_c.contains("upstream b changed"), "{explain_c}");
    assert!(
        explain_c.contains("params.cmd:"),
        "explain follows the upstream to its param: {explain_c}"
    );
    assert!(
        !explain_c.lines().next().unwrap().contains("params"),
        "c's own params did not change: {explain_c}"
    );

    let dry = ok(&w.run(&["run", "chain.yaml", "--dry-run"]));
    assert!(
        dry.lines()
            .any(|l| l.starts_with("run ") && l.contains(" b ") && l.contains("stale: params.cmd")),
        "{dry}"
    );
    assert!(
        dry.lines()
            .any(|l| l.starts_with("cached ") && l.contains(" a ")),
        "{dry}"
    );
    assert!(dry.contains("dry run: 2 of 4 instances would run"), "{dry}");

    ok(&w.run(&["run", "chain.yaml"]));
    let ev = w.last_events("chain");
    assert_eq!(sorted(with_event(&ev, "finished")), ["b", "c"]);
    assert_eq!(sorted(with_event(&ev, "cached")), ["a", "d"]);

    // A var override reaches a's key: a, b, c rerun; `explain` names the param value.
    let status = ok(&w.run(&["status", "chain.yaml", "--set", "n=5"]));
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("a ") && l.contains("params.cmd: \"seq 1 3")),
        "{status}"
    );
    ok(&w.run(&["run", "chain.yaml", "--set", "n=5"]));
    assert_eq!(
        sorted(with_event(&w.last_events("chain"), "finished")),
        ["a", "b", "c"]
    );
    let show = ok(&w.run(&["show", "chain.yaml", "c", "--set", "n=5"]));
    let dir = show
        .lines()
        .find_map(|l| l.strip_prefix("artifact   "))
        .unwrap()
        .to_string();
    assert_eq!(
        std::fs::read_to_string(std::path::Path::new(&dir).join("c.txt"))
            .unwrap()
            .trim(),
        "45"
    );
}

#[test]
fn missing_and_stale_states_and_dependency_files() {
    let w = Work::new();
    w.write("data/input.txt", "1\n2\n");
    w.write(
        "p.yaml",
        "name: deps\nstages:\n  count:\n    kind: shell\n    params: {cmd: \"wc -l < data/input.txt > $OUT/n.txt\", deps: [data/input.txt], outs: [n.txt]}\n",
    );
    let st = ok(&w.run(&["status", "p.yaml"]));
    assert!(
        st.lines().any(|l| l.starts_with("count ")
            && l.contains("missing")
            && l.contains("never computed")),
        "{st}"
    );
    assert!(
        !w.path().join(".skelflow").exists(),
        "status created a cache"
    );
    ok(&w.run(&["run", "p.yaml"]));
    w.write("data/input.txt", "1\n2\n3\n");
    let st = ok(&w.run(&["status", "p.yaml"]));
    assert!(
        st.lines().any(|l| l.starts_with("count ")
            && l.contains("stale")
            && l.contains("external data/input.txt")),
        "{st}"
    );
    ok(&w.run(&["run", "p.yaml"]));
    assert_eq!(with_event(&w.last_events("deps"), "finished"), ["count"]);

    std::fs::remove_file(w.path().join("data/input.txt")).unwrap();
    let out = w.run(&["run", "p.yaml"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("stage `count` depends on `data/input.txt`, which does not exist"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn identical_instances_are_computed_once_even_across_pipelines() {
    let w = Work::new();
    let stage = |id: &str| {
        shell(
            id,
            &[],
            "echo x >> ../count.txt; echo same > $OUT/s.txt",
            "s.txt",
        )
    };
    w.write(
        "one/p.yaml",
        &format!("name: one\nstages:\n{}{}", stage("base"), stage("copy")),
    );
    w.write(
        "two/p.yaml",
        &format!("name: two\nstages:\n{}", stage("baseline")),
    );
    let cache = w.path().join("shared-cache");
    let cache = cache.to_str().unwrap();
    ok(&w.run(&["--cache", cache, "run", "one/p.yaml"]));
    let ev = crate::common::events(std::path::Path::new(cache), "one", 0);
    assert_eq!(with_event(&ev, "finished"), ["base"]);
    let same: Vec<_> = ev
        .iter()
        .filter(|e| e["event"] == "cached")
        .map(|e| e["same_as"].clone())
        .collect();
    assert_eq!(
        same,
        [serde_json::json!("base")],
        "copy reuses base in the same run"
    );
    ok(&w.run(&["--cache", cache, "run", "two/p.yaml"]));
    let ev = crate::common::events(std::path::Path::new(cache), "two", 0);
    assert_eq!(
        with_event(&ev, "cached"),
        ["baseline"],
        "another pipeline reuses it too"
    );
    assert_eq!(
        w.read("count.txt").lines().count(),
        1,
        "the command ran once"
    );
}

const FAILING: &str = r#"
name: failing
stages:
  bad:
    kind: shell
    params: {cmd: "echo about to fail; echo oops >&2; exit 3", outs: [x]}
  after_bad:
    kind: shell
    needs: [bad]
    params: {cmd: "echo > $OUT/y", outs: [y]}
  slow_ok:
    kind: shell
    params: {cmd: "sleep 0.5; echo ok > $OUT/z", outs: [z]}
  after_ok:
    kind: shell
    needs: [slow_ok]
    params: {cmd: "echo > $OUT/w", outs: [w]}
"#;

#[test]
fn fail_fast_by_default_keep_going_on_request_and_show_finds_the_log() {
    let w = Work::new();
    w.write("f.yaml", FAILING);
    let out = w.run(&["run", "f.yaml", "-j", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("FAILED bad: command exited with status 3"),
        "{err}"
    );
    assert!(err.contains("| oops"), "the log tail is shown: {err}");
    let ev = w.last_events("failing");
    assert_eq!(with_event(&ev, "failed"), ["bad"]);
    assert!(with_event(&ev, "skipped").contains(&"after_bad".to_string()));
    // fail-fast: the running slow_ok finishes, but nothing new starts
    assert!(
        !with_event(&ev, "started").contains(&"after_ok".to_string()),
        "{ev:?}"
    );

    let show = ok(&w.run(&["show", "f.yaml", "bad"]));
    assert!(
        show.contains("error      command exited with status 3"),
        "{show}"
    );
    assert!(
        show.contains("| about to fail") && show.contains("| oops"),
        "{show}"
    );

    let out = w.run(&["run", "f.yaml", "--keep-going"]);
    assert_eq!(out.status.code(), Some(1));
    let ev = w.last_events("failing");
    assert_eq!(with_event(&ev, "failed"), ["bad"]);
    assert_eq!(with_event(&ev, "skipped"), ["after_bad"]);
    assert!(
        with_event(&ev, "finished").contains(&"after_ok".to_string()),
        "{ev:?}"
    );
}

#[test]
fn resources_pin_gpus_and_threads() {
    let w = Work::new();
    // Two GPU stages that can only finish if they run at the same time.
    let gpu = |me: &str, other: &str| {
        format!(
            "  {me}:\n    kind: shell\n    resources: {{gpus: 1, cpus: 1}}\n    params: {{cmd: \"touch ../{me}.ready; i=0; while [ ! -f ../{other}.ready ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; echo \\\"$CUDA_VISIBLE_DEVICES\\\" > $OUT/dev.txt\", outs: [dev.txt]}}\n"
        )
    };
    w.write(
        "g/p.yaml",
        &format!(
            "name: gpus\nstages:\n{}{}  cpu:\n    kind: shell\n    resources: {{cpus: 2}}\n    params: {{cmd: \"echo \\\"[$CUDA_VISIBLE_DEVICES] $SKELFLOW_THREADS $OMP_NUM_THREADS $RAYON_NUM_THREADS\\\" > $OUT/env.txt\", outs: [env.txt]}}\n",
            gpu("g1", "g2"),
            gpu("g2", "g1")
        ),
    );
    ok(&w.run(&["run", "g/p.yaml", "--gpus", "2", "--cpus", "4"]));
    let dev = |id: &str| {
        let show = ok(&w.run(&["show", "g/p.yaml", id]));
        let dir = show
            .lines()
            .find_map(|l| l.strip_prefix("artifact   "))
            .unwrap()
            .to_string();
        let f = if id == "cpu" { "env.txt" } else { "dev.txt" };
        std::fs::read_to_string(std::path::Path::new(&dir).join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    let mut devs = vec![dev("g1"), dev("g2")];
    devs.sort();
    assert_eq!(devs, ["0", "1"], "each GPU stage has its own device");
    assert_eq!(dev("cpu"), "[] 2 2 2");
}

#[test]
fn verify_finds_corruption_and_the_next_run_recomputes_it() {
    let w = Work::new();
    w.write("chain.yaml", &chain());
    ok(&w.run(&["run", "chain.yaml"]));
    let v = ok(&w.run(&["verify", "chain.yaml"]));
    assert!(v.contains("verified 4 artifacts: all intact"), "{v}");
    let show = ok(&w.run(&["show", "chain.yaml", "b"]));
    let dir = std::path::PathBuf::from(
        show.lines()
            .find_map(|l| l.strip_prefix("artifact   "))
            .unwrap(),
    );
    let f = dir.join("b.txt");
    let mut perm = std::fs::metadata(&f).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&f, perm).unwrap();
    std::fs::write(&f, "garbage\n").unwrap();
    let out = w.run(&["verify", "chain.yaml"]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("1 corrupt"),
        "{}",
        text(&out.stdout)
    );
    ok(&w.run(&["run", "chain.yaml"]));
    assert_eq!(with_event(&w.last_events("chain"), "finished"), ["b"]);
    let v = ok(&w.run(&["verify", "chain.yaml"]));
    assert!(v.contains("all intact"), "{v}");
}

#[test]
fn gc_keeps_recent_runs_and_removes_the_rest() {
    let w = Work::new();
    w.write("chain.yaml", &chain());
    ok(&w.run(&["run", "chain.yaml", "--set", "n=1"]));
    ok(&w.run(&["run", "chain.yaml", "--set", "n=2"]));
    let dry = ok(&w.run(&[
        "gc",
        "--keep-last",
        "1",
        "--dry-run",
        "--cache",
        ".skelflow",
    ]));
    assert!(
        dry.contains("would remove 3 artifacts"),
        "a, b, c of n=1 go; d is shared: {dry}"
    );
    let done = ok(&w.run(&["gc", "--keep-last", "1", "--cache", ".skelflow"]));
    assert!(done.contains("removed 3 artifacts"), "{done}");
    let st = ok(&w.run(&["status", "chain.yaml", "--set", "n=2"]));
    assert!(st.contains("4 cached"), "{st}");
}

#[test]
fn force_recomputes_a_cached_instance() {
    let w = Work::new();
    w.write("chain.yaml", &chain());
    ok(&w.run(&["run", "chain.yaml"]));
    ok(&w.run(&["run", "chain.yaml", "--force", "d"]));
    assert_eq!(with_event(&w.last_events("chain"), "finished"), ["d"]);
}

#[test]
fn targets_run_only_what_they_need() {
    let w = Work::new();
    demo(&w);
    let dry = ok(&w.run(&["run", "demo.yaml", "stats[100,2]", "--dry-run"]));
    assert!(dry.contains("dry run: 3 of 3 instances would run"), "{dry}");
    ok(&w.run(&["run", "demo.yaml", "stats[100,2]"]));
    assert_eq!(
        sorted(with_event(&w.last_events("demo_shell"), "finished")),
        ["gen[100,2]", "sort[100,2]", "stats[100,2]"]
    );
    ok(&w.run(&["run", "demo.yaml", "histogram"]));
    let ev = w.last_events("demo_shell");
    assert_eq!(
        sorted(with_event(&ev, "cached")),
        ["gen[100,2]", "sort[100,2]"]
    );
    assert_eq!(
        with_event(&ev, "finished").len(),
        8,
        "the other 3 gens and sorts, 2 histograms: {ev:?}"
    );
    let out = w.run(&["run", "demo.yaml", "histogrm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("did you mean `histogram`?"),
        "{}",
        text(&out.stderr)
    );
}
