//! `nas`: the command line of the NAS toolkit. It turns arguments into one of the library's typed
//! configurations (`nas_cli`), calls one function and prints the report: text by default, one line
//! of JSON with `--json`. Every error, a usage error too, prints one line and exits with 1; a
//! closed standard output (`nas ... | head`) ends the process quietly.

use std::fmt::Display;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use nas_cli::{
    analyze, arch, bench, cluster, data, ensemble, export, hw, mathnas, oneshot, ranking, score, search, space, train,
};
use serde::Serialize;

/// Neural architecture search on real benchmarks: spaces, architectures, benchmark tables, scores,
/// searches and hardware cost.
#[derive(Debug, Parser)]
#[command(name = "nas", version, propagate_version = true)]
struct Cli {
    /// Data directory (default: $NAS_DATA_DIR, else ../shared/data beside the checkout, else the
    /// platform data directory).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

/// How a report is printed.
#[derive(Debug, Args)]
struct Output {
    /// Print JSON instead of text (one object per line).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Describe a search space.
    #[command(subcommand)]
    Space(SpaceCommand),
    /// Inspect one architecture: decisions, network graph, params, FLOPs, benchmark accuracies.
    #[command(subcommand)]
    Arch(ArchCommand),
    /// Query a benchmark table.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Compute training-free scores of architectures (cached).
    Score(With<score::ScoreConfig>),
    /// Rank-correlate training-free scores with the benchmark's accuracies; optional scatter plot.
    Correlate(With<score::CorrelateConfig>),
    /// Run a search strategy many times on a benchmark table and report mean ± std accuracy.
    Search(With<search::SearchConfig>),
    /// Split score, search or correlate over a Slurm job array; merge the parts losslessly.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Hardware cost of one architecture: counts, memory, roofline latency, fitted latency.
    Cost(With<hw::CostConfig>),
    /// Latency and energy models fitted to measured data, and their accuracy.
    #[command(subcommand)]
    Hw(HwCommand),
    /// MathNAS: block tables, prediction, exact selection under hardware limits.
    Mathnas(With<mathnas::MathNasConfig>),
    /// LayerNAS: layer-by-layer search under a cost target.
    Layernas(With<mathnas::LayerNasConfig>),
    /// Import the benchmarks' official files; check what the data directory holds.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train one architecture on real images (fast CPU engine, resumable checkpoints).
    Train(With<train::TrainArgs>),
    /// Weight-sharing one-shot search on the NB201 supernet: DARTS, MiLeNAS, GDAS, SPOS/RSPS, NA-DARTS.
    Oneshot(With<oneshot::OneShotArgs>),
    /// Export an architecture's network with its weights as ONNX and safetensors.
    Export(With<export::ExportConfig>),
    /// An ensemble of sub-architectures pruned for diversity (PRS, PAP, PIE), at every size.
    Ensemble(With<ensemble::EnsembleConfig>),
    /// Studies: cell width and depth over the table, convergence of wide against deep cells.
    #[command(subcommand)]
    Analyze(AnalyzeCommand),
}

#[derive(Debug, Subcommand)]
enum AnalyzeCommand {
    /// Width and depth of every cell against 12- and 200-epoch accuracy; where searches' answers land.
    Topology(With<analyze::TopologyConfig>),
    /// Train wide-and-shallow against deep-and-narrow cells of equal size: loss curves, gradient variance.
    Convergence(With<analyze::ConvergenceConfig>),
    /// How single-path supernets rank the same architectures over epochs and seeds, with less sharing.
    Ranking(With<ranking::RankingConfig>),
}

#[derive(Debug, Subcommand)]
enum DataCommand {
    /// Turn an official benchmark file or directory into the toolkit's tables.
    Import(With<data::ImportArgs>),
    /// List what the data directory holds and which commands use it.
    Check(With<data::CheckArgs>),
    /// Read an image file or directory in any supported layout and describe it.
    Images(With<data::ImagesArgs>),
}

/// A command's configuration and its output flag.
#[derive(Debug, Args)]
struct With<C: Args> {
    #[command(flatten)]
    config: C,
    #[command(flatten)]
    output: Output,
}

#[derive(Debug, Subcommand)]
enum SpaceCommand {
    /// Size, decisions and network of a space.
    Info(With<space::SpaceConfig>),
}

#[derive(Debug, Subcommand)]
enum ArchCommand {
    /// Decisions, graph summary, params, FLOPs and the benchmark's accuracies of an architecture.
    Show(With<arch::ArchConfig>),
    /// Graphviz source of an architecture's cell (or of the whole network with --full).
    Dot(DotArgs),
}

#[derive(Debug, Args)]
struct DotArgs {
    #[command(flatten)]
    config: arch::ArchConfig,
    /// Draw every node of the full network instead of the cell.
    #[arg(long)]
    full: bool,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The best architectures of the NAS-Bench-201 table by one accuracy.
    Top(With<bench::TopConfig>),
    /// One architecture's results from official NATS-Bench topology files (`*.pickle.pbz2`).
    Nats(With<bench::NatsConfig>),
}

#[derive(Debug, Subcommand)]
enum HwCommand {
    /// Fit a latency or energy model of one measured column; save it as JSON.
    Fit(With<hw::FitConfig>),
    /// Accuracy of a fitted model on measured rows: n, RMSE, Spearman rho, share within 5 / 10 %.
    Eval(With<hw::EvalConfig>),
    /// Measure real latencies on this machine's CPU, fit a local model on some and check it on others.
    Measure(With<hw::MeasureConfig>),
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Write the job directory and submit the array and its merge job (sbatch).
    Submit(With<cluster::SubmitArgs>),
    /// Which parts are complete, incomplete or missing, and what Slurm says of their tasks.
    Status(With<cluster::DirArgs>),
    /// Check every part against the manifest and write the merged result.
    Merge(With<cluster::DirArgs>),
    /// Resubmit only the tasks whose part is missing or incomplete.
    Resume(With<cluster::ResumeArgs>),
}

/// Prints a report: JSON on one line, or its text.
fn emit<R: Serialize + Display>(report: &R, output: &Output) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let written = if output.json {
        serde_json::to_writer(&mut out, report).map_err(std::io::Error::from).and_then(|()| writeln!(out))
    } else {
        write!(out, "{report}")
    };
    written.and_then(|()| out.flush()).context("cannot write to standard output")
}

fn run(command: Command, data: &nas_spaces::DataDir) -> anyhow::Result<()> {
    match command {
        Command::Space(SpaceCommand::Info(c)) => emit(&space::info(&c.config), &c.output),
        Command::Arch(ArchCommand::Show(c)) => emit(&arch::show(&c.config, data)?, &c.output),
        Command::Arch(ArchCommand::Dot(c)) => {
            let mut out = std::io::stdout().lock();
            write!(out, "{}", arch::dot(&c.config, c.full, data)?)?;
            Ok(out.flush()?)
        }
        Command::Bench(BenchCommand::Top(c)) => emit(&bench::top(&c.config, data)?, &c.output),
        Command::Bench(BenchCommand::Nats(c)) => emit(&bench::nats(&c.config, data)?, &c.output),
        Command::Score(c) => {
            let json = c.output.json;
            let mut header = !json;
            score::run(&c.config, data, &mut |row, progress| {
                if std::mem::take(&mut header) {
                    progress.println(score::ScoreRow::HEADER)?;
                }
                let line = if json { serde_json::to_string(row)? } else { row.to_string() };
                Ok(progress.println(&line)?)
            })
        }
        Command::Correlate(c) => emit(&score::correlate(&c.config, data)?, &c.output),
        Command::Search(c) => emit(&search::run(&c.config, data)?, &c.output),
        Command::Cluster(ClusterCommand::Submit(c)) => emit(&cluster::submit(&c.config, data)?, &c.output),
        Command::Cluster(ClusterCommand::Status(c)) => emit(&cluster::status(&c.config, data)?, &c.output),
        Command::Cluster(ClusterCommand::Merge(c)) => emit(&cluster::merge(&c.config, data)?, &c.output),
        Command::Cluster(ClusterCommand::Resume(c)) => emit(&cluster::resume(&c.config, data)?, &c.output),
        Command::Cost(c) => emit(&hw::cost(&c.config, data)?, &c.output),
        Command::Hw(HwCommand::Fit(c)) => emit(&hw::fit(&c.config, data)?, &c.output),
        Command::Hw(HwCommand::Eval(c)) => emit(&hw::eval(&c.config, data)?, &c.output),
        Command::Hw(HwCommand::Measure(c)) => emit(&hw::measure(&c.config)?, &c.output),
        Command::Mathnas(c) => emit(&mathnas::mathnas(&c.config, data)?, &c.output),
        Command::Layernas(c) => emit(&mathnas::layernas(&c.config, data)?, &c.output),
        Command::Data(DataCommand::Import(c)) => emit(&data::import(&c.config)?, &c.output),
        Command::Data(DataCommand::Check(c)) => emit(&data::check(&c.config, data)?, &c.output),
        Command::Data(DataCommand::Images(c)) => emit(&data::images(&c.config)?, &c.output),
        Command::Train(c) => emit(&train::run(&c.config, data)?, &c.output),
        Command::Oneshot(c) => emit(&oneshot::run(&c.config, data)?, &c.output),
        Command::Ensemble(c) => emit(&ensemble::run(&c.config, data)?, &c.output),
        Command::Export(c) => emit(&export::run(&c.config, data)?, &c.output),
        Command::Analyze(AnalyzeCommand::Topology(c)) => emit(&analyze::topology(&c.config, data)?, &c.output),
        Command::Analyze(AnalyzeCommand::Convergence(c)) => emit(&analyze::convergence(&c.config, data)?, &c.output),
        Command::Analyze(AnalyzeCommand::Ranking(c)) => emit(&ranking::ranking(&c.config, data)?, &c.output),
    }
}

/// Whether the error is a write to a closed pipe.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// One line of text.
fn one_line(text: &str) -> String {
    text.split('\n').map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// The error and its causes on one line; a cause whose text the line already holds is left out
/// (library errors repeat their source's text in their message).
fn chain_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = one_line(&cause.to_string());
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Process set-up. SIGINT: left to a run that stops cleanly (`nas_cli::interrupt`), else the end
/// of the process. Memory: glibc's malloc hands large freed blocks back to the kernel, so every
/// training step paid page faults for fresh zeroed pages for its activations and unfolded images
/// (a third of a C=8, N=1 step was kernel time); freed memory now stays in the process, whose
/// resident size stays at the run's peak, reached in the first step anyway.
#[allow(unsafe_code)]
fn set_up_process() {
    #[cfg(unix)]
    {
        extern "C" fn handler(_: libc::c_int) {
            if !nas_cli::interrupt::on_signal() {
                // SAFETY: _exit is async-signal-safe; nothing else runs here but an atomic read-modify-write.
                unsafe { libc::_exit(130) }
            }
        }
        // SAFETY: installs a handler that only touches atomics and calls _exit.
        unsafe { libc::signal(libc::SIGINT, handler as *const () as libc::sighandler_t) };
    }
    // SAFETY: mallopt only changes two thresholds of the allocator; no other thread runs yet.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

fn main() -> ExitCode {
    set_up_process();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: printed as clap renders them.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let text = e.render().to_string();
            let text: Vec<&str> = text.lines().filter(|l| !l.starts_with("For more information")).collect();
            eprintln!("{}", one_line(&text.join("\n")));
            return ExitCode::FAILURE;
        }
    };
    let data = nas_spaces::DataDir::resolve(cli.data_dir.as_deref());
    match run(cli.command, &data) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) if matches!(e.downcast_ref::<nas_core::Error>(), Some(nas_core::Error::Interrupted(_))) => {
            eprintln!("error: {}", chain_line(&e));
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {}", chain_line(&e));
            ExitCode::FAILURE
        }
    }
}
