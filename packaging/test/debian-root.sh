#!/usr/bin/env bash
# Prints the path of a cached Debian 12 root tarball (minbase plus systemd,
# passwd and curl) for the install, rpm and boot tests, making it with
# debootstrap when it is absent (about a minute).
#
# The cache can never hide a change of this script: the tarball's name carries
# a hash of this file (bookworm-systemd-<hash>.tar.gz), so editing the script
# makes a new root; tarballs with another hash are deleted once unused for an
# hour (another checkout may still use them). The cache directory
# is $APIMGW_TEST_CACHE (default /var/cache/apimgw-test; `make test-fresh`
# points it at an empty directory).
#
# The mirror is the machine's own: the first URI of an apt source (deb822
# *.sources or one-line sources.list / *.list) of type deb with suite bookworm
# and component main. $APIMGW_DEBIAN_MIRROR overrides it.
#
# The archive's root entry must be root 0755: mktemp -d makes 0700, and a 0700
# root in a chroot stops every user but root from loading libc. The root is
# chmod-ed before tar and the archive checked after; the tests check the
# extracted root again (a cache made by an older script cannot pass).
set -euo pipefail
self=$(realpath "$0")
cache=${APIMGW_TEST_CACHE:-/var/cache/apimgw-test}
key=$(sha256sum "$self" | cut -c1-16)
base=$cache/bookworm-systemd-$key.tar.gz

# apt_mirror prints the first bookworm main deb URI of the machine's apt sources.
apt_mirror() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		# deb [options] URI SUITE COMPONENT...
		awk '$1 == "deb" {
			i = 2
			if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
			uri = $i; suite = $(i+1)
			if (suite != "bookworm") next
			for (j = i + 2; j <= NF; j++) if ($j == "main") { print uri; exit }
		}' "$f" | head -1
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		# deb822: stanzas separated by blank lines; Enabled: no skips one.
		awk 'function flush() {
				if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ / bookworm / &&
					(" " comps " ") ~ / main / && enabled != "no" && uris != "") {
					split(uris, u, " "); print u[1]; exit
				}
				types = suites = comps = uris = enabled = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			{
				k = tolower($1); sub(/:$/, "", k); v = $0; sub(/^[^:]*:[ \t]*/, "", v)
				if (k == "types") types = v
				else if (k == "suites") suites = v
				else if (k == "components") comps = v
				else if (k == "uris") uris = v
				else if (k == "enabled") enabled = tolower(v)
			}
			END { flush() }' "$f" | head -1
	done
}

mkdir -p "$cache"
# One builder at a time (two test runs may share the cache): the second waits
# and then finds the tarball.
exec 9>"$cache/lock"
flock 9
if [ ! -s "$base" ]; then
	mirror=${APIMGW_DEBIAN_MIRROR:-$(apt_mirror | head -1)}
	if [ -z "$mirror" ]; then
		echo "debian-root: no apt source of this machine names a Debian bookworm main mirror" \
			"(/etc/apt/sources.list, /etc/apt/sources.list.d/*.list, *.sources); set APIMGW_DEBIAN_MIRROR" >&2
		exit 1
	fi
	echo "debian-root: debootstrap bookworm from $mirror into $base" >&2
	# Roots of other versions of this script, unused for an hour, go.
	find "$cache" -maxdepth 1 -name 'bookworm-systemd*.tar.gz*' -mmin +60 -delete
	tmp=$(mktemp -d "$cache/boot.XXXXXX")
	if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,passwd,curl bookworm "$tmp" \
		"$mirror" >"$cache/debootstrap.log" 2>&1; then
		tail -20 "$cache/debootstrap.log" >&2; rm -rf "$tmp"; exit 1
	fi
	chown root:root "$tmp"
	chmod 0755 "$tmp"
	tar -C "$tmp" -czf "$base.tmp" .
	rm -rf "$tmp"
	# The first entry is the root ("./"): it must say drwxr-xr-x root/root.
	first=$(tar -tvzf "$base.tmp" | head -1 || true)
	case "$first" in
	"drwxr-xr-x root/root "*" ./") ;;
	*) echo "debian-root: the archive's root entry is '$first', want drwxr-xr-x root/root ./" >&2; rm -f "$base.tmp"; exit 1 ;;
	esac
	mv "$base.tmp" "$base"
fi
touch "$base" # its mtime is its last use
echo "$base"
