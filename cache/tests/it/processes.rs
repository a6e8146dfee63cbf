//! Behaviour across real processes: locks held by another process (and released by the OS
//! when it is SIGKILLed), crash consistency under repeated SIGKILLs, and a write that fails
//! for lack of space.
//!
//! Child processes are this test binary run again with `SKELFLOW_CACHE_TEST_CHILD` set,
//! selecting the role `child_process_entry` plays.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use crate::common::*;
use skelflow_cache::{Key, MANIFEST_FILE, Store};

const CHILD_MODE: &str = "SKELFLOW_CACHE_TEST_CHILD";
const CHILD_ROOT: &str = "SKELFLOW_CACHE_TEST_ROOT";
const CHILD_ARG: &str = "SKELFLOW_CACHE_TEST_ARG";
const CRASH_KEYS: usize = 6;

/// The child side. As an ordinary test (no `SKELFLOW_CACHE_TEST_CHILD`) it does nothing.
#[test]
fn child_process_entry() {
    let Ok(mode) = std::env::var(CHILD_MODE) else {
        return;
    };
    let root = std::env::var(CHILD_ROOT).unwrap();
    let arg = std::env::var(CHILD_ARG).unwrap_or_default();
    match mode.as_str() {
        "hold-lock" => {
            let store = Store::open(&root).unwrap();
            let _lock = store.lock(&key(&arg)).unwrap();
            say("LOCKED");
            loop {
                std::thread::sleep(Duration::from_secs(60));
            }
        }
        "wait-lock" => {
            let store = Store::open(&root).unwrap();
            say("WAITING");
            let _lock = store.lock(&key(&arg)).unwrap();
            say("ACQUIRED");
        }
        "commit-loop" => commit_loop(&root, arg.parse().unwrap()),
        "file-size-limit" => file_size_limit(&root),
        other => panic!("unknown child mode {other}"),
    }
}

/// One line to the parent. Starts with a newline: libtest has printed `test … ` without
/// one before running the test.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    write!(out, "\n{line}\n").unwrap();
    out.flush().unwrap();
}

/// A child process, SIGKILLed when dropped (so a failing test leaves no process behind).
struct Kid(Child);

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Kid {
    fn kill(&mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

/// A child running as `mode`, and its stdout lines.
fn spawn(mode: &str, root: &Path, arg: &str) -> (Kid, Receiver<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "processes::child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_MODE, mode)
        .env(CHILD_ROOT, root)
        .env(CHILD_ARG, arg)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (Kid(child), rx)
}

/// Wait for a line starting with `prefix`; the line.
fn expect(rx: &Receiver<String>, prefix: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with(prefix) => return line,
            Ok(_) => continue,
            Err(RecvTimeoutError::Timeout) => {
                panic!("no `{prefix}` line from the child within {timeout:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the child exited without printing `{prefix}`")
            }
        }
    }
}

#[test]
fn a_lock_held_by_another_process_blocks_until_that_process_is_killed() {
    let (_tmp, store) = temp_store();
    let k = key("shared");
    let (mut holder, holder_out) = spawn("hold-lock", store.root(), "shared");
    expect(&holder_out, "LOCKED", Duration::from_secs(30));

    assert!(store.is_locked(&k).unwrap());
    assert!(store.try_lock(&k).unwrap().is_none());
    assert!(store.try_lock(&key("unrelated")).unwrap().is_some());

    let (mut waiter, waiter_out) = spawn("wait-lock", store.root(), "shared");
    expect(&waiter_out, "WAITING", Duration::from_secs(30));
    assert!(
        matches!(
            waiter_out.recv_timeout(Duration::from_millis(700)),
            Err(RecvTimeoutError::Timeout)
        ),
        "the second process got the lock while the first held it"
    );

    holder.kill(); // SIGKILL: no destructor runs, the OS drops the lock
    expect(&waiter_out, "ACQUIRED", Duration::from_secs(30));
    assert!(waiter.0.wait().unwrap().success());
    assert!(!store.is_locked(&k).unwrap());
    assert!(store.try_lock(&k).unwrap().is_some());
}

fn crash_key(i: usize) -> Key {
    key(&format!("crash{i}"))
}

/// Commit artifacts (some big, nested, many files) forever; gc now and then.
fn commit_loop(root: &str, seed: u64) {
    let store = Store::open(root).unwrap();
    let mut rng = Rng::new(seed);
    say("READY");
    for n in 0.. {
        let i = rng.below(CRASH_KEYS as u64) as usize;
        let k = crash_key(i);
        let lock = store.lock(&k).unwrap();
        let staging = store.begin(&lock).unwrap();
        let files = 1 + rng.below(8);
        for f in 0..files {
            let size = rng.below(256 * 1024) as usize;
            let byte = (seed as usize + f as usize) as u8;
            let path = staging.dir().join(format!("part{}/f{f}.bin", f % 3));
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, vec![byte; size]).unwrap();
        }
        let _ = store.work_dir(&k).unwrap();
        staging.commit(info(&format!("crash{i}"))).unwrap();
        store.remove_work_dir(&k).unwrap();
        drop(lock);
        say(&format!("COMMITTED {n}"));
        if n % 4 == 3 {
            let keep: BTreeSet<Key> = (0..CRASH_KEYS)
                .filter(|_| rng.below(2) == 0)
                .map(crash_key)
                .collect();
            store.gc(&keep, false).unwrap();
        }
    }
}

/// Every directory under objects/ is a complete artifact whose files match its manifest.
fn assert_objects_consistent(store: &Store, round: usize) {
    let objects = store.root().join("objects");
    for shard in fs::read_dir(&objects).unwrap() {
        for entry in fs::read_dir(shard.unwrap().path()).unwrap() {
            let dir = entry.unwrap().path();
            assert!(
                dir.join(MANIFEST_FILE).is_file(),
                "round {round}: {} has no manifest",
                dir.display()
            );
        }
    }
    let report = store.verify(None).unwrap();
    assert!(
        report.corrupt.is_empty(),
        "round {round}: corrupt after a kill: {:?}",
        report.corrupt
    );
    assert!(
        report.skipped_locked.is_empty(),
        "round {round}: a dead process still holds a lock"
    );
    assert_eq!(report.checked, store.list().unwrap().len());
}

#[test]
fn sigkill_at_random_moments_never_leaves_a_half_artifact() {
    let (_tmp, store) = temp_store();
    let mut rng = Rng::new(0xC0FFEE);
    let (mut commits, mut stale_tmp, mut rounds_with_staging) = (0usize, 0usize, 0usize);
    const ROUNDS: usize = 40;
    for round in 0..ROUNDS {
        let (mut child, out) = spawn("commit-loop", store.root(), &round.to_string());
        expect(&out, "READY", Duration::from_secs(30));
        if round % 4 == 0 {
            // However slow the machine, some kills land after commits (and during gc).
            expect(&out, "COMMITTED", Duration::from_secs(60));
            commits += 1;
        }
        std::thread::sleep(Duration::from_micros(rng.below(60_000)));
        child.kill();
        // The reader thread ends at the dead child's EOF.
        commits += out.iter().filter(|l| l.starts_with("COMMITTED")).count();
        if !names(&store.root().join("tmp")).is_empty() {
            rounds_with_staging += 1;
        }

        assert_objects_consistent(&store, round);

        // A later commit of every key succeeds (or finds the committed one), and verifies.
        for i in 0..CRASH_KEYS {
            let art = commit(
                &store,
                &format!("crash{i}"),
                &[("parent.bin", &[i as u8; 1000])],
            );
            assert_eq!(art.key, crash_key(i));
            assert!(store.contains(&art.key));
        }
        assert!(store.verify(None).unwrap().corrupt.is_empty());
        // Clean up after the dead child, leaving some keys to recompute.
        let keep: BTreeSet<Key> = (0..CRASH_KEYS)
            .filter(|_| rng.below(2) == 0)
            .map(crash_key)
            .collect();
        let report = store.gc(&keep, false).unwrap();
        stale_tmp += report.stale_tmp;
        assert!(
            names(&store.root().join("tmp")).is_empty(),
            "round {round}: gc left tmp entries"
        );
        assert_objects_consistent(&store, round);
    }
    println!(
        "{ROUNDS} kills: {commits} child commits, {rounds_with_staging} kills left staging dirs, gc removed {stale_tmp}"
    );
    assert!(
        commits > 0,
        "the child never committed: the kills tested nothing"
    );
    assert!(
        stale_tmp > 0 && rounds_with_staging > 0,
        "no kill landed mid-commit"
    );
}

/// Commit with a file-size limit that the manifest exceeds (the kernel returns EFBIG,
/// as a full disk returns ENOSPC): commit must fail naming the file, leave nothing.
fn file_size_limit(root: &str) {
    let store = Store::open(root).unwrap();
    // SAFETY: plain libc calls; SIGXFSZ ignored so that write() returns EFBIG instead.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let limit = libc::rlimit {
            rlim_cur: 4096,
            rlim_max: 4096,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
    let k = key("too-big");
    let lock = store.lock(&k).unwrap();
    let staging = store.begin(&lock).unwrap();
    for i in 0..80 {
        fs::write(staging.dir().join(format!("file-{i:03}.txt")), b"small").unwrap();
    }
    match staging.commit(info("too-big")) {
        Ok(_) => say("COMMITTED"),
        Err(e) => say(&format!("ERROR {e}")),
    }
}

#[test]
fn a_failed_write_is_an_error_naming_the_file_and_leaves_nothing() {
    let (_tmp, store) = temp_store();
    let (mut child, out) = spawn("file-size-limit", store.root(), "");
    let line = expect(&out, "ERROR", Duration::from_secs(60));
    assert!(child.0.wait().unwrap().success());
    assert!(
        line.contains(MANIFEST_FILE) && line.contains("File too large"),
        "{line}"
    );
    assert!(!store.contains(&key("too-big")));
    assert!(store.list().unwrap().is_empty());
    assert!(
        names(&store.root().join("objects"))
            .iter()
            .all(|shard| names(&store.root().join("objects").join(shard)).is_empty())
    );
    assert!(
        names(&store.root().join("tmp")).is_empty(),
        "the failed staging must be removed"
    );
}
