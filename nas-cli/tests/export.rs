//! `nas export`: ONNX and safetensors of a trained network (a `nas train` checkpoint of a few real
//! CIFAR-10 images), checked in onnxruntime against the project's forward pass where a Python
//! with onnxruntime is found ($NAS_ONNX_PYTHON, else python3; skipped, and said so, otherwise).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

mod common;
use common::{assert_fails_in_one_line, first_records, nas, scratch, stderr, stdout};

/// Every op kind: avg pool, 1x1 and 3x3 convs, skip and none.
const ARCH: &str = "421304";

fn run_ok(args: &[&str]) -> String {
    let o = nas(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

#[test]
fn a_trained_network_exports_to_onnx_and_safetensors() {
    let dir = scratch("export");
    let Some(train) = first_records("images/cifar10_train_5443.bin", 128, &dir, "train.bin") else { return };
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (ck, trained_st) = (p("ck.bin"), p("trained.safetensors"));
    let net = ["--arch", ARCH, "--C", "4", "--N", "1"];
    let mut train_args = vec!["train", "--images", train.to_str().unwrap(), "--epochs", "1", "--batch", "32"];
    train_args.extend_from_slice(&net);
    train_args.extend_from_slice(&["--checkpoint", &ck, "--save-weights", &trained_st, "--json"]);
    run_ok(&train_args);

    let (model, st, reference, initial_ref) =
        (p("net.onnx"), p("net.safetensors"), p("ref.safetensors"), p("init.safetensors"));
    let mut export = vec!["export"];
    export.extend_from_slice(&net);
    let mut with_weights = export.clone();
    with_weights.extend_from_slice(&[
        "--weights",
        &ck,
        "--onnx",
        &model,
        "--safetensors",
        &st,
        "--reference",
        &reference,
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&run_ok(&with_weights)).unwrap();
    assert_eq!(report["opset"], 17);
    assert_eq!(report["weights"], ck.as_str());
    // The checkpoint's weights are the ones `nas train --save-weights` wrote, byte for byte.
    assert_eq!(std::fs::read(&st).unwrap(), std::fs::read(&trained_st).unwrap());
    // A ModelProto: ir_version 8 first, then the ops of every kind.
    let bytes = std::fs::read(&model).unwrap();
    assert_eq!(bytes[..2], [0x08, 0x08]);
    let text = String::from_utf8_lossy(&bytes);
    for op in ["Conv", "BatchNormalization", "AveragePool", "Relu", "Sum", "GlobalAveragePool", "Gemm"] {
        assert!(text.contains(op), "no {op} in the ONNX file");
    }
    // The untrained network (same seed) gives other logits than the trained one.
    let mut initial = export.clone();
    initial.extend_from_slice(&["--reference", &initial_ref]);
    run_ok(&initial);
    assert_ne!(std::fs::read(&reference).unwrap(), std::fs::read(&initial_ref).unwrap());

    let python = std::env::var("NAS_ONNX_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_ort =
        Command::new(&python).args(["-c", "import onnxruntime, numpy"]).output().is_ok_and(|o| o.status.success());
    if has_ort {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/check_onnx.py");
        let o = Command::new(&python).arg(script).args([&model, &reference]).output().unwrap();
        let line = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "onnxruntime disagrees: {line}{}", String::from_utf8_lossy(&o.stderr));
        eprintln!("onnxruntime: {line}");
    } else {
        eprintln!("skipped the onnxruntime check: {python} has no onnxruntime (set NAS_ONNX_PYTHON)");
    }

    // Bad input: one line, naming the value; nothing written.
    let other = ["export", "--arch", "333333", "--C", "4", "--N", "1", "--weights", &ck, "--onnx", &p("other.onnx")];
    assert_fails_in_one_line(&other, "not of this network");
    assert!(!dir.join("other.onnx").exists());
    let truncated = p("truncated.bin");
    let full = std::fs::read(&ck).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let bad_onnx = p("bad.onnx");
    let mut bad = export.clone();
    bad.extend_from_slice(&["--weights", &truncated, "--onnx", &bad_onnx]);
    assert_fails_in_one_line(&bad, "truncated.bin");
    assert_fails_in_one_line(&["export", "--arch", ARCH], "nothing to export");
    assert_fails_in_one_line(&["export", "--arch", ARCH, "--C", "0", "--onnx", &p("x.onnx")], "--C 0");
}
