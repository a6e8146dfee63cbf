//! REPORT.md end to end: a real cache with committed artifacts (metrics.json,
//! epochs.parquet), a real run record, the A²MC ablation spec → the report, the long
//! results table, the comparison table and the plots.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, RecordBatchReader};
use arrow_select::concat::concat_batches;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use skelflow_cache::{
    ArtifactInfo, InstanceRecord, InstanceState, Key, KeyComponents, RunRecord, RunStatus, Store,
};
use skelflow_contract::{DataFacts, DataOrigin, files};
use skelflow_reports::{ReportInput, ReportOutcome, report_dir, write_report};

/// A pipeline file in a temp dir, its cache beside it, and a run being recorded.
struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    store: Store,
    run: RunRecord,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let pipelines = root.join("pipelines");
        fs::create_dir_all(&pipelines).unwrap();
        let pipeline_file = pipelines.join("ablation_a2mc.yaml");
        fs::write(&pipeline_file, "name: ablation_a2mc\n").unwrap();
        let store = Store::open(pipelines.join(".skelflow")).unwrap();
        let mut run = RunRecord::new("ablation_a2mc", &pipeline_file, "flex");
        run.id = "01JD8X3Q6V9Z2K4M7N1P5R8T0W".to_string();
        run.started = Utc.with_ymd_and_hms(2025, 11, 21, 9, 0, 0).unwrap();
        run.finished = Some(Utc.with_ymd_and_hms(2025, 11, 21, 9, 12, 3).unwrap());
        run.status = RunStatus::Succeeded;
        run.args = vec![
            "skelflow".into(),
            "run".into(),
            "pipelines/ablation_a2mc.yaml".into(),
        ];
        run.vars = json!({"profile": "quick", "data": {"root": null}});
        Fixture {
            _tmp: tmp,
            root,
            store,
            run,
        }
    }

    /// Commit an artifact with `files` and record its instance.
    #[allow(clippy::too_many_arguments)]
    fn instance(
        &mut self,
        id: &str,
        kind: &str,
        params: Value,
        inputs: &[&Key],
        seed: u64,
        tags: &[(&str, &str)],
        seconds: f64,
        files: Vec<(&str, Vec<u8>)>,
    ) -> Key {
        let mut components = KeyComponents::new(kind, 1, params);
        components.inputs = inputs
            .iter()
            .map(|k| (self.kind_of(k), (*k).clone()))
            .collect();
        components.seed = seed;
        let key = components.key();
        let lock = self.store.lock(&key).unwrap();
        let staging = self.store.begin(&lock).unwrap();
        for (name, bytes) in files {
            fs::write(staging.dir().join(name), bytes).unwrap();
        }
        staging
            .commit(ArtifactInfo {
                kind: kind.to_string(),
                instance: id.to_string(),
                components: components.clone(),
                seconds,
            })
            .unwrap();
        self.record(
            id,
            kind,
            &key,
            components,
            tags,
            InstanceState::Computed,
            Some(seconds),
        );
        key
    }

    fn kind_of(&self, key: &Key) -> String {
        self.run
            .instances
            .iter()
            .find(|i| &i.key == key)
            .map(|i| i.kind.clone())
            .unwrap()
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        id: &str,
        kind: &str,
        key: &Key,
        components: KeyComponents,
        tags: &[(&str, &str)],
        state: InstanceState,
        seconds: Option<f64>,
    ) {
        let stage = id.split('[').next().unwrap().to_string();
        let matrix: BTreeMap<String, String> = BTreeMap::new();
        self.run.instances.push(InstanceRecord {
            id: id.to_string(),
            stage,
            kind: kind.to_string(),
            key: key.clone(),
            components,
            matrix,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            needs: Vec::new(),
            state,
            seconds,
            error: None,
            log: None,
        });
    }

    fn report(&self, spec: &Value) -> ReportOutcome {
        self.store.save_run(&self.run).unwrap();
        write_report(&ReportInput {
            run: &self.run,
            store: &self.store,
            spec,
            out_dir: None,
        })
        .unwrap()
    }
}

fn metrics(rows: Value) -> Vec<u8> {
    serde_json::to_vec_pretty(&json!({ "rows": rows })).unwrap()
}

/// `provenance.json` as the data stages write it.
fn provenance(origin: DataOrigin) -> Vec<u8> {
    let facts = DataFacts {
        dataset: "NTU RGB+D 60".to_string(),
        origin,
        files: 720,
        samples: 718,
        classes: 12,
        file_list_digest: "9f2c4e1a7b3d5f60".repeat(4),
        variant: "agcn_prenorm".to_string(),
        frames: 64,
    };
    serde_json::to_vec_pretty(&facts).unwrap()
}

/// What `synth.ntu` at the `quick` size resolves to.
fn synthetic() -> DataOrigin {
    let params = json!({"size": "quick", "seed": 0, "classes": 12, "subjects": 10, "setups": 2, "sessions": 3});
    DataOrigin::Synthetic {
        generator: "synth.ntu".to_string(),
        params: serde_json::from_value(params).unwrap(),
    }
}

/// `epochs.parquet` as the training stages write it.
fn epochs_parquet(losses: &[f64]) -> Vec<u8> {
    let n = losses.len();
    let column = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
    let batch = RecordBatch::try_from_iter([
        (
            "epoch",
            Arc::new(Int64Array::from_iter_values(1..=n as i64)) as ArrayRef,
        ),
        ("loss", column(losses.to_vec())),
        ("lr", column(vec![0.01; n])),
        ("seconds", column(vec![1.5; n])),
        ("samples_per_s", column(vec![100.0; n])),
    ])
    .unwrap();
    let mut buf = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    buf
}

/// A Parquet file as one batch.
fn read_parquet(path: &Path) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(fs::File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap();
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    concat_batches(&schema, &batches).unwrap()
}

/// Paper-like accuracies for the synthetic run: the paper's minus a gap, per variant.
fn linear_top1(variant: &str, bench: &str, seed: u64) -> f64 {
    let base = match variant {
        "B1" => 41.0,
        "B2" => 42.5,
        "B3" => 44.0,
        "B4" => 43.5,
        "MC" => 46.25,
        _ => 40.0,
    };
    let view = if bench == "ntu60-xview" { 6.0 } else { 0.0 };
    base + view + seed as f64 * 0.5
}

/// The ablation as the main pipeline runs it: synth → import → pretrain → linear + 1-NN,
/// variants × benchmarks; B1 with three seeds; B4 x-view not run; an extra variant B5.
fn ablation() -> Fixture {
    let mut f = Fixture::new();
    let synth = f.instance(
        "synth",
        "synth.ntu",
        json!({"size": "quick", "seed": 0}),
        &[],
        0,
        &[],
        4.2,
        vec![("README", b"synthetic".to_vec())],
    );
    let import = f.instance(
        "import",
        "ntu.import",
        json!({"variant": "agcn_prenorm"}),
        &[&synth],
        0,
        &[("dataset", "ntu60")],
        2.5,
        vec![
            (files::DATASET_JSON, br#"{"source": "synth.ntu"}"#.to_vec()),
            (files::PROVENANCE_JSON, provenance(synthetic())),
        ],
    );
    for variant in ["B1", "B2", "B3", "B4", "MC", "B5"] {
        for bench in ["ntu60-xsub", "ntu60-xview"] {
            if variant == "B4" && bench == "ntu60-xview" {
                continue;
            }
            let seeds: &[u64] = if variant == "B1" { &[0, 1, 2] } else { &[0] };
            for &seed in seeds {
                let seed_s = seed.to_string();
                let suffix = if variant == "B1" {
                    format!(",s{seed}")
                } else {
                    String::new()
                };
                let tags = [
                    ("dataset", "ntu60"),
                    ("method", "a2mc"),
                    ("encoder", "bigru"),
                    ("variant", variant),
                    ("benchmark", bench),
                    ("seed", seed_s.as_str()),
                ];
                let losses: Vec<f64> = (0..3)
                    .map(|e| 9.0 - e as f64 * 0.8 - variant.len() as f64 * 0.1 - seed as f64 * 0.05)
                    .collect();
                let pre = f.instance(
                    &format!("pretrain[{variant},{bench}{suffix}]"),
                    "pretrain",
                    json!({"variant": variant, "benchmark": bench, "epochs": 3, "batch": 64}),
                    &[&import],
                    seed,
                    &tags,
                    60.0 + seed as f64,
                    vec![
                        ("encoder.json", b"{}".to_vec()),
                        (files::EPOCHS_PARQUET, epochs_parquet(&losses)),
                    ],
                );
                let top1 = linear_top1(variant, bench, seed);
                f.instance(
                    &format!("linear[{variant},{bench}{suffix}]"),
                    "eval.linear",
                    json!({"benchmark": bench, "epochs": 5}),
                    &[&pre, &import],
                    0,
                    &tags,
                    12.0,
                    vec![(
                        files::METRICS_JSON,
                        metrics(json!([
                            {"metric": "top1", "value": top1, "protocol": "linear-cmd", "at": "best", "split": "test"},
                            {"metric": "top1", "value": top1 - 1.0, "protocol": "linear-cmd", "at": "last", "split": "test"},
                            {"metric": "top5", "value": top1 + 20.0, "protocol": "linear-cmd", "at": "best", "split": "test"},
                        ])),
                    )],
                );
                f.instance(
                    &format!("knn[{variant},{bench}{suffix}]"),
                    "eval.knn",
                    json!({"benchmark": bench, "k": 1}),
                    &[&pre, &import],
                    0,
                    &tags,
                    3.0,
                    vec![(files::METRICS_JSON, metrics(json!([{"metric": "top1", "value": top1 - 5.0, "protocol": "knn-1nn-cosine", "k": "1"}])))],
                );
            }
        }
    }
    f
}

fn spec() -> Value {
    json!({
        "title": "A2MC ablations (Tables V and VI)",
        "intro": "Reproduces the layout of A²MC's ablations on skelflow's synthetic data.",
        "tables": [
            {
                "paper": "a2mc", "table": "V",
                "select": {"metric": "top1", "protocol": "linear-cmd", "at": "best"},
                "rows": "variant", "columns": "benchmark",
                "also": [{"label": "1-NN", "select": {"protocol": "knn-1nn*", "at": null}}]
            },
            {
                "paper": "a2mc", "table": "VI",
                "select": {"metric": "top1", "protocol": "linear*", "at": "best"},
                "rows": {"by": "variant", "map": {"A1": "B1"}}, "columns": "benchmark",
                "layout": "compact", "unmatched": "hide"
            }
        ]
    })
}

#[track_caller]
fn has(md: &str, want: &str) {
    assert!(md.contains(want), "no {want:?} in:\n{md}");
}

/// Replace what differs between machines and cache key encodings.
fn stable(text: &str, f: &Fixture) -> String {
    let mut out = text.replace(&f.root.display().to_string(), "[tmp]");
    // 64-hex keys and their 12-hex short forms
    let mut result = String::new();
    let chars: Vec<char> = out.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            .count();
        if (run == 64 || run == 12) && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            result.push_str(if run == 64 { "[key]" } else { "[short]" });
            i += run;
        } else {
            result.push(chars[i]);
            i += 1;
        }
    }
    out = result;
    out
}

#[test]
fn the_ablation_report_has_the_papers_layout_and_numbers() {
    let f = ablation();
    let out = f.report(&spec());
    assert_eq!(
        out.report,
        report_dir(&f.run.pipeline_file, "ablation_a2mc").join("REPORT.md")
    );
    assert_eq!(
        out.dir,
        f.root.join("pipelines/reports/ablation_a2mc"),
        "a pipeline outside a repository gets reports/ beside it"
    );
    let md = fs::read_to_string(&out.report).unwrap();
    insta::assert_snapshot!("ablation_report", stable(&md, &f));

    // The synthetic data is said plainly, and no reproduction is claimed.
    has(&md, "**This is not a reproduction of A²MC.**");
    has(&md, "**Dataset: synthetic.**");
    // Seeds: B1 x-sub is the mean of 41.0, 41.5, 42.0 with sample std 0.5 over 3 seeds.
    has(&md, "| B1 | ✗ | ✗ | ✗ | 41.5 ± 0.5 (n=3) | 75.6 | −34.1 |");
    // B4 x-view was not run: ours is —, the paper's number stays, Δ is —.
    has(&md, "| 43.5 | 79.0 | −35.5 | — | 86.7 | — |");
    // B5 matches no paper row: a row of its own; hidden in Table VI (`unmatched: hide`).
    has(&md, "| B5 |");
    // Table VI: A1 is filled from our B1 by the map; A2 and A3 were never run.
    has(&md, "| A1 | ✗ | ✗ | 41.5 ± 0.5 (n=3) (paper 75.6, −34.1) |");
    has(&md, "| A2 | ✗ | ✓ | — (paper 79.0) | — (paper 86.7) |");
    for tex in ["table-a2mc-V.tex", "table-a2mc-VI.tex"] {
        let t = fs::read_to_string(out.dir.join(tex)).unwrap();
        assert!(
            t.contains("\\begin{tabular}")
                && t.contains("skelflow's synthetic data, profile quick"),
            "{tex}"
        );
    }
    for plot in [
        "acc-a2mc-V.svg",
        "acc-a2mc-VI.svg",
        "loss-ntu60-xsub.svg",
        "loss-ntu60-xview.svg",
    ] {
        assert!(out.dir.join(plot).is_file(), "{plot}");
        assert!(md.contains(&format!("]({plot})")), "{plot} is embedded");
        let svg = fs::read_to_string(out.dir.join(plot)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"), "{plot}");
    }
    // Links to artifacts are relative to the report.
    assert!(md.contains("](../../.skelflow/objects/"), "{md}");
}

#[test]
fn results_parquet_is_the_long_table() {
    let f = ablation();
    let out = f.report(&spec());
    let df = read_parquet(&out.results);
    let schema = df.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    // as reports/README.md lists them: the fixed columns, then the other dims by name
    let want = "pipeline run_id instance stage kind key method variant encoder stream dataset \
                benchmark protocol metric value seed at k split";
    assert_eq!(names, want.split_whitespace().collect::<Vec<_>>());
    // 11 (variant, bench) pairs, B1 ×3 seeds → 15 instances, 3 linear + 1 knn rows each
    assert_eq!(df.num_rows(), 15 * 4);
    assert_eq!(out.result_rows, 60);
    let column = |name: &str| df.column_by_name(name).unwrap().clone();
    assert_eq!(column("stream").null_count(), 60, "a missing tag is null");
    let seeds: Vec<Option<i64>> = column("seed").as_primitive::<Int64Type>().iter().collect();
    assert!(seeds.contains(&Some(2)));
    let first = column("instance").as_string::<i32>().value(0).to_string();
    assert_eq!(first, "knn[B1,ntu60-xsub,s0]");

    let cmp = read_parquet(&out.comparison.unwrap());
    let text = |name: &str| cmp.column_by_name(name).unwrap().as_string::<i32>().clone();
    let number = |name: &str, i: usize| {
        let c = cmp.column_by_name(name).unwrap();
        c.as_primitive::<Float64Type>().iter().nth(i).unwrap()
    };
    let (row, col, table, measure) = (text("row"), text("column"), text("table"), text("measure"));
    let mc: Vec<usize> = (0..cmp.num_rows())
        .filter(|&i| {
            row.value(i) == "MC"
                && col.value(i) == "ntu60-xview"
                && table.value(i) == "V"
                && measure.is_null(i)
        })
        .collect();
    assert_eq!(mc.len(), 1);
    assert_eq!(number("ours", mc[0]), Some(52.25));
    assert_eq!(number("paper_value", mc[0]), Some(87.9));
    let delta = number("delta", mc[0]).unwrap();
    assert!((delta - (52.25 - 87.9)).abs() < 1e-9);
}

#[test]
fn the_same_inputs_give_the_same_bytes() {
    let f = ablation();
    let a = f.report(&spec());
    let first: Vec<(PathBuf, Vec<u8>)> = files(&a.dir);
    let b = f.report(&spec());
    assert_eq!(a, b);
    assert_eq!(first, files(&b.dir));
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn a_cell_with_two_results_of_one_seed_is_flagged() {
    let f = ablation();
    // without `protocol`/`at`, linear best, linear last and knn all land in each cell
    let spec = json!({"tables": [{"paper": "a2mc", "table": "V", "select": {"metric": "top1"}, "rows": "variant", "columns": "benchmark"}]});
    let out = f.report(&spec);
    let md = fs::read_to_string(&out.report).unwrap();
    assert!(md.contains("⚠ B2 / NTU-60 x-sub: seed 0 has 3 results here that differ in `at`, `k`, `protocol`, `split`"), "{md}");
}

/// An evaluation whose `metrics.json` holds `bytes`.
fn broken_eval(f: &mut Fixture, bytes: &[u8]) {
    f.instance(
        "linear[broken]",
        "eval.linear",
        json!({"broken": true}),
        &[],
        0,
        &[("variant", "B2")],
        1.0,
        vec![(files::METRICS_JSON, bytes.to_vec())],
    );
}

#[test]
fn problems_do_not_stop_the_report_but_are_listed() {
    let mut f = ablation();
    broken_eval(&mut f, b"{\"rows\": [{\"value\": 1}]}");
    let failed = KeyComponents::new("eval.linear", 1, json!({"failing": true}));
    let key = failed.key();
    f.record(
        "linear[failing]",
        "eval.linear",
        &key,
        failed,
        &[],
        InstanceState::Failed,
        None,
    );
    f.run.instances.last_mut().unwrap().error =
        Some("diverged: loss is NaN at epoch 3".to_string());
    let spec = json!({"tables": [{"paper": "a2mc", "table": "V", "select": {"metric": "acc"}, "rows": "variant", "columns": "benchmark"}]});
    let out = f.report(&spec);
    let md = fs::read_to_string(&out.report).unwrap();
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("row 0: no string `metric` (row skipped)")),
        "{:?}",
        out.warnings
    );
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("A²MC Table V: no result matches (select metric=acc)")),
        "{:?}",
        out.warnings
    );
    assert!(md.contains("## Warnings"));
    assert!(md.contains("— (diverged: loss is NaN at epoch 3)"), "{md}");
}

#[test]
fn an_invalid_spec_is_refused_with_every_error() {
    let f = ablation();
    f.store.save_run(&f.run).unwrap();
    let spec = json!({"tables": [{"paper": "a2mc", "table": "XV", "rows": "variant"}]});
    let err = write_report(&ReportInput {
        run: &f.run,
        store: &f.store,
        spec: &spec,
        out_dir: None,
    })
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("report.tables[0].columns: `columns` is required"),
        "{msg}"
    );
}

#[test]
fn a_pipeline_inside_a_repository_reports_into_its_reports_dir() {
    let f = Fixture::new();
    fs::create_dir_all(f.root.join("reports/papers")).unwrap();
    let pipeline = f.root.join("pipelines/sub/x.yaml");
    assert_eq!(
        report_dir(&pipeline, "ablation_a2mc"),
        f.root.join("reports/ablation_a2mc")
    );
    assert_eq!(
        report_dir(Path::new("/nowhere/p.yaml"), "p"),
        PathBuf::from("/nowhere/reports/p")
    );
}

#[test]
fn a_run_without_report_section_still_gets_a_report() {
    let f = ablation();
    let out = f.report(&Value::Null);
    let md = fs::read_to_string(&out.report).unwrap();
    assert!(md.starts_with("# ablation_a2mc — report\n"), "{md}");
    assert!(
        md.contains("> **Synthetic data.** These numbers come from skelflow's synthetic NTU-format corpus, profile `quick`, not from NTU RGB+D.\n"),
        "{md}"
    );
    assert!(!md.contains("How ours compares"));
    assert!(md.contains("## Run time per stage"));
    assert!(
        md.contains("| `pretrain` | pretrain | 15 | 15 | 0 | — |"),
        "{md}"
    );
    assert!(out.comparison.is_none());
}

/// A synthetic import with its provenance record.
fn synthetic_import(f: &mut Fixture) -> Key {
    f.instance(
        "synth",
        "synth.ntu",
        json!({}),
        &[],
        0,
        &[],
        1.0,
        vec![(files::PROVENANCE_JSON, provenance(synthetic()))],
    )
}

/// One linear evaluation of `import`'s data, tagged `tags`, with its top-1.
fn linear_result(f: &mut Fixture, import: &Key, tags: &[(&str, &str)], top1: f64) {
    let name: Vec<&str> = tags.iter().map(|(_, v)| *v).collect();
    f.instance(
        &format!("linear[{}]", name.join(",")),
        "eval.linear",
        json!(name),
        &[import],
        0,
        tags,
        1.0,
        vec![(
            files::METRICS_JSON,
            metrics(json!([{"metric": "top1", "value": top1, "protocol": "linear"}])),
        )],
    );
}

#[test]
fn rows_and_columns_can_match_on_several_dims() {
    let mut f = Fixture::new();
    let synth = synthetic_import(&mut f);
    // A²MC Table I: our rows are (method, encoder) pairs.
    for (encoder, top1) in [("bigru", 55.5), ("stgcn", 51.0)] {
        let tags = [
            ("method", "a2mc"),
            ("encoder", encoder),
            ("benchmark", "ntu60-xsub"),
        ];
        linear_result(&mut f, &synth, &tags, top1);
    }
    // ActCLR Table 7: rows by (transformation, region), columns by protocol (the columns' dims).
    for (region, knn, linear) in [("non-actionlet", 60.0, 70.0), ("full", 58.0, 69.0)] {
        let tags = [
            ("method", "actclr"),
            ("transformation", "noise-0.05"),
            ("region", region),
        ];
        f.instance(
            &format!("eval[{region}]"),
            "eval.linear",
            json!({"region": region}),
            &[&synth],
            0,
            &tags,
            1.0,
            vec![(
                files::METRICS_JSON,
                metrics(json!([
                    {"metric": "top1", "value": knn, "protocol": "knn"},
                    {"metric": "top1", "value": linear, "protocol": "linear"},
                ])),
            )],
        );
    }
    let spec = json!({"tables": [
        {"paper": "a2mc", "table": "I", "select": {"protocol": "linear"}, "rows": ["method", "encoder"],
         "columns": "benchmark", "paper_rows": "ran"},
        {"paper": "actclr", "table": "7", "select": {"method": "actclr"}, "rows": {"by": ["transformation", "region"]},
         "columns": "protocol", "paper_rows": "ran", "layout": "compact"}
    ]});
    let out = f.report(&spec);
    let md = fs::read_to_string(&out.report).unwrap();
    assert!(
        md.contains("| A²MC (ours) | GCN | 1.21G | 0.85M | 51.0 | 78.8 | −27.8 | — | 85.1 | — |"),
        "{md}"
    );
    assert!(
        md.contains("| A²MC (ours) | BiGRU | 2.93G | 10.0M | 55.5 | 80.0 | −24.5 |"),
        "{md}"
    );
    assert!(
        !md.contains("| CMD |"),
        "paper_rows: ran shows only the rows we ran"
    );
    // Table 7 keeps the paper's two decimals and its row group.
    assert!(md.contains("| *Noise 0.05* |"), "{md}");
    assert!(md.contains("| Noise 0.05 | Non-Actionlet | 60.00 (paper 78.04, −18.04) | 70.00 (paper 86.79, −16.79) |"), "{md}");
    assert!(
        md.contains(
            "| Noise 0.05 | Full Area | 58.00 (paper 75.28, −17.28) | 69.00 (paper 84.20, −15.20) |"
        ),
        "{md}"
    );
    // the bar chart tells the two A²MC rows apart by their encoder
    let svg = fs::read_to_string(out.dir.join("acc-a2mc-I.svg")).unwrap();
    assert!(
        svg.contains("A²MC (ours) · BiGRU") && svg.contains("A²MC (ours) · GCN"),
        "bar labels"
    );
}

#[test]
fn untrained_rows_sit_under_their_encoders_row_and_are_floors_for_it_alone() {
    let mut f = Fixture::new();
    let synth = synthetic_import(&mut f);
    // the BiGRU's untrained row (52.0) is above A²MC's GCN row (51.0) but is not its floor
    for (method, encoder, top1) in [
        ("a2mc", "bigru", 55.5),
        ("a2mc", "stgcn", 51.0),
        ("random-init", "bigru", 52.0),
        ("random-init", "stgcn", 53.0),
    ] {
        let tags = [
            ("method", method),
            ("encoder", encoder),
            ("benchmark", "ntu60-xview"),
        ];
        linear_result(&mut f, &synth, &tags, top1);
    }
    let spec = json!({"tables": [
        {"paper": "a2mc", "table": "I", "select": {"protocol": "linear"}, "rows": ["method", "encoder"],
         "columns": "benchmark", "paper_rows": "ran", "floors": ["random-init"]}
    ]});
    let md = fs::read_to_string(f.report(&spec).report).unwrap();
    // each untrained row right under the paper row of its encoder, not apart at the end
    let lines: Vec<&str> = md.lines().collect();
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{md}"))
    };
    let gcn = at("| A²MC (ours) | GCN |");
    let bigru = at("| A²MC (ours) | BiGRU |");
    assert!(
        lines[gcn + 1].starts_with("| ↳ random-init |  |  |  | — | — | — | 53.0 |"),
        "{md}"
    );
    assert!(
        lines[bigru + 1].starts_with("| ↳ random-init |  |  |  | — | — | — | 52.0 |"),
        "{md}"
    );
    assert!(!md.contains("not in the paper*"), "{md}");
    has(&md, "`↳` rows are ours alone, not in the paper");
    // each floor is compared with its own encoder's row
    has(
        &md,
        "A²MC Table I NTU-60 x-view: the random-init / stgcn floor is 53.0; A²MC (ours) · GCN (51.0) falls below it",
    );
    has(
        &md,
        "A²MC Table I NTU-60 x-view: the random-init / bigru floor is 52.0; A²MC (ours) · BiGRU (55.5) is above it.",
    );
}

#[test]
fn a_table_without_transcribed_numbers_still_shows_ours() {
    let mut f = Fixture::new();
    let tags = [("variant", "a2mc"), ("source", "ntu60-xsub")];
    f.instance(
        "transfer[a2mc]",
        "eval.transfer",
        json!({}),
        &[],
        0,
        &tags,
        1.0,
        vec![(
            files::METRICS_JSON,
            metrics(json!([{"metric": "top1", "value": 33.3, "protocol": "transfer"}])),
        )],
    );
    let spec = json!({"tables": [{"paper": "a2mc", "table": "IV", "rows": "variant", "columns": "source"}]});
    let out = f.report(&spec);
    let md = fs::read_to_string(&out.report).unwrap();
    assert!(
        md.contains("> The paper's numbers for this table are not transcribed:"),
        "{md}"
    );
    assert!(md.contains("| a2mc | 33.3 | — | — | — | — | — |"), "{md}");
    assert!(md.contains("1 cell(s) of ours, none beside a paper number (the paper's numbers are not transcribed)"), "{md}");
}

#[test]
fn instances_sharing_a_key_count_their_time_once() {
    let total = |f: &Fixture| {
        let md = fs::read_to_string(f.report(&Value::Null).report).unwrap();
        md.lines()
            .find(|l| l.starts_with("Compute time of every instance"))
            .unwrap()
            .to_string()
    };
    let mut f = ablation();
    let before = total(&f);
    // a second instance of one computation (A1 = B1 in the A²MC tables)
    let shared = f
        .run
        .instances
        .iter()
        .find(|i| i.kind == "pretrain")
        .unwrap()
        .clone();
    f.record(
        "pretrain[A1,xsub,0]",
        "pretrain",
        &shared.key,
        shared.components.clone(),
        &[],
        InstanceState::Cached,
        shared.seconds,
    );
    let after = total(&f);
    assert!(before.contains("Total "), "{before}");
    assert_eq!(
        before, after,
        "the shared instance's time was counted twice"
    );
}

#[test]
fn the_data_source_is_not_guessed_from_stage_kinds() {
    let mut f = Fixture::new();
    // a `synth.ntu` stage whose artifact has no provenance record
    f.instance(
        "synth",
        "synth.ntu",
        json!({"size": "quick"}),
        &[],
        0,
        &[],
        1.0,
        vec![("README", b"synthetic".to_vec())],
    );
    let md = fs::read_to_string(f.report(&Value::Null).report).unwrap();
    has(
        &md,
        "- **Dataset: not recorded.** No artifact of this run has a provenance record (`provenance.json`)",
    );
    has(&md, "> **Data source not recorded.**");
    assert!(!md.contains("Synthetic data"), "{md}");
}

/// A run on real files (`root` as the pipeline wrote it), with one pretraining of `params`.
fn real_run(pretrain: Option<Value>) -> Fixture {
    let mut f = Fixture::new();
    let real = DataOrigin::Real {
        root: "data/nturgb+d_skeletons".to_string(),
    };
    let import = f.instance(
        "import",
        "ntu.import",
        json!({"root": "/somewhere/else"}),
        &[],
        0,
        &[],
        1.0,
        vec![(files::PROVENANCE_JSON, provenance(real))],
    );
    if let Some(params) = pretrain {
        f.instance(
            "pretrain",
            "pretrain",
            params,
            &[&import],
            0,
            &[],
            1.0,
            vec![],
        );
    }
    f
}

#[test]
fn real_files_are_named_with_the_root_as_the_pipeline_wrote_it() {
    let f = real_run(None);
    let md = fs::read_to_string(f.report(&Value::Null).report).unwrap();
    has(
        &md,
        "- **Dataset: real.** real NTU RGB+D 60 files (720 files → 718 samples, 12 classes, variant agcn_prenorm, 64 frames; file list blake3 `9f2c4e1a7b3d5f60`; root `data/nturgb+d_skeletons` as written in the pipeline; recorded by `import`).",
    );
    // no paper to check the scale against: nothing is claimed either way
    assert!(!md.contains("paper's scale"), "{md}");
    assert!(
        !md.contains("/somewhere/else") && !md.contains("synthetic"),
        "{md}"
    );
}

#[test]
fn the_paper_scale_is_checked_against_the_papers_scale_data_not_the_profile() {
    // below A²MC's recorded scale (reports/papers/a2mc.yaml `scale:`): every gap is named
    let small = json!({"epochs": 15, "batch": 64, "max_samples": 128,
        "encoder": {"backbone": {"arch": "bigru", "hidden": 64, "layers": 1}}});
    let md = fs::read_to_string(real_run(Some(small)).report(&spec()).report).unwrap();
    has(
        &md,
        "> **Not the paper's scale — not a reproduction of A²MC.** Real data, but pretraining ran 15 epochs (A²MC: 450); \
         each pretraining epoch used at most 128 training clips, not all; bigru encoder hidden 64 (A²MC: 1024); bigru encoder layers 1 (A²MC: 3).",
    );
    // at A²MC's scale, whatever the `profile` var says (the fixture's run is `quick`)
    let paper = json!({"epochs": 450, "batch": 64, "max_samples": 0,
        "encoder": {"backbone": {"arch": "bigru", "hidden": 1024, "layers": 3}}});
    let md = fs::read_to_string(real_run(Some(paper)).report(&spec()).report).unwrap();
    has(&md, "Same kind of data at the paper's scale");
    assert!(!md.contains("Not the paper's scale"), "{md}");
    // Table I's other encoders at their published sizes are A²MC's scale too; a smaller one
    // is compared with the encoder of its own arch, an arch A²MC never trains with the list
    let stgcn = |hidden: u64| {
        json!({"epochs": 450, "batch": 64, "max_samples": 0,
            "encoder": {"backbone": {"arch": "stgcn", "hidden": hidden, "feature_dim": 256}}})
    };
    let md = fs::read_to_string(real_run(Some(stgcn(16))).report(&spec()).report).unwrap();
    has(&md, "Same kind of data at the paper's scale");
    let md = fs::read_to_string(real_run(Some(stgcn(8))).report(&spec()).report).unwrap();
    has(&md, "Real data, but stgcn encoder hidden 8 (A²MC: 16).");
    let lstm = json!({"epochs": 450, "batch": 64,
        "encoder": {"backbone": {"arch": "lstm", "hidden": 256}}});
    let md = fs::read_to_string(real_run(Some(lstm)).report(&spec()).report).unwrap();
    has(
        &md,
        "Real data, but encoder arch lstm (A²MC: bigru, transformer, stgcn, scd).",
    );
}

#[test]
fn a_report_names_no_path_of_the_machine() {
    let mut f = ablation();
    broken_eval(&mut f, b"not json");
    let out = f.report(&spec());
    let md = fs::read_to_string(&out.report).unwrap();
    has(&md, "`linear[broken]` metrics.json: not valid JSON");
    let root = f.root.display().to_string();
    assert!(!md.contains(&root), "{md}");
    for w in &out.warnings {
        assert!(!w.contains(&root), "{w}");
    }
}

#[test]
fn a_pipeline_named_like_the_crates_files_gets_a_directory_of_its_own() {
    let f = Fixture::new();
    // a skelflow repository: reports/ holds the reports crate
    let crate_dir = f.root.join("reports");
    fs::create_dir_all(crate_dir.join("papers")).unwrap();
    fs::create_dir_all(crate_dir.join("src")).unwrap();
    fs::write(crate_dir.join("src/lib.rs"), "// the crate\n").unwrap();
    let pipeline = f.root.join("pipelines/x.yaml");
    for (name, dir) in [
        ("src", "pipeline-src"),
        ("papers", "pipeline-papers"),
        ("tests", "pipeline-tests"),
        ("examples", "pipeline-examples"),
        ("Cargo.toml", "pipeline-Cargo.toml"),
        ("readme.md", "pipeline-readme.md"),
        ("build.rs", "pipeline-build.rs"),
        ("..", "pipeline-.."),
        ("pipeline-src", "pipeline-pipeline-src"),
        ("ablation_a2mc", "ablation_a2mc"),
        ("source", "source"),
    ] {
        assert_eq!(report_dir(&pipeline, name), crate_dir.join(dir), "{name}");
    }
    // a run of pipeline `src` writes beside the crate, not into its sources
    let mut run = f.run.clone();
    run.pipeline = "src".to_string();
    run.pipeline_file = pipeline;
    let out = write_report(&ReportInput {
        run: &run,
        store: &f.store,
        spec: &Value::Null,
        out_dir: None,
    })
    .unwrap();
    assert_eq!(out.dir, crate_dir.join("pipeline-src"));
    assert_eq!(
        fs::read_dir(crate_dir.join("src")).unwrap().count(),
        1,
        "only lib.rs"
    );
}
