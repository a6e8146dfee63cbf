//! Weight initialisation: the reference schemes (AimCLR's N(0, 0.02) for ST-GCN, CMD's
//! xavier for the BiGRU, AS-CAL's defaults for the LSTM) measured on freshly built encoders.

use burn::module::{ModuleVisitor, Param};
use burn::prelude::*;
use skelflow_stages::learn::encoders::*;

/// Every float parameter of a module: dotted path and values.
struct Collect {
    path: Vec<String>,
    params: Vec<(String, Vec<f32>)>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        let v = p.val().into_data().try_into_vec::<f32>().unwrap();
        self.params.push((self.path.join("."), v));
    }
}

use crate::learn_common::rng_lock;

fn params(cfg: &EncoderConfig, seed: u64) -> Vec<(String, Vec<f32>)> {
    let dev = Device::flex();
    dev.seed(seed);
    let mut c = Collect {
        path: Vec::new(),
        params: Vec::new(),
    };
    cfg.init(&dev).visit(&mut c);
    c.params
}

fn get<'a>(ps: &'a [(String, Vec<f32>)], path: &str) -> &'a [f32] {
    &ps.iter()
        .find(|(p, _)| p == path)
        .unwrap_or_else(|| panic!("no parameter {path}"))
        .1
}

/// (mean, std, max |x|)
fn stats(v: &[f32]) -> (f64, f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    let max = v.iter().fold(0f64, |m, &x| m.max((x as f64).abs()));
    (mean, var.sqrt(), max)
}

fn leaf(path: &str) -> &str {
    path.rsplit('.').next().unwrap()
}

#[test]
fn stgcn_reference_init_is_aimclr_weights_init() {
    let _rng = rng_lock();
    let cfg = EncoderConfig::preset("stgcn").unwrap();
    assert_eq!(cfg.init, InitScheme::Reference, "reference is the default");
    let ps = params(&cfg, 3);
    let (mut weights, mut gammas) = (Vec::new(), Vec::new());
    let (mut zero_biases, mut ones) = (0usize, 0usize);
    for (path, v) in &ps {
        match leaf(path) {
            _ if path.contains("edge_importance") => {
                assert!(v.iter().all(|&x| x == 1.0), "{path}: edge importance is 1");
                ones += v.len();
            }
            "running_mean" | "running_var" => {}
            "bias" | "gcn_bias" | "beta" => {
                assert!(
                    v.iter().all(|&x| x == 0.0),
                    "{path}: bias must be exactly 0"
                );
                zero_biases += v.len();
            }
            "gamma" => gammas.extend_from_slice(v),
            "weight" | "gcn_weight" => weights.extend_from_slice(v),
            _ => panic!("{path}: a parameter the reference init does not cover"),
        }
    }
    // the largest layer: block 10's temporal conv, 256·256·9 = 589,824 weights
    let big = get(&ps, "backbone.Stgcn.blocks.9.tcn_conv.weight");
    let (m, s, _) = stats(big);
    println!(
        "block 10 tcn weight ({} values): mean {m:.2e} std {s:.5}",
        big.len()
    );
    assert_eq!(big.len(), 589_824);
    assert!(m.abs() < 2e-4 && (s - 0.02).abs() < 2e-4, "N(0, 0.02)");
    let (m, s, _) = stats(&weights);
    println!(
        "all Conv/Linear weights ({} values): mean {m:.2e} std {s:.5}",
        weights.len()
    );
    assert!(m.abs() < 2e-4 && (s - 0.02).abs() < 2e-4);
    let (m, s, _) = stats(&gammas);
    println!(
        "BN weights ({} values): mean {m:.4} std {s:.4}",
        gammas.len()
    );
    assert!(
        (m - 1.0).abs() < 0.003 && (s - 0.02).abs() < 0.003,
        "N(1, 0.02)"
    );
    let (m, s, _) = stats(get(&ps, "projector.hidden.weight"));
    assert!(m.abs() < 1e-3 && (s - 0.02).abs() < 1e-3, "the MLP too");
    println!("zero biases: {zero_biases}; edge importance ones: {ones}");
    assert_eq!(ones, 10 * 3 * 25 * 25);
    // everything counted: weights + BN + biases + importance = 920,068 trainable
    assert_eq!(
        weights.len() + gammas.len() + zero_biases + ones,
        count_params(&cfg.init(&Device::flex())).trainable
    );
    // the draws come from the device RNG: same seed, same weights; another, others
    assert_eq!(
        get(&params(&cfg, 3), "projector.out.weight"),
        get(&ps, "projector.out.weight")
    );
    assert_ne!(
        get(&params(&cfg, 4), "projector.out.weight"),
        get(&ps, "projector.out.weight")
    );
}

#[test]
fn stgcn_default_init_keeps_pytorch_defaults() {
    let _rng = rng_lock();
    let cfg = EncoderConfig {
        init: InitScheme::Default,
        ..EncoderConfig::preset("stgcn").unwrap()
    };
    let ps = params(&cfg, 3);
    // Conv2d(256, 256, (9, 1)): U(±1/√(256·9)) for weight and bias
    let bound = 1.0 / (256.0f64 * 9.0).sqrt();
    for p in [
        "backbone.Stgcn.blocks.9.tcn_conv.weight",
        "backbone.Stgcn.blocks.9.tcn_conv.bias",
    ] {
        let (_, s, max) = stats(get(&ps, p));
        assert!(max <= bound && max > 0.9 * bound, "{p}: max {max}");
        assert!(
            (s - bound / 3f64.sqrt()).abs() < 0.1 * bound,
            "{p}: std {s}"
        );
    }
    let g = get(&ps, "backbone.Stgcn.data_bn.gamma");
    assert!(g.iter().all(|&x| x == 1.0));
    let parsed =
        EncoderConfig::parse("backbone: {arch: stgcn}\ninit: default\nproj_dim: 128\nmlp: true\n")
            .unwrap();
    assert_eq!(parsed.init, InitScheme::Default);
    let err = EncoderConfig::parse("init: kaiming\n").unwrap_err();
    assert!(err.contains("init"), "{err}");
}

#[test]
fn bigru_reference_init_is_cmd_xavier() {
    let _rng = rng_lock();
    let (h, proj) = (64usize, 32usize);
    let cfg = EncoderConfig {
        backbone: BackboneConfig::Bigru(BiGruConfig {
            hidden: h,
            layers: 2,
            ..Default::default()
        }),
        proj_dim: proj,
        mlp: true,
        ..Default::default()
    };
    let ps = params(&cfg, 5);
    let check_uniform = |path: &str, bound: f64| {
        let (m, s, max) = stats(get(&ps, path));
        println!("{path}: bound {bound:.4} max {max:.4} std {s:.4} mean {m:.1e}");
        assert!(max <= bound, "{path}: {max} beyond {bound}");
        assert!(max > 0.95 * bound, "{path}: {max} far inside {bound}");
        assert!(
            (s - bound / 3f64.sqrt()).abs() < 0.05 * bound,
            "{path}: std {s}"
        );
    };
    let xavier = |fan_in: usize, fan_out: usize| (6.0 / (fan_in + fan_out) as f64).sqrt();
    let default = |fan_in: usize| 1.0 / (fan_in as f64).sqrt();
    for dir in ["forward_cells", "backward_cells"] {
        // PyTorch weight_ih_l0 (3H, 150), weight_hh (3H, H), weight_ih_l1 (3H, 2H)
        check_uniform(&format!("backbone.Bigru.{dir}.0.w_ih"), xavier(150, 3 * h));
        check_uniform(&format!("backbone.Bigru.{dir}.0.w_hh"), xavier(h, 3 * h));
        check_uniform(
            &format!("backbone.Bigru.{dir}.1.w_ih"),
            xavier(2 * h, 3 * h),
        );
        check_uniform(&format!("backbone.Bigru.{dir}.1.w_hh"), xavier(h, 3 * h));
        // biases keep PyTorch's U(±1/√H)
        for b in ["b_ih", "b_hh"] {
            check_uniform(&format!("backbone.Bigru.{dir}.1.{b}"), default(h));
        }
    }
    // `fc` (the projection's output) existed when weights_init_gru ran: xavier; the
    // MLP's hidden Linear was added afterwards: PyTorch's default
    check_uniform("projector.out.weight", xavier(2 * h, proj));
    check_uniform("projector.hidden.weight", default(2 * h));
    check_uniform("projector.hidden.bias", default(2 * h));
    let (_, _, max) = stats(get(&ps, "projector.out.bias"));
    assert!(
        max > 0.0 && max <= default(2 * h),
        "fc bias keeps its default"
    );
    let g = get(&ps, "backbone.Bigru.input_bn.gamma");
    assert!(g.iter().all(|&x| x == 1.0), "1-D: untouched");
}

#[test]
fn lstm_reference_init_is_ascal() {
    let _rng = rng_lock();
    let cfg = EncoderConfig::preset("lstm").unwrap();
    let ps = params(&cfg, 6);
    let bound = 1.0 / 16.0; // U(±1/√256), nn.LSTM's default, kept by AS-CAL
    for p in ["w_ih", "w_hh", "b_ih", "b_hh"] {
        let (_, s, max) = stats(get(&ps, &format!("backbone.Lstm.cells.0.{p}")));
        assert!(max <= bound && max > 0.95 * bound, "{p}: max {max}");
        assert!(
            (s - bound / 3f64.sqrt()).abs() < 0.05 * bound,
            "{p}: std {s}"
        );
    }
    // with AS-CAL's `Head` (head=True): Linear weights N(0, 0.01), biases default
    let with_head = EncoderConfig {
        proj_dim: 128,
        mlp: true,
        ..cfg
    };
    let ps = params(&with_head, 6);
    for l in ["hidden", "out"] {
        let (m, s, _) = stats(get(&ps, &format!("projector.{l}.weight")));
        assert!(m.abs() < 1e-3 && (s - 0.01).abs() < 5e-4, "{l}: std {s}");
        let (_, _, max) = stats(get(&ps, &format!("projector.{l}.bias")));
        assert!(
            max > 0.0 && max <= 1.0 / 16.0,
            "{l}: bias keeps its default"
        );
    }
}

/// `extract` with `bn_statistics: train`: an untrained ST-GCN's features vanish through its
/// batch norms at their initial statistics (mean 0, variance 1: the identity, ten blocks
/// of shrinking convolutions); re-estimated on the train part, they are of the data's
/// scale. The weights stay as they were, and a default extraction keeps its key.
#[test]
fn recomputed_bn_statistics_give_an_untrained_encoder_features_of_the_datas_scale() {
    use crate::learn_common::*;
    use serde_json::json;
    use skelflow_stages::StageKind;
    use skelflow_stages::learn::artifact::read_features_arrow;
    use skelflow_stages::learn::extract::Extract;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    write_dataset(&data, 96, 32, 20, 4);
    let random = random_encoder(
        root,
        json!({"backbone": {"arch": "stgcn", "hidden": 8, "feature_dim": 32}, "proj_dim": 16, "mlp": false}),
    );
    let weights = std::fs::read(random.join("encoder.bpk")).unwrap();
    let rms = |bn: &str| {
        let dir = run(
            &Extract,
            &context(
                &Extract,
                root,
                &format!("extract-{bn}"),
                json!({"benchmark": "synthetic", "bn_statistics": bn}),
                &[("encoder.init", &random), ("shell", &data)],
            ),
        );
        let about: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("features.json")).unwrap())
                .unwrap();
        assert_eq!(about["bn_statistics"], bn);
        let (_, train, test) = read_features_arrow(&dir.join("features.arrow")).unwrap();
        let v: Vec<f32> = train.data.into_iter().chain(test.data).collect();
        assert!(v.iter().all(|x| x.is_finite()));
        (v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    let (kept, recomputed) = (rms("encoder"), rms("train"));
    println!("feature RMS: initial statistics {kept:.3e}, recomputed {recomputed:.3e}");
    assert!(kept < 1e-4, "{kept}");
    assert!((0.05..20.0).contains(&recomputed), "{recomputed}");
    assert_eq!(std::fs::read(random.join("encoder.bpk")).unwrap(), weights);

    let canon = Extract.check(&json!({"benchmark": "synthetic"})).unwrap();
    assert!(canon.get("bn_statistics").is_none(), "{canon}");
    let canon = Extract
        .check(&json!({"benchmark": "synthetic", "bn_statistics": "train"}))
        .unwrap();
    assert_eq!(canon["bn_statistics"], "train");
}
