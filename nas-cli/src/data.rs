//! `nas data import` and `nas data check`: from the benchmarks' official files to the tables the
//! other commands read, and what a data directory holds. Also [`open_images`], which reads an
//! image file or directory in any layout (for `--images`).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use nas_kernels::images::{self, ImageDataset, ImageSet};
use nas_spaces::DataDir;
use nas_spaces::image_files;
use nas_spaces::import::{self, ImportConfig, ImportKind};

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Turn an official benchmark file or directory into the toolkit's table.
    Import(ImportArgs),
    /// List what the data directory holds and which commands use it.
    Check(CheckArgs),
    /// Read an image file or directory in any supported layout and describe it.
    Images(ImagesArgs),
}

/// The kinds of official files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// NATS-Bench topology space directory (NATS-tss-v1_0-3ffb9-simple).
    NatsTss,
    /// NATS-Bench size space directory (NATS-sss-v1_0-50262-simple).
    NatsSss,
    /// NAS-Bench-201 .pth (legacy or zip torch.save).
    Nb201Pth,
    /// HW-NAS-Bench-v1_0.pickle.
    HwNasBench,
}

impl From<Kind> for ImportKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::NatsTss => ImportKind::NatsTss,
            Kind::NatsSss => ImportKind::NatsSss,
            Kind::Nb201Pth => ImportKind::Nb201Pth,
            Kind::HwNasBench => ImportKind::HwNasBench,
        }
    }
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The official file or directory.
    #[arg(long, value_name = "FILE|DIR")]
    from: PathBuf,
    /// The data directory to write the table into (created if needed).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// What `--from` is (detected when not given).
    #[arg(long, value_enum)]
    kind: Option<Kind>,
    /// Print one JSON object {kind, rows, out, seconds, with_results} instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// An image file or directory (CIFAR-10/100 binary or python, ImageNet16-120).
    path: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: DataCommand, data: &DataDir) -> anyhow::Result<()> {
    match cmd {
        DataCommand::Import(a) => run_import(&a),
        DataCommand::Check(a) => run_check(&a, data),
        DataCommand::Images(a) => run_images(&a),
    }
}

fn run_import(args: &ImportArgs) -> anyhow::Result<()> {
    let config = ImportConfig { from: args.from.clone(), out: args.out.clone(), kind: args.kind.map(Into::into) };
    let report = import::import(&config)?;
    if args.json {
        return crate::print_json(&report);
    }
    println!(
        "{}: {} rows ({} with results) -> {} in {:.2} s",
        report.kind,
        report.rows,
        report.with_results,
        report.out.display(),
        report.seconds
    );
    Ok(())
}

fn run_check(args: &CheckArgs, data: &DataDir) -> anyhow::Result<()> {
    let report = nas_spaces::data_check::check(data)?;
    if args.json {
        return crate::print_json(&report);
    }
    println!(
        "data directory {} ({}){}",
        report.data_dir.display(),
        report.source,
        if report.exists { "" } else { ": missing" }
    );
    for e in &report.entries {
        let count = e.count.map_or("-".to_string(), |c| c.to_string());
        let state = match (&e.problem, e.present) {
            (Some(p), _) => format!("PROBLEM: {p}"),
            (None, true) => "ok".to_string(),
            (None, false) => "missing (nas data import writes it)".to_string(),
        };
        let layout = e.layout.as_deref().map(|l| format!(" [{l}]")).unwrap_or_default();
        println!("  {:<44} {:<9} {:>7}{layout}  {state}", e.path, e.kind, count);
        if let Some(h) = &e.fnv1a64 {
            println!("      fnv1a64 {h}, {} bytes", e.bytes.unwrap_or(0));
        }
        println!("      used by: {}", e.used_by.join(", "));
    }
    Ok(())
}

/// Reads an image file or directory in any layout: the binary ones here, the pickled ones
/// through `nas_spaces::image_files`.
pub fn open_images(path: &Path) -> anyhow::Result<ImageSet> {
    let found = image_files::detect(path)?;
    if found.layout.is_binary() {
        let dataset = ImageDataset::from_name(found.layout.dataset())?;
        let mut sets =
            found.files.iter().map(|f| images::read_binary(f, Some(dataset))).collect::<Result<Vec<_>, _>>()?;
        if sets.len() == 1 {
            return Ok(sets.remove(0));
        }
        let (mut pixels, mut labels) = (Vec::new(), Vec::new());
        for s in sets {
            pixels.extend(s.pixels);
            labels.extend(s.labels);
        }
        let source = format!("{} ({} files)", path.display(), found.files.len());
        return Ok(ImageSet::from_raw(dataset, found.layout.name(), pixels, labels, source)?);
    }
    let raw = image_files::read_pickled(&found)?;
    let dataset = ImageDataset::from_name(raw.layout.dataset())?;
    let source = if raw.files.len() == 1 {
        path.display().to_string()
    } else {
        format!("{} ({} files)", path.display(), raw.files.len())
    };
    Ok(ImageSet::from_raw(dataset, raw.layout.name(), raw.pixels, raw.labels, source)?)
}

fn run_images(args: &ImagesArgs) -> anyhow::Result<()> {
    let set = open_images(&args.path)?;
    let mut counts = vec![0usize; set.dataset.classes() as usize];
    for &l in &set.labels {
        counts[l as usize] += 1;
    }
    let report = serde_json::json!({
        "source": set.source, "layout": set.layout, "dataset": set.dataset, "images": set.len(),
        "height": set.height, "width": set.width, "classes": set.dataset.classes(),
        "classes_present": counts.iter().filter(|&&c| c > 0).count(),
        "mean": set.dataset.mean(), "std": set.dataset.std(),
        "first_labels": set.labels.iter().take(10).collect::<Vec<_>>(),
    });
    if args.json {
        return crate::print_json(&report);
    }
    println!(
        "{}: {} {} images {}x{} ({} layout), {} of {} classes present, first labels {:?}",
        set.source,
        set.len(),
        set.dataset,
        set.height,
        set.width,
        set.layout,
        counts.iter().filter(|&&c| c > 0).count(),
        set.dataset.classes(),
        &set.labels[..set.len().min(10)]
    );
    Ok(())
}
