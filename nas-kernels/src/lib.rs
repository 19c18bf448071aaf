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
//! * [`onnx`] exports any graph with its weights as an ONNX model (opset 17).
//! * [`supernet`] runs a weight-sharing supernet (weighted-sum nodes, [`cpu::CpuNet::set_mix`]) as a
//!   [`nas_core::Supernet`] for the one-shot methods of `nas_strategies::oneshot`.
//! * [`gemm`] holds the matrix products under every convolution: the `gemm` crate's, and this
//!   crate's own AVX-512 / AVX2 kernels for few channels over many positions, with their references.
//! * `cuda` (feature `cuda`) runs NASWOT's `K` step on an NVIDIA GPU.
//!
//! The NASWOT score of a small NB201 network on a synthetic batch; a network whose cells output
//! zeros gives every image the same code, so its kernel is singular:
//!
//! ```
//! use nas_core::{SearchSpace, Shape};
//! use nas_kernels::{Proxy, images, scores};
//! use nas_spaces::{Nb201Config, Nb201Space};
//!
//! let config = Nb201Config { channels: 4, cells_per_stage: 1, num_classes: 10, input: Shape::new(3, 16, 16) };
//! let space = Nb201Space::new(config);
//! let batch = images::synthetic(16, 3, 16, 16, 10, 0);
//! let net = space.to_network(&space.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")?)?;
//! assert!(scores::score(Proxy::Naswot, &net, &batch, 0)?.is_finite());
//! let none = space.to_network(&space.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")?)?;
//! assert_eq!(scores::score(Proxy::Naswot, &none, &batch, 0)?, f64::NEG_INFINITY);
//! # Ok::<(), nas_core::Error>(())
//! ```
//!
//! This is the only crate of the workspace with `unsafe`: CPU feature dispatch, SIMD kernels, the `gemm` call and
//! CUDA launches; every block states why it is sound.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod arch_scorer;
pub mod cache;
pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod gemm;
pub mod images;
pub mod linalg;
pub mod naswot;
pub mod net;
pub mod onnx;
pub mod scores;
pub mod supernet;
pub mod train;

pub use arch_scorer::{ArchScorer, ScoreEvaluator, Scored};
pub use scores::Proxy;
pub use supernet::{CpuSupernet, MixedNode, SupernetConfig};
