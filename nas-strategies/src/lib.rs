//! Search strategies over the core traits: random search, regularized evolution (and AREA's
//! score-seeded start), neighbourhood-aware evaluation, and a driver whose searches resume
//! exactly. Strategies see only a space's decisions and the fitness an [`nas_core::Evaluator`]
//! reports; they never read a benchmark file.
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
//!     fn parse(&self, _: &str) -> Result<Genotype> { unimplemented!() }
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

mod driver;
mod evolution;
mod neighbourhood;
mod random;

pub use driver::{Budget, Record, SearchResult, resume, search};
pub use evolution::RegularizedEvolution;
pub use neighbourhood::NeighbourhoodMean;
pub use random::RandomSearch;

// MathNAS and LayerNAS.
pub mod fractional;
pub mod layernas;
pub mod mathnas;
pub mod mckp;
pub mod milp;
pub use layernas::{LayerNas, LayerNasResult};
pub use mathnas::{BlockTable, PairwiseModel};
pub use mckp::{MckpProblem, MckpSolution};
