//! NASWOT benchmarks: the bit-packed K step against a float matrix product computing the same K,
//! the Cholesky log-determinant against the LU reference, and whole scores of NB201 networks.
#![allow(clippy::unwrap_used)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use nas_core::SearchSpace;
use nas_kernels::images;
use nas_kernels::naswot::{BitCodes, KAccumulator, log_det_spd, reference};
use nas_kernels::scores::naswot;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn activations(batch: usize, units: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    (0..batch * units).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

/// `K = C C^T + (1 - C)(1 - C)^T` with `C` the 0/1 float matrix of the activations, by two
/// multi-threaded SIMD matrix products (candle's CPU matmul over `gemm`): what the NASWOT authors'
/// PyTorch code computes, and what the bit kernel replaces.
fn k_by_float_product(act: &candle_core::Tensor) -> candle_core::Tensor {
    let c = act.gt(0.0).unwrap().to_dtype(candle_core::DType::F32).unwrap();
    let not_c = (1.0 - &c).unwrap();
    (c.matmul(&c.t().unwrap()).unwrap() + not_c.matmul(&not_c.t().unwrap()).unwrap()).unwrap()
}

fn k_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("naswot_k");
    group.sample_size(10);
    for (batch, units) in [(128usize, 16_384usize), (128, 262_144)] {
        let act = activations(batch, units);
        let id = format!("{batch}x{units}");
        group.bench_function(BenchmarkId::new("cpu_bits", &id), |b| {
            b.iter(|| {
                let mut acc = KAccumulator::new(batch);
                acc.add_layer(&act, units).unwrap();
                acc.units()
            })
        });
        let codes = BitCodes::pack(&act, batch, units).unwrap();
        group.bench_function(BenchmarkId::new("cpu_bits_packed", &id), |b| {
            b.iter(|| {
                let mut acc = KAccumulator::new(batch);
                acc.add_codes(&codes).unwrap();
                acc.units()
            })
        });
        let tensor = candle_core::Tensor::from_slice(&act, (batch, units), &candle_core::Device::Cpu).unwrap();
        group.bench_function(BenchmarkId::new("cpu_float_product", &id), |b| b.iter(|| k_by_float_product(&tensor)));
    }
    group.finish();
}

fn log_det(c: &mut Criterion) {
    let mut group = c.benchmark_group("naswot_logdet");
    let n = 128;
    let act = activations(n, 50_000);
    let mut acc = KAccumulator::new(n);
    acc.add_layer(&act, 50_000).unwrap();
    let k: Vec<f64> = acc.k().into_iter().map(|v| v as f64).collect();
    group.bench_function(BenchmarkId::new("cpu_cholesky", n), |b| b.iter(|| log_det_spd(&k, n).unwrap()));
    group.bench_function(BenchmarkId::new("reference_lu", n), |b| b.iter(|| reference::log_det(&k, n)));
    group.finish();
}

/// A full NASWOT score (build, forward at batch 128, K, log-determinant) of a light and a heavy
/// NAS-Bench-201 network (C = 16, N = 5), on the real images when the data directory has them.
fn full_score(c: &mut Criterion) {
    let space = nas_spaces::Nb201Space::default();
    let images = match nas_spaces::data::for_tests("images/cifar10_test_first846.bin") {
        Some(dir) => images::read_cifar10(&dir.file("images/cifar10_test_first846.bin").unwrap(), 128).unwrap(),
        None => images::synthetic(128, 3, 32, 32, 10, 0),
    };
    let mut group = c.benchmark_group("naswot_score");
    group.sample_size(10);
    for (name, arch) in [
        ("light", "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|avg_pool_3x3~2|"),
        ("heavy", "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"),
    ] {
        let net = space.to_network(&space.parse(arch).unwrap()).unwrap();
        group.bench_function(BenchmarkId::new("cpu", name), |b| b.iter(|| naswot(&net, &images, 0).unwrap()));
    }
    group.finish();
}

/// snip + grad_norm (one forward and one backward pass of the cross-entropy at batch 128) on the
/// fast CPU path and on candle's autograd, light network (candle takes about a minute per heavy one).
fn gradient_score(c: &mut Criterion) {
    let space = nas_spaces::Nb201Space::default();
    let images = match nas_spaces::data::for_tests("images/cifar10_test_first846.bin") {
        Some(dir) => images::read_cifar10(&dir.file("images/cifar10_test_first846.bin").unwrap(), 128).unwrap(),
        None => images::synthetic(128, 3, 32, 32, 10, 0),
    };
    let arch = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|avg_pool_3x3~2|";
    let net = space.to_network(&space.parse(arch).unwrap()).unwrap();
    let mut group = c.benchmark_group("snip_score");
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("cpu", "light"), |b| {
        b.iter(|| nas_kernels::scores::snip_and_grad_norm(&net, &images, 0).unwrap())
    });
    group.bench_function(BenchmarkId::new("candle", "light"), |b| {
        b.iter(|| nas_kernels::scores::snip_and_grad_norm_candle(&net, &images, 0).unwrap())
    });
    group.finish();
    // grasp: three backward passes (f32 fast path, f64 candle reference) at batch 32, since the
    // candle path needs several GB at 128.
    let batch = images.first(32).unwrap();
    let mut group = c.benchmark_group("grasp_score");
    group.sample_size(10);
    group.bench_function(BenchmarkId::new("cpu", "light-b32"), |b| {
        b.iter(|| nas_kernels::scores::grasp(&net, &batch, 0).unwrap())
    });
    group.bench_function(BenchmarkId::new("candle", "light-b32"), |b| {
        b.iter(|| nas_kernels::scores::grasp_candle(&net, &batch, 0).unwrap())
    });
    group.finish();
}

criterion_group!(benches, k_step, log_det, full_score, gradient_score);
criterion_main!(benches);
