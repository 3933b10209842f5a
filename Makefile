# meshgate — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NODE_MODULES_STAMP := node_modules/.installed
MOCHA := node_modules/.bin/mocha
TEST_TIMEOUT ?= 60000

# Show the targets and what they do
help:
	@awk '/^# /{doc=substr($$0,3)} /^[a-z][a-z-]*:/{sub(":.*","",$$1); if(doc!="") printf "  %-12s %s\n", $$1, doc; doc=""}' $(MAKEFILE_LIST)

# Install npm dependencies exactly as locked (npm ci), once per lockfile change
deps: $(NODE_MODULES_STAMP)
$(NODE_MODULES_STAMP): package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $@

# Compile TypeScript (services/ and test/) into dist/
build: deps
	node_modules/.bin/tsc -p tsconfig.json

# Regenerate services/gen/ from proto/ with buf + ts-proto
proto: deps
	node_modules/.bin/buf generate proto --template proto/buf.gen.yaml

# Fail when services/gen/ is not what proto/ generates (run by `make test`)
proto-check: deps
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	sed "s#out: services/gen#out: $$tmp/gen#" proto/buf.gen.yaml > $$tmp/buf.gen.yaml; \
	node_modules/.bin/buf generate proto --template $$tmp/buf.gen.yaml && \
	if diff -ru services/gen $$tmp/gen; then echo "proto-check: services/gen is current"; \
	else echo "proto-check: services/gen is stale; run 'make proto' and commit" >&2; exit 1; fi

# Install system packages the tests need (redis-server for the Redis tests, chromium for test/ui), when missing
test-deps:
	@command -v redis-server >/dev/null || { echo "installing redis-server (apt-get)"; apt-get update -qq && apt-get install -y -qq redis-server; }
	@test -x /usr/bin/chromium || { echo "installing chromium (apt-get)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# Install what the tests need and run every test suite (unit, integration, e2e, ui in Chromium)
test: build proto-check test-deps
	$(MOCHA) --timeout $(TEST_TIMEOUT) --exit 'dist/test/unit/**/*.test.js' 'dist/test/integration/**/*.test.js' 'dist/test/e2e/**/*.test.js' 'dist/test/ui/**/*.test.js'

# Run only the browser tests (test/ui: the console page in Chromium)
test-ui: build test-deps
	$(MOCHA) --timeout $(TEST_TIMEOUT) --exit 'dist/test/ui/**/*.test.js'

# Run only the unit tests (fast, pure logic)
test-unit: build
	$(MOCHA) --timeout $(TEST_TIMEOUT) 'dist/test/unit/**/*.test.js'

# Start the local demo: an edge, three demo upstreams, their agents and the tutorial's cloud endpoint
demo: build
	./bin/meshgate cluster up

# Benchmarks: meshgate vs nginx (installs nginx and wrk when missing), tracing and policy cost, presence at scale
bench: build
	bash test/bench/setup.sh
	node dist/test/bench/proxy-bench.js
	node dist/test/bench/policy-bench.js
	node dist/test/bench/presence-scale.js

# Presence at scale only: 10,000 agent endpoints over 3 edges, a 4th joins (SCALE_ENDPOINTS=N)
bench-presence: build
	node dist/test/bench/presence-scale.js

# Remove build output
clean:
	rm -rf dist

.PHONY: help deps build proto proto-check test-deps test test-unit test-ui demo bench bench-presence clean
