//! Search speed on the real NAS-Bench-201 table: 500 runs of random search and regularized evolution
//! with the benchmark's 12,000 simulated seconds each (the target: REA under 2 s on one core).

use criterion::{Criterion, criterion_group, criterion_main};
use nas_core::Strategy;
use nas_spaces::{Dataset, Epochs, Nb201Space, Nb201Table, Split};
use nas_strategies::{Budget, RandomSearch, RegularizedEvolution, search};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

type MakeStrategy = fn() -> Box<dyn Strategy>;

fn runs_500(c: &mut Criterion) {
    let Some(dir) = nas_spaces::data::for_tests(nas_spaces::nb201_table::FILE) else { return };
    let table = Nb201Table::load(&dir).expect("the table loads");
    let evaluator = table.evaluator(Dataset::Cifar10Valid, Split::Valid, Epochs::E12).expect("12-epoch fitness");
    let space = Nb201Space::default();
    let budget = Budget::seconds(12_000.0).expect("budget");
    let mut group = c.benchmark_group("search_500_runs_12000s");
    group.sample_size(10);
    let strategies: [(&str, MakeStrategy); 2] =
        [("rea", || Box::new(RegularizedEvolution::new(10, 3).expect("P, S"))), ("random", || Box::new(RandomSearch))];
    for (name, make) in strategies {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut evaluations = 0;
                for run in 0..500 {
                    let mut rng = ChaCha8Rng::seed_from_u64(0);
                    rng.set_stream(run);
                    let r = search(&space, make().as_mut(), &evaluator, budget, &mut rng, None).expect("search");
                    evaluations += r.history.len();
                }
                evaluations
            })
        });
    }
    group.finish();
}

criterion_group!(benches, runs_500);
criterion_main!(benches);
