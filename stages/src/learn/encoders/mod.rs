//! Encoders as burn modules, each with a serde config: ST-GCN, BiGRU, LSTM.
//!
//! Every encoder maps a batch of skeleton clips (N, C, T, V, M) to features (N, D). An
//! [`Encoder`] is a backbone plus an optional projection MLP (the pre-training head).
//! The constructors draw PyTorch's per-layer defaults; [`EncoderConfig::init`] then applies
//! the reference repository's re-initialisation ([`init`], `init: reference`, the default).

pub mod agrnet;
pub mod dsta;
pub mod init;
pub mod rnn;
pub mod scd;
pub mod spec;
pub mod stgcn;

use std::collections::BTreeMap;

use burn::module::{ModuleVisitor, Param};
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use agrnet::{AgrnetConfig, AgrnetEncoder, Body};
pub use dsta::{Dsta, DstaConfig};
pub use init::InitScheme;
pub use rnn::{BiGruConfig, BiGruEncoder, FrameOrder, GruDrive, LstmConfig, LstmEncoder};
pub use scd::{ScdConfig, ScdEncoder};
pub use spec::EncoderSpec;
pub use stgcn::{Stgcn, StgcnConfig};

/// Called with (layer name, output shape) after each layer; `model summary` records them,
/// training passes a no-op.
pub type Tap<'a> = dyn FnMut(&str, &[usize]) + 'a;

/// A no-op [`Tap`].
pub fn no_tap() -> impl FnMut(&str, &[usize]) {
    |_, _| {}
}

/// The backbone architecture and its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "arch", rename_all = "snake_case")]
pub enum BackboneConfig {
    Stgcn(StgcnConfig),
    Bigru(BiGruConfig),
    Lstm(LstmConfig),
    /// SCD-Net's GCN & transformer encoder, as A²MC's code uses it.
    Scd(ScdConfig),
    /// DSTA-Net, the transformer of A²MC's Table I.
    Transformer(DstaConfig),
    /// AgRNet's two-branch Informer-style encoder + bidirectional RNNs (reconstructed).
    Agrnet(AgrnetConfig),
}

impl Default for BackboneConfig {
    fn default() -> Self {
        BackboneConfig::Stgcn(StgcnConfig::default())
    }
}

impl BackboneConfig {
    /// Dimension of the backbone feature.
    pub fn feature_dim(&self) -> usize {
        match self {
            BackboneConfig::Stgcn(c) => c.feature_dim,
            BackboneConfig::Bigru(c) => 2 * c.hidden,
            BackboneConfig::Lstm(c) => c.hidden,
            BackboneConfig::Scd(c) => c.feature_dim(),
            BackboneConfig::Transformer(c) => c.feature_dim(),
            BackboneConfig::Agrnet(c) => c.feature_dim(),
        }
    }
}

/// Backbone + projection head, as the pre-training methods build `encoder_q`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderConfig {
    pub backbone: BackboneConfig,
    /// Output dimension of the projection head; 0 = no head (AS-CAL uses the raw feature).
    pub proj_dim: usize,
    /// `true`: Linear(D, D) → ReLU → Linear(D, proj_dim) (MoCo v2); `false`: one Linear.
    pub mlp: bool,
    /// `reference` (default): the reference code's re-initialisation after building the
    /// model (ST-GCN: AimCLR's N(0, 0.02) weights, zero biases, BN γ ~ N(1, 0.02); BiGRU:
    /// CMD's xavier; LSTM: AS-CAL's defaults); `default`: PyTorch's per-layer defaults.
    pub init: InitScheme,
}

impl Default for EncoderConfig {
    fn default() -> Self {
        EncoderConfig {
            backbone: BackboneConfig::default(),
            proj_dim: 128,
            mlp: true,
            init: InitScheme::Reference,
        }
    }
}

impl EncoderConfig {
    /// Parse a YAML or JSON encoder config. A bare backbone (`arch: stgcn, ...`) is accepted
    /// and gets the default projection head.
    pub fn parse(text: &str) -> Result<EncoderConfig, String> {
        let v: serde_json::Value =
            serde_yaml_ng::from_str(text).map_err(|e| format!("not valid YAML/JSON: {e}"))?;
        if v.get("arch").is_some() {
            let backbone: BackboneConfig =
                serde_path_to_error::deserialize(v).map_err(|e| format!("{e}"))?;
            return Ok(EncoderConfig {
                backbone,
                ..Default::default()
            });
        }
        serde_path_to_error::deserialize(v).map_err(|e| format!("{e}"))
    }

    /// The preset names [`EncoderConfig::preset`] knows.
    pub const PRESETS: &'static [&'static str] = &[
        "stgcn",
        "stgcn16",
        "stgcn64",
        "bigru",
        "lstm",
        "ascal_lstm",
        "scd",
        "transformer",
        "agrnet",
    ];

    /// Named presets users can type instead of a config; each is the reference code's
    /// encoder (`bigru`: CMD's, `drive: per_frame`).
    pub fn preset(name: &str) -> Option<EncoderConfig> {
        let bb = match name {
            "stgcn" | "stgcn16" => BackboneConfig::Stgcn(StgcnConfig::default()),
            "stgcn64" => BackboneConfig::Stgcn(StgcnConfig {
                hidden: 64,
                ..Default::default()
            }),
            // CMD's 150→1024×3 with input BN, driven frame by frame as its code does
            "bigru" => BackboneConfig::Bigru(BiGruConfig::default()),
            // A²MC's code: d_model 2048, 8 heads, 1 layer; i_proj 4096 → 2048 → 128
            "scd" => BackboneConfig::Scd(ScdConfig::default()),
            // DSTA-Net's 8 blocks over 64 frames (A²MC's Transformer row)
            "transformer" => BackboneConfig::Transformer(DstaConfig::default()),
            // main.py's Informer (d_model 512, 8 heads, 3 layers) + 3 × 1024 BiRNNs; the
            // method trains it without a projection head
            "agrnet" => {
                return Some(EncoderConfig {
                    backbone: BackboneConfig::Agrnet(AgrnetConfig::default()),
                    proj_dim: 0,
                    mlp: false,
                    ..Default::default()
                });
            }
            "lstm" | "ascal_lstm" => {
                return Some(EncoderConfig {
                    backbone: BackboneConfig::Lstm(LstmConfig::default()),
                    proj_dim: 0,
                    mlp: false,
                    ..Default::default()
                });
            }
            _ => return None,
        };
        Some(EncoderConfig {
            backbone: bb,
            ..Default::default()
        })
    }

    pub fn feature_dim(&self) -> usize {
        self.backbone.feature_dim()
    }

    /// Why clips of `t` frames cannot go through this encoder (SCD's spatial tokens hold
    /// exactly its `frames`; DSTA-Net's positional encodings cover at most its `frames`).
    pub fn clip_frames_problem(&self, t: usize) -> Option<String> {
        match &self.backbone {
            BackboneConfig::Scd(c) if c.frames != t => Some(format!(
                "the SCD encoder is built for {} frames (its spatial tokens hold every frame)",
                c.frames
            )),
            BackboneConfig::Transformer(c) if t > c.frames => Some(format!(
                "DSTA-Net's positional encodings cover {} frames",
                c.frames
            )),
            BackboneConfig::Agrnet(c) if c.frames != t => Some(format!(
                "AgRNet's `t` branch is built for {} frames (its tokens hold every frame)",
                c.frames
            )),
            _ => None,
        }
    }

    /// Settings the encoder cannot be built or fed with: (problem, what to do).
    pub fn problems(&self) -> Vec<(String, String)> {
        let (arch, own) = match &self.backbone {
            BackboneConfig::Scd(c) => ("scd", c.problems()),
            BackboneConfig::Agrnet(c) => ("agrnet", c.problems()),
            _ => return Vec::new(),
        };
        let mut p: Vec<(String, String)> = own
            .into_iter()
            .map(|e| {
                (
                    format!("{arch}: {e}"),
                    "fix the encoder's `backbone`".into(),
                )
            })
            .collect();
        if let BackboneConfig::Agrnet(c) = &self.backbone
            && c.body.is_none()
        {
            // every import holds two body slots (NTU's two-person actions)
            p.push((
                "AgRNet reads one body, and the imported clips hold two (NTU's two-person actions)".into(),
                "say which: `backbone: {arch: agrnet, body: first}` (main.py's pickles keep the first body) or `body: second`".into(),
            ));
        }
        p
    }

    /// Whether weights of `other` fit this architecture: the backbone, and with `head`
    /// the projection head too (the initialisation scheme does not matter).
    pub fn same_architecture(&self, other: &EncoderConfig, head: bool) -> bool {
        self.differences(other, head).is_empty()
    }

    /// The architecture fields (with `head`, the projection head's too) in which `other`
    /// differs from this config, as `backbone.hidden 4 here, 8 there`: what
    /// [`Self::same_architecture`] compares, named for messages where the short
    /// descriptions coincide.
    pub fn differences(&self, other: &EncoderConfig, head: bool) -> Vec<String> {
        let json = |c: &EncoderConfig| {
            let mut v = serde_json::json!({
                "backbone": serde_json::to_value(&c.backbone).unwrap_or_default(),
            });
            if head {
                v["proj_dim"] = c.proj_dim.into();
                v["mlp"] = c.mlp.into();
            }
            v
        };
        let mut out = Vec::new();
        diff_values("", &json(self), &json(other), &mut out);
        out
    }

    /// A short description for messages (`stgcn (hidden 16, 256-d) + MLP → 128`).
    pub fn describe(&self) -> String {
        let bb = serde_json::to_value(&self.backbone).unwrap_or_default();
        let arch = bb.get("arch").and_then(|a| a.as_str()).unwrap_or("?");
        let mut s = format!("{arch} ({}-d feature)", self.feature_dim());
        if self.proj_dim > 0 {
            s.push_str(&format!(
                " + {} → {}",
                if self.mlp { "MLP" } else { "linear" },
                self.proj_dim
            ));
        }
        s
    }

    /// Dimension of [`Encoder::embed`]: the projection if there is one, else the feature.
    pub fn embed_dim(&self) -> usize {
        if self.proj_dim > 0 {
            self.proj_dim
        } else {
            self.feature_dim()
        }
    }

    /// Dimensions of [`Encoder::embed_domains`]: the instance embedding's, then (SCD-Net)
    /// the temporal and spatial projections'.
    pub fn domain_embed_dims(&self) -> Vec<usize> {
        let mut dims = vec![self.embed_dim()];
        if let BackboneConfig::Scd(c) = &self.backbone {
            dims.extend([c.proj_dim, c.proj_dim]);
        }
        dims
    }

    pub fn init(&self, device: &Device) -> Encoder {
        let backbone = match &self.backbone {
            BackboneConfig::Stgcn(c) => Backbone::Stgcn(c.init(device)),
            BackboneConfig::Bigru(c) => Backbone::Bigru(c.init(device)),
            BackboneConfig::Lstm(c) => Backbone::Lstm(c.init(device)),
            BackboneConfig::Scd(c) => Backbone::Scd(c.init(device)),
            BackboneConfig::Transformer(c) => Backbone::Transformer(c.init(device)),
            BackboneConfig::Agrnet(c) => Backbone::Agrnet(c.init(device)),
        };
        let d = self.feature_dim();
        // SCD's i_proj: Linear(2·d_model, d_model) → ReLU → Linear(d_model, 128)
        let hidden = match &self.backbone {
            BackboneConfig::Scd(c) => c.d_model,
            _ => d,
        };
        let projector = (self.proj_dim > 0).then(|| Projector {
            hidden: self.mlp.then(|| LinearConfig::new(d, hidden).init(device)),
            out: LinearConfig::new(if self.mlp { hidden } else { d }, self.proj_dim).init(device),
        });
        init::initialise(
            Encoder {
                backbone,
                projector,
            },
            &self.backbone,
            self.init,
        )
    }
}

// One backbone per model, never many in a collection: boxing the large variant gains nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Backbone {
    Stgcn(Stgcn),
    Bigru(BiGruEncoder),
    Lstm(LstmEncoder),
    Scd(ScdEncoder),
    Transformer(Dsta),
    Agrnet(AgrnetEncoder),
}

#[derive(Module, Debug)]
pub struct Projector {
    pub hidden: Option<Linear>,
    pub out: Linear,
}

impl Projector {
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let x = match &self.hidden {
            Some(l) => relu(l.forward(x)),
            None => x,
        };
        self.out.forward(x)
    }
}

/// A backbone's last feature map before pooling: (N·M, D, T', V) for ST-GCN, (N, D, T, 1)
/// for the recurrent encoders (their per-frame outputs); `persons` is M for ST-GCN, 1
/// for the others.
pub struct FeatureMap {
    pub map: Tensor<4>,
    pub persons: usize,
}

#[derive(Module, Debug)]
pub struct Encoder {
    pub backbone: Backbone,
    pub projector: Option<Projector>,
}

impl Encoder {
    /// Backbone features (N, D), the representation evaluations use.
    pub fn features(&self, x: Tensor<5>) -> Tensor<2> {
        self.features_tap(x, &mut no_tap())
    }

    pub fn features_tap(&self, x: Tensor<5>, tap: &mut Tap) -> Tensor<2> {
        let map = self.feature_map_tap(x, tap);
        self.pool_tap(map, tap)
    }

    /// The backbone's feature map before pooling (what ActCLR's actionlet and SAFP use).
    pub fn feature_map(&self, x: Tensor<5>) -> FeatureMap {
        self.feature_map_tap(x, &mut no_tap())
    }

    fn feature_map_tap(&self, x: Tensor<5>, tap: &mut Tap) -> FeatureMap {
        match &self.backbone {
            Backbone::Stgcn(m) => {
                let persons = x.dims()[4];
                FeatureMap {
                    map: m.feature_map(x, tap),
                    persons,
                }
            }
            Backbone::Bigru(m) => FeatureMap {
                map: m.feature_map(x, tap),
                persons: 1,
            },
            Backbone::Lstm(m) => FeatureMap {
                map: m.feature_map(x, tap),
                persons: 1,
            },
            Backbone::Scd(m) => FeatureMap {
                map: m.feature_map(x, tap),
                persons: 1,
            },
            Backbone::Transformer(m) => {
                let persons = x.dims()[4];
                FeatureMap {
                    map: m.feature_map(x, tap),
                    persons,
                }
            }
            Backbone::Agrnet(m) => FeatureMap {
                map: m.feature_map(x, tap),
                persons: 1,
            },
        }
    }

    /// The backbone's own pooling of a feature map: (N, D).
    pub fn pool(&self, map: FeatureMap) -> Tensor<2> {
        self.pool_tap(map, &mut no_tap())
    }

    fn pool_tap(&self, fm: FeatureMap, tap: &mut Tap) -> Tensor<2> {
        match &self.backbone {
            Backbone::Stgcn(m) => m.pool(fm.map, fm.persons, tap),
            Backbone::Bigru(m) => m.pool(fm.map, tap),
            Backbone::Lstm(m) => m.pool(fm.map, tap),
            Backbone::Scd(m) => m.pool(fm.map, tap),
            Backbone::Transformer(m) => m.pool(fm.map, fm.persons, tap),
            Backbone::Agrnet(m) => m.pool(fm.map, tap),
        }
    }

    /// The projection of backbone features (identity without a head).
    pub fn project(&self, f: Tensor<2>) -> Tensor<2> {
        match &self.projector {
            Some(p) => p.forward(f),
            None => f,
        }
    }

    /// features → projection: what contrastive losses compare (not normalised).
    pub fn embed(&self, x: Tensor<5>) -> Tensor<2> {
        self.project(self.features(x))
    }

    /// The embedding of each domain the backbone has: the instance projection, then
    /// (SCD-Net) `t_proj(vt)` and `s_proj(vs)`. Not normalised.
    pub fn embed_domains(&self, x: Tensor<5>) -> Vec<Tensor<2>> {
        let f = self.features(x);
        let mut out = vec![self.project(f.clone())];
        if let Backbone::Scd(m) = &self.backbone {
            let d = f.dims()[1] / 2;
            out.push(m.t_proj.forward(f.clone().narrow(1, 0, d)));
            out.push(m.s_proj.forward(f.narrow(1, d, d)));
        }
        out
    }
}

/// `<name> must be > 0` for each setting that is 0.
pub(crate) fn zero_problems(settings: &[(&str, usize)]) -> Vec<String> {
    settings
        .iter()
        .filter(|(_, v)| *v == 0)
        .map(|(name, _)| format!("{name} must be > 0"))
        .collect()
}

/// An attention width that the heads do not divide.
pub(crate) fn heads_problem(d_model: usize, heads: usize) -> Option<String> {
    (heads == 0 || !d_model.is_multiple_of(heads))
        .then(|| format!("d_model {d_model} is not a multiple of heads {heads}"))
}

/// Counts of float parameters: trainable (what PyTorch reports) and total (with BN
/// running statistics, what burn's `num_params` reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ParamCount {
    pub trainable: usize,
    pub total: usize,
}

/// Whether the field being visited is a BatchNorm running statistic (a buffer in PyTorch).
pub fn is_running_stat(path: &[String]) -> bool {
    matches!(
        path.last().map(String::as_str),
        Some("running_mean" | "running_var")
    )
}

/// Float parameter counts per module path (`.blocks.0.gcn.conv.`: the dotted path with a
/// dot on each side, so that a prefix match selects whole modules).
pub fn count_params_by_path<M: Module>(m: &M) -> BTreeMap<String, ParamCount> {
    struct PathCounter {
        path: Vec<String>,
        counts: BTreeMap<String, ParamCount>,
    }
    impl ModuleVisitor for PathCounter {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let n = p.lazy_shape().num_elements();
            let e = self
                .counts
                .entry(format!(".{}.", self.path.join(".")))
                .or_default();
            e.total += n;
            if !is_running_stat(&self.path) {
                e.trainable += n;
            }
        }
    }
    let mut c = PathCounter {
        path: Vec::new(),
        counts: BTreeMap::new(),
    };
    m.visit(&mut c);
    c.counts
}

pub fn count_params<M: Module>(m: &M) -> ParamCount {
    count_params_by_path(m)
        .values()
        .fold(ParamCount::default(), |a, c| ParamCount {
            trainable: a.trainable + c.trainable,
            total: a.total + c.total,
        })
}

/// Leaf-by-leaf differences of two JSON values, paths joined with `.`.
fn diff_values(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let null = serde_json::Value::Null;
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_values(
                    &sub,
                    x.get(k).unwrap_or(&null),
                    y.get(k).unwrap_or(&null),
                    out,
                );
            }
        }
        _ if a != b => out.push(format!("{path} {a} here, {b} there")),
        _ => {}
    }
}
