//! End-to-end tests of `nas mathnas` and `nas layernas`. Those that need the benchmark tables skip
//! (and say so) when they are missing.
#![allow(clippy::unwrap_used)]

use std::process::Output;

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
    let common = [
        "--table",
        p,
        "--encoding-column",
        "enc",
        "--encoding-sep",
        "-",
        "--reward-column",
        "acc",
        "--cost-column",
        "lat",
    ];
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
        let args = [
            "mathnas",
            "--table",
            f.to_str().unwrap(),
            "--encoding-column",
            "enc",
            "--encoding-sep",
            "-",
            "--reward-column",
            "acc",
            "--cost-column",
            "lat",
            "--max-cost",
            "5",
        ];
        let e = error(&nas(&args));
        assert!(e.contains(want), "{name}: {e}");
    }
}
