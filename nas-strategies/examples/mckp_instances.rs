//! Writes random 20x50 selection instances (one and two limits) to JSON and times the exact solver
//! and good_lp's microlp on them, for comparison with other MILP solvers (scipy's `milp`).
//!
//! `cargo run --release -p nas-strategies --example mckp_instances -- /tmp/instances.json [count]`

use std::time::Instant;

use nas_strategies::mckp::{random_instance, solve};
use nas_strategies::milp::solve_milp;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> nas_core::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).cloned().unwrap_or_else(|| "instances.json".into());
    let count: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
    let mut all = Vec::new();
    for limits in [1, 2] {
        let (mut exact, mut milp, mut nodes) = (Vec::new(), Vec::new(), Vec::new());
        for seed in 0..count {
            let mut rng = ChaCha8Rng::seed_from_u64(1000 * limits as u64 + seed as u64);
            let p = random_instance(&mut rng, 20, 50, limits)?;
            let t = Instant::now();
            let s = solve(&p)?;
            exact.push(t.elapsed().as_secs_f64() * 1e3);
            nodes.push(s.nodes as f64);
            let t = Instant::now();
            let g = solve_milp(&p)?;
            milp.push(t.elapsed().as_secs_f64() * 1e3);
            assert!(
                (g.value - s.value).abs() < 1e-6 * s.value.abs().max(1.0),
                "seed {seed}: microlp {} vs exact {}",
                g.value,
                s.value
            );
            all.push(json!({
                "limits_count": limits, "seed": seed, "values": p.values,
                "costs": p.costs.iter().map(|c| &c.entries).collect::<Vec<_>>(),
                "bases": p.costs.iter().map(|c| c.base).collect::<Vec<_>>(),
                "limits": p.limits, "optimum": s.value,
            }));
        }
        println!(
            "{limits} limit(s), {count} instances: exact median {:.3} ms (max {:.3}, median {} nodes), microlp median {:.1} ms (max {:.1})",
            median(exact.clone()),
            exact.iter().copied().fold(0.0, f64::max),
            median(nodes),
            median(milp.clone()),
            milp.iter().copied().fold(0.0, f64::max)
        );
    }
    std::fs::write(&out, serde_json::to_string(&all).map_err(|e| nas_core::Error::Numerical(e.to_string()))?)
        .map_err(|e| nas_core::Error::io(&out, &e))?;
    println!("wrote {out}");
    Ok(())
}
