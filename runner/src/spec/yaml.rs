//! A YAML tree where every node knows its span: parsed with saphyr, then copied into our
//! own small node type (ordered mappings, string keys) that merging and validation use.

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};

use crate::diag::Diag;
use crate::spec::source::{FileId, SourceMap, Span};

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub span: Span,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

/// How far a path went into a tree ([`Node::walk`]).
#[derive(Clone, Copy, Debug)]
pub struct Walk<'a> {
    /// The deepest node reached (the root if not even the first step was possible).
    pub node: &'a Node,
    /// How many segments of the path were followed.
    pub depth: usize,
    /// The mapping entry whose value `node` is (None for the root and list items).
    pub entry: Option<&'a Entry>,
}

/// One segment of a path into a tree: a mapping key, a list index, or text that is either
/// (`${a.b.0}`: `0` indexes a list, and is a key in a mapping).
pub trait Seg {
    fn key(&self) -> Option<&str>;
    fn index(&self) -> Option<usize>;
}

impl Seg for skelflow_contract::PathSeg {
    fn key(&self) -> Option<&str> {
        match self {
            skelflow_contract::PathSeg::Key(k) => Some(k),
            skelflow_contract::PathSeg::Index(_) => None,
        }
    }
    fn index(&self) -> Option<usize> {
        match self {
            skelflow_contract::PathSeg::Key(_) => None,
            skelflow_contract::PathSeg::Index(i) => Some(*i),
        }
    }
}

impl Seg for &str {
    fn key(&self) -> Option<&str> {
        Some(self)
    }
    fn index(&self) -> Option<usize> {
        self.parse().ok()
    }
}

impl Node {
    pub fn new(span: Span, value: Value) -> Node {
        Node { span, value }
    }

    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The entry `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    /// Follow a path of mapping keys and list indices as far as the tree goes. This is the
    /// one path lookup on the tree: param errors, `${a.b.0}` references into vars and
    /// matrix values, and report errors all go through it.
    pub fn walk<'a, S: Seg>(&'a self, path: &[S]) -> Walk<'a> {
        let mut w = Walk {
            node: self,
            depth: 0,
            entry: None,
        };
        for seg in path {
            let (node, entry) = match &w.node.value {
                Value::Map(m) => match seg.key().and_then(|k| m.iter().find(|e| e.key == k)) {
                    Some(e) => (&e.value, Some(e)),
                    None => break,
                },
                Value::Seq(items) => match seg.index().and_then(|i| items.get(i)) {
                    Some(n) => (n, None),
                    None => break,
                },
                _ => break,
            };
            w = Walk {
                node,
                depth: w.depth + 1,
                entry,
            };
        }
        w
    }

    /// The node at the end of `path`, if the tree goes all the way.
    pub fn lookup<S: Seg>(&self, path: &[S]) -> Option<&Node> {
        let w = self.walk(path);
        (w.depth == path.len()).then_some(w.node)
    }

    /// `a mapping`, `a string`, … for messages.
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn is_scalar(&self) -> bool {
        !matches!(self.value, Value::Seq(_) | Value::Map(_))
    }

    /// A scalar as text (`3`, `true`, `xsub`); `None` for lists and mappings.
    pub fn scalar_text(&self) -> Option<String> {
        Some(match &self.value {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_float(*f),
            Value::Str(s) => s.clone(),
            Value::Seq(_) | Value::Map(_) => return None,
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(s) => J::Array(s.iter().map(Node::to_json).collect()),
            Value::Map(m) => J::Object(
                m.iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// A JSON value as a node, every part at `span`.
    pub fn from_json(v: &serde_json::Value, span: Span) -> Node {
        use serde_json::Value as J;
        let value = match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::Seq(a.iter().map(|x| Node::from_json(x, span)).collect()),
            J::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, x)| Entry {
                        key: k.clone(),
                        key_span: span,
                        value: Node::from_json(x, span),
                    })
                    .collect(),
            ),
        };
        Node { span, value }
    }

    /// The same tree with every span replaced (values substituted at a `${…}` take its span).
    pub fn respan(mut self, span: Span) -> Node {
        self.span = span;
        match &mut self.value {
            Value::Seq(s) => {
                for n in s.iter_mut() {
                    *n = std::mem::replace(n, Node::new(span, Value::Null)).respan(span);
                }
            }
            Value::Map(m) => {
                for e in m.iter_mut() {
                    e.key_span = span;
                    e.value =
                        std::mem::replace(&mut e.value, Node::new(span, Value::Null)).respan(span);
                }
            }
            _ => {}
        }
        self
    }
}

/// Floats print the shortest way that reads back the same (`0.1`, `1e-05`, `2.0`).
pub fn format_float(f: f64) -> String {
    if f.is_finite() && f == f.trunc() && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

/// Parse the file `id` of `sources` as one YAML document.
pub fn parse(sources: &SourceMap, id: FileId) -> Result<Node, Diag> {
    let file = sources.file(id);
    let docs = MarkedYamlOwned::load_from_str(&file.text).map_err(|e| {
        let at = file.byte_of_char(e.marker().index());
        let msg = e.info().to_string();
        let (message, label) = if msg.contains("duplicated key") {
            (
                "duplicate key in mapping".to_string(),
                "this key appears twice in the same mapping",
            )
        } else {
            (format!("YAML syntax error: {msg}"), "here")
        };
        // `{` and `}` are YAML syntax inside `[...]` and `{...}`: `${x}` there must be quoted.
        let (line, _) = file.line_col(at);
        let help = if file.line_text(line).contains("${") && msg.contains("flow") {
            "inside `[...]` or `{...}`, quote values that contain `${…}`: `[\"data/${name}.txt\"]`"
        } else {
            "fix the YAML syntax (indentation, `key: value`, quotes and brackets must balance)"
        };
        // One character wide (a byte could cut a multi-byte character in two).
        let end = file.text[at..]
            .chars()
            .next()
            .map_or(at, |c| at + c.len_utf8());
        Diag::error(message)
            .at(Span::new(id, at, end), label)
            .help(help)
    })?;
    match docs.len() {
        0 => Ok(Node::new(Span::new(id, 0, 0), Value::Null)),
        1 => convert(docs.into_iter().next().expect("one"), sources, id),
        _ => Err(
            Diag::error("more than one YAML document (`---`) in a pipeline file")
                .at(Span::new(id, 0, 1), "")
                .help("keep one document per file; use `include:` to combine files"),
        ),
    }
}

fn convert(n: MarkedYamlOwned, sources: &SourceMap, id: FileId) -> Result<Node, Diag> {
    let file = sources.file(id);
    let start = file.byte_of_char(n.span.start.index());
    let end = file.byte_of_char(n.span.end.index()).max(start);
    let span = Span::new(id, start, end);
    let value = match n.data {
        YamlDataOwned::Value(s) => match s {
            ScalarOwned::Null => Value::Null,
            ScalarOwned::Boolean(b) => Value::Bool(b),
            ScalarOwned::Integer(i) => Value::Int(i),
            ScalarOwned::FloatingPoint(f) => {
                let f = f.into_inner();
                if !f.is_finite() {
                    return Err(Diag::error("infinite or NaN numbers are not supported")
                        .at(span, "")
                        .help("write a finite number, or quote it to make it a string"));
                }
                Value::Float(f)
            }
            ScalarOwned::String(s) => Value::Str(s),
        },
        YamlDataOwned::Representation(s, _, _) => Value::Str(s),
        YamlDataOwned::Sequence(items) => Value::Seq(
            items
                .into_iter()
                .map(|i| convert(i, sources, id))
                .collect::<Result<_, _>>()?,
        ),
        YamlDataOwned::Mapping(map) => {
            let mut entries = Vec::with_capacity(map.len());
            for (k, v) in map {
                let key = convert(k, sources, id)?;
                let Some(text) = key.scalar_text().filter(|_| key.is_scalar()) else {
                    return Err(Diag::error("mapping keys must be plain strings")
                        .at(key.span, "")
                        .help("use a string key such as `name:`"));
                };
                entries.push(Entry {
                    key: text,
                    key_span: key.span,
                    value: convert(v, sources, id)?,
                });
            }
            Value::Map(merge_keys(entries)?)
        }
        YamlDataOwned::Tagged(tag, inner) => {
            return Err(Diag::error(format!(
                "YAML tags (`{}{}`) are not supported",
                tag.handle, tag.suffix
            ))
            .at(
                Span::new(
                    id,
                    start,
                    convert(*inner, sources, id)
                        .map(|n| n.span.end)
                        .unwrap_or(end),
                ),
                "",
            )
            .help("remove the tag; write the plain value"));
        }
        YamlDataOwned::Alias(_) | YamlDataOwned::BadValue => {
            return Err(Diag::error("unresolved YAML alias or bad value")
                .at(span, "")
                .help("define the anchor (`&name`) before using it (`*name`)"));
        }
    };
    let span = match &value {
        // saphyr marks a collection by its first token; extend it over its contents.
        Value::Seq(items) => items.iter().fold(span, |s, i| s.to(i.span)),
        Value::Map(entries) => entries
            .iter()
            .fold(span, |s, e| s.to(e.key_span).to(e.value.span)),
        _ => span,
    };
    Ok(Node { span, value })
}

/// YAML merge keys: `<<: *base` (or `<<: [*a, *b]`) adds the entries of the aliased
/// mappings that this mapping does not set itself.
fn merge_keys(entries: Vec<Entry>) -> Result<Vec<Entry>, Diag> {
    if !entries.iter().any(|e| e.key == "<<") {
        return Ok(entries);
    }
    let explicit: Vec<String> = entries
        .iter()
        .filter(|e| e.key != "<<")
        .map(|e| e.key.clone())
        .collect();
    let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
    for e in entries {
        if e.key != "<<" {
            out.push(e);
            continue;
        }
        let sources: Vec<Node> = match e.value.value {
            Value::Map(_) => vec![e.value],
            Value::Seq(items) => items,
            _ => vec![e.value],
        };
        for src in sources {
            let Value::Map(m) = src.value else {
                return Err(Diag::error(format!(
                    "`<<` merges mappings, found {}",
                    src.type_name()
                ))
                .at(src.span, "")
                .help("write `<<: *anchor` where `&anchor` names a mapping"));
            };
            for x in m {
                if !explicit.contains(&x.key) && !out.iter().any(|o| o.key == x.key) {
                    out.push(x);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> (SourceMap, Result<Node, Diag>) {
        let mut sm = SourceMap::new();
        let id = sm.add("t.yaml".into(), None, text.into());
        let r = parse(&sm, id);
        (sm, r)
    }

    #[test]
    fn scalars_keep_yaml_types_and_spans() {
        let (sm, n) = load("a: 1\nb: \"1\"\nc: [x, 2.5, true, null]\n");
        let n = n.unwrap();
        assert_eq!(n.get("a").unwrap().value, Value::Int(1));
        assert_eq!(n.get("b").unwrap().value, Value::Str("1".into()));
        let c = n.get("c").unwrap();
        assert_eq!(c.to_json(), serde_json::json!(["x", 2.5, true, null]));
        assert_eq!(sm.location(c.span), "t.yaml:3:4");
        let m = n.as_map().unwrap();
        assert_eq!(sm.location(m[1].key_span), "t.yaml:2:1");
        assert_eq!(sm.text(n.get("b").unwrap().span), "\"1\"");
    }

    #[test]
    fn one_walk_serves_keys_indices_and_text_paths() {
        use skelflow_contract::PathSeg;
        let (sm, n) = load("a: {b: [x, {c: 1}]}\nd: 2\n");
        let n = n.unwrap();
        let path = [
            PathSeg::Key("a".into()),
            PathSeg::Key("b".into()),
            PathSeg::Index(1),
            PathSeg::Key("c".into()),
        ];
        let w = n.walk(&path);
        assert_eq!((w.depth, w.node.value.clone()), (4, Value::Int(1)));
        assert_eq!(sm.text(w.entry.unwrap().key_span), "c");
        assert_eq!(n.lookup(&["a", "b", "1", "c"]), Some(w.node));
        // as far as it goes: `b` has no index 5; a key does not index a list
        let w = n.walk(&["a", "b", "5"]);
        assert_eq!(
            (w.depth, w.node.to_json()),
            (2, serde_json::json!(["x", {"c": 1}]))
        );
        assert_eq!(
            n.walk(&[
                PathSeg::Key("a".into()),
                PathSeg::Key("b".into()),
                PathSeg::Key("0".into())
            ])
            .depth,
            2
        );
        assert_eq!(n.lookup(&["d", "e"]), None);
        assert!(n.walk::<&str>(&[]).entry.is_none());
    }

    #[test]
    fn merge_keys_and_anchors() {
        let (_, n) = load("base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\n  z: 4\n");
        let n = n.unwrap();
        assert_eq!(
            n.get("other").unwrap().to_json(),
            serde_json::json!({"x": 1, "y": 3, "z": 4})
        );
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_are_located() {
        let (sm, e) = load("a: [1, 2\nb: 3\n");
        let d = e.unwrap_err();
        assert!(d.message.starts_with("YAML syntax error"), "{}", d.message);
        assert!(sm.location(d.primary.unwrap().span).starts_with("t.yaml:"));
        let (sm, e) = load("a: 1\nb: 2\na: 3\n");
        let d = e.unwrap_err();
        assert_eq!(d.message, "duplicate key in mapping");
        assert_eq!(sm.location(d.primary.unwrap().span), "t.yaml:3:1");
    }
}
