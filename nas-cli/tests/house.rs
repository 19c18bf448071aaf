//! End-to-end tests of the defects a new user met (issue "one house"): each failed before its fix.
#![allow(clippy::unwrap_used)]

use serde_json::Value;

mod common;
use common::{nas, stderr, stdout};

const FBNET: &str = "fbnet/help_latency_fbnet_train4000.csv";

#[test]
fn a_model_evaluates_on_every_row_of_another_file() {
    let Some(dir) = nas_spaces::data::for_tests(FBNET) else { return };
    let full = dir.path.join(FBNET);
    let scratch = common::scratch("other-file");
    // File B: the first 400 rows of the HELP file, with their own fb_idx.
    let text = std::fs::read_to_string(&full).unwrap();
    let b: String = text.lines().take(401).map(|l| format!("{l}\n")).collect();
    let b_path = scratch.join("b.csv");
    std::fs::write(&b_path, b).unwrap();
    let model = scratch.join("m.json");
    let o = nas(&[
        "hw",
        "fit",
        "--space",
        "fbnet",
        "--column",
        "pixel3",
        "--data",
        full.to_str().unwrap(),
        "--train-rows",
        "3000",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("3000 of the 4000 rows") && stdout(&o).contains("1000 held out"), "{}", stdout(&o));
    // On its own file: the 1,000 held-out rows. On file B: all 400 (B's rows 0..400 are among the
    // training ids, which belong to the other file).
    let eval = |data: &std::path::Path| -> Value {
        let o = nas(&["hw", "eval", "--model", model.to_str().unwrap(), "--data", data.to_str().unwrap(), "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let own = eval(&full);
    assert_eq!((own["n"].as_u64(), own["rows"].as_str()), (Some(1000), Some("held out")), "{own}");
    let other = eval(&b_path);
    assert_eq!((other["n"].as_u64(), other["rows"].as_str()), (Some(400), Some("all")), "{other}");
    assert_eq!(other["unit"], "ms");
    assert_eq!(other["rmse_ms"], other["rmse"]);
    // By default hw fit uses every row, and says so.
    let o = nas(&[
        "hw",
        "fit",
        "--space",
        "fbnet",
        "--column",
        "pixel3",
        "--data",
        b_path.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(stdout(&o).contains("400 of the 400 rows") && stdout(&o).contains("0 held out"), "{}", stdout(&o));
    let o = nas(&["hw", "eval", "--model", model.to_str().unwrap(), "--data", b_path.to_str().unwrap()]);
    assert!(!o.status.success() && stderr(&o).contains("fitted on all 400 rows"), "{}", stderr(&o));
    std::fs::remove_dir_all(&scratch).ok();
}

#[test]
fn wrong_sizes_fail_before_any_work_with_the_bound() {
    let cases: &[(&[&str], &str)] = &[
        (&["bench", "nats", "99999"], "indices 0..15624"),
        (&["hw", "measure", "--space", "nb201", "--train", "12"], "needs at least"),
        (&["score", "--arch", "121212", "--no-cache", "--batch", "18446744073709551615"], "give 1 to 4096"),
        (&["score", "--arch", "121212", "--no-cache", "--batch", "100000000"], "give 1 to 4096"),
        (&["layernas", "--max-mflops", "100", "--buckets", "18446744073709551615"], "1 to 100000 buckets"),
        (&["hw", "measure", "--space", "nb201", "--train", "18446744073709551615"], "at most 100000"),
        (&["search", "--runs", "18446744073709551615"], "give 1 to 100000 runs"),
        (&["search", "--strategy", "naswot", "--n", "18446744073709551615"], "networks per run"),
    ];
    for (args, needle) in cases {
        common::assert_fails_in_one_line(args, needle);
    }
}

#[test]
fn usage_errors_and_other_errors_exit_with_1_in_one_line() {
    let o = nas(&["search", "--strategy", "bogus"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("[possible values: random, rea, naswot, area, na-random]"), "{}", stderr(&o));
    let o = nas(&["search", "--runs", "0"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let o = nas(&["search", "--help"]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn every_space_command_takes_every_space_it_works_on() {
    let o = nas(&["space", "info", "--space", "fbnet", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decisions"].as_array().unwrap().len(), 22);
    let idx = "7 8 1 8 4 8 8 8 7 4 1 4 7 3 2 7 3 2 4 2 4 5";
    let o = nas(&["arch", "show", idx, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["space"], "fbnet");
    assert_eq!(v["ops"], idx);
    let o = nas(&["score", "--space", "fbnet", "--arch", idx, "--proxy", "params", "--no-cache", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // A space a command cannot work on is refused with the ones it accepts.
    let o = nas(&["search", "--space", "fbnet"]);
    assert!(!o.status.success() && stderr(&o).contains("nas search runs on nb201, not fbnet"), "{}", stderr(&o));
    // One architecture parser: the table index works in nas cost too.
    if common::have_table() {
        let o = nas(&["cost", "--device", "edgegpu", "--arch", "6111", "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let by_code = nas(&["cost", "--device", "edgegpu", "--arch", "333132", "--json"]);
        let a: Value = serde_json::from_slice(&o.stdout).unwrap();
        let b: Value = serde_json::from_slice(&by_code.stdout).unwrap();
        assert_eq!(a["params"].as_u64().is_some(), b["params"].as_u64().is_some());
    }
}

#[test]
fn text_is_the_default_and_json_is_one_line_everywhere() {
    if !common::have_table() {
        return;
    }
    let o = nas(&["mathnas", "--space", "nb201", "--max-mflops", "100"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("answer ") && !text.trim_start().starts_with('{'), "{text}");
    let o = nas(&["mathnas", "--space", "nb201", "--max-mflops", "100", "--json"]);
    assert_eq!(stdout(&o).trim().lines().count(), 1);
    let o = nas(&["layernas", "--space", "nb201", "--max-mflops", "100"]);
    assert!(stdout(&o).starts_with("answer "), "{}", stdout(&o));
    let o = nas(&["hw", "fit", "--help"]);
    assert!(!stdout(&o).contains("DeadOutputs"));
}

#[test]
fn limits_no_architecture_meets_are_an_error_naming_the_cheapest() {
    if nas_spaces::data::for_tests("nb201/hw_nas_bench_nb201.csv").is_none() || !common::have_table() {
        return;
    }
    let o = nas(&["mathnas", "--space", "nb201", "--device", "edgegpu", "--max-latency-ms", "0", "--json"]);
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("infeasible") && e.contains("ms in edgegpu_latency"), "{e}");
    let o = nas(&["mathnas", "--space", "nb201", "--max-mflops", "10", "--predictor", "best", "--samples", "0"]);
    assert!(!o.status.success() && stderr(&o).contains("--samples 0"), "{}", stderr(&o));
}

#[test]
fn images_of_every_dataset_score_on_their_own_network_and_a_mismatch_is_an_error() {
    let Some(dir) = nas_spaces::data::for_tests("images/cifar100_train_first1117.bin") else { return };
    let c100 = dir.file("images/cifar100_train_first1117.bin").unwrap();
    let c100 = c100.to_str().unwrap();
    let o = nas(&[
        "score",
        "--arch",
        "333132",
        "--images",
        c100,
        "--batch",
        "16",
        "--proxy",
        "naswot,snip",
        "--no-cache",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(rows[0]["images"].as_str().unwrap().contains("cifar100 normalisation"), "{}", rows[0]);
    assert!(rows.iter().all(|r| r["score"].as_f64().is_some_and(f64::is_finite)), "{rows:?}");
    if common::have_table() {
        let c10 = dir.file("images/cifar10_test_first846.bin").unwrap();
        let o = nas(&[
            "correlate",
            "--sample",
            "3",
            "--dataset",
            "cifar100",
            "--images",
            c10.to_str().unwrap(),
            "--no-cache",
        ]);
        let e = stderr(&o);
        assert!(!o.status.success() && e.contains("holds cifar10 images, but the dataset is cifar100"), "{e}");
        let o = nas(&[
            "correlate",
            "--sample",
            "3",
            "--dataset",
            "cifar100",
            "--images",
            c100,
            "--batch",
            "16",
            "--no-cache",
            "--json",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
}
