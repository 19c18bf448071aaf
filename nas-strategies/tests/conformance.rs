//! One conformance suite that every strategy passes on a toy space with a known optimum: it finds
//! the optimum within budget, respects the budget, proposes only valid genotypes, and gives the
//! same answer for the same seed.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;
use std::ops::ControlFlow;

use nas_core::{Decision, Evaluation, Evaluator, Genotype, Network, Observer, Result, SearchSpace, Strategy};
use nas_strategies::{Budget, NeighbourhoodMean, RandomSearch, RegularizedEvolution, resume, search};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// 5 decisions with 3 choices (243 genotypes); fitness = minus the distance to the target.
struct Toy(Vec<Decision>);

const TARGET: [usize; 5] = [2, 0, 1, 2, 1];

impl SearchSpace for Toy {
    fn name(&self) -> &str {
        "toy"
    }
    fn decisions(&self) -> &[Decision] {
        &self.0
    }
    fn to_network(&self, _: &Genotype) -> Result<Network> {
        Ok(Network::new())
    }
    fn format(&self, g: &Genotype) -> String {
        g.to_string()
    }
    fn parse(&self, s: &str) -> Result<Genotype> {
        Err(nas_core::Error::parse(s, "toy space"))
    }
}

struct Distance<'a> {
    space: &'a Toy,
    calls: Cell<usize>,
}

impl Evaluator for Distance<'_> {
    fn evaluate(&self, g: &Genotype) -> Result<Evaluation> {
        self.space.validate(g)?;
        self.calls.set(self.calls.get() + 1);
        let d = g.0.iter().zip(TARGET).map(|(&a, b)| a.abs_diff(b)).sum::<usize>();
        Ok(Evaluation { fitness: -(d as f64), cost_seconds: 10.0 })
    }
}

/// Every strategy, fresh, with the evaluations it needs on the toy space.
fn strategies() -> Vec<(Box<dyn Strategy>, usize)> {
    let area_start = vec![Genotype(vec![0; 5]), Genotype(vec![1; 5])];
    vec![
        (Box::new(RandomSearch), 2000),
        (Box::new(RegularizedEvolution::new(10, 3).unwrap()), 300),
        (Box::new(RegularizedEvolution::new(10, 3).unwrap().starting_from(area_start)), 300),
    ]
}

fn toy() -> Toy {
    Toy((0..5).map(|i| Decision::new(format!("d{i}"), &["a", "b", "c"])).collect())
}

#[test]
fn every_strategy_conforms() {
    let space = toy();
    for (mut strategy, evals) in strategies() {
        for seed in 0..5 {
            let eval = Distance { space: &space, calls: Cell::new(0) };
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let r =
                search(&space, strategy.as_mut(), &eval, Budget::evaluations(evals).unwrap(), &mut rng, None).unwrap();
            let name = strategy.name().to_string();
            assert_eq!(r.history.len(), evals, "{name}");
            assert_eq!(eval.calls.get(), evals, "{name}");
            assert_eq!(r.best().unwrap().genotype.0, TARGET, "{name} seed {seed}");
            let curve = r.best_so_far();
            assert!(curve.windows(2).all(|w| w[0].1 <= w[1].1 && w[0].0 < w[1].0));
        }
    }
}

#[test]
fn time_budgets_stop_after_the_crossing_evaluation() {
    let space = toy();
    let eval = Distance { space: &space, calls: Cell::new(0) };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let r = search(&space, &mut RandomSearch, &eval, Budget::seconds(95.0).unwrap(), &mut rng, None).unwrap();
    assert_eq!(r.history.len(), 10);
    assert_eq!(r.history.last().unwrap().clock_s, 100.0);
}

#[test]
fn same_seed_same_search() {
    let space = toy();
    let run = |seed| {
        let eval = Distance { space: &space, calls: Cell::new(0) };
        let mut rea = RegularizedEvolution::new(10, 3).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        search(&space, &mut rea, &eval, Budget::evaluations(50).unwrap(), &mut rng, None).unwrap()
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11), run(12));
}

#[test]
fn bad_parameters_are_errors() {
    assert!(Budget::evaluations(0).unwrap_err().to_string().contains("0 evaluations"));
    assert!(Budget::seconds(0.0).is_err());
    assert!(Budget::seconds(f64::NAN).is_err());
    assert!(Budget::new(None, None).is_err());
    assert!(RegularizedEvolution::new(0, 3).is_err());
    assert!(RegularizedEvolution::new(10, 0).is_err());
}

/// Stops a search after a given number of evaluations, as a kill would.
struct StopAfter(usize);

impl Observer for StopAfter {
    fn on_evaluation(&mut self, step: usize, _: &Genotype, _: &Evaluation) -> ControlFlow<()> {
        if step + 1 >= self.0 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
    }
}

#[test]
fn an_interrupted_search_resumes_to_the_uninterrupted_result() {
    let space = toy();
    for (i, (_, evals)) in strategies().into_iter().enumerate() {
        let budget = Budget::evaluations(evals.min(120)).unwrap();
        let eval = Distance { space: &space, calls: Cell::new(0) };
        let fresh = || strategies().swap_remove(i).0;
        let full = search(&space, fresh().as_mut(), &eval, budget, &mut ChaCha8Rng::seed_from_u64(4), None).unwrap();
        for cut in [1, 2, 9, 10, 11, 57, 119] {
            let mut stop = StopAfter(cut);
            let mut rng = ChaCha8Rng::seed_from_u64(4);
            let part = search(&space, fresh().as_mut(), &eval, budget, &mut rng, Some(&mut stop)).unwrap();
            assert_eq!(part.history.len(), cut);
            let calls = eval.calls.get();
            let mut rng = ChaCha8Rng::seed_from_u64(4);
            let resumed = resume(&space, fresh().as_mut(), &eval, budget, &mut rng, part.history, None).unwrap();
            assert_eq!(resumed, full, "strategy {i}, cut at {cut}");
            assert_eq!(eval.calls.get() - calls, full.history.len() - cut, "replayed steps are not re-evaluated");
        }
        // A history saved by another search is refused.
        let part = search(&space, fresh().as_mut(), &eval, budget, &mut ChaCha8Rng::seed_from_u64(5), None).unwrap();
        let err =
            resume(&space, fresh().as_mut(), &eval, budget, &mut ChaCha8Rng::seed_from_u64(4), part.history, None)
                .unwrap_err()
                .to_string();
        assert!(err.contains("different search"), "{err}");
    }
}

#[test]
fn area_start_is_proposed_first() {
    let space = toy();
    let eval = Distance { space: &space, calls: Cell::new(0) };
    let start = vec![Genotype(vec![2, 0, 1, 2, 0]), Genotype(vec![0; 5])];
    let mut rea = RegularizedEvolution::new(10, 3).unwrap().starting_from(start.clone());
    let r = search(&space, &mut rea, &eval, Budget::evaluations(3).unwrap(), &mut ChaCha8Rng::seed_from_u64(0), None)
        .unwrap();
    assert_eq!(r.history[0].genotype, start[0]);
    assert_eq!(r.history[1].genotype, start[1]);
}

#[test]
fn neighbourhood_aware_random_search_finds_the_flat_optimum_and_pays_each_member_once() {
    let space = toy();
    for seed in 0..3 {
        let inner = Distance { space: &space, calls: Cell::new(0) };
        let na = NeighbourhoodMean::new(&space, &inner);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let r = search(&space, &mut RandomSearch, &na, Budget::evaluations(1500).unwrap(), &mut rng, None).unwrap();
        assert_eq!(r.best().unwrap().genotype.0, TARGET, "seed {seed}");
        // 243 genotypes: each evaluated (and charged 10 s) at most once.
        assert_eq!(inner.calls.get(), na.evaluated());
        assert!(na.evaluated() <= 243);
        assert_eq!(r.history.last().unwrap().clock_s, 10.0 * inner.calls.get() as f64);
        // The target's neighbourhood: itself (0) and 10 neighbours at distances summing to 13.
        let target = r.best().unwrap();
        assert!((target.evaluation.fitness + 13.0 / 11.0).abs() < 1e-12);
        // Free neighbours: each evaluation charges the candidate only.
        let inner = Distance { space: &space, calls: Cell::new(0) };
        let na = NeighbourhoodMean::new(&space, &inner).with_free_neighbours();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let r = search(&space, &mut RandomSearch, &na, Budget::seconds(200.0).unwrap(), &mut rng, None).unwrap();
        assert_eq!(r.history.len(), 20);
    }
}
