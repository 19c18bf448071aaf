//! Fitted latency models, saved as JSON: the NB201 cell model ([`crate::nb201`]) and additive
//! lookup tables (one entry per decision option, fitted by non-negative least squares).

use serde::{Deserialize, Serialize};

use nas_core::{AdditiveCost, Error, Genotype, Result, SearchSpace};

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
///
/// Loading one from JSON validates it ([`LatencyModel::validate`]): a model whose shape does not fit
/// its space or that holds a non-finite number is an error, not a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "UncheckedLatencyModel")]
pub struct LatencyModel {
    /// The space, `nb201` or `fbnet`.
    pub space: String,
    /// The device column it was fitted to.
    pub device: String,
    /// The HW-NAS-Bench dataset of the rows, where the layout has one.
    pub dataset: Option<String>,
    /// Row ids the model was fitted on (the file's `idx` / `fb_idx`, else row numbers); evaluation
    /// on the same file defaults to the others.
    pub train_ids: Vec<usize>,
    /// A content key of the file the model was fitted on (size and hash), when there was one.
    #[serde(default)]
    pub train_file: Option<String>,
    /// Accuracy on the validation part of the training rows when the fit chose among variants.
    pub validation: Option<Accuracy>,
    /// The fitted form.
    pub model: Fitted,
}

/// [`LatencyModel`] as read, before [`LatencyModel::validate`].
#[derive(Deserialize)]
struct UncheckedLatencyModel {
    space: String,
    device: String,
    dataset: Option<String>,
    train_ids: Vec<usize>,
    #[serde(default)]
    train_file: Option<String>,
    validation: Option<Accuracy>,
    model: Fitted,
}

impl TryFrom<UncheckedLatencyModel> for LatencyModel {
    type Error = String;
    fn try_from(u: UncheckedLatencyModel) -> std::result::Result<Self, String> {
        let m = LatencyModel {
            space: u.space,
            device: u.device,
            dataset: u.dataset,
            train_ids: u.train_ids,
            train_file: u.train_file,
            validation: u.validation,
            model: u.model,
        };
        m.check()?;
        Ok(m)
    }
}

impl LatencyModel {
    /// Reads a model from JSON text, validated; errors are one line.
    pub fn from_json(text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| Error::invalid("fitted model", e.to_string()))
    }

    /// Checks what a model must be: a space it knows (`nb201` or `fbnet`); for the cell model
    /// (NB201 only) exactly [`nb201::feature_count`] finite weights and, when named, the matching
    /// feature names; for a table one finite entry per option of every decision of the space.
    pub fn validate(&self) -> Result<()> {
        self.check().map_err(|m| Error::invalid("fitted model", m))
    }

    fn check(&self) -> std::result::Result<(), String> {
        let decisions = match self.space.as_str() {
            "nb201" => nas_spaces::Nb201Space::default().decisions().to_vec(),
            "fbnet" => nas_spaces::FbnetSpace::default().decisions().to_vec(),
            other => return Err(format!("space {other:?} is not nb201 or fbnet")),
        };
        match &self.model {
            Fitted::Cell { pairs, features, weights, .. } => {
                if self.space != "nb201" {
                    return Err(format!("the cell model is for nb201, not {}", self.space));
                }
                let need = nb201::feature_count(*pairs);
                if weights.len() != need {
                    return Err(format!(
                        "{} weights; the cell model {} pair terms has {need}",
                        weights.len(),
                        if *pairs { "with" } else { "without" }
                    ));
                }
                if let Some((i, w)) = weights.iter().enumerate().find(|(_, w)| !w.is_finite()) {
                    return Err(format!("weight {i} = {w} is not finite"));
                }
                if !features.is_empty() && *features != nb201::feature_names(*pairs) {
                    return Err(format!("{} feature names do not match the cell model's {need}", features.len()));
                }
            }
            Fitted::Table { table } => {
                AdditiveCost::new(&table.name, &table.unit, table.base, table.entries.clone())
                    .map_err(|e| e.to_string())?;
                table.check_fits(&decisions).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// The predicted latency of a genotype, never below 0: the cell model's weights come from an
    /// unconstrained least-squares fit, so its linear prediction can dip below zero for cells
    /// unlike any it was fitted on (e.g. a cell whose output is constant); such a prediction is
    /// clamped to 0. A table (non-negative entries by its fit) is clamped the same way, for
    /// hand-edited files.
    pub fn predict(&self, g: &Genotype) -> Result<f64> {
        let raw = match &self.model {
            Fitted::Table { table } => table.cost(g)?,
            Fitted::Cell { pruning, pairs, weights, .. } => {
                if g.0.len() != 6 || g.0.iter().any(|&o| o > 4) {
                    return Err(Error::InvalidGenotype(format!("{g} is not an NB201 cell")));
                }
                let f = nb201::features(g, *pruning, *pairs);
                if weights.len() != f.len() {
                    return Err(Error::invalid(
                        "fitted model",
                        format!("{} weights for {} features", weights.len(), f.len()),
                    ));
                }
                f.iter().zip(weights).map(|(a, b)| a * b).sum()
            }
        };
        if !raw.is_finite() {
            return Err(Error::Numerical(format!("the model predicts {raw} for {g}")));
        }
        Ok(raw.max(0.0))
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

/// The fewest measurements [`fit_cell`] accepts: it fits on 80 % of them and chooses its variant
/// on the rest.
pub fn min_cell_rows() -> usize {
    (nb201::feature_count(false) * 5).div_ceil(4)
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
                train_file: None,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cell(weights: Vec<f64>, pairs: bool) -> LatencyModel {
        LatencyModel {
            space: "nb201".into(),
            device: "d".into(),
            dataset: None,
            train_ids: vec![],
            train_file: None,
            validation: None,
            model: Fitted::Cell { pruning: Pruning::Nothing, pairs, features: nb201::feature_names(pairs), weights },
        }
    }

    fn load(m: &LatencyModel) -> Result<LatencyModel> {
        LatencyModel::from_json(&serde_json::to_string_pretty(m).unwrap())
    }

    #[test]
    fn a_model_is_validated_when_loaded() {
        let good = cell((0..45).map(|i| f64::from(i) / 7.0).collect(), false);
        assert_eq!(load(&good).unwrap(), good);
        // A weight list cut from 45 to 10 entries.
        let e = load(&cell(vec![1.0; 10], false)).unwrap_err().to_string();
        assert!(e.contains("10 weights") && e.contains("45"), "{e}");
        let e = load(&cell(vec![1.0; 45], true)).unwrap_err().to_string();
        assert!(e.contains("45 weights") && e.contains(&nb201::feature_count(true).to_string()), "{e}");
        // A number beyond f64 in the file.
        let text = serde_json::to_string(&good).unwrap().replacen("0.0,", "1e309,", 1);
        assert!(LatencyModel::from_json(&text).unwrap_err().to_string().contains("out of range"));
        let mut wrong = good.clone();
        wrong.space = "fbnet".into();
        assert!(load(&wrong).unwrap_err().to_string().contains("the cell model is for nb201"));
        wrong.space = "mine".into();
        assert!(load(&wrong).unwrap_err().to_string().contains("\"mine\""));
        let mut names = good.clone();
        if let Fitted::Cell { features, .. } = &mut names.model {
            features.truncate(3);
        }
        assert!(load(&names).unwrap_err().to_string().contains("feature names"));
        // Tables must fit the space: 6 decisions of 5 options for NB201.
        let table = |entries: Vec<Vec<f64>>| LatencyModel {
            space: "nb201".into(),
            model: Fitted::Table { table: AdditiveCost { name: "t".into(), unit: "ms".into(), base: 1.0, entries } },
            ..good.clone()
        };
        assert!(load(&table(vec![vec![0.5; 5]; 6])).is_ok());
        let e = load(&table(vec![vec![0.5; 5]; 5])).unwrap_err().to_string();
        assert!(e.contains("do not fit"), "{e}");
        for e in [load(&table(vec![vec![]; 6])), load(&table(vec![vec![0.5; 4]; 6]))] {
            let e = e.unwrap_err().to_string();
            assert!(e.starts_with("invalid fitted model: invalid cost table") && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn predictions_are_never_negative() {
        let mut w = vec![0.0; 45];
        w[0] = -5.0;
        let m = cell(w, false);
        assert_eq!(m.predict(&Genotype(vec![3; 6])).unwrap(), 0.0);
        let m = cell(vec![1.0; 45], false);
        assert!(m.predict(&Genotype(vec![3; 6])).unwrap() > 0.0);
        assert!(m.predict(&Genotype(vec![5; 6])).is_err());
        let table = |base: f64| LatencyModel {
            model: Fitted::Table {
                table: AdditiveCost { name: "t".into(), unit: "ms".into(), base, entries: vec![vec![1.0; 5]; 6] },
            },
            ..cell(vec![1.0; 45], false)
        };
        assert_eq!(table(-3.0).predict(&Genotype(vec![0; 6])).unwrap(), 3.0);
        assert_eq!(table(-9.0).predict(&Genotype(vec![0; 6])).unwrap(), 0.0);
    }
}
