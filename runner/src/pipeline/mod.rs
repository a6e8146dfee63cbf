//! A pipeline as the runner uses it: loaded, merged, overridden, validated and expanded into
//! stage instances in dependency order. Nothing here touches the cache.

mod expand;
pub mod graph;
mod resources;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use resources::{
    Resources, format_bytes, format_time, parse_bytes, parse_time, slurm_time_arg,
};

use crate::diag::{self, Diag};
use crate::spec::load;
use crate::spec::source::{SourceMap, Span, normalize};
use crate::spec::stage;
use crate::spec::vars::{self, Overrides};
use crate::spec::yaml::{Node, Value};

pub struct Pipeline {
    /// `name:` — names run records and reports.
    pub name: String,
    /// The pipeline file, absolute.
    pub file: PathBuf,
    /// Its directory: relative paths in params resolve against it; `.skelflow/` lives here.
    pub dir: PathBuf,
    /// The variables after overrides, references resolved.
    pub vars: serde_json::Value,
    /// `report:` as written, for the reports crate.
    pub report: Option<serde_json::Value>,
    /// `executor:` as written, and where (the executors check it).
    pub executor: Option<(serde_json::Value, Span)>,
    /// Stages in file order.
    pub stages: Vec<Stage>,
    /// Every stage instance, in dependency order.
    pub instances: Vec<Instance>,
    /// The files the pipeline was read from (for later diagnostics such as resource checks).
    pub sources: SourceMap,
}

pub struct Stage {
    pub id: String,
    pub id_span: Span,
    pub kind: String,
    pub desc: Option<String>,
    /// Where each `resources:` entry (`cpus`, `gpus`, `mem`) is written, for resource errors.
    pub resource_spans: Vec<(String, Span)>,
    /// Each top-level param as written (`root: "${data.root}"`): name, value span, and the
    /// text of a string value, for messages about a param's value.
    pub param_sources: Vec<(String, Span, Option<String>)>,
    /// Indices into `Pipeline::stages`.
    pub needs: Vec<usize>,
    pub axes: Vec<String>,
    /// Indices into `Pipeline::instances`, in matrix order.
    pub instances: Vec<usize>,
}

pub struct Instance {
    /// `stage` or `stage[label1,label2]`.
    pub id: String,
    /// Index into `Pipeline::stages`.
    pub stage: usize,
    pub kind: String,
    /// (axis, label) in axis order.
    pub matrix: Vec<(String, String)>,
    /// Canonical params from the kind's `check`; `${S.output}` appears as
    /// [`instance_token`]s until keys are known.
    pub params: serde_json::Value,
    /// Upstream instances (indices into `Pipeline::instances`, all earlier than this one).
    pub needs: Vec<usize>,
    pub resources: Resources,
    pub seed: u64,
    pub tags: BTreeMap<String, String>,
}

/// The pipeline could not be used: every problem found, and the files to show them in.
pub struct Invalid {
    pub diags: Vec<Diag>,
    pub sources: SourceMap,
}

impl Invalid {
    pub fn render(&self, style: diag::Style) -> String {
        diag::render(&self.diags, &self.sources, style)
    }
}

/// How `${S.output}` of instance `id` is written in params before keys exist.
pub fn instance_token(id: &str) -> String {
    format!("<instance:{id}>")
}

impl Pipeline {
    /// Load, validate and expand `path` with the given variable overrides.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Pipeline, Invalid> {
        let file = normalize(&std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()));
        let dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        let mut sources = SourceMap::new();
        let mut errors = Vec::new();
        let merged = load::load(&file, &mut sources, &mut errors);
        let Some(mut merged) = merged else {
            diag::normalize(&mut errors);
            return Err(Invalid {
                diags: errors,
                sources,
            });
        };
        let name = match &merged.name {
            Some(n) => {
                let ok = n
                    .value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
                if !ok {
                    errors.push(
                        Diag::error(format!("invalid pipeline name `{}`", n.value))
                            .at(n.span, "")
                            .help("use letters, digits, `_`, `-` and `.`: the name becomes a directory"),
                    );
                }
                n.value.clone()
            }
            None => {
                let root = merged.root;
                errors.push(
                    Diag::error("the pipeline has no `name`")
                        .at(Span::new(root, 0, 0), "")
                        .help(
                            "add `name: my_pipeline` at the top: it names run records and reports",
                        ),
                );
                String::new()
            }
        };
        vars::apply(&mut merged.vars, overrides, &mut sources, &mut errors);
        let var_span = Span::new(merged.root, 0, 0);
        let vars_node = Node::new(var_span, Value::Map(std::mem::take(&mut merged.vars)));
        let specs: Vec<stage::StageSpec> = merged
            .stages
            .iter()
            .filter_map(|s| stage::check(s, &mut errors))
            .collect();
        if specs.is_empty() && merged.stages.is_empty() {
            errors.push(
                Diag::error("the pipeline has no stages")
                    .at(Span::new(merged.root, 0, 0), "")
                    .help("add `stages:` with at least one stage, e.g. `hello: {kind: shell, params: {cmd: echo hi}}`"),
            );
        }
        let expanded = expand::expand(
            &specs,
            &vars_node,
            merged.seed.as_ref(),
            &sources,
            &mut errors,
        );
        if let Some(report) = &merged.report {
            check_report(report, &file, expanded.as_ref(), &mut errors);
        }
        if !errors.is_empty() {
            diag::normalize(&mut errors);
            return Err(Invalid {
                diags: errors,
                sources,
            });
        }
        let (stages, instances) = expanded.expect("no errors means expanded");
        Ok(Pipeline {
            name,
            file,
            dir,
            vars: vars::resolved_json(&vars_node, &sources),
            report: merged.report.as_ref().map(Node::to_json),
            executor: merged.executor.as_ref().map(|n| (n.to_json(), n.span)),
            stages,
            instances,
            sources,
        })
    }

    pub fn instance(&self, id: &str) -> Option<usize> {
        self.instances.iter().position(|i| i.id == id)
    }

    /// Resolve a user-given instance id, with a did-you-mean; a stage id with a single
    /// instance also works.
    pub fn find_instance(&self, id: &str) -> Result<usize, FindError> {
        if let Some(i) = self.instance(id) {
            return Ok(i);
        }
        if let Some(s) = self.stages.iter().find(|s| s.id == id) {
            if s.instances.len() == 1 {
                return Ok(s.instances[0]);
            }
            return Err(FindError::Matrix {
                stage: id.to_string(),
                instances: s
                    .instances
                    .iter()
                    .map(|&i| self.instances[i].id.clone())
                    .collect(),
            });
        }
        let ids: Vec<&str> = self.instances.iter().map(|i| i.id.as_str()).collect();
        let close = diag::did_you_mean(
            id,
            self.stages
                .iter()
                .map(|s| s.id.as_str())
                .chain(ids.iter().copied()),
        );
        Err(FindError::Unknown {
            id: id.to_string(),
            pipeline: self.name.clone(),
            close: close.map(str::to_string),
            instances: ids.iter().map(|s| s.to_string()).collect(),
        })
    }
}

/// A user-given instance id that names no single instance of the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error("stage `{stage}` has a matrix; name one instance: {}", .instances.join(", "))]
    Matrix {
        stage: String,
        instances: Vec<String>,
    },
    #[error(
        "no instance `{id}` in pipeline `{pipeline}`; {}instances: {}",
        .close.as_ref().map(|c| format!("did you mean `{c}`? ")).unwrap_or_default(),
        .instances.join(", ")
    )]
    Unknown {
        id: String,
        pipeline: String,
        /// The closest stage or instance id, if one is close.
        close: Option<String>,
        instances: Vec<String>,
    },
}

/// Validate `report:` with the reports crate, pointing each problem at its YAML node. Tag
/// names are checked against the instances' tags when the stages expanded.
fn check_report(
    report: &Node,
    file: &Path,
    expanded: Option<&(Vec<Stage>, Vec<Instance>)>,
    errors: &mut Vec<Diag>,
) {
    let tags: Option<std::collections::BTreeSet<String>> = expanded.map(|(_, instances)| {
        instances
            .iter()
            .flat_map(|i| i.tags.keys().cloned())
            .collect()
    });
    let ctx = skelflow_reports::SpecContext {
        pipeline_file: Some(file),
        tags: tags.as_ref(),
    };
    for e in skelflow_reports::validate_spec_with(&report.to_json(), &ctx) {
        let at = report.walk(&report_path(&e.path)).node;
        errors.push(
            Diag::error(format!("invalid `{}`: {}", e.path, e.message))
                .at(at.span, "")
                .maybe_help(e.hint),
        );
    }
}

/// `report.tables[1].columns.by` -> [tables, 1, columns, by] (below the `report:` node).
fn report_path(path: &str) -> Vec<skelflow_contract::PathSeg> {
    use skelflow_contract::PathSeg;
    let mut segs = Vec::new();
    for part in path.split('.') {
        let (key, indices) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            segs.push(PathSeg::Key(key.to_string()));
        }
        for ix in indices.split('[') {
            if let Ok(i) = ix.trim_end_matches(']').parse() {
                segs.push(PathSeg::Index(i));
            }
        }
    }
    if segs.first() == Some(&PathSeg::Key("report".into())) {
        segs.remove(0);
    }
    segs
}
