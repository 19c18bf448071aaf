//! NASWOT kernels (Mellor et al., "Neural Architecture Search without Training", ICML 2021),
//! as `shared/docs/algorithms.md` §2 defines them.
//!
//! For a batch of `B` images, the input of every ReLU is binarised per image (`c = 1` where
//! `x > 0`); over all ReLUs each image gets a code of `N_A` bits, and
//! `K[i][j] = N_A - Hamming(c_i, c_j)`. The score is `log|det K|` (natural log, f64, by Cholesky):
//! higher is better. A singular `K` (two images with the same code) scores `-inf`.
//!
//! Codes are packed 64 units to a `u64` word, and `K` is accumulated layer by layer from
//! popcounts of XORed words, so the codes of the whole network are never held at once.

use nas_core::{Error, Result};

use crate::cpu::par_map;

/// Binary codes of a batch: image `i` owns words `i*words_per_image .. (i+1)*words_per_image`;
/// unit `u` is bit `u % 64` of word `u / 64`. Padding bits of the last word are zero.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BitCodes {
    batch: usize,
    units: usize,
    words_per_image: usize,
    words: Vec<u64>,
}

impl BitCodes {
    /// Packs activations laid out `[batch][units]` (a ReLU input flattened per image): bit = `x > 0`.
    pub fn pack(activations: &[f32], batch: usize, units: usize) -> Result<Self> {
        if batch == 0 || units == 0 {
            return Err(Error::invalid("codes", format!("batch {batch} and units {units} must be positive")));
        }
        if activations.len() != batch * units {
            return Err(Error::invalid(
                "codes",
                format!("{} activations do not fill a batch of {batch} x {units} units", activations.len()),
            ));
        }
        let words_per_image = units.div_ceil(64);
        let mut words = vec![0u64; batch * words_per_image];
        let threads = threads_for(batch * units);
        let per_thread = batch.div_ceil(threads);
        let runs: Vec<_> =
            activations.chunks(per_thread * units).zip(words.chunks_mut(per_thread * words_per_image)).collect();
        par_map(runs, threads, |(src, dst)| {
            for (image, out) in src.chunks_exact(units).zip(dst.chunks_exact_mut(words_per_image)) {
                pack_signs(image, out);
            }
        });
        Ok(BitCodes { batch, units, words_per_image, words })
    }

    /// Codes from booleans, one `Vec` per image (all the same length).
    pub fn from_bools(codes: &[Vec<bool>]) -> Result<Self> {
        let units = codes.first().map_or(0, Vec::len);
        if let Some(bad) = codes.iter().find(|c| c.len() != units) {
            return Err(Error::invalid("codes", format!("codes of {units} and {} units in one batch", bad.len())));
        }
        let flat: Vec<f32> = codes.iter().flatten().map(|&b| if b { 1.0 } else { 0.0 }).collect();
        Self::pack(&flat, codes.len(), units)
    }

    /// Images.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Units (bits) per image.
    pub fn units(&self) -> usize {
        self.units
    }

    /// `u64` words per image.
    pub fn words_per_image(&self) -> usize {
        self.words_per_image
    }

    /// All words, image after image.
    pub fn words(&self) -> &[u64] {
        &self.words
    }

    fn image(&self, i: usize) -> &[u64] {
        &self.words[i * self.words_per_image..(i + 1) * self.words_per_image]
    }
}

/// Accumulates `K` over the layers of a network for one batch.
#[derive(Clone, Debug)]
pub struct KAccumulator {
    batch: usize,
    units: u64,
    /// Hamming distances, upper triangle of a row-major `batch x batch` matrix.
    hamming: Vec<u64>,
}

/// Threads for `work` elementary steps: one below about a quarter million, else every core.
fn threads_for(work: usize) -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if work < 1 << 18 { 1 } else { cores }
}

/// Words per block when sweeping all image pairs: 128 images x 512 words = 512 KiB stays in L2.
const BLOCK_WORDS: usize = 512;

impl KAccumulator {
    /// An empty `K` (no layer yet) for a batch of `batch` images.
    pub fn new(batch: usize) -> Self {
        KAccumulator { batch, units: 0, hamming: vec![0; batch * batch] }
    }

    /// Packs one layer's activations (`[batch][units_per_image]`) and adds them to `K`.
    pub fn add_layer(&mut self, activations: &[f32], units_per_image: usize) -> Result<()> {
        let codes = BitCodes::pack(activations, self.batch, units_per_image)?;
        self.add_codes(&codes)
    }

    /// Adds the codes of one layer.
    pub fn add_codes(&mut self, codes: &BitCodes) -> Result<()> {
        if codes.batch != self.batch {
            return Err(Error::invalid("codes", format!("batch {} added to a K of batch {}", codes.batch, self.batch)));
        }
        let b = self.batch;
        let n = codes.words_per_image;
        // Rows of the upper triangle, dealt round-robin to the threads (row i has b - i - 1 pairs).
        let threads = threads_for(b * b * n / 8);
        let mut groups: Vec<Vec<(usize, &mut [u64])>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, row) in self.hamming.chunks_mut(b).enumerate() {
            groups[i % threads].push((i, row));
        }
        par_map(groups, threads, |mut rows| {
            for start in (0..n).step_by(BLOCK_WORDS) {
                let end = (start + BLOCK_WORDS).min(n);
                for (i, row) in rows.iter_mut() {
                    let a = &codes.image(*i)[start..end];
                    for (j, h) in row.iter_mut().enumerate().skip(*i + 1) {
                        *h += xor_popcount(a, &codes.image(j)[start..end]);
                    }
                }
            }
        });
        self.units += codes.units as u64;
        Ok(())
    }

    /// Units seen so far (`N_A`).
    pub fn units(&self) -> u64 {
        self.units
    }

    /// Images.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// `K` as a full symmetric row-major `batch x batch` matrix.
    pub fn k(&self) -> Vec<u64> {
        k_from_hamming(&self.hamming, self.units, self.batch)
    }

    /// The NASWOT score `log|det K|`; `-inf` for a singular `K`.
    pub fn score(&self) -> Result<f64> {
        score_of_k(&self.k(), self.batch)
    }
}

/// `K = N_A - Hamming` as a full symmetric matrix, from the upper triangle of Hamming distances.
pub(crate) fn k_from_hamming(hamming: &[u64], units: u64, b: usize) -> Vec<u64> {
    let mut k = vec![units; b * b];
    for i in 0..b {
        for j in i + 1..b {
            let v = units - hamming[i * b + j];
            k[i * b + j] = v;
            k[j * b + i] = v;
        }
    }
    k
}

/// The NASWOT score of `K`: `log|det K|` in f64, `-inf` when singular.
pub(crate) fn score_of_k(k: &[u64], b: usize) -> Result<f64> {
    let k: Vec<f64> = k.iter().map(|&v| v as f64).collect();
    log_det_spd(&k, b)
}

/// Packs `x > 0` of each value into bits, 64 to a word (`out.len() == x.len().div_ceil(64)`), with
/// AVX-512 or AVX2 compares and mask extraction where the CPU has them.
#[allow(unsafe_code)]
fn pack_signs(x: &[f32], out: &mut [u64]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F, the only feature the function enables.
            return unsafe { pack_signs_avx512(x, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, the only feature the function enables.
            return unsafe { pack_signs_avx2(x, out) };
        }
    }
    pack_signs_portable(x, out);
}

fn pack_signs_portable(x: &[f32], out: &mut [u64]) {
    for (chunk, w) in x.chunks(64).zip(out.iter_mut()) {
        *w = chunk.iter().enumerate().fold(0u64, |acc, (b, &v)| acc | (u64::from(v > 0.0) << b));
    }
}

/// Packs whole words of 64 values by `mask`, the sign bits (`x > 0`) of `lanes` values at a time
/// (`lanes` divides 64), and the tail by [`pack_signs_portable`]: the loop of the SIMD packers.
#[inline(always)]
fn pack_signs_by(x: &[f32], out: &mut [u64], lanes: usize, mask: impl Fn(&[f32]) -> u64) {
    let full = x.len() / 64;
    for (chunk, w) in x.chunks_exact(64).zip(out.iter_mut()) {
        *w = chunk.chunks_exact(lanes).enumerate().fold(0u64, |word, (k, v)| word | mask(v) << (lanes * k));
    }
    pack_signs_portable(&x[full * 64..], &mut out[full..]);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
fn pack_signs_avx2(x: &[f32], out: &mut [u64]) {
    use std::arch::x86_64::{_CMP_GT_OQ, _mm256_cmp_ps, _mm256_loadu_ps, _mm256_movemask_ps, _mm256_setzero_ps};
    pack_signs_by(x, out, 8, |eight| {
        // SAFETY: `eight` holds exactly 8 f32, the width of one unaligned 256-bit load.
        let v = unsafe { _mm256_loadu_ps(eight.as_ptr()) };
        _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(v, _mm256_setzero_ps())) as u64 & 0xff
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(unsafe_code)]
fn pack_signs_avx512(x: &[f32], out: &mut [u64]) {
    use std::arch::x86_64::{_CMP_GT_OQ, _mm512_cmp_ps_mask, _mm512_loadu_ps, _mm512_setzero_ps};
    pack_signs_by(x, out, 16, |sixteen| {
        // SAFETY: `sixteen` holds exactly 16 f32, the width of one unaligned 512-bit load.
        let v = unsafe { _mm512_loadu_ps(sixteen.as_ptr()) };
        u64::from(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, _mm512_setzero_ps()))
    });
}

/// Sum of popcounts of `a XOR b` (equal lengths): AVX-512's vector popcount where the CPU has it
/// ([`xor_popcount_avx512`]), else AVX2 nibble lookups ([`xor_popcount_avx2`], about 1.8x the
/// scalar rate), else the hardware popcount instruction, else the portable loop.
#[allow(unsafe_code)]
fn xor_popcount(a: &[u64], b: &[u64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512vpopcntdq") {
            // SAFETY: the CPU supports AVX-512F and VPOPCNTDQ, the features the function enables.
            return unsafe { xor_popcount_avx512(a, b) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, the only feature the function enables.
            return unsafe { xor_popcount_avx2(a, b) };
        }
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports `popcnt`, the only feature the function enables.
            return unsafe { xor_popcount_popcnt(a, b) };
        }
    }
    xor_popcount_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn xor_popcount_popcnt(a: &[u64], b: &[u64]) -> u64 {
    xor_popcount_portable(a, b)
}

/// Popcount of 256 bits at a time by nibble lookup (`vpshufb`, Mula's method): the byte counts of up
/// to 8 vectors add up in bytes (at most 64 each), then `vpsadbw` folds them into four u64 sums.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[allow(unsafe_code)]
fn xor_popcount_avx2(a: &[u64], b: &[u64]) -> u64 {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi8, _mm256_add_epi64, _mm256_and_si256, _mm256_loadu_si256, _mm256_sad_epu8,
        _mm256_set1_epi8, _mm256_setr_epi8, _mm256_setzero_si256, _mm256_shuffle_epi8, _mm256_srli_epi16,
        _mm256_storeu_si256, _mm256_xor_si256,
    };
    let n = a.len().min(b.len());
    let vectors = n / 4;
    let lut = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
    );
    let nibble = _mm256_set1_epi8(0x0f);
    let mut sums = _mm256_setzero_si256();
    for block in (0..vectors).step_by(8) {
        let mut bytes = _mm256_setzero_si256();
        for v in block..(block + 8).min(vectors) {
            // SAFETY: words 4v..4v+4 lie inside both slices (v < n / 4); loads are unaligned.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_si256(a.as_ptr().add(4 * v).cast::<__m256i>()),
                    _mm256_loadu_si256(b.as_ptr().add(4 * v).cast::<__m256i>()),
                )
            };
            let d = _mm256_xor_si256(x, y);
            let lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(d, nibble));
            let hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16::<4>(d), nibble));
            bytes = _mm256_add_epi8(bytes, _mm256_add_epi8(lo, hi));
        }
        sums = _mm256_add_epi64(sums, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
    }
    let mut lanes = [0u64; 4];
    // SAFETY: `lanes` holds exactly 256 bits; the store is unaligned.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast::<__m256i>(), sums) };
    lanes.iter().sum::<u64>() + xor_popcount_portable(&a[4 * vectors..n], &b[4 * vectors..n])
}

/// Popcount of 512 bits at a time (`vpopcntq`), summed in eight u64 lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vpopcntdq")]
#[allow(unsafe_code)]
fn xor_popcount_avx512(a: &[u64], b: &[u64]) -> u64 {
    use std::arch::x86_64::{
        _mm512_add_epi64, _mm512_loadu_si512, _mm512_popcnt_epi64, _mm512_reduce_add_epi64, _mm512_setzero_si512,
        _mm512_xor_si512,
    };
    let n = a.len().min(b.len());
    let vectors = n / 8;
    let mut sums = _mm512_setzero_si512();
    for v in 0..vectors {
        // SAFETY: words 8v..8v+8 lie inside both slices (v < n / 8); loads are unaligned.
        let (x, y) = unsafe {
            (_mm512_loadu_si512(a.as_ptr().add(8 * v).cast()), _mm512_loadu_si512(b.as_ptr().add(8 * v).cast()))
        };
        sums = _mm512_add_epi64(sums, _mm512_popcnt_epi64(_mm512_xor_si512(x, y)));
    }
    _mm512_reduce_add_epi64(sums) as u64 + xor_popcount_portable(&a[8 * vectors..n], &b[8 * vectors..n])
}

#[inline(always)]
fn xor_popcount_portable(a: &[u64], b: &[u64]) -> u64 {
    a.iter().zip(b).map(|(x, y)| u64::from((x ^ y).count_ones())).sum()
}

/// `log det` of a symmetric positive semi-definite matrix by Cholesky in f64, `-inf` when singular
/// up to rounding: the toolkit's one factorisation, [`nas_core::linalg::log_det_spd`].
pub use nas_core::linalg::log_det_spd;

/// Plain implementations that the fast kernels are tested against.
pub mod reference {
    /// `K` by its definition, `sum over units of c_i c_j + (1 - c_i)(1 - c_j)`, row-major.
    pub fn k_matrix(codes: &[Vec<bool>]) -> Vec<u64> {
        let b = codes.len();
        let mut k = vec![0; b * b];
        for i in 0..b {
            for j in 0..b {
                k[i * b + j] = codes[i].iter().zip(&codes[j]).filter(|(x, y)| x == y).count() as u64;
            }
        }
        k
    }

    /// `log|det A|` by Gaussian elimination with partial pivoting
    /// ([`nas_core::linalg::reference::log_det`]).
    pub use nas_core::linalg::reference::log_det;
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every sign-packing and XOR-popcount kernel this CPU runs against the portable loops, on
    /// random values and words of every length up to 200 (tails included): the same bits.
    #[test]
    #[allow(unsafe_code)]
    fn packing_and_popcount_kernels_match_the_portable_loops() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(rand::random());
        let specials = [0.0f32, -0.0, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MIN_POSITIVE];
        for len in 0..200 {
            let x: Vec<f32> =
                (0..len * 7)
                    .map(|_| {
                        if rng.random_bool(0.2) {
                            specials[rng.random_range(0..6)]
                        } else {
                            rng.random_range(-1.0..1.0)
                        }
                    })
                    .collect();
            let mut plain = vec![0u64; x.len().div_ceil(64)];
            pack_signs_portable(&x, &mut plain);
            let (a, b): (Vec<u64>, Vec<u64>) = (0..len).map(|_| (rng.random::<u64>(), rng.random::<u64>())).unzip();
            let count = xor_popcount_portable(&a, &b);
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                if has!("avx512f") {
                    let mut fast = vec![0u64; plain.len()];
                    // SAFETY: the CPU has AVX-512F (checked).
                    unsafe { pack_signs_avx512(&x, &mut fast) };
                    assert_eq!(fast, plain, "AVX-512 packing of {} values", x.len());
                }
                if has!("avx2") {
                    let mut fast = vec![0u64; plain.len()];
                    // SAFETY: the CPU has AVX2 (checked).
                    unsafe { pack_signs_avx2(&x, &mut fast) };
                    assert_eq!(fast, plain, "AVX2 packing of {} values", x.len());
                    // SAFETY: as above.
                    assert_eq!(unsafe { xor_popcount_avx2(&a, &b) }, count, "AVX2 popcount of {len} words");
                }
                if has!("avx512f") && has!("avx512vpopcntdq") {
                    // SAFETY: the CPU has AVX-512F and VPOPCNTDQ (checked).
                    assert_eq!(unsafe { xor_popcount_avx512(&a, &b) }, count, "AVX-512 popcount of {len} words");
                }
            }
            assert_eq!(xor_popcount(&a, &b), count);
        }
    }
}
