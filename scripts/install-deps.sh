#!/usr/bin/env bash
# Installs the Debian packages sinapsi needs, and only those that are missing.
# Idempotent: a second run installs nothing. Uses sudo when not run as root.
#   scripts/install-deps.sh            build + test dependencies
#   scripts/install-deps.sh --golden   also python3-torch, to regenerate golden files
set -euo pipefail

pkgs=(build-essential cmake pkg-config clang
      libopenblas-openmp-dev   # GEMM seam: OpenBLAS, OpenMP build
      zlib1g-dev               # .gz IDX files
      libcjson-dev             # safetensors JSON header
      libpng-dev               # report images
      libcmocka-dev            # unit tests under CTest
      chromium                 # renders the report's page in a test (test_report)
      libclang-rt-dev          # clang's libFuzzer and sanitizer runtimes (make fuzz)
      dataset-fashion-mnist)   # tests read small slices; the demo trains on all of it
for arg in "$@"; do
  case "$arg" in
    --golden) pkgs+=(python3-torch python3-numpy) ;;
    *) echo "install-deps.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are missing or a first try fails.
if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
