//! AimCLR's and ActCLR's building blocks against a PyTorch transcription of the reference
//! code (`scripts/actclr_reference.py`, which writes `goldens/*.json`): the attention drop,
//! DDM and mined InfoNCE; the actionlet (intended and HEAD), MATS's upsampling and
//! `actionlet_swap`, `ske_swap`'s masks and `_mask_pool`, the mixed teacher key, SAFP, the
//! three KL terms with `select_topk`; the interpolate and rescale augmentations.

use burn::prelude::*;
use serde_json::Value;
use skelflow_stages::learn::augment::{Clip, interpolate, rescale_bones};
use skelflow_stages::learn::encoders::{Backbone, Encoder, Projector, StgcnConfig};
use skelflow_stages::learn::skeleton_mix::{SwapCase, SwapMask, SwapPlan, apply_swap};
use skelflow_stages::methods::actclr_blocks::*;
use skelflow_stages::methods::blocks::cross_entropy_first;

const TOL: f32 = 1e-5;

fn golden(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/goldens")
        .join(format!("{name}.json"));
    serde_json::from_str(
        &std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/actclr_reference.py)", p.display())),
    )
    .unwrap()
}

pub(crate) fn shape(v: &Value) -> Vec<usize> {
    v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

pub(crate) fn data(v: &Value) -> Vec<f32> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

pub(crate) fn tensor<const D: usize>(v: &Value, dev: &Device) -> Tensor<D> {
    let s: [usize; D] = shape(v).try_into().unwrap();
    Tensor::from_data(TensorData::new(data(v), s), dev)
}

/// Max |a - b| relative to max(1, |b|), with the worst index.
fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0f32, 0usize);
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        let e = (a - b).abs() / b.abs().max(1.0);
        if e > worst.0 || e.is_nan() {
            worst = (e, i);
        }
    }
    assert!(
        worst.0 <= tol,
        "{what}: error {} at {} (got {}, want {})",
        worst.0,
        worst.1,
        got[worst.1],
        want[worst.1]
    );
}

fn vals<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    values(t)
}

fn scalar(v: &Value) -> f32 {
    v.as_f64().unwrap() as f32
}

#[test]
fn actclr_golden_attention_drop() {
    let g = golden("aimclr_attention_drop");
    let dev = Device::flex().autodiff();
    let x: Tensor<4> = tensor::<4>(&g["x"], &dev).require_grad();
    let out = simam_drop(x.clone(), 0.7, 1e-4);
    assert_close("simam out", &vals(out.clone()), &data(&g["out"]), TOL);
    let grads = out.sum().backward();
    let gx = x.grad(&grads).unwrap();
    assert_close("simam grad", &vals(gx), &data(&g["grad"]), TOL);
    assert!(
        g["spatial_dropped"].as_u64().unwrap() > 0,
        "the golden drops joints"
    );
}

#[test]
fn actclr_golden_aimclr_losses() {
    let g = golden("aimclr_loss");
    let dev = Device::flex().autodiff();
    let t = 0.07;
    let inputs: Vec<Tensor<2>> = ["q", "e", "ed"]
        .iter()
        .map(|k| tensor::<2>(&g[*k], &dev).require_grad())
        .collect();
    let k = l2(tensor::<2>(&g["k"], &dev));
    let queue = tensor::<2>(&g["queue_rows"], &dev);
    let logits_of = |x: Tensor<2>| {
        let x = l2(x);
        let l_pos = (x.clone() * k.clone()).sum_dim(1);
        let l_neg = x.matmul(queue.clone().transpose());
        (Tensor::cat(vec![l_pos, l_neg.clone()], 1) / t, l_neg)
    };
    let (logits, l_neg) = logits_of(inputs[0].clone());
    let (le, l_neg_e) = logits_of(inputs[1].clone());
    let (led, l_neg_ed) = logits_of(inputs[2].clone());
    let teacher = ddm_teacher(logits.clone());
    let ce = cross_entropy_first(logits.clone());
    let ddm_e = ddm_loss(le, teacher.clone());
    let ddm_ed = ddm_loss(led, teacher);
    for (name, got, want) in [
        ("ce", &ce, "ce"),
        ("ddm_e", &ddm_e, "ddm_e"),
        ("ddm_ed", &ddm_ed, "ddm_ed"),
    ] {
        assert_close(name, &vals(got.clone()), &[scalar(&g[want])], TOL);
    }
    let mask = mining_mask(&[l_neg, l_neg_e, l_neg_ed], 1);
    assert_close("mining mask", &vals(mask.clone()), &data(&g["mask"]), 0.0);
    let mined = mined_info_nce(logits, mask);
    assert_close("mined", &vals(mined.clone()), &[scalar(&g["mined"])], TOL);
    let loss = ce + (ddm_e.clone() + ddm_ed.clone()) * 0.5;
    let grads = loss.backward();
    for (i, name) in ["grad_q", "grad_e", "grad_ed"].iter().enumerate() {
        let gx = inputs[i].grad(&grads).unwrap();
        assert_close(name, &vals(gx), &data(&g[*name]), TOL);
    }
}

fn l2(x: Tensor<2>) -> Tensor<2> {
    skelflow_stages::learn::losses::l2_normalize(x, 1)
}

/// An encoder whose projector is the golden's MLP (the backbone is unused: the actionlet
/// pools the given map and projects it).
fn head_encoder(g: &Value, dev: &Device) -> Encoder {
    let c = shape(&g["w1"])[0];
    let d = shape(&g["w2"])[0];
    let cfg = StgcnConfig {
        hidden: 2,
        feature_dim: c,
        ..Default::default()
    };
    let mut hidden = nn::LinearConfig::new(c, c).init(dev);
    let mut out = nn::LinearConfig::new(c, d).init(dev);
    // burn's Linear weight is (in, out): the transpose of PyTorch's
    hidden.weight = burn::module::Param::from_tensor(tensor::<2>(&g["w1"], dev).transpose());
    hidden.bias = Some(burn::module::Param::from_tensor(tensor::<1>(&g["b1"], dev)));
    out.weight = burn::module::Param::from_tensor(tensor::<2>(&g["w2"], dev).transpose());
    out.bias = Some(burn::module::Param::from_tensor(tensor::<1>(&g["b2"], dev)));
    Encoder {
        backbone: Backbone::Stgcn(cfg.init(dev)),
        projector: Some(Projector {
            hidden: Some(hidden),
            out,
        }),
    }
    .no_grad()
}

#[test]
fn actclr_golden_actionlet() {
    let g = golden("actclr_actionlet");
    let dev = Device::flex().autodiff();
    let enc = head_encoder(&g, &dev);
    let y = tensor::<4>(&g["y"], &dev);
    let m = g["m"].as_u64().unwrap() as usize;
    let anchor = tensor::<2>(&g["mean_feat"], &dev);
    for smoothing in [Smoothing::BodyParts, Smoothing::Adjacency] {
        let spec = ActionletSpec {
            cosine: Cosine::Embedding,
            smoothing,
            threshold: 1e-8,
        };
        let a = actionlet(&enc, y.clone(), m, anchor.clone(), &spec);
        let name = match smoothing {
            Smoothing::BodyParts => "body_parts",
            Smoothing::Adjacency => "adjacency",
        };
        assert_close(
            "similarity",
            &[a.similarity],
            &[scalar(&g["embedding_similarity"])],
            TOL,
        );
        assert_close(
            "grad",
            &vals(a.grad.clone()),
            &data(&g["embedding_grad"]),
            TOL,
        );
        assert_close(
            &format!("{name} cam"),
            &vals(a.cam.clone()),
            &data(&g[&format!("embedding_{name}_cam")]),
            TOL,
        );
        let mask = vals(a.mask.clone());
        assert_close(
            &format!("{name} mask"),
            &mask,
            &data(&g[&format!("embedding_{name}_mask")]),
            TOL,
        );
        let area = mask.iter().sum::<f32>() / mask.len() as f32;
        assert!(
            area > 0.05 && area < 0.95,
            "{name}: a non-trivial actionlet ({area})"
        );
    }
    // HEAD: the normalisation over a size-1 axis leaves no gradient (up to rounding) — in
    // PyTorch as here
    let spec = ActionletSpec {
        cosine: Cosine::Head,
        smoothing: Smoothing::BodyParts,
        threshold: 1e-8,
    };
    let a = actionlet(&enc, y, m, anchor, &spec);
    let ours = vals(a.grad.clone())
        .iter()
        .fold(0f32, |x, v| x.max(v.abs()));
    let full = scalar(&g["embedding_grad_max_abs"]);
    let theirs = scalar(&g["head_grad_max_abs"]);
    println!("HEAD max |grad|: ours {ours:e}, PyTorch {theirs:e}, intended {full:e}");
    assert!(ours <= 1e-6 * full && theirs <= 1e-6 * full);
    assert_close(
        "HEAD similarity",
        &[a.similarity],
        &[scalar(&g["head_similarity"])],
        TOL,
    );
    // the mask is cam / 1e-8 clipped to [0, 1]: a rounding-level gradient leaves every
    // joint far below 1 (the intended actionlet above has whole parts at 1)
    let most = vals(a.mask).iter().fold(0f32, |x, v| x.max(*v));
    assert!(
        most < 0.05,
        "HEAD's actionlet is (almost) empty: max {most}"
    );
}

#[test]
fn actclr_golden_mats() {
    let g = golden("actclr_mats");
    let dev = Device::flex();
    let up = upsample_time(tensor::<4>(&g["mask13"], &dev), 50);
    assert_close("upsample 13 → 50", &vals(up), &data(&g["up"]), TOL);
    let mask = tensor::<4>(&g["mask"], &dev);
    let z = mix_by_mask(
        tensor::<5>(&g["x"], &dev),
        tensor::<5>(&g["y"], &dev),
        keep_mask(&mask, Region::NonActionlet).as_ref(),
    );
    assert_close("actionlet_swap", &vals(z), &data(&g["z"]), TOL);
    // the masks of ske_swap for fixed plans (paste: parts 0 and 3, 4 steps from step 5;
    // resize: parts 1, 2, 4, 3 steps from step 2)
    let clips: Vec<Clip> = (0..4).map(|_| Clip::zeros(3, 50, 25, 2)).collect();
    let partners: Vec<usize> = g["partners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    let plan = |parts: Vec<usize>, ct, tem_idx, case| SwapPlan {
        partners: partners.clone(),
        parts,
        ct,
        tem_idx,
        case,
    };
    let (_, paste) = apply_swap(&clips, &plan(vec![0, 3], 4, 5, SwapCase::Paste));
    let (_, interp) = apply_swap(&clips, &plan(vec![1, 2, 4], 3, 2, SwapCase::Interpolate));
    let SwapMask::Single(paste) = paste else {
        panic!("paste gives one mask")
    };
    let SwapMask::Pair { parts, window } = interp else {
        panic!("resize gives two masks")
    };
    assert_close("paste mask", &paste.data, &data(&g["paste_mask"]), 0.0);
    assert_close(
        "resize mask_p",
        &parts.data,
        &data(&g["interp_mask_p"]),
        0.0,
    );
    assert_close(
        "resize mask_c",
        &window.data,
        &data(&g["interp_mask_c"]),
        0.0,
    );
    // _mask_pool of exp(pm / 0.1)
    let pm = data(&g["pm"]);
    let lambda = g["mixup_lambda"].as_f64().unwrap() as f32;
    let mix = vec![lambda; 13 * 25];
    for (name, mp, mc) in [
        ("paste", &paste.data, &paste.data),
        ("interp", &parts.data, &window.data),
        ("mixup", &mix, &mix),
    ] {
        let (p, c) = mask_pool(&pm, 2, 0.1, &partners, mp, mc);
        assert_close(
            &format!("{name} p"),
            &p,
            &data(&g[&format!("{name}_p")]),
            TOL,
        );
        assert_close(
            &format!("{name} c"),
            &c,
            &data(&g[&format!("{name}_c")]),
            TOL,
        );
    }
}

#[test]
fn actclr_golden_safp_and_loss() {
    let g = golden("actclr_safp_loss");
    let dev = Device::flex().autodiff();
    let pooled = safp_pool(
        tensor::<4>(&g["map"], &dev),
        tensor::<4>(&g["mask"], &dev),
        g["m"].as_u64().unwrap() as usize,
    );
    assert_close("SAFP", &vals(pooled), &data(&g["pooled"]), TOL);
    let queue = tensor::<2>(&g["queue_rows"], &dev);
    let k = tensor::<2>(&g["k"], &dev);
    let partners: Vec<usize> = g["partners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    let (p, c) = (data(&g["p"]), data(&g["c"]));
    let kc = mix_keys(k.clone(), &partners, p.clone(), c.clone(), false);
    assert_close(
        "kc per sample",
        &vals(kc.clone()),
        &data(&g["kc_sample"]),
        TOL,
    );
    let kcb = mix_keys(k.clone(), &partners, p, c, true);
    assert_close(
        "kc HEAD broadcast",
        &vals(kcb),
        &data(&g["kc_broadcast"]),
        TOL,
    );
    let topk = g["topk"].as_u64().unwrap() as usize;
    let students: Vec<Tensor<2>> = ["q", "qt", "pc"]
        .iter()
        .map(|n| tensor::<2>(&g[*n], &dev).require_grad())
        .collect();
    let sims = |x: &Tensor<2>| l2(x.clone()).matmul(queue.clone().transpose()).square();
    let (kn_top, idx) = select_topk(k.matmul(queue.clone().transpose()), topk, 0.95);
    let (kc_top, idx3) = select_topk(kc.matmul(queue.clone().transpose()), topk, 0.95);
    let l1 = kl_to_teacher(
        gather_topk(sims(&students[0]), idx.clone()),
        kn_top.clone(),
        0.1,
        0.04,
    );
    let l2_ = kl_to_teacher(gather_topk(sims(&students[1]), idx), kn_top, 0.1, 0.04);
    let l3 = kl_to_teacher(gather_topk(sims(&students[2]), idx3), kc_top, 0.1, 0.04);
    for (name, l) in [("l1", &l1), ("l2", &l2_), ("l3", &l3)] {
        assert_close(name, &vals(l.clone()), &[scalar(&g[name])], TOL);
    }
    let grads = (l1 + l2_ + l3).backward();
    for (i, name) in ["grad_q", "grad_qt", "grad_pc"].iter().enumerate() {
        let gx = students[i].grad(&grads).unwrap();
        assert_close(name, &vals(gx), &data(&g[*name]), TOL);
    }
}

#[test]
fn actclr_golden_interpolate_and_rescale() {
    let g = golden("actclr_augment");
    let s = shape(&g["clip"]);
    let clip = Clip::new(s[0], s[1], s[2], s[3], data(&g["clip"]));
    for size in [5, 11] {
        let got = interpolate(&clip, size);
        assert_close(
            &format!("interpolate to {size}"),
            &got.data,
            &data(&g[&format!("interp_{size}")]),
            TOL,
        );
    }
    let got = rescale_bones(&clip, 0.5, &data(&g["draws"]));
    assert_close("rescale", &got.data, &data(&g["rescale"]), TOL);
}
