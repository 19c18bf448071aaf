//! A register-blocked f32 kernel for the weight gradient of convolutions, written once over a
//! [`Lanes`] vector type and instantiated for AVX-512 and AVX2 (+FMA).
//!
//! Why it exists: a convolution's weight gradient sums, for every (output channel, unfolded input
//! row) pair, the products over all positions of an image: dot products of long rows (256 or
//! 1,024 positions) between a few output channels (8..64) and the unfolded rows. A general GEMM
//! sees a product with a transposed right factor and packs it first; this kernel reads both in
//! place, keeps `DA x DB` dot products as vectors of partial sums in registers and folds each
//! into one number at the end. Its plain reference is `super::rows_dot_reference`.
//!
//! And a kernel for the forward pass of "same" stride-1 convolutions by kernel rows
//! ([`shifted_product`]): the gemm crate would take one product per kernel row, loading and storing
//! the output tile each time and packing its operands; this kernel keeps a tile of outputs in
//! registers over all kernel rows and input rows. Its plain reference is
//! `super::shifted_product_reference`.
#![allow(unsafe_code)]

/// One SIMD register of f32 lanes and the operations the kernels need.
pub(super) trait Lanes: Copy {
    const LANES: usize;
    unsafe fn zero() -> Self;
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn store(self, p: *mut f32);
    /// Every lane `x`.
    unsafe fn splat(x: f32) -> Self;
    /// `self * b + c`, fused.
    unsafe fn mul_add(self, b: Self, c: Self) -> Self;
    /// The sum of the lanes, in a fixed order.
    unsafe fn sum(self) -> f32;
}

/// The widest lane count of any instantiation (a stack buffer for partial vectors).
const MAX_LANES: usize = 16;

/// Loads the first `len <= S::LANES` values at `p`, the other lanes zero.
#[inline(always)]
unsafe fn load_partial<S: Lanes>(p: *const f32, len: usize) -> S {
    let mut buf = [0.0f32; MAX_LANES];
    // SAFETY (caller): `p` points to at least `len` readable floats.
    unsafe {
        std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), len);
        S::load(buf.as_ptr())
    }
}

/// Stores the first `len <= S::LANES` lanes of `v` at `p`.
#[inline(always)]
unsafe fn store_partial<S: Lanes>(v: S, p: *mut f32, len: usize) {
    let mut buf = [0.0f32; MAX_LANES];
    // SAFETY (caller): `p` points to at least `len` writable floats.
    unsafe {
        v.store(buf.as_mut_ptr());
        std::ptr::copy_nonoverlapping(buf.as_ptr(), p, len);
    }
}

/// `c[j*ldc + i] = sum_t sum_q w[(t*depth + q)*n + j] * b[q*ldb + i + t*shift]` for `i < m`,
/// `j < n`, `q < depth`, `t < taps`: a sum of `taps` matrix products whose right factor is the
/// same rows shifted by `shift` positions per tap, as in a convolution by kernel rows over an
/// input padded with zero rows (then `shift` is the image width). `MV` vectors of positions times
/// `NR` outputs are summed in registers over all taps and depths before one store.
///
/// # Safety
/// The CPU has the features `S` needs; `w`, `b` and `c` hold at least `taps*depth*n`,
/// `(depth-1)*ldb + (taps-1)*shift + m` and `(n-1)*ldc + m` floats; all sizes are positive.
#[inline(always)]
pub(super) unsafe fn shifted_product<S: Lanes, const MV: usize, const NR: usize>(
    (m, n, depth, taps, shift): (usize, usize, usize, usize, usize),
    w: *const f32,
    (b, ldb): (*const f32, usize),
    (c, ldc): (*mut f32, usize),
) {
    let l = S::LANES;
    let mut i0 = 0;
    // SAFETY (all blocks): the caller's bounds; each block reads and writes positions below `m`.
    unsafe {
        while i0 + MV * l <= m {
            shifted_block::<S, MV, NR>((n, depth, taps, shift), w, (b, ldb), (c, ldc), i0, l);
            i0 += MV * l;
        }
        while i0 < m {
            let len = l.min(m - i0);
            shifted_block::<S, 1, NR>((n, depth, taps, shift), w, (b, ldb), (c, ldc), i0, len);
            i0 += len;
        }
    }
}

/// The positions `i0 .. i0 + (MV-1)*LANES + last` of [`shifted_product`], all outputs, `NR` at a
/// time (a last partial group repeats its last output and does not store the copies).
#[inline(always)]
unsafe fn shifted_block<S: Lanes, const MV: usize, const NR: usize>(
    (n, depth, taps, shift): (usize, usize, usize, usize),
    w: *const f32,
    (b, ldb): (*const f32, usize),
    (c, ldc): (*mut f32, usize),
    i0: usize,
    last: usize,
) {
    let l = S::LANES;
    let mut j0 = 0;
    while j0 < n {
        let jb = NR.min(n - j0);
        let js: [usize; NR] = std::array::from_fn(|j| j0 + j.min(jb - 1));
        // SAFETY: the caller's bounds (see `shifted_product`); a partial last vector is copied.
        unsafe {
            let mut acc = [[S::zero(); NR]; MV];
            for t in 0..taps {
                let bt = b.add(i0 + t * shift);
                let wt = w.add(t * depth * n);
                for q in 0..depth {
                    let row = bt.add(q * ldb);
                    let av: [S; MV] = std::array::from_fn(|v| {
                        if v == MV - 1 && last < l {
                            load_partial::<S>(row.add(v * l), last)
                        } else {
                            S::load(row.add(v * l))
                        }
                    });
                    let wq = wt.add(q * n);
                    for j in 0..NR {
                        let wj = S::splat(*wq.add(js[j]));
                        for v in 0..MV {
                            acc[v][j] = av[v].mul_add(wj, acc[v][j]);
                        }
                    }
                }
            }
            for (j, &out) in js.iter().enumerate().take(jb) {
                for (v, x) in acc.iter().map(|a| a[j]).enumerate() {
                    let at = c.add(out * ldc + i0 + v * l);
                    if v == MV - 1 && last < l { store_partial(x, at, last) } else { x.store(at) }
                }
            }
        }
        j0 += NR;
    }
}

/// `c[i*n + j] += sum_q a[i*lda + q] * b[j*ldb + q]` for `i < m`, `j < n`, `q < p`: dot products
/// of rows, `DA x DB` of them at a time, each kept as a vector of partial sums until its end.
///
/// # Safety
/// The CPU has the features `S` needs; `a`, `b` and `c` hold at least `(m-1)*lda + p`,
/// `(n-1)*ldb + p` and `m*n` floats; `m`, `n` and `p` are positive.
#[inline(always)]
pub(super) unsafe fn rows_dot<S: Lanes, const DA: usize, const DB: usize>(
    (m, n, p): (usize, usize, usize),
    (a, lda): (*const f32, usize),
    (b, ldb): (*const f32, usize),
    c: *mut f32,
) {
    let mut i0 = 0;
    while i0 < m {
        let ib = DA.min(m - i0);
        let mut j0 = 0;
        while j0 < n {
            let jb = DB.min(n - j0);
            // SAFETY: the caller's bounds; rows past `ib` / `jb` repeat the last one and are not stored.
            unsafe {
                let ar: [*const f32; DA] = std::array::from_fn(|i| a.add((i0 + i.min(ib - 1)) * lda));
                let br: [*const f32; DB] = std::array::from_fn(|j| b.add((j0 + j.min(jb - 1)) * ldb));
                let mut acc = [[S::zero(); DB]; DA];
                let mut q = 0;
                while q < p {
                    let len = S::LANES.min(p - q);
                    let load = |row: *const f32| {
                        if len == S::LANES { S::load(row.add(q)) } else { load_partial::<S>(row.add(q), len) }
                    };
                    let av: [S; DA] = std::array::from_fn(|i| load(ar[i]));
                    for j in 0..DB {
                        let bv = load(br[j]);
                        for i in 0..DA {
                            acc[i][j] = av[i].mul_add(bv, acc[i][j]);
                        }
                    }
                    q += S::LANES;
                }
                for (i, acc) in acc.iter().enumerate().take(ib) {
                    for (j, &x) in acc.iter().enumerate().take(jb) {
                        *c.add((i0 + i) * n + j0 + j) += x.sum();
                    }
                }
            }
            j0 += DB;
        }
        i0 += DA;
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) mod x86 {
    use super::Lanes;
    use std::arch::x86_64::*;

    /// 16 lanes of AVX-512F.
    #[derive(Clone, Copy)]
    pub struct Avx512(__m512);

    impl Lanes for Avx512 {
        const LANES: usize = 16;
        #[inline(always)]
        unsafe fn zero() -> Self {
            Avx512(unsafe { _mm512_setzero_ps() })
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            Avx512(unsafe { _mm512_loadu_ps(p) })
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            unsafe { _mm512_storeu_ps(p, self.0) }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            Avx512(unsafe { _mm512_set1_ps(x) })
        }
        #[inline(always)]
        unsafe fn mul_add(self, b: Self, c: Self) -> Self {
            Avx512(unsafe { _mm512_fmadd_ps(self.0, b.0, c.0) })
        }
        #[inline(always)]
        unsafe fn sum(self) -> f32 {
            unsafe { _mm512_reduce_add_ps(self.0) }
        }
    }

    /// 8 lanes of AVX2 with FMA.
    #[derive(Clone, Copy)]
    pub struct Avx2(__m256);

    impl Lanes for Avx2 {
        const LANES: usize = 8;
        #[inline(always)]
        unsafe fn zero() -> Self {
            Avx2(unsafe { _mm256_setzero_ps() })
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            Avx2(unsafe { _mm256_loadu_ps(p) })
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            unsafe { _mm256_storeu_ps(p, self.0) }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            Avx2(unsafe { _mm256_set1_ps(x) })
        }
        #[inline(always)]
        unsafe fn mul_add(self, b: Self, c: Self) -> Self {
            Avx2(unsafe { _mm256_fmadd_ps(self.0, b.0, c.0) })
        }
        #[inline(always)]
        unsafe fn sum(self) -> f32 {
            let mut lanes = [0.0f32; 8];
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), self.0) };
            lanes.iter().sum()
        }
    }

    /// [`super::rows_dot`] with AVX-512: 4 x 6 dot products at a time.
    ///
    /// # Safety
    /// As [`super::rows_dot`], on a CPU with `avx512f`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn rows_dot_avx512(
        dims: (usize, usize, usize),
        a: (*const f32, usize),
        b: (*const f32, usize),
        c: *mut f32,
    ) {
        unsafe { super::rows_dot::<Avx512, 4, 6>(dims, a, b, c) }
    }

    /// [`super::shifted_product`] with AVX-512: 3 vectors (48 positions) x 8 outputs at a time.
    ///
    /// # Safety
    /// As [`super::shifted_product`], on a CPU with `avx512f`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn shifted_product_avx512(
        dims: (usize, usize, usize, usize, usize),
        w: *const f32,
        b: (*const f32, usize),
        c: (*mut f32, usize),
    ) {
        unsafe { super::shifted_product::<Avx512, 3, 8>(dims, w, b, c) }
    }

    /// [`super::shifted_product`] with AVX2: 2 vectors (16 positions) x 4 outputs at a time (3 x 4
    /// spills registers: half the speed).
    ///
    /// # Safety
    /// As [`super::shifted_product`], on a CPU with `avx2` and `fma`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn shifted_product_avx2(
        dims: (usize, usize, usize, usize, usize),
        w: *const f32,
        b: (*const f32, usize),
        c: (*mut f32, usize),
    ) {
        unsafe { super::shifted_product::<Avx2, 2, 4>(dims, w, b, c) }
    }

    /// [`super::rows_dot`] with AVX2: 3 x 4 dot products at a time.
    ///
    /// # Safety
    /// As [`super::rows_dot`], on a CPU with `avx2` and `fma`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn rows_dot_avx2(
        dims: (usize, usize, usize),
        a: (*const f32, usize),
        b: (*const f32, usize),
        c: *mut f32,
    ) {
        unsafe { super::rows_dot::<Avx2, 3, 4>(dims, a, b, c) }
    }
}
