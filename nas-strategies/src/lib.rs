//! Search and selection over the core traits, in two halves that share nothing but `nas-core`:
//!
//! - [`search`]: ask-and-tell strategies that see only a space's decisions and the fitness an
//!   [`nas_core::Evaluator`] reports (random search, regularized evolution with AREA's
//!   score-seeded start, neighbourhood-aware evaluation) and the driver whose searches resume
//!   exactly. They never read a benchmark file.
//! - [`selection`]: exact one-block-per-position selection under additive hardware limits
//!   (the multiple-choice knapsack [`mckp`], its MILP form [`milp`], ratio objectives
//!   [`fractional`]) and the predictor-based methods built on it ([`mathnas`], [`layernas`]). Costs
//!   reach the solvers only as [`nas_core::AdditiveCost`].
//!
//! Beside them, [`oneshot`] holds weight-sharing one-shot search (DARTS first and second order,
//! MiLeNAS, GDAS, SPOS / RSPS, neighbourhood-aware DARTS) over a tensor-free
//! [`nas_core::Supernet`], and [`ensemble`] prunes ensembles of sub-architectures for diversity
//! (SAEP's PRS, PAP and PIE) over their members' class probabilities.
//!
//! The most used items of both halves are re-exported at the crate root, and each selection
//! module also keeps its old path (`nas_strategies::mckp`, ...).
//!
//! A regularized evolution on an 8-bit space finds the all-ones genotype:
//!
//! ```
//! use nas_core::{Decision, Evaluation, Evaluator, Genotype, Network, Result, SearchSpace};
//! use nas_strategies::{Budget, RegularizedEvolution, search};
//! use rand::SeedableRng;
//!
//! struct Bits(Vec<Decision>);
//! impl SearchSpace for Bits {
//!     fn name(&self) -> &str { "bits" }
//!     fn decisions(&self) -> &[Decision] { &self.0 }
//!     fn to_network(&self, _: &Genotype) -> Result<Network> { Ok(Network::new()) }
//!     fn format(&self, g: &Genotype) -> String { g.to_string() }
//!     fn parse(&self, s: &str) -> Result<Genotype> { Err(nas_core::Error::parse(s, "not needed here")) }
//! }
//! struct Ones;
//! impl Evaluator for Ones {
//!     fn evaluate(&self, g: &Genotype) -> Result<Evaluation> {
//!         Ok(Evaluation { fitness: g.0.iter().sum::<usize>() as f64, cost_seconds: 1.0 })
//!     }
//! }
//! let space = Bits((0..8).map(|i| Decision::new(format!("b{i}"), &["0", "1"])).collect());
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
//! let mut rea = RegularizedEvolution::new(10, 3)?;
//! let result = search(&space, &mut rea, &Ones, Budget::evaluations(300)?, &mut rng, None)?;
//! assert_eq!(result.best().unwrap().evaluation.fitness, 8.0);
//! # Ok::<(), nas_core::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod ensemble;
pub mod oneshot;
pub mod search;
pub mod selection;

pub use search::driver::{Budget, Record, SearchResult, resume, search};
pub use search::evolution::RegularizedEvolution;
pub use search::neighbourhood::NeighbourhoodMean;
pub use search::random::RandomSearch;

pub use selection::layernas::{LayerNas, LayerNasResult};
pub use selection::mathnas::{BlockTable, PairwiseModel};
pub use selection::mckp::{MckpProblem, MckpSolution};
pub use selection::{fractional, layernas, mathnas, mckp, milp};
