#!/usr/bin/env bash
# What the telemetry queue's group commit costs the gateway, run by `make
# bench` (issue 16): CPU and context switches per request at a fixed request
# rate (h2load --h1 --rps, so the machine is not saturated and the rows do not
# fight over the cores), in alternating rounds in front of one nginx backend:
#   nginx           nginx proxy_pass with upstream keep-alive
#   engine          the netstack engine alone (netstack/internal/fwd)
#   gw-commit-10ms  bin/apimgw standalone, no policies, telemetry.queue.commit-interval=10ms
#   gw-commit-100ms the same with 100ms (the default)
# Every commit is a bbolt write transaction with two fdatasyncs; the Go
# runtime takes the P back from a goroutine blocked that long and its sysmon
# then polls every 20 µs for a while, so the commit rate shows up as context
# switches and CPU of the whole process, not only of the committer.
#
# Context switches are the threads' voluntary + involuntary switches from
# /proc/PID/task/*/status (no perf needed); CPU is user+system ticks.
#
# Environment: ROUNDS (5), DURATION (8 seconds), CLIENTS (64), RPS (100 per
# client, so 6,400 requests/s); BIN=DIR runs another build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8}
CLIENTS=${CLIENTS:-64}
RPS=${RPS:-100}
BIN=${BIN:-$PWD/bin}
. scripts/bench-lib.sh # free_port, nginx_conf, cpu_ticks, median
bench_workdir commit

BACKEND=$(free_port) NGINX=$(free_port) ENGINE=$(free_port) GW10=$(free_port) GW100=$(free_port)
nginx_conf nginx-backend 1 "server { listen 127.0.0.1:$BACKEND; default_type application/json; location / { return 200 '{\"hello\":\"world\"}'; } }"
nginx_conf nginx-proxy 2 "upstream be { server 127.0.0.1:$BACKEND; keepalive 128; } server { listen 127.0.0.1:$NGINX; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto \$scheme; proxy_set_header X-Forwarded-Host \$host; } }"
go build -o "$work/fwd" ./netstack/internal/fwd
"$work/fwd" -listen "127.0.0.1:$ENGINE" -upstream "127.0.0.1:$BACKEND" -loops 2 >"$work/fwd.out" 2>&1 &
pids+=($!); ENGINE_PID=$!

cat >"$work/snapshot.json" <<JSON
{"protocolVersion": 1, "version": 1, "generatedAt": "2026-01-01T00:00:00Z", "checksum": "",
 "apis": [{"id": "bench", "path": "bench", "serviceUrl": "http://127.0.0.1:$BACKEND", "protocols": ["http"],
           "subscriptionRequired": false, "subscriptionKeyParameterNames": {"header": "", "query": ""},
           "operations": [{"id": "get", "displayName": "Get", "method": "GET", "urlTemplate": "/"}]}],
 "products": [], "policyFragments": [], "namedValues": [], "backends": [], "subscriptions": []}
JSON
gateway() { # name port commit-interval
	mkdir -p "$work/$1"
	cat >"$work/$1.conf" <<CONF
config.local.path=$work/snapshot.json
listen.http=127.0.0.1:$2
listen.https=
status.listen=127.0.0.1:$(free_port)
store.path=$work/$1/apimgw.db
telemetry.logs.std=none
telemetry.queue.commit-interval=$3
CONF
	"$BIN/apimgw" --config "$work/$1.conf" >"$work/$1.log" 2>&1 &
	pids+=($!)
}
gateway gw10 "$GW10" 10ms; GW10_PID=$!
gateway gw100 "$GW100" 100ms; GW100_PID=$!

declare -A PORT PID URLPATH
PORT[nginx]=$NGINX; PID[nginx]=$(cat "$work/nginx-proxy.pid"); URLPATH[nginx]=/
PORT[engine]=$ENGINE; PID[engine]=$ENGINE_PID; URLPATH[engine]=/
PORT[gw-commit-10ms]=$GW10; PID[gw-commit-10ms]=$GW10_PID; URLPATH[gw-commit-10ms]=/bench/
PORT[gw-commit-100ms]=$GW100; PID[gw-commit-100ms]=$GW100_PID; URLPATH[gw-commit-100ms]=/bench/
names=(nginx engine gw-commit-10ms gw-commit-100ms)
for n in "${names[@]}"; do
	for _ in $(seq 200); do curl -fs -o /dev/null "http://127.0.0.1:${PORT[$n]}${URLPATH[$n]}" && break; sleep 0.05; done
	curl -fsS -o /dev/null "http://127.0.0.1:${PORT[$n]}${URLPATH[$n]}" || { echo "bench-commit: $n does not answer" >&2; exit 1; }
done

hz=$(getconf CLK_TCK)
for r in $(seq "$ROUNDS"); do
	for n in "${names[@]}"; do
		p=${PID[$n]}
		t0=$(cpu_ticks "$p"); s0=$(switches "$p")
		out=$(h2load --h1 -c"$CLIENTS" -t1 --rps "$RPS" -D "$DURATION" -H "X-Bench: 1" "http://127.0.0.1:${PORT[$n]}${URLPATH[$n]}" 2>&1)
		t1=$(cpu_ticks "$p"); s1=$(switches "$p")
		reqs=$(awk '/^requests:/{print $8}' <<<"$out")
		[ "${reqs:-0}" -gt 0 ] || { echo "bench-commit: $n: no request succeeded" >&2; echo "$out" >&2; exit 1; }
		cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$reqs" 'BEGIN{printf "%.1f", d/hz/n*1e6}')
		cs=$(awk -v d=$((s1 - s0)) -v n="$reqs" 'BEGIN{printf "%.2f", d/n}')
		echo "$cpu" >>"$work/$n.cpu"; echo "$cs" >>"$work/$n.cs"
		echo "round $r $n: $reqs requests, ${cpu} µs CPU and $cs context switches per request" >&2
	done
done

echo "| row | CPU µs per request (median of $ROUNDS) | context switches per request | rounds (CPU µs) |"
echo "|---|---|---|---|"
for n in "${names[@]}"; do
	echo "| $n | $(median <"$work/$n.cpu") | $(median <"$work/$n.cs") | $(paste -sd' ' "$work/$n.cpu") |"
done
echo
awk -v a="$(median <"$work/gw-commit-10ms.cpu")" -v b="$(median <"$work/gw-commit-100ms.cpu")" -v n="$(median <"$work/nginx.cpu")" \
	'BEGIN{printf "- gateway CPU per request, commit 10 ms / 100 ms: %.2f×; 100 ms / nginx: %.2f×\n", a/b, b/n}'
echo
echo "(machine: $(nproc) cores; $(uname -m); h2load --h1 -c$CLIENTS --rps $RPS (per client) -D $DURATION; $(nginx -v 2>&1 | sed 's/.*: //'))"
