//! Batch normalisation with the batch's statistics, optionally followed by ReLU, as one op.
//!
//! burn autodiffs `batch_norm_train` as one node already, but flex runs burn's generic
//! bodies: two transposing copies (`swap_dims` + `reshape`) and ~10 element-wise passes with
//! fresh buffers forward, as many backward — a tenth of an ST-GCN-16 step in `copy_2d_tiled`
//! alone (issue 13's profile). Flex's kernel here reads the input twice for the statistics
//! and writes the output once; the backward reads twice and writes once. Other backends
//! compose burn's ops (the [`NormKernels`] default bodies).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;
use wide::f32x8;

use super::{contiguous, f32s};

/// (output, batch mean, biased batch variance); the statistics are (C).
pub type NormOutput<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);
/// (d x, d γ, d β).
pub type NormGrads<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

#[backend_extension(Flex, LibTorch: cfg(feature = "tch"), Autodiff)]
pub trait NormOps: Backend {
    /// Batch norm of `x` (N, C, …) with its own statistics over every axis but C, scaled by
    /// `gamma` and shifted by `beta` (C), then ReLU when `relu`.
    fn batch_norm_train_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// The forward and backward kernels behind [`NormOps`].
pub trait NormKernels: Backend {
    fn norm_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> NormOutput<Self> {
        composite_forward::<Self>(x, gamma, beta, epsilon, relu)
    }

    /// Gradients from `dy`; `y` is the op's output (its ReLU mask) when `relu`.
    #[allow(clippy::too_many_arguments)]
    fn norm_backward(
        x: FloatTensor<Self>,
        y: Option<FloatTensor<Self>>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        dy: FloatTensor<Self>,
    ) -> NormGrads<Self> {
        composite_backward::<Self>(x, y, gamma, mean, variance, epsilon, dy)
    }
}

fn composite_forward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
    relu: bool,
) -> NormOutput<B> {
    let r = B::batch_norm_train(x, gamma, beta, epsilon);
    let y = if relu { B::relu(r.output) } else { r.output };
    (y, r.mean, r.variance)
}

fn composite_backward<B: Backend>(
    x: FloatTensor<B>,
    y: Option<FloatTensor<B>>,
    gamma: FloatTensor<B>,
    mean: FloatTensor<B>,
    variance: FloatTensor<B>,
    epsilon: f64,
    dy: FloatTensor<B>,
) -> NormGrads<B> {
    let dy = match y {
        Some(y) => B::relu_backward(y, dy),
        None => dy,
    };
    let r = B::batch_norm_train_backward(x, gamma, mean, variance, epsilon, dy);
    (r.x_grad, r.gamma_grad, r.beta_grad)
}

/// `bn` on `x` (N, C, …), then ReLU when `relu`: with the batch's statistics through the
/// fused op while `bn` trains on an autodiff device (updating its running statistics as
/// burn's `BatchNorm::forward` does), with the running statistics otherwise.
pub fn batch_norm<const D: usize>(bn: &BatchNorm, x: Tensor<D>, relu: bool) -> Tensor<D> {
    if !(x.device().is_autodiff() && bn.training.is_enabled()) || burns_batch_norm() {
        let y = bn.forward(x);
        return if relu {
            burn::tensor::activation::relu(y)
        } else {
            y
        };
    }
    let device = x.device();
    let (y, mean, variance) = <Dispatch as NormOps>::batch_norm_train_fused(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
        relu,
    );
    let momentum = bn.momentum;
    let update = |running: &burn::module::RunningState<Tensor<1>>, batch: Tensor<1>| {
        let value = running.value_sync().to_device(&device);
        let value = value.mul_scalar(1.0 - momentum) + batch.detach().mul_scalar(momentum);
        running.update(value.detach());
    };
    update(&bn.running_mean, Tensor::from_dispatch(mean));
    update(&bn.running_var, Tensor::from_dispatch(variance));
    Tensor::from_dispatch(y)
}

/// `SKELFLOW_BN=burn`: burn's `BatchNorm` instead of the fused op (a benchmark knob).
fn burns_batch_norm() -> bool {
    static BURN: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *BURN.get_or_init(|| std::env::var("SKELFLOW_BN").as_deref() == Ok("burn"))
}

macro_rules! forward_only {
    ($backend:ty) => {
        impl NormOps for $backend {
            fn batch_norm_train_fused(
                x: FloatTensor<Self>,
                gamma: FloatTensor<Self>,
                beta: FloatTensor<Self>,
                epsilon: f64,
                relu: bool,
            ) -> NormOutput<Self> {
                Self::norm_forward(x, gamma, beta, epsilon, relu)
            }
        }
    };
}

forward_only!(Flex);
#[cfg(feature = "tch")]
forward_only!(burn::backend::LibTorch);

#[cfg(feature = "tch")]
impl NormKernels for burn::backend::LibTorch {}

#[derive(Debug)]
struct NormBackward;

#[derive(Clone, Debug)]
struct NormTape<B: Backend> {
    x: FloatTensor<B>,
    /// The output, kept for the ReLU mask.
    y: Option<FloatTensor<B>>,
    gamma: FloatTensor<B>,
    mean: FloatTensor<B>,
    variance: FloatTensor<B>,
    epsilon: f64,
}

impl<B: NormKernels> Backward<B, 3> for NormBackward {
    type State = NormTape<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let NormTape {
            x,
            y,
            gamma,
            mean,
            variance,
            epsilon,
        } = ops.state;
        let (dx, dgamma, dbeta) = B::norm_backward(x, y, gamma, mean, variance, epsilon, dy);
        for (parent, grad) in ops.parents.into_iter().zip([dx, dgamma, dbeta]) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: NormOps + NormKernels, C: CheckpointStrategy> NormOps for Autodiff<B, C> {
    fn batch_norm_train_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        relu: bool,
    ) -> NormOutput<Self> {
        let [(x, gx), (gamma, gg), (beta, gb)] = [x, gamma, beta].map(|t| t.into_parts());
        let (y, mean, variance) = match NormBackward
            .prepare::<C>([gx, gg, gb])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, mean, variance) =
                    B::norm_forward(x.clone(), gamma.clone(), beta, epsilon, relu);
                let tape = NormTape {
                    x,
                    y: relu.then(|| y.clone()),
                    gamma,
                    mean: mean.clone(),
                    variance: variance.clone(),
                    epsilon,
                };
                (prep.finish(tape, y), mean, variance)
            }
            OpsKind::UnTracked(prep) => {
                let (y, mean, variance) = B::batch_norm_train_fused(x, gamma, beta, epsilon, relu);
                (prep.finish(y), mean, variance)
            }
        };
        (
            y,
            FloatTensor::<Self>::new(mean),
            FloatTensor::<Self>::new(variance),
        )
    }
}

/// (N, C, S) of a tensor (N, C, …).
fn runs(t: &FlexTensor) -> (usize, usize, usize) {
    let dims = t.shape().to_vec();
    let (n, c) = (dims[0], dims[1]);
    (n, c, dims[2..].iter().product())
}

/// Runs of S values per rayon task: at least ~4096 values, so small maps stay on one task.
fn min_runs(s: usize) -> usize {
    4096usize.div_ceil(s.max(1))
}

impl NormKernels for Flex {
    fn norm_forward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        relu: bool,
    ) -> NormOutput<Flex> {
        if x.dtype() != DType::F32 {
            return composite_forward::<Flex>(x, gamma, beta, epsilon, relu);
        }
        let (n, c, s) = runs(&x);
        let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
        let xs = f32s(&x);
        let (mean, variance) = channel_stats(xs, n, c, s);
        // y = x·scale + shift per channel
        let (scale, shift): (Vec<f32>, Vec<f32>) = (0..c)
            .map(|ch| {
                let scale = f32s(&gamma)[ch] / (variance[ch] as f64 + epsilon).sqrt() as f32;
                (scale, f32s(&beta)[ch] - mean[ch] * scale)
            })
            .unzip();
        let mut y = FlexTensor::empty(x.shape(), DType::F32);
        y.storage_mut::<f32>()
            .par_chunks_exact_mut(s)
            .zip(xs.par_chunks_exact(s))
            .enumerate()
            .with_min_len(min_runs(s))
            .for_each(|(run, (y, x))| {
                let ch = run % c;
                let (a, b) = (f32x8::splat(scale[ch]), f32x8::splat(shift[ch]));
                // ReLU as a select on `y < 0`, which keeps a NaN (a max would drop it, and
                // with it training's NaN-loss check)
                let lanes = |v: f32x8| {
                    let y = v * a + b;
                    if relu {
                        y.simd_lt(f32x8::ZERO).select(f32x8::ZERO, y)
                    } else {
                        y
                    }
                };
                let scalar = |v: f32| {
                    let y = v * scale[ch] + shift[ch];
                    if relu && y < 0.0 { 0.0 } else { y }
                };
                map_lanes(y, x, lanes, scalar);
            });
        let stat = |v: Vec<f32>| FlexTensor::from_data(TensorData::new(v, [c]));
        (y, stat(mean), stat(variance))
    }

    fn norm_backward(
        x: FlexTensor,
        y: Option<FlexTensor>,
        gamma: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        dy: FlexTensor,
    ) -> NormGrads<Flex> {
        if x.dtype() != DType::F32 {
            return composite_backward::<Flex>(x, y, gamma, mean, variance, epsilon, dy);
        }
        let (n, c, s) = runs(&x);
        let (x, dy, y) = (contiguous(x), contiguous(dy), y.map(contiguous));
        let (gamma, mean, variance) = (contiguous(gamma), contiguous(mean), contiguous(variance));
        let (xs, dys, ys) = (f32s(&x), f32s(&dy), y.as_ref().map(f32s));
        let (mean, variance, gamma) = (f32s(&mean), f32s(&variance), f32s(&gamma));
        // g = dy where the output passed the ReLU; Σ g and Σ g·(x − mean) per channel
        let sums: Vec<(f64, f64)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let (mut sum_g, mut sum_gx) = (0f64, 0f64);
                for i in 0..n {
                    let at = (i * c + ch) * s..(i * c + ch + 1) * s;
                    let mask = ys.map(|y| &y[at.clone()]);
                    let (g, gx) = masked_sums(&dys[at.clone()], &xs[at], mask, mean[ch]);
                    sum_g += g;
                    sum_gx += gx;
                }
                (sum_g, sum_gx)
            })
            .collect();
        let m = (n * s) as f64;
        // dx = γ/σ · (g − Σg/m − (x − mean)/σ² · Σg(x − mean)/m) = a·g + b·x + k
        let coefficients: Vec<(f32, f32, f32)> = (0..c)
            .map(|ch| {
                let inv_std = 1.0 / (variance[ch] as f64 + epsilon).sqrt();
                let a = gamma[ch] as f64 * inv_std;
                let (sum_g, sum_gx) = sums[ch];
                let b = -a * inv_std * inv_std * sum_gx / m;
                let k = -a * sum_g / m - b * mean[ch] as f64;
                (a as f32, b as f32, k as f32)
            })
            .collect();
        let mut dx = FlexTensor::empty(x.shape(), DType::F32);
        dx.storage_mut::<f32>()
            .par_chunks_exact_mut(s)
            .enumerate()
            .with_min_len(min_runs(s))
            .for_each(|(run, dx)| {
                let (a, b, k) = coefficients[run % c];
                let at = run * s..(run + 1) * s;
                let (dy, x) = (&dys[at.clone()], &xs[at.clone()]);
                let mask = ys.map(|y| &y[at]);
                let (av, bv, kv) = (f32x8::splat(a), f32x8::splat(b), f32x8::splat(k));
                let whole = s / 8 * 8;
                for j in (0..whole).step_by(8) {
                    let g = masked(lanes(dy, j), mask.map(|y| lanes(y, j)));
                    let v = av * g + bv * lanes(x, j) + kv;
                    dx[j..j + 8].copy_from_slice(&v.to_array());
                }
                for j in whole..s {
                    dx[j] = a * masked_one(dy[j], mask.map(|y| y[j])) + b * x[j] + k;
                }
            });
        let dgamma: Vec<f32> = (0..c)
            .map(|ch| (sums[ch].1 / (variance[ch] as f64 + epsilon).sqrt()) as f32)
            .collect();
        let dbeta: Vec<f32> = sums.iter().map(|&(g, _)| g as f32).collect();
        let param = |v: Vec<f32>| FlexTensor::from_data(TensorData::new(v, [c]));
        (dx, param(dgamma), param(dbeta))
    }
}

/// Mean and biased variance per channel of (N, C, S) values, two passes, f64 across runs.
fn channel_stats(x: &[f32], n: usize, c: usize, s: usize) -> (Vec<f32>, Vec<f32>) {
    let m = (n * s) as f64;
    (0..c)
        .into_par_iter()
        .map(|ch| {
            let run = |i: usize| &x[(i * c + ch) * s..(i * c + ch + 1) * s];
            let mean = (0..n).map(|i| lane_sum(run(i), |v| v) as f64).sum::<f64>() / m;
            let centre = f32x8::splat(mean as f32);
            let var = (0..n)
                .map(|i| lane_sum(run(i), |v| (v - centre) * (v - centre)) as f64)
                .sum::<f64>()
                / m;
            (mean as f32, var as f32)
        })
        .unzip()
}

/// Σ f(v) over `values`, eight lanes at a time, the tail one by one.
fn lane_sum(values: &[f32], f: impl Fn(f32x8) -> f32x8) -> f32 {
    let whole = values.len() / 8 * 8;
    let mut acc = f32x8::ZERO;
    for j in (0..whole).step_by(8) {
        acc += f(lanes(values, j));
    }
    let tail: f32 = values[whole..]
        .iter()
        .map(|&v| f(f32x8::splat(v)).to_array()[0])
        .sum();
    acc.reduce_add() + tail
}

/// (Σ g, Σ g·(x − mean)) over a run, g = 0 where `mask` (the ReLU's output) is ≤ 0, else dy.
fn masked_sums(dy: &[f32], x: &[f32], mask: Option<&[f32]>, mean: f32) -> (f64, f64) {
    let centre = f32x8::splat(mean);
    let (mut sum_g, mut sum_gx) = (f32x8::ZERO, f32x8::ZERO);
    let whole = dy.len() / 8 * 8;
    for j in (0..whole).step_by(8) {
        let g = masked(lanes(dy, j), mask.map(|y| lanes(y, j)));
        sum_g += g;
        sum_gx += g * (lanes(x, j) - centre);
    }
    let (mut tail_g, mut tail_gx) = (0f32, 0f32);
    for j in whole..dy.len() {
        let g = masked_one(dy[j], mask.map(|y| y[j]));
        tail_g += g;
        tail_gx += g * (x[j] - mean);
    }
    (
        (sum_g.reduce_add() + tail_g) as f64,
        (sum_gx.reduce_add() + tail_gx) as f64,
    )
}

/// Eight values of `s` from `j`.
fn lanes(s: &[f32], j: usize) -> f32x8 {
    f32x8::from(<[f32; 8]>::try_from(&s[j..j + 8]).expect("eight"))
}

/// 0 where the ReLU's output `y` (if any) is ≤ 0, else `dy` (burn's `relu_backward`).
fn masked(dy: f32x8, y: Option<f32x8>) -> f32x8 {
    match y {
        Some(y) => y.simd_le(f32x8::ZERO).select(f32x8::ZERO, dy),
        None => dy,
    }
}

fn masked_one(dy: f32, y: Option<f32>) -> f32 {
    match y {
        Some(y) if y <= 0.0 => 0.0,
        _ => dy,
    }
}

/// `out[j] = f(x[j])`, eight lanes at a time, `scalar` on the tail.
fn map_lanes(out: &mut [f32], x: &[f32], f: impl Fn(f32x8) -> f32x8, scalar: impl Fn(f32) -> f32) {
    let whole = x.len() / 8 * 8;
    for j in (0..whole).step_by(8) {
        out[j..j + 8].copy_from_slice(&f(lanes(x, j)).to_array());
    }
    for j in whole..x.len() {
        out[j] = scalar(x[j]);
    }
}
