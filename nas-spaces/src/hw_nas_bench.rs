//! HW-NAS-Bench for NAS-Bench-201: measured (edge GPU, Raspberry Pi 4, Edge TPU, Pixel 3) and
//! estimated (Eyeriss, FPGA) latency and energy of every architecture at batch 1, read from
//! `nb201/hw_nas_bench_nb201.csv` (`idx,dataset,<metric columns>`, documented in
//! `shared/data/README.md`). Rows are NB201 indices, as in [`crate::Nb201Table`].

use std::path::Path;

use nas_core::{Error, Result};

use crate::data::DataDir;
use crate::nb201_table::Dataset;

/// The file inside the data directory.
pub const FILE: &str = "nb201/hw_nas_bench_nb201.csv";

/// One metric column of one dataset, by NB201 index. A value is `None` where the benchmark has none
/// (an empty field or a negative one: HW-NAS-Bench writes `-1` where a device could not run a network).
#[derive(Clone, Debug)]
pub struct HwNasBench {
    metrics: Vec<String>,
    /// `(dataset, values[metric][idx])`.
    tables: Vec<(Dataset, Vec<Vec<f64>>)>,
}

impl HwNasBench {
    /// Loads `nb201/hw_nas_bench_nb201.csv` from a data directory.
    pub fn load(dir: &DataDir) -> Result<Self> {
        Self::from_csv(&dir.file(FILE)?)
    }

    /// Reads a file in the HW-NAS-Bench layout: `idx`, `dataset`, then numeric metric columns. For
    /// each dataset the indices must run 0, 1, 2, ... without gaps (in any row order).
    pub fn from_csv(path: &Path) -> Result<Self> {
        let data_err = |line: Option<u64>, message: String| Error::Data { path: path.to_path_buf(), line, message };
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, &e))?;
        let mut rdr = csv::ReaderBuilder::new().has_headers(true).from_reader(file);
        let headers = rdr.headers().map_err(|e| data_err(Some(1), e.to_string()))?.clone();
        if headers.get(0) != Some("idx") || headers.get(1) != Some("dataset") {
            return Err(data_err(Some(1), "expected the columns to start with idx,dataset".into()));
        }
        let metrics: Vec<String> = headers.iter().skip(2).map(str::to_string).collect();
        let mut tables: Vec<(Dataset, Vec<Vec<f64>>)> = Vec::new();
        let mut record = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(data_err(e.position().map(|p| p.line()), e.to_string())),
            }
            let line = record.position().map(|p| p.line());
            let field = |i: usize| record.get(i).unwrap_or("").trim();
            let idx: usize =
                field(0).parse().map_err(|_| data_err(line, format!("idx {:?} is not an index", field(0))))?;
            let dataset: Dataset = field(1).parse().map_err(|e: Error| data_err(line, e.to_string()))?;
            let pos = match tables.iter().position(|(d, _)| *d == dataset) {
                Some(p) => p,
                None => {
                    tables.push((dataset, vec![Vec::new(); metrics.len()]));
                    tables.len() - 1
                }
            };
            let columns = &mut tables[pos].1;
            for (m, (name, col)) in metrics.iter().zip(columns.iter_mut()).enumerate() {
                let v = field(m + 2);
                let value = if v.is_empty() {
                    f64::NAN
                } else {
                    let x: f64 =
                        v.parse().map_err(|_| data_err(line, format!("column {name:?}: {v:?} is not a number")))?;
                    if x.is_nan() || x < 0.0 { f64::NAN } else { x }
                };
                if col.len() <= idx {
                    col.resize(idx + 1, f64::INFINITY);
                }
                if col[idx] != f64::INFINITY {
                    return Err(data_err(line, format!("{dataset} idx {idx} appears twice")));
                }
                col[idx] = value;
            }
        }
        for (d, columns) in &tables {
            if let Some(gap) = columns.first().and_then(|c| c.iter().position(|v| *v == f64::INFINITY)) {
                return Err(data_err(None, format!("{d} has no row for idx {gap}")));
            }
        }
        if tables.is_empty() {
            return Err(data_err(None, "the table has no rows".into()));
        }
        Ok(HwNasBench { metrics, tables })
    }

    /// The metric columns, e.g. `edgegpu_latency`, `raspi4_latency`, `fpga_energy`.
    pub fn metrics(&self) -> &[String] {
        &self.metrics
    }

    /// The datasets the file has rows for.
    pub fn datasets(&self) -> impl Iterator<Item = Dataset> + '_ {
        self.tables.iter().map(|(d, _)| *d)
    }

    /// A whole metric column of a dataset by NB201 index (NaN where the benchmark has no value).
    pub fn column(&self, dataset: Dataset, metric: &str) -> Result<&[f64]> {
        let m = self.metrics.iter().position(|n| n == metric).ok_or_else(|| {
            Error::invalid(
                "metric",
                format!("HW-NAS-Bench has no column {metric:?}; it has {}", self.metrics.join(", ")),
            )
        })?;
        let (_, columns) = self
            .tables
            .iter()
            .find(|(d, _)| *d == dataset)
            .ok_or_else(|| Error::invalid("dataset", format!("HW-NAS-Bench has no rows for {dataset}")))?;
        Ok(&columns[m])
    }

    /// One value; `None` where the benchmark has none.
    pub fn value(&self, idx: usize, dataset: Dataset, metric: &str) -> Result<Option<f64>> {
        let col = self.column(dataset, metric)?;
        let v =
            *col.get(idx).ok_or_else(|| Error::invalid("index", format!("{idx} is out of range 0..{}", col.len())))?;
        Ok((!v.is_nan()).then_some(v))
    }
}
