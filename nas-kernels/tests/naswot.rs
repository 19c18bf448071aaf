#![allow(clippy::unwrap_used)]
//! The fast NASWOT kernels against their plain references, on fresh random inputs.

use nas_kernels::naswot::{BitCodes, KAccumulator, log_det_spd, reference};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_codes(rng: &mut ChaCha8Rng, batch: usize, units: usize, p_one: f64) -> Vec<Vec<bool>> {
    (0..batch).map(|_| (0..units).map(|_| rng.random_bool(p_one)).collect()).collect()
}

/// Splits each image's code into layers of the given sizes and feeds them one by one.
fn accumulate(codes: &[Vec<bool>], layer_sizes: &[usize]) -> KAccumulator {
    let mut acc = KAccumulator::new(codes.len());
    let mut start = 0;
    for &len in layer_sizes {
        let layer: Vec<Vec<bool>> = codes.iter().map(|c| c[start..start + len].to_vec()).collect();
        acc.add_codes(&BitCodes::from_bools(&layer).unwrap()).unwrap();
        start += len;
    }
    acc
}

#[test]
fn fast_k_equals_reference_bit_for_bit() {
    let mut rng = ChaCha8Rng::seed_from_u64(rand::random());
    // (batch, units): batch 1..256, units 1..100,000, most not a multiple of 64.
    let shapes = [
        (1, 1),
        (2, 63),
        (3, 64),
        (5, 65),
        (7, 129),
        (33, 1000),
        (64, 4097),
        (128, 777),
        (256, 131),
        (4, 100_000),
        (256, 8_383),
    ];
    for (batch, units) in shapes {
        let p = rng.random_range(0.05..0.95);
        let codes = random_codes(&mut rng, batch, units, p);
        let expected = reference::k_matrix(&codes);
        assert_eq!(accumulate(&codes, &[units]).k(), expected, "one layer, batch {batch}, units {units}");
        // The same codes as several layers of uneven sizes.
        let mut sizes = Vec::new();
        let mut left = units;
        while left > 0 {
            let s = rng.random_range(1..=left.min(5000));
            sizes.push(s);
            left -= s;
        }
        let acc = accumulate(&codes, &sizes);
        assert_eq!(acc.units(), units as u64);
        assert_eq!(acc.k(), expected, "{} layers, batch {batch}, units {units}", sizes.len());
    }
}

#[test]
fn packing_from_activations_uses_strictly_positive() {
    let acts = [0.5f32, 0.0, -0.0, -1.0, f32::MIN_POSITIVE, 3.0];
    let mut acc = KAccumulator::new(2);
    acc.add_layer(&acts, 3).unwrap();
    // Codes 100 and 011: they differ in all 3 units.
    assert_eq!(acc.k(), vec![3, 0, 0, 3]);
    assert!(acc.add_layer(&acts, 4).is_err());
    assert!(BitCodes::pack(&acts, 0, 6).is_err());
}

#[test]
fn cholesky_log_det_matches_lu_reference() {
    let mut rng = ChaCha8Rng::seed_from_u64(rand::random());
    for n in [1, 2, 5, 17, 64, 128] {
        // K matrices of random codes are symmetric positive (semi-)definite.
        let codes = random_codes(&mut rng, n, 3000, 0.5);
        let k: Vec<f64> = reference::k_matrix(&codes).into_iter().map(|v| v as f64).collect();
        let fast = log_det_spd(&k, n).unwrap();
        let slow = reference::log_det(&k, n);
        assert!((fast - slow).abs() <= 1e-9 * slow.abs().max(1.0), "n {n}: {fast} vs {slow}");
        let acc = accumulate(&codes, &[3000]);
        assert_eq!(acc.score().unwrap(), fast);
    }
}

#[test]
fn singular_k_is_minus_infinity_and_nan_is_an_error() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut codes = random_codes(&mut rng, 6, 200, 0.5);
    codes[4] = codes[1].clone();
    let acc = accumulate(&codes, &[200]);
    assert_eq!(acc.score().unwrap(), f64::NEG_INFINITY);
    let k: Vec<f64> = acc.k().into_iter().map(|v| v as f64).collect();
    assert_eq!(reference::log_det(&k, 6), f64::NEG_INFINITY);
    assert!(log_det_spd(&[1.0, f64::NAN, f64::NAN, 1.0], 2).is_err());
    assert!(log_det_spd(&[1.0, 2.0, 3.0], 2).is_err());
}

#[cfg(feature = "cuda")]
#[test]
fn gpu_k_equals_cpu_k_bit_for_bit() {
    use nas_kernels::cuda::GpuKAccumulator;
    if let Err(e) = GpuKAccumulator::new(2) {
        eprintln!("skipped: {e}");
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(rand::random());
    for (batch, units) in [(1, 1), (2, 63), (7, 129), (128, 16_385), (256, 1000), (3, 100_000)] {
        let codes = random_codes(&mut rng, batch, units, 0.5);
        let mut gpu = GpuKAccumulator::new(batch).unwrap();
        let a = units / 3;
        for part in [
            &codes.iter().map(|c| c[..a].to_vec()).collect::<Vec<_>>(),
            &codes.iter().map(|c| c[a..].to_vec()).collect(),
        ] {
            if !part[0].is_empty() {
                gpu.add_codes(&BitCodes::from_bools(part).unwrap()).unwrap();
            }
        }
        assert_eq!(gpu.k().unwrap(), reference::k_matrix(&codes), "batch {batch}, units {units}");
    }
}

#[test]
fn simd_packing_equals_plain_comparison() {
    let mut rng = ChaCha8Rng::seed_from_u64(rand::random());
    let specials = [0.0f32, -0.0, f32::NAN, f32::MIN_POSITIVE, -f32::MIN_POSITIVE, f32::INFINITY, f32::NEG_INFINITY];
    for units in [1, 8, 63, 64, 65, 1000, 4099] {
        let acts: Vec<f32> = (0..3 * units)
            .map(|_| {
                if rng.random_bool(0.2) {
                    specials[rng.random_range(0..specials.len())]
                } else {
                    rng.random_range(-1.0..1.0)
                }
            })
            .collect();
        let bools: Vec<Vec<bool>> = acts.chunks(units).map(|c| c.iter().map(|&x| x > 0.0).collect()).collect();
        assert_eq!(BitCodes::pack(&acts, 3, units).unwrap(), BitCodes::from_bools(&bools).unwrap(), "units {units}");
    }
}
