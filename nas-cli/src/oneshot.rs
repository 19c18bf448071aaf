//! `nas oneshot`: weight-sharing one-shot search on the NB201 supernet, trained on real images with
//! the fast CPU engine (`nas_kernels::CpuSupernet`) by one of the methods of
//! `nas_strategies::oneshot`, with checkpoints that resume bit-identically and the benchmark's
//! accuracies of the derived architecture.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use nas_core::stats::mean_std;
use nas_core::{Genotype, SearchSpace, Supernet};
use nas_kernels::train::{Checkpoint, ImageSet, checkpoint};
use nas_kernels::{CpuSupernet, MixedNode, SupernetConfig};
use nas_spaces::nb201::{self, Nb201Config, Nb201Space};
use nas_spaces::{DataDir, Dataset, Epochs, Nb201Table, SpaceId, Split};
use nas_strategies::oneshot::{self, EpochRecord, Method, OneShotConfig, OneShotObserver, SearchState};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::vocab;

/// The one-shot method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MethodArg {
    /// DARTS, first order (DARTS-V1).
    Darts,
    /// DARTS, second order (DARTS-V2: finite-difference Hessian-vector product).
    Darts2,
    /// MiLeNAS: validation plus lambda times training alpha gradient.
    Milenas,
    /// GDAS: Gumbel hard sampling, straight-through, tau 10 -> 0.1.
    Gdas,
    /// RSPS: uniform single paths, then the best of --rank sampled architectures.
    Rsps,
    /// SPOS: the same procedure as rsps.
    Spos,
    /// Neighbourhood-aware DARTS: alpha loss averaged over one-edit neighbours.
    NaDarts,
}

impl MethodArg {
    fn method(self) -> Method {
        match self {
            MethodArg::Darts => Method::Darts,
            MethodArg::Darts2 => Method::Darts2,
            MethodArg::Milenas => Method::Milenas,
            MethodArg::Gdas => Method::Gdas,
            MethodArg::Rsps => Method::Rsps,
            MethodArg::Spos => Method::Spos,
            MethodArg::NaDarts => Method::NaDarts,
        }
    }
}

/// `nas oneshot`: the supernet, the images, the method and its recipe.
#[derive(Clone, Debug, Args, Serialize)]
pub struct OneShotArgs {
    /// The search space.
    #[arg(long, default_value = "nb201", value_parser = vocab::space())]
    pub space: SpaceId,
    /// The one-shot method.
    #[arg(long, value_enum, default_value = "darts")]
    pub method: MethodArg,
    /// The images. Here: the training set, a CIFAR-10 binary file; the first half trains the
    /// weights, the second half drives the architecture.
    #[arg(long, value_name = "FILE")]
    pub images: PathBuf,
    /// Epochs to train. Here: passes of the supernet over the weight half.
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    /// Channels of the first stage.
    #[arg(long = "C", default_value_t = 16)]
    pub channels: usize,
    /// Cells per stage.
    #[arg(long = "N", default_value_t = 5)]
    pub cells: usize,
    /// Seed of every random choice of the command. Here: the initial weights and alpha, the data
    /// order and augmentation, the sampled paths and the ranked architectures.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per batch. Here: per weight step and per architecture step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Weight decay on every parameter (decoupled for AdamW). Here: of the supernet's weights, SGD
    /// (3e-4 as DARTS; 5e-4 as the benchmark).
    #[arg(long, default_value_t = 3e-4)]
    pub weight_decay: f64,
    /// Clip the gradients' global norm to this (0: no clipping).
    #[arg(long, default_value_t = 5.0)]
    pub clip: f64,
    /// MiLeNAS: the weight of the training-loss gradient of alpha.
    #[arg(long, default_value_t = 1.0)]
    pub lambda: f64,
    /// GDAS: the temperature of the first epoch.
    #[arg(long, default_value_t = 10.0)]
    pub tau_max: f64,
    /// GDAS: the temperature of the last epoch.
    #[arg(long, default_value_t = 0.1)]
    pub tau_min: f64,
    /// SPOS / RSPS: architectures sampled after training and ranked by inherited-weight accuracy.
    #[arg(long, default_value_t = 20)]
    pub rank: usize,
    /// SPOS / RSPS: also rank the same architectures after each of the last this many epochs
    /// (the ranking study: Kendall tau per epoch and between epochs, distinct winners).
    #[arg(long, default_value_t = 0)]
    pub rank_epochs: usize,
    /// SPOS / RSPS: weight-half batches that recompute the batch-norm statistics of each ranked
    /// architecture.
    #[arg(long, default_value_t = 4)]
    pub bn_batches: usize,
    /// SPOS / RSPS: score each ranked architecture on the first this many images of the
    /// architecture half (default: all of it).
    #[arg(long, value_name = "N")]
    pub rank_images: Option<usize>,
    /// SPOS / RSPS: seed of the ranked architectures (default: --seed), so that supernets of
    /// different seeds rank the same ones.
    #[arg(long, value_name = "S")]
    pub rank_seed: Option<u64>,
    /// SPOS / RSPS: weight sharing. all: one supernet; few-shot:E: one sub-supernet per op of
    /// edge E (0-5, the official order 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2); groups:G: G weight sets
    /// over a seeded random partition of the architectures. Each sampled path trains, and each
    /// ranked architecture is scored with, its own group's weights.
    #[arg(long, default_value = "all", value_name = "all|few-shot:E|groups:G")]
    pub sharing: oneshot::Sharing,
    /// SPOS / RSPS with --sharing other than all: epochs trained with one shared set before it is
    /// copied into the groups' sets (0: the groups start from the initial weights).
    #[arg(long, default_value_t = 0)]
    pub split_epoch: usize,
    /// NA-DARTS: one-edit neighbours evaluated per architecture step.
    #[arg(long, default_value_t = 2)]
    pub neighbours: usize,
    /// NA-DARTS: the shift of alpha toward a neighbour (logits).
    #[arg(long, default_value_t = 1.0)]
    pub delta: f64,
    /// No random crop and flip.
    #[arg(long)]
    pub no_augment: bool,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Independent runs; run i draws from stream i of the seeded generator (its seed is that
    /// stream's first number).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// Checkpoint file: resumed from when it exists, written at the end of every epoch. Here: with
    /// one run only.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// An SVG plot. Here: softmax(alpha) of every edge against the epoch, one panel per op.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

impl OneShotArgs {
    /// `nas oneshot --method METHOD --images IMAGES` with every other option at its default, for
    /// the experiments that train supernets as `nas oneshot` does.
    pub fn recipe(method: &str, images: &std::path::Path) -> anyhow::Result<OneShotArgs> {
        vocab::parse(&["--method", method, "--images", &images.to_string_lossy()])
    }
}

/// One epoch of a run, as reported.
#[derive(Clone, Debug, Serialize)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    /// The derived architecture (argmax over all ops), official string; SPOS / RSPS: only the last
    /// epoch has one (the ranked answer).
    pub arch: Option<String>,
    /// The argmax over the ops but `none`.
    pub arch_non_none: Option<String>,
    /// Wall time of the epoch.
    pub seconds: f64,
    /// softmax(alpha), 6 x 5: edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2; ops none, skip_connect,
    /// nor_conv_1x1, nor_conv_3x3, avg_pool_3x3.
    pub alphas: Vec<Vec<f64>>,
    /// Mean loss of the weight steps.
    pub train_loss: f64,
    /// Percent of weight-step images classified right.
    pub train_accuracy: f64,
    /// Mean loss of the architecture steps.
    pub arch_loss: Option<f64>,
    /// Percent of architecture-step images classified right.
    pub arch_accuracy: Option<f64>,
    /// GDAS' temperature.
    pub tau: Option<f64>,
    /// The weight learning rate of the epoch's last step.
    pub lr: f64,
    /// SPOS / RSPS with --rank-epochs: the inherited accuracy of each ranked architecture (in the
    /// order of `ranking`) after this epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking: Option<Vec<f64>>,
}

/// One ranked architecture (SPOS / RSPS).
#[derive(Clone, Debug, Serialize)]
pub struct RankedReport {
    /// Official string.
    pub arch: String,
    /// Inherited-weight accuracy on the architecture half (percent).
    pub inherited_accuracy: f64,
    /// The benchmark's 200-epoch CIFAR-10 test accuracy, when the table is there.
    pub cifar10_test: Option<f64>,
}

/// How a supernet's ranking of the same architectures moves over its last epochs, against their
/// true accuracy (`nas oneshot`: the table's 200-epoch CIFAR-10 test accuracy): Zhang et al.
/// 2020's measurements.
#[derive(Clone, Debug, Serialize)]
pub struct RankingStudy {
    /// The epochs ranked.
    pub epochs: Vec<usize>,
    /// Architectures compared (those with a true accuracy).
    pub architectures: usize,
    /// Kendall tau against the table, per ranked epoch.
    pub tau: Vec<Option<f64>>,
    /// Mean and std of those taus.
    pub tau_mean: (f64, f64),
    /// Their smallest and largest.
    pub tau_range: (f64, f64),
    /// Mean Spearman rho against the table.
    pub spearman_mean: f64,
    /// Mean Kendall tau between the rankings of consecutive ranked epochs.
    pub tau_consecutive: Option<f64>,
    /// Kendall tau against the table of the inherited accuracy averaged over the ranked epochs.
    pub tau_of_mean: Option<f64>,
    /// Distinct top-1 architectures over the ranked epochs.
    pub distinct_top1: usize,
    /// The table rank (1 = best of the ranked ones) of each epoch's top-1.
    pub top1_true_rank: Vec<usize>,
}

/// The ranking study of one run: `ranked` holds, per ranked epoch, the inherited accuracy of
/// every ranked architecture; `truth` their true accuracy where known (the others are left out).
/// `None` when fewer than two have a truth.
pub fn ranking_study(ranked: &[(usize, &[f64])], truth: &[Option<f64>]) -> Option<RankingStudy> {
    use nas_core::stats::{kendall_tau, mean_std, spearman};
    let known: Vec<usize> = (0..truth.len()).filter(|&i| truth[i].is_some()).collect();
    let truth: Vec<f64> = known.iter().filter_map(|&i| truth[i]).collect();
    if ranked.is_empty() || truth.len() < 2 {
        return None;
    }
    let ranked: Vec<(usize, Vec<f64>)> =
        ranked.iter().map(|(e, v)| (*e, known.iter().map(|&i| v[i]).collect())).collect();
    let tau: Vec<Option<f64>> = ranked.iter().map(|(_, v)| kendall_tau(v, &truth)).collect();
    let finite: Vec<f64> = tau.iter().flatten().copied().collect();
    let rho: Vec<f64> = ranked.iter().filter_map(|(_, v)| spearman(v, &truth)).collect();
    let consecutive: Vec<f64> = ranked.windows(2).filter_map(|w| kendall_tau(&w[0].1, &w[1].1)).collect();
    let mean: Vec<f64> =
        (0..truth.len()).map(|i| ranked.iter().map(|(_, v)| v[i]).sum::<f64>() / ranked.len() as f64).collect();
    let argmax = |v: &[f64]| (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b });
    let top1: Vec<usize> = ranked.iter().map(|(_, v)| argmax(v)).collect();
    let true_rank = |i: usize| 1 + truth.iter().filter(|&&t| t > truth[i]).count();
    Some(RankingStudy {
        epochs: ranked.iter().map(|(e, _)| *e).collect(),
        architectures: truth.len(),
        tau_mean: mean_std(&finite),
        tau_range: finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &t| (a.min(t), b.max(t))),
        tau,
        spearman_mean: mean_std(&rho).0,
        tau_consecutive: (!consecutive.is_empty()).then(|| mean_std(&consecutive).0),
        tau_of_mean: kendall_tau(&mean, &truth),
        distinct_top1: top1.iter().collect::<std::collections::BTreeSet<_>>().len(),
        top1_true_rank: top1.iter().map(|&i| true_rank(i)).collect(),
    })
}

/// The rankings a run recorded: per epoch with one, its epoch and the inherited accuracies.
pub fn recorded_rankings(history: &[EpochRecord]) -> Vec<(usize, &[f64])> {
    history.iter().filter_map(|r| r.ranking.as_deref().map(|v| (r.epoch, v))).collect()
}

/// One run of `nas oneshot`.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The seed of this run's random choices.
    pub seed: u64,
    /// The derived architecture, official string.
    pub arch: String,
    /// The argmax over the ops but `none` (methods with alpha).
    pub arch_non_none: Option<String>,
    /// Edges of the answer that are skip_connect.
    pub skip_edges: usize,
    /// The answer's 200-epoch test accuracy per dataset (the table's), when the table is there.
    pub accuracies: Option<BTreeMap<&'static str, Option<f64>>>,
    /// The same for the non-`none` argmax.
    pub accuracies_non_none: Option<BTreeMap<&'static str, Option<f64>>>,
    /// Every epoch.
    pub epochs: Vec<EpochReport>,
    /// SPOS / RSPS: the ranked architectures in the order drawn.
    pub ranking: Vec<RankedReport>,
    /// SPOS / RSPS with --rank-epochs and the table: how the ranking moves over the last epochs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ranking_study: Option<RankingStudy>,
    /// Wall time of the whole search (this call: training done here, ranking).
    pub seconds: f64,
    /// Mean seconds per supernet epoch (of the epochs run in this call).
    pub seconds_per_epoch: f64,
    /// The epoch the run continued from, when it resumed from a checkpoint.
    pub resumed_from_epoch: Option<usize>,
}

/// The report of `nas oneshot`: the first run's fields, and every run with their mean ± std when
/// there are several.
#[derive(Clone, Debug, Serialize)]
pub struct OneShotReport {
    /// The search space.
    pub space: SpaceId,
    /// The method.
    pub method: MethodArg,
    /// Channels of the first stage (C).
    #[serde(rename = "C")]
    pub channels: usize,
    /// Cells per stage (N).
    #[serde(rename = "N")]
    pub cells: usize,
    /// Images per batch.
    pub batch: usize,
    /// Images of the weight half and of the architecture half.
    pub images: (usize, usize),
    /// Weight steps per epoch.
    pub steps_per_epoch: usize,
    /// Worker threads.
    pub threads: usize,
    /// The first run.
    #[serde(flatten)]
    pub first: RunReport,
    /// Every run (when there are several).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunReport>,
    /// Mean and std over the runs of the answer's test accuracy per dataset (several runs, table there).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_accuracies: Option<BTreeMap<&'static str, (f64, f64)>>,
}

/// What a checkpoint must match to be continued: the network, the recipe and the images.
#[derive(Clone, Debug, Serialize)]
struct RunKey {
    command: &'static str,
    network: String,
    recipe: OneShotConfig,
    batch: usize,
    augment: Option<usize>,
    weight_decay: f64,
    clip: Option<f64>,
    images: usize,
    images_hash: String,
}

const REPORTED: [Dataset; 3] = [Dataset::Cifar10, Dataset::Cifar100, Dataset::ImageNet16];

/// Progress on standard error when it is a terminal; the checkpoint at every epoch.
struct Observer<'a> {
    visible: bool,
    epochs: usize,
    started: std::time::Instant,
    checkpoint: Option<(&'a std::path::Path, RunKey)>,
}

impl OneShotObserver for Observer<'_> {
    fn on_step(&mut self, epoch: usize, step: usize, steps: usize, loss: f64) -> nas_core::Result<()> {
        if self.visible {
            let width = 30;
            let filled = (step * width / steps.max(1)).min(width);
            eprint!(
                "\repoch {epoch}/{} [{}{}] step {step}/{steps} loss {loss:.4} {:.0}s   ",
                self.epochs,
                "=".repeat(filled),
                " ".repeat(width - filled),
                self.started.elapsed().as_secs_f64()
            );
            let _ = std::io::stderr().flush();
        }
        Ok(())
    }

    fn on_epoch(&mut self, state: &SearchState, tensors: &[Vec<f32>]) -> nas_core::Result<()> {
        if let Some((path, key)) = &self.checkpoint {
            let extra =
                serde_json::to_value(state).map_err(|e| nas_core::Error::invalid("search state", e.to_string()))?;
            let key = serde_json::to_value(key).map_err(|e| nas_core::Error::invalid("run key", e.to_string()))?;
            let ck = Checkpoint {
                key,
                epoch: state.epoch,
                step: state.step as usize,
                history: Vec::new(),
                first_moments: 0,
                second_moments: 0,
                extra,
                tensors: tensors.to_vec(),
            };
            ck.write(path)?;
        }
        if self.visible
            && let Some(r) = state.history.last()
        {
            eprintln!(
                "\repoch {}/{} train loss {:.4} accuracy {:.2}%{} {:.1} s                    ",
                r.epoch,
                self.epochs,
                r.train_loss,
                r.train_accuracy,
                r.arch_loss.map_or(String::new(), |l| format!(", arch loss {l:.4}")),
                r.seconds
            );
        }
        Ok(())
    }

    fn on_rank(&mut self, done: usize, of: usize) -> nas_core::Result<()> {
        if self.visible {
            eprint!("\rranking {done}/{of}   ");
            if done == of {
                eprintln!();
            }
        }
        Ok(())
    }
}

fn table_accuracies(table: &Nb201Table, g: &Genotype) -> anyhow::Result<BTreeMap<&'static str, Option<f64>>> {
    let i = table.index_of(g).context("derived genotype not in the table")?;
    let mut acc = BTreeMap::new();
    for d in REPORTED {
        acc.insert(d.name(), table.accuracy(i, d, Split::Test, Epochs::E200)?);
    }
    Ok(acc)
}

/// The seed of run `i`: the first number of stream `i` of the generator seeded with `seed`.
pub fn run_seed(seed: u64, i: usize) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(i as u64);
    rng.next_u64()
}

/// Runs the search (every run) and reports.
pub fn run(args: &OneShotArgs, data: &DataDir) -> anyhow::Result<OneShotReport> {
    Ok(run_with_supernet(args, data)?.0)
}

/// As [`run`], also answering the last run's trained supernet (its sub-architectures with
/// inherited weights: [`CpuSupernet::path_logits`]).
pub fn run_with_supernet(args: &OneShotArgs, data: &DataDir) -> anyhow::Result<(OneShotReport, CpuSupernet)> {
    args.space.require("nas oneshot", &[SpaceId::Nb201])?;
    if args.runs == 0 {
        bail!("invalid --runs 0: run at least once");
    }
    if args.checkpoint.is_some() && args.runs > 1 {
        bail!("--checkpoint saves one run: give --runs 1 with it");
    }
    if args.clip.is_nan() || args.clip < 0.0 {
        bail!("invalid --clip {}: it must be >= 0 (0: no clipping)", args.clip);
    }
    if !(args.weight_decay.is_finite() && args.weight_decay >= 0.0) {
        bail!("invalid --weight-decay {}: it must be >= 0", args.weight_decay);
    }
    if args.channels == 0 || args.cells == 0 {
        bail!("invalid --C {} --N {}: both must be positive", args.channels, args.cells);
    }
    let config =
        Nb201Config { channels: args.channels, cells_per_stage: args.cells, ..Nb201Config::for_dataset("cifar10")? };
    let graph = nb201::supernet(config)?;
    let space = Nb201Space::new(config);
    let images = ImageSet::read_cifar10(&args.images, config.num_classes)?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let table = match Nb201Table::load(data) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("note: no benchmark table ({e}): reporting the derived architectures without accuracies");
            None
        }
    };
    let mut runs = Vec::new();
    let mut shape = (0, 0, 0);
    let mut last = None;
    for i in 0..args.runs {
        let seed = if args.runs == 1 { args.seed } else { run_seed(args.seed, i) };
        let mut recipe = OneShotConfig::new(args.method.method(), args.epochs, seed);
        recipe.lambda = args.lambda;
        recipe.tau_max = args.tau_max;
        recipe.tau_min = args.tau_min;
        recipe.rank = args.rank;
        recipe.rank_epochs = args.rank_epochs;
        recipe.bn_batches = args.bn_batches;
        recipe.rank_images = args.rank_images;
        recipe.rank_seed = args.rank_seed;
        recipe.sharing = args.sharing;
        recipe.split_epoch = args.split_epoch;
        recipe.neighbours = args.neighbours;
        recipe.delta = args.delta;
        recipe.validate()?;
        let weights = SupernetConfig {
            batch: args.batch,
            augment_pad: (!args.no_augment).then_some(4),
            momentum: 0.9,
            weight_decay: args.weight_decay,
            clip_norm: (args.clip > 0.0).then_some(args.clip),
            bn_momentum: 0.1,
            seed,
        };
        let mixes = graph.mixes.iter().map(|m| MixedNode { edge: m.edge, node: m.node, ops: m.ops.clone() }).collect();
        let mut net = CpuSupernet::new(&graph.network, mixes, (6, 5), &images, weights.clone(), threads)?;
        shape = (net.halves().0, net.halves().1, net.steps_per_epoch());
        let key = RunKey {
            command: "oneshot",
            network: format!("nb201 supernet C={} N={}", args.channels, args.cells),
            recipe: recipe.clone(),
            batch: weights.batch,
            augment: weights.augment_pad,
            weight_decay: weights.weight_decay,
            clip: weights.clip_norm,
            images: images.len(),
            images_hash: format!("{:016x}", nas_core::hash::fnv1a64(&images.pixels)),
        };
        let key_value = serde_json::to_value(&key)?;
        let mut resume = None;
        if let Some(path) = &args.checkpoint
            && let Some(ck) = Checkpoint::read(path)?
        {
            checkpoint::check_key(path, &ck.key, &key_value)?;
            let state: SearchState = serde_json::from_value(ck.extra.clone())
                .with_context(|| format!("{}: no search state in the checkpoint", path.display()))?;
            resume = Some(oneshot::Resume { state, tensors: ck.tensors });
        }
        let mut observer = Observer {
            visible: std::io::stderr().is_terminal(),
            epochs: args.epochs,
            started: std::time::Instant::now(),
            checkpoint: args.checkpoint.as_deref().map(|p| (p, key.clone())),
        };
        let started = std::time::Instant::now();
        let result = oneshot::search(&mut net, &recipe, resume, &mut observer)?;
        let seconds = started.elapsed().as_secs_f64();
        let name = |a: &[usize]| space.format(&Genotype(a.to_vec()));
        let accuracies = |a: &[usize]| table.as_ref().map(|t| table_accuracies(t, &Genotype(a.to_vec()))).transpose();
        let epochs: Vec<EpochReport> =
            result.state.history.iter().map(|r: &EpochRecord| epoch_report(r, &name)).collect();
        let ran: Vec<f64> =
            result.state.history.iter().skip(result.resumed_from_epoch.unwrap_or(0)).map(|r| r.seconds).collect();
        let ranking = result
            .ranking
            .iter()
            .map(|r| {
                let cifar10_test = accuracies(&r.arch)?.and_then(|a| a.get("cifar10").copied().flatten());
                Ok(RankedReport { arch: name(&r.arch), inherited_accuracy: r.accuracy, cifar10_test })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let truth: Vec<Option<f64>> = ranking.iter().map(|r| r.cifar10_test).collect();
        let ranking_study = ranking_study(&recorded_rankings(&result.state.history), &truth);
        runs.push(RunReport {
            seed,
            arch: name(&result.arch),
            arch_non_none: result.arch_non_none.as_deref().map(name),
            skip_edges: result.arch.iter().filter(|&&o| o == nb201::SKIP).count(),
            accuracies: accuracies(&result.arch)?,
            accuracies_non_none: result.arch_non_none.as_deref().map(accuracies).transpose()?.flatten(),
            epochs,
            ranking,
            ranking_study,
            seconds,
            seconds_per_epoch: ran.iter().sum::<f64>() / ran.len().max(1) as f64,
            resumed_from_epoch: result.resumed_from_epoch,
        });
        last = Some(net);
    }
    let net = last.context("no run")?;
    if let Some(path) = &args.plot {
        nas_core::fsio::write_atomic(path, plot(&runs[0]).as_bytes())?;
    }
    let mean_accuracies = if runs.len() > 1 && runs.iter().all(|r| r.accuracies.is_some()) {
        let mut m = BTreeMap::new();
        for d in REPORTED {
            let v: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.accuracies.as_ref().and_then(|a| a.get(d.name()).copied().flatten()))
                .collect();
            m.insert(d.name(), mean_std(&v));
        }
        Some(m)
    } else {
        None
    };
    let first = runs[0].clone();
    let report = OneShotReport {
        space: SpaceId::Nb201,
        method: args.method,
        channels: args.channels,
        cells: args.cells,
        batch: args.batch,
        images: (shape.0, shape.1),
        steps_per_epoch: shape.2,
        threads,
        first,
        runs: if runs.len() > 1 { runs } else { Vec::new() },
        mean_accuracies,
    };
    Ok((report, net))
}

fn epoch_report(r: &EpochRecord, name: &dyn Fn(&[usize]) -> String) -> EpochReport {
    EpochReport {
        epoch: r.epoch,
        arch: r.arch.as_deref().map(name),
        arch_non_none: r.arch_non_none.as_deref().map(name),
        seconds: r.seconds,
        alphas: r.alphas.clone(),
        train_loss: r.train_loss,
        train_accuracy: r.train_accuracy,
        arch_loss: r.arch_loss,
        arch_accuracy: r.arch_accuracy,
        tau: r.tau,
        lr: r.lr,
        ranking: r.ranking.clone(),
    }
}

fn plot(run: &RunReport) -> String {
    let panels: Vec<crate::plot::Panel> = nb201::OPS
        .iter()
        .enumerate()
        .map(|(k, op)| crate::plot::Panel {
            title: format!("softmax(alpha) of {op}"),
            subtitle: "the 6 edges, per epoch".into(),
            x_label: "epoch".into(),
            y_label: "softmax(alpha)".into(),
            points: run.epochs.iter().flat_map(|e| e.alphas.iter().map(move |row| (e.epoch as f64, row[k]))).collect(),
            diagonal: false,
        })
        .collect();
    crate::plot::svg(&panels)
}

fn fmt_acc(acc: &Option<BTreeMap<&'static str, Option<f64>>>) -> String {
    match acc {
        Some(a) => REPORTED
            .iter()
            .map(|d| {
                format!("{} {}", d.name(), a.get(d.name()).copied().flatten().map_or("-".into(), |v| format!("{v:.2}")))
            })
            .collect::<Vec<_>>()
            .join(", "),
        None => "no table".into(),
    }
}

impl fmt::Display for OneShotReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} on the nb201 supernet (C={}, N={}), {} + {} images, {} steps an epoch, batch {}, {} threads",
            self.method.to_possible_value().map_or("?".into(), |v| v.get_name().to_string()),
            self.channels,
            self.cells,
            self.images.0,
            self.images.1,
            self.steps_per_epoch,
            self.batch,
            self.threads
        )?;
        let runs = if self.runs.is_empty() { std::slice::from_ref(&self.first) } else { self.runs.as_slice() };
        for r in runs {
            writeln!(f, "seed {}:", r.seed)?;
            if let Some(e) = r.resumed_from_epoch {
                writeln!(f, "  resumed from the checkpoint after epoch {e}")?;
            }
            for e in &r.epochs {
                writeln!(
                    f,
                    "  epoch {:>3}: train loss {:.4} ({:.2}%){}, {:.1} s, {}",
                    e.epoch,
                    e.train_loss,
                    e.train_accuracy,
                    e.arch_loss.map_or(String::new(), |l| format!(", arch loss {l:.4}")),
                    e.seconds,
                    e.arch.as_deref().unwrap_or("-")
                )?;
            }
            for k in &r.ranking {
                writeln!(f, "  ranked {:.2}% inherited: {}", k.inherited_accuracy, k.arch)?;
            }
            if let Some(st) = &r.ranking_study {
                writeln!(
                    f,
                    "  ranking over epochs {:?}: Kendall tau vs the table {:.3} ± {:.3} (range {:.3} to {:.3}), \
                     Spearman {:.3}; tau between consecutive epochs {}; tau of the mean ranking {}; \
                     {} distinct top-1, their table ranks {:?}",
                    st.epochs,
                    st.tau_mean.0,
                    st.tau_mean.1,
                    st.tau_range.0,
                    st.tau_range.1,
                    st.spearman_mean,
                    st.tau_consecutive.map_or("-".into(), |t| format!("{t:.3}")),
                    st.tau_of_mean.map_or("-".into(), |t| format!("{t:.3}")),
                    st.distinct_top1,
                    st.top1_true_rank
                )?;
            }
            writeln!(f, "  architecture: {} ({} skip edges)", r.arch, r.skip_edges)?;
            writeln!(f, "    test accuracy: {}", fmt_acc(&r.accuracies))?;
            if let Some(n) = &r.arch_non_none {
                writeln!(f, "  argmax without none: {n}")?;
                writeln!(f, "    test accuracy: {}", fmt_acc(&r.accuracies_non_none))?;
            }
            writeln!(f, "  {:.1} s in all, {:.1} s per supernet epoch", r.seconds, r.seconds_per_epoch)?;
        }
        if let Some(m) = &self.mean_accuracies {
            let parts: Vec<String> = REPORTED
                .iter()
                .filter_map(|d| m.get(d.name()).map(|(a, s)| format!("{} {a:.2} ± {s:.2}", d.name())))
                .collect();
            writeln!(f, "mean over {} runs: {}", self.runs.len(), parts.join(", "))?;
        }
        Ok(())
    }
}
