//! End-to-end tests of the `nas` binary. Those that need the benchmark table skip (and say so)
//! when it is not found.
#![allow(clippy::unwrap_used)]

use serde_json::Value;

mod common;
use common::{have_table, nas, stderr, stdout};

const BEST: &str = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|";

#[test]
fn bench_top_reproduces_the_optima() {
    if !have_table() {
        return;
    }
    for (dataset, idx, value) in
        [("cifar10", 6111, "94.37"), ("cifar100", 9930, "73.51"), ("ImageNet16-120", 857, "47.31")]
    {
        let o = nas(&["bench", "top", "--dataset", dataset, "--metric", "test", "-k", "10"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        let first = text.lines().nth(1).unwrap();
        assert!(first.contains(&idx.to_string()) && first.contains(value), "{first}");
        assert_eq!(text.lines().count(), 11);

        let o = nas(&["bench", "top", "--dataset", dataset, "--metric", "test", "-k", "2", "--json"]);
        let rows: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 2);
        assert_eq!(rows[0]["idx"], idx);
        assert!(rows[0]["arch"].as_str().unwrap().starts_with('|'));
        assert_eq!(format!("{:.2}", rows[0]["value"].as_f64().unwrap()), value);
    }
}

#[test]
fn arch_show_json_has_the_contract_fields() {
    let o = nas(&["arch", "show", BEST, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["arch"], BEST);
    // 0.073306 + 0.028 + 4 * 0.24304 M parameters.
    assert_eq!(v["params"], 1_073_466);
    assert_eq!(v["flops"], 7_942_794 + 4_362_240 + 4 * 35_819_520);
    if have_table() {
        assert_eq!(v["idx"], 6111);
        let test = v["accuracies"]["cifar10"]["test"].as_f64().unwrap();
        assert!((test - 94.373333).abs() < 1e-6);
        for d in ["cifar10-valid", "cifar100", "ImageNet16-120"] {
            assert!(v["accuracies"][d]["test"].as_f64().is_some(), "{d}");
        }
    }
    // The same architecture by ops code gives the same answer.
    let o = nas(&["arch", "show", "333132", "--json"]);
    let w: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(w["arch"], BEST);
}

#[test]
fn arch_dot_draws_the_cell() {
    let o = nas(&["arch", "dot", BEST]);
    assert!(o.status.success());
    let dot = stdout(&o);
    assert!(dot.starts_with("digraph cell"));
    assert_eq!(dot.matches("->").count(), 6);
    let o = nas(&["arch", "dot", BEST, "--full"]);
    assert!(stdout(&o).starts_with("digraph network"));
}

#[test]
fn space_info_describes_nb201() {
    let o = nas(&["space", "info", "nb201", "--json"]);
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["size"], 15_625);
    assert_eq!(v["isomorphism_classes"], 6_466);
    assert_eq!(v["decisions"].as_array().unwrap().len(), 6);
}

#[test]
fn bad_input_gives_one_line_errors_and_nonzero_exit() {
    let cases: &[(&[&str], &str)] = &[
        (&["arch", "show", "|nor_conv_9x9~0|+|none~0|none~1|+|none~0|none~1|none~2|"], "unknown operation"),
        (&["arch", "show", "|none~0|+|none~0|none~1|+|none~0|none~1|"], "node 3 must have 3 input edges"),
        (&["arch", "show", "|none~0|+|none~0|none~1|+|none~0|none~1|none~5|"], "cannot read node 5"),
        (&["arch", "show", ""], "empty"),
        (&["arch", "show", "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|junk"], "must start and end with '|'"),
        (&["arch", "show", "hello"], "cannot parse \"hello\": not an NB201 architecture"),
        (&["space", "info", "nb101"], "invalid value 'nb101'"),
        (&["space", "info", "--space", "nb101"], "[possible values: nb201, fbnet]"),
        (&["bench", "top", "--dataset", "mnist"], "invalid value 'mnist' for '--dataset"),
        (&["bench", "top", "--metric", "loss"], "invalid value 'loss' for '--metric"),
        (&["bench", "top", "-k", "0"], "-k 0"),
        (&["bench", "top", "--data-dir", "/nonexistent/dir"], "nb201/nb201_master.csv"),
    ];
    for (args, needle) in cases {
        common::assert_fails_in_one_line(args, needle);
    }
}

#[test]
fn a_corrupt_table_is_reported_with_its_line() {
    let dir = common::scratch("corrupt-table");
    std::fs::create_dir_all(dir.join("nb201")).unwrap();
    let csv =
        format!("idx,arch_str,c10_test_acc\n0,{BEST},94.1\n1,|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,oops\n");
    std::fs::write(dir.join("nb201/nb201_master.csv"), csv).unwrap();
    let o = nas(&["bench", "top", "--data-dir", dir.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(err.contains("line 3") && err.contains("\"oops\""), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bench_nats_reads_the_official_files() {
    if nas_spaces::data::for_tests("nats/NATS-tss-v1_0-3ffb9-simple/000011.pickle.pbz2").is_none() {
        return;
    }
    let o = nas(&["bench", "nats", "11", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let c10 = v["datasets"].as_array().unwrap().iter().find(|d| d["dataset"] == "cifar10").unwrap();
    // The same number as the master table's c10_test_acc for row 11.
    let o = nas(&["arch", "show", "11", "--json"]);
    let w: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["arch"], w["arch"]);
    assert!((c10["test"].as_f64().unwrap() - w["accuracies"]["cifar10"]["test"].as_f64().unwrap()).abs() < 1e-3);
    let o = nas(&["bench", "nats", "5", "--nats-dir", "/nonexistent"]);
    assert!(!o.status.success() && stderr(&o).contains("000005.pickle.pbz2"), "{}", stderr(&o));
}
