# Thin wrapper over CMake so that a fresh Debian machine needs only `make test`
# or `make demo`. Every target first installs missing Debian packages.
BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_FLAGS ?=

.PHONY: all deps configure build test test-ops demo golden format clean fuzz bench

all: build

deps:
	@scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# Every test, under CTest.
test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

# Only the op tests (kernels, gradient checks, PyTorch goldens).
test-ops: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L ops $(CTEST_FLAGS)

# Trains LeNet-5 on Fashion-MNIST (installed by deps), prints the test
# accuracy and the time, saves lenet5.safetensors here. See docs/demo.md.
demo: build
	@scripts/demo.sh $(BUILD)

# Regenerate every PyTorch golden file (needs Debian's python3-torch) and the
# malformed-file corpus. The outputs are committed; the tests need no Python.
golden:
	@scripts/install-deps.sh --golden
	@for d in golden model_golden optim_golden interop; do \
	  /usr/bin/python3 tests/$$d/gen.py tests/$$d || exit 1; done
	@/usr/bin/python3 tests/malformed/make_corpus.py tests/malformed

# Speed against PyTorch (issue 5; docs/performance.md): release build in
# build-bench (-O3, and BENCH_CFLAGS, -march=native by default), then
# bench/run.py interleaves sinapsi and PyTorch runs and prints the tables.
# BENCH_FLAGS passes options to bench/run.py: --reps N, --quick (checks the
# driver), --blas-env both (also with OPENBLAS_CORETYPE/L2_SIZE unset),
# --contention (only the one-core-busy check), --no-contention.
BENCH_CFLAGS ?= -march=native
BENCH_FLAGS ?=
bench: deps
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DSINAPSI_TESTS=OFF \
	  -DCMAKE_C_FLAGS="$(BENCH_CFLAGS)" >/dev/null
	@cmake --build build-bench -j $(JOBS) --target bench_model bench_ops
	@/usr/bin/python3 bench/run.py --build build-bench $(BENCH_FLAGS)

# libFuzzer targets for the file readers (clang, ASan + UBSan), each run for
# FUZZ_SECONDS seconds (default 60); fails on any finding. See docs/fuzzing.md.
fuzz: deps
	@CC=clang cmake -S . -B build-fuzz -DSINAPSI_FUZZ=ON -DSINAPSI_TESTS=OFF \
	  -DSINAPSI_BLAS=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target sinapsi_fuzzers
	@fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	@rm -rf $(BUILD) build-*
