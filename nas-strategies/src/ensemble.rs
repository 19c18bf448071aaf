//! Ensembles of sub-architectures and their pruning for diversity (SAEP: "Sub-Architecture
//! Ensemble Pruning in Neural Architecture Search", Bian et al.), over the members' class
//! probabilities: no tensors, no networks.
//!
//! The ensemble predicts the class of highest averaged probability. Pruning removes members one at
//! a time (backward elimination) on a *pruning set*, and the order of removal gives the ensemble at
//! every size:
//!
//! - **PRS** (random): a seeded random order.
//! - **PAP** (accuracy, leave-one-out): remove the member without which the ensemble is the most
//!   accurate (ties: the lowest index).
//! - **PIE** (information entropy): remove the member without which
//!   `J(S) = alpha * mean_{i in S} NMI(h_i; y) + (1 - alpha) * mean_{i < j in S} VI_n(h_i, h_j)` is
//!   largest, where `h_i` are member `i`'s predicted labels, `NMI(a; b) = I(a; b) / sqrt(H(a) H(b))`
//!   is the relevance to the labels and `VI_n(a, b) = (H(a, b) - I(a; b)) / H(a, b)` (the variation
//!   of information over the joint entropy, 0 to 1) the diversity of two members. SAEP's
//!   information-entropy criterion trades diversity against relevance this way; `alpha` = 0.5
//!   weighs them equally.

use nas_core::{Error, Result};
use rand::RngCore;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// How members are pruned.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Criterion {
    /// A seeded random order.
    Prs,
    /// Leave-one-out accuracy.
    Pap,
    /// Relevance and diversity in information terms, weighted by `alpha` (relevance).
    Pie {
        /// The weight of relevance (the weight of diversity is `1 - alpha`).
        alpha: f64,
    },
}

impl Criterion {
    /// PRS, PAP or PIE.
    pub fn name(self) -> &'static str {
        match self {
            Criterion::Prs => "PRS",
            Criterion::Pap => "PAP",
            Criterion::Pie { .. } => "PIE",
        }
    }
}

/// The members' class probabilities on one image set, with its labels.
#[derive(Clone, Debug)]
pub struct Members {
    /// Per member, `[images, classes]` row-major probabilities.
    pub probs: Vec<Vec<f32>>,
    /// The true class of every image.
    pub labels: Vec<u32>,
    /// Classes.
    pub classes: usize,
}

impl Members {
    /// Checks the shapes: every member has `labels.len() * classes` values, every label a class.
    pub fn new(probs: Vec<Vec<f32>>, labels: Vec<u32>, classes: usize) -> Result<Self> {
        let n = labels.len() * classes;
        if probs.is_empty() || labels.is_empty() || classes == 0 {
            return Err(Error::invalid("ensemble", "no members, images or classes"));
        }
        if let Some((i, p)) = probs.iter().enumerate().find(|(_, p)| p.len() != n) {
            return Err(Error::invalid("ensemble", format!("member {i} has {} values, not {n}", p.len())));
        }
        if let Some(l) = labels.iter().find(|&&l| l as usize >= classes) {
            return Err(Error::invalid("ensemble", format!("label {l} outside the {classes} classes")));
        }
        Ok(Members { probs, labels, classes })
    }

    /// Members.
    pub fn len(&self) -> usize {
        self.probs.len()
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.probs.is_empty()
    }

    /// The restriction to images `range`.
    pub fn images(&self, range: std::ops::Range<usize>) -> Members {
        let c = self.classes;
        Members {
            probs: self.probs.iter().map(|p| p[range.start * c..range.end * c].to_vec()).collect(),
            labels: self.labels[range].to_vec(),
            classes: c,
        }
    }

    /// Member `m`'s predicted class per image.
    pub fn predictions(&self, m: usize) -> Vec<u32> {
        self.probs[m].chunks(self.classes).map(argmax).collect()
    }

    /// Accuracy (percent) of the members `subset`, averaging their probabilities.
    pub fn accuracy(&self, subset: &[usize]) -> f64 {
        let c = self.classes;
        let mut mean = vec![0.0f64; c];
        let mut correct = 0usize;
        for (i, &label) in self.labels.iter().enumerate() {
            mean.iter_mut().for_each(|v| *v = 0.0);
            for &m in subset {
                for (v, &p) in mean.iter_mut().zip(&self.probs[m][i * c..(i + 1) * c]) {
                    *v += f64::from(p);
                }
            }
            let best = (0..c).fold(0, |b, k| if mean[k] > mean[b] { k } else { b });
            correct += usize::from(best == label as usize);
        }
        100.0 * correct as f64 / self.labels.len().max(1) as f64
    }

    /// Mean over pairs of `subset` of the share of images two members classify differently
    /// (0 for fewer than two members).
    pub fn disagreement(&self, subset: &[usize]) -> f64 {
        let preds: Vec<Vec<u32>> = subset.iter().map(|&m| self.predictions(m)).collect();
        mean_over_pairs(&preds, |a, b| a.iter().zip(b).filter(|(x, y)| x != y).count() as f64 / a.len().max(1) as f64)
    }

    /// Mean normalised variation of information over pairs of `subset` (see the module doc).
    pub fn diversity(&self, subset: &[usize]) -> f64 {
        let preds: Vec<Vec<u32>> = subset.iter().map(|&m| self.predictions(m)).collect();
        let c = self.classes;
        mean_over_pairs(&preds, |a, b| normalised_vi(a, b, c))
    }
}

fn argmax(row: &[f32]) -> u32 {
    (0..row.len()).fold(0, |b, k| if row[k] > row[b] { k } else { b }) as u32
}

fn mean_over_pairs(preds: &[Vec<u32>], f: impl Fn(&[u32], &[u32]) -> f64) -> f64 {
    let (mut sum, mut pairs) = (0.0, 0usize);
    for i in 0..preds.len() {
        for j in i + 1..preds.len() {
            sum += f(&preds[i], &preds[j]);
            pairs += 1;
        }
    }
    if pairs == 0 { 0.0 } else { sum / pairs as f64 }
}

/// `H(a)`, `H(b)` and `H(a, b)` in nats of two label sequences over `classes` values.
fn entropies(a: &[u32], b: &[u32], classes: usize) -> (f64, f64, f64) {
    let n = a.len().min(b.len()) as f64;
    let mut joint = vec![0usize; classes * classes];
    let (mut pa, mut pb) = (vec![0usize; classes], vec![0usize; classes]);
    for (&x, &y) in a.iter().zip(b) {
        joint[x as usize * classes + y as usize] += 1;
        pa[x as usize] += 1;
        pb[y as usize] += 1;
    }
    let h = |counts: &[usize]| -> f64 {
        counts.iter().filter(|&&k| k > 0).map(|&k| -(k as f64 / n) * (k as f64 / n).ln()).sum()
    };
    (h(&pa), h(&pb), h(&joint))
}

/// Normalised mutual information `I(a; b) / sqrt(H(a) H(b))` (0 when either is constant).
pub fn nmi(a: &[u32], b: &[u32], classes: usize) -> f64 {
    let (ha, hb, hab) = entropies(a, b, classes);
    let denom = (ha * hb).sqrt();
    if denom > 0.0 { ((ha + hb - hab) / denom).clamp(0.0, 1.0) } else { 0.0 }
}

/// Normalised variation of information `(H(a, b) - I(a; b)) / H(a, b)` (0 when both are constant).
pub fn normalised_vi(a: &[u32], b: &[u32], classes: usize) -> f64 {
    let (ha, hb, hab) = entropies(a, b, classes);
    if hab > 0.0 { ((2.0 * hab - ha - hb) / hab).clamp(0.0, 1.0) } else { 0.0 }
}

/// The order in which `criterion` removes the members, judged on `pruning` (every member once;
/// the ensemble of size k keeps all but the first `len - k`). Only PRS draws from `rng`.
pub fn removal_order(pruning: &Members, criterion: Criterion, rng: &mut dyn RngCore) -> Vec<usize> {
    let mut kept: Vec<usize> = (0..pruning.len()).collect();
    if let Criterion::Prs = criterion {
        kept.shuffle(rng);
        return kept;
    }
    let preds: Vec<Vec<u32>> = (0..pruning.len()).map(|m| pruning.predictions(m)).collect();
    let c = pruning.classes;
    let relevance: Vec<f64> = preds.iter().map(|p| nmi(p, &pruning.labels, c)).collect();
    let objective = |set: &[usize]| -> f64 {
        match criterion {
            Criterion::Pap | Criterion::Prs => pruning.accuracy(set),
            Criterion::Pie { alpha } => {
                let rel = set.iter().map(|&m| relevance[m]).sum::<f64>() / set.len().max(1) as f64;
                let sub: Vec<Vec<u32>> = set.iter().map(|&m| preds[m].clone()).collect();
                alpha * rel + (1.0 - alpha) * mean_over_pairs(&sub, |a, b| normalised_vi(a, b, c))
            }
        }
    };
    let mut order = Vec::with_capacity(kept.len());
    while kept.len() > 1 {
        let (mut best, mut best_value) = (0, f64::NEG_INFINITY);
        for k in 0..kept.len() {
            let without: Vec<usize> = kept.iter().enumerate().filter(|&(i, _)| i != k).map(|(_, &m)| m).collect();
            let v = objective(&without);
            if v > best_value {
                (best, best_value) = (k, v);
            }
        }
        order.push(kept.remove(best));
    }
    order.extend(kept);
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(seed)
    }

    fn one_hot(labels: &[u32], classes: usize) -> Vec<f32> {
        labels.iter().flat_map(|&l| (0..classes).map(move |k| if k == l as usize { 1.0 } else { 0.0 })).collect()
    }

    #[test]
    fn information_measures_match_hand_values() {
        let a = [0, 0, 1, 1];
        assert!((nmi(&a, &a, 2) - 1.0).abs() < 1e-12);
        assert_eq!(normalised_vi(&a, &a, 2), 0.0);
        // Independent halves: I = 0, so NMI 0 and VI_n 1.
        let b = [0, 1, 0, 1];
        assert!(nmi(&a, &b, 2).abs() < 1e-12);
        assert!((normalised_vi(&a, &b, 2) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn pruning_drops_the_useless_and_the_redundant_first() {
        let labels = [0, 1, 2, 0, 1, 2, 1, 2];
        // Members 0 and 1 are right and identical; member 2 always answers class 0.
        let constant = [0; 8];
        let probs = vec![one_hot(&labels, 3), one_hot(&labels, 3), one_hot(&constant, 3)];
        let m = Members::new(probs, labels.to_vec(), 3).unwrap();
        assert_eq!(m.accuracy(&[0]), 100.0);
        assert_eq!(m.accuracy(&[2]), 25.0);
        assert_eq!(m.accuracy(&[0, 1, 2]), 100.0);
        assert_eq!(m.disagreement(&[0, 1]), 0.0);
        assert_eq!(m.disagreement(&[0, 2]), 0.75);
        // PAP: without member 2 the ensemble stays at 100 %, without 0 or 1 ties go to class 0.
        assert_eq!(removal_order(&m, Criterion::Pap, &mut rng(0))[0], 2);
        // PIE, all weight on relevance: member 2 carries no information on the labels (NMI 0).
        assert_eq!(removal_order(&m, Criterion::Pie { alpha: 1.0 }, &mut rng(0))[0], 2);
        // PIE, all weight on diversity: a duplicate goes first, the constant member stays.
        let diverse = removal_order(&m, Criterion::Pie { alpha: 0.0 }, &mut rng(0));
        assert_eq!(diverse[0], 0, "{diverse:?}");
        assert_eq!(diverse[1], 1, "then {{1, 2}} or {{2}} alone: ties go to the lowest index");
        let prs = removal_order(&m, Criterion::Prs, &mut rng(7));
        let mut sorted = prs.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![0, 1, 2]);
        assert_eq!(prs, removal_order(&m, Criterion::Prs, &mut rng(7)), "seeded");
        assert!(Members::new(vec![vec![0.0; 3]], vec![0, 1], 3).is_err());
    }
}
