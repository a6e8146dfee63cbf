//! Property-style tests of the key encoding (hand-rolled generators, fixed seeds).

use serde_json::{Value, json};

use super::*;
use crate::testutil::Rng;

fn base() -> KeyComponents {
    KeyComponents {
        schema: KEY_SCHEMA_VERSION,
        kind: "pretrain".into(),
        kind_version: 3,
        params: json!({"optimizer": {"lr": 0.1, "momentum": 0.9}, "epochs": 300, "outs": ["a", "b"]}),
        inputs: vec![
            ("ntu.import".into(), Key::of_bytes(b"import")),
            ("anchor.average_motion".into(), Key::of_bytes(b"anchor")),
        ],
        externals: vec![("data/raw".into(), blake3::hash(b"raw").to_hex().to_string())],
        seed: 7,
        backend: Some("flex".into()),
        parts: vec![],
    }
}

/// Inverse of `Encoder::value`, used to prove the encoding is injective and prefix-free.
fn decode_value(b: &[u8], pos: &mut usize) -> Value {
    fn take<'a>(b: &'a [u8], pos: &mut usize, n: usize) -> &'a [u8] {
        let s = &b[*pos..*pos + n];
        *pos += n;
        s
    }
    fn u64_at(b: &[u8], pos: &mut usize) -> u64 {
        u64::from_le_bytes(take(b, pos, 8).try_into().unwrap())
    }
    fn str_at(b: &[u8], pos: &mut usize) -> String {
        let n = u64_at(b, pos) as usize;
        String::from_utf8(take(b, pos, n).to_vec()).unwrap()
    }
    let tag = take(b, pos, 1)[0];
    match tag {
        b'n' => Value::Null,
        b'b' => Value::Bool(take(b, pos, 1)[0] == 1),
        b'i' => json!(i64::from_le_bytes(take(b, pos, 8).try_into().unwrap())),
        b'u' => json!(u64_at(b, pos)),
        b'f' => {
            let f: f64 = str_at(b, pos).parse().unwrap();
            Value::Number(serde_json::Number::from_f64(f).unwrap())
        }
        b's' => Value::String(str_at(b, pos)),
        b'a' => {
            let n = u64_at(b, pos);
            Value::Array((0..n).map(|_| decode_value(b, pos)).collect())
        }
        b'o' => {
            let n = u64_at(b, pos);
            let mut map = serde_json::Map::new();
            let mut last: Option<String> = None;
            for _ in 0..n {
                let k = str_at(b, pos);
                assert!(
                    last.as_deref() < Some(k.as_str()),
                    "object keys not strictly sorted"
                );
                let v = decode_value(b, pos);
                map.insert(k.clone(), v);
                last = Some(k);
            }
            Value::Object(map)
        }
        other => panic!("unknown tag {other}"),
    }
}

fn encode(v: &Value) -> Vec<u8> {
    let mut e = Encoder::default();
    e.value(v);
    e.buf
}

fn random_string(rng: &mut Rng) -> String {
    const ALPHABET: [&str; 10] = ["a", "b", "ab", ".", "[", "0", "é", "ß", "\u{1F600}", " "];
    (0..rng.below(4))
        .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize])
        .collect()
}

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    let choices = if depth == 0 { 6 } else { 8 };
    match rng.below(choices) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 1),
        2 => match rng.below(4) {
            0 => json!(rng.below(5) as i64 - 2),
            1 => json!(rng.next() as i64),
            2 => json!(u64::MAX - rng.below(1000)),
            _ => json!(i64::MIN + rng.below(1000) as i64),
        },
        3 => {
            let f = match rng.below(4) {
                0 => rng.below(5) as f64 - 2.0,
                1 => (rng.below(1000) as f64) / 10.0,
                2 => -0.0,
                _ => loop {
                    let f = f64::from_bits(rng.next());
                    if f.is_finite() {
                        break f;
                    }
                },
            };
            Value::Number(serde_json::Number::from_f64(f).unwrap())
        }
        4 | 5 => Value::String(random_string(rng)),
        6 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => {
            let mut map = serde_json::Map::new();
            for _ in 0..rng.below(5) {
                map.insert(random_string(rng), random_value(rng, depth - 1));
            }
            Value::Object(map)
        }
    }
}

#[test]
fn value_encoding_round_trips_so_it_is_injective_and_prefix_free() {
    let mut rng = Rng::new(0x5eed);
    for _ in 0..3000 {
        let (a, b) = (random_value(&mut rng, 3), random_value(&mut rng, 3));
        // Two encodings back to back decode to the two values: no encoding is a prefix
        // of another, and decoding recovers the value exactly (so distinct values differ).
        let mut both = encode(&a);
        both.extend(encode(&b));
        let mut pos = 0;
        assert_eq!(decode_value(&both, &mut pos), a);
        assert_eq!(decode_value(&both, &mut pos), b);
        assert_eq!(pos, both.len());
        assert_eq!(encode(&a) == encode(&b), a == b, "{a} vs {b}");
    }
}

#[test]
fn object_key_order_does_not_matter() {
    let mut rng = Rng::new(42);
    for _ in 0..500 {
        let Value::Object(map) = random_value(&mut rng, 3) else {
            continue;
        };
        let mut entries: Vec<(&str, &Value)> = map.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let mut sorted = Encoder::default();
        sorted.object(entries.clone());
        for _ in 0..4 {
            rng.shuffle(&mut entries);
            let mut shuffled = Encoder::default();
            shuffled.object(entries.clone());
            assert_eq!(shuffled.buf, sorted.buf);
        }
        assert_eq!(encode(&Value::Object(map.clone())), sorted.buf);
    }
}

#[test]
fn order_of_inputs_and_externals_does_not_matter() {
    let a = base();
    let mut b = base();
    b.inputs.reverse();
    b.externals.push(("z".into(), "1".into()));
    let mut c = a.clone();
    c.externals.insert(0, ("z".into(), "1".into()));
    assert_eq!(a.key(), {
        let mut r = b.clone();
        r.externals.pop();
        r.key()
    });
    assert_eq!(b.key(), c.key());
}

#[test]
fn length_prefixing_separates_concatenations() {
    let with = |f: &dyn Fn(&mut KeyComponents)| {
        let mut c = base();
        f(&mut c);
        c.key()
    };
    assert_ne!(
        with(&|c| c.params = json!(["ab", "c"])),
        with(&|c| c.params = json!(["a", "bc"]))
    );
    assert_ne!(
        with(&|c| c.params = json!({"ab": "c"})),
        with(&|c| c.params = json!({"a": "bc"}))
    );
    assert_ne!(
        with(&|c| c.params = json!(["a", ["b"]])),
        with(&|c| c.params = json!([["a"], "b"]))
    );
    assert_ne!(
        with(&|c| c.externals = vec![("ab".into(), "c".into())]),
        with(&|c| c.externals = vec![("a".into(), "bc".into())])
    );
    assert_ne!(
        with(&|c| c.inputs = vec![("ab".into(), Key("c".into()))]),
        with(&|c| c.inputs = vec![("a".into(), Key("bc".into()))])
    );
    assert_ne!(
        with(&|c| c.kind = "ab".into()),
        with(&|c| c.kind = "a".into())
    );
    // A string param cannot imitate the next field.
    assert_ne!(
        with(&|c| {
            c.kind = "k".into();
            c.params = json!("x");
        }),
        with(&|c| {
            c.kind = "kx".into();
            c.params = json!("");
        })
    );
}

#[test]
fn every_component_changes_the_key() {
    let k0 = base().key();
    type Edit = Box<dyn Fn(&mut KeyComponents)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("schema", Box::new(|c| c.schema += 1)),
        ("kind", Box::new(|c| c.kind.push('x'))),
        ("kind_version", Box::new(|c| c.kind_version += 1)),
        (
            "param value",
            Box::new(|c| c.params["optimizer"]["lr"] = json!(0.2)),
        ),
        ("param added", Box::new(|c| c.params["extra"] = json!(null))),
        (
            "param removed",
            Box::new(|c| _ = c.params.as_object_mut().unwrap().remove("epochs")),
        ),
        (
            "input key",
            Box::new(|c| c.inputs[0].1 = Key::of_bytes(b"other")),
        ),
        (
            "input kind",
            Box::new(|c| c.inputs[0].0 = "synth.ntu".into()),
        ),
        (
            "input added",
            Box::new(|c| c.inputs.push(("x".into(), Key::of_bytes(b"x")))),
        ),
        (
            "input duplicated",
            Box::new(|c| c.inputs.push(c.inputs[0].clone())),
        ),
        (
            "external digest",
            Box::new(|c| c.externals[0].1 = "00".into()),
        ),
        (
            "external path",
            Box::new(|c| c.externals[0].0 = "data/other".into()),
        ),
        ("external removed", Box::new(|c| c.externals.clear())),
        ("seed", Box::new(|c| c.seed += 1)),
        ("backend", Box::new(|c| c.backend = Some("tch-cpu".into()))),
        ("backend none", Box::new(|c| c.backend = None)),
    ];
    let mut seen = std::collections::HashSet::new();
    seen.insert(k0.clone());
    for (what, edit) in edits {
        let mut c = base();
        edit(&mut c);
        let k = c.key();
        assert!(
            seen.insert(k),
            "{what} did not change the key (or collided with another edit)"
        );
    }
}

#[test]
fn none_backend_differs_from_empty_backend() {
    let mut a = base();
    a.backend = None;
    let mut b = base();
    b.backend = Some(String::new());
    assert_ne!(a.key(), b.key());
}

#[test]
fn numbers_are_canonical() {
    // Integer and float are different types; -0.0 equals 0.0; float text is the shortest
    // round trip, so 0.1 + 0.2 is not 0.3.
    assert_ne!(encode(&json!(1)), encode(&json!(1.0)));
    assert_eq!(encode(&json!(-0.0)), encode(&json!(0.0)));
    assert_ne!(encode(&json!(0.1 + 0.2)), encode(&json!(0.3)));
    assert_eq!(encode(&json!(5u64)), encode(&json!(5i64)));
    // The float text is pinned: if std's `{:e}` ever changed, keys would silently change.
    for (f, text) in [
        (0.1, "1e-1"),
        (1.0, "1e0"),
        (1234.5, "1.2345e3"),
        (-2.5e-7, "-2.5e-7"),
        (1e300, "1e300"),
    ] {
        assert_eq!(float_repr(f), text);
    }
    assert_eq!(float_repr(-0.0), "0e0");
    // Parsed JSON and constructed values agree.
    let parsed: Value = serde_json::from_str(r#"{"b": 1.0, "a": [1, 0.5]}"#).unwrap();
    assert_eq!(encode(&parsed), encode(&json!({"a": [1, 0.5], "b": 1.0})));
}

#[test]
fn key_is_pinned_for_a_fixed_component_set() {
    // If this fails, the encoding changed: bump KEY_SCHEMA_VERSION (every cached result is
    // then recomputed) and update the expected key.
    assert_eq!(
        base().key().as_str(),
        "04b3a38208cc3a1b1578d2e9ce4508e66c1a6fc29fb2f425f9467319d9761bfe"
    );
}

#[test]
fn encoding_matches_the_documented_format() {
    fn lp(out: &mut Vec<u8>, b: &[u8]) {
        out.extend((b.len() as u64).to_le_bytes());
        out.extend(b);
    }
    fn field(out: &mut Vec<u8>, name: &str, content: &[u8]) {
        lp(out, name.as_bytes());
        lp(out, content);
    }
    let c = KeyComponents {
        seed: 2,
        inputs: vec![
            ("z".into(), Key("k2".into())),
            ("a".into(), Key("k1".into())),
        ],
        ..KeyComponents::new("k", 1, json!({"b": 1, "a": [true, null, "s", 0.5]}))
    };
    let mut want = b"skelflow.key\0".to_vec();
    field(
        &mut want,
        "schema",
        &u64::from(KEY_SCHEMA_VERSION).to_le_bytes(),
    );
    field(&mut want, "kind", &[&1u64.to_le_bytes()[..], b"k"].concat());
    field(&mut want, "kind_version", &1u64.to_le_bytes());
    let mut params = vec![b'o'];
    params.extend(2u64.to_le_bytes());
    lp(&mut params, b"a");
    params.push(b'a');
    params.extend(4u64.to_le_bytes());
    params.extend([b'b', 1, b'n', b's']);
    lp(&mut params, b"s");
    params.push(b'f');
    lp(&mut params, b"5e-1");
    lp(&mut params, b"b");
    params.push(b'i');
    params.extend(1i64.to_le_bytes());
    field(&mut want, "params", &params);
    let mut inputs = 2u64.to_le_bytes().to_vec();
    for s in ["a", "k1", "z", "k2"] {
        lp(&mut inputs, s.as_bytes());
    }
    field(&mut want, "inputs", &inputs);
    field(&mut want, "externals", &0u64.to_le_bytes());
    field(&mut want, "seed", &2u64.to_le_bytes());
    field(&mut want, "backend", &[0]);
    assert_eq!(c.encoding(), want);
    assert_eq!(c.key().as_str(), blake3::hash(&want).to_hex().as_str());
}

#[test]
fn key_parsing_and_short() {
    let k = base().key();
    assert!(k.is_well_formed());
    assert_eq!(k.short().len(), 12);
    assert_eq!(Key::parse(k.as_str()).unwrap(), k);
    for bad in [
        "",
        "../etc",
        &k.as_str().to_uppercase(),
        &k.as_str()[1..],
        &format!("{k}0"),
    ] {
        assert!(Key::parse(bad).is_err(), "{bad:?} accepted");
    }
    assert_eq!(Key("abc".into()).short(), "abc");
}

#[test]
fn diff_reports_leaf_params() {
    let before = base();
    let mut after = base();
    after.params["optimizer"]["lr"] = json!(0.2);
    after.params["outs"][1] = json!("c");
    after.params["outs"]
        .as_array_mut()
        .unwrap()
        .push(json!("d"));
    after.params["new.key"] = json!({"x": 1});
    after.params.as_object_mut().unwrap().remove("epochs");
    let changes: Vec<String> = after
        .diff(&before)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        changes,
        [
            "params.epochs: 300 -> (absent)",
            "params[\"new.key\"]: (absent) -> {\"x\":1}",
            "params.optimizer.lr: 0.1 -> 0.2",
            "params.outs[1]: \"b\" -> \"c\"",
            "params.outs[2]: (absent) -> \"d\"",
        ]
    );
}

#[test]
fn diff_reports_type_changes_and_top_level_params() {
    let mut before = base();
    before.params = json!({"lr": 1});
    let mut after = base();
    after.params = json!({"lr": 1.0});
    assert_eq!(after.diff(&before)[0].to_string(), "params.lr: 1 -> 1.0");
    after.params = json!(null);
    assert_eq!(
        after.diff(&before)[0].to_string(),
        "params: {\"lr\":1} -> null"
    );
}

#[test]
fn diff_reports_inputs_externals_and_scalars_in_order() {
    let before = base();
    let mut after = base();
    after.inputs[0].1 = Key::of_bytes(b"reimported");
    after.inputs.push(("pretrain".into(), Key::of_bytes(b"p")));
    after.externals[0].1 = blake3::hash(b"raw2").to_hex().to_string();
    after.externals.push(("train.py".into(), "abc".into()));
    after.seed = 8;
    after.backend = None;
    after.kind_version = 4;
    let changes = after.diff(&before);
    let names: Vec<&str> = changes.iter().map(|c| c.component.as_str()).collect();
    assert_eq!(
        names,
        [
            "input ntu.import",
            "input pretrain",
            "external data/raw",
            "external train.py",
            "seed",
            "backend",
            "kind version"
        ]
    );
    assert_eq!(
        changes[0].before,
        format!("{}…", before.inputs[0].1.short())
    );
    assert_eq!(changes[0].after, format!("{}…", after.inputs[0].1.short()));
    assert_eq!(changes[1].before, ABSENT);
    assert_eq!(changes[3].after, "abc");
    assert_eq!(changes[5].to_string(), "backend: \"flex\" -> (none)");
    // Nothing changed: no diff, same key.
    assert!(base().diff(&base()).is_empty());
    // Order of inputs alone is no change.
    let mut reordered = base();
    reordered.inputs.reverse();
    assert!(reordered.diff(&base()).is_empty());
}

#[test]
fn diff_is_empty_exactly_when_keys_match_on_random_params() {
    let mut rng = Rng::new(7);
    for _ in 0..1000 {
        let mut a = base();
        a.params = random_value(&mut rng, 3);
        let mut b = base();
        b.params = if rng.below(3) == 0 {
            a.params.clone()
        } else {
            random_value(&mut rng, 3)
        };
        assert_eq!(
            a.diff(&b).is_empty(),
            a.key() == b.key(),
            "{} vs {}",
            a.params,
            b.params
        );
    }
}

#[test]
fn part_versions_change_only_the_keys_that_have_them() {
    let plain = base();
    let mut moco = base();
    moco.parts = vec![("method.moco".into(), 1)];
    let mut moco2 = base();
    moco2.parts = vec![("method.moco".into(), 2)];
    // no parts: the encoding of before `parts` existed
    assert!(!plain.encoding().windows(5).any(|w| w == b"parts"));
    assert_ne!(plain.key(), moco.key());
    assert_ne!(moco.key(), moco2.key());
    let mut reordered = base();
    reordered.parts = vec![("b".into(), 1), ("a".into(), 2)];
    let mut sorted = base();
    sorted.parts = vec![("a".into(), 2), ("b".into(), 1)];
    assert_eq!(reordered.key(), sorted.key());
    let d = moco2.diff(&moco);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].to_string(), "version of method.moco: 1 -> 2");
}
