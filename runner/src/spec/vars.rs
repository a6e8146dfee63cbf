//! Pipeline variables: declared defaults, overridden by a vars file, then by
//! `SKELFLOW_VAR_*` environment variables, then by `--set k=v` (last wins). Overriding a
//! variable the pipeline does not declare is an error with a did-you-mean.

use std::cell::RefCell;

use crate::diag::{Diag, suggest};
use crate::spec::interp::{self, Scope};
use crate::spec::source::{SourceMap, Span};
use crate::spec::yaml::{self, Entry, Node, Value};

/// Prefix of environment variables that override vars: `SKELFLOW_VAR_DATA__ROOT` = `data.root`.
pub const ENV_PREFIX: &str = "SKELFLOW_VAR_";

/// Where overrides come from, in the order they apply.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub vars_file: Option<std::path::PathBuf>,
    /// `SKELFLOW_VAR_*` variables (name, value), sorted.
    pub env: Vec<(String, String)>,
    /// `--set k=v` arguments in order.
    pub set: Vec<String>,
}

impl Overrides {
    pub fn from_env() -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        env.sort();
        env
    }
}

/// One override: a dotted path and a value.
struct Override {
    path: Vec<String>,
    span: Span,
    value: Node,
    source: &'static str,
}

/// Apply every override to the declared `vars`. Errors are pushed.
pub fn apply(vars: &mut [Entry], ov: &Overrides, sources: &mut SourceMap, errors: &mut Vec<Diag>) {
    let mut list = Vec::new();
    if let Some(path) = &ov.vars_file {
        vars_file(path, sources, errors, &mut list);
    }
    for (k, v) in &ov.env {
        let text = format!("{k}={v}");
        let id = sources.add("environment".into(), None, text.clone());
        let key = &k[ENV_PREFIX.len()..];
        let path: Vec<String> = key.split("__").map(|s| s.to_lowercase()).collect();
        let key_span = Span::new(id, 0, k.len());
        let val_span = Span::new(id, k.len() + 1, text.len());
        match parse_value(v, val_span) {
            Ok(value) => list.push(Override {
                path,
                span: key_span,
                value,
                source: "environment variable",
            }),
            Err(d) => errors.push(d),
        }
    }
    for s in &ov.set {
        let text = format!("--set {s}");
        let id = sources.add("command line".into(), None, text.clone());
        let Some(eq) = s.find('=') else {
            errors.push(
                Diag::error(format!("`--set {s}` has no value"))
                    .at(Span::new(id, 6, text.len()), "")
                    .help("write `--set name=value`, e.g. `--set data.root=/data/ntu`"),
            );
            continue;
        };
        let key_span = Span::new(id, 6, 6 + eq);
        let val_span = Span::new(id, 6 + eq + 1, text.len());
        let path: Vec<String> = s[..eq].split('.').map(str::to_string).collect();
        match parse_value(&s[eq + 1..], val_span) {
            Ok(value) => list.push(Override {
                path,
                span: key_span,
                value,
                source: "--set",
            }),
            Err(d) => errors.push(d),
        }
    }
    for o in list {
        set(vars, &o, errors);
    }
}

fn vars_file(
    path: &std::path::Path,
    sources: &mut SourceMap,
    errors: &mut Vec<Diag>,
    list: &mut Vec<Override>,
) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            errors.push(
                Diag::error(format!("cannot read vars file `{}`: {e}", path.display()))
                    .help("pass an existing YAML file of `name: value` lines to --vars-file"),
            );
            return;
        }
    };
    let abs = std::path::absolute(path).unwrap_or(path.to_path_buf());
    let id = sources.add(crate::spec::source::display_path(&abs), Some(abs), text);
    let root = match yaml::parse(sources, id) {
        Ok(n) => n,
        Err(d) => {
            errors.push(d);
            return;
        }
    };
    match &root.value {
        Value::Map(m) => flatten(m, &mut Vec::new(), list),
        Value::Null => {}
        _ => errors.push(
            Diag::error(format!(
                "a vars file must be a mapping, found {}",
                root.type_name()
            ))
            .at(root.span, "")
            .help("write `name: value` lines, e.g. `epochs: 10`"),
        ),
    }
}

/// Each leaf of a vars file becomes one override (`data: {root: x}` sets `data.root`).
/// Dotted keys (`data.root: x`) work too.
fn flatten(m: &[Entry], prefix: &mut Vec<String>, out: &mut Vec<Override>) {
    for e in m {
        let n = prefix.len();
        prefix.extend(e.key.split('.').map(str::to_string));
        match &e.value.value {
            Value::Map(inner) if !inner.is_empty() => flatten(inner, prefix, out),
            _ => out.push(Override {
                path: prefix.clone(),
                span: e.key_span,
                value: e.value.clone(),
                source: "vars file",
            }),
        }
        prefix.truncate(n);
    }
}

/// A command-line or environment value, read as YAML (`3` is a number, `[a, b]` a list).
pub fn parse_value(text: &str, span: Span) -> Result<Node, Diag> {
    let mut sm = SourceMap::new();
    let id = sm.add("value".into(), None, text.to_string());
    match yaml::parse(&sm, id) {
        Ok(n) => Ok(n.respan(span)),
        Err(d) => Err(Diag::error(format!("cannot read the value `{text}`: {}", d.message))
            .at(span, "")
            .help("values are YAML: quote strings with special characters, e.g. `--set 'name=\"a: b\"'`")),
    }
}

fn set(vars: &mut [Entry], o: &Override, errors: &mut Vec<Diag>) {
    let mut level: &mut [Entry] = vars;
    for (i, seg) in o.path.iter().enumerate() {
        let Some(pos) = level.iter().position(|e| &e.key == seg) else {
            let known: Vec<&str> = level.iter().map(|e| e.key.as_str()).collect();
            let prefix = o.path[..i].join(".");
            let what = if prefix.is_empty() {
                "declared vars".to_string()
            } else {
                format!("vars under `{prefix}`")
            };
            errors.push(
                Diag::error(format!(
                    "{} sets `{}`, which the pipeline does not declare",
                    o.source,
                    o.path.join(".")
                ))
                .at(o.span, "undeclared variable")
                .help(format!(
                    "{}; declare it under `vars:` in the pipeline first",
                    suggest(seg, known.iter().copied(), &what)
                )),
            );
            return;
        };
        if i + 1 == o.path.len() {
            level[pos].value = o.value.clone();
            return;
        }
        match &mut level[pos].value.value {
            Value::Map(m) => level = m,
            _ => {
                errors.push(
                    Diag::error(format!(
                        "{} sets `{}`, but `{}` is not a mapping",
                        o.source,
                        o.path.join("."),
                        o.path[..=i].join(".")
                    ))
                    .at(o.span, "")
                    .note(level[pos].value.span, "declared here")
                    .help(format!("set `{}` itself", o.path[..=i].join("."))),
                );
                return;
            }
        }
    }
}

/// Looks up `${a.b.c}` in the vars; a var's own value may reference other vars.
pub struct VarScope<'a> {
    pub vars: &'a Node,
    pub sources: &'a SourceMap,
    /// References being resolved right now (to report `a -> b -> a`).
    stack: RefCell<Vec<String>>,
}

impl<'a> VarScope<'a> {
    pub fn new(vars: &'a Node, sources: &'a SourceMap) -> Self {
        VarScope {
            vars,
            sources,
            stack: RefCell::new(Vec::new()),
        }
    }

    pub fn roots(&self) -> Vec<&str> {
        self.vars
            .as_map()
            .map(|m| m.iter().map(|e| e.key.as_str()).collect())
            .unwrap_or_default()
    }

    pub fn has_root(&self, name: &str) -> bool {
        self.vars.get(name).is_some()
    }

    /// The value of a var path, interpolated; `Ok(None)` when the root does not exist.
    pub fn get(&self, path: &str, span: Span) -> Result<Option<Node>, Diag> {
        let segs: Vec<&str> = path.split('.').collect();
        if !self.has_root(segs[0]) {
            return Ok(None);
        }
        let w = self.vars.walk(&segs);
        let cur = w.node;
        if w.depth < segs.len() {
            let seg = segs[w.depth];
            let here = segs[..w.depth].join(".");
            let help = match cur.as_map() {
                Some(m) => suggest(
                    seg,
                    m.iter().map(|e| e.key.as_str()),
                    &format!("keys of `{here}`"),
                ),
                None => format!("`{here}` is {}, it has no field `{seg}`", cur.type_name()),
            };
            return Err(Diag::error(format!("unknown variable `{path}`"))
                .at(span, "")
                .note(cur.span, format!("`{here}` is defined here"))
                .help(help));
        }
        if !contains_template(cur) {
            return Ok(Some(cur.clone()));
        }
        {
            let mut stack = self.stack.borrow_mut();
            if stack.iter().any(|p| p == path) {
                let mut chain = stack.clone();
                chain.push(path.to_string());
                return Err(Diag::error(format!(
                    "variables reference each other in a loop: {}",
                    chain.join(" → ")
                ))
                .at(span, "")
                .help("break the loop: one of these vars must have a plain value"));
            }
            stack.push(path.to_string());
        }
        let mut errs = Vec::new();
        let r = interp::interpolate(cur, self, self.sources, &mut errs);
        self.stack.borrow_mut().pop();
        match r {
            Some(n) => Ok(Some(n)),
            None => Err(errs.remove(0)),
        }
    }
}

fn contains_template(n: &Node) -> bool {
    match &n.value {
        Value::Str(s) => interp::has_template(s) || s.contains("$${"),
        Value::Seq(items) => items.iter().any(contains_template),
        Value::Map(m) => m.iter().any(|e| contains_template(&e.value)),
        _ => false,
    }
}

impl Scope for VarScope<'_> {
    fn lookup(&self, path: &str, span: Span) -> Result<Node, Diag> {
        match self.get(path, span)? {
            Some(n) => Ok(n),
            None => {
                let root = path.split('.').next().unwrap_or(path);
                Err(
                    Diag::error(format!("unknown variable `{root}` in `${{{path}}}`"))
                        .at(span, "")
                        .help(suggest(root, self.roots(), "declared vars")),
                )
            }
        }
    }
}

/// The vars after overrides, with every reference inside them resolved (for run records).
pub fn resolved_json(vars: &Node, sources: &SourceMap) -> serde_json::Value {
    let scope = VarScope::new(vars, sources);
    let mut errs = Vec::new();
    interp::interpolate(vars, &scope, sources, &mut errs)
        .map(|n| n.to_json())
        .unwrap_or_else(|| vars.to_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(sm: &mut SourceMap, text: &str) -> Vec<Entry> {
        let id = sm.add("p.yaml".into(), None, text.into());
        yaml::parse(sm, id).unwrap().as_map().unwrap().to_vec()
    }

    #[test]
    fn set_env_and_file_override_in_order() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("v.yaml");
        std::fs::write(&f, "data: {root: /from/file}\nepochs: 5\n").unwrap();
        let mut sm = SourceMap::new();
        let mut v = vars(&mut sm, "data: {root: null}\nepochs: 2\nlr: 0.1\n");
        let ov = Overrides {
            vars_file: Some(f),
            env: vec![("SKELFLOW_VAR_EPOCHS".into(), "7".into())],
            set: vec!["lr=0.5".into(), "data.root=/x".into()],
        };
        let mut errs = Vec::new();
        apply(&mut v, &ov, &mut sm, &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        let n = Node::new(v[0].key_span, Value::Map(v));
        assert_eq!(
            n.to_json(),
            serde_json::json!({"data": {"root": "/x"}, "epochs": 7, "lr": 0.5})
        );
    }

    #[test]
    fn undeclared_override_suggests_the_declared_name() {
        let mut sm = SourceMap::new();
        let mut v = vars(&mut sm, "epochs: 2\n");
        let mut errs = Vec::new();
        apply(
            &mut v,
            &Overrides {
                set: vec!["epoch=3".into()],
                ..Default::default()
            },
            &mut sm,
            &mut errs,
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].message,
            "--set sets `epoch`, which the pipeline does not declare"
        );
        assert!(
            errs[0]
                .help
                .as_ref()
                .unwrap()
                .starts_with("did you mean `epochs`?")
        );
        assert_eq!(
            sm.location(errs[0].primary.as_ref().unwrap().span),
            "command line:1:7"
        );
    }

    #[test]
    fn vars_may_reference_vars_but_not_in_a_loop() {
        let mut sm = SourceMap::new();
        let v = vars(&mut sm, "a: x\nb: ${a}/y\nc: ${d}\nd: ${c}\n");
        let n = Node::new(v[0].key_span, Value::Map(v));
        let s = VarScope::new(&n, &sm);
        let sp = n.span;
        assert_eq!(
            s.lookup("b", sp).unwrap().to_json(),
            serde_json::json!("x/y")
        );
        let e = s.lookup("c", sp).unwrap_err();
        assert!(e.message.contains("loop: c → d → c"), "{}", e.message);
    }
}
