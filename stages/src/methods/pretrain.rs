//! `pretrain`: pre-training of an encoder with a method — self-supervised (MoCo v2, A²MC,
//! …) or the supervised baseline. Checkpoints every epoch and resumes after a kill; can
//! start from an upstream encoder (`init`), as ActCLR starts from AimCLR.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skelflow_contract::files;

use super::{MethodEntry, PretrainView, method, method_names};
use crate::data::Stream;
use crate::data::anchor::read_anchor;
use crate::learn::artifact::{EncoderMeta, read_encoder, write_encoder, write_epochs};
use crate::learn::augment::{Clip, ViewSpec};
use crate::learn::data::derive_seed;
use crate::learn::dataset::open_splits;
use crate::learn::device::device;
use crate::learn::encoders::{Encoder, EncoderSpec, count_params};
use crate::learn::method::{Anchor, MethodSetup};
use crate::learn::optim::{OptimParams, ScheduleKind};
use crate::learn::train::{Hooks, TrainSpec, train};
use crate::params::{ParamError, Params, PathSeg};
use crate::{Kind, StageContext, StageError, Upstream};

/// Where the encoder starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InitMode {
    /// A freshly initialised encoder.
    #[default]
    None,
    /// The encoder (backbone and projection head) of the one upstream encoder artifact in
    /// `needs` (a `pretrain`, `encoder.init` or `encoder.import`): the reference's
    /// `weights:` with `ignore_weights: [queue]` and `rename_weights: encoder_q →
    /// encoder_k` — queues and banks start fresh, and the key encoder starts as a copy of
    /// the loaded query encoder (ActCLR from AimCLR, ML-FACTS §5.1).
    Encoder,
    /// The same, but only the backbone: the projection head starts fresh.
    Backbone,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PretrainParams {
    /// Pre-training method (`skelflow kinds pretrain` lists them).
    pub method: String,
    /// The method's own params (queue, momentum, temperature, switches, …).
    pub method_params: serde_json::Value,
    /// Encoder preset (`stgcn`, `stgcn64`, `bigru`, `lstm`) or config. A BiGRU is driven as
    /// the CMD/ISC code drives it (`drive: per_frame`, the default: frame by frame, both
    /// directions forward in time, feature = last frame's output); `drive: bidirectional`
    /// gives a true bidirectional pass.
    pub encoder: EncoderSpec,
    /// Start from an upstream encoder: `none`, `encoder` or `backbone`.
    pub init: InitMode,
    /// Benchmark whose train part is used (e.g. `ntu60-xsub`).
    pub benchmark: String,
    /// Input stream: joint, motion or bone (computed from the augmented joint clips).
    pub stream: Stream,
    /// Augmented views per sample (presets or op lists); empty = the method's default.
    pub views: Vec<ViewSpec>,
    pub epochs: usize,
    pub batch: usize,
    /// Optimiser and learning-rate schedule.
    #[serde(flatten)]
    pub optim: OptimParams,
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
            init: InitMode::None,
            benchmark: "ntu60-xsub".into(),
            stream: Stream::Joint,
            views: vec![],
            epochs: 300,
            batch: 128,
            optim: OptimParams {
                lr: 0.1,
                momentum: 0.9,
                nesterov: false,
                weight_decay: 1e-4,
                schedule: ScheduleKind::Step,
                milestones: vec![250],
                gamma: 0.1,
                ..OptimParams::default()
            },
            max_samples: 0,
        }
    }
}

impl Params for PretrainParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut e = self.encoder.errors("encoder");
        match method(&self.method) {
            None => e.push(
                ParamError::at("method", format!("unknown method `{}`", self.method))
                    .with_hint(format!("known methods: {}", method_names().join(", "))),
            ),
            Some(m) => {
                if let Err(errs) = (m.check)(&self.method_params) {
                    e.extend(errs.into_iter().map(|err| err.under("method_params")));
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
        e.extend(self.optim.validate());
        e
    }
}

impl PretrainParams {
    fn entry(&self) -> Result<&'static MethodEntry, StageError> {
        method(&self.method)
            .ok_or_else(|| StageError::param("method", format!("unknown method `{}`", self.method)))
    }
}

/// Kinds whose artifact is an encoder (`encoder.json` + weights).
pub const ENCODER_KINDS: &[&str] = &["pretrain", "encoder.init", "encoder.import"];

pub struct Pretrain;

impl Kind for Pretrain {
    type Params = PretrainParams;
    const NAME: &'static str = "pretrain";
    // 3: streams from the augmented joint clips; `init`; method versions in the key
    // 4: fused GRU / LSTM layers (another summation order)
    // 5: ST-GCN's batch norms and temporal convolutions as fused ops (same, for ST-GCN)
    // 6: ST-GCN's dropout masks from a counter-based hash, inside the fused batch norm
    // 7: the fused convolutions' weight gradients summed in a fixed order (were run-dependent)
    // 8: the saved encoders' BN running statistics include the last batch's update
    const VERSION: u32 = 8;
    const ABOUT: &'static str = "pre-training of an encoder with a method (moco | a2mc | aimclr | actclr | ascal | supervised); checkpoints every epoch and resumes after a kill; `init` starts from an upstream encoder";
    const USES_BACKEND: bool = true;

    fn canonical(&self, mut p: PretrainParams) -> Result<PretrainParams, Vec<ParamError>> {
        p.encoder = p.encoder.canonical();
        let m = method(&p.method).expect("validated");
        p.method_params = (m.check)(&p.method_params).expect("validated");
        Ok(p)
    }

    fn part_versions(&self, p: &PretrainParams) -> Vec<(String, u32)> {
        method(&p.method)
            .map(|m| vec![(format!("method.{}", m.name), m.version)])
            .unwrap_or_default()
    }

    fn check_inputs(&self, p: &PretrainParams, inputs: &[Upstream]) -> Vec<ParamError> {
        let mut e = Vec::new();
        let Ok(cfg) = p.encoder.resolve() else {
            return e;
        };
        let encoders: Vec<&Upstream> = inputs
            .iter()
            .filter(|u| ENCODER_KINDS.contains(&u.kind.as_str()))
            .collect();
        let names = |us: &[&Upstream]| {
            us.iter()
                .map(|u| format!("`{}`", u.instance))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match (p.init, encoders.as_slice()) {
            (InitMode::None, []) => {}
            (InitMode::None, found) => e.push(
                ParamError::at(
                    "init",
                    format!("`needs` has the encoder {} but `init` is `none`", names(found)),
                )
                .with_hint("set `init: encoder` to start from it, or remove it from `needs`"),
            ),
            (_, []) => e.push(
                ParamError::at("init", "needs one upstream encoder, and `needs` has none")
                    .with_hint("add the `pretrain` (or `encoder.init` / `encoder.import`) stage to start from to `needs`"),
            ),
            (_, [one]) => {
                if let Some(theirs) = one.params.get("encoder")
                    && let Ok(theirs) = serde_json::from_value::<EncoderSpec>(theirs.clone())
                    && let Ok(theirs) = theirs.resolve()
                    && !cfg.same_architecture(&theirs, p.init == InitMode::Encoder)
                {
                    e.push(
                        ParamError::at(
                            "init",
                            format!(
                                "the init encoder `{}` is {} but this stage's `encoder` is {} (differs in {})",
                                one.instance,
                                theirs.describe(),
                                cfg.describe(),
                                cfg.differences(&theirs, p.init == InitMode::Encoder).join(", ")
                            ),
                        )
                        .with_hint("give both stages the same `encoder` (or `init: backbone` when only the head differs)"),
                    );
                }
            }
            (_, many) => e.push(
                ParamError::at(
                    "init",
                    format!("`needs` has several encoders ({}); which to start from is ambiguous", names(many)),
                )
                .with_hint("keep one encoder stage in `needs` (use `matrix:` to pair instances)"),
            ),
        }
        // encoders with a fixed or bounded clip length, against the clips the default views
        // give: the method's `frames` (A²MC's crop-resize, AS-CAL's selection), else the import's
        let clip = p
            .method_params
            .get("frames")
            .and_then(|f| f.as_u64())
            .map(|f| (f as usize, "`method_params.frames`".to_string()))
            .or_else(|| {
                let u = inputs.iter().find(|u| super::is_dataset(u))?;
                let (variant, frames) = super::variant_frames(u);
                frames.map(|f| (f, format!("the `{variant}` clips of `{}`", u.instance)))
            });
        if let (true, Some((t, from))) = (p.views.is_empty(), clip)
            && let Some(problem) = cfg.clip_frames_problem(t)
        {
            e.push(
                ParamError::at("encoder", format!("{problem}, and this stage's clips have {t} frames ({from})"))
                    .with_hint(format!("set the encoder's `frames: {t}` (`encoder: {{backbone: {{arch: …, frames: {t}}}}}`)")),
            );
        }
        if let Some(m) = method(&p.method) {
            let view = PretrainView {
                benchmark: &p.benchmark,
                stream: p.stream,
                encoder: &cfg,
            };
            e.extend(
                (m.check_inputs)(&p.method_params, &view, inputs)
                    .into_iter()
                    .map(|err| err.under("method_params")),
            );
        }
        e
    }

    fn run(&self, ctx: &StageContext, p: PretrainParams) -> Result<(), StageError> {
        let cfg = p
            .encoder
            .resolve()
            .map_err(|e| StageError::param("encoder", e))?;
        let entry = p.entry()?;
        let dev = device(ctx.backend, true, ctx.threads)?;
        dev.seed(derive_seed(ctx.seed, &[0x1417]));
        let splits = open_splits(ctx, &p.benchmark)?;
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
            .map_err(|e| StageError::param("views", e))?;
        let anchor = match ctx
            .inputs
            .iter()
            .find(|i| i.dir.join(files::ANCHOR_JSON).is_file())
        {
            Some(input) => {
                let (meta, data) = read_anchor(&input.dir)?;
                let [c, t, v, m] = meta.shape[..] else {
                    return Err(StageError::bad_file(
                        input.dir.join(files::ANCHOR_JSON),
                        format!("shape {:?} is not (C, T, V, M)", meta.shape),
                    ));
                };
                Some(Anchor {
                    clip: Clip::new(c, t, v, m, data),
                    stream: meta.stream,
                    count: meta.count,
                })
            }
            None => None,
        };
        let init = init_encoder(ctx, &p, &cfg, &dev)?;
        let mut method = (entry.build)(
            &p.method_params,
            &MethodSetup {
                encoder: &cfg,
                optim: &p.optim,
                device: &dev,
                seed: ctx.seed,
                stream: p.stream,
                epochs: p.epochs,
                frames: splits.frames,
                classes: splits.train.num_classes(),
                anchor: anchor.as_ref(),
                init: init.as_ref(),
            },
        )?;
        let progress = |d: u64, t: u64, within, m: &str| ctx.progress_within(d, t, within, m);
        let trained = train(
            method.as_mut(),
            TrainSpec {
                source: splits.train.as_ref(),
                indices,
                views,
                stream: p.stream,
                epochs: p.epochs,
                batch: p.batch,
                optim: p.optim.clone(),
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
        write_epochs(&ctx.out_dir, "pretrain", &trained.rows)
    }
}

/// The `init` encoder, loaded from the one upstream encoder artifact.
fn init_encoder(
    ctx: &StageContext,
    p: &PretrainParams,
    cfg: &crate::learn::encoders::EncoderConfig,
    dev: &burn::prelude::Device,
) -> Result<Option<Encoder>, StageError> {
    if p.init == InitMode::None {
        return Ok(None);
    }
    let input = ctx.input_with_file(files::ENCODER_JSON)?;
    let (meta, enc) = read_encoder(&input.dir, dev)?;
    if !meta.encoder.same_architecture(cfg, false) {
        return Err(StageError::param(
            "init",
            format!(
                "the encoder of `{}` is {} but this stage's `encoder` is {} (differs in {})",
                input.instance,
                meta.encoder.describe(),
                cfg.describe(),
                cfg.differences(&meta.encoder, false).join(", ")
            ),
        ));
    }
    Ok(Some(match p.init {
        InitMode::Backbone => {
            let mut fresh = cfg.init(dev);
            fresh.backbone = enc.backbone;
            fresh
        }
        _ => {
            if !meta.encoder.same_architecture(cfg, true) {
                return Err(StageError::param(
                    "init",
                    format!(
                        "the projection head of `{}` differs from this stage's `encoder`: use `init: backbone`",
                        input.instance
                    ),
                ));
            }
            enc
        }
    }))
}
