#!/bin/sh
# postremove of @NAME@ (deb: remove | purge | upgrade | failed-* | abort-* |
# disappear; rpm: 0 erase, 1 upgrade). State (/var/lib/@NAME@), configuration
# and the service user are deleted only on purge; rpm has no purge, so an erase
# keeps them (see docs/install.md).
set -e
name=@NAME@
case "$1" in
purge)
	rm -rf "/var/lib/$name" "/etc/$name"
	if getent passwd "$name" >/dev/null; then
		userdel "$name" >/dev/null 2>&1 || true
	fi
	if getent group "$name" >/dev/null; then
		groupdel "$name" >/dev/null 2>&1 || true
	fi
	;;
esac
case "$1" in
remove | purge | 0)
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
