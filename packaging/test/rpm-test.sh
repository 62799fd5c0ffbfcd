#!/usr/bin/env bash
# Real rpm install, upgrade and erase of the x86_64 apimgw rpm into a
# throw-away root (the Debian root of debian-root.sh with an rpm database in
# it: rpm runs the scriptlets chrooted, with rpm's arguments 1/2 and 0/1):
#   1. rpm -i: %pre creates the user, files and /var/lib/apimgw get their
#      owners and modes, env.conf is %config(noreplace);
#   2. rpm -U to a newer version keeps a locally edited env.conf and the state;
#      the old package's %preun/%postun (argument 1) delete nothing;
#   3. rpm -e (argument 0): the program goes, the state stays (rpm has no
#      purge), the edited env.conf is saved as env.conf.rpmsave.
# Needs root. Usage: packaging/test/rpm-test.sh RPM NEWER_RPM
set -euo pipefail
rpm1=$(realpath "${1:?usage: rpm-test.sh RPM NEWER_RPM}")
rpm2=$(realpath "${2:?usage: rpm-test.sh RPM NEWER_RPM}")
[ "$(id -u)" -eq 0 ] || { echo "rpm-test: needs root"; exit 1; }
fail=0
bad() { echo "FAIL $*"; fail=1; }
ok() { echo "ok   $*"; }
base=$("$(dirname "$0")/debian-root.sh")
root=$(mktemp -d /var/tmp/apimgw-rpm.XXXXXX)
trap 'rm -rf "$root"' EXIT
tar -C "$root" -xzf "$base"
# The root directory must be root 0755, or no user but root (apimgw) can
# load libc in it; a root tarball from an older debian-root.sh must not pass.
root_mode=$(stat -c '%U:%G %a' "$root")
[ "$root_mode" = "root:root 755" ] || { echo "FAIL the Debian root's / is '$root_mode', want 'root:root 755' (from $base)"; exit 1; }
echo "ok   the Debian root's / is root:root 755"
rm -rf "$root/run/systemd"
in_root() { chroot "$root" "$@"; }
r() { rpm --root "$root" --dbpath /var/lib/rpm "$@"; }
want_stat() {
	got=$(in_root stat -c '%U %G %a' "$1" 2>/dev/null || echo missing)
	[ "$got" = "$2" ] && ok "$1 is $2" || bad "$1 is '$got', want '$2'"
}
r --initdb

echo "== rpm -i $(basename "$rpm1")"
# --nodeps: the Debian root has no rpm database of its own packages.
if out=$(r -i --nodeps "$rpm1" 2>&1); then ok "rpm -i"; else bad "rpm -i:"; echo "$out"; exit 1; fi
# Debian's rpm warns that it is not Debian's package manager; show anything else.
grep -v -e "should not be used directly" -e "assuming you know what you are doing" <<<"$out" || true
in_root getent passwd apimgw >/dev/null && ok "%pre created the user apimgw" || bad "no user apimgw"
want_stat /var/lib/apimgw "apimgw apimgw 750"
want_stat /etc/apimgw "root apimgw 750"
want_stat /etc/apimgw/env.conf "root apimgw 640"
want_stat /usr/bin/apimgw "root root 755"
r -V --nodeps apimgw >/dev/null 2>&1 && ok "rpm -V: installed files match the package" || bad "rpm -V: $(r -V --nodeps apimgw 2>&1 | head -5)"

echo "== rpm -U $(basename "$rpm2")"
echo "# local edit $$" >>"$root/etc/apimgw/env.conf"
in_root install -o apimgw -g apimgw -m 0600 /dev/null /var/lib/apimgw/apimgw.db
if out=$(r -U --nodeps "$rpm2" 2>&1); then ok "rpm -U"; else bad "rpm -U:"; echo "$out"; fi
[ "$(r -q --qf '%{VERSION}' apimgw)" = "$(rpm -qp --qf '%{VERSION}' "$rpm2")" ] && ok "upgraded to $(r -q apimgw)" || bad "version after upgrade: $(r -q apimgw)"
grep -q "# local edit $$" "$root/etc/apimgw/env.conf" && ok "env.conf edit kept (noreplace)" || bad "env.conf edit lost on upgrade"
[ -f "$root/var/lib/apimgw/apimgw.db" ] && in_root getent passwd apimgw >/dev/null && ok "state and user kept on upgrade" || bad "upgrade deleted state or user"

echo "== rpm -e"
if out=$(r -e apimgw 2>&1); then ok "rpm -e"; else bad "rpm -e:"; echo "$out"; fi
[ ! -e "$root/usr/bin/apimgw" ] && [ ! -e "$root/usr/lib/systemd/system/apimgw.service" ] && ok "program and unit removed" || bad "program or unit left after erase"
[ -f "$root/var/lib/apimgw/apimgw.db" ] && ok "state kept (rpm has no purge)" || bad "erase deleted the state"
[ -f "$root/etc/apimgw/env.conf.rpmsave" ] && ok "edited env.conf saved as env.conf.rpmsave" || bad "edited env.conf not saved: $(ls "$root/etc/apimgw" 2>&1)"
r -q apimgw >/dev/null 2>&1 && bad "rpm still knows apimgw" || ok "rpm forgot apimgw"
exit $fail
