//! Run records: round trip, ordering, pipelines, keep sets, log paths.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::*;
use serde_json::json;
use skelflow_cache::{InstanceRecord, InstanceState, Key, RunRecord, RunStatus, Store};

fn instance(id: &str, inputs: &[&str]) -> InstanceRecord {
    let mut components = components(id);
    components.inputs = inputs
        .iter()
        .map(|i| ("test.kind".to_string(), key(i)))
        .collect();
    InstanceRecord {
        id: id.to_string(),
        stage: id.split('[').next().unwrap().to_string(),
        kind: "test.kind".into(),
        key: components.key(),
        components,
        matrix: BTreeMap::from([("variant".to_string(), "B3".to_string())]),
        tags: BTreeMap::from([("method".to_string(), "a2mc".to_string())]),
        needs: inputs.iter().map(|s| s.to_string()).collect(),
        state: InstanceState::Computed,
        seconds: Some(2.5),
        error: None,
        log: None,
    }
}

fn run(
    store: &Store,
    pipeline: &str,
    status: RunStatus,
    instances: Vec<InstanceRecord>,
) -> RunRecord {
    let mut r = RunRecord::new(pipeline, "/p/pipeline.yaml", "flex");
    r.status = status;
    r.instances = instances;
    store.save_run(&r).unwrap();
    // ULIDs made within one millisecond are random-ordered: space the runs out.
    std::thread::sleep(std::time::Duration::from_millis(3));
    r
}

#[test]
fn a_run_record_round_trips_and_updates_in_place() {
    let (_tmp, store) = temp_store();
    let mut r = RunRecord::new("ablation_a2mc", "/p/ablation_a2mc.yaml", "flex");
    r.args = vec!["skelflow".into(), "run".into(), "ablation_a2mc.yaml".into()];
    r.vars = json!({"profile": "tiny", "data": {"root": null}});
    r.instances = vec![instance("pretrain[B3,xsub]", &["import"])];
    r.instances[0].error = Some("diverged: loss is NaN at epoch 3".into());
    r.instances[0].log = Some(store.run_log_path("ablation_a2mc", &r.id, "pretrain[B3,xsub]"));
    let path = store.save_run(&r).unwrap();
    assert_eq!(
        path,
        store
            .root()
            .join("runs/ablation_a2mc")
            .join(format!("{}.json", r.id))
    );
    assert_eq!(store.runs("ablation_a2mc").unwrap(), vec![r.clone()]);

    r.status = RunStatus::Failed;
    r.finished = Some(chrono::Utc::now());
    r.instances[0].state = InstanceState::Failed;
    store.save_run(&r).unwrap();
    assert_eq!(store.runs("ablation_a2mc").unwrap(), vec![r.clone()]);
    // Only the record, no temp files left behind.
    assert_eq!(
        names(&store.root().join("runs/ablation_a2mc")),
        [format!("{}.json", r.id)]
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"status\": \"failed\"") && text.contains("\"state\": \"failed\""),
        "{text}"
    );
}

#[test]
fn runs_are_newest_first_and_pipelines_are_listed() {
    let (_tmp, store) = temp_store();
    assert!(store.pipelines().unwrap().is_empty());
    assert!(store.runs("none").unwrap().is_empty());
    let ids: Vec<String> = (0..5)
        .map(|_| run(&store, "p/1 odd name", RunStatus::Succeeded, vec![]).id)
        .collect();
    run(&store, "other", RunStatus::Succeeded, vec![]);
    let got: Vec<String> = store
        .runs("p/1 odd name")
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    let mut want = ids.clone();
    want.reverse();
    assert_eq!(got, want);
    assert_eq!(store.pipelines().unwrap(), ["other", "p/1 odd name"]);
}

#[test]
fn keys_of_last_runs_keeps_the_newest_n_and_running_ones() {
    let (_tmp, store) = temp_store();
    let old_running = run(&store, "p", RunStatus::Running, vec![instance("r", &[])]);
    let oldest = run(
        &store,
        "p",
        RunStatus::Succeeded,
        vec![instance("old", &[])],
    );
    let middle = run(
        &store,
        "p",
        RunStatus::Failed,
        vec![instance("mid", &["mid-input"])],
    );
    let newest = run(
        &store,
        "p",
        RunStatus::Succeeded,
        vec![instance("new", &[]), instance("shared", &[])],
    );
    let q = run(
        &store,
        "q",
        RunStatus::Interrupted,
        vec![instance("q", &[])],
    );
    let key_of = |r: &RunRecord| r.instances[0].key.clone();

    let keep = store.keys_of_last_runs(2).unwrap();
    let want: BTreeSet<Key> = [
        key_of(&old_running),
        key_of(&middle),
        key("mid-input"),
        newest.instances[0].key.clone(),
        newest.instances[1].key.clone(),
        key_of(&q),
    ]
    .into();
    assert_eq!(keep, want);
    assert!(!keep.contains(&key_of(&oldest)));
    assert_eq!(store.keys_of_last_runs(10).unwrap().len(), 7);
    assert_eq!(
        store.keys_of_last_runs(0).unwrap(),
        [key_of(&old_running)].into()
    );
}

#[test]
fn a_damaged_record_is_an_error_naming_the_file() {
    let (_tmp, store) = temp_store();
    let r = run(&store, "p", RunStatus::Succeeded, vec![]);
    let path = store.root().join("runs/p").join(format!("{}.json", r.id));
    std::fs::write(&path, b"{\"id\": 1").unwrap();
    let err = store.runs("p").unwrap_err().to_string();
    assert!(err.contains(path.to_str().unwrap()), "{err}");
}

#[test]
fn log_and_event_paths_are_safe_and_distinct() {
    let (_tmp, store) = temp_store();
    let dir = store.root().join("runs/abl");
    assert_eq!(
        store.events_path("abl", "01J"),
        dir.join("01J.events.jsonl")
    );
    assert_eq!(
        store.run_log_path("abl", "01J", "pretrain[B3,xsub]"),
        dir.join("01J.logs/pretrain[B3,xsub].log")
    );
    assert_eq!(
        store.run_log_path("abl", "01J", "a/b"),
        dir.join("01J.logs/a%2Fb.log")
    );
    assert_ne!(
        store.run_log_path("abl", "01J", "a/b"),
        store.run_log_path("abl", "01J", "a%2Fb")
    );
    assert_eq!(
        store.run_log_path("abl", "01J", "..").parent().unwrap(),
        dir.join("01J.logs")
    );
}

#[test]
fn gc_keeps_what_a_live_run_names_whatever_it_is_told() {
    let (_tmp, store) = temp_store();
    commit(&store, "input", &[("x", b"1")]);
    commit(&store, "result", &[("y", b"2")]);
    commit(&store, "unrelated", &[("z", b"3")]);
    let mut r = RunRecord::new("p", "/p/p.yaml", "flex");
    r.instances = vec![instance("result", &["input"])];
    // `instance` keys its record by its components; make it the committed artifact's key
    r.instances[0].key = key("result");
    let live = store.start_run(&r).unwrap();
    assert!(store.run_is_live(live.id()).unwrap());
    assert_eq!(store.runs("p").unwrap()[0].status, RunStatus::Running);

    let report = store.gc(&BTreeSet::new(), false).unwrap();
    let removed: Vec<Key> = report.removed.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(removed, [key("unrelated")]);
    assert!(store.contains(&key("input")) && store.contains(&key("result")));
    assert_eq!(store.mark_dead_runs().unwrap(), 0, "a live run is not dead");

    drop(live);
    assert!(!store.run_is_live(&r.id).unwrap());
    assert_eq!(store.mark_dead_runs().unwrap(), 1);
    assert_eq!(store.runs("p").unwrap()[0].status, RunStatus::Interrupted);
    let report = store.gc(&BTreeSet::new(), false).unwrap();
    assert_eq!(report.removed.len(), 2);
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn a_finished_run_is_never_marked_dead() {
    let (_tmp, store) = temp_store();
    let mut r = RunRecord::new("p", "/p/p.yaml", "flex");
    let live = store.start_run(&r).unwrap();
    r.status = RunStatus::Succeeded;
    store.save_run(&r).unwrap();
    drop(live);
    assert_eq!(store.mark_dead_runs().unwrap(), 0);
    assert_eq!(store.runs("p").unwrap()[0].status, RunStatus::Succeeded);
}
