GO ?= go
BIN := bin
# Bounded by default; `make fuzz` runs long.
FUZZTIME ?= 60s

.PHONY: all build test demo bench fuzz lint cross clean

all: build

build:
	$(GO) build ./...
	$(GO) build -o $(BIN)/sessions ./examples/sessions
	$(GO) build -o $(BIN)/revenue ./examples/revenue
	$(GO) build -o $(BIN)/pwlog ./cmd/pwlog

# fuzz/ (random pipelines against the model, the crash state machine)
# runs FUZZ_TEST_CHECKS cases of each property here, about a minute under
# -race; `make fuzz` runs many more.
FUZZ_TEST_CHECKS ?= 120
test: lint cross
	cd bench && $(GO) test ./...
	$(GO) test -race -timeout 20m $$($(GO) list ./... | grep -v '/fuzz$$')
	RAPID_CHECKS=$(FUZZ_TEST_CHECKS) $(GO) test -race -timeout 20m ./fuzz/

demo: build
	./scripts/demo.sh $(BIN)/sessions $(BIN)/pwlog

# The Go benchmarks of the library, then the report of BENCHMARKS.md
# (bench/, a module of its own: pebble and the other benchmark-only
# dependencies stay out of the library's go.mod). Besides its 1M rows it
# runs a 10M-row state under a 256 MiB MemoryLimit (-state-rows,
# -memory-limit). BENCH_FLAGS=-big for 10M rows everywhere,
# BENCH_FLAGS=-quick for a look at small sizes in a minute or so.
BENCH_FLAGS ?=
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...
	cd bench && $(GO) build -o ../$(BIN)/pwbench ./cmd/pwbench
	$(GO) build -o $(BIN)/revenue ./examples/revenue
	$(BIN)/pwbench -chart bench/reruns.svg -revenue-bin $(BIN)/revenue $(BENCH_FLAGS)

# Long: every fuzz target for FUZZTIME, fuzz/'s properties (random
# pipelines against the model, the crash state machine, the restart) with
# FUZZ_CHECKS cases each from SEED, every crash point with CRASH_SEEDS
# images. A failure prints how to replay it: rapid prints its seed and
# names its fail file (-rapid.failfile=...), crash points print k and
# seed.
FUZZ_CHECKS ?= 500
CRASH_SEEDS ?= 16
SEED := $(or $(SEED),$(shell od -An -N4 -tu4 /dev/urandom | tr -d ' '))
fuzz:
	@echo "make fuzz SEED=$(SEED) replays this run's property tests"
	PWLOG_CRASH_SEEDS=$(CRASH_SEEDS) $(GO) test -timeout 120m -run 'TestCrashAtEveryOperation|TestFaultAtEveryWrite|TestDamageIsReportedNeverWrong' .
	RAPID_CHECKS=$(FUZZ_CHECKS) $(GO) test -timeout 120m -rapid.seed=$(SEED) ./fuzz/
	$(GO) test -run '^$$' -fuzz FuzzDecodeFrame -fuzztime $(FUZZTIME) ./wal/
	$(GO) test -run '^$$' -fuzz FuzzScanTail -fuzztime $(FUZZTIME) ./wal/
	$(GO) test -run '^$$' -fuzz 'FuzzScan$$' -fuzztime $(FUZZTIME) ./wal/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRecord -fuzztime $(FUZZTIME) ./record/
	$(GO) test -run '^$$' -fuzz FuzzParseCSV -fuzztime $(FUZZTIME) ./sources/
	$(GO) test -run '^$$' -fuzz FuzzParseJSONLines -fuzztime $(FUZZTIME) ./sources/
	$(GO) test -run '^$$' -fuzz FuzzJSONLineAgrees -fuzztime $(FUZZTIME) ./sources/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRow -fuzztime $(FUZZTIME) ./differential/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRun -fuzztime $(FUZZTIME) ./checkpoint/
	$(GO) test -run '^$$' -fuzz FuzzOpenRun -fuzztime $(FUZZTIME) ./checkpoint/
	$(GO) test -run '^$$' -fuzz FuzzDecodeManifest -fuzztime $(FUZZTIME) ./checkpoint/
	$(GO) test -run '^$$' -fuzz FuzzCheck -fuzztime $(FUZZTIME) ./internal/msgpackx/

# gofmt, go vet and staticcheck over the library and bench/. staticcheck
# is built by the go command at a pinned version, nothing to install.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint:
	@unformatted="$$(gofmt -l .)"; if [ -n "$$unformatted" ]; then \
		echo "gofmt -l: not formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...
	cd bench && $(GO) vet ./... && $(STATICCHECK) ./...

# The library, its commands and bench/ build on Linux, macOS and Windows.
cross:
	GOOS=linux $(GO) build ./...
	GOOS=darwin $(GO) build ./...
	GOOS=windows $(GO) build ./...
	cd bench && GOOS=linux $(GO) build ./... && GOOS=darwin $(GO) build ./... && GOOS=windows $(GO) build ./...

clean:
	rm -rf $(BIN)
