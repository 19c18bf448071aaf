//! Hardware cost models over the IR: exact counts, memory traffic and peak activation memory
//! ([`footprint`]), counts as additive tables ([`count_table`]), a roofline model with device
//! presets ([`roofline`]), lookup-table latency models fitted by (non-negative) least squares to
//! measured latencies ([`model`]), with the NB201
//! cell model that says which ops actually execute ([`nb201`]), and their accuracy ([`metrics`]).
//!
//! ```
//! use nas_core::SearchSpace;
//! let space = nas_spaces::Nb201Space::default();
//! let g = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")?;
//! let f = nas_hw::footprint::footprint(&space.to_network(&g)?);
//! assert_eq!(f.params, 1_073_466);
//! # Ok::<(), nas_core::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod count_table;
pub mod data;
pub mod footprint;
pub mod linalg;
pub mod metrics;
pub mod model;
pub mod nb201;
pub mod roofline;

pub use metrics::{Accuracy, accuracy};
pub use model::{Fitted, LatencyModel, ModelKind};
