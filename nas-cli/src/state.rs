//! The state file of `nas search`: the search's identity (settings and inputs) and every completed
//! run (its answer, its evaluation count and its best-so-far curve). Each run draws from its own
//! stream of the seeded generator, so a run is a pure function of the settings and its index:
//! resuming re-runs only the runs that did not finish, and the result equals that of an
//! uninterrupted search. Scores a score-based run computed before an interruption are in the score
//! cache, so they are not computed twice.
//!
//! The file is replaced atomically ([`write_atomic`]: a fresh temporary file beside it, synced,
//! then renamed), so an interruption leaves either the old state or the new one; a file that does
//! not parse, or was written by another search or on other inputs, is an error and is left as it
//! is. A search whose runs are all in the file writes nothing (a read-only state works).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use nas_core::SearchSpace;
use nas_strategies::SearchResult;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

const FORMAT: &str = "nas-search-state/2";

/// What one run found.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunOutcome {
    /// The answer: the best fitness ever seen (the earliest among equals), official string.
    pub found: String,
    /// Evaluations the run made.
    pub evaluations: usize,
    /// The answer's training-free score, for score-based runs.
    #[serde(default, serialize_with = "ser_score", deserialize_with = "de_score")]
    pub score: Option<f64>,
    /// `(evaluation index, simulated clock, architecture)` each time the best so far changed.
    pub curve: Vec<(usize, f64, String)>,
}

fn ser_score<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) => nas_kernels::cache::score_json::serialize(x, s),
        None => s.serialize_none(),
    }
}

fn de_score<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(with = "nas_kernels::cache::score_json")] f64);
    Option::<Wrap>::deserialize(d).map(|w| w.map(|w| w.0))
}

impl RunOutcome {
    /// The outcome of a finished search.
    pub fn of(space: &dyn SearchSpace, result: &SearchResult, score: Option<f64>) -> anyhow::Result<Self> {
        let best = result.best().context("the run evaluated nothing")?;
        let mut curve = Vec::new();
        let mut best_fitness = f64::NEG_INFINITY;
        for (step, r) in result.history.iter().enumerate() {
            if curve.is_empty() || r.evaluation.fitness > best_fitness {
                best_fitness = r.evaluation.fitness;
                curve.push((step, r.clock_s, space.format(&r.genotype)));
            }
        }
        Ok(RunOutcome { found: space.format(&best.genotype), evaluations: result.history.len(), score, curve })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    format: String,
    config: Value,
    runs: Vec<RunOutcome>,
}

/// The runs completed so far, saved to a file when one is given.
#[derive(Debug)]
pub struct SearchState {
    path: Option<PathBuf>,
    config: Value,
    /// The completed runs, in order.
    pub runs: Vec<RunOutcome>,
    saved_runs: usize,
    last_save: Instant,
}

impl SearchState {
    /// A state that is never written.
    pub fn in_memory(config: Value) -> Self {
        SearchState { path: None, config, runs: Vec::new(), saved_runs: 0, last_save: Instant::now() }
    }

    /// The state in `path` if the file exists (it must have been written by a search with the same
    /// `config`), else an empty one that will be written there.
    pub fn open(path: &Path, config: Value) -> anyhow::Result<Self> {
        let mut state = SearchState { path: Some(path.to_path_buf()), ..Self::in_memory(config) };
        remove_stale_temporaries(path);
        let text = match read_bounded(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(state),
            Err(e) => return Err(e).with_context(|| format!("cannot read state file {}", path.display())),
        };
        let file: File = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!("state file {} is corrupt or truncated ({e}); it was left as it is", path.display())
        })?;
        if file.format != FORMAT {
            anyhow::bail!("state file {} has format {:?}, expected {FORMAT:?}", path.display(), file.format);
        }
        if file.config != state.config {
            let differs: Vec<String> = match (&file.config, &state.config) {
                (Value::Object(a), Value::Object(b)) => b
                    .iter()
                    .filter(|(k, v)| a.get(*k) != Some(v))
                    .map(|(k, v)| format!("{k}: {} there, {v} here", a.get(k).unwrap_or(&Value::Null)))
                    .collect(),
                _ => vec!["settings".into()],
            };
            anyhow::bail!(
                "state file {} belongs to another search or other inputs ({}); give another --state or remove it",
                path.display(),
                differs.join("; ")
            );
        }
        state.saved_runs = file.runs.len();
        state.runs = file.runs;
        Ok(state)
    }

    /// Saves if at least `min_seconds` passed since the last save.
    pub fn checkpoint(&mut self, min_seconds: f64) -> anyhow::Result<()> {
        if self.last_save.elapsed().as_secs_f64() >= min_seconds { self.save() } else { Ok(()) }
    }

    /// Writes the state atomically when it holds runs the file does not have yet.
    pub fn save(&mut self) -> anyhow::Result<()> {
        self.last_save = Instant::now();
        let Some(path) = &self.path else { return Ok(()) };
        if self.runs.len() == self.saved_runs {
            return Ok(());
        }
        let file = File { format: FORMAT.into(), config: self.config.clone(), runs: self.runs.clone() };
        write_atomic(path, &serde_json::to_vec(&file)?)
            .with_context(|| format!("cannot write state file {}", path.display()))?;
        self.saved_runs = self.runs.len();
        Ok(())
    }
}

/// The largest state file read (a state of 100,000 runs is far below it).
const MAX_STATE_BYTES: u64 = 1 << 30;

fn read_bounded(path: &Path) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() || meta.len() > MAX_STATE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not a regular file of at most {MAX_STATE_BYTES} bytes"),
        ));
    }
    std::fs::read_to_string(path)
}

/// The temporary name of one write of `path` ([`write_atomic`]).
fn temporary_name(path: &Path, pid: u32, n: u64) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    dir.join(format!(".{name}.{pid}.{n}.tmp"))
}

/// Removes the temporary files that writes of `path` by processes no longer running left behind (a
/// process killed during a write). Only names of [`temporary_name`]'s form are touched, and only
/// where the system tells which processes run (`/proc`).
pub fn remove_stale_temporaries(path: &Path) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix).and_then(|r| r.strip_suffix(".tmp")) else { continue };
        let Some((pid, n)) = rest.split_once('.') else { continue };
        let (Ok(pid), Ok(n)) = (pid.parse::<u32>(), n.parse::<u64>()) else { continue };
        if pid != std::process::id() && !proc.join(pid.to_string()).exists() {
            let _ = std::fs::remove_file(temporary_name(path, pid, n));
        }
    }
}

/// Replaces `path` with `bytes` atomically: a new temporary file beside it (a hidden name with the
/// process id and a counter, created exclusively, so no file of the user's is touched), synced,
/// renamed over `path`, and the directory synced. A failure removes the temporary file; one left
/// by a killed process is removed by [`remove_stale_temporaries`] when the state is next opened.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let (tmp, mut file) = loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = temporary_name(path, std::process::id(), n);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    };
    let written = file.write_all(bytes).and_then(|()| file.sync_all()).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
