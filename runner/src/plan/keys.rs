//! Cache keys of every instance, in dependency order.
//!
//! `${S.output}` enters a key as `<artifact:KEY>` — a token of S's key, never a path — so keys
//! do not depend on where the cache lives. The real path replaces the token only when the
//! stage runs ([`materialize`]).

use rayon::prelude::*;
use serde_json::Value;
use skelflow_cache::{Digests, KEY_SCHEMA_VERSION, Key, KeyComponents};
use skelflow_stages::{Backend, registry};

use crate::diag::Diag;
use crate::pipeline::{Pipeline, instance_token};

/// Keys and their components, indexed like `Pipeline::instances`.
pub struct Keys {
    pub keys: Vec<Key>,
    pub components: Vec<KeyComponents>,
}

pub fn artifact_token(key: &Key) -> String {
    format!("<artifact:{}>", key.as_str())
}

/// Compute every key. External inputs are digested through `digests` (a store's stat
/// cache, or one in memory). Missing external inputs are reported as diagnostics (all of them).
pub fn compute(p: &Pipeline, digests: &Digests, backend: Backend) -> Result<Keys, KeyError> {
    let reg = registry();

    // Digest all external inputs first, in parallel (stat-cached: cheap when unchanged).
    let externals: Vec<Vec<String>> = p
        .instances
        .iter()
        .map(|inst| {
            let kind = reg.get(&inst.kind).expect("kinds were validated");
            kind.external_inputs(&inst.params)
                .into_iter()
                .map(|e| e.to_string_lossy().into_owned())
                .filter(|e| !e.contains("<instance:"))
                .collect()
        })
        .collect();
    let mut unique: Vec<&String> = externals.iter().flatten().collect();
    unique.sort();
    unique.dedup();
    let digested: Vec<(String, Result<String, Undigested>)> = unique
        .par_iter()
        .map(|e| {
            let path = p.dir.join(e);
            let r = if path.exists() {
                digests
                    .digest_path(&path)
                    .map_err(|e| Undigested::Unreadable(e.to_string()))
            } else {
                Err(Undigested::Missing)
            };
            ((*e).clone(), r)
        })
        .collect();
    let digest_of = |e: &str| {
        digested
            .iter()
            .find(|(x, _)| x == e)
            .map(|(_, r)| r)
            .expect("digested")
    };

    let mut diags = Vec::new();
    let mut keys: Vec<Key> = Vec::with_capacity(p.instances.len());
    let mut components = Vec::with_capacity(p.instances.len());
    for (i, inst) in p.instances.iter().enumerate() {
        let kind = reg.get(&inst.kind).expect("kinds were validated");
        let mut params = inst.params.clone();
        for &u in &inst.needs {
            replace_tokens(
                &mut params,
                &instance_token(&p.instances[u].id),
                &artifact_token(&keys[u]),
            );
        }
        let mut inputs: Vec<(String, Key)> = inst
            .needs
            .iter()
            .map(|&u| (p.instances[u].kind.clone(), keys[u].clone()))
            .collect();
        inputs.sort();
        let mut ext = Vec::new();
        for e in &externals[i] {
            let path = p.dir.join(e);
            let unusable = |d: &String| match kind.check_external(&inst.params, e.as_ref(), &path) {
                Some(why) => Err(Undigested::Unusable(why)),
                None => Ok(d.clone()),
            };
            match digest_of(e)
                .as_ref()
                .map_err(Undigested::clone)
                .and_then(unusable)
            {
                Ok(d) => ext.push((e.clone(), d)),
                Err(why) => {
                    let stage = &p.stages[inst.stage];
                    // The param that names the path, and the `${var}` it came from.
                    let param = inst.params.as_object().and_then(|m| {
                        m.iter()
                            .find(|(_, v)| v.as_str() == Some(e.as_str()))
                            .map(|(k, _)| k.as_str())
                    });
                    let written = param
                        .and_then(|k| stage.param_sources.iter().find(|(name, _, _)| name == k));
                    let var = written
                        .and_then(|(_, _, raw)| raw.as_deref())
                        .and_then(|raw| raw.strip_prefix("${")?.strip_suffix('}'))
                        .filter(|v| !v.contains("${"));
                    let from = match (param, var) {
                        (Some(k), Some(v)) => format!(" (param `{k}`, from `${{{v}}}`)"),
                        (Some(k), None) => format!(" (param `{k}`)"),
                        _ => String::new(),
                    };
                    let help = match (var, &why) {
                        (Some(v), Undigested::Unusable(_)) => {
                            format!("set `{v}` to another path (`--set {v}=PATH`)")
                        }
                        (Some(v), _) => format!(
                            "relative paths start at the pipeline file's directory; set `{v}` to an existing path (`--set {v}=PATH`)"
                        ),
                        (None, _) => "dependency paths are relative to the pipeline file's directory; create the file or fix the path".to_string(),
                    };
                    let msg = match why {
                        Undigested::Missing => format!(
                            "stage `{}` depends on `{e}`{from}, which does not exist ({})",
                            stage.id,
                            p.dir.join(e).display()
                        ),
                        Undigested::Unreadable(why) => format!(
                            "stage `{}` depends on `{e}`{from}, which cannot be read: {why}",
                            stage.id
                        ),
                        Undigested::Unusable(why) => {
                            format!("stage `{}` depends on `{e}`{from}: {why}", stage.id)
                        }
                    };
                    let (span, label) = match written {
                        Some((_, span, _)) => (*span, "set here"),
                        None => (stage.id_span, "declared in this stage's params"),
                    };
                    diags.push(Diag::error(msg).at(span, label).help(help));
                }
            }
        }
        ext.sort();
        let comps = KeyComponents {
            schema: KEY_SCHEMA_VERSION,
            kind: inst.kind.clone(),
            kind_version: kind.version(),
            params,
            inputs,
            externals: ext,
            seed: inst.seed,
            backend: kind.uses_backend().then(|| backend.name().to_string()),
            parts: kind.part_versions(&inst.params),
        };
        keys.push(comps.key());
        components.push(comps);
    }
    let _ = digests.flush();
    if !diags.is_empty() {
        crate::diag::normalize(&mut diags);
        return Err(KeyError::Inputs(diags));
    }
    Ok(Keys { keys, components })
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// External inputs that are missing, unreadable or unusable (located diagnostics, one each).
    #[error("{} missing or unusable dependenc{}", .0.len(), if .0.len() == 1 { "y" } else { "ies" })]
    Inputs(Vec<Diag>),
}

/// Why an external input has no digest, or cannot serve its stage.
#[derive(Clone)]
enum Undigested {
    Missing,
    Unreadable(String),
    Unusable(String),
}

/// A `<artifact:KEY>` token whose artifact is not in the cache.
#[derive(Debug, thiserror::Error)]
#[error("the upstream artifact {} is not in the cache", .key.short())]
pub struct MaterializeError {
    pub key: Key,
}

fn replace_tokens(v: &mut Value, from: &str, to: &str) {
    match v {
        Value::String(s) if s.contains(from) => *s = s.replace(from, to),
        Value::Array(a) => a.iter_mut().for_each(|x| replace_tokens(x, from, to)),
        Value::Object(o) => o.values_mut().for_each(|x| replace_tokens(x, from, to)),
        _ => {}
    }
}

/// Params as the stage sees them: every `<artifact:KEY>` replaced by that artifact's directory.
pub fn materialize(
    params: &Value,
    dir_of: &dyn Fn(&Key) -> Option<std::path::PathBuf>,
) -> Result<Value, MaterializeError> {
    let mut out = params.clone();
    let mut err = None;
    walk_strings(&mut out, &mut |s| {
        while let Some(start) = s.find("<artifact:") {
            let Some(len) = s[start..].find('>') else {
                break;
            };
            let key = Key(s[start + 10..start + len].to_string());
            match dir_of(&key) {
                Some(d) => s.replace_range(start..start + len + 1, &d.to_string_lossy()),
                None => {
                    err = Some(MaterializeError { key });
                    break;
                }
            }
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

fn walk_strings(v: &mut Value, f: &mut dyn FnMut(&mut String)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter_mut().for_each(|x| walk_strings(x, f)),
        Value::Object(o) => o.values_mut().for_each(|x| walk_strings(x, f)),
        _ => {}
    }
}
