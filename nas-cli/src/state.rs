//! The state file of `nas search`: the search's identity (settings and inputs) and every completed
//! run (its answer, its evaluation count and its best-so-far curve). Each run draws from its own
//! stream of the seeded generator, so a run is a pure function of the settings and its index:
//! resuming re-runs only the runs that did not finish, and the result equals that of an
//! uninterrupted search. Scores a score-based run computed before an interruption are in the score
//! cache, so they are not computed twice.
//!
//! The file is replaced atomically ([`nas_core::fsio::write_atomic`]: a fresh temporary file beside
//! it, synced, then renamed; one left by a killed write is removed at the next open), so an interruption leaves either the old state or the new one; a file that does
//! not parse, or was written by another search or on other inputs, is an error and is left as it
//! is. A search whose runs are all in the file writes nothing (a read-only state works).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use nas_core::{SearchSpace, fsio};
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
        fsio::remove_stale_temporaries(path);
        if !path.exists() {
            return Ok(state);
        }
        let text = fsio::read_text_bounded(path, MAX_STATE_BYTES)
            .with_context(|| format!("cannot read state file {}", path.display()))?;
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
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        fsio::write_atomic(path, &serde_json::to_vec(&file)?)
            .with_context(|| format!("cannot write state file {}", path.display()))?;
        self.saved_runs = self.runs.len();
        Ok(())
    }
}

/// The largest state file read (a state of 100,000 runs is far below it).
const MAX_STATE_BYTES: u64 = 1 << 30;
