#!/bin/bash
# Seconds per supernet epoch, the PyTorch peer (../shared/peers/darts_torch.py) then our
# `nas oneshot`, back to back on the same images: DARTS and GDAS at C=8, N=1 on all 5,443 training
# images and at C=16, N=5 on the first 1,280 (640 weight images, 10 weight steps an epoch: the
# cost per step is what is compared). Run it on an otherwise idle machine.
# Usage: scripts/oneshot_speed.sh <nas binary> <peer python> <out dir> [threads]
set -u
NAS=${1:-target/release/nas}; PY=${2:-python3}; OUT=${3:-oneshot-speed}; T=${4:-2}
DATA=${NAS_DATA_DIR:-../shared/data}; IMAGES=$DATA/images/cifar10_train_5443.bin
PEER=$(dirname "$0")/../../shared/peers/darts_torch.py
mkdir -p "$OUT"
head -c $((1280 * 3073)) "$IMAGES" > "$OUT/first1280.bin"
for cn in "8 1 5443 $IMAGES" "16 5 1280 $OUT/first1280.bin"; do
  set -- $cn; C=$1; N=$2; LIMIT=$3; FILE=$4
  for m in darts gdas; do
    "$PY" "$PEER" --method $m --epochs 1 --C $C --N $N --seed 0 --threads $T --limit-train $LIMIT \
      > "$OUT/peer_${m}_C${C}N${N}.log" 2>&1
    "$NAS" --data-dir "$DATA" oneshot --method $m --images "$FILE" --epochs 1 --C $C --N $N --seed 0 \
      --threads $T --json > "$OUT/ours_${m}_C${C}N${N}.json"
    peer=$(grep -o 'lr_end [0-9.]* [0-9.]* s' "$OUT/peer_${m}_C${C}N${N}.log" | awk '{print $3}')
    ours=$(python3 -c "import json;print(round(json.load(open('$OUT/ours_${m}_C${C}N${N}.json'))['seconds_per_epoch'],1))")
    echo "$m C=$C N=$N images=$LIMIT peer ${peer}s ours ${ours}s load $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT/speed.txt"
  done
done
