//! How well a cost model predicts measured latencies.

use serde::{Deserialize, Serialize};

/// Accuracy of predictions against measurements: RMSE (in the measurement's unit: ms, or mJ for an
/// energy column), Spearman's rho, the shares of predictions within +-5 % and +-10 % of the measured
/// value (fractions 0..1), and the lag-1 autocorrelation of the relative errors in the order the rows
/// were given.
///
/// That last figure is a diagnostic of the data, not of the model: near 0 when the errors of
/// neighbouring rows are independent; close to 1 when the measurements drift in the order they were
/// taken (device temperature, background load, measurement sessions), a part of the latency that no
/// model of the architecture alone can predict.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Rows compared.
    pub n: usize,
    /// Root mean square error, in the unit of the values (ms for latency).
    pub rmse_ms: f64,
    /// Spearman rank correlation of predicted and measured values.
    pub spearman: f64,
    /// Fraction of predictions within +-5 % of the measurement.
    pub within_5pct: f64,
    /// Fraction of predictions within +-10 % of the measurement.
    pub within_10pct: f64,
    /// Lag-1 autocorrelation of the residuals in row order.
    #[serde(default)]
    pub residual_autocorrelation: f64,
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
        residual_autocorrelation: lag1_autocorrelation(
            &predicted.iter().zip(measured).map(|(p, m)| (p - m) / m).collect::<Vec<_>>(),
        ),
    }
}

/// Pearson correlation of `x[i]` with `x[i + 1]` (NaN for fewer than 3 values or a constant series).
fn lag1_autocorrelation(x: &[f64]) -> f64 {
    if x.len() < 3 {
        return f64::NAN;
    }
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
    let cov = x.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum::<f64>();
    cov / var
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drifting_errors_show_in_the_autocorrelation_and_independent_ones_do_not() {
        let measured: Vec<f64> = (0..400).map(|i| 10.0 + (i % 7) as f64).collect();
        // A slow drift: errors of neighbouring rows are alike.
        let drift: Vec<f64> =
            measured.iter().enumerate().map(|(i, m)| m * (1.0 + 0.1 * (i as f64 / 40.0).sin())).collect();
        assert!(accuracy(&drift, &measured).residual_autocorrelation > 0.9);
        // Alternating errors: strongly negative.
        let alt: Vec<f64> =
            measured.iter().enumerate().map(|(i, m)| m * if i % 2 == 0 { 1.05 } else { 0.95 }).collect();
        assert!(accuracy(&alt, &measured).residual_autocorrelation < -0.9);
        // Independent errors (splitmix64 of the row): small.
        let mix = |i: u64| {
            let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as f64 / u64::MAX as f64 - 0.5
        };
        let noise: Vec<f64> = measured.iter().enumerate().map(|(i, m)| m * (1.0 + 0.05 * mix(i as u64))).collect();
        assert!(accuracy(&noise, &measured).residual_autocorrelation.abs() < 0.15);
        let a = accuracy(&measured, &measured);
        assert_eq!((a.within_10pct, a.rmse_ms), (1.0, 0.0));
    }
}
