#!/usr/bin/env bash
# Builds the Debian package of Dyntray (`make package`) and checks it:
#   target/package/dyntray_VERSION_ARCH.deb
# with the three binaries (dist profile), the desktop entry, the icons in the hicolor
# theme, AppStream metadata, the systemd user unit of dyntrayd, the manual pages and the
# licences. Its Depends come from dpkg-shlibdeps over the binaries, so they are exactly
# the libraries the binaries link. Then lintian and appstreamcli validate: a tag that
# remains is either fixed or explained in packaging/lintian-overrides.
#   NO_BUILD=1 scripts/package-deb.sh   # packages the dist binaries as they are
#   NO_CHECK=1 ...                      # skips lintian and appstreamcli
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target_dir=${CARGO_TARGET_DIR:-$root/target}
bin_dir=$target_dir/dist
out=$target_dir/package
bins=(dyntray dyntray-settings dyntrayd)
app=org.dyntray.Dyntray

if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --locked --profile dist -p dyntray -p dyntray-engine --bins
fi
for b in "${bins[@]}"; do
    [ -x "$bin_dir/$b" ] || { echo "package: missing $bin_dir/$b (run without NO_BUILD=1)" >&2; exit 1; }
done

version=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"$/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "package: no version in Cargo.toml [workspace.package]" >&2; exit 1; }
deb_version="$version-1"
arch=$(dpkg --print-architecture)
# Dates and mtimes come from the last commit, so that a rebuild of the same tree gives
# the same package.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}

stage=$out/stage
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$out"
umask 022
put() { # mode source destination (in the package)
    install -D -m "$1" "$2" "$stage/$3"
}
for b in "${bins[@]}"; do
    put 755 "$bin_dir/$b" "usr/bin/$b"
    # What dh_strip drops too: the compilers' version strings.
    objcopy --remove-section=.comment "$stage/usr/bin/$b"
done
put 644 "packaging/$app.desktop" "usr/share/applications/$app.desktop"
put 644 "packaging/$app.metainfo.xml" "usr/share/metainfo/$app.metainfo.xml"
put 644 packaging/dyntrayd.service usr/lib/systemd/user/dyntrayd.service
icons=usr/share/icons/hicolor
put 644 icons/32x32.png "$icons/32x32/apps/$app.png"
put 644 icons/128x128.png "$icons/128x128/apps/$app.png"
put 644 icons/128x128@2x.png "$icons/256x256/apps/$app.png"
put 644 icons/icon.png "$icons/512x512/apps/$app.png"
put 644 icons/app.svg "$icons/scalable/apps/$app.svg"

man=$stage/usr/share/man/man1
mkdir -p "$man"
gzip -9n <docs/dyntray.1 >"$man/dyntray.1.gz"
gzip -9n <docs/dyntrayd.1 >"$man/dyntrayd.1.gz"
ln -s dyntray.1.gz "$man/dyntray-settings.1.gz" # one page tells of both

doc=$stage/usr/share/doc/dyntray
mkdir -p "$doc"
expat=$(sed -e 's/^$/./' -e 's/^/ /' LICENSE-MIT)
awk -v expat="$expat" '$0 == "@EXPAT@" {print expat; next} {print}' packaging/copyright.in \
    >"$doc/copyright"
packaging/crate-licences.py "$(rustc -vV | sed -n 's/^host: //p')" dyntray dyntray-engine |
    gzip -9n >"$doc/rust-crates.txt.gz"
{
    printf 'dyntray (%s) unstable; urgency=medium\n\n' "$deb_version"
    printf '  * Package built from the Dyntray sources at commit %s.\n\n' \
        "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    printf ' -- The Dyntray developers <maintainers@dyntray.org>  %s\n' \
        "$(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.Debian.gz"
put 644 packaging/lintian-overrides usr/share/lintian/overrides/dyntray

# Depends: what the binaries link, as the libraries' own packages declare it.
shlibs=$out/shlibs
rm -rf "$shlibs"
mkdir -p "$shlibs/debian"
printf 'Source: dyntray\n\nPackage: dyntray\nArchitecture: any\n' >"$shlibs/debian/control"
depends=$(cd "$shlibs" && dpkg-shlibdeps -O --warnings=0 \
    "${bins[@]/#/-e$stage/usr/bin/}" | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "package: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$deb_version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@DEPENDS@/$depends/" packaging/control.in >"$stage/DEBIAN/control"
(cd "$stage" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb=$out/dyntray_${deb_version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "package: $deb ($(du -k "$deb" | cut -f1) KiB, installed $size KiB)"
echo "package: Depends: $depends"

if [ "${NO_CHECK:-0}" != 1 ]; then
    appstreamcli validate --no-net "packaging/$app.metainfo.xml"
    # Errors and warnings fail; info and pedantic tags are shown.
    lintian --fail-on error,warning --display-info --allow-root "$deb"
    echo "package: lintian and appstreamcli passed"
fi
