//! File names inside artifact directories. ARTIFACTS.md (repository root) gives each file's
//! schema, its producer and its readers; a name used by two crates lives here.

/// Imported dataset: one row per sample (`ntu.import`, `pku.import`, `npy.import`).
pub const DATASET_ARROW: &str = "dataset.arrow";
/// Description of an imported dataset (variant, frames, classes, splits).
pub const DATASET_JSON: &str = "dataset.json";
/// What a data stage really read ([`crate::provenance::DataFacts`]).
pub const PROVENANCE_JSON: &str = "provenance.json";
/// What a synthetic corpus was generated with (`synth.ntu`).
pub const SYNTH_JSON: &str = "synth.json";
/// An encoder's description and weights (`pretrain`, `encoder.init`, `encoder.import`).
pub const ENCODER_JSON: &str = "encoder.json";
pub const ENCODER_WEIGHTS: &str = "encoder.bpk";
/// Per-epoch training curve (`pretrain`, `eval.linear`, …).
pub const EPOCHS_PARQUET: &str = "epochs.parquet";
/// TensorBoard event files of a training stage's per-epoch scalars (a directory).
pub const TENSORBOARD_DIR: &str = "tensorboard";
/// Features of the train and test parts (`extract`).
pub const FEATURES_ARROW: &str = "features.arrow";
pub const FEATURES_JSON: &str = "features.json";
/// Metric rows of an evaluation ([`crate::metrics::MetricsFile`]).
pub const METRICS_JSON: &str = "metrics.json";
/// ActCLR's average-motion anchor (`anchor.average_motion`): description and array.
pub const ANCHOR_JSON: &str = "anchor.json";
pub const ANCHOR_NPY: &str = "anchor.npy";
/// Per-sample test scores of a classifier evaluation (`eval.linear`, `eval.finetune`).
pub const SCORES_ARROW: &str = "scores.arrow";
/// What the scores are of: benchmark, stream, classes, protocol, epochs (`scores.arrow`'s).
pub const SCORES_JSON: &str = "scores.json";
/// Untrimmed videos cut into windows (`pku.import` with `windows`): frame labels and the
/// frames each window predicts.
pub const SEGMENTS_JSON: &str = "segments.json";
/// A labelled subset of a benchmark's train part (`data.subset`).
pub const SUBSET_JSON: &str = "subset.json";
