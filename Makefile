# Chobi Live backend. `make run` serves on :3000 with an embedded SQLite;
# `make test` runs every test (Go, then the @trpc/client compatibility test
# and the client kit's type check).

GO      ?= go
BIN     := bin/chobi
NODE_DIR := tests/trpc-client

.PHONY: run build test test-go test-impaired test-node test-ts test-e2e test-deploy lint migrate clean bench

run:
	$(GO) run ./cmd/chobi serve

# Static (CGO_ENABLED=0: SQLite is pure Go) and -trimpath, as the image builds it
# (so make test-deploy's builds of the Docker context and the load tester reuse its cache).
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN) ./cmd/chobi

migrate:
	$(GO) run ./cmd/chobi migrate

# staticcheck is installed from the Go module proxy on first use (pinned).
STATICCHECK_VERSION := v0.8.2
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt would change:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...
	@if [ -x ../shared/tools/check-imports ]; then ../shared/tools/check-imports; fi
	@sc="$$($(GO) env GOPATH)/bin/staticcheck"; [ -x "$$sc" ] && "$$sc" -version | grep -q "$(STATICCHECK_VERSION:v%=%)" || \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); "$$sc" ./...

test: lint test-deploy test-go test-node test-ts test-e2e

# Postgres and Redis tests read CHOBI_TEST_POSTGRES_URL / CHOBI_TEST_REDIS_URL;
# without them they skip loudly (CHOBI_REQUIRE_SERVICES=1 makes that a failure).
# The packages whose tests connect real PeerConnections run a second time
# without the race detector, as production binaries are built: the detector
# slows every goroutine several times over, which can hide timing races
# between them. The impaired-link tests run in this pass (test-impaired runs
# only them, for work on the SFU).
test-go:
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 ./sfu/ ./signaling/ ./loadtest/ ./cmd/chobi/

# The SFU's impaired-link tests (loss, bandwidth caps, over pion's virtual
# network) assert deadlines about the network, so they run without the race
# detector, which would set the pace instead (the -race pass skips them). The
# RTX takeover test goes through a data race inside pion, so it runs here too.
test-impaired:
	$(GO) test -count=1 -run 'TestNACKRecovers|TestBandwidthCap|TestRetransmissionsNamingTheRidAreReported' -v ./sfu/

test-node: build
	cd $(NODE_DIR) && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && CHOBI_BIN=$(CURDIR)/$(BIN) node --test

# The client kit (clients/ts): its generated TypeScript types are what the
# server's Go types give now (chobi gen ts -check), and the pinned tsc
# (clients/ts/package.json) compiles the seed's and the extensions' calls
# and fails each wrong one (clients/ts/check).
test-ts:
	$(GO) run ./cmd/chobi gen ts -check -out clients/ts
	cd clients/ts && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && node --test check/

# The demo page (web/demo) in real Chromium (/usr/bin/chromium; CHROMIUM_PATH
# overrides) driven by playwright-core; screenshots go to tests/e2e/output/.
test-e2e: build
	@[ -n "$(CHROMIUM_PATH)" ] || [ -x /usr/bin/chromium ] || { echo "make: installing Debian's Chromium for the browser tests"; \
		apt-get update -q && apt-get install -y -q chromium; }
	cd tests/e2e && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && CHOBI_BIN=$(CURDIR)/$(BIN) node --test

# deploy/: every YAML and JSON file parses and agrees with the server; the
# static bin/chobi runs and serves every series the alerts and dashboard
# read; promtool checks and unit-tests the rules; systemd-analyze verifies
# the units; docker-compose validates the compose file and kubectl builds the
# kustomization (neither needs a daemon or a cluster); docs/operations.md's production
# set-up runs here (the env file's configuration on Postgres and Redis behind
# nginx with a test certificate: https, wss, TURN). The tools are installed
# from Debian when missing.
DEPLOY_TOOLS := promtool:prometheus nginx:nginx caddy:caddy systemd-analyze:systemd \
	docker-compose:docker-compose kubectl:kubernetes-client
test-deploy: build
	@missing=$$(for t in $(DEPLOY_TOOLS); do command -v $${t%%:*} >/dev/null || echo $${t#*:}; done); \
	if [ -n "$$missing" ]; then echo "make: installing" $$missing "for the deploy checks"; \
		apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; fi
	CHOBI_DEPLOY_CHECKS=1 CHOBI_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 ./deploy/

clean:
	rm -rf bin data

# The fixed benchmark (docs/benchmarks.md): the forwarding micro-benchmark,
# then the server started on this machine under a 100-viewer simulcast room
# and a 4-speaker audio room from the load generator; reports in bin/bench/.
BENCH_OUT := bin/bench
bench: build
	$(GO) build -o bin/chobi-loadtest ./cmd/chobi-loadtest
	mkdir -p $(BENCH_OUT)
	$(GO) test -run '^$$' -bench Forward -benchmem -benchtime 2000x ./sfu/ > $(BENCH_OUT)/forward.txt; \
		st=$$?; cat $(BENCH_OUT)/forward.txt; exit $$st
	bin/chobi-loadtest -spawn $(BIN) -out $(BENCH_OUT)/video -quiet -pprof 127.0.0.1:6062 \
		-rooms 1 -viewers 100 -ramp 20 -duration 45s -warmup 5s -chat 2 -gifts 0.5
	bin/chobi-loadtest -spawn $(BIN) -out $(BENCH_OUT)/audio -quiet \
		-rooms 1 -audio-only -cohosts 3 -viewers 100 -ramp 20 -duration 30s -warmup 5s -chat 2
	@echo "reports: $(BENCH_OUT)/video/report.html $(BENCH_OUT)/audio/report.html"
