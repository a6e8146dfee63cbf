//! The reports crate's integration tests, one binary (one link of arrow, parquet and the
//! cache instead of one per file), one module per subject:
//!
//! - `papers`: the papers' tables as data files;
//! - `spec`: the `report:` section, every problem at once with its key path;
//! - `report`: REPORT.md end to end on a real cache, with an insta snapshot
//!   (`snapshots/it__report__ablation_report.snap`).

mod papers;
mod report;
mod spec;
