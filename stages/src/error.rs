//! Why a stage failed. The runner shows the message after the instance's name, so a
//! message says what went wrong, where (file and line, epoch and step, param) and what to
//! do — never the instance again.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// An operation on a file or directory failed; the OS error says why (no space left
    /// on device, permission denied, …).
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what it should be.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    BadFile {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },
    /// A param's value does not work with what the stage found at run time.
    #[error("param `{param}`: {message}")]
    Param { param: String, message: String },
    /// An upstream artifact is missing or is not what this stage needs.
    #[error("{0}")]
    Input(String),
    /// Training produced a non-finite loss.
    #[error(
        "loss is {what} at epoch {epoch}, step {step} (lr {lr}): lower the learning rate or check the input data"
    )]
    Diverged {
        what: &'static str,
        epoch: usize,
        step: usize,
        lr: f64,
    },
    /// The compute backend is unavailable or failed.
    #[error("backend {backend}: {message}")]
    Backend { backend: String, message: String },
    /// A command the stage runs failed.
    #[error("command {how}: {cmd}")]
    Command { cmd: String, how: String },
    /// A command succeeded without writing what it declared.
    #[error(
        "the command succeeded but did not create declared outs under $OUT: {0}; write them to \"$OUT/<name>\""
    )]
    MissingOuts(String),
    /// The stage was asked to stop.
    #[error("interrupted")]
    Interrupted,
}

impl StageError {
    /// `Diverged` when a training loss is not finite (NaN or ±∞), else `Ok`.
    pub fn check_finite(loss: f32, epoch: usize, step: usize, lr: f64) -> Result<(), StageError> {
        if loss.is_finite() {
            return Ok(());
        }
        Err(StageError::Diverged {
            what: if loss.is_nan() { "NaN" } else { "infinite" },
            epoch,
            step,
            lr,
        })
    }

    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StageError::Io {
            op,
            path: path.into(),
            source,
        }
    }
    pub fn bad_file(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        StageError::BadFile {
            path: path.into(),
            line: None,
            message: message.to_string(),
        }
    }
    pub fn bad_line(
        path: impl Into<PathBuf>,
        line: usize,
        message: impl std::fmt::Display,
    ) -> Self {
        StageError::BadFile {
            path: path.into(),
            line: Some(line),
            message: message.to_string(),
        }
    }
    pub fn param(param: impl Into<String>, message: impl std::fmt::Display) -> Self {
        StageError::Param {
            param: param.into(),
            message: message.to_string(),
        }
    }
    pub fn input(message: impl std::fmt::Display) -> Self {
        StageError::Input(message.to_string())
    }

    /// Whether the filesystem ran out of space (the runner says so plainly).
    pub fn is_no_space(&self) -> bool {
        match self {
            StageError::Io { source, .. } => source.raw_os_error() == Some(libc::ENOSPC),
            _ => false,
        }
    }
}

/// Attach the operation and path to an I/O result: `fs::write(p, b).at("write", p)?`.
pub trait IoContext<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T, StageError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, op: &'static str, path: &Path) -> Result<T, StageError> {
        self.map_err(|e| StageError::io(op, path, e))
    }
}
