//! Files of the learning artifacts (ARTIFACTS.md): `encoder.json` + `encoder.bpk`,
//! `epochs.parquet`, `features.arrow` + `features.json`, `metrics.json`.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, FixedSizeListArray, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use skelflow_contract::{MetricRow, MetricsError, MetricsFile, files};

use super::encoders::{Encoder, EncoderConfig};
use super::method::{load_module, save_module};
use crate::{IoContext, StageError};

/// `encoder.json`: what the weights are and how they were made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EncoderMeta {
    pub encoder: EncoderConfig,
    /// Input spec: frames, stream, benchmark, dataset description.
    pub input: serde_json::Value,
    /// `random` for `encoder.init`, else the pre-training method.
    pub method: String,
    pub epochs: usize,
    pub backend: String,
    pub params_trainable: usize,
    pub params_total: usize,
    /// Epoch a resumed run continued from (0 = started fresh).
    #[serde(default)]
    pub resumed_from: usize,
}

pub use skelflow_contract::files::{ENCODER_JSON, ENCODER_WEIGHTS};

pub fn write_json(path: &Path, v: &impl Serialize) -> Result<(), StageError> {
    let text = serde_json::to_string_pretty(v).expect("serialisable");
    std::fs::write(path, text + "\n").at("write", path)
}

pub fn write_encoder(dir: &Path, meta: &EncoderMeta, enc: &Encoder) -> Result<(), StageError> {
    write_json(&dir.join(ENCODER_JSON), meta)?;
    save_module(enc, &dir.join(ENCODER_WEIGHTS))
}

/// Read an encoder artifact: its meta and the weights on `device`.
pub fn read_encoder(dir: &Path, device: &Device) -> Result<(EncoderMeta, Encoder), StageError> {
    let p = dir.join(ENCODER_JSON);
    let text = std::fs::read_to_string(&p).at("read", &p)?;
    let meta: EncoderMeta = serde_json::from_str(&text)
        .map_err(|e| StageError::bad_file(&p, format!("not an encoder description: {e}")))?;
    let enc = load_module(meta.encoder.init(device), &dir.join(ENCODER_WEIGHTS))?;
    Ok((meta, enc))
}

/// One row of `epochs.parquet`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    pub epoch: usize,
    pub loss: f64,
    pub lr: f64,
    pub seconds: f64,
    pub samples_per_s: f64,
    /// Method-specific loss terms, and `top1`/`top5` for evals that tested this epoch.
    #[serde(default)]
    pub extra: Vec<(String, f64)>,
}

/// A training stage's per-epoch curve: `epochs.parquet`, and TensorBoard event files
/// under `tensorboard/` with scalars tagged `<stage>/<column>`.
pub fn write_epochs(out_dir: &Path, stage: &str, rows: &[EpochRow]) -> Result<(), StageError> {
    write_epochs_parquet(&out_dir.join(files::EPOCHS_PARQUET), rows)?;
    let dir = out_dir.join(files::TENSORBOARD_DIR);
    super::tensorboard::write_scalars(&dir, stage, rows)
        .map(|_| ())
        .map_err(|e| StageError::io("write TensorBoard events into", &dir, e))
}

pub fn write_epochs_parquet(path: &Path, rows: &[EpochRow]) -> Result<(), StageError> {
    let mut names: Vec<String> = Vec::new();
    for r in rows {
        for (k, _) in &r.extra {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let mut fields = vec![
        Field::new("epoch", DataType::Int64, false),
        Field::new("loss", DataType::Float64, false),
        Field::new("lr", DataType::Float64, false),
        Field::new("seconds", DataType::Float64, false),
        Field::new("samples_per_s", DataType::Float64, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            rows.iter().map(|r| r.epoch as i64),
        )),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.loss))),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.lr))),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.seconds),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.samples_per_s),
        )),
    ];
    for n in &names {
        fields.push(Field::new(n, DataType::Float64, true));
        cols.push(Arc::new(Float64Array::from(
            rows.iter()
                .map(|r| r.extra.iter().find(|(k, _)| k == n).map(|(_, v)| *v))
                .collect::<Vec<_>>(),
        )));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| StageError::bad_file(path, format!("cannot build the epochs table: {e}")))?;
    let file = std::fs::File::create(path).at("create", path)?;
    let bad = |e: parquet::errors::ParquetError| StageError::bad_file(path, e);
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).map_err(bad)?;
    w.write(&batch).map_err(bad)?;
    w.close().map_err(bad)?;
    Ok(())
}

/// Features of one split part.
pub struct FeatureSet {
    pub split: &'static str,
    pub index: Vec<usize>,
    pub label: Vec<usize>,
    /// row-major (n, dim)
    pub data: Vec<f32>,
}

impl FeatureSet {
    /// The rows whose `index` is in `keep` (ascending).
    pub fn only(self, keep: &[usize]) -> FeatureSet {
        let dim = self.data.len() / self.index.len().max(1);
        let mut out = FeatureSet {
            split: self.split,
            index: Vec::new(),
            label: Vec::new(),
            data: Vec::new(),
        };
        for (r, &i) in self.index.iter().enumerate() {
            if keep.binary_search(&i).is_ok() {
                out.index.push(i);
                out.label.push(self.label[r]);
                out.data
                    .extend_from_slice(&self.data[r * dim..(r + 1) * dim]);
            }
        }
        out
    }
}

pub fn write_features_arrow(
    path: &Path,
    dim: usize,
    parts: &[FeatureSet],
) -> Result<(), StageError> {
    let split: Vec<&str> = parts
        .iter()
        .flat_map(|p| std::iter::repeat_n(p.split, p.index.len()))
        .collect();
    let index: Vec<i64> = parts
        .iter()
        .flat_map(|p| p.index.iter().map(|&i| i as i64))
        .collect();
    let label: Vec<i64> = parts
        .iter()
        .flat_map(|p| p.label.iter().map(|&i| i as i64))
        .collect();
    let values: Vec<f32> = parts.iter().flat_map(|p| p.data.iter().copied()).collect();
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let feature = FixedSizeListArray::try_new(
        item.clone(),
        dim as i32,
        Arc::new(Float32Array::from(values)),
        None,
    )
    .map_err(|e| StageError::bad_file(path, format!("cannot build the features: {e}")))?;
    let schema = Schema::new(vec![
        Field::new("split", DataType::Utf8, false),
        Field::new("index", DataType::Int64, false),
        Field::new("label", DataType::Int64, false),
        Field::new("feature", DataType::FixedSizeList(item, dim as i32), false),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(StringArray::from(split)),
            Arc::new(Int64Array::from(index)),
            Arc::new(Int64Array::from(label)),
            Arc::new(feature),
        ],
    )
    .map_err(|e| StageError::bad_file(path, format!("cannot build the features: {e}")))?;
    let file = std::fs::File::create(path).at("create", path)?;
    let bad = |e: arrow_schema::ArrowError| StageError::bad_file(path, e);
    let mut w = arrow_ipc::writer::FileWriter::try_new(file, &batch.schema()).map_err(bad)?;
    w.write(&batch).map_err(bad)?;
    w.finish().map_err(bad)?;
    Ok(())
}

/// Read `features.arrow` back: (train, test) with dim.
pub fn read_features_arrow(path: &Path) -> Result<(usize, FeatureSet, FeatureSet), StageError> {
    let bad = |e: String| StageError::bad_file(path, e);
    let file = std::fs::File::open(path).at("open", path)?;
    let reader =
        arrow_ipc::reader::FileReader::try_new(file, None).map_err(|e| bad(e.to_string()))?;
    let mut train = FeatureSet {
        split: "train",
        index: vec![],
        label: vec![],
        data: vec![],
    };
    let mut test = FeatureSet {
        split: "test",
        index: vec![],
        label: vec![],
        data: vec![],
    };
    let mut dim = 0;
    for batch in reader {
        let batch = batch.map_err(|e| bad(e.to_string()))?;
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| bad(format!("no column `{name}`")))
        };
        let split = col("split")?;
        let split = split
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(|| bad("`split` is not a string column".into()))?;
        let index = col("index")?;
        let index = index
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| bad("`index` is not int64".into()))?;
        let label = col("label")?;
        let label = label
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| bad("`label` is not int64".into()))?;
        let feat = col("feature")?;
        let feat = feat
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .ok_or_else(|| bad("`feature` is not a fixed-size list".into()))?;
        dim = feat.value_length() as usize;
        let values = feat
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .ok_or_else(|| bad("`feature` items are not f32".into()))?;
        for r in 0..batch.num_rows() {
            let set = if split.value(r) == "train" {
                &mut train
            } else {
                &mut test
            };
            set.index.push(index.value(r) as usize);
            set.label.push(label.value(r) as usize);
            let off = feat.value_offset_at(r);
            set.data.extend_from_slice(&values.values()[off..off + dim]);
        }
    }
    Ok((dim, train, test))
}

/// `metrics.json` ([`MetricsFile`]).
pub fn write_metrics(path: &Path, rows: Vec<MetricRow>) -> Result<(), StageError> {
    MetricsFile { rows }.write(path).map_err(|e| match e {
        MetricsError::Io { op, path, source } => StageError::Io { op, path, source },
        MetricsError::Malformed { path, message } => StageError::bad_file(path, message),
    })
}
