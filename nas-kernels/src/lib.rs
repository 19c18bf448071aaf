//! Network execution and training-free scoring kernels of the NAS toolkit.
//!
//! [`naswot`] holds the NASWOT kernels: bit-packed binary codes of ReLU activations, the kernel
//! matrix `K` accumulated layer by layer with popcounts, and its log-determinant. Each fast kernel
//! has a plain reference in [`naswot::reference`] and tests comparing the two on random inputs.
//!
//! This is the only crate of the workspace allowed `unsafe` (for CPU feature dispatch and, later,
//! CUDA); every `unsafe` block states why it is sound.
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

pub use arch_scorer::{ArchScorer, ScoreEvaluator, Scored};
pub use scores::Proxy;
