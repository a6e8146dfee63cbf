//! The downstream evaluations through the stage kinds on a tiny synthetic set: labelled
//! subsets (`data.subset`), finetuning (`eval.finetune`) against the linear probe, and
//! score-level fusion (`eval.fuse`).

use std::path::{Path, PathBuf};

use crate::learn_common::*;
use skelflow_stages::StageKind;
use skelflow_stages::data::subset::{DataSubset, Subset};
use skelflow_stages::evals::finetune::EvalFinetune;
use skelflow_stages::evals::fuse::EvalFuse;
use skelflow_stages::evals::scores::{Scores, ScoresMeta, read_scores, write_scores};

const CLASSES: usize = 8;

fn encoder() -> serde_json::Value {
    serde_json::json!({
        "backbone": {"arch": "bigru", "hidden": 32, "layers": 1},
        "proj_dim": 32,
        "mlp": false,
    })
}

fn read_subset(dir: &Path) -> Subset {
    serde_json::from_str(&std::fs::read_to_string(dir.join("subset.json")).unwrap()).unwrap()
}

fn subset(root: &Path, data: &Path, strategy: &str, ratio: f64) -> PathBuf {
    run(
        &DataSubset,
        &context(
            &DataSubset,
            root,
            &format!("subset-{strategy}-{ratio}"),
            serde_json::json!({"benchmark": "synthetic", "strategy": strategy, "ratio": ratio}),
            &[("shell", data)],
        ),
    )
}

#[test]
fn subset_sizes_follow_each_strategys_formula_on_the_imported_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    write_dataset(&data, 203, 16, 20, CLASSES);
    let (_, labels) = make_clips(203, 20, CLASSES, 1);
    let n_c: Vec<usize> = (0..CLASSES)
        .map(|c| labels.iter().filter(|&&l| l == c as i64).count())
        .collect();
    for ratio in [0.05, 0.1, 0.5] {
        let per_class: usize = n_c
            .iter()
            .map(|&n| (ratio * n as f64).round_ties_even() as usize)
            .sum();
        let global = (203.0 * ratio).floor() as usize;
        let first = (ratio * 203.0 / CLASSES as f64).floor() as usize * CLASSES;
        for (strategy, want) in [
            ("per_class", per_class),
            ("global", global),
            ("per_class_first", first),
        ] {
            let s = read_subset(&subset(root, &data, strategy, ratio));
            assert_eq!(s.indices.len(), want, "{strategy} at {ratio}");
            assert_eq!((s.train, s.classes, s.ratio), (203, CLASSES, ratio));
            assert!(s.indices.windows(2).all(|w| w[0] < w[1]));
            assert_eq!(s.per_class.iter().sum::<usize>(), want);
        }
    }
    // a ratio that keeps no sample is an error naming the param, not an empty subset
    let ctx = context(
        &DataSubset,
        root,
        "subset-empty",
        serde_json::json!({"benchmark": "synthetic", "strategy": "global", "ratio": 0.001}),
        &[("shell", &data)],
    );
    let err = DataSubset.run_stage(&ctx).unwrap_err().to_string();
    assert!(
        err.contains("`ratio`") && err.contains("keeps none"),
        "{err}"
    );
}

#[test]
fn finetuning_moves_the_encoder_and_beats_its_linear_probe() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    write_dataset(&data, 256, 128, 30, CLASSES);
    let random = random_encoder(root, encoder());
    let schedule = serde_json::json!({"epochs": 8, "lr": 0.05, "batch": 32, "milestones": [6], "test_every": 2});
    let mut params = serde_json::json!({"protocol": "cmd", "benchmark": "synthetic"});
    params
        .as_object_mut()
        .unwrap()
        .extend(schedule.as_object().unwrap().clone());
    let ft = run(
        &EvalFinetune,
        &context(
            &EvalFinetune,
            root,
            "finetune",
            params.clone(),
            &[("encoder.init", &random), ("shell", &data)],
        ),
    );
    let before = std::fs::read(random.join("encoder.bpk")).unwrap();
    let after = std::fs::read(ft.join("encoder.bpk")).unwrap();
    assert_ne!(
        before, after,
        "finetuning left the encoder's weights as they were"
    );

    let (feats, lin) = extract_and_linear(
        root,
        "random",
        &random,
        ("shell", &data),
        serde_json::json!({"benchmark": "synthetic"}),
        serde_json::json!({"protocol": "cmd", "epochs": 8, "lr": 0.1, "milestones": [6]}),
    );
    // the probe read features of the encoder artifact and wrote nothing back into it
    assert_eq!(std::fs::read(random.join("encoder.bpk")).unwrap(), before);
    let ft_top1 = metric(&ft, "top1", &[("at", "best"), ("protocol", "finetune-cmd")]);
    let lin_top1 = metric(&lin, "top1", &[("at", "best")]);
    println!("finetune {ft_top1:.1} vs linear probe {lin_top1:.1} (random-init encoder)");
    assert!(ft_top1 > lin_top1, "finetune {ft_top1} ≤ linear {lin_top1}");
    // tested every 2 epochs: a top-1 in epochs 2, 4, 6, 8 only (null elsewhere)
    assert_eq!(
        tested_epochs(&ft.join("epochs.parquet")),
        [false, true, false, true, false, true, false, true]
    );

    // both wrote per-sample scores of the same 128 test clips; the best column is the best epoch's
    let (meta, scores) = read_scores(&ft).unwrap();
    assert_eq!(
        (scores.index.len(), meta.classes, meta.benchmark.as_str()),
        (128, CLASSES, "synthetic")
    );
    let (_, lin_scores) = read_scores(&lin).unwrap();
    assert_eq!(lin_scores.label, scores.label);
    let best = skelflow_stages::evals::topk_accuracy(&scores.best, CLASSES, &scores.label, 1);
    assert!((best - ft_top1).abs() < 1e-9, "{best} vs {ft_top1}");

    // semi-supervised: a quarter of the labels, recorded as the label fraction
    let quarter = subset(root, &data, "per_class", 0.25);
    let semi = run(
        &EvalFinetune,
        &context(
            &EvalFinetune,
            root,
            "finetune-semi",
            params,
            &[
                ("encoder.init", &random),
                ("shell", &data),
                ("data.subset", &quarter),
            ],
        ),
    );
    let semi_top1 = metric(&semi, "top1", &[("at", "best"), ("label_fraction", "0.25")]);
    println!("finetune on 25 % of the labels: {semi_top1:.1}");
    let semi_lin = run(
        &skelflow_stages::evals::linear::EvalLinear,
        &context(
            &skelflow_stages::evals::linear::EvalLinear,
            root,
            "linear-semi",
            serde_json::json!({"protocol": "cmd", "epochs": 2}),
            &[("extract", &feats), ("data.subset", &quarter)],
        ),
    );
    let lin_epochs = epoch_columns(&semi_lin.join("epochs.parquet"));
    assert_eq!(epoch_column(&lin_epochs, "loss").len(), 2);
    assert!(
        metric(
            &semi_lin,
            "top1",
            &[("label_fraction", "0.25"), ("at", "last")]
        ) >= 0.0
    );
}

/// Which rows of an `epochs.parquet` have a `top1`.
fn tested_epochs(path: &Path) -> Vec<bool> {
    use arrow_array::Array;
    let f = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let mut out = Vec::new();
    for b in reader {
        let col = b.unwrap().column_by_name("top1").unwrap().clone();
        out.extend((0..col.len()).map(|i| col.is_valid(i)));
    }
    out
}

fn fake_scores(
    root: &Path,
    name: &str,
    stream: &str,
    benchmark: &str,
    rows: &[[f32; 3]],
    labels: &[usize],
) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    write_scores(
        &dir,
        &ScoresMeta {
            benchmark: benchmark.into(),
            stream: stream.into(),
            classes: 3,
            protocol: "linear-cmd".into(),
            best_epoch: 1,
            last_epoch: 1,
            label_fraction: None,
        },
        &Scores {
            index: (0..labels.len()).collect(),
            label: labels.to_vec(),
            classes: 3,
            best: flat.clone(),
            last: flat,
        },
    )
    .unwrap();
    dir
}

fn fuse(
    root: &Path,
    name: &str,
    params: serde_json::Value,
    inputs: &[&Path],
) -> Result<PathBuf, String> {
    let ins: Vec<(&str, &Path)> = inputs.iter().map(|p| ("eval.linear", *p)).collect();
    let ctx = context(&EvalFuse, root, name, params, &ins);
    let _rng = rng_lock();
    EvalFuse
        .run_stage(&ctx)
        .map(|_| ctx.out_dir.clone())
        .map_err(|e| e.to_string())
}

#[test]
fn fusion_adds_weighted_stream_scores_of_one_test_set() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let labels = [0, 1, 2, 0];
    // joint: right on samples 0, 1; bone: right on samples 2, 3 and confidently wrong on 0
    let joint = fake_scores(
        root,
        "j",
        "joint",
        "ntu60-xsub",
        &[
            [2.0, 0.0, 0.0],
            [0.0, 2.0, 0.0],
            [1.0, 0.0, 0.9],
            [0.0, 1.0, 0.0],
        ],
        &labels,
    );
    let bone = fake_scores(
        root,
        "b",
        "bone",
        "ntu60-xsub",
        &[
            [0.0, 1.0, 0.0],
            [0.0, 0.5, 0.0],
            [0.0, 0.0, 3.0],
            [3.0, 0.0, 0.0],
        ],
        &labels,
    );
    let top1 = |dir: &Path| metric(dir, "top1", &[("at", "best")]);
    let same = fuse(root, "jj", serde_json::json!({}), &[&joint, &joint]).unwrap();
    assert_eq!(
        top1(&same),
        50.0,
        "fusing a stream with itself must change nothing"
    );
    let jb = fuse(root, "jb", serde_json::json!({}), &[&joint, &bone]).unwrap();
    // joint alone 50 %, bone alone 75 %, together right on every sample
    assert_eq!(top1(&jb), 100.0);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(jb.join("metrics.json")).unwrap()).unwrap();
    assert_eq!(v["rows"][0]["stream"], "joint+bone");
    // a weight of 0 for bone gives the joint stream back
    let j_only = fuse(
        root,
        "j0",
        serde_json::json!({"weights": {"joint": 1.0, "bone": 0.0}}),
        &[&joint, &bone],
    )
    .unwrap();
    assert_eq!(top1(&j_only), 50.0);

    // `streams` picks inputs by stream
    let motion = fake_scores(
        root,
        "m",
        "motion",
        "ntu60-xsub",
        &[[0.0, 0.0, 9.0]; 4],
        &labels,
    );
    let picked = fuse(
        root,
        "jb-of-3",
        serde_json::json!({"streams": ["joint", "bone"]}),
        &[&joint, &motion, &bone],
    )
    .unwrap();
    assert_eq!(top1(&picked), 100.0);
    let e = fuse(
        root,
        "x0",
        serde_json::json!({"streams": ["joint", "motion"]}),
        &[&joint, &bone],
    )
    .unwrap_err();
    assert!(e.contains("`streams`") && e.contains("`motion`"), "{e}");

    // other test sets, other benchmarks, a stream without a weight: refused by name
    let short = fake_scores(root, "s", "bone", "ntu60-xsub", &[[1.0, 0.0, 0.0]], &[0]);
    let e = fuse(root, "x1", serde_json::json!({}), &[&joint, &short]).unwrap_err();
    assert!(e.contains("different test sets"), "{e}");
    let other = fake_scores(
        root,
        "o",
        "bone",
        "ntu60-xview",
        &[[1.0, 0.0, 0.0]; 4],
        &labels,
    );
    let e = fuse(root, "x2", serde_json::json!({}), &[&joint, &other]).unwrap_err();
    assert!(
        e.contains("ntu60-xview") && e.contains("one test set"),
        "{e}"
    );
    let e = fuse(
        root,
        "x3",
        serde_json::json!({"weights": {"joint": 1.0}}),
        &[&joint, &bone],
    )
    .unwrap_err();
    assert!(e.contains("`weights`") && e.contains("`bone`"), "{e}");
}
