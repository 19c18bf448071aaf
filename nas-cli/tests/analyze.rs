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
    assert!(svg.contains("rank gain") && svg.contains(">mine 67%</text>"), "{svg}");

    // Bad input: one line naming the value.
    assert_fails_in_one_line(&["analyze", "topology", "--answers", "nolabel"], "nolabel");
    let missing = format!("x={}", dir.join("missing.json").display());
    assert_fails_in_one_line(&["analyze", "topology", "--answers", &missing], "missing.json");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"arch": "|conv~0|"}"#).unwrap();
    assert_fails_in_one_line(&["analyze", "topology", "--answers", &format!("x={}", bad.display())], "|conv~0|");
    assert_fails_in_one_line(&["analyze", "topology", "--space", "fbnet"], "fbnet");
}

#[test]
fn convergence_trains_wide_and_deep_cells_of_equal_size_and_resumes_from_its_state() {
    let dir = scratch("convergence");
    let Some(train) = common::first_records("images/cifar10_train_5443.bin", 64, &dir, "train.bin") else { return };
    let state = dir.join("state");
    let args = [
        "analyze",
        "convergence",
        "--images",
        train.to_str().unwrap(),
        "--epochs",
        "2",
        "--pairs",
        "1",
        "--seeds",
        "2",
        "--C",
        "4",
        "--batch",
        "32",
        "--state-dir",
        state.to_str().unwrap(),
        "--json",
    ];
    let first = nas(&args);
    assert!(first.status.success(), "{}", common::stderr(&first));
    let report: serde_json::Value = serde_json::from_str(&stdout(&first)).unwrap();
    let cells = report["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    assert_eq!(cells[0]["class"], "wide-shallow");
    assert_eq!(cells[1]["class"], "deep-narrow");
    assert_eq!(cells[0]["params"], cells[1]["params"], "equal parameter counts");
    for c in cells {
        assert_eq!(c["runs"].as_array().unwrap().len(), 2);
        for r in c["runs"].as_array().unwrap() {
            assert_eq!(r["train_loss"].as_array().unwrap().len(), 2);
            assert!(r["gradient_variance"][1].as_f64().unwrap() > 0.0);
        }
    }
    // Read back from the state directory: the same figures, no checkpoint left behind.
    let again = nas(&args);
    let resumed: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(resumed["cells"], report["cells"]);
    assert!(std::fs::read_dir(&state).unwrap().all(|e| !e.unwrap().path().to_string_lossy().ends_with(".ckpt")));
    assert_fails_in_one_line(
        &["analyze", "convergence", "--images", train.to_str().unwrap(), "--pairs", "99"],
        "--pairs 99",
    );
}

#[test]
fn the_ranking_study_compares_sharing_settings_on_the_same_architectures_and_resumes() {
    let dir = common::scratch("analyze-ranking");
    let (Some(train), Some(test)) = (
        common::first_records("images/cifar10_train_5443.bin", 96, &dir, "train.bin"),
        common::first_records("images/cifar10_test_first1017.bin", 32, &dir, "test.bin"),
    ) else {
        return;
    };
    if !common::have_table() {
        eprintln!("skipped: no NB201 table");
        return;
    }
    let state = dir.join("state");
    let args = [
        "analyze",
        "ranking",
        "--images",
        train.to_str().unwrap(),
        "--test-images",
        test.to_str().unwrap(),
        "--epochs",
        "2",
        "--C",
        "2",
        "--batch",
        "16",
        "--rank",
        "4",
        "--rank-epochs",
        "2",
        "--rank-images",
        "16",
        "--bn-batches",
        "1",
        "--seeds",
        "2",
        "--sharing",
        "all,few-shot:1",
        "--truth",
        "3",
        "--truth-epochs",
        "1",
        "--threads",
        "2",
        "--state-dir",
        state.to_str().unwrap(),
        "--json",
    ];
    let o = common::nas(&args);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&common::stdout(&o)).unwrap();
    assert_eq!(v["split_epoch"], 1);
    assert_eq!(v["archs"].as_array().unwrap().len(), 4);
    assert_eq!(v["truth_archs"], 3);
    let settings = v["settings"].as_array().unwrap();
    let names: Vec<&str> = settings.iter().map(|s| s["sharing"].as_str().unwrap()).collect();
    assert_eq!(names, ["all", "few-shot:1"]);
    assert_eq!(settings[1]["groups"], 5);
    for s in settings {
        let runs = s["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 2);
        for r in runs {
            assert_eq!(r["table"]["epochs"], serde_json::json!([1, 2]));
            assert_eq!(r["table"]["architectures"], 4);
            assert_eq!(r["truth"]["architectures"], 3);
            for t in r["table"]["tau"].as_array().unwrap().iter().filter_map(|t| t.as_f64()) {
                assert!((-1.0..=1.0).contains(&t));
            }
        }
    }
    let again: serde_json::Value = serde_json::from_str(&common::stdout(&common::nas(&args))).unwrap();
    assert_eq!(again["settings"], v["settings"], "read back from the state directory");
    common::assert_fails_in_one_line(
        &args[..4].iter().copied().chain(["--truth", "200"]).collect::<Vec<_>>(),
        "--truth 200",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
