//! How fast a fitted model prices a whole space: every one of the 15,625 NB201 cells with the cell
//! model (pair terms on, the largest variant), and 10,000 FBNet networks with the additive table.
#![allow(clippy::unwrap_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use nas_core::{AdditiveCost, Genotype, SearchSpace};
use nas_hw::model::{Fitted, LatencyModel};
use nas_hw::nb201::{Pruning, feature_count};
use rand::SeedableRng;

fn model(space: &str, fitted: Fitted) -> LatencyModel {
    LatencyModel {
        space: space.into(),
        device: "bench".into(),
        dataset: None,
        train_ids: vec![],
        train_file: None,
        validation: None,
        model: fitted,
    }
}

fn price(c: &mut Criterion) {
    let mut group = c.benchmark_group("price");
    // The weights do not change the work; any values do.
    let weights: Vec<f64> = (0..feature_count(true)).map(|i| 0.01 * i as f64).collect();
    let cell =
        model("nb201", Fitted::Cell { pruning: Pruning::DeadAndConstant, pairs: true, features: vec![], weights });
    let nb201: Vec<Genotype> = nas_spaces::Nb201Space::default().enumerate().collect();
    assert_eq!(nb201.len(), 15_625);
    group.bench_function("nb201_cell_model_all_15625", |b| {
        b.iter(|| nb201.iter().map(|g| cell.predict(g).unwrap()).sum::<f64>())
    });
    let space = nas_spaces::FbnetSpace::default();
    let entries: Vec<Vec<f64>> = (0..22).map(|i| (0..9).map(|j| (i * 9 + j) as f64 * 0.001).collect()).collect();
    let table = model("fbnet", Fitted::Table { table: AdditiveCost::new("bench", "ms", 1.0, entries).unwrap() });
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let fbnet: Vec<Genotype> = (0..10_000).map(|_| space.sample(&mut rng)).collect();
    group.bench_function("fbnet_table_10000", |b| {
        b.iter(|| fbnet.iter().map(|g| table.predict(g).unwrap()).sum::<f64>())
    });
    group.finish();
}

criterion_group!(benches, price);
criterion_main!(benches);
