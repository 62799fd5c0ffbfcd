# backends: the gateway with an https backend beside nginx proxy_pass https://
# (needs nginx, wrk and openssl: deps group bench).
BENCH_TARGETS += bench-https

.PHONY: bench-https
bench-https:
	./scripts/bench-https.sh
