//! The dispatcher: the single owner of run state. It keeps the ready set, grants resources
//! from the pool, takes each key's lock, starts jobs on an [`Executor`], commits results,
//! applies fail-fast / keep-going, handles Ctrl-C, and emits [`Event`]s. It never looks at
//! what a stage computes.
//!
//! Instances with the same key form one job: computed once, the others reuse it.
//! A key locked by another process is waited for on a helper thread, without holding
//! resources; once the lock is ours the cache is checked again (usually: now cached).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use skelflow_cache::{
    ArtifactInfo, CacheError, Key, KeyLock, Staging, Store, Submission, is_no_space,
};
use skelflow_stages::{Backend, Input, StageContext};

use super::executor::{ExecEvent, Executor, JobSpec, Outcome, Report, Started};
use super::job::{BatchCommit, JobFile};
use super::pool::{Free, Grant, Pool};
use crate::events::{Bus, Event, RunOutcome};
use crate::pipeline::Pipeline;
use crate::plan::{Keys, MaterializeError, materialize};

/// How long stopped stages get to exit after Ctrl-C before they are killed.
const GRACE: Duration = Duration::from_secs(10);

pub struct RunSpec<'a> {
    pub pipeline: &'a Pipeline,
    pub keys: &'a Keys,
    pub store: Arc<Store>,
    pub run_id: String,
    pub pool: Pool,
    pub keep_going: bool,
    pub backend: Backend,
    /// Why each instance would run (shown when it starts).
    pub reasons: Vec<String>,
    /// Instances to compute even though their key is cached (their artifacts were removed
    /// by the caller).
    pub force: BTreeSet<usize>,
    /// Run only these instances (targets and everything upstream of them); `None`: all.
    pub only: Option<BTreeSet<usize>>,
    /// Run a job again this many times after a failure that may pass (see
    /// [`Outcome::Failed`]'s `retryable`).
    pub retries: u32,
    /// Submit every job (batch executors chain them) and return without waiting.
    pub detach: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub outcome: RunOutcome,
    pub computed: usize,
    pub cached: usize,
    pub failed: usize,
    pub skipped: usize,
    /// A failure came from the cache (lock, staging, commit), not from a stage.
    pub cache_error: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobState {
    Pending,
    Ready,
    WaitingLock,
    Running,
    Committing,
    Done,
    Failed,
    Skipped,
    Interrupted,
}

struct Job {
    key: Key,
    /// Instances with this key; the first one is computed, the others reuse it.
    instances: Vec<usize>,
    deps: Vec<usize>,
    users: Vec<usize>,
    remaining: usize,
    state: JobState,
    lock: Option<KeyLock>,
    staging: Option<Staging>,
    grant: Option<Grant>,
    started: Option<Instant>,
    log: Option<PathBuf>,
    /// Retries used so far.
    retried: u32,
    /// Submit anew: the recorded job of this key is over without a result.
    fresh: bool,
}

/// Why the runner itself (not the stage) could not start a job or keep its result. The
/// instance is named by the event that carries the error; the commit errors name it too.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("cannot lock its key: {0}")]
    Lock(#[source] CacheError),
    #[error("cannot create its staging directory: {0}")]
    Staging(#[source] CacheError),
    #[error("cannot create its work directory: {0}")]
    WorkDir(#[source] CacheError),
    #[error("the artifact of upstream {instance} ({key}) is missing from the cache")]
    MissingUpstream { instance: String, key: String },
    #[error(transparent)]
    Materialize(#[from] MaterializeError),
    #[error("cannot write the job file {}: {source}", path.display())]
    JobFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the stage process: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("cannot record its batch job in the cache: {0}")]
    Record(#[source] CacheError),
    #[error("cannot copy the log of {instance} into its artifact ({}): {source}", path.display())]
    CopyLog {
        instance: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot commit the artifact of {instance}: {source}")]
    Commit {
        instance: String,
        #[source]
        source: CacheError,
    },
}

impl JobError {
    /// Did it fail because the cache's filesystem is full?
    pub fn is_no_space(&self) -> bool {
        match self {
            JobError::Lock(e) | JobError::Staging(e) | JobError::WorkDir(e) => e.is_no_space(),
            JobError::Commit { source, .. } => source.is_no_space(),
            JobError::JobFile { source, .. } | JobError::CopyLog { source, .. } => {
                is_no_space(source)
            }
            JobError::Spawn(e) => is_no_space(e),
            JobError::Record(e) => e.is_no_space(),
            JobError::MissingUpstream { .. } | JobError::Materialize(_) => false,
        }
    }
}

enum Msg {
    Exec(ExecEvent),
    Lock {
        job: usize,
        result: Result<KeyLock, CacheError>,
    },
    Committed {
        job: usize,
        result: Result<(), JobError>,
    },
    Signal,
}

pub struct Dispatcher<'a> {
    spec: RunSpec<'a>,
    jobs: Vec<Job>,
    free: Free,
    bus: &'a mut Bus,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    stopping: bool,
    interrupts: usize,
    deadline: Option<Instant>,
    computed: usize,
    cached: usize,
    failed: usize,
    cache_error: bool,
    dirs: HashMap<Key, PathBuf>,
    detached: bool,
}

impl<'a> Dispatcher<'a> {
    pub fn new(spec: RunSpec<'a>, bus: &'a mut Bus) -> Dispatcher<'a> {
        let p = spec.pipeline;
        let mut by_key: BTreeMap<&Key, usize> = BTreeMap::new();
        let mut jobs: Vec<Job> = Vec::new();
        let mut job_of: Vec<usize> = vec![usize::MAX; p.instances.len()];
        for (i, key) in spec.keys.keys.iter().enumerate() {
            if spec.only.as_ref().is_some_and(|o| !o.contains(&i)) {
                continue;
            }
            let j = *by_key.entry(key).or_insert_with(|| {
                jobs.push(Job {
                    key: key.clone(),
                    instances: Vec::new(),
                    deps: Vec::new(),
                    users: Vec::new(),
                    remaining: 0,
                    state: JobState::Pending,
                    lock: None,
                    staging: None,
                    grant: None,
                    started: None,
                    log: None,
                    retried: 0,
                    fresh: false,
                });
                jobs.len() - 1
            });
            jobs[j].instances.push(i);
            job_of[i] = j;
        }
        for j in 0..jobs.len() {
            let producer = jobs[j].instances[0];
            let mut deps: Vec<usize> = p.instances[producer]
                .needs
                .iter()
                .map(|&u| job_of[u])
                .collect();
            deps.sort_unstable();
            deps.dedup();
            for &d in &deps {
                jobs[d].users.push(j);
            }
            jobs[j].remaining = deps.len();
            jobs[j].deps = deps;
        }
        let free = spec.pool.free();
        let (tx, rx) = channel();
        Dispatcher {
            spec,
            jobs,
            free,
            bus,
            tx,
            rx,
            stopping: false,
            interrupts: 0,
            deadline: None,
            computed: 0,
            cached: 0,
            failed: 0,
            cache_error: false,
            dirs: HashMap::new(),
            detached: false,
        }
    }

    fn id(&self, instance: usize) -> String {
        self.spec.pipeline.instances[instance].id.clone()
    }

    /// Run everything not cached. Returns when all jobs are done, failed, skipped or
    /// interrupted.
    pub fn run(mut self, executor: &mut dyn Executor) -> Summary {
        let started = Instant::now();
        self.listen_for_signals();
        let cached_now: Vec<bool> = self
            .jobs
            .iter()
            .map(|j| {
                !j.instances.iter().any(|i| self.spec.force.contains(i))
                    && self.spec.store.contains(&j.key)
            })
            .collect();
        let n_cached: usize = self
            .jobs
            .iter()
            .zip(&cached_now)
            .filter(|(_, c)| **c)
            .map(|(j, _)| j.instances.len())
            .sum();
        let p = self.spec.pipeline;
        let n: usize = self.jobs.iter().map(|j| j.instances.len()).sum();
        self.bus.emit(Event::RunStarted {
            run: self.spec.run_id.clone(),
            pipeline: p.name.clone(),
            file: p.file.clone(),
            cache: self.spec.store.root().to_path_buf(),
            instances: n,
            cached: n_cached,
            to_run: n - n_cached,
        });
        for (j, cached) in cached_now.into_iter().enumerate() {
            if cached {
                self.mark_cached(j, None);
            }
        }
        for j in 0..self.jobs.len() {
            if self.jobs[j].state == JobState::Pending && self.jobs[j].remaining == 0 {
                self.jobs[j].state = JobState::Ready;
            }
        }

        let tx = self.tx.clone();
        let report: Report = Arc::new(move |e| {
            let _ = tx.send(Msg::Exec(e));
        });
        loop {
            if !self.stopping {
                self.schedule(executor, &report);
            }
            if self.spec.detach && !self.stopping && self.all_submitted() {
                executor.detach();
                self.detached = true;
                break;
            }
            executor.tick(&report);
            let active = self.jobs.iter().any(|j| {
                matches!(j.state, JobState::Running | JobState::Committing)
                    || (j.state == JobState::WaitingLock && !self.stopping)
            });
            if !active {
                break;
            }
            match self.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(msg) => self.handle(msg, executor),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.deadline = None;
                self.stop_all(executor, true);
            }
        }
        self.finish(started)
    }

    fn listen_for_signals(&self) {
        let tx = self.tx.clone();
        match signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ]) {
            Ok(mut signals) => {
                std::thread::spawn(move || {
                    for _ in signals.forever() {
                        if tx.send(Msg::Signal).is_err() {
                            break;
                        }
                    }
                });
            }
            Err(e) => {
                eprintln!("skelflow: cannot handle Ctrl-C ({e}); it will kill the run at once")
            }
        }
    }

    fn schedule(&mut self, executor: &mut dyn Executor, report: &Report) {
        let batch = executor.commits_itself();
        let ready: Vec<usize> = (0..self.jobs.len())
            .filter(|&j| self.jobs[j].state == JobState::Ready || self.may_submit_ahead(j, batch))
            .collect();
        for j in ready {
            let producer = self.jobs[j].instances[0];
            let resources = self.spec.pipeline.instances[producer].resources.clone();
            let Some(grant) = self.free.take(&resources) else {
                continue;
            };
            // A batch job already computing the key: follow it, even while it holds the lock.
            let recorded = (batch && !self.jobs[j].fresh)
                .then(|| self.spec.store.submission(&self.jobs[j].key))
                .flatten()
                .filter(|s| s.executor == executor.name());
            let lock = match self.jobs[j].lock.take() {
                Some(l) => Some(l),
                None => match self.spec.store.try_lock(&self.jobs[j].key) {
                    Ok(Some(l)) => Some(l),
                    Ok(None) if recorded.is_some() => None,
                    Ok(None) => {
                        self.free.give_back(grant);
                        self.wait_for_lock(j);
                        continue;
                    }
                    Err(e) => {
                        self.free.give_back(grant);
                        self.fail_job(j, JobError::Lock(e));
                        continue;
                    }
                },
            };
            if self.spec.store.contains(&self.jobs[j].key) && !self.spec.force.contains(&producer) {
                self.free.give_back(grant);
                drop(lock);
                self.mark_cached(j, None);
                continue;
            }
            let result = match lock {
                Some(lock) if !batch => self.start(j, lock, grant.clone(), executor, report),
                lock => self.submit(j, lock, recorded, grant.clone(), executor, report),
            };
            if let Err(e) = result {
                self.free.give_back(grant);
                self.fail_job(j, e);
            }
        }
    }

    /// With `--detach` on a batch executor, a job goes out as soon as every job it needs is
    /// done or submitted: the scheduler holds it until they succeed.
    fn may_submit_ahead(&self, j: usize, batch: bool) -> bool {
        batch
            && self.spec.detach
            && self.jobs[j].state == JobState::Pending
            && self.jobs[j]
                .deps
                .iter()
                .all(|&d| matches!(self.jobs[d].state, JobState::Done | JobState::Running))
    }

    /// `--detach`: nothing is left to submit (everything is cached, done, or out there).
    fn all_submitted(&self) -> bool {
        self.jobs.iter().all(|j| {
            matches!(
                j.state,
                JobState::Done | JobState::Running | JobState::Failed | JobState::Skipped
            )
        })
    }

    fn wait_for_lock(&mut self, j: usize) {
        self.jobs[j].state = JobState::WaitingLock;
        let producer = self.jobs[j].instances[0];
        self.bus.emit(Event::Waiting {
            instance: self.id(producer),
            key: self.jobs[j].key.as_str().to_string(),
        });
        let store = self.spec.store.clone();
        let key = self.jobs[j].key.clone();
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let result = store.lock(&key);
            let _ = tx.send(Msg::Lock { job: j, result });
        });
    }

    fn dir_of(&mut self, key: &Key) -> Option<PathBuf> {
        if let Some(d) = self.dirs.get(key) {
            return Some(d.clone());
        }
        let d = self.spec.store.get(key).ok().flatten()?.dir;
        self.dirs.insert(key.clone(), d.clone());
        Some(d)
    }

    fn start(
        &mut self,
        j: usize,
        lock: KeyLock,
        grant: Grant,
        executor: &mut dyn Executor,
        report: &Report,
    ) -> Result<(), JobError> {
        let p = self.spec.pipeline;
        let producer = self.jobs[j].instances[0];
        let inst = &p.instances[producer];
        let key = self.jobs[j].key.clone();
        let store = self.spec.store.clone();
        let staging = store.begin(&lock).map_err(JobError::Staging)?;
        let work_dir = store.work_dir(&key).map_err(JobError::WorkDir)?;
        let mut inputs = Vec::new();
        let mut up_keys: Vec<(String, Key, usize)> = inst
            .needs
            .iter()
            .map(|&u| {
                (
                    p.instances[u].kind.clone(),
                    self.spec.keys.keys[u].clone(),
                    u,
                )
            })
            .collect();
        up_keys.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        for (kind, k, u) in up_keys {
            let dir = self.dir_of(&k).ok_or_else(|| JobError::MissingUpstream {
                instance: p.instances[u].id.clone(),
                key: k.short().to_string(),
            })?;
            inputs.push(Input {
                instance: p.instances[u].id.clone(),
                kind,
                dir,
            });
        }
        let components = &self.spec.keys.components[producer];
        let params = {
            let mut known = HashMap::new();
            for (_, k) in &components.inputs {
                if let Some(d) = self.dir_of(k) {
                    known.insert(k.clone(), d);
                }
            }
            materialize(&components.params, &|k| known.get(k).cloned())?
        };
        let ctx = StageContext {
            instance: inst.id.clone(),
            params,
            inputs,
            out_dir: staging.dir().to_path_buf(),
            work_dir,
            pipeline_dir: p.dir.clone(),
            seed: inst.seed,
            backend: self.spec.backend,
            threads: grant.cpus as usize,
        };
        let log = store.run_log_path(&p.name, &self.spec.run_id, &inst.id);
        let job_file = log.with_extension("job.json");
        JobFile {
            kind: inst.kind.clone(),
            key: key.as_str().to_string(),
            cache: store.root().to_path_buf(),
            ctx,
            batch: None,
        }
        .write(&job_file)
        .map_err(|source| JobError::JobFile {
            path: job_file.clone(),
            source,
        })?;
        executor
            .start(
                JobSpec {
                    id: j as u64,
                    key: key.clone(),
                    instance: inst.id.clone(),
                    job_file,
                    log: log.clone(),
                    cpus: grant.cpus,
                    gpu_count: inst.resources.gpus,
                    gpus: grant.gpus.clone(),
                    mem: grant.mem,
                    time: inst.resources.time,
                    adopt: None,
                    after: Vec::new(),
                },
                report.clone(),
            )
            .map_err(JobError::Spawn)?;
        self.bus.emit(Event::Started {
            instance: inst.id.clone(),
            key: key.as_str().to_string(),
            reason: self.spec.reasons.get(producer).cloned().unwrap_or_default(),
            cpus: grant.cpus,
            gpus: grant.gpus.clone(),
            log: log.clone(),
            job: None,
            adopted: false,
        });
        let job = &mut self.jobs[j];
        job.state = JobState::Running;
        job.lock = Some(lock);
        job.staging = Some(staging);
        job.grant = Some(grant);
        job.started = Some(Instant::now());
        job.log = Some(log);
        Ok(())
    }

    /// Hand job `j` to a batch executor: the job locks, runs and commits by itself in the
    /// shared cache. Holding the key's lock (`lock`), record the new job so that later runs
    /// follow it; without the lock, only follow the `recorded` one.
    fn submit(
        &mut self,
        j: usize,
        lock: Option<KeyLock>,
        recorded: Option<Submission>,
        grant: Grant,
        executor: &mut dyn Executor,
        report: &Report,
    ) -> Result<(), JobError> {
        let p = self.spec.pipeline;
        let store = self.spec.store.clone();
        let producer = self.jobs[j].instances[0];
        let inst = &p.instances[producer];
        let key = self.jobs[j].key.clone();
        let log = store.run_log_path(&p.name, &self.spec.run_id, &inst.id);
        let job_file = log.with_extension("job.json");
        // A followed job has its job file from the run that submitted it.
        if recorded.is_none() {
            self.batch_job_file(producer, &log)?
                .write(&job_file)
                .map_err(|source| JobError::JobFile {
                    path: job_file.clone(),
                    source,
                })?;
        }
        let after: Vec<u64> = self.jobs[j]
            .deps
            .iter()
            .filter(|&&d| self.jobs[d].state == JobState::Running)
            .map(|&d| d as u64)
            .collect();
        let adopt = recorded.as_ref().map(|r| r.job.clone());
        // An adopted job writes the log its own run gave it.
        let log = match &recorded {
            Some(r) => store.run_log_path(&p.name, &r.run, &inst.id),
            None => log,
        };
        let started = executor
            .start(
                JobSpec {
                    id: j as u64,
                    key: key.clone(),
                    instance: inst.id.clone(),
                    job_file,
                    log: log.clone(),
                    cpus: inst.resources.cpus,
                    gpu_count: inst.resources.gpus,
                    gpus: Vec::new(),
                    mem: inst.resources.mem,
                    time: inst.resources.time,
                    adopt: adopt.clone(),
                    after,
                },
                report.clone(),
            )
            .map_err(JobError::Spawn)?;
        let (id, adopted) = match started {
            Started::Submitted(id) => {
                if let Some(lock) = &lock {
                    let record = Submission {
                        executor: executor.name().to_string(),
                        job: id.clone(),
                        instance: inst.id.clone(),
                        run: self.spec.run_id.clone(),
                        submitted: chrono::Utc::now().to_rfc3339(),
                        inputs: components_inputs(&self.spec.keys.components[producer]),
                    };
                    store
                        .record_submission(lock, &record)
                        .map_err(JobError::Record)?;
                }
                (Some(id), false)
            }
            Started::Adopted => (adopt, true),
            Started::Process => (None, false),
        };
        self.bus.emit(Event::Started {
            instance: inst.id.clone(),
            key: key.as_str().to_string(),
            reason: self.spec.reasons.get(producer).cloned().unwrap_or_default(),
            cpus: inst.resources.cpus,
            gpus: Vec::new(),
            log: log.clone(),
            job: id,
            adopted,
        });
        drop(lock);
        let job = &mut self.jobs[j];
        job.state = JobState::Running;
        job.grant = Some(grant);
        job.started = Some(Instant::now());
        job.log = Some(log);
        job.fresh = false;
        Ok(())
    }

    /// The job file of a batch job for instance `producer`: upstream artifacts by their
    /// place in the cache (a chained job's inputs are committed by the time it starts),
    /// and what it needs to commit by itself.
    fn batch_job_file(&self, producer: usize, log: &std::path::Path) -> Result<JobFile, JobError> {
        let p = self.spec.pipeline;
        let store = &self.spec.store;
        let inst = &p.instances[producer];
        let mut inputs: Vec<Input> = inst
            .needs
            .iter()
            .map(|&u| Input {
                instance: p.instances[u].id.clone(),
                kind: p.instances[u].kind.clone(),
                dir: store.object_dir(&self.spec.keys.keys[u]),
            })
            .collect();
        inputs.sort_by(|a, b| (&a.kind, &a.dir).cmp(&(&b.kind, &b.dir)));
        let components = self.spec.keys.components[producer].clone();
        let params = materialize(&components.params, &|k| Some(store.object_dir(k)))?;
        Ok(JobFile {
            kind: inst.kind.clone(),
            key: self.spec.keys.keys[producer].as_str().to_string(),
            cache: store.root().to_path_buf(),
            ctx: StageContext {
                instance: inst.id.clone(),
                params,
                inputs,
                // The job stages and keeps its work directory itself.
                out_dir: PathBuf::new(),
                work_dir: PathBuf::new(),
                pipeline_dir: p.dir.clone(),
                seed: inst.seed,
                backend: self.spec.backend,
                threads: inst.resources.cpus as usize,
            },
            batch: Some(BatchCommit {
                components,
                log: log.to_path_buf(),
            }),
        })
    }

    /// Forget the recorded job of job `j`'s key, if no one holds the key (a job that holds
    /// it is alive and clears the record itself).
    fn clear_record(&self, j: usize) {
        if let Ok(Some(lock)) = self.spec.store.try_lock(&self.jobs[j].key) {
            let _ = self.spec.store.clear_submission(&lock);
        }
    }

    /// The job of `j` committed its artifact, by the runner or by itself.
    fn committed(&mut self, job: usize) {
        let seconds = self.jobs[job]
            .started
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        self.jobs[job].state = JobState::Done;
        let producer = self.jobs[job].instances[0];
        self.computed += 1;
        self.bus.emit(Event::Finished {
            instance: self.id(producer),
            key: self.jobs[job].key.as_str().to_string(),
            seconds,
        });
        let others: Vec<usize> = self.jobs[job].instances[1..].to_vec();
        let producer_id = self.id(producer);
        for i in others {
            self.cached += 1;
            self.bus.emit(Event::Cached {
                instance: self.id(i),
                key: self.jobs[job].key.as_str().to_string(),
                same_as: Some(producer_id.clone()),
            });
        }
        self.release_users(job);
    }

    fn handle(&mut self, msg: Msg, executor: &mut dyn Executor) {
        match msg {
            Msg::Exec(ExecEvent::Progress { job, line }) => {
                let instance = self.id(self.jobs[job as usize].instances[0]);
                self.bus.emit(Event::Progress {
                    instance,
                    done: line.done,
                    total: line.total,
                    message: line.message,
                    within: line.within,
                });
            }
            Msg::Exec(ExecEvent::State { job, state }) => {
                let instance = self.id(self.jobs[job as usize].instances[0]);
                self.bus.emit(Event::JobState { instance, state });
            }
            Msg::Exec(ExecEvent::Exited { job, outcome }) => self.exited(job as usize, outcome),
            Msg::Lock { job, result } => {
                if self.jobs[job].state != JobState::WaitingLock {
                    return;
                }
                match result {
                    Ok(lock) if !self.stopping => {
                        self.jobs[job].lock = Some(lock);
                        self.jobs[job].state = JobState::Ready;
                    }
                    Ok(_) => self.jobs[job].state = JobState::Interrupted,
                    Err(e) => self.fail_job(job, JobError::Lock(e)),
                }
            }
            Msg::Committed { job, result } => match result {
                Ok(()) => self.committed(job),
                Err(e) => self.fail_job(job, e),
            },
            Msg::Signal => {
                self.interrupts += 1;
                if self.interrupts == 1 {
                    eprintln!("skelflow: stopping (Ctrl-C again to kill running stages at once)");
                    self.stopping = true;
                    self.deadline = Some(Instant::now() + GRACE);
                    self.stop_all(executor, false);
                    for j in 0..self.jobs.len() {
                        if self.jobs[j].state == JobState::WaitingLock {
                            self.jobs[j].state = JobState::Interrupted;
                            for i in self.jobs[j].instances.clone() {
                                self.bus.emit(Event::Interrupted {
                                    instance: self.id(i),
                                });
                            }
                        }
                    }
                } else {
                    self.stop_all(executor, true);
                }
            }
        }
    }

    fn stop_all(&mut self, executor: &mut dyn Executor, force: bool) {
        for (j, job) in self.jobs.iter().enumerate() {
            if job.state == JobState::Running {
                executor.stop(j as u64, force);
            }
        }
    }

    fn exited(&mut self, j: usize, outcome: Outcome) {
        if let Some(g) = self.jobs[j].grant.take() {
            self.free.give_back(g);
        }
        match outcome {
            Outcome::Succeeded => {
                self.jobs[j].state = JobState::Committing;
                let staging = self.jobs[j]
                    .staging
                    .take()
                    .expect("running job has staging");
                let lock = self.jobs[j]
                    .lock
                    .take()
                    .expect("running job holds its lock");
                let producer = self.jobs[j].instances[0];
                let info = ArtifactInfo {
                    kind: self.spec.pipeline.instances[producer].kind.clone(),
                    instance: self.id(producer),
                    components: self.spec.keys.components[producer].clone(),
                    seconds: self.jobs[j]
                        .started
                        .map(|s| s.elapsed().as_secs_f64())
                        .unwrap_or(0.0),
                };
                let log = self.jobs[j].log.clone();
                let store = self.spec.store.clone();
                let key = self.jobs[j].key.clone();
                let tx = self.tx.clone();
                std::thread::spawn(move || {
                    let result = commit(staging, info, log.as_deref());
                    if result.is_ok() {
                        let _ = store.remove_work_dir(&key);
                    }
                    drop(lock);
                    let _ = tx.send(Msg::Committed { job: j, result });
                });
            }
            Outcome::Committed => self.committed(j),
            Outcome::Failed { error, retryable } => {
                self.jobs[j].staging = None;
                self.jobs[j].lock = None;
                self.clear_record(j);
                if retryable && self.jobs[j].retried < self.spec.retries && !self.stopping {
                    self.jobs[j].retried += 1;
                    self.jobs[j].state = JobState::Ready;
                    self.jobs[j].fresh = true;
                    self.bus.emit(Event::Retrying {
                        instance: self.id(self.jobs[j].instances[0]),
                        attempt: self.jobs[j].retried,
                        retries: self.spec.retries,
                        error,
                    });
                } else {
                    self.fail(j, error);
                }
            }
            Outcome::Gone => {
                self.clear_record(j);
                self.jobs[j].state = JobState::Ready;
                self.jobs[j].fresh = true;
            }
            Outcome::Stopped => {
                self.jobs[j].staging = None;
                self.jobs[j].lock = None;
                self.clear_record(j);
                self.jobs[j].state = JobState::Interrupted;
                let instances = self.jobs[j].instances.clone();
                for i in instances {
                    self.bus.emit(Event::Interrupted {
                        instance: self.id(i),
                    });
                }
            }
        }
    }

    /// The runner could not run or keep job `j` (a cache error, exit code 4). A full disk is
    /// said plainly, with the instance and what to do.
    fn fail_job(&mut self, j: usize, error: JobError) {
        self.cache_error = true;
        let mut message = error.to_string();
        if error.is_no_space() {
            message.push_str(&format!(
                " — no space left on device for {} in the cache at {}: free space (`skelflow gc` removes what no recent run needs) and run again; finished stages stay cached",
                self.id(self.jobs[j].instances[0]),
                self.spec.store.root().display()
            ));
        }
        self.fail(j, message);
    }

    fn fail(&mut self, j: usize, error: String) {
        self.jobs[j].state = JobState::Failed;
        self.jobs[j].lock = None;
        self.jobs[j].staging = None;
        self.failed += self.jobs[j].instances.len();
        let key = self.jobs[j].key.as_str().to_string();
        let log = self.jobs[j].log.clone();
        for i in self.jobs[j].instances.clone() {
            self.bus.emit(Event::Failed {
                instance: self.id(i),
                key: key.clone(),
                error: error.clone(),
                log: log.clone(),
            });
        }
        if self.spec.keep_going {
            self.skip_users(j);
        } else {
            self.stopping = true;
        }
    }

    /// With --keep-going: everything downstream of a failure is skipped.
    fn skip_users(&mut self, j: usize) {
        let failed = self.id(self.jobs[j].instances[0]);
        let mut stack = self.jobs[j].users.clone();
        while let Some(u) = stack.pop() {
            if matches!(self.jobs[u].state, JobState::Pending | JobState::Ready) {
                self.jobs[u].state = JobState::Skipped;
                for i in self.jobs[u].instances.clone() {
                    self.bus.emit(Event::Skipped {
                        instance: self.id(i),
                        because: format!("upstream {failed} failed"),
                    });
                }
                stack.extend(self.jobs[u].users.clone());
            }
        }
    }

    fn mark_cached(&mut self, j: usize, same_as: Option<String>) {
        self.jobs[j].state = JobState::Done;
        let key = self.jobs[j].key.as_str().to_string();
        for i in self.jobs[j].instances.clone() {
            self.cached += 1;
            self.bus.emit(Event::Cached {
                instance: self.id(i),
                key: key.clone(),
                same_as: same_as.clone(),
            });
        }
        self.release_users(j);
    }

    fn release_users(&mut self, j: usize) {
        for u in self.jobs[j].users.clone() {
            let job = &mut self.jobs[u];
            job.remaining -= 1;
            if job.remaining == 0 && job.state == JobState::Pending {
                job.state = JobState::Ready;
            }
        }
    }

    fn finish(self, started: Instant) -> Summary {
        let mut skipped = 0;
        let interrupted = self.interrupts > 0;
        for j in 0..self.jobs.len() {
            let state = self.jobs[j].state;
            if matches!(
                state,
                JobState::Pending | JobState::Ready | JobState::WaitingLock
            ) {
                let because = if interrupted {
                    "the run was interrupted"
                } else {
                    "the run stopped after a failure (use --keep-going to run the rest)"
                };
                for i in self.jobs[j].instances.clone() {
                    self.bus.emit(Event::Skipped {
                        instance: self.id(i),
                        because: because.into(),
                    });
                }
            }
            if !matches!(state, JobState::Done | JobState::Failed) {
                skipped += self.jobs[j].instances.len();
            }
        }
        let outcome = if self.detached && self.failed == 0 {
            RunOutcome::Detached
        } else if interrupted {
            RunOutcome::Interrupted
        } else if self.failed > 0 {
            RunOutcome::Failed
        } else {
            RunOutcome::Succeeded
        };
        self.bus.emit(Event::RunFinished {
            run: self.spec.run_id.clone(),
            status: outcome,
            seconds: started.elapsed().as_secs_f64(),
            computed: self.computed,
            cached: self.cached,
            failed: self.failed,
            skipped,
        });
        Summary {
            outcome,
            computed: self.computed,
            cached: self.cached,
            failed: self.failed,
            skipped,
            cache_error: self.cache_error,
        }
    }
}

/// The artifacts a job reads, from its key components.
fn components_inputs(c: &skelflow_cache::KeyComponents) -> Vec<Key> {
    c.inputs.iter().map(|(_, k)| k.clone()).collect()
}

/// Name of the stage's log inside its committed artifact.
pub const ARTIFACT_LOG: &str = "skelflow.log";

/// Put the stage's log into its staging directory (its output travels with its artifact,
/// for `show`) and commit. A log that cannot be copied fails the commit: on a full disk a
/// cut-off copy must not become part of an artifact.
fn commit(
    staging: Staging,
    info: ArtifactInfo,
    log: Option<&std::path::Path>,
) -> Result<(), JobError> {
    if let Some(log) = log {
        let dest = staging.dir().join(ARTIFACT_LOG);
        match std::fs::copy(log, &dest) {
            Ok(_) => {}
            // A stage that never started writing has no log: nothing to copy.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !log.exists() => {}
            Err(source) => {
                return Err(JobError::CopyLog {
                    instance: info.instance,
                    path: dest,
                    source,
                });
            }
        }
    }
    let instance = info.instance.clone();
    staging
        .commit(info)
        .map(|_| ())
        .map_err(|source| JobError::Commit { instance, source })
}
