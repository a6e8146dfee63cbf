//! A2MC's building blocks, each usable and testable on its own: the two attacks (the
//! paper's entropy-maximising Att-Aug step and the public code's SMART step), the
//! adversarial memory-bank gradient of PNM, positive–negative mixing, and appearance
//! augmentation of a batch that already lives on the device (the attack happens between
//! the temporal crop and the appearance augmentation, so the loader cannot do it).
//!
//! Layout of every skeleton tensor: (N, C, T, V, M).

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::blocks::{cross_entropy, l2_normalize};
use crate::learn::augment::{Aug, Clip, apply_view};
use crate::learn::data::derive_seed;
use crate::learn::encoders::Encoder;
use crate::learn::graph::EDGES;

// ---------------------------------------------------------------------------------------
// Attacks

/// The loss and input gradient of `f` at `x` (`x` detached first).
fn loss_and_grad<const D: usize>(
    x: Tensor<D>,
    f: impl FnOnce(Tensor<D>) -> Tensor<1>,
) -> (f32, Tensor<D>) {
    let x = x.detach().require_grad();
    let loss = f(x.clone());
    let value = loss.clone().into_scalar::<f32>();
    let grads = loss.backward();
    let g = x
        .grad(&grads)
        .expect("the attack loss depends on the input")
        .detach();
    (value, g)
}

/// `(1, 1, 1, 1, M)`-broadcastable 0/1 mask per (sample, body): 1 where the body has any
/// non-zero coordinate. The paper variant keeps absent bodies at zero so that the attack
/// does not invent a second person.
pub fn present_bodies(x: &Tensor<5>) -> Tensor<5> {
    x.clone()
        .detach()
        .abs()
        .sum_dim(1)
        .sum_dim(2)
        .sum_dim(3)
        .greater_elem(0.0)
        .float()
}

/// Mean squared distance of `softmax(logits)` to the uniform distribution (eq. 5:
/// `MSE(softmax(z), (1/K)·1)`, the paper's stand-in for entropy maximisation).
pub fn mse_to_uniform(logits: Tensor<2>) -> Tensor<1> {
    let k = logits.dims()[1] as f64;
    (softmax(logits, 1) - 1.0 / k).square().mean()
}

/// Shannon entropy (nats) of `softmax(logits)`, averaged over rows (for reports and tests).
pub fn mean_entropy(logits: Tensor<2>) -> f32 {
    let n = logits.dims()[0] as f64;
    let p = softmax(logits, 1);
    let h = (p.clone() * p.clamp_min(1e-30).log()).sum().neg() / n;
    h.into_scalar::<f32>()
}

/// Settings of the paper's attack (eq. 5–6).
#[derive(Clone, Debug, PartialEq)]
pub struct EntropyAttack {
    /// Adam learning rate on the input (paper 0.1).
    pub lr: f64,
    /// L∞ bound of the perturbation (paper 0.5); `None` = no clip.
    pub eps: Option<f64>,
    /// Adam steps (paper: one).
    pub steps: usize,
    /// Keep all-zero (absent) bodies at zero.
    pub keep_absent_bodies: bool,
}

/// What an attack did, for the loss curves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttackReport {
    /// The attack loss at the clean input (MSE to uniform, or −CE for SMART).
    pub loss_before: f32,
    /// The attack loss at the attacked input (one more forward pass; lower = the attack
    /// reached its goal).
    pub loss_after: f32,
    /// max |δ| over the batch.
    pub linf: f32,
    /// mean |δ| over the batch.
    pub mean_abs: f32,
}

fn delta_stats(x_adv: &Tensor<5>, x0: &Tensor<5>) -> (f32, f32) {
    let d = (x_adv.clone() - x0.clone()).abs();
    (
        d.clone().max().into_scalar::<f32>(),
        d.mean().into_scalar::<f32>(),
    )
}

/// The targeted semantic attack of Att-Aug: with the query encoder and the class head
/// frozen, take `steps` steps of a fresh Adam (β 0.9/0.999, ε 1e-8, PyTorch's update)
/// on the input to pull `softmax(head(features(x)))` toward uniform, projecting the
/// perturbation onto the L∞ ball of radius `eps` after each step. With one step this is
/// `x − lr·g/(|g| + 1e-8)` ≈ `x − lr·sign(g)`.
///
/// `enc` and `head` must be frozen (`no_grad`) and `x` must live on an autodiff device.
pub fn entropy_attack(
    enc: &Encoder,
    head: &Linear,
    x: Tensor<5>,
    cfg: &EntropyAttack,
) -> (Tensor<5>, AttackReport) {
    let (b1, b2, adam_eps) = (0.9f64, 0.999f64, 1e-8f64);
    let x0 = x.detach();
    let keep = cfg.keep_absent_bodies.then(|| present_bodies(&x0));
    let mut xa = x0.clone();
    let mut m = x0.zeros_like();
    let mut v = x0.zeros_like();
    let mut report = AttackReport::default();
    for t in 1..=cfg.steps.max(1) {
        let (loss, g) = loss_and_grad(xa.clone(), |x| {
            mse_to_uniform(head.forward(enc.features(x)))
        });
        if t == 1 {
            report.loss_before = loss;
        }
        m = m * b1 + g.clone() * (1.0 - b1);
        v = v * b2 + g.square() * (1.0 - b2);
        let m_hat = m.clone() / (1.0 - b1.powi(t as i32));
        let v_hat = v.clone() / (1.0 - b2.powi(t as i32));
        xa = (xa - m_hat / (v_hat.sqrt() + adam_eps) * cfg.lr).detach();
        if let Some(e) = cfg.eps {
            xa = (x0.clone() + (xa - x0.clone()).clamp(-e, e)).detach();
        }
        if let Some(mask) = &keep {
            xa = (x0.clone() + (xa - x0.clone()) * mask.clone()).detach();
        }
    }
    (report.linf, report.mean_abs) = delta_stats(&xa, &x0);
    report.loss_after = mse_to_uniform(head.forward(enc.features(xa.clone()))).into_scalar::<f32>();
    (xa, report)
}

/// Settings of the public code's `SMART_attack` (ML-FACTS §6.2).
#[derive(Clone, Debug, PartialEq)]
pub struct SmartAttack {
    /// Step size (the code: 1e-4).
    pub lr: f64,
    /// Iterations (`max_iter`, the code: 1).
    pub steps: usize,
    /// Weight of the class gradient against the perceptual gradient (0.6).
    pub class_weight: f64,
    /// `reconWeight` of the perceptual loss (0.4).
    pub recon_weight: f64,
    /// `boneLenWeight` of the perceptual loss (0.7).
    pub bone_len_weight: f64,
}

impl Default for SmartAttack {
    fn default() -> Self {
        SmartAttack {
            lr: 1e-4,
            steps: 1,
            class_weight: 0.6,
            recon_weight: 0.4,
            bone_len_weight: 0.7,
        }
    }
}

/// `g / (‖g‖ + 1e-18)` per (sample, frame, body) over the V·C entries (the code's
/// normalisation in its (N·M, T, V·C) view).
pub fn normalize_per_frame(g: Tensor<5>) -> Tensor<5> {
    let norm = g.clone().square().sum_dim(1).sum_dim(3).sqrt() + 1e-18;
    g / norm
}

/// The code's `PercepertionLoss('acc-bone')` between the clean `x0` and `x`: a weighted
/// sum of the squared displacement, the joint-weighted squared difference of
/// accelerations (second differences at 30 fps) and the squared difference of squared
/// bone lengths, each averaged over the N·M skeleton sequences.
pub fn perceptual_loss(x0: Tensor<5>, x: Tensor<5>, recon: f64, bone_w: f64) -> Tensor<1> {
    let [n, _c, t, v, m] = x.dims();
    let nm = (n * m) as f64;
    let dev = x.device();
    let recon_loss = (x.clone() - x0.clone()).square().sum() / nm;
    let acc = |a: Tensor<5>| {
        let f = 30.0 * 30.0;
        (a.clone().slice(s![.., .., 2..t, .., ..])
            - a.clone().slice(s![.., .., 1..t - 1, .., ..]) * 2.0
            + a.slice(s![.., .., 0..t - 2, .., ..]))
            * f
    };
    // joints 11–15 (1-based) weigh 0.04, the others 0.02
    let w: Vec<f32> = (0..v)
        .map(|j| if (10..15).contains(&j) { 0.04 } else { 0.02 })
        .collect();
    let w = Tensor::<1>::from_data(TensorData::new(w, [v]), &dev).reshape([1, 1, 1, v, 1]);
    let acc_loss = if t >= 3 {
        ((acc(x0.clone()) - acc(x.clone())).square().sum_dim(1) * w).sum() / nm
    } else {
        Tensor::zeros([1], &dev)
    };
    let ia: Vec<i64> = EDGES.iter().map(|e| e.0 as i64 - 1).collect();
    let ib: Vec<i64> = EDGES.iter().map(|e| e.1 as i64 - 1).collect();
    let ia = Tensor::<1, Int>::from_data(TensorData::new(ia, [EDGES.len()]), &dev);
    let ib = Tensor::<1, Int>::from_data(TensorData::new(ib, [EDGES.len()]), &dev);
    let bone_len = |a: Tensor<5>| {
        (a.clone().select(3, ia.clone()) - a.select(3, ib.clone()))
            .square()
            .sum_dim(1)
    };
    let bone_loss = if v == 25 {
        (bone_len(x0) - bone_len(x)).square().sum() / nm
    } else {
        Tensor::zeros([1], &dev)
    };
    bone_loss * ((1.0 - recon) * bone_w)
        + acc_loss * ((1.0 - recon) * (1.0 - bone_w))
        + recon_loss * recon
}

/// The public code's attack: pseudo-labels = argmax of the (never trained) attack head on
/// the clean input; each iteration takes the gradient of −CE to them (pushing the input
/// away from its predicted class) and of the perceptual loss, normalises both per frame,
/// mixes them 0.6/0.4 and takes one step of a *fresh* Keras-style Adam
/// (`x − lr·√(1−β2)/(1−β1)·m/(√v+1e-8)`, i.e. ≈ `x − lr·sign(g)`). No ε clip. At the
/// first iteration `x = x0` and the perceptual gradient is exactly zero, so it is not
/// computed there.
pub fn smart_attack(
    enc: &Encoder,
    head: &Linear,
    x: Tensor<5>,
    cfg: &SmartAttack,
) -> (Tensor<5>, AttackReport) {
    let (b1, b2, adam_eps) = (0.9f64, 0.999f64, 1e-8f64);
    let x0 = x.detach();
    let labels = head
        .forward(enc.features(x0.clone()))
        .detach()
        .argmax(1)
        .flatten::<1>(0, 1);
    let mut xa = x0.clone();
    let mut report = AttackReport::default();
    for it in 0..cfg.steps.max(1) {
        let (loss, cg) = loss_and_grad(xa.clone(), |x| {
            cross_entropy(head.forward(enc.features(x)), labels.clone()).neg()
        });
        if it == 0 {
            report.loss_before = loss;
        }
        let mut g = normalize_per_frame(cg) * cfg.class_weight;
        if it > 0 {
            let (_, pg) = loss_and_grad(xa.clone(), |x| {
                perceptual_loss(x0.clone(), x, cfg.recon_weight, cfg.bone_len_weight)
            });
            g = g + normalize_per_frame(pg) * (1.0 - cfg.class_weight);
        }
        let m = g.clone() * (1.0 - b1);
        let v = g.square() * (1.0 - b2);
        let lr_t = cfg.lr * (1.0 - b2).sqrt() / (1.0 - b1);
        xa = (xa - m / (v.sqrt() + adam_eps) * lr_t).detach();
    }
    (report.linf, report.mean_abs) = delta_stats(&xa, &x0);
    report.loss_after = cross_entropy(head.forward(enc.features(xa.clone())), labels)
        .neg()
        .into_scalar::<f32>();
    (xa, report)
}

// ---------------------------------------------------------------------------------------
// PNM: the adversarial memory bank and the mixing of positives into negatives

/// Minus the gradient, w.r.t. the raw bank `w` (D, K), of the InfoNCE loss
/// `CE([q·k⁺, q·ŵ]/t, 0)` averaged over the N queries, where `ŵ` are the unit columns of
/// `w` (AdCo / the A2MC code, ML-FACTS §6.3):
///
/// `p = softmax([l_pos, l_neg]/t)[:, 1:]`,
/// `∇ = [(qᵀp)/N − mean_n(p ⊙ l_neg) ⊙ ŵ] / ‖w‖ / t`, returned as `−∇`.
///
/// Feeding it to [`super::blocks::MemoryBank::step`] (`W ← W − lr·v`) therefore moves the
/// bank *up* the contrastive loss: toward the queries, making the negatives harder.
/// `q` (N, D) and `l_pos` (N, 1) are detached by the caller.
pub fn bank_ascent_direction(q: Tensor<2>, l_pos: Tensor<2>, w: Tensor<2>, t: f64) -> Tensor<2> {
    let n = q.dims()[0] as f64;
    let col_norm = w.clone().square().sum_dim(0).sqrt(); // (1, K)
    let w_hat = w / col_norm.clone().clamp_min(1e-12);
    let l_neg = q.clone().matmul(w_hat.clone()); // (N, K)
    let p = softmax(Tensor::cat(vec![l_pos, l_neg.clone()], 1) / t, 1);
    let k = w_hat.dims()[1];
    let p = p.slice(s![.., 1..k + 1]);
    let g = q.transpose().matmul(p.clone()) / n - w_hat * (p * l_neg).mean_dim(0);
    (g / col_norm.clamp_min(1e-12) / t).neg()
}

/// Row r of the result is `q[r mod N]` (K, D): which anchor each bank entry is mixed with
/// (the code's `q.repeat(K // N, 1)`, without its requirement that N divides K).
pub fn anchors_for_bank(q: Tensor<2>, k: usize) -> Tensor<2> {
    let n = q.dims()[0];
    let idx: Vec<i64> = (0..k).map(|r| (r % n) as i64).collect();
    let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [k]), &q.device());
    q.select(0, idx)
}

/// The paper's positive–negative mixing (eq. 8): one hard negative per bank entry,
/// `m_r = λ·q[r mod N] + (1−λ)·n_r`, re-normalised to the unit sphere like every other
/// negative. `q` (N, D) are the positives of one view (detached: mixed negatives are
/// constants, as MoCHi's), `bank` (K, D) the unit negatives.
pub fn mix_negatives(q: Tensor<2>, bank: Tensor<2>, lambda: f64) -> Tensor<2> {
    let k = bank.dims()[0];
    let anchors = anchors_for_bank(q.detach(), k);
    l2_normalize(anchors * lambda + bank.detach() * (1.0 - lambda), 1).detach()
}

/// The public code's mixing loss (ML-FACTS §6.4), per logit set: for query i and every
/// bank entry r with r ≡ i (mod N), `m⁺ = (1−a)·q_i + a·d_r` is treated as a positive and
/// `m⁻ = b·q_i + (1−b)·d_r` as a negative, linearly (`log(exp(x))` in the code is `x`):
/// `−mean(q_i·m⁺)/t + mean(q_i·m⁻)/t`. Neither mixture is re-normalised and the gradient
/// flows through q in both places, as in the code. `bank` (K, D) unit rows.
pub fn code_mix_loss(q: Tensor<2>, bank: Tensor<2>, pos: f64, neg: f64, t: f64) -> Tensor<1> {
    let k = bank.dims()[0];
    let anchors = anchors_for_bank(q, k);
    let d = bank.detach();
    let m_pos = anchors.clone() * (1.0 - pos) + d.clone() * pos;
    let m_neg = anchors.clone() * neg + d * (1.0 - neg);
    let l_pos = (anchors.clone() * m_pos).sum_dim(1).mean() / t;
    let l_neg = (anchors * m_neg).sum_dim(1).mean() / t;
    l_neg - l_pos
}

// ---------------------------------------------------------------------------------------
// Appearance augmentation of a device batch

/// Apply the CPU augmentation `view` (the reference feeders' numpy ops, `learn::augment`)
/// to every sample of the batch `x`, sample i with an RNG seeded by `seeds[i]`, and put the
/// result back on `x`'s device. Used for the weak/strong augmentation of the attacked
/// skeletons. All frames count as valid (the batch is already crop-resized).
pub fn augment_batch(x: Tensor<5>, view: &[Aug], seeds: &[u64]) -> Tensor<5> {
    let [n, c, t, v, m] = x.dims();
    let dev = x.device();
    let data = x
        .detach()
        .into_data()
        .try_into_vec::<f32>()
        .expect("f32 skeletons");
    let per = c * t * v * m;
    let out: Vec<Vec<f32>> = (0..n)
        .into_par_iter()
        .map(|i| {
            let clip = Clip::new(c, t, v, m, data[i * per..(i + 1) * per].to_vec());
            let mut rng = ChaCha8Rng::seed_from_u64(seeds[i]);
            let aug = apply_view(view, clip, t, &mut rng);
            assert_eq!(
                (aug.c, aug.t, aug.v, aug.m),
                (c, t, v, m),
                "appearance augmentation after the attack must keep the shape (no crops)"
            );
            aug.data
        })
        .collect();
    Tensor::<5>::from_data(TensorData::new(out.concat(), [n, c, t, v, m]), &dev)
}

/// Seeds of the per-sample RNGs of one augmentation call.
pub fn sample_seeds(seed: u64, step: u64, which: u64, indices: &[usize]) -> Vec<u64> {
    indices
        .iter()
        .map(|&i| derive_seed(seed, &[0xa2, step, which, i as u64]))
        .collect()
}
