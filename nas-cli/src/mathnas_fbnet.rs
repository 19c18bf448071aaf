//! `nas mathnas --space fbnet` and `nas layernas --space fbnet`: selection in the FBNet space
//! (9^22 networks, no accuracy table) with a training-free score as the reward, latency from an
//! additive table fitted on every HELP row of one device column, and the exact FLOPs table.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use nas_core::{AdditiveCost, Genotype, SearchSpace};
use nas_kernels::{ArchScorer, Proxy, ScoreEvaluator};
use nas_spaces::{DataDir, FbnetSpace};
use nas_strategies::mathnas::average_cost_reference;
use nas_strategies::{BlockTable, LayerNas, MckpProblem, mckp, milp};
use serde_json::{Map, Value, json};

use crate::score::ScoringArgs;

/// The HELP latency file in the data directory.
pub const HELP_FILE: &str = "fbnet/help_latency_fbnet_train4000.csv";

/// The reward of the FBNet space: a training-free score, with its images, initialisation and cache.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// fbnet: the training-free score used as the reward (naswot, synflow, snip, grad_norm, grasp,
    /// fisher, jacob_cov, ntk, params, flops).
    #[arg(long)]
    proxy: Option<String>,
    /// fbnet: CIFAR-10 binary file for the score (default: a deterministic synthetic batch).
    #[arg(long, value_name = "FILE")]
    images: Option<PathBuf>,
    /// fbnet: images per score.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// fbnet: seed of the networks' initial weights.
    #[arg(long, default_value_t = 0)]
    init_seed: u64,
    /// fbnet: score cache file (default: $NAS_CACHE_DIR/scores.jsonl, else ~/.cache/nas-rs/scores.jsonl).
    #[arg(long, value_name = "FILE")]
    cache: Option<PathBuf>,
    /// fbnet: neither read nor write the score cache.
    #[arg(long)]
    no_cache: bool,
}

impl ProxyArgs {
    /// Refuses the proxy options on a space whose reward comes from a table.
    pub fn refuse_on(&self, space: &str) -> anyhow::Result<()> {
        if let Some(p) = &self.proxy {
            bail!("--proxy {p} is for --space fbnet; on {space} the reward is the table's accuracy");
        }
        Ok(())
    }

    fn proxy(&self) -> anyhow::Result<Proxy> {
        let Some(name) = &self.proxy else {
            bail!("--space fbnet has no accuracy table: give --proxy (e.g. synflow, naswot, params)")
        };
        Ok(Proxy::parse(name)?)
    }

    /// The scorer of FBNet networks.
    fn scorer<'a>(&self, space: &'a FbnetSpace, proxy: Proxy) -> anyhow::Result<ArchScorer<'a>> {
        let scoring = ScoringArgs {
            space: "fbnet".into(),
            images: self.images.clone(),
            batch: self.batch,
            init_seed: self.init_seed,
            cache: self.cache.clone(),
            no_cache: self.no_cache,
        };
        let images = scoring.image_batch(&[proxy])?;
        Ok(ArchScorer::new(space, None, images, self.init_seed, scoring.open_cache()?)?)
    }
}

/// The latency of one HELP device column: the fitted additive table and every measured row.
pub struct Latency {
    pub device: String,
    pub path: PathBuf,
    pub table: AdditiveCost,
    pub measured: HashMap<Genotype, f64>,
    pub rows: usize,
    pub fit: nas_hw::Accuracy,
}

impl Latency {
    /// Fits `device`'s column of `hw_data` (default: the data directory's HELP file) on all rows.
    pub fn fit(space: &FbnetSpace, data: &DataDir, hw_data: Option<&Path>, device: &str) -> anyhow::Result<Self> {
        let path = match hw_data {
            Some(p) => p.to_path_buf(),
            None => data.file(HELP_FILE)?,
        };
        let m =
            nas_hw::data::read(&path, device, space, None, &|_| None).with_context(|| format!("--device {device}"))?;
        let options: Vec<usize> = space.decisions().iter().map(|d| d.choices.len()).collect();
        let table = nas_hw::model::fit_table(&format!("{device}_latency"), &options, &m.rows)
            .with_context(|| format!("fitting {device} on {}", path.display()))?;
        let predicted = m.rows.iter().map(|r| table.cost(&r.genotype)).collect::<nas_core::Result<Vec<_>>>()?;
        let values: Vec<f64> = m.rows.iter().map(|r| r.value).collect();
        let fit = nas_hw::accuracy(&predicted, &values);
        let mut measured = HashMap::new();
        for r in &m.rows {
            measured.entry(r.genotype.clone()).or_insert(r.value);
        }
        Ok(Latency { device: device.into(), path, table, measured, rows: m.rows.len(), fit })
    }

    fn describe(&self) -> Value {
        json!({
            "device": self.device, "file": self.path.display().to_string(), "rows": self.rows,
            "fit_within_10pct": self.fit.within_10pct, "fit_spearman": self.fit.spearman,
            "fit_rmse_ms": self.fit.rmse_ms,
        })
    }

    /// Inserts the latency of `g` into `truth`: measured when `g` is a row of the file, else the
    /// fitted table's value under another name. Returns the value used to check the limit.
    fn truth(&self, g: &Genotype, truth: &mut Map<String, Value>) -> anyhow::Result<f64> {
        Ok(match self.measured.get(g) {
            Some(&v) => {
                truth.insert("latency_ms".into(), json!(v));
                truth.insert("latency_source".into(), json!("measured (a row of the HELP file)"));
                v
            }
            None => {
                let v = self.table.cost(g)?;
                truth.insert("latency_ms_fitted".into(), json!(v));
                truth.insert("latency_source".into(), json!("fitted table (not a measured row)"));
                v
            }
        })
    }
}

fn exact_mflops(space: &FbnetSpace, g: &Genotype) -> anyhow::Result<f64> {
    Ok(space.to_network(g)?.counts().flops as f64 / 1e6)
}

/// What `nas mathnas --space fbnet` needs from its arguments.
pub struct MathNasFbnet<'a> {
    pub device: &'a str,
    pub hw_data: Option<&'a Path>,
    pub max_latency_ms: Option<f64>,
    pub max_mflops: Option<f64>,
    pub solver: &'a str,
    pub proxy: &'a ProxyArgs,
}

pub fn mathnas(a: &MathNasFbnet<'_>, data: &DataDir, started: Instant) -> anyhow::Result<Value> {
    if a.max_latency_ms.is_none() && a.max_mflops.is_none() {
        bail!("give at least one limit on fbnet: --max-latency-ms (with --device) or --max-mflops");
    }
    let proxy = a.proxy.proxy()?;
    let space = FbnetSpace::default();
    let flops = nas_hw::count_table::flops_table(&space)?;
    let latency = a.max_latency_ms.map(|_| Latency::fit(&space, data, a.hw_data, a.device)).transpose()?;
    let mut constraints = Vec::new();
    if let (Some(l), Some(limit)) = (&latency, a.max_latency_ms) {
        constraints.push((l.table.clone(), limit));
    }
    if let Some(limit) = a.max_mflops {
        constraints.push((flops.clone(), limit));
    }
    // A limit below the cheapest network fails before any score is computed.
    let zeros = space.decisions().iter().map(|d| vec![0.0; d.choices.len()]).collect();
    MckpProblem::new(zeros, constraints.clone())?.check_limits()?;
    let scorer = a.proxy.scorer(&space, proxy)?;
    let reward = ScoreEvaluator { scorer: &scorer, proxy };

    // MathNAS's reference: the network of average FLOPs; m*n proxy evaluations around it.
    let reference = average_cost_reference(&flops);
    let table = BlockTable::measure(proxy.name(), space.decisions(), &reward, &reference)?;
    let problem = MckpProblem::new(table.values(), constraints)?;
    let t = Instant::now();
    let s = if a.solver == "exact" { mckp::solve(&problem)? } else { milp::solve_milp(&problem)? };
    let solve_seconds = t.elapsed().as_secs_f64();
    let g = s.choice;

    let mut predicted = Map::new();
    predicted.insert("reward".into(), json!(table.predict(&g)));
    if let Some(l) = &latency {
        predicted.insert("latency_ms".into(), json!(l.table.cost(&g)?));
    }
    predicted.insert("mflops".into(), json!(flops.cost(&g)?));

    // The truth: the chosen network's own score (one more evaluation unless the table measured it:
    // the reference and its one-block changes), exact FLOPs, measured latency where there is one.
    let measured_already = g.0.iter().zip(&reference.0).filter(|(a, b)| a != b).count() <= 1;
    let score = scorer.score(&g, proxy)?;
    let mut truth = Map::new();
    truth.insert("reward".into(), json!(score.score));
    let mflops = exact_mflops(&space, &g)?;
    truth.insert("mflops".into(), json!(mflops));
    let mut meets = a.max_mflops.is_none_or(|l| mflops <= l + mckp::tolerance(l));
    if let (Some(l), Some(limit)) = (&latency, a.max_latency_ms) {
        let v = l.truth(&g, &mut truth)?;
        meets &= v <= limit + mckp::tolerance(limit);
    }
    truth.insert("meets_limits".into(), json!(meets));

    Ok(json!({
        "space": "fbnet",
        "arch": space.format(&g),
        "op_idx_list": FbnetSpace::format_idx(&g),
        "predictor": "mathnas",
        "proxy": proxy.name(),
        "predicted": predicted,
        "true": truth,
        "evaluations": table.evaluations + usize::from(!measured_already),
        "block_table_evaluations": table.evaluations,
        "reference": space.format(&reference),
        "latency": latency.as_ref().map(Latency::describe),
        "details": {"solver": a.solver, "solve_seconds": solve_seconds, "nodes": s.nodes},
        "seconds": started.elapsed().as_secs_f64(),
    }))
}

/// What `nas layernas --space fbnet` needs from its arguments.
pub struct LayerNasFbnet<'a> {
    pub cost: &'a str,
    pub device: Option<&'a str>,
    pub hw_data: Option<&'a Path>,
    pub max_latency_ms: Option<f64>,
    pub max_mflops: Option<f64>,
    pub buckets: usize,
    pub keep: usize,
    pub proxy: &'a ProxyArgs,
}

pub fn layernas(a: &LayerNasFbnet<'_>, data: &DataDir, started: Instant) -> anyhow::Result<Value> {
    let proxy = a.proxy.proxy()?;
    let space = FbnetSpace::default();
    let (latency, cost, target) = match a.cost {
        "latency" => {
            let Some(device) = a.device else { bail!("--cost latency needs --device (a HELP column, e.g. pixel3)") };
            let Some(limit) = a.max_latency_ms else { bail!("--cost latency needs --max-latency-ms") };
            let l = Latency::fit(&space, data, a.hw_data, device)?;
            let cost = l.table.clone();
            (Some(l), cost, limit)
        }
        "flops" => {
            let Some(limit) = a.max_mflops else { bail!("--cost flops needs --max-mflops") };
            (None, nas_hw::count_table::flops_table(&space)?, limit)
        }
        other => bail!("unknown --cost {other:?}; available on fbnet: latency, flops"),
    };
    let (cheapest, _) = cost.range();
    if cheapest > target + mckp::tolerance(target) {
        bail!("infeasible: the cheapest network costs {cheapest:.6} {}, above the limit {target}", cost.unit);
    }
    let scorer = a.proxy.scorer(&space, proxy)?;
    let reward = ScoreEvaluator { scorer: &scorer, proxy };
    let nas = LayerNas::new(a.buckets, a.keep, LayerNas::cheapest_defaults(&cost))?;
    let r = nas.run(space.decisions(), &reward, &|g| cost.cost(g), target)?;

    let cost_key = if latency.is_some() { "latency_ms" } else { "mflops" };
    let mut truth = Map::new();
    // LayerNAS evaluates the reward itself: the reported reward is the network's own score.
    truth.insert("reward".into(), json!(r.reward));
    let mflops = exact_mflops(&space, &r.best)?;
    truth.insert("mflops".into(), json!(mflops));
    let meets = match &latency {
        Some(l) => l.truth(&r.best, &mut truth)? <= target + mckp::tolerance(target),
        None => mflops <= target + mckp::tolerance(target),
    };
    truth.insert("meets_limits".into(), json!(meets));
    Ok(json!({
        "space": "fbnet",
        "arch": space.format(&r.best),
        "op_idx_list": FbnetSpace::format_idx(&r.best),
        "proxy": proxy.name(),
        "predicted": {"reward": r.reward, "cost": r.cost, cost_key: r.cost},
        "true": truth,
        "evaluations": r.evaluations,
        "buckets": a.buckets,
        "keep": a.keep,
        "latency": latency.as_ref().map(Latency::describe),
        "seconds": started.elapsed().as_secs_f64(),
    }))
}
