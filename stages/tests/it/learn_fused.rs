//! The fused ops (`learn::fused`) against the composite paths they replace and against
//! PyTorch: values and the gradients of every input, both directions, odd sizes (one step,
//! one sample, one input feature, hidden sizes that are not multiples of anything), on the
//! backend under test (flex's native kernels, or libtorch's composed primitives under
//! `SKELFLOW_TEST_BACKEND=tch-cpu`).

use burn::module::Param;
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::prelude::*;
use skelflow_stages::learn::encoders::rnn::{RnnCell, frames_of};

fn dev() -> Device {
    skelflow_stages::learn::device::device(crate::learn_common::test_backend(), false, 2).unwrap()
}

/// Deterministic values in [-scale, scale).
fn values(len: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

fn tensor<const D: usize>(shape: [usize; D], seed: u64, scale: f32, dev: &Device) -> Tensor<D> {
    let len = shape.iter().product();
    Tensor::from_data(TensorData::new(values(len, seed, scale), shape), dev)
}

pub(crate) fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

/// Max |a - b| relative to max |b| (both paths sum the same products in other orders).
fn assert_close(what: &str, got: Vec<f32>, want: Vec<f32>) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
    let err = got
        .iter()
        .zip(&want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        err <= 2e-5 * scale,
        "{what}: max |fused - composite| = {err} (scale {scale})"
    );
}

/// The fused layers under test.
#[derive(Clone, Copy, Debug)]
enum Layer {
    Gru { reverse: bool },
    Lstm,
}

const LAYERS: [Layer; 3] = [
    Layer::Gru { reverse: false },
    Layer::Gru { reverse: true },
    Layer::Lstm,
];

impl Layer {
    fn cell(self, input: usize, hidden: usize, seed: u64, dev: &Device) -> RnnCell {
        let g = match self {
            Layer::Gru { .. } => 3,
            Layer::Lstm => 4,
        };
        // larger than PyTorch's U(±1/√H) so the gates leave their linear range
        RnnCell {
            w_ih: Param::from_tensor(tensor([input, g * hidden], seed, 0.8, dev)),
            w_hh: Param::from_tensor(tensor([hidden, g * hidden], seed + 1, 0.8, dev)),
            b_ih: Param::from_tensor(tensor([g * hidden], seed + 2, 0.5, dev)),
            b_hh: Param::from_tensor(tensor([g * hidden], seed + 3, 0.5, dev)),
            hidden,
        }
    }

    fn fused(self, cell: &RnnCell, x: Tensor<3>) -> Tensor<3> {
        match self {
            Layer::Gru { reverse } => cell.gru_sequence(x, reverse),
            Layer::Lstm => cell.lstm_sequence(x),
        }
    }

    /// The composite cell on (T, N, I): (T, N, H).
    fn composite(self, cell: &RnnCell, x: Tensor<3>) -> Tensor<3> {
        let xs = frames_of(x.swap_dims(0, 1));
        let outs = match self {
            Layer::Gru { reverse } => cell.gru(&xs, reverse),
            Layer::Lstm => cell.lstm(&xs),
        };
        Tensor::stack::<3>(outs, 0)
    }
}

const SHAPES: [(usize, usize, usize, usize); 5] = [
    // (T, N, I, H)
    (1, 1, 3, 2),
    (7, 1, 5, 3),
    (5, 3, 7, 4),
    (9, 2, 150, 17),
    (4, 6, 1, 1),
];

#[test]
fn fused_recurrent_layers_equal_the_composite_cells_forward() {
    let dev = dev();
    for (k, &(t, n, i, h)) in SHAPES.iter().enumerate() {
        for layer in LAYERS {
            let c = layer.cell(i, h, 10 * k as u64, &dev);
            let x = tensor([t, n, i], 99 + k as u64, 1.5, &dev);
            let what = format!("{layer:?} T{t} N{n} I{i} H{h}");
            assert_close(
                &what,
                vec_of(layer.fused(&c, x.clone())),
                vec_of(layer.composite(&c, x)),
            );
        }
    }
}

#[test]
fn fused_recurrent_layers_gradients_equal_the_composite_cells() {
    let ad = dev().autodiff();
    for (k, &(t, n, i, h)) in SHAPES.iter().enumerate() {
        for layer in LAYERS {
            for track_x in [true, false] {
                let what = format!("{layer:?} T{t} N{n} I{i} H{h} x tracked {track_x}");
                let upstream = tensor([t, n, h], 7 + k as u64, 1.0, &ad);
                let grads = |fused: bool| {
                    let c = layer.cell(i, h, 10 * k as u64, &ad);
                    let mut x = tensor([t, n, i], 99 + k as u64, 1.5, &ad);
                    if track_x {
                        x = x.require_grad();
                    }
                    let out = if fused {
                        layer.fused(&c, x.clone())
                    } else {
                        layer.composite(&c, x.clone())
                    };
                    let g = (out * upstream.clone()).sum().backward();
                    let grad = |p: Tensor<2>| vec_of(p.grad(&g).expect("tracked"));
                    let grad1 = |p: Tensor<1>| vec_of(p.grad(&g).expect("tracked"));
                    (
                        track_x.then(|| vec_of(x.grad(&g).expect("x tracked"))),
                        [grad(c.w_ih.val()), grad(c.w_hh.val())],
                        [grad1(c.b_ih.val()), grad1(c.b_hh.val())],
                    )
                };
                let (fx, fw, fb) = grads(true);
                let (cx, cw, cb) = grads(false);
                if let (Some(f), Some(c)) = (fx, cx) {
                    assert_close(&format!("{what}: d x"), f, c);
                }
                for ((name, f), c) in ["d W_ih", "d W_hh"].iter().zip(fw).zip(cw) {
                    assert_close(&format!("{what}: {name}"), f, c);
                }
                for ((name, f), c) in ["d b_ih", "d b_hh"].iter().zip(fb).zip(cb) {
                    assert_close(&format!("{what}: {name}"), f, c);
                }
            }
        }
    }
}

/// Without a tracked input the fused op records no backward step and computes the same
/// states (the inference path of feature extraction).
#[test]
fn fused_recurrent_layers_untracked_on_autodiff_equal_plain() {
    let plain = dev();
    let ad = plain.clone().autodiff();
    let (t, n, i, h) = (6, 2, 5, 4);
    for layer in LAYERS {
        let want = layer.fused(
            &layer.cell(i, h, 3, &plain),
            tensor([t, n, i], 4, 1.0, &plain),
        );
        let mut c = layer.cell(i, h, 3, &ad);
        c.w_ih = Param::from_tensor(c.w_ih.val().detach()).set_require_grad(false);
        c.w_hh = Param::from_tensor(c.w_hh.val().detach()).set_require_grad(false);
        c.b_ih = Param::from_tensor(c.b_ih.val().detach()).set_require_grad(false);
        c.b_hh = Param::from_tensor(c.b_hh.val().detach()).set_require_grad(false);
        let got = layer.fused(&c, tensor([t, n, i], 4, 1.0, &ad));
        assert!(!got.is_require_grad(), "{layer:?}: nothing tracked");
        assert_close(&format!("{layer:?} untracked"), vec_of(got), vec_of(want));
    }
}

/// skelflow's cell with PyTorch's parameters `{name}_l0{suffix}` (weights transposed).
fn cell_from_torch(weights: &serde_json::Value, suffix: &str, dev: &Device) -> RnnCell {
    use crate::actclr_golden::tensor;
    let w = |k: &str| {
        Param::from_tensor(tensor::<2>(&weights[format!("{k}_l0{suffix}")], dev).transpose())
    };
    let b = |k: &str| Param::from_tensor(tensor::<1>(&weights[format!("{k}_l0{suffix}")], dev));
    let w_hh = w("weight_hh");
    let hidden = w_hh.dims()[0];
    RnnCell {
        w_ih: w("weight_ih"),
        w_hh,
        b_ih: b("bias_ih"),
        b_hh: b("bias_hh"),
        hidden,
    }
}

/// Forward and backward of the fused layers against PyTorch's `nn.GRU(bidirectional=True)`
/// and `nn.LSTM` (`scripts/recurrent_reference.py`): outputs, d x and every parameter's
/// gradient.
#[test]
fn fused_recurrent_layers_equal_pytorchs_forward_and_backward() {
    use crate::actclr_golden::{data, tensor};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/goldens/recurrent_grads.json");
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run scripts/recurrent_reference.py)",
                path.display()
            )
        }))
        .unwrap();
    let ad = dev().autodiff();
    for (kind, suffixes) in [("gru", &["", "_reverse"][..]), ("lstm", &[""][..])] {
        let case = &golden[kind];
        let x = tensor::<3>(&case["x"], &ad).require_grad();
        let cells: Vec<RnnCell> = suffixes
            .iter()
            .map(|s| cell_from_torch(&case["weights"], s, &ad))
            .collect();
        let outs: Vec<Tensor<3>> = cells
            .iter()
            .zip(suffixes)
            .map(|(c, s)| match kind {
                "gru" => c.gru_sequence(x.clone(), *s == "_reverse"),
                _ => c.lstm_sequence(x.clone()),
            })
            .collect();
        let out = Tensor::cat(outs, 2);
        assert_close(
            &format!("{kind} outputs"),
            vec_of(out.clone()),
            data(&case["out"]),
        );
        let g = (out * tensor::<3>(&case["upstream"], &ad)).sum().backward();
        assert_close(
            &format!("{kind} d x"),
            vec_of(x.grad(&g).unwrap()),
            data(&case["grad_x"]),
        );
        for (c, s) in cells.iter().zip(suffixes) {
            let want = |k: &str| data(&case["grads"][format!("{k}_l0{s}")]);
            let w = |p: &Param<Tensor<2>>| vec_of(p.val().grad(&g).unwrap().transpose());
            let b = |p: &Param<Tensor<1>>| vec_of(p.val().grad(&g).unwrap());
            assert_close(&format!("{kind}{s} d W_ih"), w(&c.w_ih), want("weight_ih"));
            assert_close(&format!("{kind}{s} d W_hh"), w(&c.w_hh), want("weight_hh"));
            assert_close(&format!("{kind}{s} d b_ih"), b(&c.b_ih), want("bias_ih"));
            assert_close(&format!("{kind}{s} d b_hh"), b(&c.b_hh), want("bias_hh"));
        }
    }
}

/// Two batch norms with the same γ, β (random, so the scale matters) and fresh running
/// statistics each (a clone would share them).
fn norm_pair(c: usize, seed: u64, dev: &Device) -> [BatchNorm; 2] {
    [0, 1].map(|_| {
        let mut bn = BatchNormConfig::new(c).init(dev);
        bn.gamma = Param::from_tensor(tensor([c], seed, 1.5, dev));
        bn.beta = Param::from_tensor(tensor([c], seed + 1, 0.5, dev));
        bn
    })
}

/// `fused::batch_norm` against burn's `BatchNorm` (+ `relu`) on (N, C, …) inputs: the
/// output, the gradients of x, γ and β under a random upstream gradient, and the running
/// statistics it leaves — one sample, one channel, maps not a multiple of eight long,
/// a 3-D input like ST-GCN's data BN, with and without ReLU, x tracked or not.
fn check_batch_norm<const D: usize>(shape: [usize; D], seed: u64) {
    let ad = dev().autodiff();
    let c = shape[1];
    let upstream = tensor(shape, seed + 7, 1.0, &ad);
    for relu in [true, false] {
        for track_x in [true, false] {
            let what = format!("{shape:?} relu {relu} x tracked {track_x}");
            let [fused_bn, burn_bn] = norm_pair(c, seed, &ad);
            let run = |bn: &BatchNorm, fused: bool| {
                let mut x = tensor(shape, seed + 3, 2.0, &ad).add_scalar(0.7);
                if track_x {
                    x = x.require_grad();
                }
                let y = if fused {
                    skelflow_stages::learn::fused::batch_norm(bn, x.clone(), relu)
                } else if relu {
                    burn::tensor::activation::relu(bn.forward(x.clone()))
                } else {
                    bn.forward(x.clone())
                };
                let g = (y.clone() * upstream.clone()).sum().backward();
                let grad = |p: Tensor<1>| vec_of(p.grad(&g).expect("tracked"));
                (
                    vec_of(y),
                    track_x.then(|| vec_of(x.grad(&g).expect("x tracked"))),
                    [grad(bn.gamma.val()), grad(bn.beta.val())],
                    [bn.running_mean.value(), bn.running_var.value()].map(vec_of),
                )
            };
            let (fy, fx, fp, fr) = run(&fused_bn, true);
            let (by, bx, bp, br) = run(&burn_bn, false);
            assert_close(&format!("{what}: y"), fy, by);
            if let (Some(f), Some(b)) = (fx, bx) {
                assert_close(&format!("{what}: d x"), f, b);
            }
            for ((name, f), b) in ["d γ", "d β"].iter().zip(fp).zip(bp) {
                assert_close(&format!("{what}: {name}"), f, b);
            }
            for ((name, f), b) in ["running mean", "running var"].iter().zip(fr).zip(br) {
                assert_close(&format!("{what}: {name}"), f, b);
            }
        }
    }
}

#[test]
fn fused_batch_norm_equals_burns_values_gradients_and_running_statistics() {
    check_batch_norm([2, 3, 5, 4], 1);
    check_batch_norm([1, 4, 7, 1], 2);
    check_batch_norm([3, 1, 2, 3], 3);
    check_batch_norm([4, 5, 13, 25], 4);
    check_batch_norm([5, 7, 9], 5);
    check_batch_norm([2, 16, 8], 6);
}

/// The fused op's tail — dropout with a given mask, a residual add, ReLU — against burn's
/// `BatchNorm` followed by the same mask (built from `DropoutMask::value`), `+`, `relu`:
/// the output and the gradients of x, γ, β and the residual, every combination.
fn check_batch_norm_tail<const D: usize>(shape: [usize; D], seed: u64, prob: f64) {
    use skelflow_stages::learn::fused::{DropoutMask, Tail, batch_norm_train_tail};
    let ad = dev().autodiff();
    let c = shape[1];
    let len: usize = shape.iter().product();
    let upstream = tensor(shape, seed + 7, 1.0, &ad);
    let mask = DropoutMask {
        prob,
        seed: seed * 0x1234_5678_9abc,
    };
    let factors: Vec<f32> = (0..len as u64).map(|i| mask.value(i)).collect();
    assert!(factors.contains(&0.0), "{shape:?}: something dropped");
    let factors = Tensor::<D>::from_data(TensorData::new(factors, shape), &ad);
    for relu in [true, false] {
        for with_residual in [true, false] {
            let what = format!("{shape:?} p {prob} relu {relu} residual {with_residual}");
            let [fused_bn, burn_bn] = norm_pair(c, seed, &ad);
            let run = |bn: &BatchNorm, fused: bool| {
                let x = tensor(shape, seed + 3, 2.0, &ad)
                    .add_scalar(0.7)
                    .require_grad();
                let r = tensor(shape, seed + 5, 1.0, &ad).require_grad();
                let residual = with_residual.then(|| r.clone());
                let y = if fused {
                    let tail = Tail {
                        dropout: Some(mask),
                        relu,
                    };
                    let gamma = bn.gamma.val();
                    batch_norm_train_tail(x.clone(), gamma, bn.beta.val(), residual, 1e-5, tail).0
                } else {
                    let mut y = bn.forward(x.clone()) * factors.clone();
                    if let Some(r) = residual {
                        y = y + r;
                    }
                    if relu {
                        burn::tensor::activation::relu(y)
                    } else {
                        y
                    }
                };
                let g = (y.clone() * upstream.clone()).sum().backward();
                let grad = |p: Tensor<1>| vec_of(p.grad(&g).expect("tracked"));
                (
                    vec_of(y),
                    vec_of(x.grad(&g).expect("x tracked")),
                    [grad(bn.gamma.val()), grad(bn.beta.val())],
                    with_residual.then(|| vec_of(r.grad(&g).expect("residual tracked"))),
                )
            };
            let (fy, fx, fp, fr) = run(&fused_bn, true);
            let (by, bx, bp, br) = run(&burn_bn, false);
            assert_close(&format!("{what}: y"), fy, by);
            assert_close(&format!("{what}: d x"), fx, bx);
            for ((name, f), b) in ["d γ", "d β"].iter().zip(fp).zip(bp) {
                assert_close(&format!("{what}: {name}"), f, b);
            }
            assert_eq!(fr.is_some(), br.is_some());
            if let (Some(f), Some(b)) = (fr, br) {
                assert_close(&format!("{what}: d residual"), f, b);
            }
        }
    }
}

#[test]
fn fused_batch_norm_tail_equals_burns_dropout_add_relu_values_and_gradients() {
    check_batch_norm_tail([2, 3, 5, 4], 1, 0.5);
    check_batch_norm_tail([1, 4, 7, 1], 2, 0.3);
    check_batch_norm_tail([3, 2, 13, 25], 3, 0.5);
    check_batch_norm_tail([5, 7, 9], 4, 0.1);
}

/// The mask: about 1 − p kept at 1 / (1 − p), the rest 0; another seed draws another mask,
/// independent of the first (both kept ≈ (1 − p)²); the same seed the same one.
#[test]
fn dropout_mask_keeps_one_minus_p_independently_per_seed() {
    use skelflow_stages::learn::fused::DropoutMask;
    let n = 1u64 << 20;
    for prob in [0.1, 0.5, 0.9] {
        let masks = [1u64, 2, 0xdead_beef_0000_0001].map(|seed| DropoutMask { prob, seed });
        let kept = |m: &DropoutMask| (0..n).map(|i| m.value(i)).collect::<Vec<_>>();
        let [a, b, c] = [&masks[0], &masks[1], &masks[2]].map(kept);
        let scale = (1.0 / (1.0 - prob)) as f32;
        assert!(
            a.iter().all(|&v| v == 0.0 || v == scale),
            "p {prob}: values"
        );
        for (name, m) in [("seed 1", &a), ("seed 2", &b), ("seed 0xdeadbeef…", &c)] {
            let frac = m.iter().filter(|&&v| v > 0.0).count() as f64 / n as f64;
            assert!(
                (frac - (1.0 - prob)).abs() < 3e-3,
                "p {prob} {name}: kept {frac}"
            );
        }
        for (name, other) in [("seeds 1, 2", &b), ("seeds 1, 0xdeadbeef…", &c)] {
            let both = a.iter().zip(other).filter(|(x, y)| **x > 0.0 && **y > 0.0);
            let frac = both.count() as f64 / n as f64;
            let want = (1.0 - prob) * (1.0 - prob);
            assert!(
                (frac - want).abs() < 3e-3,
                "p {prob} {name}: both kept {frac} vs {want}"
            );
        }
        assert_eq!(a, kept(&masks[0]), "p {prob}: same seed, same mask");
    }
}

/// Through a block's layers (`batch_norm_then` with burn's `Dropout`): while training, about
/// half the elements of a p 0.5 dropout are zero, a second call draws another mask and a
/// reseeded device the same one; in eval mode (no autodiff) nothing is dropped.
#[test]
fn batch_norm_then_drops_while_training_reseeds_with_the_device_and_not_in_eval() {
    use burn::nn::DropoutConfig;
    use skelflow_stages::learn::fused::{Then, batch_norm_then};
    let ad = dev().autodiff();
    let shape = [4, 3, 50, 25];
    let [bn, _] = norm_pair(3, 31, &ad);
    let dropout = DropoutConfig::new(0.5).init();
    let x = || tensor(shape, 32, 1.0, &ad);
    let run = |x: Tensor<4>| {
        let then = Then {
            dropout: Some(&dropout),
            residual: None,
            relu: false,
        };
        vec_of(batch_norm_then(&bn, x, then))
    };
    let zeros = |v: &[f32]| v.iter().filter(|&&y| y == 0.0).count() as f64 / v.len() as f64;
    ad.seed(7);
    let first = run(x());
    let second = run(x());
    ad.seed(7);
    let again = run(x());
    let frac = zeros(&first);
    assert!((frac - 0.5).abs() < 0.01, "zeros {frac}");
    assert_ne!(first, second, "a second call draws another mask");
    assert_eq!(first, again, "a reseeded device draws the same mask");
    let plain = dev();
    let [bn, _] = norm_pair(3, 31, &plain);
    let then = Then {
        dropout: Some(&dropout),
        residual: None,
        relu: false,
    };
    let y = vec_of(batch_norm_then(&bn, tensor(shape, 32, 1.0, &plain), then));
    assert_eq!(zeros(&y), 0.0, "eval: nothing dropped");
}

/// Frozen γ, β and an untracked input: no backward step, the batch's statistics still used
/// and the running ones still updated (what a frozen-backbone finetune sees in `train` mode).
#[test]
fn fused_batch_norm_untracked_on_autodiff_equals_burns() {
    let ad = dev().autodiff();
    let shape = [3, 4, 6, 5];
    for relu in [true, false] {
        let [fused_bn, burn_bn] = norm_pair(4, 11, &ad).map(|mut bn| {
            bn.gamma = Param::from_tensor(bn.gamma.val().detach()).set_require_grad(false);
            bn.beta = Param::from_tensor(bn.beta.val().detach()).set_require_grad(false);
            bn
        });
        let x = || tensor(shape, 12, 1.0, &ad);
        let got = skelflow_stages::learn::fused::batch_norm(&fused_bn, x(), relu);
        assert!(!got.is_require_grad(), "relu {relu}: nothing tracked");
        let want = burn_bn.forward(x());
        let want = if relu {
            burn::tensor::activation::relu(want)
        } else {
            want
        };
        assert_close(&format!("untracked relu {relu}"), vec_of(got), vec_of(want));
        assert_close(
            &format!("untracked relu {relu}: running var"),
            vec_of(fused_bn.running_var.value()),
            vec_of(burn_bn.running_var.value()),
        );
    }
}

/// (N, C, T, V, C_out, kt, stride) of the temporal-convolution tests: one sample, one
/// channel, one joint, T shorter than the kernel, T not a multiple of the stride, a 1×1
/// kernel with stride 2 (ST-GCN's residual projection), shapes of ST-GCN-16's blocks (the
/// 1×1 projection of block 10, block 9 at T 4, block 5 at T 13 with stride 2, block 2).
const CONV_SHAPES: [(usize, usize, usize, usize, usize, usize, usize); 10] = [
    (1, 1, 1, 1, 1, 1, 1),
    (2, 3, 7, 5, 4, 9, 1),
    (3, 4, 11, 25, 6, 9, 2),
    (2, 5, 10, 3, 3, 3, 2),
    (1, 2, 5, 1, 3, 1, 2),
    (2, 3, 4, 2, 2, 5, 3),
    (6, 64, 4, 25, 256, 1, 1),
    (6, 64, 4, 25, 64, 9, 1),
    (6, 32, 13, 25, 32, 9, 2),
    (4, 16, 50, 25, 16, 9, 1),
];

/// `fused::temporal_conv` against burn's `Conv2d` with the same (kt, 1) kernel, stride and
/// padding (kt − 1)/2: the output and the gradients of x, W and the bias.
#[test]
fn fused_temporal_conv_equals_burns_conv2d_values_and_gradients() {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    let ad = dev().autodiff();
    for (s, &(n, c, t, v, cout, kt, stride)) in CONV_SHAPES.iter().enumerate() {
        for track_x in [true, false] {
            let what = format!(
                "N{n} C{c} T{t} V{v} C_out{cout} kt{kt} stride{stride} x tracked {track_x}"
            );
            let pad = (kt - 1) / 2;
            let mut conv = Conv2dConfig::new([c, cout], [kt, 1])
                .with_stride([stride, 1])
                .with_padding(PaddingConfig2d::Explicit(pad, 0, pad, 0))
                .init(&ad);
            conv.weight = Param::from_tensor(tensor([cout, c, kt, 1], 40 + s as u64, 0.7, &ad));
            conv.bias = Some(Param::from_tensor(tensor([cout], 50 + s as u64, 0.5, &ad)));
            let run = |fused: bool| {
                let mut x = tensor([n, c, t, v], 60 + s as u64, 1.5, &ad);
                if track_x {
                    x = x.require_grad();
                }
                let bias = conv.bias.as_ref().expect("bias").val();
                let y = if fused {
                    skelflow_stages::learn::fused::temporal_conv(
                        x.clone(),
                        conv.weight.val(),
                        bias.clone(),
                        stride,
                        pad,
                    )
                } else {
                    conv.forward(x.clone())
                };
                let upstream = tensor(y.dims(), 70 + s as u64, 1.0, &ad);
                let g = (y.clone() * upstream).sum().backward();
                (
                    vec_of(y),
                    track_x.then(|| vec_of(x.grad(&g).expect("x tracked"))),
                    vec_of(conv.weight.val().grad(&g).expect("W tracked")),
                    vec_of(bias.grad(&g).expect("bias tracked")),
                )
            };
            let (fy, fx, fw, fb) = run(true);
            let (cy, cx, cw, cb) = run(false);
            assert_close(&format!("{what}: y"), fy, cy);
            if let (Some(f), Some(c)) = (fx, cx) {
                assert_close(&format!("{what}: d x"), f, c);
            }
            assert_close(&format!("{what}: d W"), fw, cw);
            assert_close(&format!("{what}: d bias"), fb, cb);
        }
    }
}

/// Without anything tracked the fused convolution records no step and equals the plain
/// backend's (feature extraction).
#[test]
fn fused_temporal_conv_untracked_on_autodiff_equals_plain() {
    let plain = dev();
    let ad = plain.clone().autodiff();
    let (n, c, t, v, cout, kt) = (3, 4, 12, 5, 6, 9);
    for stride in [1, 2] {
        let run = |d: &Device| {
            skelflow_stages::learn::fused::temporal_conv(
                tensor([n, c, t, v], 81, 1.0, d),
                tensor([cout, c, kt, 1], 82, 0.5, d),
                tensor([cout], 83, 0.5, d),
                stride,
                (kt - 1) / 2,
            )
        };
        let got = run(&ad);
        assert!(!got.is_require_grad(), "stride {stride}: nothing tracked");
        assert_close(
            &format!("untracked stride {stride}"),
            vec_of(got),
            vec_of(run(&plain)),
        );
    }
}

/// (B, C_in, T, V, K, C_out) of the graph-convolution tests: one of everything, odd sizes,
/// one partition, and ST-GCN-16's blocks (block 1 from 3 channels, block 5, block 8) at
/// short T.
const GCN_SHAPES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 1, 1, 1, 1, 1),
    (2, 3, 5, 4, 1, 2),
    (3, 2, 7, 5, 3, 3),
    (1, 5, 3, 25, 2, 7),
    (4, 3, 6, 25, 3, 16),
    (2, 32, 4, 25, 3, 32),
    (2, 64, 3, 25, 3, 64),
];

/// `fused::graph_conv` against ST-GCN's graph convolution in burn's ops: the output and the
/// gradients of x, W, the bias and A (the adjacency times the edge importance).
#[test]
fn fused_graph_conv_equals_burns_ops_values_and_gradients() {
    use skelflow_stages::learn::encoders::stgcn::graph_conv;
    let ad = dev().autodiff();
    for (s, &(b, cin, t, v, k, cout)) in GCN_SHAPES.iter().enumerate() {
        for track_x in [true, false] {
            let what = format!("B{b} C_in{cin} T{t} V{v} K{k} C_out{cout} x tracked {track_x}");
            let seed = 100 + 10 * s as u64;
            let run = |fused: bool| {
                let mut x = tensor([b, cin, t, v], seed, 1.5, &ad);
                if track_x {
                    x = x.require_grad();
                }
                let w = tensor([k * cout, cin], seed + 1, 0.7, &ad).require_grad();
                let bias = tensor([k * cout], seed + 2, 0.5, &ad).require_grad();
                let a = tensor([k, v, v], seed + 3, 0.6, &ad).require_grad();
                let args = (x.clone(), w.clone(), bias.clone(), a.clone());
                let y = if fused {
                    skelflow_stages::learn::fused::graph_conv(args.0, args.1, args.2, args.3)
                } else {
                    graph_conv(args.0, args.1, args.2, args.3)
                };
                let upstream = tensor(y.dims(), seed + 4, 1.0, &ad);
                let g = (y.clone() * upstream).sum().backward();
                (
                    vec_of(y),
                    track_x.then(|| vec_of(x.grad(&g).expect("x tracked"))),
                    [
                        vec_of(w.grad(&g).expect("W tracked")),
                        vec_of(bias.grad(&g).expect("bias tracked")),
                        vec_of(a.grad(&g).expect("A tracked")),
                    ],
                )
            };
            let (fy, fx, fp) = run(true);
            let (cy, cx, cp) = run(false);
            assert_close(&format!("{what}: y"), fy, cy);
            if let (Some(f), Some(c)) = (fx, cx) {
                assert_close(&format!("{what}: d x"), f, c);
            }
            for ((name, f), c) in ["d W", "d bias", "d A"].iter().zip(fp).zip(cp) {
                assert_close(&format!("{what}: {name}"), f, c);
            }
        }
    }
}

/// Only x tracked (a frozen adjacency, as without edge importance, and a frozen projection),
/// and nothing tracked: the same values, and d x where asked for.
#[test]
fn fused_graph_conv_with_frozen_parameters_and_untracked_equals_burns_ops() {
    use skelflow_stages::learn::encoders::stgcn::graph_conv;
    let plain = dev();
    let ad = plain.clone().autodiff();
    let (b, cin, t, v, k, cout) = (3, 4, 6, 25, 3, 5);
    let inputs = |d: &Device| {
        (
            tensor([b, cin, t, v], 91, 1.0, d),
            tensor([k * cout, cin], 92, 0.5, d),
            tensor([k * cout], 93, 0.5, d),
            tensor([k, v, v], 94, 0.5, d),
        )
    };
    let (x, w, bias, a) = inputs(&ad);
    let x = x.require_grad();
    let upstream = tensor([b, cout, t, v], 95, 1.0, &ad);
    let fused =
        skelflow_stages::learn::fused::graph_conv(x.clone(), w.clone(), bias.clone(), a.clone());
    let composite = graph_conv(x.clone(), w, bias, a);
    let dx = |y: Tensor<4>| vec_of(x.grad(&(y * upstream.clone()).sum().backward()).unwrap());
    assert_close(
        "frozen: y",
        vec_of(fused.clone()),
        vec_of(composite.clone()),
    );
    assert_close("frozen: d x", dx(fused), dx(composite));
    let (x, w, bias, a) = inputs(&ad);
    let untracked = skelflow_stages::learn::fused::graph_conv(x, w, bias, a);
    assert!(!untracked.is_require_grad(), "nothing tracked");
    let (x, w, bias, a) = inputs(&plain);
    assert_close(
        "untracked",
        vec_of(untracked),
        vec_of(graph_conv(x, w, bias, a)),
    );
}

/// A NaN in the input reaches the output through the fused batch norm and its ReLU, as
/// through burn's (training's NaN-loss check depends on it).
#[test]
fn fused_batch_norm_keeps_nans() {
    let ad = dev().autodiff();
    let mut v = values(2 * 3 * 10, 21, 1.0);
    v[7] = f32::NAN; // sample 0, channel 0
    for relu in [true, false] {
        let [bn, _] = norm_pair(3, 22, &ad);
        let x = Tensor::<3>::from_data(TensorData::new(v.clone(), [2, 3, 10]), &ad);
        let y = vec_of(skelflow_stages::learn::fused::batch_norm(&bn, x, relu));
        // channel 0 of both samples (its statistics are NaN), no other channel
        for (i, y) in y.iter().enumerate() {
            let channel = (i / 10) % 3;
            assert_eq!(y.is_nan(), channel == 0, "relu {relu}: element {i} = {y}");
        }
    }
}

/// The fused convolutions' parameter gradients are sums over the batch's samples: the same
/// bits whatever the threads and however rayon splits the work (a fold over rayon's own
/// splits summed them in another order run after run, and the same seed trained to other
/// weights).
#[test]
fn fused_convolution_gradients_are_the_same_bits_on_any_number_of_threads() {
    use skelflow_stages::learn::fused::{graph_conv, temporal_conv};
    let ad = dev().autodiff();
    let (n, c, t, v, k, cout) = (37, 16, 20, 25, 3, 16);
    let grads = || {
        let x = tensor([n, c, t, v], 1, 1.5, &ad).require_grad();
        let w = tensor([k * cout, c], 2, 0.7, &ad).require_grad();
        let bias = tensor([k * cout], 3, 0.5, &ad).require_grad();
        let a = tensor([k, v, v], 4, 0.6, &ad).require_grad();
        let wt = tensor([cout, cout, 9, 1], 5, 0.3, &ad).require_grad();
        let bt = tensor([cout], 6, 0.5, &ad).require_grad();
        let h = graph_conv(x.clone(), w.clone(), bias.clone(), a.clone());
        let y = temporal_conv(h, wt.clone(), bt.clone(), 1, 4);
        let upstream = tensor(y.dims(), 7, 1.0, &ad);
        let g = (y * upstream).sum().backward();
        [
            vec_of(x.grad(&g).expect("tracked")),
            vec_of(w.grad(&g).expect("tracked")),
            vec_of(bias.grad(&g).expect("tracked")),
            vec_of(a.grad(&g).expect("tracked")),
            vec_of(wt.grad(&g).expect("tracked")),
            vec_of(bt.grad(&g).expect("tracked")),
        ]
    };
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(grads)
    };
    let one = on(1);
    for threads in [2, 3, 8] {
        for (i, (got, want)) in on(threads).iter().zip(&one).enumerate() {
            let differ = got
                .iter()
                .zip(want)
                .filter(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(
                differ.count(),
                0,
                "gradient {i} of [x, W, bias, A, W_t, b_t] on {threads} threads"
            );
        }
    }
}
