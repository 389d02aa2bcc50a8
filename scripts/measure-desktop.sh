#!/usr/bin/env bash
# Prints the desktop app's figures (not a test: numbers to read and report, nothing timed
# is asserted):
#   - time from starting dyntray to its tray item being on the session bus;
#   - time from the "Settings…" click (over dbusmenu, as a panel sends it) to the settings
#     window being visible (mapped, found by xdotool --onlyvisible). The window stays
#     hidden until the page says its first view (the names) is drawn (window_drawn; a
#     page that never says so is shown after 3 s), so this is click to first drawn view.
#     First open, and warm
#     opens (the median of 5);
#   - memory (RSS and PSS from /proc, all of the app's processes) with the tray only, with
#     the settings window open, and after it was closed again;
#   - CPU used by the tray over an idle period.
#
#   scripts/measure-desktop.sh            builds the release binaries, then measures in a
#                                         headless session (scripts/headless-session.sh)
#   NO_BUILD=1 scripts/measure-desktop.sh uses the binaries already built
#
# The build is `cargo build --release --workspace --bins` ($CARGO, default cargo; the
# release profile has no LTO, and CARGO_PROFILE_RELEASE_LTO=false keeps it so). Binaries
# come from ${CARGO_TARGET_DIR:-target}/${PROFILE:-release}. RECORDS=10 runs the engine
# with 10 records against a local fake provider (cargo build --release -p dyntray-tests
# --bin fake-provider first).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${CARGO_TARGET_DIR:-target}/${PROFILE:-release}"

if [ -z "${DYNTRAY_MEASURE_SESSION:-}" ]; then
    if [ -z "${NO_BUILD:-}" ] && [ "${PROFILE:-release}" = release ]; then
        # shellcheck disable=SC2086
        CARGO_PROFILE_RELEASE_LTO=false ${CARGO:-cargo} build --release --workspace --bins
    fi
    exec scripts/headless-session.sh env DYNTRAY_MEASURE_SESSION=1 "$0" "$@"
fi

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

# "RSS PSS processes" in KiB for all of the app's processes.
memory() {
    local rss=0 pss=0 n=0 r p
    for pid in $(app_pids); do
        r=$(awk '/^Rss:/{print $2}' /proc/"$pid"/smaps_rollup 2>/dev/null || echo 0)
        p=$(awk '/^Pss:/{print $2}' /proc/"$pid"/smaps_rollup 2>/dev/null || echo 0)
        rss=$((rss + ${r:-0})); pss=$((pss + ${p:-0})); n=$((n + 1))
    done
    echo "$rss $pss $n"
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

# Whether the tray's settings process runs (only this tray's: others may run elsewhere).
settings_running() {
    local c
    for c in $(cat /proc/"$tray_pid"/task/*/children 2>/dev/null); do
        [ "$(cat /proc/"$c"/comm 2>/dev/null)" = dyntray-setting ] && return 0
    done
    return 1
}

# Clicks Settings… and prints the milliseconds until the window is visible.
open_settings() {
    local start
    start=$(now_ms)
    busctl --user call "$name" /MenuBar com.canonical.dbusmenu Event isvu "$settings" clicked s "" 0
    until xdotool search --onlyvisible --name '^Dyntray Settings$' >/dev/null 2>&1; do
        sleep 0.005
    done
    echo $(( $(now_ms) - start ))
}

close_settings() {
    while settings_running; do
        wmctrl -F -c "Dyntray Settings" 2>/dev/null || true
        for _ in $(seq 1 20); do settings_running || break; sleep 0.05; done
    done
}

median() { tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }

start=$(now_ms)
"$bin/dyntray" 2>/dev/null &
tray_pid=$!
until name=$(tray_name) && [ -n "$name" ]; do sleep 0.005; done
registered=$(( $(now_ms) - start ))
sleep 1
read -r rss_tray pss_tray n_tray < <(memory)

settings=$(menu_id "$name" "Settings…")
first_visible=$(open_settings)
sleep 3
read -r rss_open pss_open n_open < <(memory)
close_settings
sleep 1
read -r rss_closed pss_closed n_closed < <(memory)

visible_warm=()
for _ in 1 2 3 4 5; do
    visible_warm+=("$(open_settings)")
    sleep 0.5
    close_settings
    sleep 0.5
done
warm_visible=$(echo "${visible_warm[*]}" | median)

t0=$(awk '{print $14 + $15}' /proc/"$tray_pid"/stat)
sleep 10
t1=$(awk '{print $14 + $15}' /proc/"$tray_pid"/stat)

echo
echo "binaries: $bin"
printf '%-44s %8s\n' "start to tray item registered" "$registered ms"
echo
printf '%-44s %8s\n' "Settings… click to window visible, first" "$first_visible ms"
printf '%-44s %8s\n' "Settings… click to window visible, warm" "$warm_visible ms"
echo "  (warm: median of ${visible_warm[*]} ms)"
echo
printf '%-30s %10s %10s %10s\n' "memory, all app processes" "RSS MiB" "PSS MiB" "processes"
for row in "tray only, at start:$rss_tray:$pss_tray:$n_tray" \
    "settings window open:$rss_open:$pss_open:$n_open" \
    "tray only, Settings closed:$rss_closed:$pss_closed:$n_closed"; do
    IFS=: read -r what r p n <<<"$row"
    awk -v w="$what" -v r="$r" -v p="$p" -v n="$n" \
        'BEGIN { printf "%-30s %10.1f %10.1f %10d\n", w, r / 1024, p / 1024, n }'
done
echo
echo "idle CPU over 10 s:  $(( (t1 - t0) * 10 )) ms ($(( t1 - t0 )) ticks)"
"$bin/dyntrayd" stop >/dev/null 2>&1 || kill "$tray_pid"
wait "$tray_pid" 2>/dev/null || true
tray_pid=""
