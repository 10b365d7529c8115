#!/bin/sh
# The vanishing-gradient example (docs/vanishing_gradients.md): the same deep
# MLP (8 hidden layers of 64 units) on Fashion-MNIST with Sigmoid, with ReLU,
# and with BatchNorm1d before each Sigmoid, trained with plain SGD while the
# per-layer health table (--health-every) shows the gradients reaching each
# layer. Writes OUT/<net>.txt (the printed output) and OUT/<net>.jsonl (the log).
#
#   examples/vanishing_gradients/run.sh [OUT]      (default /tmp/vanishing_gradients)
#   SINAPSI=build/sinapsi EPOCHS=10 LIMIT=10000 examples/vanishing_gradients/run.sh
set -eu
here=$(dirname "$0")
sinapsi=${SINAPSI:-build/sinapsi}
data=${DATA:-/usr/share/datasets/fashion-mnist}
epochs=${EPOCHS:-10}
out=${1:-/tmp/vanishing_gradients}
limit=""
if [ -n "${LIMIT:-}" ]; then limit="--limit $LIMIT"; fi
mkdir -p "$out"
for net in sigmoid relu sigmoid_batchnorm; do
    rm -f "$out/$net.jsonl"
    # shellcheck disable=SC2086 # $limit is empty or two words
    "$sinapsi" train --model "$here/$net.txt" --data "$data" $limit \
        --epochs "$epochs" --batch 64 --optim sgd --lr 0.1 --seed 1 --threads 1 \
        --health-every 50 --progress lines --log "$out/$net.jsonl" >"$out/$net.txt"
    printf '%-18s %s\n' "$net" "$(tail -n 1 "$out/$net.txt")"
done
