//! Stage kinds: what skelflow computes.
//!
//! A stage kind is a pure function from (canonical params, seed, backend, input artifacts)
//! to an output artifact directory. It never sees the DAG, the scheduler or the executor:
//! the runner hands it a [`StageContext`] and commits whatever it writes into
//! [`StageContext::out_dir`] as an immutable, content-addressed artifact.
//!
//! Adding a kind = one file implementing [`StageKind`] plus one line in [`registry`].

pub mod context;
pub mod data;
pub mod evals;
pub mod learn;
pub mod methods;
pub mod params;
pub mod registry;
pub mod shell;

pub use context::{Backend, Input, ProgressLine, StageContext};
pub use params::{ParamError, ParamSpec, Params, check_typed};
pub use registry::{Registry, registry};

use std::path::PathBuf;

/// A kind of stage (`shell`, `ntu.import`, `pretrain`, …).
pub trait StageKind: Send + Sync + 'static {
    /// The name pipelines use in `kind:`.
    fn name(&self) -> &'static str;

    /// Implementation version. Part of every key of this kind: bump it whenever a change
    /// alters what the stage writes, so stale artifacts are recomputed.
    fn version(&self) -> u32;

    /// One line for `skelflow kinds`.
    fn about(&self) -> &'static str;

    /// The params this kind accepts, with types, defaults and docs.
    fn param_specs(&self) -> Vec<ParamSpec>;

    /// Validate `params` and return them in canonical form: every param present (defaults
    /// filled in), normalised types. The canonical form is what goes into the key.
    fn check(&self, params: &serde_json::Value) -> Result<serde_json::Value, Vec<ParamError>>;

    /// Files or directories outside the cache that this stage reads (e.g. a raw dataset
    /// directory, a script). The runner digests them into the key, so edits trigger a rerun.
    /// Paths are relative to the pipeline's directory unless absolute.
    fn external_inputs(&self, _params: &serde_json::Value) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Whether the result depends on the compute backend (flex / tch-cpu / tch-cuda).
    /// If so, the backend is part of the key.
    fn uses_backend(&self) -> bool {
        false
    }

    /// Do the work: read `ctx.inputs`, write into `ctx.out_dir`.
    fn run(&self, ctx: &StageContext) -> Result<(), StageError>;
}

/// Why a stage failed. The message is shown to the user as is, so it should say what went
/// wrong, where (file, line, epoch/step) and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{0}")]
    Failed(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted")]
    Interrupted,
}

impl StageError {
    pub fn msg(m: impl Into<String>) -> Self {
        StageError::Failed(m.into())
    }
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StageError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Attach a context line to an I/O result.
pub trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, StageError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, StageError> {
        self.map_err(|e| StageError::io(context(), e))
    }
}
