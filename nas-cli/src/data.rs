//! `nas data import` and `nas data check`: from the benchmarks' official files to the tables the
//! other commands read, and what a data directory holds. Also [`open_images`], which reads an
//! image file or directory in any layout (for `--images`).

use std::fmt;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use nas_kernels::images::{self, ImageDataset, ImageSet};
use nas_spaces::DataDir;
use nas_spaces::image_files;
use nas_spaces::import::{self, ImportConfig, ImportKind, ImportReport};
use serde::Serialize;

/// The kinds of official files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
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

/// `nas data import`: which official file, where the tables go.
#[derive(Clone, Debug, Args, Serialize)]
pub struct ImportArgs {
    /// The official file or directory.
    #[arg(long, value_name = "FILE|DIR")]
    pub from: PathBuf,
    /// Where the result is written. Here: the data directory the tables go into (created if needed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// What `--from` is (detected when not given).
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
}

/// The report of `nas data import` (JSON: `{kind, rows, out, seconds, with_results}`).
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct Imported(pub ImportReport);

impl fmt::Display for Imported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.0;
        writeln!(
            f,
            "{}: {} rows ({} with results) -> {} in {:.2} s",
            r.kind,
            r.rows,
            r.with_results,
            r.out.display(),
            r.seconds
        )
    }
}

/// Imports one official file or directory.
pub fn import(args: &ImportArgs) -> anyhow::Result<Imported> {
    let config = ImportConfig { from: args.from.clone(), out: args.out.clone(), kind: args.kind.map(Into::into) };
    Ok(Imported(import::import(&config)?))
}

/// `nas data check` takes only the global `--data-dir`.
#[derive(Clone, Debug, Args, Serialize)]
pub struct CheckArgs {}

/// The report of `nas data check`.
#[derive(Clone, Debug, Serialize)]
#[serde(transparent)]
pub struct Checked(pub nas_spaces::data_check::Report);

/// What the data directory holds.
pub fn check(_: &CheckArgs, data: &DataDir) -> anyhow::Result<Checked> {
    Ok(Checked(nas_spaces::data_check::check(data)?))
}

impl fmt::Display for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.0;
        writeln!(
            f,
            "data directory {} ({}){}",
            r.data_dir.display(),
            r.source,
            if r.exists { "" } else { ": missing" }
        )?;
        for e in &r.entries {
            let count = e.count.map_or("-".to_string(), |c| c.to_string());
            let state = match (&e.problem, e.present) {
                (Some(p), _) => format!("PROBLEM: {p}"),
                (None, true) => "ok".to_string(),
                (None, false) => "missing (nas data import writes it)".to_string(),
            };
            let layout = e.layout.as_deref().map(|l| format!(" [{l}]")).unwrap_or_default();
            writeln!(f, "  {:<44} {:<9} {:>7}{layout}  {state}", e.path, e.kind, count)?;
            if let Some(h) = &e.fnv1a64 {
                writeln!(f, "      fnv1a64 {h}, {} bytes", e.bytes.unwrap_or(0))?;
            }
            writeln!(f, "      used by: {}", e.used_by.join(", "))?;
        }
        Ok(())
    }
}

/// `nas data images`: which image file or directory.
#[derive(Clone, Debug, Args, Serialize)]
pub struct ImagesArgs {
    /// An image file or directory (CIFAR-10/100 binary or python, ImageNet16-120).
    pub path: PathBuf,
}

/// The report of `nas data images`.
#[derive(Clone, Debug, Serialize)]
pub struct ImagesReport {
    /// Where the images come from.
    pub source: String,
    /// The image layout read.
    pub layout: String,
    /// The benchmark dataset.
    pub dataset: ImageDataset,
    /// Number of images.
    pub images: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Classes of the dataset.
    pub classes: u32,
    /// Classes that have at least one image.
    pub classes_present: usize,
    /// Per-channel mean of the normalisation.
    pub mean: [f32; 3],
    /// Per-channel standard deviation of the normalisation.
    pub std: [f32; 3],
    /// Labels of the first ten images.
    pub first_labels: Vec<u32>,
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

/// Reads an image file or directory and describes it.
pub fn images(args: &ImagesArgs) -> anyhow::Result<ImagesReport> {
    let set = open_images(&args.path)?;
    let mut counts = vec![0usize; set.dataset.classes() as usize];
    for &l in &set.labels {
        counts[l as usize] += 1;
    }
    Ok(ImagesReport {
        source: set.source.clone(),
        layout: set.layout.to_string(),
        dataset: set.dataset,
        images: set.len(),
        height: set.height,
        width: set.width,
        classes: set.dataset.classes(),
        classes_present: counts.iter().filter(|&&c| c > 0).count(),
        mean: set.dataset.mean(),
        std: set.dataset.std(),
        first_labels: set.labels.iter().take(10).copied().collect(),
    })
}

impl fmt::Display for ImagesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} {:?} images {}x{} ({} layout), {} of {} classes present, first labels {:?}",
            self.source,
            self.images,
            self.dataset,
            self.height,
            self.width,
            self.layout,
            self.classes_present,
            self.classes,
            self.first_labels
        )
    }
}
