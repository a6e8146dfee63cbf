//! AimCLR then ActCLR end to end through the stage kinds on a tiny synthetic set, as the
//! reference trains them: ActCLR starts from the AimCLR encoder (`init: encoder`) with a
//! dataset anchor; both stay finite, write their loss terms, and beat the random-init
//! encoder in linear evaluation.

use crate::learn_common::*;
use skelflow_stages::data::Stream;
use skelflow_stages::data::Variant;
use skelflow_stages::data::anchor::{ANCHOR_FILE, ANCHOR_META, AnchorMeta, write_npy};
use skelflow_stages::learn::encoder_init::EncoderInit;
use skelflow_stages::methods::pretrain::Pretrain;

const FRAMES: usize = 24;

fn encoder() -> serde_json::Value {
    serde_json::json!({
        "backbone": {"arch": "stgcn", "hidden": 4, "feature_dim": 32},
        "proj_dim": 16,
        "mlp": true,
    })
}

fn pretrain(method: &str, method_params: serde_json::Value, init: &str) -> serde_json::Value {
    serde_json::json!({
        "method": method,
        "method_params": method_params,
        "encoder": encoder(),
        "init": init,
        "benchmark": "synthetic",
        "epochs": 3,
        "batch": 32,
        "lr": 0.05,
        "schedule": "constant",
    })
}

/// The mean training clip as an `anchor.average_motion` artifact.
fn write_anchor(dir: &std::path::Path, train: usize, classes: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let (data, _) = make_clips(train, FRAMES, classes, 1);
    let per = 3 * FRAMES * 25 * 2;
    let mut mean = vec![0f32; per];
    for i in 0..train {
        for (m, x) in mean.iter_mut().zip(&data[i * per..(i + 1) * per]) {
            *m += x / train as f32;
        }
    }
    write_npy(&dir.join(ANCHOR_FILE), &[3, FRAMES as u64, 25, 2], &mean).unwrap();
    let meta = AnchorMeta {
        variant: Variant::Frame50,
        stream: Stream::Joint,
        benchmark: "synthetic".into(),
        count: train,
        shape: vec![3, FRAMES, 25, 2],
    };
    std::fs::write(dir.join(ANCHOR_META), serde_json::to_string(&meta).unwrap()).unwrap();
}

#[test]
fn aimclr_then_actclr_train_and_beat_random_init() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    write_dataset(&data, 256, 128, FRAMES, 4);
    let anchor = root.join("anchor");
    write_anchor(&anchor, 256, 4);
    let random = run(
        &EncoderInit,
        &context(
            &EncoderInit,
            root,
            "random",
            serde_json::json!({"encoder": encoder()}),
            &[],
        ),
    );
    let t0 = std::time::Instant::now();
    let aimclr = run(
        &Pretrain,
        &context(
            &Pretrain,
            root,
            "aimclr",
            pretrain(
                "aimclr",
                serde_json::json!({"queue": 128, "mining_epoch": 1}),
                "none",
            ),
            &[("shell", &data)],
        ),
    );
    println!("aimclr: {:.1} s", t0.elapsed().as_secs_f64());
    let curves = epoch_columns(&aimclr.join("epochs.parquet"));
    let cols: Vec<&str> = curves.iter().map(|(n, _)| n.as_str()).collect();
    for c in ["loss_nce", "loss_ddm_e", "loss_ddm_ed", "mining"] {
        assert!(cols.contains(&c), "{c} missing from {cols:?}");
    }
    assert_eq!(epoch_column(&curves, "mining"), [0.0, 0.0, 1.0]);
    let mut results = vec![("aimclr", aimclr.clone()), ("random", random)];
    for (name, mp) in [
        (
            "actclr",
            serde_json::json!({"queue": 128, "topk": 32, "curriculum_epochs": [0, 1, 1]}),
        ),
        (
            "actclr_code",
            serde_json::json!({"variant": "code", "queue": 128, "topk": 32}),
        ),
    ] {
        let t0 = std::time::Instant::now();
        let mut inputs: Vec<(&str, &std::path::Path)> =
            vec![("shell", &data), ("pretrain", &aimclr)];
        if name == "actclr" {
            inputs.push(("anchor.average_motion", &anchor));
        }
        let out = run(
            &Pretrain,
            &context(
                &Pretrain,
                root,
                name,
                pretrain("actclr", mp, "encoder"),
                &inputs,
            ),
        );
        let curves = epoch_columns(&out.join("epochs.parquet"));
        let loss = epoch_column(&curves, "loss");
        println!(
            "{name}: {:.1} s, loss {loss:.4?}",
            t0.elapsed().as_secs_f64()
        );
        assert!(loss.iter().all(|l| l.is_finite()));
        let cols: Vec<&str> = curves.iter().map(|(n, _)| n.as_str()).collect();
        for c in [
            "loss_view1",
            "loss_view2",
            "loss_view3",
            "key_actionlet_area",
        ] {
            assert!(cols.contains(&c), "{c} missing from {cols:?}");
        }
        if name == "actclr" {
            let area = epoch_column(&curves, "query_actionlet_area");
            assert!(area.iter().all(|a| *a > 0.0), "an actionlet: {area:?}");
        }
        results.push((name, out));
    }
    let mut top1 = std::collections::HashMap::new();
    for (name, enc) in &results {
        let (_, lin) = extract_and_linear(
            root,
            name,
            enc,
            ("shell", &data),
            serde_json::json!({"benchmark": "synthetic"}),
            // lr 0.1, not AimCLR's 3.0: on features of 3 epochs the probe at 3.0 diverged in some
            // runs (a method at exactly 25.00, chance, as random-init's near-zero features are)
            // and which method did moved with summation orders; at 0.1 three runs gave
            // 46.1–46.9 / 44.5 / 50.8–51.6 against 25.00
            serde_json::json!({"protocol": "aimclr", "epochs": 30, "milestones": [20], "lr": 0.1}),
        );
        let best = metric(&lin, "top1", &[("at", "best")]);
        println!("{name}: linear top-1 {best:.2}");
        top1.insert(*name, best);
    }
    for name in ["aimclr", "actclr", "actclr_code"] {
        assert!(
            top1[name] > top1["random"],
            "{name} {:.2} vs random init {:.2}",
            top1[name],
            top1["random"]
        );
    }
}
