//! Commands that look without running: `status`, `explain`, `show`, `dag`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{Cli, PipelineArgs, StatusArgs, existing_cache, keys, load};
use crate::exit::{self, Failure};
use crate::pipeline::Pipeline;
use crate::plan::Keys;
use crate::plan::state::{self, History, State};
use crate::render::{DagFormat, table};
use crate::sched::ARTIFACT_LOG;

pub fn status(cli: &Cli, a: &StatusArgs) -> Result<i32, Failure> {
    let backend = a.pipeline.vars.backend.backend()?;
    let p = load(&a.pipeline.pipeline, &a.pipeline.vars)?;
    // A pipeline never run has no cache yet: every instance is missing, and none is created.
    let cache = existing_cache(cli, Some(&p.dir))?;
    let store = cache.as_ref().ok().map(|c| &*c.store);
    let keys = keys(&p, store, backend)?;
    let states = state::assess(&p, &keys, store, true);
    let jobs = store
        .map(|st| batch_jobs(st, &keys, &states))
        .unwrap_or_default();
    if a.json {
        let rows: Vec<serde_json::Value> = p
            .instances
            .iter()
            .zip(&states)
            .enumerate()
            .map(|(i, (inst, s))| {
                let mut row = serde_json::json!({"instance": inst.id, "state": s.state, "key": keys.keys[i], "reasons": s.reasons});
                if let Some(r) = &s.resume {
                    row["resume"] = serde_json::json!(r);
                }
                if let Some(j) = jobs.get(&i) {
                    row["state"] = serde_json::json!(j.status);
                    row["job"] = serde_json::json!({"executor": j.executor, "id": j.id, "scheduler_state": j.scheduler_state});
                }
                row
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows).expect("json"));
        return Ok(exit::OK);
    }
    match &cache {
        Ok(c) => println!("{}", c.line()),
        Err(none) => println!("{}", none.line()),
    }
    let rows: Vec<Vec<String>> = p
        .instances
        .iter()
        .zip(&states)
        .enumerate()
        .map(|(i, (inst, s))| match jobs.get(&i) {
            Some(j) => vec![
                inst.id.clone(),
                j.status.clone(),
                keys.keys[i].short().to_string(),
                format!(
                    "{} job {}: {}",
                    j.executor,
                    j.id,
                    j.scheduler_state
                        .as_deref()
                        .unwrap_or("not listed by the scheduler yet")
                ),
            ],
            None => vec![
                inst.id.clone(),
                s.state.name().to_string(),
                keys.keys[i].short().to_string(),
                s.reason_line(),
            ],
        })
        .collect();
    print!("{}", table(&["INSTANCE", "STATE", "KEY", "REASON"], &rows));
    if !jobs.is_empty() {
        let count = |w: &str| jobs.values().filter(|j| j.status == w).count();
        println!(
            "{} batch jobs: {} queued, {} running, {} done",
            jobs.len(),
            count("queued"),
            count("running"),
            count("done")
        );
    }
    let count = |st: State| states.iter().filter(|s| s.state == st).count();
    println!(
        "{} instances: {} cached, {} stale, {} missing, {} running",
        p.instances.len(),
        count(State::Cached),
        count(State::Stale),
        count(State::Missing),
        count(State::Running)
    );
    Ok(exit::OK)
}

/// A batch job recorded as computing an instance's key.
struct BatchJob {
    executor: String,
    id: String,
    /// What the scheduler says (`PENDING (Priority)`), when it could be asked.
    scheduler_state: Option<String>,
    /// queued, running, done (committing), or the scheduler's word for its end.
    status: String,
}

/// The recorded batch jobs of instances that are not cached, with their Slurm states from
/// one query.
fn batch_jobs(
    store: &skelflow_cache::Store,
    keys: &Keys,
    states: &[state::Status],
) -> std::collections::HashMap<usize, BatchJob> {
    let recorded: Vec<(usize, skelflow_cache::Submission)> = states
        .iter()
        .enumerate()
        .filter(|(_, s)| s.state != State::Cached)
        .filter_map(|(i, _)| Some((i, store.submission(&keys.keys[i])?)))
        .collect();
    let ids: Vec<String> = recorded
        .iter()
        .filter(|(_, r)| r.executor == "slurm")
        .map(|(_, r)| r.job.clone())
        .collect();
    let mut use_sacct = true;
    let slurm = crate::sched::slurm::cli::states(&ids, &mut use_sacct).unwrap_or_default();
    recorded
        .into_iter()
        .map(|(i, r)| {
            let st = slurm.get(&r.job);
            let status = match st.map(|s| s.state.as_str()) {
                None | Some("PENDING") | Some("CONFIGURING") | Some("REQUEUED") => "queued".into(),
                Some("RUNNING") | Some("COMPLETING") => "running".into(),
                Some("COMPLETED") => "done".into(),
                Some(other) => other.to_ascii_lowercase(),
            };
            (
                i,
                BatchJob {
                    executor: r.executor,
                    id: r.job,
                    scheduler_state: st.map(|s| s.describe()),
                    status,
                },
            )
        })
        .collect()
}

pub fn explain(cli: &Cli, a: &PipelineArgs, instance: &str) -> Result<i32, Failure> {
    let backend = a.vars.backend.backend()?;
    let p = load(&a.pipeline, &a.vars)?;
    let i = p.find_instance(instance)?;
    let cache = existing_cache(cli, Some(&p.dir))?;
    let store = cache.as_ref().ok().map(|c| &*c.store);
    let keys = keys(&p, store, backend)?;
    let history = store.map_or_else(History::empty, |s| History::load(s, &p.name));
    let mut out = String::new();
    let mut seen = BTreeSet::new();
    explain_one(&p, &keys, store, &history, i, 0, &mut seen, &mut out);
    if cli.verbose > 0 {
        let _ = writeln!(out, "\nkey components of {}:", p.instances[i].id);
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&keys.components[i]).expect("json")
        );
    }
    print!("{out}");
    Ok(exit::OK)
}

#[allow(clippy::too_many_arguments)]
fn explain_one(
    p: &Pipeline,
    keys: &Keys,
    store: Option<&skelflow_cache::Store>,
    h: &History,
    i: usize,
    depth: usize,
    seen: &mut BTreeSet<usize>,
    out: &mut String,
) {
    let pad = "  ".repeat(depth);
    let inst = &p.instances[i];
    let key = &keys.keys[i];
    if !seen.insert(i) {
        let _ = writeln!(out, "{pad}{} (see above)", inst.id);
        return;
    }
    if let Some(store) = store.filter(|s| s.contains(key)) {
        let when = match store.get(key) {
            Ok(Some(a)) => format!(
                ", computed {} in {:.1}s",
                a.manifest.created.format("%Y-%m-%d %H:%M:%S UTC"),
                a.manifest.seconds
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{pad}{}: cached (key {}{when}); nothing changed",
            inst.id,
            key.short()
        );
        return;
    }
    let status = state::why_not_cached(p, keys, i, h, store);
    match h.last_done(&inst.id) {
        Some((run, rec)) if status.state == State::Stale => {
            let _ = writeln!(
                out,
                "{pad}{}: stale (key {}; last cached as {} in run {} of {})",
                inst.id,
                key.short(),
                rec.key.short(),
                run.id,
                run.started.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "{pad}{}: {} (key {})",
                inst.id,
                status.state.name(),
                key.short()
            );
        }
    }
    for r in &status.reasons {
        let _ = writeln!(out, "{pad}  {r}");
        // Follow a changed upstream to its own reason.
        if let Some(up) = r
            .strip_prefix("upstream ")
            .and_then(|s| s.strip_suffix(" changed"))
            && let Some(u) = p.instance(up)
        {
            explain_one(p, keys, store, h, u, depth + 2, seen, out);
        }
    }
}

pub fn show(cli: &Cli, a: &PipelineArgs, instance: &str, full_log: bool) -> Result<i32, Failure> {
    let backend = a.vars.backend.backend()?;
    let p = load(&a.pipeline, &a.vars)?;
    let i = p.find_instance(instance)?;
    let cache = existing_cache(cli, Some(&p.dir))?;
    let store = cache.as_ref().ok().map(|c| &*c.store);
    let keys = keys(&p, store, backend)?;
    let inst = &p.instances[i];
    let key = &keys.keys[i];
    let mut out = String::new();
    let _ = writeln!(out, "instance   {}", inst.id);
    let _ = writeln!(
        out,
        "stage      {} (kind {})",
        p.stages[inst.stage].id, inst.kind
    );
    let _ = writeln!(out, "key        {}", key.as_str());
    if !inst.needs.is_empty() {
        let ups: Vec<&str> = inst
            .needs
            .iter()
            .map(|&u| p.instances[u].id.as_str())
            .collect();
        let _ = writeln!(out, "needs      {}", ups.join(", "));
    }
    if !inst.tags.is_empty() {
        let tags: Vec<String> = inst.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "tags       {}", tags.join(" "));
    }
    let r = &inst.resources;
    let _ = writeln!(
        out,
        "resources  {} cpu, {} gpu, {} mem",
        r.cpus,
        r.gpus,
        if r.mem == 0 {
            "-".into()
        } else {
            crate::pipeline::format_bytes(r.mem)
        }
    );
    let _ = writeln!(
        out,
        "cache      {}",
        match &cache {
            Ok(c) => c.at.describe(&super::cwd_or_root()),
            Err(none) => format!("none ({})", none.why),
        }
    );
    let mut log = None;
    let artifact = match store {
        Some(s) => s.get(key).map_err(|e| Failure::cache(e.to_string()))?,
        None => None,
    };
    match artifact {
        Some(art) => {
            let m = &art.manifest;
            let _ = writeln!(out, "state      cached");
            let _ = writeln!(out, "artifact   {}", art.dir.display());
            let _ = writeln!(
                out,
                "manifest   {}",
                art.dir.join("MANIFEST.json").display()
            );
            let _ = writeln!(
                out,
                "computed   {} in {:.2}s (first by {})",
                m.created.format("%Y-%m-%d %H:%M:%S UTC"),
                m.seconds,
                m.instance
            );
            let _ = writeln!(
                out,
                "files      {} ({})",
                m.files.len(),
                crate::pipeline::format_bytes(m.total_bytes)
            );
            let rows: Vec<Vec<String>> = m
                .files
                .iter()
                .map(|f| {
                    vec![
                        format!("  {}", f.path),
                        crate::pipeline::format_bytes(f.size),
                        f.blake3[..f.blake3.len().min(16)].to_string(),
                    ]
                })
                .collect();
            out.push_str(&table(&["  PATH", "SIZE", "BLAKE3"], &rows));
            let tb = art.dir.join(skelflow_contract::files::TENSORBOARD_DIR);
            if tb.is_dir() {
                let _ = writeln!(
                    out,
                    "curves     tensorboard --logdir {}  (a run's curves together: runs/{}/<run>.tensorboard/)",
                    tb.display(),
                    p.name
                );
            }
            let l = art.dir.join(ARTIFACT_LOG);
            if l.is_file() {
                log = Some(l);
            }
        }
        None => {
            let h = store.map_or_else(History::empty, |s| History::load(s, &p.name));
            let s = state::why_not_cached(&p, &keys, i, &h, store);
            let _ = writeln!(out, "state      {} ({})", s.state.name(), s.reason_line());
            if let Some((run, rec)) = h.last_seen(&inst.id) {
                let _ = writeln!(out, "last run   {} ({:?})", run.id, rec.state);
                if let Some(e) = &rec.error {
                    let _ = writeln!(out, "error      {e}");
                }
                log = rec.log.clone().filter(|l| l.is_file());
            }
        }
    }
    let _ = writeln!(
        out,
        "params     {}",
        serde_json::to_string(&keys.components[i].params).expect("json")
    );
    if !keys.components[i].externals.is_empty() {
        for (path, digest) in &keys.components[i].externals {
            let _ = writeln!(out, "external   {path} {}", &digest[..digest.len().min(16)]);
        }
    }
    if let Some(l) = &log {
        let _ = writeln!(out, "log        {}", l.display());
        if let Ok(text) = std::fs::read_to_string(l) {
            let lines: Vec<&str> = text.lines().collect();
            let from = if full_log {
                0
            } else {
                lines.len().saturating_sub(20)
            };
            if from > 0 {
                let _ = writeln!(out, "  … {from} earlier lines (--log shows all)");
            }
            for l in &lines[from..] {
                let _ = writeln!(out, "  | {l}");
            }
        }
    }
    if cli.verbose > 0 {
        let _ = writeln!(
            out,
            "components {}",
            serde_json::to_string_pretty(&keys.components[i]).expect("json")
        );
    }
    print!("{out}");
    Ok(exit::OK)
}

pub fn dag(a: &PipelineArgs, format: DagFormat, stages: bool) -> Result<i32, Failure> {
    a.vars.backend.backend()?;
    let p = load(&a.pipeline, &a.vars)?;
    print!("{}", crate::render::dag(&p, format, stages));
    Ok(exit::OK)
}
