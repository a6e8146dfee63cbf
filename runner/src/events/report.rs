//! Writes `reports/<pipeline>/REPORT.md` when a run finishes (after the run record is saved:
//! subscribe it after the [`super::Recorder`]). A report that cannot be written is a
//! warning: the run's results are in the cache either way, and `skelflow report` retries.

use std::sync::Arc;

use skelflow_cache::Store;

use super::{Event, Subscriber};

pub struct ReportWriter {
    store: Arc<Store>,
    pipeline: String,
    run_id: String,
    spec: serde_json::Value,
}

impl ReportWriter {
    pub fn new(store: Arc<Store>, pipeline: &str, run_id: &str, spec: serde_json::Value) -> Self {
        ReportWriter {
            store,
            pipeline: pipeline.to_string(),
            run_id: run_id.to_string(),
            spec,
        }
    }
}

impl Subscriber for ReportWriter {
    fn on_event(&mut self, event: &Event) {
        if !matches!(event, Event::RunFinished { .. }) {
            return;
        }
        let stamp = chrono::Local::now().format("%H:%M:%S");
        match write(&self.store, &self.pipeline, Some(&self.run_id), &self.spec) {
            Ok(out) => eprintln!("{stamp} report {}", out.report.display()),
            Err(e) => eprintln!(
                "{stamp} warning: no report written ({e}); `skelflow report` writes it from the cache"
            ),
        }
    }
}

/// Why `REPORT.md` could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportWriteError {
    #[error("{0}")]
    Runs(#[from] skelflow_cache::CacheError),
    #[error(
        "no run of `{pipeline}` is recorded in the cache at {}: run `skelflow run` first",
        .cache.display()
    )]
    NoRun {
        pipeline: String,
        cache: std::path::PathBuf,
    },
    #[error("{0}")]
    Report(#[from] skelflow_reports::ReportError),
}

/// Write the report of run `run_id` (None: the newest finished run) of `pipeline`.
pub fn write(
    store: &Store,
    pipeline: &str,
    run_id: Option<&str>,
    spec: &serde_json::Value,
) -> Result<skelflow_reports::ReportOutcome, ReportWriteError> {
    let runs = store.runs(pipeline)?;
    let run = match run_id {
        Some(id) => runs.iter().find(|r| r.id == id),
        None => runs.iter().find(|r| r.finished.is_some()).or(runs.first()),
    }
    .ok_or_else(|| ReportWriteError::NoRun {
        pipeline: pipeline.to_string(),
        cache: store.root().to_path_buf(),
    })?;
    Ok(skelflow_reports::write_report(
        &skelflow_reports::ReportInput {
            run,
            store,
            spec,
            out_dir: None,
        },
    )?)
}
