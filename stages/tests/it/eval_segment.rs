//! Action segmentation: untrimmed PKU-MMD videos cut into windows by `pku.import`
//! (`windows`), a classifier of the windows, and `eval.segment` scoring every frame.

use std::path::{Path, PathBuf};

use crate::learn_common::*;
use skelflow_stages::data::dataset::{Dataset, Part, Variant};
use skelflow_stages::data::pku::{PkuImportParams, import_pku};
use skelflow_stages::data::segments::{Segments, WindowParams};
use skelflow_stages::data::synth::pku::{PkuCorpus, generate_pku};
use skelflow_stages::evals::linear::EvalLinear;
use skelflow_stages::evals::scores::{Scores, ScoresMeta, write_scores};
use skelflow_stages::evals::segment::EvalSegment;
use skelflow_stages::learn::extract_raw::ExtractRaw;
use skelflow_stages::{StageKind, Upstream};

const WINDOW: WindowParams = WindowParams {
    length: 20,
    stride: 5,
};

/// A small synthetic PKU-MMD II corpus whose video A01N01-L loses its second label line:
/// that action's frames become background.
fn windowed_corpus(root: &Path) -> PathBuf {
    let pku = root.join("pku");
    let corpus = PkuCorpus {
        phase: 2,
        classes: 6,
        subjects: 3,
        per_video: 3,
        noise: 0.01,
    };
    generate_pku(&corpus, 0, &pku, 2, |_, _| {}).unwrap();
    let label = pku.join("label/A01N01-L.txt");
    let text = std::fs::read_to_string(&label).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 1)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(&label, kept.join("\n") + "\n").unwrap();
    let out = root.join("windows");
    std::fs::create_dir_all(&out).unwrap();
    let p = PkuImportParams {
        root: pku.display().to_string(),
        variant: Variant::Frame50,
        windows: Some(WINDOW),
        ..Default::default()
    };
    import_pku(&pku, &out, &p, 2).unwrap();
    out
}

#[test]
fn windows_partition_each_video_and_carry_their_centre_frames_label() {
    let tmp = tempfile::tempdir().unwrap();
    let out = windowed_corpus(tmp.path());
    let seg = Segments::read(&out).unwrap();
    let ds = Dataset::open(&out).unwrap();
    assert_eq!(seg.videos.len(), 18);
    assert_eq!(seg.windows.len(), ds.len());
    assert_eq!((seg.classes, seg.background), (52, 51));
    assert_eq!(ds.num_classes(), 52, "51 actions and background");
    let mut background_windows = 0;
    for (v, video) in seg.videos.iter().enumerate() {
        let labels = video.frame_labels(seg.background);
        let mine: Vec<(usize, _)> = seg
            .windows
            .iter()
            .enumerate()
            .filter(|(_, w)| w.video == v)
            .collect();
        // the windows' own frames tile the video, each inside its window
        assert_eq!(mine[0].1.own_start, 0);
        assert_eq!(mine.last().unwrap().1.own_end, video.frames);
        for p in mine.windows(2) {
            assert_eq!(p[0].1.own_end, p[1].1.own_start, "{}", video.name);
        }
        for (i, w) in &mine {
            assert_eq!(w.end - w.start, WINDOW.length.min(video.frames));
            assert!(w.start <= w.own_start && w.own_end <= w.end);
            let centre = labels[(w.start + w.end) / 2];
            assert_eq!(ds.label(*i), centre, "{} window {i}", video.name);
            assert_eq!(ds.info(*i).raw_frames as usize, w.end - w.start);
            background_windows += (centre == 51) as usize;
        }
    }
    assert!(
        background_windows > 0,
        "the unlabelled action is background"
    );
    // only A01N01-L has background frames
    assert!(
        seg.videos
            .iter()
            .filter(|v| v.name != "A01N01-L")
            .all(|v| { v.frame_labels(51).iter().all(|&l| l < 51) })
    );
    // x-view: the L videos test
    let test = ds.split("pku2-xview", Part::Test).unwrap();
    assert!(
        test.iter()
            .all(|&i| seg.videos[seg.windows[i].video].name.ends_with("-L"))
    );
}

#[test]
fn segmentation_scores_every_frame_of_the_test_videos() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let windows = windowed_corpus(root);
    let raw = run(
        &ExtractRaw,
        &context(
            &ExtractRaw,
            root,
            "raw",
            serde_json::json!({"benchmark": "pku2-xview", "stream": "joint"}),
            &[("pku.import", &windows)],
        ),
    );
    let linear = run(
        &EvalLinear,
        &context(
            &EvalLinear,
            root,
            "linear",
            serde_json::json!({"protocol": "aimclr", "epochs": 20, "lr": 0.5}),
            &[("extract.raw", &raw)],
        ),
    );
    let seg = run(
        &EvalSegment,
        &context(
            &EvalSegment,
            root,
            "segment",
            serde_json::json!({}),
            &[("eval.linear", &linear), ("pku.import", &windows)],
        ),
    );
    let s = Segments::read(&windows).unwrap();
    let test_frames: usize = s
        .videos
        .iter()
        .filter(|v| v.name.ends_with("-L"))
        .map(|v| v.frames)
        .sum();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(seg.join("segmentation.json")).unwrap())
            .unwrap();
    assert_eq!(summary["frames"], test_frames);
    assert_eq!(summary["videos"], 6);
    let dims = [("protocol", "segmentation-linear"), ("at", "best")];
    let (acc, macc, fwiou, miou) = (
        metric(&seg, "acc", &dims),
        metric(&seg, "macc", &dims),
        metric(&seg, "fwiou", &dims),
        metric(&seg, "miou", &dims),
    );
    println!(
        "raw joints, windows of 20: ACC {acc:.1} MACC {macc:.1} FWIoU {fwiou:.1} mIoU {miou:.1}"
    );
    for v in [acc, macc, fwiou, miou] {
        assert!((0.0..=100.0).contains(&v));
    }
    // IoU ≤ accuracy of the same frames; better than one class for every frame (≤ 1/6 + bg)
    assert!(fwiou <= acc + 1e-9 && miou <= macc + 1e-9);
    assert!(acc > 100.0 / 6.0 + 10.0, "ACC {acc}");

    // scores over another class count than the windows' are refused, naming both
    let other = root.join("other-scores");
    std::fs::create_dir_all(&other).unwrap();
    write_scores(
        &other,
        &ScoresMeta {
            benchmark: "pku2-xview".into(),
            stream: "joint".into(),
            classes: 51,
            protocol: "linear-aimclr".into(),
            best_epoch: 1,
            last_epoch: 1,
            label_fraction: None,
        },
        &Scores {
            index: vec![0],
            label: vec![0],
            classes: 51,
            best: vec![0.0; 51],
            last: vec![0.0; 51],
        },
    )
    .unwrap();
    let ctx = context(
        &EvalSegment,
        root,
        "segment-bad",
        serde_json::json!({}),
        &[("eval.linear", &other), ("pku.import", &windows)],
    );
    let e = EvalSegment.run_stage(&ctx).unwrap_err().to_string();
    assert!(e.contains("51 classes") && e.contains("52"), "{e}");
}

#[test]
fn segment_refuses_inputs_without_the_windowed_import_before_running() {
    let up = |instance: &str, kind: &str, params: serde_json::Value| Upstream {
        instance: instance.into(),
        kind: kind.into(),
        params,
        inputs: vec![],
    };
    let linear = up(
        "linear",
        "eval.linear",
        serde_json::json!({"protocol": "aimclr"}),
    );
    let instances = up("pku", "pku.import", serde_json::json!({"phase": 2}));
    let windowed = up(
        "pku_windows",
        "pku.import",
        serde_json::json!({"phase": 2, "windows": {"length": 50, "stride": 10}}),
    );
    let params = EvalSegment.check(&serde_json::json!({})).unwrap();
    let errors = |inputs: &[Upstream]| {
        EvalSegment
            .check_inputs(&params, inputs)
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(errors(&[linear.clone(), windowed.clone()]).is_empty());
    assert!(errors(&[linear.clone(), instances]).contains("`windows: {length, stride}`"));
    assert!(errors(std::slice::from_ref(&windowed)).contains("has 0"));
    assert!(errors(&[linear.clone(), linear, windowed]).contains("has 2"));
    // a stride longer than the window is refused at validation, naming `windows`
    let bad = skelflow_stages::registry::registry()
        .get("pku.import")
        .unwrap()
        .check(&serde_json::json!({"windows": {"length": 10, "stride": 20}}))
        .unwrap_err();
    assert!(
        bad.iter()
            .any(|e| e.to_string().contains("windows") && e.to_string().contains("stride")),
        "{bad:?}"
    );
}
