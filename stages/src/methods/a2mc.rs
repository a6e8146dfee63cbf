//! A²MC — Attack-Augmentation Mixing-Contrastive skeletal representation learning
//! (Xu et al., arXiv 2304.04023), with the ablation switches of its Tables V and VI.
//!
//! MoCo v2 (query encoder, momentum key encoder, MLP projector, InfoNCE at τ = 0.07) plus
//! three components, each behind a switch:
//!
//! - **Att-Aug** (`att`, `aug`): hard positives. `att`: the *targeted semantic attack* —
//!   the skeleton passes the frozen query encoder and a fixed class head; the attack loss
//!   `MSE(softmax(z), (1/K)·1)` (eq. 5, entropy maximisation) takes one fresh-Adam step on
//!   the input (lr 0.1) and the perturbation is clipped to L∞ ε = 0.5 (eq. 6). `aug`: the
//!   *untargeted appearance augmentation* — weak and strong augmentation of the (attacked)
//!   skeleton, giving two hard positive views.
//! - **PNM** (`pnm`): the FIFO queue is replaced by a memory bank updated as a whole by
//!   the gradient of the contrastive loss toward the anchors (eq. 7; lr 3.0, τ 0.03,
//!   momentum 0.9, weight decay 1e-4 as coded), and every view's positives are mixed into
//!   it, `m = λ·q + (1−λ)·n`, giving one mixed bank per view and coefficient (eq. 8) that is
//!   concatenated to the bank as extra hard negatives (eq. 10).
//! - **MC loss** (`mc_loss`): the basic and weak views keep one-hot InfoNCE; the strong
//!   view's similarity distribution is pulled toward the basic view's (KL, eq. 11) instead
//!   of toward one-hot. Off: the strong view uses one-hot InfoNCE like the others.
//!
//! Total loss (eq. 9): `L = L_basic + L_weak + L_strong` (each a batch mean).
//!
//! # SCD-Net's three domains (`domains`)
//!
//! With the `scd` encoder (the one A²MC's code trains) each view has three embeddings — the
//! temporal `t_proj(vt)`, the spatial `s_proj(vs)` and the instance projection of
//! `cat(vt, vs)` — and, as the code (`scd/builder.py`, ML-FACTS §6.3), every contrast is four
//! logit sets across domains: `ati` = qt·ki, `asi` = qs·ki, `ait` = qi·kt, `ais` = qi·ks, each
//! against the negatives of its key's domain (one bank or queue per domain: instance,
//! temporal, spatial). The code sums the four cross-entropies, averages its mixing loss over
//! them and steps each bank once per set (the instance bank twice). The paper variant (ours:
//! the paper describes one embedding) applies the same four sets to each of its query views —
//! mixed banks, KL and all — and steps each bank once with the summed gradient of its sets.
//! `domains: instance` contrasts the instance projection only, as for every other encoder.
//!
//! # Views (`pretrain.views`, defaults by variant and switches)
//!
//! `variant: paper`: `[basic, basic, source]` — query and key get the basic augmentation
//! of CMD/ISC (crop-resize to `frames` with scale U(0.1, 1) but at least the code's 64
//! source frames, whatever `frames` is; then 50 % joint corruption
//! else shear U(−1, 1)); `source` is only crop-resized and is what Att-Aug attacks and
//! augments (the paper attacks the skeleton, not an already augmented view). The third
//! view is left out when neither `att` nor `aug` is on. With only two views given, the
//! query view is attacked.
//!
//! `variant: code`: `[query, key]`, both the code's augmentation (§4.3: crop-resize, then
//! rotate, flip, shear, spatial mask, temporal mask, each with p 0.5); `aug: false` leaves
//! the query view only crop-resized.
//!
//! # Ablation rows as switch sets (Tables V and VI; `pipelines/ablation_a2mc.yaml`)
//!
//! | row | att | aug | pnm | mc_loss | what the paper says |
//! |---|---|---|---|---|---|
//! | B1 = A1 | ✗ | ✗ | ✗ | ✗ | basic contrastive learning, basic augmentations, InfoNCE (= MoCo v2) |
//! | B2 | ✗ | ✗ | ✓ | ✗ | PNM alone |
//! | B3 | ✓ | ✓ | ✗ | ✗ | + Att-Aug |
//! | B4 | ✓ | ✓ | ✗ | ✓ | Att-Aug + MC loss |
//! | MC = full | ✓ | ✓ | ✓ | ✓ | A²MC |
//! | A2 | ✗ | ✓ | ✓ | ✓ | Aug only (the full model without the attack) |
//! | A3 | ✓ | ✗ | ✓ | ✓ | Att only (the full model without appearance augmentation) |
//!
//! Table VI prints B1's numbers for A1, so A1 *is* B1 (no PNM, no MC loss) although A2, A3
//! and the full row keep PNM and the MC loss; the t-SNE paragraph ("A²MC with only
//! attack", "with only weak and strong augmentations") confirms that A2/A3 are the full
//! model minus one part of Att-Aug. The paper's prose on Table VI ("+1.2 % and +0.8 %
//! compared to Att and Aug alone") has the two rows the other way round from its table.
//!
//! Inert switches are normalised in the canonical params, so that identical computations
//! share one cache key: the MC loss acts on the strong view only, so `mc_loss` is `false`
//! whenever there is no strong view (`aug: false`) and always under `variant: code`.
//!
//! # Where the paper and the public code (1xbq1/A2MC, ML-FACTS §6) differ
//!
//! | | `variant: paper` (default) | `variant: code` |
//! |---|---|---|
//! | encoder | BiGRU (Tables V/VI), any by `encoder` | SCD-Net (CTR-GCN + transformer, 3 embeddings, cross-domain sets); here any |
//! | attack target | fixed random class head, `MSE(softmax, 1/K)` → uniform | fixed random head, −CE to its own argmax (an untargeted push away from the predicted class) |
//! | attack step | fresh Adam (PyTorch form), lr 0.1, L∞ clip ε 0.5 | fresh Keras-form Adam each iteration, lr 1e-4, no clip; class/perceptual gradients normalised per frame and mixed 0.6/0.4 (the perceptual one is 0 at the one iteration used) |
//! | order | crop → attack → weak/strong appearance aug | appearance aug → attack |
//! | positives | basic, weak, strong (3 query views) | the attacked view only (no clean query branch) |
//! | negatives | bank + per-view mixed banks (λ set, re-normalised) in the InfoNCE denominator | bank only; mixing is a separate linear loss: `m⁺ = 0.8q + 0.2d` pulled, `m⁻ = 0.1q + 0.9d` pushed, for r ≡ i (mod N), not normalised |
//! | strong-view loss | KL toward the basic view's distribution | none (the KL is commented out in the code) |
//! | bank update | one step per bank with the summed gradient of its views and sets | one momentum step per logit set (SCD: 4 sets, 3 banks; one set otherwise) |
//! | total | `L_b + L_w + L_s` | `CE + loss_mix` |
//! | schedule | §IV-B: SGD 0.9, lr 0.01, batch 64, 450 epochs, ×0.1 after 350 | argparse defaults: SGD 0.9, lr 0.001, batch 256, 200 epochs, ×0.1 at 100/160 (no run script); the pipeline uses the paper's for both, so that only the method differs |
//!
//! Both: memory banks start as N(0,1) and are filled with keys column by column during the
//! first K/N steps before any gradient update (the code's `init_memory`; the code also hard
//! copies the query encoder into the key encoder afterwards, which we do not).
//!
//! # Choices where the paper is silent (ours)
//!
//! - The attack's class head: a fixed, never trained, xavier-initialised
//!   `Linear(feature_dim, attack_classes = 128)` on the backbone feature, as the code's
//!   `attack_fc`. The frozen encoder runs in training mode (batch statistics), as the code.
//! - Absent (all-zero) bodies are kept at zero by the paper attack
//!   (`keep_absent_bodies`), so it does not invent a second person; the code perturbs them.
//! - Mixing: bank entry r is mixed with anchor `q[r mod N]` (the code's pairing), the
//!   mixtures are re-normalised and detached (MoCHi). The four coefficients of the final
//!   model are not in the paper's text; the default `mix` is `[0.1, 0.2, 0.3, 0.4]` (four
//!   values below 0.5, as the paper requires λ < 0.5).
//! - The MC-loss KL uses the strong view's own negatives (bank + its mixed banks) as the
//!   support of both distributions, teacher = the basic query's similarities there
//!   (detached), both at τ.
//! - The bank gradient is the AdCo/code closed form at `bank_temperature` over the
//!   one-hot terms against the bank, summed over the query views.
//! - Att without Aug (A3): the attacked skeleton is one hard positive view with one-hot
//!   InfoNCE.

use std::path::Path;

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::a2mc_blocks::{
    AttackReport, EntropyAttack, SmartAttack, augment_batch, bank_ascent_direction, code_mix_loss,
    entropy_attack, mix_negatives, sample_seeds, smart_attack,
};
use super::blocks::{
    MemoryBank, Queue, ema_update, info_nce, key_encoder, kl_to_teacher, l2_normalize, moco_logits,
};
use super::{MethodEntry, PretrainView, typed_params};
use crate::IoContext;
use crate::StageError;
use crate::Upstream;
use crate::learn::augment::{
    Aug, ViewSpec, a2mc_code_appearance, aimclr_extras, cmd_appearance, cmd_crop,
};
use crate::learn::data::Batch;
use crate::learn::data::derive_seed;
use crate::learn::encoders::Encoder;
use crate::learn::method::{
    Method, MethodSetup, StepAt, StepOutput, load_matrix, load_module, load_optim, save_matrix,
    save_module, save_optim,
};
use crate::params::{ParamError, Params, PathSeg, check_typed};
use serde_json::Value;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum A2mcVariant {
    /// The method as the paper describes it.
    #[default]
    Paper,
    /// The public code (1xbq1/A2MC): SMART attack, linear mixing loss, attacked view only.
    Code,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct A2mcParams {
    /// `paper` (default) or `code`: which A²MC to run (see the module docs for every
    /// difference).
    pub variant: A2mcVariant,
    /// Att-Aug's targeted semantic attack on/off.
    pub att: bool,
    /// Att-Aug's weak/strong appearance augmentation of the (attacked) skeleton on/off.
    pub aug: bool,
    /// PNM: gradient-updated memory bank + positive–negative mixing; off = MoCo's FIFO queue.
    pub pnm: bool,
    /// MC loss: KL of the strong view toward the basic view's similarity distribution;
    /// off = one-hot InfoNCE. Normalised to `false` when there is no strong view.
    pub mc_loss: bool,
    /// Size K of the queue / memory bank (paper 16384).
    pub queue: usize,
    /// Key-encoder momentum m.
    pub momentum: f64,
    /// InfoNCE temperature τ.
    pub temperature: f64,
    /// Frames of the default views' temporal crop-resize (paper 64).
    pub frames: usize,
    /// Attack learning rate; absent = the variant's (paper 0.1, code 1e-4).
    pub attack_lr: Option<f64>,
    /// L∞ bound of the attack's perturbation; absent = the variant's (paper 0.5, code no
    /// clip); `null` = no clip.
    pub attack_eps: Option<f64>,
    /// Attack steps (paper and code: 1).
    pub attack_steps: usize,
    /// Outputs of the fixed class head the attack flattens (the code: 128).
    pub attack_classes: usize,
    /// Paper attack: keep all-zero (absent) bodies at zero.
    pub keep_absent_bodies: bool,
    /// Weak appearance augmentation after the attack (paper: the basic one without crop).
    pub weak_aug: ViewSpec,
    /// Strong appearance augmentation after the attack (paper: AimCLR's extreme one).
    pub strong_aug: ViewSpec,
    /// PNM bank learning rate (3.0).
    pub bank_lr: f64,
    /// PNM bank temperature (0.03).
    pub bank_temperature: f64,
    /// PNM bank momentum (0.9).
    pub bank_momentum: f64,
    /// PNM bank weight decay (1e-4).
    pub bank_weight_decay: f64,
    /// Paper mixing coefficients λ (weight of the positive; one mixed bank per value).
    pub mix: Vec<f64>,
    /// Code mixing: share of the bank entry in the pulled mixture `m⁺` (0.2).
    pub mix_pos: f64,
    /// Code mixing: share of the query in the pushed mixture `m⁻` (0.1).
    pub mix_neg: f64,
    /// Which embeddings are contrasted: `cross` (A²MC's code, as SCD-Net: the temporal and
    /// spatial embeddings against the instance key, the instance embedding against the
    /// temporal and spatial keys — four logit sets, one bank or queue per key domain) or
    /// `instance` (the instance projection only). Absent: `cross` for an encoder with
    /// temporal and spatial embeddings (`scd`), `instance` for every other.
    pub domains: Option<Domains>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Domains {
    Cross,
    Instance,
}

/// Indices into `Encoder::embed_domains`.
const INSTANCE: usize = 0;
const TEMPORAL: usize = 1;
const SPATIAL: usize = 2;

/// The logit sets as (query domain, key domain): A²MC's code `ati`, `asi`, `ait`, `ais`
/// (`scd/builder.py`), or the one instance contrast.
const CROSS_DOMAIN: [(usize, usize); 4] = [
    (TEMPORAL, INSTANCE),
    (SPATIAL, INSTANCE),
    (INSTANCE, TEMPORAL),
    (INSTANCE, SPATIAL),
];
const INSTANCE_ONLY: [(usize, usize); 1] = [(INSTANCE, INSTANCE)];

impl Default for A2mcParams {
    fn default() -> Self {
        A2mcParams {
            variant: A2mcVariant::Paper,
            att: true,
            aug: true,
            pnm: true,
            mc_loss: true,
            queue: 16384,
            momentum: 0.999,
            temperature: 0.07,
            frames: 64,
            attack_lr: None,
            attack_eps: None,
            attack_steps: 1,
            attack_classes: 128,
            keep_absent_bodies: true,
            weak_aug: ViewSpec::List(weak_aug()),
            strong_aug: ViewSpec::List(strong_aug()),
            bank_lr: 3.0,
            bank_temperature: 0.03,
            bank_momentum: 0.9,
            bank_weight_decay: 1e-4,
            mix: vec![0.1, 0.2, 0.3, 0.4],
            mix_pos: 0.2,
            mix_neg: 0.1,
            domains: None,
        }
    }
}

/// The basic augmentation's appearance part (CMD: 50 % joint corruption, else shear U(−1, 1)).
pub fn weak_aug() -> Vec<Aug> {
    cmd_appearance()
}

/// Weak, then AimCLR's extreme additions: flip, rotate, Gaussian noise, Gaussian blur,
/// axis mask (the paper's list of "more basic augmentations").
pub fn strong_aug() -> Vec<Aug> {
    [cmd_appearance(), aimclr_extras(0.01)].concat()
}

/// The default views for these (canonical) params.
pub fn views_for(p: &A2mcParams) -> Vec<ViewSpec> {
    let f = p.frames;
    match p.variant {
        A2mcVariant::Paper => {
            let basic = ViewSpec::List([vec![cmd_crop(f), Aug::Stream], cmd_appearance()].concat());
            let mut v = vec![basic.clone(), basic];
            if p.att || p.aug {
                v.push(ViewSpec::List(vec![cmd_crop(f), Aug::Stream]));
            }
            v
        }
        A2mcVariant::Code => {
            let code =
                ViewSpec::List([vec![cmd_crop(f), Aug::Stream], a2mc_code_appearance()].concat());
            let query = if p.aug {
                code.clone()
            } else {
                ViewSpec::List(vec![cmd_crop(f), Aug::Stream])
            };
            vec![query, code]
        }
    }
}

/// Whether an augmentation list keeps T = `frames` (no crop to another length).
fn keeps_frames(list: &[Aug], frames: usize) -> bool {
    list.iter().all(|a| match a {
        Aug::CropResize { frames: f, .. } | Aug::CenterCropResize { frames: f, .. } => *f == frames,
        Aug::OneOf { first, second, .. } => {
            keeps_frames(first, frames) && keeps_frames(second, frames)
        }
        _ => true,
    })
}

impl Params for A2mcParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut e = Vec::new();
        if self.queue == 0 {
            e.push(ParamError::at("queue", "must be > 0"));
        }
        if !(0.0..=1.0).contains(&self.momentum) {
            e.push(ParamError::at("momentum", "must be in [0, 1]"));
        }
        for (k, v) in [
            ("temperature", self.temperature),
            ("bank_temperature", self.bank_temperature),
        ] {
            if v.is_nan() || v <= 0.0 {
                e.push(ParamError::at(k, "must be > 0"));
            }
        }
        if self.frames < 2 {
            e.push(ParamError::at("frames", "must be >= 2"));
        }
        if let Some(lr) = self.attack_lr
            && (!lr.is_finite() || lr < 0.0)
        {
            e.push(ParamError::at("attack_lr", "must be >= 0"));
        }
        if let Some(eps) = self.attack_eps
            && (eps.is_nan() || eps < 0.0)
        {
            e.push(ParamError::at("attack_eps", "must be >= 0").with_hint("null = no clip"));
        }
        if self.attack_steps == 0 {
            e.push(ParamError::at("attack_steps", "must be >= 1"));
        }
        if self.attack_classes < 2 {
            e.push(ParamError::at("attack_classes", "must be >= 2"));
        }
        for (k, spec) in [
            ("weak_aug", &self.weak_aug),
            ("strong_aug", &self.strong_aug),
        ] {
            match spec.resolve() {
                Err(m) => e.push(ParamError::at(k, m)),
                Ok(list) if !keeps_frames(&list, self.frames) => e.push(
                    ParamError::at(k, "a crop-resize here must keep `frames` frames")
                        .with_hint("the attacked skeleton is already crop-resized; augment its appearance only"),
                ),
                Ok(_) => {}
            }
        }
        for (i, l) in self.mix.iter().enumerate() {
            if !(0.0..=1.0).contains(l) {
                e.push(ParamError::new(
                    vec![PathSeg::Key("mix".into()), PathSeg::Index(i)],
                    "mixing coefficients must be in [0, 1]",
                ));
            }
        }
        for (k, v) in [("mix_pos", self.mix_pos), ("mix_neg", self.mix_neg)] {
            if !(0.0..=1.0).contains(&v) {
                e.push(ParamError::at(k, "must be in [0, 1]"));
            }
        }
        if self.bank_lr < 0.0 || self.bank_weight_decay < 0.0 {
            e.push(ParamError::at(
                "bank_lr",
                "bank_lr and bank_weight_decay must be >= 0",
            ));
        }
        if !(0.0..1.0).contains(&self.bank_momentum) {
            e.push(ParamError::at("bank_momentum", "must be in [0, 1)"));
        }
        e
    }
}

/// Validate and canonicalise: variant defaults filled in (`attack_lr`, `attack_eps` when
/// absent), inert `mc_loss` normalised to false.
pub fn check(params: &Value) -> Result<Value, Vec<ParamError>> {
    let mut v = check_typed::<A2mcParams>(params)?;
    let p: A2mcParams = serde_json::from_value(v.clone()).expect("checked");
    let given = |k: &str| params.get(k).is_some();
    let code = p.variant == A2mcVariant::Code;
    if !given("attack_lr") {
        v["attack_lr"] = serde_json::json!(if code { 1e-4 } else { 0.1 });
    }
    if !given("attack_eps") {
        v["attack_eps"] = if code {
            Value::Null
        } else {
            serde_json::json!(0.5)
        };
    }
    if code || !p.aug {
        v["mc_loss"] = serde_json::json!(false);
    }
    Ok(v)
}

/// The logit sets these params give with an encoder of `domains` embeddings.
pub fn logit_sets(p: &A2mcParams, domains: usize) -> &'static [(usize, usize)] {
    match (p.domains, domains) {
        (Some(Domains::Instance), _) | (_, 1) => &INSTANCE_ONLY,
        _ => &CROSS_DOMAIN,
    }
}

/// A cross-domain contrast needs the temporal and spatial embeddings, of the instance
/// embedding's size.
fn check_inputs(params: &Value, view: &PretrainView, _: &[Upstream]) -> Vec<ParamError> {
    let p: A2mcParams = serde_json::from_value(params.clone()).unwrap_or_default();
    let dims = view.encoder.domain_embed_dims();
    if p.domains == Some(Domains::Cross) && dims.len() == 1 {
        return vec![
            ParamError::at(
                "domains",
                format!(
                    "a cross-domain contrast needs temporal and spatial embeddings, and this stage's encoder ({}) has one embedding",
                    view.encoder.describe()
                ),
            )
            .with_hint("use an `scd` encoder, or `domains: instance`"),
        ];
    }
    if logit_sets(&p, dims.len()).len() > 1 && dims.iter().any(|&d| d != dims[0]) {
        return vec![
            ParamError::at(
                "domains",
                format!(
                    "the cross-domain logits compare the instance embedding ({}-d) with the temporal and spatial ones ({}-d)",
                    dims[0], dims[1]
                ),
            )
            .with_hint("give the encoder's `proj_dim` and its backbone's `proj_dim` one value, or set `domains: instance`"),
        ];
    }
    Vec::new()
}

pub const ENTRY: MethodEntry = MethodEntry {
    name: "a2mc",
    about: "A²MC: Att-Aug hard positives, PNM adversarial bank + mixing, MC loss; switches att/aug/pnm/mc_loss, variant paper|code",
    // 2: the seed comes from the stage (was drawn from the device); streams after the crop.
    // 3: an SCD encoder's three domains are contrasted across (the code's four logit sets).
    // 4: the crop keeps at least 64 source frames (was `frames`: shorter crops below 64);
    //    the temporal mask's blocks cover every frame when T is no multiple of 16.
    // 5: the key encoder's BatchNorm running statistics are its own (were q's)
    version: 5,
    check,
    check_inputs,
    default_views: |params| {
        let p: A2mcParams = serde_json::from_value(params.clone()).unwrap_or_default();
        views_for(&p)
    },
    build: |params, setup| Ok(Box::new(A2mc::new(typed_params("a2mc", params)?, setup)?)),
};

/// How often each component's code path ran: the switches are tested against these.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct A2mcCounters {
    pub steps: u64,
    /// Attack calls (one per step with `att`).
    pub attacks: u64,
    /// Appearance augmentations of the attack source (two per step with `aug`).
    pub appearance_augs: u64,
    /// Mixed banks built (paper: views × coefficients per step).
    pub mixed_banks: u64,
    /// Code mixing-loss terms.
    pub mix_losses: u64,
    /// Gradient steps of the memory bank.
    pub bank_updates: u64,
    /// Steps that filled bank columns with keys (the warm-up).
    pub bank_fills: u64,
    /// FIFO enqueues.
    pub enqueues: u64,
    /// KL (MC loss) terms.
    pub kl_terms: u64,
}

/// Negatives: MoCo's FIFO queue, or PNM's bank with how many columns are filled.
pub enum Negatives {
    Queue(Queue),
    Bank { bank: MemoryBank, filled: usize },
}

impl Negatives {
    /// The negatives as unit rows (K, D), detached.
    pub fn rows(&self) -> Tensor<2> {
        match self {
            Negatives::Queue(q) => q.keys.clone().detach(),
            Negatives::Bank { bank, .. } => bank.normalized().transpose().detach(),
        }
    }
}

pub struct A2mc {
    pub params: A2mcParams,
    pub q: Encoder,
    pub k: Encoder,
    /// The attack's fixed class head (never trained).
    pub head: Linear,
    /// The logit sets, (query domain, key domain) each.
    pub sets: &'static [(usize, usize)],
    /// One queue or bank per domain (instance; with cross-domain sets, temporal and spatial).
    pub negatives: Vec<Negatives>,
    pub optim: ModuleOptimizer,
    pub weak: Vec<Aug>,
    pub strong: Vec<Aug>,
    /// Seed of the post-attack augmentation RNGs (derived from the stage's seed).
    pub seed: u64,
    pub counters: A2mcCounters,
}

#[derive(Serialize, Deserialize)]
struct SavedState {
    seed: u64,
    counters: A2mcCounters,
    filled: Option<usize>,
    queue_ptr: Option<usize>,
}

/// One query's contrast, kept for the bank update: its query (detached) and key domain.
pub struct Contrast {
    pub query: Tensor<2>,
    pub key_domain: usize,
}

/// What a step hands the update after the optimiser step.
struct StepParts {
    loss: Tensor<1>,
    /// Normalised keys per domain.
    keys: Vec<Tensor<2>>,
    contrasts: Vec<Contrast>,
}

/// Each embedding L2-normalised.
fn normalized(embeds: Vec<Tensor<2>>) -> Vec<Tensor<2>> {
    embeds.into_iter().map(|e| l2_normalize(e, 1)).collect()
}

/// Suffix of a domain's saved matrices (the instance domain keeps the unsuffixed names).
fn domain_suffix(domain: usize) -> &'static str {
    ["", "_t", "_s"][domain]
}

impl A2mc {
    pub fn new(params: A2mcParams, setup: &MethodSetup) -> Result<A2mc, StageError> {
        let dev = setup.device;
        let q = setup.initial_encoder();
        // (the attack's frozen q is a clone: the code's attack forwards update q's statistics)
        let k = key_encoder(&q, setup);
        let dims = setup.encoder.domain_embed_dims();
        let sets = logit_sets(&params, dims.len());
        let used = sets.iter().map(|&(_, kd)| kd + 1).max().unwrap_or(1);
        let head = LinearConfig::new(setup.encoder.feature_dim(), params.attack_classes)
            .with_initializer(Initializer::XavierUniform { gain: 1.0 })
            .init(dev)
            .no_grad();
        let negatives = dims[..used]
            .iter()
            .map(|&d| {
                if params.pnm {
                    Negatives::Bank {
                        bank: MemoryBank::random(d, params.queue, dev),
                        filled: 0,
                    }
                } else {
                    Negatives::Queue(Queue::random(params.queue, d, dev))
                }
            })
            .collect();
        let seed = derive_seed(setup.seed, &[0xa2, 0x3c]);
        let weak = params
            .weak_aug
            .resolve()
            .map_err(|e| StageError::param("method_params.weak_aug", e))?;
        let strong = params
            .strong_aug
            .resolve()
            .map_err(|e| StageError::param("method_params.strong_aug", e))?;
        Ok(A2mc {
            params,
            q,
            k,
            head,
            sets,
            negatives,
            optim: setup.optim.build(),
            weak,
            strong,
            seed,
            counters: A2mcCounters::default(),
        })
    }

    fn attack_lr(&self) -> f64 {
        self.params.attack_lr.unwrap_or(match self.params.variant {
            A2mcVariant::Paper => 0.1,
            A2mcVariant::Code => 1e-4,
        })
    }

    /// Att-Aug's attack on `x` with the frozen query encoder.
    pub fn attack(&mut self, x: Tensor<5>) -> (Tensor<5>, AttackReport) {
        self.counters.attacks += 1;
        let frozen = self.q.clone().no_grad();
        match self.params.variant {
            A2mcVariant::Paper => entropy_attack(
                &frozen,
                &self.head,
                x,
                &EntropyAttack {
                    lr: self.attack_lr(),
                    eps: self.params.attack_eps,
                    steps: self.params.attack_steps,
                    keep_absent_bodies: self.params.keep_absent_bodies,
                },
            ),
            A2mcVariant::Code => smart_attack(
                &frozen,
                &self.head,
                x,
                &SmartAttack {
                    lr: self.attack_lr(),
                    steps: self.params.attack_steps,
                    ..SmartAttack::default()
                },
            ),
        }
    }

    /// The negatives of one query: its key domain's queue/bank, plus (paper PNM) one mixed
    /// bank per coefficient.
    fn negatives_for(&mut self, q: &Tensor<2>, rows: &Tensor<2>) -> Tensor<2> {
        if !(self.params.pnm && self.params.variant == A2mcVariant::Paper)
            || self.params.mix.is_empty()
        {
            return rows.clone();
        }
        let mut all = vec![rows.clone()];
        for &lambda in &self.params.mix {
            self.counters.mixed_banks += 1;
            all.push(mix_negatives(q.clone(), rows.clone(), lambda));
        }
        Tensor::cat(all, 0)
    }

    /// After the optimiser step: enqueue each domain's keys, or fill / step its bank with
    /// the contrasts whose key is in that domain.
    pub fn update_negatives(&mut self, keys: &[Tensor<2>], contrasts: &[Contrast]) {
        let p = &self.params;
        for (domain, negatives) in self.negatives.iter_mut().enumerate() {
            let k = &keys[domain];
            match negatives {
                Negatives::Queue(queue) => {
                    queue.enqueue(k.clone());
                    self.counters.enqueues += 1;
                }
                Negatives::Bank { bank, filled } => {
                    let cap = bank.w.dims()[1];
                    if *filled < cap {
                        // warm-up: store keys column by column (the code's init_memory)
                        let [n, d] = k.dims();
                        let take = n.min(cap - *filled);
                        let cols = k.clone().slice(s![0..take, 0..d]).transpose().detach();
                        bank.w = bank
                            .w
                            .clone()
                            .slice_assign(s![0..d, *filled..*filled + take], cols);
                        *filled += take;
                        self.counters.bank_fills += 1;
                        continue;
                    }
                    let mut g: Option<Tensor<2>> = None;
                    for c in contrasts.iter().filter(|c| c.key_domain == domain) {
                        let q = c.query.clone();
                        let l_pos = (q.clone() * k.clone()).sum_dim(1);
                        let gi =
                            bank_ascent_direction(q, l_pos, bank.w.clone(), p.bank_temperature);
                        match p.variant {
                            // the code: one momentum step per logit set
                            A2mcVariant::Code => {
                                bank.step(gi, p.bank_lr, p.bank_momentum, p.bank_weight_decay);
                                self.counters.bank_updates += 1;
                            }
                            A2mcVariant::Paper => accumulate(&mut g, gi),
                        }
                    }
                    if let Some(g) = g {
                        bank.step(g, p.bank_lr, p.bank_momentum, p.bank_weight_decay);
                        self.counters.bank_updates += 1;
                    }
                }
            }
        }
    }

    fn seeds(&self, which: u64, indices: &[usize]) -> Vec<u64> {
        sample_seeds(self.seed, self.counters.steps, which, indices)
    }

    /// The key encoder's normalised embeddings of `x`, per domain.
    fn keys(&mut self, x: Tensor<5>) -> Vec<Tensor<2>> {
        self.k = ema_update(self.k.clone(), &self.q, self.params.momentum).no_grad();
        normalized(self.k.embed_domains(x.detach()))
            .into_iter()
            .map(|k| k.detach())
            .collect()
    }

    fn step_paper(&mut self, batch: &Batch, terms: &mut Vec<(String, f32)>) -> StepParts {
        let p = self.params.clone();
        let t = p.temperature;
        let xq = batch.views[0].clone();
        let source = batch.views.get(2).unwrap_or(&batch.views[0]).clone();
        let keys = self.keys(batch.views[1].clone());
        // hard positives: attack, then weak/strong appearance augmentation
        let mut hard: Vec<(&str, Tensor<5>)> = Vec::new();
        if p.att || p.aug {
            let mut x = source.detach();
            if p.att {
                let (xa, rep) = self.attack(x);
                x = xa;
                push_attack_terms(terms, &rep);
            }
            if p.aug {
                self.counters.appearance_augs += 2;
                let weak = augment_batch(x.clone(), &self.weak, &self.seeds(1, &batch.indices));
                let strong = augment_batch(x, &self.strong, &self.seeds(2, &batch.indices));
                hard.push(("weak", weak));
                hard.push(("strong", strong));
            } else {
                hard.push(("attacked", x));
            }
        }
        let rows: Vec<Tensor<2>> = self.negatives.iter().map(Negatives::rows).collect();
        let mut contrasts = Vec::new();
        let mut total: Option<Tensor<1>> = None;
        // the basic view first: the strong view's KL takes its similarities as the teacher
        let mut basic: Vec<Tensor<2>> = Vec::new();
        for (name, x) in std::iter::once(("basic", xq)).chain(hard) {
            let embeds = normalized(self.q.embed_domains(x));
            if name == "basic" {
                let (qd, kd) = self.sets[0];
                push_similarity_terms(terms, &embeds[qd], &keys[kd], &rows[kd]);
            }
            let kl = name == "strong" && p.mc_loss;
            let mut view_loss: Option<Tensor<1>> = None;
            for &(qd, kd) in self.sets {
                let qv = embeds[qd].clone();
                let negs = self.negatives_for(&qv.clone().detach(), &rows[kd]);
                let k = keys[kd].clone();
                let l = if kl {
                    self.counters.kl_terms += 1;
                    let teacher =
                        moco_logits(basic[qd].clone().detach(), k.clone(), negs.clone(), 1.0);
                    let student = moco_logits(qv.clone(), k, negs, 1.0);
                    kl_to_teacher(student, teacher, t, t)
                } else {
                    info_nce(qv.clone(), k, negs, t)
                };
                accumulate(&mut view_loss, l);
                contrasts.push(Contrast {
                    query: qv.detach(),
                    key_domain: kd,
                });
            }
            let view_loss = view_loss.expect("at least one logit set");
            let term = if kl {
                "kl_strong".to_string()
            } else {
                format!("loss_{name}")
            };
            terms.push((term, view_loss.clone().into_scalar::<f32>()));
            accumulate(&mut total, view_loss);
            if name == "basic" {
                basic = embeds;
            }
        }
        StepParts {
            loss: total.expect("the basic view"),
            keys,
            contrasts,
        }
    }

    fn step_code(&mut self, batch: &Batch, terms: &mut Vec<(String, f32)>) -> StepParts {
        let p = self.params.clone();
        let mut xq = batch.views[0].clone().detach();
        if p.att {
            let (xa, rep) = self.attack(xq);
            xq = xa;
            push_attack_terms(terms, &rep);
        }
        let keys = self.keys(batch.views[1].clone());
        let rows: Vec<Tensor<2>> = self.negatives.iter().map(Negatives::rows).collect();
        let attacked = normalized(self.q.embed_domains(xq));
        let (qd0, kd0) = self.sets[0];
        push_similarity_terms(terms, &attacked[qd0], &keys[kd0], &rows[kd0]);
        let (mut total, mix) = code_loss(self.sets, &attacked, &keys, &rows, &p);
        terms.push(("loss_attacked".into(), total.clone().into_scalar::<f32>()));
        if let Some(mix) = mix {
            self.counters.mix_losses += self.sets.len() as u64;
            terms.push(("loss_mix".into(), mix.clone().into_scalar::<f32>()));
            total = total + mix;
        }
        let contrasts = self
            .sets
            .iter()
            .map(|&(qd, kd)| Contrast {
                query: attacked[qd].clone().detach(),
                key_domain: kd,
            })
            .collect();
        StepParts {
            loss: total,
            keys,
            contrasts,
        }
    }
}

/// The public code's loss of the attacked view (ML-FACTS §6.5): InfoNCE of each logit set
/// `(query domain, key domain)` — the query's embedding against the key domain's key and
/// bank rows — summed over the sets, and (`pnm`) the mixing loss of each set's query with
/// that bank, averaged over the sets. `queries`, `keys` normalised, per domain.
pub fn code_loss(
    sets: &[(usize, usize)],
    queries: &[Tensor<2>],
    keys: &[Tensor<2>],
    rows: &[Tensor<2>],
    p: &A2mcParams,
) -> (Tensor<1>, Option<Tensor<1>>) {
    let t = p.temperature;
    let (mut ce, mut mix) = (None, None);
    for &(qd, kd) in sets {
        let q = queries[qd].clone();
        accumulate(
            &mut ce,
            info_nce(q.clone(), keys[kd].clone(), rows[kd].clone(), t),
        );
        if p.pnm {
            let m = code_mix_loss(q, rows[kd].clone(), p.mix_pos, p.mix_neg, t);
            accumulate(&mut mix, m);
        }
    }
    let mix = mix.map(|m| m / sets.len() as f64);
    (ce.expect("at least one logit set"), mix)
}

/// `acc += x`, starting from nothing.
fn accumulate<const D: usize>(acc: &mut Option<Tensor<D>>, x: Tensor<D>) {
    *acc = Some(match acc.take() {
        Some(sum) => sum + x,
        None => x,
    });
}

fn mean_scalar<const D: usize>(x: Tensor<D>) -> f32 {
    x.detach().mean().into_scalar::<f32>()
}

/// The mean positive and negative similarities of a query, for the log.
fn push_similarity_terms(
    terms: &mut Vec<(String, f32)>,
    q: &Tensor<2>,
    k: &Tensor<2>,
    rows: &Tensor<2>,
) {
    terms.push((
        "pos_sim".into(),
        mean_scalar((q.clone() * k.clone()).sum_dim(1)),
    ));
    terms.push((
        "neg_sim".into(),
        mean_scalar(q.clone().matmul(rows.clone().transpose())),
    ));
}

fn push_attack_terms(terms: &mut Vec<(String, f32)>, rep: &AttackReport) {
    terms.push(("attack_loss".into(), rep.loss_before));
    terms.push(("attack_loss_after".into(), rep.loss_after));
    terms.push(("attack_linf".into(), rep.linf));
    terms.push(("attack_mean_abs".into(), rep.mean_abs));
}

impl Method for A2mc {
    fn step(&mut self, batch: &Batch, at: &StepAt) -> Result<StepOutput, StageError> {
        let mut terms = Vec::new();
        let out = match self.params.variant {
            A2mcVariant::Paper => self.step_paper(batch, &mut terms),
            A2mcVariant::Code => self.step_code(batch, &mut terms),
        };
        let value = out.loss.clone().into_scalar::<f32>();
        if value.is_finite() {
            let grads = GradientsParams::from_grads(out.loss.backward(), &self.q);
            self.q = self.optim.step(at.lr, self.q.clone(), grads);
            self.update_negatives(&out.keys, &out.contrasts);
        }
        self.counters.steps += 1;
        Ok(StepOutput { loss: value, terms })
    }

    fn encoder(&self) -> &Encoder {
        &self.q
    }

    fn save(&self, dir: &Path) -> Result<(), StageError> {
        save_module(&self.q, &dir.join("encoder_q.bpk"))?;
        save_module(&self.k, &dir.join("encoder_k.bpk"))?;
        save_module(&self.head, &dir.join("attack_head.bpk"))?;
        save_optim(&self.optim, &dir.join("optim.bpk"))?;
        // every domain's negatives advance together: one fill count / queue pointer
        let (mut filled, mut queue_ptr) = (None, None);
        for (domain, negatives) in self.negatives.iter().enumerate() {
            let sfx = domain_suffix(domain);
            match negatives {
                Negatives::Queue(q) => {
                    save_matrix(dir, &format!("queue{sfx}"), &q.keys, serde_json::json!({}))?;
                    queue_ptr = Some(q.ptr);
                }
                Negatives::Bank { bank, filled: f } => {
                    save_matrix(dir, &format!("bank_w{sfx}"), &bank.w, serde_json::json!({}))?;
                    save_matrix(dir, &format!("bank_v{sfx}"), &bank.v, serde_json::json!({}))?;
                    filled = Some(*f);
                }
            }
        }
        let state = SavedState {
            seed: self.seed,
            counters: self.counters.clone(),
            filled,
            queue_ptr,
        };
        let p = dir.join("a2mc.json");
        std::fs::write(&p, serde_json::to_string_pretty(&state).expect("state")).at("write", &p)
    }

    fn load(&mut self, dir: &Path) -> Result<(), StageError> {
        self.q = load_module(self.q.clone(), &dir.join("encoder_q.bpk"))?;
        self.k = load_module(self.k.clone(), &dir.join("encoder_k.bpk"))?.no_grad();
        self.head = load_module(self.head.clone(), &dir.join("attack_head.bpk"))?.no_grad();
        self.optim = load_optim(self.optim.clone(), &dir.join("optim.bpk"))?;
        let p = dir.join("a2mc.json");
        let text = std::fs::read_to_string(&p).at("read", &p)?;
        let state: SavedState = serde_json::from_str(&text)
            .map_err(|e| StageError::bad_file(&p, format!("not an A²MC state: {e}")))?;
        self.seed = state.seed;
        self.counters = state.counters;
        let dev = self.q_device();
        for (domain, negatives) in self.negatives.iter_mut().enumerate() {
            let sfx = domain_suffix(domain);
            match negatives {
                Negatives::Queue(q) => {
                    *q = Queue {
                        keys: load_matrix(dir, &format!("queue{sfx}"), &dev)?.0,
                        ptr: state.queue_ptr.unwrap_or(0),
                    };
                }
                Negatives::Bank { bank, filled } => {
                    bank.w = load_matrix(dir, &format!("bank_w{sfx}"), &dev)?.0;
                    bank.v = load_matrix(dir, &format!("bank_v{sfx}"), &dev)?.0;
                    *filled = state.filled.unwrap_or(0);
                }
            }
        }
        Ok(())
    }
}

impl A2mc {
    fn q_device(&self) -> Device {
        match &self.negatives[0] {
            Negatives::Queue(q) => q.keys.device(),
            Negatives::Bank { bank, .. } => bank.w.device(),
        }
    }
}
