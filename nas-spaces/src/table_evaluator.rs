//! The one "genotype -> table column" evaluator: fitness is a column of numbers indexed like a
//! table's rows, and each query may charge a second column as simulated seconds (NAS-Bench-201's
//! training time). [`Nb201Table::evaluator`](crate::Nb201Table::evaluator),
//! [`UserTable::evaluator`](crate::UserTable::evaluator) and any list of genotypes with values
//! ([`TableEvaluator::from_genotypes`]) build it.
//!
//! ```
//! use nas_core::{Evaluator, Genotype};
//! use nas_spaces::TableEvaluator;
//!
//! let genotypes = [Genotype(vec![0, 1]), Genotype(vec![1, 1])];
//! let acc = TableEvaluator::from_genotypes("accuracy", &genotypes, vec![71.5, 80.0])?;
//! assert_eq!(acc.evaluate(&genotypes[1])?.fitness, 80.0);
//! assert_eq!(acc.evaluate(&genotypes[1])?.cost_seconds, 0.0);
//! assert!(acc.evaluate(&Genotype(vec![0, 0])).unwrap_err().to_string().contains("not in the table"));
//! # Ok::<(), nas_core::Error>(())
//! ```

use std::collections::HashMap;
use std::fmt;

use nas_core::{Error, Evaluation, Evaluator, Genotype, Result};

/// How a genotype finds its row.
type RowOf<'a> = Box<dyn Fn(&Genotype) -> Option<usize> + Send + Sync + 'a>;

/// Fitness = `values[row of g]`; cost = `seconds[row of g]` where a time column is given, else 0.
/// A genotype without a row, or a row whose value is NaN (missing), is an error naming it.
pub struct TableEvaluator<'a> {
    name: String,
    row_of: RowOf<'a>,
    values: Vec<f64>,
    seconds: Option<Vec<f64>>,
}

impl fmt::Debug for TableEvaluator<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TableEvaluator")
            .field("name", &self.name)
            .field("rows", &self.values.len())
            .field("charges_seconds", &self.seconds.is_some())
            .finish()
    }
}

impl<'a> TableEvaluator<'a> {
    /// The column `values` (NaN where missing) named `name`, rows found by `row_of`.
    pub fn new(
        name: impl Into<String>,
        values: Vec<f64>,
        row_of: impl Fn(&Genotype) -> Option<usize> + Send + Sync + 'a,
    ) -> Self {
        TableEvaluator { name: name.into(), row_of: Box::new(row_of), values, seconds: None }
    }

    /// `values[i]` belongs to `genotypes[i]`; an error when the lengths differ or a genotype repeats.
    pub fn from_genotypes(name: impl Into<String>, genotypes: &[Genotype], values: Vec<f64>) -> Result<Self> {
        let name = name.into();
        if genotypes.len() != values.len() {
            return Err(Error::invalid(
                "table column",
                format!("{name}: {} values for {} genotypes", values.len(), genotypes.len()),
            ));
        }
        let mut index = HashMap::with_capacity(genotypes.len());
        for (i, g) in genotypes.iter().enumerate() {
            if let Some(j) = index.insert(g.clone(), i) {
                return Err(Error::invalid("table column", format!("{name}: genotype {g} in rows {j} and {i}")));
            }
        }
        Ok(Self::new(name, values, move |g| index.get(g).copied()))
    }

    /// Charges `seconds[row]` (NaN where missing) for each query; an error when its length differs.
    pub fn with_seconds(mut self, seconds: Vec<f64>) -> Result<Self> {
        if seconds.len() != self.values.len() {
            return Err(Error::invalid(
                "table column",
                format!("{}: {} times for {} rows", self.name, seconds.len(), self.values.len()),
            ));
        }
        self.seconds = Some(seconds);
        Ok(self)
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole column, row order.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The row of `g`, if the table has it.
    pub fn row(&self, g: &Genotype) -> Option<usize> {
        (self.row_of)(g).filter(|&r| r < self.values.len())
    }

    /// The value of `g`; an error when the table lacks `g` or its value.
    pub fn value(&self, g: &Genotype) -> Result<f64> {
        let r = self
            .row(g)
            .ok_or_else(|| Error::invalid("genotype", format!("{g} is not in the table (column {})", self.name)))?;
        let v = self.values[r];
        if v.is_nan() {
            return Err(Error::invalid("table", format!("row {r} has no {}", self.name)));
        }
        Ok(v)
    }
}

impl Evaluator for TableEvaluator<'_> {
    fn evaluate(&self, g: &Genotype) -> Result<Evaluation> {
        let fitness = self.value(g)?;
        let cost_seconds = match &self.seconds {
            None => 0.0,
            Some(s) => {
                // `value` found the row.
                let r = self.row(g).unwrap_or_default();
                let t = s[r];
                if t.is_nan() {
                    return Err(Error::invalid("table", format!("row {r} has no training time")));
                }
                t
            }
        };
        Ok(Evaluation { fitness, cost_seconds })
    }
}
