//! MoCo v2 (as AimCLR/CrosSCLR configure it for skeletons, ML-FACTS §3): a query encoder,
//! a momentum-updated key encoder, an MLP projector, a FIFO queue of negatives and InfoNCE
//! with temperature.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::blocks::{
    Queue, ema_update, info_nce, key_encoder, l2_normalize, momentum_state_methods,
};
use super::{MethodEntry, no_inputs, typed_params};
use crate::StageError;
use crate::learn::augment::ViewSpec;
use crate::learn::data::Batch;
use crate::learn::encoders::Encoder;
use crate::learn::method::{Method, MethodSetup, StepAt, StepOutput};
use crate::params::{Params, check_typed};

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MocoParams {
    /// Queue size K (AimCLR 32768, CMD 16384). Clipped to what the data can fill is NOT
    /// done: a queue larger than the dataset holds random keys for a while, as in MoCo.
    pub queue: usize,
    /// Key-encoder momentum m.
    pub momentum: f64,
    /// InfoNCE temperature.
    pub temperature: f64,
}

impl Default for MocoParams {
    fn default() -> Self {
        MocoParams {
            queue: 32768,
            momentum: 0.999,
            temperature: 0.07,
        }
    }
}

impl Params for MocoParams {
    fn validate(&self) -> Vec<crate::ParamError> {
        let mut e = Vec::new();
        if self.queue == 0 {
            e.push(crate::ParamError::at("queue", "must be > 0"));
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            e.push(crate::ParamError::at("momentum", "must be in [0, 1]"));
        }
        if self.temperature <= 0.0 {
            e.push(crate::ParamError::at("temperature", "must be > 0"));
        }
        e
    }
}

pub const ENTRY: MethodEntry = MethodEntry {
    name: "moco",
    about: "MoCo v2: momentum key encoder, MLP projector, FIFO queue, InfoNCE",
    // 2: the key encoder's BatchNorm running statistics are its own (were q's)
    version: 2,
    check: check_typed::<MocoParams>,
    check_inputs: no_inputs,
    // AimCLR's two normal views (crop + shear), query and key
    default_views: |_| {
        vec![
            ViewSpec::Preset("normal".into()),
            ViewSpec::Preset("normal".into()),
        ]
    },
    build: |params, setup| Ok(Box::new(Moco::new(typed_params("moco", params)?, setup))),
};

pub struct Moco {
    pub params: MocoParams,
    pub q: Encoder,
    pub k: Encoder,
    pub queue: Queue,
    pub optim: ModuleOptimizer,
}

impl Moco {
    pub fn new(params: MocoParams, setup: &MethodSetup) -> Moco {
        let q = setup.initial_encoder();
        let k = key_encoder(&q, setup);
        let queue = Queue::random(params.queue, setup.encoder.embed_dim(), setup.device);
        Moco {
            params,
            q,
            k,
            queue,
            optim: setup.optim.build(),
        }
    }
}

impl Method for Moco {
    fn step(&mut self, batch: &Batch, at: &StepAt) -> Result<StepOutput, StageError> {
        let q = l2_normalize(self.q.embed(batch.views[0].clone()), 1);
        // momentum update, then keys without gradients
        self.k = ema_update(self.k.clone(), &self.q, self.params.momentum).no_grad();
        let k = l2_normalize(self.k.embed(batch.views[1].clone().detach()), 1).detach();
        let loss = info_nce(
            q,
            k.clone(),
            self.queue.keys.clone(),
            self.params.temperature,
        );
        let value = loss.clone().into_scalar::<f32>();
        if value.is_finite() {
            let grads = GradientsParams::from_grads(loss.backward(), &self.q);
            self.q = self.optim.step(at.lr, self.q.clone(), grads);
            self.queue.enqueue(k);
        }
        Ok(StepOutput {
            loss: value,
            terms: vec![],
        })
    }

    momentum_state_methods!();
}
