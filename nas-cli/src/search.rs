//! `nas search`: repeated searches on NAS-Bench-201, summarised as mean ± std of the found
//! architectures' accuracies, with a resumable state file and a plot of the search curves.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use nas_core::{Genotype, SearchSpace};
use nas_kernels::{Proxy, ScoreEvaluator};
use nas_spaces::{DataDir, Dataset, Epochs, Nb201Space, Nb201Table, Split};
use nas_strategies::{Budget, NeighbourhoodMean, RandomSearch, RegularizedEvolution, SearchResult, search};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::progress::Progress;
use crate::score::{ScoringArgs, thin_nb201};
use crate::search_state::{RunOutcome, SearchState};

#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    scoring: ScoringArgs,
    /// random, rea (regularized evolution), naswot (sample N, keep the best score), area (score N,
    /// evolve from the best P), na-random (random search ranked by neighbourhood mean).
    #[arg(long, default_value = "rea")]
    strategy: String,
    /// Simulated seconds per run (random, rea, na-random, and area's evolution): each query charges
    /// the benchmark's training time.
    #[arg(long, default_value_t = 12_000.0)]
    budget_seconds: f64,
    /// Independent runs; run i draws from stream i of the seeded generator. Default: 500 for the
    /// table strategies, 1 for naswot (which scores N networks per run).
    #[arg(long)]
    runs: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Dataset whose validation accuracy is the fitness: cifar10-valid, cifar100 or ImageNet16-120.
    #[arg(long, default_value = "cifar10-valid")]
    dataset: String,
    /// Schedule of the fitness and of the time charged: 12 (the benchmark paper's choice) or 200.
    #[arg(long, default_value_t = 12)]
    fitness_epochs: u32,
    /// Regularized evolution (and AREA): population size P.
    #[arg(long, default_value_t = 10)]
    population: usize,
    /// Regularized evolution (and AREA): tournament sample size S.
    #[arg(long, default_value_t = 3)]
    sample_size: usize,
    /// na-random: charge only each candidate's training time, not its neighbours' (as when the
    /// table supplies the neighbourhood), so it sees as many candidates as random search.
    #[arg(long)]
    free_neighbours: bool,
    /// Networks scored per run: N of NASWOT search (default 10), AREA's initial sample (default 20).
    #[arg(long)]
    n: Option<usize>,
    /// The training-free score of naswot and area.
    #[arg(long, default_value = "naswot")]
    proxy: String,
    /// State file: written as the search goes; re-running the same command resumes from it.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Minimum seconds between two writes of the state file (0: after every run).
    #[arg(long, default_value_t = 1.0, hide = true)]
    checkpoint_seconds: f64,
    /// Plot of the best-so-far test accuracy against simulated time (median and quartiles over runs), SVG.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Random,
    Rea,
    Naswot,
    Area,
    NaRandom,
}

impl Kind {
    fn parse(s: &str) -> anyhow::Result<Kind> {
        Ok(match s {
            "random" => Kind::Random,
            "rea" => Kind::Rea,
            "naswot" => Kind::Naswot,
            "area" => Kind::Area,
            "na-random" => Kind::NaRandom,
            other => anyhow::bail!("unknown strategy {other:?}; available: random, rea, naswot, area, na-random"),
        })
    }

    fn scores(self) -> bool {
        matches!(self, Kind::Naswot | Kind::Area)
    }
}

const REPORTED: [Dataset; 3] = [Dataset::Cifar10, Dataset::Cifar100, Dataset::ImageNet16];

pub fn run(args: SearchArgs, data: &DataDir) -> anyhow::Result<()> {
    let started = Instant::now();
    let kind = Kind::parse(&args.strategy)?;
    if args.scoring.space != "nb201" {
        anyhow::bail!("unknown space {:?}; nas search runs on nb201", args.scoring.space);
    }
    let space = Nb201Space::default();
    let budget = Budget::seconds(args.budget_seconds)?;
    let runs = args.runs.unwrap_or(if kind == Kind::Naswot { 1 } else { 500 });
    if runs == 0 {
        anyhow::bail!("invalid --runs 0: give at least 1");
    }
    let n = args.n.unwrap_or(if kind == Kind::Area { 20 } else { 10 });
    if n == 0 {
        anyhow::bail!("invalid --n 0: score at least 1 network");
    }
    RegularizedEvolution::new(args.population, args.sample_size)?;
    let dataset: Dataset = args.dataset.parse()?;
    let epochs = match args.fitness_epochs {
        12 => Epochs::E12,
        200 => Epochs::E200,
        other => anyhow::bail!("invalid --fitness-epochs {other}: the benchmark has 12 and 200"),
    };
    let proxy = Proxy::parse(&args.proxy)?;

    // The table: required to search on it, optional for NASWOT (which then reports scores only).
    let table = match Nb201Table::load(data) {
        Ok(t) => Some(t),
        Err(e) if kind == Kind::Naswot => {
            eprintln!("note: no benchmark table ({e}): reporting the chosen architectures without accuracies");
            None
        }
        Err(e) => return Err(e).context(format!("{} searches on the benchmark table", args.strategy)),
    };
    let fitness = table.as_ref().map(|t| t.evaluator(dataset, Split::Valid, epochs)).transpose()?;
    let thin = thin_nb201();
    let scorer = if kind.scores() { Some(args.scoring.scorer(&space, &thin, &[proxy])?) } else { None };
    let score_eval = scorer.as_ref().map(|scorer| ScoreEvaluator { scorer, proxy });

    // Everything a run's outcome depends on; a state file written under other settings is refused.
    let config = json!({
        "space": space.name(),
        "strategy": args.strategy,
        "seed": args.seed,
        "dataset": dataset.name(),
        "fitness_epochs": args.fitness_epochs,
        "budget_seconds": args.budget_seconds,
        "population": args.population,
        "sample_size": args.sample_size,
        "free_neighbours": args.free_neighbours,
        "n": n,
        "proxy": proxy.name(),
        "images": scorer.as_ref().map(|s| nas_kernels::cache::images_key(s.images())),
        "init_seed": args.scoring.init_seed,
    });
    let mut state = match &args.state {
        Some(path) => SearchState::open(path, config)?,
        None => SearchState::in_memory(config),
    };
    let resumed = state.runs.len();
    if resumed > 0 {
        eprintln!("note: resuming from {} completed run(s) in the state file", resumed.min(runs));
    }

    let mut progress = Progress::new("searching", runs);
    for _ in 0..resumed.min(runs) {
        progress.inc();
    }
    while state.runs.len() < runs {
        let run = state.runs.len();
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
        rng.set_stream(run as u64);
        let scores = || score_eval.as_ref().context("no scorer");
        let table_fitness = || fitness.as_ref().context("no table");
        let rea = || RegularizedEvolution::new(args.population, args.sample_size);
        let (result, score): (SearchResult, Option<f64>) = match kind {
            Kind::Random => (search(&space, &mut RandomSearch, table_fitness()?, budget, &mut rng, None)?, None),
            Kind::Rea => (search(&space, &mut rea()?, table_fitness()?, budget, &mut rng, None)?, None),
            Kind::NaRandom => {
                let mut na = NeighbourhoodMean::new(&space, table_fitness()?);
                if args.free_neighbours {
                    na = na.with_free_neighbours();
                }
                (search(&space, &mut RandomSearch, &na, budget, &mut rng, None)?, None)
            }
            Kind::Naswot => {
                let r = search(&space, &mut RandomSearch, scores()?, Budget::evaluations(n)?, &mut rng, None)?;
                let best = r.best().map(|b| b.evaluation.fitness);
                (r, best)
            }
            Kind::Area => {
                let scored = search(&space, &mut RandomSearch, scores()?, Budget::evaluations(n)?, &mut rng, None)?;
                let mut ranked: Vec<_> = scored.history.iter().collect();
                // Stable: among equal scores the earlier sample ranks first.
                ranked.sort_by(|a, b| b.evaluation.fitness.total_cmp(&a.evaluation.fitness));
                let start: Vec<Genotype> = ranked.iter().take(args.population).map(|r| r.genotype.clone()).collect();
                let mut area = rea()?.starting_from(start);
                (search(&space, &mut area, table_fitness()?, budget, &mut rng, None)?, None)
            }
        };
        state.runs.push(RunOutcome::of(&space, &result, score)?);
        state.checkpoint(args.checkpoint_seconds)?;
        progress.inc();
    }
    state.save()?;
    state.runs.truncate(runs);

    let found: Vec<Genotype> =
        state.runs.iter().map(|r| space.parse(&r.found)).collect::<nas_core::Result<_>>().context("state file")?;
    let mut out = json!({
        "strategy": args.strategy,
        "space": space.name(),
        "runs": runs,
        "seed": args.seed,
        "dataset": dataset.name(),
        "mean_evaluations": state.runs.iter().map(|r| r.evaluations as f64).sum::<f64>() / runs as f64,
        "archs": state.runs.iter().map(|r| r.found.as_str()).collect::<Vec<_>>(),
    });
    if kind.scores() {
        out["n"] = json!(n);
        out["proxy"] = json!(proxy.name());
        out["images"] = json!(scorer.as_ref().map(|s| s.images().source.clone()));
    }
    if kind != Kind::Naswot {
        out["budget_seconds"] = json!(args.budget_seconds);
    }
    out["results"] = match &table {
        Some(t) => summary(t, &found)?,
        None => Value::Null,
    };
    if runs == 1 {
        out["chosen"] = chosen(&space, &found[0], &state.runs[0].score, table.as_ref())?;
    }
    if let (Some(path), Some(t)) = (&args.plot, &table) {
        let by_evaluations = kind == Kind::Naswot;
        let x_label = if by_evaluations { "networks scored" } else { "simulated seconds" };
        let curves = curves(&space, t, dataset, &state.runs, by_evaluations)?;
        let title = format!("{} on {}, {} runs", args.strategy, space.name(), runs);
        std::fs::write(path, crate::plot::bands_svg(&title, x_label, "best-so-far test accuracy (%)", &curves))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    out["seconds"] = json!(started.elapsed().as_secs_f64());
    if args.json {
        return crate::print_json(&out);
    }
    print_text(&args, kind, &out, n);
    Ok(())
}

/// Mean ± std of the found architectures' 200-epoch accuracies on each dataset.
fn summary(table: &Nb201Table, found: &[Genotype]) -> anyhow::Result<Value> {
    let mut results = Map::new();
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
        results.insert(
            d.name().into(),
            json!({"test_mean": test_mean, "test_std": test_std, "valid_mean": valid_mean, "valid_std": valid_std}),
        );
    }
    Ok(Value::Object(results))
}

/// The one architecture a single run chose: its counts, its score, and its accuracies when the table is there.
fn chosen(space: &Nb201Space, g: &Genotype, score: &Value, table: Option<&Nb201Table>) -> anyhow::Result<Value> {
    let counts = space.to_network(g)?.counts();
    let mut v = json!({
        "arch": space.format(g),
        "params": counts.params,
        "flops": counts.flops,
        "score": score,
    });
    if let Some(t) = table {
        let i = t.index_of(g).context("chosen genotype not in the table")?;
        let mut acc = Map::new();
        for d in REPORTED {
            acc.insert(d.name().into(), json!(t.accuracy(i, d, Split::Test, Epochs::E200)?));
        }
        v["test_accuracy"] = Value::Object(acc);
    }
    Ok(v)
}

/// Best-so-far test accuracy (of the dataset searched on; CIFAR-10's for cifar10-valid) against
/// simulated time, or against evaluations when the runs charge no time: per run, a step function.
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

fn print_text(args: &SearchArgs, kind: Kind, out: &Value, n: usize) {
    let runs = out["runs"].as_u64().unwrap_or(0);
    let images = out["images"].as_str().unwrap_or("");
    let fitness = format!("fitness {}-epoch {} validation", args.fitness_epochs, args.dataset);
    let what = match kind {
        Kind::Naswot => format!("N = {n} networks scored with {} on {images}", args.proxy),
        Kind::Area => {
            format!("{n} scored with {} on {images}, then {} simulated s, {fitness}", args.proxy, args.budget_seconds)
        }
        _ => format!("{} simulated s, {fitness}", args.budget_seconds),
    };
    println!(
        "{} on nb201, {runs} run(s) with seed {}: {what}; {:.1} evaluations per run",
        args.strategy,
        args.seed,
        out["mean_evaluations"].as_f64().unwrap_or_default()
    );
    if let Some(c) = out.get("chosen") {
        let score = match &c["score"] {
            Value::Null => String::new(),
            Value::Number(s) => format!(", {} {:.3}", args.proxy, s.as_f64().unwrap_or(f64::NAN)),
            s => format!(", {} {s}", args.proxy),
        };
        println!(
            "chosen: {}\n  params {:.3} M, FLOPs {:.2} M{score}",
            c["arch"].as_str().unwrap_or(""),
            c["params"].as_f64().unwrap_or(f64::NAN) / 1e6,
            c["flops"].as_f64().unwrap_or(f64::NAN) / 1e6,
        );
        if let Some(acc) = c.get("test_accuracy") {
            let parts: Vec<String> = REPORTED
                .iter()
                .map(|d| format!("{} {:.2}", d.name(), acc[d.name()].as_f64().unwrap_or(f64::NAN)))
                .collect();
            println!("  test accuracy (200 epochs): {}", parts.join(", "));
        }
    }
    if let (Value::Object(results), true) = (&out["results"], runs > 1) {
        println!("{:<16} {:>16} {:>16}", "dataset", "valid (%)", "test (%)");
        for d in REPORTED {
            let r = &results[d.name()];
            let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
            println!(
                "{:<16} {:>16} {:>16}",
                d.name(),
                format!("{:.2} ± {:.2}", f("valid_mean"), f("valid_std")),
                format!("{:.2} ± {:.2}", f("test_mean"), f("test_std"))
            );
        }
    }
    println!("({:.2} s)", out["seconds"].as_f64().unwrap_or_default());
}

/// Mean and population standard deviation (as numpy's default, which the published tables use).
fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}
