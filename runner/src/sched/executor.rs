//! Where stage processes run. The dispatcher hands an [`Executor`] a [`JobSpec`] — run
//! `skelflow __exec <job file>` with these resources, logging here — and hears back through
//! [`ExecEvent`]s. `local` runs child processes on this machine and the dispatcher commits
//! their results; `slurm` submits the same command to a cluster, where the job commits its
//! own result into the shared cache ([`Executor::commits_itself`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use skelflow_cache::Key;
use skelflow_contract::ProgressLine;

/// One stage process to run.
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// The dispatcher's number for this job (unique within a run).
    pub id: u64,
    pub key: Key,
    pub instance: String,
    /// The JSON job file `skelflow __exec` reads (see [`super::job`]).
    pub job_file: PathBuf,
    /// Where the process's stdout and stderr go.
    pub log: PathBuf,
    pub cpus: u32,
    /// How many GPUs the stage asks for.
    pub gpu_count: u32,
    /// Device indices the stage is pinned to (`CUDA_VISIBLE_DEVICES`), where the executor
    /// pins devices itself.
    pub gpus: Vec<u32>,
    /// Bytes; 0: not asked for.
    pub mem: u64,
    pub time: Option<Duration>,
    /// A job of an earlier run (or another driver) already computing this key: follow it
    /// rather than start another.
    pub adopt: Option<String>,
    /// Jobs of this run that must succeed first (batch executors chain them).
    pub after: Vec<u64>,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The process succeeded; its result waits in the staging directory for the dispatcher.
    Succeeded,
    /// The job committed its own artifact (batch executors).
    Committed,
    /// The stage returned an error, the process died, or the scheduler ended the job.
    Failed {
        error: String,
        /// Running it again may succeed: the node failed, the job was preempted or ran out
        /// of time (a stage resumes from its checkpoint).
        retryable: bool,
    },
    /// Stopped by [`Executor::stop`].
    Stopped,
    /// An adopted job is over without a result (it failed or was cancelled earlier, or the
    /// scheduler has forgotten it): the key needs a new job.
    Gone,
}

#[derive(Clone, Debug)]
pub enum ExecEvent {
    Progress {
        job: u64,
        line: ProgressLine,
    },
    /// What the scheduler says of a job (`PENDING (Priority)`, `RUNNING`), when it changes.
    State {
        job: u64,
        state: String,
    },
    /// The job is over and its output is fully in the log.
    Exited {
        job: u64,
        outcome: Outcome,
    },
}

/// How executors report back (wraps the dispatcher's channel).
pub type Report = Arc<dyn Fn(ExecEvent) + Send + Sync>;

/// What `start` did.
#[derive(Clone, Debug, PartialEq)]
pub enum Started {
    /// A local process.
    Process,
    /// A new batch job with this scheduler id.
    Submitted(String),
    /// Followed the job in [`JobSpec::adopt`].
    Adopted,
}

pub trait Executor {
    fn name(&self) -> &'static str;
    /// Does a job commit its own artifact (then the dispatcher neither stages nor commits)?
    fn commits_itself(&self) -> bool {
        false
    }
    /// Start the job; progress and the end arrive through `report` (batch executors report
    /// from [`Executor::tick`] instead).
    fn start(&mut self, spec: JobSpec, report: Report) -> std::io::Result<Started>;
    /// Ask the job to stop (`force`: kill it now).
    fn stop(&mut self, job: u64, force: bool);
    /// Called every dispatcher round (batch executors poll their scheduler and report
    /// here).
    fn tick(&mut self, _report: &Report) {}
    /// The run leaves its jobs running ( `--detach`): stop following them.
    fn detach(&mut self) {}
}
