//! The building blocks of AimCLR and ActCLR as pure tensor functions, each checked against
//! a PyTorch transcription of the reference code (`scripts/actclr_reference.py`, goldens in
//! `stages/tests/it/goldens/`):
//!
//! - AimCLR (ML-FACTS §2.1, §3): the energy-based attention drop ([`simam_drop`]), the DDM
//!   loss ([`ddm_loss`]) and the nearest-neighbour-mined InfoNCE ([`mined_info_nce`]).
//! - ActCLR (ML-FACTS §5): the actionlet ([`actionlet`]: Grad-CAM of the similarity to the
//!   static anchor), its region masks and their upsampling to the input frames
//!   ([`keep_mask`], [`upsample_time`], [`mix_by_mask`] = `actionlet_swap`), SAFP
//!   ([`safp_pool`]), the teacher mixing weights of the cut-mixed view ([`mask_pool`] =
//!   `_mask_pool`), and the similarity-mining loss ([`select_topk`], [`kl_to_teacher`]).
//!
//! Feature maps are the encoder's `(N·M, C, T', V)`, sample-major (`n·M + m`), as ST-GCN's.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, relu, sigmoid, softmax};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use super::blocks::kl_to_teacher;
use crate::learn::encoders::{Encoder, FeatureMap};
use crate::learn::graph;
use crate::learn::losses::l2_normalize;
use crate::learn::skeleton_mix::BODY_PARTS;

/// A (rows, cols) matrix from row-major data.
fn matrix(data: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data, [rows, cols]), device)
}

/// The tensor's values (f32).
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 tensor")
}

// ------------------------------------------------------------------------------------ AimCLR

/// AimCLR's `Simam_Drop(num_point = V, keep_prob)` (net/att_drop.py) on a feature map
/// x (N·M, C, T, V): the SimAM energy
/// `att = sigmoid((x-μ)² / (4(Σ(x-μ)²/(T·V-1) + λ)) + 0.5)` per (n, c) over (T, V); then
/// the spatial drop (joints whose `att` averaged over (C, T) is ≥ `keep_prob` are zeroed)
/// and the temporal drop (every entry whose `att` is ≥ `keep_prob`, computed from the map
/// before the spatial drop), each rescaled by `numel / Σ mask` over the whole batch. The
/// masks carry no gradient (the reference overwrites them in place); the map does.
pub fn simam_drop(x: Tensor<4>, keep_prob: f64, e_lambda: f64) -> Tensor<4> {
    let [nm, c, t, v] = x.dims();
    let xd = x.clone().detach();
    let num = (t * v) as f64 - 1.0;
    let mu = xd.clone().mean_dim(3).mean_dim(2);
    let d2 = (xd - mu).square();
    let denom = (d2.clone().sum_dim(3).sum_dim(2) / num + e_lambda) * 4.0;
    let att = sigmoid(d2 / denom + 0.5);
    // spatial: (NM, V)
    let att_s = att.clone().mean_dim(2).mean_dim(1); // (NM, 1, 1, V)
    let mask_s = att_s.lower_elem(keep_prob).float();
    let sum_s = mask_s.clone().sum().into_scalar::<f32>().max(1.0) as f64;
    let x1 = x * mask_s * ((nm * v) as f64 / sum_s);
    // temporal: per element
    let mask_t = att.lower_elem(keep_prob).float();
    let sum_t = mask_t.clone().sum().into_scalar::<f32>().max(1.0) as f64;
    x1 * mask_t * ((nm * c * t * v) as f64 / sum_t)
}

/// AimCLR's DDM loss: `-mean_n Σ_j teacher_j · log softmax(student)_j`, with `teacher`
/// the (detached) probabilities of the normal view and `student` the logits (already
/// divided by the temperature) of the extreme view or its dropped version.
pub fn ddm_loss(student_logits: Tensor<2>, teacher_probs: Tensor<2>) -> Tensor<1> {
    let n = student_logits.dims()[0] as f64;
    (teacher_probs.detach() * log_softmax(student_logits, 1))
        .sum()
        .neg()
        / n
}

/// The teacher of the DDM loss: `softmax(logits)` of the normal view, detached.
pub fn ddm_teacher(logits: Tensor<2>) -> Tensor<2> {
    softmax(logits.detach(), 1)
}

/// AimCLR's loss after `mining_epoch`: `mean_n -(Σ_j log softmax(logits)_j · mask_j) /
/// Σ_j mask_j`, where `mask` (N, 1+K) is 1 at the positive (column 0) and at the mined
/// nearest neighbours.
pub fn mined_info_nce(logits: Tensor<2>, pos_mask: Tensor<2>) -> Tensor<1> {
    let per = (log_softmax(logits, 1) * pos_mask.clone()).sum_dim(1) / pos_mask.sum_dim(1);
    per.mean().neg()
}

/// AimCLR's positive set after mining: column 0 (the key) plus, for each of the negative
/// similarity rows given (normal, extreme, dropped extreme; each (N, K)), the columns of
/// its `topk` largest entries — (N, 1+K) of 0/1.
pub fn mining_mask(l_negs: &[Tensor<2>], topk: usize) -> Tensor<2> {
    let [n, k] = l_negs[0].dims();
    let device = l_negs[0].device();
    let mut mask = vec![0f32; n * (1 + k)];
    for i in 0..n {
        mask[i * (1 + k)] = 1.0;
    }
    for l in l_negs {
        let (_, idx) = l.clone().detach().topk_with_indices(topk.min(k), 1);
        let idx: Vec<i64> = idx
            .into_data()
            .convert::<i64>()
            .try_into_vec::<i64>()
            .expect("int indices");
        let per = topk.min(k);
        for i in 0..n {
            for &j in &idx[i * per..(i + 1) * per] {
                mask[i * (1 + k) + 1 + j as usize] = 1.0;
            }
        }
    }
    matrix(mask, n, 1 + k, &device)
}

// ------------------------------------------------------------------------------------ ActCLR

/// How the similarity to the anchor is normalised before its gradient is taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cosine {
    /// The intended semantics (the older bundled code, the paper's eq. 3): the cosine of
    /// the 128-d embeddings.
    #[default]
    Embedding,
    /// ActCLR HEAD: the head is a 1×1 conv with output (N, 128, 1, 1), so `F.normalize(z,
    /// dim=-1)` normalises each entry on its own (±1) and the gradient is zero up to
    /// rounding: the actionlet is (almost) empty.
    Head,
}

/// How the class-activation map is smoothed over the joints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Smoothing {
    /// The paper (eq. 5): `A = σ(Σ_c α_c h) · G` with G the skeleton's normalised adjacency
    /// with self-loops (the sum of ST-GCN's three spatial partitions, columns sum to 1).
    #[default]
    Adjacency,
    /// The code: each of the five body parts takes the mean of its joints.
    BodyParts,
}

impl Smoothing {
    /// The (V, V) matrix S with `smoothed[t, w] = Σ_v cam[t, v] S[v, w]`.
    pub fn matrix(self) -> Vec<f32> {
        let v = graph::V;
        let mut s = vec![0f32; v * v];
        match self {
            Smoothing::Adjacency => {
                let a = graph::ntu_spatial_a();
                for k in 0..graph::K {
                    for (i, x) in s.iter_mut().enumerate() {
                        *x += a[k * v * v + i];
                    }
                }
            }
            Smoothing::BodyParts => {
                for part in BODY_PARTS {
                    let w = 1.0 / part.len() as f32;
                    for &i in part {
                        for &j in part {
                            s[i * v + j] = w;
                        }
                    }
                }
            }
        }
        s
    }
}

/// The actionlet's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActionletSpec {
    pub cosine: Cosine,
    pub smoothing: Smoothing,
    /// `mask = clip(cam / threshold, 0, 1)` (the code: `/1e-8` then `clip(0, 1)`).
    pub threshold: f64,
}

/// One actionlet: the mask (N·M, 1, T', V) in [0, 1] and what it was made from.
#[derive(Clone, Debug)]
pub struct Actionlet {
    pub mask: Tensor<4>,
    /// `ReLU(mean_c(α_c · h))`, smoothed, before the threshold (N·M, 1, T', V).
    pub cam: Tensor<4>,
    /// The gradient `∂(1 - s)/∂h` (N·M, C, T', V).
    pub grad: Tensor<4>,
    /// The similarity s to the anchor (batch mean).
    pub similarity: f32,
}

/// The similarity `s` of the pooled, projected map to the anchor's embedding, as a
/// differentiable scalar, by the rule of `cosine`.
pub fn anchor_similarity(z: Tensor<2>, anchor: Tensor<2>, cosine: Cosine) -> Tensor<1> {
    let [n, d] = z.dims();
    let a = l2_normalize(anchor.detach(), 1); // (1, D)
    match cosine {
        Cosine::Embedding => (l2_normalize(z, 1) * a).sum_dim(1).mean(),
        Cosine::Head => {
            // F.normalize over the size-1 last axis of (N, D, 1, 1), times the anchor
            // broadcast to (N, D, 1, D), summed over the last axis, mean over the rest
            let zn = l2_normalize(z.reshape([n, d, 1]), 2).reshape([n, d]);
            zn.mean() * a.sum()
        }
    }
}

/// ActCLR's `_generate_mask` (ML-FACTS §5.3): the gradient `g = ∂(1 - s)/∂h` of the
/// similarity `s` between the embedding of the map `h` (pooled, projected by `head`'s
/// projector) and the anchor's embedding; Grad-CAM channel weights `α_c = mean_{t,v} g`;
/// `cam = ReLU(mean_c α_c h)`, smoothed over the joints; `mask = clip(cam / threshold, 0,
/// 1)`. `head` should be frozen (its parameters get no gradient here); `map` is detached.
pub fn actionlet(
    head: &Encoder,
    map: Tensor<4>,
    persons: usize,
    anchor: Tensor<2>,
    spec: &ActionletSpec,
) -> Actionlet {
    let [nm, c, t, v] = map.dims();
    let device = map.device();
    let y = map.detach().require_grad();
    let z = head.project(head.pool(FeatureMap {
        map: y.clone(),
        persons,
    }));
    let s = anchor_similarity(z, anchor, spec.cosine);
    let similarity = s.clone().detach().into_scalar::<f32>();
    let grads = (s.neg() + 1.0).backward();
    let g = y
        .grad(&grads)
        .map(|g| g.detach())
        .unwrap_or_else(|| Tensor::zeros([nm, c, t, v], &device));
    let h = y.detach();
    let w = g.clone().mean_dim(3).mean_dim(2); // (NM, C, 1, 1)
    let cam = relu((w * h).mean_dim(1)); // (NM, 1, T', V)
    let s_mat = matrix(spec.smoothing.matrix(), v, v, &device);
    let cam = cam
        .reshape([nm * t, v])
        .matmul(s_mat)
        .reshape([nm, 1, t, v]);
    let mask = (cam.clone() / spec.threshold).clamp(0.0, 1.0);
    Actionlet {
        mask,
        cam,
        grad: g,
        similarity,
    }
}

/// Where a transformation acts, relative to the actionlet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// Outside the actionlet (ActCLR: the actionlet keeps the milder view).
    #[default]
    NonActionlet,
    /// Inside the actionlet only (the opposite; not a row of the paper).
    Actionlet,
    /// Everywhere: the transformed view as it is, no actionlet needed.
    Full,
}

/// The keep-mask R (where the untransformed view stays) of an actionlet mask for a region:
/// `mask`, `1 - mask`, or `None` for the full area (R = 0).
pub fn keep_mask(mask: &Tensor<4>, region: Region) -> Option<Tensor<4>> {
    match region {
        Region::NonActionlet => Some(mask.clone()),
        Region::Actionlet => Some(mask.clone().neg() + 1.0),
        Region::Full => None,
    }
}

/// The (T, T') weights of `F.interpolate(..., mode='bilinear', align_corners=True)` along
/// time: output frame d reads `d·(T'-1)/(T-1)` linearly.
pub fn upsample_weights(t_out: usize, t_in: usize) -> Vec<f32> {
    let mut w = vec![0f32; t_out * t_in];
    for d in 0..t_out {
        let src = if t_out > 1 {
            d as f64 * (t_in as f64 - 1.0) / (t_out as f64 - 1.0)
        } else {
            0.0
        };
        let i0 = (src.floor() as usize).min(t_in - 1);
        let i1 = (i0 + 1).min(t_in - 1);
        let f = (src - i0 as f64) as f32;
        w[d * t_in + i0] += 1.0 - f;
        w[d * t_in + i1] += f;
    }
    w
}

/// A mask (N·M, 1, T', V) upsampled along time to `t` frames (joints unchanged, as the
/// reference's bilinear resize to (T, V) with `align_corners=True`): (N·M, 1, T, V).
pub fn upsample_time(mask: Tensor<4>, t: usize) -> Tensor<4> {
    let [nm, _, tp, v] = mask.dims();
    let w = matrix(upsample_weights(t, tp), t, tp, &mask.device());
    w.unsqueeze::<3>()
        .matmul(mask.reshape([nm, tp, v]))
        .reshape([nm, 1, t, v])
}

/// ActCLR's `actionlet_swap(x, y, mask)`: `x·R + y·(1 - R)` with the keep-mask R
/// (N·M, 1, T', V) upsampled to the frames of x and y (N, C, T, V, M). `None` = y.
pub fn mix_by_mask(x: Tensor<5>, y: Tensor<5>, keep: Option<&Tensor<4>>) -> Tensor<5> {
    let Some(keep) = keep else {
        return y;
    };
    let [n, _, t, v, m] = x.dims();
    let r = upsample_time(keep.clone(), t)
        .reshape([n, m, t, v])
        .permute([0, 2, 3, 1])
        .unsqueeze_dim::<5>(1); // (N, 1, T, V, M)
    x * r.clone() + y * (r.neg() + 1.0)
}

/// SAFP (eq. 8, `Model._mask_pool`): `Σ_{t,v} h·A / (Σ_{t,v} A + 1e-5)` per (n·m, c), then
/// the mean over the persons: (N, C).
pub fn safp_pool(map: Tensor<4>, mask: Tensor<4>, persons: usize) -> Tensor<2> {
    let [nm, c, t, v] = map.dims();
    let n = nm / persons;
    let num = (map * mask.clone()).reshape([nm, c, t * v]).sum_dim(2); // (NM, C, 1)
    let den = mask.reshape([nm, 1, t * v]).sum_dim(2) + 1e-5; // (NM, 1, 1)
    (num / den)
        .reshape([n, persons, c])
        .mean_dim(1)
        .reshape([n, c])
}

/// `actclr._mask_pool(exp(R/τ), mask, randidx)` on the CPU: the shares of the partner and
/// of the own sample in the cut-mixed view 3, weighted by the exponentiated keep-mask
/// `x = exp(R/τ)` (N·M·T'·V values, sample-major):
/// `p_n = mean_m Σ x[r_n]·mask_p / Σ (x[r_n] + 1e-5)`,
/// `c_n = mean_m Σ x_n·(1 - mask_c) / (Σ x_n + 1e-5)`, then `(p, c) / (p + c)`.
/// `mask_p`/`mask_c` are (T'·V); equal except for the resize branch of `ske_swap`.
pub fn mask_pool(
    keep: &[f32],
    persons: usize,
    temperature: f32,
    partners: &[usize],
    mask_p: &[f32],
    mask_c: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let tv = mask_p.len();
    let n = partners.len();
    assert_eq!(keep.len(), n * persons * tv, "keep-mask size");
    let x: Vec<f32> = keep.iter().map(|r| (r / temperature).exp()).collect();
    let cell = |i: usize, m: usize| &x[(i * persons + m) * tv..(i * persons + m + 1) * tv];
    let mut p = vec![0f32; n];
    let mut c = vec![0f32; n];
    for i in 0..n {
        for m in 0..persons {
            let xp = cell(partners[i], m);
            let num: f32 = xp.iter().zip(mask_p).map(|(a, b)| a * b).sum();
            let den: f32 = xp.iter().map(|a| a + 1e-5).sum();
            p[i] += num / den / persons as f32;
            let xc = cell(i, m);
            let num: f32 = xc.iter().zip(mask_c).map(|(a, b)| a * (1.0 - b)).sum();
            let den: f32 = xc.iter().sum::<f32>() + 1e-5;
            c[i] += num / den / persons as f32;
        }
        let s = p[i] + c[i];
        p[i] /= s;
        c[i] /= s;
    }
    (p, c)
}

/// View 3's teacher: `normalize(c·k + p·k[partners])`. Per sample (`c_i`, `p_i` weight
/// row i) or, with `broadcast`, as the code's `k * c + k[randidx] * p` computes it with c,
/// p of shape (N,) against k (N, D): PyTorch broadcasts them along the last axis, so
/// `c_j` weights column j (it runs only when N = D).
pub fn mix_keys(
    key: Tensor<2>,
    partners: &[usize],
    p: Vec<f32>,
    c: Vec<f32>,
    broadcast: bool,
) -> Tensor<2> {
    let [n, d] = key.dims();
    let dev = key.device();
    let perm = Tensor::<1, Int>::from_data(
        TensorData::new(partners.iter().map(|&i| i as i64).collect::<Vec<_>>(), [n]),
        &dev,
    );
    let k_partner = key.clone().select(0, perm);
    let shape = if broadcast && n == d { [1, n] } else { [n, 1] };
    let c = Tensor::<2>::from_data(TensorData::new(c, shape), &dev);
    let p = Tensor::<2>::from_data(TensorData::new(p, shape), &dev);
    l2_normalize(key * c + k_partner * p, 1)
}

/// ActCLR's `select_topk`: the teacher similarities with entries > `exclude` set to -1
/// (near duplicates and the sample's own key), their `topk` largest values and columns.
pub fn select_topk(teacher: Tensor<2>, topk: usize, exclude: f64) -> (Tensor<2>, Tensor<2, Int>) {
    let k = teacher.dims()[1];
    let t = teacher.detach();
    let masked = t.clone().mask_fill(t.greater_elem(exclude), -1.0);
    masked.topk_with_indices(topk.min(k), 1)
}

/// The students' similarities at the teacher's top-k columns.
pub fn gather_topk(student: Tensor<2>, idx: Tensor<2, Int>) -> Tensor<2> {
    student.gather(1, idx)
}
