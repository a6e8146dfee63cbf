//! `eval.finetune`: the whole network — an upstream encoder (`pretrain`, `encoder.init`,
//! `encoder.import`) plus a new linear head — trained on the labels (all of a benchmark's
//! train part, or a `data.subset` of it: the semi-supervised protocol), tested every
//! `test_every` epochs; top-1 / top-5 best and last, per-sample test scores, and the
//! finetuned encoder. From an `encoder.init` it is the supervised row: the classifier's
//! own test accuracy after training from scratch.
//!
//! Presets (ML-FACTS §7.3–7.5), every number overridable by a param:
//! - `aimclr` (AimCLR / ActCLR `FT_Processor`): nesterov SGD 0.9, lr 0.1, wd 1e-4, ×0.1 at
//!   [10, 30, 50], 80 epochs, batch 128, tested every 5 epochs.
//! - `cmd` (CMD / A²MC semi-supervised and transfer): SGD 0.9, lr 0.01, wd 0, ×0.1 at
//!   [50, 70], 80 epochs, batch 64, tested every epoch.
//! - `ascal` (AS-CAL semi-supervised): SGD 0.9, lr 0.01, wd 0, batch 32; 30 epochs with
//!   steps [10, 20] for a subset of at most 1 % of the labels, else 15 epochs with [8, 16].
//!
//! The head is always new (PyTorch's default `Linear` init); the encoder trains in train
//! mode (BN statistics update, dropout on) and is tested in eval mode. Checkpoints every
//! epoch and resumes after a kill, like `pretrain`.

use std::path::Path;

use burn::nn::LinearConfig;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skelflow_contract::files;

use super::scores::{Scores, ScoresMeta, write_scores};
use super::{drop_same, topk_accuracy, write_classifier_metrics};
use crate::data::Stream;
use crate::data::pku::PKU_CLASSES;
use crate::data::subset::{check_subset_fits, check_subset_inputs, read_subset};
use crate::learn::artifact::{EncoderMeta, read_encoder, write_encoder, write_epochs, write_json};
use crate::learn::augment::{Aug, ViewSpec};
use crate::learn::data::{Batch, ClipSource, derive_seed, stack_clips};
use crate::learn::dataset::open_splits;
use crate::learn::device::device;
use crate::learn::encoders::{Encoder, count_params};
use crate::learn::extract::viewed_clip;
use crate::learn::method::{
    Method, StepAt, StepOutput, load_module, load_optim, read_f32s, save_module, save_optim,
    write_f32s,
};
use crate::learn::optim::{OptimParams, OptimizerKind, ScheduleKind};
use crate::learn::train::{Hooks, TrainSpec, train};
use crate::methods::pretrain::ENCODER_KINDS;
use crate::methods::supervised::Classifier;
use crate::params::{ParamError, Params};
use crate::{IoContext, Kind, StageContext, StageError, Upstream};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// AimCLR / ActCLR: nesterov SGD lr 0.1, wd 1e-4, ×0.1 at [10, 30, 50], 80 epochs,
    /// batch 128.
    #[default]
    Aimclr,
    /// CMD / A²MC: SGD lr 0.01, wd 0, ×0.1 at [50, 70], 80 epochs, batch 64.
    Cmd,
    /// AS-CAL: SGD lr 0.01, wd 0, batch 32; ≤ 1 % labels: 30 epochs, [10, 20]; else 15,
    /// [8, 16].
    Ascal,
}

impl Protocol {
    /// The preset's numbers; AS-CAL's schedule depends on the labelled fraction.
    pub fn spec(self, label_fraction: f64) -> FinetuneSpec {
        match self {
            Protocol::Aimclr => FinetuneSpec {
                epochs: 80,
                lr: 0.1,
                batch: 128,
                milestones: vec![10, 30, 50],
                gamma: 0.1,
                weight_decay: 1e-4,
                nesterov: true,
                test_every: 5,
            },
            Protocol::Cmd => FinetuneSpec {
                epochs: 80,
                lr: 0.01,
                batch: 64,
                milestones: vec![50, 70],
                gamma: 0.1,
                weight_decay: 0.0,
                nesterov: false,
                test_every: 1,
            },
            Protocol::Ascal => {
                let few = label_fraction <= 0.01;
                FinetuneSpec {
                    epochs: if few { 30 } else { 15 },
                    lr: 0.01,
                    batch: 32,
                    milestones: if few { vec![10, 20] } else { vec![8, 16] },
                    gamma: 0.1,
                    weight_decay: 0.0,
                    nesterov: false,
                    test_every: 1,
                }
            }
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Aimclr => "finetune-aimclr",
            Protocol::Cmd => "finetune-cmd",
            Protocol::Ascal => "finetune-ascal",
        }
    }
}

/// A protocol's numbers after overrides.
#[derive(Clone, Debug, PartialEq)]
pub struct FinetuneSpec {
    pub epochs: usize,
    pub lr: f64,
    pub batch: usize,
    pub milestones: Vec<usize>,
    pub gamma: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub test_every: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneParams {
    /// `aimclr`, `cmd` or `ascal`.
    pub protocol: Protocol,
    /// Benchmark to train on (its train part, or the `data.subset` in `needs`) and test on.
    pub benchmark: String,
    /// Input stream; default: the one the encoder was trained on.
    pub stream: Option<Stream>,
    /// Classes of the new head; default: the dataset's. Set it for a transfer (PKU-MMD: 51)
    /// to have a mismatch refused.
    pub classes: Option<usize>,
    /// Overrides of the protocol's numbers.
    pub epochs: Option<usize>,
    pub lr: Option<f64>,
    pub batch: Option<usize>,
    pub milestones: Option<Vec<usize>>,
    pub gamma: Option<f64>,
    pub weight_decay: Option<f64>,
    pub nesterov: Option<bool>,
    pub test_every: Option<usize>,
    /// Per-sample augmentation of the training clips (`none`, a preset, or a list of ops):
    /// e.g. CMD's `[{op: crop_resize, frames: 64, lo: 0.5, hi: 1.0}]` (a crop keeps at
    /// least `min_frames` source frames, default the code's 64).
    pub train_view: ViewSpec,
    /// Input transform of the test clips (`center64` for the CMD / A²MC 64-frame input).
    pub test_view: ViewSpec,
    /// Test clips per forward pass.
    pub test_batch: usize,
}

impl Default for FinetuneParams {
    fn default() -> Self {
        FinetuneParams {
            protocol: Protocol::Aimclr,
            benchmark: "ntu60-xsub".into(),
            stream: None,
            classes: None,
            epochs: None,
            lr: None,
            batch: None,
            milestones: None,
            gamma: None,
            weight_decay: None,
            nesterov: None,
            test_every: None,
            train_view: ViewSpec::Preset("none".into()),
            test_view: ViewSpec::Preset("none".into()),
            test_batch: 256,
        }
    }
}

impl FinetuneParams {
    pub fn resolved(&self, label_fraction: f64) -> FinetuneSpec {
        let mut s = self.protocol.spec(label_fraction);
        macro_rules! set {
            ($($f:ident),*) => {$(if let Some(v) = &self.$f { s.$f = v.clone(); })*};
        }
        set!(
            epochs,
            lr,
            batch,
            milestones,
            gamma,
            weight_decay,
            nesterov,
            test_every
        );
        s
    }

    /// The same params without the overrides that repeat the preset (AS-CAL's epochs and
    /// milestones depend on the subset, so an explicit value of those stays).
    pub fn canonical(mut self) -> FinetuneParams {
        let preset = self.protocol.spec(1.0);
        if self.protocol != Protocol::Ascal {
            drop_same(&mut self.epochs, &preset.epochs);
            drop_same(&mut self.milestones, &preset.milestones);
        }
        drop_same(&mut self.lr, &preset.lr);
        drop_same(&mut self.batch, &preset.batch);
        drop_same(&mut self.gamma, &preset.gamma);
        drop_same(&mut self.weight_decay, &preset.weight_decay);
        drop_same(&mut self.nesterov, &preset.nesterov);
        drop_same(&mut self.test_every, &preset.test_every);
        self.benchmark = self.benchmark.trim().to_string();
        self
    }
}

impl Params for FinetuneParams {
    fn validate(&self) -> Vec<ParamError> {
        let s = self.resolved(1.0);
        let mut e = Vec::new();
        if self.benchmark.trim().is_empty() {
            e.push(ParamError::at("benchmark", "is required"));
        }
        for (name, v) in [
            ("epochs", s.epochs),
            ("batch", s.batch),
            ("test_every", s.test_every),
            ("test_batch", self.test_batch),
        ] {
            if v == 0 {
                e.push(ParamError::at(name, "must be >= 1"));
            }
        }
        if !(s.lr > 0.0 && s.lr.is_finite()) {
            e.push(ParamError::at("lr", "must be > 0"));
        }
        if !(s.gamma > 0.0 && s.gamma <= 1.0) {
            e.push(ParamError::at("gamma", "must be in (0, 1]"));
        }
        if !(s.weight_decay >= 0.0 && s.weight_decay.is_finite()) {
            e.push(ParamError::at("weight_decay", "must be >= 0"));
        }
        if matches!(self.classes, Some(0 | 1)) {
            e.push(ParamError::at("classes", "must be >= 2"));
        }
        for (name, v) in [
            ("train_view", &self.train_view),
            ("test_view", &self.test_view),
        ] {
            if let Err(m) = v.resolve() {
                e.push(ParamError::at(name, m));
            }
        }
        e
    }
}

/// One test of the classifier.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Tested {
    epoch: usize,
    top1: f64,
    top5: f64,
}

/// What the finetuner has measured so far (checkpointed with it).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct TestRecord {
    best: Option<Tested>,
    last: Option<Tested>,
    best_top5: f64,
    #[serde(skip)]
    best_scores: Vec<f32>,
    #[serde(skip)]
    last_scores: Vec<f32>,
}

/// The test part as the classifier sees it.
struct TestSet {
    source: Box<dyn ClipSource + Send>,
    /// The source's labels, read once.
    labels: Vec<usize>,
    view: Vec<Aug>,
    stream: Stream,
    seed: u64,
    batch: usize,
}

/// The classifier being finetuned, as a [`Method`] of the training loop.
struct Finetuner {
    model: Classifier,
    optim: ModuleOptimizer,
    classes: usize,
    test: TestSet,
    test_every: usize,
    device: Device,
    record: TestRecord,
}

impl Finetuner {
    /// Scores of every test clip, row-major (n, classes), in eval mode.
    fn scores(&self) -> Vec<f32> {
        let model = self.model.valid();
        let src = self.test.source.as_ref();
        let ids: Vec<usize> = (0..src.len()).collect();
        let mut out = Vec::with_capacity(ids.len() * self.classes);
        for chunk in ids.chunks(self.test.batch) {
            let clips: Vec<_> = chunk
                .iter()
                .map(|&i| viewed_clip(src, i, &self.test.view, self.test.stream, self.test.seed))
                .collect();
            let x = stack_clips(&clips, &self.device).without_autodiff();
            let s = model
                .forward(x)
                .into_data()
                .try_into_vec::<f32>()
                .expect("f32 scores");
            out.extend(s);
        }
        out
    }
}

impl Method for Finetuner {
    fn step(&mut self, batch: &Batch, at: &StepAt) -> Result<StepOutput, StageError> {
        if let Some(&bad) = batch.labels.iter().find(|&&l| l >= self.classes) {
            return Err(StageError::param(
                "classes",
                format!(
                    "label {bad} is outside the head's 0..{}: the dataset has more classes than `classes`",
                    self.classes
                ),
            ));
        }
        Ok(self.model.train_step(&mut self.optim, batch, at.lr))
    }

    fn after_epoch(
        &mut self,
        epoch: usize,
        epochs: usize,
    ) -> Result<Vec<(String, f64)>, StageError> {
        if !epoch.is_multiple_of(self.test_every) && epoch != epochs {
            return Ok(Vec::new());
        }
        let scores = self.scores();
        let labels = &self.test.labels;
        let t = Tested {
            epoch,
            top1: topk_accuracy(&scores, self.classes, labels, 1),
            top5: topk_accuracy(&scores, self.classes, labels, 5),
        };
        let r = &mut self.record;
        if r.best.as_ref().is_none_or(|b| t.top1 > b.top1) {
            r.best = Some(t.clone());
            r.best_scores = scores.clone();
        }
        r.best_top5 = r.best_top5.max(t.top5);
        r.last_scores = scores;
        let out = vec![("top1".to_string(), t.top1), ("top5".to_string(), t.top5)];
        r.last = Some(t);
        Ok(out)
    }

    fn encoder(&self) -> &Encoder {
        &self.model.encoder
    }

    fn save(&self, dir: &Path) -> Result<(), StageError> {
        save_module(&self.model, &dir.join("classifier.bpk"))?;
        save_optim(&self.optim, &dir.join("optim.bpk"))?;
        write_json(&dir.join("tested.json"), &self.record)?;
        write_f32s(&dir.join("best-scores.f32"), &self.record.best_scores)?;
        write_f32s(&dir.join("last-scores.f32"), &self.record.last_scores)?;
        Ok(())
    }

    fn load(&mut self, dir: &Path) -> Result<(), StageError> {
        self.model = load_module(self.model.clone(), &dir.join("classifier.bpk"))?;
        self.optim = load_optim(self.optim.clone(), &dir.join("optim.bpk"))?;
        let p = dir.join("tested.json");
        let text = std::fs::read_to_string(&p).at("read", &p)?;
        self.record = serde_json::from_str(&text).map_err(|e| StageError::bad_file(&p, e))?;
        self.record.best_scores = read_f32s(&dir.join("best-scores.f32"))?;
        self.record.last_scores = read_f32s(&dir.join("last-scores.f32"))?;
        Ok(())
    }
}

/// `eval.finetune`.
pub struct EvalFinetune;

impl Kind for EvalFinetune {
    type Params = FinetuneParams;
    const NAME: &'static str = "eval.finetune";
    // 2: fused GRU / LSTM layers (another summation order)
    // 3: ST-GCN's fused batch norms and temporal convolutions
    // 4: ST-GCN's dropout masks from a counter-based hash
    // 5: the fused convolutions' weight gradients summed in a fixed order (were run-dependent)
    // 6: the saved classifier's BN running statistics include the last batch's update
    const VERSION: u32 = 6;
    const ABOUT: &'static str = "finetune the whole network (encoder + new head) on all labels or a `data.subset` (protocols aimclr | cmd | ascal); top-1/top-5 best and last, per-sample test scores";
    const USES_BACKEND: bool = true;

    fn canonical(&self, p: FinetuneParams) -> Result<FinetuneParams, Vec<ParamError>> {
        Ok(p.canonical())
    }

    fn check_inputs(&self, p: &FinetuneParams, inputs: &[Upstream]) -> Vec<ParamError> {
        let mut e = check_subset_inputs(Some(&p.benchmark), "benchmark", inputs);
        if let Some(c) = p.classes
            && c != PKU_CLASSES
            && inputs.iter().any(|u| u.kind == "pku.import")
        {
            e.push(
                ParamError::at(
                    "classes",
                    format!("is {c} but PKU-MMD has {PKU_CLASSES} action classes: the head must have one output per class"),
                )
                .with_hint(format!("set `classes: {PKU_CLASSES}`")),
            );
        }
        let encoders: Vec<&Upstream> = inputs
            .iter()
            .filter(|u| ENCODER_KINDS.contains(&u.kind.as_str()))
            .collect();
        if encoders.len() != 1 {
            e.push(
                ParamError::new(
                    vec![],
                    format!(
                        "finetunes one upstream encoder, and `needs` has {}{}",
                        encoders.len(),
                        if encoders.is_empty() {
                            String::new()
                        } else {
                            format!(
                                " ({})",
                                encoders.iter().map(|u| format!("`{}`", u.instance)).collect::<Vec<_>>().join(", ")
                            )
                        }
                    ),
                )
                .with_hint("add one `pretrain`, `encoder.init` (training from scratch) or `encoder.import` stage to `needs`"),
            );
        }
        e
    }

    fn run(&self, ctx: &StageContext, p: FinetuneParams) -> Result<(), StageError> {
        let dev = device(ctx.backend, true, ctx.threads)?;
        dev.seed(derive_seed(ctx.seed, &[0xf1e7]));
        let enc_input = ctx.input_with_file(files::ENCODER_JSON)?;
        let (meta, encoder) = read_encoder(&enc_input.dir, &dev)?;
        let stream = match p.stream {
            Some(s) => s,
            None => serde_json::from_value(meta.input["stream"].clone()).unwrap_or_default(),
        };
        let splits = open_splits(ctx, &p.benchmark)?;
        let subset = read_subset(ctx)?;
        let indices: Vec<usize> = match &subset {
            Some(s) => {
                check_subset_fits(s, &p.benchmark, splits.train.len())?;
                s.indices.clone()
            }
            None => (0..splits.train.len()).collect(),
        };
        let fraction = subset.as_ref().map_or(1.0, |s| s.ratio);
        let spec = p.resolved(fraction);
        let dataset_classes = splits.train.num_classes();
        let classes = p.classes.unwrap_or(dataset_classes);
        if classes != dataset_classes {
            return Err(StageError::param(
                "classes",
                format!(
                    "the head has {classes} classes but {} has {dataset_classes}: set `classes: {dataset_classes}` (PKU-MMD has 51, NTU-60 60, NTU-120 120)",
                    p.benchmark
                ),
            ));
        }
        let train_view = p
            .train_view
            .resolve()
            .map_err(|e| StageError::param("train_view", e))?;
        let test_view = p
            .test_view
            .resolve()
            .map_err(|e| StageError::param("test_view", e))?;
        let optim = OptimParams {
            optimizer: OptimizerKind::Sgd,
            lr: spec.lr,
            momentum: 0.9,
            nesterov: spec.nesterov,
            weight_decay: spec.weight_decay,
            schedule: ScheduleKind::Multistep,
            milestones: spec.milestones.clone(),
            gamma: spec.gamma,
        };
        let cfg = meta.encoder.clone();
        let head = LinearConfig::new(cfg.feature_dim(), classes).init(&dev);
        let frames = splits.frames;
        let describe = splits.describe.clone();
        let test_source = splits.test;
        let test_labels = (0..test_source.len())
            .map(|i| test_source.label(i))
            .collect();
        let mut method = Finetuner {
            model: Classifier { encoder, head },
            optim: optim.build(),
            classes,
            test: TestSet {
                source: test_source,
                labels: test_labels,
                view: test_view,
                stream,
                seed: ctx.seed,
                batch: p.test_batch,
            },
            test_every: spec.test_every,
            device: dev.clone(),
            record: TestRecord::default(),
        };
        let progress = |d: u64, t: u64, within, m: &str| ctx.progress_within(d, t, within, m);
        let trained = train(
            &mut method,
            TrainSpec {
                source: splits.train.as_ref(),
                indices,
                views: vec![train_view],
                stream,
                epochs: spec.epochs,
                batch: spec.batch,
                optim,
                seed: ctx.seed,
                device: dev,
                work_dir: ctx.work_dir.clone(),
                hooks: Hooks::from_env(),
                progress: &progress,
            },
        )?;
        let record = &method.record;
        let (Some(best), Some(last)) = (&record.best, &record.last) else {
            return Err(StageError::input("the classifier was never tested"));
        };
        let proto = p.protocol.label();
        let label_fraction = subset.as_ref().map(|s| s.label_fraction());
        write_classifier_metrics(
            &ctx.out_dir,
            proto,
            label_fraction.as_deref(),
            [best.top1, record.best_top5],
            [last.top1, last.top5],
        )?;
        let labels = method.test.labels.clone();
        write_scores(
            &ctx.out_dir,
            &ScoresMeta {
                benchmark: p.benchmark.clone(),
                stream: stream.name().to_string(),
                classes,
                protocol: proto.into(),
                best_epoch: best.epoch,
                last_epoch: last.epoch,
                label_fraction,
            },
            &Scores {
                index: (0..labels.len()).collect(),
                label: labels,
                classes,
                best: record.best_scores.clone(),
                last: record.last_scores.clone(),
            },
        )?;
        let counts = count_params(&method.model.encoder);
        let meta = EncoderMeta {
            encoder: cfg,
            input: serde_json::json!({"stream": stream, "benchmark": p.benchmark, "frames": frames, "dataset": describe}),
            method: format!("{}+{}", meta.method, proto),
            epochs: spec.epochs,
            backend: ctx.backend.name().into(),
            params_trainable: counts.trainable,
            params_total: counts.total,
            resumed_from: trained.resumed_from,
        };
        write_encoder(&ctx.out_dir, &meta, &method.model.encoder)?;
        save_module(&method.model, &ctx.out_dir.join("classifier.bpk"))?;
        write_epochs(&ctx.out_dir, "finetune", &trained.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StageKind;

    fn canonical(params: serde_json::Value) -> serde_json::Value {
        StageKind::check(&EvalFinetune, &params).expect("valid params")
    }

    #[test]
    fn presets_have_their_papers_numbers_and_spelling_them_out_changes_no_key() {
        let a = Protocol::Aimclr.spec(1.0);
        assert_eq!(
            (
                a.epochs,
                a.lr,
                a.batch,
                a.milestones.clone(),
                a.weight_decay,
                a.nesterov
            ),
            (80, 0.1, 128, vec![10, 30, 50], 1e-4, true)
        );
        let c = Protocol::Cmd.spec(0.1);
        assert_eq!(
            (
                c.epochs,
                c.lr,
                c.batch,
                c.milestones.clone(),
                c.weight_decay,
                c.nesterov
            ),
            (80, 0.01, 64, vec![50, 70], 0.0, false)
        );
        assert_eq!(
            (
                Protocol::Ascal.spec(0.01).epochs,
                Protocol::Ascal.spec(0.01).milestones
            ),
            (30, vec![10, 20])
        );
        assert_eq!(
            (
                Protocol::Ascal.spec(0.1).epochs,
                Protocol::Ascal.spec(0.1).milestones
            ),
            (15, vec![8, 16])
        );
        let plain = canonical(serde_json::json!({"protocol": "cmd"}));
        assert_eq!(
            canonical(
                serde_json::json!({"protocol": "cmd", "lr": 0.01, "epochs": 80, "milestones": [50, 70]})
            ),
            plain
        );
        assert_ne!(
            canonical(serde_json::json!({"protocol": "cmd", "lr": 0.1})),
            plain
        );
        // AS-CAL's schedule follows the subset: an explicit one is a different computation
        assert_ne!(
            canonical(serde_json::json!({"protocol": "ascal", "epochs": 15})),
            canonical(serde_json::json!({"protocol": "ascal"}))
        );
    }

    #[test]
    fn bad_numbers_are_refused_by_name() {
        let e = StageKind::check(
            &EvalFinetune,
            &serde_json::json!({"lr": 0.0, "classes": 1, "train_view": "nope"}),
        )
        .unwrap_err();
        let paths: Vec<String> = e.iter().map(|e| e.path_string()).collect();
        for p in ["lr", "classes", "train_view"] {
            assert!(paths.contains(&p.to_string()), "{paths:?}");
        }
    }
}
