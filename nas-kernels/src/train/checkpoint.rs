//! Training checkpoints: one file holding everything a run needs to continue (the weights, the
//! batch-norm running statistics, the optimiser's buffers, the epoch and step, the metrics so far)
//! and the key of the run that wrote it (network, configuration, training images), so a checkpoint
//! of another run is refused rather than continued.
//!
//! Layout: the magic `NASCKPT1`, the header length (u64 little-endian), the header (JSON), the
//! tensors (f32 little-endian, lengths in the header), then an FNV-1a 64 hash of everything
//! before it (u64 little-endian): a truncated or damaged file fails the hash. Files are written
//! atomically: a unique temporary file beside the target, flushed to disk, then renamed over it.

use std::io::Write;
use std::path::Path;

use nas_core::{Error, Result};
use serde::{Deserialize, Serialize};

use super::EpochMetrics;

const MAGIC: &[u8; 8] = b"NASCKPT1";

/// What a checkpoint holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// What must match for a run to continue from it (see [`check_key`]).
    pub key: serde_json::Value,
    /// Epochs completed.
    pub epoch: usize,
    /// Optimiser steps completed.
    pub step: usize,
    /// The metrics of every completed epoch.
    pub history: Vec<EpochMetrics>,
    /// How many of `tensors` are Adam's second moments / momentum buffers (the last ones).
    pub first_moments: usize,
    /// Tensors of the optimiser's second moments (Adam), 0 for SGD.
    pub second_moments: usize,
    /// State of the caller beyond the network (a one-shot search's architecture parameters and
    /// history); `null` for plain training.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub extra: serde_json::Value,
    #[serde(skip)]
    /// Every saved tensor in order: weights, running statistics, optimiser state.
    pub tensors: Vec<Vec<f32>>,
}

#[derive(Serialize, Deserialize)]
struct Header {
    #[serde(flatten)]
    checkpoint: Checkpoint,
    tensor_lengths: Vec<usize>,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl Checkpoint {
    /// The file's bytes (see the module doc).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let header = Header { checkpoint: self.clone(), tensor_lengths: self.tensors.iter().map(Vec::len).collect() };
        let json = serde_json::to_vec(&header).map_err(|e| Error::invalid("checkpoint", e.to_string()))?;
        let floats: usize = self.tensors.iter().map(Vec::len).sum();
        let mut out = Vec::with_capacity(8 + 8 + json.len() + 4 * floats + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        for t in &self.tensors {
            for v in t {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        let hash = fnv1a(&out);
        out.extend_from_slice(&hash.to_le_bytes());
        Ok(out)
    }

    /// Parses a file's bytes; `path` names it in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
        let bad = |why: &str| Error::data(path, None, format!("not a usable checkpoint: {why}"));
        if bytes.len() < 24 || &bytes[..8] != MAGIC {
            return Err(bad(&format!("{} bytes without the NASCKPT1 header", bytes.len())));
        }
        let (body, trailer) = bytes.split_at(bytes.len() - 8);
        let stored = u64::from_le_bytes(trailer.try_into().map_err(|_| bad("no hash"))?);
        if fnv1a(body) != stored {
            return Err(bad(&format!("{} bytes whose hash does not match (truncated or damaged)", bytes.len())));
        }
        let len = u64::from_le_bytes(body[8..16].try_into().map_err(|_| bad("no header length"))?) as usize;
        let json = body.get(16..16 + len).ok_or_else(|| bad("header longer than the file"))?;
        let header: Header = serde_json::from_slice(json).map_err(|e| bad(&format!("header: {e}")))?;
        let mut data = &body[16 + len..];
        let mut tensors = Vec::with_capacity(header.tensor_lengths.len());
        for &n in &header.tensor_lengths {
            if data.len() < 4 * n {
                return Err(bad("fewer tensor values than the header lists"));
            }
            let (t, rest) = data.split_at(4 * n);
            tensors.push(t.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
            data = rest;
        }
        if !data.is_empty() {
            return Err(bad("more tensor values than the header lists"));
        }
        Ok(Checkpoint { tensors, ..header.checkpoint })
    }

    /// Reads a checkpoint file; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<Checkpoint>> {
        match std::fs::read(path) {
            Ok(bytes) => Checkpoint::from_bytes(&bytes, path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path, &e)),
        }
    }

    /// Writes the checkpoint atomically (see the module doc).
    pub fn write(&self, path: &Path) -> Result<()> {
        write_atomically(path, &self.to_bytes()?)
    }
}

/// Writes `bytes` to a unique temporary file beside `path`, syncs it, then renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| Error::invalid("output file", format!("{}", path.display())))?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let tmp = dir.join(format!(".{}.{}.{nanos}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable where the platform allows syncing a directory.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, &e)
    })
}

/// An error naming the first field where a checkpoint's key differs from this run's.
pub fn check_key(path: &Path, stored: &serde_json::Value, wanted: &serde_json::Value) -> Result<()> {
    if stored == wanted {
        return Ok(());
    }
    let field = match (stored, wanted) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => b
            .iter()
            .find(|(k, v)| a.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k} {} (this run: {v})", a.get(k).map_or("missing".into(), |x| x.to_string())))
            .unwrap_or_else(|| "its key".into()),
        _ => "its key".into(),
    };
    Err(Error::data(
        path,
        None,
        format!("checkpoint of another run: {field}; use another --checkpoint file or delete this one"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let ck = Checkpoint {
            key: serde_json::json!({"arch": "a", "lr": 0.1}),
            epoch: 2,
            step: 17,
            history: Vec::new(),
            first_moments: 1,
            second_moments: 0,
            extra: serde_json::json!({"alpha": [[0.1, -0.2]]}),
            tensors: vec![vec![1.0, -2.5], vec![], vec![3.0]],
        };
        let bytes = ck.to_bytes().unwrap_or_default();
        let path = Path::new("x.ckpt");
        assert_eq!(Checkpoint::from_bytes(&bytes, path).ok(), Some(ck.clone()));
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(Checkpoint::from_bytes(&bytes[..cut], path).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        assert!(Checkpoint::from_bytes(&flipped, path).is_err());
        let other = serde_json::json!({"arch": "b", "lr": 0.1});
        let err = check_key(path, &ck.key, &other).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("arch \"a\" (this run: \"b\")"), "{err}");
        assert!(check_key(path, &ck.key, &ck.key).is_ok());
    }
}
