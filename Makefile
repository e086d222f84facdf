# concurrent-http-client: a lab for thread-per-request clients under rate limits.
# `make help` lists the targets; variables can be set on the command line,
# e.g. `make setup RATE_LIMIT=5`, `make client N=4 RETRY=1`.

MODE             ?= tcp
RATE_LIMIT       ?= 3
MAX_CONN         ?= 2
QUEUE_TIMEOUT    ?= 1s
PROXY_PORT       ?= 8081
SERVER_PORT      ?= 8080
REQUEST_DURATION ?= 2
RUN_DIR          ?= $(CURDIR)/run
# Client flags: N requests, MAX_CONCURRENCY, RATE (starts a second), RETRY=1,
# and anything else in ARGS (e.g. ARGS="--max-retries 5").
N                ?=
STRATEGIES       ?=
TIMELINES        ?=
# make client scores its run against the limits make set up; EXPECT=0 turns it off.
EXPECT           ?= 1
MAX_CONCURRENCY  ?=
RATE             ?=
RETRY            ?=
ARGS             ?=
SERVER_ARGS      ?=
# Where the client goes: haproxy, unless you say otherwise.
URL              ?= http://127.0.0.1:$(PROXY_PORT)/

RELEASE := target/release
# In docker, haproxy reaches the server through the host's bridge, so the
# server must listen beyond loopback; natively it stays on 127.0.0.1.
SERVER_HOST ?= $(if $(filter docker,$(shell cat $(RUN_DIR)/haproxy.mode 2>/dev/null)),0.0.0.0,127.0.0.1)

ifneq ($(filter-out 0 1 yes no true false,$(RETRY)),)
$(error RETRY must be 1 (retry) or 0 (no retry), got '$(RETRY)')
endif
RETRY_FLAG := $(if $(filter 1 yes true,$(RETRY)),--retry)
LIMIT_FLAGS := $(if $(filter queue,$(MODE)),--expect-concurrency $(MAX_CONN),--expect-rate $(RATE_LIMIT))
EXPECT_FLAGS := $(if $(filter 1,$(EXPECT)),$(LIMIT_FLAGS) --expect-duration $(REQUEST_DURATION))

CLIENT_FLAGS := $(if $(N),--num-requests $(N)) \
	$(if $(MAX_CONCURRENCY),--max-concurrency $(MAX_CONCURRENCY)) \
	$(if $(RATE),--rate $(RATE)) \
	$(RETRY_FLAG) --url $(URL) $(EXPECT_FLAGS) $(ARGS)

HAPROXY_ENV := MODE=$(MODE) RATE_LIMIT=$(RATE_LIMIT) MAX_CONN=$(MAX_CONN) QUEUE_TIMEOUT=$(QUEUE_TIMEOUT) PROXY_PORT=$(PROXY_PORT) SERVER_PORT=$(SERVER_PORT) RUN_DIR=$(RUN_DIR)

.DEFAULT_GOAL := help
.PHONY: help build setup teardown server client demo edge faults storm compare bench test check clean

help: ## list the targets
	@echo "concurrent-http-client: make TARGET [VARIABLE=value ...]"
	@echo
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z]+):.*## /  \1\t/' | expand -t 12
	@echo
	@echo "Variables: MODE=$(MODE) RATE_LIMIT=$(RATE_LIMIT) MAX_CONN=$(MAX_CONN) QUEUE_TIMEOUT=$(QUEUE_TIMEOUT)"
	@echo "           PROXY_PORT=$(PROXY_PORT) SERVER_PORT=$(SERVER_PORT)"
	@echo "           REQUEST_DURATION=$(REQUEST_DURATION) N MAX_CONCURRENCY RATE RETRY=1 URL ARGS SERVER_ARGS"

build: ## build the client and server (release)
	@cargo build --release --quiet --bins

setup: ## start haproxy (MODE=tcp|http|queue; docker if a daemon answers, else the binary)
	@$(HAPROXY_ENV) scripts/haproxy.sh start

teardown: ## stop exactly the haproxy that setup started
	@$(HAPROXY_ENV) scripts/haproxy.sh stop

server: build ## run the test server in the foreground (Ctrl-C stops it)
	@$(RELEASE)/server --addr $(SERVER_HOST):$(SERVER_PORT) --request-duration $(REQUEST_DURATION) $(SERVER_ARGS)

client: build ## run the client against haproxy: make client N=4 RETRY=1
	@echo "client $(strip $(CLIENT_FLAGS))"
	@$(RELEASE)/client $(CLIENT_FLAGS)

demo: ## the whole exploration against a real haproxy (about 30 s after the build)
	@$(HAPROXY_ENV) REQUEST_DURATION=$(REQUEST_DURATION) scripts/demo.sh

test: ## run every test (needs haproxy on PATH)
	cargo test

check: ## what CI checks: formatting, clippy, docs, tests
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
	cargo test

clean: ## remove build output and the run folder
	cargo clean
	rm -rf $(RUN_DIR)

edge: ## count rejections right at haproxy's limit (about a minute)
	@$(HAPROXY_ENV) scripts/edge.sh

faults: ## a naive and a coping client against each fault and haproxy mode (~1.5 min)
	@PROXY_PORT=$(PROXY_PORT) SERVER_PORT=$(SERVER_PORT) RUN_DIR=$(RUN_DIR) scripts/faults.sh

compare: ## the built-in strategies side by side, ~1 min (N, STRATEGIES=file, TIMELINES=dir)
	@$(HAPROXY_ENV) REQUEST_DURATION=$(REQUEST_DURATION) N=$(N) STRATEGIES=$(STRATEGIES) TIMELINES=$(TIMELINES) ARGS="$(ARGS)" scripts/compare.sh

storm: ## a retry storm against a small server, without and with jitter (~35 s)
	@PROXY_PORT=$(PROXY_PORT) SERVER_PORT=$(SERVER_PORT) RUN_DIR=$(RUN_DIR) scripts/storm.sh

bench: ## what threads cost: the client at several concurrency limits, one run, ratios (~1 min)
	@SERVER_PORT=$(SERVER_PORT) RUN_DIR=$(RUN_DIR) N=$(N) scripts/bench.sh
