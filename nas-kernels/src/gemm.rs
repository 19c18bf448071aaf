//! A safe single-threaded f32 matrix product over the `gemm` crate's SIMD kernels.

/// `c = a x b` for row-major `a` (`m x k`), `b` (`k x n`) and `c` (`m x n`).
///
/// # Panics
/// If a slice is shorter than its matrix (a caller bug, never user input).
pub fn matmul(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    product(m, n, k, (a, false), (b, false), c, false);
}

/// `c (+)= op(a) x op(b)` with `op(a)` `m x k` and `op(b)` `k x n`; a matrix flagged `true` is
/// stored transposed (row-major `k x m`, resp. `n x k`). With `accumulate`, `c` is added to.
///
/// # Panics
/// If a slice is shorter than its matrix (a caller bug, never user input).
#[allow(unsafe_code)]
pub fn product(
    m: usize,
    n: usize,
    k: usize,
    (a, a_t): (&[f32], bool),
    (b, b_t): (&[f32], bool),
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul: slices shorter than {m}x{k}x{n}");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c[..m * n].fill(0.0);
        }
        return;
    }
    // (column stride, row stride) of each operand as the gemm crate takes them.
    let (a_cs, a_rs) = if a_t { (m as isize, 1) } else { (1, k as isize) };
    let (b_cs, b_rs) = if b_t { (k as isize, 1) } else { (1, n as isize) };
    // SAFETY: the three slices hold at least m*k, k*n and m*n elements (checked above) and the
    // strides describe dense matrices of those sizes inside them (row-major or its transpose);
    // `c` is borrowed mutably, so it does not alias `a` or `b`; with `read_dst = false` `c`'s old
    // values are not read, with `true` they are initialised floats.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_the_naive_product() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut c = vec![9.0; m * n];
        super::matmul(m, n, k, &a, &b, &mut c);
        for i in 0..m {
            for j in 0..n {
                let e: f32 = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
                assert!((c[i * n + j] - e).abs() < 1e-5);
            }
        }
        // Transposed operands and accumulation: c + a^T-stored x b^T-stored.
        let at: Vec<f32> = (0..k * m).map(|q| a[(q % m) * k + q / m]).collect();
        let bt: Vec<f32> = (0..n * k).map(|q| b[(q % k) * n + q / k]).collect();
        let mut d = c.clone();
        super::product(m, n, k, (&at, true), (&bt, true), &mut d, true);
        for (x, y) in d.iter().zip(&c) {
            assert!((x - 2.0 * y).abs() < 1e-5);
        }
    }
}
