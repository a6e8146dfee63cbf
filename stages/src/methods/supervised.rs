//! Supervised training: the encoder's backbone features → a linear classifier, cross-entropy
//! on the labels. The "supervised" baseline row of the papers' tables, and the check that a
//! dataset is learnable beyond a linear probe on raw coordinates. The exported encoder is
//! the trained backbone (its projection head, unused here, keeps its initialisation), so
//! `extract` / `eval.linear` / `eval.knn` read it like any pre-trained encoder.

use std::path::Path;

use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{MethodEntry, no_inputs, typed_params};
use crate::StageError;
use crate::learn::augment::ViewSpec;
use crate::learn::data::Batch;
use crate::learn::encoders::Encoder;
use crate::learn::losses::cross_entropy;
use crate::learn::method::{
    Method, MethodSetup, StepAt, StepOutput, load_module, load_optim, save_module, save_optim,
};
use crate::params::{Params, check_typed};

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisedParams {
    /// Number of classes of the classifier (labels must lie in 0..classes).
    pub classes: usize,
}

impl Default for SupervisedParams {
    fn default() -> Self {
        SupervisedParams { classes: 60 }
    }
}

impl Params for SupervisedParams {
    fn validate(&self) -> Vec<crate::ParamError> {
        match self.classes {
            0 | 1 => vec![crate::ParamError::at("classes", "must be ≥ 2")],
            _ => Vec::new(),
        }
    }
}

pub const ENTRY: MethodEntry = MethodEntry {
    name: "supervised",
    about: "supervised baseline: backbone → linear classifier, cross-entropy on the labels",
    version: 1,
    check: check_typed::<SupervisedParams>,
    check_inputs: no_inputs,
    // one view, the same mild crop + shear the contrastive methods start from
    default_views: |_| vec![ViewSpec::Preset("normal".into())],
    build: |params, setup| {
        let p: SupervisedParams = typed_params("supervised", params)?;
        Ok(Box::new(Supervised::new(&p, setup)))
    },
};

#[derive(Module, Debug)]
pub struct Classifier {
    pub encoder: Encoder,
    pub head: Linear,
}

impl Classifier {
    pub fn forward(&self, x: Tensor<5>) -> Tensor<2> {
        self.head.forward(self.encoder.features(x))
    }

    /// One cross-entropy step on the batch's first view (labels checked by the caller):
    /// the loss before the update and the batch's training top-1. A non-finite loss skips
    /// the update (the training loop reports it).
    pub fn train_step(
        &mut self,
        optim: &mut ModuleOptimizer,
        batch: &Batch,
        lr: f64,
    ) -> StepOutput {
        let x = batch.views[0].clone();
        let n = batch.labels.len();
        let labels: Vec<i64> = batch.labels.iter().map(|&l| l as i64).collect();
        let labels = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &x.device());
        let logits = self.forward(x);
        let correct = logits
            .clone()
            .argmax(1)
            .reshape([n])
            .equal(labels.clone())
            .int()
            .sum()
            .into_scalar::<i64>();
        let loss = cross_entropy(logits, labels);
        let value = loss.clone().into_scalar::<f32>();
        if value.is_finite() {
            let grads = GradientsParams::from_grads(loss.backward(), self);
            *self = optim.step(lr, self.clone(), grads);
        }
        StepOutput {
            loss: value,
            terms: vec![("train_top1".into(), 100.0 * correct as f32 / n as f32)],
        }
    }
}

pub struct Supervised {
    pub model: Classifier,
    pub classes: usize,
    pub optim: ModuleOptimizer,
}

impl Supervised {
    pub fn new(p: &SupervisedParams, setup: &MethodSetup) -> Supervised {
        let encoder = setup.initial_encoder();
        let head = LinearConfig::new(setup.encoder.feature_dim(), p.classes).init(setup.device);
        Supervised {
            model: Classifier { encoder, head },
            classes: p.classes,
            optim: setup.optim.build(),
        }
    }
}

impl Method for Supervised {
    fn step(&mut self, batch: &Batch, at: &StepAt) -> Result<StepOutput, StageError> {
        if let Some(&bad) = batch.labels.iter().find(|&&l| l >= self.classes) {
            // a wrong `classes` would otherwise gather outside the logits
            return Err(StageError::param(
                "method_params.classes",
                format!(
                    "label {bad} is outside 0..{}: set `method_params: {{classes: N}}` to the dataset's number of classes",
                    self.classes
                ),
            ));
        }
        Ok(self.model.train_step(&mut self.optim, batch, at.lr))
    }

    fn encoder(&self) -> &Encoder {
        &self.model.encoder
    }

    fn save(&self, dir: &Path) -> Result<(), StageError> {
        save_module(&self.model, &dir.join("classifier.bpk"))?;
        save_optim(&self.optim, &dir.join("optim.bpk"))
    }

    fn load(&mut self, dir: &Path) -> Result<(), StageError> {
        self.model = load_module(self.model.clone(), &dir.join("classifier.bpk"))?;
        self.optim = load_optim(self.optim.clone(), &dir.join("optim.bpk"))?;
        Ok(())
    }
}
