//! `nas score` and `nas correlate`: training-free scores of architectures, cached, and how well
//! they rank the benchmark's accuracies.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use nas_core::stats::{kendall_tau, spearman};
use nas_core::{Genotype, SearchSpace, Shape};
use nas_kernels::cache::{ScoreCache, score_json};
use nas_kernels::images::{self, ImageBatch};
use nas_kernels::{ArchScorer, Proxy};
use nas_spaces::{DataDir, Dataset, Epochs, Nb201Config, Nb201Space, Nb201Table, Split};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::arch::resolve;
use crate::plot::{Panel, svg};
use crate::progress::Progress;
use crate::space::space_by_name;

/// Where the scores come from: images, initialisation and cache.
#[derive(Debug, Args)]
pub struct ScoringArgs {
    /// The space: nb201.
    #[arg(long, default_value = "nb201")]
    pub space: String,
    /// CIFAR-10 binary file (cifar-10-batches-bin layout). Without it, a deterministic synthetic batch.
    #[arg(long, value_name = "FILE")]
    pub images: Option<PathBuf>,
    /// Images per score (the first ones of the file).
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Seed of the networks' initial weights (and of the synthetic batch).
    #[arg(long, default_value_t = 0)]
    pub init_seed: u64,
    /// Score cache file (default: $NAS_CACHE_DIR/scores.jsonl, else ~/.cache/nas-rs/scores.jsonl).
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,
    /// Neither read nor write the score cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl ScoringArgs {
    /// The image batch, saying on standard error when it is the synthetic one and a proxy reads it.
    pub fn image_batch(&self, proxies: &[Proxy]) -> anyhow::Result<ImageBatch> {
        match &self.images {
            Some(path) => Ok(images::read_cifar10(path, self.batch)?),
            None => {
                if self.batch == 0 {
                    anyhow::bail!("invalid --batch 0: give at least 1 image");
                }
                if proxies.iter().any(|p| p.uses_images()) {
                    eprintln!(
                        "note: no --images given: scoring on a deterministic synthetic batch of {} images (seed {}); \
                     scores differ from those on real images",
                        self.batch, self.init_seed
                    );
                }
                Ok(images::synthetic(self.batch, 3, 32, 32, 10, self.init_seed))
            }
        }
    }

    /// The scorer of `space` for these proxies: images, initialisation seed and cache. Says where
    /// NASWOT's K step runs when the build could use a GPU.
    pub fn scorer<'a>(
        &self,
        space: &'a Nb201Space,
        thin: &'a Nb201Space,
        proxies: &[Proxy],
    ) -> anyhow::Result<ArchScorer<'a>> {
        let device = nas_kernels::scores::k_step_device();
        if proxies.contains(&Proxy::Naswot) && device != "cpu" {
            eprintln!("note: NASWOT K step on {device}");
        }
        Ok(ArchScorer::new(space, Some(thin), self.image_batch(proxies)?, self.init_seed, self.open_cache()?)?)
    }

    pub fn open_cache(&self) -> anyhow::Result<ScoreCache> {
        if self.no_cache {
            return Ok(ScoreCache::disabled());
        }
        let path = match &self.cache {
            Some(p) => p.clone(),
            None => default_cache_path(),
        };
        let cache = ScoreCache::open(&path)?;
        if cache.skipped_lines > 0 {
            eprintln!(
                "note: {}: skipped {} unreadable line(s) (an interrupted write)",
                path.display(),
                cache.skipped_lines
            );
        }
        Ok(cache)
    }
}

fn default_cache_path() -> PathBuf {
    if let Some(dir) = std::env::var_os("NAS_CACHE_DIR") {
        return Path::new(&dir).join("scores.jsonl");
    }
    match std::env::var_os("HOME") {
        Some(home) => Path::new(&home).join(".cache/nas-rs/scores.jsonl"),
        None => PathBuf::from(".nas-cache/scores.jsonl"),
    }
}

/// The narrow NB201 network whose linear regions are counted: C = 3, N = 1, on 4x4 crops.
pub fn thin_nb201() -> Nb201Space {
    Nb201Space::new(Nb201Config { channels: 3, cells_per_stage: 1, num_classes: 10, input: Shape::new(3, 4, 4) })
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    scoring: ScoringArgs,
    /// Proxies, comma-separated: naswot, synflow, snip, grad_norm, grasp, fisher, jacob_cov, ntk,
    /// linear_regions, params, flops.
    #[arg(long, default_value = "naswot")]
    proxy: String,
    /// An architecture: official string, 6-digit ops code or table index (repeatable).
    #[arg(long)]
    arch: Vec<String>,
    /// Draw this many distinct architectures uniformly (with --seed).
    #[arg(long)]
    sample: Option<usize>,
    /// Seed of --sample.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A file of architectures, one per line (# starts a comment).
    #[arg(long, value_name = "FILE")]
    archs_file: Option<PathBuf>,
    /// Every architecture of the space.
    #[arg(long)]
    all: bool,
    /// Only part i of n of the architectures (positions i, i+n, i+2n, ...), e.g. 0/4.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

/// `n` distinct genotypes drawn uniformly with a seeded generator: the same seed gives the same `n`.
pub fn sample_distinct(space: &dyn SearchSpace, n: usize, seed: u64) -> anyhow::Result<Vec<Genotype>> {
    if n as u128 > space.size() {
        anyhow::bail!("invalid --sample {n}: the space has only {} architectures", space.size());
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let g = space.sample(&mut rng);
        if seen.insert(g.clone()) {
            out.push(g);
        }
    }
    Ok(out)
}

fn parse_shard(s: &str) -> anyhow::Result<(usize, usize)> {
    let parsed = s.split_once('/').and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((i, n)) if n > 0 && i < n => Ok((i, n)),
        _ => anyhow::bail!("invalid --shard {s:?}: expected I/N with 0 <= I < N, e.g. 0/4"),
    }
}

pub fn run_score(args: ScoreArgs, data: &DataDir) -> anyhow::Result<()> {
    let space = space_by_name(&args.scoring.space)?;
    let proxies = Proxy::parse_list(&args.proxy)?;
    let sources = [!args.arch.is_empty(), args.sample.is_some(), args.archs_file.is_some(), args.all];
    if sources.iter().filter(|&&s| s).count() != 1 {
        anyhow::bail!("give exactly one of --arch, --sample N, --archs-file F or --all");
    }
    let mut genotypes = if args.all {
        space.enumerate().collect()
    } else if let Some(n) = args.sample {
        sample_distinct(&space, n, args.seed)?
    } else if let Some(file) = &args.archs_file {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        text.lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(|l| resolve(&space, l, data).with_context(|| format!("in {}", file.display())))
            .collect::<anyhow::Result<Vec<_>>>()?
    } else {
        args.arch.iter().map(|a| resolve(&space, a, data)).collect::<anyhow::Result<Vec<_>>>()?
    };
    if let Some(shard) = &args.shard {
        let (i, n) = parse_shard(shard)?;
        genotypes = genotypes.into_iter().skip(i).step_by(n).collect();
    }
    let thin = thin_nb201();
    let scorer = args.scoring.scorer(&space, &thin, &proxies)?;
    let mut progress = Progress::new("scoring", genotypes.len() * proxies.len());
    if !args.json {
        println!("{:<90} {:<14} {:>14} {:>9}", "arch", "proxy", "score", "seconds");
    }
    for g in &genotypes {
        let arch = space.format(g);
        for &proxy in &proxies {
            let s = scorer.score(g, proxy).with_context(|| format!("scoring {arch} with {proxy}"))?;
            if args.json {
                crate::print_json(&json!({
                    "arch": arch,
                    "proxy": proxy.name(),
                    "score": score_json::to_value(s.score),
                    "seconds": s.seconds,
                    "cached": s.cached,
                    "images": scorer.images().source,
                    "batch": scorer.images().len(),
                    "init_seed": args.scoring.init_seed,
                }))?;
            } else {
                println!("{arch:<90} {:<14} {:>14.6} {:>9.3}", proxy.name(), s.score, s.seconds);
            }
            progress.inc();
        }
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct CorrelateArgs {
    #[command(flatten)]
    scoring: ScoringArgs,
    /// Proxies, comma-separated (see `nas score --help`).
    #[arg(long, default_value = "naswot")]
    proxy: String,
    /// Number of distinct architectures drawn uniformly.
    #[arg(long, default_value_t = 1000)]
    sample: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Dataset of the accuracy: cifar10-valid, cifar10, cifar100, ImageNet16-120.
    #[arg(long, default_value = "cifar10-valid")]
    dataset: String,
    /// Split of the accuracy: valid, test or train (200 epochs).
    #[arg(long, default_value = "valid")]
    metric: String,
    /// Write a scatter plot of score against accuracy (SVG).
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run_correlate(args: CorrelateArgs, data: &DataDir) -> anyhow::Result<()> {
    let space = space_by_name(&args.scoring.space)?;
    let proxies = Proxy::parse_list(&args.proxy)?;
    let dataset: Dataset = args.dataset.parse()?;
    let split: Split = args.metric.parse()?;
    let column = nas_spaces::nb201_table::accuracy_column(dataset, split, Epochs::E200)
        .with_context(|| format!("the benchmark has no {} accuracy for {dataset}", args.metric))?;
    let table = Nb201Table::load(data)?;
    let accuracy = table.column(column)?;
    let genotypes = sample_distinct(&space, args.sample, args.seed)?;
    let thin = thin_nb201();
    let scorer = args.scoring.scorer(&space, &thin, &proxies)?;
    let mut progress = Progress::new("scoring", genotypes.len() * proxies.len());
    let mut rows = Vec::new();
    let mut panels = Vec::new();
    for &proxy in &proxies {
        let (mut xs, mut ys, mut non_finite, mut seconds) = (Vec::new(), Vec::new(), 0usize, 0.0);
        for g in &genotypes {
            let idx = table.index_of(g).with_context(|| format!("{} is not in the table", space.format(g)))?;
            let s = scorer.score(g, proxy)?;
            seconds += s.seconds;
            // -inf (a singular NASWOT K) ranks below every finite score; NaN never gets here.
            non_finite += usize::from(!s.score.is_finite());
            xs.push(s.score);
            ys.push(accuracy[idx]);
            progress.inc();
        }
        let tau = kendall_tau(&xs, &ys);
        let rho = spearman(&xs, &ys);
        rows.push(json!({
            "proxy": proxy.name(), "kendall_tau": tau, "spearman_rho": rho, "archs": xs.len(),
            "non_finite": non_finite, "seconds_computed": seconds,
        }));
        panels.push(Panel {
            title: format!("{proxy}: tau {:.3}, rho {:.3}", tau.unwrap_or(f64::NAN), rho.unwrap_or(f64::NAN)),
            x_label: proxy.name().into(),
            y_label: column.into(),
            points: xs.into_iter().zip(ys).collect(),
        });
    }
    if let Some(path) = &args.plot {
        std::fs::write(path, svg(&panels)).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        return crate::print_json(&json!({
            "space": space.name(), "sample": args.sample, "seed": args.seed, "accuracy": column,
            "images": scorer.images().source, "init_seed": args.scoring.init_seed, "results": rows,
        }));
    }
    println!(
        "{} architectures (seed {}), accuracy {column}, images: {}",
        args.sample,
        args.seed,
        scorer.images().source
    );
    println!("{:<16} {:>12} {:>12} {:>8} {:>10}", "proxy", "kendall_tau", "spearman_rho", "archs", "non_finite");
    for r in &rows {
        println!(
            "{:<16} {:>12.4} {:>12.4} {:>8} {:>10}",
            r["proxy"].as_str().unwrap_or(""),
            r["kendall_tau"].as_f64().unwrap_or(f64::NAN),
            r["spearman_rho"].as_f64().unwrap_or(f64::NAN),
            r["archs"],
            r["non_finite"]
        );
    }
    Ok(())
}
