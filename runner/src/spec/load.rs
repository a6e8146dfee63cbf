//! Read a pipeline file and the files it `extends` and `include`s, check each file's top
//! level, and merge them into one tree (spans kept, so errors still point at the right file).
//!
//! Merge rules (see docs/pipeline.md):
//! - `extends: base.yaml` — this file is laid over the base: `vars`, `report` and `executor` deep-merge,
//!   a stage with the same id merges key by key (`params`, `resources`, `tags` deep-merge,
//!   `matrix` per axis, anything else is replaced; `key: null` removes the key), and
//!   `stage: null` deletes the stage. `name` and `seed` override.
//! - `include: [a.yaml]` — adds the stages and vars of other files; a stage id defined twice
//!   is an error.

use std::path::{Path, PathBuf};

use crate::diag::{Diag, suggest};
use crate::spec::source::{FileId, SourceMap, Span, Spanned, display_path, normalize};
use crate::spec::yaml::{self, Entry, Node, Value};

pub const TOP_LEVEL_KEYS: [&str; 8] = [
    "name", "extends", "include", "vars", "seed", "stages", "report", "executor",
];

/// The merged content of a pipeline file and everything it pulls in.
#[derive(Debug)]
pub struct Merged {
    pub root: FileId,
    pub name: Option<Spanned<String>>,
    pub vars: Vec<Entry>,
    pub seed: Option<Node>,
    pub stages: Vec<StageNode>,
    pub report: Option<Node>,
    /// `executor:` — where and how stages run (deep-merged like `report`).
    pub executor: Option<Node>,
}

#[derive(Clone, Debug)]
pub struct StageNode {
    pub id: String,
    pub id_span: Span,
    pub body: Node,
    origin: Origin,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Origin {
    /// From this file or the file it extends: a later definition merges.
    Own,
    /// From an included file: a second definition is a duplicate.
    Included,
}

/// Load `path` (absolute). Errors are pushed; `None` if nothing usable was read.
pub fn load(path: &Path, sources: &mut SourceMap, errors: &mut Vec<Diag>) -> Option<Merged> {
    let mut chain = Vec::new();
    load_file(path, None, &mut chain, sources, errors)
}

fn load_file(
    path: &Path,
    via: Option<Span>,
    chain: &mut Vec<PathBuf>,
    sources: &mut SourceMap,
    errors: &mut Vec<Diag>,
) -> Option<Merged> {
    if let Some(pos) = chain.iter().position(|p| p == path) {
        let cycle: Vec<String> = chain[pos..]
            .iter()
            .chain(std::iter::once(&path.to_path_buf()))
            .map(|p| display_path(p))
            .collect();
        let mut d = Diag::error(format!(
            "`{}` includes itself: {}",
            display_path(path),
            cycle.join(" → ")
        ));
        if let Some(s) = via {
            d = d.at(s, "this brings the file in again");
        }
        errors.push(d.help("remove one of the `extends`/`include` entries on this loop"));
        return None;
    }
    let id = match sources.find(path) {
        Some(id) => id,
        None => match std::fs::read_to_string(path) {
            Ok(text) => sources.add(display_path(path), Some(path.to_path_buf()), text),
            Err(e) => {
                let mut d = Diag::error(format!("cannot read `{}`: {e}", display_path(path)));
                if let Some(s) = via {
                    d = d.at(s, "referenced here");
                }
                errors.push(
                    d.help("paths in `extends`/`include` are relative to the file that names them"),
                );
                return None;
            }
        },
    };
    let root = match yaml::parse(sources, id) {
        Ok(n) => n,
        Err(d) => {
            errors.push(d);
            return None;
        }
    };
    chain.push(path.to_path_buf());
    let merged = merge_file(id, &root, path, chain, sources, errors);
    chain.pop();
    merged
}

fn merge_file(
    id: FileId,
    root: &Node,
    path: &Path,
    chain: &mut Vec<PathBuf>,
    sources: &mut SourceMap,
    errors: &mut Vec<Diag>,
) -> Option<Merged> {
    let Some(entries) = root.as_map() else {
        let what = if root.is_null() {
            "empty"
        } else {
            root.type_name()
        };
        errors.push(
            Diag::error(format!(
                "a pipeline file must be a mapping, but `{}` is {what}",
                sources.file(id).name
            ))
            .at(root.span, "")
            .help("start with `name: my_pipeline` and `stages:`"),
        );
        return None;
    };
    let dir = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut name = None;
    let mut extends = None;
    let mut includes: Vec<Spanned<String>> = Vec::new();
    let mut vars: Vec<Entry> = Vec::new();
    let mut seed = None;
    let mut stages: Vec<StageNode> = Vec::new();
    let mut report = None;
    let mut executor = None;
    for e in entries {
        match e.key.as_str() {
            "name" => {
                name = string_field(e, "the pipeline's name, e.g. `name: ablation_a2mc`", errors)
            }
            "extends" => {
                extends = string_field(e, "a file to extend, e.g. `extends: base.yaml`", errors)
            }
            "include" => match &e.value.value {
                Value::Str(s) => includes.push(Spanned::new(s.clone(), e.value.span)),
                Value::Seq(items) => {
                    for i in items {
                        match &i.value {
                            Value::Str(s) => includes.push(Spanned::new(s.clone(), i.span)),
                            _ => errors.push(type_error(
                                i,
                                "`include` entries must be file names",
                                "include: [evals.yaml]",
                            )),
                        }
                    }
                }
                _ => errors.push(type_error(
                    &e.value,
                    "`include` must be a list of files",
                    "include: [evals.yaml]",
                )),
            },
            "vars" => match &e.value.value {
                Value::Map(m) => vars = m.clone(),
                Value::Null => {}
                _ => errors.push(type_error(
                    &e.value,
                    "`vars` must be a mapping",
                    "vars: {epochs: 10}",
                )),
            },
            "seed" => seed = Some(e.value.clone()),
            "stages" => match &e.value.value {
                Value::Map(m) => {
                    for s in m {
                        check_stage_id(&s.key, s.key_span, errors);
                        stages.push(StageNode {
                            id: s.key.clone(),
                            id_span: s.key_span,
                            body: s.value.clone(),
                            origin: Origin::Own,
                        });
                    }
                }
                Value::Null => {}
                _ => errors.push(type_error(
                    &e.value,
                    "`stages` must be a mapping of stage id to stage",
                    "stages: {prepare: {kind: shell, …}}",
                )),
            },
            "report" => report = Some(e.value.clone()),
            "executor" => executor = Some(e.value.clone()),
            other => errors.push(Diag::unknown(
                format!("unknown top-level key `{other}`"),
                (e.key_span, "unknown key"),
                other,
                TOP_LEVEL_KEYS,
                "top-level keys",
            )),
        }
    }

    // The base first, then included files, then this file on top.
    let mut acc = match &extends {
        Some(ext) => {
            let p = normalize(&dir.join(&ext.value));
            let mut base = load_file(&p, Some(ext.span), chain, sources, errors)?;
            for s in &mut base.stages {
                s.origin = Origin::Own;
            }
            base
        }
        None => Merged {
            root: id,
            name: None,
            vars: Vec::new(),
            seed: None,
            stages: Vec::new(),
            report: None,
            executor: None,
        },
    };
    acc.root = id;
    for inc in &includes {
        let p = normalize(&dir.join(&inc.value));
        let Some(other) = load_file(&p, Some(inc.span), chain, sources, errors) else {
            continue;
        };
        acc.vars = merge_map(std::mem::take(&mut acc.vars), &other.vars);
        if let Some(r) = other.report {
            acc.report = Some(match acc.report.take() {
                Some(b) => merge_nodes(b, &r),
                None => r,
            });
        }
        if let Some(x) = other.executor {
            acc.executor = Some(match acc.executor.take() {
                Some(b) => merge_nodes(b, &x),
                None => x,
            });
        }
        for s in other.stages {
            if let Some(prev) = acc.stages.iter().find(|p| p.id == s.id) {
                errors.push(duplicate(&s, prev));
                continue;
            }
            acc.stages.push(StageNode {
                origin: Origin::Included,
                ..s
            });
        }
    }
    if let Some(n) = name {
        acc.name = Some(n);
    }
    if let Some(s) = seed {
        acc.seed = Some(s);
    }
    acc.vars = merge_map(std::mem::take(&mut acc.vars), &vars);
    if let Some(r) = report {
        acc.report = Some(match acc.report.take() {
            Some(b) => merge_nodes(b, &r),
            None => r,
        });
    }
    if let Some(x) = executor {
        acc.executor = Some(match acc.executor.take() {
            Some(b) => merge_nodes(b, &x),
            None => x,
        });
    }
    for s in stages {
        match acc.stages.iter().position(|p| p.id == s.id) {
            Some(i) if acc.stages[i].origin == Origin::Included => {
                errors.push(duplicate(&s, &acc.stages[i]))
            }
            Some(i) => {
                if s.body.is_null() {
                    acc.stages.remove(i);
                } else {
                    let base = std::mem::replace(
                        &mut acc.stages[i].body,
                        Node::new(s.id_span, Value::Null),
                    );
                    acc.stages[i].body = merge_stage(base, &s.body);
                }
            }
            None => {
                if s.body.is_null() && extends.is_some() {
                    errors.push(
                        Diag::error(format!(
                            "cannot delete stage `{}`: the base pipeline has no such stage",
                            s.id
                        ))
                        .at(s.id_span, "")
                        .help(suggest(
                            &s.id,
                            acc.stages.iter().map(|p| p.id.as_str()),
                            "stages of the base",
                        )),
                    );
                } else {
                    acc.stages.push(s);
                }
            }
        }
    }
    Some(acc)
}

fn duplicate(s: &StageNode, prev: &StageNode) -> Diag {
    Diag::error(format!("duplicate stage id `{}`", s.id))
        .at(s.id_span, "defined again here")
        .note(prev.id_span, "first defined here")
        .help("stage ids must be unique across included files: rename one of them")
}

fn check_stage_id(id: &str, span: Span, errors: &mut Vec<Diag>) {
    let valid = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        errors.push(
            Diag::error(format!("invalid stage id `{id}`"))
                .at(span, "")
                .help("stage ids use letters, digits, `_` and `-` only, e.g. `pretrain_b1`"),
        );
    } else if id == "matrix" {
        errors.push(
            Diag::error("`matrix` cannot be a stage id")
                .at(span, "")
                .help("`${matrix.…}` refers to matrix axes; choose another id"),
        );
    }
}

fn string_field(e: &Entry, what: &str, errors: &mut Vec<Diag>) -> Option<Spanned<String>> {
    match &e.value.value {
        Value::Str(s) if !s.is_empty() => Some(Spanned::new(s.clone(), e.value.span)),
        _ => {
            errors.push(type_error(
                &e.value,
                &format!("`{}` must be a string", e.key),
                what,
            ));
            None
        }
    }
}

pub fn type_error(n: &Node, message: &str, example: &str) -> Diag {
    Diag::error(format!("{message}, found {}", n.type_name()))
        .at(n.span, "")
        .help(format!("expected {example}"))
}

/// Deep merge: mappings merge key by key, anything else in `over` replaces.
pub fn merge_nodes(base: Node, over: &Node) -> Node {
    match (base.value, &over.value) {
        (Value::Map(b), Value::Map(o)) => Node::new(over.span, Value::Map(merge_map(b, o))),
        _ => over.clone(),
    }
}

fn merge_map(mut base: Vec<Entry>, over: &[Entry]) -> Vec<Entry> {
    for e in over {
        match base.iter_mut().find(|b| b.key == e.key) {
            Some(b) => {
                let old = std::mem::replace(&mut b.value, Node::new(e.value.span, Value::Null));
                b.value = merge_nodes(old, &e.value);
                b.key_span = e.key_span;
            }
            None => base.push(e.clone()),
        }
    }
    base
}

/// Merge a stage of an extending file over the base's stage of the same id.
fn merge_stage(base: Node, over: &Node) -> Node {
    let (Value::Map(mut b), Value::Map(o)) = (base.value, &over.value) else {
        return over.clone();
    };
    for e in o {
        let pos = b.iter().position(|x| x.key == e.key);
        if e.value.is_null() {
            if let Some(i) = pos {
                b.remove(i);
            }
            continue;
        }
        let Some(i) = pos else {
            b.push(e.clone());
            continue;
        };
        let old = std::mem::replace(&mut b[i].value, Node::new(e.value.span, Value::Null));
        b[i].value = match e.key.as_str() {
            "params" | "resources" | "tags" => merge_nodes(old, &e.value),
            "matrix" => match (old.value, &e.value.value) {
                (Value::Map(axes), Value::Map(new_axes)) => {
                    let mut axes = axes;
                    for a in new_axes {
                        match axes.iter().position(|x| x.key == a.key) {
                            Some(j) if a.value.is_null() => {
                                axes.remove(j);
                            }
                            Some(j) => axes[j] = a.clone(),
                            None => axes.push(a.clone()),
                        }
                    }
                    Node::new(e.value.span, Value::Map(axes))
                }
                _ => e.value.clone(),
            },
            _ => e.value.clone(),
        };
        b[i].key_span = e.key_span;
    }
    Node::new(over.span, Value::Map(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn extends_merges_stages_key_by_key_and_null_deletes() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "base.yaml",
            "name: base\nvars: {a: 1, b: {c: 2}}\nstages:\n  x: {kind: shell, params: {cmd: echo, outs: [o]}}\n  y: {kind: shell}\n",
        );
        let p = write(
            d.path(),
            "abl.yaml",
            "name: abl\nextends: base.yaml\nvars: {b: {c: 3}}\nstages:\n  x: {params: {cmd: true}}\n  y: null\n",
        );
        let mut sm = SourceMap::new();
        let mut errs = Vec::new();
        let m = load(&p, &mut sm, &mut errs).unwrap();
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(m.name.unwrap().value, "abl");
        assert_eq!(m.stages.len(), 1);
        assert_eq!(
            m.stages[0].body.to_json(),
            serde_json::json!({"kind": "shell", "params": {"cmd": true, "outs": ["o"]}})
        );
        let vars = Node::new(m.stages[0].id_span, Value::Map(m.vars)).to_json();
        assert_eq!(vars, serde_json::json!({"a": 1, "b": {"c": 3}}));
    }

    #[test]
    fn include_duplicates_and_loops_are_errors() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "a.yaml", "stages:\n  s: {kind: shell}\n");
        write(d.path(), "loop.yaml", "include: [main.yaml]\n");
        let p = write(
            d.path(),
            "main.yaml",
            "name: m\ninclude: [a.yaml, loop.yaml]\nstages:\n  s: {kind: shell}\n",
        );
        let mut sm = SourceMap::new();
        let mut errs = Vec::new();
        load(&p, &mut sm, &mut errs).unwrap();
        let msgs: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("`main.yaml` includes itself")
                    || m.contains("includes itself")),
            "{msgs:?}"
        );
        assert!(msgs.contains(&"duplicate stage id `s`"), "{msgs:?}");
    }
}
