//! Regularized (aging) evolution, Real et al., AAAI 2019, as `shared/docs/algorithms.md` §4 states it.

use std::collections::VecDeque;

use nas_core::{Error, Evaluation, Genotype, Result, SearchSpace, Strategy};
use rand::{Rng, RngCore};

/// A population of the `population_size` most recent evaluations. Until it is full, proposals are
/// uniform samples; then `sample_size` members are drawn with replacement, the fittest is the
/// parent, and the child is the parent with one decision changed. Every evaluated child joins the
/// population and the oldest member leaves.
#[derive(Clone, Debug)]
pub struct RegularizedEvolution {
    population_size: usize,
    sample_size: usize,
    population: VecDeque<(Genotype, f64)>,
}

impl RegularizedEvolution {
    /// `P` and `S`, both at least 1 (NAS-Bench-201 uses P = 10, S = 3).
    pub fn new(population_size: usize, sample_size: usize) -> Result<Self> {
        if population_size == 0 || sample_size == 0 {
            return Err(Error::invalid(
                "regularized evolution",
                format!("population {population_size} and sample {sample_size} must be at least 1"),
            ));
        }
        Ok(RegularizedEvolution { population_size, sample_size, population: VecDeque::new() })
    }

    /// Seeds the population with already evaluated genotypes (AREA seeds it with the best scored
    /// ones); at most `population_size` are kept, the last ones given.
    pub fn seed_population(&mut self, members: impl IntoIterator<Item = (Genotype, f64)>) {
        for m in members {
            self.push(m);
        }
    }

    /// The current population, oldest first.
    pub fn population(&self) -> impl Iterator<Item = &(Genotype, f64)> {
        self.population.iter()
    }

    fn push(&mut self, member: (Genotype, f64)) {
        self.population.push_back(member);
        while self.population.len() > self.population_size {
            self.population.pop_front();
        }
    }
}

impl Strategy for RegularizedEvolution {
    fn name(&self) -> &str {
        "rea"
    }

    fn propose(&mut self, space: &dyn SearchSpace, rng: &mut dyn RngCore) -> Result<Genotype> {
        if self.population.len() < self.population_size {
            return Ok(space.sample(rng));
        }
        let mut parent: Option<&(Genotype, f64)> = None;
        for _ in 0..self.sample_size {
            let cand = &self.population[rng.random_range(0..self.population.len())];
            if parent.is_none_or(|p| cand.1 > p.1) {
                parent = Some(cand);
            }
        }
        let parent = parent.map(|p| p.0.clone()).unwrap_or_else(|| space.sample(rng));
        Ok(space.mutate(&parent, rng))
    }

    fn observe(&mut self, g: &Genotype, evaluation: &Evaluation) {
        self.push((g.clone(), evaluation.fitness));
    }
}
