"""NASWOT in PyTorch, for side-by-side timing with `nas score --proxy naswot`.

The same NAS-Bench-201 network (shared/docs/algorithms.md section 1: C=16, N=5, training-mode
batch norm, PyTorch's default initialisation) and the same score as the NASWOT authors' code:
hooks on every ReLU's input, K = c c^T + (1-c)(1-c)^T accumulated per ReLU with a float matrix
product, score = slogdet(K). Needs only torch and numpy (install them in a scratch virtualenv;
the project does not depend on them).

    python scripts/naswot_torch.py --images CIFAR.bin --archs-file archs.txt --threads 2
prints one JSON line per architecture: arch, score, seconds (forward + K + logdet), k_seconds.
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


class ReLUConvBN(nn.Sequential):
    def __init__(self, cin, cout, k, stride):
        super().__init__(nn.ReLU(), nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class Zero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)


def make_op(name, c):
    return {
        "none": lambda: Zero(),
        "skip_connect": lambda: nn.Identity(),
        "nor_conv_1x1": lambda: ReLUConvBN(c, c, 1, 1),
        "nor_conv_3x3": lambda: ReLUConvBN(c, c, 3, 1),
        "avg_pool_3x3": lambda: nn.AvgPool2d(3, 1, 1, count_include_pad=False),
    }[name]()


class Cell(nn.Module):
    def __init__(self, arch, c):
        super().__init__()
        self.nodes = []
        self.ops = nn.ModuleList()
        for node in arch.split("+"):
            edges = []
            for edge in node.strip("|").split("|"):
                name, j = edge.split("~")
                self.ops.append(make_op(name, c))
                edges.append((len(self.ops) - 1, int(j)))
            self.nodes.append(edges)

    def forward(self, x):
        values = [x]
        for edges in self.nodes:
            values.append(sum(self.ops[i](values[j]) for i, j in edges))
        return values[-1]


class Reduction(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.a = ReLUConvBN(cin, cout, 3, 2)
        self.b = ReLUConvBN(cout, cout, 3, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x):
        return self.shortcut(x) + self.b(self.a(x))


def nb201(arch, c=16, n=5, classes=10):
    layers = [nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)]
    for stage in range(3):
        width = c << stage
        if stage:
            layers.append(Reduction(width // 2, width))
        layers += [Cell(arch, width) for _ in range(n)]
    layers += [nn.BatchNorm2d(4 * c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * c, classes)]
    return nn.Sequential(*layers)


def read_images(path, batch):
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)[:batch]
    x = raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    x = (x - np.array(MEAN, np.float32)[None, :, None, None]) / np.array(STD, np.float32)[None, :, None, None]
    return torch.from_numpy(x)


def naswot(net, x):
    b = x.shape[0]
    k = torch.zeros(b, b)
    k_time = [0.0]

    def hook(module, inp, out):
        t = time.perf_counter()
        c = (inp[0].view(b, -1) > 0).float()
        k.add_(c @ c.t() + (1.0 - c) @ (1.0 - c).t())
        k_time[0] += time.perf_counter() - t

    for m in net.modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_hook(hook)
    with torch.no_grad():
        net(x)
    t = time.perf_counter()
    _, logdet = np.linalg.slogdet(k.double().numpy())
    k_time[0] += time.perf_counter() - t
    return float(logdet), k_time[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", required=True)
    ap.add_argument("--archs-file", required=True)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = read_images(args.images, args.batch)
    for arch in [l.strip() for l in open(args.archs_file) if l.strip()]:
        started = time.perf_counter()
        net = nb201(arch).train()
        score, k_seconds = naswot(net, x)
        seconds = time.perf_counter() - started
        print(json.dumps({"arch": arch, "score": score, "seconds": seconds, "k_seconds": k_seconds}), flush=True)


if __name__ == "__main__":
    main()
