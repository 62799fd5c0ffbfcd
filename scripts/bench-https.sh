#!/usr/bin/env bash
# https-backend benchmark, run by `make bench`: the real apimgw binary
# (standalone snapshot, serviceUrl https://) beside nginx proxy_pass https://
# with proxy_ssl_session_reuse on and upstream keep-alive, both in front of
# the same nginx TLS backend (a certificate from a private CA both trust:
# apimgw through env.conf backend.tls.ca, nginx through
# proxy_ssl_trusted_certificate; both verify it). wrk drives plain HTTP to
# the proxies, in alternating rounds. Prints a Markdown table.
#
# Environment: ROUNDS (5), DURATION (10s), CONNS (64).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
. scripts/bench-lib.sh # free_port, nginx_conf, cpu_ticks, to_ms, median
bench_workdir bench-https

# A private CA and a backend certificate for IP 127.0.0.1 (apimgw's URL is
# https://127.0.0.1:port, checked against the IP) and DNS backend.test (what
# nginx checks and sends as SNI: it matches only DNS names).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=apimgw bench CA" \
	-keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=backend.test" \
	-keyout "$work/backend.key" -out "$work/backend.csr" 2>/dev/null
printf 'subjectAltName=DNS:backend.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$work/ext.cnf"
openssl x509 -req -in "$work/backend.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
	-extfile "$work/ext.cnf" -out "$work/backend.pem" 2>/dev/null

BACKEND=$(free_port)
NGINX=$(free_port)
nginx_conf nginx-backend 1 "server { listen 127.0.0.1:$BACKEND ssl; ssl_certificate $work/backend.pem; ssl_certificate_key $work/backend.key; ssl_session_cache shared:SSL:1m; default_type application/json; location / { return 200 '{\"hello\":\"world\"}'; } }"
nginx_conf nginx-proxy 2 "upstream be { server 127.0.0.1:$BACKEND; keepalive 128; } server { listen 127.0.0.1:$NGINX; location / { proxy_pass https://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_ssl_session_reuse on; proxy_ssl_verify on; proxy_ssl_name backend.test; proxy_ssl_server_name on; proxy_ssl_trusted_certificate $work/ca.pem; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto \$scheme; } }"
sleep 0.3

GATEWAY=$(free_port)
KEY=bench-subscription-key-0123456789
DIGEST=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
cat >"$work/snapshot.json" <<SNAP
{"protocolVersion": 1, "version": 1, "generatedAt": "2026-01-01T00:00:00Z", "checksum": "",
 "apis": [{"id": "bench", "path": "bench", "serviceUrl": "https://127.0.0.1:$BACKEND", "protocols": ["http"],
   "subscriptionRequired": true, "subscriptionKeyParameterNames": {"header": "", "query": ""},
   "operations": [{"id": "get", "method": "GET", "urlTemplate": "/"}]}],
 "products": [], "policyFragments": [], "namedValues": [], "backends": [],
 "subscriptions": [{"id": "bench", "scope": "/apis", "state": "active", "primaryKeySha256": "$DIGEST", "secondaryKeySha256": "$DIGEST"}]}
SNAP
cat >"$work/env.conf" <<CONF
config.local.path=$work/snapshot.json
listen.http=127.0.0.1:$GATEWAY
status.listen=127.0.0.1:$(free_port)
store.path=$work/apimgw.db
telemetry.logs.std=none
backend.tls.ca=$work/ca.pem
CONF
./bin/apimgw --config "$work/env.conf" &
pids+=($!)
GATEWAY_PID=$!
sleep 1


declare -A PORT PID URLPATH HDR
PORT[apimgw-gateway-https]=$GATEWAY; PID[apimgw-gateway-https]=$GATEWAY_PID; URLPATH[apimgw-gateway-https]=/bench; HDR[apimgw-gateway-https]="Ocp-Apim-Subscription-Key: $KEY"
PORT[nginx-https]=$NGINX; PID[nginx-https]=$(cat "$work/nginx-proxy.pid"); URLPATH[nginx-https]=/; HDR[nginx-https]="X-Bench: 1"
names=(apimgw-gateway-https nginx-https)
hz=$(getconf CLK_TCK)
for n in "${names[@]}"; do
	body=$(curl -fsS -H "${HDR[$n]}" "http://127.0.0.1:${PORT[$n]}${URLPATH[$n]}") || { echo "bench-https: $n does not answer" >&2; exit 1; }
	[ "$body" = '{"hello":"world"}' ] || { echo "bench-https: $n answered $body" >&2; exit 1; }
	wrk -t2 -c"$CONNS" -d2s -H "${HDR[$n]}" "http://127.0.0.1:${PORT[$n]}${URLPATH[$n]}" >/dev/null # warm-up
done
for r in $(seq "$ROUNDS"); do
	for n in "${names[@]}"; do
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

echo "| proxy (https backend) | req/s (median of $ROUNDS) | p50 ms | p99 ms | CPU s per 100k req (proxy only) | rounds (req/s) |"
echo "|---|---|---|---|---|---|"
for n in "${names[@]}"; do
	echo "| $n | $(median <"$work/$n.rps") | $(median <"$work/$n.p50") | $(median <"$work/$n.p99") | $(median <"$work/$n.cpu") | $(paste -sd' ' "$work/$n.rps") |"
done
awk -v a="$(median <"$work/apimgw-gateway-https.rps")" -v b="$(median <"$work/nginx-https.rps")" 'BEGIN{printf "\napimgw-gateway-https / nginx-https requests/s: %.2f\n", a/b}'
echo
echo "(machine: $(nproc) cores; $(uname -m); wrk -t2 -c$CONNS -d$DURATION; TLS 1.3 to an nginx backend on the same machine)"
