//! `nas search`: repeated searches on the NAS-Bench-201 table, summarised as mean ± std.

use std::time::Instant;

use clap::Args;
use nas_core::Strategy;
use nas_spaces::{DataDir, Dataset, Epochs, Nb201Table, Split};
use nas_strategies::{Budget, RandomSearch, RegularizedEvolution, search};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, json};

use crate::space::space_by_name;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The space: nb201.
    #[arg(long, default_value = "nb201")]
    space: String,
    /// rea (regularized evolution) or random.
    #[arg(long, default_value = "rea")]
    strategy: String,
    /// Simulated seconds per run: each query charges the benchmark's training time.
    #[arg(long, default_value_t = 12_000.0)]
    budget_seconds: f64,
    /// Independent runs; run i draws from stream i of the seeded generator.
    #[arg(long, default_value_t = 500)]
    runs: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Dataset whose validation accuracy is the fitness: cifar10-valid, cifar100 or ImageNet16-120.
    #[arg(long, default_value = "cifar10-valid")]
    dataset: String,
    /// Schedule of the fitness and of the time charged: 12 (the benchmark paper's choice) or 200.
    #[arg(long, default_value_t = 12)]
    fitness_epochs: u32,
    /// Regularized evolution: population size P.
    #[arg(long, default_value_t = 10)]
    population: usize,
    /// Regularized evolution: tournament sample size S.
    #[arg(long, default_value_t = 3)]
    sample_size: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

const REPORTED: [Dataset; 3] = [Dataset::Cifar10, Dataset::Cifar100, Dataset::ImageNet16];

pub fn run(args: SearchArgs, data: &DataDir) -> anyhow::Result<()> {
    let started = Instant::now();
    let space = space_by_name(&args.space)?;
    let make_strategy = |name: &str| -> anyhow::Result<Box<dyn Strategy>> {
        Ok(match name {
            "rea" => Box::new(RegularizedEvolution::new(args.population, args.sample_size)?),
            "random" => Box::new(RandomSearch),
            other => anyhow::bail!("unknown strategy {other:?}; available: rea, random"),
        })
    };
    make_strategy(&args.strategy)?;
    let budget = Budget::seconds(args.budget_seconds)?;
    if args.runs == 0 {
        anyhow::bail!("invalid --runs 0: give at least 1");
    }
    let dataset: Dataset = args.dataset.parse()?;
    let epochs = match args.fitness_epochs {
        12 => Epochs::E12,
        200 => Epochs::E200,
        other => anyhow::bail!("invalid --fitness-epochs {other}: the benchmark has 12 and 200"),
    };
    let table = Nb201Table::load(data)?;
    let evaluator = table.evaluator(dataset, Split::Valid, epochs)?;

    let mut found = Vec::with_capacity(args.runs);
    let mut evaluations = 0;
    for run in 0..args.runs {
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
        rng.set_stream(run as u64);
        let mut strategy = make_strategy(&args.strategy)?;
        let result = search(&space, strategy.as_mut(), &evaluator, budget, &mut rng, None)?;
        evaluations += result.history.len();
        let best = result.best().ok_or_else(|| anyhow::anyhow!("run {run} evaluated nothing"))?;
        found.push(table.index_of(&best.genotype).ok_or_else(|| anyhow::anyhow!("found genotype not in the table"))?);
    }

    let mut results = Map::new();
    for d in REPORTED {
        let stat = |split| -> anyhow::Result<(f64, f64)> {
            let v: Vec<f64> = found
                .iter()
                .map(|&i| {
                    table
                        .accuracy(i, d, split, Epochs::E200)?
                        .ok_or_else(|| anyhow::anyhow!("row {i} has no {d} accuracy"))
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
    let out = json!({
        "strategy": args.strategy,
        "space": args.space,
        "runs": args.runs,
        "seed": args.seed,
        "dataset": dataset.name(),
        "budget_seconds": args.budget_seconds,
        "mean_evaluations": evaluations as f64 / args.runs as f64,
        "results": results,
        "seconds": started.elapsed().as_secs_f64(),
    });
    if args.json {
        return crate::print_json(&out);
    }
    println!(
        "{} on {}, {} runs, {} simulated s each (fitness: {}-epoch {} validation), seed {}, {:.1} evaluations per run",
        args.strategy,
        args.space,
        args.runs,
        args.budget_seconds,
        args.fitness_epochs,
        dataset,
        args.seed,
        out["mean_evaluations"].as_f64().unwrap_or_default()
    );
    println!("{:<16} {:>16} {:>16}", "dataset", "valid (%)", "test (%)");
    for d in REPORTED {
        let r = &out["results"][d.name()];
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<16} {:>16} {:>16}",
            d.name(),
            format!("{:.2} ± {:.2}", f("valid_mean"), f("valid_std")),
            format!("{:.2} ± {:.2}", f("test_mean"), f("test_std"))
        );
    }
    println!("({:.2} s)", out["seconds"].as_f64().unwrap_or_default());
    Ok(())
}

/// Mean and population standard deviation (as numpy's default, which the published tables use).
fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}
