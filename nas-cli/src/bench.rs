//! `nas bench ...`

use clap::{Args, Subcommand};
use nas_spaces::{DataDir, Dataset, Epochs, Nb201Table, Split};
use serde_json::json;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// The best architectures of the NAS-Bench-201 table by one accuracy.
    Top(TopArgs),
    /// One architecture's results from official NATS-Bench topology files (`*.pickle.pbz2`).
    Nats(NatsArgs),
}

#[derive(Debug, Args)]
pub struct NatsArgs {
    /// Architecture index.
    idx: usize,
    /// The benchmark directory (default: nats/NATS-tss-v1_0-3ffb9-simple in the data directory).
    #[arg(long, value_name = "DIR")]
    nats_dir: Option<std::path::PathBuf>,
    /// Training schedule: 200 or 12 epochs.
    #[arg(long, default_value = "200")]
    hp: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// cifar10, cifar10-valid, cifar100 or ImageNet16-120.
    #[arg(long, default_value = "cifar10")]
    dataset: String,
    /// test, valid or train.
    #[arg(long, default_value = "test")]
    metric: String,
    /// Training schedule whose accuracy ranks: 200 or 12 epochs.
    #[arg(long, default_value_t = 200)]
    epochs: u32,
    /// How many to list.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Print a JSON array of {idx, arch, value} instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: BenchCommand, data: &DataDir) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Top(args) => top(&args, data),
        BenchCommand::Nats(args) => nats(&args, data),
    }
}

fn nats(args: &NatsArgs, data: &DataDir) -> anyhow::Result<()> {
    let dir = args.nats_dir.clone().unwrap_or_else(|| data.path.join("nats/NATS-tss-v1_0-3ffb9-simple"));
    let record = nas_spaces::nats::read_arch(&dir, args.idx)?;
    let schedule = record.schedule(&args.hp)?;
    let datasets: Vec<_> = schedule
        .datasets
        .iter()
        .map(|d| {
            json!({"dataset": d.name, "seeds": d.runs.len(), "train": d.train_acc(), "valid": d.valid_acc(), "test": d.test_acc()})
        })
        .collect();
    if args.json {
        return crate::print_json(
            &json!({"idx": args.idx, "arch": record.arch_str, "hp": args.hp, "datasets": datasets}),
        );
    }
    println!("idx {}  {}  ({} epochs)", args.idx, record.arch_str, args.hp);
    let fmt = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.2}"));
    for d in &schedule.datasets {
        println!(
            "  {:<15} seeds {}  train {:>6}  valid {:>6}  test {:>6}",
            d.name,
            d.runs.len(),
            fmt(d.train_acc()),
            fmt(d.valid_acc()),
            fmt(d.test_acc())
        );
    }
    Ok(())
}

fn top(args: &TopArgs, data: &DataDir) -> anyhow::Result<()> {
    let dataset: Dataset = args.dataset.parse()?;
    let split: Split = args.metric.parse()?;
    let epochs = match args.epochs {
        200 => Epochs::E200,
        12 => Epochs::E12,
        other => anyhow::bail!("invalid --epochs {other}: the benchmark has 200 and 12"),
    };
    if args.k == 0 {
        anyhow::bail!("invalid -k 0: list at least one architecture");
    }
    let table = Nb201Table::load(data)?;
    let top = table.top(dataset, split, epochs, args.k)?;
    let arch = |i: usize| table.arch(i).unwrap_or_default().to_string();
    if args.json {
        let rows: Vec<_> = top.iter().map(|&(i, v)| json!({"idx": i, "arch": arch(i), "value": v})).collect();
        return crate::print_json(&rows);
    }
    println!("{:>4}  {:>5}  {:>7}  arch", "rank", "idx", args.metric);
    for (rank, &(i, v)) in top.iter().enumerate() {
        println!("{:>4}  {i:>5}  {v:>7.2}  {}", rank + 1, arch(i));
    }
    Ok(())
}
