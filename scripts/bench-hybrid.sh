#!/usr/bin/env bash
# Hybrid-mode benchmark, run by `make bench` (issue 16): the gateway as it runs
# in production — synced from a running apimcp on the same box, telemetry
# uploading — beside nginx proxy_pass and HAProxy in front of the same nginx
# backend, in alternating rounds measured by wrk:
#   nginx           nginx proxy_pass with upstream keep-alive
#   haproxy         HAProxy 2.x, http mode, keep-alive to the backend
#   gw-standalone   bin/apimgw serving a snapshot file (config.local.path)
#   gw-cp-up        bin/apimgw synced from bin/apimcp, telemetry uploading
#   gw-cp-down      the same gateway with apimcp stopped (telemetry queued in
#                   bbolt); apimcp is restarted after the round and the backlog
#                   drained before the next round starts
#   gw-standalone-other, gw-cp-up-other
#                   the same two processes with their threads switched from
#                   SCHED_BATCH (process.scheduling=batch) to SCHED_OTHER with
#                   chrt -a for the round, and back after it: the A/B of the
#                   scheduling policy in one process, its sockets and minute
# The three gateway rows run the same pipeline: subscription key,
# rate-limit-by-key, set-header. CPU is user+system ticks of each process
# (apimcp's separately). Each round starts at the next row (rotate), and the
# ratios are given twice: of the medians, and paired by round (the median of
# each round's ratio; adjacent rows share this machine's drift). Then the same
# rows at a fixed rate (h2load --rps, below saturation): CPU and context
# switches per request, each process's own cost without the fight for the
# cores. After the rounds the control plane's report must
# count every request the hybrid gateway answered, exactly once: the script
# checks it and says so.
#
# Then the idle footprint: RSS (anonymous and file-backed) of a fresh gateway
# with 100 APIs x 20 operations loaded (idle, then at once after 20 more
# requests), beside nginx's, and of the hybrid
# gateway right after the rounds and after IDLE_WAIT seconds idle; and what
# each process (gateways, apimcp, nginx, HAProxy) spends in CPU and context
# switches over that idle wait.
#
# Environment: ROUNDS (5), DURATION (10s), CONNS (64), IDLE_WAIT (600);
# RATE_RPS (200 per connection), RATE_ROUNDS (ROUNDS; 0 skips the fixed-rate
# part), RATE_DURATION (DURATION's seconds);
# ROWS="gw-standalone gw-cp-up" runs only those rows (for profiles: PROFILE=DIR
# or TRACE=DIR then holds just their load); FOOTPRINT=0 skips the idle footprint;
# GW_CONF="key=value[\nkey=value]" adds env.conf lines to the gateways under
# test (e.g. GW_CONF=process.scheduling=inherit for the A/B of that key);
# WRK_CPU=N runs the load generators (wrk, h2load) on CPU N alone and
# everything else (proxies, backend, gateways, apimcp) on the other CPUs, so
# that the proxies do not share cores with the load (they start there, so
# each sizes itself to those CPUs: the gateway's loops and GOMAXPROCS,
# HAProxy's threads).
# CP_CPU=N runs apimcp on CPU N (CP_CPU=$WRK_CPU: apimcp off the servers'
# cores, as on its own box).
# PERF=DIR records each saturated round with perf (call graphs of every
# process on the servers' CPUs, kernel included) into DIR/ROW.rN.data, for
# `perf report --sort comm,dso,sym` side by side (needs WRK_CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${WRK_CPU:-}" ] && [ -z "${BENCH_PINNED:-}" ]; then
	others=$(python3 -c 'import os,sys; c=sorted(os.sched_getaffinity(0)-{int(sys.argv[1])}); print(",".join(map(str,c)))' "$WRK_CPU")
	[ -n "$others" ] || { echo "bench-hybrid: WRK_CPU=$WRK_CPU leaves no CPU for the servers" >&2; exit 1; }
	BENCH_PINNED=$others exec taskset -c "$others" "$0" "$@"
fi
LOAD=() # the load generators' prefix
[ -n "${WRK_CPU:-}" ] && LOAD=(taskset -c "$WRK_CPU")
CP_LAUNCH=() # apimcp's prefix: CP_CPU=N runs it on CPU N (with WRK_CPU: as if on another box)
[ -n "${CP_CPU:-}" ] && CP_LAUNCH=(taskset -c "$CP_CPU")
# CP_SCHED=idle runs apimcp under SCHED_IDLE (chrt -i 0): it gets a CPU only
# when no other thread wants it, so its ingest does not preempt the gateway or
# the load generators, as if it ran on its own box.
case "${CP_SCHED:-}" in
'') ;;
idle) CP_LAUNCH+=(chrt -i 0) ;;
*) echo "bench-hybrid: CP_SCHED=$CP_SCHED: only idle is known" >&2; exit 1 ;;
esac
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
IDLE_WAIT=${IDLE_WAIT:-600}
BIN=${BIN:-$PWD/bin} # BIN=DIR runs another build (e.g. an older commit) the same way
work=$(mktemp -d /tmp/apimgw-hybrid.XXXXXX)
pids=()
cleanup() {
	[ -n "${PERF_PID:-}" ] && kill -INT "$PERF_PID" 2>/dev/null || true
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.1; done; done
	[ -n "${CP_PID:-}" ] && kill "$CP_PID" 2>/dev/null || true
	for n in nginx-proxy nginx-backend haproxy; do
		[ -f "$work/$n.pid" ] && kill "$(cat "$work/$n.pid")" 2>/dev/null || true
	done
	sleep 0.3
	if [ -n "${TRACE:-}" ] && [ -x "$work/traceloops" ]; then
		# The gateways wrote their traces as they stopped.
		for t in hybrid standalone; do
			[ -s "$TRACE/$t.trace" ] || continue
			echo; echo "$t gateway, $TRACE/$t.trace (internal/traceloops):"
			"$work/traceloops" "$TRACE/$t.trace" || true
		done
	fi
	rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

. scripts/bench-lib.sh # free_port, nginx_conf, cpu_ticks, to_ms, median
wait_http() { for _ in $(seq 200); do curl -fs -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "bench-hybrid: $1 did not answer" >&2; return 1; }
BACKEND=$(free_port) NGINX=$(free_port) HAPROXY=$(free_port) CP=$(free_port)
GW_SA=$(free_port) GW_SA_STATUS=$(free_port) GW=$(free_port) GW_STATUS=$(free_port)

nginx_conf nginx-backend 1 "server { listen 127.0.0.1:$BACKEND; default_type application/json; location / { return 200 '{\"hello\":\"world\"}'; } }"
nginx_conf nginx-proxy 2 "upstream be { server 127.0.0.1:$BACKEND; keepalive 128; } server { listen 127.0.0.1:$NGINX; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto \$scheme; proxy_set_header X-Forwarded-Host \$host; } }"
cat >"$work/haproxy.cfg" <<HAP
global
	nbthread 2
	maxconn 4000
	pidfile $work/haproxy.pid
defaults
	mode http
	timeout connect 5s
	timeout client 120s
	timeout server 120s
	option http-keep-alive
	option forwardfor
	http-reuse always
frontend fe
	bind 127.0.0.1:$HAPROXY
	default_backend be
backend be
	server s1 127.0.0.1:$BACKEND
HAP
haproxy -D -f "$work/haproxy.cfg"
sleep 0.3

# The control plane and the API, set up with apimctl as a user would.
"${CP_LAUNCH[@]}" "$BIN/apimcp" --listen "127.0.0.1:$CP" --data "$work/apimcp" >"$work/apimcp.log" 2>&1 &
CP_PID=$!
for _ in $(seq 200); do [ -s "$work/apimcp/admin-token" ] && break; sleep 0.05; done
export APIMCTL_SERVER="http://127.0.0.1:$CP" APIMCTL_TOKEN
APIMCTL_TOKEN=$(cat "$work/apimcp/admin-token")
ctl() { "$BIN/apimctl" "$@" >/dev/null; }
POLICY='<policies><inbound><base/><rate-limit-by-key calls="1000000000" renewal-period="60" counter-key="@(context.Subscription.Id)"/><set-header name="X-Gateway" exists-action="override"><value>apimgw</value></set-header></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>'
echo "$POLICY" >"$work/policy.xml"
ctl api create bench --display-name Bench --path bench --service-url "http://127.0.0.1:$BACKEND" --subscription-required true
ctl operation create get --api bench --method GET --url-template / --display-name Get
ctl policies set --api bench --xml "$work/policy.xml"
ctl subscription create bench --display-name Bench --scope /apis
ctl gateway create gw1 --location bench
ctl gateway assign gw1 bench
KEY=$("$BIN/apimctl" -o json subscription keys bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["primaryKey"])')
TOKEN=$("$BIN/apimctl" -o json gateway token gw1 --expiry 720h | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])')
"$BIN/apimctl" gw export --gateway gw1 --out "$work/snapshot.json" >/dev/null

cat >"$work/hybrid.conf" <<CONF
config.service.endpoint=http://127.0.0.1:$CP
config.service.auth=GatewayKey $TOKEN
gateway.name=gw1
listen.http=127.0.0.1:$GW
listen.https=
status.listen=127.0.0.1:$GW_STATUS
store.path=$work/gw/apimgw.db
telemetry.logs.std=none
$(printf '%b' "${GW_CONF:-}")
CONF
cat >"$work/standalone.conf" <<CONF
config.local.path=$work/snapshot.json
listen.http=127.0.0.1:$GW_SA
listen.https=
status.listen=127.0.0.1:$GW_SA_STATUS
store.path=$work/sa/apimgw.db
telemetry.logs.std=none
$(printf '%b' "${GW_CONF:-}")
CONF
mkdir -p "$work/gw" "$work/sa"
# PROFILE=DIR: CPU profiles of both gateways (written when they stop) into DIR;
# TRACE=DIR: their execution traces (runtime/trace) likewise, and at the end
# what internal/traceloops reads in them: how long the event loops waited for
# a P and for the CPU, and what ran meanwhile.
[ -n "${TRACE:-}" ] && go build -o "$work/traceloops" ./internal/traceloops
APIMGW_CPUPROFILE=${PROFILE:+$PROFILE/hybrid.prof} APIMGW_TRACE=${TRACE:+$TRACE/hybrid.trace} "$BIN/apimgw" --config "$work/hybrid.conf" >"$work/gw.log" 2>&1 &
GW_PID=$!; pids+=($GW_PID)
APIMGW_CPUPROFILE=${PROFILE:+$PROFILE/standalone.prof} APIMGW_TRACE=${TRACE:+$TRACE/standalone.trace} "$BIN/apimgw" --config "$work/standalone.conf" >"$work/sa.log" 2>&1 &
SA_PID=$!; pids+=($SA_PID)
for p in "$GW" "$GW_SA"; do
	for _ in $(seq 200); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Ocp-Apim-Subscription-Key: $KEY" "http://127.0.0.1:$p/bench/")" = 200 ] && break
		sleep 0.05
	done
done

backlog() { curl -fsS "http://127.0.0.1:$GW_STATUS/status.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["telemetry"]["records"])'; }
drain() { # wait until the gateway's queue is empty (apimcp running)
	for _ in $(seq 600); do [ "$(backlog)" = 0 ] && return 0; sleep 0.1; done
	echo "bench-hybrid: backlog did not drain: $(backlog) records" >&2; return 1
}
start_cp() {
	"${CP_LAUNCH[@]}" "$BIN/apimcp" --listen "127.0.0.1:$CP" --data "$work/apimcp" >>"$work/apimcp.log" 2>&1 &
	CP_PID=$!
	for _ in $(seq 200); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$CP/apis")" != 000 ] && return 0; sleep 0.05; done
}

declare -A PORT PID URLPATH HDR
PORT[nginx]=$NGINX; PID[nginx]=$(cat "$work/nginx-proxy.pid"); URLPATH[nginx]=/; HDR[nginx]="X-Bench: 1"
PORT[haproxy]=$HAPROXY; PID[haproxy]=$(cat "$work/haproxy.pid"); URLPATH[haproxy]=/; HDR[haproxy]="X-Bench: 1"
PORT[gw-standalone]=$GW_SA; PID[gw-standalone]=$SA_PID; URLPATH[gw-standalone]=/bench/; HDR[gw-standalone]="Ocp-Apim-Subscription-Key: $KEY"
PORT[gw-cp-up]=$GW; PID[gw-cp-up]=$GW_PID; URLPATH[gw-cp-up]=/bench/; HDR[gw-cp-up]="Ocp-Apim-Subscription-Key: $KEY"
PORT[gw-cp-down]=$GW; PID[gw-cp-down]=$GW_PID; URLPATH[gw-cp-down]=/bench/; HDR[gw-cp-down]="Ocp-Apim-Subscription-Key: $KEY"
for n in gw-standalone gw-cp-up; do
	PORT[$n-other]=${PORT[$n]}; PID[$n-other]=${PID[$n]}; URLPATH[$n-other]=/bench/; HDR[$n-other]=${HDR[$n]}
done
names=(${ROWS:-nginx haproxy gw-standalone gw-cp-up gw-cp-down gw-standalone-other gw-cp-up-other})
# The gateways' threads' scheduling policy (process.scheduling; /proc stat field 41).
policies() { cat /proc/"$1"/task/*/stat 2>/dev/null | sed 's/.*) //' | awk '{print $39}' | sort -u | sed 's/^0$/other/; s/^3$/batch/; s/^5$/idle/' | paste -sd,; }
hz=$(getconf CLK_TCK)
for n in nginx haproxy gw-standalone gw-cp-up; do
	curl -fsS -H "${HDR[$n]}" "http://127.0.0.1:${PORT[$n]}${URLPATH[$n]}" >/dev/null || {
		echo "bench-hybrid: $n does not answer; the gateways' logs end:" >&2
		tail -n 15 "$work/gw.log" "$work/sa.log" "$work/apimcp.log" >&2
		exit 1
	}
	"${LOAD[@]}" wrk -t2 -c"$CONNS" -d2s -H "${HDR[$n]}" "http://127.0.0.1:${PORT[$n]}${URLPATH[$n]}" >/dev/null # warm-up
done
drain
# row_begin NAME / row_end NAME: cp-down's rounds run with apimcp stopped; it
# is started again after the round and the backlog drained before the next.
# The *-other rows switch the process's threads to SCHED_OTHER for the round
# and give them back the policy they had.
row_begin() {
	case $1 in
	gw-cp-down) kill "$CP_PID"; wait "$CP_PID" 2>/dev/null || true; sleep 0.5 ;;
	*-other) was=$(policies "${PID[$1]}"); chrt -a --other -p 0 "${PID[$1]}" >/dev/null ;;
	esac
}
row_end() {
	case $1 in
	gw-cp-down) start_cp; drain ;;
	*-other) chrt -a "--$was" -p 0 "${PID[$1]}" >/dev/null ;;
	esac
}
# perf_begin ROW ROUND / perf_end: PERF=DIR records the servers' CPUs for the round.
PERF_PID=
if [ -n "${PERF:-}" ]; then
	[ -n "${BENCH_PINNED:-}" ] || { echo "bench-hybrid: PERF=DIR needs WRK_CPU" >&2; exit 1; }
	mkdir -p "$PERF"
fi
perf_begin() {
	[ -n "${PERF:-}" ] || return 0
	"${LOAD[@]}" perf record -q -g -F 2999 -C "$BENCH_PINNED" -o "$PERF/$1.r$2.data" >/dev/null 2>&1 &
	PERF_PID=$!
	sleep 0.2
}
perf_end() {
	[ -n "$PERF_PID" ] || return 0
	kill -INT "$PERF_PID"; wait "$PERF_PID" 2>/dev/null || true
	PERF_PID=
}
# per_req TICKS REQUESTS SCALE: the CPU time of TICKS per request, times SCALE
# (1e5: seconds per 100k requests; 1e6: µs per request).
per_req() { awk -v d="$1" -v hz="$hz" -v n="$2" -v k="$3" 'BEGIN{printf "%.2f", d/hz/n*k}'; }
for r in $(seq "$ROUNDS"); do
	for n in $(rotate $((r - 1)) "${names[@]}"); do
		row_begin "$n"
		perf_begin "$n" "$r"
		t0=$(cpu_ticks "${PID[$n]}"); c0=$(cpu_ticks "$CP_PID"); m0=$(machine_jiffies); x0=$(machine_switches)
		out=$("${LOAD[@]}" wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "${HDR[$n]}" "http://127.0.0.1:${PORT[$n]}${URLPATH[$n]}")
		t1=$(cpu_ticks "${PID[$n]}"); c1=$(cpu_ticks "$CP_PID"); m1=$(machine_jiffies); x1=$(machine_switches)
		perf_end
		rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
		reqs=$(awk '/requests in/{print $1}' <<<"$out")
		errs=$(awk '/Socket errors|Non-2xx/{print}' <<<"$out")
		p50=$(to_ms "$(awk '$1=="50%"{print $2}' <<<"$out")")
		p99=$(to_ms "$(awk '$1=="99%"{print $2}' <<<"$out")")
		cpu=$(per_req $((t1 - t0)) "$reqs" 1e5)
		cpcpu=0
		if [ "$n" = gw-cp-up ]; then
			cpcpu=$(per_req $((c1 - c0)) "$reqs" 1e5)
		fi
		busy=$(busy_pct "$m0" "$m1")
		awk -v d=$((x1 - x0)) -v n="$reqs" 'BEGIN{printf "%.3f\n", d/n}' >>"$work/$n.mcs"
		echo "$rps" >>"$work/$n.rps"; echo "$p50" >>"$work/$n.p50"; echo "$p99" >>"$work/$n.p99"; echo "$cpu" >>"$work/$n.cpu"; echo "$cpcpu" >>"$work/$n.cpcpu"; echo "$busy" >>"$work/$n.busy"
		echo "round $r $n: $rps req/s p50 ${p50}ms p99 ${p99}ms cpu ${cpu}s/100k apimcp ${cpcpu}s/100k machine busy ${busy}% $errs" >&2
		row_end "$n"
	done
done

echo "| proxy | req/s (median of $ROUNDS) | p50 ms | p99 ms | CPU s per 100k req | apimcp CPU s per 100k | machine busy % | rounds (req/s) |"
echo "|---|---|---|---|---|---|---|---|"
for n in "${names[@]}"; do
	cp="—"; [ "$n" = gw-cp-up ] && cp=$(median <"$work/$n.cpcpu")
	echo "| $n | $(median <"$work/$n.rps") | $(median <"$work/$n.p50") | $(median <"$work/$n.p99") | $(median <"$work/$n.cpu") | $cp | $(median <"$work/$n.busy") | $(paste -sd' ' "$work/$n.rps") |"
done
echo
has() { [ -s "$work/$1.$2" ]; }
if has nginx rps; then
	for n in haproxy gw-standalone gw-cp-up gw-cp-down; do
		has "$n" rps || continue
		ratio_line "$n / nginx requests/s" "$work/$n.rps" "$work/nginx.rps"
		ratio_line "$n / nginx p99" "$work/$n.p99" "$work/nginx.p99"
	done
fi
for n in gw-standalone gw-cp-up; do
	has "$n" rps && has "$n-other" rps || continue
	ratio_line "$n as configured ($(policies "${PID[$n]}")) / SCHED_OTHER requests/s" "$work/$n.rps" "$work/$n-other.rps"
	ratio_line "$n as configured / SCHED_OTHER p99" "$work/$n.p99" "$work/$n-other.p99"
	ratio_line "$n as configured / SCHED_OTHER context switches per request (machine)" "$work/$n.mcs" "$work/$n-other.mcs"
done
has gw-cp-up cpu && has gw-cp-down cpu && ratio_line "gateway CPU per request, cp-up / cp-down" "$work/gw-cp-up.cpu" "$work/gw-cp-down.cpu"
has gw-cp-up cpu && has gw-standalone cpu && ratio_line "gateway CPU per request, cp-up / standalone" "$work/gw-cp-up.cpu" "$work/gw-standalone.cpu"

# At a fixed rate (h2load --rps, below what any row saturates at) the rows do
# not compete with the load generator for the two cores, so CPU per request
# is each process's own cost: the steadier measure of what hybrid mode adds.
# RATE_RPS requests/s per connection (CONNS connections), RATE_ROUNDS rounds
# (0 skips it) of RATE_DURATION each.
RATE_RPS=${RATE_RPS:-200}
RATE_ROUNDS=${RATE_ROUNDS:-$ROUNDS}
RATE_DURATION=${RATE_DURATION:-${DURATION%s}}
if [ "$RATE_ROUNDS" -gt 0 ]; then
	echo
	for r in $(seq "$RATE_ROUNDS"); do
		for n in $(rotate $((r - 1)) "${names[@]}"); do
			row_begin "$n"
			t0=$(cpu_ticks "${PID[$n]}"); c0=$(cpu_ticks "$CP_PID"); s0=$(switches "${PID[$n]}")
			out=$("${LOAD[@]}" h2load --h1 -c"$CONNS" -t1 --rps "$RATE_RPS" -D "$RATE_DURATION" -H "${HDR[$n]}" "http://127.0.0.1:${PORT[$n]}${URLPATH[$n]}" 2>&1)
			t1=$(cpu_ticks "${PID[$n]}"); c1=$(cpu_ticks "$CP_PID"); s1=$(switches "${PID[$n]}")
			reqs=$(awk '/^requests:/{print $8}' <<<"$out")
			[ "${reqs:-0}" -gt 0 ] || { echo "bench-hybrid: $n: no request succeeded at a fixed rate" >&2; echo "$out" >&2; exit 1; }
			cpu=$(per_req $((t1 - t0)) "$reqs" 1e6)
			cs=$(awk -v d=$((s1 - s0)) -v n="$reqs" 'BEGIN{printf "%.2f", d/n}')
			cpcpu=0
			[ "$n" = gw-cp-up ] && cpcpu=$(per_req $((c1 - c0)) "$reqs" 1e6)
			echo "$cpu" >>"$work/$n.fcpu"; echo "$cs" >>"$work/$n.fcs"; echo "$cpcpu" >>"$work/$n.fcpcpu"
			echo "fixed rate, round $r $n: $reqs requests, ${cpu} µs CPU and $cs context switches per request, apimcp ${cpcpu} µs" >&2
			row_end "$n"
		done
	done
	echo "At a fixed $((RATE_RPS * CONNS)) requests/s (h2load --h1 -c$CONNS --rps $RATE_RPS -D $RATE_DURATION, $RATE_ROUNDS rounds):"
	echo
	echo "| proxy | CPU µs per request (median) | context switches per request | apimcp CPU µs per request | rounds (CPU µs) |"
	echo "|---|---|---|---|---|"
	for n in "${names[@]}"; do
		cp="—"; [ "$n" = gw-cp-up ] && cp=$(median <"$work/$n.fcpcpu")
		echo "| $n | $(median <"$work/$n.fcpu") | $(median <"$work/$n.fcs") | $cp | $(paste -sd' ' "$work/$n.fcpu") |"
	done
	echo
	has gw-cp-up fcpu && has gw-standalone fcpu && ratio_line "fixed rate: gateway CPU per request, cp-up / standalone" "$work/gw-cp-up.fcpu" "$work/gw-standalone.fcpu"
	has gw-cp-up fcpu && has gw-cp-down fcpu && ratio_line "fixed rate: gateway CPU per request, cp-up / cp-down" "$work/gw-cp-up.fcpu" "$work/gw-cp-down.fcpu"
	has gw-standalone fcpu && has nginx fcpu && ratio_line "fixed rate: gateway CPU per request, standalone / nginx" "$work/gw-standalone.fcpu" "$work/nginx.fcpu"
fi

# Exactly once: every request the hybrid gateway answered (its own
# apimgw_requests_total, warm-up and probes included) is in apimcp's report,
# once: the two totals must be equal once the queue has drained.
drain
sleep 1
served=$(curl -fsS "http://127.0.0.1:$GW_STATUS/metrics" | awk '/^apimgw_requests_total\{/{s+=$NF} END{printf "%d", s}')
total=$("$BIN/apimctl" -o json report byApi | python3 -c 'import json,sys; v=json.load(sys.stdin)["value"]; print(sum(x["callCountTotal"] for x in v))')
if [ "$served" = "$total" ]; then
	echo "- telemetry exactly once: the hybrid gateway answered $served requests (warm-up and probes included); apimcp counts $total"
else
	echo "- telemetry MISMATCH: the hybrid gateway answered $served requests; apimcp counts $total" | tee /dev/stderr
fi
echo
pinning="load and servers share the cores"
[ -n "${WRK_CPU:-}" ] && pinning="load generators on CPU $WRK_CPU, servers on CPUs $BENCH_PINNED"
[ -n "${CP_CPU:-}" ] && pinning="$pinning, apimcp on CPU $CP_CPU"
echo "(machine: $(getconf _NPROCESSORS_ONLN) cores, $pinning; $(uname -m); wrk -t2 -c$CONNS -d$DURATION; $(nginx -v 2>&1 | sed 's/.*: //'); $(haproxy -v | head -1 | awk '{print $1, $3}'); gateway threads' scheduling: standalone $(policies "$SA_PID"), hybrid $(policies "$GW_PID"))"

[ "${FOOTPRINT:-1}" = 0 ] && exit 0

# Idle footprint.
rss_parts() { # pid [children]: "VmRSS RssAnon RssFile" in KiB, summed
	local p a=0 f=0 r=0
	for p in "$@" $(pgrep -P "$1" 2>/dev/null || true); do
		[ -r "/proc/$p/status" ] || continue
		r=$((r + $(awk '/^VmRSS:/{print $2}' "/proc/$p/status")))
		a=$((a + $(awk '/^RssAnon:/{print $2}' "/proc/$p/status")))
		f=$((f + $(awk '/^RssFile:/{print $2}' "/proc/$p/status")))
	done
	echo "$r $a $f"
}
row() { read -r r a f <<<"$2"; printf '| %s | %.1f | %.1f | %.1f |\n' "$1" "$(echo "$r/1024" | bc -l)" "$(echo "$a/1024" | bc -l)" "$(echo "$f/1024" | bc -l)"; }
python3 - "$BACKEND" >"$work/big.json" <<'PY'
import hashlib, json, sys
be = sys.argv[1]
digest = hashlib.sha256(b"bench-subscription-key-0123456789").hexdigest()
apis = []
for a in range(100):
    ops = [{"id": "op%d" % o, "displayName": "op%d" % o, "method": "GET", "urlTemplate": "/items%d/{id}" % o,
            "templateParameters": [{"name": "id"}],
            "policy": '<policies><inbound><base/><set-header name="X-Op" exists-action="override"><value>@(context.Operation.Name)</value></set-header></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>'}
           for o in range(20)]
    apis.append({"id": "api%d" % a, "path": "api%d" % a, "serviceUrl": "http://127.0.0.1:%s" % be, "protocols": ["http"],
                 "subscriptionRequired": True, "subscriptionKeyParameterNames": {"header": "", "query": ""},
                 "policy": '<policies><inbound><base/><rate-limit-by-key calls="1000000000" renewal-period="60" counter-key="@(context.Subscription.Id)"/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>',
                 "operations": ops})
print(json.dumps({"protocolVersion": 1, "version": 1, "generatedAt": "2026-01-01T00:00:00Z", "checksum": "", "apis": apis,
                  "products": [], "policyFragments": [], "namedValues": [], "backends": [],
                  "subscriptions": [{"id": "bench", "scope": "/apis", "state": "active", "primaryKeySha256": digest, "secondaryKeySha256": digest}]}))
PY
KEY_HDR="Ocp-Apim-Subscription-Key: bench-subscription-key-0123456789"
# big_gateway NAME [ENV=VALUE...]: starts a gateway on the 100 x 20 snapshot
# (its own store and ports), waits until it serves, sends one request and
# waits 2 s; sets BIG, BIG_STATUS and BIG_PID.
big_gateway() {
	local name=$1
	shift
	BIG=$(free_port) BIG_STATUS=$(free_port)
	mkdir -p "$work/$name"
	cat >"$work/$name.conf" <<CONF
config.local.path=$work/big.json
listen.http=127.0.0.1:$BIG
listen.https=
status.listen=127.0.0.1:$BIG_STATUS
store.path=$work/$name/apimgw.db
telemetry.logs.std=none
CONF
	env "$@" "$BIN/apimgw" --config "$work/$name.conf" >"$work/$name.log" 2>&1 &
	BIG_PID=$!
	pids+=($BIG_PID)
	for _ in $(seq 200); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$BIG/status-0123456789abcdef")" = 200 ] && break; sleep 0.05; done
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "$KEY_HDR" "http://127.0.0.1:$BIG/api99/items19/7")" = 200 ] ||
		{ echo "bench-hybrid: the 100x20 gateway ($name) does not answer" >&2; exit 1; }
	sleep 2
}
# more_requests: 20 requests to 20 operations of the big gateway, one after
# the other; prints the first one's time in ms (curl time_total).
more_requests() {
	local i t first=""
	for i in $(seq 20); do
		t=$(curl -s -o /dev/null -w '%{time_total}' -H "$KEY_HDR" "http://127.0.0.1:$BIG/api$((i % 100))/items$((i % 20))/7")
		[ -n "$first" ] || first=$t
	done
	echo "$first * 1000" | bc -l | xargs printf '%.2f'
}
big_gateway big
echo
echo "| process | RSS MiB | anonymous MiB | file-backed MiB |"
echo "|---|---|---|---|"
row "apimgw fresh, 100 APIs x 20 operations (standalone)" "$(rss_parts "$BIG_PID")"
big_pages=$(python3 scripts/binary-pages.py "$BIG_PID" 2>&1 || true) # printed after the table
big_heap=$(curl -fsS "http://127.0.0.1:$BIG_STATUS/metrics" | awk '/^go_memstats_alloc_bytes /{a=$2} /^go_memstats_heap_inuse_bytes /{u=$2} END{printf "live heap %.1f MiB, heap spans in use %.1f MiB", a/1048576, u/1048576}' || true)
# The same gateway at once after more requests: the code and data they use
# come back from the page cache (it released its executable's pages once
# start-up settled, docs/benchmarks.md "Idle footprint, fourth pass"). Then
# the same with a gateway that keeps them (APIMGW_KEEP_BINARY_PAGES=1), for
# what the release costs the first request after it.
first_released=$(more_requests)
row "apimgw fresh, at once after 20 more requests" "$(rss_parts "$BIG_PID")"
big_gateway keep APIMGW_KEEP_BINARY_PAGES=1
row "apimgw fresh, keeping its executable's pages (APIMGW_KEEP_BINARY_PAGES=1)" "$(rss_parts "$BIG_PID")"
first_kept=$(more_requests)
row "the same, at once after 20 more requests" "$(rss_parts "$BIG_PID")"
row "nginx proxy (master + 2 workers), after the rounds" "$(rss_parts "$(cat "$work/nginx-proxy.pid")")"
row "haproxy, after the rounds" "$(rss_parts "$(cat "$work/haproxy.pid")")"
row "apimgw hybrid, right after the rounds" "$(rss_parts "$GW_PID")"
row "apimcp, right after the rounds" "$(rss_parts "$CP_PID")"
# What idling costs, over the same wait: CPU and wake-ups (context switches)
# of each process, none of them serving a request.
idle_rows=("apimgw hybrid (control plane up)=$GW_PID" "apimcp=$CP_PID" "apimgw standalone, 100 x 20=$BIG_PID"
	"nginx proxy (master + 2 workers)=$(cat "$work/nginx-proxy.pid")" "haproxy=$(cat "$work/haproxy.pid")")
declare -A idle_t0 idle_s0
for e in "${idle_rows[@]}"; do idle_t0[$e]=$(cpu_ticks "${e##*=}") idle_s0[$e]=$(switches "${e##*=}"); done
sleep "$IDLE_WAIT"
row "apimgw hybrid, after ${IDLE_WAIT} s idle" "$(rss_parts "$GW_PID")"
row "apimcp, after ${IDLE_WAIT} s idle" "$(rss_parts "$CP_PID")"
echo
echo "Idle for those ${IDLE_WAIT} s (no requests):"
echo
echo "| process | CPU, % of one core | context switches per second |"
echo "|---|---|---|"
hz=$(getconf CLK_TCK)
for e in "${idle_rows[@]}"; do
	t=$(($(cpu_ticks "${e##*=}") - idle_t0[$e])) sw=$(($(switches "${e##*=}") - idle_s0[$e]))
	awk -v n="${e%=*}" -v t="$t" -v s="$sw" -v hz="$hz" -v w="$IDLE_WAIT" 'BEGIN{printf "| %s | %.2f | %.1f |\n", n, t/hz/w*100, s/w}'
done
echo
echo "The fresh gateway's own executable pages, resident by ELF section (scripts/binary-pages.py):"
echo
echo "$big_pages"
echo
echo "Its Go heap: $big_heap."
echo
echo "First of the 20 more requests (curl time_total, a new connection): ${first_released} ms after the release, ${first_kept} ms keeping the pages."
