//! `nas data check`: what a data directory holds (tables, image sets, NATS directories), with
//! row / image counts, sizes and checksums, and which commands read each.

use std::path::{Path, PathBuf};

use nas_core::Result;
use serde::Serialize;

use crate::data::DataDir;
use crate::image_files;

/// One file or directory the toolkit knows how to use.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Entry {
    /// Relative to the data directory.
    pub path: String,
    /// `table`, `images`, `nats-dir`, `other`.
    pub kind: &'static str,
    /// Whether the file or directory exists.
    pub present: bool,
    /// Data rows (tables), images (image files) or architecture files (NATS directories).
    pub count: Option<usize>,
    /// Size in bytes (files only).
    pub bytes: Option<u64>,
    /// FNV-1a 64-bit hash of the file's bytes, hex (files only).
    pub fnv1a64: Option<String>,
    /// The image layout, for image files and directories.
    pub layout: Option<String>,
    /// The commands that read it.
    pub used_by: Vec<&'static str>,
    /// Why it cannot be used, if it cannot.
    pub problem: Option<String>,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The directory checked.
    pub data_dir: PathBuf,
    /// How the directory was chosen (`--data-dir`, `$NAS_DATA_DIR`, the default).
    pub source: &'static str,
    /// Whether the directory exists.
    pub exists: bool,
    /// One entry per known file, image set or directory.
    pub entries: Vec<Entry>,
}

/// The files every command looks for, and who reads them.
pub const KNOWN: [(&str, &str, &[&str]); 4] = [
    (
        crate::nb201_table::FILE,
        "table",
        &["nas bench top", "nas search", "nas arch", "nas correlate", "nas mathnas", "nas hw fit"],
    ),
    (crate::hw_nas_bench::FILE, "table", &["nas hw fit", "nas cost", "nas mathnas"]),
    ("fbnet/help_latency_fbnet_train4000.csv", "table", &["nas hw", "nas mathnas --space fbnet"]),
    (crate::import::NATS_SSS_FILE, "table", &["(imported NATS size space; no command reads it yet)"]),
];

fn file_facts(path: &Path) -> (Option<u64>, Option<String>, Option<String>) {
    match std::fs::read(path) {
        Ok(b) => (Some(b.len() as u64), Some(format!("{:016x}", nas_core::hash::fnv1a64(&b))), None),
        Err(e) => (None, None, Some(e.to_string())),
    }
}

fn csv_rows(path: &Path) -> std::result::Result<usize, String> {
    let mut r = csv::Reader::from_path(path).map_err(|e| e.to_string())?;
    let mut n = 0;
    for rec in r.records() {
        rec.map_err(|e| e.to_string())?;
        n += 1;
    }
    Ok(n)
}

/// Looks through `dir`.
pub fn check(dir: &DataDir) -> Result<Report> {
    let root = &dir.path;
    let mut entries = Vec::new();
    for (rel, kind, used_by) in KNOWN {
        let p = root.join(rel);
        let present = p.is_file();
        let (bytes, fnv, mut problem) = if present { file_facts(&p) } else { (None, None, None) };
        let count = if present { csv_rows(&p).map_err(|e| problem = Some(e)).ok() } else { None };
        entries.push(Entry {
            path: rel.to_owned(),
            kind,
            present,
            count,
            bytes,
            fnv1a64: fnv,
            layout: None,
            used_by: used_by.to_vec(),
            problem,
        });
    }
    let images = root.join("images");
    for p in sorted_children(&images) {
        let rel = format!("images/{}", p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let name = rel.to_ascii_lowercase();
        if p.is_file() && !name.ends_with(".bin") && name.contains('.') {
            continue; // index files, csv.gz digits
        }
        let found = image_files::detect(&p);
        let (bytes, fnv, read_problem) = if p.is_file() { file_facts(&p) } else { (None, None, None) };
        let (layout, count, problem) = match found {
            Ok(f) if f.layout.is_binary() => {
                let record = if f.layout == image_files::ImageLayout::Cifar10Binary {
                    image_files::CIFAR10_RECORD
                } else {
                    image_files::CIFAR100_RECORD
                };
                let total: u64 = f.files.iter().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum();
                (Some(f.layout.name().to_owned()), Some(total as usize / record), read_problem)
            }
            Ok(f) => match image_files::read_pickled(&f) {
                Ok(raw) => (Some(raw.layout.name().to_owned()), Some(raw.len()), read_problem),
                Err(e) => (Some(f.layout.name().to_owned()), None, Some(e.to_string())),
            },
            Err(e) => (None, None, Some(e.to_string())),
        };
        entries.push(Entry {
            path: rel,
            kind: "images",
            present: true,
            count,
            bytes,
            fnv1a64: fnv,
            layout,
            used_by: vec!["nas score --images", "nas correlate --images"],
            problem,
        });
    }
    for p in sorted_children(&root.join("nats")).into_iter().filter(|p| p.is_dir()) {
        let rel = format!("nats/{}", p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
        let files = sorted_children(&p).iter().filter(|f| f.to_string_lossy().ends_with(".pickle.pbz2")).count();
        let has_meta = p.join("meta.pickle.pbz2").is_file();
        entries.push(Entry {
            path: rel,
            kind: "nats-dir",
            present: true,
            count: Some(files.saturating_sub(usize::from(has_meta))),
            bytes: None,
            fnv1a64: None,
            layout: None,
            used_by: vec!["nas bench nats", "nas data import"],
            problem: (!has_meta).then(|| "no meta.pickle.pbz2".to_owned()),
        });
    }
    Ok(Report { data_dir: root.clone(), source: dir.source, exists: root.is_dir(), entries })
}

fn sorted_children(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
    v.sort();
    v
}
