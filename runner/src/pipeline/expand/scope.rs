//! What `${…}` means inside one stage instance: a var, `matrix.<axis>` (and fields of a
//! named value), or `<stage>.output(s)` of the upstream instances it joined.

use std::collections::BTreeMap;

use super::matrix::Axis;
use crate::diag::{Diag, suggest};
use crate::pipeline::{Instance, instance_token};
use crate::spec::interp::Scope;
use crate::spec::source::Span;
use crate::spec::stage::StageSpec;
use crate::spec::vars::VarScope;
use crate::spec::yaml::{Node, Value};

/// References seen from one stage instance.
pub(super) struct InstanceScope<'a> {
    pub vars: &'a VarScope<'a>,
    pub spec: &'a StageSpec,
    pub stage_ids: &'a [String],
    pub axes: &'a [Axis],
    pub combo: &'a [usize],
    /// needed stage id → matching upstream instances
    pub joined: &'a BTreeMap<String, Vec<usize>>,
    pub instances: &'a [Instance],
}

impl Scope for InstanceScope<'_> {
    fn lookup(&self, path: &str, span: Span) -> Result<Node, Diag> {
        let segs: Vec<&str> = path.split('.').collect();
        let root = segs[0];
        if root == "matrix" {
            return self.matrix(path, &segs[1..], span);
        }
        let is_stage = self.stage_ids.iter().any(|s| s == root);
        if is_stage && segs.len() == 2 && (segs[1] == "output" || segs[1] == "outputs") {
            return self.output(root, segs[1] == "outputs", span);
        }
        if self.vars.has_root(root) {
            return self.vars.lookup(path, span);
        }
        if is_stage {
            return Err(Diag::error(format!("`${{{path}}}`: a stage can only be referenced as `${{{root}.output}}` or `${{{root}.outputs}}`"))
                .at(span, "")
                .help(format!("`${{{root}.output}}` is the artifact directory of the matching `{root}` instance")));
        }
        if segs.len() == 2 && (segs[1] == "output" || segs[1] == "outputs") {
            return Err(
                Diag::error(format!("unknown stage `{root}` in `${{{path}}}`"))
                    .at(span, "")
                    .help(suggest(
                        root,
                        self.stage_ids.iter().map(String::as_str),
                        "stages",
                    )),
            );
        }
        let mut names: Vec<&str> = self.vars.roots();
        names.extend(self.stage_ids.iter().map(String::as_str));
        names.push("matrix");
        let help = match crate::diag::did_you_mean(root, names.iter().copied()) {
            Some(s) => format!(
                "did you mean `{s}`? references name a var, `matrix.<axis>` or `<stage>.output`; declared vars: {}",
                self.vars.roots().join(", ")
            ),
            None => format!(
                "references name a var, `matrix.<axis>` or `<stage>.output`; declared vars: {}; to pass `${{…}}` to a shell, write `$${{…}}`",
                if self.vars.roots().is_empty() {
                    "none".to_string()
                } else {
                    self.vars.roots().join(", ")
                }
            ),
        };
        Err(
            Diag::error(format!("unknown variable `{root}` in `${{{path}}}`"))
                .at(span, "")
                .help(help),
        )
    }
}

impl InstanceScope<'_> {
    fn matrix(&self, path: &str, rest: &[&str], span: Span) -> Result<Node, Diag> {
        let names: Vec<&str> = self.axes.iter().map(|a| a.name.as_str()).collect();
        let Some(axis_name) = rest.first() else {
            return Err(Diag::error("`${matrix}` needs an axis name")
                .at(span, "")
                .help(format!(
                    "write `${{matrix.<axis>}}`; axes: {}",
                    names.join(", ")
                )));
        };
        let Some(ai) = self.axes.iter().position(|a| a.name == *axis_name) else {
            let help = if names.is_empty() {
                format!(
                    "stage `{}` has no matrix; add `matrix: {{{axis_name}: [...]}}` or remove the reference",
                    self.spec.id
                )
            } else {
                suggest(axis_name, names.iter().copied(), "axes of this stage")
            };
            return Err(Diag::error(format!(
                "unknown matrix axis `{axis_name}` in `${{{path}}}` (stage `{}`)",
                self.spec.id
            ))
            .at(span, "")
            .help(help));
        };
        let axis = &self.axes[ai];
        let (label, value) = &axis.values[self.combo[ai]];
        if rest.len() == 1 {
            return Ok(if axis.named {
                Node::new(span, Value::Str(label.clone()))
            } else {
                value.clone()
            });
        }
        if !axis.named {
            return Err(Diag::error(format!("`${{{path}}}`: axis `{axis_name}` has plain values, which have no fields"))
                .at(span, "")
                .help(format!("use `${{matrix.{axis_name}}}`, or give the axis named values: `{axis_name}: {{label: {{field: …}}}}`")));
        }
        let fields = &rest[1..];
        let w = value.walk(fields);
        if w.depth < fields.len() {
            let seg = fields[w.depth];
            let at = format!(
                "matrix.{axis_name}{}",
                fields[..w.depth]
                    .iter()
                    .map(|s| format!(".{s}"))
                    .collect::<String>()
            );
            let known: Vec<&str> = w
                .node
                .as_map()
                .map(|m| m.iter().map(|e| e.key.as_str()).collect())
                .unwrap_or_default();
            return Err(Diag::error(format!(
                "`${{{path}}}`: the value `{label}` of axis `{axis_name}` has no field `{seg}`"
            ))
            .at(span, "")
            .note(value.span, format!("`{label}` is defined here"))
            .help(suggest(
                seg,
                known.iter().copied(),
                &format!("fields of `{at}`"),
            )));
        }
        Ok(w.node.clone())
    }

    fn output(&self, stage: &str, all: bool, span: Span) -> Result<Node, Diag> {
        let Some(matches) = self.joined.get(stage) else {
            return Err(Diag::error(format!("`${{{stage}.output{}}}` refers to stage `{stage}`, which is not in `needs` of `{}`", if all { "s" } else { "" }, self.spec.id))
                .at(span, "")
                .help(format!("add it: `needs: [{}]`", self.spec.needs.iter().map(|n| n.value.as_str()).chain([stage]).collect::<Vec<_>>().join(", "))));
        };
        if all {
            let items = matches
                .iter()
                .map(|&m| Node::new(span, Value::Str(instance_token(&self.instances[m].id))))
                .collect();
            return Ok(Node::new(span, Value::Seq(items)));
        }
        match matches.as_slice() {
            [one] => Ok(Node::new(span, Value::Str(instance_token(&self.instances[*one].id)))),
            // No match is already an error of the join; do not report it twice.
            [] => Ok(Node::new(span, Value::Str(String::new()))),
            many => Err(Diag::error(format!(
                "`${{{stage}.output}}` is ambiguous in stage `{}`: it matches {} instances of `{stage}`",
                self.spec.id,
                many.len()
            ))
            .at(span, "matches several instances")
            .help(format!(
                "use `${{{stage}.outputs}}` for all of them, or give `{}` the matrix axes that pick one (`matrix: {stage}`)",
                self.spec.id
            ))),
        }
    }
}
