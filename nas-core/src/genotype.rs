//! Genotypes: an architecture as a list of labelled categorical decisions.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One categorical decision of a search space (an edge's operation, a layer's block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The decision's label, e.g. an edge `1<-0` or a layer `layer3`.
    pub name: String,
    /// The option labels, in index order.
    pub choices: Vec<String>,
}

impl Decision {
    /// A decision called `name` with the options `choices`, in that order.
    pub fn new(name: impl Into<String>, choices: &[&str]) -> Self {
        Decision { name: name.into(), choices: choices.iter().map(|c| c.to_string()).collect() }
    }
}

/// The chosen option index of every decision, in decision order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Genotype(pub Vec<usize>);

impl Genotype {
    /// The chosen option of every decision.
    pub fn choices(&self) -> &[usize] {
        &self.0
    }
}

impl std::fmt::Display for Genotype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|c| c.to_string()).collect();
        write!(f, "[{}]", parts.join(","))
    }
}

/// Checks that `g` has one valid choice per decision.
pub fn validate(decisions: &[Decision], g: &Genotype) -> Result<()> {
    if g.0.len() != decisions.len() {
        return Err(Error::InvalidGenotype(format!(
            "{} decisions expected, got {} in {g}",
            decisions.len(),
            g.0.len()
        )));
    }
    for (d, &c) in decisions.iter().zip(&g.0) {
        if c >= d.choices.len() {
            return Err(Error::InvalidGenotype(format!(
                "decision {:?} has {} choices, got choice {c} in {g}",
                d.name,
                d.choices.len()
            )));
        }
    }
    Ok(())
}

/// Number of genotypes (product of the choice counts), saturating at `u128::MAX`.
pub fn space_size(decisions: &[Decision]) -> u128 {
    decisions.iter().fold(1u128, |acc, d| acc.saturating_mul(d.choices.len() as u128))
}

/// The `index`-th genotype in mixed-radix order (the last decision varies fastest).
pub fn genotype_at(decisions: &[Decision], mut index: u128) -> Result<Genotype> {
    let size = space_size(decisions);
    if index >= size {
        return Err(Error::invalid("genotype index", format!("{index} is out of range 0..{size}")));
    }
    let mut out = vec![0; decisions.len()];
    for (slot, d) in out.iter_mut().zip(decisions).rev() {
        let n = d.choices.len() as u128;
        *slot = (index % n) as usize;
        index /= n;
    }
    Ok(Genotype(out))
}

/// The position of `g` in the order of [`genotype_at`].
pub fn genotype_index(decisions: &[Decision], g: &Genotype) -> Result<u128> {
    validate(decisions, g)?;
    Ok(decisions.iter().zip(&g.0).fold(0u128, |acc, (d, &c)| acc * d.choices.len() as u128 + c as u128))
}
