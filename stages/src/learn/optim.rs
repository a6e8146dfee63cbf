//! Optimisers and learning-rate schedules as the reference repositories configure them.

use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::params::ParamError;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    #[default]
    Sgd,
    Adam,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// Constant learning rate.
    Constant,
    /// ×gamma once `epoch > step_epoch` (AimCLR: ×0.1 when epoch > 250).
    Step,
    /// ×gamma at each milestone epoch (1-based epochs ≥ milestone get the factor).
    #[default]
    Multistep,
    /// Cosine from lr to 0 over all epochs (MoCo v2 `--cos`).
    Cosine,
}

/// Optimiser + schedule, shared by `pretrain` and `eval.linear`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OptimParams {
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub schedule: ScheduleKind,
    /// Multistep milestones (1-based epochs from which the next factor applies); for `step`
    /// the first entry is the epoch after which lr drops.
    pub milestones: Vec<usize>,
    pub gamma: f64,
}

impl Default for OptimParams {
    fn default() -> Self {
        OptimParams {
            optimizer: OptimizerKind::Sgd,
            lr: 0.1,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 1e-4,
            schedule: ScheduleKind::Multistep,
            milestones: vec![],
            gamma: 0.1,
        }
    }
}

impl OptimParams {
    /// Each problem under its own param name (`lr`, `momentum`, `weight_decay`, `gamma`).
    pub fn validate(&self) -> Vec<ParamError> {
        let mut e = Vec::new();
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            e.push(
                ParamError::at(
                    "lr",
                    format!("lr must be a positive number, got {}", self.lr),
                )
                .with_hint("e.g. lr: 0.1"),
            );
        }
        if !(0.0..1.0).contains(&self.momentum) {
            e.push(ParamError::at(
                "momentum",
                format!("momentum must be in [0, 1), got {}", self.momentum),
            ));
        }
        if self.weight_decay < 0.0 {
            e.push(ParamError::at("weight_decay", "weight_decay must be >= 0"));
        }
        if !(self.gamma > 0.0 && self.gamma.is_finite()) {
            e.push(ParamError::at(
                "gamma",
                format!("gamma must be a positive number, got {}", self.gamma),
            ));
        }
        e
    }

    pub fn build(&self) -> ModuleOptimizer {
        let wd =
            (self.weight_decay > 0.0).then(|| WeightDecayConfig::new(self.weight_decay as f32));
        match self.optimizer {
            OptimizerKind::Sgd => {
                let mom = (self.momentum > 0.0).then_some(MomentumConfig {
                    momentum: self.momentum,
                    dampening: 0.0,
                    nesterov: self.nesterov,
                });
                SgdConfig::new()
                    .with_momentum(mom)
                    .with_weight_decay(wd)
                    .init()
            }
            // PyTorch's eps (burn defaults to 1e-5)
            OptimizerKind::Adam => AdamConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(wd)
                .init(),
        }
    }

    /// Learning rate of (1-based) `epoch` out of `epochs`, set at the start of the epoch
    /// like the reference `adjust_learning_rate`.
    pub fn lr_at(&self, epoch: usize, epochs: usize) -> f64 {
        match self.schedule {
            ScheduleKind::Constant => self.lr,
            ScheduleKind::Step => match self.milestones.first() {
                Some(&s) if epoch > s => self.lr * self.gamma,
                _ => self.lr,
            },
            ScheduleKind::Multistep => {
                let drops = self.milestones.iter().filter(|&&m| epoch > m).count();
                self.lr * self.gamma.powi(drops as i32)
            }
            ScheduleKind::Cosine => {
                let progress = (epoch.saturating_sub(1)) as f64 / epochs.max(1) as f64;
                self.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }
}
