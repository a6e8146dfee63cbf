//! The stage kinds this binary knows. One line per kind.

use std::sync::OnceLock;

use crate::StageKind;

pub struct Registry {
    kinds: Vec<Box<dyn StageKind>>,
}

impl Registry {
    fn build() -> Registry {
        let kinds: Vec<Box<dyn StageKind>> = vec![
            Box::new(crate::shell::Shell),
            Box::new(crate::data::ntu_import::NtuImport),
            Box::new(crate::data::npy_import::NpyImport),
            Box::new(crate::data::synth::SynthNtu),
            Box::new(crate::data::synth::pku::SynthPku),
            Box::new(crate::data::pku::PkuImport),
            Box::new(crate::data::anchor::AverageMotion),
            Box::new(crate::data::subset::DataSubset),
            Box::new(crate::learn::encoder_init::EncoderInit),
            Box::new(crate::learn::encoder_import::EncoderImport),
            Box::new(crate::methods::pretrain::Pretrain),
            Box::new(crate::learn::extract::Extract),
            Box::new(crate::learn::extract_raw::ExtractRaw),
            Box::new(crate::evals::linear::EvalLinear),
            Box::new(crate::evals::knn::EvalKnn),
            Box::new(crate::evals::finetune::EvalFinetune),
            Box::new(crate::evals::fuse::EvalFuse),
            Box::new(crate::evals::segment::EvalSegment),
        ];
        Registry { kinds }
    }

    pub fn get(&self, name: &str) -> Option<&dyn StageKind> {
        self.kinds
            .iter()
            .find(|k| k.name() == name)
            .map(|k| k.as_ref())
    }

    pub fn names(&self) -> Vec<String> {
        self.kinds.iter().map(|k| k.name().to_string()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn StageKind> {
        self.kinds.iter().map(|k| k.as_ref())
    }
}

/// The process-wide registry.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::build)
}
