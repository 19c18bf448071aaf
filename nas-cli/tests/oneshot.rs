//! End-to-end tests of `nas oneshot` on a few hundred real CIFAR-10 images (skipped, and said so,
//! when the data is not found): the JSON contract, a bit-identical result after a SIGKILL and a
//! resume from the checkpoint, and one-line errors.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde_json::Value;

mod common;
use common::{assert_fails_in_one_line, nas, scratch, stderr, stdout};

const TRAIN: &str = "images/cifar10_train_5443.bin";

/// The first `n` records of a CIFAR-10 file of the data directory, copied into `dir`.
fn first_records(n: usize, dir: &Path, out: &str) -> Option<PathBuf> {
    common::first_records(TRAIN, n, dir, out)
}

fn args<'a>(images: &'a str, method: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "oneshot",
        "--space",
        "nb201",
        "--method",
        method,
        "--images",
        images,
        "--C",
        "2",
        "--N",
        "1",
        "--batch",
        "16",
        "--seed",
        "3",
        "--threads",
        "2",
        "--epochs",
        "3",
        "--json",
    ];
    v.extend_from_slice(extra);
    v
}

/// The report without its timings.
fn untimed(v: &Value) -> Value {
    let mut v = v.clone();
    for key in ["seconds", "seconds_per_epoch", "resumed_from_epoch"] {
        v.as_object_mut().unwrap().remove(key);
    }
    for e in v["epochs"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("seconds");
    }
    v
}

#[test]
fn oneshot_prints_the_contract_and_resumes_bit_identically_after_sigkill() {
    let dir = scratch("oneshot");
    let Some(train) = first_records(96, &dir, "train.bin") else { return };
    let train = train.to_str().unwrap();
    for method in ["darts", "gdas", "spos", "darts2", "milenas", "na-darts", "rsps"] {
        let extra: &[&str] =
            if matches!(method, "spos" | "rsps") { &["--rank", "3", "--bn-batches", "1"] } else { &[] };
        let o = nas(&args(train, method, extra));
        assert!(o.status.success(), "{method}: {}", stderr(&o));
        let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert_eq!(v["method"], method);
        let arch = v["arch"].as_str().unwrap();
        assert!(arch.starts_with('|') && arch.matches('~').count() == 6, "{arch}");
        assert!(v["seconds"].as_f64().unwrap() > 0.0);
        let epochs = v["epochs"].as_array().unwrap();
        assert_eq!(epochs.len(), 3);
        for e in epochs {
            let alphas = e["alphas"].as_array().unwrap();
            assert_eq!(alphas.len(), 6);
            for row in alphas {
                let row: Vec<f64> = row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
                assert_eq!(row.len(), 5);
                assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            }
            assert!(e["seconds"].as_f64().unwrap() > 0.0);
        }
        assert_eq!(epochs[2]["arch"], v["arch"], "{method}");
        if common::have_table() {
            assert!(v["accuracies"]["cifar10"].as_f64().is_some(), "{v}");
        }
        // Same seed, same answer.
        let again: Value = serde_json::from_str(stdout(&nas(&args(train, method, extra))).trim()).unwrap();
        assert_eq!(untimed(&again), untimed(&v), "{method}");
    }

    // A run with a checkpoint, killed with SIGKILL once the first epoch's checkpoint exists, then
    // run again: it resumes and ends where the uninterrupted run does.
    let whole: Value = serde_json::from_str(stdout(&nas(&args(train, "gdas", &[]))).trim()).unwrap();
    let ck = dir.join("run.ckpt");
    let plot = dir.join("alphas.svg");
    let cmd_args = args(train, "gdas", &["--checkpoint", ck.to_str().unwrap(), "--plot", plot.to_str().unwrap()]);
    common::kill_once_written(&cmd_args, &ck);
    let o = nas(&cmd_args);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(r["resumed_from_epoch"].as_u64().is_some(), "{r}");
    assert_eq!(untimed(&r), untimed(&whole), "the resumed run differs");
    assert!(std::fs::read_to_string(&plot).unwrap().starts_with("<svg"));

    // A checkpoint of another run and a truncated one: one-line errors, the file untouched.
    let before = std::fs::read(&ck).unwrap();
    let other = args(train, "gdas", &["--tau-max", "5", "--checkpoint", ck.to_str().unwrap()]);
    assert_fails_in_one_line(&other, "checkpoint of another run");
    assert_eq!(std::fs::read(&ck).unwrap(), before);
    std::fs::write(&ck, &before[..before.len() / 2]).unwrap();
    assert_fails_in_one_line(&cmd_args, "truncated");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_oneshot_input_is_a_one_line_error() {
    let dir = scratch("oneshot-bad");
    let Some(train) = first_records(40, &dir, "train.bin") else { return };
    let train = train.to_str().unwrap();
    // The default arguments with one flag's value replaced (or the flag added).
    let with = |method: &'static str, flag: &'static str, value: &'static str| {
        let mut v = args(train, method, &[]);
        match v.iter().position(|a| *a == flag) {
            Some(i) => v[i + 1] = value,
            None => v.extend([flag, value]),
        }
        v
    };
    assert_fails_in_one_line(&with("darts", "--batch", "32"), "each half needs at least one batch");
    assert_fails_in_one_line(&with("darts", "--epochs", "0"), "epochs");
    assert_fails_in_one_line(&with("spos", "--rank", "0"), "rank");
    assert_fails_in_one_line(&with("rsps", "--bn-batches", "0"), "bn batches");
    assert_fails_in_one_line(&with("gdas", "--tau-min", "0"), "tau");
    assert_fails_in_one_line(&with("darts", "--clip", "NaN"), "--clip");
    assert_fails_in_one_line(&with("darts", "--runs", "0"), "--runs");
    assert_fails_in_one_line(&with("darts", "--method", "enas"), "enas");
    assert_fails_in_one_line(&with("darts", "--space", "fbnet"), "nb201");
    assert_fails_in_one_line(&with("darts", "--C", "0"), "--C");
    assert_fails_in_one_line(&with("darts", "--weight-decay", "NaN"), "--weight-decay");
    let missing = dir.join("missing.bin");
    assert_fails_in_one_line(&args(missing.to_str().unwrap(), "darts", &[]), "missing.bin");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn spos_ranks_the_same_architectures_over_the_last_epochs() {
    let dir = common::scratch("oneshot-ranking");
    let Some(images) = first_records(96, &dir, "train.bin") else { return };
    if !common::have_table() {
        eprintln!("skipped: no NB201 table");
        return;
    }
    let images = images.to_str().unwrap();
    let o = nas(&args(images, "spos", &["--rank", "5", "--rank-epochs", "2", "--bn-batches", "1"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let epochs = v["epochs"].as_array().unwrap();
    assert!(epochs[0].get("ranking").is_none());
    for e in &epochs[1..] {
        assert_eq!(e["ranking"].as_array().unwrap().len(), 5);
    }
    // The last ranked epoch's accuracies are the final ranking's: the same architectures, the same
    // weights and the same recomputed batch-norm statistics.
    let last: Vec<f64> = epochs[2]["ranking"].as_array().unwrap().iter().map(|a| a.as_f64().unwrap()).collect();
    let fin: Vec<f64> =
        v["ranking"].as_array().unwrap().iter().map(|r| r["inherited_accuracy"].as_f64().unwrap()).collect();
    assert_eq!(last, fin);
    let study = &v["ranking_study"];
    assert_eq!(study["epochs"], serde_json::json!([2, 3]));
    assert_eq!(study["tau"].as_array().unwrap().len(), 2);
    let top1 = study["top1_true_rank"].as_array().unwrap();
    assert!(top1.iter().all(|r| (1..=5).contains(&r.as_u64().unwrap())));
    assert!((1..=2).contains(&study["distinct_top1"].as_u64().unwrap()));
}

#[test]
fn reduced_sharing_ranks_with_each_groups_weights_and_resumes_from_its_sets() {
    let dir = common::scratch("oneshot-sharing");
    let Some(images) = first_records(96, &dir, "train.bin") else { return };
    let images = images.to_str().unwrap();
    let ck = dir.join("groups.ckpt");
    let extra = [
        "--rank",
        "4",
        "--rank-seed",
        "7",
        "--rank-images",
        "16",
        "--bn-batches",
        "1",
        "--sharing",
        "groups:3",
        "--split-epoch",
        "1",
        "--checkpoint",
        ck.to_str().unwrap(),
    ];
    let o = nas(&args(images, "spos", &extra));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    // Run again: the checkpoint holds the three weight sets; it resumes after the last epoch
    // and ranks the same architectures to the same accuracies.
    let again: Value = serde_json::from_str(&stdout(&nas(&args(images, "spos", &extra)))).unwrap();
    assert_eq!(again["resumed_from_epoch"], 3);
    assert_eq!(again["ranking"], v["ranking"]);
    // The rank seed, not the supernet's seed, draws the ranked architectures.
    let mut reseeded = args(images, "spos", &extra[..6]);
    let at = reseeded.iter().position(|a| *a == "--seed").unwrap();
    reseeded[at + 1] = "4";
    let other: Value = serde_json::from_str(&stdout(&nas(&reseeded))).unwrap();
    let archs = |v: &Value| v["ranking"].as_array().unwrap().iter().map(|r| r["arch"].clone()).collect::<Vec<_>>();
    assert_eq!(archs(&other), archs(&v));
    assert_fails_in_one_line(&args(images, "darts", &["--sharing", "groups:3"]), "spos and rsps");
    assert_fails_in_one_line(&args(images, "spos", &["--sharing", "few-shot:6"]), "few-shot:6");
    assert_fails_in_one_line(&args(images, "spos", &["--sharing", "some"]), "some");
    std::fs::remove_dir_all(&dir).unwrap();
}
