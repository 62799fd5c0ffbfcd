# Memory under buffered bodies (issue 12): bench-bodies sends 1,000 concurrent
# 256 KiB request bodies through set-body to the real apimgw binary and
# reports its resident memory, the Go heap and the body budget
# (appliance/gateway/bodymem_test.go, TestBodyMemory; docs/benchmarks.md,
# "Memory under buffered bodies"). BODYMEM_N changes the number of bodies,
# BODYMEM_BUDGET sets env.conf policy.body.max-total-bytes (empty: the
# default), BODYMEM_GOMEMLIMIT the daemon's GOMEMLIMIT (default the systemd
# unit's 256MiB; off for none).
BENCH_TARGETS += bench-bodies

BODYMEM_N ?= 1000
BODYMEM_BUDGET ?=
BODYMEM_GOMEMLIMIT ?= 256MiB

.PHONY: bench-bodies
bench-bodies: build
	APIMGW_BIN=$(CURDIR)/$(BIN) APIMGW_BODYMEM=1 APIMGW_BODYMEM_N=$(BODYMEM_N) \
		APIMGW_BODYMEM_BUDGET=$(BODYMEM_BUDGET) APIMGW_BODYMEM_GOMEMLIMIT=$(BODYMEM_GOMEMLIMIT) \
		$(GO) test -count=1 -run '^TestBodyMemory$$' -v -timeout 10m ./appliance/gateway
