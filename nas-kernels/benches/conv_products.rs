//! The weight-gradient products of NB201's convolutions (`nas_kernels::gemm::rows_dot`: output
//! gradient rows dotted with unfolded input rows over all positions of an image), by every
//! kernel this CPU runs: the gemm crate's against this crate's own AVX-512 / AVX2 kernels.
//! Throughput is in FLOP (two per multiply-add), so criterion's "elem/s" reads as FLOP/s.
//!
//! Shapes `cout x cin*9 x positions` of a 3x3 convolution at C=8 and C=16 over the three stages
//! (32x32, 16x16, 8x8 images).
//!
//! And the forward products of the same convolutions by kernel rows
//! (`nas_kernels::gemm::shifted_product`: three kernel rows over the input unfolded along the
//! kernel's columns, padded with a zero row above and below): this crate's kernels against the
//! gemm crate's, one product per kernel row over the same strided views.
#![allow(clippy::unwrap_used)]

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nas_kernels::gemm::{Kernel, product_strided, rows_dot_with, shifted_product};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(len: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(len as u64);
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// A group of short measurements (10 samples of 1 s after 0.3 s of warm-up): the kernels are fast.
fn quick_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .measurement_time(std::time::Duration::from_secs(1))
        .warm_up_time(std::time::Duration::from_millis(300));
    group
}

fn dots(c: &mut Criterion) {
    let mut group = quick_group(c, "rows_dot");
    let shapes = [(8, 72, 1024), (16, 144, 1024), (16, 144, 256), (32, 288, 256), (32, 288, 64), (64, 576, 64)];
    for (m, n, p) in shapes {
        let (a, b) = (random(m * p), random(n * p));
        let mut out = vec![0.0f32; m * n];
        group.throughput(Throughput::Elements((2 * m * n * p) as u64));
        for kernel in Kernel::available() {
            group.bench_function(BenchmarkId::new(format!("{kernel:?}"), format!("{m}x{n}x{p}")), |bench| {
                bench.iter(|| rows_dot_with(kernel, (m, n, p), (&a, p), (&b, p), &mut out))
            });
        }
    }
    group.finish();
}

fn shifted(c: &mut Criterion) {
    let mut group = quick_group(c, "shifted_product");
    // (channels, image side) of the three stages at C=8 and C=16.
    for (ch, side) in [(8, 32), (16, 16), (32, 8), (16, 32), (32, 16), (64, 8)] {
        let (hw, depth, ldb) = (side * side, ch * 3, (side + 2) * side);
        let (w, b) = (random(3 * depth * ch), random(depth * ldb));
        let mut out = vec![0.0f32; ch * hw];
        group.throughput(Throughput::Elements((2 * 3 * depth * ch * hw) as u64));
        let id = format!("{ch}x{depth}x{hw}");
        group.bench_function(BenchmarkId::new("Gemm", &id), |bench| {
            bench.iter(|| {
                for ky in 0..3 {
                    let a = (&w[ky * depth * ch..], (ch, 1));
                    product_strided((ch, hw, depth), a, (&b[ky * side..], (1, ldb)), (&mut out, hw), ky > 0);
                }
            })
        });
        for kernel in Kernel::available().into_iter().filter(|&k| k != Kernel::Gemm) {
            group.bench_function(BenchmarkId::new(format!("{kernel:?}"), &id), |bench| {
                bench.iter(|| shifted_product(kernel, (hw, ch, depth, 3, side), &w, (&b, ldb), (&mut out, hw)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, dots, shifted);
criterion_main!(benches);
