//! Additive cost tables for layerwise spaces: cost = base + the sum over decisions of one entry per
//! chosen option. Cost models (nas-hw) fit them; solvers (MathNAS, LayerNAS) consume them, so the
//! two meet in this plain data type and neither depends on the other.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::genotype::{Decision, Genotype};

/// `cost(g) = base + sum_i entries[i][g[i]]`, in one unit (ms, mJ, MFLOPs, parameters).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdditiveCost {
    /// What is measured, e.g. `pixel3_latency` or `flops`.
    pub name: String,
    /// The unit, e.g. `ms`.
    pub unit: String,
    /// The cost of every genotype before its entries are added (the part no decision changes).
    pub base: f64,
    /// One row per decision, one entry per option.
    pub entries: Vec<Vec<f64>>,
}

impl AdditiveCost {
    /// A checked table: at least one decision, at least one option per decision, every number finite.
    pub fn new(name: impl Into<String>, unit: impl Into<String>, base: f64, entries: Vec<Vec<f64>>) -> Result<Self> {
        let name = name.into();
        if !base.is_finite() {
            return Err(Error::invalid("cost table", format!("{name}: base {base} is not finite")));
        }
        if entries.is_empty() {
            return Err(Error::invalid("cost table", format!("{name}: no decisions")));
        }
        for (i, row) in entries.iter().enumerate() {
            if row.is_empty() {
                return Err(Error::invalid("cost table", format!("{name}: decision {i} has no options")));
            }
            if let Some((j, v)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(Error::invalid("cost table", format!("{name}: entry [{i}][{j}] = {v} is not finite")));
            }
        }
        Ok(AdditiveCost { name, unit: unit.into(), base, entries })
    }

    /// Checks that the table has one row per decision and one entry per option.
    pub fn check_fits(&self, decisions: &[Decision]) -> Result<()> {
        let shape = |rows: Vec<usize>| format!("{rows:?}");
        let ours: Vec<usize> = self.entries.iter().map(Vec::len).collect();
        let theirs: Vec<usize> = decisions.iter().map(|d| d.choices.len()).collect();
        if ours != theirs {
            return Err(Error::invalid(
                "cost table",
                format!("{}: options per decision {} do not fit the space's {}", self.name, shape(ours), shape(theirs)),
            ));
        }
        Ok(())
    }

    /// The cost of a genotype; an error if it does not fit the table.
    pub fn cost(&self, g: &Genotype) -> Result<f64> {
        if g.0.len() != self.entries.len() {
            return Err(Error::InvalidGenotype(format!(
                "{} decisions, the cost table {} has {}",
                g.0.len(),
                self.name,
                self.entries.len()
            )));
        }
        let mut total = self.base;
        for (i, (&v, row)) in g.0.iter().zip(&self.entries).enumerate() {
            total += row.get(v).ok_or_else(|| {
                Error::InvalidGenotype(format!("decision {i} = {v}, the cost table has {} options", row.len()))
            })?;
        }
        Ok(total)
    }

    /// The smallest and largest cost any genotype can have.
    pub fn range(&self) -> (f64, f64) {
        let fold = |pick: fn(f64, f64) -> f64, start: f64| {
            self.base + self.entries.iter().map(|r| r.iter().copied().fold(start, pick)).sum::<f64>()
        };
        (fold(f64::min, f64::INFINITY), fold(f64::max, f64::NEG_INFINITY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_base_plus_entries_and_errors_name_the_value() {
        let t = AdditiveCost::new("lat", "ms", 1.0, vec![vec![0.5, 2.0], vec![0.0, 1.0, 3.0]]).unwrap();
        assert_eq!(t.cost(&Genotype(vec![1, 2])).unwrap(), 6.0);
        assert_eq!(t.range(), (1.5, 6.0));
        let e = t.cost(&Genotype(vec![1, 3])).unwrap_err().to_string();
        assert!(e.contains("decision 1 = 3"), "{e}");
        let e = AdditiveCost::new("lat", "ms", 0.0, vec![vec![f64::NAN]]).unwrap_err().to_string();
        assert!(e.contains("[0][0] = NaN"), "{e}");
        let d = vec![Decision::new("a", &["x", "y"]), Decision::new("b", &["x"])];
        assert!(t.check_fits(&d).unwrap_err().to_string().contains("[2, 3]"));
    }
}
