//! Building blocks shared by the contrastive methods (MoCo v2, AS-CAL, ActCLR, A2MC):
//! queues, momentum (EMA) encoders, similarity distributions, InfoNCE, KL to a teacher,
//! gradients w.r.t. inputs, memory banks updated by hand-written gradients.

use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{log_softmax, softmax};

use crate::StageError;
use crate::learn::encoders::{Encoder, is_running_stat};
pub use crate::learn::losses::{cross_entropy, l2_normalize};
use crate::learn::method::{
    MethodSetup, load_matrix, load_module, load_optim, save_matrix, save_module, save_optim,
};

/// Cross-entropy with the positive at column 0 (MoCo's `labels = zeros`).
pub fn cross_entropy_first(logits: Tensor<2>) -> Tensor<1> {
    let n = logits.dims()[0];
    log_softmax(logits, 1).slice(s![0..n, 0..1]).mean().neg()
}

/// Similarities of queries (N, D) to a bank of keys (K, D): (N, K).
pub fn similarity(q: Tensor<2>, bank: Tensor<2>) -> Tensor<2> {
    q.matmul(bank.transpose())
}

/// MoCo logits `[q·k⁺, q·queue] / t` (N, 1+K); positives at column 0.
pub fn moco_logits(q: Tensor<2>, k: Tensor<2>, queue: Tensor<2>, t: f64) -> Tensor<2> {
    let l_pos = (q.clone() * k).sum_dim(1);
    let l_neg = similarity(q, queue);
    Tensor::cat(vec![l_pos, l_neg], 1) / t
}

/// InfoNCE of normalised queries and keys against a queue of negatives.
pub fn info_nce(q: Tensor<2>, k: Tensor<2>, queue: Tensor<2>, t: f64) -> Tensor<1> {
    cross_entropy_first(moco_logits(q, k, queue, t))
}

/// `KL(softmax(teacher/t_teacher) ‖ softmax(student/t_student))`, batch mean — what
/// `F.kl_div(log_softmax(s/ts), softmax(t/tt), reduction='batchmean')` computes (CMD,
/// ActCLR). The teacher is detached.
pub fn kl_to_teacher(
    student: Tensor<2>,
    teacher: Tensor<2>,
    t_student: f64,
    t_teacher: f64,
) -> Tensor<1> {
    let n = student.dims()[0] as f64;
    let p = softmax(teacher.detach() / t_teacher, 1);
    let log_p = p.clone().clamp_min(1e-30).log();
    let log_q = log_softmax(student / t_student, 1);
    (p * (log_p - log_q)).sum() / n
}

/// A FIFO queue of keys (K, D), as MoCo's `queue` buffer (stored row-wise).
#[derive(Clone, Debug)]
pub struct Queue {
    pub keys: Tensor<2>,
    pub ptr: usize,
}

impl Queue {
    /// K random unit vectors (MoCo: randn, normalised).
    pub fn random(k: usize, d: usize, device: &Device) -> Queue {
        let keys = l2_normalize(
            Tensor::<2>::random([k, d], Distribution::Normal(0.0, 1.0), device),
            1,
        );
        Queue {
            keys: keys.detach(),
            ptr: 0,
        }
    }
    pub fn len(&self) -> usize {
        self.keys.dims()[0]
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Replace the oldest rows with `k` (N, D), wrapping around the end.
    pub fn enqueue(&mut self, k: Tensor<2>) {
        let [n, d] = k.dims();
        let cap = self.len();
        let k = k.detach();
        let mut done = 0;
        while done < n {
            let take = (cap - self.ptr).min(n - done);
            let part = k.clone().slice(s![done..done + take, 0..d]);
            self.keys = self
                .keys
                .clone()
                .slice_assign(s![self.ptr..self.ptr + take, 0..d], part);
            self.ptr = (self.ptr + take) % cap;
            done += take;
        }
    }
    pub fn to_vec(&self) -> Vec<f32> {
        self.keys
            .clone()
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 queue")
    }
    pub fn from_vec(data: Vec<f32>, k: usize, d: usize, ptr: usize, device: &Device) -> Queue {
        Queue {
            keys: Tensor::from_data(TensorData::new(data, [k, d]), device),
            ptr,
        }
    }
}

/// Saves what a momentum-contrast method (query and key encoders, optimiser, queue of keys)
/// resumes from: `encoder_q.bpk`, `encoder_k.bpk`, `optim.bpk` and the queue with its pointer.
pub fn save_momentum_state(
    dir: &Path,
    q: &Encoder,
    k: &Encoder,
    optim: &ModuleOptimizer,
    queue: &Queue,
) -> Result<(), StageError> {
    save_module(q, &dir.join("encoder_q.bpk"))?;
    save_module(k, &dir.join("encoder_k.bpk"))?;
    save_optim(optim, &dir.join("optim.bpk"))?;
    save_matrix(
        dir,
        "queue",
        &queue.keys,
        serde_json::json!({"ptr": queue.ptr}),
    )
}

/// Restores what [`save_momentum_state`] wrote (the key encoder without gradients).
/// `Method::encoder`, `save` and `load` of a method whose whole state is a query encoder
/// `q`, a key encoder `k`, an optimiser `optim` and a `queue` (MoCo, AimCLR, AS-CAL).
macro_rules! momentum_state_methods {
    () => {
        fn encoder(&self) -> &$crate::learn::encoders::Encoder {
            &self.q
        }

        fn save(&self, dir: &std::path::Path) -> Result<(), $crate::StageError> {
            $crate::methods::blocks::save_momentum_state(
                dir,
                &self.q,
                &self.k,
                &self.optim,
                &self.queue,
            )
        }

        fn load(&mut self, dir: &std::path::Path) -> Result<(), $crate::StageError> {
            $crate::methods::blocks::load_momentum_state(
                dir,
                &mut self.q,
                &mut self.k,
                &mut self.optim,
                &mut self.queue,
            )
        }
    };
}
pub(crate) use momentum_state_methods;

pub fn load_momentum_state(
    dir: &Path,
    q: &mut Encoder,
    k: &mut Encoder,
    optim: &mut ModuleOptimizer,
    queue: &mut Queue,
) -> Result<(), StageError> {
    *q = load_module(q.clone(), &dir.join("encoder_q.bpk"))?;
    *k = load_module(k.clone(), &dir.join("encoder_k.bpk"))?.no_grad();
    *optim = load_optim(optim.clone(), &dir.join("optim.bpk"))?;
    let (keys, header) = load_matrix(dir, "queue", &queue.keys.device())?;
    *queue = Queue {
        keys,
        ptr: header["ptr"].as_u64().unwrap_or(0) as usize,
    };
    Ok(())
}

struct Collect {
    path: Vec<String>,
    out: Vec<Tensor<1>>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
        if !is_running_stat(&self.path) {
            let t = p.val().detach();
            let n = t.shape().num_elements();
            self.out.push(t.reshape([n]));
        }
    }
}

struct Ema {
    path: Vec<String>,
    online: std::vec::IntoIter<Tensor<1>>,
    m: f64,
}

impl ModuleMapper for Ema {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, p: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if is_running_stat(&self.path) {
            return p; // buffers are the key encoder's own, as in MoCo
        }
        let src = self
            .online
            .next()
            .expect("EMA: target and online modules differ in structure");
        let m = self.m;
        p.map(|t| {
            let s: Tensor<D> = src.reshape(t.shape());
            (t.detach() * m + s * (1.0 - m)).detach()
        })
    }
}

/// A copy of `m` that shares nothing with it, written into `fresh` (a module of the same
/// structure, e.g. a newly initialised one). burn's `clone` shares BatchNorm running
/// statistics (`RunningState` holds them behind an `Arc`), so a key encoder made as
/// `q.clone()` would write its own batch statistics into the query encoder's (the exported
/// one's) running statistics; PyTorch's `encoder_k` has its own buffers. Read through
/// `valid()`, which applies a pending running-statistics update (see `save_module`).
pub fn detached_copy<M: Module>(m: &M, fresh: M) -> M {
    fresh.load_record(m.valid().into_record())
}

/// A momentum method's key encoder: `q` copied with BatchNorm buffers of its own (as
/// PyTorch's `encoder_k`, see [`detached_copy`]), frozen — it moves by [`ema_update`] only.
pub fn key_encoder(q: &Encoder, setup: &MethodSetup) -> Encoder {
    detached_copy(q, setup.encoder.init(setup.device)).no_grad()
}

/// `θ_target ← m·θ_target + (1-m)·θ_online` over parameters (not BN running statistics).
pub fn ema_update<M: Module>(target: M, online: &M, m: f64) -> M {
    let mut c = Collect {
        path: Vec::new(),
        out: Vec::new(),
    };
    online.visit(&mut c);
    target.map(&mut Ema {
        path: Vec::new(),
        online: c.out.into_iter(),
        m,
    })
}

/// The gradient of `f(x)` w.r.t. the input `x` (for attacks such as A2MC's Att-Aug). `x`
/// must live on an autodiff device; freeze the model first (`Module::no_grad`) when its
/// parameter gradients are not wanted.
pub fn input_grad<const D: usize>(
    x: Tensor<D>,
    f: impl FnOnce(Tensor<D>) -> Tensor<1>,
) -> Tensor<D> {
    let x = x.detach().require_grad();
    let loss = f(x.clone());
    let grads = loss.backward();
    x.grad(&grads).expect("x takes part in f").detach()
}

/// A bank of vectors (D, K) updated by an explicit gradient with SGD momentum and weight
/// decay, without autograd (AdCo/A2MC adversarial negatives).
#[derive(Clone, Debug)]
pub struct MemoryBank {
    pub w: Tensor<2>,
    pub v: Tensor<2>,
}

impl MemoryBank {
    pub fn random(d: usize, k: usize, device: &Device) -> MemoryBank {
        MemoryBank {
            w: Tensor::random([d, k], Distribution::Normal(0.0, 1.0), device),
            v: Tensor::zeros([d, k], device),
        }
    }
    /// `v = momentum·v + g + wd·W; W = W - lr·v` with a caller-computed gradient `g`.
    pub fn step(&mut self, g: Tensor<2>, lr: f64, momentum: f64, wd: f64) {
        self.v = (self.v.clone() * momentum + g.detach() + self.w.clone() * wd).detach();
        self.w = (self.w.clone() - self.v.clone() * lr).detach();
    }
    /// Columns normalised to unit length.
    pub fn normalized(&self) -> Tensor<2> {
        l2_normalize(self.w.clone(), 0)
    }
}

/// Class logits of a frozen encoder and a head: `head(features(x))`. Freeze with
/// `Module::no_grad()` first; `x` may require grad (attacks take d logits / d x).
pub fn frozen_head_logits(encoder: &Encoder, head: &nn::Linear, x: Tensor<5>) -> Tensor<2> {
    head.forward(encoder.features(x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::LinearConfig;

    fn t2(v: Vec<f32>, s: [usize; 2], d: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, s), d)
    }

    #[test]
    fn queue_is_fifo_and_wraps() {
        let d = Device::flex();
        let mut q = Queue::from_vec(vec![0.0; 5 * 2], 5, 2, 0, &d);
        q.enqueue(t2(vec![1., 1., 2., 2., 3., 3.], [3, 2], &d));
        assert_eq!(q.ptr, 3);
        q.enqueue(t2(vec![4., 4., 5., 5., 6., 6.], [3, 2], &d));
        assert_eq!(q.ptr, 1);
        assert_eq!(q.to_vec(), vec![6., 6., 2., 2., 3., 3., 4., 4., 5., 5.]);
    }

    #[test]
    fn info_nce_and_kl_by_hand() {
        let d = Device::flex();
        let q = t2(vec![1.0, 0.0], [1, 2], &d);
        let k = t2(vec![1.0, 0.0], [1, 2], &d);
        let queue = t2(vec![0.0, 1.0, -1.0, 0.0], [2, 2], &d);
        // logits [1, 0, -1] / 0.5 → -log softmax[0] = log(1 + e^-2 + e^-4)
        let l = info_nce(q, k, queue, 0.5).into_scalar::<f32>();
        let want = (1.0f32 + (-2.0f32).exp() + (-4.0f32).exp()).ln();
        assert!((l - want).abs() < 1e-5, "{l} vs {want}");
        // KL(p || q) with p = softmax([0, ln 3]) = [.25, .75], q = uniform: .25 ln .5 + .75 ln 1.5
        let teacher = t2(vec![0.0, 3f32.ln()], [1, 2], &d);
        let student = t2(vec![0.3, 0.3], [1, 2], &d);
        let kl = kl_to_teacher(student, teacher, 1.0, 1.0).into_scalar::<f32>();
        let want = 0.25 * 0.5f32.ln() + 0.75 * 1.5f32.ln();
        assert!((kl - want).abs() < 1e-5, "{kl} vs {want}");
    }

    #[test]
    fn ema_moves_parameters_not_running_stats() {
        let d = Device::flex().autodiff();
        let online = LinearConfig::new(2, 2).init(&d);
        let target = LinearConfig::new(2, 2).init(&d);
        let before = target
            .weight
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let on = online
            .weight
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let after = ema_update(target, &online, 0.9)
            .weight
            .val()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        for i in 0..4 {
            assert!((after[i] - (0.9 * before[i] + 0.1 * on[i])).abs() < 1e-6);
        }
    }

    #[test]
    fn input_gradient_of_a_frozen_model() {
        let d = Device::flex().autodiff();
        let head = LinearConfig::new(3, 1).init(&d).no_grad();
        let x = t2(vec![1.0, 2.0, 3.0], [1, 3], &d);
        let g = input_grad(x, |x| head.forward(x).sum());
        let w = head.weight.val().into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(g.into_data().try_into_vec::<f32>().unwrap(), w);
    }

    #[test]
    fn memory_bank_steps_by_the_given_gradient() {
        let d = Device::flex();
        let mut m = MemoryBank {
            w: t2(vec![1.0, 2.0], [1, 2], &d),
            v: t2(vec![0.0, 0.0], [1, 2], &d),
        };
        m.step(t2(vec![1.0, -1.0], [1, 2], &d), 0.5, 0.9, 0.0);
        assert_eq!(
            m.w.into_data().try_into_vec::<f32>().unwrap(),
            vec![0.5, 2.5]
        );
    }
}
