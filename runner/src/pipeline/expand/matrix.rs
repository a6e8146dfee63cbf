//! Matrices: each stage's axes (its own, or those of the stage it follows), checked, and
//! every combination of their values.

use std::collections::HashMap;

use super::MAX_INSTANCES;
use crate::diag::Diag;
use crate::spec::interp;
use crate::spec::source::SourceMap;
use crate::spec::stage::{MatrixSpec, StageSpec};
use crate::spec::vars::VarScope;
use crate::spec::yaml::{Node, Value};

#[derive(Clone, Debug)]
pub(super) struct Axis {
    pub name: String,
    /// Plain values (`[a, b]`) or named values (`{label: value}`).
    pub named: bool,
    /// (label, value)
    pub values: Vec<(String, Node)>,
}

/// The axes of every stage (a stage may follow another's matrix, which may follow
/// another's…): `None` where they are invalid (the errors are pushed).
pub(super) fn resolve_all(
    specs: &[StageSpec],
    index: &HashMap<&str, usize>,
    vars: &VarScope,
    sources: &SourceMap,
    errors: &mut Vec<Diag>,
) -> Vec<Option<Vec<Axis>>> {
    let mut memo: Vec<Option<Option<Vec<Axis>>>> = vec![None; specs.len()];
    for i in 0..specs.len() {
        resolve(
            i,
            specs,
            index,
            vars,
            sources,
            &mut memo,
            &mut Vec::new(),
            errors,
        );
    }
    memo.into_iter().map(Option::flatten).collect()
}

#[allow(clippy::too_many_arguments)]
fn resolve(
    i: usize,
    specs: &[StageSpec],
    index: &HashMap<&str, usize>,
    vars: &VarScope,
    sources: &SourceMap,
    memo: &mut Vec<Option<Option<Vec<Axis>>>>,
    stack: &mut Vec<usize>,
    errors: &mut Vec<Diag>,
) -> Option<Vec<Axis>> {
    if let Some(done) = &memo[i] {
        return done.clone();
    }
    let result = match &specs[i].matrix {
        None => Some(Vec::new()),
        Some(MatrixSpec::Follow(target)) => match index.get(target.value.as_str()) {
            None => {
                errors.push(Diag::unknown(
                    format!(
                        "stage `{}` follows the matrix of `{}`, which is not a stage",
                        specs[i].id, target.value
                    ),
                    (target.span, "unknown stage"),
                    &target.value,
                    specs.iter().map(|s| s.id.as_str()),
                    "stages",
                ));
                None
            }
            Some(&t) if stack.contains(&t) || t == i => {
                let mut names: Vec<&str> = stack.iter().map(|&s| specs[s].id.as_str()).collect();
                names.push(&specs[i].id);
                names.push(&specs[t].id);
                errors.push(
                    Diag::error(format!(
                        "matrices follow each other in a loop: {}",
                        names.join(" → ")
                    ))
                    .at(target.span, "")
                    .help("one of these stages must declare its own axes"),
                );
                None
            }
            Some(&t) => {
                stack.push(i);
                let r = resolve(t, specs, index, vars, sources, memo, stack, errors);
                stack.pop();
                r
            }
        },
        Some(MatrixSpec::Axes(node)) => match interp::interpolate(node, vars, sources, errors) {
            Some(n) => axes_of(&specs[i].id, &n, errors),
            None => None,
        },
    };
    memo[i] = Some(result.clone());
    result
}

fn axes_of(stage: &str, node: &Node, errors: &mut Vec<Diag>) -> Option<Vec<Axis>> {
    let before = errors.len();
    let mut axes = Vec::new();
    for e in node.as_map().unwrap_or_default() {
        let valid = e
            .key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && e.key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            errors.push(
                Diag::error(format!("invalid matrix axis name `{}` in stage `{stage}`", e.key))
                    .at(e.key_span, "")
                    .help("axis names are identifiers (letters, digits, `_`) so that `${matrix.<axis>}` can name them"),
            );
            continue;
        }
        let (named, values): (bool, Vec<(String, Node)>) = match &e.value.value {
            Value::Seq(items) => {
                let mut vals = Vec::new();
                for it in items {
                    match it.scalar_text() {
                        Some(t) if !matches!(it.value, Value::Null) => vals.push((t, it.clone())),
                        _ => errors.push(
                            Diag::error(format!("matrix axis `{}` of stage `{stage}` lists {}", e.key, it.type_name()))
                                .at(it.span, "not a plain value")
                                .help(format!("list plain values (`{}: [a, b]`), or name structured ones: `{}: {{label: {{…}}}}`", e.key, e.key)),
                        ),
                    }
                }
                (false, vals)
            }
            Value::Map(m) => (
                true,
                m.iter().map(|x| (x.key.clone(), x.value.clone())).collect(),
            ),
            _ => {
                errors.push(
                    Diag::error(format!(
                        "matrix axis `{}` of stage `{stage}` must be a list or a mapping, found {}",
                        e.key,
                        e.value.type_name()
                    ))
                    .at(e.value.span, "")
                    .help(format!(
                        "e.g. `{}: [xsub, xview]` or `{}: {{B1: {{att: false}}}}`",
                        e.key, e.key
                    )),
                );
                continue;
            }
        };
        if values.is_empty() {
            errors.push(
                Diag::error(format!(
                    "matrix axis `{}` of stage `{stage}` has no values",
                    e.key
                ))
                .at(e.value.span, "empty")
                .help("give the axis at least one value, or remove it"),
            );
            continue;
        }
        let mut seen: Vec<&str> = Vec::new();
        for (label, v) in &values {
            let ok = label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c))
                && !label.is_empty();
            if !ok {
                errors.push(
                    Diag::error(format!("matrix label `{label}` of axis `{}` cannot be part of an instance id", e.key))
                        .at(v.span, "")
                        .help(format!(
                            "labels use letters, digits, `_ . + -`; name the value instead: `{}: {{my_label: {}}}`",
                            e.key,
                            if label.contains(' ') || label.contains(':') { format!("\"{label}\"") } else { label.clone() }
                        )),
                );
            } else if seen.contains(&label.as_str()) {
                errors.push(
                    Diag::error(format!(
                        "matrix axis `{}` of stage `{stage}` has the label `{label}` twice",
                        e.key
                    ))
                    .at(v.span, "duplicate")
                    .help("each value of an axis must be distinct"),
                );
            }
            seen.push(label);
        }
        axes.push(Axis {
            name: e.key.clone(),
            named,
            values,
        });
    }
    if errors.len() > before {
        None
    } else {
        Some(axes)
    }
}

/// Every combination of value indices, first axis outermost.
pub(super) fn combinations(axes: &[Axis]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = vec![Vec::new()];
    for a in axes {
        if out.len().saturating_mul(a.values.len()) > MAX_INSTANCES * 2 {
            return vec![Vec::new(); MAX_INSTANCES + 1];
        }
        out = out
            .into_iter()
            .flat_map(|c| (0..a.values.len()).map(move |v| [c.clone(), vec![v]].concat()))
            .collect();
    }
    out
}
