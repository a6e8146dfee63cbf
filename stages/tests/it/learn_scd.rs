//! SCD-Net's GCN & transformer encoder (A²MC's code): its parameter counts against
//! PyTorch's count of the same modules, and its features against PyTorch's
//! (`scripts/scd_reference.py`, torch venv).

use std::path::Path;
use std::process::Command;

use burn::prelude::*;
use skelflow_stages::data::Stream;
use skelflow_stages::learn::checkpoint::torch_file::{self, PyValue};
use skelflow_stages::learn::checkpoint::{self, CheckpointFormat, TorchTensor, Values};
use skelflow_stages::learn::encoders::{
    Backbone, BackboneConfig, EncoderConfig, ScdConfig, count_params, count_params_by_path,
};

use crate::fixtures::venv_python;
use crate::learn_common::rng_lock;

/// Trainable parameters of A²MC's `PretrainingEncoder(2048, 8, 1)` (c = 64, 64 frames,
/// 128-d projections) per part, as PyTorch counts them (`scd_reference.py counts`), and as
/// the layer list of ML-FACTS §2.3 gives them: each CTR-GCN 363,928; channel_t
/// Linear(3200, 2048) + LN + Linear(2048, 2048) = 10,756,096; channel_s (4096 in) =
/// 12,591,104; a transformer layer 6·2048² + 10·2048 = 25,186,304; t_proj / s_proj
/// 2048² + 2048 + 2048·128 + 128 = 4,458,624; i_proj (4096 in) 8,652,928.
const PARTS: [(&str, usize); 9] = [
    (".gcn_t.", 363_928),
    (".gcn_s.", 363_928),
    (".channel_t.", 10_756_096),
    (".channel_s.", 12_591_104),
    (".t_encoder.", 25_186_304),
    (".s_encoder.", 25_186_304),
    (".t_proj.", 4_458_624),
    (".s_proj.", 4_458_624),
    (".projector.", 8_652_928),
];

#[test]
fn scd_parameter_counts_equal_pytorchs() {
    let _rng = rng_lock();
    let cfg = EncoderConfig::preset("scd").unwrap();
    let enc = cfg.init(&Device::flex());
    let by_path = count_params_by_path(&enc);
    for (part, want) in PARTS {
        let got: usize = by_path
            .iter()
            .filter(|(p, _)| p.contains(part))
            .map(|(_, c)| c.trainable)
            .sum();
        assert_eq!(got, want, "{part}");
    }
    let all = count_params(&enc);
    assert_eq!(all.trainable, 92_017_840);
    // BN running statistics: 7,640 elements, as PyTorch's buffers
    assert_eq!(all.total - all.trainable, 7_640);
    // the transformer layer by formula: 4d² + 4d attention, 2(d² + d) feed-forward, 4d norms
    let d = 2048;
    assert_eq!(6 * d * d + 10 * d, 25_186_304);

    let summary = skelflow_stages::learn::model_summary_str("scd", None).unwrap();
    println!("{summary}");
    assert!(
        summary.contains("Total params: trainable 92,017,840"),
        "{summary}"
    );
    assert!(summary.contains("t_proj+s_proj"), "{summary}");
}

#[test]
fn scd_features_equal_pytorchs() {
    let Some(py) = venv_python("torch", "SKELFLOW_TORCH_TESTS") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let golden = tmp.path().join("scd.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/scd_reference.py");
    let out = Command::new(&py)
        .arg(&script)
        .args(["golden", golden.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&golden).unwrap()).unwrap();
    let tensor = |v: &serde_json::Value| -> (Vec<usize>, Vec<f32>) {
        let shape = v["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let data = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        (shape, data)
    };
    // PyTorch's state dict, as the `a2mc` checkpoint format reads it
    let items = g["state_dict"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let (shape, data) = tensor(v);
            (
                k.clone(),
                PyValue::Tensor(TorchTensor {
                    shape,
                    values: Values::F32(data),
                }),
            )
        })
        .collect();
    let file = tmp.path().join("scd.pt");
    torch_file::write(&file, &PyValue::OrderedDict(items)).unwrap();
    let c = &g["config"];
    let shape = EncoderConfig {
        backbone: BackboneConfig::Scd(ScdConfig {
            frames: c["frames"].as_u64().unwrap() as usize,
            gcn_channels: c["c"].as_u64().unwrap() as usize,
            d_model: c["d_model"].as_u64().unwrap() as usize,
            heads: c["heads"].as_u64().unwrap() as usize,
            layers: c["layers"].as_u64().unwrap() as usize,
            proj_dim: c["num_class"].as_u64().unwrap() as usize,
            dropout: 0.1,
        }),
        proj_dim: c["num_class"].as_u64().unwrap() as usize,
        mlp: true,
        ..Default::default()
    };
    let dev = Device::flex();
    let _rng = rng_lock();
    let (found, enc) = checkpoint::import(
        &file,
        CheckpointFormat::A2mc,
        Stream::Joint,
        Some(&shape),
        &dev,
    )
    .unwrap();
    assert_eq!(found.prefix, "");
    let enc = enc.valid();
    let (xs, xv) = tensor(&g["x"]);
    let x = Tensor::<5>::from_data(
        TensorData::new(xv, [xs[0], xs[1], xs[2], xs[3], xs[4]]),
        &dev,
    );
    let f = enc.features(x);
    let d = shape.feature_dim() / 2;
    let close = |name: &str, got: Tensor<2>| {
        let (_, want) = tensor(&g[name]);
        let got = got.into_data().try_into_vec::<f32>().unwrap();
        let err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs() / b.abs().max(0.01))
            .fold(0f32, f32::max);
        println!("{name}: max relative error {err:.2e}");
        assert!(err <= 1e-4, "{name}: {err}");
    };
    close("vt", f.clone().narrow(1, 0, d));
    close("vs", f.clone().narrow(1, d, d));
    close("zi", enc.project(f.clone()));
    let Backbone::Scd(m) = &enc.backbone else {
        panic!("an SCD backbone")
    };
    close("zt", m.t_proj.forward(f.clone().narrow(1, 0, d)));
    close("zs", m.s_proj.forward(f.narrow(1, d, d)));
}
