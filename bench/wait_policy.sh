#!/bin/bash
# LeNet-5 training at 2 threads with OpenMP's default wait policy and with
# OMP_WAIT_POLICY=passive, next to 1 thread and PyTorch, on a quiet machine
# and with one core kept busy by `yes`; 3 runs each (docs/performance.md,
# "Two threads on a busy machine"). Needs build-bench (make bench).
#   bench/wait_policy.sh [BUILD]
set -eu
cd "$(dirname "$0")/.."
B=${1:-build-bench}/bench/bench_model
args=(--spec models/lenet5.txt --mode train --steps 60)
rate() { grep -o 'img_per_s=[0-9.]*'; }
for load in quiet busy; do
  YES=
  if [ $load = busy ]; then
    yes >/dev/null &
    YES=$!
    sleep 1
  fi
  for rep in 1 2 3; do
    echo "$load default  $(OMP_NUM_THREADS=2 $B "${args[@]}" --threads 2 | rate)"
    echo "$load passive  $(OMP_WAIT_POLICY=passive OMP_NUM_THREADS=2 $B "${args[@]}" --threads 2 | rate)"
    echo "$load 1thread  $(OMP_NUM_THREADS=1 $B "${args[@]}" --threads 1 | rate)"
    echo "$load torch2t  $(OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch_model.py "${args[@]}" --threads 2 | rate)"
  done
  if [ -n "$YES" ]; then kill "$YES"; fi
done
