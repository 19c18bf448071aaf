//! A file of computed scores keyed by space, architecture, proxy, image batch and seed, so that
//! repeated and interrupted runs compute nothing twice.
//!
//! The file is JSON lines. Its first line is [`HEADER`], naming the format and its version; a file
//! that does not start with it (a search state, a fitted model, a CSV, a device) is refused, read
//! no further than its first line and never written to. Every further line is one [`ScoreRecord`],
//! only ever appended and flushed after each record: a run killed mid-write leaves at most one torn
//! last line, which the next open skips (and counts in [`ScoreCache::skipped_lines`]). Files
//! written by separate machines merge by concatenation (a repeated header line is allowed).
//!
//! - **Bounded reads**: a line longer than [`MAX_LINE_BYTES`] is an error naming it; nothing is
//!   read past it.
//! - **Exact floats**: scores are written in Rust's shortest round-trip form and parsed exactly
//!   (serde_json with `float_roundtrip`), so a cached score is bit-identical to the computed one and
//!   a warm run prints the same JSON as a cold one.
//! - **Non-finite scores**: `+inf` and `-inf` (e.g. a NASWOT kernel that is singular) are stored as
//!   the strings `"inf"` and `"-inf"` and served as such. NaN is a failed computation, not a value:
//!   it is never written, and a `"nan"` record in a file is ignored, so NaN scores are recomputed
//!   (and come out NaN again, the same answer either way).
//! - **Read-only use**: the file is opened for appending only when the first new record arrives, so
//!   a run whose scores are all cached needs no write access.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

use nas_core::fsio::{Line, read_line_bounded};
use nas_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::images::ImageBatch;

/// One computed score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreRecord {
    /// The space's name, e.g. `nb201`.
    pub space: String,
    /// The architecture in the space's official text form.
    pub arch: String,
    /// The proxy's cache name (with its version, e.g. `grasp@2`).
    pub proxy: String,
    /// [`images_key`] of the batch (`"none"` for proxies that read no images).
    pub images: String,
    /// Images in the batch (0 for proxies that read none).
    pub batch: usize,
    /// The initialisation seed.
    pub seed: u64,
    /// The score; non-finite values are written as the strings `"inf"`, `"-inf"` and `"nan"`.
    #[serde(with = "score_json")]
    pub score: f64,
    /// Seconds the computation took.
    pub seconds: f64,
}

type Key = (String, String, String, String, usize, u64);

impl ScoreRecord {
    fn key(&self) -> Key {
        (self.space.clone(), self.arch.clone(), self.proxy.clone(), self.images.clone(), self.batch, self.seed)
    }
}

/// Writes a score as JSON: a number when finite, else `"inf"`, `"-inf"` or `"nan"`.
pub mod score_json {
    use serde::{Deserialize, Deserializer, Serializer};

    /// The JSON value of a score: a number when finite, else a string.
    pub fn to_value(v: f64) -> serde_json::Value {
        if v.is_finite() {
            serde_json::json!(v)
        } else if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    }

    /// Serde `serialize_with` for a score.
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&to_value(*v), s)
    }

    /// Serde `deserialize_with` for a score (numbers or `"inf"`, `"-inf"`, `"nan"`).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::Number(n) => n.as_f64().ok_or_else(|| serde::de::Error::custom("score out of range")),
            serde_json::Value::String(s) => match s.as_str() {
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                "nan" => Ok(f64::NAN),
                other => Err(serde::de::Error::custom(format!("score {other:?} is not a number"))),
            },
            other => Err(serde::de::Error::custom(format!("score {other} is not a number"))),
        }
    }
}

/// A content key of an image batch: its size and a 64-bit FNV-1a hash of its pixels and labels.
pub fn images_key(images: &ImageBatch) -> String {
    let mut h = nas_core::hash::Fnv1a::default();
    for p in &images.pixels {
        h.eat(&p.to_bits().to_le_bytes());
    }
    for l in &images.labels {
        h.eat(&l.to_le_bytes());
    }
    let h = h.finish();
    format!("{}x{}x{}x{}-{h:016x}", images.len(), images.channels, images.height, images.width)
}

/// The first line of every cache file: the format and its version.
pub const HEADER: &str = r#"{"format":"nas-rs score cache","version":1}"#;

/// The longest line a cache file may have (a record is a few hundred bytes).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The cache: all records of a file in memory, new ones appended to it.
#[derive(Debug)]
pub struct ScoreCache {
    path: Option<PathBuf>,
    records: HashMap<Key, f64>,
    /// Opened for appending at the first insert.
    file: Option<File>,
    /// Bytes to write before the next record: the header of an empty file, or the `\n` that ends a
    /// torn last line.
    pending: Vec<u8>,
    /// Lines of the file that could not be read (a torn last line after an interruption).
    pub skipped_lines: usize,
}

impl ScoreCache {
    /// A cache that keeps nothing (`--no-cache`).
    pub fn disabled() -> Self {
        ScoreCache { path: None, records: HashMap::new(), file: None, pending: Vec::new(), skipped_lines: 0 }
    }

    /// Opens the cache file at `path`, or creates it (and its folder) with the header. An existing
    /// file must start with [`HEADER`]; it is only read here.
    pub fn open(path: &Path) -> Result<Self> {
        let mut cache = ScoreCache { path: Some(path.into()), ..Self::disabled() };
        match std::fs::metadata(path) {
            Ok(_) => cache.read(path)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, &e))?;
                }
                match OpenOptions::new().append(true).create_new(true).open(path) {
                    Ok(mut f) => {
                        f.write_all(format!("{HEADER}\n").as_bytes()).map_err(|e| Error::io(path, &e))?;
                        cache.file = Some(f);
                    }
                    // Another process created it meanwhile: read what it has.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => cache.read(path)?,
                    Err(e) => return Err(Error::io(path, &e)),
                }
            }
            Err(e) => return Err(Error::io(path, &e)),
        }
        Ok(cache)
    }

    /// Reads an existing file's records (see the module docs for what is refused).
    fn read(&mut self, path: &Path) -> Result<()> {
        let not_cache = |why: String| {
            Error::data(path, Some(1), format!("not a score cache ({why}); refusing to read or append to it"))
        };
        let file = nas_core::fsio::open_regular(path)?;
        let mut reader = BufReader::new(file);
        let mut buf = Vec::new();
        let mut number = 0u64;
        loop {
            number += 1;
            let line = read_line_bounded(&mut reader, &mut buf, MAX_LINE_BYTES).map_err(|e| Error::io(path, &e))?;
            let line = match line {
                Ok(l) => l,
                Err(_) if number == 1 => {
                    return Err(not_cache(format!("its first line is longer than {MAX_LINE_BYTES} bytes")));
                }
                Err(_) => {
                    return Err(Error::data(
                        path,
                        Some(number),
                        format!("a line longer than {MAX_LINE_BYTES} bytes: not a score record"),
                    ));
                }
            };
            if number == 1 {
                match line {
                    Line::End => {
                        self.pending = format!("{HEADER}\n").into_bytes();
                        return Ok(());
                    }
                    _ if buf.trim_ascii_end() == HEADER.as_bytes() => {
                        if line == Line::Unterminated {
                            self.pending.push(b'\n');
                        }
                        continue;
                    }
                    _ if serde_json::from_slice::<ScoreRecord>(&buf).is_ok() => {
                        return Err(not_cache(format!(
                            "a cache of an earlier version without a header line; to keep its scores, add the line {HEADER} at its top"
                        )));
                    }
                    _ => return Err(not_cache(format!("its first line is not {HEADER}"))),
                }
            }
            if line == Line::End {
                return Ok(());
            }
            let text = buf.trim_ascii();
            if !text.is_empty() && text != HEADER.as_bytes() {
                match serde_json::from_slice::<ScoreRecord>(text) {
                    Ok(r) if r.score.is_nan() => {}
                    Ok(r) => {
                        self.records.insert(r.key(), r.score);
                    }
                    Err(_) => self.skipped_lines += 1,
                }
            }
            if line == Line::Unterminated {
                // A torn last line must not glue itself to the next record.
                self.pending.push(b'\n');
                return Ok(());
            }
        }
    }

    /// The cache file, `None` when caching is disabled.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Number of cached scores.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the cache holds no score.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The cached score of a record's key (its `score` and `seconds` are ignored).
    pub fn get(&self, space: &str, arch: &str, proxy: &str, images: &str, batch: usize, seed: u64) -> Option<f64> {
        let key = (space.into(), arch.into(), proxy.into(), images.into(), batch, seed);
        self.records.get(&key).copied()
    }

    /// Adds a record and appends it to the file; a NaN score is not cached (see the module docs).
    pub fn insert(&mut self, record: &ScoreRecord) -> Result<()> {
        let Some(path) = self.path.as_ref() else { return Ok(()) };
        if record.score.is_nan() {
            return Ok(());
        }
        let mut line = self.pending.clone();
        serde_json::to_writer(&mut line, record).map_err(|e| Error::invalid("score record", e.to_string()))?;
        line.push(b'\n');
        if self.file.is_none() {
            self.file = Some(OpenOptions::new().append(true).open(path).map_err(|e| Error::io(path, &e))?);
        }
        let Some(file) = self.file.as_mut() else { return Ok(()) };
        file.write_all(&line).and_then(|()| file.flush()).map_err(|e| Error::io(path, &e))?;
        self.pending.clear();
        self.records.insert(record.key(), record.score);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(arch: &str, score: f64) -> ScoreRecord {
        ScoreRecord {
            space: "nb201".into(),
            arch: arch.into(),
            proxy: "naswot".into(),
            images: "k".into(),
            batch: 128,
            seed: 0,
            score,
            seconds: 0.5,
        }
    }

    #[test]
    fn records_survive_reopening_and_a_torn_line_is_skipped() {
        let dir = std::env::temp_dir().join(format!("nas-cache-test-{}", std::process::id()));
        let path = dir.join("scores.jsonl");
        let _ = std::fs::remove_file(&path);
        let mut cache = ScoreCache::open(&path).unwrap();
        cache.insert(&record("a", 1.5)).unwrap();
        cache.insert(&record("b", f64::NEG_INFINITY)).unwrap();
        drop(cache);
        // An interrupted write: half a record at the end.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"space":"nb201","arch":"c","pro"#).unwrap();
        drop(f);
        let mut cache = ScoreCache::open(&path).unwrap();
        assert_eq!(cache.skipped_lines, 1);
        assert_eq!(cache.get("nb201", "a", "naswot", "k", 128, 0), Some(1.5));
        assert_eq!(cache.get("nb201", "b", "naswot", "k", 128, 0), Some(f64::NEG_INFINITY));
        assert_eq!(cache.get("nb201", "a", "naswot", "k", 128, 1), None);
        cache.insert(&record("c", 2.0)).unwrap();
        drop(cache);
        let cache = ScoreCache::open(&path).unwrap();
        assert_eq!(cache.get("nb201", "c", "naswot", "k", 128, 0), Some(2.0));
        assert_eq!(cache.skipped_lines, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nas-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn every_cached_score_reads_back_bit_identical() {
        use rand::{RngCore, SeedableRng};
        let dir = temp("exact");
        let path = dir.join("scores.jsonl");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
        let mut values = vec![
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            f64::MIN_POSITIVE / 3.0,
            f64::from_bits(1),
            -f64::from_bits(1),
            f64::from_bits(0x000f_ffff_ffff_ffff),
            f64::MAX,
            f64::MIN,
            f64::EPSILON,
            1e-300,
            1e300,
            191.62616501658306,
            0.1 + 0.2,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9007199254740993.0,
        ];
        while values.len() < 3000 {
            let v = match values.len() % 3 {
                0 => f64::from_bits(rng.next_u64()),
                // Subnormals.
                1 => f64::from_bits(rng.next_u64() & 0x800f_ffff_ffff_ffff),
                // Ordinary magnitudes, where most scores are.
                _ => (rng.next_u64() as f64 / u64::MAX as f64 - 0.5) * 10f64.powi((rng.next_u32() % 40) as i32 - 20),
            };
            if !v.is_nan() {
                values.push(v);
            }
        }
        let mut cache = ScoreCache::open(&path).unwrap();
        for (i, &v) in values.iter().enumerate() {
            cache.insert(&record(&i.to_string(), v)).unwrap();
        }
        drop(cache);
        let cache = ScoreCache::open(&path).unwrap();
        assert_eq!(cache.skipped_lines, 0);
        for (i, &v) in values.iter().enumerate() {
            let got = cache.get("nb201", &i.to_string(), "naswot", "k", 128, 0).unwrap();
            assert_eq!(got.to_bits(), v.to_bits(), "{v:?} read back as {got:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_cache_is_refused_and_left_as_it_was() {
        let dir = temp("foreign");
        let legacy = serde_json::to_string(&record("a", 1.0)).unwrap();
        for (name, text, want) in [
            ("state.json", "{\"version\":1,\"runs\":[{\"arch\":\"x\"}]}\n".to_string(), "its first line is not"),
            ("model.json", "{\n  \"space\": \"nb201\",\n  \"device\": \"cpu_ms\"\n}".into(), "its first line is not"),
            ("table.csv", "arch_str,cpu_ms\n\"|x|\",1.5\n".into(), "its first line is not"),
            ("old.jsonl", format!("{legacy}\n"), "earlier version without a header"),
            ("long.bin", "x".repeat(MAX_LINE_BYTES + 10), "longer than"),
            ("binary.bin", "\u{0}\u{1}\u{ff}".into(), "its first line is not"),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, &text).unwrap();
            let e = ScoreCache::open(&path).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("not a score cache") && !e.contains('\n'), "{name}: {e}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "{name} was changed");
        }
        let e = ScoreCache::open(&dir).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
        #[cfg(unix)]
        {
            let e = ScoreCache::open(Path::new("/dev/zero")).unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{e}");
        }
        // A long line later in a real cache names its line.
        let path = dir.join("scores.jsonl");
        std::fs::write(&path, format!("{HEADER}\n{legacy}\n{}\n", "y".repeat(MAX_LINE_BYTES + 1))).unwrap();
        let e = ScoreCache::open(&path).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("longer than"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn new_and_empty_files_get_the_header_and_concatenated_files_merge() {
        let dir = temp("header");
        let a = dir.join("a.jsonl");
        let mut cache = ScoreCache::open(&a).unwrap();
        assert_eq!(std::fs::read_to_string(&a).unwrap(), format!("{HEADER}\n"));
        cache.insert(&record("x", 1.0)).unwrap();
        drop(cache);
        let b = dir.join("b.jsonl");
        std::fs::write(&b, "").unwrap();
        let mut cache = ScoreCache::open(&b).unwrap();
        // Opening an existing file writes nothing (a read-only cache works).
        assert!(cache.file.is_none());
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "");
        cache.insert(&record("y", 2.0)).unwrap();
        drop(cache);
        assert!(std::fs::read_to_string(&b).unwrap().starts_with(&format!("{HEADER}\n{{")));
        let both = dir.join("both.jsonl");
        let text = std::fs::read_to_string(&a).unwrap() + &std::fs::read_to_string(&b).unwrap();
        std::fs::write(&both, text).unwrap();
        let cache = ScoreCache::open(&both).unwrap();
        assert_eq!((cache.len(), cache.skipped_lines), (2, 0));
        assert!(cache.file.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nan_is_recomputed_and_infinities_are_served() {
        let dir = temp("nan");
        let path = dir.join("scores.jsonl");
        let mut cache = ScoreCache::open(&path).unwrap();
        cache.insert(&record("n", f64::NAN)).unwrap();
        cache.insert(&record("i", f64::INFINITY)).unwrap();
        assert_eq!(cache.get("nb201", "n", "naswot", "k", 128, 0), None);
        drop(cache);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("nan") && text.contains("\"score\":\"inf\""), "{text}");
        // A NaN record written by hand (or by an earlier version) is ignored, not served.
        let hand = serde_json::to_string(&record("n", f64::NAN)).unwrap();
        assert!(hand.contains("\"score\":\"nan\""), "{hand}");
        std::fs::write(&path, format!("{text}{hand}\n")).unwrap();
        let cache = ScoreCache::open(&path).unwrap();
        assert_eq!(cache.get("nb201", "n", "naswot", "k", 128, 0), None);
        assert_eq!(cache.get("nb201", "i", "naswot", "k", 128, 0), Some(f64::INFINITY));
        assert_eq!(cache.skipped_lines, 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
