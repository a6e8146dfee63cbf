//! What each instance's state is (cached, stale, missing, running) and why.

use std::collections::HashMap;

use serde::Serialize;
use skelflow_cache::{InstanceRecord, InstanceState, Key, RunRecord, Store};
use skelflow_contract::ResumePoint;

use super::keys::Keys;
use crate::pipeline::Pipeline;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// An artifact exists for the current key.
    Cached,
    /// An earlier run computed this instance under a different key.
    Stale,
    /// Never computed (or its artifact was removed).
    Missing,
    /// Another skelflow process holds the key's lock right now.
    Running,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Cached => "cached",
            State::Stale => "stale",
            State::Missing => "missing",
            State::Running => "running",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub state: State,
    /// Why it is not cached: changed key components, most specific first.
    pub reasons: Vec<String>,
    /// How far the newest checkpoint of an unfinished computation of this key got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumePoint>,
}

impl Status {
    pub fn reason_line(&self) -> String {
        self.reasons.join("; ")
    }
}

/// Earlier runs of a pipeline, newest first.
pub struct History {
    runs: Vec<RunRecord>,
}

impl History {
    pub fn load(store: &Store, pipeline: &str) -> History {
        History {
            runs: store.runs(pipeline).unwrap_or_default(),
        }
    }

    /// No runs: there is no cache yet.
    pub fn empty() -> History {
        History { runs: Vec::new() }
    }

    /// The newest run in which `instance` was computed or reused, and its record there.
    pub fn last_done(&self, instance: &str) -> Option<(&RunRecord, &InstanceRecord)> {
        self.runs.iter().find_map(|r| {
            r.instances
                .iter()
                .find(|i| {
                    i.id == instance
                        && matches!(i.state, InstanceState::Computed | InstanceState::Cached)
                })
                .map(|i| (r, i))
        })
    }

    /// The newest record of `instance` in any state (e.g. to find the log of a failure).
    pub fn last_seen(&self, instance: &str) -> Option<(&RunRecord, &InstanceRecord)> {
        self.runs.iter().find_map(|r| {
            r.instances
                .iter()
                .find(|i| i.id == instance)
                .map(|i| (r, i))
        })
    }
}

/// States of every instance. `history` is only read for instances that are not cached.
/// No store (there is no cache yet): nothing is cached.
pub fn assess(p: &Pipeline, keys: &Keys, store: Option<&Store>, locks: bool) -> Vec<Status> {
    let mut history: Option<History> = None;
    (0..p.instances.len())
        .map(|i| {
            let key = &keys.keys[i];
            let Some(store) = store else {
                return why_not_cached(p, keys, i, &History::empty(), None);
            };
            if store.contains(key) {
                return Status {
                    state: State::Cached,
                    reasons: Vec::new(),
                    resume: None,
                };
            }
            if locks && store.is_locked(key).unwrap_or(false) {
                let resume = resume_point(store, key);
                let mut reason = "being computed by another skelflow process".to_string();
                if let Some(r) = &resume {
                    reason.push_str(&format!(" (checkpointed after {})", r.at()));
                }
                return Status {
                    state: State::Running,
                    reasons: vec![reason],
                    resume,
                };
            }
            let h = history.get_or_insert_with(|| History::load(store, &p.name));
            why_not_cached(p, keys, i, h, Some(store))
        })
        .collect()
}

/// What a stage that checkpoints left in the key's work directory ([`ResumePoint`]).
fn resume_point(store: &Store, key: &Key) -> Option<ResumePoint> {
    ResumePoint::read(&store.existing_work_dir(key)?)
}

/// Why instance `i` has no artifact, against the last run that had one; and, if a
/// computation of its current key stopped after a checkpoint, how far it got.
pub fn why_not_cached(
    p: &Pipeline,
    keys: &Keys,
    i: usize,
    h: &History,
    store: Option<&Store>,
) -> Status {
    let mut status = past_runs(p, keys, i, h);
    let key = &keys.keys[i];
    if let Some(r) = store.and_then(|s| resume_point(s, key)) {
        let how = match h.last_seen(&p.instances[i].id) {
            Some((_, rec)) if rec.key == *key && rec.state == InstanceState::Failed => "failed",
            _ => "interrupted",
        };
        let line = format!("{how} after {}, will resume from its checkpoint", r.at());
        match status.state {
            // "never computed" or "artifact removed" no longer tell the whole story
            State::Missing => status.reasons = vec![line],
            _ => status.reasons.insert(0, line),
        }
        status.resume = Some(r);
    }
    status
}

fn past_runs(p: &Pipeline, keys: &Keys, i: usize, h: &History) -> Status {
    let inst = &p.instances[i];
    match h.last_done(&inst.id) {
        None => Status {
            state: State::Missing,
            reasons: vec!["never computed".into()],
            resume: None,
        },
        Some((run, rec)) if rec.key == keys.keys[i] => Status {
            state: State::Missing,
            reasons: vec![format!(
                "its artifact {} was removed after run {} (gc or verify)",
                rec.key.short(),
                run.id
            )],
            resume: None,
        },
        Some((run, rec)) => {
            let mut reasons = changes(p, keys, i, run, rec);
            if reasons.is_empty() {
                reasons.push(format!(
                    "key changed ({} -> {})",
                    rec.key.short(),
                    keys.keys[i].short()
                ));
            }
            Status {
                state: State::Stale,
                reasons,
                resume: None,
            }
        }
    }
}

/// What changed in the key of instance `i` since `rec` (a record of run `run`).
/// Upstream artifacts show up as "upstream X changed", not as the tokens in params.
pub fn changes(
    p: &Pipeline,
    keys: &Keys,
    i: usize,
    run: &RunRecord,
    rec: &InstanceRecord,
) -> Vec<String> {
    let now_ids: HashMap<&str, &str> = p.instances[i]
        .needs
        .iter()
        .map(|&u| (keys.keys[u].as_str(), p.instances[u].id.as_str()))
        .collect();
    // The earlier run's instances: key -> id (for readable params), id -> key (for inputs).
    let (then_ids, then): (HashMap<&str, &str>, HashMap<&str, &Key>) = run
        .instances
        .iter()
        .map(|r| ((r.key.as_str(), r.id.as_str()), (r.id.as_str(), &r.key)))
        .unzip();
    let mut now = keys.components[i].clone();
    now.params = readable(&now.params, &now_ids);
    let mut before = rec.components.clone();
    before.params = readable(&before.params, &then_ids);
    let mut out: Vec<String> = now
        .diff(&before)
        .into_iter()
        .filter(|c| !c.component.starts_with("input"))
        .map(|c| {
            match (
                param_at(&before.params, &c.component),
                param_at(&now.params, &c.component),
            ) {
                (Some(serde_json::Value::String(a)), Some(serde_json::Value::String(b))) => {
                    let (a, b) = focus(a, b);
                    format!("{}: {a} -> {b}", c.component)
                }
                _ => format!("{}: {} -> {}", c.component, c.before, c.after),
            }
        })
        .collect();
    out.extend(input_changes((p, keys), i, rec, &then));
    out
}

/// The value at a diff path such as `params.optimizer.lr` or `params.outs[1]`.
fn param_at<'a>(params: &'a serde_json::Value, component: &str) -> Option<&'a serde_json::Value> {
    let mut cur = params;
    for part in component
        .strip_prefix("params")?
        .split('.')
        .filter(|s| !s.is_empty())
    {
        let (name, mut rest) = match part.find('[') {
            Some(b) => (&part[..b], &part[b..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            cur = cur.get(name)?;
        }
        while let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            cur = cur.get(r[..end].parse::<usize>().ok()?)?;
            rest = &r[end + 1..];
        }
    }
    Some(cur)
}

/// Two long strings shown around where they differ: `"…m=1000 'BEGIN…" -> "…m=500 'BEGIN…"`.
fn focus(a: &str, b: &str) -> (String, String) {
    const CONTEXT: usize = 24;
    let ac: Vec<char> = a.chars().collect();
    let bc: Vec<char> = b.chars().collect();
    if ac.len() <= 80 && bc.len() <= 80 {
        return (format!("{a:?}"), format!("{b:?}"));
    }
    let prefix = ac.iter().zip(&bc).take_while(|(x, y)| x == y).count();
    let max_suffix = ac.len().min(bc.len()) - prefix;
    let suffix = ac
        .iter()
        .rev()
        .zip(bc.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    let cut = |c: &[char]| {
        let from = prefix.saturating_sub(CONTEXT);
        let to = (c.len() - suffix + CONTEXT).min(c.len());
        let mut s: String = c[from..to].iter().collect();
        s = format!("{s:?}");
        if from > 0 {
            s.insert(1, '…');
        }
        if to < c.len() {
            s.insert(s.len() - 1, '…');
        }
        s
    };
    (cut(&ac), cut(&bc))
}

/// Params with `<artifact:KEY>` written as `${ID.output}` (the instance that produced it).
fn readable(v: &serde_json::Value, ids: &HashMap<&str, &str>) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) if s.contains("<artifact:") => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("<artifact:") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 10..];
                match after.find('>') {
                    Some(end) => {
                        let key = &after[..end];
                        match ids.get(key) {
                            Some(id) => out.push_str(&format!("${{{id}.output}}")),
                            None => out.push_str("${upstream.output}"),
                        }
                        rest = &after[end + 1..];
                    }
                    None => {
                        out.push_str(&rest[start..]);
                        rest = "";
                    }
                }
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| readable(x, ids)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), readable(x, ids)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Upstream changes named by instance id; `then` maps the ids of the earlier run's
/// instances to their keys.
fn input_changes(
    (p, keys): (&Pipeline, &Keys),
    i: usize,
    rec: &InstanceRecord,
    then: &HashMap<&str, &Key>,
) -> Vec<String> {
    let before: Vec<(&str, Option<&Key>)> = rec
        .needs
        .iter()
        .map(|n| (n.as_str(), then.get(n.as_str()).copied()))
        .collect();
    let mut out = Vec::new();
    for &u in &p.instances[i].needs {
        let id = p.instances[u].id.as_str();
        match before.iter().find(|(b, _)| *b == id) {
            Some((_, Some(k))) if *k == &keys.keys[u] => {}
            Some(_) => out.push(format!("upstream {id} changed")),
            None => out.push(format!("new upstream {id}")),
        }
    }
    for (b, _) in &before {
        if !p.instances[i]
            .needs
            .iter()
            .any(|&u| p.instances[u].id == *b)
        {
            out.push(format!("upstream {b} no longer needed"));
        }
    }
    if out.is_empty() && rec.components.inputs != keys.components[i].inputs {
        out.push("upstream artifacts changed".into());
    }
    out
}
