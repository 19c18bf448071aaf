//! `nas analyze topology`: width and depth of every NB201 cell ([`Nb201Space::topology`]) against
//! the benchmark's 12- and 200-epoch accuracies, and where the answers of searches land.
//!
//! The question is Shu et al.'s (ICLR 2020): cell-based NAS favours wide and shallow cells; is it
//! because they converge fast rather than because they generalise better? The benchmark answers
//! it for the whole space: the 12-epoch accuracy is "converges fast", the 200-epoch one is the
//! final result, and the *rank gain* of a cell (its percentile rank at 12 epochs minus that at 200)
//! is positive where a cell looks better early than it ends.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use nas_core::SearchSpace;
use nas_core::stats::{mean_std, ranks, spearman};
use nas_spaces::nb201::CellTopology;
use nas_spaces::{DataDir, Dataset, Epochs, Nb201Space, Nb201Table, SpaceId, Split};
use serde::Serialize;

use crate::{plot, vocab};

/// `nas analyze topology`: which space and accuracies, which answers to place, what to print.
#[derive(Clone, Debug, Args, Serialize)]
pub struct TopologyConfig {
    /// The search space.
    #[arg(long, default_value = "nb201", value_parser = vocab::space())]
    pub space: SpaceId,
    /// The benchmark dataset. Here: whose 12- and 200-epoch test accuracies are compared.
    #[arg(long, default_value = "cifar10", value_parser = vocab::dataset(), ignore_case = true)]
    pub dataset: Dataset,
    /// Search answers to place, as LABEL=FILE[,FILE...] (repeatable): the JSON of `nas search`,
    /// `nas oneshot`, `nas mathnas` or any report with an `archs` list or an `arch` string of
    /// official NB201 strings.
    #[arg(long = "answers", value_name = "LABEL=FILE")]
    pub answers: Vec<String>,
    /// An SVG plot. Here: mean accuracy at 12 and 200 epochs and the rank gain by width and depth,
    /// with the answers' mean position.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// With --json, print the summary object instead of the array of cells.
    #[arg(long)]
    pub summary: bool,
}

/// One cell of the space.
#[derive(Clone, Debug, Serialize)]
pub struct TopologyRow {
    /// Row index of the benchmark table.
    pub idx: usize,
    /// The architecture, official string.
    pub arch: String,
    /// Live edges leaving node 0 ([`CellTopology::width`]).
    pub width: usize,
    /// Live edges on the longest path from node 0 to node 3 ([`CellTopology::depth`]).
    pub depth: usize,
    /// Intermediate nodes reading the input ([`CellTopology::input_nodes`], the paper's width).
    pub input_nodes: usize,
    /// Test accuracy after the 12-epoch schedule (%).
    pub test_accuracy_12: Option<f64>,
    /// Test accuracy after the 200-epoch schedule (%).
    pub test_accuracy_200: Option<f64>,
}

/// Cells sharing a width, a depth or both: how many and how they do.
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    /// The width (`None`: any).
    pub width: Option<usize>,
    /// The depth (`None`: any).
    pub depth: Option<usize>,
    /// Cells in the group.
    pub cells: usize,
    /// Mean 12-epoch test accuracy (%).
    pub accuracy_12: f64,
    /// Mean 200-epoch test accuracy (%).
    pub accuracy_200: f64,
    /// Mean rank gain: percentile rank at 12 epochs minus percentile rank at 200 (points).
    pub rank_gain: f64,
}

/// Spearman's rho of one topology measure against the accuracies and the rank gain.
#[derive(Clone, Debug, Serialize)]
pub struct Correlation {
    /// The measure: width, depth or input_nodes.
    pub measure: &'static str,
    /// Against the 12-epoch test accuracy.
    pub accuracy_12: Option<f64>,
    /// Against the 200-epoch test accuracy.
    pub accuracy_200: Option<f64>,
    /// Against the rank gain.
    pub rank_gain: Option<f64>,
}

/// The best cells by one schedule: their mean width and depth.
#[derive(Clone, Debug, Serialize)]
pub struct TopCells {
    /// The schedule that ranks (12 or 200 epochs).
    pub epochs: u32,
    /// How many cells (the best 1 %).
    pub cells: usize,
    /// Their mean width.
    pub width: f64,
    /// Their mean depth.
    pub depth: f64,
}

/// Where one set of answers lands.
#[derive(Clone, Debug, Serialize)]
pub struct Placement {
    /// The label given with --answers.
    pub label: String,
    /// The files the answers came from (comma-separated).
    pub file: String,
    /// Answers read.
    pub answers: usize,
    /// Mean and standard deviation of their width.
    pub width: (f64, f64),
    /// Mean and standard deviation of their depth.
    pub depth: (f64, f64),
    /// Answers per `"width,depth"`.
    pub counts: BTreeMap<String, usize>,
    /// Mean 200-epoch test accuracy of the answers (%).
    pub accuracy_200: f64,
}

/// The summary of `nas analyze topology`.
#[derive(Clone, Debug, Serialize)]
pub struct TopologySummary {
    /// The benchmark dataset of the accuracies.
    pub dataset: Dataset,
    /// Cells with both accuracies.
    pub cells: usize,
    /// Per (width, depth) present in the space.
    pub groups: Vec<Group>,
    /// Per width.
    pub by_width: Vec<Group>,
    /// Per depth.
    pub by_depth: Vec<Group>,
    /// Rank correlations of each measure.
    pub spearman: Vec<Correlation>,
    /// The best 1 % at 12 and at 200 epochs.
    pub top: Vec<TopCells>,
    /// The answers placed.
    pub answers: Vec<Placement>,
}

/// The report of `nas analyze topology`. JSON: the array of cells, or with `--summary` the
/// summary; text: the summary.
#[derive(Clone, Debug)]
pub struct TopologyReport {
    /// Every cell.
    pub rows: Vec<TopologyRow>,
    /// The tables of the study.
    pub summary: TopologySummary,
    /// Whether JSON holds the summary instead of the rows.
    pub summary_only: bool,
}

impl Serialize for TopologyReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.summary_only { self.summary.serialize(s) } else { self.rows.serialize(s) }
    }
}

/// Width, depth and accuracies of every cell of the table, grouped and correlated; the answers
/// placed; the plot written.
pub fn topology(config: &TopologyConfig, data: &DataDir) -> anyhow::Result<TopologyReport> {
    config.space.require("analyze topology", &[SpaceId::Nb201])?;
    let table = Nb201Table::load(data)?;
    let accuracy = |idx, epochs| table.accuracy(idx, config.dataset, Split::Test, epochs);
    let mut rows = Vec::with_capacity(table.len());
    for idx in 0..table.len() {
        let (Some(arch), Some(g)) = (table.arch(idx), table.genotype(idx)) else { continue };
        let t = Nb201Space::topology(g);
        rows.push(TopologyRow {
            idx,
            arch: arch.to_string(),
            width: t.width,
            depth: t.depth,
            input_nodes: t.input_nodes,
            test_accuracy_12: accuracy(idx, Epochs::E12)?,
            test_accuracy_200: accuracy(idx, Epochs::E200)?,
        });
    }
    let answers = config.answers.iter().map(|a| place(a, &table, config.dataset)).collect::<anyhow::Result<_>>()?;
    let summary = summarise(&rows, config.dataset, answers);
    if let Some(path) = &config.plot {
        nas_core::fsio::write_atomic(path, plot_svg(&summary).as_bytes())
            .with_context(|| format!("cannot write the plot {}", path.display()))?;
    }
    Ok(TopologyReport { rows, summary, summary_only: config.summary })
}

/// Cells with both accuracies: their topology, accuracies and rank gain.
struct Scored {
    topology: CellTopology,
    acc12: f64,
    acc200: f64,
    gain: f64,
}

fn summarise(rows: &[TopologyRow], dataset: Dataset, answers: Vec<Placement>) -> TopologySummary {
    let mut cells: Vec<Scored> = rows
        .iter()
        .filter_map(|r| {
            let topology = CellTopology { width: r.width, depth: r.depth, input_nodes: r.input_nodes };
            Some(Scored { topology, acc12: r.test_accuracy_12?, acc200: r.test_accuracy_200?, gain: 0.0 })
        })
        .collect();
    let n = cells.len() as f64;
    let r12 = ranks(&cells.iter().map(|c| c.acc12).collect::<Vec<_>>());
    let r200 = ranks(&cells.iter().map(|c| c.acc200).collect::<Vec<_>>());
    for (c, (a, b)) in cells.iter_mut().zip(r12.iter().zip(&r200)) {
        c.gain = (a - b) / n * 100.0;
    }
    let group = |width: Option<usize>, depth: Option<usize>| {
        let members: Vec<&Scored> = cells
            .iter()
            .filter(|c| width.is_none_or(|w| c.topology.width == w) && depth.is_none_or(|d| c.topology.depth == d))
            .collect();
        let mean = |f: fn(&Scored) -> f64| mean_std(&members.iter().map(|c| f(c)).collect::<Vec<_>>()).0;
        (!members.is_empty()).then(|| Group {
            width,
            depth,
            cells: members.len(),
            accuracy_12: mean(|c| c.acc12),
            accuracy_200: mean(|c| c.acc200),
            rank_gain: mean(|c| c.gain),
        })
    };
    let groups =
        (0..=3).flat_map(|w| (0..=3).map(move |d| (w, d))).filter_map(|(w, d)| group(Some(w), Some(d))).collect();
    let by_width = (0..=3).filter_map(|w| group(Some(w), None)).collect();
    let by_depth = (0..=3).filter_map(|d| group(None, Some(d))).collect();
    type Measure = fn(&CellTopology) -> usize;
    let measures: [(&'static str, Measure); 3] =
        [("width", |t| t.width), ("depth", |t| t.depth), ("input_nodes", |t| t.input_nodes)];
    let column = |f: fn(&Scored) -> f64| cells.iter().map(f).collect::<Vec<_>>();
    let (acc12, acc200, gain) = (column(|c| c.acc12), column(|c| c.acc200), column(|c| c.gain));
    let spearman = measures
        .iter()
        .map(|&(measure, f)| {
            let m: Vec<f64> = cells.iter().map(|c| f(&c.topology) as f64).collect();
            Correlation {
                measure,
                accuracy_12: spearman(&m, &acc12),
                accuracy_200: spearman(&m, &acc200),
                rank_gain: spearman(&m, &gain),
            }
        })
        .collect();
    let best = (cells.len() / 100).max(1);
    let top = [(12, &acc12), (200, &acc200)]
        .into_iter()
        .map(|(epochs, acc)| {
            let mut order: Vec<usize> = (0..cells.len()).collect();
            order.sort_by(|&a, &b| acc[b].total_cmp(&acc[a]));
            let chosen = &order[..best.min(order.len())];
            let mean = |f: fn(&CellTopology) -> usize| {
                chosen.iter().map(|&i| f(&cells[i].topology) as f64).sum::<f64>() / chosen.len().max(1) as f64
            };
            TopCells { epochs, cells: chosen.len(), width: mean(|t| t.width), depth: mean(|t| t.depth) }
        })
        .collect();
    TopologySummary { dataset, cells: cells.len(), groups, by_width, by_depth, spearman, top, answers }
}

/// The architectures a report names: its `archs` list, else its `arch`.
fn read_answers(file: &str) -> anyhow::Result<Vec<String>> {
    let text = nas_core::fsio::read_text_bounded(std::path::Path::new(file), 64 << 20)
        .with_context(|| format!("cannot read the answers {file}"))?;
    /// The part of any report that names its answers.
    #[derive(serde::Deserialize)]
    struct Answers {
        archs: Option<Vec<String>>,
        arch: Option<String>,
    }
    let answers: Answers =
        serde_json::from_str(&text).with_context(|| format!("the answers {file} are not a JSON report"))?;
    let archs = match answers {
        Answers { archs: Some(list), .. } => list,
        Answers { arch: Some(one), .. } => vec![one],
        _ => bail!("the answers {file} hold neither an \"archs\" list nor an \"arch\" string"),
    };
    if archs.is_empty() {
        bail!("the answers {file} list no architecture");
    }
    Ok(archs)
}

/// Reads `LABEL=FILE[,FILE...]` and places its answers.
fn place(spec: &str, table: &Nb201Table, dataset: Dataset) -> anyhow::Result<Placement> {
    let Some((label, file)) = spec.split_once('=').filter(|(l, f)| !l.is_empty() && !f.is_empty()) else {
        bail!("invalid --answers {spec:?}: expected LABEL=FILE");
    };
    let mut archs = Vec::new();
    for file in file.split(',') {
        archs.extend(read_answers(file)?.into_iter().map(|a| (a, file)));
    }
    let mut topologies = Vec::new();
    let mut accuracy = Vec::new();
    for (arch, file) in &archs {
        let idx =
            table.index_of_arch(arch).with_context(|| format!("{arch:?} in {file} is not an NB201 architecture"))?;
        let g = table.genotype(idx).with_context(|| format!("table row {idx} has no genotype"))?;
        topologies.push(Nb201Space::topology(g));
        accuracy.extend(table.accuracy(idx, dataset, Split::Test, Epochs::E200)?);
    }
    let stats = |f: fn(&CellTopology) -> usize| mean_std(&topologies.iter().map(|t| f(t) as f64).collect::<Vec<_>>());
    let mut counts = BTreeMap::new();
    for t in &topologies {
        *counts.entry(format!("{},{}", t.width, t.depth)).or_insert(0) += 1;
    }
    Ok(Placement {
        label: label.to_string(),
        file: file.to_string(),
        answers: archs.len(),
        width: stats(|t| t.width),
        depth: stats(|t| t.depth),
        counts,
        accuracy_200: mean_std(&accuracy).0,
    })
}

fn plot_svg(s: &TopologySummary) -> String {
    let grid = |title: &str, subtitle: String, cells| plot::Grid {
        title: title.to_string(),
        subtitle,
        x_label: "width (live edges leaving the input)".into(),
        y_label: "depth (edges on the longest path)".into(),
        columns: (0..=3).map(|w| w.to_string()).collect(),
        rows: (0..=3).map(|d| d.to_string()).collect(),
        cells,
        decimals: 1,
    };
    let cut_off: usize = s.groups.iter().filter(|g| g.width == Some(0)).map(|g| g.cells).sum();
    let panel = |title: &str, value: fn(&Group) -> f64| {
        let mut cells = vec![vec![None; 4]; 4];
        for g in &s.groups {
            // The cells whose output is cut off (10 %, constant) would flatten the colour scale.
            if let (Some(w @ 1..), Some(d)) = (g.width, g.depth) {
                cells[d][w] = Some((value(g), format!("n={}", g.cells)));
            }
        }
        let subtitle = format!("{} test, mean per cell group; {cut_off} cut-off cells left out", s.dataset.name());
        grid(title, subtitle, cells)
    };
    let mut panels = vec![
        panel("accuracy after 12 epochs (%)", |g| g.accuracy_12),
        panel("accuracy after 200 epochs (%)", |g| g.accuracy_200),
        panel("rank gain: 12-epoch minus 200-epoch percentile", |g| g.rank_gain),
    ];
    if !s.answers.is_empty() {
        // Per cell group: the share of the space's cells, and each search's share of its answers.
        let mut cells = vec![vec![None; 4]; 4];
        for g in &s.groups {
            let (Some(w), Some(d)) = (g.width, g.depth) else { continue };
            let key = format!("{w},{d}");
            let lines: Vec<String> = s
                .answers
                .iter()
                .filter_map(|p| {
                    p.counts.get(&key).map(|&n| format!("{} {:.0}%", p.label, 100.0 * n as f64 / p.answers as f64))
                })
                .collect();
            cells[d][w] = Some((100.0 * g.cells as f64 / s.cells.max(1) as f64, lines.join("\n")));
        }
        let subtitle = "value: % of the space's cells; below: % of each search's answers".to_string();
        panels.push(grid("where the searches' answers land", subtitle, cells));
    }
    plot::grid_svg(&panels)
}

fn rho(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |r| format!("{r:+.3}"))
}

impl fmt::Display for TopologyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.summary;
        writeln!(f, "NB201 cell topology against {} test accuracy ({} cells)", s.dataset.name(), s.cells)?;
        writeln!(f, "width: live edges leaving node 0; depth: live edges on the longest path 0 -> 3")?;
        writeln!(f, "rank gain: percentile rank at 12 epochs minus at 200 (> 0: looks better early than it ends)")?;
        let table = |f: &mut fmt::Formatter<'_>, title: &str, groups: &[Group]| -> fmt::Result {
            writeln!(f, "\n{title:<12} {:>6} {:>8} {:>8} {:>10}", "cells", "acc@12", "acc@200", "rank gain")?;
            for g in groups {
                let key = match (g.width, g.depth) {
                    (Some(w), Some(d)) => format!("w{w} d{d}"),
                    (Some(w), None) => format!("width {w}"),
                    (None, Some(d)) => format!("depth {d}"),
                    (None, None) => "all".into(),
                };
                writeln!(
                    f,
                    "{key:<12} {:>6} {:>8.2} {:>8.2} {:>+10.2}",
                    g.cells, g.accuracy_12, g.accuracy_200, g.rank_gain
                )?;
            }
            Ok(())
        };
        table(f, "width,depth", &s.groups)?;
        table(f, "by width", &s.by_width)?;
        table(f, "by depth", &s.by_depth)?;
        writeln!(f, "\nSpearman rho  {:>8} {:>8} {:>10}", "acc@12", "acc@200", "rank gain")?;
        for c in &s.spearman {
            writeln!(
                f,
                "{:<13} {:>8} {:>8} {:>10}",
                c.measure,
                rho(c.accuracy_12),
                rho(c.accuracy_200),
                rho(c.rank_gain)
            )?;
        }
        for t in &s.top {
            writeln!(f, "best {} at {} epochs: mean width {:.2}, depth {:.2}", t.cells, t.epochs, t.width, t.depth)?;
        }
        if !s.answers.is_empty() {
            writeln!(
                f,
                "\n{:<12} {:>7} {:>12} {:>12} {:>8}  width,depth: answers",
                "answers", "n", "width", "depth", "acc@200"
            )?;
            for p in &s.answers {
                let counts: Vec<String> = p.counts.iter().map(|(k, n)| format!("{k}: {n}")).collect();
                writeln!(
                    f,
                    "{:<12} {:>7} {:>5.2} ± {:<4.2} {:>5.2} ± {:<4.2} {:>8.2}  {}",
                    p.label,
                    p.answers,
                    p.width.0,
                    p.width.1,
                    p.depth.0,
                    p.depth.1,
                    p.accuracy_200,
                    counts.join(", ")
                )?;
            }
        }
        Ok(())
    }
}

/// `nas analyze convergence`: wide-and-shallow against deep-and-narrow cells of equal parameter
/// count, trained on real images.
#[derive(Clone, Debug, Args, Serialize)]
pub struct ConvergenceConfig {
    /// The search space.
    #[arg(long, default_value = "nb201", value_parser = vocab::space())]
    pub space: SpaceId,
    /// The images. Here: the training set, a CIFAR-10 binary file.
    #[arg(long, value_name = "FILE")]
    pub images: PathBuf,
    /// Test images (CIFAR-10 binary layout), evaluated in eval mode after training.
    #[arg(long, value_name = "FILE")]
    pub test_images: Option<PathBuf>,
    /// Epochs to train.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Channels of the first stage.
    #[arg(long = "C", default_value_t = 8)]
    pub channels: usize,
    /// Cells per stage.
    #[arg(long = "N", default_value_t = 1)]
    pub cells: usize,
    /// Images per batch. Here: per training step (the last partial batch of an epoch is kept).
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Pairs of cells (one wide and shallow, one deep and narrow, of equal parameter count).
    #[arg(long, default_value_t = 4)]
    pub pairs: usize,
    /// Training seeds per cell (seed, seed + 1, ...).
    #[arg(long, default_value_t = 3)]
    pub seeds: usize,
    /// Seed of every random choice of the command. Here: which cells of each parameter count, and the
    /// first training seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The training loss that counts as converged (default: the median final loss of all runs).
    #[arg(long)]
    pub loss_threshold: Option<f64>,
    /// Directory of the runs' checkpoints and results: an interrupted study resumes from it.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// An SVG plot. Here: training loss and gradient variance per epoch, wide against deep cells.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Which side of the comparison a cell is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CellClass {
    /// Width 3, depth 2: the widest and shallowest cells NB201 has whose input reaches every node.
    WideShallow,
    /// Width 1, depth 3: the chain 0-1-2-3.
    DeepNarrow,
}

impl CellClass {
    fn of(t: CellTopology) -> Option<Self> {
        match (t.width, t.depth) {
            (3, 2) => Some(CellClass::WideShallow),
            (1, 3) => Some(CellClass::DeepNarrow),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            CellClass::WideShallow => "wide-shallow (w3 d2)",
            CellClass::DeepNarrow => "deep-narrow (w1 d3)",
        }
    }
}

/// One training run's curves, as cached in the state directory.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ConvergenceRun {
    /// The training seed.
    pub seed: u64,
    /// Mean training loss per epoch.
    pub train_loss: Vec<f64>,
    /// Gradient variance per epoch (see `nas_kernels::train::EpochMetrics`).
    pub gradient_variance: Vec<f64>,
    /// Test accuracy after training (%), with --test-images.
    pub test_accuracy: Option<f64>,
    /// First epoch whose loss is at most the threshold (`None`: never).
    #[serde(default)]
    pub epochs_to_threshold: Option<usize>,
}

/// One cell of the study and its runs.
#[derive(Clone, Debug, Serialize)]
pub struct ConvergenceCell {
    /// Its side of the comparison.
    pub class: CellClass,
    /// The architecture, official string.
    pub arch: String,
    /// Its ops code.
    pub ops: String,
    /// Trainable parameters at the study's C and N.
    pub params: u64,
    /// The benchmark's CIFAR-10 test accuracy after 12 epochs, when the table is there.
    pub table_accuracy_12: Option<f64>,
    /// The benchmark's CIFAR-10 test accuracy after 200 epochs, when the table is there.
    pub table_accuracy_200: Option<f64>,
    /// Its runs, one per seed.
    pub runs: Vec<ConvergenceRun>,
}

/// Mean figures of one side.
#[derive(Clone, Debug, Serialize)]
pub struct ClassSummary {
    /// The side.
    pub class: CellClass,
    /// Mean ± std over runs of the final training loss.
    pub final_loss: (f64, f64),
    /// Mean ± std over runs of the loss after the first epoch.
    pub first_epoch_loss: (f64, f64),
    /// Mean over runs of the epochs to the threshold (runs that never reach it count as epochs + 1).
    pub epochs_to_threshold: f64,
    /// Runs that reached the threshold.
    pub reached: usize,
    /// Mean over runs and epochs of the gradient variance.
    pub gradient_variance: f64,
    /// Mean ± std over runs of the test accuracy (%).
    pub test_accuracy: Option<(f64, f64)>,
    /// Mean over cells of the benchmark's 200-epoch CIFAR-10 test accuracy (%).
    pub table_accuracy_200: Option<f64>,
    /// Mean over cells of the benchmark's 12-epoch CIFAR-10 test accuracy (%).
    pub table_accuracy_12: Option<f64>,
}

/// The report of `nas analyze convergence`.
#[derive(Clone, Debug, Serialize)]
pub struct ConvergenceReport {
    /// Epochs per run.
    pub epochs: usize,
    /// Channels and cells per stage.
    #[serde(rename = "C")]
    pub channels: usize,
    /// Cells per stage.
    #[serde(rename = "N")]
    pub cells_per_stage: usize,
    /// Training images.
    pub images: String,
    /// The loss threshold of `epochs_to_threshold`.
    pub loss_threshold: f64,
    /// Every cell and its runs.
    pub cells: Vec<ConvergenceCell>,
    /// Per side.
    pub summary: Vec<ClassSummary>,
    /// Wall time (s).
    pub seconds: f64,
}

/// Picks `pairs` parameter counts that both sides have (spread over the common ones), one cell of
/// each side per count (seeded), with no dead edge (every op not `none` is live).
fn pick_cells(
    config: &ConvergenceConfig,
    space: &Nb201Space,
) -> anyhow::Result<Vec<(CellClass, nas_core::Genotype, u64)>> {
    use rand::{SeedableRng, seq::IndexedRandom};
    let mut by_params: BTreeMap<(u64, u8), Vec<nas_core::Genotype>> = BTreeMap::new();
    for g in space.enumerate() {
        let t = Nb201Space::topology(&g);
        let live_ops = g.0.iter().filter(|&&op| op != nas_spaces::nb201::NONE).count();
        let Some(class) = CellClass::of(t) else { continue };
        // The wide cells hold 5 live edges, the chain 3: a cell with more non-none ops has dead ones.
        if live_ops != if class == CellClass::WideShallow { 5 } else { 3 } {
            continue;
        }
        let params = space.to_network(&g)?.counts().params;
        by_params.entry((params, class as u8)).or_default().push(g);
    }
    // The smallest count is that of cells without a convolution (pools and skips only): left out.
    let common: Vec<u64> = by_params
        .keys()
        .filter(|(p, c)| {
            *c == CellClass::WideShallow as u8 && by_params.contains_key(&(*p, CellClass::DeepNarrow as u8))
        })
        .map(|(p, _)| *p)
        .skip(1)
        .collect();
    if common.len() < config.pairs {
        bail!("invalid --pairs {}: only {} parameter counts have both wide and deep cells", config.pairs, common.len());
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    let mut cells = Vec::new();
    for k in 0..config.pairs {
        // Spread over the common counts, smallest to largest.
        let p = common[if config.pairs == 1 { 0 } else { k * (common.len() - 1) / (config.pairs - 1) }];
        for class in [CellClass::WideShallow, CellClass::DeepNarrow] {
            let g = by_params[&(p, class as u8)].choose(&mut rng).context("a non-empty group")?;
            cells.push((class, g.clone(), p));
        }
    }
    Ok(cells)
}

/// Trains every chosen cell with every seed (resuming from the state directory), then compares
/// the two sides.
pub fn convergence(config: &ConvergenceConfig, data: &DataDir) -> anyhow::Result<ConvergenceReport> {
    config.space.require("analyze convergence", &[SpaceId::Nb201])?;
    let started = std::time::Instant::now();
    if config.pairs == 0 || config.seeds == 0 || config.epochs == 0 {
        bail!(
            "invalid --pairs {} --seeds {} --epochs {}: each must be at least 1",
            config.pairs,
            config.seeds,
            config.epochs
        );
    }
    let space = Nb201Space::new(nas_spaces::Nb201Config {
        channels: config.channels,
        cells_per_stage: config.cells,
        ..nas_spaces::Nb201Config::for_dataset("cifar10")?
    });
    let table = Nb201Table::load(data).ok();
    let mut cells = Vec::new();
    for (class, g, params) in pick_cells(config, &space)? {
        let ops = Nb201Space::ops_code(&g);
        let mut runs = Vec::new();
        for s in 0..config.seeds as u64 {
            runs.push(train_cell(config, &ops, config.seed + s, data)?);
        }
        let table_accuracy = |epochs| {
            let t = table.as_ref()?;
            t.accuracy(t.index_of(&g)?, Dataset::Cifar10, Split::Test, epochs).ok().flatten()
        };
        cells.push(ConvergenceCell {
            class,
            arch: space.format(&g),
            ops,
            params,
            table_accuracy_12: table_accuracy(Epochs::E12),
            table_accuracy_200: table_accuracy(Epochs::E200),
            runs,
        });
    }
    let mut finals: Vec<f64> =
        cells.iter().flat_map(|c| &c.runs).filter_map(|r| r.train_loss.last().copied()).collect();
    finals.sort_by(f64::total_cmp);
    let threshold = config.loss_threshold.unwrap_or_else(|| finals.get(finals.len() / 2).copied().unwrap_or(f64::NAN));
    for run in cells.iter_mut().flat_map(|c| c.runs.iter_mut()) {
        run.epochs_to_threshold = run.train_loss.iter().position(|&l| l <= threshold).map(|e| e + 1);
    }
    let summary = [CellClass::WideShallow, CellClass::DeepNarrow]
        .into_iter()
        .map(|class| {
            let side: Vec<&ConvergenceCell> = cells.iter().filter(|c| c.class == class).collect();
            let runs: Vec<&ConvergenceRun> = side.iter().flat_map(|c| &c.runs).collect();
            let stat = |f: &dyn Fn(&ConvergenceRun) -> Option<f64>| {
                mean_std(&runs.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
            };
            let tests: Vec<f64> = runs.iter().filter_map(|r| r.test_accuracy).collect();
            let table_mean = |f: fn(&ConvergenceCell) -> Option<f64>| {
                let v: Vec<f64> = side.iter().filter_map(|c| f(c)).collect();
                (!v.is_empty()).then(|| mean_std(&v).0)
            };
            ClassSummary {
                class,
                final_loss: stat(&|r| r.train_loss.last().copied()),
                first_epoch_loss: stat(&|r| r.train_loss.first().copied()),
                epochs_to_threshold: stat(&|r| Some(r.epochs_to_threshold.unwrap_or(config.epochs + 1) as f64)).0,
                reached: runs.iter().filter(|r| r.epochs_to_threshold.is_some()).count(),
                gradient_variance: mean_std(
                    &runs.iter().flat_map(|r| r.gradient_variance.iter().copied()).collect::<Vec<_>>(),
                )
                .0,
                test_accuracy: (!tests.is_empty()).then(|| mean_std(&tests)),
                table_accuracy_200: table_mean(|c| c.table_accuracy_200),
                table_accuracy_12: table_mean(|c| c.table_accuracy_12),
            }
        })
        .collect();
    let report = ConvergenceReport {
        epochs: config.epochs,
        channels: config.channels,
        cells_per_stage: config.cells,
        images: config.images.display().to_string(),
        loss_threshold: threshold,
        cells,
        summary,
        seconds: started.elapsed().as_secs_f64(),
    };
    if let Some(path) = &config.plot {
        nas_core::fsio::write_atomic(path, convergence_svg(&report).as_bytes())
            .with_context(|| format!("cannot write the plot {}", path.display()))?;
    }
    Ok(report)
}

/// One run of `nas train` (resumed from its checkpoint, or read from its result, in the state
/// directory).
fn train_cell(config: &ConvergenceConfig, ops: &str, seed: u64, data: &DataDir) -> anyhow::Result<ConvergenceRun> {
    let cell = crate::train::CellTraining {
        ops,
        images: &config.images,
        test_images: config.test_images.as_deref(),
        epochs: config.epochs,
        channels: config.channels,
        cells: config.cells,
        batch: config.batch,
        seed,
        threads: config.threads,
    };
    cell.cached(config.state_dir.as_deref(), "json", 1 << 20, data, |outcome, _| {
        let history = &outcome.report.history;
        Ok(ConvergenceRun {
            seed,
            train_loss: history.iter().map(|m| m.train_loss).collect(),
            gradient_variance: history.iter().map(|m| m.gradient_variance).collect(),
            test_accuracy: outcome.report.test_accuracy,
            epochs_to_threshold: None,
        })
    })
}

fn convergence_svg(r: &ConvergenceReport) -> String {
    let series = |f: fn(&ConvergenceRun) -> &Vec<f64>| {
        r.cells
            .iter()
            .flat_map(|c| c.runs.iter().map(move |run| (c.class.label().to_string(), f(run))))
            .map(|(name, v)| (name, v.iter().enumerate().map(|(e, &y)| ((e + 1) as f64, y)).collect()))
            .collect()
    };
    let subtitle = format!(
        "C={} N={}, {} cells x {} seeds",
        r.channels,
        r.cells_per_stage,
        r.cells.len(),
        r.cells.first().map_or(0, |c| c.runs.len())
    );
    plot::lines_svg(&[
        plot::Lines {
            title: "training loss".into(),
            subtitle: subtitle.clone(),
            x_label: "epoch".into(),
            y_label: "cross-entropy (mean over the epoch)".into(),
            series: series(|run| &run.train_loss),
        },
        plot::Lines {
            title: "gradient variance".into(),
            subtitle,
            x_label: "epoch".into(),
            y_label: "variance per parameter".into(),
            series: series(|run| &run.gradient_variance),
        },
    ])
}

impl fmt::Display for ConvergenceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "wide-shallow against deep-narrow NB201 cells of equal parameter count, C={} N={}, {} epochs on {}",
            self.channels, self.cells_per_stage, self.epochs, self.images
        )?;
        writeln!(
            f,
            "\n{:<22} {:<8} {:>8} {:>12} {:>12} {:>10}  arch",
            "class", "ops", "params", "final loss", "table 12/200", "test acc"
        )?;
        for c in &self.cells {
            let finals: Vec<f64> = c.runs.iter().filter_map(|r| r.train_loss.last().copied()).collect();
            let tests: Vec<f64> = c.runs.iter().filter_map(|r| r.test_accuracy).collect();
            let (l, ls) = mean_std(&finals);
            let table = match (c.table_accuracy_12, c.table_accuracy_200) {
                (Some(a), Some(b)) => format!("{a:.1}/{b:.1}"),
                _ => "-".into(),
            };
            let test = if tests.is_empty() { "-".into() } else { format!("{:.2}", mean_std(&tests).0) };
            writeln!(
                f,
                "{:<22} {:<8} {:>8} {:>6.3}±{:<5.3} {:>12} {:>10}  {}",
                c.class.label(),
                c.ops,
                c.params,
                l,
                ls,
                table,
                test,
                c.arch
            )?;
        }
        writeln!(f, "\nloss threshold {:.4}", self.loss_threshold)?;
        writeln!(
            f,
            "{:<22} {:>14} {:>14} {:>12} {:>12} {:>14} {:>12}",
            "class", "epoch-1 loss", "final loss", "epochs to thr", "grad var", "test acc", "table 12/200"
        )?;
        for s in &self.summary {
            let test = s.test_accuracy.map_or("-".into(), |(m, d)| format!("{m:.2}±{d:.2}"));
            let table = match (s.table_accuracy_12, s.table_accuracy_200) {
                (Some(a), Some(b)) => format!("{a:.1}/{b:.1}"),
                _ => "-".into(),
            };
            writeln!(
                f,
                "{:<22} {:>8.3}±{:<5.3} {:>8.3}±{:<5.3} {:>8.2} ({}) {:>12.3e} {:>14} {:>12}",
                s.class.label(),
                s.first_epoch_loss.0,
                s.first_epoch_loss.1,
                s.final_loss.0,
                s.final_loss.1,
                s.epochs_to_threshold,
                s.reached,
                s.gradient_variance,
                test,
                table
            )?;
        }
        writeln!(f, "({:.1} s)", self.seconds)
    }
}
