# Touchpoint — see README.md.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin/touchpoint

.PHONY: build run test test-short lint fuzz fuzz-short soak bench bench-scale deps clean

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/touchpoint

## run: the daemon on its embedded defaults (data in ./data, web on 127.0.0.1:8080)
run: build
	./$(BIN) serve

## deps: install the system packages the tests need (Debian; only when missing)
deps:
	./scripts/install-test-deps.sh

## test: everything CI runs
test: deps lint
	$(GO) test -race -shuffle=on -count=1 -timeout 15m ./...
	@$(MAKE) --no-print-directory fuzz-short

## soak: the slow reliability tests, bigger: 100 kill -9 rounds, a flood of
## 4,000 connections with the legitimate rate measured, the full disk
soak: deps
	TOUCHPOINT_SOAK=1 TOUCHPOINT_CRASH_ROUNDS=100 $(GO) test -count=1 -timeout 60m -v \
		-run 'TestSMTPFlood|TestCrash|TestDiskFull' ./ingest ./tests

test-short:
	$(GO) test -short -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## fuzz: each fuzz target for FUZZTIME (default 10m); test runs them briefly
FUZZTIME ?= 10m
FUZZMIN  ?= 10s
FUZZ_TARGETS := ./store:FuzzIndexWords ./ingest:FuzzParse ./ingest:FuzzSMTPSession ./ingest:FuzzPrepareAndStore \
	./ingest:FuzzCleanText ./matcher:FuzzMatch ./store:FuzzParseQuery ./store:FuzzDecode \
	./store:FuzzJournalScan ./store:FuzzPostingBlock ./web:FuzzCSVWriter
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMIN) $$pkg || exit 1; \
	done

# A count, not a duration: a timed run that ends while the engine minimises
# a new input fails with "context deadline exceeded" (a Go fuzzing quirk).
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=10000x FUZZMIN=500x

## bench: store benchmarks at 100k (and 1M with TOUCHPOINT_BENCH_1M=1), then
## bench-scale; results in bench/results/. SMTP ingest (P1-P5) is bench/smtp.sh.
bench:
	@mkdir -p bench/results
	$(GO) test -run '^$$' -bench . -benchmem -count 3 -timeout 60m ./store ./web | tee bench/results/latest.txt
	@$(MAKE) --no-print-directory bench-scale

## bench-scale: issue 7's P6-P13 against the real daemon over HTTP, 100k contacts
## and 1M interactions (QUICK=1: 5k and 100k); SCALE_FLAGS adds flags (go run ./bench/scale -h)
QUICK       ?=
SCALE_FLAGS ?=
bench-scale:
	$(GO) run ./bench/scale $(if $(QUICK),-quick) $(SCALE_FLAGS)

clean:
	rm -rf bin
