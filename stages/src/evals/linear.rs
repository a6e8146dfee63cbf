//! `eval.linear`: a fresh linear classifier on frozen features (the encoder in eval mode,
//! BN frozen, no augmentation — which makes training on extracted features exactly the
//! reference protocol), with the AimCLR, CMD and AS-CAL protocols as presets. Overrides
//! equal to the preset's numbers are dropped from the canonical params, so one computation
//! has one key however it is spelled.

use std::time::Instant;

use burn::module::Param;
use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::Distribution;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::scores::{Scores, ScoresMeta, write_scores};
use super::{
    InputFeatures, drop_same, extracted_benchmark, input_features, topk_accuracy,
    write_classifier_metrics,
};
use crate::data::subset::{check_subset_fits, check_subset_inputs, read_subset};
use crate::learn::artifact::{EpochRow, write_epochs};
use crate::learn::data::{derive_seed, label_tensor};
use crate::learn::device::device;
use crate::learn::losses::cross_entropy;
use crate::learn::optim::{OptimParams, OptimizerKind, ScheduleKind};
use crate::params::{ParamError, Params};
use crate::{Kind, StageContext, StageError, Upstream};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// AimCLR/ActCLR: 100 epochs, SGD lr 3.0, batch 128, ×0.1 after 80, fc ~ N(0, 0.02),
    /// tested every 5 epochs.
    #[default]
    Aimclr,
    /// CMD/ISC: 80 epochs, SGD lr 0.1, batch 64, ×0.1 at 50 and 70, fc ~ N(0, 0.01).
    Cmd,
    /// AS-CAL: 90 epochs, SGD nesterov lr 1.0, batch 32, ×0.5 at 15, 35, 60 and 75,
    /// fc ~ N(0, 0.01), tested every epoch.
    Ascal,
}

/// A protocol's numbers; every one can be overridden.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtocolSpec {
    pub epochs: usize,
    pub lr: f64,
    pub batch: usize,
    pub milestones: Vec<usize>,
    pub init_std: f64,
    pub test_every: usize,
    /// The lr factor at each milestone.
    pub gamma: f64,
    pub nesterov: bool,
    /// Drop each epoch's last incomplete batch (a PyTorch `DataLoader(drop_last=True)`).
    pub drop_last: bool,
}

impl Protocol {
    pub fn spec(self) -> ProtocolSpec {
        match self {
            Protocol::Aimclr => ProtocolSpec {
                epochs: 100,
                lr: 3.0,
                batch: 128,
                milestones: vec![80],
                init_std: 0.02,
                test_every: 5,
                gamma: 0.1,
                nesterov: false,
                drop_last: false,
            },
            Protocol::Cmd => ProtocolSpec {
                epochs: 80,
                lr: 0.1,
                batch: 64,
                milestones: vec![50, 70],
                init_std: 0.01,
                test_every: 1,
                gamma: 0.1,
                nesterov: false,
                drop_last: false,
            },
            Protocol::Ascal => ProtocolSpec {
                epochs: 90,
                lr: 1.0,
                batch: 32,
                milestones: vec![15, 35, 60, 75],
                init_std: 0.01,
                test_every: 1,
                gamma: 0.5,
                nesterov: true,
                drop_last: false,
            },
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Aimclr => "linear-aimclr",
            Protocol::Cmd => "linear-cmd",
            Protocol::Ascal => "linear-ascal",
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LinearParams {
    /// `aimclr`, `cmd` or `ascal`.
    pub protocol: Protocol,
    /// Overrides of the protocol's numbers.
    pub epochs: Option<usize>,
    pub lr: Option<f64>,
    pub batch: Option<usize>,
    pub milestones: Option<Vec<usize>>,
    pub test_every: Option<usize>,
    /// The lr factor at each milestone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gamma: Option<f64>,
    /// Nesterov momentum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nesterov: Option<bool>,
    /// Drop each epoch's last incomplete batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop_last: Option<bool>,
}

impl LinearParams {
    pub fn resolved(&self) -> ProtocolSpec {
        let mut s = self.protocol.spec();
        if let Some(e) = self.epochs {
            s.epochs = e;
        }
        if let Some(l) = self.lr {
            s.lr = l;
        }
        if let Some(b) = self.batch {
            s.batch = b;
        }
        if let Some(m) = &self.milestones {
            s.milestones = m.clone();
        }
        if let Some(t) = self.test_every {
            s.test_every = t;
        }
        if let Some(g) = self.gamma {
            s.gamma = g;
        }
        if let Some(n) = self.nesterov {
            s.nesterov = n;
        }
        if let Some(d) = self.drop_last {
            s.drop_last = d;
        }
        s
    }

    /// The same params without the overrides that repeat the preset.
    pub fn canonical(mut self) -> LinearParams {
        let preset = self.protocol.spec();
        drop_same(&mut self.epochs, &preset.epochs);
        drop_same(&mut self.lr, &preset.lr);
        drop_same(&mut self.batch, &preset.batch);
        drop_same(&mut self.milestones, &preset.milestones);
        drop_same(&mut self.test_every, &preset.test_every);
        drop_same(&mut self.gamma, &preset.gamma);
        drop_same(&mut self.nesterov, &preset.nesterov);
        drop_same(&mut self.drop_last, &preset.drop_last);
        self
    }
}

impl Params for LinearParams {
    fn validate(&self) -> Vec<ParamError> {
        let s = self.resolved();
        let mut e = Vec::new();
        if s.epochs == 0 {
            e.push(ParamError::at("epochs", "must be >= 1"));
        }
        if s.batch == 0 {
            e.push(ParamError::at("batch", "must be >= 1"));
        }
        if s.lr.is_nan() || s.lr <= 0.0 {
            e.push(ParamError::at("lr", "must be > 0"));
        }
        if s.test_every == 0 {
            e.push(ParamError::at("test_every", "must be >= 1"));
        }
        if !(s.gamma > 0.0 && s.gamma <= 1.0) {
            e.push(ParamError::at("gamma", "must be in (0, 1]"));
        }
        e
    }
}

/// Result of a linear evaluation.
#[derive(Clone, Debug)]
pub struct LinearResult {
    pub best_top1: f64,
    pub best_top5: f64,
    pub last_top1: f64,
    pub last_top5: f64,
    pub rows: Vec<EpochRow>,
    /// Optimizer steps in an epoch.
    pub steps_per_epoch: usize,
    /// Test scores, row-major (n, classes), at the first epoch of best top-1 and at the
    /// last tested epoch.
    pub best_scores: Vec<f32>,
    pub best_epoch: usize,
    pub last_scores: Vec<f32>,
}

/// Train a linear head on (x_train, y_train) and test on (x_test, y_test).
#[allow(clippy::too_many_arguments)]
pub fn linear_probe(
    dim: usize,
    classes: usize,
    train: (&[f32], &[usize]),
    test: (&[f32], &[usize]),
    spec: &ProtocolSpec,
    seed: u64,
    device: &Device,
    progress: &dyn Fn(u64, u64, &str),
) -> Result<LinearResult, StageError> {
    let n = train.1.len();
    let x_train = Tensor::<2>::from_data(TensorData::new(train.0.to_vec(), [n, dim]), device);
    let x_test = Tensor::<2>::from_data(
        TensorData::new(test.0.to_vec(), [test.1.len(), dim]),
        device,
    );
    device.seed(derive_seed(seed, &[0x11e4]));
    let mut head = Linear {
        weight: Param::from_tensor(Tensor::random(
            [dim, classes],
            Distribution::Normal(0.0, spec.init_std),
            device,
        )),
        bias: Some(Param::from_tensor(Tensor::zeros([classes], device))),
    };
    let optim = OptimParams {
        optimizer: OptimizerKind::Sgd,
        lr: spec.lr,
        momentum: 0.9,
        nesterov: spec.nesterov,
        weight_decay: 0.0,
        schedule: ScheduleKind::Multistep,
        milestones: spec.milestones.clone(),
        gamma: spec.gamma,
    };
    let mut opt = optim.build();
    if spec.drop_last && n < spec.batch {
        return Err(StageError::param(
            "drop_last",
            format!(
                "the training set has {n} samples, fewer than one batch of {}: no batch would be left; lower `batch` or set `drop_last: false`",
                spec.batch
            ),
        ));
    }
    let batch = spec.batch.min(n).max(1);
    let (mut best1, mut best5, mut last1, mut last5) = (0.0f64, 0.0f64, 0.0, 0.0);
    let mut rows = Vec::new();
    let mut steps_per_epoch = 0;
    let (mut best_scores, mut best_epoch, mut last_scores) = (Vec::new(), 0, Vec::new());
    for epoch in 1..=spec.epochs {
        let lr = optim.lr_at(epoch, spec.epochs);
        let t0 = Instant::now();
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
            seed,
            &[0x11e4, epoch as u64],
        )));
        let mut loss_sum = 0.0;
        let mut steps = 0;
        for chunk in order
            .chunks(batch)
            .filter(|c| !spec.drop_last || c.len() == batch)
        {
            let ids: Vec<i64> = chunk.iter().map(|&i| i as i64).collect();
            let idx = Tensor::<1, Int>::from_data(TensorData::new(ids, [chunk.len()]), device);
            let xb = x_train.clone().select(0, idx);
            let yb = label_tensor(
                &chunk.iter().map(|&i| train.1[i]).collect::<Vec<_>>(),
                device,
            );
            let loss = cross_entropy(head.forward(xb), yb);
            let value = loss.clone().into_scalar::<f32>();
            steps += 1;
            // a diverged probe predicts one class: reporting that as an accuracy would
            // pass chance off as a result
            StageError::check_finite(value, epoch, steps, lr)?;
            loss_sum += value as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &head);
            head = opt.step(lr, head, grads);
        }
        steps_per_epoch = steps;
        let seconds = t0.elapsed().as_secs_f64();
        let mut extra = Vec::new();
        if epoch % spec.test_every == 0 || epoch == spec.epochs {
            let scores = head
                .valid()
                .forward(x_test.clone().without_autodiff())
                .into_data()
                .try_into_vec::<f32>()
                .expect("f32 scores");
            last1 = topk_accuracy(&scores, classes, test.1, 1);
            last5 = topk_accuracy(&scores, classes, test.1, 5);
            if best_scores.is_empty() || last1 > best1 {
                best_scores = scores.clone();
                best_epoch = epoch;
            }
            last_scores = scores;
            best1 = best1.max(last1);
            best5 = best5.max(last5);
            extra = vec![("top1".to_string(), last1), ("top5".to_string(), last5)];
            progress(
                epoch as u64,
                spec.epochs as u64,
                &format!("top1 {last1:.2} (best {best1:.2})"),
            );
        }
        rows.push(EpochRow {
            epoch,
            loss: loss_sum / steps as f64,
            lr,
            seconds,
            samples_per_s: n as f64 / seconds.max(1e-9),
            extra,
        });
    }
    Ok(LinearResult {
        best_top1: best1,
        best_top5: best5,
        last_top1: last1,
        last_top5: last5,
        rows,
        steps_per_epoch,
        best_scores,
        best_epoch,
        last_scores,
    })
}

/// `eval.linear`.
pub struct EvalLinear;

impl Kind for EvalLinear {
    type Params = LinearParams;
    const NAME: &'static str = "eval.linear";
    // 2: writes per-sample test scores (scores.arrow)
    const VERSION: u32 = 2;
    const ABOUT: &'static str = "linear evaluation on frozen features (protocols aimclr | cmd | ascal), on all labels or a `data.subset`; top-1/top-5, best and last; per-sample test scores";
    const USES_BACKEND: bool = true;
    fn canonical(&self, p: LinearParams) -> Result<LinearParams, Vec<ParamError>> {
        Ok(p.canonical())
    }
    fn check_inputs(&self, _p: &LinearParams, inputs: &[Upstream]) -> Vec<ParamError> {
        check_subset_inputs(extracted_benchmark(inputs), "", inputs)
    }
    fn run(&self, ctx: &StageContext, p: LinearParams) -> Result<(), StageError> {
        let spec = p.resolved();
        let InputFeatures {
            dim,
            classes,
            mut train,
            test,
            benchmark,
            stream,
        } = input_features(ctx)?;
        // semi-supervised: only the labelled subset's rows train the classifier
        let subset = read_subset(ctx)?;
        if let Some(s) = &subset {
            check_subset_fits(s, &benchmark, train.index.len())?;
            train = train.only(&s.indices);
        }
        let dev = device(ctx.backend, true, ctx.threads)?;
        let progress = |d: u64, t: u64, m: &str| ctx.progress(d, t, m);
        let r = linear_probe(
            dim,
            classes,
            (&train.data, &train.label),
            (&test.data, &test.label),
            &spec,
            ctx.seed,
            &dev,
            &progress,
        )?;
        let proto = p.protocol.label();
        let label_fraction = subset.as_ref().map(|s| s.label_fraction());
        write_scores(
            &ctx.out_dir,
            &ScoresMeta {
                benchmark,
                stream,
                classes,
                protocol: proto.into(),
                best_epoch: r.best_epoch,
                last_epoch: spec.epochs,
                label_fraction: label_fraction.clone(),
            },
            &Scores {
                index: test.index.clone(),
                label: test.label.clone(),
                classes,
                best: r.best_scores.clone(),
                last: r.last_scores.clone(),
            },
        )?;
        write_classifier_metrics(
            &ctx.out_dir,
            proto,
            label_fraction.as_deref(),
            [r.best_top1, r.best_top5],
            [r.last_top1, r.last_top5],
        )?;
        write_epochs(&ctx.out_dir, "linear", &r.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Backend;
    use crate::StageKind;

    fn canonical(params: serde_json::Value) -> serde_json::Value {
        StageKind::check(&EvalLinear, &params).expect("valid params")
    }

    #[test]
    fn spelling_out_a_presets_numbers_is_the_same_computation() {
        let plain = canonical(serde_json::json!({"protocol": "cmd"}));
        for same in [
            serde_json::json!({"protocol": "cmd", "lr": 0.1}),
            serde_json::json!({"protocol": "cmd", "epochs": 80, "batch": 64, "milestones": [50, 70]}),
            serde_json::json!({"protocol": "cmd", "gamma": 0.1, "nesterov": false, "drop_last": false}),
        ] {
            assert_eq!(canonical(same.clone()), plain, "{same}");
        }
        assert_ne!(
            canonical(serde_json::json!({"protocol": "cmd", "lr": 0.2})),
            plain
        );
        assert_ne!(canonical(serde_json::json!({"protocol": "ascal"})), plain);
        // The new switches are absent until set: keys of existing pipelines stay as they were.
        assert!(plain.get("drop_last").is_none() && plain.get("gamma").is_none());
    }

    #[test]
    fn the_ascal_protocol_has_its_papers_numbers() {
        let s = Protocol::Ascal.spec();
        assert_eq!(
            (
                s.epochs,
                s.lr,
                s.batch,
                s.milestones.clone(),
                s.gamma,
                s.nesterov
            ),
            (90, 1.0, 32, vec![15, 35, 60, 75], 0.5, true)
        );
        assert_eq!(Protocol::Ascal.label(), "linear-ascal");
        let bad = StageKind::check(&EvalLinear, &serde_json::json!({"gamma": 0.0}));
        assert!(bad.is_err());
    }

    #[test]
    fn drop_last_skips_the_short_batch_and_refuses_a_set_smaller_than_a_batch() {
        let dev = device(Backend::Flex, true, 1).unwrap();
        let x: Vec<f32> = (0..10 * 4).map(|i| (i % 7) as f32).collect();
        let y: Vec<usize> = (0..10).map(|i| i % 2).collect();
        let mut spec = Protocol::Cmd.spec();
        spec.epochs = 2;
        spec.batch = 4;
        spec.drop_last = true;
        let quiet = |_: u64, _: u64, _: &str| {};
        let r = linear_probe(4, 2, (&x, &y), (&x, &y), &spec, 0, &dev, &quiet).unwrap();
        // 10 samples in batches of 4: two full batches, the short one dropped.
        assert_eq!((r.rows.len(), r.steps_per_epoch), (2, 2));
        spec.drop_last = false;
        let r = linear_probe(4, 2, (&x, &y), (&x, &y), &spec, 0, &dev, &quiet).unwrap();
        assert_eq!(r.steps_per_epoch, 3);
        spec.drop_last = true;
        spec.batch = 16;
        let err = linear_probe(4, 2, (&x, &y), (&x, &y), &spec, 0, &dev, &quiet).unwrap_err();
        assert!(err.to_string().contains("param `drop_last`"), "{err}");
    }
}
