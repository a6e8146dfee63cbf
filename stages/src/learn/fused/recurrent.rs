//! A GRU or LSTM layer (one direction) as one op: one GEMM projects the inputs of all steps,
//! one GEMM per step runs the recurrence, and the backward computes the weight gradients as
//! one GEMM over all T·N rows — where burn's graph of the composite cell records ~20 nodes per
//! step and writes full-size zero gradients for every `narrow`.

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, Slice, TensorMetadata, backend_extension};
use burn::prelude::*;

use super::cells::CellKernels;

#[backend_extension(Flex, LibTorch: cfg(feature = "tch"), Autodiff)]
pub trait RecurrentOps: Backend {
    /// GRU over `x` (T, N, I) with PyTorch's parameter layout transposed — `w_ih` (I, 3H),
    /// `w_hh` (H, 3H), biases (3H), gates r, z, n — from a zero state; `reverse` reads the
    /// steps backwards. Returns every step's state in time order, (T, N, H).
    fn gru_sequence(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_ih: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self>;

    /// LSTM over `x` (T, N, I), forward in time from zero states: `w_ih` (I, 4H), `w_hh`
    /// (H, 4H), biases (4H), gates i, f, g, o. Returns the outputs h, (T, N, H).
    fn lstm_sequence(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_ih: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// [`RecurrentOps::gru_sequence`] on tensors: `x` (T, N, I) → (T, N, H).
pub fn gru_sequence(
    x: Tensor<3>,
    w_ih: Tensor<2>,
    w_hh: Tensor<2>,
    b_ih: Tensor<1>,
    b_hh: Tensor<1>,
    reverse: bool,
) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as RecurrentOps>::gru_sequence(
        x.into_dispatch(),
        w_ih.into_dispatch(),
        w_hh.into_dispatch(),
        b_ih.into_dispatch(),
        b_hh.into_dispatch(),
        reverse,
    ))
}

/// [`RecurrentOps::lstm_sequence`] on tensors: `x` (T, N, I) → (T, N, H).
pub fn lstm_sequence(
    x: Tensor<3>,
    w_ih: Tensor<2>,
    w_hh: Tensor<2>,
    b_ih: Tensor<1>,
    b_hh: Tensor<1>,
) -> Tensor<3> {
    Tensor::from_dispatch(<Dispatch as RecurrentOps>::lstm_sequence(
        x.into_dispatch(),
        w_ih.into_dispatch(),
        w_hh.into_dispatch(),
        b_ih.into_dispatch(),
        b_hh.into_dispatch(),
    ))
}

/// The inner backends run the forward pass and drop its tape.
macro_rules! forward_only {
    ($backend:ty) => {
        impl RecurrentOps for $backend {
            fn gru_sequence(
                x: FloatTensor<Self>,
                w_ih: FloatTensor<Self>,
                w_hh: FloatTensor<Self>,
                b_ih: FloatTensor<Self>,
                b_hh: FloatTensor<Self>,
                reverse: bool,
            ) -> FloatTensor<Self> {
                gru_forward::<Self>(x, w_ih, w_hh, b_ih, b_hh, reverse).0
            }

            fn lstm_sequence(
                x: FloatTensor<Self>,
                w_ih: FloatTensor<Self>,
                w_hh: FloatTensor<Self>,
                b_ih: FloatTensor<Self>,
                b_hh: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                lstm_forward::<Self>(x, w_ih, w_hh, b_ih, b_hh).0
            }
        }
    };
}

forward_only!(Flex);
#[cfg(feature = "tch")]
forward_only!(burn::backend::LibTorch);

/// Time index of processing step `step` of `t`.
fn time_of(step: usize, t: usize, reverse: bool) -> usize {
    if reverse { t - 1 - step } else { step }
}

/// Frame `ti` of a (T, N, C) tensor as (N, C).
fn frame<B: Backend>(t3: FloatTensor<B>, ti: usize) -> FloatTensor<B> {
    let [_, n, c] = t3.shape().dims::<3>();
    B::float_reshape(
        B::float_slice(
            t3,
            &[
                Slice::from(ti..ti + 1),
                Slice::from(0..n),
                Slice::from(0..c),
            ],
        ),
        Shape::new([n, c]),
    )
}

/// x (T, N, I) · w (I, G) + bias (G) as (T, N, G): every step's input projection in one GEMM.
fn project<B: Backend>(
    x: FloatTensor<B>,
    w: FloatTensor<B>,
    bias: FloatTensor<B>,
) -> FloatTensor<B> {
    let [t, n, i] = x.shape().dims::<3>();
    let g = w.shape().dims::<2>()[1];
    let xw = B::float_matmul(B::float_reshape(x, Shape::new([t * n, i])), w);
    let projected = B::float_add(xw, B::float_reshape(bias, Shape::new([1, g])));
    B::float_reshape(projected, Shape::new([t, n, g]))
}

/// x (T, N, I) laid out row-major: the forward's and the backward's (T·N, I) views of it then
/// share one copy (a layer's input is usually a transposed view).
fn row_major<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let [t, n, i] = x.shape().dims::<3>();
    B::float_reshape(
        B::float_reshape(x, Shape::new([t * n, i])),
        Shape::new([t, n, i]),
    )
}

fn zeros<B: Backend>(like: &FloatTensor<B>, shape: [usize; 2]) -> FloatTensor<B> {
    B::float_zeros(Shape::new(shape), &like.device(), like.dtype().into())
}

/// Per-step (N, C) tensors in time order → (T, N, C) or, with `rows`, (T·N, C).
fn stack<B: Backend>(steps: Vec<Option<FloatTensor<B>>>, rows: bool) -> FloatTensor<B> {
    let steps = steps.into_iter().map(|s| s.expect("every step ran"));
    let steps: Vec<_> = if rows {
        steps.collect()
    } else {
        steps
            .map(|s| {
                let [n, c] = s.shape().dims::<2>();
                B::float_reshape(s, Shape::new([1, n, c]))
            })
            .collect()
    };
    B::float_cat(steps, 0)
}

fn unwrap_all<T>(steps: Vec<Option<T>>) -> Vec<T> {
    steps
        .into_iter()
        .map(|s| s.expect("every step ran"))
        .collect()
}

/// The GRU's forward pass: the states (T, N, H) and each step's tape in time order.
fn gru_forward<B: CellKernels>(
    x: FloatTensor<B>,
    w_ih: FloatTensor<B>,
    w_hh: FloatTensor<B>,
    b_ih: FloatTensor<B>,
    b_hh: FloatTensor<B>,
    reverse: bool,
) -> (FloatTensor<B>, Vec<FloatTensor<B>>) {
    let [t, n, _] = x.shape().dims::<3>();
    let h = w_hh.shape().dims::<2>()[0];
    let gi = project::<B>(x, w_ih, b_ih);
    let mut state = zeros::<B>(&gi, [n, h]);
    let mut states = vec![None; t];
    let mut tapes = vec![None; t];
    for step in 0..t {
        let ti = time_of(step, t, reverse);
        let hw = B::float_matmul(state.clone(), w_hh.clone());
        let (next, tape) = B::gru_cell(frame::<B>(gi.clone(), ti), hw, b_hh.clone(), state);
        states[ti] = Some(next.clone());
        tapes[ti] = Some(tape);
        state = next;
    }
    (stack::<B>(states, false), unwrap_all(tapes))
}

/// The LSTM's forward pass: the outputs (T, N, H), each step's cell state and tape.
fn lstm_forward<B: CellKernels>(
    x: FloatTensor<B>,
    w_ih: FloatTensor<B>,
    w_hh: FloatTensor<B>,
    b_ih: FloatTensor<B>,
    b_hh: FloatTensor<B>,
) -> (FloatTensor<B>, Vec<FloatTensor<B>>, Vec<FloatTensor<B>>) {
    let [t, n, _] = x.shape().dims::<3>();
    let h = w_hh.shape().dims::<2>()[0];
    let gates = project::<B>(x, w_ih, B::float_add(b_ih, b_hh));
    let mut state = zeros::<B>(&gates, [n, h]);
    let mut cell = zeros::<B>(&gates, [n, h]);
    let (mut states, mut cells, mut tapes) = (Vec::new(), Vec::new(), Vec::new());
    for ti in 0..t {
        let hw = B::float_matmul(state, w_hh.clone());
        let (next, c, tape) = B::lstm_cell(frame::<B>(gates.clone(), ti), hw, cell);
        states.push(Some(next.clone()));
        cells.push(c.clone());
        tapes.push(tape);
        (state, cell) = (next, c);
    }
    (stack::<B>(states, false), cells, tapes)
}

/// What both layers' backward passes need besides their cells.
#[derive(Clone, Debug)]
struct LayerInputs<B: Backend> {
    x: FloatTensor<B>,
    w_ih: FloatTensor<B>,
    w_hh: FloatTensor<B>,
    /// The layer's outputs (T, N, H): each step's starting state is its neighbour's.
    states: FloatTensor<B>,
}

impl<B: Backend> LayerInputs<B> {
    /// A zero (N, H) state (or its gradient).
    fn zero_state(&self) -> FloatTensor<B> {
        let [_, n, h] = self.states.shape().dims::<3>();
        zeros::<B>(&self.x, [n, h])
    }

    /// Every step's starting state in time order as (T·N, H) rows: the outputs shifted by
    /// one step, a zero state where the recurrence began.
    fn states_before(&self, reverse: bool) -> FloatTensor<B> {
        let [t, n, h] = self.states.shape().dims::<3>();
        let zero = B::float_reshape(self.zero_state(), Shape::new([1, n, h]));
        let steps = |range: std::ops::Range<usize>| {
            let all = [Slice::from(range), Slice::from(0..n), Slice::from(0..h)];
            B::float_slice(self.states.clone(), &all)
        };
        let parts = match (t, reverse) {
            (1, _) => vec![zero],
            (_, false) => vec![zero, steps(0..t - 1)],
            (_, true) => vec![steps(1..t), zero],
        };
        B::float_reshape(B::float_cat(parts, 0), Shape::new([t * n, h]))
    }

    /// The state step `ti` started from.
    fn state_before(&self, ti: usize, reverse: bool) -> FloatTensor<B> {
        let t = self.states.shape().dims::<3>()[0];
        match (reverse, ti) {
            (false, 0) => self.zero_state(),
            (true, ti) if ti + 1 == t => self.zero_state(),
            (false, ti) => frame::<B>(self.states.clone(), ti - 1),
            (true, ti) => frame::<B>(self.states.clone(), ti + 1),
        }
    }

    /// Registers the gradients of x, W_ih, W_hh, b_ih and b_hh from those of the input
    /// projections `d_gi` and the hidden projections `d_hw` (T·N rows each); `reverse`
    /// says which states the steps started from.
    fn register(
        &self,
        parents: [Option<NodeId>; 5],
        grads: &mut Gradients,
        d_gi: FloatTensor<B>,
        d_hw: FloatTensor<B>,
        reverse: bool,
    ) {
        let [x_id, w_ih_id, w_hh_id, b_ih_id, b_hh_id] = parents;
        let [t, n, i] = self.x.shape().dims::<3>();
        if let Some(node) = x_id {
            let dx = B::float_matmul(d_gi.clone(), B::float_transpose(self.w_ih.clone()));
            grads.register::<B>(node, B::float_reshape(dx, Shape::new([t, n, i])));
        }
        if let Some(node) = w_ih_id {
            let x = B::float_transpose(B::float_reshape(self.x.clone(), Shape::new([t * n, i])));
            grads.register::<B>(node, B::float_matmul(x, d_gi.clone()));
        }
        if let Some(node) = w_hh_id {
            let h_prev = self.states_before(reverse);
            let dw = B::float_matmul(B::float_transpose(h_prev), d_hw.clone());
            grads.register::<B>(node, dw);
        }
        let bias_grad = |d: FloatTensor<B>| {
            let g = d.shape().dims::<2>()[1];
            B::float_reshape(B::float_sum_dim(d, 0), Shape::new([g]))
        };
        if let Some(node) = b_ih_id {
            grads.register::<B>(node, bias_grad(d_gi));
        }
        if let Some(node) = b_hh_id {
            grads.register::<B>(node, bias_grad(d_hw));
        }
    }
}

#[derive(Debug)]
struct GruBackward;

#[derive(Clone, Debug)]
struct GruTape<B: Backend> {
    layer: LayerInputs<B>,
    steps: Vec<FloatTensor<B>>,
    reverse: bool,
}

impl<B: CellKernels> Backward<B, 5> for GruBackward {
    type State = GruTape<B>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let d_states = grads.consume::<B>(&ops.node);
        let GruTape {
            layer,
            steps,
            reverse,
        } = ops.state;
        let t = steps.len();
        let w_hh_t = B::float_transpose(layer.w_hh.clone());
        let mut d_state = layer.zero_state();
        let (mut d_gi, mut d_hw) = (vec![None; t], vec![None; t]);
        // each step's tape is freed once used, while the gradients' rows pile up
        let mut steps: Vec<_> = steps.into_iter().map(Some).collect();
        for step in (0..t).rev() {
            let ti = time_of(step, t, reverse);
            let dh = B::float_add(d_state, frame::<B>(d_states.clone(), ti));
            let before = layer.state_before(ti, reverse);
            let tape = steps[ti].take().expect("each step once");
            let (dgi, dhw, dh_direct) = B::gru_cell_backward(dh, tape, before);
            d_state = B::float_add(dh_direct, B::float_matmul(dhw.clone(), w_hh_t.clone()));
            (d_gi[ti], d_hw[ti]) = (Some(dgi), Some(dhw));
        }
        let (d_gi, d_hw) = (stack::<B>(d_gi, true), stack::<B>(d_hw, true));
        let parents = ops.parents.map(|p| p.map(|node| node.id));
        layer.register(parents, grads, d_gi, d_hw, reverse);
    }
}

#[derive(Debug)]
struct LstmBackward;

#[derive(Clone, Debug)]
struct LstmTape<B: Backend> {
    layer: LayerInputs<B>,
    cells: Vec<FloatTensor<B>>,
    steps: Vec<FloatTensor<B>>,
}

impl<B: CellKernels> Backward<B, 5> for LstmBackward {
    type State = LstmTape<B>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let d_states = grads.consume::<B>(&ops.node);
        let LstmTape {
            layer,
            cells,
            steps,
        } = ops.state;
        let t = steps.len();
        let w_hh_t = B::float_transpose(layer.w_hh.clone());
        let (mut d_state, mut d_cell) = (layer.zero_state(), layer.zero_state());
        let mut d_a = vec![None; t];
        // each step's tape and cell state are freed once used
        let mut steps: Vec<_> = steps.into_iter().map(Some).collect();
        let mut cells: Vec<_> = cells.into_iter().map(Some).collect();
        for ti in (0..t).rev() {
            let dh = B::float_add(d_state, frame::<B>(d_states.clone(), ti));
            let c_prev = match ti {
                0 => layer.zero_state(),
                ti => cells[ti - 1].clone().expect("not yet used"),
            };
            let tape = steps[ti].take().expect("each step once");
            let cell = cells[ti].take().expect("each step once");
            let (da, dc_prev) = B::lstm_cell_backward(dh, d_cell, tape, cell, c_prev);
            d_state = B::float_matmul(da.clone(), w_hh_t.clone());
            d_cell = dc_prev;
            d_a[ti] = Some(da);
        }
        let d_a = stack::<B>(d_a, true);
        let parents = ops.parents.map(|p| p.map(|node| node.id));
        layer.register(parents, grads, d_a.clone(), d_a, false);
    }
}

/// A layer's inputs (x, W_ih, W_hh, b_ih, b_hh) as the inner backend's tensors — x
/// row-major — and the guards of their autodiff nodes.
fn split<B: Backend, C: CheckpointStrategy>(
    inputs: [FloatTensor<Autodiff<B, C>>; 5],
) -> ([FloatTensor<B>; 5], [NodeGuard; 5]) {
    let [x, w_ih, w_hh, b_ih, b_hh] = inputs.map(|t| t.into_parts());
    let x = (row_major::<B>(x.0), x.1);
    let [(x, gx), (w_ih, g1), (w_hh, g2), (b_ih, g3), (b_hh, g4)] = [x, w_ih, w_hh, b_ih, b_hh];
    ([x, w_ih, w_hh, b_ih, b_hh], [gx, g1, g2, g3, g4])
}

impl<B: RecurrentOps + CellKernels, C: CheckpointStrategy> RecurrentOps for Autodiff<B, C> {
    fn gru_sequence(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_ih: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self> {
        let ([x, w_ih, w_hh, b_ih, b_hh], guards) = split::<B, C>([x, w_ih, w_hh, b_ih, b_hh]);
        match GruBackward.prepare::<C>(guards).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (states, steps) =
                    gru_forward::<B>(x.clone(), w_ih.clone(), w_hh.clone(), b_ih, b_hh, reverse);
                let layer = LayerInputs {
                    x,
                    w_ih,
                    w_hh,
                    states: states.clone(),
                };
                prep.finish(
                    GruTape {
                        layer,
                        steps,
                        reverse,
                    },
                    states,
                )
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::gru_sequence(x, w_ih, w_hh, b_ih, b_hh, reverse))
            }
        }
    }

    fn lstm_sequence(
        x: FloatTensor<Self>,
        w_ih: FloatTensor<Self>,
        w_hh: FloatTensor<Self>,
        b_ih: FloatTensor<Self>,
        b_hh: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let ([x, w_ih, w_hh, b_ih, b_hh], guards) = split::<B, C>([x, w_ih, w_hh, b_ih, b_hh]);
        match LstmBackward.prepare::<C>(guards).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (states, cells, steps) =
                    lstm_forward::<B>(x.clone(), w_ih.clone(), w_hh.clone(), b_ih, b_hh);
                let layer = LayerInputs {
                    x,
                    w_ih,
                    w_hh,
                    states: states.clone(),
                };
                prep.finish(
                    LstmTape {
                        layer,
                        cells,
                        steps,
                    },
                    states,
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(B::lstm_sequence(x, w_ih, w_hh, b_ih, b_hh)),
        }
    }
}
