//! `metrics.json`: the rows an evaluation writes and a report reads.
//!
//! ```json
//! {"rows": [{"metric": "top1", "value": 71.5, "protocol": "linear-cmd", "at": "best"}]}
//! ```
//! Besides `metric` and `value`, a row carries dimensions (strings, integers, booleans):
//! the report turns each into a column of its long results table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Dimensions the evaluation kinds write, besides any others.
pub mod dims {
    /// Evaluation protocol, e.g. `linear-aimclr`, `linear-cmd`, `knn-1nn-cosine`.
    pub const PROTOCOL: &str = "protocol";
    /// `best` or `last` over the evaluation epochs (absent for one-shot metrics).
    pub const AT: &str = "at";
    /// kNN's k.
    pub const K: &str = "k";
    /// Which part the metric is measured on (`test`, `train`).
    pub const SPLIT: &str = "split";
    /// Labelled fraction of a semi-supervised evaluation.
    pub const LABEL_FRACTION: &str = "label_fraction";
    pub const ALL: &[&str] = &[PROTOCOL, AT, K, SPLIT, LABEL_FRACTION];
}

/// One metric row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricRow {
    pub metric: String,
    pub value: f64,
    /// Other dimensions, by name. Values are strings, integers or booleans.
    #[serde(flatten)]
    pub dims: BTreeMap<String, Value>,
}

impl MetricRow {
    pub fn new(metric: impl Into<String>, value: f64) -> MetricRow {
        MetricRow {
            metric: metric.into(),
            value,
            dims: BTreeMap::new(),
        }
    }

    /// Add a dimension (builder style).
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> MetricRow {
        self.dims.insert(name.to_string(), value.into());
        self
    }

    /// A dimension as text, the way a report's column holds it (`None` for null).
    pub fn dim_text(value: &Value) -> Result<Option<String>, String> {
        Ok(Some(match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => return Ok(None),
            _ => return Err("is not a string, number or boolean".into()),
        }))
    }
}

/// The whole file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsFile {
    pub rows: Vec<MetricRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Malformed { path: PathBuf, message: String },
}

impl MetricsFile {
    pub fn write(&self, path: &Path) -> Result<(), MetricsError> {
        let text = serde_json::to_string_pretty(self).expect("metric rows serialise");
        std::fs::write(path, text + "\n").map_err(|source| MetricsError::Io {
            op: "write",
            path: path.to_path_buf(),
            source,
        })
    }

    /// Read a file: the rows that parse, and a message for each that does not (a report
    /// lists those and goes on). A file that is not `{"rows": [...]}` is an error.
    pub fn read(path: &Path) -> Result<(Vec<MetricRow>, Vec<String>), MetricsError> {
        let malformed = |message: String| MetricsError::Malformed {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|source| MetricsError::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        })?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| malformed(format!("not valid JSON: {e}")))?;
        let Some(rows) = json.get("rows").and_then(Value::as_array) else {
            return Err(malformed(
                "expected {\"rows\": [{\"metric\": …, \"value\": …}, …]}".into(),
            ));
        };
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            match row_of(r) {
                Ok(row) => good.push(row),
                Err(m) => bad.push(format!("row {i}: {m}")),
            }
        }
        Ok((good, bad))
    }
}

fn row_of(r: &Value) -> Result<MetricRow, String> {
    let Some(obj) = r.as_object() else {
        return Err("is not an object".into());
    };
    let metric = match obj.get("metric") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err("no string `metric`".into()),
    };
    let value = match obj.get("value") {
        Some(Value::Number(n)) => n.as_f64().ok_or("`value` is not a finite number")?,
        _ => return Err(format!("metric `{metric}`: no numeric `value`")),
    };
    let mut dims = BTreeMap::new();
    for (k, v) in obj {
        if k == "metric" || k == "value" {
            continue;
        }
        MetricRow::dim_text(v).map_err(|m| format!("dimension `{k}` {m}"))?;
        dims.insert(k.clone(), v.clone());
    }
    Ok(MetricRow {
        metric,
        value,
        dims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bad_rows() {
        let dir = std::env::temp_dir().join(format!("skelflow-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("metrics.json");
        let file = MetricsFile {
            rows: vec![
                MetricRow::new("top1", 71.5)
                    .with(dims::PROTOCOL, "linear-cmd")
                    .with(dims::AT, "best"),
                MetricRow::new("top1", 60.0).with(dims::K, 10),
            ],
        };
        file.write(&p).unwrap();
        let (rows, bad) = MetricsFile::read(&p).unwrap();
        assert_eq!(rows, file.rows);
        assert!(bad.is_empty());

        std::fs::write(
            &p,
            r#"{"rows": [{"metric": "top1"}, {"metric": "a", "value": 1, "x": [1]}, 3, {"metric": "b", "value": 2}]}"#,
        )
        .unwrap();
        let (rows, bad) = MetricsFile::read(&p).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            bad,
            vec![
                "row 0: metric `top1`: no numeric `value`",
                "row 1: dimension `x` is not a string, number or boolean",
                "row 2: is not an object"
            ]
        );
        std::fs::write(&p, "[]").unwrap();
        assert!(
            MetricsFile::read(&p)
                .unwrap_err()
                .to_string()
                .contains("expected {\"rows\"")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
