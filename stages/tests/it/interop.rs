//! Checkpoints and datasets of the reference repositories, in and out: checked against the
//! files PyTorch itself writes and reads (`scripts/interop_reference.py`, torch venv), and
//! every bad input a researcher brings.

use std::path::{Path, PathBuf};
use std::process::Command;

use skelflow_stages::StageKind;
use skelflow_stages::data::Stream;
use skelflow_stages::data::dataset::{Dataset, Part};
use skelflow_stages::data::npy_import::NpyImport;
use skelflow_stages::data::ntu_import::NtuImport;
use skelflow_stages::learn::checkpoint::torch_file::{self, PyValue};
use skelflow_stages::learn::checkpoint::{self, CheckpointFormat, TorchTensor, Values, commands};
use skelflow_stages::learn::encoder_import::EncoderImport;
use skelflow_stages::learn::extract::FeatureKind;

use crate::fixtures::{fixtures, read_npy, venv_python};
use crate::learn_common::{
    context, extract_and_linear, metric, random_encoder, rng_lock, run, test_backend,
    write_dataset, write_npy_f32,
};
use crate::learn_fused::vec_of;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/interop_reference.py")
}

/// The torch venv's python, or `None` (skipped) where there is none.
fn torch() -> Option<PathBuf> {
    venv_python("torch", "SKELFLOW_TORCH_TESTS")
}

fn python(py: &Path, args: &[&str]) -> String {
    let out = Command::new(py).arg(script()).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "interop_reference.py {args:?}:\n{text}"
    );
    text
}

/// Max |a - b| / max(|b|, 0.01), b = PyTorch's.
fn max_rel_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs() / b.abs().max(0.01))
        .fold(0.0, f32::max)
}

fn embed(ckpt: &Path, stream: Option<Stream>, feature: FeatureKind, x: &Path, out: &Path) {
    let _rng = rng_lock();
    commands::embed(
        ckpt,
        CheckpointFormat::Auto,
        stream,
        feature,
        x,
        out,
        test_backend(),
    )
    .unwrap_or_else(|e| panic!("embed {}: {e}", ckpt.display()));
}

#[test]
fn features_of_reference_checkpoints_equal_pytorchs() {
    let Some(py) = torch() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    python(&py, &["checkpoints", d.to_str().unwrap()]);
    let out = d.join("ours.npy");
    let mut checked = Vec::new();
    let mut check =
        |ckpt: &str, stream: Option<Stream>, feature: FeatureKind, x: &str, want: &str| {
            embed(&d.join(ckpt), stream, feature, &d.join(x), &out);
            let (shape, got) = read_npy(&out);
            let (want_shape, want_v) = read_npy(&d.join(want));
            assert_eq!(shape, want_shape, "{want}");
            let err = max_rel_error(&got, &want_v);
            assert!(err <= 1e-4, "{want}: max relative error {err:e}");
            checked.push(format!("{want} {err:.1e}"));
        };
    // ST-GCN-16 of AimCLR with random BN statistics and edge importance
    check(
        "aimclr.pt",
        None,
        FeatureKind::Backbone,
        "stgcn_x.npy",
        "aimclr_backbone.npy",
    );
    check(
        "aimclr.pt",
        None,
        FeatureKind::Projection,
        "stgcn_x.npy",
        "aimclr_projection.npy",
    );
    // CMD's BiGRU at two sizes, each stream's encoder on its own stream
    for size in ["h8_l1", "h16_l2"] {
        for stream in Stream::ALL {
            for (feature, f) in [
                (FeatureKind::Backbone, "backbone"),
                (FeatureKind::Projection, "projection"),
            ] {
                check(
                    &format!("cmd_{size}.pt"),
                    Some(stream),
                    feature,
                    "gru_x.npy",
                    &format!("cmd_{size}_{stream}_{f}.npy"),
                );
            }
        }
    }
    // AS-CAL's LSTM: the unnormalised mean over time
    check(
        "ascal.pt",
        None,
        FeatureKind::Backbone,
        "lstm_x.npy",
        "ascal_backbone.npy",
    );
    println!("{}", checked.join("\n"));
    assert_eq!(checked.len(), 15);
}

/// ST-GCN-16 trained as the methods train it — batch norms on the batch's statistics, the
/// fused temporal convolutions and batch norms of `learn::fused` on flex — against PyTorch's
/// st_gcn in `train()` mode with the same weights (dropout off): the features and the
/// gradients of the input and of parameters in every kind of layer, T = 13 (odd through
/// both stride-2 blocks).
///
/// Two batches: as drawn, and with one sample's second person zeroed (as absent persons are
/// padded). Measured max |error| / max |PyTorch's| per gradient: ~1e-6 — except where a
/// ReLU input lies within rounding of 0 and the two sides' summation orders put it on
/// opposite sides: that element's gradient is cut on one side only, which moves its layer's
/// and the earlier layers' gradients by up to ~2e-2 (flex, one person: 5e-4 from block 5 on;
/// libtorch, two persons: 1.7e-2 in block 1 and below; each time the layers after it at
/// ~1e-6). The tolerance admits such a flip; `learn_fused` checks each op tightly.
#[test]
fn stgcn_training_gradients_equal_pytorchs() {
    use burn::module::{Module, ModuleMapper, Param};
    use burn::prelude::*;
    use skelflow_stages::learn::encoders::Backbone;
    let Some(py) = torch() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    python(&py, &["train-grads", d.to_str().unwrap()]);
    let dev = skelflow_stages::learn::device::device(test_backend(), true, 2).unwrap();
    // the loader's values are fresh leaves: track them as a training stage's parameters are
    struct Track;
    impl ModuleMapper for Track {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.require_grad())
        }
    }
    let load = |name: &str| {
        let (shape, values) = read_npy(&d.join(name));
        let shape: Vec<usize> = shape.iter().map(|&s| s as usize).collect();
        (shape, values)
    };
    fn tracked<const D: usize>(grad: Option<Tensor<D>>) -> Vec<f32> {
        vec_of(grad.expect("tracked"))
    }
    let (r_shape, r) = load("stgcn_train_r.npy");
    let r = Tensor::<2>::from_data(TensorData::new(r, [r_shape[0], r_shape[1]]), &dev);
    let mut report = Vec::new();
    for persons in ["two", "one"] {
        let (_, enc) = checkpoint::import(
            &d.join("stgcn_train.pt"),
            CheckpointFormat::Aimclr,
            Stream::Joint,
            None,
            &dev,
        )
        .unwrap();
        let mut enc = enc.map(&mut Track);
        let Backbone::Stgcn(stgcn) = &mut enc.backbone else {
            panic!("an ST-GCN");
        };
        for block in &mut stgcn.blocks {
            block.dropout.prob = 0.0;
        }
        let (x_shape, x) = load(&format!("{persons}_x.npy"));
        let x_shape: [usize; 5] = std::array::from_fn(|i| x_shape[i]);
        let x = Tensor::<5>::from_data(TensorData::new(x, x_shape), &dev).require_grad();
        let features = enc.features(x.clone());
        let feature_err = max_rel_error(
            &vec_of(features.clone()),
            &load(&format!("{persons}_features.npy")).1,
        );
        assert!(feature_err <= 1e-4, "{persons}: features {feature_err:e}");
        println!("{persons} person(s): features: max relative error {feature_err:.1e}");
        let grads = (features * r.clone()).sum().backward();
        let Backbone::Stgcn(stgcn) = &enc.backbone else {
            unreachable!()
        };
        let b = &stgcn.blocks;
        let res_conv = b[4]
            .res_conv
            .as_ref()
            .expect("block 5 projects its residual");
        let res_bn = b[4].res_bn.as_ref().expect("block 5 projects its residual");

        let ours: Vec<(&str, Vec<f32>)> = vec![
            ("x", tracked(x.grad(&grads))),
            (
                "data_bn.weight",
                tracked(stgcn.data_bn.gamma.val().grad(&grads)),
            ),
            (
                "st_gcn_networks.0.gcn.conv.weight",
                tracked(b[0].gcn_weight.val().grad(&grads)),
            ),
            (
                "st_gcn_networks.1.tcn.0.weight",
                tracked(b[1].tcn_bn1.gamma.val().grad(&grads)),
            ),
            (
                "st_gcn_networks.4.tcn.2.weight",
                tracked(b[4].tcn_conv.weight.val().grad(&grads)),
            ),
            (
                "st_gcn_networks.4.residual.0.weight",
                tracked(res_conv.weight.val().grad(&grads)),
            ),
            (
                "st_gcn_networks.4.residual.1.bias",
                tracked(res_bn.beta.val().grad(&grads)),
            ),
            (
                "st_gcn_networks.7.tcn.3.weight",
                tracked(b[7].tcn_bn2.gamma.val().grad(&grads)),
            ),
            (
                "st_gcn_networks.9.tcn.3.bias",
                tracked(b[9].tcn_bn2.beta.val().grad(&grads)),
            ),
            (
                "edge_importance.3",
                tracked(stgcn.edge_importance[3].val().grad(&grads)),
            ),
        ];
        for (name, got) in ours {
            let want = load(&format!("{persons}_grad_{name}.npy")).1;
            assert_eq!(got.len(), want.len(), "d {name}");
            // relative to the gradient's scale (a conv bias before a batch norm is left out:
            // its true gradient is 0, and both sides hold rounding there)
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            let err = got
                .iter()
                .zip(&want)
                .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
                / scale;
            report.push((format!("{persons} person(s): d {name}"), err));
        }
    }
    for (what, err) in &report {
        println!("{what}: max |error| / max |PyTorch's| {err:.1e}");
    }
    for (what, err) in report {
        assert!(
            err <= 2e-2,
            "{what}: max |error| / max |PyTorch's| = {err:e}"
        );
    }
}

#[test]
fn exported_encoders_load_strictly_into_pytorch_and_give_the_same_features() {
    let Some(py) = torch() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let x = root.join("x.npy");
    let (clips, _) = crate::learn_common::make_clips(3, 16, 4, 9);
    write_npy_f32(&x, &[3, 3, 16, 25, 2], &clips);
    let cases = [
        (
            "stgcn",
            serde_json::json!("stgcn"),
            "aimclr",
            None,
            "projection",
        ),
        (
            "bigru",
            serde_json::json!({"backbone": {"arch": "bigru", "hidden": 8, "layers": 2}, "proj_dim": 16}),
            "cmd",
            Some(Stream::Motion),
            "projection",
        ),
        ("lstm", serde_json::json!("lstm"), "ascal", None, "backbone"),
    ];
    for (name, encoder, format, stream, feature) in cases {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let enc = random_encoder(&dir, encoder);
        let file = dir.join(format!("{name}.pt"));
        let said = commands::export_encoder(&enc, CheckpointFormat::Auto, stream, &file).unwrap();
        assert!(said.contains(&format!("{format} format")), "{said}");
        let feats = dir.join("features.npy");
        let kind = if feature == "backbone" {
            FeatureKind::Backbone
        } else {
            FeatureKind::Projection
        };
        embed(&enc, stream, kind, &x, &feats);
        let stream = stream.unwrap_or_default().name();
        let said = python(
            &py,
            &[
                "verify-export",
                file.to_str().unwrap(),
                format,
                x.to_str().unwrap(),
                feats.to_str().unwrap(),
                "--stream",
                stream,
                "--feature",
                feature,
            ],
        );
        println!("{name}: {said}");
        // and the file comes back into skelflow as the same encoder
        let again = dir.join("again.npy");
        embed(
            &file,
            Some(Stream::parse(stream).unwrap()),
            kind,
            &x,
            &again,
        );
        assert_eq!(read_npy(&again).1, read_npy(&feats).1, "{name}");
    }
}

/// An ST-GCN-16 exported by skelflow in the `aimclr` format: (its artifact, the file).
fn exported_stgcn(root: &Path) -> (PathBuf, PathBuf) {
    let enc = random_encoder(root, serde_json::json!("stgcn"));
    let file = root.join("aimclr.pt");
    commands::export_encoder(&enc, CheckpointFormat::Aimclr, None, &file).unwrap();
    (enc, file)
}

#[test]
fn an_imported_checkpoint_feeds_extract_and_linear_evaluation() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (random, file) = exported_stgcn(root);
    let params = serde_json::json!({"file": file.to_str().unwrap(), "format": "aimclr"});
    assert_eq!(EncoderImport.check_external(&params, &file, &file), None);
    let imported = run(
        &EncoderImport,
        &context(&EncoderImport, root, "import", params, &[]),
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(imported.join("encoder.json")).unwrap())
            .unwrap();
    assert_eq!(meta["method"], "import:aimclr");
    assert_eq!(meta["input"]["checkpoint"]["file"], "aimclr.pt");
    assert_eq!(meta["encoder"]["backbone"]["hidden"], 16);

    let data = root.join("data");
    write_dataset(&data, 64, 32, 20, 4);
    let linear = serde_json::json!({"protocol": "cmd", "epochs": 2, "lr": 0.1, "milestones": [1]});
    let extract = serde_json::json!({"benchmark": "synthetic"});
    let (theirs, lin) = extract_and_linear(
        root,
        "imported",
        &imported,
        ("shell", &data),
        extract.clone(),
        linear.clone(),
    );
    let (ours, _) =
        extract_and_linear(root, "original", &random, ("shell", &data), extract, linear);
    assert!(metric(&lin, "top1", &[("at", "best")]) > 0.0);
    // the round trip through the reference format changes no feature
    let read = |d: &Path| std::fs::read(d.join("features.arrow")).unwrap();
    assert_eq!(read(&theirs), read(&ours));
}

/// A torch file holding `tensors` as torchlight's `save_model` writes them.
fn write_state_dict(path: &Path, tensors: &checkpoint::StateDict) {
    let items = tensors
        .iter()
        .map(|(k, t)| (k.clone(), PyValue::Tensor(t.clone())))
        .collect();
    torch_file::write(path, &PyValue::OrderedDict(items)).unwrap();
}

fn import_error(file: &Path, format: CheckpointFormat) -> String {
    let dev = burn::prelude::Device::default();
    let e =
        checkpoint::import(file, format, Stream::Joint, None, &dev).expect_err("the import fails");
    println!("{e}");
    e
}

#[test]
fn bad_checkpoints_are_refused_naming_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (_, good) = exported_stgcn(root);
    let sd = torch_file::read_tensors(&good, true).unwrap();
    let bad = root.join("bad.pt");

    // another architecture than the format holds
    let gru = random_encoder(
        &root.join("gru"),
        serde_json::json!({"backbone": {"arch": "bigru", "hidden": 4, "layers": 1}}),
    );
    commands::export_encoder(&gru, CheckpointFormat::Cmd, None, &bad).unwrap();
    let e = import_error(&bad, CheckpointFormat::Aimclr);
    assert!(e.contains("BiGRU") && e.contains("use format `cmd`"), "{e}");

    // a missing and an extra tensor, listed by name
    let mut edited = sd.clone();
    edited.remove("encoder_q.st_gcn_networks.3.tcn.2.weight");
    edited.insert(
        "encoder_q.st_gcn_networks.3.extra.weight".into(),
        TorchTensor {
            shape: vec![2],
            values: Values::F32(vec![0.0, 1.0]),
        },
    );
    write_state_dict(&bad, &edited);
    let e = import_error(&bad, CheckpointFormat::Auto);
    assert!(
        e.contains("missing keys: `encoder_q.st_gcn_networks.3.tcn.2.weight`"),
        "{e}"
    );
    assert!(
        e.contains("unexpected keys: `encoder_q.st_gcn_networks.3.extra.weight`"),
        "{e}"
    );

    // a shape mismatch, naming the tensor and both shapes
    let mut edited = sd.clone();
    edited.insert(
        "encoder_q.st_gcn_networks.2.tcn.2.bias".into(),
        TorchTensor {
            shape: vec![17],
            values: Values::F32(vec![0.0; 17]),
        },
    );
    write_state_dict(&bad, &edited);
    let e = import_error(&bad, CheckpointFormat::Aimclr);
    assert!(
        e.contains(
            "`encoder_q.st_gcn_networks.2.tcn.2.bias` is [17] in the file, [16] in the encoder"
        ),
        "{e}"
    );

    // a truncated file
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let e = import_error(&bad, CheckpointFormat::Auto);
    assert!(e.contains("not a readable PyTorch checkpoint"), "{e}");

    // no encoder at all
    let mut edited = checkpoint::StateDict::new();
    edited.insert(
        "queue".into(),
        TorchTensor {
            shape: vec![1],
            values: Values::F32(vec![0.0]),
        },
    );
    write_state_dict(&bad, &edited);
    let e = import_error(&bad, CheckpointFormat::Auto);
    assert!(
        e.contains("holds no encoder skelflow knows (keys like `queue`)"),
        "{e}"
    );

    // the stage says so before anything runs, naming the file
    let params = serde_json::json!({"file": "bad.pt", "format": "aimclr"});
    let e = EncoderImport
        .check_external(&params, Path::new("bad.pt"), &bad)
        .expect("refused at validation");
    assert!(e.starts_with("bad.pt: holds no encoder"), "{e}");
    let params = serde_json::json!({"file": "gru.pt", "format": "cmd", "stream": "bone"});
    commands::export_encoder(&gru, CheckpointFormat::Cmd, None, &bad).unwrap();
    let e = EncoderImport
        .check_external(&params, Path::new("gru.pt"), &bad)
        .expect("refused at validation");
    assert!(
        e.contains("no cmd encoder for the bone stream") && e.contains("`encoder_q.`"),
        "{e}"
    );
}

/// ST-GCN's gendata layout of one benchmark, written by PyTorch's side from the real files.
fn gendata(py: &Path, fx: &Path, out: &Path) -> PathBuf {
    python(
        py,
        &[
            "gendata",
            fx.join("ntu60_raw").to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
    out.join("xview")
}

#[test]
fn reference_arrays_import_as_ntu_import_reads_the_same_files() {
    let (Some(py), Some(fx)) = (torch(), fixtures()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let arrays = gendata(&py, &fx, &root.join("gendata"));
    for variant in ["stgcn_raw", "frame50"] {
        let ntu = run(
            &NtuImport,
            &context(
                &NtuImport,
                root,
                &format!("ntu-{variant}"),
                serde_json::json!({"root": fx.join("ntu60_raw"), "variant": variant, "missing_list": "none"}),
                &[],
            ),
        );
        let npy = run(
            &NpyImport,
            &context(
                &NpyImport,
                root,
                &format!("npy-{variant}"),
                serde_json::json!({"root": arrays, "benchmark": "ntu60-xview", "holds": "stgcn_raw", "variant": variant}),
                &[],
            ),
        );
        let (a, b) = (Dataset::open(&ntu).unwrap(), Dataset::open(&npy).unwrap());
        assert_eq!(a.len(), 7);
        assert_eq!(
            (a.len(), a.variant(), a.num_classes()),
            (b.len(), b.variant(), b.num_classes())
        );
        for i in 0..a.len() {
            assert_eq!((a.name(i), a.label(i)), (b.name(i), b.label(i)));
            assert_eq!(a.joints(i), b.joints(i), "{variant} {}", a.name(i));
            assert_eq!(a.info(i).camera, b.info(i).camera);
        }
        for bench in ["ntu60-xview", "ntu60-xsub", "ntu120-xset"] {
            for part in [Part::Train, Part::Test] {
                assert_eq!(
                    a.split(bench, part).unwrap(),
                    b.split(bench, part).unwrap(),
                    "{bench}"
                );
            }
        }
    }
}

#[test]
fn bad_reference_arrays_are_refused_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = root.join("xsub");
    std::fs::create_dir_all(&dir).unwrap();
    let x = |n: usize| vec![0.5f32; n * 3 * 300 * 25 * 2];
    write_npy_f32(&dir.join("train_data.npy"), &[2, 3, 300, 25, 2], &x(2));
    write_npy_f32(&dir.join("val_data.npy"), &[1, 3, 300, 25, 2], &x(1));
    let pickle = |path: &Path, value: &serde_pickle::Value| {
        std::fs::write(
            path,
            serde_pickle::value_to_vec(value, Default::default()).unwrap(),
        )
        .unwrap();
    };
    let names = |ns: &[&str]| {
        serde_pickle::Value::List(
            ns.iter()
                .map(|n| serde_pickle::Value::String(format!("{n}.skeleton")))
                .collect(),
        )
    };
    let ints = |ls: &[i64]| {
        serde_pickle::Value::List(ls.iter().map(|&l| serde_pickle::Value::I64(l)).collect())
    };
    let pair =
        |n: serde_pickle::Value, l: serde_pickle::Value| serde_pickle::Value::Tuple(vec![n, l]);
    pickle(
        &dir.join("val_label.pkl"),
        &pair(names(&["S001C001P003R001A002"]), ints(&[1])),
    );
    let attempt = |id: &str| {
        let ctx = context(
            &NpyImport,
            root,
            id,
            serde_json::json!({"root": "xsub", "benchmark": "ntu60-xsub"}),
            &[],
        );
        NpyImport.run_stage(&ctx).err().map(|e| e.to_string())
    };

    // not (names, labels)
    let mut dict = std::collections::BTreeMap::new();
    dict.insert(
        serde_pickle::HashableValue::String("names".into()),
        names(&["S001C001P001R001A001"]),
    );
    pickle(
        &dir.join("train_label.pkl"),
        &serde_pickle::Value::Dict(dict),
    );
    let e = attempt("dict").expect("refused");
    assert!(
        e.contains("train_label.pkl") && e.contains("not a pickled (sample_names, labels) pair"),
        "{e}"
    );

    // one label short of the samples
    pickle(
        &dir.join("train_label.pkl"),
        &pair(
            names(&["S001C001P001R001A001", "S001C002P001R001A001"]),
            ints(&[0]),
        ),
    );
    let e = attempt("short").expect("refused");
    assert!(
        e.contains("2 sample names and 1 labels for the 2 samples") && e.contains("train_data.npy"),
        "{e}"
    );

    // a truncated array
    pickle(
        &dir.join("train_label.pkl"),
        &pair(
            names(&["S001C001P001R001A001", "S001C002P001R001A001"]),
            ints(&[0, 0]),
        ),
    );
    let bytes = std::fs::read(dir.join("train_data.npy")).unwrap();
    std::fs::write(dir.join("train_data.npy"), &bytes[..bytes.len() - 4]).unwrap();
    let e = attempt("truncated").expect("refused");
    assert!(
        e.contains("train_data.npy") && e.contains("truncated"),
        "{e}"
    );

    // and with good files it imports: 3 samples, the folder's split
    write_npy_f32(&dir.join("train_data.npy"), &[2, 3, 300, 25, 2], &x(2));
    assert_eq!(attempt("good"), None);
    let ds = Dataset::open(&root.join("good.out")).unwrap();
    assert_eq!(ds.len(), 3);
    assert_eq!(ds.split("ntu60-xsub", Part::Test).unwrap(), vec![1]);

    // missing files are named before anything runs
    std::fs::remove_file(dir.join("val_label.pkl")).unwrap();
    let params = NpyImport
        .check(&serde_json::json!({"root": "xsub", "benchmark": "ntu60-xsub"}))
        .unwrap();
    let e = NpyImport
        .check_external(&params, Path::new("xsub"), &dir)
        .unwrap();
    assert!(e.contains("lacks val_label.pkl"), "{e}");
}

#[test]
fn cmd_arrays_take_their_valid_frames_from_num_frame() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("xview");
    std::fs::create_dir_all(&dir).unwrap();
    // padded by repetition as CMD's pre_normalization pads: no zero frame tells the length
    let x = vec![0.25f32; 3 * 300 * 25 * 2];
    for (part, name, frames) in [
        ("train", "S001C002P001R001A003", 71i64),
        ("val", "S001C001P001R001A003", 300),
    ] {
        write_npy_f32(
            &dir.join(format!("{part}_data_joint.npy")),
            &[1, 3, 300, 25, 2],
            &x,
        );
        crate::learn_common::write_npy_i64(&dir.join(format!("{part}_num_frame.npy")), &[frames]);
        let v = serde_pickle::Value::Tuple(vec![
            serde_pickle::Value::List(vec![serde_pickle::Value::String(format!(
                "{name}.skeleton"
            ))]),
            serde_pickle::Value::List(vec![serde_pickle::Value::I64(2)]),
        ]);
        std::fs::write(
            dir.join(format!("{part}_label.pkl")),
            serde_pickle::value_to_vec(&v, Default::default()).unwrap(),
        )
        .unwrap();
    }
    let ctx = context(
        &NpyImport,
        tmp.path(),
        "cmd",
        serde_json::json!({"root": "xview", "benchmark": "ntu60-xview", "holds": "agcn_prenorm"}),
        &[],
    );
    NpyImport.run_stage(&ctx).unwrap();
    let ds = Dataset::open(&ctx.out_dir).unwrap();
    assert_eq!(ds.variant().name(), "agcn_prenorm");
    // name order: camera 1 (val) first
    assert_eq!((ds.valid_frames(0), ds.valid_frames(1)), (300, 71));
    assert_eq!(ds.split("ntu60-xview", Part::Train).unwrap(), vec![1]);
}
