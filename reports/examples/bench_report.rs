//! How long regenerating a report takes (`skelflow report <pipeline>` minus the CLI):
//! read the newest run record from the cache, read every metrics.json and epochs.parquet,
//! render the tables and plots, write REPORT.md, results.parquet and comparison.parquet.
//!
//! The cache is built here with the shape of the A²MC ablation at paper scale: 5 variants
//! × 2 benchmarks × 3 seeds, each pretrain (450-epoch loss curve) → linear + 1-NN.
//!
//!     cargo run --release -p skelflow-reports --example bench_report [-- <repeats> [<out dir>]]
//!
//! With an output directory the report is written there (to look at), else into the
//! temporary directory beside the cache.

use std::fs;
use std::time::Instant;

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use parquet::arrow::ArrowWriter;
use serde_json::json;
use skelflow_cache::{
    ArtifactInfo, InstanceRecord, InstanceState, Key, KeyComponents, RunRecord, RunStatus, Store,
};
use skelflow_contract::{DataFacts, DataOrigin, files};
use skelflow_reports::{ReportInput, write_report};

#[allow(clippy::too_many_arguments)]
fn commit(
    store: &Store,
    run: &mut RunRecord,
    id: &str,
    kind: &str,
    params: serde_json::Value,
    inputs: Vec<(String, Key)>,
    tags: &[(&str, String)],
    files: Vec<(&str, Vec<u8>)>,
) -> Key {
    let mut components = KeyComponents::new(kind, 1, params);
    components.inputs = inputs;
    let key = components.key();
    if !store.contains(&key) {
        let lock = store.lock(&key).unwrap();
        let staging = store.begin(&lock).unwrap();
        for (name, bytes) in files {
            fs::write(staging.dir().join(name), bytes).unwrap();
        }
        staging
            .commit(ArtifactInfo {
                kind: kind.into(),
                instance: id.into(),
                components: components.clone(),
                seconds: 1.0,
            })
            .unwrap();
    }
    run.instances.push(InstanceRecord {
        id: id.into(),
        stage: id.split('[').next().unwrap().into(),
        kind: kind.into(),
        key: key.clone(),
        components,
        matrix: Default::default(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        needs: vec![],
        state: InstanceState::Cached,
        seconds: Some(1.0),
        error: None,
        log: None,
    });
    key
}

fn main() {
    let repeats: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let out_dir = std::env::args().nth(2).map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let pipeline_file = tmp.path().join("ablation_a2mc.yaml");
    fs::write(&pipeline_file, "name: ablation_a2mc\n").unwrap();
    let store = Store::open(tmp.path().join(".skelflow")).unwrap();
    let mut run = RunRecord::new("ablation_a2mc", &pipeline_file, "flex");
    run.status = RunStatus::Succeeded;
    run.vars = json!({"profile": "paper"});
    let provenance = serde_json::to_vec(&DataFacts {
        dataset: "NTU RGB+D 60".into(),
        origin: DataOrigin::Synthetic {
            generator: "synth.ntu".into(),
            params: serde_json::from_value(json!({"size": "paper"})).unwrap(),
        },
        files: 56_880,
        samples: 56_880,
        classes: 60,
        file_list_digest: "0".repeat(64),
        variant: "agcn_prenorm".into(),
        frames: 64,
    })
    .unwrap();
    let synth = commit(
        &store,
        &mut run,
        "synth",
        "synth.ntu",
        json!({}),
        vec![],
        &[],
        vec![("x", vec![1])],
    );
    let import = commit(
        &store,
        &mut run,
        "import",
        "ntu.import",
        json!({}),
        vec![("synth.ntu".into(), synth)],
        &[],
        vec![(files::PROVENANCE_JSON, provenance)],
    );
    for variant in ["B1", "B2", "B3", "B4", "MC"] {
        for bench in ["ntu60-xsub", "ntu60-xview"] {
            for seed in 0..3 {
                let tags = [
                    ("variant", variant.to_string()),
                    ("benchmark", bench.to_string()),
                    ("seed", seed.to_string()),
                    ("method", "a2mc".to_string()),
                ];
                let epochs = 450;
                let batch = RecordBatch::try_from_iter([
                    (
                        "epoch",
                        Arc::new(Int64Array::from_iter_values(1..=epochs)) as ArrayRef,
                    ),
                    (
                        "loss",
                        Arc::new(Float64Array::from_iter_values(
                            (0..epochs).map(|e| 9.0 / (1.0 + e as f64 * 0.01) + seed as f64 * 0.01),
                        )),
                    ),
                    (
                        "lr",
                        Arc::new(Float64Array::from(vec![0.01; epochs as usize])),
                    ),
                ])
                .unwrap();
                let mut parquet = Vec::new();
                let mut writer = ArrowWriter::try_new(&mut parquet, batch.schema(), None).unwrap();
                writer.write(&batch).unwrap();
                writer.close().unwrap();
                let id = format!("[{variant},{bench},{seed}]");
                let params =
                    json!({"variant": variant, "benchmark": bench, "seed": seed, "epochs": epochs});
                let pre = commit(
                    &store,
                    &mut run,
                    &format!("pretrain{id}"),
                    "pretrain",
                    params.clone(),
                    vec![("ntu.import".into(), import.clone())],
                    &tags,
                    vec![(files::EPOCHS_PARQUET, parquet)],
                );
                let top1 = 70.0 + seed as f64 * 0.3;
                let m = json!({"rows": [
                    {"metric": "top1", "value": top1, "protocol": "linear", "at": "best"},
                    {"metric": "top1", "value": top1 - 0.5, "protocol": "linear", "at": "last"},
                    {"metric": "top5", "value": top1 + 20.0, "protocol": "linear", "at": "best"}]});
                commit(
                    &store,
                    &mut run,
                    &format!("linear{id}"),
                    "eval.linear",
                    params.clone(),
                    vec![("pretrain".into(), pre.clone())],
                    &tags,
                    vec![(files::METRICS_JSON, m.to_string().into_bytes())],
                );
                let k = json!({"rows": [{"metric": "top1", "value": top1 - 6.0, "protocol": "knn", "k": "1"}]});
                commit(
                    &store,
                    &mut run,
                    &format!("knn{id}"),
                    "eval.knn",
                    params,
                    vec![("pretrain".into(), pre)],
                    &tags,
                    vec![(files::METRICS_JSON, k.to_string().into_bytes())],
                );
            }
        }
    }
    store.save_run(&run).unwrap();
    let spec = json!({"tables": [
        {"paper": "a2mc", "table": "V", "select": {"metric": "top1", "protocol": "linear", "at": "best"}, "rows": "variant", "columns": "benchmark",
         "also": [{"label": "1-NN", "select": {"protocol": "knn", "k": 1, "at": null}}]},
        {"paper": "a2mc", "table": "VI", "select": {"metric": "top1", "protocol": "linear", "at": "best"}, "rows": {"by": "variant", "map": {"A1": "B1"}}, "columns": "benchmark"}]});

    let mut times = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        let newest = store.runs("ablation_a2mc").unwrap().remove(0);
        let out = write_report(&ReportInput {
            run: &newest,
            store: &store,
            spec: &spec,
            out_dir: out_dir.as_deref(),
        })
        .unwrap();
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(out.report.is_file());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "report regeneration ({} instances, {} results, 30 loss curves of 450 epochs): min {:.1} ms, median {:.1} ms, max {:.1} ms over {repeats} runs",
        run.instances.len(),
        run.instances
            .iter()
            .filter(|i| i.kind.starts_with("eval"))
            .count()
            * 2,
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
}
