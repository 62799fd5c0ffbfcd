# netstack: the proxy engine beside nginx (needs nginx and wrk: deps group bench).
BENCH_TARGETS += bench-proxy bench-netstack-go

.PHONY: bench-proxy bench-netstack-go
bench-proxy:
	./scripts/bench-proxy.sh

bench-netstack-go:
	$(GO) test -run XXX -bench . -benchtime 20000x ./netstack/
