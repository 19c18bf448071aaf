//! Image batches for scoring: an [`ImageSet`] (raw pixels, labels and the dataset's own
//! normalisation) read from the CIFAR-10 / CIFAR-100 binary layouts here, or built from the
//! pickled layouts that `nas_spaces::image_files` reads; the CIFAR-10 binary reader of old
//! ([`read_cifar10`]); or a deterministic synthetic batch.

use std::path::Path;

use nas_core::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Per-channel mean and standard deviation of CIFAR-10 (RGB, pixel values in 0..1).
pub const CIFAR10_MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
/// Per-channel standard deviation of CIFAR-10 (RGB, pixel values in 0..1).
pub const CIFAR10_STD: [f32; 3] = [0.2470, 0.2435, 0.2616];
/// Bytes per record of `cifar-10-batches-bin`: a label byte, then 1,024 R, G and B bytes (row-major 32x32).
pub const CIFAR10_RECORD: usize = 1 + 3 * 32 * 32;

/// A batch of normalised images `[batch, 3, 32, 32]` with their labels.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageBatch {
    /// Normalised pixels, image-major then channel, row, column.
    pub pixels: Vec<f32>,
    /// Class labels, one per image.
    pub labels: Vec<u32>,
    /// Channels per image.
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
    /// Where the images came from, for reports ("file.bin, first 128" or "synthetic, seed 0").
    pub source: String,
}

impl ImageBatch {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The first `n` images.
    pub fn first(&self, n: usize) -> Result<ImageBatch> {
        if n == 0 || n > self.len() {
            return Err(Error::invalid("batch", format!("{n} images asked of a batch of {}", self.len())));
        }
        let per = self.channels * self.height * self.width;
        Ok(ImageBatch {
            pixels: self.pixels[..n * per].to_vec(),
            labels: self.labels[..n].to_vec(),
            source: format!("{}, first {n}", self.source),
            ..*self
        })
    }
}

/// The datasets whose images the toolkit reads, each with its own normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ImageDataset {
    #[serde(rename = "cifar10")]
    /// CIFAR-10: 10 classes, 32x32.
    Cifar10,
    #[serde(rename = "cifar100")]
    /// CIFAR-100: 100 fine classes, 32x32.
    Cifar100,
    #[serde(rename = "ImageNet16-120")]
    /// ImageNet16-120: the first 120 classes of ImageNet at 16x16 (NAS-Bench-201's).
    ImageNet16,
}

impl ImageDataset {
    /// Every dataset.
    pub const ALL: [ImageDataset; 3] = [ImageDataset::Cifar10, ImageDataset::Cifar100, ImageDataset::ImageNet16];

    /// The dataset's name (`cifar10`, `cifar100`, `ImageNet16-120`).
    pub fn name(self) -> &'static str {
        match self {
            ImageDataset::Cifar10 => "cifar10",
            ImageDataset::Cifar100 => "cifar100",
            ImageDataset::ImageNet16 => "ImageNet16-120",
        }
    }

    /// The dataset of a benchmark dataset name (`cifar10-valid` trains on CIFAR-10 images).
    pub fn from_name(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "cifar10" | "cifar10-valid" => Ok(ImageDataset::Cifar10),
            "cifar100" => Ok(ImageDataset::Cifar100),
            "imagenet16-120" | "imagenet16" => Ok(ImageDataset::ImageNet16),
            _ => Err(Error::invalid(
                "dataset",
                format!("unknown image dataset {name:?}; expected cifar10, cifar100 or ImageNet16-120"),
            )),
        }
    }

    /// Number of classes.
    pub fn classes(self) -> u32 {
        match self {
            ImageDataset::Cifar10 => 10,
            ImageDataset::Cifar100 => 100,
            ImageDataset::ImageNet16 => 120,
        }
    }

    /// Image side in pixels.
    pub fn side(self) -> usize {
        if self == ImageDataset::ImageNet16 { 16 } else { 32 }
    }

    /// Per-channel mean (RGB, pixels in 0..1): CIFAR-10 and CIFAR-100 as `shared/data/README.md`
    /// gives them, ImageNet16-120 as NAS-Bench-201's `get_datasets` does (`[122.68, 116.66, 104.01] / 255`).
    pub fn mean(self) -> [f32; 3] {
        match self {
            ImageDataset::Cifar10 => CIFAR10_MEAN,
            ImageDataset::Cifar100 => CIFAR100_MEAN,
            ImageDataset::ImageNet16 => [122.68 / 255.0, 116.66 / 255.0, 104.01 / 255.0],
        }
    }

    /// Per-channel standard deviation (ImageNet16-120: `[63.22, 61.26, 65.09] / 255`).
    pub fn std(self) -> [f32; 3] {
        match self {
            ImageDataset::Cifar10 => CIFAR10_STD,
            ImageDataset::Cifar100 => CIFAR100_STD,
            ImageDataset::ImageNet16 => [63.22 / 255.0, 61.26 / 255.0, 65.09 / 255.0],
        }
    }
}

impl std::fmt::Display for ImageDataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Per-channel mean and standard deviation of CIFAR-100.
pub const CIFAR100_MEAN: [f32; 3] = [0.5071, 0.4865, 0.4409];
/// Per-channel standard deviation of CIFAR-100's training images.
pub const CIFAR100_STD: [f32; 3] = [0.2673, 0.2564, 0.2762];
/// Bytes per record of `cifar-100-binary`: coarse label, fine label, 3,072 pixel bytes.
pub const CIFAR100_RECORD: usize = 2 + 3 * 32 * 32;

/// A whole image set as stored (3-channel bytes), with its dataset's labels and normalisation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageSet {
    /// The dataset the images come from (it sets the normalisation).
    pub dataset: ImageDataset,
    /// The file layout it was read from (`cifar10-binary`, `cifar100-python`, ...).
    pub layout: String,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// `len * 3 * height * width` bytes, image-major, then channel (R, G, B), row, column.
    #[serde(skip)]
    pub pixels: Vec<u8>,
    /// Class labels, `0..dataset.classes()`.
    #[serde(skip)]
    pub labels: Vec<u32>,
    /// Where the images came from (a file, or a directory and its files).
    pub source: String,
}

impl ImageSet {
    /// Builds a set from stored bytes, checking sizes and labels.
    pub fn from_raw(
        dataset: ImageDataset,
        layout: &str,
        pixels: Vec<u8>,
        labels: Vec<u32>,
        source: String,
    ) -> Result<ImageSet> {
        let side = dataset.side();
        let per = 3 * side * side;
        if labels.is_empty() || pixels.len() != labels.len() * per {
            return Err(Error::invalid(
                "images",
                format!("{source}: {} pixel bytes for {} labels of {side}x{side} images", pixels.len(), labels.len()),
            ));
        }
        if let Some((i, l)) = labels.iter().enumerate().find(|(_, l)| **l >= dataset.classes()) {
            return Err(Error::invalid(
                "images",
                format!("{source}: image {i} has label {l}, {dataset} has {} classes", dataset.classes()),
            ));
        }
        Ok(ImageSet { dataset, layout: layout.to_owned(), height: side, width: side, pixels, labels, source })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The stored bytes of image `i` (channel, row, column).
    pub fn image(&self, i: usize) -> &[u8] {
        let per = 3 * self.height * self.width;
        &self.pixels[i * per..(i + 1) * per]
    }

    /// An error unless the images are of `expected` (e.g. CIFAR-10 images given with `--dataset cifar100`).
    pub fn check_dataset(&self, expected: ImageDataset) -> Result<()> {
        if self.dataset == expected {
            return Ok(());
        }
        Err(Error::invalid(
            "images",
            format!("{} holds {} images ({}), but the dataset is {expected}", self.source, self.dataset, self.layout),
        ))
    }

    /// The first `n` images normalised with the dataset's own mean and std.
    pub fn batch(&self, n: usize) -> Result<ImageBatch> {
        if n == 0 || n > self.len() {
            return Err(Error::invalid("batch", format!("{n} images asked of {} holding {}", self.source, self.len())));
        }
        let (mean, std) = (self.dataset.mean(), self.dataset.std());
        let plane = self.height * self.width;
        let pixels = self.pixels[..n * 3 * plane]
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let c = (i / plane) % 3;
                (f32::from(p) / 255.0 - mean[c]) / std[c]
            })
            .collect();
        Ok(ImageBatch {
            pixels,
            labels: self.labels[..n].to_vec(),
            channels: 3,
            height: self.height,
            width: self.width,
            source: format!("{} ({}, {} normalisation), first {n}", self.source, self.layout, self.dataset),
        })
    }
}

/// Reads a whole CIFAR-10 or CIFAR-100 binary file (`dataset` picks which; `None` decides from
/// the record size, `100` in the name breaking a tie). CIFAR-100 keeps the fine label. A size
/// that is not whole records is an error giving the size found.
pub fn read_binary(path: &Path, dataset: Option<ImageDataset>) -> Result<ImageSet> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, &e))?;
    let len = bytes.len();
    let dataset = match dataset {
        Some(d) => d,
        None if len > 0
            && len % CIFAR100_RECORD == 0
            && (len % CIFAR10_RECORD != 0 || path.to_string_lossy().contains("100")) =>
        {
            ImageDataset::Cifar100
        }
        None => ImageDataset::Cifar10,
    };
    let (record, skip, name) = match dataset {
        ImageDataset::Cifar10 => (CIFAR10_RECORD, 1, "CIFAR-10 (1 label + 3x32x32 pixels)"),
        ImageDataset::Cifar100 => (CIFAR100_RECORD, 2, "CIFAR-100 (coarse + fine label + 3x32x32 pixels)"),
        ImageDataset::ImageNet16 => {
            return Err(Error::invalid("layout", "ImageNet16-120 has no binary layout; give its pickled batches"));
        }
    };
    if len == 0 || len % record != 0 {
        return Err(Error::data(
            path,
            None,
            format!("{len} bytes is not a whole number of {record}-byte {name} records ({} left over)", len % record),
        ));
    }
    let count = len / record;
    let mut pixels = Vec::with_capacity(count * 3072);
    let mut labels = Vec::with_capacity(count);
    for (i, r) in bytes.chunks_exact(record).enumerate() {
        let label = r[skip - 1];
        if u32::from(label) >= dataset.classes() {
            return Err(Error::data(
                path,
                None,
                format!("record {i} has label {label}, not 0..{}", dataset.classes() - 1),
            ));
        }
        labels.push(u32::from(label));
        pixels.extend_from_slice(&r[skip..]);
    }
    let layout = if dataset == ImageDataset::Cifar10 { "cifar10-binary" } else { "cifar100-binary" };
    ImageSet::from_raw(dataset, layout, pixels, labels, path.display().to_string())
}

/// Reads the first `batch` images of a CIFAR-10 binary file and normalises them.
pub fn read_cifar10(path: &Path, batch: usize) -> Result<ImageBatch> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, &e))?;
    if bytes.is_empty() || bytes.len() % CIFAR10_RECORD != 0 {
        return Err(Error::data(
            path,
            None,
            format!(
                "{} bytes is not a whole number of {CIFAR10_RECORD}-byte CIFAR-10 records (1 label + 3x32x32 pixels)",
                bytes.len()
            ),
        ));
    }
    let count = bytes.len() / CIFAR10_RECORD;
    if batch == 0 || batch > count {
        return Err(Error::invalid("batch", format!("{batch} images asked of {} holding {count}", path.display())));
    }
    let mut pixels = Vec::with_capacity(batch * 3 * 1024);
    let mut labels = Vec::with_capacity(batch);
    for (i, record) in bytes.chunks_exact(CIFAR10_RECORD).take(batch).enumerate() {
        if record[0] > 9 {
            return Err(Error::data(path, None, format!("record {i} has label {}, not 0..9", record[0])));
        }
        labels.push(u32::from(record[0]));
        for (c, plane) in record[1..].chunks_exact(1024).enumerate() {
            pixels.extend(plane.iter().map(|&p| (f32::from(p) / 255.0 - CIFAR10_MEAN[c]) / CIFAR10_STD[c]));
        }
    }
    let source = format!("{}, first {batch}", path.display());
    Ok(ImageBatch { pixels, labels, channels: 3, height: 32, width: 32, source })
}

/// A deterministic batch of uniformly random pixels (normalised like CIFAR-10) and labels
/// `i mod classes`: the default when no image file is given. Scores on it are not comparable
/// with scores on real images.
pub fn synthetic(batch: usize, channels: usize, height: usize, width: usize, classes: u32, seed: u64) -> ImageBatch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let plane = height * width;
    let pixels = (0..batch * channels * plane)
        .map(|i| {
            let c = (i / plane) % channels;
            let (m, s) = if channels == 3 { (CIFAR10_MEAN[c], CIFAR10_STD[c]) } else { (0.5, 0.25) };
            (rng.random_range(0u8..=255) as f32 / 255.0 - m) / s
        })
        .collect();
    let labels = (0..batch as u32).map(|i| i % classes.max(1)).collect();
    ImageBatch { pixels, labels, channels, height, width, source: format!("synthetic, seed {seed}") }
}

/// `count` random `size x size` crops of the batch's images (uniform image and position, seeded).
pub fn random_crops(images: &ImageBatch, size: usize, count: usize, seed: u64) -> Result<ImageBatch> {
    if images.is_empty() || size == 0 || size > images.height || size > images.width {
        return Err(Error::invalid(
            "crop",
            format!("{size}x{size} crops of {} images of {}x{}", images.len(), images.height, images.width),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (c, h, w) = (images.channels, images.height, images.width);
    let mut pixels = Vec::with_capacity(count * c * size * size);
    let mut labels = Vec::with_capacity(count);
    for _ in 0..count {
        let i = rng.random_range(0..images.len());
        let (y0, x0) = (rng.random_range(0..=h - size), rng.random_range(0..=w - size));
        for ch in 0..c {
            for y in y0..y0 + size {
                let row = ((i * c + ch) * h + y) * w;
                pixels.extend_from_slice(&images.pixels[row + x0..row + x0 + size]);
            }
        }
        labels.push(images.labels[i]);
    }
    let source = format!("{count} random {size}x{size} crops (seed {seed}) of {}", images.source);
    Ok(ImageBatch { pixels, labels, channels: c, height: size, width: size, source })
}
