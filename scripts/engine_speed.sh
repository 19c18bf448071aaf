#!/bin/bash
# The CPU engine against the PyTorch peers, side by side on one machine, alternating ours and
# theirs so that a drift in the machine's speed hits both alike:
#   training: `nas train` vs ../shared/peers/train_torch.py, arch 6111, batch 64, 1 epoch,
#             C=8 N=1 on the first 1,280 training images and C=16 N=5 on the first 320;
#   NASWOT:   `nas score --proxy naswot` vs ../shared/peers/naswot_torch.py, batch 128, C=16 N=5,
#             the same 20 random architectures, seconds per architecture (network build, forward,
#             K, log-determinant; our CLI's score cache off).
# Run it on an otherwise idle machine.
# Usage: scripts/engine_speed.sh <nas binary> <peer python> <out dir> [threads] [rounds]
set -u
NAS=${1:-target/release/nas}; PY=${2:-python3}; OUT=${3:-engine-speed}; T=${4:-2}; ROUNDS=${5:-3}
DATA=${NAS_DATA_DIR:-$(dirname "$0")/../../shared/data}; IMAGES=$DATA/images/cifar10_train_5443.bin
PEERS=$(dirname "$0")/../../shared/peers
mkdir -p "$OUT"
head -c $((1280 * 3073)) "$IMAGES" > "$OUT/first1280.bin"
head -c $((320 * 3073)) "$IMAGES" > "$OUT/first320.bin"
echo "# threads $T, $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" | tee "$OUT/speed.txt"
for round in $(seq "$ROUNDS"); do
  for cn in "8 1 1280" "16 5 320"; do
    set -- $cn; C=$1; N=$2; LIMIT=$3
    ours=$("$NAS" --data-dir "$DATA" train --space nb201 --arch 6111 --images "$OUT/first$LIMIT.bin" \
      --test-images "$DATA/images/cifar10_test_first1017.bin" --epochs 1 --C $C --N $N --seed 0 --threads $T --json |
      python3 -c "import json,sys; print(round(json.load(sys.stdin)['images_per_second'], 1))")
    peer=$("$PY" "$PEERS/train_torch.py" 6111 --epochs 1 --C $C --N $N --seed 0 --threads $T --limit-train $LIMIT 2>&1 |
      grep -o '[0-9.]* img/s' | head -1 | cut -d' ' -f1)
    echo "train C=$C N=$N round $round: ours $ours img/s, peer $peer img/s, ratio $(python3 -c "print(round($ours / $peer, 2))") load $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT/speed.txt"
  done
done
python3 - "$DATA/nb201/nb201_master.csv" "$OUT/archs.txt" <<'PY'
import csv, random, sys
rows = list(csv.DictReader(open(sys.argv[1])))
open(sys.argv[2], "w").write("".join(rows[i]["arch_str"] + "\n" for i in random.Random(0).sample(range(len(rows)), 20)))
PY
for round in $(seq "$ROUNDS"); do
  "$NAS" --data-dir "$DATA" score --proxy naswot --archs-file "$OUT/archs.txt" --images "$IMAGES" --batch 128 --no-cache --json \
    > "$OUT/naswot_ours_$round.jsonl"
  "$PY" "$PEERS/naswot_torch.py" "$DATA/nb201/nb201_master.csv" "$IMAGES" "$OUT/archs.txt" 128 0 > "$OUT/naswot_peer_$round.csv"
  python3 - "$OUT/naswot_ours_$round.jsonl" "$OUT/naswot_peer_$round.csv" "$round" <<'PY' | tee -a "$OUT/speed.txt"
import json, statistics, sys
ours = [json.loads(l)["seconds"] for l in open(sys.argv[1])]
peer = [float(l.split(",")[2]) for l in open(sys.argv[2]) if l[0].isdigit() or l.startswith("?")]
ratios = [p / o for p, o in zip(peer, ours)]
print(f"naswot round {sys.argv[3]}: {len(ours)} archs, median s/arch ours {statistics.median(ours):.3f} peer {statistics.median(peer):.3f}, "
      f"peer/ours per arch median {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}), "
      f"total {sum(peer) / sum(ours):.2f}")
PY
done
