//! Safe single-threaded f32 matrix products: the `gemm` crate's SIMD kernels (its AVX-512 ones
//! too, feature `x86-v4`, chosen at run time), and this crate's own kernels (`simd`) for the dot
//! products of long rows in convolutions' weight gradients, where the gemm crate is slow.

mod simd;

/// `c (+)= op(a) x op(b)` with `op(a)` `m x k` and `op(b)` `k x n`; a matrix flagged `true` is
/// stored transposed (row-major `k x m`, resp. `n x k`). With `accumulate`, `c` is added to.
///
/// # Panics
/// If a slice is shorter than its matrix (a caller bug, never user input).
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
    // (column stride, row stride) of each operand as the gemm crate takes them.
    let a_strides = if a_t { (m, 1) } else { (1, k) };
    let b_strides = if b_t { (k, 1) } else { (1, n) };
    gemm_crate((m, n, k), (a, a_strides), (b, b_strides), (c, n), accumulate);
}

/// `c (+)= a x b` with `a` `m x k` and `b` `k x n` each given as a slice and its (column stride,
/// row stride), and `c` as a slice and its row stride (columns contiguous): products over
/// sub-matrices, such as shifted windows of image planes, without copying them out.
///
/// # Panics
/// If a slice is shorter than its strided matrix (a caller bug, never user input).
pub fn product_strided(
    (m, n, k): (usize, usize, usize),
    a: (&[f32], (usize, usize)),
    b: (&[f32], (usize, usize)),
    c: (&mut [f32], usize),
    accumulate: bool,
) {
    gemm_crate((m, n, k), a, b, c, accumulate);
}

/// `c = a x b` (or `c += a x b`) by the gemm crate, each operand given with its (column stride,
/// row stride); `c` is `m x n`, rows `ldc` apart.
#[allow(unsafe_code)]
fn gemm_crate(
    (m, n, k): (usize, usize, usize),
    (a, (a_cs, a_rs)): (&[f32], (usize, usize)),
    (b, (b_cs, b_rs)): (&[f32], (usize, usize)),
    (c, ldc): (&mut [f32], usize),
    accumulate: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.chunks_mut(ldc).take(m).for_each(|row| row[..n].fill(0.0));
        }
        return;
    }
    let last = |(cs, rs): (usize, usize), rows: usize, cols: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        a.len() > last((a_cs, a_rs), m, k) && b.len() > last((b_cs, b_rs), k, n) && c.len() > last((1, ldc), m, n),
        "matmul: slices shorter than {m}x{k}x{n}"
    );
    // SAFETY: the largest index each stride pattern reaches lies inside its slice (checked above);
    // `c` is borrowed mutably, so it does not alias `a` or `b`; with `read_dst = false` `c`'s old
    // values are not read, with `true` they are initialised floats.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The implementations of [`rows_dot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// The gemm crate's kernels (its own run-time dispatch), for any CPU.
    Gemm,
    /// This module's AVX-512F kernels.
    Avx512,
    /// This module's AVX2 + FMA kernels.
    Avx2,
}

impl Kernel {
    /// The kernels this CPU can run, the gemm crate's first.
    pub fn available() -> Vec<Kernel> {
        [Kernel::Gemm, Kernel::Avx512, Kernel::Avx2].into_iter().filter(|k| k.runs_here()).collect()
    }

    /// Whether this CPU can run the kernel.
    fn runs_here(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        use std::arch::is_x86_feature_detected as has;
        match self {
            Kernel::Gemm => true,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => has!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => has!("avx2") && has!("fma"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The widest of this module's own kernels the CPU runs (AVX-512, else AVX2), if any.
    pub(crate) fn own() -> Option<Kernel> {
        static OWN: std::sync::OnceLock<Option<Kernel>> = std::sync::OnceLock::new();
        *OWN.get_or_init(|| Kernel::available().into_iter().find(|&k| k != Kernel::Gemm))
    }
}

/// Runs `f` compiled for the widest vectors the CPU has (AVX-512, else AVX2, else the build's
/// baseline): for elementwise passes and sums in fixed lanes, which the compiler vectorises to the
/// width it may use. Only the width changes, not the operations (Rust fuses no multiply and add),
/// so the results are the same bits on every CPU. What `f` calls must be inlined into it
/// (`#[inline(always)]`) to be compiled wide.
#[allow(unsafe_code)]
#[inline(always)]
pub(crate) fn widest<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        fn avx512<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[target_feature(enable = "avx2")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        match Kernel::own() {
            // SAFETY: the CPU has the features each enables (detected at run time).
            Some(Kernel::Avx512) => return unsafe { avx512(f) },
            Some(Kernel::Avx2) => return unsafe { avx2(f) },
            _ => {}
        }
    }
    f()
}

/// From rows this long on, [`rows_dot`] uses this module's kernels: the gemm crate's, which see
/// this as a product with a transposed right factor, reach 6-50 GFLOP/s on a weight gradient over
/// 256 or 1,024 positions, these 67-105 (AVX2 and AVX-512; the `conv_products` criterion bench);
/// over 64 positions the gemm crate's are faster (75-90 against 45).
const OWN_DOT_FROM: usize = 256;

/// `c[i*n + j] += sum_q a[i*lda + q] * b[j*ldb + q]`: all dot products between the rows of `a`
/// (`m x p`) and of `b` (`n x p`), added to `c` (row-major `m x n`), as in a convolution's weight
/// gradient (`a` the output gradient, `b` the unfolded image). `lda, ldb >= p`.
///
/// # Panics
/// If a slice is shorter than its matrix (a caller bug, never user input).
pub fn rows_dot(m: usize, n: usize, p: usize, a: (&[f32], usize), b: (&[f32], usize), c: &mut [f32]) {
    let kernel = match Kernel::own() {
        Some(own) if p >= OWN_DOT_FROM => own,
        _ => Kernel::Gemm,
    };
    rows_dot_with(kernel, (m, n, p), a, b, c);
}

/// [`rows_dot`] by the given kernel (one of [`Kernel::available`]).
///
/// # Panics
/// If a slice is shorter than its matrix, or the CPU cannot run `kernel`.
#[allow(unsafe_code)]
pub fn rows_dot_with(
    kernel: Kernel,
    (m, n, p): (usize, usize, usize),
    (a, lda): (&[f32], usize),
    (b, ldb): (&[f32], usize),
    c: &mut [f32],
) {
    if m == 0 || n == 0 || p == 0 {
        return;
    }
    assert!(
        lda >= p && ldb >= p && a.len() >= (m - 1) * lda + p && b.len() >= (n - 1) * ldb + p && c.len() >= m * n,
        "rows_dot: slices shorter than {m}x{p}x{n}"
    );
    assert!(kernel.runs_here(), "rows_dot: this CPU cannot run {kernel:?}");
    #[cfg(target_arch = "x86_64")]
    let (pa, pb, pc) = ((a.as_ptr(), lda), (b.as_ptr(), ldb), c.as_mut_ptr());
    match kernel {
        Kernel::Gemm => gemm_crate((m, n, p), (a, (1, lda)), (b, (ldb, 1)), (c, n), true),
        // SAFETY: the CPU runs the kernel (checked above); the slices hold the strided matrices
        // (checked above) and `c` is borrowed mutably, so it aliases neither.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => unsafe { simd::x86::rows_dot_avx512((m, n, p), pa, pb, pc) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { simd::x86::rows_dot_avx2((m, n, p), pa, pb, pc) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the gemm crate's kernels run off x86-64"),
    }
}

/// `c[j*ldc + i] = sum_t sum_q w[(t*depth + q)*n + j] * b[q*ldb + i + t*shift]` for `i < m`,
/// `j < n`, `q < depth`, `t < taps` (`dims = (m, n, depth, taps, shift)`): `taps` products of `n x
/// depth` factors of `w` with the rows of `b` shifted by `shift` positions per tap, summed into `c`
/// (overwritten; rows `ldc` apart). A "same" stride-1 convolution by kernel rows is one, over its
/// input unfolded along the kernel's columns and padded with zero rows (`shift` the image width).
/// By this module's AVX-512 or AVX2 kernel (one of [`Kernel::available`]); the gemm crate would
/// take one product per tap.
///
/// # Panics
/// If a slice is shorter than its matrix, the CPU cannot run `kernel`, or it is the gemm crate's.
#[allow(unsafe_code)]
pub fn shifted_product(
    kernel: Kernel,
    (m, n, depth, taps, shift): (usize, usize, usize, usize, usize),
    w: &[f32],
    (b, ldb): (&[f32], usize),
    (c, ldc): (&mut [f32], usize),
) {
    if m == 0 || n == 0 {
        return;
    }
    if depth == 0 || taps == 0 {
        c.chunks_mut(ldc).take(n).for_each(|row| row[..m].fill(0.0));
        return;
    }
    assert!(
        w.len() >= taps * depth * n
            && b.len() >= (depth - 1) * ldb + (taps - 1) * shift + m
            && ldc >= m
            && c.len() >= (n - 1) * ldc + m,
        "shifted_product: slices shorter than {n}x{depth}x{m} over {taps} taps"
    );
    assert!(kernel.runs_here(), "shifted_product: this CPU cannot run {kernel:?}");
    let dims = (m, n, depth, taps, shift);
    #[cfg(target_arch = "x86_64")]
    let (pw, pb, pc) = (w.as_ptr(), (b.as_ptr(), ldb), (c.as_mut_ptr(), ldc));
    match kernel {
        // SAFETY: the CPU runs the kernel (checked above); the slices hold the strided matrices
        // (checked above) and `c` is borrowed mutably, so it aliases neither.
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx512 => unsafe { simd::x86::shifted_product_avx512(dims, pw, pb, pc) },
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx2 => unsafe { simd::x86::shifted_product_avx2(dims, pw, pb, pc) },
        _ => panic!("shifted_product: {kernel:?} has no such kernel"),
    }
}

/// The plain reference of [`shifted_product`]: one multiply-add at a time, in f64.
pub fn shifted_product_reference(
    (m, n, depth, taps, shift): (usize, usize, usize, usize, usize),
    w: &[f32],
    (b, ldb): (&[f32], usize),
    (c, ldc): (&mut [f32], usize),
) {
    for j in 0..n {
        for i in 0..m {
            let mut sum = 0.0f64;
            for t in 0..taps {
                for q in 0..depth {
                    sum += f64::from(w[(t * depth + q) * n + j]) * f64::from(b[q * ldb + i + t * shift]);
                }
            }
            c[j * ldc + i] = sum as f32;
        }
    }
}

/// The plain reference of [`rows_dot`]: one multiply-add at a time, in f64.
pub fn rows_dot_reference(
    (m, n, p): (usize, usize, usize),
    (a, lda): (&[f32], usize),
    (b, ldb): (&[f32], usize),
    c: &mut [f32],
) {
    for i in 0..m {
        for j in 0..n {
            let sum: f64 = (0..p).map(|q| f64::from(a[i * lda + q]) * f64::from(b[j * ldb + q])).sum();
            c[i * n + j] = (f64::from(c[i * n + j]) + sum) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn product_matches_the_naive_product() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.11).cos()).collect();
        let mut c = vec![9.0; m * n];
        product(m, n, k, (&a, false), (&b, false), &mut c, false);
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
        product(m, n, k, (&at, true), (&bt, true), &mut d, true);
        for (x, y) in d.iter().zip(&c) {
            assert!((x - 2.0 * y).abs() < 1e-5);
        }
    }

    /// Strided products (operands and result inside larger buffers, any strides) against the
    /// plain sum, on random shapes, with and without accumulation.
    #[test]
    fn product_strided_matches_the_plain_sum_on_random_inputs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..60 {
            let (m, n, k) = (rng.random_range(1..20), rng.random_range(1..40), rng.random_range(1..30));
            // a[i][p] at a_off + i * a_rs + p * a_cs, likewise b; c's rows ldc >= n apart.
            let (a_cs, a_rs) = if rng.random_bool(0.5) { (1, k + rng.random_range(0..3)) } else { (m + 1, 1) };
            let (b_cs, b_rs) = (1, n + rng.random_range(0..5));
            let ldc = n + rng.random_range(0..4);
            let (a_off, b_off) = (rng.random_range(0..4), rng.random_range(0..4));
            let a = random(&mut rng, a_off + (m - 1) * a_rs + (k - 1) * a_cs + 1);
            let b = random(&mut rng, b_off + (k - 1) * b_rs + (n - 1) * b_cs + 1);
            let c0 = random(&mut rng, (m - 1) * ldc + n);
            let accumulate = rng.random_bool(0.5);
            let mut c = c0.clone();
            product_strided(
                (m, n, k),
                (&a[a_off..], (a_cs, a_rs)),
                (&b[b_off..], (b_cs, b_rs)),
                (&mut c, ldc),
                accumulate,
            );
            for i in 0..m {
                for j in 0..ldc.min(c.len() - i * ldc) {
                    let at = i * ldc + j;
                    if j >= n {
                        assert_eq!(c[at], c0[at], "padding of row {i} written");
                        continue;
                    }
                    let dot: f32 =
                        (0..k).map(|p| a[a_off + i * a_rs + p * a_cs] * b[b_off + p * b_rs + j * b_cs]).sum();
                    let want = if accumulate { c0[at] + dot } else { dot };
                    assert!(
                        (c[at] - want).abs() <= 1e-5 * (k as f32 + 2.0),
                        "{m}x{n}x{k} at ({i}, {j}): {} vs {want}",
                        c[at]
                    );
                }
            }
        }
    }

    fn random(rng: &mut impl Rng, len: usize) -> Vec<f32> {
        (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    fn assert_close(fast: &[f32], plain: &[f32], depth: usize, what: &str) {
        // f32 sums of `depth` products of values below 1 (plus the old value): well inside this bound.
        let tol = 1e-6 * (depth as f32 + 2.0) * 4.0;
        for (k, (x, y)) in fast.iter().zip(plain).enumerate() {
            assert!((x - y).abs() <= tol, "{what}: {x} vs {y} at {k}");
        }
    }

    /// Random shapes around every blocking edge (rows per block, lane counts, row lengths below one
    /// vector), with padded row strides, by every kernel this CPU runs, against the f64 reference.
    #[test]
    fn rows_dot_matches_its_reference_on_random_inputs() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let kernels = Kernel::available();
        let mut shapes = vec![(8, 72, 1024), (1, 1, 1), (3, 5, 2), (9, 13, 17), (16, 6, 8), (5, 7, 300)];
        for _ in 0..40 {
            shapes.push((rng.random_range(1..20), rng.random_range(1..40), rng.random_range(1..300)));
        }
        for (m, n, p) in shapes {
            let (lda, ldb) = (p + rng.random_range(0..3), p + rng.random_range(0..3));
            let a = random(&mut rng, (m - 1) * lda + p);
            let b = random(&mut rng, (n - 1) * ldb + p);
            let old = random(&mut rng, m * n);
            let mut plain = old.clone();
            rows_dot_reference((m, n, p), (&a, lda), (&b, ldb), &mut plain);
            for &kernel in &kernels {
                let mut fast = old.clone();
                rows_dot_with(kernel, (m, n, p), (&a, lda), (&b, ldb), &mut fast);
                assert_close(&fast, &plain, p, &format!("rows_dot {kernel:?} {m}x{p}x{n}"));
            }
        }
        println!("kernels compared: {kernels:?}");
    }

    /// Random shapes around every blocking edge (blocks of 3 or 2 vectors of positions and 8 or 4
    /// outputs, partial vectors, one tap, padded strides), by the AVX-512 and AVX2 kernels this CPU
    /// runs, against the f64 reference; outputs outside the matrix stay untouched.
    #[test]
    fn shifted_product_matches_its_reference_on_random_inputs() {
        let seed: u64 = rand::random();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let kernels: Vec<Kernel> = Kernel::available().into_iter().filter(|&k| k != Kernel::Gemm).collect();
        let mut shapes = vec![(1024, 16, 48, 3, 32), (256, 32, 96, 3, 16), (64, 64, 192, 3, 8), (1, 1, 1, 1, 0)];
        shapes.extend([(49, 9, 5, 5, 7), (47, 7, 3, 2, 1), (48, 8, 1, 3, 48), (17, 3, 2, 1, 0)]);
        for _ in 0..60 {
            let m = rng.random_range(1..200);
            shapes.push((
                m,
                rng.random_range(1..20),
                rng.random_range(1..40),
                rng.random_range(1..6),
                rng.random_range(0..m + 3),
            ));
        }
        for (m, n, depth, taps, shift) in shapes {
            let (ldb, ldc) = (m + rng.random_range(0..5), m + rng.random_range(0..5));
            let w = random(&mut rng, taps * depth * n);
            let b = random(&mut rng, (depth - 1) * ldb + (taps - 1) * shift + m);
            let old = random(&mut rng, (n - 1) * ldc + m + 3);
            let mut plain = old.clone();
            shifted_product_reference((m, n, depth, taps, shift), &w, (&b, ldb), (&mut plain, ldc));
            for &kernel in &kernels {
                let mut fast = old.clone();
                shifted_product(kernel, (m, n, depth, taps, shift), &w, (&b, ldb), (&mut fast, ldc));
                let what = format!(
                    "seed {seed}: shifted_product {kernel:?} m {m} n {n} depth {depth} taps {taps} shift {shift}"
                );
                assert_close(&fast, &plain, depth * taps, &what);
            }
        }
        println!("kernels compared: {kernels:?}");
    }
}
