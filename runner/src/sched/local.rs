//! The local executor: each job is a child process `skelflow __exec <job file>` in its own
//! process group, killed by the kernel if the runner dies (`PR_SET_PDEATHSIG`), with its
//! threads and GPUs set through the environment. Its stdout and stderr go to the job's log;
//! progress lines on stderr go to the dispatcher instead.
//!
//! Children must be spawned from the dispatcher's (long-lived) thread: Linux delivers the
//! parent-death signal when the spawning *thread* exits.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use skelflow_contract::StageLine;

use super::executor::{ExecEvent, Executor, JobSpec, Outcome, Report, Started};
use crate::pipeline::format_time;

struct Proc {
    pgid: i32,
    /// Asked to stop: its end is `Stopped`, not a failure.
    stopping: bool,
    /// Stopped because it ran past its `time`.
    timed_out: bool,
}

/// How long a stage past its time gets between SIGTERM and SIGKILL.
const TIME_GRACE: Duration = Duration::from_secs(10);

pub struct LocalExecutor {
    exe: PathBuf,
    running: Arc<Mutex<HashMap<u64, Proc>>>,
}

impl LocalExecutor {
    pub fn new() -> std::io::Result<LocalExecutor> {
        Ok(LocalExecutor {
            exe: std::env::current_exe()?,
            running: Arc::default(),
        })
    }
}

impl Executor for LocalExecutor {
    fn name(&self) -> &'static str {
        "local"
    }

    fn start(&mut self, spec: JobSpec, report: Report) -> std::io::Result<Started> {
        if let Some(d) = spec.log.parent() {
            std::fs::create_dir_all(d)?;
        }
        let log = Arc::new(Mutex::new(
            File::options().create(true).append(true).open(&spec.log)?,
        ));
        let threads = spec.cpus.max(1).to_string();
        let gpus = spec
            .gpus
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let parent = std::process::id() as libc::pid_t;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("__exec")
            .arg(&spec.job_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("SKELFLOW_THREADS", &threads)
            .env("RAYON_NUM_THREADS", &threads)
            .env("OMP_NUM_THREADS", &threads)
            .env("MKL_NUM_THREADS", &threads)
            .env("CUDA_VISIBLE_DEVICES", &gpus)
            .env("SKELFLOW_INSTANCE", &spec.instance)
            .process_group(0);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The runner may have died before the signal was armed.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        let pid = child.id() as i32;
        self.running.lock().expect("lock").insert(
            spec.id,
            Proc {
                pgid: pid,
                stopping: false,
                timed_out: false,
            },
        );
        if let Some(limit) = spec.time {
            self.enforce_time(spec.id, limit);
        }

        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let out_log = log.clone();
        let out_thread =
            std::thread::spawn(move || copy_lines(BufReader::new(stdout), &out_log, |_| false));
        let err_log = log.clone();
        let job = spec.id;
        let err_report = report.clone();
        let error: Arc<Mutex<Option<String>>> = Arc::default();
        let err_slot = error.clone();
        let err_thread = std::thread::spawn(move || {
            copy_lines(
                BufReader::new(stderr),
                &err_log,
                |line| match StageLine::decode(line) {
                    StageLine::Progress(p) => {
                        err_report(ExecEvent::Progress { job, line: p });
                        true
                    }
                    StageLine::Error(e) => {
                        *err_slot.lock().expect("lock") = Some(e.message);
                        true
                    }
                    StageLine::Log(_) => false,
                },
            )
        });
        let running = self.running.clone();
        let time = spec.time;
        std::thread::spawn(move || {
            let status = child.wait();
            let _ = out_thread.join();
            let _ = err_thread.join();
            let proc = running.lock().expect("lock").remove(&job);
            let stopped = proc.as_ref().is_some_and(|p| p.stopping);
            let timed_out = proc.as_ref().is_some_and(|p| p.timed_out);
            let outcome = match status {
                Ok(s) if s.success() => Outcome::Succeeded,
                _ if timed_out => Outcome::Failed {
                    error: format!(
                        "timeout: it ran past its time limit of {} (`resources.time`) and was stopped; raise `time`, or run again to resume from its checkpoint",
                        format_time(time.unwrap_or_default())
                    ),
                    retryable: true,
                },
                _ if stopped => Outcome::Stopped,
                Ok(s) => {
                    use std::os::unix::process::ExitStatusExt;
                    let msg = error.lock().expect("lock").take();
                    Outcome::Failed {
                        error: msg.unwrap_or_else(|| match (s.code(), s.signal()) {
                            (Some(c), _) => format!("stage process exited with status {c}"),
                            (None, Some(sig)) => {
                                format!("stage process was killed by signal {sig}")
                            }
                            _ => "stage process failed".into(),
                        }),
                        retryable: false,
                    }
                }
                Err(e) => Outcome::Failed {
                    error: format!("cannot wait for the stage process: {e}"),
                    retryable: false,
                },
            };
            report(ExecEvent::Exited { job, outcome });
        });
        Ok(Started::Process)
    }

    fn stop(&mut self, job: u64, force: bool) {
        let mut running = self.running.lock().expect("lock");
        if let Some(p) = running.get_mut(&job) {
            p.stopping = true;
            let sig = if force { libc::SIGKILL } else { libc::SIGTERM };
            // SAFETY: plain syscall; a negative pid addresses the job's process group.
            unsafe {
                libc::kill(-p.pgid, sig);
            }
        }
    }
}

impl LocalExecutor {
    /// Stop job `job` when it runs past `limit`: SIGTERM (the stage saves its checkpoint),
    /// then SIGKILL after a grace period.
    fn enforce_time(&self, job: u64, limit: Duration) {
        let running = self.running.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + limit;
            let signal = |sig, mark: bool| -> bool {
                let mut running = running.lock().expect("lock");
                let Some(p) = running.get_mut(&job) else {
                    return false;
                };
                p.timed_out |= mark;
                // SAFETY: plain syscall; the job is still ours, so its group is too.
                unsafe {
                    libc::kill(-p.pgid, sig);
                }
                true
            };
            while Instant::now() < deadline {
                if !running.lock().expect("lock").contains_key(&job) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200).min(deadline - Instant::now()));
            }
            if signal(libc::SIGTERM, true) {
                std::thread::sleep(TIME_GRACE);
                signal(libc::SIGKILL, false);
            }
        });
    }
}

fn copy_lines(mut r: impl BufRead, log: &Mutex<File>, mut intercept: impl FnMut(&str) -> bool) {
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                if intercept(line.trim_end_matches(['\n', '\r'])) {
                    continue;
                }
                let _ = log.lock().expect("lock").write_all(&buf);
            }
        }
    }
}
