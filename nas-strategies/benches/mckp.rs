//! Selection on 20 positions x 50 blocks with one and two cost limits: the exact solver
//! (`exact_mckp/...`) beside good_lp's microlp (`good_lp_microlp/...`), on the same instances.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use nas_strategies::mckp::{random_instance, solve};
use nas_strategies::milp::solve_milp;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn selection(c: &mut Criterion) {
    for limits in [1, 2] {
        let mut rng = ChaCha8Rng::seed_from_u64(limits as u64);
        let p = random_instance(&mut rng, 20, 50, limits).expect("a valid instance");
        let name = format!("20x50_{limits}limit{}", if limits > 1 { "s" } else { "" });
        c.bench_function(&format!("exact_mckp/{name}"), |b| b.iter(|| solve(black_box(&p)).expect("solved")));
        let mut g = c.benchmark_group("good_lp_microlp");
        g.sample_size(10);
        g.bench_function(&name, |b| b.iter(|| solve_milp(black_box(&p)).expect("solved")));
        g.finish();
    }
}

criterion_group!(benches, selection);
criterion_main!(benches);
