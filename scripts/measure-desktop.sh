#!/usr/bin/env bash
# Prints the desktop app's figures (not a test: numbers to read and report):
#   - time from starting dyntray to its tray item being on the session bus;
#   - memory (RSS and PSS, all of the app's processes) with the tray only, with the
#     settings window open, and after it was closed again;
#   - time from the "Settings…" click to the settings window mapping;
#   - CPU used by the tray over an idle period.
# Run inside the test desktop: scripts/headless-session.sh scripts/measure-desktop.sh
# Uses the release build (make release) unless PROFILE=debug. RECORDS=10 runs the engine
# with 10 records against a local fake provider (cargo build --release -p dyntray-tests
# --bin fake-provider first).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="target/${PROFILE:-release}"
[ -x "$bin/dyntray" ] || { echo "build first: make release" >&2; exit 1; }

work=$(mktemp -d)
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data" XDG_STATE_HOME="$work/state"
export XDG_RUNTIME_DIR="$work/runtime"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"
tray_pid=""
fake_pid=""
cleanup() {
    [ -n "$tray_pid" ] && kill "$tray_pid" 2>/dev/null
    [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
if [ "${RECORDS:-0}" = 10 ]; then
    fake_bin="$bin/fake-provider"
    [ -x "$fake_bin" ] || { echo "build fake-provider first (see the header)" >&2; exit 1; }
    # shellcheck source=scripts/fake-setup.sh
    . scripts/fake-setup.sh
    start_fake_provider
    write_ten_record_config
    echo "engine with 10 records against $server"
fi

now_ms() { date +%s%3N; }

# All processes of the app: the tray and its descendants.
app_pids() {
    local pids=("$tray_pid") frontier=("$tray_pid") next
    while [ "${#frontier[@]}" -gt 0 ]; do
        next=()
        for p in "${frontier[@]}"; do
            for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
                pids+=("$c"); next+=("$c")
            done
        done
        frontier=("${next[@]}")
    done
    echo "${pids[@]}"
}

memory() {
    local rss=0 pss=0 n=0 r p
    for pid in $(app_pids); do
        r=$(awk '/^Rss:/{print $2}' /proc/"$pid"/smaps_rollup 2>/dev/null || echo 0)
        p=$(awk '/^Pss:/{print $2}' /proc/"$pid"/smaps_rollup 2>/dev/null || echo 0)
        rss=$((rss + ${r:-0})); pss=$((pss + ${p:-0})); n=$((n + 1))
    done
    awk -v what="$1" -v rss="$rss" -v pss="$pss" -v n="$n" 'BEGIN {
        printf "%-34s RSS %6.1f MiB  PSS %6.1f MiB  (%d processes)\n", what, rss / 1024, pss / 1024, n }'
}

tray_name() {
    busctl --user list --no-pager --no-legend 2>/dev/null \
        | awk -v p="org.kde.StatusNotifierItem-$tray_pid-" 'index($1, p) == 1 {print $1; exit}'
}

menu_id() {
    busctl --user --timeout=2 --json=short call "$1" /MenuBar com.canonical.dbusmenu \
        GetLayout iias -- 0 -1 0 \
        | python3 -c 'import json,sys
d=json.load(sys.stdin)["data"][1]
for c in d[2]:
    n=c["data"]
    if n[1].get("label",{}).get("data")==sys.argv[1]: print(n[0])' "$2"
}

start=$(now_ms)
"$bin/dyntray" 2>/dev/null &
tray_pid=$!
until name=$(tray_name) && [ -n "$name" ]; do sleep 0.005; done
echo "start to tray item registered:      $(( $(now_ms) - start )) ms"
sleep 1
memory "tray only, at start:"

settings=$(menu_id "$name" "Settings…")
start=$(now_ms)
busctl --user call "$name" /MenuBar com.canonical.dbusmenu Event isvu "$settings" clicked s "" 0
until xdotool search --onlyvisible --name '^Dyntray Settings$' >/dev/null 2>&1; do sleep 0.01; done
echo "Settings… click to window mapped:   $(( $(now_ms) - start )) ms"
sleep 3
memory "settings window open:"
wmctrl -F -c "Dyntray Settings"
while pgrep -x dyntray-setting >/dev/null; do sleep 0.05; done
sleep 1
memory "tray only, after Settings closed:"

t0=$(awk '{print $14 + $15}' /proc/"$tray_pid"/stat)
sleep 10
t1=$(awk '{print $14 + $15}' /proc/"$tray_pid"/stat)
echo "idle CPU over 10 s:                 $(( (t1 - t0) * 10 )) ms ($(( t1 - t0 )) ticks)"
"$bin/dyntrayd" stop >/dev/null 2>&1 || kill "$tray_pid"
wait "$tray_pid" 2>/dev/null || true
tray_pid=""
