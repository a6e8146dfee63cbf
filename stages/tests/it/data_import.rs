//! `.skeleton` parsing edge cases, malformed input (with the messages), and `ntu.import`
//! end to end on temporary directories: splits, missing list, on_error fail / skip, the
//! Dataset reader and its streams.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use skelflow_contract::files::PROVENANCE_JSON;
use skelflow_contract::{DataFacts, DataOrigin};
use skelflow_stages::data::dataset::{Dataset, Part, Stream, Variant};
use skelflow_stages::data::ntu_format::{
    ParseError, SkeletonSequence, parse_skeleton, parse_skeleton_exact, read_skeleton_file,
};
use skelflow_stages::data::ntu_import::{ImportOptions, OnError, import_ntu};
use skelflow_stages::data::preprocess::{self, idx};

type Body = [[f32; 3]; 25];

fn body(seed: f32) -> Body {
    let mut b = [[0.0; 3]; 25];
    for (v, p) in b.iter_mut().enumerate() {
        *p = [
            0.1 * v as f32 + seed,
            0.05 * v as f32 - 0.3 * seed,
            3.0 + 0.01 * v as f32 + seed,
        ];
    }
    b
}

/// A well-formed `.skeleton` text: `frames[t]` = the bodies listed in frame t.
fn skeleton_text(frames: &[Vec<Body>], eol: &str) -> String {
    let mut s = format!("{}{eol}", frames.len());
    for bodies in frames {
        s += &format!("{}{eol}", bodies.len());
        for (k, b) in bodies.iter().enumerate() {
            s += &format!("7205759403793110{k} 0 1 1 1 1 0 0.02764709 8.094816E-05 2{eol}25{eol}");
            for p in b {
                s += &format!(
                    "{} {} {} 277.419 191.8218 1036.233 519.1677 -0.2059419 0.05349901 0.9692109 -0.1239193 2{eol}",
                    p[0], p[1], p[2]
                );
            }
        }
    }
    s
}

fn simple(frames: usize, bodies: usize) -> String {
    let f: Vec<Vec<Body>> = (0..frames)
        .map(|t| {
            (0..bodies)
                .map(|k| body(t as f32 * 0.01 + k as f32))
                .collect()
        })
        .collect();
    skeleton_text(&f, "\n")
}

fn err_of(text: &str) -> String {
    let file = Path::new("S001C001P001R001A001.skeleton");
    let e = parse_skeleton(text.as_bytes(), file)
        .unwrap_err()
        .to_string();
    // The reader's direct path (no sequence in between) reports the same error.
    let mut array = vec![0f32; Variant::StgcnRaw.sample_len()];
    let direct = preprocess::stgcn_raw_from_bytes(text.as_bytes(), file, &mut array);
    assert_eq!(direct.unwrap_err().to_string(), e);
    e
}

/// Line number (1-based) of the first line containing `pat`.
fn line_of(text: &str, pat: &str) -> usize {
    text.lines().position(|l| l.contains(pat)).unwrap() + 1
}

#[test]
fn accepts_crlf_exponents_empty_frames_and_many_bodies() {
    let frames = vec![
        vec![body(0.0)],
        vec![],
        vec![body(1.0), body(2.0), body(3.0)],
        vec![body(4.0), body(5.0)],
    ];
    let lf = skeleton_text(&frames, "\n");
    let crlf = skeleton_text(&frames, "\r\n");
    let a = parse_skeleton(lf.as_bytes(), Path::new("a")).unwrap();
    let b = parse_skeleton(crlf.as_bytes(), Path::new("a")).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.frame_bodies, vec![1, 0, 3, 2]);
    assert_eq!(a.max_bodies(), 3);
    // Exponent notation in coordinates.
    let e = lf.replacen("0 0 3 277.419", "0 8.094816E-05 3 277.419", 1);
    let s = parse_skeleton(e.as_bytes(), Path::new("a")).unwrap();
    assert_eq!(s.joints[0][1], 8.094816e-05f64 as f32);
    // stgcn_raw keeps the first two listed bodies; frame 1 stays zero.
    let raw = preprocess::stgcn_raw(&a);
    assert_eq!(raw.data[idx(300, 0, 2, 0, 0)], 1.0);
    assert_eq!(raw.data[idx(300, 0, 2, 0, 1)], 2.0);
    assert_eq!(raw.data[idx(300, 0, 1, 3, 0)], 0.0);
    assert_eq!(raw.frames, 4);
    // The reader's direct path fills the same array, bit for bit, from LF and CRLF.
    let mut array = vec![f32::NAN; Variant::StgcnRaw.sample_len()];
    for text in [&lf, &crlf] {
        let counts =
            preprocess::stgcn_raw_from_bytes(text.as_bytes(), Path::new("a"), &mut array).unwrap();
        assert_eq!(
            (counts.frames, counts.raw_frames, counts.max_bodies),
            (4, 4, 3)
        );
        assert!(
            array
                .iter()
                .zip(&raw.data)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }
    let none = skeleton_text(&[vec![], vec![]], "\n");
    let e = preprocess::stgcn_raw_from_bytes(none.as_bytes(), Path::new("a"), &mut array);
    assert_eq!(
        e.unwrap_err().to_string(),
        format!("a: {}", preprocess::no_skeleton_message(2))
    );
}

#[test]
fn malformed_files_name_file_and_line() {
    let good = simple(3, 1);
    // Truncated in the middle of a joint list.
    let cut: String = good.lines().take(20).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        err_of(&cut),
        "S001C001P001R001A001.skeleton:21: unexpected end of file: expected joint 17 of body 1 in frame 1 of 3; \
         the file is truncated (re-extract it from the dataset archive, or import with `on_error: skip`)"
    );
    // Frame count larger than the content.
    let more = good.replacen("3\n", "4\n", 1);
    assert!(
        err_of(&more).contains("expected the body count in frame 4 of 4; the file is truncated"),
        "{}",
        err_of(&more)
    );
    // Frame count smaller than the content.
    let fewer = good.replacen("3\n", "2\n", 1);
    let l = 1 + 2 * 28 + 1; // 28 lines per one-body frame
    assert_eq!(
        err_of(&fewer),
        format!(
            "S001C001P001R001A001.skeleton:{l}: unexpected data after the last frame: line 1 declares 2 frames, so either \
             that count is wrong or the file was concatenated"
        )
    );
    // Wrong joint count.
    let j = good.replacen("\n25\n", "\n24\n", 1);
    assert_eq!(
        err_of(&j),
        "S001C001P001R001A001.skeleton:4: joint count (frame 1, body 1) is 24; NTU skeletons have 25 joints"
    );
    // A joint line with 11 values, one with 13.
    let short = good.replacen(" -0.1239193 2\n", " 2\n", 1);
    assert_eq!(
        err_of(&short),
        "S001C001P001R001A001.skeleton:5: joint line (frame 1, body 1, joint 1): expected 12 values, found 11"
    );
    let long = good.replacen(" -0.1239193 2\n", " -0.1239193 2 7\n", 1);
    assert_eq!(
        err_of(&long),
        "S001C001P001R001A001.skeleton:5: joint line (frame 1, body 1, joint 1): expected 12 values, found 13"
    );
    // Body info line with 9 values.
    let b9 = good.replacen(" 0.02764709 ", " ", 1);
    assert_eq!(
        err_of(&b9),
        "S001C001P001R001A001.skeleton:3: body info line (frame 1, body 1): expected 10 values, found 9"
    );
    // Not a number, NaN, infinity.
    let nan_line = line_of(&good, "0.1 0.05 3.01");
    let nn = good.replacen("0.1 0.05 3.01", "0.1 0.o5 3.01", 1);
    assert_eq!(
        err_of(&nn),
        format!(
            "S001C001P001R001A001.skeleton:{nan_line}: joint line (frame 1, body 1, joint 2): value 2 is `0.o5`, not a number"
        )
    );
    let nan = good.replacen("0.1 0.05 3.01", "0.1 NaN 3.01", 1);
    assert_eq!(
        err_of(&nan),
        format!(
            "S001C001P001R001A001.skeleton:{nan_line}: joint line (frame 1, body 1, joint 2): value 2 is `NaN`, not a finite number"
        )
    );
    let inf = good.replacen("0.1 0.05 3.01", "0.1 0.05 inf", 1);
    assert!(
        err_of(&inf).ends_with("value 3 is `inf`, not a finite number"),
        "{}",
        err_of(&inf)
    );
    // Counts that are not integers; an empty file.
    assert_eq!(
        err_of("3.5\n"),
        "S001C001P001R001A001.skeleton:1: frame count: expected a non-negative integer, found `3.5`"
    );
    let bc = good.replacen("3\n1\n", "3\nx\n", 1);
    assert_eq!(
        err_of(&bc),
        "S001C001P001R001A001.skeleton:2: body count of frame 1: expected a non-negative integer, found `x`"
    );
    assert_eq!(
        err_of(""),
        "S001C001P001R001A001.skeleton:1: the file is empty: expected the frame count on line 1"
    );
    assert!(
        err_of("2\n99\n")
            .contains("body count of frame 1 is 99; a Kinect frame lists at most 16 bodies")
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn opts(variant: Variant, on_error: OnError) -> ImportOptions {
    let mut o = ImportOptions::new(variant);
    o.on_error = on_error;
    o.threads = 2;
    o
}

/// A small corpus: subjects 1 (x-sub train) and 3 (test), cameras 1 (x-view test) and 2.
fn corpus(dir: &Path) {
    for (k, name) in [
        "S001C001P001R001A001",
        "S001C002P001R001A002",
        "S002C001P003R001A003",
        "S002C002P003R002A001",
        "S001C003P001R001A050",
    ]
    .iter()
    .enumerate()
    {
        write(
            dir,
            &format!("{name}.skeleton"),
            &simple(20 + k * 7, if name.ends_with("A050") { 2 } else { 1 }),
        );
    }
    write(dir, "README.txt", "not a skeleton");
}

#[test]
fn import_writes_dataset_splits_and_reads_back() {
    let raw = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    corpus(raw.path());
    let mut o = opts(Variant::StgcnRaw, OnError::Fail);
    o.root_as_written = Some("data/raw".into());
    let rep = import_ntu(raw.path(), out.path(), &o, |_, _| {}).unwrap();
    assert_eq!((rep.samples, rep.bad_files.len(), rep.ignored), (5, 0, 1));
    // What was read: NTU-60 names (actions ≤ 60, setups ≤ 17), real files under the root
    // as written, the five .skeleton names (not README.txt).
    let facts = DataFacts::read(&out.path().join(PROVENANCE_JSON))
        .unwrap()
        .unwrap();
    let names = "S001C001P001R001A001.skeleton\nS001C002P001R001A002.skeleton\n\
                 S001C003P001R001A050.skeleton\nS002C001P003R001A003.skeleton\n\
                 S002C002P003R002A001.skeleton\n";
    assert_eq!(
        facts,
        DataFacts {
            dataset: "NTU RGB+D 60".into(),
            origin: DataOrigin::Real {
                root: "data/raw".into()
            },
            files: 5,
            samples: 5,
            classes: 50,
            file_list_digest: blake3::hash(names.as_bytes()).to_hex().to_string(),
            variant: "stgcn_raw".into(),
            frames: 300,
        }
    );

    let ds = Dataset::open(out.path()).unwrap();
    assert_eq!(ds.len(), 5);
    assert_eq!(ds.variant(), Variant::StgcnRaw);
    assert_eq!(ds.frames(), 300);
    assert_eq!(ds.num_classes(), 50);
    // Sorted name order.
    let names: Vec<&str> = (0..5).map(|i| ds.name(i)).collect();
    assert_eq!(
        names,
        [
            "S001C001P001R001A001",
            "S001C002P001R001A002",
            "S001C003P001R001A050",
            "S002C001P003R001A003",
            "S002C002P003R002A001"
        ]
    );
    assert_eq!(
        (ds.label(2), ds.valid_frames(0), ds.info(2).bodies),
        (49, 20, 2)
    );
    assert_eq!(
        ds.benchmarks(),
        ["ntu60-xsub", "ntu60-xview", "ntu120-xsub", "ntu120-xset"]
    );
    assert_eq!(ds.split("ntu60-xsub", Part::Train).unwrap(), vec![0, 1, 2]);
    assert_eq!(ds.split("ntu60-xsub", Part::Test).unwrap(), vec![3, 4]);
    assert_eq!(ds.split("ntu60-xview", Part::Test).unwrap(), vec![0, 3]);
    assert_eq!(ds.split("ntu120-xset", Part::Train).unwrap(), vec![3, 4]);
    let e = ds.split("pku2-xsub", Part::Train).unwrap_err().to_string();
    assert!(
        e.contains("no benchmark `pku2-xsub`") && e.contains("ntu60-xview"),
        "{e}"
    );

    // The stored joints are the preprocessed file; streams follow §2.1.
    let seq = read_skeleton_file(&raw.path().join("S001C003P001R001A050.skeleton")).unwrap();
    assert_eq!(ds.joints(2), &preprocess::stgcn_raw(&seq).data[..]);
    let j = ds.sample(2, Stream::Joint);
    let m = ds.sample(2, Stream::Motion);
    let b = ds.sample(2, Stream::Bone);
    assert_eq!(
        m[idx(300, 0, 3, 5, 1)],
        j[idx(300, 0, 4, 5, 1)] - j[idx(300, 0, 3, 5, 1)]
    );
    assert_eq!(m[idx(300, 2, 299, 5, 1)], 0.0);
    assert_eq!(
        b[idx(300, 1, 3, 5, 0)],
        j[idx(300, 1, 3, 5, 0)] - j[idx(300, 1, 3, 4, 0)]
    );
    assert_eq!(b[idx(300, 1, 3, 20, 0)], 0.0);
}

#[test]
fn bad_files_fail_in_one_summary_or_are_skipped() {
    let raw = tempfile::tempdir().unwrap();
    corpus(raw.path());
    let good = simple(10, 1);
    let cut: String = good.lines().take(40).map(|l| format!("{l}\n")).collect();
    write(raw.path(), "S003C001P002R001A004.skeleton", &cut);
    write(
        raw.path(),
        "S003C001P002R001A005.skeleton",
        &good.replacen("0.1 0.05 3.01", "0.1 nan 3.01", 1),
    );
    write(raw.path(), "S3C1P2R1A5.skeleton", &good);
    // On the NTU-60 missing list: left out by default, not a bad file.
    write(raw.path(), "S001C002P005R002A008.skeleton", &good);

    let out = tempfile::tempdir().unwrap();
    let e = import_ntu(
        raw.path(),
        out.path(),
        &opts(Variant::Frame50, OnError::Fail),
        |_, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with(&format!(
            "3 of 8 files in {} could not be imported:\n",
            raw.path().display()
        )),
        "{e}"
    );
    assert!(
        e.contains("S003C001P002R001A004.skeleton:41: unexpected end of file"),
        "{e}"
    );
    assert!(e.contains("S003C001P002R001A005.skeleton:6: joint line (frame 1, body 1, joint 2): value 2 is `nan`"), "{e}");
    assert!(
        e.contains("`S3C1P2R1A5.skeleton` is not an NTU sample name SsssCcccPpppRrrrAaaa.skeleton"),
        "{e}"
    );
    assert!(
        e.contains("set `on_error: skip` to import the others"),
        "{e}"
    );

    let out = tempfile::tempdir().unwrap();
    let rep = import_ntu(
        raw.path(),
        out.path(),
        &opts(Variant::Frame50, OnError::Skip),
        |_, _| {},
    )
    .unwrap();
    assert_eq!(
        (rep.samples, rep.bad_files.len(), rep.skipped_missing),
        (5, 3, 1)
    );
    let ds = Dataset::open(out.path()).unwrap();
    assert_eq!(
        (
            ds.len(),
            ds.frames(),
            ds.meta().bad_files,
            ds.meta().skipped_missing
        ),
        (5, 50, 3, 1)
    );
    let listed: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("bad_files.json")).unwrap())
            .unwrap();
    let files: Vec<&str> = listed.iter().map(|b| b["file"].as_str().unwrap()).collect();
    assert!(
        files.iter().any(|f| f.ends_with("S3C1P2R1A5.skeleton")),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("S003C001P002R001A004.skeleton")),
        "{files:?}"
    );

    // `missing_list: none` imports the listed sample too.
    let out = tempfile::tempdir().unwrap();
    let mut o = opts(Variant::Frame50, OnError::Skip);
    o.missing_list = "none".into();
    assert_eq!(
        import_ntu(raw.path(), out.path(), &o, |_, _| {})
            .unwrap()
            .samples,
        6
    );
}

/// An action above 60 or a setup above 17 is NTU RGB+D 120; without `root_as_written`
/// the origin is the root given.
#[test]
fn provenance_names_ntu120_by_its_files() {
    for extra in ["S001C001P001R001A061", "S018C001P001R001A001"] {
        let raw = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        corpus(raw.path());
        write(raw.path(), &format!("{extra}.skeleton"), &simple(12, 1));
        import_ntu(
            raw.path(),
            out.path(),
            &opts(Variant::Frame50, OnError::Fail),
            |_, _| {},
        )
        .unwrap();
        let facts = DataFacts::read(&out.path().join(PROVENANCE_JSON))
            .unwrap()
            .unwrap();
        assert_eq!(facts.dataset, "NTU RGB+D 120", "{extra}");
        assert_eq!((facts.files, facts.samples, facts.frames), (6, 6, 50));
        assert_eq!(
            facts.origin,
            DataOrigin::Real {
                root: raw.path().display().to_string()
            }
        );
    }
}

#[test]
fn open_rejects_what_is_not_a_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let e = Dataset::open(dir.path()).unwrap_err().to_string();
    assert!(
        e.contains("cannot read dataset.json")
            && e.contains("written by `ntu.import` or `pku.import`"),
        "{e}"
    );
    let e = Dataset::open(&dir.path().join("nope"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no such directory"), "{e}");
}

#[test]
fn real_fixtures_import_with_the_missing_list() {
    let Some(fx) = crate::fixtures::fixtures() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let rep = import_ntu(
        &fx.join("ntu60_raw"),
        out.path(),
        &opts(Variant::AgcnPrenorm, OnError::Fail),
        |_, _| {},
    )
    .unwrap();
    // A055 is on the NTU-60 missing list.
    assert_eq!((rep.samples, rep.skipped_missing), (6, 1));
    let ds = Dataset::open(out.path()).unwrap();
    assert_eq!(ds.info(5).name, "S001C001P001R002A050");
    assert_eq!(ds.info(5).bodies, 2);
    assert_eq!(
        ds.split("ntu60-xview", Part::Test).unwrap(),
        vec![0, 1, 2, 3, 4, 5]
    );
}

// --------------------------------------------------------------------------------------
// Properties: the parser never panics, and its SIMD fast path changes nothing.

/// Parses `bytes` with the fast path and with the exact parser alone: both give the same
/// sequence bit for bit, or the same error; the direct reader agrees; every variant
/// preprocesses whatever parses. Panics (a failed property) otherwise.
fn check_skeleton_bytes(bytes: &[u8]) {
    let file = Path::new("S001C001P001R001A001.skeleton");
    let fast = parse_skeleton(bytes, file);
    let exact = parse_skeleton_exact(bytes, file);
    let bits = |s: &SkeletonSequence| -> Vec<u32> {
        s.joints.iter().flatten().map(|v| v.to_bits()).collect()
    };
    match (&fast, &exact) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.frame_bodies, b.frame_bodies);
            assert!(bits(a) == bits(b), "the fast path changed a value");
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!(
            "fast path {:?}, exact parser {:?}",
            a.as_ref().err(),
            b.as_ref().err()
        ),
    }
    let mut array = vec![0f32; Variant::StgcnRaw.sample_len()];
    let direct = preprocess::stgcn_raw_from_bytes(bytes, file, &mut array);
    match (&fast, &direct) {
        (Err(a), Err(b)) => assert_eq!(a, b),
        (Ok(seq), Ok(counts)) => assert_eq!(counts.raw_frames, seq.num_frames()),
        (Ok(seq), Err(ParseError { line: None, .. })) => assert!(!seq.has_bodies()),
        (a, b) => panic!(
            "parse {:?}, direct reader {:?}",
            a.as_ref().err(),
            b.as_ref().err()
        ),
    }
    if let Ok(seq) = &fast {
        for v in Variant::ALL {
            let _ = preprocess::prepare(seq, v);
        }
    }
}

/// A number as Kinect writes it, another way to write one, or something else.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (any::<bool>(), 0..3000u32, 0..100_000_000u32, 0..9usize).prop_map(
            |(neg, int, frac, digits)| {
                let frac = format!("{frac:08}");
                let sign = if neg { "-" } else { "" };
                match digits {
                    0 => format!("{sign}{int}"),
                    d => format!("{sign}{int}.{}", &frac[..d]),
                }
            }
        ),
        2 => proptest::sample::select(vec![
            "0", "-0", "2", "25", "72057594037931101", "8.094816E-05", "1e5", "1e", "+1.5",
            "-", ".", "-.", "--1", "1-2", "1..2", "nan", "inf", "-inf", "0x1", "1,5",
            "9007199254740993", "0.12345678901234567", "1e400", "1.7976931348623157e308",
            "123456789012345678901234567890", "",
        ])
        .prop_map(str::to_string),
        1 => proptest::collection::vec(crate::fixtures::format_byte(), 0..6)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// A line of about `n` tokens.
fn token_line(n: usize) -> impl Strategy<Value = String> {
    let count = prop_oneof![8 => Just(n), 1 => Just(n - 1), 1 => Just(n + 1)];
    let sep = prop_oneof![20 => Just(" "), 1 => Just("  "), 1 => Just("\t"), 1 => Just(" \r")];
    count
        .prop_flat_map(move |c| proptest::collection::vec((sep.clone(), token()), c))
        .prop_map(|parts| {
            let mut line = String::new();
            for (k, (sep, tok)) in parts.into_iter().enumerate() {
                if k > 0 {
                    line += sep;
                }
                line += &tok;
            }
            line
        })
}

/// A `.skeleton`-shaped text: counts (sometimes wrong), body and joint lines of random
/// tokens, LF or CRLF.
fn skeleton_like() -> impl Strategy<Value = String> {
    let body = (
        token_line(10),
        prop_oneof![9 => Just(25usize), 1 => 0..30usize],
        proptest::collection::vec(token_line(12), 25),
    );
    let frame = proptest::collection::vec(body, 0..3);
    (
        proptest::collection::vec(frame, 0..4),
        -1i32..=1,
        any::<bool>(),
    )
        .prop_map(|(frames, off, crlf)| {
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut s = format!("{}{eol}", (frames.len() as i32 + off).max(0));
            for bodies in &frames {
                s += &format!("{}{eol}", bodies.len());
                for (info, joints, lines) in bodies {
                    s += &format!("{info}{eol}{joints}{eol}");
                    for l in lines.iter().take(*joints) {
                        s += &format!("{l}{eol}");
                    }
                }
            }
            s
        })
}

#[test]
fn skeleton_parser_survives_arbitrary_input() {
    let input = prop_oneof![
        1 => proptest::collection::vec(any::<u8>(), 0..256),
        1 => proptest::collection::vec(crate::fixtures::format_byte(), 0..1024),
        4 => skeleton_like().prop_map(String::into_bytes),
    ];
    crate::fixtures::fuzz("skeleton parser, arbitrary input", 400, input, |b| {
        check_skeleton_bytes(&b)
    });
}

#[test]
fn skeleton_parser_survives_mutated_real_files() {
    let Some(real) = crate::fixtures::real_skeletons() else {
        return;
    };
    let input = (
        0..real.len(),
        proptest::collection::vec(crate::fixtures::edit(), 1..8),
    );
    crate::fixtures::fuzz(
        "skeleton parser, mutated real files",
        60,
        input,
        |(k, edits)| check_skeleton_bytes(&crate::fixtures::edited(real[k].1.clone(), &edits)),
    );
}
