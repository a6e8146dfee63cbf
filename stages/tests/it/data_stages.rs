//! The data kinds run as the runner runs them: `run` with a hand-built StageContext, chained
//! synth.ntu → ntu.import → anchor.average_motion, plus `data show` / `data convert`.

use std::path::{Path, PathBuf};

use serde_json::json;
use skelflow_contract::files::PROVENANCE_JSON;
use skelflow_contract::{DataFacts, DataOrigin};
use skelflow_stages::data::dataset::{Dataset, Part, Stream, Variant};
use skelflow_stages::data::preprocess::idx;
use skelflow_stages::{Backend, Input, StageContext, registry};

fn provenance(artifact: &Path) -> DataFacts {
    DataFacts::read(&artifact.join(PROVENANCE_JSON))
        .unwrap()
        .unwrap_or_else(|| panic!("{} has no provenance.json", artifact.display()))
}

fn ctx(
    instance: &str,
    kind: &str,
    params: serde_json::Value,
    inputs: Vec<Input>,
    out: &Path,
    pipeline_dir: &Path,
) -> StageContext {
    let k = registry()
        .get(kind)
        .unwrap_or_else(|| panic!("{kind} is registered"));
    let params = k
        .check(&params)
        .unwrap_or_else(|e| panic!("{kind} params: {e:?}"));
    std::fs::create_dir_all(out).unwrap();
    StageContext {
        instance: instance.into(),
        params,
        inputs,
        out_dir: out.to_path_buf(),
        work_dir: out.with_extension("work"),
        pipeline_dir: pipeline_dir.to_path_buf(),
        seed: 3,
        backend: Backend::Flex,
        threads: 2,
    }
}

fn run(c: &StageContext, kind: &str) {
    registry()
        .get(kind)
        .unwrap()
        .run_stage(c)
        .unwrap_or_else(|e| panic!("{kind} failed: {e}"));
}

fn input(instance: &str, kind: &str, dir: &Path) -> Input {
    Input {
        instance: instance.into(),
        kind: kind.into(),
        dir: dir.to_path_buf(),
    }
}

#[test]
fn params_are_checked() {
    let k = registry().get("ntu.import").unwrap();
    let errs = k
        .check(&serde_json::json!({"variant": "frame60", "on_eror": "skip", "actions": [0]}))
        .unwrap_err();
    let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        text.iter()
            .any(|t| t.contains("param `variant`") && t.contains("frame50")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("`on_eror`: unknown param (did you mean `on_error`?")),
        "{text:?}"
    );
    let canon = k.check(&serde_json::json!({"root": "raw"})).unwrap();
    assert_eq!(canon["variant"], "frame50");
    assert_eq!(canon["missing_list"], "auto");
    let a = registry().get("anchor.average_motion").unwrap();
    assert!(
        a.check(&serde_json::json!({})).unwrap_err()[0]
            .to_string()
            .contains("`benchmark`: is required")
    );
    let s = registry().get("synth.ntu").unwrap();
    assert!(
        s.check(&serde_json::json!({"classes": 61})).unwrap_err()[0]
            .to_string()
            .contains("at most 60 classes")
    );
    assert_eq!(k.external_inputs(&canon), vec![PathBuf::from("raw")]);

    // With a root the key holds no synthetic corpus; without one, the corpus spelled out,
    // one key for every way of asking for it.
    assert_eq!(canon["synthetic"], "", "{canon}");
    let quick = k.check(&json!({})).unwrap();
    assert_eq!(quick["synthetic"]["size"], "quick");
    assert_eq!(quick, k.check(&json!({"synthetic": "quick"})).unwrap());
    assert_eq!(
        quick,
        k.check(&json!({"synthetic": {"size": "quick"}})).unwrap()
    );
    assert_ne!(quick, k.check(&json!({"synthetic": "small"})).unwrap());
    assert!(k.external_inputs(&quick).is_empty());
    // A root and a corpus together, an unknown size, a bad corpus param: errors at the param.
    let text = |p: serde_json::Value| -> Vec<String> {
        k.check(&p)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    };
    let both = text(json!({"root": "/data/ntu", "synthetic": "small"}));
    assert!(
        both[0].starts_with("param `synthetic`: a synthetic corpus is asked for together with the data root `/data/ntu`")
            && both[0].contains("`data.synthetic`"),
        "{both:?}"
    );
    let size = text(json!({"synthetic": "huge"}));
    assert!(
        size[0].contains("`huge` is not a corpus size: use quick, small or ntu60"),
        "{size:?}"
    );
    let nested = text(json!({"synthetic": {"classes": 61}}));
    assert!(
        nested[0].starts_with("param `synthetic.classes`: at most 60 classes"),
        "{nested:?}"
    );
    // An empty root beside a synth.ntu stage in `needs` would ignore that stage.
    let upstream = skelflow_stages::Upstream {
        instance: "synth".into(),
        kind: "synth.ntu".into(),
        ..Default::default()
    };
    let e = k.check_inputs(&quick, &[upstream]);
    assert!(
        e[0].to_string()
            .contains("would ignore the `synth` stage in `needs`")
            && e[0].to_string().contains("`root: ${synth.output}`"),
        "{e:?}"
    );
}

#[test]
fn synth_import_anchor_chain_show_and_convert() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let synth_out = t.join("synth");
    let c = ctx(
        "synth",
        "synth.ntu",
        serde_json::json!({"classes": 6, "subjects": 4, "replications": 1}),
        vec![],
        &synth_out,
        t,
    );
    run(&c, "synth.ntu");
    // ntu.import without a root generates the same corpus itself (same params, same seed)
    // and keeps none of its files.
    let import_out = t.join("import");
    let c = ctx(
        "import",
        "ntu.import",
        serde_json::json!({"variant": "frame50", "synthetic": {"classes": 6, "subjects": 4, "replications": 1}}),
        vec![],
        &import_out,
        t,
    );
    run(&c, "ntu.import");
    let left: Vec<_> = std::fs::read_dir(&import_out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("synthetic") || n.ends_with(".skeleton"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let ds = Dataset::open(&import_out).unwrap();
    assert_eq!(ds.len(), 6 * 4 * 3);
    assert_eq!(ds.meta().extra["missing_list"], "none");
    assert_eq!(ds.meta().extra["class_names"][0], "wave right hand");
    // provenance.json: a synth.ntu corpus, with its resolved plan and seed.
    let facts = provenance(&import_out);
    assert_eq!(
        (
            facts.dataset.as_str(),
            facts.files,
            facts.samples,
            facts.classes
        ),
        ("NTU RGB+D 60", 72, 72, 6)
    );
    let DataOrigin::Synthetic { generator, params } = &facts.origin else {
        panic!("{:?}", facts.origin)
    };
    assert_eq!(generator, "synth.ntu");
    assert_eq!(
        (&params["classes"], &params["subjects"], &params["seed"]),
        (&json!(6), &json!(4), &json!(3))
    );
    assert_eq!(params["sessions"].as_array().unwrap().len(), 4);
    // The same files copied elsewhere (without synth.json) are real data, under `root`
    // as the pipeline wrote it.
    std::fs::create_dir_all(t.join("data/raw")).unwrap();
    for e in std::fs::read_dir(&synth_out).unwrap().take(20) {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "skeleton") {
            std::fs::copy(&p, t.join("data/raw").join(p.file_name().unwrap())).unwrap();
        }
    }
    let real_out = t.join("import_real");
    let c = ctx(
        "import_real",
        "ntu.import",
        serde_json::json!({"root": "data/raw", "variant": "stgcn_raw"}),
        vec![],
        &real_out,
        t,
    );
    run(&c, "ntu.import");
    let facts = provenance(&real_out);
    assert_eq!(
        facts.origin,
        DataOrigin::Real {
            root: "data/raw".into()
        }
    );
    assert_eq!((facts.variant.as_str(), facts.frames), ("stgcn_raw", 300));
    // The same with an explicit `root` relative to the pipeline directory.
    let import2 = t.join("import2");
    let c = ctx(
        "import2",
        "ntu.import",
        serde_json::json!({"root": "synth", "variant": "agcn_prenorm", "limit": 10}),
        vec![],
        &import2,
        t,
    );
    run(&c, "ntu.import");
    assert_eq!(Dataset::open(&import2).unwrap().len(), 10);
    // The synth.ntu stage's files imported from `root` are the corpus the import generated.
    let import3 = t.join("import3");
    let c = ctx(
        "import3",
        "ntu.import",
        serde_json::json!({"root": "synth", "variant": "frame50"}),
        vec![],
        &import3,
        t,
    );
    run(&c, "ntu.import");
    assert_eq!(provenance(&import3), provenance(&import_out));
    let ds3 = Dataset::open(&import3).unwrap();
    assert_eq!(ds3.len(), ds.len());
    for i in [0, 17, ds.len() - 1] {
        assert_eq!(ds3.sample(i, Stream::Joint), ds.sample(i, Stream::Joint));
    }

    // anchor.average_motion: the mean motion of the x-sub training split.
    let anchor_out = t.join("anchor");
    let c = ctx(
        "anchor",
        "anchor.average_motion",
        serde_json::json!({"benchmark": "ntu60-xsub", "stream": "motion"}),
        vec![input("import", "ntu.import", &import_out)],
        &anchor_out,
        t,
    );
    run(&c, "anchor.average_motion");
    let (shape, anchor) = crate::fixtures::read_npy(&anchor_out.join("anchor.npy"));
    assert_eq!(shape, vec![3, 50, 25, 2]);
    let train = ds.split("ntu60-xsub", Part::Train).unwrap();
    let probe = idx(50, 1, 10, 11, 0);
    let want: f64 = train
        .iter()
        .map(|&i| ds.sample(i, Stream::Motion)[probe] as f64)
        .sum::<f64>()
        / train.len() as f64;
    assert!(
        (anchor[probe] as f64 - want).abs() < 1e-6,
        "{} vs {want}",
        anchor[probe]
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(anchor_out.join("anchor.json")).unwrap())
            .unwrap();
    assert_eq!(
        (
            meta["count"].as_u64().unwrap() as usize,
            meta["stream"].as_str().unwrap()
        ),
        (train.len(), "motion")
    );

    // data show
    let text = skelflow_stages::data::show(&import_out).unwrap();
    assert!(
        text.contains(
            "variant frame50 (3 × 50 × 25 × 2 float32 per sample), 72 samples, 6 classes"
        ),
        "{text}"
    );
    assert!(text.contains("ntu60-xsub"), "{text}");
    assert!(text.contains("wave right hand"), "{text}");
    assert!(text.contains("frames per source file"), "{text}");
    let e = skelflow_stages::data::show(&synth_out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read dataset.json"), "{e}");

    // data convert on a directory: (N, 3, T, 25, 2) in the import's order + names/labels.
    let npy = t.join("bone.npy");
    let r =
        skelflow_stages::data::convert(&synth_out, Variant::Frame50, Stream::Bone, &npy).unwrap();
    assert_eq!(r.shape, vec![72, 3, 50, 25, 2]);
    let (shape, all) = crate::fixtures::read_npy(&npy);
    assert_eq!(shape, vec![72, 3, 50, 25, 2]);
    assert_eq!(&all[7500 * 5..7500 * 6], &ds.sample(5, Stream::Bone)[..]);
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(t.join("bone.json")).unwrap()).unwrap();
    assert_eq!(side["names"][5], ds.name(5));
    let e = skelflow_stages::data::convert(&t.join("nope"), Variant::Frame50, Stream::Joint, &npy)
        .unwrap_err()
        .to_string();
    assert!(e.contains("no such file or directory"), "{e}");
}

#[test]
fn convert_one_real_file_matches_golden() {
    let Some(fx) = crate::fixtures::fixtures() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for (variant, golden) in [
        (Variant::Frame50, "frame50_position"),
        (Variant::StgcnRaw, "stgcn_raw_C300VM"),
    ] {
        let out = tmp.path().join(format!("{golden}.npy"));
        let name = "S001C001P001R002A050";
        skelflow_stages::data::convert(
            &fx.join(format!("ntu60_raw/{name}.skeleton")),
            variant,
            Stream::Joint,
            &out,
        )
        .unwrap();
        let (shape, got) = crate::fixtures::read_npy(&out);
        let (gshape, want) =
            crate::fixtures::read_npy(&fx.join(format!("golden/{name}_{golden}.npy")));
        assert_eq!(shape, gshape);
        assert!(crate::fixtures::max_abs_diff(&got, &want).0 <= 1e-5);
    }
}
