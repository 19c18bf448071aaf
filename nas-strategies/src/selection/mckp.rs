//! Exact selection of one block per position under additive cost limits: the multiple-choice
//! knapsack problem that MathNAS solves with a MILP (Wang et al., NeurIPS 2023, §4).
//!
//! [`solve`] exploits the one-block-per-position structure: blocks that another block of the same
//! position dominates (no more value, no less cost in any limit) are removed, a Lagrangian bound
//! (the LP relaxation's value for one limit, multipliers found by bisection or coordinate search
//! for several) orders the blocks and prunes a depth-first branch and bound, which ends with a
//! proof of optimality. Positions are branched on in decreasing regret (best minus second reduced
//! value), and each node is also bounded under a few scaled multiplier vectors. [`super::milp::solve_milp`] states the same problem for good_lp's MILP
//! solvers (the general path and the cross-check in tests); [`solve_exhaustive`] enumerates.
//!
//! A position may have a "no block" option (variable depth): choosing it forces the "no block"
//! option at every later position, as MathNAS's variable-depth spaces do.

use nas_core::{AdditiveCost, Error, Genotype, Result};

/// Maximise `sum_i values[i][g_i]` subject to `cost_k(g) <= limit_k` for every limit.
#[derive(Clone, Debug)]
pub struct MckpProblem {
    /// `[position][option]`, higher is better.
    pub values: Vec<Vec<f64>>,
    /// One additive cost per limit, the same shape as `values`.
    pub costs: Vec<AdditiveCost>,
    /// One limit per cost, in the same order.
    pub limits: Vec<f64>,
    /// Per position, the option that means "no block"; choosing it forces every later position's.
    pub no_block: Vec<Option<usize>>,
}

/// An optimal selection.
#[derive(Clone, Debug, PartialEq)]
pub struct MckpSolution {
    /// The chosen option per position.
    pub choice: Genotype,
    /// `sum_i values[i][choice_i]`.
    pub value: f64,
    /// The cost of the choice under each limit's table.
    pub costs: Vec<f64>,
    /// Branch-and-bound nodes visited (0 for other solvers).
    pub nodes: u64,
}

/// Feasibility tolerance relative to the limit: a cost meets `limit` when it is at most
/// `limit + tolerance(limit)`, for the solvers and for callers checking their answers
/// ([`meets_limit`]).
pub fn tolerance(limit: f64) -> f64 {
    1e-9 * limit.abs().max(1.0)
}

/// Whether `cost` meets `limit` within [`tolerance`]: the toolkit's one feasibility test, used by
/// every solver here ([`solve`], [`crate::milp`], [`crate::fractional`], [`crate::mathnas`],
/// [`crate::layernas`]) and meant for every caller that checks their answers, so a check never
/// disagrees with the solver that produced the answer. A NaN cost meets no limit.
pub fn meets_limit(cost: f64, limit: f64) -> bool {
    cost <= limit + tolerance(limit)
}

impl MckpProblem {
    /// A checked problem: shapes agree, every number is finite, limits are finite and not negative,
    /// and "no block" options, where given, run to the last position.
    pub fn new(values: Vec<Vec<f64>>, constraints: Vec<(AdditiveCost, f64)>) -> Result<Self> {
        let m = values.len();
        if m == 0 || values.iter().any(Vec::is_empty) {
            return Err(Error::invalid("selection", "every position needs at least one option".to_string()));
        }
        if let Some((i, j, v)) = values
            .iter()
            .enumerate()
            .flat_map(|(i, r)| r.iter().enumerate().map(move |(j, v)| (i, j, *v)))
            .find(|t| !t.2.is_finite())
        {
            return Err(Error::invalid("selection", format!("value [{i}][{j}] = {v} is not finite")));
        }
        let (mut costs, mut limits) = (Vec::new(), Vec::new());
        for (cost, limit) in constraints {
            if !limit.is_finite() || limit < 0.0 {
                return Err(Error::invalid(
                    "limit",
                    format!("{} <= {limit}: a limit must be a finite number >= 0", cost.name),
                ));
            }
            let ours: Vec<usize> = values.iter().map(Vec::len).collect();
            let theirs: Vec<usize> = cost.entries.iter().map(Vec::len).collect();
            if ours != theirs {
                return Err(Error::invalid(
                    "selection",
                    format!("cost {} has options per position {theirs:?}, the values {ours:?}", cost.name),
                ));
            }
            costs.push(cost);
            limits.push(limit);
        }
        Ok(MckpProblem { values, costs, limits, no_block: vec![None; m] })
    }

    /// Sets the "no block" option of every position from `from` on (variable depth).
    pub fn with_no_block(mut self, from: usize, option: &[usize]) -> Result<Self> {
        let m = self.values.len();
        if from + option.len() != m {
            return Err(Error::invalid(
                "no-block options",
                format!("positions {from}.. need {} options", m - from.min(m)),
            ));
        }
        for (i, &o) in (from..m).zip(option) {
            if o >= self.values[i].len() {
                return Err(Error::invalid("no-block options", format!("position {i} has no option {o}")));
            }
            self.no_block[i] = Some(o);
        }
        Ok(self)
    }

    /// Number of positions.
    pub fn positions(&self) -> usize {
        self.values.len()
    }

    /// The value of a choice.
    pub fn value(&self, g: &[usize]) -> f64 {
        g.iter().zip(&self.values).map(|(&j, r)| r[j]).sum()
    }

    /// The cost of a choice under each limit's table.
    pub fn costs_of(&self, g: &[usize]) -> Vec<f64> {
        self.costs.iter().map(|c| c.base + g.iter().zip(&c.entries).map(|(&j, r)| r[j]).sum::<f64>()).collect()
    }

    /// Whether a choice respects the "no block" chain.
    pub fn respects_depth(&self, g: &[usize]) -> bool {
        let mut ended = false;
        for (i, &j) in g.iter().enumerate() {
            let nb = self.no_block[i] == Some(j);
            if ended && !nb {
                return false;
            }
            ended |= nb;
        }
        true
    }

    /// Whether a choice meets every limit ([`meets_limit`]) and the depth chain.
    pub fn is_feasible(&self, g: &[usize]) -> bool {
        self.respects_depth(g) && self.costs_of(g).iter().zip(&self.limits).all(|(c, l)| meets_limit(*c, *l))
    }

    /// The least cost any network can have under limit `k` (depth chain respected).
    pub fn cheapest(&self, k: usize) -> f64 {
        let e = &self.costs[k].entries;
        let m = e.len();
        // suffix[i] = least cost of positions i.. when position i may start the "no block" tail.
        let mut best = 0.0;
        for i in (0..m).rev() {
            let real = e[i]
                .iter()
                .enumerate()
                .filter(|(j, _)| self.no_block[i] != Some(*j))
                .map(|t| *t.1)
                .fold(f64::INFINITY, f64::min);
            let tail: Option<f64> = (i..m).map(|k2| self.no_block[k2].map(|o| e[k2][o])).sum::<Option<f64>>();
            best = match tail {
                Some(t) => t.min(real + best),
                None => real + best,
            };
        }
        self.costs[k].base + best
    }

    /// Checks each limit alone against the cheapest network under it: the [`Error::Infeasible`]
    /// that [`solve`] would give, found without the values (so before any evaluation is spent on
    /// them). Limits that can each be met may still be infeasible together.
    pub fn check_limits(&self) -> Result<()> {
        for k in 0..self.costs.len() {
            let c = self.cheapest(k);
            if !meets_limit(c, self.limits[k]) {
                let t = &self.costs[k];
                return Err(Error::Infeasible(format!(
                    "the cheapest network costs {c:.6} {} in {}, above the limit {}",
                    t.unit, t.name, self.limits[k]
                )));
            }
        }
        Ok(())
    }

    /// The "infeasible" error: which limit no network meets, or that they cannot be met together.
    pub(crate) fn infeasible(&self) -> Error {
        if let Err(e) = self.check_limits() {
            return e;
        }
        let parts: Vec<String> = (0..self.costs.len())
            .map(|k| {
                format!(
                    "{} {:.6} {} (limit {})",
                    self.costs[k].name,
                    self.cheapest(k),
                    self.costs[k].unit,
                    self.limits[k]
                )
            })
            .collect();
        Error::Infeasible(format!(
            "no network meets every limit at once; the cheapest network costs, limit by limit, {}",
            parts.join(", ")
        ))
    }

    fn solution(&self, g: Vec<usize>, nodes: u64) -> MckpSolution {
        MckpSolution { value: self.value(&g), costs: self.costs_of(&g), choice: Genotype(g), nodes }
    }
}

/// Every choice, for small problems and tests: an error beyond 10^7 choices.
pub fn solve_exhaustive(p: &MckpProblem) -> Result<MckpSolution> {
    let sizes: Vec<usize> = p.values.iter().map(Vec::len).collect();
    let total = sizes.iter().try_fold(1u64, |a, &n| a.checked_mul(n as u64)).unwrap_or(u64::MAX);
    if total > 10_000_000 {
        return Err(Error::invalid("exhaustive selection", format!("{total} choices are too many")));
    }
    let mut g = vec![0; sizes.len()];
    let mut best: Option<(f64, Vec<usize>)> = None;
    loop {
        if p.is_feasible(&g) {
            let v = p.value(&g);
            if best.as_ref().is_none_or(|(b, _)| v > *b) {
                best = Some((v, g.clone()));
            }
        }
        let mut i = sizes.len();
        loop {
            if i == 0 {
                return best.map(|(_, g)| p.solution(g, total)).ok_or_else(|| p.infeasible());
            }
            i -= 1;
            g[i] += 1;
            if g[i] < sizes[i] {
                break;
            }
            g[i] = 0;
        }
    }
}

/// A random `positions x blocks` instance with `limits` cost limits, as benchmarks use: costs
/// uniform on [0, 10), values correlated with the costs (`0.3 * sum of costs + U[0, 5)`, the
/// harder case for a knapsack), each limit at 40 % of the way from the cheapest to the dearest network.
pub fn random_instance(
    rng: &mut dyn rand::RngCore,
    positions: usize,
    blocks: usize,
    limits: usize,
) -> Result<MckpProblem> {
    use rand::Rng;
    let costs: Vec<Vec<Vec<f64>>> = (0..limits)
        .map(|_| (0..positions).map(|_| (0..blocks).map(|_| rng.random_range(0.0..10.0)).collect()).collect())
        .collect();
    let values = (0..positions)
        .map(|i| {
            (0..blocks).map(|j| 0.3 * costs.iter().map(|c| c[i][j]).sum::<f64>() + rng.random_range(0.0..5.0)).collect()
        })
        .collect();
    let mut constraints = Vec::new();
    for (k, entries) in costs.into_iter().enumerate() {
        let cost = AdditiveCost::new(format!("cost{k}"), "u", 0.0, entries)?;
        let (lo, hi) = cost.range();
        constraints.push((cost, lo + 0.4 * (hi - lo)));
    }
    MckpProblem::new(values, constraints)
}

/// One option of one position after pruning, with its reduced value under the multipliers.
#[derive(Clone, Debug)]
struct Opt {
    j: usize,
    value: f64,
    cost: Vec<f64>,
    reduced: f64,
    /// Reduced values under the alternative multipliers.
    alt: Vec<f64>,
}

/// Proven-optimal selection by dominance pruning, a Lagrangian bound and branch and bound.
/// Errors with [`Error::Infeasible`] when no choice meets the limits.
pub fn solve(p: &MckpProblem) -> Result<MckpSolution> {
    let m = p.positions();
    let nk = p.costs.len();
    let cap: Vec<f64> = (0..nk).map(|k| p.limits[k] - p.costs[k].base + tolerance(p.limits[k])).collect();
    // Real options per position, dominated ones removed; the "no block" option kept aside.
    let mut opts: Vec<Vec<Opt>> = Vec::with_capacity(m);
    for i in 0..m {
        let all: Vec<Opt> = (0..p.values[i].len())
            .filter(|&j| p.no_block[i] != Some(j))
            .map(|j| Opt {
                j,
                value: p.values[i][j],
                cost: (0..nk).map(|k| p.costs[k].entries[i][j]).collect(),
                reduced: 0.0,
                alt: Vec::new(),
            })
            .collect();
        let dominated = |a: &Opt, ia: usize| {
            all.iter().enumerate().any(|(ib, b)| {
                ib != ia
                    && b.value >= a.value
                    && b.cost.iter().zip(&a.cost).all(|(x, y)| x <= y)
                    && (b.value > a.value || b.cost.iter().zip(&a.cost).any(|(x, y)| x < y) || ib < ia)
            })
        };
        opts.push(all.iter().enumerate().filter(|(ia, a)| !dominated(a, *ia)).map(|t| t.1.clone()).collect());
    }
    let nb: Vec<Option<Opt>> = (0..m)
        .map(|i| {
            p.no_block[i].map(|j| Opt {
                j,
                value: p.values[i][j],
                cost: (0..nk).map(|k| p.costs[k].entries[i][j]).collect(),
                reduced: 0.0,
                alt: Vec::new(),
            })
        })
        .collect();
    let lambda = multipliers(&opts, &nb, &cap);
    let alt = alternative_multipliers(&lambda);
    for row in opts.iter_mut() {
        for o in row.iter_mut() {
            o.reduced = o.value - dot(&lambda, &o.cost);
            o.alt = alt.iter().map(|l| o.value - dot(l, &o.cost)).collect();
        }
        row.sort_by(|a, b| b.reduced.total_cmp(&a.reduced).then(a.j.cmp(&b.j)));
    }
    // Branch first on the positions whose best option beats their second by most under the
    // multipliers (their other options fall to the bound at once), leaving the close calls for the
    // deepest levels, where the remaining capacity decides them; on random two-limit 20x50
    // instances this visits about 4x fewer nodes than ordering by the spread of reduced values.
    // With variable depth the order must stay the positions' own.
    let mut order: Vec<usize> = (0..m).collect();
    if nb.iter().all(Option::is_none) {
        let regret = |i: usize| match opts[i].as_slice() {
            [a, b, ..] => a.reduced - b.reduced,
            _ => f64::INFINITY,
        };
        order.sort_by(|&a, &b| regret(b).total_cmp(&regret(a)));
    }
    let opts: Vec<Vec<Opt>> = order.iter().map(|&i| opts[i].clone()).collect();
    let nb: Vec<Option<Opt>> = order.iter().map(|&i| nb[i].clone()).collect();
    // Suffix sums: best reduced value (no-block included, as a relaxation), least cost per limit,
    // and the value and cost of a "no block" tail starting at i.
    let mut best_reduced = vec![0.0; m + 1];
    let mut best_alt = vec![vec![0.0; alt.len()]; m + 1];
    let mut least = vec![vec![0.0; nk]; m + 1];
    let mut tail_value = vec![Some(0.0); m + 1];
    let mut tail_cost = vec![vec![0.0; nk]; m + 1];
    for i in (0..m).rev() {
        let nb_reduced = nb[i].as_ref().map(|o| o.value - dot(&lambda, &o.cost));
        let top = opts[i].first().map(|o| o.reduced).unwrap_or(f64::NEG_INFINITY);
        best_reduced[i] = best_reduced[i + 1] + nb_reduced.map_or(top, |r| r.max(top));
        for (s, l) in alt.iter().enumerate() {
            let mut top = opts[i].iter().map(|o| o.alt[s]).fold(f64::NEG_INFINITY, f64::max);
            if let Some(o) = &nb[i] {
                top = top.max(o.value - dot(l, &o.cost));
            }
            best_alt[i][s] = best_alt[i + 1][s] + top;
        }
        let next_least = least[i + 1].clone();
        for (k, (slot, next)) in least[i].iter_mut().zip(next_least).enumerate() {
            let mut lo = opts[i].iter().map(|o| o.cost[k]).fold(f64::INFINITY, f64::min);
            if let Some(o) = &nb[i] {
                lo = lo.min(o.cost[k]);
            }
            *slot = next + lo;
        }
        tail_value[i] = match (&nb[i], tail_value[i + 1]) {
            (Some(o), Some(t)) => Some(o.value + t),
            _ => None,
        };
        if let Some(o) = &nb[i] {
            let next_tail = tail_cost[i + 1].clone();
            for ((slot, next), c) in tail_cost[i].iter_mut().zip(next_tail).zip(&o.cost) {
                *slot = next + c;
            }
        }
    }
    let mut search = Search {
        opts: &opts,
        nb: &nb,
        lambda: &lambda,
        cap: &cap,
        best_reduced: &best_reduced,
        alt: &alt,
        best_alt: &best_alt,
        least: &least,
        tail_value: &tail_value,
        tail_cost: &tail_cost,
        used: vec![0.0; nk],
        current: vec![0; m],
        best_value: f64::NEG_INFINITY,
        best: None,
        nodes: 0,
    };
    search.dfs(0, 0.0);
    let nodes = search.nodes;
    match search.best {
        Some(found) => {
            let mut g = vec![0; m];
            for (d, &i) in order.iter().enumerate() {
                g[i] = found[d];
            }
            Ok(p.solution(g, nodes))
        }
        None => Err(p.infeasible()),
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The Lagrangian dual `L(lambda) = sum_i max_j (v_ij - lambda . c_ij) + lambda . cap` and its
/// subgradient `cap - sum_i c_{i, argmax}`.
fn dual(opts: &[Vec<Opt>], nb: &[Option<Opt>], cap: &[f64], lambda: &[f64]) -> (f64, Vec<f64>) {
    let mut total = dot(lambda, cap);
    let mut grad = cap.to_vec();
    for (row, n) in opts.iter().zip(nb) {
        let mut best: Option<(&Opt, f64)> = None;
        for o in row.iter().chain(n.iter()) {
            let r = o.value - dot(lambda, &o.cost);
            if best.is_none_or(|(_, b)| r > b) {
                best = Some((o, r));
            }
        }
        if let Some((o, r)) = best {
            total += r;
            for (g, c) in grad.iter_mut().zip(&o.cost) {
                *g -= c;
            }
        }
    }
    (total, grad)
}

/// Multipliers that (nearly) minimise the Lagrangian dual: bisection on the subgradient's sign
/// (30 steps) for one limit, three rounds of coordinate bisection and 100 subgradient steps for
/// several. Any `lambda >= 0` gives a valid bound; better multipliers only prune more. The effort
/// is set where it pays: on random two-limit 20x50 instances the earlier 6 rounds, 60 steps and
/// 200 subgradient steps took most of the median solve time and saved few nodes.
fn multipliers(opts: &[Vec<Opt>], nb: &[Option<Opt>], cap: &[f64]) -> Vec<f64> {
    let nk = cap.len();
    let mut lambda = vec![0.0; nk];
    let rounds = if nk <= 1 { 1 } else { 3 };
    for _ in 0..rounds {
        for k in 0..nk {
            let grad_at = |x: f64, lambda: &mut Vec<f64>| {
                lambda[k] = x;
                dual(opts, nb, cap, lambda).1[k]
            };
            let mut l = lambda.clone();
            if grad_at(0.0, &mut l) >= 0.0 {
                lambda[k] = 0.0;
                continue;
            }
            let mut hi = 1e-6;
            while grad_at(hi, &mut l) < 0.0 && hi < 1e15 {
                hi *= 4.0;
            }
            let mut lo = 0.0;
            for _ in 0..30 {
                let mid = 0.5 * (lo + hi);
                if grad_at(mid, &mut l) < 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            // The dual is convex and piecewise linear: its minimum lies at the kink between lo and hi.
            let (dlo, dhi) = {
                let mut a = lambda.clone();
                a[k] = lo;
                let mut b = lambda.clone();
                b[k] = hi;
                (dual(opts, nb, cap, &a).0, dual(opts, nb, cap, &b).0)
            };
            lambda[k] = if dlo < dhi { lo } else { hi };
        }
    }
    if nk > 1 {
        // Coordinate search can stall at a kink: refine with normalised subgradient steps, keeping
        // the best multipliers seen.
        let (mut best, _) = dual(opts, nb, cap, &lambda);
        let mut at = lambda.clone();
        let mut step = lambda.iter().copied().fold(0.0, f64::max).max(1e-6) * 0.5;
        for _ in 0..100 {
            let (value, grad) = dual(opts, nb, cap, &at);
            if value < best {
                best = value;
                lambda.clone_from(&at);
            }
            let norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            for (l, g) in at.iter_mut().zip(&grad) {
                *l = (*l - step * g / norm).max(0.0);
            }
            step *= 0.97;
        }
    }
    lambda
}

/// At most this many alternative multiplier vectors.
const MAX_ALT: usize = 8;

/// Multipliers beside the root's, each a valid bound (any `lambda >= 0` is): the root's are the
/// best for the whole problem, but deeper in the tree, where part of a limit is used up, another
/// price on it often bounds the subproblem tighter, and a node is pruned when any bound fails.
/// With one or two limits, the grid of each multiplier times 0.7, 1 and 1.4 (2 or 8 vectors);
/// with more, each multiplier times 0.7 and 1.4 alone. On random two-limit 20x50 instances this
/// visits 2-3x fewer nodes.
fn alternative_multipliers(lambda: &[f64]) -> Vec<Vec<f64>> {
    const FACTORS: [f64; 3] = [0.7, 1.0, 1.4];
    let scaled = |k: usize, f: f64, l: &[f64]| {
        let mut x = l.to_vec();
        x[k] *= f;
        x
    };
    let priced: Vec<usize> = (0..lambda.len()).filter(|&k| lambda[k] > 0.0).collect();
    let mut out: Vec<Vec<f64>> = match priced.as_slice() {
        [a, b] => FACTORS.iter().flat_map(|&f| FACTORS.map(|g| scaled(*b, g, &scaled(*a, f, lambda)))).collect(),
        _ => priced.iter().flat_map(|&k| [0.7, 1.4].map(|f| scaled(k, f, lambda))).collect(),
    };
    out.retain(|l| l.as_slice() != lambda);
    out.truncate(MAX_ALT);
    out
}

struct Search<'a> {
    opts: &'a [Vec<Opt>],
    nb: &'a [Option<Opt>],
    lambda: &'a [f64],
    cap: &'a [f64],
    best_reduced: &'a [f64],
    /// Alternative multipliers and the suffix sums of the best reduced values under each.
    alt: &'a [Vec<f64>],
    best_alt: &'a [Vec<f64>],
    least: &'a [Vec<f64>],
    tail_value: &'a [Option<f64>],
    tail_cost: &'a [Vec<f64>],
    used: Vec<f64>,
    current: Vec<usize>,
    best_value: f64,
    best: Option<Vec<usize>>,
    nodes: u64,
}

impl Search<'_> {
    /// Bound slack: prune a node only when it cannot beat the incumbent by more than rounding.
    fn improves(&self, bound: f64) -> bool {
        self.best.is_none() || bound > self.best_value + 1e-12 * self.best_value.abs().max(1.0)
    }

    fn dfs(&mut self, i: usize, value: f64) {
        self.nodes += 1;
        let m = self.opts.len();
        if i == m {
            if value > self.best_value {
                self.best_value = value;
                self.best = Some(self.current.clone());
            }
            return;
        }
        // A "no block" tail from here on.
        if let Some(t) = self.tail_value[i] {
            let v = value + t;
            if v > self.best_value && (0..self.cap.len()).all(|k| self.used[k] + self.tail_cost[i][k] <= self.cap[k]) {
                self.best_value = v;
                let mut g = self.current.clone();
                for (k, slot) in g.iter_mut().enumerate().skip(i) {
                    *slot = self.nb[k].as_ref().map_or(0, |o| o.j);
                }
                self.best = Some(g);
            }
        }
        // Bound of a child = base + its reduced value; children come in decreasing reduced order.
        let slack: f64 = (0..self.cap.len()).map(|k| self.lambda[k] * (self.cap[k] - self.used[k])).sum();
        let base = value + self.best_reduced[i + 1] + slack;
        // The same bound under each alternative multiplier vector (any lambda >= 0 bounds).
        let mut alt_base = [0.0; MAX_ALT];
        for (s, (l, b)) in self.alt.iter().zip(alt_base.iter_mut()).enumerate() {
            *b = value
                + self.best_alt[i + 1][s]
                + (0..self.cap.len()).map(|k| l[k] * (self.cap[k] - self.used[k])).sum::<f64>();
        }
        for o in &self.opts[i] {
            if !self.improves(base + o.reduced) {
                break;
            }
            if (0..self.cap.len()).any(|k| self.used[k] + o.cost[k] + self.least[i + 1][k] > self.cap[k]) {
                continue;
            }
            if o.alt.iter().zip(&alt_base).any(|(r, b)| !self.improves(b + r)) {
                continue;
            }
            for (u, c) in self.used.iter_mut().zip(&o.cost) {
                *u += c;
            }
            self.current[i] = o.j;
            self.dfs(i + 1, value + o.value);
            for (u, c) in self.used.iter_mut().zip(&o.cost) {
                *u -= c;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(values: Vec<Vec<f64>>, cost: Vec<Vec<f64>>, limit: f64) -> MckpProblem {
        let c = AdditiveCost::new("lat", "ms", 0.0, cost).unwrap();
        MckpProblem::new(values, vec![(c, limit)]).unwrap()
    }

    #[test]
    fn picks_the_best_pair_under_the_limit() {
        let p = problem(vec![vec![1.0, 5.0, 3.0], vec![0.0, 4.0]], vec![vec![0.0, 3.0, 1.0], vec![0.0, 2.0]], 4.0);
        let s = solve(&p).unwrap();
        assert_eq!(s.choice.0, vec![2, 1]);
        assert_eq!(s.value, 7.0);
        assert_eq!(s.costs, vec![3.0]);
        assert_eq!(solve_exhaustive(&p).unwrap().choice, s.choice);
    }

    #[test]
    fn infeasible_names_the_cheapest_cost_and_bad_limits_are_refused() {
        let p = problem(vec![vec![1.0, 2.0]], vec![vec![1.0, 2.0]], 1.5);
        let e = solve(&problem(vec![vec![1.0, 2.0]], vec![vec![1.0, 2.0]], 0.5)).unwrap_err().to_string();
        assert!(e.starts_with("infeasible: the cheapest network costs 1.000000 ms"), "{e}");
        assert_eq!(solve(&p).unwrap().choice.0, vec![0]);
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            let c = AdditiveCost::new("lat", "ms", 0.0, vec![vec![1.0]]).unwrap();
            let e = MckpProblem::new(vec![vec![0.0]], vec![(c, bad)]).unwrap_err().to_string();
            assert!(e.contains("limit"), "{e}");
        }
    }

    #[test]
    fn no_block_ends_the_network() {
        // Option 0 = no block at positions 1 and 2; position 2's block is great but position 1's
        // block is too costly, so the depth chain forbids [x, 0, 1].
        let p = problem(
            vec![vec![1.0], vec![0.0, 1.0], vec![0.0, 10.0]],
            vec![vec![0.0], vec![0.0, 5.0], vec![0.0, 1.0]],
            3.0,
        )
        .with_no_block(1, &[0, 0])
        .unwrap();
        let s = solve(&p).unwrap();
        assert_eq!(s.choice.0, vec![0, 0, 0]);
        assert_eq!(solve_exhaustive(&p).unwrap().choice.0, vec![0, 0, 0]);
        assert!(!p.respects_depth(&[0, 0, 1]));
    }
}
