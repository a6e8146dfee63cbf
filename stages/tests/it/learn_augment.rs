//! Augmentations against hand-computed values (ML-FACTS §4).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use skelflow_stages::learn::augment::*;

/// A clip whose value encodes (c, t, v, m): c*1000 + t*10 + v*0.01 + m*0.001... kept exact
/// enough for equality by using small integers per axis.
fn coded(t: usize) -> Clip {
    let (c, v, m) = (3, 25, 2);
    let mut clip = Clip::zeros(c, t, v, m);
    for ci in 0..c {
        for ti in 0..t {
            for vi in 0..v {
                for mi in 0..m {
                    let i = clip.idx(ci, ti, vi, mi);
                    clip.data[i] = (ci * 100000 + ti * 1000 + vi * 10 + mi) as f32;
                }
            }
        }
    }
    clip
}

fn frame_of(clip: &Clip, t: usize) -> usize {
    ((clip.at(0, t, 0, 0) as usize) % 100000) / 1000
}

fn point(x: f32, y: f32, z: f32) -> Clip {
    Clip::new(3, 1, 1, 1, vec![x, y, z])
}

#[test]
fn temporal_crop_reflects_the_edges() {
    let clip = coded(12); // pad = 12 / 6 = 2: padded frames 1 0 | 0..11 | 11 10
    let frames = |start| {
        let c = temporal_crop(&clip, 2, start);
        (0..12).map(|t| frame_of(&c, t)).collect::<Vec<_>>()
    };
    assert_eq!(frames(0), vec![1, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(frames(2), (0..12).collect::<Vec<_>>());
    assert_eq!(frames(4), vec![2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 11, 10]);
    // the random op keeps T and starts within [0, 2·pad]
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for _ in 0..20 {
        let c = Aug::TemporalCrop { ratio: 6 }.apply(clip.clone(), 12, &mut rng);
        assert_eq!(c.t, 12);
        let f0 = frame_of(&c, 2);
        assert!(f0 <= 4, "frame at position 2 is {f0}");
    }
}

#[test]
fn shear_rotate_and_joint_mixing_by_hand() {
    // p' = R p with R = [[1, .5, .25], [-.5, 1, 0], [.1, .2, 1]]
    let s = apply_matrix(
        point(1.0, 2.0, 3.0),
        [[1.0, 0.5, 0.25], [-0.5, 1.0, 0.0], [0.1, 0.2, 1.0]],
    );
    assert_eq!(s.data, vec![1.0 + 1.0 + 0.75, -0.5 + 2.0, 0.1 + 0.4 + 3.0]);
    // R_x(90°) = [[1,0,0],[0,0,1],[0,-1,0]]: (1,2,3) → (1,3,-2)
    let r = rotate(point(1.0, 2.0, 3.0), [90.0, 0.0, 0.0]);
    for (a, b) in r.data.iter().zip([1.0, 3.0, -2.0]) {
        assert!((a - b).abs() < 1e-5, "{:?}", r.data);
    }
    // x then z: R_z(90°) = [[0,1,0],[-1,0,0],[0,0,1]] after R_x: (1,3,-2) → (3,-1,-2)
    let r = rotate(point(1.0, 2.0, 3.0), [90.0, 0.0, 90.0]);
    for (a, b) in r.data.iter().zip([3.0, -1.0, -2.0]) {
        assert!((a - b).abs() < 1e-5, "{:?}", r.data);
    }
    // joint corruption's matrix is applied to the row vector: p' = pᵀ·Cm
    let cm = [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]];
    let mixed = mix_joints(point(1.0, 2.0, 3.0), &[0], cm);
    assert_eq!(mixed.data, vec![1.0, 3.0, 2.0]);
    let cm = [[1.0, 2.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    assert_eq!(
        mix_joints(point(1.0, 2.0, 3.0), &[0], cm).data,
        vec![1.0, 4.0, 3.0]
    );
}

#[test]
fn spatial_flip_is_a_joint_permutation_only() {
    let clip = coded(2);
    let f = permute_joints(&clip, &FLIP_ORDER);
    // joint 4 (J5, left shoulder) takes joint 8 (J9); no sign change
    assert_eq!(f.at(1, 1, 4, 1), clip.at(1, 1, 8, 1));
    assert_eq!(f.at(2, 0, 21, 0), clip.at(2, 0, 23, 0));
    assert_eq!(f.at(0, 0, 20, 0), clip.at(0, 0, 20, 0));
    assert_eq!(
        permute_joints(&f, &FLIP_ORDER),
        clip,
        "flip is an involution"
    );
}

#[test]
fn gaussian_blur_is_unnormalised_and_temporal() {
    // an impulse at t = 7 of T = 15 gives the kernel itself: exp(-k²/2σ²)
    let mut clip = Clip::zeros(3, 15, 1, 1);
    let i = clip.idx(1, 7, 0, 0);
    clip.data[i] = 1.0;
    let sigma = 1.0f32;
    let b = gauss_blur(&clip, sigma, 15);
    for t in 0..15 {
        let k = t as f32 - 7.0;
        assert!((b.at(1, t, 0, 0) - (-k * k / 2.0).exp()).abs() < 1e-6);
        assert_eq!(b.at(0, t, 0, 0), 0.0);
    }
    // a constant signal is scaled by Σw ≈ σ√(2π) in the interior (σ = 2: ×5.01)
    let ones = Clip::new(1, 31, 1, 1, vec![1.0; 31]);
    let b = gauss_blur(&ones, 2.0, 15);
    assert!(
        (b.at(0, 15, 0, 0) - 5.0133).abs() < 1e-3,
        "{}",
        b.at(0, 15, 0, 0)
    );
}

#[test]
fn axis_mask_and_time_flip() {
    let clip = coded(4);
    let m = axis_mask(clip.clone(), 1);
    assert!((0..4).all(|t| m.at(1, t, 3, 1) == 0.0));
    assert_eq!(m.at(0, 2, 3, 1), clip.at(0, 2, 3, 1));
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let f = Aug::TimeFlip { p: 1.0 }.apply(clip.clone(), 4, &mut rng);
    assert_eq!(
        (0..4).map(|t| frame_of(&f, t)).collect::<Vec<_>>(),
        vec![3, 2, 1, 0]
    );
}

#[test]
fn crop_resize_is_half_pixel_linear() {
    let clip = Clip::new(1, 4, 1, 1, vec![0.0, 1.0, 2.0, 10.0]);
    // 4 → 2: fy = 0.5, 2.5 → (x0+x1)/2, (x2+x3)/2
    assert_eq!(crop_resize(&clip, 0, 4, 2).data, vec![0.5, 6.0]);
    // frames 1..3 (2 frames) → 4: x1, .75x1+.25x2, .25x1+.75x2, x2
    assert_eq!(crop_resize(&clip, 1, 2, 4).data, vec![1.0, 1.25, 1.75, 2.0]);
    // the centre crop of CMD's test input: start = int(0.05·nf/2)
    let long = Clip::new(1, 100, 1, 1, (0..100).map(|x| x as f32).collect());
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let c = Aug::CenterCropResize {
        frames: 64,
        ratio: 0.95,
    }
    .apply(long.clone(), 100, &mut rng);
    assert_eq!(c.t, 64);
    // start 2, len 96: fy(0) = 0.5·1.5 - 0.5 = 0.25 → 2.25
    assert!((c.data[0] - 2.25).abs() < 1e-5, "{}", c.data[0]);
    // the random crop never reads past the valid frames
    let padded = Clip::new(
        1,
        100,
        1,
        1,
        (0..100).map(|x| if x < 70 { 1.0 } else { 99.0 }).collect(),
    );
    for seed in 0..20 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let c = Aug::CropResize {
            frames: 64,
            lo: 0.1,
            hi: 1.0,
            min_frames: 64,
        }
        .apply(padded.clone(), 70, &mut rng);
        assert_eq!(c.t, 64);
        assert!(c.data.iter().all(|&x| x == 1.0));
    }
}

#[test]
fn a_random_crop_keeps_the_codes_64_source_frames_whatever_it_resizes_to() {
    // frame t holds t: a crop of L frames resized to 24 spans L·23/24 (half-pixel linear)
    let ramp = Clip::new(1, 100, 1, 1, (0..100).map(|t| t as f32).collect());
    // written without `min_frames`, as in a pipeline: the code's `min_crop_length`
    let crop: Aug = serde_json::from_value(serde_json::json!(
        {"op": "crop_resize", "frames": 24, "lo": 0.1, "hi": 1.0}
    ))
    .unwrap();
    assert_eq!(crop, cmd_crop(24));
    let spans: Vec<f32> = (0..200)
        .map(|seed| {
            let c = crop
                .clone()
                .apply(ramp.clone(), 100, &mut ChaCha8Rng::seed_from_u64(seed));
            assert_eq!(c.t, 24);
            c.data[23] - c.data[0]
        })
        .collect();
    let shortest = spans.iter().cloned().fold(f32::INFINITY, f32::min);
    assert!(
        (shortest - 64.0 * 23.0 / 24.0).abs() < 1e-3,
        "shortest span {shortest}"
    );
    // and it does crop: scale U(0.1, 1) of 100 frames is below 64 in ~60 % of the draws
    let at_min = spans
        .iter()
        .filter(|&&s| (s - shortest).abs() < 1e-3)
        .count();
    assert!(
        (90..150).contains(&at_min),
        "{at_min} of 200 crops at 64 frames"
    );
}

#[test]
fn a2mc_spatial_and_temporal_masks() {
    // seed J21 (index 20): 2-hop counts 5 for itself, 2 for its neighbours J2 J3 J5 J9,
    // 1 for J1 J4 J6 J10; numpy's stable argsort()[-8:] keeps the highest indices of ties
    assert_eq!(spatial_mask_joints(&[20], 8), vec![3, 5, 9, 1, 2, 4, 8, 20]);
    let clip = coded(8);
    let m = temporal_mask(clip.clone(), 4, &[1]);
    for t in 0..8 {
        let zero = t == 2 || t == 3;
        assert_eq!(m.at(2, t, 5, 1) == 0.0, zero, "frame {t}");
    }
    // 16 blocks over 24 frames (a quick profile): the last block is frames 22 and 23, and
    // the 16 blocks together are every frame (not the first 16 frames, one each)
    let m = temporal_mask(coded(24), 16, &[15]);
    let zeroed: Vec<usize> = (0..24).filter(|&t| m.at(2, t, 5, 1) == 0.0).collect();
    assert_eq!(zeroed, vec![22, 23]);
    let all: Vec<usize> = (0..16).collect();
    let m = temporal_mask(coded(24), 16, &all);
    assert!(m.data.iter().all(|&x| x == 0.0));
}

#[test]
fn gaussian_noise_has_the_configured_std_and_views_are_seeded() {
    let clip = Clip::zeros(3, 50, 25, 2);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let n = Aug::GaussNoise { std: 0.05, p: 1.0 }.apply(clip.clone(), 50, &mut rng);
    let mean = n.data.iter().sum::<f32>() / n.data.len() as f32;
    let std = (n.data.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / n.data.len() as f32).sqrt();
    assert!(
        mean.abs() < 0.005 && (std - 0.05).abs() < 0.003,
        "mean {mean} std {std}"
    );
    let view = preset_view("extreme").unwrap();
    let base = coded(50);
    let a = apply_view(&view, base.clone(), 50, &mut ChaCha8Rng::seed_from_u64(9));
    let b = apply_view(&view, base.clone(), 50, &mut ChaCha8Rng::seed_from_u64(9));
    let c = apply_view(&view, base, 50, &mut ChaCha8Rng::seed_from_u64(10));
    assert_eq!(a, b);
    assert_ne!(a, c);
    for name in [
        "none", "weak", "normal", "strong", "extreme", "cmd", "a2mc", "center64",
    ] {
        assert!(preset_view(name).is_some(), "{name}");
    }
}

// ---- ActCLR batch-level transforms: ske_trans / ske_swap (ML-FACTS §5.4) ----

use rand::Rng;
use skelflow_stages::data::skeleton::BONE_PARENT;
use skelflow_stages::learn::skeleton_mix::*;

/// Depth of joint `v` in the bone tree (root J21 = 0), by walking parents.
fn bone_depth(v: usize) -> usize {
    let mut d = 0;
    let mut j = v;
    while BONE_PARENT[j] != j {
        j = BONE_PARENT[j];
        d += 1;
    }
    d
}

fn norm3(a: [f32; 3]) -> f32 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}

fn bone_of(clip: &Clip, t: usize, v: usize, m: usize) -> [f32; 3] {
    let p = BONE_PARENT[v];
    [0, 1, 2].map(|c| clip.at(c, t, v, m) - clip.at(c, t, p, m))
}

/// A 25-joint clip built from random bones of length in [0.5, 2] below a random root.
fn random_skeleton(rng: &mut ChaCha8Rng, t: usize, m: usize) -> Clip {
    let mut clip = Clip::zeros(3, t, 25, m);
    for ti in 0..t {
        for mi in 0..m {
            let mut bones = [[0f32; 3]; 25];
            for b in bones.iter_mut() {
                let dir = [0; 3].map(|_| rng.random_range(-1.0f32..1.0));
                let len = rng.random_range(0.5f32..2.0);
                let n = norm3(dir).max(1e-3);
                *b = dir.map(|x| x / n * len);
            }
            let root = [0; 3].map(|_| rng.random_range(-1.0f32..1.0));
            for v in 0..25 {
                // position = root + sum of bones on the path (walk the parents)
                let mut pos = root;
                let mut j = v;
                while BONE_PARENT[j] != j {
                    for c in 0..3 {
                        pos[c] += bones[j][c];
                    }
                    j = BONE_PARENT[j];
                }
                for (c, x) in pos.into_iter().enumerate() {
                    let i = clip.idx(c, ti, v, mi);
                    clip.data[i] = x;
                }
            }
        }
    }
    clip
}

#[test]
fn ske_rebuild_order_is_topological_and_body_parts_cover_the_skeleton() {
    let order = rebuild_order();
    assert_eq!(order[0], 20, "J21 is the root");
    let mut seen = [false; 25];
    for &v in &order {
        assert!(!seen[v], "joint {v} twice");
        let p = BONE_PARENT[v];
        assert!(p == v || seen[p], "joint {v} before its parent {p}");
        seen[v] = true;
    }
    assert!(seen.iter().all(|&s| s));
    let mut parts: Vec<usize> = BODY_PARTS.iter().flat_map(|p| p.iter().copied()).collect();
    parts.sort_unstable();
    assert_eq!(parts, (0..25).collect::<Vec<_>>());
    // 1-based trunk {4,3,21,2,1}, "left hand" {9,10,11,12,24,25}
    assert_eq!(BODY_PARTS[0], &[3, 2, 20, 1, 0]);
    assert_eq!(BODY_PARTS[1], &[8, 9, 10, 11, 23, 24]);
}

#[test]
fn ske_partner_is_cyclic_never_self_and_n_in_range() {
    for n in 3..=9usize {
        let mut seen = vec![false; n];
        for seed in 0..300 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let shift = partner_shift(n, &mut rng);
            assert!((1..=n - 2).contains(&shift), "N {n}: shift {shift}");
            seen[shift] = true;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let partners = draw_partners(n, &mut rng);
            for (i, &j) in partners.iter().enumerate() {
                assert_ne!(i, j, "N {n} seed {seed}: sample {i} is its own partner");
                assert_eq!(j, (i + shift) % n);
            }
        }
        // every allowed shift 1..=N-2 occurs, N-1 never does
        assert!(seen[1..n - 1].iter().all(|&s| s), "N {n}: {seen:?}");
        assert!(!seen[0] && !seen[n - 1]);
    }
    assert_eq!(cyclic_partners(5, 2), vec![2, 3, 4, 0, 1]);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(draw_partners(2, &mut rng), vec![1, 0]);
}

#[test]
fn ske_trans_joint_takes_partner_bone_lengths_by_hand() {
    // own: every bone (1, 0, 0), root at (5, 5, 5); partner: every bone (0, 2, 0)
    let mk = |f: &dyn Fn(usize) -> [f32; 3]| {
        let mut c = Clip::zeros(3, 1, 25, 1);
        for v in 0..25 {
            for (ci, x) in f(v).into_iter().enumerate() {
                let i = c.idx(ci, 0, v, 0);
                c.data[i] = x;
            }
        }
        c
    };
    let own = mk(&|v| [5.0 + bone_depth(v) as f32, 5.0, 5.0]);
    let partner = mk(&|v| [0.0, 2.0 * bone_depth(v) as f32, -1.0]);
    let out = ske_trans_with(&[own.clone(), partner], TransMode::Joint, &[1, 0]);
    for v in 0..25 {
        let d = bone_depth(v) as f32;
        let want = [5.0 + 2.0 * d, 5.0, 5.0];
        for (c, w) in want.into_iter().enumerate() {
            let got = out[0].at(c, 0, v, 0);
            assert!((got - w).abs() < 1e-4, "joint {v} c {c}: {got} vs {w}");
        }
    }
    // the partner is rescaled to own's unit bones: (0, depth, -1)
    for v in 0..25 {
        let got = out[1].at(1, 0, v, 0);
        assert!((got - bone_depth(v) as f32).abs() < 1e-4);
        assert_eq!(out[1].at(2, 0, v, 0), -1.0);
    }
    // the old code's exponent 100/(epoch+400): epoch 0 → ratio 2^0.25
    let out = ske_trans_with(
        &[own, out[0].clone()],
        TransMode::JointAnnealed { epoch: 0 },
        &[1, 0],
    );
    let r = 2f32.powf(0.25);
    for v in 0..25 {
        let w = 5.0 + r * bone_depth(v) as f32;
        assert!(
            (out[0].at(0, 0, v, 0) - w).abs() < 1e-4,
            "annealed joint {v}"
        );
    }
}

#[test]
fn ske_trans_joint_keeps_own_directions_and_root() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let clips: Vec<Clip> = (0..4).map(|_| random_skeleton(&mut rng, 3, 2)).collect();
    let (partners, out) = ske_trans(&clips, TransMode::Joint, &mut rng);
    assert_eq!(out, ske_trans_with(&clips, TransMode::Joint, &partners));
    for (i, o) in out.iter().enumerate() {
        let j = partners[i];
        assert_ne!(i, j);
        for t in 0..3 {
            for m in 0..2 {
                for c in 0..3 {
                    assert_eq!(o.at(c, t, 20, m), clips[i].at(c, t, 20, m), "root moved");
                }
                for v in (0..25).filter(|&v| v != 20) {
                    let (b, own, theirs) = (
                        bone_of(o, t, v, m),
                        bone_of(&clips[i], t, v, m),
                        bone_of(&clips[j], t, v, m),
                    );
                    let (lb, lo, lp) = (norm3(b), norm3(own), norm3(theirs));
                    assert!((lb - lp).abs() < 1e-4 * lp.max(1.0), "length {lb} vs {lp}");
                    for c in 0..3 {
                        assert!((b[c] / lb - own[c] / lo).abs() < 1e-4, "direction");
                    }
                }
            }
        }
    }
}

#[test]
fn ske_trans_motion_has_partner_statistics_by_hand() {
    // C = 1, T = 4, V = 2, M = 1, data[t*2 + v]
    // own: x[t,0] = u, x[t,1] = -u, u = [1, 3, -1, -3]: mean over V 0, std over T
    // (unbiased) √(20/3) for both joints
    let own = Clip::new(1, 4, 2, 1, vec![1., -1., 3., -3., -1., 1., -3., 3.]);
    // partner: w ± k with w = [2,-2,2,-2], k = [13,13,7,7]: mean over V = k, std over T
    // √(52/3) for both joints
    let partner = Clip::new(1, 4, 2, 1, vec![15., 11., 11., 15., 9., 5., 5., 9.]);
    let out = ske_trans_with(&[own.clone(), partner], TransMode::Motion, &[1, 0]);
    let y = &out[0];
    let (sx, sp) = ((20f32 / 3.0).sqrt(), (52f32 / 3.0).sqrt());
    let k = [13., 13., 7., 7.];
    for (t, &kt) in k.iter().enumerate() {
        for v in 0..2 {
            let want = own.at(0, t, v, 0) / (sx + 1e-3) * sp + kt;
            let got = y.at(0, t, v, 0);
            assert!((got - want).abs() < 1e-5, "t {t} v {v}: {got} vs {want}");
        }
        // mean over joints is the partner's
        let mv = (y.at(0, t, 0, 0) + y.at(0, t, 1, 0)) / 2.0;
        assert!((mv - kt).abs() < 1e-5);
    }
    assert!((y.at(0, 0, 0, 0) - 14.611_82).abs() < 1e-4);
    // The axes are mixed, so the output takes the partner's std over frames only where
    // the partner's joint mean is constant over time: partner 2 has mean over V = 10 in
    // every frame and std over T √(52/3) per joint.
    let own = Clip::new(1, 4, 2, 1, vec![1., -1., 3., -3., -1., 1., -3., 3.]);
    let partner2 = Clip::new(1, 4, 2, 1, vec![15., 5., 11., 9., 9., 11., 5., 15.]);
    let out = ske_trans_with(&[own, partner2], TransMode::Motion, &[1, 0]);
    for v in 0..2 {
        let col: Vec<f32> = (0..4).map(|t| out[0].at(0, t, v, 0)).collect();
        let mu = col.iter().sum::<f32>() / 4.0;
        let sd = (col.iter().map(|x| (x - mu).powi(2)).sum::<f32>() / 3.0).sqrt();
        assert!((sd - sp * sx / (sx + 1e-3)).abs() < 1e-4, "std {sd}");
        assert!((sd - sp).abs() < 2e-3);
        assert!((mu - 10.0).abs() < 1e-5);
    }
}

#[test]
fn ske_trans_bone_takes_partner_norms() {
    let _rng = crate::learn_common::rng_lock();
    // by hand: (3,4,0)·10/5 = (6,8,0); (0,0,.5)·3/.5 = (0,0,3)
    let own = Clip::new(3, 1, 2, 1, vec![3., 0., 4., 0., 0., 0.5]);
    let partner = Clip::new(3, 1, 2, 1, vec![0., 1., 0., 2., 10., 2.]);
    let out = ske_trans_with(&[own, partner], TransMode::Bone, &[1, 0]);
    let want = [6., 0., 8., 0., 0., 3.];
    for (g, w) in out[0].data.iter().zip(want) {
        assert!((g - w).abs() < 1e-4, "{:?}", out[0].data);
    }
    // random: norms over C are the partner's, directions own
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let clips: Vec<Clip> = (0..5)
        .map(|_| {
            let data = (0..3 * 4 * 6 * 2)
                .map(|_| rng.random_range(0.2f32..2.0) * if rng.random() { 1.0 } else { -1.0 })
                .collect();
            Clip::new(3, 4, 6, 2, data)
        })
        .collect();
    let (partners, out) = ske_trans(&clips, TransMode::Bone, &mut rng);
    for (i, o) in out.iter().enumerate() {
        let p = &clips[partners[i]];
        for t in 0..4 {
            for v in 0..6 {
                for m in 0..2 {
                    let g = [0, 1, 2].map(|c| o.at(c, t, v, m));
                    let x = [0, 1, 2].map(|c| clips[i].at(c, t, v, m));
                    let n = norm3([0, 1, 2].map(|c| p.at(c, t, v, m)));
                    assert!((norm3(g) - n).abs() < 1e-4 * n);
                    for c in 0..3 {
                        assert!((g[c] / norm3(g) - x[c] / norm3(x)).abs() < 1e-5);
                    }
                }
            }
        }
    }
}

/// Sample s of a batch, exactly representable: every (s, c, t, v, m) a distinct integer.
fn swap_val(s: usize, c: usize, t: usize, v: usize, m: usize) -> f32 {
    ((((s * 3 + c) * 64 + t) * 32 + v) * 2 + m) as f32
}

fn swap_batch(n: usize, t: usize) -> Vec<Clip> {
    (0..n)
        .map(|s| {
            let mut clip = Clip::zeros(3, t, 25, 2);
            for c in 0..3 {
                for ti in 0..t {
                    for v in 0..25 {
                        for m in 0..2 {
                            let i = clip.idx(c, ti, v, m);
                            clip.data[i] = swap_val(s, c, ti, v, m);
                        }
                    }
                }
            }
            clip
        })
        .collect()
}

/// Check `out[s]` = partner's frame `src(t)` where `pasted(t, v)`, own value elsewhere.
fn check_paste(out: &[Clip], partners: &[usize], pasted: impl Fn(usize, usize) -> Option<usize>) {
    for (s, o) in out.iter().enumerate() {
        for c in 0..3 {
            for t in 0..o.t {
                for v in 0..25 {
                    for m in 0..2 {
                        let want = match pasted(t, v) {
                            Some(src) => swap_val(partners[s], c, src, v, m),
                            None => swap_val(s, c, t, v, m),
                        };
                        assert_eq!(o.at(c, t, v, m), want, "s {s} c {c} t {t} v {v} m {m}");
                    }
                }
            }
        }
    }
}

const LEFT_LEG_AND_HAND: [usize; 10] = [8, 9, 10, 11, 16, 17, 18, 19, 23, 24];

#[test]
fn ske_swap_paste_case_by_hand() {
    let clips = swap_batch(3, 16);
    let plan = SwapPlan {
        partners: vec![2, 0, 1],
        parts: vec![3, 1], // "left leg", "left hand"
        ct: 2,
        tem_idx: 1,
        case: SwapCase::Paste,
    };
    assert_eq!(plan.joints(), LEFT_LEG_AND_HAND.to_vec());
    assert_eq!(plan.frames(), 4..12);
    let (out, mask) = apply_swap(&clips, &plan);
    check_paste(&out, &plan.partners, |t, v| {
        ((4..12).contains(&t) && LEFT_LEG_AND_HAND.contains(&v)).then_some(t)
    });
    let SwapMask::Single(m) = mask else {
        panic!("paste gives one mask")
    };
    assert_eq!((m.t, m.v), (4, 25));
    for r in 0..4 {
        for v in 0..25 {
            let want = ((1..3).contains(&r) && LEFT_LEG_AND_HAND.contains(&v)) as u8 as f32;
            assert_eq!(m.at(r, v), want, "mask ({r}, {v})");
        }
    }
}

#[test]
fn ske_swap_interpolate_case_by_hand() {
    let clips = swap_batch(3, 16);
    let trunk = [0, 1, 2, 3, 20];
    // Ct = 1: rt = 4 frames at [8, 12) from the partner's first 8 frames resized to 4
    // (nearest: frames 0, 2, 4, 6)
    let plan = SwapPlan {
        partners: vec![1, 2, 0],
        parts: vec![0],
        ct: 1,
        tem_idx: 2,
        case: SwapCase::Interpolate,
    };
    let (out, mask) = apply_swap(&clips, &plan);
    check_paste(&out, &plan.partners, |t, v| {
        ((8..12).contains(&t) && trunk.contains(&v)).then(|| [0, 2, 4, 6][t - 8])
    });
    let SwapMask::Pair { parts, window } = &mask else {
        panic!("interpolate gives a mask pair")
    };
    for r in 0..4 {
        for v in 0..25 {
            let part = trunk.contains(&v) as u8 as f32;
            assert_eq!(parts.at(r, v), part, "parts mask ({r}, {v})");
            assert_eq!(window.at(r, v), if r == 2 { part } else { 0.0 });
        }
    }
    assert_eq!(mask.partner(), parts);
    assert_eq!(mask.own(), window);
    // Ct = 3: rt = 12 but only T = 16 frames exist: 16 → 12 with scale 4/3:
    // frames 0 1 2 4 5 6 8 9 10 12 13 14, pasted at [4, 16)
    let src = [0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14];
    for (d, &s) in src.iter().enumerate() {
        assert_eq!(nearest_source(d, 16, 12), s);
    }
    let plan = SwapPlan {
        partners: vec![2, 0, 1],
        parts: vec![4, 3],
        ct: 3,
        tem_idx: 1,
        case: SwapCase::Interpolate,
    };
    let legs = [12, 13, 14, 15, 16, 17, 18, 19];
    let (out, _) = apply_swap(&clips, &plan);
    check_paste(&out, &plan.partners, |t, v| {
        ((4..16).contains(&t) && legs.contains(&v)).then(|| src[t - 4])
    });
}

#[test]
fn ske_swap_mixup_case_is_convex() {
    let clips = swap_batch(3, 16);
    let plan = SwapPlan {
        partners: vec![1, 2, 0],
        parts: vec![0, 2],
        ct: 2,
        tem_idx: 0,
        case: SwapCase::Mixup { lambda: 0.3 },
    };
    let (out, mask) = apply_swap(&clips, &plan);
    for (s, o) in out.iter().enumerate() {
        let p = &clips[plan.partners[s]];
        for (k, g) in o.data.iter().enumerate() {
            let (a, b) = (clips[s].data[k], p.data[k]);
            let want = 0.7 * a + 0.3 * b;
            assert!(
                (g - want).abs() <= 1e-6 * want.abs() + 1e-6,
                "{g} vs {want}"
            );
            assert!(*g >= a.min(b) && *g <= a.max(b));
        }
    }
    assert_eq!(mask, SwapMask::Single(MaskGrid::filled(4, 25, 0.3)));
}

#[test]
fn ske_swap_case_thresholds() {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    assert_eq!(swap_case(0.75, &mut rng), SwapCase::Paste);
    assert_eq!(swap_case(0.5000001, &mut rng), SwapCase::Paste);
    assert_eq!(swap_case(0.5, &mut rng), SwapCase::Interpolate);
    assert_eq!(swap_case(0.2500001, &mut rng), SwapCase::Interpolate);
    for p in [0.25, 0.1, 0.0] {
        let SwapCase::Mixup { lambda } = swap_case(p, &mut rng) else {
            panic!("p = {p} is mixup")
        };
        assert!((0.0..1.0).contains(&lambda));
    }
}

#[test]
fn ske_swap_draws_in_range_and_is_seeded() {
    let clips = swap_batch(4, 50);
    let mut cases = [0usize; 3];
    for seed in 0..200u64 {
        for (epoch, (sl, su, tl, tu)) in [
            (None, (2, 3, 3, 5)),
            (Some(199), (2, 3, 3, 5)),
            (Some(200), (1, 2, 1, 3)),
        ] {
            let plan = draw_swap_plan(4, 50, epoch, &mut ChaCha8Rng::seed_from_u64(seed));
            assert!((sl..=su).contains(&plan.parts.len()), "Cs {:?}", plan.parts);
            let mut parts = plan.parts.clone();
            parts.sort_unstable();
            parts.dedup();
            assert_eq!(parts.len(), plan.parts.len(), "parts without replacement");
            assert!((tl..=tu).contains(&plan.ct));
            assert!(plan.tem_idx <= 12 - plan.ct, "tem_idx {}", plan.tem_idx);
            assert!(plan.frames().end <= 48);
            let (partners, out, mask) =
                ske_swap(&clips, epoch, &mut ChaCha8Rng::seed_from_u64(seed));
            assert_eq!(partners, plan.partners);
            let (want_out, want_mask) = apply_swap(&clips, &plan);
            assert_eq!(out, want_out);
            assert_eq!(mask, want_mask);
            assert_eq!((mask.partner().t, mask.partner().v), (13, 25));
            let again = ske_swap(&clips, epoch, &mut ChaCha8Rng::seed_from_u64(seed));
            assert_eq!((partners, out, mask), again, "same seed, same output");
            if epoch.is_none() {
                cases[match plan.case {
                    SwapCase::Paste => 0,
                    SwapCase::Interpolate => 1,
                    SwapCase::Mixup { .. } => 2,
                }] += 1;
            }
        }
    }
    // p > 0.5 half the time, the other two a quarter each
    assert!(cases[0] > 70 && cases[1] > 25 && cases[2] > 25, "{cases:?}");
    let a = ske_swap(&clips, None, &mut ChaCha8Rng::seed_from_u64(1));
    let b = ske_swap(&clips, None, &mut ChaCha8Rng::seed_from_u64(2));
    assert_ne!(a.1, b.1, "different seeds differ");
}
