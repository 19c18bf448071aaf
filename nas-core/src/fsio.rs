//! The toolkit's one way to save user state, and bounded reads of user files.
//!
//! This is the only file IO in `nas-core`: it sits here because every crate that saves state (the
//! CLI's search state, training checkpoints, fitted models) must share one writer, and `nas-core` is
//! the one crate all of them depend on. It knows nothing of any format.
//!
//! - [`write_atomic`]: the bytes go to a fresh temporary file beside the target, named
//!   `.<name>.<pid>.<unique>.tmp` and created with `create_new` (so it can never be a file the user
//!   owns, and two writers never share one), fsync'd, renamed over the target, then the folder is
//!   fsync'd. A reader sees the old file or the new one, never a mix; a kill at any point leaves the
//!   target untouched (at worst a stray `.tmp` file of this naming scheme).
//! - [`read_bounded`]: reads a whole file opened read-only (so a complete run needs no write access),
//!   refusing anything that is not a regular file or is larger than a bound.
//! - [`read_line_bounded`]: one line of a `BufRead`, refusing lines longer than a bound (a
//!   `/dev/zero` or a binary file must not eat memory).

use std::collections::hash_map::RandomState;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, Result};

/// Writes `bytes` to `path` atomically (see the module docs). The target's folder must exist. A
/// symbolic link at `path` is followed: the file it points to is replaced, the link stays. An
/// existing target keeps its permissions.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let target = resolve_target(path)?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = target
        .file_name()
        .ok_or_else(|| Error::Io { path: path.to_path_buf(), source: std::io::Error::other("not a file name") })?
        .to_string_lossy()
        .into_owned();
    let existing = match std::fs::metadata(&target) {
        Ok(m) if m.is_file() => Some(m),
        Ok(_) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other("exists and is not a regular file"),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(path, &e)),
    };
    let (tmp, mut file) = create_temporary(&dir, &name)?;
    let written = (|| -> std::io::Result<()> {
        if let Some(m) = &existing {
            file.set_permissions(m.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()
    })();
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, &target)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, &e));
    }
    sync_dir(&dir).map_err(|e| Error::io(&dir, &e))
}

/// The file a write to `path` replaces: `path` itself, or what a symbolic link there points to.
fn resolve_target(path: &Path) -> Result<PathBuf> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).map_err(|e| Error::io(path, &e)),
        _ => Ok(path.to_path_buf()),
    }
}

/// A new file `.<name>.<pid>.<unique>.tmp` in `dir`, created exclusively.
fn create_temporary(dir: &Path, name: &str) -> Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    let mut last = None;
    for _ in 0..64 {
        // Uniqueness only: the name never reaches a result. `RandomState` is seeded by the OS.
        let mut h = RandomState::new().build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        let tmp = dir.join(format!(".{name}.{pid}.{:016x}.tmp", h.finish()));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(Error::io(&tmp, &e)),
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::other("no free temporary name"));
    Err(Error::io(dir, &e))
}

/// Removes the temporary files that [`write_atomic`]s of `path` by processes no longer running left
/// behind (a process killed during a write). Only names of the writer's form
/// (`.<name>.<pid>.<16 hex digits>.tmp`) are touched, and only where the system tells which
/// processes run (`/proc`); other files, and writes in progress, are never touched.
pub fn remove_stale_temporaries(path: &Path) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else { return };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".tmp")) else { continue };
        let Some((pid, unique)) = rest.split_once('.') else { continue };
        let hex = unique.len() == 16 && unique.bytes().all(|b| b.is_ascii_hexdigit());
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if hex && pid != std::process::id() && !proc.join(pid.to_string()).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Reads the whole of `path`, opened read-only. Errors when it is not a regular file (a folder, a
/// device such as `/dev/zero`, a pipe) or holds more than `max_bytes`.
pub fn read_bounded(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    let file = open_regular(path)?;
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1)).read_to_end(&mut bytes).map_err(|e| Error::io(path, &e))?;
    if bytes.len() as u64 > max_bytes {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!("larger than {max_bytes} bytes")),
        });
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_text_bounded(path: &Path, max_bytes: u64) -> Result<String> {
    String::from_utf8(read_bounded(path, max_bytes)?)
        .map_err(|_| Error::Io { path: path.to_path_buf(), source: std::io::Error::other("not UTF-8 text") })
}

/// Opens `path` for reading, refusing anything that is not a regular file.
pub fn open_regular(path: &Path) -> Result<File> {
    let file = File::open(path).map_err(|e| Error::io(path, &e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, &e))?;
    if !meta.is_file() {
        return Err(Error::Io { path: path.to_path_buf(), source: std::io::Error::other("not a regular file") });
    }
    Ok(file)
}

/// What [`read_line_bounded`] read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// A line ending in `\n` (not included in the buffer).
    Complete,
    /// The last line of the input, without a `\n` (for an append-only file: a torn write).
    Unterminated,
    /// The input ended before any byte.
    End,
}

/// Reads one line of `reader` into `buf` (cleared first, without the `\n`). A line of more than
/// `max_bytes` bytes is an error (`Err(n)` with the bytes seen, at most `max_bytes + 1`), read no
/// further than that.
pub fn read_line_bounded(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    max_bytes: usize,
) -> std::io::Result<std::result::Result<Line, usize>> {
    buf.clear();
    let limit = max_bytes as u64 + 1;
    let n = reader.by_ref().take(limit).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(Ok(Line::End));
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        return Ok(Ok(Line::Complete));
    }
    if n as u64 >= limit {
        return Ok(Err(n));
    }
    Ok(Ok(Line::Unterminated))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("nas-fsio-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_replaces_the_target_and_touches_nothing_else() {
        let dir = temp_dir("replace");
        let target = dir.join("run.json");
        // Files a user could own under the names a naive writer would use.
        for own in ["run.tmp", "run.json.tmp", ".run.json.tmp"] {
            std::fs::write(dir.join(own), own).unwrap();
        }
        write_atomic(&target, b"first").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"first");
        write_atomic(&target, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"second, longer");
        for own in ["run.tmp", "run.json.tmp", ".run.json.tmp"] {
            assert_eq!(std::fs::read(dir.join(own)).unwrap(), own.as_bytes(), "{own} was changed");
        }
        assert_eq!(listing(&dir), [".run.json.tmp", "run.json", "run.json.tmp", "run.tmp"]);
        // A target named like a temporary file is still written through a separate temporary.
        let odd = dir.join("big.tmp");
        write_atomic(&odd, b"x").unwrap();
        write_atomic(&odd, b"y").unwrap();
        assert_eq!(std::fs::read(&odd).unwrap(), b"y");
        assert_eq!(listing(&dir).len(), 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn write_atomic_errors_leave_the_folder_as_it_was() {
        let dir = temp_dir("errors");
        let sub = dir.join("a_folder");
        std::fs::create_dir(&sub).unwrap();
        let e = write_atomic(&sub, b"x").unwrap_err().to_string();
        assert!(e.contains("not a regular file") && !e.contains('\n'), "{e}");
        let e = write_atomic(&dir.join("missing/x.json"), b"x").unwrap_err().to_string();
        assert!(e.contains("missing"), "{e}");
        assert_eq!(listing(&dir), ["a_folder"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn write_atomic_follows_a_link_and_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("link");
        let real = dir.join("real.json");
        std::fs::write(&real, b"old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.join("link.json");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o640);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_writers_each_leave_a_whole_file() {
        let dir = temp_dir("concurrent");
        let target = dir.join("state.json");
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let target = &target;
                s.spawn(move || {
                    for _ in 0..25 {
                        write_atomic(target, &vec![b'a' + t; 4096]).unwrap();
                    }
                });
            }
        });
        let bytes = std::fs::read(&target).unwrap();
        assert_eq!(bytes.len(), 4096);
        assert!(bytes.iter().all(|&b| b == bytes[0]));
        assert_eq!(listing(&dir), ["state.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn bounded_reads_refuse_devices_folders_and_big_files() {
        let dir = temp_dir("read");
        let f = dir.join("f.txt");
        std::fs::write(&f, b"hello").unwrap();
        assert_eq!(read_bounded(&f, 5).unwrap(), b"hello");
        assert!(read_bounded(&f, 4).unwrap_err().to_string().contains("larger than 4 bytes"));
        assert!(read_bounded(&dir, 100).is_err());
        assert!(read_bounded(Path::new("/dev/zero"), 100).unwrap_err().to_string().contains("not a regular file"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o444)).unwrap();
        assert_eq!(read_text_bounded(&f, 100).unwrap(), "hello");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bounded_lines() {
        let mut r = std::io::BufReader::new(&b"ab\ncdef\n\nxyz"[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Ok(Line::Complete));
        assert_eq!(buf, b"ab");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Ok(Line::Complete));
        assert_eq!(buf, b"cdef");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Ok(Line::Complete));
        assert_eq!(buf, b"");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Ok(Line::Unterminated));
        assert_eq!(buf, b"xyz");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Ok(Line::End));
        let mut r = std::io::BufReader::new(&b"abcde\n"[..]);
        assert_eq!(read_line_bounded(&mut r, &mut buf, 4).unwrap(), Err(5));
        // An endless input is read no further than the bound.
        let mut zeros = std::io::BufReader::new(std::io::repeat(0));
        assert_eq!(read_line_bounded(&mut zeros, &mut buf, 1 << 16).unwrap(), Err((1 << 16) + 1));
    }
}
