//! Ask-and-tell search: a [`nas_core::Strategy`] proposes genotypes, an [`nas_core::Evaluator`]
//! gives their fitness, and [`driver::search`] runs the loop under a [`driver::Budget`] of
//! evaluations or simulated seconds, recording the history and the best-so-far curve;
//! [`driver::resume`] continues an interrupted search exactly.
//!
//! - [`random`]: uniform samples (the NAS-Bench-201 baseline).
//! - [`evolution`]: regularized (aging) evolution; `starting_from` gives AREA's score-seeded start.
//! - [`neighbourhood`]: an evaluator wrapper whose fitness is the mean over the one-edit
//!   neighbourhood (NA-RS with random search).
//!
//! **Invariant:** works for any [`nas_core::SearchSpace`]; never reads a benchmark file itself
//! (an evaluator does).
//!
//! Regularized evolution on a 6-bit space with a seeded generator, stopped and resumed: the
//! resumed run ends where an uninterrupted one does.
//!
//! ```
//! use nas_core::{Decision, Evaluation, Evaluator, Genotype, Network, Result, SearchSpace};
//! use nas_strategies::search::driver::{Budget, resume, search};
//! use nas_strategies::search::evolution::RegularizedEvolution;
//! use rand::SeedableRng;
//! use rand_chacha::ChaCha8Rng;
//!
//! struct Bits(Vec<Decision>);
//! impl SearchSpace for Bits {
//!     fn name(&self) -> &str { "bits" }
//!     fn decisions(&self) -> &[Decision] { &self.0 }
//!     fn to_network(&self, _: &Genotype) -> Result<Network> { Ok(Network::new()) }
//!     fn format(&self, g: &Genotype) -> String { g.to_string() }
//!     fn parse(&self, s: &str) -> Result<Genotype> { Err(nas_core::Error::parse(s, "not needed here")) }
//! }
//! /// Fitness: the number of ones, weighted by position.
//! struct Weighted;
//! impl Evaluator for Weighted {
//!     fn evaluate(&self, g: &Genotype) -> Result<Evaluation> {
//!         let fitness = g.0.iter().enumerate().map(|(i, &b)| (i + 1) * b).sum::<usize>() as f64;
//!         Ok(Evaluation { fitness, cost_seconds: 1.0 })
//!     }
//! }
//! let space = Bits((0..6).map(|i| Decision::new(format!("b{i}"), &["0", "1"])).collect());
//!
//! let mut rea = RegularizedEvolution::new(8, 3)?;
//! let full = search(&space, &mut rea, &Weighted, Budget::evaluations(120)?, &mut ChaCha8Rng::seed_from_u64(5), None)?;
//! assert_eq!(full.best().unwrap().evaluation.fitness, 21.0);
//!
//! let mut rea = RegularizedEvolution::new(8, 3)?;
//! let half = search(&space, &mut rea, &Weighted, Budget::evaluations(60)?, &mut ChaCha8Rng::seed_from_u64(5), None)?;
//! let mut fresh = RegularizedEvolution::new(8, 3)?;
//! let mut rng = ChaCha8Rng::seed_from_u64(5);
//! let resumed = resume(&space, &mut fresh, &Weighted, Budget::evaluations(120)?, &mut rng, half.history, None)?;
//! assert_eq!(resumed.history, full.history);
//! # Ok::<(), nas_core::Error>(())
//! ```

pub mod driver;
pub mod evolution;
pub mod neighbourhood;
pub mod random;
