//! The image datasets' official file layouts, found and read into raw bytes and labels:
//! CIFAR-10 / CIFAR-100 "binary" (`cifar-10-batches-bin`, `cifar-100-binary`: found here, read
//! by `nas_kernels::images::read_binary`) and "python" (`cifar-10-batches-py/data_batch_1..5`,
//! `test_batch`; `cifar-100-python/train`, `test`: pickled dicts with a `data` uint8 array and
//! `labels` / `fine_labels`), and ImageNet16-120 as NAS-Bench-201 distributes it
//! (`train_data_batch_1..10`, `val_data`: pickled dicts of a `(n, 768)` uint8 array and labels
//! 1..1000, of which 1..120 are kept and shifted to 0..119, as NAS-Bench-201's
//! `ImageNet16(use_num_of_class_only=120)` does).
//!
//! The pickles are decoded by the safe pickle machine of [`crate::nats`]: Python 2 `str`
//! opcodes, numpy arrays as `_reconstruct` + `BUILD` state, no code run.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use nas_core::{Error, Result};
use serde::Serialize;

use crate::nats::{PyValue, stream_pickle};
use crate::ndarray::{self, get};

/// An image file layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageLayout {
    /// `cifar-10-batches-bin`: 3,073-byte records (label, 3,072 pixel bytes).
    Cifar10Binary,
    /// `cifar-100-binary`: 3,074-byte records (coarse label, fine label, 3,072 pixel bytes).
    Cifar100Binary,
    /// `cifar-10-batches-py`: pickled `{data: (n, 3072) uint8, labels: [...]}`.
    Cifar10Python,
    /// `cifar-100-python`: pickled `{data: (n, 3072) uint8, fine_labels: [...], coarse_labels}`.
    Cifar100Python,
    /// NAS-Bench-201's ImageNet16: pickled `{data: (n, 768) uint8, labels: 1..1000}`.
    ImageNet16,
}

impl ImageLayout {
    /// The layout's name (`cifar10-binary`, `cifar100-python`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ImageLayout::Cifar10Binary => "cifar10-binary",
            ImageLayout::Cifar100Binary => "cifar100-binary",
            ImageLayout::Cifar10Python => "cifar10-python",
            ImageLayout::Cifar100Python => "cifar100-python",
            ImageLayout::ImageNet16 => "imagenet16-120-python",
        }
    }

    /// The dataset name, as `nas_kernels::images::ImageDataset` and the benchmark spell it.
    pub fn dataset(self) -> &'static str {
        match self {
            ImageLayout::Cifar10Binary | ImageLayout::Cifar10Python => "cifar10",
            ImageLayout::Cifar100Binary | ImageLayout::Cifar100Python => "cifar100",
            ImageLayout::ImageNet16 => "ImageNet16-120",
        }
    }

    /// Image side in pixels (square, 3 channels).
    pub fn side(self) -> usize {
        if self == ImageLayout::ImageNet16 { 16 } else { 32 }
    }

    /// Whether the layout is a binary one (read by `nas_kernels::images`), not a pickled one.
    pub fn is_binary(self) -> bool {
        matches!(self, ImageLayout::Cifar10Binary | ImageLayout::Cifar100Binary)
    }
}

impl std::fmt::Display for ImageLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Bytes per record of the binary layouts.
pub const CIFAR10_RECORD: usize = 1 + 3 * 32 * 32;
/// Bytes of one CIFAR-100 binary record: coarse and fine label, then 3x32x32 pixels.
pub const CIFAR100_RECORD: usize = 2 + 3 * 32 * 32;

/// What [`detect`] found: the layout and the files to read, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The layout found.
    pub layout: ImageLayout,
    /// The files that hold the images, in reading order.
    pub files: Vec<PathBuf>,
}

/// Images and labels as stored, before normalisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawImages {
    /// The layout read.
    pub layout: ImageLayout,
    /// `len * 3 * side * side` bytes, image-major, then channel (R, G, B), row, column.
    pub pixels: Vec<u8>,
    /// Class labels from 0 (ImageNet16's 1..120 shifted down).
    pub labels: Vec<u32>,
    /// ImageNet16 images dropped because their label is beyond 120.
    pub dropped: usize,
    /// The files read.
    pub files: Vec<PathBuf>,
}

impl RawImages {
    /// Number of images read.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether no image was read.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

fn data_error(path: &Path, message: impl Into<String>) -> Error {
    Error::data(path, None, message)
}

/// The numbered files `prefix1`, `prefix2`, ... present in `dir`, in order.
fn numbered(dir: &Path, prefix: &str, suffix: &str) -> Vec<PathBuf> {
    (1..).map(|i| dir.join(format!("{prefix}{i}{suffix}"))).take_while(|p| p.is_file()).collect()
}

/// Finds the layout of a file or directory. A directory means its training split
/// (`data_batch_1..5`, `train`, `train_data_batch_1..10`, or `data_batch_1..5.bin`, `train.bin`);
/// give a file (`test_batch`, `val_data`, ...) for another split.
pub fn detect(path: &Path) -> Result<Found> {
    if path.is_dir() {
        let candidates: [(&str, &str, ImageLayout); 5] = [
            ("data_batch_", "", ImageLayout::Cifar10Python),
            ("train_data_batch_", "", ImageLayout::ImageNet16),
            ("data_batch_", ".bin", ImageLayout::Cifar10Binary),
            ("train", "", ImageLayout::Cifar100Python),
            ("train", ".bin", ImageLayout::Cifar100Binary),
        ];
        for (prefix, suffix, layout) in candidates {
            let files = if prefix == "train" {
                let f = path.join(format!("train{suffix}"));
                if f.is_file() { vec![f] } else { vec![] }
            } else {
                numbered(path, prefix, suffix)
            };
            if !files.is_empty() {
                return Ok(Found { layout, files });
            }
        }
        return Err(data_error(
            path,
            "no image layout found: expected data_batch_1.. (CIFAR-10 python or .bin), train (CIFAR-100 python), \
             train.bin (CIFAR-100 binary) or train_data_batch_1.. (ImageNet16-120)",
        ));
    }
    let mut head = [0u8; 2];
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, &e))?;
    let n = std::io::Read::read(&mut file, &mut head).map_err(|e| Error::io(path, &e))?;
    let len = file.metadata().map_err(|e| Error::io(path, &e))?.len() as usize;
    if n == 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let layout = if name.starts_with("train_data_batch") || name == "val_data" {
            ImageLayout::ImageNet16
        } else if name == "train" || name == "test" {
            ImageLayout::Cifar100Python
        } else {
            ImageLayout::Cifar10Python // decided again from the contents when read
        };
        return Ok(Found { layout, files: vec![path.to_path_buf()] });
    }
    let (r10, r100) = (len % CIFAR10_RECORD, len % CIFAR100_RECORD);
    let named_100 = path.to_string_lossy().contains("100");
    let layout = match (len > 0 && r10 == 0, len > 0 && r100 == 0) {
        (true, true) if named_100 => ImageLayout::Cifar100Binary,
        (true, _) => ImageLayout::Cifar10Binary,
        (false, true) => ImageLayout::Cifar100Binary,
        (false, false) => {
            return Err(data_error(
                path,
                format!(
                    "{len} bytes is neither whole 3073-byte CIFAR-10 records (remainder {r10}) nor whole \
                     3074-byte CIFAR-100 records (remainder {r100}), and not a pickle"
                ),
            ));
        }
    };
    Ok(Found { layout, files: vec![path.to_path_buf()] })
}

/// Reads one pickled batch file (whole: the largest, an ImageNet16 training batch, is ~100 MB).
pub fn read_pickled_file(path: &Path) -> Result<PyValue> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, &e))?;
    stream_pickle(BufReader::new(file), 0, None).map_err(|m| data_error(path, format!("bad pickle: {m}")))
}

/// Reads the pickled files of `found` (the python and ImageNet16 layouts) into raw images. The
/// layout is checked against each file's contents (`fine_labels` means CIFAR-100, 768 bytes per
/// image ImageNet16), so a wrong layout or record size is an error giving what was found.
pub fn read_pickled(found: &Found) -> Result<RawImages> {
    if found.layout.is_binary() {
        return Err(Error::invalid("layout", format!("{} is read by nas_kernels::images::read_binary", found.layout)));
    }
    let mut out = RawImages {
        layout: found.layout,
        pixels: Vec::new(),
        labels: Vec::new(),
        dropped: 0,
        files: found.files.clone(),
    };
    for (i, path) in found.files.iter().enumerate() {
        let root = read_pickled_file(path)?;
        let layout = batch_layout(&root).map_err(|m| data_error(path, m))?;
        if i == 0 {
            out.layout = layout;
        } else if layout != out.layout {
            return Err(data_error(path, format!("holds {layout} images, the files before it {}", out.layout)));
        }
        append_batch(&root, layout, &mut out).map_err(|m| data_error(path, m))?;
    }
    Ok(out)
}

/// The layout of one decoded batch, from its keys and row size.
fn batch_layout(root: &PyValue) -> std::result::Result<ImageLayout, String> {
    if root.as_dict().is_none() {
        return Err(format!("expected a dict with 'data' and labels, found a {}", root.type_name()));
    }
    let data = get(root, "data").ok_or("no 'data' array (not an image batch)")?;
    let array = ndarray::ndarray(data).map_err(|m| format!("'data': {m}"))?;
    let row = array.shape.get(1).copied().unwrap_or(0);
    Ok(match (get(root, "fine_labels").is_some(), row) {
        (true, 3072) => ImageLayout::Cifar100Python,
        (false, 3072) => ImageLayout::Cifar10Python,
        (false, 768) => ImageLayout::ImageNet16,
        (fine, _) => {
            let what = if fine {
                "CIFAR-100 python batches hold 3072 (3x32x32)"
            } else {
                "CIFAR-10 python batches hold 3072 (3x32x32), ImageNet16 768 (3x16x16)"
            };
            return Err(format!("'data' has shape {:?}: {row} bytes per image; {what}", array.shape));
        }
    })
}

fn append_batch(root: &PyValue, layout: ImageLayout, out: &mut RawImages) -> std::result::Result<(), String> {
    let data = ndarray::ndarray(get(root, "data").ok_or("no 'data'")?)?;
    if data.dtype != "u1" || data.shape.len() != 2 {
        return Err(format!("'data' is a {:?} array of {}, expected (n, 3*side*side) uint8", data.shape, data.dtype));
    }
    let (n, row) = (data.shape[0], data.shape[1]);
    let key = if layout == ImageLayout::Cifar100Python { "fine_labels" } else { "labels" };
    let labels =
        ndarray::numbers(get(root, key).ok_or_else(|| format!("no '{key}'"))?).map_err(|m| format!("'{key}': {m}"))?;
    if labels.len() != n {
        return Err(format!("'{key}' has {} labels for {n} images", labels.len()));
    }
    let classes = match layout {
        ImageLayout::Cifar100Python => 100.0,
        ImageLayout::ImageNet16 => 1000.0,
        _ => 10.0,
    };
    for (i, (&label, image)) in labels.iter().zip(data.data.chunks_exact(row)).enumerate() {
        let valid = if layout == ImageLayout::ImageNet16 {
            (1.0..=classes).contains(&label)
        } else {
            (0.0..classes).contains(&label)
        };
        if !valid || label.fract() != 0.0 {
            return Err(format!("image {i} has label {label}, outside the dataset's {classes} classes"));
        }
        if layout == ImageLayout::ImageNet16 {
            if label > 120.0 {
                out.dropped += 1;
                continue;
            }
            out.labels.push(label as u32 - 1);
        } else {
            out.labels.push(label as u32);
        }
        out.pixels.extend_from_slice(image);
    }
    Ok(())
}
