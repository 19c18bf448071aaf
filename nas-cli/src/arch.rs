//! `nas arch ...`

use anyhow::Context as _;
use clap::{Args, Subcommand};
use nas_core::{Genotype, SearchSpace};
use nas_spaces::nb201::{Nb201Config, Nb201Space, OPS};
use nas_spaces::nb201_table::accuracy_column;
use nas_spaces::{DataDir, Dataset, Epochs, Nb201Table, Split};
use serde_json::{Map, Value, json};

#[derive(Debug, Subcommand)]
pub enum ArchCommand {
    /// Decisions, graph summary, params, FLOPs and the benchmark's accuracies of an architecture.
    Show(ShowArgs),
    /// Graphviz source of an architecture's cell (or of the whole network with --full).
    Dot(DotArgs),
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The architecture: the official string (|op~0|+|op~0|op~1|+|...|), a 6-digit ops code such
    /// as 421211, or a row index of the benchmark table.
    arch: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct DotArgs {
    /// The architecture, as for `nas arch show`.
    arch: String,
    /// Draw every node of the full network instead of the cell.
    #[arg(long)]
    full: bool,
}

pub fn run(cmd: ArchCommand, data: &DataDir) -> anyhow::Result<()> {
    match cmd {
        ArchCommand::Show(args) => show(&args, data),
        ArchCommand::Dot(args) => {
            let space = Nb201Space::default();
            let g = resolve(&space, &args.arch, data)?;
            if args.full {
                print!("{}", space.to_network(&g)?.to_dot());
            } else {
                print!("{}", Nb201Space::cell_dot(&g));
            }
            Ok(())
        }
    }
}

/// An architecture given as an official string, an ops code or a table index.
pub fn resolve(space: &Nb201Space, arch: &str, data: &DataDir) -> anyhow::Result<Genotype> {
    let arch = arch.trim();
    if arch.contains('|') || arch.contains('~') || arch.is_empty() {
        return Ok(space.parse(arch)?);
    }
    if arch.len() == 6 && arch.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Nb201Space::parse_ops_code(arch)?);
    }
    let idx: usize = arch.parse().map_err(|_| {
        anyhow::anyhow!(
            "cannot read architecture {arch:?}: expected an official string, a 6-digit ops code or a table index"
        )
    })?;
    let table = Nb201Table::load(data)?;
    table.genotype(idx).cloned().with_context(|| format!("table index {idx} is out of range 0..{}", table.len()))
}

fn show(args: &ShowArgs, data: &DataDir) -> anyhow::Result<()> {
    let space = Nb201Space::default();
    let g = resolve(&space, &args.arch, data)?;
    let net = space.to_network(&g)?;
    let counts = net.counts();
    let mut params_by_dataset = Map::new();
    for d in ["cifar10", "cifar100", "ImageNet16-120"] {
        let s = Nb201Space::new(Nb201Config::for_dataset(d)?);
        let c = s.to_network(&g)?.counts();
        params_by_dataset.insert(d.into(), json!({"params": c.params, "flops": c.flops}));
    }
    let table = match Nb201Table::load(data) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("note: no benchmark accuracies: {e}");
            None
        }
    };
    let idx = table.as_ref().and_then(|t| t.index_of(&g));
    let accuracies = match (&table, idx) {
        (Some(t), Some(i)) => Some(accuracies(t, i)?),
        _ => None,
    };
    let decisions: Vec<Value> =
        space.decisions().iter().zip(&g.0).map(|(d, &c)| json!({"edge": d.name, "op": OPS[c]})).collect();
    let canonical = space.canonical(&g);
    let histogram: Map<String, Value> =
        net.op_histogram().into_iter().map(|(k, n)| (k.to_string(), json!(n))).collect();
    let out = json!({
        "arch": space.format(&g),
        "ops": Nb201Space::ops_code(&g),
        "idx": idx,
        "iso_rep_idx": idx.and_then(|i| table.as_ref().and_then(|t| t.iso_rep(i))),
        "canonical": space.format(&canonical),
        "decisions": decisions,
        "params": counts.params,
        "flops": counts.flops,
        "counts_by_dataset": params_by_dataset,
        "graph": {"nodes": net.len(), "edges": net.graph().edge_count(), "ops": histogram, "output": net.output_shape().map(|s| s.to_string())},
        "accuracies": accuracies,
        "train_time_s": idx.and_then(|i| table.as_ref().map(|t| train_times(t, i))).transpose()?,
    });
    if args.json {
        return crate::print_json(&out);
    }
    println!("arch       {}", out["arch"].as_str().unwrap_or_default());
    println!("ops        {}   (digits index {})", out["ops"].as_str().unwrap_or_default(), OPS.join(", "));
    if let Some(i) = idx {
        println!("idx        {i}   iso_rep_idx {}", out["iso_rep_idx"]);
    }
    println!("canonical  {}", out["canonical"].as_str().unwrap_or_default());
    for (d, &c) in space.decisions().iter().zip(&g.0) {
        println!("  {:<10} {}", d.name, OPS[c]);
    }
    println!(
        "graph      {} nodes, {} edges, output {}",
        net.len(),
        net.graph().edge_count(),
        net.output_shape().map(|s| s.to_string()).unwrap_or_default()
    );
    let ops: Vec<String> = net.op_histogram().into_iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("           {}", ops.join(", "));
    println!("params     {} ({:.6} M, CIFAR-10 head)", counts.params, counts.params as f64 / 1e6);
    println!("flops      {} ({:.6} M multiply-adds, CIFAR-10)", counts.flops, counts.flops as f64 / 1e6);
    if let Some(acc) = out["accuracies"].as_object() {
        println!("accuracy (%, 200 epochs / 12 epochs)");
        for (dataset, v) in Dataset::ALL.iter().filter_map(|d| acc.get(d.name()).map(|v| (d.name(), v))) {
            let fmt = |k: &str| v.get(k).and_then(Value::as_f64).map_or("-".to_string(), |x| format!("{x:.2}"));
            println!(
                "  {dataset:<15} valid {:>6} / {:>6}   test {:>6} / {:>6}",
                fmt("valid"),
                fmt("valid_12"),
                fmt("test"),
                fmt("test_12")
            );
        }
    }
    Ok(())
}

fn accuracies(t: &Nb201Table, idx: usize) -> anyhow::Result<Value> {
    let mut out = Map::new();
    for d in Dataset::ALL {
        let mut m = Map::new();
        for (split, name) in [(Split::Train, "train"), (Split::Valid, "valid"), (Split::Test, "test")] {
            for (epochs, suffix) in [(Epochs::E200, ""), (Epochs::E12, "_12")] {
                if let Some(col) = accuracy_column(d, split, epochs) {
                    if t.column(col).is_ok() {
                        m.insert(format!("{name}{suffix}"), json!(t.value(idx, col)?));
                    }
                }
            }
        }
        out.insert(d.name().into(), Value::Object(m));
    }
    Ok(Value::Object(out))
}

fn train_times(t: &Nb201Table, idx: usize) -> anyhow::Result<Value> {
    let mut out = Map::new();
    for d in [Dataset::Cifar10Valid, Dataset::Cifar100, Dataset::ImageNet16] {
        if let Ok(v) = t.train_time_s(idx, d, Epochs::E200) {
            out.insert(d.name().into(), json!(v));
        }
    }
    Ok(Value::Object(out))
}
