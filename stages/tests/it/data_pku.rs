//! PKU-MMD: the real phase-2 skeleton file, instance extraction per variant, split files,
//! and malformed input.

use std::path::Path;

use proptest::prelude::*;
use skelflow_contract::files::PROVENANCE_JSON;
use skelflow_contract::{DataFacts, DataOrigin};
use skelflow_stages::data::dataset::{Dataset, Part, Variant};
use skelflow_stages::data::ntu_import::OnError;
use skelflow_stages::data::pku::{
    PkuImportParams, PkuVideo, import_pku, instance, parse_pku_labels, parse_pku_skeleton,
    parse_split_file,
};
use skelflow_stages::data::preprocess::idx;

#[test]
fn real_phase2_file_parses() {
    let Some(fx) = crate::fixtures::fixtures() else {
        return;
    };
    let path = fx.join("pkummd/A10N08-L.txt");
    let frames = parse_pku_skeleton(&std::fs::read(&path).unwrap(), &path).unwrap();
    let n = frames.len() / 150;
    assert_eq!(n, 1040);
    let second = (0..n)
        .filter(|t| {
            frames[t * 150 + 75..(t + 1) * 150]
                .iter()
                .any(|&v| v != 0.0)
        })
        .count();
    assert_eq!(second, 728);
    assert_eq!(
        PkuVideo::parse("A10N08-L", 2),
        Some(PkuVideo {
            group: 10,
            subject: 8,
            view: 1
        })
    );
    assert_eq!(
        PkuVideo::parse("0002-R", 1),
        Some(PkuVideo {
            group: 2,
            subject: 0,
            view: 3
        })
    );
    assert_eq!(
        PkuVideo {
            group: 10,
            subject: 8,
            view: 1
        }
        .instance_name(2, 11, 1),
        "A010N008V001C011L001"
    );
}

/// Builds a PKU-MMD folder in a temporary directory (the skeleton from the fixture when
/// present, otherwise generated); labels and split files are made up here.
fn pku_root(dir: &Path, skeleton: &str) {
    for sub in ["skeleton", "label"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("skeleton/A10N08-L.txt"), skeleton).unwrap();
    std::fs::write(
        dir.join("label/A10N08-L.txt"),
        "11,1,60,1\n12,101,420,2\n5,500,530,1\n",
    )
    .unwrap();
    std::fs::write(dir.join("skeleton/A10N08-M.txt"), skeleton).unwrap();
    std::fs::write(dir.join("label/A10N08-M.txt"), "11,1,60,1\n").unwrap();
    let split = "Training videos:\nA10N08-L, A01N01-L\nValidataion videos:\nA10N08-M\n";
    std::fs::write(dir.join("cross_subject_v2.txt"), split).unwrap();
    std::fs::write(
        dir.join("cross_view_v2.txt"),
        "Training videos:\nA10N08-M\nValidation videos:\nA10N08-L\n",
    )
    .unwrap();
}

fn generated_skeleton(frames: usize) -> String {
    (0..frames)
        .map(|t| {
            (0..150)
                .map(|k| {
                    if k >= 75 && t % 3 == 0 {
                        "0".to_string()
                    } else {
                        format!("{:.4}", 0.01 * k as f32 + 0.001 * t as f32 + 1.0)
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
                + "\n"
        })
        .collect()
}

fn params(root: &Path, variant: Variant) -> PkuImportParams {
    PkuImportParams {
        root: root.display().to_string(),
        variant,
        ..Default::default()
    }
}

#[test]
fn import_instances_and_splits() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pku");
    let skeleton = match crate::fixtures::fixtures() {
        Some(fx) => std::fs::read_to_string(fx.join("pkummd/A10N08-L.txt")).unwrap(),
        None => generated_skeleton(1040),
    };
    pku_root(&root, &skeleton);
    let frames = parse_pku_skeleton(skeleton.as_bytes(), Path::new("x")).unwrap();

    let out = tmp.path().join("raw");
    let r = import_pku(&root, &out, &params(&root, Variant::StgcnRaw), 2).unwrap();
    assert_eq!((r.videos, r.samples), (2, 4));
    let ds = Dataset::open(&out).unwrap();
    let names: Vec<&str> = (0..4).map(|i| ds.name(i)).collect();
    assert_eq!(
        names,
        [
            "A010N008V001C011L001",
            "A010N008V001C012L002",
            "A010N008V001C005L003",
            "A010N008V002C011L001"
        ]
    );
    assert_eq!(
        (
            ds.label(1),
            ds.num_classes(),
            ds.valid_frames(1),
            ds.info(1).raw_frames
        ),
        (11, 51, 300, 320)
    );
    // AimCLR: frames start..=end (1-based), centre crop of 300 from 320 → from frame 101 + 10.
    let x = ds.joints(1);
    for (t, src) in [(0usize, 100 + 10usize), (299, 100 + 10 + 299)] {
        for (v, c) in [(0usize, 0usize), (24, 2)] {
            assert_eq!(x[idx(300, c, t, v, 0)], frames[src * 150 + v * 3 + c]);
            assert_eq!(x[idx(300, c, t, v, 1)], frames[src * 150 + 75 + v * 3 + c]);
        }
    }
    assert_eq!(ds.joints(0)[idx(300, 1, 0, 3, 0)], frames[3 * 3 + 1]);
    assert_eq!(ds.benchmarks(), ["pku2-xsub", "pku2-xview"]);
    assert_eq!(ds.split("pku2-xsub", Part::Train).unwrap(), vec![0, 1, 2]);
    assert_eq!(ds.split("pku2-xview", Part::Train).unwrap(), vec![3]);
    // What was read: the release, the root as the params wrote it, the two videos.
    let facts = DataFacts::read(&out.join(PROVENANCE_JSON))
        .unwrap()
        .unwrap();
    assert_eq!(
        facts,
        DataFacts {
            dataset: "PKU-MMD II".into(),
            origin: DataOrigin::Real {
                root: root.display().to_string()
            },
            files: 2,
            samples: 4,
            classes: 51,
            file_list_digest: blake3::hash(b"A10N08-L.txt\nA10N08-M.txt\n")
                .to_hex()
                .to_string(),
            variant: "stgcn_raw".into(),
            frames: 300,
        }
    );

    // CMD's agcn_prenorm instance: seq[start:end] — one frame later than AimCLR's.
    let out = tmp.path().join("agcn");
    import_pku(&root, &out, &params(&root, Variant::AgcnPrenorm), 2).unwrap();
    let ds = Dataset::open(&out).unwrap();
    assert_eq!((ds.valid_frames(0), ds.info(0).raw_frames), (59, 59));
    let x = ds.joints(0);
    for c in 0..3 {
        assert!(
            x[idx(300, c, 0, 1, 0)].abs() < 1e-6,
            "J2 of person 0 at the origin"
        );
    }
    let out = tmp.path().join("f50");
    import_pku(&root, &out, &params(&root, Variant::Frame50), 2).unwrap();
    assert_eq!(Dataset::open(&out).unwrap().frames(), 50);
}

#[test]
fn malformed_pku_input() {
    let e = parse_pku_skeleton(b"1 2 3\n", Path::new("v/A01N01-L.txt"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "v/A01N01-L.txt:1: skeleton frame: expected 150 values, found 3"
    );
    let e = parse_pku_labels("11,1,60,1\n11,x,60,1\n", Path::new("l.txt"))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "l.txt:2: start frame `x` is not a number");
    let e = parse_pku_labels("99,1,60,1\n", Path::new("l.txt"))
        .unwrap_err()
        .to_string();
    assert_eq!(e, "l.txt:1: action 99 is outside 1..=51");

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pku");
    pku_root(&root, &generated_skeleton(600));
    // An instance beyond the end of its video, and a video without a label file.
    std::fs::write(root.join("label/A10N08-M.txt"), "11,590,700,1\n").unwrap();
    std::fs::write(root.join("skeleton/A10N09-L.txt"), generated_skeleton(10)).unwrap();
    let e = import_pku(
        &root,
        &tmp.path().join("o1"),
        &params(&root, Variant::StgcnRaw),
        2,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("2 of 3 files"), "{e}");
    assert!(
        e.contains(
            "label/A10N08-M.txt:1: instance frames 590..=700 go beyond the video's 600 frames"
        ),
        "{e}"
    );
    assert!(
        e.contains("label/A10N09-L.txt: cannot read the label file of A10N09-L"),
        "{e}"
    );
    let mut p = params(&root, Variant::StgcnRaw);
    p.on_error = OnError::Skip;
    let r = import_pku(&root, &tmp.path().join("o2"), &p, 2).unwrap();
    assert_eq!((r.samples, r.bad_files.len()), (3, 2));
    let e = import_pku(&tmp.path().join("nope"), &tmp.path().join("o3"), &p, 2)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot list") && e.contains("set `root` to the PKU-MMD folder"),
        "{e}"
    );
}

// --------------------------------------------------------------------------------------
// Properties: the PKU-MMD readers never panic, whatever the skeleton and label files
// hold.

/// Parses a skeleton file and a label file as `pku.import` does and extracts every
/// instance in every variant: errors are fine, panics are not.
fn check_pku(skeleton: &[u8], labels: &str) {
    let frames = parse_pku_skeleton(skeleton, Path::new("A01N01-L.txt"));
    let labels = parse_pku_labels(labels, Path::new("label/A01N01-L.txt"));
    if let (Ok(frames), Ok(labels)) = (frames, labels) {
        assert_eq!(frames.len() % 150, 0);
        for l in &labels {
            for v in Variant::ALL {
                if let Ok((data, _, _, _)) = instance(&frames, l, v) {
                    assert_eq!(data.len(), v.sample_len());
                }
            }
        }
    }
}

/// Label rows `action,start,end,confidence`, mostly in range, sometimes not numbers.
fn label_text() -> impl Strategy<Value = String> {
    let field = |hi: i64| {
        prop_oneof![
            8 => (-2..hi).prop_map(|v| v.to_string()),
            1 => Just("x".to_string()),
            1 => Just("1.5".to_string()),
            1 => Just(String::new()),
        ]
    };
    let row = (field(60), field(1100), field(1100), field(4))
        .prop_map(|(a, s, e, c)| format!("{a},{s},{e},{c}"));
    prop_oneof![
        8 => proptest::collection::vec(row, 0..4).prop_map(|r| r.join("\n")),
        1 => proptest::collection::vec(crate::fixtures::format_byte(), 0..64)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

#[test]
fn pku_readers_survive_arbitrary_input() {
    let skeleton = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        proptest::collection::vec(crate::fixtures::format_byte(), 0..2048),
    ];
    let names = "[-ALMNR0-9]{0,10}";
    crate::fixtures::fuzz(
        "PKU-MMD readers, arbitrary input",
        400,
        (skeleton, label_text(), names, 1..=2u8),
        |(skeleton, labels, name, phase)| {
            check_pku(&skeleton, &labels);
            let _ = parse_split_file(&labels, Path::new("cross_view_v2.txt"));
            let _ = PkuVideo::parse(&name, phase);
        },
    );
}

#[test]
fn pku_readers_survive_mutated_real_file() {
    let Some(real) = crate::fixtures::real_pku_skeleton() else {
        return;
    };
    let lines: Vec<&[u8]> = real.split_inclusive(|&b| b == b'\n').collect();
    // A run of the real lines (all of them now and then), edited; and labels.
    let input = (
        any::<proptest::sample::Index>(),
        prop_oneof![1 => Just(lines.len()), 4 => 1..120usize],
        proptest::collection::vec(crate::fixtures::edit(), 0..8),
        label_text(),
    );
    crate::fixtures::fuzz(
        "PKU-MMD readers, mutated real file",
        120,
        input,
        |(start, len, edits, labels)| {
            let start = start.index(lines.len() - len.min(lines.len()) + 1);
            let run = lines[start..(start + len).min(lines.len())].concat();
            check_pku(&crate::fixtures::edited(run, &edits), &labels);
        },
    );
}

/// The synthetic PKU-MMD II corpus is genuine PKU-MMD files: `pku.import` reads them like the
/// real ones, every label span becomes one instance, and the splits partition the videos.
#[test]
fn the_synthetic_corpus_imports_as_pku_mmd_ii() {
    use skelflow_stages::data::synth::pku::generate_pku;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pku");
    let corpus = small_corpus(2);
    let r = generate_pku(&corpus, 0, &root, 2, |_, _| {}).unwrap();
    // 3 subjects × 2 takes × 3 views
    assert_eq!(r.files, 18);
    let labels = std::fs::read_to_string(root.join("label/A01N01-L.txt")).unwrap();
    let spans = parse_pku_labels(&labels, Path::new("A01N01-L.txt")).unwrap();
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[0].start, 1);
    assert!(
        spans.windows(2).all(|w| w[1].start == w[0].end + 1),
        "{spans:?}"
    );
    let skel = std::fs::read(root.join("skeleton/A01N01-L.txt")).unwrap();
    let values = parse_pku_skeleton(&skel, Path::new("A01N01-L.txt")).unwrap();
    assert_eq!(
        values.len(),
        spans[2].end * 150,
        "one line of 150 numbers per frame"
    );
    // every class once over a subject's two takes
    let mut classes: Vec<u16> = ["A02N01-M", "A02N02-M"]
        .iter()
        .flat_map(|v| {
            let t = std::fs::read_to_string(root.join(format!("label/{v}.txt"))).unwrap();
            parse_pku_labels(&t, Path::new(v))
                .unwrap()
                .into_iter()
                .map(|l| l.action)
        })
        .collect();
    classes.sort();
    assert_eq!(classes, vec![1, 2, 3, 4, 5, 6]);

    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let r = import_pku(&root, &out, &params(&root, Variant::Frame50), 2).unwrap();
    assert_eq!((r.videos, r.samples), (18, 54));
    let ds = Dataset::open(&out).unwrap();
    // x-sub: subjects 1 and 2 train, 3 tests; x-view: M and R train, L tests
    assert_eq!(ds.split("pku2-xsub", Part::Train).unwrap().len(), 36);
    assert_eq!(ds.split("pku2-xsub", Part::Test).unwrap().len(), 18);
    assert_eq!(ds.split("pku2-xview", Part::Train).unwrap().len(), 36);
    assert_eq!(ds.split("pku2-xview", Part::Test).unwrap().len(), 18);
}

/// Phase 1: the same performances under PKU-MMD I's names (videos numbered subject by
/// subject) and split files, imported as `pku1-*`.
#[test]
fn the_synthetic_corpus_imports_as_pku_mmd_i() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let (root, generated, imported) = synthetic_import(tmp.path(), 1, &out);
    assert_eq!(generated.files, 18);
    // subject 2's second take is video 4
    for f in [
        "skeleton/0004-R.txt",
        "label/0004-R.txt",
        "cross-subject.txt",
        "cross-view.txt",
    ] {
        assert!(root.join(f).is_file(), "{f}");
    }
    assert!(!root.join("cross_subject_v2.txt").exists());
    assert_eq!((imported.videos, imported.samples), (18, 54));
    let ds = Dataset::open(&out).unwrap();
    assert_eq!(ds.benchmarks(), ["pku1-xsub", "pku1-xview"]);
    assert_eq!(ds.split("pku1-xsub", Part::Train).unwrap().len(), 36);
    assert_eq!(ds.split("pku1-xview", Part::Test).unwrap().len(), 18);
    assert_eq!(ds.meta().source, "pku1");
}

/// 6 classes, 3 subjects of 2 takes of 3 actions, 3 views: 18 videos, 54 instances.
fn small_corpus(phase: u8) -> skelflow_stages::data::synth::pku::PkuCorpus {
    skelflow_stages::data::synth::pku::PkuCorpus {
        phase,
        classes: 6,
        subjects: 3,
        per_video: 3,
        noise: 0.01,
    }
}

/// A small synthetic PKU-MMD corpus of `phase`, imported into `dir`.
/// Returns the generated folder and what the generator and the import report.
fn synthetic_import(
    root: &Path,
    phase: u8,
    dir: &Path,
) -> (
    std::path::PathBuf,
    skelflow_stages::data::synth::SynthReport,
    skelflow_stages::data::pku::PkuReport,
) {
    use skelflow_stages::data::synth::pku::generate_pku;
    let files = root.join(format!("files{phase}"));
    let corpus = small_corpus(phase);
    let generated = generate_pku(&corpus, 0, &files, 2, |_, _| {}).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let p = PkuImportParams {
        phase,
        ..params(&files, Variant::Frame50)
    };
    let imported = import_pku(&files, dir, &p, 2).unwrap();
    (files, generated, imported)
}

/// With several imports in `needs`, a learning stage reads its benchmark from the one whose
/// splits define it, and says which benchmarks there are when none does.
#[test]
fn each_benchmark_is_read_from_the_import_that_defines_it() {
    use skelflow_stages::learn::dataset::open_splits;
    use skelflow_stages::{Backend, Input, StageContext};
    let tmp = tempfile::tempdir().unwrap();
    let (one, two, again) = (
        tmp.path().join("pku1"),
        tmp.path().join("pku2"),
        tmp.path().join("pku1-again"),
    );
    synthetic_import(tmp.path(), 1, &one);
    synthetic_import(tmp.path(), 2, &two);
    let ctx = |inputs: &[(&str, &Path)]| StageContext {
        instance: "pretrain".into(),
        params: serde_json::json!({}),
        inputs: inputs
            .iter()
            .map(|(id, dir)| Input {
                instance: id.to_string(),
                kind: "pku.import".into(),
                dir: dir.to_path_buf(),
            })
            .collect(),
        out_dir: tmp.path().join("out"),
        work_dir: tmp.path().join("work"),
        pipeline_dir: tmp.path().to_path_buf(),
        seed: 0,
        backend: Backend::Flex,
        threads: 1,
    };
    let both = ctx(&[("pku_one", &one), ("pku_two", &two)]);
    let s = open_splits(&both, "pku1-xsub").unwrap();
    assert_eq!((s.train.len(), s.test.len()), (36, 18));
    assert_eq!(s.describe["source"], "pku1");
    let s = open_splits(&both, "pku2-xview").unwrap();
    assert_eq!(s.describe["source"], "pku2");
    let e = open_splits(&both, "ntu60-xsub").err().unwrap().to_string();
    assert!(
        e.contains("no dataset in `needs` has the benchmark `ntu60-xsub`")
            && e.contains("pku_one: pku1-xsub, pku1-xview; pku_two: pku2-xsub, pku2-xview"),
        "{e}"
    );
    synthetic_import(tmp.path(), 1, &again);
    let twice = ctx(&[("pku_one", &one), ("pku_again", &again)]);
    let e = open_splits(&twice, "pku1-xsub").err().unwrap().to_string();
    assert!(
        e.contains("the datasets of pku_one and pku_again all define `pku1-xsub`"),
        "{e}"
    );
}
