//! Cache upkeep and documentation: `gc`, `verify`, `kinds`.

use std::collections::BTreeSet;
use std::path::Path;

use skelflow_stages::registry;

use super::{Cli, Opened, VarArgs, keys, load, require_cache};
use crate::exit::{self, Failure};
use crate::pipeline::format_bytes;
use crate::render::table;

pub fn gc(
    cli: &Cli,
    pipeline: Option<&Path>,
    vars: &VarArgs,
    keep_last: usize,
    dry_run: bool,
) -> Result<i32, Failure> {
    let (cache, current) = match pipeline {
        Some(path) => {
            let p = load(path, vars)?;
            let cache = require_cache(cli, Some(&p.dir))?;
            let k = keys(&p, Some(&cache.store), vars.backend.backend()?)?;
            (cache, k.keys)
        }
        None => (require_cache(cli, None)?, Vec::new()),
    };
    announce(&cache)?;
    let store = cache.store;
    // Runs that died (kill -9) no longer keep their artifacts; live ones do, in `gc` itself.
    store
        .mark_dead_runs()
        .map_err(|e| Failure::cache(e.to_string()))?;
    let mut keep: BTreeSet<_> = store
        .keys_of_last_runs(keep_last)
        .map_err(|e| Failure::cache(e.to_string()))?;
    keep.extend(current);
    let report = store
        .gc(&keep, dry_run)
        .map_err(|e| Failure::cache(e.to_string()))?;
    let verb = if dry_run { "would remove" } else { "removed" };
    for (key, bytes) in &report.removed {
        println!("{verb} {} ({})", key.short(), format_bytes(*bytes));
    }
    println!(
        "{verb} {} artifact{} ({}), kept {}, {} stale temporary dir{}{}",
        report.removed.len(),
        if report.removed.len() == 1 { "" } else { "s" },
        format_bytes(report.freed_bytes),
        report.kept,
        report.stale_tmp,
        if report.stale_tmp == 1 { "" } else { "s" },
        if dry_run { " (dry run)" } else { "" }
    );
    Ok(exit::OK)
}

pub fn verify(cli: &Cli, pipeline: Option<&Path>, vars: &VarArgs) -> Result<i32, Failure> {
    let (cache, only) = match pipeline {
        Some(path) => {
            let p = load(path, vars)?;
            let cache = require_cache(cli, Some(&p.dir))?;
            let k = keys(&p, Some(&cache.store), vars.backend.backend()?)?;
            let mut cached: Vec<_> = k
                .keys
                .into_iter()
                .filter(|k| cache.store.contains(k))
                .collect();
            cached.sort();
            cached.dedup();
            (cache, Some(cached))
        }
        None => (require_cache(cli, None)?, None),
    };
    announce(&cache)?;
    let store = cache.store;
    let report = store
        .verify(only.as_deref())
        .map_err(|e| Failure::cache(e.to_string()))?;
    for (key, why) in &report.corrupt {
        println!("CORRUPT {}: {why}", key.short());
    }
    for q in &report.quarantined {
        println!("quarantined {}", q.display());
    }
    if report.corrupt.is_empty() {
        println!(
            "verified {} artifact{}: all intact",
            report.checked,
            if report.checked == 1 { "" } else { "s" }
        );
        Ok(exit::OK)
    } else {
        println!(
            "verified {} artifacts: {} corrupt (moved to quarantine; the next run recomputes them)",
            report.checked,
            report.corrupt.len()
        );
        Ok(exit::CORRUPT)
    }
}

/// Say which cache this is; and if it holds nothing at all, that it may not be the one the
/// runs used (older versions kept a cache beside each pipeline, and their `verify` and `gc`
/// left an empty one in the working directory).
fn announce(cache: &Opened) -> Result<(), Failure> {
    println!("{}", cache.line());
    let store = &cache.store;
    let empty = store
        .pipelines()
        .and_then(|p| Ok(p.is_empty() && store.list()?.is_empty()))
        .map_err(|e| Failure::cache(e.to_string()))?;
    if empty {
        eprintln!(
            "note: this cache holds no runs and no artifacts; if your runs used another one \
             (skelflow used to keep a cache beside each pipeline, e.g. pipelines/.skelflow), \
             pass it to --cache"
        );
    }
    Ok(())
}

pub fn kinds(kind: Option<&str>) -> Result<i32, Failure> {
    let reg = registry();
    match kind {
        None => {
            let rows: Vec<Vec<String>> = reg
                .iter()
                .map(|k| {
                    vec![
                        k.name().to_string(),
                        format!("v{}", k.version()),
                        k.about().to_string(),
                    ]
                })
                .collect();
            print!("{}", table(&["KIND", "VERSION", "ABOUT"], &rows));
        }
        Some(name) => {
            let k = reg.get(name).ok_or_else(|| {
                Failure::usage(format!(
                    "no stage kind `{name}`; {}",
                    crate::diag::suggest(
                        name,
                        reg.names().iter().map(String::as_str),
                        "known kinds"
                    )
                ))
            })?;
            println!("{} (v{}): {}", k.name(), k.version(), k.about());
            if k.uses_backend() {
                println!(
                    "its results depend on the compute backend (--backend is part of its keys)"
                );
            }
            let rows: Vec<Vec<String>> = k
                .param_specs()
                .into_iter()
                .map(|s| {
                    vec![
                        s.name,
                        s.ty,
                        serde_json::to_string(&s.default).expect("json"),
                        s.doc.replace('\n', " "),
                    ]
                })
                .collect();
            print!("{}", table(&["PARAM", "TYPE", "DEFAULT", "DOC"], &rows));
        }
    }
    Ok(exit::OK)
}
