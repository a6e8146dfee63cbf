//! Helpers for the integration tests: a temp workspace, the real `skelflow` binary, and
//! readers for the event log a run writes.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

pub struct Work {
    pub dir: tempfile::TempDir,
}

impl Work {
    /// A temp dir that is a project's root (it has a `.git`): where `run` puts the cache,
    /// and where looking for one stops, so no cache above the temp dir is ever used.
    pub fn new() -> Work {
        let w = Work::bare();
        std::fs::create_dir(w.path().join(".git")).unwrap();
        w
    }

    /// A temp dir that is not a project's root.
    pub fn bare() -> Work {
        Work {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name)).unwrap_or_default()
    }

    /// `skelflow <args>` in this directory, plain output.
    pub fn cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(bin());
        c.current_dir(self.path())
            .env("NO_COLOR", "1")
            .env_remove("SKELFLOW_CACHE");
        for (k, _) in std::env::vars() {
            if k.starts_with("SKELFLOW_VAR_") {
                c.env_remove(k);
            }
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run skelflow")
    }

    /// Events of the newest run of `pipeline` in the project's cache.
    pub fn last_events(&self, pipeline: &str) -> Vec<serde_json::Value> {
        events(&self.path().join(".skelflow"), pipeline, 0)
    }
}

pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("skelflow")
}

/// Events of the `back`-th newest run (0 = newest).
pub fn events(cache: &Path, pipeline: &str, back: usize) -> Vec<serde_json::Value> {
    let dir = cache.join("runs").join(pipeline);
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("no runs in {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".events.jsonl"))
        .collect();
    logs.sort();
    let path = &logs[logs.len() - 1 - back];
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("event line is JSON"))
        .collect()
}

/// Instances with an event of this type, in order.
pub fn with_event(events: &[serde_json::Value], kind: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == kind)
        .map(|e| e["instance"].as_str().unwrap_or_default().to_string())
        .collect()
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Assert success and show the output otherwise.
#[track_caller]
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "skelflow failed with {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Wait until `f` holds (polling), or panic after `secs`.
#[track_caller]
pub fn wait_for(secs: f64, what: &str, mut f: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !f() {
        if start.elapsed().as_secs_f64() > secs {
            panic!("timed out after {secs}s waiting for {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A `shell` stage of pipeline YAML: the stages it needs, its command, the file it writes.
pub fn shell(id: &str, needs: &[&str], cmd: &str, out: &str) -> String {
    let needs = if needs.is_empty() {
        String::new()
    } else {
        format!("    needs: [{}]\n", needs.join(", "))
    };
    let cmd = serde_json::to_string(cmd).unwrap(); // a JSON string is a YAML string
    format!("  {id}:\n    kind: shell\n{needs}    params: {{cmd: {cmd}, outs: [{out}]}}\n")
}

/// Pipeline YAML: its name, `vars` (a YAML mapping, or empty) and stages.
pub fn pipeline(name: &str, vars: &str, stages: &[String]) -> String {
    let vars = if vars.is_empty() {
        String::new()
    } else {
        format!("vars: {vars}\n")
    };
    format!("name: {name}\n{vars}stages:\n{}", stages.concat())
}

/// Every file under `dir`, at any depth.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}
