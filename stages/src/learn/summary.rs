//! `skelflow model summary`: a torchinfo-like table of an encoder's layers, output shapes
//! and parameter counts (trainable = PyTorch's count; total adds BN running statistics).

use burn::prelude::*;

use super::encoders::{
    Backbone, BackboneConfig, EncoderConfig, ParamCount, count_params, count_params_by_path,
};

/// The summary of `config` for inputs of `frames` frames (default: 50 for ST-GCN, 64 for
/// the recurrent encoders), as a text table.
pub fn model_summary(config: &EncoderConfig, frames: Option<usize>) -> String {
    let device = Device::flex();
    let enc = config.init(&device);
    let t = frames.unwrap_or(match &config.backbone {
        BackboneConfig::Stgcn(_) => 50,
        BackboneConfig::Scd(c) => c.frames,
        BackboneConfig::Agrnet(c) => c.frames,
        _ => 64,
    });
    let (c, v, m) = (3, 25, 2);
    let n = 1;
    let mut rows: Vec<(String, Vec<usize>)> = vec![("input".into(), vec![n, c, t, v, m])];
    let x = Tensor::<5>::zeros([n, c, t, v, m], &device);
    let f = enc.features_tap(x, &mut |name: &str, shape: &[usize]| {
        rows.push((name.to_string(), shape.to_vec()))
    });
    if enc.projector.is_some() {
        let p = enc.project(f.clone());
        rows.push(("projector".into(), p.dims().to_vec()));
    }
    if let Backbone::Scd(m) = &enc.backbone {
        // SCD's temporal and spatial projections, beside the instance one (`projector`)
        let d = f.dims()[1] / 2;
        let zt = m.t_proj.forward(f.narrow(1, 0, d));
        rows.push(("t_proj+s_proj".into(), zt.dims().to_vec()));
    }

    let counts = count_params_by_path(&enc);
    let owners = |row: &str| -> Vec<String> {
        let mut own = vec![format!(".{row}.")];
        if row.starts_with("graph_layers.") || row == "input_map" {
            own = vec![format!(".{row}.")];
        }
        if let Some(i) = row.strip_prefix("blocks.") {
            own.push(format!(".edge_importance.{i}."));
        }
        if let Some(i) = row.strip_prefix("gru.") {
            own = vec![
                format!(".forward_cells.{i}."),
                format!(".backward_cells.{i}."),
            ];
        }
        if let Some(i) = row.strip_prefix("lstm.") {
            own = vec![format!(".cells.{i}.")];
        }
        match row {
            // the input has no parameters (AgRNet's RNN cells have `input` layers)
            "input" => own.clear(),
            "t_encoder" => own = vec![".channel_t.".into(), ".t_encoder.".into()],
            "s_encoder" => own = vec![".channel_s.".into(), ".s_encoder.".into()],
            "t_proj+s_proj" => own = vec![".t_proj.".into(), ".s_proj.".into()],
            _ => {}
        }
        own
    };
    let mut table = String::new();
    let arch = match &config.backbone {
        BackboneConfig::Stgcn(c) => {
            format!("ST-GCN (hidden {}, feature {})", c.hidden, c.feature_dim)
        }
        // the drive as a config spells it (`drive: per_frame`)
        BackboneConfig::Bigru(c) => format!(
            "BiGRU ({} layers × {} hidden, drive: {})",
            c.layers,
            c.hidden,
            serde_json::to_value(c.drive)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
        BackboneConfig::Lstm(c) => format!("LSTM ({} layer(s) × {} hidden)", c.layers, c.hidden),
        BackboneConfig::Transformer(c) => format!(
            "DSTA-Net transformer ({} blocks, {} subsets, feature {}, positional encodings for {} frames)",
            c.blocks.len(),
            c.subsets,
            c.feature_dim(),
            c.frames
        ),
        BackboneConfig::Agrnet(c) => format!(
            "AgRNet encoder, reconstructed (xyz + t Informer branches: d_model {}, {} heads, {} layers, AAGA {}, ADGA {}, PFM {}; BiRNN {} × {}; {} frames)",
            c.d_model,
            c.heads,
            c.layers,
            on_off(c.aaga),
            on_off(c.adga),
            on_off(c.pfm),
            c.rnn_layers,
            c.rnn_hidden,
            c.frames
        ),
        BackboneConfig::Scd(c) => format!(
            "SCD-Net encoder (CTR-GCN × 2, width {}; transformers d_model {}, {} heads, {} layer(s); {} frames)",
            c.gcn_channels, c.d_model, c.heads, c.layers, c.frames
        ),
    };
    table.push_str(&format!(
        "Encoder: {arch}; projection {}\n",
        if config.proj_dim > 0 {
            format!(
                "{} → {}",
                if config.mlp { "MLP" } else { "Linear" },
                config.proj_dim
            )
        } else {
            "none".into()
        }
    ));
    table.push_str(&format!(
        "{:<16} {:<24} {:>14} {:>14}\n",
        "Layer", "Output shape", "Trainable", "Total"
    ));
    table.push_str(&format!("{}\n", "-".repeat(71)));
    let mut seen = ParamCount::default();
    for (name, shape) in &rows {
        let mut pcnt = ParamCount::default();
        for own in owners(name) {
            for (path, cnt) in &counts {
                if path.contains(&own) {
                    pcnt.trainable += cnt.trainable;
                    pcnt.total += cnt.total;
                }
            }
        }
        seen.trainable += pcnt.trainable;
        seen.total += pcnt.total;
        let shape = format!("{shape:?}");
        table.push_str(&format!(
            "{:<16} {:<24} {:>14} {:>14}\n",
            name,
            shape,
            group(pcnt.trainable),
            group(pcnt.total)
        ));
    }
    let all = count_params(&enc);
    if seen != all {
        table.push_str(&format!(
            "{:<16} {:<24} {:>14} {:>14}\n",
            "(other)",
            "",
            group(all.trainable - seen.trainable),
            group(all.total - seen.total)
        ));
    }
    table.push_str(&format!("{}\n", "-".repeat(71)));
    let bb = backbone_params(config);
    table.push_str(&format!(
        "Backbone params: trainable {}, total {}\n",
        group(bb.trainable),
        group(bb.total)
    ));
    table.push_str(&format!(
        "Total params: trainable {}, total {}\n",
        group(all.trainable),
        group(all.total)
    ));
    table
}

/// Parameter counts of the backbone alone (no projection head).
pub fn backbone_params(config: &EncoderConfig) -> ParamCount {
    let bare = EncoderConfig {
        proj_dim: 0,
        ..config.clone()
    };
    count_params(&bare.init(&Device::flex()))
}

/// `1234567` → `1,234,567`.
pub fn group(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Parse a config (YAML/JSON text, a file path, or a preset name) and summarise it.
pub fn model_summary_str(spec: &str, frames: Option<usize>) -> Result<String, String> {
    let config = if let Some(p) = EncoderConfig::preset(spec) {
        p
    } else if std::path::Path::new(spec).is_file() {
        let text = std::fs::read_to_string(spec).map_err(|e| format!("{spec}: {e}"))?;
        EncoderConfig::parse(&text).map_err(|e| format!("{spec}: {e}"))?
    } else {
        EncoderConfig::parse(spec).map_err(|e| format!("encoder config: {e} (give a preset: stgcn, stgcn64, bigru, lstm, scd, transformer, agrnet; a YAML file; or inline YAML like `{{arch: stgcn, hidden: 16}}`)"))?
    };
    if let (BackboneConfig::Scd(c), Some(t)) = (&config.backbone, frames)
        && t != c.frames
    {
        return Err(format!(
            "the SCD encoder is built for {} frames (its spatial tokens hold every frame): give `{{arch: scd, frames: {t}}}` instead of --frames",
            c.frames
        ));
    }
    if let (BackboneConfig::Transformer(c), Some(t)) = (&config.backbone, frames)
        && t > c.frames
    {
        return Err(format!(
            "DSTA-Net's positional encodings cover {} frames: give `{{arch: transformer, frames: {t}}}` for longer inputs",
            c.frames
        ));
    }
    if let (BackboneConfig::Agrnet(c), Some(t)) = (&config.backbone, frames)
        && t != c.frames
    {
        return Err(format!(
            "AgRNet's `t` branch is built for {} frames (its tokens hold every frame): give `{{arch: agrnet, frames: {t}}}` instead of --frames",
            c.frames
        ));
    }
    Ok(model_summary(&config, frames))
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}
