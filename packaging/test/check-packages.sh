#!/usr/bin/env bash
# Checks the built packages without installing them:
#  - every deb passes `lintian --fail-on error` (warnings are printed);
#  - deb control data: arch, depends, conffiles, maintainer scripts;
#  - every rpm: name/version/arch, file list with owners, modes and config
#    flags (env.conf is %config(noreplace): flag "cn"), the four scriptlets,
#    requires;
#  - the binaries inside are static, stripped ELF files of the right machine;
#  - each .deb is at most 12 MiB.
# Usage: packaging/test/check-packages.sh DIST_DIR VERSION
set -euo pipefail
dist=$(realpath "${1:?usage: check-packages.sh DIST_DIR VERSION}")
ver=${2:?usage: check-packages.sh DIST_DIR VERSION}
max_bytes=$((12 * 1024 * 1024))
fail=0
bad() { echo "FAIL $*"; fail=1; }
ok() { echo "ok   $*"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# e_machine of an ELF file (bytes 18-19, little endian): 62 x86-64, 183 aarch64.
elf_machine() { od -An -tu2 -j18 -N2 "$1" | tr -d ' '; }
check_binary() { # FILE ARCH LABEL
	local f=$1 arch=$2 label=$3 want
	case $arch in amd64 | x86_64) want=62 ;; arm64 | aarch64) want=183 ;; esac
	[ "$(head -c4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || { bad "$label: not an ELF file"; return; }
	[ "$(elf_machine "$f")" = "$want" ] || bad "$label: ELF machine $(elf_machine "$f"), want $want ($arch)"
	readelf -S "$f" | grep -q '\.symtab' && bad "$label: not stripped (.symtab present)"
	readelf -l "$f" | grep -q 'INTERP' && bad "$label: dynamically linked (has an interpreter)"
	ok "$label: static stripped ELF for $arch"
}

echo "== lintian"
if lintian --fail-on error "$dist"/*.deb; then ok "lintian --fail-on error on $(ls "$dist"/*.deb | wc -l) debs"; else bad "lintian"; fi

for arch in amd64 arm64; do
	case $arch in amd64) rarch=x86_64 ;; arm64) rarch=aarch64 ;; esac
	for p in apimgw apimcp apimctl; do
		deb=$dist/${p}_${ver}-1_${arch}.deb
		rpm=$dist/${p}-${ver}-1.${rarch}.rpm
		echo "== $p $arch"
		[ -f "$deb" ] || { bad "missing $deb"; continue; }
		[ -f "$rpm" ] || { bad "missing $rpm"; continue; }

		size=$(stat -c %s "$deb")
		if [ "$size" -le "$max_bytes" ]; then ok "$deb: $size bytes ≤ 12 MiB"; else bad "$deb: $size bytes > 12 MiB"; fi

		# --- deb
		[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || bad "$deb: Architecture $(dpkg-deb -f "$deb" Architecture)"
		rm -rf "$tmp/deb" && mkdir -p "$tmp/deb"
		dpkg-deb -R "$deb" "$tmp/deb"
		check_binary "$tmp/deb/usr/bin/$p" "$arch" "$deb:/usr/bin/$p"
		if [ "$p" != apimctl ]; then
			grep -qx "/etc/$p/$([ $p = apimgw ] && echo env.conf || echo apimcp.env)" "$tmp/deb/DEBIAN/conffiles" ||
				bad "$deb: config file is not a conffile"
			for s in preinst postinst prerm postrm; do
				[ -x "$tmp/deb/DEBIAN/$s" ] || bad "$deb: no $s"
				grep -q "^name=$p\$" "$tmp/deb/DEBIAN/$s" || bad "$deb: $s is not for $p"
			done
			dpkg-deb -f "$deb" Depends | grep -qw passwd || bad "$deb: does not depend on passwd (useradd)"
			[ -f "$tmp/deb/usr/lib/systemd/system/$p.service" ] || bad "$deb: no unit file"
			[ ! -e "$tmp/deb/var/lib/$p" ] || bad "$deb: ships /var/lib/$p (postinst creates it owned by $p)"
			ok "$deb: conffile, maintainer scripts, unit"
		fi

		# --- rpm
		got=$(rpm -qp --qf '%{NAME} %{VERSION}-%{RELEASE} %{ARCH}' "$rpm")
		[ "$got" = "$p $ver-1 $rarch" ] || bad "$rpm: name/version/arch '$got'"
		files=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm")
		want_line() { grep -qxF -- "$1" <<<"$files" || bad "$rpm: no file line '$1' in:"$'\n'"$files"; }
		want_line "-rwxr-xr-x root root  /usr/bin/$p"
		if [ "$p" != apimctl ]; then
			conf=$([ $p = apimgw ] && echo env.conf || echo apimcp.env)
			want_line "-rw-r----- root $p cn /etc/$p/$conf"
			want_line "drwxr-x--- root $p  /etc/$p"
			want_line "drwxr-x--- $p $p  /var/lib/$p"
			want_line "-rw-r--r-- root root  /usr/lib/systemd/system/$p.service"
			[ "$(rpm -qp --configfiles "$rpm")" = "/etc/$p/$conf" ] || bad "$rpm: config files $(rpm -qp --configfiles "$rpm")"
			scripts=$(rpm -qp --scripts "$rpm")
			for s in "preinstall scriptlet" "postinstall scriptlet" "preuninstall scriptlet" "postuninstall scriptlet"; do
				grep -q "^$s" <<<"$scripts" || bad "$rpm: no $s"
			done
			grep -q 'useradd --system' <<<"$scripts" || bad "$rpm: %pre does not create the user"
			grep -q 'rm -rf "/var/lib/$name"' <<<"$scripts" || bad "$rpm: postun has no purge branch"
			rpm -qp --requires "$rpm" | grep -qx shadow-utils || bad "$rpm: does not require shadow-utils"
			ok "$rpm: files, owners, config flags, scriptlets, requires"
		fi
		rm -rf "$tmp/rpm" && mkdir -p "$tmp/rpm"
		# rpm2cpio of Debian's rpm 4.18 exits 1 on unsigned packages after writing the
		# whole archive; cpio checks the archive itself.
		(cd "$tmp/rpm" && { rpm2cpio "$rpm" || true; } | cpio -idm --quiet --no-absolute-filenames 2>/dev/null)
		check_binary "$tmp/rpm/usr/bin/$p" "$rarch" "$rpm:/usr/bin/$p"
	done
done
exit $fail
