"""Builds a small HW-NAS-Bench pickle in the official layout (`HW-NAS-Bench-v1_0.pickle`:
`{'nasbench201': {dataset: {metric: values per arch index, 'config': ...}}, 'fbnet': ...}`,
read by `hw_nas_bench_api.HWNASBenchAPI`) from the first N rows of the shared CSV. Values are
Python floats, except `edgegpu_latency` as a numpy float32 array and `fpga_energy` as numpy
float64 scalars, to exercise each form.

    python make_hw_fixture.py <hw_nas_bench_nb201.csv> <out.pickle> <n>
"""
import csv
import pickle
import sys

import numpy as np

src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = {}
with open(src) as f:
    r = csv.DictReader(f)
    metrics = [m for m in r.fieldnames if m not in ("idx", "dataset")]
    for row in r:
        if int(row["idx"]) < n:
            rows[(row["dataset"], int(row["idx"]))] = row
space = {}
for ds in ["cifar10", "cifar100", "ImageNet16-120"]:
    d = {}
    for m in metrics:
        vals = [float(rows[(ds, i)][m]) for i in range(n)]
        if m == "edgegpu_latency":
            d[m] = np.array(vals, dtype=np.float32)
        elif m == "fpga_energy":
            d[m] = [np.float64(v) for v in vals]
        else:
            d[m] = vals
    d["config"] = [{"arch_str": "..."}] * n
    space[ds] = d
data = {"nasbench201": space, "fbnet": {"cifar100": {"edgegpu_latency": [1.0, 2.0]}}}
with open(out, "wb") as f:
    pickle.dump(data, f, protocol=4)
print(out, n)
