//! `skelflow run`: plan, then dispatch what is not cached.

use std::collections::BTreeSet;
use std::path::PathBuf;

use skelflow_cache::{CacheError, Key, Store};

use super::{Cli, ExecutorArg, RunArgs, cache_for_run, existing_cache, keys, load};
use crate::events::{Bus, Console, EventLog, Recorder, ReportWriter, RunOutcome};
use crate::exit::{self, Failure};
use crate::pipeline::parse_bytes;
use crate::plan::state::{self, State};
use crate::render::table;
use crate::sched::{
    Dispatcher, Executor, LocalExecutor, Pool, RunSpec, SlurmExecutor, SlurmOptions,
};

/// The pipeline's `executor:` section.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecutorSection {
    /// The executor this pipeline runs on unless `--executor` says otherwise.
    #[serde(rename = "use")]
    use_: Option<ExecutorArg>,
    #[serde(default)]
    slurm: SlurmOptions,
}

fn executor_section(p: &crate::pipeline::Pipeline) -> Result<ExecutorSection, Failure> {
    let Some((value, span)) = &p.executor else {
        return Ok(ExecutorSection::default());
    };
    serde_json::from_value(value.clone()).map_err(|e| {
        let diag = crate::diag::Diag::error(format!("`executor`: {e}"))
            .at(*span, "")
            .help("`executor: {use: local | slurm, slurm: {partition, account, qos, sbatch_args: [...], job_prefix, max_jobs, poll_max, fs_grace}}`");
        eprint!(
            "{}",
            crate::diag::render(&[diag], &p.sources, super::diag_style())
        );
        Failure::new(
            exit::INVALID_PIPELINE,
            format!("`{}` has an invalid `executor` section", p.file.display()),
        )
    })
}

pub fn run(cli: &Cli, a: &RunArgs) -> Result<i32, Failure> {
    let backend = a.pipeline.vars.backend.backend()?;
    let p = load(&a.pipeline.pipeline, &a.pipeline.vars)?;
    let section = executor_section(&p)?;
    let choice = a.executor.or(section.use_).unwrap_or(ExecutorArg::Local);
    if a.detach && choice != ExecutorArg::Slurm {
        return Err(Failure::usage(
            "--detach leaves jobs to a cluster: use it with `--executor slurm`",
        ));
    }
    let pool = match choice {
        ExecutorArg::Local => pool(a)?,
        // The cluster's scheduler owns cores, GPUs and memory; we bound the jobs in flight.
        ExecutorArg::Slurm => Pool::scheduler(
            a.jobs
                .or(section.slurm.max_jobs)
                .unwrap_or(SlurmOptions::DEFAULT_MAX_JOBS)
                .max(1),
        ),
    };
    let problems = if choice == ExecutorArg::Local {
        pool.check(&p)
    } else {
        Vec::new()
    };
    if !problems.is_empty() {
        eprint!(
            "{}",
            crate::diag::render(&problems, &p.sources, super::diag_style())
        );
        return Err(Failure::new(
            exit::INVALID_PIPELINE,
            format!(
                "`{}` asks for more than the resource pool; nothing was run",
                a.pipeline.pipeline.display()
            ),
        ));
    }
    let mut force = BTreeSet::new();
    for f in &a.force {
        force.insert(p.find_instance(f)?);
    }
    let only = targets(&p, &a.targets)?;
    let selected = |i: usize| only.as_ref().is_none_or(|o| o.contains(&i));
    // A dry run computes nothing, so it creates no cache either.
    let store = if a.dry_run {
        existing_cache(cli, Some(&p.dir))?.ok().map(|c| c.store)
    } else {
        Some(cache_for_run(cli, &p.dir)?.store)
    };
    let keys = keys(&p, store.as_deref(), backend)?;
    let states = state::assess(&p, &keys, store.as_deref(), false);
    let reasons: Vec<String> = states
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if force.contains(&i) {
                "forced".to_string()
            } else {
                format!("{}: {}", s.state.name(), s.reason_line())
            }
        })
        .collect();

    if a.dry_run {
        let mut rows = Vec::new();
        let mut n = 0;
        for (i, inst) in p.instances.iter().enumerate().filter(|(i, _)| selected(*i)) {
            let runs = force.contains(&i) || states[i].state != State::Cached;
            n += runs as usize;
            let action = if runs { "run" } else { "cached" };
            let why = if runs {
                reasons[i].clone()
            } else {
                String::new()
            };
            rows.push(vec![
                action.to_string(),
                inst.id.clone(),
                keys.keys[i].short().to_string(),
                why,
            ]);
        }
        print!("{}", table(&["ACTION", "INSTANCE", "KEY", "REASON"], &rows));
        println!("dry run: {n} of {} instances would run", rows.len());
        return Ok(exit::OK);
    }

    let store = store.expect("a run that computes has opened its cache");
    if choice == ExecutorArg::Slurm {
        // Ask Slurm about every kind of job before submitting any.
        let jobs: Vec<_> = p
            .instances
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                selected(*i) && (force.contains(i) || states[*i].state != State::Cached)
            })
            .map(|(_, inst)| {
                let r = &inst.resources;
                (
                    p.stages[inst.stage].id.clone(),
                    r.cpus,
                    r.gpus,
                    r.mem,
                    r.time,
                )
            })
            .collect();
        if let Err((stage, why)) = crate::sched::slurm::preflight(&section.slurm, &jobs) {
            let whose = if stage.is_empty() {
                String::new()
            } else {
                format!("stage `{stage}`: ")
            };
            return Err(Failure::new(
                exit::INVALID_PIPELINE,
                format!("{whose}{why}; nothing was submitted"),
            ));
        }
    }
    for &i in &force {
        force_out(&store, &keys.keys[i], &p.instances[i].id)?;
    }

    let run_id = ulid::Ulid::new().to_string();
    let recorder = Recorder::new(
        store.clone(),
        &p,
        &keys,
        &run_id,
        std::env::args().collect(),
        backend.name(),
    );
    // Registered before the dispatcher looks at the cache, and live until this function
    // returns: `gc` keeps every key this run names, and tells a run that died (kill -9)
    // from one in progress.
    let _live = store
        .start_run(recorder.record())
        .map_err(RunError::Register)?;
    let mut bus = Bus::new();
    bus.subscribe(Box::new(Console::new(cli.progress, cli.verbose > 0)));
    let events_path = store.events_path(&p.name, &run_id);
    let log = EventLog::create(&events_path).map_err(|source| RunError::EventLog {
        path: events_path,
        source,
    })?;
    bus.subscribe(Box::new(log));
    bus.subscribe(Box::new(recorder));
    bus.subscribe(Box::new(ReportWriter::new(
        store.clone(),
        &p.name,
        &run_id,
        p.report.clone().unwrap_or(serde_json::Value::Null),
    )));
    let mut executor: Box<dyn Executor> = match choice {
        ExecutorArg::Local => Box::new(LocalExecutor::new().map_err(RunError::Executable)?),
        ExecutorArg::Slurm => Box::new(
            SlurmExecutor::new(section.slurm.clone(), store.clone(), &p.name)
                .map_err(RunError::Executable)?,
        ),
    };
    let summary = Dispatcher::new(
        RunSpec {
            pipeline: &p,
            keys: &keys,
            store: store.clone(),
            run_id,
            pool,
            keep_going: a.keep_going,
            backend,
            reasons,
            force,
            only,
            retries: a.retries,
            detach: a.detach,
        },
        &mut bus,
    )
    .run(executor.as_mut());
    drop(bus);
    Ok(match summary.outcome {
        RunOutcome::Succeeded | RunOutcome::Detached => exit::OK,
        RunOutcome::Interrupted => exit::INTERRUPTED,
        RunOutcome::Failed if summary.cache_error => exit::CACHE_ERROR,
        RunOutcome::Failed => exit::STAGE_FAILED,
    })
}

/// What stops `skelflow run` before or around the dispatcher (a cache error, exit code 4).
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(
        "cannot remove the artifact of {instance} to force it: another skelflow process is using it"
    )]
    ForceBusy { instance: String },
    #[error("cannot remove the artifact of {instance} to force it: {source}")]
    Force {
        instance: String,
        #[source]
        source: CacheError,
    },
    #[error("cannot register the run in the cache: {0}")]
    Register(#[source] CacheError),
    #[error("cannot create the event log {}: {source}", path.display())]
    EventLog {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot find the skelflow executable: {0}")]
    Executable(#[source] std::io::Error),
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Failure {
        Failure::cache(e.to_string())
    }
}

/// The instances to run for `targets` (instance or stage ids) and all they need.
fn targets(
    p: &crate::pipeline::Pipeline,
    targets: &[String],
) -> Result<Option<BTreeSet<usize>>, Failure> {
    if targets.is_empty() {
        return Ok(None);
    }
    let mut stack = Vec::new();
    for t in targets {
        match p.stages.iter().find(|s| &s.id == t) {
            Some(s) => stack.extend(s.instances.iter().copied()),
            None => stack.push(p.find_instance(t)?),
        }
    }
    let mut only = BTreeSet::new();
    while let Some(i) = stack.pop() {
        if only.insert(i) {
            stack.extend(p.instances[i].needs.iter().copied());
        }
    }
    Ok(Some(only))
}

fn pool(a: &RunArgs) -> Result<Pool, Failure> {
    let mut pool = Pool::detect();
    if let Some(c) = a.cpus {
        if c == 0 {
            return Err(Failure::usage("--cpus must be at least 1"));
        }
        pool.cpus = c;
        pool.jobs = c as usize;
    }
    if let Some(j) = a.jobs {
        if j == 0 {
            return Err(Failure::usage("-j must be at least 1"));
        }
        pool.jobs = j;
        if a.cpus.is_none() {
            pool.cpus = pool.cpus.max(j as u32);
        }
    }
    if let Some(d) = &a.device {
        pool.gpus = parse_device(d)?;
    }
    if let Some(g) = a.gpus {
        if a.device.is_none() {
            pool.gpus = (0..g).collect();
        } else {
            pool.gpus.truncate(g as usize);
        }
    }
    if let Some(m) = &a.mem {
        pool.mem = parse_bytes(m).ok_or_else(|| {
            Failure::usage(format!("--mem `{m}` is not a size; write e.g. 16G or 512M"))
        })?;
    }
    Ok(pool)
}

fn parse_device(d: &str) -> Result<Vec<u32>, Failure> {
    if d == "cpu" {
        return Ok(Vec::new());
    }
    let bad = || {
        Failure::usage(format!(
            "--device `{d}`: write `cpu` or `cuda:N` (several: `cuda:0,1`)"
        ))
    };
    let list = d.strip_prefix("cuda:").ok_or_else(bad)?;
    list.split(',')
        .map(|s| s.trim().parse::<u32>().map_err(|_| bad()))
        .collect()
}

/// Take the committed artifact of `key` out of the cache (for `--force`), unless another
/// process holds the key (it is computing or removing it).
fn force_out(store: &Store, key: &Key, instance: &str) -> Result<(), RunError> {
    let err = |source| RunError::Force {
        instance: instance.to_string(),
        source,
    };
    if !store.contains(key) {
        return Ok(());
    }
    let lock = store
        .try_lock(key)
        .map_err(err)?
        .ok_or_else(|| RunError::ForceBusy {
            instance: instance.to_string(),
        })?;
    store.remove(&lock).map_err(err)?;
    Ok(())
}
