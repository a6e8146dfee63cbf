//! Running what is not cached: the [`dispatcher`] (ready set, resource [`pool`], locks,
//! fail-fast / keep-going, Ctrl-C) over an [`Executor`] ([`local`] processes, or [`slurm`] jobs), and the stage process side ([`job`]: `skelflow __exec`).

pub mod dispatcher;
pub mod executor;
pub mod job;
pub mod local;
pub mod pool;
pub mod slurm;

pub use dispatcher::{ARTIFACT_LOG, Dispatcher, RunSpec, Summary};
pub use executor::{ExecEvent, Executor, JobSpec, Outcome};
pub use local::LocalExecutor;
pub use pool::Pool;
pub use slurm::{SlurmExecutor, SlurmOptions};
