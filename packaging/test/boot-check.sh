#!/bin/bash
# Runs inside the booted test container (see boot-test.sh) as a oneshot unit,
# with systemd as PID 1 and a private network. End to end on the packages:
#   1. apimcp + apimctl: dpkg -i enables apimcp.service; systemctl start returns
#      (READY=1); it pings the watchdog (WatchdogSec=4s drop-in); its sandbox
#      (user, no capability, syscall filter) lets it serve the management API;
#   2. a gateway and its token are created on it with the management API;
#   3. apimgw: dpkg -i enables but does not start it; env.conf gets the endpoint
#      and token as an operator would write them; systemctl start returns
#      (READY=1 once the snapshot arrived); the status page says hybrid and
#      connected; the data plane proxies a request to apimcp (an API created
#      through the management API); watchdog pings (WatchdogSec=4s); systemctl reload
#      (RELOADING=1 … READY=1) keeps the same process; an upgrade to a newer
#      package restarts it and keeps env.conf; its threads run under
#      SCHED_BATCH (CPUSchedulingPolicy=batch); stop is clean;
#   4. dpkg -r stops and disables it and keeps config and state; dpkg -P removes
#      state, config and user; the same purge for apimcp.
# Writes its findings to /boot-check.out; the unit's ExecStartPost powers the
# container off.
exec >/boot-check.out 2>&1
fail=0
bad() { echo "FAIL $*"; fail=1; }
ok() { echo "ok   $*"; }
echo "started $(date +%T)"
finish() {
	echo "finished $(date +%T)"
	echo "rc=$fail"
	exit 0
}
show() { systemctl show -p "$2" --value "$1.service"; }
running() { grep -qx "$1" /proc/[0-9]*/comm 2>/dev/null; }
# sandbox UNIT USER CAPEFF: what systemd applied to the main process.
sandbox() {
	local pid st
	pid=$(show "$1" MainPID)
	[ "${pid:-0}" != 0 ] || { bad "$1: no main process"; return; }
	st=/proc/$pid/status
	[ "$(awk '/^Uid:/{print $2}' "$st")" = "$(id -u "$2")" ] && ok "$1 runs as $2" || bad "$1 uid $(awk '/^Uid:/{print $2}' "$st")"
	[ "$(awk '/^CapEff:/{print $2}' "$st")" = "$3" ] && ok "$1 CapEff $3" || bad "$1 CapEff $(awk '/^CapEff:/{print $2}' "$st"), want $3"
	[ "$(awk '/^Seccomp:/{print $2}' "$st")" = 2 ] && ok "$1 syscall filter active" || bad "$1 Seccomp off"
	[ "$(awk '/^NoNewPrivs:/{print $2}' "$st")" = 1 ] && ok "$1 NoNewPrivs" || bad "$1 NoNewPrivs not set"
	[ -n "$(journalctl -u "$1.service" -o cat --no-pager | head -1)" ] && ok "$1 logs reach the journal" || bad "no journal lines for $1"
}
# watchdog UNIT: a 4 s watchdog, and the process must still be the same 10 s on.
short_watchdog() {
	mkdir -p "/etc/systemd/system/$1.service.d"
	printf '[Service]\nWatchdogSec=4s\n' >"/etc/systemd/system/$1.service.d/test-watchdog.conf"
	systemctl daemon-reload
}
check_watchdog() {
	local pid
	pid=$(show "$1" MainPID)
	sleep 10
	if [ "$(show "$1" MainPID)" = "$pid" ] && [ "$(show "$1" NRestarts)" = 0 ] && [ "$(systemctl is-active "$1.service")" = active ]; then
		ok "$1 pings the watchdog (same process 10s on with WatchdogSec=4s)"
	else
		bad "$1 killed or restarted with WatchdogSec=4s: $(systemctl show -p ActiveState,Result,NRestarts --value "$1.service" | paste -sd' ')"
		journalctl -u "$1.service" --no-pager | tail -8
	fi
}
start() {
	if timeout 60 systemctl start "$1.service"; then ok "systemctl start $1 returned: READY=1 received"; else
		bad "systemctl start $1 did not complete in 60s: $(systemctl show -p ActiveState,SubState,Result --value "$1.service" | paste -sd' ')"
		journalctl -u "$1.service" --no-pager | tail -15
	fi
}

echo "== apimcp"
if dpkg -i /var/tmp/apimcp.deb /var/tmp/apimctl.deb >/tmp/dpkg.log 2>&1; then ok "dpkg -i apimcp apimctl"; else bad "dpkg -i apimcp:"; cat /tmp/dpkg.log; finish; fi
[ "$(systemctl is-enabled apimcp.service)" = enabled ] && ok "postinst enabled apimcp.service" || bad "apimcp.service is $(systemctl is-enabled apimcp.service)"
short_watchdog apimcp
start apimcp
check_watchdog apimcp
sandbox apimcp apimcp 0000000000000000
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:8443/apis || true)
[ "$code" = 401 ] && ok "apimcp answers on 127.0.0.1:8443 (401 without a token)" || bad "apimcp /apis without token: $code"
[ "$(stat -c '%U %a' /var/lib/apimcp/admin-token 2>/dev/null)" = "apimcp 600" ] && ok "generated admin token is apimcp's, 0600" ||
	bad "admin token: $(stat -c '%U %a' /var/lib/apimcp/admin-token 2>&1)"
admin=$(cat /var/lib/apimcp/admin-token 2>/dev/null || true)
mgmt() { curl -sS --max-time 10 -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' "$@"; }
mgmt -o /dev/null -X PUT -d '{"properties":{"locationData":{"name":"boot test"},"description":"boot test"}}' \
	http://127.0.0.1:8443/gateways/edge-test || true
expiry=$(date -u -d '+20 days' +%Y-%m-%dT%H:%M:%SZ)
token=$(mgmt -X POST -d "{\"keyType\":\"primary\",\"expiry\":\"$expiry\"}" http://127.0.0.1:8443/gateways/edge-test/generateToken |
	sed -n 's/.*"value" *: *"\([^"]*\)".*/\1/p' || true)
[ -n "$token" ] && ok "gateway edge-test and its token created on apimcp" || bad "could not create a gateway token on apimcp"
# One API for the data-plane check: apimcp's own management API as the backend.
mgmt -o /dev/null -X PUT -d '{"properties":{"displayName":"Control plane","path":"cp","serviceUrl":"http://127.0.0.1:8443","protocols":["http"],"subscriptionRequired":false}}' \
	http://127.0.0.1:8443/apis/cp || true
mgmt -o /dev/null -X PUT -d '{"properties":{"displayName":"List APIs","method":"GET","urlTemplate":"/apis"}}' \
	http://127.0.0.1:8443/apis/cp/operations/list-apis || true
code=$(mgmt -o /dev/null -w '%{http_code}' -X PUT -d '{}' http://127.0.0.1:8443/gateways/edge-test/apis/cp || true)
[[ "$code" == 20? ]] && ok "API cp assigned to gateway edge-test" || bad "assigning API cp: $code"

echo "== apimgw"
if dpkg -i /var/tmp/apimgw.deb >/tmp/dpkg.log 2>&1; then ok "dpkg -i with systemd running"; else bad "dpkg -i:"; cat /tmp/dpkg.log; finish; fi
[ "$(systemctl is-enabled apimgw.service)" = enabled ] && ok "postinst enabled apimgw.service" ||
	bad "apimgw.service is $(systemctl is-enabled apimgw.service), want enabled"
[ "$(systemctl is-active apimgw.service)" = inactive ] && ok "postinst did not start it (no configuration yet)" ||
	bad "postinst started it: $(systemctl is-active apimgw.service)"
# What an operator writes into env.conf (plain http is allowed on loopback).
cat >>/etc/apimgw/env.conf <<CONF
config.service.endpoint=http://127.0.0.1:8443
config.service.auth=GatewayKey $token
gateway.name=edge-test
CONF
short_watchdog apimgw
start apimgw
if curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:8090/healthz; then ok "status page answers on 127.0.0.1:8090"; else
	bad "no status page on 127.0.0.1:8090 ($(systemctl show -p ActiveState,SubState --value apimgw.service | paste -sd' '))"
fi
j=$(curl -fsS --max-time 5 http://127.0.0.1:8090/status.json || true)
grep -q '"mode": "hybrid"' <<<"$j" && grep -q '"connected": true' <<<"$j" && ok "/status.json: hybrid, connected" ||
	bad "/status.json: $(grep -E '"(mode|connected)"' <<<"$j" | tr -d ' ' | paste -sd' ')"
grep -q '"memTotal": [1-9]' <<<"$j" && ok "/status.json: host facts readable in the sandbox" || bad "/status.json: host facts missing"
[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:8090/readyz)" = 200 ] && ok "/readyz 200" || bad "/readyz not 200 after READY=1"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:8080/status-0123456789abcdef || true)
[ "$code" = 200 ] && ok "data plane :8080 probe path 200" || bad "data plane probe path: $code"
body=$(curl -s --max-time 10 -H "Authorization: Bearer $admin" http://127.0.0.1:8080/cp/apis || true)
grep -q '"cp"' <<<"$body" && ok "data plane proxies GET /cp/apis to apimcp under the sandbox" || bad "proxied GET /cp/apis: $(head -c 300 <<<"$body")"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 http://127.0.0.1:8080/cp/apis || true)
[ "$code" = 401 ] && ok "backend's 401 passes through" || bad "GET /cp/apis without a token: $code, want apimcp's 401"
grep -q '"requests": [1-9]' <<<"$(curl -fsS --max-time 5 http://127.0.0.1:8090/status.json || true)" &&
	ok "status page counts the requests" || bad "status page shows no requests"
check_watchdog apimgw
pid=$(show apimgw MainPID)
if timeout 30 systemctl reload apimgw.service; then ok "systemctl reload apimgw returned (RELOADING=1, READY=1)"; else bad "systemctl reload apimgw failed or hung"; fi
[ "$(show apimgw MainPID)" = "$pid" ] && [ "$(systemctl is-active apimgw.service)" = active ] && ok "reload kept the process" || bad "reload replaced or stopped the process"
sandbox apimgw apimgw 0000000000000400
# CPUSchedulingPolicy=batch: every thread of the gateway (field 41 of its
# stat: 3 = SCHED_BATCH), and the gateway's log says it found it so.
pol=$(cat /proc/"$(show apimgw MainPID)"/task/*/stat 2>/dev/null | sed 's/.*) //' | awk '{print $39}' | sort -u | paste -sd,)
[ "$pol" = 3 ] && ok "apimgw's threads run under SCHED_BATCH" || bad "apimgw's threads' scheduling policies: $pol, want 3 (SCHED_BATCH)"
journalctl -u apimgw.service -o cat --no-pager | grep -q 'SCHED_BATCH, as the process was started' &&
	ok "apimgw logs its scheduling policy" || bad "no log line about the scheduling policy"
# Upgrade while running: the new postinst restarts it; env.conf stays as edited.
pid=$(show apimgw MainPID)
if dpkg -i /var/tmp/apimgw-upgrade.deb >/tmp/dpkg.log 2>&1; then ok "dpkg -i upgrade to $(dpkg-query -W -f='${Version}' apimgw)"; else bad "upgrade:"; cat /tmp/dpkg.log; fi
sleep 1
[ "$(show apimgw MainPID)" != "$pid" ] && [ "$(systemctl is-active apimgw.service)" = active ] && ok "upgrade restarted the running gateway" ||
	bad "after upgrade: $(systemctl show -p ActiveState,MainPID --value apimgw.service | paste -sd' ') (was pid $pid)"
grep -q "^config.service.auth=GatewayKey $token" /etc/apimgw/env.conf && ok "upgrade kept the edited env.conf" || bad "upgrade lost env.conf edits"
[ "$(journalctl -u apimgw.service -o export --no-pager | grep -c '^_TRANSPORT=journal$')" -gt 0 ] &&
	ok "apimgw logs structured journal entries (native protocol, fields per attribute)" || bad "apimgw logs only plain stderr lines to the journal"
systemctl stop apimgw.service
[ "$(show apimgw Result)" = success ] && ok "systemctl stop apimgw: clean exit" || bad "systemctl stop apimgw: Result=$(show apimgw Result)"
rm -rf /etc/systemd/system/apimgw.service.d
systemctl daemon-reload

systemctl start --no-block apimgw.service
sleep 1
dpkg -r apimgw >/tmp/dpkg.log 2>&1 && ok "dpkg -r apimgw" || { bad "dpkg -r apimgw"; cat /tmp/dpkg.log; }
[ "$(systemctl is-active apimgw.service)" != active ] && ! running apimgw && ok "prerm stopped it" || bad "still running after remove"
[ -d /var/lib/apimgw ] && [ -f /etc/apimgw/env.conf ] && ok "remove keeps config and state" || bad "remove deleted config or state"
dpkg -P apimgw >/tmp/dpkg.log 2>&1 && ok "dpkg -P apimgw" || { bad "dpkg -P apimgw"; cat /tmp/dpkg.log; }
[ ! -e /var/lib/apimgw ] && [ ! -e /etc/apimgw ] && ! getent passwd apimgw >/dev/null && ok "purge removed state, config and user" ||
	bad "purge left $(ls -d /var/lib/apimgw /etc/apimgw 2>/dev/null) $(getent passwd apimgw)"
systemctl cat apimgw.service >/dev/null 2>&1 && bad "systemd still knows apimgw.service" || ok "systemd forgot apimgw.service"

echo "== apimcp removal"
systemctl stop apimcp.service
[ "$(show apimcp Result)" = success ] && ok "systemctl stop apimcp: clean exit" || bad "stop apimcp: Result=$(show apimcp Result)"
rm -rf /etc/systemd/system/apimcp.service.d
dpkg -P apimcp apimctl >/tmp/dpkg.log 2>&1 && ok "dpkg -P apimcp apimctl" || { bad "dpkg -P apimcp"; cat /tmp/dpkg.log; }
[ ! -e /var/lib/apimcp ] && [ ! -e /etc/apimcp ] && ! getent passwd apimcp >/dev/null && [ ! -e /usr/bin/apimctl ] &&
	ok "purge removed apimcp's state, config, user and apimctl" || bad "apimcp purge left things behind"
finish
