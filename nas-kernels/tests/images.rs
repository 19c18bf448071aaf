//! Every image layout reads the same images: the committed python / ImageNet16 fixtures
//! (`nas-spaces/tests/fixtures`, built by `scripts/make_image_fixtures.py` from the shared
//! binary files) against the shared CIFAR binary files, byte for byte.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use nas_kernels::images::{self, ImageDataset, ImageSet};
use nas_spaces::image_files::{self, ImageLayout};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../nas-spaces/tests/fixtures")
}

/// A shared image file, or `None` (printing why) when the data is absent.
fn shared(name: &str) -> Option<PathBuf> {
    nas_spaces::data::for_tests(&format!("images/{name}")).map(|d| d.path.join("images").join(name))
}

fn open(path: &Path) -> ImageSet {
    let found = image_files::detect(path).unwrap();
    let raw = image_files::read_pickled(&found).unwrap();
    let dataset = ImageDataset::from_name(raw.layout.dataset()).unwrap();
    ImageSet::from_raw(dataset, raw.layout.name(), raw.pixels, raw.labels, path.display().to_string()).unwrap()
}

/// Record `i` of a binary set, as (pixels, label).
fn record(set: &ImageSet, i: usize) -> (Vec<u8>, u32) {
    (set.image(i).to_vec(), set.labels[i])
}

#[test]
fn cifar10_python_batches_match_the_binary_files() {
    let (Some(train), Some(test)) = (shared("cifar10_train_5443.bin"), shared("cifar10_test_first1017.bin")) else {
        return;
    };
    let train = images::read_binary(&train, None).unwrap();
    assert_eq!((train.dataset, train.len()), (ImageDataset::Cifar10, 5443));
    let index = std::fs::read_to_string(train.source.replace(".bin", ".idx.csv")).unwrap();
    let first_of = |batch: u32| index.lines().skip(1).position(|l| l.starts_with(&format!("{batch},0,"))).unwrap();

    let dir = fixtures().join("cifar-10-batches-py");
    let found = image_files::detect(&dir).unwrap();
    assert_eq!(found.layout, ImageLayout::Cifar10Python);
    assert_eq!(found.files.len(), 5);
    let py = open(&dir);
    assert_eq!((py.dataset, py.len(), py.height), (ImageDataset::Cifar10, 6, 32));
    let expected: Vec<usize> = vec![0, 1, first_of(2), first_of(3), first_of(4), first_of(5)];
    for (i, &r) in expected.iter().enumerate() {
        assert_eq!(record(&py, i), record(&train, r), "image {i} = binary record {r}");
    }
    assert_eq!(py.labels[..2], [6, 9]);

    let test = images::read_binary(&test, None).unwrap();
    let py_test = open(&dir.join("test_batch"));
    assert_eq!(py_test.len(), 2);
    assert_eq!((record(&py_test, 0), record(&py_test, 1)), (record(&test, 0), record(&test, 1)));
    assert_eq!(py_test.labels, [3, 8]);
}

#[test]
fn cifar100_python_matches_the_binary_file_and_normalises_as_cifar100() {
    let Some(bin) = shared("cifar100_train_first1117.bin") else { return };
    let bin = images::read_binary(&bin, None).unwrap();
    assert_eq!((bin.dataset, bin.len(), bin.labels[0]), (ImageDataset::Cifar100, 1117, 19));
    let dir = fixtures().join("cifar-100-python");
    assert_eq!(image_files::detect(&dir).unwrap().layout, ImageLayout::Cifar100Python);
    let train = open(&dir);
    assert_eq!((train.dataset, train.len()), (ImageDataset::Cifar100, 2));
    assert_eq!((record(&train, 0), record(&train, 1)), (record(&bin, 0), record(&bin, 1)));
    assert_eq!(record(&open(&dir.join("test")), 0), record(&bin, 2));

    // CIFAR-100's own mean and std, not CIFAR-10's.
    let batch = train.batch(1).unwrap();
    let p = train.pixels[1024]; // first green pixel
    let want = (f32::from(p) / 255.0 - images::CIFAR100_MEAN[1]) / images::CIFAR100_STD[1];
    assert_eq!(batch.pixels[1024], want);
    assert_ne!(want, (f32::from(p) / 255.0 - images::CIFAR10_MEAN[1]) / images::CIFAR10_STD[1]);
    assert!(batch.source.contains("cifar100 normalisation"), "{}", batch.source);
    let e = train.check_dataset(ImageDataset::Cifar10).unwrap_err().to_string();
    assert!(e.contains("cifar100 images") && e.contains("the dataset is cifar10"), "{e}");
}

#[test]
fn imagenet16_batches_keep_120_classes_and_match_subsampled_cifar_pixels() {
    let Some(test) = shared("cifar10_test_first1017.bin") else { return };
    let test = images::read_binary(&test, None).unwrap();
    let small = |i: usize| -> Vec<u8> {
        let img = test.image(i);
        (0..3)
            .flat_map(|c| (0..16).flat_map(move |y| (0..16).map(move |x| img[c * 1024 + 2 * y * 32 + 2 * x])))
            .collect()
    };
    let dir = fixtures().join("imagenet16");
    let found = image_files::detect(&dir).unwrap();
    assert_eq!((found.layout, found.files.len()), (ImageLayout::ImageNet16, 10));
    let raw = image_files::read_pickled(&found).unwrap();
    assert_eq!((raw.len(), raw.dropped), (10, 1)); // the label-500 image is not one of the 120 classes
    let set = open(&dir);
    assert_eq!((set.dataset, set.height, set.width), (ImageDataset::ImageNet16, 16, 16));
    for i in 0..10 {
        assert_eq!(record(&set, i), (small(i), test.labels[i]), "image {i}");
    }
    let val = open(&dir.join("val_data"));
    assert_eq!(record(&val, 0), (small(10), test.labels[10]));
    let batch = set.batch(2).unwrap();
    assert_eq!(batch.pixels.len(), 2 * 3 * 256);
    let mean = ImageDataset::ImageNet16.mean();
    assert_eq!(batch.pixels[0], (f32::from(set.pixels[0]) / 255.0 - mean[0]) / ImageDataset::ImageNet16.std()[0]);
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nas-images-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn wrong_sizes_layouts_and_truncation_are_errors_naming_what_was_found() {
    let dir = scratch("errors");
    let batch = std::fs::read(fixtures().join("cifar-10-batches-py/data_batch_1")).unwrap();
    let cut = dir.join("data_batch_1");
    std::fs::write(&cut, &batch[..batch.len() / 2]).unwrap();
    let e = image_files::read_pickled(&image_files::detect(&cut).unwrap()).unwrap_err().to_string();
    assert!(e.contains("data_batch_1") && e.contains("truncated pickle") && e.contains("at byte"), "{e}");

    // ImageNet16 rows under a CIFAR-10 batch name: read for what they are, and refused in a mix.
    let inet = std::fs::read(fixtures().join("imagenet16/val_data")).unwrap();
    std::fs::write(dir.join("data_batch_1"), &batch).unwrap();
    std::fs::write(dir.join("data_batch_2"), &inet).unwrap();
    let e = image_files::read_pickled(&image_files::detect(&dir).unwrap()).unwrap_err().to_string();
    assert!(e.contains("data_batch_2: holds imagenet16-120-python images, the files before it cifar10-python"), "{e}");

    let bin = dir.join("odd.bin");
    std::fs::write(&bin, vec![0u8; 3073 * 2 + 5]).unwrap();
    let e = image_files::detect(&bin).unwrap_err().to_string();
    assert!(e.contains("6151 bytes") && e.contains("remainder 5"), "{e}");
    let e = images::read_binary(&bin, Some(ImageDataset::Cifar10)).unwrap_err().to_string();
    assert!(e.contains("6151 bytes is not a whole number of 3073-byte"), "{e}");
    std::fs::write(&bin, vec![0u8; 3074 * 3]).unwrap();
    assert_eq!(images::read_binary(&bin, None).unwrap().dataset, ImageDataset::Cifar100);
    let e = images::read_binary(&bin, Some(ImageDataset::Cifar10)).unwrap_err().to_string();
    assert!(e.contains("9222 bytes is not a whole number of 3073-byte CIFAR-10"), "{e}");
    assert!(image_files::detect(&scratch("empty")).unwrap_err().to_string().contains("no image layout found"));
    std::fs::remove_dir_all(&dir).unwrap();
}
