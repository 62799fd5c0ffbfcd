#!/usr/bin/env bash
# Boot test of the amd64 apimgw deb under a real systemd: boots a throw-away
# Debian 12 container (systemd-nspawn, private network) from the cached root,
# where a oneshot unit runs boot-check.sh (dpkg -i, the real apimgw.service and
# apimcp.service with all their hardening, the status page, stop, remove,
# purge) and powers off.
# Needs root and systemd-nspawn.
# Usage: packaging/test/boot-test.sh APIMGW_DEB APIMCP_DEB APIMCTL_DEB NEWER_APIMGW_DEB
set -euo pipefail
usage="usage: boot-test.sh APIMGW_DEB APIMCP_DEB APIMCTL_DEB NEWER_APIMGW_DEB"
deb=$(realpath "${1:?$usage}")
mcp=$(realpath "${2:?$usage}")
ctl=$(realpath "${3:?$usage}")
upg=$(realpath "${4:?$usage}")
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "boot-test: needs root"; exit 1; }
base=$("$here/debian-root.sh")
root=$(mktemp -d /var/tmp/apimgw-boot.XXXXXX)
trap 'rm -rf "$root"' EXIT
tar -C "$root" -xzf "$base"
# The root directory must be root 0755, or no user but root (apimgw) can
# load libc in it; a root tarball from an older debian-root.sh must not pass.
root_mode=$(stat -c '%U:%G %a' "$root")
[ "$root_mode" = "root:root 755" ] || { echo "FAIL the Debian root's / is '$root_mode', want 'root:root 755' (from $base)"; exit 1; }
echo "ok   the Debian root's / is root:root 755"
cp "$deb" "$root/var/tmp/apimgw.deb"
cp "$mcp" "$root/var/tmp/apimcp.deb"
cp "$ctl" "$root/var/tmp/apimctl.deb"
cp "$upg" "$root/var/tmp/apimgw-upgrade.deb"
install -m 0755 "$here/boot-check.sh" "$root/usr/local/sbin/apimgw-boot-check"
cat >"$root/etc/systemd/system/apimgw-boot-check.service" <<'UNIT'
[Unit]
Description=apimgw package boot check
After=multi-user.target
[Service]
Type=oneshot
ExecStart=/usr/local/sbin/apimgw-boot-check
ExecStartPost=/bin/systemctl poweroff --no-block
TimeoutStartSec=240
[Install]
WantedBy=multi-user.target
UNIT
ln -s /etc/systemd/system/apimgw-boot-check.service "$root/etc/systemd/system/multi-user.target.wants/"
echo "== boot (systemd-nspawn --private-network)"
if ! timeout 300 systemd-nspawn -D "$root" -b --register=no --keep-unit --private-network -q >"$root.log" 2>&1; then
	echo "FAIL container did not power off cleanly:"; tail -30 "$root.log"; rm -f "$root.log"; exit 1
fi
rm -f "$root.log"
[ -f "$root/boot-check.out" ] || { echo "FAIL boot check did not run"; exit 1; }
cat "$root/boot-check.out"
grep -qx 'rc=0' "$root/boot-check.out"
