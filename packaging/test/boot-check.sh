#!/bin/bash
# Runs inside the booted test container (see boot-test.sh) as a oneshot unit:
# installs the apimgw deb with systemd running, configures it like an operator
# would (hybrid mode, control plane not reachable yet), starts the real unit and
# checks what systemd made of it, then removes and purges. Writes its findings
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
finish
