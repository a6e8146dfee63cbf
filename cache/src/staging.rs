//! Writing an artifact: a temp directory, sealed (hashed, fsynced, read-only, manifest
//! last) and renamed into objects/ in one atomic step.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::{CacheError, IoContext, Result};
use crate::fsutil::{
    EntryKind, create_dir_durable, fsync_dir, fsync_paths, hash_reader, make_read_only,
    remove_tree, walk,
};
use crate::key::Key;
use crate::manifest::{Artifact, ArtifactInfo, FileEntry, MANIFEST_FILE, Manifest};
use crate::store::{object_dir, quarantine, read_artifact};

/// The temp directory a stage writes its result into. Dropping it without `commit`
/// removes the directory (like Turborepo's `CacheWriter`); a kill leaves it in tmp/, where
/// `gc` finds it stale once the key's lock is free.
#[derive(Debug)]
pub struct Staging {
    root: PathBuf,
    key: Key,
    dir: PathBuf,
    /// A clone of the key's lock descriptor: the key stays locked while this exists.
    _lock: File,
    committed: bool,
}

impl Staging {
    pub(crate) fn new(root: PathBuf, key: Key, dir: PathBuf, lock: File) -> Staging {
        Staging {
            root,
            key,
            dir,
            _lock: lock,
            committed: false,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Hash every file (blake3, parallel), fsync files and directories, make files
    /// read-only, write MANIFEST.json last (fsynced), rename into objects/, fsync the
    /// parent. If the key was committed meanwhile, discard this copy and return the
    /// existing one. Artifacts hold regular files and directories only: a symlink or a
    /// special file is an error naming it.
    pub fn commit(mut self, info: ArtifactInfo) -> Result<Artifact> {
        let manifest = self.seal(info)?;
        let dest = object_dir(&self.root, &self.key);
        let shard = dest
            .parent()
            .expect("object dirs have a shard parent")
            .to_path_buf();
        create_dir_durable(&shard)?;
        let mut replaced_broken = false;
        loop {
            match fs::rename(&self.dir, &dest) {
                Ok(()) => {
                    self.committed = true;
                    fsync_dir(&shard)?;
                    return Ok(Artifact {
                        key: self.key.clone(),
                        dir: dest,
                        manifest,
                    });
                }
                Err(e) if is_occupied(&e) => match read_artifact(&self.root, &self.key) {
                    // Committed meanwhile: keep the first one; drop removes ours.
                    Ok(Some(existing)) => return Ok(existing),
                    // Something without a valid manifest sits there: move it aside, once.
                    Ok(None) | Err(_) if !replaced_broken => {
                        quarantine(&self.root, &self.key)?;
                        replaced_broken = true;
                    }
                    Ok(None) => return Err(CacheError::Vanished { path: dest }),
                    Err(err) => return Err(err),
                },
                Err(e) => return Err(e).ctx("rename into place", &dest),
            }
        }
    }

    fn seal(&self, info: ArtifactInfo) -> Result<Manifest> {
        let entries = walk(&self.dir)?;
        for e in &entries {
            match e.kind {
                EntryKind::Symlink | EntryKind::Other => {
                    return Err(CacheError::UnsupportedFile {
                        path: e.path.clone(),
                        what: e.kind.describe(),
                        context: "stores",
                    });
                }
                EntryKind::File if e.rel == MANIFEST_FILE => {
                    return Err(CacheError::ReservedName {
                        path: e.path.clone(),
                    });
                }
                _ => {}
            }
        }
        let files: Vec<FileEntry> = entries
            .par_iter()
            .filter(|e| e.kind == EntryKind::File)
            .map(|e| {
                let file = File::open(&e.path).ctx("open", &e.path)?;
                let (hash, size) = hash_reader(&file, &e.path)?;
                make_read_only(&e.path, &file.metadata().ctx("stat", &e.path)?)?;
                Ok(FileEntry {
                    path: e.rel.clone(),
                    size,
                    blake3: hash.to_hex().to_string(),
                })
            })
            .collect::<Result<_>>()?;
        let paths: Vec<&Path> = entries.iter().map(|e| e.path.as_path()).collect();
        fsync_paths(&paths)?;
        let manifest = Manifest {
            key: self.key.clone(),
            kind: info.kind,
            instance: info.instance,
            created: chrono::Utc::now(),
            seconds: info.seconds,
            components: info.components,
            total_bytes: files.iter().map(|f| f.size).sum(),
            files,
        };
        let path = self.dir.join(MANIFEST_FILE);
        let json = serde_json::to_vec_pretty(&manifest).map_err(|source| CacheError::Json {
            path: path.clone(),
            source,
        })?;
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .ctx("create", &path)?;
        f.write_all(&json).ctx("write", &path)?;
        f.sync_all().ctx("fsync", &path)?;
        make_read_only(&path, &f.metadata().ctx("stat", &path)?)?;
        drop(f);
        fsync_dir(&self.dir)?;
        Ok(manifest)
    }
}

fn is_occupied(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::AlreadyExists | io::ErrorKind::DirectoryNotEmpty
    ) || matches!(e.raw_os_error(), Some(libc::EEXIST) | Some(libc::ENOTEMPTY))
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            // Best effort: a leftover is stale once the lock is free, and gc removes it.
            let _ = remove_tree(&self.dir);
        }
    }
}
