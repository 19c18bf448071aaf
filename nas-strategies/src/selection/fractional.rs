//! Exact selection for a ratio objective: maximise `N(g) / D(g)` over one block per position under
//! the limits of an [`MckpProblem`], where `N` and `D` are additive and `D > 0` everywhere.
//!
//! MathNAS's FLOPs-scaled accuracy prediction, `P(base) - M * dev(g) / flops(g)`, is such an objective
//! (`N = -dev`, `D = flops`). Dinkelbach's method reduces it to a sequence of additive problems: for a
//! ratio `r`, solve `max N(g) - r D(g)` exactly ([`super::mckp::solve`]); while the optimum is
//! positive, its choice has a larger ratio, so `r` becomes that ratio. Each step raises `r`
//! strictly and there are finitely many choices, so the loop ends, and at its end no choice beats `r`:
//! the answer is proven optimal.

use nas_core::{AdditiveCost, Error, Genotype, Result};

use super::mckp::{self, MckpProblem};

/// An optimal choice for a ratio objective.
#[derive(Clone, Debug, PartialEq)]
pub struct RatioSolution {
    /// The choice, one option per position.
    pub choice: Genotype,
    /// `N(choice) / D(choice)`.
    pub ratio: f64,
    /// Additive problems solved.
    pub iterations: usize,
}

/// Most Dinkelbach steps before giving up (the method converges superlinearly; a handful is usual).
const MAX_ITERATIONS: usize = 100;

/// Maximises `numerator(g) / denominator(g)` subject to the limits and depth chain of `problem` (its
/// values are ignored). The denominator must be positive for every choice: an error otherwise, as
/// is a problem with no feasible choice.
pub fn maximise_ratio(
    problem: &MckpProblem,
    numerator: &AdditiveCost,
    denominator: &AdditiveCost,
) -> Result<RatioSolution> {
    let shape: Vec<usize> = problem.values.iter().map(Vec::len).collect();
    for t in [numerator, denominator] {
        let theirs: Vec<usize> = t.entries.iter().map(Vec::len).collect();
        if theirs != shape {
            return Err(Error::invalid(
                "ratio objective",
                format!("{} has options per position {theirs:?}, the problem {shape:?}", t.name),
            ));
        }
    }
    let (least, _) = denominator.range();
    if least <= 0.0 {
        return Err(Error::invalid(
            "ratio objective",
            format!("the denominator {} can be {least}: it must be positive for every choice", denominator.name),
        ));
    }
    let ratio_of = |g: &Genotype| -> Result<f64> { Ok(numerator.cost(g)? / denominator.cost(g)?) };
    let mut p = problem.clone();
    // Start from the best numerator.
    p.values = numerator.entries.clone();
    let mut choice = mckp::solve(&p)?.choice;
    let mut ratio = ratio_of(&choice)?;
    for iterations in 1..=MAX_ITERATIONS {
        p.values = numerator
            .entries
            .iter()
            .zip(&denominator.entries)
            .map(|(n, d)| n.iter().zip(d).map(|(a, b)| a - ratio * b).collect())
            .collect();
        let s = mckp::solve(&p)?;
        let gain = s.value + numerator.base - ratio * denominator.base;
        let next = ratio_of(&s.choice)?;
        // Optimal when no choice has N - r D > 0 (up to rounding), i.e. none beats r.
        if gain <= 1e-12 * (numerator.base.abs() + ratio.abs() * denominator.base.abs()).max(1.0) || next <= ratio {
            return Ok(RatioSolution { choice, ratio, iterations });
        }
        choice = s.choice;
        ratio = next;
    }
    Err(Error::Numerical(format!("ratio selection did not settle in {MAX_ITERATIONS} steps")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every feasible choice, for the reference.
    fn best_by_enumeration(p: &MckpProblem, n: &AdditiveCost, d: &AdditiveCost) -> Option<f64> {
        let sizes: Vec<usize> = p.values.iter().map(Vec::len).collect();
        let mut g = vec![0; sizes.len()];
        let mut best: Option<f64> = None;
        loop {
            if p.is_feasible(&g) {
                let gt = Genotype(g.clone());
                let r = n.cost(&gt).unwrap() / d.cost(&gt).unwrap();
                best = Some(best.map_or(r, |b: f64| b.max(r)));
            }
            let mut i = sizes.len();
            loop {
                if i == 0 {
                    return best;
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

    #[test]
    fn dinkelbach_matches_enumeration_on_random_instances_including_infeasible_ones() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(rand::random());
        let (mut feasible, mut infeasible) = (0, 0);
        for _ in 0..300 {
            let m = rng.random_range(1..=6);
            let n = rng.random_range(1..=6);
            let limits = rng.random_range(1..=2);
            let mut p = mckp::random_instance(&mut rng, m, n, limits).unwrap();
            // Limits anywhere from below the cheapest network to above the dearest.
            for (k, l) in p.limits.iter_mut().enumerate() {
                let (lo, hi) = p.costs[k].range();
                *l = (lo + rng.random_range(-0.2..1.2) * (hi - lo)).max(0.0);
            }
            if rng.random_bool(0.3) {
                let from = rng.random_range(0..m);
                p = p.with_no_block(from, &vec![0; m - from]).unwrap();
            }
            let table = |rng: &mut rand_chacha::ChaCha8Rng, lo: f64, hi: f64| -> Vec<Vec<f64>> {
                (0..m).map(|_| (0..n).map(|_| rng.random_range(lo..hi)).collect()).collect()
            };
            // Numerators of either sign; denominators positive (FLOPs-like).
            let num = AdditiveCost::new("n", "u", rng.random_range(-5.0..5.0), table(&mut rng, -3.0, 3.0)).unwrap();
            let den = AdditiveCost::new("d", "u", rng.random_range(0.1..2.0), table(&mut rng, 0.0, 5.0)).unwrap();
            match (maximise_ratio(&p, &num, &den), best_by_enumeration(&p, &num, &den)) {
                (Ok(s), Some(best)) => {
                    feasible += 1;
                    assert!(p.is_feasible(&s.choice.0));
                    assert!((s.ratio - best).abs() <= 1e-9 * best.abs().max(1.0), "ratio {} vs best {best}", s.ratio);
                    assert!(s.iterations <= 20, "{} iterations", s.iterations);
                }
                (Err(Error::Infeasible(_)), None) => infeasible += 1,
                (a, b) => panic!("{a:?} vs {b:?}"),
            }
        }
        assert!(feasible > 100 && infeasible > 10, "{feasible} feasible, {infeasible} infeasible");
    }

    #[test]
    fn a_denominator_that_can_reach_zero_is_refused() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let p = mckp::random_instance(&mut rng, 3, 3, 1).unwrap();
        let num = AdditiveCost::new("n", "u", 0.0, vec![vec![1.0; 3]; 3]).unwrap();
        let den = AdditiveCost::new("flops", "u", 0.0, vec![vec![0.0, 1.0, 2.0]; 3]).unwrap();
        let e = maximise_ratio(&p, &num, &den).unwrap_err().to_string();
        assert!(e.contains("flops") && e.contains("positive"), "{e}");
    }
}
