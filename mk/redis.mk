# Counters shared by gateway replicas through Redis (issue 15; docs/policies.md
# "Replicas sharing counters"). The tests start a real redis-server from
# Debian (internal/testredis); `make test` installs it with the test group of
# scripts/deps.sh before test-go, and under CI=true a missing redis-server
# fails them. test-redis runs them again verbosely, with -race, so the log
# shows the measured overshoot and the fallback timing.
TEST_TARGETS += test-redis
BENCH_TARGETS += bench-redis

.PHONY: test-redis bench-redis

test-redis: build
	./scripts/deps.sh redis
	CI=true APIMGW_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 -run 'Redis|Replicas|Password|OptionsRefused|TLS|Cache|Exact' -v \
		./appliance/shared ./appliance/gateway | grep -E '^(=== RUN|--- |ok|FAIL|PASS|\s+\S+_test.go)'; exit $${PIPESTATUS[0]}

# The added cost of sharing on the request path (policy.State with a Redis
# back end vs local counters, exact and approximate mode), the latency of the
# suspended path (p50/p99 of a call waiting for its lease) and the accuracy
# across N replicas (overshoot in turns and bursts).
bench-redis:
	./scripts/deps.sh redis
	CI=true $(GO) test -run '^$$' -bench 'Shared' -benchmem -count=1 ./appliance/shared
