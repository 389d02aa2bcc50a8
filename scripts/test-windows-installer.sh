#!/usr/bin/env bash
# Installs and uninstalls the Windows installer (scripts/package-windows.sh) under Wine,
# silently, checking what it leaves behind at each step:
#   scripts/test-windows-installer.sh SETUP_EXE
# a) install with autostart: program files, Start-menu shortcut, Uninstall key, the
#    registration for toasts, Run value;
#    the installed dyntrayd.exe runs;
# b) uninstall: the program gone, the user's config and state kept;
# c) install without autostart, upgrade while dyntrayd runs (it is stopped, the choice
#    kept), uninstall as Windows does (the uninstaller copies itself away) with /REMOVEDATA
#    while dyntrayd runs again: the data gone too, the password in Credential Manager
#    included.
# WINEPREFIX may name a prepared prefix; by default a throw-away one is made. Either way
# the bcryptprimitives shim (tests/wine/, see scripts/test-windows.sh) goes into its
# system32 for the Rust programs; the installer must not have brought its own.
set -euo pipefail
cd "$(dirname "$0")/.."
wine=/usr/lib/wine/wine64
started=$SECONDS

say() { printf '[test-windows-installer] %s\n' "$*"; }
fail() {
    printf 'test-windows-installer: FAILED: %s\n' "$*" >&2
    exit 1
}
[ "$#" -eq 1 ] || { echo "usage: $0 SETUP_EXE" >&2; exit 2; }
[ -f "$1" ] || fail "no installer at $1 (build it with scripts/package-windows.sh)"
setup=$(realpath "$1")
for tool in "$wine" x86_64-w64-mingw32-gcc; do
    command -v "$tool" >/dev/null || fail "$tool is missing; run 'make windows-deps'"
done
version=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"$/\1/p' Cargo.toml)

work=$(mktemp -d)
own_prefix=0
if [ -z "${WINEPREFIX:-}" ]; then
    export WINEPREFIX=$work/prefix
    own_prefix=1
fi
engine_pid=""
cleanup() {
    [ -z "$engine_pid" ] || kill "$engine_pid" 2>/dev/null || true
    [ "$own_prefix" = 0 ] || /usr/lib/wine/wineserver -k 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# No winemenubuilder: it would turn the Start-menu shortcut into a .desktop file in this
# machine's own menus.
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=;winemenubuilder.exe=d"
if [ "$own_prefix" = 1 ]; then
    "$wine" wineboot -i >"$work/wineboot.log" 2>&1 || { cat "$work/wineboot.log" >&2; fail "wineboot"; }
fi
shim=$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll
[ -f "$shim" ] || x86_64-w64-mingw32-gcc -O2 -shared -o "$shim" \
    tests/wine/bcryptprimitives.c tests/wine/bcryptprimitives.def -ladvapi32

win() { timeout 300 "$wine" "$@"; } # nothing here may wait for a dialog nobody sees
win_env() { win cmd /c "echo %$1%" | tr -d '\r'; }
unix_path() { win winepath -u "$1" | tr -d '\r'; }
# Where this prefix's user profile really is, as the installer sees it.
local_w=$(win_env LOCALAPPDATA)
instdir_w="$local_w\\Programs\\Dyntray"
instdir=$(unix_path "$instdir_w")
local_dir=$(unix_path "$local_w")
roaming=$(unix_path "$(win_env APPDATA)")
link="$roaming/Microsoft/Windows/Start Menu/Programs/Dyntray.lnk"
config_dir=$roaming/dyntray
state_dir=$local_dir/dyntray
uninst_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\Dyntray'
run_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Run'
approved_key='HKCU\Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run'
app_id_key='HKCU\Software\Classes\AppUserModelId\org.dyntray.Dyntray'
run_value="\"$instdir_w\\dyntray.exe\""
program_files=(dyntray.exe dyntrayd.exe dyntray-settings.exe WebView2Loader.dll dyntray.png
    LICENSE-MIT.txt LICENSE-APACHE.txt Uninstall.exe)

reg_value() { # KEY NAME: the value's data; status 1 when there is no such value
    local out
    out=$(win reg query "$1" /v "$2" 2>/dev/null | tr -d '\r') || return 1
    sed -n "s/^ *$2 \{4\}REG_[A-Z_]* \{4\}//p" <<<"$out"
}
has_key() { win reg query "$1" >/dev/null 2>&1; }
install() { # ARGS...
    local rc=0
    win "$setup" "$@" >"$work/setup.log" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || fail "setup $* exited $rc: $(cat "$work/setup.log")"
}
start_engine() { # the installed dyntrayd.exe run, once it answers on its pipe
    "$wine" "$instdir/dyntrayd.exe" run >"$work/engine.log" 2>&1 &
    engine_pid=$!
    for _ in $(seq 150); do
        win "$instdir/dyntrayd.exe" info >/dev/null 2>&1 && return
        kill -0 "$engine_pid" 2>/dev/null || fail "dyntrayd run exited at start: $(cat "$work/engine.log")"
        sleep 0.2
    done
    fail "dyntrayd run never answered on its pipe: $(cat "$work/engine.log")"
}
engine_stopped() { # WHEN: the engine was asked to quit and did, cleanly
    local rc=0
    for _ in $(seq 100); do
        kill -0 "$engine_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$engine_pid" 2>/dev/null && fail "$1 left dyntrayd run running"
    wait "$engine_pid" || rc=$?
    engine_pid=""
    [ "$rc" -eq 0 ] && grep -q 'dyntrayd stopped' "$work/engine.log" ||
        fail "dyntrayd run did not stop cleanly during $1 (exit $rc): $(cat "$work/engine.log")"
}
assert_installed() { # AUTOSTART (0|1)
    local f got value
    for f in "${program_files[@]}"; do
        [ -f "$instdir/$f" ] || fail "$f is not installed in $instdir"
    done
    [ -z "$(find "$instdir" -iname bcryptprimitives.dll)" ] ||
        fail "the installer brought bcryptprimitives.dll, the test shim"
    [ -f "$link" ] || fail "no Start-menu shortcut at $link"
    # The target path is in the .lnk as UTF-16 or as ANSI text.
    got=$(strings -e l "$link"; strings "$link")
    grep -qiF "$instdir_w\\dyntray.exe" <<<"$got" ||
        fail "the shortcut does not point at $instdir_w\\dyntray.exe"
    got=$(reg_value "$uninst_key" DisplayVersion) || fail "no $uninst_key DisplayVersion"
    [ "$got" = "$version" ] || fail "DisplayVersion is '$got', not $version"
    for value in DisplayName Publisher DisplayIcon UninstallString QuietUninstallString \
        InstallLocation EstimatedSize NoModify NoRepair; do
        reg_value "$uninst_key" "$value" >/dev/null || fail "$uninst_key has no $value"
    done
    got=$(reg_value "$uninst_key" InstallLocation)
    [ "$got" = "$instdir_w" ] || fail "InstallLocation is '$got', not $instdir_w"
    # Registered for toasts under the AppUserModelID the tray shows them with, with the
    # picture that was installed.
    got=$(reg_value "$app_id_key" DisplayName) || fail "not registered for toasts: no $app_id_key"
    [ "$got" = Dyntray ] || fail "toasts would be named '$got', not Dyntray"
    got=$(reg_value "$app_id_key" IconUri) || fail "$app_id_key has no IconUri"
    [ "$got" = "$instdir_w\dyntray.png" ] || fail "the toasts' picture is '$got'"
    cmp -s "$instdir/dyntray.png" icons/128x128.png || fail "dyntray.png is not the app icon"
    if [ "$1" = 1 ]; then
        got=$(reg_value "$run_key" Dyntray) || fail "autostart chosen, but no Run value"
        [ "$got" = "$run_value" ] || fail "the Run value is '$got', not '$run_value'"
    else
        ! reg_value "$run_key" Dyntray >/dev/null || fail "autostart not chosen, yet a Run value"
    fi
    got=$(win "$instdir/dyntrayd.exe" --version | tr -d '\r')
    [ "$got" = "dyntrayd $version" ] || fail "the installed dyntrayd.exe --version said '$got'"
}
assert_uninstalled() {
    [ ! -e "$link" ] || fail "the uninstaller left the shortcut $link"
    ! reg_value "$run_key" Dyntray >/dev/null || fail "the uninstaller left the Run value"
    ! reg_value "$approved_key" Dyntray >/dev/null ||
        fail "the uninstaller left Task Manager's autostart mark"
    ! has_key "$uninst_key" || fail "the uninstaller left $uninst_key"
    ! has_key "$app_id_key" || fail "the uninstaller left the toast registration $app_id_key"
}

# a) A first install, silent, with autostart.
install /S /AUTOSTART=1
assert_installed 1
say "a) installed in $instdir_w: files, shortcut, Uninstall key (version $version)," \
    "toast registration, Run value $run_value, dyntrayd.exe --version; no shim"

# b) Uninstall, waiting for it (_?= runs it in place rather than from a copy in %TEMP%,
# and so leaves Uninstall.exe, which is removed here): the user's data is kept.
mkdir -p "$config_dir" "$state_dir"
printf 'version = 1\n' >"$config_dir/config.toml"
printf 'kept\n' >"$state_dir/history-marker"
# Autostart switched off in Task Manager, as it marks it.
win reg add "$approved_key" /v Dyntray /t REG_BINARY /d 030000000000000000000000 /f >/dev/null
rc=0
win "$instdir/Uninstall.exe" /S "_?=$instdir_w" >"$work/uninstall.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "Uninstall.exe /S exited $rc: $(cat "$work/uninstall.log")"
left=$(ls -A "$instdir")
[ "$left" = Uninstall.exe ] || fail "the uninstaller left in $instdir: $left"
rm "$instdir/Uninstall.exe"
rmdir "$instdir"
assert_uninstalled
[ -f "$config_dir/config.toml" ] || fail "the uninstaller removed the config"
[ -f "$state_dir/history-marker" ] || fail "the uninstaller removed the state"
say "b) uninstalled: program files, shortcut, Run value and Task Manager's mark, Uninstall" \
    "key, toast registration gone; config and state kept"

# c) Without autostart; then an upgrade while dyntrayd runs (on the config b) kept), which
# must stop it, and keep the user's choice though /AUTOSTART is not given.
install /S /AUTOSTART=0
assert_installed 0
start_engine
install /S
engine_stopped "the upgrade"
assert_installed 0
# A password saved in Credential Manager, which /REMOVEDATA must remove too (Wine keeps
# them in its registry). Everything here stays on loopback: the address source and the
# server are closed ports on 127.0.0.1.
printf '%s\n' 'version = 1' '' '[detect]' 'ipv4 = ["http://127.0.0.1:9/ip"]' 'ipv6 = []' '' \
    '[[account]]' 'id = "vault"' 'provider = "dyndns"' 'username = "user"' \
    'server = "http://127.0.0.1:9"' '' '[[record]]' 'name = "vault.example.org"' \
    'account = "vault"' >"$config_dir/config.toml"
credential='HKCU\Software\Wine\Credential Manager\Generic: vault.dyntray'
printf 'pass\n' | win "$instdir/dyntrayd.exe" secret set vault >"$work/secret.log" 2>&1 ||
    fail "secret set: $(cat "$work/secret.log")"
has_key "$credential" || fail "secret set stored nothing in Credential Manager"
# As Windows runs the QuietUninstallString: the uninstaller starts a copy of itself and
# returns at once, so the end state is waited for.
start_engine
win "$instdir/Uninstall.exe" /S /REMOVEDATA >"$work/uninstall.log" 2>&1 ||
    fail "Uninstall.exe /S /REMOVEDATA: $(cat "$work/uninstall.log")"
for _ in $(seq 300); do
    [ -e "$instdir" ] || [ -e "$config_dir" ] || [ -e "$state_dir" ] || break
    sleep 0.2
done
engine_stopped "the uninstall"
[ ! -e "$instdir" ] || fail "the uninstaller left $instdir: $(ls -A "$instdir")"
[ ! -e "$config_dir" ] || fail "/REMOVEDATA left the config dir $config_dir"
[ ! -e "$state_dir" ] || fail "/REMOVEDATA left the state dir $state_dir"
! has_key "$credential" || fail "/REMOVEDATA left the saved password in Credential Manager"
assert_uninstalled
say "c) /AUTOSTART=0: no Run value; upgraded while dyntrayd ran (stopped, choice kept);" \
    "uninstalled with /REMOVEDATA while it ran again: all gone, saved password included"
say "passed in $((SECONDS - started)) s"
