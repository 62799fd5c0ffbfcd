#!/bin/sh
# postinstall of @NAME@ (deb: configure [old-version] | abort-*; rpm: 1 install,
# 2 upgrade). Creates the state directory, and where systemd runs: reloads it,
# enables the unit on a fresh install (start it after editing the config), and
# restarts a running service on upgrade.
set -e
name=@NAME@
fresh=0
case "$1" in
configure) [ -n "$2" ] || fresh=1 ;;
1) fresh=1 ;;
2) ;;
abort-upgrade | abort-remove | abort-deconfigure) ;;
*) exit 0 ;;
esac
install -d -o "$name" -g "$name" -m 0750 "/var/lib/$name"
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
	if [ "$fresh" = 1 ]; then
		systemctl enable "$name.service" >/dev/null 2>&1 || true
	else
		systemctl try-restart "$name.service" >/dev/null 2>&1 || true
	fi
fi
exit 0
