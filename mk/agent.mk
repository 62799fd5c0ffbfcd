# Sync agent and telemetry pipeline (appliance/agent, appliance/telemetry).
# Their Go tests (real control plane in-process, real bbolt stores) run in
# `make test-go`. `make bench` runs the hot-path benchmarks and the backlog
# flush against the real bin/apimcp; figures go in the "Sync agent and
# telemetry" section of docs/benchmarks.md and in docs/sync.md.
BENCH_TARGETS += bench-agent

.PHONY: bench-agent
bench-agent: build
	$(GO) test -run '^$$' -bench 'OnDone|AppendRecord' -benchmem ./appliance/telemetry
	APIMGW_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench BacklogFlush -benchtime 1x -timeout 20m ./appliance/agent
