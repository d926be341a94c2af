# Touchpoint — see README.md.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
BIN      := bin/touchpoint

.PHONY: build run test test-short lint fuzz bench deps clean

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

test-short:
	$(GO) test -short -count=1 ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## fuzz: each fuzz target for FUZZTIME (default 10m)
FUZZTIME ?= 10m
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseQuery$$' -fuzztime $(FUZZTIME) ./store
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./store

## bench: store benchmarks at 100k (and 1M with TOUCHPOINT_BENCH_1M=1); results in bench/results/
bench:
	@mkdir -p bench/results
	$(GO) test -run '^$$' -bench . -benchmem -count 3 -timeout 60m ./store ./web | tee bench/results/latest.txt

clean:
	rm -rf bin
