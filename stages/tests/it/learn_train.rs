//! Training stages end to end on real files and real processes: NaN stops pretraining with
//! a clear error, kill -9 + rerun resumes from the last finished epoch, and MoCo
//! pre-training beats a random-init encoder in linear evaluation.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::learn_common::*;
use skelflow_stages::StageKind;
use skelflow_stages::methods::pretrain::Pretrain;

/// A small ST-GCN-16 pretrain config for tests (short clips, small queue).
fn pretrain_params(epochs: usize) -> serde_json::Value {
    serde_json::json!({
        "method": "moco",
        "method_params": {"queue": 256, "momentum": 0.99, "temperature": 0.2},
        "encoder": "stgcn",
        "benchmark": "synthetic",
        "epochs": epochs,
        "batch": 32,
        "lr": 0.05,
        "schedule": "constant",
    })
}

const CHILD_ENV: &str = "SKELFLOW_TEST_PRETRAIN_CTX";

/// Not a test of its own: the child process of `kill_9_during_pretrain_resumes`.
#[test]
fn child_pretrain_process() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let ctx: skelflow_stages::StageContext =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if let Err(e) = Pretrain.run_stage(&ctx) {
        // as the runner shows a stage's error: after the instance
        eprintln!("pretrain failed: {}: {e}", ctx.instance);
        std::process::exit(3);
    }
}

fn spawn_child(ctx_file: &Path, stderr: Stdio) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "learn_train::child_pretrain_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, ctx_file)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

#[test]
fn kill_9_during_pretrain_resumes_from_the_last_finished_epoch() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 96, 16, 16, 4);
    let epochs = 6;
    let ctx = context(
        &Pretrain,
        tmp.path(),
        "pretrain",
        pretrain_params(epochs),
        &[("shell", &data)],
    );
    let ctx_file = tmp.path().join("ctx.json");
    std::fs::write(&ctx_file, serde_json::to_string(&ctx).unwrap()).unwrap();

    // first run: SIGKILL as soon as the first checkpoint is complete
    let mut child = spawn_child(&ctx_file, Stdio::null());
    let first_ckpt = ctx.work_dir.join("ckpt-00001").join("state.json");
    let t0 = Instant::now();
    while !first_ckpt.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "pretrain exited before its first checkpoint"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "no checkpoint after 300 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !ctx.out_dir.join("encoder.json").exists(),
        "the killed run must not have finished"
    );
    let (done, dir) = skelflow_stages::learn::train::latest_checkpoint(&ctx.work_dir)
        .expect("a complete checkpoint survives the kill");
    assert!(done >= 1 && done < epochs, "killed after epoch {done}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    let seconds_before: Vec<f64> = state["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seconds"].as_f64().unwrap())
        .collect();
    assert_eq!(seconds_before.len(), done);

    // rerun: continues after `done`, does not start over
    let out = spawn_child(&ctx_file, Stdio::piped())
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "rerun failed: {stderr}");
    assert!(
        stderr.contains(&format!("resuming from epoch {done}")),
        "{stderr}"
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ctx.out_dir.join("encoder.json")).unwrap())
            .unwrap();
    assert_eq!(meta["resumed_from"], done);
    let rows = read_epochs(&ctx.out_dir.join("epochs.parquet"));
    assert_eq!(
        rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        (1..=epochs as i64).collect::<Vec<_>>()
    );
    // the epochs before the kill are the first run's own rows (their timings), not re-run
    for (i, s) in seconds_before.iter().enumerate() {
        assert_eq!(rows[i].1, *s, "epoch {} was recomputed", i + 1);
    }
}

#[test]
fn nan_loss_stops_pretraining_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 64, 8, 16, 4);
    let ctx = context(
        &Pretrain,
        tmp.path(),
        "pretrain[nan]",
        pretrain_params(3),
        &[("shell", &data)],
    );
    let ctx_file = tmp.path().join("ctx.json");
    std::fs::write(&ctx_file, serde_json::to_string(&ctx).unwrap()).unwrap();
    // the documented debugging aid: NaN input at epoch 2, step 1 (a real run through the model)
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "learn_train::child_pretrain_process",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &ctx_file)
        .env("SKELFLOW_DEBUG_NAN_AT", "2:1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("pretrain[nan]: loss is NaN at epoch 2, step 1 (lr 0.05): lower the learning rate or check the input data"),
        "{stderr}"
    );
    // epoch 1 was checkpointed before the failure: a fixed rerun resumes there
    assert_eq!(
        skelflow_stages::learn::train::latest_checkpoint(&ctx.work_dir).map(|c| c.0),
        Some(1)
    );
    // and says so for `skelflow status`
    assert_eq!(
        skelflow_contract::ResumePoint::read(&ctx.work_dir),
        Some(skelflow_contract::ResumePoint {
            done: 1,
            total: Some(3),
            unit: "epoch".into()
        })
    );
}

#[test]
fn moco_pretraining_beats_random_init_in_linear_eval() {
    use skelflow_stages::data::ntu_import::NtuImport;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let t0 = Instant::now();
    // the embedded synthetic corpus through the real import: ntu.import frame50 without a
    // root generates the quick corpus and imports it
    let data = run(
        &NtuImport,
        &context(
            &NtuImport,
            root,
            "import",
            serde_json::json!({"variant": "frame50"}),
            &[],
        ),
    );
    let t_data = t0.elapsed();
    // a seeded subset of the x-sub train part keeps this at a few minutes on 2 cores
    let mut params = pretrain_params(8);
    params["benchmark"] = "ntu60-xsub".into();
    params["max_samples"] = 192.into();
    let random = random_encoder(root, serde_json::json!("stgcn"));
    let moco = run(
        &Pretrain,
        &context(&Pretrain, root, "moco", params, &[("ntu.import", &data)]),
    );
    let t_pre = t0.elapsed();
    let mut top1 = Vec::new();
    for (name, enc) in [("random", &random), ("moco", &moco)] {
        let (feats, lin) = extract_and_linear(
            root,
            name,
            enc,
            ("ntu.import", &data),
            serde_json::json!({"benchmark": "ntu60-xsub"}),
            serde_json::json!({"protocol": "aimclr", "epochs": 40, "milestones": [30]}),
        );
        let knn = eval_knn(root, name, &feats, serde_json::json!({}));
        let best = metric(&lin, "top1", &[("at", "best")]);
        let nn1 = metric(&knn, "top1", &[("protocol", "knn-1nn-cosine")]);
        let w20 = metric(&knn, "top1", &[("protocol", "knn-weighted"), ("k", "20")]);
        println!(
            "{name}: linear top1 best {best:.2} last {:.2}, top5 best {:.2}; 1-NN {nn1:.2}; kNN-20 {w20:.2}",
            metric(&lin, "top1", &[("at", "last")]),
            metric(&lin, "top5", &[("at", "best")])
        );
        top1.push(best);
    }
    println!(
        "data {:.1} s, pretraining {:.1} s, total {:.1} s; margin {:.2} points",
        t_data.as_secs_f64(),
        (t_pre - t_data).as_secs_f64(),
        t0.elapsed().as_secs_f64(),
        top1[1] - top1[0]
    );
    assert!(
        top1[1] >= top1[0] + 10.0,
        "MoCo {:.2} vs random init {:.2}: expected a clear margin (>= 10 points)",
        top1[1],
        top1[0]
    );
}

/// burn holds a training forward's BatchNorm running-statistics update pending until the
/// next forward; a saved encoder (and a key encoder copied from it) must carry the last
/// batch's update, as PyTorch's `state_dict` does after the last step.
#[test]
fn a_saved_encoder_carries_its_last_batchs_running_statistics() {
    use burn::prelude::*;
    use burn::tensor::Distribution;
    use skelflow_stages::learn::checkpoint::state_dict;
    use skelflow_stages::learn::encoders::EncoderConfig;
    use skelflow_stages::learn::method::{load_module, save_module};
    use skelflow_stages::methods::blocks::detached_copy;
    let _rng = rng_lock();
    let cfg = EncoderConfig::preset("stgcn").unwrap();
    let dev = Device::flex().autodiff();
    let enc = cfg.init(&dev);
    // data_bn sees mean 3: after one batch its running mean is 0.9·0 + 0.1·3 = 0.3
    let x = Tensor::<5>::random([2, 3, 16, 25, 2], Distribution::Normal(3.0, 0.1), &dev);
    let _ = enc.features(x);
    let running_mean = |e: &skelflow_stages::learn::encoders::Encoder| {
        state_dict(&cfg, e)
            .into_iter()
            .find(|(name, _)| name == "data_bn.running_mean")
            .expect("ST-GCN's input batch norm")
            .1
            .values
            .as_f32()
    };
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("encoder.bpk");
    save_module(&enc, &file).unwrap();
    let saved = load_module(cfg.init(&Device::flex()), &file).unwrap();
    let copied = detached_copy(&enc, cfg.init(&dev));
    for (what, e) in [("saved", &saved), ("copied", &copied)] {
        let m = running_mean(e);
        assert!(
            m.iter().all(|v| (v - 0.3).abs() < 0.02),
            "{what}: {:?}",
            &m[..4]
        );
    }
}
