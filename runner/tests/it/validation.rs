//! Bad pipelines: every kind of mistake gets a located error (file:line:column), a hint, and
//! all errors come at once; nothing runs and the exit code is 3. Messages are snapshots.
//! Also: DAG output in each format, and `skelflow kinds`.

use crate::common::{Work, bin, repo_root, text};

fn fixtures() -> std::path::PathBuf {
    repo_root().join("runner/tests/fixtures/invalid")
}

/// Run skelflow in the fixtures directory; return (exit code, stderr).
fn skelflow(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut c = std::process::Command::new(bin());
    c.current_dir(fixtures())
        .env("NO_COLOR", "1")
        .env_remove("SKELFLOW_CACHE")
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (out.status.code().unwrap_or(-1), text(&out.stderr))
}

/// Check a pipeline: exit code 3, stderr snapshot, nothing created beside it.
#[track_caller]
fn invalid(name: &str, args: &[&str]) -> String {
    invalid_env(name, args, &[])
}

#[track_caller]
fn invalid_env(name: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let (code, err) = skelflow(args, env);
    assert_eq!(code, 3, "exit code for {name}\n{err}");
    assert!(
        !fixtures().join(".skelflow").exists(),
        "validation must not create a cache"
    );
    // Every error names file:line:column and has a hint.
    let errors = err.matches("\nerror: ").count() + err.starts_with("error: ") as usize;
    assert!(errors >= 2, "errors plus the summary line:\n{err}");
    for block in err
        .split("\n\n")
        .filter(|b| b.starts_with("error: ") && b.trim_end().contains('\n'))
    {
        assert!(block.contains(" --> "), "no location in\n{block}");
        assert!(block.contains("= help: "), "no hint in\n{block}");
    }
    err
}

#[test]
fn yaml_syntax_error() {
    insta::assert_snapshot!("syntax", invalid("syntax", &["dag", "syntax.yaml"]));
}

#[test]
fn unknown_keys_at_every_level_are_reported_together() {
    let err = invalid("unknown_keys", &["dag", "unknown_keys.yaml"]);
    assert!(err.contains("unknown top-level key `varz`"));
    assert!(err.contains("unknown key `nedds` in stage `train`"));
    assert!(err.contains("unknown resource `cpu` in stage `train`"));
    insta::assert_snapshot!("unknown_keys", err);
}

#[test]
fn unknown_kind_suggests_the_closest() {
    let err = invalid("unknown_kind", &["dag", "unknown_kind.yaml"]);
    assert!(err.contains("did you mean `shell`?"));
    assert!(err.contains("stage `train` has no `kind`"));
    insta::assert_snapshot!("unknown_kind", err);
}

#[test]
fn unknown_and_badly_typed_params() {
    let err = invalid("params", &["dag", "params.yaml"]);
    assert!(err.contains("invalid param `cmdd` in stage `prepare`: unknown param"));
    assert!(err.contains("invalid param `outs` in stage `prepare`: invalid type"));
    assert!(err.contains("invalid param `cmd` in stage `train`: is required"));
    insta::assert_snapshot!("params", err);
}

#[test]
fn a_mistake_inside_a_preset_or_structure_param_is_named() {
    // encoder, views and synthetic take a name or a structure: the error is the inner
    // field's, not "data did not match any variant"
    let err = invalid("nested_params", &["dag", "nested_params.yaml"]);
    for expected in [
        "`synthetic.clases` in stage `import`: unknown field `clases`, expected one of `size`, `classes`",
        "`encoder.backbone` in stage `pretrain`: unknown field `hiden`",
        "`views[1][0]` in stage `pretrain`: unknown field `min_ratio`, expected one of `frames`, `lo`, `hi`, `min_frames`",
        "nested_params.yaml:16:12",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in\n{err}");
    }
    assert!(!err.contains("did not match any variant"), "{err}");
    insta::assert_snapshot!("nested_params", err);
}

#[test]
fn bad_needs() {
    let err = invalid("needs", &["dag", "needs.yaml"]);
    assert!(err.contains("stage `train` needs `prepar`, which is not a stage of this pipeline"));
    assert!(err.contains("did you mean `prepare`?"));
    assert!(err.contains("`prepare` is listed twice in `needs` of `train`"));
    assert!(err.contains("`needs` must be a list of stage ids, found a mapping"));
    insta::assert_snapshot!("needs", err);
}

#[test]
fn bad_references() {
    let err = invalid("references", &["dag", "references.yaml"]);
    for expected in [
        "unknown matrix axis `sed`",
        "unknown variable `scal`",
        "`${other.output}` refers to stage `other`, which is not in `needs` of `use`",
        "`${gen.output}` is ambiguous in stage `use`: it matches 2 instances of `gen`",
        "unknown stage `gne` in `${gne.output}`",
        "unknown variable `profile`",
        "unterminated `${`",
        "unknown variable `profiles.quick.epoch`",
    ] {
        assert!(err.contains(expected), "missing `{expected}` in\n{err}");
    }
    insta::assert_snapshot!("references", err);
}

#[test]
fn duplicate_ids_across_includes() {
    let err = invalid("duplicate", &["dag", "duplicate/main.yaml"]);
    assert!(err.contains("duplicate stage id `prepare`"));
    assert!(err.contains("duplicate stage id `train`"));
    assert!(
        err.contains("duplicate/data.yaml:2:3"),
        "the first definition is shown:\n{err}"
    );
    insta::assert_snapshot!("duplicate", err);
}

#[test]
fn cycles_are_named() {
    let err = invalid("cycle", &["dag", "cycle.yaml"]);
    assert!(err.contains("cycle in `needs`: a → c → b → a"), "{err}");
    assert!(err.contains("cycle in `needs`: d → d"), "{err}");
    insta::assert_snapshot!("cycle", err);
}

#[test]
fn matrix_problems() {
    let err = invalid("matrix", &["dag", "matrix.yaml"]);
    assert!(err.contains("matrix axis `bench` of stage `a` has no values"));
    assert!(err.contains("has the label `0.1` twice"));
    assert!(err.contains("matrix label `run one` of axis `name` cannot be part of an instance id"));
    assert!(err.contains("matrix axis `variant` of stage `a` must be a list or a mapping"));
    assert!(err.contains("stage `b` follows the matrix of `trian`, which is not a stage"));
    assert!(err.contains("axis `size` has plain values, which have no fields"));
    insta::assert_snapshot!("matrix", err);
}

#[test]
fn needs_join_without_a_matching_instance() {
    let err = invalid("join", &["dag", "join.yaml"]);
    assert!(err.contains(
        "`linear[xset]` needs `pretrain`, but no instance of `pretrain` has bench = xset"
    ));
    assert!(err.contains("`${pretrain.output}` is ambiguous in stage `summary`"));
    insta::assert_snapshot!("join", err);
}

#[test]
fn type_errors() {
    let err = invalid("types", &["dag", "types.yaml"]);
    assert!(err.contains("`seed` must be an integer >= 0"));
    assert!(err.contains("`kind` must be a string, found a list"));
    assert!(err.contains("`resources.cpus` of stage `b` must be an integer >= 1, found `two`"));
    assert!(err.contains("`resources.mem` of stage `b` must be a size, found `lots`"));
    insta::assert_snapshot!("types", err);
}

#[test]
fn resources_beyond_the_pool() {
    let err = invalid(
        "resources",
        &[
            "run",
            "--dry-run",
            "resources.yaml",
            "--cpus",
            "2",
            "--gpus",
            "0",
            "--mem",
            "8G",
        ],
    );
    assert!(err.contains("stage `big` asks for 64 cpus but the pool has 2"));
    assert!(err.contains("stage `big` asks for 2 gpus but the pool has 0"));
    assert!(err.contains("stage `big` asks for 64T of memory but the pool has 8G"));
    insta::assert_snapshot!("resources", err);
}

#[test]
fn overriding_an_undeclared_var() {
    let err = invalid_env(
        "set",
        &["dag", "ok.yaml", "--set", "scael=4", "--set", "data.rot=/x"],
        &[("SKELFLOW_VAR_SCALES", "2")],
    );
    assert!(err.contains("--set sets `scael`, which the pipeline does not declare"));
    assert!(err.contains("did you mean `scale`?"));
    assert!(err.contains("--set sets `data.rot`"));
    assert!(err.contains("environment variable sets `scales`"));
    insta::assert_snapshot!("set", err);
}

#[test]
fn extends_a_missing_file() {
    let err = invalid("extends_missing", &["dag", "extends_missing.yaml"]);
    assert!(err.contains("cannot read `base_that_does_not_exist.yaml`"));
    insta::assert_snapshot!("extends_missing", err);
}

#[test]
fn a_good_pipeline_passes_with_overrides() {
    let (code, err) = skelflow(
        &["dag", "ok.yaml", "--set", "scale=4"],
        &[("SKELFLOW_VAR_DATA__ROOT", "/data")],
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let (code, err) = skelflow(&["dag", "no_such_pipeline.yaml"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no pipeline file `no_such_pipeline.yaml`"));
    let (code, _) = skelflow(&["run", "ok.yaml", "--bogus-flag"], &[]);
    assert_eq!(code, 2);
    let (code, err) = skelflow(&["explain", "ok.yaml", "helo"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("did you mean `hello`?"), "{err}");
    if !cfg!(feature = "tch") {
        let (code, err) = skelflow(&["dag", "ok.yaml", "--backend", "tch-cpu"], &[]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("backend `tch-cpu` is not built into this skelflow"),
            "{err}"
        );
    }
}

#[test]
fn dag_in_every_format() {
    let w = Work::new();
    std::fs::copy(
        repo_root().join("pipelines/demo_shell.yaml"),
        w.path().join("demo.yaml"),
    )
    .unwrap();
    for (format, name) in [
        ("text", "dag_text"),
        ("mermaid", "dag_mermaid"),
        ("dot", "dag_dot"),
    ] {
        let out = w.run(&["dag", "demo.yaml", "--format", format]);
        insta::assert_snapshot!(name, crate::common::ok(&out));
    }
    let out = w.run(&["dag", "demo.yaml", "--stages"]);
    insta::assert_snapshot!("dag_stages", crate::common::ok(&out));
}

#[test]
fn kinds_lists_the_registry_and_a_kinds_params() {
    let w = Work::new();
    let list = crate::common::ok(&w.run(&["kinds"]));
    assert!(list.contains("shell"), "{list}");
    let shell = crate::common::ok(&w.run(&["kinds", "shell"]));
    for p in ["cmd", "deps", "outs", "env"] {
        assert!(
            shell.lines().any(|l| l.starts_with(p)),
            "param {p} in\n{shell}"
        );
    }
    let out = w.run(&["kinds", "shel"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("did you mean `shell`?"));
}

#[test]
fn report_section_errors_point_into_the_yaml() {
    insta::assert_snapshot!("report", invalid("report", &["run", "report.yaml"]));
}
