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
    /// The kind's name on the command line (`nats-tss`, `nb201-pth`, ...).
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
    /// What was imported.
    pub kind: ImportKind,
    /// Rows written.
    pub rows: usize,
    /// The table written.
    pub out: PathBuf,
    /// Wall time of the import.
    pub seconds: f64,
    /// Architectures with results in the source.
    pub with_results: usize,
}

fn data_error(path: &Path, message: impl Into<String>) -> Error {
    Error::data(path, None, message)
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
            other => {
                Err(data_error(from, format!("meta_archs starts with {other:?}: neither a cell nor a channels string")))
            }
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
type Column = (String, Getter);
/// Reads one value of a record.
type Getter = Box<dyn Fn(&NatsArchRecord) -> Option<f64>>;
/// Reads one value of a run.
type RunMetric = fn(&nats::NatsRun) -> Option<f64>;

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
    let mut add = |name: String, f: Getter| cols.push((name, f));
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
    let per_seed: [(&str, &str, RunMetric); 3] = [
        ("c10v_valid_acc", "cifar10-valid", |r| r.valid_acc),
        ("c100_valtest_acc", "cifar100", |r| r.valtest_acc),
        ("in16_valtest_acc", "ImageNet16-120", |r| r.valtest_acc),
    ];
    for (name, ds, f) in per_seed {
        for k in 0..3 {
            add(
                format!("{name}_s{k}"),
                Box::new(move |r| runs(r, full, ds).and_then(|d| sorted_seed(d, k)).and_then(f)),
            );
        }
    }
    let cost_sets = [("c10", "cifar10", "cifar10-valid"), ("c100", "cifar100", ""), ("in16", "ImageNet16-120", "")];
    for (tag, ds, fallback) in cost_sets {
        let first = move |r: &NatsArchRecord| {
            runs(r, full, ds).or_else(|| runs(r, full, fallback)).and_then(|d| d.runs.first().cloned())
        };
        add(format!("params_{tag}_M"), Box::new(move |r| first(r).and_then(|x| x.params)));
    }
    for (tag, ds) in tags {
        add(
            format!("train_time_{tag}_s"),
            Box::new(move |r| runs(r, full, ds).and_then(|d| d.mean(|x| x.train_time_total))),
        );
    }
    let c10v = "cifar10-valid";
    add("c10v_train_acc".into(), Box::new(move |r| runs(r, full, c10v).and_then(NatsDataset::train_acc)));
    add("c10v_train_loss".into(), Box::new(move |r| runs(r, full, c10v).and_then(|d| d.mean(|x| x.train_loss))));
    for (name, set) in [("c10v_valid_loss", "x-valid"), ("c10v_test_loss", "ori-test")] {
        add(
            name.into(),
            Box::new(move |r| runs(r, full, c10v).and_then(|d| d.mean(|x| x.eval(set).and_then(|e| e.loss)))),
        );
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
            return Err(data_error(
                source,
                format!("architecture {} is beyond meta_archs ({} entries)", rec.index, self.archs.len()),
            ));
        };
        if *arch != rec.arch_str {
            return Err(data_error(
                source,
                format!("architecture {} is {} in its record but {arch} in meta_archs", rec.index, rec.arch_str),
            ));
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
            Some(a) => {
                return Err(data_error(path, format!("arch2infos[{index}] is {arch} but meta_archs[{index}] is {a}")));
            }
            None => {
                return Err(data_error(
                    path,
                    format!("arch2infos[{index}] is beyond meta_archs ({} entries)", rows.archs.len()),
                ));
            }
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
                return Err(data_error(
                    path,
                    format!("nasbench201/{ds}/{m} has {} values, other metrics {n:?}", v.len()),
                ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("nas-import-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    type Table = (Vec<String>, HashMap<String, Vec<String>>);

    /// A CSV as its header and rows keyed by the first `key_cols` fields joined.
    fn read_csv(path: &Path, key_cols: usize) -> Table {
        let mut r = csv::Reader::from_path(path).unwrap();
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
        let rows = r
            .records()
            .map(|rec| {
                let rec: Vec<String> = rec.unwrap().iter().map(str::to_owned).collect();
                (rec[..key_cols].join(","), rec)
            })
            .collect();
        (header, rows)
    }

    /// Every column both tables have agrees on row `key`: text exactly, numbers to the shared
    /// table's stored precision (6 decimals) or `rel` relative.
    fn agree(got: &Table, want: &Table, key: &str, rel: f64) -> usize {
        let (g, w) = (&got.1[key], &want.1[key]);
        let mut n = 0;
        for (j, name) in want.0.iter().enumerate() {
            let Some(i) = got.0.iter().position(|h| h == name) else { continue };
            let (a, b) = (&g[i], &w[j]);
            match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(x), Ok(y)) => {
                    let tol = (5e-7_f64).max(rel * y.abs());
                    assert!((x - y).abs() <= tol, "row {key} column {name}: imported {a}, shared {b}");
                }
                _ => assert_eq!(a, b, "row {key} column {name}"),
            }
            n += 1;
        }
        n
    }

    #[test]
    fn import_real_nats_topology_samples_agree_with_the_shared_csv_on_every_common_column() {
        let Some(data) = crate::data::for_tests("nats/NATS-tss-v1_0-3ffb9-simple/meta.pickle.pbz2") else { return };
        let Some(_) = crate::data::for_tests(crate::nb201_table::FILE) else { return };
        let out = scratch("nats-tss");
        let from = data.path.join("nats/NATS-tss-v1_0-3ffb9-simple");
        assert_eq!(detect(&from).unwrap(), ImportKind::NatsTss);
        let report = import(&ImportConfig { from, out: out.clone(), kind: None }).unwrap();
        assert_eq!((report.kind, report.rows, report.with_results), (ImportKind::NatsTss, 15_625, 3));
        let got = read_csv(&report.out, 1);
        let want = read_csv(&data.path.join(crate::nb201_table::FILE), 1);
        for key in ["0", "11", "284"] {
            assert_eq!(agree(&got, &want, key, 0.0), want.0.len(), "every shared column is imported");
        }
        // Rows without a file: the architecture and its class, no results.
        assert_eq!(got.1["5"][..4], want.1["5"][..4]);
        assert!(got.1["5"][4..].iter().all(String::is_empty));
        let table = crate::Nb201Table::from_csv(&report.out).unwrap();
        assert_eq!(table.len(), 15_625);
        assert!(table.value(11, "flops_c10_M").unwrap().is_some_and(|f| f > 100.0));
        assert!(table.value(11, "latency_c10_s").unwrap().is_some_and(|l| l > 0.0 && l < 1.0));
        assert!(!out.join("nb201/nb201_master.csv.partial").exists());
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn import_real_nats_size_space_samples() {
        let Some(data) = crate::data::for_tests("nats/NATS-sss-v1_0-50262-simple/meta.pickle.pbz2") else { return };
        let out = scratch("nats-sss");
        let from = data.path.join("nats/NATS-sss-v1_0-50262-simple");
        let report = import(&ImportConfig { from, out: out.clone(), kind: None }).unwrap();
        assert_eq!((report.kind, report.rows, report.with_results), (ImportKind::NatsSss, 32_768, 3));
        let got = read_csv(&report.out, 1);
        assert_eq!(got.1["0"][1], "8:8:8:8:8");
        let col = |name: &str| got.0.iter().position(|h| h == name).unwrap();
        let acc: f64 = got.1["11"][col("c100_test_acc")].parse().unwrap();
        assert!((0.0..=100.0).contains(&acc));
        assert!(!got.1["11"][col("e01_c10_test_acc")].is_empty() && !got.1["11"][col("flops_c10_M")].is_empty());
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn import_pth_legacy_and_zip_give_the_same_table_as_the_shared_csv() {
        let Some(data) = crate::data::for_tests(crate::nb201_table::FILE) else { return };
        let want = read_csv(&data.path.join(crate::nb201_table::FILE), 1);
        let mut tables = Vec::new();
        for name in ["nb201-2-legacy.pth", "nb201-2-zip.pth"] {
            let out = scratch(name);
            assert_eq!(detect(&fixture(name)).unwrap(), ImportKind::Nb201Pth);
            let report = import(&ImportConfig { from: fixture(name), out: out.clone(), kind: None }).unwrap();
            assert_eq!((report.rows, report.with_results), (2, 2));
            let got = read_csv(&report.out, 1);
            for key in ["0", "1"] {
                assert_eq!(agree(&got, &want, key, 0.0), want.0.len());
            }
            tables.push(std::fs::read(&report.out).unwrap());
            std::fs::remove_dir_all(&out).unwrap();
        }
        assert_eq!(tables[0], tables[1], "legacy and zip files give the same table");
    }

    #[test]
    fn truncated_or_corrupt_files_are_one_line_errors_and_leave_the_old_table() {
        let out = scratch("truncated");
        let table = out.join(crate::nb201_table::FILE);
        let good = import(&ImportConfig { from: fixture("nb201-2-legacy.pth"), out: out.clone(), kind: None }).unwrap();
        let before = std::fs::read(&good.out).unwrap();
        let fail = |name: &str, bytes: &[u8], kind: Option<ImportKind>| {
            let f = out.join(name);
            std::fs::write(&f, bytes).unwrap();
            let e = import(&ImportConfig { from: f, out: out.clone(), kind }).unwrap_err().to_string();
            assert!(!e.contains('\n') && e.contains(name), "{e}");
            assert_eq!(std::fs::read(&table).unwrap(), before, "the old table is untouched");
            assert!(!out.join("nb201/nb201_master.csv.partial").exists());
            e
        };
        let legacy = std::fs::read(fixture("nb201-2-legacy.pth")).unwrap();
        let e = fail("cut.pth", &legacy[..legacy.len() * 2 / 3], None);
        assert!(e.contains("truncated pickle") && e.contains("at byte"), "{e}");
        let mut bad = legacy.clone();
        let mid = bad.len() / 2;
        bad[mid..mid + 8].copy_from_slice(b"\xff\xff\xff\xff\xff\xff\xff\xff");
        let e = fail("corrupt.pth", &bad, None);
        assert!(e.contains("at byte"), "{e}");
        let zip = std::fs::read(fixture("nb201-2-zip.pth")).unwrap();
        let e = fail("cut-zip.pth", &zip[..zip.len() / 2], Some(ImportKind::Nb201Pth));
        assert!(e.contains("truncated") && e.contains(&format!("{} bytes", zip.len() / 2)), "{e}");
        let hw = std::fs::read(fixture("hw-nas-bench-5.pickle")).unwrap();
        let e = fail("cut.pickle", &hw[..hw.len() - 100], Some(ImportKind::HwNasBench));
        assert!(e.contains("truncated pickle") && e.contains("at byte"), "{e}");
        let e = fail("junk.bin", b"hello", None);
        assert!(e.contains("not a NATS-Bench directory, torch.save file or pickle"), "{e}");
        std::fs::remove_dir_all(&out).unwrap();
    }

    #[test]
    fn a_truncated_nats_file_is_an_error_naming_it_and_writes_no_table() {
        let Some(data) = crate::data::for_tests("nats/NATS-tss-v1_0-3ffb9-simple/meta.pickle.pbz2") else { return };
        let dir = scratch("nats-cut");
        let from = dir.join("NATS-tss-v1_0-3ffb9-simple");
        std::fs::create_dir_all(&from).unwrap();
        for f in ["meta.pickle.pbz2", "000000.pickle.pbz2", "000011.pickle.pbz2"] {
            let bytes = std::fs::read(data.path.join("nats/NATS-tss-v1_0-3ffb9-simple").join(f)).unwrap();
            let keep = if f.starts_with("000011") { bytes.len() / 2 } else { bytes.len() };
            std::fs::write(from.join(f), &bytes[..keep]).unwrap();
        }
        let out = dir.join("out");
        let e = import(&ImportConfig { from, out: out.clone(), kind: None }).unwrap_err().to_string();
        assert!(e.contains("000011.pickle.pbz2") && !e.contains('\n'), "{e}");
        assert!(!out.join(crate::nb201_table::FILE).exists() && !out.join("nb201/nb201_master.csv.partial").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn import_hw_nas_bench_pickle_matches_the_shared_csv() {
        let Some(data) = crate::data::for_tests(crate::hw_nas_bench::FILE) else { return };
        let out = scratch("hw");
        let from = fixture("hw-nas-bench-5.pickle");
        assert_eq!(detect(&from).unwrap(), ImportKind::HwNasBench);
        let report = import(&ImportConfig { from, out: out.clone(), kind: None }).unwrap();
        assert_eq!((report.rows, report.with_results), (15, 5));
        let got = read_csv(&report.out, 2);
        let want = read_csv(&data.path.join(crate::hw_nas_bench::FILE), 2);
        assert_eq!(got.0, want.0);
        for ds in HW_DATASETS {
            for i in 0..5 {
                // edgegpu_latency is stored as float32 in the fixture: 1e-7 relative.
                assert_eq!(agree(&got, &want, &format!("{i},{ds}"), 1e-7), 12);
            }
        }
        let hw = crate::HwNasBench::from_csv(&report.out).unwrap();
        assert_eq!(hw.metrics().len(), 10);
        std::fs::remove_dir_all(&out).unwrap();
    }
}
