//! ActCLR — Actionlet-Dependent Contrastive Learning (Lin, Zhang, Liu, CVPR 2023), with the
//! switches of its ablation Tables 7–9.
//!
//! The second of two stages: ActCLR starts from an AimCLR encoder (`pretrain.init:
//! encoder`, the reference's `weights: …/aimclr/epoch300_model.pt`, `ignore_weights:
//! [queue]`, `rename_weights: encoder_q → encoder_k`; ML-FACTS §5.1) and trains a query
//! encoder, a momentum key encoder and a FIFO queue of keys with the similarity-mining loss
//! below. Every view reaches the method in the stage's stream (motion and bone are computed
//! from the augmented joints, as `view_gen`).
//!
//! # The components
//!
//! - **Anchor** (`anchor`): the static sequence the actionlet is contrasted with. `dataset`:
//!   the mean training sequence (eq. 2), the `anchor.average_motion` stage in `needs` (a
//!   joint anchor is converted to the stage's stream; the mean commutes with motion and
//!   bone). `batch`: the code's `im_k.mean(0)`, the mean of the key view of each batch. Its
//!   embedding is computed once per step by the key encoder.
//! - **Actionlet** (§5.3, [`actionlet`]): the gradient of `1 - cos(g(GAP(h)), g(GAP(h̄)))`
//!   w.r.t. the final feature map h (N·M, 256, 13, 25), Grad-CAM channel weights (the mean
//!   gradient), `ReLU(mean_c α_c h)`, smoothed over the joints, `clip(· / threshold, 0, 1)`.
//!   Computed for the key (SAFP) with the key encoder, for the query and positive views
//!   (MATS) with the query encoder, both without gradient to the weights.
//! - **MATS** (§3.2, §5.4): four views per sample, `[strong, aug, weak, weak]` (`pretrain.
//!   views`, defaults below). View 1: the actionlet of the aug view keeps the aug view, the
//!   rest takes the strong view (`actionlet_swap(im_q, im_q_extreme, qm)`). View 2: the
//!   weak view is transformed towards a batch partner (**Skeleton AdaIN**, `ske_trans`:
//!   joint stream rescales bones to the partner's lengths, motion swaps the mean over the
//!   joints and the temporal std, bone the per-joint norm), then **skeleton-mixed**
//!   (`ske_swap`: paste a partner's body parts × window, or its resized first frames, or
//!   mixup) outside its actionlet. View 3: the weak view cut-mixed with a partner; its
//!   teacher is the key mixed with the partner's key by actionlet-weighted area
//!   (`_mask_pool` of `exp(A/0.1)`). The per-sample augmentations follow the code's epoch
//!   **curriculum**: all ops up to epoch 100, then 2 fewer random extra ops per view every
//!   100 epochs, no augmentation at all after 300 (0-based, as the reference).
//! - **SAFP** (§3.2, §5.5, [`safp_pool`]): the key embedding is
//!   `(1-w)·g(GAP(h)) + w·g(Σ h·A / Σ A)` with w = `safp_weight` (0.5 in the code).
//! - **Loss** (§5.6, "similarity mining"): the teacher is the key's cosine similarity to the
//!   queue with entries > 0.95 set to -1, its top-8192 columns; each student is a view's
//!   *squared* similarity to the queue at those columns; `KL(softmax(t/0.04) ‖
//!   softmax(s/0.1))`, batch mean, summed over the 3 views (view 3 against the mixed key).
//!   No InfoNCE term. The queue (65536) stores the SAFP keys.
//!
//! # Switches (Tables 7–9; `pipelines/ablation_actclr.yaml`)
//!
//! | param | default | removes / changes | paper row |
//! |---|---|---|---|
//! | `noise` | 0.05 | the strong view's Gaussian noise std | Table 7 "Noise 0.01 / 0.05 / 0.1" |
//! | `strong_region` | `non_actionlet` | where view 1 takes the strong view: `full` = the strong view as it is (no actionlet), `actionlet` = inverted | Table 7 "Region" of the noise rows |
//! | `mix_region` | `non_actionlet` | where view 2 takes the skeleton mix (`full`: no actionlet; view 3's teacher weights then are the plain areas) | Table 7 "Skeleton Mix" rows |
//! | `t_non` | true | T_non's intra-instance part: view 1 is the aug view alone (no strong view) | Table 8 "w/o T_non" (with `skeleton_mix: false`) |
//! | `skeleton_mix` | true | T_non's inter-instance part: no `ske_swap` (view 2 = the AdaIN'd weak view, view 3 = the weak view, teacher = the key) | Table 8 "w/o T_non" |
//! | `adain` | true | Skeleton AdaIN (`ske_trans`) in view 2 | Table 8 "w/o (AdaIN + T_non)" |
//! | `t_act` | true | T_act: every per-sample augmentation of the aug and weak views (crop, shear, flip, rotate, noise, blur, axis mask); the strong view keeps only T_non's ops | Table 8 "w/o T" (all four off) |
//! | `safp` | `offline` | `none`: key = GAP; `online`: the queries are SAFP-pooled with their own actionlet, the key is not; `both` | Table 9 |
//! | `curriculum` | true | the epoch curriculum of the augmentations (off: every op every epoch) | — |
//!
//! With `t_non`, `skeleton_mix`, `adain`, `curriculum` off and `safp: none` no actionlet is
//! computed and ActCLR is exactly **MoCo with the similarity-mining loss** on three query
//! views (aug, weak, weak) and one key (weak): `Σ_3 KL(top-k of key·queue ‖ (q·queue)²)`
//! (tested numerically against an independent implementation). Inert switches are
//! normalised in the canonical params so that identical computations share one cache key
//! (`strong_region` and `noise` without `t_non`, `mix_region` and `swap_epoch` without
//! `skeleton_mix`, `curriculum_epochs` without `curriculum`).
//!
//! # Where the paper and the public code (LanglandsLin/ActCLR HEAD, ML-FACTS §5) differ
//!
//! | | `variant: paper` (default) | `variant: code` |
//! |---|---|---|
//! | anchor (`anchor`) | dataset mean (eq. 2) | batch mean of the key view |
//! | actionlet cosine (`cosine`) | over the 128-d embedding (eq. 3; also the older code bundled in the repository) | HEAD: `F.normalize(z, dim=-1)` on the (N, 128, 1, 1) output of the 1×1-conv head normalises each entry alone, so the similarity is piecewise constant, its gradient is zero up to rounding and the mask is ≈0: view 1 is the strong view, view 2 the skeleton-mixed one, SAFP pools almost nothing (the key is ≈ `0.5·g(GAP) + 0.5·g(≈0)`), view 3's weights are plain areas |
//! | smoothing (`smoothing`) | the normalised adjacency G (eq. 5) | the mean over each of 5 body parts |
//! | optimiser (pipeline) | Adam, 300 epochs (§4.1; no lr given, we use 1e-3) | SGD 0.9, wd 1e-4, lr 0.4 ×0.1 after 250, 350 epochs |
//! | view 3 teacher mix | per sample: `c_i·k_i + p_i·k_{r(i)}` | `k * c + k[randidx] * p` with c, p of shape (N,): PyTorch broadcasts them along the *feature* axis, which only runs when N equals the embedding size (128 = the batch); reproduced then (c_j weights column j), per sample otherwise. Inert in HEAD, where every sample has the same (p, c) |
//!
//! Both variants take the rest from the code, where the paper is silent or less specific:
//! Grad-CAM weights are the mean gradient (the paper's eq. 4 applies an unnamed activation
//! σ to the gradient first; with ReLU every weight would be ≥ 0 on a ReLU map and the mask
//! all ones), the threshold is the code's `/1e-8` + `clip(0, 1)` (the paper: "a certain
//! threshold"), SAFP is blended 0.5/0.5 with GAP (eq. 8 alone would be `safp_weight: 1`),
//! the loss has the code's three KL terms, top-8192 after excluding > 0.95 and squared
//! student similarities (eq. 9 has one term, no top-k, no square), views and curriculum are
//! the code's. Not reproduced: DDP batch shuffling of the keys (one process here), the
//! J21-restoring shear (a no-op on frame50 data, where J21 ≡ 0), the older code's annealed
//! bone ratio `100/(epoch+400)`.
//!
//! # Choices where both are silent (ours)
//!
//! - The anchor's embedding is computed like the code's batch mean: one sample through the
//!   key encoder in training mode (its BatchNorm uses the anchor's own statistics).
//! - Online SAFP (Table 9) pools each query with the actionlet of its own feature map
//!   (Grad-CAM against the same anchor, query encoder), blended like the key.
//! - `actionlet` region (`strong_region`/`mix_region: actionlet`): the transformed view inside
//!   the actionlet, the milder one outside; view 3's weights use `exp((1-A)/0.1)`.
//! - The curriculum's epochs (`curriculum_epochs`) and the skeleton-swap switch epoch
//!   (`swap_epoch`) are params, so that short runs can scale them.

use std::path::Path;

use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::actclr_blocks::{
    ActionletSpec, Cosine, Region, Smoothing, actionlet, gather_topk, keep_mask, kl_to_teacher,
    mask_pool, mix_by_mask, mix_keys, safp_pool, select_topk, values,
};
use super::blocks::{
    Queue, ema_update, key_encoder, l2_normalize, load_momentum_state, save_momentum_state,
};
use super::{MethodEntry, PretrainView, is_dataset, typed_params, variant_frames};
use crate::data::Stream;
use crate::learn::augment::{Aug, Clip, ViewSpec, actclr_extras, aimclr_extras, stream_of};
use crate::learn::data::Batch;
use crate::learn::encoders::{BackboneConfig, Encoder, FeatureMap};
use crate::learn::method::{BatchClips, Extra, Method, MethodSetup, StepAt, StepOutput};
use crate::learn::skeleton_mix::{SwapMask, TransMode, ske_swap, ske_trans};
use crate::params::{ParamError, Params, check_typed};
use crate::{IoContext, StageError, Upstream};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActclrVariant {
    /// The paper's method (intended semantics; see the module docs).
    #[default]
    Paper,
    /// ActCLR HEAD as it runs (zero-gradient actionlet, body parts, batch anchor).
    Code,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AnchorSource {
    /// The `anchor.average_motion` stage in `needs` (the paper's dataset mean).
    #[default]
    Dataset,
    /// The mean of each batch's key view (the code).
    Batch,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Safp {
    /// Key and queries average-pooled.
    None,
    /// The key (offline encoder) SAFP-pooled: the paper's method.
    #[default]
    Offline,
    /// The queries (online encoder) SAFP-pooled.
    Online,
    /// Both.
    Both,
}

impl Safp {
    fn offline(self) -> bool {
        matches!(self, Safp::Offline | Safp::Both)
    }
    fn online(self) -> bool {
        matches!(self, Safp::Online | Safp::Both)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ActclrParams {
    /// `paper` (default) or `code` (ActCLR HEAD): fills `anchor`, `cosine`, `smoothing`.
    pub variant: ActclrVariant,
    /// `dataset` (an `anchor.average_motion` stage in `needs`) or `batch`; absent = the
    /// variant's (paper dataset, code batch).
    pub anchor: Option<AnchorSource>,
    /// `embedding` or `head` (HEAD's zero-gradient normalisation); absent = the variant's.
    pub cosine: Option<Cosine>,
    /// `adjacency` or `body_parts`; absent = the variant's.
    pub smoothing: Option<Smoothing>,
    /// Actionlet threshold: mask = clip(cam / threshold, 0, 1) (the code: 1e-8).
    pub threshold: f64,
    /// T_act: the per-sample augmentations of the aug and weak views.
    pub t_act: bool,
    /// T_non (intra-instance): view 1 takes the strong view outside the actionlet.
    pub t_non: bool,
    /// Gaussian-noise std of the strong view (the code: 0.05).
    pub noise: f64,
    /// Where view 1 takes the strong view.
    pub strong_region: Region,
    /// T_non (inter-instance): skeleton mix (`ske_swap`) in views 2 and 3.
    pub skeleton_mix: bool,
    /// Where view 2 takes the skeleton-mixed view.
    pub mix_region: Region,
    /// Skeleton AdaIN (`ske_trans`) in view 2.
    pub adain: bool,
    /// The code's augmentation curriculum.
    pub curriculum: bool,
    /// The curriculum's epochs (0-based, inclusive ends of its first three stages).
    pub curriculum_epochs: Vec<usize>,
    /// `ske_swap` of view 2 uses smaller parts and windows from this (0-based) epoch (200).
    pub swap_epoch: usize,
    /// SAFP: `none`, `offline` (default), `online`, `both`.
    pub safp: Safp,
    /// Weight of the SAFP embedding against the GAP one (the code: 0.5).
    pub safp_weight: f64,
    /// Temperature of `exp(A/τ)` in view 3's teacher weights (0.1).
    pub pool_temperature: f64,
    /// Queue size K (65536).
    pub queue: usize,
    /// Key-encoder momentum (0.999).
    pub momentum: f64,
    /// Teacher columns kept (8192; at most K).
    pub topk: usize,
    /// Teacher similarities above this are excluded (set to -1) before the top-k (0.95).
    pub exclude: f64,
    /// Student temperature (0.1).
    pub t_student: f64,
    /// Teacher temperature (0.04).
    pub t_teacher: f64,
    /// Square the students' similarities (the code).
    pub square_student: bool,
}

impl Default for ActclrParams {
    fn default() -> Self {
        ActclrParams {
            variant: ActclrVariant::Paper,
            anchor: None,
            cosine: None,
            smoothing: None,
            threshold: 1e-8,
            t_act: true,
            t_non: true,
            noise: 0.05,
            strong_region: Region::NonActionlet,
            skeleton_mix: true,
            mix_region: Region::NonActionlet,
            adain: true,
            curriculum: true,
            curriculum_epochs: vec![100, 200, 300],
            swap_epoch: 200,
            safp: Safp::Offline,
            safp_weight: 0.5,
            pool_temperature: 0.1,
            queue: 65536,
            momentum: 0.999,
            topk: 8192,
            exclude: 0.95,
            t_student: 0.1,
            t_teacher: 0.04,
            square_student: true,
        }
    }
}

impl ActclrParams {
    pub fn anchor_source(&self) -> AnchorSource {
        self.anchor.unwrap_or(match self.variant {
            ActclrVariant::Paper => AnchorSource::Dataset,
            ActclrVariant::Code => AnchorSource::Batch,
        })
    }
    pub fn actionlet_spec(&self) -> ActionletSpec {
        let code = self.variant == ActclrVariant::Code;
        ActionletSpec {
            cosine: self.cosine.unwrap_or(if code {
                Cosine::Head
            } else {
                Cosine::Embedding
            }),
            smoothing: self.smoothing.unwrap_or(if code {
                Smoothing::BodyParts
            } else {
                Smoothing::Adjacency
            }),
            threshold: self.threshold,
        }
    }
    /// View 1 mixes the strong view in by the query's actionlet.
    pub fn needs_query_mask(&self) -> bool {
        self.t_non && self.strong_region != Region::Full
    }
    /// Views 2 and 3 use the positive view's actionlet.
    pub fn needs_positive_mask(&self) -> bool {
        self.skeleton_mix && self.mix_region != Region::Full
    }
    /// Whether any component needs an actionlet (and so the anchor).
    pub fn needs_actionlet(&self) -> bool {
        self.needs_query_mask() || self.needs_positive_mask() || self.safp != Safp::None
    }
}

impl Params for ActclrParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut e = Vec::new();
        if self.queue == 0 {
            e.push(ParamError::at("queue", "must be > 0"));
        }
        if self.topk == 0 || self.topk > self.queue {
            e.push(
                ParamError::at("topk", format!("must be in [1, queue = {}]", self.queue))
                    .with_hint("the teacher keeps the top-k of the queue's columns"),
            );
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            e.push(ParamError::at("momentum", "must be in [0, 1]"));
        }
        for (k, v) in [
            ("threshold", self.threshold),
            ("t_student", self.t_student),
            ("t_teacher", self.t_teacher),
            ("pool_temperature", self.pool_temperature),
        ] {
            if v.is_nan() || v <= 0.0 {
                e.push(ParamError::at(k, "must be > 0"));
            }
        }
        if !(self.noise >= 0.0 && self.noise.is_finite()) {
            e.push(ParamError::at("noise", "must be >= 0"));
        }
        if !(0.0..=1.0).contains(&self.safp_weight) {
            e.push(ParamError::at("safp_weight", "must be in [0, 1]"));
        }
        if self.curriculum_epochs.len() != 3
            || self.curriculum_epochs.windows(2).any(|w| w[0] > w[1])
        {
            e.push(
                ParamError::at("curriculum_epochs", "must be three non-decreasing epochs")
                    .with_hint("the code's: [100, 200, 300]"),
            );
        }
        e
    }
}

/// Validate and canonicalise: the variant's defaults filled in (`anchor`, `cosine`,
/// `smoothing`), inert switches normalised.
pub fn check(params: &serde_json::Value) -> Result<serde_json::Value, Vec<ParamError>> {
    let v = check_typed::<ActclrParams>(params)?;
    let mut p: ActclrParams = serde_json::from_value(v).expect("checked");
    let spec = p.actionlet_spec();
    p.anchor = Some(p.anchor_source());
    p.cosine = Some(spec.cosine);
    p.smoothing = Some(spec.smoothing);
    let d = ActclrParams::default();
    if !p.t_non {
        p.strong_region = d.strong_region;
        p.noise = d.noise;
    }
    if !p.skeleton_mix {
        p.mix_region = d.mix_region;
        p.swap_epoch = d.swap_epoch;
    }
    if !p.curriculum {
        p.curriculum_epochs = d.curriculum_epochs;
    }
    Ok(serde_json::to_value(p).expect("params serialise"))
}

/// ActCLR's four per-sample views for these params: `[strong, aug, weak, weak]`.
pub fn views_for(p: &ActclrParams) -> Vec<Vec<Aug>> {
    let base = || {
        if p.t_act {
            vec![
                Aug::TemporalCrop { ratio: 6 },
                Aug::Shear { r: 0.5, p: 1.0 },
            ]
        } else {
            vec![]
        }
    };
    let noise = p.noise as f32;
    // aimclr_extras(σ) = flip, rotate, noise σ, blur, axis mask
    let extras = |sigma: f32| -> Vec<Aug> {
        aimclr_extras(sigma)
            .into_iter()
            .filter(|a| p.t_act || matches!(a, Aug::GaussNoise { .. }) && p.t_non)
            .collect()
    };
    let strong = [
        base(),
        if p.t_act || p.t_non {
            extras(noise)
        } else {
            vec![]
        },
        if p.t_non { actclr_extras() } else { vec![] },
    ]
    .concat();
    let aug = [base(), if p.t_act { aimclr_extras(0.01) } else { vec![] }].concat();
    vec![strong, aug, base(), base()]
}

/// Problems with the upstream stages: the anchor (`anchor: dataset` needs exactly one
/// `anchor.average_motion` in `needs`, averaged over this stage's benchmark, its dataset's
/// preprocessing and frames, in joints or this stage's stream) and the encoder (ST-GCN).
pub fn check_inputs(
    params: &serde_json::Value,
    view: &PretrainView,
    inputs: &[Upstream],
) -> Vec<ParamError> {
    let mut e = Vec::new();
    if !matches!(view.encoder.backbone, BackboneConfig::Stgcn(_)) {
        e.push(
            ParamError::at(
                "method",
                format!(
                    "actclr needs an ST-GCN encoder (its actionlet is a (time, joint) map), got {}",
                    view.encoder.describe()
                ),
            )
            .with_hint("use `encoder: stgcn`"),
        );
    }
    let Ok(p) = serde_json::from_value::<ActclrParams>(params.clone()) else {
        return e;
    };
    let anchors: Vec<&Upstream> = inputs
        .iter()
        .filter(|u| u.kind == "anchor.average_motion")
        .collect();
    let names = |us: &[&Upstream]| {
        us.iter()
            .map(|u| format!("`{}`", u.instance))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (p.anchor_source(), anchors.as_slice()) {
        (AnchorSource::Batch, []) => {}
        (AnchorSource::Batch, found) => e.push(
            ParamError::at(
                "anchor",
                format!(
                    "`needs` has the anchor {} but `anchor` is `batch` (the mean of each batch's key view)",
                    names(found)
                ),
            )
            .with_hint("set `anchor: dataset` to use it, or remove it from `needs`"),
        ),
        (AnchorSource::Dataset, []) => e.push(
            ParamError::at(
                "anchor",
                "`anchor: dataset` needs an `anchor.average_motion` stage in `needs`, and there is none",
            )
            .with_hint("add one (kind anchor.average_motion, same benchmark, `needs` the same import) to `needs`, or set `anchor: batch` (the code's per-batch mean)"),
        ),
        (AnchorSource::Dataset, [a]) => e.extend(check_anchor(a, view, inputs)),
        (AnchorSource::Dataset, many) => e.push(
            ParamError::at(
                "anchor",
                format!("`needs` has several anchors ({}); which to use is ambiguous", names(many)),
            )
            .with_hint("keep one (use `matrix:` so that each instance joins its own)"),
        ),
    }
    e
}

fn check_anchor(a: &Upstream, view: &PretrainView, inputs: &[Upstream]) -> Vec<ParamError> {
    let mut e = Vec::new();
    let err = |msg: String, hint: &str| ParamError::at("anchor", msg).with_hint(hint.to_string());
    let a_bench = a.param("benchmark").and_then(|b| b.as_str()).unwrap_or("");
    if a_bench != view.benchmark {
        e.push(err(
            format!(
                "the anchor `{}` averages the training split of `{a_bench}` but this stage trains on `{}`",
                a.instance, view.benchmark
            ),
            "give the anchor this stage's benchmark (a `matrix:` axis shared by both joins them)",
        ));
    }
    let a_stream = a
        .param("stream")
        .and_then(|s| serde_json::from_value::<Stream>(s.clone()).ok())
        .unwrap_or(Stream::Joint);
    if a_stream != Stream::Joint && a_stream != view.stream {
        e.push(err(
            format!(
                "the anchor `{}` is the mean {a_stream} sequence but this stage trains on the {} stream",
                a.instance, view.stream
            ),
            "average the joints (`stream: joint`, converted here) or this stage's stream",
        ));
    }
    let ours: Vec<&Upstream> = inputs.iter().filter(|u| is_dataset(u)).collect();
    let theirs: Vec<&Upstream> = a.inputs.iter().filter(|u| is_dataset(u)).collect();
    if let (Some(o), Some(t)) = (ours.first(), theirs.first())
        && o.instance != t.instance
    {
        let (ov, of) = variant_frames(o);
        let (tv, tf) = variant_frames(t);
        let show = |v: &str, f: Option<usize>| match f {
            Some(f) => format!("{v}, {f} frames"),
            None => v.to_string(),
        };
        if ov != tv || of != tf {
            e.push(err(
                format!(
                    "the anchor `{}` averages `{}` ({}) but this stage trains on `{}` ({})",
                    a.instance,
                    t.instance,
                    show(&tv, tf),
                    o.instance,
                    show(&ov, of)
                ),
                "compute the anchor from the dataset this stage trains on (its `needs`)",
            ));
        } else if o.params != t.params {
            e.push(err(
                format!(
                    "the anchor `{}` averages `{}`, another import than this stage's `{}`",
                    a.instance, t.instance, o.instance
                ),
                "compute the anchor from the dataset this stage trains on (its `needs`)",
            ));
        }
    }
    e
}

pub const ENTRY: MethodEntry = MethodEntry {
    name: "actclr",
    about: "ActCLR: actionlet vs a static anchor, MATS, SAFP, similarity mining; switches of Tables 7-9, variant paper|code",
    version: 1,
    check,
    check_inputs,
    default_views: |params| {
        let p: ActclrParams = serde_json::from_value(params.clone()).unwrap_or_default();
        views_for(&p).into_iter().map(ViewSpec::List).collect()
    },
    build: |params, setup| {
        Ok(Box::new(Actclr::new(
            typed_params("actclr", params)?,
            setup,
        )?))
    },
};

/// How often each component's code path ran: the switches are tested against these.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActclrCounters {
    pub steps: u64,
    /// Anchor embeddings computed.
    pub anchors: u64,
    /// Actionlets (Grad-CAM passes) by role.
    pub key_actionlets: u64,
    pub query_actionlets: u64,
    pub positive_actionlets: u64,
    pub online_actionlets: u64,
    /// View 1 mixed with the strong view.
    pub strong_mixes: u64,
    /// Skeleton AdaIN applied (views 2).
    pub adains: u64,
    /// Skeleton mixes (view 2 and view 3 each count one).
    pub skeleton_mixes: u64,
    /// Teacher keys mixed for view 3.
    pub teacher_mixes: u64,
    /// SAFP-pooled embeddings (key and queries).
    pub safp_pools: u64,
    pub kl_terms: u64,
    pub enqueues: u64,
}

pub struct Actclr {
    pub params: ActclrParams,
    pub spec: ActionletSpec,
    pub stream: Stream,
    pub q: Encoder,
    pub k: Encoder,
    pub queue: Queue,
    pub optim: ModuleOptimizer,
    /// The dataset anchor in the stage's stream (1, C, T, V, M).
    pub anchor: Option<Tensor<5>>,
    pub counters: ActclrCounters,
}

/// What one step computed besides the loss (for tests and the loss columns).
pub struct StepParts {
    pub loss: Tensor<1>,
    pub key: Tensor<2>,
    pub terms: Vec<(String, f32)>,
}

impl Actclr {
    pub fn new(params: ActclrParams, setup: &MethodSetup) -> Result<Actclr, StageError> {
        let dev = setup.device;
        let q = setup.initial_encoder();
        let k = key_encoder(&q, setup);
        let queue = Queue::random(params.queue, setup.encoder.embed_dim(), dev);
        let anchor = match (params.anchor_source(), setup.anchor) {
            (AnchorSource::Dataset, None) if params.needs_actionlet() => {
                return Err(StageError::param(
                    "method_params.anchor",
                    "`anchor: dataset` needs an `anchor.average_motion` input",
                ));
            }
            (AnchorSource::Dataset, Some(a)) => {
                let clip = if a.stream == setup.stream {
                    a.clip.clone()
                } else if a.stream == Stream::Joint {
                    stream_of(a.clip.clone(), setup.stream)
                } else {
                    return Err(StageError::param(
                        "method_params.anchor",
                        format!(
                            "the anchor is the mean {} sequence, this stage's stream is {}",
                            a.stream, setup.stream
                        ),
                    ));
                };
                if clip.t != setup.frames {
                    return Err(StageError::param(
                        "method_params.anchor",
                        format!(
                            "the anchor has {} frames, the training clips {}",
                            clip.t, setup.frames
                        ),
                    ));
                }
                Some(Tensor::<5>::from_data(
                    TensorData::new(clip.data, [1, clip.c, clip.t, clip.v, clip.m]),
                    dev,
                ))
            }
            _ => None,
        };
        Ok(Actclr {
            spec: params.actionlet_spec(),
            stream: setup.stream,
            q,
            k,
            queue,
            optim: setup.optim.build(),
            anchor,
            params,
            counters: ActclrCounters::default(),
        })
    }

    /// The anchor's embedding by the key encoder (1, D).
    fn anchor_embedding(&mut self, key_view: &Tensor<5>) -> Tensor<2> {
        self.counters.anchors += 1;
        let x = match (&self.anchor, self.params.anchor_source()) {
            (Some(a), AnchorSource::Dataset) => a.clone(),
            _ => key_view.clone().mean_dim(0),
        };
        self.k.embed(x).detach()
    }

    /// A query view's normalised embedding, SAFP-pooled with its own actionlet when
    /// `safp` is online.
    fn query(&mut self, x: Tensor<5>, frozen: &Encoder, anchor: Option<&Tensor<2>>) -> Tensor<2> {
        let fm = self.q.feature_map(x);
        let persons = fm.persons;
        let avg = self.q.project(self.q.pool(FeatureMap {
            map: fm.map.clone(),
            persons,
        }));
        let z = match (self.params.safp.online(), anchor) {
            (true, Some(a)) => {
                self.counters.online_actionlets += 1;
                self.counters.safp_pools += 1;
                let m = actionlet(
                    frozen,
                    fm.map.clone().detach(),
                    persons,
                    a.clone(),
                    &self.spec,
                )
                .mask;
                let s = self.q.project(safp_pool(fm.map, m, persons));
                let w = self.params.safp_weight;
                avg * (1.0 - w) + s * w
            }
            _ => avg,
        };
        l2_normalize(z, 1)
    }

    fn student(&self, q: Tensor<2>, queue: &Tensor<2>) -> Tensor<2> {
        let s = q.matmul(queue.clone().transpose());
        if self.params.square_student {
            s.square()
        } else {
            s
        }
    }

    /// The loss of one batch (7 views after [`Method::batch_views`]) and its terms; updates
    /// the key encoder (EMA), nothing else.
    pub fn loss(&mut self, batch: &Batch) -> Result<StepParts, StageError> {
        if batch.views.len() != 7 {
            return Err(StageError::param(
                "views",
                format!(
                    "actclr needs 4 views (strong, aug, weak, weak), got {}",
                    batch.views.len()
                ),
            ));
        }
        let p = self.params.clone();
        let v = &batch.views;
        let (x_strong, x_q, x_p, x_k) = (&v[0], &v[1], &v[2], &v[3]);
        let (x_pt, x_ps, x_pc) = (&v[4], &v[5], &v[6]);
        let mut terms: Vec<(String, f32)> = Vec::new();
        self.k = ema_update(self.k.clone(), &self.q, p.momentum).no_grad();
        let anchor = p.needs_actionlet().then(|| self.anchor_embedding(x_k));
        // key: GAP, or blended with SAFP by the key's own actionlet
        let fm_k = self.k.feature_map(x_k.clone().detach());
        let persons = fm_k.persons;
        let k_avg = self.k.project(self.k.pool(FeatureMap {
            map: fm_k.map.clone(),
            persons,
        }));
        let key = match (p.safp.offline(), &anchor) {
            (true, Some(a)) => {
                self.counters.key_actionlets += 1;
                self.counters.safp_pools += 1;
                let act = actionlet(&self.k, fm_k.map.clone(), persons, a.clone(), &self.spec);
                terms.push(("key_actionlet_area".into(), mean_of(&act.mask)));
                terms.push(("anchor_similarity".into(), act.similarity));
                let ks = self.k.project(safp_pool(fm_k.map, act.mask, persons));
                k_avg * (1.0 - p.safp_weight) + ks * p.safp_weight
            }
            _ => k_avg,
        };
        let key = l2_normalize(key, 1).detach();
        let queue = self.queue.keys.clone().detach();
        let kn = key.clone().matmul(queue.clone().transpose());
        // the actionlets of the aug and weak views, by the (frozen) query encoder
        let frozen = self.q.clone().no_grad();
        let qm = match (&anchor, p.needs_query_mask()) {
            (Some(a), true) => {
                self.counters.query_actionlets += 1;
                let fm = frozen.feature_map(x_q.clone().detach());
                Some(actionlet(&frozen, fm.map, fm.persons, a.clone(), &self.spec).mask)
            }
            _ => None,
        };
        let pm = match (&anchor, p.needs_positive_mask()) {
            (Some(a), true) => {
                self.counters.positive_actionlets += 1;
                let fm = frozen.feature_map(x_p.clone().detach());
                Some(actionlet(&frozen, fm.map, fm.persons, a.clone(), &self.spec).mask)
            }
            _ => None,
        };
        if let Some(m) = &qm {
            terms.push(("query_actionlet_area".into(), mean_of(m)));
        }
        // view 1: the aug view in the actionlet, the strong view elsewhere
        let z1 = if p.t_non {
            self.counters.strong_mixes += 1;
            let keep = qm.as_ref().and_then(|m| keep_mask(m, p.strong_region));
            mix_by_mask(x_q.clone(), x_strong.clone(), keep.as_ref())
        } else {
            x_q.clone()
        };
        let (kn_top, idx) = select_topk(kn, p.topk, p.exclude);
        let q1 = self.query(z1, &frozen, anchor.as_ref());
        let l1 = kl_to_teacher(
            gather_topk(self.student(q1.clone(), &queue), idx.clone()),
            kn_top.clone(),
            p.t_student,
            p.t_teacher,
        );
        // view 2: the AdaIN'd weak view in the actionlet, its skeleton mix elsewhere
        if batch.extras.indices("trans_partners").is_some() {
            self.counters.adains += 1;
        }
        let z2 = if p.skeleton_mix {
            self.counters.skeleton_mixes += 1;
            let keep = pm.as_ref().and_then(|m| keep_mask(m, p.mix_region));
            mix_by_mask(x_pt.clone(), x_ps.clone(), keep.as_ref())
        } else {
            x_pt.clone()
        };
        let q2 = self.query(z2, &frozen, anchor.as_ref());
        let l2 = kl_to_teacher(
            gather_topk(self.student(q2, &queue), idx.clone()),
            kn_top.clone(),
            p.t_student,
            p.t_teacher,
        );
        // view 3: the cut-mixed weak view against the key mixed by actionlet-weighted area
        let (kc_top, idx3) = match swap3(&batch.extras) {
            Some((partners, mask_p, mask_c)) if p.skeleton_mix => {
                self.counters.skeleton_mixes += 1;
                self.counters.teacher_mixes += 1;
                let n = key.dims()[0];
                let (tp, vv) = mask_shape(&batch.extras);
                let keep: Vec<f32> = match pm.as_ref().and_then(|m| keep_mask(m, p.mix_region)) {
                    Some(r) => values(r),
                    None => vec![0.0; n * persons * tp * vv],
                };
                let (pw, cw) = mask_pool(
                    &keep,
                    persons,
                    p.pool_temperature as f32,
                    &partners,
                    &mask_p,
                    &mask_c,
                );
                terms.push((
                    "teacher_partner_share".into(),
                    pw.iter().sum::<f32>() / n as f32,
                ));
                let kc = mix_keys(
                    key.clone(),
                    &partners,
                    pw,
                    cw,
                    p.variant == ActclrVariant::Code,
                );
                select_topk(kc.matmul(queue.clone().transpose()), p.topk, p.exclude)
            }
            _ => (kn_top, idx),
        };
        let q3 = self.query(x_pc.clone(), &frozen, anchor.as_ref());
        let l3 = kl_to_teacher(
            gather_topk(self.student(q3, &queue), idx3),
            kc_top,
            p.t_student,
            p.t_teacher,
        );
        self.counters.kl_terms += 3;
        terms.push(("loss_view1".into(), l1.clone().into_scalar::<f32>()));
        terms.push(("loss_view2".into(), l2.clone().into_scalar::<f32>()));
        terms.push(("loss_view3".into(), l3.clone().into_scalar::<f32>()));
        terms.push((
            "pos_sim".into(),
            (q1.detach() * key.clone())
                .sum_dim(1)
                .mean()
                .into_scalar::<f32>(),
        ));
        Ok(StepParts {
            loss: l1 + l2 + l3,
            key,
            terms,
        })
    }
}

fn mean_of(t: &Tensor<4>) -> f32 {
    t.clone().detach().mean().into_scalar::<f32>()
}

/// View 3's partners and its masks (T'·V each) from the batch extras.
fn swap3(extras: &crate::learn::method::Extras) -> Option<(Vec<usize>, Vec<f32>, Vec<f32>)> {
    let partners = extras.indices("swap3_partners")?.to_vec();
    let (_, mp) = extras.floats("swap3_mask_p")?;
    let (_, mc) = extras.floats("swap3_mask_c")?;
    Some((partners, mp.to_vec(), mc.to_vec()))
}

fn mask_shape(extras: &crate::learn::method::Extras) -> (usize, usize) {
    match extras.floats("swap3_mask_p") {
        Some((s, _)) if s.len() == 2 => (s[0], s[1]),
        _ => (0, 0),
    }
}

/// `ske_trans`'s mode for a stream (the reference's model `mode`).
pub fn trans_mode(stream: Stream) -> TransMode {
    match stream {
        Stream::Joint => TransMode::Joint,
        Stream::Motion => TransMode::Motion,
        Stream::Bone => TransMode::Bone,
    }
}

/// The ops a curriculum keeps in every epoch: the crop and shear (dropped only in the last
/// stage) and the stream conversion.
fn is_base(a: &Aug) -> bool {
    matches!(a, Aug::TemporalCrop { .. } | Aug::Shear { .. })
}

impl Method for Actclr {
    /// The code's curriculum (`pretrain_actclr.py`): up to epoch 100 (0-based) every op;
    /// until 200 a random n−2 of each view's n extra ops (after crop and shear, in their
    /// order), until 300 n−4, after that no augmentation at all.
    fn epoch_views(
        &self,
        views: &[Vec<Aug>],
        epoch: usize,
        rng: &mut ChaCha8Rng,
    ) -> Option<Vec<Vec<Aug>>> {
        if !self.params.curriculum {
            return None;
        }
        let e0 = epoch.saturating_sub(1);
        let b = &self.params.curriculum_epochs;
        let stage = b.iter().filter(|&&x| e0 > x).count();
        if stage == 0 {
            return None;
        }
        Some(
            views
                .iter()
                .map(|view| {
                    if stage >= 3 {
                        return view
                            .iter()
                            .filter(|a| matches!(a, Aug::Stream))
                            .cloned()
                            .collect();
                    }
                    let extras: Vec<usize> = (0..view.len())
                        .filter(|&i| !is_base(&view[i]) && !matches!(view[i], Aug::Stream))
                        .collect();
                    let keep_n = extras.len().saturating_sub(2 * stage);
                    let mut kept: Vec<usize> = sample(rng, extras.len(), keep_n)
                        .into_iter()
                        .map(|j| extras[j])
                        .collect();
                    kept.sort_unstable();
                    view.iter()
                        .enumerate()
                        .filter(|(i, a)| is_base(a) || matches!(a, Aug::Stream) || kept.contains(i))
                        .map(|(_, a)| a.clone())
                        .collect()
                })
                .collect(),
        )
    }

    /// Views 2 and 3 (ML-FACTS §5.4): `im_pt = ske_trans(im_p)`, `im_ps = ske_swap(im_pt,
    /// epoch)`, `im_pc = ske_swap(im_p)` — where in the joint stream `im_p` is the
    /// transformed one (the reference's `ske_trans` works in place). Appends the three
    /// views and leaves view 3's partners and masks in the extras.
    fn batch_views(&self, clips: &mut BatchClips, at: &StepAt, rng: &mut ChaCha8Rng) {
        if clips.views.len() != 4 {
            return; // the step reports the wrong view count
        }
        let p = &self.params;
        let weak = clips.views[2].clone();
        let pt = if p.adain {
            let (partners, out) = ske_trans(&weak, trans_mode(self.stream), rng);
            clips.extras.put("trans_partners", Extra::Indices(partners));
            out
        } else {
            weak.clone()
        };
        let ps = if p.skeleton_mix {
            let e0 = at.epoch.saturating_sub(1);
            let late = if e0 < p.swap_epoch { 0 } else { 200 };
            ske_swap(&pt, Some(late), rng).1
        } else {
            pt.clone()
        };
        let p3: Vec<Clip> = if p.adain && self.stream == Stream::Joint {
            pt.clone()
        } else {
            weak
        };
        let pc = if p.skeleton_mix {
            let (partners, out, mask) = ske_swap(&p3, None, rng);
            let (mp, mc) = match &mask {
                SwapMask::Single(m) => (m, m),
                SwapMask::Pair { parts, window } => (parts, window),
            };
            clips.extras.put("swap3_partners", Extra::Indices(partners));
            for (name, m) in [("swap3_mask_p", mp), ("swap3_mask_c", mc)] {
                clips.extras.put(
                    name,
                    Extra::Floats {
                        shape: vec![m.t, m.v],
                        data: m.data.clone(),
                    },
                );
            }
            out
        } else {
            p3
        };
        clips.views.push(pt);
        clips.views.push(ps);
        clips.views.push(pc);
    }

    fn step(&mut self, batch: &Batch, at: &StepAt) -> Result<StepOutput, StageError> {
        let parts = self.loss(batch)?;
        let value = parts.loss.clone().into_scalar::<f32>();
        if value.is_finite() {
            let grads = GradientsParams::from_grads(parts.loss.backward(), &self.q);
            self.q = self.optim.step(at.lr, self.q.clone(), grads);
            self.queue.enqueue(parts.key);
            self.counters.enqueues += 1;
        }
        self.counters.steps += 1;
        Ok(StepOutput {
            loss: value,
            terms: parts.terms,
        })
    }

    fn encoder(&self) -> &Encoder {
        &self.q
    }

    fn save(&self, dir: &Path) -> Result<(), StageError> {
        save_momentum_state(dir, &self.q, &self.k, &self.optim, &self.queue)?;
        let p = dir.join("actclr.json");
        std::fs::write(
            &p,
            serde_json::to_string_pretty(&self.counters).expect("counters"),
        )
        .at("write", &p)
    }

    fn load(&mut self, dir: &Path) -> Result<(), StageError> {
        load_momentum_state(
            dir,
            &mut self.q,
            &mut self.k,
            &mut self.optim,
            &mut self.queue,
        )?;
        let p = dir.join("actclr.json");
        let text = std::fs::read_to_string(&p).at("read", &p)?;
        self.counters = serde_json::from_str(&text)
            .map_err(|e| StageError::bad_file(&p, format!("not an ActCLR state: {e}")))?;
        Ok(())
    }
}
