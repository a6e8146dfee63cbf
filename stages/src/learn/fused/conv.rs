//! ST-GCN's temporal convolution — a (kt, 1) kernel over T with zero padding and a stride —
//! as one op with its own backward.
//!
//! flex runs burn's `Conv2d` as NCHW → NHWC copy, im2col and GEMM per tile, its input
//! gradient as a transposed convolution and its weight gradient as burn's generic
//! `swap_dims` + convolution with the output map as the kernel (a tenth of an ST-GCN-16 step
//! in those conv paths, more in their layout copies). A (kt, 1) kernel over NCHW data needs
//! none of that: for tap k, output frame t' reads input frame t'·s + k − pad, so with stride
//! 1 the output columns of one sample are `W_k · X` over a contiguous column range of X
//! (C, T·V). Flex's kernel runs, per sample and in parallel over samples, kt accumulating
//! GEMMs on strided views (no copies) forward, kt for d x and kt for d W backward, d W
//! summed over samples per thread. A stride above 1 gathers the frames a tap reads first.
//! Other backends run burn's convolution ops (the [`ConvKernels`] default bodies).

use std::ops::Range;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::{ConvOptions, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

use super::{contiguous, f32s, gemm_add, per_sample_backward, tensor_of, zeros_f32};

/// (d x, d W, d bias), each only where asked for.
pub type ConvGrads<B> = (
    Option<FloatTensor<B>>,
    Option<FloatTensor<B>>,
    Option<FloatTensor<B>>,
);

#[backend_extension(Flex, LibTorch: cfg(feature = "tch"), Autodiff)]
pub trait TemporalConvOps: Backend {
    /// x (N, C, T, V) convolved over T with `weight` (C_out, C, kt, 1) — burn's `Conv2d`
    /// layout — plus `bias` (C_out), zero `padding` frames at both ends, every `stride`-th
    /// output frame: (N, C_out, T', V), T' = (T + 2·padding − kt) / stride + 1.
    fn temporal_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

/// The forward and backward kernels behind [`TemporalConvOps`].
pub trait ConvKernels: Backend {
    fn temporal_conv_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, Some(bias), options(stride, padding))
    }

    /// The gradients from `dy` that `wanted` (x, W, bias) asks for.
    fn temporal_conv_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        stride: usize,
        padding: usize,
        wanted: [bool; 3],
    ) -> ConvGrads<Self> {
        composite_backward::<Self>(x, weight, dy, stride, padding, wanted)
    }
}

fn options(stride: usize, padding: usize) -> ConvOptions<2> {
    ConvOptions::new([stride, 1], [padding, 0], [1, 1], 1)
}

/// [`TemporalConvOps::temporal_conv`] on tensors.
pub fn temporal_conv(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as TemporalConvOps>::temporal_conv(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        stride,
        padding,
    ))
}

macro_rules! forward_only {
    ($backend:ty) => {
        impl TemporalConvOps for $backend {
            fn temporal_conv(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                stride: usize,
                padding: usize,
            ) -> FloatTensor<Self> {
                Self::temporal_conv_forward(x, weight, bias, stride, padding)
            }
        }
    };
}

forward_only!(Flex);
#[cfg(feature = "tch")]
forward_only!(burn::backend::LibTorch);

#[cfg(feature = "tch")]
impl ConvKernels for burn::backend::LibTorch {}

#[derive(Debug)]
struct ConvBackward;

#[derive(Clone, Debug)]
struct ConvTape<B: Backend> {
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    stride: usize,
    padding: usize,
}

impl<B: ConvKernels> Backward<B, 3> for ConvBackward {
    type State = ConvTape<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let ConvTape {
            x,
            weight,
            stride,
            padding,
        } = ops.state;
        let wanted = ops.parents.each_ref().map(Option::is_some);
        let (dx, dw, db) = B::temporal_conv_backward(x, weight, dy, stride, padding, wanted);
        for (parent, grad) in ops.parents.into_iter().zip([dx, dw, db]) {
            if let (Some(node), Some(grad)) = (parent, grad) {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: TemporalConvOps + ConvKernels, C: CheckpointStrategy> TemporalConvOps for Autodiff<B, C> {
    fn temporal_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let [(x, gx), (weight, gw), (bias, gb)] = [x, weight, bias].map(|t| t.into_parts());
        match ConvBackward
            .prepare::<C>([gx, gw, gb])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = B::temporal_conv_forward(x.clone(), weight.clone(), bias, stride, padding);
                let tape = ConvTape {
                    x,
                    weight,
                    stride,
                    padding,
                };
                prep.finish(tape, y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::temporal_conv(x, weight, bias, stride, padding))
            }
        }
    }
}

/// The sizes of one temporal convolution.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    n: usize,
    c: usize,
    t: usize,
    v: usize,
    cout: usize,
    kt: usize,
    stride: usize,
    pad: usize,
    t_out: usize,
}

impl Geometry {
    fn new(x: &FlexTensor, weight: &FlexTensor, stride: usize, pad: usize) -> Geometry {
        let [n, c, t, v] = x.shape().dims::<4>();
        let [cout, _, kt, _] = weight.shape().dims::<4>();
        let t_out = (t + 2 * pad - kt) / stride + 1;
        Geometry {
            n,
            c,
            t,
            v,
            cout,
            kt,
            stride,
            pad,
            t_out,
        }
    }

    /// The output frames whose tap `k` reads an input frame (not padding).
    fn frames(&self, k: usize) -> Range<usize> {
        let lo = self.pad.saturating_sub(k).div_ceil(self.stride);
        let hi = match (self.t + self.pad).checked_sub(k + 1) {
            Some(last) => (last / self.stride + 1).min(self.t_out),
            None => 0,
        };
        lo..hi.max(lo)
    }

    /// The input frame tap `k` of output frame `t_out` reads.
    fn source(&self, t_out: usize, k: usize) -> usize {
        t_out * self.stride + k - self.pad
    }

    fn sample_in(&self) -> usize {
        self.c * self.t * self.v
    }

    fn sample_out(&self) -> usize {
        self.cout * self.t_out * self.v
    }

    /// The input columns tap `k` reads for `frames`, as a (C, frames·V) matrix: a strided
    /// view of the sample `x` when the stride is 1 (slice, row stride), else gathered into
    /// `buffer`.
    fn tap_input<'a>(
        &self,
        x: &'a [f32],
        k: usize,
        frames: &Range<usize>,
        buffer: &'a mut Vec<f32>,
    ) -> (&'a [f32], usize) {
        let (tv, width) = (self.t * self.v, frames.len() * self.v);
        if self.stride == 1 {
            return (&x[self.source(frames.start, k) * self.v..], tv);
        }
        buffer.clear();
        for ci in 0..self.c {
            for to in frames.clone() {
                let at = ci * tv + self.source(to, k) * self.v;
                buffer.extend_from_slice(&x[at..at + self.v]);
            }
        }
        (&buffer[..], width)
    }
}

/// The weight (C_out, C, kt, 1) as kt row-major (C_out, C) matrices, tap-major.
fn taps(weight: &[f32], g: &Geometry) -> Vec<f32> {
    let mut out = vec![0.0; weight.len()];
    for (burn, tap) in weight_positions(g) {
        out[tap] = weight[burn];
    }
    out
}

/// Tap-major (kt, C_out, C) back to the weight's (C_out, C, kt, 1).
fn untaps(w: &[f32], g: &Geometry) -> Vec<f32> {
    let mut out = vec![0.0; w.len()];
    for (burn, tap) in weight_positions(g) {
        out[burn] = w[tap];
    }
    out
}

/// (index in burn's (C_out, C, kt, 1) layout, index in the tap-major one) of every weight.
fn weight_positions(g: &Geometry) -> impl Iterator<Item = (usize, usize)> + '_ {
    (0..g.cout).flat_map(move |o| {
        (0..g.c).flat_map(move |ci| {
            (0..g.kt).map(move |k| ((o * g.c + ci) * g.kt + k, (k * g.cout + o) * g.c + ci))
        })
    })
}

impl ConvKernels for Flex {
    fn temporal_conv_forward(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        padding: usize,
    ) -> FlexTensor {
        if x.dtype() != DType::F32 {
            return Flex::conv2d(x, weight, Some(bias), options(stride, padding));
        }
        let g = Geometry::new(&x, &weight, stride, padding);
        let (x, weight, bias) = (contiguous(x), contiguous(weight), contiguous(bias));
        let (xs, bias) = (f32s(&x), f32s(&bias));
        let w = taps(f32s(&weight), &g);
        let row = g.t_out * g.v;
        let mut y = zeros_f32(Shape::new([g.n, g.cout, g.t_out, g.v]));
        y.storage_mut::<f32>()
            .par_chunks_exact_mut(g.sample_out())
            .zip(xs.par_chunks_exact(g.sample_in()))
            .for_each_init(Vec::new, |buffer, (y, x)| {
                for (o, out) in y.chunks_exact_mut(row).enumerate() {
                    out.fill(bias[o]);
                }
                for k in 0..g.kt {
                    let frames = g.frames(k);
                    if frames.is_empty() {
                        continue;
                    }
                    let (input, input_row) = g.tap_input(x, k, &frames, buffer);
                    gemm_add(
                        (g.cout, frames.len() * g.v, g.c),
                        &mut y[frames.start * g.v..],
                        (row, 1),
                        &w[k * g.cout * g.c..(k + 1) * g.cout * g.c],
                        (g.c, 1),
                        input,
                        (input_row, 1),
                    );
                }
            });
        y
    }

    fn temporal_conv_backward(
        x: FlexTensor,
        weight: FlexTensor,
        dy: FlexTensor,
        stride: usize,
        padding: usize,
        wanted: [bool; 3],
    ) -> ConvGrads<Flex> {
        if x.dtype() != DType::F32 {
            return composite_backward::<Flex>(x, weight, dy, stride, padding, wanted);
        }
        let g = Geometry::new(&x, &weight, stride, padding);
        let (x, weight, dy) = (contiguous(x), contiguous(weight), contiguous(dy));
        let (xs, dys) = (f32s(&x), f32s(&dy));
        let w = taps(f32s(&weight), &g);
        let [want_x, want_w, want_b] = wanted;
        let (row, tv) = (g.t_out * g.v, g.t * g.v);
        let mut dx = want_x.then(|| vec![0f32; xs.len()]);
        // per sample: d x of the sample, and its share of d W (tap-major) and d bias
        let sample = |i: usize, mut dx: Option<&mut [f32]>, sums: &mut WeightSums| {
            let x = &xs[i * g.sample_in()..(i + 1) * g.sample_in()];
            let dy = &dys[i * g.sample_out()..(i + 1) * g.sample_out()];
            for k in 0..g.kt {
                let frames = g.frames(k);
                if frames.is_empty() {
                    continue;
                }
                let width = frames.len() * g.v;
                let dy_k = &dy[frames.start * g.v..];
                if let Some(dx) = dx.as_deref_mut() {
                    let w_k = &w[k * g.cout * g.c..(k + 1) * g.cout * g.c];
                    // W_kᵀ (C × C_out) · d y over the frames
                    if g.stride == 1 {
                        let dst = &mut dx[g.source(frames.start, k) * g.v..];
                        gemm_add(
                            (g.c, width, g.cout),
                            dst,
                            (tv, 1),
                            w_k,
                            (1, g.c),
                            dy_k,
                            (row, 1),
                        );
                    } else {
                        sums.scratch.clear();
                        sums.scratch.resize(g.c * width, 0.0);
                        let scratch = &mut sums.scratch;
                        gemm_add(
                            (g.c, width, g.cout),
                            scratch,
                            (width, 1),
                            w_k,
                            (1, g.c),
                            dy_k,
                            (row, 1),
                        );
                        for ci in 0..g.c {
                            for (j, to) in frames.clone().enumerate() {
                                let at = ci * tv + g.source(to, k) * g.v;
                                let from = &sums.scratch[ci * width + j * g.v..][..g.v];
                                for (d, s) in dx[at..at + g.v].iter_mut().zip(from) {
                                    *d += s;
                                }
                            }
                        }
                    }
                }
                if want_w {
                    // d W_k (C_out × C) += d y over the frames · their inputs ᵀ
                    let (input, input_row) = g.tap_input(x, k, &frames, &mut sums.gather);
                    let dst = &mut sums.weight[k * g.cout * g.c..(k + 1) * g.cout * g.c];
                    gemm_add(
                        (g.cout, g.c, width),
                        dst,
                        (g.c, 1),
                        dy_k,
                        (row, 1),
                        input,
                        (1, input_row),
                    );
                }
            }
            if want_b {
                for (o, out) in dy.chunks_exact(row).enumerate() {
                    sums.bias[o] += out.iter().sum::<f32>();
                }
            }
        };
        let fresh = || WeightSums::new(&g);
        let sums = per_sample_backward(
            g.n,
            dx.as_deref_mut(),
            g.sample_in(),
            fresh,
            sample,
            WeightSums::add,
        );
        (
            dx.map(|dx| tensor_of(dx, x.shape())),
            want_w.then(|| tensor_of(untaps(&sums.weight, &g), weight.shape())),
            want_b.then(|| tensor_of(sums.bias, Shape::new([g.cout]))),
        )
    }
}

fn composite_backward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    dy: FloatTensor<B>,
    stride: usize,
    padding: usize,
    wanted: [bool; 3],
) -> ConvGrads<B> {
    let opts = || options(stride, padding);
    let [want_x, want_w, want_b] = wanted;
    let cout = weight.shape().dims::<4>()[0];
    let bias = B::float_zeros(Shape::new([cout]), &x.device(), x.dtype().into());
    (
        want_x.then(|| B::conv2d_x_backward(x.clone(), weight.clone(), dy.clone(), opts())),
        want_w.then(|| B::conv2d_weight_backward(x.clone(), weight.clone(), dy.clone(), opts())),
        want_b.then(|| B::conv2d_bias_backward(x, bias, dy)),
    )
}

/// One task's running sums over its samples, and its scratch buffers.
struct WeightSums {
    /// d W, tap-major (kt, C_out, C).
    weight: Vec<f32>,
    bias: Vec<f32>,
    gather: Vec<f32>,
    scratch: Vec<f32>,
}

impl WeightSums {
    fn new(g: &Geometry) -> WeightSums {
        WeightSums {
            weight: vec![0.0; g.kt * g.cout * g.c],
            bias: vec![0.0; g.cout],
            gather: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn add(mut self, other: WeightSums) -> WeightSums {
        for (a, b) in self.weight.iter_mut().zip(&other.weight) {
            *a += b;
        }
        for (a, b) in self.bias.iter_mut().zip(&other.bias) {
            *a += b;
        }
        self
    }
}
