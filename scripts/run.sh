#!/usr/bin/env bash
# make run: a control plane (apimcp), a gateway (apimgw) and a sample backend on
# loopback, wired together the way the Azure self-hosted gateway walkthrough
# does it: an API "hybrid" with GET /test, a product with a subscription, a
# gateway gw1 with its token in env.conf. Prints what to try.
#
#   scripts/run.sh                   start everything, stay in the foreground; Ctrl-C stops all
#   scripts/run.sh start             start everything in the background and return (make stop ends it)
#   scripts/run.sh stop [PART]       stop everything, or one part
#   scripts/run.sh start PART        start one part again (its state is kept)
#   scripts/run.sh restart PART      stop and start one part
#   scripts/run.sh status            which parts run, with their pids
#
# PART is gw (apimgw), cp (apimcp) or backend. A stack that is already running
# is never touched by a second start: it is reported, with how to stop it, and
# the exit status is 1. Every start checks that each process came up (its
# health endpoint answers and the process is still alive) before it says so.
#
# State lives in RUN_DIR (default .run/; delete it to start afresh): the
# control plane's data, the gateway's env.conf and store, logs (appended, one
# "=== started" line per start) and pids/. BIN_DIR (default bin/) holds the
# binaries; CP_PORT, GW_PORT, STATUS_PORT and BE_PORT the loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN_DIR:-$PWD/bin}
RUN=${RUN_DIR:-$PWD/.run}
CP_PORT=${CP_PORT:-18443} GW_PORT=${GW_PORT:-18080} STATUS_PORT=${STATUS_PORT:-18090} BE_PORT=${BE_PORT:-18081}
PIDS=$RUN/pids
SELF=scripts/run.sh STOP="make stop              (or: scripts/run.sh stop)"
if [ -n "${RUN_DIR:-}" ]; then
	SELF="RUN_DIR=$RUN scripts/run.sh" STOP="RUN_DIR=$RUN scripts/run.sh stop"
fi
CTL=${BIN#"$PWD"/}/apimctl
# A stack keeps the ports it was set up with: commands on its parts read them
# from ports.env (a full start writes it).
if [ "${1:-run}:${2:-}" != run: ] && [ "${1:-}:${2:-}" != start: ] && [ -s "$RUN/ports.env" ]; then
	# shellcheck disable=SC1091
	. "$RUN/ports.env"
fi

die() {
	echo "run.sh: $*" >&2
	exit 1
}

# Parts, in start order. name → what it runs, its log, its health URL.
PARTS="backend cp gw"
part_proc() { case $1 in backend) echo sample-backend.py ;; cp) echo apimcp ;; gw) echo apimgw ;; esac; }
part_log() { case $1 in backend) echo "$RUN/backend.log" ;; cp) echo "$RUN/apimcp.log" ;; gw) echo "$RUN/apimgw.log" ;; esac; }
part_port() { case $1 in backend) echo "$BE_PORT" ;; cp) echo "$CP_PORT" ;; gw) echo "$STATUS_PORT" ;; esac; }
part_name() { case $1 in backend) echo "sample backend" ;; cp) echo "control plane (apimcp)" ;; gw) echo "gateway (apimgw)" ;; esac; }

# pid_of PART: the pid of PART if its pid file names a live process that runs
# PART's program (a stale file or a reused pid does not count); else nothing.
pid_of() {
	local f=$PIDS/$1.pid pid arg
	[ -s "$f" ] || return 0
	pid=$(cat "$f")
	[ -r "/proc/$pid/cmdline" ] || return 0
	# The program is the first argument (apimgw, apimcp) or, for the backend,
	# the script python3 runs (the second).
	while IFS= read -r -d '' arg; do
		[ "${arg##*/}" = "$(part_proc "$1")" ] && { echo "$pid"; return 0; }
	done < <(head -z -n 2 "/proc/$pid/cmdline" 2>/dev/null)
	return 0
}

# port_busy PORT: something listens on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

http_ok() { curl -fs -o /dev/null --max-time 2 "$1" 2>/dev/null; }

running_parts() {
	local p
	for p in $PARTS; do [ -n "$(pid_of "$p")" ] && echo "$p"; done
	return 0
}

stop_hint() {
	cat >&2 <<EOF
  stop it:            $STOP
  restart one part:   $SELF restart gw|cp|backend
EOF
}

# refuse_if_running: a second start must not touch a running stack.
refuse_if_running() {
	local running p
	running=$(running_parts)
	if [ -n "$running" ]; then
		echo "run.sh: a stack is already running from $RUN:" >&2
		for p in $running; do echo "  $(part_name "$p")  pid $(pid_of "$p")" >&2; done
		stop_hint
		exit 1
	fi
	for p in $PARTS; do
		if port_busy "$(part_port "$p")"; then
			die "port $(part_port "$p") (for the $(part_name "$p")) is in use by a process this script did not start (another make run from a different directory?). Stop it, or choose other ports: CP_PORT, GW_PORT, STATUS_PORT, BE_PORT."
		fi
	done
	if port_busy "$GW_PORT"; then
		die "port $GW_PORT (for the gateway's data plane) is in use. Stop that process, or set GW_PORT."
	fi
}

# launch PART COMMAND...: start COMMAND in its own session (Ctrl-C in this
# terminal reaches this script, which stops the parts itself), log appended.
launch() {
	local part=$1 log
	shift
	log=$(part_log "$part")
	echo "=== started $(date -u +%FT%TZ): $*" >>"$log"
	setsid "$@" >>"$log" 2>&1 </dev/null &
	echo $! >"$PIDS/$part.pid"
}

# await PART URL [SECONDS]: until URL answers while PART's process lives.
# On failure: the log's tail, and exit 1.
await() {
	local part=$1 url=$2 n=$((${3:-20} * 10)) pid
	pid=$(cat "$PIDS/$part.pid")
	for _ in $(seq "$n"); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "run.sh: the $(part_name "$part") exited at start; the end of $(part_log "$part"):" >&2
			tail -n 15 "$(part_log "$part")" | sed 's/^/  /' >&2
			rm -f "$PIDS/$part.pid"
			return 1
		fi
		http_ok "$url" && return 0
		sleep 0.1
	done
	echo "run.sh: the $(part_name "$part") (pid $pid) did not answer $url within ${3:-20}s; the end of $(part_log "$part"):" >&2
	tail -n 15 "$(part_log "$part")" | sed 's/^/  /' >&2
	return 1
}

start_backend() {
	launch backend python3 scripts/sample-backend.py "$BE_PORT"
	await backend "http://127.0.0.1:$BE_PORT/"
}

start_cp() {
	launch cp "$BIN/apimcp" --listen "127.0.0.1:$CP_PORT" --data "$RUN/apimcp"
	# Any answer (401 without a token) means it listens; -f is not wanted here.
	local pid
	pid=$(cat "$PIDS/cp.pid")
	for _ in $(seq 200); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "run.sh: the control plane exited at start; the end of $RUN/apimcp.log:" >&2
			tail -n 15 "$RUN/apimcp.log" | sed 's/^/  /' >&2
			rm -f "$PIDS/cp.pid"
			return 1
		fi
		[ -s "$RUN/apimcp/admin-token" ] && curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$CP_PORT/apis" && return 0
		sleep 0.1
	done
	echo "run.sh: the control plane (pid $pid) did not answer on 127.0.0.1:$CP_PORT within 20s" >&2
	return 1
}

# start_gw [require-ready]: the gateway from the env.conf setup wrote. It is
# ready once it serves a configuration (from the control plane, or from its
# store when the control plane is down).
start_gw() {
	[ -s "$RUN/env.conf" ] || die "no $RUN/env.conf yet: run 'make run' (or '$SELF start') once first"
	launch gw "$BIN/apimgw" --config "$RUN/env.conf"
	await gw "http://127.0.0.1:$STATUS_PORT/healthz" || return 1
	for _ in $(seq 200); do
		[ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://127.0.0.1:$GW_PORT/status-0123456789abcdef")" = 200 ] && return 0
		kill -0 "$(cat "$PIDS/gw.pid")" 2>/dev/null || { await gw "http://127.0.0.1:$STATUS_PORT/healthz" 1; return 1; }
		sleep 0.1
	done
	if [ "${1:-}" = require-ready ]; then
		echo "run.sh: the gateway runs but serves no configuration after 20s (see $RUN/apimgw.log)" >&2
		return 1
	fi
	echo "run.sh: warning: the gateway runs but has no configuration yet (control plane down and nothing stored?)" >&2
}

# stop_part PART: SIGTERM, then SIGKILL after 20 s.
stop_part() {
	local pid
	pid=$(pid_of "$1")
	rm -f "$PIDS/$1.pid"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "run.sh: the $(part_name "$1") (pid $pid) did not stop within 20s: killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
}

stop_all() {
	local p
	for p in gw cp backend; do stop_part "$p"; done
}

# setup: the walkthrough's resources (every step may run again: PUT is
# idempotent) and the gateway's env.conf with a fresh token.
setup() {
	export APIMCTL_SERVER="http://127.0.0.1:$CP_PORT" APIMCTL_TOKEN
	APIMCTL_TOKEN=$(cat "$RUN/apimcp/admin-token")
	# Called in a condition, where set -e does not apply: every step checks.
	ctl() { "$BIN/apimctl" "$@" >/dev/null || { echo "run.sh: apimctl $* failed" >&2; return 1; }; }
	ctl api create hybrid --display-name "Hybrid demo" --path hybrid --service-url "http://127.0.0.1:$BE_PORT" --subscription-required true &&
		ctl operation create test --api hybrid --method GET --url-template /test --display-name "Test call" &&
		ctl product create unlimited --display-name Unlimited --state published --subscription-required true &&
		ctl product add-api unlimited hybrid &&
		{ "$BIN/apimctl" subscription get demo >/dev/null 2>&1 || ctl subscription create demo --display-name "Demo subscription" --scope /products/unlimited; } &&
		ctl gateway create gw1 --location "make run" &&
		ctl gateway assign gw1 hybrid || return 1
	KEY=$("$BIN/apimctl" -o json subscription keys demo | python3 -c 'import json,sys; print(json.load(sys.stdin)["primaryKey"])') || return 1
	local token
	token=$("$BIN/apimctl" -o json gateway token gw1 --expiry 720h | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])') || return 1
	cat >"$RUN/env.conf.tmp" <<CONF
# written by scripts/run.sh
config.service.endpoint=http://127.0.0.1:$CP_PORT
config.service.auth=GatewayKey $token
gateway.name=gw1
listen.http=127.0.0.1:$GW_PORT
listen.https=
status.listen=127.0.0.1:$STATUS_PORT
store.path=$RUN/apimgw/apimgw.db
CONF
	mv "$RUN/env.conf.tmp" "$RUN/env.conf"
}

banner() {
	cat <<TRY

apimgw is running: control plane, gateway and a sample backend on loopback.

  control plane   http://127.0.0.1:$CP_PORT   (admin token in $RUN/apimcp/admin-token; log $RUN/apimcp.log)
  gateway         http://127.0.0.1:$GW_PORT   (log $RUN/apimgw.log)
  status page     http://127.0.0.1:$STATUS_PORT/
  sample backend  http://127.0.0.1:$BE_PORT

Try:
  curl -i http://127.0.0.1:$GW_PORT/hybrid/test -H 'Ocp-Apim-Subscription-Key: $KEY'
  curl -i http://127.0.0.1:$GW_PORT/hybrid/test                       # 401: missing key
  curl -s http://127.0.0.1:$STATUS_PORT/status.json | head -30

Change a policy and watch the gateway pick it up at once:
  export APIMCTL_SERVER=$APIMCTL_SERVER APIMCTL_TOKEN=\$(cat $RUN/apimcp/admin-token)
  echo '<policies><inbound><base/><rate-limit calls="2" renewal-period="10"/></inbound><backend><base/></backend><outbound><base/></outbound><on-error><base/></on-error></policies>' > /tmp/rl.xml
  $CTL policies set --api hybrid --operation test --xml /tmp/rl.xml
  $CTL report byApi

Take parts down and up (from another terminal):
  $SELF stop cp        # the gateway keeps serving from its store
  $SELF restart gw     # and serves at once after a restart, control plane still down
  $SELF start cp       # requests made meanwhile are counted: $CTL report byApi
  $SELF status         # what runs; also: start|stop|restart gw|cp|backend
TRY
}

# start_all: everything, checked; on any failure what was started is stopped.
start_all() {
	refuse_if_running
	command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
	command -v python3 >/dev/null || die "python3 is needed for the sample backend (apt-get install python3)"
	for b in apimcp apimgw apimctl; do [ -x "$BIN/$b" ] || die "$BIN/$b is missing: run make build (or make run)"; done
	mkdir -p "$RUN" "$PIDS"
	printf 'CP_PORT=%s GW_PORT=%s STATUS_PORT=%s BE_PORT=%s\n' "$CP_PORT" "$GW_PORT" "$STATUS_PORT" "$BE_PORT" >"$RUN/ports.env"
	if ! { start_backend && start_cp && setup && start_gw require-ready; }; then
		stop_all
		die "not started (logs in $RUN/)"
	fi
	# Still alive, all of them, right before saying so.
	local p
	for p in $PARTS; do
		if [ -z "$(pid_of "$p")" ]; then
			echo "run.sh: the $(part_name "$p") exited after it answered; the end of $(part_log "$p"):" >&2
			tail -n 15 "$(part_log "$p")" | sed 's/^/  /' >&2
			stop_all
			die "not started (logs in $RUN/)"
		fi
	done
}

cmd=${1:-run}
part=${2:-}
case $part in
"" | gw | cp | backend) ;;
*) die "unknown part '$part': gw, cp or backend" ;;
esac
case $cmd in -h | --help | help)
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	exit 0
	;;
esac
mkdir -p "$PIDS"
case $cmd in
run)
	start_all
	trap 'trap - EXIT INT TERM; stop_all; echo "stopped (state kept in $RUN/)"' EXIT INT TERM
	banner
	echo "Ctrl-C stops everything."
	# Stay while any part runs (parts may be restarted from another terminal).
	while [ -n "$(running_parts)" ]; do sleep 1; done
	;;
start)
	if [ -z "$part" ]; then
		start_all
		banner
		echo "Running in the background: $STOP stops everything."
		exit 0
	fi
	pid=$(pid_of "$part")
	[ -z "$pid" ] || die "the $(part_name "$part") is already running (pid $pid): $SELF restart $part"
	port_busy "$(part_port "$part")" && die "port $(part_port "$part") is in use by a process this script did not start"
	[ "$part" = gw ] && port_busy "$GW_PORT" && die "port $GW_PORT (the gateway's data plane) is in use by a process this script did not start"
	"start_$part" || { stop_part "$part"; die "the $(part_name "$part") did not start (stopped again)"; }
	echo "started the $(part_name "$part") (pid $(pid_of "$part"))"
	;;
stop)
	if [ -z "$part" ]; then
		[ -n "$(running_parts)" ] || { echo "nothing running from $RUN"; exit 0; }
		stop_all
		echo "stopped (state kept in $RUN/)"
		exit 0
	fi
	[ -n "$(pid_of "$part")" ] || { echo "the $(part_name "$part") is not running"; exit 0; }
	stop_part "$part"
	echo "stopped the $(part_name "$part")"
	;;
restart)
	[ -n "$part" ] || die "restart what? $SELF restart gw|cp|backend"
	stop_part "$part"
	"start_$part" || { stop_part "$part"; die "the $(part_name "$part") did not start again (stopped)"; }
	echo "restarted the $(part_name "$part") (pid $(pid_of "$part"))"
	;;
status)
	for p in $PARTS; do
		pid=$(pid_of "$p")
		if [ -n "$pid" ]; then echo "$p: running (pid $pid)"; else echo "$p: stopped"; fi
	done
	;;
*)
	die "unknown command '$cmd': run, start, stop, restart or status (--help)"
	;;
esac
