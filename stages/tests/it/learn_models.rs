//! Encoders: parameter counts against the reference implementations, output shapes, the
//! model summary, and a finite-difference gradient check of a graph-conv block.

use burn::prelude::*;
use skelflow_stages::learn::encoders::*;
use skelflow_stages::learn::summary::{backbone_params, model_summary};

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
    let per_frame = EncoderConfig {
        backbone: BackboneConfig::Bigru(BiGruConfig {
            hidden: 8,
            layers: 1,
            drive: GruDrive::PerFrame,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(per_frame.init(&dev).features(x.clone()).dims(), [2, 16]);
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
