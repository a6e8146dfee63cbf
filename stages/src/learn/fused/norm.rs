//! Batch normalisation with the batch's statistics and what follows it in a block —
//! dropout, a residual add, ReLU: `relu?(dropout?(bn(x)) + residual?)` — as one op.
//!
//! burn autodiffs `batch_norm_train` as one node already, but flex runs burn's generic
//! bodies: two transposing copies (`swap_dims` + `reshape`) and ~10 element-wise passes with
//! fresh buffers forward, as many backward — a tenth of an ST-GCN-16 step in `copy_2d_tiled`
//! alone (issue 13's profile). burn's `Dropout` then draws a full-size Bernoulli tensor with
//! ChaCha (another tenth) and keeps it as an f32 mask; the add and the ReLU are two more
//! passes each way. Flex's kernel here reads the input twice for the statistics and writes
//! the output once, with the dropout mask a counter-based hash of the element's index (the
//! backward redraws it instead of keeping it); the backward reads twice and writes once (twice
//! with a residual). Other backends compose burn's ops (the [`NormKernels`] default bodies).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::{BatchNorm, Dropout};
use burn::prelude::*;
use burn::tensor::{BoolDType, DType, Distribution, Int, IntDType, Scalar};
use rayon::prelude::*;
use wide::{bytemuck, f32x8, u32x8};

use super::{contiguous, f32s, tensor_of, zeros_f32};

/// (output, batch mean, biased batch variance); the statistics are (C).
pub type NormOutput<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);
/// (d x, d γ, d β, d residual when there is one).
pub type NormGrads<B> = (
    FloatTensor<B>,
    FloatTensor<B>,
    FloatTensor<B>,
    Option<FloatTensor<B>>,
);

/// What the op applies after the normalisation, besides the residual tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tail {
    pub dropout: Option<DropoutMask>,
    pub relu: bool,
}

/// Dropout as a function of the element's index in the (contiguous) tensor: element `i` is
/// kept, scaled by 1 / (1 − `prob`), where [`kept`]`(seed, i, threshold)`, else zeroed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutMask {
    pub prob: f64,
    pub seed: u64,
}

impl DropoutMask {
    /// `prob`·2²⁴, which the hash's top 24 bits must reach for the element to be kept.
    pub fn threshold(&self) -> u32 {
        (self.prob * (1u32 << 24) as f64).round() as u32
    }

    /// The factor element `index` is multiplied by: 1 / (1 − prob) or 0.
    pub fn value(&self, index: u64) -> f32 {
        MaskKernel::new(*self).one(index)
    }
}

/// A [`DropoutMask`] with its constants worked out once, for the kernels.
#[derive(Clone, Copy, Debug)]
struct MaskKernel {
    seed: u64,
    threshold: u32,
    scale: f32,
}

impl MaskKernel {
    fn new(mask: DropoutMask) -> MaskKernel {
        MaskKernel {
            seed: mask.seed,
            threshold: mask.threshold(),
            scale: (1.0 / (1.0 - mask.prob)) as f32,
        }
    }

    fn one(&self, index: u64) -> f32 {
        if kept(self.seed, index, self.threshold) {
            self.scale
        } else {
            0.0
        }
    }

    /// The factors of elements `index .. index + 8`: [`kept`] in eight u32 lanes.
    #[inline]
    fn eight(&self, index: u64) -> f32x8 {
        let high = (index >> 32) as u32;
        if high != ((index + 7) >> 32) as u32 {
            return f32x8::from(std::array::from_fn(|l| self.one(index + l as u64)));
        }
        let low = u32x8::splat(index as u32) + u32x8::from([0, 1, 2, 3, 4, 5, 6, 7]);
        let h = lowbias32x8(low ^ u32x8::splat(self.seed as u32));
        let h = lowbias32x8(h ^ u32x8::splat(second_key(self.seed, high)));
        let dropped = (h >> 8u32).simd_lt(u32x8::splat(self.threshold));
        bytemuck::cast(!dropped & u32x8::splat(self.scale.to_bits()))
    }
}

/// Whether element `index` survives dropout under `seed`: the top 24 bits of a 32-bit hash
/// (two rounds of Wellons' `lowbias32`, the seed's and the index's high halves mixed in
/// between) reach `threshold` (prob·2²⁴). 32-bit so that the compiler vectorises it.
pub fn kept(seed: u64, index: u64, threshold: u32) -> bool {
    let h = lowbias32(index as u32 ^ seed as u32);
    let h = lowbias32(h ^ second_key(seed, (index >> 32) as u32));
    h >> 8 >= threshold
}

/// What the second round mixes in: the seed's high half and the index's.
fn second_key(seed: u64, index_high: u32) -> u32 {
    (seed >> 32) as u32 ^ index_high.wrapping_mul(0x9E37_79B9)
}

fn lowbias32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

fn lowbias32x8(mut x: u32x8) -> u32x8 {
    x ^= x >> 16u32;
    x *= u32x8::splat(0x7feb_352d);
    x ^= x >> 15u32;
    x *= u32x8::splat(0x846c_a68b);
    x ^ (x >> 16u32)
}

#[backend_extension(Flex, LibTorch: cfg(feature = "tch"), Autodiff)]
pub trait NormOps: Backend {
    /// Batch norm of `x` (N, C, …) with its own statistics over every axis but C, scaled by
    /// `gamma` and shifted by `beta` (C); then `tail.dropout`, then ReLU when `tail.relu`.
    fn batch_norm_train_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        tail: Tail,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// [`NormOps::batch_norm_train_fused`] with `residual` (x's shape) added before the ReLU.
    fn batch_norm_train_fused_residual(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        epsilon: f64,
        tail: Tail,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// What the backward needs besides x and the upstream gradient.
#[derive(Clone, Debug)]
pub struct NormSaved<B: Backend> {
    /// The op's output, for the ReLU's mask (when there is a ReLU).
    pub y: Option<FloatTensor<B>>,
    pub gamma: FloatTensor<B>,
    pub mean: FloatTensor<B>,
    pub variance: FloatTensor<B>,
    pub epsilon: f64,
    pub dropout: Option<DropoutMask>,
    /// Whether the residual's gradient is wanted.
    pub residual: bool,
}

/// The forward and backward kernels behind [`NormOps`].
pub trait NormKernels: Backend {
    fn norm_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        residual: Option<FloatTensor<Self>>,
        epsilon: f64,
        tail: Tail,
    ) -> NormOutput<Self> {
        composite_forward::<Self>(x, gamma, beta, residual, epsilon, tail)
    }

    /// Gradients from `dy`.
    fn norm_backward(
        x: FloatTensor<Self>,
        saved: NormSaved<Self>,
        dy: FloatTensor<Self>,
    ) -> NormGrads<Self> {
        composite_backward::<Self>(x, saved, dy)
    }
}

/// The dropout mask of a tensor shaped like `like`, computed on its device: [`kept`] in i64
/// integer ops (each product's low 32 bits kept by a mask), so a GPU backend draws the same
/// mask as flex's kernel without a host round trip.
fn device_mask<B: Backend>(like: &FloatTensor<B>, mask: DropoutMask) -> FloatTensor<B> {
    const LOW: i64 = 0xFFFF_FFFF;
    let int = Scalar::Int;
    let shift = |x: IntTensor<B>, by: i64| B::bitwise_right_shift_scalar(x, int(by));
    let low_product =
        |x: IntTensor<B>, by: i64| B::bitwise_and_scalar(B::int_mul_scalar(x, int(by)), int(LOW));
    let lowbias32 = |x: IntTensor<B>| {
        let x = B::bitwise_xor(x.clone(), shift(x, 16));
        let x = low_product(x, 0x7feb_352d);
        let x = B::bitwise_xor(x.clone(), shift(x, 15));
        let x = low_product(x, 0x846c_a68b);
        B::bitwise_xor(x.clone(), shift(x, 16))
    };
    let shape = like.shape();
    let n = shape.num_elements() as i64;
    let index = B::int_arange(0..n, &like.device(), IntDType::I64);
    let low = B::bitwise_and_scalar(index.clone(), int(LOW));
    let h = lowbias32(B::bitwise_xor_scalar(low, int(mask.seed as i64 & LOW)));
    // second_key: the seed's high half ^ the index's high half · 0x9E3779B9 (low 32 bits)
    let key = low_product(shift(index, 32), 0x9E37_79B9);
    let key = B::bitwise_xor_scalar(key, int((mask.seed >> 32) as i64));
    let h = lowbias32(B::bitwise_xor(h, key));
    let threshold = int(mask.threshold() as i64);
    let kept = B::int_greater_equal_elem(shift(h, 8), threshold, BoolDType::Native);
    let scale = Scalar::Float(1.0 / (1.0 - mask.prob));
    let factors = B::float_mul_scalar(B::bool_into_float(kept, like.dtype().into()), scale);
    B::float_reshape(factors, shape)
}

fn composite_forward<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    residual: Option<FloatTensor<B>>,
    epsilon: f64,
    tail: Tail,
) -> NormOutput<B> {
    let r = B::batch_norm_train(x, gamma, beta, epsilon);
    let mut y = r.output;
    if let Some(mask) = tail.dropout {
        y = B::float_mul(device_mask::<B>(&y, mask), y);
    }
    if let Some(residual) = residual {
        y = B::float_add(y, residual);
    }
    if tail.relu {
        y = B::relu(y);
    }
    (y, r.mean, r.variance)
}

fn composite_backward<B: Backend>(
    x: FloatTensor<B>,
    saved: NormSaved<B>,
    dy: FloatTensor<B>,
) -> NormGrads<B> {
    let g = match saved.y {
        Some(y) => B::relu_backward(y, dy),
        None => dy,
    };
    let d_residual = saved.residual.then(|| g.clone());
    let g = match saved.dropout {
        Some(mask) => B::float_mul(device_mask::<B>(&g, mask), g),
        None => g,
    };
    let r =
        B::batch_norm_train_backward(x, saved.gamma, saved.mean, saved.variance, saved.epsilon, g);
    (r.x_grad, r.gamma_grad, r.beta_grad, d_residual)
}

/// What follows a batch norm in [`batch_norm_then`]: `relu?(dropout?(bn(x)) + residual?)`.
pub struct Then<'a, const D: usize> {
    pub dropout: Option<&'a Dropout>,
    pub residual: Option<Tensor<D>>,
    pub relu: bool,
}

/// `bn` on `x` (N, C, …), then ReLU when `relu` ([`batch_norm_then`] without the rest).
pub fn batch_norm<const D: usize>(bn: &BatchNorm, x: Tensor<D>, relu: bool) -> Tensor<D> {
    let then = Then {
        dropout: None,
        residual: None,
        relu,
    };
    batch_norm_then(bn, x, then)
}

/// `bn` on `x` (N, C, …), then `then`: through the fused op while `bn` trains on an autodiff
/// device (the batch's statistics, the running ones updated as burn's `BatchNorm::forward`
/// does; the dropout layer's mask drawn by the op when the layer would drop), through burn's
/// layers otherwise (running statistics; dropout as the layer decides).
pub fn batch_norm_then<const D: usize>(bn: &BatchNorm, x: Tensor<D>, then: Then<D>) -> Tensor<D> {
    let Then {
        dropout,
        residual,
        relu,
    } = then;
    if !(x.device().is_autodiff() && bn.training.is_enabled()) || burns_batch_norm() {
        let mut y = bn.forward(x);
        if let Some(dropout) = dropout {
            y = dropout.forward(y);
        }
        if let Some(residual) = residual {
            y = y + residual;
        }
        return if relu {
            burn::tensor::activation::relu(y)
        } else {
            y
        };
    }
    let device = x.device();
    let dropout = dropout
        .filter(|d| d.training.is_enabled() && d.prob > 0.0)
        .map(|d| DropoutMask {
            prob: d.prob,
            seed: draw_seed(&device),
        });
    let tail = Tail { dropout, relu };
    let (y, mean, variance) =
        batch_norm_train_tail(x, bn.gamma.val(), bn.beta.val(), residual, bn.epsilon, tail);
    let momentum = bn.momentum;
    let update = |running: &burn::module::RunningState<Tensor<1>>, batch: Tensor<1>| {
        let value = running.value_sync().to_device(&device);
        let value = value.mul_scalar(1.0 - momentum) + batch.detach().mul_scalar(momentum);
        running.update(value.detach());
    };
    update(&bn.running_mean, mean);
    update(&bn.running_var, variance);
    y
}

/// [`NormOps`] on tensors: `relu?(dropout?(bn(x)) + residual?)` with the batch's statistics,
/// and those statistics (mean, biased variance).
pub fn batch_norm_train_tail<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    residual: Option<Tensor<D>>,
    epsilon: f64,
    tail: Tail,
) -> (Tensor<D>, Tensor<1>, Tensor<1>) {
    if let Some(r) = &residual {
        assert_eq!(
            r.dims(),
            x.dims(),
            "the residual added after a batch norm has x's shape"
        );
    }
    let (x, gamma, beta) = (
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
    );
    let (y, mean, variance) = match residual {
        None => <Dispatch as NormOps>::batch_norm_train_fused(x, gamma, beta, epsilon, tail),
        Some(r) => <Dispatch as NormOps>::batch_norm_train_fused_residual(
            x,
            gamma,
            beta,
            r.into_dispatch(),
            epsilon,
            tail,
        ),
    };
    (
        Tensor::from_dispatch(y),
        Tensor::from_dispatch(mean),
        Tensor::from_dispatch(variance),
    )
}

/// A dropout seed from the device's RNG, so that `Device::seed` makes the masks reproducible:
/// two 30-bit draws (the device's Int may be i32).
fn draw_seed(device: &Device) -> u64 {
    let draws = Tensor::<1, Int>::random([2], Distribution::Uniform(0.0, 2f64.powi(30)), device)
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .expect("two draws");
    ((draws[0] as u64) << 30) ^ draws[1] as u64
}

/// `SKELFLOW_BN=burn`: burn's `BatchNorm` (and `Dropout`, add, ReLU) instead of the fused op
/// (a benchmark knob).
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
                tail: Tail,
            ) -> NormOutput<Self> {
                Self::norm_forward(x, gamma, beta, None, epsilon, tail)
            }

            fn batch_norm_train_fused_residual(
                x: FloatTensor<Self>,
                gamma: FloatTensor<Self>,
                beta: FloatTensor<Self>,
                residual: FloatTensor<Self>,
                epsilon: f64,
                tail: Tail,
            ) -> NormOutput<Self> {
                Self::norm_forward(x, gamma, beta, Some(residual), epsilon, tail)
            }
        }
    };
}

forward_only!(Flex);
#[cfg(feature = "tch")]
forward_only!(burn::backend::LibTorch);

#[cfg(feature = "tch")]
impl NormKernels for burn::backend::LibTorch {}

/// The backward step; `N` is 4 with a residual (x, γ, β, residual), else 3.
#[derive(Debug)]
struct NormBackward<const N: usize>;

#[derive(Clone, Debug)]
struct NormTape<B: Backend> {
    x: FloatTensor<B>,
    saved: NormSaved<B>,
}

impl<B: NormKernels, const N: usize> Backward<B, N> for NormBackward<N> {
    type State = NormTape<B>;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let NormTape { x, saved } = ops.state;
        let (dx, dgamma, dbeta, d_residual) = B::norm_backward(x, saved, dy);
        let all = [Some(dx), Some(dgamma), Some(dbeta), d_residual];
        for (parent, grad) in ops.parents.into_iter().zip(all) {
            if let (Some(node), Some(grad)) = (parent, grad) {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

/// The inputs of one fused batch norm on the inner backend.
struct NormInputs<B: Backend> {
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    residual: Option<FloatTensor<B>>,
}

/// Runs the op on the inner backend and records its backward step over `guards`.
fn record<B, C, const N: usize>(
    guards: [NodeGuard; N],
    inputs: NormInputs<B>,
    epsilon: f64,
    tail: Tail,
) -> NormOutput<Autodiff<B, C>>
where
    B: NormKernels,
    C: CheckpointStrategy,
    NormBackward<N>: Backward<B, N, State = NormTape<B>>,
{
    let NormInputs {
        x,
        gamma,
        beta,
        residual,
    } = inputs;
    let (y, mean, variance) = match NormBackward::<N>
        .prepare::<C>(guards)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let has_residual = residual.is_some();
            let (y, mean, variance) =
                B::norm_forward(x.clone(), gamma.clone(), beta, residual, epsilon, tail);
            let saved = NormSaved {
                y: tail.relu.then(|| y.clone()),
                gamma,
                mean: mean.clone(),
                variance: variance.clone(),
                epsilon,
                dropout: tail.dropout,
                residual: has_residual,
            };
            (prep.finish(NormTape { x, saved }, y), mean, variance)
        }
        OpsKind::UnTracked(prep) => {
            let (y, mean, variance) = B::norm_forward(x, gamma, beta, residual, epsilon, tail);
            (prep.finish(y), mean, variance)
        }
    };
    (
        y,
        FloatTensor::<Autodiff<B, C>>::new(mean),
        FloatTensor::<Autodiff<B, C>>::new(variance),
    )
}

impl<B: NormOps + NormKernels, C: CheckpointStrategy> NormOps for Autodiff<B, C> {
    fn batch_norm_train_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        tail: Tail,
    ) -> NormOutput<Self> {
        let [(x, gx), (gamma, gg), (beta, gb)] = [x, gamma, beta].map(|t| t.into_parts());
        let inputs = NormInputs {
            x,
            gamma,
            beta,
            residual: None,
        };
        record::<B, C, 3>([gx, gg, gb], inputs, epsilon, tail)
    }

    fn batch_norm_train_fused_residual(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        epsilon: f64,
        tail: Tail,
    ) -> NormOutput<Self> {
        let [(x, gx), (gamma, gg), (beta, gb), (residual, gr)] =
            [x, gamma, beta, residual].map(|t| t.into_parts());
        let inputs = NormInputs {
            x,
            gamma,
            beta,
            residual: Some(residual),
        };
        record::<B, C, 4>([gx, gg, gb, gr], inputs, epsilon, tail)
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
        residual: Option<FlexTensor>,
        epsilon: f64,
        tail: Tail,
    ) -> NormOutput<Flex> {
        if x.dtype() != DType::F32 {
            return composite_forward::<Flex>(x, gamma, beta, residual, epsilon, tail);
        }
        let (n, c, s) = runs(&x);
        let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
        let residual = residual.map(contiguous);
        let (xs, rs) = (f32s(&x), residual.as_ref().map(f32s));
        let (mean, variance) = channel_stats(xs, n, c, s);
        // y = x·scale + shift per channel
        let (scale, shift): (Vec<f32>, Vec<f32>) = (0..c)
            .map(|ch| {
                let scale = f32s(&gamma)[ch] / (variance[ch] as f64 + epsilon).sqrt() as f32;
                (scale, f32s(&beta)[ch] - mean[ch] * scale)
            })
            .unzip();
        let (dropout, relu) = (tail.dropout.map(MaskKernel::new), tail.relu);
        let mut y = zeros_f32(x.shape());
        y.storage_mut::<f32>()
            .par_chunks_exact_mut(s)
            .zip(xs.par_chunks_exact(s))
            .enumerate()
            .with_min_len(min_runs(s))
            .for_each(|(run, (y, x))| {
                let ch = run % c;
                let base = (run * s) as u64;
                let r = rs.map(|r| &r[run * s..(run + 1) * s]);
                let (a, b) = (f32x8::splat(scale[ch]), f32x8::splat(shift[ch]));
                // ReLU as a select on `y < 0`, which keeps a NaN (a max would drop it, and
                // with it training's NaN-loss check)
                let eight = |j: usize| {
                    let mut v = lanes(x, j) * a + b;
                    if let Some(mask) = dropout {
                        v *= mask.eight(base + j as u64);
                    }
                    if let Some(r) = r {
                        v += lanes(r, j);
                    }
                    if relu {
                        v.simd_lt(f32x8::ZERO).select(f32x8::ZERO, v)
                    } else {
                        v
                    }
                };
                let one = |j: usize| {
                    let mut v = x[j] * scale[ch] + shift[ch];
                    if let Some(mask) = dropout {
                        v *= mask.one(base + j as u64);
                    }
                    if let Some(r) = r {
                        v += r[j];
                    }
                    if relu && v < 0.0 { 0.0 } else { v }
                };
                fill_lanes(y, eight, one);
            });
        (y, tensor_of(mean, [c]), tensor_of(variance, [c]))
    }

    fn norm_backward(x: FlexTensor, saved: NormSaved<Flex>, dy: FlexTensor) -> NormGrads<Flex> {
        if x.dtype() != DType::F32 {
            return composite_backward::<Flex>(x, saved, dy);
        }
        let NormSaved {
            y,
            gamma,
            mean,
            variance,
            epsilon,
            dropout,
            residual,
        } = saved;
        let (n, c, s) = runs(&x);
        let (x, dy, y) = (contiguous(x), contiguous(dy), y.map(contiguous));
        let (gamma, mean, variance) = (contiguous(gamma), contiguous(mean), contiguous(variance));
        let (xs, dys, ys) = (f32s(&x), f32s(&dy), y.as_ref().map(f32s));
        let (mean, variance, gamma) = (f32s(&mean), f32s(&variance), f32s(&gamma));
        let dropout = dropout.map(MaskKernel::new);
        let run_grad = |run: usize| {
            let at = run * s..(run + 1) * s;
            TailGrad {
                dy: &dys[at.clone()],
                y: ys.map(|y| &y[at]),
                dropout,
                base: (run * s) as u64,
            }
        };
        // Σ g and Σ g·(x − mean) per channel, g the normalised output's gradient
        let sums: Vec<(f64, f64)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let (mut sum_g, mut sum_gx) = (0f64, 0f64);
                for i in 0..n {
                    let run = i * c + ch;
                    let x = &xs[run * s..(run + 1) * s];
                    let (g, gx) = run_grad(run).sums(x, mean[ch]);
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
        // one run's d x, and its d residual (the gradient past the ReLU) when wanted
        let write = |run: usize, dx: &mut [f32], mut dr: Option<&mut [f32]>| {
            let (a, b, k) = coefficients[run % c];
            let x = &xs[run * s..(run + 1) * s];
            let grad = run_grad(run);
            let (av, bv, kv) = (f32x8::splat(a), f32x8::splat(b), f32x8::splat(k));
            let whole = s / 8 * 8;
            for j in (0..whole).step_by(8) {
                let (g, gm) = grad.lanes(j);
                dx[j..j + 8].copy_from_slice(&(av * gm + bv * lanes(x, j) + kv).to_array());
                if let Some(dr) = dr.as_deref_mut() {
                    dr[j..j + 8].copy_from_slice(&g.to_array());
                }
            }
            for j in whole..s {
                let (g, gm) = grad.one(j);
                dx[j] = a * gm + b * x[j] + k;
                if let Some(dr) = dr.as_deref_mut() {
                    dr[j] = g;
                }
            }
        };
        let mut dx = zeros_f32(x.shape());
        let dx_runs = dx.storage_mut::<f32>().par_chunks_exact_mut(s).enumerate();
        let d_residual = if residual {
            let mut dr = zeros_f32(x.shape());
            dx_runs
                .zip(dr.storage_mut::<f32>().par_chunks_exact_mut(s))
                .with_min_len(min_runs(s))
                .for_each(|((run, dx), dr)| write(run, dx, Some(dr)));
            Some(dr)
        } else {
            dx_runs
                .with_min_len(min_runs(s))
                .for_each(|(run, dx)| write(run, dx, None));
            None
        };
        let dgamma: Vec<f32> = (0..c)
            .map(|ch| (sums[ch].1 / (variance[ch] as f64 + epsilon).sqrt()) as f32)
            .collect();
        let dbeta: Vec<f32> = sums.iter().map(|&(g, _)| g as f32).collect();
        (
            dx,
            tensor_of(dgamma, [c]),
            tensor_of(dbeta, [c]),
            d_residual,
        )
    }
}

/// The upstream gradient of one run through the op's tail: `g` where the ReLU's output `y`
/// passed (the residual's gradient), and `g`·mask, the normalised output's.
struct TailGrad<'a> {
    dy: &'a [f32],
    y: Option<&'a [f32]>,
    dropout: Option<MaskKernel>,
    /// The run's first element's index in the tensor (the dropout mask's counter).
    base: u64,
}

impl TailGrad<'_> {
    #[inline]
    fn lanes(&self, j: usize) -> (f32x8, f32x8) {
        let mut g = lanes(self.dy, j);
        if let Some(y) = self.y {
            g = lanes(y, j).simd_le(f32x8::ZERO).select(f32x8::ZERO, g);
        }
        match self.dropout {
            Some(mask) => (g, g * mask.eight(self.base + j as u64)),
            None => (g, g),
        }
    }

    fn one(&self, j: usize) -> (f32, f32) {
        let g = match self.y {
            Some(y) if y[j] <= 0.0 => 0.0,
            _ => self.dy[j],
        };
        match self.dropout {
            Some(mask) => (g, g * mask.one(self.base + j as u64)),
            None => (g, g),
        }
    }

    /// (Σ g·mask, Σ g·mask·(x − mean)) over the run.
    fn sums(&self, x: &[f32], mean: f32) -> (f64, f64) {
        let centre = f32x8::splat(mean);
        let (mut sum_g, mut sum_gx) = (f32x8::ZERO, f32x8::ZERO);
        let whole = x.len() / 8 * 8;
        for j in (0..whole).step_by(8) {
            let g = self.lanes(j).1;
            sum_g += g;
            sum_gx += g * (lanes(x, j) - centre);
        }
        let (mut tail_g, mut tail_gx) = (0f32, 0f32);
        for j in whole..x.len() {
            let g = self.one(j).1;
            tail_g += g;
            tail_gx += g * (x[j] - mean);
        }
        (
            (sum_g.reduce_add() + tail_g) as f64,
            (sum_gx.reduce_add() + tail_gx) as f64,
        )
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

/// Eight values of `s` from `j`.
fn lanes(s: &[f32], j: usize) -> f32x8 {
    f32x8::from(<[f32; 8]>::try_from(&s[j..j + 8]).expect("eight"))
}

/// `out[j] = eight(j)` eight lanes at a time, `one(j)` on the tail.
fn fill_lanes(out: &mut [f32], eight: impl Fn(usize) -> f32x8, one: impl Fn(usize) -> f32) {
    let whole = out.len() / 8 * 8;
    for j in (0..whole).step_by(8) {
        out[j..j + 8].copy_from_slice(&eight(j).to_array());
    }
    for (j, o) in out.iter_mut().enumerate().skip(whole) {
        *o = one(j);
    }
}
