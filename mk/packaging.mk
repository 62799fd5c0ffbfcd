# Packaging and systemd (issue 7): stripped cross-built binaries, nfpm deb/rpm
# packages for amd64 and arm64, their checks (lintian, rpm -qp, a real install
# in a throw-away Debian root), the unit-file checks, and the arm64 unit tests
# under qemu.
PKG_ARCHES := amd64 arm64
PKG_NAMES := apimgw apimcp apimctl
PKG_CONFIG_apimgw := nfpm.yaml
PKG_CONFIG_apimcp := packaging/apimcp/nfpm.yaml
PKG_CONFIG_apimctl := packaging/apimctl/nfpm.yaml
PKG_LDFLAGS := -s -w $(LDFLAGS)
# Packages whose unit tests must pass on arm64 (under qemu-aarch64-static).
ARM64_TEST_PKGS := ./netstack/http1/... ./store/... ./policy/... ./wire/...
# Tests that re-exec the test binary as a child (crash and disk-full tests)
# cannot run under -exec: without binfmt_misc the kernel cannot start an arm64
# child. They run natively in test-go. APIMGW_EMULATED=1 tells tests they run
# under emulation, for those that want to skip themselves.
ARM64_SKIP := ^(TestCrashSIGKILL|TestLockTimeout|TestDiskFull.*)$$

PACKAGE_TARGETS += packages
TEST_TARGETS += test-units test-packages test-arm64

.PHONY: dist-bins dist-scripts packages test-units test-packages test-install test-arm64 package-sizes

# Static, stripped binaries for every arch into dist/bin/<arch>/.
dist-bins:
	@for a in $(PKG_ARCHES); do \
		echo "build dist/bin/$$a"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$a $(GO) build -trimpath -ldflags '$(PKG_LDFLAGS)' \
			-o dist/bin/$$a/ ./cmd/apimgw ./cmd/apimcp ./cmd/apimctl || exit 1; \
	done

# Maintainer scripts: one template per hook in packaging/scripts/, the package
# name filled in.
dist-scripts:
	@for p in apimgw apimcp; do \
		mkdir -p dist/scripts/$$p; \
		for s in packaging/scripts/*.sh; do \
			sed "s/@NAME@/$$p/g" $$s > dist/scripts/$$p/$${s##*/} || exit 1; \
		done; \
	done

# dist/<name>_<version>-1_<arch>.deb and dist/<name>-<version>-1.<rpmarch>.rpm
# for apimgw, apimcp and apimctl on amd64 and arm64.
packages: dist-bins dist-scripts
	./scripts/deps.sh packaging
	@rm -f dist/*.deb dist/*.rpm
	@for a in $(PKG_ARCHES); do for p in $(PKG_NAMES); do for f in deb rpm; do \
		cfg=$$(case $$p in apimgw) echo $(PKG_CONFIG_apimgw);; apimcp) echo $(PKG_CONFIG_apimcp);; apimctl) echo $(PKG_CONFIG_apimctl);; esac); \
		GOARCH=$$a VERSION=$(VERSION) nfpm package -f $$cfg -p $$f -t dist/ >/dev/null || exit 1; \
	done; done; done
	@ls -l dist/*.deb dist/*.rpm

package-sizes: packages
	@stat -c '%s %n' dist/*.deb dist/*.rpm | awk '{printf "%-40s %8.2f MiB\n", $$2, $$1/1048576}'

# systemd-analyze verify needs the ExecStart binary to exist: check copies of
# the units whose ExecStart points at bin/. A typo'd key must make it fail, and
# the exposure score must stay at or below 2.0.
test-units: build
	./packaging/test/units-check.sh $(CURDIR)/$(BIN)

# lintian and rpm -qp on every package; then the amd64 packages in a fresh
# Debian root (packaging/test/debian-root.sh: debootstrap from this machine's apt
# mirror, cached under a name keyed by the script's content; each test checks
# the root's / is root 0755): the deb installed with
# dpkg and started as the unit would start it (install-test.sh); the rpm
# installed, upgraded and erased with rpm (rpm-test.sh); and the debs installed
# and started by a real systemd in a booted container, apimcp as the control
# plane of apimgw, upgraded while running (boot-test.sh). Each removes and
# purges. The upgrades go to a package built here as version $(VERSION).1.
test-packages: packages
	./scripts/deps.sh packaging status
	./packaging/test/check-packages.sh dist $(VERSION)
	@rm -rf dist/upgrade && mkdir -p dist/upgrade
	GOARCH=amd64 VERSION=$(VERSION).1 nfpm package -f nfpm.yaml -p deb -t dist/upgrade/ >/dev/null
	GOARCH=amd64 VERSION=$(VERSION).1 nfpm package -f nfpm.yaml -p rpm -t dist/upgrade/ >/dev/null
	./packaging/test/install-test.sh dist/apimgw_$(VERSION)-1_amd64.deb
	./packaging/test/rpm-test.sh dist/apimgw-$(VERSION)-1.x86_64.rpm dist/upgrade/apimgw-$(VERSION).1-1.x86_64.rpm
	./packaging/test/boot-test.sh dist/apimgw_$(VERSION)-1_amd64.deb dist/apimcp_$(VERSION)-1_amd64.deb \
		dist/apimctl_$(VERSION)-1_amd64.deb dist/upgrade/apimgw_$(VERSION).1-1_amd64.deb

# arm64: run the unit tests of the portable core
# under qemu (binfmt_misc is not mounted here, so -exec is needed; -race needs
# cgo and does not work cross-arch).
test-arm64:
	./scripts/deps.sh qemu
	APIMGW_EMULATED=1 CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) test -count=1 -exec qemu-aarch64-static \
		-skip '$(ARM64_SKIP)' $(ARM64_TEST_PKGS)

BENCH_TARGETS += bench-packages
.PHONY: bench-packages

# Package sizes (target: each .deb ≤ 12 MiB) beside Debian's own caddy (a Go
# reverse proxy) and nginx packages, fetched in the same run, and the
# effect of stripping (-s -w) on the binaries.
bench-packages: packages
	@tmp=$$(mktemp -d); \
	(cd $$tmp && apt-get download -qq caddy nginx >/dev/null 2>&1 || true); \
	printf '%-36s %10s %14s\n' package 'size MiB' 'installed MiB'; \
	for f in dist/*.deb $$tmp/*.deb; do \
		[ -f "$$f" ] || continue; \
		printf '%-36s %10.2f %14.2f\n' "$$(basename $$f)" "$$(echo "$$(stat -c %s $$f) / 1048576" | bc -l)" \
			"$$(echo "$$(dpkg-deb -f $$f Installed-Size) / 1024" | bc -l)"; \
	done; \
	for f in dist/*.rpm; do printf '%-36s %10.2f\n' "$$(basename $$f)" "$$(echo "$$(stat -c %s $$f) / 1048576" | bc -l)"; done; \
	for b in apimgw apimcp apimctl; do \
		CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$tmp/$$b ./cmd/$$b || exit 1; \
		printf 'binary %-8s -trimpath: %6.2f MiB, -trimpath -s -w: %6.2f MiB\n' $$b \
			"$$(echo "$$(stat -c %s $$tmp/$$b) / 1048576" | bc -l)" "$$(echo "$$(stat -c %s dist/bin/amd64/$$b) / 1048576" | bc -l)"; \
	done; \
	rm -rf $$tmp
