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
	@if [ ! -d "$(POLICY_CORPUS)" ]; then echo "test-policy: corpus $(POLICY_CORPUS) absent, skipped"; exit 0; fi; \
	set -o pipefail; \
	$(GO) build -o $(BIN)/apimctl ./cmd/apimctl && \
	out="$$(mktemp)"; \
	( cd "$(POLICY_CORPUS)" && find examples -name '*.xml' -print0 | LC_ALL=C sort -z | xargs -0 "$(CURDIR)/$(BIN)/apimctl" policy check ) > "$$out"; rc=$$?; \
	if [ $$rc -ne 123 ]; then echo "test-policy: apimctl (through xargs) exited $$rc, want 123 = apimctl exit 1 (some corpus documents do not compile)"; rm -f "$$out"; exit 1; fi; \
	if ! diff -u <(sed '/^-\{20\}$$/,$$d' policy/testdata/corpus.golden) "$$out"; then echo "test-policy: apimctl report differs from policy/testdata/corpus.golden"; rm -f "$$out"; exit 1; fi; \
	rm -f "$$out"; echo "test-policy: apimctl policy check matches the corpus golden file"

bench-policy:
	$(GO) test -run '^$$' -bench 'HotPath|Baseline|Compile100|Expressions|ExpressionCompile' -benchmem -count 5 ./policy
