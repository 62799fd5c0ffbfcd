#!/usr/bin/env bash
# make run: a control plane (apimcp), a gateway (apimgw) and a sample backend on
# loopback, wired together the way the Azure self-hosted gateway walkthrough
# does it: an API "hybrid" with GET /test, a product with a subscription, a
# gateway gw1 with its token in env.conf. Prints what to try; Ctrl-C stops all.
# State lives in .run/ (delete it to start afresh).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin
RUN=$PWD/.run
mkdir -p "$RUN"
CP_PORT=${CP_PORT:-18443} GW_PORT=${GW_PORT:-18080} STATUS_PORT=${STATUS_PORT:-18090} BE_PORT=${BE_PORT:-18081}
pids=()
cleanup() {
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	echo "stopped (state kept in .run/)"
}
trap cleanup EXIT INT TERM

wait_http() { # url
	for _ in $(seq 100); do curl -fs -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "run.sh: $1 did not answer" >&2
	return 1
}

python3 scripts/sample-backend.py "$BE_PORT" &
pids+=($!)
wait_http "http://127.0.0.1:$BE_PORT/" || { echo "run.sh: port $BE_PORT busy? set BE_PORT, CP_PORT, GW_PORT, STATUS_PORT" >&2; exit 1; }
"$BIN/apimcp" --listen "127.0.0.1:$CP_PORT" --data "$RUN/apimcp" >"$RUN/apimcp.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$RUN/apimcp/admin-token" ] && break; sleep 0.1; done
export APIMCTL_SERVER="http://127.0.0.1:$CP_PORT" APIMCTL_TOKEN
APIMCTL_TOKEN=$(cat "$RUN/apimcp/admin-token")
ctl() { "$BIN/apimctl" "$@" >/dev/null; }
ctl api create hybrid --display-name "Hybrid demo" --path hybrid --service-url "http://127.0.0.1:$BE_PORT" --subscription-required true
ctl operation create test --api hybrid --method GET --url-template /test --display-name "Test call"
ctl product create unlimited --display-name Unlimited --state published --subscription-required true
ctl product add-api unlimited hybrid
ctl subscription get demo 2>/dev/null || ctl subscription create demo --display-name "Demo subscription" --scope /products/unlimited
ctl gateway create gw1 --location "make run"
ctl gateway assign gw1 hybrid
KEY=$("$BIN/apimctl" -o json subscription keys demo | python3 -c 'import json,sys; print(json.load(sys.stdin)["primaryKey"])')
TOKEN=$("$BIN/apimctl" -o json gateway token gw1 --expiry 720h | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])')
cat >"$RUN/env.conf" <<CONF
# written by scripts/run.sh
config.service.endpoint=http://127.0.0.1:$CP_PORT
config.service.auth=GatewayKey $TOKEN
gateway.name=gw1
listen.http=127.0.0.1:$GW_PORT
status.listen=127.0.0.1:$STATUS_PORT
store.path=$RUN/apimgw/apimgw.db
CONF
"$BIN/apimgw" --config "$RUN/env.conf" >"$RUN/apimgw.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$STATUS_PORT/healthz"
for _ in $(seq 100); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW_PORT/status-0123456789abcdef")" = 200 ] && break
	sleep 0.1
done

cat <<TRY

apimgw is running: control plane, gateway and a sample backend on loopback.

  control plane   http://127.0.0.1:$CP_PORT   (admin token in .run/apimcp/admin-token; log .run/apimcp.log)
  gateway         http://127.0.0.1:$GW_PORT   (log .run/apimgw.log)
  status page     http://127.0.0.1:$STATUS_PORT/
  sample backend  http://127.0.0.1:$BE_PORT

Try:
  curl -i http://127.0.0.1:$GW_PORT/hybrid/test -H 'Ocp-Apim-Subscription-Key: $KEY'
  curl -i http://127.0.0.1:$GW_PORT/hybrid/test                       # 401: missing key
  curl -s http://127.0.0.1:$STATUS_PORT/status.json | head -30

Change a policy and watch the gateway pick it up at once:
  export APIMCTL_SERVER=$APIMCTL_SERVER APIMCTL_TOKEN=\$(cat .run/apimcp/admin-token)
  echo '<policies><inbound><base/><rate-limit calls="2" renewal-period="10"/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>' > /tmp/rl.xml
  bin/apimctl policies set --api hybrid --operation test --xml /tmp/rl.xml
  bin/apimctl report byApi

Stop the control plane (kill the apimcp process) and the gateway keeps serving.
Ctrl-C stops everything.
TRY
wait
