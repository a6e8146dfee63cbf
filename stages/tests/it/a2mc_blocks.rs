//! A2MC's building blocks on small tensors: the attacks, the adversarial bank step, the
//! positive–negative mixing.

use burn::module::Module;
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use skelflow_stages::learn::encoders::{
    BackboneConfig, BiGruConfig, Encoder, EncoderConfig, GruDrive, InitScheme,
};
use skelflow_stages::methods::a2mc_blocks::*;
use skelflow_stages::methods::blocks::{MemoryBank, cross_entropy, l2_normalize};

use crate::learn_common::rng_lock;

fn close(a: f32, b: f32, tol: f32) -> bool {
    (a - b).abs() <= tol
}

fn vec2(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

fn tensor2(dev: &Device, rows: &[&[f32]]) -> Tensor<2> {
    let r = rows.len();
    let c = rows[0].len();
    let flat: Vec<f32> = rows.iter().flat_map(|x| x.iter().copied()).collect();
    Tensor::from_data(TensorData::new(flat, [r, c]), dev)
}

/// A small frozen BiGRU and class head on an autodiff device, and a batch of skeletons
/// whose second body is absent (all zero), like most NTU samples.
fn setup(seed: u64) -> (Device, Encoder, Linear, Tensor<5>) {
    let dev = Device::flex().autodiff();
    dev.seed(seed);
    let cfg = EncoderConfig {
        backbone: BackboneConfig::Bigru(BiGruConfig {
            hidden: 16,
            layers: 1,
            // the attack tests below were calibrated on a true bidirectional pass; frame by
            // frame (the default) one sign step of lr 0.1 overshoots on seed 100
            drive: GruDrive::Bidirectional,
            ..Default::default()
        }),
        proj_dim: 8,
        mlp: true,
        // PyTorch's defaults: the attack tests below were calibrated on them (one sign step
        // of lr 0.1 can overshoot on a flatter, xavier-initialised GRU)
        init: InitScheme::Default,
    };
    let enc = cfg.init(&dev).no_grad();
    let head = LinearConfig::new(32, 10)
        .with_initializer(Initializer::XavierUniform { gain: 1.0 })
        .init(&dev)
        .no_grad();
    let body = Tensor::<5>::random([6, 3, 12, 25, 1], Distribution::Normal(0.0, 0.5), &dev);
    let x = Tensor::cat(vec![body.clone(), body.zeros_like()], 4);
    (dev, enc, head, x)
}

fn class_logits(enc: &Encoder, head: &Linear, x: Tensor<5>) -> Tensor<2> {
    head.forward(enc.features(x.detach())).detach()
}

fn mse(enc: &Encoder, head: &Linear, x: Tensor<5>) -> f32 {
    mse_to_uniform(class_logits(enc, head, x)).into_scalar::<f32>()
}

#[test]
fn a2mc_entropy_attack_moves_the_class_distribution_toward_uniform_within_eps() {
    let _rng = rng_lock();
    // the paper's setting: one fresh-Adam step, lr 0.1, ε 0.5
    let cfg = EntropyAttack {
        lr: 0.1,
        eps: Some(0.5),
        steps: 1,
        keep_absent_bodies: true,
    };
    for seed in 0..4 {
        let (_dev, enc, head, x) = setup(100 + seed);
        let (m0, h0) = (
            mse(&enc, &head, x.clone()),
            mean_entropy(class_logits(&enc, &head, x.clone())),
        );
        let (xa, rep) = entropy_attack(&enc, &head, x.clone(), &cfg);
        let (m1, h1) = (
            mse(&enc, &head, xa.clone()),
            mean_entropy(class_logits(&enc, &head, xa)),
        );
        println!(
            "seed {seed}: MSE to uniform {m0:.3e} -> {m1:.3e}, entropy {h0:.5} -> {h1:.5}, {rep:?}"
        );
        assert!(m1 < m0, "MSE to uniform must fall: {m0} -> {m1}");
        assert!(h1 > h0, "entropy must rise: {h0} -> {h1}");
        assert!(close(rep.loss_before, m0, m0 * 1e-3));
        assert!(close(rep.loss_after, m1, m1 * 1e-3));
    }
    let (_dev, enc, head, x) = setup(3);
    let (xa, rep) = entropy_attack(&enc, &head, x.clone(), &cfg);
    // one fresh Adam step is x − lr·g/(|g| + 1e-8): every moved coordinate moves by ≈ lr
    let delta = (xa.clone() - x.clone()).abs();
    let linf = delta.clone().max().into_scalar::<f32>();
    assert!(linf <= 0.1 + 1e-6 && linf > 0.099, "|δ|∞ = {linf}");
    assert!(close(rep.linf, linf, 1e-7));
    // the absent second body stays exactly zero
    let second = xa.clone().slice(s![.., .., .., .., 1..2]).abs().max();
    assert_eq!(second.into_scalar::<f32>(), 0.0);

    // several steps with a binding ε: the projection keeps |δ|∞ ≤ ε, and the class
    // distribution is still flatter than the clean one
    let cfg = EntropyAttack {
        lr: 0.1,
        eps: Some(0.25),
        steps: 6,
        keep_absent_bodies: true,
    };
    let m0 = mse(&enc, &head, x.clone());
    let (xb, rep) = entropy_attack(&enc, &head, x.clone(), &cfg);
    let m2 = mse(&enc, &head, xb);
    println!("6 steps, ε 0.25: MSE {m2:.3e}, {rep:?}");
    assert!(m2 < m0, "still toward uniform: {m0} -> {m2}");
    assert!(rep.linf <= 0.25 + 1e-6, "|δ|∞ = {} > ε", rep.linf);
    assert!(
        rep.linf > 0.25 - 1e-6,
        "the clip is binding here: {}",
        rep.linf
    );

    // without keep_absent_bodies the attack perturbs the empty body too (the code does)
    let cfg = EntropyAttack {
        keep_absent_bodies: false,
        ..cfg
    };
    let (xc, _) = entropy_attack(&enc, &head, x, &cfg);
    let second = xc.slice(s![.., .., .., .., 1..2]).abs().max();
    assert!(second.into_scalar::<f32>() > 0.0);
}

#[test]
fn a2mc_smart_attack_is_a_sign_step_up_the_cross_entropy_to_its_pseudo_labels() {
    let _rng = rng_lock();
    let (_dev, enc, head, x) = setup(5);
    let labels = class_logits(&enc, &head, x.clone())
        .argmax(1)
        .flatten::<1>(0, 1);
    let ce = |x: Tensor<5>| {
        cross_entropy(class_logits(&enc, &head, x), labels.clone()).into_scalar::<f32>()
    };
    let cfg = SmartAttack {
        lr: 1e-3,
        ..SmartAttack::default()
    };
    let (xa, rep) = smart_attack(&enc, &head, x.clone(), &cfg);
    let (c0, c1) = (ce(x.clone()), ce(xa.clone()));
    println!("SMART: CE to pseudo-labels {c0:.6} -> {c1:.6}, {rep:?}");
    assert!(c1 > c0, "the code's attack ascends the CE: {c0} -> {c1}");
    assert!(close(rep.loss_before, -c0, 1e-5));
    assert!(close(rep.loss_after, -c1, 1e-4));
    // x − lr·√(1−β2)/(1−β1)·m/(√v + 1e-8) with m = 0.1g, v = 0.001g²: |δ| = lr·|g|/(|g|+3.2e-7)
    let d: Vec<f32> = (xa - x)
        .abs()
        .flatten::<1>(0, 4)
        .into_data()
        .try_into_vec()
        .unwrap();
    let moved = d.iter().filter(|&&v| v > 0.0).count();
    assert!(moved > d.len() / 4, "most coordinates move");
    assert!(
        d.iter().all(|&v| v <= 1e-3 * (1.0 + 1e-4)),
        "no coordinate moves more than lr"
    );
    let near_lr = d.iter().filter(|&&v| v > 0.9e-3).count();
    assert!(
        near_lr * 10 > moved * 9,
        "sign-like steps: {near_lr} of {moved} ≈ lr"
    );
    // default lr 1e-4 and no ε clip
    assert_eq!(SmartAttack::default().lr, 1e-4);
}

#[test]
fn a2mc_perceptual_loss_and_per_frame_normalisation() {
    let _rng = rng_lock();
    let dev = Device::flex();
    let x0 = Tensor::<5>::random([2, 3, 6, 25, 2], Distribution::Normal(0.0, 1.0), &dev);
    assert_eq!(
        perceptual_loss(x0.clone(), x0.clone(), 0.4, 0.7).into_scalar::<f32>(),
        0.0
    );
    // a constant shift of every joint: no bone or acceleration change, only displacement
    let shifted = x0.clone() + 0.1;
    let l = perceptual_loss(x0.clone(), shifted, 0.4, 0.7).into_scalar::<f32>();
    // 0.4 · Σ (0.1)² over C·T·V = 3·6·25 entries per (n, m) sequence, mean over n·m
    assert!(close(l, 0.4 * 0.01 * (3 * 6 * 25) as f32, 1e-3), "{l}");
    let g = normalize_per_frame(x0);
    let norms = g.square().sum_dim(1).sum_dim(3).sqrt();
    let v: Vec<f32> = norms.flatten::<1>(0, 4).into_data().try_into_vec().unwrap();
    assert!(v.iter().all(|&n| close(n, 1.0, 1e-5)));
}

#[test]
fn a2mc_bank_step_equals_the_hand_computed_one() {
    let dev = Device::flex();
    // D = 2, K = 2, one query q = (1, 0) with key k = (0, 1), so l_pos = 0; temperature 1.
    // W columns: w1 = (1, 0) (|w1| = 1), w2 = (0, 2) (|w2| = 2) → ŵ1 = (1, 0), ŵ2 = (0, 1)
    let q = tensor2(&dev, &[&[1.0, 0.0]]);
    let l_pos = tensor2(&dev, &[&[0.0]]);
    let w = tensor2(&dev, &[&[1.0, 0.0], &[0.0, 2.0]]);
    // l_neg = (1, 0); softmax([0, 1, 0]) = [1, e, 1]/(2 + e) → p_neg = (0.5761169, 0.2119416)
    // qᵀp = [[0.5761169, 0.2119416], [0, 0]]; mean(p ⊙ l_neg) ⊙ ŵ = [[0.5761169, 0], [0, 0]]
    // ∇ = (difference) / |w| per column / t = [[0, 0.1059708], [0, 0]]; returned: −∇
    let g = bank_ascent_direction(q, l_pos, w.clone(), 1.0);
    let gv = vec2(g.clone());
    let want = [0.0, -0.105_970_8, 0.0, 0.0];
    for (a, b) in gv.iter().zip(want) {
        assert!(close(*a, b, 1e-6), "{gv:?} vs {want:?}");
    }
    // one step with lr 3, momentum 0.9, weight decay 1e-4 from v = 0:
    // v = −∇ + 1e-4·W = [[1e-4, −0.1059708], [0, 2e-4]]
    // W' = W − 3v = [[0.9997, 0.3179124], [0, 1.9994]]  (w2 turns toward the query: ascent)
    let mut bank = MemoryBank {
        w: w.clone(),
        v: w.zeros_like(),
    };
    bank.step(g.clone(), 3.0, 0.9, 1e-4);
    let wv = vec2(bank.w.clone());
    for (a, b) in wv.iter().zip([0.9997, 0.317_912_4, 0.0, 1.9994]) {
        assert!(close(*a, b, 1e-6), "{wv:?}");
    }
    // a second step with the same g shows the momentum:
    // v2 = 0.9·v + g + 1e-4·W' = [[0.9e-4 + 0.9997e-4, −0.2013445 + 0.3179e-4], [0, 1.8e-4 + 1.9994e-4]]
    //    = [[1.8997e-4, −0.2013127], [0, 3.7994e-4]];  W'' = W' − 3·v2
    bank.step(g, 3.0, 0.9, 1e-4);
    let wv = vec2(bank.w);
    let want = [
        0.9997 - 3.0 * 1.899_7e-4,
        0.317_912_4 + 3.0 * 0.201_312_7,
        0.0,
        1.9994 - 3.0 * 3.799_4e-4,
    ];
    for (a, b) in wv.iter().zip(want) {
        assert!(close(*a, b, 2e-6), "{wv:?} vs {want:?}");
    }
}

#[test]
fn a2mc_bank_direction_is_minus_the_autodiff_gradient() {
    let _rng = rng_lock();
    let dev = Device::flex().autodiff();
    dev.seed(11);
    let (n, d, k, t) = (5, 4, 7, 0.03);
    let q = l2_normalize(
        Tensor::<2>::random([n, d], Distribution::Normal(0.0, 1.0), &dev),
        1,
    );
    let key = l2_normalize(
        Tensor::<2>::random([n, d], Distribution::Normal(0.0, 1.0), &dev),
        1,
    );
    let w = Tensor::<2>::random([d, k], Distribution::Normal(0.0, 1.0), &dev);
    let l_pos = (q.clone() * key.clone()).sum_dim(1);
    let closed = vec2(bank_ascent_direction(
        q.clone(),
        l_pos.clone(),
        w.clone(),
        t,
    ));
    let wg = w.detach().require_grad();
    let w_hat = wg.clone() / wg.clone().square().sum_dim(0).sqrt();
    let logits = Tensor::cat(vec![l_pos, q.matmul(w_hat)], 1) / t;
    let loss = skelflow_stages::methods::blocks::cross_entropy_first(logits);
    let grad = wg.grad(&loss.backward()).unwrap();
    let auto: Vec<f32> = grad.neg().into_data().try_into_vec().unwrap();
    for (a, b) in closed.iter().zip(&auto) {
        assert!(
            close(*a, *b, 1e-4 * (1.0 + b.abs())),
            "{closed:?}\nvs\n{auto:?}"
        );
    }
}

#[test]
fn a2mc_mixing_gives_the_expected_convex_combinations() {
    let dev = Device::flex();
    // N = 2 anchors, K = 5 bank rows (K not a multiple of N): row r mixes with q[r mod 2]
    let q = tensor2(&dev, &[&[1.0, 0.0, 0.0], &[0.0, 1.0, 0.0]]);
    let s = std::f32::consts::FRAC_1_SQRT_2;
    let bank = tensor2(
        &dev,
        &[
            &[0.0, 0.0, 1.0],
            &[0.0, 0.0, 1.0],
            &[s, 0.0, s],
            &[0.0, -1.0, 0.0],
            &[0.0, 0.0, -1.0],
        ],
    );
    let anchors = vec2(anchors_for_bank(q.clone(), 5));
    assert_eq!(
        anchors,
        [1., 0., 0., 0., 1., 0., 1., 0., 0., 0., 1., 0., 1., 0., 0.]
    );
    // λ = 0.25: m_r = normalize(0.25·q[r mod 2] + 0.75·n_r)
    let m = vec2(mix_negatives(q.clone(), bank.clone(), 0.25));
    let raw: [[f32; 3]; 5] = [
        [0.25, 0.0, 0.75],
        [0.0, 0.25, 0.75],
        [0.25 + 0.75 * s, 0.0, 0.75 * s],
        [0.0, 0.25 - 0.75, 0.0],
        [0.25, 0.0, -0.75],
    ];
    for (r, row) in raw.iter().enumerate() {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        for c in 0..3 {
            assert!(
                close(m[r * 3 + c], row[c] / norm, 1e-6),
                "row {r}: {:?} vs {row:?}/{norm}",
                &m[r * 3..r * 3 + 3]
            );
        }
    }
    // e.g. row 0: (0.25, 0, 0.75)/0.7905694 = (0.3162278, 0, 0.9486833)
    assert!(close(m[0], 0.316_227_8, 1e-6) && close(m[2], 0.948_683_3, 1e-6));
    // λ = 0 gives the bank back, λ = 1 the anchors
    let same = vec2(mix_negatives(q.clone(), bank.clone(), 0.0));
    assert!(
        same.iter()
            .zip(vec2(bank.clone()))
            .all(|(a, b)| close(*a, b, 1e-7))
    );
    let all_q = vec2(mix_negatives(q.clone(), bank.clone(), 1.0));
    assert!(all_q.iter().zip(&anchors).all(|(a, b)| close(*a, *b, 1e-7)));

    // the code's linear mixing loss: for unit q and r ≡ i (mod N),
    // [−mean q·(0.8q + 0.2d) + mean q·(0.1q + 0.9d)]/t = (−0.7 + 0.7·mean q·d)/t
    let bank_k4 = bank.clone().slice(s![0..4, 0..3]);
    // q·d over r = 0..3 with anchors q0, q1, q0, q1: (0, 0, s, −1) → mean (s − 1)/4
    let mean_qd = (s - 1.0) / 4.0;
    let loss = code_mix_loss(q, bank_k4, 0.2, 0.1, 0.07).into_scalar::<f32>();
    assert!(
        close(loss, (-0.7 + 0.7 * mean_qd) / 0.07, 1e-5),
        "{loss} vs {}",
        (-0.7 + 0.7 * mean_qd) / 0.07
    );
}

#[test]
fn a2mc_batch_augmentation_is_seeded_per_sample_and_keeps_the_shape() {
    let _rng = rng_lock();
    use skelflow_stages::learn::augment::Aug;
    let dev = Device::flex();
    let x = Tensor::<5>::random([3, 3, 8, 25, 2], Distribution::Normal(0.0, 1.0), &dev);
    let view = vec![
        Aug::Shear { r: 1.0, p: 1.0 },
        Aug::GaussNoise { std: 0.1, p: 1.0 },
    ];
    let a = augment_batch(x.clone(), &view, &[1, 2, 3]);
    let b = augment_batch(x.clone(), &view, &[1, 2, 3]);
    let c = augment_batch(x.clone(), &view, &[1, 2, 4]);
    assert_eq!(a.dims(), [3, 3, 8, 25, 2]);
    let (av, bv, cv): (Vec<f32>, Vec<f32>, Vec<f32>) = (
        a.into_data().try_into_vec().unwrap(),
        b.into_data().try_into_vec().unwrap(),
        c.into_data().try_into_vec().unwrap(),
    );
    assert_eq!(av, bv);
    let per = 3 * 8 * 25 * 2;
    assert_eq!(av[..2 * per], cv[..2 * per], "samples 0 and 1 share seeds");
    assert_ne!(av[2 * per..], cv[2 * per..], "sample 2 has another seed");
}
