//! A safe single-threaded f32 matrix product over the `gemm` crate's SIMD kernels.

/// `c = a x b` for row-major `a` (`m x k`), `b` (`k x n`) and `c` (`m x n`).
///
/// # Panics
/// If a slice is shorter than its matrix (a caller bug, never user input).
#[allow(unsafe_code)]
pub fn matmul(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n, "matmul: slices shorter than {m}x{k}x{n}");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c[..m * n].fill(0.0);
        return;
    }
    // SAFETY: the three slices hold at least m*k, k*n and m*n elements (checked above); the
    // strides describe dense row-major matrices inside them; `c` is borrowed mutably, so it does
    // not alias `a` or `b`; `read_dst = false` means `c`'s old values are not read.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
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
    }
}
