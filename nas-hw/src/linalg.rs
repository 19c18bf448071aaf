//! Least squares for the latency tables: a ridge-stabilised normal-equation solve and a
//! non-negative least squares (Lawson & Hanson, "Solving Least Squares Problems", 1974, ch. 23).
// Dense matrix code reads best with explicit indices.
#![allow(clippy::needless_range_loop)]

use nas_core::linalg::Cholesky;

/// Solves the symmetric positive (semi-)definite system `m z = r` by Cholesky
/// ([`nas_core::linalg::Cholesky`]), after adding `ridge * (1 + max diagonal)` to the diagonal so
/// one-hot columns that sum to the intercept stay solvable; pivots that rounding still leaves below
/// `1e-300` are raised to it. NaN where `m` or `r` holds a NaN or infinite entry.
pub fn solve_spd(m: &[Vec<f64>], r: &[f64], ridge: f64) -> Vec<f64> {
    let n = r.len();
    let scale = ridge * (1.0 + m.iter().enumerate().map(|(i, row)| row[i]).fold(0.0, f64::max));
    let mut a = vec![0.0; n * n];
    for (i, row) in m.iter().enumerate().take(n) {
        for (j, &v) in row.iter().enumerate().take(i + 1) {
            a[i * n + j] = v + if i == j { scale } else { 0.0 };
        }
    }
    match Cholesky::with_pivot_floor(&a, n, 1e-300).and_then(|c| c.solve(r)) {
        Ok(z) => z,
        Err(_) => vec![f64::NAN; n],
    }
}

/// `(AᵀA, Aᵀb)` of the rows `a` (each a feature vector) and targets `b`.
pub fn normal_equations(a: &[Vec<f64>], b: &[f64]) -> (Vec<Vec<f64>>, Vec<f64>) {
    let n = a.first().map_or(0, Vec::len);
    let mut ata = vec![vec![0.0; n]; n];
    let mut atb = vec![0.0; n];
    for (row, &y) in a.iter().zip(b) {
        for (i, &xi) in row.iter().enumerate() {
            if xi == 0.0 {
                continue;
            }
            atb[i] += xi * y;
            for (j, &xj) in row.iter().enumerate().take(i + 1) {
                ata[i][j] += xi * xj;
            }
        }
    }
    for i in 0..n {
        for j in 0..i {
            ata[j][i] = ata[i][j];
        }
    }
    (ata, atb)
}

/// Ordinary least squares `min |A x - b|` (ridge-stabilised, see [`solve_spd`]).
pub fn least_squares(a: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let (ata, atb) = normal_equations(a, b);
    solve_spd(&ata, &atb, 1e-11)
}

/// Non-negative least squares `min |A x - b|` subject to `x >= 0`, by Lawson-Hanson's active set.
pub fn nnls(a: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let (ata, atb) = normal_equations(a, b);
    nnls_normal(&ata, &atb)
}

/// [`nnls`] from the normal equations `AᵀA`, `Aᵀb`.
pub fn nnls_normal(ata: &[Vec<f64>], atb: &[f64]) -> Vec<f64> {
    let n = atb.len();
    let mut x = vec![0.0; n];
    let mut passive = vec![false; n];
    let gradient = |x: &[f64]| -> Vec<f64> {
        (0..n).map(|i| atb[i] - ata[i].iter().zip(x).map(|(a, b)| a * b).sum::<f64>()).collect()
    };
    let tol = 1e-10 * (1.0 + atb.iter().map(|v| v.abs()).fold(0.0, f64::max));
    let solve_passive = |passive: &[bool]| -> Vec<f64> {
        let idx: Vec<usize> = (0..n).filter(|&i| passive[i]).collect();
        let m: Vec<Vec<f64>> = idx.iter().map(|&i| idx.iter().map(|&j| ata[i][j]).collect()).collect();
        let r: Vec<f64> = idx.iter().map(|&i| atb[i]).collect();
        let zp = solve_spd(&m, &r, 1e-12);
        let mut z = vec![0.0; n];
        for (k, &i) in idx.iter().enumerate() {
            z[i] = zp[k];
        }
        z
    };
    for _ in 0..3 * n + 10 {
        let w = gradient(&x);
        let Some((t, &wt)) = w.iter().enumerate().filter(|(i, _)| !passive[*i]).max_by(|a, b| a.1.total_cmp(b.1))
        else {
            break;
        };
        if wt <= tol {
            break;
        }
        passive[t] = true;
        loop {
            let z = solve_passive(&passive);
            if (0..n).filter(|&i| passive[i]).all(|i| z[i] > 0.0) {
                x = z;
                break;
            }
            let alpha = (0..n)
                .filter(|&i| passive[i] && z[i] <= 0.0)
                .map(|i| x[i] / (x[i] - z[i]))
                .fold(f64::INFINITY, f64::min);
            for i in 0..n {
                x[i] += alpha * (z[i] - x[i]);
                if passive[i] && x[i] <= 1e-15 {
                    passive[i] = false;
                    x[i] = 0.0;
                }
            }
            if !passive.iter().any(|&p| p) {
                break;
            }
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn residual(a: &[Vec<f64>], b: &[f64], x: &[f64]) -> f64 {
        a.iter().zip(b).map(|(r, y)| (r.iter().zip(x).map(|(p, q)| p * q).sum::<f64>() - y).powi(2)).sum()
    }

    /// The plain reference: least squares on every subset of columns, keep the best feasible one.
    fn nnls_by_subsets(a: &[Vec<f64>], b: &[f64]) -> f64 {
        let n = a[0].len();
        let mut best = residual(a, b, &vec![0.0; n]);
        for mask in 1..(1u32 << n) {
            let cols: Vec<usize> = (0..n).filter(|i| mask & (1 << i) != 0).collect();
            let sub: Vec<Vec<f64>> = a.iter().map(|r| cols.iter().map(|&c| r[c]).collect()).collect();
            let z = least_squares(&sub, b);
            if z.iter().all(|&v| v >= -1e-12) {
                let mut x = vec![0.0; n];
                for (k, &c) in cols.iter().enumerate() {
                    x[c] = z[k];
                }
                best = best.min(residual(a, b, &x));
            }
        }
        best
    }

    #[test]
    fn nnls_matches_the_subset_reference_on_random_problems() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..40 {
            let (m, n) = (rng.random_range(6..15), rng.random_range(2..6));
            let a: Vec<Vec<f64>> = (0..m).map(|_| (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()).collect();
            let b: Vec<f64> = (0..m).map(|_| rng.random_range(-1.0..1.0)).collect();
            let x = nnls(&a, &b);
            assert!(x.iter().all(|&v| v >= 0.0), "{x:?}");
            let (got, want) = (residual(&a, &b, &x), nnls_by_subsets(&a, &b));
            assert!((got - want).abs() <= 1e-7 * (1.0 + want), "nnls {got} vs reference {want}");
        }
    }

    #[test]
    fn least_squares_recovers_an_exact_fit() {
        let a: Vec<Vec<f64>> = (0..10).map(|i| vec![1.0, i as f64, (i * i) as f64]).collect();
        let b: Vec<f64> = (0..10).map(|i| 2.0 - 0.5 * i as f64 + 0.25 * (i * i) as f64).collect();
        let x = least_squares(&a, &b);
        for (got, want) in x.iter().zip([2.0, -0.5, 0.25]) {
            assert!((got - want).abs() < 1e-3, "{x:?}");
        }
    }
}
