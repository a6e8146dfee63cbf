//! The reference repositories' parameter names for skelflow's encoders, both ways, and the
//! encoder shape a reference state dict implies.
//!
//! A burn path is the dotted path burn's module visitor gives a parameter
//! (`backbone.Stgcn.blocks.0.gcn_weight`); a torch name is the key the reference module's
//! `state_dict()` gives it (`st_gcn_networks.0.gcn.conv.weight`), without the wrapper's
//! prefix (`encoder_q.`). Layouts differ in two ways only: burn keeps linear and recurrent
//! matrices as (in, out) where PyTorch keeps (out, in), and ST-GCN's 1×1 graph projection is a
//! matrix here and a (out, in, 1, 1) convolution there.

use super::{StateDict, TorchTensor};
use crate::learn::encoders::{
    AgrnetConfig, BackboneConfig, BiGruConfig, DstaConfig, EncoderConfig, FrameOrder, GruDrive,
    InitScheme, LstmConfig, ScdConfig, StgcnConfig,
};

/// How a value is laid out on the PyTorch side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Same,
    /// A matrix, transposed.
    Transposed,
    /// A matrix that PyTorch holds as a 1×1 convolution kernel (out, in, 1, 1).
    Conv1x1,
    /// Part `index` of `of` equal parts along PyTorch's first axis (the attention's packed
    /// `in_proj_weight` / `in_proj_bias`: q, k, v); a matrix part is transposed.
    Part {
        index: usize,
        of: usize,
    },
}

/// The backbone families the reference formats carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Stgcn,
    Bigru,
    Lstm,
    Scd,
    Dsta,
    /// skelflow's AgRNet reconstruction (`scripts/agrnet_reference.py` names).
    Agrnet,
}

impl Arch {
    pub fn of(cfg: &BackboneConfig) -> Arch {
        match cfg {
            BackboneConfig::Stgcn(_) => Arch::Stgcn,
            BackboneConfig::Bigru(_) => Arch::Bigru,
            BackboneConfig::Lstm(_) => Arch::Lstm,
            BackboneConfig::Scd(_) => Arch::Scd,
            BackboneConfig::Transformer(_) => Arch::Dsta,
            BackboneConfig::Agrnet(_) => Arch::Agrnet,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Arch::Stgcn => "an ST-GCN (AimCLR / ActCLR / CrosSCLR)",
            Arch::Bigru => "a BiGRU (CMD / ISC)",
            Arch::Lstm => "an LSTM (AS-CAL)",
            Arch::Scd => "an SCD-Net GCN & transformer encoder (A²MC)",
            Arch::Dsta => "a DSTA-Net transformer",
            Arch::Agrnet => "an AgRNet encoder (skelflow's reconstruction)",
        }
    }

    /// The key that marks this backbone in a state dict (no prefix).
    pub fn marker(self) -> &'static str {
        match self {
            Arch::Stgcn => "st_gcn_networks.0.gcn.conv.weight",
            Arch::Bigru => "encoder.gru.weight_ih_l0",
            Arch::Lstm => "lstm.weight_ih_l0",
            Arch::Scd => "encoder.gcn_t.l1.gcn1.PA",
            Arch::Dsta => "graph_layers.0.in_nets.weight",
            Arch::Agrnet => "xyz.token.weight",
        }
    }

    pub const ALL: [Arch; 6] = [
        Arch::Stgcn,
        Arch::Bigru,
        Arch::Lstm,
        Arch::Scd,
        Arch::Dsta,
        Arch::Agrnet,
    ];
}

fn bn(field: &str) -> &str {
    match field {
        "gamma" => "weight",
        "beta" => "bias",
        other => other,
    }
}

/// The torch name and layout of the encoder parameter at `burn_path`, or `None` for a path
/// the reference module has no counterpart of.
pub fn torch_name(burn_path: &str, arch: Arch, mlp: bool) -> Option<(String, Layout)> {
    let seg: Vec<&str> = burn_path.split('.').collect();
    let s = |i: usize| seg.get(i).copied().unwrap_or("");
    // the head: `fc` of the reference encoders, SCD's instance projection `i_proj`
    let head = if arch == Arch::Scd { "i_proj" } else { "fc" };
    match seg.as_slice() {
        ["backbone", "Scd", rest @ ..] => scd_name(rest),
        ["backbone", "Transformer", rest @ ..] => dsta_name(rest),
        ["backbone", "Agrnet", rest @ ..] => agrnet_name(rest),
        ["projector", layer, field] => {
            let module = match (*layer, mlp) {
                ("hidden", _) => format!("{head}.0"),
                ("out", true) => format!("{head}.2"),
                ("out", false) => head.to_string(),
                _ => return None,
            };
            let layout = if *field == "weight" {
                Layout::Transposed
            } else {
                Layout::Same
            };
            Some((format!("{module}.{field}"), layout))
        }
        ["backbone", "Stgcn", "data_bn", field] => {
            Some((format!("data_bn.{}", bn(field)), Layout::Same))
        }
        ["backbone", "Stgcn", "edge_importance", i] => {
            Some((format!("edge_importance.{i}"), Layout::Same))
        }
        ["backbone", "Stgcn", "blocks", i, ..] => {
            let b = format!("st_gcn_networks.{i}");
            let (name, layout) = match (s(4), s(5)) {
                ("gcn_weight", _) => (format!("{b}.gcn.conv.weight"), Layout::Conv1x1),
                ("gcn_bias", _) => (format!("{b}.gcn.conv.bias"), Layout::Same),
                ("tcn_bn1", f) => (format!("{b}.tcn.0.{}", bn(f)), Layout::Same),
                ("tcn_conv", f) => (format!("{b}.tcn.2.{f}"), Layout::Same),
                ("tcn_bn2", f) => (format!("{b}.tcn.3.{}", bn(f)), Layout::Same),
                ("res_conv", f) => (format!("{b}.residual.0.{f}"), Layout::Same),
                ("res_bn", f) => (format!("{b}.residual.1.{}", bn(f)), Layout::Same),
                _ => return None,
            };
            Some((name, layout))
        }
        ["backbone", "Bigru", "input_bn", field] => {
            Some((format!("input_norm.{}", bn(field)), Layout::Same))
        }
        ["backbone", "Bigru", cells, l, field] => {
            let sfx = match *cells {
                "forward_cells" => "",
                "backward_cells" => "_reverse",
                _ => return None,
            };
            rnn_name("encoder.gru", field, l, sfx)
        }
        ["backbone", "Lstm", "cells", l, field] => rnn_name("lstm", field, l, ""),
        _ => None,
    }
}

/// SCD's names (A²MC `PretrainingEncoder`): the encoder under `encoder.`, its
/// projections beside it.
fn scd_name(seg: &[&str]) -> Option<(String, Layout)> {
    let linear = |module: String, field: &str| {
        let layout = if field == "weight" {
            Layout::Transposed
        } else {
            Layout::Same
        };
        Some((format!("{module}.{field}"), layout))
    };
    let conv = |module: String, field: &str| {
        let layout = if field == "weight" {
            Layout::Conv1x1
        } else {
            Layout::Same
        };
        Some((format!("{module}.{field}"), layout))
    };
    let bn_at =
        |module: String, field: &str| Some((format!("{module}.{}", bn(field)), Layout::Same));
    match seg {
        [proj @ ("t_proj" | "s_proj"), fc, field] => linear(
            format!("{proj}.{}", if *fc == "fc1" { 0 } else { 2 }),
            field,
        ),
        [ch @ ("channel_t" | "channel_s"), layer, field] => match *layer {
            "fc1" => linear(format!("encoder.{ch}.0"), field),
            "norm" => bn_at(format!("encoder.{ch}.1"), field),
            "fc2" => linear(format!("encoder.{ch}.3"), field),
            _ => None,
        },
        [enc @ ("t_encoder" | "s_encoder"), "layers", l, rest @ ..] => {
            let base = format!("encoder.{enc}.layers.{l}");
            match rest {
                ["mha", part @ ("query" | "key" | "value"), field] => {
                    let index = match *part {
                        "query" => 0,
                        "key" => 1,
                        _ => 2,
                    };
                    let name = if *field == "weight" {
                        "in_proj_weight"
                    } else {
                        "in_proj_bias"
                    };
                    Some((
                        format!("{base}.self_attn.{name}"),
                        Layout::Part { index, of: 3 },
                    ))
                }
                ["mha", "output", field] => linear(format!("{base}.self_attn.out_proj"), field),
                ["pwff", "linear_inner", field] => linear(format!("{base}.linear1"), field),
                ["pwff", "linear_outer", field] => linear(format!("{base}.linear2"), field),
                ["norm_1", field] => bn_at(format!("{base}.norm1"), field),
                ["norm_2", field] => bn_at(format!("{base}.norm2"), field),
                _ => None,
            }
        }
        [gcn @ ("gcn_t" | "gcn_s"), "data_bn", field] => {
            bn_at(format!("encoder.{gcn}.data_bn"), field)
        }
        [gcn @ ("gcn_t" | "gcn_s"), unit, rest @ ..] => {
            let u = format!("encoder.{gcn}.{unit}");
            match rest {
                ["gcn1", "convs", i, c, field] => conv(format!("{u}.gcn1.convs.{i}.{c}"), field),
                ["gcn1", "pa"] => Some((format!("{u}.gcn1.PA"), Layout::Same)),
                ["gcn1", "alpha"] => Some((format!("{u}.gcn1.alpha"), Layout::Same)),
                ["gcn1", "bn", field] => bn_at(format!("{u}.gcn1.bn"), field),
                ["gcn1", "down", "conv", field] => conv(format!("{u}.gcn1.down.0"), field),
                ["gcn1", "down", "bn", field] => bn_at(format!("{u}.gcn1.down.1"), field),
                ["tcn1", "dilated", j, layer, field] => {
                    let b = format!("{u}.tcn1.branches.{j}");
                    match *layer {
                        "conv" => conv(format!("{b}.0"), field),
                        "bn" => bn_at(format!("{b}.1"), field),
                        "tconv" => Some((format!("{b}.3.conv.{field}"), Layout::Same)),
                        "tbn" => bn_at(format!("{b}.3.bn"), field),
                        _ => None,
                    }
                }
                ["tcn1", "pool", layer, field] => {
                    let b = format!("{u}.tcn1.branches.2");
                    match *layer {
                        "conv" => conv(format!("{b}.0"), field),
                        "bn" => bn_at(format!("{b}.1"), field),
                        "bn2" => bn_at(format!("{b}.4"), field),
                        _ => None,
                    }
                }
                ["tcn1", "point", "conv", field] => conv(format!("{u}.tcn1.branches.3.0"), field),
                ["tcn1", "point", "bn", field] => bn_at(format!("{u}.tcn1.branches.3.1"), field),
                ["residual", "conv", field] => conv(format!("{u}.residual.conv"), field),
                ["residual", "bn", field] => bn_at(format!("{u}.residual.bn"), field),
                _ => None,
            }
        }
        _ => None,
    }
}

/// DSTA-Net's names (`DSTANet`): `input_map.{0,1}`, `graph_layers.{i}.<part>`, where a
/// convolution + BN part is a `Sequential` (`.0`, `.1`).
fn dsta_name(seg: &[&str]) -> Option<(String, Layout)> {
    let conv_bn = |module: String, layer: &str, field: &str| match layer {
        "conv" if field == "weight" => Some((format!("{module}.0.weight"), Layout::Conv1x1)),
        "conv" => Some((format!("{module}.0.{field}"), Layout::Same)),
        "bn" => Some((format!("{module}.1.{}", bn(field)), Layout::Same)),
        _ => None,
    };
    match seg {
        ["input_map", layer, field] => conv_bn("input_map".into(), layer, field),
        ["graph_layers", i, part, rest @ ..] => {
            let module = format!("graph_layers.{i}.{part}");
            match rest {
                [] => Some((module, Layout::Same)),
                ["weight"] => Some((format!("{module}.weight"), Layout::Conv1x1)),
                ["bias"] => Some((format!("{module}.bias"), Layout::Same)),
                [layer, field] => conv_bn(module, layer, field),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The reference script's names are the module's field paths; its `Linear` weights are
/// (out, in), its norms' γ / β are `weight` / `bias`.
fn agrnet_name(seg: &[&str]) -> Option<(String, Layout)> {
    let (field, module) = seg.split_last()?;
    let parent = module.last().copied().unwrap_or("");
    let linear = matches!(
        parent,
        "query" | "key" | "value" | "out" | "ff1" | "ff2" | "input" | "hidden"
    );
    let layout = if linear && *field == "weight" {
        Layout::Transposed
    } else {
        Layout::Same
    };
    Some((format!("{}.{}", module.join("."), bn(field)), layout))
}

fn rnn_name(module: &str, field: &str, layer: &str, sfx: &str) -> Option<(String, Layout)> {
    let (name, layout) = match field {
        "w_ih" => ("weight_ih", Layout::Transposed),
        "w_hh" => ("weight_hh", Layout::Transposed),
        "b_ih" => ("bias_ih", Layout::Same),
        "b_hh" => ("bias_hh", Layout::Same),
        _ => return None,
    };
    Some((format!("{module}.{name}_l{layer}{sfx}"), layout))
}

/// Names of the BatchNorm modules of an encoder state dict (for their
/// `num_batches_tracked` buffers), from its running means.
pub fn batch_norms(names: impl Iterator<Item = String>) -> Vec<String> {
    names
        .filter_map(|n| n.strip_suffix(".running_mean").map(str::to_string))
        .collect()
}

fn dim(sd: &StateDict, key: &str, axis: usize) -> Result<usize, String> {
    let t = sd
        .get(key)
        .ok_or_else(|| format!("the tensor `{key}` is missing"))?;
    t.shape.get(axis).copied().ok_or_else(|| {
        format!(
            "the tensor `{key}` has shape {:?}, with no axis {axis}",
            t.shape
        )
    })
}

fn layers(sd: &StateDict, prefix: &str) -> usize {
    (0..)
        .take_while(|l| sd.contains_key(&format!("{prefix}{l}")))
        .count()
}

/// The encoder config a reference state dict (prefix removed) describes: the backbone's
/// sizes from its tensors' shapes, the head from `fc.*` (`fc.0` + `fc.2`: the MoCo MLP;
/// `fc` alone: one linear layer, e.g. a linear-evaluation classifier; none: no head).
pub fn infer_config(arch: Arch, sd: &StateDict) -> Result<EncoderConfig, String> {
    let backbone = match arch {
        Arch::Stgcn => {
            let blocks = layers_by(sd);
            if blocks != 10 {
                return Err(format!(
                    "the ST-GCN has {blocks} blocks (`st_gcn_networks.*`); skelflow's ST-GCN has the 10 of AimCLR / ActCLR"
                ));
            }
            let width = |i: usize| dim(sd, &format!("st_gcn_networks.{i}.gcn.conv.weight"), 0);
            BackboneConfig::Stgcn(StgcnConfig {
                in_channels: dim(sd, "st_gcn_networks.0.gcn.conv.weight", 1)?,
                hidden: width(0)? / crate::learn::graph::K,
                feature_dim: width(9)? / crate::learn::graph::K,
                temporal_kernel: dim(sd, "st_gcn_networks.1.tcn.2.weight", 2)?,
                edge_importance: sd.contains_key("edge_importance.0"),
                ..Default::default()
            })
        }
        Arch::Bigru => {
            let n = layers(sd, "encoder.gru.weight_ih_l");
            if !sd.contains_key("encoder.gru.weight_ih_l0_reverse") {
                return Err(
                    "the GRU has no `_reverse` weights: skelflow's BiGRU is bidirectional as CMD's and ISC's are"
                        .into(),
                );
            }
            BackboneConfig::Bigru(BiGruConfig {
                input_size: dim(sd, "encoder.gru.weight_ih_l0", 1)?,
                hidden: dim(sd, "encoder.gru.weight_hh_l0", 1)?,
                layers: n,
                input_bn: sd.contains_key("input_norm.weight"),
                drive: GruDrive::PerFrame,
                frame_order: FrameOrder::Vcm,
            })
        }
        Arch::Scd => {
            let c = dim(sd, "encoder.gcn_t.l1.gcn1.convs.0.conv3.weight", 0)?;
            let d = dim(sd, "encoder.channel_t.0.weight", 0)?;
            let layers = (0..)
                .take_while(|l| {
                    sd.contains_key(&format!("encoder.t_encoder.layers.{l}.linear1.weight"))
                })
                .count();
            BackboneConfig::Scd(ScdConfig {
                frames: dim(sd, "encoder.channel_s.0.weight", 1)? / c.max(1),
                gcn_channels: c,
                d_model: d,
                // not in the tensors: A²MC's 8 unless the `encoder` param says otherwise
                heads: ScdConfig::default().heads,
                layers,
                proj_dim: dim(sd, "t_proj.2.weight", 0)?,
                dropout: ScdConfig::default().dropout,
            })
        }
        Arch::Dsta => {
            let subsets = dim(sd, "graph_layers.0.alphas", 1)?;
            let n = (0..)
                .take_while(|i| sd.contains_key(&format!("graph_layers.{i}.in_nets.weight")))
                .count();
            // the strides are not in the weights (1×1 convolutions): the temporal
            // attention buffers `attt` (1, S, frames, frames) give each block's frames
            let frames_at = |i: usize| dim(sd, &format!("graph_layers.{i}.attt"), 2);
            let mut blocks = Vec::new();
            for i in 0..n {
                let w = |part: &str, axis: usize| {
                    dim(sd, &format!("graph_layers.{i}.{part}.weight"), axis)
                };
                let stride = match (frames_at(i), frames_at(i + 1)) {
                    (Ok(a), Ok(b)) if b > 0 && a > b => a / b,
                    _ => 1,
                };
                blocks.push([
                    w("in_nets", 1)?,
                    w("ff_nets.0", 0)?,
                    w("in_nets", 0)? / (2 * subsets),
                    stride,
                ]);
            }
            BackboneConfig::Transformer(DstaConfig {
                frames: frames_at(0).unwrap_or(DstaConfig::default().frames),
                blocks,
                subsets,
            })
        }
        Arch::Agrnet => {
            let layers = (0..)
                .take_while(|l| sd.contains_key(&format!("xyz.layers.{l}.query.weight")))
                .count();
            let defaults = AgrnetConfig::default();
            BackboneConfig::Agrnet(AgrnetConfig {
                frames: dim(sd, "t.token.weight", 1)?,
                d_model: dim(sd, "xyz.token.weight", 0)?,
                d_ff: dim(sd, "xyz.layers.0.ff1.weight", 0)?,
                layers,
                rnn_hidden: dim(sd, "xyz_rnn.layers.0.fwd.hidden.weight", 0)?,
                rnn_layers: layers_of(sd, "xyz_rnn.layers.", ".fwd.input.weight"),
                adga: sd.contains_key("xyz.distil.0.conv.weight"),
                pfm: sd.contains_key("xyz.motion.weight"),
                // not in the tensors: heads, factor, AAGA, λ, the body (`encoder` says)
                ..defaults
            })
        }
        Arch::Lstm => {
            if sd.contains_key("lstm.weight_ih_l0_reverse") {
                return Err("the LSTM is bidirectional: skelflow's AS-CAL LSTM is the unidirectional one of AS-CAL's NTU setting".into());
            }
            BackboneConfig::Lstm(LstmConfig {
                input_size: dim(sd, "lstm.weight_ih_l0", 1)?,
                hidden: dim(sd, "lstm.weight_hh_l0", 1)?,
                layers: layers(sd, "lstm.weight_ih_l"),
                frame_order: FrameOrder::Cvm,
            })
        }
    };
    let (proj_dim, mlp) = if arch == Arch::Scd {
        (dim(sd, "i_proj.2.weight", 0)?, true)
    } else if sd.contains_key("fc.0.weight") {
        (dim(sd, "fc.2.weight", 0)?, true)
    } else if sd.contains_key("fc.weight") {
        (dim(sd, "fc.weight", 0)?, false)
    } else {
        (0, false)
    };
    Ok(EncoderConfig {
        backbone,
        proj_dim,
        mlp,
        init: InitScheme::Reference,
    })
}

/// How many `{prefix}{i}{suffix}` keys there are from i = 0.
fn layers_of(sd: &StateDict, prefix: &str, suffix: &str) -> usize {
    (0..)
        .take_while(|i| sd.contains_key(&format!("{prefix}{i}{suffix}")))
        .count()
}

/// Blocks with a graph convolution (`st_gcn_networks.{i}.gcn.conv.weight`).
fn layers_by(sd: &StateDict) -> usize {
    (0..)
        .take_while(|i| sd.contains_key(&format!("st_gcn_networks.{i}.gcn.conv.weight")))
        .count()
}

/// A value from the PyTorch layout into burn's (`None`: the shape does not fit `want`).
pub fn to_burn(t: &TorchTensor, layout: Layout, want: &[usize]) -> Option<Vec<f32>> {
    let v = t.values.as_f32();
    match layout {
        Layout::Same if t.shape == want => Some(v),
        Layout::Conv1x1 if t.shape.len() == 4 && t.shape[2..] == [1, 1] => {
            (t.shape[..2] == *want).then_some(v)
        }
        Layout::Transposed => {
            // ActCLR's head is a 1×1 convolution: (out, in, 1, 1) is the same matrix
            let (r, c) = match t.shape.as_slice() {
                [r, c] | [r, c, 1, 1] => (*r, *c),
                _ => return None,
            };
            if want != [c, r] {
                return None;
            }
            Some(transpose(&v, r, c))
        }
        Layout::Part { index, of } => {
            let rows = *t.shape.first()? / of;
            let per_row: usize = t.shape[1..].iter().product();
            let part = &v[index * rows * per_row..(index + 1) * rows * per_row];
            match (t.shape.as_slice(), want) {
                ([_], [len]) if *len == rows => Some(part.to_vec()),
                ([_, c], [wc, wr]) if (wc, wr) == (c, &rows) => Some(transpose(part, rows, *c)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A burn value of shape `shape` into the PyTorch layout: (values, torch shape). A
/// [`Layout::Part`] gives its part only; the caller stacks the parts.
pub fn to_torch(v: Vec<f32>, shape: &[usize], layout: Layout) -> (Vec<f32>, Vec<usize>) {
    match (layout, shape) {
        (Layout::Conv1x1, _) => (v, vec![shape[0], shape[1], 1, 1]),
        (Layout::Transposed | Layout::Part { .. }, [r, c]) => (transpose(&v, *r, *c), vec![*c, *r]),
        _ => (v, shape.to_vec()),
    }
}

/// The torch shape `layout` gives a burn shape (for messages).
pub fn torch_shape(shape: &[usize], layout: Layout) -> Vec<usize> {
    match (layout, shape) {
        (Layout::Conv1x1, _) => vec![shape[0], shape[1], 1, 1],
        (Layout::Transposed, [r, c]) => vec![*c, *r],
        (Layout::Part { of, .. }, [r, c]) => vec![of * c, *r],
        (Layout::Part { of, .. }, [len]) => vec![of * len],
        _ => shape.to_vec(),
    }
}

fn transpose(v: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; v.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = v[r * cols + c];
        }
    }
    out
}
