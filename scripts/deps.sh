#!/usr/bin/env bash
# Installs what a make target needs and is missing: Debian packages (apt-get) and
# Go tools (go install into $(go env GOPATH)/bin). Safe to run again; does nothing
# when everything is there. Usage: scripts/deps.sh GROUP...
set -euo pipefail

apt_pkgs=()
go_tools=()
for group in "$@"; do
	# HTTP/2: h2spec in make test (TestH2Spec), h2load beside nginx in make bench.
	if [ "$group" = test ]; then go_tools+=(github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible); fi
	if [ "$group" = bench ]; then apt_pkgs+=(nghttp2-client); fi
	case "$group" in
	test) apt_pkgs+=(curl tinyproxy-bin) ;;
	bench) apt_pkgs+=(nginx-light wrk haproxy python3 openssl binutils) ;;
	packaging) apt_pkgs+=(lintian rpm cpio debootstrap systemd-container bc); go_tools+=(github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2) ;;
	qemu) apt_pkgs+=(qemu-user-static) ;;
	status) apt_pkgs+=(prometheus chromium) ;;
	e2e) apt_pkgs+=(python3) ;;
	redis) apt_pkgs+=(redis-server) ;;
	image) apt_pkgs+=(ca-certificates tzdata); go_tools+=(github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@v1.10.0) ;;
	containers) apt_pkgs+=(podman runc catatonit slirp4netns uidmap) ;;
	postgres) apt_pkgs+=(postgresql util-linux) ;; # initdb, postgres; setpriv (run as nobody when root)
	*) echo "deps.sh: unknown group $group" >&2; exit 2 ;;
	esac
	# Shared counters: the Redis tests run in test-go (internal/testredis).
	if [ "$group" = test ]; then apt_pkgs+=(redis-server); fi
done

missing=()
for p in "${apt_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "deps.sh: installing ${missing[*]}"
	# Another apt or dpkg (a second test run, unattended-upgrades) may hold
	# the lock: wait for it rather than fail.
	lock=(-o DPkg::Lock::Timeout=600)
	$sudo apt-get "${lock[@]}" update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

gobin="$(go env GOPATH)/bin"
for t in "${go_tools[@]}"; do
	name="${t%%@*}"; name="${name##*/}"
	[ -x "$gobin/$name" ] || { echo "deps.sh: go install $t"; go install "$t"; }
done
