//! The fused ops (`learn::fused`) against the composite paths they replace and against
//! PyTorch: values and the gradients of every input, both directions, odd sizes (one step,
//! one sample, one input feature, hidden sizes that are not multiples of anything), on the
//! backend under test (flex's native kernels, or libtorch's composed primitives under
//! `SKELFLOW_TEST_BACKEND=tch-cpu`).

use burn::module::Param;
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

fn vec_of<const D: usize>(t: Tensor<D>) -> Vec<f32> {
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
