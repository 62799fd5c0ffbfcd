# apimgw — build, run, test, bench, package. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
# VERSION is the last tag (without its v) or 0.1.0; COMMIT the short git hash.
VERSION ?= $(shell git describe --tags --abbrev=0 2>/dev/null | sed 's/^v//' | grep . || echo 0.1.0)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X main.version=$(VERSION)+$(COMMIT)
BIN := bin
export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)

.PHONY: all build run stop test test-go test-fresh vet fmtcheck bench package clean help

# Each area adds its own targets in mk/<area>.mk: TEST_TARGETS run after the Go
# tests in `make test`, BENCH_TARGETS in `make bench`, PACKAGE_TARGETS in
# `make package`.
TEST_TARGETS :=
BENCH_TARGETS :=
PACKAGE_TARGETS :=
include $(sort $(wildcard mk/*.mk))

all: build

help:
	@echo "make run      control plane, gateway and a sample backend on loopback (scripts/run.sh --help)"
	@echo "make stop     stop what make run (or scripts/run.sh start) started"
	@echo "make test     every test (installs what it needs)"
	@echo "make test-fresh  .ci/run in a fresh clone of HEAD, no cache of this machine used"
	@echo "make build    bin/apimgw bin/apimcp bin/apimctl"
	@echo "make bench    benchmarks against nginx (installs nginx and wrk)"
	@echo "make package  .deb and .rpm for amd64 and arm64 into dist/"
	@echo "make clean    remove bin/ and dist/"

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/apimgw ./cmd/apimcp ./cmd/apimctl

# make run stays in the foreground (Ctrl-C stops everything); scripts/run.sh
# start|stop|restart [gw|cp|backend] take parts down and up from elsewhere.
run: build
	./scripts/run.sh

stop:
	./scripts/run.sh stop

vet:
	$(GO) vet ./...

fmtcheck:
	@out="$$(gofmt -l $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go'))"; \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# go test runs the unit, fuzz-seed, end-to-end and architecture tests. The
# end-to-end tests use the binaries built by `build` (APIMGW_BIN points at them).
test-go: build
	APIMGW_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 -timeout 20m ./...

test:
	./scripts/deps.sh test
	$(MAKE) vet fmtcheck
	$(MAKE) test-go
	@for t in $(TEST_TARGETS); do $(MAKE) $$t || exit 1; done

# `bash .ci/run` (make test, CI=true) in a fresh clone of the committed HEAD
# with ../shared beside it and every cache the build and tests make pointed at
# empty directories (scripts/test-fresh.sh says which). FRESH_CMD replaces
# the command, e.g. FRESH_CMD='make build' to check the mechanics.
FRESH_CMD ?=
test-fresh:
	./scripts/test-fresh.sh $(FRESH_CMD)

bench: build
	./scripts/deps.sh bench
	@for t in $(BENCH_TARGETS); do $(MAKE) $$t || exit 1; done

package: build
	@if [ -z "$(PACKAGE_TARGETS)" ]; then echo "package: no package targets yet"; exit 1; fi
	@for t in $(PACKAGE_TARGETS); do $(MAKE) $$t || exit 1; done

clean:
	rm -rf $(BIN) dist
