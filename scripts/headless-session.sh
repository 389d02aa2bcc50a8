#!/usr/bin/env bash
# Runs a command inside a private headless desktop session and tears it all down after:
# Xvfb, a private D-Bus session bus, an unlocked gnome-keyring (Secret Service), a
# notification server (dunst, D-Bus activated on first use), a panel with a status tray
# (xfce4-panel: the StatusNotifierWatcher that hosts tray icons, as a desktop has one),
# and XDG dirs in a temp dir.
#
#   scripts/headless-session.sh COMMAND [ARGS...]
#
# The command's exit status is this script's. Nothing started here outlives it.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARGS...]" >&2
    exit 2
fi

for tool in Xvfb openbox dbus-run-session gnome-keyring-daemon dunst xfce4-panel; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "headless-session: $tool is missing; run 'make test-deps' (or make test)" >&2
        exit 2
    fi
done

panel_layout="$(cd "$(dirname "$0")/.." && pwd)/tests/fixtures/xfce4-panel.xml"
session_dir=$(mktemp -d "${TMPDIR:-/tmp}/dyntray-session.XXXXXX")
xvfb_pid=""
wm_pid=""
# Anything still running on this session's display when the command is over (say, a
# tray left by a test process that was killed before its clean-up ran) is ended too.
leftovers() {
    local pid
    for pid in $(ls /proc | grep -E '^[0-9]+$'); do
        [ "$pid" = "$$" ] && continue
        if { tr '\0' '\n' <"/proc/$pid/environ"; } 2>/dev/null | grep -qx "DISPLAY=:$display"; then
            echo "$pid"
        fi
    done
}
cleanup() {
    if [ -n "${display:-}" ]; then
        pids=$(leftovers)
        if [ -n "$pids" ]; then
            # shellcheck disable=SC2086
            kill $pids 2>/dev/null || true
            sleep 1
            # shellcheck disable=SC2086
            kill -9 $(leftovers) 2>/dev/null || true
        fi
    fi
    if [ -n "$wm_pid" ]; then
        kill "$wm_pid" 2>/dev/null || true
        wait "$wm_pid" 2>/dev/null || true
    fi
    if [ -n "$xvfb_pid" ]; then
        kill "$xvfb_pid" 2>/dev/null || true
        wait "$xvfb_pid" 2>/dev/null || true
    fi
    rm -rf "$session_dir"
}
trap cleanup EXIT INT TERM

export XDG_CONFIG_HOME="$session_dir/config"
export XDG_DATA_HOME="$session_dir/data"
export XDG_CACHE_HOME="$session_dir/cache"
export XDG_STATE_HOME="$session_dir/state"
export XDG_RUNTIME_DIR="$session_dir/runtime"
mkdir -p "$XDG_CONFIG_HOME" "$XDG_DATA_HOME" "$XDG_CACHE_HOME" "$XDG_STATE_HOME"
mkdir -m 700 "$XDG_RUNTIME_DIR"
# A fresh dunst config: notifications stay in history, nothing from the user's setup.
mkdir -p "$XDG_CONFIG_HOME/dunst"
printf '[global]\n    history_length = 100\n' >"$XDG_CONFIG_HOME/dunst/dunstrc"
# The panel reads its layout through xfconfd, which the session bus starts with this
# environment: a one-row panel at the top holding only a status tray.
mkdir -p "$XDG_CONFIG_HOME/xfce4/xfconf/xfce-perchannel-xml"
cp "$panel_layout" "$XDG_CONFIG_HOME/xfce4/xfconf/xfce-perchannel-xml/xfce4-panel.xml"
export DYNTRAY_SESSION_DIR="$session_dir"

# Pick a free display number; Xvfb itself reports which one it took.
exec 3<> "$session_dir/displayfd"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$session_dir/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 1 100); do
    display=$(head -n1 "$session_dir/displayfd" 2>/dev/null || true)
    [ -n "$display" ] && break
    sleep 0.05
done
if [ -z "${display:-}" ]; then
    echo "headless-session: Xvfb did not start:" >&2
    cat "$session_dir/xvfb.log" >&2
    exit 1
fi
export DISPLAY=":$display"
unset WAYLAND_DISPLAY
# No accessibility bus or desktop portals: nothing the tests need, and they would linger.
export NO_AT_BRIDGE=1 GTK_USE_PORTAL=0

# A window manager, so windows get focus and can be closed as a user closes them.
openbox --sm-disable >"$session_dir/openbox.log" 2>&1 &
wm_pid=$!

# Inside the private bus: unlock a login keyring, wait until it owns the Secret Service
# name (calling it earlier would D-Bus-activate a second daemon without the collection),
# then run the command.
dbus-run-session -- bash -c '
    set -euo pipefail
    eval "$(printf dyntray-test | gnome-keyring-daemon --unlock --components=secrets)"
    export GNOME_KEYRING_CONTROL
    for _ in $(seq 1 100); do
        if dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
            org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null \
            | grep -q "boolean true"; then
            break
        fi
        sleep 0.05
    done
    # The tray host: tests that want none run the tray on a bus of its own.
    xfce4-panel --disable-wm-check >"$DYNTRAY_SESSION_DIR/panel.log" 2>&1 &
    for _ in $(seq 1 400); do
        if dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
            org.freedesktop.DBus.NameHasOwner string:org.kde.StatusNotifierWatcher 2>/dev/null \
            | grep -q "boolean true"; then
            break
        fi
        sleep 0.05
    done
    unset DYNTRAY_SESSION_DIR
    exec "$@"
' headless-session "$@"
