//! `nas data import`: the benchmarks' official files turned into the tables the toolkit reads,
//! under the names of `shared/data` (columns there documented in its README):
//! - NATS-Bench topology space (`NATS-tss-v1_0-3ffb9-simple/`) and NAS-Bench-201's `.pth` ->
//!   `nb201/nb201_master.csv`, one row per `meta_archs` entry in index order (empty fields for
//!   architectures the source has no results for), the columns of the shared table that the
//!   source has, plus the benchmark's own cost columns `flops_{c10,c100,in16}_M` (`flop`, MFLOPs),
//!   `latency_{c10,c100,in16}_s` (mean of `latency`, seconds) beside the shared `params_*_M`;
//! - NATS-Bench size space (`NATS-sss-v1_0-50262-simple/`) -> `nats/nats_sss.csv` (`arch_str`
//!   is the channels string; the 90-epoch schedule in the unprefixed columns, `e12_`, `e01_`);
//! - HW-NAS-Bench's `HW-NAS-Bench-v1_0.pickle` -> `nb201/hw_nas_bench_nb201.csv`
//!   (`idx,dataset,<the ten metrics>` for cifar10, cifar100, ImageNet16-120).
//!
//! Each table is written beside its final name (`*.csv.partial`) and renamed when complete, so
//! an interrupted import leaves the old table or none, never half of one; re-running restarts it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nas_core::{Error, Result, SearchSpace};
use serde::Serialize;

use crate::nats::{self, NatsArchRecord, NatsDataset};
use crate::nb201::Nb201Space;
use crate::nb201_pth;

/// What an official file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImportKind {
    /// A NATS-Bench topology-space directory (`meta.pickle.pbz2` + `NNNNNN.pickle.pbz2`).
    NatsTss,
    /// A NATS-Bench size-space directory.
    NatsSss,
    /// NAS-Bench-201's `NAS-Bench-201-v1_*.pth` (legacy or zip `torch.save`).
    Nb201Pth,
    /// HW-NAS-Bench's `HW-NAS-Bench-v1_0.pickle`.
    HwNasBench,
}

impl ImportKind {
    pub fn name(self) -> &'static str {
        match self {
            ImportKind::NatsTss => "nats-tss",
            ImportKind::NatsSss => "nats-sss",
            ImportKind::Nb201Pth => "nb201-pth",
            ImportKind::HwNasBench => "hw-nas-bench",
        }
    }

    /// The table it produces, relative to the data directory.
    pub fn table(self) -> &'static str {
        match self {
            ImportKind::NatsTss | ImportKind::Nb201Pth => crate::nb201_table::FILE,
            ImportKind::NatsSss => NATS_SSS_FILE,
            ImportKind::HwNasBench => crate::hw_nas_bench::FILE,
        }
    }
}

impl std::fmt::Display for ImportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The size-space table inside the data directory.
pub const NATS_SSS_FILE: &str = "nats/nats_sss.csv";

/// What to import and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportConfig {
    /// The official file or directory.
    pub from: PathBuf,
    /// The data directory to write into.
    pub out: PathBuf,
    /// `None`: detected from `from`.
    pub kind: Option<ImportKind>,
}

/// What an import wrote.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImportReport {
    pub kind: ImportKind,
    /// Rows written.
    pub rows: usize,
    /// The table written.
    pub out: PathBuf,
    pub seconds: f64,
    /// Architectures with results in the source.
    pub with_results: usize,
}

fn data_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Data { path: path.to_path_buf(), line: None, message: message.into() }
}

/// Finds what `from` is: a NATS directory (its first architecture string tells the space), a
/// `torch.save` file, or a plain pickle (HW-NAS-Bench).
pub fn detect(from: &Path) -> Result<ImportKind> {
    if from.is_dir() {
        if !from.join("meta.pickle.pbz2").is_file() {
            return Err(data_error(from, "a directory to import must be a NATS-Bench one, holding meta.pickle.pbz2"));
        }
        let meta = nats::read_meta(from)?;
        return match meta.archs.first() {
            Some(a) if a.starts_with('|') => Ok(ImportKind::NatsTss),
            Some(a) if a.contains(':') => Ok(ImportKind::NatsSss),
            other => Err(data_error(from, format!("meta_archs starts with {other:?}: neither a cell nor a channels string"))),
        };
    }
    let mut head = [0u8; 16];
    let mut file = std::fs::File::open(from).map_err(|e| Error::io(from, &e))?;
    let n = std::io::Read::read(&mut file, &mut head).map_err(|e| Error::io(from, &e))?;
    if nb201_pth::format_of(&head[..n]).is_some() {
        return Ok(ImportKind::Nb201Pth);
    }
    if n >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
        return Ok(ImportKind::HwNasBench);
    }
    Err(data_error(
        from,
        format!("not a NATS-Bench directory, torch.save file or pickle (starts with {:02x?})", &head[..n.min(8)]),
    ))
}

/// Imports one official file or directory.
pub fn import(config: &ImportConfig) -> Result<ImportReport> {
    let start = Instant::now();
    let kind = match config.kind {
        Some(k) => k,
        None => detect(&config.from)?,
    };
    let out = config.out.join(kind.table());
    let (rows, with_results) = match kind {
        ImportKind::NatsTss | ImportKind::NatsSss => import_nats(&config.from, kind, &out)?,
        ImportKind::Nb201Pth => import_pth(&config.from, &out)?,
        ImportKind::HwNasBench => import_hw(&config.from, &out)?,
    };
    Ok(ImportReport { kind, rows, out, seconds: start.elapsed().as_secs_f64(), with_results })
}

// ---------------------------------------------------------------------------------------------
// Benchmark rows.

/// One value column: its name and how it is read from a record.
type Column = (String, Box<dyn Fn(&NatsArchRecord) -> Option<f64>>);

/// The runs of `dataset` under `hp`, sorted by seed.
fn runs<'r>(rec: &'r NatsArchRecord, hp: &str, dataset: &str) -> Option<&'r NatsDataset> {
    rec.dataset(hp, dataset).ok()
}

fn sorted_seed(d: &NatsDataset, k: usize) -> Option<&nats::NatsRun> {
    let mut seeds: Vec<&nats::NatsRun> = d.runs.iter().collect();
    seeds.sort_by_key(|r| r.seed);
    seeds.get(k).copied()
}

/// The value columns of a space whose main schedule is `full` and short ones `low`, named as in
/// `nb201_master.csv`.
fn columns(full: &'static str, low: &[&'static str]) -> Vec<Column> {
    let mut cols: Vec<Column> = Vec::new();
    let mut add = |name: String, f: Box<dyn Fn(&NatsArchRecord) -> Option<f64>>| cols.push((name, f));
    type Metric = fn(&NatsDataset) -> Option<f64>;
    let main: [(&str, &str, Metric); 9] = [
        ("c10v_valid_acc", "cifar10-valid", NatsDataset::valid_acc),
        ("c10v_test_acc", "cifar10-valid", NatsDataset::test_acc),
        ("c10_test_acc", "cifar10", NatsDataset::test_acc),
        ("c100_valid_acc_derived", "cifar100", NatsDataset::valid_acc),
        ("c100_test_acc", "cifar100", NatsDataset::test_acc),
        ("c100_valtest_acc", "cifar100", NatsDataset::valtest_acc),
        ("in16_valid_acc_derived", "ImageNet16-120", NatsDataset::valid_acc),
        ("in16_test_acc", "ImageNet16-120", NatsDataset::test_acc),
        ("in16_valtest_acc", "ImageNet16-120", NatsDataset::valtest_acc),
    ];
    for (name, ds, f) in main {
        add(name.into(), Box::new(move |r| runs(r, full, ds).and_then(f)));
    }
    let tags = [("c10v", "cifar10-valid"), ("c100", "cifar100"), ("in16", "ImageNet16-120")];
    for (tag, ds) in tags {
        add(format!("{tag}_nseeds"), Box::new(move |r| runs(r, full, ds).map(|d| d.runs.len() as f64)));
    }
    let per_seed: [(&str, &str, fn(&nats::NatsRun) -> Option<f64>); 3] = [
        ("c10v_valid_acc", "cifar10-valid", |r| r.valid_acc),
        ("c100_valtest_acc", "cifar100", |r| r.valtest_acc),
        ("in16_valtest_acc", "ImageNet16-120", |r| r.valtest_acc),
    ];
    for (name, ds, f) in per_seed {
        for k in 0..3 {
            add(format!("{name}_s{k}"), Box::new(move |r| runs(r, full, ds).and_then(|d| sorted_seed(d, k)).and_then(f)));
        }
    }
    let cost_sets = [("c10", "cifar10", "cifar10-valid"), ("c100", "cifar100", ""), ("in16", "ImageNet16-120", "")];
    for (tag, ds, fallback) in cost_sets {
        let first = move |r: &NatsArchRecord| runs(r, full, ds).or_else(|| runs(r, full, fallback)).and_then(|d| d.runs.first().cloned());
        add(format!("params_{tag}_M"), Box::new(move |r| first(r).and_then(|x| x.params)));
    }
    for (tag, ds) in tags {
        add(format!("train_time_{tag}_s"), Box::new(move |r| runs(r, full, ds).and_then(|d| d.mean(|x| x.train_time_total))));
    }
    let c10v = "cifar10-valid";
    add("c10v_train_acc".into(), Box::new(move |r| runs(r, full, c10v).and_then(NatsDataset::train_acc)));
    add("c10v_train_loss".into(), Box::new(move |r| runs(r, full, c10v).and_then(|d| d.mean(|x| x.train_loss))));
    for (name, set) in [("c10v_valid_loss", "x-valid"), ("c10v_test_loss", "ori-test")] {
        add(name.into(), Box::new(move |r| runs(r, full, c10v).and_then(|d| d.mean(|x| x.eval(set).and_then(|e| e.loss)))));
    }
    for &hp in low {
        let short: [(&str, &str, Metric); 6] = [
            ("c10_test_acc", "cifar10", NatsDataset::test_acc),
            ("c10v_valid_acc", "cifar10-valid", NatsDataset::valid_acc),
            ("c100_test_acc", "cifar100", NatsDataset::test_acc),
            ("c100_valid_acc", "cifar100", NatsDataset::valid_acc),
            ("in16_test_acc", "ImageNet16-120", NatsDataset::test_acc),
            ("in16_valid_acc", "ImageNet16-120", NatsDataset::valid_acc),
        ];
        for (name, ds, f) in short {
            add(format!("e{hp}_{name}"), Box::new(move |r| runs(r, hp, ds).and_then(f)));
        }
    }
    for (tag, ds, fallback) in cost_sets {
        let set = move |r: &NatsArchRecord| runs(r, full, ds).or_else(|| runs(r, full, fallback)).cloned();
        add(format!("flops_{tag}_M"), Box::new(move |r| set(r).and_then(|d| d.runs.first().and_then(|x| x.flops))));
        add(format!("latency_{tag}_s"), Box::new(move |r| set(r).and_then(|d| d.mean(|x| x.latency))));
    }
    cols
}

/// A number as the CSV holds it: the shortest text that reads back to the same value (as an
/// `f32` when it is one, as numpy's float32 columns are); empty when missing.
fn number(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => {
            let y = x as f32;
            if f64::from(y) == x { format!("{y}") } else { format!("{x}") }
        }
        _ => String::new(),
    }
}

/// The rows of a benchmark table being built: one per `meta_archs` entry.
struct Rows {
    archs: Vec<String>,
    columns: Vec<Column>,
    values: Vec<Option<Vec<Option<f64>>>>,
    topology: bool,
}

impl Rows {
    fn new(archs: Vec<String>, topology: bool) -> Self {
        let columns = if topology { columns("200", &["12"]) } else { columns("90", &["12", "01"]) };
        let values = vec![None; archs.len()];
        Rows { archs, columns, values, topology }
    }

    fn add(&mut self, rec: &NatsArchRecord, source: &Path) -> Result<()> {
        let Some(arch) = self.archs.get(rec.index) else {
            return Err(data_error(source, format!("architecture {} is beyond meta_archs ({} entries)", rec.index, self.archs.len())));
        };
        if *arch != rec.arch_str {
            return Err(data_error(source, format!("architecture {} is {} in its record but {arch} in meta_archs", rec.index, rec.arch_str)));
        }
        self.values[rec.index] = Some(self.columns.iter().map(|(_, f)| f(rec)).collect());
        Ok(())
    }

    fn with_results(&self) -> usize {
        self.values.iter().filter(|v| v.is_some()).count()
    }

    /// Writes the table to `out` (beside, then renamed).
    fn write(&self, out: &Path) -> Result<usize> {
        let space = Nb201Space::default();
        let mut header: Vec<String> = vec!["idx".into(), "arch_str".into()];
        let mut cells: Vec<(String, String)> = Vec::new(); // (ops, iso_rep_idx) per row
        if self.topology {
            header.extend(["ops".into(), "iso_rep_idx".into()]);
            let mut first_of: HashMap<String, usize> = HashMap::new();
            for (i, a) in self.archs.iter().enumerate() {
                let g = space.parse(a).map_err(|e| Error::invalid("meta_archs", format!("architecture {i}: {e}")))?;
                let rep = *first_of.entry(Nb201Space::iso_key(&g)).or_insert(i);
                cells.push((Nb201Space::ops_code(&g), rep.to_string()));
            }
        }
        header.extend(self.columns.iter().map(|(n, _)| n.clone()));
        write_atomically(out, |w| {
            w.write_record(&header)?;
            for (i, arch) in self.archs.iter().enumerate() {
                let mut row = vec![i.to_string(), arch.clone()];
                if let Some((ops, iso)) = cells.get(i) {
                    row.extend([ops.clone(), iso.clone()]);
                }
                match &self.values[i] {
                    Some(v) => row.extend(v.iter().map(|x| number(*x))),
                    None => row.extend(std::iter::repeat_n(String::new(), self.columns.len())),
                }
                w.write_record(&row)?;
            }
            Ok(())
        })?;
        Ok(self.archs.len())
    }
}

/// Writes a CSV to `path.partial`, then renames it to `path`; on any error the partial file is
/// removed and `path` is untouched.
fn write_atomically(
    path: &Path,
    body: impl FnOnce(&mut csv::Writer<std::io::BufWriter<std::fs::File>>) -> std::result::Result<(), csv::Error>,
) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, &e))?;
    }
    let partial = PathBuf::from(format!("{}.partial", path.display()));
    let result = (|| -> Result<()> {
        let file = std::fs::File::create(&partial).map_err(|e| Error::io(&partial, &e))?;
        let mut w = csv::Writer::from_writer(std::io::BufWriter::new(file));
        body(&mut w).map_err(|e| data_error(&partial, e.to_string()))?;
        let file = w.into_inner().map_err(|e| data_error(&partial, e.to_string()))?;
        let file = file.into_inner().map_err(|e| data_error(&partial, e.to_string()))?;
        file.sync_all().map_err(|e| Error::io(&partial, &e))?;
        std::fs::rename(&partial, path).map_err(|e| Error::io(path, &e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn import_nats(dir: &Path, kind: ImportKind, out: &Path) -> Result<(usize, usize)> {
    let meta = nats::read_meta(dir)?;
    let mut rows = Rows::new(meta.archs.clone(), kind == ImportKind::NatsTss);
    let indices: Vec<usize> = if meta.evaluated_indexes.is_empty() {
        (0..meta.archs.len()).filter(|&i| nats::arch_file(dir, i).is_file()).collect()
    } else {
        meta.evaluated_indexes.clone()
    };
    for i in indices {
        let rec = nats::read_arch(dir, i)?;
        rows.add(&rec, &rec.path.clone())?;
    }
    let n = rows.write(out)?;
    Ok((n, rows.with_results()))
}

fn import_pth(path: &Path, out: &Path) -> Result<(usize, usize)> {
    // Records may come before `meta_archs` in the file: keep their rows, then lay them out.
    let columns = columns("200", &["12"]);
    let mut got: Vec<(usize, String, Vec<Option<f64>>)> = Vec::new();
    let summary = nb201_pth::read_pth(path, |rec| {
        got.push((rec.index, rec.arch_str.clone(), columns.iter().map(|(_, f)| f(&rec)).collect()));
        Ok(())
    })?;
    let mut rows = Rows::new(summary.archs, true);
    for (index, arch, values) in got {
        match rows.archs.get(index) {
            Some(a) if *a == arch => rows.values[index] = Some(values),
            Some(a) => return Err(data_error(path, format!("arch2infos[{index}] is {arch} but meta_archs[{index}] is {a}"))),
            None => return Err(data_error(path, format!("arch2infos[{index}] is beyond meta_archs ({} entries)", rows.archs.len()))),
        }
    }
    let n = rows.write(out)?;
    Ok((n, rows.with_results()))
}

// ---------------------------------------------------------------------------------------------
// HW-NAS-Bench.

/// The metrics of HW-NAS-Bench's NAS-Bench-201 part, in the shared CSV's order.
pub const HW_METRICS: [&str; 10] = [
    "edgegpu_latency",
    "edgegpu_energy",
    "raspi4_latency",
    "edgetpu_latency",
    "pixel3_latency",
    "eyeriss_latency",
    "eyeriss_energy",
    "eyeriss_arithmetic_intensity",
    "fpga_latency",
    "fpga_energy",
];

/// The datasets of HW-NAS-Bench's NAS-Bench-201 part, in the shared CSV's order.
pub const HW_DATASETS: [&str; 3] = ["cifar10", "cifar100", "ImageNet16-120"];

fn import_hw(path: &Path, out: &Path) -> Result<(usize, usize)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, &e))?;
    let root = nats::stream_pickle(std::io::BufReader::new(file), 0, None)
        .map_err(|m| data_error(path, format!("bad pickle: {m}")))?;
    let space = crate::ndarray::get(&root, "nasbench201")
        .ok_or_else(|| data_error(path, "no 'nasbench201' entry (not HW-NAS-Bench's pickle)"))?;
    let mut tables: Vec<(&str, Vec<Vec<f64>>)> = Vec::new();
    let mut n = None;
    for ds in HW_DATASETS {
        let d = crate::ndarray::get(space, ds).ok_or_else(|| data_error(path, format!("nasbench201: no '{ds}'")))?;
        let mut cols = Vec::new();
        for m in HW_METRICS {
            let v = crate::ndarray::get(d, m).ok_or_else(|| data_error(path, format!("nasbench201/{ds}: no '{m}'")))?;
            let v = crate::ndarray::numbers(v).map_err(|e| data_error(path, format!("nasbench201/{ds}/{m}: {e}")))?;
            if *n.get_or_insert(v.len()) != v.len() {
                return Err(data_error(path, format!("nasbench201/{ds}/{m} has {} values, other metrics {n:?}", v.len())));
            }
            cols.push(v);
        }
        tables.push((ds, cols));
    }
    let n = n.unwrap_or(0);
    write_atomically(out, |w| {
        let mut header = vec!["idx", "dataset"];
        header.extend(HW_METRICS);
        w.write_record(&header)?;
        for (ds, cols) in &tables {
            for i in 0..n {
                let mut row = vec![i.to_string(), (*ds).to_owned()];
                row.extend(cols.iter().map(|c| number(Some(c[i]))));
                w.write_record(&row)?;
            }
        }
        Ok(())
    })?;
    Ok((n * HW_DATASETS.len(), n))
}
