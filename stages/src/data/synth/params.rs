//! What a corpus is asked for ([`SynthParams`]) and the counts that follow ([`SynthPlan`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::motions::ACTIONS;
use super::scene::CAMERAS;
use crate::params::{ParamError, Params};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SynthSize {
    /// 12 classes × 10 subjects × 3 cameras × 2 replications = 720 files: import and a
    /// small encoder's training in minutes on 2 cores.
    #[default]
    Quick,
    /// 30 classes × 20 subjects × 3 × 2 = 3,600 files.
    Small,
    /// NTU-60 sized: 60 classes × 158 setup/subject sessions (17 setups, 40 subjects) × 3 × 2
    /// = 56,880 files, for benchmarks.
    Ntu60,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SynthParams {
    /// `quick` | `small` | `ntu60`: default counts (each overridable below).
    pub size: SynthSize,
    /// Action classes (0: the size's default; at most 60).
    pub classes: usize,
    /// Subjects (0: the size's default).
    pub subjects: usize,
    /// Setups (0: the size's default).
    pub setups: usize,
    /// Recording sessions, i.e. (setup, subject) pairs (0: the size's default).
    pub sessions: usize,
    /// Replications per session and action (NTU has 2).
    pub replications: usize,
    /// Sensor noise: standard deviation in metres of the white noise on a torso joint.
    pub noise: f64,
    /// Probability per file of tracking-jitter bursts.
    pub jitter: f64,
    /// Probability per file of dropped frames (frames with 0 bodies).
    pub dropped: f64,
    /// Probability per file of a noisy extra body.
    pub extra_bodies: f64,
}

impl Default for SynthParams {
    fn default() -> Self {
        SynthParams {
            size: SynthSize::Quick,
            classes: 0,
            subjects: 0,
            setups: 0,
            sessions: 0,
            replications: 2,
            noise: 0.012,
            jitter: 0.15,
            dropped: 0.04,
            extra_bodies: 0.05,
        }
    }
}

impl Params for SynthParams {
    fn validate(&self) -> Vec<ParamError> {
        let mut errs = Vec::new();
        if self.classes > ACTIONS.len() {
            errs.push(ParamError::at(
                "classes",
                format!("at most {} classes are defined", ACTIONS.len()),
            ));
        }
        if self.subjects > 999 || self.setups > 999 {
            errs.push(ParamError::at(
                "subjects",
                "subjects and setups must fit three digits (≤ 999)",
            ));
        }
        if !(1..=9).contains(&self.replications) {
            errs.push(ParamError::at("replications", "must be 1..=9"));
        }
        for (k, v) in [
            ("noise", self.noise),
            ("jitter", self.jitter),
            ("dropped", self.dropped),
            ("extra_bodies", self.extra_bodies),
        ] {
            if !(0.0..=1.0).contains(&v) {
                errs.push(ParamError::at(k, format!("{v} is outside 0..=1")));
            }
        }
        errs
    }
}

/// The concrete counts of a corpus.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SynthPlan {
    pub classes: usize,
    pub subjects: usize,
    pub setups: usize,
    pub replications: usize,
    /// (setup, subject) pairs, 1-based.
    pub sessions: Vec<(u16, u16)>,
}

impl SynthParams {
    pub fn plan(&self) -> SynthPlan {
        let (c, subj, set, sess) = match self.size {
            SynthSize::Quick => (12, 10, 2, 10),
            SynthSize::Small => (30, 20, 4, 20),
            SynthSize::Ntu60 => (60, 40, 17, 158),
        };
        let or = |v: usize, d: usize| if v == 0 { d } else { v };
        let subjects = or(self.subjects, subj);
        let setups = or(self.setups, set).max(1);
        // Sessions scale with the subjects (NTU-60: 158 sessions of 40 subjects), at most one
        // per (setup, subject).
        let n_sessions = or(self.sessions, (sess * subjects).div_ceil(subj)).min(subjects * setups);
        // Subject s records first in setup base(s), then in the following setups.
        let sessions = (0..n_sessions)
            .map(|k| {
                let (s, round) = (k % subjects, k / subjects);
                (
                    (1 + (s * setups / subjects + round) % setups) as u16,
                    (1 + s) as u16,
                )
            })
            .collect();
        SynthPlan {
            classes: or(self.classes, c),
            subjects,
            setups,
            replications: self.replications,
            sessions,
        }
    }
}

impl SynthPlan {
    pub fn num_files(&self) -> usize {
        self.sessions.len() * self.replications * self.classes * CAMERAS.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let p = SynthParams {
            size: SynthSize::Ntu60,
            ..Default::default()
        }
        .plan();
        assert_eq!(p.num_files(), 56_880);
        let mut pairs = p.sessions.clone();
        pairs.sort();
        pairs.dedup();
        assert_eq!(pairs.len(), 158, "sessions are distinct");
        assert_eq!(SynthParams::default().plan().num_files(), 720);
    }
}
