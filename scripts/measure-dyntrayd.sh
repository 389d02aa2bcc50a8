#!/usr/bin/env bash
# Prints the headless daemon's idle cost (not a test: numbers to read and report).
# Release build of dyntrayd, 10 records (2 dyndns accounts x 5) against fake-provider on
# 127.0.0.1, secrets in 0600 files, everything under a temp XDG layout. After the first
# update it measures IDLE_SECONDS (default 60) of idle: RSS/PSS, VmHWM, threads,
# voluntary context switches (wake-ups) and CPU ticks.
#   scripts/measure-dyntrayd.sh              # builds first
#   NO_BUILD=1 scripts/measure-dyntrayd.sh   # uses target/release as it is
#   DETAIL=1 ...                             # also prints the largest mappings by RSS
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
idle=${IDLE_SECONDS:-60}

if [ "${NO_BUILD:-0}" != 1 ]; then
    nice -n 10 cargo build --release -p dyntray-engine --bin dyntrayd \
        -p dyntray-tests --bin fake-provider
fi
daemon_bin="$root/target/release/dyntrayd"
fake_bin="$root/target/release/fake-provider"
for b in "$daemon_bin" "$fake_bin"; do
    [ -x "$b" ] || { echo "missing $b (run without NO_BUILD=1)" >&2; exit 1; }
done

work=$(mktemp -d)
fake_pid=""
daemon_pid=""
sleep_pid=""
stop() { # pid: TERM, up to 5 s, then KILL; always reaped
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    [ -z "$sleep_pid" ] || kill "$sleep_pid" 2>/dev/null || true
    stop "$daemon_pid"
    stop "$fake_pid"
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A private XDG layout; HOME points inside it too, for the daemon only.
unset DYNTRAY_CONFIG DYNTRAY_SOCKET
export XDG_CONFIG_HOME="$work/config" XDG_DATA_HOME="$work/data"
export XDG_STATE_HOME="$work/state" XDG_RUNTIME_DIR="$work/runtime"
mkdir -p "$XDG_CONFIG_HOME/dyntray" "$XDG_DATA_HOME" "$XDG_STATE_HOME" "$work/home" \
    "$work/secrets"
mkdir -m 700 "$XDG_RUNTIME_DIR"
daemon() { HOME="$work/home" "$daemon_bin" "$@"; }

# The fake provider and a config of 10 records against it (shared with measure-desktop).
# shellcheck source=scripts/fake-setup.sh
. "$root/scripts/fake-setup.sh"
start_fake_provider
write_ten_record_config
daemon check-config >/dev/null

# Started directly (not through the function) so that $! is dyntrayd itself.
HOME="$work/home" "$daemon_bin" run 2>"$work/dyntrayd.log" &
daemon_pid=$!

updates() { grep -c '^GET /nic/update ' "$work/fake.log" || true; }
ok_records() { daemon status 2>/dev/null | grep -c '^h.* A  *ok ' || true; }
# Ready: both accounts' requests seen and all 10 records ok.
ready=""
for _ in $(seq 300); do
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/dyntrayd.log" >&2; exit 1; }
    if [ "$(updates)" -ge 2 ] && [ "$(ok_records)" -eq 10 ]; then
        ready=1
        break
    fi
    sleep 0.1
done
[ -n "$ready" ] || {
    echo "dyntrayd did not reach 10 ok records" >&2
    daemon status >&2 || true
    cat "$work/dyntrayd.log" >&2
    exit 1
}
sleep 1 # let the status client's connection wind down

proc=/proc/$daemon_pid
kib() { awk -v k="$1:" '$1 == k {print $2; exit}' "$2"; }
mib() { awk -v v="$1" 'BEGIN {printf "%.2f", v / 1024}'; }
ticks() { sed 's/^.*) //' "$proc/stat" | awk '{print $12 + $13}'; } # utime + stime
# Voluntary/involuntary switches: the main thread (/proc/PID/status) and all live threads.
switches() { kib "$1" "$proc/status"; }
switches_all() { cat "$proc"/task/*/status | awk -v k="$1:" '$1 == k {s += $2} END {print s}'; }

requests_before=$(wc -l <"$work/fake.log")
rss0=$(kib Rss "$proc/smaps_rollup")
pss0=$(kib Pss "$proc/smaps_rollup")
vol0=$(switches voluntary_ctxt_switches)
nvol0=$(switches nonvoluntary_ctxt_switches)
vol_all0=$(switches_all voluntary_ctxt_switches)
threads0=$(kib Threads "$proc/status")
ticks0=$(ticks)

sleep "$idle" & # in the background so that a signal ends the wait at once
sleep_pid=$!
wait "$sleep_pid"
sleep_pid=""

kill -0 "$daemon_pid" 2>/dev/null || { echo "dyntrayd died while idle" >&2; exit 1; }
rss1=$(kib Rss "$proc/smaps_rollup")
pss1=$(kib Pss "$proc/smaps_rollup")
anon=$(kib Anonymous "$proc/smaps_rollup")
pss_anon=$(kib Pss_Anon "$proc/smaps_rollup")
pss_file=$(kib Pss_File "$proc/smaps_rollup")
hwm=$(kib VmHWM "$proc/status")
vol1=$(switches voluntary_ctxt_switches)
nvol1=$(switches nonvoluntary_ctxt_switches)
vol_all1=$(switches_all voluntary_ctxt_switches)
threads1=$(kib Threads "$proc/status")
ticks1=$(ticks)
requests_idle=$(($(wc -l <"$work/fake.log") - requests_before))
hz=$(getconf CLK_TCK)

echo "dyntrayd $(daemon --version | awk '{print $2}') (release), 10 records, 2 accounts," \
    "poll interval 5m, idle ${idle}s"
printf '%-44s %12s %12s\n' "" "after update" "after idle"
printf '%-44s %12s %12s\n' "RSS (MiB)" "$(mib "$rss0")" "$(mib "$rss1")"
printf '%-44s %12s %12s\n' "PSS (MiB)" "$(mib "$pss0")" "$(mib "$pss1")"
printf '%-44s %12s %12s\n' "threads" "$threads0" "$threads1"
printf '%-44s %12s\n' "  anonymous RSS (MiB)" "$(mib "$anon")"
printf '%-44s %12s\n' "  PSS anonymous / file-backed (MiB)" "$(mib "$pss_anon") / $(mib "$pss_file")"
printf '%-44s %12s\n' "VmHWM, peak RSS (MiB)" "$(mib "$hwm")"
printf '%-44s %12s\n' "voluntary ctx switches, main thread (wake-ups)" "$((vol1 - vol0))"
printf '%-44s %12s\n' "voluntary ctx switches, all live threads" "$((vol_all1 - vol_all0))"
printf '%-44s %12s\n' "involuntary ctx switches, main thread" "$((nvol1 - nvol0))"
printf '%-44s %12s\n' "CPU ticks used (utime+stime, ${hz}/s)" "$((ticks1 - ticks0))"
printf '%-44s %12s\n' "requests to the fake server while idle" "$requests_idle"

if [ "${DETAIL:-0}" = 1 ]; then
    echo
    echo "largest mappings by RSS (KiB):"
    awk '/^[0-9a-f]+-[0-9a-f]+ / {name = (NF >= 6 ? $6 : "[anon]"); perm = $2}
         $1 == "Rss:" {rss[name " " perm] += $2}
         END {for (m in rss) if (rss[m] > 0) printf "%8d  %s\n", rss[m], m}' \
        "$proc/smaps" | sort -rn | head -12
fi
