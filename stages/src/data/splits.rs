//! Benchmark splits (ML-FACTS §1.2, §1.3) and the published missing-skeleton lists.

use std::collections::HashSet;
use std::path::Path;

use super::dataset::{SampleInfo, SplitFile};
use crate::StageError;

/// NTU-60 cross-subject training subjects (ST-GCN `ntu_gendata.py`).
pub const NTU60_XSUB_TRAIN: [i32; 20] = [
    1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38,
];
/// NTU-60 cross-view training cameras.
pub const NTU60_XVIEW_TRAIN: [i32; 2] = [2, 3];
/// NTU-120 cross-subject training subjects (CMD `ntu_gendata.py`).
pub const NTU120_XSUB_TRAIN: [i32; 53] = [
    1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38, 45, 46, 47, 49, 50,
    52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93, 94, 95,
    97, 98, 100, 103,
];

/// The NTU RGB+D 120 list of samples with missing skeletons (535 names; the first 302 are
/// the NTU-60 list). BSD-2-Clause, from CrosSCLR; see `lists/LICENSE-CrosSCLR.txt`.
pub const NTU120_MISSING: &str =
    include_str!("lists/NTU_RGBD120_samples_with_missing_skeletons.txt");
/// Lines of [`NTU120_MISSING`] that form the NTU-60 list.
pub const NTU60_MISSING_LINES: usize = 302;

/// Which missing-skeleton list to honour.
pub fn missing_list(spec: &str, base: &Path) -> Result<HashSet<String>, StageError> {
    let names = |text: &str, take: usize| -> HashSet<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(take)
            .map(str::to_string)
            .collect()
    };
    match spec {
        "ntu120" => Ok(names(NTU120_MISSING, usize::MAX)),
        "ntu60" => Ok(names(NTU120_MISSING, NTU60_MISSING_LINES)),
        "none" => Ok(HashSet::new()),
        path => {
            let p = if Path::new(path).is_absolute() {
                Path::new(path).to_path_buf()
            } else {
                base.join(path)
            };
            let text = std::fs::read_to_string(&p).map_err(|e| {
                StageError::param(
                    "missing_list",
                    format!(
                        "cannot read {} ({e}); use `ntu120`, `ntu60`, `none` or a file with one sample name per line",
                        p.display()
                    ),
                )
            })?;
            Ok(text
                .lines()
                .map(|l| l.trim().trim_end_matches(".skeleton").to_string())
                .filter(|l| !l.is_empty())
                .collect())
        }
    }
}

fn split_by(name: &str, infos: &[SampleInfo], is_train: impl Fn(&SampleInfo) -> bool) -> SplitFile {
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for (i, s) in infos.iter().enumerate() {
        if is_train(s) {
            train.push(i)
        } else {
            test.push(i)
        }
    }
    SplitFile {
        benchmark: name.to_string(),
        train,
        test,
    }
}

/// The NTU benchmarks of a set of samples: NTU-120 x-sub / x-set always, NTU-60 x-sub /
/// x-view when every action is one of the first 60 (an NTU-60 corpus).
pub fn ntu_benchmarks(infos: &[SampleInfo]) -> Vec<SplitFile> {
    let action = |s: &SampleInfo| s.label + 1;
    let mut out = Vec::new();
    if infos.iter().all(|s| action(s) <= 60) {
        out.push(split_by("ntu60-xsub", infos, |s| {
            NTU60_XSUB_TRAIN.contains(&s.subject)
        }));
        out.push(split_by("ntu60-xview", infos, |s| {
            NTU60_XVIEW_TRAIN.contains(&s.camera)
        }));
    }
    out.push(split_by("ntu120-xsub", infos, |s| {
        NTU120_XSUB_TRAIN.contains(&s.subject)
    }));
    out.push(split_by("ntu120-xset", infos, |s| s.setup % 2 == 0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_lists() {
        let l120 = missing_list("ntu120", Path::new(".")).unwrap();
        let l60 = missing_list("ntu60", Path::new(".")).unwrap();
        assert_eq!((l120.len(), l60.len()), (535, 302));
        assert!(l60.contains("S001C003P002R001A055") && l60.is_subset(&l120));
        assert!(missing_list("none", Path::new(".")).unwrap().is_empty());
        let e = missing_list("nope.txt", Path::new("/nowhere"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/nowhere/nope.txt") && e.contains("ntu120"),
            "{e}"
        );
    }
}
