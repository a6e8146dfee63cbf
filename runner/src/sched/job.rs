//! The job file handed to a stage process, and the stage process itself
//! (`skelflow __exec <job.json>`): it runs one stage kind with its context and exits.
//!
//! Commit happens in the parent: it holds the key's lock and the staging directory, the child
//! only writes into `ctx.out_dir`. So a killed child never leaves anything that looks
//! committed, and a Slurm executor can reuse this command as is.

use std::path::Path;

use serde::{Deserialize, Serialize};
use skelflow_contract::ErrorLine;
use skelflow_stages::{StageContext, StageError, registry};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobFile {
    pub kind: String,
    /// The instance's key (for messages and for a batch executor to find its lock).
    pub key: String,
    pub cache: std::path::PathBuf,
    pub ctx: StageContext,
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
    match kind.run_stage(&job.ctx) {
        Ok(()) => code::OK,
        Err(StageError::Interrupted) => {
            report_error("interrupted");
            code::INTERRUPTED
        }
        Err(e) => {
            let mut message = e.to_string();
            if let Some(free) = short_of_space(&job.ctx.out_dir) {
                message.push_str(&format!(
                    " — no space left on device: the filesystem of its output directory {} has {free} bytes free; free space (`skelflow gc` removes what no recent run needs) and run again; finished stages stay cached",
                    job.ctx.out_dir.display()
                ));
            }
            report_error(&message);
            code::STAGE_FAILED
        }
    }
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
