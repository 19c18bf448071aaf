//! The small, object-safe traits that spaces, evaluators, scorers, cost models, strategies and
//! observers implement. Strategies see only a [`SearchSpace`]'s decisions; how a genotype becomes a
//! network, how it is evaluated and what it costs are separate concerns.

use std::ops::ControlFlow;

use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::genotype::{self, Decision, Genotype};
use crate::graph::Network;

/// A search space: labelled categorical decisions, and how a genotype becomes a network.
pub trait SearchSpace: Send + Sync {
    /// A short identifier such as `nb201`.
    fn name(&self) -> &str;

    /// The decisions, in genotype order.
    fn decisions(&self) -> &[Decision];

    /// The full network a genotype stands for.
    fn to_network(&self, g: &Genotype) -> Result<Network>;

    /// The space's official text form of a genotype.
    fn format(&self, g: &Genotype) -> String;

    /// Parses the official text form; errors name what is wrong.
    fn parse(&self, s: &str) -> Result<Genotype>;

    /// A representative of `g`'s class of genotypes that compute the same function. Spaces without
    /// a notion of isomorphism return `g` itself.
    fn canonical(&self, g: &Genotype) -> Genotype {
        g.clone()
    }

    /// Checks that `g` belongs to the space.
    fn validate(&self, g: &Genotype) -> Result<()> {
        genotype::validate(self.decisions(), g)
    }

    /// Number of genotypes.
    fn size(&self) -> u128 {
        genotype::space_size(self.decisions())
    }

    /// The `index`-th genotype in mixed-radix order.
    fn genotype_at(&self, index: u128) -> Result<Genotype> {
        genotype::genotype_at(self.decisions(), index)
    }

    /// A genotype drawn uniformly at random.
    fn sample(&self, rng: &mut dyn RngCore) -> Genotype {
        Genotype(self.decisions().iter().map(|d| rng.random_range(0..d.choices.len())).collect())
    }

    /// `g` with exactly one decision changed to a different value (uniform over decisions that
    /// have a choice, then over the other values). Returns `g` unchanged only if no decision has
    /// two or more choices.
    fn mutate(&self, g: &Genotype, rng: &mut dyn RngCore) -> Genotype {
        let open: Vec<usize> =
            self.decisions().iter().enumerate().filter(|(_, d)| d.choices.len() > 1).map(|(i, _)| i).collect();
        let mut out = g.clone();
        if open.is_empty() {
            return out;
        }
        let i = open[rng.random_range(0..open.len())];
        let n = self.decisions()[i].choices.len();
        let step = rng.random_range(1..n);
        out.0[i] = (g.0[i] + step) % n;
        out
    }

    /// Every genotype that differs from `g` in exactly one decision, in decision then value order.
    fn neighbours(&self, g: &Genotype) -> Vec<Genotype> {
        let mut out = Vec::new();
        for (i, d) in self.decisions().iter().enumerate() {
            for v in (0..d.choices.len()).filter(|&v| v != g.0[i]) {
                let mut n = g.clone();
                n.0[i] = v;
                out.push(n);
            }
        }
        out
    }
}

/// The outcome of evaluating one genotype: its fitness (higher is better) and what it cost.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Higher is better; `-inf` marks a genotype that cannot be scored (e.g. a singular NASWOT kernel).
    pub fitness: f64,
    /// Seconds charged to the search budget (simulated training time on a tabular benchmark).
    pub cost_seconds: f64,
}

/// Gives a genotype its fitness: a benchmark lookup, a training run, a training-free score.
pub trait Evaluator {
    /// The fitness of `g` and what obtaining it cost.
    fn evaluate(&self, g: &Genotype) -> Result<Evaluation>;
}

/// A training-free score of an untrained network; higher is better.
pub trait Scorer {
    /// The score's name, e.g. `naswot`.
    fn name(&self) -> &str;
    /// The score of an untrained `network`.
    fn score(&self, network: &Network) -> Result<f64>;
}

/// A hardware cost of a network in one unit (ms, mJ, FLOPs, parameters).
pub trait CostModel {
    /// The cost's name, e.g. a device such as `edgegpu`.
    fn name(&self) -> &str;
    /// The unit of [`CostModel::cost`], e.g. `ms`.
    fn unit(&self) -> &str;
    /// The cost of `network`, in [`CostModel::unit`].
    fn cost(&self, network: &Network) -> Result<f64>;
}

/// An ask-and-tell search strategy over a space's decisions.
pub trait Strategy {
    /// The strategy's name, e.g. `rea`.
    fn name(&self) -> &str;
    /// The next genotype to evaluate.
    fn propose(&mut self, space: &dyn SearchSpace, rng: &mut dyn RngCore) -> Result<Genotype>;
    /// The result of evaluating a proposed genotype.
    fn observe(&mut self, g: &Genotype, evaluation: &Evaluation);
}

/// Sees every evaluation of a search as it happens; returning `Break` stops the search.
pub trait Observer {
    /// Called after evaluation number `step` (from 0) of `g`; `Break` ends the search after it.
    fn on_evaluation(&mut self, step: usize, g: &Genotype, evaluation: &Evaluation) -> ControlFlow<()>;
}
