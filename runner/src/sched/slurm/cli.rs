//! Slurm's command-line clients, as the API: `sbatch --parsable`, one batched `sacct` (or
//! `squeue` where accounting is off) per polling round, `scancel`. Their text output is
//! parsed with `-P`/`-o` formats, stable across Slurm 22–25 (the JSON outputs are not).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

/// A job's state as Slurm says it: `RUNNING`, `PENDING`, `CANCELLED`, ...
#[derive(Clone, Debug, PartialEq)]
pub struct JobState {
    /// The state word (`CANCELLED by 0` → `CANCELLED`).
    pub state: String,
    /// Why it waits (`Priority`, `Resources`), from squeue only.
    pub reason: Option<String>,
    /// `code:signal`, from sacct only.
    pub exit_code: Option<String>,
}

impl JobState {
    pub fn is_final(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "PENDING"
                | "RUNNING"
                | "COMPLETING"
                | "CONFIGURING"
                | "REQUEUED"
                | "REQUEUE_FED"
                | "REQUEUE_HOLD"
                | "RESIZING"
                | "SUSPENDED"
                | "STOPPED"
                | "SIGNALING"
                | "STAGE_OUT"
        )
    }

    /// `PENDING (Priority)`, `RUNNING`.
    pub fn describe(&self) -> String {
        match &self.reason {
            Some(r) if !r.is_empty() && r != "None" => format!("{} ({r})", self.state),
            _ => self.state.clone(),
        }
    }
}

/// Why a Slurm command could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error(
        "`{0}` is not on PATH: the slurm executor runs Slurm's client commands (sbatch, sacct or squeue, scancel) on this machine; run skelflow on a login node of the cluster, or use `--executor local`"
    )]
    Missing(String),
    #[error("`{command}` failed: {message}")]
    Failed { command: String, message: String },
}

fn run(program: &str, args: &[String]) -> Result<String, SlurmError> {
    let out = Command::new(program).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SlurmError::Missing(program.to_string())
        } else {
            SlurmError::Failed {
                command: program.to_string(),
                message: e.to_string(),
            }
        }
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let message = [stderr.trim(), stdout.trim()]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(SlurmError::Failed {
            command: format!("{program} {}", args.join(" ")),
            message: if message.is_empty() {
                format!("exit status {}", out.status)
            } else {
                message
            },
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Is `program` on PATH?
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| {
            let p = d.join(program);
            p.is_file()
                && std::fs::metadata(&p)
                    .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
                    .unwrap_or(false)
        })
    })
}

/// `sbatch --parsable ARGS SCRIPT` → the job id.
pub fn sbatch(args: &[String], script: &Path) -> Result<String, SlurmError> {
    let mut all = vec!["--parsable".to_string()];
    all.extend(args.iter().cloned());
    all.push(script.to_string_lossy().into_owned());
    let out = run("sbatch", &all)?;
    // `id` or `id;cluster`
    let id = out.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SlurmError::Failed {
            command: "sbatch".into(),
            message: format!("unexpected output `{}`", out.trim()),
        });
    }
    Ok(id)
}

/// `sbatch --test-only ARGS --wrap true`: does Slurm accept these options? Nothing is
/// submitted.
pub fn test_only(args: &[String]) -> Result<(), SlurmError> {
    let mut all = vec!["--test-only".to_string()];
    all.extend(args.iter().cloned());
    all.extend(["--wrap".to_string(), "true".to_string()]);
    run("sbatch", &all).map(|_| ())
}

/// The states of `ids`, in one query: `sacct` when accounting works, else `squeue` (which
/// knows finished jobs only for `MinJobAge`). Jobs Slurm does not list are absent.
pub fn states(
    ids: &[String],
    use_sacct: &mut bool,
) -> Result<HashMap<String, JobState>, SlurmError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let list = ids.join(",");
    if *use_sacct {
        let args: Vec<String> = [
            "-X",
            "-P",
            "-n",
            "-j",
            &list,
            "-o",
            "JobIDRaw,State,ExitCode",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match run("sacct", &args) {
            Ok(out) => return Ok(parse_sacct(&out)),
            // Accounting is off (or sacct is absent): squeue from now on.
            Err(_) => *use_sacct = false,
        }
    }
    let args: Vec<String> = ["-h", "-t", "all", "-j", &list, "-o", "%A|%T|%r"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    match run("squeue", &args) {
        Ok(out) => Ok(parse_squeue(&out)),
        // Every id unknown (purged after MinJobAge): nothing listed, not a failure.
        Err(SlurmError::Failed { message, .. }) if message.contains("Invalid job id") => {
            Ok(HashMap::new())
        }
        Err(e) => Err(e),
    }
}

/// `sacct -o JobIDRaw,State,ExitCode` lines.
pub fn parse_sacct(out: &str) -> HashMap<String, JobState> {
    parse_lines(out, |state, third| JobState {
        state,
        reason: None,
        exit_code: third,
    })
}

/// `squeue -o '%A|%T|%r'` lines.
pub fn parse_squeue(out: &str) -> HashMap<String, JobState> {
    parse_lines(out, |state, third| JobState {
        state,
        reason: third,
        exit_code: None,
    })
}

/// `id|STATE words|third` lines; the state is its first word (`CANCELLED by 0`).
fn parse_lines(
    out: &str,
    make: impl Fn(String, Option<String>) -> JobState,
) -> HashMap<String, JobState> {
    out.lines()
        .filter_map(|l| {
            let mut f = l.split('|');
            let id = f.next()?.trim().to_string();
            let state = f.next()?.split_whitespace().next()?.to_string();
            let third = f.next().map(|s| s.trim().to_string());
            Some((id, make(state, third)))
        })
        .collect()
}

/// `scancel IDS` (one call for all).
pub fn scancel(ids: &[String]) -> Result<(), SlurmError> {
    if ids.is_empty() {
        return Ok(());
    }
    run("scancel", ids).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sacct_and_squeue_lines() {
        let s = parse_sacct("12|CANCELLED by 0|0:15\n13|COMPLETED|0:0\n");
        assert_eq!(s["12"].state, "CANCELLED");
        assert_eq!(s["13"].exit_code.as_deref(), Some("0:0"));
        assert!(s["12"].is_final());
        let q = parse_squeue("14|PENDING|Priority\n15|RUNNING|None\n");
        assert_eq!(q["14"].describe(), "PENDING (Priority)");
        assert_eq!(q["15"].describe(), "RUNNING");
        assert!(!q["14"].is_final());
    }
}
