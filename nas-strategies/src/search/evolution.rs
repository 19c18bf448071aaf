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
    /// Genotypes to propose before any random one (AREA's best-scored start).
    initial: VecDeque<Genotype>,
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
        Ok(RegularizedEvolution { population_size, sample_size, population: VecDeque::new(), initial: VecDeque::new() })
    }

    /// Proposes these genotypes first, in order, before filling the rest of the population with
    /// random samples. AREA (Mellor et al. 2021) starts from the best-scored of a random sample.
    pub fn starting_from(mut self, genotypes: impl IntoIterator<Item = Genotype>) -> Self {
        self.initial.extend(genotypes);
        self
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
        if let Some(g) = self.initial.pop_front() {
            return Ok(g);
        }
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
