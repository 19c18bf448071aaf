//! Where the benchmark data lives: `--data-dir` when given, else `$NAS_DATA_DIR`, else
//! `../shared/data` next to the project root.

use std::path::{Path, PathBuf};

use nas_core::{Error, Result};

/// The environment variable that overrides the data directory.
pub const ENV_VAR: &str = "NAS_DATA_DIR";

/// A resolved data directory and how it was chosen (for error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    pub path: PathBuf,
    pub source: &'static str,
}

impl DataDir {
    /// Resolves the directory: `explicit` (from `--data-dir`), then `$NAS_DATA_DIR`, then
    /// `../shared/data` beside the project root. Nothing is checked on disk here.
    pub fn resolve(explicit: Option<&Path>) -> Self {
        if let Some(p) = explicit {
            return DataDir { path: p.to_path_buf(), source: "--data-dir" };
        }
        if let Some(p) = std::env::var_os(ENV_VAR).filter(|p| !p.is_empty()) {
            return DataDir { path: PathBuf::from(p), source: "$NAS_DATA_DIR" };
        }
        DataDir { path: default_dir(), source: "the default ../shared/data beside the project root" }
    }

    /// The path of `relative` inside the directory, or an error saying where it looked and what
    /// file it wanted.
    pub fn file(&self, relative: &str) -> Result<PathBuf> {
        let p = self.path.join(relative);
        if p.is_file() {
            Ok(p)
        } else {
            Err(Error::Io {
                path: p.clone(),
                message: format!(
                    "missing data file {relative}: looked in {} ({}); give --data-dir or set {ENV_VAR} \
                     (`nas data check` lists what a directory holds, `nas data import` makes the tables \
                     from the official files)",
                    self.path.display(),
                    self.source
                ),
            })
        }
    }

    /// Whether `relative` exists inside the directory.
    pub fn has(&self, relative: &str) -> bool {
        self.path.join(relative).is_file()
    }
}

/// `<project root>/../shared/data`, where the project root is the workspace this crate was built in.
fn default_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or_else(|| Path::new("."));
    root.join("..").join("shared").join("data")
}

/// The data directory for tests: `$NAS_DATA_DIR` or the default, if it holds `relative`; `None`
/// (after printing why the caller skips) when it does not.
pub fn for_tests(relative: &str) -> Option<DataDir> {
    let dir = DataDir::resolve(None);
    if dir.has(relative) {
        Some(dir)
    } else {
        eprintln!("skipped: data file {relative} not found in {} ({})", dir.path.display(), dir.source);
        None
    }
}
