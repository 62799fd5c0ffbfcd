#!/usr/bin/env bash
# Checks systemd/apimgw.service and systemd/apimcp.service:
#  - systemd-analyze verify --recursive-errors=no on copies whose ExecStart
#    points at the built binaries in BIN (verify needs them to exist);
#  - the same on a copy with a typo'd key, which must fail (so the check can);
#  - systemd-analyze security --offline=true --threshold=20 (exposure ≤ 2.0).
# Usage: packaging/test/units-check.sh BIN_DIR
set -euo pipefail
bin=${1:?usage: units-check.sh BIN_DIR}
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for u in apimgw apimcp; do
	[ -x "$bin/$u" ] || { echo "units-check: $bin/$u missing (make build)"; exit 1; }
	sed "s#/usr/bin/$u#$bin/$u#" "systemd/$u.service" >"$tmp/$u.service"
	if ! out=$(systemd-analyze verify --recursive-errors=no "$tmp/$u.service" 2>&1) || [ -n "$out" ]; then
		echo "FAIL verify $u.service:"; echo "$out"; fail=1
	else
		echo "ok   verify $u.service"
	fi
	sed 's/^NoNewPrivileges=/NoNewPrivilegs=/' "$tmp/$u.service" >"$tmp/typo-$u.service"
	if systemd-analyze verify --recursive-errors=no "$tmp/typo-$u.service" >/dev/null 2>&1; then
		echo "FAIL verify accepted a typo'd key in $u.service: the check cannot fail"; fail=1
	fi
	if ! out=$(systemd-analyze security --offline=true --threshold=20 "systemd/$u.service" 2>&1); then
		echo "FAIL security $u.service:"; echo "$out" | grep -E '✗|Overall'; fail=1
	else
		echo "ok   security $u.service: $(echo "$out" | grep -o 'exposure level for .*')"
	fi
done
exit $fail
