//! Skeleton augmentations, exactly as the reference feeders do them (ML-FACTS §4), on one
//! clip (C, T, V, M) in row-major f32. Each transform is seeded through the RNG it is
//! given; a view is a list of transforms applied in order.
//!
//! Random draws use ChaCha, not numpy's Mersenne twister: the distributions equal the
//! reference's, the streams do not.

use rand::Rng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::data::Stream;
use crate::data::preprocess::apply_stream;
use crate::data::skeleton::NUM_JOINTS;

/// One clip: `data[((c*T + t)*V + v)*M + m]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub c: usize,
    pub t: usize,
    pub v: usize,
    pub m: usize,
    pub data: Vec<f32>,
}

impl Clip {
    pub fn new(c: usize, t: usize, v: usize, m: usize, data: Vec<f32>) -> Clip {
        assert_eq!(
            data.len(),
            c * t * v * m,
            "clip data does not match (C, T, V, M)"
        );
        Clip { c, t, v, m, data }
    }
    pub fn zeros(c: usize, t: usize, v: usize, m: usize) -> Clip {
        Clip::new(c, t, v, m, vec![0.0; c * t * v * m])
    }
    #[inline]
    pub fn idx(&self, c: usize, t: usize, v: usize, m: usize) -> usize {
        ((c * self.t + t) * self.v + v) * self.m + m
    }
    pub fn at(&self, c: usize, t: usize, v: usize, m: usize) -> f32 {
        self.data[self.idx(c, t, v, m)]
    }
    /// Apply `f` to every 3-vector (x, y, z) of a joint of a person in a frame.
    fn map_points(&mut self, f: impl Fn([f32; 3]) -> [f32; 3]) {
        assert_eq!(self.c, 3, "geometric transforms need C = 3");
        for t in 0..self.t {
            for v in 0..self.v {
                for m in 0..self.m {
                    let p = [
                        self.at(0, t, v, m),
                        self.at(1, t, v, m),
                        self.at(2, t, v, m),
                    ];
                    let q = f(p);
                    for (c, val) in q.into_iter().enumerate() {
                        let i = self.idx(c, t, v, m);
                        self.data[i] = val;
                    }
                }
            }
        }
    }
    /// A clip made of frames `src(t')` of `self` for t' in 0..t_out (frame copy, all c/v/m).
    fn gather_frames(&self, t_out: usize, src: impl Fn(usize) -> usize) -> Clip {
        let mut out = Clip::zeros(self.c, t_out, self.v, self.m);
        let vm = self.v * self.m;
        for c in 0..self.c {
            for t in 0..t_out {
                let s = src(t);
                let from = (c * self.t + s) * vm;
                let to = (c * t_out + t) * vm;
                out.data[to..to + vm].copy_from_slice(&self.data[from..from + vm]);
            }
        }
        out
    }
}

/// The left/right joint permutation of `random_spatial_flip` (0-based).
pub const FLIP_ORDER: [usize; 25] = [
    0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 16, 17, 18, 19, 12, 13, 14, 15, 20, 23, 24, 21, 22,
];

/// One augmentation. `p` is the probability of applying it (the reference's inner `p`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Aug {
    /// `temperal_crop`: reflection-pad T//ratio frames each side, keep T from a random start.
    TemporalCrop { ratio: usize },
    /// `p' = R p`, R = I plus off-diagonals U(-r, r) (0.5 AimCLR/ActCLR, 1.0 ISC/CMD/A2MC/AS-CAL).
    Shear { r: f32, p: f32 },
    /// Joint permutation left ↔ right, no coordinate negation.
    SpatialFlip { p: f32 },
    /// Rotations about x, y, z in order; one random main axis gets U(0, max_deg)°, the
    /// others U(0, 1)°.
    Rotate { max_deg: f32, p: f32 },
    /// i.i.d. N(0, std²) on every entry (including an empty second body).
    GaussNoise { std: f32, p: f32 },
    /// The unnormalised 15-tap temporal Gaussian blur, σ ~ U(sigma_min, sigma_max).
    GaussBlur {
        sigma_min: f32,
        sigma_max: f32,
        p: f32,
    },
    /// Zero one random coordinate channel.
    AxisMask { p: f32 },
    /// Reverse time.
    TimeFlip { p: f32 },
    /// ISC/CMD/A2MC: random crop of scale U(lo, hi) of the valid frames (at least
    /// `min_frames` of them, default the code's 64), resized to `frames` with half-pixel
    /// linear interpolation.
    CropResize {
        frames: usize,
        lo: f32,
        hi: f32,
        /// The code's `min_crop_length`: a literal 64 source frames, apart from the output
        /// size, so a profile that resizes to fewer frames keeps the code's crop extent.
        #[serde(default = "min_crop_frames")]
        min_frames: usize,
    },
    /// The deterministic centre crop (`ratio` of the valid frames) resized to `frames`.
    CenterCropResize { frames: usize, ratio: f32 },
    /// ISC/CMD `joint_courruption`: 15 random joints zeroed (p 0.5) or mixed by a random
    /// 3×3 matrix (row-vector product).
    JointCorruption { joints: usize },
    /// With probability `p` the first list, else the second (ISC/CMD view recipe).
    OneOf {
        p: f32,
        first: Vec<Aug>,
        second: Vec<Aug>,
    },
    /// A2MC: zero the `joints` joints most reachable (2-hop) from `seeds` random joints.
    SpatialMask { seeds: usize, joints: usize, p: f32 },
    /// A2MC: split time into `blocks` blocks and zero `masked` of them (see [`temporal_mask`]).
    TemporalMask {
        blocks: usize,
        masked: usize,
        p: f32,
    },
    /// ActCLR's `interpolate(ratio)` ('8'): with probability `p`, resize all T frames to
    /// `max(1, int(T·r))` frames, r ~ U(0, 1)·ratio + 1/(ratio + 1) (half-pixel linear, cv2
    /// INTER_LINEAR), then keep the first T of them or pad the tail with zeros.
    Interpolate { ratio: f32, p: f32 },
    /// ActCLR's `rescale(rate)` ('9'): with probability `p` (the reference: always), every
    /// bone `x[v] - x[parent]` of the input is rebuilt from the root outwards with its
    /// length times `rate·U(0, 1)` (one draw per bone, shared by all frames and persons).
    Rescale { rate: f32, p: f32 },
    /// AS-CAL's `SelectFrames`: the first `frames` frames (truncation, not a resize; a
    /// shorter clip is padded with zero frames).
    SelectFrames { frames: usize },
    /// Predict & Cluster's (and AgRNet main.py's) downsampling: every ⌊valid / frames⌋-th
    /// frame (at least every frame) from the first, the first `frames` of them; frames past
    /// the valid ones are zero.
    Downsample { frames: usize },
    /// AS-CAL's `Subtract`: every joint minus joint `joint` (0-based; AS-CAL: 1 = J2), per
    /// frame and person.
    Subtract { joint: usize },
    /// AS-CAL's `zeroOutJoints`: with probability `p`, U[min_joints, max_joints] random
    /// joints zeroed over U[min_frames, max_frames] consecutive frames from a random start.
    ZeroJoints {
        min_joints: usize,
        max_joints: usize,
        min_frames: usize,
        max_frames: usize,
        p: f32,
    },
    /// AS-CAL's `rotate`: with probability `p`, a rotation of U(0, max_deg)° about one
    /// random axis (x, y or z).
    RotateAxis { max_deg: f32, p: f32 },
    /// Compute the stage's stream (motion, bone) here, so that the ops after it act on
    /// the stream (A²MC converts right after its crop-resize). A view without it gets its
    /// stream after its last op, as AimCLR/ActCLR's `view_gen` does.
    Stream,
}

/// ActCLR `feeder/tools.py` `rescale`'s bone list (1-based `(joint, parent)`), in its
/// root-to-leaf order: the order of the rebuild and of the random draws.
pub const RESCALE_BONES_1BASED: [(usize, usize); 25] = [
    (21, 21),
    (2, 21),
    (3, 21),
    (9, 21),
    (5, 21),
    (1, 2),
    (4, 3),
    (6, 5),
    (7, 6),
    (8, 7),
    (10, 9),
    (11, 10),
    (12, 11),
    (13, 1),
    (14, 13),
    (15, 14),
    (16, 15),
    (17, 1),
    (18, 17),
    (19, 18),
    (20, 19),
    (23, 8),
    (22, 23),
    (25, 12),
    (24, 25),
];

fn hit(rng: &mut ChaCha8Rng, p: f32) -> bool {
    p >= 1.0 || rng.random::<f32>() < p
}

impl Aug {
    /// Settings the op cannot run with.
    pub fn check(&self) -> Result<(), String> {
        match *self {
            Aug::SelectFrames { frames: 0 } => Err("`select_frames` keeps 0 frames".into()),
            Aug::Downsample { frames: 0 } => Err("`downsample` keeps 0 frames".into()),
            Aug::Subtract { joint } if joint >= NUM_JOINTS => Err(format!(
                "`subtract` joint {joint} is not a joint index (0..{NUM_JOINTS}; AS-CAL: 1 = J2)"
            )),
            Aug::ZeroJoints {
                min_joints,
                max_joints,
                min_frames,
                max_frames,
                ..
            } if min_joints > max_joints || min_frames > max_frames => Err(
                "`zero_joints` needs min_joints ≤ max_joints and min_frames ≤ max_frames".into(),
            ),
            _ => Ok(()),
        }
    }

    /// Apply to `clip`; `valid` is the number of valid frames (crop-resize uses it).
    pub fn apply(&self, clip: Clip, valid: usize, rng: &mut ChaCha8Rng) -> Clip {
        match *self {
            Aug::TemporalCrop { ratio } => {
                let pad = clip.t / ratio.max(1);
                let start = rng.random_range(0..=2 * pad);
                temporal_crop(&clip, pad, start)
            }
            Aug::Shear { r, p } => {
                if !hit(rng, p) {
                    return clip;
                }
                let mut u = [0f32; 6];
                for x in &mut u {
                    *x = rng.random_range(-r..=r);
                }
                let m = [[1.0, u[0], u[3]], [u[1], 1.0, u[4]], [u[2], u[5], 1.0]];
                apply_matrix(clip, m)
            }
            Aug::SpatialFlip { p } => {
                if hit(rng, p) {
                    permute_joints(&clip, &FLIP_ORDER)
                } else {
                    clip
                }
            }
            Aug::Rotate { max_deg, p } => {
                if !hit(rng, p) {
                    return clip;
                }
                let main = rng.random_range(0..3);
                let mut deg = [0f32; 3];
                for (axis, d) in deg.iter_mut().enumerate() {
                    *d = if axis == main {
                        rng.random_range(0.0..max_deg)
                    } else {
                        rng.random_range(0.0..1.0)
                    };
                }
                rotate(clip, deg)
            }
            Aug::GaussNoise { std, p } => {
                if !hit(rng, p) {
                    return clip;
                }
                let n = Normal::new(0.0, std).expect("std >= 0");
                let mut clip = clip;
                for x in &mut clip.data {
                    *x += n.sample(rng);
                }
                clip
            }
            Aug::GaussBlur {
                sigma_min,
                sigma_max,
                p,
            } => {
                if !hit(rng, p) {
                    return clip;
                }
                let sigma = rng.random_range(sigma_min..sigma_max);
                gauss_blur(&clip, sigma, 15)
            }
            Aug::AxisMask { p } => {
                if !hit(rng, p) {
                    return clip;
                }
                let axis = rng.random_range(0..clip.c);
                axis_mask(clip, axis)
            }
            Aug::TimeFlip { p } => {
                if hit(rng, p) {
                    let t = clip.t;
                    clip.gather_frames(t, |i| t - 1 - i)
                } else {
                    clip
                }
            }
            Aug::CropResize {
                frames,
                lo,
                hi,
                min_frames,
            } => {
                let nf = valid.clamp(1, clip.t);
                let scale = rng.random_range(lo..=hi);
                let len = ((nf as f32 * scale).floor() as usize)
                    .max(min_frames)
                    .min(nf);
                let start = rng.random_range(0..=nf - len);
                crop_resize(&clip, start, len, frames)
            }
            Aug::CenterCropResize { frames, ratio } => {
                let nf = valid.clamp(1, clip.t);
                let start = ((1.0 - ratio) * nf as f32 / 2.0) as usize;
                let len = (nf - 2 * start).max(1);
                crop_resize(&clip, start, len, frames)
            }
            Aug::JointCorruption { joints } => {
                let picked: Vec<usize> = sample(rng, clip.v, joints.min(clip.v)).into_vec();
                if rng.random::<f32>() < 0.5 {
                    zero_joints(clip, &picked)
                } else {
                    let mut cm = [[0f32; 3]; 3];
                    for row in &mut cm {
                        for x in row.iter_mut() {
                            *x = rng.random_range(-1.0..=1.0);
                        }
                    }
                    mix_joints(clip, &picked, cm)
                }
            }
            Aug::OneOf {
                p,
                ref first,
                ref second,
            } => {
                let list = if rng.random::<f32>() < p {
                    first
                } else {
                    second
                };
                list.iter().fold(clip, |c, a| a.apply(c, valid, rng))
            }
            Aug::SpatialMask { seeds, joints, p } => {
                if !hit(rng, p) {
                    return clip;
                }
                let s: Vec<usize> = (0..seeds).map(|_| rng.random_range(0..clip.v)).collect();
                let picked = spatial_mask_joints(&s, joints);
                zero_joints(clip, &picked)
            }
            Aug::TemporalMask { blocks, masked, p } => {
                if !hit(rng, p) {
                    return clip;
                }
                let picked: Vec<usize> = sample(rng, blocks, masked.min(blocks)).into_vec();
                temporal_mask(clip, blocks, &picked)
            }
            Aug::Interpolate { ratio, p } => {
                if !hit(rng, p) {
                    return clip;
                }
                let r = rng.random::<f32>() * ratio + 1.0 / (ratio + 1.0);
                let size = ((clip.t as f32 * r) as usize).max(1);
                interpolate(&clip, size)
            }
            Aug::Rescale { rate, p } => {
                if !hit(rng, p) {
                    return clip;
                }
                let draws: Vec<f32> = (0..RESCALE_BONES_1BASED.len())
                    .map(|_| rng.random::<f32>())
                    .collect();
                rescale_bones(&clip, rate, &draws)
            }
            Aug::SelectFrames { frames } => {
                let t = clip.t;
                let mut out = clip.gather_frames(frames, |i| i.min(t - 1));
                // frames past the clip's end are zero, not repeats of its last frame
                if frames > t {
                    let vm = out.v * out.m;
                    for c in 0..out.c {
                        out.data[(c * frames + t) * vm..(c + 1) * frames * vm].fill(0.0);
                    }
                }
                out
            }
            Aug::Downsample { frames } => {
                let valid = valid.min(clip.t);
                let stride = (valid / frames).max(1);
                let t = clip.t;
                let mut out = clip.gather_frames(frames, |i| (i * stride).min(t - 1));
                let vm = out.v * out.m;
                for c in 0..out.c {
                    for i in (0..frames).filter(|i| i * stride >= valid) {
                        let at = (c * frames + i) * vm;
                        out.data[at..at + vm].fill(0.0);
                    }
                }
                out
            }
            Aug::Subtract { joint } => subtract_joint(clip, joint),
            Aug::ZeroJoints {
                min_joints,
                max_joints,
                min_frames,
                max_frames,
                p,
            } => {
                if !hit(rng, p) {
                    return clip;
                }
                let n = rng.random_range(min_joints..=max_joints).min(clip.v);
                let picked: Vec<usize> = sample(rng, clip.v, n).into_vec();
                let len = rng.random_range(min_frames..=max_frames).min(clip.t);
                let start = rng.random_range(0..=clip.t - len);
                zero_joints_in(clip, &picked, start..start + len)
            }
            Aug::RotateAxis { max_deg, p } => {
                if !hit(rng, p) {
                    return clip;
                }
                let axis = rng.random_range(0..3);
                let mut deg = [0f32; 3];
                deg[axis] = rng.random_range(0.0..max_deg);
                rotate(clip, deg)
            }
            // the stream is computed by `apply_view_in`, which knows which one
            Aug::Stream => clip,
        }
    }
}

/// Apply a list of transforms in order (joint coordinates throughout).
pub fn apply_view(view: &[Aug], clip: Clip, valid: usize, rng: &mut ChaCha8Rng) -> Clip {
    view.iter().fold(clip, |c, a| a.apply(c, valid, rng))
}

/// Apply a view to a joint clip and return it in `stream`: converted where the view says
/// [`Aug::Stream`], else after its last op.
pub fn apply_view_in(
    view: &[Aug],
    clip: Clip,
    valid: usize,
    stream: Stream,
    rng: &mut ChaCha8Rng,
) -> Clip {
    let mut clip = clip;
    let mut converted = false;
    for a in view {
        if matches!(a, Aug::Stream) {
            if !converted {
                clip = stream_of(clip, stream);
                converted = true;
            }
        } else {
            clip = a.apply(clip, valid, rng);
        }
    }
    if converted {
        clip
    } else {
        stream_of(clip, stream)
    }
}

/// A joint clip (3, T, 25, M) as `stream`, computed as the reference feeders do (motion:
/// next frame minus this one, last frame 0; bone: joint minus its parent).
pub fn stream_of(clip: Clip, stream: Stream) -> Clip {
    if stream == Stream::Joint {
        return clip;
    }
    let mut out = vec![0f32; clip.data.len()];
    apply_stream(&clip.data, stream, &mut out);
    Clip { data: out, ..clip }
}

/// Symmetric edge-inclusive reflection padding of `pad` frames, then T frames from `start`.
pub fn temporal_crop(clip: &Clip, pad: usize, start: usize) -> Clip {
    let t = clip.t;
    // padded index j ↦ source frame
    let src = |j: usize| -> usize {
        if j < pad {
            pad - 1 - j
        } else if j < pad + t {
            j - pad
        } else {
            let k = j - pad - t; // 0.. in the reversed tail
            t - 1 - k
        }
    };
    clip.gather_frames(t, |i| src(start + i))
}

/// `p' = M p` for every joint.
pub fn apply_matrix(mut clip: Clip, m: [[f32; 3]; 3]) -> Clip {
    clip.map_points(|p| {
        let mut q = [0f32; 3];
        for (i, row) in m.iter().enumerate() {
            q[i] = row[0] * p[0] + row[1] * p[1] + row[2] * p[2];
        }
        q
    });
    clip
}

/// `out[.., v, ..] = clip[.., order[v], ..]`.
pub fn permute_joints(clip: &Clip, order: &[usize]) -> Clip {
    let mut out = clip.clone();
    for c in 0..clip.c {
        for t in 0..clip.t {
            for (v, &src) in order.iter().enumerate() {
                for m in 0..clip.m {
                    let i = out.idx(c, t, v, m);
                    out.data[i] = clip.at(c, t, src, m);
                }
            }
        }
    }
    out
}

/// The rotation matrices of `random_rotate` (degrees), composed x then y then z.
pub fn rotation(deg: [f32; 3]) -> [[f32; 3]; 3] {
    let r = |d: f32| d.to_radians();
    let (cx, sx) = (r(deg[0]).cos(), r(deg[0]).sin());
    let (cy, sy) = (r(deg[1]).cos(), r(deg[1]).sin());
    let (cz, sz) = (r(deg[2]).cos(), r(deg[2]).sin());
    let rx = [[1.0, 0.0, 0.0], [0.0, cx, sx], [0.0, -sx, cx]];
    let ry = [[cy, 0.0, -sy], [0.0, 1.0, 0.0], [sy, 0.0, cy]];
    let rz = [[cz, sz, 0.0], [-sz, cz, 0.0], [0.0, 0.0, 1.0]];
    matmul3(rz, matmul3(ry, rx))
}

fn matmul3(a: [[f32; 3]; 3], b: [[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let mut o = [[0f32; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            o[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    o
}

pub fn rotate(clip: Clip, deg: [f32; 3]) -> Clip {
    apply_matrix(clip, rotation(deg))
}

/// Temporal 1-D convolution with the unnormalised kernel `exp(-k²/2σ²)`, k = -r..r,
/// zero padding (`GaussianBlurConv`).
pub fn gauss_blur(clip: &Clip, sigma: f32, taps: usize) -> Clip {
    let r = (taps / 2) as isize;
    let w: Vec<f32> = (-r..=r)
        .map(|k| (-((k * k) as f32) / (2.0 * sigma * sigma)).exp())
        .collect();
    let mut out = Clip::zeros(clip.c, clip.t, clip.v, clip.m);
    for c in 0..clip.c {
        for t in 0..clip.t as isize {
            for v in 0..clip.v {
                for m in 0..clip.m {
                    let mut s = 0.0;
                    for (j, wk) in w.iter().enumerate() {
                        let src = t + j as isize - r;
                        if src >= 0 && (src as usize) < clip.t {
                            s += wk * clip.at(c, src as usize, v, m);
                        }
                    }
                    let i = out.idx(c, t as usize, v, m);
                    out.data[i] = s;
                }
            }
        }
    }
    out
}

pub fn axis_mask(mut clip: Clip, axis: usize) -> Clip {
    let n = clip.t * clip.v * clip.m;
    clip.data[axis * n..(axis + 1) * n].fill(0.0);
    clip
}

/// Half-pixel linear resize of frames [start, start+len) to `out` frames (cv2 INTER_LINEAR
/// = torch `interpolate(linear, align_corners=False)`, ML-FACTS §1.5).
pub fn crop_resize(clip: &Clip, start: usize, len: usize, out: usize) -> Clip {
    let mut res = Clip::zeros(clip.c, out, clip.v, clip.m);
    let vm = clip.v * clip.m;
    for d in 0..out {
        let fy = (d as f32 + 0.5) * len as f32 / out as f32 - 0.5;
        let mut sy = fy.floor() as isize;
        let mut w = fy - sy as f32;
        if sy < 0 {
            sy = 0;
            w = 0.0;
        }
        if sy as usize >= len - 1 {
            sy = len as isize - 1;
            w = 0.0;
        }
        let s0 = start + sy as usize;
        let s1 = start + (sy as usize + 1).min(len - 1);
        for c in 0..clip.c {
            for j in 0..vm {
                let a = clip.data[(c * clip.t + s0) * vm + j];
                let b = clip.data[(c * clip.t + s1) * vm + j];
                res.data[(c * out + d) * vm + j] = (1.0 - w) * a + w * b;
            }
        }
    }
    res
}

/// `interpolate` with a drawn size: all T frames resized to `size` (half-pixel linear),
/// then the first min(size, T) of them in a T-frame clip whose tail is zero.
pub fn interpolate(clip: &Clip, size: usize) -> Clip {
    let tmp = crop_resize(clip, 0, clip.t, size.max(1));
    let keep = tmp.t.min(clip.t);
    let mut out = Clip::zeros(clip.c, clip.t, clip.v, clip.m);
    let vm = clip.v * clip.m;
    for c in 0..clip.c {
        let from = c * tmp.t * vm;
        let to = c * clip.t * vm;
        out.data[to..to + keep * vm].copy_from_slice(&tmp.data[from..from + keep * vm]);
    }
    out
}

/// `rescale` with given draws (one per entry of [`RESCALE_BONES_1BASED`], in its order):
/// bones of the input, then `x[v] = x[parent] (already rebuilt) + bone[v]·rate·draw`.
pub fn rescale_bones(clip: &Clip, rate: f32, draws: &[f32]) -> Clip {
    assert_eq!(clip.v, 25, "rescale needs the 25-joint NTU skeleton");
    assert_eq!(draws.len(), RESCALE_BONES_1BASED.len(), "one draw per bone");
    let mut out = clip.clone();
    for (&(v1, v2), &u) in RESCALE_BONES_1BASED.iter().zip(draws) {
        let (v, par) = (v1 - 1, v2 - 1);
        let f = rate * u;
        for c in 0..clip.c {
            for t in 0..clip.t {
                for m in 0..clip.m {
                    let bone = clip.at(c, t, v, m) - clip.at(c, t, par, m);
                    let i = out.idx(c, t, v, m);
                    out.data[i] = out.at(c, t, par, m) + bone * f;
                }
            }
        }
    }
    out
}

pub fn zero_joints(clip: Clip, joints: &[usize]) -> Clip {
    let t = clip.t;
    zero_joints_in(clip, joints, 0..t)
}

/// [`zero_joints`] over the frames of `frames` only.
pub fn zero_joints_in(mut clip: Clip, joints: &[usize], frames: std::ops::Range<usize>) -> Clip {
    for c in 0..clip.c {
        for t in frames.clone() {
            for &v in joints {
                for m in 0..clip.m {
                    let i = clip.idx(c, t, v, m);
                    clip.data[i] = 0.0;
                }
            }
        }
    }
    clip
}

/// Every joint minus joint `joint`, per frame and person (AS-CAL's `Subtract`).
pub fn subtract_joint(mut clip: Clip, joint: usize) -> Clip {
    for c in 0..clip.c {
        for t in 0..clip.t {
            for m in 0..clip.m {
                let origin = clip.data[clip.idx(c, t, joint, m)];
                for v in 0..clip.v {
                    let i = clip.idx(c, t, v, m);
                    clip.data[i] -= origin;
                }
            }
        }
    }
    clip
}

/// `p' = pᵀ · cm` (row vector times matrix) for the given joints.
pub fn mix_joints(mut clip: Clip, joints: &[usize], cm: [[f32; 3]; 3]) -> Clip {
    for t in 0..clip.t {
        for &v in joints {
            for m in 0..clip.m {
                let p = [
                    clip.at(0, t, v, m),
                    clip.at(1, t, v, m),
                    clip.at(2, t, v, m),
                ];
                for j in 0..3 {
                    let i = clip.idx(j, t, v, m);
                    clip.data[i] = p[0] * cm[0][j] + p[1] * cm[1][j] + p[2] * cm[2][j];
                }
            }
        }
    }
    clip
}

/// A2MC `spatial_masking`: with A = I + adjacency (symmetric), A², the joints with the
/// `k` largest `Σ_seeds A²[seed]` (numpy `argsort()[-k:]`, stable).
pub fn spatial_mask_joints(seeds: &[usize], k: usize) -> Vec<usize> {
    const V: usize = 25;
    let mut a = [[0f32; V]; V];
    for (i, row) in a.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for &(x, y) in &crate::learn::graph::EDGES {
        a[x - 1][y - 1] = 1.0;
        a[y - 1][x - 1] = 1.0;
    }
    let a2: Vec<[f32; V]> = (0..V)
        .map(|i| {
            let mut r = [0f32; V];
            for (j, rj) in r.iter_mut().enumerate() {
                *rj = (0..V).map(|l| a[i][l] * a[l][j]).sum();
            }
            r
        })
        .collect();
    let mut flag = [0f32; V];
    for &s in seeds {
        for j in 0..V {
            flag[j] += a2[s][j];
        }
    }
    let mut order: Vec<usize> = (0..V).collect();
    order.sort_by(|&x, &y| flag[x].partial_cmp(&flag[y]).expect("finite"));
    order[V - k.min(V)..].to_vec()
}

/// Zero the `picked` of `blocks` equal time blocks. Block `b` is frames
/// `[⌊b·T/blocks⌋, ⌊(b+1)·T/blocks⌋)`: the code's 16 blocks of 4 at T = 64, and blocks that
/// still cover every frame when a profile's T is no multiple of `blocks` (T = 24: 1 or 2).
pub fn temporal_mask(mut clip: Clip, blocks: usize, picked: &[usize]) -> Clip {
    let blocks = blocks.max(1);
    let vm = clip.v * clip.m;
    for c in 0..clip.c {
        for &b in picked {
            for t in b * clip.t / blocks..((b + 1) * clip.t / blocks).min(clip.t) {
                let from = (c * clip.t + t) * vm;
                clip.data[from..from + vm].fill(0.0);
            }
        }
    }
    clip
}

/// Named views of the reference repositories. Users can also write the list out.
pub fn preset_view(name: &str) -> Option<Vec<Aug>> {
    let crop = Aug::TemporalCrop { ratio: 6 };
    let shear = Aug::Shear { r: 0.5, p: 1.0 };
    Some(match name {
        "none" => vec![],
        // AimCLR/ActCLR normal view and ActCLR weak view: crop + shear
        "weak" | "normal" => vec![crop, shear],
        // AimCLR extreme view: crop, shear, flip, rotate, noise 0.01, blur, axis mask
        "extreme" => [vec![crop, shear], aimclr_extras(0.01)].concat(),
        // ActCLR strong view: crop, shear, then '1234589' (noise std 0.05, interpolate,
        // rescale)
        "strong" => actclr_strong(0.05),
        // CMD intra-modal view: crop-resize 64, then 50 % joint corruption, else shear
        "cmd" => [vec![cmd_crop(64)], cmd_appearance()].concat(),
        // A2MC view (§4.3): the stream is computed right after the crop-resize
        "a2mc" => [vec![cmd_crop(64), Aug::Stream], a2mc_code_appearance()].concat(),
        // AS-CAL's `subtract_randomFlip_shear` (both views) and its evaluation input
        "ascal" => [ascal_input(ASCAL_FRAMES), ascal_random()].concat(),
        "ascal_input" => ascal_input(ASCAL_FRAMES),
        // downstream test input of CMD/A2MC: centre 95 % → 64 frames
        "center64" => vec![Aug::CenterCropResize {
            frames: 64,
            ratio: 0.95,
        }],
        _ => return None,
    })
}

/// Frames AS-CAL's `SelectFrames` keeps on NTU.
pub const ASCAL_FRAMES: usize = 150;

/// AS-CAL's input: the first `frames` frames, relative to J2 (ML-FACTS §4.4).
pub fn ascal_input(frames: usize) -> Vec<Aug> {
    vec![Aug::SelectFrames { frames }, Aug::Subtract { joint: 1 }]
}

/// AS-CAL's random part: time reversal (its `RandomHorizontalFlip`) with p 0.5, then
/// shear U(−1, 1).
pub fn ascal_random() -> Vec<Aug> {
    vec![Aug::TimeFlip { p: 0.5 }, Aug::Shear { r: 1.0, p: 1.0 }]
}

/// The fewest source frames CMD's / ISC's / A²MC's temporal crop keeps
/// (`min_crop_length = 64` in `temporal_cropresize` and `crop_subsequence`, whatever the
/// output size).
pub const MIN_CROP_FRAMES: usize = 64;

fn min_crop_frames() -> usize {
    MIN_CROP_FRAMES
}

/// CMD's random-resized temporal crop to `frames` (crop scale U(0.1, 1), at least
/// [`MIN_CROP_FRAMES`] source frames).
pub fn cmd_crop(frames: usize) -> Aug {
    Aug::CropResize {
        frames,
        lo: 0.1,
        hi: 1.0,
        min_frames: MIN_CROP_FRAMES,
    }
}

/// CMD's appearance augmentation: 50 % joint corruption (15 joints), else shear U(−1, 1).
pub fn cmd_appearance() -> Vec<Aug> {
    vec![Aug::OneOf {
        p: 0.5,
        first: vec![Aug::JointCorruption { joints: 15 }],
        second: vec![Aug::Shear { r: 1.0, p: 1.0 }],
    }]
}

/// AimCLR's extreme additions: flip, rotate ±30°, Gaussian noise of std `noise`, Gaussian
/// blur, axis mask.
pub fn aimclr_extras(noise: f32) -> Vec<Aug> {
    vec![
        Aug::SpatialFlip { p: 0.5 },
        Aug::Rotate {
            max_deg: 30.0,
            p: 1.0,
        },
        Aug::GaussNoise { std: noise, p: 0.5 },
        Aug::GaussBlur {
            sigma_min: 0.1,
            sigma_max: 2.0,
            p: 0.5,
        },
        Aug::AxisMask { p: 0.5 },
    ]
}

/// ActCLR's `_strong_aug` with every op of `strong_aug_method = '1234589'`: crop, shear,
/// flip, rotate, Gaussian noise of std `noise`, blur, axis mask, interpolate, rescale.
pub fn actclr_strong(noise: f32) -> Vec<Aug> {
    [
        vec![
            Aug::TemporalCrop { ratio: 6 },
            Aug::Shear { r: 0.5, p: 1.0 },
        ],
        aimclr_extras(noise),
        actclr_extras(),
    ]
    .concat()
}

/// ActCLR's '8' and '9': interpolate (ratio 1, p 0.5) and rescale (0.5, always).
pub fn actclr_extras() -> Vec<Aug> {
    vec![
        Aug::Interpolate { ratio: 1.0, p: 0.5 },
        Aug::Rescale { rate: 0.5, p: 1.0 },
    ]
}

/// The A²MC public code's augmentation after its crop: rotate, flip, shear, spatial and
/// temporal masking, each with p 0.5.
pub fn a2mc_code_appearance() -> Vec<Aug> {
    vec![
        Aug::Rotate {
            max_deg: 30.0,
            p: 0.5,
        },
        Aug::SpatialFlip { p: 0.5 },
        Aug::Shear { r: 1.0, p: 0.5 },
        Aug::SpatialMask {
            seeds: 5,
            joints: 8,
            p: 0.5,
        },
        Aug::TemporalMask {
            blocks: 16,
            masked: 6,
            p: 0.5,
        },
    ]
}

/// A view given as a preset name or an explicit list.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum ViewSpec {
    Preset(String),
    List(Vec<Aug>),
}

skelflow_contract::deserialize_name_or!(ViewSpec, "a view preset or a list of ops", Preset, List);

impl ViewSpec {
    pub fn resolve(&self) -> Result<Vec<Aug>, String> {
        match self {
            ViewSpec::List(l) => {
                for (i, a) in l.iter().enumerate() {
                    a.check().map_err(|e| format!("op {}: {e}", i + 1))?;
                }
                Ok(l.clone())
            }
            ViewSpec::Preset(n) => preset_view(n).ok_or_else(|| {
                format!("unknown view `{n}`: use one of none, weak, normal, strong, extreme, cmd, a2mc, center64, ascal, ascal_input, or a list of ops")
            }),
        }
    }
}
