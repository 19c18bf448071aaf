//! `nas mathnas --space fbnet` and `nas layernas --space fbnet`: selection in the FBNet space
//! (9^22 networks, no accuracy table) with a training-free score as the reward, latency from an
//! additive table fitted on every HELP row of one device column, and the exact FLOPs table.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use nas_core::{AdditiveCost, Genotype, SearchSpace};
use nas_kernels::{ArchScorer, Proxy, ScoreEvaluator};
use nas_spaces::{DataDir, FbnetSpace, SpaceId};
use nas_strategies::mathnas::average_cost_reference;
use nas_strategies::mckp::meets_limit;
use nas_strategies::{BlockTable, LayerNas, MckpProblem, mckp, milp};
use serde::Serialize;

use crate::mathnas::{CostKind, LatencyFit, Metric, Predictor, SelectionReport, Solver};
use crate::progress::Progress;
use crate::score::ScoreSource;
use crate::vocab;

/// The HELP latency file in the data directory.
pub const HELP_FILE: &str = "fbnet/help_latency_fbnet_train4000.csv";

/// The reward of the FBNet space: a training-free score, with its images, initialisation and cache.
#[derive(Clone, Debug, Args, Serialize)]
pub struct ProxyConfig {
    /// The training-free score. fbnet: the reward (elsewhere the table's accuracy is).
    #[arg(long, value_parser = vocab::proxy())]
    #[serde(serialize_with = "proxy_name")]
    pub proxy: Option<Proxy>,
    /// Where the images come from.
    #[command(flatten)]
    #[serde(flatten)]
    pub source: ScoreSource,
}

fn proxy_name<S: serde::Serializer>(p: &Option<Proxy>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.serialize_str(p.name()),
        None => s.serialize_none(),
    }
}

impl ProxyConfig {
    /// Refuses the proxy options on a space whose reward comes from a table.
    pub fn refuse_on(&self, space: &str) -> anyhow::Result<()> {
        if let Some(p) = &self.proxy {
            bail!("--proxy {} is for --space fbnet; on {space} the reward is the table's accuracy", p.name());
        }
        Ok(())
    }

    fn proxy(&self) -> anyhow::Result<Proxy> {
        self.proxy.context("--space fbnet has no accuracy table: give --proxy (e.g. synflow, naswot, params)")
    }

    /// The scorer of FBNet networks.
    fn scorer<'a>(&self, space: &'a FbnetSpace, proxy: Proxy) -> anyhow::Result<ArchScorer<'a>> {
        let (images, dataset) = self.source.image_batch(&[proxy], None)?;
        if dataset == nas_kernels::images::ImageDataset::ImageNet16 {
            bail!("--space fbnet takes 32x32 images (CIFAR-10 or CIFAR-100), not ImageNet16-120");
        }
        self.source.scorer(space, None, &[proxy], images)
    }
}

/// The latency of one HELP device column: the fitted additive table and every measured row.
#[derive(Debug)]
pub struct Latency {
    /// The device.
    pub device: String,
    /// The measurement file.
    pub path: PathBuf,
    /// The additive latency table fitted on every row (ms).
    pub table: AdditiveCost,
    /// Every measured row, by genotype.
    pub measured: HashMap<Genotype, f64>,
    /// Rows of the HELP column.
    pub rows: usize,
    /// The fitted table's accuracy on every row.
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

    fn describe(&self) -> LatencyFit {
        LatencyFit {
            device: self.device.clone(),
            file: self.path.display().to_string(),
            rows: self.rows,
            fit_within_10pct: self.fit.within_10pct,
            fit_spearman: self.fit.spearman,
            fit_rmse_ms: self.fit.rmse_ms,
        }
    }

    /// Inserts the latency of `g` into `truth`: measured when `g` is a row of the file, else the
    /// fitted table's value under another name. Returns the value used to check the limit.
    fn truth(&self, g: &Genotype, truth: &mut BTreeMap<String, Metric>) -> anyhow::Result<f64> {
        Ok(match self.measured.get(g) {
            Some(&v) => {
                truth.insert("latency_ms".into(), v.into());
                truth.insert("latency_source".into(), Metric::Text("measured (a row of the HELP file)".into()));
                v
            }
            None => {
                let v = self.table.cost(g)?;
                truth.insert("latency_ms_fitted".into(), v.into());
                truth.insert("latency_source".into(), Metric::Text("fitted table (not a measured row)".into()));
                v
            }
        })
    }
}

fn exact_mflops(space: &FbnetSpace, g: &Genotype) -> anyhow::Result<f64> {
    Ok(space.to_network(g)?.counts().flops as f64 / 1e6)
}

/// What `nas mathnas --space fbnet` needs from its arguments.
#[derive(Debug)]
pub struct MathNasFbnet<'a> {
    /// The device.
    pub device: &'a str,
    /// The HELP latency file, when given.
    pub hw_data: Option<&'a Path>,
    /// The latency limit (ms).
    pub max_latency_ms: Option<f64>,
    /// The FLOPs limit (millions of multiply-adds).
    pub max_mflops: Option<f64>,
    /// The selection solver.
    pub solver: Solver,
    /// The training-free score.
    pub proxy: &'a ProxyConfig,
}

/// MathNAS on FBNet.
pub fn mathnas(a: &MathNasFbnet<'_>, data: &DataDir, started: Instant) -> anyhow::Result<SelectionReport> {
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
    let table = {
        let counted = Counted::new(
            &reward,
            "block table",
            1 + space.decisions().iter().map(|d| d.choices.len() - 1).sum::<usize>(),
        );
        BlockTable::measure(proxy.name(), space.decisions(), &counted, &reference)?
    };
    let problem = MckpProblem::new(table.values(), constraints)?;
    let t = Instant::now();
    let s = if a.solver == Solver::Exact { mckp::solve(&problem)? } else { milp::solve_milp(&problem)? };
    let solve_seconds = t.elapsed().as_secs_f64();
    let g = s.choice;

    let mut predicted = BTreeMap::new();
    predicted.insert("reward".into(), table.predict(&g));
    if let Some(l) = &latency {
        predicted.insert("latency_ms".into(), l.table.cost(&g)?);
    }
    predicted.insert("mflops".into(), flops.cost(&g)?);

    // The truth: the chosen network's own score (one more evaluation unless the table measured it:
    // the reference and its one-block changes), exact FLOPs, measured latency where there is one.
    let measured_already = g.0.iter().zip(&reference.0).filter(|(a, b)| a != b).count() <= 1;
    let score = scorer.score(&g, proxy)?;
    let mut truth = BTreeMap::new();
    truth.insert("reward".into(), Metric::Number(score.score));
    let mflops = exact_mflops(&space, &g)?;
    truth.insert("mflops".into(), mflops.into());
    let mut meets = a.max_mflops.is_none_or(|l| meets_limit(mflops, l));
    if let (Some(l), Some(limit)) = (&latency, a.max_latency_ms) {
        let v = l.truth(&g, &mut truth)?;
        meets &= meets_limit(v, limit);
    }
    truth.insert("meets_limits".into(), Metric::Flag(meets));
    let solver = if a.solver == Solver::Exact { "exact" } else { "milp" };
    let details = BTreeMap::from([
        ("solver".to_string(), Metric::Text(solver.into())),
        ("solve_seconds".to_string(), solve_seconds.into()),
        ("nodes".to_string(), Metric::Count(s.nodes as u64)),
    ]);
    Ok(SelectionReport {
        space: Some(SpaceId::Fbnet),
        arch: space.format(&g),
        op_idx_list: Some(FbnetSpace::format_idx(&g)),
        predictor: Some(Predictor::Mathnas),
        proxy: Some(proxy.name()),
        predicted,
        truth,
        best_true: None,
        evaluations: table.evaluations + usize::from(!measured_already),
        block_table_evaluations: Some(table.evaluations),
        reference: Some(space.format(&reference)),
        latency: latency.as_ref().map(Latency::describe),
        details: Some(details),
        seconds: started.elapsed().as_secs_f64(),
        ..SelectionReport::default()
    })
}

/// What `nas layernas --space fbnet` needs from its arguments.
#[derive(Debug)]
pub struct LayerNasFbnet<'a> {
    /// The cost the method limited.
    pub cost: CostKind,
    /// The device.
    pub device: Option<&'a str>,
    /// The HELP latency file, when given.
    pub hw_data: Option<&'a Path>,
    /// The latency limit (ms).
    pub max_latency_ms: Option<f64>,
    /// The FLOPs limit (millions of multiply-adds).
    pub max_mflops: Option<f64>,
    /// LayerNAS's cost buckets.
    pub buckets: usize,
    /// Candidates kept per bucket.
    pub keep: usize,
    /// The training-free score.
    pub proxy: &'a ProxyConfig,
}

/// LayerNAS on FBNet.
pub fn layernas(a: &LayerNasFbnet<'_>, data: &DataDir, started: Instant) -> anyhow::Result<SelectionReport> {
    let proxy = a.proxy.proxy()?;
    let space = FbnetSpace::default();
    let (latency, cost, target) = match a.cost {
        CostKind::Latency => {
            let Some(device) = a.device else { bail!("--cost latency needs --device (a HELP column, e.g. pixel3)") };
            let Some(limit) = a.max_latency_ms else { bail!("--cost latency needs --max-latency-ms") };
            let l = Latency::fit(&space, data, a.hw_data, device)?;
            let cost = l.table.clone();
            (Some(l), cost, limit)
        }
        CostKind::Flops => {
            let Some(limit) = a.max_mflops else { bail!("--cost flops needs --max-mflops") };
            (None, nas_hw::count_table::flops_table(&space)?, limit)
        }
    };
    let (cheapest, _) = cost.range();
    if !meets_limit(cheapest, target) {
        bail!("infeasible: the cheapest network costs {cheapest:.6} {}, above the limit {target}", cost.unit);
    }
    let scorer = a.proxy.scorer(&space, proxy)?;
    let reward = ScoreEvaluator { scorer: &scorer, proxy };
    let nas = LayerNas::new(a.buckets, a.keep, LayerNas::cheapest_defaults(&cost))?;
    let counted = Counted::new(&reward, "layernas", 0);
    let r = nas.run(space.decisions(), &counted, &|g| cost.cost(g), target)?;

    let cost_key = if latency.is_some() { "latency_ms" } else { "mflops" };
    let mut truth = BTreeMap::new();
    // LayerNAS evaluates the reward itself: the reported reward is the network's own score.
    truth.insert("reward".into(), Metric::Number(r.reward));
    let mflops = exact_mflops(&space, &r.best)?;
    truth.insert("mflops".into(), mflops.into());
    let meets = match &latency {
        Some(l) => meets_limit(l.truth(&r.best, &mut truth)?, target),
        None => meets_limit(mflops, target),
    };
    truth.insert("meets_limits".into(), Metric::Flag(meets));
    let predicted = BTreeMap::from([
        ("reward".to_string(), r.reward),
        ("cost".to_string(), r.cost),
        (cost_key.to_string(), r.cost),
    ]);
    Ok(SelectionReport {
        space: Some(SpaceId::Fbnet),
        arch: space.format(&r.best),
        op_idx_list: Some(FbnetSpace::format_idx(&r.best)),
        proxy: Some(proxy.name()),
        predicted,
        truth,
        best_true: None,
        evaluations: r.evaluations,
        buckets: Some(a.buckets),
        keep: Some(a.keep),
        latency: latency.as_ref().map(Latency::describe),
        seconds: started.elapsed().as_secs_f64(),
        ..SelectionReport::default()
    })
}

/// An evaluator that advances a progress bar (of `total` items, or open-ended when 0) per call.
struct Counted<'e> {
    inner: &'e dyn nas_core::Evaluator,
    progress: std::cell::RefCell<Progress>,
}

impl<'e> Counted<'e> {
    fn new(inner: &'e dyn nas_core::Evaluator, label: &str, total: usize) -> Self {
        Counted { inner, progress: std::cell::RefCell::new(Progress::new(format!("scoring ({label})"), total)) }
    }
}

impl nas_core::Evaluator for Counted<'_> {
    fn evaluate(&self, g: &Genotype) -> nas_core::Result<nas_core::Evaluation> {
        let e = self.inner.evaluate(g)?;
        self.progress.borrow_mut().inc();
        Ok(e)
    }
}
