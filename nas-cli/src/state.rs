//! The state file of `nas search`: the search's identity (settings and inputs), every completed
//! run (its answer, its evaluation count and its best-so-far curve), and the run in progress as its
//! history of evaluations ([`Partial`], saved at most once a second). Each run draws from its own
//! stream of the seeded generator, so a run is a pure function of the settings and its index.
//! Resuming skips the completed runs and continues the interrupted one through the library's own
//! mechanism, [`nas_strategies::resume`]: its history is replayed through a fresh strategy and
//! generator without evaluating anything again (random, rea and naswot runs; the na-random and area
//! runs, whose evaluators or phases keep state of their own, are redone, their scores coming from the
//! score cache). The result equals that of an uninterrupted search.
//!
//! The file is replaced atomically ([`nas_core::fsio::write_atomic`]: a fresh temporary file beside
//! it, synced, then renamed; one left by a killed write is removed at the next open), so an
//! interruption leaves either the old state or the new one; a file that does not parse, or was
//! written by another search or on other inputs, is an error and is left as it is. A search whose
//! runs are all in the file writes nothing (a read-only state works).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use nas_core::{SearchSpace, fsio};
use nas_strategies::{Record, SearchResult};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

const FORMAT: &str = "nas-search-state/3";

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

/// A run interrupted part-way: its index and the evaluations it had made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partial {
    /// The run's index (the number of runs completed before it).
    pub run: usize,
    /// Its evaluations so far, in order.
    #[serde(serialize_with = "ser_history", deserialize_with = "de_history")]
    pub history: Vec<Record>,
}

/// A [`Record`] as saved: the fitness in the score cache's form, so that `-inf` (a singular NASWOT
/// kernel) survives JSON, which has no infinities.
#[derive(Serialize, Deserialize)]
struct SavedRecord {
    genotype: nas_core::Genotype,
    #[serde(with = "nas_kernels::cache::score_json")]
    fitness: f64,
    cost_seconds: f64,
    clock_s: f64,
}

fn ser_history<S: Serializer>(history: &[Record], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(history.iter().map(|r| SavedRecord {
        genotype: r.genotype.clone(),
        fitness: r.evaluation.fitness,
        cost_seconds: r.evaluation.cost_seconds,
        clock_s: r.clock_s,
    }))
}

fn de_history<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Record>, D::Error> {
    let saved = Vec::<SavedRecord>::deserialize(d)?;
    Ok(saved
        .into_iter()
        .map(|r| Record {
            genotype: r.genotype,
            evaluation: nas_core::Evaluation { fitness: r.fitness, cost_seconds: r.cost_seconds },
            clock_s: r.clock_s,
        })
        .collect())
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    format: String,
    config: Value,
    runs: Vec<RunOutcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    partial: Option<Partial>,
}

/// The runs completed so far, saved to a file when one is given.
#[derive(Debug)]
pub struct SearchState {
    path: Option<PathBuf>,
    config: Value,
    /// The completed runs, in order.
    pub runs: Vec<RunOutcome>,
    partial: Option<Partial>,
    /// Whether the state holds anything the file does not.
    dirty: bool,
    last_save: Instant,
}

impl SearchState {
    /// A state that is never written.
    pub fn in_memory(config: Value) -> Self {
        SearchState { path: None, config, runs: Vec::new(), partial: None, dirty: false, last_save: Instant::now() }
    }

    /// The state in `path` if the file exists (it must have been written by a search with the same
    /// `config`), else an empty one that will be written there.
    pub fn open(path: &Path, config: Value) -> anyhow::Result<Self> {
        fsio::remove_stale_temporaries(path);
        Self::read(path, config)
    }

    /// The state in `path` as [`SearchState::open`] reads it, touching nothing beside it (a merge
    /// reads the state files of cluster tasks that may still be writing them).
    pub fn read(path: &Path, config: Value) -> anyhow::Result<Self> {
        let mut state = SearchState { path: Some(path.to_path_buf()), ..Self::in_memory(config) };
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
        state.runs = file.runs;
        state.partial = file.partial;
        Ok(state)
    }

    /// A run completed: its outcome replaces whatever was saved of it part-way.
    pub fn push(&mut self, outcome: RunOutcome) {
        self.runs.push(outcome);
        self.partial = None;
        self.dirty = true;
    }

    /// The saved evaluations of run `run` when it was interrupted part-way, else none.
    pub fn partial_history(&self, run: usize) -> Vec<Record> {
        self.partial.as_ref().filter(|p| p.run == run).map(|p| p.history.clone()).unwrap_or_default()
    }

    /// One more evaluation of run `run`, which has the evaluations `partial_history` gave before.
    pub fn record(&mut self, run: usize, record: Record) {
        match &mut self.partial {
            Some(p) if p.run == run => p.history.push(record),
            _ => self.partial = Some(Partial { run, history: vec![record] }),
        }
        self.dirty = true;
    }

    /// Saves if at least `min_seconds` passed since the last save.
    pub fn checkpoint(&mut self, min_seconds: f64) -> anyhow::Result<()> {
        if self.last_save.elapsed().as_secs_f64() >= min_seconds { self.save() } else { Ok(()) }
    }

    /// Saves part-way through a run, at most once a second (and at most once in `min_seconds`).
    pub fn checkpoint_partial(&mut self, min_seconds: f64) -> anyhow::Result<()> {
        self.checkpoint(min_seconds.max(1.0))
    }

    /// Writes the state atomically when it holds anything the file does not.
    pub fn save(&mut self) -> anyhow::Result<()> {
        self.last_save = Instant::now();
        let Some(path) = &self.path else { return Ok(()) };
        if !self.dirty {
            return Ok(());
        }
        let file = File {
            format: FORMAT.into(),
            config: self.config.clone(),
            runs: self.runs.clone(),
            partial: self.partial.clone(),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        fsio::write_atomic(path, &serde_json::to_vec(&file)?)
            .with_context(|| format!("cannot write state file {}", path.display()))?;
        self.dirty = false;
        Ok(())
    }
}

/// The largest state file read (a state of 100,000 runs is far below it).
const MAX_STATE_BYTES: u64 = 1 << 30;
