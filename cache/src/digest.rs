//! Content digests of files and directories outside the cache (a stage's external inputs),
//! with a stat cache so that unchanged files are not read again.
//!
//! - A file's digest is blake3 of its content (the same hex `b3sum` prints).
//! - A directory's digest is blake3 in derive-key mode (domain-separated from file
//!   digests) over its entries sorted by relative path (bytes, '/'-separated): each
//!   subdirectory as `d` + path (so empty directories count), each file as `f` + path +
//!   its content digest; paths are length-prefixed. Symlinks are followed (the digest is
//!   of what a stage reading the path sees); a symlink loop, a dangling symlink and a
//!   special file (FIFO, socket, device) are errors naming the path: nothing is skipped.
//!
//! The stat cache (`digests.json`) maps an absolute path to (device, inode, size,
//! mtime_ns, ctime_ns) and the digest. A file whose stat matches is not read. Known
//! limitation, shared with DVC and Nextflow: a file rewritten with the same size and the
//! same timestamps keeps its old digest. Nanosecond mtime and ctime (which a user cannot
//! set back) make that unlikely; and, as git does for "racily clean" files, a file
//! whose mtime is less than two seconds before it was read is not cached, so a write
//! landing in the same timestamp tick as the read cannot be missed. `digests.json` is a pure cache:
//! if it cannot be parsed it is rebuilt from scratch.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{CacheError, IoContext, Result};
use crate::fsutil::{hash_reader, write_atomic};

pub(crate) const DIGESTS_FILE: &str = "digests.json";
const DIGESTS_VERSION: u32 = 1;
const DIR_CONTEXT: &str = "skelflow 2026 directory digest v1";
/// Files modified this recently before being read are not cached (see the module docs).
const RACY_NS: i64 = 2_000_000_000;
const CHANGING_RETRIES: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stat {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
}

impl Stat {
    fn of(m: &fs::Metadata) -> Stat {
        let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
        Stat {
            dev: m.dev(),
            ino: m.ino(),
            size: m.len(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    #[serde(flatten)]
    stat: Stat,
    blake3: String,
}

#[derive(Serialize, Deserialize)]
struct DigestsFile {
    version: u32,
    files: HashMap<String, Entry>,
}

/// How much work digests took in this process (to check that the stat cache works).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DigestStats {
    /// Files read and hashed.
    pub files_hashed: u64,
    pub bytes_hashed: u64,
    /// Files whose digest came from the stat cache (one stat, no read).
    pub cache_hits: u64,
}

struct DigestCache {
    /// `digests.json`; None: a cache in memory only (no store to keep it in).
    path: Option<PathBuf>,
    loaded: bool,
    entries: HashMap<String, Entry>,
    updated: HashSet<String>,
    removed: HashSet<String>,
    stats: DigestStats,
}

impl DigestCache {
    fn new(path: Option<PathBuf>) -> DigestCache {
        DigestCache {
            path,
            loaded: false,
            entries: HashMap::new(),
            updated: HashSet::new(),
            removed: HashSet::new(),
            stats: DigestStats::default(),
        }
    }

    fn ensure_loaded(&mut self) -> Result<()> {
        if !self.loaded {
            if let Some(path) = &self.path {
                self.entries = read_digests_file(path)?;
            }
            self.loaded = true;
        }
        Ok(())
    }
}

/// The entries on disk; a missing or unparsable file is an empty cache.
fn read_digests_file(path: &Path) -> Result<HashMap<String, Entry>> {
    match fs::read(path) {
        Ok(bytes) => Ok(serde_json::from_slice::<DigestsFile>(&bytes)
            .ok()
            .filter(|f| f.version == DIGESTS_VERSION)
            .map(|f| f.files)
            .unwrap_or_default()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HashMap::new()),
        Err(e) => Err(e).ctx("read", path),
    }
}

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

enum Item {
    Dir {
        rel: Vec<u8>,
    },
    File {
        rel: Vec<u8>,
        path: PathBuf,
        meta: fs::Metadata,
    },
}

impl Item {
    fn rel(&self) -> &[u8] {
        match self {
            Item::Dir { rel } | Item::File { rel, .. } => rel,
        }
    }
}

/// Content digests with their stat cache: a store's (kept in its `digests.json`), or one
/// in memory only, for computing keys where there is no cache yet (and none may be
/// created, e.g. `skelflow status` of a pipeline never run). `Send + Sync`.
pub struct Digests {
    cache: Mutex<DigestCache>,
}

impl Digests {
    pub(crate) fn in_file(path: PathBuf) -> Digests {
        Digests {
            cache: Mutex::new(DigestCache::new(Some(path))),
        }
    }

    /// A stat cache that lives as long as this value and is never written anywhere.
    pub fn in_memory() -> Digests {
        Digests {
            cache: Mutex::new(DigestCache::new(None)),
        }
    }

    /// Content digest of a file or directory outside the cache (blake3 hex); see the
    /// module docs of `digest` for the directory format, symlinks and special files.
    /// Unchanged files cost one stat. Thread-safe.
    pub fn digest_path(&self, path: &Path) -> Result<String> {
        let abs = std::path::absolute(path).ctx("resolve", path)?;
        let meta = fs::metadata(&abs).ctx("stat", &abs)?;
        if meta.is_file() {
            Ok(self.digest_file(&abs, &meta)?.to_hex().to_string())
        } else if meta.is_dir() {
            self.digest_dir(&abs, &meta)
        } else {
            Err(CacheError::UnsupportedFile {
                path: abs,
                what: "special file (device, socket or FIFO)",
                context: "digests",
            })
        }
    }

    /// Persist the stat cache (also done when the store is dropped). Entries written by
    /// other processes meanwhile are kept.
    pub fn flush(&self) -> Result<()> {
        let mut cache = self.digest_cache();
        let Some(path) = cache.path.clone() else {
            return Ok(());
        };
        if cache.updated.is_empty() && cache.removed.is_empty() {
            return Ok(());
        }
        let mut files = read_digests_file(&path)?;
        for k in &cache.removed {
            files.remove(k);
        }
        for k in &cache.updated {
            if let Some(e) = cache.entries.get(k) {
                files.insert(k.clone(), e.clone());
            }
        }
        let json = serde_json::to_vec(&DigestsFile {
            version: DIGESTS_VERSION,
            files,
        })
        .map_err(|source| CacheError::Json {
            path: path.clone(),
            source,
        })?;
        write_atomic(&path, &json)?;
        cache.updated.clear();
        cache.removed.clear();
        Ok(())
    }

    /// What digests cost so far in this process.
    pub fn stats(&self) -> DigestStats {
        self.digest_cache().stats
    }

    /// Drop stat-cache entries whose file is gone or changed (called by gc), and save.
    pub(crate) fn prune(&self) -> Result<()> {
        {
            let mut cache = self.digest_cache();
            cache.ensure_loaded()?;
            let stale: Vec<String> = cache
                .entries
                .iter()
                .filter(|(p, e)| {
                    fs::metadata(p)
                        .map(|m| Stat::of(&m) != e.stat)
                        .unwrap_or(true)
                })
                .map(|(p, _)| p.clone())
                .collect();
            for p in stale {
                cache.entries.remove(&p);
                cache.updated.remove(&p);
                cache.removed.insert(p);
            }
        }
        self.flush()
    }

    fn digest_cache(&self) -> MutexGuard<'_, DigestCache> {
        // The cache stays consistent entry by entry, so a panic elsewhere does not taint it.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn digest_file(&self, path: &Path, meta: &fs::Metadata) -> Result<blake3::Hash> {
        let name = path.to_string_lossy().into_owned();
        let mut stat = Stat::of(meta);
        {
            let mut cache = self.digest_cache();
            cache.ensure_loaded()?;
            if let Some(hash) = cache
                .entries
                .get(&name)
                .filter(|e| e.stat == stat)
                .and_then(|e| blake3::Hash::from_hex(&e.blake3).ok())
            {
                cache.stats.cache_hits += 1;
                return Ok(hash);
            }
        }
        for _ in 0..CHANGING_RETRIES {
            let started = now_ns();
            let file = File::open(path).ctx("open", path)?;
            let (hash, len) = hash_reader(&file, path)?;
            let after = Stat::of(&fs::metadata(path).ctx("stat", path)?);
            if after != stat || len != stat.size {
                stat = after; // written while we read it: read again
                continue;
            }
            let mut cache = self.digest_cache();
            cache.stats.files_hashed += 1;
            cache.stats.bytes_hashed += len;
            // Racily clean: a write in the same timestamp tick as our read would leave
            // mtime as it is. An older mtime changes on any later write.
            if stat.mtime_ns < started.saturating_sub(RACY_NS) {
                cache.entries.insert(
                    name.clone(),
                    Entry {
                        stat,
                        blake3: hash.to_hex().to_string(),
                    },
                );
                cache.removed.remove(&name);
                cache.updated.insert(name);
            }
            return Ok(hash);
        }
        Err(CacheError::Io {
            op: "digest",
            path: path.to_path_buf(),
            source: io::Error::other(format!(
                "the file kept changing while being read ({CHANGING_RETRIES} tries)"
            )),
        })
    }

    fn digest_dir(&self, root: &Path, meta: &fs::Metadata) -> Result<String> {
        let mut items = Vec::new();
        let mut ancestors = vec![(meta.dev(), meta.ino())];
        collect(root, &[], &mut ancestors, &mut items)?;
        items.sort_unstable_by(|a, b| a.rel().cmp(b.rel()));
        let digests: Vec<Option<blake3::Hash>> = items
            .par_iter()
            .map(|item| match item {
                Item::Dir { .. } => Ok(None),
                Item::File { path, meta, .. } => self.digest_file(path, meta).map(Some),
            })
            .collect::<Result<_>>()?;
        let mut hasher = blake3::Hasher::new_derive_key(DIR_CONTEXT);
        hasher.update(&(items.len() as u64).to_le_bytes());
        for (item, digest) in items.iter().zip(&digests) {
            let rel = item.rel();
            hasher.update(if digest.is_some() { b"f" } else { b"d" });
            hasher.update(&(rel.len() as u64).to_le_bytes());
            hasher.update(rel);
            if let Some(d) = digest {
                hasher.update(d.as_bytes());
            }
        }
        Ok(hasher.finalize().to_hex().to_string())
    }
}

/// Everything under `dir`, following symlinks; `ancestors` catches symlink loops.
fn collect(
    dir: &Path,
    prefix: &[u8],
    ancestors: &mut Vec<(u64, u64)>,
    out: &mut Vec<Item>,
) -> Result<()> {
    for entry in fs::read_dir(dir).ctx("read directory", dir)? {
        let entry = entry.ctx("read directory", dir)?;
        let path = entry.path();
        let mut rel = prefix.to_vec();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(entry.file_name().as_bytes());
        let meta = fs::metadata(&path).ctx("stat (following symlinks)", &path)?;
        if meta.is_dir() {
            let id = (meta.dev(), meta.ino());
            if ancestors.contains(&id) {
                return Err(CacheError::SymlinkLoop { path });
            }
            out.push(Item::Dir { rel: rel.clone() });
            ancestors.push(id);
            collect(&path, &rel, ancestors, out)?;
            ancestors.pop();
        } else if meta.is_file() {
            out.push(Item::File { rel, path, meta });
        } else {
            return Err(CacheError::UnsupportedFile {
                path,
                what: "special file (device, socket or FIFO)",
                context: "digests",
            });
        }
    }
    Ok(())
}
