//! The pre-training loop: epochs of augmented batches through a [`Method`], a checkpoint
//! after every epoch in the key's work dir (temp dir + rename, so a kill mid-write is
//! harmless), automatic resume from the newest complete checkpoint, and a clear error on a
//! NaN/Inf loss.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::artifact::{EpochRow, write_json};
use super::augment::Aug;
use super::data::{ClipSource, derive_seed, epoch_order, make_batch};
use super::optim::OptimParams;
use crate::StageError;
use crate::methods::Method;

/// Debugging aids that change nothing unless set.
#[derive(Clone, Debug, Default)]
pub struct Hooks {
    /// Make the input of (epoch, step) NaN — a real run through the model that shows what
    /// the divergence error looks like (`SKELFLOW_DEBUG_NAN_AT=epoch:step`).
    pub nan_at: Option<(usize, usize)>,
}

impl Hooks {
    pub fn from_env() -> Hooks {
        let nan_at = std::env::var("SKELFLOW_DEBUG_NAN_AT").ok().and_then(|s| {
            let (e, st) = s.split_once(':')?;
            Some((e.trim().parse().ok()?, st.trim().parse().ok()?))
        });
        Hooks { nan_at }
    }
}

pub struct TrainSpec<'a> {
    pub instance: &'a str,
    pub source: &'a dyn ClipSource,
    pub indices: Vec<usize>,
    pub views: Vec<Vec<Aug>>,
    pub epochs: usize,
    pub batch: usize,
    pub optim: OptimParams,
    pub seed: u64,
    pub device: Device,
    pub work_dir: PathBuf,
    pub hooks: Hooks,
    pub progress: &'a dyn Fn(u64, u64, &str),
}

#[derive(Serialize, Deserialize)]
struct CheckpointState {
    epoch: usize,
    rows: Vec<EpochRow>,
}

/// Result of a training run.
pub struct Trained {
    pub rows: Vec<EpochRow>,
    /// The epoch the run resumed after (0 = fresh start).
    pub resumed_from: usize,
}

fn ckpt_dir(work: &Path, epoch: usize) -> PathBuf {
    work.join(format!("ckpt-{epoch:05}"))
}

/// The newest complete checkpoint (one whose `state.json` exists: it is written last).
pub fn latest_checkpoint(work: &Path) -> Option<(usize, PathBuf)> {
    let rd = std::fs::read_dir(work).ok()?;
    rd.filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let epoch: usize = name.strip_prefix("ckpt-")?.parse().ok()?;
            e.path()
                .join("state.json")
                .is_file()
                .then(|| (epoch, e.path()))
        })
        .max_by_key(|(ep, _)| *ep)
}

pub fn train(method: &mut dyn Method, spec: TrainSpec) -> Result<Trained, StageError> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        StageError::io(format!("{}: {what} {}", spec.instance, p.display()), e)
    };
    std::fs::create_dir_all(&spec.work_dir).map_err(|e| io("cannot create", &spec.work_dir, e))?;
    let mut rows = Vec::new();
    let mut start = 1;
    if let Some((epoch, dir)) = latest_checkpoint(&spec.work_dir) {
        let p = dir.join("state.json");
        let text = std::fs::read_to_string(&p).map_err(|e| io("cannot read", &p, e))?;
        let state: CheckpointState = serde_json::from_str(&text).map_err(|e| {
            StageError::msg(format!(
                "{}: bad checkpoint {}: {e}",
                spec.instance,
                p.display()
            ))
        })?;
        method.load(&dir)?;
        rows = state.rows;
        start = epoch + 1;
        eprintln!(
            "{}: resuming from epoch {epoch} (checkpoint {})",
            spec.instance,
            dir.display()
        );
    }
    let resumed_from = start - 1;
    let n = spec.indices.len();
    let batch = spec.batch.min(n).max(1);
    // drop_last like the reference loaders, but never zero steps
    let steps = (n / batch).max(1);
    for epoch in start..=spec.epochs {
        let lr = spec.optim.lr_at(epoch, spec.epochs);
        spec.device
            .seed(derive_seed(spec.seed, &[0xd0, epoch as u64]));
        let order = epoch_order(&spec.indices, spec.seed, epoch);
        let t0 = Instant::now();
        let mut loss_sum = 0.0f64;
        let mut term_sums: Vec<(String, f64)> = Vec::new();
        for step in 0..steps {
            let ids = &order[step * batch..((step + 1) * batch).min(n)];
            let mut b = make_batch(
                spec.source,
                ids,
                &spec.views,
                spec.seed,
                epoch,
                &spec.device,
            );
            if spec.hooks.nan_at == Some((epoch, step + 1)) {
                b.views = b.views.into_iter().map(|v| v * f32::NAN).collect();
            }
            let out = method.step(&b, lr);
            if !out.loss.is_finite() {
                let what = if out.loss.is_nan() { "NaN" } else { "infinite" };
                return Err(StageError::msg(format!(
                    "{}: loss is {what} at epoch {epoch}, step {} (lr {lr}): lower the learning rate or check the input data",
                    spec.instance,
                    step + 1
                )));
            }
            loss_sum += out.loss as f64;
            for (k, v) in out.terms {
                match term_sums.iter_mut().find(|(n, _)| *n == k) {
                    Some((_, s)) => *s += v as f64,
                    None => term_sums.push((k, v as f64)),
                }
            }
        }
        let seconds = t0.elapsed().as_secs_f64();
        let row = EpochRow {
            epoch,
            loss: loss_sum / steps as f64,
            lr,
            seconds,
            samples_per_s: (steps * batch) as f64 / seconds.max(1e-9),
            extra: term_sums
                .into_iter()
                .map(|(k, s)| (k, s / steps as f64))
                .collect(),
        };
        (spec.progress)(
            epoch as u64,
            spec.epochs as u64,
            &format!(
                "loss {:.4} lr {lr:.4} {:.1} samples/s",
                row.loss, row.samples_per_s
            ),
        );
        rows.push(row);
        save_checkpoint(method, &spec.work_dir, epoch, &rows, spec.instance)?;
    }
    Ok(Trained { rows, resumed_from })
}

fn save_checkpoint(
    method: &dyn Method,
    work: &Path,
    epoch: usize,
    rows: &[EpochRow],
    instance: &str,
) -> Result<(), StageError> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        StageError::io(format!("{instance}: {what} {}", p.display()), e)
    };
    let tmp = work.join(format!(".tmp-ckpt-{epoch:05}"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io("cannot remove", &tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io("cannot create", &tmp, e))?;
    method.save(&tmp)?;
    write_json(
        &tmp.join("state.json"),
        &CheckpointState {
            epoch,
            rows: rows.to_vec(),
        },
    )?;
    let dst = ckpt_dir(work, epoch);
    if dst.exists() {
        std::fs::remove_dir_all(&dst).map_err(|e| io("cannot remove", &dst, e))?;
    }
    std::fs::rename(&tmp, &dst).map_err(|e| io("cannot rename checkpoint to", &dst, e))?;
    // keep only the newest
    if let Ok(rd) = std::fs::read_dir(work) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(ep) = name
                .strip_prefix("ckpt-")
                .and_then(|s| s.parse::<usize>().ok())
                && ep < epoch
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    Ok(())
}
