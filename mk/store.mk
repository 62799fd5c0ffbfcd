# Store (issue 3) and env.conf (issue 6, envconf part). The crash test (20
# SIGKILLs of a real child), the lock, corrupt-file and disk-full tests run in
# the Go tests (`go test ./store/...`); the ENOSPC-on-tmpfs test needs root and
# skips itself otherwise. Here: a time-boxed fuzz run of the env.conf parser,
# and the store benchmarks for docs/benchmarks.md.
TEST_TARGETS += test-envconf-fuzz
BENCH_TARGETS += bench-store

.PHONY: test-envconf-fuzz bench-store

test-envconf-fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 100000x ./appliance/envconf/

# Group commit vs one transaction per record, in the same run; then the
# 1,000,000-record queue (file size, RSS, heap, reopen and drain times).
bench-store:
	$(GO) test -run '^$$' -bench '^Benchmark(Append|ReadAck)' -benchmem -count 1 ./store/
	$(GO) test -run '^$$' -bench '^BenchmarkQueue1M$$' -benchtime 1x ./store/
