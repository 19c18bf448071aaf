//! The NAS-Bench-201 benchmark table: trained accuracies of all 15,625 architectures, read from
//! `nb201/nb201_master.csv` (columns documented in `shared/data/README.md`).

use std::collections::HashMap;
use std::path::Path;

use nas_core::{Error, Genotype, Result, SearchSpace};
use serde::{Deserialize, Serialize};

use crate::data::DataDir;
use crate::nb201::Nb201Space;
use crate::table_evaluator::TableEvaluator;

/// The table's file inside the data directory.
pub const FILE: &str = "nb201/nb201_master.csv";

/// A dataset of the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Dataset {
    /// CIFAR-10 trained on 25k images, validated on the other 25k.
    #[serde(rename = "cifar10-valid")]
    Cifar10Valid,
    /// CIFAR-10 trained on all 50k training images.
    #[serde(rename = "cifar10")]
    Cifar10,
    /// CIFAR-100.
    #[serde(rename = "cifar100")]
    Cifar100,
    /// ImageNet16-120 (120 classes of 16x16 ImageNet).
    #[serde(rename = "ImageNet16-120")]
    ImageNet16,
}

impl Dataset {
    /// Every dataset of the benchmark.
    pub const ALL: [Dataset; 4] = [Dataset::Cifar10Valid, Dataset::Cifar10, Dataset::Cifar100, Dataset::ImageNet16];

    /// The name the benchmark uses, e.g. `cifar10-valid`.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Cifar10Valid => "cifar10-valid",
            Dataset::Cifar10 => "cifar10",
            Dataset::Cifar100 => "cifar100",
            Dataset::ImageNet16 => "ImageNet16-120",
        }
    }
}

impl std::fmt::Display for Dataset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Dataset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Dataset::ALL.into_iter().find(|d| d.name().eq_ignore_ascii_case(s)).ok_or_else(|| {
            Error::invalid(
                "dataset",
                format!("unknown dataset {s:?}; expected cifar10-valid, cifar10, cifar100 or ImageNet16-120"),
            )
        })
    }
}

/// Which split an accuracy is measured on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// The training images.
    Train,
    /// The validation split.
    Valid,
    /// The test split.
    Test,
}

impl std::str::FromStr for Split {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Split::Train),
            "valid" | "val" | "validation" => Ok(Split::Valid),
            "test" => Ok(Split::Test),
            other => Err(Error::invalid("metric", format!("unknown metric {other:?}; expected train, valid or test"))),
        }
    }
}

/// The training schedule: the full 200 epochs, or the short 12-epoch one (`hp=12`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Epochs {
    /// The 12-epoch schedule.
    E12,
    /// The full 200-epoch schedule.
    E200,
}

/// The column holding an accuracy, if the benchmark has it.
///
/// Validation on CIFAR-10 is that of `cifar10-valid` (the model trained on 25k images), as the
/// NAS-Bench-201 paper reports it; validation on CIFAR-100 and ImageNet16-120 is the benchmark's
/// `x-valid` half of the test set (`*_valid_acc_derived` = 2 * valtest - test).
pub fn accuracy_column(dataset: Dataset, split: Split, epochs: Epochs) -> Option<&'static str> {
    use {Dataset::*, Epochs::*, Split::*};
    Some(match (epochs, dataset, split) {
        (E200, Cifar10Valid, Train) => "c10v_train_acc",
        (E200, Cifar10Valid | Cifar10, Valid) => "c10v_valid_acc",
        (E200, Cifar10Valid, Test) => "c10v_test_acc",
        (E200, Cifar10, Test) => "c10_test_acc",
        (E200, Cifar100, Valid) => "c100_valid_acc_derived",
        (E200, Cifar100, Test) => "c100_test_acc",
        (E200, ImageNet16, Valid) => "in16_valid_acc_derived",
        (E200, ImageNet16, Test) => "in16_test_acc",
        (E12, Cifar10Valid | Cifar10, Valid) => "e12_c10v_valid_acc",
        (E12, Cifar10, Test) => "e12_c10_test_acc",
        (E12, Cifar100, Valid) => "e12_c100_valid_acc",
        (E12, Cifar100, Test) => "e12_c100_test_acc",
        (E12, ImageNet16, Valid) => "e12_in16_valid_acc",
        (E12, ImageNet16, Test) => "e12_in16_test_acc",
        _ => return None,
    })
}

/// The benchmark table, queryable by index, architecture string or genotype.
#[derive(Clone, Debug)]
pub struct Nb201Table {
    archs: Vec<String>,
    genotypes: Vec<Genotype>,
    iso_rep: Vec<Option<usize>>,
    by_arch: HashMap<String, usize>,
    by_code: Vec<Option<usize>>,
    columns: Vec<(String, Vec<f64>)>,
}

impl Nb201Table {
    /// Loads `nb201/nb201_master.csv` from a data directory.
    pub fn load(dir: &DataDir) -> Result<Self> {
        Self::from_csv(&dir.file(FILE)?)
    }

    /// Loads a table in the layout of `nb201_master.csv`: `idx` (0, 1, 2, ... in order) and
    /// `arch_str` are required; every other column is read as numbers (empty = missing).
    pub fn from_csv(path: &Path) -> Result<Self> {
        let file = nas_core::fsio::open_regular(path)?;
        Self::from_reader(file, path)
    }

    fn from_reader(reader: impl std::io::Read, path: &Path) -> Result<Self> {
        let data_err = |line: Option<u64>, message: String| Error::data(path, line, message);
        let mut rdr = csv::ReaderBuilder::new().has_headers(true).from_reader(reader);
        let headers = crate::csv_input::headers(&mut rdr, path)?;
        let find = |name: &str| headers.iter().position(|h| h == name);
        let need = |name: &str| find(name).ok_or_else(|| data_err(Some(1), format!("missing column {name:?}")));
        let idx_col = need("idx")?;
        let arch_col = need("arch_str")?;
        let ops_col = find("ops");
        let iso_col = find("iso_rep_idx");
        let numeric: Vec<(usize, String)> = headers
            .iter()
            .enumerate()
            .filter(|(i, _)| ![Some(idx_col), Some(arch_col), ops_col, iso_col].contains(&Some(*i)))
            .map(|(i, h)| (i, h.to_string()))
            .collect();

        let space = Nb201Space::default();
        let mut table = Nb201Table {
            archs: Vec::new(),
            genotypes: Vec::new(),
            iso_rep: Vec::new(),
            by_arch: HashMap::new(),
            by_code: vec![None; crate::nb201::SIZE],
            columns: numeric.iter().map(|(_, h)| (h.clone(), Vec::new())).collect(),
        };
        let mut record = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(crate::csv_input::record_error(path, &e)),
            }
            let line = record.position().map(|p| p.line());
            let row = table.archs.len();
            let field = |i: usize| record.get(i).unwrap_or("");
            let idx: usize = field(idx_col)
                .parse()
                .map_err(|_| data_err(line, format!("idx {:?} is not an index", field(idx_col))))?;
            if idx != row {
                return Err(data_err(line, format!("idx {idx} out of order: expected {row}")));
            }
            let arch = field(arch_col).to_string();
            let g = space.parse(&arch).map_err(|e| data_err(line, e.to_string()))?;
            if let Some(c) = ops_col {
                let code = Nb201Space::ops_code(&g);
                if field(c) != code {
                    return Err(data_err(line, format!("ops {:?} disagrees with arch_str (ops {code})", field(c))));
                }
            }
            let iso = match iso_col.map(field) {
                None | Some("") => None,
                Some(v) => match v.parse::<usize>() {
                    Ok(i) if i <= row => Some(i),
                    _ => return Err(data_err(line, format!("iso_rep_idx {v:?} is not a row up to this one ({row})"))),
                },
            };
            for ((i, name), (_, col)) in numeric.iter().zip(table.columns.iter_mut()) {
                let v = field(*i).trim();
                col.push(if v.is_empty() {
                    f64::NAN
                } else {
                    crate::csv_input::finite(v)
                        .ok_or_else(|| data_err(line, format!("column {name:?}: {v:?} is not a finite number")))?
                });
            }
            let code = nas_core::genotype::genotype_index(space.decisions(), &g)? as usize;
            if let Some(prev) = table.by_code[code] {
                return Err(data_err(line, format!("architecture {arch} repeats row {prev}")));
            }
            table.by_code[code] = Some(row);
            table.by_arch.insert(arch.clone(), row);
            table.archs.push(arch);
            table.genotypes.push(g);
            table.iso_rep.push(iso);
        }
        if table.archs.is_empty() {
            return Err(data_err(None, "the table has no rows".into()));
        }
        Ok(table)
    }

    /// Number of architectures.
    pub fn len(&self) -> usize {
        self.archs.len()
    }

    /// Whether the table has no row.
    pub fn is_empty(&self) -> bool {
        self.archs.is_empty()
    }

    /// The official string of row `idx`.
    pub fn arch(&self, idx: usize) -> Option<&str> {
        self.archs.get(idx).map(String::as_str)
    }

    /// The genotype of row `idx`.
    pub fn genotype(&self, idx: usize) -> Option<&Genotype> {
        self.genotypes.get(idx)
    }

    /// The row of an official string.
    pub fn index_of_arch(&self, arch: &str) -> Option<usize> {
        self.by_arch.get(arch).copied()
    }

    /// The row of a genotype.
    pub fn index_of(&self, g: &Genotype) -> Option<usize> {
        let space = Nb201Space::default();
        let code = nas_core::genotype::genotype_index(space.decisions(), g).ok()?;
        self.by_code.get(code as usize).copied().flatten()
    }

    /// The `iso_rep_idx` of row `idx`: the smallest row of its isomorphism class, if the table has it.
    pub fn iso_rep(&self, idx: usize) -> Option<usize> {
        self.iso_rep.get(idx).copied().flatten()
    }

    /// Names of the numeric columns.
    pub fn column_names(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(n, _)| n.as_str())
    }

    /// A whole numeric column (NaN where missing), or an error naming it.
    pub fn column(&self, name: &str) -> Result<&[f64]> {
        self.columns
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .ok_or_else(|| Error::invalid("column", format!("the table has no column {name:?}")))
    }

    /// One value of a numeric column; `None` where the field is empty.
    pub fn value(&self, idx: usize, column: &str) -> Result<Option<f64>> {
        let col = self.column(column)?;
        let v =
            *col.get(idx).ok_or_else(|| Error::invalid("index", format!("{idx} is out of range 0..{}", self.len())))?;
        Ok((!v.is_nan()).then_some(v))
    }

    /// An accuracy in percent (mean over the training seeds).
    pub fn accuracy(&self, idx: usize, dataset: Dataset, split: Split, epochs: Epochs) -> Result<Option<f64>> {
        let col = accuracy_column(dataset, split, epochs).ok_or_else(|| {
            Error::invalid("metric", format!("the benchmark has no {split:?} accuracy for {dataset} after {epochs:?}"))
        })?;
        self.value(idx, col)
    }

    /// The per-seed values of a column that has them (`<column>_s0`, `_s1`, `_s2`), e.g.
    /// `c10v_valid_acc`, `c100_valtest_acc`, `in16_valtest_acc`.
    pub fn per_seed(&self, idx: usize, column: &str) -> Result<Vec<f64>> {
        let mut out = Vec::new();
        for s in 0..3 {
            if let Some(v) = self.value(idx, &format!("{column}_s{s}"))? {
                out.push(v);
            }
        }
        Ok(out)
    }

    /// Simulated training time in seconds for the schedule (12-epoch time = 12/200 of the full one,
    /// as NAS-Bench-201 charges it). CIFAR-10 on all 50k images has no timing in the table.
    pub fn train_time_s(&self, idx: usize, dataset: Dataset, epochs: Epochs) -> Result<Option<f64>> {
        let col = match dataset {
            Dataset::Cifar10Valid => "train_time_c10v_s",
            Dataset::Cifar100 => "train_time_c100_s",
            Dataset::ImageNet16 => "train_time_in16_s",
            Dataset::Cifar10 => return Ok(None),
        };
        let scale = if epochs == Epochs::E12 { 12.0 / 200.0 } else { 1.0 };
        Ok(self.value(idx, col)?.map(|t| t * scale))
    }

    /// The `k` rows with the highest accuracy, best first (ties: lower index first).
    pub fn top(&self, dataset: Dataset, split: Split, epochs: Epochs, k: usize) -> Result<Vec<(usize, f64)>> {
        let col = accuracy_column(dataset, split, epochs).ok_or_else(|| {
            Error::invalid("metric", format!("the benchmark has no {split:?} accuracy for {dataset}"))
        })?;
        let values = self.column(col)?;
        let mut rows: Vec<(usize, f64)> = values.iter().copied().enumerate().filter(|(_, v)| !v.is_nan()).collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        rows.truncate(k);
        Ok(rows)
    }
}

impl Nb201Table {
    /// An evaluator ([`TableEvaluator`]) whose fitness is the `split` accuracy on `dataset` after
    /// `epochs` and whose queries each cost that schedule's training time, as NAS-Bench-201's searches
    /// charge it. Errors when the table has no such accuracy or timing.
    pub fn evaluator(&self, dataset: Dataset, split: Split, epochs: Epochs) -> Result<TableEvaluator<'_>> {
        self.accuracy(0, dataset, split, epochs)?;
        if self.train_time_s(0, dataset, epochs)?.is_none() {
            return Err(Error::invalid(
                "dataset",
                format!(
                    "the table has no training time for {dataset}; search on cifar10-valid, cifar100 or ImageNet16-120"
                ),
            ));
        }
        let missing = || Error::invalid("metric", format!("the benchmark has no {split:?} accuracy for {dataset}"));
        let accuracy = self.column(accuracy_column(dataset, split, epochs).ok_or_else(missing)?)?.to_vec();
        let seconds: Vec<f64> = (0..self.len())
            .map(|i| self.train_time_s(i, dataset, epochs).map(|t| t.unwrap_or(f64::NAN)))
            .collect::<Result<_>>()?;
        TableEvaluator::new("accuracy", accuracy, move |g| self.index_of(g)).with_seconds(seconds)
    }
}

impl Nb201Table {
    /// A content identity of the table: its row count and a 64-bit FNV-1a hash of every
    /// architecture, column name and value, so that saved work can refuse a different table.
    pub fn identity(&self) -> String {
        let mut h = nas_core::hash::Fnv1a::default();
        for a in &self.archs {
            h.eat(a.as_bytes());
        }
        for (name, values) in &self.columns {
            h.eat(name.as_bytes());
            for v in values {
                h.eat(&v.to_bits().to_le_bytes());
            }
        }
        format!("{}-{:016x}", self.archs.len(), h.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Nb201Table> {
        Nb201Table::from_reader(text.as_bytes(), Path::new("t.csv"))
    }

    const A0: &str = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|";

    #[test]
    fn reads_a_small_table() {
        let t = load(&format!("idx,arch_str,ops,c10_test_acc\n0,{A0},421211,85.5\n")).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t.accuracy(0, Dataset::Cifar10, Split::Test, Epochs::E200).unwrap(), Some(85.5));
        assert_eq!(t.index_of_arch(A0), Some(0));
        assert_eq!(t.index_of(t.genotype(0).unwrap()), Some(0));
    }

    #[test]
    fn missing_column_is_named() {
        let e = load("idx,ops\n0,421211\n").unwrap_err().to_string();
        assert!(e.contains("missing column \"arch_str\"") && e.contains("line 1"), "{e}");
    }

    #[test]
    fn non_numeric_value_names_line_and_column() {
        let e = load(&format!("idx,arch_str,c10_test_acc\n0,{A0},abc\n")).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("c10_test_acc") && e.contains("\"abc\""), "{e}");
    }

    #[test]
    fn non_finite_values_duplicate_columns_and_empty_files_are_refused() {
        for v in ["inf", "1e309", "NaN", "-inf"] {
            let e = load(&format!("idx,arch_str,c10_test_acc\n0,{A0},{v}\n")).unwrap_err().to_string();
            assert!(e.contains("line 2") && e.contains("c10_test_acc") && e.contains(v), "{e}");
        }
        let e = load(&format!("idx,arch_str,a,a\n0,{A0},1,2\n")).unwrap_err().to_string();
        assert!(e.contains("\"a\" appears twice"), "{e}");
        let e = load("").unwrap_err().to_string();
        assert!(e.contains("the file is empty"), "{e}");
    }

    #[test]
    fn bad_rows_are_rejected() {
        let e = load(&format!("idx,arch_str\n1,{A0}\n")).unwrap_err().to_string();
        assert!(e.contains("out of order"), "{e}");
        let e = load("idx,arch_str\n0,|bogus~0|+|+|\n").unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = load(&format!("idx,arch_str,ops\n0,{A0},000000\n")).unwrap_err().to_string();
        assert!(e.contains("disagrees"), "{e}");
        let e = load(&format!("idx,arch_str\n0,{A0}\n1,{A0}\n")).unwrap_err().to_string();
        assert!(e.contains("repeats row 0"), "{e}");
        assert!(load("idx,arch_str\n").unwrap_err().to_string().contains("no rows"));
    }

    #[test]
    fn missing_file_says_where() {
        let e = Nb201Table::from_csv(Path::new("/nonexistent/x.csv")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/x.csv"), "{e}");
        let dir = DataDir { path: "/nonexistent".into(), source: "--data-dir" };
        let e = Nb201Table::load(&dir).unwrap_err().to_string();
        assert!(e.contains("nb201/nb201_master.csv") && e.contains("/nonexistent") && e.contains("--data-dir"), "{e}");
    }

    #[test]
    fn unknown_column_and_metric_are_errors() {
        let t = load(&format!("idx,arch_str\n0,{A0}\n")).unwrap();
        assert!(t.value(0, "nope").unwrap_err().to_string().contains("\"nope\""));
        assert!(t.accuracy(0, Dataset::Cifar10Valid, Split::Test, Epochs::E12).is_err());
        assert!("mnist".parse::<Dataset>().unwrap_err().to_string().contains("mnist"));
    }
}
