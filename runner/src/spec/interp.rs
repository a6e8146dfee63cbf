//! `${…}` interpolation: parse templates, resolve references through a [`Scope`].
//!
//! A string that is exactly one `${…}` takes the referenced value with its YAML type; inside
//! a longer string each reference is stringified (lists join with spaces). References nest
//! (`${profiles.${profile}.epochs}`, innermost first). `$${` is a literal `${`.

use crate::diag::Diag;
use crate::spec::source::{SourceMap, Span};
use crate::spec::yaml::{Entry, Node, Value};

/// One piece of a template. Offsets are byte offsets into the string value.
#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Lit(String),
    Ref {
        inner: Vec<Piece>,
        start: usize,
        end: usize,
    },
}

/// Does this string need interpolation at all?
pub fn has_template(s: &str) -> bool {
    s.contains("${")
}

/// Parse `s` into literal and reference pieces. Err: (offset, message).
pub fn parse(s: &str) -> Result<Vec<Piece>, (usize, String)> {
    let (pieces, end) = parse_until(s, 0, false)?;
    debug_assert_eq!(end, s.len());
    Ok(pieces)
}

fn parse_until(
    s: &str,
    mut i: usize,
    nested: bool,
) -> Result<(Vec<Piece>, usize), (usize, String)> {
    let b = s.as_bytes();
    let mut pieces = Vec::new();
    let mut lit = String::new();
    while i < b.len() {
        if b[i] == b'$' && s[i..].starts_with("$${") {
            lit.push_str("${");
            i += 3;
        } else if b[i] == b'$' && s[i..].starts_with("${") {
            if !lit.is_empty() {
                pieces.push(Piece::Lit(std::mem::take(&mut lit)));
            }
            let start = i;
            let (inner, close) = parse_until(s, i + 2, true)?;
            if close >= b.len() {
                return Err((start, "unterminated `${`: add the closing `}`".into()));
            }
            if inner.is_empty() {
                return Err((start, "empty reference `${}`".into()));
            }
            pieces.push(Piece::Ref {
                inner,
                start,
                end: close + 1,
            });
            i = close + 1;
        } else if nested && b[i] == b'}' {
            if !lit.is_empty() {
                pieces.push(Piece::Lit(lit));
            }
            return Ok((pieces, i));
        } else {
            let c = s[i..].chars().next().expect("in bounds");
            lit.push(c);
            i += c.len_utf8();
        }
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok((pieces, i))
}

/// Where references are looked up.
pub trait Scope {
    /// Resolve a dotted reference such as `data.root`, `matrix.bench`, `import.output`.
    /// `span` is where the reference is written (for the error).
    fn lookup(&self, path: &str, span: Span) -> Result<Node, Diag>;
}

/// Interpolate every string in `node`. Errors are pushed; `None` if there was any.
pub fn interpolate(
    node: &Node,
    scope: &dyn Scope,
    sources: &SourceMap,
    errors: &mut Vec<Diag>,
) -> Option<Node> {
    let before = errors.len();
    let out = walk(node, scope, sources, errors);
    (errors.len() == before).then_some(out)
}

fn walk(node: &Node, scope: &dyn Scope, sources: &SourceMap, errors: &mut Vec<Diag>) -> Node {
    match &node.value {
        Value::Str(s) if has_template(s) || s.contains("$${") => {
            string_all(s, node.span, scope, sources, errors).unwrap_or_else(|| node.clone())
        }
        Value::Seq(items) => Node::new(
            node.span,
            Value::Seq(
                items
                    .iter()
                    .map(|n| walk(n, scope, sources, errors))
                    .collect(),
            ),
        ),
        Value::Map(entries) => Node::new(
            node.span,
            Value::Map(
                entries
                    .iter()
                    .map(|e| Entry {
                        key: e.key.clone(),
                        key_span: e.key_span,
                        value: walk(&e.value, scope, sources, errors),
                    })
                    .collect(),
            ),
        ),
        _ => node.clone(),
    }
}

/// Interpolate one string value written at `span`. Every bad reference in it is reported.
pub fn string(s: &str, span: Span, scope: &dyn Scope, sources: &SourceMap) -> Result<Node, Diag> {
    let mut errors = Vec::new();
    let r = string_all(s, span, scope, sources, &mut errors);
    match r {
        Some(n) if errors.is_empty() => Ok(n),
        _ => Err(errors.remove(0)),
    }
}

fn string_all(
    s: &str,
    span: Span,
    scope: &dyn Scope,
    sources: &SourceMap,
    errors: &mut Vec<Diag>,
) -> Option<Node> {
    let pieces = match parse(s) {
        Ok(p) => p,
        Err((at, msg)) => {
            errors.push(
                Diag::error(format!("bad reference: {msg}"))
                    .at(sub_span(s, span, at, s.len(), sources), "")
                    .help("references look like `${var}`, `${matrix.axis}` or `${stage.output}`; write `$${` for a literal `${`"),
            );
            return None;
        }
    };
    if let [Piece::Ref { inner, start, end }] = pieces.as_slice() {
        let at = sub_span(s, span, *start, *end, sources);
        let path = text_of(inner, s, span, scope, sources, errors)?;
        return match scope.lookup(&path, at) {
            Ok(n) => Some(n.respan(at)),
            Err(d) => {
                errors.push(d);
                None
            }
        };
    }
    text_of(&pieces, s, span, scope, sources, errors).map(|t| Node::new(span, Value::Str(t)))
}

/// The text of `pieces`, or `None` after pushing the problems of every failing reference.
fn text_of(
    pieces: &[Piece],
    s: &str,
    span: Span,
    scope: &dyn Scope,
    sources: &SourceMap,
    errors: &mut Vec<Diag>,
) -> Option<String> {
    let mut out = String::new();
    let mut ok = true;
    for p in pieces {
        match p {
            Piece::Lit(l) => out.push_str(l),
            Piece::Ref { inner, start, end } => {
                let at = sub_span(s, span, *start, *end, sources);
                let Some(path) = text_of(inner, s, span, scope, sources, errors) else {
                    ok = false;
                    continue;
                };
                match scope
                    .lookup(&path, at)
                    .and_then(|v| stringify(&v, &path, at))
                {
                    Ok(t) => out.push_str(&t),
                    Err(d) => {
                        errors.push(d);
                        ok = false;
                    }
                }
            }
        }
    }
    ok.then_some(out)
}

fn stringify(v: &Node, path: &str, at: Span) -> Result<String, Diag> {
    if let Some(t) = v.scalar_text() {
        return Ok(t);
    }
    if let Value::Seq(items) = &v.value
        && let Some(parts) = items
            .iter()
            .map(Node::scalar_text)
            .collect::<Option<Vec<_>>>()
    {
        return Ok(parts.join(" "));
    }
    Err(Diag::error(format!(
        "`${{{path}}}` is {} and cannot be put inside a string",
        v.type_name()
    ))
    .at(at, "")
    .help("use it as the whole value (`key: ${…}`), or reference one of its fields"))
}

/// The span of bytes `start..end` of the string value, when the source text is the value
/// verbatim (plain or simply quoted scalar); otherwise the whole node.
pub fn sub_span(s: &str, span: Span, start: usize, end: usize, sources: &SourceMap) -> Span {
    let raw = sources.text(span);
    let offset = if raw == s {
        Some(0)
    } else if raw.len() == s.len() + 2 && raw.get(1..raw.len() - 1) == Some(s) {
        Some(1)
    } else {
        None
    };
    match offset {
        Some(o) => Span::new(span.file, span.start + o + start, span.start + o + end),
        None => span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::source::FileId;

    struct Vars(serde_json::Value);
    impl Scope for Vars {
        fn lookup(&self, path: &str, span: Span) -> Result<Node, Diag> {
            let mut cur = &self.0;
            for seg in path.split('.') {
                cur = cur
                    .get(seg)
                    .ok_or_else(|| Diag::error(format!("unknown `{path}`")).at(span, ""))?;
            }
            Ok(Node::from_json(cur, span))
        }
    }

    fn run(s: &str, vars: serde_json::Value) -> Result<serde_json::Value, Diag> {
        let mut sm = SourceMap::new();
        let f = sm.add("t".into(), None, s.into());
        string(s, Span::new(f, 0, s.len()), &Vars(vars), &sm).map(|n| n.to_json())
    }

    #[test]
    fn whole_value_keeps_type_and_nesting_works() {
        let vars = serde_json::json!({"n": 3, "p": "quick", "profiles": {"quick": {"epochs": 2}}, "l": [1, 2]});
        assert_eq!(run("${n}", vars.clone()).unwrap(), serde_json::json!(3));
        assert_eq!(
            run("${profiles.${p}.epochs}", vars.clone()).unwrap(),
            serde_json::json!(2)
        );
        assert_eq!(
            run("e=${profiles.${p}.epochs} n=${n}", vars.clone()).unwrap(),
            serde_json::json!("e=2 n=3")
        );
        assert_eq!(
            run("x ${l}", vars.clone()).unwrap(),
            serde_json::json!("x 1 2")
        );
        assert_eq!(
            run("echo $${HOME} $$x", vars.clone()).unwrap(),
            serde_json::json!("echo ${HOME} $$x")
        );
        assert!(
            run("a ${n", vars.clone())
                .unwrap_err()
                .message
                .contains("unterminated")
        );
        assert!(
            run("a ${profiles}", vars)
                .unwrap_err()
                .message
                .contains("cannot be put inside a string")
        );
    }

    #[test]
    fn sub_spans_point_inside_quoted_strings() {
        let mut sm = SourceMap::new();
        let f = sm.add("t".into(), None, "\"a ${x}\"".into());
        let s = sub_span("a ${x}", Span::new(f, 0, 8), 2, 6, &sm);
        assert_eq!(sm.text(s), "${x}");
        let _ = FileId(0);
    }
}
