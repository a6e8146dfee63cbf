//! The NTU writer: one Kinect body as the lines of a `.skeleton` file (the 10-value body line,
//! the joint count, 25 joint lines of 12 values: camera-space x y z, depth and colour pixel
//! coordinates, the segment orientation as a quaternion, the tracking state), with numbers
//! printed the way the Kinect SDK prints them.

use std::io::Write as _;

use glam::{DMat3, DVec3};

/// Joints without an orientation in Kinect's output (leaves).
const LEAF: [usize; 7] = [3, 15, 19, 21, 22, 23, 24];

/// One body as a frame of the file lists it.
pub(super) struct BodyRecord<'a> {
    pub(super) id: u64,
    /// leanX, leanY of the body line.
    pub(super) lean: [f64; 2],
    /// Camera-space joints, metres.
    pub(super) joints: &'a [DVec3; 25],
    /// World-frame segment rotations (a tracked person), or none (a spurious body).
    pub(super) rots: Option<&'a [DMat3; 25]>,
    /// Tracked (2) or inferred (1), per joint.
    pub(super) tracked: [bool; 25],
}

/// A count alone on its line: the frame count, a frame's body count.
pub(super) fn count_line(out: &mut Vec<u8>, n: usize) {
    let _ = writeln!(out, "{n}");
}

/// The lines of `body` as camera `cam_rot` (world → camera) records it.
pub(super) fn body_lines(out: &mut Vec<u8>, body: &BodyRecord, cam_rot: &DMat3) {
    let _ = write!(out, "{} 0 1 1 1 1 0 ", body.id);
    put_num(out, body.lean[0]);
    out.push(b' ');
    put_num(out, body.lean[1]);
    out.extend_from_slice(b" 2\n25\n");
    for v in 0..25 {
        let p = body.joints[v];
        let z = p.z.max(0.3);
        let depth = [256.0 + 365.0 * p.x / z, 212.0 - 365.0 * p.y / z];
        let color = [960.0 + 1081.0 * p.x / z, 540.0 - 1081.0 * p.y / z];
        let q = match body.rots {
            Some(r) if !LEAF.contains(&v) => quat(&(*cam_rot * r[v])),
            _ => [0.0; 4],
        };
        for (i, x) in [
            p.x, p.y, p.z, depth[0], depth[1], color[0], color[1], q[0], q[1], q[2], q[3],
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                out.push(b' ');
            }
            put_num(out, x);
        }
        out.extend_from_slice(if body.tracked[v] { b" 2\n" } else { b" 1\n" });
    }
}

/// The unit quaternion (w, x, y, z) of a rotation matrix, w ≥ 0 unless another component
/// is the largest (Shepperd's method with the trace first). Kept rather than glam's
/// `DQuat::from_mat3`, which branches and rounds differently: the corpus's bytes would
/// change.
fn quat(rot: &DMat3) -> [f64; 4] {
    // Row-major, as the formulas index it.
    let m = rot.transpose().to_cols_array_2d();
    let tr = m[0][0] + m[1][1] + m[2][2];
    let (w, x, y, z);
    if tr > 0.0 {
        let s = (tr + 1.0).sqrt() * 2.0;
        w = 0.25 * s;
        x = (m[2][1] - m[1][2]) / s;
        y = (m[0][2] - m[2][0]) / s;
        z = (m[1][0] - m[0][1]) / s;
    } else if m[0][0] > m[1][1] && m[0][0] > m[2][2] {
        let s = (1.0 + m[0][0] - m[1][1] - m[2][2]).sqrt() * 2.0;
        w = (m[2][1] - m[1][2]) / s;
        x = 0.25 * s;
        y = (m[0][1] + m[1][0]) / s;
        z = (m[0][2] + m[2][0]) / s;
    } else if m[1][1] > m[2][2] {
        let s = (1.0 + m[1][1] - m[0][0] - m[2][2]).sqrt() * 2.0;
        w = (m[0][2] - m[2][0]) / s;
        x = (m[0][1] + m[1][0]) / s;
        y = 0.25 * s;
        z = (m[1][2] + m[2][1]) / s;
    } else {
        let s = (1.0 + m[2][2] - m[0][0] - m[1][1]).sqrt() * 2.0;
        w = (m[1][0] - m[0][1]) / s;
        x = (m[0][2] + m[2][0]) / s;
        y = (m[1][2] + m[2][1]) / s;
        z = 0.25 * s;
    }
    [w, x, y, z]
}

/// Seven significant digits like the Kinect SDK's output, exponent notation (`8.094816E-05`)
/// for small magnitudes. Hand-rolled: the NTU-60-sized corpus writes over a billion numbers.
fn put_num(out: &mut Vec<u8>, v: f64) {
    const POW10: [f64; 13] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
    ];
    let a = v.abs();
    if a < 5e-13 || !v.is_finite() {
        out.push(b'0');
        return;
    }
    if a < 1e-4 {
        let _ = write!(out, "{:.6E}", v);
        // Rust writes `8.094816E-5`; the Kinect files pad the exponent: `E-05`.
        if out[out.len() - 3] == b'E' {
            let last = out.len() - 1;
            out.insert(last, b'0');
        }
        return;
    }
    let exp = a.log10().floor() as i32;
    let decimals = (6 - exp).clamp(0, 12) as usize;
    let scaled = (a * POW10[decimals]).round() as u64;
    if scaled == 0 {
        out.push(b'0');
        return;
    }
    if v < 0.0 {
        out.push(b'-');
    }
    // Decimal digits, least significant first; the first `decimals` are the fraction.
    let mut digits = [0u8; 24];
    let mut n = 0;
    let mut x = scaled;
    while x > 0 || n <= decimals {
        digits[n] = b'0' + (x % 10) as u8;
        x /= 10;
        n += 1;
    }
    let mut zeros = 0;
    while zeros < decimals && digits[zeros] == b'0' {
        zeros += 1;
    }
    for i in (decimals..n).rev() {
        out.push(digits[i]);
    }
    if zeros < decimals {
        out.push(b'.');
        for i in (zeros..decimals).rev() {
            out.push(digits[i]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_look_like_kinect_output() {
        let show = |v: f64| {
            let mut o = Vec::new();
            put_num(&mut o, v);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(show(0.2181153), "0.2181153");
        assert_eq!(show(3.785547), "3.785547");
        assert_eq!(show(277.419), "277.419");
        assert_eq!(show(-0.00008094816), "-8.094816E-05");
        assert_eq!(show(0.0), "0");
        assert_eq!(show(1036.2331), "1036.233");
    }
}
