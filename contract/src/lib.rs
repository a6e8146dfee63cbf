//! What two or more of skelflow's crates must agree on, in one place:
//!
//! - [`params`]: the path into a stage's params, the typed check that reports every
//!   problem at once, and the `did you mean` of every "unknown …" message (stages check,
//!   the runner locates the errors in the YAML, reports reuse the suggestion);
//! - [`metrics`]: the rows of `metrics.json` (stages write them, reports read them);
//! - [`files`]: the file names inside artifacts (ARTIFACTS.md describes each);
//! - [`provenance`]: the facts a data stage records about what it really read;
//! - [`protocol`]: both halves of the line protocol between a stage process and the runner;
//! - [`resume`]: how far an unfinished stage's newest checkpoint got (`status` reads it).
//!
//! A crate of its own rather than a module of `cache`: the store knows nothing of params,
//! metrics or stages, and keeping it that way keeps each crate about one thing.

pub mod files;
pub mod metrics;
pub mod params;
pub mod protocol;
pub mod provenance;
pub mod resume;

pub use metrics::{MetricRow, MetricsError, MetricsFile};
pub use params::{ParamError, ParamSpec, Params, PathSeg, check_typed, did_you_mean, specs_of};
pub use protocol::{ErrorLine, ProgressLine, StageLine, Within};
pub use provenance::{DataFacts, DataOrigin};
pub use resume::{RESUME_JSON, ResumePoint};
