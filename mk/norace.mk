# The non-race pass of `make test`. test-go runs everything with -race, and
# the race detector makes allocation counts and memory figures meaningless, so
# these tests skip themselves under -race (or, for the slow-peer tests, move
# 256 MiB instead of 1 GiB). test-norace runs exactly them without -race and
# fails unless every one of them ran and passed (a renamed test, or one that
# skipped itself, fails here rather than silently not running).
#
# NORACE: package=Test1,Test2 ...
TEST_TARGETS += test-norace

NORACE := \
	netstack=TestProxyFastPathAllocs,TestIdleConnectionMemory,TestSlowUpstreamUpload,TestSlowClientDownload \
	appliance=TestHandlerPipelineAllocs,TestHandlerPipelineAllocsTelemetry,TestRouterMatchAllocs \
	appliance/telemetry=TestOnDoneDoesNotAllocate \
	appliance/status=TestObserveDoesNotAllocate \
	policy=TestHotPathAllocations,TestQueryAndBackendURL \
	store=TestAppendDoesNotAllocate \
	wire/urltemplate=TestMatchAllocs

.PHONY: test-norace
test-norace: build
	@for e in $(NORACE); do \
		pkg=./$${e%%=*}; tests=$${e#*=}; \
		echo "test-norace: $$pkg $$tests"; \
		out=$$(APIMGW_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -timeout 10m -run "^($${tests//,/|})\$$" $$pkg 2>&1); rc=$$?; \
		grep -E '^(--- |ok|FAIL)|(parks|per idle|telemetry:)' <<<"$$out"; \
		if [ $$rc -ne 0 ]; then echo "$$out" | tail -40; echo "test-norace: $$pkg failed"; exit 1; fi; \
		for t in $${tests//,/ }; do \
			grep -q "^--- PASS: $$t " <<<"$$out" || { echo "test-norace: $$pkg $$t did not run and pass"; exit 1; }; \
		done; \
	done
