//! The reference repositories' checkpoints, in and out: an encoder from a `torch.save` file
//! of AimCLR / ActCLR / CrosSCLR (`aimclr`), CMD / ISC (`cmd`) or AS-CAL (`ascal`), and a
//! skelflow encoder written back in one of those formats, loadable with the reference
//! code's `load_state_dict` (strict for the encoder's keys).
//!
//! The formats, as the reference code saves them (after a `module.` prefix of
//! DataParallel is stripped, which is read either way):
//! - `aimclr`: torchlight's `save_model`, an `OrderedDict` of the pre-training model:
//!   `encoder_q.*` (ST-GCN: `data_bn`, `st_gcn_networks.{0..9}`, `edge_importance.{i}`, the
//!   `A` buffer, head `fc.0` / `fc.2`), `encoder_k.*`, `queue`. A bare ST-GCN state dict
//!   (a linear-evaluation model, `fc` one layer) is read too.
//! - `cmd`: `{'epoch', 'state_dict', 'optimizer'}`, the state dict of the three-stream
//!   model: `encoder_q.*` (joint), `encoder_q_motion.*`, `encoder_q_bone.*` (BiGRU:
//!   `encoder.gru.*`, `input_norm`, head `fc.0` / `fc.2`); ISC's single stream is `encoder_q.*`.
//!   Written with the `module.` prefix CMD's DistributedDataParallel gives, which its
//!   evaluation scripts strip.
//! - `ascal`: the MoCo model's `OrderedDict`: `encoder_q.lstm.*` (AS-CAL's unidirectional
//!   `nn.LSTM`), `encoder_k.*`, `queue`; no head.
//! - `a2mc`: A²MC's code, `{'epoch', 'state_dict', ...}` with `encoder_q.*` the SCD-Net
//!   `PretrainingEncoder` (`encoder.gcn_t`, `encoder.gcn_s`, `encoder.channel_*`,
//!   `encoder.*_encoder` — the attention's packed `in_proj_weight` split into q, k, v —,
//!   `t_proj`, `s_proj`, `i_proj`).

pub mod commands;
pub mod names;
pub mod torch_file;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use self::names::{Arch, infer_config, to_burn, to_torch, torch_name, torch_shape};
use self::torch_file::PyValue;
use super::encoders::{BackboneConfig, Encoder, EncoderConfig};
use crate::data::Stream;

/// A float (weights) or integer (`num_batches_tracked`) tensor, row-major.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    I64(Vec<i64>),
}

impl Values {
    pub fn as_f32(&self) -> Vec<f32> {
        match self {
            Values::F32(v) => v.clone(),
            Values::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TorchTensor {
    pub shape: Vec<usize>,
    pub values: Values,
}

/// Tensors by name.
pub type StateDict = BTreeMap<String, TorchTensor>;

/// Which repository's layout a checkpoint has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointFormat {
    /// Told by the keys: `st_gcn_networks` → aimclr, `encoder.gru` → cmd, `lstm` → ascal;
    /// a directory → skelflow.
    #[default]
    Auto,
    /// AimCLR / ActCLR / CrosSCLR / SkeletonCLR (ST-GCN).
    Aimclr,
    /// CMD / ISC (BiGRU, one encoder per stream).
    Cmd,
    /// AS-CAL (LSTM).
    Ascal,
    /// A²MC's code (SCD-Net's GCN & transformer encoder, `encoder_q.*`).
    A2mc,
    /// DSTA-Net's `DSTANet` state dict (the transformer of A²MC's Table I).
    Dsta,
    /// skelflow's AgRNet reconstruction as `scripts/agrnet_reference.py` names it (the
    /// paper's code is withheld: no public checkpoint exists).
    Agrnet,
    /// A skelflow encoder artifact directory (`encoder.json` + `encoder.bpk`).
    Skelflow,
}

impl CheckpointFormat {
    pub const NAMES: &'static str = "auto, aimclr, cmd, ascal, a2mc, dsta, agrnet, skelflow";

    pub fn parse(s: &str) -> Option<CheckpointFormat> {
        serde_json::from_value(serde_json::json!(s)).ok()
    }

    pub fn name(self) -> &'static str {
        match self {
            CheckpointFormat::Auto => "auto",
            CheckpointFormat::Aimclr => "aimclr",
            CheckpointFormat::Cmd => "cmd",
            CheckpointFormat::Ascal => "ascal",
            CheckpointFormat::A2mc => "a2mc",
            CheckpointFormat::Dsta => "dsta",
            CheckpointFormat::Agrnet => "agrnet",
            CheckpointFormat::Skelflow => "skelflow",
        }
    }

    /// The backbone a reference format carries.
    pub fn arch(self) -> Option<Arch> {
        match self {
            CheckpointFormat::Aimclr => Some(Arch::Stgcn),
            CheckpointFormat::Cmd => Some(Arch::Bigru),
            CheckpointFormat::Ascal => Some(Arch::Lstm),
            CheckpointFormat::A2mc => Some(Arch::Scd),
            CheckpointFormat::Dsta => Some(Arch::Dsta),
            CheckpointFormat::Agrnet => Some(Arch::Agrnet),
            CheckpointFormat::Auto | CheckpointFormat::Skelflow => None,
        }
    }

    fn of_arch(arch: Arch) -> CheckpointFormat {
        match arch {
            Arch::Stgcn => CheckpointFormat::Aimclr,
            Arch::Bigru => CheckpointFormat::Cmd,
            Arch::Lstm => CheckpointFormat::Ascal,
            Arch::Scd => CheckpointFormat::A2mc,
            Arch::Dsta => CheckpointFormat::Dsta,
            Arch::Agrnet => CheckpointFormat::Agrnet,
        }
    }

    /// The reference format that holds encoders of `cfg`'s architecture.
    pub fn for_encoder(cfg: &EncoderConfig) -> CheckpointFormat {
        CheckpointFormat::of_arch(Arch::of(&cfg.backbone))
    }

    /// Where the encoder of `stream` sits in the (unwrapped) state dict, in order of
    /// preference.
    fn prefixes(self, stream: Stream) -> Vec<&'static str> {
        match (self, stream) {
            (CheckpointFormat::Cmd, Stream::Joint) => vec!["encoder_q."],
            (CheckpointFormat::Cmd, Stream::Motion) => vec!["encoder_q_motion."],
            (CheckpointFormat::Cmd, Stream::Bone) => vec!["encoder_q_bone."],
            _ => vec!["encoder_q.", ""],
        }
    }

    /// The prefix [`export`] writes the encoder under.
    fn export_prefix(self, stream: Stream) -> String {
        match self {
            CheckpointFormat::Cmd | CheckpointFormat::A2mc => {
                format!("module.{}", self.prefixes(stream)[0])
            }
            _ => "encoder_q.".into(),
        }
    }
}

/// The state dict of the saved model: the tensors under `state_dict.` when the file is a
/// training checkpoint dict, with DataParallel's `module.` removed.
fn unwrap_state_dict(all: StateDict) -> StateDict {
    let nested = all.keys().any(|k| k.starts_with("state_dict."));
    all.into_iter()
        .filter_map(|(k, v)| {
            let k = if nested {
                k.strip_prefix("state_dict.")?.to_string()
            } else {
                k
            };
            let k = k.strip_prefix("module.").map(str::to_string).unwrap_or(k);
            Some((k, v))
        })
        .collect()
}

/// The architecture whose marker key appears under some prefix, with that key.
fn detect(sd: &StateDict) -> Option<(Arch, &str)> {
    Arch::ALL.into_iter().find_map(|a| {
        sd.keys()
            .find(|k| k.ends_with(a.marker()))
            .map(|k| (a, k.as_str()))
    })
}

fn sample_keys(sd: &StateDict) -> String {
    let keys: Vec<&str> = sd.keys().take(4).map(String::as_str).collect();
    format!("`{}`", keys.join("`, `"))
}

/// Where an encoder sits in a checkpoint and what it is.
#[derive(Clone, Debug)]
pub struct Located {
    pub format: CheckpointFormat,
    /// The prefix its tensors have (`encoder_q_bone.`).
    pub prefix: String,
    pub config: EncoderConfig,
    /// Tensors of the file that are not this encoder's (the momentum encoder, the queue, ...).
    pub other_tensors: usize,
}

/// Find the encoder of `stream` in a checkpoint's tensors (their shapes suffice): the
/// format (told by the keys for `auto`), its prefix, and its config (`shape`: one to use
/// instead of the one the tensors imply; it must fit them).
pub fn locate(
    sd: &StateDict,
    format: CheckpointFormat,
    stream: Stream,
    shape: Option<&EncoderConfig>,
) -> Result<Located, String> {
    if sd.is_empty() {
        return Err("holds no tensors: not a checkpoint of an encoder".into());
    }
    let format = match (format, detect(sd)) {
        (CheckpointFormat::Skelflow, _) => {
            return Err("is a file; the `skelflow` format is an encoder artifact directory".into());
        }
        (CheckpointFormat::Auto, Some((a, _))) => CheckpointFormat::of_arch(a),
        (_, None) => {
            return Err(format!(
                "holds no encoder skelflow knows (keys like {}); it reads ST-GCN (`st_gcn_networks.*`), BiGRU (`encoder.gru.*`) and LSTM (`lstm.*`) encoders",
                sample_keys(sd)
            ));
        }
        (f, Some((a, key))) if f.arch() != Some(a) => {
            return Err(format!(
                "holds {} encoder (it has `{key}`), which is not what the `{}` format holds ({}); use format `{}`",
                a.describe(),
                f.name(),
                f.arch().map(Arch::describe).unwrap_or("?"),
                CheckpointFormat::of_arch(a).name()
            ));
        }
        (f, Some(_)) => f,
    };
    let arch = format.arch().expect("a reference format");
    let prefix = format
        .prefixes(stream)
        .into_iter()
        .find(|p| sd.contains_key(&format!("{p}{}", arch.marker())))
        .ok_or_else(|| {
            let found: BTreeSet<&str> = sd
                .keys()
                .filter_map(|k| k.strip_suffix(arch.marker()))
                .collect();
            format!(
                "has no {} encoder for the {stream} stream (looked under `{}`); its encoders are under {}",
                format.name(),
                format.prefixes(stream).join("`, `"),
                found
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    let mine = under(sd, prefix);
    let config = match shape {
        Some(c) if Arch::of(&c.backbone) != arch => {
            return Err(format!(
                "holds {} but the given `encoder` is {}",
                arch.describe(),
                c.describe()
            ));
        }
        Some(c) => c.clone(),
        None => infer_config(arch, &mine)?,
    };
    Ok(Located {
        format,
        prefix: prefix.to_string(),
        config,
        other_tensors: sd.len() - mine.len(),
    })
}

/// The tensors under `prefix`, without it.
fn under(sd: &StateDict, prefix: &str) -> StateDict {
    sd.iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.clone())))
        .collect()
}

/// The tensors of a checkpoint file (`values: false`: names and shapes only), as the saved
/// model's state dict.
pub fn read(path: &Path, values: bool) -> Result<StateDict, String> {
    if !path.exists() {
        return Err("does not exist".into());
    }
    torch_file::read_tensors(path, values).map(unwrap_state_dict)
}

/// Read the encoder of `stream` from a reference checkpoint (see [`locate`]).
pub fn import(
    path: &Path,
    format: CheckpointFormat,
    stream: Stream,
    shape: Option<&EncoderConfig>,
    device: &Device,
) -> Result<(Located, Encoder), String> {
    let sd = read(path, true)?;
    let found = locate(&sd, format, stream, shape)?;
    let mine = under(&sd, &found.prefix);
    if let BackboneConfig::Stgcn(_) = found.config.backbone {
        check_graph(&mine, &found.prefix)?;
    }
    let encoder = load(
        found.config.init(device),
        &mine,
        &found.config,
        &found.prefix,
    )?;
    Ok((found, encoder))
}

/// ST-GCN's `A` buffer, where saved, must be skelflow's graph (NTU, spatial partition).
fn check_graph(sd: &StateDict, prefix: &str) -> Result<(), String> {
    let Some(a) = sd.get("A") else {
        return Ok(());
    };
    let ours = crate::learn::graph::ntu_spatial_a();
    let theirs = a.values.as_f32();
    let same = a.shape
        == [
            crate::learn::graph::K,
            crate::learn::graph::V,
            crate::learn::graph::V,
        ]
        && theirs.iter().zip(&ours).all(|(x, y)| (x - y).abs() < 1e-5);
    if same {
        Ok(())
    } else {
        Err(format!(
            "`{prefix}A` (shape {:?}) is not the NTU RGB+D spatial graph skelflow's ST-GCN uses (`Graph('ntu-rgb+d', 'spatial')`)",
            a.shape
        ))
    }
}

/// Visits parameters with their dotted burn path.
struct Paths {
    path: Vec<String>,
}

impl Paths {
    fn enter(&mut self, name: &str) {
        self.path.push(name.to_string());
    }
    fn exit(&mut self) {
        self.path.pop();
    }
    fn dotted(&self) -> String {
        self.path.join(".")
    }
}

struct Loader<'a> {
    paths: Paths,
    prefix: &'a str,
    sd: &'a StateDict,
    arch: Arch,
    mlp: bool,
    used: BTreeSet<String>,
    missing: Vec<String>,
    mismatched: Vec<String>,
}

impl ModuleMapper for Loader<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.paths.enter(name);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.paths.exit();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.paths.dotted();
        let Some((name, layout)) = torch_name(&path, self.arch, self.mlp) else {
            self.missing
                .push(format!("(no reference name for `{path}`)"));
            return param;
        };
        let want: Vec<usize> = param.lazy_shape().to_vec();
        let Some(t) = self.sd.get(&name) else {
            self.missing.push(name);
            return param;
        };
        self.used.insert(name.clone());
        match to_burn(t, layout, &want) {
            Some(v) => param
                .map(|old| Tensor::<D>::from_data(TensorData::new(v, want.clone()), &old.device())),
            None => {
                self.mismatched.push(format!(
                    "`{}{name}` is {:?} in the file, {:?} in the encoder",
                    self.prefix,
                    t.shape,
                    torch_shape(&want, layout)
                ));
                param
            }
        }
    }
}

/// Buffers of the reference modules that are constants here (BatchNorm's batch counter,
/// ST-GCN's graph, DSTA-Net's positional encodings and zero attention offsets).
fn is_buffer(key: &str) -> bool {
    key == "A"
        || [
            ".num_batches_tracked",
            ".pes.pe",
            ".pet.pe",
            ".atts",
            ".attt",
        ]
        .iter()
        .any(|b| key.ends_with(b))
        || key == "num_batches_tracked"
}

fn list(names: &[String]) -> String {
    const SHOWN: usize = 12;
    let mut s: Vec<String> = names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
    if names.len() > SHOWN {
        s.push(format!("… {} more", names.len() - SHOWN));
    }
    s.join(", ")
}

/// Copy the tensors of `sd` (one encoder, prefix removed) into `enc`: every parameter must
/// be there with its shape, and every tensor of `sd` must be used (BatchNorm's
/// `num_batches_tracked` and ST-GCN's `A` aside).
fn load(
    enc: Encoder,
    sd: &StateDict,
    cfg: &EncoderConfig,
    prefix: &str,
) -> Result<Encoder, String> {
    let mut loader = Loader {
        paths: Paths { path: Vec::new() },
        prefix,
        sd,
        arch: Arch::of(&cfg.backbone),
        mlp: cfg.mlp,
        used: BTreeSet::new(),
        missing: Vec::new(),
        mismatched: Vec::new(),
    };
    let enc = enc.map(&mut loader);
    let extra: Vec<String> = sd
        .keys()
        .filter(|k| !loader.used.contains(*k) && !is_buffer(k))
        .map(|k| format!("{prefix}{k}"))
        .collect();
    let mut problems = Vec::new();
    if !loader.mismatched.is_empty() {
        problems.push(format!("shapes differ: {}", loader.mismatched.join("; ")));
    }
    if !loader.missing.is_empty() {
        let missing: Vec<String> = loader
            .missing
            .iter()
            .map(|k| format!("{prefix}{k}"))
            .collect();
        problems.push(format!("missing keys: {}", list(&missing)));
    }
    if !extra.is_empty() {
        problems.push(format!("unexpected keys: {}", list(&extra)));
    }
    if problems.is_empty() {
        Ok(enc)
    } else {
        Err(format!(
            "does not fit the encoder it describes: {}",
            problems.join("; ")
        ))
    }
}

struct Collector {
    paths: Paths,
    arch: Arch,
    mlp: bool,
    /// Torch name → its parts (one, or q / k / v of a packed attention projection).
    out: BTreeMap<String, Vec<Option<Part>>>,
}

/// One part of a torch tensor: values and shape.
type Part = (Vec<f32>, Vec<usize>);

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.paths.enter(name);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.paths.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let path = self.paths.dotted();
        let (name, layout) = torch_name(&path, self.arch, self.mlp)
            .unwrap_or_else(|| panic!("every encoder parameter has a reference name: `{path}`"));
        let t = param.val();
        let shape = t.dims().to_vec();
        let v = t
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("float parameters");
        let (index, of) = match layout {
            names::Layout::Part { index, of } => (index, of),
            _ => (0, 1),
        };
        let parts = self.out.entry(name).or_insert_with(|| vec![None; of]);
        parts[index] = Some(to_torch(v, &shape, layout));
    }
}

/// The encoder's state dict as the reference module's `state_dict()` has it: every
/// parameter and buffer (BatchNorm's `num_batches_tracked`, ST-GCN's `A`), no prefix.
pub fn state_dict(cfg: &EncoderConfig, enc: &Encoder) -> Vec<(String, TorchTensor)> {
    let mut c = Collector {
        paths: Paths { path: Vec::new() },
        arch: Arch::of(&cfg.backbone),
        mlp: cfg.mlp,
        out: BTreeMap::new(),
    };
    enc.visit(&mut c);
    // parts stack along the first axis
    let mut out: Vec<(String, TorchTensor)> = c
        .out
        .into_iter()
        .map(|(name, parts)| {
            let parts: Vec<Part> = parts
                .into_iter()
                .map(|p| p.expect("every part visited"))
                .collect();
            let mut shape = parts[0].1.clone();
            shape[0] *= parts.len();
            let values = parts.into_iter().flat_map(|(v, _)| v).collect();
            (
                name,
                TorchTensor {
                    shape,
                    values: Values::F32(values),
                },
            )
        })
        .collect();
    let bns = names::batch_norms(out.iter().map(|(n, _)| n.clone()));
    for bn in bns {
        out.push((
            format!("{bn}.num_batches_tracked"),
            TorchTensor {
                shape: vec![],
                values: Values::I64(vec![0]),
            },
        ));
    }
    if let BackboneConfig::Stgcn(_) = cfg.backbone {
        use crate::learn::graph::{K, V, ntu_spatial_a};
        out.push((
            "A".into(),
            TorchTensor {
                shape: vec![K, V, V],
                values: Values::F32(ntu_spatial_a()),
            },
        ));
    }
    if let BackboneConfig::Transformer(c) = &cfg.backbone {
        use crate::learn::encoders::dsta::positional_encoding;
        let v = crate::learn::graph::V;
        let f32s = |shape: Vec<usize>, values: Vec<f32>| TorchTensor {
            shape,
            values: Values::F32(values),
        };
        let mut frames = c.frames;
        for (i, &[cin, cout, _, stride]) in c.blocks.iter().enumerate() {
            let s = c.subsets;
            let b = format!("graph_layers.{i}");
            out.push((
                format!("{b}.atts"),
                f32s(vec![1, s, v, v], vec![0.0; s * v * v]),
            ));
            out.push((
                format!("{b}.attt"),
                f32s(vec![1, s, frames, frames], vec![0.0; s * frames * frames]),
            ));
            out.push((
                format!("{b}.pes.pe"),
                f32s(
                    vec![1, cin, frames, v],
                    positional_encoding(cin, frames, false),
                ),
            ));
            out.push((
                format!("{b}.pet.pe"),
                f32s(
                    vec![1, cout, frames, v],
                    positional_encoding(cout, frames, true),
                ),
            ));
            frames = (frames as f64 / stride as f64 + 0.5) as usize;
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Write the encoder as a `format` checkpoint (`auto`: the format of its architecture).
/// `stream` picks the `cmd` slot; `epochs` goes into `cmd`'s `epoch`.
pub fn export(
    path: &Path,
    format: CheckpointFormat,
    stream: Stream,
    epochs: usize,
    cfg: &EncoderConfig,
    enc: &Encoder,
) -> Result<CheckpointFormat, String> {
    let natural = CheckpointFormat::for_encoder(cfg);
    let format = match format {
        CheckpointFormat::Auto => natural,
        CheckpointFormat::Skelflow => {
            return Err("`skelflow` is the encoder artifact itself: copy its directory".into());
        }
        f if f != natural => {
            return Err(format!(
                "the encoder is {}, which the `{}` format cannot hold (it holds {}); use format `{}`",
                cfg.describe(),
                f.name(),
                f.arch().map(Arch::describe).unwrap_or("?"),
                natural.name()
            ));
        }
        f => f,
    };
    let prefix = format.export_prefix(stream);
    let tensors: Vec<(String, PyValue)> = state_dict(cfg, enc)
        .into_iter()
        .map(|(k, t)| (format!("{prefix}{k}"), PyValue::Tensor(t)))
        .collect();
    let root = match format {
        CheckpointFormat::Cmd | CheckpointFormat::A2mc => PyValue::Dict(vec![
            ("epoch".into(), PyValue::Int(epochs as i64)),
            ("state_dict".into(), PyValue::OrderedDict(tensors)),
        ]),
        _ => PyValue::OrderedDict(tensors),
    };
    torch_file::write(path, &root).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_has_a_reference_name_and_back() {
        let dev = Device::default();
        for preset in ["stgcn", "bigru", "lstm", "scd", "transformer", "agrnet"] {
            let mut cfg = EncoderConfig::preset(preset).unwrap();
            if let BackboneConfig::Bigru(c) = &mut cfg.backbone {
                c.hidden = 8;
                c.layers = 2;
            }
            if let BackboneConfig::Scd(c) = &mut cfg.backbone {
                (c.frames, c.gcn_channels, c.d_model, c.layers) = (12, 8, 32, 2);
            }
            if let BackboneConfig::Agrnet(c) = &mut cfg.backbone {
                // heads are not in the weights: the default (8) divides 16
                (c.frames, c.d_model, c.d_ff, c.rnn_hidden, c.rnn_layers) = (12, 16, 24, 8, 2);
            }
            if let BackboneConfig::Transformer(c) = &mut cfg.backbone {
                c.frames = 12;
                c.blocks = vec![[8, 8, 4, 1], [8, 16, 4, 2], [16, 16, 4, 1]];
            }
            let enc = cfg.init(&dev);
            let sd: StateDict = state_dict(&cfg, &enc).into_iter().collect();
            let arch = Arch::of(&cfg.backbone);
            assert_eq!(
                infer_config(arch, &sd).unwrap().backbone,
                cfg.backbone,
                "{preset}"
            );
            let back = load(cfg.init(&dev), &sd, &cfg, "").unwrap();
            let again: StateDict = state_dict(&cfg, &back).into_iter().collect();
            assert_eq!(sd, again, "{preset}");
        }
    }
}
