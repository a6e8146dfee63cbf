//! ST-GCN as CrosSCLR / AimCLR / ActCLR configure it (ML-FACTS §2.1).
//!
//! Layout: input (N, C, T, V, M); inside the blocks (N·M, C, T, V). The graph convolution
//! is one 1×1 projection to K·C_out channels followed by one batched matmul over the joint
//! axis with the (K, V, V) adjacency (times the edge importance), summed over K.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, PaddingConfig2d};
use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Tap;
use crate::learn::{fused, graph};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StgcnConfig {
    /// Input coordinates per joint.
    pub in_channels: usize,
    /// Width of the first blocks (16 in AimCLR/ActCLR; 64 in the original ST-GCN).
    pub hidden: usize,
    /// Output width of the last block = feature dimension (256 in AimCLR/ActCLR).
    pub feature_dim: usize,
    /// Temporal kernel size.
    pub temporal_kernel: usize,
    /// Dropout inside the temporal convolution of blocks 2–10.
    pub dropout: f64,
    /// A learnable (K, V, V) mask per block, initialised to ones.
    pub edge_importance: bool,
}

impl Default for StgcnConfig {
    fn default() -> Self {
        StgcnConfig {
            in_channels: 3,
            hidden: 16,
            feature_dim: 256,
            temporal_kernel: 9,
            dropout: 0.5,
            edge_importance: true,
        }
    }
}

impl StgcnConfig {
    /// (in, out, temporal stride) of the 10 blocks.
    pub fn blocks(&self) -> Vec<(usize, usize, usize)> {
        let h = self.hidden;
        vec![
            (self.in_channels, h, 1),
            (h, h, 1),
            (h, h, 1),
            (h, h, 1),
            (h, 2 * h, 2),
            (2 * h, 2 * h, 1),
            (2 * h, 2 * h, 1),
            (2 * h, 4 * h, 2),
            (4 * h, 4 * h, 1),
            (4 * h, self.feature_dim, 1),
        ]
    }

    pub fn init(&self, device: &Device) -> Stgcn {
        let a = Tensor::<3>::from_data(
            TensorData::new(graph::ntu_spatial_a(), [graph::K, graph::V, graph::V]),
            device,
        );
        let blocks = self
            .blocks()
            .into_iter()
            .enumerate()
            .map(|(i, (cin, cout, stride))| {
                // block 1 has no dropout and no residual (ML-FACTS §2.1)
                let dropout = if i == 0 { 0.0 } else { self.dropout };
                StBlock::new(
                    cin,
                    cout,
                    stride,
                    self.temporal_kernel,
                    dropout,
                    i > 0,
                    device,
                )
            })
            .collect();
        let importance = (0..10)
            .map(|_| Param::from_tensor(Tensor::<3>::ones([graph::K, graph::V, graph::V], device)))
            .collect::<Vec<_>>();
        Stgcn {
            data_bn: BatchNormConfig::new(self.in_channels * graph::V).init(device),
            blocks,
            edge_importance: if self.edge_importance {
                importance
            } else {
                Vec::new()
            },
            a,
            in_channels: self.in_channels,
            feature_dim: self.feature_dim,
        }
    }
}

#[derive(Module, Debug)]
pub struct Stgcn {
    pub data_bn: BatchNorm,
    pub blocks: Vec<StBlock>,
    pub edge_importance: Vec<Param<Tensor<3>>>,
    /// The fixed adjacency: a constant like PyTorch's buffer (not a parameter, not recorded).
    pub a: Tensor<3>,
    pub in_channels: usize,
    pub feature_dim: usize,
}

impl Stgcn {
    /// (N, C, T, V, M) → the final map (N·M, D, T', V).
    pub fn feature_map(&self, x: Tensor<5>, tap: &mut Tap) -> Tensor<4> {
        let [n, c, t, v, m] = x.dims();
        // data BN over V·C per time step, shared across persons: (N·M, V·C, T)
        let x = x.permute([0, 4, 3, 1, 2]).reshape([n * m, v * c, t]);
        let x = fused::batch_norm(&self.data_bn, x, false);
        tap("data_bn", &x.dims());
        let mut x = x
            .reshape([n, m, v, c, t])
            .permute([0, 1, 3, 4, 2])
            .reshape([n * m, c, t, v]);
        let a = self.a.clone();
        for (i, block) in self.blocks.iter().enumerate() {
            let ai = match self.edge_importance.get(i) {
                Some(imp) => a.clone() * imp.val(),
                None => a.clone(),
            };
            x = block.forward(x, ai);
            tap(&format!("blocks.{i}"), &x.dims());
        }
        x
    }

    /// Global average pool of a map (N·M, D, T', V) over (T', V), then the mean over the
    /// `persons` M.
    pub fn pool(&self, map: Tensor<4>, persons: usize, tap: &mut Tap) -> Tensor<2> {
        mean_pool(map, persons, tap)
    }

    /// (N, C, T, V, M) → (N, D): global average pool over (T, V), mean over persons.
    pub fn forward(&self, x: Tensor<5>, tap: &mut Tap) -> Tensor<2> {
        let m = x.dims()[4];
        let f = self.feature_map(x, tap);
        self.pool(f, m, tap)
    }
}

/// A map (N·M, D, T, V) averaged over (T, V), then over the `persons` M: (N, D).
pub fn mean_pool(map: Tensor<4>, persons: usize, tap: &mut Tap) -> Tensor<2> {
    let [nm, d, t, v] = map.dims();
    let n = nm / persons;
    let pooled = map
        .reshape([n, persons, d, t * v])
        .mean_dim(3)
        .mean_dim(1)
        .reshape([n, d]);
    tap("pool", &pooled.dims());
    pooled
}

#[derive(Module, Debug)]
pub struct StBlock {
    /// 1×1 projection to K·C_out channels, as a matrix (K·C_out, C_in) and a bias.
    pub gcn_weight: Param<Tensor<2>>,
    pub gcn_bias: Param<Tensor<1>>,
    pub tcn_bn1: BatchNorm,
    pub tcn_conv: Conv2d,
    pub tcn_bn2: BatchNorm,
    pub dropout: Dropout,
    pub res_conv: Option<Conv2d>,
    pub res_bn: Option<BatchNorm>,
    pub residual: bool,
    pub out_channels: usize,
    pub stride: usize,
}

impl StBlock {
    pub fn new(
        cin: usize,
        cout: usize,
        stride: usize,
        kt: usize,
        dropout: f64,
        residual: bool,
        device: &Device,
    ) -> StBlock {
        let k = graph::K;
        // PyTorch Conv2d default init: U(±1/sqrt(fan_in)) for weight and bias
        let bound = 1.0 / (cin as f64).sqrt();
        let dist = burn::tensor::Distribution::Uniform(-bound, bound);
        let gcn_weight = Param::from_tensor(Tensor::<2>::random([k * cout, cin], dist, device));
        let gcn_bias = Param::from_tensor(Tensor::<1>::random([k * cout], dist, device));
        let pad = (kt - 1) / 2;
        let tcn_conv = Conv2dConfig::new([cout, cout], [kt, 1])
            .with_stride([stride, 1])
            .with_padding(PaddingConfig2d::Explicit(pad, 0, pad, 0))
            .init(device);
        let conv_res = residual && (cin != cout || stride != 1);
        StBlock {
            gcn_weight,
            gcn_bias,
            tcn_bn1: BatchNormConfig::new(cout).init(device),
            tcn_conv,
            tcn_bn2: BatchNormConfig::new(cout).init(device),
            dropout: DropoutConfig::new(dropout).init(),
            res_conv: conv_res.then(|| {
                Conv2dConfig::new([cin, cout], [1, 1])
                    .with_stride([stride, 1])
                    .init(device)
            }),
            res_bn: conv_res.then(|| BatchNormConfig::new(cout).init(device)),
            residual,
            out_channels: cout,
            stride,
        }
    }

    /// x (B, C_in, T, V), a (K, V, V) → (B, C_out, T/stride, V).
    pub fn forward(&self, x: Tensor<4>, a: Tensor<3>) -> Tensor<4> {
        let res = match (&self.res_conv, &self.res_bn) {
            (Some(conv), Some(bn)) => Some(fused::batch_norm(
                bn,
                conv_over_time(conv, x.clone(), self.stride),
                false,
            )),
            _ if self.residual => Some(x.clone()),
            _ => None,
        };
        let g = self.gcn(x, a);
        let h = fused::batch_norm(&self.tcn_bn1, g, true);
        let then = fused::Then {
            dropout: Some(&self.dropout),
            residual: res,
            relu: true,
        };
        fused::batch_norm_then(&self.tcn_bn2, self.tcn(h), then)
    }

    /// The temporal convolution, as `SKELFLOW_TCN` says ([`TcnImpl`]).
    pub fn tcn(&self, h: Tensor<4>) -> Tensor<4> {
        match TcnImpl::get() {
            TcnImpl::Fused | TcnImpl::Conv => conv_over_time(&self.tcn_conv, h, self.stride),
            TcnImpl::Unfold => temporal_conv_unfold(
                h,
                self.tcn_conv.weight.val(),
                self.tcn_conv.bias.as_ref().map(|b| b.val()),
                self.stride,
            ),
        }
    }

    /// The spatial graph convolution of this block, as `SKELFLOW_GCN` says ([`GcnImpl`]).
    pub fn gcn(&self, x: Tensor<4>, a: Tensor<3>) -> Tensor<4> {
        let (w, b) = (self.gcn_weight.val(), self.gcn_bias.val());
        match GcnImpl::get() {
            GcnImpl::Fused => fused::graph_conv(x, w, b, a),
            GcnImpl::Batched | GcnImpl::ConcatK => graph_conv(x, w, b, a),
        }
    }
}

/// The spatial graph convolution `out[b,o,t,w] = Σ_k Σ_v (W_k x + b_k)[b,o,t,v] A[k,v,w]`
/// in burn's ops: x (B, C_in, T, V), w (K·C_out, C_in), bias (K·C_out), a (K, V, V) →
/// (B, C_out, T, V). The 1×1 convolution is one matmul; the graph aggregation one batched
/// matmul over the joint axis, summed over K (no permutes), or with `SKELFLOW_GCN=concat_k`
/// one matmul over K·V after a permute. `learn::fused::graph_conv` is the same as one op.
pub fn graph_conv(x: Tensor<4>, w: Tensor<2>, bias: Tensor<1>, a: Tensor<3>) -> Tensor<4> {
    let [b, cin, t, v] = x.dims();
    let k = a.dims()[0];
    let kc = w.dims()[0];
    let cout = kc / k;
    let y = w.unsqueeze::<3>().matmul(x.reshape([b, cin, t * v])) + bias.reshape([1, kc, 1]);
    if GcnImpl::get() == GcnImpl::ConcatK {
        // (B, K, C_out, T, V) → (B, C_out·T, K·V) @ (K·V, V): one matmul, one permute
        let y = y
            .reshape([b, k, cout, t, v])
            .permute([0, 2, 3, 1, 4])
            .reshape([b, cout * t, k * v]);
        return y.matmul(a.reshape([1, k * v, v])).reshape([b, cout, t, v]);
    }
    let y = y.reshape([b, k, cout * t, v]).matmul(a.unsqueeze::<4>());
    y.sum_dim(1).reshape([b, cout, t, v])
}

/// How the spatial graph convolution is computed; all give the same result
/// (`tests/learn_fused.rs`). `SKELFLOW_GCN=fused|batched|concat_k`, a benchmark knob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GcnImpl {
    /// `learn::fused::graph_conv`: one op with its own backward (the default).
    Fused,
    /// [`graph_conv`]: a batched matmul per partition, summed over K.
    Batched,
    /// [`graph_conv`] with one matmul over K·V after a permute.
    ConcatK,
}

impl GcnImpl {
    pub fn get() -> GcnImpl {
        static IMPL: std::sync::OnceLock<GcnImpl> = std::sync::OnceLock::new();
        *IMPL.get_or_init(|| match std::env::var("SKELFLOW_GCN").as_deref() {
            Ok("batched") => GcnImpl::Batched,
            Ok("concat_k") => GcnImpl::ConcatK,
            _ => GcnImpl::Fused,
        })
    }
}

/// A (kt, 1) `conv` with its own stride over T and padding (kt − 1)/2: the fused op, or
/// burn's `Conv2d` unless `SKELFLOW_TCN` is `fused` (the default).
fn conv_over_time(conv: &Conv2d, x: Tensor<4>, stride: usize) -> Tensor<4> {
    if TcnImpl::get() != TcnImpl::Fused {
        return conv.forward(x);
    }
    let weight = conv.weight.val();
    let kt = weight.dims()[2];
    let bias = match &conv.bias {
        Some(b) => b.val(),
        None => Tensor::zeros([weight.dims()[0]], &weight.device()),
    };
    fused::temporal_conv(x, weight, bias, stride, (kt - 1) / 2)
}

/// How the (kt, 1) temporal convolution (and the strided 1×1 residual projection) is
/// computed. All give the same result (`tests/learn_models.rs`, `tests/learn_fused.rs`).
/// `fused` is the default (figures in docs/learning.md, "Speed"); with `conv`, ST-GCN-16
/// training on flex (`bench_train --model stgcn`, batch 128, T 50) ran 19.0–19.2 samples/s
/// and with `unfold` 18.1–18.2, whose stacked slices doubled the peak RSS (3.8 → 7.6 GB).
/// `SKELFLOW_TCN=fused|conv|unfold`, a benchmark knob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcnImpl {
    /// `learn::fused::temporal_conv`: one op with its own backward.
    Fused,
    /// burn's `Conv2d`.
    Conv,
    /// kt shifted slices stacked on the channel axis and one matmul (im2col in the graph:
    /// the backward pass is two GEMMs).
    Unfold,
}

impl TcnImpl {
    pub fn get() -> TcnImpl {
        static IMPL: std::sync::OnceLock<TcnImpl> = std::sync::OnceLock::new();
        *IMPL.get_or_init(|| match std::env::var("SKELFLOW_TCN").as_deref() {
            Ok("unfold") => TcnImpl::Unfold,
            Ok("conv") => TcnImpl::Conv,
            _ => TcnImpl::Fused,
        })
    }
}

/// A (kt, 1) convolution over T with zero padding (kt-1)/2 and `stride`, as one matmul:
/// x (B, C, T, V), weight (C_out, C, kt, 1) → (B, C_out, T', V).
pub fn temporal_conv_unfold(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: usize,
) -> Tensor<4> {
    let [b, c, t, v] = x.dims();
    let [cout, _, kt, _] = weight.dims();
    let pad = (kt - 1) / 2;
    let t_out = (t + 2 * pad - kt) / stride + 1;
    let zeros = Tensor::<4>::zeros([b, c, pad, v], &x.device());
    let xp = Tensor::cat(vec![zeros.clone(), x, zeros], 2);
    let cols: Vec<Tensor<4>> = (0..kt)
        .map(|k| {
            let end = k + (t_out - 1) * stride + 1;
            xp.clone().slice(s![.., .., k..end; stride as isize, ..])
        })
        .collect();
    // (B, C, kt, T', V) → (B, C·kt, T'·V): channel index c·kt + k, as the weight's
    let cols = Tensor::stack::<5>(cols, 2).reshape([b, c * kt, t_out * v]);
    let y = weight.reshape([1, cout, c * kt]).matmul(cols);
    let y = match bias {
        Some(bias) => y + bias.reshape([1, cout, 1]),
        None => y,
    };
    y.reshape([b, cout, t_out, v])
}
