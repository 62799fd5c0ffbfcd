#!/usr/bin/env bash
# Proxy benchmark, run by `make bench`: in front of the same nginx backend
# returning a small JSON body, measured by wrk in alternating rounds:
#   apimgw-engine   the netstack engine alone, forwarding everything (fwd fixture)
#   apimgw-gateway  the real apimgw binary (standalone snapshot): route,
#                   subscription key check, rate-limit-by-key, set-header, forward
#   nginx           nginx proxy_pass with upstream keep-alive
# then CPU per request and memory per idle keep-alive connection. Everything
# listens on 127.0.0.1. Prints a Markdown report.
#
# Environment: ROUNDS (5), DURATION (10s), CONNS (64), IDLE (10000).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
IDLE=${IDLE:-10000}
work=$(mktemp -d /tmp/apimgw-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$work/nginx-proxy.pid" ] && kill "$(cat "$work/nginx-proxy.pid")" 2>/dev/null || true
	[ -f "$work/nginx-backend.pid" ] && kill "$(cat "$work/nginx-backend.pid")" 2>/dev/null || true
	sleep 0.3
	rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

. scripts/bench-lib.sh # free_port, nginx_conf, cpu_ticks, to_ms, median, rotate, ratio_line
BACKEND=$(free_port)
NGINX=$(free_port)

nginx_conf nginx-backend 1 "server { listen 127.0.0.1:$BACKEND; default_type application/json; location / { return 200 '{\"hello\":\"world\"}'; } }"
nginx_conf nginx-proxy 2 "upstream be { server 127.0.0.1:$BACKEND; keepalive 128; } server { listen 127.0.0.1:$NGINX; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto \$scheme; proxy_set_header X-Forwarded-Host \$host; } }"
sleep 0.3

go build -o "$work/fwd" ./netstack/internal/fwd
go build -o "$work/idleconns" ./netstack/internal/idleconns
APIMGW=$(free_port)
"$work/fwd" -listen "127.0.0.1:$APIMGW" -upstream "127.0.0.1:$BACKEND" -loops 2 >"$work/fwd.out" 2>&1 &
pids+=($!)
FWD_PID=$!
sleep 0.5

rss_kib() { # pid and children
	local total=0 p
	for p in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
		[ -r "/proc/$p/status" ] || continue
		total=$((total + $(awk '/^VmRSS:/{print $2}' "/proc/$p/status")))
	done
	echo "$total"
}

# The full gateway in standalone mode.
GATEWAY=$(free_port)
KEY=bench-subscription-key-0123456789
DIGEST=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
cat >"$work/snapshot.json" <<SNAP
{"protocolVersion": 1, "version": 1, "generatedAt": "2026-01-01T00:00:00Z", "checksum": "",
 "apis": [{"id": "bench", "path": "bench", "serviceUrl": "http://127.0.0.1:$BACKEND", "protocols": ["http"],
   "subscriptionRequired": true, "subscriptionKeyParameterNames": {"header": "", "query": ""},
   "operations": [{"id": "get", "method": "GET", "urlTemplate": "/",
     "policy": "<policies><inbound><base/><rate-limit-by-key calls=\"1000000000\" renewal-period=\"60\" counter-key=\"@(context.Subscription.Id)\"/><set-header name=\"X-Gateway\" exists-action=\"override\"><value>apimgw</value></set-header></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>"}]}],
 "products": [], "policyFragments": [], "namedValues": [], "backends": [],
 "subscriptions": [{"id": "bench", "scope": "/apis", "state": "active", "primaryKeySha256": "$DIGEST", "secondaryKeySha256": "$DIGEST"}]}
SNAP
cat >"$work/env.conf" <<CONF
config.local.path=$work/snapshot.json
listen.http=127.0.0.1:$GATEWAY
status.listen=127.0.0.1:$(free_port)
store.path=$work/apimgw.db
telemetry.logs.std=none
CONF
./bin/apimgw --config "$work/env.conf" &
pids+=($!)
GATEWAY_PID=$!
sleep 1

declare -A PORT PID URLPATH HDR
PORT[apimgw-engine]=$APIMGW; PID[apimgw-engine]=$FWD_PID; URLPATH[apimgw-engine]=/; HDR[apimgw-engine]="X-Bench: 1"
PORT[apimgw-gateway]=$GATEWAY; PID[apimgw-gateway]=$GATEWAY_PID; URLPATH[apimgw-gateway]=/bench; HDR[apimgw-gateway]="Ocp-Apim-Subscription-Key: $KEY"
PORT[nginx]=$NGINX; PID[nginx]=$(cat "$work/nginx-proxy.pid"); URLPATH[nginx]=/; HDR[nginx]="X-Bench: 1"
names=(apimgw-engine apimgw-gateway nginx)
hz=$(getconf CLK_TCK)
for n in "${names[@]}"; do
	curl -fsS -H "${HDR[$n]}" "http://127.0.0.1:${PORT[$n]}${URLPATH[$n]}" >/dev/null || { echo "bench: $n does not answer" >&2; exit 1; }
	wrk -t2 -c"$CONNS" -d2s -H "${HDR[$n]}" "http://127.0.0.1:${PORT[$n]}${URLPATH[$n]}" >/dev/null # warm-up
done
for r in $(seq "$ROUNDS"); do
	for n in $(rotate $((r - 1)) "${names[@]}"); do
		t0=$(cpu_ticks "${PID[$n]}")
		out=$(wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "${HDR[$n]}" "http://127.0.0.1:${PORT[$n]}${URLPATH[$n]}")
		t1=$(cpu_ticks "${PID[$n]}")
		rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
		reqs=$(awk '/requests in/{print $1}' <<<"$out")
		p50=$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
		p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
		errs=$(awk '/Non-2xx|Socket errors/{print}' <<<"$out")
		cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$reqs" 'BEGIN{printf "%.2f", d/hz/n*100000}')
		echo "$rps" >>"$work/$n.rps"; echo "$p50" >>"$work/$n.p50"; echo "$p99" >>"$work/$n.p99"; echo "$cpu" >>"$work/$n.cpu"
		echo "round $r $n: $rps req/s p50 ${p50}ms p99 ${p99}ms cpu ${cpu}s/100k $errs" >&2
	done
done

echo "| proxy | req/s (median of $ROUNDS) | p50 ms | p99 ms | CPU s per 100k req | rounds (req/s) |"
echo "|---|---|---|---|---|---|"
for n in "${names[@]}"; do
	echo "| $n | $(median <"$work/$n.rps") | $(median <"$work/$n.p50") | $(median <"$work/$n.p99") | $(median <"$work/$n.cpu") | $(paste -sd' ' "$work/$n.rps") |"
done
echo
for n in "${names[@]}"; do
	[ "$n" = nginx ] && continue
	ratio_line "$n / nginx requests/s" "$work/$n.rps" "$work/nginx.rps"
	ratio_line "$n / nginx CPU per request" "$work/$n.cpu" "$work/nginx.cpu"
done

echo
echo "| proxy | RSS before | RSS with $IDLE idle keep-alive conns | per connection |"
echo "|---|---|---|---|"
for n in "${names[@]}"; do
	before=$(rss_kib "${PID[$n]}")
	coproc IC { "$work/idleconns" -addr "127.0.0.1:${PORT[$n]}" -n "$IDLE" -path "/"; }
	read -r line <&"${IC[0]}"
	sleep 1
	after=$(rss_kib "${PID[$n]}")
	exec {IC[1]}>&-
	wait "$IC_PID" 2>/dev/null || true
	awk -v n="$n" -v b="$before" -v a="$after" -v c="$IDLE" 'BEGIN{printf "| %s | %d KiB | %d KiB | %.0f B |\n", n, b, a, (a-b)*1024/c}'
	sleep 1
done
echo
echo "(machine: $(nproc) cores; $(uname -m); wrk -t2 -c$CONNS -d$DURATION; kernel socket memory is not in RSS and not counted)"
