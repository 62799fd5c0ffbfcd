#!/usr/bin/env bash
# Real install test of the amd64 apimgw deb, in a throw-away Debian 12 root
# (see debian-root.sh; cached under /var/cache/apimgw-test, keyed by its content) so the test machine
# itself is never touched:
#   1. dpkg -i: user, group, /var/lib/apimgw (apimgw:apimgw 0750), env.conf
#      (root:apimgw 0640, a conffile), unit file; no systemctl call without
#      systemd;
#   2. the installed binary started as apimgw.service starts it (its user and
#      group, CAP_NET_BIND_SERVICE only, no new privileges, umask 0027, its
#      working directory and config, GOMEMLIMIT) in private network, mount and
#      pid namespaces; the status page must answer on 127.0.0.1:8090
#      (/healthz, /status.json, /, /metrics, and rendered by a headless
#      Chromium); SIGHUP must not kill it; SIGTERM must stop it within
#      TimeoutStopSec;
#   3. reinstall (an upgrade to the same version) keeps a locally edited env.conf;
#   4. dpkg -r keeps config and state; dpkg -P leaves the file tree, passwd and
#      group exactly as before the install.
# Needs root. Usage: packaging/test/install-test.sh DEB
set -euo pipefail
deb=$(realpath "${1:?usage: install-test.sh DEB}")
[ "$(id -u)" -eq 0 ] || { echo "install-test: needs root (dpkg in a chroot, namespaces)"; exit 1; }
fail=0
bad() { echo "FAIL $*"; fail=1; }
ok() { echo "ok   $*"; }
base=$("$(dirname "$0")/debian-root.sh")

root=$(mktemp -d /var/tmp/apimgw-install.XXXXXX)
cleanup() {
	# Mounts live in the private mount namespace and die with it; just in case:
	umount -R "$root/proc" 2>/dev/null || true
	rm -rf "$root"
}
trap cleanup EXIT
tar -C "$root" -xzf "$base"
# The root directory must be root 0755, or no user but root (apimgw) can
# load libc in it; a root tarball from an older debian-root.sh must not pass.
root_mode=$(stat -c '%U:%G %a' "$root")
[ "$root_mode" = "root:root 755" ] || { echo "FAIL the Debian root's / is '$root_mode', want 'root:root 755' (from $base)"; exit 1; }
echo "ok   the Debian root's / is root:root 755"
rm -rf "$root/run/systemd" # no systemd here: the scripts must not call systemctl
in_root() { chroot "$root" "$@"; }

# Every path in the root (with owner and mode), minus what dpkg and apt keep
# for themselves and the backups useradd/userdel leave (/etc/passwd- etc.).
tree() {
	(cd "$root" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp \
		-o -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache -o -path ./run \) -prune \
		-o -printf '%p %u %g %m\n' | grep -vE '^\./etc/(passwd|group|shadow|gshadow|subuid|subgid)- ' | sort)
}
tree >"$root.before"
cp "$root/etc/passwd" "$root.passwd"
cp "$root/etc/group" "$root.group"
trap 'cleanup; rm -f "$root.before" "$root.after" "$root.passwd" "$root.group"' EXIT

echo "== dpkg -i $(basename "$deb")"
cp "$deb" "$root/tmp/apimgw.deb"
if out=$(in_root dpkg -i /tmp/apimgw.deb 2>&1); then ok "dpkg -i"; else bad "dpkg -i:"; echo "$out"; exit 1; fi
grep -i systemctl <<<"$out" && bad "maintainer scripts called systemctl without systemd"
in_root getent passwd apimgw | grep -q ':/var/lib/apimgw:/usr/sbin/nologin$' && ok "system user apimgw" || bad "user apimgw: $(in_root getent passwd apimgw)"
uid=$(in_root id -u apimgw)
in_root setpriv --reuid=apimgw --regid=apimgw --init-groups /bin/true && ok "apimgw can run a program in the root" ||
	bad "user apimgw cannot run /bin/true in the root (modes of /, /usr, /lib?)"
[ "$uid" -lt 1000 ] || bad "apimgw uid $uid is not a system uid"
want_stat() { # PATH "owner group mode"
	got=$(in_root stat -c '%U %G %a' "$1" 2>/dev/null || echo missing)
	[ "$got" = "$2" ] && ok "$1 is $2" || bad "$1 is '$got', want '$2'"
}
want_stat /var/lib/apimgw "apimgw apimgw 750"
want_stat /etc/apimgw "root apimgw 750"
want_stat /etc/apimgw/env.conf "root apimgw 640"
want_stat /usr/bin/apimgw "root root 755"
want_stat /usr/lib/systemd/system/apimgw.service "root root 644"
grep -qx /etc/apimgw/env.conf "$root/var/lib/dpkg/info/apimgw.conffiles" && ok "env.conf is a conffile" || bad "env.conf is not a conffile"

echo "== run /usr/bin/apimgw as apimgw.service does"
# Configured as an operator would: hybrid mode, control plane not reachable yet
# (nothing listens in the private network namespace). The gateway must keep
# running and show that on its status page.
cat >>"$root/etc/apimgw/env.conf" <<'CONF'
config.service.endpoint=http://127.0.0.1:9
config.service.auth=GatewayKey edge-test&209912312359&AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==
gateway.name=edge-test
CONF
# The unit: User/Group=apimgw, WorkingDirectory=/var/lib/apimgw, UMask=0027,
# AmbientCapabilities and CapabilityBoundingSet CAP_NET_BIND_SERVICE,
# NoNewPrivileges, Environment=GOMEMLIMIT=256MiB, ExecStart as below.
execstart=$(sed -n 's/^ExecStart=//p' "$root/usr/lib/systemd/system/apimgw.service")
[ "$execstart" = "/usr/bin/apimgw --config /etc/apimgw/env.conf" ] || bad "unexpected ExecStart: $execstart"
gomemlimit=$(sed -n 's/^Environment=GOMEMLIMIT=//p' "$root/usr/lib/systemd/system/apimgw.service")
export ROOT=$root EXECSTART=$execstart GOMEMLIMIT_UNIT=$gomemlimit
if unshare --net --mount --pid --fork --propagation private bash -euo pipefail -c '
	fail=0
	bad() { echo "FAIL $*"; fail=1; }
	ok() { echo "ok   $*"; }
	ip link set lo up
	mount -t proc proc "$ROOT/proc"
	log=$ROOT/tmp/apimgw.log
	chroot "$ROOT" setpriv --reuid=apimgw --regid=apimgw --init-groups \
		--inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
		--bounding-set=-all,+net_bind_service --no-new-privs \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin GOMEMLIMIT="$GOMEMLIMIT_UNIT" \
		sh -c "umask 0027 && cd /var/lib/apimgw && exec $EXECSTART" >"$log" 2>&1 &
	pid=$!
	up=0
	for i in $(seq 1 150); do
		if curl -fsS -o /dev/null --max-time 1 http://127.0.0.1:8090/healthz 2>/dev/null; then up=1; break; fi
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	if [ $up = 1 ]; then ok "status page answers /healthz on 127.0.0.1:8090"; else
		bad "status page did not answer on 127.0.0.1:8090 within 15s"; echo "--- apimgw output:"; tail -20 "$log"
	fi
	if kill -0 $pid 2>/dev/null; then
		uidline=$(grep "^Uid:" "$ROOT/proc/$pid/status" | awk "{print \$2}")
		want=$(chroot "$ROOT" id -u apimgw)
		[ "$uidline" = "$want" ] && ok "runs as apimgw (uid $want)" || bad "runs as uid $uidline, want $want"
		grep -q "^NoNewPrivs:[[:space:]]*1" "$ROOT/proc/$pid/status" && ok "no new privileges" || bad "NoNewPrivs not set"
		capeff=$(sed -n "s/^CapEff:[[:space:]]*//p" "$ROOT/proc/$pid/status")
		[ "$capeff" = "0000000000000400" ] && ok "CapEff is CAP_NET_BIND_SERVICE only" || bad "CapEff $capeff"
	fi
	if [ $up = 1 ]; then
		j=$(curl -fsS --max-time 5 http://127.0.0.1:8090/status.json || true)
		grep -q "\"version\"" <<<"$j" && ok "/status.json has a version" || bad "/status.json: $j"
		grep -q "\"mode\": \"hybrid\"" <<<"$j" && grep -q "\"connected\": false" <<<"$j" &&
			ok "/status.json: hybrid, control plane not connected" || bad "/status.json mode/connection: $(grep -E "\"(mode|connected)\"" <<<"$j" | tr -d " ")"
		page=$(curl -fsS --max-time 5 http://127.0.0.1:8090/ || true)
		grep -qi "<html" <<<"$page" && ok "/ serves HTML" || bad "/ is not HTML"
		metrics=$(curl -fsS --max-time 5 http://127.0.0.1:8090/metrics || true)
		grep -q "^go_goroutines " <<<"$metrics" && ok "/metrics" || bad "/metrics has no go_goroutines"
		st=$(curl -sS -o /dev/null -w "%{http_code}" --max-time 5 http://127.0.0.1:8090/readyz || true)
		[ "$st" = 503 ] && ok "/readyz 503: no configuration loaded yet" || bad "/readyz answers $st before any configuration, want 503"
		# A real browser loads the page from the installed gateway.
		if command -v chromium >/dev/null; then
			prof=$(mktemp -d)
			dom=$(timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
				--disable-background-networking --disable-component-update --disable-sync \
				--user-data-dir="$prof" --dump-dom http://127.0.0.1:8090/ 2>/dev/null || true)
			rm -rf "$prof"
			if grep -q "id=\"mode\">hybrid<" <<<"$dom" && grep -qE "Control plane (unreachable|not reached yet)" <<<"$dom" &&
				grep -q "edge-test" <<<"$dom" && grep -q "id=\"host\"" <<<"$dom"; then
				ok "headless Chromium renders the page: hybrid, control plane not reached, edge-test, host facts"
			else
				bad "Chromium did not render the expected page:"; head -c 2000 <<<"$dom"; echo
			fi
		else
			bad "chromium not installed (./scripts/deps.sh status)"
		fi
		kill -HUP $pid; sleep 1
		kill -0 $pid 2>/dev/null && curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:8090/healthz &&
			ok "SIGHUP (ExecReload) keeps it serving" || bad "SIGHUP killed it or the status page"
	fi
	if [ -e "$ROOT/var/lib/apimgw/apimgw.db" ]; then
		o=$(chroot "$ROOT" stat -c "%U:%G %a" /var/lib/apimgw/apimgw.db)
		[ "${o%% *}" = apimgw:apimgw ] && ok "store file owned by the service user ($o)" || bad "store file $o"
	fi
	if kill -0 $pid 2>/dev/null; then
		kill -TERM $pid
		for i in $(seq 1 450); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
		if kill -0 $pid 2>/dev/null; then bad "still running 45s (TimeoutStopSec) after SIGTERM"; kill -KILL $pid; fi
		wait $pid && ok "SIGTERM: clean exit" || bad "SIGTERM: exit status $?"
	else
		wait $pid || true
		bad "apimgw exited on its own:"; tail -20 "$log"
	fi
	umount "$ROOT/proc"
	exit $fail
'; then :; else fail=1; fi

echo "== reinstall keeps a local edit of env.conf"
echo "# local edit $$" >>"$root/etc/apimgw/env.conf"
if out=$(in_root dpkg -i --force-confold /tmp/apimgw.deb 2>&1); then ok "dpkg -i again (upgrade path)"; else bad "reinstall:"; echo "$out"; fi
grep -q "# local edit $$" "$root/etc/apimgw/env.conf" && ok "env.conf edit kept" || bad "env.conf edit lost on upgrade"
want_stat /var/lib/apimgw "apimgw apimgw 750"

echo "== dpkg -r, then dpkg -P"
in_root dpkg -r apimgw >/dev/null 2>&1 && ok "dpkg -r" || bad "dpkg -r"
[ ! -e "$root/usr/bin/apimgw" ] && ok "binary removed" || bad "binary left after remove"
[ -f "$root/etc/apimgw/env.conf" ] && [ -d "$root/var/lib/apimgw" ] && ok "remove keeps config and state" || bad "remove deleted config or state"
in_root dpkg -P apimgw >/dev/null 2>&1 && ok "dpkg -P" || bad "dpkg -P"
tree >"$root.after"
if diff -u "$root.before" "$root.after"; then ok "file tree after purge is as before install"; else bad "purge left files behind (diff above)"; fi
cmp -s "$root.passwd" "$root/etc/passwd" && cmp -s "$root.group" "$root/etc/group" && ok "passwd and group as before" || bad "passwd or group changed"
in_root dpkg-query -W apimgw >/dev/null 2>&1 && bad "dpkg still knows apimgw" || ok "dpkg forgot apimgw"
exit $fail
