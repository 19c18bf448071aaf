#!/usr/bin/env python3
"""Checks an ONNX file of `nas export --onnx` in onnxruntime against the reference of
`nas export --reference` (the project's own eval-mode forward pass on a seeded input).

    python3 scripts/check_onnx.py MODEL.onnx REFERENCE.safetensors [--tolerance 1e-4]

Run it from a scratch virtualenv (`pip install onnxruntime numpy`, and `onnx` for the model
checker); neither is a dependency of the project. Prints one JSON line and exits 1 when the largest
difference, relative to the largest logit, exceeds the tolerance.
"""
import argparse, json, struct, sys

import numpy as np
import onnxruntime as ort


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype="<f4").reshape(t["shape"])
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("reference")
    p.add_argument("--tolerance", type=float, default=1e-4)
    args = p.parse_args()
    checked = False
    try:
        import onnx
        model = onnx.load(args.model)
        onnx.checker.check_model(model, full_check=True)
        checked = True
        opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    except ImportError:
        opset = None
    ref = read_safetensors(args.reference)
    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"input": ref["input"]})
    diff = float(np.max(np.abs(logits - ref["logits"])))
    scale = float(np.max(np.abs(ref["logits"]))) or 1.0
    report = {
        "model": args.model,
        "onnx_checker": checked,
        "opset": opset,
        "onnxruntime": ort.__version__,
        "images": int(ref["input"].shape[0]),
        "max_abs_diff": diff,
        "max_rel_diff": diff / scale,
        "same_argmax": bool((logits.argmax(1) == ref["logits"].argmax(1)).all()),
        "ok": diff / scale <= args.tolerance,
    }
    print(json.dumps(report))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
