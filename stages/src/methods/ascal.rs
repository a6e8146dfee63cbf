//! AS-CAL (Rao et al. 2020, "Augmented Skeleton Based Contrastive Action Learning with
//! Momentum LSTM"), as its public code trains on NTU (ML-FACTS §2.4, §3, §4.4):
//!
//! - the query encoder is the unidirectional 256-unit LSTM whose feature — the mean of its
//!   outputs over time — is compared as it is: no projection head (`proj_dim: 0`), **no L2
//!   normalisation**;
//! - the key encoder is its momentum copy (α 0.999), updated before the keys are computed;
//! - a queue of 16384 keys initialised U(±1/√(dim/3)), InfoNCE (cross-entropy with the
//!   positive first) on `[q·k, q·queue] / 0.06`;
//! - **epoch 1 only fills the queue**: no backward pass, no momentum update (`fill_epochs`);
//! - both views are `SelectFrames(150)` (the first 150 frames, truncation) → `Subtract(J2)`
//!   → time reversal with p 0.5 (the code's `RandomHorizontalFlip`) → shear U(−1, 1): the
//!   `ascal` view preset;
//! - SGD 0.9, wd 1e-4, lr 0.01 ×0.1 at [30, 70], 60 epochs, batch 32 (pretrain's params in
//!   `pipelines/ascal.yaml`).
//!
//! Shuffle-BN (AS-CAL shuffles the key batch within one GPU) changes nothing here: the LSTM
//! encoder has no batch normalisation, so it is not implemented.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::blocks::{Queue, ema_update, info_nce, key_encoder, momentum_state_methods};
use super::{MethodEntry, PretrainView, is_dataset, typed_params, variant_frames};
use crate::learn::augment::{ViewSpec, ascal_input, ascal_random};
use crate::learn::data::Batch;
use crate::learn::encoders::Encoder;
use crate::learn::method::{Method, MethodSetup, StepAt, StepOutput};
use crate::params::{ParamError, Params, check_typed};
use crate::{StageError, Upstream};

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AscalParams {
    /// Queue size K (`nce_k`).
    pub queue: usize,
    /// Key-encoder momentum α.
    pub momentum: f64,
    /// InfoNCE temperature.
    pub temperature: f64,
    /// Epochs at the start that only fill the queue: no backward, no momentum update.
    pub fill_epochs: usize,
    /// Frames `SelectFrames` keeps (the first ones) in the default views.
    pub frames: usize,
}

impl Default for AscalParams {
    fn default() -> Self {
        AscalParams {
            queue: 16384,
            momentum: 0.999,
            temperature: 0.06,
            fill_epochs: 1,
            frames: crate::learn::augment::ASCAL_FRAMES,
        }
    }
}

impl Params for AscalParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut e = Vec::new();
        if self.queue == 0 {
            e.push(ParamError::at("queue", "must be > 0"));
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            e.push(ParamError::at("momentum", "must be in [0, 1]"));
        }
        if self.temperature <= 0.0 {
            e.push(ParamError::at("temperature", "must be > 0"));
        }
        if self.frames == 0 {
            e.push(ParamError::at("frames", "must be > 0"));
        }
        e
    }
}

/// `SelectFrames` longer than the imported clips would feed zero frames to the LSTM.
fn check_inputs(params: &Value, _view: &PretrainView, inputs: &[Upstream]) -> Vec<ParamError> {
    let Ok(p) = serde_json::from_value::<AscalParams>(params.clone()) else {
        return Vec::new();
    };
    let imported = inputs.iter().find(|u| is_dataset(u)).map(variant_frames);
    match imported {
        Some((variant, Some(frames))) if p.frames > frames => vec![
            ParamError::at(
                "frames",
                format!(
                    "AS-CAL selects the first {} frames but the `{variant}` clips of the import have {frames}",
                    p.frames
                ),
            )
            .with_hint(format!(
                "import with `variant: stgcn_raw` (300 frames, AS-CAL's input) or set `frames: {frames}` or fewer"
            )),
        ],
        _ => Vec::new(),
    }
}

pub const ENTRY: MethodEntry = MethodEntry {
    name: "ascal",
    about: "AS-CAL: momentum LSTM, unnormalised mean-over-time feature, uniform-initialised queue, τ 0.06, epoch 1 fills the queue",
    // 2: the key encoder's BatchNorm running statistics are its own (were q's)
    version: 2,
    check: check_typed::<AscalParams>,
    check_inputs,
    default_views: |params| {
        let frames = params["frames"]
            .as_u64()
            .map_or(crate::learn::augment::ASCAL_FRAMES, |f| f as usize);
        let view = ViewSpec::List([ascal_input(frames), ascal_random()].concat());
        vec![view.clone(), view]
    },
    build: |params, setup| Ok(Box::new(Ascal::new(typed_params("ascal", params)?, setup))),
};

/// AS-CAL's queue: K keys of dimension `dim`, entries U(−b, b) with b = 1/√(dim/3).
pub fn ascal_queue(k: usize, dim: usize, device: &Device) -> Queue {
    let b = 1.0 / (dim as f64 / 3.0).sqrt();
    Queue {
        keys: Tensor::<2>::random([k, dim], burn::tensor::Distribution::Uniform(-b, b), device)
            .detach(),
        ptr: 0,
    }
}

pub struct Ascal {
    pub params: AscalParams,
    pub q: Encoder,
    pub k: Encoder,
    pub queue: Queue,
    pub optim: ModuleOptimizer,
}

impl Ascal {
    pub fn new(params: AscalParams, setup: &MethodSetup) -> Ascal {
        let q = setup.initial_encoder();
        let k = key_encoder(&q, setup);
        let queue = ascal_queue(params.queue, setup.encoder.embed_dim(), setup.device);
        Ascal {
            params,
            q,
            k,
            queue,
            optim: setup.optim.build(),
        }
    }
}

impl Method for Ascal {
    fn step(&mut self, batch: &Batch, at: &StepAt) -> Result<StepOutput, StageError> {
        let filling = at.epoch <= self.params.fill_epochs;
        let t = self.params.temperature;
        if filling {
            // the queue fills with keys of the untouched key encoder; the loss is reported
            let q = self.q.embed(batch.views[0].clone()).detach();
            let k = self.k.embed(batch.views[1].clone().detach()).detach();
            let value = info_nce(q, k.clone(), self.queue.keys.clone(), t).into_scalar::<f32>();
            self.queue.enqueue(k);
            return Ok(StepOutput {
                loss: value,
                terms: vec![("filling".into(), 1.0)],
            });
        }
        let q = self.q.embed(batch.views[0].clone());
        self.k = ema_update(self.k.clone(), &self.q, self.params.momentum).no_grad();
        let k = self.k.embed(batch.views[1].clone().detach()).detach();
        let loss = info_nce(q, k.clone(), self.queue.keys.clone(), t);
        let value = loss.clone().into_scalar::<f32>();
        if value.is_finite() {
            let grads = GradientsParams::from_grads(loss.backward(), &self.q);
            self.q = self.optim.step(at.lr, self.q.clone(), grads);
            self.queue.enqueue(k);
        }
        Ok(StepOutput {
            loss: value,
            terms: vec![("filling".into(), 0.0)],
        })
    }

    momentum_state_methods!();
}
