//! The pipeline's `report:` section: which paper tables to render and how our results map
//! onto their rows and columns. Format and examples: `reports/README.md`.
//!
//! The runner hands the section over as a `serde_json::Value` and calls
//! [`validate_spec`] before anything runs; every problem is reported at once, each with
//! the key path (`report.tables[0].rows.map.A9`), what is wrong and what to do.
//!
//! - [`model`]: what a section says, once parsed;
//! - `parse`: serde reads the section into raw shapes that keep every bad value as a
//!   message, and the parser turns them into the model with their key paths;
//! - `checks`: what needs more than the section (the pipeline's tags, the paper tables).

use std::path::{Path, PathBuf};

use serde_json::Value;

mod checks;
pub mod model;
mod parse;

pub use model::{
    AlsoSpec, AxisSpec, Layout, LossPlot, PaperRows, PlotSpec, ReportSpec, Select, SpecContext,
    SpecError, TableSpec, Unmatched,
};

/// Check a `report:` section against the built-in papers. The runner should prefer
/// [`validate_spec_with`], which also sees the repository's and the pipeline's paper files
/// and the pipeline's tag names.
pub fn validate_spec(spec: &Value) -> Vec<SpecError> {
    validate_spec_with(spec, &SpecContext::default())
}

pub fn validate_spec_with(spec: &Value, ctx: &SpecContext) -> Vec<SpecError> {
    match parse_spec(spec, ctx) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    }
}

/// Parse (and fully check) a `report:` section; `Null` gives the default report.
pub fn parse_spec(spec: &Value, ctx: &SpecContext) -> Result<ReportSpec, Vec<SpecError>> {
    let (parsed, mut errors) = parse::parse(spec, ctx.tags);
    if let Some(parsed) = &parsed {
        errors.extend(checks::against_papers(parsed, ctx));
    }
    match parsed {
        Some(p) if errors.is_empty() => Ok(p),
        _ => Err(errors),
    }
}

/// The paper table directories a spec reads, in order: its own `papers:` (relative to
/// the pipeline file), then the repository's `reports/papers/` when the pipeline lives
/// in a skelflow repository.
pub fn paper_dirs(spec: &ReportSpec, pipeline_file: Option<&Path>) -> Vec<PathBuf> {
    let base = pipeline_file
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    let mut dirs: Vec<PathBuf> = spec.papers.iter().map(|d| base.join(d)).collect();
    if let Some(root) = pipeline_file.and_then(crate::repo_root) {
        dirs.push(root.join("reports").join("papers"));
    }
    dirs
}
