//! Fitted latency models, saved as JSON: the NB201 cell model ([`crate::nb201`]) and additive
//! lookup tables (one entry per decision option, fitted by non-negative least squares).

use serde::{Deserialize, Serialize};

use nas_core::{AdditiveCost, Error, Genotype, Result};

use crate::data::Measurement;
use crate::linalg;
use crate::metrics::{Accuracy, accuracy};
use crate::nb201::{self, Pruning};

/// What kind of model to fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// NB201 only: the cell model with its execution rule chosen by validation.
    Cell,
    /// A plain additive table: base + one entry per (decision, option), non-negative.
    Table,
}

/// The fitted form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fitted {
    /// The NB201 cell model: one weight per feature of [`nb201::features`].
    Cell {
        /// Which ops count as executed.
        pruning: Pruning,
        /// Whether pair terms are features.
        pairs: bool,
        /// The feature names, in weight order.
        features: Vec<String>,
        /// The fitted weights, ms per feature.
        weights: Vec<f64>,
    },
    /// An additive lookup table.
    Table {
        /// The fitted table.
        table: AdditiveCost,
    },
}

/// A latency model of one device column, with what it was fitted on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatencyModel {
    /// The space, `nb201` or `fbnet`.
    pub space: String,
    /// The device column it was fitted to.
    pub device: String,
    /// The HW-NAS-Bench dataset of the rows, where the layout has one.
    pub dataset: Option<String>,
    /// Row ids the model was fitted on (evaluation defaults to the others).
    pub train_ids: Vec<usize>,
    /// Accuracy on the validation part of the training rows when the fit chose among variants.
    pub validation: Option<Accuracy>,
    /// The fitted form.
    pub model: Fitted,
}

impl LatencyModel {
    /// The predicted latency of a genotype.
    pub fn predict(&self, g: &Genotype) -> Result<f64> {
        match &self.model {
            Fitted::Table { table } => table.cost(g),
            Fitted::Cell { pruning, pairs, weights, .. } => {
                if g.0.len() != 6 || g.0.iter().any(|&o| o > 4) {
                    return Err(Error::InvalidGenotype(format!("{g} is not an NB201 cell")));
                }
                let f = nb201::features(g, *pruning, *pairs);
                Ok(f.iter().zip(weights).map(|(a, b)| a * b).sum())
            }
        }
    }

    /// Accuracy on measured rows.
    pub fn evaluate(&self, rows: &[Measurement]) -> Result<Accuracy> {
        let pred = rows.iter().map(|m| self.predict(&m.genotype)).collect::<Result<Vec<_>>>()?;
        let meas: Vec<f64> = rows.iter().map(|m| m.value).collect();
        Ok(accuracy(&pred, &meas))
    }
}

/// Fits an additive table `base + sum_i entries[i][g_i]` by non-negative least squares on relative
/// error (each row weighted by 1/measured, so the fit aims at the +-10 % criterion).
pub fn fit_table(name: &str, options: &[usize], rows: &[Measurement]) -> Result<AdditiveCost> {
    let unknowns = 1 + options.iter().sum::<usize>();
    check_enough(rows.len(), unknowns)?;
    let offsets: Vec<usize> = options
        .iter()
        .scan(1, |acc, &n| {
            let o = *acc;
            *acc += n;
            Some(o)
        })
        .collect();
    let mut a = Vec::with_capacity(rows.len());
    let mut b = Vec::with_capacity(rows.len());
    for m in rows {
        if m.genotype.0.len() != options.len() {
            return Err(Error::InvalidGenotype(format!(
                "{} has {} decisions, expected {}",
                m.genotype,
                m.genotype.0.len(),
                options.len()
            )));
        }
        let w = 1.0 / m.value;
        let mut x = vec![0.0; unknowns];
        x[0] = w;
        for (i, &c) in m.genotype.0.iter().enumerate() {
            x[offsets[i] + c] = w;
        }
        a.push(x);
        b.push(1.0);
    }
    let x = linalg::nnls(&a, &b);
    let entries = options.iter().zip(&offsets).map(|(&n, &o)| x[o..o + n].to_vec()).collect();
    AdditiveCost::new(name, "ms", x[0], entries)
}

fn check_enough(n: usize, unknowns: usize) -> Result<()> {
    if n < unknowns {
        return Err(Error::invalid(
            "fit",
            format!("{n} measurements are fewer than the {unknowns} unknowns of the model"),
        ));
    }
    Ok(())
}

fn fit_cell_weights(rows: &[Measurement], pruning: Pruning, pairs: bool) -> Vec<f64> {
    let a: Vec<Vec<f64>> = rows.iter().map(|m| nb201::features(&m.genotype, pruning, pairs)).collect();
    let b: Vec<f64> = rows.iter().map(|m| m.value).collect();
    linalg::least_squares(&a, &b)
}

/// Fits the NB201 cell model: tries every execution rule with and without pair terms on the first
/// 80 % of `rows`, keeps the one with the most validation predictions within +-10 % (then the lowest
/// RMSE), and refits it on all rows. Returns the model and its validation accuracy.
pub fn fit_cell(rows: &[Measurement]) -> Result<(Fitted, Accuracy)> {
    check_enough(rows.len(), nb201::feature_count(false))?;
    let split = rows.len() * 4 / 5;
    if split < nb201::feature_count(false) {
        let need = (nb201::feature_count(false) * 5).div_ceil(4);
        return Err(Error::invalid(
            "fit",
            format!(
                "{} measurements: the cell model fits on 80 % of them and chooses its variant on the rest, \
                 so it needs at least {need}",
                rows.len()
            ),
        ));
    }
    let (train, valid) = rows.split_at(split);
    let mut best: Option<(Pruning, bool, Accuracy)> = None;
    for pairs in [false, true] {
        if train.len() < nb201::feature_count(pairs) {
            continue;
        }
        for pruning in Pruning::ALL {
            let w = fit_cell_weights(train, pruning, pairs);
            let cand = LatencyModel {
                space: "nb201".into(),
                device: String::new(),
                dataset: None,
                train_ids: vec![],
                validation: None,
                model: Fitted::Cell { pruning, pairs, features: vec![], weights: w },
            };
            let acc = cand.evaluate(valid)?;
            let better = match &best {
                None => true,
                Some((_, _, b)) => (acc.within_10pct, -acc.rmse_ms) > (b.within_10pct, -b.rmse_ms),
            };
            if better {
                best = Some((pruning, pairs, acc));
            }
        }
    }
    let (pruning, pairs, acc) = best.ok_or_else(|| Error::invalid("fit", "no model variant fits"))?;
    let weights = fit_cell_weights(rows, pruning, pairs);
    Ok((Fitted::Cell { pruning, pairs, features: nb201::feature_names(pairs), weights }, acc))
}
