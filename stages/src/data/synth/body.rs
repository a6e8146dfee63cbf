//! The body model: a 25-joint skeleton with NTU's topology, posed by forward kinematics from
//! joint angles ([`Pose`]) and a subject's proportions ([`Anthropometry`]).
//!
//! The maths is glam's `f64` types. Every product is written in the order (and with the
//! grouping) of the original hand-written row-major code, and glam multiplies in the same
//! order, so the corpus stays byte-identical.

use glam::{DMat3, DVec3};

use super::motions::R;

/// Joint angles (radians) and root motion of one person in one frame. Index 0 = left,
/// 1 = right. Body frame: +x right, +y up, −z forward.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Pose {
    pub(super) spine_flex: f64,
    pub(super) spine_side: f64,
    pub(super) spine_twist: f64,
    pub(super) neck_flex: f64,
    pub(super) neck_yaw: f64,
    pub(super) sh_flex: [f64; 2],
    pub(super) sh_abd: [f64; 2],
    pub(super) el_flex: [f64; 2],
    pub(super) hip_flex: [f64; 2],
    pub(super) hip_abd: [f64; 2],
    pub(super) knee_flex: [f64; 2],
    /// Turning, added to the performance's facing.
    pub(super) yaw: f64,
    /// Displacement in the performance frame (x right, z back), metres.
    pub(super) root_x: f64,
    pub(super) root_z: f64,
    /// Feet above the floor (jumps), metres.
    pub(super) lift: f64,
    /// Shoulders raised, metres.
    pub(super) shrug: f64,
}

impl Pose {
    pub(super) fn add(mut self, o: &Pose, k: f64) -> Pose {
        self.spine_flex += k * o.spine_flex;
        self.spine_side += k * o.spine_side;
        self.spine_twist += k * o.spine_twist;
        self.neck_flex += k * o.neck_flex;
        self.neck_yaw += k * o.neck_yaw;
        for s in 0..2 {
            self.sh_flex[s] += k * o.sh_flex[s];
            self.sh_abd[s] += k * o.sh_abd[s];
            self.el_flex[s] += k * o.el_flex[s];
            self.hip_flex[s] += k * o.hip_flex[s];
            self.hip_abd[s] += k * o.hip_abd[s];
            self.knee_flex[s] += k * o.knee_flex[s];
        }
        self
    }
}

/// A subject's body: size and proportions.
#[derive(Clone, Copy, Debug)]
pub(super) struct Anthropometry {
    pub(super) scale: f64,
    pub(super) torso: f64,
    pub(super) shoulders: f64,
    pub(super) hips: f64,
    pub(super) upper_arm: f64,
    pub(super) forearm: f64,
    pub(super) thigh: f64,
    pub(super) shank: f64,
    pub(super) neck: f64,
}

/// Where a person stands and which way it faces (world frame).
#[derive(Clone, Copy, Debug)]
pub(super) struct Placement {
    pub(super) pos: DVec3,
    pub(super) yaw: f64,
}

fn rx(a: f64) -> DMat3 {
    DMat3::from_rotation_x(a)
}
fn ry(a: f64) -> DMat3 {
    DMat3::from_rotation_y(a)
}
fn rz(a: f64) -> DMat3 {
    DMat3::from_rotation_z(a)
}

/// World positions (metres, y up, floor at 0) and segment rotations of the 25 joints.
pub(super) fn forward_kinematics(
    body: &Anthropometry,
    pose: &Pose,
    place: &Placement,
) -> ([DVec3; 25], [DMat3; 25]) {
    let s = body.scale;
    let v = DVec3::new;
    let mut p = [DVec3::ZERO; 25];
    let mut rot = [DMat3::IDENTITY; 25];
    let frame = ry(place.yaw);
    let root_rot = frame * ry(pose.yaw);
    let root = place.pos + frame * v(pose.root_x, 0.0, pose.root_z);
    // Spine: half the bend at J1→J2, half at J2→J21; bowing forward is −x rotation.
    let half = ry(pose.spine_twist / 2.0) * rz(-pose.spine_side / 2.0) * rx(-pose.spine_flex / 2.0);
    let r_lower = root_rot * half;
    let r_chest = r_lower * half;
    p[0] = root;
    rot[0] = root_rot;
    p[1] = p[0] + r_lower * v(0.0, 0.25 * s * body.torso, 0.0);
    rot[1] = r_lower;
    p[20] = p[1] + r_chest * v(0.0, 0.23 * s * body.torso, 0.0);
    rot[20] = r_chest;
    let r_neck = r_chest * (ry(pose.neck_yaw) * rx(-pose.neck_flex));
    p[2] = p[20] + r_chest * v(0.0, 0.07 * s * body.neck, 0.0);
    rot[2] = r_neck;
    p[3] = p[2] + r_neck * v(0.0, 0.13 * s, -0.01 * s);
    rot[3] = r_neck;
    // Arms: (shoulder, elbow, wrist, hand, tip, thumb) for left and right.
    for (side, (sh, el, wr, ha, tip, th)) in [(4, 5, 6, 7, 21, 22), (8, 9, 10, 11, 23, 24)]
        .into_iter()
        .enumerate()
    {
        let sign = if side == R { 1.0 } else { -1.0 };
        p[sh] = p[20]
            + r_chest
                * v(
                    sign * 0.17 * s * body.shoulders,
                    -0.04 * s + pose.shrug,
                    0.0,
                );
        rot[sh] = r_chest;
        let r_arm = r_chest * (rx(pose.sh_flex[side]) * rz(sign * pose.sh_abd[side]));
        p[el] = p[sh] + r_arm * v(0.0, -0.28 * s * body.upper_arm, 0.0);
        rot[el] = r_arm;
        let r_fore = r_arm * rx(pose.el_flex[side]);
        p[wr] = p[el] + r_fore * v(0.0, -0.25 * s * body.forearm, 0.0);
        rot[wr] = r_fore;
        p[ha] = p[wr] + r_fore * v(0.0, -0.07 * s, 0.0);
        rot[ha] = r_fore;
        p[tip] = p[ha] + r_fore * v(0.0, -0.07 * s, -0.01 * s);
        p[th] = p[ha] + r_fore * v(-sign * 0.01 * s, -0.03 * s, -0.04 * s);
    }
    // Legs: (hip, knee, ankle, foot) for left and right; the pelvis turns with the root.
    for (side, (hip, knee, ankle, foot)) in
        [(12, 13, 14, 15), (16, 17, 18, 19)].into_iter().enumerate()
    {
        let sign = if side == R { 1.0 } else { -1.0 };
        p[hip] = p[0] + root_rot * v(sign * 0.09 * s * body.hips, -0.05 * s, 0.0);
        rot[hip] = root_rot;
        let r_thigh = root_rot * (rx(pose.hip_flex[side]) * rz(sign * pose.hip_abd[side]));
        p[knee] = p[hip] + r_thigh * v(0.0, -0.42 * s * body.thigh, 0.0);
        rot[knee] = r_thigh;
        let r_shank = r_thigh * rx(-pose.knee_flex[side]);
        p[ankle] = p[knee] + r_shank * v(0.0, -0.40 * s * body.shank, 0.0);
        rot[ankle] = r_shank;
        p[foot] = p[ankle] + r_shank * v(0.0, -0.05 * s, -0.11 * s);
    }
    // Stand on the floor: the lower ankle at ankle height, plus the jump.
    let ground = p[14].y.min(p[18].y) - 0.08 * s - pose.lift;
    for q in p.iter_mut() {
        q.y -= ground;
    }
    (p, rot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standing_pose_is_plausible() {
        let body = Anthropometry {
            scale: 1.0,
            torso: 1.0,
            shoulders: 1.0,
            hips: 1.0,
            upper_arm: 1.0,
            forearm: 1.0,
            thigh: 1.0,
            shank: 1.0,
            neck: 1.0,
        };
        let (p, _) = forward_kinematics(
            &body,
            &Pose::default(),
            &Placement {
                pos: DVec3::ZERO,
                yaw: 0.0,
            },
        );
        assert!(p[3].y > 1.55 && p[3].y < 1.8, "head height {}", p[3].y);
        assert!(p[8].x > p[4].x, "right shoulder at +x");
        assert!(p[15].z < p[14].z, "feet point forward (−z)");
    }
}
