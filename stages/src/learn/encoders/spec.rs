//! An encoder as a pipeline writes it: a preset name or a full config.

use schemars::JsonSchema;
use serde::Serialize;

use super::EncoderConfig;
use crate::params::ParamError;

/// An encoder given as a preset name (`stgcn`, `stgcn64`, `bigru`, `lstm`) or a config.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(title = "preset name | encoder config")]
pub enum EncoderSpec {
    Preset(String),
    Config(EncoderConfig),
}

skelflow_contract::deserialize_name_or!(
    EncoderSpec,
    "an encoder preset name or an encoder config",
    Preset,
    Config
);

impl Default for EncoderSpec {
    fn default() -> Self {
        EncoderSpec::Preset("stgcn".into())
    }
}

impl EncoderSpec {
    pub fn resolve(&self) -> Result<EncoderConfig, String> {
        match self {
            EncoderSpec::Config(c) => Ok(c.clone()),
            EncoderSpec::Preset(p) => EncoderConfig::preset(p).ok_or_else(|| {
                format!(
                    "unknown encoder preset `{p}`: use {}, or a config mapping",
                    EncoderConfig::PRESETS.join(", ")
                )
            }),
        }
    }

    /// The problems of this spec as errors of param `at`.
    pub fn errors(&self, at: &str) -> Vec<ParamError> {
        match self.resolve() {
            Ok(c) => c
                .problems()
                .into_iter()
                .map(|(e, hint)| ParamError::at(at, e).with_hint(hint))
                .collect(),
            Err(e) => vec![ParamError::at(at, e)],
        }
    }

    /// The full config, so that a preset and its spelled-out config get one key.
    pub fn canonical(&self) -> EncoderSpec {
        match self.resolve() {
            Ok(c) => EncoderSpec::Config(c),
            Err(_) => self.clone(),
        }
    }
}
