//! One conformance suite that every strategy passes on a toy space with a known optimum: it finds
//! the optimum within budget, respects the budget, proposes only valid genotypes, and gives the
//! same answer for the same seed.
#![allow(clippy::unwrap_used)]

use std::cell::Cell;

use nas_core::{Decision, Evaluation, Evaluator, Genotype, Network, Result, SearchSpace, Strategy};
use nas_strategies::{Budget, RandomSearch, RegularizedEvolution, search};
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

fn strategies() -> Vec<(Box<dyn Strategy>, usize)> {
    vec![(Box::new(RandomSearch), 2000), (Box::new(RegularizedEvolution::new(10, 3).unwrap()), 300)]
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
