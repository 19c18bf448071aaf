//! The exact selection solver and the good_lp MILP against exhaustive search on hundreds of random
//! instances (m, n <= 6, one to three limits, variable depth, infeasible limits included), and on
//! the benchmark generator's correlated two-limit instances at 6 x 8.
#![allow(clippy::unwrap_used)]

use nas_core::{AdditiveCost, Error};
use nas_strategies::mckp::{self, MckpProblem};
use nas_strategies::milp::solve_milp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random instance: costs on a 0.5 grid, values on a 0.001 grid (so ties happen), limits between
/// just under the cheapest network (infeasible) and the dearest.
fn instance(rng: &mut ChaCha8Rng) -> MckpProblem {
    let m = rng.random_range(1..=6);
    let sizes: Vec<usize> = (0..m).map(|_| rng.random_range(1..=6)).collect();
    let values: Vec<Vec<f64>> =
        sizes.iter().map(|&n| (0..n).map(|_| (rng.random_range(-1000..1000) as f64) / 1000.0).collect()).collect();
    let nk = rng.random_range(1..=3);
    let mut constraints = Vec::new();
    for k in 0..nk {
        let entries: Vec<Vec<f64>> =
            sizes.iter().map(|&n| (0..n).map(|_| rng.random_range(0..20) as f64 * 0.5).collect()).collect();
        let cost = AdditiveCost::new(format!("c{k}"), "u", rng.random_range(0..4) as f64, entries).unwrap();
        let (lo, hi) = cost.range();
        let limit = (rng.random_range(lo - 2.0..=hi + 0.5)).max(0.0);
        // Half the limits land exactly on the grid, where ties with the limit are tested.
        let limit = if rng.random_bool(0.5) { (limit * 2.0).round() / 2.0 } else { limit };
        constraints.push((cost, limit));
    }
    let p = MckpProblem::new(values, constraints).unwrap();
    if rng.random_bool(0.3) {
        let from = rng.random_range(0..m);
        let options: Vec<usize> = (from..m).map(|i| rng.random_range(0..sizes[i])).collect();
        return p.with_no_block(from, &options).unwrap();
    }
    p
}

#[test]
fn exact_solver_matches_exhaustive_search() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let (mut feasible, mut infeasible) = (0, 0);
    for case in 0..600 {
        let p = instance(&mut rng);
        match (mckp::solve(&p), mckp::solve_exhaustive(&p)) {
            (Ok(s), Ok(e)) => {
                assert!(p.is_feasible(&s.choice.0), "case {case}: {:?} infeasible", s.choice);
                assert!((s.value - e.value).abs() < 1e-9, "case {case}: {} vs exhaustive {} ({p:?})", s.value, e.value);
                feasible += 1;
            }
            (Err(Error::Infeasible(a)), Err(Error::Infeasible(b))) => {
                assert_eq!(a, b);
                assert!(a.contains("cheapest network costs"), "{a}");
                infeasible += 1;
            }
            (s, e) => panic!("case {case}: exact {s:?}, exhaustive {e:?}, {p:?}"),
        }
    }
    assert!(feasible > 300 && infeasible > 30, "{feasible} feasible, {infeasible} infeasible");
}

#[test]
fn good_lp_milp_matches_exhaustive_search() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (mut feasible, mut infeasible) = (0, 0);
    for case in 0..300 {
        let p = instance(&mut rng);
        match (solve_milp(&p), mckp::solve_exhaustive(&p)) {
            (Ok(s), Ok(e)) => {
                let costs = p.costs_of(&s.choice.0);
                assert!(p.respects_depth(&s.choice.0), "case {case}");
                for (c, l) in costs.iter().zip(&p.limits) {
                    assert!(*c <= l + 1e-6, "case {case}: cost {c} > limit {l}");
                }
                assert!((s.value - e.value).abs() < 1e-6, "case {case}: {} vs exhaustive {} ({p:?})", s.value, e.value);
                feasible += 1;
            }
            (Err(Error::Infeasible(_)), Err(Error::Infeasible(_))) => infeasible += 1,
            (s, e) => panic!("case {case}: milp {s:?}, exhaustive {e:?}, {p:?}"),
        }
    }
    assert!(feasible > 150 && infeasible > 15, "{feasible} feasible, {infeasible} infeasible");
}

#[test]
fn exact_solver_matches_exhaustive_search_on_correlated_two_limit_instances() {
    // The benchmark generator (values correlated with both costs, continuous costs), small enough
    // to enumerate: the regret ordering and the alternative multipliers keep the answer exact.
    for seed in 0..30 {
        let mut rng = ChaCha8Rng::seed_from_u64(500 + seed);
        let p = mckp::random_instance(&mut rng, 6, 8, 2).unwrap();
        let (s, e) = (mckp::solve(&p).unwrap(), mckp::solve_exhaustive(&p).unwrap());
        assert!(p.is_feasible(&s.choice.0), "seed {seed}");
        assert!((s.value - e.value).abs() < 1e-9, "seed {seed}: {} vs exhaustive {}", s.value, e.value);
    }
}
