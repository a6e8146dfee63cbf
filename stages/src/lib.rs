//! Stage kinds: what skelflow computes.
//!
//! A stage kind is a pure function from (canonical params, seed, backend, input artifacts)
//! to an output artifact directory. It never sees the DAG, the scheduler or the executor:
//! the runner hands it a [`StageContext`] and commits whatever it writes into
//! [`StageContext::out_dir`] as an immutable, content-addressed artifact.
//!
//! Adding a kind = one file implementing [`Kind`] plus one line in [`registry`].

pub mod alloc;
pub mod context;
pub mod data;
pub mod error;
pub mod evals;
pub mod kind;
pub mod learn;
pub mod methods;
pub mod registry;
pub mod shell;

/// Param paths, typed checks and suggestions: shared with the runner and reports.
pub use skelflow_contract::params;

pub use context::{Backend, Input, StageContext};
pub use error::{IoContext, StageError};
pub use kind::{Kind, StageKind, Upstream};
pub use registry::{Registry, registry};
pub use skelflow_contract::{ParamError, ParamSpec, Params, ProgressLine, check_typed};
