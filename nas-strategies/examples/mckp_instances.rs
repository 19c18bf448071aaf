//! Writes random 20x50 selection instances (one and two limits) to JSON and times the exact solver
//! and good_lp's microlp on them, for comparison with other MILP solvers (scipy's `milp`).
//!
//! `cargo run --release -p nas-strategies --example mckp_instances -- /tmp/instances.json [count]`
//!
//! With `--exact-only` (no file written, microlp skipped) it times only the exact solver and
//! reports the median, 99th percentile and maximum time and nodes per limit count, and the slowest
//! instance's seed: `... --example mckp_instances -- --exact-only [count] [repeats]`. Each
//! instance's time is the least of `repeats` solves (default 1), which filters out the pauses of a
//! shared machine.

use std::time::Instant;

use nas_strategies::mckp::{random_instance, solve};
use nas_strategies::milp::solve_milp;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

/// The value at quantile `q` (nearest rank) of `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn median(v: &[f64]) -> f64 {
    quantile(v, 0.5)
}

fn main() -> nas_core::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let exact_only = args.iter().any(|a| a == "--exact-only");
    args.retain(|a| a != "--exact-only");
    let out = if exact_only { None } else { Some(args.first().cloned().unwrap_or_else(|| "instances.json".into())) };
    let count: usize = args.get(usize::from(!exact_only)).and_then(|s| s.parse().ok()).unwrap_or(10);
    let repeats: usize = if exact_only { args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1).max(1) } else { 1 };
    let mut all = Vec::new();
    for limits in [1, 2] {
        let (mut exact, mut milp, mut nodes) = (Vec::new(), Vec::new(), Vec::new());
        for seed in 0..count {
            let mut rng = ChaCha8Rng::seed_from_u64(1000 * limits as u64 + seed as u64);
            let p = random_instance(&mut rng, 20, 50, limits)?;
            let mut least = f64::INFINITY;
            let mut s = None;
            for _ in 0..repeats {
                let t = Instant::now();
                s = Some(solve(&p)?);
                least = least.min(t.elapsed().as_secs_f64() * 1e3);
            }
            let s = s.ok_or_else(|| nas_core::Error::Numerical("no solve".into()))?;
            exact.push(least);
            nodes.push(s.nodes as f64);
            if exact_only {
                continue;
            }
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
        let slowest = (0..count).max_by(|&a, &b| exact[a].total_cmp(&exact[b])).unwrap_or(0);
        print!(
            "{limits} limit(s), {count} instances: exact median {:.3} ms, p99 {:.3}, max {:.3} (seed {slowest}); \
             nodes median {}, p99 {}, max {}",
            median(&exact),
            quantile(&exact, 0.99),
            quantile(&exact, 1.0),
            median(&nodes),
            quantile(&nodes, 0.99),
            quantile(&nodes, 1.0),
        );
        if exact_only {
            println!();
        } else {
            println!("; microlp median {:.1} ms (max {:.1})", median(&milp), milp.iter().copied().fold(0.0, f64::max));
        }
    }
    if let Some(out) = out {
        std::fs::write(&out, serde_json::to_string(&all).map_err(|e| nas_core::Error::Numerical(e.to_string()))?)
            .map_err(|e| nas_core::Error::io(&out, &e))?;
        println!("wrote {out}");
    }
    Ok(())
}
