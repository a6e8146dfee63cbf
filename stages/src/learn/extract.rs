//! `extract`: features of the train and test parts through a frozen encoder.

use burn::prelude::*;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use skelflow_contract::files;

use super::artifact::{ENCODER_JSON, FeatureSet, read_encoder, write_features_arrow, write_json};
use super::augment::{Aug, Clip, ViewSpec, apply_view_in};
use super::data::{ClipSource, derive_seed};
use super::dataset::{Splits, open_splits};
use super::device::device;
use super::encoders::Encoder;
use crate::data::Stream;
use crate::params::{ParamError, Params};
use crate::{Kind, StageContext, StageError};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeatureKind {
    /// The backbone's pooled feature (256-d ST-GCN, 2048-d BiGRU): linear eval, 1-NN.
    #[default]
    Backbone,
    /// The projection head's output (ActCLR's kNN monitor uses the 128-d MLP output).
    Projection,
}

/// The batch-norm statistics a frozen encoder normalises with at extraction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BnStatistics {
    /// The running statistics the encoder carries: a pretrained encoder's from its training
    /// data, an untrained one's from initialisation (mean 0, variance 1: the identity).
    #[default]
    Encoder,
    /// Re-estimated on the train part as the view shows it (AdaBN-style): forward passes in
    /// train mode, no gradient, as many batches as make the initial statistics' weight in
    /// the running average negligible. The control for a random-init encoder: statistics
    /// from data, as a pretrained encoder has, with untrained weights.
    Train,
}

impl BnStatistics {
    fn is_encoder(&self) -> bool {
        *self == BnStatistics::Encoder
    }
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
    /// Batch-norm statistics: `encoder` — those the encoder carries (an untrained one's
    /// are the identity); `train` — re-estimated on the train part first (50 batches of 64
    /// in train mode, no gradient, weights untouched): a random-init encoder's control.
    // Left out of the key when default, so that earlier extractions stay cached.
    #[serde(skip_serializing_if = "BnStatistics::is_encoder")]
    #[schemars(extend("default" = "encoder"))]
    pub bn_statistics: BnStatistics,
}

impl Default for ExtractParams {
    fn default() -> Self {
        ExtractParams {
            benchmark: "ntu60-xsub".into(),
            stream: None,
            view: ViewSpec::Preset("none".into()),
            feature: FeatureKind::Backbone,
            batch: 256,
            bn_statistics: BnStatistics::Encoder,
        }
    }
}

impl Params for ExtractParams {
    fn validate(&self) -> Vec<ParamError> {
        validate_view_and_batch(&self.view, self.batch)
    }
}

/// The checks every extraction kind makes of its `view` and `batch` params.
pub(crate) fn validate_view_and_batch(view: &ViewSpec, batch: usize) -> Vec<ParamError> {
    let mut e = Vec::new();
    if let Err(m) = view.resolve() {
        e.push(ParamError::at("view", m));
    }
    if batch == 0 {
        e.push(ParamError::at("batch", "must be >= 1"));
    }
    e
}

/// `extract`: features of the train and test parts through a frozen encoder.
pub struct Extract;

impl Kind for Extract {
    type Params = ExtractParams;
    const NAME: &'static str = "extract";
    // 2: the stream is computed from the joint clip after the view (was: before it)
    // 3: fused GRU / LSTM layers (one input GEMM: other summation order)
    // 4: ST-GCN's fused temporal convolution
    // 5: ST-GCN's fused graph convolution (another summation order)
    // 6: `bn_statistics: train` seeds the dropout masks of its passes (were unseeded)
    const VERSION: u32 = 6;
    const ABOUT: &'static str = "features of the train and test splits through a frozen encoder (BN in eval mode), as Arrow";
    const USES_BACKEND: bool = true;

    fn run(&self, ctx: &StageContext, p: ExtractParams) -> Result<(), StageError> {
        let train_mode = p.bn_statistics == BnStatistics::Train;
        let dev = device(ctx.backend, false, ctx.threads)?;
        let enc_dev = if train_mode {
            dev.clone().autodiff()
        } else {
            dev.clone()
        };
        let enc_input = ctx.input_with_file(ENCODER_JSON)?;
        let (meta, enc) = read_encoder(&enc_input.dir, &enc_dev)?;
        let stream = match p.stream {
            Some(s) => s,
            None => serde_json::from_value(meta.input["stream"].clone()).unwrap_or_default(),
        };
        let view = p.view.resolve().map_err(|e| StageError::param("view", e))?;
        let splits = open_splits(ctx, &p.benchmark)?;
        let input = ViewedInput {
            benchmark: &p.benchmark,
            splits: &splits,
            view: &view,
            stream,
            batch: p.batch,
        };
        let enc = if train_mode {
            input.recompute_bn_statistics(ctx, enc, &enc_dev)?
        } else {
            enc
        }
        .valid();
        input.extract(
            ctx,
            |flat, shape| {
                let x = Tensor::<5>::from_data(TensorData::new(flat, shape), &dev);
                let f = enc.features(x);
                let f = match p.feature {
                    FeatureKind::Backbone => f,
                    FeatureKind::Projection => enc.project(f),
                };
                let dim = f.dims()[1];
                let rows =
                    f.into_data()
                        .try_into_vec::<f32>()
                        .map_err(|e| StageError::Backend {
                            backend: ctx.backend.name().into(),
                            message: format!("cannot read the features back: {e:?}"),
                        })?;
                Ok((dim, rows))
            },
            serde_json::json!({
                "feature": p.feature,
                "encoder": {"method": meta.method, "epochs": meta.epochs},
                "bn_statistics": p.bn_statistics,
            }),
        )
    }
}

/// Batches of [`ViewedInput::recompute_bn_statistics`]: burn's running averages keep
/// 0.9 of the old value per batch, so after 50 the initial statistics weigh 0.9⁵⁰ ≈ 0.5 %.
const BN_BATCHES: usize = 50;
const BN_BATCH: usize = 64;

/// Clip `i` of `src` as a frozen encoder sees it at test time: `view` applied with an RNG
/// seeded by (seed, i), then the stream — the same input for every epoch and every stage.
pub(crate) fn viewed_clip(
    src: &dyn ClipSource,
    i: usize,
    view: &[Aug],
    stream: Stream,
    seed: u64,
) -> Clip {
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, &[i as u64]));
    apply_view_in(view, src.clip(i), src.valid_frames(i), stream, &mut rng)
}

/// The clips of a benchmark's two parts as an encoder sees them at extraction: the view
/// applied (seeded per clip), the stream computed from the viewed joints.
pub(crate) struct ViewedInput<'a> {
    pub benchmark: &'a str,
    /// The benchmark's parts, opened once for every pass over them.
    pub splits: &'a Splits,
    pub view: &'a [Aug],
    pub stream: Stream,
    pub batch: usize,
}

impl ViewedInput<'_> {
    /// Clips `ids` of `src` as the encoder sees them, flat, shaped (N, C, T, V, M).
    fn batch_of(&self, src: &dyn ClipSource, ids: &[usize], seed: u64) -> (Vec<f32>, [usize; 5]) {
        let clips: Vec<_> = ids
            .iter()
            .map(|&i| viewed_clip(src, i, self.view, self.stream, seed))
            .collect();
        let (c, t, v, m) = (clips[0].c, clips[0].t, clips[0].v, clips[0].m);
        let flat = clips.iter().flat_map(|x| x.data.iter().copied()).collect();
        (flat, [ids.len(), c, t, v, m])
    }

    /// `enc` (on an autodiff device, so that its batch norms train) after forward passes
    /// over the train part, shuffled, in batches of [`BN_BATCH`]: its running statistics
    /// are then those of the data as the view shows it. Weights untouched (no backward).
    pub(crate) fn recompute_bn_statistics(
        &self,
        ctx: &StageContext,
        enc: Encoder,
        dev: &Device,
    ) -> Result<Encoder, StageError> {
        // Untracked parameters: the forwards record no autodiff graph (one kept per batch
        // without a backward to free it ran out of memory), and the batch norms still train.
        let enc = enc.no_grad();
        // train mode draws dropout masks: from a seeded RNG, or every run differs
        dev.seed(derive_seed(ctx.seed, &[0xb57a, 0xd0]));
        let src = self.splits.train.as_ref() as &dyn ClipSource;
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(ctx.seed, &[0xb57a]));
        let mut order: Vec<usize> = Vec::new();
        for b in 0..BN_BATCHES {
            if order.len() < BN_BATCH.min(src.len()) {
                let mut pass: Vec<usize> = (0..src.len()).collect();
                pass.shuffle(&mut rng);
                order.extend(pass);
            }
            let chunk: Vec<usize> = order.drain(..BN_BATCH.min(order.len())).collect();
            let (flat, shape) = self.batch_of(src, &chunk, ctx.seed);
            drop(enc.features(Tensor::<5>::from_data(TensorData::new(flat, shape), dev)));
            ctx.progress(b as u64 + 1, BN_BATCHES as u64, "batch-norm statistics");
        }
        Ok(enc)
    }

    /// Map every batch, shaped (N, C, T, V, M), to `(dim, N·dim rows)` with `encode`, and
    /// write `features.arrow` and `features.json` (`about` merged into the latter).
    pub(crate) fn extract(
        &self,
        ctx: &StageContext,
        mut encode: impl FnMut(Vec<f32>, [usize; 5]) -> Result<(usize, Vec<f32>), StageError>,
        about: serde_json::Value,
    ) -> Result<(), StageError> {
        let splits = self.splits;
        let mut parts = Vec::new();
        let mut dim = 0;
        for (name, src) in [
            ("train", splits.train.as_ref() as &dyn ClipSource),
            ("test", splits.test.as_ref() as &dyn ClipSource),
        ] {
            let ids: Vec<usize> = (0..src.len()).collect();
            let mut data = Vec::new();
            for (bi, chunk) in ids.chunks(self.batch).enumerate() {
                let (flat, shape) = self.batch_of(src, chunk, ctx.seed);
                let (d, rows) = encode(flat, shape)?;
                dim = d;
                data.extend(rows);
                ctx.progress(
                    bi as u64 + 1,
                    ids.len().div_ceil(self.batch) as u64,
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
        write_features_arrow(&ctx.out_dir.join(files::FEATURES_ARROW), dim, &parts)?;
        let mut json = serde_json::json!({
            "dim": dim, "benchmark": self.benchmark, "stream": self.stream,
            "classes": splits.train.num_classes(), "train": parts[0].index.len(), "test": parts[1].index.len(),
        });
        if let (Some(out), serde_json::Value::Object(extra)) = (json.as_object_mut(), about) {
            out.extend(extra);
        }
        write_json(&ctx.out_dir.join(files::FEATURES_JSON), &json)
    }
}
