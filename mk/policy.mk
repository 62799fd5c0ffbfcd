# policy: the APIM policy language (policy/, `apimctl policy check`).
#
# test-policy runs the real apimctl binary over the shared APIM policy corpus
# (../shared/corpus/apim-policy-snippets, read in place) and compares its report
# with the golden file the Go test keeps (policy/testdata/corpus.golden).
# bench-policy runs the policy hot-path and compile benchmarks.
TEST_TARGETS += test-policy
BENCH_TARGETS += bench-policy

POLICY_CORPUS ?= $(abspath $(CURDIR)/../shared/corpus/apim-policy-snippets)

.PHONY: test-policy bench-policy
test-policy:
	@if [ ! -d "$(POLICY_CORPUS)" ]; then \
		if [ -n "$$CI" ]; then echo "test-policy: corpus $(POLICY_CORPUS) absent and CI is set: failing (put ../shared beside the checkout)"; exit 1; fi; \
		echo "test-policy: NOT TESTED: corpus $(POLICY_CORPUS) absent"; exit 0; fi; \
	set -o pipefail; \
	CGO_ENABLED=0 $(GO) build -o $(BIN)/apimctl ./cmd/apimctl && \
	out="$$(mktemp)"; \
	( cd "$(POLICY_CORPUS)" && find examples -name '*.xml' -print0 | LC_ALL=C sort -z | xargs -0 "$(CURDIR)/$(BIN)/apimctl" policy check ) > "$$out"; rc=$$?; \
	if [ $$rc -ne 123 ]; then echo "test-policy: apimctl (through xargs) exited $$rc, want 123 = apimctl exit 1 (some corpus documents do not compile)"; rm -f "$$out"; exit 1; fi; \
	if ! diff -u <(sed '/^-\{20\}$$/,$$d' policy/testdata/corpus.golden) "$$out"; then echo "test-policy: apimctl report differs from policy/testdata/corpus.golden"; rm -f "$$out"; exit 1; fi; \
	rm -f "$$out"; echo "test-policy: apimctl policy check matches the corpus golden file"

bench-policy:
	$(GO) test -run '^$$' -bench 'HotPath|Baseline|Compile100|Expressions|ExpressionCompile|ManagedIdentityCached|ValidateContent' -benchmem -count 5 ./policy
	$(GO) test -run '^$$' -bench 'BufferedBody' -benchmem -benchtime 300x -count 3 ./appliance
