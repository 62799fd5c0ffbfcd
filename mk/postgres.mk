# apimcp on PostgreSQL (issue 15). `make test` runs test-postgres after the Go
# tests: the whole controlplane suite again with every test server on a
# PostgreSQL database of its own, plus the replica tests (If-Match races, no
# lost update, cross-replica long-poll p99 < 2 s, monotonic versions,
# telemetry retried at another replica counted once, heartbeats, migrations,
# database restarted under load) and, with the real binary, a replica
# SIGKILLed mid-write and a database of a newer schema refused. The tests
# start their own throwaway server (controlplane/pgtest: initdb in a temp
# dir, loopback, random port, as nobody when root); build tag postgres, so
# `go test ./...` does not need PostgreSQL and this target, which installs it
# (scripts/deps.sh postgres), fails rather than skips without it.
TEST_TARGETS += test-postgres
BENCH_TARGETS += bench-controlplane-postgres

.PHONY: test-postgres bench-controlplane-postgres

test-postgres: build
	./scripts/deps.sh postgres
	$(GO) vet -tags postgres ./controlplane/... ./cmd/apimcp/
	$(GO) test -tags postgres -race -count=1 -timeout 15m ./controlplane/
	APIMGW_BIN=$(CURDIR)/$(BIN) $(GO) test -tags postgres -race -count=1 -timeout 10m -run '^TestPG' ./cmd/apimcp/

# The fleet bench of bench-controlplane with two apimcp replicas on one
# throwaway PostgreSQL: the gateways' long-polls and the telemetry uploaders
# spread over both, changes made through the first (docs/benchmarks.md).
bench-controlplane-postgres: build
	./scripts/deps.sh postgres
	$(GO) run ./controlplane/cpbench --apimcp $(BIN)/apimcp --gateways 1000 --rounds 5 --batches 200 --postgres start --replicas 2
