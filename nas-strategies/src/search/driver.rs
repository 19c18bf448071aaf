//! The search loop: ask the strategy, evaluate, tell, record, until the budget is spent.

use nas_core::{Error, Evaluation, Evaluator, Genotype, Observer, Result, SearchSpace, Strategy};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// When a search stops: after a number of evaluations, or once the simulated clock (the sum of
/// every evaluation's `cost_seconds`) reaches a limit. The evaluation that crosses the time limit
/// still counts, as in the NAS-Bench-201 reference code. Either or both may be set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Stop after this many evaluations.
    pub max_evaluations: Option<usize>,
    /// Stop once the simulated clock reaches this many seconds.
    pub max_seconds: Option<f64>,
}

impl Budget {
    /// At most `n` evaluations (`n > 0`).
    pub fn evaluations(n: usize) -> Result<Self> {
        Self::new(Some(n), None)
    }

    /// Until the simulated clock reaches `seconds` (finite, `> 0`).
    pub fn seconds(seconds: f64) -> Result<Self> {
        Self::new(None, Some(seconds))
    }

    /// A checked budget: at least one limit, each positive.
    pub fn new(max_evaluations: Option<usize>, max_seconds: Option<f64>) -> Result<Self> {
        if max_evaluations == Some(0) {
            return Err(Error::invalid("budget", "0 evaluations: give at least 1"));
        }
        if let Some(s) = max_seconds
            && !(s.is_finite() && s > 0.0)
        {
            return Err(Error::invalid("budget", format!("{s} seconds: give a positive, finite number")));
        }
        if max_evaluations.is_none() && max_seconds.is_none() {
            return Err(Error::invalid("budget", "no limit: give a number of evaluations or of seconds"));
        }
        Ok(Budget { max_evaluations, max_seconds })
    }

    fn spent(&self, evaluations: usize, clock_s: f64) -> bool {
        self.max_evaluations.is_some_and(|n| evaluations >= n) || self.max_seconds.is_some_and(|s| clock_s >= s)
    }
}

/// One evaluation of a search, with the simulated clock after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The evaluated genotype.
    pub genotype: Genotype,
    /// Its evaluation.
    pub evaluation: Evaluation,
    /// The simulated clock after it, seconds.
    pub clock_s: f64,
}

/// The history of a search in evaluation order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Every evaluation, first to last.
    pub history: Vec<Record>,
}

impl SearchResult {
    /// The record with the highest fitness (the earliest among equals).
    pub fn best(&self) -> Option<&Record> {
        self.history.iter().reduce(|a, b| if b.evaluation.fitness > a.evaluation.fitness { b } else { a })
    }

    /// Best fitness so far after each evaluation, with the clock: the search curve.
    pub fn best_so_far(&self) -> Vec<(f64, f64)> {
        let mut best = f64::NEG_INFINITY;
        self.history
            .iter()
            .map(|r| {
                best = best.max(r.evaluation.fitness);
                (r.clock_s, best)
            })
            .collect()
    }
}

/// Runs `strategy` on `space` until `budget` is spent. Every random choice comes from `rng`.
/// The observer sees each evaluation and may stop the search early.
pub fn search(
    space: &dyn SearchSpace,
    strategy: &mut dyn Strategy,
    evaluator: &dyn Evaluator,
    budget: Budget,
    rng: &mut dyn RngCore,
    observer: Option<&mut dyn Observer>,
) -> Result<SearchResult> {
    resume(space, strategy, evaluator, budget, rng, Vec::new(), observer)
}

/// Continues a search from the `history` an interrupted run of it saved. The strategy and `rng`
/// must be fresh and set up exactly as for the original run: the history is replayed through them
/// (the strategy proposes, the recorded evaluation answers) without calling the evaluator, which
/// rebuilds the generator's and the strategy's state; the search then goes on as if it had never
/// stopped, so the result equals that of an uninterrupted run. A history that the strategy does
/// not reproduce (another seed, strategy or space) is an error, not a silent restart. The observer
/// sees only the new evaluations.
pub fn resume(
    space: &dyn SearchSpace,
    strategy: &mut dyn Strategy,
    evaluator: &dyn Evaluator,
    budget: Budget,
    rng: &mut dyn RngCore,
    history: Vec<Record>,
    mut observer: Option<&mut dyn Observer>,
) -> Result<SearchResult> {
    for (step, record) in history.iter().enumerate() {
        let g = strategy.propose(space, rng)?;
        if g != record.genotype {
            return Err(Error::invalid(
                "resumed history",
                format!(
                    "step {step} recorded {} but this search proposes {}: it was saved by a different search",
                    space.format(&record.genotype),
                    space.format(&g)
                ),
            ));
        }
        strategy.observe(&g, &record.evaluation);
    }
    let mut clock_s = history.last().map_or(0.0, |r| r.clock_s);
    let mut result = SearchResult { history };
    while !budget.spent(result.history.len(), clock_s) {
        let g = strategy.propose(space, rng)?;
        space.validate(&g)?;
        let evaluation = evaluator.evaluate(&g)?;
        if !evaluation.fitness.is_finite() && evaluation.fitness != f64::NEG_INFINITY {
            return Err(Error::Numerical(format!("fitness {} of {}", evaluation.fitness, space.format(&g))));
        }
        if !(evaluation.cost_seconds.is_finite() && evaluation.cost_seconds >= 0.0) {
            return Err(Error::Numerical(format!("cost {} s of {}", evaluation.cost_seconds, space.format(&g))));
        }
        strategy.observe(&g, &evaluation);
        clock_s += evaluation.cost_seconds;
        let step = result.history.len();
        let stop = observer.as_deref_mut().is_some_and(|obs| obs.on_evaluation(step, &g, &evaluation).is_break());
        result.history.push(Record { genotype: g, evaluation, clock_s });
        if stop {
            break;
        }
    }
    Ok(result)
}
