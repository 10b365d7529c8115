#!/usr/bin/env bash
# `make demo`: trains LeNet-5 (models/lenet5.txt) on Fashion-MNIST with the
# built sinapsi, prints the test accuracy and the wall time, saves
# lenet5.safetensors in the repository root and writes a report with pictures
# to report/index.html (docs/report.md). The settings and a measured run are in
# docs/demo.md.
#   scripts/demo.sh [BUILD_DIR]      (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
data=/usr/share/datasets/fashion-mnist
if [ ! -e "$data/train-images-idx3-ubyte.gz" ]; then
  echo "demo.sh: $data has no Fashion-MNIST (scripts/install-deps.sh installs dataset-fashion-mnist)" >&2
  exit 1
fi
start=$(date +%s.%N)
"$build/sinapsi" train --model models/lenet5.txt --data "$data" \
  --optim adam --lr 0.002 --batch 64 --epochs 10 --schedule cosine --seed 1 --out lenet5.safetensors \
  --report report
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "demo: wall time %.1f s (LeNet-5, Fashion-MNIST, saved lenet5.safetensors)\n", e - s }'
echo "demo: report in $(pwd)/report/index.html"
