# HTTP/2 from clients (netstack/http2, netstack/h2.go; docs/netstack.md).
#
# test-go already runs TestH2Spec and TestHTTP2EndToEnd (appliance/gateway)
# with the real bin/apimgw; scripts/deps.sh test installs h2spec, and under
# CI a missing h2spec fails the test instead of skipping it. test-h2spec runs
# them again with h2spec required, and a short fuzz run of the state machine
# (its seeds run in go test).
TEST_TARGETS += test-h2spec fuzz-http2 test-h2-norace

.PHONY: test-h2spec fuzz-http2 test-h2-norace
test-h2spec: build
	./scripts/deps.sh test
	APIMGW_BIN=$(CURDIR)/$(BIN) APIMGW_H2SPEC_REQUIRE=1 $(GO) test -count=1 -run '^(TestH2Spec|TestHTTP2EndToEnd)$$' -v ./appliance/gateway

fuzz-http2:
	$(GO) test -run '^$$' -fuzz '^FuzzConn$$' -fuzztime 400000x ./netstack/http2/

# Memory per idle h2 connection (skipped under -race in test-go): must run and pass here.
test-h2-norace:
	@out=$$($(GO) test -count=1 -v -run '^TestH2IdleConnectionMemory$$' ./netstack 2>&1); rc=$$?; \
	grep -E '^(--- |ok|FAIL)|per idle' <<<"$$out"; \
	[ $$rc -eq 0 ] && grep -q '^--- PASS: TestH2IdleConnectionMemory ' <<<"$$out" || { echo "$$out" | tail -20; echo "test-h2-norace: TestH2IdleConnectionMemory did not run and pass"; exit 1; }

# h2load (64 streams over 8 TLS connections) through bin/apimgw beside nginx
# `listen ... ssl http2` + proxy_pass (deps group bench: nghttp2-client, nginx).
BENCH_TARGETS += bench-h2
.PHONY: bench-h2
bench-h2:
	./scripts/bench-h2.sh
