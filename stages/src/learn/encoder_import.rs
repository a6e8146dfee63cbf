//! `encoder.import`: an encoder from a reference repository's checkpoint (AimCLR / ActCLR /
//! CrosSCLR, CMD / ISC, AS-CAL) or another skelflow cache, as an encoder artifact that
//! `extract`, every evaluation and `pretrain`'s `init` take like any other.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::artifact::{EncoderMeta, read_encoder, write_encoder};
use super::checkpoint::{self, CheckpointFormat};
use super::device::device;
use super::encoders::{EncoderSpec, count_params};
use crate::data::Stream;
use crate::params::{ParamError, Params};
use crate::{Kind, StageContext, StageError};

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderImportParams {
    /// The checkpoint, relative to the pipeline file: a `torch.save` file of the reference
    /// code, or (format `skelflow`) an encoder artifact directory. Its content is in the key.
    pub file: String,
    /// `auto` (told by the tensor names), `aimclr` (ST-GCN of AimCLR / ActCLR / CrosSCLR /
    /// SkeletonCLR), `cmd` (BiGRU of CMD / ISC), `ascal` (AS-CAL's LSTM), `a2mc` (A²MC's
    /// SCD-Net encoder), `dsta` (DSTA-Net) or `skelflow`.
    pub format: CheckpointFormat,
    /// The stream the encoder was trained on: picks CMD's `encoder_q` / `encoder_q_motion` /
    /// `encoder_q_bone`, and is what `extract` feeds it.
    pub stream: Stream,
    /// The encoder's shape, when the one read from the tensors is not what you want (a
    /// BiGRU with `drive: bidirectional`); it must fit the tensors. Empty: from the file.
    pub encoder: Option<EncoderSpec>,
}

impl Default for EncoderImportParams {
    fn default() -> Self {
        EncoderImportParams {
            file: String::new(),
            format: CheckpointFormat::Auto,
            stream: Stream::Joint,
            encoder: None,
        }
    }
}

impl Params for EncoderImportParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut e = Vec::new();
        if self.file.trim().is_empty() {
            e.push(
                ParamError::at("file", "is empty").with_hint(
                    "give the checkpoint's path (relative to the pipeline file), e.g. `checkpoints/epoch300_model.pt`",
                ),
            );
        }
        if let Some(spec) = &self.encoder {
            e.extend(spec.errors("encoder"));
        }
        e
    }
}

impl EncoderImportParams {
    fn shape(&self) -> Result<Option<super::encoders::EncoderConfig>, StageError> {
        self.encoder
            .as_ref()
            .map(|s| s.resolve().map_err(|e| StageError::param("encoder", e)))
            .transpose()
    }

    fn is_artifact(&self, resolved: &Path) -> bool {
        self.format == CheckpointFormat::Skelflow
            || (self.format == CheckpointFormat::Auto && resolved.is_dir())
    }
}

pub struct EncoderImport;

impl Kind for EncoderImport {
    type Params = EncoderImportParams;
    const NAME: &'static str = "encoder.import";
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "an encoder from a reference checkpoint (aimclr: AimCLR/ActCLR/CrosSCLR ST-GCN | cmd: CMD/ISC BiGRU per stream | ascal: AS-CAL LSTM | a2mc: A²MC's SCD-Net encoder | dsta: DSTA-Net) or a skelflow encoder directory, in the pretrain artifact layout";
    const USES_BACKEND: bool = true;

    fn canonical(
        &self,
        mut p: EncoderImportParams,
    ) -> Result<EncoderImportParams, Vec<ParamError>> {
        p.encoder = p.encoder.map(|s| s.canonical());
        Ok(p)
    }

    fn external_inputs(&self, p: &EncoderImportParams) -> Vec<PathBuf> {
        vec![PathBuf::from(&p.file)]
    }

    /// Before anything runs: the file's tensor names and shapes (no values) must hold the
    /// encoder asked for.
    fn check_external(
        &self,
        p: &EncoderImportParams,
        given: &Path,
        resolved: &Path,
    ) -> Option<String> {
        if p.is_artifact(resolved) {
            let meta = resolved.join(super::artifact::ENCODER_JSON);
            return (!meta.is_file()).then(|| {
                format!(
                    "{given:?} has no {}: the `skelflow` format is an encoder artifact directory (`skelflow show` prints one)",
                    super::artifact::ENCODER_JSON
                )
            });
        }
        if resolved.is_dir() {
            return Some(format!(
                "{} is a directory; give the checkpoint file (or `format: skelflow` for an encoder artifact)",
                given.display()
            ));
        }
        let shape = p.shape().ok()?;
        checkpoint::read(resolved, false)
            .and_then(|sd| checkpoint::locate(&sd, p.format, p.stream, shape.as_ref()))
            .err()
            .map(|e| format!("{}: {e}", given.display()))
    }

    fn run(&self, ctx: &StageContext, p: EncoderImportParams) -> Result<(), StageError> {
        let path = ctx.resolve(&p.file);
        let dev = device(ctx.backend, false, ctx.threads)?;
        if p.is_artifact(&path) {
            let (mut meta, enc) = read_encoder(&path, &dev)?;
            meta.backend = ctx.backend.name().into();
            return write_encoder(&ctx.out_dir, &meta, &enc);
        }
        let shape = p.shape()?;
        let (found, enc) = checkpoint::import(&path, p.format, p.stream, shape.as_ref(), &dev)
            .map_err(|e| StageError::bad_file(&path, e))?;
        let counts = count_params(&enc);
        let meta = EncoderMeta {
            encoder: found.config.clone(),
            input: serde_json::json!({
                "stream": p.stream,
                "checkpoint": {
                    "file": file_name(&path),
                    "format": found.format.name(),
                    "prefix": found.prefix,
                    "other_tensors": found.other_tensors,
                },
            }),
            method: format!("import:{}", found.format.name()),
            epochs: 0,
            backend: ctx.backend.name().into(),
            params_trainable: counts.trainable,
            params_total: counts.total,
            resumed_from: 0,
        };
        write_encoder(&ctx.out_dir, &meta, &enc)
    }
}

/// The file name only: a report never shows a machine's absolute path.
fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
