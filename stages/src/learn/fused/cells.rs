//! The element-wise part of one GRU or LSTM step, forward and backward. Flex runs it as one
//! loop over the (N, H) cells, eight at a time (SIMD), rows in parallel when the step is
//! large; other backends compose burn's primitives (the default bodies).
//!
//! GRU (PyTorch's gate order r, z, n): `gi` = x·W_ih + b_ih and `hw` = h·W_hh, both (N, 3H);
//! the tape of a step is (N, 4H) = [r, z, n, hn] with hn = (h·W_hh + b_hh)_n. LSTM (i, f, g,
//! o): the pre-activations come as x·W_ih + b_ih + b_hh and h·W_hh, (N, 4H) each; the tape is
//! the four gates, and the cell state c is kept beside it.

use burn::backend::Backend;
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, Slice, TensorMetadata};
use burn::tensor::{DType, Shape};
use rayon::prelude::*;
use wide::f32x8;

use super::{contiguous, f32s, zeros_f32};

/// (h, tape) of one step.
pub type GruStep<B> = (FloatTensor<B>, FloatTensor<B>);
/// (d gi, d hw, the part of d h_prev that does not go through W_hh).
pub type GruStepGrads<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);
/// (h, c, tape) of one LSTM step; the tape is (N, 4H) = [i, f, g, o].
pub type LstmStep<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);
/// (d of the pre-activations (N, 4H), d c_prev).
pub type LstmStepGrads<B> = (FloatTensor<B>, FloatTensor<B>);

/// Below this many cells a step runs on the calling thread: waking rayon's pool for a small
/// BiGRU's step (64 × 64 cells) cost more than the step (a fifth of its run in futexes).
const PARALLEL_CELLS: usize = 16384;

/// `body((row, chunks))` over the rows of the buffers `[buffer, row width; …]` — on rayon's
/// pool when there are at least `PARALLEL_CELLS` cells.
macro_rules! for_rows {
    ($cells:expr, [$first:expr, $w1:expr $(; $rest:expr, $w:expr)*], $body:expr) => {
        if $cells >= PARALLEL_CELLS {
            $first
                .par_chunks_exact_mut($w1)
                $(.zip($rest.par_chunks_exact_mut($w)))*
                .enumerate()
                .for_each($body)
        } else {
            $first
                .chunks_exact_mut($w1)
                $(.zip($rest.chunks_exact_mut($w)))*
                .enumerate()
                .for_each($body)
        }
    };
}

pub trait CellKernels: Backend {
    /// One GRU step: `gi`, `hw` (N, 3H), `b_hh` (3H), `h_prev` (N, H).
    fn gru_cell(
        gi: FloatTensor<Self>,
        hw: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
        h_prev: FloatTensor<Self>,
    ) -> GruStep<Self> {
        composite_gru_cell::<Self>(gi, hw, b_hh, h_prev)
    }

    /// The step's backward from `dh` (N, H), its tape and `h_prev`.
    fn gru_cell_backward(
        dh: FloatTensor<Self>,
        tape: FloatTensor<Self>,
        h_prev: FloatTensor<Self>,
    ) -> GruStepGrads<Self> {
        composite_gru_cell_backward::<Self>(dh, tape, h_prev)
    }

    /// One LSTM step: `gates` = x·W_ih + b_ih + b_hh and `hw` = h·W_hh, both (N, 4H),
    /// `c_prev` (N, H).
    fn lstm_cell(
        gates: FloatTensor<Self>,
        hw: FloatTensor<Self>,
        c_prev: FloatTensor<Self>,
    ) -> LstmStep<Self> {
        composite_lstm_cell::<Self>(gates, hw, c_prev)
    }

    /// The step's backward from `dh` and the carried `dc` (N, H), its tape, `c` and `c_prev`.
    fn lstm_cell_backward(
        dh: FloatTensor<Self>,
        dc: FloatTensor<Self>,
        tape: FloatTensor<Self>,
        c: FloatTensor<Self>,
        c_prev: FloatTensor<Self>,
    ) -> LstmStepGrads<Self> {
        composite_lstm_cell_backward::<Self>(dh, dc, tape, c, c_prev)
    }
}

#[cfg(feature = "tch")]
impl CellKernels for burn::backend::LibTorch {}

impl CellKernels for Flex {
    fn gru_cell(
        gi: FlexTensor,
        hw: FlexTensor,
        b_hh: FlexTensor,
        h_prev: FlexTensor,
    ) -> GruStep<Flex> {
        if gi.dtype() != DType::F32 {
            return composite_gru_cell::<Flex>(gi, hw, b_hh, h_prev);
        }
        let [n, h] = h_prev.shape().dims::<2>();
        let (gi, hw, b_hh, h_prev) = (
            contiguous(gi),
            contiguous(hw),
            contiguous(b_hh),
            contiguous(h_prev),
        );
        let mut out = zeros_f32(Shape::new([n, h]));
        let mut tape = zeros_f32(Shape::new([n, 4 * h]));
        gru_cell_f32(
            f32s(&gi),
            f32s(&hw),
            f32s(&b_hh),
            f32s(&h_prev),
            out.storage_mut::<f32>(),
            tape.storage_mut::<f32>(),
            h,
        );
        (out, tape)
    }

    fn gru_cell_backward(
        dh: FlexTensor,
        tape: FlexTensor,
        h_prev: FlexTensor,
    ) -> GruStepGrads<Flex> {
        if dh.dtype() != DType::F32 {
            return composite_gru_cell_backward::<Flex>(dh, tape, h_prev);
        }
        let [n, h] = h_prev.shape().dims::<2>();
        let (dh, tape, h_prev) = (contiguous(dh), contiguous(tape), contiguous(h_prev));
        let mut dgi = zeros_f32(Shape::new([n, 3 * h]));
        let mut dhw = zeros_f32(Shape::new([n, 3 * h]));
        let mut dh_prev = zeros_f32(Shape::new([n, h]));
        gru_cell_backward_f32(
            f32s(&dh),
            f32s(&tape),
            f32s(&h_prev),
            dgi.storage_mut::<f32>(),
            dhw.storage_mut::<f32>(),
            dh_prev.storage_mut::<f32>(),
            h,
        );
        (dgi, dhw, dh_prev)
    }

    fn lstm_cell(gates: FlexTensor, hw: FlexTensor, c_prev: FlexTensor) -> LstmStep<Flex> {
        if gates.dtype() != DType::F32 {
            return composite_lstm_cell::<Flex>(gates, hw, c_prev);
        }
        let [n, h] = c_prev.shape().dims::<2>();
        let (gates, hw, c_prev) = (contiguous(gates), contiguous(hw), contiguous(c_prev));
        let mut out = zeros_f32(Shape::new([n, h]));
        let mut c = zeros_f32(Shape::new([n, h]));
        let mut tape = zeros_f32(Shape::new([n, 4 * h]));
        let (o, cs, t) = (
            out.storage_mut::<f32>(),
            c.storage_mut::<f32>(),
            tape.storage_mut::<f32>(),
        );
        let (gates, hw, c_prev) = (f32s(&gates), f32s(&hw), f32s(&c_prev));
        for_rows!(n * h, [o, h; cs, h; t, 4 * h], |(row, ((o, c), t))| {
            let (a, b) = (&gates[row * 4 * h..][..4 * h], &hw[row * 4 * h..][..4 * h]);
            let c_prev = &c_prev[row * h..][..h];
            let gate =
                |k: usize, j: usize, w: usize| load(a, k * h + j, w) + load(b, k * h + j, w);
            for (j, w) in lanes(h) {
                let (i, f) = (sigmoid(gate(0, j, w)), sigmoid(gate(1, j, w)));
                let (g, og) = (gate(2, j, w).tanh(), sigmoid(gate(3, j, w)));
                let cell = f * load(c_prev, j, w) + i * g;
                store(cell, c, j, w);
                store(og * cell.tanh(), o, j, w);
                for (k, v) in [i, f, g, og].into_iter().enumerate() {
                    store(v, t, k * h + j, w);
                }
            }
        });
        (out, c, tape)
    }

    fn lstm_cell_backward(
        dh: FlexTensor,
        dc: FlexTensor,
        tape: FlexTensor,
        c: FlexTensor,
        c_prev: FlexTensor,
    ) -> LstmStepGrads<Flex> {
        if dh.dtype() != DType::F32 {
            return composite_lstm_cell_backward::<Flex>(dh, dc, tape, c, c_prev);
        }
        let [n, h] = c.shape().dims::<2>();
        let (dh, dc, tape) = (contiguous(dh), contiguous(dc), contiguous(tape));
        let (c, c_prev) = (contiguous(c), contiguous(c_prev));
        let mut da = zeros_f32(Shape::new([n, 4 * h]));
        let mut dc_prev = zeros_f32(Shape::new([n, h]));
        let (dh, dc, tape, c, c_prev) =
            (f32s(&dh), f32s(&dc), f32s(&tape), f32s(&c), f32s(&c_prev));
        let (da_rows, dc_rows) = (da.storage_mut::<f32>(), dc_prev.storage_mut::<f32>());
        for_rows!(n * h, [da_rows, 4 * h; dc_rows, h], |(row, (da, dc_prev))| {
            let t = &tape[row * 4 * h..][..4 * h];
            let at = |v: &[f32], j: usize, w: usize| load(v, row * h + j, w);
            for (j, w) in lanes(h) {
                let [i, f, g, o] = [0, 1, 2, 3].map(|k| load(t, k * h + j, w));
                let tc = at(c, j, w).tanh();
                let d_h = at(dh, j, w);
                let d_c = at(dc, j, w) + d_h * o * (f32x8::ONE - tc * tc);
                store(d_c * g * i * (f32x8::ONE - i), da, j, w);
                let d_f = d_c * at(c_prev, j, w) * f * (f32x8::ONE - f);
                store(d_f, da, h + j, w);
                store(d_c * i * (f32x8::ONE - g * g), da, 2 * h + j, w);
                store(d_h * tc * o * (f32x8::ONE - o), da, 3 * h + j, w);
                store(d_c * f, dc_prev, j, w);
            }
        });
        (da, dc_prev)
    }
}

/// Eight lanes of `s` from `j` (the `n` < 8 left at a row's end padded with zeros).
fn load(s: &[f32], j: usize, n: usize) -> f32x8 {
    let mut lanes = [0f32; 8];
    lanes[..n].copy_from_slice(&s[j..j + n]);
    f32x8::from(lanes)
}

fn store(v: f32x8, d: &mut [f32], j: usize, n: usize) {
    d[j..j + n].copy_from_slice(&v.to_array()[..n]);
}

/// Lane offsets and widths over a row of `h` cells.
fn lanes(h: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..h).step_by(8).map(move |j| (j, (h - j).min(8)))
}

// libm's tanhf (through expm1f) took a fifth of a small-BiGRU run: these are wide's
// polynomial exp / tanh, eight lanes at a time
fn sigmoid(x: f32x8) -> f32x8 {
    f32x8::ONE / (f32x8::ONE + (-x).exp())
}

fn gru_cell_f32(
    gi: &[f32],
    hw: &[f32],
    b_hh: &[f32],
    h_prev: &[f32],
    out: &mut [f32],
    tape: &mut [f32],
    h: usize,
) {
    for_rows!(out.len(), [out, h; tape, 4 * h], |(row, (out, tape))| {
        let (gi, hw) = (&gi[row * 3 * h..][..3 * h], &hw[row * 3 * h..][..3 * h]);
        let h_prev = &h_prev[row * h..][..h];
        let (tr, rest) = tape.split_at_mut(h);
        let (tz, rest) = rest.split_at_mut(h);
        let (tn, thn) = rest.split_at_mut(h);
        for (j, w) in lanes(h) {
            let r = sigmoid(load(gi, j, w) + load(hw, j, w) + load(b_hh, j, w));
            let z = sigmoid(load(gi, h + j, w) + load(hw, h + j, w) + load(b_hh, h + j, w));
            let hn = load(hw, 2 * h + j, w) + load(b_hh, 2 * h + j, w);
            let cand = (load(gi, 2 * h + j, w) + r * hn).tanh();
            store(cand + z * (load(h_prev, j, w) - cand), out, j, w);
            store(r, tr, j, w);
            store(z, tz, j, w);
            store(cand, tn, j, w);
            store(hn, thn, j, w);
        }
    });
}

fn gru_cell_backward_f32(
    dh: &[f32],
    tape: &[f32],
    h_prev: &[f32],
    dgi: &mut [f32],
    dhw: &mut [f32],
    dh_prev: &mut [f32],
    h: usize,
) {
    for_rows!(dh_prev.len(), [dgi, 3 * h; dhw, 3 * h; dh_prev, h], |(row, ((dgi, dhw), dh_prev))| {
        let tape = &tape[row * 4 * h..][..4 * h];
        let (dh, h_prev) = (&dh[row * h..][..h], &h_prev[row * h..][..h]);
        for j in 0..h {
            let (r, z, cand, hn) = (tape[j], tape[h + j], tape[2 * h + j], tape[3 * h + j]);
            let d = dh[j];
            let d_cand = d * (1.0 - z) * (1.0 - cand * cand);
            let d_r = d_cand * hn * r * (1.0 - r);
            let d_z = d * (h_prev[j] - cand) * z * (1.0 - z);
            (dgi[j], dgi[h + j], dgi[2 * h + j]) = (d_r, d_z, d_cand);
            (dhw[j], dhw[h + j], dhw[2 * h + j]) = (d_r, d_z, d_cand * r);
            dh_prev[j] = d * z;
        }
    });
}

/// Columns `start..start + len` of an (N, C) tensor.
fn cols<B: Backend>(t: FloatTensor<B>, start: usize, len: usize) -> FloatTensor<B> {
    let n = t.shape().dims::<2>()[0];
    B::float_slice(t, &[Slice::from(0..n), Slice::from(start..start + len)])
}

fn one_minus<B: Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
    B::float_add_scalar(B::float_neg(t), 1.0.into())
}

fn composite_gru_cell<B: Backend>(
    gi: FloatTensor<B>,
    hw: FloatTensor<B>,
    b_hh: FloatTensor<B>,
    h_prev: FloatTensor<B>,
) -> GruStep<B> {
    let h = h_prev.shape().dims::<2>()[1];
    let gh = B::float_add(hw, B::float_reshape(b_hh, Shape::new([1, 3 * h])));
    let rz = B::sigmoid(B::float_add(
        cols::<B>(gi.clone(), 0, 2 * h),
        cols::<B>(gh.clone(), 0, 2 * h),
    ));
    let r = cols::<B>(rz.clone(), 0, h);
    let z = cols::<B>(rz.clone(), h, h);
    let hn = cols::<B>(gh, 2 * h, h);
    let cand = B::float_tanh(B::float_add(
        cols::<B>(gi, 2 * h, h),
        B::float_mul(r, hn.clone()),
    ));
    let out = B::float_add(
        cand.clone(),
        B::float_mul(z, B::float_sub(h_prev, cand.clone())),
    );
    (out, B::float_cat(vec![rz, cand, hn], 1))
}

fn composite_gru_cell_backward<B: Backend>(
    dh: FloatTensor<B>,
    tape: FloatTensor<B>,
    h_prev: FloatTensor<B>,
) -> GruStepGrads<B> {
    let h = h_prev.shape().dims::<2>()[1];
    let r = cols::<B>(tape.clone(), 0, h);
    let z = cols::<B>(tape.clone(), h, h);
    let cand = cols::<B>(tape.clone(), 2 * h, h);
    let hn = cols::<B>(tape, 3 * h, h);
    let d_cand = B::float_mul(
        B::float_mul(dh.clone(), one_minus::<B>(z.clone())),
        one_minus::<B>(B::float_mul(cand.clone(), cand.clone())),
    );
    let d_r = B::float_mul(
        B::float_mul(d_cand.clone(), hn),
        B::float_mul(r.clone(), one_minus::<B>(r.clone())),
    );
    let d_z = B::float_mul(
        B::float_mul(dh.clone(), B::float_sub(h_prev, cand)),
        B::float_mul(z.clone(), one_minus::<B>(z.clone())),
    );
    let dgi = B::float_cat(vec![d_r.clone(), d_z.clone(), d_cand.clone()], 1);
    let dhw = B::float_cat(vec![d_r, d_z, B::float_mul(d_cand, r)], 1);
    (dgi, dhw, B::float_mul(dh, z))
}

fn composite_lstm_cell<B: Backend>(
    gates: FloatTensor<B>,
    hw: FloatTensor<B>,
    c_prev: FloatTensor<B>,
) -> LstmStep<B> {
    let h = c_prev.shape().dims::<2>()[1];
    let a = B::float_add(gates, hw);
    let i = B::sigmoid(cols::<B>(a.clone(), 0, h));
    let f = B::sigmoid(cols::<B>(a.clone(), h, h));
    let g = B::float_tanh(cols::<B>(a.clone(), 2 * h, h));
    let o = B::sigmoid(cols::<B>(a, 3 * h, h));
    let c = B::float_add(
        B::float_mul(f.clone(), c_prev),
        B::float_mul(i.clone(), g.clone()),
    );
    let out = B::float_mul(o.clone(), B::float_tanh(c.clone()));
    (out, c, B::float_cat(vec![i, f, g, o], 1))
}

fn composite_lstm_cell_backward<B: Backend>(
    dh: FloatTensor<B>,
    dc: FloatTensor<B>,
    tape: FloatTensor<B>,
    c: FloatTensor<B>,
    c_prev: FloatTensor<B>,
) -> LstmStepGrads<B> {
    let h = c.shape().dims::<2>()[1];
    let gate = |k: usize| cols::<B>(tape.clone(), k * h, h);
    let (i, f, g, o) = (gate(0), gate(1), gate(2), gate(3));
    let sig_grad = |s: FloatTensor<B>| B::float_mul(s.clone(), one_minus::<B>(s));
    let tc = B::float_tanh(c);
    let d_c = B::float_add(
        dc,
        B::float_mul(
            B::float_mul(dh.clone(), o.clone()),
            one_minus::<B>(B::float_mul(tc.clone(), tc.clone())),
        ),
    );
    let da_i = B::float_mul(B::float_mul(d_c.clone(), g.clone()), sig_grad(i.clone()));
    let da_f = B::float_mul(B::float_mul(d_c.clone(), c_prev), sig_grad(f.clone()));
    let da_g = B::float_mul(
        B::float_mul(d_c.clone(), i),
        one_minus::<B>(B::float_mul(g.clone(), g)),
    );
    let da_o = B::float_mul(B::float_mul(dh, tc), sig_grad(o));
    (
        B::float_cat(vec![da_i, da_f, da_g, da_o], 1),
        B::float_mul(d_c, f),
    )
}
