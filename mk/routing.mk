# routing: URL templates and the request path's allocation counts.
#
# test-allocs runs the allocation-count tests of the request path. `make
# test-go` runs with -race, under which the whole-pipeline ones skip
# themselves (the race detector allocates); here they run without it, so they
# are never skipped. bench-routing times template matching and the router.
TEST_TARGETS += test-allocs
BENCH_TARGETS += bench-routing

.PHONY: test-allocs bench-routing
test-allocs:
	@set -o pipefail; \
	$(GO) test -count=1 -run 'Alloc' -v ./appliance/ ./netstack/ ./wire/urltemplate/ | grep -E '^(--- |ok|FAIL|PASS)'

bench-routing:
	$(GO) test -run '^$$' -bench 'Match' -benchmem -count 3 ./wire/urltemplate/ ./appliance/
