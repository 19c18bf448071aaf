//! Where the benchmark data lives, resolved at run time: `--data-dir` when given, else
//! `$NAS_DATA_DIR`, else `../shared/data` beside the checkout the command runs in (the nearest
//! directory above the current one that holds `.git` or `Cargo.lock`), else the platform data
//! directory (`$XDG_DATA_HOME/nas-rs`, else `~/.local/share/nas-rs`).

use std::path::{Path, PathBuf};

use nas_core::{Error, Result};

/// The environment variable that overrides the data directory.
pub const ENV_VAR: &str = "NAS_DATA_DIR";

/// A resolved data directory and how it was chosen (for error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    /// The directory.
    pub path: PathBuf,
    /// How it was chosen (`--data-dir`, `$NAS_DATA_DIR`, the default).
    pub source: &'static str,
}

impl DataDir {
    /// Resolves the directory: `explicit` (from `--data-dir`), then `$NAS_DATA_DIR`, then
    /// `../shared/data` beside the checkout around the current directory, then the platform data
    /// directory. Only the checkout's `shared/data` is looked for on disk.
    pub fn resolve(explicit: Option<&Path>) -> Self {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        Self::resolve_in(explicit, env(ENV_VAR), &cwd, env("XDG_DATA_HOME"), env("HOME"))
    }

    /// [`DataDir::resolve`] with the environment passed in.
    pub fn resolve_in(
        explicit: Option<&Path>,
        env_dir: Option<PathBuf>,
        cwd: &Path,
        xdg_data_home: Option<PathBuf>,
        home: Option<PathBuf>,
    ) -> Self {
        if let Some(p) = explicit {
            return DataDir { path: p.to_path_buf(), source: "--data-dir" };
        }
        if let Some(p) = env_dir {
            return DataDir { path: p, source: "$NAS_DATA_DIR" };
        }
        let checkout = cwd.ancestors().find(|d| d.join(".git").exists() || d.join("Cargo.lock").is_file());
        if let Some(shared) = checkout.and_then(|c| c.parent()).map(|p| p.join("shared").join("data"))
            && shared.is_dir()
        {
            return DataDir { path: shared, source: "../shared/data beside the checkout" };
        }
        let platform = match (xdg_data_home, home) {
            (Some(x), _) => x.join("nas-rs"),
            (None, Some(h)) => h.join(".local").join("share").join("nas-rs"),
            (None, None) => PathBuf::from("nas-data"),
        };
        DataDir { path: platform, source: "the platform data directory" }
    }

    /// The path of `relative` inside the directory, or an error saying where it looked and what
    /// file it wanted.
    pub fn file(&self, relative: &str) -> Result<PathBuf> {
        let p = self.path.join(relative);
        if p.is_file() {
            Ok(p)
        } else {
            Err(Error::not_found(
                p.clone(),
                format!(
                    "missing data file {relative}: looked in {} ({}); give --data-dir or set {ENV_VAR} \
                     (`nas data check` lists what a directory holds, `nas data import` makes the tables \
                     from the official files; README.md, \"Getting the data\")",
                    self.path.display(),
                    self.source
                ),
            ))
        }
    }

    /// Whether `relative` exists inside the directory.
    pub fn has(&self, relative: &str) -> bool {
        self.path.join(relative).is_file()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_order_is_flag_env_checkout_platform() {
        let tmp = std::env::temp_dir().join(format!("nas-data-dir-{}", std::process::id()));
        let checkout = tmp.join("repo");
        let inner = checkout.join("crate").join("src");
        std::fs::create_dir_all(&inner).ok();
        std::fs::create_dir_all(checkout.join(".git")).ok();
        let flag = DataDir::resolve_in(Some(Path::new("/d")), Some("/e".into()), &inner, None, None);
        assert_eq!((flag.path, flag.source), (PathBuf::from("/d"), "--data-dir"));
        let env = DataDir::resolve_in(None, Some("/e".into()), &inner, None, None);
        assert_eq!(env.path, PathBuf::from("/e"));
        // No shared/data beside the checkout: the platform directory, never the build path.
        let platform = DataDir::resolve_in(None, None, &inner, None, Some("/home/u".into()));
        assert_eq!(platform.path, PathBuf::from("/home/u/.local/share/nas-rs"));
        let xdg = DataDir::resolve_in(None, None, &inner, Some("/x".into()), Some("/home/u".into()));
        assert_eq!(xdg.path, PathBuf::from("/x/nas-rs"));
        std::fs::create_dir_all(tmp.join("shared").join("data")).ok();
        let beside = DataDir::resolve_in(None, None, &inner, None, Some("/home/u".into()));
        assert_eq!(beside.path, tmp.join("shared").join("data"));
        std::fs::remove_dir_all(&tmp).ok();
    }
}
