//! A user's own benchmark table as a layerwise search space, so every strategy runs on it.
//!
//! Format: a CSV file (comma separated, header row, `.` decimal). One column holds the encoding of
//! each architecture: one character per layer (`31420`), or fields joined by a separator given as
//! `--encoding-sep` (`k3_e1-k5_e6-skip`). Every other column may be a metric (accuracy, latency,
//! FLOPs, ...): a column is read as numbers when it is asked for, and then every value must be a
//! finite number. Layer `l`'s options are the distinct tokens seen at position `l`, in sorted order.
//! Errors: a missing column, an encoding with a different number of layers than the first row
//! ("ragged"), a duplicate encoding, an empty, NaN or non-numeric metric value, a row with a wrong
//! number of fields.
//!
//! A strategy may ask for a genotype the table lacks (when the table is not the full product of
//! its layers' options); the evaluator then errors naming it.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use nas_core::{Decision, Error, Genotype, Network, Result, SearchSpace};

use crate::table_evaluator::TableEvaluator;

/// A CSV benchmark table read as a layerwise space.
#[derive(Clone, Debug)]
pub struct UserTable {
    path: PathBuf,
    sep: Option<String>,
    decisions: Vec<Decision>,
    genotypes: Vec<Genotype>,
    index: HashMap<Genotype, usize>,
    headers: Vec<String>,
    /// Raw fields, `[row][column]`.
    rows: Vec<Vec<String>>,
    /// The file line of each row.
    lines: Vec<Option<u64>>,
}

impl UserTable {
    /// Reads `path` with its encodings in `encoding_column`, split by `sep` (one character per
    /// layer when `None`).
    pub fn from_csv(path: &Path, encoding_column: &str, sep: Option<&str>) -> Result<Self> {
        let data_err = |line: Option<u64>, message: String| Error::data(path, line, message);
        let mut rdr = crate::csv_input::open(path)?;
        let headers: Vec<String> =
            crate::csv_input::headers(&mut rdr, path)?.iter().map(|h| h.trim().to_string()).collect();
        let enc = headers.iter().position(|h| h == encoding_column).ok_or_else(|| {
            data_err(Some(1), format!("no encoding column {encoding_column:?}; columns: {}", headers.join(",")))
        })?;
        if sep == Some("") {
            return Err(Error::invalid(
                "encoding separator",
                "an empty separator; leave it out for one character per layer".to_string(),
            ));
        }
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut tokens: Vec<Vec<String>> = Vec::new();
        let mut lines = Vec::new();
        for record in rdr.records() {
            let record = record.map_err(|e| crate::csv_input::record_error(path, &e))?;
            let line = record.position().map(|p| p.line());
            let code = record.get(enc).unwrap_or("").trim().to_string();
            let t: Vec<String> = match sep {
                Some(s) => code.split(s).map(|t| t.trim().to_string()).collect(),
                None => code.chars().map(String::from).collect(),
            };
            if code.is_empty() {
                return Err(data_err(line, "an empty encoding".into()));
            }
            if let Some(first) = tokens.first()
                && first.len() != t.len()
            {
                return Err(data_err(
                    line,
                    format!("ragged row: encoding {code:?} has {} layers, the first row {}", t.len(), first.len()),
                ));
            }
            tokens.push(t);
            lines.push(line);
            rows.push(record.iter().map(str::to_string).collect());
        }
        let Some(first) = tokens.first() else {
            return Err(data_err(None, "the table has no rows".into()));
        };
        let layers = first.len();
        let options: Vec<Vec<String>> = (0..layers)
            .map(|l| tokens.iter().map(|t| t[l].clone()).collect::<BTreeSet<_>>().into_iter().collect())
            .collect();
        let decisions: Vec<Decision> = options
            .iter()
            .enumerate()
            .map(|(l, o)| Decision { name: format!("layer{l}"), choices: o.clone() })
            .collect();
        let mut genotypes = Vec::with_capacity(tokens.len());
        let mut index = HashMap::new();
        for (r, t) in tokens.iter().enumerate() {
            let g = Genotype(t.iter().zip(&options).map(|(x, o)| o.binary_search(x).unwrap_or(0)).collect());
            if let Some(prev) = index.insert(g.clone(), r) {
                return Err(data_err(
                    lines[r],
                    format!("duplicate encoding {:?} (also data row {})", rows[r][enc], prev + 1),
                ));
            }
            genotypes.push(g);
        }
        Ok(UserTable {
            path: path.to_path_buf(),
            sep: sep.map(str::to_string),
            decisions,
            genotypes,
            index,
            headers,
            rows,
            lines,
        })
    }

    /// Number of rows (architectures).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no row.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The genotype of every row, in row order.
    pub fn genotypes(&self) -> &[Genotype] {
        &self.genotypes
    }

    /// The row of `g`, if the table has it.
    pub fn index_of(&self, g: &Genotype) -> Option<usize> {
        self.index.get(g).copied()
    }

    /// A metric column as numbers; errors name the line of an empty, NaN or non-numeric value.
    pub fn metric(&self, name: &str) -> Result<Vec<f64>> {
        let c = self.headers.iter().position(|h| h == name).ok_or_else(|| {
            Error::data(&self.path, Some(1), format!("no column {name:?}; columns: {}", self.headers.join(",")))
        })?;
        self.rows
            .iter()
            .enumerate()
            .map(|(r, row)| {
                let v = row.get(c).map_or("", |s| s.trim());
                match v.parse::<f64>() {
                    Ok(x) if x.is_finite() => Ok(x),
                    _ => Err(Error::data(
                        &self.path,
                        self.lines.get(r).copied().flatten(),
                        format!("column {name:?}: {v:?} is not a finite number"),
                    )),
                }
            })
            .collect()
    }

    /// An evaluator ([`TableEvaluator`]) whose fitness is the metric column (no training time charged).
    pub fn evaluator(&self, name: &str) -> Result<TableEvaluator<'_>> {
        Ok(TableEvaluator::new(name, self.metric(name)?, move |g| self.index_of(g)))
    }
}

impl SearchSpace for UserTable {
    fn name(&self) -> &str {
        "table"
    }

    fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    fn to_network(&self, _: &Genotype) -> Result<Network> {
        Err(Error::Unavailable("a user table has metrics but no network to build".into()))
    }

    fn format(&self, g: &Genotype) -> String {
        let t: Vec<&str> =
            g.0.iter().zip(&self.decisions).map(|(&j, d)| d.choices.get(j).map_or("?", String::as_str)).collect();
        t.join(self.sep.as_deref().unwrap_or(""))
    }

    fn parse(&self, s: &str) -> Result<Genotype> {
        let t: Vec<String> = match &self.sep {
            Some(sep) => s.split(sep.as_str()).map(|x| x.trim().to_string()).collect(),
            None => s.chars().map(String::from).collect(),
        };
        if t.len() != self.decisions.len() {
            return Err(Error::parse(s, format!("{} layers, the table has {}", t.len(), self.decisions.len())));
        }
        t.iter()
            .zip(&self.decisions)
            .map(|(x, d)| {
                d.choices.iter().position(|c| c == x).ok_or_else(|| Error::parse(s, format!("no option {x:?}")))
            })
            .collect::<Result<Vec<_>>>()
            .map(Genotype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("nas_table_{}_{name}.csv", std::process::id()));
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_a_table_and_reports_bad_ones() {
        let p = write("ok", "enc,acc,lat\n01,1.5,2\n11,2.5,3\n00,0.5,1\n10,1,2\n");
        let t = UserTable::from_csv(&p, "enc", None).unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(t.decisions().len(), 2);
        let g = t.parse("11").unwrap();
        assert_eq!(t.format(&g), "11");
        assert_eq!(t.evaluator("acc").unwrap().value(&g).unwrap(), 2.5);
        let p = write("sep", "enc,acc\nk3-skip,1\nk5-skip,2\n");
        let t = UserTable::from_csv(&p, "enc", Some("-")).unwrap();
        assert_eq!(t.decisions()[0].choices, vec!["k3", "k5"]);
        assert_eq!(t.format(&t.parse("k5-skip").unwrap()), "k5-skip");

        let err = |text: &str, col: &str| {
            let p = write("bad", text);
            match UserTable::from_csv(&p, "enc", None) {
                Err(e) => e.to_string(),
                Ok(t) => t.metric(col).unwrap_err().to_string(),
            }
        };
        assert!(err("enc,acc\n01,1\n01,2\n", "acc").contains("duplicate encoding \"01\""));
        assert!(err("enc,acc\n01,1\n011,2\n", "acc").contains("ragged row"));
        assert!(err("enc,acc\n01,1\n10,NaN\n", "acc").contains("line 3: column \"acc\": \"NaN\""));
        assert!(err("enc,acc\n01,1\n10\n", "acc").contains("line 3"));
        assert!(err("x,acc\n01,1\n", "acc").contains("no encoding column"));
        assert!(err("enc,acc\n01,1\n", "lat").contains("no column \"lat\""));
        for v in ["inf", "1e309", "-inf", "nan"] {
            let e = err(&format!("enc,acc\n01,1\n10,{v}\n"), "acc");
            assert!(e.contains(&format!("line 3: column \"acc\": \"{v}\" is not a finite number")), "{e}");
        }
        assert!(err("enc,acc,acc\n01,1,2\n", "acc").contains("column \"acc\" appears twice"));
        assert!(err("", "acc").contains("the file is empty"));
    }
}
