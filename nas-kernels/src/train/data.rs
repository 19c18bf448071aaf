//! Labelled image sets in memory (8-bit pixels) and the seeded loader of a training run.
//!
//! * [`ImageSet::read_cifar10`] reads the CIFAR-10 binary layout (a label byte, then the R, G and B
//!   planes of 32x32), checking every label against the number of classes.
//! * [`ImageSet::split_half`]: the benchmark's cifar10-valid style split, a fixed seeded half of the
//!   images for training and the other half for validation.
//! * [`epoch_order`] and [`Batch::assemble`]: per epoch, a permutation of the images from the run's
//!   seed and epoch; per batch, batches in that order (the last partial batch kept, as PyTorch's
//!   `drop_last = False`), each image randomly cropped (32 from the image zero-padded by 4: zero is
//!   black before normalisation, as torchvision's `RandomCrop(32, padding=4)`) and flipped
//!   horizontally with probability 0.5, then normalised with the CIFAR-10 mean and standard
//!   deviation (the same normalisation as scoring, [`crate::images`]).
//!
//! Every draw comes from `ChaCha8Rng::seed_from_u64(seed)` on stream `1 + epoch` (stream 0 is the
//! weight initialisation's), so an epoch's data is known from `(seed, epoch)` alone: a resumed run
//! sees exactly the data an uninterrupted one would.

use std::path::Path;

use nas_core::{Error, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::images::{CIFAR10_MEAN, CIFAR10_STD, ImageDataset};

/// Images with labels, pixels kept as bytes (`[n, channels, height, width]`).
#[derive(Clone, Debug, PartialEq)]
pub struct ImageSet {
    /// Stored pixel bytes, image-major, then channel, row, column.
    pub pixels: Vec<u8>,
    /// Class labels.
    pub labels: Vec<u32>,
    /// Channels per image.
    pub channels: usize,
    /// Image height in pixels.
    pub height: usize,
    /// Image width in pixels.
    pub width: usize,
    /// Number of classes.
    pub classes: usize,
    /// Where the images came from, for reports.
    pub source: String,
}

impl ImageSet {
    /// Every record of a CIFAR-10 binary file ([`crate::images::read_binary`]); a label of `classes`
    /// or more is an error.
    pub fn read_cifar10(path: &Path, classes: usize) -> Result<ImageSet> {
        let set = crate::images::read_binary(path, Some(ImageDataset::Cifar10))?;
        if let Some((i, l)) = set.labels.iter().enumerate().find(|(_, l)| **l as usize >= classes) {
            let message = format!("record {i} has label {l}, outside the {classes} classes");
            return Err(Error::data(path, None, message));
        }
        let crate::images::ImageSet { pixels, labels, height, width, source, .. } = set;
        Ok(ImageSet { pixels, labels, channels: 3, height, width, classes, source })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn per_image(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize], source: String) -> ImageSet {
        let per = self.per_image();
        let mut pixels = Vec::with_capacity(indices.len() * per);
        for &i in indices {
            pixels.extend_from_slice(&self.pixels[i * per..(i + 1) * per]);
        }
        ImageSet {
            pixels,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            classes: self.classes,
            source,
        }
    }

    /// The cifar10-valid style split: a seeded permutation, its first half (rounded up) for
    /// training and the rest for validation, each in the original file order.
    pub fn split_half(&self, seed: u64) -> (ImageSet, ImageSet) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let (a, b) = order.split_at(self.len().div_ceil(2));
        let (mut a, mut b) = (a.to_vec(), b.to_vec());
        a.sort_unstable();
        b.sort_unstable();
        (
            self.subset(&a, format!("{}, train half (seed {seed})", self.source)),
            self.subset(&b, format!("{}, valid half (seed {seed})", self.source)),
        )
    }

    /// Per-channel (mean, std) of the normalisation: CIFAR-10's for 3 channels, else (0.5, 0.25).
    fn normalisation(&self, c: usize) -> (f32, f32) {
        if self.channels == 3 { (CIFAR10_MEAN[c], CIFAR10_STD[c]) } else { (0.5, 0.25) }
    }

    /// The normalised pixels of images `range` without augmentation (evaluation).
    pub fn normalised(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        let per = self.per_image();
        let plane = self.height * self.width;
        self.pixels[range.start * per..range.end * per]
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let (m, s) = self.normalisation((i / plane) % self.channels);
                (f32::from(p) / 255.0 - m) / s
            })
            .collect()
    }
}

/// The images of epoch `epoch` in training order, and the generator that then draws its
/// augmentations (see the module doc).
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> (Vec<usize>, ChaCha8Rng) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(1 + epoch as u64);
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    (order, rng)
}

/// One training batch: normalised (and possibly augmented) pixels and labels.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Normalised pixels of the batch, image-major.
    pub pixels: Vec<f32>,
    /// The batch's labels.
    pub labels: Vec<u32>,
}

impl Batch {
    /// The images `indices` of `set`; with `augment`, each cropped from the image padded by `pad`
    /// and flipped from `rng` (per image: the x offset, the y offset, then the flip).
    pub fn assemble(set: &ImageSet, indices: &[usize], augment: Option<usize>, rng: &mut ChaCha8Rng) -> Batch {
        let (c, h, w) = (set.channels, set.height, set.width);
        let per = set.per_image();
        let mut pixels = Vec::with_capacity(indices.len() * per);
        for &i in indices {
            let img = &set.pixels[i * per..(i + 1) * per];
            let (ox, oy, flip) = match augment {
                Some(pad) => (
                    rng.random_range(0..=2 * pad) as isize - pad as isize,
                    rng.random_range(0..=2 * pad) as isize - pad as isize,
                    rng.random_bool(0.5),
                ),
                None => (0, 0, false),
            };
            for ch in 0..c {
                let (m, s) = set.normalisation(ch);
                let black = (0.0 - m) / s;
                for y in 0..h {
                    let sy = y as isize + oy;
                    for x in 0..w {
                        let xx = if flip { w - 1 - x } else { x };
                        let sx = xx as isize + ox;
                        let v = if sy < 0 || sy >= h as isize || sx < 0 || sx >= w as isize {
                            black
                        } else {
                            (f32::from(img[(ch * h + sy as usize) * w + sx as usize]) / 255.0 - m) / s
                        };
                        pixels.push(v);
                    }
                }
            }
        }
        Batch { pixels, labels: indices.iter().map(|&i| set.labels[i]).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(n: usize) -> ImageSet {
        ImageSet {
            pixels: (0..n * 3 * 32 * 32).map(|i| (i * 31 % 251) as u8).collect(),
            labels: (0..n as u32).map(|i| i % 10).collect(),
            channels: 3,
            height: 32,
            width: 32,
            classes: 10,
            source: "tiny".into(),
        }
    }

    #[test]
    fn epochs_are_seeded_permutations_and_the_split_is_a_partition() {
        let (a, _) = epoch_order(50, 7, 0);
        let (b, _) = epoch_order(50, 7, 0);
        let (c, _) = epoch_order(50, 7, 1);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut sorted = c.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        let set = tiny(11);
        let (train, valid) = set.split_half(3);
        assert_eq!((train.len(), valid.len()), (6, 5));
        let mut all: Vec<u32> = train.labels.iter().chain(&valid.labels).copied().collect();
        all.sort_unstable();
        let mut want = set.labels.clone();
        want.sort_unstable();
        assert_eq!(all, want);
        assert_eq!(set.split_half(3), (train, valid));
    }

    /// The augmented image against a plain crop of the explicitly padded image.
    #[test]
    fn crops_and_flips_match_the_padded_image() {
        let set = tiny(3);
        let plain = Batch::assemble(&set, &[2], None, &mut ChaCha8Rng::seed_from_u64(0));
        assert_eq!(plain.pixels, set.normalised(2..3));
        for seed in 0..20 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut probe = rng.clone();
            let aug = Batch::assemble(&set, &[1], Some(4), &mut rng);
            let (ox, oy, flip) =
                (probe.random_range(0..=8usize), probe.random_range(0..=8usize), probe.random_bool(0.5));
            let mut padded = vec![0u8; 3 * 40 * 40];
            for ch in 0..3 {
                for y in 0..32 {
                    for x in 0..32 {
                        padded[(ch * 40 + y + 4) * 40 + x + 4] = set.pixels[3 * 1024 + (ch * 32 + y) * 32 + x];
                    }
                }
            }
            for ch in 0..3 {
                for y in 0..32 {
                    for x in 0..32 {
                        let sx = if flip { 31 - x } else { x };
                        let p = padded[(ch * 40 + oy + y) * 40 + ox + sx];
                        let want = (f32::from(p) / 255.0 - CIFAR10_MEAN[ch]) / CIFAR10_STD[ch];
                        assert_eq!(aug.pixels[(ch * 32 + y) * 32 + x], want);
                    }
                }
            }
        }
    }
}
