//! Neighbourhood-aware evaluation (Chen et al., "Neighborhood-aware neural architecture search",
//! BMVC 2021): an architecture is worth the mean performance over itself and its one-edit
//! neighbours, which prefers flat regions of the space over sharp peaks. Wrapping an evaluator with
//! [`NeighbourhoodMean`] turns random search into NA-RS (and any strategy into its NA variant).

use std::cell::RefCell;
use std::collections::HashMap;

use nas_core::{Evaluation, Evaluator, Genotype, Result, SearchSpace};

/// Fitness = mean fitness over `g` and every genotype one decision away from it. Each distinct
/// genotype is evaluated once per wrapper (one search run) and, by default, its cost charged once,
/// so overlapping neighbourhoods share their members' cost. [`Self::with_free_neighbours`]
/// charges only the candidate (as when a benchmark table supplies the neighbours' results), so the
/// search sees as many candidates as plain random search. A member whose fitness is `-inf` makes
/// the mean `-inf`.
pub struct NeighbourhoodMean<'a> {
    space: &'a dyn SearchSpace,
    inner: &'a dyn Evaluator,
    seen: RefCell<HashMap<Genotype, Evaluation>>,
    free_neighbours: bool,
}

impl std::fmt::Debug for NeighbourhoodMean<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeighbourhoodMean").field("space", &self.space.name()).finish_non_exhaustive()
    }
}

impl<'a> NeighbourhoodMean<'a> {
    /// Wraps `inner`: each distinct genotype is evaluated once, its cost charged once.
    pub fn new(space: &'a dyn SearchSpace, inner: &'a dyn Evaluator) -> Self {
        NeighbourhoodMean { space, inner, seen: RefCell::new(HashMap::new()), free_neighbours: false }
    }

    /// Charges only the candidate's own cost.
    pub fn with_free_neighbours(mut self) -> Self {
        self.free_neighbours = true;
        self
    }

    /// Distinct genotypes evaluated so far.
    pub fn evaluated(&self) -> usize {
        self.seen.borrow().len()
    }
}

impl Evaluator for NeighbourhoodMean<'_> {
    fn evaluate(&self, g: &Genotype) -> Result<Evaluation> {
        let mut members = vec![g.clone()];
        members.extend(self.space.neighbours(g));
        let (mut sum, mut cost_seconds) = (0.0, 0.0);
        for m in &members {
            let cached = self.seen.borrow().get(m).copied();
            let e = match cached {
                Some(e) => e,
                None => {
                    let e = self.inner.evaluate(m)?;
                    self.seen.borrow_mut().insert(m.clone(), e);
                    if !self.free_neighbours {
                        cost_seconds += e.cost_seconds;
                    }
                    e
                }
            };
            if self.free_neighbours && m == g {
                cost_seconds += e.cost_seconds;
            }
            sum += e.fitness;
        }
        Ok(Evaluation { fitness: sum / members.len() as f64, cost_seconds })
    }
}
