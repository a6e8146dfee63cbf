//! Dropout as one op whose mask is a counter-based draw from a seed: the backward redraws it
//! instead of keeping it. burn's `Dropout` draws a full-size Bernoulli tensor with ChaCha per
//! element (~7 % of an ST-GCN-16 step on flex) and keeps it for the backward (one f32 mask
//! per block).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::Dropout;
use burn::prelude::*;
use burn::tensor::{DType, Distribution, Int};
use rayon::prelude::*;

#[backend_extension(Flex, LibTorch: cfg(feature = "tch"), Autodiff)]
pub trait DropoutOps: Backend {
    /// `x` with element `i` scaled by 1 / (1 - `prob`) where [`kept`]`(seed, i, prob)`, else 0.
    fn seeded_dropout(x: FloatTensor<Self>, prob: f64, seed: u64) -> FloatTensor<Self> {
        times_host_mask::<Self>(x, prob, seed)
    }
}

/// The composite: the scaled mask built on the host, uploaded, multiplied.
fn times_host_mask<B: Backend>(x: FloatTensor<B>, prob: f64, seed: u64) -> FloatTensor<B> {
    let shape = x.shape();
    let scale = (1.0 / (1.0 - prob)) as f32;
    let mask: Vec<f32> = (0..shape.num_elements() as u64)
        .map(|i| if kept(seed, i, prob) { scale } else { 0.0 })
        .collect();
    let mask = B::float_from_data(TensorData::new(mask, shape), &x.device());
    B::float_mul(x.clone(), B::float_cast(mask, x.dtype().into()))
}

/// Whether element `index` survives dropout at `prob` under `seed`: the top 24 bits of a
/// SplitMix64 hash of (seed, index), compared with prob·2²⁴.
pub fn kept(seed: u64, index: u64, prob: f64) -> bool {
    let mut z = seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 40) >= (prob * (1u64 << 24) as f64) as u64
}

/// burn's `Dropout::forward` (the same conditions: the layer's training flag, an autodiff
/// device, p > 0) through [`DropoutOps::seeded_dropout`], the seed drawn from the device's
/// RNG so that `Device::seed` makes it reproducible.
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    if !layer.training.is_enabled() || !x.device().is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    // two 30-bit draws (the device's Int is i32)
    let draws =
        Tensor::<1, Int>::random([2], Distribution::Uniform(0.0, 2f64.powi(30)), &x.device());
    let draws = draws
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .expect("two draws");
    seeded_dropout(x, layer.prob, ((draws[0] as u64) << 30) ^ draws[1] as u64)
}

/// [`DropoutOps::seeded_dropout`] on a tensor.
pub fn seeded_dropout<const D: usize>(x: Tensor<D>, prob: f64, seed: u64) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as DropoutOps>::seeded_dropout(
        x.into_dispatch(),
        prob,
        seed,
    ))
}

#[cfg(feature = "tch")]
impl DropoutOps for burn::backend::LibTorch {}

impl DropoutOps for Flex {
    fn seeded_dropout(x: FlexTensor, prob: f64, seed: u64) -> FlexTensor {
        if x.dtype() != DType::F32 {
            return times_host_mask::<Self>(x, prob, seed);
        }
        let x = if x.as_slice::<f32>().is_some() {
            x
        } else {
            x.to_contiguous()
        };
        let scale = (1.0 / (1.0 - prob)) as f32;
        let mut out = FlexTensor::empty(x.shape(), DType::F32);
        let input = x.as_slice::<f32>().expect("contiguous");
        const BLOCK: usize = 1 << 16;
        out.storage_mut::<f32>()
            .par_chunks_mut(BLOCK)
            .zip(input.par_chunks(BLOCK))
            .enumerate()
            .for_each(|(b, (out, input))| {
                let base = (b * BLOCK) as u64;
                for (j, (o, v)) in out.iter_mut().zip(input).enumerate() {
                    *o = if kept(seed, base + j as u64, prob) {
                        v * scale
                    } else {
                        0.0
                    };
                }
            });
        out
    }
}

#[derive(Debug)]
struct SeededDropoutBackward;

impl<B: DropoutOps> Backward<B, 1> for SeededDropoutBackward {
    /// (prob, seed): the mask is redrawn, not kept.
    type State = (f64, u64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (prob, seed) = ops.state;
        if let [Some(parent)] = ops.parents {
            grads.register::<B>(parent.id, B::seeded_dropout(grad, prob, seed));
        }
    }
}

impl<B: DropoutOps, C: CheckpointStrategy> DropoutOps for Autodiff<B, C> {
    fn seeded_dropout(x: FloatTensor<Self>, prob: f64, seed: u64) -> FloatTensor<Self> {
        let (x, guard) = x.into_parts();
        let out = B::seeded_dropout(x, prob, seed);
        match SeededDropoutBackward
            .prepare::<C>([guard])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((prob, seed), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}
