//! The long-format results table: one row per metric row of every `metrics.json` of a run,
//! described by the producing instance's tags and the metric row's own dimensions.
//!
//! Columns, in order: `pipeline run_id instance stage kind key method variant encoder
//! stream dataset benchmark protocol metric value seed`, then every other dimension (tags
//! and metric dims) as a nullable string column, sorted by name. A metric row's own
//! dimension wins over an instance tag of the same name (it is the more specific).
//! `seed` is the instance's `seed` tag when it is an integer, else its key's seed.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use skelflow_cache::{InstanceRecord, InstanceState, RunRecord, Store};
use skelflow_contract::metrics::dims;
use skelflow_contract::{MetricRow, MetricsError, MetricsFile, files};

use crate::ReportError;
use crate::parquet_io::Table;

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

/// Metric-row fields and the dimensions the eval kinds write (`skelflow_contract::metrics`),
/// besides any others.
pub const KNOWN_METRIC_DIMS: &[&str] = &[
    "metric",
    "value",
    dims::PROTOCOL,
    dims::AT,
    dims::K,
    dims::SPLIT,
    dims::LABEL_FRACTION,
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
            let path = artifact.dir.join(files::METRICS_JSON);
            if !path.is_file() {
                continue;
            }
            // Messages name the instance and the file, never the machine's cache path.
            let file = format!("`{}` {}", inst.id, files::METRICS_JSON);
            match MetricsFile::read(&path) {
                Ok((rows, bad)) => {
                    out.rows
                        .extend(rows.into_iter().map(|row| result_row(inst, row)));
                    out.warnings.extend(
                        bad.into_iter()
                            .map(|msg| format!("{file} {msg} (row skipped)")),
                    );
                }
                Err(e) => {
                    let msg = match e {
                        MetricsError::Io { op, source, .. } => format!("cannot {op}: {source}"),
                        MetricsError::Malformed { message, .. } => message,
                    };
                    out.warnings
                        .push(format!("{file}: {msg} (instance `{}` left out)", inst.id));
                }
            }
        }
        Ok(out)
    }

    /// A result's value in `column` as text: what `select`, `rows` and `columns` match.
    pub fn text<'a>(&'a self, row: &'a ResultRow, column: &str) -> Option<Cow<'a, str>> {
        match column {
            "pipeline" => Some(Cow::Borrowed(&self.pipeline)),
            "run_id" => Some(Cow::Borrowed(&self.run_id)),
            "value" => Some(Cow::Owned(row.value.to_string())),
            "seed" => row.seed.map(|s| Cow::Owned(s.to_string())),
            _ => row.get(column).map(Cow::Borrowed),
        }
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

    /// The long table (what `results.parquet` holds).
    pub fn to_table(&self) -> Table {
        let mut t = Table::default();
        for name in self.columns() {
            match name.as_str() {
                "value" => t.float(&name, self.rows.iter().map(|r| Some(r.value))),
                "seed" => t.int(&name, self.rows.iter().map(|r| r.seed)),
                other => t.text(&name, self.rows.iter().map(|r| self.text(r, other))),
            }
        }
        t
    }
}

fn result_row(inst: &InstanceRecord, row: MetricRow) -> ResultRow {
    let mut dims = BTreeMap::new();
    for (k, v) in &inst.tags {
        if !RESERVED.contains(&k.as_str()) {
            dims.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in &row.dims {
        if RESERVED.contains(&k.as_str()) {
            continue;
        }
        // `MetricsFile::read` returns only rows whose dimensions are text, numbers,
        // booleans or null.
        if let Ok(Some(text)) = MetricRow::dim_text(v) {
            dims.insert(k.clone(), text);
        }
    }
    dims.insert("metric".to_string(), row.metric);
    let seed = inst
        .tags
        .get("seed")
        .and_then(|s| s.parse().ok())
        .or(i64::try_from(inst.components.seed).ok());
    ResultRow {
        instance: inst.id.clone(),
        stage: inst.stage.clone(),
        kind: inst.kind.clone(),
        key: inst.key.as_str().to_string(),
        dims,
        value: row.value,
        seed,
    }
}
