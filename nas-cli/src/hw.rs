//! `nas cost` and `nas hw fit|eval`: hardware cost of an architecture, and latency models fitted to
//! measured data (HW-NAS-Bench for NB201, HELP for FBNet).

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use nas_core::{Genotype, SearchSpace};
use nas_hw::data::{Measurement, Measurements};
use nas_hw::model::{self, Fitted, LatencyModel, ModelKind};
use nas_spaces::{DataDir, FbnetSpace, Nb201Space, Nb201Table};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde_json::json;

use crate::plot;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpaceName {
    Nb201,
    Fbnet,
}

#[derive(Debug, Args)]
pub struct CostArgs {
    /// Roofline device preset: edgegpu, raspi4, pixel3, edgetpu.
    #[arg(long)]
    device: String,
    /// An NB201 string (|op~0|+...) or an FBNet arch_str / op_idx_list (22 blocks).
    #[arg(long)]
    arch: String,
    /// Fitted models (from `nas hw fit`: latency or energy columns) to price the architecture with
    /// as well; repeat for several.
    #[arg(long)]
    model: Vec<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
pub enum HwCommand {
    /// Fit a latency model of one device column to measured latencies; save it as JSON.
    Fit(FitArgs),
    /// Accuracy of a fitted model on measured rows: n, RMSE, Spearman rho, share within 5 / 10 %.
    Eval(EvalArgs),
    /// Measure real latencies on this machine's CPU, fit a local model on some and check it on others.
    Measure(MeasureArgs),
}

#[derive(Debug, Args)]
pub struct MeasureArgs {
    #[arg(long, value_enum)]
    space: SpaceName,
    /// Unseen architectures the fitted model is checked on.
    #[arg(long, default_value_t = 50)]
    sample: usize,
    /// Architectures the local model is fitted on.
    #[arg(long, default_value_t = 150)]
    train: usize,
    /// Seed of the architecture sample.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Images per forward pass.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Timed passes per architecture (after 3 untimed ones); the median is kept.
    #[arg(long, default_value_t = 15)]
    repeats: usize,
    /// Save the measurements as CSV (`arch_str,cpu_ms`: the HELP layout `nas hw fit` reads).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Save the fitted local model as JSON.
    #[arg(long)]
    model_out: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct FitArgs {
    #[arg(long, value_enum)]
    space: SpaceName,
    /// The device column, e.g. pixel3_latency (HW-NAS-Bench) or pixel3 (HELP).
    #[arg(long)]
    device: String,
    /// Measurements: HW-NAS-Bench layout (idx,dataset,...) or HELP layout (arch_str / op_idx_list).
    #[arg(long)]
    data: PathBuf,
    /// Fit on the first N rows (in file order), or N random rows with --seed.
    #[arg(long, conflicts_with = "train_idx")]
    train_rows: Option<usize>,
    /// Fit on the row ids listed in this file (whitespace or comma separated).
    #[arg(long)]
    train_idx: Option<PathBuf>,
    /// Draw the --train-rows at random with this seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Rows of this dataset in the HW-NAS-Bench layout.
    #[arg(long, default_value = "cifar10")]
    dataset: String,
    /// cell (NB201 only: execution rules chosen by validation) or table (additive, non-negative).
    #[arg(long, value_enum)]
    kind: Option<KindArg>,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Cell,
    Table,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    data: PathBuf,
    /// Row ids to evaluate on: `a..b`, ids and ranges separated by commas (default: every row the
    /// model was not fitted on).
    #[arg(long)]
    rows: Option<String>,
    /// Write a predicted-vs-measured scatter plot (SVG).
    #[arg(long)]
    plot: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: HwCommand, data: &DataDir) -> anyhow::Result<()> {
    match cmd {
        HwCommand::Fit(a) => fit(&a, data),
        HwCommand::Eval(a) => eval(&a, data),
        HwCommand::Measure(a) => measure(&a),
    }
}

/// Times the real network of `train + sample` distinct architectures on this CPU (the fast forward
/// pass of nas-kernels), fits the space's model on the first `train` and reports its accuracy on
/// the other `sample`.
fn measure(a: &MeasureArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    if a.sample == 0 || a.train == 0 || a.batch == 0 {
        bail!("invalid --sample {} / --train {} / --batch {}: give at least 1 each", a.sample, a.train, a.batch);
    }
    let name = match a.space {
        SpaceName::Nb201 => "nb201",
        SpaceName::Fbnet => "fbnet",
    };
    let space = space_of(name)?;
    let genotypes = crate::score::sample_distinct(space.as_ref(), a.train + a.sample, a.seed)?;
    let mut progress = crate::progress::Progress::new("measuring", genotypes.len());
    let mut rows = Vec::with_capacity(genotypes.len());
    for (id, g) in genotypes.into_iter().enumerate() {
        let net = nas_kernels::cpu::CpuNet::new(&space.to_network(&g)?, 0)?;
        let value = net.median_latency_ms(a.batch, 3, a.repeats)?;
        rows.push(Measurement { id, genotype: g, value });
        progress.inc();
    }
    if let Some(path) = &a.out {
        let mut csv = String::from("arch_str,cpu_ms\n");
        for r in &rows {
            csv.push_str(&format!("\"{}\",{}\n", space.format(&r.genotype), r.value));
        }
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    let (train, unseen) = rows.split_at(a.train);
    let fitted = match a.space {
        SpaceName::Nb201 => model::fit_cell(train)?.0,
        SpaceName::Fbnet => {
            let options: Vec<usize> = space.decisions().iter().map(|d| d.choices.len()).collect();
            Fitted::Table { table: model::fit_table("cpu_ms", &options, train)? }
        }
    };
    let local = LatencyModel {
        space: name.into(),
        device: "cpu_ms".into(),
        dataset: None,
        train_ids: train.iter().map(|r| r.id).collect(),
        validation: None,
        model: fitted,
    };
    if let Some(path) = &a.model_out {
        std::fs::write(path, serde_json::to_string_pretty(&local)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let acc = local.evaluate(unseen)?;
    let out = json!({
        "space": name, "device": "this CPU", "batch": a.batch, "train": a.train, "n": acc.n,
        "rmse_ms": acc.rmse_ms, "spearman": acc.spearman, "within_5pct": acc.within_5pct,
        "within_10pct": acc.within_10pct, "seconds": started.elapsed().as_secs_f64(),
    });
    if a.json {
        return crate::print_json(&out);
    }
    println!(
        "{name} on this CPU (batch {}): fitted on {} networks, checked on {} unseen: Spearman {:.3}, \
         {:.1} % within 10 %, {:.1} % within 5 %, RMSE {:.3} ms",
        a.batch,
        a.train,
        acc.n,
        acc.spearman,
        100.0 * acc.within_10pct,
        100.0 * acc.within_5pct,
        acc.rmse_ms
    );
    Ok(())
}

fn space_of(name: &str) -> anyhow::Result<Box<dyn SearchSpace>> {
    Ok(match name {
        "nb201" => Box::new(Nb201Space::default()),
        "fbnet" => Box::new(FbnetSpace::default()),
        other => bail!("unknown space {other:?}; expected nb201 or fbnet"),
    })
}

fn load(
    path: &std::path::Path,
    column: &str,
    space: &str,
    dataset: &str,
    data: &DataDir,
) -> anyhow::Result<Measurements> {
    let sp = space_of(space)?;
    let needs_table = space == "nb201";
    let table = if needs_table { Some(Nb201Table::load(data)?) } else { None };
    let lookup = |idx: usize| table.as_ref().and_then(|t| t.genotype(idx).cloned());
    Ok(nas_hw::data::read(path, column, sp.as_ref(), Some(dataset), &lookup)?)
}

fn parse_ids(s: &str) -> anyhow::Result<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.split([',', ' ', '\n', '\t']).map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once("..") {
            let (a, b): (usize, usize) = (
                a.parse().context(format!("bad row range {part:?}"))?,
                b.parse().context(format!("bad row range {part:?}"))?,
            );
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

fn fit(a: &FitArgs, data: &DataDir) -> anyhow::Result<()> {
    let space = match a.space {
        SpaceName::Nb201 => "nb201",
        SpaceName::Fbnet => "fbnet",
    };
    let m = load(&a.data, &a.device, space, &a.dataset, data)?;
    let train: Vec<Measurement> = if let Some(file) = &a.train_idx {
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        select(&m.rows, &parse_ids(&text)?)?
    } else {
        let n = a.train_rows.unwrap_or(m.rows.len() * 3 / 4);
        if n > m.rows.len() {
            bail!("--train-rows {n} is more than the {} measured rows", m.rows.len());
        }
        let mut rows = m.rows.clone();
        if let Some(seed) = a.seed {
            rows.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        }
        rows.truncate(n);
        rows
    };
    let kind = match a.kind {
        Some(KindArg::Cell) if space != "nb201" => bail!("--kind cell is for --space nb201 only"),
        Some(KindArg::Cell) => ModelKind::Cell,
        Some(KindArg::Table) => ModelKind::Table,
        None if space == "nb201" => ModelKind::Cell,
        None => ModelKind::Table,
    };
    let (fitted, validation) = match kind {
        ModelKind::Cell => {
            let (f, acc) = model::fit_cell(&train)?;
            (f, Some(acc))
        }
        ModelKind::Table => {
            let sp = space_of(space)?;
            let options: Vec<usize> = sp.decisions().iter().map(|d| d.choices.len()).collect();
            (Fitted::Table { table: model::fit_table(&a.device, &options, &train)? }, None)
        }
    };
    let model = LatencyModel {
        space: space.into(),
        device: a.device.clone(),
        dataset: (m.layout == nas_hw::data::Layout::HwNasBench).then(|| a.dataset.clone()),
        train_ids: train.iter().map(|r| r.id).collect(),
        validation,
        model: fitted,
    };
    std::fs::write(&a.out, serde_json::to_string_pretty(&model)?)
        .with_context(|| format!("writing {}", a.out.display()))?;
    let what = match &model.model {
        Fitted::Cell { pruning, pairs, .. } => format!("cell model, execution rule {pruning:?}, pair terms {pairs}"),
        Fitted::Table { .. } => "additive table".into(),
    };
    eprintln!("fitted {what} on {} rows of {}; saved {}", train.len(), a.device, a.out.display());
    Ok(())
}

fn eval(a: &EvalArgs, data: &DataDir) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&a.model).with_context(|| format!("reading {}", a.model.display()))?;
    let model: LatencyModel =
        serde_json::from_str(&text).with_context(|| format!("{} is not a fitted model", a.model.display()))?;
    let dataset = model.dataset.clone().unwrap_or_else(|| "cifar10".into());
    let m = load(&a.data, &model.device, &model.space, &dataset, data)?;
    let rows = match &a.rows {
        Some(s) => select(&m.rows, &parse_ids(s)?)?,
        None => {
            let train: std::collections::HashSet<usize> = model.train_ids.iter().copied().collect();
            m.rows.iter().filter(|r| !train.contains(&r.id)).cloned().collect()
        }
    };
    if rows.is_empty() {
        bail!("no rows to evaluate on");
    }
    let acc = model.evaluate(&rows)?;
    if let Some(p) = &a.plot {
        let points =
            rows.iter().map(|r| Ok((r.value, model.predict(&r.genotype)?))).collect::<anyhow::Result<Vec<_>>>()?;
        let panel = plot::Panel {
            title: format!(
                "{} {} (rho {:.3}, {:.0}% within 10%)",
                model.space,
                model.device,
                acc.spearman,
                100.0 * acc.within_10pct
            ),
            x_label: format!("measured {}", unit(&model.device)),
            y_label: format!("predicted {}", unit(&model.device)),
            points,
        };
        std::fs::write(p, plot::svg(&[panel])).with_context(|| format!("writing {}", p.display()))?;
    }
    if a.json {
        crate::print_json(&acc)?;
    } else {
        println!(
            "n {}  rmse {:.4} {}  spearman {:.4}  within 5% {:.1}%  within 10% {:.1}%  \
             residual autocorrelation in row order {:.2}",
            acc.n,
            acc.rmse_ms,
            unit(&model.device),
            acc.spearman,
            100.0 * acc.within_5pct,
            100.0 * acc.within_10pct,
            acc.residual_autocorrelation
        );
    }
    Ok(())
}

fn parse_arch(arch: &str) -> anyhow::Result<(Box<dyn SearchSpace>, Genotype)> {
    let space = space_of(if arch.contains('|') { "nb201" } else { "fbnet" })?;
    let g = space.parse(arch.trim())?;
    Ok((space, g))
}

pub fn cost(a: CostArgs, data: &DataDir) -> anyhow::Result<()> {
    let device = nas_hw::roofline::device(&a.device)?;
    let (space, g) = parse_arch(&a.arch)?;
    let net = space.to_network(&g)?;
    let f = nas_hw::footprint::footprint(&net);
    let roofline_ms = nas_hw::roofline::latency_ms(&f, device);
    let mut fitted = serde_json::Map::new();
    for p in &a.model {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let model: LatencyModel =
            serde_json::from_str(&text).with_context(|| format!("{} is not a fitted model", p.display()))?;
        if model.space != space.name() {
            bail!("{} is a model for space {}, the architecture is {}", p.display(), model.space, space.name());
        }
        fitted.insert(model.device.clone(), json!(model.predict(&g)?));
    }
    let fitted_latency_ms = fitted.iter().find(|(k, _)| unit(k) == "ms").map(|(_, v)| v.clone());
    let measured = measured_on(device.name, space.as_ref(), &g, data)?;
    let v = json!({
        "space": space.name(), "device": device.name, "params": f.params, "flops": f.flops,
        "memory_traffic_bytes": f.memory_traffic_bytes, "peak_activation_bytes": f.peak_activation_bytes,
        "roofline_latency_ms": roofline_ms, "fitted_latency_ms": fitted_latency_ms, "fitted": fitted,
        "measured": measured,
    });
    if a.json {
        crate::print_json(&v)?;
    } else {
        println!("space {}  device {}", space.name(), device.name);
        println!(
            "params {}  FLOPs {}  memory traffic {} B  peak activation {} B",
            f.params, f.flops, f.memory_traffic_bytes, f.peak_activation_bytes
        );
        println!("roofline latency {roofline_ms:.4} ms ({})", device.source);
        for (column, value) in &fitted {
            println!("fitted {column} {:.4} {}", value.as_f64().unwrap_or(f64::NAN), unit(column));
        }
        for (column, value) in measured.iter().flatten() {
            println!("measured {column} {value:.4} {} (HW-NAS-Bench, cifar10)", unit(column));
        }
    }
    Ok(())
}

/// The unit of a measurement column: mJ for energy columns, ms otherwise.
fn unit(column: &str) -> &'static str {
    if column.contains("energy") { "mJ" } else { "ms" }
}

/// HW-NAS-Bench's measured latency and energy of an NB201 architecture on `device` (CIFAR-10 rows),
/// when the benchmark files are in the data directory; `None` otherwise.
fn measured_on(
    device: &str,
    space: &dyn SearchSpace,
    g: &Genotype,
    data: &DataDir,
) -> anyhow::Result<Option<std::collections::BTreeMap<String, f64>>> {
    let files = [nas_spaces::hw_nas_bench::FILE, nas_spaces::nb201_table::FILE];
    if space.name() != "nb201" || !files.iter().all(|f| data.has(f)) {
        return Ok(None);
    }
    let Some(idx) = Nb201Table::load(data)?.index_of(g) else { return Ok(None) };
    let hw = nas_spaces::HwNasBench::load(data)?;
    let mut values = std::collections::BTreeMap::new();
    for m in hw.metrics() {
        if m.starts_with(&format!("{device}_")) && (m.ends_with("_latency") || m.ends_with("_energy")) {
            if let Some(v) = hw.value(idx, nas_spaces::Dataset::Cifar10, m)? {
                values.insert(m.clone(), v);
            }
        }
    }
    Ok(Some(values))
}
