//! SCD-Net's encoder as A²MC's public code uses it (ML-FACTS §2.3; A²MC `scd/scd_encoder.py`,
//! `model/ctrgcn.py` of SCD-Net): two CTR-GCN branches of three TCN-GCN units, a temporal
//! branch (frames as tokens) and a spatial branch (person-joints as tokens), each a
//! channel MLP and a transformer encoder max-pooled over its tokens; the feature is
//! `cat(vt, vs)`. The temporal and spatial projections (`t_proj`, `s_proj`) live here; the
//! instance projection `i_proj` of `cat(vt, vs)` is the encoder's projection head.
//!
//! Field names follow the PyTorch modules', so that a state dict maps by name
//! (`checkpoint::names`).

use burn::module::Param;
use burn::nn::activation::ActivationConfig;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::transformer::{
    TransformerEncoder, TransformerEncoderConfig, TransformerEncoderInput,
};
use burn::nn::{
    BatchNorm, BatchNormConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{relu, tanh};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Tap;
use crate::learn::graph;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ScdConfig {
    /// Input frames: fixed, since the spatial branch's tokens hold every frame (64 in A²MC).
    pub frames: usize,
    /// Width of the CTR-GCN branches (`base_channel`, 64 in SCD-Net / A²MC).
    pub gcn_channels: usize,
    /// Transformer width = dimension of `vt` and `vs` (2048 in A²MC: `hidden_size` 512·4).
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    /// Output of `t_proj` / `s_proj` (the instance projection is the encoder's head).
    pub proj_dim: usize,
    /// Dropout inside the transformer layers (PyTorch's default 0.1).
    pub dropout: f64,
}

impl Default for ScdConfig {
    fn default() -> Self {
        ScdConfig {
            frames: 64,
            gcn_channels: 64,
            d_model: 2048,
            heads: 8,
            layers: 1,
            proj_dim: 128,
            dropout: 0.1,
        }
    }
}

const PERSONS: usize = 2;

/// A 1×1 convolution over (N, C, T, V) as a matrix (out, in) and a bias.
#[derive(Module, Debug)]
pub struct Conv1x1 {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

impl Conv1x1 {
    pub(crate) fn new(cin: usize, cout: usize, device: &Device) -> Conv1x1 {
        let b = 1.0 / (cin as f64).sqrt();
        let d = Distribution::Uniform(-b, b);
        Conv1x1 {
            weight: Param::from_tensor(Tensor::random([cout, cin], d, device)),
            bias: Param::from_tensor(Tensor::random([cout], d, device)),
        }
    }

    /// (N, C_in, A, B) → (N, C_out, A, B).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, a, b] = x.dims();
        let w = self.weight.val();
        let cout = w.dims()[0];
        let y = w.unsqueeze::<3>().matmul(x.reshape([n, c, a * b]))
            + self.bias.val().reshape([1, cout, 1]);
        y.reshape([n, cout, a, b])
    }
}

/// CTR-GCN's channel-wise topology refinement (`CTRGC`).
#[derive(Module, Debug)]
pub struct Ctrgc {
    pub conv1: Conv1x1,
    pub conv2: Conv1x1,
    pub conv3: Conv1x1,
    pub conv4: Conv1x1,
}

impl Ctrgc {
    fn new(cin: usize, cout: usize, device: &Device) -> Ctrgc {
        let rel = if cin == 3 || cin == 9 { 8 } else { cin / 8 };
        Ctrgc {
            conv1: Conv1x1::new(cin, rel, device),
            conv2: Conv1x1::new(cin, rel, device),
            conv3: Conv1x1::new(cin, cout, device),
            conv4: Conv1x1::new(rel, cout, device),
        }
    }

    /// x (N, C, T, V), a (V, V) → (N, C_out, T, V).
    fn forward(&self, x: Tensor<4>, a: Tensor<2>, alpha: Tensor<1>) -> Tensor<4> {
        let x1 = self.conv1.forward(x.clone()).mean_dim(2); // (N, R, 1, V)
        let x2 = self.conv2.forward(x.clone()).mean_dim(2);
        let x3 = self.conv3.forward(x);
        // tanh(x1[u] - x2[v]): (N, R, V, V)
        let rel = tanh(x1.swap_dims(2, 3) - x2);
        let v = a.dims()[0];
        let topo = self.conv4.forward(rel) * alpha.reshape([1, 1, 1, 1]) + a.reshape([1, 1, v, v]);
        // einsum('ncuv,nctv->nctu'): x3 (N, C, T, V) @ topoᵀ (N, C, V, U)
        x3.matmul(topo.swap_dims(2, 3))
    }
}

#[derive(Module, Debug)]
pub struct ConvBn {
    pub conv: Conv1x1,
    pub bn: BatchNorm,
}

impl ConvBn {
    pub(crate) fn new(cin: usize, cout: usize, device: &Device) -> ConvBn {
        ConvBn {
            conv: Conv1x1::new(cin, cout, device),
            bn: BatchNormConfig::new(cout).init(device),
        }
    }
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }
}

/// CTR-GCN's `unit_gcn`: one CTRGC per graph partition, summed, BN, the residual, ReLU.
#[derive(Module, Debug)]
pub struct UnitGcn {
    pub convs: Vec<Ctrgc>,
    /// The adaptive graph, initialised to the spatial partition (`PA`).
    pub pa: Param<Tensor<3>>,
    pub alpha: Param<Tensor<1>>,
    pub bn: BatchNorm,
    /// 1×1 conv + BN where the widths differ (`down`); identity otherwise.
    pub down: Option<ConvBn>,
}

impl UnitGcn {
    fn new(cin: usize, cout: usize, device: &Device) -> UnitGcn {
        let a = ctrgcn_graph();
        UnitGcn {
            convs: (0..3).map(|_| Ctrgc::new(cin, cout, device)).collect(),
            pa: Param::from_tensor(Tensor::from_data(
                TensorData::new(a, [3, graph::V, graph::V]),
                device,
            )),
            alpha: Param::from_tensor(Tensor::zeros([1], device)),
            bn: BatchNormConfig::new(cout).init(device),
            down: (cin != cout).then(|| ConvBn::new(cin, cout, device)),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let pa = self.pa.val();
        let alpha = self.alpha.val();
        let mut y: Option<Tensor<4>> = None;
        for (i, conv) in self.convs.iter().enumerate() {
            let ai = pa.clone().narrow(0, i, 1).squeeze_dim::<2>(0);
            let z = conv.forward(x.clone(), ai, alpha.clone());
            y = Some(match y {
                Some(y) => y + z,
                None => z,
            });
        }
        let y = self.bn.forward(y.expect("three partitions"));
        let res = match &self.down {
            Some(d) => d.forward(x),
            None => x,
        };
        relu(y + res)
    }
}

/// One dilated branch of the multi-scale temporal convolution: 1×1 conv, BN, ReLU, a
/// (k, 1) convolution with dilation, BN.
#[derive(Module, Debug)]
pub struct DilatedBranch {
    pub conv: Conv1x1,
    pub bn: BatchNorm,
    pub tconv: Conv2d,
    pub tbn: BatchNorm,
}

/// The max-pool branch: 1×1 conv, BN, ReLU, max over 3 frames, BN.
#[derive(Module, Debug)]
pub struct PoolBranch {
    pub conv: Conv1x1,
    pub bn: BatchNorm,
    pub bn2: BatchNorm,
}

/// CTR-GCN's `MultiScale_TemporalConv` (kernel 5, dilations 1 and 2, no residual): four
/// branches of C/4 channels, concatenated.
#[derive(Module, Debug)]
pub struct MsTcn {
    pub dilated: Vec<DilatedBranch>,
    pub pool: PoolBranch,
    pub point: ConvBn,
}

impl MsTcn {
    fn new(c: usize, device: &Device) -> MsTcn {
        let bc = c / 4;
        let dilated = [1usize, 2]
            .into_iter()
            .map(|d| {
                let k = 5;
                let pad = (k + (k - 1) * (d - 1) - 1) / 2;
                DilatedBranch {
                    conv: Conv1x1::new(c, bc, device),
                    bn: BatchNormConfig::new(bc).init(device),
                    tconv: Conv2dConfig::new([bc, bc], [k, 1])
                        .with_dilation([d, 1])
                        .with_padding(PaddingConfig2d::Explicit(pad, 0, pad, 0))
                        .init(device),
                    tbn: BatchNormConfig::new(bc).init(device),
                }
            })
            .collect();
        MsTcn {
            dilated,
            pool: PoolBranch {
                conv: Conv1x1::new(c, bc, device),
                bn: BatchNormConfig::new(bc).init(device),
                bn2: BatchNormConfig::new(bc).init(device),
            },
            point: ConvBn::new(c, bc, device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut outs: Vec<Tensor<4>> = self
            .dilated
            .iter()
            .map(|b| {
                let h = relu(b.bn.forward(b.conv.forward(x.clone())));
                b.tbn.forward(b.tconv.forward(h))
            })
            .collect();
        let h = relu(self.pool.bn.forward(self.pool.conv.forward(x.clone())));
        outs.push(self.pool.bn2.forward(max3_over_time(h)));
        outs.push(self.point.forward(x));
        Tensor::cat(outs, 1)
    }
}

/// MaxPool2d((3, 1), stride 1, padding (1, 0)) over T: the padded positions never win, as
/// PyTorch pads max pooling with −∞; repeating the edge frame gives the same maxima.
fn max3_over_time(x: Tensor<4>) -> Tensor<4> {
    let t = x.dims()[2];
    if t == 1 {
        return x;
    }
    let prev = Tensor::cat(
        vec![x.clone().narrow(2, 0, 1), x.clone().narrow(2, 0, t - 1)],
        2,
    );
    let next = Tensor::cat(
        vec![x.clone().narrow(2, 1, t - 1), x.clone().narrow(2, t - 1, 1)],
        2,
    );
    x.max_pair(prev).max_pair(next)
}

/// CTR-GCN's `TCN_GCN_unit` (stride 1): ReLU(tcn(gcn(x)) + residual(x)).
#[derive(Module, Debug)]
pub struct TcnGcnUnit {
    pub gcn1: UnitGcn,
    pub tcn1: MsTcn,
    /// `unit_tcn` with kernel 1 (conv + BN) where the widths differ.
    pub residual: Option<ConvBn>,
    pub has_residual: bool,
}

impl TcnGcnUnit {
    fn new(cin: usize, cout: usize, residual: bool, device: &Device) -> TcnGcnUnit {
        TcnGcnUnit {
            gcn1: UnitGcn::new(cin, cout, device),
            tcn1: MsTcn::new(cout, device),
            residual: (residual && cin != cout).then(|| ConvBn::new(cin, cout, device)),
            has_residual: residual,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.tcn1.forward(self.gcn1.forward(x.clone()));
        match (&self.residual, self.has_residual) {
            (Some(r), _) => relu(y + r.forward(x)),
            (None, true) => relu(y + x),
            (None, false) => relu(y),
        }
    }
}

/// SCD-Net's CTR-GCN `Model`: data BN over (M, V, C), units 3→c (no residual), c→4c, 4c→c.
#[derive(Module, Debug)]
pub struct CtrGcn {
    pub data_bn: BatchNorm,
    pub l1: TcnGcnUnit,
    pub l2: TcnGcnUnit,
    pub l3: TcnGcnUnit,
}

impl CtrGcn {
    fn new(c: usize, device: &Device) -> CtrGcn {
        CtrGcn {
            data_bn: BatchNormConfig::new(PERSONS * graph::V * 3).init(device),
            l1: TcnGcnUnit::new(3, c, false, device),
            l2: TcnGcnUnit::new(c, 4 * c, true, device),
            l3: TcnGcnUnit::new(4 * c, c, true, device),
        }
    }

    /// (N, C, T, V, M) → (N·M, c, T, V).
    fn forward(&self, x: Tensor<5>) -> Tensor<4> {
        let [n, c, t, v, m] = x.dims();
        // BN channel index m·75 + v·3 + c (unlike ST-GCN's, not shared across persons)
        let x = x.permute([0, 4, 3, 1, 2]).reshape([n, m * v * c, t]);
        let x = self.data_bn.forward(x);
        let x = x
            .reshape([n, m, v, c, t])
            .permute([0, 1, 3, 4, 2])
            .reshape([n * m, c, t, v]);
        self.l3.forward(self.l2.forward(self.l1.forward(x)))
    }
}

/// Linear → LayerNorm → ReLU → Linear (`channel_t`, `channel_s`).
#[derive(Module, Debug)]
pub struct ChannelMlp {
    pub fc1: Linear,
    pub norm: LayerNorm,
    pub fc2: Linear,
}

impl ChannelMlp {
    fn new(din: usize, d: usize, device: &Device) -> ChannelMlp {
        ChannelMlp {
            fc1: LinearConfig::new(din, d).init(device),
            norm: LayerNormConfig::new(d).init(device),
            fc2: LinearConfig::new(d, d).init(device),
        }
    }
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.fc2
            .forward(relu(self.norm.forward(self.fc1.forward(x))))
    }
}

/// Linear → ReLU → Linear (`t_proj`, `s_proj`).
#[derive(Module, Debug)]
pub struct ProjMlp {
    pub fc1: Linear,
    pub fc2: Linear,
}

impl ProjMlp {
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.fc2.forward(relu(self.fc1.forward(x)))
    }
}

#[derive(Module, Debug)]
pub struct ScdEncoder {
    pub gcn_t: CtrGcn,
    pub gcn_s: CtrGcn,
    pub channel_t: ChannelMlp,
    pub channel_s: ChannelMlp,
    pub t_encoder: TransformerEncoder,
    pub s_encoder: TransformerEncoder,
    pub t_proj: ProjMlp,
    pub s_proj: ProjMlp,
    pub frames: usize,
}

impl ScdConfig {
    pub fn feature_dim(&self) -> usize {
        2 * self.d_model
    }

    /// Settings the encoder cannot be built with.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.gcn_channels < 8 {
            p.push(format!(
                "gcn_channels {} is below 8: CTR-GCN's relation convolutions have gcn_channels/8 channels",
                self.gcn_channels
            ));
        }
        p.extend(super::heads_problem(self.d_model, self.heads));
        p.extend(super::zero_problems(&[
            ("frames", self.frames),
            ("layers", self.layers),
            ("proj_dim", self.proj_dim),
        ]));
        p
    }

    pub fn init(&self, device: &Device) -> ScdEncoder {
        let (c, d) = (self.gcn_channels, self.d_model);
        let transformer = || {
            TransformerEncoderConfig::new(d, d, self.heads, self.layers)
                .with_dropout(self.dropout)
                .with_norm_first(false)
                .with_activation(ActivationConfig::Relu)
                .init(device)
        };
        let proj = || ProjMlp {
            fc1: LinearConfig::new(d, d).init(device),
            fc2: LinearConfig::new(d, self.proj_dim).init(device),
        };
        ScdEncoder {
            gcn_t: CtrGcn::new(c, device),
            gcn_s: CtrGcn::new(c, device),
            channel_t: ChannelMlp::new(PERSONS * graph::V * c, d, device),
            channel_s: ChannelMlp::new(self.frames * c, d, device),
            t_encoder: transformer(),
            s_encoder: transformer(),
            t_proj: proj(),
            s_proj: proj(),
            frames: self.frames,
        }
    }
}

impl ScdEncoder {
    /// (N, C, T, V, M) → (vt, vs), each (N, d_model).
    pub fn branches(&self, x: Tensor<5>, tap: &mut Tap) -> (Tensor<2>, Tensor<2>) {
        let [n, _, t, v, m] = x.dims();
        assert_eq!(
            t, self.frames,
            "the SCD encoder is built for {} frames (its spatial tokens hold every frame)",
            self.frames
        );
        let gt = self.gcn_t.forward(x.clone());
        tap("gcn_t", &gt.dims());
        let c = gt.dims()[1];
        // '(B M) C T V -> B T (M V C)'
        let vt = gt
            .reshape([n, m, c, t, v])
            .permute([0, 3, 1, 4, 2])
            .reshape([n, t, m * v * c]);
        let vt = self.channel_t.forward(vt);
        let gs = self.gcn_s.forward(x);
        tap("gcn_s", &gs.dims());
        // '(B M) C T V -> B (M V) (T C)'
        let vs = gs
            .reshape([n, m, c, t, v])
            .permute([0, 1, 4, 3, 2])
            .reshape([n, m * v, t * c]);
        let vs = self.channel_s.forward(vs);
        let vt = self.t_encoder.forward(TransformerEncoderInput::new(vt));
        tap("t_encoder", &vt.dims());
        let vs = self.s_encoder.forward(TransformerEncoderInput::new(vs));
        tap("s_encoder", &vs.dims());
        let d = vt.dims()[2];
        // max over tokens (`amax(dim=1)`)
        let vt = vt.max_dim(1).reshape([n, d]);
        let vs = vs.max_dim(1).reshape([n, d]);
        (vt, vs)
    }

    /// `cat(vt, vs)` as a (N, 2·d_model, 1, 1) map.
    pub fn feature_map(&self, x: Tensor<5>, tap: &mut Tap) -> Tensor<4> {
        let (vt, vs) = self.branches(x, tap);
        let f = Tensor::cat(vec![vt, vs], 1);
        let [n, d] = f.dims();
        f.reshape([n, d, 1, 1])
    }

    pub fn pool(&self, map: Tensor<4>, tap: &mut Tap) -> Tensor<2> {
        let [n, d, _, _] = map.dims();
        let f = map.reshape([n, d]);
        tap("cat(vt, vs)", &f.dims());
        f
    }
}

/// CTR-GCN's NTU graph (`graph/ntu_rgb_d.py`, `tools.get_spatial_graph`): identity, the
/// inward edges and the outward edges, each column-normalised; (3, V, V) row-major.
pub fn ctrgcn_graph() -> Vec<f32> {
    let v = graph::V;
    let inward: Vec<(usize, usize)> = graph::EDGES.iter().map(|&(i, j)| (i - 1, j - 1)).collect();
    let edge2mat = |links: &[(usize, usize)]| {
        let mut a = vec![0f64; v * v];
        for &(i, j) in links {
            a[j * v + i] = 1.0;
        }
        a
    };
    let normalise = |a: Vec<f64>| {
        let mut out = a.clone();
        for col in 0..v {
            let deg: f64 = (0..v).map(|r| a[r * v + col]).sum();
            if deg > 0.0 {
                for r in 0..v {
                    out[r * v + col] = a[r * v + col] / deg;
                }
            }
        }
        out
    };
    let selfl: Vec<(usize, usize)> = (0..v).map(|i| (i, i)).collect();
    let outward: Vec<(usize, usize)> = inward.iter().map(|&(i, j)| (j, i)).collect();
    [
        edge2mat(&selfl),
        normalise(edge2mat(&inward)),
        normalise(edge2mat(&outward)),
    ]
    .concat()
    .into_iter()
    .map(|x| x as f32)
    .collect()
}
