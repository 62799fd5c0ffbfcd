#!/bin/sh
# preinstall of @NAME@ (deb: install|upgrade; rpm: 1 install, 2 upgrade).
# Creates the static system user and group before the files owned by them are
# unpacked.
set -e
name=@NAME@
if ! getent group "$name" >/dev/null; then
	groupadd --system "$name"
fi
if ! getent passwd "$name" >/dev/null; then
	nologin=/usr/sbin/nologin
	[ -x "$nologin" ] || nologin=/sbin/nologin
	useradd --system --gid "$name" --home-dir "/var/lib/$name" --no-create-home \
		--shell "$nologin" --comment "@NAME@ service" "$name"
fi
exit 0
