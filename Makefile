# Hookline — run `make help` for the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO          ?= go
TOOLS       := $(CURDIR)/.tools/bin
STATICCHECK := $(TOOLS)/staticcheck
STATICCHECK_VERSION := v0.8.2
FAUXQS      := localstack/node_modules/.package-lock.json
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)

.PHONY: help build build-linux test test-reliability lint vet demo run bench clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build bin/hookline
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/hookline ./cmd/hookline

build-linux: ## Build bin/linux/hookline for containers (docker-compose.yml mounts it)
	CGO_ENABLED=0 GOOS=linux $(GO) build -ldflags '$(LDFLAGS)' -o bin/linux/hookline ./cmd/hookline

$(FAUXQS): localstack/package.json localstack/package-lock.json
	npm ci --prefix localstack --no-audit --no-fund
	@touch $@

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# The Lambda Runtime Interface Emulator: localstack/rie.go pins it (and installs it on demand in tests).
RIE_VERSION := $(shell sed -n 's/^[[:space:]]*RIEVersion *= *"\(.*\)".*/\1/p' localstack/rie.go)
RIE_PACKAGE := $(shell sed -n 's/^[[:space:]]*RIEPackage *= *"\(.*\)".*/\1/p' localstack/rie.go)

.PHONY: tools
tools: $(STATICCHECK) ## Install the pinned dev tools into .tools/bin (staticcheck; aws-lambda-rie for the Lambda emulator tests)
	@test -n "$(RIE_VERSION)" -a -n "$(RIE_PACKAGE)" || { echo "RIEVersion/RIEPackage not found in localstack/rie.go"; exit 1; }
	GOBIN=$(TOOLS) $(GO) install $(RIE_PACKAGE)@$(RIE_VERSION)

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	$(GO) mod tidy -diff
	cd examples/lambda-receiver && $(GO) mod tidy -diff
	cd deploy && $(GO) vet ./... && $(GO) mod tidy -diff

lint: vet $(STATICCHECK) ## gofmt, go vet, go mod tidy (no diff) and staticcheck (the deploy/ module too)
	$(STATICCHECK) ./...
	cd deploy && $(STATICCHECK) ./...

.PHONY: test-deps
test-deps: ## Install the PostgreSQL and MariaDB servers the app-registry tests start on loopback (Debian packages; needs root)
	scripts/test-deps

test: lint $(FAUXQS) test-deps ## Lint, then every test with -race (integration tests start a local SQS, PostgreSQL and MariaDB themselves)
	$(GO) test -race -count=1 -v ./...
	cd examples/lambda-receiver && $(GO) vet ./... && $(GO) test -race -count=1 -v ./...
	cd deploy && $(GO) test -race -count=1 -v ./...

.PHONY: test-deploy
test-deploy: ## Only the deploy/ module: manifests decoded with the real API types and cross-checked with the worker's settings
	cd deploy && $(GO) vet ./... && $(GO) test -race -count=1 ./...

test-reliability: $(FAUXQS) ## The fault-injection suite at full size (kill -9, outages, poison, 1 M backlog, ...): one table, also in bin/reliability.md; docs/RELIABILITY.md holds a run
	@mkdir -p bin
	$(GO) test -count=1 -v -timeout 60m ./reliability -args -full -report $(CURDIR)/bin/reliability.md

demo: build $(FAUXQS) ## End to end on a local SQS and a Lambda under the Runtime Interface Emulator: deliveries, a dead letter, inspect, redrive (see README)
	scripts/demo

.PHONY: run
run: build $(FAUXQS) ## The demo, then keep the stack (SQS, Lambda, worker, ingest, receiver) up until Ctrl-C
	RUN=1 scripts/demo

bench: ## Benchmarks (speed and memory targets)
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Defaults give runs of a few seconds each; e.g. BENCH_E2E_FLAGS='-rows 1:50000 -contenders hookline,bare'.
BENCH_E2E_FLAGS ?= -rows 1:30000,10:20000,100:5000 -out bin/bench-e2e.md

.PHONY: bench-e2e
bench-e2e: $(FAUXQS) ## End-to-end benchmark, table 1: hookline worker vs a per-message consumer vs the bare SQS limit on fauxqs (report also in bin/bench-e2e.md)
	@mkdir -p bin
	$(GO) run ./cmd/hookline-bench $(BENCH_E2E_FLAGS)

# E.g. BENCH_HUNG_FLAGS='-rate 500 -outage-end 20s'; the report is appended to bin/bench-e2e.md.
BENCH_HUNG_FLAGS ?= -out bin/bench-e2e.md
BENCH_BACKLOG_FLAGS ?= -backlog 100:10000 -out bin/bench-e2e.md

# E.g. BENCH_PIPELINE_FLAGS='-rates 1000,full -duration 10s -out bin/bench-e2e.md'.
BENCH_PIPELINE_FLAGS ?= -out bin/bench-e2e.md

.PHONY: bench-hung bench-backlog bench-pipeline
bench-hung: $(FAUXQS) ## End-to-end benchmark: a webhook hung for 30 s next to a healthy one at 200 events/s; healthy delays and nothing lost (appended to bin/bench-e2e.md)
	@mkdir -p bin
	$(GO) run ./cmd/hookline-bench -scenario hung $(BENCH_HUNG_FLAGS)

bench-backlog: $(FAUXQS) ## End-to-end benchmark: drain a backlog of 1 000 000 events, sampling the worker's RSS and goroutines (appended to bin/bench-e2e.md)
	@mkdir -p bin
	$(GO) run ./cmd/hookline-bench -scenario backlog $(BENCH_BACKLOG_FLAGS)

bench-pipeline: $(FAUXQS) ## End-to-end benchmark, table 2: hookline ingest -> SQS -> hookline worker -> receiver at 500, 2 000, 10 000 events/s and full speed (appended to bin/bench-e2e.md)
	@mkdir -p bin
	$(GO) run ./cmd/hookline-bench -scenario pipeline $(BENCH_PIPELINE_FLAGS)

clean: ## Remove build outputs and installed tools
	rm -rf bin .tools localstack/node_modules
