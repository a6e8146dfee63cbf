//! The encoders of A²MC's Table I beyond ST-GCN and the BiGRU — SCD-Net's GCN &
//! transformer encoder (A²MC's code) and DSTA-Net (its Transformer row): parameter counts
//! against PyTorch's count of the same modules, and features against PyTorch's
//! (`scripts/scd_reference.py`, `scripts/dsta_reference.py`, torch venv).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use burn::prelude::*;
use skelflow_stages::data::Stream;
use skelflow_stages::learn::checkpoint::torch_file::{self, PyValue};
use skelflow_stages::learn::checkpoint::{self, CheckpointFormat, TorchTensor, Values};
use skelflow_stages::learn::encoders::{
    BackboneConfig, EncoderConfig, ScdConfig, count_params, count_params_by_path,
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

pub(crate) type Golden = serde_json::Value;

/// Run `script golden OUT.json` in the torch venv: the golden, or `None` (skipped).
pub(crate) fn golden(script: &str, dir: &Path) -> Option<Golden> {
    let py = venv_python("torch", "SKELFLOW_TORCH_TESTS")?;
    let out_file = dir.join("golden.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(script);
    let out = Command::new(&py)
        .arg(&script)
        .args(["golden", out_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap())
}

pub(crate) fn tensor(v: &Golden) -> (Vec<usize>, Vec<f32>) {
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
}

/// A golden's `{name: tensor}` state dict as a `torch.save` file.
pub(crate) fn write_state_dict(sd: &Golden, file: &Path) {
    let items = sd
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
    torch_file::write(file, &PyValue::OrderedDict(items)).unwrap();
}

/// The golden's PyTorch state dict written as a `torch.save` file, then read by the
/// checkpoint importer (`shape`: the config, or `None` to read it from the tensors).
fn import_golden(
    g: &Golden,
    dir: &Path,
    format: CheckpointFormat,
    shape: Option<&EncoderConfig>,
) -> (
    EncoderConfig,
    skelflow_stages::learn::encoders::Encoder,
    Tensor<5>,
) {
    let file = dir.join("golden.pt");
    write_state_dict(&g["state_dict"], &file);
    let dev = Device::flex();
    let (found, enc) = checkpoint::import(&file, format, Stream::Joint, shape, &dev).unwrap();
    assert_eq!(found.prefix, "");
    let (xs, xv) = tensor(&g["x"]);
    let x = Tensor::<5>::from_data(
        TensorData::new(xv, [xs[0], xs[1], xs[2], xs[3], xs[4]]),
        &dev,
    );
    (found.config, enc.valid(), x)
}

fn close(g: &Golden, name: &str, got: Tensor<2>) {
    close_values(
        &g[name],
        got.into_data().try_into_vec::<f32>().unwrap(),
        name,
    );
}

/// `got` within 1e-4 relative (denominator at least 0.01) of the golden tensor `want`.
pub(crate) fn close_values(want: &Golden, got: Vec<f32>, name: &str) {
    let (_, want) = tensor(want);
    assert_eq!(got.len(), want.len(), "{name}");
    let err = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs() / b.abs().max(0.01))
        .fold(0f32, f32::max);
    println!("{name}: max relative error {err:.2e}");
    assert!(err <= 1e-4, "{name}: {err}");
}

/// The SCD configuration of `scd_reference.py`'s golden.
fn scd_shape(g: &Golden, dropout: f64) -> EncoderConfig {
    let c = &g["config"];
    let n = |k: &str| c[k].as_u64().unwrap() as usize;
    EncoderConfig {
        backbone: BackboneConfig::Scd(ScdConfig {
            frames: n("frames"),
            gcn_channels: n("c"),
            d_model: n("d_model"),
            heads: n("heads"),
            layers: n("layers"),
            proj_dim: n("num_class"),
            dropout,
        }),
        proj_dim: n("num_class"),
        mlp: true,
        ..Default::default()
    }
}

#[test]
fn scd_features_equal_pytorchs() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(g) = golden("scd_reference.py", tmp.path()) else {
        return;
    };
    let shape = scd_shape(&g, 0.1);
    let _rng = rng_lock();
    let (_, enc, x) = import_golden(&g, tmp.path(), CheckpointFormat::A2mc, Some(&shape));
    let f = enc.features(x.clone());
    let d = shape.feature_dim() / 2;
    close(&g, "vt", f.clone().narrow(1, 0, d));
    close(&g, "vs", f.narrow(1, d, d));
    // what A²MC's cross-domain contrast reads: instance, temporal, spatial
    let [zi, zt, zs]: [Tensor<2>; 3] = enc.embed_domains(x).try_into().expect("three domains");
    close(&g, "zi", zi);
    close(&g, "zt", zt);
    close(&g, "zs", zs);
}

/// A pretraining step's view of SCD: train mode (batch statistics, dropout off), two
/// forwards as A²MC's step makes them, and the gradients of a fixed linear loss w.r.t. the
/// input and every parameter, against PyTorch's (`scd_reference.py golden`, "train"). The
/// parameter gradients are read off one plain SGD step (no momentum, no decay) through the
/// checkpoint exporter, so they are compared under PyTorch's names and layouts.
#[test]
fn scd_trains_as_pytorchs_batch_statistics_and_gradients() {
    use burn::optim::{GradientsParams, SgdConfig};
    let tmp = tempfile::tempdir().unwrap();
    let Some(g) = golden("scd_reference.py", tmp.path()) else {
        return;
    };
    let t = &g["train"];
    let shape = scd_shape(&g, 0.0);
    let _rng = rng_lock();
    // imported on a plain device, then loaded into a trainable encoder as a pretraining
    // stage loads its initial weights
    let (_, imported, x) = import_golden(&g, tmp.path(), CheckpointFormat::A2mc, Some(&shape));
    let dev = Device::flex().autodiff();
    let enc = shape.init(&dev).load_record(imported.into_record());
    let (xs, xv) = tensor(&g["x"]);
    let x = Tensor::<5>::from_data(x.into_data(), &dev).require_grad();
    let weights = |name: &str| {
        let (s, v) = tensor(&t[name]);
        Tensor::<2>::from_data(TensorData::new(v, [s[0], s[1]]), &dev)
    };

    let f = enc.features(x.clone());
    let [zi, zt, zs]: [Tensor<2>; 3] = enc
        .embed_domains(x.clone())
        .try_into()
        .expect("three domains");
    let d = shape.feature_dim() / 2;
    close(t, "vt", f.clone().narrow(1, 0, d));
    close(t, "vs", f.clone().narrow(1, d, d));
    close(t, "zi", zi.clone());
    close(t, "zt", zt.clone());
    close(t, "zs", zs.clone());
    let loss = (f * weights("w_v")).sum()
        + (zi * weights("w_i")).sum()
        + (zt * weights("w_t")).sum()
        + (zs * weights("w_s")).sum();
    let grads = loss.backward();
    let gx = x.grad(&grads).expect("the loss depends on the input");
    // An absent body (zeros) is constant in time through the TCNs, so their max-pools meet
    // ties, and PyTorch and burn route a tie's gradient to different frames: there the
    // gradient is compared summed over time, everywhere else value by value.
    let got = gx.into_data().try_into_vec::<f32>().unwrap();
    let (_, want) = tensor(&t["grad_x"]);
    let (got, want) = (
        fold_absent_bodies(&xs, &xv, got),
        fold_absent_bodies(&xs, &xv, want),
    );
    assert!(got.len() < xv.len(), "the golden has an absent body");
    close_scaled(
        &serde_json::json!({"shape": [want.len()], "data": want}),
        got,
        "grad_x",
        0.0,
        1e-4,
    );

    // read through `valid()`: burn holds a forward's running-statistics update pending until
    // the next forward or `valid()`
    let before: BTreeMap<String, TorchTensor> = checkpoint::state_dict(&shape, &enc.valid())
        .into_iter()
        .collect();
    // the running means after the two forwards (burn's running variance uses the biased batch
    // variance where PyTorch's uses the unbiased one: a factor n/(n-1) on the update)
    for (bn, want) in t["running_mean"].as_object().unwrap() {
        let got = before[&format!("{bn}.running_mean")].values.as_f32();
        close_values(want, got, &format!("{bn}.running_mean"));
    }
    const LR: f64 = 1e4;
    let params = GradientsParams::from_grads(grads, &enc);
    let after: BTreeMap<String, TorchTensor> =
        checkpoint::state_dict(&shape, &SgdConfig::new().init().step(LR, enc, params))
            .into_iter()
            .collect();
    let want = t["grads"].as_object().unwrap();
    assert_eq!(want.len(), 416, "PyTorch's parameters");
    let largest = want
        .values()
        .flat_map(|g| tensor(g).1)
        .fold(0f32, |m, v| m.max(v.abs()));
    for (name, want) in want {
        let (b, a) = (before[name].values.as_f32(), after[name].values.as_f32());
        let scale = b.iter().chain(&a).fold(0f32, |m, v| m.max(v.abs()));
        let got: Vec<f32> = b.iter().zip(&a).map(|(b, a)| (b - a) / LR as f32).collect();
        let peak = tensor(want).1.iter().fold(0f32, |m, v| m.max(v.abs()));
        if peak < 1e-5 * largest {
            // a bias right before a batch norm: no gradient in exact arithmetic
            let got_peak = got.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(
                got_peak < 1e-5 * largest,
                "{name}: {got_peak} (PyTorch: {peak})"
            );
            continue;
        }
        // a weight's gradient sums N·T·V float32 products, in another order than PyTorch's;
        // the step of LR·g rounds to the ulp of the weights: that much slack per element
        close_scaled(want, got, name, 2.4e-7 * scale / LR as f32, 5e-3);
    }
}

/// Values of an (N, C, T, V, M) tensor `v`, where each body that is all zeros in `x` is
/// summed over time: its (C, V) sums, in place of its C·T·V values.
fn fold_absent_bodies(shape: &[usize], x: &[f32], v: Vec<f32>) -> Vec<f32> {
    let [n, c, t, j, m] = shape.try_into().expect("N C T V M");
    let at = |i: [usize; 5]| (((i[0] * c + i[1]) * t + i[2]) * j + i[3]) * m + i[4];
    let mut out = Vec::new();
    for s in 0..n {
        for b in 0..m {
            let cells = || {
                (0..c).flat_map(move |k| (0..t).flat_map(move |f| (0..j).map(move |q| (k, f, q))))
            };
            if cells().all(|(k, f, q)| x[at([s, k, f, q, b])] == 0.0) {
                for k in 0..c {
                    for q in 0..j {
                        out.push((0..t).map(|f| v[at([s, k, f, q, b])]).sum());
                    }
                }
            } else {
                out.extend(cells().map(|(k, f, q)| v[at([s, k, f, q, b])]));
            }
        }
    }
    out
}

/// `got` within `tol` of the golden `want`, relative to each value with a floor of 1 % of
/// the tensor's largest magnitude (gradients span orders of magnitude), plus `slack`.
fn close_scaled(want: &Golden, got: Vec<f32>, name: &str, slack: f32, tol: f32) {
    let (_, want) = tensor(want);
    assert_eq!(got.len(), want.len(), "{name}");
    let floor = 0.01 * want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let err = got
        .iter()
        .zip(&want)
        .map(|(a, b)| ((a - b).abs() - slack).max(0.0) / b.abs().max(floor).max(1e-12))
        .fold(0f32, f32::max);
    println!("{name}: max relative error {err:.2e}");
    assert!(err <= tol, "{name}: {err} > {tol}");
}

#[test]
fn dsta_counts_equal_pytorchs() {
    let _rng = rng_lock();
    let cfg = EncoderConfig::preset("transformer").unwrap();
    let enc = cfg.init(&Device::flex());
    let by_path = count_params_by_path(&enc);
    // PyTorch's counts of DSTA-Net's blocks (`dsta_reference.py counts`)
    let blocks = [
        47_897, 47_897, 197_849, 184_025, 778_841, 726_617, 726_617, 726_617,
    ];
    for (i, want) in blocks.iter().enumerate() {
        let got: usize = by_path
            .iter()
            .filter(|(p, _)| p.contains(&format!(".graph_layers.{i}.")))
            .map(|(_, c)| c.trainable)
            .sum();
        assert_eq!(got, *want, "block {i}");
    }
    let all = count_params(&enc);
    // backbone 3,436,744 + the MoCo MLP head 98,688; BN statistics 14,464
    assert_eq!(all.trainable, 3_535_432);
    assert_eq!(all.total - all.trainable, 14_464);
    let summary = skelflow_stages::learn::model_summary_str("transformer", None).unwrap();
    println!("{summary}");
    assert!(
        summary.contains("Backbone params: trainable 3,436,744"),
        "{summary}"
    );
}

#[test]
fn dsta_features_equal_pytorchs_with_the_shape_read_from_the_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(g) = golden("dsta_reference.py", tmp.path()) else {
        return;
    };
    let _rng = rng_lock();
    let (cfg, enc, x) = import_golden(&g, tmp.path(), CheckpointFormat::Auto, None);
    let BackboneConfig::Transformer(c) = &cfg.backbone else {
        panic!("read as {}", cfg.describe())
    };
    assert_eq!(c.blocks, vec![[8, 8, 4, 1], [8, 16, 4, 2], [16, 16, 4, 1]]);
    assert_eq!(c.frames, 12);
    let f = enc.features(x);
    close(&g, "backbone", f.clone());
    close(&g, "projection", enc.project(f));
}

#[test]
fn encoders_of_fixed_length_refuse_other_clip_lengths_before_running() {
    use skelflow_stages::StageKind;
    use skelflow_stages::kind::Upstream;
    use skelflow_stages::methods::pretrain::Pretrain;
    let import = Upstream {
        instance: "import".into(),
        kind: "ntu.import".into(),
        params: serde_json::json!({"variant": "frame50"}),
        inputs: vec![],
    };
    let check = |encoder: serde_json::Value, method: &str, method_params: serde_json::Value| {
        let params = Pretrain
            .check(&serde_json::json!({"method": method, "method_params": method_params, "encoder": encoder, "benchmark": "ntu60-xsub"}))
            .unwrap();
        Pretrain
            .check_inputs(&params, std::slice::from_ref(&import))
            .into_iter()
            .map(|e| format!("{e:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let scd = |frames: usize| serde_json::json!({"backbone": {"arch": "scd", "frames": frames, "gcn_channels": 8, "d_model": 32, "heads": 4}});
    // A²MC crop-resizes to 32 frames: an SCD built for 64 cannot take them
    let e = check(scd(64), "a2mc", serde_json::json!({"frames": 32}));
    assert!(
        e.contains("built for 64 frames") && e.contains("32 frames") && e.contains("frames: 32"),
        "{e}"
    );
    assert_eq!(
        check(scd(32), "a2mc", serde_json::json!({"frames": 32})),
        ""
    );
    // MoCo on frame50 clips: 50 frames, over DSTA-Net's 32
    let dsta = serde_json::json!({"backbone": {"arch": "transformer", "frames": 32}});
    let e = check(dsta, "moco", serde_json::json!({}));
    assert!(
        e.contains("cover 32 frames") && e.contains("`frame50` clips of `import`"),
        "{e}"
    );
}
