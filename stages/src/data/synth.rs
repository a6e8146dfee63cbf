//! `synth.ntu`: a synthetic corpus written as genuine NTU RGB+D `.skeleton` files
//! (`SsssCcccPpppRrrrAaaa.skeleton`, the full 10-value body line and 12-value joint lines),
//! so it flows through the same `ntu.import` as the real dataset.
//!
//! What makes learning on it mean something:
//! - Up to 60 action classes that move different body parts in different ways (waves,
//!   reaches, punches, kicks, bows, squats, turns, walks, head gestures, and two-person
//!   approach / handshake / push / hug …), with confusable pairs (left vs right hand,
//!   drink vs phone call, reach vs punch, sit down vs squat).
//! - A 25-joint skeleton with NTU's topology, posed by forward kinematics from joint angles.
//! - Subjects differ in size and bone proportions, speed, amplitude, posture, and in a
//!   personal style per action (joint-angle offsets, timing warp); a performance has idle
//!   lead-in and lead-out of random length, idle sway and breathing.
//! - Each performance is recorded by 3 cameras at −45°, 0°, +45° yaw (setup-dependent
//!   distance and height, tilted down), like NTU; replication 2 turns the subject.
//! - Sensor noise (stronger on hands and feet and along the depth axis), self-occlusion
//!   noise on the side turned away from the camera, tracking jitter bursts, a few dropped
//!   frames (0 bodies), and a few noisy extra bodies (sometimes listed first).
//!
//! Everything is deterministic in the seed: every performance and every file has its own
//! ChaCha stream derived from (seed, setup, subject, replication, action[, camera]), so
//! parallel generation is order-independent.

use std::f64::consts::PI;
use std::io::Write as _;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ntu_format::NtuName;
use crate::params::{ParamError, Params};
use crate::{IoContext, Kind, StageContext, StageError};

pub const KIND: &str = "synth.ntu";

type V3 = [f64; 3];
type M3 = [[f64; 3]; 3];

// ------------------------------------------------------------------------------------------
// Params

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SynthSize {
    /// 12 classes × 10 subjects × 3 cameras × 2 replications = 720 files: import and a
    /// small encoder's training in minutes on 2 cores.
    #[default]
    Quick,
    /// 30 classes × 20 subjects × 3 × 2 = 3,600 files.
    Small,
    /// NTU-60 sized: 60 classes × 158 setup/subject sessions (17 setups, 40 subjects) × 3 × 2
    /// = 56,880 files, for benchmarks.
    Ntu60,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SynthParams {
    /// `quick` | `small` | `ntu60`: default counts (each overridable below).
    pub size: SynthSize,
    /// Action classes (0: the size's default; at most 60).
    pub classes: usize,
    /// Subjects (0: the size's default).
    pub subjects: usize,
    /// Setups (0: the size's default).
    pub setups: usize,
    /// Recording sessions, i.e. (setup, subject) pairs (0: the size's default).
    pub sessions: usize,
    /// Replications per session and action (NTU has 2).
    pub replications: usize,
    /// Sensor noise: standard deviation in metres of the white noise on a torso joint.
    pub noise: f64,
    /// Probability per file of tracking-jitter bursts.
    pub jitter: f64,
    /// Probability per file of dropped frames (frames with 0 bodies).
    pub dropped: f64,
    /// Probability per file of a noisy extra body.
    pub extra_bodies: f64,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            size: SynthSize::Quick,
            classes: 0,
            subjects: 0,
            setups: 0,
            sessions: 0,
            replications: 2,
            noise: 0.012,
            jitter: 0.15,
            dropped: 0.04,
            extra_bodies: 0.05,
        }
    }
}

impl Params for SynthParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut errs = Vec::new();
        if self.classes > ACTIONS.len() {
            errs.push(ParamError::at(
                "classes",
                format!("at most {} classes are defined", ACTIONS.len()),
            ));
        }
        if self.subjects > 999 || self.setups > 999 {
            errs.push(ParamError::at(
                "subjects",
                "subjects and setups must fit three digits (≤ 999)",
            ));
        }
        if !(1..=9).contains(&self.replications) {
            errs.push(ParamError::at("replications", "must be 1..=9"));
        }
        for (k, v) in [
            ("noise", self.noise),
            ("jitter", self.jitter),
            ("dropped", self.dropped),
            ("extra_bodies", self.extra_bodies),
        ] {
            if !(0.0..=1.0).contains(&v) {
                errs.push(ParamError::at(k, format!("{v} is outside 0..=1")));
            }
        }
        errs
    }
}

/// The concrete counts of a corpus.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SynthPlan {
    pub classes: usize,
    pub subjects: usize,
    pub setups: usize,
    pub replications: usize,
    /// (setup, subject) pairs, 1-based.
    pub sessions: Vec<(u16, u16)>,
}

impl SynthParams {
    pub fn plan(&self) -> SynthPlan {
        let (c, subj, set, sess) = match self.size {
            SynthSize::Quick => (12, 10, 2, 10),
            SynthSize::Small => (30, 20, 4, 20),
            SynthSize::Ntu60 => (60, 40, 17, 158),
        };
        let or = |v: usize, d: usize| if v == 0 { d } else { v };
        let subjects = or(self.subjects, subj);
        let setups = or(self.setups, set).max(1);
        // Sessions scale with the subjects (NTU-60: 158 sessions of 40 subjects), at most one
        // per (setup, subject).
        let n_sessions = or(self.sessions, (sess * subjects).div_ceil(subj)).min(subjects * setups);
        // Subject s records first in setup base(s), then in the following setups.
        let sessions = (0..n_sessions)
            .map(|k| {
                let (s, round) = (k % subjects, k / subjects);
                (
                    (1 + (s * setups / subjects + round) % setups) as u16,
                    (1 + s) as u16,
                )
            })
            .collect();
        SynthPlan {
            classes: or(self.classes, c),
            subjects,
            setups,
            replications: self.replications,
            sessions,
        }
    }
}

impl SynthPlan {
    pub fn num_files(&self) -> usize {
        self.sessions.len() * self.replications * self.classes * CAMERAS.len()
    }
}

// ------------------------------------------------------------------------------------------
// Actions

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Motion {
    Wave(usize),
    RaiseHand(usize),
    HandsInFront,
    ReachForward(usize),
    ReachUp(usize),
    Punch(usize),
    HandToMouth(usize),
    HandToEar(usize),
    Throw(usize),
    ArmCircle(usize),
    Point(usize),
    TouchHead(usize),
    Clap,
    StretchUp,
    CrossArms,
    FlapArms,
    PushForward,
    Kick(usize),
    SideKick(usize),
    StepForward(usize),
    HopOneLeg(usize),
    Bow,
    Squat,
    Jump,
    TurnAround,
    SideBend(usize),
    Nod,
    ShakeHead,
    WalkToward,
    WalkAway,
    SitDown,
    StandUp,
    JumpingJacks,
    MarchInPlace,
    LookAround,
    Shrug,
    RubHands,
    Approach,
    WalkApart,
    Handshake,
    PushOther,
    Hug,
    HighFive,
    PunchOther,
    KickOther,
    PointAtOther,
    GiveObject,
}

const L: usize = 0;
const R: usize = 1;

/// The classes in label order: the first ones are the most varied, so that a small
/// `classes` still covers arms, legs, trunk and two-person actions.
const ACTIONS: [(&str, Motion, u32); 60] = [
    ("wave right hand", Motion::Wave(R), 70),
    ("kick right leg", Motion::Kick(R), 55),
    ("bow", Motion::Bow, 65),
    ("handshake", Motion::Handshake, 80),
    ("raise right hand", Motion::RaiseHand(R), 70),
    ("turn around", Motion::TurnAround, 75),
    ("clap", Motion::Clap, 65),
    ("squat", Motion::Squat, 75),
    ("push other person", Motion::PushOther, 60),
    ("approach each other", Motion::Approach, 85),
    ("hands together in front", Motion::HandsInFront, 65),
    ("wave left hand", Motion::Wave(L), 70),
    ("punch right", Motion::Punch(R), 45),
    ("jump", Motion::Jump, 55),
    ("phone call (right hand to ear)", Motion::HandToEar(R), 85),
    ("kick left leg", Motion::Kick(L), 55),
    ("nod", Motion::Nod, 50),
    ("hug", Motion::Hug, 80),
    ("bend to the right", Motion::SideBend(R), 60),
    ("reach forward right hand", Motion::ReachForward(R), 60),
    ("throw right hand", Motion::Throw(R), 55),
    ("sit down", Motion::SitDown, 80),
    ("high five", Motion::HighFive, 60),
    ("shake head", Motion::ShakeHead, 50),
    ("push forward with both hands", Motion::PushForward, 50),
    ("march in place", Motion::MarchInPlace, 80),
    ("right arm circles", Motion::ArmCircle(R), 75),
    ("walk toward the camera", Motion::WalkToward, 90),
    ("stretch both arms up", Motion::StretchUp, 70),
    ("punch other person", Motion::PunchOther, 55),
    ("stand up", Motion::StandUp, 75),
    ("point right hand", Motion::Point(R), 65),
    ("touch head right hand", Motion::TouchHead(R), 65),
    ("side kick right", Motion::SideKick(R), 55),
    ("walk apart", Motion::WalkApart, 85),
    ("cross arms", Motion::CrossArms, 70),
    ("flap arms", Motion::FlapArms, 60),
    ("step forward right", Motion::StepForward(R), 55),
    ("hop on left leg", Motion::HopOneLeg(R), 65),
    ("jumping jacks", Motion::JumpingJacks, 80),
    ("kick other person", Motion::KickOther, 60),
    ("look around", Motion::LookAround, 80),
    ("walk away", Motion::WalkAway, 90),
    ("shrug", Motion::Shrug, 50),
    ("rub hands", Motion::RubHands, 65),
    ("point at other person", Motion::PointAtOther, 65),
    ("give object", Motion::GiveObject, 75),
    ("reach up left hand", Motion::ReachUp(L), 60),
    ("drink (left hand to mouth)", Motion::HandToMouth(L), 75),
    ("punch left", Motion::Punch(L), 45),
    ("phone call (left hand to ear)", Motion::HandToEar(L), 85),
    ("bend to the left", Motion::SideBend(L), 60),
    ("reach forward left hand", Motion::ReachForward(L), 60),
    ("throw left hand", Motion::Throw(L), 55),
    ("left arm circles", Motion::ArmCircle(L), 75),
    ("point left hand", Motion::Point(L), 65),
    ("touch head left hand", Motion::TouchHead(L), 65),
    ("side kick left", Motion::SideKick(L), 55),
    ("reach up right hand", Motion::ReachUp(R), 60),
    ("drink (right hand to mouth)", Motion::HandToMouth(R), 75),
];

/// The class names, label order (label = action number − 1).
pub fn class_names(classes: usize) -> Vec<&'static str> {
    ACTIONS.iter().take(classes).map(|a| a.0).collect()
}

impl Motion {
    fn two_person(self) -> bool {
        matches!(
            self,
            Motion::Approach
                | Motion::WalkApart
                | Motion::Handshake
                | Motion::PushOther
                | Motion::Hug
                | Motion::HighFive
                | Motion::PunchOther
                | Motion::KickOther
                | Motion::PointAtOther
                | Motion::GiveObject
        )
    }
}

// ------------------------------------------------------------------------------------------
// Pose and forward kinematics

/// Joint angles (radians) and root motion of one person in one frame. Index 0 = left,
/// 1 = right. Body frame: +x right, +y up, −z forward.
#[derive(Clone, Copy, Debug, Default)]
struct Pose {
    spine_flex: f64,
    spine_side: f64,
    spine_twist: f64,
    neck_flex: f64,
    neck_yaw: f64,
    sh_flex: [f64; 2],
    sh_abd: [f64; 2],
    el_flex: [f64; 2],
    hip_flex: [f64; 2],
    hip_abd: [f64; 2],
    knee_flex: [f64; 2],
    /// Turning, added to the performance's facing.
    yaw: f64,
    /// Displacement in the performance frame (x right, z back), metres.
    root_x: f64,
    root_z: f64,
    /// Feet above the floor (jumps), metres.
    lift: f64,
    /// Shoulders raised, metres.
    shrug: f64,
}

impl Pose {
    fn add(mut self, o: &Pose, k: f64) -> Pose {
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
struct Anthropometry {
    scale: f64,
    torso: f64,
    shoulders: f64,
    hips: f64,
    upper_arm: f64,
    forearm: f64,
    thigh: f64,
    shank: f64,
    neck: f64,
}

fn rx(a: f64) -> M3 {
    let (s, c) = a.sin_cos();
    [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]]
}
fn ry(a: f64) -> M3 {
    let (s, c) = a.sin_cos();
    [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]
}
fn rz(a: f64) -> M3 {
    let (s, c) = a.sin_cos();
    [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
}
fn mm(a: &M3, b: &M3) -> M3 {
    let mut o = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            o[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j];
        }
    }
    o
}
fn mv(a: &M3, v: V3) -> V3 {
    [
        a[0][0] * v[0] + a[0][1] * v[1] + a[0][2] * v[2],
        a[1][0] * v[0] + a[1][1] * v[1] + a[1][2] * v[2],
        a[2][0] * v[0] + a[2][1] * v[1] + a[2][2] * v[2],
    ]
}
fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// World positions (metres, y up, floor at 0) and segment rotations of the 25 joints.
fn forward_kinematics(
    body: &Anthropometry,
    pose: &Pose,
    place: &Placement,
) -> ([V3; 25], [M3; 25]) {
    let s = body.scale;
    let mut p = [[0.0; 3]; 25];
    let mut rot = [[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]; 25];
    let frame = ry(place.yaw);
    let root_rot = mm(&frame, &ry(pose.yaw));
    let root = add(place.pos, mv(&frame, [pose.root_x, 0.0, pose.root_z]));
    // Spine: half the bend at J1→J2, half at J2→J21; bowing forward is −x rotation.
    let half = mm(
        &mm(&ry(pose.spine_twist / 2.0), &rz(-pose.spine_side / 2.0)),
        &rx(-pose.spine_flex / 2.0),
    );
    let r_lower = mm(&root_rot, &half);
    let r_chest = mm(&r_lower, &half);
    p[0] = root;
    rot[0] = root_rot;
    p[1] = add(p[0], mv(&r_lower, [0.0, 0.25 * s * body.torso, 0.0]));
    rot[1] = r_lower;
    p[20] = add(p[1], mv(&r_chest, [0.0, 0.23 * s * body.torso, 0.0]));
    rot[20] = r_chest;
    let r_neck = mm(&r_chest, &mm(&ry(pose.neck_yaw), &rx(-pose.neck_flex)));
    p[2] = add(p[20], mv(&r_chest, [0.0, 0.07 * s * body.neck, 0.0]));
    rot[2] = r_neck;
    p[3] = add(p[2], mv(&r_neck, [0.0, 0.13 * s, -0.01 * s]));
    rot[3] = r_neck;
    // Arms: (shoulder, elbow, wrist, hand, tip, thumb) for left and right.
    for (side, (sh, el, wr, ha, tip, th)) in [(4, 5, 6, 7, 21, 22), (8, 9, 10, 11, 23, 24)]
        .into_iter()
        .enumerate()
    {
        let sign = if side == R { 1.0 } else { -1.0 };
        p[sh] = add(
            p[20],
            mv(
                &r_chest,
                [
                    sign * 0.17 * s * body.shoulders,
                    -0.04 * s + pose.shrug,
                    0.0,
                ],
            ),
        );
        rot[sh] = r_chest;
        let r_arm = mm(
            &r_chest,
            &mm(&rx(pose.sh_flex[side]), &rz(sign * pose.sh_abd[side])),
        );
        p[el] = add(p[sh], mv(&r_arm, [0.0, -0.28 * s * body.upper_arm, 0.0]));
        rot[el] = r_arm;
        let r_fore = mm(&r_arm, &rx(pose.el_flex[side]));
        p[wr] = add(p[el], mv(&r_fore, [0.0, -0.25 * s * body.forearm, 0.0]));
        rot[wr] = r_fore;
        p[ha] = add(p[wr], mv(&r_fore, [0.0, -0.07 * s, 0.0]));
        rot[ha] = r_fore;
        p[tip] = add(p[ha], mv(&r_fore, [0.0, -0.07 * s, -0.01 * s]));
        p[th] = add(p[ha], mv(&r_fore, [-sign * 0.01 * s, -0.03 * s, -0.04 * s]));
    }
    // Legs: (hip, knee, ankle, foot) for left and right; the pelvis turns with the root.
    for (side, (hip, knee, ankle, foot)) in
        [(12, 13, 14, 15), (16, 17, 18, 19)].into_iter().enumerate()
    {
        let sign = if side == R { 1.0 } else { -1.0 };
        p[hip] = add(
            p[0],
            mv(&root_rot, [sign * 0.09 * s * body.hips, -0.05 * s, 0.0]),
        );
        rot[hip] = root_rot;
        let r_thigh = mm(
            &root_rot,
            &mm(&rx(pose.hip_flex[side]), &rz(sign * pose.hip_abd[side])),
        );
        p[knee] = add(p[hip], mv(&r_thigh, [0.0, -0.42 * s * body.thigh, 0.0]));
        rot[knee] = r_thigh;
        let r_shank = mm(&r_thigh, &rx(-pose.knee_flex[side]));
        p[ankle] = add(p[knee], mv(&r_shank, [0.0, -0.40 * s * body.shank, 0.0]));
        rot[ankle] = r_shank;
        p[foot] = add(p[ankle], mv(&r_shank, [0.0, -0.05 * s, -0.11 * s]));
    }
    // Stand on the floor: the lower ankle at ankle height, plus the jump.
    let ground = p[14][1].min(p[18][1]) - 0.08 * s - pose.lift;
    for q in p.iter_mut() {
        q[1] -= ground;
    }
    (p, rot)
}

// ------------------------------------------------------------------------------------------
// Motions

fn d(x: f64) -> f64 {
    x.to_radians()
}
fn smooth(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}
/// 0 → 1 over [a0, a1], held, 1 → 0 over [b0, b1].
fn hold(u: f64, a0: f64, a1: f64, b0: f64, b1: f64) -> f64 {
    smooth((u - a0) / (a1 - a0)) * (1.0 - smooth((u - b0) / (b1 - b0)))
}
fn bump(u: f64) -> f64 {
    0.5 - 0.5 * (2.0 * PI * u.clamp(0.0, 1.0)).cos()
}
fn osc(u: f64, cycles: f64) -> f64 {
    (2.0 * PI * cycles * u).sin()
}

/// Walking gait: alternate legs and counter-swinging arms, `cycles` strides.
fn gait(p: &mut Pose, u: f64, cycles: f64, env: f64) {
    let ph = osc(u, cycles);
    p.hip_flex[L] += d(25.0) * ph * env;
    p.hip_flex[R] -= d(25.0) * ph * env;
    p.knee_flex[L] += d(35.0) * ph.max(0.0) * env;
    p.knee_flex[R] += d(35.0) * (-ph).max(0.0) * env;
    p.sh_flex[L] -= d(20.0) * ph * env;
    p.sh_flex[R] += d(20.0) * ph * env;
    p.el_flex[L] += d(15.0) * env;
    p.el_flex[R] += d(15.0) * env;
}

/// How one performance varies: amplitude, repetitions and phase of periodic movements.
struct Variation {
    amp: f64,
    cycles: f64,
    phase: f64,
}

/// Pose of `person` (0 or 1) at phase `u` ∈ [0, 1] of the action.
fn motion_pose(m: Motion, u: f64, person: usize, v: &Variation) -> Pose {
    let (a, c) = (v.amp, v.cycles);
    // Oscillations start at a random phase: their mean pose says nothing about them.
    let osc = |u: f64, cycles: f64| (2.0 * PI * cycles * u + v.phase).sin();
    let mut p = Pose::default();
    match m {
        // Static counterparts of wave and clap: the same mean pose, no oscillation.
        Motion::RaiseHand(s) => {
            let h = hold(u, 0.0, 0.2, 0.8, 1.0);
            p.sh_abd[s] = d(105.0 * a) * h;
            p.sh_flex[s] = d(20.0) * h;
            p.el_flex[s] = d(70.0) * h;
        }
        Motion::HandsInFront => {
            let h = hold(u, 0.0, 0.2, 0.8, 1.0);
            for s in [L, R] {
                p.sh_flex[s] = d(70.0) * h;
                p.el_flex[s] = d(25.0) * h;
                p.sh_abd[s] = d(-8.0 + 30.0 * a * 2.0 / PI) * h;
            }
        }
        Motion::Wave(s) => {
            let h = hold(u, 0.0, 0.2, 0.8, 1.0);
            p.sh_abd[s] = d(105.0 * a) * h;
            p.sh_flex[s] = d(20.0) * h;
            p.el_flex[s] = d(70.0 + 30.0 * a * osc((u - 0.2) / 0.6, 3.0 * c)) * h;
        }
        Motion::ReachForward(s) => {
            let h = hold(u, 0.05, 0.4, 0.65, 1.0);
            p.sh_flex[s] = d(85.0 * a) * h;
            p.el_flex[s] = d(10.0) * h;
            p.spine_flex = d(10.0 * a) * h;
        }
        Motion::ReachUp(s) => {
            let h = hold(u, 0.05, 0.4, 0.65, 1.0);
            p.sh_flex[s] = d(160.0 * a.min(1.1)) * h;
            p.sh_abd[s] = d(10.0) * h;
            p.el_flex[s] = d(10.0) * h;
        }
        Motion::Punch(s) => {
            let guard = hold(u, 0.0, 0.15, 0.85, 1.0);
            let hit = hold(u, 0.3, 0.38, 0.42, 0.5).max(hold(u, 0.55, 0.63, 0.67, 0.75));
            p.sh_flex[s] = d(40.0 * guard + 45.0 * a * hit);
            p.el_flex[s] = d(120.0 * guard - 110.0 * hit).max(0.0);
            p.sh_flex[1 - s] = d(40.0) * guard;
            p.el_flex[1 - s] = d(120.0) * guard;
            p.spine_twist = d(if s == R { 15.0 } else { -15.0 }) * hit;
        }
        Motion::HandToMouth(s) => {
            let h = hold(u, 0.05, 0.35, 0.7, 1.0);
            p.sh_flex[s] = d(35.0 * a) * h;
            p.sh_abd[s] = d(10.0) * h;
            p.el_flex[s] = d(135.0) * h;
            p.neck_flex = d(-15.0) * hold(u, 0.35, 0.45, 0.6, 0.7);
        }
        Motion::HandToEar(s) => {
            let h = hold(u, 0.05, 0.25, 0.8, 1.0);
            p.sh_abd[s] = d(50.0 * a) * h;
            p.sh_flex[s] = d(20.0) * h;
            p.el_flex[s] = d(150.0) * h;
            p.neck_yaw = d(if s == R { -10.0 } else { 10.0 }) * h;
        }
        Motion::Throw(s) => {
            let wind = hold(u, 0.1, 0.4, 0.5, 0.6);
            let swing = hold(u, 0.5, 0.6, 0.7, 0.95);
            p.sh_flex[s] = d(150.0 * wind + 50.0 * a * swing);
            p.sh_abd[s] = d(30.0) * wind;
            p.el_flex[s] = d(100.0 * wind + 10.0 * swing);
            p.spine_twist = d(if s == R { 1.0 } else { -1.0 } * (-20.0 * wind + 20.0 * swing));
            p.spine_flex = d(15.0) * swing;
        }
        Motion::ArmCircle(s) => {
            let h = hold(u, 0.0, 0.15, 0.85, 1.0);
            let ph = 2.0 * PI * 2.0 * c * u;
            p.sh_flex[s] = d(90.0 + 70.0 * a * ph.sin()) * h;
            p.sh_abd[s] = d(45.0 + 40.0 * a * ph.cos()) * h;
        }
        Motion::Point(s) => {
            let h = hold(u, 0.05, 0.3, 0.75, 1.0);
            p.sh_flex[s] = d(85.0) * h;
            p.sh_abd[s] = d(25.0 * a) * h;
            p.neck_yaw = d(if s == R { 15.0 } else { -15.0 }) * h;
        }
        Motion::TouchHead(s) => {
            let h = hold(u, 0.05, 0.35, 0.7, 1.0);
            p.sh_abd[s] = d(120.0 * a.min(1.1)) * h;
            p.sh_flex[s] = d(30.0) * h;
            p.el_flex[s] = d(125.0) * h;
            p.neck_flex = d(10.0) * h;
        }
        Motion::Clap => {
            let h = hold(u, 0.0, 0.2, 0.8, 1.0);
            for s in [L, R] {
                p.sh_flex[s] = d(70.0) * h;
                p.el_flex[s] = d(25.0) * h;
                p.sh_abd[s] = d(-8.0 + 30.0 * a * osc(u, 4.0 * c).abs()) * h;
            }
        }
        Motion::StretchUp => {
            let h = hold(u, 0.05, 0.4, 0.7, 1.0);
            for s in [L, R] {
                p.sh_flex[s] = d(165.0) * h;
                p.sh_abd[s] = d(15.0 * a) * h;
            }
            p.spine_flex = d(-10.0) * h;
            p.neck_flex = d(-15.0) * h;
        }
        Motion::CrossArms => {
            let h = hold(u, 0.05, 0.35, 0.75, 1.0);
            for s in [L, R] {
                p.sh_flex[s] = d(55.0) * h;
                p.sh_abd[s] = d(-25.0 * a) * h;
                p.el_flex[s] = d(105.0) * h;
            }
        }
        Motion::FlapArms => {
            let h = hold(u, 0.0, 0.1, 0.9, 1.0);
            for s in [L, R] {
                p.sh_abd[s] = d(45.0 + 45.0 * a * osc(u, 3.0 * c)) * h;
            }
        }
        Motion::PushForward => {
            let h = hold(u, 0.0, 0.2, 0.8, 1.0);
            let push = hold(u, 0.3, 0.4, 0.45, 0.55).max(hold(u, 0.6, 0.7, 0.75, 0.85));
            for s in [L, R] {
                p.sh_flex[s] = d(80.0) * h;
                p.el_flex[s] = d(100.0 - 90.0 * push * a.min(1.1)) * h;
            }
            p.spine_flex = d(10.0) * push;
        }
        Motion::Kick(s) => {
            let k = hold(u, 0.3, 0.45, 0.5, 0.7);
            p.hip_flex[s] = d(75.0 * a) * k;
            p.knee_flex[s] = d(60.0) * hold(u, 0.2, 0.35, 0.4, 0.5) + d(10.0) * k;
            p.spine_flex = d(-10.0) * k;
            p.sh_abd = [d(20.0) * k, d(20.0) * k];
        }
        Motion::SideKick(s) => {
            let k = hold(u, 0.3, 0.45, 0.5, 0.7);
            p.hip_abd[s] = d(55.0 * a) * k;
            p.knee_flex[s] = d(20.0) * k;
            p.spine_side = d(if s == R { -15.0 } else { 15.0 }) * k;
            p.sh_abd = [d(30.0) * k, d(30.0) * k];
        }
        Motion::StepForward(s) => {
            let k = hold(u, 0.1, 0.45, 0.55, 0.9);
            p.root_z = -0.35 * a * k;
            let swing = bump((u - 0.1) / 0.35) + bump((u - 0.55) / 0.35);
            p.hip_flex[s] = d(30.0) * swing;
            p.knee_flex[s] = d(40.0) * swing;
        }
        Motion::HopOneLeg(s) => {
            let h = hold(u, 0.0, 0.2, 0.8, 1.0);
            p.hip_flex[s] = d(35.0) * h;
            p.knee_flex[s] = d(90.0) * h;
            let hop = ((u - 0.2) / 0.6).clamp(0.0, 1.0);
            p.lift = 0.09 * a * (3.0 * c * PI * hop).sin().abs() * h;
            p.knee_flex[1 - s] = d(20.0) * (3.0 * c * PI * hop).cos().abs() * h;
            p.sh_abd = [d(25.0) * h, d(25.0) * h];
        }
        Motion::Bow => {
            let h = hold(u, 0.1, 0.45, 0.6, 0.95);
            p.spine_flex = d(55.0 * a) * h;
            p.neck_flex = d(10.0) * h;
        }
        Motion::Squat => {
            let h = hold(u, 0.1, 0.45, 0.6, 0.95);
            for s in [L, R] {
                p.hip_flex[s] = d(95.0 * a.min(1.1)) * h;
                p.knee_flex[s] = d(115.0 * a.min(1.1)) * h;
                p.sh_flex[s] = d(70.0) * h;
            }
            p.spine_flex = d(25.0) * h;
        }
        Motion::Jump => {
            let prep = hold(u, 0.1, 0.3, 0.35, 0.45).max(hold(u, 0.55, 0.7, 0.75, 0.85));
            for s in [L, R] {
                p.knee_flex[s] = d(45.0) * prep;
                p.hip_flex[s] = d(35.0) * prep;
                p.sh_flex[s] = d(-30.0 * prep + 60.0 * bump((u - 0.4) / 0.15));
            }
            p.spine_flex = d(20.0) * prep;
            p.lift = 0.25 * a * (bump((u - 0.38) / 0.17) + 0.8 * bump((u - 0.82) / 0.15));
        }
        Motion::TurnAround => {
            p.yaw = PI * smooth((u - 0.1) / 0.75);
            gait(&mut p, u, 2.0 * c, 0.4 * hold(u, 0.1, 0.2, 0.75, 0.85));
        }
        Motion::SideBend(s) => {
            let h = hold(u, 0.1, 0.4, 0.6, 0.9);
            let sign = if s == R { 1.0 } else { -1.0 };
            p.spine_side = sign * d(30.0 * a) * h;
            p.sh_abd[1 - s] = d(140.0) * h;
        }
        Motion::Nod => {
            let h = hold(u, 0.1, 0.2, 0.8, 0.9);
            p.neck_flex = d(15.0 + 15.0 * a * osc(u, 3.0 * c)) * h;
        }
        Motion::ShakeHead => {
            let h = hold(u, 0.1, 0.2, 0.8, 0.9);
            p.neck_yaw = d(35.0 * a * osc(u, 3.0 * c)) * h;
        }
        Motion::WalkToward => {
            p.root_z = -1.2 * a * smooth(u);
            gait(&mut p, u, 2.5 * c, hold(u, 0.0, 0.1, 0.9, 1.0));
        }
        Motion::WalkAway => {
            p.yaw = PI * smooth(u / 0.25);
            p.root_z = 1.1 * a * smooth((u - 0.25) / 0.75);
            gait(&mut p, u, 3.0 * c, hold(u, 0.05, 0.2, 0.9, 1.0));
        }
        Motion::SitDown | Motion::StandUp => {
            let down = if m == Motion::SitDown {
                smooth((u - 0.2) / 0.5)
            } else {
                1.0 - smooth((u - 0.2) / 0.5)
            };
            let moving = bump((u - 0.2) / 0.5);
            for s in [L, R] {
                p.hip_flex[s] = d(90.0) * down;
                p.knee_flex[s] = d(90.0) * down;
                p.sh_flex[s] = d(35.0 * a) * moving;
            }
            p.spine_flex = d(10.0) * down + d(25.0) * moving;
        }
        Motion::JumpingJacks => {
            let h = hold(u, 0.0, 0.1, 0.9, 1.0);
            let ph = 0.5 - 0.5 * (2.0 * PI * 3.0 * c * u).cos();
            for s in [L, R] {
                p.sh_abd[s] = d(150.0 * a.min(1.1) * ph) * h;
                p.hip_abd[s] = d(20.0 * ph) * h;
            }
            p.lift = 0.07 * (2.0 * PI * 6.0 * c * u).sin().abs() * h;
        }
        Motion::MarchInPlace => {
            let h = hold(u, 0.0, 0.1, 0.9, 1.0);
            let ph = osc(u, 2.0 * c);
            p.hip_flex[L] = d(55.0 * a) * ph.max(0.0) * h;
            p.hip_flex[R] = d(55.0 * a) * (-ph).max(0.0) * h;
            p.knee_flex[L] = d(70.0) * ph.max(0.0) * h;
            p.knee_flex[R] = d(70.0) * (-ph).max(0.0) * h;
            p.sh_flex[L] = d(-25.0 * ph) * h;
            p.sh_flex[R] = d(25.0 * ph) * h;
            p.el_flex = [d(70.0) * h, d(70.0) * h];
        }
        Motion::LookAround => {
            let h = hold(u, 0.0, 0.1, 0.9, 1.0);
            p.neck_yaw = d(55.0 * a * osc(u, 1.0 * c)) * h;
            p.spine_twist = d(20.0 * osc(u, 1.0 * c)) * h;
        }
        Motion::Shrug => {
            let sh = bump((u - 0.15) / 0.3) + bump((u - 0.55) / 0.3);
            p.shrug = 0.06 * a * sh;
            p.el_flex = [d(60.0) * sh, d(60.0) * sh];
            p.sh_abd = [d(20.0) * sh, d(20.0) * sh];
        }
        Motion::RubHands => {
            let h = hold(u, 0.0, 0.2, 0.8, 1.0);
            for s in [L, R] {
                p.sh_flex[s] = d(45.0) * h;
                p.el_flex[s] = d(85.0) * h;
            }
            p.sh_abd[L] = d(-5.0 + 8.0 * a * osc(u, 6.0 * c)) * h;
            p.sh_abd[R] = d(-5.0 - 8.0 * a * osc(u, 6.0 * c)) * h;
        }
        // Two persons face each other; "forward" is −z in each one's own frame.
        Motion::Approach => {
            p.root_z = -0.75 * a * smooth(u);
            gait(&mut p, u, 2.0 * c, hold(u, 0.0, 0.1, 0.85, 1.0));
        }
        Motion::WalkApart => {
            p.yaw = PI * smooth(u / 0.3);
            p.root_z = 0.8 * a * smooth((u - 0.3) / 0.7);
            gait(&mut p, u, 2.5 * c, hold(u, 0.1, 0.3, 0.9, 1.0));
        }
        Motion::Handshake => {
            let h = hold(u, 0.1, 0.35, 0.75, 0.95);
            p.root_z = -0.15 * h;
            p.sh_flex[R] = d(45.0 + 8.0 * a * osc((u - 0.35) / 0.4, 3.0 * c)) * h;
            p.sh_abd[R] = d(-10.0) * h;
            p.el_flex[R] = d(45.0) * h;
        }
        Motion::PushOther => {
            if person == 0 {
                let h = hold(u, 0.1, 0.3, 0.7, 0.9);
                let push = hold(u, 0.35, 0.45, 0.5, 0.65);
                for s in [L, R] {
                    p.sh_flex[s] = d(80.0) * h;
                    p.el_flex[s] = d(90.0 - 80.0 * push) * h;
                }
                p.spine_flex = d(15.0 * a) * push;
                p.root_z = -0.1 * push;
            } else {
                let hit = smooth((u - 0.42) / 0.2);
                p.root_z = 0.35 * a * hit;
                p.spine_flex = d(-15.0) * bump((u - 0.42) / 0.4);
                p.sh_abd = [
                    d(35.0) * bump((u - 0.42) / 0.4),
                    d(35.0) * bump((u - 0.42) / 0.4),
                ];
                gait(&mut p, u, 1.0 * c, 0.5 * bump((u - 0.42) / 0.4));
            }
        }
        Motion::Hug => {
            let h = hold(u, 0.15, 0.45, 0.7, 0.95);
            p.root_z = -0.25 * h;
            for s in [L, R] {
                p.sh_flex[s] = d(80.0) * h;
                p.sh_abd[s] = d(45.0 * a) * h;
                p.el_flex[s] = d(80.0) * h;
            }
            p.spine_flex = d(10.0) * h;
        }
        Motion::HighFive => {
            let h = hold(u, 0.15, 0.45, 0.55, 0.85);
            p.sh_flex[R] = d(150.0 * a.min(1.1)) * h;
            p.sh_abd[R] = d(-10.0) * h;
            p.el_flex[R] = d(30.0) * h;
            p.root_z = -0.1 * h;
        }
        Motion::PunchOther => {
            if person == 0 {
                let guard = hold(u, 0.0, 0.2, 0.8, 1.0);
                let hit = hold(u, 0.4, 0.47, 0.5, 0.6);
                p.sh_flex[R] = d(45.0 * guard + 50.0 * a * hit);
                p.el_flex[R] = (d(120.0) * guard - d(115.0) * hit).max(0.0);
                p.sh_flex[L] = d(45.0) * guard;
                p.el_flex[L] = d(120.0) * guard;
                p.spine_twist = d(20.0) * hit;
                p.root_z = -0.15 * hit;
            } else {
                let hit = bump((u - 0.47) / 0.35);
                p.spine_flex = d(-20.0) * hit;
                p.neck_flex = d(-20.0) * hit;
                p.root_z = 0.15 * smooth((u - 0.47) / 0.2);
            }
        }
        Motion::KickOther => {
            if person == 0 {
                let k = hold(u, 0.35, 0.47, 0.52, 0.7);
                p.hip_flex[R] = d(70.0 * a) * k;
                p.knee_flex[R] = d(60.0) * hold(u, 0.25, 0.37, 0.42, 0.5) + d(10.0) * k;
                p.spine_flex = d(-10.0) * k;
            } else {
                let hit = bump((u - 0.5) / 0.45);
                p.spine_flex = d(35.0) * hit;
                for s in [L, R] {
                    p.sh_flex[s] = d(40.0) * hit;
                    p.el_flex[s] = d(100.0) * hit;
                }
                p.root_z = 0.1 * smooth((u - 0.5) / 0.2);
            }
        }
        Motion::PointAtOther => {
            if person == 0 {
                let h = hold(u, 0.05, 0.3, 0.75, 1.0);
                p.sh_flex[R] = d(85.0 * a) * h;
                p.sh_abd[R] = d(-5.0) * h;
            } else {
                p.neck_flex = d(15.0) * hold(u, 0.3, 0.45, 0.7, 0.85);
                p.sh_abd = [
                    d(15.0) * hold(u, 0.3, 0.45, 0.7, 0.85),
                    d(15.0) * hold(u, 0.3, 0.45, 0.7, 0.85),
                ];
            }
        }
        Motion::GiveObject => {
            let h = if person == 0 {
                hold(u, 0.1, 0.35, 0.55, 0.8)
            } else {
                hold(u, 0.3, 0.5, 0.7, 0.95)
            };
            p.sh_flex[R] = d(60.0 * a) * h;
            p.el_flex[R] = d(25.0) * h;
            p.spine_flex = d(10.0) * h;
        }
    }
    p
}

// ------------------------------------------------------------------------------------------
// Scene: subjects, cameras, performances

const CAMERAS: [f64; 3] = [-45.0, 0.0, 45.0];

/// Where a person stands and which way it faces (world frame).
#[derive(Clone, Copy, Debug)]
struct Placement {
    pos: V3,
    yaw: f64,
}

struct Subject {
    body: Anthropometry,
    speed: f64,
    amp: f64,
    slouch: f64,
    arm_hang: f64,
    sway: f64,
}

fn rng_for(seed: u64, parts: &[u64]) -> ChaCha8Rng {
    let mut h = blake3::Hasher::new();
    h.update(b"skelflow synth.ntu v1");
    h.update(&seed.to_le_bytes());
    for p in parts {
        h.update(&p.to_le_bytes());
    }
    let bytes: [u8; 32] = h.finalize().into();
    ChaCha8Rng::from_seed(bytes)
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
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
fn camera(seed: u64, setup: u16, cam: usize) -> (V3, M3) {
    let mut r = rng_for(seed, &[3, setup as u64]);
    let dist = 2.6 + 1.0 * r.random::<f64>();
    let yaw_jitter: f64 = d(4.0 * normal(&mut r));
    // Each camera of a setup at its own height: views differ in pitch too.
    let mut rc = rng_for(seed, &[4, setup as u64, cam as u64]);
    let height = 0.5 + 1.4 * rc.random::<f64>();
    let yaw = d(CAMERAS[cam]) + yaw_jitter + d(2.0 * normal(&mut rc));
    let pos = mv(&ry(yaw), [0.0, height, -dist]);
    // Look at the chest of a person standing at the origin.
    let target = [0.0, 1.1 + 0.1 * normal(&mut rc), 0.0];
    let fwd = sub(target, pos);
    let n = (fwd[0] * fwd[0] + fwd[1] * fwd[1] + fwd[2] * fwd[2]).sqrt();
    let z = [fwd[0] / n, fwd[1] / n, fwd[2] / n];
    // Kinect camera space: x to the sensor's left, y up, z forward (right-handed).
    let up = [0.0, 1.0, 0.0];
    let x = cross(up, z);
    let xn = (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]).sqrt();
    let x = [x[0] / xn, x[1] / xn, x[2] / xn];
    let y = cross(z, x);
    let roll = d(1.5 * normal(&mut rc));
    let rot = mm(&rz(roll), &[x, y, z]);
    (pos, rot)
}

fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
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
struct Performance {
    persons: Vec<Vec<([V3; 25], [M3; 25])>>,
    body_ids: Vec<u64>,
}

fn perform(
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
    let facing = d(if rep % 2 == 0 { 30.0 } else { 0.0 } + 8.0 * normal(&mut r));
    let centre = [0.3 * normal(&mut r), 0.0, 0.3 * normal(&mut r)];
    let placements: Vec<Placement> = if two {
        let gap = if matches!(motion, Motion::Approach) {
            2.4
        } else {
            1.0
        } + 0.1 * normal(&mut r);
        let side = mv(&ry(facing), [gap / 2.0, 0.0, 0.0]);
        vec![
            Placement {
                pos: sub(centre, side),
                yaw: facing - PI / 2.0,
            },
            Placement {
                pos: add(centre, side),
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

// ------------------------------------------------------------------------------------------
// Writing a `.skeleton` file

/// Joints without an orientation in Kinect's output (leaves).
const LEAF: [usize; 7] = [3, 15, 19, 21, 22, 23, 24];
/// Joints that are noisier: hands, tips, thumbs, feet, wrists, ankles.
const EXTREMITY: [usize; 12] = [6, 7, 10, 11, 14, 15, 18, 19, 21, 22, 23, 24];

#[derive(Clone, Debug)]
pub struct Noise {
    pub sigma: f64,
    pub jitter: f64,
    pub dropped: f64,
    pub extra_bodies: f64,
}

fn quat(m: &M3) -> [f64; 4] {
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

struct Listed<'a> {
    id: u64,
    joints: &'a [V3; 25],
    rots: Option<&'a [M3; 25]>,
    tracked: [bool; 25],
}

/// Render one camera's file for a performance.
fn render(
    perf: &Performance,
    cam_pos: V3,
    cam_rot: &M3,
    noise: &Noise,
    rng: &mut ChaCha8Rng,
) -> Vec<u8> {
    let frames = perf.persons[0].len();
    // Per-file events.
    let dropped: Option<(usize, usize)> = (rng.random::<f64>() < noise.dropped).then(|| {
        if rng.random::<f64>() < 0.3 {
            let n = rng.random_range(2..=(frames / 4).max(2));
            (frames - n.min(frames - 1), frames) // trailing frames without a body
        } else {
            let at = rng.random_range(1..frames.max(2));
            (at, (at + rng.random_range(1..=3)).min(frames))
        }
    });
    let ghost: Option<(usize, usize, V3, bool)> =
        (rng.random::<f64>() < noise.extra_bodies).then(|| {
            let a = rng.random_range(0..frames);
            let b = rng.random_range(a..frames) + 1;
            let c = [
                1.5 * normal(rng),
                0.4 + 0.8 * rng.random::<f64>(),
                0.8 + 1.2 * rng.random::<f64>(),
            ];
            (a, b, c, rng.random::<f64>() < 0.2)
        });
    let mut jitter_frames = vec![None; frames];
    if rng.random::<f64>() < noise.jitter {
        for _ in 0..rng.random_range(1..=3) {
            let at = rng.random_range(0..frames);
            let joint = EXTREMITY[rng.random_range(0..EXTREMITY.len())];
            let off = [0.1 * normal(rng), 0.1 * normal(rng), 0.1 * normal(rng)];
            for f in at..(at + rng.random_range(1..=4)).min(frames) {
                jitter_frames[f] = Some((joint, off));
            }
        }
    }
    // The direction the camera looks from, for self-occlusion.
    let mut out = Vec::with_capacity(frames * perf.persons.len() * 2400 + 16);
    let _ = writeln!(out, "{frames}");
    let ghost_id = 72_057_594_037_927_936u64 + rng.random_range(100_000..200_000u64);
    let mut cam_joints: Vec<[V3; 25]> = vec![[[0.0; 3]; 25]; perf.persons.len()];
    let mut ghost_joints = [[0.0; 3]; 25];
    for f in 0..frames {
        if dropped.is_some_and(|(a, b)| f >= a && f < b) {
            out.extend_from_slice(b"0\n");
            continue;
        }
        let mut listed: Vec<Listed> = Vec::with_capacity(3);
        let mut tracked_all = Vec::with_capacity(perf.persons.len());
        for (k, person) in perf.persons.iter().enumerate() {
            let (world, _) = &person[f];
            let mut tracked = [true; 25];
            // Body axis facing the camera? Joints on the far side are noisier (occlusion).
            let to_cam = sub(cam_pos, world[20]);
            let lateral = sub(world[8], world[4]);
            for v in 0..25 {
                let mut p = mv(cam_rot, sub(world[v], cam_pos));
                let mut sd = noise.sigma * if EXTREMITY.contains(&v) { 2.0 } else { 1.0 };
                let rel = sub(world[v], world[20]);
                let side = rel[0] * lateral[0] + rel[2] * lateral[2];
                let facing = side * (to_cam[0] * lateral[0] + to_cam[2] * lateral[2]);
                if facing < -0.004 && v != 20 {
                    sd *= 2.5;
                    tracked[v] = rng.random::<f64>() > 0.3;
                }
                p[0] += sd * normal(rng);
                p[1] += sd * normal(rng);
                p[2] += 1.6 * sd * normal(rng);
                if let Some((j, off)) = jitter_frames[f]
                    && j == v
                    && k == 0
                {
                    p = add(p, off);
                    tracked[v] = false;
                }
                cam_joints[k][v] = p;
            }
            tracked_all.push(tracked);
        }
        for (k, tracked) in tracked_all.into_iter().enumerate() {
            listed.push(Listed {
                id: perf.body_ids[k],
                joints: &cam_joints[k],
                rots: Some(&perf.persons[k][f].1),
                tracked,
            });
        }
        if let Some((a, b, c, first)) = ghost
            && f >= a
            && f < b
        {
            for (v, g) in ghost_joints.iter_mut().enumerate() {
                let spread = [
                    0.15 * ((v * 7 % 5) as f64 - 2.0) / 2.0,
                    0.2 * ((v * 3 % 7) as f64 - 3.0) / 3.0,
                    0.05,
                ];
                let w = add(
                    c,
                    add(
                        spread,
                        [0.02 * normal(rng), 0.02 * normal(rng), 0.02 * normal(rng)],
                    ),
                );
                *g = mv(cam_rot, sub(w, cam_pos));
            }
            let ghost_body = Listed {
                id: ghost_id,
                joints: &ghost_joints,
                rots: None,
                tracked: [false; 25],
            };
            if first {
                listed.insert(0, ghost_body)
            } else {
                listed.push(ghost_body)
            }
        }
        let _ = writeln!(out, "{}", listed.len());
        for b in &listed {
            let lean = [0.05 * normal(rng), 0.05 * normal(rng)];
            let _ = write!(out, "{} 0 1 1 1 1 0 ", b.id);
            put_num(&mut out, lean[0]);
            out.push(b' ');
            put_num(&mut out, lean[1]);
            out.extend_from_slice(b" 2\n25\n");
            for v in 0..25 {
                let p = b.joints[v];
                let z = p[2].max(0.3);
                let depth = [256.0 + 365.0 * p[0] / z, 212.0 - 365.0 * p[1] / z];
                let color = [960.0 + 1081.0 * p[0] / z, 540.0 - 1081.0 * p[1] / z];
                let q = match b.rots {
                    Some(r) if !LEAF.contains(&v) => quat(&mm(cam_rot, &r[v])),
                    _ => [0.0; 4],
                };
                for (i, x) in [
                    p[0], p[1], p[2], depth[0], depth[1], color[0], color[1], q[0], q[1], q[2],
                    q[3],
                ]
                .into_iter()
                .enumerate()
                {
                    if i > 0 {
                        out.push(b' ');
                    }
                    put_num(&mut out, x);
                }
                out.extend_from_slice(if b.tracked[v] { b" 2\n" } else { b" 1\n" });
            }
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// The corpus

/// What [`generate`] wrote.
#[derive(Clone, Debug, Serialize)]
pub struct SynthReport {
    pub files: usize,
    pub bytes: u64,
}

/// Write the corpus of `params` (seeded by `seed`) into `out_dir`, using `threads` workers
/// (0: rayon's default). `progress(done, total)` is called now and then.
pub fn generate(
    params: &SynthParams,
    seed: u64,
    out_dir: &Path,
    threads: usize,
    progress: impl Fn(usize, usize) + Sync,
) -> Result<SynthReport, StageError> {
    let plan = params.plan();
    std::fs::create_dir_all(out_dir).ctx(|| format!("cannot create {}", out_dir.display()))?;
    let noise = Noise {
        sigma: params.noise,
        jitter: params.jitter,
        dropped: params.dropped,
        extra_bodies: params.extra_bodies,
    };
    let mut jobs = Vec::new();
    for &(setup, subj) in &plan.sessions {
        for rep in 1..=plan.replications as u16 {
            for action in 0..plan.classes {
                jobs.push((setup, subj, rep, action));
            }
        }
    }
    let total = jobs.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let bytes = std::sync::atomic::AtomicU64::new(0);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| StageError::msg(format!("cannot start worker threads: {e}")))?;
    pool.install(|| {
        jobs.par_iter()
            .try_for_each(|&(setup, subj, rep, action)| -> Result<(), StageError> {
                let perf = perform(seed, &plan, setup, subj, rep, action);
                for cam in 0..CAMERAS.len() {
                    let (pos, rot) = camera(seed, setup, cam);
                    let name = NtuName {
                        setup,
                        camera: cam as u16 + 1,
                        subject: subj,
                        replication: rep,
                        action: action as u16 + 1,
                    };
                    let mut rng = rng_for(
                        seed,
                        &[
                            6,
                            setup as u64,
                            subj as u64,
                            rep as u64,
                            action as u64,
                            cam as u64,
                        ],
                    );
                    let text = render(&perf, pos, &rot, &noise, &mut rng);
                    let path = out_dir.join(format!("{}.skeleton", name.stem()));
                    std::fs::write(&path, &text)
                        .ctx(|| format!("cannot write {}", path.display()))?;
                    bytes.fetch_add(text.len() as u64, std::sync::atomic::Ordering::Relaxed);
                }
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n % 256 == 0 || n == total {
                    progress(n * CAMERAS.len(), total * CAMERAS.len());
                }
                Ok(())
            })
    })?;
    let report = SynthReport {
        files: total * CAMERAS.len(),
        bytes: bytes.into_inner(),
    };
    let info = serde_json::json!({
        "kind": KIND,
        "seed": seed,
        "plan": plan,
        "class_names": class_names(plan.classes),
        "files": report.files,
        "bytes": report.bytes,
    });
    super::dataset::write_json(&out_dir.join("synth.json"), &info)?;
    Ok(report)
}

pub struct SynthNtu;

impl Kind for SynthNtu {
    type Params = SynthParams;
    const NAME: &'static str = KIND;
    const VERSION: u32 = 1;
    const ABOUT: &'static str = "write a deterministic synthetic NTU-format corpus (.skeleton files) for ntu.import";
    fn run(&self, ctx: &StageContext, p: SynthParams) -> Result<(), StageError> {
        let r = generate(&p, ctx.seed, &ctx.out_dir, ctx.threads, |done, total| {
            ctx.progress(done as u64, total as u64, &format!("{done}/{total} files"))
        })?;
        eprintln!(
            "{}: wrote {} files ({:.1} MB)",
            ctx.instance,
            r.files,
            r.bytes as f64 / 1e6
        );
        Ok(())
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

    #[test]
    fn plans() {
        let p = SynthParams {
            size: SynthSize::Ntu60,
            ..Default::default()
        }
        .plan();
        assert_eq!(p.num_files(), 56_880);
        let mut pairs = p.sessions.clone();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), 158, "sessions are distinct");
        assert_eq!(SynthParams::default().plan().num_files(), 720);
    }

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
                pos: [0.0; 3],
                yaw: 0.0,
            },
        );
        assert!(p[3][1] > 1.55 && p[3][1] < 1.8, "head height {}", p[3][1]);
        assert!(p[8][0] > p[4][0], "right shoulder at +x");
        assert!(p[15][2] < p[14][2], "feet point forward (−z)");
    }
}
