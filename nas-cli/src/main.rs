//! `nas`: the command-line front end of the NAS toolkit. Thin: parse arguments, call the library
//! crates, print text or JSON. Errors are printed on one line and give a non-zero exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod arch;
mod bench;
mod hw;
mod mathnas;
mod mathnas_fbnet;
mod plot;
mod progress;
mod score;
mod search;
mod search_state;
mod space;
mod train;

/// Neural architecture search on real benchmarks: spaces, architectures, benchmark tables.
#[derive(Debug, Parser)]
#[command(name = "nas", version, propagate_version = true)]
struct Cli {
    /// Data directory (default: $NAS_DATA_DIR, else ../shared/data beside the project root).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Describe a search space.
    #[command(subcommand)]
    Space(space::SpaceCommand),
    /// Inspect one architecture: decisions, network graph, params, FLOPs, benchmark accuracies.
    #[command(subcommand)]
    Arch(arch::ArchCommand),
    /// Query a benchmark table.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Compute training-free scores of architectures (cached).
    Score(score::ScoreArgs),
    /// Rank-correlate training-free scores with the benchmark's accuracies; optional scatter plot.
    Correlate(score::CorrelateArgs),
    /// Run a search strategy many times on a benchmark table and report mean ± std accuracy.
    Search(search::SearchArgs),
    /// Hardware cost of one architecture: counts, memory, roofline latency, fitted latency.
    Cost(hw::CostArgs),
    /// Latency models fitted to measured data, and their accuracy.
    #[command(subcommand)]
    Hw(hw::HwCommand),
    /// MathNAS: block tables, prediction, exact selection under hardware limits.
    Mathnas(mathnas::MathNasArgs),
    /// LayerNAS: layer-by-layer search under a cost target.
    Layernas(mathnas::LayerNasArgs),
    /// Train one architecture on real images (fast CPU engine, resumable checkpoints).
    Train(train::TrainArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let data = nas_spaces::DataDir::resolve(cli.data_dir.as_deref());
    let result = match cli.command {
        Command::Space(c) => space::run(c),
        Command::Arch(c) => arch::run(c, &data),
        Command::Bench(c) => bench::run(c, &data),
        Command::Search(a) => search::run(a, &data),
        Command::Score(a) => score::run_score(a, &data),
        Command::Correlate(a) => score::run_correlate(a, &data),
        Command::Cost(a) => hw::cost(a, &data),
        Command::Hw(c) => hw::run(c, &data),
        Command::Mathnas(a) => mathnas::run_mathnas(a, &data),
        Command::Layernas(a) => mathnas::run_layernas(a, &data),
        Command::Train(a) => train::run(a, &data),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a value as one line of JSON.
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}
