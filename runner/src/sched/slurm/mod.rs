//! The Slurm executor: each job is `sbatch`ed as a script that runs `skelflow __exec <job
//! file>`; the job locks its key in the shared cache, runs the stage and commits the
//! artifact itself (see [`super::job`]), so the cluster finishes the work even when the
//! runner is gone. The runner follows its jobs with one batched state query per polling
//! round (backing off while nothing changes), reads their logs for progress, and decides
//! success from Slurm's state and the committed artifact together.
//!
//! Slurm runs jobs at least once (a recovered controller may start a job twice): jobs stage
//! into a temp directory and commit by rename under the key's lock, so a second run finds
//! the artifact and does nothing.

pub mod cli;

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use skelflow_cache::{Key, Store};
use skelflow_contract::StageLine;

use super::executor::{ExecEvent, Executor, JobSpec, Outcome, Report, Started};
use crate::pipeline::{format_bytes, format_time, slurm_time_arg};
use cli::{JobState, SlurmError};

/// The `executor.slurm` section of a pipeline.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// More `sbatch` options, as written (`--constraint=a100`).
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Slurm job names are `<job_prefix><pipeline>` (one name for a run's jobs).
    pub job_prefix: Option<String>,
    /// Jobs in the cluster's queue at once.
    pub max_jobs: Option<usize>,
    /// Longest pause between two state queries, in seconds.
    pub poll_max: Option<u64>,
    /// How long a finished job's artifact may take to appear on this machine's view of
    /// the shared filesystem, in seconds.
    pub fs_grace: Option<u64>,
}

impl SlurmOptions {
    pub const DEFAULT_MAX_JOBS: usize = 100;

    /// The sbatch options a job with these resources gets (`--test-only` checks the same).
    pub fn sbatch_args(
        &self,
        cpus: u32,
        gpus: u32,
        mem: u64,
        time: Option<Duration>,
    ) -> Vec<String> {
        let mut a = vec![format!("--cpus-per-task={}", cpus.max(1))];
        if mem > 0 {
            a.push(format!("--mem={}M", mem.div_ceil(1 << 20)));
        }
        if gpus > 0 {
            a.push(format!("--gres=gpu:{gpus}"));
        }
        if let Some(t) = time {
            a.push(format!("--time={}", slurm_time_arg(t)));
        }
        for (flag, v) in [
            ("partition", &self.partition),
            ("account", &self.account),
            ("qos", &self.qos),
        ] {
            if let Some(v) = v {
                a.push(format!("--{flag}={v}"));
            }
        }
        a.extend(self.sbatch_args.iter().cloned());
        a
    }
}

/// How long a just-submitted job may be missing from Slurm's answers (accounting records
/// reach slurmdbd asynchronously) before that means something.
const LISTING_GRACE: Duration = Duration::from_secs(60);
const POLL_MIN: Duration = Duration::from_secs(1);

struct Tracked {
    slurm_id: String,
    key: Key,
    instance: String,
    log: PathBuf,
    log_offset: u64,
    /// The last error line the stage wrote.
    error: Option<String>,
    adopted: bool,
    /// Slurm has shown it queued or running (an adopted job that never was is someone
    /// else's old failure).
    seen_alive: bool,
    stopping: bool,
    last_state: Option<String>,
    since: Instant,
    /// When it was first seen finished (or gone) without its artifact in view.
    unresolved_since: Option<Instant>,
}

pub struct SlurmExecutor {
    options: SlurmOptions,
    exe: PathBuf,
    store: Arc<Store>,
    job_name: String,
    jobs: HashMap<u64, Tracked>,
    use_sacct: bool,
    next_poll: Instant,
    interval: Duration,
    to_cancel: Vec<String>,
}

impl SlurmExecutor {
    pub fn new(options: SlurmOptions, store: Arc<Store>, pipeline: &str) -> std::io::Result<Self> {
        let prefix = options
            .job_prefix
            .clone()
            .unwrap_or_else(|| "skelflow-".into());
        Ok(SlurmExecutor {
            job_name: format!("{prefix}{pipeline}"),
            options,
            exe: std::env::current_exe()?,
            store,
            jobs: HashMap::new(),
            use_sacct: true,
            next_poll: Instant::now(),
            interval: POLL_MIN,
            to_cancel: Vec::new(),
        })
    }

    fn poll_max(&self) -> Duration {
        Duration::from_secs(self.options.poll_max.unwrap_or(30).max(1))
    }

    fn fs_grace(&self) -> Duration {
        Duration::from_secs(self.options.fs_grace.unwrap_or(30))
    }

    fn script(&self, spec: &JobSpec) -> String {
        let q = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
        format!(
            "#!/bin/bash\n\
             # skelflow job for {instance}: runs the stage, commits its artifact into the shared cache.\n\
             export SKELFLOW_INSTANCE={inst_q}\n\
             export SKELFLOW_THREADS=\"${{SLURM_CPUS_PER_TASK:-1}}\"\n\
             export RAYON_NUM_THREADS=\"$SKELFLOW_THREADS\" OMP_NUM_THREADS=\"$SKELFLOW_THREADS\" MKL_NUM_THREADS=\"$SKELFLOW_THREADS\"\n\
             {no_gpus}\
             exec {exe} __exec {job}\n",
            instance = spec.instance.replace('\n', " "),
            inst_q = q(&spec.instance),
            exe = q(&self.exe.to_string_lossy()),
            job = q(&spec.job_file.to_string_lossy()),
            // Slurm sets the devices of a job with `--gres=gpu`; one without sees none.
            no_gpus = if spec.gpu_count == 0 {
                "export CUDA_VISIBLE_DEVICES=\n"
            } else {
                ""
            },
        )
    }

    fn submit(&mut self, spec: &JobSpec) -> Result<String, SlurmError> {
        let script_path = spec.job_file.with_extension("sbatch");
        std::fs::write(&script_path, self.script(spec)).map_err(|e| SlurmError::Failed {
            command: "sbatch".into(),
            message: format!("cannot write {}: {e}", script_path.display()),
        })?;
        if let Some(d) = spec.log.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        let mut args = vec![
            format!("--job-name={}", self.job_name),
            format!("--comment={}", spec.instance),
            format!("--output={}", spec.log.display()),
            "--open-mode=append".to_string(),
            // We retry ourselves (`--retries`), from the stage's checkpoint.
            "--no-requeue".to_string(),
        ];
        let after: Vec<&str> = spec
            .after
            .iter()
            .filter_map(|d| self.jobs.get(d).map(|t| t.slurm_id.as_str()))
            .collect();
        if !after.is_empty() {
            args.push(format!("--dependency=afterok:{}", after.join(":")));
            args.push("--kill-on-invalid-dep=yes".to_string());
        }
        args.extend(
            self.options
                .sbatch_args(spec.cpus, spec.gpu_count, spec.mem, spec.time),
        );
        cli::sbatch(&args, &script_path)
    }

    /// Read what the job's log gained since the last look: progress lines go to the
    /// dispatcher, the last error line is kept for the failure message.
    fn read_log(t: &mut Tracked, job: u64, report: &Report) {
        let Ok(mut f) = std::fs::File::open(&t.log) else {
            return;
        };
        if f.seek(SeekFrom::Start(t.log_offset)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if f.read_to_end(&mut buf).is_err() {
            return;
        }
        // Only whole lines; the rest is read next time.
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        t.log_offset += end as u64 + 1;
        for line in String::from_utf8_lossy(&buf[..end]).lines() {
            match StageLine::decode(line) {
                StageLine::Progress(p) => report(ExecEvent::Progress { job, line: p }),
                StageLine::Error(e) => t.error = Some(e.message),
                StageLine::Log(_) => {}
            }
        }
    }

    /// What a job that Slurm says is over (or no longer knows) comes to; `None`: wait.
    fn conclude(&self, t: &mut Tracked, state: Option<&JobState>, now: Instant) -> Option<Outcome> {
        let committed = self.store.contains(&t.key);
        let word = state.map(|s| s.state.as_str());
        // The artifact is what counts, whoever committed it.
        if committed {
            return Some(Outcome::Committed);
        }
        if t.stopping && matches!(word, Some("CANCELLED") | None) {
            return Some(Outcome::Stopped);
        }
        if t.adopted && !t.seen_alive {
            // An earlier run's job that ended without a result: not this run's failure.
            return Some(Outcome::Gone);
        }
        if word == Some("COMPLETED") {
            let since = *t.unresolved_since.get_or_insert(now);
            if now.duration_since(since) < self.fs_grace() {
                return None;
            }
            return Some(Outcome::Failed {
                error: format!(
                    "Slurm job {} completed, but its artifact did not appear in the cache {} within {}s: is the cache on a filesystem the compute nodes share with this machine?",
                    t.slurm_id,
                    self.store.root().display(),
                    self.fs_grace().as_secs()
                ),
                retryable: false,
            });
        }
        let id = &t.slurm_id;
        let log_says = |needle: &str| {
            std::fs::read_to_string(&t.log)
                .map(|s| s.contains(needle))
                .unwrap_or(false)
        };
        let (error, retryable) = match word {
            None => (
                format!("Slurm job {id} is no longer known to Slurm and left no artifact"),
                false,
            ),
            Some("TIMEOUT") => (
                format!(
                    "timeout: Slurm job {id} ran past its time limit (`resources.time`) and was killed; raise `time`, or use `--retries` to go on from its checkpoint"
                ),
                true,
            ),
            Some("OUT_OF_MEMORY") => (
                format!(
                    "out of memory: Slurm job {id} went over its memory (`resources.mem`) and was killed; raise `mem`"
                ),
                false,
            ),
            Some("FAILED") if log_says("exceeded memory limit") => (
                format!(
                    "out of memory: Slurm job {id} went over its memory (`resources.mem`) and was killed; raise `mem`"
                ),
                false,
            ),
            Some("NODE_FAIL") => (
                format!(
                    "node failure: the node running Slurm job {id} failed; use `--retries` to run it again from its checkpoint"
                ),
                true,
            ),
            Some("PREEMPTED") => (
                format!(
                    "preempted: Slurm job {id} was preempted by a job of higher priority; use `--retries` to run it again from its checkpoint"
                ),
                true,
            ),
            Some("BOOT_FAIL") => (
                format!("boot failure: the node of Slurm job {id} failed to boot; use `--retries`"),
                true,
            ),
            Some("CANCELLED") => (
                format!(
                    "cancelled: Slurm job {id} was cancelled outside skelflow (scancel); the next run computes it again"
                ),
                false,
            ),
            Some("DEADLINE") => (format!("Slurm job {id} reached its deadline"), false),
            Some(other) => {
                let code = state
                    .and_then(|s| s.exit_code.clone())
                    .map(|c| format!(", exit code {c}"))
                    .unwrap_or_default();
                match &t.error {
                    Some(e) => (e.clone(), false),
                    None => (format!("Slurm job {id} ended {other}{code}"), false),
                }
            }
        };
        Some(Outcome::Failed { error, retryable })
    }

    fn poll(&mut self, report: &Report) {
        let now = Instant::now();
        if !self.to_cancel.is_empty() {
            let ids = std::mem::take(&mut self.to_cancel);
            match cli::scancel(&ids) {
                Ok(()) => eprintln!(
                    "skelflow: cancelled {} Slurm job{} ({})",
                    ids.len(),
                    if ids.len() == 1 { "" } else { "s" },
                    ids.join(" ")
                ),
                Err(e) => eprintln!("skelflow: {e}"),
            }
            self.next_poll = now;
        }
        if self.jobs.is_empty() || now < self.next_poll {
            return;
        }
        let ids: Vec<String> = self.jobs.values().map(|t| t.slurm_id.clone()).collect();
        let states = match cli::states(&ids, &mut self.use_sacct) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skelflow: cannot query Slurm ({e}); trying again");
                self.next_poll = now + self.interval;
                return;
            }
        };
        let mut changed = false;
        let mut over = Vec::new();
        let job_ids: Vec<u64> = self.jobs.keys().copied().collect();
        for job in job_ids {
            let mut t = self.jobs.remove(&job).expect("listed");
            Self::read_log(&mut t, job, report);
            let state = states.get(&t.slurm_id);
            // An earlier run's job that is over is not news: it is followed or replaced.
            let stale = t.adopted && !t.seen_alive && state.is_some_and(JobState::is_final);
            if let Some(s) = state.filter(|_| !stale) {
                let text = s.describe();
                if t.last_state.as_deref() != Some(text.as_str()) {
                    changed = true;
                    t.last_state = Some(text.clone());
                    report(ExecEvent::State { job, state: text });
                }
                if !s.is_final() {
                    t.seen_alive = true;
                }
            }
            let listed_late = state.is_none() && now.duration_since(t.since) < LISTING_GRACE;
            let outcome = match state {
                Some(s) if !s.is_final() => None,
                _ if listed_late && !self.store.contains(&t.key) => None,
                s => self.conclude(&mut t, s, now),
            };
            match outcome {
                Some(o) => over.push((job, o)),
                None => {
                    self.jobs.insert(job, t);
                }
            }
        }
        for (job, outcome) in over {
            changed = true;
            report(ExecEvent::Exited { job, outcome });
        }
        self.interval = if changed {
            POLL_MIN
        } else {
            (self.interval.mul_f64(1.5)).min(self.poll_max())
        };
        self.next_poll = Instant::now() + self.interval;
    }
}

impl Executor for SlurmExecutor {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn commits_itself(&self) -> bool {
        true
    }

    fn start(&mut self, spec: JobSpec, _report: Report) -> std::io::Result<Started> {
        let key = spec.key.clone();
        let (slurm_id, started) = match &spec.adopt {
            Some(id) => (id.clone(), Started::Adopted),
            None => {
                let id = self.submit(&spec).map_err(std::io::Error::other)?;
                (id.clone(), Started::Submitted(id))
            }
        };
        let log_offset = if spec.adopt.is_some() {
            0
        } else {
            std::fs::metadata(&spec.log).map(|m| m.len()).unwrap_or(0)
        };
        self.jobs.insert(
            spec.id,
            Tracked {
                slurm_id,
                key,
                instance: spec.instance.clone(),
                log: spec.log.clone(),
                log_offset,
                error: None,
                adopted: spec.adopt.is_some(),
                seen_alive: false,
                stopping: false,
                last_state: None,
                since: Instant::now(),
                unresolved_since: None,
            },
        );
        // A new job: look again soon.
        self.interval = POLL_MIN;
        self.next_poll = self.next_poll.min(Instant::now() + POLL_MIN);
        Ok(started)
    }

    fn stop(&mut self, job: u64, _force: bool) {
        if let Some(t) = self.jobs.get_mut(&job)
            && !t.stopping
        {
            t.stopping = true;
            self.to_cancel.push(t.slurm_id.clone());
        }
    }

    fn tick(&mut self, report: &Report) {
        self.poll(report);
    }

    fn detach(&mut self) {
        for t in self.jobs.values() {
            eprintln!("skelflow: left {} to Slurm job {}", t.instance, t.slurm_id);
        }
        self.jobs.clear();
    }
}

/// The `resources` of each distinct kind of job, checked with `sbatch --test-only` before
/// anything is submitted: an unknown partition, GPUs the cluster lacks, more memory than a
/// node has. Returns the first refusal with the stage it concerns.
pub fn preflight(
    options: &SlurmOptions,
    jobs: &[(String, u32, u32, u64, Option<Duration>)],
) -> Result<(), (String, String)> {
    if !cli::on_path("sbatch") {
        return Err((
            String::new(),
            SlurmError::Missing("sbatch".into()).to_string(),
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (stage, cpus, gpus, mem, time) in jobs {
        let args = options.sbatch_args(*cpus, *gpus, *mem, *time);
        if !seen.insert(args.clone()) {
            continue;
        }
        if let Err(e) = cli::test_only(&args) {
            let asked = format!(
                "{cpus} cpu{}{}{}",
                if *gpus > 0 {
                    format!(", {gpus} gpu")
                } else {
                    String::new()
                },
                if *mem > 0 {
                    format!(", {} memory", format_bytes(*mem))
                } else {
                    String::new()
                },
                time.map(|t| format!(", time {}", format_time(t)))
                    .unwrap_or_default(),
            );
            let why = match e {
                SlurmError::Failed { message, .. } => message,
                other => other.to_string(),
            };
            return Err((
                stage.clone(),
                format!("Slurm refuses its job ({asked}; {}): {why}", args.join(" ")),
            ));
        }
    }
    Ok(())
}
