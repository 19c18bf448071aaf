//! `nas mathnas` and `nas layernas`: selection under hardware limits on NAS-Bench-201 (accuracy from
//! the benchmark table, latency and energy from HW-NAS-Bench, FLOPs from the IR), on FBNet (a
//! training-free score, latency fitted on HELP, FLOPs from the IR: [`crate::fbnet`]) or on a user's
//! CSV table. Both commands return one [`SelectionReport`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use nas_core::{AdditiveCost, Evaluator, Genotype, SearchSpace};
use nas_spaces::{DataDir, Dataset, HwNasBench, Nb201Space, Nb201Table, SpaceId, TableEvaluator, UserTable};
use nas_strategies::mathnas::{PairwiseModel, average_cost_reference, mean_cost, select_pairwise};
use nas_strategies::mckp::meets_limit;
use nas_strategies::{BlockTable, LayerNas, MckpProblem, mckp, milp};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::fbnet::{self, ProxyConfig};
use crate::vocab;

/// A user table: `--table <csv> --encoding-column --reward-column --cost-column --max-cost`.
#[derive(Clone, Debug, Args, Serialize)]
pub struct TableConfig {
    /// A CSV benchmark table (README: one encoding column, metric columns); replaces --space.
    #[arg(long, value_name = "CSV")]
    pub table: Option<PathBuf>,
    /// The table's column holding each architecture's encoding.
    #[arg(long, default_value = "encoding")]
    pub encoding_column: String,
    /// Separator between layers in the encoding (default: one character per layer).
    #[arg(long)]
    pub encoding_sep: Option<String>,
    /// The table's column maximised.
    #[arg(long, default_value = "accuracy")]
    pub reward_column: String,
    /// The table's column limited by --max-cost.
    #[arg(long)]
    pub cost_column: Option<String>,
    /// The limit on --cost-column, in the column's unit.
    #[arg(long)]
    pub max_cost: Option<f64>,
}

impl TableConfig {
    fn open(&self) -> anyhow::Result<Option<UserTable>> {
        let Some(path) = &self.table else { return Ok(None) };
        Ok(Some(UserTable::from_csv(path, &self.encoding_column, self.encoding_sep.as_deref())?))
    }

    /// The cost column and its limit, both required with `--table`.
    fn cost(&self) -> anyhow::Result<(&str, f64)> {
        let Some(col) = &self.cost_column else { bail!("--table needs --cost-column and --max-cost") };
        let Some(limit) = check_limit("max-cost", self.max_cost)? else { bail!("--table needs --max-cost") };
        Ok((col, limit))
    }
}

/// MathNAS's predictor of a network's reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Predictor {
    /// The paper's: m*n block measurements, additive.
    Mathnas,
    /// Pairwise block interactions fitted on a sample of true evaluations.
    Best,
}

/// How MathNAS's block table is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockTableKind {
    /// The paper's m*n evaluations around the average-FLOPs network.
    Measured,
    /// Deltas averaged over every network of the table (the predictor's best case).
    Exact,
}

/// The selection solver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Solver {
    /// Branch and bound over the multiple-choice knapsack.
    Exact,
    /// good_lp with microlp.
    Milp,
}

/// What the MathNAS predictor maximises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// base - sum of block deltas.
    Additive,
    /// The paper's `pred(base) - mean FLOPs / FLOPs(g) * deviation` (nb201; Dinkelbach's method).
    FlopsScaled,
}

/// `nas mathnas`: the space or table, the limits, the predictor and the solver.
#[derive(Clone, Debug, Args, Serialize)]
pub struct MathNasConfig {
    /// The search space. Ignored with --table.
    #[arg(long, default_value = "nb201", value_parser = vocab::space())]
    pub space: SpaceId,
    /// The device. nb201: a HW-NAS-Bench device whose `<device>_latency` / `<device>_energy` columns
    /// are limited; fbnet: a HELP latency column (pixel3, raspi4, samsung_a50, gold_6240, ...).
    #[arg(long, default_value = "edgegpu")]
    pub device: String,
    /// fbnet: the HELP latency file (default: the data directory's fbnet/help_latency_fbnet_train4000.csv).
    #[arg(long, value_name = "CSV")]
    pub hw_data: Option<PathBuf>,
    /// The HW-NAS-Bench dataset of the hardware columns.
    #[arg(long, default_value = "cifar10", value_parser = vocab::dataset(), ignore_case = true)]
    pub hw_dataset: Dataset,
    /// The latency limit (ms).
    #[arg(long)]
    pub max_latency_ms: Option<f64>,
    /// The energy limit (mJ).
    #[arg(long)]
    pub max_energy_mj: Option<f64>,
    /// The FLOPs limit (millions of multiply-adds).
    #[arg(long)]
    pub max_mflops: Option<f64>,
    /// The reward predictor.
    #[arg(long, value_enum, default_value_t = Predictor::Mathnas)]
    pub predictor: Predictor,
    /// Sample size of the `best` predictor.
    #[arg(long, default_value_t = 1000)]
    pub samples: usize,
    /// Candidates of the `best` predictor checked against the true table (best true one wins).
    #[arg(long, default_value_t = 30)]
    pub verify: usize,
    /// How the mathnas predictor's block table is measured.
    #[arg(long, value_enum, default_value_t = BlockTableKind::Measured)]
    pub block_table: BlockTableKind,
    /// The selection solver of the mathnas predictor.
    #[arg(long, value_enum, default_value_t = Solver::Exact)]
    pub solver: Solver,
    /// What the mathnas predictor maximises.
    #[arg(long, value_enum, default_value_t = Objective::Additive)]
    pub objective: Objective,
    /// Seed of every random choice of the command. Here: the `best` predictor's sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also report Spearman rho of predicted vs true accuracy over the whole space.
    #[arg(long)]
    pub correlation: bool,
    /// The training-free score.
    #[command(flatten)]
    pub proxy: ProxyConfig,
    /// The user's table, when given.
    #[command(flatten)]
    pub table: TableConfig,
}

/// The cost LayerNAS limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CostKind {
    /// Exact FLOPs (nb201, fbnet), limited by --max-mflops.
    Flops,
    /// Fitted HELP latency (fbnet, with --device), limited by --max-latency-ms.
    Latency,
}

/// `nas layernas`: the space or table, the cost and its target, the buckets.
#[derive(Clone, Debug, Args, Serialize)]
pub struct LayerNasConfig {
    /// The search space. Ignored with --table.
    #[arg(long, default_value = "nb201", value_parser = vocab::space())]
    pub space: SpaceId,
    /// The cost limited.
    #[arg(long, value_enum, default_value_t = CostKind::Flops)]
    pub cost: CostKind,
    /// The device. fbnet: the HELP latency column limited by --max-latency-ms (pixel3, raspi4, ...).
    #[arg(long)]
    pub device: Option<String>,
    /// fbnet: the HELP latency file (default: the data directory's fbnet/help_latency_fbnet_train4000.csv).
    #[arg(long, value_name = "CSV")]
    pub hw_data: Option<PathBuf>,
    /// The latency limit (ms).
    #[arg(long)]
    pub max_latency_ms: Option<f64>,
    /// The FLOPs limit (millions of multiply-adds).
    #[arg(long)]
    pub max_mflops: Option<f64>,
    /// H: cost buckets (1 to 100,000).
    #[arg(long, default_value_t = 100)]
    pub buckets: usize,
    /// Candidates kept per bucket (1 to 1,000).
    #[arg(long, default_value_t = 1)]
    pub keep: usize,
    /// The training-free score.
    #[command(flatten)]
    pub proxy: ProxyConfig,
    /// The user's table, when given.
    #[command(flatten)]
    pub table: TableConfig,
}

/// A value in a report's `true` or `details` map.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Metric {
    /// A whole number.
    Count(u64),
    /// A real number.
    Number(f64),
    /// A yes/no value.
    Flag(bool),
    /// A text.
    Text(String),
}

impl From<f64> for Metric {
    fn from(v: f64) -> Self {
        Metric::Number(v)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Count(n) => write!(f, "{n}"),
            Metric::Number(v) => write!(f, "{v:.4}"),
            Metric::Flag(b) => write!(f, "{b}"),
            Metric::Text(s) => f.write_str(s),
        }
    }
}

/// How a HELP latency column was fitted (FBNet).
#[derive(Clone, Debug, Serialize)]
pub struct LatencyFit {
    /// The device.
    pub device: String,
    /// The measurement file.
    pub file: String,
    /// Rows the column was fitted on.
    pub rows: usize,
    /// Share of rows within 10 % of the fit.
    pub fit_within_10pct: f64,
    /// Spearman rho of the fit.
    pub fit_spearman: f64,
    /// RMSE of the fit (ms).
    pub fit_rmse_ms: f64,
}

/// The report of `nas mathnas` and `nas layernas`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SelectionReport {
    /// The search space.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space: Option<SpaceId>,
    /// The answer.
    pub arch: String,
    /// The answer as HELP's op_idx_list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op_idx_list: Option<String>,
    /// The reward predictor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictor: Option<Predictor>,
    /// The training-free score.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<&'static str>,
    /// What the method predicted for the answer (reward and each limited metric).
    pub predicted: BTreeMap<String, f64>,
    /// The answer's true values, and whether they meet the limits.
    #[serde(rename = "true")]
    pub truth: BTreeMap<String, Metric>,
    /// The best architecture under the true limits, by exhaustive search (tables only).
    pub best_true: Option<BTreeMap<String, Metric>>,
    /// Reward evaluations the method made.
    pub evaluations: usize,
    /// Cost evaluations spent on block tables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_measurements: Option<usize>,
    /// Reward evaluations spent on the block table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_table_evaluations: Option<usize>,
    /// The reference network of the block table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// How the latency column was fitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencyFit>,
    /// LayerNAS's cost buckets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<usize>,
    /// Candidates kept per bucket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep: Option<usize>,
    /// Architectures in the table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub space_size: Option<usize>,
    /// Solver details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<BTreeMap<String, Metric>>,
    /// Wall time (s).
    pub seconds: f64,
}

impl fmt::Display for SelectionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "answer     {}", self.arch)?;
        if let Some(idx) = &self.op_idx_list {
            writeln!(f, "           op_idx_list {idx}")?;
        }
        let row =
            |m: &BTreeMap<String, Metric>| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
        let predicted: Vec<String> = self.predicted.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        writeln!(f, "predicted  {}", predicted.join(", "))?;
        writeln!(f, "true       {}", row(&self.truth))?;
        if let Some(b) = &self.best_true {
            writeln!(f, "best true  {}", row(b))?;
        }
        let mut spent = format!("{} evaluations", self.evaluations);
        if let Some(c) = self.cost_measurements {
            spent.push_str(&format!(", {c} cost measurements"));
        }
        writeln!(f, "spent      {spent}, {:.2} s", self.seconds)?;
        if let Some(r) = &self.reference {
            writeln!(f, "reference  {r}")?;
        }
        if let Some(l) = &self.latency {
            writeln!(
                f,
                "latency    {} fitted on {} rows of {}: {:.1} % within 10 %, rho {:.3}",
                l.device,
                l.rows,
                l.file,
                100.0 * l.fit_within_10pct,
                l.fit_spearman
            )?;
        }
        if let Some(d) = &self.details {
            writeln!(f, "details    {}", row(d))?;
        }
        Ok(())
    }
}

/// A limit given on the command line: finite and not negative.
pub fn check_limit(name: &str, v: Option<f64>) -> anyhow::Result<Option<f64>> {
    match v {
        Some(x) if !x.is_finite() || x < 0.0 => bail!("invalid --{name} {x}: a limit must be a finite number >= 0"),
        other => Ok(other),
    }
}

/// MathNAS's base network for the FLOPs scaling on NB201: the largest, nor_conv_3x3 on every edge.
fn largest_nb201() -> Genotype {
    Genotype(vec![3; 6])
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    nas_core::stats::spearman(a, b).unwrap_or(f64::NAN)
}

/// Everything about one limited metric: its name, unit, true values by row, limit, and the exact
/// additive table when there is one.
struct Limited {
    name: String,
    unit: String,
    values: Vec<f64>,
    limit: f64,
    exact: Option<AdditiveCost>,
}

/// A whole space as rows: every genotype, its reward, and the metrics reported beside the reward as
/// true values (NB201: CIFAR-10 test accuracy).
struct Rows<'a> {
    space: &'a dyn SearchSpace,
    genotypes: Vec<Genotype>,
    reward: Vec<f64>,
    reported: Vec<(String, Vec<f64>)>,
    /// The space's exact FLOPs table (MFLOPs), when it has one (NB201; not a user table).
    flops: Option<AdditiveCost>,
}

impl<'a> Rows<'a> {
    /// NB201: reward = cifar10-valid validation accuracy, CIFAR-10 test accuracy reported.
    fn nb201(space: &'a Nb201Space, data: &DataDir) -> anyhow::Result<Self> {
        let table = Nb201Table::load(data)?;
        let genotypes =
            (0..table.len()).map(|i| table.genotype(i).cloned().context("row")).collect::<anyhow::Result<_>>()?;
        Ok(Rows {
            space,
            genotypes,
            reward: table.column("c10v_valid_acc")?.to_vec(),
            reported: vec![("c10_test_acc".into(), table.column("c10_test_acc")?.to_vec())],
            flops: Some(nas_hw::count_table::flops_table(space)?),
        })
    }

    fn user(table: &'a UserTable, reward_column: &str) -> anyhow::Result<Self> {
        Ok(Rows {
            space: table,
            genotypes: table.genotypes().to_vec(),
            reward: table.metric(reward_column)?,
            reported: Vec::new(),
            flops: None,
        })
    }
}

/// Refuses limits that no row of the table meets (each alone, then together), naming the cheapest
/// row's cost.
fn check_feasible(limited: &[Limited], rows: usize) -> anyhow::Result<()> {
    for l in limited {
        let cheapest = l.values.iter().copied().fold(f64::INFINITY, f64::min);
        if !meets_limit(cheapest, l.limit) {
            let unit = if l.unit.is_empty() { String::new() } else { format!(" {}", l.unit) };
            bail!(
                "infeasible: the cheapest network costs {cheapest:.6}{unit} in {}, above the limit {}",
                l.name,
                l.limit
            );
        }
    }
    if !(0..rows).any(|i| limited.iter().all(|l| meets_limit(l.values[i], l.limit))) {
        let names: Vec<&str> = limited.iter().map(|l| l.name.as_str()).collect();
        bail!("infeasible: no architecture meets the limits on {} together", names.join(" and "));
    }
    Ok(())
}

/// MathNAS: block table, prediction, exact selection under the limits, and the truth about the answer.
pub fn mathnas(config: &MathNasConfig, data: &DataDir) -> anyhow::Result<SelectionReport> {
    let started = Instant::now();
    let lat = check_limit("max-latency-ms", config.max_latency_ms)?;
    let energy = check_limit("max-energy-mj", config.max_energy_mj)?;
    let mflops = check_limit("max-mflops", config.max_mflops)?;
    if config.table.table.is_none() && config.space == SpaceId::Fbnet {
        if config.predictor == Predictor::Best {
            bail!(
                "--predictor best fits its pairwise model on true accuracies, and fbnet has no accuracy table; \
                 use --predictor mathnas"
            );
        }
        if config.block_table != BlockTableKind::Measured {
            bail!("--block-table exact needs every network of the space; fbnet has 9^22: use measured");
        }
        if config.correlation {
            bail!("--correlation needs a table of the whole space; fbnet has none");
        }
        if energy.is_some() {
            bail!("--max-energy-mj: the HELP data for fbnet has latency only");
        }
        if config.objective != Objective::Additive {
            bail!("--objective flops-scaled: fbnet selects by the additive prediction only");
        }
        let a = fbnet::MathNasFbnet {
            device: &config.device,
            hw_data: config.hw_data.as_deref(),
            max_latency_ms: lat,
            max_mflops: mflops,
            solver: config.solver,
            proxy: &config.proxy,
        };
        return fbnet::mathnas(&a, data, started);
    }
    if config.table.table.is_none() {
        config.proxy.refuse_on(config.space.name())?;
    } else {
        config.proxy.refuse_on("a --table")?;
    }
    if config.predictor == Predictor::Best && config.samples == 0 {
        bail!("invalid --samples 0: the pairwise predictor fits on at least 1 true evaluation");
    }

    // The rows of the space or table, the limited metrics, the reference network.
    let nb201 = Nb201Space::default();
    let user = config.table.open()?;
    let (rows, limited, reference) = if let Some(t) = &user {
        let (col, limit) = config.table.cost()?;
        let cost = t.metric(col)?;
        let mean = cost.iter().sum::<f64>() / cost.len() as f64;
        let r = (0..cost.len()).min_by(|&a, &b| (cost[a] - mean).abs().total_cmp(&(cost[b] - mean).abs())).unwrap_or(0);
        let reference = t.genotypes()[r].clone();
        let limited = vec![Limited { name: col.to_string(), unit: String::new(), values: cost, limit, exact: None }];
        (Rows::user(t, &config.table.reward_column)?, limited, reference)
    } else {
        config.space.require("nas mathnas", &[SpaceId::Nb201, SpaceId::Fbnet])?;
        let rows = Rows::nb201(&nb201, data)?;
        let flops = rows.flops.clone().context("the NB201 FLOPs table")?;
        let mut limited = Vec::new();
        if lat.is_some() || energy.is_some() {
            let hw = HwNasBench::load(data)?;
            let ds = config.hw_dataset;
            for (kind, unit, limit) in [("latency", "ms", lat), ("energy", "mJ", energy)] {
                if let Some(limit) = limit {
                    let name = format!("{}_{kind}", config.device);
                    let values = hw.column(ds, &name).with_context(|| format!("--device {}", config.device))?.to_vec();
                    if values.len() != rows.genotypes.len() || values.iter().any(|v| !v.is_finite()) {
                        bail!("{name} has missing values for {ds}");
                    }
                    limited.push(Limited { name, unit: unit.into(), values, limit, exact: None });
                }
            }
        }
        if let Some(limit) = mflops {
            let values = rows.genotypes.iter().map(|g| flops.cost(g)).collect::<nas_core::Result<Vec<_>>>()?;
            limited.push(Limited {
                name: "flops".into(),
                unit: "MFLOPs".into(),
                values,
                limit,
                exact: Some(flops.clone()),
            });
        }
        (rows, limited, average_cost_reference(&flops))
    };
    let Rows { space, genotypes, reward, reported: true_extra, flops } = rows;
    if limited.is_empty() {
        bail!("give at least one limit: --max-latency-ms, --max-energy-mj, --max-mflops (or --max-cost with --table)");
    }
    check_feasible(&limited, genotypes.len())?;
    let decisions = space.decisions();
    // The reward's evaluator holds the one index of the rows; the other columns share it.
    let reward_eval = TableEvaluator::from_genotypes("reward", &genotypes, reward.clone())?;
    let find = |g: &Genotype| reward_eval.row(g);

    let mut predicted = BTreeMap::new();
    let mut extra: BTreeMap<String, Metric> = BTreeMap::new();
    let (arch, evaluations, measurements) = if config.predictor == Predictor::Mathnas {
        let exact_tables = config.block_table == BlockTableKind::Exact;
        let table_of = |name: &str, eval: &dyn Evaluator| {
            if exact_tables {
                BlockTable::exact(name, decisions, eval)
            } else {
                BlockTable::measure(name, decisions, eval, &reference)
            }
        };
        let acc = table_of("reward", &reward_eval)?;
        let mut constraints = Vec::new();
        let mut measurements = 0;
        for l in &limited {
            let cost = match &l.exact {
                Some(c) => c.clone(),
                None => {
                    let column = TableEvaluator::new(&l.name, l.values.clone(), find);
                    let t = table_of(&l.name, &column)?;
                    measurements += t.evaluations;
                    t.as_cost(&l.unit)?
                }
            };
            constraints.push((cost, l.limit));
        }
        let problem = MckpProblem::new(acc.values(), constraints)?;
        let t = Instant::now();
        let choice = match (config.objective, config.solver) {
            (Objective::Additive, solver) => {
                let s = if solver == Solver::Exact { mckp::solve(&problem)? } else { milp::solve_milp(&problem)? };
                extra.insert("nodes".into(), Metric::Count(s.nodes as u64));
                predicted.insert("reward".into(), acc.predict(&s.choice));
                s.choice
            }
            (Objective::FlopsScaled, Solver::Exact) => {
                let Some(flops) = &flops else {
                    bail!("--objective flops-scaled needs the FLOPs of --space nb201, not a user table");
                };
                let base = largest_nb201();
                let s = acc.select_scaled(&problem, &base, flops)?;
                extra.insert("ratio_iterations".into(), Metric::Count(s.iterations as u64));
                predicted.insert("reward".into(), acc.predict_scaled(&s.choice, &base, flops, mean_cost(flops))?);
                s.choice
            }
            (Objective::FlopsScaled, Solver::Milp) => {
                bail!("--objective flops-scaled runs on --solver exact, not milp")
            }
        };
        extra.insert("solve_seconds".into(), t.elapsed().as_secs_f64().into());
        for (l, c) in limited.iter().zip(problem.costs_of(&choice.0)) {
            predicted.insert(l.name.clone(), c);
        }
        if config.correlation {
            let pred: Vec<f64> = genotypes.iter().map(|g| acc.predict(g)).collect();
            extra.insert("spearman_additive".into(), spearman(&pred, &reward).into());
            if let Some(flops) = &flops {
                let (base, mean) = (&largest_nb201(), mean_cost(flops));
                let scaled: Vec<f64> = genotypes
                    .iter()
                    .map(|g| acc.predict_scaled(g, base, flops, mean))
                    .collect::<nas_core::Result<_>>()?;
                extra.insert("spearman_flops_scaled".into(), spearman(&scaled, &reward).into());
                let exact = BlockTable::exact("reward", decisions, &reward_eval)?;
                let pe: Vec<f64> = genotypes.iter().map(|g| exact.predict(g)).collect();
                let ps: Vec<f64> = genotypes
                    .iter()
                    .map(|g| exact.predict_scaled(g, base, flops, mean))
                    .collect::<nas_core::Result<_>>()?;
                extra.insert("spearman_exact_additive".into(), spearman(&pe, &reward).into());
                extra.insert("spearman_exact_flops_scaled".into(), spearman(&ps, &reward).into());
                for (name, col) in &true_extra {
                    extra.insert(format!("spearman_additive_vs_{name}"), spearman(&pred, col).into());
                    extra.insert(format!("spearman_exact_additive_vs_{name}"), spearman(&pe, col).into());
                    extra.insert(format!("spearman_exact_flops_scaled_vs_{name}"), spearman(&ps, col).into());
                }
            }
        }
        (choice, acc.evaluations, measurements)
    } else {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let n = config.samples.min(genotypes.len());
        let rows = rand::seq::index::sample(&mut rng, genotypes.len(), n).into_vec();
        let fit = |values: &[f64], name: &str| {
            let s: Vec<(Genotype, f64)> = rows.iter().map(|&r| (genotypes[r].clone(), values[r])).collect();
            PairwiseModel::fit(name, decisions, &s, 1.0)
        };
        let acc = fit(&reward, "reward")?;
        let mut constraints = Vec::new();
        for l in &limited {
            let model = match &l.exact {
                Some(c) => PairwiseModel::from_cost(c),
                None => fit(&l.values, &l.name)?,
            };
            constraints.push((model, l.limit));
        }
        let t = Instant::now();
        let top = select_pairwise(&acc, &constraints, config.verify.max(1))?;
        extra.insert("solve_seconds".into(), t.elapsed().as_secs_f64().into());
        let mut pick = top.first().context("the pairwise selection returned nothing")?.0.clone();
        let mut checked = 0;
        if config.verify > 0 {
            let mut best = f64::NEG_INFINITY;
            for (g, _) in &top {
                if let Some(r) = find(g) {
                    checked += 1;
                    if reward[r] > best {
                        best = reward[r];
                        pick = g.clone();
                    }
                }
            }
        }
        predicted.insert("reward".into(), acc.predict(&pick.0));
        for (l, (m, _)) in limited.iter().zip(&constraints) {
            predicted.insert(l.name.clone(), m.predict(&pick.0));
        }
        if config.correlation {
            let pred: Vec<f64> = genotypes.iter().map(|g| acc.predict(&g.0)).collect();
            extra.insert("spearman_pairwise".into(), spearman(&pred, &reward).into());
        }
        (pick, n + checked, n)
    };
    let mut truth = BTreeMap::new();
    let mut best_true = None;
    if let Some(r) = find(&arch) {
        truth.insert("reward".into(), reward[r].into());
        for (name, col) in &true_extra {
            truth.insert(name.clone(), col[r].into());
        }
        for l in &limited {
            truth.insert(l.name.clone(), l.values[r].into());
        }
        truth.insert("meets_limits".into(), Metric::Flag(limited.iter().all(|l| meets_limit(l.values[r], l.limit))));
        // The exhaustive optimum under the true limits, by the reported accuracy.
        let (score_name, score): (&str, &[f64]) = true_extra.first().map_or(("reward", &reward[..]), |(n, c)| (n, c));
        let feasible = (0..genotypes.len()).filter(|&i| limited.iter().all(|l| meets_limit(l.values[i], l.limit)));
        if let Some(b) = feasible.max_by(|&a, &b| score[a].total_cmp(&score[b])) {
            let mut m = BTreeMap::new();
            m.insert("arch".into(), Metric::Text(space.format(&genotypes[b])));
            m.insert(score_name.to_string(), score[b].into());
            m.insert("reward".into(), reward[b].into());
            best_true = Some(m);
        }
    }
    Ok(SelectionReport {
        arch: space.format(&arch),
        predictor: Some(config.predictor),
        predicted,
        truth,
        best_true,
        evaluations,
        cost_measurements: Some(measurements),
        reference: Some(space.format(&reference)),
        details: Some(extra),
        seconds: started.elapsed().as_secs_f64(),
        ..SelectionReport::default()
    })
}

/// LayerNAS: layer-by-layer search under a cost target, and the truth about its answer.
pub fn layernas(config: &LayerNasConfig, data: &DataDir) -> anyhow::Result<SelectionReport> {
    let started = Instant::now();
    if config.buckets == 0 || config.buckets > 100_000 || config.keep == 0 || config.keep > 1_000 {
        bail!(
            "invalid --buckets {} / --keep {}: give 1 to 100000 buckets and keep 1 to 1000 per bucket",
            config.buckets,
            config.keep
        );
    }
    if config.table.table.is_none() && config.space == SpaceId::Fbnet {
        let a = fbnet::LayerNasFbnet {
            cost: config.cost,
            device: config.device.as_deref(),
            hw_data: config.hw_data.as_deref(),
            max_latency_ms: check_limit("max-latency-ms", config.max_latency_ms)?,
            max_mflops: check_limit("max-mflops", config.max_mflops)?,
            buckets: config.buckets,
            keep: config.keep,
            proxy: &config.proxy,
        };
        return fbnet::layernas(&a, data, started);
    }
    config.proxy.refuse_on(if config.table.table.is_some() { "a --table" } else { config.space.name() })?;
    let nb201 = Nb201Space::default();
    let user = config.table.open()?;
    let (rows, cost, target, unit) = if let Some(t) = &user {
        let (col, limit) = config.table.cost()?;
        (Rows::user(t, &config.table.reward_column)?, t.metric(col)?, limit, String::new())
    } else {
        if config.cost != CostKind::Flops {
            bail!("--cost latency is for --space fbnet; nb201 runs on --cost flops");
        }
        let Some(limit) = check_limit("max-mflops", config.max_mflops)? else { bail!("give --max-mflops") };
        let rows = Rows::nb201(&nb201, data)?;
        let flops = rows.flops.as_ref().context("the NB201 FLOPs table")?;
        let cost = rows.genotypes.iter().map(|g| flops.cost(g)).collect::<nas_core::Result<Vec<_>>>()?;
        (rows, cost, limit, " MFLOPs".to_string())
    };
    let Rows { space, genotypes, reward, reported: extra_cols, .. } = rows;
    let reward_eval = TableEvaluator::from_genotypes("reward", &genotypes, reward.clone())?;
    let find = |g: &Genotype| reward_eval.row(g);
    // Defaults: the cheapest row's options (the cheapest network when costs are additive).
    let cheapest = (0..cost.len()).min_by(|&a, &b| cost[a].total_cmp(&cost[b])).context("an empty table")?;
    if !meets_limit(cost[cheapest], target) {
        bail!("infeasible: the cheapest network costs {:.6}{unit}, above the limit {target}", cost[cheapest]);
    }
    let nas = LayerNas::new(config.buckets, config.keep, genotypes[cheapest].0.clone())?;
    let cost_fn = |g: &Genotype| -> nas_core::Result<f64> {
        find(g).map(|i| cost[i]).ok_or_else(|| nas_core::Error::invalid("genotype", format!("{g} is not in the table")))
    };
    let r = nas.run(space.decisions(), &reward_eval, &cost_fn, target)?;
    let row = find(&r.best).context("the answer is not in the table")?;
    let mut truth: BTreeMap<String, Metric> = BTreeMap::new();
    truth.insert("reward".into(), reward[row].into());
    truth.insert("cost".into(), cost[row].into());
    for (n, c) in &extra_cols {
        truth.insert(n.clone(), c[row].into());
    }
    let b =
        (0..genotypes.len()).filter(|&i| meets_limit(cost[i], target)).max_by(|&a, &b| reward[a].total_cmp(&reward[b]));
    let best_true = b.map(|b| {
        let mut m = BTreeMap::new();
        m.insert("arch".into(), Metric::Text(space.format(&genotypes[b])));
        m.insert("reward".into(), reward[b].into());
        m.insert("cost".into(), cost[b].into());
        m
    });
    Ok(SelectionReport {
        arch: space.format(&r.best),
        predicted: BTreeMap::from([("reward".to_string(), r.reward), ("cost".to_string(), r.cost)]),
        truth,
        best_true,
        evaluations: r.evaluations,
        space_size: Some(genotypes.len()),
        seconds: started.elapsed().as_secs_f64(),
        ..SelectionReport::default()
    })
}
