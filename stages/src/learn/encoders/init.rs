//! Weight initialisation as the reference repositories apply it after building the model.
//!
//! The constructors of the encoders draw PyTorch's per-layer defaults (`reset_parameters`:
//! U(±1/√fan_in) for Conv/Linear weights and biases, BN γ = 1, β = 0, recurrent weights and
//! biases U(±1/√H)). [`InitScheme::Reference`] then re-draws what the reference code
//! re-initialises, by backbone:
//!
//! - **ST-GCN** (AimCLR/ActCLR/CrosSCLR `processor/pretrain.py`, `model.apply(weights_init)`;
//!   ST-GCN's `recognition.py` does the same for Conv/BN): every Conv1d/Conv2d/Linear weight
//!   ~ N(0, 0.02), bias = 0; every BatchNorm γ ~ N(1, 0.02), β = 0 — backbone (data BN, the
//!   gcn 1×1 convolution, tcn, residual) and projection MLP. The edge-importance tensors are
//!   plain `nn.Parameter`s, not Conv/Linear/BN, and stay 1.
//! - **BiGRU** (CMD/ISC `weights_init_gru(encoder_q)`): `xavier_uniform_` on every 2-D
//!   parameter of the children, i.e. the GRU weight matrices and `fc` (the projection's last
//!   Linear); biases and the input BN keep the defaults. CMD builds the MLP's first
//!   Linear(2048, 2048) *after* that call (`fc = Sequential(Linear, ReLU, fc)`), so it keeps
//!   PyTorch's default init; we follow the code.
//! - **LSTM** (AS-CAL): the LSTM keeps PyTorch's defaults (no `apply`); the optional `Head`
//!   Linears get weights ~ N(0, 0.01) (`Head.initilize`), biases keep the default.

use burn::module::{ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::Distribution;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{BackboneConfig, Encoder};

/// How an encoder's weights are initialised (`init:` in the encoder config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InitScheme {
    /// What the reference pre-training code applies after building the model (see the
    /// module docs): AimCLR's N(0, 0.02) for ST-GCN, CMD's xavier for the BiGRU, AS-CAL's
    /// defaults for the LSTM.
    #[default]
    Reference,
    /// PyTorch's per-layer defaults, no re-initialisation.
    Default,
}

/// A fresh value for one parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Draw {
    Normal(f64, f64),
    Zeros,
    /// U(±√(6 / (fan_in + fan_out))) of a 2-D matrix (either orientation: the sum is the same).
    XavierUniform,
    /// N(0, √(2 / (fan_in + fan_out))) of a 2-D matrix.
    XavierNormal,
    /// U(±bound).
    Uniform(f64),
    /// A constant.
    Const(f64),
    /// N(0, √(2 / fan_out)) of a convolution weight (out, in[, kh, kw]): kaiming_normal_
    /// with `mode='fan_out'`.
    KaimingFanOut,
}

/// Re-draws the float parameters `rule(path, container)` names. `path` holds the field
/// names from the encoder down to the parameter; `container` the type owning each field
/// (`Struct:Conv2d`, `Vec`, …), as burn's module mapper reports them.
struct Reinit<F: FnMut(&[(String, String)]) -> Option<Draw>> {
    stack: Vec<(String, String)>,
    rule: F,
}

impl<F: FnMut(&[(String, String)]) -> Option<Draw>> ModuleMapper for Reinit<F> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.stack
            .push((name.to_string(), container_type.to_string()));
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.stack.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(draw) = (self.rule)(&self.stack) else {
            return param;
        };
        param.map(|t| {
            let (shape, device, grad) = (t.shape(), t.device(), t.is_require_grad());
            let fresh = match draw {
                Draw::Normal(mean, std) => {
                    Tensor::<D>::random(shape, Distribution::Normal(mean, std), &device)
                }
                Draw::Zeros => Tensor::<D>::zeros(shape, &device),
                Draw::XavierUniform => {
                    let dims = t.dims();
                    assert_eq!(D, 2, "xavier init is for matrices");
                    let bound = (6.0 / (dims[0] + dims[1]) as f64).sqrt();
                    Tensor::<D>::random(shape, Distribution::Uniform(-bound, bound), &device)
                }
                Draw::XavierNormal => {
                    let dims = t.dims();
                    let std = (2.0 / (dims[0] + dims[1]) as f64).sqrt();
                    Tensor::<D>::random(shape, Distribution::Normal(0.0, std), &device)
                }
                Draw::Uniform(b) => {
                    Tensor::<D>::random(shape, Distribution::Uniform(-b, b), &device)
                }
                Draw::Const(c) => Tensor::<D>::full(shape, c, &device),
                Draw::KaimingFanOut => {
                    let dims = t.dims();
                    let fan_out: usize = dims[0] * dims[2..].iter().product::<usize>();
                    let std = (2.0 / fan_out as f64).sqrt();
                    Tensor::<D>::random(shape, Distribution::Normal(0.0, std), &device)
                }
            };
            fresh.set_require_grad(grad)
        })
    }
}

fn apply(enc: Encoder, rule: impl FnMut(&[(String, String)]) -> Option<Draw>) -> Encoder {
    enc.map(&mut Reinit {
        stack: Vec::new(),
        rule,
    })
}

/// The parameter's field name and the type that owns it.
fn leaf(path: &[(String, String)]) -> (&str, &str) {
    path.last()
        .map_or(("", ""), |(n, c)| (n.as_str(), c.as_str()))
}

/// Whether `path` runs through the projection head.
fn in_projector(path: &[(String, String)]) -> bool {
    path.first().is_some_and(|(n, _)| n == "projector")
}

/// AimCLR's `weights_init`: Conv/Linear weight N(0, 0.02), bias 0; BN γ N(1, 0.02), β 0.
fn aimclr_rule(path: &[(String, String)]) -> Option<Draw> {
    match leaf(path) {
        ("weight", "Struct:Conv1d" | "Struct:Conv2d" | "Struct:Linear") => {
            Some(Draw::Normal(0.0, 0.02))
        }
        ("bias", "Struct:Conv1d" | "Struct:Conv2d" | "Struct:Linear") => Some(Draw::Zeros),
        ("gamma", "Struct:BatchNorm") => Some(Draw::Normal(1.0, 0.02)),
        ("beta", "Struct:BatchNorm") => Some(Draw::Zeros),
        // the gcn's Conv2d(in, K·out, 1), held as a matrix and a bias
        ("gcn_weight", "Struct:StBlock") => Some(Draw::Normal(0.0, 0.02)),
        ("gcn_bias", "Struct:StBlock") => Some(Draw::Zeros),
        _ => None,
    }
}

/// CMD's `weights_init_gru`: xavier on the recurrent matrices and on `fc` (the projection's
/// output Linear), which exist when it runs; the MLP's hidden Linear is added later.
fn cmd_rule(path: &[(String, String)]) -> Option<Draw> {
    match leaf(path) {
        ("w_ih" | "w_hh", "Struct:RnnCell") => Some(Draw::XavierUniform),
        ("weight", "Struct:Linear") if in_projector(path) && path[1].0 == "out" => {
            Some(Draw::XavierUniform)
        }
        _ => None,
    }
}

/// AS-CAL's `Head.initilize`: the head's Linear weights N(0, 0.01); the LSTM keeps defaults.
fn ascal_rule(path: &[(String, String)]) -> Option<Draw> {
    match leaf(path) {
        ("weight", "Struct:Linear") if in_projector(path) => Some(Draw::Normal(0.0, 0.01)),
        _ => None,
    }
}

/// SCD-Net / A²MC: CTR-GCN's own initialisation at construction (every convolution
/// kaiming-normal fan-out with zero bias; BN γ = 1, β = 0, but `unit_gcn.bn` γ = 1e-6 and
/// the multi-scale TCN's BN γ ~ N(1, 0.02)), then the builder's `weights_init`: xavier on
/// every 2-D parameter — the Linear layers, the projections, and the attention's packed
/// `in_proj_weight` (3d, d), whose bound √(6 / 4d) the separate query / key / value
/// matrices here keep; the attention biases start at 0 as PyTorch's do.
fn scd_rule(path: &[(String, String)]) -> Option<Draw> {
    let parent = path
        .len()
        .checked_sub(2)
        .map(|i| (path[i].0.as_str(), path[i].1.as_str()));
    let inside = |name: &str| path.iter().any(|(n, _)| n == name);
    match leaf(path) {
        ("weight", "Struct:Conv1x1" | "Struct:Conv2d") => Some(Draw::KaimingFanOut),
        ("bias", "Struct:Conv1x1" | "Struct:Conv2d") => Some(Draw::Zeros),
        ("gamma", "Struct:BatchNorm") if parent == Some(("bn", "Struct:UnitGcn")) => {
            Some(Draw::Const(1e-6))
        }
        ("gamma", "Struct:BatchNorm") if inside("tcn1") => Some(Draw::Normal(1.0, 0.02)),
        ("weight", "Struct:Linear") => Some(Draw::XavierUniform),
        ("bias", "Struct:Linear") if inside("mha") => Some(Draw::Zeros),
        _ => None,
    }
}

/// DSTA-Net's own initialisation (`model/dstanet.py`): every convolution weight
/// kaiming-normal (fan-out), its bias left at the default; BN γ = 1, β = 0 (the defaults);
/// every Linear xavier-normal with zero bias — here also the projection MLP.
fn dsta_rule(path: &[(String, String)]) -> Option<Draw> {
    match leaf(path) {
        ("weight", "Struct:Conv1x1") => Some(Draw::KaimingFanOut),
        ("weight", "Struct:Linear") => Some(Draw::XavierNormal),
        ("bias", "Struct:Linear") => Some(Draw::Zeros),
        _ => None,
    }
}

/// Informer's own initialisation: the token (and PFM's difference) embedding convolutions
/// kaiming-normal, fan-in, leaky-ReLU gain (`TokenEmbedding`); every other layer keeps
/// PyTorch's default.
fn agrnet_rule(path: &[(String, String)], frames: usize) -> Option<Draw> {
    let names: Vec<&str> = path.iter().map(|(n, _)| n.as_str()).collect();
    let cin = match names.as_slice() {
        [.., "xyz", "token" | "motion", "weight"] => super::agrnet::COORDS,
        [.., "t", "token" | "motion", "weight"] => frames,
        _ => return None,
    };
    let gain = (2.0 / (1.0 + 0.01f64.powi(2))).sqrt();
    Some(Draw::Normal(0.0, gain / ((3 * cin) as f64).sqrt()))
}

/// Apply `scheme` to a freshly built encoder (random draws come from `enc`'s device RNG).
pub fn initialise(enc: Encoder, backbone: &BackboneConfig, scheme: InitScheme) -> Encoder {
    match (scheme, backbone) {
        (InitScheme::Default, _) => enc,
        (InitScheme::Reference, BackboneConfig::Stgcn(_)) => apply(enc, aimclr_rule),
        (InitScheme::Reference, BackboneConfig::Bigru(_)) => apply(enc, cmd_rule),
        (InitScheme::Reference, BackboneConfig::Lstm(_)) => apply(enc, ascal_rule),
        (InitScheme::Reference, BackboneConfig::Transformer(_)) => apply(enc, dsta_rule),
        (InitScheme::Reference, BackboneConfig::Agrnet(c)) => {
            let frames = c.frames;
            apply(enc, move |path: &[(String, String)]| {
                agrnet_rule(path, frames)
            })
        }
        (InitScheme::Reference, BackboneConfig::Scd(c)) => {
            let qkv = (6.0 / (4 * c.d_model) as f64).sqrt();
            apply(enc, move |path: &[(String, String)]| {
                let parent = path.len().checked_sub(2).map(|i| path[i].0.as_str());
                match leaf(path) {
                    ("weight", "Struct:Linear")
                        if matches!(parent, Some("query" | "key" | "value")) =>
                    {
                        Some(Draw::Uniform(qkv))
                    }
                    _ => scd_rule(path),
                }
            })
        }
    }
}
