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
    /// Search answers to place, as LABEL=FILE (repeatable): the JSON of `nas search`, `nas oneshot`
    /// or any report with an `archs` list or an `arch` string of official NB201 strings.
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
    /// The file the answers came from.
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

/// Reads `LABEL=FILE` and places its answers.
fn place(spec: &str, table: &Nb201Table, dataset: Dataset) -> anyhow::Result<Placement> {
    let Some((label, file)) = spec.split_once('=').filter(|(l, f)| !l.is_empty() && !f.is_empty()) else {
        bail!("invalid --answers {spec:?}: expected LABEL=FILE");
    };
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
    let mut topologies = Vec::new();
    let mut accuracy = Vec::new();
    for arch in &archs {
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
    let panel = |title: &str, value: fn(&Group) -> f64, decimals: usize, markers: bool| {
        let mut cells = vec![vec![None; 4]; 4];
        let mut cut_off = 0;
        for g in &s.groups {
            match (g.width, g.depth) {
                // The cells whose output is cut off (10 %, constant) would flatten the colour scale.
                (Some(0), _) => cut_off += g.cells,
                (Some(w), Some(d)) => cells[d][w] = Some((value(g), format!("n={}", g.cells))),
                _ => {}
            }
        }
        let markers = if markers {
            s.answers.iter().map(|p| (p.width.0, p.depth.0, p.label.clone())).collect()
        } else {
            Vec::new()
        };
        plot::Grid {
            title: title.to_string(),
            subtitle: format!("{} test, mean per cell group; {cut_off} cut-off cells left out", s.dataset.name()),
            x_label: "width (live edges leaving the input)".into(),
            y_label: "depth (edges on the longest path)".into(),
            columns: (0..=3).map(|w| w.to_string()).collect(),
            rows: (0..=3).map(|d| d.to_string()).collect(),
            cells,
            decimals,
            markers,
        }
    };
    plot::grid_svg(&[
        panel("accuracy after 12 epochs (%)", |g| g.accuracy_12, 1, false),
        panel("accuracy after 200 epochs (%), answers' mean", |g| g.accuracy_200, 1, true),
        panel("rank gain: 12-epoch minus 200-epoch percentile", |g| g.rank_gain, 1, false),
    ])
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
