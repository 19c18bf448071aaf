"""Builds the small image-layout fixtures under nas-spaces/tests/fixtures/ from the shared
binary files (run with numpy; the fixtures are committed, so tests need no Python).

- cifar-10-batches-py/: data_batch_1 (2 images), data_batch_2..5 (1 each), test_batch (2)
- cifar-100-python/: train (2), test (1: made from training image 2, there is no shared test file)
- imagenet16/: train_data_batch_1..10 and val_data: 16x16 images subsampled ([::2, ::2]) from
  CIFAR-10 test images, labels label+1 (1..10), and in train_data_batch_1 one more image with
  label 500 that a reader must drop (ImageNet16-120 keeps labels 1..120).

The pickles are written as the official files are: Python 2 protocol 2 (`U`/`T` string opcodes,
`cnumpy.core.multiarray\\n_reconstruct`), which Python 3's pickler cannot produce itself.
"""
import struct
import sys
from pathlib import Path

import numpy as np

DATA = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/images")
OUT = Path(__file__).resolve().parent.parent / "nas-spaces" / "tests" / "fixtures"


class Py2Pickler:
    def __init__(self):
        self.out = bytearray(b"\x80\x02")
        self.memo = 0

    def put(self):
        self.out += b"q" + bytes([self.memo]) if self.memo < 256 else b"r" + struct.pack("<I", self.memo)
        self.memo += 1

    def string(self, s):
        b = s if isinstance(s, bytes) else s.encode()
        self.out += (b"U" + bytes([len(b)])) if len(b) < 256 else (b"T" + struct.pack("<i", len(b)))
        self.out += b
        self.put()

    def int(self, i):
        if 0 <= i < 256:
            self.out += b"K" + bytes([i])
        elif 0 <= i < 65536:
            self.out += b"M" + struct.pack("<H", i)
        else:
            self.out += b"J" + struct.pack("<i", i)

    def array(self, a):
        self.out += b"cnumpy.core.multiarray\n_reconstruct\n"
        self.put()
        self.out += b"cnumpy\nndarray\n"
        self.put()
        self.int(0)
        self.out += b"\x85"
        self.put()
        self.string(b"b")
        self.out += b"\x87"
        self.put()
        self.out += b"R"
        self.put()
        self.out += b"("
        self.int(1)
        for d in a.shape:
            self.int(d)
        self.out += b"\x86" if a.ndim == 2 else b"\x85"
        self.put()
        self.out += b"cnumpy\ndtype\n"
        self.put()
        self.string(b"u1")
        self.int(0)
        self.int(1)
        self.out += b"\x87"
        self.put()
        self.out += b"R"
        self.put()
        self.out += b"("
        self.int(3)
        self.string(b"|")
        self.out += b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00t"
        self.put()
        self.out += b"b\x89"
        self.string(np.ascontiguousarray(a).tobytes())
        self.out += b"t"
        self.put()
        self.out += b"b"

    def value(self, v):
        if isinstance(v, np.ndarray):
            self.array(v)
        elif isinstance(v, (bytes, str)):
            self.string(v)
        elif isinstance(v, int):
            self.int(v)
        elif isinstance(v, list):
            self.out += b"]"
            self.put()
            if v:
                self.out += b"("
                for x in v:
                    self.value(x)
                self.out += b"e"
        else:
            raise TypeError(type(v))

    def dump(self, d):
        self.out += b"}"
        self.put()
        self.out += b"("
        for k, v in d.items():
            self.string(k)
            self.value(v)
        self.out += b"u."
        return bytes(self.out)


def records(path, size):
    raw = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    return raw.reshape(-1, size)


c10_train = records(DATA / "cifar10_train_5443.bin", 3073)
c10_test = records(DATA / "cifar10_test_first1017.bin", 3073)
c100_train = records(DATA / "cifar100_train_first1117.bin", 3074)
index = np.loadtxt(DATA / "cifar10_train_5443.idx.csv", delimiter=",", skiprows=1, dtype=int)


def c10_batch(rows, name):
    return {
        "batch_label": name,
        "labels": [int(r[0]) for r in rows],
        "data": np.stack([r[1:] for r in rows]),
        "filenames": [f"img_{i}.png" for i in range(len(rows))],
    }


def write(path, d):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(Py2Pickler().dump(d))


c10 = OUT / "cifar-10-batches-py"
for b, n in [(1, 2), (2, 1), (3, 1), (4, 1), (5, 1)]:
    first = int(np.nonzero((index[:, 0] == b) & (index[:, 1] == 0))[0][0])
    write(c10 / f"data_batch_{b}", c10_batch(c10_train[first:first + n], f"training batch {b} of 5"))
write(c10 / "test_batch", c10_batch(c10_test[:2], "testing batch 1 of 1"))

c100 = OUT / "cifar-100-python"
for name, rows in [("train", c100_train[:2]), ("test", c100_train[2:3])]:
    write(c100 / name, {
        "filenames": [f"img_{i}.png" for i in range(len(rows))],
        "batch_label": f"{name} batch",
        "fine_labels": [int(r[1]) for r in rows],
        "coarse_labels": [int(r[0]) for r in rows],
        "data": np.stack([r[2:] for r in rows]),
    })


def small(r):
    return r[1:].reshape(3, 32, 32)[:, ::2, ::2].reshape(-1)


inet = OUT / "imagenet16"
for b in range(1, 11):
    rows = [c10_test[b - 1]]
    labels = [int(r[0]) + 1 for r in rows]
    data = [small(r) for r in rows]
    if b == 1:
        labels.append(500)
        data.append(small(c10_test[20]))
    write(inet / f"train_data_batch_{b}", {"data": np.stack(data), "labels": labels, "mean": np.zeros(768, np.uint8)})
write(inet / "val_data", {"data": np.stack([small(c10_test[10])]), "labels": [int(c10_test[10][0]) + 1]})
print("wrote", sorted(str(p.relative_to(OUT)) for p in OUT.rglob("*") if p.is_file()))
