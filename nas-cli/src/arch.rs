//! `nas arch show|dot`: one architecture's decisions, network graph, counts and benchmark accuracies.

use std::collections::BTreeMap;
use std::fmt;

use clap::Args;
use nas_core::{Genotype, SearchSpace};
use nas_spaces::nb201::{Nb201Config, Nb201Space, OPS};
use nas_spaces::nb201_table::accuracy_column;
use nas_spaces::{DataDir, Dataset, Epochs, FbnetSpace, Nb201Table, SpaceId, Split};
use serde::Serialize;

use crate::vocab;

/// Which architecture: its space and its text.
#[derive(Clone, Debug, Args, Serialize)]
pub struct ArchConfig {
    /// The architecture. NB201: the official string (|op~0|+|op~0|op~1|+|...|), a 6-digit ops code
    /// such as 421211, or a row index of the benchmark table; FBNet: an arch_str or op_idx_list.
    pub arch: String,
    /// The search space. Default: judged from the architecture's form.
    #[arg(long, value_parser = vocab::space())]
    pub space: Option<SpaceId>,
}

impl ArchConfig {
    /// The space and genotype named.
    pub fn resolve(&self, data: &DataDir) -> anyhow::Result<(SpaceId, Genotype)> {
        let id = self.space.unwrap_or_else(|| SpaceId::of_arch(&self.arch));
        Ok((id, id.parse_arch(&self.arch, data)?))
    }
}

/// An edge (NB201) or layer (FBNet) and its operation.
#[derive(Clone, Debug, Serialize)]
pub struct DecisionValue {
    /// The cell edge or layer.
    pub edge: String,
    /// The operation or block chosen.
    pub op: String,
}

/// Params and FLOPs of the network for one dataset's head.
#[derive(Clone, Debug, Serialize)]
pub struct Counts {
    /// Trainable parameters.
    pub params: u64,
    /// Multiply-adds per image.
    pub flops: u64,
}

/// The lowered network in numbers.
#[derive(Clone, Debug, Serialize)]
pub struct GraphSummary {
    /// Nodes of the lowered graph.
    pub nodes: usize,
    /// Edges of the lowered graph.
    pub edges: usize,
    /// The architecture's ops code.
    pub ops: BTreeMap<String, usize>,
    /// Shape of the network's output.
    pub output: Option<String>,
}

/// The report of `nas arch show`.
#[derive(Clone, Debug, Serialize)]
pub struct ArchReport {
    /// The search space.
    pub space: SpaceId,
    /// The architecture, official string.
    pub arch: String,
    /// NB201's 6-digit ops code, FBNet's op_idx_list.
    pub ops: String,
    /// Row index of the benchmark table.
    pub idx: Option<usize>,
    /// Index of the isomorphism class's representative.
    pub iso_rep_idx: Option<usize>,
    /// The architecture's isomorphism-class representative.
    pub canonical: String,
    /// The space's decisions.
    pub decisions: Vec<DecisionValue>,
    /// Trainable parameters.
    pub params: u64,
    /// Multiply-adds per image.
    pub flops: u64,
    /// Params and FLOPs per dataset's network.
    pub counts_by_dataset: BTreeMap<String, Counts>,
    /// The lowered network in numbers.
    pub graph: GraphSummary,
    /// Per dataset: `train`, `valid`, `test` and the 12-epoch `*_12` (%), when the table is there.
    pub accuracies: Option<BTreeMap<&'static str, BTreeMap<String, Option<f64>>>>,
    /// The benchmark's training time per dataset (s).
    pub train_time_s: Option<BTreeMap<&'static str, Option<f64>>>,
}

/// Describes one architecture.
pub fn show(config: &ArchConfig, data: &DataDir) -> anyhow::Result<ArchReport> {
    let (id, g) = config.resolve(data)?;
    let space = id.space();
    let net = space.to_network(&g)?;
    let counts = net.counts();
    let mut counts_by_dataset = BTreeMap::new();
    let (ops, table) = match id {
        SpaceId::Nb201 => {
            for d in ["cifar10", "cifar100", "ImageNet16-120"] {
                let c = Nb201Space::new(Nb201Config::for_dataset(d)?).to_network(&g)?.counts();
                counts_by_dataset.insert(d.to_string(), Counts { params: c.params, flops: c.flops });
            }
            let table = match Nb201Table::load(data) {
                Ok(t) => Some(t),
                Err(e) => {
                    eprintln!("note: no benchmark accuracies: {e}");
                    None
                }
            };
            (Nb201Space::ops_code(&g), table)
        }
        SpaceId::Fbnet => {
            counts_by_dataset.insert("cifar100".into(), Counts { params: counts.params, flops: counts.flops });
            (FbnetSpace::format_idx(&g), None)
        }
    };
    let idx = table.as_ref().and_then(|t| t.index_of(&g));
    let (accuracies, train_time_s) = match (&table, idx) {
        (Some(t), Some(i)) => (Some(accuracies(t, i)?), Some(train_times(t, i))),
        _ => (None, None),
    };
    let decisions = space
        .decisions()
        .iter()
        .zip(&g.0)
        .map(|(d, &c)| DecisionValue {
            edge: d.name.clone(),
            op: if id == SpaceId::Nb201 { OPS[c].to_string() } else { d.choices[c].to_string() },
        })
        .collect();
    let ops_histogram = net.op_histogram().into_iter().map(|(k, n)| (k.to_string(), n)).collect();
    Ok(ArchReport {
        space: id,
        arch: space.format(&g),
        ops,
        idx,
        iso_rep_idx: idx.and_then(|i| table.as_ref().and_then(|t| t.iso_rep(i))),
        canonical: space.format(&space.canonical(&g)),
        decisions,
        params: counts.params,
        flops: counts.flops,
        counts_by_dataset,
        graph: GraphSummary {
            nodes: net.len(),
            edges: net.graph().edge_count(),
            ops: ops_histogram,
            output: net.output_shape().map(|s| s.to_string()),
        },
        accuracies,
        train_time_s,
    })
}

/// Graphviz source of the cell (NB201), or of the whole network.
pub fn dot(config: &ArchConfig, full: bool, data: &DataDir) -> anyhow::Result<String> {
    let (id, g) = config.resolve(data)?;
    if full || id != SpaceId::Nb201 {
        return Ok(id.space().to_network(&g)?.to_dot());
    }
    Ok(Nb201Space::cell_dot(&g))
}

fn accuracies(t: &Nb201Table, idx: usize) -> anyhow::Result<BTreeMap<&'static str, BTreeMap<String, Option<f64>>>> {
    let mut out = BTreeMap::new();
    for d in Dataset::ALL {
        let mut m = BTreeMap::new();
        for (split, name) in [(Split::Train, "train"), (Split::Valid, "valid"), (Split::Test, "test")] {
            for (epochs, suffix) in [(Epochs::E200, ""), (Epochs::E12, "_12")] {
                if let Some(col) = accuracy_column(d, split, epochs)
                    && t.column(col).is_ok()
                {
                    m.insert(format!("{name}{suffix}"), t.value(idx, col)?);
                }
            }
        }
        out.insert(d.name(), m);
    }
    Ok(out)
}

fn train_times(t: &Nb201Table, idx: usize) -> BTreeMap<&'static str, Option<f64>> {
    let mut out = BTreeMap::new();
    for d in [Dataset::Cifar10Valid, Dataset::Cifar100, Dataset::ImageNet16] {
        if let Ok(v) = t.train_time_s(idx, d, Epochs::E200) {
            out.insert(d.name(), v);
        }
    }
    out
}

impl fmt::Display for ArchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "arch       {}", self.arch)?;
        if self.space == SpaceId::Nb201 {
            writeln!(f, "ops        {}   (digits index {})", self.ops, OPS.join(", "))?;
        } else {
            writeln!(f, "ops        {}", self.ops)?;
        }
        if let Some(i) = self.idx {
            let iso = self.iso_rep_idx.map_or("-".to_string(), |r| r.to_string());
            writeln!(f, "idx        {i}   iso_rep_idx {iso}")?;
        }
        writeln!(f, "canonical  {}", self.canonical)?;
        for d in &self.decisions {
            writeln!(f, "  {:<10} {}", d.edge, d.op)?;
        }
        let g = &self.graph;
        writeln!(f, "graph      {} nodes, {} edges, output {}", g.nodes, g.edges, g.output.as_deref().unwrap_or(""))?;
        let ops: Vec<String> = g.ops.iter().map(|(k, n)| format!("{k} {n}")).collect();
        writeln!(f, "           {}", ops.join(", "))?;
        let head = if self.space == SpaceId::Nb201 { "CIFAR-10" } else { "CIFAR-100" };
        writeln!(f, "params     {} ({:.6} M, {head} head)", self.params, self.params as f64 / 1e6)?;
        writeln!(f, "flops      {} ({:.6} M multiply-adds, {head})", self.flops, self.flops as f64 / 1e6)?;
        if let Some(acc) = &self.accuracies {
            writeln!(f, "accuracy (%, 200 epochs / 12 epochs)")?;
            for d in Dataset::ALL {
                let Some(v) = acc.get(d.name()) else { continue };
                let fmt = |k: &str| v.get(k).copied().flatten().map_or("-".to_string(), |x| format!("{x:.2}"));
                writeln!(
                    f,
                    "  {:<15} valid {:>6} / {:>6}   test {:>6} / {:>6}",
                    d.name(),
                    fmt("valid"),
                    fmt("valid_12"),
                    fmt("test"),
                    fmt("test_12")
                )?;
            }
        }
        Ok(())
    }
}
