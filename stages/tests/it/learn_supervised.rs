//! The supervised baseline method end to end through the stage kinds on a tiny synthetic
//! set: training accuracy rises, the loss falls, and the trained backbone's linear
//! evaluation beats the random-init encoder's.

use crate::learn_common::*;
use skelflow_stages::StageKind;
use skelflow_stages::methods::pretrain::Pretrain;

const CLASSES: usize = 8;

fn encoder() -> serde_json::Value {
    serde_json::json!({
        "backbone": {"arch": "bigru", "hidden": 32, "layers": 1},
        "proj_dim": 32,
        "mlp": true,
    })
}

#[test]
fn supervised_training_learns_the_labels_and_beats_random_init() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    write_dataset(&data, 256, 128, 40, CLASSES);
    let trained = run(
        &Pretrain,
        &context(
            &Pretrain,
            root,
            "supervised",
            serde_json::json!({
                "method": "supervised",
                "method_params": {"classes": CLASSES},
                "encoder": encoder(),
                "benchmark": "synthetic",
                "epochs": 8,
                "batch": 32,
                "lr": 0.05,
                "schedule": "constant",
            }),
            &[("shell", &data)],
        ),
    );
    let epochs = epoch_columns(&trained.join("epochs.parquet"));
    let (loss, acc) = (
        epoch_column(&epochs, "loss"),
        epoch_column(&epochs, "train_top1"),
    );
    println!("loss {loss:.3?}\ntrain top-1 {acc:.1?}");
    let chance = 100.0 / CLASSES as f64;
    assert!(loss.last() < loss.first(), "loss did not fall: {loss:?}");
    assert!(
        acc.last().unwrap() > &(2.0 * chance) && acc.last() > acc.first(),
        "training accuracy did not rise: {acc:?}"
    );

    let random = random_encoder(root, encoder());
    let mut top1 = Vec::new();
    for (name, enc) in [("supervised", &trained), ("random", &random)] {
        let (_, lin) = extract_and_linear(
            root,
            name,
            enc,
            ("shell", &data),
            serde_json::json!({"benchmark": "synthetic"}),
            serde_json::json!({"protocol": "cmd", "epochs": 40, "milestones": [30]}),
        );
        let best = metric(&lin, "top1", &[("at", "best")]);
        println!("{name}: linear top-1 {best:.2}");
        top1.push(best);
    }
    assert!(
        top1[0] > top1[1] + 10.0,
        "supervised {:.2} vs random init {:.2}",
        top1[0],
        top1[1]
    );
}

#[test]
fn supervised_needs_at_least_two_classes() {
    let err = Pretrain
        .check(&serde_json::json!({
            "method": "supervised",
            "method_params": {"classes": 1},
            "encoder": encoder(),
        }))
        .unwrap_err();
    let text = format!("{err:?}");
    assert!(text.contains("classes") && text.contains("≥ 2"), "{text}");
}
