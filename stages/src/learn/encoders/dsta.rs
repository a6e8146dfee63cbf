//! The transformer encoder of A²MC's Table I: DSTA-Net (Shi et al., ACCV 2020,
//! "Decoupled Spatial-Temporal Attention Network"; lshiwjx/DSTA-Net `model/dstanet.py`),
//! the encoder A²MC names for its Transformer row ([59]).
//!
//! Which configuration: DSTA-Net's `DSTANet` with its own defaults — both attentions
//! (`use_spatial_att`, `use_temporal_att`), learned spatial attention plus a global spatial
//! regulariser (`att_s`, `glo_reg_s`), learned temporal attention without one (`att_t`,
//! not `glo_reg_t`), sine positional encodings of joints and frames, three subsets — and
//! the 8-block configuration of its NTU configs (64, 64, 128 /2, 128, 256 /2, 256, 256, 256),
//! over A²MC's 64 frames; the feature is the mean over persons, frames and joints (256-d),
//! the head MoCo's MLP. A²MC publishes no transformer code or config; its paper gives 3.12M
//! parameters for the model, this one has 3,436,744 in the backbone (`model summary
//! transformer`) — the public code's NTU config `dstanet_a` (spatial attention only) was
//! not taken because the paper calls the encoder a spatial-temporal transformer.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::activation::{leaky_relu, tanh};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Tap;
use super::scd::{Conv1x1, ConvBn};
use crate::learn::graph;

const SLOPE: f64 = 0.1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DstaConfig {
    /// Frames the positional encodings cover: the longest input (64 in A²MC).
    pub frames: usize,
    /// The blocks: (in, out, attention channels, temporal stride).
    pub blocks: Vec<[usize; 4]>,
    /// Attention heads ("subsets").
    pub subsets: usize,
}

impl Default for DstaConfig {
    fn default() -> Self {
        DstaConfig {
            frames: 64,
            blocks: vec![
                [64, 64, 16, 1],
                [64, 64, 16, 1],
                [64, 128, 32, 2],
                [128, 128, 32, 1],
                [128, 256, 64, 2],
                [256, 256, 64, 1],
                [256, 256, 64, 1],
                [256, 256, 64, 1],
            ],
            subsets: 3,
        }
    }
}

impl DstaConfig {
    pub fn feature_dim(&self) -> usize {
        self.blocks.last().map_or(0, |b| b[1])
    }

    pub fn init(&self, device: &Device) -> Dsta {
        let mut frames = self.frames;
        let mut blocks = Vec::new();
        for &[cin, cout, inter, stride] in &self.blocks {
            blocks.push(StAttention::new(
                cin,
                cout,
                inter,
                stride,
                self.subsets,
                frames,
                device,
            ));
            frames = (frames as f64 / stride as f64 + 0.5) as usize;
        }
        Dsta {
            input_map: ConvBn::new(3, self.blocks.first().map_or(3, |b| b[0]), device),
            graph_layers: blocks,
        }
    }
}

/// Sine encodings (1, channels, frames, V) of the frame (`temporal`) or the joint
/// (`spatial`) of every position, as DSTA-Net's `PositionalEncoding`.
pub fn positional_encoding(channels: usize, frames: usize, temporal: bool) -> Vec<f32> {
    let v = graph::V;
    let mut pe = vec![0f32; channels * frames * v];
    for t in 0..frames {
        for j in 0..v {
            let pos = if temporal { t } else { j } as f32;
            for c in (0..channels).step_by(2) {
                let div = (c as f32 * -(10000f32.ln() / channels as f32)).exp();
                let at = |ch: usize| (ch * frames + t) * v + j;
                pe[at(c)] = (pos * div).sin();
                if c + 1 < channels {
                    pe[at(c + 1)] = (pos * div).cos();
                }
            }
        }
    }
    pe
}

/// DSTA-Net's `STAttentionBlock`: spatial attention over joints, then temporal attention
/// over frames, each with its output projection, residual, feed-forward 1×1 convolution.
#[derive(Module, Debug)]
pub struct StAttention {
    pub in_nets: Conv1x1,
    pub alphas: Param<Tensor<4>>,
    pub attention0s: Param<Tensor<4>>,
    pub out_nets: ConvBn,
    pub ff_nets: ConvBn,
    pub in_nett: Conv1x1,
    pub alphat: Param<Tensor<4>>,
    pub out_nett: ConvBn,
    pub ff_nett: ConvBn,
    pub downs1: Option<ConvBn>,
    pub downs2: Option<ConvBn>,
    pub downt1: Option<ConvBn>,
    pub downt2: Option<ConvBn>,
    /// The positional encodings (constants, like PyTorch's buffers).
    pub pes: Tensor<4>,
    pub pet: Tensor<4>,
    pub subsets: usize,
    pub inter: usize,
    pub stride: usize,
}

impl StAttention {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cin: usize,
        cout: usize,
        inter: usize,
        stride: usize,
        s: usize,
        frames: usize,
        device: &Device,
    ) -> StAttention {
        let v = graph::V;
        let down = cin != cout || stride != 1;
        let pe = |c: usize, temporal: bool| {
            Tensor::<4>::from_data(
                TensorData::new(positional_encoding(c, frames, temporal), [1, c, frames, v]),
                device,
            )
        };
        StAttention {
            in_nets: Conv1x1::new(cin, 2 * s * inter, device),
            alphas: Param::from_tensor(Tensor::ones([1, s, 1, 1], device)),
            attention0s: Param::from_tensor(Tensor::full([1, s, v, v], 1.0 / v as f64, device)),
            out_nets: ConvBn::new(cin * s, cout, device),
            ff_nets: ConvBn::new(cout, cout, device),
            in_nett: Conv1x1::new(cout, 2 * s * inter, device),
            alphat: Param::from_tensor(Tensor::ones([1, s, 1, 1], device)),
            out_nett: ConvBn::new(cout * s, cout, device),
            ff_nett: ConvBn::new(cout, cout, device),
            downs1: down.then(|| ConvBn::new(cin, cout, device)),
            downs2: down.then(|| ConvBn::new(cin, cout, device)),
            downt1: down.then(|| ConvBn::new(cout, cout, device)),
            downt2: down.then(|| ConvBn::new(cout, cout, device)),
            pes: pe(cin, false),
            pet: pe(cout, true),
            subsets: s,
            inter,
            stride,
        }
    }

    /// (N, C, T, V) → (N, C_out, T / stride, V).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, t, v] = x.dims();
        let (s, ic) = (self.subsets, self.inter);
        let frames = self.pes.dims()[2];
        assert!(
            t <= frames,
            "DSTA-Net's positional encodings cover {frames} frames; the input has {t} (set `frames`)"
        );
        let or = |m: &Option<ConvBn>, x: Tensor<4>| match m {
            Some(m) => m.forward(x),
            None => x,
        };
        // spatial attention: (N, S, U, V) from the joints' queries and keys over (c', T)
        let y = x.clone() + self.pes.clone().narrow(2, 0, t);
        let qk = self.in_nets.forward(y).reshape([n, 2 * s, ic * t, v]);
        let q = qk.clone().narrow(1, 0, s);
        let k = qk.narrow(1, s, s);
        let att = tanh(q.swap_dims(2, 3).matmul(k) / (ic * t) as f64) * self.alphas.val()
            + self.attention0s.val();
        // einsum('nctu,nsuv->nsctv')
        let y = x
            .clone()
            .reshape([n, 1, c * t, v])
            .matmul(att)
            .reshape([n, s * c, t, v]);
        let y = self.out_nets.forward(y);
        let y = leaky_relu(or(&self.downs1, x.clone()) + y, SLOPE);
        let y = self.ff_nets.forward(y);
        let y = leaky_relu(or(&self.downs2, x) + y, SLOPE);

        // temporal attention: (N, S, T, Q) from the frames' queries and keys over (c', V)
        let co = y.dims()[1];
        let z = y.clone() + self.pet.clone().narrow(2, 0, t);
        let qk = self
            .in_nett
            .forward(z)
            .reshape([n, 2 * s, ic, t, v])
            .permute([0, 1, 3, 2, 4])
            .reshape([n, 2 * s, t, ic * v]);
        let q = qk.clone().narrow(1, 0, s);
        let k = qk.narrow(1, s, s);
        let att = tanh(q.matmul(k.swap_dims(2, 3)) / (ic * v) as f64) * self.alphat.val();
        // einsum('nctv,nstq->nscqv')
        let z = y
            .clone()
            .permute([0, 1, 3, 2])
            .reshape([n, 1, co * v, t])
            .matmul(att)
            .reshape([n, s, co, v, t])
            .permute([0, 1, 2, 4, 3])
            .reshape([n, s * co, t, v]);
        let z = self.out_nett.forward(z);
        let z = leaky_relu(or(&self.downt1, y.clone()) + z, SLOPE);
        // the (1, 1) convolutions with temporal stride: every stride-th frame
        let z = self.ff_nett.forward(every(z, self.stride));
        leaky_relu(or(&self.downt2, every(y, self.stride)) + z, SLOPE)
    }
}

/// Frames 0, s, 2s, … (a 1×1 convolution with stride s sees only these).
fn every(x: Tensor<4>, s: usize) -> Tensor<4> {
    if s == 1 {
        return x;
    }
    x.slice(s![.., .., ..;s as isize, ..])
}

#[derive(Module, Debug)]
pub struct Dsta {
    /// 1×1 convolution 3 → C, BN, LeakyReLU(0.1).
    pub input_map: ConvBn,
    pub graph_layers: Vec<StAttention>,
}

impl Dsta {
    /// (N, C, T, V, M) → (N·M, D, T', V).
    pub fn feature_map(&self, x: Tensor<5>, tap: &mut Tap) -> Tensor<4> {
        let [n, c, t, v, m] = x.dims();
        let x = x.permute([0, 4, 1, 2, 3]).reshape([n * m, c, t, v]);
        let mut x = leaky_relu(self.input_map.forward(x), SLOPE);
        tap("input_map", &x.dims());
        for (i, block) in self.graph_layers.iter().enumerate() {
            x = block.forward(x);
            tap(&format!("graph_layers.{i}"), &x.dims());
        }
        x
    }

    /// Mean over frames, joints and persons: (N, D).
    pub fn pool(&self, map: Tensor<4>, persons: usize, tap: &mut Tap) -> Tensor<2> {
        super::stgcn::mean_pool(map, persons, tap)
    }
}
