//! What a stage kind is, in two shapes: [`Kind`], the typed trait a kind implements (its
//! params as a struct, its version, its work), and [`StageKind`], the object-safe view the
//! runner and the registry use, implemented once for every [`Kind`].

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use skelflow_contract::params::{ParamError, ParamSpec, Params, check_typed, specs_of};

use crate::{StageContext, StageError};

/// An upstream stage instance as validation sees it: before anything runs, so only its
/// kind, its canonical params and its own upstreams, not its artifact.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Upstream {
    pub instance: String,
    pub kind: String,
    pub params: Value,
    pub inputs: Vec<Upstream>,
}

impl Upstream {
    /// Every instance reachable from `inputs` (depth first, each once per path).
    pub fn all(inputs: &[Upstream]) -> Vec<&Upstream> {
        let mut out = Vec::new();
        let mut stack: Vec<&Upstream> = inputs.iter().rev().collect();
        while let Some(u) = stack.pop() {
            out.push(u);
            stack.extend(u.inputs.iter().rev());
        }
        out
    }

    /// A param of this instance, by dotted path (`encoder.backbone.arch`).
    pub fn param(&self, dotted: &str) -> Option<&Value> {
        dotted
            .split('.')
            .try_fold(&self.params, |v, seg| v.get(seg))
    }
}

/// A stage kind. Implement this; the registry holds it as a [`StageKind`].
pub trait Kind: Send + Sync + 'static {
    type Params: Params;
    /// The name pipelines use in `kind:`.
    const NAME: &'static str;
    /// Implementation version, part of every key of this kind: bump it whenever a change
    /// alters what the stage writes, so that stale artifacts are recomputed.
    const VERSION: u32;
    /// One line for `skelflow kinds`.
    const ABOUT: &'static str;
    /// Whether the result depends on the compute backend (then the backend is in the key).
    const USES_BACKEND: bool = false;

    /// Canonicalise checked params further (resolve presets, normalise inert switches), so
    /// that two spellings of one computation get one key.
    fn canonical(&self, params: Self::Params) -> Result<Self::Params, Vec<ParamError>> {
        Ok(params)
    }

    /// Versions of the parts an instance uses besides the kind itself (`pretrain`: its
    /// method), each in the key, so that fixing one method leaves the others cached.
    fn part_versions(&self, _params: &Self::Params) -> Vec<(String, u32)> {
        Vec::new()
    }

    /// Files or directories outside the cache that this stage reads, relative to the
    /// pipeline's directory unless absolute; the runner digests them into the key.
    fn external_inputs(&self, _params: &Self::Params) -> Vec<PathBuf> {
        Vec::new()
    }

    /// Problems with the upstream stages an instance `needs` that can be known before
    /// anything runs (a missing anchor, an encoder of another architecture).
    fn check_inputs(&self, _params: &Self::Params, _inputs: &[Upstream]) -> Vec<ParamError> {
        Vec::new()
    }

    /// Why the existing external input `given` (one of [`Kind::external_inputs`], found at
    /// `resolved`) cannot serve this stage — a data folder with no data in it — so that the
    /// runner says so before anything runs.
    fn check_external(
        &self,
        _params: &Self::Params,
        _given: &Path,
        _resolved: &Path,
    ) -> Option<String> {
        None
    }

    /// Do the work: read `ctx.inputs`, write into `ctx.out_dir`.
    fn run(&self, ctx: &StageContext, params: Self::Params) -> Result<(), StageError>;
}

/// The object-safe face of a [`Kind`], with params as JSON.
pub trait StageKind: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn version(&self) -> u32;
    fn about(&self) -> &'static str;
    fn uses_backend(&self) -> bool;
    /// The params this kind accepts, with types, defaults and docs.
    fn param_specs(&self) -> Vec<ParamSpec>;
    /// Validate `params`, returning the canonical form (every param present, defaults
    /// filled, normalised): what goes into the key. Every problem at once.
    fn check(&self, params: &Value) -> Result<Value, Vec<ParamError>>;
    /// [`Kind::part_versions`] of canonical params.
    fn part_versions(&self, params: &Value) -> Vec<(String, u32)>;
    /// [`Kind::external_inputs`] of canonical params.
    fn external_inputs(&self, params: &Value) -> Vec<PathBuf>;
    /// [`Kind::check_inputs`] of canonical params.
    fn check_inputs(&self, params: &Value, inputs: &[Upstream]) -> Vec<ParamError>;
    /// [`Kind::check_external`] of canonical params.
    fn check_external(&self, params: &Value, given: &Path, resolved: &Path) -> Option<String>;
    /// Run with the context's (canonical) params.
    fn run_stage(&self, ctx: &StageContext) -> Result<(), StageError>;
}

fn typed<P: Params>(params: &Value) -> Option<P> {
    serde_json::from_value(params.clone()).ok()
}

impl<K: Kind> StageKind for K {
    fn name(&self) -> &'static str {
        K::NAME
    }
    fn version(&self) -> u32 {
        K::VERSION
    }
    fn about(&self) -> &'static str {
        K::ABOUT
    }
    fn uses_backend(&self) -> bool {
        K::USES_BACKEND
    }
    fn param_specs(&self) -> Vec<ParamSpec> {
        specs_of::<K::Params>()
    }
    fn check(&self, params: &Value) -> Result<Value, Vec<ParamError>> {
        let checked = check_typed::<K::Params>(params)?;
        let p: K::Params = serde_json::from_value(checked).expect("checked params deserialise");
        let p = self.canonical(p)?;
        Ok(serde_json::to_value(p).expect("params serialise"))
    }
    fn part_versions(&self, params: &Value) -> Vec<(String, u32)> {
        typed(params)
            .map(|p| Kind::part_versions(self, &p))
            .unwrap_or_default()
    }
    fn external_inputs(&self, params: &Value) -> Vec<PathBuf> {
        typed(params)
            .map(|p| Kind::external_inputs(self, &p))
            .unwrap_or_default()
    }
    fn check_inputs(&self, params: &Value, inputs: &[Upstream]) -> Vec<ParamError> {
        typed(params)
            .map(|p| Kind::check_inputs(self, &p, inputs))
            .unwrap_or_default()
    }
    fn check_external(&self, params: &Value, given: &Path, resolved: &Path) -> Option<String> {
        typed(params).and_then(|p| Kind::check_external(self, &p, given, resolved))
    }
    fn run_stage(&self, ctx: &StageContext) -> Result<(), StageError> {
        let p: K::Params = ctx.params()?;
        self.run(ctx, p)
    }
}
