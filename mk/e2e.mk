# End to end with the real binaries (appliance/gateway/walkthrough_test.go,
# chaos_test.go; docs/reliability.md).
#
# TestWalkthrough (the seeds' walkthrough, issue 6 steps 1-7: bin/apimcp,
# bin/apimgw, bin/apimctl and the sample backend process) runs in `make
# test-go` whenever python3 is there. test-e2e covers a machine without
# python3: it installs it and runs the walkthrough and TestRunScript then.
#
# `make chaos` (not part of `make test`: it takes minutes) keeps a steady load
# on apimgw while apimcp is killed and restarted, the link is cut by a TCP
# relay, and apimgw is SIGKILLed; it prints requests served and failed, and
# telemetry sent vs counted. CHAOS_DURATION=3m, CHAOS_RPS=300.
TEST_TARGETS += test-e2e

CHAOS_DURATION ?= 3m
CHAOS_RPS ?= 300

.PHONY: test-e2e chaos
test-e2e: build
	@if command -v python3 >/dev/null 2>&1; then \
		echo "test-e2e: python3 is here, so TestWalkthrough already ran in test-go"; \
	else \
		./scripts/deps.sh e2e && \
		APIMGW_BIN=$(CURDIR)/$(BIN) APIMGW_E2E_REQUIRE=1 $(GO) test -race -count=1 -run '^(TestWalkthrough|TestRunScript)$$' -v ./appliance/gateway; \
	fi

chaos: build
	./scripts/deps.sh e2e
	APIMGW_BIN=$(CURDIR)/$(BIN) APIMGW_E2E_REQUIRE=1 APIMGW_CHAOS=$(CHAOS_DURATION) APIMGW_CHAOS_RPS=$(CHAOS_RPS) \
		$(GO) test -count=1 -run '^TestChaos$$' -v -timeout 60m ./appliance/gateway
