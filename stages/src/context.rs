//! What a stage sees while it runs.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use skelflow_contract::{ProgressLine, Within};

use crate::StageError;

/// The compute backend a training stage runs on. Part of the key of every stage whose kind
/// says [`crate::StageKind::uses_backend`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// burn's pure-Rust CPU backend (always compiled in).
    Flex,
    /// libtorch on the CPU (cargo feature `tch`).
    TchCpu,
    /// libtorch on a CUDA GPU (cargo feature `tch`). The runner pins the stage to one
    /// device with `CUDA_VISIBLE_DEVICES`, so inside the stage it is always device 0.
    TchCuda,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::Flex, Backend::TchCpu, Backend::TchCuda];

    /// The stable name used in keys, on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::TchCpu => "tch-cpu",
            Backend::TchCuda => "tch-cuda",
        }
    }

    pub fn parse(s: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == s)
    }

    /// Whether this binary was built with the backend.
    pub fn compiled_in(self) -> bool {
        match self {
            Backend::Flex => true,
            Backend::TchCpu | Backend::TchCuda => cfg!(feature = "tch"),
        }
    }

    pub fn uses_gpu(self) -> bool {
        matches!(self, Backend::TchCuda)
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One upstream artifact this stage consumes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Input {
    /// Instance id of the producer in the current pipeline (for messages only: it is not
    /// part of the key, so a stage must not let it change what it computes).
    pub instance: String,
    /// Stage kind of the producer (`ntu.import`, `pretrain`, …): how a stage tells its
    /// inputs apart.
    pub kind: String,
    /// The committed, read-only artifact directory.
    pub dir: PathBuf,
}

/// Everything a running stage may use. Serialisable, because the executor hands it to a
/// separate process (`skelflow __exec`), locally or on a Slurm node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageContext {
    /// Instance id, e.g. `pretrain[B3,xsub]` (for messages and logs only).
    pub instance: String,
    /// Canonical params as returned by [`crate::StageKind::check`], with `${…}` resolved.
    pub params: serde_json::Value,
    /// Upstream artifacts in canonical order (sorted by kind, then key).
    pub inputs: Vec<Input>,
    /// Empty directory on the cache's filesystem; everything written here becomes the
    /// artifact when the stage returns Ok.
    pub out_dir: PathBuf,
    /// Persistent scratch directory of this key: survives failures and kills, so long
    /// stages checkpoint here and resume. Removed once the artifact is committed.
    pub work_dir: PathBuf,
    /// Directory of the pipeline file; relative paths in params are relative to it.
    pub pipeline_dir: PathBuf,
    pub seed: u64,
    pub backend: Backend,
    /// CPU threads this stage may use (its `resources.cpus`).
    pub threads: usize,
}

impl StageContext {
    /// Resolve a path from params against the pipeline directory.
    pub fn resolve(&self, p: impl AsRef<Path>) -> PathBuf {
        let p = p.as_ref();
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.pipeline_dir.join(p)
        }
    }

    /// Deserialize the canonical params into the kind's typed params.
    pub fn params<P: serde::de::DeserializeOwned>(&self) -> Result<P, StageError> {
        serde_json::from_value(self.params.clone()).map_err(|e| {
            StageError::input(format!(
                "params do not match the kind (a job file from another skelflow version?): {e}"
            ))
        })
    }

    /// Live progress: `done` of `total` units (epochs, files, steps) and a short message
    /// (e.g. `loss 4.21`). Sent to the runner as a [`ProgressLine`] on stderr.
    pub fn progress(&self, done: u64, total: u64, message: &str) {
        self.progress_within(done, total, None, message);
    }

    /// Progress, and where inside the current outer unit it is (`step` of `steps` of epoch
    /// `done + 1`, with the samples per second so far) when `within` says.
    pub fn progress_within(&self, done: u64, total: u64, within: Option<Within>, message: &str) {
        emit(&ProgressLine {
            done,
            total,
            message: message.to_string(),
            within,
        });
    }

    /// All inputs produced by stages of `kind`.
    pub fn inputs_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Input> + 'a {
        self.inputs.iter().filter(move |i| i.kind == kind)
    }

    /// The single input whose artifact contains `file` (e.g. `dataset.arrow`), with a clear
    /// error if there is none or more than one.
    pub fn input_with_file(&self, file: &str) -> Result<&Input, StageError> {
        let found: Vec<&Input> = self
            .inputs
            .iter()
            .filter(|i| i.dir.join(file).exists())
            .collect();
        match found.as_slice() {
            [one] => Ok(one),
            [] => Err(StageError::input(format!(
                "needs an upstream artifact with `{file}`, but none of its `needs` ({}) has one: add the producing stage to `needs`",
                self.inputs
                    .iter()
                    .map(|i| i.instance.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            many => Err(StageError::input(format!(
                "found `{file}` in several inputs ({}); keep only one such stage in `needs`",
                many.iter()
                    .map(|i| i.instance.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

fn emit(line: &ProgressLine) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{}", line.encode());
    let _ = err.flush();
}
