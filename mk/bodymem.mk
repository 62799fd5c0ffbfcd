# Memory under buffered bodies (issue 12): bench-bodies sends 1,000 concurrent
# 256 KiB request bodies through set-body to the real apimgw binary and
# reports its resident memory (appliance/gateway/bodymem_test.go,
# TestBodyMemory; docs/benchmarks.md, "Memory under buffered bodies").
# BODYMEM_N changes the number of bodies.
BENCH_TARGETS += bench-bodies

BODYMEM_N ?= 1000

.PHONY: bench-bodies
bench-bodies: build
	APIMGW_BIN=$(CURDIR)/$(BIN) APIMGW_BODYMEM=1 APIMGW_BODYMEM_N=$(BODYMEM_N) \
		$(GO) test -count=1 -run '^TestBodyMemory$$' -v -timeout 10m ./appliance/gateway
