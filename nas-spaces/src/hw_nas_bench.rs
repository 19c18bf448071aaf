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

/// The metric columns of every dataset, by NB201 index. A file may hold any subset of the indices
/// (a user's own measurements); the benchmark itself holds all 15,625 for three datasets.
///
/// The one value rule for this layout: an empty field or `-1` (HW-NAS-Bench writes it where a device
/// could not run a network) is *not available*; any other negative number, NaN or non-number is an
/// error naming the line, column and value.
#[derive(Clone, Debug)]
pub struct HwNasBench {
    metrics: Vec<String>,
    tables: Vec<Table>,
}

/// One dataset's rows: `values[metric][idx]`, NaN where the value is not available or the file has
/// no row for `idx` (`present[idx]` tells which).
#[derive(Clone, Debug)]
struct Table {
    dataset: Dataset,
    values: Vec<Vec<f64>>,
    present: Vec<bool>,
}

impl HwNasBench {
    /// Loads `nb201/hw_nas_bench_nb201.csv` from a data directory.
    pub fn load(dir: &DataDir) -> Result<Self> {
        Self::from_csv(&dir.file(FILE)?)
    }

    /// Reads a file in the HW-NAS-Bench layout: `idx`, `dataset`, then numeric metric columns, rows
    /// in any order. An index given twice for a dataset is an error.
    pub fn from_csv(path: &Path) -> Result<Self> {
        let data_err = |line: Option<u64>, message: String| Error::data(path, line, message);
        let mut rdr = crate::csv_input::open(path)?;
        let headers = crate::csv_input::headers(&mut rdr, path)?;
        if !is_layout(&headers) {
            return Err(data_err(Some(1), "expected the columns to start with idx,dataset".into()));
        }
        let metrics: Vec<String> = headers.iter().skip(2).map(str::to_string).collect();
        let mut tables: Vec<Table> = Vec::new();
        let mut record = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(crate::csv_input::record_error(path, &e)),
            }
            let line = record.position().map(|p| p.line());
            let field = |i: usize| record.get(i).unwrap_or("").trim();
            let idx = match field(0).parse::<usize>() {
                Ok(i) if i < crate::nb201::SIZE => i,
                _ => {
                    let size = crate::nb201::SIZE;
                    return Err(data_err(line, format!("idx {:?} is not an NB201 index 0..{size}", field(0))));
                }
            };
            let dataset: Dataset = field(1).parse().map_err(|e: Error| data_err(line, e.to_string()))?;
            let pos = match tables.iter().position(|t| t.dataset == dataset) {
                Some(p) => p,
                None => {
                    tables.push(Table { dataset, values: vec![Vec::new(); metrics.len()], present: Vec::new() });
                    tables.len() - 1
                }
            };
            let table = &mut tables[pos];
            if table.present.len() <= idx {
                table.present.resize(idx + 1, false);
                for col in &mut table.values {
                    col.resize(idx + 1, f64::NAN);
                }
            }
            if table.present[idx] {
                return Err(data_err(line, format!("{dataset} idx {idx} appears twice")));
            }
            table.present[idx] = true;
            for (m, (name, col)) in metrics.iter().zip(table.values.iter_mut()).enumerate() {
                col[idx] = parse_value(field(m + 2)).map_err(|v| {
                    data_err(
                        line,
                        format!("column {name:?}: {v:?} is not a measurement (a number >= 0, or -1 for none)"),
                    )
                })?;
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
        self.tables.iter().map(|t| t.dataset)
    }

    /// A whole metric column of a dataset by NB201 index, up to the largest index in the file (NaN
    /// where there is no value).
    pub fn column(&self, dataset: Dataset, metric: &str) -> Result<&[f64]> {
        let (table, m) = self.find(dataset, metric)?;
        Ok(&table.values[m])
    }

    /// The rows of a dataset that the file has, as `(idx, value)` with `None` where the value is not
    /// available, in index order.
    pub fn rows(&self, dataset: Dataset, metric: &str) -> Result<impl Iterator<Item = (usize, Option<f64>)> + '_> {
        let (table, m) = self.find(dataset, metric)?;
        Ok(table
            .present
            .iter()
            .zip(&table.values[m])
            .enumerate()
            .filter(|(_, (p, _))| **p)
            .map(|(i, (_, v))| (i, (!v.is_nan()).then_some(*v))))
    }

    fn find(&self, dataset: Dataset, metric: &str) -> Result<(&Table, usize)> {
        let m = self.metrics.iter().position(|n| n == metric).ok_or_else(|| {
            Error::invalid(
                "metric",
                format!("HW-NAS-Bench has no column {metric:?}; it has {}", self.metrics.join(", ")),
            )
        })?;
        let table = self
            .tables
            .iter()
            .find(|t| t.dataset == dataset)
            .ok_or_else(|| Error::invalid("dataset", format!("HW-NAS-Bench has no rows for {dataset}")))?;
        Ok((table, m))
    }

    /// One value; `None` where the benchmark has none.
    pub fn value(&self, idx: usize, dataset: Dataset, metric: &str) -> Result<Option<f64>> {
        let col = self.column(dataset, metric)?;
        let v =
            *col.get(idx).ok_or_else(|| Error::invalid("index", format!("{idx} is out of range 0..{}", col.len())))?;
        Ok((!v.is_nan()).then_some(v))
    }
}

/// Whether a header is the HW-NAS-Bench layout (`idx,dataset,...`).
pub fn is_layout(headers: &csv::StringRecord) -> bool {
    headers.get(0) == Some("idx") && headers.get(1) == Some("dataset")
}

/// The value rule: empty or `-1` is NaN (not available); any other negative, NaN or non-number is
/// returned as the error.
fn parse_value(v: &str) -> std::result::Result<f64, &str> {
    if v.is_empty() {
        return Ok(f64::NAN);
    }
    match v.parse::<f64>() {
        Ok(-1.0) => Ok(f64::NAN),
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("nas_hwnb_{}_{name}.csv", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn a_partial_file_reads_and_the_value_rule_holds() {
        let p = write("ok", "idx,dataset,a_latency,b_energy\n5,cifar10,1.5,-1\n2,cifar10,2,\n2,cifar100,3,4\n");
        let hw = HwNasBench::from_csv(&p).unwrap();
        let rows: Vec<_> = hw.rows(Dataset::Cifar10, "b_energy").unwrap().collect();
        assert_eq!(rows, vec![(2, None), (5, None)]);
        let rows: Vec<_> = hw.rows(Dataset::Cifar10, "a_latency").unwrap().collect();
        assert_eq!(rows, vec![(2, Some(2.0)), (5, Some(1.5))]);
        assert_eq!(hw.column(Dataset::Cifar100, "b_energy").unwrap().len(), 3);
        assert_eq!(hw.value(2, Dataset::Cifar100, "b_energy").unwrap(), Some(4.0));
        assert_eq!(hw.value(0, Dataset::Cifar100, "b_energy").unwrap(), None);
        let _ = std::fs::remove_file(p);

        for (name, text, want) in [
            ("neg", "idx,dataset,a\n0,cifar10,-2\n", "line 2: column \"a\": \"-2\" is not a measurement"),
            ("nan", "idx,dataset,a\n0,cifar10,NaN\n", "\"NaN\" is not a measurement"),
            ("twice", "idx,dataset,a\n0,cifar10,1\n0,cifar10,2\n", "cifar10 idx 0 appears twice"),
            ("header", "dataset,idx,a\n", "idx,dataset"),
            ("inf", "idx,dataset,a\n0,cifar10,inf\n", "\"inf\" is not a measurement"),
            ("big", "idx,dataset,a\n0,cifar10,1e309\n", "\"1e309\" is not a measurement"),
            ("idx", "idx,dataset,a\n18446744073709551615,cifar10,1\n", "not an NB201 index 0..15625"),
            ("idx2", "idx,dataset,a\n15625,cifar10,1\n", "not an NB201 index"),
            ("dup", "idx,dataset,a,a\n0,cifar10,1,2\n", "\"a\" appears twice"),
            ("empty", "", "the file is empty"),
        ] {
            let p = write(name, text);
            let e = HwNasBench::from_csv(&p).unwrap_err().to_string();
            assert!(e.contains(want), "{name}: {e}");
            let _ = std::fs::remove_file(p);
        }
    }
}
