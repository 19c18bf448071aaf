"""Builds NAS-Bench-201 `.pth` fixtures in the official layout (the one `nas_201_api.NASBench201API`
loads: `{'meta_archs', 'arch2infos': {i: {'less': ArchResults, 'full': ArchResults}},
'evaluated_indexes'}`) with values taken from the shared `nb201_master.csv`, so that an import
can be checked against that table. Numbers are numpy scalars where the official files have them.

    python make_pth_fixtures.py <nb201_master.csv> <out.pth> <n_archs> [--zip] [--full-epochs]

Without --full-epochs the per-epoch dicts hold the last epoch only (train_times holds every
epoch: the import sums them), to keep committed fixtures small.
"""
import csv
import sys

import numpy as np
import torch

src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
use_zip = "--zip" in sys.argv
full_epochs = "--full-epochs" in sys.argv
rows = []
with open(src) as f:
    for i, r in enumerate(csv.DictReader(f)):
        rows.append(r)
archs = [r["arch_str"] for r in rows]


def num(r, k):
    v = r.get(k, "")
    return float(v) if v != "" else None


def results_count(name, seed, epochs, train_acc, train_loss, evals, time_total, params, flop, latency):
    last = epochs - 1
    ep = range(epochs) if full_epochs else [last]
    eval_acc, eval_loss, eval_time = {}, {}, {}
    for set_name, (acc, loss) in evals.items():
        for e in ep:
            key = f"{set_name}@{e}"
            eval_acc[key] = acc if e == last else acc * e / epochs
            eval_loss[key] = loss if loss is not None else 1.0
            eval_time[key] = 1.5
    return {
        "name": name,
        "net_state_dict": None,
        "train_acc1es": {e: (train_acc if e == last else train_acc * e / epochs) for e in ep},
        "train_losses": {e: (train_loss if train_loss is not None else 0.5) for e in ep},
        "train_times": {e: time_total / epochs for e in range(epochs)},
        "flop": flop,
        "params": np.float64(params) if params is not None else None,
        "arch_config": {"name": "infer.tiny", "C": 16, "N": 5, "arch_str": name, "num_classes": 10},
        "seed": seed,
        "epochs": epochs,
        "latency": [np.float64(latency), np.float64(latency * 1.1)],
        "eval_names": list(evals.keys()),
        "eval_acc1es": eval_acc,
        "eval_losses": eval_loss,
        "eval_times": eval_time,
    }


SEEDS = [777, 888, 999]


def arch_results(i, r, full):
    n_conv1 = r["ops"].count("2")
    n_conv3 = r["ops"].count("3")
    n_pool = r["ops"].count("4")
    flop = 7.943872 + 4.36224 * n_conv1 + 35.81952 * n_conv3 + 1.29024 * n_pool
    all_results, dataset_seed = {}, {}
    sets = [("cifar10-valid", "c10v"), ("cifar10", "c10"), ("cifar100", "c100"), ("ImageNet16-120", "in16")]
    for ds, tag in sets:
        if full:
            k = int(num(r, {"c10": "c10v", "c10v": "c10v"}.get(tag, tag) + "_nseeds") or 1)
            seeds = SEEDS[:k]
        else:
            seeds = SEEDS[:2] if ds == "cifar10-valid" else SEEDS[:1]
        dataset_seed[ds] = seeds
        for s_i, seed in enumerate(seeds):
            if full:
                epochs = 200
                if ds == "cifar10-valid":
                    evals = {"x-valid": (num(r, f"c10v_valid_acc_s{s_i}"), num(r, "c10v_valid_loss")),
                             "ori-test": (num(r, "c10v_test_acc"), num(r, "c10v_test_loss"))}
                elif ds == "cifar10":
                    evals = {"ori-test": (num(r, "c10_test_acc"), None)}
                else:
                    evals = {"x-valid": (num(r, f"{tag}_valid_acc_derived"), None),
                             "x-test": (num(r, f"{tag}_test_acc"), None),
                             "ori-test": (num(r, f"{tag}_valtest_acc_s{s_i}"), None)}
                train_acc = num(r, "c10v_train_acc") if ds == "cifar10-valid" else 99.0
                train_loss = num(r, "c10v_train_loss") if ds == "cifar10-valid" else 0.1
                ttag = "c10v" if tag in ("c10v", "c10") else tag
                time_total = num(r, f"train_time_{ttag}_s") * (2 if ds == "cifar10" else 1)
            else:
                epochs = 12
                if ds == "cifar10-valid":
                    evals = {"x-valid": (num(r, "e12_c10v_valid_acc"), None)}
                elif ds == "cifar10":
                    evals = {"ori-test": (num(r, "e12_c10_test_acc"), None)}
                else:
                    evals = {"x-valid": (num(r, f"e12_{tag}_valid_acc"), None),
                             "x-test": (num(r, f"e12_{tag}_test_acc"), None),
                             "ori-test": (50.0, None)}
                train_acc, train_loss, time_total = 60.0, 1.0, 120.0
            ptag = {"c10v": "c10", "c10": "c10"}.get(tag, tag)
            all_results[(ds, seed)] = results_count(
                r["arch_str"], seed, epochs, train_acc, train_loss, evals, time_total,
                num(r, f"params_{ptag}_M"), flop, 0.0125 + 0.0001 * i)
    return {"arch_index": i, "arch_str": r["arch_str"], "all_results": all_results,
            "dataset_seed": dataset_seed, "clear_net_done": True}


data = {
    "meta_archs": archs[:max(n, 1)] if "--meta-all" not in sys.argv else archs,
    "arch2infos": {i: {"less": arch_results(i, rows[i], False), "full": arch_results(i, rows[i], True)} for i in range(n)},
    "evaluated_indexes": set(range(n)),
}
torch.save(data, out, _use_new_zipfile_serialization=use_zip)
back = torch.load(out, weights_only=False)
assert sorted(back["arch2infos"]) == list(range(n))
print(out, "archs", n, "zip" if use_zip else "legacy")
