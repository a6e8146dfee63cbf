//! Run records: what each run planned and did, with every instance's key components
//! (for `gc --keep-last`, `status`, `explain` and reports).
//!
//! Files: `runs/<pipeline>/<run id>.json` (written atomically), the run's event log
//! `<run id>.events.jsonl`, per-instance logs `<run id>.logs/<instance>.log` and TensorBoard
//! event files `<run id>.tensorboard/<instance>/` beside it.
//! Pipeline names, run ids and instance ids are made safe for file names by
//! [`file_name`], reversibly.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{CacheError, IoContext, Result};
use crate::fsutil::{create_dir_durable, write_atomic};
use crate::key::{Key, KeyComponents};
use crate::lock::KeyLock;
use crate::store::{RUNS, Store};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// ULID: sorts by start time.
    pub id: String,
    /// The pipeline's `name`.
    pub pipeline: String,
    /// Absolute path of the pipeline file.
    pub pipeline_file: PathBuf,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    pub status: RunStatus,
    /// The command line.
    pub args: Vec<String>,
    /// Resolved vars.
    pub vars: serde_json::Value,
    pub backend: String,
    pub instances: Vec<InstanceRecord>,
}

/// A run registered by [`Store::start_run`]: live until dropped (or its process dies).
#[derive(Debug)]
pub struct LiveRun {
    id: String,
    _lock: KeyLock,
}

impl LiveRun {
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The liveness lock of a run: held by its process from registration to its end.
fn run_lock_key(run_id: &str) -> Key {
    Key::of_bytes(format!("skelflow run {run_id}").as_bytes())
}

/// File name (under runs/, beside the pipelines' directories, which never start with a
/// dot) of the store-wide run lock.
const RUNS_LOCK: &str = ".lock";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Interrupted,
    /// Its jobs were submitted to a cluster and left running there (`--detach`).
    Detached,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// `pretrain[B3,xsub]`
    pub id: String,
    /// `pretrain`
    pub stage: String,
    pub kind: String,
    pub key: Key,
    pub components: KeyComponents,
    /// Matrix axis -> label.
    pub matrix: BTreeMap<String, String>,
    /// Report metadata (matrix labels + declared tags, inherited).
    pub tags: BTreeMap<String, String>,
    /// Upstream instance ids.
    pub needs: Vec<String>,
    pub state: InstanceState,
    /// Compute time (this run's, or the artifact's for Cached).
    pub seconds: Option<f64>,
    pub error: Option<String>,
    pub log: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    Planned,
    Cached,
    Computed,
    Failed,
    Skipped,
    Interrupted,
}

impl RunRecord {
    /// A new run, started now, status Running, with a fresh ULID and no instances yet.
    pub fn new(
        pipeline: impl Into<String>,
        pipeline_file: impl Into<PathBuf>,
        backend: impl Into<String>,
    ) -> RunRecord {
        RunRecord {
            id: ulid::Ulid::new().to_string(),
            pipeline: pipeline.into(),
            pipeline_file: pipeline_file.into(),
            started: Utc::now(),
            finished: None,
            status: RunStatus::Running,
            args: Vec::new(),
            vars: serde_json::Value::Null,
            backend: backend.into(),
            instances: Vec::new(),
        }
    }
}

impl Store {
    /// Write `runs/<pipeline>/<run id>.json` atomically (temp + fsync + rename); save again
    /// to update (at start with status Running, then at the end).
    pub fn save_run(&self, run: &RunRecord) -> Result<PathBuf> {
        create_dir_durable(&self.pipeline_runs_dir(&run.pipeline))?;
        let path = self.run_path(&run.pipeline, &run.id);
        let json = serde_json::to_vec_pretty(run).map_err(|source| CacheError::Json {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &json)?;
        Ok(path)
    }

    /// A pipeline's runs, newest first (by ULID). A record that cannot be read is an error
    /// naming its file.
    pub fn runs(&self, pipeline: &str) -> Result<Vec<RunRecord>> {
        let mut runs = read_runs(&self.pipeline_runs_dir(pipeline))?;
        runs.sort_by(|a, b| b.id.cmp(&a.id));
        Ok(runs)
    }

    /// Names of the pipelines with recorded runs, sorted.
    pub fn pipelines(&self) -> Result<Vec<String>> {
        let dir = self.root.join(RUNS);
        let mut names = Vec::new();
        for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let entry = entry.ctx("read directory", &dir)?;
            if !entry.file_type().ctx("stat", &entry.path())?.is_dir() {
                continue;
            }
            let Some(encoded) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            match decode_file_name(&encoded) {
                Some(name) => names.push(name),
                // A shortened name: the records know the full one.
                None => {
                    if let Some(run) = read_runs(&entry.path())?.into_iter().next() {
                        names.push(run.pipeline);
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Keys referenced by the newest `n` runs of every pipeline plus every run still
    /// marked Running (what `gc --keep-last n` keeps): each instance's key and the keys of
    /// its inputs.
    pub fn keys_of_last_runs(&self, n: usize) -> Result<BTreeSet<Key>> {
        let mut keys = BTreeSet::new();
        for pipeline in self.pipelines()? {
            for (i, run) in self.runs(&pipeline)?.into_iter().enumerate() {
                if i < n || run.status == RunStatus::Running {
                    for inst in run.instances {
                        keys.extend(inst.components.inputs.into_iter().map(|(_, k)| k));
                        keys.insert(inst.key);
                    }
                }
            }
        }
        Ok(keys)
    }

    /// Register a run that is starting: take its liveness lock (held until the returned
    /// [`LiveRun`] is dropped, or released by the OS when the process dies), then save its
    /// record (status Running, every instance's key) while holding the store's run lock
    /// shared. `gc` holds that lock exclusively from reading the live runs to its last
    /// removal, so a run is either seen live by a `gc` (which then keeps every key its record
    /// names) or registers after that `gc` is done. A run checks the cache after registering.
    pub fn start_run(&self, run: &RunRecord) -> Result<LiveRun> {
        let lock = self.lock(&run_lock_key(&run.id))?;
        let _runs = self.runs_lock(false)?;
        self.save_run(run)?;
        Ok(LiveRun {
            id: run.id.clone(),
            _lock: lock,
        })
    }

    /// Is run `id` in progress: registered by [`Store::start_run`] in a process still alive?
    pub fn run_is_live(&self, id: &str) -> Result<bool> {
        self.is_locked(&run_lock_key(id))
    }

    /// Runs recorded as Running whose process is gone (killed) are marked Interrupted, so
    /// that `gc --keep-last` does not keep their artifacts forever; how many were.
    ///
    /// A run saves its last record before it lets go of its liveness lock, so the record is
    /// read again once that lock is ours: a run that has just finished is not overwritten.
    pub fn mark_dead_runs(&self) -> Result<usize> {
        let mut marked = 0;
        for pipeline in self.pipelines()? {
            for run in self.runs(&pipeline)? {
                if run.status != RunStatus::Running {
                    continue;
                }
                let Some(_lock) = self.try_lock(&run_lock_key(&run.id))? else {
                    continue; // alive
                };
                let path = self.run_path(&run.pipeline, &run.id);
                let mut now: RunRecord = match fs::read(&path) {
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    r => serde_json::from_slice(&r.ctx("read", &path)?)
                        .map_err(|source| CacheError::Json { path, source })?,
                };
                if now.status == RunStatus::Running {
                    now.status = RunStatus::Interrupted;
                    self.save_run(&now)?;
                    marked += 1;
                }
            }
        }
        Ok(marked)
    }

    /// Keys named by the records of runs in progress (see [`Store::start_run`]): each
    /// instance's key and the keys of its inputs. Call it holding the run lock exclusively.
    pub(crate) fn keys_of_live_runs(&self) -> Result<BTreeSet<Key>> {
        let mut keys = BTreeSet::new();
        for pipeline in self.pipelines()? {
            for run in self.runs(&pipeline)? {
                if run.status == RunStatus::Running && self.run_is_live(&run.id)? {
                    for inst in run.instances {
                        keys.extend(inst.components.inputs.into_iter().map(|(_, k)| k));
                        keys.insert(inst.key);
                    }
                }
            }
        }
        Ok(keys)
    }

    /// The store-wide lock ordering run registration (shared) against `gc` (exclusive).
    /// Its file (`runs/.lock`) is not a key's lock file, so `gc` never deletes it.
    pub(crate) fn runs_lock(&self, exclusive: bool) -> Result<File> {
        let path = self.root.join(RUNS).join(RUNS_LOCK);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .ctx("open lock file", &path)?;
        if exclusive {
            file.lock().ctx("lock", &path)?;
        } else {
            file.lock_shared().ctx("lock", &path)?;
        }
        Ok(file)
    }

    fn run_path(&self, pipeline: &str, id: &str) -> PathBuf {
        self.pipeline_runs_dir(pipeline)
            .join(format!("{}.json", file_name(id)))
    }

    /// Where a run's JSON-lines event log goes: `runs/<pipeline>/<run id>.events.jsonl`.
    /// The caller creates it (the directory exists once the run is saved).
    pub fn events_path(&self, pipeline: &str, run_id: &str) -> PathBuf {
        self.pipeline_runs_dir(pipeline)
            .join(format!("{}.events.jsonl", file_name(run_id)))
    }

    /// Where a stage instance's log goes: `runs/<pipeline>/<run id>.logs/<instance>.log`,
    /// the instance id made safe by [`file_name`]. The caller creates the directory.
    pub fn run_log_path(&self, pipeline: &str, run_id: &str, instance: &str) -> PathBuf {
        self.pipeline_runs_dir(pipeline)
            .join(format!("{}.logs", file_name(run_id)))
            .join(format!("{}.log", file_name(instance)))
    }

    /// Where a run gathers its instances' TensorBoard event files:
    /// `runs/<pipeline>/<run id>.tensorboard/<instance>/` (`tensorboard --logdir` the parent).
    pub fn run_tensorboard_dir(&self, pipeline: &str, run_id: &str, instance: &str) -> PathBuf {
        self.pipeline_runs_dir(pipeline)
            .join(format!("{}.tensorboard", file_name(run_id)))
            .join(file_name(instance))
    }

    fn pipeline_runs_dir(&self, pipeline: &str) -> PathBuf {
        self.root.join(RUNS).join(file_name(pipeline))
    }
}

fn read_runs(dir: &Path) -> Result<Vec<RunRecord>> {
    let entries = match fs::read_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        r => r.ctx("read directory", dir)?,
    };
    let mut runs = Vec::new();
    for entry in entries {
        let entry = entry.ctx("read directory", dir)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        // Skip temp files of atomic writes (`.<name>.tmp.<pid>.<n>`) and other files.
        if name.starts_with('.') || !name.ends_with(".json") {
            continue;
        }
        let path = entry.path();
        let bytes = fs::read(&path).ctx("read", &path)?;
        runs.push(
            serde_json::from_slice(&bytes).map_err(|source| CacheError::Json { path, source })?,
        );
    }
    Ok(runs)
}

/// Longest file name produced (well under the usual 255-byte limit, leaving room for
/// `.events.jsonl` and similar suffixes).
const MAX_NAME: usize = 160;

/// A file-name-safe form of `s`, reversible by [`decode_file_name`]: ASCII letters,
/// digits, `_ - [ ] , = + @` and non-leading `.` stay as they are (`pretrain[B3,xsub]`
/// stays readable); every other byte becomes `%XX`; the empty string is `%`. A result
/// longer than 160 bytes is cut and given `~` and 16 hex digits of blake3 of `s`: still
/// unique, but no longer reversible.
pub fn file_name(s: &str) -> String {
    if s.is_empty() {
        return "%".to_string();
    }
    let mut out = String::with_capacity(s.len());
    for (i, b) in s.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b"_-[],=+@".contains(&b) || (b == b'.' && i > 0);
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() <= MAX_NAME {
        return out;
    }
    let mut cut = MAX_NAME - 17;
    // Do not split a `%XX` escape.
    while out.as_bytes()[..cut]
        .iter()
        .rev()
        .take(2)
        .any(|&b| b == b'%')
    {
        cut -= 1;
    }
    let hash = blake3::hash(s.as_bytes()).to_hex();
    format!("{}~{}", &out[..cut], &hash[..16])
}

/// Inverse of [`file_name`]; None for shortened names and anything it never produces.
pub fn decode_file_name(name: &str) -> Option<String> {
    if name == "%" {
        return Some(String::new());
    }
    if name.contains('~') {
        return None;
    }
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = name.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_safe_readable_and_reversible() {
        for (s, expected) in [
            ("pretrain[B3,xsub]", "pretrain[B3,xsub]"),
            ("eval.linear[B3,xsub]", "eval.linear[B3,xsub]"),
            ("a/b", "a%2Fb"),
            ("..", "%2E."),
            (".hidden", "%2Ehidden"),
            ("50%", "50%25"),
            ("x y", "x%20y"),
            ("é", "%C3%A9"),
            ("", "%"),
            ("a~b", "a%7Eb"),
        ] {
            assert_eq!(file_name(s), expected);
            assert_eq!(decode_file_name(expected).as_deref(), Some(s));
        }
    }

    #[test]
    fn long_names_stay_unique_and_short() {
        let a = format!("sweep[{}]", "variant=a,".repeat(40));
        let b = format!("sweep[{}]", "variant=a,".repeat(41));
        let (fa, fb) = (file_name(&a), file_name(&b));
        assert!(fa.len() <= MAX_NAME && fb.len() <= MAX_NAME);
        assert_ne!(fa, fb);
        assert_eq!(decode_file_name(&fa), None);
        // Escapes are never split by the cut.
        let c = "/".repeat(200);
        let fc = file_name(&c);
        let body = fc.split('~').next().unwrap();
        assert!(
            body.len().is_multiple_of(3)
                && body.chars().filter(|&ch| ch == '%').count() == body.len() / 3
        );
    }
}
