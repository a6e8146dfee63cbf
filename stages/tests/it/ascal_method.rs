//! AS-CAL: epoch 1 only fills the queue, the queue's uniform initialisation, the
//! unnormalised feature, its augmentations by hand, and the frame-selection check.

use burn::prelude::*;
use skelflow_stages::Upstream;
use skelflow_stages::data::Stream;
use skelflow_stages::learn::augment::{Aug, Clip, ViewSpec};
use skelflow_stages::learn::data::{Batch, make_batch};
use skelflow_stages::learn::encoders::{BackboneConfig, EncoderConfig, LstmConfig};
use skelflow_stages::learn::method::{Method, MethodSetup, StepAt};
use skelflow_stages::learn::optim::{OptimParams, ScheduleKind};
use skelflow_stages::methods::ascal::{Ascal, AscalParams, ascal_queue};

use crate::learn_common::rng_lock;
use rand::SeedableRng;

fn encoder() -> EncoderConfig {
    EncoderConfig {
        backbone: BackboneConfig::Lstm(LstmConfig {
            hidden: 16,
            ..Default::default()
        }),
        proj_dim: 0,
        mlp: false,
        ..Default::default()
    }
}

fn at(epoch: usize) -> StepAt {
    StepAt {
        epoch,
        epochs: 3,
        step: 0,
        steps: 1,
        lr: 0.05,
    }
}

/// The features of the query and key encoders on a fixed input.
fn features(m: &Ascal, x: &Tensor<5>) -> (Vec<f32>, Vec<f32>) {
    let v = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().unwrap();
    (v(m.q.embed(x.clone())), v(m.k.embed(x.clone())))
}

#[test]
fn ascal_epoch_one_fills_the_queue_and_changes_no_weights() {
    let _rng = rng_lock();
    let dev = Device::flex().autodiff();
    dev.seed(3);
    let enc = encoder();
    let optim = OptimParams {
        lr: 0.05,
        schedule: ScheduleKind::Constant,
        ..Default::default()
    };
    let setup = MethodSetup {
        encoder: &enc,
        optim: &optim,
        device: &dev,
        seed: 3,
        stream: Stream::Joint,
        epochs: 3,
        frames: 40,
        classes: 4,
        anchor: None,
        init: None,
    };
    let params = AscalParams {
        queue: 24,
        frames: 30,
        ..Default::default()
    };
    let mut m = Ascal::new(params.clone(), &setup);
    let src = crate::learn_common::mem_source(16, 40, 5);
    let views: Vec<_> = (skelflow_stages::methods::ascal::ENTRY.default_views)(
        &serde_json::to_value(&params).unwrap(),
    )
    .iter()
    .map(|v| v.resolve().unwrap())
    .collect();
    let batch = |b: usize| -> Batch {
        let ids: Vec<usize> = (b * 8..b * 8 + 8).collect();
        make_batch(&src, &ids, &views, Stream::Joint, 1, 1, &dev)
    };
    // the views are 30 frames: SelectFrames truncates the 40
    assert_eq!(batch(0).views[0].dims(), [8, 3, 30, 25, 2]);
    let probe = batch(1).views[0].clone();
    let before = features(&m, &probe);
    let queue0 = m
        .queue
        .keys
        .clone()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();

    let out = m.step(&batch(0), &at(1)).unwrap();
    assert!(out.loss.is_finite());
    assert_eq!(out.terms, vec![("filling".to_string(), 1.0)]);
    assert_eq!(
        features(&m, &probe),
        before,
        "epoch 1 moves no weight (q or k)"
    );
    assert_eq!(m.queue.ptr, 8, "epoch 1 enqueues the keys");
    let queue1 = m
        .queue
        .keys
        .clone()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    assert_ne!(&queue1[..8 * 16], &queue0[..8 * 16]);
    assert_eq!(&queue1[8 * 16..], &queue0[8 * 16..]);

    m.step(&batch(0), &at(2)).unwrap();
    let after = features(&m, &probe);
    assert_ne!(after.0, before.0, "epoch 2 trains the query encoder");
    assert_ne!(after.1, before.1, "and moves the key encoder");
    assert_eq!(m.queue.ptr, 16);
}

#[test]
fn ascal_queue_is_uniform_within_its_bound_and_the_feature_is_not_normalised() {
    let dev = Device::flex();
    dev.seed(4);
    let q = ascal_queue(2000, 256, &dev);
    let v = q.keys.into_data().try_into_vec::<f32>().unwrap();
    let b = 1.0 / (256.0f32 / 3.0).sqrt();
    assert!(v.iter().all(|x| x.abs() <= b), "U(±{b})");
    let (lo, hi) = v
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
    assert!(lo < -0.99 * b && hi > 0.99 * b, "{lo} {hi}");
    let mean = v.iter().sum::<f32>() / v.len() as f32;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len() as f32;
    assert!(
        mean.abs() < 0.002 && (var - b * b / 3.0).abs() < 0.02 * b * b,
        "{mean} {var}"
    );

    // the feature AS-CAL compares is the mean LSTM output itself, not unit length
    let enc = encoder().init(&dev);
    let x = Tensor::<5>::random(
        [4, 3, 20, 25, 2],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let e = enc.embed(x.clone());
    assert_eq!(e.dims(), [4, 16]);
    let same = (e.clone() - enc.features(x))
        .abs()
        .max()
        .into_scalar::<f32>();
    assert_eq!(same, 0.0, "no projection head");
    let norms = e
        .powf_scalar(2.0)
        .sum_dim(1)
        .sqrt()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    assert!(norms.iter().all(|n| (n - 1.0).abs() > 1e-3), "{norms:?}");
}

#[test]
fn ascal_augmentations_by_hand() {
    let (t, v, m) = (4, 25, 2);
    let data: Vec<f32> = (0..3 * t * v * m)
        .map(|i| (i as f32 * 0.37).sin())
        .collect();
    let clip = Clip::new(3, t, v, m, data.clone());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let idx =
        |c: usize, t_: usize, v_: usize, m_: usize, tt: usize| ((c * tt + t_) * v + v_) * m + m_;
    // Subtract(J2): every joint minus joint index 1 of its frame and person
    let sub = Aug::Subtract { joint: 1 }.apply(clip.clone(), t, &mut rng);
    for c in 0..3 {
        for f in 0..t {
            for j in 0..v {
                for p in 0..m {
                    let want = data[idx(c, f, j, p, t)] - data[idx(c, f, 1, p, t)];
                    assert!((sub.data[idx(c, f, j, p, t)] - want).abs() < 1e-6);
                }
            }
        }
    }
    // time reversal (AS-CAL's "RandomHorizontalFlip") at p 1: frame f ← frame T−1−f
    let rev = Aug::TimeFlip { p: 1.0 }.apply(clip.clone(), t, &mut rng);
    for c in 0..3 {
        for f in 0..t {
            for j in 0..v {
                assert_eq!(
                    rev.data[idx(c, f, j, 0, t)],
                    data[idx(c, t - 1 - f, j, 0, t)]
                );
            }
        }
    }
    // SelectFrames truncates; past the clip's end it pads zeros
    let first = Aug::SelectFrames { frames: 2 }.apply(clip.clone(), t, &mut rng);
    assert_eq!(first.t, 2);
    assert_eq!(first.data[idx(2, 1, 24, 1, 2)], data[idx(2, 1, 24, 1, t)]);
    let padded = Aug::SelectFrames { frames: 6 }.apply(clip, t, &mut rng);
    assert_eq!(padded.data[idx(0, 3, 0, 0, 6)], data[idx(0, 3, 0, 0, t)]);
    assert!((4..6).all(|f| padded.data[idx(1, f, 7, 1, 6)] == 0.0));
    // an op's settings are checked when the view is read
    let bad = ViewSpec::List(vec![Aug::Subtract { joint: 25 }])
        .resolve()
        .unwrap_err();
    assert!(bad.contains("joint 25"), "{bad}");
}

#[test]
fn ascal_refuses_a_frame_selection_longer_than_the_imported_clips() {
    let kind = skelflow_stages::registry().get("pretrain").unwrap();
    let params = kind
        .check(&serde_json::json!({
            "method": "ascal",
            "encoder": {"backbone": {"arch": "lstm", "hidden": 16}, "proj_dim": 0, "mlp": false},
            "benchmark": "ntu60-xsub",
        }))
        .unwrap();
    let import = |variant: &str| Upstream {
        instance: "import".into(),
        kind: "ntu.import".into(),
        params: serde_json::json!({"variant": variant}),
        inputs: vec![],
    };
    assert!(
        kind.check_inputs(&params, &[import("stgcn_raw")])
            .is_empty()
    );
    let e: Vec<String> = kind
        .check_inputs(&params, &[import("frame50")])
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert!(
        e.iter()
            .any(|e| e.contains("method_params.frames") && e.contains("150") && e.contains("50")),
        "{e:?}"
    );
}
