#!/usr/bin/env bash
# make deb: dist/mcr_<version>_<arch>.deb (or the path given) with dpkg-deb, from dist/mcr and
# packaging/.
# Files as root:root whatever the builder is (--root-owner-group); dates from SOURCE_DATE_EPOCH
# (the last commit's) so two builds of one commit are the same bytes.
# Compression: dpkg-deb's default (xz), or DPKG_DEB_COMPRESSOR_TYPE / _LEVEL from the environment.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUN=${BUN:-bun}
version=$("$BUN" -e 'console.log(require("./package.json").version)')
arch=$(dpkg --print-architecture)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
[ -x dist/mcr ] || { echo "deb: dist/mcr is missing: make build first" >&2; exit 66; }

root=$(mktemp -d dist/deb.XXXXXX)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"
d() { install -d -m 0755 "$root/$1"; }
f() { install -D -m "$1" "$2" "$root/$3"; }

f 0755 dist/mcr usr/bin/mcr
f 0644 packaging/systemd/mcr.service usr/lib/systemd/system/mcr.service
f 0644 packaging/sysusers.d/mcr.conf usr/lib/sysusers.d/mcr.conf
f 0644 packaging/etc/mcr.toml etc/mcr/mcr.toml
f 0644 packaging/prometheus/mcr-alerts.yml usr/share/mcr/prometheus/mcr-alerts.yml
f 0644 packaging/grafana/mcr.json usr/share/mcr/grafana/mcr.json

d usr/share/man/man8
d usr/share/man/man5
"$BUN" scripts/manpage.ts packaging/man/mcr.8.in "$version" | gzip -9n >"$root/usr/share/man/man8/mcr.8.gz"
gzip -9nc packaging/man/mcr.toml.5 >"$root/usr/share/man/man5/mcr.toml.5.gz"

comp=$(mktemp -d dist/completions.XXXXXX)
"$BUN" scripts/completions.ts "$comp"
f 0644 "$comp/mcr" usr/share/bash-completion/completions/mcr
f 0644 "$comp/_mcr" usr/share/zsh/vendor-completions/_mcr
f 0644 "$comp/mcr.fish" usr/share/fish/vendor_completions.d/mcr.fish
rm -rf "$comp"

f 0644 packaging/deb/copyright usr/share/doc/mcr/copyright
printf 'mcr (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- %s  %s\n' \
	"$version" "$(git rev-parse --short HEAD 2>/dev/null || echo 'a source tree')" \
	"$(sed -n 's/^Maintainer: //p' packaging/deb/control.in)" \
	"$(date -u -R -d "@$SOURCE_DATE_EPOCH")" | gzip -9n >"$root/usr/share/doc/mcr/changelog.gz"
f 0644 packaging/deb/lintian-overrides usr/share/lintian/overrides/mcr

install -d -m 0755 "$root/DEBIAN"
for s in postinst prerm postrm; do install -m 0755 "packaging/deb/$s" "$root/DEBIAN/$s"; done
echo /etc/mcr/mcr.toml >"$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" packaging/deb/control.in >"$root/DEBIAN/control"
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -depth -newermt "@$SOURCE_DATE_EPOCH" -exec touch --no-dereference -d "@$SOURCE_DATE_EPOCH" {} +

out=${1:-dist/mcr_${version}_${arch}.deb}
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out"
