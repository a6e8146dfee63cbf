//! The scene of a recording: subjects (body, speed, amplitude, posture) and their personal
//! style per action, the cameras of a setup, and one performance of an action as the
//! world-frame joints of every frame, shared by the three cameras that film it.

use std::f64::consts::PI;

use glam::{DMat3, DVec3};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::body::{Anthropometry, Placement, Pose, forward_kinematics};
use super::motions::{ACTIONS, L, Motion, R, Variation, bump, d, hold, motion_pose};
use super::params::SynthPlan;
use super::{normal, rng_for};

/// Yaw of the three cameras of a setup, degrees (NTU films from −45°, 0° and +45°).
pub(super) const CAMERAS: [f64; 3] = [-45.0, 0.0, 45.0];

struct Subject {
    body: Anthropometry,
    speed: f64,
    amp: f64,
    slouch: f64,
    arm_hang: f64,
    sway: f64,
}

fn subject(seed: u64, id: u16) -> Subject {
    let mut r = rng_for(seed, &[1, id as u64]);
    let mut var = |sd: f64| (1.0 + sd * normal(&mut r)).clamp(1.0 - 2.5 * sd, 1.0 + 2.5 * sd);
    let body = Anthropometry {
        scale: var(0.09),
        torso: var(0.05),
        shoulders: var(0.07),
        hips: var(0.07),
        upper_arm: var(0.06),
        forearm: var(0.06),
        thigh: var(0.05),
        shank: var(0.05),
        neck: var(0.15),
    };
    Subject {
        body,
        speed: var(0.15),
        amp: var(0.12),
        slouch: d(4.0 * normal(&mut r)),
        arm_hang: d(6.0 + 3.0 * normal(&mut r).abs()),
        sway: 0.5 + r.random::<f64>(),
    }
}

/// A subject's personal way of doing one action: angle offsets, amplitude, timing warp.
struct Style {
    offset: Pose,
    amp: f64,
    warp: f64,
    /// How the subject mixes raising an arm forward and sideways (and a leg), radians.
    arm_mix: f64,
    leg_mix: f64,
}

impl Style {
    /// Rotate the (flexion, abduction) plan of the limbs: one subject waves out to the side,
    /// another more in front.
    fn mix(&self, mut p: Pose) -> Pose {
        let (sa, ca) = self.arm_mix.sin_cos();
        let (sl, cl) = self.leg_mix.sin_cos();
        for s in 0..2 {
            let (f, a) = (p.sh_flex[s], p.sh_abd[s]);
            p.sh_flex[s] = ca * f + sa * a.abs();
            p.sh_abd[s] = -sa * f.abs() * 0.5 + ca * a;
            let (f, a) = (p.hip_flex[s], p.hip_abd[s]);
            p.hip_flex[s] = cl * f + sl * a.abs();
            p.hip_abd[s] = sl * f.abs() * 0.3 + cl * a;
        }
        p
    }
}

fn style(seed: u64, subject: u16, action: usize) -> Style {
    let mut r = rng_for(seed, &[2, subject as u64, action as u64]);
    let mut ang = |sd: f64| d(sd * normal(&mut r));
    let offset = Pose {
        spine_flex: ang(5.0),
        spine_side: ang(3.0),
        spine_twist: ang(5.0),
        neck_flex: ang(6.0),
        neck_yaw: ang(6.0),
        sh_flex: [ang(18.0), ang(18.0)],
        sh_abd: [ang(15.0), ang(15.0)],
        el_flex: [ang(22.0), ang(22.0)],
        hip_flex: [ang(5.0), ang(5.0)],
        hip_abd: [ang(3.0), ang(3.0)],
        knee_flex: [ang(6.0), ang(6.0)],
        ..Pose::default()
    };
    Style {
        offset,
        amp: (1.0 + 0.18 * normal(&mut r)).clamp(0.6, 1.4),
        warp: (0.3 * normal(&mut r)).exp(),
        arm_mix: d(30.0 * normal(&mut r)),
        leg_mix: d(15.0 * normal(&mut r)),
    }
}

/// Camera pose in a setup: position and world→camera rotation (rows = camera x, y, z).
pub(super) fn camera(seed: u64, setup: u16, cam: usize) -> (DVec3, DMat3) {
    let mut r = rng_for(seed, &[3, setup as u64]);
    let dist = 2.6 + 1.0 * r.random::<f64>();
    let yaw_jitter: f64 = d(4.0 * normal(&mut r));
    // Each camera of a setup at its own height: views differ in pitch too.
    let mut rc = rng_for(seed, &[4, setup as u64, cam as u64]);
    let height = 0.5 + 1.4 * rc.random::<f64>();
    let yaw = d(CAMERAS[cam]) + yaw_jitter + d(2.0 * normal(&mut rc));
    let pos = DMat3::from_rotation_y(yaw) * DVec3::new(0.0, height, -dist);
    // Look at the chest of a person standing at the origin.
    let target = DVec3::new(0.0, 1.1 + 0.1 * normal(&mut rc), 0.0);
    let fwd = target - pos;
    // Divided by the length (not multiplied by its reciprocal, as `normalize` does): the
    // corpus's bytes depend on the last bit.
    let z = fwd / fwd.length();
    // Kinect camera space: x to the sensor's left, y up, z forward (right-handed).
    let x = DVec3::Y.cross(z);
    let x = x / x.length();
    let y = z.cross(x);
    let roll = d(1.5 * normal(&mut rc));
    let rot = DMat3::from_rotation_z(roll) * DMat3::from_cols(x, y, z).transpose();
    (pos, rot)
}

/// A movement unrelated to the action, at a random time of the clip.
struct Fidget {
    pose: Pose,
    start: f64,
    width: f64,
}

fn fidgets(r: &mut ChaCha8Rng) -> Vec<Fidget> {
    let n = [0, 1, 1, 2, 2, 3][r.random_range(0..6usize)];
    (0..n)
        .map(|_| {
            let mut pose = Pose::default();
            let sign = if r.random::<bool>() { 1.0 } else { -1.0 };
            let amp = d(15.0 + 40.0 * r.random::<f64>());
            let side = r.random_range(0..2usize);
            match r.random_range(0..6u32) {
                0 => pose.sh_flex[side] = amp,
                1 => pose.sh_abd[side] = amp,
                2 => pose.el_flex[side] = amp * 2.0,
                3 => pose.neck_yaw = sign * amp,
                4 => pose.spine_twist = sign * amp * 0.6,
                _ => pose.neck_flex = sign * amp * 0.5,
            }
            Fidget {
                pose,
                start: r.random::<f64>() * 0.9 - 0.1,
                width: 0.15 + 0.35 * r.random::<f64>(),
            }
        })
        .collect()
}

/// One performance (shared by the three cameras): per frame, the world joints and segment
/// rotations of each person.
pub(super) struct Performance {
    pub(super) persons: Vec<Vec<([DVec3; 25], [DMat3; 25])>>,
    pub(super) body_ids: Vec<u64>,
}

pub(super) fn perform(
    seed: u64,
    plan: &SynthPlan,
    setup: u16,
    subject_id: u16,
    rep: u16,
    action: usize,
) -> Performance {
    let (_, motion, base) = ACTIONS[action];
    let mut r = rng_for(
        seed,
        &[
            5,
            setup as u64,
            subject_id as u64,
            rep as u64,
            action as u64,
        ],
    );
    let two = motion.two_person();
    // The partner of a two-person action: another subject of the corpus.
    let n_subj = plan.subjects.max(2);
    let mut partner_id = (1 + (subject_id as usize + 6 * rep as usize) % n_subj) as u16;
    if partner_id == subject_id {
        partner_id = (1 + subject_id as usize % n_subj) as u16;
    }
    let subjects: Vec<Subject> = if two {
        vec![subject(seed, subject_id), subject(seed, partner_id)]
    } else {
        vec![subject(seed, subject_id)]
    };
    let styles: Vec<Style> = if two {
        vec![
            style(seed, subject_id, action),
            style(seed, partner_id, action + 1000),
        ]
    } else {
        vec![style(seed, subject_id, action)]
    };
    let speed = subjects[0].speed * styles[0].warp.sqrt();
    let active = ((0.75 * base as f64 / speed) * (0.75 + 0.55 * r.random::<f64>()))
        .round()
        .clamp(20.0, 140.0) as usize;
    // Idle before and after the action, of very different lengths: where the action sits in
    // the clip varies a lot, as in the real recordings.
    let lead = 2 + (active as f64 * 0.8 * r.random::<f64>()) as usize;
    let tail = 2 + (active as f64 * 0.8 * r.random::<f64>()) as usize;
    let frames = (lead + active + tail).min(300);
    // Repetitions of periodic movements vary per performance.
    let cycles = 0.7 + 0.7 * r.random::<f64>();
    let phase = 2.0 * PI * r.random::<f64>();
    // Fidgets: movements unrelated to the action (an arm, the head, the trunk).
    let fidgets: Vec<Vec<Fidget>> = (0..subjects.len()).map(|_| fidgets(&mut r)).collect();

    // Replication 2 turns the subject towards another camera, as in NTU.
    let facing = d(if rep.is_multiple_of(2) { 30.0 } else { 0.0 } + 8.0 * normal(&mut r));
    let centre = DVec3::new(0.3 * normal(&mut r), 0.0, 0.3 * normal(&mut r));
    let placements: Vec<Placement> = if two {
        let gap = if matches!(motion, Motion::Approach) {
            2.4
        } else {
            1.0
        } + 0.1 * normal(&mut r);
        let side = DMat3::from_rotation_y(facing) * DVec3::new(gap / 2.0, 0.0, 0.0);
        vec![
            Placement {
                pos: centre - side,
                yaw: facing - PI / 2.0,
            },
            Placement {
                pos: centre + side,
                yaw: facing + PI / 2.0,
            },
        ]
    } else {
        vec![Placement {
            pos: centre,
            yaw: facing,
        }]
    };
    // How this performance leans (forward, sideways), whatever the action.
    let lean: Vec<[f64; 2]> = (0..subjects.len())
        .map(|_| [d(6.0 * normal(&mut r)), d(4.0 * normal(&mut r))])
        .collect();
    let sway_phase: Vec<f64> = (0..subjects.len())
        .map(|_| r.random::<f64>() * 2.0 * PI)
        .collect();
    let mut persons = vec![Vec::with_capacity(frames); subjects.len()];
    for f in 0..frames {
        let u_lin = ((f as f64 - lead as f64) / active as f64).clamp(0.0, 1.0);
        for (k, subj) in subjects.iter().enumerate() {
            let st = &styles[k];
            let u = u_lin.powf(st.warp);
            let var = Variation {
                amp: subj.amp * st.amp,
                cycles,
                phase,
            };
            let mut pose = st.mix(motion_pose(motion, u, k, &var));
            pose = pose.add(&st.offset, hold(u_lin, 0.0, 0.15, 0.85, 1.0));
            for fg in &fidgets[k] {
                let w = bump((f as f64 / frames as f64 - fg.start) / fg.width);
                pose = pose.add(&fg.pose, w);
            }
            // Posture and idle life: slouch, hanging arms, breathing, sway.
            let t = f as f64 / 30.0;
            pose.spine_flex +=
                subj.slouch + lean[k][0] + d(1.5) * (2.0 * PI * 0.25 * t + sway_phase[k]).sin();
            pose.spine_side += lean[k][1];
            pose.sh_abd[L] += subj.arm_hang;
            pose.sh_abd[R] += subj.arm_hang;
            pose.root_x += 0.015 * subj.sway * (2.0 * PI * 0.13 * t + sway_phase[k]).sin();
            pose.root_z += 0.01 * subj.sway * (2.0 * PI * 0.09 * t + 1.3 * sway_phase[k]).sin();
            persons[k].push(forward_kinematics(&subj.body, &pose, &placements[k]));
        }
    }
    let body_ids = (0..subjects.len())
        .map(|_| 72_057_594_037_927_936u64 + r.random_range(1000..100_000u64))
        .collect();
    Performance { persons, body_ids }
}
