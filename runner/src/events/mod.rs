//! What happens during a run, as one [`Event`] stream emitted by the dispatcher. Side effects
//! (console progress, the JSON-lines event log, the run record, the report) are
//! [`Subscriber`]s: the dispatcher knows none of them.

mod console;
mod log;
mod record;
pub mod report;

use std::path::PathBuf;

use serde::Serialize;

pub use console::{Console, ProgressMode};
pub use log::EventLog;
pub use record::Recorder;
pub use report::ReportWriter;

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        run: String,
        pipeline: String,
        file: PathBuf,
        cache: PathBuf,
        instances: usize,
        cached: usize,
        to_run: usize,
    },
    /// The artifact exists (from an earlier run, another process, or an identical instance
    /// of this run: `same_as`).
    Cached {
        instance: String,
        key: String,
        same_as: Option<String>,
    },
    /// Another process is computing this key; waiting for it without holding resources.
    Waiting {
        instance: String,
        key: String,
    },
    Started {
        instance: String,
        key: String,
        reason: String,
        cpus: u32,
        gpus: Vec<u32>,
        log: PathBuf,
        /// The batch scheduler's job id (Slurm), when the executor has one.
        #[serde(skip_serializing_if = "Option::is_none")]
        job: Option<String>,
        /// The job was submitted earlier (an earlier run, `--detach`, another driver) and
        /// this run follows it.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        adopted: bool,
    },
    /// What the batch scheduler says of an instance's job, when it changes.
    JobState {
        instance: String,
        state: String,
    },
    /// A failure that may pass (a node failure, preemption, a timeout): run it again.
    Retrying {
        instance: String,
        attempt: u32,
        retries: u32,
        error: String,
    },
    Progress {
        instance: String,
        done: u64,
        total: u64,
        message: String,
        /// Where the current outer unit is (steps within the epoch), when the stage says.
        #[serde(skip_serializing_if = "Option::is_none")]
        within: Option<skelflow_contract::Within>,
    },
    Finished {
        instance: String,
        key: String,
        seconds: f64,
    },
    Failed {
        instance: String,
        key: String,
        error: String,
        log: Option<PathBuf>,
    },
    /// Not run because an upstream instance failed or the run stopped.
    Skipped {
        instance: String,
        because: String,
    },
    Interrupted {
        instance: String,
    },
    RunFinished {
        run: String,
        status: RunOutcome,
        seconds: f64,
        computed: usize,
        cached: usize,
        failed: usize,
        skipped: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    Succeeded,
    Failed,
    Interrupted,
    /// `--detach`: every job is submitted; the runner left them to the cluster.
    Detached,
}

pub trait Subscriber {
    fn on_event(&mut self, event: &Event);
}

/// Delivers every event to every subscriber, in order.
#[derive(Default)]
pub struct Bus {
    subscribers: Vec<Box<dyn Subscriber>>,
}

impl Bus {
    pub fn new() -> Bus {
        Bus::default()
    }
    pub fn subscribe(&mut self, s: Box<dyn Subscriber>) {
        self.subscribers.push(s);
    }
    pub fn emit(&mut self, event: Event) {
        for s in &mut self.subscribers {
            s.on_event(&event);
        }
    }
}
