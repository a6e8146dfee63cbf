//! Preprocessing variants and streams, each matching its reference implementation
//! (ML-FACTS §1.2, §1.4, §1.5, §2.1). Every tensor is (C=3, T, V=25, M=2) row-major f32,
//! index `((c·T + t)·25 + v)·2 + m`, exactly like the reference `.npy` arrays.
//!
//! Arithmetic follows the references' dtypes where it matters for bit-level agreement:
//! float32 storage between steps, float64 where numpy promotes (rotation matrices), float32
//! for cv2's linear resize.

use super::dataset::{Stream, Variant};
use super::ntu_format::SkeletonSequence;
use super::skeleton::{BONE_PARENT, CHANNELS as C, MAX_BODIES as M, NUM_JOINTS as V};

/// T of the ST-GCN / 2s-AGCN tensors.
pub const MAX_FRAMES: usize = 300;
/// T of the AimCLR / ActCLR `frame50` tensors.
pub const FRAME50: usize = 50;

/// A preprocessed sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// (3, T, 25, 2) row-major.
    pub data: Vec<f32>,
    /// Valid frames of `data` (see [`Variant::frames`] for what each variant calls valid).
    pub frames: usize,
}

#[inline]
pub fn idx(t_len: usize, c: usize, t: usize, v: usize, m: usize) -> usize {
    ((c * t_len + t) * V + v) * M + m
}

/// Preprocess a parsed sequence. Errors say why the sequence cannot be used.
pub fn prepare(seq: &SkeletonSequence, variant: Variant) -> Result<Prepared, String> {
    let mut data = vec![0f32; variant.sample_len()];
    let frames = prepare_into(seq, variant, &mut data, &mut Vec::new())?;
    Ok(Prepared { data, frames })
}

/// [`prepare`] into `out` (3·T·25·2 floats), using `scratch` for intermediate tensors; returns
/// the valid frames. The importer writes straight into its record batch this way.
pub fn prepare_into(
    seq: &SkeletonSequence,
    variant: Variant,
    out: &mut [f32],
    scratch: &mut Vec<f32>,
) -> Result<usize, String> {
    if !seq.has_bodies() {
        return Err(format!(
            "no skeleton in any of its {} frames (such samples are on the published missing-skeleton lists)",
            seq.num_frames()
        ));
    }
    match variant {
        Variant::StgcnRaw => Ok(stgcn_raw_into(seq, out)),
        Variant::AgcnPrenorm => {
            let p = agcn_prenorm(seq);
            out.copy_from_slice(&p.data);
            Ok(p.frames)
        }
        Variant::Frame50 => {
            scratch.clear();
            scratch.resize(C * MAX_FRAMES * V * M, 0.0);
            stgcn_raw_into(seq, scratch);
            frame50_into(scratch, out)
        }
    }
}

/// ST-GCN `ntu_gendata`: the first two bodies listed in each frame into slots 0 and 1, raw
/// camera coordinates, zero padded to 300 frames. Frames beyond 300 are dropped (the
/// reference would crash; no NTU file has more).
pub fn stgcn_raw(seq: &SkeletonSequence) -> Prepared {
    let mut data = vec![0f32; C * MAX_FRAMES * V * M];
    let frames = stgcn_raw_into(seq, &mut data);
    Prepared { data, frames }
}

/// [`stgcn_raw`] into `out` (3·300·25·2 floats, overwritten); returns the valid frames.
pub fn stgcn_raw_into(seq: &SkeletonSequence, out: &mut [f32]) -> usize {
    out.fill(0.0);
    let mut frames = 0;
    for (t, bodies) in seq.frames().enumerate().take(MAX_FRAMES) {
        frames = t + 1;
        for (m, body) in bodies.chunks_exact(V).take(M).enumerate() {
            for (v, p) in body.iter().enumerate() {
                for c in 0..C {
                    out[idx(MAX_FRAMES, c, t, v, m)] = p[c];
                }
            }
        }
    }
    frames
}

/// CMD / ISC / A2MC (2s-AGCN) preprocessing: up to 4 listed bodies, the 2 with the most
/// "energy", then `pre_normalization` (pad by repeating, centre on J2 of person 0, rotate
/// the spine of person 0 at frame 0 to z and its shoulders to x).
pub fn agcn_prenorm(seq: &SkeletonSequence) -> Prepared {
    const KINECT_BODIES: usize = 4;
    let nf = seq.num_frames();
    // (4, nf, 25, 3) in float64, as read_xyz builds it.
    let mut raw = vec![0f64; KINECT_BODIES * nf * V * 3];
    let at = |m: usize, t: usize, v: usize| ((m * nf + t) * V + v) * 3;
    for (t, bodies) in seq.frames().enumerate() {
        for (m, body) in bodies.chunks_exact(V).take(KINECT_BODIES).enumerate() {
            for (v, p) in body.iter().enumerate() {
                let i = at(m, t, v);
                raw[i] = p[0] as f64;
                raw[i + 1] = p[1] as f64;
                raw[i + 2] = p[2] as f64;
            }
        }
    }
    // energy = Σ_c std(valid frames of the slot, all joints, channel c), population std.
    let energy: Vec<f64> = (0..KINECT_BODIES)
        .map(|m| {
            let valid: Vec<usize> = (0..nf)
                .filter(|&t| raw[at(m, t, 0)..at(m, t, 0) + V * 3].iter().sum::<f64>() != 0.0)
                .collect();
            if valid.is_empty() {
                return 0.0;
            }
            (0..3)
                .map(|c| {
                    let n = (valid.len() * V) as f64;
                    let vals = || {
                        valid
                            .iter()
                            .flat_map(|&t| (0..V).map(move |v| (t, v)))
                            .map(|(t, v)| raw[at(m, t, v) + c])
                    };
                    let mean = vals().sum::<f64>() / n;
                    (vals().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt()
                })
                .sum()
        })
        .collect();
    // numpy: energy.argsort()[::-1][:2] — a stable ascending sort (n = 4 uses insertion
    // sort), reversed: the highest energy first, ties broken towards the higher slot.
    let mut order: Vec<usize> = (0..KINECT_BODIES).collect();
    order.sort_by(|&a, &b| energy[a].total_cmp(&energy[b]));
    order.reverse();

    // s: (M, 300, 25, 3) float32, frames beyond 300 dropped.
    let t_len = MAX_FRAMES;
    let mut s = vec![0f32; M * t_len * V * 3];
    for (slot, &m) in order.iter().take(M).enumerate() {
        for t in 0..nf.min(t_len) {
            for v in 0..V {
                for c in 0..3 {
                    s[((slot * t_len + t) * V + v) * 3 + c] = raw[at(m, t, v) + c] as f32;
                }
            }
        }
    }
    pre_normalized(s, nf)
}

/// `pre_normalization` of two persons laid out (M=2, 300, 25, 3), returned as (3, 300, 25, 2)
/// with `nf` (the source's frame count, capped at 300) valid frames.
pub fn pre_normalized(mut s: Vec<f32>, nf: usize) -> Prepared {
    let t_len = MAX_FRAMES;
    assert_eq!(
        s.len(),
        M * t_len * V * 3,
        "pre_normalized takes (2, 300, 25, 3)"
    );
    pre_normalization(&mut s, t_len);
    let mut data = vec![0f32; C * t_len * V * M];
    for m in 0..M {
        for t in 0..t_len {
            for v in 0..V {
                for c in 0..C {
                    data[idx(t_len, c, t, v, m)] = s[((m * t_len + t) * V + v) * 3 + c];
                }
            }
        }
    }
    Prepared {
        data,
        frames: nf.min(t_len),
    }
}

/// 2s-AGCN `pre_normalization(data, zaxis=[0, 1], xaxis=[8, 4])` on one sample laid out
/// (M, T, V, 3). "Zero" tests use exact zero, as the reference's `sum() == 0` does for any
/// real recording.
pub fn pre_normalization(s: &mut [f32], t_len: usize) {
    let frame_len = V * 3;
    let person_len = t_len * frame_len;
    let zero = |x: &[f32]| x.iter().all(|&v| v == 0.0);

    // 1. Pad null frames: move valid frames to the front if frame 0 is empty, then fill the
    //    trailing zeros by repeating the sequence so far.
    for m in 0..M {
        let person = &mut s[m * person_len..(m + 1) * person_len];
        if zero(person) {
            continue;
        }
        if zero(&person[..frame_len]) {
            let valid: Vec<f32> = person
                .chunks_exact(frame_len)
                .filter(|f| !zero(f))
                .flatten()
                .copied()
                .collect();
            person.fill(0.0);
            person[..valid.len()].copy_from_slice(&valid);
        }
        for i_f in 0..t_len {
            if zero(&person[i_f * frame_len..(i_f + 1) * frame_len])
                && zero(&person[i_f * frame_len..])
            {
                for t in i_f..t_len {
                    let src = (t - i_f) % i_f;
                    person.copy_within(src * frame_len..(src + 1) * frame_len, t * frame_len);
                }
                break;
            }
        }
    }
    if zero(s) {
        return;
    }

    // 2. Centre: subtract J2 of person 0 per frame; joints that are zero stay zero.
    let center: Vec<[f32; 3]> = (0..t_len)
        .map(|t| {
            let i = t * frame_len + 3;
            [s[i], s[i + 1], s[i + 2]]
        })
        .collect();
    for m in 0..M {
        let person = &mut s[m * person_len..(m + 1) * person_len];
        if zero(person) {
            continue;
        }
        for t in 0..t_len {
            for v in 0..V {
                let i = t * frame_len + v * 3;
                let masked = (person[i] + person[i + 1]) + person[i + 2] == 0.0;
                for c in 0..3 {
                    person[i + c] = if masked {
                        0.0
                    } else {
                        person[i + c] - center[t][c]
                    };
                }
            }
        }
    }

    // 3. and 4. Rotate so that person 0's spine (J1→J2) at frame 0 is parallel to z, then
    //    its shoulders (J5→J9) at frame 0 parallel to x.
    for (from, to, target) in [(0usize, 1usize, [0.0, 0.0, 1.0]), (4, 8, [1.0, 0.0, 0.0])] {
        let a = [s[from * 3], s[from * 3 + 1], s[from * 3 + 2]];
        let b = [s[to * 3], s[to * 3 + 1], s[to * 3 + 2]];
        let d = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        let axis = cross([d[0] as f64, d[1] as f64, d[2] as f64], target);
        let r = rotation_matrix(axis, angle_between(d, target));
        for m in 0..M {
            let person = &mut s[m * person_len..(m + 1) * person_len];
            if zero(person) {
                continue;
            }
            for frame in person.chunks_exact_mut(frame_len) {
                if zero(frame) {
                    continue;
                }
                for p in frame.chunks_exact_mut(3) {
                    let (x, y, z) = (p[0] as f64, p[1] as f64, p[2] as f64);
                    for (k, row) in r.iter().enumerate() {
                        p[k] = (row[0] * x + row[1] * y + row[2] * z) as f32;
                    }
                }
            }
        }
    }
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// 2s-AGCN `angle_between`: 0 for (near) zero vectors; the unit vector of the float32
/// input is float32, as numpy computes it.
fn angle_between(v1: [f32; 3], v2: [f64; 3]) -> f64 {
    let l1: f32 = v1.iter().map(|x| x.abs()).sum();
    if l1 < 1e-6 || v2.iter().map(|x| x.abs()).sum::<f64>() < 1e-6 {
        return 0.0;
    }
    let n1 = (v1[0] * v1[0] + v1[1] * v1[1] + v1[2] * v1[2]).sqrt();
    let u1 = [
        (v1[0] / n1) as f64,
        (v1[1] / n1) as f64,
        (v1[2] / n1) as f64,
    ];
    let n2 = (v2[0] * v2[0] + v2[1] * v2[1] + v2[2] * v2[2]).sqrt();
    let dot = (u1[0] * v2[0] + u1[1] * v2[1] + u1[2] * v2[2]) / n2;
    dot.clamp(-1.0, 1.0).acos()
}

/// 2s-AGCN `rotation_matrix`: the rotation by `theta` about `axis` (Euler–Rodrigues), the
/// identity for a (near) zero axis or angle.
pub fn rotation_matrix(axis: [f64; 3], theta: f64) -> [[f64; 3]; 3] {
    if axis.iter().map(|x| x.abs()).sum::<f64>() < 1e-6 || theta.abs() < 1e-6 {
        return [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    }
    let n = (axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]).sqrt();
    let a = (theta / 2.0).cos();
    let s = (theta / 2.0).sin();
    let (b, c, d) = (-axis[0] / n * s, -axis[1] / n * s, -axis[2] / n * s);
    let (aa, bb, cc, dd) = (a * a, b * b, c * c, d * d);
    let (bc, ad, ac, ab, bd, cd) = (b * c, a * d, a * c, a * b, b * d, c * d);
    [
        [aa + bb - cc - dd, 2.0 * (bc + ad), 2.0 * (bd - ac)],
        [2.0 * (bc - ad), aa + cc - bb - dd, 2.0 * (cd + ab)],
        [2.0 * (bd + ac), 2.0 * (cd - ab), aa + dd - bb - cc],
    ]
}

/// AimCLR / ActCLR `frame50` from an ST-GCN raw (3, 300, 25, 2) tensor: centre each body on
/// its J21 per frame, resize the valid length to 50 frames (cv2 INTER_LINEAR, half-pixel),
/// rotate each frame about y so the shoulders are parallel to x.
pub fn frame50(raw: &[f32]) -> Result<Prepared, String> {
    let mut out = vec![0f32; C * FRAME50 * V * M];
    let mut rel = raw.to_vec();
    let frames = frame50_into(&mut rel, &mut out)?;
    Ok(Prepared { data: out, frames })
}

/// [`frame50`] of `raw` (a (3, T, 25, 2) ST-GCN tensor, used as scratch: it is centred in
/// place) into `out` (3·50·25·2 floats).
pub fn frame50_into(raw: &mut [f32], out: &mut [f32]) -> Result<usize, String> {
    let t_in = raw.len() / (C * V * M);
    // Valid length: frames whose body 0, joint 0 is not all zero (counted, not a prefix).
    let length = (0..t_in)
        .filter(|&t| {
            (0..C)
                .map(|c| raw[idx(t_in, c, t, 0, 0)].abs())
                .sum::<f32>()
                != 0.0
        })
        .count();
    if length == 0 {
        return Err(
            "the first body's spine-base joint is zero in every frame: there is nothing to resize"
                .into(),
        );
    }
    // relative: subtract J21 of the same body, per frame (the centre read before any change).
    for c in 0..C {
        for t in 0..t_in {
            for m in 0..M {
                let centre = raw[idx(t_in, c, t, 20, m)];
                for v in 0..V {
                    raw[idx(t_in, c, t, v, m)] -= centre;
                }
            }
        }
    }
    resize_time_into(raw, t_in, length, FRAME50, out);
    for m in 0..M {
        y_rotate_body(out, FRAME50, m);
    }
    Ok(FRAME50)
}

/// cv2.resize(INTER_LINEAR) of frames `[0, length)` of a (3, t_in, 25, 2) tensor to
/// `t_out` frames, in float32 like cv2 does for float images.
pub fn resize_time(data: &[f32], t_in: usize, length: usize, t_out: usize) -> Vec<f32> {
    let mut out = vec![0f32; C * t_out * V * M];
    resize_time_into(data, t_in, length, t_out, &mut out);
    out
}

fn resize_time_into(data: &[f32], t_in: usize, length: usize, t_out: usize, out: &mut [f32]) {
    let scale = length as f64 / t_out as f64;
    for d in 0..t_out {
        let fy_full = ((d as f64 + 0.5) * scale - 0.5) as f32;
        let mut sy = fy_full.floor() as isize;
        let mut w = fy_full - sy as f32;
        if sy < 0 {
            sy = 0;
            w = 0.0;
        }
        if sy >= length as isize - 1 {
            sy = length as isize - 1;
            w = 0.0;
        }
        let s0 = sy as usize;
        let s1 = (s0 + 1).min(length - 1);
        let (b0, b1) = (1.0 - w, w);
        for c in 0..C {
            for v in 0..V {
                for m in 0..M {
                    out[idx(t_out, c, d, v, m)] =
                        data[idx(t_in, c, s0, v, m)] * b0 + data[idx(t_in, c, s1, v, m)] * b1;
                }
            }
        }
    }
}

/// `parallel_skeleton` of AimCLR / ActCLR for body `m`: per frame, rotate about y by the
/// angle between the shoulder vector (J9 − J5, y dropped) and x; one sign for all frames.
fn y_rotate_body(data: &mut [f32], t_len: usize, m: usize) {
    let at = |c: usize, t: usize, v: usize| idx(t_len, c, t, v, m);
    let vec: Vec<[f32; 2]> = (0..t_len)
        .map(|t| {
            [
                data[at(0, t, 8)] - data[at(0, t, 4)],
                data[at(2, t, 8)] - data[at(2, t, 4)],
            ]
        })
        .collect();
    let isv: f32 = vec.iter().map(|v| v[1]).sum();
    for (t, [vx, vz]) in vec.into_iter().enumerate() {
        let norm = (vx * vx + vz * vz).sqrt();
        let mut deg = (vx / (norm + 0.0001)).acos() * (180.0 / std::f32::consts::PI);
        if isv >= 0.0 {
            deg = -deg;
        }
        let rad = deg * std::f32::consts::PI / 180.0;
        let (cos, sin) = (rad.cos() as f64, rad.sin() as f64);
        for v in 0..V {
            let (x, y, z) = (
                data[at(0, t, v)] as f64,
                data[at(1, t, v)] as f64,
                data[at(2, t, v)] as f64,
            );
            data[at(0, t, v)] = (cos * x - sin * z) as f32;
            data[at(1, t, v)] = y as f32;
            data[at(2, t, v)] = (sin * x + cos * z) as f32;
        }
    }
}

/// The stream of a joint tensor (3, T, 25, 2), as the reference feeders compute it on the
/// preprocessed sequence: motion `x[t+1] − x[t]` with the last frame 0; bone
/// `x[v1] − x[v2]` over [`BONE_PARENT`].
pub fn apply_stream(joint: &[f32], stream: Stream, out: &mut [f32]) {
    assert_eq!(joint.len(), out.len(), "stream output must match the input");
    let t_len = joint.len() / (C * V * M);
    match stream {
        Stream::Joint => out.copy_from_slice(joint),
        Stream::Motion => {
            let step = V * M;
            for c in 0..C {
                let base = c * t_len * step;
                for t in 0..t_len {
                    let o = base + t * step;
                    if t + 1 < t_len {
                        for k in 0..step {
                            out[o + k] = joint[o + step + k] - joint[o + k];
                        }
                    } else {
                        out[o..o + step].fill(0.0);
                    }
                }
            }
        }
        Stream::Bone => {
            for c in 0..C {
                for t in 0..t_len {
                    for v in 0..V {
                        for m in 0..M {
                            out[idx(t_len, c, t, v, m)] = joint[idx(t_len, c, t, v, m)]
                                - joint[idx(t_len, c, t, BONE_PARENT[v], m)];
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_is_half_pixel_linear() {
        // One channel value per frame: 0, 1, 2, 3 resized to 8 frames.
        let t_in = 4;
        let mut d = vec![0f32; C * t_in * V * M];
        for t in 0..t_in {
            d[idx(t_in, 0, t, 0, 0)] = t as f32;
        }
        let out = resize_time(&d, t_in, 4, 8);
        let got: Vec<f32> = (0..8).map(|t| out[idx(8, 0, t, 0, 0)]).collect();
        assert_eq!(got, vec![0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]);
    }

    #[test]
    fn streams() {
        let t_len = 3;
        let mut x = vec![0f32; C * t_len * V * M];
        for t in 0..t_len {
            for v in 0..V {
                x[idx(t_len, 1, t, v, 0)] = (t * 100 + v) as f32;
            }
        }
        let mut out = vec![0f32; x.len()];
        apply_stream(&x, Stream::Motion, &mut out);
        assert_eq!(out[idx(t_len, 1, 0, 7, 0)], 100.0);
        assert_eq!(out[idx(t_len, 1, 2, 7, 0)], 0.0);
        apply_stream(&x, Stream::Bone, &mut out);
        assert_eq!(out[idx(t_len, 1, 1, 0, 0)], -1.0); // J1 − J2
        assert_eq!(out[idx(t_len, 1, 1, 20, 0)], 0.0); // J21 − J21
        assert_eq!(out[idx(t_len, 1, 1, 24, 0)], 24.0 - 11.0); // J25 − J12
    }

    /// §1.4 on a constructed sample whose shoulders are perpendicular to its spine, so that
    /// both rotations leave exact invariants: J2 of person 0 at the origin in every frame,
    /// spine ∥ z and shoulders ∥ x at frame 0, the sequence repeated into the padding, person
    /// 1 moved with person 0's frame, zero joints kept zero.
    #[test]
    fn pre_normalization_invariants() {
        let t_len = MAX_FRAMES;
        let nf = 7;
        let mut s = vec![0f32; M * t_len * V * 3];
        let (ca, sa) = (0.3f32.cos(), 0.3f32.sin());
        // An orthonormal body frame: spine along u, shoulders along w (u ⟂ w), tilted.
        let u = [0.2f32, 0.9, 0.1];
        let nu = (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]).sqrt();
        let u = [u[0] / nu, u[1] / nu, u[2] / nu];
        let w0 = [ca, 0.0, sa];
        let dot = w0[0] * u[0] + w0[1] * u[1] + w0[2] * u[2];
        let w = [w0[0] - dot * u[0], w0[1] - dot * u[1], w0[2] - dot * u[2]];
        let nw = (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]).sqrt();
        let w = [w[0] / nw, w[1] / nw, w[2] / nw];
        for m in 0..2 {
            for t in 0..nf {
                let base = [0.1 * t as f32 + m as f32, 0.5, 3.0 + 0.2 * m as f32];
                for v in 0..V {
                    let (a, b) = match v {
                        0 => (0.0, 0.0),
                        1 => (0.3, 0.0),
                        4 => (0.5, -0.2),
                        8 => (0.5, 0.2),
                        _ => (0.05 * v as f32, 0.01 * v as f32),
                    };
                    for c in 0..3 {
                        s[((m * t_len + t) * V + v) * 3 + c] = base[c] + a * u[c] + b * w[c];
                    }
                }
            }
        }
        // Joint 24 of person 1 missing in frame 2.
        for c in 0..3 {
            s[((t_len + 2) * V + 24) * 3 + c] = 0.0;
        }
        let p = pre_normalized(s, nf);
        let x = |c: usize, t: usize, v: usize, m: usize| p.data[idx(t_len, c, t, v, m)];
        for t in 0..t_len {
            for c in 0..3 {
                assert!(x(c, t, 1, 0).abs() < 1e-5, "J2 at frame {t}");
            }
        }
        let spine: Vec<f32> = (0..3).map(|c| x(c, 0, 1, 0) - x(c, 0, 0, 0)).collect();
        let sh: Vec<f32> = (0..3).map(|c| x(c, 0, 8, 0) - x(c, 0, 4, 0)).collect();
        assert!(
            spine[0].abs() < 1e-5 && spine[1].abs() < 1e-5 && spine[2] > 0.29,
            "spine {spine:?}"
        );
        assert!(
            sh[1].abs() < 1e-5 && sh[2].abs() < 1e-5 && sh[0] > 0.39,
            "shoulders {sh:?}"
        );
        for t in nf..t_len {
            for (c, v, m) in [(0, 3, 0), (2, 7, 1), (1, 20, 1)] {
                assert_eq!(
                    x(c, t, v, m),
                    x(c, (t - nf) % nf, v, m),
                    "padding at frame {t}"
                );
            }
        }
        assert_eq!(
            (0..3).map(|c| x(c, 2, 24, 1)).collect::<Vec<_>>(),
            vec![0.0; 3]
        );
        assert_eq!(p.frames, nf);
    }

    #[test]
    fn rotation_matrix_rotates_about_the_axis() {
        let r = rotation_matrix([0.0, 0.0, 1.0], std::f64::consts::FRAC_PI_2);
        // R·x̂ with R from the quaternion convention of 2s-AGCN.
        let x = [r[0][0], r[1][0], r[2][0]];
        assert!((x[0]).abs() < 1e-12 && (x[1].abs() - 1.0).abs() < 1e-12);
    }
}
