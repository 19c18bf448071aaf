//! The experiments of the `nas` command as library functions: each takes a typed configuration
//! (the clap definition of its options, so that a library caller and the command line share one set
//! of defaults and help texts: [`vocab::defaults`]) and returns a typed, `Serialize` report that
//! prints as text through `Display` or as JSON through serde. The `nas` binary only parses the
//! arguments into a configuration, calls one function and prints the report.
//!
//! These experiments combine several crates (scoring and search, MathNAS on FBNet with a proxy, cost
//! models on benchmark tables); experiments of one method live in the crate that owns it.
//!
//! ```no_run
//! use nas_cli::search::{SearchConfig, Strategy};
//! let mut config: SearchConfig = nas_cli::vocab::defaults();
//! config.strategy = Strategy::Rea;
//! config.runs = Some(10);
//! let data = nas_spaces::DataDir::resolve(None);
//! let report = nas_cli::search::run(&config, &data)?;
//! println!("{report}");
//! # Ok::<(), anyhow::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod analyze;
pub mod arch;
pub mod bench;
pub mod cluster;
pub mod data;
pub mod ensemble;
pub mod export;
pub mod fbnet;
pub mod hw;
pub mod interrupt;
pub mod mathnas;
pub mod oneshot;
pub mod plot;
pub mod progress;
pub mod ranking;
pub mod score;
pub mod search;
pub mod space;
pub mod state;
pub mod train;
pub mod vocab;

pub use score::Score;
