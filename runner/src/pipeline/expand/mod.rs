//! From checked stage specs to instances: kinds, `needs`, cycles, matrices ([`matrix`]),
//! the needs join, interpolation ([`scope`]), the kinds' param and input checks, resources
//! and seeds ([`resources`]), and tags. Every problem becomes a located diagnostic;
//! processing goes on as far as it sensibly can.

mod matrix;
mod resources;
mod scope;

use std::collections::{BTreeMap, HashMap};

use skelflow_contract::PathSeg;
use skelflow_stages::{StageKind, Upstream, registry};

use super::{Instance, Resources, Stage, graph};
use crate::diag::{Diag, suggest};
use crate::spec::interp;
use crate::spec::source::{SourceMap, Span};
use crate::spec::stage::StageSpec;
use crate::spec::vars::VarScope;
use crate::spec::yaml::{Node, Value};
use resources::{resources_of, seed_of};
use scope::InstanceScope;

/// At most this many instances per stage (a typo in a sweep should not hang the planner).
const MAX_INSTANCES: usize = 100_000;

pub(super) fn expand(
    specs: &[StageSpec],
    vars: &Node,
    pipeline_seed: Option<&Node>,
    sources: &SourceMap,
    errors: &mut Vec<Diag>,
) -> Option<(Vec<Stage>, Vec<Instance>)> {
    let ids: Vec<String> = specs.iter().map(|s| s.id.clone()).collect();
    let index: HashMap<&str, usize> = specs
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let var_scope = VarScope::new(vars, sources);

    let kinds = kinds_of(specs, errors);
    let needs = needs_of(specs, &index, &ids, errors);
    let order = dependency_order(specs, &needs, errors);
    let axes = matrix::resolve_all(specs, &index, &var_scope, sources, errors);

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
            param_sources: s
                .params
                .as_ref()
                .and_then(|r| r.as_map())
                .map(|m| {
                    m.iter()
                        .map(|e| {
                            (
                                e.key.clone(),
                                e.value.span,
                                e.value.as_str().map(str::to_string),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            needs: needs[i].clone(),
            axes: axes[i]
                .as_deref()
                .unwrap_or_default()
                .iter()
                .map(|a| a.name.clone())
                .collect(),
            instances: Vec::new(),
        })
        .collect();
    let default_seed = match pipeline_seed {
        Some(n) => match interp::interpolate(n, &var_scope, sources, errors) {
            Some(n) => seed_of(&n, errors).unwrap_or(0),
            None => 0,
        },
        None => 0,
    };

    // Instances, stage by stage in dependency order.
    let mut instances: Vec<Instance> = Vec::new();
    for &si in &order {
        let spec = &specs[si];
        let Some(stage_axes) = &axes[si] else {
            continue;
        };
        let combos = matrix::combinations(stage_axes);
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
            let id = instance_id(&spec.id, &labels);
            let (joined, up) = join(
                spec, &needs[si], &index, &stages, &instances, &labels, &id, errors,
            );
            let scope = InstanceScope {
                vars: &var_scope,
                spec,
                stage_ids: &ids,
                axes: stage_axes,
                combo: &combo,
                joined: &joined,
                instances: &instances,
            };
            let (params, interpolated) = match &spec.params {
                Some(p) => {
                    let r = interp::interpolate(p, &scope, sources, errors);
                    let ok = r.is_some();
                    (r, ok)
                }
                None => (None, true),
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
            let mut tags = inherited_tags(&instances, &up);
            tags.extend(labels.iter().cloned());
            if let Some(t) = &spec.tags
                && let Some(n) = interp::interpolate(t, &scope, sources, errors)
            {
                declared_tags(&n, &spec.id, &mut tags, errors);
            }
            let canonical = match (kinds[si], interpolated) {
                (Some(kind), true) => {
                    let site = ParamSite {
                        spec,
                        params: params.as_ref(),
                        id: &id,
                        single: labels.is_empty(),
                    };
                    check_kind(kind, &site, &instances, &up, errors)
                }
                _ => serde_json::Value::Null,
            };
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

/// Each stage's kind from the registry (`None` where unknown or not given).
fn kinds_of(specs: &[StageSpec], errors: &mut Vec<Diag>) -> Vec<Option<&'static dyn StageKind>> {
    let reg = registry();
    specs
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
        .collect()
}

/// Each stage's `needs` as stage indices (unknown stages are errors and left out).
fn needs_of(
    specs: &[StageSpec],
    index: &HashMap<&str, usize>,
    ids: &[String],
    errors: &mut Vec<Diag>,
) -> Vec<Vec<usize>> {
    specs
        .iter()
        .map(|s| {
            s.needs
                .iter()
                .filter_map(|n| {
                    let found = index.get(n.value.as_str()).copied();
                    if found.is_none() {
                        errors.push(Diag::unknown(
                            format!(
                                "stage `{}` needs `{}`, which is not a stage of this pipeline",
                                s.id, n.value
                            ),
                            (n.span, "unknown stage"),
                            &n.value,
                            ids.iter().map(String::as_str),
                            "stages",
                        ));
                    }
                    found
                })
                .collect()
        })
        .collect()
}

/// The stages in dependency order. Each cycle is an error; the rest of the pipeline is then
/// ordered without the cycles' edges, so that it is checked too (all errors at once).
fn dependency_order(
    specs: &[StageSpec],
    needs: &[Vec<usize>],
    errors: &mut Vec<Diag>,
) -> Vec<usize> {
    let cycles = match graph::order(needs) {
        Ok(o) => return o,
        Err(cycles) => cycles,
    };
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

/// `stage` or `stage[label1,label2]`.
fn instance_id(stage: &str, labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return stage.to_string();
    }
    let labels: Vec<&str> = labels.iter().map(|(_, l)| l.as_str()).collect();
    format!("{stage}[{}]", labels.join(","))
}

/// The needs join: for each needed stage, its instances agreeing with `labels` on every
/// shared axis (by stage id), and all of them together in order (the instance's upstreams).
#[allow(clippy::too_many_arguments)]
fn join(
    spec: &StageSpec,
    needs: &[usize],
    index: &HashMap<&str, usize>,
    stages: &[Stage],
    instances: &[Instance],
    labels: &[(String, String)],
    id: &str,
    errors: &mut Vec<Diag>,
) -> (BTreeMap<String, Vec<usize>>, Vec<usize>) {
    let mut joined: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut up: Vec<usize> = Vec::new();
    let known_needs = spec
        .needs
        .iter()
        .filter(|n| index.contains_key(n.value.as_str()));
    for (n, need) in needs.iter().zip(known_needs) {
        let matches: Vec<usize> = stages[*n]
            .instances
            .iter()
            .copied()
            .filter(|&ui| {
                instances[ui]
                    .matrix
                    .iter()
                    .all(|(axis, label)| labels.iter().all(|(a, l)| a != axis || l == label))
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
    (joined, up)
}

/// Tags inherited from the upstream instances; a tag they disagree on is dropped (a
/// collecting stage does not pretend to be one of the instances it collects).
fn inherited_tags(instances: &[Instance], up: &[usize]) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = BTreeMap::new();
    let mut conflicting: Vec<String> = Vec::new();
    for &u in up {
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
    tags
}

/// A stage's own `tags:` (interpolated) over what it inherited.
fn declared_tags(
    n: &Node,
    stage: &str,
    tags: &mut BTreeMap<String, String>,
    errors: &mut Vec<Diag>,
) {
    for e in n.as_map().unwrap_or_default() {
        match e.value.scalar_text() {
            Some(v) => {
                tags.insert(e.key.clone(), v);
            }
            None => errors.push(
                Diag::error(format!(
                    "tag `{}` of stage `{stage}` must be a plain value, found {}",
                    e.key,
                    e.value.type_name()
                ))
                .at(e.value.span, "")
                .help("tags are short labels for reports, e.g. `tags: {method: a2mc}`"),
            ),
        }
    }
}

/// Where an instance's params are written, for locating the kind's complaints.
struct ParamSite<'a> {
    spec: &'a StageSpec,
    /// The interpolated params (`None`: the stage has no `params:`).
    params: Option<&'a Node>,
    /// The instance id.
    id: &'a str,
    /// The stage has one instance (no matrix): no need to say which.
    single: bool,
}

/// The kind's own checks of an instance's params, then of its upstream instances: the
/// canonical params, or `Null` with every problem pushed.
fn check_kind(
    kind: &dyn StageKind,
    site: &ParamSite,
    instances: &[Instance],
    up: &[usize],
    errors: &mut Vec<Diag>,
) -> serde_json::Value {
    let given = site
        .params
        .map(Node::to_json)
        .unwrap_or(serde_json::Value::Null);
    let checked = kind.check(&given).and_then(|c| {
        let upstreams: Vec<Upstream> = up.iter().map(|&u| upstream_of(instances, u)).collect();
        let problems = kind.check_inputs(&c, &upstreams);
        if problems.is_empty() {
            Ok(c)
        } else {
            Err(problems)
        }
    });
    match checked {
        Ok(c) => c,
        Err(problems) => {
            errors.extend(problems.iter().map(|p| param_diag(p, kind.name(), site)));
            serde_json::Value::Null
        }
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
        inputs: inst
            .needs
            .iter()
            .map(|&u| upstream_of(instances, u))
            .collect(),
    }
}

/// A kind's complaint about a param, pointed at the YAML: an unknown param at its name,
/// a bad value at the value (or at the `${…}` it came from), a missing one at `params:`.
fn param_diag(p: &skelflow_contract::ParamError, kind: &str, site: &ParamSite) -> Diag {
    let spec = site.spec;
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
    let (span, mut label) = match site.params {
        Some(n) if unknown => (key_span_at(n, &p.path).unwrap_or(n.span), String::new()),
        Some(n) if p.path.is_empty() || reaches(n, &p.path) => {
            (n.walk(&p.path).node.span, String::new())
        }
        Some(n) if p.path.len() == 1 => (
            spec.params_key.unwrap_or(n.span),
            format!("`{path}` is not set here"),
        ),
        Some(n) => (
            n.walk(&p.path).node.span,
            format!("`{path}` is not set here"),
        ),
        None => (
            spec.id_span,
            if path.is_empty() {
                String::new()
            } else {
                format!("`{path}` is not set")
            },
        ),
    };
    if !site.single {
        label = if label.is_empty() {
            format!("in `{}`", site.id)
        } else {
            format!("{label} (in `{}`)", site.id)
        };
    }
    let help = p.hint.clone().unwrap_or_else(|| {
        format!("`skelflow kinds {kind}` lists the params of `{kind}` with their types")
    });
    Diag::error(message).at(span, label).help(help)
}

/// The span of the key that ends `path` (for unknown params: point at the name), looked
/// up in the deepest node its parents reach.
fn key_span_at(n: &Node, path: &[PathSeg]) -> Option<Span> {
    let (last, parents) = path.split_last()?;
    let w = n.walk(parents).node.walk(std::slice::from_ref(last));
    w.entry.filter(|_| w.depth == 1).map(|e| e.key_span)
}

/// Does `path` exist in `n` all the way down? A path that runs into a scalar counts: the
/// value was substituted from `${…}`, and the reference is the place to point at.
fn reaches(n: &Node, path: &[PathSeg]) -> bool {
    let w = n.walk(path);
    w.depth == path.len()
        || matches!(
            w.node.value,
            Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_)
        )
}
