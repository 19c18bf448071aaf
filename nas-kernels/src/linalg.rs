//! Small dense linear algebra in f64 for the scores: eigenvalues of symmetric matrices and the
//! correlation matrix of rows.

use nas_core::{Error, Result};

/// Eigenvalues (ascending) of a symmetric `n x n` row-major matrix, by cyclic Jacobi rotations.
pub fn sym_eigenvalues(a: &[f64], n: usize) -> Result<Vec<f64>> {
    if a.len() != n * n {
        return Err(Error::invalid("matrix", format!("{} entries for a {n} x {n} matrix", a.len())));
    }
    if let Some(bad) = a.iter().find(|v| !v.is_finite()) {
        return Err(Error::Numerical(format!("matrix entry {bad} in an eigenvalue problem")));
    }
    let mut m = a.to_vec();
    let scale: f64 = m.iter().map(|v| v * v).sum::<f64>().sqrt();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i * n + j] * m[i * n + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * scale.max(f64::MIN_POSITIVE) {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (m[q * n + q] - m[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (m[k * n + p], m[k * n + q]);
                    m[k * n + p] = c * akp - s * akq;
                    m[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (m[p * n + k], m[q * n + k]);
                    m[p * n + k] = c * apk - s * aqk;
                    m[q * n + k] = s * apk + c * aqk;
                }
            }
        }
    }
    let mut eig: Vec<f64> = (0..n).map(|i| m[i * n + i]).collect();
    eig.sort_by(f64::total_cmp);
    Ok(eig)
}

/// Pearson correlation matrix of the `rows` rows of a `rows x cols` matrix (numpy's `corrcoef`).
/// A constant row has no correlation: its entries are NaN, as numpy gives.
pub fn corrcoef_rows(x: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let centred: Vec<Vec<f64>> = x
        .chunks_exact(cols)
        .map(|r| {
            let mean = r.iter().sum::<f64>() / cols as f64;
            r.iter().map(|v| v - mean).collect()
        })
        .collect();
    let norms: Vec<f64> = centred.iter().map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt()).collect();
    let mut c = vec![0.0; rows * rows];
    for i in 0..rows {
        for j in i..rows {
            let dot: f64 = centred[i].iter().zip(&centred[j]).map(|(a, b)| a * b).sum();
            let v = dot / (norms[i] * norms[j]);
            c[i * rows + j] = v;
            c[j * rows + i] = v;
        }
    }
    c
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn eigenvalues_of_known_matrices() {
        let e = sym_eigenvalues(&[2.0, 1.0, 1.0, 2.0], 2).unwrap();
        assert!((e[0] - 1.0).abs() < 1e-12 && (e[1] - 3.0).abs() < 1e-12);
        // Trace and determinant of a random symmetric 6x6 matrix agree with the eigenvalues.
        let n = 6;
        let mut a = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let v = ((i * 7 + j * 13) % 11) as f64 - 5.0;
                a[i * n + j] = v;
                a[j * n + i] = v;
            }
        }
        let e = sym_eigenvalues(&a, n).unwrap();
        let trace: f64 = (0..n).map(|i| a[i * n + i]).sum();
        assert!((e.iter().sum::<f64>() - trace).abs() < 1e-9);
        let frob: f64 = a.iter().map(|v| v * v).sum();
        assert!((e.iter().map(|v| v * v).sum::<f64>() - frob).abs() < 1e-8);
        assert!(sym_eigenvalues(&[f64::NAN], 1).is_err());
    }

    #[test]
    fn correlation_of_rows() {
        let c = corrcoef_rows(&[1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 3.0, 2.0, 1.0], 3, 3);
        let expect = [1.0, 1.0, -1.0, 1.0, 1.0, -1.0, -1.0, -1.0, 1.0];
        for (a, b) in c.iter().zip(expect) {
            assert!((a - b).abs() < 1e-12);
        }
    }
}
