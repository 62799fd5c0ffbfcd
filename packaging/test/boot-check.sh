#!/bin/bash
# Runs inside the booted test container (see boot-test.sh) as a oneshot unit:
# installs the apimgw deb with systemd running, configures it like an operator
# would (hybrid mode, control plane not reachable yet), starts the real unit and
# checks what systemd made of it, then removes and purges; then the same for
# apimcp (which must reach READY=1 and ping the watchdog). Writes its findings
# to /boot-check.out; the unit's ExecStartPost powers the container off.
exec >/boot-check.out 2>&1
fail=0
bad() { echo "FAIL $*"; fail=1; }
ok() { echo "ok   $*"; }
echo "started $(date +%T.%N) uptime $(cut -d" " -f1 /proc/uptime)"
finish() {
	echo "finished $(date +%T.%N)"
	echo "rc=$fail"
	exit 0
}

if dpkg -i /var/tmp/apimgw.deb >/tmp/dpkg.log 2>&1; then ok "dpkg -i with systemd running"; else bad "dpkg -i:"; cat /tmp/dpkg.log; finish; fi
[ "$(systemctl is-enabled apimgw.service)" = enabled ] && ok "postinst enabled apimgw.service" ||
	bad "apimgw.service is $(systemctl is-enabled apimgw.service), want enabled"
[ "$(systemctl is-active apimgw.service)" = inactive ] && ok "postinst did not start it (no configuration yet)" ||
	bad "postinst started it: $(systemctl is-active apimgw.service)"

# Hybrid mode; nothing listens on the control plane's address yet.
cat >>/etc/apimgw/env.conf <<'CONF'
config.service.endpoint=http://127.0.0.1:9
config.service.auth=GatewayKey edge-test&209912312359&c2lnbmF0dXJl
gateway.name=edge-test
CONF
systemctl start --no-block apimgw.service
up=0
for i in $(seq 1 150); do
	if curl -fsS -o /dev/null --max-time 1 http://127.0.0.1:8090/healthz 2>/dev/null; then up=1; break; fi
	sleep 0.2
done
state=$(systemctl show -p ActiveState,SubState,NRestarts,MainPID,User --value apimgw.service | paste -sd' ')
if [ $up = 1 ]; then ok "status page answers on 127.0.0.1:8090 under the real unit ($state)"; else
	bad "status page did not answer within 30s ($state)"; journalctl -u apimgw --no-pager | tail -25
fi
pid=$(systemctl show -p MainPID --value apimgw.service)
if [ "${pid:-0}" != 0 ]; then
	st=/proc/$pid/status
	[ "$(awk '/^Uid:/{print $2}' $st)" = "$(id -u apimgw)" ] && ok "runs as apimgw" || bad "uid $(awk '/^Uid:/{print $2}' $st)"
	[ "$(awk '/^CapEff:/{print $2}' $st)" = 0000000000000400 ] && ok "CapEff CAP_NET_BIND_SERVICE only" || bad "CapEff $(awk '/^CapEff:/{print $2}' $st)"
	[ "$(awk '/^Seccomp:/{print $2}' $st)" = 2 ] && ok "syscall filter active" || bad "Seccomp $(awk '/^Seccomp:/{print $2}' $st)"
	[ "$(awk '/^NoNewPrivs:/{print $2}' $st)" = 1 ] && ok "NoNewPrivs" || bad "NoNewPrivs not set"
	[ -n "$(journalctl -u apimgw.service -o cat --no-pager | head -1)" ] && ok "logs reach the journal" || bad "no journal lines for apimgw"
fi
if [ $up = 1 ]; then
	j=$(curl -fsS --max-time 5 http://127.0.0.1:8090/status.json || true)
	grep -q '"mode": "hybrid"' <<<"$j" && ok "/status.json: mode hybrid" || bad "/status.json mode: $(grep -m1 '"mode"' <<<"$j")"
	grep -q '"connected": false' <<<"$j" && ok "/status.json: control plane not connected" || bad "/status.json: connected?"
	grep -q '"hostname"' <<<"$j" && grep -q '"memTotal": [1-9]' <<<"$j" && ok "/status.json: host facts readable in the sandbox" ||
		bad "/status.json: host facts missing: $(grep -A3 '"errors"' <<<"$j")"
	sleep 2
	[ "$(systemctl show -p NRestarts --value apimgw.service)" = 0 ] && [ "$(systemctl show -p MainPID --value apimgw.service)" = "$pid" ] &&
		ok "no crash or restart under the sandbox" || bad "restarted: $(systemctl show -p NRestarts,MainPID --value apimgw.service | paste -sd' ')"
fi
systemctl stop apimgw.service
result=$(systemctl show -p Result --value apimgw.service)
[ "$result" = success ] && ok "systemctl stop: clean exit" || bad "systemctl stop: Result=$result"

systemctl start --no-block apimgw.service
sleep 1
dpkg -r apimgw >/tmp/dpkg.log 2>&1 && ok "dpkg -r" || { bad "dpkg -r"; cat /tmp/dpkg.log; }
running() { grep -qx apimgw /proc/[0-9]*/comm 2>/dev/null; }
[ "$(systemctl is-active apimgw.service)" != active ] && ! running && ok "prerm stopped it" || bad "still running after remove"
[ -d /var/lib/apimgw ] && [ -f /etc/apimgw/env.conf ] && ok "remove keeps config and state" || bad "remove deleted config or state"
dpkg -P apimgw >/tmp/dpkg.log 2>&1 && ok "dpkg -P" || { bad "dpkg -P"; cat /tmp/dpkg.log; }
[ ! -e /var/lib/apimgw ] && [ ! -e /etc/apimgw ] && ! getent passwd apimgw >/dev/null && ok "purge removed state, config and user" ||
	bad "purge left $(ls -d /var/lib/apimgw /etc/apimgw 2>/dev/null) $(getent passwd apimgw)"
systemctl cat apimgw.service >/dev/null 2>&1 && bad "systemd still knows apimgw.service" || ok "systemd forgot apimgw.service"

echo "== apimcp"
if dpkg -i /var/tmp/apimcp.deb /var/tmp/apimctl.deb >/tmp/dpkg.log 2>&1; then ok "dpkg -i apimcp apimctl"; else bad "dpkg -i apimcp:"; cat /tmp/dpkg.log; finish; fi
[ "$(systemctl is-enabled apimcp.service)" = enabled ] && ok "postinst enabled apimcp.service" || bad "apimcp.service is $(systemctl is-enabled apimcp.service)"
# A short watchdog, so that a missing ping shows within the test.
mkdir -p /etc/systemd/system/apimcp.service.d
printf '[Service]\nWatchdogSec=4s\n' >/etc/systemd/system/apimcp.service.d/test-watchdog.conf
systemctl daemon-reload
if timeout 60 systemctl start apimcp.service; then ok "systemctl start apimcp: READY=1 received"; else
	bad "systemctl start apimcp did not complete: $(systemctl show -p ActiveState,SubState,Result --value apimcp.service | paste -sd' ')"
	journalctl -u apimcp --no-pager | tail -15
fi
pid=$(systemctl show -p MainPID --value apimcp.service)
sleep 10
if [ "$(systemctl show -p MainPID --value apimcp.service)" = "$pid" ] && [ "$(systemctl show -p NRestarts --value apimcp.service)" = 0 ] &&
	[ "$(systemctl is-active apimcp.service)" = active ]; then ok "apimcp pings the watchdog (alive 10s with WatchdogSec=4s)"; else
	bad "apimcp killed or restarted with WatchdogSec=4s: $(systemctl show -p ActiveState,Result,NRestarts --value apimcp.service | paste -sd' ')"
fi
pid=$(systemctl show -p MainPID --value apimcp.service)
if [ "${pid:-0}" != 0 ]; then
	st=/proc/$pid/status
	[ "$(awk '/^Uid:/{print $2}' $st)" = "$(id -u apimcp)" ] && ok "apimcp runs as apimcp" || bad "apimcp uid $(awk '/^Uid:/{print $2}' $st)"
	[ "$(awk '/^CapEff:/{print $2}' $st)" = 0000000000000000 ] && ok "apimcp has no capability" || bad "apimcp CapEff $(awk '/^CapEff:/{print $2}' $st)"
	[ "$(awk '/^Seccomp:/{print $2}' $st)" = 2 ] && ok "apimcp syscall filter active" || bad "apimcp Seccomp off"
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:8443/apis || true)
	[ "$code" = 401 ] && ok "apimcp answers on 127.0.0.1:8443 (401 without a token)" || bad "apimcp /apis without token: $code"
	tok=$(cat /var/lib/apimcp/admin-token 2>/dev/null || true)
	[ "$(stat -c '%U %a' /var/lib/apimcp/admin-token 2>/dev/null)" = "apimcp 600" ] && ok "generated admin token is apimcp's, 0600" ||
		bad "admin token: $(stat -c '%U %a' /var/lib/apimcp/admin-token 2>&1)"
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $tok" http://127.0.0.1:8443/apis || true)
	[ "$code" = 200 ] && ok "apimcp /apis with the admin token: 200" || bad "apimcp /apis with token: $code"
fi
systemctl stop apimcp.service
[ "$(systemctl show -p Result --value apimcp.service)" = success ] && ok "systemctl stop apimcp: clean exit" || bad "stop apimcp: Result=$(systemctl show -p Result --value apimcp.service)"
rm -rf /etc/systemd/system/apimcp.service.d
dpkg -P apimcp apimctl >/tmp/dpkg.log 2>&1 && ok "dpkg -P apimcp apimctl" || { bad "dpkg -P apimcp"; cat /tmp/dpkg.log; }
[ ! -e /var/lib/apimcp ] && [ ! -e /etc/apimcp ] && ! getent passwd apimcp >/dev/null && [ ! -e /usr/bin/apimctl ] &&
	ok "purge removed apimcp's state, config, user and apimctl" || bad "apimcp purge left things behind"
finish
