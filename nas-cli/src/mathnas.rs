//! `nas mathnas` and `nas layernas`: selection under hardware limits on NAS-Bench-201 (accuracy
//! from the benchmark table, latency and energy from HW-NAS-Bench, FLOPs from the IR), on FBNet
//! (a training-free score, latency fitted on HELP, FLOPs from the IR: [`crate::mathnas_fbnet`]) or
//! on a user's CSV table.

use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use nas_core::{AdditiveCost, Evaluation, Evaluator, Genotype, SearchSpace};
use nas_spaces::{DataDir, Dataset, HwNasBench, Nb201Space, Nb201Table, UserTable};
use nas_strategies::mathnas::{PairwiseModel, average_cost_reference, mean_cost, select_pairwise};
use nas_strategies::{BlockTable, LayerNas, MckpProblem, mckp, milp};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::mathnas_fbnet::{self, ProxyArgs};

/// A user table: `--table <csv> --encoding-column --reward-column --cost-column --max-cost`.
#[derive(Debug, Args)]
pub struct TableArgs {
    /// A CSV benchmark table (see README: one encoding column, metric columns).
    #[arg(long)]
    table: Option<std::path::PathBuf>,
    #[arg(long, default_value = "encoding")]
    encoding_column: String,
    /// Separator between layers in the encoding (default: one character per layer).
    #[arg(long)]
    encoding_sep: Option<String>,
    #[arg(long, default_value = "accuracy")]
    reward_column: String,
    #[arg(long)]
    cost_column: Option<String>,
    #[arg(long)]
    max_cost: Option<f64>,
}

impl TableArgs {
    /// The user table, when `--table` is given.
    fn open(&self) -> anyhow::Result<Option<UserTable>> {
        let Some(path) = &self.table else { return Ok(None) };
        Ok(Some(UserTable::from_csv(path, &self.encoding_column, self.encoding_sep.as_deref())?))
    }
}

#[derive(Debug, Args)]
pub struct MathNasArgs {
    /// The space: nb201 or fbnet (ignored with --table).
    #[arg(long, default_value = "nb201")]
    space: String,
    /// nb201: HW-NAS-Bench device whose `<device>_latency` / `<device>_energy` columns are limited;
    /// fbnet: a HELP latency column (pixel3, raspi4, samsung_a50, gold_6240, 1080ti_1, ...).
    #[arg(long, default_value = "edgegpu")]
    device: String,
    /// fbnet: the HELP latency file (default: the data directory's fbnet/help_latency_fbnet_train4000.csv).
    #[arg(long, value_name = "CSV")]
    hw_data: Option<std::path::PathBuf>,
    /// HW-NAS-Bench dataset of the hardware columns.
    #[arg(long, default_value = "cifar10")]
    hw_dataset: String,
    #[arg(long)]
    max_latency_ms: Option<f64>,
    #[arg(long)]
    max_energy_mj: Option<f64>,
    #[arg(long)]
    max_mflops: Option<f64>,
    /// mathnas (the paper: m*n block measurements, additive) or best (pairwise block interactions
    /// fitted on a sample of true evaluations).
    #[arg(long, default_value = "mathnas")]
    predictor: String,
    /// Sample size of the `best` predictor.
    #[arg(long, default_value_t = 1000)]
    samples: usize,
    /// Candidates of the `best` predictor checked against the true table (best true one wins).
    #[arg(long, default_value_t = 30)]
    verify: usize,
    /// measured (the paper's m*n evaluations around the average-FLOPs network) or exact (deltas
    /// averaged over every network of the table: an analysis of the predictor's best case).
    #[arg(long, default_value = "measured")]
    block_table: String,
    /// exact (branch and bound) or milp (good_lp with microlp), for the mathnas predictor.
    #[arg(long, default_value = "exact")]
    solver: String,
    /// What the mathnas predictor maximises: additive (base - sum of block deltas) or flops-scaled
    /// (the paper's `pred(base) - mean FLOPs / FLOPs(g) * deviation from the largest network`, nb201;
    /// selected exactly by Dinkelbach's method over the exact solver).
    #[arg(long, default_value = "additive")]
    objective: String,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also report Spearman rho of predicted vs true accuracy over the whole space.
    #[arg(long)]
    correlation: bool,
    #[command(flatten)]
    proxy: ProxyArgs,
    #[command(flatten)]
    table: TableArgs,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct LayerNasArgs {
    /// The space: nb201 or fbnet (ignored with --table).
    #[arg(long, default_value = "nb201")]
    space: String,
    /// The cost: flops (nb201, fbnet) or latency (fbnet, with --device).
    #[arg(long, default_value = "flops")]
    cost: String,
    /// fbnet: the HELP latency column limited by --max-latency-ms (pixel3, raspi4, ...).
    #[arg(long)]
    device: Option<String>,
    /// fbnet: the HELP latency file (default: the data directory's fbnet/help_latency_fbnet_train4000.csv).
    #[arg(long, value_name = "CSV")]
    hw_data: Option<std::path::PathBuf>,
    #[arg(long)]
    max_latency_ms: Option<f64>,
    #[arg(long)]
    max_mflops: Option<f64>,
    /// H: cost buckets.
    #[arg(long, default_value_t = 100)]
    buckets: usize,
    /// Candidates kept per bucket.
    #[arg(long, default_value_t = 1)]
    keep: usize,
    #[command(flatten)]
    proxy: ProxyArgs,
    #[command(flatten)]
    table: TableArgs,
    #[arg(long)]
    json: bool,
}

/// A column of numbers indexed like the space's genotypes, as an evaluator.
struct Lookup<'a> {
    values: &'a [f64],
    index: &'a dyn Fn(&Genotype) -> Option<usize>,
}

impl Evaluator for Lookup<'_> {
    fn evaluate(&self, g: &Genotype) -> nas_core::Result<Evaluation> {
        let i =
            (self.index)(g).ok_or_else(|| nas_core::Error::invalid("genotype", format!("{g} is not in the table")))?;
        Ok(Evaluation { fitness: self.values[i], cost_seconds: 0.0 })
    }
}

fn check_limit(name: &str, v: Option<f64>) -> anyhow::Result<Option<f64>> {
    match v {
        Some(x) if !x.is_finite() || x < 0.0 => bail!("invalid --{name} {x}: a limit must be a finite number >= 0"),
        other => Ok(other),
    }
}

/// MathNAS's base network for the FLOPs scaling on NB201: the largest, nor_conv_3x3 on every edge.
fn largest_nb201() -> Genotype {
    Genotype(vec![3; 6])
}

/// Prints the result: one line of JSON with --json, else indented JSON.
fn output(out: &Value, one_line: bool) -> anyhow::Result<()> {
    if one_line {
        return crate::print_json(out);
    }
    println!("{}", serde_json::to_string_pretty(out)?);
    Ok(())
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    nas_core::stats::spearman(a, b).unwrap_or(f64::NAN)
}

/// Everything about one limited metric: its name, unit, true values by row, limit, and the
/// additive or pairwise model the selection uses.
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

pub fn run_mathnas(args: MathNasArgs, data: &DataDir) -> anyhow::Result<()> {
    let started = Instant::now();
    if !matches!(args.predictor.as_str(), "mathnas" | "best") {
        bail!("unknown --predictor {:?}; available: mathnas, best", args.predictor);
    }
    if !matches!(args.solver.as_str(), "exact" | "milp") {
        bail!("unknown --solver {:?}; available: exact, milp", args.solver);
    }
    let lat = check_limit("max-latency-ms", args.max_latency_ms)?;
    let energy = check_limit("max-energy-mj", args.max_energy_mj)?;
    let mflops = check_limit("max-mflops", args.max_mflops)?;
    let max_cost = check_limit("max-cost", args.table.max_cost)?;
    if args.table.table.is_none() && args.space == "fbnet" {
        if args.predictor == "best" {
            bail!(
                "--predictor best fits its pairwise model on true accuracies, and fbnet has no accuracy table; \
                 use --predictor mathnas"
            );
        }
        if args.block_table != "measured" {
            bail!("--block-table {} needs every network of the space; fbnet has 9^22: use measured", args.block_table);
        }
        if args.correlation {
            bail!("--correlation needs a table of the whole space; fbnet has none");
        }
        if energy.is_some() {
            bail!("--max-energy-mj: the HELP data for fbnet has latency only");
        }
        if args.objective != "additive" {
            bail!("--objective {}: fbnet selects by the additive prediction only", args.objective);
        }
        let a = mathnas_fbnet::MathNasFbnet {
            device: &args.device,
            hw_data: args.hw_data.as_deref(),
            max_latency_ms: lat,
            max_mflops: mflops,
            solver: &args.solver,
            proxy: &args.proxy,
        };
        return output(&mathnas_fbnet::mathnas(&a, data, started)?, args.json);
    }
    if args.table.table.is_none() {
        args.proxy.refuse_on(&args.space)?;
    } else {
        args.proxy.refuse_on("a --table")?;
    }

    // The rows of the space or table, the limited metrics, the reference network.
    let nb201 = Nb201Space::default();
    let user = args.table.open()?;
    let (rows, limited, reference) = if let Some(t) = &user {
        let Some(col) = &args.table.cost_column else { bail!("--table needs --cost-column and --max-cost") };
        let Some(limit) = max_cost else { bail!("--table needs --max-cost") };
        let cost = t.metric(col)?;
        let mean = cost.iter().sum::<f64>() / cost.len() as f64;
        let r = (0..cost.len()).min_by(|&a, &b| (cost[a] - mean).abs().total_cmp(&(cost[b] - mean).abs())).unwrap_or(0);
        let reference = t.genotypes()[r].clone();
        let limited = vec![Limited { name: col.clone(), unit: String::new(), values: cost, limit, exact: None }];
        (Rows::user(t, &args.table.reward_column)?, limited, reference)
    } else {
        if args.space != "nb201" {
            bail!("unknown space {:?}; available: nb201, fbnet (or --table)", args.space);
        }
        let rows = Rows::nb201(&nb201, data)?;
        let flops = rows.flops.clone().context("the NB201 FLOPs table")?;
        let mut limited = Vec::new();
        if lat.is_some() || energy.is_some() {
            let hw = HwNasBench::load(data)?;
            let ds: Dataset = args.hw_dataset.parse()?;
            for (kind, unit, limit) in [("latency", "ms", lat), ("energy", "mJ", energy)] {
                if let Some(limit) = limit {
                    let name = format!("{}_{kind}", args.device);
                    let values = hw.column(ds, &name).with_context(|| format!("--device {}", args.device))?.to_vec();
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
    let index: std::collections::HashMap<&Genotype, usize> =
        genotypes.iter().enumerate().map(|(i, g)| (g, i)).collect();
    let find = |g: &Genotype| index.get(g).copied();
    let decisions = space.decisions();
    let reward_eval = Lookup { values: &reward, index: &find };

    let mut predicted = Map::new();
    let mut extra = Map::new();
    let (arch, evaluations, measurements) = if args.predictor == "mathnas" {
        let exact_tables = match args.block_table.as_str() {
            "measured" => false,
            "exact" => true,
            other => bail!("unknown --block-table {other:?}; available: measured, exact"),
        };
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
                    let t = table_of(&l.name, &Lookup { values: &l.values, index: &find })?;
                    measurements += t.evaluations;
                    t.as_cost(&l.unit)?
                }
            };
            constraints.push((cost, l.limit));
        }
        let problem = MckpProblem::new(acc.values(), constraints)?;
        let t = Instant::now();
        let choice = match (args.objective.as_str(), args.solver.as_str()) {
            ("additive", "exact") | ("additive", "milp") => {
                let s = if args.solver == "exact" { mckp::solve(&problem)? } else { milp::solve_milp(&problem)? };
                extra.insert("nodes".into(), json!(s.nodes));
                predicted.insert("reward".into(), json!(acc.predict(&s.choice)));
                s.choice
            }
            ("flops-scaled", "exact") => {
                let Some(flops) = &flops else {
                    bail!("--objective flops-scaled needs the FLOPs of --space nb201, not a user table");
                };
                let base = largest_nb201();
                let s = acc.select_scaled(&problem, &base, flops)?;
                extra.insert("ratio_iterations".into(), json!(s.iterations));
                predicted
                    .insert("reward".into(), json!(acc.predict_scaled(&s.choice, &base, flops, mean_cost(flops))?));
                s.choice
            }
            ("flops-scaled", other) => bail!("--objective flops-scaled runs on --solver exact, not {other:?}"),
            (other, _) => bail!("unknown --objective {other:?}; available: additive, flops-scaled"),
        };
        extra.insert("solve_seconds".into(), json!(t.elapsed().as_secs_f64()));
        for (l, c) in limited.iter().zip(problem.costs_of(&choice.0)) {
            predicted.insert(l.name.clone(), json!(c));
        }
        if args.correlation {
            let pred: Vec<f64> = genotypes.iter().map(|g| acc.predict(g)).collect();
            extra.insert("spearman_additive".into(), json!(spearman(&pred, &reward)));
            if let Some(flops) = &flops {
                let (base, mean) = (&largest_nb201(), mean_cost(flops));
                let scaled: Vec<f64> = genotypes
                    .iter()
                    .map(|g| acc.predict_scaled(g, base, flops, mean))
                    .collect::<nas_core::Result<_>>()?;
                extra.insert("spearman_flops_scaled".into(), json!(spearman(&scaled, &reward)));
                let exact = BlockTable::exact("reward", decisions, &reward_eval)?;
                let pe: Vec<f64> = genotypes.iter().map(|g| exact.predict(g)).collect();
                let ps: Vec<f64> = genotypes
                    .iter()
                    .map(|g| exact.predict_scaled(g, base, flops, mean))
                    .collect::<nas_core::Result<_>>()?;
                extra.insert("spearman_exact_additive".into(), json!(spearman(&pe, &reward)));
                extra.insert("spearman_exact_flops_scaled".into(), json!(spearman(&ps, &reward)));
                for (name, col) in &true_extra {
                    extra.insert(format!("spearman_additive_vs_{name}"), json!(spearman(&pred, col)));
                    extra.insert(format!("spearman_exact_additive_vs_{name}"), json!(spearman(&pe, col)));
                    extra.insert(format!("spearman_exact_flops_scaled_vs_{name}"), json!(spearman(&ps, col)));
                }
            }
        }
        (choice, acc.evaluations, measurements)
    } else {
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
        let n = args.samples.min(genotypes.len());
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
        let top = select_pairwise(&acc, &constraints, args.verify.max(1))?;
        extra.insert("solve_seconds".into(), json!(t.elapsed().as_secs_f64()));
        let mut pick = top[0].0.clone();
        let mut checked = 0;
        if args.verify > 0 {
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
        predicted.insert("reward".into(), json!(acc.predict(&pick.0)));
        for (l, (m, _)) in limited.iter().zip(&constraints) {
            predicted.insert(l.name.clone(), json!(m.predict(&pick.0)));
        }
        if args.correlation {
            let pred: Vec<f64> = genotypes.iter().map(|g| acc.predict(&g.0)).collect();
            extra.insert("spearman_pairwise".into(), json!(spearman(&pred, &reward)));
        }
        (pick, n + checked, n)
    };
    let row = find(&arch);
    let mut truth = Map::new();
    let mut best_true = Value::Null;
    if let Some(r) = row {
        truth.insert("reward".into(), json!(reward[r]));
        for (name, col) in &true_extra {
            truth.insert(name.clone(), json!(col[r]));
        }
        for l in &limited {
            truth.insert(l.name.clone(), json!(l.values[r]));
        }
        truth.insert("meets_limits".into(), json!(limited.iter().all(|l| l.values[r] <= l.limit + 1e-9)));
        // The exhaustive optimum under the true limits, by the reported accuracy.
        let (score_name, score): (&str, &[f64]) = true_extra.first().map_or(("reward", &reward[..]), |(n, c)| (n, c));
        let feasible = (0..genotypes.len()).filter(|&i| limited.iter().all(|l| l.values[i] <= l.limit + 1e-9));
        if let Some(b) = feasible.max_by(|&a, &b| score[a].total_cmp(&score[b])) {
            best_true = json!({"arch": space.format(&genotypes[b]), score_name: score[b], "reward": reward[b]});
        }
    }
    let out = json!({
        "arch": space.format(&arch),
        "predictor": args.predictor,
        "predicted": predicted,
        "true": truth,
        "best_true": best_true,
        "evaluations": evaluations,
        "cost_measurements": measurements,
        "reference": space.format(&reference),
        "details": extra,
        "seconds": started.elapsed().as_secs_f64(),
    });
    if args.json {
        return crate::print_json(&out);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

pub fn run_layernas(args: LayerNasArgs, data: &DataDir) -> anyhow::Result<()> {
    let started = Instant::now();
    if args.table.table.is_none() && args.space == "fbnet" {
        let a = mathnas_fbnet::LayerNasFbnet {
            cost: &args.cost,
            device: args.device.as_deref(),
            hw_data: args.hw_data.as_deref(),
            max_latency_ms: check_limit("max-latency-ms", args.max_latency_ms)?,
            max_mflops: check_limit("max-mflops", args.max_mflops)?,
            buckets: args.buckets,
            keep: args.keep,
            proxy: &args.proxy,
        };
        return output(&mathnas_fbnet::layernas(&a, data, started)?, args.json);
    }
    args.proxy.refuse_on(if args.table.table.is_some() { "a --table" } else { &args.space })?;
    let nb201 = Nb201Space::default();
    let user = args.table.open()?;
    let (rows, cost, target) = if let Some(t) = &user {
        let Some(col) = &args.table.cost_column else { bail!("--table needs --cost-column and --max-cost") };
        let Some(limit) = check_limit("max-cost", args.table.max_cost)? else { bail!("--table needs --max-cost") };
        (Rows::user(t, &args.table.reward_column)?, t.metric(col)?, limit)
    } else {
        if args.space != "nb201" {
            bail!("unknown space {:?}; available: nb201, fbnet (or --table)", args.space);
        }
        if args.cost != "flops" {
            bail!("unknown --cost {:?}; available: flops", args.cost);
        }
        let Some(limit) = check_limit("max-mflops", args.max_mflops)? else { bail!("give --max-mflops") };
        let rows = Rows::nb201(&nb201, data)?;
        let flops = rows.flops.as_ref().context("the NB201 FLOPs table")?;
        let cost = rows.genotypes.iter().map(|g| flops.cost(g)).collect::<nas_core::Result<Vec<_>>>()?;
        (rows, cost, limit)
    };
    let Rows { space, genotypes, reward, reported: extra_cols, .. } = rows;
    let index: std::collections::HashMap<&Genotype, usize> =
        genotypes.iter().enumerate().map(|(i, g)| (g, i)).collect();
    let find = |g: &Genotype| index.get(g).copied();
    // Defaults: the cheapest row's options (the cheapest network when costs are additive).
    let cheapest = (0..cost.len()).min_by(|&a, &b| cost[a].total_cmp(&cost[b])).context("an empty table")?;
    if cost[cheapest] > target + 1e-9 {
        bail!("infeasible: the cheapest network costs {:.6}, above the limit {target}", cost[cheapest]);
    }
    let nas = LayerNas::new(args.buckets, args.keep, genotypes[cheapest].0.clone())?;
    let reward_eval = Lookup { values: &reward, index: &find };
    let cost_fn = |g: &Genotype| -> nas_core::Result<f64> {
        find(g).map(|i| cost[i]).ok_or_else(|| nas_core::Error::invalid("genotype", format!("{g} is not in the table")))
    };
    let r = nas.run(space.decisions(), &reward_eval, &cost_fn, target)?;
    let row = find(&r.best).context("the answer is not in the table")?;
    let mut truth = json!({"reward": reward[row], "cost": cost[row]});
    for (n, c) in &extra_cols {
        truth[n] = json!(c[row]);
    }
    let b = (0..genotypes.len()).filter(|&i| cost[i] <= target + 1e-9).max_by(|&a, &b| reward[a].total_cmp(&reward[b]));
    let best_true = b.map(|b| json!({"arch": space.format(&genotypes[b]), "reward": reward[b], "cost": cost[b]}));
    let out = json!({
        "arch": space.format(&r.best),
        "predicted": {"reward": r.reward, "cost": r.cost},
        "true": truth,
        "best_true": best_true,
        "evaluations": r.evaluations,
        "space_size": genotypes.len(),
        "seconds": started.elapsed().as_secs_f64(),
    });
    if args.json {
        return crate::print_json(&out);
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
