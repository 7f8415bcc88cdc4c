# ssosetup — run `make help` for the targets.
SHELL := /bin/bash
BIN   := bin/ssosetup
GO    ?= go

.PHONY: help run test chaos lint build services tools

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

run: services build ## start Redis, Postgres and ClickHouse (installing them if needed), then the product
	$(BIN) run $(if $(SSOSETUP_API_TOKEN),,--insecure-dev)

test: services tools lint ## start the services, then run every test (race detector), then the fault tests
	@bash scripts/services.sh cluster-up
	$(GO) test -race -count=1 -timeout 30m ./...; status=$$?; bash scripts/services.sh cluster-down; exit $$status
	$(MAKE) chaos

chaos: services ## the fault tests alone: they kill workers and restart Postgres and ClickHouse (needs root)
	$(GO) test -tags chaos -p 1 -count=1 -timeout 20m -v ./chaos/ 2>&1 | grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+\w+_test\.go)'; \
	  exit $${PIPESTATUS[0]}

lint: tools ## gofmt, golangci-lint (.golangci.yml, with go vet), and validate docker-compose.yml
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	golangci-lint run ./...
	SSOSETUP_API_TOKEN=x SSOSETUP_DASHBOARD_PASSWORD=x POSTGRES_PASSWORD=x docker-compose -f docker-compose.yml config -q

build: ## build bin/ssosetup
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/ssosetup

services: ## install (when missing) and start Redis, Postgres and ClickHouse on loopback
	@bash scripts/services.sh up

tools: ## install the test tools (docker-compose, chromium, golangci-lint) when missing
	@bash scripts/services.sh tools
