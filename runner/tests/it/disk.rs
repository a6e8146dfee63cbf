//! A full disk, through the real binary: the cache sits on a small tmpfs that fills up
//! during a stage. The run fails saying "no space left on device" and naming the stage
//! (whether the stage's own writes fail, or the runner's commit), leaves no half artifact,
//! and once space is freed a rerun reuses what finished and completes.
//!
//! Needs `mount -t tmpfs` (root, as in CI); prints a SKIPPED line where it is not allowed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Work, ok, pipeline, shell, sorted, text, with_event};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(text(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success(), "remount {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// `big` needs `small` and writes 3 MB.
fn small_then_big() -> String {
    pipeline(
        "disk",
        "",
        &[
            shell("small", &[], "echo small > $OUT/s.txt", "s.txt"),
            shell(
                "big",
                &["small"],
                "cat ${small.output}/s.txt > $OUT/b.txt && head -c 3000000 /dev/zero > $OUT/big.bin",
                "big.bin",
            ),
        ],
    )
}

/// Fills the disk but exits 0: the runner's own commit runs out of space.
fn fill() -> String {
    let cmd = "head -c 8000000 /dev/zero > $OUT/fill.bin; true";
    pipeline("fill", "", &[shell("fill", &[], cmd, "fill.bin")])
}

#[test]
fn a_full_disk_fails_the_stage_cleanly_and_a_rerun_completes() {
    let w = Work::new();
    let mnt = w.path().join("mnt");
    let disk = match Tmpfs::mount(&mnt, "4m") {
        Ok(d) => d,
        Err(why) => {
            eprintln!("SKIPPED full-disk test: cannot mount a tmpfs here ({why})");
            return;
        }
    };
    w.write("p.yaml", &small_then_big());
    w.write("fill.yaml", &fill());
    let cache = "mnt/cache";
    // the first run creates the cache (`verify` never does)
    std::fs::write(mnt.join("filler"), vec![0u8; 2 << 20]).unwrap();

    // The stage's own write fails: exit 1, the stage named, the reason said.
    let out = w.run(&["run", "p.yaml", "--cache", cache]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("FAILED big"), "{err}");
    assert!(err.contains("no space left on device"), "{err}");
    assert_clean(&w, cache, 1);

    // The runner's own commit runs out of space: exit 4, the stage named, the reason said.
    let out = w.run(&["run", "fill.yaml", "--cache", cache]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("FAILED fill"), "{err}");
    assert!(err.contains("no space left on device for fill"), "{err}");
    assert_clean(&w, cache, 1);

    // Space freed: the finished stage is reused, the rest completes.
    std::fs::remove_file(mnt.join("filler")).unwrap();
    disk.resize("32m");
    ok(&w.run(&["run", "p.yaml", "--cache", cache]));
    let ev = crate::common::events(&mnt.join("cache"), "disk", 0);
    assert_eq!(with_event(&ev, "cached"), ["small"]);
    assert_eq!(with_event(&ev, "finished"), ["big"]);
    assert_clean(&w, cache, 2);
    drop(disk);
}

/// `verify` finds every artifact intact, there are `n`, and no staging is left behind.
#[track_caller]
fn assert_clean(w: &Work, cache: &str, n: usize) {
    let v = ok(&w.run(&["verify", "--cache", cache]));
    let s = if n == 1 { "" } else { "s" };
    assert!(
        v.contains(&format!("verified {n} artifact{s}: all intact")),
        "{v}"
    );
    let tmp: Vec<String> = std::fs::read_dir(w.path().join(cache).join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        sorted(tmp),
        Vec::<String>::new(),
        "half artifacts left in tmp/"
    );
}
