//! Typed stage params: validation with every error at once, canonical form, and docs.
//!
//! A kind declares its params as a struct:
//!
//! ```ignore
//! #[derive(Default, Serialize, Deserialize, JsonSchema)]
//! #[serde(default, deny_unknown_fields)]
//! pub struct PretrainParams {
//!     /// Number of epochs.
//!     pub epochs: u32,
//!     …
//! }
//! impl Params for PretrainParams {}
//! ```
//! and its kind names it as `type Params`; the runner calls [`check_typed`] through the
//! kind and turns each [`ParamError`]'s path into a file:line:column.

use schemars::JsonSchema;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One step of a path into the params (`optimizer.lr` = [Key("optimizer"), Key("lr")]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// A problem with one param. The runner turns `path` into file:line:column.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamError {
    pub path: Vec<PathSeg>,
    pub message: String,
    pub hint: Option<String>,
}

impl ParamError {
    pub fn new(path: Vec<PathSeg>, message: impl Into<String>) -> Self {
        ParamError {
            path,
            message: message.into(),
            hint: None,
        }
    }
    pub fn at(key: &str, message: impl Into<String>) -> Self {
        ParamError::new(vec![PathSeg::Key(key.to_string())], message)
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    /// The same error one level down: a nested struct's `lr` becomes `optimizer.lr`.
    pub fn under(mut self, key: &str) -> Self {
        self.path.insert(0, PathSeg::Key(key.to_string()));
        self
    }
    /// `a.b[2].c`
    pub fn path_string(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
            match seg {
                PathSeg::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                PathSeg::Index(i) => s.push_str(&format!("[{i}]")),
            }
        }
        s
    }
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "param `{}`: {}", self.path_string(), self.message)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

/// Reads a param that is a name or a structure (an encoder preset or config, a view preset
/// or a list of ops): a string gives `name(s)`, a list or a mapping is read as `T` — so a
/// misspelt field inside gets `T`'s own error at its own path, where `#[serde(untagged)]`
/// says only "data did not match any variant".
pub fn name_or<'de, D, T, R>(
    d: D,
    expecting: &'static str,
    name: fn(String) -> R,
    structure: fn(T) -> R,
) -> Result<R, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct NameOr<T, R> {
        expecting: &'static str,
        name: fn(String) -> R,
        structure: fn(T) -> R,
    }
    impl<'de, T: Deserialize<'de>, R> Visitor<'de> for NameOr<T, R> {
        type Value = R;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<R, E> {
            Ok((self.name)(s.to_string()))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<R, A::Error> {
            T::deserialize(SeqAccessDeserializer::new(seq)).map(self.structure)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<R, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(self.structure)
        }
    }
    d.deserialize_any(NameOr {
        expecting,
        name,
        structure,
    })
}

/// `Deserialize` for a name-or-structure enum through [`name_or`]:
/// `deserialize_name_or!(ViewSpec, "a view preset or a list of ops", Preset, List)`.
#[macro_export]
macro_rules! deserialize_name_or {
    ($ty:ident, $expecting:literal, $name:ident, $structure:ident) => {
        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::params::name_or(d, $expecting, $ty::$name, $ty::$structure)
            }
        }
    };
}

/// Documentation of one param, for `skelflow kinds <kind>` and for hints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ParamSpec {
    pub name: String,
    /// JSON-schema type, e.g. `integer`, `string`, `array`, or `one of: a | b`.
    pub ty: String,
    pub default: Value,
    pub doc: String,
}

/// Typed params of a stage kind.
pub trait Params: Default + Serialize + DeserializeOwned + JsonSchema {
    /// Checks that serde cannot express: required values, ranges, combinations.
    fn validate(&self) -> Vec<ParamError> {
        Vec::new()
    }
}

/// Validate `params` against `P` and return the canonical params (all fields, defaults
/// filled). Reports every unknown param and every badly typed param, not only the first.
pub fn check_typed<P: Params>(params: &Value) -> Result<Value, Vec<ParamError>> {
    let empty = Map::new();
    let given = match params {
        Value::Object(m) => m,
        Value::Null => &empty,
        other => {
            return Err(vec![ParamError::new(
                vec![],
                format!("params must be a mapping, found {}", type_name(other)),
            )]);
        }
    };
    let defaults = serde_json::to_value(P::default()).expect("params serialise");
    // The schema also names the fields a default leaves out (`skip_serializing_if`: a
    // switch added later stays out of existing keys until it is set).
    let schema = serde_json::to_value(schemars::schema_for!(P)).expect("schema serialises");
    let mut known: Vec<String> = defaults
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    for name in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|m| m.keys())
    {
        if !known.contains(name) {
            known.push(name.clone());
        }
    }

    let mut errors = Vec::new();
    let mut bad: Vec<&String> = Vec::new();
    for (k, v) in given {
        if !known.contains(k) {
            let mut e = ParamError::at(k, "unknown param");
            e.hint = Some(match did_you_mean(k, &known) {
                Some(s) => format!("did you mean `{s}`? known params: {}", known.join(", ")),
                None => format!("known params: {}", known.join(", ")),
            });
            errors.push(e);
            continue;
        }
        // Type-check each field on its own so that all bad fields are reported together.
        let mut one = defaults.clone();
        one.as_object_mut()
            .expect("struct params")
            .insert(k.clone(), v.clone());
        if let Err(e) = deserialize_at::<P>(one) {
            errors.push(e);
            bad.push(k);
        }
    }
    // The well-typed fields (bad ones keep their defaults) still go through `validate`, so
    // that a type error does not hide a bad value elsewhere in the same params.
    let mut merged = defaults;
    for (k, v) in given {
        if known.contains(k) && !bad.contains(&k) {
            merged
                .as_object_mut()
                .expect("struct params")
                .insert(k.clone(), v.clone());
        }
    }
    let typed = match deserialize_at::<P>(merged) {
        Ok(t) => t,
        Err(e) => {
            errors.push(e);
            return Err(errors);
        }
    };
    errors.extend(
        typed
            .validate()
            .into_iter()
            .filter(|p| !matches!(p.path.first(), Some(PathSeg::Key(f)) if bad.contains(&f))),
    );
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(serde_json::to_value(typed).expect("params serialise"))
}

fn deserialize_at<P: DeserializeOwned>(v: Value) -> Result<P, ParamError> {
    serde_path_to_error::deserialize::<_, P>(v).map_err(|e| {
        let path = e
            .path()
            .iter()
            .filter_map(|seg| match seg {
                serde_path_to_error::Segment::Map { key } => Some(PathSeg::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(PathSeg::Index(*index)),
                _ => None,
            })
            .collect();
        ParamError::new(path, e.into_inner().to_string())
    })
}

/// The docs of `P`'s params, in declaration order.
pub fn specs_of<P: Params>() -> Vec<ParamSpec> {
    let schema = schemars::schema_for!(P);
    let schema = serde_json::to_value(&schema).expect("schema serialises");
    let defaults = serde_json::to_value(P::default()).expect("params serialise");
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let defs = schema.get("$defs").cloned().unwrap_or(Value::Null);
    props
        .into_iter()
        .map(|(name, p)| ParamSpec {
            ty: describe_type(&p, &defs),
            doc: p
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            // a param left out of its default's serialisation (to keep keys) names its
            // default in the schema
            default: defaults
                .get(&name)
                .or_else(|| p.get("default"))
                .cloned()
                .unwrap_or(Value::Null),
            name,
        })
        .collect()
}

/// A readable type for `skelflow kinds`: a `title` the type gives itself wins; tagged
/// unions are named by their tag values; alternatives are deduplicated.
fn describe_type(p: &Value, defs: &Value) -> String {
    if let Some(t) = p.get("title").and_then(Value::as_str) {
        return t.to_string();
    }
    if let Some(r) = p.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        if let Some(d) = defs.get(name) {
            return describe_type(d, defs);
        }
        return name.to_string();
    }
    if let Some(vals) = p.get("enum").and_then(Value::as_array) {
        let names: Vec<String> = vals
            .iter()
            .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()))
            .collect();
        return format!("one of: {}", names.join(" | "));
    }
    if let Some(alts) = p
        .get("oneOf")
        .or_else(|| p.get("anyOf"))
        .and_then(Value::as_array)
    {
        if let Some(tagged) = tagged_union(alts, defs) {
            return tagged;
        }
        let mut names: Vec<String> = Vec::new();
        for a in alts {
            let n = describe_type(a, defs);
            if !names.contains(&n) {
                names.push(n);
            }
        }
        return names.join(" | ");
    }
    if let Some(c) = p.get("const") {
        return c.as_str().map(str::to_string).unwrap_or(c.to_string());
    }
    match p.get("type") {
        Some(Value::String(t)) if t == "array" => match p.get("items") {
            Some(items) => format!("list of {}", describe_type(items, defs)),
            None => "list".into(),
        },
        Some(Value::String(t)) if t == "object" => "mapping".into(),
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .map(|t| if t == "object" { "mapping" } else { t })
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".into(),
    }
}

/// `mapping with `op`: a | b | c` when every alternative is a mapping that fixes the same
/// property to a constant (serde's internally tagged enums).
fn tagged_union(alts: &[Value], defs: &Value) -> Option<String> {
    let resolve = |a: &Value| -> Value {
        match a.get("$ref").and_then(Value::as_str) {
            Some(r) => defs
                .get(r.rsplit('/').next().unwrap_or(r))
                .cloned()
                .unwrap_or(Value::Null),
            None => a.clone(),
        }
    };
    let mut tag: Option<String> = None;
    let mut values = Vec::new();
    for a in alts {
        let a = resolve(a);
        let props = a.get("properties")?.as_object()?;
        let (name, value) = props.iter().find_map(|(k, v)| {
            let c = v
                .get("const")
                .or_else(|| v.get("enum").and_then(|e| e.as_array()?.first()))?;
            Some((k.clone(), c.as_str()?.to_string()))
        })?;
        match &tag {
            Some(t) if *t != name => return None,
            _ => tag = Some(name),
        }
        values.push(value);
    }
    Some(format!("mapping with `{}`: {}", tag?, values.join(" | ")))
}

/// The closest candidate (case-insensitive edit distance at most 2, more for long names,
/// and less than the candidate's length), or one that `name` begins: the `did you mean`
/// of every "unknown …" message (params, pipeline keys, kinds, report columns).
pub fn did_you_mean<'a, S: AsRef<str> + ?Sized + 'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a S>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let c = c.as_ref();
            (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c)
        })
        .filter(|(d, c)| {
            (*d <= 2.max(name.len() / 4) && *d < c.len())
                || (!name.is_empty() && c.starts_with(name))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `mapping`, `list`, `string`, … for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Serialize, Deserialize, JsonSchema)]
    #[serde(default, deny_unknown_fields)]
    struct P {
        /// Epochs to train.
        epochs: u32,
        lr: f64,
        name: String,
    }
    impl Params for P {
        fn validate(&self) -> Vec<ParamError> {
            if self.name.is_empty() {
                vec![ParamError::at("name", "is required")]
            } else {
                vec![]
            }
        }
    }

    #[test]
    fn fills_defaults_and_reports_every_error() {
        let ok = check_typed::<P>(&serde_json::json!({"epochs": 3, "name": "x"})).unwrap();
        assert_eq!(ok, serde_json::json!({"epochs": 3, "lr": 0.0, "name": "x"}));

        let errs = check_typed::<P>(&serde_json::json!({"epochs": "many", "lrr": 1, "name": 5}))
            .unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(errs.len(), 3, "{text:?}");
        assert!(
            text.iter()
                .any(|t| t.contains("`lrr`: unknown param (did you mean `lr`?")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("param `epochs`: invalid type: string \"many\"")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("param `name`: invalid type: integer `5`")),
            "{text:?}"
        );

        let req = check_typed::<P>(&serde_json::json!({})).unwrap_err();
        assert_eq!(req[0].to_string(), "param `name`: is required");

        // a type error in one field does not hide a bad value in another
        let both = check_typed::<P>(&serde_json::json!({"epochs": -1})).unwrap_err();
        let text: Vec<String> = both.iter().map(|e| e.to_string()).collect();
        assert_eq!(both.len(), 2, "{text:?}");
        assert!(
            text[0].starts_with("param `epochs`: invalid value"),
            "{text:?}"
        );
        assert_eq!(text[1], "param `name`: is required");
    }

    #[test]
    fn suggestions() {
        let known = ["epochs", "lr", "milestones"];
        assert_eq!(did_you_mean("epoch", known.iter().copied()), Some("epochs"));
        assert_eq!(did_you_mean("LR", known.iter().copied()), Some("lr"));
        assert_eq!(
            did_you_mean("mile", known.iter().copied()),
            Some("milestones")
        );
        assert_eq!(did_you_mean("batch", known.iter().copied()), None);
    }

    #[derive(Serialize, Deserialize, JsonSchema)]
    #[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
    enum Op {
        Crop { ratio: usize },
        Flip { p: f32 },
    }

    #[derive(Serialize, JsonSchema)]
    #[serde(untagged)]
    enum View {
        Preset(String),
        Ops(Vec<Op>),
    }

    crate::deserialize_name_or!(View, "a view preset or a list of ops", Preset, Ops);

    #[derive(Default, Serialize, Deserialize, JsonSchema)]
    #[serde(default, deny_unknown_fields)]
    struct Q {
        views: Vec<View>,
        extra: Map<String, Value>,
    }
    impl Params for Q {}

    #[test]
    fn union_types_read_well() {
        let specs = specs_of::<Q>();
        let ty = |n: &str| specs.iter().find(|s| s.name == n).unwrap().ty.clone();
        assert_eq!(
            ty("views"),
            "list of string | list of mapping with `op`: crop | flip"
        );
        assert_eq!(ty("extra"), "mapping");
    }

    #[test]
    fn a_name_or_structure_param_reports_the_inner_error_at_its_path() {
        let ok =
            check_typed::<Q>(&serde_json::json!({"views": ["weak", [{"op": "flip", "p": 0.5}]]}));
        assert!(ok.is_ok(), "{ok:?}");

        let errs = check_typed::<Q>(&serde_json::json!(
            {"views": ["weak", [{"op": "crop", "ratio": 2}, {"op": "crop", "ration": 2}]]}
        ))
        .unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].path_string(), "views[1][1]");
        assert!(
            errs[0]
                .message
                .starts_with("unknown field `ration`, expected `ratio`"),
            "{errs:?}"
        );

        let errs = check_typed::<Q>(&serde_json::json!({"views": [5]})).unwrap_err();
        assert_eq!(errs[0].path_string(), "views[0]");
        assert_eq!(
            errs[0].message,
            "invalid type: integer `5`, expected a view preset or a list of ops"
        );
    }

    #[test]
    fn specs_carry_docs_and_defaults() {
        let specs = specs_of::<P>();
        assert_eq!(specs[0].name, "epochs");
        assert_eq!(specs[0].ty, "integer");
        assert_eq!(specs[0].doc, "Epochs to train.");
    }
}
