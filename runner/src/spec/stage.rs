//! The shape of one stage in the YAML: which keys it may have and their types. Values are
//! kept as spanned nodes: interpolation and the kind's own checks come later.

use crate::diag::Diag;
use crate::spec::load::{StageNode, type_error};
use crate::spec::source::{Span, Spanned};
use crate::spec::yaml::{Node, Value};

pub const STAGE_KEYS: [&str; 8] = [
    "kind",
    "params",
    "needs",
    "matrix",
    "resources",
    "seed",
    "tags",
    "desc",
];

/// The keys of `resources:`.
pub const RESOURCE_KEYS: [&str; 4] = ["cpus", "gpus", "mem", "time"];

#[derive(Clone, Debug)]
pub struct StageSpec {
    pub id: String,
    pub id_span: Span,
    pub kind: Option<Spanned<String>>,
    pub params: Option<Node>,
    /// Where `params:` is written (errors about missing params point here).
    pub params_key: Option<Span>,
    pub needs: Vec<Spanned<String>>,
    pub matrix: Option<MatrixSpec>,
    pub resources: Option<Node>,
    pub seed: Option<Node>,
    pub tags: Option<Node>,
    pub desc: Option<String>,
}

#[derive(Clone, Debug)]
pub enum MatrixSpec {
    /// `matrix: other_stage`: one instance per instance of that stage, same axes and labels.
    Follow(Spanned<String>),
    /// `matrix: {axis: [values] | {label: value}}` (values not yet interpolated).
    Axes(Node),
}

/// Check a merged stage's keys and their types. `None` if it is unusable.
pub fn check(s: &StageNode, errors: &mut Vec<Diag>) -> Option<StageSpec> {
    let Some(entries) = s.body.as_map() else {
        errors.push(
            Diag::error(format!(
                "stage `{}` must be a mapping, found {}",
                s.id,
                s.body.type_name()
            ))
            .at(
                if s.body.is_null() {
                    s.id_span
                } else {
                    s.body.span
                },
                "",
            )
            .help(
                "a stage needs at least `kind:`, e.g. `prepare: {kind: shell, params: {cmd: …}}`",
            ),
        );
        return None;
    };
    let mut spec = StageSpec {
        id: s.id.clone(),
        id_span: s.id_span,
        kind: None,
        params: None,
        params_key: None,
        needs: Vec::new(),
        matrix: None,
        resources: None,
        seed: None,
        tags: None,
        desc: None,
    };
    for e in entries {
        let v = &e.value;
        match e.key.as_str() {
            "kind" => match &v.value {
                Value::Str(k) => spec.kind = Some(Spanned::new(k.clone(), v.span)),
                _ => errors.push(type_error(
                    v,
                    "`kind` must be a string",
                    "a stage kind such as `kind: shell` (see `skelflow kinds`)",
                )),
            },
            "params" => match &v.value {
                Value::Map(_) | Value::Null => {
                    spec.params = Some(v.clone());
                    spec.params_key = Some(e.key_span);
                }
                _ => errors.push(type_error(
                    v,
                    "`params` must be a mapping",
                    "`params: {name: value, …}`",
                )),
            },
            "needs" => match &v.value {
                Value::Str(n) => spec.needs.push(Spanned::new(n.clone(), v.span)),
                Value::Seq(items) => {
                    for i in items {
                        match &i.value {
                            Value::Str(n) => {
                                if let Some(prev) = spec.needs.iter().find(|p| &p.value == n) {
                                    errors.push(
                                        Diag::error(format!(
                                            "`{n}` is listed twice in `needs` of `{}`",
                                            s.id
                                        ))
                                        .at(i.span, "again here")
                                        .note(prev.span, "first here")
                                        .help("list each upstream stage once"),
                                    );
                                } else {
                                    spec.needs.push(Spanned::new(n.clone(), i.span));
                                }
                            }
                            _ => errors.push(type_error(
                                i,
                                "`needs` entries must be stage ids",
                                "`needs: [prepare, train]`",
                            )),
                        }
                    }
                }
                Value::Null => {}
                _ => errors.push(type_error(
                    v,
                    "`needs` must be a list of stage ids",
                    "`needs: [prepare, train]`",
                )),
            },
            "matrix" => match &v.value {
                Value::Str(f) => {
                    spec.matrix = Some(MatrixSpec::Follow(Spanned::new(f.clone(), v.span)))
                }
                Value::Map(_) => spec.matrix = Some(MatrixSpec::Axes(v.clone())),
                Value::Null => {}
                _ => errors.push(type_error(
                    v,
                    "`matrix` must be a mapping of axes or the id of a stage to follow",
                    "`matrix: {bench: [xsub, xview]}` or `matrix: pretrain`",
                )),
            },
            "resources" => match &v.value {
                Value::Map(m) => {
                    for r in m {
                        if !RESOURCE_KEYS.contains(&r.key.as_str()) {
                            errors.push(Diag::unknown(
                                format!("unknown resource `{}` in stage `{}`", r.key, s.id),
                                (r.key_span, "unknown resource"),
                                &r.key,
                                RESOURCE_KEYS,
                                "resources",
                            ));
                        }
                    }
                    spec.resources = Some(v.clone());
                }
                Value::Null => {}
                _ => errors.push(type_error(
                    v,
                    "`resources` must be a mapping",
                    "`resources: {cpus: 2, gpus: 1, mem: 4G}`",
                )),
            },
            "seed" => spec.seed = Some(v.clone()),
            "tags" => match &v.value {
                Value::Map(_) | Value::Null => spec.tags = Some(v.clone()),
                _ => errors.push(type_error(
                    v,
                    "`tags` must be a mapping",
                    "`tags: {method: a2mc}`",
                )),
            },
            "desc" => spec.desc = v.scalar_text(),
            other => errors.push(Diag::unknown(
                format!("unknown key `{other}` in stage `{}`", s.id),
                (e.key_span, "unknown key"),
                other,
                STAGE_KEYS,
                "stage keys",
            )),
        }
    }
    if spec.kind.is_none() && !entries.iter().any(|e| e.key == "kind") {
        errors.push(
            Diag::error(format!("stage `{}` has no `kind`", s.id))
                .at(s.id_span, "")
                .help(format!(
                    "add `kind:` with one of: {} (`skelflow kinds` describes them)",
                    skelflow_stages::registry().names().join(", ")
                )),
        );
    }
    Some(spec)
}
