//! `nas ensemble`: an ensemble of sub-architectures trained on real images, pruned for diversity
//! with SAEP's criteria (`nas_strategies::ensemble`: PRS, PAP, PIE), its test accuracy and
//! diversity at every size.
//!
//! Members are trained standalone with `nas train`'s recipe (one run per member and seed), or are
//! sub-architectures of one SPOS supernet per seed with inherited weights (`--members supernet`:
//! SAEP's setting; `nas oneshot --method spos`, batch-norm statistics recomputed per member); every
//! run is kept in the state directory. The test images are split by position: the first half is
//! the pruning set the criteria judge on, the second half measures the pruned ensembles.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use nas_core::SearchSpace;
use nas_core::stats::mean_std;
use nas_kernels::train::{self, ImageSet};
use nas_spaces::{DataDir, SpaceId};
use nas_strategies::ensemble::{Criterion, Members, removal_order};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::{plot, vocab};

/// Where the members' weights come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MemberSource {
    /// Each member trained on its own with `nas train`'s recipe.
    Standalone,
    /// Sub-architectures of one SPOS supernet per seed, with inherited weights.
    Supernet,
}

/// `nas ensemble`: the members, how they are trained, how the ensemble is pruned.
#[derive(Clone, Debug, Args, Serialize)]
pub struct EnsembleConfig {
    /// The search space.
    #[arg(long, default_value = "nb201", value_parser = vocab::space())]
    pub space: SpaceId,
    /// The members, comma-separated (NB201: official strings, ops codes or table indices).
    /// Default: --sample distinct architectures drawn from --seed.
    #[arg(long, value_delimiter = ',')]
    pub archs: Vec<String>,
    /// Members drawn at random (distinct, from --seed) when --archs is not given.
    #[arg(long, default_value_t = 8)]
    pub sample: usize,
    /// The images. Here: the training set, a CIFAR-10 binary file.
    #[arg(long, value_name = "FILE")]
    pub images: PathBuf,
    /// Test images (CIFAR-10 binary layout), evaluated in eval mode after training. Here: the first
    /// half prunes, the second half measures.
    #[arg(long, value_name = "FILE")]
    pub test_images: PathBuf,
    /// Where the members' weights come from: standalone training or one supernet per seed.
    #[arg(long, value_enum, default_value = "standalone")]
    pub members: MemberSource,
    /// Epochs to train. Here: of each member, or of each supernet (--members supernet).
    #[arg(long, default_value_t = 5)]
    pub epochs: usize,
    /// --members supernet: weight-half batches that recompute each member's batch-norm statistics.
    #[arg(long, default_value_t = 4)]
    pub bn_batches: usize,
    /// Channels of the first stage.
    #[arg(long = "C", default_value_t = 8)]
    pub channels: usize,
    /// Cells per stage.
    #[arg(long = "N", default_value_t = 1)]
    pub cells: usize,
    /// Images per batch. Here: per training step (the last partial batch of an epoch is kept).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Repetitions: members trained with seed, seed + 1, ...; PRS's order drawn from the same seed.
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// Seed of every random choice of the command. Here: the sampled members and the first seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// PIE: the weight of relevance against diversity (0 to 1).
    #[arg(long, default_value_t = 0.5)]
    pub alpha: f64,
    /// Directory of the runs' checkpoints and results: an interrupted study resumes from it.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// An SVG plot. Here: test accuracy and diversity against the number of members, per criterion.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// One member: its architecture and its own accuracy.
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    /// The architecture, official string.
    pub arch: String,
    /// Trainable parameters.
    pub params: u64,
    /// Its accuracy on the measuring half, mean ± std over seeds (%).
    pub accuracy: (f64, f64),
}

/// One size of a pruned ensemble, over the seeds.
#[derive(Clone, Debug, Serialize)]
pub struct SizePoint {
    /// Members kept.
    pub members: usize,
    /// Test accuracy on the measuring half, mean ± std over seeds (%).
    pub accuracy: (f64, f64),
    /// Mean pairwise disagreement (share of images two members classify differently).
    pub disagreement: f64,
    /// Mean pairwise normalised variation of information.
    pub diversity: f64,
}

/// One criterion's ensembles at every size, largest first.
#[derive(Clone, Debug, Serialize)]
pub struct Pruning {
    /// PRS, PAP or PIE.
    pub criterion: &'static str,
    /// From all members down to one.
    pub sizes: Vec<SizePoint>,
}

/// The report of `nas ensemble`.
#[derive(Clone, Debug, Serialize)]
pub struct EnsembleReport {
    /// The members.
    pub members: Vec<Member>,
    /// Where the members' weights come from.
    pub source: MemberSource,
    /// Seeds per member.
    pub seeds: usize,
    /// Epochs per member.
    pub epochs: usize,
    /// Images of the pruning half and of the measuring half.
    pub images: (usize, usize),
    /// Each criterion's ensembles.
    pub pruning: Vec<Pruning>,
    /// Wall time (s).
    pub seconds: f64,
}

/// A member's run, as kept in the state directory: its class probabilities on the test images.
#[derive(Serialize, Deserialize)]
struct MemberRun {
    probs: Vec<f32>,
}

/// Trains the members with every seed (or reads them from the state directory), prunes with each
/// criterion, and measures every size.
pub fn run(config: &EnsembleConfig, data: &DataDir) -> anyhow::Result<EnsembleReport> {
    config.space.require("ensemble", &[SpaceId::Nb201])?;
    let started = std::time::Instant::now();
    if config.seeds == 0 {
        bail!("invalid --seeds 0: at least one");
    }
    if !(0.0..=1.0).contains(&config.alpha) {
        bail!("invalid --alpha {}: a weight from 0 to 1", config.alpha);
    }
    let space = nas_spaces::Nb201Space::new(nas_spaces::Nb201Config {
        channels: config.channels,
        cells_per_stage: config.cells,
        ..nas_spaces::Nb201Config::for_dataset("cifar10")?
    });
    let genotypes = if config.archs.is_empty() {
        crate::score::sample_distinct(&space, config.sample, config.seed)?
    } else {
        config.archs.iter().map(|a| SpaceId::Nb201.parse_arch(a, data)).collect::<nas_core::Result<_>>()?
    };
    if genotypes.len() < 2 {
        bail!("an ensemble needs at least 2 members, not {}", genotypes.len());
    }
    let test = ImageSet::read_cifar10(&config.test_images, 10)?;
    if test.len() < 4 {
        bail!("--test-images {} holds {} images: at least 4 (two halves)", config.test_images.display(), test.len());
    }
    let half = test.len() / 2;
    let labels: Vec<u32> = test.labels.clone();
    let (mut per_seed, mut member_acc) = (Vec::new(), vec![Vec::new(); genotypes.len()]);
    for s in 0..config.seeds as u64 {
        let seed = config.seed + s;
        let codes: Vec<String> = genotypes.iter().map(nas_spaces::Nb201Space::ops_code).collect();
        let probs = match config.members {
            MemberSource::Standalone => {
                codes.iter().map(|ops| member_probs(config, ops, seed, &test, data)).collect::<anyhow::Result<_>>()?
            }
            MemberSource::Supernet => supernet_probs(config, &genotypes, &codes, seed, &test, data)?,
        };
        let all = Members::new(probs, labels.clone(), 10)?;
        let (pruning, measuring) = (all.images(0..half), all.images(half..test.len()));
        for (m, acc) in member_acc.iter_mut().enumerate() {
            acc.push(measuring.accuracy(&[m]));
        }
        per_seed.push((pruning, measuring, seed));
    }
    let criteria = [Criterion::Prs, Criterion::Pap, Criterion::Pie { alpha: config.alpha }];
    let n = genotypes.len();
    let pruning = criteria
        .iter()
        .map(|&criterion| {
            // Per seed, the kept members at every size.
            let mut points: BTreeMap<usize, Vec<(f64, f64, f64)>> = BTreeMap::new();
            for (pruning, measuring, seed) in &per_seed {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(*seed);
                let order = removal_order(pruning, criterion, &mut rng);
                for k in (1..=n).rev() {
                    let kept = &order[n - k..];
                    points.entry(k).or_default().push((
                        measuring.accuracy(kept),
                        measuring.disagreement(kept),
                        measuring.diversity(kept),
                    ));
                }
            }
            let sizes = points
                .into_iter()
                .rev()
                .map(|(members, v)| SizePoint {
                    members,
                    accuracy: mean_std(&v.iter().map(|p| p.0).collect::<Vec<_>>()),
                    disagreement: mean_std(&v.iter().map(|p| p.1).collect::<Vec<_>>()).0,
                    diversity: mean_std(&v.iter().map(|p| p.2).collect::<Vec<_>>()).0,
                })
                .collect();
            Pruning { criterion: criterion.name(), sizes }
        })
        .collect();
    let members = genotypes
        .iter()
        .zip(&member_acc)
        .map(|(g, acc)| {
            Ok(Member { arch: space.format(g), params: space.to_network(g)?.counts().params, accuracy: mean_std(acc) })
        })
        .collect::<anyhow::Result<_>>()?;
    let report = EnsembleReport {
        members,
        source: config.members,
        seeds: config.seeds,
        epochs: config.epochs,
        images: (half, test.len() - half),
        pruning,
        seconds: started.elapsed().as_secs_f64(),
    };
    if let Some(path) = &config.plot {
        nas_core::fsio::write_atomic(path, ensemble_svg(&report).as_bytes())
            .with_context(|| format!("cannot write the plot {}", path.display()))?;
    }
    Ok(report)
}

/// Softmax probabilities of one member trained with `seed`, on the test images (from the state
/// directory when it was trained before).
fn member_probs(
    config: &EnsembleConfig,
    ops: &str,
    seed: u64,
    test: &ImageSet,
    data: &DataDir,
) -> anyhow::Result<Vec<f32>> {
    let cell = crate::train::CellTraining {
        ops,
        images: &config.images,
        test_images: None,
        epochs: config.epochs,
        channels: config.channels,
        cells: config.cells,
        batch: config.batch,
        seed,
        threads: config.threads,
    };
    let run = cell.cached(config.state_dir.as_deref(), "probs.json", 256 << 20, data, |_, mut net| {
        Ok(MemberRun { probs: softmax_rows(&train::logits(&mut net, test)?, test.classes) })
    })?;
    if run.probs.len() != test.len() * test.classes {
        let path = config
            .state_dir
            .as_deref()
            .unwrap_or(std::path::Path::new("."))
            .join(format!("{}.probs.json", cell.name()));
        bail!("the member result {} is of other test images; delete it", path.display());
    }
    Ok(run.probs)
}

/// The members' probabilities with inherited weights from one SPOS supernet trained with `seed`
/// (from the state directory when it was trained before; the supernet's checkpoint resumes it).
fn supernet_probs(
    config: &EnsembleConfig,
    genotypes: &[nas_core::Genotype],
    codes: &[String],
    seed: u64,
    test: &ImageSet,
    data: &DataDir,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let members = nas_core::hash::fnv1a64(codes.join(",").as_bytes());
    let name = format!(
        "spos-C{}-N{}-e{}-b{}-bn{}-seed{seed}-members{members:016x}",
        config.channels, config.cells, config.epochs, config.batch, config.bn_batches
    );
    #[derive(Serialize, Deserialize)]
    struct SupernetMembers {
        probs: Vec<Vec<f32>>,
    }
    let run = crate::train::cached_run(config.state_dir.as_deref(), &name, "probs.json", 1 << 30, |checkpoint| {
        let mut args = crate::oneshot::OneShotArgs::recipe("spos", &config.images)?;
        args.epochs = config.epochs;
        args.channels = config.channels;
        args.cells = config.cells;
        args.batch = config.batch;
        args.seed = seed;
        args.rank = 1;
        args.bn_batches = config.bn_batches;
        args.threads = config.threads;
        args.checkpoint = checkpoint;
        let (_, mut net) = crate::oneshot::run_with_supernet(&args, data)?;
        let probs = genotypes
            .iter()
            .map(|g| Ok(softmax_rows(&net.path_logits(&g.0, config.bn_batches, test)?, test.classes)))
            .collect::<anyhow::Result<_>>()?;
        Ok(SupernetMembers { probs })
    })?;
    if run.probs.len() != genotypes.len() || run.probs.iter().any(|p| p.len() != test.len() * test.classes) {
        bail!("the supernet members' result {name}.probs.json is of other members or test images; delete it");
    }
    Ok(run.probs)
}

/// Softmax of every row of `classes` logits.
fn softmax_rows(logits: &[f32], classes: usize) -> Vec<f32> {
    logits
        .chunks(classes)
        .flat_map(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f64> = row.iter().map(|&v| f64::from(v - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            e.into_iter().map(move |v| (v / sum) as f32)
        })
        .collect()
}

fn ensemble_svg(r: &EnsembleReport) -> String {
    let series = |f: fn(&SizePoint) -> f64| {
        r.pruning
            .iter()
            .map(|p| (p.criterion.to_string(), p.sizes.iter().map(|s| (s.members as f64, f(s))).collect()))
            .collect()
    };
    let subtitle = match r.source {
        MemberSource::Standalone => {
            format!("{} members x {} seeds, {} epochs each", r.members.len(), r.seeds, r.epochs)
        }
        MemberSource::Supernet => {
            format!("{} inherited-weight members, {} SPOS supernets of {} epochs", r.members.len(), r.seeds, r.epochs)
        }
    };
    plot::lines_svg(&[
        plot::Lines {
            title: "pruned ensemble: test accuracy".into(),
            subtitle: subtitle.clone(),
            x_label: "members kept".into(),
            y_label: "accuracy on the measuring half (%)".into(),
            series: series(|s| s.accuracy.0),
        },
        plot::Lines {
            title: "pruned ensemble: diversity".into(),
            subtitle,
            x_label: "members kept".into(),
            y_label: "mean pairwise disagreement".into(),
            series: series(|s| s.disagreement),
        },
    ])
}

impl fmt::Display for EnsembleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let trained = match self.source {
            MemberSource::Standalone => format!("{} epochs each", self.epochs),
            MemberSource::Supernet => format!("inherited weights of one {}-epoch SPOS supernet per seed", self.epochs),
        };
        writeln!(
            f,
            "{} members, {} seeds, {trained}; pruning on {} test images, measured on {}",
            self.members.len(),
            self.seeds,
            self.images.0,
            self.images.1
        )?;
        for m in &self.members {
            writeln!(f, "  {:>6.2} ± {:<5.2} {:>8} params  {}", m.accuracy.0, m.accuracy.1, m.params, m.arch)?;
        }
        writeln!(
            f,
            "\n{:>8} {:>16} {:>16} {:>16}   (accuracy %, mean ± std over seeds; disagreement)",
            "members", "PRS", "PAP", "PIE"
        )?;
        let n = self.pruning.first().map_or(0, |p| p.sizes.len());
        for i in 0..n {
            let k = self.pruning[0].sizes[i].members;
            let cells: Vec<String> = self
                .pruning
                .iter()
                .map(|p| {
                    let s = &p.sizes[i];
                    format!("{:.2}±{:.2} {:.2}", s.accuracy.0, s.accuracy.1, s.disagreement)
                })
                .collect();
            writeln!(f, "{k:>8} {:>16} {:>16} {:>16}", cells[0], cells[1], cells[2])?;
        }
        writeln!(f, "({:.1} s)", self.seconds)
    }
}
