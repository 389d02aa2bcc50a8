#!/usr/bin/env bash
# Builds the Windows installer of Dyntray from binaries already built for
# x86_64-pc-windows-gnu, with Debian's NSIS (apt-get install nsis):
#   scripts/package-windows.sh BIN_DIR OUT_DIR   # writes OUT_DIR/dyntray-VERSION-setup.exe
# BIN_DIR holds dyntray.exe, dyntrayd.exe, dyntray-settings.exe and WebView2Loader.dll.
#   CRATE_LICENCES=FILE ...   # also ships FILE (packaging/crate-licences.py's output for
#                             # the Windows target) as rust-crates.txt
#   COMPRESSOR=zlib ...       # quick to pack (make test); the default, lzma, is smaller
# Nothing of the build's own time goes in: the same binaries give the same installer.
set -euo pipefail

fail() {
    printf 'package-windows: %s\n' "$*" >&2
    exit 1
}
[ "$#" -eq 2 ] || { echo "usage: $0 BIN_DIR OUT_DIR" >&2; exit 2; }
bin_dir=$1
out_dir=$2
root=$(cd "$(dirname "$0")/.." && pwd)
script=$root/packaging/windows/dyntray.nsi

command -v makensis >/dev/null || fail "makensis is missing; run 'apt-get install nsis'"
# The installer is a 64-bit program: Debian's nsis ships the amd64-unicode stubs.
compgen -G "/usr/share/nsis/Stubs/*-amd64-unicode" >/dev/null ||
    fail "NSIS has no amd64-unicode stubs in /usr/share/nsis/Stubs (Debian's nsis 3.08 has)"
[ -d "$bin_dir" ] || fail "no directory $bin_dir (the Windows binaries)"
for f in dyntray.exe dyntrayd.exe dyntray-settings.exe WebView2Loader.dll; do
    [ -f "$bin_dir/$f" ] || fail "missing $bin_dir/$f"
done
defines=()
case "${COMPRESSOR:-lzma}" in
lzma | zlib) defines+=("-DCOMPRESSOR=${COMPRESSOR:-lzma}") ;;
*) fail "COMPRESSOR is lzma or zlib, not '$COMPRESSOR'" ;;
esac
if [ -n "${CRATE_LICENCES:-}" ]; then
    [ -f "$CRATE_LICENCES" ] || fail "CRATE_LICENCES names no file: $CRATE_LICENCES"
    defines+=("-DCRATE_LICENCES=$(realpath "$CRATE_LICENCES")")
fi

version=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml")
[ -n "$version" ] || fail "no version in $root/Cargo.toml [workspace.package]"
# Windows' version resource takes four numbers: 1.2.3-rc.1 gives 1.2.3.0.
numbers=${version%%[-+]*}
[[ "$numbers" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "version $version is not MAJOR.MINOR.PATCH[-PRE]"

mkdir -p "$out_dir"
out=$(realpath "$out_dir")/dyntray-$version-setup.exe
# -WX: a warning (a missing file, an unused define) fails the build.
makensis -V2 -WX -INPUTCHARSET UTF8 \
    "-DVERSION=$version" "-DVERSION_QUAD=$numbers.0" \
    "-DBIN_DIR=$(realpath "$bin_dir")" "-DOUT_FILE=$out" \
    ${defines[@]+"${defines[@]}"} "$script"
printf '%s (%s bytes, %s)\n' "$out" "$(stat -c %s "$out")" "$(du -h "$out" | cut -f1)"
