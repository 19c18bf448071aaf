//! `nas analyze topology` on the real NB201 table.
#![allow(clippy::unwrap_used)]

mod common;
use common::{assert_fails_in_one_line, have_table, nas, scratch, stdout};

const ALL_SKIP: &str =
    "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|";
const CHAIN: &str = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_3x3~2|";
const SHALLOW: &str = "|none~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|";

#[test]
fn every_cell_has_its_width_and_depth_and_answers_are_placed() {
    if !have_table() {
        eprintln!("skipped: no NB201 table (see README.md, Getting the data)");
        return;
    }
    let o = nas(&["analyze", "topology", "--space", "nb201", "--json"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 15_625);
    let find = |arch: &str| rows.iter().find(|r| r["arch"] == arch).unwrap();
    for (arch, width, depth) in [(ALL_SKIP, 3, 3), (CHAIN, 1, 3), (SHALLOW, 1, 1)] {
        let r = find(arch);
        assert_eq!((r["width"].as_u64(), r["depth"].as_u64()), (Some(width), Some(depth)), "{arch}");
        assert!(r["idx"].as_u64().is_some() && r["test_accuracy_200"].as_f64().is_some());
    }
    assert!(rows.iter().enumerate().all(|(i, r)| r["idx"].as_u64() == Some(i as u64)));

    // Answers from a report's `archs` list, placed and counted; the summary and the plot.
    let dir = scratch("topology");
    let answers = dir.join("answers.json");
    std::fs::write(&answers, serde_json::json!({ "archs": [CHAIN, SHALLOW, SHALLOW] }).to_string()).unwrap();
    let plot = dir.join("topology.svg");
    let label = format!("mine={}", answers.display());
    let args = ["analyze", "topology", "--answers", &label, "--plot", plot.to_str().unwrap(), "--json", "--summary"];
    let o = nas(&args);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let placed = &summary["answers"][0];
    assert_eq!(placed["answers"], 3);
    assert_eq!(placed["counts"], serde_json::json!({ "1,1": 2, "1,3": 1 }));
    assert!((placed["depth"][0].as_f64().unwrap() - 5.0 / 3.0).abs() < 1e-12);
    let groups = summary["groups"].as_array().unwrap();
    assert_eq!(groups.iter().map(|g| g["cells"].as_u64().unwrap()).sum::<u64>(), 15_625);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("rank gain") && svg.contains(">mine</text>"), "{svg}");

    // Bad input: one line naming the value.
    assert_fails_in_one_line(&["analyze", "topology", "--answers", "nolabel"], "nolabel");
    let missing = format!("x={}", dir.join("missing.json").display());
    assert_fails_in_one_line(&["analyze", "topology", "--answers", &missing], "missing.json");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"arch": "|conv~0|"}"#).unwrap();
    assert_fails_in_one_line(&["analyze", "topology", "--answers", &format!("x={}", bad.display())], "|conv~0|");
    assert_fails_in_one_line(&["analyze", "topology", "--space", "fbnet"], "fbnet");
}
