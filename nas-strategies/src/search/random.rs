//! Random search: uniform samples, with replacement (Li & Talwalkar 2019; the NAS-Bench-201 baseline).

use nas_core::{Evaluation, Genotype, Result, SearchSpace, Strategy};
use rand::RngCore;

/// Proposes uniformly random genotypes; the search's answer is the best one evaluated.
#[derive(Clone, Debug, Default)]
pub struct RandomSearch;

impl Strategy for RandomSearch {
    fn name(&self) -> &str {
        "random"
    }

    fn propose(&mut self, space: &dyn SearchSpace, rng: &mut dyn RngCore) -> Result<Genotype> {
        Ok(space.sample(rng))
    }

    fn observe(&mut self, _: &Genotype, _: &Evaluation) {}
}
