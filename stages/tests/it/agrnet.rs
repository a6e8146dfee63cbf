//! AgRNet (reconstructed): parameter counts, the normalised input, both branches, the
//! feature and the decoders' loss against `scripts/agrnet_reference.py` (our PyTorch
//! transcription of the same reconstruction), AAGA's sparsity, the three switches, the
//! `downsample` op and the body check.

use std::collections::BTreeMap;

use burn::module::{ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::Distribution;
use skelflow_stages::data::Stream;
use skelflow_stages::learn::augment::{Aug, Clip};
use skelflow_stages::learn::checkpoint::{self, CheckpointFormat};
use skelflow_stages::learn::encoders::agrnet::{active_queries, attention, frame_differences};
use skelflow_stages::learn::encoders::{
    AgrnetConfig, Backbone, BackboneConfig, Body, EncoderConfig, EncoderSpec, count_params,
    count_params_by_path,
};
use skelflow_stages::methods::agrnet::AgrnetModel;

use crate::learn_common::rng_lock;
use crate::learn_transformers::{Golden, close_values, golden, tensor, write_state_dict};

fn config(aaga: bool, adga: bool, pfm: bool) -> AgrnetConfig {
    AgrnetConfig {
        aaga,
        adga,
        pfm,
        body: Some(Body::First),
        ..Default::default()
    }
}

fn encoder(c: AgrnetConfig) -> EncoderConfig {
    EncoderConfig {
        backbone: BackboneConfig::Agrnet(c),
        proj_dim: 0,
        mlp: false,
        ..Default::default()
    }
}

fn part(
    by_path: &BTreeMap<String, skelflow_stages::learn::encoders::ParamCount>,
    p: &str,
) -> usize {
    by_path
        .iter()
        .filter(|(path, _)| path.starts_with(&format!(".backbone.Agrnet.{p}.")))
        .map(|(_, c)| c.trainable)
        .sum()
}

/// Trainable parameters at main.py's scale, as `agrnet_reference.py counts` gives them for
/// the same modules: each Informer branch (token conv 512·c_in·3, PFM's the same, 3 layers
/// of 4·(512² + 512) + 2·(512² + 512) + 4·512, two distilling convs 512²·3 + 512 with BN
/// 2·512, the final norm 2·512) and each BiRNN (3 layers × 2 directions of
/// in·1024 + 1024² + 2·1024).
#[test]
fn agrnet_parameter_counts_equal_pytorchs() {
    let _rng = rng_lock();
    let dev = Device::flex();
    for ((aaga, adga, pfm), want) in [
        (
            (true, true, true),
            [6_541_312, 6_464_512, 15_740_928, 44_487_680],
        ),
        (
            (false, false, false),
            [4_850_176, 4_811_776, 15_740_928, 41_143_808],
        ),
    ] {
        let enc = encoder(config(aaga, adga, pfm)).init(&dev);
        let by_path = count_params_by_path(&enc);
        assert_eq!(part(&by_path, "xyz"), want[0], "xyz");
        assert_eq!(part(&by_path, "t"), want[1], "t");
        assert_eq!(part(&by_path, "xyz_rnn"), want[2], "xyz_rnn");
        assert_eq!(part(&by_path, "t_rnn"), want[2], "t_rnn");
        assert_eq!(count_params(&enc).trainable, want[3]);
    }
    // by formula: the xyz branch with everything on
    let d = 512;
    let layer = 4 * (d * d + d) + 2 * (d * d + d) + 4 * d;
    let xyz = 2 * d * 75 * 3 + 3 * layer + 2 * (d * d * 3 + d + 2 * d) + 2 * d;
    assert_eq!(xyz, 6_541_312);
    let summary = skelflow_stages::learn::model_summary_str("agrnet", None).unwrap();
    println!("{summary}");
    assert!(
        summary.contains("Total params: trainable 44,487,680"),
        "{summary}"
    );
    assert!(summary.contains("xyz_rnn"), "{summary}");
}

#[test]
fn each_switch_removes_its_module() {
    let _rng = rng_lock();
    let dev = Device::flex();
    let paths = |c: AgrnetConfig| -> Vec<String> {
        count_params_by_path(&encoder(c).init(&dev))
            .into_keys()
            .collect()
    };
    let all = paths(config(true, true, true));
    assert!(all.iter().any(|p| p.contains(".distil.")));
    assert!(all.iter().any(|p| p.contains(".motion.")));
    let no_adga = paths(config(true, false, true));
    assert!(
        !no_adga.iter().any(|p| p.contains(".distil.")),
        "{no_adga:?}"
    );
    assert!(no_adga.iter().any(|p| p.contains(".motion.")));
    let no_pfm = paths(config(true, true, false));
    assert!(!no_pfm.iter().any(|p| p.contains(".motion.")), "{no_pfm:?}");
    assert!(no_pfm.iter().any(|p| p.contains(".distil.")));
    // AAGA has no parameters: off, every layer attends with all its queries
    let on = encoder(config(true, true, true)).init(&dev);
    let off = encoder(config(false, true, true)).init(&dev);
    let factors = |e: &skelflow_stages::learn::encoders::Encoder| match &e.backbone {
        Backbone::Agrnet(m) => m.xyz.layers.iter().map(|l| l.factor).collect::<Vec<_>>(),
        _ => unreachable!(),
    };
    assert_eq!(factors(&on), vec![5, 5, 5]);
    assert_eq!(factors(&off), vec![0, 0, 0]);
    // ADGA halves the sequence at each of the two layer boundaries; without it, none
    assert_eq!(config(true, true, true).out_len(50), 13);
    assert_eq!(config(true, true, true).out_len(75), 19);
    assert_eq!(config(true, false, true).out_len(50), 50);
}

/// Rows of (N, H, L, dh) that equal the mean of V over the sequence, per (n, h).
fn mean_rows(out: &[f32], v: &[f32], [n, h, l, dh]: [usize; 4]) -> Vec<usize> {
    let mut counts = Vec::new();
    for b in 0..n * h {
        let base = b * l * dh;
        let mean: Vec<f32> = (0..dh)
            .map(|j| (0..l).map(|i| v[base + i * dh + j]).sum::<f32>() / l as f32)
            .collect();
        counts.push(
            (0..l)
                .filter(|i| (0..dh).all(|j| (out[base + i * dh + j] - mean[j]).abs() < 1e-5))
                .count(),
        );
    }
    counts
}

#[test]
fn aaga_keeps_factor_ln_l_active_queries() {
    let _rng = rng_lock();
    let dev = Device::flex();
    assert_eq!(active_queries(5, 50), 20);
    assert_eq!(active_queries(5, 75), 25);
    assert_eq!(active_queries(5, 13), 13);
    assert_eq!(active_queries(2, 12), 6);
    let shape = [2, 3, 50, 8];
    let r = || Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &dev);
    let (q, k, v) = (r(), r(), r());
    let values = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
    let vv = values(v.clone());
    for (factor, lazy) in [(5, 30), (3, 38), (1, 46), (13, 0)] {
        let u = active_queries(factor, 50);
        let out = values(attention(q.clone(), k.clone(), v.clone(), Some(u)));
        assert_eq!(
            mean_rows(&out, &vv, shape),
            vec![lazy; 6],
            "factor {factor}"
        );
    }
    // the active rows are full attention's
    let sparse = values(attention(q.clone(), k.clone(), v.clone(), Some(20)));
    let full = values(attention(q, k, v, None));
    let same = sparse
        .iter()
        .zip(&full)
        .filter(|(a, b)| (*a - *b).abs() < 1e-6)
        .count();
    assert_eq!(same, 6 * 20 * 8);
}

#[test]
fn downsample_takes_every_kth_valid_frame_from_the_first() {
    let (t, valid) = (300, 107);
    let mut clip = Clip::zeros(3, t, 25, 2);
    for c in 0..3 {
        for f in 0..valid {
            let at = (c * t + f) * 50;
            clip.data[at..at + 50].fill(f as f32 + 1.0);
        }
    }
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let frame = |c: &Clip, f: usize| c.data[f * 50];
    // stride ⌊107 / 25⌋ = 4: frames 0, 4, …, 96
    let out = Aug::Downsample { frames: 25 }.apply(clip.clone(), valid, &mut rng);
    assert_eq!(out.t, 25);
    assert_eq!(
        (0..25).map(|i| frame(&out, i)).collect::<Vec<_>>(),
        (0..25).map(|i| (4 * i + 1) as f32).collect::<Vec<_>>()
    );
    // fewer valid frames than kept: every frame, zeros after the valid ones
    let out = Aug::Downsample { frames: 150 }.apply(clip, valid, &mut rng);
    assert_eq!(frame(&out, 106), 107.0);
    assert_eq!(frame(&out, 107), 0.0);
    assert!(Aug::Downsample { frames: 0 }.check().is_err());
}

#[test]
fn an_agrnet_encoder_without_a_body_is_refused() {
    let mut c = config(true, true, true);
    c.body = None;
    let errors = EncoderSpec::Config(encoder(c)).errors("encoder");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let text = errors[0].to_string();
    assert!(text.contains("AgRNet reads one body"), "{text}");
    assert!(text.contains("body: first"), "{text}");
    assert!(
        EncoderSpec::Config(encoder(config(true, true, true)))
            .errors("encoder")
            .is_empty()
    );
}

/// Sets the parameters of a module whose dotted path names a tensor of the golden's state
/// dict: PyTorch's (out, in) `Linear` weights transposed.
struct Load<'a> {
    path: Vec<String>,
    tensors: &'a serde_json::Map<String, Golden>,
    loaded: usize,
}

impl ModuleMapper for Load<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let path = self.path.join(".");
        let Some(v) = self.tensors.get(&path) else {
            return param;
        };
        self.loaded += 1;
        let (shape, data) = tensor(v);
        param.map(|t| {
            let want = t.dims();
            let data = if D == 2 && shape == [want[1], want[0]] {
                (0..want[0] * want[1])
                    .map(|i| data[(i % want[1]) * want[0] + i / want[1]])
                    .collect()
            } else {
                assert_eq!(shape, want.to_vec(), "{path}");
                data
            };
            Tensor::<D>::from_data(TensorData::new(data, want), &t.device())
        })
    }
}

#[test]
fn agrnet_features_and_loss_equal_pytorchs() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(g) = golden("agrnet_reference.py", tmp.path()) else {
        return;
    };
    let _rng = rng_lock();
    let dev = Device::flex();
    let c = &g["config"];
    let n = |k: &str| c[k].as_u64().unwrap() as usize;
    let (xs, xv) = tensor(&g["x"]);
    let x = Tensor::<5>::from_data(
        TensorData::new(xv, [xs[0], xs[1], xs[2], xs[3], xs[4]]),
        &dev,
    );
    for v in g["variants"].as_array().unwrap() {
        let flag = |k: &str| v[k].as_bool().unwrap();
        let name = format!(
            "aaga {} adga {} pfm {}",
            flag("aaga"),
            flag("adga"),
            flag("pfm")
        );
        let shape = encoder(AgrnetConfig {
            frames: n("frames"),
            d_model: n("d_model"),
            heads: n("heads"),
            d_ff: n("d_ff"),
            layers: n("layers"),
            factor: n("factor"),
            rnn_hidden: n("rnn_hidden"),
            rnn_layers: n("rnn_layers"),
            attenuation: c["attenuation"].as_f64().unwrap(),
            ..config(flag("aaga"), flag("adga"), flag("pfm"))
        });
        // the encoder through the checkpoint importer (`format: agrnet`)
        let file = tmp.path().join("agrnet.pt");
        write_state_dict(&v["state_dict"], &file);
        let (found, enc) = checkpoint::import(
            &file,
            CheckpointFormat::Agrnet,
            Stream::Joint,
            Some(&shape),
            &dev,
        )
        .unwrap();
        assert_eq!(found.config, shape, "{name}");
        // the decoders by name
        let model = AgrnetModel::new(enc, &dev).unwrap();
        let mut load = Load {
            path: Vec::new(),
            tensors: v["decoder_state_dict"].as_object().unwrap(),
            loaded: 0,
        };
        let model = model.map(&mut load);
        assert_eq!(load.loaded, 12, "{name}");
        let Backbone::Agrnet(m) = &model.encoder.backbone else {
            unreachable!()
        };
        let vals = |t: Tensor<3>| t.into_data().try_to_vec::<f32>().unwrap();
        let p = m.pass(x.clone(), &mut |_, _| {});
        close_values(&v["xn"], vals(p.xn.clone()), &format!("{name}: xn"));
        let xn = p.xn;
        let diff = frame_differences(xn.clone(), p.mask);
        close_values(
            &v["xyz_out"],
            vals(m.xyz.forward(xn.clone(), diff.clone())),
            &format!("{name}: xyz"),
        );
        close_values(
            &v["t_out"],
            vals(m.t.forward(xn.swap_dims(1, 2), diff.swap_dims(1, 2))),
            &format!("{name}: t"),
        );
        let f = model
            .encoder
            .features(x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        close_values(&v["feature"], f, &format!("{name}: feature"));
        let loss = model.loss(x.clone()).into_scalar::<f32>();
        let want = v["loss"].as_f64().unwrap() as f32;
        println!("{name}: loss {loss} vs {want}");
        assert!(
            (loss - want).abs() <= 1e-4 * want.abs(),
            "{name}: loss {loss} vs {want}"
        );
    }
    // AAGA alone on the golden's Q, K, V
    let a = &g["attention"];
    let t4 = |k: &str| {
        let (s, d) = tensor(&a[k]);
        Tensor::<4>::from_data(TensorData::new(d, [s[0], s[1], s[2], s[3]]), &dev)
    };
    let u = a["u"].as_u64().unwrap() as usize;
    assert_eq!(
        u,
        active_queries(a["factor"].as_u64().unwrap() as usize, 50)
    );
    let out = |active| {
        attention(t4("q"), t4("k"), t4("v"), active)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    close_values(&a["sparse"], out(Some(u)), "attention: AAGA");
    close_values(&a["full"], out(None), "attention: full");
}

#[test]
fn agrnet_training_lowers_the_prediction_loss() {
    use burn::optim::{AdamConfig, GradientsParams};
    use skelflow_stages::methods::agrnet::clip_global_norm;
    let _rng = rng_lock();
    let dev = Device::flex().autodiff();
    dev.seed(7);
    let cfg = encoder(AgrnetConfig {
        frames: 10,
        d_model: 16,
        heads: 2,
        d_ff: 16,
        rnn_hidden: 8,
        rnn_layers: 1,
        ..config(true, true, true)
    });
    let mut model = AgrnetModel::new(cfg.init(&dev), &dev).unwrap();
    let x = Tensor::<5>::random([8, 3, 10, 25, 2], Distribution::Normal(0.0, 1.0), &dev).cumsum(2);
    let mut optim = AdamConfig::new().init();
    let first = model.loss(x.clone()).into_scalar::<f32>();
    for _ in 0..30 {
        let loss = model.loss(x.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let grads = clip_global_norm(grads, &model, 25.0);
        model = optim.step(3e-3, model, grads);
    }
    let last = model.loss(x).into_scalar::<f32>();
    println!("loss {first} -> {last}");
    assert!(last < 0.7 * first, "loss {first} -> {last}");
}
