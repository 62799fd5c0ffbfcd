#!/usr/bin/env bash
# Prints the path of a cached Debian 12 root tarball (minbase plus systemd,
# passwd and curl) for the install and boot tests, making it with debootstrap
# the first time (about a minute; kept in /var/cache/apimgw-test).
set -euo pipefail
cache=/var/cache/apimgw-test
base=$cache/bookworm-systemd.tar.gz
if [ ! -s "$base" ]; then
	echo "debian-root: debootstrap bookworm into $base (once)" >&2
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/boot.XXXXXX")
	if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,passwd,curl bookworm "$tmp" \
		http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1; then
		tail -20 "$cache/debootstrap.log" >&2; rm -rf "$tmp"; exit 1
	fi
	tar -C "$tmp" -czf "$base.tmp" . && mv "$base.tmp" "$base"
	rm -rf "$tmp"
fi
echo "$base"
