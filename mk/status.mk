# Status page (issue 7): the tests that need tools installed here — promtool
# (Debian's prometheus) for `promtool check metrics` and a real headless
# Chromium that renders the page. go test skips them when the tools are
# missing; this target installs them and makes a missing tool a failure.
TEST_TARGETS += test-status

.PHONY: test-status status-screenshot

test-status:
	./scripts/deps.sh status
	APIMGW_REQUIRE_TOOLS=1 $(GO) test -count=1 -run 'Promtool|Chromium' -v ./appliance/status/ | grep -E '^(=== RUN|--- |ok|FAIL|PASS)'; exit $${PIPESTATUS[0]}

# Regenerates docs/status.png from the Chromium test's fake gateway.
status-screenshot:
	./scripts/deps.sh status
	APIMGW_REQUIRE_TOOLS=1 APIMGW_STATUS_SCREENSHOT=$(CURDIR)/docs/status.png $(GO) test -count=1 -run Chromium ./appliance/status/

# The per-request status counters (docs/benchmarks.md, "What else costs under load").
BENCH_TARGETS += bench-status
.PHONY: bench-status
bench-status:
	$(GO) test -run '^$$' -bench 'Observe' -benchmem -count 3 ./appliance/status/
