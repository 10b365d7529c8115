#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD/fuzz/ for SECONDS seconds each
# (`make fuzz FUZZ_SECONDS=N` calls this; see docs/fuzzing.md):
#   fuzz/run.sh [BUILD] [SECONDS]        defaults: build-fuzz 60
# Seeds: fuzz/corpus/<reader>/ (valid files) and tests/malformed/<reader>/
# (the malformed corpus), both read-only; new inputs go to a scratch corpus in
# BUILD/fuzz-corpus/<reader>/ (not committed) and findings to
# BUILD/fuzz-artifacts/<reader>/. Fails if any target finds a crash, a leak, a
# timeout or an allocation above the limits.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-fuzz}
seconds=${2:-}
seconds=${seconds:-60}

# An input of at most 16 KiB may not make a reader allocate 64 MiB at once
# (readers allocate at most the file size plus a small constant, or what a
# gzip stream really inflates to), nor take 10 s.
options=(-max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=64 -timeout=10
         -max_len=16384 -use_value_profile=1 -print_final_stats=1)

targets=("$build"/fuzz/fuzz_*)
if [ ! -x "${targets[0]}" ]; then
  echo "fuzz/run.sh: no fuzz targets in $build/fuzz (configure with -DSINAPSI_FUZZ=ON)" >&2
  exit 2
fi
failed=()
for target in "${targets[@]}"; do
  reader=${target##*/fuzz_}
  scratch=$build/fuzz-corpus/$reader
  artifacts=$build/fuzz-artifacts/$reader
  log=$build/fuzz-$reader.log
  mkdir -p "$scratch" "$artifacts"
  seeds=("$root/fuzz/corpus/$reader")
  [ -d "$root/tests/malformed/$reader" ] && seeds+=("$root/tests/malformed/$reader")
  echo "fuzz: $reader for ${seconds}s (log $log)"
  if "$target" "${options[@]}" -artifact_prefix="$artifacts/" "$scratch" "${seeds[@]}" \
       >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_runs|^Done' "$log" | sed "s/^/  /" || true
  else
    echo "fuzz: $reader FAILED; the end of $log:" >&2
    tail -n 40 "$log" >&2
    failed+=("$reader")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}; reproduce with $build/fuzz/fuzz_<reader> <artifact>" >&2
  exit 1
fi
