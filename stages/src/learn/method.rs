//! The seam between the training loop and a pre-training method: what a method is given
//! ([`MethodSetup`], [`StepAt`], a [`Batch`]), what it must do ([`Method`]), and the
//! checkpoint helpers every method uses to save and resume its state.
//!
//! The methods themselves live in `crate::methods`, one file each; this module knows none
//! of them.

use std::path::Path;

use burn::prelude::*;
use rand_chacha::ChaCha8Rng;

use super::augment::{Aug, Clip};
use super::data::Batch;
use super::encoders::{Encoder, EncoderConfig};
use super::optim::OptimParams;
use crate::data::Stream;
use crate::{IoContext, StageError};

/// Where in the training run a step is (1-based epoch, 0-based step within the epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepAt {
    pub epoch: usize,
    pub epochs: usize,
    pub step: usize,
    pub steps: usize,
    /// The learning rate of this epoch.
    pub lr: f64,
}

impl StepAt {
    /// Steps taken before this one since epoch 1.
    pub fn global_step(&self) -> u64 {
        ((self.epoch - 1) * self.steps + self.step) as u64
    }
}

/// What one optimisation step reports.
#[derive(Clone, Debug, Default)]
pub struct StepOutput {
    /// The total loss of the step (before the update).
    pub loss: f32,
    /// Named loss terms (written as extra columns of `epochs.parquet`).
    pub terms: Vec<(String, f32)>,
}

/// The views of one batch as clips, after the per-sample augmentations and the stream
/// conversion, before they become tensors: `views[v][i]` is view `v` of sample `i`. A
/// method's batch-level transform may rewrite them, add views, and leave what the step
/// needs to know about the mixing (partners, masks) in `extras`.
#[derive(Clone, Debug, Default)]
pub struct BatchClips {
    pub views: Vec<Vec<Clip>>,
    pub extras: Extras,
}

/// Plain data a batch-level transform hands to the method's step, by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extras(pub Vec<(String, Extra)>);

#[derive(Clone, Debug, PartialEq)]
pub enum Extra {
    Indices(Vec<usize>),
    Floats { shape: Vec<usize>, data: Vec<f32> },
}

impl Extras {
    pub fn put(&mut self, name: &str, e: Extra) {
        self.0.retain(|(n, _)| n != name);
        self.0.push((name.to_string(), e));
    }
    pub fn get(&self, name: &str) -> Option<&Extra> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, e)| e)
    }
    pub fn indices(&self, name: &str) -> Option<&[usize]> {
        match self.get(name)? {
            Extra::Indices(v) => Some(v),
            Extra::Floats { .. } => None,
        }
    }
    pub fn floats(&self, name: &str) -> Option<(&[usize], &[f32])> {
        match self.get(name)? {
            Extra::Floats { shape, data } => Some((shape, data)),
            Extra::Indices(_) => None,
        }
    }
}

/// A pre-training method: owns its modules (query/key encoders, heads), its state (queues,
/// memory banks) and its optimiser.
pub trait Method {
    /// The per-sample views of (1-based) `epoch`, given the stage's views: a method's
    /// augmentation curriculum (ActCLR's, which draws once per epoch which ops each view
    /// keeps). `rng` is seeded by (stage seed, epoch). `None` (the default) keeps them.
    fn epoch_views(
        &self,
        _views: &[Vec<Aug>],
        _epoch: usize,
        _rng: &mut ChaCha8Rng,
    ) -> Option<Vec<Vec<Aug>>> {
        None
    }
    /// Batch-level view transforms (ActCLR's `ske_trans` / `ske_swap`), run on the CPU
    /// after the per-sample augmentations and the stream conversion, with an RNG seeded by
    /// (stage seed, epoch, step). The default leaves the views as they are.
    fn batch_views(&self, _clips: &mut BatchClips, _at: &StepAt, _rng: &mut ChaCha8Rng) {}
    /// One step on a batch of views; returns the loss before the update.
    fn step(&mut self, batch: &Batch, at: &StepAt) -> Result<StepOutput, StageError>;
    /// After an epoch's last step, before its checkpoint: a method that tests itself
    /// (finetuning) returns the epoch's test metrics, which join the epoch's row. The
    /// default tests nothing.
    fn after_epoch(
        &mut self,
        _epoch: usize,
        _epochs: usize,
    ) -> Result<Vec<(String, f64)>, StageError> {
        Ok(Vec::new())
    }
    /// The encoder to export (the query encoder, with its projection head).
    fn encoder(&self) -> &Encoder;
    /// Write everything needed to resume into `dir` (modules, optimiser, queues, RNG state).
    fn save(&self, dir: &Path) -> Result<(), StageError>;
    /// Restore what [`Method::save`] wrote.
    fn load(&mut self, dir: &Path) -> Result<(), StageError>;
}

/// ActCLR's static anchor: the mean training sequence (C, T, V, M) in `stream`, from an
/// `anchor.average_motion` artifact.
#[derive(Clone, Debug)]
pub struct Anchor {
    pub clip: Clip,
    /// The stream the artifact averaged (a joint anchor can be converted to any stream:
    /// motion and bone are linear in the joints, so the mean commutes with them).
    pub stream: Stream,
    /// How many training samples were averaged.
    pub count: usize,
}

/// Everything a method is built from besides its own params.
pub struct MethodSetup<'a> {
    pub encoder: &'a EncoderConfig,
    pub optim: &'a OptimParams,
    pub device: &'a Device,
    /// The stage's seed: every random draw of the method derives from it.
    pub seed: u64,
    /// The stream the views are in.
    pub stream: Stream,
    pub epochs: usize,
    /// Frames of the stored training clips and number of classes of the dataset.
    pub frames: usize,
    pub classes: usize,
    /// The `anchor.average_motion` input, when the pretrain `needs` one.
    pub anchor: Option<&'a Anchor>,
    /// The encoder to start from (`pretrain`'s `init:`), already loaded.
    pub init: Option<&'a Encoder>,
}

impl MethodSetup<'_> {
    /// The query encoder to start from: the `init` encoder, or a fresh one.
    pub fn initial_encoder(&self) -> Encoder {
        match self.init {
            Some(e) => e.clone(),
            None => self.encoder.init(self.device),
        }
    }
}

/// Save / load a module as a burnpack file. Saved through `valid()`: burn holds a training
/// forward's BatchNorm running-statistics update pending (per thread) until the next forward
/// or `valid()`, and a module's record reads the value before it, so the last batch's
/// update would be missing from the file (PyTorch's `state_dict` has it).
pub fn save_module<M: Module>(m: &M, path: &Path) -> Result<(), StageError> {
    m.valid()
        .save_file(path)
        .map_err(|e| StageError::bad_file(path, format!("cannot write the weights: {e:?}")))
}

pub fn load_module<M: Module>(m: M, path: &Path) -> Result<M, StageError> {
    m.try_load_file(path)
        .map_err(|e| StageError::bad_file(path, format!("cannot read the weights: {e:?}")))
}

/// Save / load an optimiser's state (momentum buffers, Adam moments) for resuming.
pub fn save_optim(o: &burn::optim::ModuleOptimizer, path: &Path) -> Result<(), StageError> {
    o.save(path)
        .map_err(|e| StageError::bad_file(path, format!("cannot write the optimiser state: {e:?}")))
}

pub fn load_optim(
    o: burn::optim::ModuleOptimizer,
    path: &Path,
) -> Result<burn::optim::ModuleOptimizer, StageError> {
    o.load(path)
        .map_err(|e| StageError::bad_file(path, format!("cannot read the optimiser state: {e:?}")))
}

/// Save a (rows, cols) f32 matrix (a queue, a memory bank) as raw little-endian floats
/// plus a JSON header with its shape and any counters.
pub fn save_matrix(
    dir: &Path,
    name: &str,
    m: &Tensor<2>,
    header: serde_json::Value,
) -> Result<(), StageError> {
    let [rows, cols] = m.dims();
    let data = m
        .clone()
        .into_data()
        .try_into_vec::<f32>()
        .map_err(|e| StageError::Backend {
            backend: "device".into(),
            message: format!("cannot read `{name}` back: {e:?}"),
        })?;
    write_f32s(&dir.join(format!("{name}.f32")), &data)?;
    let mut h = serde_json::json!({"rows": rows, "cols": cols});
    if let (Some(h), serde_json::Value::Object(extra)) = (h.as_object_mut(), header) {
        h.extend(extra);
    }
    let p = dir.join(format!("{name}.json"));
    std::fs::write(&p, h.to_string()).at("write", &p)
}

/// Load what [`save_matrix`] wrote: the matrix and its header.
pub fn load_matrix(
    dir: &Path,
    name: &str,
    device: &Device,
) -> Result<(Tensor<2>, serde_json::Value), StageError> {
    let p = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&p).at("read", &p)?;
    let header: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| StageError::bad_file(&p, e))?;
    let rows = header["rows"].as_u64().unwrap_or(0) as usize;
    let cols = header["cols"].as_u64().unwrap_or(0) as usize;
    let p = dir.join(format!("{name}.f32"));
    let data = read_f32s(&p)?;
    if data.len() != rows * cols {
        return Err(StageError::bad_file(
            &p,
            format!(
                "truncated: expected {} bytes for {rows} × {cols}, found {}",
                rows * cols * 4,
                data.len() * 4
            ),
        ));
    }
    Ok((
        Tensor::from_data(TensorData::new(data, [rows, cols]), device),
        header,
    ))
}

/// Write floats as raw little-endian f32 (checkpointed arrays).
pub fn write_f32s(path: &Path, data: &[f32]) -> Result<(), StageError> {
    let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).at("write", path)
}

/// Read what [`write_f32s`] wrote.
pub fn read_f32s(path: &Path) -> Result<Vec<f32>, StageError> {
    let bytes = std::fs::read(path).at("read", path)?;
    if !bytes.len().is_multiple_of(4) {
        return Err(StageError::bad_file(
            path,
            format!("truncated: {} bytes are not whole f32 values", bytes.len()),
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}
