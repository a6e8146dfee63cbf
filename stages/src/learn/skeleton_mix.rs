//! ActCLR's batch-level skeleton transforms (ML-FACTS §5.4, "View 2" and "View 3"):
//! `ske_trans` (rescale each sample towards a partner sample of the batch) and `ske_swap`
//! (paste / interpolate / mix a partner's body parts into each sample).
//!
//! Both mix samples across a batch, so they work on a batch of [`Clip`]s (each
//! (C, T, V, M)) rather than being [`super::augment::Aug`] variants. They return the
//! partner indices and masks as plain data for an ActCLR method to use (`_mask_pool`,
//! `k[randidx]`).
//!
//! Reference: `net/actclr.py` of LanglandsLin/ActCLR (`actclr.ske_trans`,
//! `actclr.ske_swap`, module-level `body_parts`). The reference draws the partner shift
//! from torch's RNG and everything else from Python's `random`; here every draw comes from
//! the one `ChaCha8Rng` given, in the reference's order (shift, Cs, parts, Ct, tem_idx, p,
//! λ). The distributions match; the streams do not.
//!
//! The functions are pure: they never modify their input. Note that the reference's
//! joint-mode `ske_trans` modifies `im_p` *in place* and returns it, so in joint mode the
//! reference's View 3 (`ske_swap(im_p)`) and `pm` are computed from the *transformed*
//! clips; a faithful ActCLR method must pass the `ske_trans` output on in joint mode
//! (and the untransformed clips in motion/bone modes).

use rand::Rng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

use super::augment::Clip;
use crate::data::skeleton::{BONE_PARENT, NUM_JOINTS};

/// ActCLR's `body_parts` (0-based), from `net/actclr.py` of LanglandsLin/ActCLR:
/// `trunk_ori_index = [4, 3, 21, 2, 1]`, `left_hand_ori_index = [9, 10, 11, 12, 24, 25]`,
/// `right_hand_ori_index = [5, 6, 7, 8, 22, 23]`, `left_leg_ori_index = [17, 18, 19, 20]`,
/// `right_leg_ori_index = [13, 14, 15, 16]` (1-based there; the left/right names are
/// swapped relative to NTU naming, ML-FACTS §5.3). The five parts cover all 25 joints once.
pub const BODY_PARTS: [&[usize]; 5] = [
    &[3, 2, 20, 1, 0],
    &[8, 9, 10, 11, 23, 24],
    &[4, 5, 6, 7, 21, 22],
    &[16, 17, 18, 19],
    &[12, 13, 14, 15],
];

/// `tem_downsample_ratio`: the ST-GCN encoder's temporal stride (50 frames → 13 steps).
pub const TEM_DOWNSAMPLE: usize = 4;

/// The reference's `torch.randint(1, N - 1, (1,))`: n uniform in [1, N-2] (the high end
/// is exclusive), so that `(i + n) % N` is never `i`.
///
/// For N < 3 the reference raises (`randint` with an empty range). Here N = 2 gives
/// n = 1 (the only partner that is not the sample itself) and N ≤ 1 gives n = 0 (the
/// sample is its own partner); neither draws from `rng`.
pub fn partner_shift(n: usize, rng: &mut ChaCha8Rng) -> usize {
    match n {
        0 | 1 => 0,
        2 => 1,
        _ => rng.random_range(1..=n - 2),
    }
}

/// `randidx = (arange(N) + shift) % N`.
pub fn cyclic_partners(n: usize, shift: usize) -> Vec<usize> {
    (0..n).map(|i| (i + shift) % n.max(1)).collect()
}

/// Draw a shift with [`partner_shift`] and return the cyclic partner indices.
pub fn draw_partners(n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let shift = partner_shift(n, rng);
    cyclic_partners(n, shift)
}

/// The order in which joint mode rebuilds the skeleton: a topological order of the bone
/// tree of `BONE_PAIRS_1BASED` (`bone[v] = x[v] - x[BONE_PARENT[v]]`), derived rather than
/// taken from list order (that list is sorted by joint, so e.g. J1 → J2 comes before
/// J2 → J21). Breadth-first from the root J21 (index 20, the joint that is its own
/// parent), children in increasing joint index, so every joint comes after its parent.
///
/// The reference iterates its own `Bone` list `(21,21),(2,21),(3,21),(9,21),(5,21),(1,2),
/// …`, which is also root-to-leaf. Any topological order gives the same result, because
/// each joint depends only on its (already rebuilt) parent and on bones of the unmodified
/// input: `x'[v] = x[root] + Σ_{bones u on the path root→v} ratio_u · b[u]`.
pub fn rebuild_order() -> [usize; NUM_JOINTS] {
    let root = (0..NUM_JOINTS)
        .find(|&v| BONE_PARENT[v] == v)
        .expect("the bone tree has a root");
    let mut order = [root; NUM_JOINTS];
    let mut len = 1;
    let mut head = 0;
    while head < len {
        let p = order[head];
        head += 1;
        for (v, &parent) in BONE_PARENT.iter().enumerate() {
            if v != p && parent == p {
                order[len] = v;
                len += 1;
            }
        }
    }
    assert_eq!(len, NUM_JOINTS, "the bone pairs do not form one tree");
    order
}

/// Which `ske_trans` the reference applies; in ActCLR it is the model's `mode`, i.e. the
/// input stream (the views reach the model already converted to that stream).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TransMode {
    /// Rescale every bone of sample i to the partner's bone length (current code).
    Joint,
    /// Joint mode with the ratio raised to `100/(epoch+400)`, as the older bundled code
    /// did. Only the exponent is taken over: the norm stays over C (the old code summed
    /// over M, which is not reproduced).
    JointAnnealed { epoch: usize },
    /// AdaIN-like: partner's per-frame joint mean and per-joint temporal std.
    Motion,
    /// Per-vector norm over C taken from the partner.
    Bone,
}

/// `ske_trans`: draw the cyclic partners (`randidx`), then transform each clip towards
/// its partner. Returns `(randidx, transformed clips)`.
pub fn ske_trans(clips: &[Clip], mode: TransMode, rng: &mut ChaCha8Rng) -> (Vec<usize>, Vec<Clip>) {
    let partners = draw_partners(clips.len(), rng);
    let out = ske_trans_with(clips, mode, &partners);
    (partners, out)
}

/// `ske_trans` with given partners: `out[i] = f(clips[i], clips[partners[i]])`.
pub fn ske_trans_with(clips: &[Clip], mode: TransMode, partners: &[usize]) -> Vec<Clip> {
    assert_eq!(clips.len(), partners.len(), "one partner per clip");
    clips
        .iter()
        .zip(partners)
        .map(|(x, &j)| {
            let p = &clips[j];
            match mode {
                TransMode::Joint => joint_rescale(x, p, 1.0),
                TransMode::JointAnnealed { epoch } => {
                    joint_rescale(x, p, 100.0 / (epoch as f32 + 400.0))
                }
                TransMode::Motion => motion_adain(x, p),
                TransMode::Bone => bone_rescale(x, p),
            }
        })
        .collect()
}

fn same_shape(a: &Clip, b: &Clip) {
    assert!(
        a.c == b.c && a.t == b.t && a.v == b.v && a.m == b.m,
        "batch clips must share (C, T, V, M)"
    );
}

/// Joint mode for one sample: with bones `b = x[v] - x[parent(v)]` of the unmodified
/// own clip `x` and partner `p`, rebuild in [`rebuild_order`]
/// `x'[v] = x'[parent] + b_x[v] · (√(Σ_c b_p[v]² + 1e-5) / √(Σ_c b_x[v]² + 1e-5))^exponent`
/// per frame and person. The root (J21) is unchanged. `exponent` is 1 in the current code.
pub fn joint_rescale(x: &Clip, p: &Clip, exponent: f32) -> Clip {
    same_shape(x, p);
    assert_eq!(
        x.v, NUM_JOINTS,
        "joint mode needs the 25-joint NTU skeleton"
    );
    let order = rebuild_order();
    let mut out = x.clone();
    let mut b = vec![0f32; x.c];
    for t in 0..x.t {
        for m in 0..x.m {
            for &v in &order {
                let par = BONE_PARENT[v];
                if par == v {
                    continue; // root: its bone is 0 and the ratio 1, x'[root] = x[root]
                }
                let (mut own, mut other) = (0f32, 0f32);
                for (c, bc) in b.iter_mut().enumerate() {
                    *bc = x.at(c, t, v, m) - x.at(c, t, par, m);
                    let pc = p.at(c, t, v, m) - p.at(c, t, par, m);
                    own += *bc * *bc;
                    other += pc * pc;
                }
                let mut ratio = (other + 1e-5).sqrt() / (own + 1e-5).sqrt();
                if exponent != 1.0 {
                    ratio = ratio.powf(exponent);
                }
                for (c, bc) in b.iter().enumerate() {
                    let base = out.at(c, t, par, m);
                    let i = out.idx(c, t, v, m);
                    out.data[i] = base + bc * ratio;
                }
            }
        }
    }
    out
}

/// Per (c, t, m): the mean over V; per (c, v, m): the unbiased (n-1) std over T.
fn mean_v_std_t(x: &Clip) -> (Vec<f32>, Vec<f32>) {
    let mut mean = vec![0f32; x.c * x.t * x.m];
    let mut std = vec![0f32; x.c * x.v * x.m];
    for c in 0..x.c {
        for t in 0..x.t {
            for m in 0..x.m {
                let s: f32 = (0..x.v).map(|v| x.at(c, t, v, m)).sum();
                mean[(c * x.t + t) * x.m + m] = s / x.v as f32;
            }
        }
        for v in 0..x.v {
            for m in 0..x.m {
                let mu = (0..x.t).map(|t| x.at(c, t, v, m)).sum::<f32>() / x.t as f32;
                let ss: f32 = (0..x.t).map(|t| (x.at(c, t, v, m) - mu).powi(2)).sum();
                std[(c * x.v + v) * x.m + m] = (ss / (x.t - 1) as f32).sqrt();
            }
        }
    }
    (mean, std)
}

/// Motion mode for one sample, literally as coded on (N, C, T, V, M):
/// `(x - x.mean(dim=3)) / (x.std(dim=2) + 1e-3) · p.std(dim=2) + p.mean(dim=3)`,
/// i.e. the **mean is over V (joints)**, per (c, t, m), and the **std is over T
/// (frames)**, per (c, v, m). ML-FACTS writes `mean_V` / `std_T`; the axes are mixed, so
/// this is not a true AdaIN. `Tensor.std` is torch's default unbiased (n-1) estimator,
/// which is NaN for T = 1, so T ≥ 2 is required.
pub fn motion_adain(x: &Clip, p: &Clip) -> Clip {
    same_shape(x, p);
    assert!(x.t >= 2, "motion mode needs T >= 2 (unbiased std over T)");
    let (mx, sx) = mean_v_std_t(x);
    let (mp, sp) = mean_v_std_t(p);
    let mut out = x.clone();
    for c in 0..x.c {
        for t in 0..x.t {
            for v in 0..x.v {
                for m in 0..x.m {
                    let mi = (c * x.t + t) * x.m + m;
                    let si = (c * x.v + v) * x.m + m;
                    let i = x.idx(c, t, v, m);
                    out.data[i] = (x.data[i] - mx[mi]) / (sx[si] + 1e-3) * sp[si] + mp[mi];
                }
            }
        }
    }
    out
}

/// Bone mode for one sample: `x / √(Σ_c x² + 1e-5) · √(Σ_c p² + 1e-5)` per (t, v, m):
/// own direction, partner's norm over C (up to the 1e-5).
pub fn bone_rescale(x: &Clip, p: &Clip) -> Clip {
    same_shape(x, p);
    let mut out = x.clone();
    for t in 0..x.t {
        for v in 0..x.v {
            for m in 0..x.m {
                let nx: f32 = (0..x.c).map(|c| x.at(c, t, v, m).powi(2)).sum();
                let np: f32 = (0..x.c).map(|c| p.at(c, t, v, m).powi(2)).sum();
                let r = (np + 1e-5).sqrt() / (nx + 1e-5).sqrt();
                for c in 0..x.c {
                    let i = x.idx(c, t, v, m);
                    out.data[i] = x.data[i] * r;
                }
            }
        }
    }
    out
}

/// `spa_l, spa_u, tem_l, tem_u` of `ske_swap` (all inclusive, Python `random.randint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwapParams {
    pub spa_l: usize,
    pub spa_u: usize,
    pub tem_l: usize,
    pub tem_u: usize,
}

impl SwapParams {
    /// (2, 3, 3, 5) for `epoch` None or < 200, else (1, 2, 1, 3).
    pub fn for_epoch(epoch: Option<usize>) -> SwapParams {
        match epoch {
            Some(e) if e >= 200 => SwapParams {
                spa_l: 1,
                spa_u: 2,
                tem_l: 1,
                tem_u: 3,
            },
            _ => SwapParams {
                spa_l: 2,
                spa_u: 3,
                tem_l: 3,
                tem_u: 5,
            },
        }
    }
}

/// The three branches of `ske_swap`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SwapCase {
    /// p > 0.5: paste the partner's window × parts.
    Paste,
    /// 0.25 < p ≤ 0.5: paste the partner's first 2·rt frames, nearest-resized to rt.
    Interpolate,
    /// p ≤ 0.25: `x·(1-λ) + x_partner·λ` on the whole clip.
    Mixup { lambda: f32 },
}

/// The case for a drawn `p = random.random()`; draws λ ~ U(0, 1) only for mixup (as the
/// reference does).
pub fn swap_case(p: f64, rng: &mut ChaCha8Rng) -> SwapCase {
    if p > 0.5 {
        SwapCase::Paste
    } else if p > 0.25 {
        SwapCase::Interpolate
    } else {
        SwapCase::Mixup {
            lambda: rng.random::<f32>(),
        }
    }
}

/// Every random choice of one `ske_swap` call.
#[derive(Clone, Debug, PartialEq)]
pub struct SwapPlan {
    /// `randidx`.
    pub partners: Vec<usize>,
    /// Indices into [`BODY_PARTS`] (`random.sample(body_parts, Cs)`), in draw order.
    pub parts: Vec<usize>,
    /// `Ct`: window length in downsampled steps; `rt = 4·Ct` frames.
    pub ct: usize,
    /// `tem_idx`: window start in downsampled steps; frames start at `4·tem_idx`.
    pub tem_idx: usize,
    pub case: SwapCase,
}

impl SwapPlan {
    /// `spa_idx`: the joints of the chosen parts, sorted.
    pub fn joints(&self) -> Vec<usize> {
        let mut j: Vec<usize> = self
            .parts
            .iter()
            .flat_map(|&p| BODY_PARTS[p])
            .copied()
            .collect();
        j.sort_unstable();
        j
    }
    /// `rt`, the window length in frames.
    pub fn rt(&self) -> usize {
        self.ct * TEM_DOWNSAMPLE
    }
    /// The pasted frame range `[4·tem_idx, 4·tem_idx + rt)`.
    pub fn frames(&self) -> std::ops::Range<usize> {
        let s = self.tem_idx * TEM_DOWNSAMPLE;
        s..s + self.rt()
    }
}

/// Draw a [`SwapPlan`] for `n` clips of `t` frames, in the reference's order: shift,
/// `Cs = randint(spa_l, spa_u)`, the parts, `Ct = randint(tem_l, tem_u)`,
/// `tem_idx = randint(0, T//4 - Ct)`, `p`, then λ if mixup.
///
/// Panics if `T//4 < Ct` (the reference's `random.randint` raises there too).
pub fn draw_swap_plan(n: usize, t: usize, epoch: Option<usize>, rng: &mut ChaCha8Rng) -> SwapPlan {
    let sp = SwapParams::for_epoch(epoch);
    let partners = draw_partners(n, rng);
    let cs = rng.random_range(sp.spa_l..=sp.spa_u);
    let parts = sample(rng, BODY_PARTS.len(), cs).into_vec();
    let ct = rng.random_range(sp.tem_l..=sp.tem_u);
    let steps = t / TEM_DOWNSAMPLE;
    assert!(
        steps >= ct,
        "ske_swap needs T//4 >= Ct (T = {t}, Ct = {ct})"
    );
    let tem_idx = rng.random_range(0..=steps - ct);
    let p = rng.random::<f64>();
    let case = swap_case(p, rng);
    SwapPlan {
        partners,
        parts,
        ct,
        tem_idx,
        case,
    }
}

/// A (⌈T/4⌉, V) mask over downsampled time × joints, row-major: `data[t*v_len + v]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MaskGrid {
    pub t: usize,
    pub v: usize,
    pub data: Vec<f32>,
}

impl MaskGrid {
    pub fn filled(t: usize, v: usize, value: f32) -> MaskGrid {
        MaskGrid {
            t,
            v,
            data: vec![value; t * v],
        }
    }
    pub fn at(&self, t: usize, v: usize) -> f32 {
        self.data[t * self.v + v]
    }
    fn set_block(&mut self, rows: std::ops::Range<usize>, joints: &[usize]) {
        for t in rows {
            for &v in joints {
                self.data[t * self.v + v] = 1.0;
            }
        }
    }
}

/// The `mask` of `ske_swap`, shaped `((T + 3)//4, V)` (13 × 25 for 50 frames).
#[derive(Clone, Debug, PartialEq)]
pub enum SwapMask {
    /// Paste (1 on window × parts) and mixup (λ everywhere): one mask for both the
    /// partner share `p` and the own share `c` (via `1 - mask`) of `_mask_pool`.
    Single(MaskGrid),
    /// Interpolate: the reference's tuple `(mask_p, mask_c)`: `parts` (1 on every step ×
    /// parts, used for `p`) and `window` (1 on window × parts, `c` uses `1 - window`).
    Pair { parts: MaskGrid, window: MaskGrid },
}

impl SwapMask {
    /// The mask `_mask_pool` weights the partner's actionlet with (`mask[0]` for a pair).
    pub fn partner(&self) -> &MaskGrid {
        match self {
            SwapMask::Single(m) => m,
            SwapMask::Pair { parts, .. } => parts,
        }
    }
    /// The mask whose complement `_mask_pool` weights the own actionlet with.
    pub fn own(&self) -> &MaskGrid {
        match self {
            SwapMask::Single(m) => m,
            SwapMask::Pair { window, .. } => window,
        }
    }
}

/// Apply a [`SwapPlan`]; the partner values are always read from the unmodified input.
///
/// Interpolate: the reference takes `x[:, :, :2·rt]` (so `min(2·rt, T)` frames when the
/// window is long) and resizes it to `rt` frames with `F.interpolate`'s default legacy
/// `nearest` mode, source frame `min(⌊d · L/rt⌋, L-1)` with the scale in f32 (for
/// L = 2·rt: frames 0, 2, 4, …), then pastes the partner's resized frames into the window
/// at the chosen joints, for every person.
pub fn apply_swap(clips: &[Clip], plan: &SwapPlan) -> (Vec<Clip>, SwapMask) {
    assert_eq!(clips.len(), plan.partners.len(), "one partner per clip");
    let Some(first) = clips.first() else {
        return (vec![], SwapMask::Single(MaskGrid::filled(0, 0, 0.0)));
    };
    for c in clips {
        same_shape(first, c);
    }
    let (t_len, v_len) = (first.t, first.v);
    let rows = t_len.div_ceil(TEM_DOWNSAMPLE);
    let joints = plan.joints();
    assert!(
        joints.iter().all(|&j| j < v_len),
        "body parts need the 25-joint skeleton"
    );
    let frames = plan.frames();
    assert!(frames.end <= t_len, "swap window beyond T");
    let window_rows = plan.tem_idx..plan.tem_idx + plan.ct;
    let paste = |src_frame: &dyn Fn(usize) -> usize| -> Vec<Clip> {
        clips
            .iter()
            .zip(&plan.partners)
            .map(|(x, &j)| {
                let p = &clips[j];
                let mut out = x.clone();
                for c in 0..x.c {
                    for (d, t) in frames.clone().enumerate() {
                        let s = src_frame(d);
                        for &v in &joints {
                            for m in 0..x.m {
                                let i = out.idx(c, t, v, m);
                                out.data[i] = p.at(c, s, v, m);
                            }
                        }
                    }
                }
                out
            })
            .collect()
    };
    match plan.case {
        SwapCase::Paste => {
            let start = frames.start;
            let out = paste(&|d| start + d);
            let mut mask = MaskGrid::filled(rows, v_len, 0.0);
            mask.set_block(window_rows, &joints);
            (out, SwapMask::Single(mask))
        }
        SwapCase::Interpolate => {
            let rt = plan.rt();
            let l = (2 * rt).min(t_len);
            let out = paste(&|d| nearest_source(d, l, rt));
            let mut parts = MaskGrid::filled(rows, v_len, 0.0);
            parts.set_block(0..rows, &joints);
            let mut window = MaskGrid::filled(rows, v_len, 0.0);
            window.set_block(window_rows, &joints);
            (out, SwapMask::Pair { parts, window })
        }
        SwapCase::Mixup { lambda } => {
            let out = clips
                .iter()
                .zip(&plan.partners)
                .map(|(x, &j)| {
                    let p = &clips[j];
                    let mut o = x.clone();
                    for (a, b) in o.data.iter_mut().zip(&p.data) {
                        *a = *a * (1.0 - lambda) + *b * lambda;
                    }
                    o
                })
                .collect();
            (out, SwapMask::Single(MaskGrid::filled(rows, v_len, lambda)))
        }
    }
}

/// torch's legacy `nearest` source index for output `d` when resizing `input` → `output`.
pub fn nearest_source(d: usize, input: usize, output: usize) -> usize {
    if input == output {
        return d;
    }
    if output == 2 * input {
        return d >> 1;
    }
    let scale = input as f32 / output as f32;
    ((d as f32 * scale).floor() as usize).min(input - 1)
}

/// `ske_swap(x, epoch)`: returns `(randidx, swapped clips, mask)`.
pub fn ske_swap(
    clips: &[Clip],
    epoch: Option<usize>,
    rng: &mut ChaCha8Rng,
) -> (Vec<usize>, Vec<Clip>, SwapMask) {
    let Some(t) = clips.first().map(|c| c.t) else {
        return (
            vec![],
            vec![],
            SwapMask::Single(MaskGrid::filled(0, 0, 0.0)),
        );
    };
    let plan = draw_swap_plan(clips.len(), t, epoch, rng);
    let (out, mask) = apply_swap(clips, &plan);
    (plan.partners, out, mask)
}
