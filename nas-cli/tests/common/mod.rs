//! Helpers shared by the end-to-end tests of the `nas` binary.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `nas` with these arguments.
pub fn nas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nas")).args(args).output().expect("the nas binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Whether the NAS-Bench-201 table is found (else the caller skips, and this says so).
pub fn have_table() -> bool {
    nas_spaces::data::for_tests(nas_spaces::nb201_table::FILE).is_some()
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nas-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `nas` with `args` and checks that it fails with one line of error naming `needle`, and
/// without a panic.
pub fn assert_fails_in_one_line(args: &[&str], needle: &str) {
    let o = nas(args);
    let err = stderr(&o);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

/// The first `n` records of a CIFAR-10 binary file of the data directory (`name`, e.g.
/// `images/cifar10_train_5443.bin`), copied into `dir` as `out`; `None` (and a note) when the data
/// is not found.
pub fn first_records(name: &str, n: usize, dir: &Path, out: &str) -> Option<PathBuf> {
    let Some(data) = nas_spaces::data::for_tests(name) else {
        eprintln!("skipped: {name} not found");
        return None;
    };
    let bytes = std::fs::read(data.file(name).unwrap()).unwrap();
    let path = dir.join(out);
    std::fs::write(&path, &bytes[..n * 3073]).unwrap();
    Some(path)
}

/// Starts `nas args`, kills it (SIGKILL) as soon as `file` exists, and waits for it; returns whether
/// it was killed (`false`: it finished first). `file` must exist afterwards.
pub fn kill_once_written(args: &[&str], file: &Path) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_nas")).args(args).spawn().unwrap();
    while !file.exists() {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let killed = child.try_wait().unwrap().is_none();
    child.kill().unwrap_or(());
    child.wait().unwrap();
    assert!(file.exists(), "{} was not written", file.display());
    if !killed {
        eprintln!("note: the run finished before it could be killed; the resume still runs from its checkpoint");
    }
    killed
}
