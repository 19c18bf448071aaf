//! Search spaces of the NAS toolkit and readers of tabular benchmarks.
#![forbid(unsafe_code)]

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
pub mod table_space;

pub use data::DataDir;
pub use fbnet::FbnetSpace;
pub use hw_nas_bench::HwNasBench;
pub use nb201::{Nb201Config, Nb201Space};
pub use nb201_table::{Dataset, Epochs, Nb201Table, Split, TableEvaluator};
pub use table_space::{ColumnEvaluator, UserTable};
