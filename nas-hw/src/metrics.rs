//! How well a cost model predicts measured latencies.

use serde::{Deserialize, Serialize};

/// Accuracy of predictions against measurements: RMSE (ms), Spearman's rho, and the shares of
/// predictions within +-5 % and +-10 % of the measured value (fractions 0..1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub n: usize,
    pub rmse_ms: f64,
    pub spearman: f64,
    pub within_5pct: f64,
    pub within_10pct: f64,
}

/// The accuracy of `predicted` against `measured` (same length, measured values positive).
pub fn accuracy(predicted: &[f64], measured: &[f64]) -> Accuracy {
    let n = predicted.len().min(measured.len());
    let share = |tol: f64| {
        if n == 0 {
            return f64::NAN;
        }
        predicted.iter().zip(measured).filter(|(p, m)| ((*p - *m) / *m).abs() <= tol).count() as f64 / n as f64
    };
    let mse = predicted.iter().zip(measured).map(|(p, m)| (p - m).powi(2)).sum::<f64>() / n.max(1) as f64;
    Accuracy {
        n,
        rmse_ms: mse.sqrt(),
        spearman: nas_core::stats::spearman(predicted, measured).unwrap_or(f64::NAN),
        within_5pct: share(0.05),
        within_10pct: share(0.10),
    }
}
