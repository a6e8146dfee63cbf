//! Capture: what the Kinect sensor makes of a performance filmed by one camera. Sensor noise
//! (stronger on hands and feet and along the depth axis), self-occlusion noise on the side
//! turned away from the camera, tracking-jitter bursts, dropped frames (0 bodies), and a
//! noisy extra body now and then (sometimes listed first); written as a `.skeleton` file by
//! [`writer`].

use glam::{DMat3, DVec3};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::normal;
use super::ntu_writer::{self as writer, BodyRecord};
use super::scene::Performance;

/// Joints that are noisier: hands, tips, thumbs, feet, wrists, ankles.
const EXTREMITY: [usize; 12] = [6, 7, 10, 11, 14, 15, 18, 19, 21, 22, 23, 24];

/// How noisy the sensor is (see [`super::SynthParams`]).
#[derive(Clone, Debug)]
pub struct Noise {
    pub sigma: f64,
    pub jitter: f64,
    pub dropped: f64,
    pub extra_bodies: f64,
}

/// The `.skeleton` file of `perf` filmed by the camera at `cam_pos` (world → camera rotation
/// `cam_rot`), with the sensor's noise and events drawn from `rng`.
pub(super) fn render(
    perf: &Performance,
    cam_pos: DVec3,
    cam_rot: &DMat3,
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
    let ghost: Option<(usize, usize, DVec3, bool)> = (rng.random::<f64>() < noise.extra_bodies)
        .then(|| {
            let a = rng.random_range(0..frames);
            let b = rng.random_range(a..frames) + 1;
            let c = DVec3::new(
                1.5 * normal(rng),
                0.4 + 0.8 * rng.random::<f64>(),
                0.8 + 1.2 * rng.random::<f64>(),
            );
            (a, b, c, rng.random::<f64>() < 0.2)
        });
    let mut jitter_frames = vec![None; frames];
    if rng.random::<f64>() < noise.jitter {
        for _ in 0..rng.random_range(1..=3) {
            let at = rng.random_range(0..frames);
            let joint = EXTREMITY[rng.random_range(0..EXTREMITY.len())];
            let off = DVec3::new(0.1 * normal(rng), 0.1 * normal(rng), 0.1 * normal(rng));
            for f in at..(at + rng.random_range(1..=4)).min(frames) {
                jitter_frames[f] = Some((joint, off));
            }
        }
    }
    let mut out = Vec::with_capacity(frames * perf.persons.len() * 2400 + 16);
    writer::count_line(&mut out, frames);
    let ghost_id = 72_057_594_037_927_936u64 + rng.random_range(100_000..200_000u64);
    let mut cam_joints: Vec<[DVec3; 25]> = vec![[DVec3::ZERO; 25]; perf.persons.len()];
    let mut ghost_joints = [DVec3::ZERO; 25];
    for f in 0..frames {
        if dropped.is_some_and(|(a, b)| f >= a && f < b) {
            writer::count_line(&mut out, 0);
            continue;
        }
        let mut listed: Vec<BodyRecord> = Vec::with_capacity(3);
        let mut tracked_all = Vec::with_capacity(perf.persons.len());
        for (k, person) in perf.persons.iter().enumerate() {
            let (world, _) = &person[f];
            let mut tracked = [true; 25];
            // Body axis facing the camera? Joints on the far side are noisier (occlusion).
            let to_cam = cam_pos - world[20];
            let lateral = world[8] - world[4];
            for v in 0..25 {
                let mut p = *cam_rot * (world[v] - cam_pos);
                let mut sd = noise.sigma * if EXTREMITY.contains(&v) { 2.0 } else { 1.0 };
                let rel = world[v] - world[20];
                let side = rel.x * lateral.x + rel.z * lateral.z;
                let facing = side * (to_cam.x * lateral.x + to_cam.z * lateral.z);
                if facing < -0.004 && v != 20 {
                    sd *= 2.5;
                    tracked[v] = rng.random::<f64>() > 0.3;
                }
                p.x += sd * normal(rng);
                p.y += sd * normal(rng);
                p.z += 1.6 * sd * normal(rng);
                if let Some((j, off)) = jitter_frames[f]
                    && j == v
                    && k == 0
                {
                    p += off;
                    tracked[v] = false;
                }
                cam_joints[k][v] = p;
            }
            tracked_all.push(tracked);
        }
        for (k, tracked) in tracked_all.into_iter().enumerate() {
            listed.push(BodyRecord {
                id: perf.body_ids[k],
                lean: [0.0; 2],
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
                let spread = DVec3::new(
                    0.15 * ((v * 7 % 5) as f64 - 2.0) / 2.0,
                    0.2 * ((v * 3 % 7) as f64 - 3.0) / 3.0,
                    0.05,
                );
                let wobble = DVec3::new(0.02 * normal(rng), 0.02 * normal(rng), 0.02 * normal(rng));
                let w = c + (spread + wobble);
                *g = *cam_rot * (w - cam_pos);
            }
            let ghost_body = BodyRecord {
                id: ghost_id,
                lean: [0.0; 2],
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
        writer::count_line(&mut out, listed.len());
        for b in &mut listed {
            // Drawn as each body is written, after the frame's noise: the order of the draws
            // is part of the corpus.
            b.lean = [0.05 * normal(rng), 0.05 * normal(rng)];
            writer::body_lines(&mut out, b, cam_rot);
        }
    }
    out
}
