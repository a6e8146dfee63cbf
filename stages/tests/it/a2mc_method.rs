//! The A2MC method: each switch removes exactly its component (counted where the code path
//! runs), B1 is MoCo v2, the canonical params, and a checkpoint continues identically.

use burn::prelude::*;
use skelflow_stages::data::Stream;
use skelflow_stages::learn::data::{Batch, MemSource, make_batch};
use skelflow_stages::learn::encoders::{
    BackboneConfig, BiGruConfig, EncoderConfig, ScdConfig, StgcnConfig,
};
use skelflow_stages::learn::method::{Method, MethodSetup, StepAt};
use skelflow_stages::learn::optim::{OptimParams, ScheduleKind};
use skelflow_stages::methods::PretrainView;
use skelflow_stages::methods::a2mc::{self, A2mc, A2mcCounters, A2mcParams, Contrast, Negatives};
use skelflow_stages::methods::blocks::MemoryBank;
use skelflow_stages::methods::moco::{Moco, MocoParams};

use crate::learn_common::{rng_lock, running_mean};
use crate::learn_transformers::{close_values, golden, tensor};

fn encoder() -> EncoderConfig {
    EncoderConfig {
        backbone: BackboneConfig::Bigru(BiGruConfig {
            hidden: 16,
            layers: 1,
            ..Default::default()
        }),
        proj_dim: 8,
        mlp: true,
        ..Default::default()
    }
}

fn optim() -> OptimParams {
    OptimParams {
        lr: 0.05,
        schedule: ScheduleKind::Constant,
        ..Default::default()
    }
}

/// Canonical params from a JSON mapping (what `pretrain` hands the method).
fn params(v: serde_json::Value) -> A2mcParams {
    let canon = a2mc::check(&v).unwrap_or_else(|e| panic!("{v}: {e:?}"));
    serde_json::from_value(canon).unwrap()
}

/// Canonical params of a 16-frame, K = 16 run with `switches` set.
fn small(switches: &serde_json::Value) -> A2mcParams {
    let mut base = serde_json::json!({"queue": 16, "frames": 16});
    for (k, v) in switches.as_object().unwrap() {
        base[k] = v.clone();
    }
    params(base)
}

fn source(n: usize, t: usize) -> MemSource {
    crate::learn_common::mem_source(n, t, 9)
}

/// Batch `b` of 8 clips with the method's default views.
fn batch(p: &A2mcParams, src: &MemSource, b: usize, dev: &Device) -> Batch {
    let views: Vec<_> = a2mc::views_for(p)
        .iter()
        .map(|v| v.resolve().unwrap())
        .collect();
    let ids: Vec<usize> = (b * 8..b * 8 + 8).collect();
    make_batch(src, &ids, &views, Stream::Joint, 1, 1, dev)
}

/// What `pretrain` would hand a method here (seed 1, joint stream, no anchor, no init).
fn setup<'a>(enc: &'a EncoderConfig, optim: &'a OptimParams, dev: &'a Device) -> MethodSetup<'a> {
    MethodSetup {
        encoder: enc,
        optim,
        device: dev,
        seed: 1,
        stream: Stream::Joint,
        epochs: 1,
        frames: 24,
        classes: 4,
        anchor: None,
        init: None,
    }
}

/// Step `s` of a one-epoch run at lr 0.05.
fn at(s: usize) -> StepAt {
    StepAt {
        epoch: 1,
        epochs: 1,
        step: s,
        steps: s + 1,
        lr: 0.05,
    }
}

fn build(p: A2mcParams, dev: &Device) -> A2mc {
    A2mc::new(p, &setup(&encoder(), &optim(), dev)).unwrap()
}

/// Run `steps` steps; return the counters and the loss-term names of the last step.
fn run(switches: serde_json::Value, steps: usize) -> (A2mcCounters, Vec<String>, Vec<f32>) {
    let dev = Device::flex().autodiff();
    dev.seed(1);
    let p = small(&switches);
    let src = source(32, 24);
    let mut m = build(p.clone(), &dev);
    let mut names = Vec::new();
    let mut losses = Vec::new();
    for s in 0..steps {
        let out = m.step(&batch(&p, &src, s % 4, &dev), &at(0)).unwrap();
        assert!(out.loss.is_finite(), "{switches}: loss {}", out.loss);
        names = out.terms.iter().map(|t| t.0.clone()).collect();
        losses.push(out.loss);
    }
    (m.counters.clone(), names, losses)
}

fn has(names: &[String], n: &str) -> bool {
    names.iter().any(|x| x == n)
}

#[test]
fn a2mc_each_switch_removes_its_component() {
    let _rng = rng_lock();
    // 4 steps, batch 8, K = 16: the bank is filled by steps 1–2 and stepped by 3–4
    let steps = 4;
    let c = |j: serde_json::Value| run(j, steps);

    // B1 = A1: no attack, no appearance augmentation, no bank, no mixing, no KL — MoCo
    let (b1, names, _) =
        c(serde_json::json!({"att": false, "aug": false, "pnm": false, "mc_loss": false}));
    assert_eq!(
        b1,
        A2mcCounters {
            steps: 4,
            enqueues: 4,
            ..Default::default()
        }
    );
    assert_eq!(names, ["pos_sim", "neg_sim", "loss_basic"]);

    // B2: PNM alone — the bank is filled, then stepped; one mixed bank per λ (4) per step
    let (b2, _, _) =
        c(serde_json::json!({"att": false, "aug": false, "pnm": true, "mc_loss": false}));
    assert_eq!((b2.attacks, b2.appearance_augs, b2.kl_terms), (0, 0, 0));
    assert_eq!((b2.bank_fills, b2.bank_updates, b2.enqueues), (2, 2, 0));
    assert_eq!(b2.mixed_banks, 4 * 4);

    // B3: Att-Aug, FIFO queue, one-hot InfoNCE for all three views
    let (b3, names, _) =
        c(serde_json::json!({"att": true, "aug": true, "pnm": false, "mc_loss": false}));
    assert_eq!((b3.attacks, b3.appearance_augs), (4, 8));
    assert_eq!(
        (b3.mixed_banks, b3.bank_fills, b3.bank_updates, b3.kl_terms),
        (0, 0, 0, 0)
    );
    assert!(has(&names, "loss_weak") && has(&names, "loss_strong") && has(&names, "attack_loss"));

    // B4: + MC loss — the strong view's one-hot term becomes the KL
    let (b4, names, _) =
        c(serde_json::json!({"att": true, "aug": true, "pnm": false, "mc_loss": true}));
    assert_eq!((b4.kl_terms, b4.mixed_banks), (4, 0));
    assert!(has(&names, "kl_strong") && !has(&names, "loss_strong"));

    // full A²MC: everything; mixed banks for 3 views × 4 λ per step
    let (mc, names, _) = c(serde_json::json!({}));
    assert_eq!((mc.attacks, mc.appearance_augs, mc.kl_terms), (4, 8, 4));
    assert_eq!(
        (mc.bank_fills, mc.bank_updates, mc.mixed_banks),
        (2, 2, 4 * 3 * 4)
    );
    assert!(has(&names, "kl_strong") && has(&names, "loss_weak") && has(&names, "attack_linf"));

    // A2: Aug only — no attack, the rest as the full model
    let (a2, _, _) = c(serde_json::json!({"att": false}));
    assert_eq!((a2.attacks, a2.appearance_augs, a2.kl_terms), (0, 8, 4));
    // A3: Att only — one attacked view, no appearance augmentation, so no strong view/KL
    let (a3, names, _) = c(serde_json::json!({"aug": false}));
    assert_eq!((a3.attacks, a3.appearance_augs, a3.kl_terms), (4, 0, 0));
    assert_eq!(a3.mixed_banks, 4 * 2 * 4);
    assert!(has(&names, "loss_attacked") && !has(&names, "loss_weak"));

    // the public code: SMART attack, the attacked view only, linear mixing loss, one bank
    // step per logit set
    let (code, names, _) = c(serde_json::json!({"variant": "code"}));
    assert_eq!(
        (
            code.attacks,
            code.mix_losses,
            code.mixed_banks,
            code.kl_terms
        ),
        (4, 4, 0, 0)
    );
    assert_eq!((code.bank_fills, code.bank_updates), (2, 2));
    assert!(has(&names, "loss_mix") && has(&names, "loss_attacked"));
    let (code_b1, _, _) = c(serde_json::json!({"variant": "code", "att": false, "pnm": false}));
    assert_eq!(
        (
            code_b1.attacks,
            code_b1.mix_losses,
            code_b1.bank_updates,
            code_b1.enqueues
        ),
        (0, 0, 0, 4)
    );
}

#[test]
fn a2mc_b1_is_moco_v2() {
    let _rng = rng_lock();
    let dev = Device::flex().autodiff();
    let (enc, opt) = (encoder(), optim());
    let setup = setup(&enc, &opt, &dev);
    let p = params(
        serde_json::json!({"att": false, "aug": false, "pnm": false, "mc_loss": false, "queue": 16, "frames": 16}),
    );
    assert_eq!(
        a2mc::views_for(&p).len(),
        2,
        "B1 asks for no attack source view"
    );
    dev.seed(7);
    let mut moco = Moco::new(
        MocoParams {
            queue: 16,
            momentum: p.momentum,
            temperature: p.temperature,
        },
        &setup,
    );
    let mut b1 = A2mc::new(p.clone(), &setup).unwrap();
    // the same starting point: encoders and queue
    b1.q = moco.q.clone();
    b1.k = moco.k.clone();
    b1.negatives = vec![Negatives::Queue(moco.queue.clone())];
    let src = source(32, 24);
    for s in 0..3 {
        let b = batch(&p, &src, s, &dev);
        let (lm, la) = (
            moco.step(&b, &at(0)).unwrap().loss,
            b1.step(&b, &at(0)).unwrap().loss,
        );
        assert!(
            (lm - la).abs() < 1e-5 * lm.abs(),
            "step {s}: MoCo {lm} vs B1 {la}"
        );
    }
}

#[test]
fn a2mc_a_checkpoint_continues_identically() {
    let _rng = rng_lock();
    let dev = Device::flex().autodiff();
    dev.seed(3);
    let p = params(serde_json::json!({"queue": 16, "frames": 16}));
    let src = source(32, 24);
    let mut m = build(p.clone(), &dev);
    for s in 0..3 {
        m.step(&batch(&p, &src, s, &dev), &at(0)).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    m.save(dir.path()).unwrap();
    let next = batch(&p, &src, 3, &dev);
    let want = m.step(&next, &at(0)).unwrap();
    dev.seed(99); // a different initialisation, overwritten by the checkpoint
    let mut r = build(p.clone(), &dev);
    r.load(dir.path()).unwrap();
    assert_eq!(r.counters.steps, 3);
    let got = r.step(&next, &at(0)).unwrap();
    assert_eq!(got.loss, want.loss);
    assert_eq!(got.terms, want.terms);
}

#[test]
fn a2mc_canonical_params_fill_variant_defaults_and_normalise_inert_switches() {
    let get = |v: serde_json::Value| a2mc::check(&v).unwrap();
    let paper = get(serde_json::json!({}));
    assert_eq!(paper["variant"], "paper");
    assert_eq!(paper["attack_lr"], 0.1);
    assert_eq!(paper["attack_eps"], 0.5);
    assert_eq!(paper["mc_loss"], true);
    assert_eq!(paper["mix"], serde_json::json!([0.1, 0.2, 0.3, 0.4]));
    assert_eq!(
        (
            paper["bank_lr"].as_f64(),
            paper["bank_temperature"].as_f64()
        ),
        (Some(3.0), Some(0.03))
    );
    let code = get(serde_json::json!({"variant": "code"}));
    assert_eq!(code["attack_lr"], 1e-4);
    assert!(code["attack_eps"].is_null(), "the code has no ε clip");
    assert_eq!(code["mc_loss"], false, "the code computes no MC loss");
    // an explicit null means no clip; the canonical form is a fixed point
    let no_clip = get(serde_json::json!({"attack_eps": null}));
    assert!(no_clip["attack_eps"].is_null());
    assert_eq!(get(no_clip.clone()), no_clip);
    assert_eq!(get(paper.clone()), paper);
    // A3 written with mc_loss on is the same computation as with it off (no strong view)
    assert_eq!(
        get(serde_json::json!({"aug": false, "mc_loss": true})),
        get(serde_json::json!({"aug": false, "mc_loss": false}))
    );
    // errors: unknown param, a crop to another length after the attack, bad λ
    let errs = a2mc::check(&serde_json::json!({
        "attack_lrr": 0.1,
    }))
    .unwrap_err();
    assert!(
        errs[0].to_string().contains("did you mean `attack_lr`"),
        "{errs:?}"
    );
    let errs = a2mc::check(&serde_json::json!({
        "frames": 64,
        "weak_aug": [{"op": "crop_resize", "frames": 32, "lo": 0.5, "hi": 1.0}],
        "mix": [0.2, 1.5],
    }))
    .unwrap_err();
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.starts_with("param `weak_aug`: a crop-resize here must keep")),
        "{text:?}"
    );
    assert!(
        text.iter().any(|t| t.starts_with("param `mix[1]`")),
        "{text:?}"
    );
}

#[test]
fn a2mc_the_full_model_runs_on_st_gcn_too() {
    let _rng = rng_lock();
    let dev = Device::flex().autodiff();
    dev.seed(5);
    let enc = EncoderConfig {
        backbone: BackboneConfig::Stgcn(StgcnConfig {
            hidden: 8,
            feature_dim: 32,
            ..Default::default()
        }),
        proj_dim: 8,
        mlp: true,
        ..Default::default()
    };
    let src = source(32, 24);
    for variant in ["paper", "code"] {
        let p = params(serde_json::json!({"variant": variant, "queue": 16, "frames": 16}));
        let mut m = A2mc::new(p.clone(), &setup(&enc, &optim(), &dev)).unwrap();
        for s in 0..3 {
            let out = m.step(&batch(&p, &src, s, &dev), &at(0)).unwrap();
            assert!(out.loss.is_finite(), "{variant}: {}", out.loss);
        }
        assert_eq!(m.counters.attacks, 3);
        assert_eq!(m.counters.bank_updates, 1);
    }
}

/// A small SCD-Net encoder (temporal, spatial and instance embeddings of 8), for 16 frames.
fn scd() -> EncoderConfig {
    EncoderConfig {
        backbone: BackboneConfig::Scd(ScdConfig {
            frames: 16,
            gcn_channels: 8,
            d_model: 16,
            heads: 2,
            layers: 1,
            proj_dim: 8,
            dropout: 0.0,
        }),
        proj_dim: 8,
        mlp: true,
        ..Default::default()
    }
}

/// Run `steps` steps of A²MC on the SCD encoder; return the method.
fn run_scd(switches: serde_json::Value, steps: usize, dev: &Device) -> A2mc {
    let p = small(&switches);
    let src = source(32, 24);
    let (enc, opt) = (scd(), optim());
    let mut m = A2mc::new(p.clone(), &setup(&enc, &opt, dev)).unwrap();
    for s in 0..steps {
        let out = m.step(&batch(&p, &src, s % 4, dev), &at(0)).unwrap();
        assert!(out.loss.is_finite(), "{switches}: loss {}", out.loss);
    }
    m
}

#[test]
fn a2mc_contrasts_scds_three_domains_across() {
    let _rng = rng_lock();
    let dev = Device::flex().autodiff();
    dev.seed(11);
    // 4 steps, batch 8, K = 16: each of the 3 banks is filled by steps 1–2, stepped by 3–4
    let code = run_scd(serde_json::json!({"variant": "code"}), 4, &dev);
    assert_eq!(code.sets.len(), 4);
    assert_eq!(
        code.negatives.len(),
        3,
        "banks: instance, temporal, spatial"
    );
    let c = &code.counters;
    // the code: 4 logit sets with a mixing term each; one bank step per set (W_i twice)
    assert_eq!(
        (c.mix_losses, c.bank_fills, c.bank_updates),
        (4 * 4, 3 * 2, 4 * 2)
    );

    // the paper: the same 4 sets for each of the 3 query views; one summed step per bank;
    // mixed banks per view, set and λ; the strong view's KL per set
    let paper = run_scd(serde_json::json!({}), 4, &dev);
    let c = &paper.counters;
    assert_eq!((c.bank_fills, c.bank_updates), (3 * 2, 3 * 2));
    assert_eq!((c.mixed_banks, c.kl_terms), (4 * 3 * 4 * 4, 4 * 4));

    // FIFO queues: one per domain, each enqueued every step
    let queues = run_scd(serde_json::json!({"pnm": false}), 2, &dev);
    assert_eq!(queues.counters.enqueues, 3 * 2);

    // `domains: instance` contrasts the instance projection only, as for any other encoder
    let instance = run_scd(
        serde_json::json!({"variant": "code", "domains": "instance"}),
        4,
        &dev,
    );
    assert_eq!((instance.sets.len(), instance.negatives.len()), (1, 1));
    let c = &instance.counters;
    assert_eq!((c.mix_losses, c.bank_fills, c.bank_updates), (4, 2, 2));
}

#[test]
fn a2mc_scd_checkpoint_keeps_every_domains_bank() {
    let _rng = rng_lock();
    let dev = Device::flex().autodiff();
    dev.seed(4);
    for switches in [serde_json::json!({}), serde_json::json!({"pnm": false})] {
        let p = small(&switches);
        let mut m = run_scd(switches.clone(), 3, &dev);
        let dir = tempfile::tempdir().unwrap();
        m.save(dir.path()).unwrap();
        let next = batch(&p, &source(32, 24), 3, &dev);
        let want = m.step(&next, &at(0)).unwrap();
        dev.seed(99);
        let (enc, opt) = (scd(), optim());
        let mut r = A2mc::new(p.clone(), &setup(&enc, &opt, &dev)).unwrap();
        r.load(dir.path()).unwrap();
        let got = r.step(&next, &at(0)).unwrap();
        assert_eq!(got.loss, want.loss, "{switches}");
    }
}

#[test]
fn a2mc_cross_domain_needs_scds_embeddings_of_one_size() {
    let check = |enc: &EncoderConfig, domains: Option<&str>| {
        let mut p = serde_json::json!({});
        if let Some(d) = domains {
            p["domains"] = d.into();
        }
        let view = PretrainView {
            benchmark: "ntu60-xsub",
            stream: Stream::Joint,
            encoder: enc,
        };
        (a2mc::ENTRY.check_inputs)(&a2mc::check(&p).unwrap(), &view, &[])
    };
    assert!(check(&scd(), None).is_empty());
    assert!(check(&scd(), Some("cross")).is_empty());
    assert!(
        check(&encoder(), None).is_empty(),
        "a BiGRU contrasts its one embedding"
    );
    let e = check(&encoder(), Some("cross"));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].message.contains("temporal and spatial embeddings"),
        "{e:?}"
    );
    assert_eq!(
        e[0].hint.as_deref(),
        Some("use an `scd` encoder, or `domains: instance`")
    );
    let mut wide = scd();
    wide.proj_dim = 16;
    let e = check(&wide, None);
    assert_eq!(e.len(), 1);
    assert!(
        e[0].message
            .contains("(16-d) with the temporal and spatial ones (8-d)"),
        "{e:?}"
    );
    assert!(check(&wide, Some("instance")).is_empty());
}

#[test]
fn a2mc_cross_domain_loss_and_banks_equal_pytorchs() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(g) = golden("a2mc_reference.py", tmp.path()) else {
        return;
    };
    let _rng = rng_lock();
    let dev = Device::flex().autodiff();
    let t = |name: &str| -> Tensor<2> {
        let (shape, data) = tensor(&g[name]);
        Tensor::from_data(TensorData::new(data, [shape[0], shape[1]]), &dev)
    };
    let k = g["config"]["k"].as_u64().unwrap() as usize;
    let p = params(serde_json::json!({"variant": "code", "queue": k, "frames": 16}));
    let (enc, opt) = (scd(), optim());
    let mut m = A2mc::new(p.clone(), &setup(&enc, &opt, &dev)).unwrap();
    let domains = ["i", "t", "s"];
    let queries: Vec<Tensor<2>> = domains
        .iter()
        .map(|d| t(&format!("q{d}")).require_grad())
        .collect();
    let keys: Vec<Tensor<2>> = domains.iter().map(|d| t(&format!("k{d}"))).collect();
    m.negatives = domains
        .iter()
        .map(|d| Negatives::Bank {
            bank: MemoryBank {
                w: t(&format!("w_{d}")),
                v: Tensor::zeros([8, k], &dev),
            },
            filled: k,
        })
        .collect();
    let rows: Vec<Tensor<2>> = m.negatives.iter().map(Negatives::rows).collect();
    let (ce, mix) = a2mc::code_loss(m.sets, &queries, &keys, &rows, &p);
    let mix = mix.expect("pnm: the mixing loss");
    let scalar = |x: &Tensor<1>| x.clone().into_scalar::<f32>();
    let rel = |got: f32, want: &str| {
        let want = g[want].as_f64().unwrap() as f32;
        ((got - want) / want).abs()
    };
    assert!(
        rel(scalar(&ce), "ce") < 1e-5,
        "ce {} vs {}",
        scalar(&ce),
        g["ce"]
    );
    assert!(
        rel(scalar(&mix), "mix") < 1e-5,
        "mix {} vs {}",
        scalar(&mix),
        g["mix"]
    );
    let grads = (ce + mix).backward();
    for (d, q) in domains.iter().zip(&queries) {
        let got = q
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        close_values(&g[format!("grad_q{d}")], got, &format!("grad q{d}"));
    }
    let contrasts: Vec<Contrast> = m
        .sets
        .iter()
        .map(|&(qd, kd)| Contrast {
            query: queries[qd].clone().detach(),
            key_domain: kd,
        })
        .collect();
    m.update_negatives(&keys, &contrasts);
    assert_eq!(m.counters.bank_updates, 4);
    for (d, n) in domains.iter().zip(&m.negatives) {
        let Negatives::Bank { bank, .. } = n else {
            panic!("a bank")
        };
        // the step divides by mem_t 0.03 and multiplies by lr 3: relative to the bank's scale
        for (name, got) in [("w", &bank.w), ("v", &bank.v)] {
            let (_, want) = tensor(&g[format!("{name}_{d}_after")]);
            let got = got.clone().into_data().try_to_vec::<f32>().unwrap();
            let scale = want.iter().fold(0f32, |m, x| m.max(x.abs()));
            let err = got
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
                / scale;
            println!("{name}_{d}: max error {err:.2e} of the largest entry {scale:.2}");
            assert!(err < 1e-5, "{name}_{d}: {err}");
        }
    }
}

/// The key encoder runs in training mode with BatchNorm buffers of its own, as PyTorch's
/// `encoder_k`: its forward moves its running statistics and leaves the query encoder's
/// (a burn `clone` would share them).
#[test]
fn moco_and_a2mc_key_encoders_keep_their_own_batchnorm_statistics() {
    use skelflow_stages::learn::checkpoint::state_dict;
    use skelflow_stages::learn::encoders::{Backbone, Encoder};
    let _rng = rng_lock();
    let dev = Device::flex().autodiff();
    let (enc, opt) = (encoder(), optim());
    let setup = setup(&enc, &opt, &dev);
    let stats = |e: &Encoder| match &e.backbone {
        Backbone::Bigru(g) => running_mean(g.input_bn.as_ref().expect("CMD's input batch norm")),
        _ => unreachable!(),
    };
    let moco = Moco::new(
        MocoParams {
            queue: 16,
            momentum: 0.999,
            temperature: 0.07,
        },
        &setup,
    );
    let a2mc = A2mc::new(small(&serde_json::json!({})), &setup).unwrap();
    let x = Tensor::<5>::random(
        [2, 3, 16, 25, 2],
        burn::tensor::Distribution::Normal(1.0, 1.0),
        &dev,
    );
    for (name, q, k) in [("moco", &moco.q, &moco.k), ("a2mc", &a2mc.q, &a2mc.k)] {
        // the key encoder starts as the query encoder, every parameter and buffer
        let (sq, sk) = (state_dict(&enc, q), state_dict(&enc, k));
        assert_eq!(sq.len(), sk.len());
        for ((nq, tq), (nk, tk)) in sq.iter().zip(&sk) {
            assert_eq!(nq, nk);
            assert_eq!(tq.values.as_f32(), tk.values.as_f32(), "{name}: {nq}");
        }
        let (q0, k0) = (stats(q), stats(k));
        let _ = k.embed(x.clone());
        assert_ne!(stats(k), k0, "{name}: the key encoder's statistics moved");
        assert_eq!(
            stats(q),
            q0,
            "{name}: the key encoder's forward left q's alone"
        );
    }
}
