//! End-to-end tests of `nas train` on a few hundred real CIFAR-10 images (skipped, and said so,
//! when the data is not found): the JSON contract, bit-identical weights after a SIGKILL and a
//! resume, and one-line errors.
#![allow(clippy::unwrap_used)]

use serde_json::Value;

mod common;
use common::{first_records, nas, scratch, stderr, stdout};

const TRAIN: &str = "images/cifar10_train_5443.bin";
const TEST: &str = "images/cifar10_test_first1017.bin";

fn args<'a>(train: &'a str, test: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "train",
        "--space",
        "nb201",
        "--arch",
        "333333",
        "--images",
        train,
        "--test-images",
        test,
        "--C",
        "4",
        "--N",
        "1",
        "--batch",
        "32",
        "--seed",
        "3",
        "--threads",
        "2",
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn train_prints_the_contract_and_resumes_bit_identically_after_sigkill() {
    let dir = scratch("train");
    let (Some(train), Some(test)) =
        (first_records(TRAIN, 256, &dir, "train.bin"), first_records(TEST, 100, &dir, "test.bin"))
    else {
        return;
    };
    let (train, test) = (train.to_str().unwrap(), test.to_str().unwrap());
    let whole = dir.join("whole.safetensors");
    let metrics = dir.join("metrics.jsonl");
    let o = nas(&args(
        train,
        test,
        &["--epochs", "3", "--json", "--save-weights", whole.to_str().unwrap(), "--metrics", metrics.to_str().unwrap()],
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    for field in ["arch", "epochs", "test_accuracy", "train_loss", "images_per_second", "seconds"] {
        assert!(v.get(field).is_some(), "no {field} in {v}");
    }
    assert_eq!(v["epochs"], 3);
    assert_eq!(
        v["arch"],
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    );
    let acc = v["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&acc) && v["train_loss"].as_f64().unwrap().is_finite());
    assert_eq!(std::fs::read_to_string(&metrics).unwrap().lines().count(), 3);

    // The same run with a checkpoint, killed with SIGKILL once the first epoch's checkpoint
    // exists, then run again: it resumes and ends with the same bytes.
    let ck = dir.join("run.ckpt");
    let resumed = dir.join("resumed.safetensors");
    let cmd_args = args(
        train,
        test,
        &["--epochs", "3", "--json", "--checkpoint", ck.to_str().unwrap(), "--save-weights", resumed.to_str().unwrap()],
    );
    common::kill_once_written(&cmd_args, &ck);
    let o = nas(&cmd_args);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(r["resumed_from_epoch"].as_u64().is_some(), "{r}");
    assert_eq!(std::fs::read(&whole).unwrap(), std::fs::read(&resumed).unwrap(), "weights differ after the resume");
    assert_eq!(r["test_accuracy"], v["test_accuracy"]);

    // A checkpoint of another run and a truncated one: one-line errors, the file untouched.
    let before = std::fs::read(&ck).unwrap();
    let other = args(train, test, &["--epochs", "3", "--lr", "0.05", "--checkpoint", ck.to_str().unwrap()]);
    let o = nas(&other);
    assert!(!o.status.success() && stderr(&o).trim().lines().count() == 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("checkpoint of another run"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&ck).unwrap(), before);
    std::fs::write(&ck, &before[..before.len() / 2]).unwrap();
    let o = nas(&cmd_args);
    assert!(!o.status.success() && stderr(&o).contains("truncated"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&ck).unwrap().len(), before.len() / 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_training_input_is_a_one_line_error() {
    let dir = scratch("train-bad");
    let (Some(train), Some(test)) =
        (first_records(TRAIN, 40, &dir, "train.bin"), first_records(TEST, 10, &dir, "test.bin"))
    else {
        return;
    };
    let (train, test) = (train.to_str().unwrap(), test.to_str().unwrap());
    let few = first_records(TRAIN, 20, &dir, "few.bin").unwrap();
    let o = nas(&args(few.to_str().unwrap(), test, &["--epochs", "1"]));
    assert!(!o.status.success() && stderr(&o).contains("20 images, fewer than one batch of 32"), "{}", stderr(&o));
    for (extra, want) in [
        (vec!["--epochs", "1", "--lr", "NaN"], "learning rate"),
        (vec!["--epochs", "1", "--lr", "0"], "learning rate"),
        (vec!["--epochs", "0"], "epochs"),
    ] {
        let o = nas(&args(train, test, &extra));
        assert!(!o.status.success(), "{extra:?} succeeded");
        assert!(stderr(&o).contains(want) && stderr(&o).trim().lines().count() == 1, "{extra:?}: {}", stderr(&o));
    }
    let mut bytes = std::fs::read(train).unwrap();
    bytes[3073 * 5] = 11;
    let bad = dir.join("bad.bin");
    std::fs::write(&bad, &bytes).unwrap();
    let o = nas(&args(bad.to_str().unwrap(), test, &["--epochs", "1"]));
    assert!(!o.status.success() && stderr(&o).contains("label 11"), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigint_saves_the_epoch_so_far_and_the_same_command_resumes_to_the_same_bytes() {
    let dir = scratch("train-sigint");
    let (Some(train), Some(test)) =
        (first_records(TRAIN, 256, &dir, "train.bin"), first_records(TEST, 50, &dir, "test.bin"))
    else {
        return;
    };
    let (train, test) = (train.to_str().unwrap(), test.to_str().unwrap());
    let whole = dir.join("whole.safetensors");
    let o = nas(&args(train, test, &["--epochs", "3", "--json", "--save-weights", whole.to_str().unwrap()]));
    assert!(o.status.success(), "{}", stderr(&o));
    let ck = dir.join("run.ckpt");
    let resumed = dir.join("resumed.safetensors");
    let cmd_args = args(
        train,
        test,
        &["--epochs", "3", "--json", "--checkpoint", ck.to_str().unwrap(), "--save-weights", resumed.to_str().unwrap()],
    );
    // SIGINT once the first epoch's checkpoint exists: the run stops after its current step of
    // epoch 2, says so in one line, and exits with 130.
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_nas"))
        .args(&cmd_args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !ck.exists() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.success() {
        eprintln!("note: the run finished before SIGINT reached it");
    } else {
        assert_eq!(o.status.code(), Some(130), "{err}");
        assert!(err.trim().lines().count() == 1 && err.contains("interrupted") && err.contains("resumes"), "{err}");
        let o = nas(&cmd_args);
        assert!(o.status.success(), "{}", stderr(&o));
        let r: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert!(r["resumed_from_epoch"].as_u64().is_some(), "{r}");
    }
    assert_eq!(std::fs::read(&whole).unwrap(), std::fs::read(&resumed).unwrap(), "weights differ after the resume");
    std::fs::remove_dir_all(&dir).unwrap();
}
