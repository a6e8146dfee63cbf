//! Which cache a command uses: `--cache`, else `$SKELFLOW_CACHE`, else the first `.skelflow/`
//! cache found walking up from a start directory (the pipeline file's, or the working
//! directory for commands without a pipeline), as git finds `.git` and DVC `.dvc`: one cache
//! per project, which every command finds from anywhere inside it.
//!
//! The walk stops at the top of the enclosing git work tree, so a project never picks up a
//! cache outside it by accident (say `~/.skelflow`, left by trying skelflow in the home
//! directory); outside any git work tree it goes up to `/`. Only `run` creates a cache when
//! none is found ([`new_root`]); every other command reports that there is none.

use std::path::{Path, PathBuf};

use skelflow_cache::Store;

/// The cache directory's name, at a project's root.
pub const DIR_NAME: &str = ".skelflow";

/// How the cache's directory was chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Env,
    /// Found walking up from this directory.
    Found {
        from: PathBuf,
    },
    /// Created by this `run`: none was found walking up from `from`.
    Created {
        from: PathBuf,
        place: Place,
    },
}

/// Where `run` puts a new cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The top of the git work tree that holds the pipeline.
    GitTop,
    /// The working directory (no git work tree; the pipeline lies under it).
    WorkingDir,
    /// Beside the pipeline (no git work tree; the pipeline lies outside the working directory).
    PipelineDir,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub root: PathBuf,
    pub origin: Origin,
}

/// The answer of [`lookup`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// Named by `--cache` or `$SKELFLOW_CACHE` (which may not exist yet), or found.
    At(Located),
    /// No cache in `start` or its parents, up to `ceiling` (the top of the git work tree)
    /// or `/`.
    NotFound {
        start: PathBuf,
        ceiling: Option<PathBuf>,
    },
}

/// Resolve the cache: `flag`, else `env` (when not empty), else walking up from `start`
/// (absolute). Creates nothing.
pub fn lookup(flag: Option<&Path>, env: Option<&std::ffi::OsStr>, start: &Path) -> Lookup {
    if let Some(f) = flag {
        return Lookup::At(Located {
            root: f.to_path_buf(),
            origin: Origin::Flag,
        });
    }
    if let Some(e) = env.filter(|e| !e.is_empty()) {
        return Lookup::At(Located {
            root: PathBuf::from(e),
            origin: Origin::Env,
        });
    }
    let ceiling = project_root(start);
    for dir in start.ancestors() {
        let candidate = dir.join(DIR_NAME);
        if Store::is_store(&candidate) {
            return Lookup::At(Located {
                root: candidate,
                origin: Origin::Found {
                    from: start.to_path_buf(),
                },
            });
        }
        if ceiling.as_deref() == Some(dir) {
            break;
        }
    }
    Lookup::NotFound {
        start: start.to_path_buf(),
        ceiling,
    }
}

/// The top of the git work tree holding `dir`: its nearest ancestor (itself included) with
/// a `.git` (a directory, or the file of a worktree or submodule).
pub fn project_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// Where `run` creates the cache when none was found: the top of the pipeline's git work
/// tree, else the working directory if the pipeline lies under it, else beside the pipeline.
/// So `skelflow run pipelines/x.yaml` from a project's root puts it at the root, where every
/// command run inside the project finds it.
pub fn new_root(cwd: &Path, pipeline_dir: &Path) -> (PathBuf, Place) {
    if let Some(top) = project_root(pipeline_dir) {
        (top.join(DIR_NAME), Place::GitTop)
    } else if pipeline_dir.starts_with(cwd) {
        (cwd.join(DIR_NAME), Place::WorkingDir)
    } else {
        (pipeline_dir.join(DIR_NAME), Place::PipelineDir)
    }
}

/// Caches in the subdirectories of `dir` (e.g. `pipelines/.skelflow`, where an older
/// skelflow kept each pipeline's cache): named when none is found walking up.
pub fn nested(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path().join(DIR_NAME))
        .filter(|c| Store::is_store(c))
        .collect();
    found.sort();
    found
}

/// `path` as the user would write it from `cwd`: relative when it lies inside `cwd` or
/// beside one of its ancestors (a cache found walking up: `../.skelflow`), else absolute.
pub fn shown(path: &Path, cwd: &Path) -> String {
    if let Ok(rel) = path.strip_prefix(cwd) {
        return if rel.as_os_str().is_empty() {
            ".".into()
        } else {
            rel.display().to_string()
        };
    }
    let ups = |n: usize| (0..n).map(|_| "..").collect::<PathBuf>();
    if let Ok(below) = cwd.strip_prefix(path)
        && path.parent().is_some()
    {
        return ups(below.components().count()).display().to_string();
    }
    if let (Some(parent), Some(name)) = (path.parent(), path.file_name())
        && parent.parent().is_some()
        && let Ok(below) = cwd.strip_prefix(parent)
    {
        return ups(below.components().count())
            .join(name)
            .display()
            .to_string();
    }
    path.display().to_string()
}

/// A directory for messages: `pipelines/`, `./`, `../`, or absolute.
pub fn shown_dir(dir: &Path, cwd: &Path) -> String {
    let s = shown(dir, cwd);
    if s.ends_with('/') { s } else { format!("{s}/") }
}

impl Located {
    /// `.skelflow (found walking up from pipelines/)`: the cache and why it is this one.
    pub fn describe(&self, cwd: &Path) -> String {
        let root = match self.origin {
            // as the user wrote it
            Origin::Flag | Origin::Env => self.root.display().to_string(),
            _ => shown(&self.root, cwd),
        };
        let why = match &self.origin {
            Origin::Flag => "--cache".to_string(),
            Origin::Env => "$SKELFLOW_CACHE".to_string(),
            Origin::Found { from } => format!("found walking up from {}", shown_dir(from, cwd)),
            Origin::Created { from, place } => format!(
                "new: none found walking up from {}, so {}",
                shown_dir(from, cwd),
                match place {
                    Place::GitTop => "at the top of the git work tree",
                    Place::WorkingDir => "in the working directory",
                    Place::PipelineDir => "beside the pipeline",
                }
            ),
        };
        format!("{root} ({why})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_at(dir: &Path) {
        Store::open(dir).unwrap();
    }

    #[test]
    fn flag_then_env_then_the_nearest_cache_walking_up() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join(".git")).unwrap();
        let deep = root.join("pipelines/sub");
        std::fs::create_dir_all(&deep).unwrap();
        let flag = Path::new("x/cache");
        let env = std::ffi::OsStr::new("/scratch/cache");

        assert_eq!(
            lookup(Some(flag), Some(env), &deep),
            Lookup::At(Located {
                root: flag.to_path_buf(),
                origin: Origin::Flag
            })
        );
        assert_eq!(
            lookup(None, Some(env), &deep),
            Lookup::At(Located {
                root: PathBuf::from("/scratch/cache"),
                origin: Origin::Env
            })
        );
        // an empty $SKELFLOW_CACHE is unset; nothing found: where the walk stopped
        let none = lookup(None, Some(std::ffi::OsStr::new("")), &deep);
        assert_eq!(
            none,
            Lookup::NotFound {
                start: deep.clone(),
                ceiling: Some(root.to_path_buf())
            }
        );
        assert!(!root.join(DIR_NAME).exists() && !deep.join(DIR_NAME).exists());

        // a plain `.skelflow` directory is not a cache; the root's cache is found from below
        std::fs::create_dir(deep.join(DIR_NAME)).unwrap();
        store_at(&root.join(DIR_NAME));
        let found = |start: &Path| match lookup(None, None, start) {
            Lookup::At(l) => l.root,
            other => panic!("{other:?}"),
        };
        assert_eq!(found(&deep), root.join(DIR_NAME));
        // the nearest wins: an older cache beside the pipeline
        store_at(&root.join("pipelines").join(DIR_NAME));
        assert_eq!(found(&deep), root.join("pipelines").join(DIR_NAME));
        assert_eq!(found(root), root.join(DIR_NAME));
    }

    #[test]
    fn the_walk_stops_at_the_top_of_the_git_work_tree() {
        let tmp = tempfile::tempdir().unwrap();
        store_at(&tmp.path().join(DIR_NAME));
        let project = tmp.path().join("project");
        std::fs::create_dir_all(project.join("pipelines")).unwrap();
        // a worktree's `.git` is a file
        std::fs::write(project.join(".git"), "gitdir: elsewhere\n").unwrap();
        assert_eq!(
            lookup(None, None, &project.join("pipelines")),
            Lookup::NotFound {
                start: project.join("pipelines"),
                ceiling: Some(project.clone())
            }
        );
        // outside a work tree the walk goes on up
        std::fs::remove_file(project.join(".git")).unwrap();
        assert!(matches!(
            lookup(None, None, &project.join("pipelines")),
            Lookup::At(Located { root, .. }) if root == tmp.path().join(DIR_NAME)
        ));
    }

    #[test]
    fn a_new_cache_goes_to_the_git_top_else_the_working_dir_else_beside_the_pipeline() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path();
        let pipelines = p.join("repo/pipelines");
        std::fs::create_dir_all(&pipelines).unwrap();
        assert_eq!(
            new_root(&p.join("repo"), &pipelines),
            (p.join("repo").join(DIR_NAME), Place::WorkingDir)
        );
        assert_eq!(
            new_root(&p.join("elsewhere"), &pipelines),
            (pipelines.join(DIR_NAME), Place::PipelineDir)
        );
        std::fs::create_dir(p.join("repo/.git")).unwrap();
        for cwd in [p.join("elsewhere"), pipelines.clone()] {
            assert_eq!(
                new_root(&cwd, &pipelines),
                (p.join("repo").join(DIR_NAME), Place::GitTop)
            );
        }
    }

    #[test]
    fn paths_are_shown_relative_to_the_working_directory_where_natural() {
        let cwd = Path::new("/home/u/proj/pipelines");
        assert_eq!(
            shown(Path::new("/home/u/proj/pipelines/.skelflow"), cwd),
            ".skelflow"
        );
        assert_eq!(
            shown(Path::new("/home/u/proj/.skelflow"), cwd),
            "../.skelflow"
        );
        assert_eq!(
            shown(Path::new("/home/u/.skelflow"), cwd),
            "../../.skelflow"
        );
        assert_eq!(shown(Path::new("/scratch/cache"), cwd), "/scratch/cache");
        assert_eq!(shown(Path::new("/.skelflow"), cwd), "/.skelflow");
        assert_eq!(shown_dir(cwd, cwd), "./");
        assert_eq!(shown_dir(Path::new("/home/u/proj"), cwd), "../");
        assert_eq!(
            Located {
                root: PathBuf::from("/home/u/proj/.skelflow"),
                origin: Origin::Found {
                    from: cwd.to_path_buf()
                }
            }
            .describe(Path::new("/home/u/proj")),
            ".skelflow (found walking up from pipelines/)"
        );
    }

    #[test]
    fn caches_one_level_down_are_found_for_the_hint() {
        let tmp = tempfile::tempdir().unwrap();
        store_at(&tmp.path().join("pipelines").join(DIR_NAME));
        std::fs::create_dir_all(tmp.path().join("other").join(DIR_NAME)).unwrap();
        assert_eq!(
            nested(tmp.path()),
            [tmp.path().join("pipelines").join(DIR_NAME)]
        );
    }
}
