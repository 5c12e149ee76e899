# mortar: the Makefile is a thin front for CMake + ctest.
#   make demo   install what is missing, build, run a short open-model test against the built-in target
#   make test   install what is missing, build, run every test (release, ASan+UBSan, fuzz)
#   make bench  run the benchmarks against nginx and the built-in target (writes docs/benchmarks.md)

JOBS ?= $(shell nproc)
BUILD ?= build
FUZZ_SECONDS ?= 20

.PHONY: all deps build test test-release test-sanitize test-fuzz demo bench format clean

all: build

deps:
	@scripts/deps.sh build test

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test: deps test-release test-sanitize test-fuzz
	@scripts/test-summary.sh $(BUILD) $(BUILD)-asan $(BUILD)-fuzz

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L 'unit|integration|container'

test-sanitize: deps
	@cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DMT_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  MT_SANITIZED=1 ctest --output-on-failure -j $(JOBS) -L 'unit|integration'

test-fuzz: deps
	@cmake -S . -B $(BUILD)-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DMT_FUZZ=ON -DMT_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	@cmake --build $(BUILD)-fuzz -j $(JOBS)
	cd $(BUILD)-fuzz && ctest --output-on-failure -j $(JOBS) -L fuzz

demo: build
	@scripts/demo.sh $(BUILD)/mortar

bench: build
	@scripts/deps.sh bench
	@bench/run.sh $(BUILD)/mortar

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
