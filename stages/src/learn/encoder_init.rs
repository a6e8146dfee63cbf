//! `encoder.init`: a randomly initialised encoder — the baseline every report needs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::artifact::{EncoderMeta, write_encoder};
use super::data::derive_seed;
use super::device::device;
use super::encoders::{EncoderSpec, count_params};
use crate::data::Stream;
use crate::params::{ParamError, Params};
use crate::{Kind, StageContext, StageError};

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EncoderInitParams {
    /// Encoder preset or config, as `pretrain`'s (a BiGRU is `drive: per_frame` unless it
    /// says `drive: bidirectional`).
    pub encoder: EncoderSpec,
    /// The stream the encoder will be fed (recorded for `extract`).
    pub stream: Stream,
}

impl Default for EncoderInitParams {
    fn default() -> Self {
        EncoderInitParams {
            encoder: EncoderSpec::default(),
            stream: Stream::Joint,
        }
    }
}

impl Params for EncoderInitParams {
    fn validate(&self) -> Vec<ParamError> {
        self.encoder.errors("encoder")
    }
}

/// `encoder.init`: a randomly initialised encoder — the baseline every report needs.
pub struct EncoderInit;

impl Kind for EncoderInit {
    type Params = EncoderInitParams;
    const NAME: &'static str = "encoder.init";
    // 2: the reference initialisation (`init: reference`)
    const VERSION: u32 = 2;
    const ABOUT: &'static str = "a randomly initialised encoder (the random-init baseline), in the pretrain artifact layout";
    const USES_BACKEND: bool = true;

    fn canonical(&self, mut p: EncoderInitParams) -> Result<EncoderInitParams, Vec<ParamError>> {
        p.encoder = p.encoder.canonical();
        Ok(p)
    }

    fn run(&self, ctx: &StageContext, p: EncoderInitParams) -> Result<(), StageError> {
        let cfg = p
            .encoder
            .resolve()
            .map_err(|e| StageError::param("encoder", e))?;
        let dev = device(ctx.backend, false, ctx.threads)?;
        dev.seed(derive_seed(ctx.seed, &[0x1417]));
        let enc = cfg.init(&dev);
        let counts = count_params(&enc);
        let meta = EncoderMeta {
            encoder: cfg,
            input: serde_json::json!({"stream": p.stream}),
            method: "random".into(),
            epochs: 0,
            backend: ctx.backend.name().into(),
            params_trainable: counts.trainable,
            params_total: counts.total,
            resumed_from: 0,
        };
        write_encoder(&ctx.out_dir, &meta, &enc)
    }
}
