//! End-to-end tests of `nas cost` and `nas hw fit|eval|measure`. Those that need the benchmark data skip
//! (and say so) when it is not found.
#![allow(clippy::unwrap_used)]

use serde_json::Value;

mod common;
use common::{nas, stderr, stdout};

const FBNET: &str = "fbnet/help_latency_fbnet_train4000.csv";
const HW: &str = "nb201/hw_nas_bench_nb201.csv";

#[test]
fn cost_prints_counts_and_roofline_and_rejects_unknown_devices() {
    let arch = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";
    let o = nas(&["cost", "--device", "raspi4", "--arch", arch, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["params"], 1_073_466);
    assert!(v["roofline_latency_ms"].as_f64().unwrap() > 0.0);
    // With the benchmark: HW-NAS-Bench's measured latency and energy of this network, and fitted
    // latency and energy models priced side by side.
    if let Some(dir) = nas_spaces::data::for_tests(HW) {
        let v: Value =
            serde_json::from_slice(&nas(&["cost", "--device", "edgegpu", "--arch", arch, "--json"]).stdout).unwrap();
        let measured = &v["measured"];
        assert!(measured["edgegpu_latency"].as_f64().unwrap() > 0.0, "{v}");
        assert!(measured["edgegpu_energy"].as_f64().unwrap() > 0.0, "{v}");
        let scratch = common::scratch("cost");
        let data = dir.path.join(HW);
        let mut models = Vec::new();
        for column in ["edgegpu_latency", "edgegpu_energy"] {
            let m = scratch.join(format!("{column}.json"));
            let o = nas(&[
                "hw",
                "fit",
                "--space",
                "nb201",
                "--device",
                column,
                "--data",
                data.to_str().unwrap(),
                "--train-rows",
                "1000",
                "--seed",
                "0",
                "--out",
                m.to_str().unwrap(),
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
            models.push(m);
        }
        let (lat, energy) = (models[0].to_str().unwrap(), models[1].to_str().unwrap());
        let o = nas(&["cost", "--device", "edgegpu", "--arch", arch, "--model", lat, "--model", energy, "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        for column in ["edgegpu_latency", "edgegpu_energy"] {
            let (fit, meas) = (v["fitted"][column].as_f64().unwrap(), v["measured"][column].as_f64().unwrap());
            assert!((fit / meas - 1.0).abs() < 0.25, "{column}: fitted {fit}, measured {meas}");
        }
        assert_eq!(v["fitted_latency_ms"], v["fitted"]["edgegpu_latency"]);
        let text = stdout(&nas(&["cost", "--device", "edgegpu", "--arch", arch, "--model", energy]));
        assert!(text.contains("fitted edgegpu_energy") && text.contains(" mJ"), "{text}");
        // The energy model on the rows it was not fitted on.
        let o = nas(&["hw", "eval", "--model", energy, "--data", data.to_str().unwrap(), "--json"]);
        let acc: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(acc["n"], 15_625 - 1000);
        assert!(acc["spearman"].as_f64().unwrap() > 0.97 && acc["within_10pct"].as_f64().unwrap() > 0.88, "{acc}");
        assert!(acc["residual_autocorrelation"].as_f64().unwrap().abs() < 0.2, "{acc}");
        let _ = std::fs::remove_dir_all(scratch);
    }
    let o = nas(&["cost", "--device", "toaster", "--arch", arch]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("unknown device \"toaster\"") && e.lines().count() == 1, "{e}");
}

#[test]
fn fbnet_fit_and_eval_reach_the_target_on_pixel3_and_errors_are_one_line() {
    let Some(dir) = nas_spaces::data::for_tests(FBNET) else { return };
    let data = dir.path.join(FBNET);
    let data = data.to_str().unwrap();
    let scratch = common::scratch("fit");
    let model = scratch.join("fbnet_pixel3.json");
    let m = model.to_str().unwrap();
    let o = nas(&[
        "hw",
        "fit",
        "--space",
        "fbnet",
        "--device",
        "pixel3",
        "--data",
        data,
        "--train-rows",
        "3000",
        "--out",
        m,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = nas(&["hw", "eval", "--model", m, "--data", data, "--rows", "3000..4000", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["n"], 1000);
    assert!(v["within_10pct"].as_f64().unwrap() >= 0.97, "{v}");
    assert!(v["spearman"].as_f64().unwrap() >= 0.97, "{v}");

    for (args, want) in [
        (vec!["--device", "pixel9"], "no column \"pixel9\""),
        (vec!["--device", "pixel3", "--train-rows", "100"], "fewer than the 199 unknowns"),
    ] {
        let mut all = vec!["hw", "fit", "--space", "fbnet", "--data", data, "--out", m];
        all.extend(args);
        let o = nas(&all);
        assert!(!o.status.success());
        let e = stderr(&o);
        assert!(e.contains(want) && e.lines().count() == 1, "{e}");
    }
    // A negative latency in a HELP file.
    let bad = scratch.join("bad.csv");
    let mut text = std::fs::read_to_string(dir.path.join(FBNET)).unwrap();
    text = text.lines().take(3).collect::<Vec<_>>().join("\n");
    let text = text.replacen(",17.557745,", ",-17.5,", 1);
    std::fs::write(&bad, text).unwrap();
    let o = nas(&["hw", "fit", "--space", "fbnet", "--device", "pixel3", "--data", bad.to_str().unwrap(), "--out", m]);
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("must be a positive number") && e.lines().count() == 1, "{e}");
    let _ = std::fs::remove_dir_all(scratch);
}

#[test]
fn measure_times_real_networks_and_checks_a_local_model_on_unseen_ones() {
    let dir = common::scratch("measure");
    let csv = dir.join("cpu.csv");
    let o = nas(&[
        "hw",
        "measure",
        "--space",
        "nb201",
        "--train",
        "60",
        "--sample",
        "8",
        "--repeats",
        "2",
        "--out",
        csv.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(v["n"], 8);
    assert!(v["spearman"].as_f64().unwrap().is_finite() && v["rmse_ms"].as_f64().unwrap() >= 0.0);
    // The measurements are in the HELP layout that `nas hw fit` reads.
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 69);
    assert!(text.starts_with("arch_str,cpu_ms\n\"|"));
    for (train, needle) in [("10", "needs at least 57"), ("50", "needs at least 57")] {
        let o = nas(&["hw", "measure", "--space", "nb201", "--train", train, "--sample", "2", "--repeats", "1"]);
        let err = stderr(&o);
        assert!(!o.status.success() && err.contains(needle), "{err}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
