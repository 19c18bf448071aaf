//! Core types of the NAS toolkit: the architecture IR, genotypes, the core traits and the error type.
//!
//! No tensor library here, and no file IO but [`fsio`] (the one atomic writer of user state and
//! bounded reads, shared by every crate): every other crate builds on these types.
//!
//! ```
//! use nas_core::{Network, Op, Shape};
//!
//! let mut net = Network::new();
//! let x = net.input("image", Shape::new(3, 32, 32))?;
//! let conv = Op::Conv2d { in_channels: 3, out_channels: 16, kernel: 3, stride: 1, padding: 1, groups: 1, bias: false };
//! let y = net.add("stem", conv, &[x])?;
//! assert_eq!(net.node(y).shape, Shape::new(16, 32, 32));
//! assert_eq!(net.counts().params, 3 * 16 * 9);
//! # Ok::<(), nas_core::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cost_table;
pub mod count;
pub mod error;
pub mod fsio;
pub mod genotype;
pub mod graph;
pub mod hash;
pub mod linalg;
pub mod stats;
pub mod supernet;
pub mod traits;

pub use cost_table::AdditiveCost;
pub use count::Counts;
pub use error::{Error, Result};
pub use genotype::{Decision, Genotype};
pub use graph::{Network, Node, NodeId, Op, PoolKind, Shape};
pub use supernet::{EdgeMode, Pass, Split, Supernet};
pub use traits::{CostModel, Evaluation, Evaluator, Observer, Scorer, SearchSpace, Strategy};
