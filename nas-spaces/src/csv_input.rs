//! What every CSV reader of the toolkit checks before it reads a row: the file is a regular file (a
//! device such as `/dev/zero` or a pipe is refused, so reading is bounded by the file's size), it
//! is not empty, no column name appears twice or holds a line break. And the one rule for numbers read from a table:
//! finite (`inf`, `NaN` and `1e309`, which overflows to infinity, are refused).

use std::fs::File;
use std::path::Path;

use nas_core::{Error, Result};

/// Opens `path` as a CSV file with a header row.
pub fn open(path: &Path) -> Result<csv::Reader<File>> {
    let file = nas_core::fsio::open_regular(path)?;
    Ok(csv::ReaderBuilder::new().has_headers(true).from_reader(file))
}

/// The header row of `rdr`, checked: not empty, no column twice.
pub fn headers<R: std::io::Read>(rdr: &mut csv::Reader<R>, path: &Path) -> Result<csv::StringRecord> {
    let err = |message: String| Error::data(path, Some(1), message);
    let headers = rdr.headers().map_err(|e| err(one_line(&e.to_string())))?.clone();
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(err("the file is empty: expected a header row of column names".into()));
    }
    for (i, h) in headers.iter().enumerate() {
        if h.chars().any(char::is_control) {
            return Err(err(format!("column {}: the name {h:?} holds a line break or control character", i + 1)));
        }
        if let Some(j) = headers.iter().take(i).position(|g| g.trim() == h.trim()) {
            return Err(err(format!("column {:?} appears twice (columns {} and {})", h.trim(), j + 1, i + 1)));
        }
    }
    Ok(headers)
}

/// A table value as a finite number; `None` for anything else (text, `inf`, `NaN`, `1e309`).
pub fn finite(v: &str) -> Option<f64> {
    v.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

/// A message on one line (a csv error can quote a record).
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A `csv::Error` as a data error naming its line.
pub fn record_error(path: &Path, e: &csv::Error) -> Error {
    Error::data(path, e.position().map(|p| p.line()), one_line(&e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn check(text: &str) -> Result<csv::StringRecord> {
        let mut rdr = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
        headers(&mut rdr, Path::new("t.csv"))
    }

    #[test]
    fn empty_files_and_duplicate_columns_are_refused() {
        for text in ["", "\n", " \n"] {
            let e = check(text).unwrap_err().to_string();
            assert!(e.contains("the file is empty") && e.contains("line 1"), "{text:?}: {e}");
        }
        let e = check("idx,a,b,a\n").unwrap_err().to_string();
        assert!(e.contains("column \"a\" appears twice (columns 2 and 4)"), "{e}");
        assert_eq!(check("idx,a\n0,1\n").unwrap().len(), 2);
        let e = check("\"en\nc\",a\n").unwrap_err().to_string();
        assert!(e.contains("column 1") && e.contains("line break") && !e.contains('\n'), "{e}");
        assert_eq!(finite(" 1.5 "), Some(1.5));
        for bad in ["inf", "-inf", "NaN", "nan", "1e309", "-1e309", "abc", ""] {
            assert_eq!(finite(bad), None, "{bad}");
        }
    }
}
