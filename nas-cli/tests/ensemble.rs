//! `nas ensemble` on a few real CIFAR-10 images: members trained, pruned by PRS, PAP and PIE at
//! every size, resumed from the state directory; one-line errors.
#![allow(clippy::unwrap_used)]

mod common;
use common::{assert_fails_in_one_line, first_records, nas, scratch, stderr, stdout};

#[test]
fn an_ensemble_is_pruned_at_every_size_and_resumes_from_its_state() {
    let dir = scratch("ensemble");
    let (Some(train), Some(test)) = (
        first_records("images/cifar10_train_5443.bin", 64, &dir, "train.bin"),
        first_records("images/cifar10_test_first1017.bin", 40, &dir, "test.bin"),
    ) else {
        return;
    };
    let state = dir.join("state");
    let args = [
        "ensemble",
        "--archs",
        "333333,111111,222222",
        "--images",
        train.to_str().unwrap(),
        "--test-images",
        test.to_str().unwrap(),
        "--epochs",
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
    let o = nas(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["members"].as_array().unwrap().len(), 3);
    assert_eq!(report["images"], serde_json::json!([20, 20]));
    let pruning = report["pruning"].as_array().unwrap();
    let names: Vec<&str> = pruning.iter().map(|p| p["criterion"].as_str().unwrap()).collect();
    assert_eq!(names, ["PRS", "PAP", "PIE"]);
    for p in pruning {
        let sizes: Vec<u64> = p["sizes"].as_array().unwrap().iter().map(|s| s["members"].as_u64().unwrap()).collect();
        assert_eq!(sizes, [3, 2, 1]);
        // The full ensemble is the same whatever the criterion; one member has no pairs.
        assert_eq!(p["sizes"][0]["accuracy"], pruning[0]["sizes"][0]["accuracy"]);
        assert_eq!(p["sizes"][2]["disagreement"], 0.0);
    }
    let again: serde_json::Value = serde_json::from_str(&stdout(&nas(&args))).unwrap();
    assert_eq!(again["pruning"], report["pruning"], "read back from the state directory");
    let base = ["ensemble", "--images", train.to_str().unwrap(), "--test-images", test.to_str().unwrap()];
    let mut one = base.to_vec();
    one.extend_from_slice(&["--archs", "333333"]);
    assert_fails_in_one_line(&one, "at least 2 members");
    let mut alpha = base.to_vec();
    alpha.extend_from_slice(&["--alpha", "2"]);
    assert_fails_in_one_line(&alpha, "--alpha 2");
}

#[test]
fn supernet_members_inherit_their_weights_and_are_read_back() {
    let dir = scratch("ensemble-supernet");
    let (Some(train), Some(test)) = (
        first_records("images/cifar10_train_5443.bin", 96, &dir, "train.bin"),
        first_records("images/cifar10_test_first1017.bin", 40, &dir, "test.bin"),
    ) else {
        return;
    };
    let state = dir.join("state");
    let args = [
        "ensemble",
        "--members",
        "supernet",
        "--archs",
        "333333,111111,222222,344444",
        "--images",
        train.to_str().unwrap(),
        "--test-images",
        test.to_str().unwrap(),
        "--epochs",
        "2",
        "--bn-batches",
        "1",
        "--seeds",
        "2",
        "--C",
        "4",
        "--batch",
        "16",
        "--state-dir",
        state.to_str().unwrap(),
        "--json",
    ];
    let o = nas(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["source"], "supernet");
    let members = report["members"].as_array().unwrap();
    assert_eq!(members.len(), 4);
    // Members of one supernet differ: their own accuracies are not all equal.
    let acc: Vec<f64> = members.iter().map(|m| m["accuracy"][0].as_f64().unwrap()).collect();
    assert!(acc.iter().any(|a| (a - acc[0]).abs() > 1e-9), "{acc:?}");
    let again: serde_json::Value = serde_json::from_str(&stdout(&nas(&args))).unwrap();
    assert_eq!(again["pruning"], report["pruning"], "read back from the state directory");
    std::fs::remove_dir_all(&dir).unwrap();
}
