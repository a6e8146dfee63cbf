//! Filesystem helpers: durable atomic writes, tree walks, hashing, removal of read-only trees.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{CacheError, IoContext, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// `<pid>.<n>`: unique among this process's temp names; creation with `create_new` /
/// `create_dir` catches the rare clash with another host's process on a shared filesystem.
pub(crate) fn unique_suffix() -> String {
    format!(
        "{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .ctx("open directory", dir)?
        .sync_all()
        .ctx("fsync directory", dir)
}

/// fsync many files and directories. fsync waits on the disk, not the CPU, so it runs on
/// more threads than cores: concurrent fsyncs share journal commits.
pub(crate) fn fsync_paths(paths: &[&Path]) -> Result<()> {
    const THREADS: usize = 16;
    let next = AtomicU64::new(0);
    let worker = || -> Result<()> {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed) as usize;
            let Some(path) = paths.get(i) else {
                return Ok(());
            };
            File::open(path)
                .ctx("open", path)?
                .sync_all()
                .ctx("fsync", path)?;
        }
    };
    if paths.len() < 4 {
        return worker();
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS.min(paths.len()))
            .map(|_| s.spawn(worker))
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().expect("fsync thread panicked"))
    })
}

/// Write `bytes` to `path` so that readers see the old content or the new, never a part:
/// a temp file beside it, fsync, rename over `path`, fsync the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", unique_suffix()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .ctx("create", &tmp)?;
        f.write_all(bytes).ctx("write", &tmp)?;
        f.sync_all().ctx("fsync", &tmp)?;
        drop(f);
        fs::rename(&tmp, path).ctx("rename into place", path)?;
        fsync_dir(dir)
    })();
    if result.is_err() {
        // Best effort: the write already failed and that error is what we report.
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// What a tree walk found (symlinks are not followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryKind {
    File,
    Dir,
    Symlink,
    Other,
}

impl EntryKind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            EntryKind::File => "regular file",
            EntryKind::Dir => "directory",
            EntryKind::Symlink => "symbolic link",
            EntryKind::Other => "special file (device, socket or FIFO)",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct WalkEntry {
    /// Relative to the walk's root, '/'-separated.
    pub rel: String,
    pub path: PathBuf,
    pub kind: EntryKind,
    pub size: u64,
}

/// Every entry under `root` (not `root` itself), sorted by relative path (bytes), without
/// following symlinks. Names that are not UTF-8 are an error.
pub(crate) fn walk(root: &Path) -> Result<Vec<WalkEntry>> {
    let mut out = Vec::new();
    walk_into(root, "", &mut out)?;
    out.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn walk_into(dir: &Path, prefix: &str, out: &mut Vec<WalkEntry>) -> Result<()> {
    for entry in fs::read_dir(dir).ctx("read directory", dir)? {
        let entry = entry.ctx("read directory", dir)?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(CacheError::NonUtf8Name { path });
        };
        let meta = fs::symlink_metadata(&path).ctx("stat", &path)?;
        let ft = meta.file_type();
        let kind = if ft.is_file() {
            EntryKind::File
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_symlink() {
            EntryKind::Symlink
        } else {
            EntryKind::Other
        };
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        out.push(WalkEntry {
            rel: rel.clone(),
            path: path.clone(),
            kind,
            size: meta.len(),
        });
        if kind == EntryKind::Dir {
            walk_into(&path, &rel, out)?;
        }
    }
    Ok(())
}

/// Bytes in regular files under `root` (0 if it does not exist).
pub(crate) fn tree_bytes(root: &Path) -> Result<u64> {
    match fs::symlink_metadata(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).ctx("stat", root),
        Ok(m) if !m.is_dir() => return Ok(m.len()),
        Ok(_) => {}
    }
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let entry = entry.ctx("read directory", &dir)?;
            let ft = entry.file_type().ctx("stat", &entry.path())?;
            if ft.is_dir() {
                stack.push(entry.path());
            } else if ft.is_file() {
                total += entry.metadata().ctx("stat", &entry.path())?.len();
            }
        }
    }
    Ok(total)
}

/// blake3 of a file's content and its length; big files are hashed on several threads.
pub(crate) fn hash_reader(mut r: impl Read, path: &Path) -> Result<(blake3::Hash, u64)> {
    const CHUNK: usize = 1 << 20;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let mut filled = 0;
        while filled < CHUNK {
            match r.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e).ctx("read", path),
            }
        }
        if filled == 0 {
            break;
        }
        if filled >= 128 * 1024 {
            hasher.update_rayon(&buf[..filled]);
        } else {
            hasher.update(&buf[..filled]);
        }
        if filled < CHUNK {
            break;
        }
    }
    Ok((hasher.finalize(), hasher.count()))
}

pub(crate) fn hash_file(path: &Path) -> Result<(blake3::Hash, u64)> {
    hash_reader(File::open(path).ctx("open", path)?, path)
}

/// Clear the write bits (artifacts are immutable once committed).
pub(crate) fn make_read_only(path: &Path, meta: &fs::Metadata) -> Result<()> {
    let mode = meta.permissions().mode();
    if mode & 0o222 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode & !0o222))
            .ctx("make read-only", path)?;
    }
    Ok(())
}

/// Remove a directory tree (or a file), also when a stage left directories without write
/// permission. A path that does not exist is fine.
pub(crate) fn remove_tree(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).ctx("stat", path),
        Ok(m) if !m.is_dir() => {
            return match fs::remove_file(path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                r => r.ctx("remove", path),
            };
        }
        Ok(_) => {}
    }
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            make_dirs_writable(path)?;
            match fs::remove_dir_all(path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                r => r.ctx("remove", path),
            }
        }
        Err(e) => Err(e).ctx("remove", path),
    }
}

fn make_dirs_writable(root: &Path) -> Result<()> {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let meta = match fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            r => r.ctx("stat", &dir)?,
        };
        if !meta.is_dir() {
            continue;
        }
        let mode = meta.permissions().mode();
        if mode & 0o700 != 0o700 {
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode | 0o700))
                .ctx("make writable", &dir)?;
        }
        for entry in fs::read_dir(&dir).ctx("read directory", &dir)? {
            let entry = entry.ctx("read directory", &dir)?;
            if entry.file_type().ctx("stat", &entry.path())?.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(())
}

/// Create `dir` (and parents); fsync the parent of every directory created, so that the
/// new entries survive a power loss.
pub(crate) fn create_dir_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_durable(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(e).ctx("create directory", dir),
    }
    if let Some(parent) = dir.parent() {
        fsync_dir(parent)?;
    }
    Ok(())
}

/// UTC time for names of quarantined and trashed entries.
pub(crate) fn timestamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string()
}
