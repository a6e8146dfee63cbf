//! From checked stage specs to instances: kinds, `needs`, cycles, matrices, the needs join,
//! interpolation, the kinds' param checks, resources, seeds and tags. Every problem becomes
//! a located diagnostic; processing goes on as far as it sensibly can.

use std::collections::{BTreeMap, HashMap};

use skelflow_stages::{StageKind, Upstream, registry};

use super::{Instance, Resources, Stage, graph, instance_token, parse_bytes};
use crate::diag::{Diag, suggest};
use crate::spec::interp::{self, Scope};
use crate::spec::source::{SourceMap, Span};
use crate::spec::stage::{MatrixSpec, StageSpec};
use crate::spec::vars::VarScope;
use crate::spec::yaml::{Node, Value};

/// At most this many instances per stage (a typo in a sweep should not hang the planner).
const MAX_INSTANCES: usize = 100_000;

#[derive(Clone, Debug)]
struct Axis {
    name: String,
    /// Plain values (`[a, b]`) or named values (`{label: value}`).
    named: bool,
    /// (label, value)
    values: Vec<(String, Node)>,
}

pub(super) fn expand(
    specs: &[StageSpec],
    vars: &Node,
    pipeline_seed: Option<&Node>,
    sources: &SourceMap,
    errors: &mut Vec<Diag>,
) -> Option<(Vec<Stage>, Vec<Instance>)> {
    let reg = registry();
    let ids: Vec<String> = specs.iter().map(|s| s.id.clone()).collect();
    let index: HashMap<&str, usize> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let var_scope = VarScope::new(vars, sources);

    // Kinds.
    let kinds: Vec<Option<&dyn StageKind>> = specs
        .iter()
        .map(|s| {
            let k = s.kind.as_ref()?;
            let found = reg.get(&k.value);
            if found.is_none() {
                errors.push(
                    Diag::error(format!(
                        "unknown stage kind `{}` in stage `{}`",
                        k.value, s.id
                    ))
                    .at(k.span, "unknown kind")
                    .help(format!(
                        "{} (`skelflow kinds` describes them)",
                        suggest(
                            &k.value,
                            reg.names().iter().map(String::as_str),
                            "known kinds"
                        )
                    )),
                );
            }
            found
        })
        .collect();

    // Needs.
    let needs: Vec<Vec<usize>> = specs
        .iter()
        .map(|s| {
            s.needs
                .iter()
                .filter_map(|n| match index.get(n.value.as_str()) {
                    Some(&i) => Some(i),
                    None => {
                        errors.push(
                            Diag::error(format!(
                                "stage `{}` needs `{}`, which is not a stage of this pipeline",
                                s.id, n.value
                            ))
                            .at(n.span, "unknown stage")
                            .help(suggest(
                                &n.value,
                                ids.iter().map(String::as_str),
                                "stages",
                            )),
                        );
                        None
                    }
                })
                .collect()
        })
        .collect();

    // Cycles.
    let order = match graph::order(&needs) {
        Ok(o) => o,
        Err(cycles) => {
            for c in &cycles {
                let names: Vec<&str> = c
                    .iter()
                    .map(|&i| specs[i].id.as_str())
                    .chain([specs[c[0]].id.as_str()])
                    .collect();
                let mut d = Diag::error(format!("cycle in `needs`: {}", names.join(" → ")));
                for (k, &i) in c.iter().enumerate() {
                    let next = c[(k + 1) % c.len()];
                    let span = specs[i]
                        .needs
                        .iter()
                        .find(|n| n.value == specs[next].id)
                        .map(|n| n.span);
                    if let Some(span) = span {
                        let text = format!("`{}` needs `{}`", specs[i].id, specs[next].id);
                        d = if k == 0 {
                            d.at(span, text)
                        } else {
                            d.note(span, text)
                        };
                    }
                }
                errors.push(d.help("a stage cannot depend on itself, directly or through others: remove one of these `needs`"));
            }
            // Go on without the cycles' edges, so that the rest of the pipeline is checked
            // too (all errors at once); the pipeline is rejected either way.
            let acyclic: Vec<Vec<usize>> = needs
                .iter()
                .enumerate()
                .map(|(i, ns)| {
                    ns.iter()
                        .copied()
                        .filter(|n| !cycles.iter().any(|c| c.contains(&i) && c.contains(n)))
                        .collect()
                })
                .collect();
            graph::order(&acyclic).unwrap_or_default()
        }
    };

    // Matrices (a stage may follow another's matrix, which may follow another's…).
    let mut axes: Vec<Option<Option<Vec<Axis>>>> = vec![None; specs.len()];
    for i in 0..specs.len() {
        resolve_axes(
            i,
            specs,
            &index,
            &var_scope,
            sources,
            &mut axes,
            &mut Vec::new(),
            errors,
        );
    }

    // Instances, stage by stage in dependency order.
    let mut stages: Vec<Stage> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| Stage {
            id: s.id.clone(),
            id_span: s.id_span,
            kind: s.kind.as_ref().map(|k| k.value.clone()).unwrap_or_default(),
            desc: s.desc.clone(),
            resource_spans: s
                .resources
                .as_ref()
                .and_then(|r| r.as_map())
                .map(|m| m.iter().map(|e| (e.key.clone(), e.value.span)).collect())
                .unwrap_or_default(),
            needs: needs[i].clone(),
            axes: axes[i]
                .clone()
                .flatten()
                .unwrap_or_default()
                .iter()
                .map(|a| a.name.clone())
                .collect(),
            instances: Vec::new(),
        })
        .collect();
    let mut instances: Vec<Instance> = Vec::new();
    let default_seed = match pipeline_seed {
        Some(n) => match interp::interpolate(n, &var_scope, sources, errors) {
            Some(n) => seed_of(&n, errors).unwrap_or(0),
            None => 0,
        },
        None => 0,
    };
    for &si in &order {
        let spec = &specs[si];
        let Some(Some(stage_axes)) = axes[si].clone() else {
            continue;
        };
        let combos = combinations(&stage_axes);
        if combos.len() > MAX_INSTANCES {
            errors.push(
                Diag::error(format!(
                    "the matrix of stage `{}` has {} combinations (at most {MAX_INSTANCES})",
                    spec.id,
                    combos.len()
                ))
                .at(spec.id_span, "")
                .help("split the sweep into several stages or pipelines"),
            );
            continue;
        }
        for combo in combos {
            let labels: Vec<(String, String)> = stage_axes
                .iter()
                .zip(&combo)
                .map(|(a, &v)| (a.name.clone(), a.values[v].0.clone()))
                .collect();
            let id = if labels.is_empty() {
                spec.id.clone()
            } else {
                format!(
                    "{}[{}]",
                    spec.id,
                    labels
                        .iter()
                        .map(|(_, l)| l.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                )
            };

            // The needs join: upstream instances agreeing on every shared axis.
            let mut joined: BTreeMap<String, Vec<usize>> = BTreeMap::new();
            let mut up: Vec<usize> = Vec::new();
            for (n, need) in needs[si].iter().zip(
                spec.needs
                    .iter()
                    .filter(|n| index.contains_key(n.value.as_str())),
            ) {
                let matches: Vec<usize> = stages[*n]
                    .instances
                    .iter()
                    .copied()
                    .filter(|&ui| {
                        instances[ui].matrix.iter().all(|(axis, label)| {
                            labels.iter().all(|(a, l)| a != axis || l == label)
                        })
                    })
                    .collect();
                if matches.is_empty() && !stages[*n].instances.is_empty() {
                    let shared: Vec<String> = labels
                        .iter()
                        .filter(|(a, _)| stages[*n].axes.contains(a))
                        .map(|(a, l)| format!("{a} = {l}"))
                        .collect();
                    errors.push(
                        Diag::error(format!(
                            "`{id}` needs `{}`, but no instance of `{}` has {}",
                            need.value,
                            need.value,
                            shared.join(", ")
                        ))
                        .at(need.span, "no matching instance")
                        .help(format!(
                            "instances join on shared matrix axes; give `{}` the same labels on {}",
                            need.value,
                            shared
                                .iter()
                                .map(|s| s.split(' ').next().unwrap_or(""))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                }
                for &m in &matches {
                    if !up.contains(&m) {
                        up.push(m);
                    }
                }
                joined.insert(need.value.clone(), matches);
            }

            let scope = InstanceScope {
                vars: &var_scope,
                spec,
                stage_ids: &ids,
                axes: &stage_axes,
                combo: &combo,
                joined: &joined,
                instances: &instances,
            };
            let mut ok = true;
            let params = match &spec.params {
                Some(p) => {
                    let r = interp::interpolate(p, &scope, sources, errors);
                    ok = r.is_some();
                    r
                }
                None => None,
            };
            let resources = match &spec.resources {
                Some(r) => match interp::interpolate(r, &scope, sources, errors) {
                    Some(n) => resources_of(&n, &spec.id, errors),
                    None => Resources::default(),
                },
                None => Resources::default(),
            };
            let seed = match &spec.seed {
                Some(s) => match interp::interpolate(s, &scope, sources, errors) {
                    Some(n) => seed_of(&n, errors).unwrap_or(0),
                    None => 0,
                },
                None => default_seed,
            };
            // Inherited from upstream instances; a tag they disagree on is dropped (a
            // collecting stage does not pretend to be one of the instances it collects).
            let mut tags: BTreeMap<String, String> = BTreeMap::new();
            let mut conflicting: Vec<String> = Vec::new();
            for &u in &up {
                for (k, v) in &instances[u].tags {
                    match tags.get(k) {
                        _ if conflicting.contains(k) => {}
                        Some(old) if old != v => {
                            tags.remove(k);
                            conflicting.push(k.clone());
                        }
                        _ => {
                            tags.insert(k.clone(), v.clone());
                        }
                    }
                }
            }
            tags.extend(labels.iter().cloned());
            if let Some(t) = &spec.tags
                && let Some(n) = interp::interpolate(t, &scope, sources, errors)
            {
                {
                    for e in n.as_map().unwrap_or_default() {
                        match e.value.scalar_text() {
                            Some(v) => {
                                tags.insert(e.key.clone(), v);
                            }
                            None => errors.push(
                                Diag::error(format!("tag `{}` of stage `{}` must be a plain value, found {}", e.key, spec.id, e.value.type_name()))
                                    .at(e.value.span, "")
                                    .help("tags are short labels for reports, e.g. `tags: {method: a2mc}`"),
                            ),
                        }
                    }
                }
            }

            // The kind's own checks.
            let mut canonical = serde_json::Value::Null;
            if let (Some(kind), true) = (kinds[si], ok) {
                let given = params
                    .as_ref()
                    .map(Node::to_json)
                    .unwrap_or(serde_json::Value::Null);
                let checked = kind.check(&given).and_then(|c| {
                    let upstreams: Vec<Upstream> =
                        up.iter().map(|&u| upstream_of(&instances, u)).collect();
                    let problems = kind.check_inputs(&c, &upstreams);
                    if problems.is_empty() { Ok(c) } else { Err(problems) }
                });
                match checked {
                    Ok(c) => canonical = c,
                    Err(problems) => {
                        for p in problems {
                            errors.push(param_diag(
                                &p,
                                kind.name(),
                                spec,
                                params.as_ref(),
                                &id,
                                labels.is_empty(),
                            ));
                        }
                    }
                }
            }
            let idx = instances.len();
            stages[si].instances.push(idx);
            instances.push(Instance {
                id,
                stage: si,
                kind: stages[si].kind.clone(),
                matrix: labels,
                params: canonical,
                needs: up,
                resources,
                seed,
                tags,
            });
        }
    }
    if errors.is_empty() {
        Some((stages, instances))
    } else {
        None
    }
}

/// What a kind's input check sees of upstream instance `i`: its kind, canonical params
/// and, recursively, its own upstreams.
fn upstream_of(instances: &[Instance], i: usize) -> Upstream {
    let inst = &instances[i];
    Upstream {
        instance: inst.id.clone(),
        kind: inst.kind.clone(),
        params: inst.params.clone(),
        inputs: inst.needs.iter().map(|&u| upstream_of(instances, u)).collect(),
    }
}

fn param_diag(
    p: &skelflow_contract::ParamError,
    kind: &str,
    spec: &StageSpec,
    params: Option<&Node>,
    id: &str,
    single: bool,
) -> Diag {
    let path = p.path_string();
    let message = if path.is_empty() {
        format!("invalid params in stage `{}`: {}", spec.id, p.message)
    } else {
        format!(
            "invalid param `{path}` in stage `{}`: {}",
            spec.id, p.message
        )
    };
    let unknown = p.message == "unknown param";
    let (span, mut label) = match params {
        Some(n) if unknown => (key_span_at(n, &p.path).unwrap_or(n.span), String::new()),
        Some(n) if p.path.is_empty() || reaches(n, &p.path) => {
            (n.deepest(&p.path).span, String::new())
        }
        Some(n) if p.path.len() == 1 => (
            spec.params_key.unwrap_or(n.span),
            format!("`{path}` is not set here"),
        ),
        Some(n) => (n.deepest(&p.path).span, format!("`{path}` is not set here")),
        None => (
            spec.id_span,
            if path.is_empty() {
                String::new()
            } else {
                format!("`{path}` is not set")
            },
        ),
    };
    if !single {
        label = if label.is_empty() {
            format!("in `{id}`")
        } else {
            format!("{label} (in `{id}`)")
        };
    }
    let help = p.hint.clone().unwrap_or_else(|| {
        format!("`skelflow kinds {kind}` lists the params of `{kind}` with their types")
    });
    Diag::error(message).at(span, label).help(help)
}

/// The span of the key that ends `path` (for unknown params: point at the name).
fn key_span_at(n: &Node, path: &[skelflow_contract::PathSeg]) -> Option<Span> {
    use skelflow_contract::PathSeg;
    let (last, parents) = path.split_last()?;
    let parent = n.deepest(parents);
    match (last, &parent.value) {
        (PathSeg::Key(k), Value::Map(m)) => m.iter().find(|e| &e.key == k).map(|e| e.key_span),
        _ => None,
    }
}

/// Does `path` exist in `n` all the way down?
fn reaches(n: &Node, path: &[skelflow_contract::PathSeg]) -> bool {
    use skelflow_contract::PathSeg;
    let mut cur = n;
    for seg in path {
        let next = match (seg, &cur.value) {
            (PathSeg::Key(k), Value::Map(m)) => m.iter().find(|e| &e.key == k).map(|e| &e.value),
            (PathSeg::Index(i), Value::Seq(s)) => s.get(*i),
            // inside a value substituted from `${…}`: the reference is the place to point at
            (_, Value::Str(_))
            | (_, Value::Int(_))
            | (_, Value::Float(_))
            | (_, Value::Bool(_)) => return true,
            _ => None,
        };
        match next {
            Some(x) => cur = x,
            None => return false,
        }
    }
    true
}

#[allow(clippy::too_many_arguments)]
fn resolve_axes(
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
                errors.push(
                    Diag::error(format!(
                        "stage `{}` follows the matrix of `{}`, which is not a stage",
                        specs[i].id, target.value
                    ))
                    .at(target.span, "unknown stage")
                    .help(suggest(
                        &target.value,
                        specs.iter().map(|s| s.id.as_str()),
                        "stages",
                    )),
                );
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
                let r = resolve_axes(t, specs, index, vars, sources, memo, stack, errors);
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
fn combinations(axes: &[Axis]) -> Vec<Vec<usize>> {
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

fn seed_of(n: &Node, errors: &mut Vec<Diag>) -> Option<u64> {
    match n.value {
        Value::Int(i) if i >= 0 => Some(i as u64),
        _ => {
            errors.push(
                Diag::error(format!("`seed` must be an integer >= 0, found {}", describe(n)))
                    .at(n.span, "")
                    .help("e.g. `seed: 0`, or `seed: ${matrix.seed}` with plain integer values on the axis"),
            );
            None
        }
    }
}

fn resources_of(n: &Node, stage: &str, errors: &mut Vec<Diag>) -> Resources {
    let mut r = Resources::default();
    for e in n.as_map().unwrap_or_default() {
        let v = &e.value;
        match e.key.as_str() {
            "cpus" => match v.value {
                Value::Int(i) if i >= 1 && i <= u32::MAX as i64 => r.cpus = i as u32,
                _ => errors.push(
                    Diag::error(format!(
                        "`resources.cpus` of stage `{stage}` must be an integer >= 1, found {}",
                        describe(v)
                    ))
                    .at(v.span, "")
                    .help("the number of CPU cores the stage uses, e.g. `cpus: 2`"),
                ),
            },
            "gpus" => match v.value {
                Value::Int(i) if i >= 0 && i <= u32::MAX as i64 => r.gpus = i as u32,
                _ => errors.push(
                    Diag::error(format!(
                        "`resources.gpus` of stage `{stage}` must be an integer >= 0, found {}",
                        describe(v)
                    ))
                    .at(v.span, "")
                    .help("the number of GPUs the stage uses, e.g. `gpus: 1`"),
                ),
            },
            "mem" => {
                let bytes = match &v.value {
                    Value::Int(i) if *i >= 0 => Some(*i as u64),
                    Value::Str(s) => parse_bytes(s),
                    _ => None,
                };
                match bytes {
                    Some(b) => r.mem = b,
                    None => errors.push(
                        Diag::error(format!(
                            "`resources.mem` of stage `{stage}` must be a size, found {}",
                            describe(v)
                        ))
                        .at(v.span, "")
                        .help("bytes, or a number with K, M, G or T, e.g. `mem: 4G`"),
                    ),
                }
            }
            "time" => r.time = v.scalar_text(),
            _ => {}
        }
    }
    r
}

fn describe(n: &Node) -> String {
    match n.scalar_text() {
        Some(t) if n.is_scalar() => format!("`{t}`"),
        _ => n.type_name().to_string(),
    }
}

/// References seen from one stage instance.
struct InstanceScope<'a> {
    vars: &'a VarScope<'a>,
    spec: &'a StageSpec,
    stage_ids: &'a [String],
    axes: &'a [Axis],
    combo: &'a [usize],
    /// needed stage id → matching upstream instances
    joined: &'a BTreeMap<String, Vec<usize>>,
    instances: &'a [Instance],
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
        let mut cur = value;
        for (k, seg) in rest[1..].iter().enumerate() {
            let next = match &cur.value {
                Value::Map(m) => m.iter().find(|e| e.key == *seg).map(|e| &e.value),
                Value::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            };
            cur = match next {
                Some(n) => n,
                None => {
                    let at = format!(
                        "matrix.{axis_name}{}",
                        rest[1..=k]
                            .iter()
                            .take(k)
                            .map(|s| format!(".{s}"))
                            .collect::<String>()
                    );
                    let known: Vec<&str> = cur
                        .as_map()
                        .map(|m| m.iter().map(|e| e.key.as_str()).collect())
                        .unwrap_or_default();
                    return Err(Diag::error(format!("`${{{path}}}`: the value `{label}` of axis `{axis_name}` has no field `{seg}`"))
                        .at(span, "")
                        .note(value.span, format!("`{label}` is defined here"))
                        .help(suggest(seg, known.iter().copied(), &format!("fields of `{at}`"))));
                }
            };
        }
        Ok(cur.clone())
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
