//! `verify` (rehash, quarantine what is corrupt) and `gc` (remove what is not kept).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::PathBuf;

use rayon::prelude::*;

use crate::error::{IoContext, Result};
use crate::fsutil::{EntryKind, hash_file, remove_tree, tree_bytes, walk};
use crate::key::Key;
use crate::manifest::{MANIFEST_FILE, Manifest, manifest_path};
use crate::store::{QUARANTINE, Store, TMP, WORK, check_key, object_dir, quarantine};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct VerifyReport {
    /// Artifacts rehashed.
    pub checked: usize,
    /// Corrupt artifacts and why (missing/extra/changed files, bad manifest).
    pub corrupt: Vec<(Key, String)>,
    /// Where the corrupt artifacts went.
    pub quarantined: Vec<PathBuf>,
    /// Keys not checked because a process holds their lock (being written or removed).
    pub skipped_locked: Vec<Key>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct GcReport {
    /// Artifacts removed (or that would be, with `dry_run`) and their bytes, work dir included.
    pub removed: Vec<(Key, u64)>,
    /// Artifacts kept: in the keep set, or locked.
    pub kept: usize,
    /// Everything freed: artifacts, work dirs, stale tmp dirs, quarantine.
    pub freed_bytes: u64,
    /// Staging dirs left by killed processes (their key's lock is free), and temp files of
    /// atomic writes over an hour old.
    pub stale_tmp: usize,
    pub dry_run: bool,
    /// Work dirs removed whose key has no artifact (checkpoints of abandoned keys), and
    /// leftover work dirs of committed keys.
    pub work_dirs: Vec<(Key, u64)>,
    /// Entries removed from quarantine/.
    pub quarantine: usize,
    /// Artifacts not in the keep set but kept because a process holds their lock.
    pub skipped_locked: Vec<Key>,
}

const MAX_REASONS: usize = 5;

impl Store {
    /// Rehash artifacts (all, or `keys`; a listed key without an artifact is ignored).
    /// Corrupt ones (missing, extra or changed files, unreadable or mismatched manifest,
    /// or a directory under objects/ with no manifest at all) are moved to
    /// `quarantine/<key>.<timestamp>` so they get recomputed. Never touches locked keys.
    pub fn verify(&self, keys: Option<&[Key]>) -> Result<VerifyReport> {
        let keys = match keys {
            Some(keys) => {
                keys.iter().try_for_each(check_key)?;
                keys.iter()
                    .filter(|k| self.object_dir(k).exists())
                    .cloned()
                    .collect()
            }
            None => self.object_keys()?,
        };
        let mut report = VerifyReport::default();
        for key in keys {
            let Some(_lock) = self.try_lock(&key)? else {
                report.skipped_locked.push(key);
                continue;
            };
            if !self.object_dir(&key).exists() {
                continue; // removed while we were getting the lock
            }
            report.checked += 1;
            if let Some(reason) = self.check_artifact(&key)? {
                report.quarantined.push(quarantine(&self.root, &key)?);
                report.corrupt.push((key, reason));
            }
        }
        Ok(report)
    }

    /// None if the artifact matches its manifest, else what is wrong. I/O errors while
    /// reading the artifact's files count as corruption (the reason quotes them).
    fn check_artifact(&self, key: &Key) -> Result<Option<String>> {
        let dir = object_dir(&self.root, key);
        let mpath = manifest_path(&dir);
        let manifest: Manifest = match fs::read(&mpath) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Some(format!("{MANIFEST_FILE} is missing")));
            }
            Err(e) => return Ok(Some(format!("{MANIFEST_FILE} is unreadable: {e}"))),
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    return Ok(Some(format!(
                        "{MANIFEST_FILE} is not a valid manifest: {e}"
                    )));
                }
            },
        };
        if manifest.key != *key {
            return Ok(Some(format!("{MANIFEST_FILE} is for key {}", manifest.key)));
        }
        let entries = match walk(&dir) {
            Ok(e) => e,
            Err(e) => return Ok(Some(format!("cannot list the artifact: {e}"))),
        };
        let mut problems = Vec::new();
        let expected: BTreeMap<&str, &crate::manifest::FileEntry> = manifest
            .files
            .iter()
            .map(|f| (f.path.as_str(), f))
            .collect();
        let mut present = BTreeSet::new();
        let mut to_hash = Vec::new();
        for e in &entries {
            match e.kind {
                EntryKind::Dir => {}
                EntryKind::File if e.rel == MANIFEST_FILE => {}
                EntryKind::File => match expected.get(e.rel.as_str()) {
                    None => problems.push(format!("unexpected file `{}`", e.rel)),
                    Some(f) => {
                        present.insert(e.rel.as_str());
                        if f.size != e.size {
                            problems.push(format!(
                                "`{}` has {} bytes, the manifest says {}",
                                e.rel, e.size, f.size
                            ));
                        } else {
                            to_hash.push((e, *f));
                        }
                    }
                },
                EntryKind::Symlink | EntryKind::Other => {
                    problems.push(format!("unexpected {} `{}`", e.kind.describe(), e.rel))
                }
            }
        }
        for f in &manifest.files {
            if !present.contains(f.path.as_str()) {
                problems.push(format!("file `{}` is missing", f.path));
            }
        }
        let changed: Vec<String> = to_hash
            .par_iter()
            .filter_map(|(e, f)| match hash_file(&e.path) {
                Ok((h, _)) if h.to_hex().as_str() == f.blake3 => None,
                Ok((h, _)) => Some(format!(
                    "`{}` changed (blake3 {}…, the manifest says {}…)",
                    e.rel,
                    &h.to_hex()[..12],
                    short(&f.blake3)
                )),
                Err(err) => Some(format!("`{}` is unreadable: {err}", e.rel)),
            })
            .collect();
        problems.extend(changed);
        if problems.is_empty() {
            return Ok(None);
        }
        let more = problems.len().saturating_sub(MAX_REASONS);
        problems.truncate(MAX_REASONS);
        let mut reason = problems.join("; ");
        if more > 0 {
            reason.push_str(&format!("; and {more} more"));
        }
        Ok(Some(reason))
    }

    /// Remove every artifact (and its work dir) not in `keep` and not locked; work dirs
    /// of keys not in `keep` (or already committed) whose lock is free; stale tmp dirs
    /// (their key's lock is free); quarantined artifacts; stale digest-cache entries and
    /// lock files of keys that have nothing left. With `dry_run`, report only: nothing is
    /// changed.
    ///
    /// Runs in progress are honoured whatever `keep` says: holding the store's run lock
    /// exclusively (see [`Store::start_run`]), every key that a live run's record names is
    /// kept too.
    pub fn gc(&self, keep: &BTreeSet<Key>, dry_run: bool) -> Result<GcReport> {
        let _runs = self.runs_lock(true)?;
        let mut live = self.keys_of_live_runs()?;
        // A detached batch job has no live run, but will read its inputs.
        live.extend(self.keys_of_submissions()?);
        let keep: BTreeSet<Key> = keep.union(&live).cloned().collect();
        let mut report = GcReport {
            dry_run,
            ..GcReport::default()
        };

        // Artifacts.
        for key in self.object_keys()? {
            if keep.contains(&key) {
                report.kept += 1;
                continue;
            }
            if dry_run {
                if self.is_locked(&key)? {
                    report.kept += 1;
                    report.skipped_locked.push(key);
                } else {
                    let bytes =
                        tree_bytes(&self.object_dir(&key))? + tree_bytes(&self.work_path(&key))?;
                    report.freed_bytes += bytes;
                    report.removed.push((key, bytes));
                }
                continue;
            }
            let Some(lock) = self.try_lock(&key)? else {
                report.kept += 1;
                report.skipped_locked.push(key);
                continue;
            };
            let bytes = self.remove(&lock)? + remove_counted(&self.work_path(&key))?;
            lock.remove_file()?;
            report.freed_bytes += bytes;
            report.removed.push((key, bytes));
        }

        // Work dirs of keys that are not kept, or already committed.
        let removed: BTreeSet<Key> = report.removed.iter().map(|(k, _)| k.clone()).collect();
        for key in self.keys_in(WORK)? {
            if removed.contains(&key) || (keep.contains(&key) && !self.contains(&key)) {
                continue;
            }
            let path = self.work_path(&key);
            if dry_run {
                if !self.is_locked(&key)? {
                    let bytes = tree_bytes(&path)?;
                    report.freed_bytes += bytes;
                    report.work_dirs.push((key, bytes));
                }
                continue;
            }
            let Some(_lock) = self.try_lock(&key)? else {
                continue;
            };
            let bytes = remove_counted(&path)?;
            report.freed_bytes += bytes;
            report.work_dirs.push((key, bytes));
        }

        // Stale staging dirs (and trash of a killed gc): their key's lock is free.
        let tmp = self.root.join(TMP);
        for (name, key) in self.tmp_entries()? {
            let path = tmp.join(&name);
            if dry_run {
                if !self.is_locked(&key)? {
                    report.freed_bytes += tree_bytes(&path)?;
                    report.stale_tmp += 1;
                }
                continue;
            }
            let Some(_lock) = self.try_lock(&key)? else {
                continue;
            };
            report.freed_bytes += remove_counted(&path)?;
            report.stale_tmp += 1;
        }

        // Temp files of atomic writes left by killed processes.
        for path in self.old_write_temps()? {
            report.freed_bytes += if dry_run {
                tree_bytes(&path)?
            } else {
                remove_counted(&path)?
            };
            report.stale_tmp += 1;
        }

        // Quarantine.
        let qdir = self.root.join(QUARANTINE);
        for entry in fs::read_dir(&qdir).ctx("read directory", &qdir)? {
            let path = entry.ctx("read directory", &qdir)?.path();
            report.freed_bytes += if dry_run {
                tree_bytes(&path)?
            } else {
                remove_counted(&path)?
            };
            report.quarantine += 1;
        }

        if !dry_run {
            self.remove_idle_lock_files()?;
            self.digests.prune()?;
        }
        Ok(report)
    }

    /// Keys named by the entries of a directory of the root (work/).
    fn keys_in(&self, sub: &str) -> Result<Vec<Key>> {
        let dir = self.root.join(sub);
        let mut keys = Vec::new();
        for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let entry = entry.ctx("read directory", &dir)?;
            if let Some(key) = entry.file_name().to_str().and_then(|n| Key::parse(n).ok()) {
                keys.push(key);
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Entries of tmp/ named `<key>.<…>` (staging dirs and gc trash). Anything else is
    /// not ours and is left alone.
    fn tmp_entries(&self) -> Result<Vec<(String, Key)>> {
        let dir = self.root.join(TMP);
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let entry = entry.ctx("read directory", &dir)?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let key = name
                .get(..Key::LEN)
                .filter(|_| name.as_bytes().get(Key::LEN) == Some(&b'.'))
                .and_then(|k| Key::parse(k).ok());
            if let Some(key) = key {
                out.push((name, key));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Temp files of atomic writes (`.<name>.tmp.<pid>.<n>`, see `write_atomic`) in the
    /// root and in runs/<pipeline>/ that are over an hour old: a live writer's exists for
    /// milliseconds, so these belong to killed processes.
    fn old_write_temps(&self) -> Result<Vec<PathBuf>> {
        let runs = self.root.join(crate::store::RUNS);
        let mut dirs = vec![self.root.clone()];
        for entry in fs::read_dir(&runs).ctx("read directory", &runs)? {
            let entry = entry.ctx("read directory", &runs)?;
            if entry.file_type().ctx("stat", &entry.path())?.is_dir() {
                dirs.push(entry.path());
            }
        }
        let mut out = Vec::new();
        for dir in dirs {
            for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
                let entry = entry.ctx("read directory", &dir)?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if !(name.starts_with('.') && name.contains(".tmp.")) {
                    continue;
                }
                let meta = entry.metadata().ctx("stat", &entry.path())?;
                let age = meta
                    .modified()
                    .ctx("stat", &entry.path())?
                    .elapsed()
                    .unwrap_or_default();
                if meta.is_file() && age > std::time::Duration::from_secs(3600) {
                    out.push(entry.path());
                }
            }
        }
        Ok(out)
    }

    /// Delete lock files of keys with no artifact, work dir or tmp dir, while holding them.
    fn remove_idle_lock_files(&self) -> Result<()> {
        let dir = self.root.join(crate::store::LOCKS);
        let busy: BTreeSet<Key> = self.tmp_entries()?.into_iter().map(|(_, k)| k).collect();
        for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let entry = entry.ctx("read directory", &dir)?;
            let Some(key) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".lock"))
                .and_then(|k| Key::parse(k).ok())
            else {
                continue;
            };
            if busy.contains(&key)
                || self.object_dir(&key).exists()
                || self.work_path(&key).exists()
            {
                continue;
            }
            if let Some(lock) = self.try_lock(&key)? {
                lock.remove_file()?;
            }
        }
        Ok(())
    }
}

fn remove_counted(path: &std::path::Path) -> Result<u64> {
    let bytes = tree_bytes(path)?;
    remove_tree(path)?;
    Ok(bytes)
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}
