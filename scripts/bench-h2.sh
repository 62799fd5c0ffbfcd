#!/usr/bin/env bash
# HTTP/2 benchmark, run by `make bench` (mk/http2.mk): h2load (Debian's
# nghttp2-client) drives 64 concurrent streams over 8 TLS connections (-c8
# -m8, ALPN h2) to the real apimgw binary (standalone snapshot: subscription
# key check, a set-header policy, HTTP/1.1 upstream) and, in the same run
# with alternating rounds, to nginx `listen ... ssl http2` + proxy_pass with
# upstream keep-alive; both in front of the same nginx HTTP/1.1 backend.
# Prints a Markdown table: req/s, p50/p99 (from h2load's per-request log),
# CPU of the proxy per 100k requests.
#
# Then memory per idle h2 connection beside nginx's.
#
# Environment: ROUNDS (5), REQUESTS (100000 per round), IDLE (2000).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
REQUESTS=${REQUESTS:-100000}
. scripts/bench-lib.sh # free_port, nginx_conf, cpu_ticks, median
bench_workdir bench-h2
command -v h2load >/dev/null || { echo "bench-h2: h2load is missing (scripts/deps.sh bench installs nghttp2-client)" >&2; exit 1; }

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=127.0.0.1" \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

BACKEND=$(free_port)
NGINX=$(free_port)
nginx_conf nginx-backend 1 "server { listen 127.0.0.1:$BACKEND; default_type application/json; location / { return 200 '{\"hello\":\"world\"}'; } }"
nginx_conf nginx-proxy 2 "upstream be { server 127.0.0.1:$BACKEND; keepalive 128; } server { listen 127.0.0.1:$NGINX ssl http2; ssl_certificate $work/cert.pem; ssl_certificate_key $work/key.pem; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_set_header X-Policy 'set'; proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for; proxy_set_header X-Forwarded-Proto \$scheme; } }"
sleep 0.3

GATEWAY=$(free_port)
KEY=bench-subscription-key-0123456789
DIGEST=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
cat >"$work/snapshot.json" <<SNAP
{"protocolVersion": 1, "version": 1, "generatedAt": "2026-01-01T00:00:00Z", "checksum": "",
 "apis": [{"id": "bench", "path": "bench", "serviceUrl": "http://127.0.0.1:$BACKEND", "protocols": ["https"],
   "subscriptionRequired": true, "subscriptionKeyParameterNames": {"header": "", "query": ""},
   "policy": "<policies><inbound><base/><set-header name=\"X-Policy\" exists-action=\"override\"><value>set</value></set-header></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>",
   "operations": [{"id": "get", "method": "GET", "urlTemplate": "/"}]}],
 "products": [], "policyFragments": [], "namedValues": [], "backends": [],
 "subscriptions": [{"id": "bench", "scope": "/apis", "state": "active", "primaryKeySha256": "$DIGEST", "secondaryKeySha256": "$DIGEST"}]}
SNAP
cat >"$work/env.conf" <<CONF
config.local.path=$work/snapshot.json
listen.http=127.0.0.1:$(free_port)
listen.https=127.0.0.1:$GATEWAY
listen.https.certificate=$work/cert.pem
listen.https.key=$work/key.pem
status.listen=127.0.0.1:$(free_port)
store.path=$work/apimgw.db
telemetry.logs.std=none
CONF
./bin/apimgw --config "$work/env.conf" &
pids+=($!)
GATEWAY_PID=$!
sleep 1

declare -A URL PID
URL[apimgw-gateway-h2]="https://127.0.0.1:$GATEWAY/bench"; PID[apimgw-gateway-h2]=$GATEWAY_PID
URL[nginx-h2]="https://127.0.0.1:$NGINX/"; PID[nginx-h2]=$(cat "$work/nginx-proxy.pid")
names=(apimgw-gateway-h2 nginx-h2)
hz=$(getconf CLK_TCK)
H2LOAD=(h2load -c8 -m8 -t2 -H "Ocp-Apim-Subscription-Key: $KEY")
for n in "${names[@]}"; do
	body=$(curl -fsS -k --http2 -H "Ocp-Apim-Subscription-Key: $KEY" "${URL[$n]}") || { echo "bench-h2: $n does not answer" >&2; exit 1; }
	[ "$body" = '{"hello":"world"}' ] || { echo "bench-h2: $n answered $body" >&2; exit 1; }
	"${H2LOAD[@]}" -n 20000 "${URL[$n]}" >/dev/null # warm-up
done
for r in $(seq "$ROUNDS"); do
	for n in "${names[@]}"; do
		t0=$(cpu_ticks "${PID[$n]}")
		out=$("${H2LOAD[@]}" -n "$REQUESTS" --log-file="$work/$n.log" "${URL[$n]}")
		t1=$(cpu_ticks "${PID[$n]}")
		grep -q "^requests: $REQUESTS total, $REQUESTS started, $REQUESTS done, $REQUESTS succeeded" <<<"$out" ||
			{ echo "bench-h2: $n: not every request succeeded:" >&2; grep -E '^(requests|status codes):' <<<"$out" >&2; exit 1; }
		rps=$(awk '/^finished in/{gsub(/,/,"",$4); printf "%.0f", $4}' <<<"$out")
		read -r p50 p99 < <(cut -f3 "$work/$n.log" | sort -n | awk '{a[NR]=$1} END{printf "%.2f %.2f\n", a[int(NR*0.5)]/1000, a[int(NR*0.99)]/1000}')
		cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$REQUESTS" 'BEGIN{printf "%.2f", d/hz/n*100000}')
		echo "$rps" >>"$work/$n.rps"; echo "$p50" >>"$work/$n.p50"; echo "$p99" >>"$work/$n.p99"; echo "$cpu" >>"$work/$n.cpu"
		echo "round $r $n: $rps req/s p50 ${p50}ms p99 ${p99}ms cpu ${cpu}s/100k" >&2
	done
done

echo "| proxy (h2 from clients, HTTP/1.1 upstream) | req/s (median of $ROUNDS) | p50 ms | p99 ms | CPU s per 100k req (proxy only) | rounds (req/s) |"
echo "|---|---|---|---|---|---|"
for n in "${names[@]}"; do
	echo "| $n | $(median <"$work/$n.rps") | $(median <"$work/$n.p50") | $(median <"$work/$n.p99") | $(median <"$work/$n.cpu") | $(paste -sd' ' "$work/$n.rps") |"
done
awk -v a="$(median <"$work/apimgw-gateway-h2.rps")" -v b="$(median <"$work/nginx-h2.rps")" 'BEGIN{printf "\napimgw-gateway-h2 / nginx-h2 requests/s: %.2f\n", a/b}'
echo
echo "(machine: $(nproc) cores; $(uname -m); h2load -c8 -m8 -t2 -n$REQUESTS: 64 streams over 8 TLS connections; HTTP/1.1 keep-alive to an nginx backend on the same machine)"

# Memory per idle h2 connection: IDLE TLS connections (ALPN h2), one request
# each, then held; the growth of the proxy's RSS (nginx: master and workers)
# divided by IDLE. Kernel socket memory is not in RSS, for either.
IDLE=${IDLE:-2000}
cat >"$work/idle.py" <<'PY'
import socket, ssl, sys, time
port, n, path, key, hold = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["h2"])
def lit(idx, val):  # literal without indexing, indexed name (RFC 7541 6.2.2)
    v = val.encode(); return bytes([idx, len(v)]) + v
name, v = b"ocp-apim-subscription-key", key.encode()
block = bytes([0x82, 0x87]) + lit(4, path) + lit(1, "127.0.0.1") + bytes([0, len(name)]) + name + bytes([len(v)]) + v
def frame(t, flags, sid, payload): return len(payload).to_bytes(3, "big") + bytes([t, flags]) + sid.to_bytes(4, "big") + payload
req = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b"") + frame(4, 1, 0, b"") + frame(1, 5, 1, block)
conns = []
for i in range(n):
    t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    assert t.selected_alpn_protocol() == "h2", "no h2"
    t.sendall(req)
    buf, done = b"", False
    while not done:
        chunk = t.recv(65536)
        assert chunk, "closed"
        buf += chunk
        while len(buf) >= 9:
            ln = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + ln: break
            typ, flags, sid = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7fffffff
            assert typ not in (3, 7), "reset or goaway"
            if sid == 1 and typ in (0, 1) and flags & 1: done = True
            buf = buf[9 + ln:]
    conns.append(t)
print("open", len(conns), flush=True)
time.sleep(hold)
PY
rss_kib() { local total=0 p; for p in "$@" $(pgrep -P "$1" 2>/dev/null || true); do total=$((total + $(awk '/^VmRSS:/{print $2}' "/proc/$p/status"))); done; echo "$total"; }
declare -A IDLEPORT IDLEPATH
IDLEPORT[apimgw-gateway-h2]=$GATEWAY; IDLEPATH[apimgw-gateway-h2]=/bench
IDLEPORT[nginx-h2]=$NGINX; IDLEPATH[nginx-h2]=/
echo
echo "| proxy | idle h2 connections (TLS) | RSS before KiB | RSS with them KiB | per connection |"
echo "|---|---|---|---|---|"
for n in "${names[@]}"; do
	before=$(rss_kib "${PID[$n]}")
	python3 "$work/idle.py" "${IDLEPORT[$n]}" "$IDLE" "${IDLEPATH[$n]}" "$KEY" 8 >"$work/idle-$n.out" &
	ipid=$!
	for _ in $(seq 600); do grep -q '^open' "$work/idle-$n.out" 2>/dev/null && break; kill -0 "$ipid" 2>/dev/null || break; sleep 0.2; done
	grep -q '^open' "$work/idle-$n.out" || { echo "bench-h2: idle connections to $n failed" >&2; wait "$ipid" || true; exit 1; }
	sleep 2
	with=$(rss_kib "${PID[$n]}")
	wait "$ipid" || true
	awk -v n="$n" -v c="$IDLE" -v b="$before" -v w="$with" 'BEGIN{printf "| %s | %d | %d | %d | %.1f KiB |\n", n, c, b, w, (w-b)/c}'
done
