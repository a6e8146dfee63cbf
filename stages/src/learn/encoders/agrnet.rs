//! AgRNet's encoder, **reconstructed** (Zhang et al., "Unsupervised Action Recognition using
//! Spatiotemporal, Adaptive, and Attention-guided Refining-Network"; ML-FACTS §8). The
//! paper's code is withheld: its abstract names the modules, its public `main.py` (not
//! runnable) shows the frame: two Informer-style branches — `xyz` (frames as tokens) and
//! `t` (the transposed sequence: the 75 coordinates as tokens) — each followed by a
//! bidirectional RNN whose final states, concatenated, are the feature (4 × `rnn_hidden`).
//! The training objective (next-step prediction by a fixed-state decoder) is the `agrnet`
//! method's (`methods/agrnet.rs`).
//!
//! What each module is here (the abstract's words; our reading):
//! - **AAGA** (adaptive activity-guided attention: "the sparsity of the correlation matrix
//!   … filter and retain the active components"): Informer's ProbSparse self-attention —
//!   the `u = min(factor·⌈ln L⌉, L)` queries with the largest sparsity measure
//!   `M = max_j(q·k_j) − mean_j(q·k_j)` attend, every other query takes the mean of V.
//!   Off: full softmax attention.
//! - **ADGA** (adaptive dominant-guided attenuation: "local dominant features … obtained
//!   through convolutional distillation, embedded into the globally dominant features under
//!   the attention mechanism, guided by the defined attenuation factor"): between
//!   attention layers, `x ← maxpool(x) + λ·distil(x)`, where `maxpool` (kernel 3, stride 2)
//!   keeps the dominant responses of the attended sequence and `distil` is Informer's
//!   distilling convolution (circular conv k3 → BatchNorm → ELU → the same max-pool); λ is
//!   `attenuation`. It halves the sequence at each layer, as Informer's distilling does.
//!   Off: no distilling, the sequence keeps its length (main.py's timing files: a run
//!   without ADGA costs more).
//! - **PFM** (progressive feature modelling, "the progressive features in motion
//!   sequences that were overlooked by AAGA and ADGA"): the frame-to-frame differences of
//!   the normalised sequence, embedded by their own circular convolution and added to the
//!   token embedding of each branch. Off: the token embedding alone.
//!
//! Decisions the sources do not fix, and the alternative not taken:
//! - M over all keys, not Informer's random sample of `factor·⌈ln L⌉` keys: at L ≤ 75 the
//!   exact measure is cheap and keeps a run deterministic (alternative: sampled keys).
//!   Every row's full attention is computed and the lazy rows replaced — the values equal
//!   ProbSparse's; its saving in time does not matter at these lengths.
//! - ADGA's λ a fixed hyperparameter (`attenuation`, 0.5) — the abstract says "defined"
//!   (alternative: a learned gate).
//! - PFM as a difference-embedding on the input (alternative: a progressive, causal context
//!   for the lazy queries, which would act only where AAGA is on).
//! - Informer's feed-forward `Conv1d(k=1)` layers are `Linear` layers (the same map); no
//!   temporal ("time-feature") embedding: skeleton frames carry no timestamps; dropout
//!   (0.05) on the embedding, after attention and in the feed-forward, none on attention
//!   weights (Informer's ProbAttention applies none).
//! - The RNN is a tanh RNN (main.py's `BasicRNN`), with PyTorch's `nn.RNN` equations (two
//!   biases).
//! - One body, chosen by `body` (main.py's P&C pickles hold one body per video); per-video
//!   min-max normalisation of each axis over the valid frames and all joints to [−1, 1];
//!   padded (all-zero) frames stay zero and are masked in the method's loss.

use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::pool::{MaxPool1d, MaxPool1dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig, PaddingConfig1d,
};
use burn::prelude::*;
use burn::tensor::activation::{elu, gelu, softmax, tanh};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Tap;
use crate::learn::graph;

/// Coordinates per frame of one body (25 joints × xyz).
pub const COORDS: usize = 3 * graph::V;

/// Which body of a two-person clip the encoder reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Body {
    /// The first body (the one P&C-style pickles keep).
    First,
    Second,
}

impl Body {
    pub fn index(self) -> usize {
        match self {
            Body::First => 0,
            Body::Second => 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AgrnetConfig {
    /// Frames per clip (main.py: ≤ 50, the `t` branch's token width).
    pub frames: usize,
    pub d_model: usize,
    pub heads: usize,
    pub d_ff: usize,
    /// Attention layers per branch (`e_layers`).
    pub layers: usize,
    /// AAGA's sampling factor c: u = c·⌈ln L⌉ active queries.
    pub factor: usize,
    pub dropout: f64,
    /// Units per direction of the bidirectional RNN.
    pub rnn_hidden: usize,
    pub rnn_layers: usize,
    /// The body read from two-person clips; required for them (validation says so).
    pub body: Option<Body>,
    /// Adaptive activity-guided attention (ProbSparse); off: full attention.
    pub aaga: bool,
    /// Adaptive dominant-guided attenuation (distilling between layers); off: none.
    pub adga: bool,
    /// Progressive feature modelling (frame-difference embedding); off: none.
    pub pfm: bool,
    /// ADGA's attenuation factor λ on the distilled (local) features.
    pub attenuation: f64,
}

impl Default for AgrnetConfig {
    /// main.py's Informer and RNN settings.
    fn default() -> Self {
        AgrnetConfig {
            frames: 50,
            d_model: 512,
            heads: 8,
            d_ff: 512,
            layers: 3,
            factor: 5,
            dropout: 0.05,
            rnn_hidden: 1024,
            rnn_layers: 3,
            body: None,
            aaga: true,
            adga: true,
            pfm: true,
            attenuation: 0.5,
        }
    }
}

impl AgrnetConfig {
    pub fn feature_dim(&self) -> usize {
        4 * self.rnn_hidden
    }

    /// Sequence length after ADGA's distilling: L → ⌊(L−1)/2⌋+1 per layer boundary.
    pub fn out_len(&self, len: usize) -> usize {
        if !self.adga {
            return len;
        }
        (1..self.layers).fold(len, |l, _| (l - 1) / 2 + 1)
    }

    /// Problems with the settings.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        p.extend(super::heads_problem(self.d_model, self.heads));
        p.extend(super::zero_problems(&[
            ("frames", self.frames),
            ("layers", self.layers),
            ("factor", self.factor),
            ("rnn_hidden", self.rnn_hidden),
            ("rnn_layers", self.rnn_layers),
            ("d_ff", self.d_ff),
        ]));
        p
    }

    pub fn init(&self, device: &Device) -> AgrnetEncoder {
        let h = self.rnn_hidden;
        AgrnetEncoder {
            xyz: Branch::new(self, COORDS, device),
            t: Branch::new(self, self.frames, device),
            xyz_rnn: BiRnn::new(self.d_model, h, self.rnn_layers, device),
            t_rnn: BiRnn::new(self.d_model, h, self.rnn_layers, device),
            body: self.body,
        }
    }
}

/// AAGA's active queries for a sequence of `len`: `min(factor·⌈ln len⌉, len)`.
pub fn active_queries(factor: usize, len: usize) -> usize {
    let c = factor * (len.max(1) as f64).ln().ceil() as usize;
    c.min(len)
}

/// A circular-padded (1 each side) convolution of kernel 3 over (N, C, L) — Informer's
/// `padding_mode='circular'`.
fn circular_conv(conv: &Conv1d, x: Tensor<3>) -> Tensor<3> {
    let l = x.dims()[2];
    let x = Tensor::cat(
        vec![x.clone().narrow(2, l - 1, 1), x.clone(), x.narrow(2, 0, 1)],
        2,
    );
    conv.forward(x)
}

fn circular_conv_config(cin: usize, cout: usize, bias: bool) -> Conv1dConfig {
    Conv1dConfig::new(cin, cout, 3)
        .with_padding(PaddingConfig1d::Valid)
        .with_bias(bias)
}

/// Informer's sinusoidal positional embedding (len, d).
pub fn positional_embedding(len: usize, d: usize, device: &Device) -> Tensor<2> {
    let mut pe = vec![0f32; len * d];
    for pos in 0..len {
        for i in (0..d).step_by(2) {
            let div = (i as f64 * -(10000f64.ln() / d as f64)).exp();
            let a = pos as f64 * div;
            pe[pos * d + i] = a.sin() as f32;
            if i + 1 < d {
                pe[pos * d + i + 1] = a.cos() as f32;
            }
        }
    }
    Tensor::from_data(TensorData::new(pe, [len, d]), device)
}

/// Self-attention over (N, H, L, dh) heads: AAGA's ProbSparse rows with `active`, full
/// attention without.
pub fn attention(q: Tensor<4>, k: Tensor<4>, v: Tensor<4>, active: Option<usize>) -> Tensor<4> {
    let [n, h, l, dh] = q.dims();
    let raw = q.matmul(k.swap_dims(2, 3));
    let full = softmax(raw.clone() / (dh as f64).sqrt(), 3).matmul(v.clone());
    match active {
        Some(u) if u < l => {
            // sparsity measure on the unscaled scores, as Informer computes it
            let m = raw.clone().max_dim(3) - raw.mean_dim(3);
            let kth = m
                .clone()
                .squeeze_dim::<3>(3)
                .topk(u, 2)
                .min_dim(2)
                .unsqueeze_dim(3);
            let keep = m.greater_equal(kth).float().expand([n, h, l, dh]);
            let mean = v.mean_dim(2).expand([n, h, l, dh]);
            full * keep.clone() + mean * (keep.neg() + 1.0)
        }
        _ => full,
    }
}

/// Informer's encoder layer: attention → residual → norm → GELU feed-forward → norm.
#[derive(Module, Debug)]
pub struct Layer {
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub out: Linear,
    pub ff1: Linear,
    pub ff2: Linear,
    pub norm1: LayerNorm,
    pub norm2: LayerNorm,
    pub dropout: Dropout,
    pub heads: usize,
    /// AAGA's factor, or 0 for full attention.
    pub factor: usize,
}

impl Layer {
    fn new(c: &AgrnetConfig, device: &Device) -> Layer {
        let d = c.d_model;
        Layer {
            query: LinearConfig::new(d, d).init(device),
            key: LinearConfig::new(d, d).init(device),
            value: LinearConfig::new(d, d).init(device),
            out: LinearConfig::new(d, d).init(device),
            ff1: LinearConfig::new(d, c.d_ff).init(device),
            ff2: LinearConfig::new(c.d_ff, d).init(device),
            norm1: LayerNormConfig::new(d).init(device),
            norm2: LayerNormConfig::new(d).init(device),
            dropout: DropoutConfig::new(c.dropout).init(),
            heads: c.heads,
            factor: if c.aaga { c.factor } else { 0 },
        }
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [n, l, d] = x.dims();
        let (h, dh) = (self.heads, d / self.heads);
        let split = |t: Tensor<3>| t.reshape([n, l, h, dh]).swap_dims(1, 2);
        let a = attention(
            split(self.query.forward(x.clone())),
            split(self.key.forward(x.clone())),
            split(self.value.forward(x.clone())),
            (self.factor > 0).then(|| active_queries(self.factor, l)),
        )
        .swap_dims(1, 2)
        .reshape([n, l, d]);
        let x = self
            .norm1
            .forward(x + self.dropout.forward(self.out.forward(a)));
        let y = self.dropout.forward(gelu(self.ff1.forward(x.clone())));
        let y = self.dropout.forward(self.ff2.forward(y));
        self.norm2.forward(x + y)
    }
}

/// Informer's distilling layer (`ConvLayer`): circular conv k3 → BatchNorm → ELU →
/// max-pool (3, 2, 1), over (N, L, d).
#[derive(Module, Debug)]
pub struct Distil {
    pub conv: Conv1d,
    pub norm: BatchNorm,
}

fn halve() -> MaxPool1d {
    MaxPool1dConfig::new(3)
        .with_stride(2)
        .with_padding(PaddingConfig1d::Explicit(1, 1))
        .init()
}

impl Distil {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let y = circular_conv(&self.conv, x.swap_dims(1, 2));
        let y = elu(self.norm.forward(y), 1.0);
        halve().forward(y).swap_dims(1, 2)
    }
}

/// One Informer-style branch over (N, L, c_in) tokens.
#[derive(Module, Debug)]
pub struct Branch {
    pub token: Conv1d,
    /// PFM's embedding of the frame differences.
    pub motion: Option<Conv1d>,
    pub layers: Vec<Layer>,
    /// ADGA's distilling layers (none without ADGA).
    pub distil: Vec<Distil>,
    pub norm: LayerNorm,
    pub dropout: Dropout,
    pub attenuation: f64,
}

impl Branch {
    fn new(c: &AgrnetConfig, cin: usize, device: &Device) -> Branch {
        let d = c.d_model;
        Branch {
            token: circular_conv_config(cin, d, false).init(device),
            motion: c
                .pfm
                .then(|| circular_conv_config(cin, d, false).init(device)),
            layers: (0..c.layers).map(|_| Layer::new(c, device)).collect(),
            distil: if c.adga {
                (1..c.layers)
                    .map(|_| Distil {
                        conv: circular_conv_config(d, d, true).init(device),
                        norm: BatchNormConfig::new(d).init(device),
                    })
                    .collect()
            } else {
                Vec::new()
            },
            norm: LayerNormConfig::new(d).init(device),
            dropout: DropoutConfig::new(c.dropout).init(),
            attenuation: c.attenuation,
        }
    }

    /// Tokens (N, L, c_in) and their differences (PFM) → (N, L', d).
    pub fn forward(&self, x: Tensor<3>, diff: Tensor<3>) -> Tensor<3> {
        let [_, l, _] = x.dims();
        let d = self.norm.gamma.dims()[0];
        let mut e = circular_conv(&self.token, x.swap_dims(1, 2));
        if let Some(m) = &self.motion {
            e = e + circular_conv(m, diff.swap_dims(1, 2));
        }
        let pe = positional_embedding(l, d, &e.device());
        let mut z = self
            .dropout
            .forward(e.swap_dims(1, 2) + pe.unsqueeze_dim::<3>(0));
        for (i, layer) in self.layers.iter().enumerate() {
            z = layer.forward(z);
            if let Some(distil) = self.distil.get(i) {
                // ADGA: the dominant responses plus the attenuated distilled ones
                let dominant = halve().forward(z.clone().swap_dims(1, 2)).swap_dims(1, 2);
                z = dominant + distil.forward(z) * self.attenuation;
            }
        }
        self.norm.forward(z)
    }
}

/// A tanh RNN cell with `nn.RNN`'s two biases.
#[derive(Module, Debug)]
pub struct RnnCell {
    pub input: Linear,
    pub hidden: Linear,
}

impl RnnCell {
    fn new(cin: usize, h: usize, device: &Device) -> RnnCell {
        RnnCell {
            input: LinearConfig::new(cin, h).init(device),
            hidden: LinearConfig::new(h, h).init(device),
        }
    }

    /// Run over (N, L, in) forwards or backwards: the outputs in sequence order and the
    /// final state.
    fn run(&self, x: Tensor<3>, reverse: bool) -> (Tensor<3>, Tensor<2>) {
        let [n, l, _] = x.dims();
        let h = self.hidden.weight.dims()[0];
        // the input projection of every step at once
        let xi = self.input.forward(x);
        let mut state = Tensor::<2>::zeros([n, h], &xi.device());
        let mut outs = vec![None; l];
        for s in 0..l {
            let t = if reverse { l - 1 - s } else { s };
            let step = xi.clone().narrow(1, t, 1).reshape([n, h]);
            state = tanh(step + self.hidden.forward(state));
            outs[t] = Some(state.clone().unsqueeze_dim::<3>(1));
        }
        (Tensor::cat(outs.into_iter().flatten().collect(), 1), state)
    }
}

#[derive(Module, Debug)]
pub struct RnnLayer {
    pub fwd: RnnCell,
    pub bwd: RnnCell,
}

/// main.py's bidirectional `BasicRNN` stack.
#[derive(Module, Debug)]
pub struct BiRnn {
    pub layers: Vec<RnnLayer>,
}

impl BiRnn {
    fn new(cin: usize, h: usize, layers: usize, device: &Device) -> BiRnn {
        BiRnn {
            layers: (0..layers)
                .map(|i| {
                    let input = if i == 0 { cin } else { 2 * h };
                    RnnLayer {
                        fwd: RnnCell::new(input, h, device),
                        bwd: RnnCell::new(input, h, device),
                    }
                })
                .collect(),
        }
    }

    /// (N, L, d) → the last layer's final states `cat(forward, backward)` (N, 2h).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<2> {
        let mut seq = x;
        let mut last = None;
        for layer in &self.layers {
            let (f, fs) = layer.fwd.run(seq.clone(), false);
            let (b, bs) = layer.bwd.run(seq, true);
            seq = Tensor::cat(vec![f, b], 2);
            last = Some(Tensor::cat(vec![fs, bs], 1));
        }
        last.expect("at least one RNN layer")
    }
}

/// What one forward pass gives the method: the branch inputs it predicts, their mask and
/// the branches' final states.
pub struct AgrnetPass {
    /// Normalised frames (N, T, 75), zero on padded frames.
    pub xn: Tensor<3>,
    /// 1 on valid frames, (N, T, 75).
    pub mask: Tensor<3>,
    /// Final states `cat(fwd, bwd)` of the `xyz` and `t` branches, (N, 2h) each.
    pub xyz_state: Tensor<2>,
    pub t_state: Tensor<2>,
}

#[derive(Module, Debug)]
pub struct AgrnetEncoder {
    pub xyz: Branch,
    pub t: Branch,
    pub xyz_rnn: BiRnn,
    pub t_rnn: BiRnn,
    #[module(skip)]
    pub body: Option<Body>,
}

/// PFM's input: the frame-to-frame differences of (N, T, C) frames (the first frame's is
/// zero), zero on padded frames.
pub fn frame_differences(xn: Tensor<3>, mask: Tensor<3>) -> Tensor<3> {
    let [n, t, c] = xn.dims();
    Tensor::cat(
        vec![
            Tensor::zeros([n, 1, c], &xn.device()),
            xn.clone().narrow(1, 1, t - 1) - xn.narrow(1, 0, t - 1),
        ],
        1,
    ) * mask
}

impl AgrnetEncoder {
    /// The frames a clip must have: the `t` branch's token width.
    pub fn frames(&self) -> usize {
        self.t.token.weight.dims()[1]
    }

    /// Units per direction of the BiRNNs.
    pub fn rnn_hidden(&self) -> usize {
        self.xyz_rnn.layers[0].fwd.hidden.weight.dims()[0]
    }

    /// One body of (N, C, T, V, M) clips as (N, T, 75), min-max normalised per video and
    /// axis over its valid frames, with the valid-frame mask.
    pub fn prepare(&self, x: Tensor<5>) -> (Tensor<3>, Tensor<3>) {
        let [n, c, t, v, m] = x.dims();
        let body = self.body.map_or(0, Body::index).min(m - 1);
        // (N, C, T, V, 1) → (N, T, V, C)
        let s = x
            .narrow(4, body, 1)
            .reshape([n, c, t, v])
            .permute([0, 2, 3, 1]);
        let valid = s
            .clone()
            .abs()
            .reshape([n, t, v * c])
            .max_dim(2)
            .greater_elem(0.0)
            .float(); // (N, T, 1)
        let frame_mask = valid.clone().reshape([n, t, 1, 1]).expand([n, t, v, c]);
        let big = (frame_mask.clone().neg() + 1.0) * 1e9;
        let flat = |a: Tensor<4>| a.reshape([n, t * v, c]);
        let lo = flat(s.clone() + big.clone())
            .min_dim(1)
            .reshape([n, 1, 1, c]);
        let hi = flat(s.clone() - big).max_dim(1).reshape([n, 1, 1, c]);
        let range = (hi - lo.clone()).clamp_min(1e-6);
        let xn = ((s - lo.expand([n, t, v, c])) / range.expand([n, t, v, c]) * 2.0 - 1.0)
            * frame_mask.clone();
        (xn.reshape([n, t, v * c]), frame_mask.reshape([n, t, v * c]))
    }

    /// The forward pass the method trains on.
    pub fn pass(&self, x: Tensor<5>, tap: &mut Tap) -> AgrnetPass {
        let (xn, mask) = self.prepare(x);
        let diff = frame_differences(xn.clone(), mask.clone());
        let xyz = self.xyz.forward(xn.clone(), diff.clone());
        tap("xyz", &xyz.dims());
        let tb = self
            .t
            .forward(xn.clone().swap_dims(1, 2), diff.swap_dims(1, 2));
        tap("t", &tb.dims());
        let xyz_state = self.xyz_rnn.forward(xyz);
        tap("xyz_rnn", &xyz_state.dims());
        let t_state = self.t_rnn.forward(tb);
        tap("t_rnn", &t_state.dims());
        AgrnetPass {
            xn,
            mask,
            xyz_state,
            t_state,
        }
    }

    /// The feature as a (N, 4h, 1, 1) map.
    pub fn feature_map(&self, x: Tensor<5>, tap: &mut Tap) -> Tensor<4> {
        let p = self.pass(x, tap);
        let f = Tensor::cat(vec![p.xyz_state, p.t_state], 1);
        let [n, d] = f.dims();
        f.reshape([n, d, 1, 1])
    }

    pub fn pool(&self, map: Tensor<4>, tap: &mut Tap) -> Tensor<2> {
        let [n, d, _, _] = map.dims();
        tap("feature", &[n, d]);
        map.reshape([n, d])
    }
}
