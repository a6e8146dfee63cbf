//! The pre-training loop: epochs of augmented batches through a [`Method`], a checkpoint
//! after every epoch in the key's work dir (temp dir + rename, so a kill mid-write is
//! harmless), automatic resume from the newest complete checkpoint, and a clear error on a
//! NaN/Inf loss.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skelflow_contract::{ResumePoint, Within};

use super::artifact::{EpochRow, write_json};
use super::augment::Aug;
use super::data::{ClipSource, batch_clips, derive_seed, epoch_order, to_batch};
use super::method::{Method, StepAt};
use super::optim::OptimParams;
use crate::data::Stream;
use crate::{IoContext, StageError};

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

/// Where a training run reports progress: (epochs done, epochs, position within the
/// current epoch, message).
pub type Progress<'a> = dyn Fn(u64, u64, Option<Within>, &str) + 'a;

/// Seconds between two step-level progress reports.
const STEP_REPORT_EVERY: f64 = 0.5;

pub struct TrainSpec<'a> {
    pub source: &'a dyn ClipSource,
    pub indices: Vec<usize>,
    pub views: Vec<Vec<Aug>>,
    /// The stream the method sees (computed from the augmented joint clips).
    pub stream: Stream,
    pub epochs: usize,
    pub batch: usize,
    pub optim: OptimParams,
    pub seed: u64,
    pub device: Device,
    pub work_dir: PathBuf,
    pub hooks: Hooks,
    pub progress: &'a Progress<'a>,
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
    std::fs::create_dir_all(&spec.work_dir).at("create", &spec.work_dir)?;
    let mut rows = Vec::new();
    let mut start = 1;
    if let Some((epoch, dir)) = latest_checkpoint(&spec.work_dir) {
        let p = dir.join("state.json");
        let text = std::fs::read_to_string(&p).at("read", &p)?;
        let state: CheckpointState = serde_json::from_str(&text)
            .map_err(|e| StageError::bad_file(&p, format!("not a checkpoint state: {e}")))?;
        method.load(&dir)?;
        rows = state.rows;
        start = epoch + 1;
        eprintln!("resuming from epoch {epoch} (checkpoint {})", dir.display());
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
        let mut views_rng =
            ChaCha8Rng::seed_from_u64(derive_seed(spec.seed, &[0xc0de, epoch as u64]));
        let epoch_views = method.epoch_views(&spec.views, epoch, &mut views_rng);
        let views = epoch_views.as_deref().unwrap_or(&spec.views);
        let t0 = Instant::now();
        let mut last_report = t0;
        let mut loss_sum = 0.0f64;
        let mut term_sums: Vec<(String, f64)> = Vec::new();
        for step in 0..steps {
            let at = StepAt {
                epoch,
                epochs: spec.epochs,
                step,
                steps,
                lr,
            };
            let ids = &order[step * batch..((step + 1) * batch).min(n)];
            let mut clips = batch_clips(spec.source, ids, views, spec.stream, spec.seed, epoch);
            let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(
                spec.seed,
                &[0xba7c, epoch as u64, step as u64],
            ));
            method.batch_views(&mut clips, &at, &mut rng);
            let mut b = to_batch(clips, spec.source, ids, &spec.device);
            if spec.hooks.nan_at == Some((epoch, step + 1)) {
                b.views = b.views.into_iter().map(|v| v * f32::NAN).collect();
            }
            let out = method.step(&b, &at)?;
            StageError::check_finite(out.loss, epoch, step + 1, lr)?;
            loss_sum += out.loss as f64;
            for (k, v) in out.terms {
                match term_sums.iter_mut().find(|(n, _)| *n == k) {
                    Some((_, s)) => *s += v as f64,
                    None => term_sums.push((k, v as f64)),
                }
            }
            if last_report.elapsed().as_secs_f64() >= STEP_REPORT_EVERY && step + 1 < steps {
                last_report = Instant::now();
                let rate = ((step + 1) * batch) as f64 / t0.elapsed().as_secs_f64().max(1e-9);
                (spec.progress)(
                    epoch as u64 - 1,
                    spec.epochs as u64,
                    Some(Within {
                        done: step as u64 + 1,
                        total: steps as u64,
                        unit: "step".into(),
                        rate: Some(rate),
                    }),
                    &format!("loss {:.4}", loss_sum / (step + 1) as f64),
                );
            }
        }
        let seconds = t0.elapsed().as_secs_f64();
        let mut extra: Vec<(String, f64)> = term_sums
            .into_iter()
            .map(|(k, s)| (k, s / steps as f64))
            .collect();
        extra.extend(method.after_epoch(epoch, spec.epochs)?);
        let row = EpochRow {
            epoch,
            loss: loss_sum / steps as f64,
            lr,
            seconds,
            samples_per_s: (steps * batch) as f64 / seconds.max(1e-9),
            extra,
        };
        (spec.progress)(
            epoch as u64,
            spec.epochs as u64,
            None,
            &format!(
                "loss {:.4} lr {lr:.4} {:.1} samples/s",
                row.loss, row.samples_per_s
            ),
        );
        rows.push(row);
        save_checkpoint(method, &spec.work_dir, (epoch, spec.epochs), &rows)?;
    }
    Ok(Trained { rows, resumed_from })
}

/// Checkpoint after `epoch` of `epochs`.
fn save_checkpoint(
    method: &dyn Method,
    work: &Path,
    (epoch, epochs): (usize, usize),
    rows: &[EpochRow],
) -> Result<(), StageError> {
    let tmp = work.join(format!(".tmp-ckpt-{epoch:05}"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).at("remove", &tmp)?;
    }
    std::fs::create_dir_all(&tmp).at("create", &tmp)?;
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
        std::fs::remove_dir_all(&dst).at("remove", &dst)?;
    }
    std::fs::rename(&tmp, &dst).at("rename a checkpoint to", &dst)?;
    // Only now that the checkpoint is complete: what `skelflow status` reports.
    ResumePoint {
        done: epoch as u64,
        total: Some(epochs as u64),
        unit: "epoch".into(),
    }
    .write(work)
    .at("write", &work.join(skelflow_contract::RESUME_JSON))?;
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
