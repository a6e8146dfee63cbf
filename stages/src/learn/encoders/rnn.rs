//! Recurrent encoders: the BiGRU of ISC / CMD (ML-FACTS §2.2) and the LSTM of AS-CAL (§2.4).
//!
//! The cells are written with fused gates (one input matmul over all time steps, one hidden
//! matmul per step) instead of burn's `Gru`/`Lstm`, which do six matmuls and a
//! `slice_assign` per step. Parameter layout and counts equal PyTorch's `nn.GRU`/`nn.LSTM`
//! (W_ih, W_hh, b_ih, b_hh per layer and direction).

use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{sigmoid, tanh};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Tap;

/// How the bidirectional GRU is driven over time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GruDrive {
    /// A true bidirectional GRU (the papers): the reverse direction reads the sequence
    /// backwards; the feature is the last layer's final state of both directions.
    #[default]
    Bidirectional,
    /// CMD/ISC code: the GRU is fed one frame at a time, so both directions run forward in
    /// time; the feature is the output at the last frame (ML-FACTS §2.2 quirk).
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
            drive: GruDrive::Bidirectional,
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

    /// Input projection of all frames at once: (N, T, in) → (N, T, gates·H).
    fn project(&self, x: Tensor<3>) -> Tensor<3> {
        let [n, t, i] = x.dims();
        let g = x.reshape([n * t, i]).matmul(self.w_ih.val()) + self.b_ih.val().unsqueeze::<2>();
        g.reshape([n, t, self.w_ih.dims()[1]])
    }

    /// GRU over (N, T, in); `reverse` reads the frames backwards. Returns the outputs in
    /// time order (N, T, H) and the final state (N, H).
    pub fn gru(&self, x: Tensor<3>, reverse: bool) -> (Tensor<3>, Tensor<2>) {
        let [n, t, _] = x.dims();
        let h_dim = self.hidden;
        let gi = self.project(x);
        let mut h = Tensor::<2>::zeros([n, h_dim], &gi.device());
        let mut outs = Vec::with_capacity(t);
        let w_hh = self.w_hh.val();
        let b_hh = self.b_hh.val().unsqueeze::<2>();
        for step in 0..t {
            let ti = if reverse { t - 1 - step } else { step };
            let g = gi
                .clone()
                .slice(s![.., ti..ti + 1, ..])
                .reshape([n, 3 * h_dim]);
            let gh = h.clone().matmul(w_hh.clone()) + b_hh.clone();
            let [ir, iz, inn] = chunk3(g, h_dim);
            let [hr, hz, hn] = chunk3(gh, h_dim);
            let r = sigmoid(ir + hr);
            let z = sigmoid(iz + hz);
            let cand = tanh(inn + r * hn);
            h = cand.clone() + z * (h - cand);
            outs.push(h.clone());
        }
        if reverse {
            outs.reverse();
        }
        (Tensor::stack(outs, 1), h)
    }

    /// LSTM over (N, T, in): outputs (N, T, H) and the final hidden state.
    pub fn lstm(&self, x: Tensor<3>) -> (Tensor<3>, Tensor<2>) {
        let [n, t, _] = x.dims();
        let h_dim = self.hidden;
        let gi = self.project(x);
        let dev = gi.device();
        let mut h = Tensor::<2>::zeros([n, h_dim], &dev);
        let mut c = Tensor::<2>::zeros([n, h_dim], &dev);
        let mut outs = Vec::with_capacity(t);
        let w_hh = self.w_hh.val();
        let b_hh = self.b_hh.val().unsqueeze::<2>();
        for ti in 0..t {
            let g = gi
                .clone()
                .slice(s![.., ti..ti + 1, ..])
                .reshape([n, 4 * h_dim])
                + h.clone().matmul(w_hh.clone())
                + b_hh.clone();
            // PyTorch gate order: input, forget, cell, output
            let i = sigmoid(g.clone().narrow(1, 0, h_dim));
            let f = sigmoid(g.clone().narrow(1, h_dim, h_dim));
            let gg = tanh(g.clone().narrow(1, 2 * h_dim, h_dim));
            let o = sigmoid(g.narrow(1, 3 * h_dim, h_dim));
            c = f * c + i * gg;
            h = o * tanh(c.clone());
            outs.push(h.clone());
        }
        (Tensor::stack(outs, 1), h)
    }
}

fn chunk3(x: Tensor<2>, h: usize) -> [Tensor<2>; 3] {
    [
        x.clone().narrow(1, 0, h),
        x.clone().narrow(1, h, h),
        x.narrow(1, 2 * h, h),
    ]
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
            fwd.push(RnnCell::new(input, self.hidden, 3, true, device));
            bwd.push(RnnCell::new(input, self.hidden, 3, true, device));
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
    /// (N, C, T, V, M) → (N, 2H).
    pub fn forward(&self, x: Tensor<5>, tap: &mut Tap) -> Tensor<2> {
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
        let mut last = None;
        for (l, (f, b)) in self
            .forward_cells
            .iter()
            .zip(&self.backward_cells)
            .enumerate()
        {
            let (of, hf) = f.gru(h.clone(), false);
            let (ob, hb) = b.gru(h, !self.per_frame);
            h = Tensor::cat(vec![of, ob], 2);
            tap(&format!("gru.{l}"), &h.dims());
            last = Some((hf, hb));
        }
        let [n, t, d] = h.dims();
        let feat = if self.per_frame {
            // output at the last frame, as the frame-by-frame driven reference returns
            h.slice(s![.., t - 1..t, ..]).reshape([n, d])
        } else {
            let (hf, hb) = last.expect("at least one layer");
            Tensor::cat(vec![hf, hb], 1)
        };
        tap("feature", &feat.dims());
        feat
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
    /// (N, C, T, V, M) → (N, H): mean over time of the last layer's outputs (AS-CAL `tap='mean'`).
    pub fn forward(&self, x: Tensor<5>, tap: &mut Tap) -> Tensor<2> {
        let order = if self.vcm {
            FrameOrder::Vcm
        } else {
            FrameOrder::Cvm
        };
        let mut h = flatten_frames(x, order);
        for (l, cell) in self.cells.iter().enumerate() {
            h = cell.lstm(h).0;
            tap(&format!("lstm.{l}"), &h.dims());
        }
        let [n, _, d] = h.dims();
        let feat = h.mean_dim(1).reshape([n, d]);
        tap("mean_t", &feat.dims());
        feat
    }
}
