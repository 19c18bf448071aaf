//! `nas score` and `nas correlate`: training-free scores of architectures, cached, and how well they
//! rank the benchmark's accuracies.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use nas_core::stats::{kendall_tau, spearman};
use nas_core::{Genotype, SearchSpace, Shape};
use nas_kernels::cache::{ScoreCache, score_json};
use nas_kernels::images::{self, ImageBatch, ImageDataset};
use nas_kernels::{ArchScorer, Proxy};
use nas_spaces::{DataDir, Dataset, Epochs, FbnetSpace, Nb201Config, Nb201Space, Nb201Table, SpaceId, Split};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Serialize, Serializer};

use crate::plot::{Panel, svg};
use crate::progress::Progress;
use crate::vocab;

/// The most images one score may use: NASWOT's K alone holds batch² entries, and every layer's
/// activations are kept for the batch.
pub const MAX_BATCH: usize = 4096;

/// A score as JSON: a number when finite, else `"inf"`, `"-inf"` or `"nan"` (the score cache's form).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score(pub f64);

impl Serialize for Score {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        score_json::serialize(&self.0, s)
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_finite() { write!(f, "{:.6}", self.0) } else { write!(f, "{}", self.0) }
    }
}

/// Where the scores come from: images, initialisation and cache.
#[derive(Clone, Debug, Args, Serialize)]
pub struct ScoreSource {
    /// The images. A file or directory: CIFAR-10/100 binary or python, or ImageNet16-120 (detected);
    /// the network and normalisation follow its dataset. Without it, a deterministic synthetic batch.
    #[arg(long, value_name = "FILE")]
    pub images: Option<PathBuf>,
    /// Images per batch. Here: per score, the first ones of the file.
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

impl ScoreSource {
    /// The image batch and the dataset its images come from (CIFAR-10 for the synthetic batch),
    /// saying on standard error when it is the synthetic one and a proxy reads it. With `expected`,
    /// images of another dataset are an error (CIFAR-10 images with `--dataset cifar100`).
    pub fn image_batch(
        &self,
        proxies: &[Proxy],
        expected: Option<ImageDataset>,
    ) -> anyhow::Result<(ImageBatch, ImageDataset)> {
        if self.batch == 0 || self.batch > MAX_BATCH {
            bail!("invalid --batch {}: give 1 to {MAX_BATCH} images per score", self.batch);
        }
        match &self.images {
            Some(path) => {
                let found = nas_spaces::image_files::detect(path)?;
                let (batch, dataset) = if path.is_file() && found.layout.name() == "cifar10-binary" {
                    (images::read_cifar10(path, self.batch)?, ImageDataset::Cifar10)
                } else {
                    let set = crate::data::open_images(path)?;
                    (set.batch(self.batch)?, set.dataset)
                };
                if let Some(e) = expected.filter(|e| *e != dataset) {
                    bail!("--images {} holds {dataset} images, but the dataset is {e}", path.display());
                }
                Ok((batch, dataset))
            }
            None => {
                if proxies.iter().any(|p| p.uses_images()) {
                    eprintln!(
                        "note: no --images given: scoring on a deterministic synthetic batch of {} images (seed {}); \
                         scores differ from those on real images",
                        self.batch, self.init_seed
                    );
                }
                let dataset = expected.unwrap_or(ImageDataset::Cifar10);
                let side = if dataset == ImageDataset::ImageNet16 { 16 } else { 32 };
                Ok((images::synthetic(self.batch, 3, side, side, dataset.classes(), self.init_seed), dataset))
            }
        }
    }

    /// The scorer of `space` on `images` (with NASWOT's linear-region network `thin` where the
    /// space has one). Says where NASWOT's K step runs when the build could use a GPU.
    pub fn scorer<'a>(
        &self,
        space: &'a dyn SearchSpace,
        thin: Option<&'a Nb201Space>,
        proxies: &[Proxy],
        images: ImageBatch,
    ) -> anyhow::Result<ArchScorer<'a>> {
        let thin = thin.map(|t| t as &dyn SearchSpace);
        let device = nas_kernels::scores::k_step_device();
        if proxies.contains(&Proxy::Naswot) && device != "cpu" {
            eprintln!("note: NASWOT K step on {device}");
        }
        Ok(ArchScorer::new(space, thin, images, self.init_seed, self.open_cache()?)?)
    }

    /// The score cache (a disabled one with `--no-cache`).
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

/// The space scored and where the scores come from.
#[derive(Clone, Debug, Args, Serialize)]
pub struct ScoringConfig {
    /// The search space.
    #[arg(long, default_value = "nb201", value_parser = vocab::space())]
    pub space: SpaceId,
    /// Where the images come from.
    #[command(flatten)]
    #[serde(flatten)]
    pub source: ScoreSource,
}

/// The default score cache: `$NAS_CACHE_DIR/scores.jsonl`, else `~/.cache/nas-rs/scores.jsonl`.
pub fn default_cache_path() -> PathBuf {
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

/// `n` distinct genotypes drawn uniformly with a seeded generator: the same seed gives the same `n`.
pub fn sample_distinct(space: &dyn SearchSpace, n: usize, seed: u64) -> anyhow::Result<Vec<Genotype>> {
    if n as u128 > space.size() {
        bail!("invalid --sample {n}: the space has only {} architectures", space.size());
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

/// `nas score`: which architectures, which proxies.
#[derive(Clone, Debug, Args, Serialize)]
pub struct ScoreConfig {
    /// Where the scores come from.
    #[command(flatten)]
    pub scoring: ScoringConfig,
    /// The training-free score. Several, comma-separated, are computed in turn.
    #[arg(long, default_value = "naswot", value_delimiter = ',', value_parser = vocab::proxy())]
    #[serde(serialize_with = "proxy_names")]
    pub proxy: Vec<Proxy>,
    /// The architecture. NB201: official string, 6-digit ops code or table index; FBNet: arch_str or
    /// op_idx_list. Repeatable.
    #[arg(long)]
    pub arch: Vec<String>,
    /// Number of distinct architectures drawn uniformly (with --seed).
    #[arg(long)]
    pub sample: Option<usize>,
    /// Seed of every random choice of the command. Here: the architecture sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// A file of architectures, one per line (# starts a comment).
    #[arg(long, value_name = "FILE")]
    pub archs_file: Option<PathBuf>,
    /// Every architecture of the space.
    #[arg(long)]
    pub all: bool,
    /// Only part i of n of the architectures (positions i, i+n, i+2n, ...), e.g. 0/4.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
}

fn proxy_names<S: Serializer>(p: &[Proxy], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.iter().map(|p| p.name()))
}

/// One computed (or cached) score: one line of `nas score --json`.
#[derive(Clone, Debug, Serialize)]
pub struct ScoreRow {
    /// The architecture, official string.
    pub arch: String,
    /// The training-free score.
    pub proxy: &'static str,
    /// The score.
    pub score: Score,
    /// Wall time (s).
    pub seconds: f64,
    /// Whether the score came from the cache.
    pub cached: bool,
    /// Where the images came from.
    pub images: String,
    /// Images per batch.
    pub batch: usize,
    /// Seed of the initial weights.
    pub init_seed: u64,
}

impl ScoreRow {
    /// The header of the text table.
    pub const HEADER: &'static str = "arch                                                                                       proxy                   score   seconds";
}

impl fmt::Display for ScoreRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<90} {:<14} {:>14} {:>9.3}", self.arch, self.proxy, self.score.to_string(), self.seconds)
    }
}

fn parse_shard(s: &str) -> anyhow::Result<(usize, usize)> {
    let parsed = s.split_once('/').and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)));
    match parsed {
        Some((i, n)) if n > 0 && i < n => Ok((i, n)),
        _ => bail!("invalid --shard {s:?}: expected I/N with 0 <= I < N, e.g. 0/4"),
    }
}

/// The space of a scoring command for images of `dataset` (NB201: the benchmark's network of that
/// dataset), with NASWOT's thin network where the space has one.
pub fn scoring_space(id: SpaceId, dataset: ImageDataset) -> anyhow::Result<(Box<dyn SearchSpace>, Option<Nb201Space>)> {
    Ok(match id {
        SpaceId::Nb201 => (Box::new(nb201_for(dataset)?), Some(thin_nb201())),
        SpaceId::Fbnet => {
            if dataset == ImageDataset::ImageNet16 {
                bail!("--space fbnet takes 32x32 images (CIFAR-10 or CIFAR-100), not ImageNet16-120");
            }
            (Box::new(FbnetSpace::default()), None)
        }
    })
}

/// The NB201 network of the benchmark for images of `dataset`.
pub fn nb201_for(dataset: ImageDataset) -> anyhow::Result<Nb201Space> {
    Ok(Nb201Space::new(Nb201Config::for_dataset(dataset.name())?))
}

/// The images' dataset a benchmark dataset is trained on.
pub fn images_of(dataset: Dataset) -> ImageDataset {
    match dataset {
        Dataset::Cifar10Valid | Dataset::Cifar10 => ImageDataset::Cifar10,
        Dataset::Cifar100 => ImageDataset::Cifar100,
        Dataset::ImageNet16 => ImageDataset::ImageNet16,
    }
}

/// Part `i/n` of `items`: positions i, i+n, i+2n, ... (`--shard`).
pub fn shard_of<T>(items: Vec<T>, shard: &str) -> anyhow::Result<Vec<T>> {
    let (i, n) = parse_shard(shard)?;
    Ok(items.into_iter().skip(i).step_by(n).collect())
}

/// The architectures `config` names, in the order they are scored, before `--shard` takes its part.
pub fn architectures(config: &ScoreConfig, data: &DataDir) -> anyhow::Result<Vec<Genotype>> {
    let id = config.scoring.space;
    let space = id.space();
    if config.proxy.is_empty() {
        bail!("invalid --proxy: name at least one proxy");
    }
    let sources = [!config.arch.is_empty(), config.sample.is_some(), config.archs_file.is_some(), config.all];
    if sources.iter().filter(|&&s| s).count() != 1 {
        bail!("give exactly one of --arch, --sample N, --archs-file F or --all");
    }
    let genotypes = if config.all {
        if space.size() > 1_000_000 {
            bail!("--all: {} has {} architectures; give --sample N instead", id, space.size());
        }
        (0..space.size()).map(|i| space.genotype_at(i)).collect::<nas_core::Result<Vec<_>>>()?
    } else if let Some(n) = config.sample {
        sample_distinct(space.as_ref(), n, config.seed)?
    } else if let Some(file) = &config.archs_file {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        text.lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(|l| id.parse_arch(l, data).with_context(|| format!("in {}", file.display())))
            .collect::<anyhow::Result<Vec<_>>>()?
    } else {
        config.arch.iter().map(|a| id.parse_arch(a, data)).collect::<nas_core::Result<Vec<_>>>()?
    };
    Ok(genotypes)
}

/// Scores the architectures `config` names, handing each row to `emit` as soon as it is known.
pub fn run(
    config: &ScoreConfig,
    data: &DataDir,
    emit: &mut dyn FnMut(&ScoreRow, &mut Progress) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let id = config.scoring.space;
    let mut genotypes = architectures(config, data)?;
    if let Some(shard) = &config.shard {
        genotypes = shard_of(genotypes, shard)?;
    }
    // The architectures are checked first; then the images, and the network of their dataset.
    let (images, dataset) = config.scoring.source.image_batch(&config.proxy, None)?;
    let (space, thin) = scoring_space(id, dataset)?;
    let scorer = config.scoring.source.scorer(space.as_ref(), thin.as_ref(), &config.proxy, images)?;
    let mut progress = Progress::new("scoring", genotypes.len() * config.proxy.len());
    for g in &genotypes {
        let arch = space.format(g);
        for &proxy in &config.proxy {
            let s = scorer.score(g, proxy).with_context(|| format!("scoring {arch} with {proxy}"))?;
            let row = ScoreRow {
                arch: arch.clone(),
                proxy: proxy.name(),
                score: Score(s.score),
                seconds: s.seconds,
                cached: s.cached,
                images: scorer.images().source.clone(),
                batch: scorer.images().len(),
                init_seed: config.scoring.source.init_seed,
            };
            emit(&row, &mut progress)?;
            progress.inc();
        }
    }
    Ok(())
}

/// `nas correlate`: a sample of architectures, their scores and the accuracy they are ranked against.
#[derive(Clone, Debug, Args, Serialize)]
pub struct CorrelateConfig {
    /// Where the scores come from.
    #[command(flatten)]
    pub scoring: ScoringConfig,
    /// The training-free score. Several, comma-separated, are computed in turn.
    #[arg(long, default_value = "naswot", value_delimiter = ',', value_parser = vocab::proxy())]
    #[serde(serialize_with = "proxy_names")]
    pub proxy: Vec<Proxy>,
    /// Number of distinct architectures drawn uniformly (with --seed).
    #[arg(long, default_value_t = 1000)]
    pub sample: usize,
    /// Seed of every random choice of the command. Here: the architecture sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The benchmark dataset. Here: whose accuracy the scores are ranked against.
    #[arg(long, default_value = "cifar10-valid", value_parser = vocab::dataset(), ignore_case = true)]
    pub dataset: Dataset,
    /// The split of the accuracy. Here: of the 200-epoch schedule.
    #[arg(long, default_value = "valid", value_parser = vocab::split())]
    pub metric: Split,
    /// An SVG plot. Here: score against accuracy, one panel per proxy.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// How one proxy ranks the sample.
#[derive(Clone, Debug, Serialize)]
pub struct Correlation {
    /// The training-free score.
    pub proxy: &'static str,
    /// Kendall tau against the accuracy.
    pub kendall_tau: Option<f64>,
    /// Spearman rho against the accuracy.
    pub spearman_rho: Option<f64>,
    /// Architectures in the sample.
    pub archs: usize,
    /// Scores that are not finite.
    pub non_finite: usize,
    /// Seconds spent computing scores (cached ones count 0).
    pub seconds_computed: f64,
}

/// The report of `nas correlate`.
#[derive(Clone, Debug, Serialize)]
pub struct CorrelateReport {
    /// The search space.
    pub space: SpaceId,
    /// Architectures drawn.
    pub sample: usize,
    /// The seed of the command's random choices.
    pub seed: u64,
    /// The table column the scores are ranked against.
    pub accuracy: &'static str,
    /// Where the images came from.
    pub images: String,
    /// Seed of the initial weights.
    pub init_seed: u64,
    /// One entry per proxy.
    pub results: Vec<Correlation>,
}

/// Scores a seeded sample with every proxy and rank-correlates the scores with the accuracy.
pub fn correlate(config: &CorrelateConfig, data: &DataDir) -> anyhow::Result<CorrelateReport> {
    config.scoring.space.require("nas correlate", &[SpaceId::Nb201])?;
    let (images, dataset) = config.scoring.source.image_batch(&config.proxy, Some(images_of(config.dataset)))?;
    let space = nb201_for(dataset)?;
    let column = nas_spaces::nb201_table::accuracy_column(config.dataset, config.metric, Epochs::E200)
        .with_context(|| format!("the benchmark has no {:?} accuracy for {}", config.metric, config.dataset))?;
    let table = Nb201Table::load(data)?;
    let accuracy = table.column(column)?;
    let genotypes = sample_distinct(&space, config.sample, config.seed)?;
    let thin = thin_nb201();
    let scorer = config.scoring.source.scorer(&space, Some(&thin), &config.proxy, images)?;
    let mut progress = Progress::new("scoring", genotypes.len() * config.proxy.len());
    let mut results = Vec::new();
    let mut panels = Vec::new();
    for &proxy in &config.proxy {
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
        results.push(Correlation {
            proxy: proxy.name(),
            kendall_tau: tau,
            spearman_rho: rho,
            archs: xs.len(),
            non_finite,
            seconds_computed: seconds,
        });
        panels.push(Panel {
            title: format!(
                "{proxy} on {}: tau {:.3}, rho {:.3}",
                config.dataset,
                tau.unwrap_or(f64::NAN),
                rho.unwrap_or(f64::NAN)
            ),
            subtitle: format!("n = {}, {} non-finite scores not drawn", xs.len(), non_finite),
            x_label: format!("{} score", proxy.name()),
            y_label: format!("{column} (%)"),
            points: xs.into_iter().zip(ys).collect(),
            diagonal: false,
        });
    }
    if let Some(path) = &config.plot {
        std::fs::write(path, svg(&panels)).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(CorrelateReport {
        space: SpaceId::Nb201,
        sample: config.sample,
        seed: config.seed,
        accuracy: column,
        images: scorer.images().source.clone(),
        init_seed: config.scoring.source.init_seed,
        results,
    })
}

impl fmt::Display for CorrelateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} architectures (seed {}), accuracy {}, images: {}",
            self.sample, self.seed, self.accuracy, self.images
        )?;
        writeln!(
            f,
            "{:<16} {:>12} {:>12} {:>8} {:>10}",
            "proxy", "kendall_tau", "spearman_rho", "archs", "non_finite"
        )?;
        for r in &self.results {
            writeln!(
                f,
                "{:<16} {:>12.4} {:>12.4} {:>8} {:>10}",
                r.proxy,
                r.kendall_tau.unwrap_or(f64::NAN),
                r.spearman_rho.unwrap_or(f64::NAN),
                r.archs,
                r.non_finite
            )?;
        }
        Ok(())
    }
}
