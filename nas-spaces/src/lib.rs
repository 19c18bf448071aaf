//! Search spaces of the NAS toolkit and readers of the benchmarks and data files that come with
//! them: the NAS-Bench-201 cell space ([`Nb201Space`]) and its benchmark table ([`Nb201Table`]),
//! the FBNet space of HW-NAS-Bench ([`FbnetSpace`]), a user's CSV table as a layerwise space
//! ([`UserTable`]), the HW-NAS-Bench measurements ([`HwNasBench`]), NATS-Bench's pickle files
//! ([`nats`]), the one table evaluator ([`TableEvaluator`]) and where data lives ([`DataDir`]).
//! Spaces hand strategies only genotypes and decisions.
//!
//! ```
//! use nas_core::SearchSpace;
//! use nas_spaces::Nb201Space;
//!
//! let space = Nb201Space::default();
//! assert_eq!(space.size(), 15_625);
//! let arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";
//! let g = space.parse(arch)?;
//! assert_eq!(space.format(&g), arch);
//! assert_eq!(space.to_network(&g)?.counts().params, 1_073_466);
//! # Ok::<(), nas_core::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod csv_input;
pub mod data;
pub mod data_check;
pub mod fbnet;
pub mod hw_nas_bench;
pub mod image_files;
pub mod import;
pub mod nats;
pub mod nb201;
pub mod nb201_pth;
pub mod nb201_table;
pub mod ndarray;
pub mod registry;
pub mod table_evaluator;
pub mod table_space;

pub use data::DataDir;
pub use fbnet::FbnetSpace;
pub use hw_nas_bench::HwNasBench;
pub use nb201::{Nb201Config, Nb201Space};
pub use nb201_table::{Dataset, Epochs, Nb201Table, Split};
pub use registry::SpaceId;
pub use table_evaluator::TableEvaluator;
pub use table_space::UserTable;
