//! Image batches for scoring: the CIFAR-10 binary format, or a deterministic synthetic batch.

use std::path::Path;

use nas_core::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

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
