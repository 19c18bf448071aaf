//! Network execution and training-free scores of the NAS toolkit.
//!
//! * [`net`] runs any architecture graph as a candle network (with backward), [`cpu`] is the fast
//!   forward pass of the gradient-free scores; both start from [`net::initial_weights`].
//! * [`naswot`] holds NASWOT's kernels (bit-packed codes, the popcount `K`, the Cholesky
//!   log-determinant) beside the plain references they are tested against.
//! * [`scores`] computes every proxy ([`Proxy`]); [`ArchScorer`] scores genotypes of a space through
//!   the [`cache`] of computed scores, on an [`images`] batch.
//! * [`train`] trains any graph on the fast CPU path: SGD/Adam, schedules, clipping, batch norm with
//!   running statistics, a seeded augmenting loader, checkpoints that resume bit-identically.
//! * `cuda` (feature `cuda`) runs NASWOT's `K` step on an NVIDIA GPU.
//!
//! This is the only crate of the workspace with `unsafe`: CPU feature dispatch, the `gemm` call and
//! CUDA launches; every block states why it is sound.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod arch_scorer;
pub mod cache;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
mod gemm;
pub mod images;
pub mod linalg;
pub mod naswot;
pub mod net;
pub mod scores;
pub mod train;

pub use arch_scorer::{ArchScorer, ScoreEvaluator, Scored};
pub use scores::Proxy;
