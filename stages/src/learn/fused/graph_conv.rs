//! ST-GCN's spatial graph convolution — a 1×1 projection to K·C_out channels, then the
//! (K, V, V) adjacency (times the edge importance) over the joint axis, summed over K — as
//! one op with its own backward.
//!
//! As burn ops it is two batched matmuls, a bias add and a sum over K, each with a fresh
//! output that flex's `FlexTensor::empty` allocates and then copies to realign, and a
//! backward that transposes operands into new buffers. Per sample, over NCHW data, it is
//! GEMMs on the sample's own slices: Z = W·X (K·C_out × T·V) plus the bias, then
//! y = Σ_k Z_k·A_k with Z_k viewed as (C_out·T × V). Backward: d Z_k = d y·A_kᵀ, d A_k =
//! Z_kᵀ·d y, d W = d Z·Xᵀ, d x = Wᵀ·d Z, with d W, d A and d bias summed over the samples of
//! each rayon task. Z is kept for d A (burn's matmul keeps the same tensor). Other backends
//! compose burn's ops (the [`GraphConvKernels`] default bodies).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

use super::{contiguous, f32s, gemm_add, per_sample_backward, tensor_of, zeros_f32};

/// (d x, d W, d bias, d A), each only where asked for.
pub type GraphConvGrads<B> = (
    Option<FloatTensor<B>>,
    Option<FloatTensor<B>>,
    Option<FloatTensor<B>>,
    Option<FloatTensor<B>>,
);

#[backend_extension(Flex, LibTorch: cfg(feature = "tch"), Autodiff)]
pub trait GraphConvOps: Backend {
    /// `y[b,o,t,w] = Σ_k Σ_v (W x + bias)[b, k·C_out + o, t, v] · A[k,v,w]`: x (B, C_in, T, V),
    /// `weight` (K·C_out, C_in), `bias` (K·C_out), `a` (K, V, V) → (B, C_out, T, V).
    fn graph_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        a: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The forward and backward kernels behind [`GraphConvOps`].
pub trait GraphConvKernels: Backend {
    /// The output and, when `keep_z`, the projection Z (B, K·C_out, T, V) for the backward.
    fn graph_conv_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        a: FloatTensor<Self>,
        keep_z: bool,
    ) -> (FloatTensor<Self>, Option<FloatTensor<Self>>) {
        composite_forward::<Self>(x, weight, bias, a, keep_z)
    }

    /// The gradients from `dy` that `wanted` (x, W, bias, A) asks for; `z` is the forward's.
    fn graph_conv_backward(
        saved: GraphConvSaved<Self>,
        dy: FloatTensor<Self>,
        wanted: [bool; 4],
    ) -> GraphConvGrads<Self> {
        composite_backward::<Self>(saved, dy, wanted)
    }
}

/// What the backward keeps from the forward.
#[derive(Clone, Debug)]
pub struct GraphConvSaved<B: Backend> {
    pub x: FloatTensor<B>,
    pub weight: FloatTensor<B>,
    pub a: FloatTensor<B>,
    /// The projection W x + bias, (B, K·C_out, T, V).
    pub z: FloatTensor<B>,
}

/// The sizes of one graph convolution.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    b: usize,
    cin: usize,
    t: usize,
    v: usize,
    k: usize,
    cout: usize,
}

impl Geometry {
    fn new(x: &impl TensorMetadata, weight: &impl TensorMetadata, a: &impl TensorMetadata) -> Self {
        let [b, cin, t, v] = x.shape().dims::<4>();
        let [kc, _] = weight.shape().dims::<2>();
        let k = a.shape().dims::<3>()[0];
        Geometry {
            b,
            cin,
            t,
            v,
            k,
            cout: kc / k,
        }
    }

    fn kc(&self) -> usize {
        self.k * self.cout
    }

    fn tv(&self) -> usize {
        self.t * self.v
    }

    /// One partition's rows of Z (C_out·T × V), and of y.
    fn rows(&self) -> usize {
        self.cout * self.t
    }
}

fn composite_forward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    a: FloatTensor<B>,
    keep_z: bool,
) -> (FloatTensor<B>, Option<FloatTensor<B>>) {
    let g = Geometry::new(&x, &weight, &a);
    let x = B::float_reshape(x, Shape::new([g.b, g.cin, g.tv()]));
    let w = B::float_reshape(weight, Shape::new([1, g.kc(), g.cin]));
    let bias = B::float_reshape(bias, Shape::new([1, g.kc(), 1]));
    let z = B::float_add(B::float_matmul(w, x), bias);
    let zk = B::float_reshape(z.clone(), Shape::new([g.b, g.k, g.rows(), g.v]));
    let a = B::float_reshape(a, Shape::new([1, g.k, g.v, g.v]));
    let y = B::float_sum_dim(B::float_matmul(zk, a), 1);
    let y = B::float_reshape(y, Shape::new([g.b, g.cout, g.t, g.v]));
    let z = keep_z.then(|| B::float_reshape(z, Shape::new([g.b, g.kc(), g.t, g.v])));
    (y, z)
}

fn composite_backward<B: Backend>(
    saved: GraphConvSaved<B>,
    dy: FloatTensor<B>,
    wanted: [bool; 4],
) -> GraphConvGrads<B> {
    let GraphConvSaved { x, weight, a, z } = saved;
    let g = Geometry::new(&x, &weight, &a);
    let [want_x, want_w, want_b, want_a] = wanted;
    let dy = B::float_reshape(dy, Shape::new([g.b, 1, g.rows(), g.v]));
    let a4 = B::float_reshape(a.clone(), Shape::new([1, g.k, g.v, g.v]));
    // d Z_k = d y · A_kᵀ, as (B, K·C_out, T·V)
    let dz = B::float_matmul(dy.clone(), B::float_swap_dims(a4, 2, 3));
    let dz = B::float_reshape(dz, Shape::new([g.b, g.kc(), g.tv()]));
    let da = want_a.then(|| {
        let zk = B::float_reshape(z, Shape::new([g.b, g.k, g.rows(), g.v]));
        let per_sample = B::float_matmul(B::float_swap_dims(zk, 2, 3), dy);
        B::float_reshape(B::float_sum_dim(per_sample, 0), a.shape())
    });
    let x3 = B::float_reshape(x.clone(), Shape::new([g.b, g.cin, g.tv()]));
    let dw = want_w.then(|| {
        let per_sample = B::float_matmul(dz.clone(), B::float_swap_dims(x3, 1, 2));
        B::float_reshape(B::float_sum_dim(per_sample, 0), weight.shape())
    });
    let db = want_b.then(|| {
        let sums = B::float_sum_dim(B::float_sum_dim(dz.clone(), 2), 0);
        B::float_reshape(sums, Shape::new([g.kc()]))
    });
    let dx = want_x.then(|| {
        let wt = B::float_reshape(B::float_transpose(weight), Shape::new([1, g.cin, g.kc()]));
        B::float_reshape(B::float_matmul(wt, dz), x.shape())
    });
    (dx, dw, db, da)
}

/// [`GraphConvOps::graph_conv`] on tensors.
pub fn graph_conv(x: Tensor<4>, weight: Tensor<2>, bias: Tensor<1>, a: Tensor<3>) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as GraphConvOps>::graph_conv(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        a.into_dispatch(),
    ))
}

macro_rules! forward_only {
    ($backend:ty) => {
        impl GraphConvOps for $backend {
            fn graph_conv(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                a: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                Self::graph_conv_forward(x, weight, bias, a, false).0
            }
        }
    };
}

forward_only!(Flex);
#[cfg(feature = "tch")]
forward_only!(burn::backend::LibTorch);

#[cfg(feature = "tch")]
impl GraphConvKernels for burn::backend::LibTorch {}

#[derive(Debug)]
struct GraphConvBackward;

impl<B: GraphConvKernels> Backward<B, 4> for GraphConvBackward {
    type State = GraphConvSaved<B>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<B>(&ops.node);
        let wanted = ops.parents.each_ref().map(Option::is_some);
        let (dx, dw, db, da) = B::graph_conv_backward(ops.state, dy, wanted);
        for (parent, grad) in ops.parents.into_iter().zip([dx, dw, db, da]) {
            if let (Some(node), Some(grad)) = (parent, grad) {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: GraphConvOps + GraphConvKernels, C: CheckpointStrategy> GraphConvOps for Autodiff<B, C> {
    fn graph_conv(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        a: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [(x, gx), (weight, gw), (bias, gb), (a, ga)] =
            [x, weight, bias, a].map(|t| t.into_parts());
        match GraphConvBackward
            .prepare::<C>([gx, gw, gb, ga])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (y, z) =
                    B::graph_conv_forward(x.clone(), weight.clone(), bias, a.clone(), true);
                let z = z.expect("kept for the backward");
                prep.finish(GraphConvSaved { x, weight, a, z }, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::graph_conv(x, weight, bias, a)),
        }
    }
}

impl GraphConvKernels for Flex {
    fn graph_conv_forward(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        a: FlexTensor,
        keep_z: bool,
    ) -> (FlexTensor, Option<FlexTensor>) {
        if x.dtype() != DType::F32 {
            return composite_forward::<Flex>(x, weight, bias, a, keep_z);
        }
        let g = Geometry::new(&x, &weight, &a);
        let (x, weight, bias, a) = (
            contiguous(x),
            contiguous(weight),
            contiguous(bias),
            contiguous(a),
        );
        let (xs, w, bias, a) = (f32s(&x), f32s(&weight), f32s(&bias), f32s(&a));
        let (sample_in, sample_z, sample_out) = (g.cin * g.tv(), g.kc() * g.tv(), g.cout * g.tv());
        // one sample: Z = W x + bias into `z`, then y = Σ_k Z_k A_k
        let sample = |x: &[f32], z: &mut [f32], y: &mut [f32]| {
            for (r, row) in z.chunks_exact_mut(g.tv()).enumerate() {
                row.fill(bias[r]);
            }
            let (tv, cin) = (g.tv(), g.cin);
            gemm_add((g.kc(), tv, cin), z, (tv, 1), w, (cin, 1), x, (tv, 1));
            for k in 0..g.k {
                let z_k = &z[k * g.rows() * g.v..(k + 1) * g.rows() * g.v];
                let a_k = &a[k * g.v * g.v..(k + 1) * g.v * g.v];
                let v = g.v;
                gemm_add((g.rows(), v, v), y, (v, 1), z_k, (v, 1), a_k, (v, 1));
            }
        };
        let mut y = zeros_f32(Shape::new([g.b, g.cout, g.t, g.v]));
        let outputs = y.storage_mut::<f32>().par_chunks_exact_mut(sample_out);
        let inputs = xs.par_chunks_exact(sample_in);
        if !keep_z {
            outputs
                .zip(inputs)
                .for_each_init(Vec::new, |z: &mut Vec<f32>, (y, x)| {
                    z.resize(sample_z, 0.0);
                    sample(x, z, y)
                });
            return (y, None);
        }
        let mut z = zeros_f32(Shape::new([g.b, g.kc(), g.t, g.v]));
        outputs
            .zip(inputs)
            .zip(z.storage_mut::<f32>().par_chunks_exact_mut(sample_z))
            .for_each(|((y, x), z)| sample(x, z, y));
        (y, Some(z))
    }

    fn graph_conv_backward(
        saved: GraphConvSaved<Flex>,
        dy: FlexTensor,
        wanted: [bool; 4],
    ) -> GraphConvGrads<Flex> {
        if saved.x.dtype() != DType::F32 {
            return composite_backward::<Flex>(saved, dy, wanted);
        }
        let GraphConvSaved { x, weight, a, z } = saved;
        let g = Geometry::new(&x, &weight, &a);
        let (x, weight, a, z, dy) = (
            contiguous(x),
            contiguous(weight),
            contiguous(a),
            contiguous(z),
            contiguous(dy),
        );
        let (xs, w, a_s, zs, dys) = (f32s(&x), f32s(&weight), f32s(&a), f32s(&z), f32s(&dy));
        let [want_x, want_w, want_b, want_a] = wanted;
        let (v, tv, kc, cin, rows) = (g.v, g.tv(), g.kc(), g.cin, g.rows());
        let (sample_in, sample_z, sample_out) = (cin * tv, kc * tv, g.cout * tv);
        let mut dx = want_x.then(|| vec![0f32; xs.len()]);
        let sample = |i: usize, dx: Option<&mut [f32]>, sums: &mut ParamSums| {
            let x = &xs[i * sample_in..(i + 1) * sample_in];
            let z = &zs[i * sample_z..(i + 1) * sample_z];
            let dy = &dys[i * sample_out..(i + 1) * sample_out];
            let dz = &mut sums.dz;
            dz.clear();
            dz.resize(sample_z, 0.0);
            for k in 0..g.k {
                let a_k = &a_s[k * v * v..(k + 1) * v * v];
                let part = k * rows * v..(k + 1) * rows * v;
                // d Z_k (C_out·T × V) = d y · A_kᵀ
                gemm_add(
                    (rows, v, v),
                    &mut dz[part.clone()],
                    (v, 1),
                    dy,
                    (v, 1),
                    a_k,
                    (1, v),
                );
                if want_a {
                    // d A_k (V × V) += Z_kᵀ · d y
                    let da_k = &mut sums.a[k * v * v..(k + 1) * v * v];
                    gemm_add((v, v, rows), da_k, (v, 1), &z[part], (1, v), dy, (v, 1));
                }
            }
            if want_w {
                // d W (K·C_out × C_in) += d Z · xᵀ
                gemm_add(
                    (kc, cin, tv),
                    &mut sums.weight,
                    (cin, 1),
                    dz,
                    (tv, 1),
                    x,
                    (1, tv),
                );
            }
            if want_b {
                for (b, row) in sums.bias.iter_mut().zip(dz.chunks_exact(tv)) {
                    *b += row.iter().sum::<f32>();
                }
            }
            if let Some(dx) = dx {
                // d x (C_in × T·V) = Wᵀ · d Z
                gemm_add((cin, tv, kc), dx, (tv, 1), w, (1, cin), dz, (tv, 1));
            }
        };
        let fresh = || ParamSums::new(&g);
        let sums = per_sample_backward(
            g.b,
            dx.as_deref_mut(),
            sample_in,
            fresh,
            sample,
            ParamSums::add,
        );
        (
            dx.map(|dx| tensor_of(dx, x.shape())),
            want_w.then(|| tensor_of(sums.weight, weight.shape())),
            want_b.then(|| tensor_of(sums.bias, Shape::new([kc]))),
            want_a.then(|| tensor_of(sums.a, a.shape())),
        )
    }
}

/// One task's running sums of d W, d bias and d A over its samples, and its d Z buffer.
struct ParamSums {
    weight: Vec<f32>,
    bias: Vec<f32>,
    a: Vec<f32>,
    dz: Vec<f32>,
}

impl ParamSums {
    fn new(g: &Geometry) -> ParamSums {
        ParamSums {
            weight: vec![0.0; g.kc() * g.cin],
            bias: vec![0.0; g.kc()],
            a: vec![0.0; g.k * g.v * g.v],
            dz: Vec::new(),
        }
    }

    fn add(mut self, other: ParamSums) -> ParamSums {
        for (mine, theirs) in [
            (&mut self.weight, &other.weight),
            (&mut self.bias, &other.bias),
            (&mut self.a, &other.a),
        ] {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
        self
    }
}
