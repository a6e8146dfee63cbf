//! Evaluations: of frozen encoders on extracted features (linear probe, kNN), of a whole
//! network trained on the labels (finetune), score-level fusion of streams, and frame-level
//! scores of untrimmed videos (segmentation).

pub mod finetune;
pub mod fuse;
pub mod knn;
pub mod linear;
pub mod scores;
pub mod segment;

use std::path::Path;

use crate::learn::artifact::{FeatureSet, read_features_arrow, write_metrics};
use skelflow_contract::metrics::dims;
use skelflow_contract::{MetricRow, files};

use crate::{StageContext, StageError};

/// The features the eval `needs` (from an `extract` stage).
pub fn input_features(ctx: &StageContext) -> Result<InputFeatures, StageError> {
    let input = ctx.input_with_file(files::FEATURES_ARROW)?;
    let (dim, train, test) = read_features_arrow(&input.dir.join(files::FEATURES_ARROW))?;
    let meta: serde_json::Value = std::fs::read_to_string(input.dir.join(files::FEATURES_JSON))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(serde_json::Value::Null);
    if train.index.is_empty() || test.index.is_empty() {
        return Err(StageError::input(format!(
            "the features of `{}` have an empty train or test part",
            input.instance
        )));
    }
    // the dataset's class count when `features.json` records it, else the labels seen
    let classes = meta["classes"]
        .as_u64()
        .map(|c| c as usize)
        .unwrap_or_else(|| {
            train
                .label
                .iter()
                .chain(&test.label)
                .max()
                .map_or(1, |m| m + 1)
        });
    Ok(InputFeatures {
        dim,
        classes,
        train,
        test,
        benchmark: meta["benchmark"].as_str().unwrap_or_default().to_string(),
        stream: meta["stream"].as_str().unwrap_or("joint").to_string(),
    })
}

/// The features an eval reads: dimension, number of classes, train and test parts.
pub struct InputFeatures {
    pub dim: usize,
    pub classes: usize,
    pub train: FeatureSet,
    pub test: FeatureSet,
    /// What `features.json` says they are of.
    pub benchmark: String,
    pub stream: String,
}

/// The benchmark an evaluation's upstream `extract` (or `extract.raw`) reads.
pub fn extracted_benchmark(inputs: &[crate::Upstream]) -> Option<&str> {
    inputs
        .iter()
        .find(|u| u.kind.starts_with("extract"))
        .and_then(|u| u.param("benchmark"))
        .and_then(|v| v.as_str())
}

/// An override equal to the preset's value is no override: it leaves the key alone.
pub(crate) fn drop_same<T: PartialEq>(v: &mut Option<T>, preset: &T) {
    if v.as_ref() == Some(preset) {
        *v = None;
    }
}

/// A test-set metric of a classifier, under `protocol`, at its `best` or `last` test; with
/// the labelled fraction when the classifier trained on a labelled subset.
pub fn test_metric(
    metric: &str,
    value: f64,
    protocol: &str,
    at: &str,
    label_fraction: Option<&str>,
) -> MetricRow {
    let r = MetricRow::new(metric, value)
        .with(dims::PROTOCOL, protocol)
        .with(dims::AT, at)
        .with(dims::SPLIT, "test");
    match label_fraction {
        Some(f) => r.with(dims::LABEL_FRACTION, f),
        None => r,
    }
}

/// A trained classifier's `metrics.json`: top-1 and top-5, `[top1, top5]`, at its best and
/// at its last test.
pub fn write_classifier_metrics(
    out_dir: &Path,
    protocol: &str,
    label_fraction: Option<&str>,
    best: [f64; 2],
    last: [f64; 2],
) -> Result<(), StageError> {
    let row = |metric, value, at| test_metric(metric, value, protocol, at, label_fraction);
    write_metrics(
        &out_dir.join(files::METRICS_JSON),
        vec![
            row("top1", best[0], "best"),
            row("top5", best[1], "best"),
            row("top1", last[0], "last"),
            row("top5", last[1], "last"),
        ],
    )
}

/// Percent of rows whose label is among the `k` highest scores. `scores` row-major (n, c).
pub fn topk_accuracy(scores: &[f32], classes: usize, labels: &[usize], k: usize) -> f64 {
    let mut hits = 0;
    for (r, &label) in labels.iter().enumerate() {
        let row = &scores[r * classes..(r + 1) * classes];
        let s = row[label];
        // rank = number of classes scoring strictly higher (ties in the label's favour)
        let higher = row.iter().filter(|&&x| x > s).count();
        if higher < k {
            hits += 1;
        }
    }
    100.0 * hits as f64 / labels.len().max(1) as f64
}
