//! The job file handed to a stage process, and the stage process itself
//! (`skelflow __exec <job.json>`): it runs one stage kind with its context and exits.
//!
//! Run locally, the commit happens in the parent: it holds the key's lock and the staging
//! directory, the child only writes into `ctx.out_dir`, so a killed child never leaves
//! anything that looks committed. Run as a batch job ([`BatchCommit`]: Slurm), the process
//! itself locks the key in the shared cache, stages, commits and clears the key's
//! submission record, so its result lands even when no runner is left to wait for it.

use std::path::Path;

use serde::{Deserialize, Serialize};
use skelflow_cache::{ArtifactInfo, Key, KeyComponents, Store};
use skelflow_contract::{ErrorLine, StageLine};
use skelflow_stages::{StageContext, StageError, registry};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobFile {
    pub kind: String,
    /// The instance's key (for messages and for a batch executor to find its lock).
    pub key: String,
    pub cache: std::path::PathBuf,
    pub ctx: StageContext,
    /// Set for batch jobs: the process commits its own result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchCommit>,
}

/// What a batch job needs to commit its artifact by itself.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BatchCommit {
    pub components: KeyComponents,
    /// The job's own log (its stdout and stderr), copied into the artifact.
    pub log: std::path::PathBuf,
}

impl JobFile {
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(self).expect("serialisable"))
    }
}

/// Exit codes of the stage process.
pub mod code {
    pub const OK: i32 = 0;
    pub const STAGE_FAILED: i32 = 1;
    pub const BAD_JOB: i32 = 2;
    pub const INTERRUPTED: i32 = 130;
}

/// Body of `skelflow __exec`.
pub fn exec_main(job_file: &Path) -> i32 {
    let job: JobFile = match std::fs::read(job_file)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(j) => j,
        Err(e) => {
            report_error(&format!("cannot read job file {}: {e}", job_file.display()));
            return code::BAD_JOB;
        }
    };
    let Some(kind) = registry().get(&job.kind) else {
        report_error(&format!(
            "this skelflow binary has no stage kind `{}`",
            job.kind
        ));
        return code::BAD_JOB;
    };
    if let Some(batch) = job.batch.clone() {
        return match run_batch(&job, kind, &batch) {
            Ok(()) => code::OK,
            Err(e) => {
                report_error(&e.message);
                e.code
            }
        };
    }
    match run_stage(kind, &job.ctx) {
        Ok(()) => code::OK,
        Err(e) => {
            report_error(&e.message);
            e.code
        }
    }
}

/// Why a stage process ends with a non-zero code.
struct Exit {
    code: i32,
    message: String,
}

fn run_stage(kind: &dyn skelflow_stages::StageKind, ctx: &StageContext) -> Result<(), Exit> {
    match kind.run_stage(ctx) {
        Ok(()) => Ok(()),
        Err(StageError::Interrupted) => Err(Exit {
            code: code::INTERRUPTED,
            message: "interrupted".into(),
        }),
        Err(e) => {
            let mut message = e.to_string();
            if let Some(free) = short_of_space(&ctx.out_dir) {
                message.push_str(&format!(
                    " — no space left on device: the filesystem of its output directory {} has {free} bytes free; free space (`skelflow gc` removes what no recent run needs) and run again; finished stages stay cached",
                    ctx.out_dir.display()
                ));
            }
            Err(Exit {
                code: code::STAGE_FAILED,
                message,
            })
        }
    }
}

/// A batch job: lock the key in the shared cache (waiting for any other process computing
/// it), then — unless it is cached by now — stage, run, commit and clear the record.
fn run_batch(
    job: &JobFile,
    kind: &dyn skelflow_stages::StageKind,
    batch: &BatchCommit,
) -> Result<(), Exit> {
    let cache_err = |what: &str, e: &dyn std::fmt::Display| Exit {
        code: code::STAGE_FAILED,
        message: format!("{what} in the cache {}: {e}", job.cache.display()),
    };
    let store = Store::open(&job.cache).map_err(|e| cache_err("cannot open", &e))?;
    let key = Key::parse(&job.key).map_err(|e| cache_err("bad key", &e))?;
    let lock = store
        .lock(&key)
        .map_err(|e| cache_err("cannot lock its key", &e))?;
    if store.contains(&key) {
        eprintln!(
            "skelflow: {} is cached already; nothing to do",
            job.ctx.instance
        );
        let _ = store.clear_submission(&lock);
        return Ok(());
    }
    for input in &job.ctx.inputs {
        if !input.dir.is_dir() {
            return Err(Exit {
                code: code::STAGE_FAILED,
                message: format!(
                    "the artifact of upstream {} is missing from the cache ({})",
                    input.instance,
                    input.dir.display()
                ),
            });
        }
    }
    let staging = store
        .begin(&lock)
        .map_err(|e| cache_err("cannot create its staging directory", &e))?;
    let work_dir = store
        .work_dir(&key)
        .map_err(|e| cache_err("cannot create its work directory", &e))?;
    let ctx = StageContext {
        out_dir: staging.dir().to_path_buf(),
        work_dir,
        ..job.ctx.clone()
    };
    let started = std::time::Instant::now();
    run_stage(kind, &ctx)?;
    copy_log(&batch.log, &staging.dir().join(super::ARTIFACT_LOG))
        .map_err(|e| cache_err("cannot copy its log into the artifact", &e))?;
    staging
        .commit(ArtifactInfo {
            kind: job.kind.clone(),
            instance: job.ctx.instance.clone(),
            components: batch.components.clone(),
            seconds: started.elapsed().as_secs_f64(),
        })
        .map_err(|e| cache_err("cannot commit its artifact", &e))?;
    let _ = store.remove_work_dir(&key);
    let _ = store.clear_submission(&lock);
    Ok(())
}

/// The job's log so far, without the lines of the stage-process protocol (progress), as
/// the local executor keeps it.
fn copy_log(from: &Path, to: &Path) -> std::io::Result<()> {
    let text = match std::fs::read(from) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let kept: String = text
        .split_inclusive('\n')
        .filter(|l| {
            matches!(
                StageLine::decode(l.trim_end_matches(['\n', '\r'])),
                StageLine::Log(_)
            )
        })
        .collect();
    std::fs::write(to, kept)
}

/// Below this many free bytes, a failed stage is taken to have run out of space.
const NEARLY_FULL: u64 = 1 << 20;

/// The free bytes of the filesystem holding `dir`, if that is nearly nothing: a stage that
/// fails there has most likely failed for lack of space (a shell command says so only in
/// its log, and exits 1).
fn short_of_space(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid C string and `st` a buffer statvfs fills in when it returns 0.
    let st = unsafe {
        if libc::statvfs(path.as_ptr(), st.as_mut_ptr()) != 0 {
            return None;
        }
        st.assume_init()
    };
    // The field types differ between platforms.
    #[allow(clippy::unnecessary_cast)]
    let free = (st.f_bavail as u64).saturating_mul(st.f_frsize as u64);
    (free < NEARLY_FULL).then_some(free)
}

fn report_error(msg: &str) {
    eprintln!(
        "{}",
        ErrorLine {
            message: msg.to_string()
        }
        .encode()
    );
}
