#!/usr/bin/env bash
# The Windows tray process under Wine, on the headless session's X display (run it in
# scripts/headless-session.sh; scripts/test-windows.sh does). Wine docks the icon in the
# session's panel like any X tray icon and draws its balloons itself.
#
#   test-windows-tray.sh DYNTRAY_EXE DYNTRAYD_EXE FAKE_PROVIDER
#
# WINEPREFIX must name a prefix made for these tests (with the ProcessPrng shim).
# Screenshots go to test-artifacts/: look at them.
#
# What Wine 8 cannot show: clicks. Its Shell_NotifyIconGetRect is a stub, and tray-icon
# drops a click whose icon it cannot place, so neither the menu nor a left click can be
# driven here; and it sends no NIN_BALLOONUSERCLICK for a click on a balloon. The menu
# is tested as a native Win32 menu and the balloon click on a real window in unit tests
# under Wine, and opening Settings is driven through a second launch.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$#" -eq 3 ] || { echo "usage: $0 DYNTRAY_EXE DYNTRAYD_EXE FAKE_PROVIDER" >&2; exit 2; }
tray_exe=$1 daemon_exe=$2 fake_bin=$3
wine=/usr/lib/wine/wine64
: "${WINEPREFIX:?WINEPREFIX must name the test prefix}"
: "${DISPLAY:?run this in scripts/headless-session.sh}"
export WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
artifacts=$PWD/test-artifacts
mkdir -p "$artifacts"

say() { printf '[test-windows-tray] %s\n' "$*"; }
fail() {
    printf 'test-windows-tray: FAILED: %s\n' "$*" >&2
    [ -f "${work:-/nonexistent}/tray.log" ] && tail -n 20 "$work/tray.log" >&2
    import -window root "$artifacts/wine-tray-failed.png" 2>/dev/null || true
    exit 1
}

work=$(mktemp -d)
fake_pid="" tray_pid=""
cleanup() {
    [ -z "$tray_pid" ] || kill "$tray_pid" 2>/dev/null || true
    [ -z "$fake_pid" ] || kill "$fake_pid" 2>/dev/null || true
    /usr/lib/wine/wineserver -k 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
# Wine's desktop process (explorer.exe, which hosts the tray icons) must start on this
# display, not be one left from a run without it.
/usr/lib/wine/wineserver -k 2>/dev/null || true
# Not registered for toasts at first (a prefix may keep an earlier run's registration).
"$wine" reg delete 'HKCU\Software\Classes\AppUserModelId\org.dyntray.Dyntray' /f >/dev/null 2>&1 || true

# shellcheck source=scripts/fake-setup.sh
. scripts/fake-setup.sh
start_fake_provider || fail "fake-provider did not start"
updates() { grep -c '^GET /nic/update ' "$work/fake.log" || true; }
printf '%s\n' 'version = 1' '' '[detect]' "ipv4 = [\"$server/ip\"]" 'ipv6 = []' '' \
    '[[account]]' 'id = "home"' 'provider = "dyndns"' 'username = "user"' \
    "secret = 'env:DYN_PASS'" "server = \"$server\"" '' \
    '[[record]]' 'name = "home.example.org"' 'account = "home"' >"$work/config.toml"
export DYNTRAY_CONFIG="Z:${work//\//\\}\\config.toml" DYN_PASS=pass
# The tray keeps its state in %LOCALAPPDATA%\dyntray: start from none.
rm -rf "$WINEPREFIX/drive_c/users/$(id -un)/AppData/Local/dyntray"

# Visible windows of a Windows program, as "id width height x y" lines.
windows_of() {
    local id
    for id in $(xdotool search --onlyvisible --class "$1" 2>/dev/null); do
        (
            eval "$(xdotool getwindowgeometry --shell "$id")"
            echo "$id $WIDTH $HEIGHT $X $Y"
        )
    done
}
wait_for() { # SECONDS COMMAND...: until the command succeeds
    local tries=$(($1 * 5))
    shift
    for _ in $(seq "$tries"); do
        "$@" && return 0
        sleep 0.2
    done
    return 1
}

"$wine" "$tray_exe" >"$work/tray.log" 2>&1 &
tray_pid=$!
answers() { "$wine" "$daemon_exe" info >"$work/info.json" 2>/dev/null; }
wait_for 60 answers || fail "the tray did not answer over the pipe"
grep -q '"host": "dyntray"' "$work/info.json" || fail "the pipe is not the tray's: $(cat "$work/info.json")"
updated() { [ "$(updates)" -ge 1 ]; }
wait_for 30 updated || fail "the tray sent no update"

# The icon: docked in the panel, at the notification-area size, showing the "up to
# date" picture (its green check).
icon_window() { windows_of explorer.exe | awk '$2 >= 16 && $2 <= 32 && $3 >= 16 && $3 <= 32 { print $1; exit }'; }
has_icon() { [ -n "$(icon_window)" ]; }
wait_for 20 has_icon || fail "no tray icon appeared"
icon=$(icon_window)
is_green() {
    import -window "$icon" "$work/icon.png" 2>/dev/null &&
        convert "$work/icon.png" -format '%c' histogram:info:- |
        sed -n 's/.*(\([0-9.]*\),\([0-9.]*\),\([0-9.]*\)[,)].*/\1 \2 \3/p' |
            awk '$2 > $1 + 60 && $2 > $3 + 40 { found = 1 } END { exit !found }'
}
wait_for 20 is_green || fail "the icon does not show the up-to-date picture"
say "the icon is in the panel and shows the record is up to date"

# The update's notification: a balloon from the icon, wider than the icon, beside it.
# (Wine does not wrap a balloon's lines: a long one is as wide as the screen. The panel's
# own windows are 31 px high.)
balloon_window() { windows_of explorer.exe | awk '$2 >= 120 && $3 >= 40 && $3 <= 400 { print; exit }'; }
balloon() { [ -n "$(balloon_window)" ]; }
wait_for 20 balloon || fail "no balloon told about the update"
import -window root "$artifacts/wine-tray.png"
say "a balloon said the name was updated (test-artifacts/wine-tray.png)"

# A second launch hands off to the running tray, which starts Settings; without WebView2
# (Wine has none) Settings says so in words and exits 3.
second_rc=0
"$wine" "$tray_exe" >"$work/second.log" 2>&1 || second_rc=$?
[ "$second_rc" -eq 0 ] || fail "a second launch exited $second_rc: $(cat "$work/second.log")"
box() { xdotool search --onlyvisible --name '^Dyntray Settings$' >/dev/null 2>&1; }
wait_for 30 box || fail "Settings did not say why it cannot open"
import -window root "$artifacts/wine-settings-no-webview2.png"
dismiss() { # Return on the focused OK button, until the box is gone
    local box_id
    box_id=$(xdotool search --onlyvisible --name '^Dyntray Settings$' 2>/dev/null | head -n1)
    [ -n "$box_id" ] || return 0
    xdotool windowactivate "$box_id" 2>/dev/null || true
    xdotool key Return
    sleep 0.3
    ! box
}
wait_for 20 dismiss || fail "cannot dismiss the message"
closed() { grep -q 'settings window closed .*exit code: 3' "$work/tray.log"; }
wait_for 20 closed || fail "Settings did not end with exit code 3 after the message"
say "a second launch opened Settings, which said WebView2 is missing (exit 3)"

# Not registered for toasts so far (a build run where it lies): balloons, no toast tried.
! grep -q 'refused a toast' "$work/tray.log" || fail "a toast was tried without the registration"

# Now registered, as the installer does. Windows would show a toast; Wine has no WinRT
# toasts and refuses it, and the notification must come as a balloon all the same.
"$wine" reg add 'HKCU\Software\Classes\AppUserModelId\org.dyntray.Dyntray' /v DisplayName \
    /d Dyntray /f >/dev/null 2>&1 || fail "cannot register the app for toasts"

# A hand edit that breaks the config is not applied, and a balloon says so, once. (Wine
# sends no NIN_BALLOONUSERCLICK, so clicking it through to Settings is a unit test.)
printf '%s\n' '' '[[record]]' 'name = ' >>"$work/config.toml"
rejected_balloon() { balloon && grep -q 'config file changed but is not usable' "$work/tray.log"; }
wait_for 30 rejected_balloon || fail "no balloon said the config was not applied"
[ "$(grep -c 'refused a toast' "$work/tray.log" || true)" -eq 1 ] ||
    fail "the registered tray did not try a toast (once) before its balloon"
say "Wine's answer to the toast: $(sed -n 's/.*refused a toast.*error=\(.*\)$/\1/p' "$work/tray.log" | head -n1)"
# Judged once: the watch tells of every file in the directory (this test's own logs
# among them), and an edit already refused is not read as news again.
sleep 2
import -window root "$artifacts/wine-tray-config-rejected.png"
refusals=$(grep -c 'config file changed but is not usable' "$work/tray.log" || true)
[ "$refusals" -eq 1 ] || fail "the broken edit was judged $refusals times, not once"
say "registered for toasts, refused by Wine: a balloon said the config was not applied;" \
    "the broken edit was judged once"

# Quit over the control API: the icon goes, the process exits 0, nothing more was sent.
"$wine" "$daemon_exe" stop >"$work/stop.log" 2>&1 || fail "stop: $(cat "$work/stop.log")"
gone() { ! kill -0 "$tray_pid" 2>/dev/null; }
wait_for 30 gone || fail "the tray did not quit"
tray_rc=0
wait "$tray_pid" || tray_rc=$?
tray_pid=""
[ "$tray_rc" -eq 0 ] || fail "the tray exited $tray_rc"
no_icon() { [ -z "$(icon_window)" ]; }
wait_for 10 no_icon || fail "the icon stayed after quitting"
[ "$(updates)" -eq 1 ] || fail "the tray sent $(updates) updates, not 1"
say "stop quit the tray (exit 0), its icon went, and it sent one update in all"
