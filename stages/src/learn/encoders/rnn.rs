//! Recurrent encoders: the BiGRU of ISC / CMD (ML-FACTS §2.2), driven frame by frame as their
//! code does unless `drive: bidirectional`, and the LSTM of AS-CAL (§2.4).
//!
//! Each layer is one fused op with its own backward (`learn::fused`) instead of burn's
//! `Gru`/`Lstm`, which do six matmuls and a `slice_assign` per step; the composite cells
//! (`RnnCell::gru`, `RnnCell::lstm`) stay as the references the fused ops are tested
//! against. Parameter layout and counts equal PyTorch's `nn.GRU`/`nn.LSTM` (W_ih, W_hh,
//! b_ih, b_hh per layer and direction).

use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{sigmoid, tanh};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Tap;
use crate::learn::fused;

/// How the bidirectional GRU is driven over time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GruDrive {
    /// A true bidirectional pass (what the papers describe): the reverse direction reads the
    /// sequence backwards; the feature is the last layer's final state of both directions
    /// (forward after the last frame, reverse after the first). Opt-in: `drive: bidirectional`.
    Bidirectional,
    /// What the CMD / ISC code runs, so the default: the GRU is fed one frame at a time with
    /// the hidden state carried, so both directions run forward in time (each with its own
    /// weights); the feature is the output at the last frame (ML-FACTS §2.2).
    #[default]
    PerFrame,
}

/// Input flattening of (C, T, V, M) to one vector per frame.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FrameOrder {
    /// `v*6 + c*2 + m` (ISC / CMD / A2MC).
    #[default]
    Vcm,
    /// `c*50 + v*2 + m` (AS-CAL).
    Cvm,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct BiGruConfig {
    /// Values per frame (C·V·M = 150 for NTU).
    pub input_size: usize,
    pub hidden: usize,
    pub layers: usize,
    /// CMD's `BatchNorm1d(150)` over the input features (ISC has none).
    pub input_bn: bool,
    /// `per_frame` (default, the reference code) or `bidirectional` (a true bidirectional
    /// pass).
    pub drive: GruDrive,
    pub frame_order: FrameOrder,
}

impl Default for BiGruConfig {
    fn default() -> Self {
        BiGruConfig {
            input_size: 150,
            hidden: 1024,
            layers: 3,
            input_bn: true,
            drive: GruDrive::PerFrame,
            frame_order: FrameOrder::Vcm,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LstmConfig {
    pub input_size: usize,
    pub hidden: usize,
    pub layers: usize,
    pub frame_order: FrameOrder,
}

impl Default for LstmConfig {
    fn default() -> Self {
        LstmConfig {
            input_size: 150,
            hidden: 256,
            layers: 1,
            frame_order: FrameOrder::Cvm,
        }
    }
}

/// (N, C, T, V, M) → (N, T, C·V·M) in the configured order.
pub fn flatten_frames(x: Tensor<5>, order: FrameOrder) -> Tensor<3> {
    let [n, c, t, v, m] = x.dims();
    let x = match order {
        FrameOrder::Vcm => x.permute([0, 2, 3, 1, 4]),
        FrameOrder::Cvm => x.permute([0, 2, 1, 3, 4]),
    };
    x.reshape([n, t, c * v * m])
}

fn uniform(shape: [usize; 2], bound: f64, device: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(Tensor::random(
        shape,
        Distribution::Uniform(-bound, bound),
        device,
    ))
}

fn uniform1(len: usize, bound: f64, device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::random(
        [len],
        Distribution::Uniform(-bound, bound),
        device,
    ))
}

/// One direction of one recurrent layer with `gates` fused gates (3 for GRU, 4 for LSTM).
#[derive(Module, Debug)]
pub struct RnnCell {
    /// (in, gates·H)
    pub w_ih: Param<Tensor<2>>,
    /// (H, gates·H)
    pub w_hh: Param<Tensor<2>>,
    pub b_ih: Param<Tensor<1>>,
    pub b_hh: Param<Tensor<1>>,
    pub hidden: usize,
}

impl RnnCell {
    /// PyTorch's default U(±1/√H) everywhere; `xavier` re-draws the matrices as
    /// `weights_init_gru` does (xavier_uniform on every 2-D parameter).
    pub fn new(
        input: usize,
        hidden: usize,
        gates: usize,
        xavier: bool,
        device: &Device,
    ) -> RnnCell {
        let b = 1.0 / (hidden as f64).sqrt();
        // xavier bound of PyTorch's (gates·H, in) matrix: sqrt(6 / (fan_in + fan_out))
        let xi = (6.0 / (input + gates * hidden) as f64).sqrt();
        let xh = (6.0 / (hidden + gates * hidden) as f64).sqrt();
        RnnCell {
            w_ih: uniform([input, gates * hidden], if xavier { xi } else { b }, device),
            w_hh: uniform(
                [hidden, gates * hidden],
                if xavier { xh } else { b },
                device,
            ),
            b_ih: uniform1(gates * hidden, b, device),
            b_hh: uniform1(gates * hidden, b, device),
            hidden,
        }
    }

    /// GRU over (T, N, in) as one fused op (`learn::fused`): the states (T, N, H) in time
    /// order; `reverse` reads the steps backwards.
    pub fn gru_sequence(&self, x: Tensor<3>, reverse: bool) -> Tensor<3> {
        fused::gru_sequence(
            x,
            self.w_ih.val(),
            self.w_hh.val(),
            self.b_ih.val(),
            self.b_hh.val(),
            reverse,
        )
    }

    /// The composite reference of [`RnnCell::gru_sequence`], op by op through burn's graph
    /// (the fused op's tests compare the two): over per-frame inputs `xs` (T × (N, in)),
    /// outputs in time order. Inputs are projected per step: slicing one big projection per
    /// step would make every step's backward write a zero (N, T, 3H) gradient.
    pub fn gru(&self, xs: &[Tensor<2>], reverse: bool) -> Vec<Tensor<2>> {
        let t = xs.len();
        let n = xs[0].dims()[0];
        let h_dim = self.hidden;
        let (w_ih, w_hh) = (self.w_ih.val(), self.w_hh.val());
        let (b_ih, b_hh) = (
            self.b_ih.val().unsqueeze::<2>(),
            self.b_hh.val().unsqueeze::<2>(),
        );
        let mut h = Tensor::<2>::zeros([n, h_dim], &xs[0].device());
        let mut outs: Vec<Option<Tensor<2>>> = vec![None; t];
        for step in 0..t {
            let ti = if reverse { t - 1 - step } else { step };
            let gi = xs[ti].clone().matmul(w_ih.clone()) + b_ih.clone();
            let gh = h.clone().matmul(w_hh.clone()) + b_hh.clone();
            // r and z in one sigmoid over (N, 2H)
            let rz =
                sigmoid(gi.clone().narrow(1, 0, 2 * h_dim) + gh.clone().narrow(1, 0, 2 * h_dim));
            let r = rz.clone().narrow(1, 0, h_dim);
            let z = rz.narrow(1, h_dim, h_dim);
            let cand = tanh(gi.narrow(1, 2 * h_dim, h_dim) + r * gh.narrow(1, 2 * h_dim, h_dim));
            h = cand.clone() + z * (h - cand);
            outs[ti] = Some(h.clone());
        }
        outs.into_iter()
            .map(|o| o.expect("every step ran"))
            .collect()
    }

    /// LSTM over (T, N, in) as one fused op (`learn::fused`): the outputs (T, N, H).
    pub fn lstm_sequence(&self, x: Tensor<3>) -> Tensor<3> {
        fused::lstm_sequence(
            x,
            self.w_ih.val(),
            self.w_hh.val(),
            self.b_ih.val(),
            self.b_hh.val(),
        )
    }

    /// The composite reference of [`RnnCell::lstm_sequence`] over per-frame inputs: outputs
    /// in time order.
    pub fn lstm(&self, xs: &[Tensor<2>]) -> Vec<Tensor<2>> {
        let n = xs[0].dims()[0];
        let h_dim = self.hidden;
        let dev = xs[0].device();
        let (w_ih, w_hh) = (self.w_ih.val(), self.w_hh.val());
        let b = (self.b_ih.val() + self.b_hh.val()).unsqueeze::<2>();
        let mut h = Tensor::<2>::zeros([n, h_dim], &dev);
        let mut c = Tensor::<2>::zeros([n, h_dim], &dev);
        let mut outs = Vec::with_capacity(xs.len());
        for x in xs {
            let g = x.clone().matmul(w_ih.clone()) + h.clone().matmul(w_hh.clone()) + b.clone();
            // PyTorch gate order: input, forget, cell, output
            let ifo = sigmoid(Tensor::cat(
                vec![
                    g.clone().narrow(1, 0, 2 * h_dim),
                    g.clone().narrow(1, 3 * h_dim, h_dim),
                ],
                1,
            ));
            let gg = tanh(g.narrow(1, 2 * h_dim, h_dim));
            let i = ifo.clone().narrow(1, 0, h_dim);
            let f = ifo.clone().narrow(1, h_dim, h_dim);
            let o = ifo.narrow(1, 2 * h_dim, h_dim);
            c = f * c + i * gg;
            h = o * tanh(c.clone());
            outs.push(h.clone());
        }
        outs
    }
}

/// (N, T, D) → T × (N, D).
pub fn frames_of(x: Tensor<3>) -> Vec<Tensor<2>> {
    let [n, t, d] = x.dims();
    (0..t)
        .map(|ti| x.clone().slice(s![.., ti..ti + 1, ..]).reshape([n, d]))
        .collect()
}

impl BiGruConfig {
    pub fn init(&self, device: &Device) -> BiGruEncoder {
        let mut fwd = Vec::new();
        let mut bwd = Vec::new();
        for l in 0..self.layers {
            let input = if l == 0 {
                self.input_size
            } else {
                2 * self.hidden
            };
            // PyTorch's defaults; CMD's xavier is applied by `EncoderConfig::init` (init.rs)
            fwd.push(RnnCell::new(input, self.hidden, 3, false, device));
            bwd.push(RnnCell::new(input, self.hidden, 3, false, device));
        }
        BiGruEncoder {
            input_bn: self
                .input_bn
                .then(|| BatchNormConfig::new(self.input_size).init(device)),
            forward_cells: fwd,
            backward_cells: bwd,
            per_frame: self.drive == GruDrive::PerFrame,
            vcm: self.frame_order == FrameOrder::Vcm,
        }
    }
}

#[derive(Module, Debug)]
pub struct BiGruEncoder {
    pub input_bn: Option<BatchNorm>,
    pub forward_cells: Vec<RnnCell>,
    pub backward_cells: Vec<RnnCell>,
    pub per_frame: bool,
    pub vcm: bool,
}

impl BiGruEncoder {
    /// (N, C, T, V, M) → the last layer's outputs as a map (N, 2H, T, 1): forward
    /// direction in the first H channels, the other direction in the last H.
    pub fn feature_map(&self, x: Tensor<5>, tap: &mut Tap) -> Tensor<4> {
        let order = if self.vcm {
            FrameOrder::Vcm
        } else {
            FrameOrder::Cvm
        };
        let mut h = flatten_frames(x, order);
        if let Some(bn) = &self.input_bn {
            h = bn.forward(h.swap_dims(1, 2)).swap_dims(1, 2);
            tap("input_bn", &h.dims());
        }
        let [n, t, _] = h.dims();
        let mut seq = h.swap_dims(0, 1);
        for (l, (f, b)) in self
            .forward_cells
            .iter()
            .zip(&self.backward_cells)
            .enumerate()
        {
            let of = f.gru_sequence(seq.clone(), false);
            let ob = b.gru_sequence(seq, !self.per_frame);
            seq = Tensor::cat(vec![of, ob], 2);
            tap(&format!("gru.{l}"), &[n, t, 2 * f.hidden]);
        }
        // (T, N, 2H) → (N, 2H, T, 1)
        seq.permute([1, 2, 0]).unsqueeze_dim(3)
    }

    /// The feature of a map: the output at the last frame (frame-by-frame drive, as the
    /// reference returns it), or the final state of each direction (forward after frame
    /// T-1, reverse after frame 0).
    pub fn pool(&self, map: Tensor<4>, tap: &mut Tap) -> Tensor<2> {
        let [n, d, t, _] = map.dims();
        let h = d / 2;
        let feat = if self.per_frame {
            map.slice(s![0..n, 0..d, t - 1..t, 0..1]).reshape([n, d])
        } else {
            let hf = map
                .clone()
                .slice(s![0..n, 0..h, t - 1..t, 0..1])
                .reshape([n, h]);
            let hb = map.slice(s![0..n, h..d, 0..1, 0..1]).reshape([n, h]);
            Tensor::cat(vec![hf, hb], 1)
        };
        tap("feature", &feat.dims());
        feat
    }

    /// (N, C, T, V, M) → (N, 2H).
    pub fn forward(&self, x: Tensor<5>, tap: &mut Tap) -> Tensor<2> {
        let map = self.feature_map(x, tap);
        self.pool(map, tap)
    }
}

impl LstmConfig {
    pub fn init(&self, device: &Device) -> LstmEncoder {
        let cells = (0..self.layers)
            .map(|l| {
                RnnCell::new(
                    if l == 0 { self.input_size } else { self.hidden },
                    self.hidden,
                    4,
                    false,
                    device,
                )
            })
            .collect();
        LstmEncoder {
            cells,
            vcm: self.frame_order == FrameOrder::Vcm,
        }
    }
}

#[derive(Module, Debug)]
pub struct LstmEncoder {
    pub cells: Vec<RnnCell>,
    pub vcm: bool,
}

impl LstmEncoder {
    /// (N, C, T, V, M) → the last layer's outputs as a map (N, H, T, 1).
    pub fn feature_map(&self, x: Tensor<5>, tap: &mut Tap) -> Tensor<4> {
        let order = if self.vcm {
            FrameOrder::Vcm
        } else {
            FrameOrder::Cvm
        };
        let h = flatten_frames(x, order);
        let [n, t, _] = h.dims();
        let mut seq = h.swap_dims(0, 1);
        for (l, cell) in self.cells.iter().enumerate() {
            seq = cell.lstm_sequence(seq);
            tap(&format!("lstm.{l}"), &[n, t, cell.hidden]);
        }
        // (T, N, H) → (N, H, T, 1)
        seq.permute([1, 2, 0]).unsqueeze_dim(3)
    }

    /// Mean over time (AS-CAL `tap='mean'`).
    pub fn pool(&self, map: Tensor<4>, tap: &mut Tap) -> Tensor<2> {
        let [n, d, _, _] = map.dims();
        let feat = map.mean_dim(2).reshape([n, d]);
        tap("mean_t", &feat.dims());
        feat
    }

    /// (N, C, T, V, M) → (N, H): mean over time of the last layer's outputs.
    pub fn forward(&self, x: Tensor<5>, tap: &mut Tap) -> Tensor<2> {
        let map = self.feature_map(x, tap);
        self.pool(map, tap)
    }
}
