//! End-to-end tests of `nas mathnas` and `nas layernas`. Those that need the benchmark tables skip
//! (and say so) when they are missing.
#![allow(clippy::unwrap_used)]

use std::process::Output;

use nas_core::{AdditiveCost, SearchSpace};
use nas_spaces::FbnetSpace;
use nas_strategies::MckpProblem;
use nas_strategies::milp::solve_milp;
use serde_json::Value;

mod common;
use common::nas;

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap()
}

fn error(o: &Output) -> String {
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    e
}

/// The options naming a user table with `enc` (layers joined by `-`), `acc` and `lat` columns.
fn table_args(path: &str) -> [&str; 10] {
    [
        "--table",
        path,
        "--encoding-column",
        "enc",
        "--encoding-sep",
        "-",
        "--reward-column",
        "acc",
        "--cost-column",
        "lat",
    ]
}

fn have(file: &str) -> bool {
    let ok = nas_spaces::data::for_tests(file).is_some();
    if !ok {
        eprintln!("skipping: {file} not found");
    }
    ok
}

#[test]
fn mathnas_selects_under_latency_and_flops_limits() {
    if !have(nas_spaces::nb201_table::FILE) || !have(nas_spaces::hw_nas_bench::FILE) {
        return;
    }
    let v = json(&nas(&["mathnas", "--space", "nb201", "--device", "edgegpu", "--max-latency-ms", "5", "--json"]));
    assert!(v["arch"].as_str().unwrap().starts_with('|'));
    assert!(v["predicted"]["edgegpu_latency"].as_f64().unwrap() <= 5.0);
    assert!(v["true"]["c10_test_acc"].as_f64().unwrap() > 90.0);
    assert_eq!(v["evaluations"], 25);
    assert!(v["seconds"].as_f64().unwrap() > 0.0);
    // Exact deltas reproduce the check: the 5 ms pick.
    let v = json(&nas(&["mathnas", "--max-mflops", "110", "--block-table", "exact", "--json"]));
    assert!(v["predicted"]["flops"].as_f64().unwrap() <= 110.0);
    assert_eq!(v["evaluations"], 15_625);
    let v = json(&nas(&["mathnas", "--max-mflops", "110", "--solver", "milp", "--json"]));
    assert!(v["true"]["flops"].as_f64().unwrap() <= 110.0);
    let v = json(&nas(&["mathnas", "--max-mflops", "110", "--predictor", "best", "--json"]));
    assert!(v["true"]["meets_limits"].as_bool().unwrap());
    assert_eq!(v["evaluations"], 1030);

    // The paper's FLOPs-scaled objective, selected exactly: the 4 ms pick (exact deltas) differs from
    // the additive one.
    let base = ["mathnas", "--device", "edgegpu", "--max-latency-ms", "4", "--block-table", "exact", "--json"];
    let additive = json(&nas(&base));
    let scaled = json(&nas(&[&base[..], &["--objective", "flops-scaled"]].concat()));
    assert!(scaled["true"]["meets_limits"].as_bool().unwrap());
    assert!(scaled["details"]["ratio_iterations"].as_u64().unwrap() >= 1);
    assert_ne!(scaled["arch"], additive["arch"]);
    let e = error(&nas(&[&base[..], &["--objective", "flops-scaled", "--solver", "milp"]].concat()));
    assert!(e.contains("--solver exact"), "{e}");
    let e = error(&nas(&[&base[..], &["--objective", "ratio"]].concat()));
    assert!(e.contains("invalid value 'ratio' for '--objective"), "{e}");

    let e = error(&nas(&["mathnas", "--max-mflops", "1"]));
    assert!(e.contains("infeasible: the cheapest network costs"), "{e}");
    for bad in ["-1", "NaN"] {
        let e = error(&nas(&["mathnas", &format!("--max-mflops={bad}")]));
        assert!(e.contains("--max-mflops"), "{e}");
    }
}

#[test]
fn layernas_meets_the_flops_target_with_few_evaluations() {
    if !have(nas_spaces::nb201_table::FILE) {
        return;
    }
    let v = json(&nas(&[
        "layernas",
        "--space",
        "nb201",
        "--cost",
        "flops",
        "--max-mflops",
        "100",
        "--buckets",
        "100",
        "--json",
    ]));
    assert!(v["true"]["cost"].as_f64().unwrap() <= 100.0);
    let (found, best) = (v["true"]["reward"].as_f64().unwrap(), v["best_true"]["reward"].as_f64().unwrap());
    assert!(found <= best && best - found < 1.0, "{found} vs {best}");
    assert!(v["evaluations"].as_u64().unwrap() < 1000);
    let e = error(&nas(&["layernas", "--max-mflops", "1"]));
    assert!(e.contains("infeasible"), "{e}");
}

#[test]
fn user_tables_run_both_methods_and_bad_tables_fail_in_one_line() {
    let dir = common::scratch("user-table");
    // Three layers of options a/b/c; reward and cost additive, plus a small interaction.
    let mut text = String::from("enc,acc,lat\n");
    for x in ["a", "b", "c"] {
        for y in ["a", "b", "c"] {
            for z in ["a", "b", "c"] {
                let o = |c: &str| (c.as_bytes()[0] - b'a') as f64;
                let acc = 50.0 + 3.0 * o(x) + 2.0 * o(y) + o(z) + if x == y { 0.5 } else { 0.0 };
                let lat = 1.0 + o(x) + o(y) + o(z);
                text.push_str(&format!("{x}-{y}-{z},{acc},{lat}\n"));
            }
        }
    }
    let ok = dir.join("ok.csv");
    std::fs::write(&ok, text).unwrap();
    let p = ok.to_str().unwrap();
    let common = table_args(p);
    let v = json(&nas(&[&["mathnas"], &common[..], &["--max-cost", "3", "--json"]].concat()));
    assert_eq!(v["arch"], "c-a-a");
    assert_eq!(v["true"]["lat"], 3.0);
    let v = json(&nas(&[&["layernas"], &common[..], &["--max-cost", "3", "--json"]].concat()));
    assert_eq!(v["arch"], "c-a-a");
    let e = error(&nas(&[&["mathnas"], &common[..], &["--max-cost", "0.5"]].concat()));
    assert!(e.contains("infeasible: the cheapest network costs 1.000000"), "{e}");

    for (name, body, want) in [
        ("dup", "enc,acc,lat\na-a,1,1\na-a,2,2\n", "duplicate encoding"),
        ("ragged", "enc,acc,lat\na-a,1,1\na-a-b,2,2\n", "ragged row"),
        ("nan", "enc,acc,lat\na-a,1,1\na-b,NaN,2\n", "not a finite number"),
    ] {
        let f = dir.join(format!("{name}.csv"));
        std::fs::write(&f, body).unwrap();
        let e = error(&nas(&[&["mathnas"], &table_args(f.to_str().unwrap())[..], &["--max-cost", "5"]].concat()));
        assert!(e.contains(want), "{name}: {e}");
    }
}

const HELP: &str = "fbnet/help_latency_fbnet_train4000.csv";

/// The test's own tables, built apart from the CLI's wiring: pixel3 latency fitted on every HELP
/// row, and exact parameter counts per (layer, block) from the IR.
fn fbnet_tables() -> (FbnetSpace, AdditiveCost, AdditiveCost) {
    let space = FbnetSpace::default();
    let dir = nas_spaces::data::for_tests(HELP).unwrap();
    let m = nas_hw::data::read(&dir.file(HELP).unwrap(), "pixel3", &space, None, &|_| None).unwrap();
    let latency = nas_hw::model::fit_table("pixel3", &[9; 22], &m.rows).unwrap();
    let params = nas_hw::count_table::params_table(&space).unwrap();
    (space, latency, params)
}

/// The most parameters any network has under the limits, by good_lp's MILP (not the CLI's solver).
fn most_params(params: &AdditiveCost, limits: Vec<(AdditiveCost, f64)>) -> f64 {
    let p = MckpProblem::new(params.entries.clone(), limits).unwrap();
    params.base + solve_milp(&p).unwrap().value
}

#[test]
fn mathnas_on_fbnet_hits_the_exact_optimum_of_an_additive_proxy() {
    if !have(HELP) {
        return;
    }
    let (space, latency, params) = fbnet_tables();
    let flops = nas_hw::count_table::flops_table(&space).unwrap();
    let base = ["mathnas", "--space", "fbnet", "--device", "pixel3", "--proxy", "params", "--no-cache", "--json"];
    for (lat, mflops) in [(20.0, None), (12.0, Some(60.0))] {
        let (lat_s, mflops_s) = (lat.to_string(), mflops.unwrap_or(0.0).to_string());
        let mut args = base.to_vec();
        args.extend(["--max-latency-ms", &lat_s]);
        let mut limits = vec![(latency.clone(), lat)];
        if let Some(m) = mflops {
            args.extend(["--max-mflops", &mflops_s]);
            limits.push((flops.clone(), m));
        }
        let v = json(&nas(&args));
        let g = space.parse(v["arch"].as_str().unwrap()).unwrap();
        assert!(latency.cost(&g).unwrap() <= lat + 1e-9, "{v}");
        assert!((v["predicted"]["latency_ms"].as_f64().unwrap() - latency.cost(&g).unwrap()).abs() < 1e-6);
        let found = v["true"]["reward"].as_f64().unwrap();
        assert_eq!(found, space.to_network(&g).unwrap().counts().params as f64);
        // An additive reward: the m*n block table is exact and the selection is optimal.
        assert_eq!(found, most_params(&params, limits), "{v}");
        assert!((v["predicted"]["reward"].as_f64().unwrap() - found).abs() < 1e-6 * found);
        if let Some(m) = mflops {
            assert!(v["true"]["mflops"].as_f64().unwrap() <= m + 1e-9, "{v}");
        }
        assert!(v["true"]["meets_limits"].as_bool().unwrap());
        // The reference and its one-block changes: 1 + 22 * 8, plus the chosen network.
        assert!((177..=178).contains(&v["evaluations"].as_u64().unwrap()), "{v}");
        assert!(v["seconds"].as_f64().unwrap() > 0.0);
        let mut milp = args.clone();
        milp.extend(["--solver", "milp"]);
        assert_eq!(json(&nas(&milp))["true"]["reward"].as_f64().unwrap(), found);
    }
}

#[test]
fn layernas_on_fbnet_meets_latency_and_flops_limits() {
    if !have(HELP) {
        return;
    }
    let (space, latency, params) = fbnet_tables();
    let common = ["layernas", "--space", "fbnet", "--proxy", "params", "--no-cache", "--buckets", "20", "--json"];
    let v = json(&nas(&[&common[..], &["--cost", "latency", "--device", "pixel3", "--max-latency-ms", "20"]].concat()));
    let g = space.parse(v["arch"].as_str().unwrap()).unwrap();
    assert!(latency.cost(&g).unwrap() <= 20.0 + 1e-9, "{v}");
    let found = v["true"]["reward"].as_f64().unwrap();
    let best = most_params(&params, vec![(latency.clone(), 20.0)]);
    assert!(found <= best && found > 0.9 * best, "{found} vs optimum {best}");
    let evals = v["evaluations"].as_u64().unwrap();
    assert!(evals > 22 && evals <= 22 * 9 * 20 + 1, "{evals}");
    let v = json(&nas(&[&common[..], &["--cost", "flops", "--max-mflops", "60"]].concat()));
    assert!(v["true"]["mflops"].as_f64().unwrap() <= 60.0, "{v}");
}

#[test]
fn fbnet_limits_that_cannot_be_met_and_unknown_devices_fail_in_one_line() {
    if !have(HELP) {
        return;
    }
    let m = ["mathnas", "--space", "fbnet", "--proxy", "params", "--no-cache", "--device"];
    let e = error(&nas(&[&m[..], &["pixel3", "--max-latency-ms", "1"]].concat()));
    assert!(e.contains("infeasible: the cheapest network costs"), "{e}");
    // Checked before the block table is measured: no synflow score is computed here.
    let e = error(&nas(&["mathnas", "--space", "fbnet", "--proxy", "synflow", "--no-cache", "--max-mflops", "1"]));
    assert!(e.contains("infeasible: the cheapest network costs") && e.contains("MFLOPs in flops"), "{e}");
    let e = error(&nas(&[&m[..], &["no_such_phone", "--max-latency-ms", "20"]].concat()));
    assert!(e.contains("no_such_phone") && e.contains("pixel3"), "{e}");
    let e = error(&nas(&[&m[..], &["pixel3", "--max-latency-ms", "20", "--predictor", "best"]].concat()));
    assert!(e.contains("no accuracy table"), "{e}");
    let l = ["layernas", "--space", "fbnet", "--proxy", "params", "--no-cache"];
    let e = error(&nas(&[&l[..], &["--cost", "latency", "--device", "pixel3", "--max-latency-ms", "1"]].concat()));
    assert!(e.contains("infeasible: the cheapest network costs"), "{e}");
    let e = error(&nas(&[&l[..], &["--cost", "flops", "--max-mflops", "1"]].concat()));
    assert!(e.contains("infeasible: the cheapest network costs"), "{e}");
    let e =
        error(&nas(&[&l[..], &["--cost", "latency", "--device", "no_such_phone", "--max-latency-ms", "9"]].concat()));
    assert!(e.contains("no_such_phone"), "{e}");
}
