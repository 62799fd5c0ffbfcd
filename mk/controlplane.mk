# Control plane (apimcp, apimctl, wire): its Go tests run in `make test-go`.
# `make bench` runs the fleet-scale bench below; figures go in the
# "Control plane" section of docs/benchmarks.md.
BENCH_TARGETS += bench-controlplane

.PHONY: bench-controlplane
bench-controlplane: build
	$(GO) run ./controlplane/cpbench --apimcp $(BIN)/apimcp --gateways 1000 --rounds 5 --batches 200
