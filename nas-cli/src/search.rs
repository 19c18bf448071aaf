//! `nas search`: repeated searches on NAS-Bench-201, summarised as mean ± std of the found
//! architectures' accuracies, with a resumable state file and a plot of the search curves.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use nas_core::stats::mean_std;
use nas_core::{Genotype, SearchSpace};
use nas_kernels::{Proxy, ScoreEvaluator};
use nas_spaces::{DataDir, Dataset, Epochs, Nb201Space, Nb201Table, SpaceId, Split};
use nas_strategies::{
    Budget, NeighbourhoodMean, RandomSearch, Record, RegularizedEvolution, SearchResult, resume, search,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::Score;
use crate::progress::Progress;
use crate::score::{ScoringConfig, thin_nb201};
use crate::state::{RunOutcome, SearchState};
use crate::vocab;

/// The most runs one command may ask for.
pub const MAX_RUNS: usize = 100_000;
/// The most networks one run may score (`--n`).
pub const MAX_N: usize = 1_000_000;
/// The most evaluations a run's time budget may imply (its history is kept in memory).
pub const MAX_EVALUATIONS: f64 = 1_000_000.0;

/// A search strategy of `nas search`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Random search.
    Random,
    /// Regularized evolution (Real et al. 2019).
    Rea,
    /// Sample N, keep the best training-free score (Mellor et al. 2021).
    Naswot,
    /// Score N, then regularized evolution from the best P (AREA).
    Area,
    /// Random search ranked by the mean over each candidate's one-edit neighbourhood.
    NaRandom,
}

impl Strategy {
    /// The name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::Rea => "rea",
            Strategy::Naswot => "naswot",
            Strategy::Area => "area",
            Strategy::NaRandom => "na-random",
        }
    }

    /// Whether the strategy computes training-free scores.
    pub fn scores(self) -> bool {
        matches!(self, Strategy::Naswot | Strategy::Area)
    }
}

/// `nas search`: the strategy, its budget and settings, and where its state and plot go.
#[derive(Clone, Debug, Args, Serialize)]
pub struct SearchConfig {
    /// Where the scores come from.
    #[command(flatten)]
    pub scoring: ScoringConfig,
    /// The search strategy.
    #[arg(long, value_enum, default_value_t = Strategy::Rea)]
    pub strategy: Strategy,
    /// Simulated seconds per run (random, rea, na-random, and area's evolution): each query charges
    /// the benchmark's training time.
    #[arg(long, default_value_t = 12_000.0)]
    pub budget_seconds: f64,
    /// Independent runs; run i draws from stream i of the seeded generator. Default: 500 for the
    /// table strategies, 1 for naswot (which scores N networks per run).
    #[arg(long)]
    pub runs: Option<usize>,
    /// Seed of every random choice of the command. Run i draws from stream i.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The benchmark dataset. Here: whose validation accuracy is the fitness.
    #[arg(long, default_value = "cifar10-valid", value_parser = vocab::dataset(), ignore_case = true)]
    pub dataset: Dataset,
    /// The benchmark's training schedule, 12 or 200 epochs. Here: of the fitness and of the time charged.
    #[arg(long = "hp", alias = "fitness-epochs", default_value = "12", value_parser = vocab::hp())]
    pub hp: Epochs,
    /// Regularized evolution (and AREA): population size P.
    #[arg(long, default_value_t = 10)]
    pub population: usize,
    /// Regularized evolution (and AREA): tournament sample size S.
    #[arg(long, default_value_t = 3)]
    pub sample_size: usize,
    /// na-random: charge only each candidate's training time, not its neighbours' (as when the
    /// table supplies the neighbourhood), so it sees as many candidates as random search.
    #[arg(long)]
    pub free_neighbours: bool,
    /// Networks scored per run: N of NASWOT search (default 10), AREA's initial sample (default 20).
    #[arg(long)]
    pub n: Option<usize>,
    /// The training-free score. Here: of naswot and area.
    #[arg(long, default_value = "naswot", value_parser = vocab::proxy())]
    #[serde(serialize_with = "proxy_name")]
    pub proxy: Proxy,
    /// State file: written as the search goes; re-running the same command resumes from it.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Minimum seconds between two writes of the state file (0: after every run).
    #[arg(long, default_value_t = 1.0, hide = true)]
    pub checkpoint_seconds: f64,
    /// Only runs A to B-1 of the --runs, e.g. 0..25: one part of a cluster job (`nas cluster`). The
    /// report covers these runs; the state file holds them; no plot is drawn.
    #[arg(long, value_name = "A..B", hide = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs_range: Option<String>,
    /// An SVG plot. Here: the best-so-far test accuracy against the budget, median and quartiles over runs.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Train the search's answer (the most frequent over the runs) for this many epochs with
    /// `nas train`'s recipe on --train-images.
    #[arg(long, value_name = "EPOCHS", requires = "train_images")]
    pub train_final: Option<usize>,
    /// With --train-final: the training set, a CIFAR-10 binary file.
    #[arg(long, value_name = "FILE", requires = "train_final")]
    pub train_images: Option<PathBuf>,
    /// Test images (CIFAR-10 binary layout), evaluated in eval mode after training.
    #[arg(long, value_name = "FILE", requires = "train_final")]
    pub test_images: Option<PathBuf>,
    /// Channels of the first stage. Here: of the network --train-final trains.
    #[arg(long = "C", default_value_t = 16)]
    pub channels: usize,
    /// Cells per stage. Here: of the network --train-final trains.
    #[arg(long = "N", default_value_t = 5)]
    pub cells: usize,
}

impl SearchConfig {
    /// The number of runs: `--runs`, else the strategy's default (1 for naswot, 500 otherwise).
    pub fn run_count(&self) -> usize {
        self.runs.unwrap_or(if self.strategy == Strategy::Naswot { 1 } else { 500 })
    }
}

fn proxy_name<S: serde::Serializer>(p: &Proxy, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.name())
}

/// Mean ± std of the found architectures' accuracies on one dataset (200 epochs).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    /// Mean test accuracy (%).
    pub test_mean: f64,
    /// Standard deviation of the test accuracy.
    pub test_std: f64,
    /// Mean validation accuracy (%).
    pub valid_mean: f64,
    /// Standard deviation of the validation accuracy.
    pub valid_std: f64,
}

/// The one architecture a single run chose.
#[derive(Clone, Debug, Serialize)]
pub struct Chosen {
    /// The architecture, official string.
    pub arch: String,
    /// Trainable parameters.
    pub params: u64,
    /// Multiply-adds per image.
    pub flops: u64,
    /// The score.
    pub score: Option<Score>,
    /// 200-epoch test accuracy per dataset, when the benchmark table is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<BTreeMap<&'static str, Option<f64>>>,
}

/// The report of `nas search`.
#[derive(Clone, Debug, Serialize)]
pub struct SearchReport {
    /// The search strategy.
    pub strategy: Strategy,
    /// The search space.
    pub space: SpaceId,
    /// Independent runs.
    pub runs: usize,
    /// The seed of the command's random choices.
    pub seed: u64,
    /// The benchmark dataset.
    pub dataset: Dataset,
    /// The fitness's schedule in epochs (12 or 200).
    pub fitness_epochs: u32,
    /// Evaluations per run, mean over runs.
    pub mean_evaluations: f64,
    /// Each run's answer, official string.
    pub archs: Vec<String>,
    /// Networks scored per run (naswot, area).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// The training-free score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<&'static str>,
    /// Where the images came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<String>,
    /// Simulated seconds per run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_seconds: Option<f64>,
    /// Per dataset, when the benchmark table is there.
    pub results: Option<BTreeMap<&'static str, Summary>>,
    /// The answer of a single run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chosen: Option<Chosen>,
    /// The answer trained with --train-final.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trained: Option<crate::train::TrainOutcome>,
    /// Wall time (s).
    pub seconds: f64,
}

const REPORTED: [Dataset; 3] = [Dataset::Cifar10, Dataset::Cifar100, Dataset::ImageNet16];

fn epochs_number(e: Epochs) -> u32 {
    match e {
        Epochs::E12 => 12,
        Epochs::E200 => 200,
    }
}

/// Everything a run's outcome depends on, recorded in the state file: a state written under other
/// settings or inputs is refused.
#[derive(Debug, Serialize)]
struct Identity<'a> {
    space: &'a str,
    strategy: Strategy,
    seed: u64,
    dataset: &'static str,
    fitness_epochs: u32,
    budget_seconds: f64,
    population: usize,
    sample_size: usize,
    free_neighbours: bool,
    n: usize,
    proxy: &'static str,
    images: Option<String>,
    init_seed: u64,
    /// Size and checksum of the benchmark table the fitness comes from.
    table: Option<String>,
    /// The runs a part of a cluster job holds (`--runs-range`); absent for a whole search.
    #[serde(skip_serializing_if = "Option::is_none")]
    runs_range: Option<(usize, usize)>,
}

/// The state file of one part of a search split over a cluster job, and the runs it must hold.
#[derive(Clone, Debug)]
pub struct PartFile {
    /// The state file the part's task writes (`--state` with `--runs-range`).
    pub path: PathBuf,
    /// The runs of the part, `a..b` of `--runs-range a..b`.
    pub range: Range<usize>,
}

/// What the state file of one part holds: its completed runs, in order from `range.start`.
#[derive(Clone, Debug)]
pub struct PartRuns {
    /// The state file.
    pub path: PathBuf,
    /// The runs the part must hold.
    pub range: Range<usize>,
    /// The completed runs saved there (none when the file does not exist yet).
    pub runs: Vec<RunOutcome>,
}

/// Combines the runs of every part into the runs `0..R` of the whole search, in order (checking
/// that each is there exactly once).
pub type Combine<'a> = &'a mut dyn FnMut(Vec<PartRuns>) -> anyhow::Result<Vec<RunOutcome>>;

/// Parses `--runs-range a..b` against `runs`: `0 <= a < b <= runs`.
pub fn parse_runs_range(text: &str, runs: usize) -> anyhow::Result<Range<usize>> {
    let parsed = text.split_once("..").and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
    match parsed {
        Some((a, b)) if a < b && b <= runs => Ok(a..b),
        _ => bail!("invalid --runs-range {text:?}: expected A..B with 0 <= A < B <= {runs} (the --runs)"),
    }
}

/// Runs the search `config.runs` times and summarises the answers.
pub fn run(config: &SearchConfig, data: &DataDir) -> anyhow::Result<SearchReport> {
    run_with(config, data, None)
}

/// The report of a search split over a cluster job: the state file of each part is read (and must
/// belong to this search and its inputs), `combine` puts their runs together, and the report (and
/// plot) is built from them by the same code as [`run`]'s, so it equals one process's report but
/// for the wall time. Nothing is searched.
pub fn merge(
    config: &SearchConfig,
    data: &DataDir,
    parts: &[PartFile],
    combine: Combine<'_>,
) -> anyhow::Result<SearchReport> {
    if config.state.is_some() || config.runs_range.is_some() {
        bail!("a merged search takes neither --state nor --runs-range: its parts' state files are given");
    }
    run_with(config, data, Some((parts, combine)))
}

fn run_with(
    config: &SearchConfig,
    data: &DataDir,
    merging: Option<(&[PartFile], Combine<'_>)>,
) -> anyhow::Result<SearchReport> {
    let started = Instant::now();
    let kind = config.strategy;
    config.scoring.space.require("nas search", &[SpaceId::Nb201])?;
    let space = Nb201Space::default();
    let budget = Budget::seconds(config.budget_seconds)?;
    let runs = config.run_count();
    if runs == 0 || runs > MAX_RUNS {
        bail!("invalid --runs {runs}: give 1 to {MAX_RUNS} runs");
    }
    let range = config.runs_range.as_deref().map(|r| parse_runs_range(r, runs)).transpose()?;
    let (first, count) = range.as_ref().map_or((0, runs), |r| (r.start, r.len()));
    let n = config.n.unwrap_or(if kind == Strategy::Area { 20 } else { 10 });
    if n == 0 || n > MAX_N {
        bail!("invalid --n {n}: score 1 to {MAX_N} networks per run");
    }
    RegularizedEvolution::new(config.population, config.sample_size)?;
    if config.checkpoint_seconds.is_nan() || config.checkpoint_seconds < 0.0 {
        bail!("invalid --checkpoint-seconds {}: give a number >= 0", config.checkpoint_seconds);
    }

    // The table: required to search on it, optional for NASWOT (which then reports scores only).
    let table = match Nb201Table::load(data) {
        Ok(t) => Some(t),
        Err(e) if kind == Strategy::Naswot => {
            eprintln!("note: no benchmark table ({e}): reporting the chosen architectures without accuracies");
            None
        }
        Err(e) => return Err(e).context(format!("{} searches on the benchmark table", kind.name())),
    };
    let fitness = table.as_ref().map(|t| t.evaluator(config.dataset, Split::Valid, config.hp)).transpose()?;
    if let (Some(t), false) = (&table, kind == Strategy::Naswot) {
        // A budget is spent in queries of at least the cheapest architecture's charged time.
        let cheapest = (0..t.len())
            .filter_map(|i| t.train_time_s(i, config.dataset, config.hp).ok().flatten())
            .fold(f64::INFINITY, f64::min);
        if cheapest > 0.0 && config.budget_seconds / cheapest > MAX_EVALUATIONS {
            bail!(
                "invalid --budget-seconds {}: at {cheapest:.1} s per query it allows over {MAX_EVALUATIONS} \
                 evaluations per run; give at most {:.0}",
                config.budget_seconds,
                cheapest * MAX_EVALUATIONS
            );
        }
    }
    let thin = thin_nb201();
    let scoring_space = if kind.scores() {
        let expected = Some(crate::score::images_of(config.dataset));
        let (images, dataset) = config.scoring.source.image_batch(&[config.proxy], expected)?;
        Some((crate::score::nb201_for(dataset)?, images))
    } else {
        None
    };
    let scorer = match &scoring_space {
        Some((s, images)) => Some(config.scoring.source.scorer(s, Some(&thin), &[config.proxy], images.clone())?),
        None => None,
    };
    let proxy = config.proxy;
    let score_eval = scorer.as_ref().map(|scorer| ScoreEvaluator { scorer, proxy });

    let mut identity = Identity {
        space: space.name(),
        strategy: kind,
        seed: config.seed,
        dataset: config.dataset.name(),
        fitness_epochs: epochs_number(config.hp),
        budget_seconds: config.budget_seconds,
        population: config.population,
        sample_size: config.sample_size,
        free_neighbours: config.free_neighbours,
        n,
        proxy: proxy.name(),
        images: scorer.as_ref().map(|s| nas_kernels::cache::images_key(s.images())),
        init_seed: config.scoring.source.init_seed,
        table: table.as_ref().map(|t| t.identity()),
        runs_range: range.as_ref().map(|r| (r.start, r.end)),
    };
    let merged = merging.is_some();
    let mut state = match (merging, &config.state) {
        (Some((parts, combine)), _) => {
            let mut read = Vec::with_capacity(parts.len());
            for part in parts {
                identity.runs_range = Some((part.range.start, part.range.end));
                let saved = SearchState::read(&part.path, serde_json::to_value(&identity)?)?;
                read.push(PartRuns { path: part.path.clone(), range: part.range.clone(), runs: saved.runs });
            }
            identity.runs_range = None;
            let mut state = SearchState::in_memory(serde_json::to_value(&identity)?);
            state.runs = combine(read)?;
            if state.runs.len() != runs {
                bail!("the parts hold {} runs, the search has --runs {runs}", state.runs.len());
            }
            state
        }
        (None, Some(path)) => SearchState::open(path, serde_json::to_value(&identity)?)?,
        (None, None) => SearchState::in_memory(serde_json::to_value(&identity)?),
    };
    let resumed = state.runs.len().min(count);
    if resumed > 0 && !merged {
        eprintln!("note: resuming from {resumed} completed run(s) in the state file");
    }

    // One run of NASWOT scores N networks: count networks then, runs otherwise.
    let per_run = if kind == Strategy::Naswot && count == 1 { n } else { 1 };
    let mut progress = Progress::new(if per_run > 1 { "scoring" } else { "searching" }, count * per_run);
    for _ in 0..resumed * per_run {
        progress.inc();
    }
    while state.runs.len() < count {
        let run = first + state.runs.len();
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(run as u64);
        let scores = || score_eval.as_ref().context("no scorer");
        let table_fitness = || fitness.as_ref().context("no table");
        let rea = || RegularizedEvolution::new(config.population, config.sample_size);
        // Random, rea and naswot runs continue from their saved evaluations (see `state`).
        let history = if kind.resumes_part_way() { state.partial_history(run) } else { Vec::new() };
        if !history.is_empty() {
            eprintln!("note: resuming run {run} from its {} saved evaluation(s)", history.len());
            for _ in 0..if per_run > 1 { history.len() } else { 0 } {
                progress.inc();
            }
        }
        let clock_s = history.last().map_or(0.0, |r| r.clock_s);
        let mut saver = Saver {
            state: &mut state,
            progress: &mut progress,
            tick: per_run > 1,
            run,
            clock_s,
            min_seconds: config.checkpoint_seconds,
            error: None,
        };
        let (result, score): (SearchResult, Option<f64>) = match kind {
            Strategy::Random => {
                let r =
                    resume(&space, &mut RandomSearch, table_fitness()?, budget, &mut rng, history, Some(&mut saver))?;
                (r, None)
            }
            Strategy::Rea => {
                (resume(&space, &mut rea()?, table_fitness()?, budget, &mut rng, history, Some(&mut saver))?, None)
            }
            Strategy::NaRandom => {
                let mut na = NeighbourhoodMean::new(&space, table_fitness()?);
                if config.free_neighbours {
                    na = na.with_free_neighbours();
                }
                (search(&space, &mut RandomSearch, &na, budget, &mut rng, None)?, None)
            }
            Strategy::Naswot => {
                let budget = Budget::evaluations(n)?;
                let r = resume(&space, &mut RandomSearch, scores()?, budget, &mut rng, history, Some(&mut saver))?;
                let best = r.best().map(|b| b.evaluation.fitness);
                (r, best)
            }
            Strategy::Area => {
                let scored = search(&space, &mut RandomSearch, scores()?, Budget::evaluations(n)?, &mut rng, None)?;
                let mut ranked: Vec<_> = scored.history.iter().collect();
                // Stable: among equal scores the earlier sample ranks first.
                ranked.sort_by(|a, b| b.evaluation.fitness.total_cmp(&a.evaluation.fitness));
                let start: Vec<Genotype> = ranked.iter().take(config.population).map(|r| r.genotype.clone()).collect();
                let mut area = rea()?.starting_from(start);
                (search(&space, &mut area, table_fitness()?, budget, &mut rng, None)?, None)
            }
        };
        if let Some(e) = saver.error.take() {
            return Err(e);
        }
        state.push(RunOutcome::of(&space, &result, score)?);
        state.checkpoint(config.checkpoint_seconds)?;
        if per_run == 1 {
            progress.inc();
        }
    }
    state.save()?;
    state.runs.truncate(count);
    let runs = count;

    let found: Vec<Genotype> =
        state.runs.iter().map(|r| space.parse(&r.found)).collect::<nas_core::Result<_>>().context("state file")?;
    let results = table.as_ref().map(|t| summary(t, &found)).transpose()?;
    let chosen = if runs == 1 { Some(chosen(&space, &found[0], state.runs[0].score, table.as_ref())?) } else { None };
    if let (Some(path), Some(t), None) = (&config.plot, &table, &range) {
        let by_evaluations = kind == Strategy::Naswot;
        let curves = curves(&space, t, config.dataset, &state.runs, by_evaluations)?;
        let reported = if config.dataset == Dataset::Cifar10Valid { Dataset::Cifar10 } else { config.dataset };
        let (x_label, x_end) = if by_evaluations {
            ("networks scored".to_string(), n as f64)
        } else {
            ("simulated training time (s)".to_string(), config.budget_seconds)
        };
        let title = if by_evaluations {
            format!("{}, N = {n}, on NAS-Bench-201: {runs} run(s), seed {}", kind.name(), config.seed)
        } else {
            let e = epochs_number(config.hp);
            format!(
                "{} on NAS-Bench-201, fitness {} {e}-epoch validation: {runs} run(s), seed {}",
                kind.name(),
                config.dataset,
                config.seed
            )
        };
        let y_label = format!("best-so-far {} test accuracy (%, 200 epochs)", reported.name());
        let svg = crate::plot::bands_svg(&title, &x_label, &y_label, &curves, x_end, by_evaluations);
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let archs: Vec<String> = state.runs.iter().map(|r| r.found.clone()).collect();
    let trained = match (config.train_final, modal(&archs)) {
        (Some(epochs), Some(arch)) => Some(train_answer(config, epochs, arch, data)?),
        _ => None,
    };
    Ok(SearchReport {
        strategy: kind,
        space: SpaceId::Nb201,
        runs,
        seed: config.seed,
        dataset: config.dataset,
        fitness_epochs: epochs_number(config.hp),
        mean_evaluations: state.runs.iter().map(|r| r.evaluations as f64).sum::<f64>() / runs as f64,
        archs,
        n: kind.scores().then_some(n),
        proxy: kind.scores().then_some(proxy.name()),
        images: scorer.as_ref().map(|s| s.images().source.clone()),
        budget_seconds: (kind != Strategy::Naswot).then_some(config.budget_seconds),
        results,
        chosen,
        trained,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The most frequent answer (the first of the most frequent on a tie).
fn modal(archs: &[String]) -> Option<&String> {
    let mut counts: BTreeMap<&String, usize> = BTreeMap::new();
    for a in archs {
        *counts.entry(a).or_default() += 1;
    }
    let most = counts.values().copied().max()?;
    archs.iter().find(|a| counts[a] == most)
}

/// Trains `arch` as `nas train --arch ARCH --images ... --epochs E --C --N --seed` would.
fn train_answer(
    config: &SearchConfig,
    epochs: usize,
    arch: &str,
    data: &DataDir,
) -> anyhow::Result<crate::train::TrainOutcome> {
    let images = config.train_images.as_deref().context("--train-final needs --train-images")?;
    let mut args = crate::train::TrainArgs::recipe(arch, images)?;
    args.epochs = epochs;
    args.channels = config.channels;
    args.cells = config.cells;
    args.seed = config.seed;
    args.test_images.clone_from(&config.test_images);
    crate::train::run(&args, data)
}

/// Records each evaluation of the run in progress in the state (saved at most once a second) and
/// advances the progress bar per evaluation when `tick`.
struct Saver<'s> {
    state: &'s mut SearchState,
    progress: &'s mut Progress,
    tick: bool,
    run: usize,
    /// The simulated clock after the last recorded evaluation, as the driver counts it.
    clock_s: f64,
    min_seconds: f64,
    error: Option<anyhow::Error>,
}

impl nas_core::Observer for Saver<'_> {
    fn on_evaluation(&mut self, _: usize, g: &Genotype, e: &nas_core::Evaluation) -> std::ops::ControlFlow<()> {
        if self.tick {
            self.progress.inc();
        }
        self.clock_s += e.cost_seconds;
        self.state.record(self.run, Record { genotype: g.clone(), evaluation: *e, clock_s: self.clock_s });
        match self.state.checkpoint_partial(self.min_seconds) {
            Ok(()) => std::ops::ControlFlow::Continue(()),
            Err(err) => {
                self.error = Some(err);
                std::ops::ControlFlow::Break(())
            }
        }
    }
}

impl Strategy {
    /// Whether a run interrupted part-way continues from its saved evaluations: the evaluator and
    /// the strategy keep no state beyond what the history replays (not na-random's charged
    /// neighbours, nor area's two phases).
    pub fn resumes_part_way(self) -> bool {
        matches!(self, Strategy::Random | Strategy::Rea | Strategy::Naswot)
    }
}

/// Mean ± std of the found architectures' 200-epoch accuracies on each dataset.
fn summary(table: &Nb201Table, found: &[Genotype]) -> anyhow::Result<BTreeMap<&'static str, Summary>> {
    let mut results = BTreeMap::new();
    for d in REPORTED {
        let stat = |split| -> anyhow::Result<(f64, f64)> {
            let v: Vec<f64> = found
                .iter()
                .map(|g| {
                    let i = table.index_of(g).context("found genotype not in the table")?;
                    table.accuracy(i, d, split, Epochs::E200)?.with_context(|| format!("row {i} has no {d} accuracy"))
                })
                .collect::<anyhow::Result<_>>()?;
            Ok(mean_std(&v))
        };
        let (test_mean, test_std) = stat(Split::Test)?;
        let (valid_mean, valid_std) = stat(Split::Valid)?;
        results.insert(d.name(), Summary { test_mean, test_std, valid_mean, valid_std });
    }
    Ok(results)
}

/// The one architecture a single run chose: its counts, its score, and its accuracies when the table is there.
fn chosen(space: &Nb201Space, g: &Genotype, score: Option<f64>, table: Option<&Nb201Table>) -> anyhow::Result<Chosen> {
    let counts = space.to_network(g)?.counts();
    let test_accuracy = match table {
        Some(t) => {
            let i = t.index_of(g).context("chosen genotype not in the table")?;
            let mut acc = BTreeMap::new();
            for d in REPORTED {
                acc.insert(d.name(), t.accuracy(i, d, Split::Test, Epochs::E200)?);
            }
            Some(acc)
        }
        None => None,
    };
    Ok(Chosen {
        arch: space.format(g),
        params: counts.params,
        flops: counts.flops,
        score: score.map(Score),
        test_accuracy,
    })
}

/// Best-so-far test accuracy (of the dataset searched on; CIFAR-10's for cifar10-valid) against
/// simulated time, or against networks scored when the runs charge no time: per run, a step function.
fn curves(
    space: &Nb201Space,
    table: &Nb201Table,
    dataset: Dataset,
    runs: &[RunOutcome],
    by_evaluations: bool,
) -> anyhow::Result<Vec<Vec<(f64, f64)>>> {
    let reported = if dataset == Dataset::Cifar10Valid { Dataset::Cifar10 } else { dataset };
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        let mut steps = Vec::with_capacity(r.curve.len());
        for (step, clock_s, arch) in &r.curve {
            let g = space.parse(arch)?;
            let i = table.index_of(&g).context("curve genotype not in the table")?;
            let acc = table.accuracy(i, reported, Split::Test, Epochs::E200)?.unwrap_or(f64::NAN);
            steps.push((if by_evaluations { (*step + 1) as f64 } else { *clock_s }, acc));
        }
        out.push(steps);
    }
    Ok(out)
}

impl fmt::Display for SearchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let images = self.images.as_deref().unwrap_or("");
        let proxy = self.proxy.unwrap_or("");
        let budget = self.budget_seconds.unwrap_or(0.0);
        let fitness = format!("fitness {}-epoch {} validation", self.fitness_epochs, self.dataset);
        let n = self.n.unwrap_or(0);
        let what = match self.strategy {
            Strategy::Naswot => format!("N = {n} networks scored with {proxy} on {images}"),
            Strategy::Area => format!("{n} scored with {proxy} on {images}, then {budget} simulated s, {fitness}"),
            _ => format!("{budget} simulated s, {fitness}"),
        };
        writeln!(
            f,
            "{} on nb201, {} run(s) with seed {}: {what}; {:.1} evaluations per run",
            self.strategy.name(),
            self.runs,
            self.seed,
            self.mean_evaluations
        )?;
        if let Some(c) = &self.chosen {
            let score = c.score.map_or(String::new(), |s| format!(", {proxy} {s}"));
            writeln!(f, "chosen: {}", c.arch)?;
            writeln!(f, "  params {:.3} M, FLOPs {:.2} M{score}", c.params as f64 / 1e6, c.flops as f64 / 1e6)?;
            if let Some(acc) = &c.test_accuracy {
                let parts: Vec<String> = REPORTED
                    .iter()
                    .map(|d| format!("{} {:.2}", d.name(), acc.get(d.name()).copied().flatten().unwrap_or(f64::NAN)))
                    .collect();
                writeln!(f, "  test accuracy (200 epochs): {}", parts.join(", "))?;
            }
        }
        if let (Some(results), true) = (&self.results, self.runs > 1) {
            writeln!(f, "{:<16} {:>16} {:>16}", "dataset", "valid (%)", "test (%)")?;
            for d in REPORTED {
                if let Some(r) = results.get(d.name()) {
                    writeln!(
                        f,
                        "{:<16} {:>16} {:>16}",
                        d.name(),
                        format!("{:.2} ± {:.2}", r.valid_mean, r.valid_std),
                        format!("{:.2} ± {:.2}", r.test_mean, r.test_std)
                    )?;
                }
            }
        }
        if let Some(t) = &self.trained {
            writeln!(f, "trained with --train-final:")?;
            write!(f, "{t}")?;
        }
        writeln!(f, "({:.2} s)", self.seconds)
    }
}
