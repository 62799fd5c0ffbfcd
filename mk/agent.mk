# Sync agent and telemetry pipeline (appliance/agent, appliance/telemetry).
# Their Go tests (real control plane in-process, real bbolt stores) run in
# `make test-go`. `make bench` runs the hot-path benchmarks and the backlog
# flush against the real bin/apimcp; figures go in the "Sync agent and
# telemetry" section of docs/benchmarks.md and in docs/sync.md.
BENCH_TARGETS += bench-agent bench-hybrid bench-commit

.PHONY: bench-agent bench-hybrid bench-commit
bench-agent: build
	$(GO) test -run '^$$' -bench 'OnDone|AppendRecord' -benchmem ./appliance/telemetry
	$(GO) test -run '^$$' -bench 'ParseRawBatch' -benchmem -count 3 ./wire
	$(GO) test -run '^$$' -bench 'EncodeBatch' -benchmem ./appliance/agent
	APIMGW_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench BacklogFlush -benchtime 1x -timeout 20m ./appliance/agent

# Hybrid mode (issue 16): the gateway synced from a running apimcp with
# telemetry uploading, beside the same gateway standalone and with apimcp
# stopped, nginx proxy_pass and HAProxy; gateway and apimcp CPU per 100k
# requests saturated and per request at a fixed rate (scripts/bench-hybrid.sh;
# ROUNDS, DURATION, CONNS, ROWS, PROFILE, BIN, FOOTPRINT, IDLE_WAIT, RATE_RPS,
# RATE_ROUNDS, RATE_DURATION, GW_CONF, WRK_CPU, CP_CPU). Then the saturated
# rounds again with the load generators on the last CPU alone and the servers
# on the others (WRK_CPU), so that no proxy shares a core with wrk, and
# apimcp beside wrk under SCHED_IDLE (CP_CPU, CP_SCHED=idle): as if on its
# own box, as in production, its ingest preempting neither the gateway nor
# wrk.
bench-hybrid: build
	./scripts/bench-hybrid.sh
	@if [ "$$(getconf _NPROCESSORS_ONLN)" -ge 2 ]; then \
		last=$$(( $$(getconf _NPROCESSORS_ONLN) - 1 )); \
		WRK_CPU=$$last CP_CPU=$$last CP_SCHED=idle ROWS="nginx haproxy gw-standalone gw-cp-up" RATE_ROUNDS=0 FOOTPRINT=0 ./scripts/bench-hybrid.sh; \
	else echo "bench-hybrid: one CPU, no run with the load generators apart"; fi

# What the telemetry queue's group commit costs per request at a fixed rate
# (h2load --rps): nginx, the engine alone, the gateway at commit-interval
# 10ms and 100ms (scripts/bench-commit.sh; ROUNDS, DURATION, CLIENTS, RPS, BIN).
bench-commit: build
	./scripts/bench-commit.sh
