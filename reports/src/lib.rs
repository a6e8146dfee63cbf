//! Reports: every metric artifact becomes rows of one long-format results table, placed
//! into the papers' table layouts, with the papers' numbers beside ours.
//!
//! The runner calls [`validate_spec_with`] on a pipeline's `report:` section before
//! anything runs, and [`write_report`] at the end of every run (and for
//! `skelflow report <pipeline>`, from the newest run record alone). What a pipeline
//! author writes is documented in `reports/README.md`; the paper tables' format in
//! `reports/papers/README.md`.
//!
//! - [`papers`] — the papers' tables, as data files
//! - [`results`] — the long-format results table (`results.parquet`)
//! - [`parquet_io`] — Parquet files written and read (arrow-rs)
//! - [`spec`] — the `report:` section
//! - [`tables`] — one paper table with our numbers beside the paper's (placement,
//!   aggregation over seeds, the grid, markdown)
//! - [`plots`] — SVG plots
//! - [`latex`] — the tables as LaTeX
//! - `provenance` — where the numbers come from, as the data artifacts recorded it
//! - [`report`] — REPORT.md

use std::io;
use std::path::{Path, PathBuf};

pub mod format;
pub mod latex;
pub mod papers;
pub mod parquet_io;
pub mod plots;
mod provenance;
pub mod report;
pub mod results;
pub mod spec;
pub mod tables;

pub use papers::{Catalog, Paper, PaperError, PaperTable, PaperValue};
pub use report::{ReportInput, ReportOutcome, report_dir, report_dir_name, write_report};
pub use results::{ResultRow, Results};
pub use spec::{ReportSpec, SpecContext, SpecError, parse_spec, validate_spec, validate_spec_with};

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("invalid `report:` section:\n{}", .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Spec(Vec<SpecError>),
    #[error(transparent)]
    Paper(#[from] PaperError),
    #[error(transparent)]
    Cache(#[from] skelflow_cache::CacheError),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("{context}: {source}")]
    Parquet {
        context: String,
        source: parquet::errors::ParquetError,
    },
    #[error("cannot draw {}: {message}", path.display())]
    Plot { path: PathBuf, message: String },
}

impl ReportError {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> ReportError {
        ReportError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn parquet(
        context: impl Into<String>,
    ) -> impl FnOnce(parquet::errors::ParquetError) -> ReportError {
        let context = context.into();
        move |source| ReportError::Parquet { context, source }
    }
}

/// The skelflow repository a pipeline file lives in: the nearest ancestor directory with
/// a `reports/papers/` directory (where the crate, the paper tables and the generated
/// reports live). None for a pipeline outside any such repository.
pub fn repo_root(pipeline_file: &Path) -> Option<PathBuf> {
    let abs = if pipeline_file.is_absolute() {
        pipeline_file.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(pipeline_file)
    };
    abs.parent()?
        .ancestors()
        .find(|a| a.join("reports").join("papers").is_dir())
        .map(Path::to_path_buf)
}
