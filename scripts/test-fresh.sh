#!/usr/bin/env bash
# make test-fresh: the README's test command as a new user runs it, on this
# machine. The committed HEAD of this checkout (uncommitted changes are not in
# it) is cloned into a temporary directory, with the shared folder beside it
# (../shared, a symlink to this checkout's ../shared), and `bash .ci/run` runs
# there with CI=true (.ci/run is `make test`: tests that cannot run fail).
#
# Nothing cached on this machine is used: the caches the build and the tests
# make are pointed at empty directories in the temporary one instead of being
# moved aside (so another checkout's test run, at the same time, keeps its
# own): the Debian root of the packaging tests (APIMGW_TEST_CACHE, normally
# /var/cache/apimgw-test), the Go tools scripts/deps.sh installs (GOPATH, so
# GOPATH/bin; normally ~/go), the Go module cache (GOMODCACHE) and the Go
# build and test cache (GOCACHE). What is not a cache stays: Debian packages
# already installed by an earlier `make test` (scripts/deps.sh installs what
# is missing) and the Go toolchain itself.
#
# Usage: scripts/test-fresh.sh [COMMAND...]   (default: bash .ci/run)
# FRESH_KEEP=1 keeps the temporary directory. Exit status: the command's.
set -euo pipefail
repo=$(git rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse HEAD)
shared=$(realpath -e "$repo/../shared" 2>/dev/null) || {
	echo "test-fresh: $repo/../shared is missing (the corpus the tests read; CI=true makes its absence a failure)" >&2
	exit 1
}
[ -z "$(git -C "$repo" status --porcelain --untracked-files=no)" ] ||
	echo "test-fresh: warning: uncommitted changes in $repo are not tested (only commit $commit is)" >&2
[ $# -gt 0 ] || set -- bash .ci/run

work=$(mktemp -d /var/tmp/apimgw-fresh.XXXXXX)
cleanup() {
	if [ "${FRESH_KEEP:-}" = 1 ]; then echo "test-fresh: kept $work" >&2; return; fi
	chmod -R u+w "$work" 2>/dev/null || true # the module cache is read-only
	rm -rf "$work"
}
trap cleanup EXIT
git init -q "$work/apimgw"
git -C "$work/apimgw" fetch -q --tags "$repo" HEAD
git -C "$work/apimgw" checkout -q --detach FETCH_HEAD
ln -s "$shared" "$work/shared"
mkdir -p "$work/gopath" "$work/gocache" "$work/test-cache"
# Tools installed into this machine's GOPATH/bin must not be found either.
oldbin=$(go env GOPATH)/bin
path=$(tr ':' '\n' <<<"$PATH" | grep -vxF "$oldbin" | paste -sd: -)
echo "test-fresh: commit $commit in $work/apimgw, ../shared -> $shared; running: $*" >&2
cd "$work/apimgw"
set +e
env PATH="$path" CI=true GOPATH="$work/gopath" GOMODCACHE="$work/gopath/pkg/mod" GOCACHE="$work/gocache" \
	APIMGW_TEST_CACHE="$work/test-cache" GOFLAGS= "$@"
rc=$?
set -e
echo "test-fresh: '$*' exited $rc (commit $commit)" >&2
exit $rc
