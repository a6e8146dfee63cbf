//! Pre-training methods (self-supervised, and the supervised baseline), one file each, chosen by `pretrain`'s `method`.
//!
//! Adding a method = one file implementing [`Method`] with a `pub const ENTRY:
//! MethodEntry`, plus one line in [`METHODS`].

pub mod a2mc;
pub mod a2mc_blocks;
pub mod blocks;
pub mod moco;
pub mod supervised;

use std::path::Path;

use burn::prelude::*;

use crate::StageError;
use crate::learn::augment::ViewSpec;
use crate::learn::data::Batch;
use crate::learn::encoders::{Encoder, EncoderConfig};
use crate::learn::optim::OptimParams;
use crate::params::ParamError;

/// What one optimisation step reports.
#[derive(Clone, Debug, Default)]
pub struct StepOutput {
    /// The total loss of the step (before the update).
    pub loss: f32,
    /// Named loss terms (written as extra columns of `epochs.parquet`).
    pub terms: Vec<(String, f32)>,
}

/// A pre-training method: owns its modules (query/key encoders, heads), state (queues,
/// memory banks) and optimiser.
pub trait Method {
    /// One step on a batch of augmented views; returns the loss before the update.
    fn step(&mut self, batch: &Batch, lr: f64) -> StepOutput;
    /// The encoder to export (the query encoder, with its projection head).
    fn encoder(&self) -> &Encoder;
    /// Write everything needed to resume into `dir` (modules, optimiser, queues).
    fn save(&self, dir: &Path) -> Result<(), StageError>;
    /// Restore what [`Method::save`] wrote.
    fn load(&mut self, dir: &Path) -> Result<(), StageError>;
}

/// Everything a method is built from besides its own params.
pub struct MethodSetup<'a> {
    pub encoder: &'a EncoderConfig,
    pub optim: &'a OptimParams,
    pub device: &'a Device,
}

/// A method's registration.
pub struct MethodEntry {
    pub name: &'static str,
    pub about: &'static str,
    /// Validate the method's params (`method_params`), returning the canonical form.
    pub check: fn(&serde_json::Value) -> Result<serde_json::Value, Vec<ParamError>>,
    /// The views a step expects, when `pretrain` is not told otherwise, given the
    /// method's canonical params (a method's switches may change which views it needs).
    pub default_views: fn(&serde_json::Value) -> Vec<ViewSpec>,
    pub build: fn(&serde_json::Value, &MethodSetup) -> Result<Box<dyn Method>, StageError>,
}

/// The known methods. One line per method.
pub const METHODS: &[MethodEntry] = &[moco::ENTRY, a2mc::ENTRY, supervised::ENTRY];

pub fn method(name: &str) -> Option<&'static MethodEntry> {
    METHODS.iter().find(|m| m.name == name)
}

pub fn method_names() -> Vec<&'static str> {
    METHODS.iter().map(|m| m.name).collect()
}

pub(crate) fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> StageError {
    StageError::msg(format!("{what} `{}`: {e}", path.display()))
}

/// Save / load a module as a burnpack file.
pub fn save_module<M: burn::module::Module>(m: &M, path: &Path) -> Result<(), StageError> {
    m.clone()
        .save_file(path)
        .map_err(|e| io_err("cannot write", path, format!("{e:?}")))
}

pub fn load_module<M: burn::module::Module>(m: M, path: &Path) -> Result<M, StageError> {
    m.try_load_file(path)
        .map_err(|e| io_err("cannot read checkpoint", path, format!("{e:?}")))
}

/// Save / load an optimiser's state (momentum buffers, Adam moments) for resuming.
pub fn save_optim(o: &burn::optim::ModuleOptimizer, path: &Path) -> Result<(), StageError> {
    o.save(path)
        .map_err(|e| io_err("cannot write", path, format!("{e:?}")))
}

pub fn load_optim(
    o: burn::optim::ModuleOptimizer,
    path: &Path,
) -> Result<burn::optim::ModuleOptimizer, StageError> {
    o.load(path)
        .map_err(|e| io_err("cannot read", path, format!("{e:?}")))
}
