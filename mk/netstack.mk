# netstack: the proxy engine beside nginx (needs nginx and wrk: deps group bench).
BENCH_TARGETS += bench-proxy bench-netstack-go

.PHONY: bench-proxy bench-netstack-go
bench-proxy:
	./scripts/bench-proxy.sh

bench-netstack-go:
	$(GO) test -run XXX -bench . -benchtime 20000x ./netstack/

# The one JSON writer of every error body: a short fuzz run (its seeds run in go test).
# Fuzz budgets in make test are execution counts, not durations: with a duration, Go
# 1.26's fuzz coordinator can fail a clean run with "context deadline exceeded" at the
# deadline (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
TEST_TARGETS += fuzz-json-writer
.PHONY: fuzz-json-writer
fuzz-json-writer:
	$(GO) test -run '^$$' -fuzz '^FuzzAppendJSONString$$' -fuzztime 200000x ./netstack/http1/

# The HTTP/2 client state machine on arbitrary server frames: a short fuzz run
# (its seeds run in go test).
TEST_TARGETS += fuzz-h2client
.PHONY: fuzz-h2client
fuzz-h2client:
	$(GO) test -run '^$$' -fuzz '^FuzzConnServerFrames$$' -fuzztime 100000x ./netstack/h2client/
