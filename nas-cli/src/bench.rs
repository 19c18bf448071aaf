//! `nas bench top|nats`: the benchmark table's best architectures, and one architecture's record
//! from the official NATS-Bench files.

use std::fmt;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use nas_spaces::{DataDir, Dataset, Epochs, Nb201Table, Split};
use serde::Serialize;

use crate::vocab;

/// `nas bench top`: which accuracy ranks, how many to list.
#[derive(Clone, Debug, Args, Serialize)]
pub struct TopConfig {
    /// The benchmark dataset. Here: whose accuracy ranks.
    #[arg(long, default_value = "cifar10", value_parser = vocab::dataset(), ignore_case = true)]
    pub dataset: Dataset,
    /// The split of the accuracy. Here: of the --hp schedule.
    #[arg(long, default_value = "test", value_parser = vocab::split())]
    pub metric: Split,
    /// The benchmark's training schedule, 12 or 200 epochs. Here: of the accuracy that ranks.
    #[arg(long = "hp", alias = "epochs", default_value = "200", value_parser = vocab::hp())]
    pub hp: Epochs,
    /// How many architectures to list.
    #[arg(short, long, default_value_t = 10)]
    pub k: usize,
}

/// One listed architecture.
#[derive(Clone, Debug, Serialize)]
pub struct TopRow {
    /// Row index of the benchmark table.
    pub idx: usize,
    /// The architecture, official string.
    pub arch: String,
    /// The ranking accuracy (%).
    pub value: f64,
}

/// The report of `nas bench top`: the rows, best first (JSON: the array alone).
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct TopReport {
    /// The listed architectures, best first.
    pub rows: Vec<TopRow>,
}

/// The `k` best architectures of the table by one accuracy.
pub fn top(config: &TopConfig, data: &DataDir) -> anyhow::Result<TopReport> {
    if config.k == 0 {
        bail!("invalid -k 0: list at least one architecture");
    }
    let table = Nb201Table::load(data)?;
    let k = config.k.min(table.len());
    let rows = table
        .top(config.dataset, config.metric, config.hp, k)?
        .into_iter()
        .map(|(idx, value)| TopRow { idx, arch: table.arch(idx).unwrap_or_default().to_string(), value })
        .collect();
    Ok(TopReport { rows })
}

impl fmt::Display for TopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:>4}  {:>5}  {:>7}  arch", "rank", "idx", "value")?;
        for (rank, r) in self.rows.iter().enumerate() {
            writeln!(f, "{:>4}  {:>5}  {:>7.2}  {}", rank + 1, r.idx, r.value, r.arch)?;
        }
        Ok(())
    }
}

/// `nas bench nats`: one architecture of the official NATS-Bench topology files.
#[derive(Clone, Debug, Args, Serialize)]
pub struct NatsConfig {
    /// Architecture index (0..15624).
    pub idx: usize,
    /// The benchmark directory (default: nats/NATS-tss-v1_0-3ffb9-simple in the data directory).
    #[arg(long, value_name = "DIR")]
    pub nats_dir: Option<PathBuf>,
    /// The benchmark's training schedule, 12 or 200 epochs. Here: of the record's results.
    #[arg(long, default_value = "200", value_parser = vocab::hp())]
    pub hp: Epochs,
}

/// One dataset's results in a NATS record.
#[derive(Clone, Debug, Serialize)]
pub struct NatsDataset {
    /// The benchmark dataset.
    pub dataset: String,
    /// Training seeds in the record.
    pub seeds: usize,
    /// Training accuracy (%).
    pub train: Option<f64>,
    /// Validation accuracy (%).
    pub valid: Option<f64>,
    /// Test accuracy (%).
    pub test: Option<f64>,
}

/// The report of `nas bench nats`.
#[derive(Clone, Debug, Serialize)]
pub struct NatsReport {
    /// Row index of the benchmark table.
    pub idx: usize,
    /// The architecture, official string.
    pub arch: String,
    /// The schedule, `"12"` or `"200"`.
    pub hp: &'static str,
    /// Results per dataset.
    pub datasets: Vec<NatsDataset>,
}

/// Reads one architecture's record.
pub fn nats(config: &NatsConfig, data: &DataDir) -> anyhow::Result<NatsReport> {
    const SIZE: usize = nas_spaces::nb201::SIZE;
    if config.idx >= SIZE {
        bail!("invalid architecture index {}: NATS-Bench's topology space has indices 0..{}", config.idx, SIZE - 1);
    }
    let dir = config.nats_dir.clone().unwrap_or_else(|| data.path.join("nats/NATS-tss-v1_0-3ffb9-simple"));
    let hp = if config.hp == Epochs::E12 { "12" } else { "200" };
    let record = nas_spaces::nats::read_arch(&dir, config.idx)?;
    let schedule = record.schedule(hp)?;
    let datasets = schedule
        .datasets
        .iter()
        .map(|d| NatsDataset {
            dataset: d.name.clone(),
            seeds: d.runs.len(),
            train: d.train_acc(),
            valid: d.valid_acc(),
            test: d.test_acc(),
        })
        .collect();
    Ok(NatsReport { idx: config.idx, arch: record.arch_str.clone(), hp, datasets })
}

impl fmt::Display for NatsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "idx {}  {}  ({} epochs)", self.idx, self.arch, self.hp)?;
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.2}"));
        for d in &self.datasets {
            writeln!(
                f,
                "  {:<15} seeds {}  train {:>6}  valid {:>6}  test {:>6}",
                d.dataset,
                d.seeds,
                fmt(d.train),
                fmt(d.valid),
                fmt(d.test)
            )?;
        }
        Ok(())
    }
}
