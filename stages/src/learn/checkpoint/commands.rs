//! What `skelflow model export` and `skelflow model embed` do, as library calls.

use std::path::Path;

use burn::prelude::*;

use super::{CheckpointFormat, export, import};
use crate::StageError;
use crate::context::Backend;
use crate::data::Stream;
use crate::data::anchor::write_npy;
use crate::data::preprocess::apply_stream;
use crate::data::skeleton::{CHANNELS, MAX_BODIES, NUM_JOINTS};
use crate::learn::artifact::{ENCODER_JSON, read_encoder};
use crate::learn::dataset::read_npy_f32;
use crate::learn::device::device;
use crate::learn::encoders::{Encoder, EncoderConfig};
use crate::learn::extract::FeatureKind;

/// An encoder from `checkpoint`: a skelflow encoder artifact directory, or a reference
/// checkpoint file. `stream`: which encoder of a multi-stream file (default: joint; for a
/// directory, the stream it was trained on). Returns the config, the encoder, its stream
/// and a one-line description.
pub fn load_encoder(
    checkpoint: &Path,
    format: CheckpointFormat,
    stream: Option<Stream>,
    device: &Device,
) -> Result<(EncoderConfig, Encoder, Stream, String), StageError> {
    if checkpoint.is_dir() || format == CheckpointFormat::Skelflow {
        if !checkpoint.join(ENCODER_JSON).is_file() {
            return Err(StageError::bad_file(
                checkpoint,
                format!(
                    "is not an encoder artifact (no {ENCODER_JSON}); `skelflow show PIPELINE INSTANCE` prints an encoder's directory"
                ),
            ));
        }
        let (meta, enc) = read_encoder(checkpoint, device)?;
        let trained: Stream =
            serde_json::from_value(meta.input["stream"].clone()).unwrap_or_default();
        let about = format!(
            "{} ({}, {} epochs)",
            meta.encoder.describe(),
            meta.method,
            meta.epochs
        );
        return Ok((meta.encoder, enc, stream.unwrap_or(trained), about));
    }
    let stream = stream.unwrap_or_default();
    let (found, enc) = import(checkpoint, format, stream, None, device)
        .map_err(|e| StageError::bad_file(checkpoint, e))?;
    let about = format!(
        "{} from the {} checkpoint (`{}*`)",
        found.config.describe(),
        found.format.name(),
        found.prefix
    );
    Ok((found.config, enc, stream, about))
}

/// `model export`: the encoder at `checkpoint` written to `out` in `format`. Returns the
/// format written and a description.
pub fn export_encoder(
    checkpoint: &Path,
    format: CheckpointFormat,
    stream: Option<Stream>,
    out: &Path,
) -> Result<String, StageError> {
    let dev = device(Backend::Flex, false, 0)?;
    let (cfg, enc, stream, about) = load_encoder(checkpoint, CheckpointFormat::Auto, stream, &dev)?;
    let epochs = std::fs::read_to_string(checkpoint.join(ENCODER_JSON))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["epochs"].as_u64())
        .unwrap_or(0) as usize;
    let written = export(out, format, stream, epochs, &cfg, &enc)
        .map_err(|e| StageError::bad_file(out, e))?;
    Ok(format!(
        "{about} → {} ({} format, {stream} stream)",
        out.display(),
        written.name()
    ))
}

/// `model embed`: features of the clips in `input` ((N, 3, T, 25, 2) float32, the joints in
/// the reference layout; the stream is computed from them as the reference feeders do)
/// written to `out` as (N, D) float32. The encoder runs in eval mode.
pub fn embed(
    checkpoint: &Path,
    format: CheckpointFormat,
    stream: Option<Stream>,
    feature: FeatureKind,
    input: &Path,
    out: &Path,
    backend: Backend,
) -> Result<String, StageError> {
    let dev = device(backend, false, 0)?;
    let (cfg, enc, stream, about) = load_encoder(checkpoint, format, stream, &dev)?;
    if feature == FeatureKind::Projection && cfg.proj_dim == 0 {
        return Err(StageError::bad_file(
            checkpoint,
            format!(
                "{} has no projection head: use `--feature backbone`",
                cfg.describe()
            ),
        ));
    }
    let (shape, x) = read_npy_f32(input)?;
    let [n, c, t, v, m] = shape[..] else {
        return Err(StageError::bad_file(
            input,
            format!("has shape {shape:?}; expected (N, C, T, V, M) = (N, 3, T, 25, 2)"),
        ));
    };
    if (c, v, m) != (CHANNELS, NUM_JOINTS, MAX_BODIES) || t == 0 {
        return Err(StageError::bad_file(
            input,
            format!("has shape {shape:?}; expected (N, 3, T, 25, 2)"),
        ));
    }
    let enc = enc.valid();
    let len = c * t * v * m;
    const BATCH: usize = 64;
    let mut rows = Vec::new();
    let mut dim = 0;
    for first in (0..n).step_by(BATCH) {
        let count = BATCH.min(n - first);
        let mut flat = vec![0f32; count * len];
        for (k, slot) in flat.chunks_mut(len).enumerate() {
            let i = first + k;
            apply_stream(&x[i * len..(i + 1) * len], stream, slot);
        }
        let xb = Tensor::<5>::from_data(TensorData::new(flat, [count, c, t, v, m]), &dev);
        let f = enc.features(xb);
        let f = match feature {
            FeatureKind::Backbone => f,
            FeatureKind::Projection => enc.project(f),
        };
        dim = f.dims()[1];
        rows.extend(
            f.into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .map_err(|e| StageError::Backend {
                    backend: backend.name().into(),
                    message: format!("cannot read the features back: {e:?}"),
                })?,
        );
    }
    write_npy(out, &[n as u64, dim as u64], &rows)?;
    Ok(format!(
        "{about}: {n} clips of the {stream} stream → {} features ({n} × {dim}) in {}",
        match feature {
            FeatureKind::Backbone => "backbone",
            FeatureKind::Projection => "projection",
        },
        out.display()
    ))
}
