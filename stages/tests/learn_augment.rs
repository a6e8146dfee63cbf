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
        }
        .apply(padded.clone(), 70, &mut rng);
        assert_eq!(c.t, 64);
        assert!(c.data.iter().all(|&x| x == 1.0));
    }
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
