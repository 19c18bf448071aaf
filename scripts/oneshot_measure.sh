#!/bin/bash
# The one-shot measurements of README.md ("One-shot search: measured"): our `nas oneshot` and the
# PyTorch peer (../shared/peers/darts_torch.py) on the same settings, then the back-to-back timing.
# Usage: scripts/oneshot_measure.sh <nas binary> <peer python> <out dir>
set -u
NAS=${1:-target/release/nas}; PY=${2:-python3}; OUT=${3:-oneshot-runs}
DATA=${NAS_DATA_DIR:-../shared/data}; IMAGES=$DATA/images/cifar10_train_5443.bin
PEER=$(dirname "$0")/../../shared/peers/darts_torch.py
mkdir -p "$OUT"
for m in darts gdas spos milenas; do for s in 0 1 2; do
  extra=""; [ $m = spos ] && extra="--rank 20 --bn-batches 4"
  "$PY" "$PEER" --method $m --epochs 4 --C 8 --N 1 --seed $s $extra > "$OUT/peer_${m}_s$s.log" 2>&1
done; done
for m in darts gdas spos milenas; do for s in 0 1 2; do
  "$NAS" --data-dir "$DATA" oneshot --method $m --images "$IMAGES" --epochs 4 --C 8 --N 1 --seed $s \
    --threads 2 --json > "$OUT/ours_${m}_s$s.json"
done; done
for m in na-darts darts2; do
  "$NAS" --data-dir "$DATA" oneshot --method $m --images "$IMAGES" --epochs 4 --C 8 --N 1 --seed 0 \
    --threads 2 --json > "$OUT/ours_${m}_s0.json"
done
# Seconds per supernet epoch, peer then ours, back to back, twice.
for rep in 1 2; do for m in darts gdas; do
  "$PY" "$PEER" --method $m --epochs 1 --C 8 --N 1 --seed 0 > "$OUT/time_peer_${m}_$rep.log" 2>&1
  "$NAS" --data-dir "$DATA" oneshot --method $m --images "$IMAGES" --epochs 1 --C 8 --N 1 --seed 0 \
    --threads 2 --json > "$OUT/time_ours_${m}_$rep.json"
  echo "$rep $m $(uptime)" >> "$OUT/time_load.txt"
done; done
