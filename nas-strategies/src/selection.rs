//! Exact selection under hardware limits: choose one block per position so that a predicted
//! objective is highest while additive costs (latency, energy, FLOPs, as
//! [`nas_core::AdditiveCost`] tables) stay within their limits.
//!
//! - [`mckp`]: the multiple-choice knapsack solver (dominance, Lagrangian bounds, branch and
//!   bound with a proof of optimality, variable depth), its exhaustive reference and the one
//!   feasibility test ([`mckp::meets_limit`], relative [`mckp::tolerance`]) that every
//!   solver here and every caller checking an answer uses.
//! - [`milp`]: the same model as a mixed-integer program on good_lp/microlp (the general path and
//!   the cross-check).
//! - [`fractional`]: ratio objectives by Dinkelbach's method over the exact solver.
//! - [`mathnas`]: MathNAS block tables, additive and FLOPs-scaled prediction and selection, and a
//!   pairwise predictor with its exact selection.
//! - [`layernas`]: LayerNAS's bucketed layer-by-layer search under a cost target.
//!
//! Nothing here knows a search strategy, a benchmark file or a device.
//!
//! An exact solve of a random 5 x 4 instance with two limits, checked against every one of the
//! 4^5 choices:
//!
//! ```
//! use nas_strategies::selection::mckp::{random_instance, solve};
//! use rand::SeedableRng;
//!
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
//! let problem = random_instance(&mut rng, 5, 4, 2)?;
//! let best = solve(&problem)?;
//! assert!(problem.is_feasible(&best.choice.0));
//!
//! // Brute force: every choice, the best value among those that meet both limits.
//! let mut brute = f64::NEG_INFINITY;
//! for code in 0..4usize.pow(5) {
//!     let g: Vec<usize> = (0..5).map(|i| code / 4usize.pow(i) % 4).collect();
//!     if problem.is_feasible(&g) {
//!         brute = brute.max(problem.value(&g));
//!     }
//! }
//! assert!((best.value - brute).abs() < 1e-9, "{} vs {brute}", best.value);
//! # Ok::<(), nas_core::Error>(())
//! ```

pub mod fractional;
pub mod layernas;
pub mod mathnas;
pub mod mckp;
pub mod milp;
