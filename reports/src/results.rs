//! The long-format results table: one row per metric row of every `metrics.json` of a run,
//! described by the producing instance's tags and the metric row's own dimensions.
//!
//! Columns, in order: `pipeline run_id instance stage kind key method variant encoder
//! stream dataset benchmark protocol metric value seed`, then every other dimension (tags
//! and metric dims) as a nullable string column, sorted by name. A metric row's own
//! dimension wins over an instance tag of the same name (it is the more specific).
//! `seed` is the instance's `seed` tag when it is an integer, else its key's seed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use serde_json::Value;
use skelflow_cache::{InstanceRecord, InstanceState, RunRecord, Store};

use crate::ReportError;

/// The columns every results table has, in order.
pub const FIXED_COLUMNS: &[&str] = &[
    "pipeline",
    "run_id",
    "instance",
    "stage",
    "kind",
    "key",
    "method",
    "variant",
    "encoder",
    "stream",
    "dataset",
    "benchmark",
    "protocol",
    "metric",
    "value",
    "seed",
];

/// Metric-row dimensions the eval kinds write (ARTIFACTS.md), besides any others.
pub const KNOWN_METRIC_DIMS: &[&str] = &[
    "metric",
    "value",
    "protocol",
    "at",
    "k",
    "split",
    "label_fraction",
];

/// Columns filled from the instance itself; a tag or dim of that name is ignored.
const RESERVED: &[&str] = &[
    "pipeline", "run_id", "instance", "stage", "kind", "key", "value", "seed",
];

/// One metric of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    pub instance: String,
    pub stage: String,
    pub kind: String,
    pub key: String,
    /// Tags and metric dims, `metric` included.
    pub dims: BTreeMap<String, String>,
    pub value: f64,
    pub seed: Option<i64>,
}

impl ResultRow {
    pub fn get(&self, column: &str) -> Option<&str> {
        match column {
            "instance" => Some(&self.instance),
            "stage" => Some(&self.stage),
            "kind" => Some(&self.kind),
            "key" => Some(&self.key),
            _ => self.dims.get(column).map(String::as_str),
        }
    }
}

/// Every result of a run, and the artifacts they came from.
#[derive(Debug, Clone, Default)]
pub struct Results {
    pub pipeline: String,
    pub run_id: String,
    pub rows: Vec<ResultRow>,
    /// Instance id → committed artifact directory, for every instance that has one.
    pub artifacts: BTreeMap<String, PathBuf>,
    /// Unreadable metrics files and the like: the report lists them, and goes on.
    pub warnings: Vec<String>,
}

impl Results {
    /// Read the `metrics.json` of every instance of `run` whose artifact is in `store`.
    pub fn collect(run: &RunRecord, store: &Store) -> Result<Results, ReportError> {
        let mut out = Results {
            pipeline: run.pipeline.clone(),
            run_id: run.id.clone(),
            ..Results::default()
        };
        let mut instances: Vec<&InstanceRecord> = run.instances.iter().collect();
        instances.sort_by(|a, b| a.id.cmp(&b.id));
        for inst in instances {
            if matches!(inst.state, InstanceState::Failed) {
                continue;
            }
            let Some(artifact) = store.get(&inst.key)? else {
                continue;
            };
            out.artifacts.insert(inst.id.clone(), artifact.dir.clone());
            let path = artifact.dir.join("metrics.json");
            if !path.is_file() {
                continue;
            }
            match read_metrics(&path) {
                Ok(metric_rows) => {
                    for (i, row) in metric_rows.into_iter().enumerate() {
                        match result_row(inst, row) {
                            Ok(r) => out.rows.push(r),
                            Err(msg) => out
                                .warnings
                                .push(format!("{} row {i}: {msg} (row skipped)", path.display())),
                        }
                    }
                }
                Err(msg) => out.warnings.push(format!(
                    "{}: {msg} (instance `{}` left out)",
                    path.display(),
                    inst.id
                )),
            }
        }
        Ok(out)
    }

    /// Every column name, in table order.
    pub fn columns(&self) -> Vec<String> {
        let mut extra = BTreeSet::new();
        for r in &self.rows {
            extra.extend(
                r.dims
                    .keys()
                    .filter(|k| !FIXED_COLUMNS.contains(&k.as_str()))
                    .cloned(),
            );
        }
        FIXED_COLUMNS
            .iter()
            .map(|s| s.to_string())
            .chain(extra)
            .collect()
    }

    /// The long table as a polars DataFrame (what `results.parquet` holds).
    pub fn to_dataframe(&self) -> PolarsResult<DataFrame> {
        let mut columns = Vec::new();
        for name in self.columns() {
            let column = match name.as_str() {
                "pipeline" => {
                    Column::new(name.into(), vec![self.pipeline.as_str(); self.rows.len()])
                }
                "run_id" => Column::new(name.into(), vec![self.run_id.as_str(); self.rows.len()]),
                "value" => Column::new(
                    name.into(),
                    self.rows.iter().map(|r| r.value).collect::<Vec<f64>>(),
                ),
                "seed" => Column::new(
                    name.into(),
                    self.rows
                        .iter()
                        .map(|r| r.seed)
                        .collect::<Vec<Option<i64>>>(),
                ),
                other => Column::new(
                    name.clone().into(),
                    self.rows
                        .iter()
                        .map(|r| r.get(other))
                        .collect::<Vec<Option<&str>>>(),
                ),
            };
            columns.push(column);
        }
        DataFrame::new(self.rows.len(), columns)
    }
}

/// Write a frame as Parquet (zstd), atomically enough for a report: temp file + rename.
pub fn write_parquet(df: &mut DataFrame, path: &Path) -> Result<(), ReportError> {
    let tmp = path.with_extension("parquet.tmp");
    let file = fs::File::create(&tmp).map_err(|e| ReportError::io("create", &tmp, e))?;
    ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(None))
        .finish(df)
        .map_err(|e| ReportError::Polars {
            context: format!("write {}", path.display()),
            source: e,
        })?;
    fs::rename(&tmp, path).map_err(|e| ReportError::io("rename", path, e))
}

fn read_metrics(path: &Path) -> Result<Vec<serde_json::Map<String, Value>>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let json: Value = serde_json::from_str(&text).map_err(|e| format!("not valid JSON: {e}"))?;
    let Some(rows) = json.get("rows").and_then(Value::as_array) else {
        return Err("expected {\"rows\": [{\"metric\": …, \"value\": …}, …]}".to_string());
    };
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            r.as_object()
                .cloned()
                .ok_or_else(|| format!("rows[{i}] is not an object"))
        })
        .collect()
}

fn result_row(
    inst: &InstanceRecord,
    row: serde_json::Map<String, Value>,
) -> Result<ResultRow, String> {
    let metric = match row.get("metric") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err("no string `metric`".to_string()),
    };
    let value = match row.get("value") {
        Some(Value::Number(n)) => n.as_f64().ok_or("`value` is not a finite number")?,
        _ => return Err(format!("metric `{metric}`: no numeric `value`")),
    };
    let mut dims = BTreeMap::new();
    for (k, v) in &inst.tags {
        if !RESERVED.contains(&k.as_str()) {
            dims.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in &row {
        if k == "metric" || RESERVED.contains(&k.as_str()) {
            continue;
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            _ => return Err(format!("dimension `{k}` is not a string")),
        };
        dims.insert(k.clone(), text);
    }
    dims.insert("metric".to_string(), metric);
    let seed = inst
        .tags
        .get("seed")
        .and_then(|s| s.parse().ok())
        .or(i64::try_from(inst.components.seed).ok());
    Ok(ResultRow {
        instance: inst.id.clone(),
        stage: inst.stage.clone(),
        kind: inst.kind.clone(),
        key: inst.key.as_str().to_string(),
        dims,
        value,
        seed,
    })
}
