//! Per-sample test scores of a classifier evaluation: `scores.arrow` (one row per test
//! sample: `index`, `label`, and the class scores at the best and at the last tested epoch)
//! with `scores.json` (what they are of). `eval.fuse` adds streams' scores up.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, FixedSizeListArray, Float32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skelflow_contract::files::{SCORES_ARROW, SCORES_JSON};

use crate::learn::artifact::write_json;
use crate::{IoContext, StageError};

/// `scores.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoresMeta {
    /// The benchmark whose test part was scored.
    pub benchmark: String,
    /// The input stream of the classifier (`joint`, `motion`, `bone`, or `a+b` once fused).
    pub stream: String,
    pub classes: usize,
    pub protocol: String,
    /// The epochs whose scores the `best` (highest top-1) and `last` columns hold.
    pub best_epoch: usize,
    pub last_epoch: usize,
    /// The labelled fraction the classifier trained on (semi-supervised), as in the metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_fraction: Option<String>,
}

/// Which of a classifier's tested epochs to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum At {
    /// The scores of the best epoch (what the references dump and fuse).
    #[default]
    Best,
    /// The scores of the last tested epoch.
    Last,
}

impl At {
    /// The `at` dimension of a metric row.
    pub fn name(self) -> &'static str {
        match self {
            At::Best => "best",
            At::Last => "last",
        }
    }
}

/// Scores of a test part: row-major (n, classes) at the best and last tested epochs.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    pub index: Vec<usize>,
    pub label: Vec<usize>,
    pub classes: usize,
    pub best: Vec<f32>,
    pub last: Vec<f32>,
}

impl Scores {
    /// The row-major scores at the best or the last tested epoch.
    pub fn at(&self, at: At) -> &[f32] {
        match at {
            At::Best => &self.best,
            At::Last => &self.last,
        }
    }
}

fn list_column(values: Vec<f32>, classes: usize) -> Result<FixedSizeListArray, String> {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    FixedSizeListArray::try_new(
        item,
        classes as i32,
        Arc::new(Float32Array::from(values)),
        None,
    )
    .map_err(|e| e.to_string())
}

pub fn write_scores(dir: &Path, meta: &ScoresMeta, s: &Scores) -> Result<(), StageError> {
    let path = dir.join(SCORES_ARROW);
    let bad = |e: String| StageError::bad_file(&path, format!("cannot build the scores: {e}"));
    let best = list_column(s.best.clone(), s.classes).map_err(bad)?;
    let last = list_column(s.last.clone(), s.classes).map_err(bad)?;
    let schema = Schema::new(vec![
        Field::new("index", DataType::Int64, false),
        Field::new("label", DataType::Int64, false),
        Field::new("best", best.data_type().clone(), false),
        Field::new("last", last.data_type().clone(), false),
    ]);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            s.index.iter().map(|&i| i as i64),
        )),
        Arc::new(Int64Array::from_iter_values(
            s.label.iter().map(|&i| i as i64),
        )),
        Arc::new(best),
        Arc::new(last),
    ];
    let batch = RecordBatch::try_new(Arc::new(schema), cols).map_err(|e| bad(e.to_string()))?;
    let file = std::fs::File::create(&path).at("create", &path)?;
    let err = |e: arrow_schema::ArrowError| StageError::bad_file(&path, e);
    let mut w = arrow_ipc::writer::FileWriter::try_new(file, &batch.schema()).map_err(err)?;
    w.write(&batch).map_err(err)?;
    w.finish().map_err(err)?;
    write_json(&dir.join(SCORES_JSON), meta)
}

/// Read what [`write_scores`] wrote.
pub fn read_scores(dir: &Path) -> Result<(ScoresMeta, Scores), StageError> {
    let mp = dir.join(SCORES_JSON);
    let text = std::fs::read_to_string(&mp).at("read", &mp)?;
    let meta: ScoresMeta = serde_json::from_str(&text)
        .map_err(|e| StageError::bad_file(&mp, format!("not a scores description: {e}")))?;
    let path = dir.join(SCORES_ARROW);
    let bad = |e: String| StageError::bad_file(&path, e);
    let file = std::fs::File::open(&path).at("open", &path)?;
    let reader =
        arrow_ipc::reader::FileReader::try_new(file, None).map_err(|e| bad(e.to_string()))?;
    let mut s = Scores {
        index: vec![],
        label: vec![],
        classes: meta.classes,
        best: vec![],
        last: vec![],
    };
    for batch in reader {
        let batch = batch.map_err(|e| bad(e.to_string()))?;
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| bad(format!("no column `{name}`")))
        };
        let ints = |name: &str| -> Result<Vec<usize>, StageError> {
            let c = col(name)?;
            let a = c
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| bad(format!("`{name}` is not int64")))?;
            Ok(a.values().iter().map(|&v| v as usize).collect())
        };
        let floats = |name: &str| -> Result<Vec<f32>, StageError> {
            let c = col(name)?;
            let l = c
                .as_any()
                .downcast_ref::<FixedSizeListArray>()
                .ok_or_else(|| bad(format!("`{name}` is not a fixed-size list")))?;
            if l.value_length() as usize != meta.classes {
                return Err(bad(format!(
                    "`{name}` has {} scores per sample but scores.json says {} classes",
                    l.value_length(),
                    meta.classes
                )));
            }
            let v = l
                .values()
                .as_any()
                .downcast_ref::<Float32Array>()
                .ok_or_else(|| bad(format!("`{name}` items are not f32")))?;
            let off = l.value_offset_at(0);
            Ok(v.values()[off..off + l.len() * meta.classes].to_vec())
        };
        s.index.extend(ints("index")?);
        s.label.extend(ints("label")?);
        s.best.extend(floats("best")?);
        s.last.extend(floats("last")?);
    }
    Ok((meta, s))
}
