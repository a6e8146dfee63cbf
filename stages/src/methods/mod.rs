//! Pre-training methods (self-supervised, and the supervised baseline), one file each,
//! chosen by `pretrain`'s `method` — and the `pretrain` stage kind that runs them.
//!
//! Adding a method = one file implementing [`crate::learn::method::Method`] with a
//! `pub const ENTRY: MethodEntry`, plus one line in [`METHODS`].

pub mod a2mc;
pub mod a2mc_blocks;
pub mod actclr;
pub mod actclr_blocks;
pub mod agrnet;
pub mod aimclr;
pub mod ascal;
pub mod blocks;
pub mod moco;
pub mod pretrain;
pub mod supervised;

use serde_json::Value;

use crate::data::Stream;
use crate::learn::augment::ViewSpec;
use crate::learn::encoders::EncoderConfig;
use crate::learn::method::{Method, MethodSetup};
use crate::params::ParamError;
use crate::{StageError, Upstream};

/// What a method's input check sees of the `pretrain` instance that runs it.
pub struct PretrainView<'a> {
    pub benchmark: &'a str,
    pub stream: Stream,
    pub encoder: &'a EncoderConfig,
}

/// A method's registration.
pub struct MethodEntry {
    pub name: &'static str,
    pub about: &'static str,
    /// The method's implementation version, part of the key of every `pretrain` that runs
    /// it: bump it when a change alters what the method computes. Other methods' cached
    /// results stay valid.
    pub version: u32,
    /// Validate the method's params (`method_params`), returning the canonical form.
    pub check: fn(&Value) -> Result<Value, Vec<ParamError>>,
    /// The views a step expects, when `pretrain` is not told otherwise, given the
    /// method's canonical params (a method's switches may change which views it needs).
    pub default_views: fn(&Value) -> Vec<ViewSpec>,
    /// Problems with the upstream stages (a missing anchor) known before anything runs;
    /// paths are relative to `method_params`.
    pub check_inputs: fn(&Value, &PretrainView, &[Upstream]) -> Vec<ParamError>,
    pub build: BuildMethod,
}

/// Makes a method from its canonical params and the stage's setup.
pub type BuildMethod = fn(&Value, &MethodSetup) -> Result<Box<dyn Method>, StageError>;

/// For methods that need nothing beyond the dataset.
pub fn no_inputs(_: &Value, _: &PretrainView, _: &[Upstream]) -> Vec<ParamError> {
    Vec::new()
}

/// Whether a dataset-producing upstream (`ntu.import`, `pku.import`, …).
pub(crate) fn is_dataset(u: &Upstream) -> bool {
    u.kind.ends_with(".import") && u.params.get("variant").is_some()
}

/// A dataset upstream's `variant` and the frames its clips have (`None`: unknown variant).
pub(crate) fn variant_frames(u: &Upstream) -> (String, Option<usize>) {
    let name = u
        .params
        .get("variant")
        .and_then(|v| v.as_str())
        .unwrap_or("?")
        .to_string();
    let frames = crate::data::Variant::parse(&name).map(|v| v.frames());
    (name, frames)
}

/// The known methods. One line per method.
pub const METHODS: &[MethodEntry] = &[
    moco::ENTRY,
    a2mc::ENTRY,
    supervised::ENTRY,
    aimclr::ENTRY,
    actclr::ENTRY,
    ascal::ENTRY,
    agrnet::ENTRY,
];

pub fn method(name: &str) -> Option<&'static MethodEntry> {
    METHODS.iter().find(|m| m.name == name)
}

pub fn method_names() -> Vec<&'static str> {
    METHODS.iter().map(|m| m.name).collect()
}

/// A method's canonical params as its typed struct (they were checked at validation).
pub fn typed_params<P: serde::de::DeserializeOwned>(
    method: &str,
    params: &Value,
) -> Result<P, StageError> {
    serde_json::from_value(params.clone())
        .map_err(|e| StageError::param("method_params", format!("{method}: {e}")))
}
