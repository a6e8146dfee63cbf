//! The motion library: the action classes in label order, each a movement of the joint
//! angles of a [`Pose`] over the phase of the action (waves, reaches, punches, kicks, bows,
//! squats, turns, walks, head gestures, and two-person approach / handshake / push / hug …),
//! with confusable pairs (left vs right hand, drink vs phone call, reach vs punch, sit down
//! vs squat).

use std::f64::consts::PI;

use super::body::Pose;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Motion {
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

/// Index of the left and the right limb in a [`Pose`]'s arrays.
pub(super) const L: usize = 0;
pub(super) const R: usize = 1;

/// The classes in label order: the first ones are the most varied, so that a small
/// `classes` still covers arms, legs, trunk and two-person actions.
pub(super) const ACTIONS: [(&str, Motion, u32); 60] = [
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
    pub(super) fn two_person(self) -> bool {
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
// Shapes of movement over the phase u ∈ [0, 1] of an action

pub(super) fn d(x: f64) -> f64 {
    x.to_radians()
}
pub(super) fn smooth(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}
/// 0 → 1 over [a0, a1], held, 1 → 0 over [b0, b1].
pub(super) fn hold(u: f64, a0: f64, a1: f64, b0: f64, b1: f64) -> f64 {
    smooth((u - a0) / (a1 - a0)) * (1.0 - smooth((u - b0) / (b1 - b0)))
}
pub(super) fn bump(u: f64) -> f64 {
    0.5 - 0.5 * (2.0 * PI * u.clamp(0.0, 1.0)).cos()
}
pub(super) fn osc(u: f64, cycles: f64) -> f64 {
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
pub(super) struct Variation {
    pub(super) amp: f64,
    pub(super) cycles: f64,
    pub(super) phase: f64,
}

/// Pose of `person` (0 or 1) at phase `u` ∈ [0, 1] of the action.
pub(super) fn motion_pose(m: Motion, u: f64, person: usize, v: &Variation) -> Pose {
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
