//! MathNAS (Wang et al., NeurIPS 2023): measure m*n blocks once, predict any network from its
//! blocks, select with an integer program ([`super::mckp`], [`super::milp`]).
//!
//! A [`BlockTable`] holds `b[i][j]` = metric(block 0 at position i) - metric(block j at i); a
//! network is predicted as `base - sum_i b[i][g_i]` ([`BlockTable::predict`]) or, for accuracy, with
//! the paper's FLOPs scaling `base - (mean FLOPs / FLOPs(g)) * sum_i b[i][g_i]`
//! ([`BlockTable::predict_scaled`]). [`BlockTable::measure`] is the paper's estimate: one network
//! of average FLOPs, each position set to each block, m*n evaluations. [`BlockTable::exact`]
//! averages the deltas over every network of a small space (the best case for the estimate, for
//! analysis). Deviation: the base is the reference network's own additive decomposition (so the
//! reference is predicted exactly); the paper measures the all-block-0 network.
//!
//! Selection: the additive prediction is a multiple-choice knapsack ([`super::mckp::solve`]); the
//! FLOPs-scaled one is a ratio of additive terms, solved exactly by [`BlockTable::select_scaled`].
//!
//! [`PairwiseModel`] goes beyond the paper: unary and pairwise block terms fitted by ridge least
//! squares on a sample of true evaluations, selected exactly by [`select_pairwise`].

use std::collections::HashMap;
use std::path::Path;

use nas_core::{AdditiveCost, Decision, Error, Evaluator, Genotype, Result, genotype};
use serde::{Deserialize, Serialize};

use super::fractional::{RatioSolution, maximise_ratio};
use super::mckp::{MckpProblem, meets_limit};

/// Per-block deltas of one metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BlockTable {
    /// What was measured, e.g. `c10v_valid_acc` or `edgegpu_latency`.
    pub metric: String,
    /// The network the deltas were measured around (`None` for exact averages).
    pub reference: Option<Genotype>,
    /// The predicted metric of the all-block-0 network.
    pub base: f64,
    /// `deltas[i][j]` = metric(block 0 at i) - metric(block j at i); `deltas[i][0] = 0`.
    pub deltas: Vec<Vec<f64>>,
    /// True evaluations spent.
    pub evaluations: usize,
}

/// Evaluates with a cache, counting distinct genotypes.
struct Counted<'a> {
    evaluator: &'a dyn Evaluator,
    seen: HashMap<Genotype, f64>,
}

impl Counted<'_> {
    fn eval(&mut self, g: &Genotype) -> Result<f64> {
        if let Some(v) = self.seen.get(g) {
            return Ok(*v);
        }
        let v = self.evaluator.evaluate(g)?.fitness;
        if !v.is_finite() {
            return Err(Error::Numerical(format!("the evaluator gave {v} for {g}")));
        }
        self.seen.insert(g.clone(), v);
        Ok(v)
    }
}

impl BlockTable {
    /// The paper's estimate around `reference`: each position set to each block, others fixed
    /// (at most `sum_i n_i - m + 1` distinct evaluations).
    pub fn measure(
        metric: &str,
        decisions: &[Decision],
        evaluator: &dyn Evaluator,
        reference: &Genotype,
    ) -> Result<Self> {
        genotype::validate(decisions, reference)?;
        let mut counted = Counted { evaluator, seen: HashMap::new() };
        let at_ref = counted.eval(reference)?;
        let mut effect = Vec::with_capacity(decisions.len());
        for (i, d) in decisions.iter().enumerate() {
            let mut row = Vec::with_capacity(d.choices.len());
            for j in 0..d.choices.len() {
                let mut g = reference.clone();
                g.0[i] = j;
                row.push(counted.eval(&g)? - at_ref);
            }
            effect.push(row);
        }
        Ok(Self::from_effects(metric, Some(reference.clone()), at_ref, &effect, counted.seen.len()))
    }

    /// Exact deltas: averaged over every network of the space (an error beyond 10^6 networks).
    pub fn exact(metric: &str, decisions: &[Decision], evaluator: &dyn Evaluator) -> Result<Self> {
        let size = genotype::space_size(decisions);
        if size > 1_000_000 {
            return Err(Error::invalid("exact block table", format!("{size} networks are too many")));
        }
        let all: Vec<Genotype> = (0..size).map(|k| genotype::genotype_at(decisions, k)).collect::<Result<_>>()?;
        let values: Vec<f64> = all.iter().map(|g| evaluator.evaluate(g).map(|e| e.fitness)).collect::<Result<_>>()?;
        let index: HashMap<&Genotype, f64> = all.iter().zip(&values).map(|(g, v)| (g, *v)).collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        // effect[i][j] = mean over networks of metric(j at i) - metric(0 at i).
        let mut effect: Vec<Vec<f64>> = decisions.iter().map(|d| vec![0.0; d.choices.len()]).collect();
        for g in all.iter().filter(|g| g.0.iter().all(|_| true)) {
            for (i, row) in effect.iter_mut().enumerate() {
                if g.0[i] != 0 {
                    continue;
                }
                let v0 = index[g];
                for (j, e) in row.iter_mut().enumerate().skip(1) {
                    let mut h = g.clone();
                    h.0[i] = j;
                    *e += index[&h] - v0;
                }
            }
        }
        let per = |i: usize| (size / decisions[i].choices.len() as u128) as f64;
        for (i, row) in effect.iter_mut().enumerate() {
            let n = per(i);
            row.iter_mut().for_each(|e| *e /= n);
        }
        // Centre so that the mean network is predicted on average: base = mean - mean effect sum.
        let mean_effect: f64 = effect.iter().map(|r| r.iter().sum::<f64>() / r.len() as f64).sum();
        let mut t = Self::from_effects(metric, None, 0.0, &effect, values.len());
        t.base = mean - mean_effect;
        Ok(t)
    }

    /// From `effect[i][j]` = metric(j at i) - metric(reference), predicting `at_ref` for the reference.
    fn from_effects(
        metric: &str,
        reference: Option<Genotype>,
        at_ref: f64,
        effect: &[Vec<f64>],
        evaluations: usize,
    ) -> Self {
        let deltas: Vec<Vec<f64>> = effect.iter().map(|r| r.iter().map(|e| r[0] - e).collect()).collect();
        let base = at_ref + effect.iter().map(|r| r[0]).sum::<f64>();
        BlockTable { metric: metric.into(), reference, base, deltas, evaluations }
    }

    /// `base - sum_i b[i][g_i]`.
    pub fn predict(&self, g: &Genotype) -> f64 {
        self.base - g.0.iter().zip(&self.deltas).map(|(&j, r)| r[j]).sum::<f64>()
    }

    /// The paper's accuracy prediction: the deltas of `g` relative to the base network `base`
    /// (MathNAS's base is the largest network), scaled by `mean_flops / flops(g)`:
    /// `predict(base) - mean_flops / flops(g) * sum_i (b[i][g_i] - b[i][base_i])`. The base
    /// matters: on NB201 with exact deltas, Spearman 0.76 relative to all-`nor_conv_3x3`, and
    /// -0.32 relative to all-`none` (a 10 % network).
    pub fn predict_scaled(&self, g: &Genotype, base: &Genotype, flops: &AdditiveCost, mean_flops: f64) -> Result<f64> {
        let f = flops.cost(g)?;
        if base.0.len() != self.deltas.len() || g.0.len() != self.deltas.len() {
            return Err(Error::InvalidGenotype(format!("{g} or {base} does not fit the block table")));
        }
        let deviation: f64 = g.0.iter().zip(&base.0).zip(&self.deltas).map(|((&j, &k), r)| r[j] - r[k]).sum();
        Ok(self.predict(base) - mean_flops / f * deviation)
    }

    /// The best network by [`BlockTable::predict_scaled`] under the limits of `problem` (whose
    /// values are ignored), proven optimal: maximising `-dev(g) / flops(g)` is a ratio of additive
    /// terms, solved by [`super::fractional::maximise_ratio`].
    pub fn select_scaled(&self, problem: &MckpProblem, base: &Genotype, flops: &AdditiveCost) -> Result<RatioSolution> {
        if base.0.len() != self.deltas.len() {
            return Err(Error::InvalidGenotype(format!("{base} does not fit the block table")));
        }
        let deviation = self.deltas.iter().zip(&base.0).map(|(r, &k)| r.iter().map(|b| r[k] - b).collect()).collect();
        let numerator = AdditiveCost::new(format!("-deviation of {}", self.metric), "", 0.0, deviation)?;
        maximise_ratio(problem, &numerator, flops)
    }

    /// The table as an additive cost (`base - b`), for a limit on a predicted metric.
    pub fn as_cost(&self, unit: &str) -> Result<AdditiveCost> {
        let entries = self.deltas.iter().map(|r| r.iter().map(|b| -b).collect()).collect();
        AdditiveCost::new(self.metric.clone(), unit, self.base, entries)
    }

    /// The values to maximise: `-b[i][j]` (the base is a constant).
    pub fn values(&self) -> Vec<Vec<f64>> {
        self.deltas.iter().map(|r| r.iter().map(|b| -b).collect()).collect()
    }

    /// The table as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Numerical(format!("block table to JSON: {e}")))
    }

    /// A table from its JSON, checked.
    pub fn from_json(text: &str) -> Result<Self> {
        let t: BlockTable =
            serde_json::from_str(text).map_err(|e| Error::parse("block table JSON", e.to_string()).with_source(e))?;
        if t.deltas.is_empty() || t.deltas.iter().flatten().chain([&t.base]).any(|v| !v.is_finite()) {
            return Err(Error::parse("block table JSON", "empty or non-finite deltas"));
        }
        Ok(t)
    }

    /// Writes the table's JSON to `path`.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json()?).map_err(|e| Error::io(path, &e))
    }

    /// Reads a table saved by [`BlockTable::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, &e))?;
        Self::from_json(&text).map_err(|e| Error::data(path, None, e.to_string()).with_source(e))
    }
}

/// The mean cost over the space (every option of every position equally likely).
pub fn mean_cost(cost: &AdditiveCost) -> f64 {
    cost.base + cost.entries.iter().map(|r| r.iter().sum::<f64>() / r.len() as f64).sum::<f64>()
}

/// The genotype whose cost is closest to the mean cost over the space (MathNAS's reference
/// network); ties go to the first in mixed-radix order. Enumerates up to 10^6 networks, else walks
/// greedily towards the mean.
pub fn average_cost_reference(cost: &AdditiveCost) -> Genotype {
    let mean = mean_cost(cost);
    let decisions: Vec<Decision> =
        cost.entries.iter().map(|r| Decision { name: String::new(), choices: vec![String::new(); r.len()] }).collect();
    let size = genotype::space_size(&decisions);
    if size <= 1_000_000 {
        let mut best = (f64::INFINITY, Genotype(vec![0; decisions.len()]));
        for k in 0..size {
            if let Ok(g) = genotype::genotype_at(&decisions, k) {
                let d = (cost.cost(&g).unwrap_or(f64::INFINITY) - mean).abs();
                if d < best.0 - 1e-12 {
                    best = (d, g);
                }
            }
        }
        return best.1;
    }
    let mut g = Genotype(vec![0; decisions.len()]);
    let mut total = cost.cost(&g).unwrap_or(0.0);
    for (i, r) in cost.entries.iter().enumerate() {
        let (j, _) = r
            .iter()
            .enumerate()
            .min_by(|a, b| (total - r[0] + a.1 - mean).abs().total_cmp(&(total - r[0] + b.1 - mean).abs()))
            .unwrap_or((0, &0.0));
        total += r[j] - r[0];
        g.0[i] = j;
    }
    g
}

/// `f(g) = w0 + sum_i u[i][g_i] + sum_{i<k} p[i][k][g_i][g_k]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairwiseModel {
    /// What the model predicts.
    pub metric: String,
    /// `w0`, the constant term.
    pub bias: f64,
    /// `u[i][j]`: the term of option `j` at position `i`.
    pub unary: Vec<Vec<f64>>,
    /// `pair[(i, k)]` for `i < k`, flattened `[g_i * n_k + g_k]`; empty for an additive model.
    pub pairs: Vec<((usize, usize), Vec<f64>)>,
}

impl PairwiseModel {
    /// An additive model from a cost table (no pairs).
    pub fn from_cost(c: &AdditiveCost) -> Self {
        PairwiseModel { metric: c.name.clone(), bias: c.base, unary: c.entries.clone(), pairs: Vec::new() }
    }

    /// The prediction for a choice, one option per position.
    pub fn predict(&self, g: &[usize]) -> f64 {
        let mut v = self.bias + g.iter().zip(&self.unary).map(|(&j, r)| r[j]).sum::<f64>();
        for ((i, k), w) in &self.pairs {
            v += w[g[*i] * self.unary[*k].len() + g[*k]];
        }
        v
    }

    /// Ridge least squares on one-hot unary and pairwise features (`ridge` times the identity added
    /// to the normal equations).
    pub fn fit(metric: &str, decisions: &[Decision], samples: &[(Genotype, f64)], ridge: f64) -> Result<Self> {
        let sizes: Vec<usize> = decisions.iter().map(|d| d.choices.len()).collect();
        let m = sizes.len();
        let mut offsets = vec![1usize];
        for &n in &sizes {
            offsets.push(offsets.last().copied().unwrap_or(1) + n);
        }
        let mut pair_index = Vec::new();
        let mut next = *offsets.last().unwrap_or(&1);
        for i in 0..m {
            for k in i + 1..m {
                pair_index.push(((i, k), next));
                next += sizes[i] * sizes[k];
            }
        }
        let dim = next;
        let features = |g: &Genotype| -> Vec<usize> {
            let mut f = vec![0];
            f.extend((0..m).map(|i| offsets[i] + g.0[i]));
            f.extend(pair_index.iter().map(|((i, k), o)| o + g.0[*i] * sizes[*k] + g.0[*k]));
            f
        };
        let mut ata = vec![0.0; dim * dim];
        let mut atb = vec![0.0; dim];
        let mean = samples.iter().map(|s| s.1).sum::<f64>() / samples.len().max(1) as f64;
        for (g, y) in samples {
            genotype::validate(decisions, g)?;
            let f = features(g);
            for &a in &f {
                atb[a] += y - mean;
                for &b in &f {
                    ata[a * dim + b] += 1.0;
                }
            }
        }
        for d in 0..dim {
            ata[d * dim + d] += ridge;
        }
        let w = nas_core::linalg::solve_spd(&ata, dim, &atb)
            .map_err(|_| Error::Numerical("the pairwise fit's normal equations are not positive definite".into()))?;
        let unary = (0..m).map(|i| w[offsets[i]..offsets[i] + sizes[i]].to_vec()).collect();
        let pairs =
            pair_index.iter().map(|((i, k), o)| ((*i, *k), w[*o..*o + sizes[*i] * sizes[*k]].to_vec())).collect();
        Ok(PairwiseModel { metric: metric.into(), bias: mean + w[0], unary, pairs })
    }
}

/// The `top` choices with the highest predicted objective whose predicted constraints all meet
/// their limits, best first, by depth-first enumeration with bounds (exact; meant for spaces of up
/// to about 10^7 networks). An [`Error::Infeasible`] when none meets the limits.
pub fn select_pairwise(
    objective: &PairwiseModel,
    constraints: &[(PairwiseModel, f64)],
    top: usize,
) -> Result<Vec<(Genotype, f64)>> {
    let m = objective.unary.len();
    let sizes: Vec<usize> = objective.unary.iter().map(Vec::len).collect();
    // Interaction terms involving a later position are bounded by their extremes.
    let extreme = |model: &PairwiseModel, pick: fn(f64, f64) -> f64, start: f64| -> Vec<f64> {
        let mut s = vec![0.0; m + 1];
        for i in (0..m).rev() {
            let mut add = model.unary[i].iter().copied().fold(start, pick);
            for ((a, _), w) in model.pairs.iter().filter(|((_, b), _)| *b == i) {
                let _ = a;
                add += w.iter().copied().fold(start, pick);
            }
            s[i] = s[i + 1] + add;
        }
        s
    };
    let obj_hi = extreme(objective, f64::max, f64::NEG_INFINITY);
    let cons_lo: Vec<Vec<f64>> = constraints.iter().map(|(c, _)| extreme(c, f64::min, f64::INFINITY)).collect();
    let partial = |model: &PairwiseModel, g: &[usize], i: usize| -> f64 {
        // Terms whose positions are all < i.
        let mut v = model.bias + (0..i).map(|p| model.unary[p][g[p]]).sum::<f64>();
        for ((a, b), w) in &model.pairs {
            if *b < i {
                v += w[g[*a] * model.unary[*b].len() + g[*b]];
            }
        }
        v
    };
    let mut found: Vec<(Genotype, f64)> = Vec::new();
    let mut g = vec![0usize; m];
    let mut stack = vec![(0usize, 0usize)];
    // Iterative DFS over (depth, next option).
    while let Some((i, j)) = stack.pop() {
        if i == m {
            let v = objective.predict(&g);
            found.push((Genotype(g.clone()), v));
            found.sort_by(|a, b| b.1.total_cmp(&a.1));
            found.truncate(top);
            continue;
        }
        if j >= sizes[i] {
            continue;
        }
        stack.push((i, j + 1));
        g[i] = j;
        let worst =
            if found.len() >= top { found.last().map_or(f64::NEG_INFINITY, |f| f.1) } else { f64::NEG_INFINITY };
        if partial(objective, &g, i + 1) + obj_hi[i + 1] <= worst {
            continue;
        }
        if constraints
            .iter()
            .zip(&cons_lo)
            .any(|((c, limit), lo)| !meets_limit(partial(c, &g, i + 1) + lo[i + 1], *limit))
        {
            continue;
        }
        stack.push((i + 1, 0));
    }
    if found.is_empty() {
        let cheapest: Vec<String> = constraints
            .iter()
            .map(|(c, l)| {
                format!(
                    "{} {:.6} (limit {l})",
                    c.metric,
                    c.bias + (0..m).map(|_| 0.0).sum::<f64>() + extreme(c, f64::min, f64::INFINITY)[0]
                )
            })
            .collect();
        return Err(Error::Infeasible(format!("the cheapest network costs at least {}", cheapest.join(", "))));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nas_core::Evaluation;

    struct Additive;
    impl Evaluator for Additive {
        fn evaluate(&self, g: &Genotype) -> Result<Evaluation> {
            Ok(Evaluation { fitness: 10.0 + g.0[0] as f64 * 2.0 + g.0[1] as f64, cost_seconds: 0.0 })
        }
    }

    #[test]
    fn flops_scaled_selection_is_the_best_scaled_prediction_under_the_limit() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(rand::random());
        let d: Vec<Decision> = (0..4).map(|i| Decision::new(format!("p{i}"), &["a", "b", "c"])).collect();
        for _ in 0..50 {
            let deltas: Vec<Vec<f64>> = (0..4).map(|_| (0..3).map(|_| rng.random_range(-3.0..3.0)).collect()).collect();
            let t = BlockTable { metric: "acc".into(), reference: None, base: 90.0, deltas, evaluations: 0 };
            let entries: Vec<Vec<f64>> =
                (0..4).map(|_| (0..3).map(|_| rng.random_range(0.0..10.0)).collect()).collect();
            let flops = AdditiveCost::new("flops", "M", 5.0, entries).unwrap();
            let (lo, hi) = flops.range();
            let limit = lo + rng.random_range(0.0..1.0) * (hi - lo);
            let problem = MckpProblem::new(vec![vec![0.0; 3]; 4], vec![(flops.clone(), limit)]).unwrap();
            let base = Genotype(vec![2; 4]);
            let mean = mean_cost(&flops);
            let s = t.select_scaled(&problem, &base, &flops).unwrap();
            let score = |g: &Genotype| t.predict_scaled(g, &base, &flops, mean).unwrap();
            let best = (0..81)
                .map(|k| genotype::genotype_at(&d, k).unwrap())
                .filter(|g| meets_limit(flops.cost(g).unwrap(), limit))
                .map(|g| score(&g))
                .fold(f64::NEG_INFINITY, f64::max);
            assert!(meets_limit(flops.cost(&s.choice).unwrap(), limit));
            assert!((score(&s.choice) - best).abs() < 1e-9, "{} vs {best}", score(&s.choice));
        }
    }

    #[test]
    fn measured_and_exact_tables_reproduce_an_additive_metric_and_round_trip_json() {
        let d = vec![Decision::new("a", &["x", "y", "z"]), Decision::new("b", &["x", "y"])];
        let t = BlockTable::measure("m", &d, &Additive, &Genotype(vec![1, 1])).unwrap();
        assert_eq!(t.evaluations, 4);
        let e = BlockTable::exact("m", &d, &Additive).unwrap();
        for g in [[0, 0], [2, 1], [1, 0]] {
            let want = 10.0 + g[0] as f64 * 2.0 + g[1] as f64;
            assert!((t.predict(&Genotype(g.to_vec())) - want).abs() < 1e-12);
            assert!((e.predict(&Genotype(g.to_vec())) - want).abs() < 1e-12);
        }
        assert_eq!(t.deltas[0], vec![0.0, -2.0, -4.0]);
        // FLOPs scaling leaves the base network as it is and scales every other network's deviation.
        let flops = AdditiveCost::new("flops", "M", 1.0, vec![vec![0.0, 1.0, 2.0], vec![0.0, 1.0]]).unwrap();
        let base = Genotype(vec![2, 1]);
        assert!((t.predict_scaled(&base, &base, &flops, 4.0).unwrap() - t.predict(&base)).abs() < 1e-12);
        let g = Genotype(vec![0, 1]); // flops 2: deviation -4 scaled by 4 / 2
        assert!((t.predict_scaled(&g, &base, &flops, 4.0).unwrap() - (t.predict(&base) - 8.0)).abs() < 1e-12);
        assert_eq!(BlockTable::from_json(&t.to_json().unwrap()).unwrap(), t);
        assert!(BlockTable::from_json("{}").is_err());
    }

    #[test]
    fn pairwise_fit_recovers_an_interaction_and_selection_is_exact() {
        let d = vec![
            Decision::new("a", &["x", "y"]),
            Decision::new("b", &["x", "y"]),
            Decision::new("c", &["x", "y", "z"]),
        ];
        let f = |g: &Genotype| g.0[0] as f64 + g.0[2] as f64 + 3.0 * (g.0[0] * g.0[1]) as f64;
        let samples: Vec<(Genotype, f64)> =
            (0..12).map(|k| genotype::genotype_at(&d, k).unwrap()).map(|g| (g.clone(), f(&g))).collect();
        let model = PairwiseModel::fit("f", &d, &samples, 1e-6).unwrap();
        for (g, y) in &samples {
            assert!((model.predict(&g.0) - y).abs() < 1e-3, "{g}");
        }
        let cost = PairwiseModel::from_cost(
            &AdditiveCost::new("c", "u", 0.0, vec![vec![0.0, 1.0], vec![0.0, 1.0], vec![0.0, 1.0, 5.0]]).unwrap(),
        );
        let best = select_pairwise(&model, &[(cost.clone(), 2.0)], 2).unwrap();
        assert_eq!(best[0].0.0, vec![1, 1, 0]);
        assert!(select_pairwise(&model, &[(cost, -1.0)], 1).unwrap_err().to_string().starts_with("infeasible"));
    }
}
