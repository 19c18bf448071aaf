//! A file of computed scores keyed by space, architecture, proxy, image batch and seed, so that
//! repeated and interrupted runs compute nothing twice.
//!
//! The file is JSON lines, one [`ScoreRecord`] per line, only ever appended to and flushed after
//! each record: a run killed mid-write leaves at most one torn last line, which the next open
//! skips (and says so). Files written by separate machines merge by concatenation.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

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
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for p in &images.pixels {
        eat(&p.to_bits().to_le_bytes());
    }
    for l in &images.labels {
        eat(&l.to_le_bytes());
    }
    format!("{}x{}x{}x{}-{h:016x}", images.len(), images.channels, images.height, images.width)
}

/// The cache: all records of a file in memory, new ones appended to it.
#[derive(Debug)]
pub struct ScoreCache {
    path: Option<PathBuf>,
    records: HashMap<Key, f64>,
    file: Option<File>,
    /// Lines of the file that could not be read (a torn last line after an interruption).
    pub skipped_lines: usize,
}

impl ScoreCache {
    /// A cache that keeps nothing (`--no-cache`).
    pub fn disabled() -> Self {
        ScoreCache { path: None, records: HashMap::new(), file: None, skipped_lines: 0 }
    }

    /// Opens (or creates) the cache file at `path`, creating its folder.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, &e))?;
        }
        let mut records = HashMap::new();
        let mut skipped_lines = 0;
        if path.exists() {
            let f = File::open(path).map_err(|e| Error::io(path, &e))?;
            for line in BufReader::new(f).lines() {
                let line = line.map_err(|e| Error::io(path, &e))?;
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<ScoreRecord>(&line) {
                    Ok(r) => {
                        records.insert(r.key(), r.score);
                    }
                    Err(_) => skipped_lines += 1,
                }
            }
        }
        let mut file = OpenOptions::new().create(true).append(true).open(path).map_err(|e| Error::io(path, &e))?;
        // A torn last line must not glue itself to the next record.
        if std::fs::read(path).map_err(|e| Error::io(path, &e))?.last().is_some_and(|&b| b != b'\n') {
            file.write_all(b"\n").map_err(|e| Error::io(path, &e))?;
        }
        Ok(ScoreCache { path: Some(path.into()), records, file: Some(file), skipped_lines })
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

    /// Adds a record and appends it to the file.
    pub fn insert(&mut self, record: &ScoreRecord) -> Result<()> {
        if let (Some(file), Some(path)) = (self.file.as_mut(), self.path.as_ref()) {
            let mut line = serde_json::to_string(record).map_err(|e| Error::invalid("score record", e.to_string()))?;
            line.push('\n');
            file.write_all(line.as_bytes()).and_then(|()| file.flush()).map_err(|e| Error::io(path, &e))?;
            self.records.insert(record.key(), record.score);
        }
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
}
