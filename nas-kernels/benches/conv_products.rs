//! The weight-gradient products of NB201's convolutions (`nas_kernels::gemm::rows_dot`: output
//! gradient rows dotted with unfolded input rows over all positions of an image), by every
//! kernel this CPU runs: the gemm crate's against this crate's own AVX-512 / AVX2 kernels.
//! Throughput is in FLOP (two per multiply-add), so criterion's "elem/s" reads as FLOP/s.
//!
//! Shapes `cout x cin*9 x positions` of a 3x3 convolution at C=8 and C=16 over the three stages
//! (32x32, 16x16, 8x8 images).
#![allow(clippy::unwrap_used)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nas_kernels::gemm::{Kernel, rows_dot_with};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(len: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(len as u64);
    (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn dots(c: &mut Criterion) {
    let mut group = c.benchmark_group("rows_dot");
    group
        .sample_size(10)
        .measurement_time(std::time::Duration::from_secs(1))
        .warm_up_time(std::time::Duration::from_millis(300));
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

criterion_group!(benches, dots);
criterion_main!(benches);
