//! AimCLR (Guo et al., AAAI 2022), as its public code trains it (Levigty/AimCLR
//! `net/aimclr.py`, `processor/pretrain_aimclr.py`, `net/att_drop.py`; ML-FACTS §2.1, §3,
//! §4.1): the first stage of ActCLR and the AimCLR row of every ActCLR table.
//!
//! MoCo v2 (query encoder, momentum key encoder, MLP projector, FIFO queue of keys, InfoNCE at
//! τ = 0.07) with three views and two extra terms:
//!
//! - **Views** (`pretrain.views`, default `[extreme, normal, normal]`): view 0 is the
//!   *extreme* augmentation (crop, shear, flip, rotate, Gaussian noise 0.01, Gaussian blur,
//!   axis mask), view 1 the normal query (crop, shear), view 2 the key (crop, shear). Streams
//!   (motion, bone) are computed from the augmented joints, as the reference does after
//!   loading a batch.
//! - **Energy-based attention drop** (`keep_prob` 0.7): on the *final feature map* of the
//!   extreme view, SimAM's energy ranks joints (spatial) and entries (temporal); those with
//!   attention ≥ 0.7 are dropped and the rest rescaled ([`simam_drop`]). The extreme view
//!   gives two embeddings from one backbone pass: `e` (plain) and `ed` (dropped).
//! - **DDM loss**: the normal view's similarity distribution over `[k⁺, queue]` (softmax of
//!   the logits, detached) supervises those of `e` and `ed`:
//!   `L = InfoNCE(q) + ½(DDM(e) + DDM(ed))`.
//! - **Nearest-neighbour mining** from `mining_epoch` on: the queue entries most similar
//!   to q, e and ed (`topk` each, 1 in the reference) join the positive set and the first
//!   term becomes `-mean_n Σ_{pos} log softmax / |pos|`.
//!
//! Constants as in `pretext_aimclr_*.yaml`: queue 32768, m 0.999, τ 0.07, `mining_epoch`
//! 150, `topk` 1; the pipeline sets SGD momentum 0.9, weight decay 1e-4, lr 0.1 ×0.1 after
//! epoch 250, 300 epochs, batch 128.
//!
//! # Differences from the code (all small)
//!
//! - Epochs are 1-based here and 0-based in the reference, whose check is `epoch <=
//!   mining_epoch`: mining starts at our epoch `mining_epoch + 2` (0-based 151), as there.
//! - The reference computes `log(softmax(·))`; we use `log_softmax` (equal unless a
//!   probability underflows to 0, where the reference gives −inf·0 = NaN).
//! - The attention drop's rescale divides by `max(Σ mask, 1)` (the reference divides by
//!   zero when every entry is dropped).
//! - The key encoder's BatchNorm statistics are its own ([`key_encoder`]), as in PyTorch.

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::actclr_blocks::{ddm_loss, ddm_teacher, mined_info_nce, mining_mask, simam_drop};
use super::blocks::{
    Queue, cross_entropy_first, ema_update, key_encoder, l2_normalize, momentum_state_methods,
};
use super::{MethodEntry, no_inputs, typed_params};
use crate::StageError;
use crate::learn::augment::ViewSpec;
use crate::learn::data::Batch;
use crate::learn::encoders::{Encoder, FeatureMap};
use crate::learn::method::{Method, MethodSetup, StepAt, StepOutput};
use crate::params::{ParamError, Params, check_typed};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AimclrParams {
    /// Queue size K (32768).
    pub queue: usize,
    /// Key-encoder momentum m (0.999).
    pub momentum: f64,
    /// Temperature τ of all logits (0.07).
    pub temperature: f64,
    /// Nearest-neighbour mining after this (0-based, as the reference) epoch (150); a
    /// value ≥ the epochs turns mining off.
    pub mining_epoch: usize,
    /// Mined neighbours per view (1).
    pub topk: usize,
    /// The attention drop's threshold `keep_prob` (0.7).
    pub keep_prob: f64,
    /// SimAM's λ (1e-4).
    pub e_lambda: f64,
}

impl Default for AimclrParams {
    fn default() -> Self {
        AimclrParams {
            queue: 32768,
            momentum: 0.999,
            temperature: 0.07,
            mining_epoch: 150,
            topk: 1,
            keep_prob: 0.7,
            e_lambda: 1e-4,
        }
    }
}

impl Params for AimclrParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut e = Vec::new();
        if self.queue == 0 {
            e.push(ParamError::at("queue", "must be > 0"));
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            e.push(ParamError::at("momentum", "must be in [0, 1]"));
        }
        if self.temperature.is_nan() || self.temperature <= 0.0 {
            e.push(ParamError::at("temperature", "must be > 0"));
        }
        if self.topk == 0 || self.topk > self.queue {
            e.push(ParamError::at("topk", "must be in [1, queue]"));
        }
        if !(self.keep_prob > 0.0 && self.keep_prob <= 1.0) {
            e.push(ParamError::at("keep_prob", "must be in (0, 1]"));
        }
        if self.e_lambda.is_nan() || self.e_lambda <= 0.0 {
            e.push(ParamError::at("e_lambda", "must be > 0"));
        }
        e
    }
}

pub const ENTRY: MethodEntry = MethodEntry {
    name: "aimclr",
    about: "AimCLR: extreme view, energy-based attention drop, DDM loss, nearest-neighbour mining",
    version: 1,
    check: check_typed::<AimclrParams>,
    check_inputs: no_inputs,
    default_views: |_| {
        vec![
            ViewSpec::Preset("extreme".into()),
            ViewSpec::Preset("normal".into()),
            ViewSpec::Preset("normal".into()),
        ]
    },
    build: |params, setup| {
        Ok(Box::new(Aimclr::new(
            typed_params("aimclr", params)?,
            setup,
        )?))
    },
};

pub struct Aimclr {
    pub params: AimclrParams,
    pub q: Encoder,
    pub k: Encoder,
    pub queue: Queue,
    pub optim: ModuleOptimizer,
}

/// What [`Aimclr::loss`] computes for one batch.
pub struct BatchLoss {
    pub loss: Tensor<1>,
    /// The normalised key embeddings (N, D), enqueued after the update.
    pub keys: Tensor<2>,
    /// Named terms of the loss (columns of `epochs.parquet`).
    pub terms: Vec<(String, f32)>,
}

impl Aimclr {
    pub fn new(params: AimclrParams, setup: &MethodSetup) -> Result<Aimclr, StageError> {
        let q = setup.initial_encoder();
        let k = key_encoder(&q, setup);
        let queue = Queue::random(params.queue, setup.encoder.embed_dim(), setup.device);
        Ok(Aimclr {
            params,
            q,
            k,
            queue,
            optim: setup.optim.build(),
        })
    }

    /// Whether (1-based) `epoch` mines neighbours (the reference's 0-based `epoch >
    /// mining_epoch`).
    pub fn mining(&self, epoch: usize) -> bool {
        epoch.saturating_sub(1) > self.params.mining_epoch
    }

    /// The loss of one batch, the keys to enqueue and the loss's named terms (no update).
    pub fn loss(&mut self, batch: &Batch, at: &StepAt) -> Result<BatchLoss, StageError> {
        if batch.views.len() != 3 {
            return Err(StageError::param(
                "views",
                format!(
                    "aimclr needs 3 views (extreme, normal query, key), got {}",
                    batch.views.len()
                ),
            ));
        }
        let p = &self.params;
        let t = p.temperature;
        let q = l2_normalize(self.q.embed(batch.views[1].clone()), 1);
        let fm = self.q.feature_map(batch.views[0].clone());
        let persons = fm.persons;
        let e = l2_normalize(
            self.q.project(self.q.pool(FeatureMap {
                map: fm.map.clone(),
                persons,
            })),
            1,
        );
        let dropped = simam_drop(fm.map, p.keep_prob, p.e_lambda);
        let ed = l2_normalize(
            self.q.project(self.q.pool(FeatureMap {
                map: dropped,
                persons,
            })),
            1,
        );
        self.k = ema_update(self.k.clone(), &self.q, p.momentum).no_grad();
        let k = l2_normalize(self.k.embed(batch.views[2].clone().detach()), 1).detach();
        let queue = self.queue.keys.clone().detach();
        let logits_of = |x: Tensor<2>| {
            let l_pos = (x.clone() * k.clone()).sum_dim(1);
            let l_neg = x.matmul(queue.clone().transpose());
            (Tensor::cat(vec![l_pos, l_neg.clone()], 1) / t, l_neg)
        };
        let (logits, l_neg) = logits_of(q.clone());
        let (logits_e, l_neg_e) = logits_of(e);
        let (logits_ed, l_neg_ed) = logits_of(ed);
        let teacher = ddm_teacher(logits.clone());
        let ddm_e = ddm_loss(logits_e, teacher.clone());
        let ddm_ed = ddm_loss(logits_ed, teacher);
        let mining = self.mining(at.epoch);
        let nce = if mining {
            let mask = mining_mask(&[l_neg, l_neg_e, l_neg_ed], p.topk);
            mined_info_nce(logits, mask)
        } else {
            cross_entropy_first(logits)
        };
        let mut terms = vec![
            (
                "pos_sim".to_string(),
                (q.detach() * k.clone())
                    .sum_dim(1)
                    .mean()
                    .into_scalar::<f32>(),
            ),
            ("loss_nce".to_string(), nce.clone().into_scalar::<f32>()),
            ("loss_ddm_e".to_string(), ddm_e.clone().into_scalar::<f32>()),
            (
                "loss_ddm_ed".to_string(),
                ddm_ed.clone().into_scalar::<f32>(),
            ),
        ];
        terms.push(("mining".to_string(), if mining { 1.0 } else { 0.0 }));
        let loss = nce + (ddm_e + ddm_ed) * 0.5;
        Ok(BatchLoss {
            loss,
            keys: k,
            terms,
        })
    }
}

impl Method for Aimclr {
    fn step(&mut self, batch: &Batch, at: &StepAt) -> Result<StepOutput, StageError> {
        let BatchLoss {
            loss,
            keys: k,
            terms,
        } = self.loss(batch, at)?;
        let value = loss.clone().into_scalar::<f32>();
        if value.is_finite() {
            let grads = GradientsParams::from_grads(loss.backward(), &self.q);
            self.q = self.optim.step(at.lr, self.q.clone(), grads);
            self.queue.enqueue(k);
        }
        Ok(StepOutput { loss: value, terms })
    }

    momentum_state_methods!();
}
