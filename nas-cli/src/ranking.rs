//! `nas analyze ranking`: how well, and how stably, single-path supernets rank the same
//! architectures (Zhang et al. 2020), and whether less weight sharing helps (few-shot NAS, Zhao et
//! al. 2021; group sharing).
//!
//! For every sharing setting and every supernet seed it trains an SPOS supernet with `nas
//! oneshot` (`--method spos --rank K --rank-epochs L --rank-seed SEED --sharing S`), so that every
//! supernet ranks the same K architectures after each of its last L epochs; it trains the first
//! `--truth` of them standalone with `nas train`'s recipe (the ground truth); and it compares each
//! ranking with the table's 200-epoch accuracy and with the ground truth. Every run is kept in
//! `--state-dir`: an interrupted study resumes where it stopped, and a finished one is read back.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;
use nas_core::stats::{kendall_tau, mean_std};
use nas_spaces::{DataDir, SpaceId};
use nas_strategies::oneshot::Sharing;
use serde::{Deserialize, Serialize};

use crate::oneshot::{OneShotArgs, RankingStudy, ranking_study};
use crate::{plot, vocab};

/// `nas analyze ranking`: the supernets, the ranked architectures and the ground truth.
#[derive(Clone, Debug, Args, Serialize)]
pub struct RankingConfig {
    /// The search space.
    #[arg(long, default_value = "nb201", value_parser = vocab::space())]
    pub space: SpaceId,
    /// The images. Here: the training set; its first half trains the supernets, its second half
    /// scores the ranked architectures (as `nas oneshot`), all of it trains the ground truth.
    #[arg(long, value_name = "FILE")]
    pub images: PathBuf,
    /// Test images (CIFAR-10 binary layout), evaluated in eval mode after training. Here: the
    /// ground truth's standalone test accuracy (without them: no ground truth).
    #[arg(long, value_name = "FILE")]
    pub test_images: Option<PathBuf>,
    /// Epochs to train. Here: of each supernet.
    #[arg(long, default_value_t = 20)]
    pub epochs: usize,
    /// Channels of the first stage.
    #[arg(long = "C", default_value_t = 8)]
    pub channels: usize,
    /// Cells per stage.
    #[arg(long = "N", default_value_t = 1)]
    pub cells: usize,
    /// Images per batch. Here: per supernet step and per ground-truth training step.
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Supernet seeds per sharing setting (seed, seed + 1, ...).
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// Seed of every random choice of the command. Here: the ranked architectures, the ground
    /// truth's training and the first supernet.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Architectures every supernet ranks (the same ones).
    #[arg(long, default_value_t = 100)]
    pub rank: usize,
    /// Rank them after each of the last this many epochs.
    #[arg(long, default_value_t = 10)]
    pub rank_epochs: usize,
    /// Score each on the first this many images of the architecture half (default: all).
    #[arg(long, value_name = "N")]
    pub rank_images: Option<usize>,
    /// Weight-half batches that recompute the batch-norm statistics of each ranked architecture.
    #[arg(long, default_value_t = 2)]
    pub bn_batches: usize,
    /// The sharing settings compared (comma-separated; see `nas oneshot --sharing`).
    #[arg(long, value_delimiter = ',', default_value = "all,few-shot:0,groups:5,groups:25")]
    pub sharing: Vec<Sharing>,
    /// Epochs of one shared supernet before reduced sharing splits it (default: half the epochs).
    #[arg(long)]
    pub split_epoch: Option<usize>,
    /// Ranked architectures (the first ones) trained standalone as the ground truth.
    #[arg(long, default_value_t = 30)]
    pub truth: usize,
    /// Epochs of each ground-truth training (`nas train`'s recipe, batch 64).
    #[arg(long, default_value_t = 10)]
    pub truth_epochs: usize,
    /// Directory of the runs' checkpoints and results: an interrupted study resumes from it.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// An SVG plot. Here: Kendall tau against the table per ranked epoch, one line per setting
    /// and seed.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// One supernet's rankings, as cached in the state directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SupernetRun {
    /// The sharing setting.
    pub sharing: Sharing,
    /// The supernet's seed.
    pub seed: u64,
    /// The ranked epochs.
    pub epochs: Vec<usize>,
    /// Per ranked epoch, the inherited accuracy of each ranked architecture (in `archs` order).
    pub rankings: Vec<Vec<f64>>,
    /// The answer (the best ranked architecture after the last epoch), official string.
    pub answer: String,
    /// Its table accuracy (CIFAR-10 test, 200 epochs).
    pub answer_accuracy: Option<f64>,
    /// The ranked architectures, official strings.
    pub archs: Vec<String>,
    /// Their table accuracies.
    pub table: Vec<Option<f64>>,
    /// Wall time of the run.
    pub seconds: f64,
}

/// One ground-truth training, as cached (the fields of `nas train --json` that the study reads).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TruthRun {
    test_accuracy: Option<f64>,
}

/// One supernet run, judged.
#[derive(Clone, Debug, Serialize)]
pub struct RunStudy {
    /// The supernet's seed.
    pub seed: u64,
    /// Against the table (every ranked architecture).
    pub table: Option<RankingStudy>,
    /// Against the standalone ground truth (the architectures that have one).
    pub truth: Option<RankingStudy>,
    /// The answer, official string.
    pub answer: String,
    /// Its table accuracy.
    pub answer_accuracy: Option<f64>,
    /// Wall time.
    pub seconds: f64,
}

/// One sharing setting over its seeds.
#[derive(Clone, Debug, Serialize)]
pub struct SharingStudy {
    /// The setting (`all`, `few-shot:E`, `groups:G`).
    pub sharing: String,
    /// Weight sets once split.
    pub groups: usize,
    /// Kendall tau against the table over every ranked epoch of every seed: mean and std.
    pub tau_table: (f64, f64),
    /// Their smallest and largest.
    pub tau_table_range: (f64, f64),
    /// Mean Spearman rho against the table.
    pub spearman_table: f64,
    /// Each seed's mean tau against the table: how much supernets of different seeds differ.
    pub tau_table_per_seed: Vec<f64>,
    /// Kendall tau of each seed's mean ranking (over the ranked epochs) against the table.
    pub tau_table_of_mean: Vec<f64>,
    /// Kendall tau against the ground truth over every ranked epoch of every seed.
    pub tau_truth: Option<(f64, f64)>,
    /// Mean tau between consecutive ranked epochs.
    pub tau_consecutive: f64,
    /// Distinct top-1 architectures over the ranked epochs, per seed.
    pub distinct_top1: Vec<usize>,
    /// Table rank (1 = best of the ranked) of each ranked epoch's top-1, per seed.
    pub top1_true_rank: Vec<Vec<usize>>,
    /// Distinct answers over the seeds.
    pub distinct_answers: usize,
    /// The answers' table accuracy, mean and std over the seeds.
    pub answer_accuracy: (f64, f64),
    /// Every run.
    pub runs: Vec<RunStudy>,
}

/// The report of `nas analyze ranking`.
#[derive(Clone, Debug, Serialize)]
pub struct RankingReport {
    /// Epochs of each supernet.
    pub epochs: usize,
    /// Ranked epochs (the last ones).
    pub rank_epochs: usize,
    /// Architectures every supernet ranks.
    pub rank: usize,
    /// Images of the architecture half each is scored on.
    pub rank_images: Option<usize>,
    /// Epoch of the split (reduced sharing).
    pub split_epoch: usize,
    /// Architectures with a standalone ground truth.
    pub truth_archs: usize,
    /// Epochs of each ground-truth training.
    pub truth_epochs: usize,
    /// Kendall tau of the ground truth against the table (how good a truth it is).
    pub truth_vs_table: Option<f64>,
    /// The ranked architectures (official strings) with their table and ground-truth accuracies.
    pub archs: Vec<(String, Option<f64>, Option<f64>)>,
    /// One entry per sharing setting.
    pub settings: Vec<SharingStudy>,
    /// Wall time of this call.
    pub seconds: f64,
}

/// Runs the study (resuming from the state directory).
pub fn ranking(config: &RankingConfig, data: &DataDir) -> anyhow::Result<RankingReport> {
    config.space.require("analyze ranking", &[SpaceId::Nb201])?;
    let started = std::time::Instant::now();
    if config.seeds == 0 || config.sharing.is_empty() {
        bail!("invalid --seeds {} or --sharing: give at least one of each", config.seeds);
    }
    if config.truth > config.rank {
        bail!("invalid --truth {}: at most the --rank {} ranked architectures", config.truth, config.rank);
    }
    let split_epoch = config.split_epoch.unwrap_or(config.epochs / 2);
    let dir = config.state_dir.as_deref();
    let supernets = dir.map(|d| d.join("supernets"));
    let mut runs: Vec<Vec<SupernetRun>> = Vec::new();
    for sharing in &config.sharing {
        let mut per_seed = Vec::new();
        for s in 0..config.seeds as u64 {
            per_seed.push(supernet_run(config, *sharing, split_epoch, config.seed + s, supernets.as_deref(), data)?);
        }
        runs.push(per_seed);
    }
    let first = &runs[0][0];
    let (archs, table) = (first.archs.clone(), first.table.clone());
    let truth_dir = dir.map(|d| d.join("truth"));
    let mut truth: Vec<Option<f64>> = vec![None; archs.len()];
    if let Some(test_images) = &config.test_images {
        for (i, arch) in archs.iter().take(config.truth).enumerate() {
            truth[i] = truth_run(config, arch, test_images, truth_dir.as_deref(), data)?.test_accuracy;
        }
    }
    let truth_vs_table = {
        let pairs: Vec<(f64, f64)> = truth.iter().zip(&table).filter_map(|(a, b)| Some(((*a)?, (*b)?))).collect();
        let (a, b): (Vec<f64>, Vec<f64>) = pairs.into_iter().unzip();
        kendall_tau(&a, &b)
    };
    let settings = runs.iter().map(|per_seed| judge(per_seed, &truth)).collect::<Vec<_>>();
    let report = RankingReport {
        epochs: config.epochs,
        rank_epochs: config.rank_epochs,
        rank: config.rank,
        rank_images: config.rank_images,
        split_epoch,
        truth_archs: truth.iter().flatten().count(),
        truth_epochs: config.truth_epochs,
        truth_vs_table,
        archs: archs.iter().zip(&table).zip(&truth).map(|((a, t), g)| (a.clone(), *t, *g)).collect(),
        settings,
        seconds: started.elapsed().as_secs_f64(),
    };
    if let Some(path) = &config.plot {
        nas_core::fsio::write_atomic(path, ranking_svg(&report).as_bytes())?;
    }
    Ok(report)
}

/// One supernet (resumed from its checkpoint, or read from its result, in the state directory).
fn supernet_run(
    config: &RankingConfig,
    sharing: Sharing,
    split_epoch: usize,
    seed: u64,
    dir: Option<&Path>,
    data: &DataDir,
) -> anyhow::Result<SupernetRun> {
    let rank_images = config.rank_images.map_or("all".to_string(), |n| n.to_string());
    let batch = if config.batch == 64 { String::new() } else { format!("-b{}", config.batch) };
    let name = format!(
        "{}-C{}-N{}-e{}{batch}-split{split_epoch}-rank{}x{}-on{rank_images}-bn{}-rankseed{}-seed{seed}",
        sharing.to_string().replace(':', ""),
        config.channels,
        config.cells,
        config.epochs,
        config.rank,
        config.rank_epochs,
        config.bn_batches,
        config.seed,
    );
    crate::train::cached_run(dir, &name, "json", 64 << 20, |checkpoint| {
        let mut args = OneShotArgs::recipe("spos", &config.images)?;
        args.epochs = config.epochs;
        args.channels = config.channels;
        args.cells = config.cells;
        args.batch = config.batch;
        args.seed = seed;
        args.rank = config.rank;
        args.rank_epochs = config.rank_epochs;
        args.rank_images = config.rank_images;
        args.rank_seed = Some(config.seed);
        args.bn_batches = config.bn_batches;
        args.sharing = sharing;
        args.split_epoch = if sharing.is_all() { 0 } else { split_epoch };
        args.threads = config.threads;
        args.checkpoint = checkpoint;
        let report = crate::oneshot::run(&args, data)?;
        let run = report.first;
        let ranked: Vec<(usize, Vec<f64>)> =
            run.epochs.iter().filter_map(|e| e.ranking.clone().map(|r| (e.epoch, r))).collect();
        Ok(SupernetRun {
            sharing,
            seed,
            epochs: ranked.iter().map(|(e, _)| *e).collect(),
            rankings: ranked.into_iter().map(|(_, r)| r).collect(),
            answer: run.arch.clone(),
            answer_accuracy: run.accuracies.as_ref().and_then(|a| a.get("cifar10").copied().flatten()),
            archs: run.ranking.iter().map(|r| r.arch.clone()).collect(),
            table: run.ranking.iter().map(|r| r.cifar10_test).collect(),
            seconds: run.seconds,
        })
    })
}

/// One ground-truth training: `nas train`'s recipe on all the training images, tested on the test
/// images (cached as `nas analyze convergence` caches its runs).
fn truth_run(
    config: &RankingConfig,
    arch: &str,
    test_images: &Path,
    dir: Option<&Path>,
    data: &DataDir,
) -> anyhow::Result<TruthRun> {
    let genotype = SpaceId::Nb201.parse_arch(arch, data)?;
    let ops = nas_spaces::Nb201Space::ops_code(&genotype);
    let cell = crate::train::CellTraining {
        ops: &ops,
        images: &config.images,
        test_images: Some(test_images),
        epochs: config.truth_epochs,
        channels: config.channels,
        cells: config.cells,
        batch: config.batch,
        seed: config.seed,
        threads: config.threads,
    };
    cell.cached(dir, "json", 1 << 20, data, |outcome, _| Ok(TruthRun { test_accuracy: outcome.report.test_accuracy }))
}

/// The figures of one sharing setting over its seeds.
fn judge(runs: &[SupernetRun], truth: &[Option<f64>]) -> SharingStudy {
    let studies: Vec<RunStudy> = runs
        .iter()
        .map(|r| {
            let ranked: Vec<(usize, &[f64])> =
                r.epochs.iter().copied().zip(r.rankings.iter().map(Vec::as_slice)).collect();
            RunStudy {
                seed: r.seed,
                table: ranking_study(&ranked, &r.table),
                truth: ranking_study(&ranked, truth),
                answer: r.answer.clone(),
                answer_accuracy: r.answer_accuracy,
                seconds: r.seconds,
            }
        })
        .collect();
    let all = |f: fn(&RunStudy) -> Option<&RankingStudy>| -> Vec<f64> {
        studies.iter().filter_map(f).flat_map(|s| s.tau.iter().flatten().copied()).collect()
    };
    let table_tau = all(|s| s.table.as_ref());
    let truth_tau = all(|s| s.truth.as_ref());
    let tables: Vec<&RankingStudy> = studies.iter().filter_map(|s| s.table.as_ref()).collect();
    let answers: Vec<f64> = studies.iter().filter_map(|s| s.answer_accuracy).collect();
    SharingStudy {
        sharing: runs[0].sharing.to_string(),
        groups: runs[0].sharing.groups(nas_spaces::nb201::OPS.len()),
        tau_table: mean_std(&table_tau),
        tau_table_range: table_tau.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &t| (a.min(t), b.max(t))),
        spearman_table: mean_std(&tables.iter().map(|s| s.spearman_mean).collect::<Vec<_>>()).0,
        tau_table_per_seed: tables.iter().map(|s| s.tau_mean.0).collect(),
        tau_table_of_mean: tables.iter().filter_map(|s| s.tau_of_mean).collect(),
        tau_truth: (!truth_tau.is_empty()).then(|| mean_std(&truth_tau)),
        tau_consecutive: mean_std(&tables.iter().filter_map(|s| s.tau_consecutive).collect::<Vec<_>>()).0,
        distinct_top1: tables.iter().map(|s| s.distinct_top1).collect(),
        top1_true_rank: tables.iter().map(|s| s.top1_true_rank.clone()).collect(),
        distinct_answers: runs.iter().map(|r| &r.answer).collect::<BTreeSet<_>>().len(),
        answer_accuracy: mean_std(&answers),
        runs: studies,
    }
}

fn ranking_svg(r: &RankingReport) -> String {
    let panel = |title: &str, archs: usize, pick: fn(&RunStudy) -> Option<&RankingStudy>| {
        let mut series = Vec::new();
        for s in &r.settings {
            for run in &s.runs {
                let Some(t) = pick(run) else { continue };
                let points = t.epochs.iter().zip(&t.tau).filter_map(|(e, tau)| Some((*e as f64, (*tau)?))).collect();
                series.push((s.sharing.clone(), points));
            }
        }
        plot::Lines {
            title: title.to_string(),
            subtitle: format!("{archs} architectures, one line per supernet seed"),
            x_label: "supernet epoch".into(),
            y_label: "Kendall tau".into(),
            series,
        }
    };
    let mut panels = vec![panel("against the NB201 table (CIFAR-10 test)", r.rank, |s| s.table.as_ref())];
    if r.truth_vs_table.is_some() {
        panels.push(panel("against the standalone ground truth", r.truth_archs, |s| s.truth.as_ref()));
    }
    plot::lines_svg(&panels)
}

impl fmt::Display for RankingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} architectures ranked by every supernet after each of its last {} of {} epochs (split at epoch {}), scored on {} images",
            self.rank,
            self.rank_epochs,
            self.epochs,
            self.split_epoch,
            self.rank_images.map_or("all the architecture half's".to_string(), |n| n.to_string()),
        )?;
        match self.truth_vs_table {
            Some(t) => writeln!(
                f,
                "ground truth: {} trained standalone for {} epochs; its Kendall tau against the table {t:.3}",
                self.truth_archs, self.truth_epochs
            )?,
            None => writeln!(f, "no ground truth (give --test-images and --truth)")?,
        }
        writeln!(
            f,
            "{:<12} {:>16} {:>16} {:>10} {:>16} {:>11} {:>10} {:>8}",
            "sharing", "tau vs table", "range", "rho", "tau vs truth", "tau consec", "top-1s", "answer"
        )?;
        for s in &self.settings {
            writeln!(
                f,
                "{:<12} {:>16} {:>16} {:>10.3} {:>16} {:>11.3} {:>10} {:>8.2}",
                s.sharing,
                format!("{:+.3} ± {:.3}", s.tau_table.0, s.tau_table.1),
                format!("{:+.3} .. {:+.3}", s.tau_table_range.0, s.tau_table_range.1),
                s.spearman_table,
                s.tau_truth.map_or("-".to_string(), |(m, d)| format!("{m:+.3} ± {d:.3}")),
                s.tau_consecutive,
                s.distinct_top1.iter().map(|n| n.to_string()).collect::<Vec<_>>().join("/"),
                s.answer_accuracy.0,
            )?;
        }
        for s in &self.settings {
            let per_seed: Vec<String> = s.tau_table_per_seed.iter().map(|t| format!("{t:+.3}")).collect();
            let ranks: Vec<String> = s
                .top1_true_rank
                .iter()
                .map(|r| r.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(","))
                .collect();
            writeln!(
                f,
                "{}: tau per seed {}; true ranks of the top-1s {}; {} distinct answers",
                s.sharing,
                per_seed.join(" "),
                ranks.join(" | "),
                s.distinct_answers
            )?;
        }
        write!(f, "({:.0} s)", self.seconds)
    }
}
