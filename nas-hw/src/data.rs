//! Measured latencies from a CSV file, in the HW-NAS-Bench layout (`idx,dataset,<device columns>`,
//! rows chosen by dataset, architectures by NB201 index) or the HELP layout (an `arch_str` or
//! `op_idx_list` column plus one column per device); the layout is detected from the header.

use std::path::Path;

use nas_core::{Error, Genotype, Result, SearchSpace};
use nas_spaces::Dataset;
use nas_spaces::hw_nas_bench::{self, HwNasBench};

/// The two layouts a measurement file can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// HW-NAS-Bench: `idx,dataset,<device columns>` (NB201 indices).
    HwNasBench,
    /// HELP: `arch_str` or `op_idx_list`, then one column per device.
    Help,
}

/// One measured architecture: its row id (the file's own id: NB201 `idx`, HELP `fb_idx`, else the
/// data row number), genotype and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// The row id: the NB201 index, or the data row number in a HELP file.
    pub id: usize,
    /// The measured architecture.
    pub genotype: Genotype,
    /// The measured value (ms for latency columns, mJ for energy).
    pub value: f64,
}

/// Measurements of one column, and how many rows were marked as not available (`-1` or empty in
/// the HW-NAS-Bench layout, where the device could not run the network).
#[derive(Clone, Debug)]
pub struct Measurements {
    /// The layout the file was read in.
    pub layout: Layout,
    /// The measured column.
    pub column: String,
    /// The measured rows, in file order.
    pub rows: Vec<Measurement>,
    /// Rows marked as not measured.
    pub not_available: usize,
}

/// Reads column `column` of `path`. `nb201_genotype` maps an NB201 index to its genotype (needed for
/// the HW-NAS-Bench layout, read by [`nas_spaces::HwNasBench`] with its value rule); `dataset` picks
/// those rows (default `cifar10`). `space` parses the architecture column of a HELP file. A value that
/// is not a positive finite number (`0`, `-2`, `inf`, `1e309`, `NaN`) is an error naming the line; so
/// are an empty file and a column name given twice.
pub fn read(
    path: &Path,
    column: &str,
    space: &dyn SearchSpace,
    dataset: Option<&str>,
    nb201_genotype: &dyn Fn(usize) -> Option<Genotype>,
) -> Result<Measurements> {
    let err = |line: Option<u64>, message: String| Error::data(path, line, message);
    let mut rdr = nas_spaces::csv_input::open(path)?;
    let headers = nas_spaces::csv_input::headers(&mut rdr, path)?;
    let pos = |name: &str| headers.iter().position(|h| h == name);
    let no_column = || {
        let cols: Vec<&str> =
            headers.iter().filter(|h| !["idx", "dataset", "fb_idx", "arch_str", "op_idx_list"].contains(h)).collect();
        Error::invalid("device", format!("{} has no column {column:?}; it has {}", path.display(), cols.join(", ")))
    };
    let value_col = pos(column).ok_or_else(no_column)?;
    let positive = |line: Option<u64>, x: f64| {
        if !x.is_finite() {
            Err(err(line, format!("{column} = {x}: a measurement must be a finite number")))
        } else if x > 0.0 {
            Ok(x)
        } else {
            Err(err(line, format!("{column} = {x}: a measurement must be a positive number")))
        }
    };
    let mut out = Measurements { layout: Layout::Help, column: column.to_string(), rows: Vec::new(), not_available: 0 };
    if hw_nas_bench::is_layout(&headers) {
        if space.name() != "nb201" {
            return Err(Error::invalid(
                "space",
                format!("{} is in the HW-NAS-Bench NB201 layout, not for space {}", path.display(), space.name()),
            ));
        }
        let dataset: Dataset = dataset.unwrap_or("cifar10").parse()?;
        out.layout = Layout::HwNasBench;
        let table = HwNasBench::from_csv(path)?;
        for (idx, value) in table.rows(dataset, column)? {
            let Some(x) = value else {
                out.not_available += 1;
                continue;
            };
            let g = nb201_genotype(idx).ok_or_else(|| err(None, format!("idx {idx} is not an NB201 index")))?;
            out.rows.push(Measurement { id: idx, genotype: g, value: positive(None, x)? });
        }
    } else {
        let arch_col = pos("op_idx_list").or_else(|| pos("arch_str")).ok_or_else(|| {
            err(
                Some(1),
                "neither the HW-NAS-Bench layout (idx,dataset,...) nor the HELP layout (an arch_str or op_idx_list column)"
                    .into(),
            )
        })?;
        let id_col = pos("fb_idx");
        let mut ids = std::collections::HashSet::new();
        let mut record = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => return Err(nas_spaces::csv_input::record_error(path, &e)),
            }
            let line = record.position().map(|p| p.line());
            let field = |i: usize| record.get(i).unwrap_or("").trim();
            let genotype = space.parse(field(arch_col)).map_err(|e| err(line, e.to_string()))?;
            let v = field(value_col);
            let x: f64 = v.parse().map_err(|_| err(line, format!("{column} {v:?} is not a number")))?;
            let value = positive(line, x)?;
            let id = match id_col {
                Some(c) => field(c).parse().map_err(|_| err(line, format!("fb_idx {:?} is not an id", field(c))))?,
                None => out.rows.len(),
            };
            if !ids.insert(id) {
                return Err(err(line, format!("row id {id} repeats an earlier row")));
            }
            out.rows.push(Measurement { id, genotype, value });
        }
    }
    if out.rows.is_empty() {
        return Err(err(None, format!("no measurements of {column}")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use nas_spaces::{FbnetSpace, Nb201Space};

    const FB: &str = "7 8 1 8 4 8 8 8 7 4 1 4 7 3 2 7 3 2 4 2 4 5";

    fn read_text(name: &str, text: &str, column: &str, space: &dyn SearchSpace) -> Result<Measurements> {
        let p = std::env::temp_dir().join(format!("nas_hw_data_{}_{name}.csv", std::process::id()));
        std::fs::write(&p, text).unwrap();
        let nb201 = Nb201Space::default();
        let r = read(&p, column, space, None, &|i| nb201.genotype_at(i as u128).ok());
        let _ = std::fs::remove_file(&p);
        r
    }

    #[test]
    fn non_finite_values_empty_files_and_duplicate_columns_are_refused() {
        let fbnet = FbnetSpace::default();
        let ok = read_text("ok", &format!("op_idx_list,pixel3\n{FB},12.5\n"), "pixel3", &fbnet).unwrap();
        assert_eq!((ok.layout, ok.rows.len(), ok.rows[0].value), (Layout::Help, 1, 12.5));
        for v in ["inf", "1e309", "NaN", "0", "-2"] {
            let e = read_text("bad", &format!("op_idx_list,pixel3\n{FB},1\n{FB},{v}\n"), "pixel3", &fbnet)
                .unwrap_err()
                .to_string();
            let why = if ["0", "-2"].contains(&v) { "must be a positive number" } else { "must be a finite number" };
            assert!(e.contains("line 3") && e.contains(why), "{v}: {e}");
        }
        let e = read_text("empty", "", "pixel3", &fbnet).unwrap_err().to_string();
        assert!(e.contains("the file is empty") && !e.contains("pixel3"), "{e}");
        let e = read_text("dup", &format!("op_idx_list,pixel3,pixel3\n{FB},1,2\n"), "pixel3", &fbnet)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"pixel3\" appears twice"), "{e}");
        let nb201 = Nb201Space::default();
        let e = read_text("hw", "idx,dataset,edgegpu_latency\n0,cifar10,1e309\n", "edgegpu_latency", &nb201)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"1e309\" is not a measurement"), "{e}");
    }
}
