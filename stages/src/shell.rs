//! `shell`: run a command with declared inputs and outputs, like a DVC stage.
//!
//! The command runs with `sh -c` in the pipeline's directory. It writes its results under
//! `$OUT` (the artifact directory); each path in `outs` must exist there afterwards. Files
//! and directories in `deps` are digested into the key, so editing them reruns the stage.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::params::{ParamError, Params, PathSeg};
use crate::{IoContext, Kind, StageContext, StageError};

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ShellParams {
    /// The command, run with `sh -c` in the pipeline's directory. `$OUT` is the artifact
    /// directory to write into.
    pub cmd: String,
    /// Files or directories the command reads (relative to the pipeline file). Their
    /// content is part of the key.
    pub deps: Vec<PathBuf>,
    /// Paths relative to `$OUT` that the command must create.
    pub outs: Vec<PathBuf>,
    /// Extra environment variables for the command (part of the key).
    pub env: BTreeMap<String, String>,
}

impl Params for ShellParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut errs = Vec::new();
        if self.cmd.trim().is_empty() {
            errs.push(ParamError::at("cmd", "is required").with_hint(
                "the shell command to run, e.g. `cmd: python prepare.py > $OUT/data.csv`",
            ));
        }
        for (i, o) in self.outs.iter().enumerate() {
            if o.is_absolute()
                || o.components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                errs.push(
                    ParamError::new(
                        vec![PathSeg::Key("outs".into()), PathSeg::Index(i)],
                        format!("`{}` must be a relative path inside $OUT", o.display()),
                    )
                    .with_hint("outs name files the command writes under $OUT, e.g. `model.bin`"),
                );
            }
        }
        errs
    }
}

pub struct Shell;

impl Kind for Shell {
    type Params = ShellParams;
    const NAME: &'static str = "shell";
    const VERSION: u32 = 1;
    const ABOUT: &'static str =
        "run a shell command with declared deps (digested into the key) and outs (under $OUT)";

    fn external_inputs(&self, p: &ShellParams) -> Vec<PathBuf> {
        p.deps.clone()
    }

    fn run(&self, ctx: &StageContext, p: ShellParams) -> Result<(), StageError> {
        let mut cmd = Command::new("sh");
        // Die with the stage process (e.g. when the runner is killed), never outlive it.
        #[cfg(target_os = "linux")]
        unsafe {
            use std::os::unix::process::CommandExt;
            let parent = std::process::id() as libc::pid_t;
            cmd.pre_exec(move || {
                // SAFETY: async-signal-safe calls only.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0
                    || libc::getppid() != parent
                {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let status = cmd
            .arg("-c")
            .arg(&p.cmd)
            .current_dir(&ctx.pipeline_dir)
            .env("OUT", &ctx.out_dir)
            .env("SKELFLOW_WORK_DIR", &ctx.work_dir)
            .env("SKELFLOW_SEED", ctx.seed.to_string())
            .env("SKELFLOW_THREADS", ctx.threads.to_string())
            .env("SKELFLOW_INSTANCE", &ctx.instance)
            .envs(&p.env)
            .status()
            .at("start", std::path::Path::new("sh"))?;
        if !status.success() {
            let how = match status.code() {
                Some(c) => format!("exited with status {c}"),
                None => "was killed by a signal".to_string(),
            };
            return Err(StageError::Command { cmd: p.cmd, how });
        }
        let missing: Vec<String> = p
            .outs
            .iter()
            .filter(|o| !ctx.out_dir.join(o).exists())
            .map(|o| o.display().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(StageError::MissingOuts(missing.join(", ")));
        }
        Ok(())
    }
}
