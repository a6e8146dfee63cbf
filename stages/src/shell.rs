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

use crate::params::{ParamError, ParamSpec, Params, check_typed, specs_of};
use crate::{StageContext, StageError, StageKind};

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
                        vec![
                            crate::params::PathSeg::Key("outs".into()),
                            crate::params::PathSeg::Index(i),
                        ],
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

impl StageKind for Shell {
    fn name(&self) -> &'static str {
        "shell"
    }
    fn version(&self) -> u32 {
        1
    }
    fn about(&self) -> &'static str {
        "run a shell command with declared deps (digested into the key) and outs (under $OUT)"
    }
    fn param_specs(&self) -> Vec<ParamSpec> {
        specs_of::<ShellParams>()
    }
    fn check(&self, params: &serde_json::Value) -> Result<serde_json::Value, Vec<ParamError>> {
        check_typed::<ShellParams>(params)
    }
    fn external_inputs(&self, params: &serde_json::Value) -> Vec<PathBuf> {
        serde_json::from_value::<ShellParams>(params.clone())
            .map(|p| p.deps)
            .unwrap_or_default()
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let p: ShellParams = ctx.params()?;
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
            .map_err(|e| StageError::io(format!("{}: cannot start `sh`", ctx.instance), e))?;
        if !status.success() {
            let how = match status.code() {
                Some(c) => format!("exited with status {c}"),
                None => "was killed by a signal".to_string(),
            };
            return Err(StageError::msg(format!("command {how}: {}", p.cmd)));
        }
        let missing: Vec<String> = p
            .outs
            .iter()
            .filter(|o| !ctx.out_dir.join(o).exists())
            .map(|o| o.display().to_string())
            .collect();
        if !missing.is_empty() {
            return Err(StageError::msg(format!(
                "the command succeeded but did not create declared outs under $OUT: {}; write them to \"$OUT/<name>\"",
                missing.join(", ")
            )));
        }
        Ok(())
    }
}
