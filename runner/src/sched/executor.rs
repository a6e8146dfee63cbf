//! Where stage processes run. The dispatcher hands an [`Executor`] a [`JobSpec`] — run
//! `skelflow __exec <job file>` with these resources, logging here — and hears back through
//! [`ExecEvent`]s. `local` runs child processes on this machine; a `slurm` executor would
//! `sbatch` the same command on a shared filesystem and poll for its end.

use std::path::PathBuf;
use std::sync::Arc;

use skelflow_contract::ProgressLine;

/// One stage process to run.
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// The dispatcher's number for this job (unique within a run).
    pub id: u64,
    pub instance: String,
    /// The JSON job file `skelflow __exec` reads (see [`super::job`]).
    pub job_file: PathBuf,
    /// Where the process's stdout and stderr go.
    pub log: PathBuf,
    pub cpus: u32,
    /// Device indices the stage is pinned to (`CUDA_VISIBLE_DEVICES`).
    pub gpus: Vec<u32>,
    pub mem: u64,
    pub time: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Succeeded,
    /// The stage returned an error (its message, if it sent one), or the process died.
    Failed {
        error: String,
    },
    /// Stopped by [`Executor::stop`].
    Stopped,
}

#[derive(Clone, Debug)]
pub enum ExecEvent {
    Progress {
        job: u64,
        line: ProgressLine,
    },
    /// The process is gone and its output is fully in the log.
    Exited {
        job: u64,
        outcome: Outcome,
    },
}

/// How executors report back (wraps the dispatcher's channel).
pub type Report = Arc<dyn Fn(ExecEvent) + Send + Sync>;

pub trait Executor {
    fn name(&self) -> &'static str;
    /// Start the job; progress and the end arrive through `report`.
    fn start(&mut self, spec: JobSpec, report: Report) -> std::io::Result<()>;
    /// Ask the job to stop (`force`: kill it now).
    fn stop(&mut self, job: u64, force: bool);
}
