//! Encoders: parameter counts against the reference implementations, output shapes, the
//! model summary, a finite-difference gradient check of a graph-conv block, the BiGRU's two
//! drives against PyTorch (`scripts/gru_reference.py`), and which keys the BiGRU's default
//! drive moves.

use burn::prelude::*;
use skelflow_stages::learn::encoders::*;
use skelflow_stages::learn::summary::{backbone_params, model_summary};
use skelflow_stages::methods::actclr_blocks;

/// The backend under test (`SKELFLOW_TEST_BACKEND=tch-cpu` in scripts/test-tch).
fn dev() -> Device {
    let b = std::env::var("SKELFLOW_TEST_BACKEND")
        .ok()
        .and_then(|b| skelflow_stages::Backend::parse(&b))
        .unwrap_or(skelflow_stages::Backend::Flex);
    skelflow_stages::learn::device::device(b, false, 2).unwrap()
}

fn stgcn() -> EncoderConfig {
    EncoderConfig::preset("stgcn").unwrap()
}

#[test]
fn stgcn16_parameter_counts_equal_the_reference() {
    let _rng = crate::learn_common::rng_lock();
    let dev = dev();
    // backbone alone (ML-FACTS §2.1): 821,380
    assert_eq!(backbone_params(&stgcn()).trainable, 821_380);
    // pre-training encoder_q with the 256→256→128 MLP: 920,068
    assert_eq!(count_params(&stgcn().init(&dev)).trainable, 920_068);
    // with a 60-class linear head instead: 836,800
    let with_fc = EncoderConfig {
        proj_dim: 60,
        mlp: false,
        ..stgcn()
    };
    assert_eq!(count_params(&with_fc.init(&dev)).trainable, 836_800);
    // burn's total also counts BN running mean/var (2 × channels of every BN)
    let c = count_params(&stgcn().init(&dev));
    assert!(c.total > c.trainable);
}

#[test]
fn recurrent_parameter_counts_equal_the_reference() {
    let _rng = crate::learn_common::rng_lock();
    let dev = dev();
    // the GRU alone: 44,998,656 (no input BN, no head)
    let gru = BiGruConfig {
        input_bn: false,
        ..Default::default()
    }
    .init(&dev);
    assert_eq!(count_params(&gru).trainable, 44_998_656);
    // + input BN 300 + fc 2048→60 = 45,121,896; pre-train encoder with MLP = 49,457,580
    let bigru = EncoderConfig::preset("bigru").unwrap();
    assert_eq!(count_params(&bigru.init(&dev)).trainable, 49_457_580);
    let with_fc = EncoderConfig {
        proj_dim: 60,
        mlp: false,
        ..bigru
    };
    assert_eq!(count_params(&with_fc.init(&dev)).trainable, 45_121_896);
    // AS-CAL LSTM: 417,792
    let lstm = EncoderConfig::preset("lstm").unwrap();
    assert_eq!(count_params(&lstm.init(&dev)).trainable, 417_792);
}

#[test]
fn output_shapes() {
    let _rng = crate::learn_common::rng_lock();
    let dev = dev();
    let x = Tensor::<5>::random(
        [2, 3, 16, 25, 2],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let enc = stgcn().init(&dev);
    assert_eq!(enc.features(x.clone()).dims(), [2, 256]);
    assert_eq!(enc.embed(x.clone()).dims(), [2, 128]);
    let small = EncoderConfig {
        backbone: BackboneConfig::Bigru(BiGruConfig {
            hidden: 8,
            layers: 2,
            ..Default::default()
        }),
        ..Default::default()
    };
    let g = small.init(&dev);
    assert_eq!(g.features(x.clone()).dims(), [2, 16]);
    assert_eq!(g.embed(x.clone()).dims(), [2, 128]);
    // the default drive is per_frame; the other one pools differently
    let bidirectional = EncoderConfig {
        backbone: BackboneConfig::Bigru(BiGruConfig {
            hidden: 8,
            layers: 1,
            drive: GruDrive::Bidirectional,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(bidirectional.init(&dev).features(x.clone()).dims(), [2, 16]);
    let lstm = EncoderConfig {
        backbone: BackboneConfig::Lstm(LstmConfig {
            hidden: 8,
            ..Default::default()
        }),
        proj_dim: 0,
        mlp: false,
        ..Default::default()
    };
    assert_eq!(lstm.init(&dev).embed(x).dims(), [2, 8]);
}

#[test]
fn summary_lists_layers_and_reference_totals() {
    let s = model_summary(&stgcn(), None);
    println!("{s}");
    assert!(s.contains("blocks.9"), "{s}");
    assert!(
        s.contains("[2, 256, 13, 25]"),
        "final map of ST-GCN-16 at T=50:\n{s}"
    );
    assert!(s.contains("Backbone params: trainable 821,380"), "{s}");
    assert!(s.contains("Total params: trainable 920,068"), "{s}");
    let l = model_summary(&EncoderConfig::preset("lstm").unwrap(), None);
    assert!(l.contains("Total params: trainable 417,792"), "{l}");
    let g = EncoderConfig::parse("{arch: bigru, hidden: 8, layers: 1}").unwrap();
    let g = model_summary(&g, None);
    assert!(
        g.contains("BiGRU (1 layers × 8 hidden, drive: per_frame)"),
        "{g}"
    );
}

#[test]
fn spatial_graph_equals_the_golden_array() {
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/golden/stgcn_ntu_spatial_A_3x25x25.npy");
    if !golden.is_file() {
        println!(
            "SKIPPED: {} is absent (licensed fixtures live outside the repository)",
            golden.display()
        );
        return;
    }
    let bytes = std::fs::read(&golden).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(npy.shape(), &[3, 25, 25]);
    let g: Vec<f64> = match npy.dtype() {
        npyz::DType::Plain(t) if t.size_field() == 4 => npy
            .into_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        _ => npy.into_vec::<f64>().unwrap(),
    };
    let a = skelflow_stages::learn::graph::ntu_spatial_a();
    let max = g
        .iter()
        .zip(&a)
        .map(|(x, y)| (x - *y as f64).abs())
        .fold(0.0, f64::max);
    assert!(max < 1e-6, "max |A - golden| = {max}");
}

/// Central finite differences of a scalar function of one input, at a few coordinates.
fn check_grad(name: &str, analytic: &[f32], base: &[f32], f: &dyn Fn(&[f32]) -> f64) {
    let eps = 1e-2f32;
    let step = (base.len() / 7).max(1);
    for i in (0..base.len()).step_by(step) {
        let mut plus = base.to_vec();
        plus[i] += eps;
        let mut minus = base.to_vec();
        minus[i] -= eps;
        let fd = (f(&plus) - f(&minus)) / (2.0 * eps as f64);
        let an = analytic[i] as f64;
        let tol = 2e-3 + 2e-2 * fd.abs().max(an.abs());
        assert!(
            (fd - an).abs() <= tol,
            "{name}[{i}]: finite difference {fd} vs autodiff {an}"
        );
    }
}

#[test]
fn graph_conv_gradients_match_finite_differences() {
    let _rng = crate::learn_common::rng_lock();
    use skelflow_stages::learn::encoders::stgcn::graph_conv;
    let ad = dev().autodiff();
    let plain = dev();
    let (b, cin, cout, t, v, k) = (2, 3, 4, 5, 25, 3);
    let x0: Vec<f32> = (0..b * cin * t * v)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let w0: Vec<f32> = (0..k * cout * cin)
        .map(|i| ((i * 53 % 97) as f32 / 48.0) - 1.0)
        .collect();
    let b0: Vec<f32> = (0..k * cout).map(|i| (i as f32 * 0.1) - 0.5).collect();
    let a0: Vec<f32> = skelflow_stages::learn::graph::ntu_spatial_a();
    let r0: Vec<f32> = (0..b * cout * t * v)
        .map(|i| ((i * 29 % 89) as f32 / 44.0) - 1.0)
        .collect();
    // loss = Σ tanh(graph_conv(..)) · R: smooth, every path exercised
    let loss = |dev: &Device, x: &[f32], w: &[f32], a: &[f32], grad: bool| {
        let mk4 =
            |d: &[f32], s: [usize; 4]| Tensor::<4>::from_data(TensorData::new(d.to_vec(), s), dev);
        let mut xt = mk4(x, [b, cin, t, v]);
        let mut wt = Tensor::<2>::from_data(TensorData::new(w.to_vec(), [k * cout, cin]), dev);
        let mut at = Tensor::<3>::from_data(TensorData::new(a.to_vec(), [k, v, v]), dev);
        if grad {
            xt = xt.require_grad();
            wt = wt.require_grad();
            at = at.require_grad();
        }
        let bt = Tensor::<1>::from_data(TensorData::new(b0.clone(), [k * cout]), dev);
        let out =
            graph_conv(xt.clone(), wt.clone(), bt, at.clone()).tanh() * mk4(&r0, [b, cout, t, v]);
        (out.sum(), xt, wt, at)
    };
    let (l, xt, wt, at) = loss(&ad, &x0, &w0, &a0, true);
    let g = l.backward();
    let gx = xt
        .grad(&g)
        .unwrap()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let gw = wt
        .grad(&g)
        .unwrap()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let ga = at
        .grad(&g)
        .unwrap()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let eval = |x: &[f32], w: &[f32], a: &[f32]| {
        loss(&plain, x, w, a, false).0.into_scalar::<f32>() as f64
    };
    check_grad("dL/dx", &gx, &x0, &|x| eval(x, &w0, &a0));
    check_grad("dL/dW", &gw, &w0, &|w| eval(&x0, w, &a0));
    check_grad("dL/dA", &ga, &a0, &|a| eval(&x0, &w0, a));
}

#[test]
fn temporal_conv_as_unfold_equals_conv2d() {
    let _rng = crate::learn_common::rng_lock();
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use skelflow_stages::learn::encoders::stgcn::temporal_conv_unfold;
    let dev = dev();
    for stride in [1, 2] {
        let conv = Conv2dConfig::new([4, 6], [9, 1])
            .with_stride([stride, 1])
            .with_padding(PaddingConfig2d::Explicit(4, 0, 4, 0))
            .init(&dev);
        let x = Tensor::<4>::random(
            [2, 4, 13, 25],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &dev,
        );
        let a = conv.forward(x.clone());
        let b = temporal_conv_unfold(
            x,
            conv.weight.val(),
            conv.bias.as_ref().map(|b| b.val()),
            stride,
        );
        assert_eq!(a.dims(), b.dims());
        let diff = (a - b).abs().max().into_scalar::<f32>();
        assert!(diff < 1e-4, "stride {stride}: max diff {diff}");
    }
}

fn bigru_golden() -> serde_json::Value {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/goldens/bigru_drive.json");
    serde_json::from_str(
        &std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/gru_reference.py)", p.display())),
    )
    .unwrap()
}

/// skelflow's BiGRU with the golden's PyTorch weights (`gru.weight_ih_l{k}[_reverse]`,
/// (3H, in), gates r, z, n) and input-BN statistics.
fn bigru_from_golden(g: &serde_json::Value, drive: GruDrive, dev: &Device) -> BiGruEncoder {
    use crate::actclr_golden::tensor;
    use burn::module::{Param, RunningState};
    let hidden = g["hidden"].as_u64().unwrap() as usize;
    let layers = g["layers"].as_u64().unwrap() as usize;
    let w = &g["weights"];
    let mut enc = BiGruConfig {
        hidden,
        layers,
        drive,
        ..Default::default()
    }
    .init(dev);
    for l in 0..layers {
        for (cells, sfx) in [
            (&mut enc.forward_cells, ""),
            (&mut enc.backward_cells, "_reverse"),
        ] {
            let c = &mut cells[l];
            let m = |k: &str| {
                Param::from_tensor(tensor::<2>(&w[format!("{k}_l{l}{sfx}")], dev).transpose())
            };
            let b = |k: &str| Param::from_tensor(tensor::<1>(&w[format!("{k}_l{l}{sfx}")], dev));
            (c.w_ih, c.w_hh, c.b_ih, c.b_hh) =
                (m("weight_ih"), m("weight_hh"), b("bias_ih"), b("bias_hh"));
        }
    }
    let bn = enc.input_bn.as_mut().expect("CMD's input BN");
    bn.gamma = Param::from_tensor(tensor::<1>(&w["bn.weight"], dev));
    bn.beta = Param::from_tensor(tensor::<1>(&w["bn.bias"], dev));
    bn.running_mean = RunningState::new(tensor::<1>(&w["bn.running_mean"], dev));
    bn.running_var = RunningState::new(tensor::<1>(&w["bn.running_var"], dev));
    enc
}

/// Max |a - b| / max(|b|, 0.01) (a feature near 0 is judged on |a - b| ≤ 1e-6), with
/// the max |a - b|.
fn max_rel_error(got: &[f32], want: &[f32]) -> (f32, f32) {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).fold((0f32, 0f32), |(r, a), (x, y)| {
        let d = (x - y).abs();
        (r.max(d / y.abs().max(0.01)), a.max(d))
    })
}

#[test]
fn bigru_drives_equal_pytorch() {
    use crate::actclr_golden::{data, tensor};
    let _rng = crate::learn_common::rng_lock();
    let dev = dev();
    let g = bigru_golden();
    let x = tensor::<5>(&g["x"], &dev);
    for tag in ["h8_l1", "h16_l2"] {
        for (drive, key, other) in [
            (GruDrive::PerFrame, "per_frame", "bidirectional"),
            (GruDrive::Bidirectional, "bidirectional", "per_frame"),
        ] {
            let mut enc = bigru_from_golden(&g[tag], drive, &dev);
            let got = actclr_blocks::values(enc.forward(x.clone(), &mut no_tap()));
            let (rel, abs) = max_rel_error(&got, &data(&g[tag][key]));
            println!("{tag} {key}: max relative error {rel:.2e}, max absolute {abs:.2e}");
            assert!(rel <= 1e-4, "{tag} {key}: relative error {rel} > 1e-4");
            // the golden tells the drives and the frame orders apart
            let (rel, _) = max_rel_error(&got, &data(&g[tag][other]));
            assert!(rel > 0.1, "{tag}: {key} also matches {other} ({rel})");
            enc.vcm = false;
            let cvm = actclr_blocks::values(enc.forward(x.clone(), &mut no_tap()));
            let (rel, _) = max_rel_error(&cvm, &data(&g[tag][key]));
            assert!(
                rel > 0.1,
                "{tag} {key}: frame order c*50+v*2+m matches too ({rel})"
            );
        }
    }
}

/// The canonical `encoder` of a `pretrain` with `encoder` (what enters its key), and the
/// key of those canonical params with nothing upstream.
fn pretrain_encoder_key(encoder: serde_json::Value) -> (String, String) {
    use skelflow_stages::StageKind;
    use skelflow_stages::methods::pretrain::Pretrain;
    let canon = Pretrain
        .check(&serde_json::json!({"encoder": encoder}))
        .unwrap();
    let comps = skelflow_cache::KeyComponents {
        parts: Pretrain.part_versions(&canon),
        ..skelflow_cache::KeyComponents::new("pretrain", Pretrain.version(), canon.clone())
    };
    (canon["encoder"].to_string(), comps.key().to_string())
}

#[test]
fn only_a_bigru_without_a_drive_changes_its_key() {
    use serde_json::json;
    // computed on main before per_frame became the default drive, re-pinned at pretrain
    // version 8, moco version 2 (the keys also move with pretrain's other defaults, its
    // methods' versions and the key schema)
    const STGCN: &str = r#"{"backbone":{"arch":"stgcn","dropout":0.5,"edge_importance":true,"feature_dim":256,"hidden":16,"in_channels":3,"temporal_kernel":9},"init":"reference","mlp":true,"proj_dim":128}"#;
    const STGCN_KEY: &str = "c7d2cea867e255688a3769fe513f6d9322e3ac6c08b158d0f92d610e3db1fc5b";
    const LSTM: &str = r#"{"backbone":{"arch":"lstm","frame_order":"cvm","hidden":256,"input_size":150,"layers":1},"init":"reference","mlp":false,"proj_dim":0}"#;
    const BIGRU_BEFORE: &str = r#"{"backbone":{"arch":"bigru","drive":"bidirectional","frame_order":"vcm","hidden":64,"input_bn":true,"input_size":150,"layers":1},"init":"reference","mlp":true,"proj_dim":128}"#;
    const BIGRU_KEY_BEFORE: &str =
        "a591849b4e304dfba999ef852295e1a87ba471148900321c6fd39c7ae7eef56c";
    let stgcn = pretrain_encoder_key(json!("stgcn"));
    let spelled = pretrain_encoder_key(json!({"backbone": {"arch": "stgcn"}}));
    let lstm = pretrain_encoder_key(json!("lstm"));
    let small = json!({"arch": "bigru", "hidden": 64, "layers": 1});
    let mut bidir = small.clone();
    bidir["drive"] = json!("bidirectional");
    let explicit = pretrain_encoder_key(json!({"backbone": bidir}));
    let default = pretrain_encoder_key(json!({"backbone": small}));
    println!("stgcn {stgcn:?}\nlstm {lstm:?}\nbidirectional {explicit:?}\ndefault {default:?}");
    assert_eq!(stgcn, (STGCN.to_string(), STGCN_KEY.to_string()));
    assert_eq!(spelled, stgcn, "the preset and its config share a key");
    assert_eq!(lstm.0, LSTM);
    // `drive: bidirectional` keeps the key a default BiGRU had
    assert_eq!(
        explicit,
        (BIGRU_BEFORE.to_string(), BIGRU_KEY_BEFORE.to_string())
    );
    // a BiGRU that names no drive is the reference's now
    assert_eq!(
        default.0,
        BIGRU_BEFORE.replace("\"bidirectional\"", "\"per_frame\"")
    );
    assert_ne!(default.1, explicit.1);
    let preset = pretrain_encoder_key(json!("bigru"));
    assert!(preset.0.contains("\"drive\":\"per_frame\""), "{}", preset.0);
}
