#!/bin/sh
# preremove of @NAME@ (deb: remove | upgrade | deconfigure; rpm: 0 erase,
# 1 upgrade). Stops and disables the service only when the package goes away:
# on upgrade the new package's postinstall has already restarted it.
set -e
name=@NAME@
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now "$name.service" >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
