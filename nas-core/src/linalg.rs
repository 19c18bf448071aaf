//! Dense f64 linear algebra for the toolkit's small symmetric positive definite systems: the one
//! Cholesky factorisation (NASWOT's log-determinant, the least-squares fits of the latency models,
//! MathNAS's pairwise predictor), triangular solves and the log-determinant.
//!
//! Matrices are row-major `n x n` slices. The factorisation is Cholesky-Banachiewicz (row by row,
//! `L[i][j] = (A[i][j] - L[i][..j] . L[j][..j]) / L[j][j]`) with a four-lane [`dot`]; [`reference`]
//! holds the plain textbook versions it is tested against.
//!
//! ```
//! use nas_core::linalg::{Cholesky, log_det_spd};
//!
//! // A = [[4, 2], [2, 3]] = L Lᵀ with L = [[2, 0], [1, √2]]; det A = 8.
//! let a = [4.0, 2.0, 2.0, 3.0];
//! let c = Cholesky::new(&a, 2)?;
//! assert_eq!(c.lower()[..3], [2.0, 0.0, 1.0]);
//! let x = c.solve(&[6.0, 5.0])?;
//! assert!((x[0] - 1.0).abs() < 1e-12 && (x[1] - 1.0).abs() < 1e-12);
//! assert!((log_det_spd(&a, 2)? - 8f64.ln()).abs() < 1e-12);
//! // A singular matrix has log-determinant -inf, and no Cholesky factor.
//! assert_eq!(log_det_spd(&[1.0, 1.0, 1.0, 1.0], 2)?, f64::NEG_INFINITY);
//! assert!(Cholesky::new(&[1.0, 1.0, 1.0, 1.0], 2).is_err());
//! # Ok::<(), nas_core::Error>(())
//! ```

use crate::error::{Error, Result};

/// Dot product of the common prefix of `a` and `b` with four independent sums, so the compiler
/// can keep several multiply-adds in flight; the rounding is fixed (lanes `0+1`, `2+3`, then the tail).
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4.remainder().iter().zip(b4.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a4.zip(b4) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// The lower-triangular factor `L` of `A = L Lᵀ`, with `log det A` (the sum of the logs of the pivots).
#[derive(Clone, Debug, PartialEq)]
pub struct Cholesky {
    n: usize,
    /// Row-major `n x n`, zero above the diagonal.
    l: Vec<f64>,
    log_det: f64,
}

/// What to do with a pivot (`A[i][i] - |L[i][..i]|²`) that is not clearly positive.
#[derive(Clone, Copy, Debug)]
enum Pivots {
    /// Stop at a pivot at or below `n * eps * max|diag|` (singular up to rounding).
    Reject,
    /// Raise every pivot below the floor to it.
    Floor(f64),
}

/// The outcome of a factorisation: a factor, or the first pivot that was not positive.
enum Factor {
    Done(Cholesky),
    Singular { pivot: usize, value: f64 },
}

fn check_matrix(a: &[f64], n: usize, context: &str) -> Result<()> {
    if a.len() != n * n {
        return Err(Error::invalid("matrix", format!("{} entries for a {n} x {n} matrix", a.len())));
    }
    if let Some(bad) = a.iter().find(|v| !v.is_finite()) {
        return Err(Error::Numerical(format!("matrix entry {bad} in {context}")));
    }
    Ok(())
}

fn factor(a: &[f64], n: usize, pivots: Pivots, context: &str) -> Result<Factor> {
    check_matrix(a, n, context)?;
    let max_diag = (0..n).map(|i| a[i * n + i].abs()).fold(0.0, f64::max);
    let tol = n as f64 * f64::EPSILON * max_diag;
    let mut l = vec![0.0; n * n];
    let mut log_det = 0.0;
    for i in 0..n {
        let (done, rest) = l.split_at_mut(i * n);
        let row_i = &mut rest[..n];
        for j in 0..i {
            let row_j = &done[j * n..j * n + j + 1];
            row_i[j] = (a[i * n + j] - dot(&row_i[..j], &row_j[..j])) / row_j[j];
        }
        let mut d = a[i * n + i] - dot(&row_i[..i], &row_i[..i]);
        if d.is_nan() {
            return Err(Error::Numerical(format!("NaN pivot in {context}")));
        }
        match pivots {
            Pivots::Reject if d <= tol => return Ok(Factor::Singular { pivot: i, value: d }),
            Pivots::Floor(floor) => d = d.max(floor),
            Pivots::Reject => {}
        }
        row_i[i] = d.sqrt();
        log_det += d.ln();
    }
    Ok(Factor::Done(Cholesky { n, l, log_det }))
}

impl Cholesky {
    /// Factors the symmetric positive definite `n x n` matrix `a` (row-major; only the lower
    /// triangle is read). A pivot at or below `n * eps * max|diag|` (not positive definite, up to
    /// rounding) is an [`Error::Numerical`] naming it; so are NaN or infinite entries.
    pub fn new(a: &[f64], n: usize) -> Result<Self> {
        match factor(a, n, Pivots::Reject, "Cholesky factorisation")? {
            Factor::Done(c) => Ok(c),
            Factor::Singular { pivot, value } => {
                Err(Error::Numerical(format!("matrix is not positive definite: Cholesky pivot {pivot} is {value:e}")))
            }
        }
    }

    /// Factors `a` with every pivot below `min_pivot` (> 0) raised to it, so a positive
    /// semi-definite matrix (or one made so by a ridge) always factors. NaN or infinite entries are
    /// an [`Error::Numerical`].
    pub fn with_pivot_floor(a: &[f64], n: usize, min_pivot: f64) -> Result<Self> {
        if !(min_pivot > 0.0 && min_pivot.is_finite()) {
            return Err(Error::invalid("pivot floor", format!("{min_pivot} is not a finite number > 0")));
        }
        match factor(a, n, Pivots::Floor(min_pivot), "Cholesky factorisation")? {
            Factor::Done(c) => Ok(c),
            Factor::Singular { pivot, .. } => Err(Error::Numerical(format!("Cholesky pivot {pivot} under the floor"))),
        }
    }

    /// The order `n`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// `L`, row-major `n x n`, zero above the diagonal.
    pub fn lower(&self) -> &[f64] {
        &self.l
    }

    /// `log det A = sum_i log(pivot_i)` (natural log).
    pub fn log_det(&self) -> f64 {
        self.log_det
    }

    /// Solves `A x = b` by the two triangular solves `L y = b`, `Lᵀ x = y`.
    pub fn solve(&self, b: &[f64]) -> Result<Vec<f64>> {
        if b.len() != self.n {
            return Err(Error::invalid(
                "right-hand side",
                format!("{} entries for a {n} x {n} system", b.len(), n = self.n),
            ));
        }
        let mut x = b.to_vec();
        solve_lower(&self.l, self.n, &mut x);
        solve_lower_transposed(&self.l, self.n, &mut x);
        Ok(x)
    }
}

/// Forward substitution: overwrites `b` with `y` where `L y = b`, for a lower-triangular `l`
/// (row-major `n x n`, non-zero diagonal; entries above the diagonal are not read).
pub fn solve_lower(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let row = &l[i * n..i * n + i + 1];
        b[i] = (b[i] - dot(&row[..i], &b[..i])) / row[i];
    }
}

/// Back substitution with the transpose: overwrites `y` with `x` where `Lᵀ x = y`, for a
/// lower-triangular `l` (row-major `n x n`, non-zero diagonal).
pub fn solve_lower_transposed(l: &[f64], n: usize, y: &mut [f64]) {
    for i in (0..n).rev() {
        let mut s = y[i];
        for k in i + 1..n {
            s -= l[k * n + i] * y[k];
        }
        y[i] = s / l[i * n + i];
    }
}

/// `log det` of a symmetric positive semi-definite `n x n` matrix (row-major) by Cholesky in f64.
/// Returns `-inf` when a pivot falls to `n * eps * max|diag|` or below (singular up to rounding).
/// NaN or infinite entries are an error.
pub fn log_det_spd(a: &[f64], n: usize) -> Result<f64> {
    match factor(a, n, Pivots::Reject, "log-determinant")? {
        Factor::Done(c) => Ok(c.log_det),
        Factor::Singular { .. } => Ok(f64::NEG_INFINITY),
    }
}

/// Solves `A x = b` for a symmetric positive definite `A` ([`Cholesky::new`], then [`Cholesky::solve`]).
pub fn solve_spd(a: &[f64], n: usize, b: &[f64]) -> Result<Vec<f64>> {
    Cholesky::new(a, n)?.solve(b)
}

/// Plain implementations that the factorisation is tested against.
pub mod reference {
    /// `log|det A|` by Gaussian elimination with partial pivoting; `-inf` when a pivot is zero
    /// or below `n * eps * max|A|`.
    pub fn log_det(a: &[f64], n: usize) -> f64 {
        let mut m = a.to_vec();
        let scale = m.iter().fold(0.0f64, |s, v| s.max(v.abs()));
        let tol = n as f64 * f64::EPSILON * scale;
        let mut log_det = 0.0;
        for c in 0..n {
            let p = (c..n).max_by(|&x, &y| m[x * n + c].abs().total_cmp(&m[y * n + c].abs())).unwrap_or(c);
            if m[p * n + c].abs() <= tol {
                return f64::NEG_INFINITY;
            }
            for col in 0..n {
                m.swap(c * n + col, p * n + col);
            }
            let pivot = m[c * n + c];
            log_det += pivot.abs().ln();
            for r in c + 1..n {
                let f = m[r * n + c] / pivot;
                for col in c..n {
                    m[r * n + col] -= f * m[c * n + col];
                }
            }
        }
        log_det
    }

    /// `A x = b` by Gaussian elimination with partial pivoting (any non-singular `A`); `None` when
    /// a pivot is zero.
    pub fn solve(a: &[f64], n: usize, b: &[f64]) -> Option<Vec<f64>> {
        let mut m = a.to_vec();
        let mut x = b.to_vec();
        for c in 0..n {
            let p = (c..n).max_by(|&i, &j| m[i * n + c].abs().total_cmp(&m[j * n + c].abs()))?;
            if m[p * n + c] == 0.0 {
                return None;
            }
            for col in 0..n {
                m.swap(c * n + col, p * n + col);
            }
            x.swap(c, p);
            for r in c + 1..n {
                let f = m[r * n + c] / m[c * n + c];
                for col in c..n {
                    m[r * n + col] -= f * m[c * n + col];
                }
                x[r] -= f * x[c];
            }
        }
        for i in (0..n).rev() {
            let s: f64 = (i + 1..n).map(|k| m[i * n + k] * x[k]).sum();
            x[i] = (x[i] - s) / m[i * n + i];
        }
        Some(x)
    }

    /// `L` of `A = L Lᵀ` by the textbook column-by-column (Cholesky-Crout) loop with sequential
    /// sums; `None` when a pivot is not positive.
    pub fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
        let mut l = vec![0.0; n * n];
        for j in 0..n {
            let d = a[j * n + j] - (0..j).map(|k| l[j * n + k] * l[j * n + k]).sum::<f64>();
            if d <= 0.0 || d.is_nan() {
                return None;
            }
            l[j * n + j] = d.sqrt();
            for i in j + 1..n {
                let s = a[i * n + j] - (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum::<f64>();
                l[i * n + j] = s / l[j * n + j];
            }
        }
        Some(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A random symmetric positive definite matrix `B Bᵀ + n/10 I`.
    fn random_spd(rng: &mut impl Rng, n: usize) -> Vec<f64> {
        let b: Vec<f64> = (0..n * n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| b[i * n + k] * b[j * n + k]).sum::<f64>();
            }
            a[i * n + i] += n as f64 / 10.0;
        }
        a
    }

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn factor_solve_and_log_det_match_the_references_on_random_matrices() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for _ in 0..60 {
            let n = rng.random_range(1..40);
            let a = random_spd(&mut rng, n);
            let c = Cholesky::new(&a, n).unwrap();
            let plain = reference::cholesky(&a, n).unwrap();
            for (x, y) in c.lower().iter().zip(&plain) {
                assert!(close(*x, *y, 1e-10), "L: {x} vs {y} (n = {n})");
            }
            // L Lᵀ reproduces A.
            for i in 0..n {
                for j in 0..=i {
                    let v = dot(&c.lower()[i * n..i * n + j + 1], &c.lower()[j * n..j * n + j + 1]);
                    assert!(close(v, a[i * n + j], 1e-10), "LLᵀ[{i}][{j}] = {v} vs {}", a[i * n + j]);
                }
            }
            let b: Vec<f64> = (0..n).map(|_| rng.random_range(-5.0..5.0)).collect();
            let (x, want) = (c.solve(&b).unwrap(), reference::solve(&a, n, &b).unwrap());
            for (p, q) in x.iter().zip(&want) {
                assert!(close(*p, *q, 1e-8), "x: {p} vs {q} (n = {n})");
            }
            let (got, lu) = (log_det_spd(&a, n).unwrap(), reference::log_det(&a, n));
            assert!(close(got, lu, 1e-10), "log det {got} vs LU {lu}");
            assert_eq!(got, c.log_det());
        }
    }

    #[test]
    fn dot_matches_a_plain_sum() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        for n in 0..30 {
            let a: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let b: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - plain).abs() < 1e-12, "n = {n}");
        }
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[1.0]), 1.0);
    }

    #[test]
    fn singular_and_bad_matrices() {
        // Rank 1 of order 3: a zero pivot up to rounding.
        let a = [4.0, 2.0, 1.0, 2.0, 5.0, 3.0, 1.0, 3.0, 6.0];
        let v = [1.0, 2.0, 3.0];
        let rank_one: Vec<f64> = (0..9).map(|k| v[k / 3] * v[k % 3]).collect();
        assert_eq!(log_det_spd(&rank_one, 3).unwrap(), f64::NEG_INFINITY);
        assert_eq!(reference::log_det(&rank_one, 3), f64::NEG_INFINITY);
        let e = Cholesky::new(&rank_one, 3).unwrap_err().to_string();
        assert!(e.contains("not positive definite") && e.contains("pivot 1"), "{e}");
        assert!(Cholesky::new(&a, 3).is_ok());
        // The floor factors a semi-definite matrix.
        let c = Cholesky::with_pivot_floor(&rank_one, 3, 1e-300).unwrap();
        assert!(c.lower().iter().all(|v| v.is_finite()));
        assert!(Cholesky::with_pivot_floor(&rank_one, 3, 0.0).is_err());
        assert!(log_det_spd(&[1.0, f64::NAN, f64::NAN, 1.0], 2).is_err());
        assert!(log_det_spd(&[1.0, 2.0, 3.0], 2).unwrap_err().to_string().contains("3 entries for a 2 x 2"));
        assert!(Cholesky::new(&[2.0], 1).unwrap().solve(&[1.0, 2.0]).is_err());
        assert_eq!(log_det_spd(&[], 0).unwrap(), 0.0);
    }
}
