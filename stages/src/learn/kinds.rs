//! Stage kinds of the learning core: `encoder.init`, `pretrain`, `extract`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::artifact::{
    ENCODER_JSON, EncoderMeta, FeatureSet, read_encoder, write_encoder, write_epochs_parquet,
    write_features_arrow, write_json,
};
use super::augment::{ViewSpec, apply_view};
use super::data::{ClipSource, derive_seed};
use super::dataset::open_splits;
use super::device::device;
use super::encoders::{EncoderConfig, count_params};
use super::optim::{OptimParams, OptimizerKind, ScheduleKind};
use super::train::{Hooks, TrainSpec, train};
use crate::data::Stream;
use crate::methods::{self, MethodSetup};
use crate::params::{ParamError, ParamSpec, Params, PathSeg, check_typed, specs_of};
use crate::{StageContext, StageError, StageKind};

/// An encoder given as a preset name (`stgcn`, `stgcn64`, `bigru`, `lstm`) or a config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EncoderSpec {
    Preset(String),
    Config(EncoderConfig),
}

impl Default for EncoderSpec {
    fn default() -> Self {
        EncoderSpec::Preset("stgcn".into())
    }
}

impl EncoderSpec {
    pub fn resolve(&self) -> Result<EncoderConfig, String> {
        match self {
            EncoderSpec::Config(c) => Ok(c.clone()),
            EncoderSpec::Preset(p) => {
                EncoderConfig::preset(p).ok_or_else(|| format!("unknown encoder preset `{p}`: use stgcn, stgcn64, bigru or lstm, or a config mapping"))
            }
        }
    }
}

fn encoder_error(spec: &EncoderSpec) -> Vec<ParamError> {
    match spec.resolve() {
        Ok(_) => vec![],
        Err(e) => vec![ParamError::at("encoder", e)],
    }
}

/// Replace the encoder spec by the full config so that `stgcn` and its spelled-out config
/// give the same key.
fn canonical_encoder(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(spec) = v.get("encoder").cloned()
        && let Ok(spec) = serde_json::from_value::<EncoderSpec>(spec)
        && let Ok(cfg) = spec.resolve()
    {
        v["encoder"] = serde_json::to_value(cfg).expect("config serialises");
    }
    v
}

// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderInitParams {
    /// Encoder preset or config.
    pub encoder: EncoderSpec,
    /// The stream the encoder will be fed (recorded for `extract`).
    pub stream: Stream,
}

impl Default for EncoderInitParams {
    fn default() -> Self {
        EncoderInitParams {
            encoder: EncoderSpec::default(),
            stream: Stream::Joint,
        }
    }
}

impl Params for EncoderInitParams {
    fn validate(&self) -> Vec<ParamError> {
        encoder_error(&self.encoder)
    }
}

/// `encoder.init`: a randomly initialised encoder — the baseline every report needs.
pub struct EncoderInit;

impl StageKind for EncoderInit {
    fn name(&self) -> &'static str {
        "encoder.init"
    }
    fn version(&self) -> u32 {
        // 2: the reference initialisation (`init: reference`)
        2
    }
    fn about(&self) -> &'static str {
        "a randomly initialised encoder (the random-init baseline), in the pretrain artifact layout"
    }
    fn param_specs(&self) -> Vec<ParamSpec> {
        specs_of::<EncoderInitParams>()
    }
    fn check(&self, params: &serde_json::Value) -> Result<serde_json::Value, Vec<ParamError>> {
        check_typed::<EncoderInitParams>(params).map(canonical_encoder)
    }
    fn uses_backend(&self) -> bool {
        true
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let p: EncoderInitParams = ctx.params()?;
        let cfg = p.encoder.resolve().map_err(StageError::msg)?;
        let dev = device(ctx.backend, false, ctx.threads)?;
        dev.seed(derive_seed(ctx.seed, &[0x1417]));
        let enc = cfg.init(&dev);
        let counts = count_params(&enc);
        let meta = EncoderMeta {
            encoder: cfg,
            input: serde_json::json!({"stream": p.stream}),
            method: "random".into(),
            epochs: 0,
            backend: ctx.backend.name().into(),
            params_trainable: counts.trainable,
            params_total: counts.total,
            resumed_from: 0,
        };
        write_encoder(&ctx.out_dir, &meta, &enc)
    }
}

// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PretrainParams {
    /// Pre-training method (`moco`).
    pub method: String,
    /// The method's own params (moco: queue, momentum, temperature).
    pub method_params: serde_json::Value,
    /// Encoder preset (`stgcn`, `stgcn64`, `bigru`, `lstm`) or config.
    pub encoder: EncoderSpec,
    /// Benchmark whose train part is used (e.g. `ntu60-xsub`).
    pub benchmark: String,
    /// Input stream: joint, motion or bone.
    pub stream: Stream,
    /// Augmented views per sample (presets or op lists); empty = the method's default.
    pub views: Vec<ViewSpec>,
    pub epochs: usize,
    pub batch: usize,
    /// `sgd` or `adam`.
    pub optimizer: OptimizerKind,
    pub lr: f64,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    /// `constant`, `step`, `multistep` or `cosine`.
    pub schedule: ScheduleKind,
    /// Epochs after which lr is multiplied by `gamma`.
    pub milestones: Vec<usize>,
    pub gamma: f64,
    /// Use at most this many training clips (a seeded subset); 0 = all.
    pub max_samples: usize,
}

impl Default for PretrainParams {
    fn default() -> Self {
        // AimCLR's MoCo v2 recipe (ML-FACTS §3), 300 epochs
        PretrainParams {
            method: "moco".into(),
            method_params: serde_json::Value::Object(Default::default()),
            encoder: EncoderSpec::default(),
            benchmark: "ntu60-xsub".into(),
            stream: Stream::Joint,
            views: vec![],
            epochs: 300,
            batch: 128,
            optimizer: OptimizerKind::Sgd,
            lr: 0.1,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 1e-4,
            schedule: ScheduleKind::Step,
            milestones: vec![250],
            gamma: 0.1,
            max_samples: 0,
        }
    }
}

impl PretrainParams {
    pub fn optim(&self) -> OptimParams {
        OptimParams {
            optimizer: self.optimizer,
            lr: self.lr,
            momentum: self.momentum,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
            schedule: self.schedule,
            milestones: self.milestones.clone(),
            gamma: self.gamma,
        }
    }
}

impl Params for PretrainParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut e = encoder_error(&self.encoder);
        match methods::method(&self.method) {
            None => e.push(
                ParamError::at("method", format!("unknown method `{}`", self.method)).with_hint(
                    format!("known methods: {}", methods::method_names().join(", ")),
                ),
            ),
            Some(m) => {
                if let Err(errs) = (m.check)(&self.method_params) {
                    for mut err in errs {
                        err.path.insert(0, PathSeg::Key("method_params".into()));
                        e.push(err);
                    }
                }
            }
        }
        for (i, v) in self.views.iter().enumerate() {
            if let Err(msg) = v.resolve() {
                e.push(ParamError::new(
                    vec![PathSeg::Key("views".into()), PathSeg::Index(i)],
                    msg,
                ));
            }
        }
        if self.epochs == 0 {
            e.push(ParamError::at("epochs", "must be >= 1"));
        }
        if self.batch == 0 {
            e.push(ParamError::at("batch", "must be >= 1"));
        }
        e.extend(self.optim().validate("lr"));
        e
    }
}

/// `pretrain`: self-supervised pre-training of an encoder with a method.
pub struct Pretrain;

impl StageKind for Pretrain {
    fn name(&self) -> &'static str {
        "pretrain"
    }
    fn version(&self) -> u32 {
        // 2: the reference initialisation (`init: reference`)
        2
    }
    fn about(&self) -> &'static str {
        "self-supervised pre-training (method: moco | a2mc | supervised); checkpoints every epoch and resumes after a kill"
    }
    fn param_specs(&self) -> Vec<ParamSpec> {
        specs_of::<PretrainParams>()
    }
    fn check(&self, params: &serde_json::Value) -> Result<serde_json::Value, Vec<ParamError>> {
        let mut v = canonical_encoder(check_typed::<PretrainParams>(params)?);
        let p: PretrainParams = serde_json::from_value(v.clone()).expect("checked");
        let m = methods::method(&p.method).expect("validated");
        v["method_params"] = (m.check)(&p.method_params).expect("validated");
        Ok(v)
    }
    fn uses_backend(&self) -> bool {
        true
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let p: PretrainParams = ctx.params()?;
        let cfg = p.encoder.resolve().map_err(StageError::msg)?;
        let entry = methods::method(&p.method)
            .ok_or_else(|| StageError::msg(format!("unknown method `{}`", p.method)))?;
        let dev = device(ctx.backend, true, ctx.threads)?;
        dev.seed(derive_seed(ctx.seed, &[0x1417]));
        let splits = open_splits(ctx, &p.benchmark, p.stream)?;
        let mut indices: Vec<usize> = (0..splits.train.len()).collect();
        if p.max_samples > 0 && p.max_samples < indices.len() {
            indices.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(
                ctx.seed,
                &[0x5ab5],
            )));
            indices.truncate(p.max_samples);
            indices.sort_unstable();
        }
        let views = if p.views.is_empty() {
            (entry.default_views)(&p.method_params)
        } else {
            p.views.clone()
        };
        let views = views
            .iter()
            .map(|v| v.resolve())
            .collect::<Result<Vec<_>, _>>()
            .map_err(StageError::msg)?;
        let optim = p.optim();
        let mut method = (entry.build)(
            &p.method_params,
            &MethodSetup {
                encoder: &cfg,
                optim: &optim,
                device: &dev,
            },
        )?;
        let progress = |d: u64, t: u64, m: &str| ctx.progress(d, t, m);
        let trained = train(
            method.as_mut(),
            TrainSpec {
                instance: &ctx.instance,
                source: splits.train.as_ref(),
                indices,
                views,
                epochs: p.epochs,
                batch: p.batch,
                optim,
                seed: ctx.seed,
                device: dev,
                work_dir: ctx.work_dir.clone(),
                hooks: Hooks::from_env(),
                progress: &progress,
            },
        )?;
        let enc = method.encoder();
        let counts = count_params(enc);
        let meta = EncoderMeta {
            encoder: cfg,
            input: serde_json::json!({"stream": p.stream, "benchmark": p.benchmark, "frames": splits.frames, "dataset": splits.describe}),
            method: p.method.clone(),
            epochs: p.epochs,
            backend: ctx.backend.name().into(),
            params_trainable: counts.trainable,
            params_total: counts.total,
            resumed_from: trained.resumed_from,
        };
        write_encoder(&ctx.out_dir, &meta, enc)?;
        write_epochs_parquet(&ctx.out_dir.join("epochs.parquet"), &trained.rows)
    }
}

// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// The backbone's pooled feature (256-d ST-GCN, 2048-d BiGRU): linear eval, 1-NN.
    #[default]
    Backbone,
    /// The projection head's output (ActCLR's kNN monitor uses the 128-d MLP output).
    Projection,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExtractParams {
    pub benchmark: String,
    /// Stream; default: the one the encoder was trained on.
    pub stream: Option<Stream>,
    /// Input transform at extraction (`none` for frame50 data, `center64` for the
    /// CMD/A2MC 64-frame protocol).
    pub view: ViewSpec,
    pub feature: FeatureKind,
    pub batch: usize,
}

impl Default for ExtractParams {
    fn default() -> Self {
        ExtractParams {
            benchmark: "ntu60-xsub".into(),
            stream: None,
            view: ViewSpec::Preset("none".into()),
            feature: FeatureKind::Backbone,
            batch: 256,
        }
    }
}

impl Params for ExtractParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut e = Vec::new();
        if let Err(m) = self.view.resolve() {
            e.push(ParamError::at("view", m));
        }
        if self.batch == 0 {
            e.push(ParamError::at("batch", "must be >= 1"));
        }
        e
    }
}

/// `extract`: features of the train and test parts through a frozen encoder.
pub struct Extract;

impl StageKind for Extract {
    fn name(&self) -> &'static str {
        "extract"
    }
    fn version(&self) -> u32 {
        1
    }
    fn about(&self) -> &'static str {
        "features of the train and test splits through a frozen encoder (BN in eval mode), as Arrow"
    }
    fn param_specs(&self) -> Vec<ParamSpec> {
        specs_of::<ExtractParams>()
    }
    fn check(&self, params: &serde_json::Value) -> Result<serde_json::Value, Vec<ParamError>> {
        check_typed::<ExtractParams>(params)
    }
    fn uses_backend(&self) -> bool {
        true
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let p: ExtractParams = ctx.params()?;
        let dev = device(ctx.backend, false, ctx.threads)?;
        let enc_input = ctx.input_with_file(ENCODER_JSON)?;
        let (meta, enc) = read_encoder(&enc_input.dir, &dev)?;
        let enc = enc.valid();
        let stream = match p.stream {
            Some(s) => s,
            None => serde_json::from_value(meta.input["stream"].clone()).unwrap_or_default(),
        };
        let splits = open_splits(ctx, &p.benchmark, stream)?;
        let view = p.view.resolve().map_err(StageError::msg)?;
        let mut parts = Vec::new();
        let mut dim = 0;
        for (name, src) in [
            ("train", splits.train.as_ref() as &dyn ClipSource),
            ("test", splits.test.as_ref() as &dyn ClipSource),
        ] {
            let ids: Vec<usize> = (0..src.len()).collect();
            let mut data = Vec::with_capacity(ids.len() * 256);
            for (bi, chunk) in ids.chunks(p.batch).enumerate() {
                let clips: Vec<_> = chunk
                    .iter()
                    .map(|&i| {
                        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(ctx.seed, &[i as u64]));
                        apply_view(&view, src.clip(i), src.valid_frames(i), &mut rng)
                    })
                    .collect();
                let (c, t, v, m) = (clips[0].c, clips[0].t, clips[0].v, clips[0].m);
                let flat: Vec<f32> = clips.iter().flat_map(|x| x.data.iter().copied()).collect();
                let x =
                    Tensor::<5>::from_data(TensorData::new(flat, [chunk.len(), c, t, v, m]), &dev);
                let f = enc.features(x);
                let f = match p.feature {
                    FeatureKind::Backbone => f,
                    FeatureKind::Projection => enc.project(f),
                };
                dim = f.dims()[1];
                data.extend(
                    f.into_data()
                        .try_into_vec::<f32>()
                        .map_err(|e| StageError::msg(format!("features: {e:?}")))?,
                );
                ctx.progress(
                    bi as u64 + 1,
                    ids.len().div_ceil(p.batch) as u64,
                    &format!("{name} features"),
                );
            }
            parts.push(FeatureSet {
                split: if name == "train" { "train" } else { "test" },
                index: ids.clone(),
                label: ids.iter().map(|&i| src.label(i)).collect(),
                data,
            });
        }
        write_features_arrow(&ctx.out_dir.join("features.arrow"), dim, &parts)?;
        write_json(
            &ctx.out_dir.join("features.json"),
            &serde_json::json!({
                "dim": dim, "benchmark": p.benchmark, "stream": stream, "feature": p.feature,
                "classes": splits.train.num_classes(), "train": parts[0].index.len(), "test": parts[1].index.len(),
                "encoder": {"method": meta.method, "epochs": meta.epochs},
            }),
        )
    }
}
