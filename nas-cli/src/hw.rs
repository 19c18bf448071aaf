//! `nas cost` and `nas hw fit|eval|measure`: the hardware cost of an architecture, and latency and
//! energy models fitted to measured data (HW-NAS-Bench for NB201, HELP for FBNet, or this CPU).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use nas_core::Genotype;
use nas_hw::data::{Layout, Measurement, Measurements};
use nas_hw::model::{self, Fitted, LatencyModel, ModelKind};
use nas_spaces::{DataDir, Dataset, Nb201Table, SpaceId};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::plot;
use crate::score::sample_distinct;
use crate::vocab;

/// The most architectures `nas hw measure` times in one command.
pub const MAX_MEASURED: usize = 100_000;

/// The unit of a measurement column: mJ for energy columns, ms otherwise.
pub fn unit(column: &str) -> &'static str {
    if column.contains("energy") { "mJ" } else { "ms" }
}

/// A fitted model read from its JSON file.
pub fn read_model(path: &Path) -> anyhow::Result<LatencyModel> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let model: LatencyModel =
        serde_json::from_str(&text).with_context(|| format!("{} is not a fitted model", path.display()))?;
    Ok(model)
}

/// A content key of a file: its size and a 64-bit FNV-1a hash of its bytes. A model records the key
/// of the file it was fitted on, so that evaluation knows whether its training rows are there.
pub fn file_key(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("{}-{:016x}", bytes.len(), nas_core::hash::fnv1a64(&bytes)))
}

/// `nas cost`: one architecture on one device.
#[derive(Clone, Debug, Args, Serialize)]
pub struct CostConfig {
    /// The device. Here: a roofline preset (edgegpu, raspi4, pixel3, edgetpu).
    #[arg(long)]
    pub device: String,
    /// The architecture. NB201: official string, 6-digit ops code or table index; FBNet: arch_str or
    /// op_idx_list.
    #[arg(long)]
    pub arch: String,
    /// The search space. Default: judged from the architecture's form.
    #[arg(long, value_parser = vocab::space())]
    pub space: Option<SpaceId>,
    /// A fitted model from `nas hw fit`. Here: latency or energy models to price the architecture
    /// with as well; repeat for several.
    #[arg(long, value_name = "FILE")]
    pub model: Vec<PathBuf>,
}

/// The report of `nas cost`.
#[derive(Clone, Debug, Serialize)]
pub struct CostReport {
    /// The search space.
    pub space: SpaceId,
    /// The device.
    pub device: &'static str,
    /// Where the device preset's figures come from.
    pub device_source: &'static str,
    /// Trainable parameters.
    pub params: u64,
    /// Multiply-adds per image.
    pub flops: u64,
    /// Bytes read and written by every op.
    pub memory_traffic_bytes: u64,
    /// Largest activation memory held at once.
    pub peak_activation_bytes: u64,
    /// Roofline latency (ms).
    pub roofline_latency_ms: f64,
    /// The first fitted latency model's prediction (ms).
    pub fitted_latency_ms: Option<f64>,
    /// Every fitted model's prediction by its column (ms or mJ).
    pub fitted: BTreeMap<String, f64>,
    /// HW-NAS-Bench's measured latency and energy on the device (NB201, CIFAR-10 rows).
    pub measured: Option<BTreeMap<String, f64>>,
}

/// Prices one architecture.
pub fn cost(config: &CostConfig, data: &DataDir) -> anyhow::Result<CostReport> {
    let device = nas_hw::roofline::device(&config.device)?;
    let id = config.space.unwrap_or_else(|| SpaceId::of_arch(&config.arch));
    let g = id.parse_arch(&config.arch, data)?;
    let space = id.space();
    let net = space.to_network(&g)?;
    let f = nas_hw::footprint::footprint(&net);
    let mut fitted = BTreeMap::new();
    let mut fitted_latency_ms = None;
    for p in &config.model {
        let model = read_model(p)?;
        if model.space != id.name() {
            bail!("{} is a model for space {}, the architecture is {}", p.display(), model.space, id);
        }
        let v = model.predict(&g)?;
        if unit(&model.device) == "ms" && fitted_latency_ms.is_none() {
            fitted_latency_ms = Some(v);
        }
        fitted.insert(model.device.clone(), v);
    }
    Ok(CostReport {
        space: id,
        device: device.name,
        device_source: device.source,
        params: f.params,
        flops: f.flops,
        memory_traffic_bytes: f.memory_traffic_bytes,
        peak_activation_bytes: f.peak_activation_bytes,
        roofline_latency_ms: nas_hw::roofline::latency_ms(&f, device),
        fitted_latency_ms,
        fitted,
        measured: measured_on(device.name, id, &g, data)?,
    })
}

impl fmt::Display for CostReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "space {}  device {}", self.space, self.device)?;
        writeln!(
            f,
            "params {}  FLOPs {}  memory traffic {} B  peak activation {} B",
            self.params, self.flops, self.memory_traffic_bytes, self.peak_activation_bytes
        )?;
        writeln!(f, "roofline latency {:.4} ms ({})", self.roofline_latency_ms, self.device_source)?;
        for (column, value) in &self.fitted {
            writeln!(f, "fitted {column} {value:.4} {}", unit(column))?;
        }
        for (column, value) in self.measured.iter().flatten() {
            writeln!(f, "measured {column} {value:.4} {} (HW-NAS-Bench, cifar10)", unit(column))?;
        }
        Ok(())
    }
}

/// HW-NAS-Bench's measured latency and energy of an NB201 architecture on `device` (CIFAR-10 rows),
/// when the benchmark files are in the data directory; `None` otherwise.
fn measured_on(
    device: &str,
    space: SpaceId,
    g: &Genotype,
    data: &DataDir,
) -> anyhow::Result<Option<BTreeMap<String, f64>>> {
    let files = [nas_spaces::hw_nas_bench::FILE, nas_spaces::nb201_table::FILE];
    if space != SpaceId::Nb201 || !files.iter().all(|f| data.has(f)) {
        return Ok(None);
    }
    let Some(idx) = Nb201Table::load(data)?.index_of(g) else { return Ok(None) };
    let hw = nas_spaces::HwNasBench::load(data)?;
    let mut values = BTreeMap::new();
    for m in hw.metrics() {
        if m.starts_with(&format!("{device}_"))
            && (m.ends_with("_latency") || m.ends_with("_energy"))
            && let Some(v) = hw.value(idx, Dataset::Cifar10, m)?
        {
            values.insert(m.clone(), v);
        }
    }
    Ok(Some(values))
}

/// The measurements of one column of a file, with genotypes for NB201 indices from the table.
fn load(path: &Path, column: &str, space: SpaceId, dataset: Dataset, data: &DataDir) -> anyhow::Result<Measurements> {
    let table = if space == SpaceId::Nb201 { Some(Nb201Table::load(data)?) } else { None };
    let lookup = |idx: usize| table.as_ref().and_then(|t| t.genotype(idx).cloned());
    Ok(nas_hw::data::read(path, column, space.space().as_ref(), Some(dataset.name()), &lookup)?)
}

/// Row ids: `a..b` ranges and ids separated by commas or whitespace.
pub fn parse_ids(s: &str) -> anyhow::Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split([',', ' ', '\n', '\t']).map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once("..") {
            let (a, b): (usize, usize) = (
                a.parse().with_context(|| format!("bad row range {part:?}"))?,
                b.parse().with_context(|| format!("bad row range {part:?}"))?,
            );
            if b < a || b - a > 100_000_000 {
                bail!("bad row range {part:?}: expected a..b with a <= b");
            }
            out.extend(a..b);
        } else {
            out.push(part.parse().with_context(|| format!("bad row id {part:?}"))?);
        }
    }
    Ok(out)
}

fn select(rows: &[Measurement], ids: &[usize]) -> anyhow::Result<Vec<Measurement>> {
    let by_id: std::collections::HashMap<usize, &Measurement> = rows.iter().map(|m| (m.id, m)).collect();
    ids.iter()
        .map(|i| {
            by_id.get(i).map(|m| (*m).clone()).ok_or_else(|| anyhow::anyhow!("row {i} is not among the measured rows"))
        })
        .collect()
}

/// The kind of model `nas hw fit` fits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KindArg {
    /// NB201 only: the cell model, execution rules chosen by validation.
    Cell,
    /// An additive table, non-negative.
    Table,
}

/// `nas hw fit`: one measured column, which rows, which model.
#[derive(Clone, Debug, Args, Serialize)]
pub struct FitConfig {
    /// The search space.
    #[arg(long, value_parser = vocab::space())]
    pub space: SpaceId,
    /// The measured column, e.g. pixel3_latency (HW-NAS-Bench) or pixel3 (HELP).
    #[arg(long, alias = "device")]
    pub column: String,
    /// Measured rows, a CSV file. HW-NAS-Bench layout (idx,dataset,...) or HELP layout (arch_str /
    /// op_idx_list).
    #[arg(long, value_name = "CSV")]
    pub data: PathBuf,
    /// Fit on N rows (the first in file order, or N random ones with --seed) and hold out the rest;
    /// default: every row.
    #[arg(long, conflicts_with = "train_idx")]
    pub train_rows: Option<usize>,
    /// Fit on the row ids (the file's idx / fb_idx) listed in this file, whitespace or comma separated.
    #[arg(long, value_name = "FILE")]
    pub train_idx: Option<PathBuf>,
    /// Seed of every random choice of the command. Here: which --train-rows.
    #[arg(long)]
    pub seed: Option<u64>,
    /// The benchmark dataset. Here: of the rows of a HW-NAS-Bench layout file.
    #[arg(long, default_value = "cifar10", value_parser = vocab::dataset(), ignore_case = true)]
    pub dataset: Dataset,
    /// The model: cell (NB201 only, the default there) or table (additive, non-negative).
    #[arg(long = "model-kind", alias = "kind", value_enum)]
    pub kind: Option<KindArg>,
    /// Where the result is written. Here: the fitted model, JSON.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// The report of `nas hw fit`.
#[derive(Clone, Debug, Serialize)]
pub struct FitReport {
    /// The search space.
    pub space: SpaceId,
    /// The measured column fitted.
    pub column: String,
    /// The fitted model, in words.
    pub model: String,
    /// Rows the model was fitted on.
    pub train_rows: usize,
    /// Rows of the measurement file.
    pub rows: usize,
    /// Rows left out of the fit.
    pub held_out: usize,
    /// Where the model was written.
    pub out: String,
}

/// Fits a model and writes it to `config.out`.
pub fn fit(config: &FitConfig, data: &DataDir) -> anyhow::Result<FitReport> {
    let space = config.space;
    let m = load(&config.data, &config.column, space, config.dataset, data)?;
    let train: Vec<Measurement> = if let Some(file) = &config.train_idx {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        select(&m.rows, &parse_ids(&text)?)?
    } else {
        let n = config.train_rows.unwrap_or(m.rows.len());
        if n > m.rows.len() {
            bail!("invalid --train-rows {n}: the file has {} measured rows", m.rows.len());
        }
        let mut rows = m.rows.clone();
        if let Some(seed) = config.seed {
            rows.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        }
        rows.truncate(n);
        rows
    };
    let kind = match config.kind {
        Some(KindArg::Cell) if space != SpaceId::Nb201 => bail!("--kind cell is for --space nb201 only"),
        Some(KindArg::Cell) => ModelKind::Cell,
        Some(KindArg::Table) => ModelKind::Table,
        None if space == SpaceId::Nb201 => ModelKind::Cell,
        None => ModelKind::Table,
    };
    let (fitted, validation) = match kind {
        ModelKind::Cell => {
            let (f, acc) = model::fit_cell(&train)?;
            (f, Some(acc))
        }
        ModelKind::Table => {
            let options: Vec<usize> = space.space().decisions().iter().map(|d| d.choices.len()).collect();
            (Fitted::Table { table: model::fit_table(&config.column, &options, &train)? }, None)
        }
    };
    let model = LatencyModel {
        space: space.name().into(),
        device: config.column.clone(),
        dataset: (m.layout == Layout::HwNasBench).then(|| config.dataset.name().to_string()),
        train_ids: train.iter().map(|r| r.id).collect(),
        train_file: Some(file_key(&config.data)?),
        validation,
        model: fitted,
    };
    nas_core::fsio::write_atomic(&config.out, serde_json::to_string_pretty(&model)?.as_bytes())
        .with_context(|| format!("cannot write {}", config.out.display()))?;
    let what = match &model.model {
        Fitted::Cell { pruning, pairs, .. } => {
            let pairs = if *pairs { "with pair terms" } else { "without pair terms" };
            format!("cell model ({}; {pairs})", pruning.describe())
        }
        Fitted::Table { .. } => "additive table".into(),
    };
    Ok(FitReport {
        space,
        column: config.column.clone(),
        model: what,
        train_rows: train.len(),
        rows: m.rows.len(),
        held_out: m.rows.len() - train.len().min(m.rows.len()),
        out: config.out.display().to_string(),
    })
}

impl fmt::Display for FitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fitted {} on {} of the {} rows of {} ({} held out); saved {}",
            self.model, self.train_rows, self.rows, self.column, self.held_out, self.out
        )
    }
}

/// `nas hw eval`: a fitted model on measured rows.
#[derive(Clone, Debug, Args, Serialize)]
pub struct EvalConfig {
    /// A fitted model from `nas hw fit`.
    #[arg(long, value_name = "FILE")]
    pub model: PathBuf,
    /// Measured rows, a CSV file. In the layout the model was fitted on.
    #[arg(long, value_name = "CSV")]
    pub data: PathBuf,
    /// Row ids (the file's idx / fb_idx) to evaluate on: `a..b`, ids and ranges separated by commas
    /// (default: every row the model was not fitted on when this is its training file, else every row).
    #[arg(long)]
    pub rows: Option<String>,
    /// An SVG plot. Here: predicted against measured, with y = x.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// The report of `nas hw eval`.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// Rows evaluated.
    pub n: usize,
    /// Root mean square error in the column's unit.
    pub rmse: f64,
    /// The column's unit (ms or mJ).
    pub unit: &'static str,
    /// The same RMSE for latency columns (ms), under its earlier name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse_ms: Option<f64>,
    /// Spearman rho of prediction against measurement.
    pub spearman: f64,
    /// Share within 5 % of the measurement.
    pub within_5pct: f64,
    /// Share within 10 % of the measurement.
    pub within_10pct: f64,
    /// Lag-1 autocorrelation of the relative errors in row order.
    pub residual_autocorrelation: f64,
    /// Which rows: "given", "held out" (the model's training file) or "all" (another file).
    pub rows: &'static str,
}

/// Evaluates a fitted model.
pub fn eval(config: &EvalConfig, data: &DataDir) -> anyhow::Result<EvalReport> {
    let model = read_model(&config.model)?;
    let dataset: Dataset = model.dataset.as_deref().unwrap_or("cifar10").parse()?;
    let space: SpaceId = model.space.parse()?;
    let m = load(&config.data, &model.device, space, dataset, data)?;
    let same_file = model.train_file.as_deref() == Some(file_key(&config.data)?.as_str());
    let (rows, which) = match &config.rows {
        Some(s) => (select(&m.rows, &parse_ids(s)?)?, "given"),
        // A model saved before training files were recorded: its ids are those of its file.
        None if same_file || model.train_file.is_none() => {
            let train: HashSet<usize> = model.train_ids.iter().copied().collect();
            (m.rows.iter().filter(|r| !train.contains(&r.id)).cloned().collect(), "held out")
        }
        None => (m.rows.clone(), "all"),
    };
    if rows.is_empty() {
        bail!(
            "no rows to evaluate on: the model was fitted on all {} rows of {}; give --rows or another file",
            m.rows.len(),
            config.data.display()
        );
    }
    let acc = model.evaluate(&rows)?;
    let u = unit(&model.device);
    if let Some(p) = &config.plot {
        let points =
            rows.iter().map(|r| Ok((r.value, model.predict(&r.genotype)?))).collect::<anyhow::Result<Vec<_>>>()?;
        let panel = plot::Panel {
            title: format!(
                "{} {}: rho {:.3}, {:.0}% within 10%",
                model.space,
                model.device,
                acc.spearman,
                100.0 * acc.within_10pct
            ),
            subtitle: format!("{} {which} rows of {}", rows.len(), file_name(&config.data)),
            x_label: format!("measured ({u})"),
            y_label: format!("predicted ({u})"),
            points,
            diagonal: true,
        };
        std::fs::write(p, plot::svg(&[panel])).with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok(EvalReport {
        n: acc.n,
        rmse: acc.rmse_ms,
        unit: u,
        rmse_ms: (u == "ms").then_some(acc.rmse_ms),
        spearman: acc.spearman,
        within_5pct: acc.within_5pct,
        within_10pct: acc.within_10pct,
        residual_autocorrelation: acc.residual_autocorrelation,
        rows: which,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "n {} ({} rows)  rmse {:.4} {}  spearman {:.4}  within 5% {:.1}%  within 10% {:.1}%  \
             residual autocorrelation in row order {:.2}",
            self.n,
            self.rows,
            self.rmse,
            self.unit,
            self.spearman,
            100.0 * self.within_5pct,
            100.0 * self.within_10pct,
            self.residual_autocorrelation
        )
    }
}

/// `nas hw measure`: real latencies on this machine's CPU.
#[derive(Clone, Debug, Args, Serialize)]
pub struct MeasureConfig {
    /// The search space.
    #[arg(long, value_parser = vocab::space())]
    pub space: SpaceId,
    /// Number of distinct architectures drawn uniformly (with --seed). Here: those the local model
    /// is checked on.
    #[arg(long, default_value_t = 50)]
    pub sample: usize,
    /// Architectures the local model is fitted on.
    #[arg(long, default_value_t = 150)]
    pub train: usize,
    /// Seed of every random choice of the command. Here: the architecture sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Images per batch. Here: per timed forward pass.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Timed passes per architecture (after 3 untimed ones); the median is kept.
    #[arg(long, default_value_t = 15)]
    pub repeats: usize,
    /// Save the measurements as CSV (`arch_str,cpu_ms`: the HELP layout `nas hw fit` reads).
    #[arg(long = "measurements-out", alias = "out", value_name = "FILE")]
    pub measurements_out: Option<PathBuf>,
    /// Save the fitted local model as JSON.
    #[arg(long, value_name = "FILE")]
    pub model_out: Option<PathBuf>,
}

/// The report of `nas hw measure`.
#[derive(Clone, Debug, Serialize)]
pub struct MeasureReport {
    /// The search space.
    pub space: SpaceId,
    /// The device.
    pub device: &'static str,
    /// Images per batch.
    pub batch: usize,
    /// Architectures the local model was fitted on.
    pub train: usize,
    /// Unseen architectures it was checked on.
    pub n: usize,
    /// Root mean square error (ms).
    pub rmse_ms: f64,
    /// Spearman rho of prediction against measurement.
    pub spearman: f64,
    /// Share within 5 % of the measurement.
    pub within_5pct: f64,
    /// Share within 10 % of the measurement.
    pub within_10pct: f64,
    /// Wall time (s).
    pub seconds: f64,
}

/// The fewest training rows a space's local model needs.
fn min_train_rows(space: SpaceId) -> usize {
    match space {
        SpaceId::Nb201 => model::min_cell_rows(),
        SpaceId::Fbnet => 1 + space.space().decisions().iter().map(|d| d.choices.len()).sum::<usize>(),
    }
}

/// Times `train + sample` distinct architectures on this CPU (the fast forward pass of
/// nas-kernels), fits the space's model on the first `train` and checks it on the other `sample`.
pub fn measure(config: &MeasureConfig) -> anyhow::Result<MeasureReport> {
    let started = std::time::Instant::now();
    let a = config;
    if a.sample == 0 || a.batch == 0 || a.batch > 1024 || a.repeats == 0 || a.repeats > 10_000 {
        bail!(
            "invalid --sample {} / --batch {} / --repeats {}: give --sample >= 1, --batch 1..1024, --repeats 1..10000",
            a.sample,
            a.batch,
            a.repeats
        );
    }
    let need = min_train_rows(a.space);
    if a.train < need {
        bail!("invalid --train {}: the {} model needs at least {need} architectures to fit on", a.train, a.space);
    }
    let total = a.train.checked_add(a.sample).filter(|&t| t <= MAX_MEASURED);
    let Some(total) = total else {
        bail!("invalid --train {} / --sample {}: at most {MAX_MEASURED} architectures in all", a.train, a.sample)
    };
    let space = a.space.space();
    let genotypes = sample_distinct(space.as_ref(), total, a.seed)?;
    let mut progress = crate::progress::Progress::new("measuring", genotypes.len());
    let mut rows = Vec::with_capacity(genotypes.len());
    for (id, g) in genotypes.into_iter().enumerate() {
        let net = nas_kernels::cpu::CpuNet::new(&space.to_network(&g)?, 0)?;
        let value = net.median_latency_ms(a.batch, 3, a.repeats)?;
        rows.push(Measurement { id, genotype: g, value });
        progress.inc();
    }
    if let Some(path) = &a.measurements_out {
        let mut csv = String::from("arch_str,cpu_ms\n");
        for r in &rows {
            csv.push_str(&format!("\"{}\",{}\n", space.format(&r.genotype), r.value));
        }
        nas_core::fsio::write_atomic(path, csv.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let (train, unseen) = rows.split_at(a.train);
    let fitted = match a.space {
        SpaceId::Nb201 => model::fit_cell(train)?.0,
        SpaceId::Fbnet => {
            let options: Vec<usize> = space.decisions().iter().map(|d| d.choices.len()).collect();
            Fitted::Table { table: model::fit_table("cpu_ms", &options, train)? }
        }
    };
    let local = LatencyModel {
        space: a.space.name().into(),
        device: "cpu_ms".into(),
        dataset: None,
        train_ids: train.iter().map(|r| r.id).collect(),
        train_file: None,
        validation: None,
        model: fitted,
    };
    if let Some(path) = &a.model_out {
        nas_core::fsio::write_atomic(path, serde_json::to_string_pretty(&local)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let acc = local.evaluate(unseen)?;
    Ok(MeasureReport {
        space: a.space,
        device: "this CPU",
        batch: a.batch,
        train: a.train,
        n: acc.n,
        rmse_ms: acc.rmse_ms,
        spearman: acc.spearman,
        within_5pct: acc.within_5pct,
        within_10pct: acc.within_10pct,
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl fmt::Display for MeasureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} on this CPU (batch {}): fitted on {} networks, checked on {} unseen: Spearman {:.3}, \
             {:.1} % within 10 %, {:.1} % within 5 %, RMSE {:.3} ms",
            self.space,
            self.batch,
            self.train,
            self.n,
            self.spearman,
            100.0 * self.within_10pct,
            100.0 * self.within_5pct,
            self.rmse_ms
        )
    }
}
