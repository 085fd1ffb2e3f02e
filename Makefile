GO ?= go
BIN := bin
# Bounded by default; `make fuzz` runs long.
FUZZTIME ?= 60s

.PHONY: all build test demo bench fuzz lint clean

all: build

build:
	$(GO) build ./...
	$(GO) build -o $(BIN)/sessions ./examples/sessions

test:
	$(GO) vet ./...
	$(GO) test -race -timeout 20m ./...

demo: build
	./scripts/demo.sh $(BIN)/sessions

# The persistence targets (BENCHMARKS.md); REPORT_FLAGS=-rows=100000 for a
# quick look.
REPORT_FLAGS ?=
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./...
	$(GO) run ./internal/tools/report $(REPORT_FLAGS)

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecodeFrame -fuzztime $(FUZZTIME) ./wal/
	$(GO) test -run '^$$' -fuzz FuzzParseCSV -fuzztime $(FUZZTIME) ./sources/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRow -fuzztime $(FUZZTIME) ./differential/
	$(GO) test -run '^$$' -fuzz FuzzDecodeRun -fuzztime $(FUZZTIME) ./checkpoint/
	$(GO) test -run '^$$' -fuzz FuzzDecodeManifest -fuzztime $(FUZZTIME) ./checkpoint/

lint:
	$(GO) vet ./...
	test -z "$$(gofmt -l .)"

clean:
	rm -rf $(BIN)
