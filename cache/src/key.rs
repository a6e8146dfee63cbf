//! Cache keys: blake3 over a canonical, length-prefixed, versioned encoding.
//!
//! The encoding (what [`KeyComponents::encoding`] returns) is, in this order:
//!
//! ```text
//! "skelflow.key\0"                       domain
//! field("schema", u64)                   every field = len-prefixed name + len-prefixed content
//! field("kind", str)
//! field("kind_version", u64)
//! field("params", value)
//! field("inputs", count, (kind str, key str)*)          sorted by (kind, key)
//! field("externals", count, (path str, digest str)*)    sorted by (path, digest)
//! field("seed", u64)
//! field("backend", 0 | 1 str)                          None = 0, Some(s) = 1 + s
//! field("parts", count, (name str, version u64)*)      sorted by name; only when not empty
//! ```
//!
//! `parts` are the implementation versions of what an instance uses besides its kind (a
//! `pretrain`'s method): a new version of one method changes only the keys that use it.
//! Absent when empty, so the keys of kinds without parts are those of the encoding before
//! `parts` existed.
//!
//! Integers are little-endian fixed width; a `str`/bytes is a u64 length then the bytes.
//! JSON values are tagged: `n` null, `b` bool, `i` i64, `u` u64 above i64::MAX, `f` float,
//! `s` string, `a` array (count + items), `o` object (count + (key, value) sorted by the
//! key's UTF-8 bytes: the encoder sorts, it never trusts the map's iteration order).
//!
//! Numbers: an integer is encoded as an integer and a float as a float, so `1` and `1.0`
//! give different keys. Params arrive already typed by the stage kind (an `f64` param
//! serialises as a float even when its value is whole), so the two never mix for the same
//! param; for untyped params (the `shell` kind) `1` and `1.0` are different text to the
//! command, so a different key is right. A float is encoded as its shortest round-trip
//! digits in scientific notation (Rust's `{:e}`: `0.1` → `1e-1`, `1.0` → `1e0`), with
//! `-0.0` normalised to `0e0`. Strings are their exact UTF-8 bytes (no Unicode
//! normalisation). JSON has no NaN or infinity, so neither can occur.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::CacheError;

/// Bump to invalidate every key (changes to the encoding or to what a key must cover).
pub const KEY_SCHEMA_VERSION: u32 = 1;

const KEY_DOMAIN: &[u8] = b"skelflow.key\0";

/// A stage instance's key: 64 lowercase hex digits of blake3.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Key(pub String);

impl Key {
    /// Hex digits in a key.
    pub const LEN: usize = 64;
    /// Hex digits shown by [`Key::short`].
    pub const SHORT_LEN: usize = 12;

    /// Parse a key, rejecting anything that is not 64 lowercase hex digits (keys become
    /// path components, so a malformed one must never reach the filesystem).
    pub fn parse(s: &str) -> Result<Key, CacheError> {
        let key = Key(s.to_string());
        if key.is_well_formed() {
            Ok(key)
        } else {
            Err(CacheError::InvalidKey(s.to_string()))
        }
    }

    /// The key of arbitrary bytes (blake3); handy for tests and for callers that key
    /// something other than a stage instance.
    pub fn of_bytes(bytes: &[u8]) -> Key {
        Key(blake3::hash(bytes).to_hex().to_string())
    }

    pub fn is_well_formed(&self) -> bool {
        self.0.len() == Self::LEN
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for humans.
    pub fn short(&self) -> &str {
        self.0.get(..Self::SHORT_LEN).unwrap_or(&self.0)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Key {
    type Err = CacheError;
    fn from_str(s: &str) -> Result<Key, CacheError> {
        Key::parse(s)
    }
}

/// Everything a key is computed from, kept so that `explain` can say what changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyComponents {
    pub schema: u32,
    pub kind: String,
    pub kind_version: u32,
    /// Canonical params (as returned by the kind's `check`, `${…}` resolved, upstream
    /// artifact paths replaced by their keys so keys do not depend on the cache location).
    pub params: serde_json::Value,
    /// Upstream artifacts: (producer kind, producer key), sorted.
    pub inputs: Vec<(String, Key)>,
    /// Files outside the cache: (path as written in the pipeline, blake3 of the content).
    pub externals: Vec<(String, String)>,
    pub seed: u64,
    /// Compute backend, for kinds whose result depends on it.
    pub backend: Option<String>,
    /// Implementation versions of the parts the instance uses besides its kind, e.g.
    /// `method.moco` → 1 (see the module docs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<(String, u32)>,
}

/// One difference between two sets of key components, for humans.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentChange {
    /// `params.lr`, `input ntu.import`, `external train.py`, `seed`, `backend`, `kind version`…
    pub component: String,
    pub before: String,
    pub after: String,
}

impl fmt::Display for ComponentChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} -> {}", self.component, self.before, self.after)
    }
}

/// How a side that lacks a component (an added or removed param, input, external) is shown.
pub const ABSENT: &str = "(absent)";

impl KeyComponents {
    /// Components of the current schema with no inputs, no externals, seed 0, no backend.
    pub fn new(
        kind: impl Into<String>,
        kind_version: u32,
        params: serde_json::Value,
    ) -> KeyComponents {
        KeyComponents {
            schema: KEY_SCHEMA_VERSION,
            kind: kind.into(),
            kind_version,
            params,
            inputs: Vec::new(),
            externals: Vec::new(),
            seed: 0,
            backend: None,
            parts: Vec::new(),
        }
    }

    /// blake3 over [`KeyComponents::encoding`].
    pub fn key(&self) -> Key {
        Key(blake3::hash(&self.encoding()).to_hex().to_string())
    }

    /// The canonical bytes the key hashes (see the module docs for the format).
    pub fn encoding(&self) -> Vec<u8> {
        let mut e = Encoder::default();
        e.raw(KEY_DOMAIN);
        e.field("schema", |e| e.u64(u64::from(self.schema)));
        e.field("kind", |e| e.str(&self.kind));
        e.field("kind_version", |e| e.u64(u64::from(self.kind_version)));
        e.field("params", |e| e.value(&self.params));
        e.field("inputs", |e| {
            let mut inputs: Vec<(&str, &str)> = self
                .inputs
                .iter()
                .map(|(k, key)| (k.as_str(), key.as_str()))
                .collect();
            inputs.sort_unstable();
            e.u64(inputs.len() as u64);
            for (kind, key) in inputs {
                e.str(kind);
                e.str(key);
            }
        });
        e.field("externals", |e| {
            let mut externals: Vec<(&str, &str)> = self
                .externals
                .iter()
                .map(|(p, d)| (p.as_str(), d.as_str()))
                .collect();
            externals.sort_unstable();
            e.u64(externals.len() as u64);
            for (path, digest) in externals {
                e.str(path);
                e.str(digest);
            }
        });
        e.field("seed", |e| e.u64(self.seed));
        e.field("backend", |e| match &self.backend {
            None => e.u8(0),
            Some(b) => {
                e.u8(1);
                e.str(b);
            }
        });
        if !self.parts.is_empty() {
            e.field("parts", |e| {
                let mut parts: Vec<(&str, u32)> =
                    self.parts.iter().map(|(n, v)| (n.as_str(), *v)).collect();
                parts.sort_unstable();
                e.u64(parts.len() as u64);
                for (name, version) in parts {
                    e.str(name);
                    e.u64(u64::from(version));
                }
            });
        }
        e.buf
    }

    /// What changed from `before` to `self`, most specific first: params leaf by leaf
    /// (`params.optimizer.lr: 0.1 -> 0.2`, `params.outs[1]`, added/removed as `(absent)`),
    /// inputs by producer kind, externals by path, then seed, backend, kind version, kind,
    /// schema. Empty when both give the same key.
    pub fn diff(&self, before: &KeyComponents) -> Vec<ComponentChange> {
        let mut out = Vec::new();
        diff_value("params".to_string(), &before.params, &self.params, &mut out);
        diff_multimap(
            "input",
            before
                .inputs
                .iter()
                .map(|(k, key)| (k.as_str(), key.as_str())),
            self.inputs
                .iter()
                .map(|(k, key)| (k.as_str(), key.as_str())),
            &mut out,
        );
        diff_multimap(
            "external",
            before
                .externals
                .iter()
                .map(|(p, d)| (p.as_str(), d.as_str())),
            self.externals.iter().map(|(p, d)| (p.as_str(), d.as_str())),
            &mut out,
        );
        let versions = |c: &KeyComponents| -> Vec<(String, String)> {
            c.parts
                .iter()
                .map(|(n, v)| (n.clone(), v.to_string()))
                .collect()
        };
        let (was, now) = (versions(before), versions(self));
        diff_multimap(
            "version of",
            was.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            now.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            &mut out,
        );
        let mut push = |component: &str, before: String, after: String| {
            if before != after {
                out.push(ComponentChange {
                    component: component.to_string(),
                    before,
                    after,
                });
            }
        };
        push("seed", before.seed.to_string(), self.seed.to_string());
        push(
            "backend",
            show_backend(&before.backend),
            show_backend(&self.backend),
        );
        push(
            "kind version",
            before.kind_version.to_string(),
            self.kind_version.to_string(),
        );
        push("kind", before.kind.clone(), self.kind.clone());
        push("schema", before.schema.to_string(), self.schema.to_string());
        out
    }
}

fn show_backend(b: &Option<String>) -> String {
    match b {
        None => "(none)".to_string(),
        Some(s) => serde_json::to_string(s).unwrap_or_else(|_| s.clone()),
    }
}

/// Encodes values canonically; see the module docs.
#[derive(Default)]
struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.raw(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    /// A named field whose content is length-prefixed as a whole.
    fn field(&mut self, name: &str, content: impl FnOnce(&mut Encoder)) {
        let mut sub = Encoder::default();
        content(&mut sub);
        self.str(name);
        self.bytes(&sub.buf);
    }

    fn value(&mut self, v: &serde_json::Value) {
        use serde_json::Value;
        match v {
            Value::Null => self.u8(b'n'),
            Value::Bool(b) => {
                self.u8(b'b');
                self.u8(u8::from(*b));
            }
            Value::Number(n) => self.number(n),
            Value::String(s) => {
                self.u8(b's');
                self.str(s);
            }
            Value::Array(items) => {
                self.u8(b'a');
                self.u64(items.len() as u64);
                for item in items {
                    self.value(item);
                }
            }
            Value::Object(map) => self.object(map.iter().map(|(k, v)| (k.as_str(), v)).collect()),
        }
    }

    /// Object entries in any order: sorted here by the key's UTF-8 bytes.
    fn object(&mut self, mut entries: Vec<(&str, &serde_json::Value)>) {
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        self.u8(b'o');
        self.u64(entries.len() as u64);
        for (k, v) in entries {
            self.str(k);
            self.value(v);
        }
    }

    fn number(&mut self, n: &serde_json::Number) {
        if !n.is_f64() {
            if let Some(i) = n.as_i64() {
                self.u8(b'i');
                self.raw(&i.to_le_bytes());
                return;
            }
            if let Some(u) = n.as_u64() {
                self.u8(b'u');
                self.u64(u);
                return;
            }
        }
        match n.as_f64() {
            Some(f) if n.is_f64() => {
                self.u8(b'f');
                self.str(&float_repr(f));
            }
            // Only reachable with serde_json's `arbitrary_precision`: an integer beyond u64.
            _ => {
                self.u8(b'd');
                self.str(&n.to_string());
            }
        }
    }
}

/// Shortest round-trip digits in scientific notation; `-0.0` is `0e0`.
fn float_repr(f: f64) -> String {
    if f == 0.0 {
        "0e0".to_string()
    } else {
        format!("{f:e}")
    }
}

fn canonical_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    let (mut ea, mut eb) = (Encoder::default(), Encoder::default());
    ea.value(a);
    eb.value(b);
    ea.buf == eb.buf
}

fn child_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plain {
        format!("{parent}.{key}")
    } else {
        format!(
            "{parent}[{}]",
            serde_json::to_string(key).unwrap_or_else(|_| key.to_string())
        )
    }
}

/// Compact JSON, cut to a readable length.
fn show_value(v: &serde_json::Value) -> String {
    const MAX: usize = 120;
    let s = serde_json::to_string(v).unwrap_or_else(|_| v.to_string());
    if s.chars().count() <= MAX {
        s
    } else {
        format!("{}…", s.chars().take(MAX).collect::<String>())
    }
}

fn diff_value(
    path: String,
    before: &serde_json::Value,
    after: &serde_json::Value,
    out: &mut Vec<ComponentChange>,
) {
    use serde_json::Value;
    if canonical_eq(before, after) {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
            for k in keys {
                let child = child_path(&path, k);
                match (b.get(k), a.get(k)) {
                    (Some(bv), Some(av)) => diff_value(child, bv, av, out),
                    (Some(bv), None) => out.push(change(child, show_value(bv), ABSENT.to_string())),
                    (None, Some(av)) => out.push(change(child, ABSENT.to_string(), show_value(av))),
                    (None, None) => unreachable!("key from one of the two maps"),
                }
            }
        }
        (Value::Array(b), Value::Array(a)) => {
            for i in 0..b.len().max(a.len()) {
                let child = format!("{path}[{i}]");
                match (b.get(i), a.get(i)) {
                    (Some(bv), Some(av)) => diff_value(child, bv, av, out),
                    (Some(bv), None) => out.push(change(child, show_value(bv), ABSENT.to_string())),
                    (None, Some(av)) => out.push(change(child, ABSENT.to_string(), show_value(av))),
                    (None, None) => unreachable!("index below the longer length"),
                }
            }
        }
        _ => out.push(change(path, show_value(before), show_value(after))),
    }
}

fn change(component: String, before: String, after: String) -> ComponentChange {
    ComponentChange {
        component,
        before,
        after,
    }
}

fn short_digest(d: &str) -> String {
    match d.get(..Key::SHORT_LEN) {
        Some(s) if s.len() < d.len() => format!("{s}…"),
        _ => d.to_string(),
    }
}

/// Diff two multisets of (name, digest) pairs grouped by name: one removed and one added
/// digest under a name is a change; anything else is listed as removed / added.
fn diff_multimap<'a>(
    label: &str,
    before: impl Iterator<Item = (&'a str, &'a str)>,
    after: impl Iterator<Item = (&'a str, &'a str)>,
    out: &mut Vec<ComponentChange>,
) {
    let group = |it: &mut dyn Iterator<Item = (&'a str, &'a str)>| {
        let mut m: BTreeMap<&'a str, Vec<&'a str>> = BTreeMap::new();
        for (name, digest) in it {
            m.entry(name).or_default().push(digest);
        }
        m
    };
    let (mut before, mut after) = (before, after);
    let (b, a) = (group(&mut before), group(&mut after));
    let names: BTreeSet<&str> = b.keys().chain(a.keys()).copied().collect();
    for name in names {
        let mut was = b.get(name).cloned().unwrap_or_default();
        let mut now = a.get(name).cloned().unwrap_or_default();
        // Multiset difference of the sorted lists: drop digests present on both sides.
        was.sort_unstable();
        now.sort_unstable();
        let (mut r, mut ad) = (Vec::new(), Vec::new());
        let (mut i, mut j) = (0, 0);
        while i < was.len() || j < now.len() {
            match (was.get(i), now.get(j)) {
                (Some(x), Some(y)) if x == y => {
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x < y => {
                    r.push(*x);
                    i += 1;
                }
                (Some(x), None) => {
                    r.push(*x);
                    i += 1;
                }
                (_, Some(y)) => {
                    ad.push(*y);
                    j += 1;
                }
                (None, None) => unreachable!("loop condition"),
            }
        }
        let component = format!("{label} {name}");
        if r.len() == 1 && ad.len() == 1 {
            out.push(change(component, short_digest(r[0]), short_digest(ad[0])));
        } else {
            for x in r {
                out.push(change(
                    component.clone(),
                    short_digest(x),
                    ABSENT.to_string(),
                ));
            }
            for y in ad {
                out.push(change(
                    component.clone(),
                    ABSENT.to_string(),
                    short_digest(y),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
